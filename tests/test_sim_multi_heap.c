/* test_sim_multi_heap.c - ESP-IDF's multi_heap.h on the host: a heap over the caller's memory. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
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
#include "esp_heap_caps.h"
#include "esp_memory_utils.h"
#include "esp_psram.h"
#include "freertos/FreeRTOS.h"
#include "kraken_sim.h"
#include "multi_heap.h"
#include "test_sanitizers.h"
#include "tlsf_heap.h"

#define REGION 16384u

static _Alignas(16) uint8_t region[REGION + 16];

static uint64_t invalid_frees(void)
{
    kraken_sim_stats_t st;
    kraken_sim_get_stats(&st);
    return st.invalid_frees;
}

static multi_heap_handle_t fresh_heap(void)
{
    multi_heap_handle_t heap = multi_heap_register(region, REGION);
    assert_non_null(heap);
    assert_true(multi_heap_check(heap, true));
    return heap;
}

static void a_heap_in_a_static_buffer_hands_out_blocks_inside_it_and_takes_them_back(void **state)
{
    (void)state;
    multi_heap_handle_t heap = fresh_heap();
    const size_t empty = multi_heap_free_size(heap);
    assert_true(empty > REGION - 1024 && empty < REGION); /* handle and control structure */
    uint8_t *p = multi_heap_malloc(heap, 100);
    assert_non_null(p);
    assert_true(p >= region && p + 100 <= region + REGION);
    assert_true(multi_heap_get_allocated_size(heap, p) >= 100);
    assert_int_equal(multi_heap_get_full_block_size(heap, p), multi_heap_get_allocated_size(heap, p));
    assert_true(multi_heap_free_size(heap) <= empty - 100);
    memset(p, 0xA5, 100);
    uint8_t *one = multi_heap_malloc(heap, 1);
    const size_t usable = multi_heap_get_allocated_size(heap, one);
    assert_true(usable > 1);
    memset(one, 0xA5, usable); /* all of it is ours once asked (ASan agrees) */
    multi_heap_free(heap, one);
    multi_heap_free(heap, p);
    assert_int_equal(multi_heap_free_size(heap), empty);
    assert_true(esp_ptr_internal(p)); /* a static: internal DRAM */
}

static void registration_and_allocation_refuse_what_esp_idf_refuses(void **state)
{
    (void)state;
    assert_null(multi_heap_register(NULL, REGION));
    assert_null(multi_heap_register(region, 8));
    assert_null(multi_heap_register(region, 0));
    multi_heap_handle_t heap = fresh_heap();
    assert_null(multi_heap_malloc(heap, 0));
    assert_null(multi_heap_malloc(NULL, 10));
    assert_null(multi_heap_malloc(heap, REGION));
    assert_null(multi_heap_malloc(heap, SIZE_MAX));
    assert_null(multi_heap_aligned_alloc(heap, 16, 0));
    assert_null(multi_heap_aligned_alloc(heap, 16, 24));
    assert_null(multi_heap_aligned_alloc(heap, 0, 16));
    assert_null(multi_heap_aligned_alloc(NULL, 16, 16));
    assert_int_equal(multi_heap_free_size(NULL), 0);
    assert_int_equal(multi_heap_minimum_free_size(NULL), 0);
    assert_false(multi_heap_check(NULL, false));
    multi_heap_free(heap, NULL);
    multi_heap_free(NULL, region);
    multi_heap_info_t info;
    memset(&info, 0xFF, sizeof info);
    multi_heap_get_info(NULL, &info);
    assert_int_equal(info.total_free_bytes, 0);
    assert_int_equal(info.total_blocks, 0);
    assert_true(multi_heap_check(heap, true));
}

/* The chip's TLSF refuses a start that is not 4-byte aligned (tlsf_create: "Memory must be aligned
 * to 4 bytes"); a 4-byte aligned one is aligned up to the host's granularity. */
static void a_misaligned_start_is_refused_and_a_4_byte_aligned_one_works(void **state)
{
    (void)state;
    for (size_t off = 1; off < 4; off++) {
        assert_null(multi_heap_register(region + off, REGION));
    }
    multi_heap_handle_t heap = multi_heap_register(region + 4, REGION);
    assert_non_null(heap);
    void *p = multi_heap_malloc(heap, 10);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % TLSF_HEAP_ALIGN, 0);
    assert_true((uint8_t *)p > region && (uint8_t *)p < region + REGION + 1);
    multi_heap_free(heap, p);
    assert_true(multi_heap_check(heap, true));
}

