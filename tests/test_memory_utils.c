/*
 * test_memory_utils.c - the SRAM/PSRAM/DMA placement API (system_service/memory_utils.h) on every
 * simulated module: where each allocation lands, fallbacks, bad input, realloc rules, free() interop
 * and the figures.
 */
#define _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_support.h"

#include "esp_memory_utils.h"
#include "esp_psram.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h" /* portENTER_CRITICAL, vPortFree */
#include "kraken_sim.h"
#include "memory_pool.h"
#include "sdkconfig.h"
#include "sim_internal.h" /* sim_init_with_policy(): a CONFIG_SPIRAM_USE_MALLOC build */
#include "system_service/memory_utils.h"

static int esp32s3_n8r8(void **state)
{
    (void)state;
    return kraken_sim_init(KRAKEN_SIM_ESP32S3_N8R8) == ESP_OK ? 0 : -1;
}

static int esp32s3_n8r2(void **state)
{
    (void)state;
    return kraken_sim_init(KRAKEN_SIM_ESP32S3_N8R2) == ESP_OK ? 0 : -1;
}

static int esp32s3_n8(void **state)
{
    (void)state;
    return kraken_sim_init(KRAKEN_SIM_ESP32S3_N8) == ESP_OK ? 0 : -1;
}

/* ESP-IDF v5.5.0-v5.5.4 or v6.0 with CONFIG_SPIRAM_USE_MALLOC and its defaults: 16 KiB always
 * internal, a 32 KiB internal/DMA reserve that malloc() does not reach. */
static int esp32s3_n8r8_use_malloc_v5_5(void **state)
{
    (void)state;
    const sim_policy_t policy = {.spiram = true, .use_malloc = true,
                                 .malloc_always_internal = 16384, .reserve_internal = 32768,
                                 .idf = SIM_IDF_V5_5};
    return sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy) == ESP_OK ? 0 : -1;
}

/* CONFIG_ESP32S3_DATA_CACHE_16KB without CONFIG_SPIRAM: a 16 KiB DRAM heap at 0x3C000000. */
static int esp32s3_n8_dcache_16kb(void **state)
{
    (void)state;
    const sim_policy_t policy = {.dcache_kb = 16};
    return sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8, &policy) == ESP_OK ? 0 : -1;
}

/* Tests that need PSRAM in the heap skip where the booted module has none there: in a build
 * without PSRAM support (CONFIG_SPIRAM off, or CONFIG_SPIRAM_USE_MEMMAP), or with
 * CONFIG_SPIRAM_IGNORE_NOTFOUND on a module whose PSRAM the configured mode does not find. */
static void skip_without_psram_support(void)
{
    NEED_PSRAM_IN_HEAP();
}

/* ---- failed-allocation hook ---------------------------------------------------------------- */

static unsigned hook_calls;
static size_t hook_size;
static uint32_t hook_caps;

static void count_failed_alloc(size_t size, uint32_t caps, const char *function)
{
    (void)function;
    hook_calls++;
    hook_size = size;
    hook_caps = caps;
}

static void reset_hook(void)
{
    hook_calls = 0;
    hook_size = 0;
    hook_caps = 0;
    assert_int_equal(heap_caps_register_failed_alloc_callback(count_failed_alloc), ESP_OK);
}

/* ---- placement ------------------------------------------------------------------------------ */

static void app_malloc_lands_in_psram_when_the_module_has_it(void **state)
{
    (void)state;
    skip_without_psram_support();
    uint8_t *buffer = APP_MALLOC(50000);
    assert_non_null(buffer);
    assert_true(esp_ptr_external_ram(buffer));
    assert_false(esp_ptr_internal(buffer));
    memset(buffer, 0xa5, 50000);
    uint8_t *zeroed = APP_CALLOC(10, 100); /* small, and still PSRAM first */
    assert_non_null(zeroed);
    assert_true(esp_ptr_external_ram(zeroed));
    free(zeroed);
    free(buffer);
}

static void app_malloc_falls_back_to_sram_without_psram(void **state)
{
    (void)state;
    assert_false(memory_psram_available());
    uint8_t *buffer = APP_MALLOC(50000);
    assert_non_null(buffer);
    assert_true(esp_ptr_internal(buffer));
    free(buffer);
}

static void app_malloc_falls_back_to_sram_when_psram_fails_without_calling_the_hook(void **state)
{
    (void)state;
    reset_hook();
    kraken_sim_fail_next(MALLOC_CAP_SPIRAM, 1);
    void *data = memory_alloc_prefer_psram(1000);
    assert_non_null(data);
    assert_true(esp_ptr_internal(data));
    assert_int_equal(hook_calls, 0);
    free(data);
}

static void app_malloc_reports_one_failure_when_both_memories_fail(void **state)
{
    (void)state;
    reset_hook();
    kraken_sim_fail_next(0, 2);
    assert_null(APP_MALLOC(1000));
    assert_int_equal(hook_calls, 1);
    assert_int_equal(hook_size, 1000);
    assert_int_equal(hook_caps, MEMORY_CAPS_APP_SRAM); /* the last mask tried */
}

/* PSRAM full and the internal heaps malloc() uses full: an application buffer fails, as a plain
 * malloc() would, and leaves ESP-IDF's internal/DMA reserve to what must be internal (a DMA
 * buffer, SYSTEM_MALLOC); the failure is reported with malloc()'s internal mask. */
static void app_malloc_leaves_the_internal_dma_reserve_alone(void **state)
{
    (void)state;
    void *psram[64], *internal[256];
    const size_t np = take_every_block(psram, 64, MEMORY_CAPS_PSRAM);
    const size_t ni = take_every_block(internal, 256, MEMORY_CAPS_APP_SRAM);
    assert_null(malloc(1024));
    reset_hook();
    assert_null(APP_MALLOC(1024));
    assert_null(APP_CALLOC(1, 1024));
    assert_null(APP_REALLOC(NULL, 1024));
    assert_int_equal(hook_calls, 3);
    assert_int_equal(hook_caps, MEMORY_CAPS_APP_SRAM);
    void *dma = DMA_MALLOC(16384); /* the reserve is still whole */
    assert_non_null(dma);
    assert_string_equal(sim_region_name_of(dma), "DMAPOOL");
    void *sys = SYSTEM_MALLOC(1024);
    assert_non_null(sys);
    assert_string_equal(sim_region_name_of(sys), "DMAPOOL");
    free(sys);
    free(dma);
    for (size_t i = 0; i < ni; i++) {
        heap_caps_free(internal[i]);
    }
    for (size_t i = 0; i < np; i++) {
        heap_caps_free(psram[i]);
    }
}

