/* test_sim_task_tracking.c - CONFIG_HEAP_TASK_TRACKING on the simulated chip: each live block is
 * its allocating task's, and heap_caps_get_per_task_info() totals and lists them as ESP-IDF's. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "esp_heap_caps.h"
#include "esp_heap_caps_init.h"
#define KRAKEN_SIM_TASK_TRACKING_IMPL /* the API, whatever this build's sdkconfig says */
#include "esp_heap_task_info.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "kraken_sim.h"
#include "sim_internal.h"

#include "freertos_test_support.h"
#include "test_sanitizers.h"
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define STACK 4096u
#define SMALL 100u
#define LARGE 1000u

/* An esp32s3-n8r8 with task tracking on or off, allocation hooks on or off. */
static int boot_tracking(bool on, bool hooks)
{
    sim_policy_t policy = {.spiram = true, .octal = true, .task_tracking = on, .heap_hooks = hooks};
    return sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy) == ESP_OK ? 0 : -1;
}

static int boot_on(void **state)
{
    (void)state;
    return boot_tracking(true, false);
}

static int boot_off(void **state)
{
    (void)state;
    return boot_tracking(false, false);
}

static int boot_on_with_hooks(void **state)
{
    (void)state;
    return boot_tracking(true, true);
}

/* ---- tasks that allocate and park -------------------------------------------------------------- */

typedef struct {
    unsigned small_blocks;  /* internal */
    bool large_in_psram;
    void *held[4];
    _Atomic bool ready;
    bool free_then;         /* frees its blocks when resumed */
} holder_t;

static void hold(void *arg)
{
    holder_t *h = arg;
    for (unsigned i = 0; i < h->small_blocks; i++) {
        h->held[i] = heap_caps_malloc(SMALL, MALLOC_CAP_INTERNAL);
    }
    if (h->large_in_psram) {
        h->held[3] = heap_caps_malloc(LARGE, MALLOC_CAP_SPIRAM);
    }
    atomic_store(&h->ready, true);
    vTaskSuspend(NULL);
    for (unsigned i = 0; i < 4; i++) {
        heap_caps_free(h->held[i]);
        h->held[i] = NULL;
    }
    atomic_store(&h->ready, false);
    vTaskSuspend(NULL);
}

static TaskHandle_t start_holder(holder_t *h, const char *name)
{
    TaskHandle_t t = NULL;
    assert_int_equal(xTaskCreate(hold, name, STACK, h, 5, &t), pdPASS);
    WAIT_FOR(atomic_load(&h->ready) && eTaskGetState(t) == eSuspended);
    assert_true(atomic_load(&h->ready));
    return t;
}

/* ESP-IDF lists a block from its owner word, sizeof(TaskHandle_t) before the pointer the
 * allocation returned, and counts its size with the word. */
#define OWNER_WORD sizeof(TaskHandle_t)

static void *listed_address(void *ptr)
{
    return (char *)ptr - OWNER_WORD;
}

static size_t listed_size(void *ptr)
{
    return heap_caps_get_allocated_size(ptr) + OWNER_WORD;
}

/* Partition 0: PSRAM heaps; partition 1: every other heap. */
static heap_task_info_params_t split_by_psram(heap_task_totals_t *totals, size_t *num_totals,
                                              size_t max_totals)
{
    heap_task_info_params_t p = {0};
    p.caps[0] = MALLOC_CAP_SPIRAM;
    p.mask[0] = MALLOC_CAP_SPIRAM;
    p.totals = totals;
    p.num_totals = num_totals;
    p.max_totals = max_totals;
    return p;
}

static const heap_task_totals_t *totals_of(const heap_task_totals_t *totals, size_t n,
                                           TaskHandle_t task)
{
    for (size_t i = 0; i < n; i++) {
        if (totals[i].task == task) {
            return &totals[i];
        }
    }
    return NULL;
}

