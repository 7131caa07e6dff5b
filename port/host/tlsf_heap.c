/*
 * tlsf_heap.c - two-level segregated fit heap with ESP-IDF's parameters (see tlsf_heap.h).
 *
 * Written for this project after Masmano et al.'s paper; the layout follows the choices of the heap
 * on the chip (Conte's TLSF 3.1 as forked by Espressif) so that fragmentation looks the same.
 *
 * Region layout (32-bit offsets, counted from the start of the region = the control struct):
 *
 *   | heap_t + control | sl bitmaps | list heads | hdr | payload | ... | sentinel hdr | tail |
 *
 * with the chip's sizes up to the first header (see struct tlsf_heap).
 *
 * A block is named by the offset of its 4-byte header word: the payload size (a multiple of 4) and
 * two flags, FREE (this block) and PREV_FREE (the physically previous block). The payload follows
 * the header and is TLSF_HEAP_ALIGN-aligned, so on a 64-bit host every payload size is 4 mod 8. A
 * free block keeps its list links (next, prev) in its first two payload words and its own offset in
 * its last payload word: the next block finds its free predecessor there (boundary tag), which is
 * why a used block costs only the 4-byte header. Offset 0 (the control struct) is the null link.
 *
 * A used block's header also carries, in the bits above the largest possible size, a tag computed
 * from the block's offset and the heap's creation count, with the top bit always set. free() checks
 * it, which rejects an interior or stale pointer in O(1): always when the word before it has bit 31
 * clear (small numbers, ASCII, zeros), and a block left from one of the last 2^(tag bits - 1)
 * heaps made over the same memory (a reboot of the simulator); a random word slips through with
 * odds of at most 2^-(tag bits + 1) (tag bits: 32 - bits of the largest block size, e.g. 9 on
 * 8 MiB, 13 on 320 KiB, 18 on 16 KiB). Free headers have no tag.
 *
 * Size classes: sizes below small = 4 * SL are split linearly into SL lists of 4 bytes; above, each
 * power of two [2^f, 2^(f+1)) is split into SL equal lists (SL = 8/16/32 by region size, as on the
 * chip). The search rounds the request up to the next class boundary, so the head of any non-empty
 * list at or above that class fits: one bitmap lookup per level, no list walk (good fit, O(1)).
 * malloc also keeps the rounded size as the block's (ESP-IDF since v5.4; can be turned off for
 * older releases); memalign does not.
 *
 * Accounting, as ESP-IDF's multi_heap (multi_heap.c) keeps it: free bytes start at the region
 * less the control structure, and each malloc/memalign takes its block's size + 4 (the header),
 * each free gives them back, a realloc gives the old size and takes the new one. So they count
 * every free block's header and the sentinel's: free payloads + 4 * (free blocks + 1) + the
 * unused tail. Allocated bytes = initial free - free - 4 * used blocks (multi_heap_get_info).
 * Physically: the payload of the single block of an empty heap = sum of payloads
 * + 4 * (blocks - 1).
 *
 * AddressSanitizer builds: headers, free payloads, the control area and the slack after each
 * request are poisoned; every function here is built without instrumentation and never calls libc
 * on poisoned bytes. ASan's shadow granule is 8 bytes and only a prefix of a granule can be
 * addressable: with 8-byte payload alignment (64-bit hosts) blocks never share a granule, so the
 * poisoning is exact; on 32-bit builds the bytes of a granule shared by two blocks may stay
 * addressable (missed reports, never false ones).
 */
#include "tlsf_heap.h"

#include <stdatomic.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define TLSF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TLSF_ASAN 1
#endif
#endif

/* the hot paths are a handful of helpers each: inline them whatever the optimisation level */
#define TLSF_INLINE TLSF_NOASAN static inline __attribute__((always_inline))

#if defined(TLSF_ASAN)
#include <sanitizer/asan_interface.h>
#define TLSF_NOASAN __attribute__((no_sanitize_address))
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define TLSF_NOASAN
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define HDR 4u           /* header word in front of every payload */
#define MIN_PAYLOAD 12u  /* next + prev links + the boundary tag of a free block */
#define ALIGN ((uint32_t)TLSF_HEAP_ALIGN)
#define F_FREE 1u
#define F_PREV_FREE 2u
#define SIZE_MASK (~(uint32_t)3u) /* free blocks: the bits above the size are zero */
#define TAG_MULT 0x9E3779B1u        /* spreads block offsets over the tag bits */
#define MAX_REGION ((size_t)1u << 31)

_Static_assert(TLSF_HEAP_ALIGN == 4 || TLSF_HEAP_ALIGN == 8, "granularity is 4 or 8 bytes");

/* The region starts as on the chip: ESP-IDF's multi_heap heap_t (20 bytes) and TLSF control_t (36
 * bytes), then one second-level bitmap word per first-level index and one list head per size
 * class; the first block's header follows (4 bytes later on a 64-bit host when the payload would
 * not be 8-aligned). This struct stands in the first 56 bytes, so every figure derived from the
 * control structure's size is the chip's. */
