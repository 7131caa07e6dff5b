/* test_sim_heap_caps.c - ESP-IDF's heap_caps semantics on the simulated ESP32-S3, per profile. */
#define _POSIX_C_SOURCE 200809L /* capture_output.h */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture_output.h"
#include "esp_heap_caps.h"
#include "esp_memory_utils.h"
#include "esp_psram.h"
#include "esp_rom_sys.h"
#include "esp_system.h"
#include "kraken_sim.h"
#include "sdkconfig.h"
#include "sim_internal.h"
#include "test_support.h"

#define INTERNAL_8BIT (MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)
#define DCACHE_LINE CONFIG_ESP32S3_DATA_CACHE_LINE_SIZE /* PSRAM blocks' alignment */

static struct {
    unsigned calls;
    size_t size;
    uint32_t caps;
    char function[48];
} hook;

static void failed_hook(size_t size, uint32_t caps, const char *function_name)
{
    hook.calls++;
    hook.size = size;
    hook.caps = caps;
    strncpy(hook.function, function_name, sizeof hook.function - 1);
}

/* ESP-IDF with CONFIG_SPIRAM_USE_CAPS_ALLOC and BSS in PSRAM allowed (the spec's sdkconfig), set
 * explicitly so that these tests hold whatever sdkconfig the library was built with. */
static int boot_with(kraken_sim_profile_t profile, sim_policy_t policy)
{
    memset(&hook, 0, sizeof hook);
    if (sim_init_with_policy(profile, &policy) != ESP_OK) {
        return -1;
    }
    return heap_caps_register_failed_alloc_callback(failed_hook) == ESP_OK ? 0 : -1;
}

static int boot(kraken_sim_profile_t profile)
{
    return boot_with(profile, (sim_policy_t){.spiram = true, .bss_external = true});
}

static int boot_n8r8(void **state)
{
    (void)state;
    return boot(KRAKEN_SIM_ESP32S3_N8R8);
}

static int boot_n8r2(void **state)
{
    (void)state;
    return boot(KRAKEN_SIM_ESP32S3_N8R2);
}

static int boot_n8(void **state)
{
    (void)state;
    return boot(KRAKEN_SIM_ESP32S3_N8);
}

/* A CONFIG_SPIRAM_USE_MALLOC build (ESP-IDF's defaults: 16 KiB always internal, 32 KiB reserved). */
static int boot_use_malloc(kraken_sim_profile_t profile)
{
    return boot_with(profile, (sim_policy_t){.spiram = true,
                                             .use_malloc = true,
                                             .malloc_always_internal = 16384,
                                             .reserve_internal = 32768,
                                             .bss_external = true});
}

static int boot_n8r8_use_malloc(void **state)
{
    (void)state;
    return boot_use_malloc(KRAKEN_SIM_ESP32S3_N8R8);
}

static int boot_n8_use_malloc(void **state)
{
    (void)state;
    return boot_use_malloc(KRAKEN_SIM_ESP32S3_N8);
}

static bool has_psram(void)
{
    return esp_psram_is_initialized();
}

static bool in_region(const void *ptr, const kraken_sim_region_t *region)
{
    return (uintptr_t)ptr >= region->start && (uintptr_t)ptr < region->start + region->size;
}

/* The index of the heap that contains ptr (first match, as ESP-IDF searches), or -1. */
static int region_of(const void *ptr)
{
    for (size_t i = 0; i < kraken_sim_region_count(); i++) {
        kraken_sim_region_t region;
        assert_int_equal(kraken_sim_get_region(i, &region), ESP_OK);
        if (in_region(ptr, &region)) {
            return (int)i;
        }
    }
    return -1;
}

static kraken_sim_stats_t stats(void)
{
    kraken_sim_stats_t s;
    kraken_sim_get_stats(&s);
    return s;
}

/* ---- placement --------------------------------------------------------------------------------- */

static void internal_requests_land_in_the_smallest_internal_heap_first(void **state)
{
    (void)state;
    void *p = heap_caps_malloc(100, INTERNAL_8BIT);
    assert_non_null(p);
    assert_true(esp_ptr_internal(p));
    assert_false(esp_ptr_external_ram(p));
    assert_true(esp_ptr_dma_capable(p));
    kraken_sim_region_t region;
    assert_int_equal(kraken_sim_get_region((size_t)region_of(p), &region), ESP_OK);
    assert_string_equal(region.name, "RAM");
    assert_int_equal(region.size, 22308); /* the startup-stack heap sorts before the main one */
    heap_caps_free(p);
}

static void dma_requests_land_in_dma_capable_internal_ram(void **state)
{
    (void)state;
    void *p = heap_caps_malloc(256, MALLOC_CAP_DMA);
    assert_non_null(p);
    assert_true(esp_ptr_dma_capable(p));
    assert_true(esp_ptr_internal(p));
    assert_string_equal(sim_region_name_of(p), "RAM");
    heap_caps_free(p);
    /* DMA descriptors (ESP-IDF v5.3 on): DMA-capable memory too */
    void *desc = heap_caps_malloc(64, MALLOC_CAP_DMA_DESC_AHB);
    assert_non_null(desc);
    assert_true(esp_ptr_dma_capable(desc));
    heap_caps_free(desc);
}

/* Allocate blocks of `size` with `caps` until none fits; returns how many (at most max). */
static size_t fill(void **blocks, size_t max, size_t size, uint32_t caps)
{
    size_t n = 0;
    while (n < max && (blocks[n] = heap_caps_malloc(size, caps)) != NULL) {
        n++;
    }
    return n;
}

static void free_all(void **blocks, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        heap_caps_free(blocks[i]);
    }
}

/* The 32 KiB a 32 KiB data cache leaves (ESP-IDF's default) has its caps at priority 1 only: it
 * sorts before the main D/IRAM heap (it is smaller), yet serves only when no D/IRAM heap can. */
static void the_data_caches_dram_heap_serves_only_when_the_d_iram_heaps_cannot(void **state)
{
    (void)state;
    const int main_ram = (int)kraken_sim_region_count() - 1; /* the largest internal heap */
    void *blocks[400];
    size_t n = 0;
    do { /* fill the small D/IRAM heap (only D/IRAM has RETENTION) */
        blocks[n] = heap_caps_malloc(1024, MALLOC_CAP_RETENTION);
        assert_non_null(blocks[n]);
    } while (region_of(blocks[n++]) != main_ram);
    void *early = heap_caps_malloc(1024, MALLOC_CAP_DMA);
    assert_int_equal(region_of(early), main_ram); /* not DRAM, which comes first in the list */
    heap_caps_free(early);
    n += fill(blocks + n, 400 - n, 1024, MALLOC_CAP_RETENTION);
    void *dma = heap_caps_malloc(1024, MALLOC_CAP_DMA);
    void *internal = heap_caps_malloc(1024, INTERNAL_8BIT);
    assert_string_equal(sim_region_name_of(dma), "DRAM");
    assert_string_equal(sim_region_name_of(internal), "DRAM");
    assert_true(esp_ptr_dma_capable(dma));
    assert_true(esp_ptr_internal(dma));
    assert_false(esp_ptr_external_ram(dma));
    assert_int_equal(hook.calls, 1); /* the fill's last try only */
    assert_null(heap_caps_malloc(1024, MALLOC_CAP_RETENTION)); /* retention DMA cannot reach it */
    assert_int_equal(hook.calls, 2);
    heap_caps_free(dma);
    heap_caps_free(internal);
    free_all(blocks, n);
}

static void spiram_requests_land_in_psram_when_the_module_has_it(void **state)
{
    (void)state;
    void *p = heap_caps_malloc(1000, MALLOC_CAP_SPIRAM);
    if (!has_psram()) {
        assert_null(p);
        assert_int_equal(hook.calls, 1);
        assert_int_equal(hook.size, 1000);
        assert_int_equal(hook.caps, MALLOC_CAP_SPIRAM);
        assert_string_equal(hook.function, "heap_caps_malloc");
        return;
    }
    assert_non_null(p);
    assert_true(esp_ptr_external_ram(p));
    assert_false(esp_ptr_internal(p));
    assert_false(esp_ptr_dma_capable(p));
    assert_string_equal(sim_region_name_of(p), "SPIRAM");
    heap_caps_free(p);
    assert_int_equal(hook.calls, 0);
}

/* ESP-IDF's TLSF (v5.4 on) gives malloc the request rounded up to its size class: in the PSRAM heap
 * (SL 32) 4 150 000 bytes take 4 194 304, so two such requests do not fit in a half-empty 8 MB. */
static void a_psram_block_takes_its_size_class_so_two_near_halves_do_not_fit(void **state)
{
    (void)state;
    if (heap_caps_get_total_size(MALLOC_CAP_SPIRAM) < 8000000) {
        skip(); /* the 8 MB modules only */
    }
    void *a = heap_caps_malloc(4150000, MALLOC_CAP_SPIRAM);
    assert_non_null(a);
    assert_int_equal(heap_caps_get_allocated_size(a), sizeof(void *) > 4 ? 4194308 : 4194304);
    assert_true(heap_caps_get_free_size(MALLOC_CAP_SPIRAM) > 4150000); /* enough bytes, yet: */
    assert_null(heap_caps_malloc(4150000, MALLOC_CAP_SPIRAM));
    assert_int_equal(hook.calls, 1);
    heap_caps_free(a);
}