static void aligned_blocks_are_aligned_at_their_start_or_offset(void **state)
{
    (void)state;
    multi_heap_handle_t heap = fresh_heap();
    const size_t empty = multi_heap_free_size(heap);
    for (size_t align = 1; align <= 1024; align *= 2) {
        uint8_t *p = multi_heap_aligned_alloc(heap, 40, align);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % align, 0);
        uint8_t *q = multi_heap_aligned_alloc_offs(heap, 40, align, TLSF_HEAP_ALIGN);
        assert_non_null(q);
        assert_int_equal((uintptr_t)(q + TLSF_HEAP_ALIGN) % align, 0);
        memset(p, 1, 40);
        memset(q, 2, 40);
        multi_heap_free(heap, p);
        multi_heap_free(heap, q);
    }
    assert_null(multi_heap_aligned_alloc_offs(heap, 40, 64, 3)); /* not a granule multiple */
    assert_int_equal(multi_heap_free_size(heap), empty);
    assert_true(multi_heap_check(heap, true));
}

/* Offsets past the alignment and past the size, on a fragmented heap, where the gap before an
 * aligned block is sometimes too small for a free block of its own. */
static void offset_alignment_holds_on_a_fragmented_heap(void **state)
{
    (void)state;
    multi_heap_handle_t heap = fresh_heap();
    const size_t empty = multi_heap_free_size(heap);
    void *holes[24];
    for (size_t i = 0; i < 24; i++) {
        holes[i] = multi_heap_malloc(heap, 24 + 8 * i);
        assert_non_null(holes[i]);
    }
    for (size_t i = 0; i < 24; i += 2) {
        multi_heap_free(heap, holes[i]);
    }
    void *got[64];
    size_t n = 0;
    for (size_t align = 16; align <= 256; align *= 2) {
        for (size_t offset = 0; offset <= 3 * align; offset += align / 2 + TLSF_HEAP_ALIGN) {
            offset -= offset % TLSF_HEAP_ALIGN;
            uint8_t *p = multi_heap_aligned_alloc_offs(heap, 20, align, offset);
            assert_non_null(p);
            assert_int_equal((uintptr_t)(p + offset) % align, 0);
            memset(p, 0x5A, 20);
            assert_true(multi_heap_check(heap, true));
            assert_true(n < 64);
            got[n++] = p;
        }
    }
    for (size_t i = 0; i < n; i++) {
        multi_heap_free(heap, got[i]);
    }
    for (size_t i = 1; i < 24; i += 2) {
        multi_heap_free(heap, holes[i]);
    }
    assert_int_equal(multi_heap_free_size(heap), empty);
}

static void realloc_keeps_the_contents_and_size_zero_frees(void **state)
{
    (void)state;
    multi_heap_handle_t heap = fresh_heap();
    const size_t empty = multi_heap_free_size(heap);
    uint8_t *p = multi_heap_realloc(heap, NULL, 32); /* NULL: malloc */
    assert_non_null(p);
    for (int i = 0; i < 32; i++) {
        p[i] = (uint8_t)i;
    }
    uint8_t *blocker = multi_heap_malloc(heap, 16); /* p cannot grow in place */
    assert_non_null(blocker);
    uint8_t *q = multi_heap_realloc(heap, p, 3000);
    assert_non_null(q);
    for (int i = 0; i < 32; i++) {
        assert_int_equal(q[i], i);
    }
    assert_null(multi_heap_realloc(heap, q, REGION)); /* no room: q untouched */
    assert_int_equal(q[31], 31);
    assert_null(multi_heap_realloc(heap, q, 0)); /* frees */
    multi_heap_free(heap, blocker);
    assert_int_equal(multi_heap_free_size(heap), empty);
}

