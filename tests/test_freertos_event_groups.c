/* test_freertos_event_groups.c - FreeRTOS event groups on the host (freertos/event_groups.h): the
 * chip's memory use and FreeRTOS's wake-up semantics. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "freertos/timers.h"
#include "kraken_sim.h"

#include "capture_output.h" /* after esp_log.h: its log capture */
#include "freertos_test_support.h"
#include "freertos_refusals.h"
#include "freertos_timer_task.h"

#define INTERNAL (MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)
#define BIT_A (1u << 0)
#define BIT_B (1u << 1)
#define BIT_C (1u << 2)

/* A task that waits on an event group and reports what it got. */
typedef struct {
    EventGroupHandle_t group;
    EventBits_t wait_for;
    BaseType_t clear, all;
    TickType_t ticks;
    atomic_int done;
    EventBits_t result;
} waiter_t;

static void waiter_task(void *arg)
{
    waiter_t *w = arg;
    w->result = xEventGroupWaitBits(w->group, w->wait_for, w->clear, w->all, w->ticks);
    atomic_store(&w->done, 1);
    vTaskDelete(NULL);
}

/* A waiter another task deletes: once its wait returns it touches nothing of the test's. On the
 * host a task deleted by another runs on until its next FreeRTOS call (docs/simulator.md), so a
 * waiter the group's delete woke may still run after vTaskDelete() returned, the test's frame
 * gone. It ends in its wait, or at its next call (here). */
static void deleted_waiter_task(void *arg)
{
    const waiter_t *w = arg;
    (void)xEventGroupWaitBits(w->group, w->wait_for, pdFALSE, pdFALSE, portMAX_DELAY);
    for (;;) {
        (void)ulTaskNotifyTake(pdTRUE, portMAX_DELAY);
    }
}

static TaskHandle_t start_task_waiting(TaskFunction_t code, waiter_t *w)
{
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(code, "waiter", 4096, w, 5, &task), pdPASS);
    /* Into its wait (not merely started: a set before the wait would be seen at once). */
    WAIT_FOR(atomic_load(&w->done) || eTaskGetState(task) == eBlocked);
    assert_true(atomic_load(&w->done) || eTaskGetState(task) == eBlocked);
    return task;
}

static TaskHandle_t start_waiter(waiter_t *w)
{
    return start_task_waiting(waiter_task, w);
}

/* Up to PATIENCE_TICKS for *flag. */
static bool becomes_set(atomic_int *flag)
{
    WAIT_FOR(atomic_load(flag));
    return atomic_load(flag) != 0;
}

/* Tasks alive, this thread counted (it becomes a task at its first call that needs one). */
static UBaseType_t tasks_now(void)
{
    (void)xTaskGetCurrentTaskHandle();
    return uxTaskGetNumberOfTasks();
}

/* Until the task threads that ended have gone (their records), as counted by the kernel. */
static void wait_for_tasks(UBaseType_t n)
{
    WAIT_FOR(uxTaskGetNumberOfTasks() <= n);
    assert_int_equal(uxTaskGetNumberOfTasks(), n);
}

static void an_event_group_is_a_chip_sized_internal_block_and_the_static_one_none(void **state)
{
    (void)state;
    const size_t before = heap_caps_get_free_size(INTERNAL);
    EventGroupHandle_t g = xEventGroupCreate();
    assert_non_null(g);
    const size_t taken = before - heap_caps_get_free_size(INTERNAL);
    assert_true(taken >= CHIP_EVENT_GROUP_BYTES && taken <= CHIP_EVENT_GROUP_BYTES + 8); /* and header */
    vEventGroupDelete(g);
    assert_int_equal(heap_caps_get_free_size(INTERNAL), before);

    kraken_sim_stats_t st0, st1;
    kraken_sim_get_stats(&st0);
    static StaticEventGroup_t buffer;
    g = xEventGroupCreateStatic(&buffer);
    assert_non_null(g);
    assert_int_equal(xEventGroupSetBits(g, BIT_A), BIT_A);
    vEventGroupDelete(g);
    kraken_sim_get_stats(&st1);
    assert_int_equal(st1.allocations, st0.allocations);
}

