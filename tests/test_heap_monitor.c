/*
 * test_heap_monitor.c - the heap monitor (heap_monitor.h) on every simulated module: exact figures
 * for known fragmentation patterns, health thresholds, the log format, low-memory callbacks,
 * failed-allocation counts, the sampler's ring buffer and task, the JSON snapshot, bad input.
 * Every test runs on esp32s3-n8r8, esp32s3-n8r2 and esp32s3-n8 (no PSRAM).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture_output.h"
#include "test_sanitizers.h"
#include "test_support.h"

#include "esp_heap_caps.h"
#include "esp_memory_utils.h"
#include "esp_timer.h"
#include "heap_monitor.h"
#include "kraken_sim.h"
#include "memory_pool.h"
#include "sdkconfig.h"
#include "system_service/memory_utils.h"

#define SRAM HEAP_MONITOR_CAPS_SRAM
#define PSRAM HEAP_MONITOR_CAPS_PSRAM
#define ISSUES_PSRAM_TEST                                                                          \
    (HEAP_MONITOR_ISSUE_PSRAM_FRAGMENTED | HEAP_MONITOR_ISSUE_PSRAM_LOW_FREE |                    \
     HEAP_MONITOR_ISSUE_PSRAM_FULL)
#define ISSUES_INTERNAL_TEST                                                                       \
    (HEAP_MONITOR_ISSUE_INTERNAL_FRAGMENTED | HEAP_MONITOR_ISSUE_INTERNAL_LOW_FREE |              \
     HEAP_MONITOR_ISSUE_INTERNAL_SMALL_LARGEST | HEAP_MONITOR_ISSUE_INTERNAL_FULL)

static kraken_sim_profile_t g_profile;

/* PSRAM in the heap: the module has it, the firmware supports it (CONFIG_SPIRAM; with
 * CONFIG_SPIRAM_USE_MEMMAP it is mapped but not given to the heap) and finds it (with
 * CONFIG_SPIRAM_IGNORE_NOTFOUND a module whose PSRAM the configured mode does not find runs without
 * it). Asked of the heap, checked against the profile where the options decide it. */
static bool has_psram(void)
{
    assert_int_equal(kraken_sim_get_profile(), g_profile);
    return psram_in_heap();
}