#define CHIP_HEAP_T 20u    /* multi_heap.c's heap_t: lock, free_bytes, minimum_free_bytes, ... */
#define CHIP_CONTROL_T 36u /* tlsf's control_t without its arrays, on the 32-bit chip */
#define FIXED (CHIP_HEAP_T + CHIP_CONTROL_T)

struct tlsf_heap {
    /* offset 0 is the null link: the list code writes "its" next/prev links (the two words after
     * fl_bitmap) instead of testing for the end of a list; it never touches the word at 0 */
    uint32_t fl_bitmap;     /* bit fl set when sl_bitmap[fl] != 0 */
    uint32_t null_links[2];
    /* 8-bit: stores to block words (uint32_t) cannot alias them, so they stay in registers */
    uint8_t sl_log2;        /* 3, 4 or 5; 0 once destroyed */
    uint8_t variant;        /* sl_log2 - 3 (which specialised malloc/free), + NO_ROUNDING */
    uint8_t fl_count;
    uint8_t tail;           /* region bytes after the sentinel header (alignment) */
    uint32_t first;         /* offset of the first block */
    uint32_t max_payload;   /* payload of the block of an empty heap; the sentinel follows */
    uint32_t tag_mask;      /* the header bits above a used block's size: the tag */
    uint32_t tag_salt;      /* the creation count in the tag bits: a new heap's tags differ */
    uint32_t free_bytes;    /* ESP-IDF's count: see tlsf_heap_free_bytes() */
    uint32_t min_free;
    uint32_t blocks;        /* free and used, the sentinel not counted: free ones = blocks - used */
    uint32_t used_blocks;
    void *user;
    /* followed by fl_count rows of a second-level bitmap and 2^sl_log2 list heads (block
     * offsets, 0 = empty): the chip's bytes, in an order found without loading fl_count */
};
_Static_assert(sizeof(struct tlsf_heap) <= FIXED, "the chip's heap_t and control_t hold it");
#define ROW(h, L, fl) ((uint32_t *)((uintptr_t)(h) + FIXED) + ((fl) << (L)) + (fl))
#define SL_BITMAP(h, L, fl) (ROW(h, L, fl)[0])
#define HEAD(h, L, fl, sl) (ROW(h, L, fl)[1u + (sl)])
#define END(h) ((h)->first + HDR + (h)->max_payload) /* offset of the sentinel header */
#define USED_SIZE_MASK(h) (~(h)->tag_mask & SIZE_MASK) /* size bits of a used block's header */

/* ---- raw access (offsets from the control struct) ---- */

#ifdef TLSF_HEAP_COUNT_STEPS
/* Test builds (tests/test_tlsf_heap.c compiles its own copy): count every access to a block's
 * words, to show that malloc and free touch a bounded number of them whatever the heap's state. */
static unsigned long tlsf_heap_steps;
static inline uint32_t *count_step(uint32_t *w)
{
    tlsf_heap_steps++;
    return w;
}
#define STEP(w) count_step(w)
#else
#define STEP(w) (w)
#endif

/* The word at byte offset d (signed, constant) from block b: base + b + d in pointer arithmetic so
 * that the compiler folds d into the addressing mode. */
#define AT(h, b, d) (*STEP((uint32_t *)((uintptr_t)(h) + (uintptr_t)(b) + (intptr_t)(d))))
#define HDRW(h, b) AT(h, b, 0)
#define NEXT(h, b) AT(h, b, 4)
#define PREV(h, b) AT(h, b, 8)
#define TAG_BEFORE(h, b) AT(h, b, -4) /* boundary tag of the free block before b */

TLSF_INLINE uint32_t fls32(uint32_t x) { return 31u - (uint32_t)__builtin_clz(x); }
TLSF_INLINE uint32_t ffs32(uint32_t x) { return (uint32_t)__builtin_ctz(x); }

TLSF_INLINE bool size_ok(uint32_t s)
{
    return s >= MIN_PAYLOAD && ((s + HDR) & (ALIGN - 1u)) == 0;
}

/* A used block's header carries a tag derived from its offset in the bits above the largest size,
 * top bit always set: a pointer into the middle of a block is rejected unless the word before it
 * happens to equal that tag plus a consistent size. */
TLSF_INLINE uint32_t tag_of(const tlsf_heap_t *h, uint32_t b)
{
    return (((b * TAG_MULT) ^ h->tag_salt) & h->tag_mask) | 0x80000000u;
}

/* Request -> block payload size: keep the next payload aligned and room for the free links. */
TLSF_INLINE uint32_t adjust(size_t size)
{
    uint32_t a = (((uint32_t)size + HDR + ALIGN - 1u) & ~(ALIGN - 1u)) - HDR;
    return a < MIN_PAYLOAD ? MIN_PAYLOAD : a;
}

/* Size class of a block. L = log2 of the second-level count; the hot paths are compiled once per
 * value of L (see DISPATCH) so that every shift below is by a constant. */
TLSF_INLINE void map(uint32_t L, uint32_t size, uint32_t *fl, uint32_t *sl)
{
    if (size < (4u << L)) {
        *fl = 0;
        *sl = size >> 2;
    } else {
        uint32_t f = fls32(size);
        *sl = (size >> (f - L)) ^ (1u << L);
        *fl = f - L - 1u;
    }
}

