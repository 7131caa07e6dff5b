/*
 * esp_host_dma.c - esp_dma_utils.h over the simulated heaps: DMA buffers placed, aligned and sized
 * as ESP-IDF's esp_hw_support/dma/esp_dma_utils.c does on the ESP32-S3 (v5.2, and v5.3 to v5.5.5
 * where the v5.2 names go through the new ones), written for the host.
 *
 * The S3's caches: internal RAM is not behind one (ESP-IDF's cache alignment for it is 0, taken as
 * 1), PSRAM is, with the data cache's line. Alignment checks are made on the pointer as the
 * program sees it, which is what the heaps align (heap_caps_aligned_alloc).
 */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "esp_check.h"
#include "esp_dma_utils.h"
#include "esp_heap_caps.h"
#include "esp_memory_utils.h"
#include "sdkconfig.h"
#include "sim_internal.h"

static const char *const DMA_TAG = "dma_utils"; /* ESP-IDF's */

#ifdef CONFIG_ESP32S3_DATA_CACHE_LINE_SIZE
#define S3_DCACHE_LINE ((size_t)CONFIG_ESP32S3_DATA_CACHE_LINE_SIZE)
#else
#define S3_DCACHE_LINE ((size_t)32) /* ESP-IDF's default */
#endif

#define LEGACY_DMA_ALIGNMENT 4u /* what the v5.2 names ask for */

/* The cache alignment a buffer needs (esp_cache_get_alignment on the S3): PSRAM's data cache line,
 * 0 for internal RAM, which no cache is in front of. */
static size_t cache_alignment(bool psram)
{
    return psram ? S3_DCACHE_LINE : 0;
}

/* Least common multiple, 0 counting as 1 (ESP-IDF's hal_utils_calc_lcm); 0 when it does not fit
 * a size_t (no heap could give such an alignment: heap_caps_aligned_alloc refuses 0). */
static size_t lcm_of(size_t a, size_t b)
{
    a = a == 0 ? 1 : a;
    b = b == 0 ? 1 : b;
    size_t x = a;
    size_t y = b;
    while (y != 0) {
        const size_t r = x % y;
        x = y;
        y = r;
    }
    size_t lcm = 0;
    return __builtin_mul_overflow(a / x, b, &lcm) ? 0 : lcm;
}

/* esp_dma_capable_malloc's body: the caps and alignment decided, allocate and report. */
static esp_err_t dma_alloc(size_t size, int extra_heap_caps, size_t dma_alignment, void **out_ptr,
                           size_t *actual_size)
{
    const bool psram = (extra_heap_caps & MALLOC_CAP_SPIRAM) != 0;
    /* No heap has MALLOC_CAP_DMA | MALLOC_CAP_SPIRAM: ESP-IDF drops DMA for PSRAM. */
    const uint32_t caps = psram ? ((uint32_t)extra_heap_caps | MALLOC_CAP_SPIRAM) & ~(uint32_t)MALLOC_CAP_DMA
                                : (uint32_t)extra_heap_caps | MALLOC_CAP_DMA;
    const size_t alignment = lcm_of(dma_alignment, cache_alignment(psram));
    /* size rounded up to the alignment in the chip's 32-bit size_t, as ESP-IDF's ALIGN_UP_BY: a
     * size within an alignment of 4 GB wraps to 0 there. A size of 0 (wrapped or not) or an
     * alignment that is 0 or not a power of two gets NULL from heap_caps_aligned_alloc without a
     * report, as on the chip; so does a size no 32-bit size_t holds (a 64-bit host's). */
    size_t rounded = 0;
    void *ptr = NULL;
    if (alignment != 0 && size <= UINT32_MAX) {
        uint32_t chip_rounded = (uint32_t)size + (uint32_t)(alignment - 1u);
        chip_rounded -= chip_rounded % (uint32_t)alignment;
        rounded = chip_rounded;
        ptr = heap_caps_aligned_alloc(alignment, rounded, caps);
    }
    ESP_RETURN_ON_FALSE_ISR(ptr != NULL, ESP_ERR_NO_MEM, DMA_TAG, "Not enough heap memory");
    *out_ptr = ptr;
    if (actual_size != NULL) {
        *actual_size = rounded;
    }
    return ESP_OK;
}

/* Both ends of [ptr, ptr + size) in DMA-capable internal RAM, or both in PSRAM. */
static bool in_internal_dma(const void *ptr, size_t size)
{
    const void *last = (const void *)((uintptr_t)ptr + size - 1u);
    return esp_ptr_dma_capable(ptr) && esp_ptr_dma_capable(last);
}

static bool in_psram(const void *ptr, size_t size)
{
    const void *last = (const void *)((uintptr_t)ptr + size - 1u);
    return esp_ptr_external_ram(ptr) && esp_ptr_external_ram(last);
}

#if !defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)

