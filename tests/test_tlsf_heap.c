/*
 * test_tlsf_heap.c - the TLSF heap that manages every simulated region (port/host/tlsf_heap.h):
 * random operation sequences against a shadow model with an integrity walk after every step, on
 * 4 KiB, 16 KiB, 320 KiB and 8 MiB regions; exhaustion; the largest-free rule; the low-water mark;
 * every misuse; a bound on the work of malloc/free whatever the heap's state; ASan poisoning.
 *
 * KRAKEN_TEST_ITERATIONS (env) sets the number of random operations per region (default 20000;
 * 4000 under ThreadSanitizer, which instruments every byte the model checks and adds nothing here:
 * the heap is single-threaded by contract).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sim_internal.h"
#include "test_sanitizers.h"
#include "tlsf_heap.h"

#if defined(TEST_ASAN)
#include <sanitizer/asan_interface.h>
#define TEST_NOASAN __attribute__((no_sanitize_address))
#else
#define TEST_NOASAN
#endif

#if defined(TEST_TSAN)
#define DEFAULT_ITERATIONS 4000
#else
#define DEFAULT_ITERATIONS 20000
#endif

#define HDR 4u
#define MIN_BLOCK 12u

static const size_t region_sizes[] = {4096, 16384, 320 * 1024, 8 * 1024 * 1024};
#define REGION_COUNT (sizeof(region_sizes) / sizeof(region_sizes[0]))

/* ---- helpers ---- */

static uint64_t rng_state;
static void rng_seed(uint64_t seed) { rng_state = seed * 0x9E3779B97F4A7C15ull + 1u; }
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static uint32_t rng_range(uint32_t lo, uint32_t hi) { return lo + rng() % (hi - lo + 1u); }

static long iterations(long dflt)
{
    const char *e = getenv("KRAKEN_TEST_ITERATIONS");
    long n = e ? strtol(e, NULL, 10) : 0;
    return n > 0 ? n : dflt;
}

typedef struct {
    void *mem;
    size_t bytes;
    tlsf_heap_t *heap;
} region_t;

/* Each region (a multiple of the page size) is followed by twice its size of inaccessible
 * addresses: a read past the heap's end, through a forged size say, faults instead of reading
 * whatever memory comes next. */
static region_t region_new(size_t bytes)
{
    void *base = mmap(NULL, 3 * bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(base != MAP_FAILED);
    assert_int_equal(mprotect(base, bytes, PROT_READ | PROT_WRITE), 0);
    region_t r = {base, bytes, NULL};
    r.heap = tlsf_heap_create(r.mem, bytes);
    assert_non_null(r.heap);
    assert_true(tlsf_heap_check(r.heap));
    return r;
}

static void region_free(region_t *r)
{
    tlsf_heap_destroy(r->heap);
    assert_int_equal(munmap(r->mem, 3 * r->bytes), 0);
}

/* Under ASan the heap keeps headers and free memory poisoned: raw bytes are read through these. */
TEST_NOASAN static void raw_copy(void *dst, const void *src, size_t n)
{
    volatile unsigned char *d = dst;
    const volatile unsigned char *s = src;
    for (size_t i = 0; i < n; i++) {
        d[i] = s[i];
    }
}
TEST_NOASAN static bool raw_equal(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i]) {
            return false;
        }
    }
    return true;
}
TEST_NOASAN static uint32_t peek32(const void *p) { return *(const volatile uint32_t *)p; }
TEST_NOASAN static void poke32(void *p, uint32_t v) { *(volatile uint32_t *)p = v; }

/* ESP-IDF's multi_heap_register(start, bytes) on the chip: its heap_t (20 bytes), then TLSF's
 * control structure for the n = bytes - 20 after it (control_construct): control_t (36 bytes) and
 * 4 bytes per first-level index (a bitmap word) and per size class (a list head). Second-level
 * count SL: 8 for n up to 16 KiB, 16 up to 256 KiB, 32 above; first-level indexes:
 * fl_index_max - fl_index_shift + 1, fl_index_max = 32 - clz(n), fl_index_shift = log2(SL) + 2. */
static size_t chip_control_bytes(size_t bytes)
{
    const unsigned n = (unsigned)(bytes - 20u);
    const unsigned sl_log2 = n <= 16384u ? 3u : n <= 262144u ? 4u : 5u;
    const unsigned fl_count = (32u - (unsigned)__builtin_clz(n)) - (sl_log2 + 2u) + 1u;
    return 20u + 36u + 4u * fl_count + 4u * (fl_count << sl_log2);
}

/* multi_heap_register()'s free size: the region less the control structure. */
static size_t chip_free_at_creation(size_t bytes)
{
    return bytes - chip_control_bytes(bytes);
}

/* Free bytes as multi_heap counts them: those at creation less each used block and its 4-byte
 * header (multi_heap_malloc: block size + tlsf_alloc_overhead()). */
static size_t implied_free(const tlsf_heap_t *h)
{
    return chip_free_at_creation(tlsf_heap_region_bytes(h)) - tlsf_heap_allocated_bytes(h) -
           HDR * tlsf_heap_allocated_blocks(h);
}

/* Bytes of an empty heap's free count that its block cannot use: the first header and the
 * sentinel's, plus on a 64-bit host 4 when the first payload had to move to an 8-byte boundary
 * (none on the chip and on 32-bit builds for a region of a multiple of 4 bytes). */
static size_t unusable_when_empty(const tlsf_heap_t *h)
{
    return chip_free_at_creation(tlsf_heap_region_bytes(h)) - tlsf_heap_total_bytes(h);
}

/* ---- shadow model ---- */

#define MAX_LIVE 512
typedef struct {
    unsigned char *p;
    size_t size;
    unsigned char fill;
} live_t;

typedef struct {
    region_t r;
    live_t live[MAX_LIVE];
    size_t n;
    size_t min_free; /* low-water mark the model expects */
} model_t;

static void fill(live_t *l)
{
    for (size_t i = 0; i < l->size; i++) {
        l->p[i] = (unsigned char)(l->fill + i * 7u);
    }
}

static void verify(const live_t *l)
{
    for (size_t i = 0; i < l->size; i++) {
        if (l->p[i] != (unsigned char)(l->fill + i * 7u)) {
            fail_msg("block %p (%zu bytes) corrupted at byte %zu", (void *)l->p, l->size, i);
        }
    }
}

static void verify_new_block(model_t *m, const unsigned char *p, size_t size, size_t align)
{
    tlsf_heap_t *h = m->r.heap;
    assert_true(tlsf_heap_contains(h, p));
    assert_int_equal((uintptr_t)p % align, 0);
    size_t bs = tlsf_heap_block_size(h, p);
    assert_true(bs >= size);
    assert_true(bs >= MIN_BLOCK);
    assert_true(p + bs <= (unsigned char *)m->r.mem + m->r.bytes);
    for (size_t i = 0; i < m->n; i++) {
        const unsigned char *q = m->live[i].p;
        if (q == p) {
            continue;
        }
        size_t qs = tlsf_heap_block_size(h, q);
        /* blocks (header included) must not overlap */
        assert_true(p + bs + HDR <= q || q + qs + HDR <= p);
    }
}

