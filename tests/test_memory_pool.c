/*
 * test_memory_pool.c - the size-class pools (memory_pool.h) on the simulated ESP32-S3: class
 * choice, exhaustion and the counted heap fallback, oversize, the ISR variants, margins, every kind
 * of misuse, exact statistics, the log format, set-up and tear-down. Every test starts from a
 * fresh chip with the pools torn down, and ends with nothing allocated and an intact structure.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_support.h"

#include "esp_heap_caps.h"
#include "kraken_port.h"
#include "kraken_sim.h"
#include "memory_pool_tally.h"
#include "memory_pool.h"
#include "sdkconfig.h"

#include "esp_log.h"
#include "capture_output.h" /* after esp_log.h: its log capture */

#if defined(CONFIG_SYSTEM_SERVICE_MEMORY_POOL_CHECK_FULL)
#define CHECK_LEVEL 2
#elif defined(CONFIG_SYSTEM_SERVICE_MEMORY_POOL_CHECK_BASIC)
#define CHECK_LEVEL 1
#else
#define CHECK_LEVEL 0
#endif

#define SRAM (MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)

/* Called through pointers: the misuse the tests make on purpose must reach the wrappers. */
static void (*volatile free_fn)(void *) = free;
static void *(*volatile realloc_fn)(void *, size_t) = realloc;
static const size_t SIZES[MEMORY_POOL_CLASS_COUNT] = {
    CONFIG_SYSTEM_SERVICE_MEMORY_POOL_SMALL_SIZE, CONFIG_SYSTEM_SERVICE_MEMORY_POOL_MEDIUM_SIZE,
    CONFIG_SYSTEM_SERVICE_MEMORY_POOL_LARGE_SIZE, CONFIG_SYSTEM_SERVICE_MEMORY_POOL_XLARGE_SIZE};
static const uint32_t COUNTS[MEMORY_POOL_CLASS_COUNT] = {
    CONFIG_SYSTEM_SERVICE_MEMORY_POOL_SMALL_COUNT, CONFIG_SYSTEM_SERVICE_MEMORY_POOL_MEDIUM_COUNT,
    CONFIG_SYSTEM_SERVICE_MEMORY_POOL_LARGE_COUNT, CONFIG_SYSTEM_SERVICE_MEMORY_POOL_XLARGE_COUNT};

/* ---- misuse hook recorder ---------------------------------------------------------------------- */

#define MAX_RECORDS 16
static memory_pool_misuse_info_t g_misuse[MAX_RECORDS];
static int g_misuse_count;

static void record_misuse(const memory_pool_misuse_info_t *info)
{
    if (g_misuse_count < MAX_RECORDS) {
        g_misuse[g_misuse_count] = *info;
    }
    g_misuse_count++;
}

static void expect_one_misuse(memory_pool_misuse_t kind, const void *ptr, int class_index)
{
    assert_int_equal(g_misuse_count, 1);
    assert_int_equal(g_misuse[0].kind, kind);
    assert_ptr_equal(g_misuse[0].ptr, ptr);
    assert_int_equal(g_misuse[0].class_index, class_index);
    assert_non_null(g_misuse[0].caller);
    g_misuse_count = 0;
}

/* Heap calls a test makes from a simulated ISR on purpose; the pools themselves make none. */
static uint64_t g_isr_heap_calls;

static int setup(void **state)
{
    (void)state;
    if (memory_pool_deinit() != ESP_OK || kraken_sim_reset() != ESP_OK) {
        return -1;
    }
    memory_pool_set_misuse_hook(record_misuse);
    g_misuse_count = 0;
    g_isr_heap_calls = 0;
    return 0;
}

/* Every test frees what it took: the pools must be intact and empty, and no misuse unexpected. */
static int teardown(void **state)
{
    (void)state;
    int rc = 0;
    if (memory_pool_check_integrity() != ESP_OK || g_misuse_count != 0) {
        rc = -1;
    }
    while (kraken_port_in_isr()) { /* a test that failed inside its simulated ISR */
        kraken_sim_isr_exit();
        rc = -1;
    }
    if (free_every_live_block() != 0 || memory_pool_deinit() != ESP_OK ||
        isr_heap_calls() != g_isr_heap_calls) {
        rc = -1;
    }
    if (critical_misuses() != 0) {
        rc = -1;
    }
    memory_pool_set_misuse_hook(NULL);
    return rc;
}

static memory_pool_stats_t stats(void)
{
    memory_pool_stats_t st;
    assert_int_equal(memory_pool_get_stats(&st), ESP_OK);
    return st;
}

/* Set up with every class holding `count` blocks; the heap cap is at most the Kconfig one (init
 * refuses more). */
static void init_with(uint32_t count, uint32_t heap_blocks_max, bool try_larger)
{
    if (heap_blocks_max > CONFIG_SYSTEM_SERVICE_MEMORY_POOL_HEAP_BLOCKS_MAX) {
        heap_blocks_max = CONFIG_SYSTEM_SERVICE_MEMORY_POOL_HEAP_BLOCKS_MAX;
    }
    memory_pool_config_t cfg;
    assert_int_equal(memory_pool_get_default_config(&cfg), ESP_OK);
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        cfg.classes[c].count = count;
    }
    cfg.heap_blocks_max = heap_blocks_max;
    cfg.try_larger_class = try_larger;
    assert_int_equal(memory_pool_init(&cfg), ESP_OK);
}

/* Where a live block came from, as the walk reports it: class 0..3, -1 heap, -2 not live. */
typedef struct {
    const void *ptr;
    int where;
    memory_pool_block_info_t info;
} find_t;

static bool find_cb(const memory_pool_block_info_t *info, void *arg)
{
    find_t *f = arg;
    if (info->ptr == f->ptr) {
        f->where = info->heap ? -1 : info->class_index;
        f->info = *info;
        return false;
    }
    return true;
}

static int where(const void *ptr)
{
    find_t f = {ptr, -2, {0}};
    memory_pool_walk_live(find_cb, &f);
    return f.where;
}

/* ---- basics ------------------------------------------------------------------------------------ */

static void pools_work_without_any_set_up_call(void **state)
{
    (void)state;
    assert_false(stats().initialized);
    void *p = memory_pool_alloc(1);
    assert_non_null(p);
    memory_pool_stats_t st = stats();
    assert_true(st.initialized);
    assert_int_equal(st.classes[0].in_use, 1);
    assert_int_equal(st.classes[0].heap_fallbacks, 0);
    assert_int_equal(where(p), 0);
    memory_pool_free(p);
    assert_int_equal(stats().classes[0].in_use, 0);
}

static void each_request_takes_the_smallest_class_that_fits(void **state)
{
    (void)state;
    init_with(2, CONFIG_SYSTEM_SERVICE_MEMORY_POOL_HEAP_BLOCKS_MAX, false); /* 2 per class */
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        size_t low = c == 0 ? 1 : SIZES[c - 1] + 1;
        void *a = memory_pool_alloc(low);
        void *b = memory_pool_alloc(SIZES[c]);
        assert_int_equal(where(a), c);
        assert_int_equal(where(b), c);
        assert_int_equal(stats().classes[c].in_use, 2);
        memory_pool_free(a);
        memory_pool_free(b);
    }
    memory_pool_stats_t st = stats();
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        assert_int_equal(st.classes[c].allocations, 2);
        assert_int_equal(st.classes[c].frees, 2);
        assert_int_equal(st.classes[c].in_use, 0);
    }
}

static void size_zero_returns_null_and_counts_nothing(void **state)
{
    (void)state;
    assert_null(memory_pool_alloc(0));
    assert_null(memory_pool_alloc_isr(0));
    assert_null(memory_pool_alloc_margin(0, 1));
    void *p = memory_pool_alloc(1); /* set up, then size 0 again */
    assert_null(memory_pool_alloc(0));
    memory_pool_free(p);
    memory_pool_stats_t st = stats();
    uint32_t total = st.oversize + st.oversize_failures;
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        total += st.classes[c].failures + st.classes[c].heap_fallbacks;
    }
    assert_int_equal(total, 0);
    assert_int_equal(st.classes[0].allocations, 1);
}

static void pool_storage_is_one_allocation_of_internal_sram(void **state)
{
    (void)state;
    kraken_port_heap_figures_t before, after;
    kraken_port_heap_figures(SRAM, &before);
    void *p = memory_pool_alloc(1);
    kraken_port_heap_figures(SRAM, &after);
    size_t blocks = 0, states = 0;
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        blocks += SIZES[c] * COUNTS[c];
        states += 2 * COUNTS[c];
        if (CHECK_LEVEL > 0) { /* owner, size and time of each block */
            states += (sizeof(void *) + 2 * sizeof(uint32_t)) * COUNTS[c];
        }
    }
    size_t taken = before.free_bytes - after.free_bytes;
    assert_true(taken >= blocks + states);
    assert_true(taken <= blocks + states + 64); /* alignment and the heap's block header */
    assert_true(kraken_port_ptr_internal(p));
    memory_pool_free(p);
    assert_int_equal(memory_pool_deinit(), ESP_OK);
    kraken_port_heap_figures(SRAM, &after);
    assert_int_equal(after.free_bytes, before.free_bytes);
}

static void blocks_are_distinct_aligned_and_hold_their_data(void **state)
{
    (void)state;
    size_t total = 0;
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        total += COUNTS[c];
    }
    uint8_t **all = calloc(total, sizeof *all);
    assert_non_null(all);
    size_t n = 0;
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        for (uint32_t i = 0; i < COUNTS[c]; i++, n++) {
            all[n] = memory_pool_alloc(SIZES[c]);
            assert_non_null(all[n]);
            assert_int_equal((uintptr_t)all[n] % 8, 0);
            assert_int_equal(where(all[n]), c);
            memset(all[n], (int)(n & 0xFF), SIZES[c]);
        }
    }
    assert_int_equal(stats().heap_blocks_live, 0);
    n = 0;
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        for (uint32_t i = 0; i < COUNTS[c]; i++, n++) {
            for (size_t b = 0; b < SIZES[c]; b++) {
                assert_int_equal(all[n][b], n & 0xFF); /* no block overlaps another */
            }
        }
    }
    for (size_t i = 0; i < total; i++) {
        memory_pool_free(all[i]);
    }
    free(all);
}

/* ---- exhaustion, fallback, oversize ------------------------------------------------------------ */