static void each_task_holds_what_it_allocated_split_by_the_caps_asked_for(void **state)
{
    (void)state;
    holder_t a = {.small_blocks = 3}, b = {.large_in_psram = true};
    TaskHandle_t ta = start_holder(&a, "a"), tb = start_holder(&b, "b");

    heap_task_totals_t totals[8];
    size_t n = 0;
    heap_task_info_params_t p = split_by_psram(totals, &n, 8);
    assert_int_equal(heap_caps_get_per_task_info(&p), 0); /* no block list asked for */
    const heap_task_totals_t *at = totals_of(totals, n, ta), *bt = totals_of(totals, n, tb);
    assert_non_null(at);
    assert_non_null(bt);
    assert_int_equal(at->count[0], 0);
    assert_int_equal(at->count[1], 3);
    assert_int_equal(at->size[1], 3 * listed_size(a.held[0]));
    assert_int_equal(bt->count[0], 1);
    assert_int_equal(bt->size[0], listed_size(b.held[3]));
    assert_int_equal(bt->count[1], 0);
    /* The creator (this thread) holds the tasks' stacks and TCBs, as on the chip. */
    const heap_task_totals_t *mine = totals_of(totals, n, xTaskGetCurrentTaskHandle());
    assert_non_null(mine);
    assert_true(mine->count[1] >= 4);

    /* The blocks of task a only. */
    heap_task_block_t blocks[8];
    TaskHandle_t only_a[1] = {ta};
    p.blocks = blocks;
    p.max_blocks = 8;
    p.tasks = only_a;
    p.num_tasks = 1;
    assert_int_equal(heap_caps_get_per_task_info(&p), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_ptr_equal(blocks[i].task, ta);
        size_t k = 0;
        while (k < 3 && blocks[i].address != listed_address(a.held[k])) {
            k++;
        }
        assert_true(k < 3);
        assert_int_equal(blocks[i].size, listed_size(a.held[k]));
    }
    p.max_blocks = 2; /* no more than room for */
    assert_int_equal(heap_caps_get_per_task_info(&p), 2);
    /* No task list: the blocks of every task, as many as the totals count. */
    heap_task_block_t all[256];
    p.blocks = all;
    p.max_blocks = 256;
    p.tasks = NULL;
    p.num_tasks = 0;
    const size_t listed = heap_caps_get_per_task_info(&p);
    size_t counted = 0;
    for (size_t i = 0; i < n; i++) {
        counted += totals[i].count[0] + totals[i].count[1];
    }
    assert_int_equal(listed, counted);
    assert_true(listed >= 4 + 4); /* a's 3, b's 1, the stacks and TCBs */

    /* Freed blocks leave the totals; the entries stay, in their order, at 0. */
    const size_t entries = n;
    const ptrdiff_t a_index = at - totals;
    vTaskResume(ta);
    WAIT_FOR(!atomic_load(&a.ready) && eTaskGetState(ta) == eSuspended);
    p.blocks = NULL;
    (void)heap_caps_get_per_task_info(&p);
    assert_int_equal(n, entries);
    assert_ptr_equal(totals[a_index].task, ta);
    assert_int_equal(totals[a_index].count[1], 0);
    assert_int_equal(totals[a_index].size[1], 0);
    vTaskDelete(ta);
    vTaskDelete(tb);
    heap_caps_free(b.held[3]); /* a deleted task's block: anyone may free it */
}

static void leak(void *arg)
{
    atomic_store((_Atomic(void *) *)arg, malloc(48)); /* never freed */
    vTaskDelete(NULL);
}

/* What a task left behind when it was deleted stays under its handle: the leak is found. */
static void a_deleted_tasks_blocks_stay_attributed_to_it(void **state)
{
    (void)state;
    _Atomic(void *) left = NULL;
    TaskHandle_t t = NULL;
    assert_int_equal(xTaskCreate(leak, "leaky", STACK, (void *)&left, 5, &t), pdPASS);
    WAIT_FOR(atomic_load(&left) != NULL && uxTaskGetNumberOfTasks() == TASKS_AT_REST);
    heap_task_block_t blocks[4];
    TaskHandle_t wanted[1] = {t};
    size_t n = 0;
    heap_task_info_params_t p = {.tasks = wanted, .num_tasks = 1, .num_totals = &n,
                                 .blocks = blocks, .max_blocks = 4};
    assert_int_equal(heap_caps_get_per_task_info(&p), 1);
    assert_ptr_equal(blocks[0].address, listed_address(atomic_load(&left)));
    assert_ptr_equal(blocks[0].task, t);
    free(atomic_load(&left));
    assert_int_equal(heap_caps_get_per_task_info(&p), 0);
}

