/* test_sim_heap_add_region.c - heap_caps_add_region() and _with_caps() on the simulated ESP32-S3:
 * the type of the memory, ESP-IDF's overlap rule, the answers to bad regions, the added heap's
 * figures, and adding while other threads allocate. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "esp_attr.h"
#include "esp_heap_caps.h"
#include "esp_heap_caps_init.h"
#include "esp_memory_utils.h"
#include "kraken_sim.h"
#include "sim_internal.h"

#define INTERNAL (MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)
#define EXTRA_BYTES 8192u
/* A capability no heap of the chip has: a heap registered with it serves only those who ask. */
#define PRIVATE_CAP MALLOC_CAP_PID2

static uint8_t extra[EXTRA_BYTES] __attribute__((aligned(8)));
EXT_RAM_BSS_ATTR static uint8_t extra_psram[EXTRA_BYTES];
RTC_FAST_ATTR static uint8_t extra_rtc[1024] __attribute__((aligned(8)));
static const char text_in_flash[] = "read-only data";

/* An esp32s3-n8r8 of the release idf, with allocation hooks or not. */
static int boot_with(sim_idf_t idf, bool hooks)
{
    const sim_policy_t policy = {.spiram = true, .octal = true, .bss_external = true, .idf = idf,
                                 .heap_hooks = hooks};
    return sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy) == ESP_OK ? 0 : -1;
}

static int boot_n8r8(void **state)
{
    (void)state;
    return boot_with(SIM_IDF_CURRENT, false);
}

static int boot_n8r8_v5_4(void **state)
{
    (void)state;
    return boot_with(SIM_IDF_V5_4, false);
}

static int boot_n8r8_hooks(void **state)
{
    (void)state;
    return boot_with(SIM_IDF_CURRENT, true);
}

/* Blocks in use in the internal heaps. */
static size_t internal_blocks(void)
{
    multi_heap_info_t info;
    heap_caps_get_info(&info, MALLOC_CAP_INTERNAL);
    return info.allocated_blocks;
}

/* Every region added by a test goes with the next boot. */
static int reboot(void **state)
{
    (void)state;
    return kraken_sim_reset() == ESP_OK ? 0 : -1;
}

static intptr_t at(const void *p)
{
    return (intptr_t)p;
}

static bool inside(const void *p, const void *start, size_t bytes)
{
    return (uintptr_t)p >= (uintptr_t)start && (uintptr_t)p < (uintptr_t)start + bytes;
}

static uint64_t invalid_frees(void)
{
    kraken_sim_stats_t stats;
    kraken_sim_get_stats(&stats);
    return stats.invalid_frees;
}

static void a_static_buffer_becomes_an_internal_dma_capable_heap_that_serves_first(void **state)
{
    (void)state;
    const size_t regions = kraken_sim_region_count();
    const size_t total = heap_caps_get_total_size(MALLOC_CAP_INTERNAL);
    const size_t dma_total = heap_caps_get_total_size(MALLOC_CAP_DMA);
    assert_int_equal(heap_caps_add_region(at(extra), at(extra + EXTRA_BYTES)), ESP_OK);

    assert_int_equal(kraken_sim_region_count(), regions + 1);
    kraken_sim_region_t r;
    assert_int_equal(kraken_sim_get_region(0, &r), ESP_OK); /* the head of the list */
    assert_string_equal(r.name, "RAM");
    assert_int_equal(r.start, (uintptr_t)extra);
    assert_int_equal(r.size, EXTRA_BYTES);
    assert_true(r.caps[0] & MALLOC_CAP_DMA);
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_INTERNAL), total + EXTRA_BYTES);
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_DMA), dma_total + EXTRA_BYTES);
    const size_t fresh_free = r.free_bytes, fresh_largest = r.largest_free_block;

    /* Same capabilities as the main heaps, earlier in the list: it serves first. */
    void *block = heap_caps_malloc(100, MALLOC_CAP_DMA);
    assert_true(inside(block, extra, EXTRA_BYTES));
    assert_true(esp_ptr_internal(block));
    assert_true(esp_ptr_dma_capable(block));
    assert_true(heap_caps_get_allocated_size(block) >= 100);
    char *text = malloc(40); /* MALLOC_CAP_DEFAULT: the added heap too */
    assert_true(inside(text, extra, EXTRA_BYTES));
    strcpy(text, "lives in a static buffer");
    /* libc's free() must hand such a block to the simulator, not to glibc. */
    free(text);
    heap_caps_free(block);
    assert_int_equal(invalid_frees(), 0);
    assert_int_equal(kraken_sim_get_region(0, &r), ESP_OK); /* whole again */
    assert_int_equal(r.free_bytes, fresh_free);
    assert_int_equal(r.largest_free_block, fresh_largest);
    assert_true(heap_caps_check_integrity_all(true));
}

