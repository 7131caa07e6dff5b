/* test_sim_heap_trace.c - ESP-IDF's heap debugging on the simulated chip: standalone heap tracing
 * (esp_heap_trace.h): what it records for each heap call, its states and results, its dump, and its
 * records' callers (with CONFIG_HEAP_TRACING_STACK_DEPTH > 0, tests/configs/alternate.defaults);
 * and the allocation and free hooks of CONFIG_HEAP_USE_HOOKS. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "esp_cpu.h"
#include "esp_heap_caps.h"
#include "esp_heap_trace.h"
#include "esp_idf_version.h"
#include "esp_memory_utils.h"
#include "kraken_sim.h"
#include "sdkconfig.h"
#include "sim_internal.h"
#include "test_support.h"

#define RECORDS 64
#define STR_(x) #x
#define STR(x) STR_(x)
#if CONFIG_HEAP_TRACE_HASH_MAP /* the dump's line for it, with no hit or miss yet */
#define HASHMAP_LINE "hashmap: " STR(CONFIG_HEAP_TRACE_HASH_MAP_SIZE) " capacity (0 hits, 0 misses)\n"
#else
#define HASHMAP_LINE ""
#endif
#ifdef CONFIG_HEAP_TRACE_HASH_MAP
#define CONFIG_HEAP_TRACE_HASH_MAP_ 1
#else
#define CONFIG_HEAP_TRACE_HASH_MAP_ 0
#endif
#ifdef CONFIG_HEAP_TRACE_HASH_MAP_IN_EXT_RAM
#define CONFIG_HEAP_TRACE_HASH_MAP_IN_EXT_RAM_ 1
#else
#define CONFIG_HEAP_TRACE_HASH_MAP_IN_EXT_RAM_ 0
#endif
/* The build's release (CONFIG_KRAKEN_SIM_ESP_IDF_*) declares them, as firmware would test it. */
#define HAS_ALLOC_PAUSE (ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 4, 0))
#define HAS_FREED (ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 5, 0))
static heap_trace_record_t records[RECORDS];

/* The build's configuration on the N8R8 module with its PSRAM (whatever the build says of PSRAM),
 * the current ESP-IDF's heap. */
static sim_policy_t n8r8_policy(void)
{
    sim_policy_t policy;
    sim_policy_from_sdkconfig(&policy);
    policy.spiram = true;
    policy.octal = true;
    policy.memmap = false;
    policy.idf = SIM_IDF_CURRENT;
    return policy;
}

/* That simulator following ESP-IDF `release`, with tracing on, and the record buffer given. */
static void boot_release(sim_idf_t release)
{
    sim_policy_t policy = n8r8_policy();
    policy.heap_tracing = true;
    policy.idf = release;
    assert_int_equal(sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy), ESP_OK);
    assert_int_equal(heap_trace_init_standalone(records, RECORDS), ESP_OK);
}

/* That simulator, with tracing on or off whatever the build says. */
static int boot_tracing(bool on)
{
    sim_policy_t policy = n8r8_policy();
    policy.heap_tracing = on;
    return sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy) == ESP_OK ? 0 : -1;
}

static int boot_on(void **state)
{
    (void)state;
    if (boot_tracing(true) != 0) {
        return -1;
    }
    return heap_trace_init_standalone(records, RECORDS) == ESP_OK ? 0 : -1;
}

static heap_trace_record_t record(size_t index)
{
    heap_trace_record_t r;
    assert_int_equal(heap_trace_get(index, &r), ESP_OK);
    return r;
}

static heap_trace_summary_t summary(void)
{
    heap_trace_summary_t s;
    assert_int_equal(heap_trace_summary(&s), ESP_OK);
    return s;
}

static void every_call_says_not_supported_when_the_option_is_off(void **state)
{
    (void)state;
    assert_int_equal(boot_tracing(false), 0);
    heap_trace_summary_t s;
    heap_trace_record_t r;
    assert_int_equal(heap_trace_init_standalone(records, RECORDS), ESP_ERR_NOT_SUPPORTED);
    assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_ERR_NOT_SUPPORTED);
    assert_int_equal(heap_trace_stop(), ESP_ERR_NOT_SUPPORTED);
#if HAS_ALLOC_PAUSE
    assert_int_equal(heap_trace_alloc_pause(), ESP_ERR_NOT_SUPPORTED);
#endif
    assert_int_equal(heap_trace_resume(), ESP_ERR_NOT_SUPPORTED);
    assert_int_equal(heap_trace_get(0, &r), ESP_ERR_NOT_SUPPORTED);
    assert_int_equal(heap_trace_summary(&s), ESP_ERR_NOT_SUPPORTED);
    assert_int_equal(heap_trace_init_tohost(), ESP_ERR_NOT_SUPPORTED);
    free(malloc(10));
    assert_int_equal(heap_trace_get_count(), 0);
}