/* ESP-IDF's heap counts the 16 KiB at 0x3C000000 DMA-capable, esp_ptr_dma_capable() (what drivers
 * check) does not: a DMA_MALLOC block there is moved by DMA_REALLOC, even to the same size. */
static void dma_realloc_moves_a_block_esp_ptr_dma_capable_refuses(void **state)
{
    (void)state;
    void *held[512];
    size_t n = 0;
    void *far = NULL;
    while (n < 512 && (far = DMA_MALLOC(1024)) != NULL && esp_ptr_dma_capable(far)) {
        held[n++] = far; /* until the DMA heaps esp_ptr_dma_capable accepts are full */
    }
    assert_non_null(far);
    assert_false(esp_ptr_dma_capable(far));
    assert_int_equal((uintptr_t)sim_chip_address(far) >> 24, 0x3C);
    memset(far, 0x5a, 1024);
    heap_caps_free(held[--n]); /* room for the move */
    uint8_t *moved = DMA_REALLOC(far, 1024);
    assert_non_null(moved);
    assert_ptr_not_equal(moved, far);
    assert_true(esp_ptr_dma_capable(moved));
    assert_int_equal(moved[0], 0x5a);
    assert_int_equal(moved[1023], 0x5a);
    free(moved);
    while (n > 0) {
        heap_caps_free(held[--n]);
    }
}

static void psram_only_returns_null_without_psram(void **state)
{
    (void)state;
    reset_hook();
    assert_null(memory_alloc_psram_only(1024));
    assert_null(memory_calloc_psram_only(4, 256));
    assert_null(memory_realloc_psram_only(NULL, 1024));
    /* each a failed allocation for the hook (memory_utils.h: firmware for several modules asks
     * memory_psram_available() first, as CONFIG_HEAP_ABORT_WHEN_ALLOCATION_FAILS would abort) */
    assert_int_equal(hook_calls, 3);
    assert_int_equal(hook_caps & MALLOC_CAP_SPIRAM, MALLOC_CAP_SPIRAM);
}

static void psram_only_never_falls_back_to_sram(void **state)
{
    (void)state;
    skip_without_psram_support();
    kraken_sim_fail_next(MALLOC_CAP_SPIRAM, 1);
    assert_null(memory_alloc_psram_only(1024));
    void *p = memory_alloc_psram_only(1024);
    assert_non_null(p);
    assert_true(esp_ptr_external_ram(p));
    free(p);
}

static void system_malloc_and_calloc_are_internal_and_never_psram(void **state)
{
    (void)state;
    void *critical = SYSTEM_MALLOC(2048);
    assert_non_null(critical);
    assert_true(esp_ptr_internal(critical));
    void *zeroed = SYSTEM_CALLOC(4, 512);
    assert_non_null(zeroed);
    assert_true(esp_ptr_internal(zeroed));
    /* larger than all internal SRAM: PSRAM must not be used */
    assert_null(SYSTEM_MALLOC(2u * 1024u * 1024u));
    assert_null(SYSTEM_CALLOC(2, 1024u * 1024u));
    free(zeroed);
    free(critical);
}

static void dma_malloc_is_dma_capable_and_aligned(void **state)
{
    (void)state;
    for (size_t size = 1; size <= 4096; size = size * 3 + 1) {
        void *dma = DMA_MALLOC(size);
        assert_non_null(dma);
        assert_true(esp_ptr_dma_capable(dma));
        assert_true(esp_ptr_internal(dma));
        assert_int_equal((uintptr_t)dma % MEMORY_DMA_ALIGNMENT, 0);
        free(dma);
    }
}

/* Internal RAM that is not DMA-capable (the S3's RTC fast memory in the heap) never serves
 * DMA_MALLOC: with every DMA-capable byte taken, it fails although internal SRAM is still free. */
static void dma_malloc_fails_rather_than_use_internal_memory_dma_cannot_reach(void **state)
{
    (void)state;
    void *held = NULL; /* the blocks holding the DMA-capable memory, chained through their start */
    for (size_t size = 256; size >= sizeof(void *); size /= 2) {
        void *p;
        while ((p = heap_caps_malloc(size, MEMORY_CAPS_DMA)) != NULL) {
            *(void **)p = held;
            held = p;
        }
    }
    assert_true(heap_caps_get_largest_free_block(MEMORY_CAPS_DMA) < 64);
    const size_t not_dma = heap_caps_get_largest_free_block(MEMORY_CAPS_SRAM);
    void *dma = DMA_MALLOC(64);
    void *zeroed = DMA_CALLOC(4, 16);
    while (held != NULL) {
        void *next = *(void **)held;
        free(held);
        held = next;
    }
    if (not_dma < 1024) {
        skip(); /* no internal RAM outside the DMA-capable heaps left to tempt it */
    }
    assert_null(dma);
    assert_null(zeroed);
}

/* The alignment's overhead, as the header bounds it: the DMA region's largest free block itself
 * cannot be had, that block less MEMORY_DMA_ALIGNMENT + 32 bytes can, aligned. */
static void dma_malloc_overhead_is_at_most_the_alignment_plus_32_bytes(void **state)
{
    (void)state;
    const size_t largest = heap_caps_get_largest_free_block(MEMORY_CAPS_DMA);
    assert_true(largest > 1024);
    assert_null(DMA_MALLOC(largest));
    const size_t fits = largest - (MEMORY_DMA_ALIGNMENT + 32);
    void *dma = DMA_MALLOC(fits);
    assert_non_null(dma);
    assert_int_equal((uintptr_t)dma % MEMORY_DMA_ALIGNMENT, 0);
    assert_true(esp_ptr_dma_capable(dma));
    free(dma);
    assert_int_equal(heap_caps_get_largest_free_block(MEMORY_CAPS_DMA), largest);
}

static void app_data_attr_statics_live_in_psram(void **state)
{
    (void)state;
    APP_DATA_ATTR static uint8_t large_buffer[100000];
    large_buffer[99999] = 1;
    assert_int_equal(large_buffer[0], 0);
#if CONFIG_SPIRAM_ALLOW_BSS_SEG_EXTERNAL_MEMORY
    assert_true(esp_ptr_external_ram(large_buffer));
#else
    assert_false(esp_ptr_external_ram(large_buffer));
#endif
}

/* ---- bad input ------------------------------------------------------------------------------ */

