/* test_freertos_task_queries.c - the host FreeRTOS's task queries that task-monitoring firmware
 * uses: uxTaskGetStackHighWaterMark(), xTaskGetHandle(), xTaskAbortDelay(), xTaskGetStackStart().
 * Tasks report through atomics (cmocka's asserts belong to the test's thread). */
#define _POSIX_C_SOURCE 200809L /* capture_output.h */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "esp_heap_caps.h"
#include "esp_memory_utils.h"
#include "esp_log.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "freertos/idf_additions.h"
#include "freertos/queue.h"
#include "freertos/semphr.h"
#include "freertos/stream_buffer.h"
#include "freertos/task.h"
#include "freertos/timers.h"
#include "kraken_sim.h"

#include "capture_output.h" /* after esp_log.h: its log capture */
#include "freertos_test_support.h"
#include "freertos_refusals.h"
#include "test_sanitizers.h"

#define STACK 4096u

static int boot(void **state)
{
    (void)state;
    return kraken_sim_init(KRAKEN_SIM_ESP32S3_N8R8) == ESP_OK ? 0 : -1;
}

/* ---- the chip's boot tasks -------------------------------------------------------------------- */

/* The timer task's priority: FreeRTOS lowers one of configMAX_PRIORITIES or more. */
#define TIMER_TASK_PRIORITY                                                                        \
    (CONFIG_FREERTOS_TIMER_TASK_PRIORITY < configMAX_PRIORITIES                                   \
         ? CONFIG_FREERTOS_TIMER_TASK_PRIORITY                                                     \
         : configMAX_PRIORITIES - 1)
/* The esp_timer task's depth (esp_task.h's ESP_TASK_TIMER_STACK, newlib's full printf format). */
#define ESP_TIMER_DEPTH (CONFIG_ESP_TIMER_TASK_STACK_SIZE + 512)

static _Atomic(TaskHandle_t) callback_task;
static _Atomic UBaseType_t callback_tasks_seen;
static _Atomic bool go_on;

/* An esp_timer callback: notes its task, then works until told to go on. */
static void note_the_task(void *arg)
{
    (void)arg;
    atomic_store(&callback_tasks_seen, uxTaskGetNumberOfTasks());
    atomic_store(&callback_task, xTaskGetCurrentTaskHandle());
    while (!atomic_load(&go_on)) {
    }
}

static _Atomic bool pended_started;

static void work_until_told(void *unused, uint32_t also)
{
    (void)unused;
    (void)also;
    atomic_store(&pended_started, true);
    while (!atomic_load(&go_on)) {
    }
}

static void never_called(void *arg)
{
    (void)arg;
}

/* First in this program: the timer task has not started yet. The chip starts its timer task and
 * its esp_timer task at boot; the host counts them from boot, with the chip's names, priorities,
 * cores and depths, and their threads become them when they start. */