static void leaks_mode_keeps_the_blocks_not_freed_oldest_first(void **state)
{
    (void)state;
    void *before = malloc(8); /* allocated before the start: its free is seen, not recorded */
    assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_OK);
    char *a = malloc(100);
    const uint32_t cycles_before = (uint32_t)esp_cpu_get_cycle_count() & ~3u;
    char *b = heap_caps_malloc(200, MALLOC_CAP_SPIRAM);
    const uint32_t cycles_after = (uint32_t)esp_cpu_get_cycle_count();
    char *c = calloc(3, 10);
    char *d = heap_caps_aligned_alloc(64, 40, MALLOC_CAP_INTERNAL);
    assert_true(a && b && c && d);
    free(a);
    heap_caps_free(d);
    free(before);
    assert_int_equal(heap_trace_stop(), ESP_OK);

    assert_int_equal(heap_trace_get_count(), 2);
    heap_trace_record_t r0 = record(0), r1 = record(1);
    assert_ptr_equal(r0.address, b);
    assert_int_equal(r0.size, 200);
    assert_ptr_equal(r1.address, c);
    assert_int_equal(r1.size, 30);
#if HAS_FREED
    assert_false(r0.freed || r1.freed);
#endif
    assert_int_equal(r0.ccount & 3u, 0); /* CPU 0 in bit 0, bit 1 clear */
    /* the simulated CPU's cycle count at the allocation (CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ) */
    assert_true(r0.ccount - cycles_before <= cycles_after - cycles_before);
    heap_trace_summary_t s = summary();
    assert_int_equal(s.mode, HEAP_TRACE_LEAKS);
    assert_int_equal(s.total_allocations, 4);
    assert_int_equal(s.total_frees, 3);
    assert_int_equal(s.count, 2);
    assert_int_equal(s.capacity, RECORDS);
    assert_int_equal(s.high_water_mark, 4);
    assert_false(s.has_overflowed);
#if CONFIG_HEAP_TRACE_HASH_MAP
    assert_int_equal(s.total_hashmap_hits, 2); /* a and d */
    assert_int_equal(s.total_hashmap_miss, 1); /* `before` has no record */
#endif

    free(b); /* stopped: nothing changes */
    free(c);
    assert_int_equal(heap_trace_get_count(), 2);
    assert_int_equal(summary().total_frees, 3);
}

/* A free marks the record ESP-IDF's lookup finds: with its hash map the newest of the address,
 * without it the oldest (which may have been freed already: then the newer one stays unfreed). */
static void all_mode_keeps_every_block_and_marks_the_record_esp_idf_finds(void **state)
{
    (void)state;
    assert_int_equal(heap_trace_start(HEAP_TRACE_ALL), ESP_OK);
    void *a = malloc(48);
    free(a);
    void *b = malloc(48); /* TLSF gives the same block back */
    void *live = malloc(16);
    assert_ptr_equal(b, a);
    free(b);
    assert_int_equal(heap_trace_stop(), ESP_OK);

    assert_int_equal(heap_trace_get_count(), 3);
#if HAS_FREED
    assert_true(record(0).freed);
    assert_true(record(1).freed == CONFIG_HEAP_TRACE_HASH_MAP_); /* b's, or a's again */
    assert_false(record(2).freed);
#endif
    assert_ptr_equal(record(2).address, live);
    heap_trace_summary_t s = summary();
    assert_int_equal(s.total_allocations, 3);
    assert_int_equal(s.total_frees, 2);
    free(live);
}

static void a_realloc_is_a_free_then_an_allocation_even_when_it_fails(void **state)
{
    (void)state;
    assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_OK);
    char *p = malloc(100);
    char *q = realloc(p, 5000);
    assert_non_null(q);
    assert_int_equal(heap_trace_get_count(), 1);
    assert_ptr_equal(record(0).address, q);
    assert_int_equal(record(0).size, 5000);

    /* ESP-IDF records the free before it tries: a failed realloc loses the block's record. */
    assert_null(heap_caps_realloc(q, 64u << 20, MALLOC_CAP_INTERNAL));
    assert_int_equal(heap_trace_get_count(), 0);
    char *r = realloc(q, 0); /* a free: counted, no record to drop */
    assert_null(r);
    heap_trace_summary_t s = summary();
    assert_int_equal(s.total_allocations, 2);
    assert_int_equal(s.total_frees, 2); /* the last free came with no record left: not counted */
    assert_int_equal(heap_trace_stop(), ESP_OK);
}

/* A buffer libc allocates for the program (getline's, as newlib does with realloc) is traced. */
static void a_getline_buffer_is_traced_as_newlib_allocates_it(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    fputs("a line\n", f);
    rewind(f);
    assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_OK);
    char *line = NULL;
    size_t capacity = 0;
    assert_int_equal(getline(&line, &capacity, f), 7);
    assert_int_equal(heap_trace_get_count(), 1);
    assert_ptr_equal(record(0).address, line);
    assert_int_equal(record(0).size, 128);
    free(line);
    assert_int_equal(heap_trace_get_count(), 0);
    assert_int_equal(heap_trace_stop(), ESP_OK);
    fclose(f);
}

/* heap_caps_calloc() is recorded since ESP-IDF master's fix; the releases (v5.5.5 and older) call
 * malloc inside the wrapped file and record nothing; plain calloc() goes through malloc: recorded. */