/* Skips a test that needs `n` entries of a table the Kconfig option `opt` sizes to fewer. */
#define NEED_KCONFIG(opt, n)                                                                       \
    do {                                                                                           \
        if ((opt) < (n)) {                                                                         \
            print_message("skipped: needs %d, " #opt " is %d\n", (int)(n), (int)(opt));          \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static long iterations(long dflt)
{
    const char *e = getenv("KRAKEN_TEST_ITERATIONS");
    long n = e ? strtol(e, NULL, 10) : 0;
    return n > 0 ? n : dflt;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The simulated chip restarted (its failed-alloc hook cleared) and the monitor at its boot state. */
static int fresh_chip(void **state)
{
    (void)state;
    if (kraken_sim_init(g_profile) != ESP_OK || heap_monitor_deinit() != ESP_OK) {
        return -1;
    }
    /* thresholds_start_at_the_kconfig_values checks the Kconfig ones */
    return heap_monitor_init() == ESP_OK && set_reference_thresholds() == ESP_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    kraken_sim_fault_clear();
    /* the pools keep their storage across tests: release it before the chip restarts */
    if (free_every_live_block() != 0 || memory_pool_deinit() != ESP_OK) {
        return -1;
    }
    if (critical_misuses() != 0) {
        return -1;
    }
    return heap_monitor_deinit() == ESP_OK ? 0 : -1;
}

/* The specification of the formula, written independently of the implementation. */
static int expected_fragmentation(size_t free_bytes, size_t largest)
{
    if (free_bytes == 0 || largest >= free_bytes) {
        return 0;
    }
    return (int)(100.0 * (double)(free_bytes - largest) / (double)free_bytes + 0.5);
}

/* ---- a known fragmentation pattern ---------------------------------------------------------- */

#define MAX_BLOCKS 1024

typedef struct {
    void *blocks[MAX_BLOCKS];
    size_t count;
    size_t free_when_full; /* heap_caps_get_free_size once nothing more fitted */
    size_t freed_bytes;    /* bytes freed into isolated holes: size + 4-byte header each */
    size_t holes;
} pattern_t;

static pattern_t g_pattern;

/* Fill `caps` with blocks of `block` bytes until it is full, then free every other block whose
 * physical neighbours both stay allocated, so that each freed block becomes an isolated hole of
 * exactly its payload size (TLSF cannot merge it). */
static void make_holes(pattern_t *p, uint32_t caps, size_t block)
{
    memset(p, 0, sizeof *p);
    void *ptr;
    while (p->count < MAX_BLOCKS && (ptr = heap_caps_malloc(block, caps)) != NULL) {
        p->blocks[p->count++] = ptr;
    }
    assert_true(p->count > 4);
    assert_true(p->count < MAX_BLOCKS);
    p->free_when_full = heap_caps_get_free_size(caps);
    for (size_t i = 2; i + 1 < p->count; i += 2) {
        char *prev = p->blocks[i - 1], *cur = p->blocks[i], *next = p->blocks[i + 1];
        size_t size = heap_caps_get_allocated_size(cur);
        assert_int_equal(size, block + (sizeof(void *) > 4 ? 4 : 0));
        bool isolated = prev + heap_caps_get_allocated_size(prev) + 4 == cur && cur + size + 4 == next;
        if (isolated) {
            heap_caps_free(cur);
            p->blocks[i] = NULL;
            p->freed_bytes += size + 4; /* ESP-IDF's multi_heap_free counts the header too */
            p->holes++;
        }
    }
    assert_true(p->holes >= 2);
}

static void free_pattern(pattern_t *p)
{
    for (size_t i = 0; i < p->count; i++) {
        heap_caps_free(p->blocks[i]);
        p->blocks[i] = NULL;
    }
    p->count = 0;
}

static void assert_region_is_chip(const heap_region_stats_t *r, uint32_t caps)
{
    assert_int_equal(r->total_bytes, heap_caps_get_total_size(caps));
    assert_int_equal(r->total_free_bytes, heap_caps_get_free_size(caps));
    assert_int_equal(r->largest_free_block, heap_caps_get_largest_free_block(caps));
    assert_int_equal(r->minimum_free_bytes, heap_caps_get_minimum_free_size(caps));
    assert_int_equal(r->fragmentation_percent,
                     expected_fragmentation(r->total_free_bytes, r->largest_free_block));
    assert_int_equal(r->allocated_blocks, 0);
    assert_int_equal(r->free_blocks, 0);
}

static void fragmentation_formula_matches_hand_computed_values(void **state)
{
    (void)state;
    assert_int_equal(heap_monitor_fragmentation_percent(0, 0), 0);           /* nothing free */
    assert_int_equal(heap_monitor_fragmentation_percent(4096, 4096), 0);     /* one block */
    assert_int_equal(heap_monitor_fragmentation_percent(4096, 0), 100);      /* only crumbs */
    assert_int_equal(heap_monitor_fragmentation_percent(1000, 880), 12);     /* 12.0 */
    assert_int_equal(heap_monitor_fragmentation_percent(1000, 876), 12);     /* 12.4 down */
    assert_int_equal(heap_monitor_fragmentation_percent(1000, 875), 13);     /* 12.5: halves up */
    assert_int_equal(heap_monitor_fragmentation_percent(3, 1), 67);          /* 66.7 */
    assert_int_equal(heap_monitor_fragmentation_percent(3, 2), 33);          /* 33.3 */
    assert_int_equal(heap_monitor_fragmentation_percent(1000, 995), 1);      /* 0.5 up */
    assert_int_equal(heap_monitor_fragmentation_percent(1000, 996), 0);      /* 0.4 down */
    assert_int_equal(heap_monitor_fragmentation_percent(1000, 4), 100);      /* 99.6 up */
    assert_int_equal(heap_monitor_fragmentation_percent(1000, 5), 100);      /* 99.5 up */
    assert_int_equal(heap_monitor_fragmentation_percent(1000, 6), 99);       /* 99.4 down */
    /* the spec's picture, 6.2 MB free with a 4.8 MB block: 22.6 % */
    assert_int_equal(heap_monitor_fragmentation_percent(6501171, 5033164), 23);
    /* the user report in ESP-IDF #9088: 1.6 MB free, largest block 1012 bytes */
    assert_int_equal(heap_monitor_fragmentation_percent(1677722, 1012), 100);
    /* ESP-IDF #13588: 100 KB free, largest 34 KB */
    assert_int_equal(heap_monitor_fragmentation_percent(102400, 34816), 66);
    /* a largest block above the free total (two unsynchronised reads) is not negative */
    assert_int_equal(heap_monitor_fragmentation_percent(100, 200), 0);
    /* no overflow at the top of size_t */
    assert_int_equal(heap_monitor_fragmentation_percent(SIZE_MAX, SIZE_MAX / 2), 50);
    assert_int_equal(heap_monitor_fragmentation_percent(SIZE_MAX, 0), 100);
    /* halves decided exactly at any size: (2^k + 1) free, 12.5 % of it short of a half */
    const size_t big = (SIZE_MAX >> 2) + 1, eighth = big / 8;
    assert_int_equal(heap_monitor_fragmentation_percent(big + 255, big + 255 - eighth - 31), 12);
    assert_int_equal(heap_monitor_fragmentation_percent(big, big - eighth), 13); /* 12.5 up */
    /* every small case against the exact rational rounding */
    for (size_t f = 1; f <= 300; f++) {
        for (size_t l = 0; l <= f; l++) {
            const size_t gap = f - l;
            assert_int_equal(heap_monitor_fragmentation_percent(f, l), (200 * gap + f) / (2 * f));
        }
    }
}

static void stats_of_a_fresh_chip_are_the_chips_figures(void **state)
{
    (void)state;
    heap_stats_t stats;
    assert_int_equal(heap_monitor_get_stats(&stats), ESP_OK);
    assert_region_is_chip(&stats.internal, SRAM);
    assert_int_equal(stats.total_bytes, heap_caps_get_total_size(MALLOC_CAP_8BIT));
    assert_int_equal(stats.total_free_bytes, heap_caps_get_free_size(MALLOC_CAP_8BIT));
    assert_int_equal(stats.largest_free_block, heap_caps_get_largest_free_block(MALLOC_CAP_8BIT));
    assert_int_equal(stats.minimum_free_bytes, heap_caps_get_minimum_free_size(MALLOC_CAP_8BIT));
    assert_int_equal(stats.fragmentation_percent,
                     expected_fragmentation(stats.total_free_bytes, stats.largest_free_block));
    assert_false(stats.blocks_counted);
    assert_int_equal(stats.failed_allocations, 0);
    assert_int_equal(stats.psram_present, has_psram());
    if (has_psram()) {
        assert_region_is_chip(&stats.psram, PSRAM);
        assert_true(stats.psram.total_bytes > 0);
        /* the top level is the sum of the two regions (largest: the larger of the two) */
        assert_int_equal(stats.total_free_bytes,
                         stats.internal.total_free_bytes + stats.psram.total_free_bytes);
        assert_int_equal(stats.total_bytes, stats.internal.total_bytes + stats.psram.total_bytes);
    } else {
        heap_region_stats_t zero = {0};
        assert_memory_equal(&stats.psram, &zero, sizeof zero);
        assert_int_equal(stats.total_free_bytes, stats.internal.total_free_bytes);
    }
    /* a fresh internal heap is several regions: the gaps between them count, ~19 % on the S3 */
    assert_true(stats.internal.fragmentation_percent > 0);
    assert_true(heap_monitor_check_health());
}

static void psram_holes_give_exact_figures(void **state)
{
    (void)state;
    if (!has_psram()) {
        skip();
    }
    const size_t block = 64 * 1024;
    heap_stats_t fresh, stats;
    assert_int_equal(heap_monitor_get_stats(&fresh), ESP_OK);
    make_holes(&g_pattern, PSRAM, block);
    assert_true(g_pattern.free_when_full < 2 * block); /* another block did not fit */
    assert_int_equal(heap_monitor_get_stats(&stats), ESP_OK);
    assert_region_is_chip(&stats.psram, PSRAM);
    /* by hand: what was left when full plus each isolated hole (no coalescing) */
    const size_t free_bytes = g_pattern.free_when_full + g_pattern.freed_bytes;
    const size_t largest = block; /* a class bound: malloc(block) fits a hole of block bytes */
    assert_int_equal(stats.psram.total_free_bytes, free_bytes);
    /* the holes are the largest blocks: the leftover tail is smaller than one */
    assert_int_equal(stats.psram.largest_free_block, largest);
    assert_int_equal(stats.psram.fragmentation_percent, expected_fragmentation(free_bytes, largest));
    assert_int_equal(stats.psram.minimum_free_bytes, g_pattern.free_when_full);
    /* n8r8: 63 holes in 8 MB, n8r2: 15 in 2 MB, so the figure is high either way */
    assert_true(stats.psram.fragmentation_percent >= 90);
    assert_true(heap_monitor_get_health_issues() & HEAP_MONITOR_ISSUE_PSRAM_FRAGMENTED);
    assert_false(heap_monitor_check_health());
    /* the internal SRAM is untouched and keeps its own figures */
    assert_region_is_chip(&stats.internal, SRAM);
    assert_false(heap_monitor_get_health_issues() & (HEAP_MONITOR_ISSUE_INTERNAL_FRAGMENTED |
                                                     HEAP_MONITOR_ISSUE_INTERNAL_LOW_FREE |
                                                     HEAP_MONITOR_ISSUE_INTERNAL_SMALL_LARGEST));
    free_pattern(&g_pattern);
    assert_int_equal(heap_monitor_get_stats(&stats), ESP_OK);
    assert_int_equal(stats.psram.total_free_bytes, fresh.psram.total_free_bytes);
    assert_int_equal(stats.psram.fragmentation_percent, fresh.psram.fragmentation_percent);
    assert_true(heap_monitor_check_health());
}

static void sram_holes_give_exact_figures_and_an_unhealthy_verdict(void **state)
{
    (void)state;
    const size_t block = 4096;
    size_t before = heap_caps_get_free_size(SRAM);
    make_holes(&g_pattern, SRAM, block);
    assert_true(g_pattern.free_when_full < 4 * 2 * block); /* four internal heaps, each full */
    heap_stats_t stats;
    assert_int_equal(heap_monitor_get_stats(&stats), ESP_OK);
    assert_region_is_chip(&stats.internal, SRAM);
    const size_t free_bytes = g_pattern.free_when_full + g_pattern.freed_bytes;
    const size_t largest = block; /* a class bound: malloc(block) fits a hole of block bytes */
    assert_int_equal(stats.internal.total_free_bytes, free_bytes);
    assert_int_equal(stats.internal.largest_free_block, largest);
    assert_int_equal(stats.internal.fragmentation_percent, expected_fragmentation(free_bytes, largest));
    /* Kconfig defaults: a 4 KiB largest block is below the 16 KiB minimum, and the free memory
     * (about half the heap) is above the 32 KiB minimum */
    assert_true(stats.internal.total_free_bytes > before / 3);
    uint32_t issues = heap_monitor_get_health_issues();
    assert_true(issues & HEAP_MONITOR_ISSUE_INTERNAL_SMALL_LARGEST);
    assert_true(issues & HEAP_MONITOR_ISSUE_INTERNAL_FRAGMENTED);
    assert_false(issues & HEAP_MONITOR_ISSUE_INTERNAL_LOW_FREE);
    assert_false(issues & (HEAP_MONITOR_ISSUE_PSRAM_FRAGMENTED | HEAP_MONITOR_ISSUE_PSRAM_LOW_FREE));
    assert_false(heap_monitor_check_health());
    free_pattern(&g_pattern);
    assert_int_equal(heap_caps_get_free_size(SRAM), before);
    assert_true(heap_monitor_check_health());
}

static void caps_stats_cover_any_mask(void **state)
{
    (void)state;
    heap_region_stats_t r;
    const uint32_t masks[] = {MALLOC_CAP_DMA, MALLOC_CAP_INTERNAL, MALLOC_CAP_32BIT, SRAM, PSRAM,
                              MALLOC_CAP_8BIT, MALLOC_CAP_RTCRAM, MALLOC_CAP_EXEC};
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        assert_int_equal(heap_monitor_get_caps_stats(masks[i], &r), ESP_OK);
        assert_region_is_chip(&r, masks[i]);
    }
    void *p = heap_caps_malloc(10000, MALLOC_CAP_DMA);
    assert_non_null(p);
    assert_int_equal(heap_monitor_get_caps_stats(MALLOC_CAP_DMA, &r), ESP_OK);
    assert_region_is_chip(&r, MALLOC_CAP_DMA);
    assert_true(r.minimum_free_bytes <= r.total_free_bytes);
    heap_caps_free(p);
}

static void block_counts_are_filled_only_on_request(void **state)
{
    (void)state;
    heap_stats_t before, after;
    assert_int_equal(heap_monitor_get_stats(&before), ESP_OK);
    assert_int_equal(heap_monitor_count_blocks(&before), ESP_OK);
    assert_true(before.blocks_counted);
    void *blocks[10];
    for (size_t i = 0; i < 10; i++) {
        blocks[i] = heap_caps_malloc(100, SRAM);
        assert_non_null(blocks[i]);
    }
    void *big = has_psram() ? heap_caps_malloc(100000, PSRAM) : NULL;
    assert_int_equal(heap_monitor_get_stats(&after), ESP_OK);
    assert_false(after.blocks_counted);
    assert_int_equal(after.allocated_blocks, 0);
    assert_int_equal(after.internal.allocated_blocks, 0);
    assert_int_equal(heap_monitor_count_blocks(&after), ESP_OK);
    assert_int_equal(after.internal.allocated_blocks, before.internal.allocated_blocks + 10);
    assert_int_equal(after.internal.free_blocks, before.internal.free_blocks);
    assert_int_equal(after.psram.allocated_blocks, before.psram.allocated_blocks + (big ? 1 : 0));
    assert_int_equal(after.allocated_blocks, before.allocated_blocks + 10 + (big ? 1 : 0));
    /* a hole between two live blocks is one more free block */
    heap_caps_free(blocks[4]);
    blocks[4] = NULL;
    assert_int_equal(heap_monitor_count_blocks(&after), ESP_OK);
    assert_int_equal(after.internal.free_blocks, before.internal.free_blocks + 1);
    assert_int_equal(after.internal.allocated_blocks, before.internal.allocated_blocks + 9);
    for (size_t i = 0; i < 10; i++) {
        heap_caps_free(blocks[i]);
    }
    heap_caps_free(big);
    if (!has_psram()) {
        assert_int_equal(after.psram.allocated_blocks, 0);
        assert_int_equal(after.psram.free_blocks, 0);
    }
}

static void memory_utils_and_the_monitor_agree_on_every_number(void **state)
{
    (void)state;
    void *a = SYSTEM_MALLOC(5000);
    void *b = APP_MALLOC(70000);
    assert_non_null(a);
    assert_non_null(b);
    memory_info_t info;
    heap_stats_t stats;
    assert_int_equal(memory_get_info(&info), ESP_OK);
    assert_int_equal(heap_monitor_get_stats(&stats), ESP_OK);
    assert_int_equal(info.free_sram, stats.internal.total_free_bytes);
    assert_int_equal(info.total_sram, stats.internal.total_bytes);
    assert_int_equal(info.min_free_sram, stats.internal.minimum_free_bytes);
    assert_int_equal(info.largest_free_sram, stats.internal.largest_free_block);
    assert_int_equal(info.free_psram, stats.psram.total_free_bytes);
    assert_int_equal(info.total_psram, stats.psram.total_bytes);
    assert_int_equal(info.min_free_psram, stats.psram.minimum_free_bytes);
    assert_int_equal(info.largest_free_psram, stats.psram.largest_free_block);
    assert_int_equal(info.psram_available, stats.psram_present);
    assert_int_equal(memory_get_free_sram(), stats.internal.total_free_bytes);
    assert_int_equal(memory_get_free_psram(), stats.psram.total_free_bytes);
    free(a);
    free(b);
}

/* ---- health ------------------------------------------------------------------------------------ */

static void thresholds_start_at_the_kconfig_values(void **state)
{
    (void)state;
    assert_int_equal(heap_monitor_deinit(), ESP_OK); /* undo the setup's limits */
    assert_int_equal(heap_monitor_init(), ESP_OK);
    heap_monitor_thresholds_t t;
    assert_int_equal(heap_monitor_get_thresholds(&t), ESP_OK);
    assert_int_equal(t.fragmentation_percent,
                     CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_FRAGMENTATION_THRESHOLD);
    assert_int_equal(t.min_free_internal, CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_MIN_FREE_INTERNAL);
    assert_int_equal(t.min_largest_internal,
                     CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_MIN_LARGEST_INTERNAL);
    assert_int_equal(t.min_free_psram, CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_MIN_FREE_PSRAM);
}

static void each_threshold_flags_its_own_issue(void **state)
{
    (void)state;
    heap_stats_t s;
    assert_int_equal(heap_monitor_get_stats(&s), ESP_OK);
    heap_monitor_thresholds_t off = {.fragmentation_percent = 100};
    assert_int_equal(heap_monitor_set_thresholds(&off), ESP_OK);
    assert_int_equal(heap_monitor_stats_issues(&s), 0);

    heap_monitor_thresholds_t t = off;
    t.min_free_internal = s.internal.total_free_bytes; /* equal is still healthy */
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    assert_int_equal(heap_monitor_stats_issues(&s), 0);
    t.min_free_internal++;
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    assert_int_equal(heap_monitor_stats_issues(&s), HEAP_MONITOR_ISSUE_INTERNAL_LOW_FREE);

    t = off;
    t.min_largest_internal = s.internal.largest_free_block; /* equal is still healthy */
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    assert_int_equal(heap_monitor_stats_issues(&s), 0);
    t.min_largest_internal++;
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    assert_int_equal(heap_monitor_stats_issues(&s), HEAP_MONITOR_ISSUE_INTERNAL_SMALL_LARGEST);

    t = off;
    t.fragmentation_percent = s.internal.fragmentation_percent; /* equal is still healthy */
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    uint32_t issues = heap_monitor_stats_issues(&s);
    assert_false(issues & HEAP_MONITOR_ISSUE_INTERNAL_FRAGMENTED);
    t.fragmentation_percent = s.internal.fragmentation_percent - 1;
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    assert_true(heap_monitor_stats_issues(&s) & HEAP_MONITOR_ISSUE_INTERNAL_FRAGMENTED);

    /* PSRAM: a minimum above what is free is unhealthy only when the module has PSRAM */
    t = off;
    t.min_free_psram = s.psram.total_free_bytes; /* equal is still healthy (0 without PSRAM) */
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    assert_int_equal(heap_monitor_stats_issues(&s), 0);
    t.min_free_psram = SIZE_MAX;
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    assert_int_equal(heap_monitor_stats_issues(&s), has_psram() ? HEAP_MONITOR_ISSUE_PSRAM_LOW_FREE : 0);
    assert_int_equal(heap_monitor_check_health(), !has_psram());

    /* fragmentation 0 %: even an untouched heap shows some (several internal heaps; TLSF reports
     * the largest block rounded down to its size class: 1-2 % of one 8 MB PSRAM block) */
    t = off;
    t.fragmentation_percent = 0;
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    assert_true(s.internal.fragmentation_percent > 0);
    assert_int_equal(heap_monitor_stats_issues(&s),
                     HEAP_MONITOR_ISSUE_INTERNAL_FRAGMENTED |
                         (s.psram.fragmentation_percent > 0 ? HEAP_MONITOR_ISSUE_PSRAM_FRAGMENTED : 0));
    if (has_psram()) {
        t.fragmentation_percent = s.psram.fragmentation_percent;
        assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
        assert_false(heap_monitor_stats_issues(&s) & HEAP_MONITOR_ISSUE_PSRAM_FRAGMENTED);
    }
    assert_int_equal(heap_monitor_stats_issues(NULL), 0);
}

static void bad_thresholds_are_refused_and_change_nothing(void **state)
{
    (void)state;
    heap_monitor_thresholds_t before, t, now;
    assert_int_equal(heap_monitor_get_thresholds(&before), ESP_OK);
    assert_int_equal(heap_monitor_set_thresholds(NULL), ESP_ERR_INVALID_ARG);
    t = before;
    t.fragmentation_percent = 101;
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_ERR_INVALID_ARG);
    t.fragmentation_percent = -1;
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_monitor_get_thresholds(&now), ESP_OK);
    assert_memory_equal(&now, &before, sizeof now);
    assert_int_equal(heap_monitor_get_thresholds(NULL), ESP_ERR_INVALID_ARG);
}

static void a_corrupted_heap_is_unhealthy_when_integrity_is_checked(void **state)
{
    (void)state;
#if defined(TEST_ASAN)
    skip(); /* block headers are poisoned in ASan builds: the corruption itself would be reported */
#endif
    heap_monitor_thresholds_t t;
    assert_int_equal(heap_monitor_get_thresholds(&t), ESP_OK);
    t.check_integrity = true;
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    char *a = heap_caps_malloc(64, SRAM);
    char *b = heap_caps_malloc(64, SRAM);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(heap_monitor_check_health());
    uint32_t header;
    memcpy(&header, b - 4, sizeof header); /* the 4-byte TLSF header in front of b */
    uint32_t broken = header ^ 0x00000ff0u;
    memcpy(b - 4, &broken, sizeof broken);
    assert_int_equal(heap_monitor_get_health_issues(), HEAP_MONITOR_ISSUE_INTEGRITY);
    assert_false(heap_monitor_check_health());
    memcpy(b - 4, &header, sizeof header);
    assert_true(heap_monitor_check_health());
    t.check_integrity = false;
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    heap_caps_free(a);
    heap_caps_free(b);
}

/* ---- log format ------------------------------------------------------------------------------- */

static char g_log[8192];

static void capture_log_stats(const char *tag)
{
    capture_stdout_begin();
    heap_monitor_log_stats(tag);
    capture_stdout_end(g_log, sizeof g_log);
}

/* The spec's units, written independently: 1024-based, one decimal unless whole, rounded down. */
static const char *human(size_t bytes, char *buf, size_t size)
{
    size_t unit = bytes >= (1u << 20) ? (1u << 20) : bytes >= 1024 ? 1024 : 1;
    const char *suffix = unit == (1u << 20) ? "MB" : unit == 1024 ? "KB" : "B";
    unsigned tenth = (unsigned)((bytes % unit) * 10 / unit);
    if (bytes % unit == 0) {
        snprintf(buf, size, "%zu%s", bytes / unit, suffix);
    } else {
        snprintf(buf, size, "%zu.%u%s", bytes / unit, tenth, suffix);
    }
    return buf;
}

static void human_units_are_the_specs(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(human(8u << 20, b, sizeof b), "8MB");
    assert_string_equal(human(6501172, b, sizeof b), "6.2MB"); /* 6.2 x 2^20 */
    assert_string_equal(human(6501171, b, sizeof b), "6.1MB"); /* a byte less: rounded down */
    assert_string_equal(human(5033165, b, sizeof b), "4.8MB");
    assert_string_equal(human(1536, b, sizeof b), "1.5KB");
    assert_string_equal(human(1023, b, sizeof b), "1023B");
    assert_string_equal(human((1u << 20) - 1, b, sizeof b), "1023.9KB");
    assert_string_equal(human(1075, b, sizeof b), "1.0KB"); /* not whole: the decimal stays */
    assert_string_equal(human(1024, b, sizeof b), "1KB");
    assert_string_equal(human(0, b, sizeof b), "0B");
}

static void assert_region_block(const char *text, const char *name, const heap_region_stats_t *r,
                                const char *mark)
{
    char expect[512], t[32], f[32], l[32];
    char region[64];
    snprintf(region, sizeof region, "tag:   Region: %s\n", name);
    const char *at = strstr(text, region);
    assert_non_null(at);
    /* the line directly above the region line is the spec's header */
    const char *prev_line = NULL;
    for (const char *c = text; c + 1 < at; c++) {
        if (*c == '\n' && strchr(c + 1, '\n') < at) {
            prev_line = c + 1;
        }
    }
    if (prev_line == NULL) {
        prev_line = text;
    }
    const char *header = strstr(prev_line, "tag: Heap Fragmentation:\n");
    assert_non_null(header);
    assert_true(header < at);
    snprintf(expect, sizeof expect,
             "tag:   Total: %s\n", human(r->total_bytes, t, sizeof t));
    const char *total = strstr(at, expect);
    assert_non_null(total);
    snprintf(expect, sizeof expect, "tag:   Free: %s\n", human(r->total_free_bytes, f, sizeof f));
    const char *free_line = strstr(total, expect);
    assert_non_null(free_line);
    snprintf(expect, sizeof expect, "tag:   Largest block: %s\n",
             human(r->largest_free_block, l, sizeof l));
    const char *largest = strstr(free_line, expect);
    assert_non_null(largest);
    snprintf(expect, sizeof expect, "tag:   Fragmentation: %d%% %s", r->fragmentation_percent, mark);
    assert_non_null(strstr(largest, expect));
}

static void log_stats_prints_the_specs_format_for_each_region(void **state)
{
    (void)state;
    NEED_LOG_LEVEL(ESP_LOG_INFO); /* the report is INFO lines */
    capture_log_stats("tag");
    heap_stats_t s;
    assert_int_equal(heap_monitor_get_stats(&s), ESP_OK);
    assert_region_block(g_log, "Internal SRAM", &s.internal, "\u2705 HEALTHY\n");
    if (has_psram()) {
        assert_region_block(g_log, "PSRAM", &s.psram, "\u2705 HEALTHY\n");
    } else {
        /* no figures for an absent PSRAM: the next line is the failure count */
        const char *absent = strstr(g_log, "tag:   Region: PSRAM (not present)\n");
        assert_non_null(absent);
        const char *next = strchr(absent, '\n') + 1;
        assert_non_null(strstr(next, "tag: Failed allocations:"));
        assert_true(strstr(next, "tag: Failed allocations:") < strchr(next, '\n'));
    }
    assert_non_null(strstr(g_log, "tag: Failed allocations: 0\n"));
    assert_null(strstr(g_log, "UNHEALTHY"));
    /* every line is in ESP-IDF's format */
    assert_int_equal(strncmp(g_log, "I (", 3), 0);
}

static void log_stats_marks_an_unhealthy_region_differently(void **state)
{
    (void)state;
    NEED_LOG_LEVEL(ESP_LOG_INFO); /* the report is INFO lines */
    heap_monitor_thresholds_t t = {.fragmentation_percent = 100,
                                   .min_largest_internal = SIZE_MAX};
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    capture_log_stats("tag");
    heap_stats_t s;
    assert_int_equal(heap_monitor_get_stats(&s), ESP_OK);
    assert_region_block(g_log, "Internal SRAM", &s.internal,
                        "\u274C UNHEALTHY (largest block too small)\n");
    assert_non_null(strstr(g_log, "W ("));
    if (has_psram()) {
        assert_region_block(g_log, "PSRAM", &s.psram, "\u2705 HEALTHY\n");
    }
    capture_log_stats(NULL);
    assert_non_null(strstr(g_log, "heap_monitor: Heap Fragmentation:\n"));
}

/* Fill PSRAM until exactly `target` bytes are free (ESP-IDF's count: a multiple of 4; on a 64-bit
 * host always 4 mod 8, see below); the blocks taken go to held[] (count in *n, the first two
 * being a 64-byte hole's neighbour and the block that keeps it a hole; no later request fits the
 * hole). Then halving steps (a large request is
 * rounded up to its TLSF size class: each step measures what it took), steps of a few hundred
 * bytes, and a last block found by trying sizes. */
static void fill_psram_to_exactly(size_t target, void **held, size_t max, size_t *n)
{
    void *hole = heap_caps_malloc(64, PSRAM);
    held[0] = heap_caps_malloc(64, PSRAM);
    assert_non_null(hole);
    assert_non_null(held[0]);
    heap_caps_free(hole);
    *n = 1;
    for (;;) {
        size_t free_now = heap_caps_get_free_size(PSRAM);
        assert_true(free_now >= target);
        size_t gap = free_now - target;
        if (gap == 0) {
            return;
        }
        assert_true(*n < max);
        if (gap > 4096) {
            held[(*n)++] = heap_caps_malloc((gap / 2 < 65536 ? gap / 2 : 65536) & ~(size_t)3, PSRAM);
        } else if (gap >= 312) {
            held[(*n)++] = heap_caps_malloc(gap >= 416 ? 200 : 100, PSRAM); /* leaves >= 104 */
        } else {
            held[*n] = NULL;
            for (size_t ask = gap; ask >= 100 && heap_caps_get_free_size(PSRAM) != target; ask -= 4) {
                heap_caps_free(held[*n]); /* the previous try (NULL at first) */
                held[*n] = heap_caps_malloc(ask, PSRAM);
            }
            assert_int_equal(heap_caps_get_free_size(PSRAM), target);
            (*n)++;
            return;
        }
        assert_non_null(held[*n - 1]);
    }
}

/* With exactly `free_bytes` of PSRAM free, the report's PSRAM block has the line `free_line`. */
static void psram_free_is_logged_as(size_t free_bytes, const char *free_line)
{
    NEED_LOG_LEVEL(ESP_LOG_INFO); /* the report is INFO lines */
    if (!has_psram()) {
        skip(); /* only PSRAM is larger than 1 MiB */
    }
    void *held[256];
    size_t n;
    fill_psram_to_exactly(free_bytes, held, 256, &n);
    capture_log_stats("tag");
    const char *psram = strstr(g_log, "tag:   Region: PSRAM\n");
    assert_non_null(psram);
    assert_non_null(strstr(psram, free_line));
    while (n > 0) {
        heap_caps_free(held[--n]);
    }
}

static void log_stats_switches_to_mb_at_exactly_one_mib(void **state)
{
    (void)state;
#if UINTPTR_MAX > 0xFFFFFFFFu
    /* On a 64-bit host every free block is 4 mod 8 bytes, 0 with its header, and ESP-IDF's count
     * adds the sentinel's 4 bytes to the region's: the PSRAM heap's free size is always 4 mod 8
     * and 1 MiB cannot be reached (the 32-bit build checks it). Just below, still KB: */
    psram_free_is_logged_as(((size_t)1 << 20) - 4, "tag:   Free: 1023.9KB\n");
#else
    psram_free_is_logged_as((size_t)1 << 20, "tag:   Free: 1MB\n");
#endif
}

static void log_stats_keeps_the_decimal_of_a_size_that_is_not_whole(void **state)
{
    (void)state;
    /* 1.04 MiB; 4 mod 8, which a 64-bit host reaches too */
    psram_free_is_logged_as(((size_t)1 << 20) + 50004, "tag:   Free: 1.0MB\n");
}

/* ---- low-memory callbacks ---------------------------------------------------------------------- */

typedef struct {
    int lows;
    int recoveries;
    heap_monitor_event_t last;
} recorder_t;

static void record(const heap_monitor_event_t *event, void *ctx)
{
    recorder_t *r = ctx;
    if (event->low) {
        r->lows++;
    } else {
        r->recoveries++;
    }
    r->last = *event;
}

static void crossing_and_recovery_fire_each_callback_once(void **state)
{
    (void)state;
    NEED_KCONFIG(CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_MAX_CALLBACKS, 2);
    heap_stats_t s;
    recorder_t sram = {0}, psram = {0};
    size_t sram_free = heap_caps_get_free_size(SRAM);
    assert_int_equal(heap_monitor_register_callback(sram_free - 10000, SRAM, record, &sram), ESP_OK);
    size_t psram_free = heap_caps_get_free_size(PSRAM);
    if (has_psram()) {
        assert_int_equal(heap_monitor_register_callback(psram_free - 100000, PSRAM, record, &psram),
                         ESP_OK);
    }
    assert_int_equal(heap_monitor_get_stats(&s), ESP_OK);
    assert_int_equal(sram.lows + sram.recoveries + psram.lows + psram.recoveries, 0);

    void *p = heap_caps_malloc(20000, SRAM);
    assert_non_null(p);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(heap_monitor_get_stats(&s), ESP_OK);
    }
    assert_int_equal(sram.lows, 1);
    assert_int_equal(sram.recoveries, 0);
    assert_true(sram.last.low);
    assert_int_equal(sram.last.caps, SRAM);
    assert_int_equal(sram.last.threshold, sram_free - 10000);
    assert_int_equal(sram.last.free_bytes, heap_caps_get_free_size(SRAM));
    assert_int_equal(sram.last.largest_free_block, heap_caps_get_largest_free_block(SRAM));
    assert_int_equal(psram.lows, 0);

    void *q = has_psram() ? heap_caps_malloc(200000, PSRAM) : NULL;
    heap_monitor_check_health();
    heap_monitor_check_health();
    assert_int_equal(psram.lows, has_psram() ? 1 : 0);
    assert_int_equal(sram.lows, 1);

    heap_caps_free(p);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(heap_monitor_sample_now(NULL), ESP_OK);
    }
    assert_int_equal(sram.lows, 1);
    assert_int_equal(sram.recoveries, 1);
    assert_false(sram.last.low);
    assert_int_equal(sram.last.free_bytes, sram_free);
    heap_caps_free(q);
    heap_monitor_check_health();
    assert_int_equal(psram.recoveries, has_psram() ? 1 : 0);

    /* a second crossing is reported again */
    p = heap_caps_malloc(20000, SRAM);
    heap_monitor_check_health();
    heap_monitor_check_health();
    assert_int_equal(sram.lows, 2);
    assert_int_equal(sram.recoveries, 1);
    heap_caps_free(p);

    /* after unregistering, nothing more */
    assert_int_equal(heap_monitor_unregister_callback(record, &sram), ESP_OK);
    heap_monitor_check_health();
    assert_int_equal(sram.recoveries, 1);
    assert_int_equal(heap_monitor_unregister_callback(record, &sram), ESP_ERR_NOT_FOUND);
}