static void the_boot_tasks_the_host_runs_are_counted_and_found_from_boot(void **state)
{
    (void)state;
    assert_int_equal(uxTaskGetNumberOfTasks(), BOOT_TASKS); /* this thread is no task yet */
    assert_non_null(xTaskGetCurrentTaskHandle());
    assert_int_equal(uxTaskGetNumberOfTasks(), TASKS_AT_REST);
    const TaskHandle_t timers = xTaskGetHandle(CONFIG_FREERTOS_TIMER_SERVICE_TASK_NAME);
    assert_non_null(timers);
    assert_int_equal(uxTaskPriorityGet(timers), TIMER_TASK_PRIORITY);
    assert_int_equal(xTaskGetCoreID(timers),
                     (BaseType_t)CONFIG_FREERTOS_TIMER_SERVICE_TASK_CORE_AFFINITY);
    assert_int_equal(eTaskGetState(timers), eBlocked); /* on its command queue */
    assert_int_equal(uxTaskGetStackHighWaterMark(timers), CONFIG_FREERTOS_TIMER_TASK_STACK_DEPTH);
    assert_null(xTaskGetStackStart(timers)); /* not run yet */
    /* Static on the chip (vApplicationGetTimerTaskMemory): its TCB buffer, no stack yet here. */
    StackType_t not_written[1];
    StackType_t *stack = not_written;
    StaticTask_t *tcb = NULL;
    assert_int_equal(xTaskGetStaticBuffers(timers, &stack, &tcb), pdTRUE);
    assert_null(stack);
    assert_non_null(tcb);
    /* Its thread, started by the first timer call, is that task. */
    assert_ptr_equal(xTimerGetTimerDaemonTaskHandle(), timers);
    assert_true(becomes_blocked(timers));
    StaticTask_t *same_tcb = NULL;
    assert_int_equal(xTaskGetStaticBuffers(timers, &stack, &same_tcb), pdTRUE);
    assert_ptr_equal(same_tcb, tcb);
    assert_non_null(stack);
    assert_ptr_equal(stack, xTaskGetStackStart(timers));
    assert_int_equal(uxTaskGetNumberOfTasks(), TASKS_AT_REST);
    const UBaseType_t mark = uxTaskGetStackHighWaterMark(timers);
    assert_true(mark < CONFIG_FREERTOS_TIMER_TASK_STACK_DEPTH); /* it has run: measured */
#if !defined(TEST_ASAN) && !defined(TEST_TSAN)
    assert_true(mark > 0);
#endif
    assert_non_null(xTaskGetStackStart(timers));
    /* Serving a call, it is ready (running on the chip), not blocked. */
    atomic_store(&go_on, false);
    assert_int_equal(xTimerPendFunctionCall(work_until_told, NULL, 0, 0), pdPASS);
    WAIT_FOR(atomic_load(&pended_started));
    assert_int_equal(eTaskGetState(timers), eReady);
    atomic_store(&go_on, true);
    assert_true(becomes_blocked(timers));

    const TaskHandle_t esp_timer_task = xTaskGetHandle("esp_timer");
    assert_non_null(esp_timer_task);
    assert_int_equal(uxTaskPriorityGet(esp_timer_task), configMAX_PRIORITIES - 3);
    assert_int_equal(xTaskGetCoreID(esp_timer_task), (BaseType_t)CONFIG_ESP_TIMER_TASK_AFFINITY);
    /* esp_timer callbacks run in it: a callback's task is it, and no other is counted */
    esp_timer_handle_t timer = NULL, later = NULL;
    const esp_timer_create_args_t args = {.callback = note_the_task, .name = "note"};
    const esp_timer_create_args_t later_args = {.callback = never_called, .name = "later"};
    assert_int_equal(esp_timer_create(&args, &timer), ESP_OK);
    assert_int_equal(esp_timer_create(&later_args, &later), ESP_OK);
    atomic_store(&go_on, false);
    assert_int_equal(esp_timer_start_once(timer, 50 * 1000), ESP_OK); /* waited for: blocked */
    WAIT_FOR(atomic_load(&callback_task) != NULL);
    assert_ptr_equal(atomic_load(&callback_task), esp_timer_task);
    assert_int_equal(atomic_load(&callback_tasks_seen), TASKS_AT_REST);
    assert_int_equal(eTaskGetState(esp_timer_task), eReady); /* in the callback */
    atomic_store(&go_on, true);
    WAIT_FOR(eTaskGetState(esp_timer_task) == eBlocked); /* nothing armed */
    assert_int_equal(eTaskGetState(esp_timer_task), eBlocked);
    assert_true(uxTaskGetStackHighWaterMark(esp_timer_task) < ESP_TIMER_DEPTH);
    /* After a callback, waiting for the next alarm is blocked too (on the chip, for the alarm's
     * notification). */
    atomic_store(&callback_task, NULL);
    atomic_store(&go_on, false);
    assert_int_equal(esp_timer_start_once(timer, 1000), ESP_OK);
    WAIT_FOR(atomic_load(&callback_task) != NULL);
    assert_int_equal(esp_timer_start_once(later, 60 * 1000 * 1000), ESP_OK);
    atomic_store(&go_on, true);
    assert_true(becomes_blocked(esp_timer_task));
    assert_int_equal(esp_timer_stop(later), ESP_OK);
    /* A start only sets the alarm (on the chip the task wakes when one is due): it stays blocked,
     * then waiting for the alarm. Every read says so, for 2 ms after each of 60 starts from each
     * of the host thread's two waits, with nothing armed and for an alarm (the thread wakes at
     * each to take the new deadline; a ready mark while it does, a few hundred nanoseconds, was
     * caught in half of the runs of 20 rounds). A callback that has run leaves nothing armed. */
    esp_timer_handle_t latest = NULL;
    assert_int_equal(esp_timer_create(&later_args, &latest), ESP_OK);
    for (int round = 0; round < 60; round++) {
        atomic_store(&callback_task, NULL);
        assert_int_equal(esp_timer_start_once(timer, 100), ESP_OK);
        WAIT_FOR(atomic_load(&callback_task) != NULL);
        assert_true(becomes_blocked(esp_timer_task));
        for (int start = 0; start < 2; start++) {
            assert_int_equal(esp_timer_start_once(start == 0 ? later : latest, 60 * 1000 * 1000),
                             ESP_OK);
            for (const int64_t end = esp_timer_get_time() + 2000; esp_timer_get_time() < end;) {
                assert_int_equal(eTaskGetState(esp_timer_task), eBlocked);
            }
        }
        assert_int_equal(esp_timer_stop(later), ESP_OK);
        assert_int_equal(esp_timer_stop(latest), ESP_OK);
    }
    assert_int_equal(esp_timer_delete(latest), ESP_OK);
    assert_int_equal(esp_timer_delete(later), ESP_OK);
    assert_int_equal(esp_timer_delete(timer), ESP_OK);
    assert_int_equal(uxTaskGetNumberOfTasks(), TASKS_AT_REST);
}

static _Atomic int pended_runs;

static void delete_the_caller(void *unused, uint32_t also)
{
    (void)unused;
    (void)also;
    vTaskDelete(NULL); /* the timer task itself: refused, it goes on */
    atomic_fetch_add(&pended_runs, 1);
}

/* Deleting a boot task the host runs is refused (logged: the host's timers need its thread); the
 * chip would delete it, and its timers would stop. */
