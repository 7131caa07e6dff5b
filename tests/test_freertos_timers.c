/* test_freertos_timers.c - FreeRTOS software timers on the host (freertos/timers.h): the chip's
 * memory use, callbacks in the timer task, the commands, pended calls and bad input. */
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
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "freertos/timers.h"
#include "kraken_sim.h"

#include "capture_output.h" /* after esp_log.h: its log capture */
#include "freertos_test_support.h"
#include "freertos_refusals.h"
#include "freertos_timer_task.h"
#include "test_sanitizers.h"

#define INTERNAL (MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)
#define TIMER_BYTES CHIP_TIMER_BYTES

static size_t internal_at_setup;
static UBaseType_t tasks_at_setup;

static size_t internal_free(void)
{
    return heap_caps_get_free_size(INTERNAL);
}

static int boot(void **state)
{
    (void)state;
    if (kraken_sim_reset() != ESP_OK || xTimerGetTimerDaemonTaskHandle() == NULL) {
        return -1;
    }
    (void)xTaskGetCurrentTaskHandle(); /* the test's thread is a task from here on: counted */
    internal_at_setup = internal_free();
    tasks_at_setup = uxTaskGetNumberOfTasks();
    return 0;
}

/* Every timer was deleted: its block is back. */
static int all_timers_gone(void **state)
{
    (void)state;
    kraken_sim_fault_clear();
    if (unasserted_refusals() != 0) {
        return -1;
    }
    if (uxTaskGetNumberOfTasks() != tasks_at_setup || internal_free() != internal_at_setup) {
        print_error("teardown: %u tasks, internal free %zu; %u and %zu at setup\n",
                    (unsigned)uxTaskGetNumberOfTasks(), internal_free(), (unsigned)tasks_at_setup,
                    internal_at_setup);
        return -1;
    }
    return 0;
}

/* What the callbacks saw. */
typedef struct {
    atomic_int calls;
    atomic_int active_inside; /* xTimerIsTimerActive() in the last call */
    atomic_int in_timer_task; /* the last call ran in the timer task */
    void *id;
    bool delete_itself;
    TickType_t ticks[64]; /* the tick count at each call */
    atomic_int order;     /* of its last call among all the callbacks' calls */
} seen_t;

static atomic_int expiries; /* callbacks' calls since the test began */

static void record(TimerHandle_t timer)
{
    seen_t *seen = pvTimerGetTimerID(timer);
    atomic_store(&seen->active_inside, xTimerIsTimerActive(timer));
    atomic_store(&seen->in_timer_task,
                 xTaskGetCurrentTaskHandle() == xTimerGetTimerDaemonTaskHandle() &&
                     strcmp(pcTaskGetName(NULL), "Tmr Svc") == 0);
    const int call = atomic_load(&seen->calls);
    if (call < 64) {
        seen->ticks[call] = xTaskGetTickCount();
    }
    atomic_store(&seen->order, atomic_fetch_add(&expiries, 1));
    if (seen->delete_itself) {
        assert_int_equal(xTimerDelete(timer, 0), pdPASS);
        seen->id = pvTimerGetTimerID(timer); /* still valid until the callback returns */
    }
    atomic_fetch_add(&seen->calls, 1);
}

/* ---- memory ---------------------------------------------------------------------------------- */

