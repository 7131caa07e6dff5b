/*
 * esp_heap_caps.h (host) - ESP-IDF's heap_caps API over the simulated ESP32-S3 (kraken_sim.h).
 * Same names, values and semantics as on the chip; unlike ESP-IDF's linux target, capabilities and
 * limits are enforced. All functions are thread-safe; from a simulated ISR they run as on the
 * chip and are counted (kraken_sim_stats_t.isr_calls), as ESP-IDF discourages heap calls there.
 */
#ifndef ESP_HEAP_CAPS_H_HOST
#define ESP_HEAP_CAPS_H_HOST

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "esp_attr.h"
#include "esp_err.h"
#include "multi_heap.h"
#include "sdkconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ESP-IDF puts the heap's hook entry points in IRAM with CONFIG_HEAP_PLACE_FUNCTION_INTO_FLASH
 * off; nothing to place on the host. */
#define HEAP_IRAM_ATTR

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
#define MALLOC_CAP_TCM MALLOC_CAP_SPM      /* its name in ESP-IDF v5.3 to v5.5 */
#define MALLOC_CAP_DMA_DESC_AHB (1 << 17)
#define MALLOC_CAP_DMA_DESC_AXI (1 << 18)
#define MALLOC_CAP_CACHE_ALIGNED (1 << 19) /* aligned to the cache line */
#define MALLOC_CAP_SIMD (1 << 20)          /* 128-bit SIMD accesses */
#define MALLOC_CAP_SPIRAM_NO_ENC (1 << 21)
#define MALLOC_CAP_INVALID (1u << 31)

/* Contracts below are ESP-IDF's, as the simulator implements them (docs/simulator.md).
 * Context: every function is "task" context and may block briefly on a heap's mutex. ESP-IDF also
 *   allows the alloc/realloc/free family from an ISR, strongly discouraged: from a simulated ISR
 *   (kraken_sim_isr_enter) every call runs as in a task and is counted (isr_calls), the first one
 *   after each boot logged.
 * Matching: a heap serves a request only if its capabilities contain every requested bit; heaps are
 *   tried in ESP-IDF's order (three priority levels, then the registered-heap list). caps 0 matches
 *   no heap for allocation; the size queries, whose rule is "all bits present", count every heap.
 * Failure: allocators return NULL and then call the registered failed-allocation callback once
 *   (size, caps, function name) - except for size 0, invalid alignment, and the calloc overflow of
 *   the aligned forms, which return NULL silently, as in ESP-IDF.
 * Misuse: freeing or reallocating a pointer no heap handed out, or one already freed, is an assert
 *   on the chip; here it is logged, counted (kraken_sim_stats_t.invalid_frees) and ignored.
 * Complexity: allocation O(heaps) (TLSF is O(1) per heap); free O(heaps) to find the owner;
 *   size queries O(heaps); get_info, dump and the integrity checks walk every block. With
 *   CONFIG_HEAP_TASK_TRACKING an allocation also finds its task's statistics (O(tasks + the
 *   task's heaps), as ESP-IDF's list walk), under the heap's lock. */

/** Failed-allocation callback: requested size, caps and the name of the API function. */
typedef void (*esp_alloc_failed_hook_t)(size_t size, uint32_t caps, const char *function_name);

/** Register the callback (replacing the previous one; cleared by kraken_sim_init).
 *  ESP_OK; ESP_ERR_INVALID_ARG when callback is NULL (the old one stays). O(1). */
esp_err_t heap_caps_register_failed_alloc_callback(esp_alloc_failed_hook_t callback);

#ifdef CONFIG_HEAP_USE_HOOKS
/** CONFIG_HEAP_USE_HOOKS: define these in the program and each heap calls them on the thread that
 *  allocates or frees, outside the heap's lock: the alloc hook after every block it hands out (its
 *  size and caps after ESP-IDF's hardware adjustment, 32-bit sizes rounded up to 4; also for a
 *  realloc resized within its heap), the free hook after every block it takes back (also the old
 *  block of a realloc moved to another heap). Never for a failed call nor for the simulator's boot.
 *  They must not block and should do little (no heap calls, no logging), as on the chip. */