static void heap_caps_calloc_is_recorded_as_the_release_records_it(void **state)
{
    (void)state;
    for (int release = 0; release < 2; release++) {
        sim_policy_t policy = n8r8_policy();
        policy.heap_tracing = true;
        policy.idf = release == 0 ? SIM_IDF_CURRENT : SIM_IDF_V5_5;
        assert_int_equal(sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy), ESP_OK);
        assert_int_equal(heap_trace_init_standalone(records, RECORDS), ESP_OK);
        assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_OK);
        void *caps = heap_caps_calloc(3, 7, MALLOC_CAP_INTERNAL);
        void *prefer = heap_caps_calloc_prefer(2, 5, 1, MALLOC_CAP_INTERNAL);
        void *plain = calloc(4, 4);
        assert_true(caps && prefer && plain);
        assert_int_equal(heap_trace_get_count(), release == 0 ? 3 : 1);
        assert_ptr_equal(record(heap_trace_get_count() - 1).address, plain);
        assert_int_equal(record(heap_trace_get_count() - 1).size, 16);
        heap_caps_free(caps);
        heap_caps_free(prefer);
        free(plain);
        assert_int_equal(heap_trace_get_count(), 0);
        assert_int_equal(heap_trace_stop(), ESP_OK);
    }
}

static void failed_allocations_are_not_recorded(void **state)
{
    (void)state;
    assert_int_equal(heap_trace_start(HEAP_TRACE_ALL), ESP_OK);
    assert_null(malloc(64u << 20));
    assert_null(heap_caps_malloc(16, MALLOC_CAP_EXEC | MALLOC_CAP_SPIRAM));
    assert_null(malloc(0));
    kraken_sim_fail_next(MALLOC_CAP_INTERNAL, 1);
    assert_null(heap_caps_malloc(16, MALLOC_CAP_INTERNAL));
    assert_int_equal(heap_trace_get_count(), 0);
    assert_int_equal(summary().total_allocations, 0);
    assert_int_equal(heap_trace_stop(), ESP_OK);
}

/* A leak trace into `buffer` (n_records) of n blocks of 10, 11, ... bytes, then stopped. */
static void trace_blocks(heap_trace_record_t *buffer, size_t n_records, void **blocks, int n)
{
    assert_int_equal(heap_trace_init_standalone(buffer, n_records), ESP_OK);
    assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_OK);
    for (int i = 0; i < n; i++) {
        blocks[i] = malloc(10 + (size_t)i);
        assert_non_null(blocks[i]);
    }
    assert_int_equal(heap_trace_stop(), ESP_OK);
}

static void a_full_buffer_drops_the_oldest_record_and_says_so(void **state)
{
    (void)state;
    heap_trace_record_t small[3];
    void *blocks[5];
    trace_blocks(small, 3, blocks, 5);
    assert_int_equal(heap_trace_get_count(), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_ptr_equal(record(i).address, blocks[i + 2]);
    }
    heap_trace_summary_t s = summary();
    assert_true(s.has_overflowed);
    assert_int_equal(s.high_water_mark, 3);
    assert_int_equal(s.total_allocations, 5);
    /* each start begins a new trace: no overflow, and the hash map's figures start again */
    for (int trace = 0; trace < 2; trace++) {
        assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_OK);
        void *recorded = malloc(8);
        assert_non_null(recorded);
        free(trace == 0 ? recorded : blocks[4]); /* a hit, then a block of an earlier trace */
        assert_int_equal(heap_trace_stop(), ESP_OK);
        s = summary();
        assert_false(s.has_overflowed);
        assert_int_equal(s.total_allocations, 1);
        assert_int_equal(s.total_frees, 1);
#if CONFIG_HEAP_TRACE_HASH_MAP
        assert_int_equal(s.total_hashmap_hits, trace == 0 ? 1 : 0);
        assert_int_equal(s.total_hashmap_miss, trace == 0 ? 0 : 1);
#endif
        if (trace == 1) {
            free(recorded);
        }
    }
    for (int i = 0; i < 4; i++) {
        free(blocks[i]);
    }
}

/* The same buffer given again with fewer records keeps what it holds (ESP-IDF's list lives in it);
 * a resumed trace then adds no record and says it overflowed, as ESP-IDF's list_add does. */
static void a_buffer_given_again_with_fewer_records_overflows_at_the_next_allocation(void **state)
{
    (void)state;
    heap_trace_record_t small[3];
    void *blocks[4];
    trace_blocks(small, 3, blocks, 3);
    assert_int_equal(heap_trace_init_standalone(small, 2), ESP_OK);
    assert_int_equal(heap_trace_get_count(), 3);
    assert_false(summary().has_overflowed);
    assert_int_equal(heap_trace_resume(), ESP_OK);
    blocks[3] = malloc(13);
    assert_non_null(blocks[3]);
    assert_int_equal(heap_trace_stop(), ESP_OK);
    assert_int_equal(heap_trace_get_count(), 3);
    assert_true(summary().has_overflowed);
    for (int i = 0; i < 4; i++) {
        free(blocks[i]);
    }
}

static void a_pause_records_frees_but_not_allocations(void **state)
{
    (void)state;
#if !HAS_ALLOC_PAUSE
    print_message("skipped: heap_trace_alloc_pause() is ESP-IDF v5.4's, this build follows v%d.%d\n",
                  ESP_IDF_VERSION_MAJOR, ESP_IDF_VERSION_MINOR);
    skip();
#else
    assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_OK);
    void *watched = malloc(32);
    assert_int_equal(heap_trace_alloc_pause(), ESP_OK);
    void *ignored = malloc(32);
    assert_int_equal(heap_trace_get_count(), 1);
    free(watched);
    assert_int_equal(heap_trace_get_count(), 0); /* every watched block came back */
    free(ignored);
    assert_int_equal(summary().total_frees, 1); /* no record left: the second is not counted */
    assert_int_equal(heap_trace_resume(), ESP_OK);
    void *again = malloc(32);
    assert_int_equal(heap_trace_get_count(), 1);
    assert_int_equal(summary().total_allocations, 2); /* resume keeps the totals */
    free(again);
    assert_int_equal(heap_trace_stop(), ESP_OK);