/* An ISR's block is the interrupted task's; a realloc's block the reallocating task's. */
static void isr_and_realloc_blocks_belong_to_the_task_that_ran(void **state)
{
    (void)state;
    TaskHandle_t me = xTaskGetCurrentTaskHandle();
    kraken_sim_isr_enter();
    void *from_isr = heap_caps_malloc(32, MALLOC_CAP_INTERNAL);
    kraken_sim_isr_exit();
    holder_t a = {.small_blocks = 1};
    TaskHandle_t ta = start_holder(&a, "a");
    void *taken = heap_caps_realloc(a.held[0], 3000, MALLOC_CAP_INTERNAL);
    assert_non_null(taken);
    a.held[0] = NULL;

    heap_task_block_t blocks[64];
    TaskHandle_t wanted[2] = {me, ta};
    size_t n = 0;
    heap_task_info_params_t p = {.tasks = wanted, .num_tasks = 2, .num_totals = &n,
                                 .blocks = blocks, .max_blocks = 64};
    const size_t found = heap_caps_get_per_task_info(&p);
    bool isr_seen = false, realloc_seen = false;
    for (size_t i = 0; i < found; i++) {
        assert_ptr_not_equal(blocks[i].task, ta); /* its only block went to me */
        isr_seen |= blocks[i].address == listed_address(from_isr) && blocks[i].task == me;
        realloc_seen |= blocks[i].address == listed_address(taken) && blocks[i].task == me;
    }
    assert_true(isr_seen);
    assert_true(realloc_seen);
    heap_caps_free(from_isr);
    heap_caps_free(taken);
    vTaskResume(ta);
    WAIT_FOR(!atomic_load(&a.ready) && eTaskGetState(ta) == eSuspended);
    vTaskDelete(ta);
}

static void tasks_beyond_max_totals_are_not_counted_and_bad_params_are_refused(void **state)
{
    (void)state;
    holder_t a = {.small_blocks = 1}, b = {.small_blocks = 1};
    TaskHandle_t ta = start_holder(&a, "a"), tb = start_holder(&b, "b");
    heap_task_totals_t totals[1];
    size_t n = 0;
    heap_task_info_params_t p = split_by_psram(totals, &n, 1);
    (void)heap_caps_get_per_task_info(&p);
    assert_int_equal(n, 1);
    /* No set matches any heap: nothing is counted. */
    p.caps[0] = MALLOC_CAP_EXEC;
    p.mask[0] = MALLOC_CAP_EXEC;
    p.caps[1] = p.caps[2] = p.caps[3] = MALLOC_CAP_EXEC;
    p.mask[1] = p.mask[2] = p.mask[3] = MALLOC_CAP_EXEC;
    n = 0;
    assert_int_equal(heap_caps_get_per_task_info(&p), 0);
    assert_int_equal(n, 0);
    assert_int_equal(heap_caps_get_per_task_info(NULL), 0);
    p.num_totals = NULL;
    assert_int_equal(heap_caps_get_per_task_info(&p), 0);
    vTaskResume(ta);
    vTaskResume(tb);
    WAIT_FOR(!atomic_load(&a.ready) && !atomic_load(&b.ready));
    WAIT_FOR(eTaskGetState(ta) == eSuspended && eTaskGetState(tb) == eSuspended);
    vTaskDelete(ta);
    vTaskDelete(tb);
}

static _Atomic UBaseType_t tasks_seen;

static void *allocate_in_a_plain_thread(void *arg)
{
    (void)arg;
    void *p = malloc(64);
    atomic_store(&tasks_seen, uxTaskGetNumberOfTasks());
    free(p);
    return NULL;
}