/* ---- free lists (the callers keep the counters) ---- */

TLSF_INLINE void list_insert(tlsf_heap_t *h, uint32_t L, uint32_t b, uint32_t size)
{
    uint32_t fl, sl;
    map(L, size, &fl, &sl);
    uint32_t *head = &HEAD(h, L, fl, sl);
    uint32_t first = *head;
    NEXT(h, b) = first;
    PREV(h, b) = 0;
    PREV(h, first) = b; /* the null block's when the list was empty */
    *head = b;
    SL_BITMAP(h, L, fl) |= 1u << sl;
    h->fl_bitmap |= 1u << fl;
}

TLSF_INLINE void list_remove(tlsf_heap_t *h, uint32_t L, uint32_t b, uint32_t size)
{
    uint32_t nx = NEXT(h, b), pv = PREV(h, b);
    PREV(h, nx) = pv;
    NEXT(h, pv) = nx;
    if (!pv) { /* b was the head */
        uint32_t fl, sl;
        map(L, size, &fl, &sl);
        HEAD(h, L, fl, sl) = nx;
        if (!nx) {
            uint32_t m = SL_BITMAP(h, L, fl) &= ~(1u << sl);
            if (!m) {
                h->fl_bitmap &= ~(1u << fl);
            }
        }
    }
}

/* Find and unlink a free block with payload >= size (size a multiple of 4, >= MIN_PAYLOAD); its
 * payload size goes to *bs. 0 when none. The block stays counted as free. The search rounds size
 * up to the lower bound of the next size class (from 4 * SL bytes up), which goes to *bound:
 * every block it finds holds that much. */
TLSF_INLINE uint32_t locate(tlsf_heap_t *h, uint32_t L, uint32_t size, uint32_t *bs,
                            uint32_t *bound)
{
    uint32_t fl, sl;
    if (size < (4u << L)) {
        fl = 0;
        sl = size >> 2;
        *bound = size;
    } else {
        size += (1u << (fls32(size) - L)) - 1u; /* round up to the next class boundary */
        uint32_t f = fls32(size), top = size >> (f - L);
        sl = top ^ (1u << L);
        fl = f - L - 1u;
        *bound = top << (f - L);
        if (fl >= h->fl_count) {
            return 0;
        }
    }
    uint32_t slmap = SL_BITMAP(h, L, fl) & (~0u << sl);
    if (!slmap) {
        uint32_t flmap = h->fl_bitmap & (~0u << (fl + 1u));
        if (!flmap) {
            return 0;
        }
        fl = ffs32(flmap);
        slmap = SL_BITMAP(h, L, fl);
    }
    sl = ffs32(slmap);
    uint32_t *head = &HEAD(h, L, fl, sl);
    uint32_t b = *head;
    /* unlink the head: it has no predecessor */
    uint32_t nx = NEXT(h, b);
    *head = nx;
    PREV(h, nx) = 0;
    if (!nx && !(SL_BITMAP(h, L, fl) &= ~(1u << sl))) {
        h->fl_bitmap &= ~(1u << fl);
    }
    *bs = HDRW(h, b) & SIZE_MASK;
    return b;
}

/* b (unlinked but still counted free, payload s) becomes used with payload >= a; the tail goes back
 * to the free lists when it can hold a block. prevflag: b's PREV_FREE (0 for a block from the
 * lists, since free neighbours are always merged). */
TLSF_INLINE void take(tlsf_heap_t *h, uint32_t L, uint32_t b, uint32_t s, uint32_t a,
                      uint32_t prevflag)
{
    if (s >= a + HDR + MIN_PAYLOAD) {
        uint32_t r = b + HDR + a, rs = s - a - HDR;
        HDRW(h, r) = rs | F_FREE;
        TAG_BEFORE(h, r + HDR + rs) = r; /* next block's PREV_FREE stays set */
        list_insert(h, L, r, rs);
        h->blocks++;
        s = a;
    } else {
        HDRW(h, b + HDR + s) &= ~F_PREV_FREE;
    }
    HDRW(h, b) = s | prevflag | tag_of(h, b);
    /* ESP-IDF's multi_heap: the block and its header */
    uint32_t free_bytes = h->free_bytes - (s + HDR);
    h->free_bytes = free_bytes;
    h->used_blocks++;
    if (free_bytes < h->min_free) {
        h->min_free = free_bytes;
    }
}

TLSF_INLINE void *payload(const tlsf_heap_t *h, uint32_t b)
{
    return (void *)((uintptr_t)h + b + HDR);
}

/* ---- creation ---- */

/* The chip's control structure for a region of `bytes` (heap_t included): tlsf_create() sizes it
 * for the bytes after the heap_t. */
TLSF_INLINE size_t ctrl_bytes(uint32_t sl_log2, uint32_t fl_count)
{
    return FIXED + (size_t)fl_count * 4u + ((size_t)fl_count << sl_log2) * 4u;
}