static void log_stats_default_tag(void *arg)
{
    (void)arg;
    heap_monitor_log_stats(NULL);
}

/* The task-only calls refuse from an ISR, doing nothing: no figure read, so no callback runs in
 * the interrupt; no sampler task created or joined; nothing logged. */
static void task_only_calls_from_an_isr_do_nothing_and_say_so(void **state)
{
    (void)state;
    recorder_t r = {0};
    assert_int_equal(heap_monitor_register_callback(SIZE_MAX, SRAM, record, &r), ESP_OK);
    heap_stats_t hs;
    heap_region_stats_t rs;
    heap_monitor_sample_t sample;
    size_t n = 0;
    char json[64];
    char out[256];
    kraken_sim_isr_enter();
    assert_int_equal(heap_monitor_get_stats(&hs), ESP_ERR_INVALID_STATE);
    assert_int_equal(heap_monitor_get_caps_stats(SRAM, &rs), ESP_ERR_INVALID_STATE);
    assert_int_equal(heap_monitor_count_blocks(&hs), ESP_ERR_INVALID_STATE);
    assert_int_equal(heap_monitor_get_health_issues(), HEAP_MONITOR_ISSUE_NOT_CHECKED);
    assert_false(heap_monitor_check_health());
    assert_int_equal(heap_monitor_sample_now(&sample), ESP_ERR_INVALID_STATE);
    assert_int_equal(heap_monitor_get_samples(&sample, 1, &n), ESP_ERR_INVALID_STATE);
    assert_int_equal(heap_monitor_get_json(json, sizeof json, NULL), ESP_ERR_INVALID_STATE);
    assert_int_equal(heap_monitor_sampler_start(50), ESP_ERR_INVALID_STATE);
    assert_false(heap_monitor_sampler_running());
    assert_int_equal(heap_monitor_sampler_stop(), ESP_ERR_INVALID_STATE);
    assert_int_equal(heap_monitor_init(), ESP_ERR_INVALID_STATE);
    assert_int_equal(heap_monitor_deinit(), ESP_ERR_INVALID_STATE);
    capture_output(STDOUT_FILENO, log_stats_default_tag, NULL, out, sizeof out);
    kraken_sim_isr_exit();
    assert_string_equal(out, "");
    assert_int_equal(r.lows, 0);
    heap_monitor_check_health(); /* from a task the callback runs */
    assert_int_equal(r.lows, 1);
}

