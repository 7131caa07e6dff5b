/* test_sim_task_stats.c - ESP-IDF v5.5's per-task heap statistics on the simulated chip
 * (CONFIG_HEAP_TASK_TRACKING): each task's current and peak use of each heap, its blocks, what
 * stays of a deleted task, the arrays' helpers and the printouts. */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "esp_heap_caps.h"
#include "esp_heap_caps_init.h"
#define KRAKEN_SIM_TASK_TRACKING_IMPL /* the API, whatever this build's sdkconfig says */
#include "esp_heap_task_info.h"
#include "esp_log.h"
#include "esp_memory_utils.h"
#include "freertos/FreeRTOS.h"
#include "freertos/idf_additions.h"
#include "freertos/task.h"
#include "kraken_sim.h"
#include "sim_internal.h"
#include "test_support.h"

#include "capture_output.h" /* after esp_log.h: its log capture */
#include "freertos_test_support.h"

#define STACK 4096u
#define INTERNAL (MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)

/* An esp32s3-n8r8 (its biggest heap is the PSRAM's) with task tracking on. */
static int boot_on(sim_idf_t idf, bool keep_deleted)
{
    sim_policy_t policy = {.spiram = true, .octal = true, .task_tracking = true,
                           .track_deleted_tasks = keep_deleted, .idf = idf};
    if (sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy) != ESP_OK) {
        return -1;
    }
    (void)xTaskGetCurrentTaskHandle(); /* this thread is a task from here on */
    return 0;
}

static int boot(void **state)
{
    (void)state;
    return boot_on(SIM_IDF_CURRENT, false);
}

static int boot_keeping_deleted(void **state)
{
    (void)state;
    return boot_on(SIM_IDF_CURRENT, true);
}

/* The calling task's statistics (zeros when it has none), with room for 4 heaps and 64 blocks. */
typedef struct {
    heap_single_task_stat_t s;
    heap_stat_t heaps[4];
    heap_task_block_t blocks[64];
    esp_err_t err;
} single_t;

static void get_single(single_t *out, TaskHandle_t task)
{
    memset(out, 0, sizeof *out);
    out->s.heap_count = 4;
    out->s.heap_stat_start = out->heaps;
    out->s.alloc_count = 64;
    out->s.alloc_stat_start = out->blocks;
    out->err = heap_caps_get_single_task_stat(&out->s, task);
}

static const heap_stat_t *heap_with(const single_t *st, uint32_t cap)
{
    for (size_t i = 0; i < st->s.heap_count; i++) {
        if (st->heaps[i].caps & cap) {
            return &st->heaps[i];
        }
    }
    return NULL;
}

/* What v5.5 records of a block: its whole size, the owner word before it included
 * (multi_heap_get_full_block_size()). */
static size_t recorded_size(void *block)
{
    return heap_caps_get_allocated_size(block) + sizeof(TaskHandle_t);
}

/* ---- one task's figures ------------------------------------------------------------------------ */

static void a_tasks_use_of_each_heap_follows_its_allocations_and_frees(void **state)
{
    (void)state;
    single_t before, st;
    get_single(&before, NULL);
    const size_t base = before.err == ESP_OK ? before.s.stat.overall_current_usage : 0;

    void *a = heap_caps_malloc(100, INTERNAL);
    void *big = heap_caps_malloc(3000, MALLOC_CAP_SPIRAM);
    void *c = heap_caps_malloc(200, INTERNAL);
    assert_non_null(a);
    assert_non_null(big);
    assert_non_null(c);
    get_single(&st, NULL);
    assert_int_equal(st.err, ESP_OK);
    assert_ptr_equal(st.s.stat.handle, xTaskGetCurrentTaskHandle());
    assert_true(st.s.stat.is_alive);
    assert_string_equal(st.s.stat.name, pcTaskGetName(NULL));
    const size_t all = base + recorded_size(a) + recorded_size(big) + recorded_size(c);
    assert_int_equal(st.s.stat.overall_current_usage, all);
    const heap_stat_t *psram = heap_with(&st, MALLOC_CAP_SPIRAM);
    assert_non_null(psram);
    assert_string_equal(psram->name, "SPIRAM");
    assert_int_equal(psram->current_usage, recorded_size(big));
    assert_int_equal(psram->peak_usage, recorded_size(big));
    assert_int_equal(psram->alloc_count, 1);
    assert_int_equal(psram->size, heap_caps_get_total_size(MALLOC_CAP_SPIRAM));
    assert_non_null(psram->alloc_stat);
    assert_ptr_equal(psram->alloc_stat[0].address, big);
    assert_int_equal(psram->alloc_stat[0].size, recorded_size(big));
    assert_ptr_equal(psram->alloc_stat[0].task, xTaskGetCurrentTaskHandle());
    assert_int_equal(st.s.stat.heap_count, st.s.heap_count);

    /* A free lowers the use, not the peaks. */
    const size_t big_size = recorded_size(big);
    heap_caps_free(big);
    get_single(&st, NULL);
    psram = heap_with(&st, MALLOC_CAP_SPIRAM);
    assert_int_equal(psram->current_usage, 0);
    assert_int_equal(psram->alloc_count, 0);
    assert_int_equal(psram->peak_usage, big_size);
    assert_int_equal(st.s.stat.overall_current_usage, all - big_size);
    assert_true(st.s.stat.overall_peak_usage >= all);

    /* Blocks oldest first; a block moved by realloc is the newest. */
    const heap_stat_t *ram = heap_with(&st, MALLOC_CAP_INTERNAL);
    size_t n = ram->alloc_count;
    assert_true(n >= 2);
    assert_ptr_equal(ram->alloc_stat[n - 2].address, a);
    assert_ptr_equal(ram->alloc_stat[n - 1].address, c);
    void *a2 = heap_caps_realloc(a, 2000, INTERNAL);
    assert_non_null(a2);
    get_single(&st, NULL);
    ram = heap_with(&st, MALLOC_CAP_INTERNAL);
    assert_int_equal(ram->alloc_count, n);
    assert_ptr_equal(ram->alloc_stat[n - 1].address, a2);
    assert_int_equal(ram->alloc_stat[n - 1].size, recorded_size(a2));
    assert_int_equal(st.s.stat.overall_current_usage, base + recorded_size(a2) + recorded_size(c));
    heap_caps_free(a2);
    heap_caps_free(c);
    get_single(&st, NULL);
    assert_int_equal(st.s.stat.overall_current_usage, base);
}