/* Without CONFIG_HEAP_TASK_TRACKING no block has a task, and allocating makes no thread a task. */
static void without_tracking_every_block_is_nobodys(void **state)
{
    (void)state;
    const UBaseType_t tasks = uxTaskGetNumberOfTasks();
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, allocate_in_a_plain_thread, NULL), 0);
    pthread_join(thread, NULL);
    assert_int_equal(atomic_load(&tasks_seen), tasks);
    void *p1 = heap_caps_malloc(64, MALLOC_CAP_INTERNAL);
    heap_task_totals_t totals[4];
    size_t n = 0;
    heap_task_info_params_t p = {.num_totals = &n, .totals = totals, .max_totals = 4};
    (void)heap_caps_get_per_task_info(&p);
    assert_int_equal(n, 1);
    assert_null(totals[0].task);
    assert_true(totals[0].count[0] >= 1);
    heap_caps_free(p1);
}

/* Each block starts with ESP-IDF's owner word: an allocation takes a word more of its heap than
 * without tracking while its usable size stays the same, a realloc and an aligned allocation keep
 * it, and heap_caps_get_info() and the largest free block take it off as ESP-IDF does, so a
 * request of the largest free block still fits. */
static void each_block_takes_an_owner_word_more_as_on_the_chip(void **state)
{
    (void)state;
    const uint32_t psram = MALLOC_CAP_SPIRAM; /* one heap */
    size_t taken[2], usable[2], largest[2];
    for (int on = 0; on < 2; on++) {
        assert_int_equal(boot_tracking(on, false), 0);
        largest[on] = heap_caps_get_largest_free_block(psram);
        const size_t before = heap_caps_get_free_size(psram);
        void *p = heap_caps_malloc(SMALL, psram);
        assert_non_null(p);
        taken[on] = before - heap_caps_get_free_size(psram);
        usable[on] = heap_caps_get_allocated_size(p);
#ifdef TEST_ASAN
        assert_true(__asan_address_is_poisoned((char *)p - 1)); /* the word, or TLSF's header */
#endif
        void *const start = (char *)p - on * OWNER_WORD;
        assert_int_equal(heap_caps_get_containing_block_size(p), usable[on] + on * OWNER_WORD);
        assert_int_equal(heap_caps_get_containing_block_size(start), usable[on] + on * OWNER_WORD);
#ifdef TEST_ASAN
        assert_true(__asan_address_is_poisoned((char *)p - 1)); /* still */
#endif
        for (size_t i = 0; i < kraken_sim_region_count(); i++) { /* the simulator's own account */
            kraken_sim_region_t r;
            assert_int_equal(kraken_sim_get_region(i, &r), ESP_OK);
            if (r.caps[0] & MALLOC_CAP_SPIRAM) {
                assert_int_equal(r.largest_free_block, heap_caps_get_largest_free_block(psram));
            }
        }
        multi_heap_info_t info;
        heap_caps_get_info(&info, psram);
        assert_int_equal(info.total_free_bytes, heap_caps_get_free_size(psram) - on * OWNER_WORD);
        assert_int_equal(info.minimum_free_bytes,
                         heap_caps_get_minimum_free_size(psram) - on * OWNER_WORD);
        assert_int_equal(info.total_allocated_bytes, usable[on]);
        assert_int_equal(info.allocated_blocks, 1);
        assert_int_equal(info.largest_free_block, heap_caps_get_largest_free_block(psram));

        memset(p, 0x5A, SMALL);
        assert_ptr_equal(heap_caps_realloc(p, 2 * SMALL, psram), p); /* grown in place */
        void *keep = heap_caps_malloc(SMALL, psram); /* so that the block must move */
        p = heap_caps_realloc(p, LARGE, psram);
        assert_non_null(p);
        assert_true(heap_caps_get_allocated_size(p) >= LARGE);
        for (size_t i = 0; i < SMALL; i++) {
            assert_int_equal(((uint8_t *)p)[i], 0x5A);
        }
        heap_caps_free(keep);
        void *aligned = heap_caps_aligned_alloc(64, SMALL, psram);
        assert_non_null(aligned);
        assert_int_equal((uintptr_t)aligned % 64, 0);
        heap_caps_free(aligned);
        heap_caps_free(p);
        assert_int_equal(heap_caps_get_free_size(psram), before);

        const uint32_t regions[] = {psram, MALLOC_CAP_INTERNAL, MALLOC_CAP_8BIT};
        for (size_t i = 0; i < sizeof regions / sizeof regions[0]; i++) {
            void *whole = heap_caps_malloc(heap_caps_get_largest_free_block(regions[i]), regions[i]);
            assert_non_null(whole);
            heap_caps_free(whole);
        }
        /* Filled with its largest blocks, PSRAM reads 0 free (the word never wraps it). */
        void *fill[8];
        size_t n = 0;
        size_t largest_now;
        while (n < 8 && (largest_now = heap_caps_get_largest_free_block(psram)) > 0) {
            fill[n] = heap_caps_malloc(largest_now, psram);
            assert_non_null(fill[n]);
            n++;
        }
        assert_int_equal(heap_caps_get_largest_free_block(psram), 0);
        heap_caps_get_info(&info, psram);
        assert_int_equal(info.largest_free_block, 0);
        assert_true(info.total_free_bytes <= heap_caps_get_free_size(psram));
        while (n > 0) {
            heap_caps_free(fill[--n]);
        }
    }
    assert_int_equal(taken[1], taken[0] + OWNER_WORD);
    assert_int_equal(usable[1], usable[0]);
    assert_int_equal(largest[1], largest[0] - OWNER_WORD);
}