static void model_observe(model_t *m)
{
    tlsf_heap_t *h = m->r.heap;
    assert_true(tlsf_heap_check(h));
    assert_int_equal(tlsf_heap_allocated_blocks(h), m->n);
    size_t bytes = 0;
    for (size_t i = 0; i < m->n; i++) {
        bytes += tlsf_heap_block_size(h, m->live[i].p);
    }
    assert_int_equal(tlsf_heap_allocated_bytes(h), bytes);
    assert_int_equal(tlsf_heap_free_bytes(h), implied_free(h));
    size_t f = tlsf_heap_free_bytes(h);
    if (f < m->min_free) {
        m->min_free = f;
    }
    assert_int_equal(tlsf_heap_min_free_bytes(h), m->min_free);
    assert_true(tlsf_heap_largest_free(h) <= f);
    assert_int_equal(tlsf_heap_free_blocks(h) == 0, tlsf_heap_largest_free(h) == 0);
}

static size_t pick_size(size_t region)
{
    uint32_t r = rng() % 100u;
    size_t s = r < 50 ? rng_range(1, 64)
             : r < 80 ? rng_range(65, 256)
             : r < 95 ? rng_range(257, 1024)
             : r < 99 ? rng_range(1025, 4096)
                      : rng_range(4097, (uint32_t)(region / 8));
    return s > region / 4 ? rng_range(1, (uint32_t)(region / 4)) : s;
}

static void random_sequence(size_t bytes, uint64_t seed, long ops)
{
    static model_t m;
    memset(&m, 0, sizeof(m));
    m.r = region_new(bytes);
    tlsf_heap_t *h = m.r.heap;
    m.min_free = tlsf_heap_free_bytes(h);
    rng_seed(seed);
    /* live-count target moves between sparse and full so both regimes are exercised */
    size_t target = 128;
    for (long op = 0; op < ops; op++) {
        if (op % 2000 == 0) {
            target = rng_range(8, MAX_LIVE);
        }
        uint32_t r = rng() % 100u;
        if (m.n > 0 && (m.n >= target || r < 35)) {
            size_t i = rng() % m.n;
            live_t *l = &m.live[i];
            verify(l);
            if (r % 4 == 0) {
                /* realloc: grow or shrink, in place or moved */
                size_t ns = rng() % 3 ? pick_size(bytes) : l->size + rng_range(1, 64);
                size_t old_bs = tlsf_heap_block_size(h, l->p);
                size_t before_free = tlsf_heap_free_bytes(h);
                unsigned char *np = tlsf_heap_realloc(h, l->p, ns);
                if (np == NULL) {
                    verify(l); /* untouched */
                    assert_int_equal(tlsf_heap_free_bytes(h), before_free);
                } else {
                    live_t nl = {np, ns, l->fill};
                    nl.size = ns < l->size ? ns : l->size;
                    verify(&nl);
                    bool moved = np != l->p;
                    l->p = np;
                    l->size = ns;
                    fill(l);
                    verify_new_block(&m, np, ns, TLSF_HEAP_ALIGN);
                    if (moved) {
                        /* both blocks existed for a moment: the mark may sit below what we saw */
                        size_t lo = tlsf_heap_free_bytes(h) - old_bs - 2u * HDR;
                        size_t mark = tlsf_heap_min_free_bytes(h);
                        assert_true(mark <= m.min_free && mark >= (lo < m.min_free ? lo : 0));
                        m.min_free = mark;
                    }
                }
            } else {
                assert_int_equal(tlsf_heap_free(h, l->p), TLSF_FREE_OK);
                if (r % 8 == 1) {
                    assert_int_equal(tlsf_heap_free(h, l->p), TLSF_FREE_DOUBLE);
                }
                m.live[i] = m.live[--m.n];
            }
        } else if (m.n < MAX_LIVE) {
            size_t size = pick_size(bytes);
            size_t align = TLSF_HEAP_ALIGN;
            size_t largest = tlsf_heap_largest_free(h);
            unsigned char *p;
            if (r % 5 == 0) {
                align = (size_t)1 << rng_range(0, 10);
                p = tlsf_heap_memalign(h, align, size);
                if (align < TLSF_HEAP_ALIGN) {
                    align = TLSF_HEAP_ALIGN;
                }
            } else {
                p = tlsf_heap_malloc(h, size);
                /* the largest-free rule: malloc succeeds exactly up to that size */
                assert_int_equal(p != NULL, size <= largest);
            }
            if (p != NULL) {
                live_t *l = &m.live[m.n++];
                l->p = p;
                l->size = size;
                l->fill = (unsigned char)rng();
                verify_new_block(&m, p, size, align);
                fill(l);
            }
        }
        model_observe(&m);
        if (op % 128 == 0) {
            for (size_t i = 0; i < m.n; i++) {
                verify(&m.live[i]);
            }
        }
    }
    while (m.n > 0) {
        verify(&m.live[m.n - 1]);
        assert_int_equal(tlsf_heap_free(h, m.live[--m.n].p), TLSF_FREE_OK);
        model_observe(&m);
    }
    assert_int_equal(tlsf_heap_free_blocks(h), 1);
    assert_int_equal(tlsf_heap_free_bytes(h), chip_free_at_creation(m.r.bytes));
    region_free(&m.r);
}

/* ---- tests ---- */

static void test_random_operations_match_the_shadow_model_on_every_region_size(void **state)
{
    (void)state;
    long ops = iterations(DEFAULT_ITERATIONS);
    for (size_t i = 0; i < REGION_COUNT; i++) {
        random_sequence(region_sizes[i], 1000u + i, ops);
    }
}

static void test_create_rejects_null_misaligned_tiny_and_huge_regions(void **state)
{
    (void)state;
    static uint64_t buf[1024];
    assert_null(tlsf_heap_create(NULL, 4096));
    assert_null(tlsf_heap_create((char *)buf + 1, 4000));
    assert_null(tlsf_heap_create((char *)buf + 2, 4000));
    assert_null(tlsf_heap_create(buf, 16));
    assert_null(tlsf_heap_create(buf, 0));
    /* larger than 2^31 (never touched: creation refuses first) */
    assert_null(tlsf_heap_create(buf, (size_t)-1 / 2 + 2));
    /* the smallest accepted region holds exactly one minimal block */
    size_t lo = 0;
    for (size_t n = 64; n <= sizeof(buf); n += 4) {
        tlsf_heap_t *h = tlsf_heap_create(buf, n);
        if (h != NULL) {
            lo = n;
            assert_int_equal(tlsf_heap_total_bytes(h), MIN_BLOCK);
            assert_true(tlsf_heap_check(h));
            assert_non_null(tlsf_heap_malloc(h, MIN_BLOCK));
            assert_null(tlsf_heap_malloc(h, 1));
            tlsf_heap_destroy(h);
            break;
        }
    }
    assert_true(lo > 0);
}

static void test_an_empty_heap_is_one_free_block_with_consistent_figures(void **state)
{
    (void)state;
    for (size_t i = 0; i < REGION_COUNT; i++) {
        region_t r = region_new(region_sizes[i]);
        tlsf_heap_t *h = r.heap;
        size_t total = tlsf_heap_total_bytes(h);
        assert_true(total < r.bytes && total > r.bytes - 3000u);
        assert_int_equal(tlsf_heap_region_bytes(h), r.bytes);
        /* the chip's count: the two headers (the block's, the sentinel's) are free bytes too */
        const size_t free0 = chip_free_at_creation(r.bytes);
        assert_int_equal(tlsf_heap_free_bytes(h), free0);
        assert_int_equal(tlsf_heap_min_free_bytes(h), free0);
        /* a 64-bit host moves the first payload to an 8-byte boundary: 4 bytes when the
         * chip's (control + 4) is 4 mod 8 */
        const size_t moved = TLSF_HEAP_ALIGN == 4 ? 0 : (r.bytes - free0 + HDR) % 8;
        assert_int_equal(unusable_when_empty(h), 2 * HDR + moved);
        assert_int_equal(tlsf_heap_free_blocks(h), 1);
        assert_int_equal(tlsf_heap_allocated_blocks(h), 0);
        assert_int_equal(tlsf_heap_allocated_bytes(h), 0);
        size_t largest = tlsf_heap_largest_free(h);
        assert_true(largest <= total && largest > total / 2);
        void *p = tlsf_heap_malloc(h, largest);
        assert_non_null(p);
        assert_int_equal(tlsf_heap_free(h, p), TLSF_FREE_OK);
        assert_null(tlsf_heap_malloc(h, largest + 1));
        region_free(&r);
    }
}