/* The isr-ok calls work from an ISR as from a task: registration, thresholds, the failure counts
 * and their reset, the ring's capacity and clearing, and the pure helpers (json_max_length reads no
 * state: it gives the same length). None of them reads the heap or runs a callback. */
static void the_isr_ok_calls_work_from_an_isr(void **state)
{
    (void)state;
    recorder_t r = {0};
    assert_int_equal(heap_monitor_init(), ESP_OK);
    assert_null(SYSTEM_MALLOC(64u << 20)); /* one failure counted */
    assert_int_equal(heap_monitor_sample_now(NULL), ESP_OK);
    const size_t json_max = heap_monitor_json_max_length();
    heap_monitor_thresholds_t t;
    assert_int_equal(heap_monitor_get_thresholds(&t), ESP_OK);
    t.min_free_internal = 12345;
    heap_stats_t low = {.internal = {.total_free_bytes = 100, .largest_free_block = 100}};
    heap_monitor_failed_alloc_t failed[2];
    size_t n = 0;
    kraken_sim_isr_enter();
    const esp_err_t reg = heap_monitor_register_callback(SIZE_MAX, SRAM, record, &r);
    const esp_err_t dup = heap_monitor_register_callback(SIZE_MAX, SRAM, record, &r);
    const esp_err_t set = heap_monitor_set_thresholds(&t);
    heap_monitor_thresholds_t read_back = {0};
    const esp_err_t get = heap_monitor_get_thresholds(&read_back);
    const uint32_t issues = heap_monitor_stats_issues(&low);
    const int frag = heap_monitor_fragmentation_percent(200, 100);
    const uint32_t total_failures = heap_monitor_get_failed_alloc_count(0);
    const esp_err_t listed = heap_monitor_get_failed_allocs(failed, 2, &n);
    heap_monitor_reset_failed_allocs();
    const uint32_t after_reset = heap_monitor_get_failed_alloc_count(0);
    const esp_err_t chain = heap_monitor_set_alloc_failed_chain(NULL);
    const size_t capacity = heap_monitor_sample_capacity();
    heap_monitor_clear_samples();
    const bool running = heap_monitor_sampler_running();
    const size_t json_max_isr = heap_monitor_json_max_length();
    const esp_err_t unreg = heap_monitor_unregister_callback(record, &r);
    kraken_sim_isr_exit();
    assert_int_equal(reg, ESP_OK);
    assert_int_equal(dup, ESP_ERR_INVALID_STATE);
    assert_int_equal(set, ESP_OK);
    assert_int_equal(get, ESP_OK);
    assert_int_equal(read_back.min_free_internal, 12345);
    assert_true((issues & HEAP_MONITOR_ISSUE_INTERNAL_LOW_FREE) != 0);
    assert_int_equal(frag, 50);
    assert_int_equal(total_failures, 1);
    assert_int_equal(listed, ESP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(after_reset, 0);
    assert_int_equal(chain, ESP_OK);
    assert_int_equal(capacity, CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_SAMPLE_COUNT);
    assert_false(running);
    assert_int_equal(json_max_isr, json_max);
    assert_int_equal(unreg, ESP_OK);
    assert_int_equal(r.lows, 0); /* registered and removed in the ISR: never called */
    assert_int_equal(heap_monitor_get_samples(NULL, 0, &n), ESP_OK);
    assert_int_equal(n, 0); /* cleared */
    assert_int_equal(heap_monitor_deinit(), ESP_OK);
}

static void a_threshold_already_crossed_is_reported_at_the_first_check(void **state)
{
    (void)state;
    recorder_t r = {0};
    assert_int_equal(heap_monitor_register_callback(SIZE_MAX, SRAM, record, &r), ESP_OK);
    assert_int_equal(r.lows, 0); /* registering does not call back */
    heap_monitor_check_health();
    heap_monitor_check_health();
    assert_int_equal(r.lows, 1);
}

/* Memory the module does not have cannot run low: without PSRAM, heap_caps_get_free_size and
 * heap_caps_get_total_size are both 0 for PSRAM caps (no heap matches, heap_caps.c), and a PSRAM
 * callback registered by firmware built for every module variant must stay silent there, as must
 * one for caps no heap of any module has. The registration itself is accepted. */
static void a_callback_for_memory_the_module_lacks_never_fires(void **state)
{
    (void)state;
    NEED_KCONFIG(CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_MAX_CALLBACKS, 2);
    recorder_t p = {0}, none = {0};
    assert_int_equal(heap_monitor_register_callback(SIZE_MAX, PSRAM, record, &p), ESP_OK);
    assert_int_equal(heap_monitor_register_callback(1, MALLOC_CAP_SPIRAM | MALLOC_CAP_INTERNAL, record,
                                                    &none),
                     ESP_OK);
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_SPIRAM | MALLOC_CAP_INTERNAL), 0);
    heap_stats_t s;
    for (int i = 0; i < 2; i++) {
        heap_monitor_check_health();
        assert_int_equal(heap_monitor_get_stats(&s), ESP_OK);
        assert_int_equal(heap_monitor_sample_now(NULL), ESP_OK);
    }
    /* with PSRAM, SIZE_MAX is above any free figure: the fall is reported once */
    assert_int_equal(p.lows, has_psram() ? 1 : 0);
    assert_int_equal(p.recoveries, 0);
    assert_int_equal(none.lows + none.recoveries, 0);
    /* and no PSRAM alarm in the health check either, whatever the PSRAM minimum */
    heap_monitor_thresholds_t t;
    assert_int_equal(heap_monitor_get_thresholds(&t), ESP_OK);
    t.min_free_psram = SIZE_MAX;
    t.fragmentation_percent = 0;
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    const uint32_t psram_issues = heap_monitor_get_health_issues() & ISSUES_PSRAM_TEST;
    if (has_psram()) {
        assert_true(psram_issues & HEAP_MONITOR_ISSUE_PSRAM_LOW_FREE);
    } else {
        assert_int_equal(psram_issues, 0);
    }
}

/* The other extreme: PSRAM present but exhausted. The callback and the health check report it,
 * application buffers fall back to internal SRAM, PSRAM-only requests fail; freeing recovers. */
#define EXHAUST_MAX 64
static void exhausted_psram_is_reported_and_app_buffers_fall_back_to_sram(void **state)
{
    (void)state;
    if (!has_psram()) {
        skip();
    }
    recorder_t p = {0};
    const size_t threshold = 4096;
    assert_int_equal(heap_monitor_register_callback(threshold, PSRAM, record, &p), ESP_OK);
    heap_monitor_check_health();
    assert_int_equal(p.lows, 0);

    void *blocks[EXHAUST_MAX];
    size_t n = take_every_block(blocks, EXHAUST_MAX, PSRAM);
    assert_true(heap_caps_get_free_size(PSRAM) < threshold);
    assert_true(heap_caps_get_total_size(PSRAM) > 0);

    /* with the default thresholds (no PSRAM minimum) it reads full, not fragmented: what it still
     * counts as free is a few leftover bytes, whose fragmentation figure is up to 100 % */
    heap_stats_t s;
    assert_int_equal(heap_monitor_get_stats(&s), ESP_OK);
    assert_int_equal(s.psram.largest_free_block, 0);
    assert_int_equal(heap_monitor_stats_issues(&s) & ISSUES_PSRAM_TEST,
                     HEAP_MONITOR_ISSUE_PSRAM_FULL);
    assert_false(heap_monitor_check_health());
    if (log_lines_at(ESP_LOG_WARN)) {
        capture_log_stats("tag");
        assert_non_null(strstr(g_log, "\u274C UNHEALTHY (full)\n"));
    }

    heap_monitor_thresholds_t t;
    assert_int_equal(heap_monitor_get_thresholds(&t), ESP_OK);
    t.min_free_psram = threshold;
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    assert_true(heap_monitor_get_health_issues() & HEAP_MONITOR_ISSUE_PSRAM_LOW_FREE);
    assert_int_equal(p.lows, 1);
    assert_true(p.last.low);
    assert_true(p.last.free_bytes < threshold);

    void *app = APP_MALLOC(8192);
    assert_non_null(app);
    assert_true(esp_ptr_internal(app));
    assert_null(memory_alloc_psram_only(8192));
    free(app);

    for (size_t i = 0; i < n; i++) {
        heap_caps_free(blocks[i]);
    }
    assert_false(heap_monitor_get_health_issues() & (HEAP_MONITOR_ISSUE_PSRAM_LOW_FREE |
                                                     HEAP_MONITOR_ISSUE_PSRAM_FULL));
    assert_int_equal(p.recoveries, 1);
    assert_false(p.last.low);
}

/* Internal SRAM filled to its last block reads full (and below its minimums), not fragmented,
 * whatever the fragmentation limit; one block freed ends it. */
static void exhausted_internal_sram_reads_full_not_fragmented(void **state)
{
    (void)state;
    void *blocks[EXHAUST_MAX];
    size_t n = take_every_block(blocks, EXHAUST_MAX, SRAM);
    heap_stats_t s;
    assert_int_equal(heap_monitor_get_stats(&s), ESP_OK);
    assert_int_equal(s.internal.largest_free_block, 0);
    heap_monitor_thresholds_t t = {.fragmentation_percent = 0}; /* every other check off */
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    assert_int_equal(heap_monitor_stats_issues(&s) & ISSUES_INTERNAL_TEST,
                     HEAP_MONITOR_ISSUE_INTERNAL_FULL);
    assert_int_equal(set_reference_thresholds(), ESP_OK);
    assert_int_equal(heap_monitor_stats_issues(&s) & ISSUES_INTERNAL_TEST,
                     HEAP_MONITOR_ISSUE_INTERNAL_FULL | HEAP_MONITOR_ISSUE_INTERNAL_LOW_FREE |
                         HEAP_MONITOR_ISSUE_INTERNAL_SMALL_LARGEST);
    if (log_lines_at(ESP_LOG_WARN)) {
        capture_log_stats("tag");
        assert_non_null(strstr(
            g_log, "\u274C UNHEALTHY (full, low free memory, largest block too small)\n"));
    }
    heap_caps_free(blocks[--n]);
    assert_false(heap_monitor_get_health_issues() & HEAP_MONITOR_ISSUE_INTERNAL_FULL);
    while (n > 0) {
        heap_caps_free(blocks[--n]);
    }
}

typedef esp_err_t (*trigger_fn)(void);
static esp_err_t trigger_get_stats(void)
{
    heap_stats_t s;
    return heap_monitor_get_stats(&s);
}
static esp_err_t trigger_caps_stats(void)
{
    heap_region_stats_t r;
    return heap_monitor_get_caps_stats(MALLOC_CAP_8BIT, &r);
}
static esp_err_t trigger_check_health(void)
{
    heap_monitor_check_health();
    return ESP_OK;
}
static esp_err_t trigger_issues(void)
{
    heap_monitor_get_health_issues();
    return ESP_OK;
}
static esp_err_t trigger_json(void)
{
    size_t n;
    return heap_monitor_get_json(NULL, 0, &n) == ESP_ERR_INVALID_SIZE ? ESP_OK : ESP_FAIL;
}
static esp_err_t trigger_sample(void)
{
    return heap_monitor_sample_now(NULL);
}
static esp_err_t trigger_log(void)
{
    capture_log_stats("tag");
    return ESP_OK;
}