/* The boot's DMA reserve (CONFIG_SPIRAM_MALLOC_RESERVE_INTERNAL with SPIRAM_USE_MALLOC) takes
 * chunks of ESP-IDF's largest free block, so with the owner word each chunk still fits: a reserve
 * larger than the largest internal block is carved from two heaps, as without tracking. */
static void the_dma_reserve_fits_with_owner_words(void **state)
{
    (void)state;
    const size_t reserve = 280000;
    sim_policy_t policy = {.spiram = true, .octal = true, .task_tracking = true,
                           .use_malloc = true, .malloc_always_internal = 16384,
                           .reserve_internal = reserve};
    assert_int_equal(sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy), ESP_OK);
    size_t chunks = 0, bytes = 0;
    for (size_t i = 0; i < kraken_sim_region_count(); i++) {
        kraken_sim_region_t r;
        assert_int_equal(kraken_sim_get_region(i, &r), ESP_OK);
        if (strcmp(r.name, "DMAPOOL") == 0) {
            chunks++;
            bytes += r.size;
        }
    }
    assert_int_equal(chunks, 2);
    assert_int_equal(bytes + chunks, reserve); /* each registered with end = start + size - 1 */
}

/* ESP-IDF v5.5 on gives an added heap's heap_t the heap's name with tracking on: 40 bytes. */
static size_t hooked_size;

void esp_heap_trace_alloc_hook(void *ptr, size_t size, uint32_t caps)
{
    (void)ptr;
    (void)caps;
    hooked_size = size;
}

static void an_added_heaps_heap_t_holds_its_name_too(void **state)
{
    (void)state;
    static uint8_t region[4096] __attribute__((aligned(8)));
    assert_int_equal(heap_caps_add_region((intptr_t)region, (intptr_t)(region + sizeof region)),
                     ESP_OK);
    assert_int_equal(hooked_size, 40);
    kraken_sim_reset(); /* the region is the program's again */
}

/* ---- concurrency ------------------------------------------------------------------------------ */

#define CHURNERS 4
#define ROUNDS 3000

static _Atomic bool churning;
static size_t nobodys_at_start; /* blocks without a task before the churn */
static _Atomic size_t nobodys_seen_most;

/* Blocks no task owns (the totals entry of task NULL). */
static size_t nobodys_blocks(heap_task_totals_t *totals, size_t max)
{
    size_t n = 0;
    heap_task_info_params_t p = {.totals = totals, .num_totals = &n, .max_totals = max};
    (void)heap_caps_get_per_task_info(&p);
    const heap_task_totals_t *none = totals_of(totals, n, NULL);
    return none != NULL ? none->count[0] : 0;
}