static void exec_requests_fail_because_memory_protection_leaves_no_executable_heap(void **state)
{
    (void)state;
    assert_null(heap_caps_malloc(64, MALLOC_CAP_EXEC));
    assert_int_equal(hook.calls, 1);
    assert_int_equal(hook.caps, MALLOC_CAP_EXEC);
}

static void rtcram_requests_land_in_rtc_fast_memory_which_is_not_dma_capable(void **state)
{
    (void)state;
    void *p = heap_caps_malloc(64, MALLOC_CAP_RTCRAM);
    assert_non_null(p);
    assert_string_equal(sim_region_name_of(p), "RTCRAM");
    assert_true(esp_ptr_internal(p));
    assert_false(esp_ptr_dma_capable(p));
    heap_caps_free(p);
    assert_null(heap_caps_malloc(64, MALLOC_CAP_RTCRAM | MALLOC_CAP_DMA));
}

static void byte_access_requests_prefer_internal_ram_even_with_psram(void **state)
{
    (void)state;
    void *p = heap_caps_malloc(64, MALLOC_CAP_8BIT);
    assert_non_null(p);
    assert_true(esp_ptr_internal(p));
    heap_caps_free(p);
}

static void default_caps_alone_may_return_psram_as_on_esp_idf(void **state)
{
    (void)state;
    /* PSRAM is registered with MALLOC_CAP_DEFAULT at priority 0 and sits first in the list. */
    void *p = heap_caps_malloc(64, MALLOC_CAP_DEFAULT);
    assert_non_null(p);
    assert_true(has_psram() ? esp_ptr_external_ram(p) : esp_ptr_internal(p));
    heap_caps_free(p);
}

static void caps_no_heap_has_together_match_nothing(void **state)
{
    (void)state;
    assert_null(heap_caps_malloc(64, MALLOC_CAP_SPIRAM | MALLOC_CAP_INTERNAL));
    assert_null(heap_caps_malloc(64, MALLOC_CAP_RTCRAM | MALLOC_CAP_SPIRAM));
    assert_null(heap_caps_malloc(64, 0)); /* caps 0 matches no heap's priority level */
    assert_int_equal(hook.calls, 3);
    assert_int_equal(hook.caps, 0);
}

static void size_zero_returns_null_without_calling_the_hook(void **state)
{
    (void)state;
    assert_null(heap_caps_malloc(0, INTERNAL_8BIT));
    assert_null(heap_caps_aligned_alloc(16, 0, INTERNAL_8BIT));
    assert_null(heap_caps_malloc_prefer(0, 2, MALLOC_CAP_SPIRAM, INTERNAL_8BIT));
    assert_int_equal(hook.calls, 0);
    assert_int_equal(stats().failed, 0);
}

static void sizes_beyond_the_largest_contiguous_ram_fail_with_the_hook(void **state)
{
    (void)state;
    assert_null(heap_caps_malloc(SIZE_MAX, MALLOC_CAP_8BIT));
    assert_null(heap_caps_malloc(SIZE_MAX - 3, MALLOC_CAP_DMA | MALLOC_CAP_SPIRAM));
    assert_int_equal(hook.calls, 2);
    assert_int_equal(hook.size, SIZE_MAX - 3);
    assert_true(heap_caps_check_integrity_all(true));
}

static void printing_hook(size_t size, uint32_t caps, const char *function_name)
{
    (void)size;
    (void)caps;
    esp_rom_printf("hook: %s\n", function_name);
}

static void allocate_until_a_failure(void *arg)
{
    (void)arg;
    const sim_policy_t policy = {
        .spiram = true, .octal = true, .bss_external = true, .abort_on_failure = true};
    if (sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy) != ESP_OK ||
        heap_caps_register_failed_alloc_callback(printing_hook) != ESP_OK ||
        heap_caps_malloc(64, INTERNAL_8BIT) == NULL || heap_caps_malloc(0, INTERNAL_8BIT)) {
        _exit(3);
    }
    esp_rom_printf("before\n");
    (void)heap_caps_malloc(1u << 20, INTERNAL_8BIT);
}

/* CONFIG_HEAP_ABORT_WHEN_ALLOCATION_FAILS: the first failed call runs the hook, then aborts with
 * ESP-IDF's reason; the calls before it are unaffected. */
static void with_abort_when_allocation_fails_a_failed_call_aborts_after_the_hook(void **state)
{
    (void)state;
    char out[512];
    const int status = capture_output_of_child(STDOUT_FILENO, allocate_until_a_failure, NULL, out, sizeof out);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    char expected[128];
    snprintf(expected, sizeof expected,
             "before\nhook: heap_caps_malloc\n\nabort: Mem alloc fail. size 0x00100000 caps 0x%08x\n",
             (unsigned)INTERNAL_8BIT);
    assert_string_equal(out, expected);
}

/* ---- alignment (esp_heap_adjust_alignment_to_hw on the S3) ------------------------------------ */

static void simd_requests_are_16_byte_aligned(void **state)
{
    (void)state;
    for (int i = 0; i < 8; i++) {
        uint8_t *p = heap_caps_malloc(20 + (size_t)i, MALLOC_CAP_SIMD | MALLOC_CAP_INTERNAL);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        assert_true(heap_caps_get_allocated_size(p) >= 32); /* size rounded up to 16 too */
        heap_caps_free(p);
    }
}

static void psram_dma_and_cache_aligned_requests_get_the_cache_line(void **state)
{
    (void)state;
    if (!has_psram()) {
        assert_null(heap_caps_malloc(33, MALLOC_CAP_SPIRAM | MALLOC_CAP_DMA));
        return;
    }
    void *keep = heap_caps_malloc(4, MALLOC_CAP_SPIRAM); /* so the next block is not at the start */
    uint8_t *dma = heap_caps_malloc(33, MALLOC_CAP_SPIRAM | MALLOC_CAP_DMA);
    uint8_t *cached = heap_caps_malloc(7, MALLOC_CAP_SPIRAM | MALLOC_CAP_CACHE_ALIGNED);
    assert_non_null(dma);
    assert_non_null(cached);
    assert_true(esp_ptr_external_ram(dma)); /* SPIRAM|DMA: DMA-capable PSRAM */
    assert_int_equal((uintptr_t)dma % DCACHE_LINE, 0);
    assert_int_equal((uintptr_t)cached % DCACHE_LINE, 0);
    assert_true(heap_caps_get_allocated_size(dma) >=
                (33 + DCACHE_LINE - 1) / DCACHE_LINE * DCACHE_LINE);
    /* an alignment below the cache line asked for is raised to it */
    void *small_align[8];
    for (int i = 0; i < 8; i++) {
        small_align[i] = heap_caps_aligned_alloc(16, 40, MALLOC_CAP_SPIRAM | MALLOC_CAP_DMA);
        assert_non_null(small_align[i]);
        assert_int_equal((uintptr_t)small_align[i] % DCACHE_LINE, 0);
    }
    for (int i = 0; i < 8; i++) {
        heap_caps_free(small_align[i]);
    }
    heap_caps_free(dma);
    heap_caps_free(cached);
    heap_caps_free(keep);
}

static void aligned_alloc_honours_the_alignment_and_rejects_bad_ones_without_the_hook(void **state)
{
    (void)state;
    for (size_t align = 1; align <= 4096; align <<= 1) {
        void *p = heap_caps_aligned_alloc(align, 100, INTERNAL_8BIT);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % align, 0);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* deprecated, and still there */
        heap_caps_aligned_free(p);
#pragma GCC diagnostic pop
    }
    assert_null(heap_caps_aligned_alloc(0, 100, INTERNAL_8BIT));
    assert_null(heap_caps_aligned_alloc(24, 100, INTERNAL_8BIT));
    assert_int_equal(hook.calls, 0);
    uint8_t *z = heap_caps_aligned_calloc(64, 10, 10, INTERNAL_8BIT);
    assert_non_null(z);
    assert_int_equal((uintptr_t)z % 64, 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(z[i], 0);
    }
    heap_caps_free(z);
    assert_null(heap_caps_aligned_calloc(16, SIZE_MAX / 2, 3, INTERNAL_8BIT));
    assert_true(heap_caps_check_integrity_all(true));
}

/* ---- calloc, realloc, prefer ------------------------------------------------------------------ */

static void calloc_returns_zeroed_memory_even_where_a_dirty_block_was(void **state)
{
    (void)state;
    uint8_t *dirty = heap_caps_malloc(500, INTERNAL_8BIT);
    assert_non_null(dirty);
    memset(dirty, 0xA5, 500);
    heap_caps_free(dirty);
    uint8_t *clean = heap_caps_calloc(50, 10, INTERNAL_8BIT);
    assert_non_null(clean);
    for (int i = 0; i < 500; i++) {
        assert_int_equal(clean[i], 0);
    }
    heap_caps_free(clean);
}

static void calloc_with_an_overflowing_product_returns_null(void **state)
{
    (void)state;
    size_t before = heap_caps_get_free_size(MALLOC_CAP_8BIT);
    assert_null(heap_caps_calloc(SIZE_MAX / 2 + 1, 2, INTERNAL_8BIT));
    assert_null(heap_caps_calloc(2, SIZE_MAX / 2 + 1, MALLOC_CAP_8BIT));
    /* a product that wraps to a small size: 16 bytes must not be allocated for it */
    assert_null(heap_caps_calloc(SIZE_MAX / 2 + 2, 16, INTERNAL_8BIT));
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_8BIT), before);
    assert_int_equal(stats().failed, 3);
    assert_int_equal(hook.calls, 3); /* ESP-IDF reports it, with the wrapped product */
    assert_int_equal(hook.size, 16);
    /* A product over 4 GB overflows the chip's 32-bit size_t (a 64-bit host's holds it): the
     * same answers on both, the product wrapped as the chip wraps it. */
    assert_null(heap_caps_calloc(0x10000, 0x10001, INTERNAL_8BIT));
    assert_int_equal(hook.calls, 4);
    assert_int_equal(hook.size, 0x10000);
    assert_null(heap_caps_aligned_calloc(16, 0x10000, 0x10001, INTERNAL_8BIT));
    assert_int_equal(hook.calls, 4); /* refused before any heap, as ESP-IDF's */
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_8BIT), before);
}