/* Fill to 100 % (until not even 1 byte fits), free everything, and get the empty heap back. */
static void test_filling_to_exhaustion_and_freeing_everything_restores_the_empty_heap(void **state)
{
    (void)state;
    for (size_t i = 0; i < REGION_COUNT; i++) {
        region_t r = region_new(region_sizes[i]);
        tlsf_heap_t *h = r.heap;
        size_t total = tlsf_heap_total_bytes(h), largest0 = tlsf_heap_largest_free(h);
        size_t cap = r.bytes / 12u + 16u, n = 0;
        void **ptrs = __real_malloc(cap * sizeof(void *));
        assert_non_null(ptrs);
        rng_seed(77u + i);
        size_t limit = r.bytes > 65536u ? 16384u : 256u;
        for (;;) {
            void *p = tlsf_heap_malloc(h, rng_range(1, (uint32_t)limit));
            if (p == NULL) {
                if (limit == 1) {
                    break;
                }
                limit /= 2u;
                continue;
            }
            assert_true(n < cap);
            ptrs[n++] = p;
        }
        assert_true(tlsf_heap_check(h));
        assert_int_equal(tlsf_heap_free_blocks(h), 0);
        /* ESP-IDF still counts the sentinel's header (and a 64-bit host's alignment gap) */
        const size_t left = unusable_when_empty(h) - HDR;
        assert_int_equal(tlsf_heap_free_bytes(h), left);
        assert_int_equal(tlsf_heap_min_free_bytes(h), left);
        assert_int_equal(tlsf_heap_largest_free(h), 0);
        assert_null(tlsf_heap_memalign(h, 64, 1));
        assert_int_equal(tlsf_heap_allocated_blocks(h), n);
        /* free in a random order: every neighbour gets coalesced */
        for (size_t k = n; k > 1; k--) {
            size_t j = rng() % k;
            void *t = ptrs[j];
            ptrs[j] = ptrs[k - 1];
            ptrs[k - 1] = t;
        }
        for (size_t k = 0; k < n; k++) {
            assert_int_equal(tlsf_heap_free(h, ptrs[k]), TLSF_FREE_OK);
            if (k % 97 == 0) {
                assert_true(tlsf_heap_check(h));
            }
        }
        assert_true(tlsf_heap_check(h));
        assert_int_equal(tlsf_heap_free_bytes(h), total + unusable_when_empty(h));
        assert_int_equal(tlsf_heap_free_blocks(h), 1);
        assert_int_equal(tlsf_heap_allocated_blocks(h), 0);
        assert_int_equal(tlsf_heap_largest_free(h), largest0);
        __real_free(ptrs);
        region_free(&r);
    }
}

/* largest_free is the largest request malloc is guaranteed to serve, and one byte more fails. */
static void test_largest_free_is_the_largest_size_malloc_serves(void **state)
{
    (void)state;
    for (size_t i = 0; i < REGION_COUNT; i++) {
        region_t r = region_new(region_sizes[i]);
        tlsf_heap_t *h = r.heap;
        void *keep[64];
        size_t nkeep = 0;
        rng_seed(5u + i);
        for (int round = 0; round < 200; round++) {
            size_t largest = tlsf_heap_largest_free(h);
            if (largest == 0) {
                break;
            }
            size_t before = tlsf_heap_free_bytes(h);
            void *p = tlsf_heap_malloc(h, largest);
            assert_non_null(p);
            assert_int_equal(tlsf_heap_free(h, p), TLSF_FREE_OK);
            assert_int_equal(tlsf_heap_free_bytes(h), before);
            /* with p back, one byte more than largest must fail */
            void *q = tlsf_heap_malloc(h, largest + 1u);
            if (q != NULL) {
                fail_msg("malloc(%zu) succeeded with largest_free %zu", largest + 1u, largest);
            }
            /* memalign without a gap (align <= 4, the chip's granularity) serves exactly what
             * malloc serves */
            p = tlsf_heap_memalign(h, 4, largest);
            assert_non_null(p);
            assert_int_equal(tlsf_heap_free(h, p), TLSF_FREE_OK);
            assert_null(tlsf_heap_memalign(h, 4, largest + 1u));
            /* fragment: allocate something random, sometimes free an older block */
            void *x = tlsf_heap_malloc(h, pick_size(r.bytes));
            if (x != NULL && nkeep < 64) {
                keep[nkeep++] = x;
            } else if (x != NULL) {
                tlsf_heap_free(h, x);
            }
            if (nkeep > 0 && rng() % 3 == 0) {
                size_t j = rng() % nkeep;
                assert_int_equal(tlsf_heap_free(h, keep[j]), TLSF_FREE_OK);
                keep[j] = keep[--nkeep];
            }
            assert_true(tlsf_heap_check(h));
        }
        region_free(&r);
    }
}

static bool find_largest_block(void *payload, size_t size, bool used, void *ctx)
{
    (void)payload;
    size_t *best = ctx;
    if (!used && size > *best) {
        *best = size;
    }
    return true;
}

static void test_largest_free_is_the_lower_bound_of_the_largest_blocks_size_class(void **state)
{
    (void)state;
    /* 320 KiB: 32 second-level classes; above 128 bytes a class [2^f, 2^(f+1)) has width 2^f/32 */
    region_t r = region_new(320 * 1024);
    tlsf_heap_t *h = r.heap;
    size_t total = tlsf_heap_total_bytes(h);
    /* leave a free block of a known size: allocate [keep][hole][rest] and free the hole */
    void *a = tlsf_heap_malloc(h, 100);
    void *hole = tlsf_heap_malloc(h, 3000 - HDR);
    assert_non_null(a);
    assert_non_null(hole);
    for (int i = 0; i < 64 && tlsf_heap_largest_free(h) > 0; i++) {
        assert_non_null(tlsf_heap_malloc(h, tlsf_heap_largest_free(h))); /* fill the rest */
    }
    assert_int_equal(tlsf_heap_free_blocks(h), 0);
    size_t hs = tlsf_heap_block_size(h, hole);
    assert_int_equal(tlsf_heap_free(h, hole), TLSF_FREE_OK);
    size_t biggest = 0;
    tlsf_heap_walk(h, find_largest_block, &biggest);
    assert_int_equal(biggest, hs);
    /* class of hs: 2048 <= hs < 4096, width 64: lower bound 2048 + 64 * ((hs - 2048) / 64) */
    size_t low = 2048u + 64u * ((hs - 2048u) / 64u);
    assert_int_equal(tlsf_heap_largest_free(h), low); /* malloc(low) takes adjust(low) <= hs */
    assert_true(low <= hs && hs - low < 64u);
    (void)total;
    region_free(&r);
}