#endif
}

static void state_changes_and_bad_arguments_get_esp_idfs_answers(void **state)
{
    (void)state;
    assert_int_equal(boot_tracing(true), 0);
    heap_trace_record_t r;
    /* No buffer yet. */
    assert_int_equal(heap_trace_start(HEAP_TRACE_ALL), ESP_ERR_INVALID_STATE);
    assert_int_equal(heap_trace_resume(), ESP_ERR_INVALID_STATE);
    assert_int_equal(heap_trace_stop(), ESP_OK); /* ESP-IDF: fine before any start */
    assert_int_equal(heap_trace_stop(), ESP_ERR_INVALID_STATE);
    assert_int_equal(heap_trace_init_standalone(NULL, 4), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_trace_init_standalone(records, 0), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_trace_get(0, &r), ESP_ERR_INVALID_ARG);

    assert_int_equal(heap_trace_init_standalone(records, RECORDS), ESP_OK);
    assert_int_equal(heap_trace_resume(), ESP_ERR_INVALID_STATE); /* no start yet: a chip crash */
    assert_int_equal(heap_trace_start(HEAP_TRACE_ALL), ESP_OK);
    assert_int_equal(heap_trace_resume(), ESP_ERR_INVALID_STATE);
    assert_int_equal(heap_trace_init_standalone(records, RECORDS), ESP_ERR_INVALID_STATE);
#if HAS_ALLOC_PAUSE
    assert_int_equal(heap_trace_alloc_pause(), ESP_OK);
    assert_int_equal(heap_trace_alloc_pause(), ESP_ERR_INVALID_STATE);
    assert_int_equal(heap_trace_init_standalone(records, RECORDS), ESP_ERR_INVALID_STATE);
    assert_int_equal(heap_trace_resume(), ESP_OK);
#else
    assert_int_equal(heap_trace_stop(), ESP_OK);
    assert_int_equal(heap_trace_resume(), ESP_OK);
#endif
    void *a = malloc(1), *b = malloc(1);
    assert_int_equal(heap_trace_get(2, &r), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_trace_get(0, NULL), ESP_ERR_INVALID_STATE);
    assert_int_equal(heap_trace_summary(NULL), ESP_ERR_INVALID_ARG);

    /* A restart clears records and totals; the high-water mark stays (ESP-IDF never resets it). */
    assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_OK);
    heap_trace_summary_t s = summary();
    assert_int_equal(s.count, 0);
    assert_int_equal(s.total_allocations, 0);
    assert_int_equal(s.high_water_mark, 2);
    assert_int_equal(heap_trace_get(0, &r), ESP_ERR_INVALID_ARG);
    free(a);
    free(b);
    assert_int_equal(heap_trace_stop(), ESP_OK);
    /* Re-init with the same buffer keeps its records (ESP-IDF's list lives in it); another buffer
     * starts empty. */
    assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_OK);
    void *kept = malloc(5);
    assert_int_equal(heap_trace_stop(), ESP_OK);
    assert_int_equal(heap_trace_init_standalone(records, RECORDS), ESP_OK);
    assert_int_equal(heap_trace_get_count(), 1);
    assert_ptr_equal(record(0).address, kept);
    /* Fewer records than it holds: all stay listed (ESP-IDF's init leaves its list alone); a
     * resume adds none while they are more than the capacity, a start clears them. */
    assert_int_equal(heap_trace_resume(), ESP_OK);
    void *second = malloc(6);
    assert_int_equal(heap_trace_stop(), ESP_OK);
    assert_int_equal(heap_trace_get_count(), 2);
    assert_int_equal(heap_trace_init_standalone(records, 1), ESP_OK);
    assert_int_equal(heap_trace_resume(), ESP_OK);
    void *lost = malloc(7);
    assert_int_equal(heap_trace_stop(), ESP_OK);
    assert_int_equal(heap_trace_get_count(), 2);
    assert_ptr_equal(record(0).address, kept);
    assert_ptr_equal(record(1).address, second);
    free(lost);
    free(second);
    assert_int_equal(heap_trace_init_standalone(records, RECORDS), ESP_OK);
    heap_trace_record_t other[4];
    assert_int_equal(heap_trace_init_standalone(other, 4), ESP_OK);
    assert_int_equal(heap_trace_get_count(), 0);
    free(kept);
}

static void each_try_of_a_realloc_with_several_caps_is_a_free(void **state)
{
    (void)state;
    assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_OK);
    void *p = malloc(50), *keep = malloc(8);
    /* The first caps match no heap: that try frees p's record, the second finds no record (counted:
     * `keep` still has one) and resizes p in its heap. */
    void *q = heap_caps_realloc_prefer(p, 100, 2, MALLOC_CAP_EXEC, MALLOC_CAP_INTERNAL);
    assert_non_null(q);
    heap_trace_summary_t s = summary();
    assert_int_equal(s.total_allocations, 3);
    assert_int_equal(s.total_frees, 2);
    assert_int_equal(s.count, 2);
    assert_ptr_equal(record(1).address, q);
    assert_int_equal(record(1).size, 100);
    free(q);
    free(keep);
    assert_int_equal(heap_trace_get_count(), 0);
    assert_int_equal(heap_trace_stop(), ESP_OK);
}