static void a_timer_is_one_40_byte_internal_block_and_a_static_one_none(void **state)
{
    (void)state;
    seen_t seen = {0};
    kraken_sim_stats_t s0, s1;
    kraken_sim_get_stats(&s0);
    TimerHandle_t t = xTimerCreate("heap", 10, pdFALSE, &seen, record);
    assert_non_null(t);
    kraken_sim_get_stats(&s1);
    assert_int_equal(s1.allocations - s0.allocations, 1);
    const size_t taken = internal_at_setup - internal_free();
    assert_in_range(taken, TIMER_BYTES, TIMER_BYTES + 8); /* the block and its header */
    assert_int_equal(xTimerDelete(t, 0), pdPASS);
    assert_int_equal(internal_free(), internal_at_setup);

    static StaticTimer_t buffer;
    kraken_sim_get_stats(&s0);
    t = xTimerCreateStatic("static", 1, pdFALSE, &seen, record, &buffer);
    assert_non_null(t);
    StaticTimer_t *got = NULL;
    assert_int_equal(xTimerGetStaticBuffer(t, &got), pdTRUE);
    assert_ptr_equal(got, &buffer);
    assert_int_equal(xTimerStart(t, 0), pdPASS);
    WAIT_FOR(atomic_load(&seen.calls) == 1);
    assert_int_equal(atomic_load(&seen.calls), 1);
    assert_int_equal(xTimerDelete(t, 0), pdPASS);
    kraken_sim_get_stats(&s1);
    assert_int_equal(s1.allocations, s0.allocations);
}

static void a_timer_the_internal_heap_cannot_hold_is_not_created(void **state)
{
    (void)state;
    seen_t seen = {0};
    kraken_sim_fail_next(MALLOC_CAP_INTERNAL, 1);
    assert_null(xTimerCreate("none", 10, pdFALSE, &seen, record));
    assert_int_equal(internal_free(), internal_at_setup);
}

/* ---- expiry ---------------------------------------------------------------------------------- */

static void a_one_shot_timer_calls_back_once_in_the_timer_task_already_dormant(void **state)
{
    (void)state;
    seen_t seen = {0};
    TimerHandle_t t = xTimerCreate("once", 2, pdFALSE, &seen, record);
    assert_non_null(t);
    assert_int_equal(xTimerIsTimerActive(t), pdFALSE); /* dormant when created */
    const TickType_t started = xTaskGetTickCount();
    assert_int_equal(xTimerStart(t, 0), pdPASS);
    /* active until it expires two ticks on: a preemption of this thread that long (a loaded
     * machine) lets the timer task take it first, dormant again */
    assert_true(xTimerIsTimerActive(t) == pdTRUE || xTaskGetTickCount() - started >= 2);
    WAIT_FOR(atomic_load(&seen.calls) > 0);
    vTaskDelay(6); /* three periods more: no second call */
    flush_timer_task();
    assert_int_equal(atomic_load(&seen.calls), 1);
    assert_int_equal(atomic_load(&seen.active_inside), pdFALSE);
    assert_true(atomic_load(&seen.in_timer_task));
    assert_int_equal(xTimerIsTimerActive(t), pdFALSE);
    assert_int_equal(xTimerDelete(t, 0), pdPASS);
}

static void an_auto_reload_timer_calls_back_each_period_until_stopped(void **state)
{
    (void)state;
    seen_t seen = {0};
    TimerHandle_t t = xTimerCreate("tick", 1, pdTRUE, &seen, record);
    assert_non_null(t);
    assert_int_equal(xTimerGetReloadMode(t), pdTRUE);
    const TickType_t start = xTaskGetTickCount();
    assert_int_equal(xTimerStart(t, 0), pdPASS);
    WAIT_FOR(atomic_load(&seen.calls) >= 5);
    assert_true(atomic_load(&seen.calls) >= 5);
    assert_int_equal(atomic_load(&seen.active_inside), pdTRUE); /* reloaded before the call */
    assert_int_equal(xTimerStop(t, 0), pdPASS);
    assert_int_equal(xTimerIsTimerActive(t), pdFALSE);
    flush_timer_task(); /* a call under way when it was stopped has ended */
    const int calls = atomic_load(&seen.calls);
    /* once per period: never more calls than ticks went by (the reload moves the expiry on) */
    assert_true(calls <= (int)(xTaskGetTickCount() - start));
    vTaskDelay(5);
    flush_timer_task();
    assert_int_equal(atomic_load(&seen.calls), calls);
    assert_int_equal(xTimerDelete(t, 0), pdPASS);
}