TLSF_NOASAN tlsf_heap_t *tlsf_heap_create(void *mem, size_t bytes)
{
    if (mem == NULL || ((uintptr_t)mem & (ALIGN - 1u)) != 0 || bytes > MAX_REGION ||
        bytes < FIXED) {
        return NULL;
    }
    /* as ESP-IDF's control_construct() for the bytes after the heap_t: the second-level count
     * by their size, first-level indexes up to theirs (fl_index_max = fls + 1) */
    const size_t tlsf_bytes = bytes - CHIP_HEAP_T;
    uint32_t sl_log2 = tlsf_bytes <= 16u * 1024u ? 3u : tlsf_bytes <= 256u * 1024u ? 4u : 5u;
    uint32_t fl_shift = sl_log2 + 2u;
    uint32_t fl_count = fls32((uint32_t)tlsf_bytes) + 2u - fl_shift;
    size_t ctrl = ctrl_bytes(sl_log2, fl_count);
    /* tlsf_add_pool(): the first header right after the control structure (on a 64-bit host 4
     * bytes later when that keeps the payload 8-aligned), the sentinel's at the end */
    size_t first = ((ctrl + HDR + ALIGN - 1u) & ~(size_t)(ALIGN - 1u)) - HDR;
    if (bytes < first + HDR + MIN_PAYLOAD + HDR) {
        return NULL;
    }
    size_t max_payload = ((bytes - first - HDR) & ~(size_t)(ALIGN - 1u)) - HDR;
    if (max_payload < MIN_PAYLOAD) {
        return NULL;
    }
    UNPOISON(mem, bytes);
    tlsf_heap_t *h = mem;
    memset(h, 0, ctrl);
    h->sl_log2 = (uint8_t)sl_log2;
    h->variant = (uint8_t)(sl_log2 - 3u);
    h->fl_count = (uint8_t)fl_count;
    h->first = (uint32_t)first;
    h->max_payload = (uint32_t)max_payload;
    h->tail = (uint8_t)(bytes - (first + HDR + max_payload + HDR));
    h->tag_mask = ~((2u << fls32((uint32_t)max_payload)) - 1u);
    /* consecutive creations differ in the lowest tag bit up: a header left by an earlier heap
     * over the same memory does not pass for a live block of this one */
    static _Atomic uint32_t creations;
    h->tag_salt = (atomic_fetch_add(&creations, 1u) + 1u) << (fls32((uint32_t)max_payload) + 1u);
    const uint32_t end = END(h);
    HDRW(h, h->first) = (uint32_t)max_payload | F_FREE;
    TAG_BEFORE(h, end) = h->first;
    HDRW(h, end) = F_PREV_FREE | tag_of(h, end); /* sentinel: a used block of size 0 */
    list_insert(h, sl_log2, h->first, (uint32_t)max_payload);
    h->blocks = 1;
    h->free_bytes = (uint32_t)(bytes - ctrl); /* initial_free() */
    h->min_free = h->free_bytes;
    POISON(mem, bytes);
    return h;
}

TLSF_INLINE size_t region_bytes(const tlsf_heap_t *h)
{
    return (size_t)END(h) + HDR + h->tail;
}

/* multi_heap_register()'s free bytes: every byte after the control structure */
TLSF_INLINE size_t initial_free(const tlsf_heap_t *h)
{
    return region_bytes(h) - ctrl_bytes(h->sl_log2, h->fl_count);
}

TLSF_NOASAN void tlsf_heap_destroy(tlsf_heap_t *heap)
{
    if (heap != NULL) {
        size_t bytes = region_bytes(heap);
        heap->sl_log2 = 0;
        UNPOISON((void *)heap, bytes);
    }
}

TLSF_NOASAN void tlsf_heap_set_user(tlsf_heap_t *heap, void *user) { heap->user = user; }
TLSF_NOASAN void *tlsf_heap_user(const tlsf_heap_t *heap) { return heap->user; }

/* ---- allocation ---- */

TLSF_INLINE void *malloc_body(tlsf_heap_t *heap, uint32_t L, bool round, size_t size)
{
    if (size - 1u >= heap->max_payload) { /* 0 or too large */
        return NULL;
    }
    /* The search goes by the request rounded to 4 (the chip's granularity, on 64-bit hosts too, so
     * that a class bound such as 4096 stays in its class). As ESP-IDF's TLSF since v5.4
     * (mapping_search rounds the size it then allocates), the block is the search's class bound
     * r: 1000 bytes take 1008 in a large region; before, the request (`round` false). On 64-bit
     * hosts both are adjust()ed: every free block is 4 mod 8 there, so those in r's class hold
     * r + 4 when r is 0 mod 8. */
    uint32_t a = ((uint32_t)size + 3u) & ~3u, r, s;
    uint32_t b = locate(heap, L, a < MIN_PAYLOAD ? MIN_PAYLOAD : a, &s, &r);
    if (!b) {
        return NULL;
    }
    take(heap, L, b, s, !round ? adjust(size) : ALIGN == 4u ? r : r | 4u, 0); /* r: 4k, >= 12 */
    void *p = payload(heap, b);
    UNPOISON(p, size);
    return p;
}



/* ---- validation of a pointer handed back by the user ---- */

/* Classify ptr without writing anything. On TLSF_FREE_OK (a live block) or TLSF_FREE_DOUBLE,
 * *out_b is the block's offset and *out_hv its header word. */