/* A boot forgets every task's statistics, as a reboot. */
static void a_boot_forgets_every_tasks_statistics(void **state)
{
    (void)state;
    void *block = heap_caps_malloc(500, INTERNAL);
    assert_non_null(block);
    task_stat_t stats[4];
    heap_all_tasks_stat_t all = {.task_count = 4, .stat_arr = stats};
    assert_int_equal(heap_caps_get_all_task_stat(&all), ESP_OK);
    assert_int_equal(all.task_count, 1);
    assert_int_equal(boot_on(SIM_IDF_CURRENT, false), 0);
    all = (heap_all_tasks_stat_t){.task_count = 4, .stat_arr = stats};
    assert_int_equal(heap_caps_get_all_task_stat(&all), ESP_OK);
    assert_int_equal(all.task_count, 0);
}

/* The room the caller gives: heaps and blocks that do not fit are left out, as ESP-IDF does. */
static void what_does_not_fit_in_the_callers_arrays_is_left_out(void **state)
{
    (void)state;
    void *in = heap_caps_malloc(64, INTERNAL);
    void *out = heap_caps_malloc(64, MALLOC_CAP_SPIRAM);
    single_t full;
    get_single(&full, NULL);
    assert_int_equal(full.err, ESP_OK);
    assert_int_equal(full.s.heap_count, 2); /* internal, then PSRAM */

    heap_stat_t one_heap[1];
    heap_single_task_stat_t s = {.heap_count = 1, .heap_stat_start = one_heap};
    assert_int_equal(heap_caps_get_single_task_stat(&s, NULL), ESP_OK);
    assert_int_equal(s.heap_count, 1);
    assert_int_equal(s.stat.heap_count, 2);
    assert_ptr_equal(s.stat.heap_stat, one_heap);
    assert_int_equal(one_heap[0].caps, full.heaps[0].caps);
    assert_int_equal(s.alloc_count, 0);
    assert_null(one_heap[0].alloc_stat); /* no room for its blocks */

    /* NULL arrays with room claimed, NULL stat: refused. */
    heap_single_task_stat_t bad = {.heap_count = 1};
    assert_int_equal(heap_caps_get_single_task_stat(&bad, NULL), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_caps_get_single_task_stat(NULL, NULL), ESP_ERR_INVALID_ARG);
    heap_all_tasks_stat_t bad_all = {.alloc_count = 3};
    assert_int_equal(heap_caps_get_all_task_stat(&bad_all), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_caps_get_all_task_stat(NULL), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_caps_alloc_all_task_stat_arrays(NULL), ESP_ERR_INVALID_ARG);
    assert_int_equal(heap_caps_alloc_single_task_stat_arrays(NULL, NULL), ESP_ERR_INVALID_ARG);
    /* The free helpers of NULL (ESP-IDF reads its fields): refused, logged, counted. */
    kraken_sim_stats_t sim_before, sim_after;
    kraken_sim_get_stats(&sim_before);
    log_capture_begin();
    heap_caps_free_all_task_stat_arrays(NULL);
    heap_caps_free_single_task_stat_arrays(NULL);
    const char *logged = log_capture_end();
    kraken_sim_get_stats(&sim_after);
    assert_int_equal(sim_after.invalid_frees, sim_before.invalid_frees + 2);
    assert_non_null(strstr(logged, "heap_caps_free_all_task_stat_arrays(NULL): refused"));
    assert_non_null(strstr(logged, "heap_caps_free_single_task_stat_arrays(NULL): refused"));
    heap_caps_free(in);
    heap_caps_free(out);
}

/* ---- tasks and their deletion ------------------------------------------------------------------ */

typedef struct {
    size_t bytes;
    _Atomic(void *) block;
} leaker_t;

static void allocate_and_end(void *arg)
{
    leaker_t *l = arg;
    atomic_store(&l->block, heap_caps_malloc(l->bytes, INTERNAL)); /* left behind */
    vTaskDelete(NULL);
}

static void allocate_and_park(void *unused)
{
    (void)unused;
    void *kept = heap_caps_malloc(24, INTERNAL); /* the task's until it is deleted */
    (void)kept;
    vTaskSuspend(NULL);
}

static TaskHandle_t run_leaker(leaker_t *l, const char *name)
{
    const UBaseType_t tasks = uxTaskGetNumberOfTasks();
    TaskHandle_t t = NULL;
    assert_int_equal(xTaskCreate(allocate_and_end, name, STACK, l, 5, &t), pdPASS);
    WAIT_FOR(atomic_load(&l->block) != NULL && uxTaskGetNumberOfTasks() == tasks);
    assert_non_null(atomic_load(&l->block));
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks);
    return t;
}

static void a_deleted_tasks_statistics_go_with_its_tcb(void **state)
{
    (void)state;
    leaker_t l = {.bytes = 300};
    const TaskHandle_t t = run_leaker(&l, "gone");
    single_t st;
    get_single(&st, t);
    assert_int_equal(st.err, ESP_FAIL);
    heap_single_task_stat_t arrays;
    assert_int_equal(heap_caps_alloc_single_task_stat_arrays(&arrays, t), ESP_OK);
    assert_null(arrays.heap_stat_start);
    assert_int_equal(arrays.alloc_count, 0);
    /* Its block is still its own for heap_caps_get_per_task_info(). */
    heap_task_block_t blocks[1];
    TaskHandle_t wanted[1] = {t};
    size_t none = 0;
    heap_task_info_params_t p = {.tasks = wanted, .num_tasks = 1, .num_totals = &none,
                                 .blocks = blocks, .max_blocks = 1};
    assert_int_equal(heap_caps_get_per_task_info(&p), 1);
    heap_caps_free(atomic_load(&l.block));
}