static void the_expiry_is_a_period_after_the_start_and_a_reset_or_new_period_moves_it(
    void **state)
{
    (void)state;
    seen_t seen = {0};
    const TickType_t long_period = PATIENCE_TICKS * 10; /* never expires during the test */
    TimerHandle_t t = xTimerCreate("moves", long_period, pdFALSE, &seen, record);
    assert_non_null(t);
    TickType_t before = xTaskGetTickCount();
    assert_int_equal(xTimerStart(t, 0), pdPASS);
    TickType_t after = xTaskGetTickCount();
    assert_in_range(xTimerGetExpiryTime(t), before + long_period, after + long_period);

    vTaskDelay(3);
    before = xTaskGetTickCount();
    assert_int_equal(xTimerReset(t, 0), pdPASS);
    after = xTaskGetTickCount();
    assert_in_range(xTimerGetExpiryTime(t), before + long_period, after + long_period);

    assert_int_equal(xTimerStop(t, 0), pdPASS);
    before = xTaskGetTickCount();
    assert_int_equal(xTimerChangePeriod(t, 2 * long_period, 0), pdPASS); /* starts it too */
    after = xTaskGetTickCount();
    assert_int_equal(xTimerIsTimerActive(t), pdTRUE);
    assert_int_equal(xTimerGetPeriod(t), 2 * long_period);
    assert_in_range(xTimerGetExpiryTime(t), before + 2 * long_period, after + 2 * long_period);
    assert_int_equal(atomic_load(&seen.calls), 0);

    assert_string_equal(pcTimerGetName(t), "moves");
    vTimerSetTimerID(t, &before);
    assert_ptr_equal(pvTimerGetTimerID(t), &before);
    vTimerSetReloadMode(t, pdTRUE);
    assert_int_equal(uxTimerGetReloadMode(t), 1);
    assert_int_equal(xTimerGetStaticBuffer(t, &(StaticTimer_t *){NULL}), pdFALSE);
    assert_int_equal(xTimerDelete(t, 0), pdPASS); /* an active timer too */
}

static void timers_expire_in_the_order_of_their_expiry(void **state)
{
    (void)state;
    atomic_store(&expiries, 0);
    seen_t seen[3] = {{0}};
    TimerHandle_t t[3];
    const TickType_t periods[3] = {30, 10, 20}; /* ten ticks apart: a slow start changes nothing */
    for (int i = 0; i < 3; i++) {
        t[i] = xTimerCreate("order", periods[i], pdFALSE, &seen[i], record);
        assert_non_null(t[i]);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(xTimerStart(t[i], 0), pdPASS);
    }
    WAIT_FOR(atomic_load(&expiries) == 3);
    flush_timer_task(); /* the last callback has returned: the deletes below free at once */
    assert_int_equal(atomic_load(&seen[1].order), 0);
    assert_int_equal(atomic_load(&seen[2].order), 1);
    assert_int_equal(atomic_load(&seen[0].order), 2);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(xTimerDelete(t[i], 0), pdPASS);
    }
}

/* vListInsert() puts a timer after those expiring at the same tick: they run in start order. */
static void timers_expiring_at_the_same_tick_run_in_the_order_they_were_started(void **state)
{
    (void)state;
    atomic_store(&expiries, 0);
    seen_t seen[3] = {{0}};
    TimerHandle_t t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = xTimerCreate("same", 10, pdFALSE, &seen[i], record);
        assert_non_null(t[i]);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(xTimerStart(t[i], 0), pdPASS);
    }
    WAIT_FOR(atomic_load(&expiries) == 3);
    flush_timer_task(); /* the last callback has returned: the deletes below free at once */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(atomic_load(&seen[i].order), i);
        assert_int_equal(xTimerDelete(t[i], 0), pdPASS);
    }
}

/* A pended call that holds the timer task until `release` is given. */
static SemaphoreHandle_t release;
static atomic_int stalling;