/* heap_trace_dump()'s text into out[size], and the end of the line of the 20-byte block at block. */
static const char *dump_to_end_of_line_of(const void *block, char *out, size_t size)
{
    char line[96];
    capture_stdout_begin();
    heap_trace_dump();
    capture_stdout_end(out, size);
    snprintf(line, sizeof line, "    20 bytes (@ %p, Internal) allocated CPU 0 ccount 0x", block);
    const char *at = strstr(out, line);
    assert_non_null(at);
    const char *end = strchr(at, '\n');
    assert_non_null(end);
    return end;
}

static void the_dump_shows_freed_blocks_and_a_lost_record(void **state)
{
    (void)state;
    heap_trace_record_t two[2];
    assert_int_equal(heap_trace_init_standalone(two, 2), ESP_OK);
    assert_int_equal(heap_trace_start(HEAP_TRACE_ALL), ESP_OK);
    void *a = malloc(10), *b = malloc(20), *c = malloc(30); /* a's record makes room for c's */
    free(b);
    assert_int_equal(heap_trace_stop(), ESP_OK);
    char out[2048];
    const char *end = dump_to_end_of_line_of(b, out, sizeof out);
    const char *alive = "Mode: Heap Trace All\n30 bytes alive in trace (1/2 allocations)\n";
    if (CONFIG_HEAP_TRACING_STACK_DEPTH != 0) {
        assert_memory_equal(end + 1, "freed by 0x", 11);
    } else if (HAS_FREED) {
        assert_memory_equal(end - 6, " freed", 6); /* no callers to show */
    } else { /* before v5.5, with no callers kept, a freed block looks alive */
        assert_memory_equal(end - 8, " caller ", 8);
        alive = "Mode: Heap Trace All\n50 bytes alive in trace (2/2 allocations)\n";
    }
    assert_non_null(strstr(out, alive));
    assert_non_null(strstr(out, "(NB: Internal Buffer has overflowed, so trace data is incomplete.)\n"));
    free(a);
    free(c);
}

static void the_dump_lists_each_memory_in_esp_idfs_format(void **state)
{
    (void)state;
    assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_OK);
    void *internal = heap_caps_malloc(123, MALLOC_CAP_INTERNAL);
    void *psram = heap_caps_malloc(4567, MALLOC_CAP_SPIRAM);
    assert_int_equal(heap_trace_stop(), ESP_OK);
    char out[4096], line[128];

    capture_stdout_begin();
    heap_trace_dump();
    capture_stdout_end(out, sizeof out);
    assert_non_null(strstr(out, "====== Heap Trace: 2 records (64 capacity) ======\n"));
    snprintf(line, sizeof line, "   123 bytes (@ %p, Internal) allocated CPU 0 ccount 0x", internal);
    assert_non_null(strstr(out, line));
    snprintf(line, sizeof line, "  4567 bytes (@ %p,    PSRAM) allocated CPU 0 ccount 0x", psram);
    assert_non_null(strstr(out, line));
    assert_non_null(strstr(out, "Mode: Heap Trace Leaks\n4690 bytes 'leaked' in trace (2 allocations)\n"
                                "records: 2 (64 capacity, 2 high water mark)\n" HASHMAP_LINE
                                "total allocations: 2\ntotal frees: 0\n"));

    capture_stdout_begin();
    heap_trace_dump_caps(MALLOC_CAP_SPIRAM);
    capture_stdout_end(out, sizeof out);
    assert_null(strstr(out, "123 bytes"));
    assert_non_null(strstr(out, "4567 bytes 'leaked' in trace (1 allocations)\n"));
    heap_caps_free(internal);
    heap_caps_free(psram);
}

static unsigned traces_seen_on_failure;

static __attribute__((unused)) void count_traces_on_failure(size_t size, uint32_t caps,
                                                            const char *function_name)
{
    (void)size, (void)caps, (void)function_name;
    traces_seen_on_failure += heap_trace_get_count() == 0;
}

static void the_hash_map_takes_its_memory_once_as_on_the_chip(void **state)
{
    (void)state;
#if !CONFIG_HEAP_TRACE_HASH_MAP
    print_message("skipped: CONFIG_HEAP_TRACE_HASH_MAP is off in this build "
                  "(tests/configs/alternate.defaults turns it on)\n");
    skip();
#else
    assert_int_equal(boot_tracing(true), 0);
    const uint32_t caps = CONFIG_HEAP_TRACE_HASH_MAP_IN_EXT_RAM_ ? MALLOC_CAP_SPIRAM : MALLOC_CAP_INTERNAL;
    const size_t before = heap_caps_get_free_size(caps);
    assert_int_equal(heap_trace_init_standalone(records, RECORDS), ESP_OK);
    const size_t after = heap_caps_get_free_size(caps);
    /* ESP-IDF's size: 8 bytes an entry, and a block's header and rounding */
    assert_true(before - after >= 8u * CONFIG_HEAP_TRACE_HASH_MAP_SIZE);
    assert_true(before - after <= 8u * CONFIG_HEAP_TRACE_HASH_MAP_SIZE + 32);
    assert_int_equal(heap_trace_init_standalone(records, RECORDS), ESP_OK);
    assert_int_equal(heap_caps_get_free_size(caps), after); /* taken once */
    /* It does not fit: the chip would go on without a map; here the init fails. The failed-
     * allocation callback may use the trace API meanwhile (no lock is held). */
    assert_int_equal(boot_tracing(true), 0);
    assert_int_equal(heap_caps_register_failed_alloc_callback(count_traces_on_failure), ESP_OK);
    kraken_sim_fail_next(0, 1);
    assert_int_equal(heap_trace_init_standalone(records, RECORDS), ESP_ERR_NO_MEM);
    assert_int_equal(traces_seen_on_failure, 1);
    assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_ERR_INVALID_STATE);