static void with_track_deleted_tasks_a_leak_stays_visible_until_freed(void **state)
{
    (void)state;
    leaker_t l = {.bytes = 300};
    const TaskHandle_t t = run_leaker(&l, "leaky");
    void *left = atomic_load(&l.block);
    const size_t left_size = recorded_size(left);
    single_t st;
    get_single(&st, t);
    assert_int_equal(st.err, ESP_OK);
    assert_false(st.s.stat.is_alive);
    assert_string_equal(st.s.stat.name, "leaky");
    assert_int_equal(st.s.stat.overall_current_usage, left_size);
    assert_int_equal(st.s.heap_count, 1);
    assert_ptr_equal(st.heaps[0].alloc_stat[0].address, left);
    heap_single_task_stat_t arrays;
    assert_int_equal(heap_caps_alloc_single_task_stat_arrays(&arrays, t), ESP_OK);
    assert_null(arrays.heap_stat_start); /* a deleted task's: none, as ESP-IDF */
    assert_null(arrays.alloc_stat_start);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    heap_caps_print_all_task_stat_overview(f);
    heap_caps_print_all_task_stat(f);
    fclose(f);
    assert_non_null(strstr(text, "│              leaky │ DELETED │"));
    assert_non_null(strstr(text, " DELETED: leaky, CURRENT MEMORY USAGE "));
    free(text);
    /* Anyone's free of it lowers the deleted task's use. */
    heap_caps_free(left);
    get_single(&st, t);
    assert_int_equal(st.err, ESP_OK);
    assert_int_equal(st.s.stat.overall_current_usage, 0);
    assert_int_equal(st.heaps[0].alloc_count, 0);
    assert_int_equal(st.s.stat.overall_peak_usage, left_size);
}

/* A handle reused by a new task (a freed TCB's address taken again, as on the chip) gets new
 * statistics after the deleted task's; the next deletion ends those. The host cannot make
 * FreeRTOS hand out a given address again, so this drives the hook FreeRTOS calls as it frees a
 * TCB on this thread's own handle. */
static void a_reused_handle_gets_statistics_of_its_own(void **state)
{
    (void)state;
    const TaskHandle_t me = xTaskGetCurrentTaskHandle();
    void *first = heap_caps_malloc(100, INTERNAL);
    sim_owner_task_gone(me, true);
    void *second = heap_caps_malloc(200, INTERNAL);
    task_stat_t stats[8];
    heap_stat_t heaps[8];
    heap_task_block_t blocks[16];
    heap_all_tasks_stat_t all = {.task_count = 8, .stat_arr = stats, .heap_count = 8,
                                 .heap_stat_start = heaps, .alloc_count = 16,
                                 .alloc_stat_start = blocks};
    assert_int_equal(heap_caps_get_all_task_stat(&all), ESP_OK);
    assert_int_equal(all.task_count, 2);
    assert_ptr_equal(stats[0].handle, me);
    assert_false(stats[0].is_alive);
    assert_ptr_equal(stats[0].heap_stat[0].alloc_stat[stats[0].heap_stat[0].alloc_count - 1].address,
                     first);
    assert_ptr_equal(stats[1].handle, me);
    assert_true(stats[1].is_alive);
    assert_int_equal(stats[1].overall_current_usage, recorded_size(second));
    sim_owner_task_gone(me, true);
    all = (heap_all_tasks_stat_t){.task_count = 8, .stat_arr = stats, .heap_count = 8,
                                  .heap_stat_start = heaps, .alloc_count = 16,
                                  .alloc_stat_start = blocks};
    assert_int_equal(heap_caps_get_all_task_stat(&all), ESP_OK);
    assert_false(stats[0].is_alive);
    assert_false(stats[1].is_alive);
    /* A handle whose record ends without a deletion (a thread that ends, a static task's) keeps
     * its statistics "alive"; a new task at that address gets its own. */
    void *third = heap_caps_malloc(300, INTERNAL);
    sim_owner_task_gone(me, false);
    void *fourth = heap_caps_malloc(400, INTERNAL);
    all = (heap_all_tasks_stat_t){.task_count = 8, .stat_arr = stats};
    assert_int_equal(heap_caps_get_all_task_stat(&all), ESP_OK);
    assert_int_equal(all.task_count, 4);
    assert_true(stats[2].is_alive);
    assert_int_equal(stats[2].overall_current_usage, recorded_size(third));
    assert_true(stats[3].is_alive);
    assert_int_equal(stats[3].overall_current_usage, recorded_size(fourth));
    heap_caps_free(third);
    heap_caps_free(fourth);
    heap_caps_free(first);
    heap_caps_free(second);
}

/* A task deleted by another may still run on the host until its next FreeRTOS call: what it
 * allocates then counts for no one, and it does not come back alive. */
typedef struct {
    _Atomic(void *) before, after;
    _Atomic bool go;
} late_t;

static void allocate_after_deletion(void *arg)
{
    late_t *l = arg;
    atomic_store(&l->before, heap_caps_malloc(50, INTERNAL));
    while (!atomic_load(&l->go)) {
    }
    atomic_store(&l->after, heap_caps_malloc(100, INTERNAL));
    vTaskDelay(1); /* its thread ends here */
}

static void a_task_deleted_by_another_does_not_come_back_alive(void **state)
{
    (void)state;
    static late_t l;
    atomic_store(&l.before, NULL);
    atomic_store(&l.after, NULL);
    atomic_store(&l.go, false);
    const UBaseType_t tasks = uxTaskGetNumberOfTasks();
    TaskHandle_t t = NULL;
    assert_int_equal(xTaskCreate(allocate_after_deletion, "late", STACK, &l, 5, &t), pdPASS);
    WAIT_FOR(atomic_load(&l.before) != NULL);
    vTaskDelete(t);
    atomic_store(&l.go, true);
    WAIT_FOR(atomic_load(&l.after) != NULL && uxTaskGetNumberOfTasks() == tasks);
    assert_non_null(atomic_load(&l.after));
    single_t st;
    get_single(&st, t);
    assert_int_equal(st.err, ESP_OK);
    assert_false(st.s.stat.is_alive);
    assert_int_equal(st.s.stat.overall_current_usage, recorded_size(atomic_load(&l.before)));
    task_stat_t stats[8];
    heap_all_tasks_stat_t all = {.task_count = 8, .stat_arr = stats};
    assert_int_equal(heap_caps_get_all_task_stat(&all), ESP_OK);
    for (size_t i = 0; i < all.task_count; i++) {
        assert_false(stats[i].handle == t && stats[i].is_alive);
    }
    heap_caps_free(atomic_load(&l.before));
    heap_caps_free(atomic_load(&l.after));
}