esp_err_t esp_dma_capable_malloc(size_t size, const esp_dma_mem_info_t *dma_mem_info,
                                 void **out_ptr, size_t *actual_size)
{
    ESP_RETURN_ON_FALSE_ISR(dma_mem_info != NULL && out_ptr != NULL, ESP_ERR_INVALID_ARG, DMA_TAG,
                            "null pointer");
    return dma_alloc(size, dma_mem_info->extra_heap_caps, dma_mem_info->dma_alignment_bytes,
                     out_ptr, actual_size);
}

esp_err_t esp_dma_capable_calloc(size_t calloc_num, size_t size,
                                 const esp_dma_mem_info_t *dma_mem_info, void **out_ptr,
                                 size_t *actual_size)
{
    size_t bytes = 0;
    ESP_RETURN_ON_FALSE_ISR(!sim_chip_mul_overflow(calloc_num, size, &bytes), ESP_ERR_INVALID_ARG,
                            DMA_TAG, "wrong size, total size overflow");
    /* ESP-IDF (v5.3 to v5.5.5) passes its own pointer on and then stores through out_ptr: NULL
     * crashes there, after the allocation. Refused here before it. */
    ESP_RETURN_ON_FALSE_ISR(out_ptr != NULL, ESP_ERR_INVALID_ARG, DMA_TAG, "null pointer");
    void *ptr = NULL;
    const esp_err_t err = esp_dma_capable_malloc(bytes, dma_mem_info, &ptr, actual_size);
    if (err == ESP_OK) {
        memset(ptr, 0, bytes);
        *out_ptr = ptr;
    }
    return err;
}

bool esp_dma_is_buffer_alignment_satisfied(const void *ptr, size_t size,
                                           esp_dma_mem_info_t dma_mem_info)
{
    assert(ptr != NULL);
    if (!in_internal_dma(ptr, size) && !in_psram(ptr, size)) {
        return false;
    }
    const size_t alignment =
        lcm_of(dma_mem_info.dma_alignment_bytes, cache_alignment(esp_ptr_external_ram(ptr)));
    return alignment != 0 && (uintptr_t)ptr % alignment == 0 && size % alignment == 0;
}

#endif /* v5.3 and later */

/* ---- the v5.2 names (deprecated from v5.3) ---- */

static esp_err_t legacy_malloc(size_t size, uint32_t flags, void **out_ptr, size_t *actual_size)
{
    ESP_RETURN_ON_FALSE_ISR(out_ptr != NULL, ESP_ERR_INVALID_ARG, DMA_TAG, "null pointer");
    const int caps = (flags & ESP_DMA_MALLOC_FLAG_PSRAM) ? MALLOC_CAP_SPIRAM
                                                         : MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL;
#if defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)
    return dma_alloc(size, caps, LEGACY_DMA_ALIGNMENT, out_ptr, actual_size);
#else
    ESP_RETURN_ON_ERROR_ISR(dma_alloc(size, caps, LEGACY_DMA_ALIGNMENT, out_ptr, actual_size),
                            DMA_TAG, "failed to do malloc");
    return ESP_OK;
#endif
}

esp_err_t esp_dma_malloc(size_t size, uint32_t flags, void **out_ptr, size_t *actual_size)
{
    return legacy_malloc(size, flags, out_ptr, actual_size);
}

esp_err_t esp_dma_calloc(size_t n, size_t size, uint32_t flags, void **out_ptr, size_t *actual_size)
{
    ESP_RETURN_ON_FALSE_ISR(out_ptr != NULL, ESP_ERR_INVALID_ARG, DMA_TAG, "null pointer");
    size_t bytes = 0;
    ESP_RETURN_ON_FALSE_ISR(!sim_chip_mul_overflow(n, size, &bytes), ESP_ERR_INVALID_ARG, DMA_TAG,
                            "wrong size, total size overflow");
    void *ptr = NULL;
    const esp_err_t err = legacy_malloc(bytes, flags, &ptr, actual_size);
    if (err == ESP_OK) {
        memset(ptr, 0, bytes);
        *out_ptr = ptr;
    }
    return err;
}

bool esp_dma_is_buffer_aligned(const void *ptr, size_t size, esp_dma_buf_location_t location)
{
    assert(ptr != NULL);
    bool found = false;
#if !defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)
    if (location == ESP_DMA_BUF_LOCATION_AUTO) {
        found = in_internal_dma(ptr, size) || in_psram(ptr, size);
    } else
#endif
    {
        found = location == ESP_DMA_BUF_LOCATION_INTERNAL ? in_internal_dma(ptr, size)
                                                          : in_psram(ptr, size);
    }
    if (!found) {
        return false;
    }
#if defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)
    /* v5.2 on a chip whose internal RAM is not cached: the address on 4 bytes, the size unchecked */
    return (uintptr_t)ptr % LEGACY_DMA_ALIGNMENT == 0;
#else
    const esp_dma_mem_info_t info = {.dma_alignment_bytes = LEGACY_DMA_ALIGNMENT};
    return esp_dma_is_buffer_alignment_satisfied(ptr, size, info);
#endif
}