static void a_boot_task_the_host_runs_is_not_deleted(void **state)
{
    (void)state;
    const TaskHandle_t timers = xTimerGetTimerDaemonTaskHandle();
    log_capture_begin();
    ASSERT_NOT_REFUSED(vTaskDelete(timers));
    ASSERT_NOT_REFUSED(vTaskDelete(xTaskGetHandle("esp_timer")));
    assert_int_equal(xTimerPendFunctionCall(delete_the_caller, NULL, 0, 0), pdPASS);
    WAIT_FOR(atomic_load(&pended_runs) == 1);
    assert_int_equal(xTimerPendFunctionCall(delete_the_caller, NULL, 0, 0), pdPASS);
    WAIT_FOR(atomic_load(&pended_runs) == 2); /* it still serves */
    const char *log = log_capture_end();
    assert_int_equal(atomic_load(&pended_runs), 2);
    char line[96];
    snprintf(line, sizeof line, "vTaskDelete(\"%s\"): a service task the chip starts at boot: "
             "refused", CONFIG_FREERTOS_TIMER_SERVICE_TASK_NAME);
    assert_non_null(strstr(log, line));
    assert_non_null(strstr(log, "vTaskDelete(\"esp_timer\"): a service task"));
    assert_ptr_equal(xTaskGetHandle(CONFIG_FREERTOS_TIMER_SERVICE_TASK_NAME), timers);
    assert_int_equal(uxTaskGetNumberOfTasks(), TASKS_AT_REST);
}

/* ---- uxTaskGetStackHighWaterMark -------------------------------------------------------------- */

static _Atomic UBaseType_t mark_at_start, mark_after_use;
static _Atomic bool measured;

static __attribute__((noinline)) unsigned use_stack(size_t bytes)
{
    volatile uint8_t buffer[2048];
    const size_t n = bytes < sizeof buffer ? bytes : sizeof buffer;
    for (size_t i = 0; i < n; i++) {
        buffer[i] = (uint8_t)i;
    }
    return buffer[n / 2];
}

/* Writes `bytes` of stack below the caller's frame. */
static __attribute__((noinline)) unsigned fill_stack(size_t bytes)
{
    volatile uint8_t buffer[bytes];
    for (size_t i = 0; i < bytes; i++) {
        buffer[i] = (uint8_t)i;
    }
    return buffer[bytes / 2];
}

static void measure_own_stack(void *arg)
{
    (void)arg;
    atomic_store(&mark_at_start, uxTaskGetStackHighWaterMark(NULL));
    (void)use_stack(2048);
    atomic_store(&mark_after_use, uxTaskGetStackHighWaterMark(NULL));
    atomic_store(&measured, true);
    vTaskSuspend(NULL); /* stays alive: the test reads its mark from outside */
}

static void a_task_that_uses_more_stack_has_less_left_within_its_depth(void **state)
{
    (void)state;
    atomic_store(&measured, false);
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(measure_own_stack, "measure", STACK, NULL, 5, &task), pdPASS);
    WAIT_FOR(atomic_load(&measured));
    assert_true(atomic_load(&measured));
    const UBaseType_t start = atomic_load(&mark_at_start), after = atomic_load(&mark_after_use);
    assert_true(start > 0);
    assert_true(start < STACK); /* its entry's frames are in use */
    assert_true(after < start);
    assert_true(after + 2048 <= STACK); /* the 2 KiB buffer is below the entry's frames */
    /* Read from another task: the lowest so far (its suspension went deeper), never back up. */
    WAIT_FOR(eTaskGetState(task) == eSuspended);
    const UBaseType_t outside = uxTaskGetStackHighWaterMark(task);
    assert_true(outside > 0);
    assert_true(outside <= after);
    assert_int_equal(uxTaskGetStackHighWaterMark(task), outside);
    vTaskDelete(task);
}

static void a_task_deeper_than_its_stack_reads_0(void **state)
{
    (void)state;
    atomic_store(&measured, false);
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(measure_own_stack, "tiny", 1024, NULL, 5, &task), pdPASS);
    WAIT_FOR(atomic_load(&measured));
    assert_true(atomic_load(&measured));
    assert_int_equal(atomic_load(&mark_after_use), 0); /* a 2 KiB buffer on a 1 KiB stack */
    vTaskDelete(task);
}

/* A thread not made by xTaskCreate*() is measured from its first FreeRTOS call down, over ESP-IDF's
 * main task depth: CONFIG_ESP_MAIN_TASK_STACK_SIZE and the 512 bytes esp_task.h adds (newlib's full
 * printf format, ESP-IDF's default). */
#define MAIN_TASK_DEPTH (CONFIG_ESP_MAIN_TASK_STACK_SIZE + 512)
static void *plain_thread(void *arg)
{
    UBaseType_t *marks = arg;
    marks[0] = uxTaskGetStackHighWaterMark(NULL); /* its first call */
    (void)use_stack(1024);
    marks[1] = uxTaskGetStackHighWaterMark(NULL);
    (void)fill_stack(CONFIG_ESP_MAIN_TASK_STACK_SIZE + 256); /* into the 512 bytes, not past them */
    marks[2] = uxTaskGetStackHighWaterMark(NULL);
    vTaskDelete(NULL); /* its record goes */
    return NULL;
}