/* A thread that ended leaves its block and its statistics, still alive (no TCB was freed):
 * the array helper sizes the arrays for them, as ESP-IDF's does for any record still alive. */
typedef struct {
    void *block;
    TaskHandle_t handle;
} left_t;

static void *leave_a_block(void *arg)
{
    left_t *left = arg;
    left->handle = xTaskGetCurrentTaskHandle();
    left->block = heap_caps_malloc(1000, INTERNAL);
    return NULL;
}

static void an_ended_threads_arrays_are_sized_for_what_it_left(void **state)
{
    (void)state;
    left_t left = {0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, leave_a_block, &left), 0);
    assert_int_equal(pthread_join(th, NULL), 0); /* its record gone with it */
    assert_non_null(left.block);
    heap_single_task_stat_t sized = {0};
    assert_int_equal(heap_caps_alloc_single_task_stat_arrays(&sized, left.handle), ESP_OK);
    assert_int_equal(sized.heap_count, 1);
    assert_int_equal(sized.alloc_count, 1);
    assert_int_equal(heap_caps_get_single_task_stat(&sized, left.handle), ESP_OK);
    assert_true(sized.stat.is_alive);
    assert_ptr_equal(sized.alloc_stat_start[0].address, left.block);
    heap_caps_free_single_task_stat_arrays(&sized);
    heap_caps_free(left.block);
}

/* Threads that end one after another (their handles may be the same address) keep figures of
 * their own. */
static void *leak_1000(void *unused)
{
    (void)unused;
    return heap_caps_malloc(1000, INTERNAL);
}

static void threads_that_end_keep_figures_of_their_own(void **state)
{
    (void)state;
    void *leaks[3];
    for (int i = 0; i < 3; i++) {
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, leak_1000, NULL), 0);
        assert_int_equal(pthread_join(th, &leaks[i]), 0);
        assert_non_null(leaks[i]);
    }
    task_stat_t stats[8];
    heap_all_tasks_stat_t all = {.task_count = 8, .stat_arr = stats};
    assert_int_equal(heap_caps_get_all_task_stat(&all), ESP_OK);
    size_t holding_one = 0;
    for (size_t i = 0; i < all.task_count; i++) {
        assert_true(stats[i].overall_current_usage <= recorded_size(leaks[0]) ||
                    stats[i].handle == xTaskGetCurrentTaskHandle());
        holding_one += stats[i].overall_current_usage == recorded_size(leaks[0]);
    }
    assert_int_equal(holding_one, 3);
    for (int i = 0; i < 3; i++) {
        heap_caps_free(leaks[i]);
    }
}

/* Peaks are the most a task held at once, not what it ever allocated: a free and a smaller
 * block, or a block shrunk in place, leave them. */
typedef struct {
    size_t big, small, shrunk;
    single_t after_free, after_shrink;
    _Atomic bool done;
} peaky_t;

static void peak_then_less(void *arg)
{
    peaky_t *p = arg;
    void *big = heap_caps_malloc(3000, INTERNAL);
    p->big = recorded_size(big);
    heap_caps_free(big);
    void *small = heap_caps_malloc(100, INTERNAL);
    p->small = recorded_size(small);
    get_single(&p->after_free, NULL);
    void *again = heap_caps_malloc(2000, INTERNAL);
    void *shrunk = heap_caps_realloc(again, 200, INTERNAL);
    p->shrunk = recorded_size(shrunk);
    get_single(&p->after_shrink, NULL);
    heap_caps_free(small);
    heap_caps_free(shrunk);
    atomic_store(&p->done, true);
    vTaskSuspend(NULL);
}

static void peaks_are_the_most_held_at_once(void **state)
{
    (void)state;
    static peaky_t p;
    p = (peaky_t){0};
    TaskHandle_t t = NULL;
    assert_int_equal(xTaskCreate(peak_then_less, "peaky", STACK, &p, 5, &t), pdPASS);
    WAIT_FOR(atomic_load(&p.done));
    assert_true(atomic_load(&p.done));
    assert_int_equal(p.after_free.err, ESP_OK);
    assert_int_equal(p.after_free.s.stat.overall_current_usage, p.small);
    assert_int_equal(p.after_free.s.stat.overall_peak_usage, p.big);
    assert_int_equal(p.after_free.heaps[0].peak_usage, p.big);
    assert_int_equal(p.after_free.heaps[0].current_usage, p.small);
    assert_int_equal(p.after_shrink.s.stat.overall_current_usage, p.small + p.shrunk);
    assert_int_equal(p.after_shrink.s.stat.overall_peak_usage, p.big);
    assert_int_equal(p.after_shrink.heaps[0].alloc_count, 2);
    vTaskDelete(t);
}

/* A realloc's block is the reallocating task's, in the heap it ends in; the old owner's
 * figures fall. */
typedef struct {
    void *block;
    void *result;
    uint32_t caps;
    _Atomic bool go, done;
} resize_t;

static void resize_it(void *arg)
{
    resize_t *r = arg;
    while (!atomic_load(&r->go)) {
    }
    r->result = heap_caps_realloc(r->block, 1500, r->caps);
    atomic_store(&r->done, true);
    vTaskSuspend(NULL);
}