static void size_zero_returns_null_everywhere(void **state)
{
    (void)state;
    reset_hook();
    assert_null(APP_MALLOC(0));
    assert_null(SYSTEM_MALLOC(0));
    assert_null(DMA_MALLOC(0));
    assert_null(memory_alloc_psram_only(0));
    assert_null(SYSTEM_CALLOC(8, 0));
    assert_null(DMA_CALLOC(0, 8));
    assert_int_equal(hook_calls, 0); /* heap_caps_malloc(0) and heap_caps_aligned_calloc are not */
    assert_null(APP_CALLOC(0, 8));
    assert_null(SYSTEM_CALLOC(0, 8));
    /* ESP-IDF's heap_caps_calloc*() report a NULL result whenever `size` > 0 (heap_caps.c):
     * the prefer form with `size`, the single-caps form with the product */
    assert_int_equal(hook_calls, 2);
    assert_int_equal(hook_size, 0);
}

static void calloc_overflow_returns_null(void **state)
{
    (void)state;
    const size_t half = SIZE_MAX / 2 + 1;
    reset_hook();
    assert_null(APP_CALLOC(half, 2));
    assert_null(SYSTEM_CALLOC(half, 2));
    assert_null(DMA_CALLOC(half, 2));
    assert_null(memory_calloc_psram_only(SIZE_MAX, SIZE_MAX));
    assert_int_equal(hook_calls, 4); /* each a failed allocation, as heap_caps_calloc reports it */
    /* A product beyond the chip's 32-bit size_t overflows on a 64-bit host too: the request
     * reported is the chip's largest size, not the host's product (4 GB + 64 KB). */
    reset_hook();
    assert_null(DMA_CALLOC(0x10000, 0x10001));
    assert_int_equal(hook_calls, 1);
    assert_true(hook_size == (size_t)UINT32_MAX);
}

static void huge_sizes_return_null(void **state)
{
    (void)state;
    assert_null(APP_MALLOC(SIZE_MAX));
    assert_null(SYSTEM_MALLOC(SIZE_MAX));
    assert_null(DMA_MALLOC(SIZE_MAX));
    assert_null(DMA_MALLOC(SIZE_MAX - 8));
}

static void calloc_forms_zero_fill(void **state)
{
    (void)state;
    void *(*const callocs[])(size_t, size_t) = {memory_calloc_prefer_psram, memory_calloc_sram,
                                                 memory_calloc_dma};
    for (size_t i = 0; i < sizeof callocs / sizeof callocs[0]; i++) {
        /* dirty a block, free it, then calloc the same size: it must come back zeroed */
        uint8_t *dirty = callocs[i](100, 10);
        assert_non_null(dirty);
        memset(dirty, 0xff, 1000);
        free(dirty);
        uint8_t *clean = callocs[i](100, 10);
        assert_non_null(clean);
        for (size_t b = 0; b < 1000; b++) {
            assert_int_equal(clean[b], 0);
        }
        free(clean);
    }
}

/* ---- realloc -------------------------------------------------------------------------------- */

static void realloc_null_allocates_and_size_zero_frees(void **state)
{
    (void)state;
    void *(*const reallocs[])(void *, size_t) = {memory_realloc_prefer_psram,
                                                 memory_realloc_psram_only, memory_realloc_sram,
                                                 memory_realloc_dma};
    for (size_t i = 0; i < sizeof reallocs / sizeof reallocs[0]; i++) {
        const size_t sram_before = memory_get_free_sram();
        const size_t psram_before = memory_get_free_psram();
        kraken_sim_stats_t before, after;
        kraken_sim_get_stats(&before);
        void *p = reallocs[i](NULL, 100);
        if (reallocs[i] == memory_realloc_psram_only && !memory_psram_available()) {
            assert_null(p); /* no PSRAM in the heap: nothing to allocate from */
            continue;
        }
        assert_non_null(p);
        kraken_sim_get_stats(&after);
        assert_int_equal(after.allocations, before.allocations + 1);
        if (reallocs[i] == memory_realloc_sram) {
            assert_true(esp_ptr_internal(p));
        } else if (reallocs[i] == memory_realloc_dma) { /* DMA_REALLOC(NULL) is DMA_MALLOC */
            assert_true(esp_ptr_dma_capable(p));
            assert_int_equal((uintptr_t)p % MEMORY_DMA_ALIGNMENT, 0);
        } else {
            assert_true(esp_ptr_external_ram(p) == memory_psram_available());
        }
        kraken_sim_get_stats(&before);
        assert_null(reallocs[i](p, 0));
        kraken_sim_get_stats(&after);
        assert_int_equal(after.frees, before.frees + 1);
        assert_int_equal(memory_get_free_sram(), sram_before); /* freed, not leaked */
        assert_int_equal(memory_get_free_psram(), psram_before);
    }
}

static void realloc_keeps_contents_and_placement(void **state)
{
    (void)state;
    uint8_t *p = APP_MALLOC(64);
    assert_non_null(p);
    for (int i = 0; i < 64; i++) {
        p[i] = (uint8_t)i;
    }
    p = APP_REALLOC(p, 100000);
    assert_non_null(p);
    assert_true(esp_ptr_external_ram(p) == memory_psram_available());
    for (int i = 0; i < 64; i++) {
        assert_int_equal(p[i], i);
    }
    free(p);
}

static void failed_realloc_leaves_the_block_valid(void **state)
{
    (void)state;
    uint8_t *p = SYSTEM_MALLOC(32);
    assert_non_null(p);
    memset(p, 7, 32);
    assert_null(SYSTEM_REALLOC(p, 4u * 1024u * 1024u));
    kraken_sim_fail_next(0, 4);
    assert_null(DMA_REALLOC(p, 64 * 1024));
    kraken_sim_fault_clear();
    for (int i = 0; i < 32; i++) {
        assert_int_equal(p[i], 7);
    }
    /* every placement, for sizes no heap can give (SIZE_MAX: no overflow inside either) and when
     * every heap call fails: NULL, the block and its contents kept, nothing allocated */
    void *(*const reallocs[])(void *, size_t) = {memory_realloc_prefer_psram,
                                                 memory_realloc_psram_only, memory_realloc_sram,
                                                 memory_realloc_dma};
    const size_t sram_before = memory_get_free_sram();
    const size_t psram_before = memory_get_free_psram();
    for (size_t i = 0; i < sizeof reallocs / sizeof reallocs[0]; i++) {
        assert_null(reallocs[i](p, SIZE_MAX));
        assert_null(reallocs[i](p, SIZE_MAX - MEMORY_DMA_ALIGNMENT));
        kraken_sim_fail_next(0, 8);
        assert_null(reallocs[i](p, 3000));
        kraken_sim_fault_clear();
        for (int b = 0; b < 32; b++) {
            assert_int_equal(p[b], 7);
        }
    }
    assert_int_equal(memory_get_free_sram(), sram_before);
    assert_int_equal(memory_get_free_psram(), psram_before);
    assert_true(heap_caps_check_integrity_all(true));
    free(p);
}