static void a_thread_not_made_by_xtaskcreate_is_measured_against_the_main_tasks_depth(void **state)
{
    (void)state;
    UBaseType_t marks[3] = {0, 0, 0};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, plain_thread, marks), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_true(marks[0] > MAIN_TASK_DEPTH - 2048); /* its first call used little of it */
    assert_true(marks[0] <= MAIN_TASK_DEPTH);
    assert_true(marks[1] < marks[0]);
#if !defined(TEST_ASAN) && !defined(TEST_TSAN) /* their frames and redzones take the 256 bytes */
    assert_true(marks[2] > 0); /* the configured size and more fit (0: the depth was passed) */
    assert_true(marks[2] < 512);
#endif
}

/* The process's main thread is "main" (the test's thread: see test_freertos_host.c), on the main
 * task's core (CONFIG_ESP_MAIN_TASK_AFFINITY); another thread not made by xTaskCreate*() keeps no
 * name and no core. */
typedef struct {
    char name[configMAX_TASK_NAME_LEN];
    BaseType_t core;
} plain_seen_t;

static void *name_of_a_plain_thread(void *arg)
{
    plain_seen_t *seen = arg;
    snprintf(seen->name, sizeof seen->name, "%s", pcTaskGetName(NULL));
    seen->core = xTaskGetCoreID(NULL);
    vTaskDelete(NULL);
    return NULL;
}

static void only_the_main_thread_is_named_main(void **state)
{
    (void)state;
    plain_seen_t seen = {.name = "unset", .core = 5};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, name_of_a_plain_thread, &seen), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_string_equal(seen.name, "");
    assert_int_equal(seen.core, tskNO_AFFINITY);
    assert_string_equal(pcTaskGetName(NULL), "main");
    assert_int_equal(xTaskGetCoreID(NULL), (BaseType_t)CONFIG_ESP_MAIN_TASK_AFFINITY);
    /* app_main's task: ESP_TASK_MAIN_PRIO, and its stack is measured over the main task depth */
    assert_int_equal(uxTaskPriorityGet(NULL), 1);
    const UBaseType_t mark = uxTaskGetStackHighWaterMark(NULL);
    assert_true(mark <= MAIN_TASK_DEPTH);
#if !defined(TEST_ASAN) && !defined(TEST_TSAN) /* their frames can take the whole depth */
    assert_true(mark > 0);
#endif
}

/* ---- xTaskGetHandle ----------------------------------------------------------------------------- */

static void park(void *arg)
{
    (void)arg;
    vTaskSuspend(NULL);
}

static void tasks_are_found_by_name_until_deleted(void **state)
{
    (void)state;
    TaskHandle_t a = NULL, b = NULL;
    assert_int_equal(xTaskCreate(park, "alpha", STACK, NULL, 5, &a), pdPASS);
    assert_int_equal(xTaskCreate(park, "beta", STACK, NULL, 5, &b), pdPASS);
    assert_ptr_equal(xTaskGetHandle("alpha"), a);
    assert_ptr_equal(xTaskGetHandle("beta"), b);
    assert_null(xTaskGetHandle("gamma"));
    assert_null(xTaskGetHandle("alph")); /* the whole name */
    vTaskDelete(a);
    assert_null(xTaskGetHandle("alpha"));
    assert_ptr_equal(xTaskGetHandle("beta"), b);
    vTaskDelete(b);
    assert_null(xTaskGetHandle("beta"));
    /* The timer task, which the chip starts at boot (counted from boot, as on the chip). */
    TaskHandle_t timers = xTimerGetTimerDaemonTaskHandle();
    assert_non_null(timers);
    assert_ptr_equal(xTaskGetHandle("Tmr Svc"), timers);
}

static void a_long_name_is_found_by_its_stored_prefix_and_bad_queries_are_refused(void **state)
{
    (void)state;
    TaskHandle_t t = NULL;
    /* The name is kept as its first configMAX_TASK_NAME_LEN - 1 characters. */
    static const char name[] = "a_very_long_task_name_indeed";
    _Static_assert(sizeof name > configMAX_TASK_NAME_LEN + 1, "a name that is cut");
    char kept[configMAX_TASK_NAME_LEN], too_long[configMAX_TASK_NAME_LEN + 1];
    memcpy(kept, name, sizeof kept - 1);
    kept[sizeof kept - 1] = '\0';
    memcpy(too_long, name, sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    assert_int_equal(xTaskCreate(park, name, STACK, NULL, 5, &t), pdPASS);
    assert_ptr_equal(xTaskGetHandle(kept), t);
    log_capture_begin();
    /* configMAX_TASK_NAME_LEN characters: the chip asserts */
    ASSERT_REFUSED(1, assert_null(xTaskGetHandle(too_long)));
    ASSERT_REFUSED(1, assert_null(xTaskGetHandle(NULL)));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "a name of configMAX_TASK_NAME_LEN or more: refused"));
    assert_non_null(strstr(logged, "no name: refused"));
    vTaskDelete(t);
}

/* ---- xTaskAbortDelay ---------------------------------------------------------------------------- */

static _Atomic int wait_result;
static _Atomic bool waited;

static _Atomic int second_delay;
static _Atomic bool first_delay_over;