static void figures_and_the_minimum_follow_the_blocks(void **state)
{
    (void)state;
    multi_heap_handle_t heap = fresh_heap();
    const size_t empty = multi_heap_free_size(heap);
    assert_int_equal(multi_heap_minimum_free_size(heap), empty);
    void *a = multi_heap_malloc(heap, 1000);
    void *b = multi_heap_malloc(heap, 2000);
    assert_non_null(a);
    assert_non_null(b);
    multi_heap_free(heap, a); /* a hole before b */
    multi_heap_info_t info;
    multi_heap_get_info(heap, &info);
    assert_int_equal(info.allocated_blocks, 1);
    assert_int_equal(info.free_blocks, 2);
    assert_int_equal(info.total_blocks, 3);
    assert_int_equal(info.total_free_bytes, multi_heap_free_size(heap));
    assert_int_equal(info.total_allocated_bytes, multi_heap_get_allocated_size(heap, b));
    assert_true(info.largest_free_block <= info.total_free_bytes - 1000);
    assert_int_equal(info.minimum_free_bytes, multi_heap_minimum_free_size(heap));
    assert_true(info.minimum_free_bytes < empty - 3000); /* a and b were live together */
    void *big = multi_heap_malloc(heap, info.largest_free_block);
    assert_non_null(big);
    const size_t low = multi_heap_minimum_free_size(heap);
    assert_true(low < info.minimum_free_bytes);
    multi_heap_free(heap, big); /* free bytes back above the minimum, which stays */
    assert_true(multi_heap_free_size(heap) > low);
    assert_int_equal(multi_heap_minimum_free_size(heap), low);
    assert_int_equal(multi_heap_reset_minimum_free_bytes(heap), low);
    assert_int_equal(multi_heap_minimum_free_size(heap), multi_heap_free_size(heap));
    multi_heap_restore_minimum_free_bytes(heap, low);
    assert_int_equal(multi_heap_minimum_free_size(heap), low);
    multi_heap_restore_minimum_free_bytes(heap, empty); /* never raises it */
    assert_int_equal(multi_heap_minimum_free_size(heap), low);
}

/* ESP-IDF v5.5's figures for a 32 KiB region, derived from its sources (multi_heap.c, tlsf.c):
 * - multi_heap_register: heap_t 20 bytes; TLSF's control structure for the 32748 bytes after it:
 *   16 second-level lists (over 16 KiB), fl_index_max = 32 - clz(32748) = 15, shift 4 + 2, so 10
 *   first-level indexes: 36 + 4 * 10 + 4 * 10 * 16 = 716 bytes. Free: 32748 - 716 = 32032.
 * - tlsf_add_pool: one block of 32032 - 8 = 32024 bytes (its header and the sentinel's);
 *   largest_free_block = tlsf_fit_size(32024) = 32024 rounded down to its class (1024): 31744.
 * - malloc(100): a 100-byte block, free -= 100 + 4 (tlsf_alloc_overhead) each time;
 *   free(first) gives 104 back; the minimum stays at the lowest; total_allocated_bytes =
 *   32032 - free - 4 * allocated blocks.
 * A 64-bit host's first payload is 4 bytes further (8-byte alignment): the same figures here. */
static _Alignas(16) uint8_t region_32k[32768];

static void figures_are_esp_idfs_to_the_byte(void **state)
{
    (void)state;
    multi_heap_handle_t heap = multi_heap_register(region_32k, sizeof region_32k);
    assert_non_null(heap);
    multi_heap_info_t info;
    multi_heap_get_info(heap, &info);
    assert_int_equal(info.total_free_bytes, 32032);
    assert_int_equal(info.minimum_free_bytes, 32032);
    assert_int_equal(info.largest_free_block, 31744);
    assert_int_equal(info.total_allocated_bytes, 0);
    assert_int_equal(info.free_blocks, 1);
    void *first = multi_heap_malloc(heap, 100);
    assert_non_null(first);
    assert_int_equal(multi_heap_get_allocated_size(heap, first), 100);
    assert_int_equal(multi_heap_free_size(heap), 32032 - 104);
    assert_int_equal(multi_heap_minimum_free_size(heap), 32032 - 104);
    void *second = multi_heap_malloc(heap, 100);
    assert_non_null(second);
    assert_int_equal(multi_heap_free_size(heap), 32032 - 208);
    multi_heap_free(heap, first);
    multi_heap_get_info(heap, &info);
    assert_int_equal(info.total_free_bytes, 32032 - 104);  /* 31928 */
    assert_int_equal(info.minimum_free_bytes, 32032 - 208); /* 31824 */
    assert_int_equal(info.total_allocated_bytes, 100);
    assert_int_equal(info.allocated_blocks, 1);
    assert_int_equal(info.free_blocks, 2); /* first's block is a hole of its own */
    assert_int_equal(info.total_blocks, 3);
    assert_int_equal(info.largest_free_block, 31744); /* 31816 (chip) rounded to its class */
    /* second merges with both free neighbours: back to the empty heap's count */
    multi_heap_free(heap, second);
    assert_int_equal(multi_heap_free_size(heap), 32032);
    assert_int_equal(multi_heap_minimum_free_size(heap), 32032 - 208);
    assert_true(multi_heap_check(heap, true));
}

