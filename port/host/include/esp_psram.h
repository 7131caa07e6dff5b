/* esp_psram.h (host) - PSRAM presence as the simulated module has it (see kraken_sim.h). */
#ifndef ESP_PSRAM_H_HOST
#define ESP_PSRAM_H_HOST

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** True when the simulated module has PSRAM and CONFIG_SPIRAM is set. isr-ok, O(1). */
bool esp_psram_is_initialized(void);
/** PSRAM size in bytes; 0 when absent. isr-ok, O(1). */
size_t esp_psram_get_size(void);

#ifdef __cplusplus
}
#endif
#endif
