/*
 * tlsf_heap.h - a TLSF heap with ESP-IDF's parameters, for the simulated ESP32-S3 regions.
 *
 * Two-level segregated fit (Masmano et al.), written for this project: O(1) malloc and free,
 * good-fit, immediate coalescing. Parameters as ESP-IDF's heap on the chip: 4-byte block header,
 * sizes rounded up to the granularity, 12-byte minimum block, second-level count by region size
 * (8 for regions up to 16 KiB, 16 up to 256 KiB, 32 above). Block links are 32-bit offsets from the
 * region start, so the header is 4 bytes on a 64-bit host too. Granularity (= payload alignment) is
 * 4 bytes on 32-bit builds, exactly as on the chip, and 8 bytes on 64-bit hosts so that firmware
 * structs holding pointers stay correctly aligned (documented in docs/DESIGN.md).
 *
 * Free bytes, minimum-ever free bytes, largest free block and block counts are kept as counters and
 * bitmaps: all O(1) to read. Not thread-safe: the caller locks (the simulator keeps one lock per heap).
 */
#ifndef TLSF_HEAP_H
#define TLSF_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Payload alignment and size granularity in bytes (4 on 32-bit targets, 8 on 64-bit hosts). */
#define TLSF_HEAP_ALIGN (sizeof(void *) > 4 ? 8u : 4u)

typedef struct tlsf_heap tlsf_heap_t; /* lives at the start of the region it manages */

/** Make a heap of the `bytes` at `mem` (the control structure is taken from the front).
 *  Returns NULL when mem is NULL or misaligned (TLSF_HEAP_ALIGN), or the region is too small for
 *  the control structure and one minimal block, or larger than 2^31 bytes. O(1). */
tlsf_heap_t *tlsf_heap_create(void *mem, size_t bytes);

/** Allocate `size` bytes aligned to TLSF_HEAP_ALIGN. NULL when size is 0, larger than the
 *  heap could ever hold, or no free block fits. O(1). Not zero-filled. */
void *tlsf_heap_malloc(tlsf_heap_t *heap, size_t size);

/** Allocate `size` bytes aligned to `align` (a power of two). NULL as for malloc, or when align is
 *  not a power of two. O(1). */
void *tlsf_heap_memalign(tlsf_heap_t *heap, size_t align, size_t size);

/** Resize in place when the next block allows it, else allocate, copy and free. NULL ptr acts as
 *  malloc; size 0 frees and returns NULL. On failure returns NULL and `ptr` is untouched. */
void *tlsf_heap_realloc(tlsf_heap_t *heap, void *ptr, size_t size);

/** Result of a free. */
typedef enum {
    TLSF_FREE_OK = 0,
    TLSF_FREE_NULL,        /**< ptr was NULL: nothing done */
    TLSF_FREE_NOT_OWNED,   /**< ptr is outside this heap's blocks */
    TLSF_FREE_INVALID,     /**< inside the heap but not the start of a block's payload */
    TLSF_FREE_DOUBLE,      /**< the block is already free */
} tlsf_free_result_t;

/** Free `ptr`. Misuse is detected in O(1) (range, alignment, header consistency with both
 *  physical neighbours, free bit) and leaves the heap untouched. O(1). */
tlsf_free_result_t tlsf_heap_free(tlsf_heap_t *heap, void *ptr);

/** True when ptr lies within this heap's block area. O(1). */
bool tlsf_heap_contains(const tlsf_heap_t *heap, const void *ptr);

/** Usable size of an allocated block (>= the request). 0 when ptr is not a live block. O(1). */
size_t tlsf_heap_block_size(const tlsf_heap_t *heap, const void *ptr);

/** Figures, all O(1). */
size_t tlsf_heap_total_bytes(const tlsf_heap_t *heap);    /**< usable bytes when empty */
size_t tlsf_heap_free_bytes(const tlsf_heap_t *heap);     /**< payload bytes in free blocks */
size_t tlsf_heap_min_free_bytes(const tlsf_heap_t *heap); /**< low-water mark of free bytes */
/** Largest size tlsf_heap_malloc() is guaranteed to succeed with (the lower bound of the highest
 *  non-empty size class, capped by the block size): what ESP-IDF's
 *  heap_caps_get_largest_free_block() reports. */
size_t tlsf_heap_largest_free(const tlsf_heap_t *heap);
size_t tlsf_heap_allocated_blocks(const tlsf_heap_t *heap);
size_t tlsf_heap_free_blocks(const tlsf_heap_t *heap);
/** Reset the low-water mark to the current free bytes. O(1). */
void tlsf_heap_reset_min_free(tlsf_heap_t *heap);
/** Payload bytes in allocated blocks (block sizes, >= the requests). O(1).
 *  Always: total = free + allocated + 4 * (allocated_blocks + free_blocks - 1). */
size_t tlsf_heap_allocated_bytes(const tlsf_heap_t *heap);
/** The `bytes` given to tlsf_heap_create (control structure included). O(1). */
size_t tlsf_heap_region_bytes(const tlsf_heap_t *heap);
/** Give the region back to the caller: the heap must not be used afterwards. In AddressSanitizer
 *  builds this unpoisons the whole region (the heap keeps its metadata, free blocks and slack
 *  poisoned), so the caller may reuse or free the memory; otherwise it only clears the magic that
 *  tlsf_heap_check looks for. NULL is ignored. O(1). */
void tlsf_heap_destroy(tlsf_heap_t *heap);

/** Walk every block and check every invariant (physical chain, free lists, bitmaps, coalescing,
 *  counters). True when consistent. O(blocks). */
bool tlsf_heap_check(const tlsf_heap_t *heap);

/** Call fn for every block in address order; stop early when fn returns false. O(blocks). */
typedef bool (*tlsf_heap_walker_t)(void *payload, size_t size, bool used, void *ctx);
void tlsf_heap_walk(const tlsf_heap_t *heap, tlsf_heap_walker_t fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