static void realloc_of_null_allocates_and_to_size_zero_frees(void **state)
{
    (void)state;
    size_t before = heap_caps_get_free_size(INTERNAL_8BIT);
    void *p = heap_caps_realloc(NULL, 300, INTERNAL_8BIT);
    assert_non_null(p);
    assert_true(heap_caps_get_free_size(INTERNAL_8BIT) < before);
    assert_null(heap_caps_realloc(p, 0, INTERNAL_8BIT));
    assert_int_equal(heap_caps_get_free_size(INTERNAL_8BIT), before);
    assert_int_equal(hook.calls, 0);
    assert_int_equal(stats().allocations, 1);
    assert_int_equal(stats().frees, 1);
}

static void realloc_moves_the_block_when_its_heap_lacks_the_new_caps(void **state)
{
    (void)state;
    uint8_t *p = heap_caps_malloc(200, MALLOC_CAP_SPIRAM);
    assert_non_null(p);
    for (int i = 0; i < 200; i++) {
        p[i] = (uint8_t)i;
    }
    size_t psram_free = heap_caps_get_free_size(MALLOC_CAP_SPIRAM);
    uint8_t *q = heap_caps_realloc(p, 400, MALLOC_CAP_DMA);
    assert_non_null(q);
    assert_true(esp_ptr_dma_capable(q));
    for (int i = 0; i < 200; i++) {
        assert_int_equal(q[i], (uint8_t)i);
    }
    assert_true(heap_caps_get_free_size(MALLOC_CAP_SPIRAM) > psram_free); /* old block freed */
    uint8_t *r = heap_caps_realloc(q, 100, MALLOC_CAP_SPIRAM);
    assert_non_null(r);
    assert_true(esp_ptr_external_ram(r));
    for (int i = 0; i < 100; i++) {
        assert_int_equal(r[i], (uint8_t)i);
    }
    heap_caps_free(r);
    assert_true(heap_caps_check_integrity_all(true));
    assert_int_equal(stats().allocations - stats().frees, 0);
}

static void realloc_that_cannot_grow_keeps_the_old_block_and_calls_the_hook(void **state)
{
    (void)state;
    uint8_t *p = heap_caps_malloc(64, INTERNAL_8BIT);
    assert_non_null(p);
    memset(p, 0x5A, 64);
    assert_null(heap_caps_realloc(p, 1u << 20, INTERNAL_8BIT));
    assert_int_equal(hook.calls, 1);
    assert_int_equal(hook.size, 1u << 20);
    assert_int_equal(hook.caps, INTERNAL_8BIT);
    assert_string_equal(hook.function, "heap_caps_realloc");
    for (int i = 0; i < 64; i++) {
        assert_int_equal(p[i], 0x5A);
    }
    heap_caps_free(p);
    assert_int_equal(stats().invalid_frees, 0);
}

/* heap_caps_realloc_base() rounds the size up to the caps' alignment before it looks for 0, so
 * near SIZE_MAX the rounding makes it a free: the block is gone, NULL, the hook. A size that does
 * not wrap fails as too large and keeps the block. */
static void realloc_to_a_size_that_rounds_up_to_zero_frees_the_block_as_esp_idf_does(void **state)
{
    (void)state;
    size_t before = heap_caps_get_free_size(MALLOC_CAP_DMA);
    void *p = heap_caps_malloc(64, MALLOC_CAP_DMA);
    assert_null(heap_caps_realloc(p, SIZE_MAX - 15, MALLOC_CAP_DMA | MALLOC_CAP_SIMD)); /* 16 */
    assert_int_equal(hook.calls, 1);
    assert_int_equal(stats().frees, 0); /* still live */
    assert_null(heap_caps_realloc(p, SIZE_MAX, MALLOC_CAP_DMA));
    assert_int_equal(hook.calls, 2);
    assert_int_equal(hook.size, SIZE_MAX);
    assert_int_equal(hook.caps, MALLOC_CAP_DMA);
    assert_int_equal(stats().frees, 1);
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_DMA), before);
    heap_caps_free(p); /* what a caller that trusted the failed realloc would do next */
    assert_int_equal(stats().invalid_frees, 1);
    /* SIMD aligns to 16: SIZE_MAX - 8 wraps too (it would not with 4) */
    void *simd = heap_caps_malloc(64, MALLOC_CAP_SIMD);
    assert_null(heap_caps_realloc(simd, SIZE_MAX - 8, MALLOC_CAP_SIMD));
    assert_int_equal(stats().frees, 2);
    if (has_psram()) { /* PSRAM with DMA aligns to the data cache line */
        void *ext = heap_caps_malloc(64, MALLOC_CAP_SPIRAM);
        assert_null(heap_caps_realloc(ext, SIZE_MAX - (DCACHE_LINE - 2),
                                      MALLOC_CAP_SPIRAM | MALLOC_CAP_DMA));
        assert_int_equal(stats().frees, 3);
    }
    /* a 32-bit size near UINT32_MAX wraps on the chip's 32-bit size_t, so it does here too */
    void *narrow = heap_caps_malloc(64, MALLOC_CAP_DMA);
    assert_null(heap_caps_realloc(narrow, (uint32_t)0 - 1, MALLOC_CAP_DMA));
    const uint64_t frees = stats().frees;
    assert_int_equal(frees, has_psram() ? 4 : 3);
    /* without caps that align, SIZE_MAX is only too large */
    void *q = heap_caps_malloc(64, INTERNAL_8BIT);
    assert_null(heap_caps_realloc(q, SIZE_MAX, INTERNAL_8BIT));
    heap_caps_free(q);
    assert_int_equal(stats().invalid_frees, 1);
}

/* heap_caps_realloc_prefer(): the mask that frees ends the call (the chip would go on with the
 * freed block); one failure reported, no bogus misuse counted. */
static void a_prefer_realloc_that_frees_stops_there(void **state)
{
    (void)state;
    void *p = heap_caps_malloc(64, MALLOC_CAP_DMA);
    assert_null(heap_caps_realloc_prefer(p, SIZE_MAX, 2, MALLOC_CAP_DMA, INTERNAL_8BIT));
    kraken_sim_stats_t st = stats();
    assert_int_equal(st.frees, 1);
    assert_int_equal(st.invalid_frees, 0);
    assert_int_equal(hook.calls, 1);
    assert_int_equal(hook.size, SIZE_MAX);
    assert_string_equal(hook.function, "heap_caps_realloc_prefer");
}

/* heap_caps_realloc_prefer() with no mask tries nothing: size 0 does not free, any other size
 * fails with MALLOC_CAP_DEFAULT reported (heap_caps.c). */
static void a_prefer_realloc_without_masks_leaves_the_block_alone(void **state)
{
    (void)state;
    void *p = heap_caps_malloc(64, INTERNAL_8BIT);
    assert_null(heap_caps_realloc_prefer(p, 0, 0));
    assert_int_equal(hook.calls, 0);
    assert_null(heap_caps_realloc_prefer(p, 10, 0));
    assert_int_equal(hook.calls, 1);
    assert_int_equal(hook.caps, MALLOC_CAP_DEFAULT);
    assert_true(heap_caps_get_allocated_size(p) >= 64);
    assert_int_equal(stats().frees, 0);
    heap_caps_free(p);
}

static void realloc_of_a_pointer_no_heap_handed_out_is_counted_and_refused(void **state)
{
    (void)state;
    int local = 0;
    assert_null(heap_caps_realloc(&local, 10, INTERNAL_8BIT));
    assert_int_equal(stats().invalid_frees, 1);
    assert_int_equal(hook.calls, 0);
    assert_true(heap_caps_check_integrity_all(true));
}

/* An injected failure fails a one-byte request with the hook; a zero-byte request (NULL without
 * the hook, as always) does not use the failure up. */
static void an_injected_failure_is_kept_for_a_real_request(void **state)
{
    (void)state;
    kraken_sim_fail_next(INTERNAL_8BIT, 1);
    assert_null(heap_caps_malloc(0, INTERNAL_8BIT));
    assert_int_equal(hook.calls, 0);
    assert_null(heap_caps_malloc(1, INTERNAL_8BIT));
    assert_int_equal(hook.calls, 1);
    assert_int_equal(hook.size, 1);
    void *p = heap_caps_malloc(1, INTERNAL_8BIT); /* used up */
    assert_non_null(p);
    heap_caps_free(p);
    kraken_sim_fault_clear();
}