static void delay_long(void *arg)
{
    (void)arg;
    TickType_t before = xTaskGetTickCount();
    vTaskDelay(portMAX_DELAY - 1);
    atomic_store(&wait_result, (int)(xTaskGetTickCount() - before));
    atomic_store(&first_delay_over, true);
    /* The abort ended that wait only: this one sleeps through notifications, as any delay. */
    before = xTaskGetTickCount();
    vTaskDelay(20);
    atomic_store(&second_delay, (int)(xTaskGetTickCount() - before));
    atomic_store(&waited, true);
    vTaskSuspend(NULL);
}

static void receive_for_ever(void *arg)
{
    uint32_t item = 0;
    atomic_store(&wait_result, xQueueReceive(arg, &item, portMAX_DELAY));
    atomic_store(&waited, true);
    vTaskSuspend(NULL);
}

static void take_notification_for_ever(void *arg)
{
    (void)arg;
    atomic_store(&wait_result, (int)ulTaskNotifyTake(pdTRUE, portMAX_DELAY));
    atomic_store(&waited, true);
    vTaskSuspend(NULL);
}

static void wait_for_bits_for_ever(void *arg)
{
    atomic_store(&wait_result, (int)xEventGroupWaitBits(arg, 1, pdTRUE, pdTRUE, portMAX_DELAY));
    atomic_store(&waited, true);
    vTaskSuspend(NULL);
}

/* Starts fn(arg), lets it block, aborts its wait: true when the abort returned pdPASS and the
 * task's call returned; the call's result in wait_result. */
static bool abort_wait_of(TaskFunction_t fn, void *arg)
{
    atomic_store(&waited, false);
    atomic_store(&first_delay_over, false);
    atomic_store(&wait_result, -1);
    TaskHandle_t t = NULL;
    if (xTaskCreate(fn, "waiter", STACK, arg, 5, &t) != pdPASS || !becomes_blocked(t)) {
        return false;
    }
    const BaseType_t aborted = xTaskAbortDelay(t);
    if (fn == delay_long) { /* notifications during its second delay */
        WAIT_FOR(atomic_load(&first_delay_over) && eTaskGetState(t) == eBlocked);
        for (int i = 0; i < 3 && !atomic_load(&waited); i++) {
            xTaskNotifyGive(t);
            vTaskDelay(2);
        }
    }
    WAIT_FOR(atomic_load(&waited));
    const bool ok = aborted == pdPASS && atomic_load(&waited);
    WAIT_FOR(eTaskGetState(t) == eSuspended);
    vTaskDelete(t);
    return ok;
}

static void an_aborted_wait_returns_as_if_it_had_timed_out(void **state)
{
    (void)state;
    assert_true(abort_wait_of(delay_long, NULL));
    assert_true(atomic_load(&wait_result) < (int)PATIENCE_TICKS); /* the delay ended early */
    assert_true(atomic_load(&second_delay) >= 19); /* n - 1 tick periods at least */

    QueueHandle_t q = xQueueCreate(1, sizeof(uint32_t));
    assert_non_null(q);
    assert_true(abort_wait_of(receive_for_ever, q));
    assert_int_equal(atomic_load(&wait_result), pdFALSE); /* errQUEUE_EMPTY */
    assert_int_equal(uxQueueMessagesWaiting(q), 0);
    vQueueDelete(q);

    assert_true(abort_wait_of(take_notification_for_ever, NULL));
    assert_int_equal(atomic_load(&wait_result), 0); /* no notification */

    EventGroupHandle_t g = xEventGroupCreate();
    assert_non_null(g);
    assert_true(abort_wait_of(wait_for_bits_for_ever, g));
    assert_int_equal(atomic_load(&wait_result), 0); /* the bits then */
    vEventGroupDelete(g);
}

/* Only a blocked task: not a suspended or a ready one, and once per wait. */
static void only_a_blocked_task_can_have_its_wait_aborted(void **state)
{
    (void)state;
    TaskHandle_t t = NULL;
    assert_int_equal(xTaskCreate(park, "parked", STACK, NULL, 5, &t), pdPASS);
    WAIT_FOR(eTaskGetState(t) == eSuspended);
    assert_int_equal(xTaskAbortDelay(t), pdFAIL);
    assert_int_equal(eTaskGetState(t), eSuspended);
    vTaskDelete(t);
    assert_int_equal(xTaskAbortDelay(xTaskGetCurrentTaskHandle()), pdFAIL); /* running */
    ASSERT_REFUSED(1, assert_int_equal(xTaskAbortDelay(NULL), pdFAIL));

    /* A waiter sharing the queue with the aborted one waits on, and gets the next item. */
    QueueHandle_t q = xQueueCreate(1, sizeof(uint32_t));
    assert_non_null(q);
    atomic_store(&waited, false);
    TaskHandle_t other = NULL;
    assert_int_equal(xTaskCreate(receive_for_ever, "other", STACK, q, 5, &other), pdPASS);
    assert_true(becomes_blocked(other));
    assert_true(abort_wait_of(receive_for_ever, q));
    atomic_store(&waited, false);
    assert_int_equal(eTaskGetState(other), eBlocked);
    const uint32_t item = 7;
    assert_int_equal(xQueueSend(q, &item, 0), pdPASS);
    WAIT_FOR(atomic_load(&waited));
    assert_int_equal(atomic_load(&wait_result), pdTRUE);
    WAIT_FOR(eTaskGetState(other) == eSuspended);
    vTaskDelete(other);
    vQueueDelete(q);
}