static void stall(void *unused, uint32_t unused2)
{
    (void)unused;
    (void)unused2;
    atomic_store(&stalling, 1);
    (void)xSemaphoreTake(release, portMAX_DELAY);
}

static void stall_timer_task(void)
{
    release = xSemaphoreCreateBinary();
    assert_non_null(release);
    atomic_store(&stalling, 0);
    assert_int_equal(xTimerPendFunctionCall(stall, NULL, 0, 0), pdPASS);
    WAIT_FOR(atomic_load(&stalling));
    assert_true(atomic_load(&stalling));
}

static void release_timer_task(void)
{
    assert_int_equal(xSemaphoreGive(release), pdTRUE);
    flush_timer_task();
    vSemaphoreDelete(release);
}

/* A stalled timer task calls an auto-reload timer's callback once per missed period, at once, as
 * FreeRTOS's prvReloadTimer(); the next expiry stays on the period's grid. */
static void an_auto_reload_timer_catches_up_the_periods_the_timer_task_missed(void **state)
{
    (void)state;
    seen_t seen = {0};
    /* 5 ticks and at least 50 ms, whatever CONFIG_FREERTOS_HZ: the burst below has 250 ms */
    const TickType_t period = pdMS_TO_TICKS(50) > 5 ? pdMS_TO_TICKS(50) : 5;
    TimerHandle_t t = xTimerCreate("late", period, pdTRUE, &seen, record);
    assert_non_null(t);
    stall_timer_task();
    assert_int_equal(xTimerStart(t, 0), pdPASS);
    const TickType_t first = xTimerGetExpiryTime(t);
    vTaskDelay(10 * period + 2); /* ten periods and more */
    assert_int_equal(atomic_load(&seen.calls), 0);
    assert_int_equal(xSemaphoreGive(release), pdTRUE);
    WAIT_FOR(atomic_load(&seen.calls) >= 10);
    assert_true(atomic_load(&seen.calls) >= 10);
    /* Ten calls in a burst: far less than the five periods they would take one per period. */
    assert_true(seen.ticks[9] - seen.ticks[0] < 5 * period);
    assert_int_equal((xTimerGetExpiryTime(t) - first) % period, 0);
    assert_int_equal(xTimerDelete(t, 0), pdPASS);
    flush_timer_task();
    vSemaphoreDelete(release);
}

/* ---- deletion -------------------------------------------------------------------------------- */

static void a_timer_deleted_in_its_own_callback_is_freed_after_it_returns(void **state)
{
    (void)state;
    seen_t seen = {.delete_itself = true};
    TimerHandle_t t = xTimerCreate("suicide", 1, pdTRUE, &seen, record);
    assert_non_null(t);
    assert_int_equal(xTimerStart(t, 0), pdPASS);
    WAIT_FOR(atomic_load(&seen.calls) >= 1);
    flush_timer_task();
    /* One call, or one per period a late timer task missed (a burst, as FreeRTOS's
     * prvReloadTimer(): the delete takes effect once the callback returns); none after. */
    const int calls = atomic_load(&seen.calls);
    assert_true(calls >= 1);
    vTaskDelay(3);
    assert_int_equal(atomic_load(&seen.calls), calls);
    assert_ptr_equal(seen.id, &seen); /* read after the delete: the record was still there */
    assert_int_equal(internal_free(), internal_at_setup);
}

/* A callback that holds the timer task until `release` is given. */
static void hold(TimerHandle_t timer)
{
    (void)timer;
    atomic_store(&stalling, 1);
    (void)xSemaphoreTake(release, portMAX_DELAY);
}