static void an_empty_class_falls_back_to_the_heap_counted_and_freeable(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    init_with(2, 8, false);
    void *a = memory_pool_alloc(SIZES[0]), *b = memory_pool_alloc(SIZES[0]);
    void *c = memory_pool_alloc(SIZES[0]);
    assert_non_null(c);
    assert_int_equal(where(a), 0);
    assert_int_equal(where(b), 0);
    assert_int_equal(where(c), -1);
    memset(c, 0x5A, SIZES[0]);
    memory_pool_stats_t st = stats();
    assert_int_equal(st.classes[0].in_use, 2);
    assert_int_equal(st.classes[0].heap_fallbacks, 1);
    assert_int_equal(st.classes[0].fallback_live, 1);
    assert_int_equal(st.classes[0].allocations, 2);
    assert_int_equal(st.heap_blocks_live, 1);
    memory_pool_free(c);
    st = stats();
    assert_int_equal(st.classes[0].fallback_live, 0);
    assert_int_equal(st.classes[0].heap_fallbacks, 1); /* monotonic */
    assert_int_equal(st.heap_blocks_live, 0);
    assert_int_equal(st.classes[0].frees, 0);          /* heap frees are not pool frees */
    /* the class is still full: the next request falls back again */
    c = memory_pool_alloc(SIZES[0]);
    assert_int_equal(where(c), -1);
    memory_pool_free(a);
    void *d = memory_pool_alloc(SIZES[0]); /* a pool block again */
    assert_int_equal(where(d), 0);
    memory_pool_free(b);
    memory_pool_free(c);
    memory_pool_free(d);
    assert_int_equal(stats().classes[0].heap_fallbacks, 2);
}

static void live_heap_blocks_are_capped_and_each_refusal_counted(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(2);
    init_with(1, 2, false);
    void *pool = memory_pool_alloc(8);
    const size_t oversize = SIZES[MEMORY_POOL_CLASS_COUNT - 1] + 1;
    void *h1 = memory_pool_alloc(8), *h2 = memory_pool_alloc(oversize);
    assert_non_null(h1);
    assert_non_null(h2);
    assert_null(memory_pool_alloc(8));    /* fallback refused: cap */
    assert_null(memory_pool_alloc(oversize)); /* oversize refused: cap */
    memory_pool_stats_t st = stats();
    assert_int_equal(st.classes[0].failures, 1);
    assert_int_equal(st.oversize_failures, 1);
    assert_int_equal(st.heap_blocks_live, 2);
    assert_int_equal(st.heap_blocks_max, 2);
    memory_pool_free(h1);
    void *h3 = memory_pool_alloc(8); /* room again */
    assert_int_equal(where(h3), -1);
    memory_pool_free(h2);
    memory_pool_free(h3);
    memory_pool_free(pool);
    assert_int_equal(stats().heap_blocks_peak, 2);
}

static void heap_blocks_max_zero_keeps_the_pools_off_the_heap(void **state)
{
    (void)state;
    init_with(1, 0, false);
    void *p = memory_pool_alloc(8);
    assert_non_null(p);
    assert_null(memory_pool_alloc(8));
    assert_null(memory_pool_alloc(100000));
    memory_pool_stats_t st = stats();
    assert_int_equal(st.classes[0].failures, 1);
    assert_int_equal(st.oversize_failures, 1);
    assert_int_equal(st.oversize, 0);
    memory_pool_free(p);
}

static void oversize_requests_go_to_the_heap_counted(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(8);
    size_t big = SIZES[3] + 1;
    uint8_t *p = memory_pool_alloc(big);
    assert_non_null(p);
    memset(p, 0xA5, big);
    assert_int_equal(where(p), -1);
    memory_pool_stats_t st = stats();
    assert_int_equal(st.oversize, 1);
    assert_int_equal(st.oversize_live, 1);
    assert_int_equal(st.classes[3].heap_fallbacks, 0);
    memory_pool_free(p);
    st = stats();
    assert_int_equal(st.oversize_live, 0);
    assert_int_equal(st.oversize, 1);
    /* heap blocks are 8-byte aligned like pool blocks, also where the heap gives 4 (32-bit) */
    void *held[8];
    for (size_t i = 0; i < 8; i++) {
        held[i] = memory_pool_alloc(big + i);
        assert_non_null(held[i]);
        assert_int_equal((uintptr_t)held[i] % 8, 0);
    }
    for (size_t i = 0; i < 8; i++) {
        memory_pool_free(held[i]);
    }
    /* more than the heap has: NULL, counted */
    assert_null(memory_pool_alloc((size_t)64 << 20));
    assert_int_equal(stats().oversize_failures, 1);
}

/* Sizes near SIZE_MAX (a caller's n * size that wrapped, a negative length cast): NULL from every
 * allocation function, counted as oversize failures, nothing taken from the pools or the heap. */
static void a_huge_request_returns_null_counted_and_takes_nothing(void **state)
{
    (void)state;
    assert_int_equal(memory_pool_ensure_init(), ESP_OK);
    kraken_port_heap_figures_t before, after;
    kraken_port_heap_figures(SRAM, &before);
    const size_t huge[] = {SIZE_MAX, SIZE_MAX - 7, SIZE_MAX / 2 + 1};
    uint32_t expected = 0;
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        assert_null(memory_pool_alloc(huge[i]));
        assert_null(memory_pool_alloc_margin(huge[i], 1));
        assert_null(memory_pool_alloc_isr(huge[i]));
        assert_null(memory_pool_alloc_isr_margin(huge[i], 0));
        expected += 4;
    }
    kraken_port_heap_figures(SRAM, &after);
    assert_int_equal(after.free_bytes, before.free_bytes);
    memory_pool_stats_t st = stats();
    assert_int_equal(st.oversize_failures, expected);
    assert_int_equal(st.oversize, 0);
    assert_int_equal(st.heap_blocks_live, 0);
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        assert_int_equal(st.classes[c].in_use, 0);
        assert_int_equal(st.classes[c].failures, 0);
    }
}

static void an_exhausted_heap_makes_a_fallback_fail_cleanly(void **state)
{
    (void)state;
    init_with(1, 8, false);
    void *p = memory_pool_alloc(8);
    kraken_sim_fail_next(0, 1);
    assert_null(memory_pool_alloc(8));
    memory_pool_stats_t st = stats();
    assert_int_equal(st.classes[0].failures, 1);
    assert_int_equal(st.classes[0].heap_fallbacks, 0);
    assert_int_equal(st.heap_blocks_live, 0);
    memory_pool_free(p);
}

static void the_next_larger_class_serves_an_empty_class_when_configured(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    init_with(1, 8, true);
    void *s = memory_pool_alloc(SIZES[0]);
    void *spilled = memory_pool_alloc(SIZES[0]);
    assert_int_equal(where(s), 0);
    assert_int_equal(where(spilled), 1);
    void *heap = memory_pool_alloc(SIZES[0]); /* Small and Medium empty: the heap */
    assert_int_equal(where(heap), -1);
    memory_pool_stats_t st = stats();
    assert_int_equal(st.classes[0].larger_class_spills, 1);
    assert_int_equal(st.classes[0].heap_fallbacks, 1);
    assert_int_equal(st.classes[1].in_use, 1);
    assert_int_equal(st.classes[1].allocations, 1);
    memory_pool_free(spilled);
    memory_pool_free(heap);
    memory_pool_free(s);
    assert_int_equal(stats().classes[1].frees, 1);
}

/* ---- ISR variants and margins -------------------------------------------------------------------- */

static void isr_allocation_never_uses_the_heap(void **state)
{
    (void)state;
    assert_null(memory_pool_alloc_isr(8)); /* not set up yet: fails fast */
    assert_int_equal(stats().classes[0].failures, 1);
    assert_false(stats().initialized);
    assert_int_equal(memory_pool_deinit(), ESP_OK);
    init_with(1, 8, false);
    kraken_port_heap_figures_t before, after;
    kraken_port_heap_figures(SRAM, &before);
    kraken_sim_isr_enter();
    void *p = memory_pool_alloc_isr(8);
    void *q = memory_pool_alloc_isr(8);
    void *big = memory_pool_alloc_isr(SIZES[3] + 1);
    void *task_api = memory_pool_alloc(8); /* the task API from an ISR behaves the same */
    kraken_sim_isr_exit();
    kraken_port_heap_figures(SRAM, &after);
    assert_non_null(p);
    assert_null(q);
    assert_null(big);
    assert_null(task_api);
    assert_int_equal(after.free_bytes, before.free_bytes);
    memory_pool_stats_t st = stats();
    assert_int_equal(st.classes[0].failures, 2);
    assert_int_equal(st.oversize_failures, 1);
    assert_int_equal(st.heap_blocks_live, 0);
    kraken_sim_isr_enter();
    assert_int_equal(memory_pool_free_isr(p), ESP_OK);
    kraken_sim_isr_exit();
}

static void isr_free_reports_each_outcome(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    init_with(1, 8, false);
    /* Medium: its blocks (16 bytes or more) have an 8-aligned interior pointer */
    uint8_t *p = memory_pool_alloc(SIZES[1]);
    void *heap = memory_pool_alloc(SIZES[1]);
    assert_int_equal(where(heap), -1);
    kraken_sim_isr_enter();
    assert_int_equal(memory_pool_free_isr(NULL), ESP_ERR_INVALID_ARG);
    assert_int_equal(memory_pool_free_isr(p + 8), ESP_ERR_INVALID_ARG);
    assert_int_equal(memory_pool_free_isr(heap), ESP_ERR_INVALID_ARG); /* stays allocated */
    assert_int_equal(memory_pool_free_isr(p), ESP_OK);
    assert_int_equal(memory_pool_free_isr(p), ESP_ERR_INVALID_STATE);
    memory_pool_free(heap); /* memory_pool_free in an ISR refuses heap blocks too */
    kraken_sim_isr_exit();
    assert_int_equal(g_misuse_count, 4);
    assert_int_equal(g_misuse[0].kind, MEMORY_POOL_MISUSE_INTERIOR_POINTER);
    assert_int_equal(g_misuse[1].kind, MEMORY_POOL_MISUSE_HEAP_FREE_IN_ISR);
    assert_int_equal(g_misuse[2].kind, MEMORY_POOL_MISUSE_DOUBLE_FREE);
    assert_int_equal(g_misuse[3].kind, MEMORY_POOL_MISUSE_HEAP_FREE_IN_ISR);
    g_misuse_count = 0;
    memory_pool_stats_t st = stats();
    assert_int_equal(st.heap_frees_in_isr, 2);
    assert_int_equal(st.heap_blocks_live, 1);
    assert_int_equal(st.double_frees, 1);
    assert_int_equal(st.invalid_frees, 3); /* interior + two heap blocks from an ISR */
    memory_pool_free(heap);                /* from a task: fine */
    assert_int_equal(stats().heap_blocks_live, 0);
}

