/*
 * kraken_port_heap_caps.c - the heap part of the port, shared by both platforms: ESP-IDF has the
 * heap_caps API, and the host simulator offers the same API with the chip's semantics
 * (port/host/include/esp_heap_caps.h), so one implementation serves both builds.
 */
#include "esp_heap_caps.h"
#include "esp_memory_utils.h"
#include "kraken_port.h"
#include "sdkconfig.h"
#if CONFIG_SPIRAM
#include "esp_psram.h"
#endif

void *kraken_port_heap_malloc(size_t size, uint32_t caps)
{
    return heap_caps_malloc(size, caps);
}

void *kraken_port_heap_aligned_alloc(size_t alignment, size_t size, uint32_t caps)
{
    return heap_caps_aligned_alloc(alignment, size, caps);
}

void *kraken_port_heap_calloc(size_t n, size_t size, uint32_t caps)
{
    return heap_caps_calloc(n, size, caps);
}

void *kraken_port_heap_realloc(void *ptr, size_t size, uint32_t caps)
{
    return heap_caps_realloc(ptr, size, caps);
}

void kraken_port_heap_free(void *ptr)
{
    heap_caps_free(ptr);
}

void *kraken_port_heap_malloc_prefer(size_t size, uint32_t caps_first, uint32_t caps_then)
{
    return heap_caps_malloc_prefer(size, 2, caps_first, caps_then);
}

void *kraken_port_heap_calloc_prefer(size_t n, size_t size, uint32_t caps_first, uint32_t caps_then)
{
    return heap_caps_calloc_prefer(n, size, 2, caps_first, caps_then);
}

void *kraken_port_heap_realloc_prefer(void *ptr, size_t size, uint32_t caps_first, uint32_t caps_then)
{
    return heap_caps_realloc_prefer(ptr, size, 2, caps_first, caps_then);
}

size_t kraken_port_heap_allocated_size(void *ptr)
{
    return heap_caps_get_allocated_size(ptr);
}

void kraken_port_heap_figures(uint32_t caps, kraken_port_heap_figures_t *out)
{
    /* Total, free and minimum free are per-heap counters; the largest free block is not:
     * heap_caps_get_largest_free_block() calls heap_caps_get_info(), which walks every block of each
     * heap inside its critical section (O(blocks)). ESP-IDF has no cheaper query for it. */
    out->total_bytes = heap_caps_get_total_size(caps);
    out->free_bytes = heap_caps_get_free_size(caps);
    out->minimum_free_bytes = heap_caps_get_minimum_free_size(caps);
    out->largest_free_block = heap_caps_get_largest_free_block(caps);
}

size_t kraken_port_heap_free_size(uint32_t caps)
{
    return heap_caps_get_free_size(caps);
}

size_t kraken_port_heap_total_size(uint32_t caps)
{
    return heap_caps_get_total_size(caps);
}

void kraken_port_heap_block_counts(uint32_t caps, size_t *allocated_blocks, size_t *free_blocks)
{
    multi_heap_info_t info;
    heap_caps_get_info(&info, caps);
    *allocated_blocks = info.allocated_blocks;
    *free_blocks = info.free_blocks;
}

bool kraken_port_heap_check_integrity(bool print_errors)
{
    return heap_caps_check_integrity_all(print_errors);
}

esp_err_t kraken_port_register_alloc_failed_hook(kraken_port_alloc_failed_hook_t hook)
{
    return heap_caps_register_failed_alloc_callback(hook);
}

bool kraken_port_psram_available(void)
{
#if CONFIG_SPIRAM
    /* Initialised is not enough: with CONFIG_SPIRAM_USE_MEMMAP the PSRAM is not in the heap, and
     * with CONFIG_SPIRAM_BOOT_INIT off the application adds it to the heap after esp_psram_init(). */
#if CONFIG_SPIRAM_USE_CAPS_ALLOC || CONFIG_SPIRAM_USE_MALLOC
    return esp_psram_is_initialized() && heap_caps_get_total_size(MALLOC_CAP_SPIRAM) != 0;
#else
    return false;
#endif
#else
    return false;
#endif
}

size_t kraken_port_psram_size(void)
{
#if CONFIG_SPIRAM
    return esp_psram_is_initialized() ? esp_psram_get_size() : 0;
#else
    return 0;
#endif
}

bool kraken_port_ptr_internal(const void *ptr)
{
    return esp_ptr_internal(ptr);
}

bool kraken_port_ptr_external(const void *ptr)
{
    return esp_ptr_external_ram(ptr);
}

bool kraken_port_ptr_dma_capable(const void *ptr)
{
    return esp_ptr_dma_capable(ptr);
}