static void prefer_tries_each_mask_in_turn_and_reports_the_last_on_failure(void **state)
{
    (void)state;
    void *p = heap_caps_malloc_prefer(1000, 2, MALLOC_CAP_SPIRAM, INTERNAL_8BIT);
    assert_non_null(p);
    assert_true(has_psram() ? esp_ptr_external_ram(p) : esp_ptr_internal(p));
    assert_int_equal(hook.calls, 0);
    void *third = heap_caps_malloc_prefer(64, 3, MALLOC_CAP_EXEC, MALLOC_CAP_EXEC | MALLOC_CAP_8BIT,
                                          INTERNAL_8BIT);
    assert_non_null(third);
    assert_true(esp_ptr_internal(third));
    assert_int_equal(hook.calls, 0);
    heap_caps_free(third);
    void *q = heap_caps_realloc_prefer(p, 2000, 2, MALLOC_CAP_EXEC, MALLOC_CAP_DMA);
    assert_non_null(q);
    assert_true(esp_ptr_dma_capable(q));
    uint8_t *z = heap_caps_calloc_prefer(10, 10, 2, MALLOC_CAP_EXEC, INTERNAL_8BIT);
    assert_non_null(z);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(z[i], 0);
    }
    assert_null(heap_caps_malloc_prefer(64, 2, MALLOC_CAP_EXEC, MALLOC_CAP_SPIRAM | MALLOC_CAP_RTCRAM));
    assert_int_equal(hook.calls, 1);
    assert_int_equal(hook.caps, MALLOC_CAP_SPIRAM | MALLOC_CAP_RTCRAM);
    assert_string_equal(hook.function, "heap_caps_malloc_prefer");
    heap_caps_free(q);
    heap_caps_free(z);
}

/* ---- exhaustion, hook, figures ---------------------------------------------------------------- */

static void exhausting_internal_ram_fails_with_the_hook_and_recovers_after_free(void **state)
{
    (void)state;
    enum { BLOCK = 4096, MAX_BLOCKS = 200 };
    void *blocks[MAX_BLOCKS];
    size_t free_before = heap_caps_get_free_size(INTERNAL_8BIT);
    size_t n = 0;
    while (n < MAX_BLOCKS && (blocks[n] = heap_caps_malloc(BLOCK, INTERNAL_8BIT)) != NULL) {
        assert_true(esp_ptr_internal(blocks[n]));
        n++;
    }
    assert_true(n < MAX_BLOCKS);
    /* both D/IRAM heaps and the data cache's DRAM heap used to the end */
    assert_true(n >= (267552 + 22308 + 32768) / BLOCK - 5);
    assert_int_equal(hook.calls, 1);
    assert_int_equal(hook.size, BLOCK);
    assert_int_equal(hook.caps, INTERNAL_8BIT);
    assert_string_equal(hook.function, "heap_caps_malloc");
    assert_true(heap_caps_get_largest_free_block(INTERNAL_8BIT) < BLOCK);
    size_t low = heap_caps_get_free_size(INTERNAL_8BIT);
    for (size_t i = 0; i < n; i++) {
        heap_caps_free(blocks[i]);
    }
    assert_int_equal(heap_caps_get_free_size(INTERNAL_8BIT), free_before);
    assert_true(heap_caps_get_minimum_free_size(INTERNAL_8BIT) <= low);
    assert_true(heap_caps_check_integrity_all(true));
    kraken_sim_stats_t s = stats();
    assert_int_equal(s.allocations, n);
    assert_int_equal(s.frees, n);
    assert_int_equal(s.failed, 1);
}

/* ESP-IDF's free size of a fresh heap over `bytes` (multi_heap_register): the region less its
 * heap_t (20 bytes) and TLSF's control structure for the n = bytes - 20 after it: control_t (36
 * bytes) and 4 bytes per first-level index and per size class; 8 lists per index up to 16 KiB,
 * 16 up to 256 KiB, 32 above; indexes: (32 - clz(n)) - (log2(lists) + 2) + 1. */
static size_t chip_free_at_boot(size_t bytes)
{
    const unsigned n = (unsigned)(bytes - 20u);
    const unsigned sl_log2 = n <= 16384u ? 3u : n <= 262144u ? 4u : 5u;
    const unsigned fl_count = (32u - (unsigned)__builtin_clz(n)) - (sl_log2 + 2u) + 1u;
    return bytes - 20u - 36u - 4u * fl_count - 4u * (fl_count << sl_log2);
}

/* tlsf_fit_size() of the single block (free bytes less its header and the sentinel's, to 4
 * bytes): rounded down to its size class, 1/8, 1/16 or 1/32 of its power of two. */
static size_t chip_largest_at_boot(size_t bytes)
{
    const size_t block = (chip_free_at_boot(bytes) - 8u) & ~(size_t)3u;
    const unsigned n = (unsigned)(bytes - 20u);
    const unsigned sl_log2 = n <= 16384u ? 3u : n <= 262144u ? 4u : 5u;
    const size_t class_width = ((size_t)1u << (31 - __builtin_clz((unsigned)block))) >> sl_log2;
    return block & ~(class_width - 1u);
}

/* Every heap of the booted chip reports what ESP-IDF reports for its region; a malloc takes its
 * block and 4-byte header from one heap's count and the system's, a free gives them back. */
static void every_heaps_figures_are_esp_idfs_to_the_byte(void **state)
{
    (void)state;
    const size_t count = kraken_sim_region_count();
    size_t sum = 0;
    for (size_t i = 0; i < count; i++) {
        kraken_sim_region_t r;
        assert_int_equal(kraken_sim_get_region(i, &r), ESP_OK);
        size_t expected = chip_free_at_boot(r.size);
        if (strcmp(r.name, "DMAPOOL") != 0) { /* the DMA pool's block is taken at boot */
            assert_int_equal(r.free_bytes, expected);
            assert_int_equal(r.largest_free_block, chip_largest_at_boot(r.size));
        }
        sum += r.free_bytes;
    }
    assert_int_equal(heap_caps_get_free_size(0), sum);
    const size_t system = esp_get_free_heap_size();
    kraken_sim_region_t before[16], after[16];
    assert_true(count <= 16);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(kraken_sim_get_region(i, &before[i]), ESP_OK);
    }
    void *first = heap_caps_malloc(100, MALLOC_CAP_INTERNAL);
    void *second = heap_caps_malloc(100, MALLOC_CAP_INTERNAL);
    assert_non_null(first);
    assert_non_null(second);
    assert_int_equal(heap_caps_get_allocated_size(first), 100);
    assert_int_equal(esp_get_free_heap_size(), system - 208);
    heap_caps_free(first);
    assert_int_equal(esp_get_free_heap_size(), system - 104);
    assert_true(esp_get_minimum_free_heap_size() <= system - 208);
    size_t changed = 0;
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(kraken_sim_get_region(i, &after[i]), ESP_OK);
        if (after[i].free_bytes != before[i].free_bytes) {
            changed++;
            assert_int_equal(after[i].free_bytes, before[i].free_bytes - 104);
            assert_int_equal(after[i].minimum_free_bytes,
                             before[i].minimum_free_bytes < before[i].free_bytes - 208
                                 ? before[i].minimum_free_bytes
                                 : before[i].free_bytes - 208);
        }
    }
    assert_int_equal(changed, 1); /* both in the smallest internal heap */
    heap_caps_free(second);
    assert_int_equal(esp_get_free_heap_size(), system);
}

static void get_info_agrees_with_the_o1_size_queries(void **state)
{
    (void)state;
    void *keep[10];
    for (int i = 0; i < 10; i++) {
        keep[i] = heap_caps_malloc(100 * (size_t)(i + 1), i % 2 ? MALLOC_CAP_8BIT : MALLOC_CAP_DMA);
        assert_non_null(keep[i]);
    }
    heap_caps_free(keep[3]);
    heap_caps_free(keep[6]);
    const uint32_t masks[] = {MALLOC_CAP_8BIT, MALLOC_CAP_INTERNAL, MALLOC_CAP_DMA,
                              MALLOC_CAP_SPIRAM, MALLOC_CAP_DEFAULT, 0};
    for (size_t m = 0; m < sizeof masks / sizeof masks[0]; m++) {
        multi_heap_info_t info;
        heap_caps_get_info(&info, masks[m]);
        assert_int_equal(info.total_free_bytes, heap_caps_get_free_size(masks[m]));
        assert_int_equal(info.minimum_free_bytes, heap_caps_get_minimum_free_size(masks[m]));
        assert_int_equal(info.largest_free_block, heap_caps_get_largest_free_block(masks[m]));
        assert_true(info.minimum_free_bytes <= info.total_free_bytes);
        assert_true(info.largest_free_block <= info.total_free_bytes);
        assert_true(info.total_free_bytes + info.total_allocated_bytes <=
                    heap_caps_get_total_size(masks[m]));
        assert_int_equal(info.total_blocks, info.allocated_blocks + info.free_blocks);
    }
    multi_heap_info_t all;
    heap_caps_get_info(&all, 0); /* caps 0 selects every heap in the queries, as in ESP-IDF */
    assert_int_equal(all.allocated_blocks, 8);
    assert_true(all.total_allocated_bytes >= 100 * (1 + 2 + 3 + 5 + 6 + 8 + 9 + 10));
    for (int i = 0; i < 10; i++) {
        if (i != 3 && i != 6) {
            heap_caps_free(keep[i]);
        }
    }
    heap_caps_get_info(&all, 0);
    assert_int_equal(all.allocated_blocks, 0);
}

static void the_largest_free_block_reported_can_be_allocated(void **state)
{
    (void)state;
    const uint32_t masks[] = {INTERNAL_8BIT, MALLOC_CAP_DMA, MALLOC_CAP_SPIRAM, MALLOC_CAP_RTCRAM};
    for (size_t m = 0; m < sizeof masks / sizeof masks[0]; m++) {
        size_t largest = heap_caps_get_largest_free_block(masks[m]);
        if (largest == 0) {
            assert_false(has_psram());
            continue;
        }
        void *p = heap_caps_malloc(largest, masks[m]);
        assert_non_null(p);
        assert_true(heap_caps_get_allocated_size(p) >= largest);
        heap_caps_free(p);
    }
    assert_int_equal(hook.calls, 0);
}