static void a_margin_keeps_the_last_blocks_for_callers_without_one(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    init_with(4, 8, false);
    void *m1 = memory_pool_alloc_isr_margin(8, 2);
    void *m2 = memory_pool_alloc_isr_margin(8, 2);
    assert_non_null(m1);
    assert_non_null(m2);
    assert_null(memory_pool_alloc_isr_margin(8, 2)); /* only 2 left: kept */
    void *task_margin = memory_pool_alloc_margin(8, 2); /* a task goes to the heap instead */
    assert_int_equal(where(task_margin), -1);
    void *c1 = memory_pool_alloc_isr(8), *c2 = memory_pool_alloc_isr(8); /* critical: no margin */
    assert_int_equal(where(c1), 0);
    assert_int_equal(where(c2), 0);
    assert_null(memory_pool_alloc_isr(8));
    memory_pool_stats_t st = stats();
    assert_int_equal(st.classes[0].in_use, 4);
    assert_int_equal(st.classes[0].failures, 2);
    assert_int_equal(st.classes[0].heap_fallbacks, 1);
    assert_int_equal(st.classes[0].min_free, 0);
    void *all[] = {m1, m2, task_margin, c1, c2};
    for (size_t i = 0; i < 5; i++) {
        memory_pool_free(all[i]);
    }
}

/* The event bus's allocation (memory_pool_tally.h): the smallest fitting class or NULL, never a
 * spill, the heap or a failure count; each block it hands out counted in the tally, none while
 * the tally is closed. */
static void a_tallied_take_counts_its_blocks_and_has_no_fallback(void **state)
{
    (void)state;
    memory_pool_tally_t tally = {.open = true};
    assert_null(memory_pool_take_tallied(SIZES[0], 0, &tally)); /* not set up: no set-up here */
    NEED_HEAP_BLOCKS(1);
    init_with(3, 8, true); /* spills allowed: the take still keeps to its class */
    void *a = memory_pool_take_tallied(SIZES[0], 1, &tally);
    void *b = memory_pool_take_tallied(SIZES[0], 1, &tally);
    assert_int_equal(where(a), 0);
    assert_int_equal(where(b), 0);
    assert_null(memory_pool_take_tallied(SIZES[0], 1, &tally)); /* the last one kept by the margin */
    atomic_store(&tally.open, false);
    assert_null(memory_pool_take_tallied(SIZES[0], 0, &tally)); /* closed */
    atomic_store(&tally.open, true);
    void *c = memory_pool_take_tallied(SIZES[0], 0, &tally);
    assert_int_equal(where(c), 0);
    assert_null(memory_pool_take_tallied(SIZES[0], 0, &tally)); /* empty: no spill into Medium */
    void *m = memory_pool_take_tallied(SIZES[0] + 1, 0, &tally);
    assert_int_equal(where(m), 1);
    assert_null(memory_pool_take_tallied(0, 0, &tally));
    assert_null(memory_pool_take_tallied(SIZES[MEMORY_POOL_CLASS_COUNT - 1] + 1, 0, &tally));
    assert_int_equal(tally.taken[0], 3);
    assert_int_equal(tally.taken[1], 1);
    assert_int_equal(memory_pool_tally_total(&tally), 4);
    memory_pool_stats_t st = stats();
    assert_int_equal(st.classes[0].allocations, 3);
    assert_int_equal(st.classes[0].failures, 0);
    assert_int_equal(st.classes[0].larger_class_spills, 0);
    assert_int_equal(st.classes[1].in_use, 1);
    assert_int_equal(st.heap_blocks_live, 0);
    assert_int_equal(st.oversize, 0);
    assert_int_equal(st.oversize_failures, 0);
    memory_pool_free(a);
    memory_pool_free(b);
    memory_pool_free(c);
    assert_int_equal(memory_pool_free_isr(m), ESP_OK);
    assert_int_equal(memory_pool_tally_total(&tally), 4); /* frees leave the tally alone */
    assert_int_equal(stats().classes[0].in_use, 0);
}

/* The user's call sites, called through pointers (not inlined, not cloned): a misuse report's
 * caller is a return address inside them. */
static void free_at_site(void *p)
{
    memory_pool_free(p);
    __asm__ volatile(""); /* no tail call: the return address stays here */
}

static size_t free_batch_at_site(void *const blocks[], size_t n)
{
    const size_t freed = memory_pool_free_batch_isr(blocks, n);
    __asm__ volatile("");
    return freed;
}

static void (*volatile free_site)(void *) = free_at_site;
static size_t (*volatile free_batch_site)(void *const[], size_t) = free_batch_at_site;

static bool caller_in(const void *caller, uintptr_t start)
{
    const uintptr_t at = (uintptr_t)caller;
    return at > start && at - start < 512; /* the call site's function, not the pool's */
}

/* memory_pool.h: `caller` is the return address of the call that found the misuse, whatever
 * the optimisation and the check level. */
static void a_misuse_report_names_the_users_call_site(void **state)
{
    (void)state;
    uint8_t *a = memory_pool_alloc(8);
    uint8_t *b = memory_pool_alloc(SIZES[MEMORY_POOL_CLASS_COUNT - 1]); /* 16 bytes at least */
    assert_int_equal(where(b), MEMORY_POOL_CLASS_COUNT - 1);
    memory_pool_free(a);
    free_site(a);     /* double free */
    free_site(b + 8); /* interior pointer */
    void *batch[] = {a};
    assert_int_equal(free_batch_site(batch, 1), 0);
    assert_int_equal(g_misuse_count, 3);
    assert_int_equal(g_misuse[0].kind, MEMORY_POOL_MISUSE_DOUBLE_FREE);
    assert_true(caller_in(g_misuse[0].caller, (uintptr_t)free_site));
    assert_int_equal(g_misuse[1].kind, MEMORY_POOL_MISUSE_INTERIOR_POINTER);
    assert_true(caller_in(g_misuse[1].caller, (uintptr_t)free_site));
    assert_int_equal(g_misuse[2].kind, MEMORY_POOL_MISUSE_DOUBLE_FREE);
    assert_true(caller_in(g_misuse[2].caller, (uintptr_t)free_batch_site));
    g_misuse_count = 0;
    memory_pool_free(b);
}

static void a_batch_free_returns_blocks_of_every_class_and_reports_each_misuse(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    init_with(4, 8, false);
    uint8_t *a = memory_pool_alloc(8), *b = memory_pool_alloc(8);
    void *big = memory_pool_alloc(SIZES[MEMORY_POOL_CLASS_COUNT - 1]);
    uint8_t *c = memory_pool_alloc(SIZES[1]);
    memory_pool_free(b); /* freed twice below */
    void *heap = memory_pool_alloc(SIZES[MEMORY_POOL_CLASS_COUNT - 1] + 1);
    assert_int_equal(where(heap), -1);
    void *batch[] = {a, NULL, b, big, c + 8, c, heap};
    assert_int_equal(memory_pool_free_batch_isr(batch, 7), 3); /* a, big, c */
    assert_int_equal(g_misuse_count, 3);
    assert_int_equal(g_misuse[0].kind, MEMORY_POOL_MISUSE_DOUBLE_FREE);
    assert_ptr_equal(g_misuse[0].ptr, b);
    assert_int_equal(g_misuse[1].kind, MEMORY_POOL_MISUSE_INTERIOR_POINTER);
    assert_int_equal(g_misuse[2].kind, MEMORY_POOL_MISUSE_HEAP_FREE_IN_ISR);
    g_misuse_count = 0;
    memory_pool_stats_t st = stats();
    for (int k = 0; k < MEMORY_POOL_CLASS_COUNT; k++) {
        assert_int_equal(st.classes[k].in_use, 0);
    }
    assert_int_equal(st.double_frees, 1);
    assert_int_equal(st.heap_blocks_live, 1); /* refused as memory_pool_free_isr refuses it */
    memory_pool_free(heap);
    /* Every block is handed out again exactly once. */
    void *again[4];
    for (int k = 0; k < 4; k++) {
        again[k] = memory_pool_alloc_isr(8);
        assert_int_equal(where(again[k]), 0);
    }
    assert_null(memory_pool_alloc_isr(8));
    assert_int_equal(memory_pool_free_batch_isr(again, 4), 4);
    assert_int_equal(memory_pool_free_batch_isr(NULL, 0), 0);
    assert_int_equal(memory_pool_free_batch_isr(NULL, 3), 0); /* no array: nothing read */
}

static void class_free_counts_the_free_blocks_of_a_class(void **state)
{
    (void)state;
    assert_int_equal(memory_pool_class_free(0), 0); /* not set up */
    init_with(4, 8, false);
    assert_int_equal(memory_pool_class_free(0), 4);
    void *p = memory_pool_alloc(8);
    assert_int_equal(memory_pool_class_free(0), 3);
    assert_int_equal(memory_pool_class_free(1), 4);
    assert_int_equal(memory_pool_class_free(MEMORY_POOL_CLASS_COUNT), 0);
    memory_pool_free(p);
    assert_int_equal(memory_pool_class_free(0), 4);
}

static void class_of_names_the_class_a_block_came_from_even_after_a_spill(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    const unsigned none = MEMORY_POOL_CLASS_COUNT;
    static uint8_t outside[64];
    init_with(1, 8, true);
    void *blocks[MEMORY_POOL_CLASS_COUNT];
    for (unsigned c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        blocks[c] = memory_pool_alloc(SIZES[c]);
        assert_int_equal(memory_pool_class_of(blocks[c]), c);
    }
    memory_pool_free(blocks[1]);
    void *small = memory_pool_alloc(SIZES[0]); /* Small is empty: spills into Medium */
    assert_int_equal(where(small), 1);
    assert_int_equal(memory_pool_class_of(small), 1);
    void *heap = memory_pool_alloc(SIZES[MEMORY_POOL_CLASS_COUNT - 1]); /* every class empty */
    assert_int_equal(where(heap), -1);
    assert_int_equal(memory_pool_class_of(heap), none);
    assert_int_equal(memory_pool_class_of(NULL), none);
    assert_int_equal(memory_pool_class_of(outside), none);
    memory_pool_free(heap);
    memory_pool_free(small);
    for (unsigned c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        if (c != 1) {
            memory_pool_free(blocks[c]);
        }
    }
}

/* Every byte of every block maps to its class, also with sizes that are not powers of two; the
 * bytes just outside the storage map to none. */