__attribute__((weak)) void esp_heap_trace_alloc_hook(void *ptr, size_t size, uint32_t caps);
__attribute__((weak)) void esp_heap_trace_free_hook(void *ptr);
#endif

/** `size` bytes from a heap with all of `caps`. NULL when size is 0 (no callback), no heap has the
 *  caps or room, or size exceeds 32 MiB. Aligned to 4 bytes (8 on 64-bit hosts); MALLOC_CAP_SIMD to
 *  16; PSRAM with MALLOC_CAP_DMA or MALLOC_CAP_CACHE_ALIGNED to the 32-byte cache line. */
void *heap_caps_malloc(size_t size, uint32_t caps);
/** Release a block from any heap_caps/malloc function. NULL: nothing. Misuse: see above. */
void heap_caps_free(void *ptr);
/** Resize keeping the contents (up to the smaller size). ptr NULL: heap_caps_malloc. size 0:
 *  frees, returns NULL. When the block's heap lacks `caps` it moves to one that has them. On
 *  failure returns NULL and ptr stays valid and unchanged. */
void *heap_caps_realloc(void *ptr, size_t size, uint32_t caps);
/** Like heap_caps_malloc with `alignment` (a power of two). NULL without the callback when the
 *  alignment is 0 or not a power of two, or size is 0. Free with heap_caps_free or free. */
void *heap_caps_aligned_alloc(size_t alignment, size_t size, uint32_t caps);
/** Same as heap_caps_free (deprecated in ESP-IDF, as here). */
void __attribute__((deprecated)) heap_caps_aligned_free(void *ptr);
/** Zeroed heap_caps_aligned_alloc(alignment, n * size). NULL (no callback) when n * size overflows. */
void *heap_caps_aligned_calloc(size_t alignment, size_t n, size_t size, uint32_t caps);
/** Zeroed heap_caps_malloc(n * size). NULL when n * size overflows (the callback gets the wrapped
 *  product, as in ESP-IDF). */
void *heap_caps_calloc(size_t n, size_t size, uint32_t caps);
/** Bytes of the heaps with all of `caps` (region sizes, TLSF overhead included). O(heaps). */
size_t heap_caps_get_total_size(uint32_t caps);
/** Free bytes in the heaps with all of `caps`. O(heaps). */
size_t heap_caps_get_free_size(uint32_t caps);
/** Sum of the heaps' lifetime low-water marks of free bytes. O(heaps). */
size_t heap_caps_get_minimum_free_size(uint32_t caps);
/** From now on the minimum free sizes (heap_caps_get_minimum_free_size, heap_caps_get_info) count
 *  from each heap's current free size (ESP-IDF >= 5.3); the lifetime ones are kept, in a
 *  MALLOC_CAP_DEFAULT block as ESP-IDF does. Called again while monitoring: starts over.
 *  ESP_OK; ESP_ERR_NO_MEM (the block, logged; ESP-IDF asserts). O(heaps). */
esp_err_t heap_caps_monitor_local_minimum_free_size_start(void);
/** Back to the lifetime minimum free sizes: each heap's becomes the lower of its local one and the
 *  one kept at the start; the block is freed. ESP_OK; ESP_FAIL when not monitoring. O(heaps). */
esp_err_t heap_caps_monitor_local_minimum_free_size_stop(void);
/** Largest size heap_caps_malloc(size, caps) is sure to get (TLSF's size class, rounded down),
 *  the maximum over the heaps; 0 when no heap matches. With caps that align (SIMD, or DMA and
 *  CACHE_ALIGNED in PSRAM) the request is rounded up and needs room for the alignment, so it may
 *  fail at this size, as on ESP-IDF. It is heap_caps_get_info()'s figure: with
 *  CONFIG_HEAP_TASK_TRACKING, the largest over the heaps of each one's largest block less an owner
 *  word for it and for each heap after it in ESP-IDF's list. O(heaps). */
size_t heap_caps_get_largest_free_block(uint32_t caps);
/** Fill *info over the heaps with all of `caps` (info NULL: nothing). With
 *  CONFIG_HEAP_TASK_TRACKING, ESP-IDF's arithmetic: allocated bytes without the blocks' owner
 *  words, free and minimum free bytes an owner word less per heap (never below 0), the largest
 *  free block a word less after each heap counted. Walks every block under each heap's lock, as
 *  the chip does: O(blocks). */