static void a_timer_deleted_by_a_task_while_its_callback_runs_is_freed_after_it_returns(
    void **state)
{
    (void)state;
    release = xSemaphoreCreateBinary();
    assert_non_null(release);
    atomic_store(&stalling, 0);
    TimerHandle_t t = xTimerCreate("busy", 1, pdFALSE, NULL, hold);
    assert_non_null(t);
    const size_t with_timer = internal_free();
    assert_int_equal(xTimerStart(t, 0), pdPASS);
    WAIT_FOR(atomic_load(&stalling));
    assert_true(atomic_load(&stalling));
    assert_int_equal(xTimerDelete(t, 0), pdPASS);
    assert_int_equal(internal_free(), with_timer); /* its callback runs: not yet */
    release_timer_task(); /* its semaphore goes too */
    assert_int_equal(internal_free(), internal_at_setup);
}

/* ---- pended calls ---------------------------------------------------------------------------- */

static char ran[16];
static atomic_int ran_count;

static void note(void *unused, uint32_t which)
{
    (void)unused;
    ran[atomic_fetch_add(&ran_count, 1)] = (char)('a' + which);
}

static void release_after_three_ticks(void *unused)
{
    (void)unused;
    vTaskDelay(3);
    (void)xSemaphoreGive(release);
    vTaskDelete(NULL);
}

static void pended_calls_run_in_order_and_a_full_queue_refuses_or_waits(void **state)
{
    (void)state;
    memset(ran, 0, sizeof ran);
    atomic_store(&ran_count, 0);
    stall_timer_task();
    /* The timer task is busy, not waiting on its queue: a call from an ISR wakes no task. */
    BaseType_t woken = pdFALSE;
    kraken_sim_isr_enter();
    assert_int_equal(xTimerPendFunctionCallFromISR(note, NULL, 0, &woken), pdPASS);
    kraken_sim_isr_exit();
    assert_int_equal(woken, pdFALSE);
    for (uint32_t i = 1; i < CONFIG_FREERTOS_TIMER_QUEUE_LENGTH; i++) {
        assert_int_equal(xTimerPendFunctionCall(note, NULL, i, 0), pdPASS);
    }
    assert_int_equal(xTimerPendFunctionCall(note, NULL, 99, 0), pdFAIL); /* full */
    assert_int_equal(xTimerPendFunctionCall(note, NULL, 99, 2), pdFAIL); /* still, 2 ticks on */
    kraken_sim_isr_enter();
    assert_int_equal(xTimerPendFunctionCallFromISR(note, NULL, 99, &woken), pdFAIL);
    kraken_sim_isr_exit();
    /* Room comes when the timer task, released three ticks on, takes the calls: this one waits
     * for it. */
    const TickType_t before = xTaskGetTickCount();
    assert_int_equal(xTaskCreate(release_after_three_ticks, "release", 4096, NULL, 5, NULL), pdPASS);
    assert_int_equal(xTimerPendFunctionCall(note, NULL, CONFIG_FREERTOS_TIMER_QUEUE_LENGTH,
                                            PATIENCE_TICKS),
                     pdPASS);
    assert_true(xTaskGetTickCount() - before >= 2);
    flush_timer_task();
    vSemaphoreDelete(release);
    /* The releasing task deletes itself after its give: FreeRTOS counts it until its stack and
     * TCB are back, maybe after this line on a loaded machine. Waiting on the block alone let the
     * next test's reboot run while the task's free still read the chip (TSan saw it). */
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);
    char expected[16] = {0};
    for (int i = 0; i <= CONFIG_FREERTOS_TIMER_QUEUE_LENGTH; i++) {
        expected[i] = (char)('a' + i);
    }
    assert_string_equal(ran, expected);
}

/* ---- simulated ISRs and bad input ------------------------------------------------------------ */

/* The commands work; each asks for a yield (a send to the timer task's queue on the chip) only
 * when the waiting timer task outranks the interrupted task: this one, at the timer task's
 * priority, then below it. */
