/*
 * fuzz_multi_heap.c - ESP-IDF's multi_heap.h on the host (a heap over the caller's memory) driven
 * by arbitrary input, against a model of what multi_heap.h promises.
 *
 * Each input registers a heap over a static buffer or a heap_caps block (internal or PSRAM), at
 * any misalignment and size, then runs operations from the bytes: malloc, aligned allocations with
 * and without an offset (valid and invalid alignments and offsets), realloc (grow, shrink, NULL,
 * size 0, a freed or foreign pointer), free (live, double, interior, foreign, NULL), lookups,
 * walks, minimum resets and restores. After every operation:
 *   - multi_heap_check() passes; every live block lies inside the memory given, no two overlap,
 *     each still holds the bytes written into it (its first and last 64) and is found by
 *     find_containing_block();
 *   - get_info() agrees with the model (allocated blocks) and with itself: free + allocated +
 *     4 * (blocks - 1) is the empty heap's free bytes, the largest free block fits in the free
 *     bytes, the minimum is at most the free bytes; a walk sees every block;
 *   - refused frees and reallocs are counted in kraken_sim_stats_t.invalid_frees, one each;
 *   - every block is where its memory is (esp_ptr_external_ram as the region).
 * At the end everything is freed: the free bytes are the empty heap's again.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "esp_memory_utils.h"
#include "esp_psram.h"
#include "fuzz_support.h"
#include "kraken_sim.h"
#include "multi_heap.h"
#include "sim_internal.h"
#include "tlsf_heap.h"

#define LIVE_MAX 48
#define REGION_MAX 65536u
#define HDR 4u /* the TLSF block header */

typedef struct {
    uint8_t *ptr;
    size_t size; /* bytes written (and checked) */
    uint8_t fill;
} block_t;

static _Alignas(16) uint8_t static_region[REGION_MAX + 16];
static uint8_t foreign[16]; /* never in a heap */
static block_t live[LIVE_MAX];
static size_t live_n;
static uint8_t *region_lo, *region_hi;
static uint64_t want_invalid;

static uint64_t invalid_frees(void)
{
    kraken_sim_stats_t st;
    kraken_sim_get_stats(&st);
    return st.invalid_frees;
}

static void remember(uint8_t *p, size_t size, uint8_t fill)
{
    memset(p, fill, size);
    live[live_n++] = (block_t){p, size, fill};
}

static void forget(size_t i)
{
    live[i] = live[--live_n];
}

static size_t pick_size(fuzz_input_t *in)
{
    switch (fuzz_u8(in) % 4) {
    case 0: return fuzz_u8(in) % 32;
    case 1: return fuzz_u16(in) % 512;
    case 2: return fuzz_u16(in) % 8192;
    default: return fuzz_u16(in); /* past the region sometimes */
    }
}

static size_t pick_alignment(fuzz_input_t *in)
{
    const uint8_t a = fuzz_u8(in);
    return a < 240 ? (size_t)1 << (a % 13) : a % 100; /* powers of two up to 4096, or anything */
}

/* alignment: 0 when none was asked, SIZE_MAX when 0 was (which must fail) */
static void got(uint8_t *p, size_t size, size_t alignment, size_t offset, uint8_t fill)
{
    if (p == NULL) {
        return;
    }
    FUZZ_CHECK(size > 0, "a block for size 0");
    FUZZ_CHECK(alignment != SIZE_MAX, "a block for alignment 0");
    FUZZ_CHECK(live_n < LIVE_MAX, "model full");
    FUZZ_CHECK((uintptr_t)p % TLSF_HEAP_ALIGN == 0, "%p misaligned", (void *)p);
    if (alignment != 0) {
        FUZZ_CHECK((alignment & (alignment - 1)) == 0, "alignment %zu accepted", alignment);
        FUZZ_CHECK(offset % TLSF_HEAP_ALIGN == 0, "offset %zu accepted", offset);
        FUZZ_CHECK((uintptr_t)(p + offset) % alignment == 0, "%p+%zu not aligned to %zu",
                   (void *)p, offset, alignment);
    }
    remember(p, size, fill);
}

static void op_alloc(fuzz_input_t *in, multi_heap_handle_t heap, uint8_t how)
{
    if (live_n == LIVE_MAX) {
        return;
    }
    const size_t size = pick_size(in);
    /* bit 7 clear: the word before an interior pointer then never looks like a block header
     * (tlsf_heap.h: such a pointer is always refused) */
    const uint8_t fill = fuzz_u8(in) & 0x7F;
    switch (how % 3) {
    case 0: got(multi_heap_malloc(heap, size), size, 0, 0, fill); break;
    case 1: {
        const size_t alignment = pick_alignment(in);
        got(multi_heap_aligned_alloc(heap, size, alignment), size,
            alignment != 0 ? alignment : SIZE_MAX, 0, fill);
        break;
    }
    default: {
        const size_t alignment = pick_alignment(in);
        const size_t offset = fuzz_u8(in) % 3 == 0 ? fuzz_u8(in) : (size_t)fuzz_u8(in) * 8;
        got(multi_heap_aligned_alloc_offs(heap, size, alignment, offset), size,
            alignment != 0 ? alignment : SIZE_MAX, offset, fill);
        break;
    }
    }
}