static void test_low_water_mark_follows_the_minimum_free_and_resets_to_current(void **state)
{
    (void)state;
    region_t r = region_new(16384);
    tlsf_heap_t *h = r.heap;
    size_t f0 = tlsf_heap_free_bytes(h);
    void *a = tlsf_heap_malloc(h, 1000);
    void *b = tlsf_heap_malloc(h, 2000);
    size_t f_low = tlsf_heap_free_bytes(h);
    assert_int_equal(tlsf_heap_min_free_bytes(h), f_low);
    assert_int_equal(tlsf_heap_free(h, b), TLSF_FREE_OK);
    assert_true(tlsf_heap_free_bytes(h) > f_low);
    assert_int_equal(tlsf_heap_min_free_bytes(h), f_low); /* never raised by a free */
    tlsf_heap_reset_min_free(h);
    assert_int_equal(tlsf_heap_min_free_bytes(h), tlsf_heap_free_bytes(h));
    void *c = tlsf_heap_realloc(h, a, 1500); /* grows in place into b's old space */
    assert_ptr_equal(c, a);
    assert_int_equal(tlsf_heap_min_free_bytes(h), tlsf_heap_free_bytes(h));
    assert_int_equal(tlsf_heap_free(h, c), TLSF_FREE_OK);
    assert_int_equal(tlsf_heap_free_bytes(h), f0);
    assert_true(tlsf_heap_min_free_bytes(h) < f0);
    tlsf_heap_reset_min_free(h);
    assert_int_equal(tlsf_heap_min_free_bytes(h), f0);
    region_free(&r);
}

static void test_malloc_and_memalign_reject_zero_huge_sizes_and_bad_alignments(void **state)
{
    (void)state;
    region_t r = region_new(16384);
    tlsf_heap_t *h = r.heap;
    size_t f0 = tlsf_heap_free_bytes(h);
    assert_null(tlsf_heap_malloc(h, 0));
    assert_null(tlsf_heap_malloc(h, SIZE_MAX));
    assert_null(tlsf_heap_malloc(h, SIZE_MAX - 3u));
    assert_null(tlsf_heap_malloc(h, (size_t)UINT32_MAX + 1u));
    assert_null(tlsf_heap_malloc(h, tlsf_heap_total_bytes(h) + 1u));
    assert_null(tlsf_heap_memalign(h, 16, 0));
    assert_null(tlsf_heap_memalign(h, 0, 16));
    assert_null(tlsf_heap_memalign(h, 3, 16));
    assert_null(tlsf_heap_memalign(h, 24, 16));
    assert_null(tlsf_heap_memalign(h, 64, SIZE_MAX));
    assert_null(tlsf_heap_memalign(h, (size_t)1 << 20, 16));
    assert_null(tlsf_heap_memalign(h, SIZE_MAX / 2u + 1u, 16));
    assert_null(tlsf_heap_realloc(h, NULL, 0));
    assert_int_equal(tlsf_heap_free_bytes(h), f0);
    assert_int_equal(tlsf_heap_allocated_blocks(h), 0);
    assert_true(tlsf_heap_check(h));
    region_free(&r);
}

static void test_memalign_returns_aligned_blocks_and_gives_the_gap_back(void **state)
{
    (void)state;
    region_t r = region_new(320 * 1024);
    tlsf_heap_t *h = r.heap;
    void *ptrs[64];
    size_t n = 0;
    for (size_t align = 1; align <= 8192; align *= 2) {
        for (size_t size = 1; size <= 300; size += 149) {
            unsigned char *p = tlsf_heap_memalign(h, align, size);
            assert_non_null(p);
            assert_int_equal((uintptr_t)p % (align < TLSF_HEAP_ALIGN ? TLSF_HEAP_ALIGN : align), 0);
            assert_true(tlsf_heap_block_size(h, p) >= size);
            memset(p, 0x5a, size);
            assert_true(tlsf_heap_check(h));
            ptrs[n++] = p;
        }
    }
    /* the gaps went back as free blocks: far less than the alignments' sum is in use */
    assert_true(tlsf_heap_allocated_bytes(h) < 20000u);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(tlsf_heap_free(h, ptrs[i]), TLSF_FREE_OK);
    }
    assert_int_equal(tlsf_heap_free_blocks(h), 1);
    assert_int_equal(tlsf_heap_free_bytes(h), chip_free_at_creation(r.bytes));
    region_free(&r);
}

/* Where ESP-IDF's tlsf_memalign_offs() puts a block found at payload p: p's start aligned up; a
 * gap up to it too small for a free block header (16 bytes) plus the offset, or none though an
 * offset is asked for, moved on by at least one alignment; the result `offset` bytes before. */
static uintptr_t chip_offs_placement(uintptr_t p, size_t align, size_t offset)
{
    const uintptr_t gap_min = 16 + offset;
    uintptr_t aligned = (p + align - 1) & ~(uintptr_t)(align - 1);
    const uintptr_t gap = aligned - p;
    if ((gap != 0 && gap < gap_min) || (gap == 0 && offset != 0)) {
        aligned = (aligned + (gap_min - gap > align ? gap_min - gap : align) + align - 1) &
                  ~(uintptr_t)(align - 1);
    }
    return aligned - offset;
}

static void test_memalign_offs_places_its_block_as_the_chips_tlsf(void **state)
{
    (void)state;
    region_t r = region_new(4096);
    tlsf_heap_t *h = r.heap;
    unsigned char *first = tlsf_heap_malloc(h, 40); /* the one free block's payload */
    assert_non_null(first);
    assert_int_equal(tlsf_heap_free(h, first), TLSF_FREE_OK);
    /* espressif/tlsf on the chip, 40 bytes from a fresh 4096-byte heap (a 32-bit build matches
     * to the byte): the result's distance from the heap's start, offsets 0, 4, 8, 12, 16 */
    static const struct {
        size_t align;
        uintptr_t at[5];
    } chip[] = {{8, {368, 364, 368, 364, 368}},
                {16, {368, 364, 376, 372, 368}},
                {32, {384, 380, 376, 372, 368}}};
    for (size_t i = 0; i < sizeof chip / sizeof chip[0]; i++) {
        for (size_t k = 0; k < 5; k++) {
            const size_t offset = 4 * k;
            if (offset % TLSF_HEAP_ALIGN != 0) {
                continue; /* refused on a 64-bit host: its granule is 8 */
            }
            unsigned char *q = tlsf_heap_memalign_offs(h, chip[i].align, 40, offset);
            assert_non_null(q);
            assert_int_equal((uintptr_t)(q + offset) % chip[i].align, 0);
            assert_int_equal((uintptr_t)q, chip_offs_placement((uintptr_t)first, chip[i].align, offset));
            if (sizeof(void *) == 4) {
                assert_int_equal((uintptr_t)q - (uintptr_t)r.mem, chip[i].at[k]);
            }
            assert_true(tlsf_heap_check(h));
            assert_int_equal(tlsf_heap_free(h, q), TLSF_FREE_OK);
            assert_int_equal(tlsf_heap_free_blocks(h), 1);
        }
    }
    region_free(&r);
}

/* The block the chip gives `chip` bytes of: 4 more on 64-bit hosts when it is a multiple of 8
 * (payloads there are 4 mod 8). */
static size_t on_this_host(size_t chip)
{
    return TLSF_HEAP_ALIGN == 8 && chip % 8 == 0 ? chip + 4 : chip;
}

static size_t malloc_block(tlsf_heap_t *h, size_t size)
{
    void *p = tlsf_heap_malloc(h, size);
    assert_non_null(p);
    return tlsf_heap_block_size(h, p);
}