static void dma_realloc_keeps_alignment_and_contents(void **state)
{
    (void)state;
    uint8_t *p = DMA_MALLOC(24);
    assert_non_null(p);
    memset(p, 0x3c, 24);
    for (size_t size = 40; size < 20000; size *= 3) {
        p = DMA_REALLOC(p, size);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % MEMORY_DMA_ALIGNMENT, 0);
        assert_true(esp_ptr_dma_capable(p));
        for (int i = 0; i < 24; i++) {
            assert_int_equal(p[i], 0x3c);
        }
    }
    assert_null(DMA_REALLOC(p, 0));
}

/* A DMA buffer that is already large enough stays where it is, contents and all: no heap call,
 * the same pointer (a driver may have handed it to the hardware), at its full usable size too. */
static void dma_realloc_keeps_a_dma_buffer_that_is_large_enough(void **state)
{
    (void)state;
    uint8_t *p = DMA_MALLOC(1000);
    assert_non_null(p);
    memset(p, 0x42, 1000);
    const size_t usable = heap_caps_get_allocated_size(p);
    assert_true(usable >= 1000);
    kraken_sim_stats_t before, after;
    kraken_sim_get_stats(&before);
    assert_ptr_equal(DMA_REALLOC(p, usable), p);
    assert_ptr_equal(DMA_REALLOC(p, 1000), p);
    assert_ptr_equal(DMA_REALLOC(p, 10), p); /* never shrinks in place */
    kraken_sim_get_stats(&after);
    assert_int_equal(after.allocations, before.allocations);
    assert_int_equal(after.frees, before.frees);
    assert_int_equal(heap_caps_get_allocated_size(p), usable);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(p[i], 0x42);
    }
    free(p);
}

/* DMA_REALLOC keeps a block only when it is already a DMA buffer: a PSRAM block, or an internal one
 * off the 16-byte alignment, moves even when it shrinks. */
static void dma_realloc_moves_a_block_that_is_not_a_dma_buffer(void **state)
{
    (void)state;
    const size_t sram_before = memory_get_free_sram();
    const size_t psram_before = memory_get_free_psram();
    if (memory_psram_available()) {
        uint8_t *ext = memory_alloc_psram_only(1000);
        assert_non_null(ext);
        memset(ext, 0x5a, 1000);
        uint8_t *moved = DMA_REALLOC(ext, 100);
        assert_non_null(moved);
        assert_true(esp_ptr_dma_capable(moved));
        assert_int_equal((uintptr_t)moved % MEMORY_DMA_ALIGNMENT, 0);
        for (int i = 0; i < 100; i++) {
            assert_int_equal(moved[i], 0x5a);
        }
        free(moved);
    }
    /* an internal block whose address is not a multiple of 16 */
    enum { TRIES = 32 };
    uint8_t *blocks[TRIES] = {0};
    uint8_t *odd = NULL;
    for (int i = 0; i < TRIES && odd == NULL; i++) {
        blocks[i] = SYSTEM_MALLOC(1000 + 4 * (size_t)i);
        assert_non_null(blocks[i]);
        if ((uintptr_t)blocks[i] % MEMORY_DMA_ALIGNMENT != 0) {
            odd = blocks[i];
            blocks[i] = NULL;
        }
    }
    assert_non_null(odd); /* the heap hands out 4-byte aligned blocks */
    memset(odd, 0xa5, 1000);
    uint8_t *moved = DMA_REALLOC(odd, 100);
    assert_non_null(moved);
    assert_int_equal((uintptr_t)moved % MEMORY_DMA_ALIGNMENT, 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(moved[i], 0xa5);
    }
    free(moved);
    for (int i = 0; i < TRIES; i++) {
        free(blocks[i]);
    }
    /* each move released the block it left */
    assert_int_equal(memory_get_free_sram(), sram_before);
    assert_int_equal(memory_get_free_psram(), psram_before);
}

static void realloc_of_a_pointer_no_heap_handed_out_returns_null_and_leaves_it(void **state)
{
    (void)state;
    static uint8_t not_from_the_heap[64];
    kraken_sim_stats_t before, after;
    kraken_sim_get_stats(&before);
    size_t free_before = memory_get_free_sram();
    size_t psram_free_before = memory_get_free_psram();
    assert_null(DMA_REALLOC(not_from_the_heap, 128));
    kraken_sim_get_stats(&after);
    assert_int_equal(after.allocations, before.allocations); /* nothing allocated, nothing leaked */
    assert_int_equal(after.frees, before.frees);
    assert_int_equal(after.invalid_queries, before.invalid_queries + 1); /* its size: counted */
    assert_null(DMA_REALLOC(not_from_the_heap, 0)); /* a free of it: refused, counted */
    kraken_sim_get_stats(&after);
    assert_int_equal(after.frees, before.frees);
    assert_int_equal(after.invalid_frees, before.invalid_frees + 1);
    /* The other three go to heap_caps_realloc*: refused there (NULL, counted), nothing allocated
     * in either memory, the size-0 form (a free) included */
    void *(*const reallocs[])(void *, size_t) = {memory_realloc_prefer_psram,
                                                 memory_realloc_psram_only, memory_realloc_sram};
    for (size_t i = 0; i < sizeof reallocs / sizeof reallocs[0]; i++) {
        kraken_sim_get_stats(&before);
        assert_null(reallocs[i](not_from_the_heap, 128));
        assert_null(reallocs[i](not_from_the_heap, 0));
        kraken_sim_get_stats(&after);
        assert_int_equal(after.allocations, before.allocations);
        assert_int_equal(after.frees, before.frees);
        assert_int_equal(after.invalid_frees, before.invalid_frees + 2);
    }
    assert_int_equal(memory_get_free_sram(), free_before);
    assert_int_equal(memory_get_free_psram(), psram_free_before);
    assert_true(heap_caps_check_integrity_all(true));
}

