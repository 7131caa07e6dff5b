/*
 * memory_utils.c - SRAM/PSRAM/DMA placement and memory figures (system_service/memory_utils.h).
 * Every allocation goes through the port's heap_caps interface with the masks below.
 */
#include <string.h>

#include "kraken_port.h"
#include "memory_pool.h"
#include "memory_pool_heap_call.h"
#include "system_service/memory_utils.h"

static const char *const DEFAULT_TAG = "memory";

/* A block of the pools (a pool block, or a heap block the pools track) passed to a realloc here:
 * refused on the chip as on the host (the heap would move it behind the pools' back, or assert),
 * counted and reported as the pools' misuse, in one log line that names the function and the
 * caller's call site. A macro: __func__ and the return address must be the realloc's own. */
#define REFUSE_POOL_BLOCK(ptr)                                                                     \
    memory_pool_refuse_heap_call_from((ptr), __func__, __builtin_return_address(0))

void *memory_alloc_prefer_psram(size_t size)
{
    return kraken_port_heap_malloc_prefer(size, MEMORY_CAPS_PSRAM, MEMORY_CAPS_APP_SRAM);
}

void *memory_alloc_psram_only(size_t size)
{
    return kraken_port_heap_malloc(size, MEMORY_CAPS_PSRAM);
}

void *memory_alloc_sram(size_t size)
{
    return kraken_port_heap_malloc(size, MEMORY_CAPS_SRAM);
}

void *memory_alloc_dma(size_t size)
{
    return kraken_port_heap_aligned_alloc(MEMORY_DMA_ALIGNMENT, size, MEMORY_CAPS_DMA);
}

void *memory_calloc_prefer_psram(size_t n, size_t size)
{
    return kraken_port_heap_calloc_prefer(n, size, MEMORY_CAPS_PSRAM, MEMORY_CAPS_APP_SRAM);
}

void *memory_calloc_psram_only(size_t n, size_t size)
{
    return kraken_port_heap_calloc(n, size, MEMORY_CAPS_PSRAM);
}

void *memory_calloc_sram(size_t n, size_t size)
{
    return kraken_port_heap_calloc(n, size, MEMORY_CAPS_SRAM);
}

void *memory_calloc_dma(size_t n, size_t size)
{
    /* An n * size the chip's size_t cannot hold asks for its largest value: it fails, and is
     * reported to the failed-allocation hook like the other calloc forms' (heap_caps_calloc
     * reports those). The host simulator's is the chip's too (KRAKEN_PORT_SIZE_MAX). */
    const size_t bytes = n != 0 && size > KRAKEN_PORT_SIZE_MAX / n ? KRAKEN_PORT_SIZE_MAX : n * size;
    void *ptr = memory_alloc_dma(bytes);
    if (ptr != NULL) {
        memset(ptr, 0, bytes);
    }
    return ptr;
}

void *memory_realloc_prefer_psram(void *ptr, size_t size)
{
    if (REFUSE_POOL_BLOCK(ptr)) {
        return NULL;
    }
    return kraken_port_heap_realloc_prefer(ptr, size, MEMORY_CAPS_PSRAM, MEMORY_CAPS_APP_SRAM);
}

void *memory_realloc_psram_only(void *ptr, size_t size)
{
    if (REFUSE_POOL_BLOCK(ptr)) {
        return NULL;
    }
    return kraken_port_heap_realloc(ptr, size, MEMORY_CAPS_PSRAM);
}

void *memory_realloc_sram(void *ptr, size_t size)
{
    if (REFUSE_POOL_BLOCK(ptr)) {
        return NULL;
    }
    return kraken_port_heap_realloc(ptr, size, MEMORY_CAPS_SRAM);
}