/* As ESP-IDF's TLSF since v5.4 (mapping_search's align_up): from 4 * SL bytes up, malloc's block is
 * the request rounded up to its size class, 1/SL of its power of two; memalign keeps the request. */
static void test_malloc_rounds_the_block_up_to_its_size_class_memalign_does_not(void **state)
{
    (void)state;
    region_t big = region_new(320 * 1024); /* SL 32: classes from 128 bytes */
    assert_int_equal(malloc_block(big.heap, 100), on_this_host(100));   /* linear below 128 */
    assert_int_equal(malloc_block(big.heap, 130), on_this_host(132));   /* 128..255: steps of 4 */
    assert_int_equal(malloc_block(big.heap, 1000), on_this_host(1008)); /* 512..1023: of 16 */
    assert_int_equal(malloc_block(big.heap, 2996), on_this_host(3008)); /* 2048..4095: of 64 */
    assert_int_equal(malloc_block(big.heap, 4096), on_this_host(4096)); /* a class bound */
    assert_int_equal(malloc_block(big.heap, 4097), on_this_host(4224)); /* 4096..8191: of 128 */
    void *p = tlsf_heap_memalign(big.heap, 64, 1000);
    assert_non_null(p);
    assert_int_equal(tlsf_heap_block_size(big.heap, p), on_this_host(1000));
    p = tlsf_heap_memalign(big.heap, TLSF_HEAP_ALIGN, 1000);
    assert_non_null(p);
    assert_int_equal(tlsf_heap_block_size(big.heap, p), on_this_host(1000));
    /* an in-place shrink keeps the request (ESP-IDF trims to the adjusted size) */
    unsigned char *q = tlsf_heap_malloc(big.heap, 1000);
    assert_ptr_equal(tlsf_heap_realloc(big.heap, q, 900), q);
    assert_int_equal(tlsf_heap_block_size(big.heap, q), on_this_host(900));
    assert_true(tlsf_heap_check(big.heap));
    region_free(&big);

    region_t mid = region_new(64 * 1024); /* SL 16: classes from 64 bytes */
    assert_int_equal(malloc_block(mid.heap, 1000), on_this_host(1024)); /* 512..1023: of 32 */
    region_free(&mid);
    region_t small = region_new(16 * 1024); /* SL 8: classes from 32 bytes */
    assert_int_equal(malloc_block(small.heap, 100), on_this_host(104));   /* 64..127: of 8 */
    assert_int_equal(malloc_block(small.heap, 1000), on_this_host(1024)); /* 512..1023: of 64 */
    region_free(&small);

    /* ESP-IDF v5.1-v5.3: the request only; the largest request served is the same */
    region_t old = region_new(16 * 1024);
    tlsf_heap_set_class_rounding(old.heap, false);
    assert_int_equal(malloc_block(old.heap, 1000), on_this_host(1000));
    assert_int_equal(malloc_block(old.heap, 4097), on_this_host(4100));
    const size_t largest = tlsf_heap_largest_free(old.heap);
    assert_int_equal(malloc_block(old.heap, largest), on_this_host((largest + 3) & ~(size_t)3));
    assert_true(tlsf_heap_check(old.heap));
    region_free(&old);
}

/* tlsf_memalign asks for size + align + a header's worth rounded up to the alignment: with a
 * large alignment that can exceed the free block even where its size class would not. */
static void test_memalign_asks_for_its_gap_rounded_up_to_the_alignment(void **state)
{
    (void)state;
    region_t r = region_new(16 * 1024); /* SL 8: 2048..4095 in classes of 256 */
    tlsf_heap_t *h = r.heap;
    /* leave one free block of 2600-2800 bytes at the end */
    const size_t total = tlsf_heap_total_bytes(h);
    void *fill = tlsf_heap_memalign(h, TLSF_HEAP_ALIGN, total - 2800); /* not class-rounded */
    assert_non_null(fill);
    const size_t left = tlsf_heap_free_bytes(h);
    assert_true(left >= 2560 && left < 2816);
    /* 1100 + 1024 + 16 = 2140 (class 2304: that block is in it), rounded to 1024: 3072 */
    assert_null(tlsf_heap_memalign(h, 1024, 1100));
    assert_non_null(tlsf_heap_memalign(h, 256, 1100)); /* 2380 -> 2560: fits */
    assert_true(tlsf_heap_check(h));
    region_free(&r);
}

/* An 8-byte alignment needs the chip's room for a gap even where the host's granularity makes the
 * gap 0 (64-bit): the whole largest free block is refused, as the chip refuses it; 4-byte
 * alignment takes it. */
static void test_memalign_8_asks_for_the_chips_gap_room_on_every_host(void **state)
{
    (void)state;
    region_t r = region_new(8 * 1024);
    tlsf_heap_t *h = r.heap;
    const size_t largest = tlsf_heap_largest_free(h);
    assert_null(tlsf_heap_memalign(h, 8, largest));
    void *p = tlsf_heap_memalign(h, 8, largest - 64);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 8, 0);
    tlsf_heap_free(h, p);
    p = tlsf_heap_memalign(h, 4, largest);
    assert_non_null(p);
    tlsf_heap_free(h, p);
    assert_true(tlsf_heap_check(h));
    region_free(&r);
}

/* A realloc that moves records only its result in the low-water mark, as ESP-IDF's
 * multi_heap_realloc: the moment both blocks exist is not a minimum the chip reports. */
static void test_a_moving_realloc_lowers_the_low_water_mark_to_its_result_only(void **state)
{
    (void)state;
    region_t r = region_new(320 * 1024);
    tlsf_heap_t *h = r.heap;
    void *a = tlsf_heap_malloc(h, 50000);
    void *wall = tlsf_heap_malloc(h, 100); /* a cannot grow in place */
    assert_non_null(a);
    assert_non_null(wall);
    tlsf_heap_reset_min_free(h);
    void *b = tlsf_heap_realloc(h, a, 60000);
    assert_non_null(b);
    assert_ptr_not_equal(b, a);
    assert_int_equal(tlsf_heap_min_free_bytes(h), tlsf_heap_free_bytes(h));
    region_free(&r);
}

static void test_realloc_resizes_in_place_or_moves_with_contents(void **state)
{
    (void)state;
    region_t r = region_new(16384);
    tlsf_heap_t *h = r.heap;
    unsigned char *a = tlsf_heap_malloc(h, 100);
    unsigned char *b = tlsf_heap_malloc(h, 100);
    assert_non_null(a);
    assert_non_null(b);
    for (int i = 0; i < 100; i++) {
        a[i] = (unsigned char)i;
    }
    /* shrink in place: the tail becomes a free block */
    size_t blocks = tlsf_heap_free_blocks(h);
    assert_ptr_equal(tlsf_heap_realloc(h, a, 40), a);
    assert_int_equal(tlsf_heap_free_blocks(h), blocks + 1u);
    assert_true(tlsf_heap_block_size(h, a) < 60u);
    /* grow in place into that free tail */
    assert_ptr_equal(tlsf_heap_realloc(h, a, 96), a);
    assert_int_equal(tlsf_heap_free_blocks(h), blocks);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(a[i], i);
    }
    /* b follows a and is used: growing a moves it, with its contents */
    unsigned char *c = tlsf_heap_realloc(h, a, 500);
    assert_non_null(c);
    assert_ptr_not_equal(c, a);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(c[i], i);
    }
    assert_int_equal(tlsf_heap_free(h, a), TLSF_FREE_DOUBLE); /* the old block went back */
    /* free b: c grows in place into the free space after it if that is where it is */
    assert_int_equal(tlsf_heap_free(h, b), TLSF_FREE_OK);
    /* failure leaves the block untouched */
    size_t f = tlsf_heap_free_bytes(h);
    assert_null(tlsf_heap_realloc(h, c, tlsf_heap_total_bytes(h)));
    assert_null(tlsf_heap_realloc(h, c, SIZE_MAX));
    assert_int_equal(tlsf_heap_free_bytes(h), f);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(c[i], i);
    }
    /* NULL acts as malloc, size 0 frees */
    void *d = tlsf_heap_realloc(h, NULL, 10);
    assert_non_null(d);
    assert_null(tlsf_heap_realloc(h, d, 0));
    assert_int_equal(tlsf_heap_free(h, d), TLSF_FREE_DOUBLE);
    /* realloc of a pointer the heap does not own fails without touching anything */
    int local;
    assert_null(tlsf_heap_realloc(h, &local, 10));
    assert_null(tlsf_heap_realloc(h, c + 4, 10));
    assert_int_equal(tlsf_heap_free(h, c), TLSF_FREE_OK);
    assert_true(tlsf_heap_check(h));
    assert_int_equal(tlsf_heap_free_blocks(h), 1);
    region_free(&r);
}