void heap_caps_get_info(multi_heap_info_t *info, uint32_t caps);
/** Print each matching heap's figures and the totals to stdout, in ESP-IDF's layout. O(blocks). */
void heap_caps_print_heap_info(uint32_t caps);
/** Check every block of every heap; print_errors logs each corrupt heap. True when all are
 *  consistent. O(blocks). */
bool heap_caps_check_integrity_all(bool print_errors);
/** The same for the heaps with all of `caps` (every heap when caps has MALLOC_CAP_INVALID). */
bool heap_caps_check_integrity(uint32_t caps, bool print_errors);
/** The same for the heap containing addr; false when no heap contains it. */
bool heap_caps_check_integrity_addr(intptr_t addr, bool print_errors);
/** heap_caps_malloc with each of the `num` caps arguments (uint32_t) in turn until one succeeds.
 *  On failure the callback gets the last caps tried. */
void *heap_caps_malloc_prefer(size_t size, size_t num, ...);
/** heap_caps_realloc with each caps in turn; ptr stays valid when all fail. */
void *heap_caps_realloc_prefer(void *ptr, size_t size, size_t num, ...);
/** heap_caps_calloc with each caps in turn. */
void *heap_caps_calloc_prefer(size_t n, size_t size, size_t num, ...);
/** Print every block of the heaps with all of `caps` (all heaps with MALLOC_CAP_INVALID). */
void heap_caps_dump(uint32_t caps);
/** Print every block of every heap. */
void heap_caps_dump_all(void);

/** What heap_caps_walk() passes for the heap of a block (ESP-IDF spells the type this way). */
typedef struct walker_heap_info {
    intptr_t start; /**< start address of the heap */
    intptr_t end;   /**< end address of the heap */
} walker_heap_into_t;
/** What heap_caps_walk() passes for each block. */
typedef struct walker_block_info {
    void *ptr;   /**< the block's data */
    size_t size; /**< its size */
    bool used;   /**< true: allocated; false: free */
} walker_block_info_t;
/** Called for each block; false stops the walk of the current heap (the next heap follows). */
typedef bool (*heap_caps_walker_cb_t)(walker_heap_into_t heap_info, walker_block_info_t block_info,
                                      void *user_data);
/** Call walker_func for every block of the heaps with all of `caps` (every heap with
 *  MALLOC_CAP_INVALID), heap by heap in ESP-IDF's list order, each under its heap's lock as on
 *  the chip: the callback must not call the heap (on the host that heap's lock would deadlock).
 *  ESP-IDF >= 5.3. walker_func NULL: nothing (ESP-IDF asserts). O(blocks). */
void heap_caps_walk(uint32_t caps, heap_caps_walker_cb_t walker_func, void *user_data);
/** heap_caps_walk(MALLOC_CAP_INVALID, walker_func, user_data). */
void heap_caps_walk_all(heap_caps_walker_cb_t walker_func, void *user_data);
/** Usable size of a live block (>= the size requested; with CONFIG_HEAP_TASK_TRACKING the owner
 *  word before it not counted). 0 (and an error log) when ptr is not a live block. O(heaps). */
size_t heap_caps_get_allocated_size(void *ptr);
/** Size of the live heap block that contains ptr (ptr anywhere inside it; ESP-IDF >= 5.3), the
 *  owner word of CONFIG_HEAP_TASK_TRACKING included, as ESP-IDF counts it. 0 (and an error log)
 *  when no live block does; ESP-IDF asserts. O(heaps + blocks of its heap). */
size_t heap_caps_get_containing_block_size(void *ptr);
/** Let malloc() use PSRAM: sizes up to `limit` try internal RAM first, larger ones PSRAM first (what
 *  ESP-IDF's startup calls with CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL under CONFIG_SPIRAM_USE_MALLOC).
 *  Without PSRAM it still sets the limit, as ESP-IDF does: malloc() then tries PSRAM in vain and a
 *  failure reports MALLOC_CAP_DEFAULT. Until the next kraken_sim_init/reset. O(1). */
void heap_caps_malloc_extmem_enable(size_t limit);

#ifdef __cplusplus
}
#endif
#endif