static void class_of_covers_every_byte_of_every_block(void **state)
{
    (void)state;
    memory_pool_config_t cfg;
    assert_int_equal(memory_pool_get_default_config(&cfg), ESP_OK);
    const size_t sizes[MEMORY_POOL_CLASS_COUNT] = {24, 40, 72, 136};
    enum { COUNT = 3 };
    for (unsigned c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        cfg.classes[c].block_size = sizes[c];
        cfg.classes[c].count = COUNT;
    }
    assert_int_equal(memory_pool_init(&cfg), ESP_OK);
    const uint8_t *first = NULL, *end = NULL;
    void *blocks[MEMORY_POOL_CLASS_COUNT][COUNT];
    for (unsigned c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        for (unsigned k = 0; k < COUNT; k++) {
            uint8_t *b = memory_pool_alloc(sizes[c]);
            assert_int_equal(where(b), (int)c);
            for (size_t i = 0; i < sizes[c]; i++) {
                assert_int_equal(memory_pool_class_of(b + i), c);
            }
            first = first == NULL || b < first ? b : first;
            end = end == NULL || b + sizes[c] > end ? b + sizes[c] : end;
            blocks[c][k] = b;
        }
    }
    assert_int_equal(memory_pool_class_of(first - 1), MEMORY_POOL_CLASS_COUNT);
    assert_int_equal(memory_pool_class_of(end), MEMORY_POOL_CLASS_COUNT);
    for (unsigned c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        for (unsigned k = 0; k < COUNT; k++) {
            memory_pool_free(blocks[c][k]);
        }
    }
}

static void a_long_batch_with_a_misuse_last_frees_the_rest_in_lock_bounded_runs(void **state)
{
    (void)state;
    enum { N = 40 }; /* more than one lock acquisition's worth */
    memory_pool_config_t cfg; /* N Small blocks, whatever Kconfig says */
    assert_int_equal(memory_pool_get_default_config(&cfg), ESP_OK);
    cfg.classes[0].count = N;
    assert_int_equal(memory_pool_init(&cfg), ESP_OK);
    void *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = memory_pool_alloc(SIZES[0]);
        assert_int_equal(where(blocks[i]), 0);
    }
    memory_pool_free(blocks[N - 1]); /* the last entry becomes a double free */
    assert_int_equal(memory_pool_free_batch_isr(blocks, N), N - 1);
    expect_one_misuse(MEMORY_POOL_MISUSE_DOUBLE_FREE, blocks[N - 1], 0);
    memory_pool_stats_t st = stats();
    assert_int_equal(st.classes[0].in_use, 0);
    assert_int_equal(st.classes[0].frees, N);
    assert_int_equal(st.double_frees, 1);
}

/* ---- misuse ------------------------------------------------------------------------------------ */

static void a_double_free_is_rejected_and_the_block_is_never_handed_out_twice(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    init_with(2, 8, false);
    void *a = memory_pool_alloc(8);
    memory_pool_free(a);
    memory_pool_free(a);
    expect_one_misuse(MEMORY_POOL_MISUSE_DOUBLE_FREE, a, 0);
    memory_pool_stats_t st = stats();
    assert_int_equal(st.double_frees, 1);
    assert_int_equal(st.classes[0].double_frees, 1);
    assert_int_equal(st.classes[0].frees, 1);
    assert_int_equal(st.classes[0].in_use, 0);
    void *x = memory_pool_alloc(8), *y = memory_pool_alloc(8), *z = memory_pool_alloc(8);
    assert_ptr_not_equal(x, y);
    assert_int_equal(where(x), 0);
    assert_int_equal(where(y), 0);
    assert_int_equal(where(z), -1); /* both pool blocks are out: the third is a heap block */
    memory_pool_free(x);
    memory_pool_free(y);
    memory_pool_free(z);
}

/* The start of a pool block that was never handed out: as memory_pool_free_isr's header says, it
 * looks like (and is counted as) a double free, and changes nothing: every block is still handed
 * out exactly once. */
static void a_free_of_a_block_never_handed_out_counts_as_a_double_free(void **state)
{
    (void)state;
    init_with(4, 0, false);
    uint8_t *first = memory_pool_alloc(8);
    assert_int_equal(where(first), 0);
    uint8_t *never[2] = {NULL, NULL}; /* two of its neighbours, still on the free list */
    size_t found = 0;
    for (long k = -3; k <= 3 && found < 2; k++) {
        uint8_t *candidate = first + k * (long)SIZES[0];
        if (k != 0 && memory_pool_class_of(candidate) == 0 && !memory_pool_owns(candidate)) {
            never[found++] = candidate;
        }
    }
    assert_int_equal(found, 2);
    assert_int_equal(memory_pool_free_isr(never[0]), ESP_ERR_INVALID_STATE);
    expect_one_misuse(MEMORY_POOL_MISUSE_DOUBLE_FREE, never[0], 0);
    memory_pool_free(never[1]);
    expect_one_misuse(MEMORY_POOL_MISUSE_DOUBLE_FREE, never[1], 0);
    memory_pool_stats_t st = stats();
    assert_int_equal(st.classes[0].double_frees, 2);
    assert_int_equal(st.classes[0].in_use, 1);
    assert_int_equal(st.classes[0].frees, 0);
    void *rest[3];
    for (int k = 0; k < 3; k++) {
        rest[k] = memory_pool_alloc(8);
        assert_int_equal(where(rest[k]), 0);
        assert_ptr_not_equal(rest[k], first);
    }
    assert_ptr_not_equal(rest[0], rest[1]);
    assert_ptr_not_equal(rest[1], rest[2]);
    assert_ptr_not_equal(rest[0], rest[2]);
    assert_null(memory_pool_alloc(8)); /* 4 blocks, no heap: never a fifth */
    memory_pool_free(first);
    for (int k = 0; k < 3; k++) {
        memory_pool_free(rest[k]);
    }
    assert_int_equal(stats().classes[0].failures, 1);
}

static void a_pointer_into_a_block_is_rejected_and_changes_nothing(void **state)
{
    (void)state;
    uint8_t *p = memory_pool_alloc(SIZES[0] + 4); /* Medium */
    memory_pool_free(p + 8);
    expect_one_misuse(MEMORY_POOL_MISUSE_INTERIOR_POINTER, p + 8, 1);
    memory_pool_free(p + SIZES[1] - 8);
    expect_one_misuse(MEMORY_POOL_MISUSE_INTERIOR_POINTER, p + SIZES[1] - 8, 1);
    memory_pool_stats_t st = stats();
    assert_int_equal(st.classes[1].invalid_frees, 2);
    assert_int_equal(st.invalid_frees, 2);
    assert_int_equal(st.classes[1].in_use, 1);
    assert_int_equal(where(p), 1);
    memory_pool_free(p);
    assert_int_equal(stats().classes[1].in_use, 0);
}

static void a_misaligned_pointer_is_rejected(void **state)
{
    (void)state;
    uint8_t *p = memory_pool_alloc(8);
    memory_pool_free(p + 1);
    expect_one_misuse(MEMORY_POOL_MISUSE_MISALIGNED, p + 1, 0);
    memory_pool_free(p);
    assert_int_equal(stats().invalid_frees, 1);
    if (CONFIG_SYSTEM_SERVICE_MEMORY_POOL_HEAP_BLOCKS_MAX == 0) {
        return; /* no heap block to misalign (HEAP_BLOCKS_MAX=0) */
    }
    uint8_t *h = memory_pool_alloc(SIZES[3] + 1);
    assert_non_null(h);
    memory_pool_free(h + 2);
    expect_one_misuse(MEMORY_POOL_MISUSE_MISALIGNED, h + 2, -1);
    assert_int_equal(stats().invalid_frees, 2);
    memory_pool_free(h);
}

static void a_pointer_nothing_here_handed_out_is_rejected(void **state)
{
    (void)state;
    void *p = memory_pool_alloc(8);
    int local;
    memory_pool_free(&local);
    expect_one_misuse(MEMORY_POOL_MISUSE_UNKNOWN_POINTER, &local, -1);
    void *other = heap_caps_malloc(64, SRAM); /* a heap block the pools did not hand out */
    memory_pool_free(other);
    expect_one_misuse(MEMORY_POOL_MISUSE_UNKNOWN_POINTER, other, -1);
    heap_caps_free(other);
    memory_pool_stats_t st = stats();
    assert_int_equal(st.unknown_frees, 2);
    assert_int_equal(st.invalid_frees, 2);
    memory_pool_free(p);
}

static void a_second_free_of_a_heap_block_is_rejected(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    void *h = memory_pool_alloc(SIZES[3] * 2);
    memory_pool_free(h);
    memory_pool_free(h);
    expect_one_misuse(MEMORY_POOL_MISUSE_UNKNOWN_POINTER, h, -1);
    assert_int_equal(stats().unknown_frees, 1);
}

static void misuse_before_any_allocation_is_rejected_too(void **state)
{
    (void)state;
    int local;
    memory_pool_free(&local);
    expect_one_misuse(MEMORY_POOL_MISUSE_UNKNOWN_POINTER, &local, -1);
    assert_int_equal(memory_pool_free_isr(&local), ESP_ERR_INVALID_ARG);
    g_misuse_count = 0;
    memory_pool_free(NULL);
    assert_int_equal(g_misuse_count, 0);
    assert_int_equal(stats().unknown_frees, 2);
}

/* The hook runs outside every lock (it may read the statistics: under a class or heap lock this
 * would spin for ever) and after the misuse is counted: what it reads already includes it. */
static uint32_t g_hook_saw_misuse[MAX_RECORDS];
static int g_hook_calls;

static void hook_reading_stats(const memory_pool_misuse_info_t *info)
{
    (void)info;
    memory_pool_stats_t st;
    assert_int_equal(memory_pool_get_stats(&st), ESP_OK);
    if (g_hook_calls < MAX_RECORDS) {
        g_hook_saw_misuse[g_hook_calls] = st.double_frees + st.invalid_frees;
    }
    g_hook_calls++;
}

static void the_misuse_hook_may_read_the_statistics_and_sees_its_misuse_counted(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    init_with(2, 8, false);
    uint8_t *p = memory_pool_alloc(SIZES[1]);
    void *heap = memory_pool_alloc(SIZES[MEMORY_POOL_CLASS_COUNT - 1] + 1);
    assert_int_equal(where(heap), -1);
    uint8_t *gone = memory_pool_alloc(8);
    memory_pool_free(gone);
    int local;
    g_hook_calls = 0;
    memory_pool_set_misuse_hook(hook_reading_stats);
    memory_pool_free(gone);                                 /* double free */
    memory_pool_free(p + 8);                                /* into a block */
    memory_pool_free(p + 1);                                /* misaligned */
    memory_pool_free(&local);                               /* unknown */
    assert_int_equal(memory_pool_free_isr(heap), ESP_ERR_INVALID_ARG); /* heap block, ISR call */
    assert_true(memory_pool_refuse_heap_call(p));           /* a heap function's refusal */
    kraken_sim_isr_enter();
    memory_pool_free(gone);                                 /* from an ISR too */
    kraken_sim_isr_exit();
    memory_pool_set_misuse_hook(record_misuse);
    assert_int_equal(g_hook_calls, 7);
    for (int k = 0; k < 7; k++) {
        assert_int_equal(g_hook_saw_misuse[k], (uint32_t)k + 1);
    }
    memory_pool_free(p);
    memory_pool_free(heap);
}