static QueueHandle_t aborted_queue;
static _Atomic bool abort_over;

/* Its first wait is aborted; its second, a send that waits for room for all six bytes, must not
 * take the abort for its own. */
static void aborted_then_send_six(void *arg)
{
    uint32_t item = 0;
    (void)xQueueReceive(aborted_queue, &item, portMAX_DELAY);
    atomic_store(&abort_over, true);
    static const uint8_t six[6] = {1, 2, 3, 4, 5, 6};
    atomic_store(&wait_result, (int)xStreamBufferSend(arg, six, sizeof six, portMAX_DELAY));
    vTaskSuspend(NULL);
}

static void an_abort_ends_one_wait_not_the_next(void **state)
{
    (void)state;
    atomic_store(&abort_over, false);
    atomic_store(&wait_result, -1);
    aborted_queue = xQueueCreate(1, sizeof(uint32_t));
    StreamBufferHandle_t sb = xStreamBufferCreate(10, 1);
    assert_non_null(aborted_queue);
    assert_non_null(sb);
    uint8_t bytes[16] = {0};
    const size_t fill = xStreamBufferSpacesAvailable(sb) - 2; /* two bytes of room left */
    assert_int_equal(xStreamBufferSend(sb, bytes, fill, 0), fill);
    TaskHandle_t t = NULL;
    assert_int_equal(xTaskCreate(aborted_then_send_six, "aborted", STACK, sb, 5, &t), pdPASS);
    assert_true(becomes_blocked(t));
    assert_int_equal(xTaskAbortDelay(t), pdPASS);
    WAIT_FOR(atomic_load(&abort_over) && eTaskGetState(t) == eBlocked); /* on the send */
    /* Room for four: woken (ready at once), it waits on, without returning. */
    assert_int_equal(xStreamBufferReceive(sb, bytes, 2, 0), 2);
    assert_true(becomes_blocked(t));
    assert_int_equal(atomic_load(&wait_result), -1);
    assert_int_equal(xStreamBufferReceive(sb, bytes, sizeof bytes, 0), fill - 2);
    WAIT_FOR(atomic_load(&wait_result) != -1);
    assert_int_equal(atomic_load(&wait_result), 6);
    WAIT_FOR(eTaskGetState(t) == eSuspended);
    vTaskDelete(t);
    vStreamBufferDelete(sb);
    vQueueDelete(aborted_queue);
}

/* ---- xTaskGetStackStart ------------------------------------------------------------------------- */

static void the_stack_start_is_the_tasks_stack_block_or_buffer(void **state)
{
    (void)state;
    TaskHandle_t t = NULL;
    assert_int_equal(xTaskCreateWithCaps(park, "caps", STACK, NULL, 5, &t, MALLOC_CAP_INTERNAL),
                     pdPASS);
    StackType_t *start = xTaskGetStackStart(t);
    assert_non_null(start);
    assert_true(heap_caps_get_allocated_size(start) >= STACK); /* its block */
    assert_ptr_equal(pxTaskGetStackStart(t), start);
    vTaskDeleteWithCaps(t);

    static StackType_t buffer[STACK];
    static StaticTask_t tcb;
    t = xTaskCreateStatic(park, "static", STACK, NULL, 5, buffer, &tcb);
    assert_non_null(t);
    assert_ptr_equal(xTaskGetStackStart(t), buffer);
    vTaskDelete(t);
    /* The test's thread ("main"): the host stack its high-water mark is measured on, below
     * here (the chip's main task has a heap block). */
    uint8_t here;
    StackType_t *main_start = xTaskGetStackStart(NULL);
    assert_non_null(main_start);
    assert_true((uintptr_t)main_start < (uintptr_t)&here);
}

/* ---- the idle tasks, the current task per core ---------------------------------------------------- */

/* What a task pinned to core 1 sees (written by it, read once it is suspended). */
static _Atomic(TaskHandle_t) seen_idle, seen_current_1, seen_current_0;
static _Atomic bool seen;

static void look_from_core_1(void *arg)
{
    (void)arg;
    atomic_store(&seen_idle, xTaskGetIdleTaskHandle());
    atomic_store(&seen_current_1, xTaskGetCurrentTaskHandleForCore(1));
    atomic_store(&seen_current_0, xTaskGetCurrentTaskHandleForCore(0));
    atomic_store(&seen, true);
    vTaskSuspend(NULL);
}