static void with_caps_the_block_is_where_the_caps_say_and_only_its_delete_frees_it(void **state)
{
    (void)state;
    /* PSRAM, or without it (CONFIG_SPIRAM off) the RTC fast heap: memory a plain create never uses. */
    const uint32_t caps = heap_caps_get_total_size(MALLOC_CAP_SPIRAM) != 0 ? MALLOC_CAP_SPIRAM
                                                                          : MALLOC_CAP_RTCRAM;
    const size_t before = heap_caps_get_free_size(caps);
    EventGroupHandle_t g = xEventGroupCreateWithCaps(caps);
    assert_non_null(g);
    assert_true(heap_caps_get_free_size(caps) < before);
    vEventGroupDeleteWithCaps(g);
    assert_int_equal(heap_caps_get_free_size(caps), before);

    g = xEventGroupCreate();
    log_capture_begin();
    /* not a WithCaps group: refused, still usable */
    ASSERT_REFUSED(1, vEventGroupDeleteWithCaps(g));
    assert_non_null(strstr(log_capture_end(), "not made by xEventGroupCreateWithCaps"));
    assert_int_equal(xEventGroupSetBits(g, BIT_B), BIT_B);
    vEventGroupDelete(g);
}

static void set_clear_and_get_return_the_bits_freertos_says(void **state)
{
    (void)state;
    EventGroupHandle_t g = xEventGroupCreate();
    assert_int_equal(xEventGroupGetBits(g), 0);
    assert_int_equal(xEventGroupSetBits(g, BIT_A | BIT_C), BIT_A | BIT_C);
    assert_int_equal(xEventGroupClearBits(g, BIT_A), BIT_A | BIT_C); /* the bits before */
    assert_int_equal(xEventGroupGetBits(g), BIT_C);
    assert_int_equal(xEventGroupGetBitsFromISR(g), BIT_C);
    kraken_sim_isr_enter();
    assert_int_equal(xEventGroupClearBitsFromISR(g, BIT_C), pdPASS); /* FreeRTOS's result */
    kraken_sim_isr_exit();
    WAIT_FOR(xEventGroupGetBits(g) == 0); /* the timer task clears it */
    assert_int_equal(xEventGroupGetBits(g), 0);
    vEventGroupDelete(g);
}

static void a_wait_met_at_once_returns_at_once_and_clears_on_exit(void **state)
{
    (void)state;
    EventGroupHandle_t g = xEventGroupCreate();
    xEventGroupSetBits(g, BIT_A | BIT_B);
    assert_int_equal(xEventGroupWaitBits(g, BIT_A, pdTRUE, pdFALSE, 0), BIT_A | BIT_B);
    assert_int_equal(xEventGroupGetBits(g), BIT_B); /* A cleared on exit */
    /* All of A and B: not met, no wait: the bits of now. */
    assert_int_equal(xEventGroupWaitBits(g, BIT_A | BIT_B, pdFALSE, pdTRUE, 0), BIT_B);
    vEventGroupDelete(g);
}

static void a_waiting_task_wakes_when_all_its_bits_are_set(void **state)
{
    (void)state;
    waiter_t w = {.group = xEventGroupCreate(), .wait_for = BIT_A | BIT_B, .clear = pdTRUE,
                  .all = pdTRUE, .ticks = portMAX_DELAY};
    const UBaseType_t tasks = tasks_now();
    start_waiter(&w);
    xEventGroupSetBits(w.group, BIT_A);
    vTaskDelay(2);
    assert_false(atomic_load(&w.done)); /* one of two */
    assert_int_equal(xEventGroupSetBits(w.group, BIT_B | BIT_C), BIT_C); /* A, B cleared by it */
    assert_true(becomes_set(&w.done));
    assert_int_equal(w.result, BIT_A | BIT_B | BIT_C); /* the bits when it was met */
    wait_for_tasks(tasks);
    vEventGroupDelete(w.group);
}