static void every_call_that_reads_the_figures_checks_the_callbacks(void **state)
{
    (void)state;
    const trigger_fn triggers[] = {trigger_get_stats, trigger_caps_stats, trigger_check_health,
                                   trigger_issues,    trigger_json,       trigger_sample,
                                   trigger_log};
    for (size_t i = 0; i < sizeof triggers / sizeof triggers[0]; i++) {
        recorder_t r = {0};
        size_t threshold = heap_caps_get_free_size(SRAM) - 1000;
        assert_int_equal(heap_monitor_register_callback(threshold, SRAM, record, &r), ESP_OK);
        void *p = heap_caps_malloc(2000, SRAM);
        assert_int_equal(triggers[i](), ESP_OK);
        assert_int_equal(r.lows, 1);
        heap_caps_free(p);
        assert_int_equal(triggers[i](), ESP_OK);
        assert_int_equal(r.recoveries, 1);
        assert_int_equal(heap_monitor_unregister_callback(record, &r), ESP_OK);
    }
}

static int g_nested_calls;
static void nested_check(const heap_monitor_event_t *event, void *ctx)
{
    (void)event;
    recorder_t *r = ctx;
    r->lows++;
    g_nested_calls++;
    heap_stats_t s;
    assert_int_equal(heap_monitor_get_stats(&s), ESP_OK); /* no deadlock, no second delivery */
    heap_monitor_log_stats("nested");
}

static void a_callback_may_call_the_monitor_without_a_second_delivery(void **state)
{
    (void)state;
    recorder_t r = {0};
    g_nested_calls = 0;
    assert_int_equal(heap_monitor_register_callback(SIZE_MAX, SRAM, nested_check, &r), ESP_OK);
    heap_monitor_check_health();
    assert_int_equal(g_nested_calls, 1);
}

/* A delivery in one task and a check in another: the check must not deliver the opposite edge
 * while the first delivery runs (the callback would see "recovered" before, or during, "low",
 * and could end on a stale "low"); the first task delivers it once its call has returned. */
typedef struct {
    recorder_t rec;
    int inside, most_inside;
    sem_t entered, release;
} slow_recorder_t;

static void slow_record(const heap_monitor_event_t *event, void *ctx)
{
    slow_recorder_t *r = ctx;
    int inside = __atomic_add_fetch(&r->inside, 1, __ATOMIC_SEQ_CST);
    if (inside > r->most_inside) {
        r->most_inside = inside;
    }
    record(event, &r->rec);
    if (event->low) {
        sem_post(&r->entered);
        sem_wait(&r->release); /* held while the other task checks */
    }
    __atomic_sub_fetch(&r->inside, 1, __ATOMIC_SEQ_CST);
}

static void *check_in_thread(void *arg)
{
    (void)arg;
    heap_monitor_check_health();
    return NULL;
}

static void a_check_during_a_delivery_leaves_the_next_edge_to_the_deliverer(void **state)
{
    (void)state;
    static slow_recorder_t r;
    memset(&r, 0, sizeof r);
    sem_init(&r.entered, 0, 0);
    sem_init(&r.release, 0, 0);
    const size_t free_now = heap_caps_get_free_size(SRAM);
    assert_int_equal(heap_monitor_register_callback(free_now - 50000, SRAM, slow_record, &r), ESP_OK);
    void *p = heap_caps_malloc(100000, MALLOC_CAP_INTERNAL);
    assert_non_null(p);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, check_in_thread, NULL), 0);
    sem_wait(&r.entered); /* the thread is inside the "low" call */
    heap_caps_free(p);
    heap_monitor_check_health(); /* sees the recovery, leaves it to the thread */
    assert_int_equal(r.rec.recoveries, 0);
    sem_post(&r.release);
    pthread_join(t, NULL);
    assert_int_equal(r.rec.lows, 1);
    assert_int_equal(r.rec.recoveries, 1); /* delivered by the thread after its call */
    assert_false(r.rec.last.low);
    assert_int_equal(r.most_inside, 1);
    heap_monitor_check_health();
    assert_int_equal(r.rec.lows + r.rec.recoveries, 2);
    assert_int_equal(heap_monitor_unregister_callback(slow_record, &r), ESP_OK);
    sem_destroy(&r.entered);
    sem_destroy(&r.release);
}

static void callback_registration_refuses_bad_input_and_a_full_table(void **state)
{
    (void)state;
    recorder_t r[CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_MAX_CALLBACKS + 1];
    assert_int_equal(heap_monitor_register_callback(1000, SRAM, NULL, r), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_monitor_register_callback(1000, 0, record, r), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_monitor_register_callback(0, SRAM, record, r), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_monitor_unregister_callback(NULL, r), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_monitor_unregister_callback(record, r), ESP_ERR_NOT_FOUND);
    /* entries to unregister, valid for every table size (r has MAX_CALLBACKS + 1 entries) */
    enum {
        MAXCB = CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_MAX_CALLBACKS,
        V1 = MAXCB > 3 ? 3 : MAXCB - 1,
        V2 = MAXCB > 4 ? 4 : MAXCB,
    };
    for (int i = 0; i < CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_MAX_CALLBACKS; i++) {
        assert_int_equal(heap_monitor_register_callback(1000, SRAM, record, &r[i]), ESP_OK);
    }
    assert_int_equal(heap_monitor_register_callback(1000, SRAM, record, &r[0]),
                     ESP_ERR_INVALID_STATE);
    assert_int_equal(heap_monitor_register_callback(1000, SRAM, record,
                                                    &r[CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_MAX_CALLBACKS]),
                     ESP_ERR_NO_MEM);
    assert_int_equal(heap_monitor_unregister_callback(record, &r[V1]), ESP_OK);
    assert_int_equal(heap_monitor_register_callback(1000, SRAM, record,
                                                    &r[CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_MAX_CALLBACKS]),
                     ESP_OK);
    /* the same fn and ctx with another caps is a second registration; unregister removes both */
    assert_int_equal(heap_monitor_unregister_callback(record, &r[V2]), ESP_OK);
    assert_int_equal(heap_monitor_register_callback(2000, MALLOC_CAP_DMA, record, &r[0]), ESP_OK);
    assert_int_equal(heap_monitor_unregister_callback(record, &r[0]), ESP_OK);
    assert_int_equal(heap_monitor_unregister_callback(record, &r[0]), ESP_ERR_NOT_FOUND);
}

/* ---- failed allocations ------------------------------------------------------------------------ */

static unsigned g_chain_calls;
static uint32_t g_chain_caps;
static void chained(size_t size, uint32_t caps, const char *function)
{
    (void)size;
    (void)function;
    g_chain_calls++;
    g_chain_caps = caps;
}

static void failed_allocations_are_counted_per_caps(void **state)
{
    (void)state;
    NEED_KCONFIG(CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_FAILED_ALLOC_SLOTS, 3); /* PSRAM, SRAM, DMA */
    assert_int_equal(heap_monitor_get_failed_alloc_count(0), 0);
    kraken_sim_fail_next(0, 2);
    assert_null(heap_caps_malloc(100, PSRAM));
    assert_null(heap_caps_malloc(100, PSRAM));
    assert_null(heap_caps_malloc(64u << 20, SRAM)); /* genuinely too large */
    assert_null(heap_caps_malloc(300000, MALLOC_CAP_DMA));
    assert_int_equal(heap_monitor_get_failed_alloc_count(0), 4);
    assert_int_equal(heap_monitor_get_failed_alloc_count(PSRAM), 2);
    assert_int_equal(heap_monitor_get_failed_alloc_count(MALLOC_CAP_SPIRAM), 2);
    assert_int_equal(heap_monitor_get_failed_alloc_count(SRAM), 1);
    assert_int_equal(heap_monitor_get_failed_alloc_count(MALLOC_CAP_INTERNAL), 1);
    assert_int_equal(heap_monitor_get_failed_alloc_count(MALLOC_CAP_8BIT), 3);
    assert_int_equal(heap_monitor_get_failed_alloc_count(MALLOC_CAP_DMA), 1);
    assert_int_equal(heap_monitor_get_failed_alloc_count(MALLOC_CAP_EXEC), 0);

    heap_monitor_failed_alloc_t list[8];
    size_t n = 99;
    assert_int_equal(heap_monitor_get_failed_allocs(list, 8, &n), ESP_OK);
    assert_int_equal(n, 3);
    assert_int_equal(list[0].caps, PSRAM);
    assert_int_equal(list[0].count, 2);
    assert_int_equal(list[0].largest_request, 100);
    assert_int_equal(list[1].caps, SRAM);
    assert_int_equal(list[1].largest_request, 64u << 20);
    assert_int_equal(list[2].caps, MALLOC_CAP_DMA);
    assert_int_equal(heap_monitor_get_failed_allocs(list, 1, &n), ESP_OK);
    assert_int_equal(n, 1);

    heap_stats_t s;
    assert_int_equal(heap_monitor_get_stats(&s), ESP_OK);
    assert_int_equal(s.failed_allocations, 4);

    heap_monitor_reset_failed_allocs();
    assert_int_equal(heap_monitor_get_failed_alloc_count(0), 0);
    assert_int_equal(heap_monitor_get_failed_alloc_count(PSRAM), 0);
    assert_int_equal(heap_monitor_get_failed_allocs(list, 8, &n), ESP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(heap_monitor_get_failed_allocs(NULL, 1, &n), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_monitor_get_failed_allocs(list, 1, NULL), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_monitor_get_failed_allocs(NULL, 0, &n), ESP_OK);
    assert_int_equal(n, 0);
}

static void a_failed_plain_malloc_counts_as_malloc_cap_default(void **state)
{
    (void)state;
    g_chain_calls = 0;
    assert_int_equal(heap_monitor_set_alloc_failed_chain(chained), ESP_OK);
    /* every attempt fails: malloc() makes one, or two (internal, then any) with SPIRAM_USE_MALLOC */
    kraken_sim_fail_every(0, 1);
    void *p = malloc(32);
    kraken_sim_fault_clear();
    assert_null(p);
    /* ESP-IDF reports MALLOC_CAP_DEFAULT, with MALLOC_CAP_INTERNAL added when malloc() never uses
     * PSRAM (CONFIG_SPIRAM_USE_CAPS_ALLOC or no PSRAM): counted under MALLOC_CAP_DEFAULT either way */
    assert_int_equal(heap_monitor_get_failed_alloc_count(MALLOC_CAP_DEFAULT), 1);
    assert_int_equal(g_chain_calls, 1);
    assert_true(g_chain_caps & MALLOC_CAP_DEFAULT);
    assert_int_equal(heap_monitor_set_alloc_failed_chain(NULL), ESP_OK);
    kraken_sim_fail_every(0, 1);
    p = malloc(32);
    kraken_sim_fault_clear();
    assert_null(p);
    assert_int_equal(g_chain_calls, 1);
    assert_int_equal(heap_monitor_get_failed_alloc_count(0), 2);
}

static unsigned g_own_hook_calls;
static void own_hook(size_t size, uint32_t caps, const char *function)
{
    (void)size;
    (void)caps;
    (void)function;
    g_own_hook_calls++;
}

static void the_monitor_never_replaces_a_hook_it_was_not_asked_to(void **state)
{
    (void)state;
    /* an application with its own failed-alloc hook, using the monitor without heap_monitor_init */
    assert_int_equal(heap_caps_register_failed_alloc_callback(own_hook), ESP_OK);
    g_own_hook_calls = 0;
    heap_stats_t s;
    assert_int_equal(heap_monitor_get_stats(&s), ESP_OK);
    assert_true(heap_monitor_check_health());
    assert_int_equal(heap_monitor_sample_now(NULL), ESP_OK);
    assert_int_equal(heap_monitor_get_json(NULL, 0, NULL), ESP_ERR_INVALID_SIZE);
    capture_log_stats("tag");
    recorder_t r = {0};
    assert_int_equal(heap_monitor_register_callback(1000, SRAM, record, &r), ESP_OK);
    assert_null(heap_caps_malloc(64u << 20, SRAM));
    assert_int_equal(g_own_hook_calls, 1);
    assert_int_equal(heap_monitor_get_failed_alloc_count(0), 0); /* not counted: not asked to */
    /* after heap_monitor_init the monitor counts, and chains to whoever asks */
    assert_int_equal(heap_monitor_init(), ESP_OK);
    assert_int_equal(heap_monitor_set_alloc_failed_chain(own_hook), ESP_OK);
    assert_null(heap_caps_malloc(64u << 20, SRAM));
    assert_int_equal(g_own_hook_calls, 2);
    assert_int_equal(heap_monitor_get_failed_alloc_count(SRAM), 1);
}

static void masks_beyond_the_table_still_count_in_the_total(void **state)
{
    (void)state;
    const uint32_t masks[] = {
        MALLOC_CAP_8BIT, MALLOC_CAP_32BIT, MALLOC_CAP_INTERNAL, MALLOC_CAP_DMA, MALLOC_CAP_DEFAULT,
        SRAM, PSRAM, MALLOC_CAP_32BIT | MALLOC_CAP_INTERNAL, MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL,
        MALLOC_CAP_SPIRAM, MALLOC_CAP_SPIRAM | MALLOC_CAP_32BIT, MALLOC_CAP_RTCRAM,
    };
    const size_t n = sizeof masks / sizeof masks[0];
    if (n <= CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_FAILED_ALLOC_SLOTS) {
        print_message("skipped: the test needs more masks (%d) than ..._FAILED_ALLOC_SLOTS (%d)\n",
                      (int)n, CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_FAILED_ALLOC_SLOTS);
        skip();
    }
    for (size_t i = 0; i < n; i++) {
        assert_null(heap_caps_malloc(64u << 20, masks[i]));
    }
    assert_int_equal(heap_monitor_get_failed_alloc_count(0), n);
    heap_monitor_failed_alloc_t list[64];
    size_t count;
    assert_int_equal(heap_monitor_get_failed_allocs(list, 64, &count), ESP_OK);
    assert_int_equal(count, CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_FAILED_ALLOC_SLOTS);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(list[i].caps, masks[i]);
        assert_int_equal(list[i].count, 1);
    }
    assert_int_equal(heap_monitor_get_failed_alloc_count(masks[n - 1]), 0);
}