static void misuse_is_logged_from_tasks(void **state)
{
    (void)state;
    void *p = memory_pool_alloc(8);
    memory_pool_free(p);
    capture_stdout_begin();
    memory_pool_free(p);
    char line[512];
    assert_true(capture_stdout_end(line, sizeof line) > 0);
    assert_non_null(strstr(line, "E ("));
    assert_non_null(strstr(line, "memory_pool: double free"));
    assert_non_null(strstr(line, "Small"));
    expect_one_misuse(MEMORY_POOL_MISUSE_DOUBLE_FREE, p, 0);
}

/* ---- statistics and log ---------------------------------------------------------------------- */

static void statistics_count_every_event_exactly(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    init_with(3, 8, false);
    void *s[4];
    for (int i = 0; i < 4; i++) {
        s[i] = memory_pool_alloc(SIZES[0]); /* 3 pool + 1 fallback */
    }
    void *m = memory_pool_alloc(SIZES[1]);
    memory_pool_free(s[0]);
    memory_pool_free(s[1]);
    s[0] = memory_pool_alloc(1);
    memory_pool_stats_t st = stats();
    const memory_pool_class_stats_t *c = &st.classes[0];
    assert_int_equal(c->block_size, SIZES[0]);
    assert_int_equal(c->capacity, 3);
    assert_int_equal(c->in_use, 2);
    assert_int_equal(c->peak_in_use, 3);
    assert_int_equal(c->min_free, 0);
    assert_int_equal(c->allocations, 4);
    assert_int_equal(c->frees, 2);
    assert_int_equal(c->heap_fallbacks, 1);
    assert_int_equal(c->fallback_live, 1);
    assert_int_equal(c->failures, 0);
    assert_int_equal(st.classes[1].in_use, 1);
    assert_int_equal(st.classes[1].peak_in_use, 1);
    assert_int_equal(st.classes[1].min_free, 2);
    assert_int_equal(st.classes[2].peak_in_use, 0);
    assert_int_equal(st.classes[2].min_free, 3);
    assert_int_equal(st.heap_blocks_live, 1);
    assert_int_equal(st.heap_blocks_peak, 1);
    assert_int_equal(st.check_level, CHECK_LEVEL);
    memory_pool_reset_peaks();
    st = stats();
    assert_int_equal(st.classes[0].peak_in_use, 2);
    assert_int_equal(st.classes[0].min_free, 1);
    assert_int_equal(st.classes[0].allocations, 4); /* counters are not reset */
    memory_pool_free(s[0]);
    memory_pool_free(s[2]);
    memory_pool_free(s[3]);
    memory_pool_free(m);
    st = stats();
    assert_int_equal(st.classes[0].frees, 4);
    assert_int_equal(st.classes[0].allocations, 4);
    assert_int_equal(st.heap_blocks_live, 0);
    assert_int_equal(memory_pool_get_stats(NULL), ESP_ERR_INVALID_ARG);
}

/* A peak reset restarts the heap blocks' peak from those live, as the classes' peaks. */
static void a_peak_reset_restarts_the_heap_peak_from_the_live_blocks(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(3);
    init_with(1, 3, false);
    void *h[3];
    for (int i = 0; i < 3; i++) {
        h[i] = memory_pool_alloc(SIZES[MEMORY_POOL_CLASS_COUNT - 1] + 1);
        assert_int_equal(where(h[i]), -1);
    }
    memory_pool_free(h[0]);
    memory_pool_free(h[1]);
    assert_int_equal(stats().heap_blocks_peak, 3);
    memory_pool_reset_peaks();
    assert_int_equal(stats().heap_blocks_peak, 1);
    memory_pool_free(h[2]);
}

/* The address just past the last block of the last class is nobody's block: an unknown pointer,
 * refused and reported, nothing freed. */
static void the_address_past_the_last_block_is_an_unknown_pointer(void **state)
{
    (void)state;
    const unsigned last = MEMORY_POOL_CLASS_COUNT - 1;
    void *blocks[64];
    assert_true(COUNTS[last] <= 64);
    uintptr_t end = 0;
    for (uint32_t i = 0; i < COUNTS[last]; i++) {
        blocks[i] = memory_pool_alloc(SIZES[last]);
        assert_int_equal(where(blocks[i]), (int)last);
        if ((uintptr_t)blocks[i] + SIZES[last] > end) {
            end = (uintptr_t)blocks[i] + SIZES[last];
        }
    }
    void *past = (void *)end;
    assert_int_equal(memory_pool_class_of(past), MEMORY_POOL_CLASS_COUNT);
    assert_false(memory_pool_owns(past));
    assert_int_equal(memory_pool_free_isr(past), ESP_ERR_INVALID_ARG);
    expect_one_misuse(MEMORY_POOL_MISUSE_UNKNOWN_POINTER, past, -1);
    memory_pool_stats_t st = stats();
    assert_int_equal(st.unknown_frees, 1);
    assert_int_equal(st.classes[last].in_use, COUNTS[last]);
    assert_int_equal(st.classes[last].double_frees, 0);
    for (uint32_t i = 0; i < COUNTS[last]; i++) {
        memory_pool_free(blocks[i]);
    }
}

static void statistics_before_set_up_show_the_table(void **state)
{
    (void)state;
    memory_pool_stats_t st = stats();
    assert_false(st.initialized);
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        assert_int_equal(st.classes[c].block_size, SIZES[c]);
        assert_int_equal(st.classes[c].capacity, COUNTS[c]);
        assert_int_equal(st.classes[c].min_free, COUNTS[c]);
        assert_int_equal(st.classes[c].in_use, 0);
    }
    assert_int_equal(st.heap_blocks_max, CONFIG_SYSTEM_SERVICE_MEMORY_POOL_HEAP_BLOCKS_MAX);
}

static char g_log[8192];

static void capture_log(void (*fn)(const char *), const char *tag)
{
    capture_stdout_begin();
    fn(tag);
    capture_stdout_end(g_log, sizeof g_log);
}

