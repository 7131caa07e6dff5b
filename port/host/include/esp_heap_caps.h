/*
 * esp_heap_caps.h (host) - ESP-IDF's heap_caps API over the simulated ESP32-S3 (kraken_sim.h).
 * Same names, values and semantics as on the chip; unlike ESP-IDF's linux target, capabilities and
 * limits are enforced. All functions are thread-safe; none may be called from a simulated ISR.
 */
#ifndef ESP_HEAP_CAPS_H_HOST
#define ESP_HEAP_CAPS_H_HOST

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"
#include "multi_heap.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MALLOC_CAP_EXEC (1 << 0)           /* executable */
#define MALLOC_CAP_32BIT (1 << 1)          /* 32-bit aligned accesses */
#define MALLOC_CAP_8BIT (1 << 2)           /* byte accesses */
#define MALLOC_CAP_DMA (1 << 3)            /* DMA-capable (internal on the S3) */
#define MALLOC_CAP_PID2 (1 << 4)
#define MALLOC_CAP_PID3 (1 << 5)
#define MALLOC_CAP_PID4 (1 << 6)
#define MALLOC_CAP_PID5 (1 << 7)
#define MALLOC_CAP_PID6 (1 << 8)
#define MALLOC_CAP_PID7 (1 << 9)
#define MALLOC_CAP_SPIRAM (1 << 10)        /* external PSRAM */
#define MALLOC_CAP_INTERNAL (1 << 11)      /* internal SRAM */
#define MALLOC_CAP_DEFAULT (1 << 12)       /* what malloc() may return */
#define MALLOC_CAP_IRAM_8BIT (1 << 13)
#define MALLOC_CAP_RETENTION (1 << 14)
#define MALLOC_CAP_RTCRAM (1 << 15)        /* RTC fast memory */
#define MALLOC_CAP_SPM (1 << 16)
#define MALLOC_CAP_DMA_DESC_AHB (1 << 17)
#define MALLOC_CAP_DMA_DESC_AXI (1 << 18)
#define MALLOC_CAP_CACHE_ALIGNED (1 << 19) /* aligned to the cache line */
#define MALLOC_CAP_SIMD (1 << 20)          /* 128-bit SIMD accesses */
#define MALLOC_CAP_SPIRAM_NO_ENC (1 << 21)
#define MALLOC_CAP_INVALID (1u << 31)

typedef void (*esp_alloc_failed_hook_t)(size_t size, uint32_t caps, const char *function_name);

esp_err_t heap_caps_register_failed_alloc_callback(esp_alloc_failed_hook_t callback);
void *heap_caps_malloc(size_t size, uint32_t caps);
void heap_caps_free(void *ptr);
void *heap_caps_realloc(void *ptr, size_t size, uint32_t caps);
void *heap_caps_aligned_alloc(size_t alignment, size_t size, uint32_t caps);
void heap_caps_aligned_free(void *ptr);
void *heap_caps_aligned_calloc(size_t alignment, size_t n, size_t size, uint32_t caps);
void *heap_caps_calloc(size_t n, size_t size, uint32_t caps);
size_t heap_caps_get_total_size(uint32_t caps);
size_t heap_caps_get_free_size(uint32_t caps);
size_t heap_caps_get_minimum_free_size(uint32_t caps);
size_t heap_caps_get_largest_free_block(uint32_t caps);
void heap_caps_get_info(multi_heap_info_t *info, uint32_t caps);
void heap_caps_print_heap_info(uint32_t caps);
bool heap_caps_check_integrity_all(bool print_errors);
bool heap_caps_check_integrity(uint32_t caps, bool print_errors);
bool heap_caps_check_integrity_addr(intptr_t addr, bool print_errors);
void *heap_caps_malloc_prefer(size_t size, size_t num, ...);
void *heap_caps_realloc_prefer(void *ptr, size_t size, size_t num, ...);
void *heap_caps_calloc_prefer(size_t n, size_t size, size_t num, ...);
void heap_caps_dump(uint32_t caps);
void heap_caps_dump_all(void);
size_t heap_caps_get_allocated_size(void *ptr);
/* ESP-IDF's malloc() path (heap_caps_malloc_default): honours CONFIG_SPIRAM_USE_MALLOC,
 * CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL and CONFIG_SPIRAM_MALLOC_RESERVE_INTERNAL. */
void *heap_caps_malloc_default(size_t size);
void *heap_caps_realloc_default(void *ptr, size_t size);
/* Let malloc() use PSRAM: sizes up to `limit` try internal RAM first, larger ones PSRAM first (what
 * ESP-IDF's startup calls with CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL under CONFIG_SPIRAM_USE_MALLOC).
 * No effect without PSRAM. Until the next kraken_sim_init/reset. task, O(1). */
void heap_caps_malloc_extmem_enable(size_t limit);

#ifdef __cplusplus
}
#endif
#endif