static void a_realloc_is_the_reallocating_tasks_in_the_heap_it_ends_in(void **state)
{
    (void)state;
    single_t before, st;
    static resize_t r;
    r = (resize_t){.block = heap_caps_malloc(64, INTERNAL), .caps = MALLOC_CAP_SPIRAM};
    TaskHandle_t t = NULL;
    assert_int_equal(xTaskCreate(resize_it, "resize", STACK, &r, 5, &t), pdPASS);
    get_single(&before, NULL); /* the block, and the task's stack and TCB: its creator's */
    const size_t base = before.s.stat.overall_current_usage - recorded_size(r.block);
    atomic_store(&r.go, true);
    WAIT_FOR(atomic_load(&r.done));
    assert_non_null(r.result);
    assert_true(esp_ptr_external_ram(r.result));
    get_single(&st, NULL);
    assert_int_equal(st.s.stat.overall_current_usage, base);
    get_single(&st, t);
    assert_int_equal(st.err, ESP_OK);
    assert_int_equal(st.s.stat.overall_current_usage, recorded_size(r.result));
    assert_int_equal(st.s.heap_count, 1);
    assert_string_equal(st.heaps[0].name, "SPIRAM");
    assert_ptr_equal(st.heaps[0].alloc_stat[0].address, r.result);
    heap_caps_free(r.result);
    vTaskDelete(t);
}

/* vTaskDeleteWithCaps() frees the TCB: the deletion is seen. vTaskDelete() of a WithCaps task or
 * of a static one frees no TCB: the task stays "alive", as on the chip. */
static void a_deletion_is_seen_only_when_the_tcb_is_freed(void **state)
{
    (void)state;
    TaskHandle_t with_caps = NULL, leaked_caps = NULL;
    assert_int_equal(xTaskCreateWithCaps(allocate_and_park, "caps", STACK, NULL, 5, &with_caps,
                                         MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT),
                     pdPASS);
    assert_int_equal(xTaskCreateWithCaps(allocate_and_park, "leaked", STACK, NULL, 5,
                                         &leaked_caps, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT),
                     pdPASS);
    static StackType_t stack[STACK];
    static StaticTask_t tcb;
    TaskHandle_t fixed = xTaskCreateStatic(allocate_and_park, "static", STACK, NULL, 5, stack, &tcb);
    assert_non_null(fixed);
    WAIT_FOR(eTaskGetState(with_caps) == eSuspended && eTaskGetState(leaked_caps) == eSuspended &&
             eTaskGetState(fixed) == eSuspended);
    single_t st;
    vTaskDeleteWithCaps(with_caps);
    get_single(&st, with_caps);
    assert_int_equal(st.err, ESP_FAIL);
    vTaskDelete(leaked_caps);
    vTaskDelete(fixed);
    get_single(&st, leaked_caps);
    assert_int_equal(st.err, ESP_OK);
    assert_true(st.s.stat.is_alive);
    get_single(&st, fixed);
    assert_int_equal(st.err, ESP_OK);
    assert_true(st.s.stat.is_alive);
    /* Alive for the statistics, so its arrays are sized for its heap and block, as ESP-IDF's
     * helper sizes them for any record still alive; a task deleted for good gets none. */
    heap_single_task_stat_t sized = {0};
    assert_int_equal(heap_caps_alloc_single_task_stat_arrays(&sized, fixed), ESP_OK);
    assert_int_equal(sized.heap_count, 1);
    assert_int_equal(sized.alloc_count, 1);
    assert_int_equal(heap_caps_get_single_task_stat(&sized, fixed), ESP_OK);
    assert_int_equal(sized.alloc_stat_start[0].size, recorded_size(sized.alloc_stat_start[0].address));
    heap_caps_free_single_task_stat_arrays(&sized);
    assert_int_equal(heap_caps_alloc_single_task_stat_arrays(&sized, with_caps), ESP_OK);
    assert_int_equal(sized.heap_count, 0);
    assert_int_equal(sized.alloc_count, 0);
    heap_caps_free_single_task_stat_arrays(&sized);
}

/* Every task, in ESP-IDF's order (decreasing handle), through arrays from the biggest heap. */
static uint8_t extra_heap[4096] __attribute__((aligned(8)));