static void psram_and_rtc_statics_become_heaps_of_their_memory(void **state)
{
    (void)state;
    const size_t spiram = heap_caps_get_total_size(MALLOC_CAP_SPIRAM);
    assert_int_equal(heap_caps_add_region(at(extra_psram), at(extra_psram + EXTRA_BYTES)), ESP_OK);
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_SPIRAM), spiram + EXTRA_BYTES);
    void *p = heap_caps_malloc(256, MALLOC_CAP_SPIRAM);
    assert_true(inside(p, extra_psram, EXTRA_BYTES));
    assert_true(esp_ptr_external_ram(p));
    heap_caps_free(p);

    const size_t rtc = heap_caps_get_total_size(MALLOC_CAP_RTCRAM);
    assert_int_equal(heap_caps_add_region(at(extra_rtc), at(extra_rtc + sizeof extra_rtc)), ESP_OK);
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_RTCRAM), rtc + sizeof extra_rtc);
    kraken_sim_region_t r;
    assert_int_equal(kraken_sim_get_region(0, &r), ESP_OK);
    assert_string_equal(r.name, "RTCRAM");
    p = heap_caps_malloc(64, MALLOC_CAP_RTCRAM);
    assert_true(inside(p, extra_rtc, sizeof extra_rtc));
    assert_false(esp_ptr_dma_capable(p));
    heap_caps_free(p);
    assert_int_equal(invalid_frees(), 0);
}

/* PSRAM added at run time takes memory_layout.c's SPIRAM type, not the boot heap's caps: only
 * MALLOC_CAP_SPIRAM at priority 0, so a MALLOC_CAP_DEFAULT request passes it by there (v5.2 puts
 * the common caps at priority 1). */
static void added_psram_takes_the_spiram_type_of_the_release(void **state)
{
    (void)state;
    const uint32_t common = MALLOC_CAP_DEFAULT | MALLOC_CAP_32BIT | MALLOC_CAP_8BIT;
    const struct {
        sim_idf_t idf;
        uint32_t caps[3];
    } releases[] = {{SIM_IDF_CURRENT, {MALLOC_CAP_SPIRAM, 0, common | MALLOC_CAP_SIMD}},
                    {SIM_IDF_V5_2, {MALLOC_CAP_SPIRAM, common, 0}}};
    for (size_t i = 0; i < sizeof releases / sizeof releases[0]; i++) {
        assert_int_equal(boot_with(releases[i].idf, false), 0);
        assert_int_equal(heap_caps_add_region(at(extra_psram), at(extra_psram + EXTRA_BYTES)),
                         ESP_OK);
        kraken_sim_region_t r;
        assert_int_equal(kraken_sim_get_region(0, &r), ESP_OK); /* added heaps come first */
        assert_string_equal(r.name, "SPIRAM");
        assert_memory_equal(r.caps, releases[i].caps, sizeof releases[i].caps);
        void *p = heap_caps_malloc(64, MALLOC_CAP_DEFAULT);
        assert_non_null(p);
        assert_false(inside(p, extra_psram, EXTRA_BYTES)); /* a boot heap's, at priority 0 */
        heap_caps_free(p);
    }
}