#endif
}

/* ---- callers (CONFIG_HEAP_TRACING_STACK_DEPTH > 0) ---- */

/* A return address lies inside `fn`: within `span` bytes of its start. */
#define ASSERT_INSIDE(pc, fn, span)                                                                \
    assert_true((uintptr_t)(pc) > (uintptr_t)(fn) && (uintptr_t)(pc) < (uintptr_t)(fn) + (span))

__attribute__((noinline, unused)) static void *allocate_with_malloc(size_t n)
{
    void *p = malloc(n);
    __asm__ volatile("" ::: "memory"); /* not a tail call: this frame stays on the stack */
    return p;
}

__attribute__((noinline, unused)) static void *allocate_with_caps(size_t n)
{
    void *p = heap_caps_calloc(1, n, MALLOC_CAP_SPIRAM);
    __asm__ volatile("" ::: "memory");
    return p;
}

__attribute__((noinline, unused)) static void release(void *p)
{
    free(p);
    __asm__ volatile("" ::: "memory");
}

static void records_name_the_function_that_called_the_heap_api(void **state)
{
    (void)state;
#if CONFIG_HEAP_TRACING_STACK_DEPTH < 2
    print_message("skipped: CONFIG_HEAP_TRACING_STACK_DEPTH is below 2 in this build "
                  "(tests/configs/alternate.defaults sets 4)\n");
    skip();
#else
    assert_int_equal(heap_trace_start(HEAP_TRACE_ALL), ESP_OK);
    void *a = allocate_with_malloc(40);
    void *b = allocate_with_caps(40);
    release(a);
    assert_int_equal(heap_trace_stop(), ESP_OK);
    heap_trace_record_t ra = record(0), rb = record(1);
    ASSERT_INSIDE(ra.alloced_by[0], allocate_with_malloc, 512);
    ASSERT_INSIDE(rb.alloced_by[0], allocate_with_caps, 512);
    ASSERT_INSIDE(ra.freed_by[0], release, 512);
    /* The next caller up is this test. */
    ASSERT_INSIDE(ra.alloced_by[1], records_name_the_function_that_called_the_heap_api, 4096);
#if HAS_FREED
    assert_true(ra.freed);
#endif
    assert_null(rb.freed_by[0]);
    heap_caps_free(b);

    char out[2048], line[64];
    capture_stdout_begin();
    heap_trace_dump();
    capture_stdout_end(out, sizeof out);
    snprintf(line, sizeof line, " caller %p:", ra.alloced_by[0]);
    assert_non_null(strstr(out, line));
    snprintf(line, sizeof line, "\nfreed by %p:", ra.freed_by[0]);
    assert_non_null(strstr(out, line));
#endif
}

/* ---- releases ---- */

/* Before v5.4 the tracer's state was a bool, false at boot: a stop before any start is refused. */
static void a_stop_before_any_start_is_refused_before_v5_4(void **state)
{
    (void)state;
    const struct {
        sim_idf_t release;
        esp_err_t first_stop;
    } cases[] = {{SIM_IDF_CURRENT, ESP_OK},
                 {SIM_IDF_V5_5, ESP_OK},
                 {SIM_IDF_V5_4, ESP_OK},
                 {SIM_IDF_V5_3, ESP_ERR_INVALID_STATE},
                 {SIM_IDF_V5_2, ESP_ERR_INVALID_STATE}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        boot_release(cases[i].release);
        assert_int_equal(heap_trace_stop(), cases[i].first_stop);
        assert_int_equal(heap_trace_resume(), ESP_ERR_INVALID_STATE); /* no start yet */
        assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_OK);
        free(malloc(1)); /* traced: the state is "started" whatever the release */
        assert_int_equal(summary().total_allocations, 1);
        assert_int_equal(heap_trace_stop(), ESP_OK);
        assert_int_equal(heap_trace_stop(), ESP_ERR_INVALID_STATE);
    }
}

/* Before v5.5 the dump prints " caller " with no callers after it, and tells a HEAP_TRACE_ALL
 * record freed by its free's callers: with none kept, every record counts as alive. A build for a
 * release before v5.5 (no `freed` in its records) dumps so whatever the release booted. */