typedef struct {
    long rounds;
    uint32_t caps;
} failer_arg_t;

static void *failer(void *arg)
{
    const failer_arg_t *a = arg;
    for (long i = 0; i < a->rounds; i++) {
        void *p = heap_caps_malloc(64u << 20, a->caps);
        if (p != NULL) {
            heap_caps_free(p);
        }
    }
    return NULL;
}

static void concurrent_failures_are_all_counted(void **state)
{
    (void)state;
    NEED_KCONFIG(CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_FAILED_ALLOC_SLOTS, 3); /* SRAM, PSRAM, DMA */
    const long rounds = iterations(2000);
    failer_arg_t args[4] = {{rounds, SRAM}, {rounds, PSRAM}, {rounds, SRAM}, {rounds, MALLOC_CAP_DMA}};
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, failer, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
    }
    assert_int_equal(heap_monitor_get_failed_alloc_count(0), 4 * rounds);
    assert_int_equal(heap_monitor_get_failed_alloc_count(SRAM), 2 * rounds);
    assert_int_equal(heap_monitor_get_failed_alloc_count(PSRAM), rounds);
    assert_int_equal(heap_monitor_get_failed_alloc_count(MALLOC_CAP_DMA), rounds);
}

/* ---- sampler ------------------------------------------------------------------------------------- */

static void a_sample_holds_the_figures_at_the_time(void **state)
{
    (void)state;
    void *pool_block = memory_pool_alloc(1); /* a Small block */
    assert_non_null(pool_block);
    memory_pool_stats_t pools;
    assert_int_equal(memory_pool_get_stats(&pools), ESP_OK);
    void *p = heap_caps_malloc(12345, SRAM);
    assert_null(heap_caps_malloc(64u << 20, SRAM));
    heap_monitor_sample_t s;
    int64_t before = esp_timer_get_time();
    assert_int_equal(heap_monitor_sample_now(&s), ESP_OK);
    assert_int_equal(s.sequence, 1);
    assert_true(s.timestamp_us >= before && s.timestamp_us <= esp_timer_get_time());
    assert_int_equal(s.internal.free_bytes, heap_caps_get_free_size(SRAM));
    assert_int_equal(s.internal.largest_free_block, heap_caps_get_largest_free_block(SRAM));
    assert_int_equal(s.internal.fragmentation_percent,
                     expected_fragmentation(s.internal.free_bytes, s.internal.largest_free_block));
    assert_int_equal(s.psram.free_bytes, heap_caps_get_free_size(PSRAM));
    assert_int_equal(s.psram.largest_free_block, heap_caps_get_largest_free_block(PSRAM));
    assert_int_equal(s.failed_allocations, 1);
    for (size_t c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        assert_int_equal(s.pool_in_use[c], pools.classes[c].in_use);
    }
    assert_true(s.pool_in_use[0] >= 1);
    heap_monitor_sample_t copy;
    size_t n;
    assert_int_equal(heap_monitor_get_samples(&copy, 1, &n), ESP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(copy.sequence, s.sequence);
    assert_int_equal(copy.timestamp_us, s.timestamp_us);
    assert_int_equal(copy.internal.free_bytes, s.internal.free_bytes);
    assert_int_equal(copy.internal.largest_free_block, s.internal.largest_free_block);
    assert_int_equal(copy.psram.free_bytes, s.psram.free_bytes);
    assert_int_equal(copy.psram.fragmentation_percent, s.psram.fragmentation_percent);
    assert_int_equal(copy.pool_in_use[0], s.pool_in_use[0]);
    assert_int_equal(copy.failed_allocations, s.failed_allocations);
    heap_caps_free(p);
    memory_pool_free(pool_block);
}

/* A low-memory callback that frees memory and samples again: its sample is the newest, after the
 * one that found memory low (it came first, with the older time and the low figure, before). */
static void *g_ballast;

static void release_and_sample(const heap_monitor_event_t *event, void *ctx)
{
    (void)ctx;
    if (event->low && g_ballast != NULL) {
        heap_caps_free(g_ballast);
        g_ballast = NULL;
        assert_int_equal(heap_monitor_sample_now(NULL), ESP_OK);
    }
}

static void a_sample_taken_by_a_callback_comes_after_the_one_that_fired_it(void **state)
{
    (void)state;
    const size_t free0 = heap_caps_get_free_size(SRAM);
    g_ballast = heap_caps_malloc(100000, SRAM);
    assert_non_null(g_ballast);
    assert_int_equal(heap_monitor_register_callback(free0 - 50000, SRAM, release_and_sample, NULL),
                     ESP_OK);
    heap_monitor_sample_t fired;
    assert_int_equal(heap_monitor_sample_now(&fired), ESP_OK);
    assert_null(g_ballast); /* the callback ran */
    heap_monitor_sample_t out[4];
    size_t n = 0;
    assert_int_equal(heap_monitor_get_samples(out, 4, &n), ESP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].sequence, fired.sequence);
    assert_true(out[0].internal.free_bytes < free0 - 50000); /* the low one */
    assert_int_equal(out[1].sequence, fired.sequence + 1);
    assert_true(out[1].timestamp_us >= out[0].timestamp_us);
    assert_true(out[1].internal.free_bytes >= free0 - 50000); /* the newest: recovered */
}

static void the_ring_buffer_keeps_the_newest_samples_in_order(void **state)
{
    (void)state;
    NEED_KCONFIG(CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_SAMPLE_COUNT, 4); /* 3 is fewer than it */
    const size_t cap = heap_monitor_sample_capacity();
    assert_int_equal(cap, CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_SAMPLE_COUNT);
    static heap_monitor_sample_t out[CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_SAMPLE_COUNT + 8];
    size_t n = 99;
    assert_int_equal(heap_monitor_get_samples(out, cap, &n), ESP_OK);
    assert_int_equal(n, 0);
    /* fewer than the capacity: all of them, oldest first */
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(heap_monitor_sample_now(NULL), ESP_OK);
    }
    assert_int_equal(heap_monitor_get_samples(out, cap + 8, &n), ESP_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(out[i].sequence, i + 1);
    }
    /* wrap around twice and a bit: the newest `cap` remain, in order, each with its own figures */
    void *blocks[8] = {0};
    const size_t total = 2 * cap + 5;
    for (size_t i = 3; i < total; i++) {
        if (i >= total - 8) {
            blocks[i - (total - 8)] = heap_caps_malloc(1000, SRAM);
        }
        assert_int_equal(heap_monitor_sample_now(NULL), ESP_OK);
    }
    assert_int_equal(heap_monitor_get_samples(out, cap + 8, &n), ESP_OK);
    assert_int_equal(n, cap);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(out[i].sequence, total - cap + 1 + i);
        if (i > 0) {
            assert_true(out[i].timestamp_us >= out[i - 1].timestamp_us);
        }
    }
    /* the last 8 samples each saw one more 1000-byte block */
    for (size_t i = cap - 7; i < cap; i++) {
        assert_true(out[i].internal.free_bytes < out[i - 1].internal.free_bytes);
    }
    /* asking for fewer gives the newest */
    assert_int_equal(heap_monitor_get_samples(out, 2, &n), ESP_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].sequence, total - 1);
    assert_int_equal(out[1].sequence, total);
    assert_int_equal(heap_monitor_get_samples(out, 0, &n), ESP_OK);
    assert_int_equal(n, 0);
    /* clearing forgets the samples, not the sequence */
    heap_monitor_clear_samples();
    assert_int_equal(heap_monitor_get_samples(out, cap, &n), ESP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(heap_monitor_sample_now(NULL), ESP_OK);
    assert_int_equal(heap_monitor_get_samples(out, cap, &n), ESP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].sequence, total + 1);
    assert_int_equal(heap_monitor_get_samples(NULL, 1, &n), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_monitor_get_samples(out, 1, NULL), ESP_ERR_INVALID_ARG);
    for (size_t i = 0; i < 8; i++) {
        heap_caps_free(blocks[i]);
    }
}

static size_t stored_samples(void)
{
    size_t n = 0;
    assert_int_equal(heap_monitor_get_samples(NULL, 0, &n), ESP_OK);
    static heap_monitor_sample_t out[CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_SAMPLE_COUNT];
    assert_int_equal(heap_monitor_get_samples(out, CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_SAMPLE_COUNT,
                                              &n),
                     ESP_OK);
    return n;
}

/* A sampler task that cannot be created (its stack, then its TCB, from the internal heap as on
 * the chip): ESP_ERR_NO_MEM, nothing left behind (no heap byte, no semaphore: the next start
 * works), not running. */
static void a_sampler_start_without_memory_fails_and_leaves_nothing(void **state)
{
    (void)state;
    const size_t free_before = heap_caps_get_free_size(SRAM);
    for (unsigned fail_at = 0; fail_at < 2; fail_at++) { /* the stack, then the TCB */
        if (fail_at == 0) {
            kraken_sim_fail_next(0, 1);
        } else {
            kraken_sim_fail_every(0, 2); /* the stack is had, the TCB is not */
        }
        const esp_err_t err = heap_monitor_sampler_start(1000);
        kraken_sim_fault_clear();
        assert_int_equal(err, ESP_ERR_NO_MEM);
        assert_false(heap_monitor_sampler_running());
        assert_int_equal(heap_caps_get_free_size(SRAM), free_before);
        assert_int_equal(stored_samples(), 0); /* it never ran */
    }
    assert_int_equal(heap_monitor_sampler_start(1000), ESP_OK);
    assert_true(heap_monitor_sampler_running());
    assert_int_equal(heap_monitor_sampler_stop(), ESP_OK);
}

static void the_sampler_task_samples_periodically_until_stopped(void **state)
{
    (void)state;
    NEED_KCONFIG(CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_SAMPLE_COUNT, 4);
    assert_false(heap_monitor_sampler_running());
    assert_int_equal(heap_monitor_sampler_stop(), ESP_ERR_INVALID_STATE);
    /* the ports' wait-forever value: one sample, then none, not a period */
    assert_int_equal(heap_monitor_sampler_start(UINT32_MAX), ESP_ERR_INVALID_ARG);
    assert_false(heap_monitor_sampler_running());
    assert_int_equal(heap_monitor_sampler_start(5), ESP_OK);
    assert_true(heap_monitor_sampler_running());
    assert_int_equal(heap_monitor_sampler_start(5), ESP_ERR_INVALID_STATE);
    for (int waited = 0; stored_samples() < 4 && waited < 10000; waited += 5) {
        sleep_ms(5);
    }
    assert_true(stored_samples() >= 4);
    assert_int_equal(heap_monitor_sampler_stop(), ESP_OK);
    assert_false(heap_monitor_sampler_running());
    size_t n = stored_samples();
    sleep_ms(30);
    assert_int_equal(stored_samples(), n); /* stopped means stopped */
    static heap_monitor_sample_t out[CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_SAMPLE_COUNT];
    assert_int_equal(heap_monitor_get_samples(out, n, &n), ESP_OK);
    for (size_t i = 1; i < n; i++) {
        assert_int_equal(out[i].sequence, out[i - 1].sequence + 1);
        assert_true(out[i].timestamp_us - out[i - 1].timestamp_us >= 5000);
    }
    /* it can be started again, with the Kconfig default period */
    assert_int_equal(heap_monitor_sampler_start(0), ESP_OK);
    char json[2048];
    assert_int_equal(heap_monitor_get_json(json, sizeof json, NULL), ESP_OK);
    char expect[64];
    snprintf(expect, sizeof expect, "\"sampler\":{\"running\":true,\"period_ms\":%d,",
             CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_SAMPLE_PERIOD_MS);
    assert_non_null(strstr(json, expect));
    assert_int_equal(heap_monitor_sampler_stop(), ESP_OK);
}

static atomic_int g_in_task_stop = ATOMIC_VAR_INIT(-1);
static atomic_int g_in_task_deinit = ATOMIC_VAR_INIT(-1);
static void stop_from_inside(const heap_monitor_event_t *event, void *ctx)
{
    (void)event;
    (void)ctx;
    atomic_store(&g_in_task_stop, heap_monitor_sampler_stop());
    atomic_store(&g_in_task_deinit, heap_monitor_deinit());
}

/* Task creation (the host port's pthread_create) made slow on demand: linked with
 * -Wl,--wrap=pthread_create (tests/CMakeLists.txt). */