/* Waiting for any of several bits: one of them is enough, at once or while waiting. */
static void a_wait_for_any_of_its_bits_is_met_by_one_of_them(void **state)
{
    (void)state;
    EventGroupHandle_t g = xEventGroupCreate();
    const UBaseType_t tasks = tasks_now();
    xEventGroupSetBits(g, BIT_B);
    assert_int_equal(xEventGroupWaitBits(g, BIT_A | BIT_B, pdTRUE, pdFALSE, 0), BIT_B);
    assert_int_equal(xEventGroupGetBits(g), 0); /* met, so cleared on exit */
    waiter_t w = {.group = g, .wait_for = BIT_A | BIT_C, .clear = pdTRUE, .all = pdFALSE,
                  .ticks = portMAX_DELAY};
    start_waiter(&w);
    assert_false(atomic_load(&w.done));
    assert_int_equal(xEventGroupSetBits(g, BIT_C), 0); /* C cleared by the waiter it woke */
    assert_true(becomes_set(&w.done));
    assert_int_equal(w.result, BIT_C);
    wait_for_tasks(tasks);
    vEventGroupDelete(g);
}

/* FreeRTOS decides at the set: both waiters see the bit even though the first clears it. */
static void two_tasks_waiting_for_one_bit_with_clear_on_exit_both_get_it(void **state)
{
    (void)state;
    EventGroupHandle_t g = xEventGroupCreate();
    waiter_t w1 = {.group = g, .wait_for = BIT_A, .clear = pdTRUE, .ticks = portMAX_DELAY};
    waiter_t w2 = w1;
    const UBaseType_t tasks = tasks_now();
    start_waiter(&w1);
    start_waiter(&w2);
    assert_int_equal(xEventGroupSetBits(g, BIT_A), 0);
    assert_true(becomes_set(&w1.done));
    assert_true(becomes_set(&w2.done));
    assert_int_equal(w1.result, BIT_A);
    assert_int_equal(w2.result, BIT_A);
    assert_int_equal(xEventGroupGetBits(g), 0);
    wait_for_tasks(tasks);
    vEventGroupDelete(g);
}

static void a_wait_times_out_after_its_ticks_with_the_bits_of_then(void **state)
{
    (void)state;
    EventGroupHandle_t g = xEventGroupCreate();
    xEventGroupSetBits(g, BIT_C);
    const TickType_t t0 = xTaskGetTickCount();
    assert_int_equal(xEventGroupWaitBits(g, BIT_A, pdTRUE, pdFALSE, 3), BIT_C);
    const TickType_t waited = xTaskGetTickCount() - t0;
    assert_true(waited >= 2 && waited < 100); /* 3 ticks, within a tick of rounding */
    assert_int_equal(xEventGroupGetBits(g), BIT_C);
    vEventGroupDelete(g);
}

/* A task of a rendezvous: xEventGroupSync() with its own bit, waiting for all three. */
typedef struct {
    EventGroupHandle_t group;
    EventBits_t mine;
    atomic_int done;
    EventBits_t result;
} syncer_t;

static void sync_task(void *arg)
{
    syncer_t *s = arg;
    s->result = xEventGroupSync(s->group, s->mine, BIT_A | BIT_B | BIT_C, portMAX_DELAY);
    atomic_store(&s->done, 1);
    vTaskDelete(NULL);
}

/* Start sync tasks a and b on their group; returns once both have arrived and wait for C. */
static void start_two_syncers(syncer_t *a, syncer_t *b)
{
    assert_int_equal(xTaskCreate(sync_task, "sync a", 4096, a, 5, NULL), pdPASS);
    assert_int_equal(xTaskCreate(sync_task, "sync b", 4096, b, 5, NULL), pdPASS);
    WAIT_FOR(xEventGroupGetBits(a->group) == (BIT_A | BIT_B));
    assert_int_equal(xEventGroupGetBits(a->group), BIT_A | BIT_B);
}