static void misuse_is_refused_counted_and_leaves_the_heap_intact(void **state)
{
    (void)state;
    multi_heap_handle_t heap = fresh_heap();
    uint8_t *p = multi_heap_malloc(heap, 64);
    uint8_t *keep = multi_heap_malloc(heap, 64);
    assert_non_null(p);
    assert_non_null(keep);
    void *foreign = heap_caps_malloc(64, MALLOC_CAP_8BIT);
    assert_non_null(foreign);
    const uint64_t before = invalid_frees();
    multi_heap_free(heap, p);
    const size_t free_now = multi_heap_free_size(heap);
    multi_heap_free(heap, p);                       /* double free */
    multi_heap_free(heap, foreign);                 /* another heap's block */
    multi_heap_free(heap, keep + 8);                /* interior pointer */
    assert_null(multi_heap_realloc(heap, p, 128)); /* freed block */
    assert_int_equal(invalid_frees(), before + 4);
    assert_int_equal(multi_heap_free_size(heap), free_now);
    assert_int_equal(multi_heap_get_allocated_size(heap, p), 0);
    assert_int_equal(multi_heap_get_allocated_size(heap, foreign), 0);
    assert_true(multi_heap_check(heap, true));
    multi_heap_free(heap, keep);
    heap_caps_free(foreign);
}

typedef struct {
    size_t blocks, used;
    int stop_after;
} walk_count_t;

static bool count_block(void *block_ptr, size_t block_size, int block_used, void *user_data)
{
    walk_count_t *c = user_data;
    assert_non_null(block_ptr);
    assert_true(block_size > 0);
    c->blocks++;
    c->used += block_used ? 1 : 0;
    return c->stop_after == 0 || (int)c->blocks < c->stop_after;
}

static void dump(void *heap)
{
    multi_heap_dump(heap);
}

static void walk_dump_and_containing_block_see_every_block(void **state)
{
    (void)state;
    multi_heap_handle_t heap = fresh_heap();
    uint8_t *a = multi_heap_malloc(heap, 100);
    uint8_t *b = multi_heap_malloc(heap, 200);
    assert_non_null(a);
    assert_non_null(b);
    walk_count_t all = {0, 0, 0};
    multi_heap_walk(heap, count_block, &all);
    assert_int_equal(all.blocks, 3);
    assert_int_equal(all.used, 2);
    walk_count_t first = {0, 0, 1};
    multi_heap_walk(heap, count_block, &first);
    assert_int_equal(first.blocks, 1);
    assert_ptr_equal(multi_heap_find_containing_block(heap, b + 150), b);
    assert_ptr_equal(multi_heap_find_containing_block(heap, a), a);
    assert_null(multi_heap_find_containing_block(heap, b + 4000)); /* free memory */

    char text[1024];
    capture_output(STDERR_FILENO, dump, heap, text, sizeof text);
    char expect[128];
    snprintf(expect, sizeof expect, "Showing data for heap: %p \n", (void *)heap);
    assert_non_null(strstr(text, expect));
    snprintf(expect, sizeof expect, "Block %p data, size: %u bytes, Free: No \n", (void *)b,
             (unsigned)multi_heap_get_allocated_size(heap, b));
    assert_non_null(strstr(text, expect));
    assert_non_null(strstr(text, "Free: Yes \n"));
    multi_heap_free(heap, a);
    multi_heap_free(heap, b);
}

static multi_heap_handle_t g_walked;
static void walk_with_no_walker(void *unused)
{
    (void)unused;
    multi_heap_walk(g_walked, NULL, NULL);
}