static void *churn(void *arg)
{
    TaskHandle_t *self = arg;
    *self = xTaskGetCurrentTaskHandle(); /* a thread not made by xTaskCreate: a task too */
    void *held[8] = {0};
    for (unsigned n = 0; n < ROUNDS; n++) {
        const unsigned k = n % 8;
        if (n % 3 == 0 && held[k] != NULL) {
            void *grown = heap_caps_realloc(held[k], 32 + n % 500, MALLOC_CAP_8BIT);
            held[k] = grown != NULL ? grown : held[k];
        } else {
            heap_caps_free(held[k]);
            held[k] = heap_caps_malloc(16 + n % 300, n % 2 ? MALLOC_CAP_SPIRAM : MALLOC_CAP_8BIT);
        }
    }
    for (unsigned k = 0; k < 8; k++) {
        heap_caps_free(held[k]);
    }
    return NULL;
}

static void *ask(void *arg)
{
    (void)arg;
    heap_task_totals_t totals[16];
    heap_task_block_t blocks[32];
    while (atomic_load(&churning)) {
        size_t n = 0;
        heap_task_info_params_t p = {.totals = totals, .num_totals = &n, .max_totals = 16,
                                     .blocks = blocks, .max_blocks = 32};
        (void)heap_caps_get_per_task_info(&p);
        /* A block being handed out or taken back is never seen without its task. */
        const size_t nobodys = nobodys_blocks(totals, 16);
        if (nobodys > atomic_load(&nobodys_seen_most)) {
            atomic_store(&nobodys_seen_most, nobodys);
        }
    }
    return NULL;
}

static void threads_allocating_at_once_leave_no_block_attributed_to_them(void **state)
{
    (void)state;
    TaskHandle_t tasks[CHURNERS] = {0};
    pthread_t threads[CHURNERS], asker;
    heap_task_totals_t totals[16];
    nobodys_at_start = nobodys_blocks(totals, 16);
    atomic_store(&nobodys_seen_most, nobodys_at_start);
    atomic_store(&churning, true);
    assert_int_equal(pthread_create(&asker, NULL, ask, NULL), 0);
    for (size_t i = 0; i < CHURNERS; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, churn, &tasks[i]), 0);
    }
    for (size_t i = 0; i < CHURNERS; i++) {
        pthread_join(threads[i], NULL);
    }
    atomic_store(&churning, false);
    pthread_join(asker, NULL);
    heap_task_block_t blocks[4];
    size_t n = 0;
    heap_task_info_params_t p = {.tasks = tasks, .num_tasks = CHURNERS, .num_totals = &n,
                                 .blocks = blocks, .max_blocks = 4};
    assert_int_equal(heap_caps_get_per_task_info(&p), 0);
    assert_int_equal(atomic_load(&nobodys_seen_most), nobodys_at_start);
    assert_true(heap_caps_check_integrity_all(true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(each_task_holds_what_it_allocated_split_by_the_caps_asked_for,
                               boot_on),
        cmocka_unit_test_setup(a_deleted_tasks_blocks_stay_attributed_to_it, boot_on),
        cmocka_unit_test_setup(isr_and_realloc_blocks_belong_to_the_task_that_ran, boot_on),
        cmocka_unit_test_setup(tasks_beyond_max_totals_are_not_counted_and_bad_params_are_refused,
                               boot_on),
        cmocka_unit_test_setup(threads_allocating_at_once_leave_no_block_attributed_to_them,
                               boot_on),
        cmocka_unit_test_setup(an_added_heaps_heap_t_holds_its_name_too, boot_on_with_hooks),
        cmocka_unit_test(each_block_takes_an_owner_word_more_as_on_the_chip),
        cmocka_unit_test(the_dma_reserve_fits_with_owner_words),
        cmocka_unit_test_setup(without_tracking_every_block_is_nobodys, boot_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