/* The line after the log prefix "I (123) tag: ". */
static const char *log_line(int index)
{
    static char line[256];
    const char *p = g_log;
    for (int i = 0; i < index && p != NULL; i++) {
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
    assert_non_null(p);
    const char *body = strstr(p, ": ");
    assert_non_null(body);
    body += 2;
    size_t len = strcspn(body, "\n");
    assert_true(len < sizeof line);
    memcpy(line, body, len);
    line[len] = '\0';
    return line;
}

static void log_stats_prints_the_specs_lines_first(void **state)
{
    (void)state;
    NEED_LOG_LEVEL(ESP_LOG_INFO); /* the statistics are INFO lines */
    NEED_HEAP_BLOCKS(2);
    /* the spec's example: 45/100 Small with 2 fallbacks, 12/50 Medium, 3/20 Large, 1/10 XLarge;
     * its fallbacks go straight to the heap, whatever ..._TRY_LARGER_CLASS says */
    memory_pool_config_t cfg;
    memory_pool_get_default_config(&cfg);
    cfg.try_larger_class = false;
    /* the spec's table, whatever the Kconfig one is */
    const memory_pool_class_config_t spec[MEMORY_POOL_CLASS_COUNT] = {
        {64, 100}, {256, 50}, {1024, 20}, {4096, 10}};
    memcpy(cfg.classes, spec, sizeof spec);
    assert_int_equal(memory_pool_init(&cfg), ESP_OK);
    static void *held[100];
    int n = 0;
    const int used[4] = {45, 12, 3, 1};
    for (int c = 0; c < 4; c++) {
        for (int i = 0; i < used[c]; i++) {
            held[n++] = memory_pool_alloc(spec[c].block_size);
        }
    }
    void *small_rest[55];
    for (int i = 0; i < 55; i++) {
        small_rest[i] = memory_pool_alloc(1);
    }
    void *fb1 = memory_pool_alloc(1), *fb2 = memory_pool_alloc(1);
    memory_pool_free(fb1);
    memory_pool_free(fb2);
    for (int i = 0; i < 55; i++) {
        memory_pool_free(small_rest[i]);
    }
    capture_log(memory_pool_log_stats, "svc");
    assert_string_equal(log_line(0), "Memory Pool Statistics:");
    assert_string_equal(log_line(1), "  Small (64B):   45/100 used, 2 heap fallbacks");
    assert_string_equal(log_line(2), "  Medium (256B): 12/50 used, 0 heap fallbacks");
    assert_string_equal(log_line(3), "  Large (1KB):   3/20 used, 0 heap fallbacks");
    assert_string_equal(log_line(4), "  XLarge (4KB):  1/10 used, 0 heap fallbacks");
    assert_non_null(strstr(g_log, "I ("));
    assert_non_null(strstr(g_log, ") svc: Memory Pool Statistics:"));
    for (int i = 0; i < n; i++) {
        memory_pool_free(held[i]);
    }
}

static void log_stats_labels_follow_the_class_sizes(void **state)
{
    (void)state;
    NEED_LOG_LEVEL(ESP_LOG_INFO); /* the statistics are INFO lines */
    memory_pool_config_t cfg;
    memory_pool_get_default_config(&cfg);
    const size_t sizes[4] = {24, 1000, 2048, 65536};
    for (int c = 0; c < 4; c++) {
        cfg.classes[c].block_size = sizes[c];
        cfg.classes[c].count = 2;
    }
    assert_int_equal(memory_pool_init(&cfg), ESP_OK);
    capture_log(memory_pool_log_stats, NULL);
    assert_string_equal(log_line(1), "  Small (24B):   0/2 used, 0 heap fallbacks");
    assert_string_equal(log_line(2), "  Medium (1000B): 0/2 used, 0 heap fallbacks");
    assert_string_equal(log_line(3), "  Large (2KB):   0/2 used, 0 heap fallbacks");
    assert_string_equal(log_line(4), "  XLarge (64KB): 0/2 used, 0 heap fallbacks");
    assert_non_null(strstr(g_log, ") memory_pool: Memory Pool Statistics:"));
}

/* ---- classes whose size is not a power of two -------------------------------------------------- */

static void classes_of_any_multiple_of_eight_work_and_detect_misuse(void **state)
{
    (void)state;
    memory_pool_config_t cfg;
    memory_pool_get_default_config(&cfg);
    const size_t sizes[4] = {24, 96, 200, 1000};
    for (int c = 0; c < 4; c++) {
        cfg.classes[c].block_size = sizes[c];
        cfg.classes[c].count = 3;
    }
    assert_int_equal(memory_pool_init(&cfg), ESP_OK);
    uint8_t *p[4][3];
    for (int c = 0; c < 4; c++) {
        for (int i = 0; i < 3; i++) {
            p[c][i] = memory_pool_alloc(sizes[c] - 3);
            assert_int_equal(where(p[c][i]), c);
            assert_int_equal((uintptr_t)p[c][i] % 8, 0);
        }
        assert_int_equal(p[c][1] - p[c][0], (ptrdiff_t)sizes[c]);
    }
    memory_pool_free(p[2][1] + 8);
    expect_one_misuse(MEMORY_POOL_MISUSE_INTERIOR_POINTER, p[2][1] + 8, 2);
    for (int c = 0; c < 4; c++) {
        if (c % 2 == 0) {
            for (int i = 0; i < 3; i++) {
                memory_pool_free(p[c][i]);
            }
        } else { /* the batch free takes the slow path for sizes that are not powers of two */
            assert_int_equal(memory_pool_free_batch_isr((void **)p[c], 3), 3);
        }
    }
    memory_pool_free(p[1][2]);
    expect_one_misuse(MEMORY_POOL_MISUSE_DOUBLE_FREE, p[1][2], 1);
    memory_pool_stats_t st = stats();
    for (int c = 0; c < 4; c++) {
        assert_int_equal(st.classes[c].frees, 3);
    }
}

/* ---- set-up and tear-down ------------------------------------------------------------------------ */

static void init_refuses_bad_tables_and_a_second_set_up(void **state)
{
    (void)state;
    memory_pool_config_t good, bad;
    memory_pool_get_default_config(&good);
    assert_int_equal(memory_pool_get_default_config(NULL), ESP_ERR_INVALID_ARG);
    bad = good;
    bad.classes[1].block_size = 100; /* not a multiple of 8 */
    assert_int_equal(memory_pool_init(&bad), ESP_ERR_INVALID_ARG);
    bad = good;
    bad.classes[2].block_size = bad.classes[1].block_size; /* not increasing */
    assert_int_equal(memory_pool_init(&bad), ESP_ERR_INVALID_ARG);
    bad = good;
    bad.classes[0].count = 0;
    assert_int_equal(memory_pool_init(&bad), ESP_ERR_INVALID_ARG);
    bad = good;
    bad.classes[0].count = MEMORY_POOL_MAX_BLOCKS_PER_CLASS + 1;
    assert_int_equal(memory_pool_init(&bad), ESP_ERR_INVALID_ARG);
    bad = good;
    bad.heap_blocks_max = CONFIG_SYSTEM_SERVICE_MEMORY_POOL_HEAP_BLOCKS_MAX + 1;
    assert_int_equal(memory_pool_init(&bad), ESP_ERR_INVALID_ARG);
    bad = good;
    bad.classes[3].block_size = 65536 + 8;
    assert_int_equal(memory_pool_init(&bad), ESP_ERR_INVALID_ARG);
    assert_false(stats().initialized);
    assert_int_equal(memory_pool_init(NULL), ESP_OK);
    assert_int_equal(memory_pool_init(&good), ESP_ERR_INVALID_STATE);
    assert_int_equal(memory_pool_ensure_init(), ESP_OK);
    kraken_sim_isr_enter();
    assert_int_equal(memory_pool_ensure_init(), ESP_ERR_INVALID_STATE);
    assert_int_equal(memory_pool_deinit(), ESP_ERR_INVALID_STATE);
    assert_int_equal(memory_pool_check_integrity(), ESP_ERR_INVALID_STATE); /* a walk: task only */
    kraken_sim_isr_exit();
}

static void deinit_refuses_while_anything_is_allocated(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    void *p = memory_pool_alloc(8);
    assert_int_equal(memory_pool_deinit(), ESP_ERR_INVALID_STATE);
    assert_true(stats().initialized);
    memory_pool_free(p); /* still works after the refusal */
    void *h = memory_pool_alloc(SIZES[3] + 1);
    assert_int_equal(memory_pool_deinit(), ESP_ERR_INVALID_STATE);
    memory_pool_free(h);
    assert_int_equal(memory_pool_deinit(), ESP_OK);
    memory_pool_stats_t st = stats();
    assert_false(st.initialized);
    assert_int_equal(st.classes[0].allocations, 0); /* counters start again */
    assert_int_equal(st.oversize, 0);
    assert_int_equal(memory_pool_deinit(), ESP_OK); /* never set up: nothing to do */
    int local;
    memory_pool_free(&local); /* the misuse hook stays installed across a deinit */
    expect_one_misuse(MEMORY_POOL_MISUSE_UNKNOWN_POINTER, &local, -1);
}

/* The port's heap call, wrapped (-Wl,--wrap=kraken_port_heap_aligned_alloc, tests/CMakeLists.txt):
 * with `heap_call_hold` set, the next call waits inside until `heap_call_release`, so that a test
 * can act while a heap fallback is in flight (the pools hold no lock during the call). */
void *__real_kraken_port_heap_aligned_alloc(size_t alignment, size_t size, uint32_t caps);
void *__wrap_kraken_port_heap_aligned_alloc(size_t alignment, size_t size, uint32_t caps);
static atomic_int heap_call_hold, heap_call_inside, heap_call_release;

void *__wrap_kraken_port_heap_aligned_alloc(size_t alignment, size_t size, uint32_t caps)
{
    if (atomic_exchange(&heap_call_hold, 0)) {
        atomic_store(&heap_call_inside, 1);
        while (!atomic_load(&heap_call_release)) {
            sched_yield();
        }
    }
    return __real_kraken_port_heap_aligned_alloc(alignment, size, caps);
}

static void *alloc_oversize(void *out)
{
    *(void **)out = memory_pool_alloc(SIZES[MEMORY_POOL_CLASS_COUNT - 1] + 1);
    return NULL;
}

/* A heap fallback on its way (inside the heap call, not yet live) takes its place under the cap
 * and keeps deinit off, as a live one does. */
static void a_heap_block_on_its_way_counts_against_the_cap_and_keeps_deinit_off(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    init_with(1, 1, false);
    atomic_store(&heap_call_inside, 0);
    atomic_store(&heap_call_release, 0);
    atomic_store(&heap_call_hold, 1);
    void *on_its_way = NULL;
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, alloc_oversize, &on_its_way), 0);
    while (!atomic_load(&heap_call_inside)) {
        sched_yield();
    }
    assert_null(memory_pool_alloc(SIZES[MEMORY_POOL_CLASS_COUNT - 1] + 1)); /* the cap is taken */
    assert_int_equal(stats().oversize_failures, 1);
    assert_int_equal(memory_pool_deinit(), ESP_ERR_INVALID_STATE);
    atomic_store(&heap_call_release, 1);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_non_null(on_its_way);
    assert_int_equal(stats().heap_blocks_live, 1);
    memory_pool_free(on_its_way);
}

/* The largest table the header documents is valid: only the chip's SRAM may refuse it. */
static void the_largest_documented_table_is_accepted(void **state)
{
    (void)state;
    memory_pool_config_t big;
    memory_pool_get_default_config(&big);
    big.classes[0].count = MEMORY_POOL_MAX_BLOCKS_PER_CLASS;
    big.classes[3].block_size = MEMORY_POOL_MAX_BLOCK_SIZE;
    const esp_err_t err = memory_pool_init(&big);
    assert_true(err == ESP_OK || err == ESP_ERR_NO_MEM);
    assert_int_equal(stats().setup_failures, err == ESP_OK ? 0 : 1);
}

static void a_failed_set_up_serves_from_the_heap_until_deinit(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    kraken_sim_fail_next(0, 1); /* the storage allocation */
    log_capture_begin();
    void *p = memory_pool_alloc(8);
    const char *logged = log_capture_end();
    assert_non_null(p);
    /* never silent: the line says what failed and what it needed (81 KB by default) */
    assert_non_null(strstr(logged, "memory_pool: set-up failed: no block of "));
    assert_non_null(strstr(logged, " bytes of internal RAM for the pools (memory_pool_alloc() "
                                   "serves from the heap until memory_pool_deinit())"));
    memory_pool_stats_t st = stats();
    assert_false(st.initialized);
    assert_int_equal(st.setup_failures, 1);
    assert_int_equal(st.classes[0].heap_fallbacks, 1);
    assert_int_equal(memory_pool_ensure_init(), ESP_ERR_NO_MEM); /* no silent retry */
    assert_int_equal(memory_pool_init(NULL), ESP_ERR_INVALID_STATE); /* deinit first */
    assert_null(memory_pool_alloc_isr(8));
    assert_int_equal(stats().classes[0].failures, 1); /* the ISR's NULL, counted */
    assert_int_equal(stats().setup_failures, 1);       /* neither call tried again */
    assert_int_equal(memory_pool_deinit(), ESP_ERR_INVALID_STATE);
    memory_pool_free(p);
    assert_int_equal(memory_pool_deinit(), ESP_OK);
    assert_int_equal(memory_pool_ensure_init(), ESP_OK);
    assert_true(stats().initialized);
}

static void a_failed_init_changes_nothing(void **state)
{
    (void)state;
    memory_pool_config_t cfg;
    memory_pool_get_default_config(&cfg);
    cfg.classes[0].count = COUNTS[0] + 1;
    kraken_sim_fail_next(0, 1);
    log_capture_begin();
    assert_int_equal(memory_pool_init(&cfg), ESP_ERR_NO_MEM);
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "bytes of internal RAM for the pools\n")); /* nothing served */
    memory_pool_stats_t st = stats();
    assert_false(st.initialized);
    assert_int_equal(st.classes[0].capacity, COUNTS[0]); /* the table is unchanged */
    assert_int_equal(st.setup_failures, 1);                 /* but the failure counted */
    /* a failed memory_pool_init does not make ensure_init give up: it sets the Kconfig table up */
    assert_int_equal(memory_pool_ensure_init(), ESP_OK);
    st = stats();
    assert_true(st.initialized);
    assert_int_equal(st.classes[0].capacity, COUNTS[0]);
    void *p = memory_pool_alloc(SIZES[0]);
    assert_int_equal(where(p), 0);
    memory_pool_free(p);
}

/* A walk whose callback frees blocks passes every other block once (an open-addressing heap table
 * moved entries over the walk's position: it skipped live blocks and passed some twice). */
enum { WALK_BLOCKS = 64 };
typedef struct {
    void *ptr[WALK_BLOCKS];
    int passed[WALK_BLOCKS];
    bool free_odd_only;
} walk_free_t;