static void op_free_or_realloc(fuzz_input_t *in, multi_heap_handle_t heap, uint8_t how)
{
    const size_t i = live_n > 0 ? fuzz_u8(in) % live_n : 0;
    switch (how % 6) {
    case 0: /* free a live block, then maybe again */
        if (live_n > 0) {
            uint8_t *p = live[i].ptr;
            forget(i);
            multi_heap_free(heap, p);
            if (fuzz_u8(in) & 1) {
                multi_heap_free(heap, p);
                want_invalid++;
            }
        }
        break;
    case 1: /* an interior pointer, or memory nothing handed out */
        if (live_n > 0 && live[i].size > TLSF_HEAP_ALIGN) {
            multi_heap_free(heap, live[i].ptr + TLSF_HEAP_ALIGN);
        } else {
            multi_heap_free(heap, foreign);
        }
        want_invalid++;
        break;
    case 2: { /* realloc a live block (size 0 frees it) */
        if (live_n == 0) {
            break;
        }
        const size_t size = pick_size(in);
        block_t b = live[i];
        uint8_t *q = multi_heap_realloc(heap, b.ptr, size);
        if (size == 0) {
            FUZZ_CHECK(q == NULL, "realloc to 0 returned a block");
            forget(i);
        } else if (q != NULL) {
            const size_t keep = b.size < size ? b.size : size;
            for (size_t k = 0; k < keep; k++) {
                FUZZ_CHECK(q[k] == b.fill, "realloc lost byte %zu", k);
            }
            forget(i);
            remember(q, size, b.fill);
        }
        break;
    }
    case 3: /* realloc NULL: malloc */
        if (live_n < LIVE_MAX) {
            const size_t size = pick_size(in);
            got(multi_heap_realloc(heap, NULL, size), size, 0, 0, fuzz_u8(in) & 0x7F);
        }
        break;
    case 4: /* realloc of a pointer that is no live block */
        FUZZ_CHECK(multi_heap_realloc(heap, foreign, 16) == NULL,
                   "realloc of a foreign pointer");
        want_invalid++;
        break;
    default: /* the minimum */
        if (fuzz_u8(in) & 1) {
            const size_t low = multi_heap_minimum_free_size(heap);
            FUZZ_CHECK(multi_heap_reset_minimum_free_bytes(heap) == low, "reset returned another");
            FUZZ_CHECK(multi_heap_minimum_free_size(heap) == multi_heap_free_size(heap),
                       "minimum after reset");
        } else {
            const size_t before = multi_heap_minimum_free_size(heap);
            const size_t value = fuzz_u16(in);
            multi_heap_restore_minimum_free_bytes(heap, value);
            FUZZ_CHECK(multi_heap_minimum_free_size(heap) == (value < before ? value : before),
                       "restore to %zu from %zu", value, before);
        }
        break;
    }
}

static bool count_block(void *block_ptr, size_t block_size, int block_used, void *user_data)
{
    size_t *counts = user_data;
    FUZZ_CHECK((uint8_t *)block_ptr >= region_lo && (uint8_t *)block_ptr + block_size <= region_hi,
               "walk: block %p+%zu outside the memory given", block_ptr, block_size);
    counts[block_used ? 1 : 0]++;
    return true;
}