/* Where the rest of a block can just hold a free block (header + 12 bytes of links), it is split
 * off: by malloc taking a larger free block, by realloc shrinking; and realloc grows in place when
 * the free next block, header included, holds exactly what is missing. */
static void test_a_remainder_that_just_holds_a_free_block_is_split_off(void **state)
{
    (void)state;
    region_t r = region_new(4096);
    tlsf_heap_t *h = r.heap;
    /* malloc: a 28-byte hole between used blocks serves 12 bytes and keeps a 12-byte free block */
    unsigned char *hole = tlsf_heap_malloc(h, 28), *guard = tlsf_heap_malloc(h, 12);
    assert_int_equal(tlsf_heap_block_size(h, hole), 28);
    assert_int_equal(tlsf_heap_free(h, hole), TLSF_FREE_OK);
    size_t blocks = tlsf_heap_free_blocks(h);
    unsigned char *p = tlsf_heap_malloc(h, 12);
    assert_ptr_equal(p, hole);
    assert_int_equal(tlsf_heap_block_size(h, p), MIN_BLOCK);
    assert_int_equal(tlsf_heap_free_blocks(h), blocks);
    /* realloc grows p into that free 12-byte block, header included: 12 + 4 + 12 */
    assert_ptr_equal(tlsf_heap_realloc(h, p, 28), p);
    assert_int_equal(tlsf_heap_block_size(h, p), 28);
    assert_int_equal(tlsf_heap_free_blocks(h), blocks - 1u);
    /* realloc shrinks it back: the 16-byte tail becomes a free block again */
    assert_ptr_equal(tlsf_heap_realloc(h, p, 12), p);
    assert_int_equal(tlsf_heap_block_size(h, p), MIN_BLOCK);
    assert_int_equal(tlsf_heap_free_blocks(h), blocks);
    assert_int_equal(tlsf_heap_free(h, p), TLSF_FREE_OK);
    assert_int_equal(tlsf_heap_free(h, guard), TLSF_FREE_OK);
    assert_true(tlsf_heap_check(h));
    assert_int_equal(tlsf_heap_free_blocks(h), 1);
    region_free(&r);
}

static bool find_end(void *payload, size_t size, bool used, void *ctx)
{
    (void)used;
    *(unsigned char **)ctx = (unsigned char *)payload + size;
    return true;
}

/* The heap ends where its last block's payload ends: that address is not the heap's. */
static void test_contains_stops_at_the_end_of_the_last_block(void **state)
{
    (void)state;
    region_t r = region_new(4096);
    unsigned char *end = NULL;
    tlsf_heap_walk(r.heap, find_end, &end);
    assert_non_null(end);
    assert_true(tlsf_heap_contains(r.heap, end - 1));
    assert_false(tlsf_heap_contains(r.heap, end));
    region_free(&r);
}

/* Every misuse gets its code and leaves every byte of the region as it was. */
static void expect_rejected(region_t *r, void *ptr, tlsf_free_result_t want, unsigned char *snap)
{
    raw_copy(snap, r->mem, r->bytes);
    assert_int_equal(tlsf_heap_free(r->heap, ptr), want);
    assert_true(raw_equal(snap, r->mem, r->bytes));
    assert_int_equal(tlsf_heap_block_size(r->heap, ptr), 0);
    assert_true(tlsf_heap_check(r->heap));
}

static void test_free_detects_every_misuse_and_leaves_the_heap_untouched(void **state)
{
    (void)state;
    for (size_t i = 0; i < 3; i++) {
        region_t r = region_new(region_sizes[i]);
        tlsf_heap_t *h = r.heap;
        unsigned char *snap = __real_malloc(r.bytes);
        assert_non_null(snap);
        unsigned char *p[6];
        for (int k = 0; k < 6; k++) {
            p[k] = tlsf_heap_malloc(h, 40u + 24u * (unsigned)k);
            assert_non_null(p[k]);
        }
        /* contents that could look like headers: zeros, small sizes, all-ones, a pattern */
        memset(p[0], 0, 40);
        for (int k = 0; k < 16; k++) {
            ((uint32_t *)(void *)p[1])[k] = 16u + 8u * (unsigned)k;
        }
        memset(p[2], 0xff, 88);
        memset(p[3], 0xa5, 112);
        for (int k = 0; k < 40; k++) { /* sizes far beyond the heap, the free flag clear */
            ((uint32_t *)(void *)p[5])[k] = 0x7ffffff0u;
        }
        assert_int_equal(tlsf_heap_free(h, p[4]), TLSF_FREE_OK); /* p[4] free, between used */
        int on_stack = 0;
        expect_rejected(&r, NULL, TLSF_FREE_NULL, snap);
        expect_rejected(&r, &on_stack, TLSF_FREE_NOT_OWNED, snap);
        expect_rejected(&r, r.mem, TLSF_FREE_NOT_OWNED, snap);            /* control area */
        expect_rejected(&r, (char *)r.mem + r.bytes, TLSF_FREE_NOT_OWNED, snap);
        expect_rejected(&r, (char *)r.mem + r.bytes - 4, TLSF_FREE_NOT_OWNED, snap);
        expect_rejected(&r, p[4], TLSF_FREE_DOUBLE, snap);
        for (int k = 0; k < 6; k++) {
            if (k == 4) {
                continue; /* the free one */
            }
            for (size_t off = 1; off < 40; off++) {
                expect_rejected(&r, p[k] + off, TLSF_FREE_INVALID, snap);
            }
            expect_rejected(&r, p[k] - TLSF_HEAP_ALIGN,
                            k == 0 ? TLSF_FREE_NOT_OWNED : TLSF_FREE_INVALID, snap);
        }
        /* random contents: every word must fail the header tag (2^-13 odds each on 320 KiB) */
        if (r.bytes >= 320u * 1024u) {
            unsigned char *big = tlsf_heap_malloc(h, 4000);
            assert_non_null(big);
            rng_seed(99);
            for (size_t k = 0; k < 4000; k++) {
                big[k] = (unsigned char)rng();
            }
            size_t f = tlsf_heap_free_bytes(h), nb = tlsf_heap_free_blocks(h);
            for (size_t off = TLSF_HEAP_ALIGN; off < 4000; off += TLSF_HEAP_ALIGN) {
                if (off % 256u == 0) {
                    expect_rejected(&r, big + off, TLSF_FREE_INVALID, snap);
                } else {
                    assert_int_equal(tlsf_heap_free(h, big + off), TLSF_FREE_INVALID);
                }
            }
            assert_int_equal(tlsf_heap_free_bytes(h), f);
            assert_int_equal(tlsf_heap_free_blocks(h), nb);
            assert_true(tlsf_heap_check(h));
            assert_int_equal(tlsf_heap_free(h, big), TLSF_FREE_OK);
        }
        /* a block freed and merged into its free predecessor is still reported as a double free */
        assert_int_equal(tlsf_heap_free(h, p[5]), TLSF_FREE_OK);
        expect_rejected(&r, p[5], TLSF_FREE_DOUBLE, snap);
        assert_int_equal(tlsf_heap_free(h, p[3]), TLSF_FREE_OK); /* merges with p[4]+p[5]+rest */
        expect_rejected(&r, p[3], TLSF_FREE_DOUBLE, snap);
        expect_rejected(&r, p[4], TLSF_FREE_DOUBLE, snap);
        /* the genuine frees still work */
        for (int k = 0; k < 3; k++) {
            assert_int_equal(tlsf_heap_free(h, p[k]), TLSF_FREE_OK);
        }
        assert_int_equal(tlsf_heap_free_blocks(h), 1);
        assert_int_equal(tlsf_heap_free_bytes(h), chip_free_at_creation(r.bytes));
        __real_free(snap);
        region_free(&r);
    }
}