static void the_fromisr_commands_work_in_a_simulated_isr(void **state)
{
    (void)state;
    seen_t seen = {0};
    TimerHandle_t t = xTimerCreate("isr", PATIENCE_TICKS * 10, pdFALSE, &seen, record);
    assert_non_null(t);
    const TaskHandle_t timer_task = xTimerGetTimerDaemonTaskHandle();
    const UBaseType_t mine = uxTaskPriorityGet(NULL), timers = uxTaskPriorityGet(timer_task);
    /* New periods as long as the first, each its own: the timer never expires here (with 1 and 2
     * ticks it could between two calls, the next round's start using the 1 tick: the timer task
     * then found it expired before xTimerIsTimerActive(), or ran its callback during the delete) */
    const TickType_t periods[2] = {PATIENCE_TICKS * 11, PATIENCE_TICKS * 12};
    for (int below = 0; below < 2 && (below == 0 || timers > 0); below++) {
        WAIT_FOR(eTaskGetState(timer_task) == eBlocked); /* waits for work */
        vTaskPrioritySet(NULL, below ? timers - 1 : timers);
        BaseType_t woken = pdFALSE;
        kraken_sim_isr_enter();
        assert_int_equal(xTimerStartFromISR(t, &woken), pdPASS);
        assert_int_equal(xTimerIsTimerActive(t), pdTRUE);
        assert_int_equal(xTimerResetFromISR(t, &woken), pdPASS);
        assert_int_equal(xTimerChangePeriodFromISR(t, periods[below], &woken), pdPASS);
        assert_int_equal(xTimerStopFromISR(t, &woken), pdPASS);
        assert_int_equal(xTimerIsTimerActive(t), pdFALSE);
        kraken_sim_isr_exit();
        vTaskPrioritySet(NULL, mine);
        assert_int_equal(xTimerGetPeriod(t), periods[below]);
        assert_int_equal(woken, below ? pdTRUE : pdFALSE);
    }
    assert_int_equal(xTimerDelete(t, 0), pdPASS);
}

/* As xQueueSendFromISR() on the chip: an ISR's first send takes the waiting timer task off its
 * queue's wait list (it runs after the ISR), so a second send of the same ISR asks for no yield;
 * the next ISR's first send does again. */
static void only_the_first_send_of_an_isr_asks_for_a_yield(void **state)
{
    (void)state;
    const TaskHandle_t timer_task = xTimerGetTimerDaemonTaskHandle();
    const UBaseType_t mine = uxTaskPriorityGet(NULL), timers = uxTaskPriorityGet(timer_task);
    if (timers == 0) {
        print_message("skipped: the timer task's priority is 0: no task is below it\n");
        skip();
    }
    seen_t seen = {0};
    TimerHandle_t t = xTimerCreate("isr", PATIENCE_TICKS * 10, pdFALSE, &seen, record);
    assert_non_null(t);
    memset(ran, 0, sizeof ran);
    atomic_store(&ran_count, 0);
    vTaskPrioritySet(NULL, timers - 1);
    for (int isr = 0; isr < 2; isr++) {
        WAIT_FOR(eTaskGetState(timer_task) == eBlocked); /* waits on its queue */
        BaseType_t first = pdFALSE, second = pdFALSE, third = pdFALSE;
        kraken_sim_isr_enter();
        BaseType_t sent[3];
        sent[0] = xTimerPendFunctionCallFromISR(note, NULL, 0, &first);
        sent[1] = xTimerPendFunctionCallFromISR(note, NULL, 1, &second);
        sent[2] = xTimerStartFromISR(t, &third);
        kraken_sim_isr_exit();
        assert_true(sent[0] == pdPASS && sent[1] == pdPASS && sent[2] == pdPASS);
        assert_int_equal(first, pdTRUE);
        assert_int_equal(second, pdFALSE);
        assert_int_equal(third, pdFALSE);
        WAIT_FOR(atomic_load(&ran_count) == 2 * (isr + 1));
    }
    vTaskPrioritySet(NULL, mine);
    assert_int_equal(xTimerDelete(t, 0), pdPASS);
}