TLSF_INLINE tlsf_free_result_t classify(const tlsf_heap_t *h, const void *ptr,
                                                      uint32_t *out_b, uint32_t *out_hv)
{
    uint32_t lo = h->first + HDR, end = END(h);
    uintptr_t off = (uintptr_t)ptr - (uintptr_t)h; /* wraps when ptr is below the heap */
    if (off - lo >= end - lo) {
        return ptr == NULL ? TLSF_FREE_NULL : TLSF_FREE_NOT_OWNED;
    }
    uint32_t p = (uint32_t)off, tm = h->tag_mask;
    if (p & (ALIGN - 1u)) {
        return TLSF_FREE_INVALID;
    }
    uint32_t b = p - HDR, hv = HDRW(h, b), s = hv & ~tm & SIZE_MASK;
    if (s > end - p) { /* the size keeps the next header inside the heap */
        return TLSF_FREE_INVALID;
    }
    if (hv & F_FREE) {
        /* a free block, or the stale header of one merged into its free predecessor */
        if ((hv & tm) || !size_ok(s)) {
            return TLSF_FREE_INVALID;
        }
        *out_b = b;
        *out_hv = hv;
        return TLSF_FREE_DOUBLE;
    }
    uint32_t n = p + s, nh = HDRW(h, n);
    /* both headers carry the tags of their offsets (the sentinel's too: a size that is not a
     * block's lands on a word without the right tag), and the next block must not think its
     * predecessor is free */
    if ((hv & tm) != tag_of(h, b) || (nh & F_PREV_FREE)) {
        return TLSF_FREE_INVALID;
    }
    if (hv & F_PREV_FREE) {
        uint32_t pb = b > h->first ? TAG_BEFORE(h, b) : 0;
        if (pb < h->first || pb > b - HDR - MIN_PAYLOAD || !(HDRW(h, pb) & F_FREE) ||
            pb + HDR + (HDRW(h, pb) & SIZE_MASK) != b) {
            return TLSF_FREE_INVALID;
        }
    }
    *out_b = b;
    *out_hv = hv;
    return TLSF_FREE_OK;
}

/* Return the used block b (payload s, header hv) to the free lists, merging with free
 * neighbours. */
TLSF_INLINE void release(tlsf_heap_t *h, uint32_t L, uint32_t b, uint32_t s, uint32_t hv)
{
    h->free_bytes += s + HDR; /* ESP-IDF's multi_heap: the block and its header */
    h->used_blocks--;
    if (hv & F_PREV_FREE) {
        HDRW(h, b) = s | F_FREE | F_PREV_FREE; /* a stale pointer to b reads as free */
        uint32_t pb = TAG_BEFORE(h, b), ps = HDRW(h, pb) & SIZE_MASK;
        list_remove(h, L, pb, ps);
        b = pb;
        s += ps + HDR;
        h->blocks--;
    }
    uint32_t n = b + HDR + s, nh = HDRW(h, n);
    if (nh & F_FREE) {
        uint32_t ns = nh & SIZE_MASK;
        list_remove(h, L, n, ns);
        s += ns + HDR;
        n = b + HDR + s;
        nh = HDRW(h, n);
        h->blocks--;
    }
    /* b's predecessor is used: free neighbours are always merged */
    HDRW(h, b) = s | F_FREE;
    HDRW(h, n) = nh | F_PREV_FREE;
    TAG_BEFORE(h, n) = b;
    list_insert(h, L, b, s);
}

TLSF_INLINE tlsf_free_result_t free_body(tlsf_heap_t *heap, uint32_t L, void *ptr)
{
    uint32_t b, hv;
    tlsf_free_result_t r = classify(heap, ptr, &b, &hv);
    if (r != TLSF_FREE_OK) {
        return r;
    }
    uint32_t s = hv & USED_SIZE_MASK(heap);
    POISON(ptr, s + HDR);
    release(heap, L, b, s, hv);
    return TLSF_FREE_OK;
}

/* malloc and free compiled once per second-level count (8, 16, 32 lists), so that every shift in
 * the size-class mapping is by a constant; the heap picks its pair through a constant table. */