/* Both sync tasks left the rendezvous with all three bits, and the bits are cleared. */
static void both_released_and_cleared(syncer_t *a, syncer_t *b)
{
    assert_true(becomes_set(&a->done));
    assert_true(becomes_set(&b->done));
    assert_int_equal(a->result & (BIT_A | BIT_B | BIT_C), BIT_A | BIT_B | BIT_C);
    assert_int_equal(b->result & (BIT_A | BIT_B | BIT_C), BIT_A | BIT_B | BIT_C);
    assert_int_equal(xEventGroupGetBits(a->group), 0);
}

static void a_rendezvous_of_three_tasks_releases_all_of_them_and_clears_its_bits(void **state)
{
    (void)state;
    EventGroupHandle_t g = xEventGroupCreate();
    const UBaseType_t tasks = tasks_now();
    syncer_t a = {.group = g, .mine = BIT_A}, b = {.group = g, .mine = BIT_B};
    start_two_syncers(&a, &b);
    assert_false(atomic_load(&a.done) || atomic_load(&b.done));
    /* The last one completes the rendezvous: it does not wait, and it clears the bits. */
    assert_int_equal(xEventGroupSync(g, BIT_C, BIT_A | BIT_B | BIT_C, 0), BIT_A | BIT_B | BIT_C);
    both_released_and_cleared(&a, &b);
    wait_for_tasks(tasks);
    vEventGroupDelete(g);
}

/* The rendezvous is cleared however it completes: by the last task arriving (it does not wait),
 * or by a plain set that brings the last bit (the waiting tasks clear on exit). */
static void a_rendezvous_completed_on_arrival_or_by_a_set_clears_its_bits(void **state)
{
    (void)state;
    EventGroupHandle_t g = xEventGroupCreate();
    const UBaseType_t tasks = tasks_now();
    xEventGroupSetBits(g, BIT_A | BIT_B);
    assert_int_equal(xEventGroupSync(g, BIT_C, BIT_A | BIT_B | BIT_C, 0), BIT_A | BIT_B | BIT_C);
    assert_int_equal(xEventGroupGetBits(g), 0); /* no waiter to clear them: the arrival did */

    syncer_t a = {.group = g, .mine = BIT_A}, b = {.group = g, .mine = BIT_B};
    start_two_syncers(&a, &b);
    assert_int_equal(xEventGroupSetBits(g, BIT_C), 0); /* the bits once the waiters cleared */
    both_released_and_cleared(&a, &b);
    wait_for_tasks(tasks);
    vEventGroupDelete(g);
}

static void a_rendezvous_that_times_out_leaves_its_bit_set(void **state)
{
    (void)state;
    EventGroupHandle_t g = xEventGroupCreate();
    assert_int_equal(xEventGroupSync(g, BIT_A, BIT_A | BIT_B, 2), BIT_A);
    assert_int_equal(xEventGroupGetBits(g), BIT_A);
    log_capture_begin();
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupSync(g, BIT_B, 0, 0), 0));
    assert_non_null(strstr(log_capture_end(), "xEventGroupSync: no bits to wait for: refused"));
    vEventGroupDelete(g);
}

/* As in FreeRTOS, the timer task sets the bits: the ISR's call wakes it, and it wakes the waiter. */
static void a_set_from_an_isr_goes_through_the_timer_task_and_wakes_the_waiter(void **state)
{
    (void)state;
    waiter_t w = {.group = xEventGroupCreate(), .wait_for = BIT_B, .ticks = portMAX_DELAY};
    const UBaseType_t tasks = tasks_now();
    const TaskHandle_t timer_task = xTimerGetTimerDaemonTaskHandle();
    /* until the timer task waits for work (a new one first starts up) */
    WAIT_FOR(eTaskGetState(timer_task) == eBlocked);
    assert_int_equal(eTaskGetState(timer_task), eBlocked);
    start_waiter(&w);
    /* A yield is asked for when the timer task outranks the interrupted task (this one): lowered
     * below it for the call, so that the answer does not depend on the configured priorities. */
    const UBaseType_t mine = uxTaskPriorityGet(NULL);
    vTaskPrioritySet(NULL, 0);
    BaseType_t woken = pdFALSE;
    kraken_sim_isr_enter();
    assert_int_equal(xEventGroupSetBitsFromISR(w.group, BIT_B, &woken), pdPASS);
    kraken_sim_isr_exit();
    vTaskPrioritySet(NULL, mine);
    assert_int_equal(woken, uxTaskPriorityGet(timer_task) > 0 ? pdTRUE : pdFALSE);
    assert_true(becomes_set(&w.done));
    assert_int_equal(w.result, BIT_B);
    wait_for_tasks(tasks);
    vEventGroupDelete(w.group);
}