static void test_contains_and_block_size_answer_for_live_blocks_only(void **state)
{
    (void)state;
    region_t r = region_new(4096);
    tlsf_heap_t *h = r.heap;
    unsigned char *p = tlsf_heap_malloc(h, 1);
    assert_true(tlsf_heap_contains(h, p));
    assert_false(tlsf_heap_contains(h, r.mem));
    assert_false(tlsf_heap_contains(h, (char *)r.mem + r.bytes));
    assert_int_equal(tlsf_heap_block_size(h, p), MIN_BLOCK);
    assert_int_equal(tlsf_heap_block_size(h, p + 4), 0);
    assert_int_equal(tlsf_heap_block_size(h, NULL), 0);
    assert_int_equal(tlsf_heap_free(h, p), TLSF_FREE_OK);
    assert_int_equal(tlsf_heap_block_size(h, p), 0);
    region_free(&r);
}

typedef struct {
    unsigned char *last;
    size_t used, free_n, bytes;
    bool ordered;
    int stop_after;
} walk_t;

static bool walker(void *payload, size_t size, bool used, void *ctx)
{
    walk_t *w = ctx;
    if (w->last != NULL && (unsigned char *)payload != w->last) {
        w->ordered = false;
    }
    w->last = (unsigned char *)payload + size + HDR;
    w->bytes += size;
    if (used) {
        w->used++;
    } else {
        w->free_n++;
    }
    return --w->stop_after != 0;
}

static void test_walk_visits_every_block_in_address_order_and_can_stop(void **state)
{
    (void)state;
    region_t r = region_new(16384);
    tlsf_heap_t *h = r.heap;
    void *p[10];
    for (int i = 0; i < 10; i++) {
        p[i] = tlsf_heap_malloc(h, 10u + 30u * (unsigned)i);
    }
    for (int i = 0; i < 10; i += 3) {
        tlsf_heap_free(h, p[i]);
    }
    walk_t w = {NULL, 0, 0, 0, true, -1};
    tlsf_heap_walk(h, walker, &w);
    assert_true(w.ordered);
    assert_int_equal(w.used, tlsf_heap_allocated_blocks(h));
    assert_int_equal(w.free_n, tlsf_heap_free_blocks(h));
    /* the payloads and the headers between them fill the empty heap's block */
    assert_int_equal(w.bytes + HDR * (w.used + w.free_n - 1u), tlsf_heap_total_bytes(h));
    walk_t w2 = {NULL, 0, 0, 0, true, 3};
    tlsf_heap_walk(h, walker, &w2);
    assert_int_equal(w2.used + w2.free_n, 3);
    region_free(&r);
}

static void test_check_reports_corrupted_headers_links_and_counters(void **state)
{
    (void)state;
    region_t r = region_new(16384);
    tlsf_heap_t *h = r.heap;
    unsigned char *p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = tlsf_heap_malloc(h, 64);
    }
    tlsf_heap_free(h, p[2]);
    tlsf_heap_free(h, p[5]);
    assert_true(tlsf_heap_check(h));
    /* a used block's size word (an overflow from the block before it) */
    uint32_t saved = peek32(p[4] - HDR);
    static const uint32_t bad[] = {0, 8, 68 + TLSF_HEAP_ALIGN, 1u << 30, 0xffffffffu};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        poke32(p[4] - HDR, bad[i]);
        assert_false(tlsf_heap_check(h));
    }
    poke32(p[4] - HDR, saved | 1u); /* flagged free while in use */
    assert_false(tlsf_heap_check(h));
    poke32(p[4] - HDR, saved);
    assert_true(tlsf_heap_check(h));
    /* a free block's list link (a use-after-free write) */
    uint32_t link = peek32(p[5]);
    poke32(p[5], link + 4u);
    assert_false(tlsf_heap_check(h));
    poke32(p[5], 0x7ffffff0u);
    assert_false(tlsf_heap_check(h));
    poke32(p[5], link);
    /* a free block's boundary tag (its last word) */
    uint32_t s5 = peek32(p[5] - HDR) & ~3u;
    uint32_t tag = peek32(p[5] + s5 - 4u);
    poke32(p[5] + s5 - 4u, tag + 8u);
    assert_false(tlsf_heap_check(h));
    poke32(p[5] + s5 - 4u, tag);
    assert_true(tlsf_heap_check(h));
    assert_false(tlsf_heap_check(NULL));
    region_free(&r);
}

#if defined(TEST_ASAN)
/* Run fn in a child process; true when it died with an AddressSanitizer report. */
static bool dies_with_asan_report(void (*fn)(unsigned char *), unsigned char *arg)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    char buf[8192];
    size_t got = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + got, sizeof(buf) - 1u - got)) > 0) {
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    bool died = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return died && strstr(buf, "AddressSanitizer") != NULL &&
           strstr(buf, "use-after-poison") != NULL;
}

static void write_one(unsigned char *p) { *(volatile unsigned char *)p = 1; }
static void read_one(unsigned char *p) { (void)*(volatile unsigned char *)p; }