static bool walk_free_cb(const memory_pool_block_info_t *info, void *arg)
{
    walk_free_t *w = arg;
    for (int k = 0; k < WALK_BLOCKS; k++) {
        if (w->ptr[k] == info->ptr) {
            w->passed[k]++;
            if (!w->free_odd_only || k % 2 == 1) {
                memory_pool_free(w->ptr[k]);
            }
        }
    }
    return true;
}

static void a_walk_that_frees_blocks_passes_every_live_block_once(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(WALK_BLOCKS);
    init_with(1, WALK_BLOCKS, false);
    void *own = memory_pool_alloc(8); /* the Small class's one block: the rest are fallbacks */
    static walk_free_t w;
    srand(7);
    for (int round = 0; round < 200; round++) {
        void *spacers[WALK_BLOCKS];
        memset(&w, 0, sizeof w);
        for (int k = 0; k < WALK_BLOCKS; k++) { /* heap addresses, hence table slots, vary */
            spacers[k] = heap_caps_malloc(8 + (size_t)(rand() % 64), MALLOC_CAP_INTERNAL);
            w.ptr[k] = memory_pool_alloc(8 + (size_t)(rand() % 50));
            assert_non_null(w.ptr[k]);
        }
        w.free_odd_only = true;
        assert_int_equal(memory_pool_walk_live(walk_free_cb, &w), WALK_BLOCKS + 1);
        for (int k = 0; k < WALK_BLOCKS; k++) {
            assert_int_equal(w.passed[k], 1);
            assert_int_equal(memory_pool_owns(w.ptr[k]), k % 2 == 0);
            w.passed[k] = 0;
        }
        assert_int_equal(memory_pool_check_integrity(), ESP_OK);
        w.free_odd_only = false;
        assert_int_equal(memory_pool_walk_live(walk_free_cb, &w), WALK_BLOCKS / 2 + 1);
        for (int k = 0; k < WALK_BLOCKS; k++) {
            assert_int_equal(w.passed[k], k % 2 == 0);
            heap_caps_free(spacers[k]);
        }
        assert_int_equal(stats().heap_blocks_live, 0);
        assert_int_equal(memory_pool_check_integrity(), ESP_OK);
    }
    memory_pool_free(own);
}

static void log_leaks(const char *tag)
{
    assert_int_equal(memory_pool_log_leaks(tag), 3);
}

static void log_nothing_from_an_isr(const char *tag)
{
    assert_int_equal(memory_pool_log_leaks(tag), 0);
    memory_pool_log_stats(tag);
}

static void the_walk_and_the_leak_report_list_every_live_block(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    const size_t xlarge = SIZES[2] + 1; /* a request of the XLarge class */
    void *a = memory_pool_alloc(1), *b = memory_pool_alloc(xlarge);
    void *h = memory_pool_alloc(SIZES[3] + 100);
    size_t n = memory_pool_walk_live(find_cb, &(find_t){NULL, -2, {0}});
    assert_int_equal(n, 3);
    find_t f = {b, -2, {0}};
    memory_pool_walk_live(find_cb, &f);
    assert_int_equal(f.info.class_index, 3);
    assert_false(f.info.heap);
    assert_int_equal(f.info.size, CHECK_LEVEL > 0 ? xlarge : SIZES[3]); /* NONE: the block size */
    f = (find_t){h, -2, {0}};
    memory_pool_walk_live(find_cb, &f);
    assert_true(f.info.heap);
    assert_int_equal(f.info.requested_class, -1);
    const bool report_shown = log_lines_at(ESP_LOG_INFO); /* else: the count only */
    capture_log(log_leaks, "leaks");
    if (report_shown) {
        assert_non_null(strstr(g_log, "Memory pool live blocks"));
        assert_non_null(strstr(g_log, "3 live block(s)"));
        assert_non_null(strstr(g_log, "heap oversize"));
    }
    assert_int_equal(memory_pool_walk_live(NULL, NULL), 0);
    /* task only: from an ISR nothing is walked or logged */
    kraken_sim_isr_enter();
    assert_int_equal(memory_pool_walk_live(find_cb, &(find_t){NULL, -2, {0}}), 0);
    capture_log(log_nothing_from_an_isr, NULL);
    kraken_sim_isr_exit();
    assert_string_equal(g_log, "");
    memory_pool_free(a);
    memory_pool_free(b);
    memory_pool_free(h);
    assert_int_equal(memory_pool_log_leaks(NULL), 0);
}

/* ---- memory_pool_owns, and free() of our blocks ------------------------------------------------ */

static void owns_is_true_exactly_for_live_blocks_from_here(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    int local = 0;
    assert_false(memory_pool_owns(NULL));
    assert_false(memory_pool_owns(&local)); /* before set-up */
    init_with(1, 8, false);
    void *block[MEMORY_POOL_CLASS_COUNT];
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        block[c] = memory_pool_alloc(SIZES[c]);
        assert_true(memory_pool_owns(block[c]));
        assert_false(memory_pool_owns((uint8_t *)block[c] + 8)); /* into the block */
    }
    void *fallback = memory_pool_alloc(SIZES[0]);
    void *oversize = memory_pool_alloc(SIZES[3] + 1);
    void *other = malloc(SIZES[3] + 1);
    assert_int_equal(where(fallback), -1);
    assert_true(memory_pool_owns(fallback));
    assert_true(memory_pool_owns(oversize));
    assert_false(memory_pool_owns(other));
    assert_false(memory_pool_owns(&local));
    kraken_sim_isr_enter();
    assert_true(memory_pool_owns(block[0])); /* isr-ok */
    assert_true(memory_pool_owns(oversize));
    kraken_sim_isr_exit();
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        memory_pool_free(block[c]);
        assert_false(memory_pool_owns(block[c])); /* free now */
    }
    memory_pool_free(fallback);
    memory_pool_free(oversize);
    assert_false(memory_pool_owns(fallback));
    assert_false(memory_pool_owns(oversize));
    free(other);
    assert_int_equal(memory_pool_deinit(), ESP_OK);
    assert_false(memory_pool_owns(block[0])); /* the storage is gone */
}

static void *g_refused;

static void free_refused(const char *tag)
{
    (void)tag;
    free_fn(g_refused);
}

/* From an ISR too (ESP-IDF allows heap calls there): refused, and each counted once as an ISR heap
 * call, whichever entry point. */
static void our_blocks_passed_to_the_heap_from_an_isr_are_refused_and_counted_once(void **state)
{
    (void)state;
    init_with(1, 0, false);
    void *pool = memory_pool_alloc(8);
    assert_non_null(pool);
    kraken_sim_stats_t before;
    kraken_sim_get_stats(&before);
    kraken_sim_isr_enter();
    assert_null(realloc_fn(pool, 16));
    assert_null(heap_caps_realloc(pool, 16, MALLOC_CAP_8BIT));
    free_fn(pool);
    heap_caps_free(pool);
    kraken_sim_isr_exit();
    kraken_sim_stats_t after;
    kraken_sim_get_stats(&after);
    assert_int_equal(after.isr_calls - before.isr_calls, 4);
    assert_int_equal(after.invalid_frees - before.invalid_frees, 4);
    g_isr_heap_calls = 4;
    assert_int_equal(stats().classes[0].in_use, 1); /* still ours */
    assert_int_equal(stats().heap_calls, 4);          /* and the pools' misuse, reported */
    assert_int_equal(g_misuse_count, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(g_misuse[i].kind, MEMORY_POOL_MISUSE_HEAP_CALL);
        assert_ptr_equal(g_misuse[i].ptr, pool);
    }
    g_misuse_count = 0;
    memory_pool_free(pool);
}

static void free_and_realloc_of_our_blocks_are_refused_and_memory_pool_free_still_works(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    init_with(1, 8, false);
    void *pool = memory_pool_alloc(8);
    void *fallback = memory_pool_alloc(8);
    const size_t big = SIZES[MEMORY_POOL_CLASS_COUNT - 1] + 904; /* 5000 with the defaults */
    void *oversize = memory_pool_alloc(big);
    void *plain = malloc(64);
    assert_int_equal(where(fallback), -1);
    kraken_sim_stats_t before;
    kraken_sim_get_stats(&before);
    g_refused = oversize;
    capture_log(free_refused, NULL);
    assert_int_equal(strncmp(g_log, "E (", 3), 0); /* one error line naming the right call */
    assert_non_null(strstr(g_log, "free() refused it, release it with memory_pool_free()"));
    assert_ptr_equal(strchr(g_log, '\n'), g_log + strlen(g_log) - 1);
    free_fn(pool);
    free_fn(fallback);
    assert_null(realloc_fn(oversize, 2 * big));
    assert_null(realloc_fn(pool, 16));
    heap_caps_free(fallback); /* the heap_caps forms too */
    assert_null(heap_caps_realloc(oversize, 0, MALLOC_CAP_8BIT));
    free_fn(plain); /* anything else is freed as before */
    kraken_sim_stats_t after;
    kraken_sim_get_stats(&after);
    assert_int_equal(after.invalid_frees - before.invalid_frees, 7);
    assert_int_equal(after.frees - before.frees, 1); /* only `plain` */
    assert_int_equal(after.allocations, before.allocations);
    /* nothing changed for the pools: the blocks are live, counted, and still ours to free */
    memory_pool_stats_t st = stats();
    assert_int_equal(st.classes[0].in_use, 1);
    assert_int_equal(st.classes[0].fallback_live, 1);
    assert_int_equal(st.oversize_live, 1);
    assert_int_equal(st.heap_blocks_live, 2);
    assert_int_equal(st.heap_calls, 7); /* each refusal, counted and reported by the pools */
    assert_int_equal(g_misuse_count, 7);
    g_misuse_count = 0;
    assert_true(heap_caps_get_allocated_size(oversize) >= big);
    assert_true(memory_pool_owns(oversize));
    memory_pool_free(oversize);
    memory_pool_free(fallback);
    memory_pool_free(pool);
    kraken_sim_get_stats(&after);
    assert_int_equal(after.invalid_frees - before.invalid_frees, 7);
    assert_int_equal(after.frees - before.frees, 3); /* plain, oversize, fallback */
    st = stats();
    assert_int_equal(st.heap_blocks_live, 0);
    assert_int_equal(st.oversize_live, 0);
    assert_int_equal(st.classes[0].in_use, 0);
    assert_int_equal(st.invalid_frees - st.heap_calls + st.double_frees, 0); /* no other misuse */
    assert_true(heap_caps_check_integrity_all(true));
}

/* A heap function given a live block from here (memory_realloc_*, a user's wrapper) asks first:
 * the answer counts the misuse and reports it; anything else passes, uncounted. */