static void all_tasks_come_through_arrays_taken_from_the_biggest_heap(void **state)
{
    (void)state;
    /* A small heap at the head of the list: the arrays still come from the biggest. */
    assert_int_equal(heap_caps_add_region((intptr_t)extra_heap,
                                          (intptr_t)(extra_heap + sizeof extra_heap)),
                     ESP_OK);
    leaker_t l1 = {.bytes = 100}, l2 = {.bytes = 200};
    (void)run_leaker(&l1, "one");
    (void)run_leaker(&l2, "two");
    TaskHandle_t parked[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(xTaskCreate(allocate_and_park, "parked", STACK, NULL, 5, &parked[i]),
                         pdPASS);
        WAIT_FOR(eTaskGetState(parked[i]) == eSuspended);
    }
    void *mine = heap_caps_malloc(50, INTERNAL);
    const size_t psram_before = heap_caps_get_free_size(MALLOC_CAP_SPIRAM);
    const size_t internal_before = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    heap_all_tasks_stat_t all;
    assert_int_equal(heap_caps_alloc_all_task_stat_arrays(&all), ESP_OK);
    assert_true(heap_caps_get_free_size(MALLOC_CAP_SPIRAM) < psram_before);
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_INTERNAL), internal_before);
    const size_t tasks = all.task_count, heaps = all.heap_count, allocs = all.alloc_count;
    assert_int_equal(heap_caps_get_all_task_stat(&all), ESP_OK);
    assert_int_equal(all.task_count, tasks);
    assert_int_equal(all.heap_count, heaps);
    assert_int_equal(all.alloc_count, allocs);
    bool found_me = false;
    for (size_t i = 0; i < all.task_count; i++) {
        if (i > 0) {
            assert_true((uintptr_t)all.stat_arr[i - 1].handle > (uintptr_t)all.stat_arr[i].handle);
        }
        assert_true(all.stat_arr[i].is_alive);
        assert_string_not_equal(all.stat_arr[i].name, "one"); /* deleted: gone */
        assert_string_not_equal(all.stat_arr[i].name, "two");
        if (all.stat_arr[i].handle == xTaskGetCurrentTaskHandle()) {
            found_me = true;
            assert_non_null(all.stat_arr[i].heap_stat);
        }
    }
    assert_true(found_me);
    assert_int_equal(tasks, 5); /* this thread and the parked tasks; the deleted ones are gone */
    /* The arrays have no owner word on the chip: heap_caps_free() refuses them, and the helpers'
     * free refuses a block that is not such an array (both would corrupt ESP-IDF's heap). */
    kraken_sim_stats_t sim_before, sim_after;
    kraken_sim_get_stats(&sim_before);
    heap_caps_free(all.stat_arr);
    kraken_sim_get_stats(&sim_after);
    assert_int_equal(sim_after.invalid_frees, sim_before.invalid_frees + 1);
    assert_null(heap_caps_realloc(all.heap_stat_start, 8, MALLOC_CAP_8BIT));
    kraken_sim_get_stats(&sim_after);
    assert_int_equal(sim_after.invalid_frees, sim_before.invalid_frees + 2);
    /* Nor as the pointer after an owner word, which would be the array's block too. */
    heap_caps_free((char *)all.stat_arr + sizeof(TaskHandle_t));
    assert_null(heap_caps_realloc((char *)all.heap_stat_start + sizeof(TaskHandle_t), 8,
                                  MALLOC_CAP_8BIT));
    kraken_sim_get_stats(&sim_after);
    assert_int_equal(sim_after.invalid_frees, sim_before.invalid_frees + 4);
    const size_t internal_now = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    heap_caps_free(heap_caps_malloc(200, INTERNAL)); /* other blocks are freed as ever */
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_INTERNAL), internal_now);
    kraken_sim_get_stats(&sim_before);
    assert_int_equal(sim_before.invalid_frees, sim_after.invalid_frees);
    assert_true(heap_caps_get_free_size(MALLOC_CAP_SPIRAM) < psram_before);
    heap_single_task_stat_t foreign = {.heap_stat_start = mine, .heap_count = 1};
    const size_t mine_size = recorded_size(mine);
    heap_caps_free_single_task_stat_arrays(&foreign);
    assert_int_equal(recorded_size(mine), mine_size); /* still live */
    kraken_sim_get_stats(&sim_after);
    assert_int_equal(sim_after.invalid_frees, sim_before.invalid_frees + 1); /* counted */
    heap_caps_free_all_task_stat_arrays(&all);
    assert_null(all.stat_arr);
    assert_int_equal(all.task_count, 0);
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_SPIRAM), psram_before);

    /* No room for the heaps: every task comes, none with its heaps. */
    task_stat_t stats[8];
    heap_all_tasks_stat_t small = {.task_count = 8, .stat_arr = stats};
    assert_int_equal(heap_caps_get_all_task_stat(&small), ESP_OK);
    assert_int_equal(small.task_count, tasks);
    assert_int_equal(small.heap_count, 0);
    for (size_t i = 0; i < small.task_count; i++) {
        assert_null(stats[i].heap_stat);
    }
    for (int i = 0; i < 4; i++) {
        vTaskDelete(parked[i]);
    }
    heap_caps_free(mine);
    heap_caps_free(atomic_load(&l1.block));
    heap_caps_free(atomic_load(&l2.block));
}

/* The biggest heap full: ESP_FAIL, nothing taken, the fields zeroed. */
static void arrays_the_biggest_heap_cannot_hold_are_refused_whole(void **state)
{
    (void)state;
    static void *mine[150]; /* their list needs 1800 bytes or more */
    for (size_t i = 0; i < 150; i++) {
        mine[i] = heap_caps_malloc(16, INTERNAL);
        assert_non_null(mine[i]);
    }
    void *hole = heap_caps_malloc(600, MALLOC_CAP_SPIRAM); /* room for the other arrays */
    void *fillers[64];
    size_t n = 0;
    size_t largest;
    while (n < 64 && (largest = heap_caps_get_largest_free_block(MALLOC_CAP_SPIRAM)) >= 8) {
        fillers[n] = heap_caps_malloc(largest, MALLOC_CAP_SPIRAM);
        assert_non_null(fillers[n]);
        n++;
    }
    heap_caps_free(hole);
    const size_t psram_free = heap_caps_get_free_size(MALLOC_CAP_SPIRAM);
    assert_true(psram_free >= 600);
    heap_all_tasks_stat_t all;
    memset(&all, 0xA5, sizeof all);
    assert_int_equal(heap_caps_alloc_all_task_stat_arrays(&all), ESP_FAIL);
    assert_null(all.stat_arr);
    assert_null(all.heap_stat_start);
    assert_null(all.alloc_stat_start);
    assert_int_equal(all.task_count + all.heap_count + all.alloc_count, 0);
    heap_single_task_stat_t one;
    assert_int_equal(heap_caps_alloc_single_task_stat_arrays(&one, NULL), ESP_FAIL);
    assert_null(one.heap_stat_start);
    assert_null(one.alloc_stat_start);
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_SPIRAM), psram_free);
    for (size_t i = 0; i < n; i++) {
        heap_caps_free(fillers[i]);
    }
    for (size_t i = 0; i < 150; i++) {
        heap_caps_free(mine[i]);
    }
}

/* ---- tasks allocating while statistics are read ----------------------------------------------- */

#define CHURNERS 4
#define CHURN_ROUNDS 3000
#define KEPT 8

typedef struct {
    void *held[KEPT];
    unsigned seed;
    atomic_int wrong; /* rounds where the task's own figures were not what it holds */
    _Atomic bool done;
} churner_t;

/* The task's statistics count exactly the blocks it holds (no other task changes them). */
static bool own_figures_right(const churner_t *c)
{
    heap_stat_t heaps[4];
    heap_task_block_t blocks[KEPT];
    heap_single_task_stat_t s = {.heap_count = 4, .heap_stat_start = heaps,
                                 .alloc_count = KEPT, .alloc_stat_start = blocks};
    if (heap_caps_get_single_task_stat(&s, NULL) != ESP_OK) {
        return false;
    }
    size_t bytes = 0, count = 0, listed = 0;
    for (unsigned k = 0; k < KEPT; k++) {
        if (c->held[k] != NULL) {
            bytes += recorded_size(c->held[k]);
            count++;
        }
    }
    for (size_t h = 0; h < s.heap_count; h++) {
        listed += heaps[h].alloc_count;
    }
    return s.stat.overall_current_usage == bytes && listed == count;
}