#ifndef SIM_ASAN /* ASan may move locals to a fake stack of its own, which is no chip memory */
/* A task's stack is internal RAM on the chip: a buffer there can be added too (for as long as the
 * function runs: the test reboots before it returns). */
static void a_buffer_on_the_calling_tasks_stack_is_internal_ram(void **state)
{
    (void)state;
    uint8_t local[2048] __attribute__((aligned(8)));
    assert_int_equal(heap_caps_add_region(at(local), at(local + sizeof local)), ESP_OK);
    void *block = heap_caps_malloc(64, MALLOC_CAP_DMA);
    assert_true(inside(block, local, sizeof local));
    heap_caps_free(block);
    assert_int_equal(kraken_sim_reset(), ESP_OK);
}
#endif

/* ESP-IDF's use of _with_caps: take a block, give it other capabilities. A pointer inside it now
 * belongs to the new heap (at the head of the list), so its blocks are freed there. */
static void a_heap_block_registered_with_its_own_caps_serves_only_those_caps(void **state)
{
    (void)state;
    assert_null(heap_caps_malloc(16, PRIVATE_CAP));
    uint8_t *carved = heap_caps_malloc(4096, INTERNAL);
    assert_non_null(carved);
    const uint32_t caps[3] = {PRIVATE_CAP, 0, MALLOC_CAP_8BIT | MALLOC_CAP_32BIT};
    assert_int_equal(heap_caps_add_region_with_caps(caps, at(carved), at(carved + 4096)), ESP_OK);
    kraken_sim_region_t r;
    assert_int_equal(kraken_sim_get_region(0, &r), ESP_OK);
    assert_string_equal(r.name, "added");
    assert_memory_equal(r.caps, caps, sizeof caps);

    void *mine = heap_caps_malloc(100, PRIVATE_CAP);
    assert_true(inside(mine, carved, 4096));
    void *plain = heap_caps_malloc(100, MALLOC_CAP_DEFAULT); /* the new heap lacks DEFAULT */
    assert_false(inside(plain, carved, 4096));
    assert_int_equal(heap_caps_get_total_size(PRIVATE_CAP), 4096);
    assert_true(heap_caps_get_free_size(PRIVATE_CAP) < 4096 - 100);
    const size_t free_before = heap_caps_get_free_size(PRIVATE_CAP);
    heap_caps_free(mine);
    assert_true(heap_caps_get_free_size(PRIVATE_CAP) >= free_before + 100);
    heap_caps_free(plain);
    assert_int_equal(invalid_frees(), 0);
    assert_true(heap_caps_check_integrity_all(true));
}

/* heap_caps_check_add_region_allowed(): inside, before or after a heap, never across an end nor
 * on it exactly. */
static void a_region_across_a_heaps_end_or_on_it_again_fails_and_keeps_nothing(void **state)
{
    (void)state;
    const intptr_t lo = at(extra + 2048), hi = at(extra + 6144);
    assert_int_equal(heap_caps_add_region(lo, hi), ESP_OK);
    const size_t regions = kraken_sim_region_count();
    const size_t internal_free = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    kraken_sim_stats_t before, after;
    kraken_sim_get_stats(&before);
    assert_int_equal(heap_caps_add_region(lo, hi), ESP_FAIL);                   /* the same */
    assert_int_equal(heap_caps_add_region(at(extra), at(extra + 4096)), ESP_FAIL); /* its start */
    assert_int_equal(heap_caps_add_region(at(extra + 4096), at(extra + EXTRA_BYTES)), ESP_FAIL);
    assert_int_equal(heap_caps_add_region(at(extra), at(extra + EXTRA_BYTES)), ESP_FAIL); /* both */
    assert_int_equal(kraken_sim_region_count(), regions);
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_INTERNAL), internal_free);
    kraken_sim_get_stats(&after); /* as ESP-IDF, the overlap is found before the heap_t is taken */
    assert_int_equal(after.allocations, before.allocations);

    assert_int_equal(heap_caps_add_region(at(extra), lo), ESP_OK); /* just before */
    assert_int_equal(heap_caps_add_region(hi, at(extra + EXTRA_BYTES)), ESP_OK); /* just after */
    /* Inside, sharing its start or its end (ESP-IDF's header: 0x1000-0x2000 in 0x1000-0x3000). */
    assert_int_equal(heap_caps_add_region(lo, lo + 1024), ESP_OK);
    assert_int_equal(heap_caps_add_region(hi - 1024, hi), ESP_OK);
    assert_int_equal(kraken_sim_region_count(), regions + 4);
}