/* A NULL walker is TLSF's default one (tlsf_walk_pool): a line per block on stdout. */
static void a_walk_without_a_walker_prints_every_block(void **state)
{
    (void)state;
    g_walked = fresh_heap();
    uint8_t *a = multi_heap_malloc(g_walked, 100);
    assert_non_null(a);
    char text[512];
    capture_output(STDOUT_FILENO, walk_with_no_walker, NULL, text, sizeof text);
    char expect[128];
    snprintf(expect, sizeof expect, "\t%p used size: %x (%p)\n", (void *)a,
             (unsigned)multi_heap_get_allocated_size(g_walked, a), (void *)(a - 8));
    assert_ptr_equal(strstr(text, expect), text);
    assert_non_null(strstr(text, " free size: "));
    multi_heap_free(g_walked, a);
}

static multi_heap_handle_t g_checked;
static void check_printing(void *unused)
{
    (void)unused;
    (void)multi_heap_check(g_checked, true);
}

/* multi_heap_check(heap, true) prints only for a heap that fails the check. */
static void a_check_prints_only_what_it_finds_broken(void **state)
{
    (void)state;
#if defined(TEST_ASAN)
    skip(); /* block headers are poisoned in ASan builds: the corruption itself would be reported */
#endif
    g_checked = fresh_heap();
    char *a = multi_heap_malloc(g_checked, 64);
    char *b = multi_heap_malloc(g_checked, 64);
    assert_non_null(a);
    assert_non_null(b);
    char text[256];
    capture_output(STDERR_FILENO, check_printing, NULL, text, sizeof text);
    assert_string_equal(text, "");
    uint32_t header;
    memcpy(&header, b - 4, sizeof header); /* the 4-byte TLSF header in front of b */
    const uint32_t broken = header ^ 0x00000ff0u;
    memcpy(b - 4, &broken, sizeof broken);
    assert_false(multi_heap_check(g_checked, false));
    capture_output(STDERR_FILENO, check_printing, NULL, text, sizeof text);
    assert_non_null(strstr(text, "CORRUPT HEAP"));
    memcpy(b - 4, &header, sizeof header);
    assert_true(multi_heap_check(g_checked, true));
    multi_heap_free(g_checked, a);
    multi_heap_free(g_checked, b);
}

/* A heap inside a PSRAM block (internal where the heap has no PSRAM: a build without PSRAM, or
 * with CONFIG_SPIRAM_USE_MEMMAP, where the PSRAM is initialised but not the heap's): its blocks are
 * where that block is, and heap_caps does not see them. */
static void a_heap_inside_a_heap_caps_block_is_invisible_to_heap_caps(void **state)
{
    (void)state;
    const bool psram = heap_caps_get_total_size(MALLOC_CAP_SPIRAM) > 0;
    void *outer = heap_caps_malloc(65536, psram ? MALLOC_CAP_SPIRAM : MALLOC_CAP_INTERNAL);
    assert_non_null(outer);
    kraken_sim_stats_t before, after;
    kraken_sim_get_stats(&before);
    multi_heap_handle_t heap = multi_heap_register(outer, 65536);
    assert_non_null(heap);
    void *p = multi_heap_malloc(heap, 5000);
    assert_non_null(p);
    assert_int_equal(esp_ptr_external_ram(p), psram);
    assert_int_equal(esp_ptr_internal(p), !psram);
    kraken_sim_get_stats(&after);
    assert_int_equal(after.allocations, before.allocations);
    multi_heap_free(heap, p);
    heap_caps_free(outer);
    assert_true(heap_caps_check_integrity_all(true));
}

#define THREADS 4
#define ROUNDS 20000

static multi_heap_handle_t shared_heap;
static pthread_barrier_t start_together;
static atomic_int damaged; /* blocks whose contents another thread changed */

static bool read_figures(void *block_ptr, size_t block_size, int block_used, void *user_data)
{
    (void)block_ptr;
    (void)block_size;
    (void)block_used;
    *(size_t *)user_data = multi_heap_free_size(shared_heap);
    return true;
}