static void the_idle_tasks_answer_queries_as_the_chips_and_refuse_misuse(void **state)
{
    (void)state;
    const UBaseType_t tasks = uxTaskGetNumberOfTasks();
    TaskHandle_t idle0 = xTaskGetIdleTaskHandleForCore(0), idle1 = xTaskGetIdleTaskHandleForCore(1);
    assert_non_null(idle0);
    assert_non_null(idle1);
    assert_ptr_not_equal(idle0, idle1);
    /* the test's thread: the main task's core (core 0 unless pinned to 1) */
    assert_ptr_equal(xTaskGetIdleTaskHandle(), CONFIG_ESP_MAIN_TASK_AFFINITY == 1 ? idle1 : idle0);
    assert_string_equal(pcTaskGetName(idle0), "IDLE0");
    assert_string_equal(pcTaskGetName(idle1), "IDLE1");
    assert_int_equal(uxTaskPriorityGet(idle1), tskIDLE_PRIORITY);
    assert_int_equal(xTaskGetCoreID(idle0), 0);
    assert_int_equal(xTaskGetCoreID(idle1), 1);
    assert_int_equal(eTaskGetState(idle1), eReady);
    assert_int_equal(uxTaskGetStackHighWaterMark(idle0), configMINIMAL_STACK_SIZE);
    assert_ptr_equal(xTaskGetHandle("IDLE1"), idle1);
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks); /* booted with the chip: not counted */

    /* Misuse: refused, logged, nothing changes. */
    log_capture_begin();
    ASSERT_REFUSED(1, vTaskDelete(idle0));
    ASSERT_REFUSED(1, vTaskDeleteWithCaps(idle0));
    ASSERT_REFUSED(1, vTaskSuspend(idle1));
    ASSERT_REFUSED(1, vTaskPrioritySet(idle0, 5));
    ASSERT_REFUSED(1, assert_null(xTaskGetIdleTaskHandleForCore(2)));
    ASSERT_REFUSED(1, assert_null(xTaskGetIdleTaskHandleForCore(-1)));
    const char *log = log_capture_end();
    assert_non_null(strstr(log, "vTaskDelete(\"IDLE0\"): an idle task: refused"));
    assert_non_null(strstr(log, "vTaskDeleteWithCaps(\"IDLE0\"): an idle task: refused"));
    assert_non_null(strstr(log, "vTaskSuspend(\"IDLE1\"): an idle task: refused"));
    assert_non_null(strstr(log, "vTaskPrioritySet(\"IDLE0\", 5): an idle task: refused"));
    assert_non_null(strstr(log, "xTaskGetIdleTaskHandleForCore(2): no such core: refused"));
    assert_non_null(strstr(log, "xTaskGetIdleTaskHandleForCore(-1): no such core: refused"));
    assert_int_equal(eTaskGetState(idle0), eReady);
    assert_int_equal(eTaskGetState(idle1), eReady);
    assert_int_equal(uxTaskPriorityGet(idle0), 0);
    assert_ptr_equal(xTaskGetHandle("IDLE0"), idle0);
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks);
}

static void the_current_task_of_a_core_is_the_caller_on_its_own_and_the_idle_task_elsewhere(
    void **state)
{
    (void)state;
    TaskHandle_t idle0 = xTaskGetIdleTaskHandleForCore(0), idle1 = xTaskGetIdleTaskHandleForCore(1);
    assert_ptr_equal(xTaskGetCurrentTaskHandleForCore(0), xTaskGetCurrentTaskHandle());
    assert_ptr_equal(xTaskGetCurrentTaskHandleForCore(1), idle1);
    log_capture_begin();
    ASSERT_REFUSED(1, assert_null(xTaskGetCurrentTaskHandleForCore(2)));
    assert_non_null(strstr(log_capture_end(), "xTaskGetCurrentTaskHandleForCore(2): no such core"));

    atomic_store(&seen, false);
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreatePinnedToCore(look_from_core_1, "core1", STACK, NULL, 5, &task, 1),
                     pdPASS);
    WAIT_FOR(atomic_load(&seen));
    assert_true(atomic_load(&seen));
    assert_ptr_equal(atomic_load(&seen_idle), idle1);
    assert_ptr_equal(atomic_load(&seen_current_1), task);
    assert_ptr_equal(atomic_load(&seen_current_0), idle0);
    vTaskDelete(task);
}

/* ---- xTaskGetStaticBuffers, uxTaskPriorityGetFromISR ------------------------------------------------ */

