/*
 * tlsf_heap.h - a TLSF heap with ESP-IDF's parameters, for the simulated ESP32-S3 regions.
 *
 * Two-level segregated fit (Masmano et al.), written for this project: O(1) malloc and free,
 * good-fit, immediate coalescing. Parameters as ESP-IDF's heap on the chip: 4-byte block header,
 * sizes rounded up to the granularity (malloc: to the size class, as since v5.4), 12-byte minimum
 * block, second-level count by region size (8 for regions up to 16 KiB, 16 up to 256 KiB, 32
 * above). Block links are 32-bit offsets from the region start, so the header is 4 bytes on a
 * 64-bit host too. Granularity (= payload alignment) is 4 bytes on 32-bit builds, exactly as on
 * the chip, and 8 bytes on 64-bit hosts so that firmware structs holding pointers stay correctly
 * aligned (documented in docs/DESIGN.md).
 *
 * The region's first bytes are laid out with the chip's sizes (ESP-IDF's multi_heap heap_t, then
 * TLSF's control structure) and the free bytes are counted as ESP-IDF's multi_heap counts them, so
 * every figure is the chip's for the same calls (32-bit builds: to the byte; 64-bit hosts: see
 * docs/simulator.md). Free bytes, minimum-ever free bytes, largest free block and block counts
 * are kept as counters and bitmaps: all O(1) to read. Not thread-safe: the caller locks (the
 * simulator keeps one lock per heap).
 * No function here blocks, allocates host memory or prints; malloc/free/realloc touch a bounded
 * number of block words whatever the heap's state (tests/test_tlsf_heap.c counts them).
 *
 * AddressSanitizer builds poison the control structure, every block header, free memory and the
 * bytes between a request's end and the next header, so overflows and use-after-free in code using
 * the heap are reported (exact on 64-bit hosts; see tlsf_heap.c for the 32-bit granule caveat).
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

/** Make a heap of the `bytes` at `mem`, as ESP-IDF's multi_heap_register(mem, bytes) lays it
 *  out: its heap_t (20 bytes), TLSF's control structure (36 bytes, then 4 bytes per first-level
 *  index and per size class, the indexes and classes chosen by the `bytes - 20` after the heap_t:
 *  344 bytes for 4 KiB up to 2300 for 8 MiB), then the blocks. Returns NULL when mem is NULL or
 *  misaligned (TLSF_HEAP_ALIGN), or the region is too small for the control structure and one
 *  minimal block, or larger than 2^31 bytes. `bytes` need not be a multiple of 4. The memory's
 *  previous contents do not matter. O(size classes). */
tlsf_heap_t *tlsf_heap_create(void *mem, size_t bytes);

/** Allocate `size` bytes aligned to TLSF_HEAP_ALIGN. NULL when size is 0, larger than the
 *  heap could ever hold, or no free block fits; it succeeds exactly when
 *  size <= tlsf_heap_largest_free(). As ESP-IDF's TLSF since v5.4, the block is size rounded up to
 *  4 (at least 12) and, from 4 * second-level count bytes up, to its size class's lower bound (1/8,
 *  1/16 or 1/32 of its power of two): malloc(1000) takes 1008 bytes in a large region; on 64-bit
 *  hosts 4 more when that is a multiple of 8 (granularity). O(1). Not zero-filled. */
void *tlsf_heap_malloc(tlsf_heap_t *heap, size_t size);

/** Whether malloc keeps the size-class rounding as the block's size (on at creation, as ESP-IDF's
 *  TLSF since v5.4; off: the block is the request rounded to the granularity, as v5.1-v5.3). The
 *  search, tlsf_heap_largest_free() and memalign are the same either way. O(1). */
void tlsf_heap_set_class_rounding(tlsf_heap_t *heap, bool on);

/** Allocate `size` bytes aligned to `align` (a power of two). NULL as for malloc, or when align is
 *  0 or not a power of two, or (align > 4, the chip's granularity) no free block holds
 *  size + align + 16 bytes rounded up to align (room for the worst alignment gap, which goes back
 *  to the heap as a free block; the rounding is ESP-IDF's; also for align 8 on a 64-bit host,
 *  where the gap is always 0, so that the host refuses what the chip would); align <= 4 needs no
 *  gap and succeeds exactly when malloc(size) would. The block is size rounded to the granularity
 *  only (no size class), as ESP-IDF's tlsf_memalign. O(1). */
void *tlsf_heap_memalign(tlsf_heap_t *heap, size_t align, size_t size);

/** As tlsf_heap_memalign(), with the payload's byte at `offset` aligned instead of its start, the
 *  block placed where ESP-IDF's tlsf_memalign_offs places it (the free block's start aligned up,
 *  moved on while the gap cannot hold a free block and the offset, the result `offset` before).
 *  NULL also when offset is not a multiple of TLSF_HEAP_ALIGN (ESP-IDF rounds it up). O(1). */
void *tlsf_heap_memalign_offs(tlsf_heap_t *heap, size_t align, size_t size, size_t offset);

/** Resize in place when the block or the free block after it allows it (a shrink gives the tail
 *  back), else allocate, copy min(block size, size) bytes and free. NULL ptr acts as malloc; size 0
 *  frees and returns NULL. On failure (no room, size too large, or ptr not a live block of this
 *  heap, see tlsf_heap_free) returns NULL and `ptr` is untouched. O(1) plus the copy. */
