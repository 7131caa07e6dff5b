/*
 * multi_heap.h (host) - ESP-IDF's multi_heap: a TLSF heap over any memory the caller gives it (a
 * static buffer, a heap_caps block), independent of heap_caps. Same TLSF as the simulated chip's
 * heaps (port/host/tlsf_heap.h), so blocks, rounding and fragmentation are the chip's.
 *
 * Like ESP-IDF's, these heaps are not in heap_caps' lists: heap_caps_*, malloc(), the simulator's
 * statistics and heap tracing do not see them. A heap is thread-safe only with a lock set
 * (multi_heap_set_lock: a portMUX_TYPE, as on the chip). Every call is declared whichever
 * release CONFIG_KRAKEN_SIM_ESP_IDF_* names; those that are not in every release say which has them.
 *
 * Differences from the chip (docs/simulator.md, "multi_heap"): misuse the chip asserts on is
 * refused: a free or realloc of a pointer that is not a live block of this heap (a double free
 * included) is logged and counted in kraken_sim_stats_t.invalid_frees; a lookup no block answers
 * and a NULL heap get false, NULL or nothing. Free byte figures count the free blocks' 4-byte
 * headers, as ESP-IDF's do; unlike ESP-IDF, a block freed by a realloc to size 0 is counted free
 * again (the chip keeps it counted as allocated, for good). In
 * AddressSanitizer builds the heap poisons its free memory, so memory given to a heap is reused
 * for something else after giving it back to where it came from (heap_caps_free), not directly.
 */
#ifndef MULTI_HEAP_H_HOST
#define MULTI_HEAP_H_HOST

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque handle to a registered heap. */
typedef struct multi_heap_info *multi_heap_handle_t;

typedef struct {
    size_t total_free_bytes;      /**< free bytes in the heaps */
    size_t total_allocated_bytes; /**< allocated bytes in the heaps */
    size_t largest_free_block;    /**< largest size heap_caps_malloc() could return */
    size_t minimum_free_bytes;    /**< lifetime minimum of free bytes */
    size_t allocated_blocks;      /**< blocks in use */
    size_t free_blocks;           /**< free blocks */
    size_t total_blocks;          /**< all blocks */
} multi_heap_info_t;

/** Make a heap of the `size` bytes at `start` (the handle and the TLSF control structure are
 *  taken from the front). NULL when start is NULL or not 4-byte aligned (as on the chip, whose
 *  TLSF refuses it), or the region is too small for them and one block. A 64-bit host aligns a
 *  4-byte aligned start up to its 8-byte granularity. Not thread-safe with uses of the same memory.
 *  task, O(size classes). */
multi_heap_handle_t multi_heap_register(void *start, size_t size);

/** Associate a lock with the heap (NULL at registration: no locking). Every call below then
 *  holds it. As on the chip, it is a portMUX_TYPE * (portMUX_INITIALIZER_UNLOCKED or
 *  portMUX_INITIALIZE), taken with portENTER_CRITICAL_SAFE; it nests, so a walker may read the
 *  heap's figures. task, O(1). */
void multi_heap_set_lock(multi_heap_handle_t heap, void *lock);

/** malloc() in this heap: NULL when heap is NULL, size is 0 or no block fits. Not zero-filled.
 *  task (may take the lock), O(1). */
void *multi_heap_malloc(multi_heap_handle_t heap, size_t size);

/** A block aligned to `alignment` (a power of two): NULL when heap is NULL, size is 0, alignment
 *  is 0 or not a power of two, or no block fits the size and the alignment gap. task, O(1). */
void *multi_heap_aligned_alloc(multi_heap_handle_t heap, size_t size, size_t alignment);

/** As multi_heap_aligned_alloc(), with the alignment applied at `offset` bytes into the block
 *  (offset may exceed size). NULL also when offset is not a multiple of the granularity (4 bytes;
 *  8 on 64-bit hosts; ESP-IDF rounds it up). task, O(1). */
void *multi_heap_aligned_alloc_offs(multi_heap_handle_t heap, size_t size, size_t alignment,
                                    size_t offset);

/** free() in this heap. NULL p (or heap): nothing. A pointer that is not a live block's start in
 *  this heap (double free included) is refused, logged and counted (the chip asserts); the heap
 *  is left untouched. task, O(1). */
void multi_heap_free(multi_heap_handle_t heap, void *p);

/** Deprecated in ESP-IDF: multi_heap_free(). */
void multi_heap_aligned_free(multi_heap_handle_t heap, void *p) __attribute__((deprecated));

/** realloc() in this heap: p NULL acts as multi_heap_malloc(); size 0 frees p and returns NULL.
 *  NULL on failure with p untouched, also when p is not a live block of this heap (logged and
 *  counted). task, O(1) plus the copy. */
void *multi_heap_realloc(multi_heap_handle_t heap, void *p, size_t size);

/** Usable size of the live block p (>= its request); 0 when p is not one. task, O(1). */
size_t multi_heap_get_allocated_size(multi_heap_handle_t heap, void *p);

/** As multi_heap_get_allocated_size(), as in ESP-IDF without poisoning. ESP-IDF >= 5.5.
 *  task, O(1). */
size_t multi_heap_get_full_block_size(multi_heap_handle_t heap, void *p);

/** Free bytes (0 for a NULL heap). task, O(1). */
size_t multi_heap_free_size(multi_heap_handle_t heap);

/** Lowest free bytes since registration or the last reset (0 for a NULL heap). task, O(1). */
size_t multi_heap_minimum_free_size(multi_heap_handle_t heap);

/** Set the minimum to the current free bytes; returns the minimum before. 0 for a NULL heap.
 *  ESP-IDF >= 5.3. task, O(1). */
size_t multi_heap_reset_minimum_free_bytes(multi_heap_handle_t heap);

/** Lower the minimum to `new_minimum_free_bytes_value` when that is below it. ESP-IDF >= 5.3.
 *  task, O(1). */
void multi_heap_restore_minimum_free_bytes(multi_heap_handle_t heap,
                                           const size_t new_minimum_free_bytes_value);

/** Fill *info (all zero for a NULL heap; info NULL: nothing). task, O(1). */
void multi_heap_get_info(multi_heap_handle_t heap, multi_heap_info_t *info);

/** Check every invariant of the heap; false when one fails (and for a NULL heap), printed to
 *  stderr with print_errors. task, O(blocks). */
bool multi_heap_check(multi_heap_handle_t heap, bool print_errors);

/** Print every block to stderr ("Block <ptr> data, size: <n> bytes, Free: Yes|No"), as ESP-IDF.
 *  task, O(blocks). */
void multi_heap_dump(multi_heap_handle_t heap);

/** Called for every block in address order with its payload, its size and 1 when it is in use;
 *  return false to stop. */
typedef bool (*multi_heap_walker_cb_t)(void *block_ptr, size_t block_size, int block_used,
                                       void *user_data);

/** Walk the heap's blocks, holding its lock (the walker must not allocate or free in this heap;
 *  with a recursive lock it may read its figures). NULL heap: nothing. NULL walker: TLSF's default
 *  one, which prints each block on stdout ("\t<payload> used|free size: <hex> (<header>)").
 *  ESP-IDF >= 5.3. task, O(blocks). */
void multi_heap_walk(multi_heap_handle_t heap, multi_heap_walker_cb_t walker_func, void *user_data);

/** The start of the live block whose payload contains ptr; NULL when none does (the chip
 *  asserts). ESP-IDF >= 5.5. task, O(blocks). */
void *multi_heap_find_containing_block(multi_heap_handle_t heap, void *ptr);

#ifdef __cplusplus
}
#endif
#endif