#define SPECIALISE(L)                                                                             \
    TLSF_NOASAN static void *malloc_##L(tlsf_heap_t *heap, size_t size)                           \
    {                                                                                             \
        return malloc_body(heap, L##u, true, size);                                               \
    }                                                                                             \
    TLSF_NOASAN static void *malloc_exact_##L(tlsf_heap_t *heap, size_t size)                     \
    {                                                                                             \
        return malloc_body(heap, L##u, false, size);                                              \
    }                                                                                             \
    TLSF_NOASAN static tlsf_free_result_t free_##L(tlsf_heap_t *heap, void *ptr)                  \
    {                                                                                             \
        return free_body(heap, L##u, ptr);                                                        \
    }
SPECIALISE(3)
SPECIALISE(4)
SPECIALISE(5)

/* variant: sl_log2 - 3, + NO_ROUNDING for the exact forms */
#define NO_ROUNDING 4u
static void *(*const malloc_by_variant[8])(tlsf_heap_t *, size_t) = {
    malloc_3,       malloc_4,       malloc_5,       malloc_5,
    malloc_exact_3, malloc_exact_4, malloc_exact_5, malloc_exact_5};
static tlsf_free_result_t (*const free_by_sl[4])(tlsf_heap_t *, void *) = {free_3, free_4, free_5,
                                                                          free_5};

TLSF_NOASAN void *tlsf_heap_malloc(tlsf_heap_t *heap, size_t size)
{
    return malloc_by_variant[heap->variant & 7u](heap, size);
}

TLSF_NOASAN void tlsf_heap_set_class_rounding(tlsf_heap_t *heap, bool on)
{
    heap->variant = (heap->variant & ~NO_ROUNDING) | (on ? 0u : NO_ROUNDING);
}

TLSF_NOASAN tlsf_free_result_t tlsf_heap_free(tlsf_heap_t *heap, void *ptr)
{
    return free_by_sl[heap->variant & 3u](heap, ptr);
}

TLSF_NOASAN void *tlsf_heap_memalign_offs(tlsf_heap_t *heap, size_t align, size_t size,
                                          size_t offset)
{
    if (align == 0 || (align & (align - 1u)) != 0 || offset % ALIGN != 0) {
        return NULL;
    }
    if (size - 1u >= heap->max_payload || align > heap->max_payload) {
        return NULL;
    }
    /* Up to the chip's 4 bytes, no gap: malloc without the size-class rounding. Above, the
     * search is the chip's even where the host's granularity makes the gap 0 (align 8 on a
     * 64-bit host): a request the chip refuses near exhaustion is refused here too. */
    if (align <= 4u) {
        return malloc_by_variant[(heap->variant & 3u) | NO_ROUNDING](heap, size);
    }
    uint32_t a = adjust(size); /* not rounded to a size class, as ESP-IDF's tlsf_memalign */
    /* room for the block, the worst alignment gap, and a leading free block to give back, rounded
     * up to the alignment as ESP-IDF's tlsf_memalign asks */
    size_t want = ((size_t)a + align + HDR + MIN_PAYLOAD + align - 1u) & ~(size_t)(align - 1u);
    if (want > heap->max_payload) {
        return NULL;
    }
    uint32_t s, unused;
    uint32_t L = heap->sl_log2;
    uint32_t b = locate(heap, L, (uint32_t)want, &s, &unused);
    if (!b) {
        return NULL;
    }
    /* ESP-IDF's placement: the payload's start aligned up, the result `offset` bytes before it.
     * A gap up to the aligned address that leaves no room for a free block before the result,
     * or none though an offset is asked for, moves it on by at least one alignment. */
    const uintptr_t p = (uintptr_t)payload(heap, b), gap_min = HDR + MIN_PAYLOAD + offset;
    uintptr_t aligned = (p + align - 1u) & ~(uintptr_t)(align - 1u);
    if ((aligned != p && aligned - p < gap_min) || (aligned == p && offset != 0)) {
        const uintptr_t step = gap_min - (aligned - p) > align ? gap_min - (aligned - p) : align;
        aligned = (aligned + step + align - 1u) & ~(uintptr_t)(align - 1u);
    }
    uint32_t gap = (uint32_t)(aligned - offset - p);
    if (gap) {
        /* give the leading gap back as a free block; b keeps its PREV_FREE flag (coalesced
         * neighbours are never free, so the flag is clear) */
        uint32_t lead = gap - HDR, nb = b + gap;
        HDRW(heap, b) = lead | F_FREE | (HDRW(heap, b) & F_PREV_FREE);
        TAG_BEFORE(heap, nb) = b;
        HDRW(heap, nb) = (s - gap) | F_FREE | F_PREV_FREE;
        list_insert(heap, L, b, lead);
        heap->blocks++; /* no change to the free bytes: ESP-IDF counts free headers */
        b = nb;
        s -= gap;
    }
    take(heap, L, b, s, a, gap ? F_PREV_FREE : 0);
    void *r = payload(heap, b);
    UNPOISON(r, size);
    return r;
}

TLSF_NOASAN void *tlsf_heap_memalign(tlsf_heap_t *heap, size_t align, size_t size)
{
    return tlsf_heap_memalign_offs(heap, align, size, 0);
}

TLSF_NOASAN void *tlsf_heap_realloc(tlsf_heap_t *heap, void *ptr, size_t size)
{
    if (ptr == NULL) {
        return tlsf_heap_malloc(heap, size);
    }
    uint32_t b, hv;
    if (classify(heap, ptr, &b, &hv) != TLSF_FREE_OK) {
        return NULL;
    }
    if (size == 0) {
        tlsf_heap_free(heap, ptr);
        return NULL;
    }
    if (size - 1u >= heap->max_payload) {
        return NULL;
    }
    uint32_t a = adjust(size), L = heap->sl_log2;
    uint32_t s = hv & USED_SIZE_MASK(heap), tag = hv & heap->tag_mask;
    uint32_t n = b + HDR + s, nh = HDRW(heap, n), ns = nh & SIZE_MASK;
    uint32_t old_span = s + HDR;
    if (a > s) {
        if (!(nh & F_FREE) || s + HDR + ns < a) {
            /* move: copy what the old block holds, as far as the new one wants it. The low-water
             * mark sees the result only, as ESP-IDF's multi_heap_realloc (not both blocks). */
            const size_t min_free = heap->min_free;
            void *np = tlsf_heap_malloc(heap, size);
            if (np == NULL) {
                return NULL;
            }
            size_t copy = s < size ? s : size;
            UNPOISON(ptr, copy);
            memcpy(np, ptr, copy);
            tlsf_heap_free(heap, ptr);
            heap->min_free = heap->free_bytes < min_free ? heap->free_bytes : min_free;
            return np;
        }
        /* grow into the free next block */
        list_remove(heap, L, n, ns);
        heap->blocks--;
        s += HDR + ns;
        n = b + HDR + s;
        nh = HDRW(heap, n) & ~F_PREV_FREE;
        HDRW(heap, n) = nh;
        HDRW(heap, b) = s | (hv & F_PREV_FREE) | tag;
    }
    if (s >= a + HDR + MIN_PAYLOAD) {
        /* shrink: the tail becomes free, merged with a free next block */
        uint32_t r = b + HDR + a, rs = s - a - HDR;
        HDRW(heap, b) = a | (hv & F_PREV_FREE) | tag;
        if (nh & F_FREE) {
            list_remove(heap, L, n, ns);
            rs += HDR + ns;
            n = r + HDR + rs;
        } else {
            heap->blocks++;
        }
        HDRW(heap, r) = rs | F_FREE;
        HDRW(heap, n) |= F_PREV_FREE;
        TAG_BEFORE(heap, n) = r;
        list_insert(heap, L, r, rs);
        s = a;
    }
    /* ESP-IDF's multi_heap_realloc: the old block's size back, the new one's taken */
    heap->free_bytes = heap->free_bytes + old_span - (s + HDR);
    if (heap->free_bytes < heap->min_free) {
        heap->min_free = heap->free_bytes;
    }
    uint32_t new_span = s + HDR;
    POISON((char *)ptr + size, (old_span > new_span ? old_span : new_span) - size);
    UNPOISON(ptr, size);
    return ptr;
}

/* ---- queries ---- */

TLSF_NOASAN bool tlsf_heap_contains(const tlsf_heap_t *heap, const void *ptr)
{
    uintptr_t base = (uintptr_t)heap, a = (uintptr_t)ptr;
    return a >= base + heap->first + HDR && a < base + END(heap);
}

TLSF_NOASAN size_t tlsf_heap_block_size(const tlsf_heap_t *heap, const void *ptr)
{
    uint32_t b, hv;
    if (classify(heap, ptr, &b, &hv) != TLSF_FREE_OK) {
        return 0;
    }
    return hv & USED_SIZE_MASK(heap);
}

TLSF_NOASAN size_t tlsf_heap_total_bytes(const tlsf_heap_t *heap) { return heap->max_payload; }
TLSF_NOASAN size_t tlsf_heap_free_bytes(const tlsf_heap_t *heap) { return heap->free_bytes; }
TLSF_NOASAN size_t tlsf_heap_min_free_bytes(const tlsf_heap_t *heap) { return heap->min_free; }
TLSF_NOASAN size_t tlsf_heap_allocated_bytes(const tlsf_heap_t *heap)
{
    /* as ESP-IDF's multi_heap_get_info(): what is not free, less the used blocks' headers */
    return initial_free(heap) - heap->free_bytes - HDR * heap->used_blocks;
}
TLSF_NOASAN size_t tlsf_heap_allocated_blocks(const tlsf_heap_t *heap) { return heap->used_blocks; }
TLSF_NOASAN size_t tlsf_heap_free_blocks(const tlsf_heap_t *heap)
{
    return heap->blocks - heap->used_blocks;
}
TLSF_NOASAN size_t tlsf_heap_region_bytes(const tlsf_heap_t *heap) { return region_bytes(heap); }

TLSF_NOASAN void tlsf_heap_reset_min_free(tlsf_heap_t *heap) { heap->min_free = heap->free_bytes; }

TLSF_NOASAN void tlsf_heap_restore_min_free(tlsf_heap_t *heap, size_t bytes)
{
    if (bytes < heap->min_free) {
        heap->min_free = bytes;
    }
}

TLSF_NOASAN size_t tlsf_heap_largest_free(const tlsf_heap_t *heap)
{
    if (!heap->fl_bitmap) {
        return 0;
    }
    uint32_t fl = fls32(heap->fl_bitmap), sl = fls32(SL_BITMAP(heap, heap->sl_log2, fl));
    uint32_t low; /* lower bound of the highest non-empty class */
    if (fl == 0) {
        low = sl << 2;
    } else {
        uint32_t f = fl + heap->sl_log2 + 1u;
        low = (1u << f) + (sl << (f - heap->sl_log2));
    }
    /* malloc(low) searches this class, whose blocks hold adjust(low) (see malloc_body); a larger
     * request is rounded past it */
    return low;
}

/* ---- walking and checking ---- */

TLSF_NOASAN void tlsf_heap_walk(const tlsf_heap_t *heap, tlsf_heap_walker_t fn, void *ctx)
{
    uint32_t b = heap->first;
    while (b < END(heap)) {
        uint32_t hv = HDRW(heap, b), s = hv & USED_SIZE_MASK(heap);
        if (!size_ok(s) || s > END(heap) - b - HDR) {
            return; /* corrupted: tlsf_heap_check reports it */
        }
        if (!fn(payload(heap, b), s, !(hv & F_FREE), ctx)) {
            return;
        }
        b += HDR + s;
    }
}

TLSF_NOASAN size_t tlsf_heap_containing_block_size(const tlsf_heap_t *heap, const void *ptr,
                                                   void **payload_out)
{
    const uintptr_t p = (uintptr_t)ptr;
    uint32_t b = heap->first;
    while (b < END(heap)) {
        uint32_t hv = HDRW(heap, b), s = hv & USED_SIZE_MASK(heap);
        if (!size_ok(s) || s > END(heap) - b - HDR) {
            return 0; /* corrupted: tlsf_heap_check reports it */
        }
        const uintptr_t start = (uintptr_t)payload(heap, b);
        if (p < start + s) {
            if (p < start || (hv & F_FREE)) {
                return 0;
            }
            *payload_out = (void *)start;
            return s;
        }
        b += HDR + s;
    }
    return 0;
}

TLSF_NOASAN bool tlsf_heap_check(const tlsf_heap_t *h)
{
    if (h == NULL || h->sl_log2 < 3u || h->sl_log2 > 5u ||
        (h->variant & ~4u) != h->sl_log2 - 3u || h->fl_count == 0 || h->fl_count > 32u ||
        h->first < ctrl_bytes(h->sl_log2, h->fl_count) || h->tail >= ALIGN) {
        return false;
    }
    const uint32_t end = END(h);
    /* physical chain */
    size_t nfree = 0, nused = 0, sfree = 0, sused = 0;
    bool prev_free = false;
    uint32_t prev = 0, b = h->first;
    while (b < end) {
        uint32_t hv = HDRW(h, b), s = hv & USED_SIZE_MASK(h);
        if (!size_ok(s) || s > end - b - HDR ||
            (hv & h->tag_mask) != ((hv & F_FREE) ? 0 : tag_of(h, b))) {
            return false;
        }
        if (((hv & F_PREV_FREE) != 0) != prev_free) {
            return false;
        }
        if (prev_free && TAG_BEFORE(h, b) != prev) {
            return false;
        }
        bool is_free = (hv & F_FREE) != 0;
        if (is_free && prev_free) {
            return false; /* missed coalescing */
        }
        if (is_free) {
            nfree++;
            sfree += s;
        } else {
            nused++;
            sused += s;
        }
        prev_free = is_free;
        prev = b;
        b += HDR + s;
    }
    if (b != end) {
        return false;
    }
    uint32_t sh = HDRW(h, end);
    if ((sh & ~F_PREV_FREE) != tag_of(h, end) || ((sh & F_PREV_FREE) != 0) != prev_free ||
        (prev_free && TAG_BEFORE(h, end) != prev)) {
        return false;
    }
    /* free lists against bitmaps */
    uint32_t slc = 1u << h->sl_log2;
    if (h->fl_count < 32u && (h->fl_bitmap >> h->fl_count) != 0) {
        return false;
    }
    size_t listed = 0;
    for (uint32_t fl = 0; fl < h->fl_count; fl++) {
        uint32_t slmap = SL_BITMAP(h, h->sl_log2, fl);
        if ((slmap != 0) != ((h->fl_bitmap >> fl) & 1u)) {
            return false;
        }
        if (slc < 32u && (slmap >> slc) != 0) {
            return false;
        }
        for (uint32_t sl = 0; sl < slc; sl++) {
            uint32_t cur = HEAD(h, h->sl_log2, fl, sl), back = 0;
            if ((cur != 0) != ((slmap >> sl) & 1u)) {
                return false;
            }
            while (cur) {
                if (cur < h->first || cur >= end || ((cur + HDR) & (ALIGN - 1u)) ||
                    ++listed > nfree) {
                    return false;
                }
                uint32_t hv = HDRW(h, cur), s = hv & SIZE_MASK, f, l;
                if (!(hv & F_FREE) || !size_ok(s) || s > end - cur - HDR ||
                    PREV(h, cur) != back) {
                    return false;
                }
                uint32_t nb = cur + HDR + s;
                if (!(HDRW(h, nb) & F_PREV_FREE) || TAG_BEFORE(h, nb) != cur) {
                    return false; /* not a block start */
                }
                map(h->sl_log2, s, &f, &l);
                if (f != fl || l != sl) {
                    return false;
                }
                back = cur;
                cur = NEXT(h, cur);
            }
        }
    }
    if (listed != nfree) {
        return false;
    }
    /* counters */
    return nfree + nused == h->blocks && nused == h->used_blocks &&
           h->free_bytes == initial_free(h) - sused - HDR * nused &&
           h->min_free <= h->free_bytes &&
           sfree + sused + HDR * (nfree + nused - 1u) == h->max_payload;
}