static void bad_arguments_are_refused_and_logged(void **state)
{
    (void)state;
    seen_t seen = {0};
    log_capture_begin();
    ASSERT_REFUSED(1, assert_null(xTimerCreate("zero", 0, pdFALSE, &seen, record)));
    ASSERT_REFUSED(1,
                   assert_null(xTimerCreateStatic("no buffer", 1, pdFALSE, &seen, record, NULL)));
    ASSERT_REFUSED(1, assert_int_equal(xTimerStart(NULL, 0), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xTimerStop(NULL, 0), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xTimerDelete(NULL, 0), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xTimerPendFunctionCall(NULL, NULL, 0, 0), pdFAIL));
    TimerHandle_t t = xTimerCreate("ok", 5, pdFALSE, &seen, record);
    assert_non_null(t);
    ASSERT_REFUSED(1, assert_int_equal(xTimerChangePeriod(t, 0, 0), pdFAIL));
    kraken_sim_isr_enter();
    ASSERT_NOT_REFUSED(assert_int_equal(xTimerStart(t, 1), pdFAIL)); /* a wait: refused_waits */
    kraken_sim_isr_exit();
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "xTimerCreate: a period of 0 ticks: refused (the chip asserts)"));
    assert_non_null(strstr(logged, "xTimerCreateStatic: no timer buffer: refused"));
    assert_non_null(strstr(logged, "xTimerStart: no timer: refused"));
    assert_non_null(strstr(logged, "xTimerChangePeriod: a period of 0 ticks: refused"));
    assert_non_null(strstr(logged, "xTimerStart: a wait of 1 ticks in an ISR: refused"));
    assert_int_equal(xTimerIsTimerActive(t), pdFALSE);
    assert_int_equal(xTimerGetPeriod(t), 5);
    assert_int_equal(xTimerDelete(t, 0), pdPASS);
    /* The queries answer NULL with their neutral value, refused: the chip asserts. */
    StaticTimer_t *buffer = NULL;
    log_capture_begin();
    ASSERT_REFUSED(11, {
        assert_int_equal(xTimerIsTimerActive(NULL), pdFALSE);
        assert_null(pvTimerGetTimerID(NULL));
        vTimerSetTimerID(NULL, &seen);
        assert_null(pcTimerGetName(NULL));
        vTimerSetReloadMode(NULL, pdTRUE);
        assert_int_equal(xTimerGetReloadMode(NULL), pdFALSE);
        assert_int_equal(uxTimerGetReloadMode(NULL), 0);
        assert_int_equal(xTimerGetPeriod(NULL), 0);
        assert_int_equal(xTimerGetExpiryTime(NULL), 0);
        assert_int_equal(xTimerGetStaticBuffer(NULL, &buffer), pdFALSE);
        assert_int_equal(xTimerGetStaticBuffer(t, NULL), pdFALSE); /* (t deleted: NULL first) */
    });
    logged = log_capture_end();
    assert_non_null(strstr(logged, "vTimerSetReloadMode: no timer: refused (the chip asserts)"));
    assert_non_null(strstr(logged, "xTimerGetStaticBuffer: no place for the buffer: refused"));
    assert_null(buffer);
}

/* ---- the timer task -------------------------------------------------------------------------- */

static void the_timer_task_is_named_and_counted_from_boot_as_the_chip_starts_it_there(void **state)
{
    (void)state;
    TaskHandle_t task = xTimerGetTimerDaemonTaskHandle();
    assert_non_null(task);
    assert_ptr_equal(xTimerGetTimerDaemonTaskHandle(), task);
    assert_string_equal(pcTaskGetName(task), "Tmr Svc");
    /* configTIMER_TASK_PRIORITY, or the highest there is for 25 (tests/configs/limits.defaults),
     * as FreeRTOS lowers it */
    assert_int_equal(uxTaskPriorityGet(task), configTIMER_TASK_PRIORITY < configMAX_PRIORITIES
                                                  ? configTIMER_TASK_PRIORITY
                                                  : configMAX_PRIORITIES - 1);
    (void)xTaskGetCurrentTaskHandle();
    const UBaseType_t tasks = uxTaskGetNumberOfTasks();
    flush_timer_task(); /* it has run: counted once, from boot */
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks);
}

