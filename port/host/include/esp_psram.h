/* esp_psram.h (host) - PSRAM presence as the simulated module has it (see kraken_sim.h). */
#ifndef ESP_PSRAM_H_HOST
#define ESP_PSRAM_H_HOST

#include <stdbool.h>
#include <stddef.h>

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Set up PSRAM by hand (ESP-IDF's call for builds without CONFIG_SPIRAM_BOOT_INIT; the simulator
 *  always sets it up at boot): ESP_ERR_INVALID_STATE when it is set up already, ESP_FAIL when the
 *  module has none or the build has no PSRAM support (as a chip that finds no PSRAM). task, O(1). */
esp_err_t esp_psram_init(void);
/** True when the simulated module has PSRAM and CONFIG_SPIRAM is set (a module without PSRAM
 *  boots as with CONFIG_SPIRAM_IGNORE_NOTFOUND). isr-ok, O(1). */
bool esp_psram_is_initialized(void);
/** PSRAM size in bytes (8 MiB on esp32s3-n8r8, 2 MiB on -n8r2); 0 when absent. The heap gets this
 *  less the EXT_RAM_BSS_ATTR statics placed there. isr-ok, O(1). */
size_t esp_psram_get_size(void);

#ifdef __cplusplus
}
#endif
#endif