/* Two sizes only, so that a block one task frees is soon another's. */
static void churn(void *arg)
{
    churner_t *c = arg;
    for (int i = 0; i < CHURN_ROUNDS; i++) {
        const unsigned k = (unsigned)rand_r(&c->seed) % KEPT;
        heap_caps_free(c->held[k]);
        const uint32_t caps = rand_r(&c->seed) % 4 == 0 ? MALLOC_CAP_SPIRAM : INTERNAL;
        c->held[k] = heap_caps_malloc(rand_r(&c->seed) % 2 ? 32 : 96, caps);
        if (!own_figures_right(c)) {
            atomic_fetch_add(&c->wrong, 1);
        }
    }
    atomic_store(&c->done, true);
    vTaskSuspend(NULL);
}

/* One task's figures agree with themselves: its heaps' use adds up to its own, each heap's
 * blocks to the heap's use, and no use is above its peak. */
static void check_consistent(const task_stat_t *t)
{
    size_t sum = 0;
    assert_true(t->overall_current_usage <= t->overall_peak_usage);
    for (size_t h = 0; h < t->heap_count; h++) {
        const heap_stat_t *hs = &t->heap_stat[h];
        assert_true(hs->current_usage <= hs->peak_usage);
        sum += hs->current_usage;
        size_t blocks = 0;
        for (size_t b = 0; b < hs->alloc_count; b++) {
            assert_ptr_equal(hs->alloc_stat[b].task, t->handle);
            blocks += hs->alloc_stat[b].size;
        }
        assert_int_equal(blocks, hs->current_usage);
    }
    assert_int_equal(sum, t->overall_current_usage);
}

static void statistics_read_while_tasks_allocate_stay_exact(void **state)
{
    (void)state;
    static churner_t churners[CHURNERS];
    TaskHandle_t handles[CHURNERS];
    for (unsigned i = 0; i < CHURNERS; i++) {
        churners[i] = (churner_t){.seed = 7u + i};
        assert_int_equal(xTaskCreate(churn, "churn", STACK, &churners[i], 5, &handles[i]),
                         pdPASS);
    }
    static task_stat_t stats[16];
    static heap_stat_t heaps[64];
    static heap_task_block_t blocks[512];
    bool all_done = false;
    unsigned reads = 0;
    while (!all_done) {
        heap_all_tasks_stat_t all = {.task_count = 16, .stat_arr = stats, .heap_count = 64,
                                     .heap_stat_start = heaps, .alloc_count = 512,
                                     .alloc_stat_start = blocks};
        assert_int_equal(heap_caps_get_all_task_stat(&all), ESP_OK);
        for (size_t i = 0; i < all.task_count; i++) {
            check_consistent(&stats[i]);
        }
        reads++;
        all_done = true;
        for (unsigned i = 0; i < CHURNERS; i++) {
            all_done = all_done && atomic_load(&churners[i].done);
        }
    }
    assert_true(reads > 0);
    /* At rest each task's use is exactly what it holds. */
    for (unsigned i = 0; i < CHURNERS; i++) {
        WAIT_FOR(eTaskGetState(handles[i]) == eSuspended);
        assert_int_equal(atomic_load(&churners[i].wrong), 0);
        single_t st;
        get_single(&st, handles[i]);
        assert_int_equal(st.err, ESP_OK);
        size_t held = 0, count = 0;
        for (unsigned k = 0; k < KEPT; k++) {
            if (churners[i].held[k] != NULL) {
                held += recorded_size(churners[i].held[k]);
                count++;
            }
        }
        assert_int_equal(st.s.stat.overall_current_usage, held);
        size_t listed = 0;
        for (size_t h = 0; h < st.s.heap_count; h++) {
            listed += st.heaps[h].alloc_count;
        }
        assert_int_equal(listed, count);
        for (unsigned k = 0; k < KEPT; k++) {
            heap_caps_free(churners[i].held[k]);
        }
        vTaskDelete(handles[i]);
    }
}

/* ---- printouts --------------------------------------------------------------------------------- */

static void the_printouts_are_esp_idfs_tree_and_table(void **state)
{
    (void)state;
    void *block = heap_caps_malloc(1000, MALLOC_CAP_SPIRAM);
    single_t st;
    get_single(&st, NULL);
    const heap_stat_t *psram = heap_with(&st, MALLOC_CAP_SPIRAM);
    assert_non_null(psram);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    heap_caps_print_single_task_stat(f, NULL);
    heap_caps_print_single_task_stat(f, (TaskHandle_t)&len); /* no such task: nothing */
    fclose(f);
    char line[200];
    snprintf(line, sizeof line, "└ ALIVE: %s, CURRENT MEMORY USAGE ", pcTaskGetName(NULL));
    assert_ptr_equal(strstr(text, line), text);
    snprintf(line, sizeof line, "HEAP: SPIRAM, CAPS: 0x%08x, SIZE: %zu, USAGE: CURRENT %zu (0%%)",
             (unsigned)psram->caps, psram->size, recorded_size(block));
    assert_non_null(strstr(text, line));
    snprintf(line, sizeof line, "├ ALLOC %p, SIZE %zu\n", block, recorded_size(block));
    assert_non_null(strstr(text, line));
    assert_null(strstr(text, "│ TASK "));
    free(text);
    f = open_memstream(&text, &len);
    heap_caps_print_single_task_stat_overview(f, NULL);
    heap_caps_print_single_task_stat_overview(f, (TaskHandle_t)&len);
    fclose(f);
    assert_ptr_equal(strstr(text, "┌────"), text);
    assert_non_null(strstr(text, "│ TASK               │ STATUS  │ CURRENT MEMORY USAGE │"));
    snprintf(line, sizeof line, "│ %18s │ ALIVE   │", pcTaskGetName(NULL));
    assert_non_null(strstr(text, line));
    assert_int_equal(count_of(text, "└────"), 1);
    assert_null(strstr(text, "HEAP: "));
    free(text);

    /* Every task: one table (a row per task between one header and one bottom line), and a tree
     * whose last task is drawn └, the others ├. A deleted task is not among them. */
    leaker_t l = {.bytes = 40};
    (void)run_leaker(&l, "gone");
    TaskHandle_t other = NULL;
    assert_int_equal(xTaskCreate(allocate_and_park, "other", STACK, NULL, 5, &other), pdPASS);
    WAIT_FOR(eTaskGetState(other) == eSuspended);
    f = open_memstream(&text, &len);
    heap_caps_print_all_task_stat_overview(f);
    fclose(f);
    assert_int_equal(count_of(text, "│ TASK "), 1);
    assert_int_equal(count_of(text, "└────"), 1);
    assert_int_equal(count_of(text, " │ ALIVE   │ "), 2);
    assert_int_equal(count_of(text, "DELETED"), 0);
    assert_non_null(strstr(text, "│              other │ ALIVE   │"));
    free(text);
    f = open_memstream(&text, &len);
    heap_caps_print_all_task_stat(f);
    fclose(f);
    assert_int_equal(count_of(text, "├ ALIVE: "), 1);
    assert_int_equal(count_of(text, "└ ALIVE: "), 1);
    assert_null(strstr(text, "gone"));
    free(text);
    vTaskDelete(other);
    heap_caps_free(atomic_load(&l.block));
    heap_caps_free(block);
}