static void *churn(void *arg)
{
    uint32_t seed = (uint32_t)(uintptr_t)arg;
    void *held[8] = {0};
    pthread_barrier_wait(&start_together);
    for (int i = 0; i < ROUNDS; i++) {
        seed = seed * 1103515245u + 12345u;
        const unsigned slot = (seed >> 16) % 8;
        if (held[slot] != NULL) {
            if (*(uint32_t *)held[slot] != (uint32_t)(uintptr_t)held[slot]) {
                atomic_fetch_add(&damaged, 1);
            }
            multi_heap_free(shared_heap, held[slot]);
            held[slot] = NULL;
        } else {
            held[slot] = multi_heap_malloc(shared_heap, 16 + (seed >> 8) % 200);
            if (held[slot] != NULL) {
                *(uint32_t *)held[slot] = (uint32_t)(uintptr_t)held[slot];
            }
        }
    }
    for (unsigned slot = 0; slot < 8; slot++) {
        multi_heap_free(shared_heap, held[slot]);
    }
    return NULL;
}

static void with_a_lock_the_heap_is_safe_from_several_threads(void **state)
{
    (void)state;
    static portMUX_TYPE heap_lock;
    portMUX_INITIALIZE(&heap_lock);
    shared_heap = fresh_heap();
    multi_heap_set_lock(shared_heap, &heap_lock);
    const size_t empty = multi_heap_free_size(shared_heap);
    pthread_t threads[THREADS];
    assert_int_equal(pthread_barrier_init(&start_together, NULL, THREADS), 0);
    for (uintptr_t i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, churn, (void *)(i + 1)), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    pthread_barrier_destroy(&start_together);
    assert_int_equal(atomic_load(&damaged), 0);
    assert_int_equal(multi_heap_free_size(shared_heap), empty);
    assert_true(multi_heap_check(shared_heap, true));
    multi_heap_info_t info;
    multi_heap_get_info(shared_heap, &info);
    assert_int_equal(info.allocated_blocks, 0);
    /* the lock is recursive, as ESP-IDF asks: a walker may read the heap's figures */
    size_t free_seen = 0;
    multi_heap_walk(shared_heap, read_figures, &free_seen);
    assert_int_equal(free_seen, multi_heap_free_size(shared_heap));
    multi_heap_set_lock(shared_heap, NULL);
}

static atomic_bool allocated;

static void *allocate_once(void *arg)
{
    (void)arg;
    void *p = multi_heap_malloc(shared_heap, 64);
    atomic_store(&allocated, p != NULL);
    multi_heap_free(shared_heap, p);
    return NULL;
}

/* The lock given is the one its calls take: a call waits while another thread holds it. */
static void the_heaps_calls_take_the_lock_given_to_it(void **state)
{
    (void)state;
    static portMUX_TYPE heap_lock = portMUX_INITIALIZER_UNLOCKED;
    multi_heap_set_lock(NULL, &heap_lock); /* no heap: nothing happens */
    shared_heap = fresh_heap();
    multi_heap_set_lock(shared_heap, &heap_lock);
    atomic_store(&allocated, false);
    portENTER_CRITICAL(&heap_lock);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, allocate_once, NULL), 0);
    const struct timespec pause = {.tv_nsec = 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    assert_false(atomic_load(&allocated)); /* waiting for the lock */
    portEXIT_CRITICAL(&heap_lock);
    pthread_join(thread, NULL);
    assert_true(atomic_load(&allocated));
    multi_heap_set_lock(shared_heap, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_heap_in_a_static_buffer_hands_out_blocks_inside_it_and_takes_them_back),
        cmocka_unit_test(registration_and_allocation_refuse_what_esp_idf_refuses),
        cmocka_unit_test(a_misaligned_start_is_refused_and_a_4_byte_aligned_one_works),
        cmocka_unit_test(aligned_blocks_are_aligned_at_their_start_or_offset),
        cmocka_unit_test(offset_alignment_holds_on_a_fragmented_heap),
        cmocka_unit_test(realloc_keeps_the_contents_and_size_zero_frees),
        cmocka_unit_test(figures_and_the_minimum_follow_the_blocks),
        cmocka_unit_test(figures_are_esp_idfs_to_the_byte),
        cmocka_unit_test(misuse_is_refused_counted_and_leaves_the_heap_intact),
        cmocka_unit_test(walk_dump_and_containing_block_see_every_block),
        cmocka_unit_test(a_walk_without_a_walker_prints_every_block),
        cmocka_unit_test(a_check_prints_only_what_it_finds_broken),
        cmocka_unit_test(a_heap_inside_a_heap_caps_block_is_invisible_to_heap_caps),
        cmocka_unit_test(with_a_lock_the_heap_is_safe_from_several_threads),
        cmocka_unit_test(the_heaps_calls_take_the_lock_given_to_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
