/*
 * memory_pool.h - fixed-size block pools in internal SRAM with a counted heap fallback.
 *
 * DRAFT CONTRACT (the pools work fills in the details; the names and signatures below are fixed
 * because the event bus and the heap monitor are built on them).
 */
#ifndef MEMORY_POOL_H
#define MEMORY_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Number of size classes (Small, Medium, Large, XLarge). */
#define MEMORY_POOL_CLASS_COUNT 4

/** Allocate `size` bytes from the smallest class that fits; heap fallback when that class is empty;
 *  heap for sizes above the largest class. NULL for size 0 or when nothing is available. task. */
void *memory_pool_alloc(size_t size);

/** Free a block from memory_pool_alloc (pool or fallback heap block). NULL is a no-op; misuse is
 *  detected, counted and reported, never corrupts. task. */
void memory_pool_free(void *ptr);

/** ISR-safe allocation: pool blocks only, never the heap, never blocks. NULL when the class is
 *  empty, size is 0 or above the largest class, or the pools are not initialised yet. isr-ok. */
void *memory_pool_alloc_isr(size_t size);

/** ISR-safe free of a pool block. ESP_OK; ESP_ERR_INVALID_ARG for NULL, a heap block (must be
 *  freed from a task) or a pointer no pool handed out; ESP_ERR_INVALID_STATE for a double free.
 *  isr-ok. */
esp_err_t memory_pool_free_isr(void *ptr);

/** Per-class statistics, copied out by value. Counters are monotonic until reset. */
typedef struct {
    size_t block_size;        /**< bytes per block */
    uint32_t capacity;        /**< blocks in the class */
    uint32_t in_use;          /**< blocks handed out now */
    uint32_t peak_in_use;     /**< high-water mark of in_use (reset: memory_pool_reset_peaks) */
    uint32_t min_free;        /**< low-water mark of free blocks (reset: memory_pool_reset_peaks) */
    uint32_t allocations;     /**< successful pool allocations */
    uint32_t frees;           /**< successful pool frees */
    uint32_t heap_fallbacks;  /**< requests of this class served by the heap because it was empty */
    uint32_t fallback_live;   /**< fallback heap blocks of this class not yet freed */
    uint32_t failures;        /**< requests of this class that returned NULL */
} memory_pool_class_stats_t;

typedef struct {
    memory_pool_class_stats_t classes[MEMORY_POOL_CLASS_COUNT];
    uint32_t oversize;        /**< requests above the largest class (served by the heap) */
    uint32_t oversize_live;   /**< oversize heap blocks not yet freed */
    uint32_t double_frees;    /**< frees of a block that was already free */
    uint32_t invalid_frees;   /**< frees of a pointer no pool or fallback handed out */
} memory_pool_stats_t;

/** Copy the statistics. ESP_ERR_INVALID_ARG for NULL. task and isr-ok, O(classes). */
esp_err_t memory_pool_get_stats(memory_pool_stats_t *out);

/** Print the statistics in the spec's format. task. */
void memory_pool_log_stats(const char *tag);

#ifdef __cplusplus
}
#endif
#endif /* MEMORY_POOL_H */