/* ESP-IDF v5.5's tracking takes a mutex in each allocation, reallocation and free it records:
 * with the scheduler suspended the chip asserts there. The host makes the call, counts it and logs
 * the first; before v5.5 the owner is a word of the block, and nothing is said. */
static uint64_t suspended_calls_made(void)
{
    kraken_sim_stats_t before, after;
    kraken_sim_get_stats(&before);
    void *kept = heap_caps_malloc(32, INTERNAL); /* the scheduler running: fine */
    assert_non_null(kept);
    vTaskSuspendAll();
    void *a = heap_caps_malloc(64, INTERNAL);
    void *b = heap_caps_realloc(a, 4096, INTERNAL);
    void *c = heap_caps_calloc(2, 8, INTERNAL);
    assert_true(a != NULL && b != NULL && c != NULL);
    assert_null(heap_caps_realloc(c, 0, INTERNAL)); /* a free */
    heap_caps_free(kept);
    assert_null(heap_caps_malloc(SIZE_MAX / 2, INTERNAL)); /* no block: nothing recorded */
    heap_caps_free(NULL);
    (void)xTaskResumeAll();
    heap_caps_free(b);
    kraken_sim_get_stats(&after);
    return after.suspended_tracked_calls - before.suspended_tracked_calls;
}

static void heap_calls_with_the_scheduler_suspended_are_flagged_from_v5_5(void **state)
{
    (void)state;
    log_capture_begin();
    const uint64_t flagged = suspended_calls_made();
    const char *logged = log_capture_end();
    assert_int_equal(flagged, 5); /* malloc, realloc, calloc, a realloc to 0 and a free */
    assert_non_null(strstr(logged, "heap_caps_malloc() with the scheduler suspended "
                                   "(vTaskSuspendAll): ESP-IDF v5.5's heap task tracking takes a "
                                   "mutex here, the chip asserts"));
    assert_int_equal(count_of(logged, "scheduler suspended"), 1);

    assert_int_equal(boot_on(SIM_IDF_V5_4, false), 0);
    log_capture_begin();
    assert_int_equal(suspended_calls_made(), 0);
    assert_null(strstr(log_capture_end(), "scheduler suspended"));

    const sim_policy_t untracked = {.spiram = true, .octal = true}; /* nothing to say either */
    assert_int_equal(sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &untracked), ESP_OK);
    assert_int_equal(suspended_calls_made(), 0);

    assert_int_equal(boot_on(SIM_IDF_CURRENT, false), 0); /* the first after each boot is logged */
    log_capture_begin();
    assert_int_equal(suspended_calls_made(), 5);
    assert_non_null(strstr(log_capture_end(), "scheduler suspended"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(a_tasks_use_of_each_heap_follows_its_allocations_and_frees, boot),
        cmocka_unit_test_setup(what_does_not_fit_in_the_callers_arrays_is_left_out, boot),
        cmocka_unit_test_setup(a_boot_forgets_every_tasks_statistics, boot),
        cmocka_unit_test_setup(a_deleted_tasks_statistics_go_with_its_tcb, boot),
        cmocka_unit_test_setup(with_track_deleted_tasks_a_leak_stays_visible_until_freed,
                               boot_keeping_deleted),
        cmocka_unit_test_setup(a_reused_handle_gets_statistics_of_its_own, boot_keeping_deleted),
        cmocka_unit_test_setup(a_task_deleted_by_another_does_not_come_back_alive,
                               boot_keeping_deleted),
        cmocka_unit_test_setup(threads_that_end_keep_figures_of_their_own, boot),
        cmocka_unit_test_setup(peaks_are_the_most_held_at_once, boot),
        cmocka_unit_test_setup(a_realloc_is_the_reallocating_tasks_in_the_heap_it_ends_in, boot),
        cmocka_unit_test_setup(a_deletion_is_seen_only_when_the_tcb_is_freed, boot),
        cmocka_unit_test_setup(an_ended_threads_arrays_are_sized_for_what_it_left, boot),
        cmocka_unit_test_setup(all_tasks_come_through_arrays_taken_from_the_biggest_heap, boot),
        cmocka_unit_test_setup(arrays_the_biggest_heap_cannot_hold_are_refused_whole, boot),
        cmocka_unit_test_setup(the_printouts_are_esp_idfs_tree_and_table, boot),
        cmocka_unit_test_setup(statistics_read_while_tasks_allocate_stay_exact, boot),
        cmocka_unit_test_setup(heap_calls_with_the_scheduler_suspended_are_flagged_from_v5_5, boot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