/* A pended call that holds the timer task until `release` is given. */
static atomic_int holding;

static void hold_timer_task(void *release, uint32_t unused)
{
    (void)unused;
    atomic_store(&holding, 1);
    (void)xSemaphoreTake(release, portMAX_DELAY);
}

/* The chip's gotcha: a set from an ISR fails when the timer task's queue is full. */
static void a_set_from_an_isr_fails_when_the_timer_task_queue_is_full(void **state)
{
    (void)state;
    EventGroupHandle_t g = xEventGroupCreate();
    SemaphoreHandle_t release = xSemaphoreCreateBinary();
    assert_true(g != NULL && release != NULL);
    atomic_int held = 0;
    atomic_store(&holding, 0);
    assert_int_equal(xTimerPendFunctionCall(hold_timer_task, release, 0, 0), pdPASS);
    assert_true(becomes_set(&holding)); /* out of the queue, holding the timer task */
    assert_int_equal(xTimerPendFunctionCall(set_flag, &held, 0, 0), pdPASS); /* queued */
    int queued = 1;
    kraken_sim_isr_enter();
    while (xEventGroupSetBitsFromISR(g, BIT_A, NULL) == pdPASS) {
        queued++;
        assert_true(queued <= CONFIG_FREERTOS_TIMER_QUEUE_LENGTH);
    }
    assert_int_equal(xEventGroupClearBitsFromISR(g, BIT_A), pdFAIL);
    kraken_sim_isr_exit();
    assert_int_equal(queued, CONFIG_FREERTOS_TIMER_QUEUE_LENGTH);
    assert_int_equal(xEventGroupGetBits(g), 0); /* not yet */
    assert_int_equal(xSemaphoreGive(release), pdTRUE);
    assert_true(becomes_set(&held));
    WAIT_FOR(xEventGroupGetBits(g) == BIT_A);
    assert_int_equal(xEventGroupGetBits(g), BIT_A);
    atomic_int done = 0; /* the timer task is done with g once it ran a later call */
    assert_int_equal(xTimerPendFunctionCall(set_flag, &done, 0, portMAX_DELAY), pdPASS);
    assert_true(becomes_set(&done));
    vSemaphoreDelete(release);
    vEventGroupDelete(g);
}

static void misuse_is_refused_and_logged(void **state)
{
    (void)state;
    EventGroupHandle_t g = xEventGroupCreate();
    log_capture_begin();
    /* the kernel's byte */
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupSetBits(g, 0x01000000u), 0));
    /* all of it, the top bit too */
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupSetBits(g, 0x80000000u), 0));
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupSetBits(NULL, BIT_A), 0));
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupGetBits(NULL), 0));
    kraken_sim_isr_enter();
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupGetBitsFromISR(NULL), 0));
    kraken_sim_isr_exit();
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupWaitBits(g, 0, pdFALSE, pdFALSE, 0), 0));
    kraken_sim_isr_enter();
    /* a wait: counted in refused_waits alone */
    ASSERT_NOT_REFUSED(assert_int_equal(xEventGroupWaitBits(g, BIT_A, pdFALSE, pdFALSE, 10), 0));
    kraken_sim_isr_exit();
    ASSERT_REFUSED(1, assert_null(xEventGroupCreateStatic(NULL)));
    const char *out = log_capture_end();
    /* in the order of the calls (bad bits, then a NULL group): each names what was wrong */
    const char *bad_bits = strstr(out, "xEventGroupSetBits: ");
    assert_non_null(bad_bits);
    assert_int_equal(strncmp(bad_bits, "xEventGroupSetBits: bits in the top byte", 40), 0);
    assert_non_null(strstr(out, "xEventGroupSetBits: no event group"));
    assert_non_null(strstr(out, "xEventGroupGetBits: no event group"));
    assert_non_null(strstr(out, "xEventGroupGetBitsFromISR: no event group"));
    assert_non_null(strstr(out, "no bits to wait for"));
    assert_non_null(strstr(out, "in an ISR"));
    assert_int_equal(xEventGroupGetBits(g), 0); /* nothing changed */
    vEventGroupDelete(g);
}