void *tlsf_heap_realloc(tlsf_heap_t *heap, void *ptr, size_t size);

/** Result of a free. */
typedef enum {
    TLSF_FREE_OK = 0,
    TLSF_FREE_NULL,        /**< ptr was NULL: nothing done */
    TLSF_FREE_NOT_OWNED,   /**< ptr is outside this heap's blocks */
    TLSF_FREE_INVALID,     /**< inside the heap but not the start of a block's payload */
    TLSF_FREE_DOUBLE,      /**< the block is already free */
} tlsf_free_result_t;

/** Free `ptr`. Misuse is detected in O(1) and leaves every byte of the heap untouched:
 *  TLSF_FREE_NULL for NULL; TLSF_FREE_NOT_OWNED outside the block area (the control structure
 *  included);
 *  TLSF_FREE_DOUBLE when the header before ptr is a free block's (also after it was merged into
 *  its free predecessor); TLSF_FREE_INVALID when ptr is misaligned, its header's offset tag or size
 *  does not match (an interior pointer: always caught when the word before it has bit 31 clear,
 *  else a random word slips through with odds of at most 2^-(tag bits + 1), see tlsf_heap.c),
 *  the next block records a free predecessor, or the recorded free predecessor does not end at
 *  the block. O(1). */
tlsf_free_result_t tlsf_heap_free(tlsf_heap_t *heap, void *ptr);

/** True when ptr lies within this heap's block area (first payload to the sentinel header): any
 *  byte of any block, live or free. O(1). */
bool tlsf_heap_contains(const tlsf_heap_t *heap, const void *ptr);

/** Usable size of an allocated block (>= the request; in ASan builds only the request is
 *  addressable). 0 when ptr is not a live block (same checks as tlsf_heap_free). O(1). */
size_t tlsf_heap_block_size(const tlsf_heap_t *heap, const void *ptr);

/** Figures, all O(1). */
size_t tlsf_heap_total_bytes(const tlsf_heap_t *heap);    /**< payload of the empty heap's block */
/** ESP-IDF's multi_heap free size: the region less the control structure (its heap_t included)
 *  at creation, less each used block's size and 4-byte header. So it counts the free blocks'
 *  headers, the sentinel's and any bytes the block area could not use: free payloads
 *  + 4 * (free blocks + 1) + the unused tail (0-3 bytes on the chip and on 32-bit builds; on a
 *  64-bit host also the 4 bytes skipped to align the first payload). */
size_t tlsf_heap_free_bytes(const tlsf_heap_t *heap);
/** Low-water mark of tlsf_heap_free_bytes() since creation or the last reset, as ESP-IDF's
 *  multi_heap keeps it: a moving realloc counts its result only, not the moment both blocks
 *  exist. */
size_t tlsf_heap_min_free_bytes(const tlsf_heap_t *heap);
/** Largest size tlsf_heap_malloc() succeeds with: malloc(n) succeeds if and only if
 *  1 <= n <= this value; 0 when no block is free. Rule: L = lower bound of the highest non-empty
 *  size class (the highest set bit of the two bitmaps); every block there is >= L, and malloc
 *  rounds a request (to 4 bytes, then) up to a class boundary, so the answer is L itself, on
 *  64-bit hosts too (see tlsf_heap_malloc). This is what ESP-IDF's
 *  heap_caps_get_largest_free_block() reports (the largest free block rounded down to its TLSF
 *  class): at most one class width (1/SL of a power of two) below the largest free block. */
size_t tlsf_heap_largest_free(const tlsf_heap_t *heap);
size_t tlsf_heap_allocated_blocks(const tlsf_heap_t *heap);
size_t tlsf_heap_free_blocks(const tlsf_heap_t *heap);
/** Reset the low-water mark to the current free bytes. O(1). */
void tlsf_heap_reset_min_free(tlsf_heap_t *heap);
/** Lower the low-water mark to `bytes` if it is above, as multi_heap_restore_minimum_free_bytes.
 *  O(1). */
void tlsf_heap_restore_min_free(tlsf_heap_t *heap, size_t bytes);
/** Usable size of the allocated block that contains ptr (ptr anywhere in its payload), whose
 *  payload start goes to *payload; 0 (*payload untouched) when no allocated block does.
 *  O(blocks): walks the heap. */
size_t tlsf_heap_containing_block_size(const tlsf_heap_t *heap, const void *ptr, void **payload);
/** Payload bytes in allocated blocks (block sizes, >= the requests), as ESP-IDF's
 *  multi_heap_get_info() computes it: free bytes at creation - free bytes - 4 * allocated
 *  blocks. O(1). */
size_t tlsf_heap_allocated_bytes(const tlsf_heap_t *heap);
/** The `bytes` given to tlsf_heap_create (control structure included). O(1). */
size_t tlsf_heap_region_bytes(const tlsf_heap_t *heap);
/** A pointer the heap keeps for its owner (NULL at creation), in the chip's heap_t bytes. O(1). */
void tlsf_heap_set_user(tlsf_heap_t *heap, void *user);
void *tlsf_heap_user(const tlsf_heap_t *heap);

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
