/* esp_memory_utils.h (host) - pointer classification against the simulated memory map. */
#ifndef ESP_MEMORY_UTILS_H_HOST
#define ESP_MEMORY_UTILS_H_HOST

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/** In a simulated internal SRAM region (or internal static data). isr-ok, O(regions). */
bool esp_ptr_internal(const void *p);
/** In the simulated PSRAM (heap or APP_DATA_ATTR statics). isr-ok, O(regions). */
bool esp_ptr_external_ram(const void *p);
/** In a DMA-capable simulated region. isr-ok, O(regions). */
bool esp_ptr_dma_capable(const void *p);

#ifdef __cplusplus
}
#endif
#endif
