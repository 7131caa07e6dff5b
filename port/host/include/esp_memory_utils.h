/* esp_memory_utils.h (host) - pointer classification against the simulated memory map. */
#ifndef ESP_MEMORY_UTILS_H_HOST
#define ESP_MEMORY_UTILS_H_HOST

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/** In internal RAM: a simulated D/IRAM or RTC fast memory region, the program's own static data
 *  (.data/.bss: internal DRAM on the chip), or EXT_RAM_BSS_ATTR statics counted internal. False
 *  for thread stacks and libc memory (not part of the simulated chip). isr-ok, O(1). */
bool esp_ptr_internal(const void *p);
/** In the simulated PSRAM (its heap, or EXT_RAM_BSS_ATTR statics counted there). False on a
 *  module without PSRAM. isr-ok, O(1). */
bool esp_ptr_external_ram(const void *p);
/** In the S3's DMA-capable internal range: D/IRAM regions and internal static data; not RTC fast
 *  memory, not PSRAM (as ESP-IDF's SOC_DMA_LOW..SOC_DMA_HIGH test). isr-ok, O(1). */
bool esp_ptr_dma_capable(const void *p);

#ifdef __cplusplus
}
#endif
#endif