int __real_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg);
int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg);
static atomic_bool g_slow_task_creation, g_creating;
int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg)
{
    if (atomic_load(&g_slow_task_creation)) {
        atomic_store(&g_creating, true);
        sleep_ms(100);
    }
    return __real_pthread_create(thread, attr, fn, arg);
}

static _Atomic esp_err_t g_start_result;
static void *start_sampler(void *arg)
{
    (void)arg;
    atomic_store(&g_slow_task_creation, true); /* for the sampler task this start creates */
    atomic_store(&g_start_result, heap_monitor_sampler_start(1000));
    return NULL;
}

static void deinit_during_a_sampler_start_leaves_no_sampler_running(void **state)
{
    (void)state;
    pthread_t t;
    atomic_store(&g_creating, false);
    assert_int_equal(pthread_create(&t, NULL, start_sampler, NULL), 0);
    for (int waited = 0; !atomic_load(&g_creating) && waited < 10000; waited++) {
        sleep_ms(1); /* until the start is creating its task (100 ms from then) */
    }
    assert_true(atomic_load(&g_creating));
    assert_int_equal(heap_monitor_deinit(), ESP_OK);
    assert_false(heap_monitor_sampler_running());
    pthread_join(t, NULL);
    atomic_store(&g_slow_task_creation, false);
    assert_int_equal(atomic_load(&g_start_result), ESP_OK); /* it started before deinit stopped it */
    assert_false(heap_monitor_sampler_running());
}

static void the_sampler_cannot_be_stopped_from_its_own_callbacks(void **state)
{
    (void)state;
    atomic_store(&g_in_task_stop, -1);
    atomic_store(&g_in_task_deinit, -1);
    assert_int_equal(heap_monitor_register_callback(SIZE_MAX, SRAM, stop_from_inside, NULL), ESP_OK);
    assert_int_equal(heap_monitor_sampler_start(1000), ESP_OK); /* samples at once */
    for (int waited = 0; atomic_load(&g_in_task_deinit) == -1 && waited < 10000; waited += 2) {
        sleep_ms(2);
    }
    assert_int_equal(atomic_load(&g_in_task_stop), ESP_ERR_INVALID_STATE);
    assert_int_equal(atomic_load(&g_in_task_deinit), ESP_ERR_INVALID_STATE);
    assert_true(heap_monitor_sampler_running());
    assert_int_equal(heap_monitor_sampler_stop(), ESP_OK); /* stops promptly despite 1 s period */
}

/* A callback in the sampler task that calls deinit while another task is stopping the sampler:
 * deinit must answer INVALID_STATE, not wait for its own task to end (both hung before). */
static atomic_int g_deinit_while_stopping;
static atomic_bool g_callback_entered;

static void deinit_while_being_stopped(const heap_monitor_event_t *event, void *ctx)
{
    (void)ctx;
    if (!event->low || atomic_exchange(&g_callback_entered, true)) {
        return;
    }
    while (heap_monitor_sampler_running()) { /* until the stop below has begun */
        sleep_ms(1);
    }
    atomic_store(&g_deinit_while_stopping, heap_monitor_deinit());
}

static void *stop_sampler(void *arg)
{
    *(esp_err_t *)arg = heap_monitor_sampler_stop();
    return NULL;
}

static void deinit_from_the_sampler_while_another_task_stops_it_is_refused(void **state)
{
    (void)state;
    atomic_store(&g_deinit_while_stopping, -1);
    atomic_store(&g_callback_entered, false);
    assert_int_equal(
        heap_monitor_register_callback(SIZE_MAX, SRAM, deinit_while_being_stopped, NULL), ESP_OK);
    assert_int_equal(heap_monitor_sampler_start(1000), ESP_OK); /* samples at once */
    for (int waited = 0; !atomic_load(&g_callback_entered) && waited < 10000; waited += 2) {
        sleep_ms(2);
    }
    esp_err_t stopped = ESP_FAIL;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_sampler, &stopped), 0);
    for (int waited = 0; atomic_load(&g_deinit_while_stopping) == -1 && waited < 5000;
         waited += 2) {
        sleep_ms(2);
    }
    assert_int_equal(atomic_load(&g_deinit_while_stopping), ESP_ERR_INVALID_STATE);
    pthread_join(th, NULL);
    assert_int_equal(stopped, ESP_OK);
    assert_false(heap_monitor_sampler_running());
}

static atomic_bool g_stop_sampling;

static void *sample_fast(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_stop_sampling)) {
        heap_monitor_sample_now(NULL);
    }
    return NULL;
}

/* Samples written while the ring is read (a few per hold of the lock): every copy is the newest
 * samples of one moment, oldest first, with consecutive sequence numbers (run under TSan too). */
static void samples_read_while_written_are_consecutive(void **state)
{
    (void)state;
    const size_t cap = heap_monitor_sample_capacity();
    for (size_t i = 0; i < cap; i++) {
        assert_int_equal(heap_monitor_sample_now(NULL), ESP_OK);
    }
    static heap_monitor_sample_t out[CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_SAMPLE_COUNT];
    pthread_t writers[2];
    atomic_store(&g_stop_sampling, false);
    for (int w = 0; w < 2; w++) {
        assert_int_equal(pthread_create(&writers[w], NULL, sample_fast, NULL), 0);
    }
    uint32_t newest = 0;
    for (int round = 0; round < 2000; round++) {
        size_t n = 0;
        assert_int_equal(heap_monitor_get_samples(out, cap, &n), ESP_OK);
        assert_int_equal(n, cap);
        for (size_t i = 1; i < n; i++) {
            assert_int_equal(out[i].sequence, out[0].sequence + i);
        }
        assert_true(out[n - 1].sequence >= newest); /* never older than an earlier copy */
        newest = out[n - 1].sequence;
    }
    atomic_store(&g_stop_sampling, true);
    for (int w = 0; w < 2; w++) {
        pthread_join(writers[w], NULL);
    }
}

static void *deinit_monitor(void *arg)
{
    *(esp_err_t *)arg = heap_monitor_deinit();
    return NULL;
}

/* A stop and a deinit in two tasks at once, over and over: the stop succeeds or finds the sampler
 * being stopped or gone, the deinit always succeeds, and no sampler is left (run under TSan, also
 * with the chip's port: its task join and the deinit's "is the caller the sampler?" meet). */
static void a_stop_and_a_deinit_at_once_leave_no_sampler(void **state)
{
    (void)state;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(heap_monitor_sampler_start(10), ESP_OK);
        esp_err_t stopped = ESP_FAIL, reset = ESP_FAIL;
        pthread_t a, b;
        assert_int_equal(pthread_create(&a, NULL, stop_sampler, &stopped), 0);
        assert_int_equal(pthread_create(&b, NULL, deinit_monitor, &reset), 0);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        assert_true(stopped == ESP_OK || stopped == ESP_ERR_INVALID_STATE);
        assert_int_equal(reset, ESP_OK);
        assert_false(heap_monitor_sampler_running());
    }
}

/* Sampler, allocating threads and readers at once: run under TSan. */
typedef struct {
    atomic_int lows;
    atomic_int recoveries;
} atomic_recorder_t;

static void record_atomic(const heap_monitor_event_t *event, void *ctx)
{
    atomic_recorder_t *r = ctx;
    atomic_fetch_add(event->low ? &r->lows : &r->recoveries, 1);
}

static atomic_bool g_stop_workers;

static void *churner(void *arg)
{
    uint32_t caps = *(const uint32_t *)arg;
    void *held[16] = {0};
    unsigned i = 0;
    while (!atomic_load(&g_stop_workers)) {
        unsigned slot = i++ % 16u;
        heap_caps_free(held[slot]);
        held[slot] = heap_caps_malloc(1000u + (i * 7919u) % 9000u, caps);
    }
    for (unsigned k = 0; k < 16; k++) {
        heap_caps_free(held[k]);
    }
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    static char json[4096];
    heap_monitor_sample_t out[8];
    /* static: a delivery already under way in the sampler may land after unregister returns */
    static atomic_recorder_t extra;
    while (!atomic_load(&g_stop_workers)) {
        heap_stats_t s;
        size_t n;
        heap_monitor_get_stats(&s);
        heap_monitor_get_samples(out, 8, &n);
        heap_monitor_get_json(json, sizeof json, NULL);
        heap_monitor_register_callback(s.internal.total_free_bytes, SRAM, record_atomic, &extra);
        heap_monitor_check_health();
        heap_monitor_unregister_callback(record_atomic, &extra);
        heap_monitor_get_failed_alloc_count(SRAM);
    }
    return NULL;
}

static void the_sampler_runs_safely_beside_allocating_and_reading_tasks(void **state)
{
    (void)state;
    atomic_recorder_t r = {0};
    size_t threshold = heap_caps_get_free_size(SRAM) - 40000;
    assert_int_equal(heap_monitor_register_callback(threshold, SRAM, record_atomic, &r), ESP_OK);
    atomic_store(&g_stop_workers, false);
    assert_int_equal(heap_monitor_sampler_start(1), ESP_OK);
    static uint32_t caps_sram = SRAM, caps_psram = PSRAM;
    pthread_t threads[3];
    assert_int_equal(pthread_create(&threads[0], NULL, churner, &caps_sram), 0);
    assert_int_equal(pthread_create(&threads[1], NULL, churner, has_psram() ? &caps_psram : &caps_sram), 0);
    assert_int_equal(pthread_create(&threads[2], NULL, reader, NULL), 0);
    sleep_ms((unsigned)iterations(300));
    atomic_store(&g_stop_workers, true);
    for (int i = 0; i < 3; i++) {
        pthread_join(threads[i], NULL);
    }
    assert_int_equal(heap_monitor_sampler_stop(), ESP_OK);
    /* at rest, above the threshold: every fall was followed by exactly one recovery */
    heap_monitor_check_health();
    assert_int_equal(atomic_load(&r.lows), atomic_load(&r.recoveries));
    assert_true(stored_samples() >= 2);
}

/* ---- JSON ------------------------------------------------------------------------------------------ */

/* A strict little JSON checker: objects, arrays, strings without escapes, numbers, literals. */
static const char *json_value(const char *p);
static const char *json_string(const char *p)
{
    if (*p++ != '"') {
        return NULL;
    }
    while (*p != '"') {
        if (*p == '\0' || *p == '\\' || (unsigned char)*p < 0x20) {
            return NULL;
        }
        p++;
    }
    return p + 1;
}
static const char *json_value(const char *p)
{
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        bool object = *p == '{';
        p++;
        if (*p == close) {
            return p + 1;
        }
        for (;;) {
            if (object) {
                p = json_string(p);
                if (p == NULL || *p++ != ':') {
                    return NULL;
                }
            }
            p = json_value(p);
            if (p == NULL) {
                return NULL;
            }
            if (*p == close) {
                return p + 1;
            }
            if (*p++ != ',') {
                return NULL;
            }
        }
    }
    if (*p == '"') {
        return json_string(p);
    }
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
        p += *p == '-';
        if (!(*p >= '0' && *p <= '9')) {
            return NULL;
        }
        while (*p >= '0' && *p <= '9') {
            p++;
        }
        return p;
    }
    const char *literals[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t len = strlen(literals[i]);
        if (strncmp(p, literals[i], len) == 0) {
            return p + len;
        }
    }
    return NULL;
}
static bool json_valid(const char *text)
{
    const char *end = json_value(text);
    return end != NULL && *end == '\0';
}

static void json_checker_rejects_broken_json(void **state)
{
    (void)state;
    assert_true(json_valid("{\"a\":[1,2,{\"b\":null}],\"c\":true,\"d\":-3}"));
    assert_false(json_valid("{\"a\":1,}"));
    assert_false(json_valid("{\"a\":1"));
    assert_false(json_valid("{\"a\" 1}"));
    assert_false(json_valid("[1,2]x"));
    assert_false(json_valid(""));
}

static size_t json_number(const char *json, const char *path)
{
    const char *at = strstr(json, path);
    assert_non_null(at);
    unsigned long long v = 0;
    assert_int_equal(sscanf(at + strlen(path), "%llu", &v), 1);
    return (size_t)v;
}