static void check(multi_heap_handle_t heap, size_t empty, bool psram, const char *after)
{
    FUZZ_CHECK(multi_heap_check(heap, true), "heap corrupt after %s", after);
    FUZZ_CHECK(invalid_frees() == want_invalid, "%llu refusals counted, %llu made (after %s)",
               (unsigned long long)invalid_frees(), (unsigned long long)want_invalid, after);
    size_t allocated = 0;
    for (size_t i = 0; i < live_n; i++) {
        const block_t *b = &live[i];
        const size_t extent = multi_heap_get_allocated_size(heap, b->ptr);
        allocated += extent;
        FUZZ_CHECK(extent >= b->size, "block %p: size %zu < %zu", (void *)b->ptr, extent, b->size);
        FUZZ_CHECK(b->ptr >= region_lo && b->ptr + extent <= region_hi, "block outside the memory");
        FUZZ_CHECK(esp_ptr_external_ram(b->ptr) == psram, "block %p misplaced", (void *)b->ptr);
        for (size_t k = 0; k < b->size; k = (k == 63 && b->size > 128) ? b->size - 64 : k + 1) {
            FUZZ_CHECK(b->ptr[k] == b->fill, "block %p byte %zu changed", (void *)b->ptr, k);
        }
        FUZZ_CHECK(multi_heap_find_containing_block(heap, b->ptr + b->size / 2) == b->ptr,
                   "containing block of %p", (void *)b->ptr);
        for (size_t j = i + 1; j < live_n; j++) {
            const block_t *c = &live[j];
            FUZZ_CHECK(c->ptr >= b->ptr + extent || c->ptr + c->size <= b->ptr, "blocks overlap");
        }
    }
    multi_heap_info_t info;
    multi_heap_get_info(heap, &info);
    FUZZ_CHECK(info.allocated_blocks == live_n, "%zu blocks, model %zu", info.allocated_blocks,
               live_n);
    FUZZ_CHECK(info.total_blocks == info.allocated_blocks + info.free_blocks, "block counts");
    FUZZ_CHECK(info.total_allocated_bytes == allocated, "%zu allocated, blocks of %zu",
               info.total_allocated_bytes, allocated);
    FUZZ_CHECK(info.total_free_bytes == multi_heap_free_size(heap), "free bytes");
    /* ESP-IDF's count: each used block takes its size and its header from the empty heap's */
    FUZZ_CHECK(info.total_free_bytes + info.total_allocated_bytes + HDR * info.allocated_blocks ==
                   empty,
               "free %zu + allocated %zu + headers != %zu", info.total_free_bytes,
               info.total_allocated_bytes, empty);
    FUZZ_CHECK(info.largest_free_block <= info.total_free_bytes, "largest free block");
    FUZZ_CHECK(info.minimum_free_bytes <= info.total_free_bytes, "minimum above free");
    size_t counts[2] = {0, 0};
    multi_heap_walk(heap, count_block, counts);
    FUZZ_CHECK(counts[0] == info.free_blocks && counts[1] == info.allocated_blocks, "walk counts");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input_t in = {data, size};
    esp_log_level_set("*", ESP_LOG_NONE); /* misuse is the point here: no log line per refusal */
    sim_policy_t policy;
    sim_policy_from_sdkconfig(&policy);
    FUZZ_CHECK(sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy) == ESP_OK, "reboot");
    want_invalid = 0;
    live_n = 0;

    /* the memory: a static buffer, or an internal or PSRAM heap block; misaligned by 0-7 */
    const uint8_t source = fuzz_u8(&in) % 3;
    const size_t bytes = 64 + fuzz_u16(&in) % (REGION_MAX - 64);
    const size_t skew = fuzz_u8(&in) % 8;
    /* PSRAM in the heap (with CONFIG_SPIRAM_USE_MEMMAP it is initialised, not the heap's) */
    const bool psram = source == 2 && heap_caps_get_total_size(MALLOC_CAP_SPIRAM) > 0;
    uint8_t *block = NULL;
    if (source != 0) {
        block = heap_caps_malloc(bytes + skew, psram ? MALLOC_CAP_SPIRAM : MALLOC_CAP_INTERNAL);
        FUZZ_CHECK(block != NULL, "no %zu-byte block to give the heap", bytes + skew);
    }
    region_lo = (source != 0 ? block : static_region) + skew;
    region_hi = region_lo + bytes;
    multi_heap_handle_t heap = multi_heap_register(region_lo, bytes);
    if ((uintptr_t)region_lo % 4 != 0) { /* refused, as the chip's TLSF does */
        FUZZ_CHECK(heap == NULL, "a heap at a start that is not 4-byte aligned");
    }
    if (heap == NULL) {
        FUZZ_CHECK(bytes < 1024 || (uintptr_t)region_lo % 4 != 0, "no heap in %zu bytes", bytes);
        heap_caps_free(block);
        return 0;
    }
    const size_t empty = multi_heap_free_size(heap);
    FUZZ_CHECK(multi_heap_minimum_free_size(heap) == empty, "minimum of the empty heap");
    check(heap, empty, psram, "register");
    static const char *const names[] = {"alloc", "alloc", "free/realloc"};
    while (in.n > 0) {
        const uint8_t op = fuzz_u8(&in), how = op / 3;
        if (op % 3 < 2) {
            op_alloc(&in, heap, how);
        } else {
            op_free_or_realloc(&in, heap, how);
        }
        check(heap, empty, psram, names[op % 3]);
    }
    while (live_n > 0) {
        uint8_t *p = live[live_n - 1].ptr;
        live_n--;
        multi_heap_free(heap, p);
    }
    check(heap, empty, psram, "freeing everything");
    FUZZ_CHECK(multi_heap_free_size(heap) == empty, "%zu free, %zu when empty",
               multi_heap_free_size(heap), empty);
    heap_caps_free(block);
    return 0;
}