static void bad_regions_get_esp_idfs_answers_and_keep_nothing(void **state)
{
    (void)state;
    const uint32_t caps[3] = {MALLOC_CAP_8BIT, 0, 0};
    const size_t regions = kraken_sim_region_count();
    const size_t internal_free = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    const size_t allocations_free = heap_caps_get_free_size(0);

    assert_int_equal(heap_caps_add_region(0, at(extra + 64)), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_caps_add_region(at(extra + 64), at(extra + 64)), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_caps_add_region(at(extra + 64), at(extra)), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_caps_add_region(at(extra), 0), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_caps_add_region_with_caps(NULL, at(extra), at(extra + 4096)),
                     ESP_ERR_INVALID_ARG);
    /* Not the chip's RAM: flash (read-only data, code), host memory outside the chip. */
    assert_int_equal(heap_caps_add_region(at(text_in_flash), at(text_in_flash + 8)),
                     ESP_ERR_NOT_FOUND);
    assert_int_equal(heap_caps_add_region(at(boot_n8r8), at(boot_n8r8) + 4096), ESP_ERR_NOT_FOUND);
    char *libc = __real_malloc(4096);
    assert_non_null(libc);
    assert_int_equal(heap_caps_add_region(at(libc), at(libc + 4096)), ESP_ERR_NOT_FOUND);
    assert_int_equal(heap_caps_add_region_with_caps(caps, at(libc), at(libc + 4096)),
                     ESP_ERR_INVALID_ARG);
    __real_free(libc);
    /* Beyond the end of the buffer's memory: crosses out of the program's statics. */
    assert_int_equal(heap_caps_add_region_with_caps(caps, at(extra), at(extra) + (64 << 20)),
                     ESP_ERR_INVALID_ARG);
    /* Too small for TLSF's control structure, or not 4-byte aligned (multi_heap_register). */
    assert_int_equal(heap_caps_add_region(at(extra), at(extra + 32)), ESP_ERR_INVALID_SIZE);
    assert_int_equal(heap_caps_add_region(at(extra + 1), at(extra + 4096)), ESP_ERR_INVALID_SIZE);

    assert_int_equal(kraken_sim_region_count(), regions);
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_INTERNAL), internal_free);
    assert_int_equal(heap_caps_get_free_size(0), allocations_free);
    assert_true(heap_caps_check_integrity_all(true));
}

/* ESP-IDF allocates the new heap's heap_t first: with no internal memory the add fails. */
static void without_internal_memory_for_its_record_the_add_fails_with_no_mem(void **state)
{
    (void)state;
    kraken_sim_fail_next(MALLOC_CAP_INTERNAL, 1);
    assert_int_equal(heap_caps_add_region(at(extra), at(extra + EXTRA_BYTES)), ESP_ERR_NO_MEM);
    kraken_sim_fault_clear();
    const size_t internal_free = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    assert_int_equal(heap_caps_add_region(at(extra), at(extra + EXTRA_BYTES)), ESP_OK);
    /* The new heap's bytes, less the record taken from another internal heap for good. */
    const size_t added_free = heap_caps_get_free_size(MALLOC_CAP_INTERNAL) - internal_free;
    kraken_sim_region_t r;
    assert_int_equal(kraken_sim_get_region(0, &r), ESP_OK);
    assert_true(added_free < r.free_bytes);
    assert_true(added_free >= r.free_bytes - 64);
}