static void the_json_snapshot_parses_and_carries_the_figures(void **state)
{
    (void)state;
    void *p = heap_caps_malloc(3000, SRAM);
    kraken_sim_fail_next(0, 1);
    assert_null(heap_caps_malloc(77, PSRAM));
    assert_int_equal(heap_monitor_sample_now(NULL), ESP_OK);
    static char json[4096];
    size_t len = 0;
    assert_int_equal(heap_monitor_get_json(json, sizeof json, &len), ESP_OK);
    assert_int_equal(len, strlen(json));
    assert_true(json_valid(json));
    heap_stats_t s;
    assert_int_equal(heap_monitor_get_stats(&s), ESP_OK);
    assert_int_equal(json_number(json, "\"internal\":{\"total\":"), s.internal.total_bytes);
    assert_int_equal(json_number(json, "\"internal\":{\"total\":"), heap_caps_get_total_size(SRAM));
    const char *internal = strstr(json, "\"internal\":");
    assert_int_equal(json_number(internal, "\"free\":"), heap_caps_get_free_size(SRAM));
    assert_int_equal(json_number(internal, "\"largest\":"), heap_caps_get_largest_free_block(SRAM));
    assert_int_equal(json_number(internal, "\"min_free\":"), heap_caps_get_minimum_free_size(SRAM));
    assert_int_equal(json_number(internal, "\"fragmentation\":"), s.internal.fragmentation_percent);
    assert_int_equal(json_number(json, "\"heap\":{\"total\":"), s.total_bytes);
    const char *psram = strstr(json, "\"psram\":{\"present\":");
    assert_non_null(psram);
    assert_int_equal(strncmp(psram + strlen("\"psram\":{\"present\":"), has_psram() ? "true" : "false",
                             has_psram() ? 4 : 5),
                     0);
    assert_int_equal(json_number(psram, "\"free\":"), heap_caps_get_free_size(PSRAM));
    assert_int_equal(json_number(json, "\"failed_allocs\":{\"total\":"), 1);
    char expect[128];
    snprintf(expect, sizeof expect, "\"by_caps\":[{\"caps\":%u,\"count\":1,\"largest_request\":77}]",
             (unsigned)PSRAM);
    assert_non_null(strstr(json, expect));
    assert_non_null(strstr(json, "\"healthy\":true,\"issues\":0,"));
    assert_non_null(strstr(json, "\"pools\":[{\"block_size\":"));
    assert_non_null(strstr(json, "\"sampler\":{\"running\":false,\"period_ms\":0,\"samples\":1}}"));
    heap_caps_free(p);
}

static void an_unhealthy_heap_shows_in_the_json(void **state)
{
    (void)state;
    heap_monitor_thresholds_t t = {.fragmentation_percent = 100, .min_free_internal = SIZE_MAX};
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    static char json[4096];
    assert_int_equal(heap_monitor_get_json(json, sizeof json, NULL), ESP_OK);
    char expect[64];
    snprintf(expect, sizeof expect, "\"healthy\":false,\"issues\":%u,",
             (unsigned)HEAP_MONITOR_ISSUE_INTERNAL_LOW_FREE);
    assert_non_null(strstr(json, expect));
}

static void a_too_small_buffer_is_refused_never_truncated(void **state)
{
    (void)state;
    size_t need = 0;
    assert_int_equal(heap_monitor_get_json(NULL, 0, &need), ESP_ERR_INVALID_SIZE);
    assert_true(need > 100);
    static char json[4096];
    memset(json, 'x', sizeof json);
    size_t len = 0;
    assert_int_equal(heap_monitor_get_json(json, need, &len), ESP_ERR_INVALID_SIZE); /* no NUL room */
    assert_int_equal(len, need);
    assert_int_equal(json[0], '\0');
    memset(json, 'x', sizeof json);
    assert_int_equal(heap_monitor_get_json(json, 10, &len), ESP_ERR_INVALID_SIZE);
    assert_int_equal(json[0], '\0');
    assert_int_equal(json[10], 'x'); /* nothing written past the buffer */
    assert_int_equal(heap_monitor_get_json(json, 1, NULL), ESP_ERR_INVALID_SIZE);
    assert_int_equal(json[0], '\0');
    assert_int_equal(heap_monitor_get_json(NULL, 10, &len), ESP_ERR_INVALID_ARG);
    memset(json, 'x', sizeof json);
    assert_int_equal(heap_monitor_get_json(json, need + 1, &len), ESP_OK);
    assert_int_equal(len, need);
    assert_int_equal(strlen(json), need);
    assert_int_equal(json[need + 1], 'x');
    assert_true(json_valid(json));
}

static size_t decimal_width(unsigned long long max)
{
    size_t n = 1;
    while (max >= 10) {
        max /= 10;
        n++;
    }
    return n;
}

/* The length `json` would have with every number at its field's widest (by the field's type in the
 * headers) and every flag "false": the longest snapshot of the same shape. */
static size_t widest_json_length(const char *json)
{
    static const struct {
        const char *key;
        size_t width;
    } fields[] = {
        {"\"timestamp_us\":", 20}, /* "-9223372036854775808" */
        {"\"fragmentation\":", 3}, {"\"issues\":", 10},    {"\"caps\":", 10},
        {"\"count\":", 10},        {"\"capacity\":", 10},  {"\"in_use\":", 10},
        {"\"peak\":", 10},         {"\"fallbacks\":", 10}, {"\"failures\":", 10},
        {"\"period_ms\":", 10},
        {"\"failed_allocs\":{\"total\":", 10}, /* a uint32_t; the regions' totals are size_t */
    };
    size_t len = strlen(json);
    for (const char *p = json; *p != '\0'; p++) {
        if (strncmp(p, ":true", 5) == 0) {
            len++;
            continue;
        }
        if (*p != ':' || !(p[1] == '-' || (p[1] >= '0' && p[1] <= '9'))) {
            continue;
        }
        size_t width = decimal_width(SIZE_MAX); /* the other numbers are size_t */
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            const size_t k = strlen(fields[f].key);
            if ((size_t)(p + 1 - json) >= k && strncmp(p + 1 - k, fields[f].key, k) == 0) {
                width = fields[f].width;
            }
        }
        size_t digits = strspn(p + 1, "-0123456789");
        assert_true(digits <= width);
        len += width - digits;
    }
    return len;
}

/* heap_monitor_json_max_length() is the length of the snapshot with every figure at its widest: a
 * buffer of that size + 1 always takes it. Checked against a snapshot of the longest shape (every
 * failed-allocation slot taken, the pools' figures present), widened number by number. */
static void the_json_max_length_is_the_longest_snapshot(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_FAILED_ALLOC_SLOTS; i++) {
        assert_null(heap_caps_malloc(SIZE_MAX - i, UINT32_MAX - i)); /* no heap has those caps */
    }
    const size_t max = heap_monitor_json_max_length();
    char *json = malloc(max + 1);
    assert_non_null(json);
    size_t len = 0;
    assert_int_equal(heap_monitor_get_json(json, max + 1, &len), ESP_OK);
    assert_true(json_valid(json));
    char expect[96];
    snprintf(expect, sizeof expect, "{\"caps\":%u,\"count\":1,\"largest_request\":%llu}]",
             (unsigned)(UINT32_MAX - (CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_FAILED_ALLOC_SLOTS - 1)),
             (unsigned long long)(SIZE_MAX - (CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_FAILED_ALLOC_SLOTS - 1)));
    assert_non_null(strstr(json, expect)); /* the last slot is in */
    assert_non_null(strstr(json, "\"pools\":[{"));
    assert_int_equal(widest_json_length(json), max);
    assert_int_equal(heap_monitor_json_max_length(), max); /* a constant of the build */
#if CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_FAILED_ALLOC_SLOTS == 8
    if (sizeof(size_t) == 4) { /* the figure heap_monitor.h gives for the chip's defaults */
        assert_int_equal(max, 1620);
    }
#endif
    free(json);
}

/* ---- bad input ---------------------------------------------------------------------------------- */

static void null_arguments_get_invalid_arg(void **state)
{
    (void)state;
    heap_region_stats_t r;
    assert_int_equal(heap_monitor_get_stats(NULL), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_monitor_get_caps_stats(SRAM, NULL), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_monitor_get_caps_stats(0, &r), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_monitor_count_blocks(NULL), ESP_ERR_INVALID_ARG);
    heap_monitor_log_stats(NULL); /* default tag, no crash */
}

static void deinit_returns_the_monitor_to_its_boot_state(void **state)
{
    (void)state;
    recorder_t r = {0};
    assert_int_equal(heap_monitor_register_callback(SIZE_MAX, SRAM, record, &r), ESP_OK);
    heap_monitor_thresholds_t t = {.fragmentation_percent = 1};
    assert_int_equal(heap_monitor_set_thresholds(&t), ESP_OK);
    assert_int_equal(heap_monitor_sample_now(NULL), ESP_OK);
    assert_null(heap_caps_malloc(64u << 20, SRAM));
    assert_int_equal(heap_monitor_sampler_start(50), ESP_OK);
    assert_int_equal(heap_monitor_deinit(), ESP_OK);
    assert_false(heap_monitor_sampler_running());
    assert_int_equal(heap_monitor_get_failed_alloc_count(0), 0);
    assert_int_equal(stored_samples(), 0);
    heap_monitor_thresholds_t now;
    assert_int_equal(heap_monitor_get_thresholds(&now), ESP_OK);
    assert_int_equal(now.fragmentation_percent,
                     CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_FRAGMENTATION_THRESHOLD);
    assert_int_equal(heap_monitor_unregister_callback(record, &r), ESP_ERR_NOT_FOUND);
    heap_monitor_sample_t s;
    assert_int_equal(heap_monitor_sample_now(&s), ESP_OK);
    assert_int_equal(s.sequence, 1);
    /* the hook is still installed: failures keep being counted */
    assert_null(heap_caps_malloc(64u << 20, SRAM));
    assert_int_equal(heap_monitor_get_failed_alloc_count(0), 1);
}

/* ---- the program ------------------------------------------------------------------------------- */

#define T(test) cmocka_unit_test_setup_teardown(test, fresh_chip, teardown)

static const struct CMUnitTest tests[] = {
    T(fragmentation_formula_matches_hand_computed_values),
    T(stats_of_a_fresh_chip_are_the_chips_figures),
    T(psram_holes_give_exact_figures),
    T(sram_holes_give_exact_figures_and_an_unhealthy_verdict),
    T(caps_stats_cover_any_mask),
    T(block_counts_are_filled_only_on_request),
    T(memory_utils_and_the_monitor_agree_on_every_number),
    T(thresholds_start_at_the_kconfig_values),
    T(each_threshold_flags_its_own_issue),
    T(bad_thresholds_are_refused_and_change_nothing),
    T(a_corrupted_heap_is_unhealthy_when_integrity_is_checked),
    T(human_units_are_the_specs),
    T(log_stats_prints_the_specs_format_for_each_region),
    T(log_stats_marks_an_unhealthy_region_differently),
    T(log_stats_switches_to_mb_at_exactly_one_mib),
    T(log_stats_keeps_the_decimal_of_a_size_that_is_not_whole),
    T(crossing_and_recovery_fire_each_callback_once),
    T(a_threshold_already_crossed_is_reported_at_the_first_check),
    T(task_only_calls_from_an_isr_do_nothing_and_say_so),
    T(the_isr_ok_calls_work_from_an_isr),
    T(a_callback_for_memory_the_module_lacks_never_fires),
    T(exhausted_psram_is_reported_and_app_buffers_fall_back_to_sram),
    T(exhausted_internal_sram_reads_full_not_fragmented),
    T(every_call_that_reads_the_figures_checks_the_callbacks),
    T(a_callback_may_call_the_monitor_without_a_second_delivery),
    T(a_check_during_a_delivery_leaves_the_next_edge_to_the_deliverer),
    T(callback_registration_refuses_bad_input_and_a_full_table),
    T(failed_allocations_are_counted_per_caps),
    T(a_failed_plain_malloc_counts_as_malloc_cap_default),
    T(the_monitor_never_replaces_a_hook_it_was_not_asked_to),
    T(masks_beyond_the_table_still_count_in_the_total),
    T(concurrent_failures_are_all_counted),
    T(a_sample_holds_the_figures_at_the_time),
    T(the_ring_buffer_keeps_the_newest_samples_in_order),
    T(a_sample_taken_by_a_callback_comes_after_the_one_that_fired_it),
    T(a_sampler_start_without_memory_fails_and_leaves_nothing),
    T(the_sampler_task_samples_periodically_until_stopped),
    T(the_sampler_cannot_be_stopped_from_its_own_callbacks),
    T(deinit_from_the_sampler_while_another_task_stops_it_is_refused),
    T(a_stop_and_a_deinit_at_once_leave_no_sampler),
    T(samples_read_while_written_are_consecutive),
    T(deinit_during_a_sampler_start_leaves_no_sampler_running),
    T(the_sampler_runs_safely_beside_allocating_and_reading_tasks),
    T(json_checker_rejects_broken_json),
    T(the_json_snapshot_parses_and_carries_the_figures),
    T(an_unhealthy_heap_shows_in_the_json),
    T(a_too_small_buffer_is_refused_never_truncated),
    T(the_json_max_length_is_the_longest_snapshot),
    T(null_arguments_get_invalid_arg),
    T(deinit_returns_the_monitor_to_its_boot_state),
};

int main(void)
{
    static const kraken_sim_profile_t profiles[] = {KRAKEN_SIM_ESP32S3_N8R8, KRAKEN_SIM_ESP32S3_N8R2,
                                                    KRAKEN_SIM_ESP32S3_N8};
    static const char *const names[] = {"heap_monitor on esp32s3-n8r8", "heap_monitor on esp32s3-n8r2",
                                        "heap_monitor on esp32s3-n8"};
    int failed = 0;
    for (size_t i = 0; i < 3; i++) {
        g_profile = profiles[i];
        failed += _cmocka_run_group_tests(names[i], tests, sizeof tests / sizeof tests[0], NULL, NULL);
    }
    return failed;
}
