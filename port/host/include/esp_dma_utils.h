/*
 * esp_dma_utils.h (host) - ESP-IDF's DMA buffer helpers, over the simulated heaps
 * (port/host/esp_host_dma.c), as the ESP32-S3 runs them.
 *
 * What the simulated release has (CONFIG_KRAKEN_SIM_ESP_IDF_*, docs/simulator.md "Which ESP-IDF"):
 *   - v5.2 (the _V5_2 choice): esp_dma_malloc, esp_dma_calloc (ESP_DMA_MALLOC_FLAG_PSRAM) and
 *     esp_dma_is_buffer_aligned. ESP-IDF v5.1, which the same choice covers, has no such header.
 *   - v5.3 and later: also esp_dma_capable_malloc, esp_dma_capable_calloc and
 *     esp_dma_is_buffer_alignment_satisfied (esp_dma_mem_info_t); the v5.2 names are deprecated.
 *
 * On the S3 internal RAM is not behind the cache and PSRAM is, so (ESP-IDF's rules):
 *   - a buffer in internal RAM takes MALLOC_CAP_DMA | extra_heap_caps, aligned to
 *     dma_alignment_bytes (0 counts as 1); the v5.2 names ask for 4 bytes;
 *   - a buffer in PSRAM (MALLOC_CAP_SPIRAM in extra_heap_caps, or ESP_DMA_MALLOC_FLAG_PSRAM) takes
 *     extra_heap_caps | MALLOC_CAP_SPIRAM without MALLOC_CAP_DMA, aligned to the least common
 *     multiple of dma_alignment_bytes and the data cache line (CONFIG_ESP32S3_DATA_CACHE_LINE_SIZE:
 *     32 bytes by default);
 *   - the size is rounded up to that alignment: *actual_size says how much the buffer holds.
 * An alignment that is not a power of two (say 12 with a cache line: 96) is refused by
 * heap_caps_aligned_alloc: ESP_ERR_NO_MEM. Free a buffer with heap_caps_free() or free().
 *
 * Where the host differs: alignment is checked on the pointer the program holds, which is what the
 * simulated heaps align (an internal block's chip address, esp_memory_utils.h, agrees with it
 * modulo 16 only); esp_dma_capable_calloc refuses a NULL out_ptr, where ESP-IDF crashes; with
 * v5.2 the failure lines are v5.3's text.
 */
#ifndef ESP_DMA_UTILS_H_HOST
#define ESP_DMA_UTILS_H_HOST

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "esp_bit_defs.h"
#include "esp_err.h"
#include "sdkconfig.h"

#if !defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)
#include "esp_heap_caps.h" /* as ESP-IDF's from v5.3 */
#define KRAKEN_DMA_DEPRECATED_(msg) __attribute__((deprecated(msg)))
#else
#define KRAKEN_DMA_DEPRECATED_(msg)
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if !defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)

/** Where and how a DMA buffer is allocated (ESP-IDF v5.3 and later). */
typedef struct {
    int extra_heap_caps;        /**< MALLOC_CAP_* added to MALLOC_CAP_DMA; MALLOC_CAP_SPIRAM: in
                                     PSRAM (then without MALLOC_CAP_DMA) */
    size_t dma_alignment_bytes; /**< the peripheral's alignment in bytes; 0 counts as 1 */
} esp_dma_mem_info_t;

/** Allocates a DMA buffer of at least `size` bytes as dma_mem_info says (rules above); not zeroed.
 *  On ESP_OK *out_ptr is the buffer and *actual_size (when actual_size is not NULL) its size,
 *  `size` rounded up to the alignment.
 *  Returns ESP_OK; ESP_ERR_INVALID_ARG when dma_mem_info or out_ptr is NULL; ESP_ERR_NO_MEM when
 *  no heap with those capabilities has room, size is 0, or the alignment is not a power of two
 *  (each logged under "dma_utils"). On an error *out_ptr and *actual_size are not written.
 *  task (as heap_caps_malloc), O(heaps). */
esp_err_t esp_dma_capable_malloc(size_t size, const esp_dma_mem_info_t *dma_mem_info,
                                 void **out_ptr, size_t *actual_size);

/** esp_dma_capable_malloc(calloc_num * size, ...) whose first calloc_num * size bytes are zeroed
 *  (the rounding up is not). Returns what esp_dma_capable_malloc returns, and
 *  ESP_ERR_INVALID_ARG when calloc_num * size overflows (checked first). out_ptr NULL:
 *  ESP_ERR_INVALID_ARG here, where ESP-IDF allocates and then stores through it (a crash).
 *  task, O(heaps + size). */