/* timers.c takes a NULL callback: a timer that never expires works. The expiry calls NULL on the
 * chip (a crash): here it is refused, counted and logged, and the timer task goes on. */
static void a_timer_without_a_callback_is_made_and_its_expiry_refused(void **state)
{
    (void)state;
    TimerHandle_t t = NULL;
    ASSERT_NOT_REFUSED(t = xTimerCreate("no callback", 1, pdFALSE, NULL, NULL));
    assert_non_null(t);
    assert_int_equal(xTimerChangePeriod(t, 2, 0), pdPASS); /* starts it */
    assert_int_equal(xTimerStop(t, 0), pdPASS);
    log_capture_begin();
    const uint64_t before = refused_calls();
    assert_int_equal(xTimerStart(t, 0), pdPASS);
    WAIT_FOR(refused_calls() != before);
    ASSERT_REFUSED_SINCE(before, 1);
    const char *logged = log_capture_end();
    assert_int_equal(xTimerIsTimerActive(t), pdFALSE); /* one-shot: dormant after its expiry */
    assert_non_null(strstr(logged, "timer \"no callback\" expired with no callback: refused"));
    seen_t seen = {0}; /* the timer task still serves the others */
    TimerHandle_t other = xTimerCreate("other", 1, pdFALSE, &seen, record);
    assert_int_equal(xTimerStart(other, 0), pdPASS);
    WAIT_FOR(atomic_load(&seen.calls) == 1);
    assert_int_equal(atomic_load(&seen.calls), 1);
    assert_int_equal(xTimerDelete(other, 0), pdPASS);
    assert_int_equal(xTimerDelete(t, 0), pdPASS);
}

/* Its high-water mark is measured against CONFIG_FREERTOS_TIMER_TASK_STACK_DEPTH (2048 bytes by
 * default), not the main task's 4 KB: room left is never more than the option gives. */
static void the_timer_tasks_stack_is_the_configured_depth(void **state)
{
    (void)state;
    flush_timer_task(); /* it has served a call */
    const UBaseType_t mark = uxTaskGetStackHighWaterMark(xTimerGetTimerDaemonTaskHandle());
#if !defined(TEST_ASAN) && !defined(TEST_TSAN) /* their frames can take the whole depth */
    assert_true(mark > 0);
#endif
    assert_true(mark <= configTIMER_TASK_STACK_DEPTH);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, boot, all_timers_gone)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(the_timer_tasks_stack_is_the_configured_depth),
        TEST(a_timer_is_one_40_byte_internal_block_and_a_static_one_none),
        TEST(a_timer_the_internal_heap_cannot_hold_is_not_created),
        TEST(a_one_shot_timer_calls_back_once_in_the_timer_task_already_dormant),
        TEST(an_auto_reload_timer_calls_back_each_period_until_stopped),
        TEST(the_expiry_is_a_period_after_the_start_and_a_reset_or_new_period_moves_it),
        TEST(timers_expire_in_the_order_of_their_expiry),
        TEST(timers_expiring_at_the_same_tick_run_in_the_order_they_were_started),
        TEST(an_auto_reload_timer_catches_up_the_periods_the_timer_task_missed),
        TEST(a_timer_deleted_in_its_own_callback_is_freed_after_it_returns),
        TEST(a_timer_deleted_by_a_task_while_its_callback_runs_is_freed_after_it_returns),
        TEST(pended_calls_run_in_order_and_a_full_queue_refuses_or_waits),
        TEST(the_fromisr_commands_work_in_a_simulated_isr),
        TEST(only_the_first_send_of_an_isr_asks_for_a_yield),
        TEST(bad_arguments_are_refused_and_logged),
        TEST(a_timer_without_a_callback_is_made_and_its_expiry_refused),
        TEST(the_timer_task_is_named_and_counted_from_boot_as_the_chip_starts_it_there),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