static void realloc_of_a_pool_block_is_refused_and_leaves_it(void **state)
{
    (void)state;
    /* a pool block, and a heap block the pools track (oversize) unless they may not use the heap */
    const size_t sizes[2] = {40, 5000};
    uint8_t *blocks[2] = {memory_pool_alloc(sizes[0]), memory_pool_alloc(sizes[1])};
    memory_pool_stats_t before, after;
    memory_pool_get_stats(&before);
    const size_t n = before.heap_blocks_max > 0 ? 2 : 1;
    assert_null(n == 2 ? NULL : blocks[1]);
    for (size_t k = 0; k < n; k++) {
        assert_non_null(blocks[k]);
        memset(blocks[k], 0x11 + (int)k, sizes[k]);
    }
    size_t sram_before = memory_get_free_sram();
    void *(*const reallocs[])(void *, size_t) = {memory_realloc_prefer_psram,
                                                 memory_realloc_psram_only, memory_realloc_sram,
                                                 memory_realloc_dma};
    for (size_t i = 0; i < sizeof reallocs / sizeof reallocs[0]; i++) {
        for (size_t k = 0; k < n; k++) {
            assert_null(reallocs[i](blocks[k], sizes[k] + 100));
            assert_null(reallocs[i](blocks[k], 0)); /* not even a free */
        }
    }
    memory_pool_get_stats(&after);
    const uint32_t refused = (uint32_t)(sizeof reallocs / sizeof reallocs[0] * 2 * n);
    assert_int_equal(after.heap_calls, before.heap_calls + refused); /* counted as misuse */
    assert_int_equal(after.invalid_frees, before.invalid_frees + refused);
    after.heap_calls = before.heap_calls;
    after.invalid_frees = before.invalid_frees;
    assert_memory_equal(&after, &before, sizeof before); /* nothing else changed */
    assert_int_equal(memory_get_free_sram(), sram_before);
    for (size_t k = 0; k < n; k++) {
        assert_true(memory_pool_owns(blocks[k]));
        for (size_t b = 0; b < sizes[k]; b++) {
            assert_int_equal(blocks[k][b], 0x11 + (int)k);
        }
        memory_pool_free(blocks[k]);
    }
    assert_int_equal(memory_pool_deinit(), ESP_OK);
}

/* A refused realloc says so once: one error line, from the pools, that names the function, the
 * block and the call site (the hook's caller), and says how to release the block. */
static memory_pool_misuse_info_t refused_info;
static unsigned refused_reports;

static void remember_misuse(const memory_pool_misuse_info_t *info)
{
    refused_info = *info;
    refused_reports++;
}

/* The block's owner (the allocating call in the test function at `here`) with CHECK BASIC or FULL;
 * "owner unknown" without checks, never a null pointer. */
static void expect_owner(const char *line, const void *owner, uintptr_t here)
{
    char expect[64];
#ifdef CONFIG_SYSTEM_SERVICE_MEMORY_POOL_CHECK_NONE
    (void)here;
    assert_null(owner);
    snprintf(expect, sizeof expect, ", owner unknown: ");
#else
    assert_true((uintptr_t)owner > here && (uintptr_t)owner < here + 16384);
    snprintf(expect, sizeof expect, ", owner %p: ", owner);
#endif
    assert_non_null(strstr(line, expect));
}

static void a_refused_realloc_logs_one_line_naming_the_function_and_the_caller(void **state)
{
    (void)state;
    NEED_LOG_LEVEL(ESP_LOG_ERROR);
    void *block = memory_pool_alloc(8); /* Small in every configuration */
    assert_non_null(block);
    void *oversize = memory_pool_alloc(5000); /* a heap block of the pools, if they may use one */
    memory_pool_set_misuse_hook(remember_misuse);
    void *(*const reallocs[])(void *, size_t) = {memory_realloc_prefer_psram,
                                                 memory_realloc_psram_only, memory_realloc_sram,
                                                 memory_realloc_dma};
    const char *const names[] = {"memory_realloc_prefer_psram", "memory_realloc_psram_only",
                                 "memory_realloc_sram", "memory_realloc_dma"};
    for (size_t i = 0; i < sizeof reallocs / sizeof reallocs[0]; i++) {
        static char out[1024];
        refused_reports = 0;
        capture_stdout_begin();
        void *result = reallocs[i](block, 100);
        capture_stdout_end(out, sizeof out);
        assert_null(result);
        assert_int_equal(refused_reports, 1);
        assert_int_equal(refused_info.kind, MEMORY_POOL_MISUSE_HEAP_CALL);
        assert_ptr_equal(refused_info.ptr, block);
        /* the call site is in this function, not in memory_utils.c */
        const uintptr_t here =
            (uintptr_t)a_refused_realloc_logs_one_line_naming_the_function_and_the_caller;
        assert_true((uintptr_t)refused_info.caller > here &&
                    (uintptr_t)refused_info.caller < here + 16384);
        const char *newline = strchr(out, '\n');
        assert_non_null(newline);
        assert_string_equal(newline + 1, ""); /* one line */
        assert_true(out[0] == 'E');
        char expect[160];
        snprintf(expect, sizeof expect, ": %p (Small), caller %p,", block, refused_info.caller);
        assert_non_null(strstr(out, expect));
        expect_owner(out, refused_info.owner, here);
        snprintf(expect, sizeof expect, ": %s() refused it, release it with memory_pool_free()\n",
                 names[i]);
        assert_non_null(strstr(out, expect));
        if (oversize != NULL) {
            capture_stdout_begin();
            result = reallocs[i](oversize, 6000);
            capture_stdout_end(out, sizeof out);
            assert_null(result);
            assert_int_equal(refused_reports, 2);
            snprintf(expect, sizeof expect, ": %p (a heap block of the pools), caller %p,",
                     oversize, refused_info.caller);
            assert_non_null(strstr(out, expect));
            expect_owner(out, refused_info.owner, here);
            assert_string_equal(strchr(out, '\n') + 1, "");
        }
    }
    memory_pool_set_misuse_hook(NULL);
    memory_pool_free(oversize);
    memory_pool_free(block);
    assert_int_equal(memory_pool_deinit(), ESP_OK);
}

/* On the host free(), heap_caps_free(), realloc(), heap_caps_realloc() and the calls built on them
 * refuse a pool block (on the chip they would corrupt the heap) as memory_realloc_* do: the pools count it (heap_calls),
 * report it to their misuse hook with the call site and log one line naming the function; the
 * block stays the caller's. Called through pointers: the compiler would see a use after free. */