static void before_v5_5_the_dump_tells_a_freed_block_by_its_callers(void **state)
{
    (void)state;
    const sim_idf_t releases[] = {SIM_IDF_CURRENT, SIM_IDF_V5_5, SIM_IDF_V5_4, SIM_IDF_V5_3,
                                  SIM_IDF_V5_2};
    for (size_t i = 0; i < sizeof releases / sizeof releases[0]; i++) {
        const bool before_v5_5 = !HAS_FREED || releases[i] >= SIM_IDF_V5_4;
        boot_release(releases[i]);
        assert_int_equal(heap_trace_start(HEAP_TRACE_ALL), ESP_OK);
        void *kept = malloc(10), *freed = malloc(20);
        free(freed);
        assert_int_equal(heap_trace_stop(), ESP_OK);
        char out[2048];
        const char *end = dump_to_end_of_line_of(freed, out, sizeof out);
        const char *alive = "Mode: Heap Trace All\n10 bytes alive in trace (1/2 allocations)\n";
        if (CONFIG_HEAP_TRACING_STACK_DEPTH != 0) { /* the same in both dumps on the host */
            assert_memory_equal(end + 1, "freed by 0x", 11);
        } else if (before_v5_5) {
            assert_memory_equal(end - 8, " caller ", 8);
            alive = "Mode: Heap Trace All\n30 bytes alive in trace (2/2 allocations)\n";
        } else {
            assert_memory_equal(end - 24, " ccount 0x", 10); /* no " caller " */
            assert_memory_equal(end - 6, " freed", 6);
        }
        assert_non_null(strstr(out, alive));
        free(kept);
    }
}

/* ---- threads ---- */

#define THREADS 4
#define ROUNDS 2000
#define LIVE 8 /* per thread: THREADS * LIVE records at most, fewer than RECORDS */

static void *churn(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *live[LIVE] = {0};
    for (int i = 0; i < ROUNDS; i++) {
        unsigned k = (unsigned)rand_r(&seed) % LIVE;
        if (live[k] != NULL) {
            free(live[k]);
            live[k] = NULL;
        } else {
            live[k] = (i & 1) ? malloc(1 + (size_t)rand_r(&seed) % 300)
                              : heap_caps_malloc(64, MALLOC_CAP_SPIRAM);
            assert_non_null(live[k]);
        }
    }
    for (int k = 0; k < LIVE; k++) {
        free(live[k]);
    }
    return NULL;
}

static void concurrent_heap_calls_leave_an_exact_trace(void **state)
{
    (void)state;
    assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_OK);
    pthread_t threads[THREADS];
    for (uintptr_t t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_create(&threads[t], NULL, churn, (void *)(t + 1)), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(threads[t], NULL), 0);
    }
    assert_int_equal(heap_trace_stop(), ESP_OK);
    heap_trace_summary_t s = summary();
    assert_int_equal(s.count, 0); /* nothing leaked */
    assert_false(s.has_overflowed);
    assert_true(s.total_allocations > THREADS * ROUNDS / 4);
    assert_int_equal(s.total_frees, s.total_allocations);
    assert_true(s.high_water_mark <= THREADS * LIVE);
}

/* ---- CONFIG_HEAP_USE_HOOKS ---- */

static struct {
    unsigned allocs, frees;
    void *alloc_ptr, *free_ptr;
    size_t size;
    uint32_t caps;
} hooks;

void esp_heap_trace_alloc_hook(void *ptr, size_t size, uint32_t caps);
void esp_heap_trace_free_hook(void *ptr);

void esp_heap_trace_alloc_hook(void *ptr, size_t size, uint32_t caps)
{
    hooks.allocs++;
    hooks.alloc_ptr = ptr;
    hooks.size = size;
    hooks.caps = caps;
}

void esp_heap_trace_free_hook(void *ptr)
{
    hooks.frees++;
    hooks.free_ptr = ptr;
}

static int boot_hooks(bool on, bool dma_reserve)
{
    sim_policy_t policy = n8r8_policy();
    policy.heap_hooks = on;
    policy.use_malloc = dma_reserve; /* the boot then takes a block for the DMA reserve */
    policy.reserve_internal = dma_reserve ? 32768 : 0;
    policy.malloc_always_internal = 16384;
    memset(&hooks, 0, sizeof hooks);
    return sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy) == ESP_OK ? 0 : -1;
}

#define ASSERT_ALLOC_HOOK(n, ptr, bytes, with_caps)                                                \
    do {                                                                                           \
        assert_int_equal(hooks.allocs, (n));                                                       \
        assert_ptr_equal(hooks.alloc_ptr, (ptr));                                                  \
        assert_int_equal(hooks.size, (bytes));                                                     \
        assert_int_equal(hooks.caps, (with_caps));                                                 \
    } while (0)