/* FreeRTOS's vEventGroupDelete() asserts on NULL, vEventGroupDeleteWithCaps() in
 * xEventGroupGetStaticBuffer() before it: each is refused once. */
static void deleting_a_null_event_group_is_refused(void **state)
{
    (void)state;
    log_capture_begin();
    ASSERT_REFUSED(1, vEventGroupDelete(NULL));
    ASSERT_REFUSED(1, vEventGroupDeleteWithCaps(NULL));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "vEventGroupDelete: no event group: refused (the chip asserts)"));
    assert_non_null(strstr(logged, "vEventGroupDeleteWithCaps: no event group: refused"));
}

static void deleting_a_group_releases_its_waiters_with_0(void **state)
{
    (void)state;
    const size_t before = heap_caps_get_free_size(INTERNAL);
    waiter_t w = {.group = xEventGroupCreate(), .wait_for = BIT_A, .ticks = portMAX_DELAY};
    const UBaseType_t tasks = tasks_now();
    start_waiter(&w);
    xEventGroupSetBits(w.group, BIT_C);
    vEventGroupDelete(w.group);
    assert_true(becomes_set(&w.done));
    assert_int_equal(w.result, 0); /* FreeRTOS: 0, "the event list is being deleted" */
    wait_for_tasks(tasks);
    assert_int_equal(heap_caps_get_free_size(INTERNAL), before); /* group and task both back */
}

/* The group deleted first keeps its record for the waiter; deleting the waiter then must not
 * touch the group after the last waiter freed it (ASan, TSan). */
static void a_group_deleted_then_its_waiting_task_deleted_leaves_nothing_behind(void **state)
{
    (void)state;
    const size_t before = heap_caps_get_free_size(INTERNAL);
    waiter_t w = {.group = xEventGroupCreate(), .wait_for = BIT_A};
    const UBaseType_t tasks = tasks_now();
    TaskHandle_t task = start_task_waiting(deleted_waiter_task, &w);
    vEventGroupDelete(w.group);
    vTaskDelete(task); /* often before it wakes from the delete */
    wait_for_tasks(tasks);
    assert_int_equal(heap_caps_get_free_size(INTERNAL), before);
}

/* Its wait node lives on its stack: it must leave the group's list (ASan sees a later set). */
static void a_task_deleted_while_it_waits_leaves_the_group_intact(void **state)
{
    (void)state;
    waiter_t w = {.group = xEventGroupCreate(), .wait_for = BIT_A, .ticks = portMAX_DELAY};
    const UBaseType_t tasks = tasks_now();
    TaskHandle_t task = start_waiter(&w);
    vTaskDelete(task);
    wait_for_tasks(tasks);
    assert_false(atomic_load(&w.done)); /* it never returned from its wait */
    waiter_t w2 = {.group = w.group, .wait_for = BIT_A, .ticks = portMAX_DELAY};
    start_waiter(&w2);
    assert_int_equal(xEventGroupSetBits(w.group, BIT_A), BIT_A);
    assert_true(becomes_set(&w2.done));
    wait_for_tasks(tasks);
    vEventGroupDelete(w.group);
}