static void test_asan_reports_overflow_past_the_request_and_use_after_free(void **state)
{
    (void)state;
    region_t r = region_new(16384);
    tlsf_heap_t *h = r.heap;
    for (size_t size = 1; size <= 40; size++) {
        unsigned char *p = tlsf_heap_malloc(h, size);
        assert_false(__asan_region_is_poisoned(p, size));
        assert_true(__asan_address_is_poisoned(p + size));
        assert_true(__asan_address_is_poisoned(p - 1)); /* its header */
        size_t bs = tlsf_heap_block_size(h, p);
        assert_true(__asan_address_is_poisoned(p + bs)); /* the next header */
        assert_int_equal(tlsf_heap_free(h, p), TLSF_FREE_OK);
        assert_true(__asan_address_is_poisoned(p));
    }
    unsigned char *p = tlsf_heap_malloc(h, 13);
    unsigned char *q = tlsf_heap_malloc(h, 100);
    memset(p, 1, 13);
    assert_true(dies_with_asan_report(write_one, p + 13));
    assert_true(dies_with_asan_report(read_one, p + 13));
    /* realloc moves the poison with the request */
    assert_ptr_equal(tlsf_heap_realloc(h, q, 50), q);
    assert_true(__asan_address_is_poisoned(q + 50));
    assert_false(__asan_region_is_poisoned(q, 50));
    assert_ptr_equal(tlsf_heap_realloc(h, q, 90), q);
    assert_false(__asan_region_is_poisoned(q, 90));
    assert_true(__asan_address_is_poisoned(q + 90));
    unsigned char *m = tlsf_heap_memalign(h, 256, 20);
    assert_false(__asan_region_is_poisoned(m, 20));
    assert_true(__asan_address_is_poisoned(m + 20));
    assert_int_equal(tlsf_heap_free(h, q), TLSF_FREE_OK);
    assert_true(dies_with_asan_report(read_one, q));
    assert_true(dies_with_asan_report(write_one, q + 40));
    /* the control structure is poisoned too */
    assert_true(__asan_address_is_poisoned(r.mem));
    tlsf_heap_destroy(h);
    assert_false(__asan_region_is_poisoned(r.mem, r.bytes));
    assert_int_equal(munmap(r.mem, 3 * r.bytes), 0);
}
#endif

/* ---- O(1): a private copy of the heap that counts every access to block memory ---- */

#define TLSF_HEAP_COUNT_STEPS 1
#define tlsf_heap_create counted_create
#define tlsf_heap_destroy counted_destroy
#define tlsf_heap_malloc counted_malloc
#define tlsf_heap_memalign counted_memalign
#define tlsf_heap_memalign_offs counted_memalign_offs
#define tlsf_heap_realloc counted_realloc
#define tlsf_heap_free counted_free
#define tlsf_heap_contains counted_contains
#define tlsf_heap_block_size counted_block_size
#define tlsf_heap_total_bytes counted_total_bytes
#define tlsf_heap_free_bytes counted_free_bytes
#define tlsf_heap_min_free_bytes counted_min_free_bytes
#define tlsf_heap_allocated_bytes counted_allocated_bytes
#define tlsf_heap_region_bytes counted_region_bytes
#define tlsf_heap_largest_free counted_largest_free
#define tlsf_heap_allocated_blocks counted_allocated_blocks
#define tlsf_heap_free_blocks counted_free_blocks
#define tlsf_heap_reset_min_free counted_reset_min_free
#define tlsf_heap_restore_min_free counted_restore_min_free
#define tlsf_heap_set_user counted_set_user
#define tlsf_heap_user counted_user
#define tlsf_heap_containing_block_size counted_containing_block_size
#define tlsf_heap_set_class_rounding counted_set_class_rounding
#define tlsf_heap_check counted_check
#define tlsf_heap_walk counted_walk
#include "tlsf_heap.c"

/* Worst case over a workload of the block words one malloc/free touches. */
static unsigned long max_steps_per_operation(size_t bytes, size_t fragments, size_t request)
{
    void *mem = __real_malloc(bytes);
    assert_non_null(mem);
    tlsf_heap_t *h = counted_create(mem, bytes);
    assert_non_null(h);
    /* `fragments` free blocks of the same size class, kept apart by used blocks */
    void **hold = __real_malloc(2u * fragments * sizeof(void *) + sizeof(void *));
    assert_non_null(hold);
    for (size_t i = 0; i < 2u * fragments; i++) {
        hold[i] = counted_malloc(h, request);
        assert_non_null(hold[i]);
    }
    for (size_t i = 0; i < 2u * fragments; i += 2) {
        assert_int_equal(counted_free(h, hold[i]), TLSF_FREE_OK);
    }
    assert_true(counted_free_blocks(h) >= fragments);
    unsigned long worst = 0;
    void *live[64] = {0};
    rng_seed(3);
    for (int op = 0; op < 4000; op++) {
        size_t k = rng() % 64u;
        tlsf_heap_steps = 0;
        if (live[k]) {
            assert_int_equal(counted_free(h, live[k]), TLSF_FREE_OK);
            live[k] = NULL;
        } else {
            live[k] = rng() % 2 ? counted_malloc(h, request) : counted_malloc(h, pick_size(4096));
        }
        if (tlsf_heap_steps > worst) {
            worst = tlsf_heap_steps;
        }
    }
    assert_true(counted_check(h));
    __real_free(hold);
    counted_destroy(h);
    __real_free(mem);
    return worst;
}

static void test_malloc_and_free_touch_a_bounded_number_of_words(
    void **state)
{
    (void)state;
    unsigned long few = max_steps_per_operation(8u * 1024u * 1024u, 1, 200);
    unsigned long many = max_steps_per_operation(8u * 1024u * 1024u, 10000, 200);
    unsigned long small = max_steps_per_operation(320u * 1024u, 500, 200);
    print_message("worst block-word accesses per malloc/free: %lu (1 free block), %lu (10000), "
                  "%lu (320 KiB, 500)\n", few, many, small);
    /* a list walk or a search would scale with the 10000 free blocks of the request's class */
    assert_true(few <= 32u);
    assert_true(many <= 32u);
    assert_true(small <= 32u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_rejects_null_misaligned_tiny_and_huge_regions),
        cmocka_unit_test(test_an_empty_heap_is_one_free_block_with_consistent_figures),
        cmocka_unit_test(test_random_operations_match_the_shadow_model_on_every_region_size),
        cmocka_unit_test(test_filling_to_exhaustion_and_freeing_everything_restores_the_empty_heap),
        cmocka_unit_test(test_largest_free_is_the_largest_size_malloc_serves),
        cmocka_unit_test(test_largest_free_is_the_lower_bound_of_the_largest_blocks_size_class),
        cmocka_unit_test(test_low_water_mark_follows_the_minimum_free_and_resets_to_current),
        cmocka_unit_test(test_malloc_and_memalign_reject_zero_huge_sizes_and_bad_alignments),
        cmocka_unit_test(test_memalign_returns_aligned_blocks_and_gives_the_gap_back),
        cmocka_unit_test(test_memalign_offs_places_its_block_as_the_chips_tlsf),
        cmocka_unit_test(test_malloc_rounds_the_block_up_to_its_size_class_memalign_does_not),
        cmocka_unit_test(test_a_moving_realloc_lowers_the_low_water_mark_to_its_result_only),
        cmocka_unit_test(test_memalign_asks_for_its_gap_rounded_up_to_the_alignment),
        cmocka_unit_test(test_memalign_8_asks_for_the_chips_gap_room_on_every_host),
        cmocka_unit_test(test_realloc_resizes_in_place_or_moves_with_contents),
        cmocka_unit_test(test_a_remainder_that_just_holds_a_free_block_is_split_off),
        cmocka_unit_test(test_free_detects_every_misuse_and_leaves_the_heap_untouched),
        cmocka_unit_test(test_contains_and_block_size_answer_for_live_blocks_only),
        cmocka_unit_test(test_contains_stops_at_the_end_of_the_last_block),
        cmocka_unit_test(test_walk_visits_every_block_in_address_order_and_can_stop),
        cmocka_unit_test(test_check_reports_corrupted_headers_links_and_counters),
#if defined(TEST_ASAN)
        cmocka_unit_test(test_asan_reports_overflow_past_the_request_and_use_after_free),
#endif
        cmocka_unit_test(test_malloc_and_free_touch_a_bounded_number_of_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