esp_err_t esp_dma_capable_calloc(size_t calloc_num, size_t size,
                                 const esp_dma_mem_info_t *dma_mem_info, void **out_ptr,
                                 size_t *actual_size);

/** True when [ptr, ptr + size) lies in DMA-capable internal RAM (esp_ptr_dma_capable at both
 *  ends) or in PSRAM (esp_ptr_external_ram at both ends), and ptr and size are both multiples of
 *  the alignment: dma_alignment_bytes (0 counts as 1), for PSRAM its least common multiple with
 *  the data cache line. extra_heap_caps is not looked at. ptr must not be NULL (ESP-IDF asserts).
 *  isr-ok, O(1). */
bool esp_dma_is_buffer_alignment_satisfied(const void *ptr, size_t size,
                                           esp_dma_mem_info_t dma_mem_info);

/** GDMA's alignment question (ESP-IDF declares it here; the host has no GDMA driver). */
typedef struct {
    bool is_desc;  /**< allocate DMA descriptor */
    bool on_psram; /**< allocate DMA from the PSRAM */
} dma_alignment_info_t;

#endif /* v5.3 and later */

/** esp_dma_malloc / esp_dma_calloc flag: the buffer is in PSRAM (else internal DMA-capable RAM). */
#define ESP_DMA_MALLOC_FLAG_PSRAM BIT(0)

/** Allocates a DMA buffer of at least `size` bytes: in internal DMA-capable RAM (MALLOC_CAP_DMA |
 *  MALLOC_CAP_INTERNAL) aligned to 4 bytes, or with ESP_DMA_MALLOC_FLAG_PSRAM in PSRAM aligned to
 *  the data cache line; the size rounded up to the alignment (*actual_size, when not NULL). Other
 *  flags are ignored. Returns ESP_OK; ESP_ERR_INVALID_ARG when out_ptr is NULL; ESP_ERR_NO_MEM when
 *  no heap has room or size is 0. task, O(heaps). Deprecated from v5.3: esp_dma_capable_malloc. */
esp_err_t esp_dma_malloc(size_t size, uint32_t flags, void **out_ptr, size_t *actual_size)
    KRAKEN_DMA_DEPRECATED_("esp_dma_malloc is deprecated, please use esp_dma_capable_malloc");

/** esp_dma_malloc(n * size, ...) whose first n * size bytes are zeroed. Returns what
 *  esp_dma_malloc returns, and ESP_ERR_INVALID_ARG when out_ptr is NULL or n * size overflows.
 *  task, O(heaps + size). Deprecated from v5.3: esp_dma_capable_calloc. */
esp_err_t esp_dma_calloc(size_t n, size_t size, uint32_t flags, void **out_ptr,
                         size_t *actual_size)
    KRAKEN_DMA_DEPRECATED_("esp_dma_calloc is deprecated, please use esp_dma_capable_calloc");

/** Where esp_dma_is_buffer_aligned looks for a buffer. */
typedef enum {
    ESP_DMA_BUF_LOCATION_INTERNAL, /**< DMA-capable internal RAM */
    ESP_DMA_BUF_LOCATION_PSRAM,    /**< PSRAM (any other value is taken as PSRAM too) */
#if !defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)
    ESP_DMA_BUF_LOCATION_AUTO, /**< either (v5.3 and later) */
#endif
} esp_dma_buf_location_t;

/** True when [ptr, ptr + size) lies wholly in `location` (both ends, as
 *  esp_dma_is_buffer_alignment_satisfied) and is aligned: v5.2 checks ptr only, on 4 bytes;
 *  v5.3 and later check ptr and size on 4 bytes in internal RAM and on the data cache line in
 *  PSRAM. ptr must not be NULL (ESP-IDF asserts). isr-ok, O(1). Deprecated from v5.3:
 *  esp_dma_is_buffer_alignment_satisfied. */
bool esp_dma_is_buffer_aligned(const void *ptr, size_t size, esp_dma_buf_location_t location)
    KRAKEN_DMA_DEPRECATED_(
        "esp_dma_is_buffer_aligned is deprecated, please use esp_dma_is_buffer_alignment_satisfied");

#undef KRAKEN_DMA_DEPRECATED_

#ifdef __cplusplus
}
#endif
#endif /* ESP_DMA_UTILS_H_HOST */