static void a_static_or_withcaps_group_gives_its_buffer_and_a_dynamic_one_does_not(void **state)
{
    (void)state;
    StaticEventGroup_t buffer;
    EventGroupHandle_t still = xEventGroupCreateStatic(&buffer);
    EventGroupHandle_t dynamic = xEventGroupCreate();
    EventGroupHandle_t caps = xEventGroupCreateWithCaps(INTERNAL);
    assert_true(still && dynamic && caps);
    StaticEventGroup_t *got = NULL;
    assert_int_equal(xEventGroupGetStaticBuffer(still, &got), pdTRUE);
    assert_ptr_equal(got, &buffer);
    /* WithCaps (a static group on the chip): its block, which vEventGroupDeleteWithCaps frees. */
    got = NULL;
    assert_int_equal(xEventGroupGetStaticBuffer(caps, &got), pdTRUE);
    assert_true(heap_caps_get_allocated_size(got) >= KRAKEN_SIM_EVENT_GROUP_BYTES);
    got = &buffer;
    assert_int_equal(xEventGroupGetStaticBuffer(dynamic, &got), pdFALSE);
    assert_ptr_equal(got, &buffer); /* untouched */
    log_capture_begin();
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupGetStaticBuffer(NULL, &got), pdFALSE));
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupGetStaticBuffer(still, NULL), pdFALSE));
    const char *log = log_capture_end();
    assert_non_null(strstr(log, "xEventGroupGetStaticBuffer: no event group: refused"));
    assert_non_null(strstr(log, "xEventGroupGetStaticBuffer: no place for the buffer: refused"));
    vEventGroupDelete(still);
    vEventGroupDelete(dynamic);
    vEventGroupDeleteWithCaps(caps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(an_event_group_is_a_chip_sized_internal_block_and_the_static_one_none,
                                  refusals_reset),
        cmocka_unit_test_teardown(
            with_caps_the_block_is_where_the_caps_say_and_only_its_delete_frees_it, refusals_reset),
        cmocka_unit_test_teardown(
            a_static_or_withcaps_group_gives_its_buffer_and_a_dynamic_one_does_not, refusals_reset),
        cmocka_unit_test_teardown(set_clear_and_get_return_the_bits_freertos_says, refusals_reset),
        cmocka_unit_test_teardown(a_wait_met_at_once_returns_at_once_and_clears_on_exit, refusals_reset),
        cmocka_unit_test_teardown(a_waiting_task_wakes_when_all_its_bits_are_set, refusals_reset),
        cmocka_unit_test_teardown(a_wait_for_any_of_its_bits_is_met_by_one_of_them, refusals_reset),
        cmocka_unit_test_teardown(two_tasks_waiting_for_one_bit_with_clear_on_exit_both_get_it,
                                  refusals_reset),
        cmocka_unit_test_teardown(a_wait_times_out_after_its_ticks_with_the_bits_of_then, refusals_reset),
        cmocka_unit_test_teardown(
            a_rendezvous_of_three_tasks_releases_all_of_them_and_clears_its_bits, refusals_reset),
        cmocka_unit_test_teardown(a_rendezvous_completed_on_arrival_or_by_a_set_clears_its_bits,
                                  refusals_reset),
        cmocka_unit_test_teardown(a_rendezvous_that_times_out_leaves_its_bit_set, refusals_reset),
        cmocka_unit_test_teardown(
            a_set_from_an_isr_goes_through_the_timer_task_and_wakes_the_waiter, refusals_reset),
        cmocka_unit_test_teardown(a_set_from_an_isr_fails_when_the_timer_task_queue_is_full,
                                  refusals_reset),
        cmocka_unit_test_teardown(misuse_is_refused_and_logged, refusals_reset),
        cmocka_unit_test_teardown(deleting_a_null_event_group_is_refused, refusals_reset),
        cmocka_unit_test_teardown(deleting_a_group_releases_its_waiters_with_0,
                                  refusals_reset),
        cmocka_unit_test_teardown(a_task_deleted_while_it_waits_leaves_the_group_intact, refusals_reset),
        cmocka_unit_test_teardown(
            a_group_deleted_then_its_waiting_task_deleted_leaves_nothing_behind, refusals_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