static void totals_per_caps_add_up_the_heaps_that_have_them(void **state)
{
    (void)state;
    size_t internal = heap_caps_get_total_size(MALLOC_CAP_INTERNAL);
    size_t spiram = heap_caps_get_total_size(MALLOC_CAP_SPIRAM);
    size_t bss = (kraken_sim_ext_bss_size() + 15) / 16 * 16;
    assert_int_equal(heap_caps_get_total_size(0), internal + spiram);
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_DMA), internal - 7912);
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_RTCRAM), 7912);
    if (has_psram()) {
        size_t in_psram = kraken_sim_ext_bss_in_psram() ? bss : 0;
        assert_int_equal(internal, 267552 + 22308 + 32768 + 7912 - (bss - in_psram));
        assert_int_equal(spiram + in_psram, esp_psram_get_size());
    } else {
        assert_int_equal(internal, 267552 + 22308 + 32768 + 7912 - bss);
        assert_int_equal(spiram, 0);
    }
}

/* ---- fault injection --------------------------------------------------------------------------- */

static void fail_next_fails_exactly_n_matching_allocations_and_calls_the_hook(void **state)
{
    (void)state;
    kraken_sim_fail_next(MALLOC_CAP_DMA, 2);
    void *other = heap_caps_malloc(64, INTERNAL_8BIT); /* does not contain DMA: unaffected */
    assert_non_null(other);
    assert_null(heap_caps_malloc(64, MALLOC_CAP_DMA));
    assert_null(heap_caps_malloc(64, MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL));
    void *third = heap_caps_malloc(64, MALLOC_CAP_DMA);
    assert_non_null(third);
    assert_int_equal(hook.calls, 2);
    assert_int_equal(hook.caps, MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL);
    kraken_sim_stats_t s = stats();
    assert_int_equal(s.injected, 2);
    assert_int_equal(s.failed, 2);
    heap_caps_free(other);
    heap_caps_free(third);
}

static void fail_every_fails_each_nth_matching_allocation(void **state)
{
    (void)state;
    kraken_sim_fail_every(0, 3);
    void *blocks[9];
    for (int i = 0; i < 9; i++) {
        blocks[i] = heap_caps_malloc(32, MALLOC_CAP_8BIT);
        assert_true((blocks[i] == NULL) == (i % 3 == 2));
    }
    kraken_sim_fault_clear();
    void *after = heap_caps_malloc(32, MALLOC_CAP_8BIT);
    assert_non_null(after);
    for (int i = 0; i < 9; i++) {
        heap_caps_free(blocks[i]);
    }
    heap_caps_free(after);
    assert_int_equal(stats().injected, 3);
    assert_int_equal(hook.calls, 3);
}

static void an_injected_failure_lets_prefer_fall_back_to_its_next_mask(void **state)
{
    (void)state;
    kraken_sim_fail_next(0, 1);
    void *p = heap_caps_malloc_prefer(100, 2, MALLOC_CAP_SPIRAM, MALLOC_CAP_DMA);
    assert_non_null(p);
    assert_true(esp_ptr_dma_capable(p));
    assert_int_equal(hook.calls, 0);
    heap_caps_free(p);
}

static void an_injected_realloc_failure_leaves_the_block_intact(void **state)
{
    (void)state;
    uint8_t *p = heap_caps_malloc(16, INTERNAL_8BIT);
    assert_non_null(p);
    memset(p, 7, 16);
    kraken_sim_fail_next(INTERNAL_8BIT, 1);
    assert_null(heap_caps_realloc(p, 32, INTERNAL_8BIT));
    assert_int_equal(hook.calls, 1);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(p[i], 7);
    }
    heap_caps_free(p);
    assert_int_equal(stats().invalid_frees, 0);
}

/* ---- misuse ----------------------------------------------------------------------------------- */

static void free_again(void *p)
{
    heap_caps_free(p);
}

static void invalid_and_double_frees_are_counted_and_change_nothing(void **state)
{
    (void)state;
    uint8_t *p = heap_caps_malloc(128, INTERNAL_8BIT);
    uint8_t *neighbour = heap_caps_malloc(128, INTERNAL_8BIT);
    assert_non_null(p);
    assert_non_null(neighbour);
    int local;
    heap_caps_free(&local);        /* outside every heap */
    heap_caps_free(p + 8);         /* inside a block */
    heap_caps_free(p);
    size_t free_after = heap_caps_get_free_size(MALLOC_CAP_8BIT);
    char line[256];
    capture_output(STDOUT_FILENO, free_again, p, line, sizeof line); /* double free */
    assert_non_null(strstr(line, "): double free; ignored"));
    heap_caps_free(NULL);          /* no-op, not counted */
    assert_int_equal(stats().invalid_frees, 3);
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_8BIT), free_after);
    assert_true(heap_caps_check_integrity_all(true));
    assert_int_equal(heap_caps_get_allocated_size(neighbour) >= 128, true);
    heap_caps_free(neighbour);
    assert_int_equal(stats().frees, 2);
}

/* Blocks after the first keep their headers in the rebooted heap's free memory: they must not
 * pass for live blocks (the middle one did, and freeing it corrupted the new heap). */
static void a_pointer_from_before_a_reset_is_an_invalid_free(void **state)
{
    (void)state;
    const uint32_t caps = has_psram() ? MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT : INTERNAL_8BIT;
    void *old[3];
    for (int i = 0; i < 3; i++) {
        old[i] = heap_caps_malloc(100, caps);
        assert_non_null(old[i]);
    }
    assert_int_equal(kraken_sim_reset(), ESP_OK);
    assert_int_equal(heap_caps_register_failed_alloc_callback(failed_hook), ESP_OK);
    const size_t free_bytes = heap_caps_get_free_size(caps);
    for (int i = 0; i < 3; i++) {
        heap_caps_free(old[i]);
    }
    assert_null(heap_caps_realloc(old[1], 200, caps));
    assert_int_equal(stats().invalid_frees, 4);
    assert_int_equal(heap_caps_get_allocated_size(old[2]), 0);
    assert_int_equal(heap_caps_get_free_size(caps), free_bytes);
    assert_true(heap_caps_check_integrity_all(true));
}

/* ESP-IDF lets an ISR call the heap_caps alloc/realloc/free family (discouraged, not forbidden):
 * the calls work as in a task and each one is counted. */
static void heap_calls_from_a_simulated_isr_work_and_are_counted(void **state)
{
    (void)state;
    void *p = heap_caps_malloc(64, INTERNAL_8BIT);
    assert_non_null(p);
    const size_t free_before = heap_caps_get_free_size(INTERNAL_8BIT);
    kraken_sim_isr_enter();
    void *q = heap_caps_malloc(64, INTERNAL_8BIT);
    assert_non_null(q);
    assert_true(heap_caps_get_free_size(INTERNAL_8BIT) < free_before);
    heap_caps_free(p);
    void *r = heap_caps_realloc(q, 128, INTERNAL_8BIT);
    assert_non_null(r);
    assert_null(heap_caps_malloc(64, MALLOC_CAP_EXEC)); /* a failure reports as usual */
    heap_caps_free(r);
    /* the simulator's own heap calls inside these do not count again */
    assert_int_equal(heap_caps_monitor_local_minimum_free_size_start(), ESP_OK);
    assert_int_equal(heap_caps_monitor_local_minimum_free_size_stop(), ESP_OK);
    multi_heap_info_t info;
    heap_caps_get_info(&info, INTERNAL_8BIT);
    kraken_sim_isr_exit();
    assert_true(heap_caps_get_free_size(INTERNAL_8BIT) > free_before); /* p went back too */
    assert_int_equal(stats().isr_calls, 9); /* each call once, the size queries included */
    assert_int_equal(hook.calls, 1);
    assert_int_equal(stats().allocations, 3); /* p, q and the monitor's saved minima */
    assert_int_equal(stats().frees, 3);
}

static void the_containing_block_size_answers_for_any_pointer_inside_a_live_block(void **state)
{
    (void)state;
    char *p = heap_caps_malloc(1000, INTERNAL_8BIT);
    assert_non_null(p);
    const size_t size = heap_caps_get_containing_block_size(p + 999);
    assert_true(size >= 1000);
    p[size - 1] = 1; /* usable: in ASan builds the slack is no longer poisoned */
    assert_int_equal(heap_caps_get_allocated_size(p), size);
    assert_int_equal(heap_caps_get_containing_block_size(p), size);
    assert_int_equal(stats().invalid_queries, 0);
    int local;
    assert_int_equal(heap_caps_get_containing_block_size(&local), 0); /* logged, counted */
    assert_int_equal(heap_caps_get_allocated_size(p + 8), 0);         /* not a block start */
    heap_caps_free(p);
    assert_int_equal(heap_caps_get_containing_block_size(p + 10), 0); /* a free block now */
    assert_int_equal(heap_caps_get_allocated_size(p), 0);
    assert_int_equal(stats().invalid_queries, 4); /* ESP-IDF asserts at each */
    assert_int_equal(heap_caps_get_allocated_size(NULL), 0);         /* NULL too */
    assert_int_equal(stats().invalid_queries, 5);
}

typedef struct {
    const void *want[3];
    bool seen[3];
    size_t blocks, heaps, used_bytes;
    intptr_t last_start;
    bool stop_each_heap;
} walk_t;