/* Added after startup: its minimum starts at 0 (v5.5.5 on), so that the system's minimum free
 * size does not jump; before, at its free size. */
static void an_added_heaps_minimum_starts_at_zero_on_current_esp_idf(void **state)
{
    (void)state;
    const size_t minimum = heap_caps_get_minimum_free_size(MALLOC_CAP_INTERNAL);
    assert_int_equal(heap_caps_add_region(at(extra), at(extra + EXTRA_BYTES)), ESP_OK);
    kraken_sim_region_t r;
    assert_int_equal(kraken_sim_get_region(0, &r), ESP_OK);
    assert_int_equal(r.minimum_free_bytes, 0);
    assert_true(heap_caps_get_minimum_free_size(MALLOC_CAP_INTERNAL) <= minimum);
}

static void an_added_heaps_minimum_starts_at_its_free_size_before_v5_5_5(void **state)
{
    (void)state;
    assert_int_equal(heap_caps_add_region(at(extra), at(extra + EXTRA_BYTES)), ESP_OK);
    kraken_sim_region_t r;
    assert_int_equal(kraken_sim_get_region(0, &r), ESP_OK);
    assert_int_equal(r.minimum_free_bytes, r.free_bytes);
}

/* A boot forgets the added heaps: the buffer is the program's again (also for ASan, which saw
 * the heap's free space as poisoned), and free() of a pointer into it is libc's business. */
static void a_reboot_gives_the_buffer_back_to_the_program(void **state)
{
    (void)state;
    const size_t regions = kraken_sim_region_count();
    assert_int_equal(heap_caps_add_region(at(extra), at(extra + EXTRA_BYTES)), ESP_OK);
    void *block = heap_caps_malloc(64, MALLOC_CAP_DMA);
    assert_true(inside(block, extra, EXTRA_BYTES));
    assert_true(sim_owns(extra + EXTRA_BYTES - 1));
    assert_int_equal(kraken_sim_reset(), ESP_OK);
    assert_int_equal(kraken_sim_region_count(), regions);
    assert_false(sim_owns(extra));
    memset(extra, 0x5A, sizeof extra); /* every byte writable again */
    assert_int_equal(extra[EXTRA_BYTES - 1], 0x5A);
    assert_int_equal(heap_caps_add_region(at(extra), at(extra + EXTRA_BYTES)), ESP_OK);
}

/* From a simulated ISR it works as in a task and is counted once, as every heap call. */
static void an_add_from_an_isr_is_counted_once(void **state)
{
    (void)state;
    const uint32_t caps[3] = {PRIVATE_CAP, 0, 0};
    kraken_sim_isr_enter();
    const esp_err_t err = heap_caps_add_region(at(extra), at(extra + 4096));
    const esp_err_t err_caps =
        heap_caps_add_region_with_caps(caps, at(extra + 4096), at(extra + EXTRA_BYTES));
    kraken_sim_isr_exit();
    assert_int_equal(err, ESP_OK);
    assert_int_equal(err_caps, ESP_OK);
    kraken_sim_stats_t stats;
    kraken_sim_get_stats(&stats);
    assert_int_equal(stats.isr_calls, 2);
}