void *memory_realloc_dma(void *ptr, size_t size)
{
    /* heap_caps_realloc keeps only 4-byte alignment when a block moves: move it here instead. */
    if (ptr == NULL) {
        return memory_alloc_dma(size);
    }
    if (REFUSE_POOL_BLOCK(ptr)) {
        return NULL;
    }
    if (size == 0) {
        kraken_port_heap_free(ptr);
        return NULL;
    }
    size_t old_size = kraken_port_heap_allocated_size(ptr);
    if (old_size == 0) {
        return NULL; /* not a live heap block (host only: ESP-IDF asserts first) */
    }
    if (old_size >= size && kraken_port_ptr_dma_capable(ptr) &&
        (uintptr_t)ptr % MEMORY_DMA_ALIGNMENT == 0) {
        return ptr; /* already a DMA buffer and large enough: DMA_REALLOC never shrinks in place */
    }
    void *moved = memory_alloc_dma(size);
    if (moved == NULL) {
        return NULL;
    }
    memcpy(moved, ptr, old_size < size ? old_size : size);
    kraken_port_heap_free(ptr);
    return moved;
}

esp_err_t memory_get_info(memory_info_t *info)
{
    if (info == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    kraken_port_heap_figures_t sram, psram;
    kraken_port_heap_figures(MEMORY_CAPS_SRAM, &sram);
    kraken_port_heap_figures(MEMORY_CAPS_PSRAM, &psram);
    *info = (memory_info_t){
        .free_sram = sram.free_bytes,
        .total_sram = sram.total_bytes,
        .min_free_sram = sram.minimum_free_bytes,
        .largest_free_sram = sram.largest_free_block,
        .free_psram = psram.free_bytes,
        .total_psram = psram.total_bytes,
        .min_free_psram = psram.minimum_free_bytes,
        .largest_free_psram = psram.largest_free_block,
        .free_dma = kraken_port_heap_free_size(MEMORY_CAPS_DMA), /* a counter: no walk */
        .psram_size = kraken_port_psram_size(),
        .psram_available = kraken_port_psram_available(),
    };
    return ESP_OK;
}

size_t memory_get_free_sram(void)
{
    return kraken_port_heap_free_size(MEMORY_CAPS_SRAM);
}

size_t memory_get_free_psram(void)
{
    return kraken_port_heap_free_size(MEMORY_CAPS_PSRAM);
}

bool memory_psram_available(void)
{
    return kraken_port_psram_available();
}

/* Used percentage with one decimal, as tenths (0 for an empty total). */
static unsigned used_tenths(size_t free_bytes, size_t total)
{
    if (total == 0 || free_bytes >= total) {
        return 0;
    }
    return (unsigned)(((unsigned long long)(total - free_bytes) * 1000u) / total);
}

void memory_log_usage(const char *tag)
{
    if (kraken_port_in_isr()) {
        return; /* task only: nothing logged */
    }
    if (tag == NULL) {
        tag = DEFAULT_TAG;
    }
    memory_info_t info;
    memory_get_info(&info);
    unsigned sram_used = used_tenths(info.free_sram, info.total_sram);
    KRAKEN_LOGI(tag, "Memory usage:");
    KRAKEN_LOGI(tag, "  SRAM:  %zu / %zu bytes free (%u.%u%% used), min free %zu, largest block %zu",
                info.free_sram, info.total_sram, sram_used / 10, sram_used % 10, info.min_free_sram,
                info.largest_free_sram);
    if (info.psram_available) {
        unsigned psram_used = used_tenths(info.free_psram, info.total_psram);
        KRAKEN_LOGI(tag,
                    "  PSRAM: %zu / %zu bytes free (%u.%u%% used), min free %zu, largest block %zu",
                    info.free_psram, info.total_psram, psram_used / 10, psram_used % 10,
                    info.min_free_psram, info.largest_free_psram);
    } else {
        KRAKEN_LOGI(tag, "  PSRAM: not available");
    }
    KRAKEN_LOGI(tag, "  DMA:   %zu bytes free (internal, DMA-capable)", info.free_dma);
}