static bool walker(walker_heap_into_t heap, walker_block_info_t block, void *user_data)
{
    walk_t *w = user_data;
    if (heap.start != w->last_start) {
        w->heaps++;
        w->last_start = heap.start;
    }
    assert_true((intptr_t)block.ptr > heap.start && (intptr_t)block.ptr < heap.end);
    w->blocks++;
    w->used_bytes += block.used ? block.size : 0;
    for (int i = 0; i < 3; i++) {
        if (block.ptr == w->want[i]) {
            assert_true(block.used);
            assert_true(block.size >= 100 + 1000 * (size_t)i);
            w->seen[i] = true;
        }
    }
    return !w->stop_each_heap;
}

/* ESP-IDF >= 5.3: every block of the heaps with the caps, each heap's bounds with it; false from
 * the callback ends the current heap only. */
static void heap_caps_walk_visits_every_block_of_the_selected_heaps(void **state)
{
    (void)state;
    walk_t w = {0};
    for (int i = 0; i < 3; i++) {
        w.want[i] = heap_caps_malloc(100 + 1000 * (size_t)i, INTERNAL_8BIT);
        assert_non_null(w.want[i]);
    }
    heap_caps_walk(INTERNAL_8BIT, walker, &w);
    assert_true(w.seen[0] && w.seen[1] && w.seen[2]);
    multi_heap_info_t info;
    heap_caps_get_info(&info, INTERNAL_8BIT);
    assert_int_equal(w.blocks, info.total_blocks);
    assert_int_equal(w.used_bytes, info.total_allocated_bytes);
    size_t heaps = 0;
    for (size_t i = 0; i < kraken_sim_region_count(); i++) {
        kraken_sim_region_t r;
        assert_int_equal(kraken_sim_get_region(i, &r), ESP_OK);
        heaps += (r.caps[0] | r.caps[1] | r.caps[2]) & MALLOC_CAP_INTERNAL ? 1 : 0;
    }
    walk_t first = {.stop_each_heap = true};
    heap_caps_walk_all(walker, &first); /* one block of every heap */
    assert_int_equal(first.blocks, kraken_sim_region_count());
    assert_int_equal(first.heaps, kraken_sim_region_count());
    walk_t internal = {.stop_each_heap = true};
    heap_caps_walk(MALLOC_CAP_INTERNAL, walker, &internal);
    assert_int_equal(internal.heaps, heaps);
    for (int i = 0; i < 3; i++) {
        heap_caps_free((void *)w.want[i]);
    }
}

static void region_minima(size_t *out, size_t n)
{
    assert_int_equal(kraken_sim_region_count(), n);
    for (size_t i = 0; i < n; i++) {
        kraken_sim_region_t r;
        assert_int_equal(kraken_sim_get_region(i, &r), ESP_OK);
        out[i] = r.minimum_free_bytes;
    }
}

/* ESP-IDF >= 5.3: monitoring restarts each heap's minimum from its free size; stop gives each heap
 * the lower of its local and its lifetime minimum. */
static void a_local_minimum_is_monitored_between_start_and_stop(void **state)
{
    (void)state;
    void *big = heap_caps_malloc(100000, INTERNAL_8BIT);
    assert_non_null(big);
    heap_caps_free(big);
    const size_t n = kraken_sim_region_count();
    size_t lifetime[16], local[16], after[16];
    assert_true(n <= 16);
    region_minima(lifetime, n);
    for (size_t i = 0; i < n; i++) {
        kraken_sim_region_t r;
        assert_int_equal(kraken_sim_get_region(i, &r), ESP_OK);
        assert_true(lifetime[i] > 0 || strcmp(r.name, "DMAPOOL") == 0); /* added after startup */
    }
    assert_int_equal(heap_caps_monitor_local_minimum_free_size_stop(), ESP_FAIL); /* not started */
    /* The saved minima take a MALLOC_CAP_DEFAULT block of one 4-byte size_t per heap, as on the
     * chip (a 64-bit host's size_t is twice that). */
    const size_t default_free = heap_caps_get_free_size(MALLOC_CAP_DEFAULT);
    void *same = heap_caps_malloc(4 * n, MALLOC_CAP_DEFAULT);
    assert_non_null(same);
    const size_t block_cost = default_free - heap_caps_get_free_size(MALLOC_CAP_DEFAULT);
    heap_caps_free(same);
    assert_int_equal(heap_caps_monitor_local_minimum_free_size_start(), ESP_OK);
    assert_int_equal(default_free - heap_caps_get_free_size(MALLOC_CAP_DEFAULT), block_cost);
    assert_int_equal(heap_caps_get_minimum_free_size(0), heap_caps_get_free_size(0));
    void *small = heap_caps_malloc(5000, INTERNAL_8BIT);
    assert_non_null(small);
    const size_t low = heap_caps_get_free_size(INTERNAL_8BIT);
    heap_caps_free(small);
    assert_int_equal(heap_caps_get_minimum_free_size(INTERNAL_8BIT), low); /* the local low */
    region_minima(local, n);
    assert_int_equal(heap_caps_monitor_local_minimum_free_size_stop(), ESP_OK);
    region_minima(after, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(after[i], local[i] < lifetime[i] ? local[i] : lifetime[i]);
    }
    assert_true(heap_caps_get_minimum_free_size(INTERNAL_8BIT) < low - 90000); /* the big one */
    assert_int_equal(heap_caps_monitor_local_minimum_free_size_start(), ESP_OK);
    assert_int_equal(heap_caps_monitor_local_minimum_free_size_start(), ESP_OK); /* starts over */
    assert_int_equal(heap_caps_monitor_local_minimum_free_size_stop(), ESP_OK);
    region_minima(local, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(local[i], after[i]); /* nothing went lower meanwhile */
    }
    assert_int_equal(stats().allocations, stats().frees); /* the saved minima's block went back */
}

static void a_null_failed_alloc_callback_is_rejected(void **state)
{
    (void)state;
    assert_int_equal(heap_caps_register_failed_alloc_callback(NULL), ESP_ERR_INVALID_ARG);
    assert_null(heap_caps_malloc(64, MALLOC_CAP_EXEC));
    assert_int_equal(hook.calls, 1); /* the registered hook is still in place */
}

static void integrity_checks_select_heaps_by_caps_and_by_address(void **state)
{
    (void)state;
    void *p = heap_caps_malloc(64, MALLOC_CAP_RTCRAM);
    assert_non_null(p);
    assert_true(heap_caps_check_integrity(MALLOC_CAP_RTCRAM, true));
    assert_true(heap_caps_check_integrity_addr((intptr_t)p, true));
    int local;
    assert_false(heap_caps_check_integrity_addr((intptr_t)&local, false)); /* no heap there */
    heap_caps_free(p);
}

/* ---- malloc() policy (heap_caps_malloc_default) ------------------------------------------------ */

/* The block the chip gives `chip` bytes of, on this host (4 more on 64-bit hosts when a multiple
 * of 8). */
static size_t host_block(size_t chip)
{
    return sizeof(void *) > 4 && chip % 8 == 0 ? chip + 4 : chip;
}

static size_t region_size(size_t i)
{
    kraken_sim_region_t r;
    assert_int_equal(kraken_sim_get_region(i, &r), ESP_OK);
    return r.size;
}

/* CONFIG_KRAKEN_SIM_ESP_IDF_*: what changed in the heap from v5.1 to v5.5.5 (docs/simulator.md). */
static void each_esp_idf_release_has_its_own_heap_behaviour(void **state)
{
    (void)state;
    static const struct {
        sim_idf_t idf;
        bool sorted;       /* heaps by size (v5.5), else in memory_layout.c's order */
        size_t block_1000; /* heap_caps_malloc(1000, INTERNAL|8BIT): rounding (v5.4), first heap */
        bool pool_default; /* the DMA reserve serves malloc() (v5.5.5) */
        bool aligned_psram; /* aligned_alloc() asks for MALLOC_CAP_DEFAULT (before v5.3) */
        bool psram_dma;     /* SPIRAM|DMA means any PSRAM (the hardware alignment step, v5.3) */
    } release[] = {
        {SIM_IDF_CURRENT, true, 1024, true, false, true}, /* the 22 KiB heap first, classes of 32 */
        {SIM_IDF_V5_5, true, 1024, false, false, true},
        {SIM_IDF_V5_4, false, 1008, false, false, true}, /* the main heap first, classes of 16 */
        {SIM_IDF_V5_3, false, 1000, false, false, true},
        {SIM_IDF_V5_2, false, 1000, false, true, false}, /* no heap has SPIRAM and DMA */
    };
    for (size_t v = 0; v < sizeof release / sizeof release[0]; v++) {
        sim_policy_t policy = {.spiram = true, .bss_external = true, .idf = release[v].idf};
        assert_int_equal(boot_with(KRAKEN_SIM_ESP32S3_N8R8, policy), 0);
        /* SPIRAM at the head, then the internal heaps */
        const size_t n = kraken_sim_region_count();
        bool ascending = true;
        for (size_t i = 2; i < n; i++) {
            ascending = ascending && region_size(i - 1) <= region_size(i);
        }
        assert_int_equal(ascending, release[v].sorted);
        void *p = heap_caps_malloc(1000, INTERNAL_8BIT);
        assert_non_null(p);
        assert_int_equal(heap_caps_get_allocated_size(p), host_block(release[v].block_1000));
        heap_caps_free(p);
        void *a = aligned_alloc(16, 100);
        assert_non_null(a);
        assert_int_equal(esp_ptr_external_ram(a), release[v].aligned_psram);
        free(a);
        void *d = heap_caps_malloc(1000, MALLOC_CAP_SPIRAM | MALLOC_CAP_DMA);
        assert_int_equal(d != NULL, release[v].psram_dma);
        heap_caps_free(d);
        assert_null(heap_caps_calloc(2000, 500, INTERNAL_8BIT)); /* 1 MB: more than internal */
        assert_int_equal(hook.size, 1000000); /* the product (v5.2 since v5.2.2) */

        policy.use_malloc = true;
        policy.malloc_always_internal = 16384;
        policy.reserve_internal = 32768;
        assert_int_equal(boot_with(KRAKEN_SIM_ESP32S3_N8R8, policy), 0);
        kraken_sim_region_t pool;
        assert_int_equal(kraken_sim_get_region(0, &pool), ESP_OK);
        assert_string_equal(pool.name, "DMAPOOL");
        assert_int_equal((pool.caps[2] & MALLOC_CAP_DEFAULT) != 0, release[v].pool_default);
        assert_int_equal(pool.minimum_free_bytes, release[v].pool_default ? 0 : pool.free_bytes);
    }
}