/* The simulator holds 32 heaps: one more is ESP_ERR_NO_MEM, with its heap_t given back. */
static void the_simulators_limit_of_heaps_is_no_mem_and_keeps_nothing(void **state)
{
    (void)state;
    enum { PIECE = 1024, PIECES = 40 };
    uint8_t *carved = heap_caps_malloc(PIECE * PIECES, MALLOC_CAP_SPIRAM);
    assert_non_null(carved);
    size_t added = 0;
    esp_err_t err = ESP_OK;
    while (added < PIECES && err == ESP_OK) {
        err = heap_caps_add_region(at(carved + added * PIECE), at(carved + (added + 1) * PIECE));
        added += err == ESP_OK;
    }
    assert_int_equal(err, ESP_ERR_NO_MEM);
    assert_int_equal(kraken_sim_region_count(), 32);
    const size_t internal_free = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    assert_int_equal(heap_caps_add_region(at(extra), at(extra + EXTRA_BYTES)), ESP_ERR_NO_MEM);
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_INTERNAL), internal_free);
    assert_int_equal(kraken_sim_region_count(), 32);
}

/* A region added by someone else between the first overlap check and the heap's creation (here:
 * by the allocation hook that runs for the new heap's heap_t) is seen by the second check. */
static bool add_from_the_hook;
static esp_err_t hook_add_result;
static size_t first_hooked_size;

void esp_heap_trace_alloc_hook(void *ptr, size_t size, uint32_t caps)
{
    (void)ptr;
    (void)caps;
    if (add_from_the_hook) {
        first_hooked_size = size;
        add_from_the_hook = false;
        hook_add_result = heap_caps_add_region(at(extra), at(extra + EXTRA_BYTES));
    }
}

static void a_region_added_meanwhile_by_another_caller_fails_the_second_check(void **state)
{
    (void)state;
    const size_t regions = kraken_sim_region_count();
    const size_t blocks = internal_blocks();
    add_from_the_hook = true;
    assert_int_equal(heap_caps_add_region(at(extra), at(extra + EXTRA_BYTES)), ESP_FAIL);
    assert_int_equal(hook_add_result, ESP_OK);
    assert_int_equal(first_hooked_size, 36); /* the outer add's heap_t, without task tracking */
    assert_int_equal(kraken_sim_region_count(), regions + 1); /* the hook's only */
    kraken_sim_region_t r;
    assert_int_equal(kraken_sim_get_region(0, &r), ESP_OK);
    assert_int_equal(r.start, (uintptr_t)extra);
    /* One heap_t is kept (the hook's add); the failed add gave its own back. */
    assert_int_equal(internal_blocks(), blocks + 1);
}

/* ---- concurrency: adds while other threads allocate, free and walk ----------------------------- */

#define ADDERS 4
#define CHUNK (EXTRA_BYTES / ADDERS)
#define ROUNDS 2000

static _Atomic bool adding;
static _Atomic unsigned added_ok, added_fail;

static void *add_chunk(void *arg)
{
    const size_t i = (size_t)(uintptr_t)arg;
    /* Each adder its own quarter of the buffer, then all of them the same first quarter. */
    const esp_err_t mine = heap_caps_add_region(at(extra + i * CHUNK), at(extra + (i + 1) * CHUNK));
    const esp_err_t shared = heap_caps_add_region(at(extra_psram), at(extra_psram + CHUNK));
    atomic_fetch_add(mine == ESP_OK ? &added_ok : &added_fail, 1);
    atomic_fetch_add(shared == ESP_OK ? &added_ok : &added_fail, 1);
    return NULL;
}

static void *churn(void *arg)
{
    (void)arg;
    void *held[8] = {0};
    for (unsigned n = 0; n < ROUNDS || atomic_load(&adding); n++) {
        const unsigned k = n % 8;
        heap_caps_free(held[k]);
        held[k] = heap_caps_malloc(16 + n % 200, k % 2 ? MALLOC_CAP_DMA : MALLOC_CAP_SPIRAM);
        if (n % 64 == 0) {
            (void)heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
            (void)heap_caps_get_largest_free_block(MALLOC_CAP_8BIT);
        }
    }
    for (unsigned k = 0; k < 8; k++) {
        free(held[k]);
    }
    return NULL;
}