static void a_block_from_here_given_to_a_heap_function_is_refused_and_counted(void **state)
{
    (void)state;
    void *pooled = memory_pool_alloc(SIZES[1]);
    void *oversize = memory_pool_alloc(SIZES[MEMORY_POOL_CLASS_COUNT - 1] + 1);
    void *heap = heap_caps_malloc(32, MALLOC_CAP_8BIT);
    assert_non_null(pooled);
    assert_non_null(heap);
    assert_false(memory_pool_refuse_heap_call(NULL));
    assert_false(memory_pool_refuse_heap_call(heap)); /* the heap's own: the heap function's */
    assert_false(memory_pool_refuse_heap_call((uint8_t *)pooled + 8)); /* not a block start */
    assert_int_equal(g_misuse_count, 0);
    assert_int_equal(stats().heap_calls, 0);

    assert_true(memory_pool_refuse_heap_call(pooled));
    expect_one_misuse(MEMORY_POOL_MISUSE_HEAP_CALL, pooled, 1);
    uint32_t expected = 1;
    if (oversize != NULL) { /* a heap block the pools track: theirs too */
        assert_true(memory_pool_refuse_heap_call(oversize));
        expect_one_misuse(MEMORY_POOL_MISUSE_HEAP_CALL, oversize, -1);
        expected++;
    }
    memory_pool_stats_t st = stats();
    assert_int_equal(st.heap_calls, expected);
    assert_int_equal(st.invalid_frees, expected);
    assert_int_equal(st.classes[1].in_use, 1); /* untouched */

    memory_pool_free(pooled);
    assert_false(memory_pool_refuse_heap_call(pooled)); /* free now: not a live block */
    memory_pool_free(oversize);
    heap_caps_free(heap);
    assert_int_equal(stats().heap_calls, expected);
}

/* From an ISR: memory_pool_init is refused (task only) and sets nothing up; the task API with a
 * margin behaves as memory_pool_alloc_isr_margin (no heap); the isr-ok queries answer as from a
 * task, and a refused heap call is counted and passed to the hook without a log line. */
static void isr_calls_follow_their_context_words(void **state)
{
    (void)state;
    NEED_HEAP_BLOCKS(1);
    memory_pool_config_t cfg;
    assert_int_equal(memory_pool_get_default_config(&cfg), ESP_OK);
    cfg.classes[0].count = 3;
    cfg.try_larger_class = false; /* the margin's refusal must reach the heap decision */
    kraken_sim_isr_enter();
    const esp_err_t init_null = memory_pool_init(NULL);
    const esp_err_t init_cfg = memory_pool_init(&cfg);
    memory_pool_config_t bad = cfg;
    bad.classes[0].count = 0;
    const esp_err_t init_bad = memory_pool_init(&bad); /* the ISR is the answer, not the table */
    kraken_sim_isr_exit();
    assert_int_equal(init_null, ESP_ERR_INVALID_STATE);
    assert_int_equal(init_cfg, ESP_ERR_INVALID_STATE);
    assert_int_equal(init_bad, ESP_ERR_INVALID_STATE);
    assert_int_equal(memory_pool_init(&bad), ESP_ERR_INVALID_ARG);
    assert_false(stats().initialized);
    assert_int_equal(stats().setup_failures, 0);
    assert_int_equal(memory_pool_init(&cfg), ESP_OK); /* from the task: nothing was left behind */

    kraken_port_heap_figures_t before, after;
    kraken_port_heap_figures(SRAM, &before);
    kraken_sim_isr_enter();
    void *a = memory_pool_alloc_margin(8, 1); /* 3 free: takes one, 2 stay */
    void *b = memory_pool_alloc_margin(8, 2); /* 2 free: the margin keeps them; no heap */
    memory_pool_reset_peaks();
    memory_pool_stats_t st;
    const esp_err_t got = memory_pool_get_stats(&st);
    const uint32_t free_small = memory_pool_class_free(0);
    const unsigned class_a = memory_pool_class_of(a);
    const bool owned = memory_pool_owns(a);
    const bool refused = memory_pool_refuse_heap_call(a);
    kraken_sim_isr_exit();
    kraken_port_heap_figures(SRAM, &after);
    assert_non_null(a);
    assert_null(b);
    assert_int_equal(after.free_bytes, before.free_bytes);
    assert_int_equal(got, ESP_OK);
    assert_int_equal(st.classes[0].in_use, 1);
    assert_int_equal(st.classes[0].peak_in_use, 1);
    assert_int_equal(st.classes[0].failures, 1);
    assert_int_equal(st.classes[0].heap_fallbacks, 0);
    assert_int_equal(free_small, 2);
    assert_int_equal(class_a, 0);
    assert_true(owned);
    assert_true(refused);
    expect_one_misuse(MEMORY_POOL_MISUSE_HEAP_CALL, a, 0);
    assert_int_equal(stats().heap_calls, 1);
    /* the same refusal from an ISR logs nothing (a task's logs one error line) */
    capture_stdout_begin();
    kraken_sim_isr_enter();
    assert_true(memory_pool_refuse_heap_call(a));
    kraken_sim_isr_exit();
    capture_stdout_end(g_log, sizeof g_log);
    assert_string_equal(g_log, "");
    expect_one_misuse(MEMORY_POOL_MISUSE_HEAP_CALL, a, 0);
    capture_stdout_begin();
    assert_true(memory_pool_refuse_heap_call(a));
    capture_stdout_end(g_log, sizeof g_log);
    expect_one_misuse(MEMORY_POOL_MISUSE_HEAP_CALL, a, 0);
    if (log_lines_at(ESP_LOG_ERROR)) {
        assert_int_equal(strncmp(g_log, "E (", 3), 0); /* the capture sees a task's line */
    }
    assert_int_equal(stats().heap_calls, 3);
    memory_pool_free(a);
}

static void misuse_names_are_distinct(void **state)
{
    (void)state;
    for (int k = MEMORY_POOL_MISUSE_DOUBLE_FREE; k <= MEMORY_POOL_MISUSE_HEAP_CALL; k++) {
        for (int j = k + 1; j <= MEMORY_POOL_MISUSE_HEAP_CALL; j++) {
            assert_string_not_equal(memory_pool_misuse_name((memory_pool_misuse_t)k),
                                    memory_pool_misuse_name((memory_pool_misuse_t)j));
        }
    }
    assert_string_equal(memory_pool_misuse_name((memory_pool_misuse_t)99), "unknown");
}

/* The spec's snippet, as written. */
static void the_specs_manual_pool_usage_works_as_written(void **state)
{
    (void)state;
    static const char *TAG = "spec";
    void *ptr = memory_pool_alloc(256);
    if (ptr == NULL) {
        fail();
    }
    memory_pool_free(ptr);
    memory_pool_log_stats(TAG);
    int c = 0; /* the class that serves 256 bytes: Medium by default */
    while (c < MEMORY_POOL_CLASS_COUNT && SIZES[c] < 256) {
        c++;
    }
    if (c < MEMORY_POOL_CLASS_COUNT) {
        assert_int_equal(stats().classes[c].frees, 1);
    } else {
        assert_int_equal(stats().oversize, 1);
    }
}

#define T(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(pools_work_without_any_set_up_call),
        T(each_request_takes_the_smallest_class_that_fits),
        T(size_zero_returns_null_and_counts_nothing),
        T(pool_storage_is_one_allocation_of_internal_sram),
        T(blocks_are_distinct_aligned_and_hold_their_data),
        T(an_empty_class_falls_back_to_the_heap_counted_and_freeable),
        T(live_heap_blocks_are_capped_and_each_refusal_counted),
        T(heap_blocks_max_zero_keeps_the_pools_off_the_heap),
        T(oversize_requests_go_to_the_heap_counted),
        T(a_huge_request_returns_null_counted_and_takes_nothing),
        T(an_exhausted_heap_makes_a_fallback_fail_cleanly),
        T(the_next_larger_class_serves_an_empty_class_when_configured),
        T(isr_allocation_never_uses_the_heap),
        T(isr_free_reports_each_outcome),
        T(a_margin_keeps_the_last_blocks_for_callers_without_one),
        T(a_tallied_take_counts_its_blocks_and_has_no_fallback),
        T(a_batch_free_returns_blocks_of_every_class_and_reports_each_misuse),
        T(a_misuse_report_names_the_users_call_site),
        T(a_long_batch_with_a_misuse_last_frees_the_rest_in_lock_bounded_runs),
        T(class_free_counts_the_free_blocks_of_a_class),
        T(class_of_names_the_class_a_block_came_from_even_after_a_spill),
        T(class_of_covers_every_byte_of_every_block),
        T(a_double_free_is_rejected_and_the_block_is_never_handed_out_twice),
        T(a_free_of_a_block_never_handed_out_counts_as_a_double_free),
        T(a_pointer_into_a_block_is_rejected_and_changes_nothing),
        T(a_misaligned_pointer_is_rejected),
        T(a_pointer_nothing_here_handed_out_is_rejected),
        T(a_second_free_of_a_heap_block_is_rejected),
        T(misuse_before_any_allocation_is_rejected_too),
        T(the_misuse_hook_may_read_the_statistics_and_sees_its_misuse_counted),
        T(misuse_is_logged_from_tasks),
        T(statistics_count_every_event_exactly),
        T(a_peak_reset_restarts_the_heap_peak_from_the_live_blocks),
        T(the_address_past_the_last_block_is_an_unknown_pointer),
        T(statistics_before_set_up_show_the_table),
        T(log_stats_prints_the_specs_lines_first),
        T(log_stats_labels_follow_the_class_sizes),
        T(classes_of_any_multiple_of_eight_work_and_detect_misuse),
        T(init_refuses_bad_tables_and_a_second_set_up),
        T(deinit_refuses_while_anything_is_allocated),
        T(a_heap_block_on_its_way_counts_against_the_cap_and_keeps_deinit_off),
        T(the_largest_documented_table_is_accepted),
        T(a_failed_set_up_serves_from_the_heap_until_deinit),
        T(a_failed_init_changes_nothing),
        T(the_walk_and_the_leak_report_list_every_live_block),
        T(a_walk_that_frees_blocks_passes_every_live_block_once),
        T(owns_is_true_exactly_for_live_blocks_from_here),
        T(free_and_realloc_of_our_blocks_are_refused_and_memory_pool_free_still_works),
        T(our_blocks_passed_to_the_heap_from_an_isr_are_refused_and_counted_once),
        T(a_block_from_here_given_to_a_heap_function_is_refused_and_counted),
        T(isr_calls_follow_their_context_words),
        T(misuse_names_are_distinct),
        T(the_specs_manual_pool_usage_works_as_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