static void hooks_see_each_block_the_heaps_hand_out_and_take_back(void **state)
{
    (void)state;
    assert_int_equal(boot_hooks(true, true), 0);
    assert_int_equal(hooks.allocs, 0); /* the boot's DMA reserve is not the program's */

    void *p = heap_caps_malloc(1234, MALLOC_CAP_INTERNAL);
    ASSERT_ALLOC_HOOK(1, p, 1234, MALLOC_CAP_INTERNAL);
    void *q = heap_caps_realloc(p, 1234, MALLOC_CAP_32BIT); /* within its heap: no free */
    ASSERT_ALLOC_HOOK(2, q, 1234, MALLOC_CAP_32BIT);
    assert_int_equal(hooks.frees, 0);
    void *r = heap_caps_realloc(q, 100, MALLOC_CAP_SPIRAM); /* to PSRAM: alloc there, free here */
    ASSERT_ALLOC_HOOK(3, r, 100, MALLOC_CAP_SPIRAM);
    assert_int_equal(hooks.frees, 1);
    assert_ptr_equal(hooks.free_ptr, q);
    free(r);
    assert_int_equal(hooks.frees, 2);
    assert_ptr_equal(hooks.free_ptr, r);

    /* Sizes and caps as the heap sees them: 32-bit sizes rounded to 4; DMA in PSRAM takes whole
     * cache lines and drops MALLOC_CAP_DMA. */
    void *w = heap_caps_malloc(5, MALLOC_CAP_32BIT);
    ASSERT_ALLOC_HOOK(4, w, 8, MALLOC_CAP_32BIT);
    const size_t line = CONFIG_ESP32S3_DATA_CACHE_LINE_SIZE;
    void *d = heap_caps_malloc(100, MALLOC_CAP_SPIRAM | MALLOC_CAP_DMA);
    ASSERT_ALLOC_HOOK(5, d, (100 + line - 1) / line * line, MALLOC_CAP_SPIRAM);
    void *c = calloc(3, 10);
    assert_int_equal(hooks.allocs, 6);
    assert_int_equal(hooks.size, 30);

    /* Failures call nothing. */
    assert_null(heap_caps_malloc(64u << 20, MALLOC_CAP_INTERNAL));
    heap_caps_free((char *)c + 4); /* not a block: refused */
    assert_int_equal(hooks.allocs, 6);
    assert_int_equal(hooks.frees, 2);
    free(w);
    free(d);
    free(c);
    assert_int_equal(hooks.frees, 5);

    /* realloc(NULL, n) is an allocation, realloc(p, 0) a free, free(NULL) nothing. */
    void *n = realloc(NULL, 50);
    assert_int_equal(hooks.allocs, 7);
    assert_ptr_equal(hooks.alloc_ptr, n);
    assert_null(realloc(n, 0));
    assert_int_equal(hooks.frees, 6);
    assert_ptr_equal(hooks.free_ptr, n);
    heap_caps_free(NULL);
    assert_int_equal(hooks.allocs + hooks.frees, 13);
}

static void hooks_are_not_called_when_the_option_is_off(void **state)
{
    (void)state;
    assert_int_equal(boot_hooks(false, false), 0);
    free(malloc(10));
    heap_caps_free(heap_caps_malloc(10, MALLOC_CAP_SPIRAM));
    assert_int_equal(hooks.allocs + hooks.frees, 0);
}

/* main()'s first call, before anything touched the heap (and so before the simulator booted). */
static esp_err_t first_call_result;

static void the_first_call_boots_the_simulator_first(void **state)
{
    (void)state;
#if CONFIG_HEAP_TRACING_STANDALONE
    assert_int_equal(first_call_result, ESP_OK);
#else
    assert_int_equal(first_call_result, ESP_ERR_NOT_SUPPORTED);
#endif
}

int main(void)
{
    first_call_result = heap_trace_init_standalone(records, RECORDS);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_first_call_boots_the_simulator_first),
        cmocka_unit_test(every_call_says_not_supported_when_the_option_is_off),
        cmocka_unit_test_setup(leaks_mode_keeps_the_blocks_not_freed_oldest_first, boot_on),
        cmocka_unit_test_setup(all_mode_keeps_every_block_and_marks_the_record_esp_idf_finds,
                               boot_on),
        cmocka_unit_test_setup(a_realloc_is_a_free_then_an_allocation_even_when_it_fails, boot_on),
        cmocka_unit_test_setup(a_getline_buffer_is_traced_as_newlib_allocates_it, boot_on),
        cmocka_unit_test(heap_caps_calloc_is_recorded_as_the_release_records_it),
        cmocka_unit_test_setup(failed_allocations_are_not_recorded, boot_on),
        cmocka_unit_test_setup(a_full_buffer_drops_the_oldest_record_and_says_so, boot_on),
        cmocka_unit_test_setup(a_buffer_given_again_with_fewer_records_overflows_at_the_next_allocation,
                               boot_on),
        cmocka_unit_test_setup(each_try_of_a_realloc_with_several_caps_is_a_free, boot_on),
        cmocka_unit_test_setup(the_dump_shows_freed_blocks_and_a_lost_record, boot_on),
        cmocka_unit_test_setup(a_pause_records_frees_but_not_allocations, boot_on),
        cmocka_unit_test(state_changes_and_bad_arguments_get_esp_idfs_answers),
        cmocka_unit_test_setup(the_dump_lists_each_memory_in_esp_idfs_format, boot_on),
        cmocka_unit_test(the_hash_map_takes_its_memory_once_as_on_the_chip),
        cmocka_unit_test_setup(records_name_the_function_that_called_the_heap_api, boot_on),
        cmocka_unit_test(a_stop_before_any_start_is_refused_before_v5_4),
        cmocka_unit_test(before_v5_5_the_dump_tells_a_freed_block_by_its_callers),
        cmocka_unit_test_setup(concurrent_heap_calls_leave_an_exact_trace, boot_on),
        cmocka_unit_test(hooks_see_each_block_the_heaps_hand_out_and_take_back),
        cmocka_unit_test(hooks_are_not_called_when_the_option_is_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