static void static_withcaps_and_chip_static_boot_tasks_give_their_buffers_dynamic_ones_not(void **state)
{
    (void)state;
    static StackType_t buffer[STACK];
    static StaticTask_t tcb;
    TaskHandle_t t = xTaskCreateStatic(park, "static", STACK, NULL, 5, buffer, &tcb);
    assert_non_null(t);
    StackType_t *stack = NULL;
    StaticTask_t *task_buffer = NULL;
    assert_int_equal(xTaskGetStaticBuffers(t, &stack, &task_buffer), pdTRUE);
    assert_ptr_equal(stack, buffer);
    assert_ptr_equal(task_buffer, &tcb);
    log_capture_begin();
    ASSERT_REFUSED(1, assert_int_equal(xTaskGetStaticBuffers(t, NULL, &task_buffer), pdFALSE));
    ASSERT_REFUSED(1, assert_int_equal(xTaskGetStaticBuffers(t, &stack, NULL), pdFALSE));
    const char *log = log_capture_end();
    assert_non_null(strstr(log, "xTaskGetStaticBuffers: no place for the stack buffer: refused"));
    assert_non_null(strstr(log, "xTaskGetStaticBuffers: no place for the task buffer: refused"));
    vTaskDelete(t);

    /* Made by xTaskCreateWithCaps (a static task on the chip): its stack and TCB blocks, which
     * ESP-IDF's vTaskDeleteWithCaps frees through this call. */
    assert_int_equal(xTaskCreateWithCaps(park, "caps", STACK, NULL, 5, &t, MALLOC_CAP_INTERNAL),
                     pdPASS);
    stack = NULL;
    task_buffer = NULL;
    assert_int_equal(xTaskGetStaticBuffers(t, &stack, &task_buffer), pdTRUE);
    assert_ptr_equal(stack, xTaskGetStackStart(t));
    assert_true(heap_caps_get_allocated_size(task_buffer) >= KRAKEN_SIM_TCB_BYTES);
    assert_true(esp_ptr_internal(task_buffer));
    vTaskDeleteWithCaps(t);

    /* Dynamic: pdFALSE, nothing written. */
    assert_int_equal(xTaskCreate(park, "dynamic", STACK, NULL, 5, &t), pdPASS);
    stack = buffer;
    task_buffer = &tcb;
    assert_int_equal(xTaskGetStaticBuffers(t, &stack, &task_buffer), pdFALSE);
    assert_ptr_equal(stack, buffer);
    assert_ptr_equal(task_buffer, &tcb);
    vTaskDelete(t);
    assert_int_equal(xTaskGetStaticBuffers(NULL, &stack, &task_buffer), pdFALSE); /* the caller */
    /* ESP-IDF creates its esp_timer task dynamically (esp_timer.c), so also pdFALSE... */
    assert_int_equal(xTaskGetStaticBuffers(xTaskGetHandle("esp_timer"), &stack, &task_buffer),
                     pdFALSE);
    assert_ptr_equal(stack, buffer);
    assert_ptr_equal(task_buffer, &tcb);
    /* ...and its idle tasks statically (vApplicationGetIdleTaskMemory): a TCB buffer each, no
     * stack on the host (xTaskGetStackStart's NULL). */
    StaticTask_t *idle_buffers[configNUMBER_OF_CORES];
    for (BaseType_t core = 0; core < configNUMBER_OF_CORES; core++) {
        const TaskHandle_t idle = xTaskGetIdleTaskHandleForCore(core);
        stack = buffer;
        idle_buffers[core] = NULL;
        assert_int_equal(xTaskGetStaticBuffers(idle, &stack, &idle_buffers[core]), pdTRUE);
        assert_ptr_equal(stack, xTaskGetStackStart(idle));
        assert_non_null(idle_buffers[core]);
        assert_ptr_not_equal(idle_buffers[core], &tcb);
    }
    if (configNUMBER_OF_CORES > 1) {
        assert_ptr_not_equal(idle_buffers[0], idle_buffers[configNUMBER_OF_CORES - 1]);
    }
    /* The timer task's is its own (the first test checks its answer). */
    StaticTask_t *timer_buffer = NULL;
    assert_int_equal(
        xTaskGetStaticBuffers(xTimerGetTimerDaemonTaskHandle(), &stack, &timer_buffer), pdTRUE);
    for (BaseType_t core = 0; core < configNUMBER_OF_CORES; core++) {
        assert_ptr_not_equal(timer_buffer, idle_buffers[core]);
    }
}

static void an_isr_reads_a_tasks_priority_and_the_interrupted_tasks(void **state)
{
    (void)state;
    TaskHandle_t t = NULL;
    assert_int_equal(xTaskCreate(park, "seven", STACK, NULL, 7, &t), pdPASS);
    const UBaseType_t mine = uxTaskPriorityGet(NULL);
    kraken_sim_isr_enter();
    const UBaseType_t its = uxTaskPriorityGetFromISR(t), interrupted = uxTaskPriorityGetFromISR(NULL);
    kraken_sim_isr_exit();
    assert_int_equal(its, 7);
    assert_int_equal(interrupted, mine);
    vTaskDelete(t);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, boot, tasks_at_rest)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(the_boot_tasks_the_host_runs_are_counted_and_found_from_boot), /* first */
        TEST(a_boot_task_the_host_runs_is_not_deleted),
        TEST(a_task_that_uses_more_stack_has_less_left_within_its_depth),
        TEST(a_task_deeper_than_its_stack_reads_0),
        TEST(a_thread_not_made_by_xtaskcreate_is_measured_against_the_main_tasks_depth),
        TEST(only_the_main_thread_is_named_main),
        TEST(tasks_are_found_by_name_until_deleted),
        TEST(a_long_name_is_found_by_its_stored_prefix_and_bad_queries_are_refused),
        TEST(an_aborted_wait_returns_as_if_it_had_timed_out),
        TEST(only_a_blocked_task_can_have_its_wait_aborted),
        TEST(an_abort_ends_one_wait_not_the_next),
        TEST(the_stack_start_is_the_tasks_stack_block_or_buffer),
        TEST(the_idle_tasks_answer_queries_as_the_chips_and_refuse_misuse),
        TEST(the_current_task_of_a_core_is_the_caller_on_its_own_and_the_idle_task_elsewhere),
        TEST(static_withcaps_and_chip_static_boot_tasks_give_their_buffers_dynamic_ones_not),
        TEST(an_isr_reads_a_tasks_priority_and_the_interrupted_tasks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