static void malloc_stays_internal_under_use_caps_alloc(void **state)
{
    (void)state;
    assert_int_equal(sim_malloc_internal_limit(), -1);
    void *small = heap_caps_malloc_default(100);
    void *large = heap_caps_malloc_default(100000);
    assert_true(esp_ptr_internal(small));
    assert_true(esp_ptr_internal(large));
    assert_null(heap_caps_malloc_default(300000)); /* PSRAM has room, malloc() may not use it */
    assert_int_equal(hook.calls, 1);
    assert_int_equal(hook.caps, MALLOC_CAP_DEFAULT | MALLOC_CAP_INTERNAL);
    assert_string_equal(hook.function, "heap_caps_malloc");
    heap_caps_free(small);
    heap_caps_free(large);
}

static void use_malloc_keeps_small_blocks_internal_and_puts_large_ones_in_psram(void **state)
{
    (void)state;
    assert_int_equal(sim_malloc_internal_limit(), 16384);
    void *small = heap_caps_malloc_default(16384);
    void *large = heap_caps_malloc_default(16385);
    assert_true(esp_ptr_internal(small));
    assert_true(esp_ptr_external_ram(large));
    void *moved = heap_caps_realloc_default(small, 20000);
    assert_true(esp_ptr_external_ram(moved));
    heap_caps_free(moved);
    heap_caps_free(large);
    assert_int_equal(hook.calls, 0);
}

static void use_malloc_falls_back_to_the_other_memory_when_the_preferred_one_is_full(void **state)
{
    (void)state;
    void *psram[64];
    size_t n = 0;
    while (n < 64 && (psram[n] = heap_caps_malloc(heap_caps_get_largest_free_block(
                                                      MALLOC_CAP_SPIRAM),
                                                  MALLOC_CAP_SPIRAM)) != NULL) {
        n++;
    }
    assert_true(heap_caps_get_largest_free_block(MALLOC_CAP_SPIRAM) < 50000);
    void *large = heap_caps_malloc_default(50000); /* PSRAM first, then internal */
    assert_non_null(large);
    assert_true(esp_ptr_internal(large));
    assert_int_equal(hook.calls, 0);
    free_all(psram, n);

    kraken_sim_fail_next(MALLOC_CAP_INTERNAL, 1); /* the internal attempt finds nothing */
    void *small = heap_caps_malloc_default(100);
    assert_non_null(small);
    assert_true(esp_ptr_external_ram(small));
    kraken_sim_fail_next(MALLOC_CAP_DEFAULT, 2); /* both attempts fail */
    assert_null(heap_caps_malloc_default(100));
    assert_int_equal(hook.calls, 1);
    assert_int_equal(hook.size, 100);
    assert_int_equal(hook.caps, MALLOC_CAP_DEFAULT);
    assert_string_equal(hook.function, "heap_caps_malloc_default");
    heap_caps_free(large);
    heap_caps_free(small);
}

static int rank_of(const void *ptr)
{
    const char *name = sim_region_name_of(ptr);
    static const char *const order[] = {"RAM", "DMAPOOL", "DRAM", "RTCRAM", "SPIRAM"};
    for (int i = 0; i < 5; i++) {
        if (strcmp(name, order[i]) == 0) {
            return i;
        }
    }
    fail_msg("block in no heap: %p", ptr);
    return -1;
}

static void use_malloc_reserves_an_internal_dma_pool_that_small_mallocs_reach_after_dram(void **state)
{
    (void)state;
    kraken_sim_region_t pool;
    assert_int_equal(kraken_sim_get_region(0, &pool), ESP_OK);
    assert_string_equal(pool.name, "DMAPOOL");
    assert_int_equal(pool.size, 32767); /* ESP-IDF registers it with end = start + 32768 - 1 */
    assert_int_equal(pool.caps[0], 0);
    assert_int_equal(pool.caps[1], MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL);
    assert_int_equal(pool.minimum_free_bytes, 0); /* late-registered heaps start at 0 */
    multi_heap_info_t info; /* and count so in heap_caps_get_info() too */
    heap_caps_get_info(&info, MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL);
    assert_int_equal(info.minimum_free_bytes,
                     heap_caps_get_minimum_free_size(MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL));

    /* malloc() of small blocks: D/IRAM, then the pool and the DRAM heap (priority 1, the pool
     * first: it heads the list), then RTC RAM (priority 2), and only then PSRAM (the "less picky"
     * MALLOC_CAP_DEFAULT retry). */
    enum { MAX_BLOCKS = 400 };
    void *blocks[MAX_BLOCKS];
    size_t n = 0;
    int rank = 0;
    while (n < MAX_BLOCKS && rank < 4) {
        blocks[n] = heap_caps_malloc_default(1024);
        assert_non_null(blocks[n]);
        int next = rank_of(blocks[n++]);
        assert_true(next >= rank);
        if (next == 1 && rank == 0) {
            kraken_sim_region_t main_ram;
            kraken_sim_get_region(kraken_sim_region_count() - 1, &main_ram);
            assert_true(main_ram.largest_free_block < 1024); /* the pool only once D/IRAM is full */
        }
        rank = next;
    }
    assert_int_equal(rank, 4);
    free_all(blocks, n);
    assert_true(heap_caps_check_integrity_all(true));
}

static void dma_requests_find_the_reserved_pool_when_dram_is_full(void **state)
{
    (void)state;
    void *blocks[400];
    size_t n = fill(blocks, 400, 1024, MALLOC_CAP_RETENTION); /* only D/IRAM has RETENTION */
    void *dma = heap_caps_malloc(4096, MALLOC_CAP_DMA);
    assert_non_null(dma);
    assert_string_equal(sim_region_name_of(dma), "DMAPOOL");
    assert_true(esp_ptr_dma_capable(dma));
    heap_caps_free(dma);
    free_all(blocks, n);
}

static void without_psram_use_malloc_behaves_as_ignore_notfound(void **state)
{
    (void)state;
    assert_int_equal(sim_malloc_internal_limit(), -1);
    for (size_t i = 0; i < kraken_sim_region_count(); i++) {
        kraken_sim_region_t region;
        kraken_sim_get_region(i, &region);
        assert_string_not_equal(region.name, "DMAPOOL");
        assert_string_not_equal(region.name, "SPIRAM");
    }
    void *large = heap_caps_malloc_default(50000);
    assert_true(esp_ptr_internal(large));
    heap_caps_free(large);
    assert_null(heap_caps_malloc_default(400000));
    assert_int_equal(hook.caps, MALLOC_CAP_DEFAULT | MALLOC_CAP_INTERNAL);
}

/* CONFIG_SPIRAM_USE_MEMMAP: the PSRAM is initialised and mapped, but not added to the heap. */
static int boot_n8r8_memmap(void **state)
{
    (void)state;
    return boot_with(KRAKEN_SIM_ESP32S3_N8R8, (sim_policy_t){.spiram = true, .memmap = true});
}

static void with_use_memmap_psram_is_initialised_but_no_heap_hands_it_out(void **state)
{
    (void)state;
    assert_true(esp_psram_is_initialized());
    assert_int_equal(esp_psram_get_size(), 8u * 1024 * 1024);
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_SPIRAM), 0);
    assert_null(heap_caps_malloc(1000, MALLOC_CAP_SPIRAM));
    assert_int_equal(hook.caps, MALLOC_CAP_SPIRAM);
    void *large = heap_caps_malloc_default(50000);
    assert_true(esp_ptr_internal(large));
    heap_caps_free(large);
}