static void a_heap_call_on_a_pool_block_is_refused_and_reported_by_the_pools(void **state)
{
    (void)state;
    NEED_LOG_LEVEL(ESP_LOG_ERROR);
    void (*volatile free_fn)(void *) = free;
    void (*volatile heap_caps_free_fn)(void *) = heap_caps_free;
    void *(*volatile realloc_fn)(void *, size_t) = realloc;
    void *(*volatile heap_caps_realloc_fn)(void *, size_t, uint32_t) = heap_caps_realloc;
    void (*volatile port_free_fn)(void *) = vPortFree;
    void *(*volatile reallocarray_fn)(void *, size_t, size_t) = reallocarray;
    /* the function each is on the chip: vPortFree() is heap_caps_free(), reallocarray() realloc() */
    const char *const names[] = {"free", "heap_caps_free", "realloc", "heap_caps_realloc",
                                 "heap_caps_free", "realloc", "free"};
    uint8_t *block = memory_pool_alloc(8);
    assert_non_null(block);
    memory_pool_set_misuse_hook(remember_misuse);
    refused_reports = 0;
    kraken_sim_stats_t sim_before, sim_after;
    kraken_sim_get_stats(&sim_before);
    const uintptr_t here = (uintptr_t)a_heap_call_on_a_pool_block_is_refused_and_reported_by_the_pools;
    kraken_sim_stats_t critical_before;
    kraken_sim_get_stats(&critical_before);
    for (unsigned i = 0; i < 7; i++) {
        static char out[1024];
        static portMUX_TYPE mux = portMUX_INITIALIZER_UNLOCKED;
        capture_stdout_begin();
        if (i == 0) {
            free_fn(block);
        } else if (i == 1) {
            heap_caps_free_fn(block);
        } else if (i == 2) {
            assert_null(realloc_fn(block, 100));
        } else if (i == 3) {
            assert_null(heap_caps_realloc_fn(block, 100, MALLOC_CAP_8BIT));
        } else if (i == 4) {
            port_free_fn(block);
        } else if (i == 5) {
            assert_null(reallocarray_fn(block, 10, 10));
        } else { /* the report is the simulator's: no log line the chip would abort on */
            portENTER_CRITICAL(&mux);
            free_fn(block);
            portEXIT_CRITICAL(&mux);
        }
        capture_stdout_end(out, sizeof out);
        assert_int_equal(refused_reports, i + 1);
        assert_int_equal(refused_info.kind, MEMORY_POOL_MISUSE_HEAP_CALL);
        assert_ptr_equal(refused_info.ptr, block);
        assert_true((uintptr_t)refused_info.caller > here &&
                    (uintptr_t)refused_info.caller < here + 16384);
        char expect[120];
        snprintf(expect, sizeof expect, ": %s() refused it, release it with memory_pool_free()\n",
                 names[i]);
        assert_non_null(strstr(out, expect));
        assert_string_equal(strchr(out, '\n') + 1, ""); /* one line */
    }
    kraken_sim_get_stats(&sim_after);
    assert_int_equal(sim_after.invalid_frees - sim_before.invalid_frees, 7);
    assert_int_equal(sim_after.critical_logs, critical_before.critical_logs);
    memory_pool_stats_t st;
    assert_int_equal(memory_pool_get_stats(&st), ESP_OK);
    assert_int_equal(st.heap_calls, 7);
    memset(block, 0xA5, 8); /* still the caller's */
    memory_pool_set_misuse_hook(NULL);
    memory_pool_free(block);
    assert_int_equal(memory_pool_deinit(), ESP_OK);
}

/* Nothing here calls heap_monitor_init(): the log must not pass the failure count off as 0. */
static void failures_are_shown_as_not_counted_without_heap_monitor_init(void **state)
{
    (void)state;
    NEED_LOG_LEVEL(ESP_LOG_INFO); /* the report is INFO lines */
    assert_null(SYSTEM_MALLOC(64u << 20)); /* a failure nobody counts */
    static char out[4096];
    capture_stdout_begin();
    heap_monitor_log_stats("tag");
    capture_stdout_end(out, sizeof out);
    assert_non_null(strstr(out, "Failed allocations: not counted (heap_monitor_init() not called)"));
    assert_null(strstr(out, "Failed allocations: 0"));
}

/* ---- free() interop and figures ------------------------------------------------------------ */

static void plain_free_releases_every_helper_allocation(void **state)
{
    (void)state;
    size_t sram_before = memory_get_free_sram();
    size_t psram_before = memory_get_free_psram();
    void *a = APP_MALLOC(5000);
    void *b = SYSTEM_MALLOC(700);
    void *c = DMA_MALLOC(512);
    void *d = APP_CALLOC(10, 10);
    assert_true(a && b && c && d);
    free(a);
    free(b);
    free(c);
    free(d);
    assert_int_equal(memory_get_free_sram(), sram_before);
    assert_int_equal(memory_get_free_psram(), psram_before);
    assert_true(heap_caps_check_integrity_all(true));
}

static void memory_info_matches_heap_caps(void **state)
{
    (void)state;
    assert_int_equal(memory_get_info(NULL), ESP_ERR_INVALID_ARG);
    void *hold = SYSTEM_MALLOC(10000);
    assert_non_null(hold);
    free(APP_MALLOC(100000)); /* PSRAM's minimum below its free bytes (SRAM's without PSRAM) */
    memory_info_t info;
    assert_int_equal(memory_get_info(&info), ESP_OK);
    assert_int_equal(info.free_sram, heap_caps_get_free_size(MEMORY_CAPS_SRAM));
    assert_int_equal(info.total_sram, heap_caps_get_total_size(MEMORY_CAPS_SRAM));
    assert_int_equal(info.min_free_sram, heap_caps_get_minimum_free_size(MEMORY_CAPS_SRAM));
    assert_int_equal(info.largest_free_sram, heap_caps_get_largest_free_block(MEMORY_CAPS_SRAM));
    assert_int_equal(info.free_psram, heap_caps_get_free_size(MEMORY_CAPS_PSRAM));
    assert_int_equal(info.total_psram, heap_caps_get_total_size(MEMORY_CAPS_PSRAM));
    assert_int_equal(info.min_free_psram, heap_caps_get_minimum_free_size(MEMORY_CAPS_PSRAM));
    assert_int_equal(info.largest_free_psram, heap_caps_get_largest_free_block(MEMORY_CAPS_PSRAM));
    assert_int_equal(info.free_dma, heap_caps_get_free_size(MEMORY_CAPS_DMA));
    assert_int_equal(info.free_sram, memory_get_free_sram());
    assert_int_equal(info.free_psram, memory_get_free_psram());
    assert_true(info.psram_available == memory_psram_available());
    assert_int_equal(info.psram_size, esp_psram_get_size());
    assert_true(info.min_free_sram <= info.free_sram);
    assert_true(info.largest_free_sram <= info.free_sram);
    if (!info.psram_available) {
        assert_int_equal(info.free_psram, 0);
        assert_int_equal(info.total_psram, 0);
    } else {
        assert_true(info.total_psram > 1024u * 1024u);
        assert_true(info.min_free_psram < info.free_psram);
    }
    free(hold);
}