static void concurrent_adds_each_succeed_once_while_others_allocate(void **state)
{
    (void)state;
    const size_t regions = kraken_sim_region_count();
    const size_t blocks = internal_blocks();
    atomic_store(&added_ok, 0);
    atomic_store(&added_fail, 0);
    atomic_store(&adding, true);
    pthread_t churners[2], adders[ADDERS];
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&churners[i], NULL, churn, NULL), 0);
    }
    for (size_t i = 0; i < ADDERS; i++) {
        assert_int_equal(pthread_create(&adders[i], NULL, add_chunk, (void *)(uintptr_t)i), 0);
    }
    for (size_t i = 0; i < ADDERS; i++) {
        pthread_join(adders[i], NULL);
    }
    atomic_store(&adding, false);
    for (size_t i = 0; i < 2; i++) {
        pthread_join(churners[i], NULL);
    }
    assert_int_equal(atomic_load(&added_ok), ADDERS + 1); /* every quarter, the shared one once */
    assert_int_equal(atomic_load(&added_fail), ADDERS - 1);
    assert_int_equal(kraken_sim_region_count(), regions + ADDERS + 1);
    assert_int_equal(invalid_frees(), 0);
    assert_true(heap_caps_check_integrity_all(true));
    /* All the churners' blocks are back; what stays is one heap_t per added heap (a failed add
     * gave its own back). */
    assert_int_equal(internal_blocks(), blocks + ADDERS + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            a_static_buffer_becomes_an_internal_dma_capable_heap_that_serves_first, boot_n8r8,
            reboot),
        cmocka_unit_test_setup_teardown(psram_and_rtc_statics_become_heaps_of_their_memory,
                                        boot_n8r8, reboot),
        cmocka_unit_test_setup_teardown(added_psram_takes_the_spiram_type_of_the_release,
                                        boot_n8r8, reboot),
#ifndef SIM_ASAN
        cmocka_unit_test_setup_teardown(a_buffer_on_the_calling_tasks_stack_is_internal_ram,
                                        boot_n8r8, reboot),
#endif
        cmocka_unit_test_setup_teardown(
            a_heap_block_registered_with_its_own_caps_serves_only_those_caps, boot_n8r8, reboot),
        cmocka_unit_test_setup_teardown(
            a_region_across_a_heaps_end_or_on_it_again_fails_and_keeps_nothing, boot_n8r8, reboot),
        cmocka_unit_test_setup_teardown(bad_regions_get_esp_idfs_answers_and_keep_nothing,
                                        boot_n8r8, reboot),
        cmocka_unit_test_setup_teardown(
            without_internal_memory_for_its_record_the_add_fails_with_no_mem, boot_n8r8, reboot),
        cmocka_unit_test_setup_teardown(an_added_heaps_minimum_starts_at_zero_on_current_esp_idf,
                                        boot_n8r8, reboot),
        cmocka_unit_test_setup_teardown(
            an_added_heaps_minimum_starts_at_its_free_size_before_v5_5_5, boot_n8r8_v5_4, reboot),
        cmocka_unit_test_setup_teardown(a_reboot_gives_the_buffer_back_to_the_program, boot_n8r8,
                                        reboot),
        cmocka_unit_test_setup_teardown(an_add_from_an_isr_is_counted_once, boot_n8r8, reboot),
        cmocka_unit_test_setup_teardown(concurrent_adds_each_succeed_once_while_others_allocate,
                                        boot_n8r8, reboot),
        cmocka_unit_test_setup_teardown(the_simulators_limit_of_heaps_is_no_mem_and_keeps_nothing,
                                        boot_n8r8, reboot),
        cmocka_unit_test_setup_teardown(
            a_region_added_meanwhile_by_another_caller_fails_the_second_check, boot_n8r8_hooks,
            reboot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