/* esp_system.h's figures: malloc()'s memory, PSRAM included; internal RAM alone; the minimum. */
static void esp_system_heap_figures_are_esp_idfs_sums(void **state)
{
    (void)state;
    const size_t psram = heap_caps_get_free_size(MALLOC_CAP_SPIRAM);
    const size_t internal = heap_caps_get_free_size(MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
    assert_int_equal(esp_get_free_heap_size(), heap_caps_get_free_size(MALLOC_CAP_DEFAULT));
    assert_int_equal(esp_get_free_heap_size(), internal + psram); /* PSRAM: MALLOC_CAP_DEFAULT */
    assert_int_equal(esp_get_free_internal_heap_size(),
                     heap_caps_get_free_size(MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT | MALLOC_CAP_DMA));
    assert_true(esp_get_free_internal_heap_size() <= internal);
    const uint32_t before = esp_get_free_heap_size();
    void *p = heap_caps_malloc(3000, MALLOC_CAP_INTERNAL);
    assert_non_null(p);
    assert_true(esp_get_free_heap_size() <= before - 3000);
    assert_int_equal(esp_get_minimum_free_heap_size(), esp_get_free_heap_size());
    free(p);
    assert_int_equal(esp_get_free_heap_size(), before);
    assert_true(esp_get_minimum_free_heap_size() < before); /* the low point stays */
    assert_int_equal(esp_get_minimum_free_heap_size(),
                     heap_caps_get_minimum_free_size(MALLOC_CAP_DEFAULT));
}

static void print_rtcram_info(void *unused)
{
    (void)unused;
    heap_caps_print_heap_info(MALLOC_CAP_RTCRAM);
}

/* heap_caps_print_heap_info() prints ESP-IDF's lines, each heap "At" its chip address (0x%08x,
 * as heap_caps.c prints heap->start): the RTC fast memory heap ends at 0x60100000. */
static void heap_info_is_printed_in_esp_idfs_layout_at_chip_addresses(void **state)
{
    (void)state;
    char text[512];
    capture_output(STDOUT_FILENO, print_rtcram_info, NULL, text, sizeof text);
    const size_t total = heap_caps_get_total_size(MALLOC_CAP_RTCRAM);
    char expect[128];
    snprintf(expect, sizeof expect,
             "Heap summary for capabilities 0x%08X:\n  At 0x%08x len %zu free %zu allocated ",
             (unsigned)MALLOC_CAP_RTCRAM, (unsigned)(0x60100000u - total), total,
             heap_caps_get_free_size(MALLOC_CAP_RTCRAM));
    assert_ptr_equal(strstr(text, expect), text);
    assert_non_null(strstr(text, "\n  Totals:\n    free "));
}

#define ALL_PROFILES(test)                                                                          \
    cmocka_unit_test_setup(test, boot_n8r8), cmocka_unit_test_setup(test, boot_n8r2),              \
        cmocka_unit_test_setup(test, boot_n8)

static void dump_rtcram(void *unused)
{
    (void)unused;
    heap_caps_dump(MALLOC_CAP_RTCRAM);
}

/* heap_caps_dump() prints multi_heap_dump()'s text for each heap with the caps, on stdout. */
static void heap_caps_dump_prints_esp_idfs_text_for_each_heap_with_the_caps(void **state)
{
    (void)state;
    void *block = heap_caps_malloc(100, MALLOC_CAP_RTCRAM);
    assert_non_null(block);
    char text[512];
    capture_output(STDOUT_FILENO, dump_rtcram, NULL, text, sizeof text);
    kraken_sim_region_t rtc = {0};
    for (size_t i = 0; i < kraken_sim_region_count(); i++) {
        kraken_sim_region_t r;
        assert_int_equal(kraken_sim_get_region(i, &r), ESP_OK);
        if (strcmp(r.name, "RTCRAM") == 0) {
            rtc = r;
        }
    }
    char expect[128];
    snprintf(expect, sizeof expect, "Showing data for heap: %p \n", (void *)rtc.start);
    assert_ptr_equal(strstr(text, expect), text); /* that heap only */
    snprintf(expect, sizeof expect, "Block %p data, size: %u bytes, Free: No \n", block,
             (unsigned)heap_caps_get_allocated_size(block));
    assert_non_null(strstr(text, expect));
    assert_non_null(strstr(text, " bytes, Free: Yes \n"));
    assert_null(strstr(text + 1, "Showing data"));
    heap_caps_free(block);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ALL_PROFILES(internal_requests_land_in_the_smallest_internal_heap_first),
        ALL_PROFILES(esp_system_heap_figures_are_esp_idfs_sums),
        ALL_PROFILES(dma_requests_land_in_dma_capable_internal_ram),
        ALL_PROFILES(spiram_requests_land_in_psram_when_the_module_has_it),
        ALL_PROFILES(a_psram_block_takes_its_size_class_so_two_near_halves_do_not_fit),
        ALL_PROFILES(exec_requests_fail_because_memory_protection_leaves_no_executable_heap),
        ALL_PROFILES(rtcram_requests_land_in_rtc_fast_memory_which_is_not_dma_capable),
        ALL_PROFILES(byte_access_requests_prefer_internal_ram_even_with_psram),
        ALL_PROFILES(default_caps_alone_may_return_psram_as_on_esp_idf),
        ALL_PROFILES(caps_no_heap_has_together_match_nothing),
        ALL_PROFILES(size_zero_returns_null_without_calling_the_hook),
        ALL_PROFILES(sizes_beyond_the_largest_contiguous_ram_fail_with_the_hook),
        ALL_PROFILES(simd_requests_are_16_byte_aligned),
        ALL_PROFILES(psram_dma_and_cache_aligned_requests_get_the_cache_line),
        ALL_PROFILES(aligned_alloc_honours_the_alignment_and_rejects_bad_ones_without_the_hook),
        ALL_PROFILES(calloc_returns_zeroed_memory_even_where_a_dirty_block_was),
        ALL_PROFILES(calloc_with_an_overflowing_product_returns_null),
        ALL_PROFILES(an_injected_failure_is_kept_for_a_real_request),
        ALL_PROFILES(realloc_of_null_allocates_and_to_size_zero_frees),
        ALL_PROFILES(the_data_caches_dram_heap_serves_only_when_the_d_iram_heaps_cannot),
        cmocka_unit_test_setup(heap_info_is_printed_in_esp_idfs_layout_at_chip_addresses,
                               boot_n8r8),
        cmocka_unit_test_setup(heap_caps_dump_prints_esp_idfs_text_for_each_heap_with_the_caps,
                               boot_n8r8),
        cmocka_unit_test_setup(realloc_moves_the_block_when_its_heap_lacks_the_new_caps, boot_n8r8),
        cmocka_unit_test_setup(realloc_moves_the_block_when_its_heap_lacks_the_new_caps, boot_n8r2),
        ALL_PROFILES(realloc_that_cannot_grow_keeps_the_old_block_and_calls_the_hook),
        ALL_PROFILES(realloc_to_a_size_that_rounds_up_to_zero_frees_the_block_as_esp_idf_does),
        ALL_PROFILES(a_prefer_realloc_that_frees_stops_there),
        ALL_PROFILES(a_prefer_realloc_without_masks_leaves_the_block_alone),
        ALL_PROFILES(realloc_of_a_pointer_no_heap_handed_out_is_counted_and_refused),
        ALL_PROFILES(prefer_tries_each_mask_in_turn_and_reports_the_last_on_failure),
        ALL_PROFILES(exhausting_internal_ram_fails_with_the_hook_and_recovers_after_free),
        ALL_PROFILES(get_info_agrees_with_the_o1_size_queries),
        ALL_PROFILES(every_heaps_figures_are_esp_idfs_to_the_byte),
        ALL_PROFILES(the_largest_free_block_reported_can_be_allocated),
        ALL_PROFILES(totals_per_caps_add_up_the_heaps_that_have_them),
        ALL_PROFILES(fail_next_fails_exactly_n_matching_allocations_and_calls_the_hook),
        ALL_PROFILES(fail_every_fails_each_nth_matching_allocation),
        ALL_PROFILES(an_injected_failure_lets_prefer_fall_back_to_its_next_mask),
        ALL_PROFILES(an_injected_realloc_failure_leaves_the_block_intact),
        ALL_PROFILES(invalid_and_double_frees_are_counted_and_change_nothing),
        ALL_PROFILES(a_pointer_from_before_a_reset_is_an_invalid_free),
        ALL_PROFILES(heap_calls_from_a_simulated_isr_work_and_are_counted),
        ALL_PROFILES(the_containing_block_size_answers_for_any_pointer_inside_a_live_block),
        ALL_PROFILES(a_local_minimum_is_monitored_between_start_and_stop),
        ALL_PROFILES(heap_caps_walk_visits_every_block_of_the_selected_heaps),
        cmocka_unit_test_setup(a_local_minimum_is_monitored_between_start_and_stop,
                               boot_n8r8_use_malloc), /* the DMA pool: minimum 0, then real, 0 */
        ALL_PROFILES(a_null_failed_alloc_callback_is_rejected),
        ALL_PROFILES(integrity_checks_select_heaps_by_caps_and_by_address),
        ALL_PROFILES(malloc_stays_internal_under_use_caps_alloc),
        cmocka_unit_test(each_esp_idf_release_has_its_own_heap_behaviour),
        cmocka_unit_test_setup(use_malloc_keeps_small_blocks_internal_and_puts_large_ones_in_psram,
                               boot_n8r8_use_malloc),
        cmocka_unit_test_setup(
            use_malloc_falls_back_to_the_other_memory_when_the_preferred_one_is_full,
            boot_n8r8_use_malloc),
        cmocka_unit_test_setup(
            use_malloc_reserves_an_internal_dma_pool_that_small_mallocs_reach_after_dram,
            boot_n8r8_use_malloc),
        cmocka_unit_test_setup(dma_requests_find_the_reserved_pool_when_dram_is_full,
                               boot_n8r8_use_malloc),
        cmocka_unit_test_setup(without_psram_use_malloc_behaves_as_ignore_notfound,
                               boot_n8_use_malloc),
        cmocka_unit_test(with_abort_when_allocation_fails_a_failed_call_aborts_after_the_hook),
        cmocka_unit_test_setup(with_use_memmap_psram_is_initialised_but_no_heap_hands_it_out,
                               boot_n8r8_memmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