/* On the chip heap_caps_get_largest_free_block() walks every block of each heap with interrupts
 * masked; the headers promise which calls do that. */
size_t __real_heap_caps_get_largest_free_block(uint32_t caps);
static atomic_int largest_block_reads;

size_t __wrap_heap_caps_get_largest_free_block(uint32_t caps)
{
    atomic_fetch_add(&largest_block_reads, 1);
    return __real_heap_caps_get_largest_free_block(caps);
}

static void only_memory_get_info_reads_the_largest_blocks(void **state)
{
    (void)state;
    atomic_store(&largest_block_reads, 0);
    (void)memory_get_free_sram();
    (void)memory_get_free_psram();
    (void)memory_psram_available();
    assert_int_equal(atomic_load(&largest_block_reads), 0);
    memory_info_t info;
    assert_int_equal(memory_get_info(&info), ESP_OK);
    assert_int_equal(atomic_load(&largest_block_reads), 2); /* SRAM and PSRAM, not DMA */
}

static void free_sram_drops_by_at_least_the_request(void **state)
{
    (void)state;
    size_t before = memory_get_free_sram();
    void *p = SYSTEM_MALLOC(4000);
    assert_non_null(p);
    size_t during = memory_get_free_sram();
    assert_true(before - during >= 4000);
    assert_true(before - during <= 4000 + 4000 / 8 + 8); /* size class (at most 1/8) + header */
    free(p);
    assert_int_equal(memory_get_free_sram(), before);
}

/* Run memory_log_usage and return what it printed. */
static char *capture_log_usage(const char *tag, char *out, size_t out_size)
{
    capture_stdout_begin();
    memory_log_usage(tag);
    capture_stdout_end(out, out_size);
    return out;
}

static void log_usage_prints_the_same_figures_as_memory_get_info(void **state)
{
    (void)state;
    NEED_LOG_LEVEL(ESP_LOG_INFO); /* the usage is INFO lines */
    static char text[2048];
    memory_info_t info;
    memory_get_info(&info);
    capture_log_usage("my_service", text, sizeof text);
    char expect[160];
    assert_non_null(strstr(text, "my_service"));
    /* each figure in its place; the used share in tenths of a percent, rounded down */
    unsigned used = (unsigned)((info.total_sram - info.free_sram) * 1000ull / info.total_sram);
    snprintf(expect, sizeof expect,
             "SRAM:  %zu / %zu bytes free (%u.%u%% used), min free %zu, largest block %zu\n",
             info.free_sram, info.total_sram, used / 10, used % 10, info.min_free_sram,
             info.largest_free_sram);
    assert_non_null(strstr(text, expect));
    snprintf(expect, sizeof expect, "DMA:   %zu bytes free (internal, DMA-capable)\n",
             info.free_dma);
    assert_non_null(strstr(text, expect));
    if (info.psram_available) {
        used = (unsigned)((info.total_psram - info.free_psram) * 1000ull / info.total_psram);
        snprintf(expect, sizeof expect,
                 "PSRAM: %zu / %zu bytes free (%u.%u%% used), min free %zu, largest block %zu\n",
                 info.free_psram, info.total_psram, used / 10, used % 10, info.min_free_psram,
                 info.largest_free_psram);
        assert_non_null(strstr(text, expect));
    } else {
        assert_non_null(strstr(text, "PSRAM: not available"));
    }
    capture_log_usage(NULL, text, sizeof text);
    assert_non_null(strstr(text, "memory"));
    /* task only: from an ISR nothing is printed */
    kraken_sim_isr_enter();
    capture_log_usage("my_service", text, sizeof text);
    kraken_sim_isr_exit();
    assert_string_equal(text, "");
}

/* One entry per (profile, behaviour), named "profile: behaviour" in the report. */
static void esp_log_prints_in_esp_idfs_format_at_the_tags_level(void **state)
{
    (void)state;
    NEED_LOG_LEVEL(ESP_LOG_INFO);
    esp_log_level_set("wifi", ESP_LOG_INFO); /* whatever CONFIG_LOG_DEFAULT_LEVEL is */
    char out[256];
    capture_stdout_begin();
    ESP_LOGI("wifi", "rssi %d", -42);
    ESP_LOGE("wifi", "lost");
    ESP_LOGD("wifi", "hidden below INFO");
    capture_stdout_end(out, sizeof out);
    unsigned ms_i = 0, ms_e = 0;
    int used = 0;
    assert_int_equal(sscanf(out, "I (%u) wifi: rssi -42\n%n", &ms_i, &used), 1);
    assert_true(used > 0);
    assert_int_equal(sscanf(out + used, "E (%u) wifi: lost\n", &ms_e), 1);
    assert_true(ms_e >= ms_i);
    assert_null(strstr(out, "hidden"));
}

/* The simulated esp_timer counts real microseconds: against
 * CLOCK_MONOTONIC over 200 ms it agrees within 0.5 %, and it never goes back. */
static int64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void esp_timer_get_time_counts_microseconds_and_never_goes_back(void **state)
{
    (void)state;
    /* each timer read between two CLOCK_MONOTONIC reads: a preemption widens the bracket
     * instead of failing the test (it did under qemu on a loaded machine) */
    const int64_t m0_before = monotonic_us(), t0 = esp_timer_get_time(), m0_after = monotonic_us();
    assert_true(t0 >= 0);
    int64_t last = t0;
    do { /* busy: the reads must be monotonic on their own */
        const int64_t t = esp_timer_get_time();
        assert_true(t >= last);
        last = t;
    } while (monotonic_us() - m0_before < 200000);
    const int64_t m1_before = monotonic_us(), t1 = esp_timer_get_time(), m1_after = monotonic_us();
    const int64_t elapsed = t1 - t0;
    assert_true(elapsed >= m1_before - m0_after - 2); /* microsecond truncation */
    assert_true(elapsed <= m1_after - m0_before + 2);
}

/* A read that happens after another thread's read (here: after seeing it published) is not
 * smaller: the bus compares a post's timestamp with the dispatcher's clock. 300 000 hand-overs. */
static _Atomic int64_t handed_time;
static atomic_int handed_turn;
static atomic_int handed_backwards;
enum { HANDOVERS = 300000 };

static void *timer_handover_peer(void *arg)
{
    (void)arg;
    for (int i = 0; i < HANDOVERS; i++) {
        while (atomic_load(&handed_turn) != 1) {
        }
        if (esp_timer_get_time() < atomic_load(&handed_time)) {
            atomic_fetch_add(&handed_backwards, 1);
        }
        atomic_store(&handed_time, esp_timer_get_time());
        atomic_store(&handed_turn, 0);
    }
    return NULL;
}

static void esp_timer_get_time_never_goes_back_across_threads(void **state)
{
    (void)state;
    pthread_t peer;
    atomic_store(&handed_turn, 0);
    assert_int_equal(pthread_create(&peer, NULL, timer_handover_peer, NULL), 0);
    for (int i = 0; i < HANDOVERS; i++) {
        while (atomic_load(&handed_turn) != 0) {
        }
        if (i > 0 && esp_timer_get_time() < atomic_load(&handed_time)) {
            atomic_fetch_add(&handed_backwards, 1);
        }
        atomic_store(&handed_time, esp_timer_get_time());
        atomic_store(&handed_turn, 1);
    }
    pthread_join(peer, NULL);
    assert_int_equal(atomic_load(&handed_backwards), 0);
}

#define ON(profile_setup, test)                                                                     \
    { #profile_setup ": " #test, test, profile_setup, NULL, NULL }

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON(esp32s3_n8r8, app_malloc_lands_in_psram_when_the_module_has_it),
        ON(esp32s3_n8r2, app_malloc_lands_in_psram_when_the_module_has_it),
        ON(esp32s3_n8, app_malloc_falls_back_to_sram_without_psram),
        ON(esp32s3_n8r8, app_malloc_falls_back_to_sram_when_psram_fails_without_calling_the_hook),
        ON(esp32s3_n8r8, app_malloc_reports_one_failure_when_both_memories_fail),
        ON(esp32s3_n8r8_use_malloc_v5_5, app_malloc_leaves_the_internal_dma_reserve_alone),
        ON(esp32s3_n8, psram_only_returns_null_without_psram),
        ON(esp32s3_n8r2, psram_only_never_falls_back_to_sram),
        ON(esp32s3_n8r8, system_malloc_and_calloc_are_internal_and_never_psram),
        ON(esp32s3_n8, system_malloc_and_calloc_are_internal_and_never_psram),
        ON(esp32s3_n8r8, dma_malloc_is_dma_capable_and_aligned),
        ON(esp32s3_n8, dma_malloc_is_dma_capable_and_aligned),
        ON(esp32s3_n8r8, dma_malloc_fails_rather_than_use_internal_memory_dma_cannot_reach),
        ON(esp32s3_n8, dma_malloc_fails_rather_than_use_internal_memory_dma_cannot_reach),
        ON(esp32s3_n8r8, dma_malloc_overhead_is_at_most_the_alignment_plus_32_bytes),
        ON(esp32s3_n8, dma_malloc_overhead_is_at_most_the_alignment_plus_32_bytes),
        ON(esp32s3_n8r8, app_data_attr_statics_live_in_psram),
        ON(esp32s3_n8r8, size_zero_returns_null_everywhere),
        ON(esp32s3_n8, size_zero_returns_null_everywhere),
        ON(esp32s3_n8r8, calloc_overflow_returns_null),
        ON(esp32s3_n8r8, huge_sizes_return_null),
        ON(esp32s3_n8r8, calloc_forms_zero_fill),
        ON(esp32s3_n8, calloc_forms_zero_fill),
        ON(esp32s3_n8r8, realloc_null_allocates_and_size_zero_frees),
        ON(esp32s3_n8r8, realloc_keeps_contents_and_placement),
        ON(esp32s3_n8, realloc_keeps_contents_and_placement),
        ON(esp32s3_n8r8, failed_realloc_leaves_the_block_valid),
        ON(esp32s3_n8r8, dma_realloc_keeps_alignment_and_contents),
        ON(esp32s3_n8r8, dma_realloc_keeps_a_dma_buffer_that_is_large_enough),
        ON(esp32s3_n8r8, dma_realloc_moves_a_block_that_is_not_a_dma_buffer),
        ON(esp32s3_n8, dma_realloc_moves_a_block_that_is_not_a_dma_buffer),
        ON(esp32s3_n8_dcache_16kb, dma_realloc_moves_a_block_esp_ptr_dma_capable_refuses),
        ON(esp32s3_n8r8, realloc_of_a_pointer_no_heap_handed_out_returns_null_and_leaves_it),
        ON(esp32s3_n8r8, realloc_of_a_pool_block_is_refused_and_leaves_it),
        ON(esp32s3_n8r8, a_refused_realloc_logs_one_line_naming_the_function_and_the_caller),
        ON(esp32s3_n8r8, a_heap_call_on_a_pool_block_is_refused_and_reported_by_the_pools),
        ON(esp32s3_n8r8, failures_are_shown_as_not_counted_without_heap_monitor_init),
        ON(esp32s3_n8r8, plain_free_releases_every_helper_allocation),
        ON(esp32s3_n8, plain_free_releases_every_helper_allocation),
        ON(esp32s3_n8r8, memory_info_matches_heap_caps),
        ON(esp32s3_n8r2, memory_info_matches_heap_caps),
        ON(esp32s3_n8, memory_info_matches_heap_caps),
        ON(esp32s3_n8r8, only_memory_get_info_reads_the_largest_blocks),
        ON(esp32s3_n8r8, free_sram_drops_by_at_least_the_request),
        ON(esp32s3_n8r8, log_usage_prints_the_same_figures_as_memory_get_info),
        ON(esp32s3_n8, log_usage_prints_the_same_figures_as_memory_get_info),
        ON(esp32s3_n8r8, esp_log_prints_in_esp_idfs_format_at_the_tags_level),
        ON(esp32s3_n8r8, esp_timer_get_time_counts_microseconds_and_never_goes_back),
        ON(esp32s3_n8r8, esp_timer_get_time_never_goes_back_across_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
