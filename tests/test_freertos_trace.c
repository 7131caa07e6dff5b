/* test_freertos_trace.c - the host FreeRTOS's trace facility (CONFIG_FREERTOS_USE_TRACE_FACILITY and
 * the stats formatting functions): uxTaskGetSystemState(), vTaskGetInfo(), vTaskList(),
 * vTaskGetRunTimeStats(), the task numbers, the queues' numbers and types. Tasks report through
 * atomics (cmocka's asserts belong to the test's thread). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "esp_heap_caps.h"
#include "esp_timer.h"
#define KRAKEN_SIM_TRACE_FACILITY /* the calls, whatever this build's sdkconfig says */
#include "freertos/FreeRTOS.h"
#include "freertos/idf_additions.h"
#include "freertos/queue.h"
#include "freertos/semphr.h"
#include "freertos/stream_buffer.h"
#include "freertos/task.h"
#include "freertos/timers.h"
#include "kraken_sim.h"

#include "freertos_test_support.h"
#include "freertos_refusals.h"

#define STACK 4096u
#define INTERNAL (MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)

static int boot(void **state)
{
    (void)state;
    if (kraken_sim_init(KRAKEN_SIM_ESP32S3_N8R8) != ESP_OK) {
        return -1;
    }
    (void)xTaskGetCurrentTaskHandle(); /* this thread is a task (counted) from here on */
    return 0;
}

static _Atomic bool release;

/* Every task ended; after a failed test, its tasks are released first. */
static int tasks_gone(void **state)
{
    (void)state;
    atomic_store(&release, true);
    WAIT_FOR(uxTaskGetNumberOfTasks() == TASKS_AT_REST);
    static const char *const suspending[] = {"parked", "idle", "burner"};
    for (size_t i = 0; i < 3 && uxTaskGetNumberOfTasks() > TASKS_AT_REST; i++) {
        TaskHandle_t left = xTaskGetHandle(suspending[i]);
        if (left != NULL && eTaskGetState(left) == eSuspended) {
            vTaskResume(left);
        }
    }
    WAIT_FOR(uxTaskGetNumberOfTasks() == TASKS_AT_REST);
    return unasserted_refusals() == 0 && uxTaskGetNumberOfTasks() == TASKS_AT_REST ? 0 : -1;
}

/* ---- tasks in each state ----------------------------------------------------------------------- */

static void park(void *unused) /* suspended until resumed and released */
{
    (void)unused;
    do {
        vTaskSuspend(NULL);
    } while (!atomic_load(&release));
    vTaskDelete(NULL);
}

static void wait_long(void *unused) /* blocked until released */
{
    (void)unused;
    while (!atomic_load(&release)) {
        (void)ulTaskNotifyTake(pdTRUE, pdMS_TO_TICKS(50));
    }
    vTaskDelete(NULL);
}

static void spin(void *unused) /* ready: runs without a FreeRTOS call until released */
{
    (void)unused;
    while (!atomic_load(&release)) {
    }
    vTaskDelete(NULL);
}

typedef struct {
    TaskHandle_t parked, waiting, spinning;
} three_t;

static three_t start_three(void)
{
    three_t t = {0};
    atomic_store(&release, false);
    assert_int_equal(xTaskCreate(park, "parked", STACK, NULL, 3, &t.parked), pdPASS);
    assert_int_equal(xTaskCreate(wait_long, "waiting", STACK, NULL, 7, &t.waiting), pdPASS);
    assert_int_equal(xTaskCreate(spin, "spinning", STACK, NULL, 9, &t.spinning), pdPASS);
    WAIT_FOR(eTaskGetState(t.parked) == eSuspended && eTaskGetState(t.waiting) == eBlocked);
    assert_int_equal(eTaskGetState(t.parked), eSuspended);
    assert_int_equal(eTaskGetState(t.waiting), eBlocked);
    return t;
}

static void stop_three(const three_t *t)
{
    atomic_store(&release, true);
    vTaskResume(t->parked);
    (void)xTaskNotifyGive(t->waiting);
}

static const TaskStatus_t *status_of(const TaskStatus_t *all, UBaseType_t n, TaskHandle_t task)
{
    for (UBaseType_t i = 0; i < n; i++) {
        if (all[i].xHandle == task) {
            return &all[i];
        }
    }
    return NULL;
}

static void quiet(TimerHandle_t timer)
{
    (void)timer;
}

static void the_system_state_lists_every_task_in_freertos_order(void **state)
{
    (void)state;
    /* A timer: the timer task runs; it is listed as on the chip, and so is the esp_timer task. */
    TimerHandle_t timer = xTimerCreate("quiet", 1000, pdFALSE, NULL, quiet);
    assert_non_null(timer);
    const TaskHandle_t timers = xTimerGetTimerDaemonTaskHandle();
    assert_non_null(timers);
    WAIT_FOR(eTaskGetState(timers) == eBlocked); /* waiting for a command */
    const TaskHandle_t esp_timer_task = xTaskGetHandle("esp_timer");
    assert_non_null(esp_timer_task);
    const three_t t = start_three();
    TaskStatus_t all[8];
    assert_int_equal(uxTaskGetNumberOfTasks(), TASKS_AT_REST + 3);
    /* too small: nothing */
    assert_int_equal(uxTaskGetSystemState(all, TASKS_AT_REST + 2, NULL), 0);
    configRUN_TIME_COUNTER_TYPE total = UINT32_MAX;
    const UBaseType_t n = uxTaskGetSystemState(all, 8, &total);
    assert_int_equal(n, TASKS_AT_REST + 3);
    assert_true(total <= (configRUN_TIME_COUNTER_TYPE)esp_timer_get_time()); /* since boot */
    /* Ready and running by priority (spinning 9, this thread 1), then blocked (the newest first,
     * the timer task, from boot, last), then suspended (the esp_timer task, which waits for a
     * notification without end on the chip, last). */
    assert_ptr_equal(all[0].xHandle, t.spinning);
    assert_int_equal(all[0].eCurrentState, eReady);
    assert_ptr_equal(all[1].xHandle, xTaskGetCurrentTaskHandle());
    assert_int_equal(all[1].eCurrentState, eRunning);
    assert_ptr_equal(all[2].xHandle, t.waiting);
    assert_int_equal(all[2].eCurrentState, eBlocked);
    assert_ptr_equal(all[3].xHandle, timers);
    assert_int_equal(all[3].eCurrentState, eBlocked);
    assert_ptr_equal(all[4].xHandle, t.parked);
    assert_int_equal(all[4].eCurrentState, eSuspended);
    assert_ptr_equal(all[5].xHandle, esp_timer_task);
    assert_int_equal(all[5].eCurrentState, eSuspended);
    const TaskStatus_t *w = status_of(all, n, t.waiting);
    assert_string_equal(w->pcTaskName, "waiting");
    assert_int_equal(w->uxCurrentPriority, 7);
    assert_int_equal(w->uxBasePriority, 7);
    assert_ptr_equal(w->pxStackBase, xTaskGetStackStart(t.waiting));
    assert_int_equal(w->usStackHighWaterMark, uxTaskGetStackHighWaterMark(t.waiting));
    assert_true(w->usStackHighWaterMark > 0 && w->usStackHighWaterMark < STACK);
    /* Numbers: unique, in order of creation. */
    const UBaseType_t parked_no = status_of(all, n, t.parked)->xTaskNumber;
    assert_true(parked_no < w->xTaskNumber);
    assert_true(w->xTaskNumber < status_of(all, n, t.spinning)->xTaskNumber);
    /* The boot tasks: the chip's names, priorities and depths; numbered before the test's. */
    const TaskStatus_t *tmr = status_of(all, n, timers), *et = status_of(all, n, esp_timer_task);
    assert_string_equal(tmr->pcTaskName, CONFIG_FREERTOS_TIMER_SERVICE_TASK_NAME);
    assert_int_equal(tmr->uxCurrentPriority, uxTaskPriorityGet(timers));
    /* measured, as uxTaskGetStackHighWaterMark() (0 is possible under a sanitizer) */
    assert_true(tmr->usStackHighWaterMark < CONFIG_FREERTOS_TIMER_TASK_STACK_DEPTH);
    assert_non_null(tmr->pxStackBase); /* it has run: the host stack its mark is measured on */
    assert_string_equal(et->pcTaskName, "esp_timer");
    assert_int_equal(et->uxCurrentPriority, configMAX_PRIORITIES - 3);
    assert_true(tmr->xTaskNumber < parked_no && et->xTaskNumber < parked_no);
    assert_int_equal(uxTaskGetSystemState(NULL, 8, NULL), 0);
    stop_three(&t);
    assert_int_equal(xTimerDelete(timer, 0), pdPASS);
}

static void task_info_gives_one_task_and_takes_the_state_given(void **state)
{
    (void)state;
    const three_t t = start_three();
    TaskStatus_t s;
    vTaskGetInfo(t.waiting, &s, pdTRUE, eInvalid);
    assert_int_equal(s.eCurrentState, eBlocked);
    assert_int_equal(s.usStackHighWaterMark, uxTaskGetStackHighWaterMark(t.waiting));
    vTaskGetInfo(t.waiting, &s, pdFALSE, eSuspended);
    assert_int_equal(s.eCurrentState, eSuspended);
    assert_int_equal(s.usStackHighWaterMark, 0);
    vTaskGetInfo(NULL, &s, pdTRUE, eInvalid);
    assert_ptr_equal(s.xHandle, xTaskGetCurrentTaskHandle());
    assert_int_equal(s.eCurrentState, eRunning);
    vTaskGetInfo(NULL, &s, pdTRUE, eSuspended); /* the caller runs, whatever is given */
    assert_int_equal(s.eCurrentState, eRunning);
    ASSERT_REFUSED(1, vTaskGetInfo(t.waiting, NULL, pdTRUE, eInvalid)); /* refused, logged */
    ASSERT_REFUSED(1, vTaskList(NULL));
    ASSERT_REFUSED(1, vTaskGetRunTimeStats(NULL));
    assert_int_equal(uxTaskGetTaskNumber(t.parked), 0);
    vTaskSetTaskNumber(t.parked, 42);
    assert_int_equal(uxTaskGetTaskNumber(t.parked), 42);
    assert_int_equal(uxTaskGetTaskNumber(NULL), 0);
    stop_three(&t);
}

/* ---- the formatted tables ---------------------------------------------------------------------- */

#define NAME_WIDTH (configMAX_TASK_NAME_LEN - 1) /* FreeRTOS pads a name to this */

/* The start of a table row: the name padded as FreeRTOS pads it, a tab, then rest. */
static const char *row_start(const char *name, const char *rest)
{
    static char rows[3][128]; /* a few alive at once */
    static unsigned next;
    char *out = rows[next++ % 3];
    snprintf(out, sizeof rows[0], "%-*s\t%s", NAME_WIDTH, name, rest);
    return out;
}

static void the_task_list_is_freertos_table_from_a_passing_internal_array(void **state)
{
    (void)state;
    const three_t t = start_three();
    char text[1024];
    memset(text, 'x', sizeof text);
    const size_t internal = heap_caps_get_free_size(INTERNAL);
    vTaskList(text);
    assert_int_equal(heap_caps_get_free_size(INTERNAL), internal); /* the array is back */
    char line[128];
    TaskStatus_t all[8]; /* for the task's number */
    const UBaseType_t n = uxTaskGetSystemState(all, 8, NULL);
    snprintf(line, sizeof line, "%s%u\t%u%s\r\n", row_start("waiting", "B\t7\t"),
             (unsigned)uxTaskGetStackHighWaterMark(t.waiting),
             (unsigned)status_of(all, n, t.waiting)->xTaskNumber,
#ifdef CONFIG_FREERTOS_VTASKLIST_INCLUDE_COREID
             "\t-1"
#else
             ""
#endif
    );
    assert_non_null(strstr(text, line));
    assert_non_null(strstr(text, row_start("parked", "S\t3\t")));
    assert_non_null(strstr(text, row_start("spinning", "R\t9\t")));
    assert_ptr_equal(strstr(text, "spinning"), text); /* first, as in the system state */
    /* The boot tasks' rows: the esp_timer task waits for a notification without end (S). */
    snprintf(line, sizeof line, "%s", row_start("esp_timer", "S\t22\t"));
    assert_non_null(strstr(text, line));
    assert_non_null(strstr(text, row_start(CONFIG_FREERTOS_TIMER_SERVICE_TASK_NAME, "")));
    assert_int_equal(strlen(text), (size_t)(strrchr(text, '\n') - text) + 1);

    /* No internal RAM for the array: an empty table. */
    kraken_sim_fail_next(0, 1);
    vTaskList(text);
    assert_string_equal(text, "");
    kraken_sim_fault_clear();
    stop_three(&t);
}

static void burn_cpu_ms(long ms);

static void burn_20ms(void *unused)
{
    (void)unused;
    burn_cpu_ms(20);
    vTaskSuspend(NULL);
    vTaskDelete(NULL);
}

static void run_time_is_the_cpu_time_each_task_used(void **state)
{
    (void)state;
    TaskHandle_t burner = NULL, idle = NULL;
    assert_int_equal(xTaskCreate(burn_20ms, "burner", STACK, NULL, 5, &burner), pdPASS);
    assert_int_equal(xTaskCreate(park, "idle", STACK, NULL, 5, &idle), pdPASS);
    WAIT_FOR(eTaskGetState(burner) == eSuspended && eTaskGetState(idle) == eSuspended);
    TaskStatus_t all[8];
    configRUN_TIME_COUNTER_TYPE total = 0;
    const UBaseType_t n = uxTaskGetSystemState(all, 8, &total);
    const TaskStatus_t *b = status_of(all, n, burner), *i = status_of(all, n, idle);
    assert_true(b->ulRunTimeCounter >= 20000);
    assert_true(b->ulRunTimeCounter < 20000 + 500000); /* its CPU time, not the time since boot */
    assert_true(i->ulRunTimeCounter < b->ulRunTimeCounter);
    assert_true(total >= b->ulRunTimeCounter);

    char text[1024];
    const uint32_t before = (uint32_t)esp_timer_get_time();
    vTaskGetRunTimeStats(text);
    const uint32_t after = (uint32_t)esp_timer_get_time();
    const char *row = strstr(text, row_start("burner", ""));
    assert_non_null(row);
    unsigned counter = 0, percent = 0;
    char tail[8] = "";
    assert_int_equal(sscanf(row, "burner \t%u\t\t%7[^\r]", &counter, tail), 2);
    assert_true(counter >= 20000);
    /* The percent of the time since boot, read within the call: between these two. */
    const unsigned least = counter / (after / 100), most = counter / (before / 100);
    if (strcmp(tail, "<1%") == 0) {
        assert_int_equal(least, 0);
    } else {
        assert_int_equal(sscanf(tail, "%u%%", &percent), 1);
        assert_true(percent >= least && percent <= most && percent >= 1);
    }
    row = strstr(text, row_start("idle", "")); /* next to no CPU time */
    assert_non_null(row);
    assert_int_equal(sscanf(row, "idle \t%u\t\t%7[^\r]", &counter, tail), 2);
    assert_string_equal(tail, "<1%");
    vTaskResume(burner);
    vTaskResume(idle);
}

/* A thread that becomes a task late: its run time starts then. */
static void burn_cpu_ms(long ms)
{
    struct timespec start, now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
    do {
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) <
             ms * 1000000L);
}

static void *burn_then_ask(void *out)
{
    burn_cpu_ms(20);
    TaskStatus_t s;
    vTaskGetInfo(NULL, &s, pdFALSE, eInvalid); /* its first task call */
    *(configRUN_TIME_COUNTER_TYPE *)out = s.ulRunTimeCounter;
    return NULL;
}

static void a_threads_run_time_starts_when_it_becomes_a_task(void **state)
{
    (void)state;
    configRUN_TIME_COUNTER_TYPE counter = UINT32_MAX;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, burn_then_ask, &counter), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(counter < 10000);
}

/* In a simulated ISR every call is refused and writes nothing. */
static void the_calls_are_refused_in_an_isr(void **state)
{
    (void)state;
    TaskStatus_t all[4];
    memset(all, 0x5A, sizeof all);
    char text[256];
    memset(text, 'x', sizeof text);
    configRUN_TIME_COUNTER_TYPE total = 7;
    kraken_sim_isr_enter();
    ASSERT_REFUSED(1, assert_int_equal(uxTaskGetSystemState(all, 4, &total), 0));
    ASSERT_REFUSED(1, vTaskGetInfo(NULL, &all[0], pdTRUE, eInvalid));
    ASSERT_REFUSED(1, vTaskList(text));
    ASSERT_REFUSED(1, vTaskGetRunTimeStats(text));
    kraken_sim_isr_exit();
    assert_int_equal(total, 7);
    assert_int_equal(((const uint8_t *)all)[0], 0x5A);
    assert_int_equal(text[0], 'x');
}

/* Tasks that come and go while the table is written: every name written is a live task's
 * (under ASan, a freed one would be caught). */
static _Atomic bool churning;

static void come_and_go(void *unused)
{
    (void)unused;
    vTaskDelete(NULL);
}

static void make_tasks(void *unused)
{
    (void)unused;
    while (atomic_load(&churning)) {
        if (xTaskCreate(come_and_go, "brief", STACK, NULL, 5, NULL) != pdPASS) {
            vTaskDelay(1);
        }
    }
    vTaskDelete(NULL);
}

static void the_table_stays_whole_while_tasks_come_and_go(void **state)
{
    (void)state;
    atomic_store(&churning, true);
    assert_int_equal(xTaskCreate(make_tasks, "maker", STACK, NULL, 5, NULL), pdPASS);
    static char text[4096];
    /* The rows' starts: this thread's, the boot tasks' and the churning tasks'. */
    const char *const names[] = {pcTaskGetName(NULL), CONFIG_FREERTOS_TIMER_SERVICE_TASK_NAME,
                                 "esp_timer", "brief", "maker"};
    char rows[5][32];
    for (size_t i = 0; i < 5; i++) {
        snprintf(rows[i], sizeof rows[i], "%s", row_start(names[i], ""));
    }
    const size_t start = strlen(rows[0]);
    unsigned tables = 0;
    for (int i = 0; i < 300; i++) {
        vTaskList(text);
        tables += strstr(text, "maker") != NULL;
        for (const char *line = text; *line != '\0'; line = strchr(line, '\n') + 1) {
            size_t r = 0;
            while (r < 5 && strncmp(line, rows[r], start) != 0) {
                r++;
            }
            assert_true(r < 5);
        }
    }
    atomic_store(&churning, false);
    assert_true(tables > 0);
}

/* ---- waits without a timeout ---------------------------------------------------------------- */

static void take_for_ever(void *unused)
{
    (void)unused;
    (void)ulTaskNotifyTake(pdTRUE, portMAX_DELAY);
    vTaskDelete(NULL);
}

static void take_for_a_while(void *unused)
{
    (void)unused;
    (void)ulTaskNotifyTake(pdTRUE, pdMS_TO_TICKS(60000));
    vTaskDelete(NULL);
}

static void receive_bytes_for_ever(void *buffer)
{
    char byte;
    (void)xStreamBufferReceive(buffer, &byte, 1, portMAX_DELAY);
    vTaskDelete(NULL);
}

static void send_bytes_for_ever(void *full_buffer)
{
    (void)xStreamBufferSend(full_buffer, "y", 1, portMAX_DELAY);
    vTaskDelete(NULL);
}

static void receive_item_for_ever(void *queue)
{
    int item;
    (void)xQueueReceive(queue, &item, portMAX_DELAY);
    vTaskDelete(NULL);
}

static eTaskState listed_state(const TaskStatus_t *all, UBaseType_t n, TaskHandle_t task)
{
    const TaskStatus_t *s = status_of(all, n, task);
    assert_non_null(s);
    return s->eCurrentState;
}

/* FreeRTOS puts a task that waits without a timeout on its suspended list; vTaskGetInfo(), and so
 * the system state and vTaskList(), report it blocked only when it waits on an object's event
 * list (a queue): a notification wait, and a stream buffer's (a notification on the chip), show
 * as suspended there while eTaskGetState() says blocked. */
static void a_notification_wait_without_a_timeout_is_listed_suspended_as_freertos_files_it(
    void **state)
{
    (void)state;
    StreamBufferHandle_t buffer = xStreamBufferCreate(16, 1), full = xStreamBufferCreate(4, 1);
    QueueHandle_t queue = xQueueCreate(1, sizeof(int));
    assert_non_null(buffer);
    assert_non_null(full);
    assert_non_null(queue);
    assert_int_equal(xStreamBufferSend(full, "abcd", 4, 0), 4); /* a sender must wait for room */
    TaskHandle_t notified, timed, streamed, sending, queued;
    assert_int_equal(xTaskCreate(take_for_ever, "notified", STACK, NULL, 5, &notified), pdPASS);
    assert_int_equal(xTaskCreate(take_for_a_while, "timed", STACK, NULL, 5, &timed), pdPASS);
    assert_int_equal(xTaskCreate(receive_bytes_for_ever, "streamed", STACK, buffer, 5, &streamed),
                     pdPASS);
    assert_int_equal(xTaskCreate(send_bytes_for_ever, "sending", STACK, full, 5, &sending), pdPASS);
    assert_int_equal(xTaskCreate(receive_item_for_ever, "queued", STACK, queue, 5, &queued), pdPASS);
    const TaskHandle_t five[] = {notified, timed, streamed, sending, queued};
    for (size_t i = 0; i < 5; i++) {
        WAIT_FOR(eTaskGetState(five[i]) == eBlocked);
        assert_int_equal(eTaskGetState(five[i]), eBlocked);
    }
    TaskStatus_t all[8];
    const UBaseType_t n = uxTaskGetSystemState(all, 8, NULL);
    assert_int_equal(n, TASKS_AT_REST + 5);
    assert_int_equal(listed_state(all, n, notified), eSuspended);
    assert_int_equal(listed_state(all, n, streamed), eSuspended);
    assert_int_equal(listed_state(all, n, sending), eSuspended);
    assert_int_equal(listed_state(all, n, timed), eBlocked);
    assert_int_equal(listed_state(all, n, queued), eBlocked);
    /* Running and ready, then blocked (this thread, the timer task, timed, queued), then the
     * suspended ones (the esp_timer task too). */
    assert_int_not_equal(all[3].eCurrentState, eSuspended);
    assert_int_equal(all[4].eCurrentState, eSuspended);
    TaskStatus_t one;
    vTaskGetInfo(notified, &one, pdFALSE, eInvalid); /* eTaskGetState()'s answer */
    assert_int_equal(one.eCurrentState, eBlocked);
    char text[1024];
    vTaskList(text);
    assert_non_null(strstr(text, row_start("notified", "S\t5\t")));
    assert_non_null(strstr(text, row_start("streamed", "S\t5\t")));
    assert_non_null(strstr(text, row_start("timed", "B\t5\t")));
    assert_non_null(strstr(text, row_start("queued", "B\t5\t")));

    (void)xTaskNotifyGive(notified);
    (void)xTaskNotifyGive(timed);
    assert_int_equal(xStreamBufferSend(buffer, "x", 1, 0), 1);
    char four_bytes[4];
    assert_int_equal(xStreamBufferReceive(full, four_bytes, sizeof four_bytes, 0), 4);
    const int item = 1;
    assert_int_equal(xQueueSend(queue, &item, 0), pdPASS);
    WAIT_FOR(uxTaskGetNumberOfTasks() == TASKS_AT_REST);
    assert_int_equal(uxTaskGetNumberOfTasks(), TASKS_AT_REST);
    vStreamBufferDelete(buffer);
    vStreamBufferDelete(full);
    vQueueDelete(queue);
}

/* ---- queues --------------------------------------------------------------------------------- */

/* Each create marks its queue with the type queue.c gives it. */
static void a_queue_reads_the_type_it_was_made_with(void **state)
{
    (void)state;
    StaticQueue_t buffer;
    uint8_t storage[8];
    QueueHandle_t made[] = {
        xQueueCreate(2, 4),
        xQueueCreateStatic(2, 4, storage, &buffer),
        xQueueCreateWithCaps(2, 4, MALLOC_CAP_INTERNAL),
        xQueueCreateSet(2),
        xSemaphoreCreateMutex(),
        xSemaphoreCreateRecursiveMutex(),
        xSemaphoreCreateCounting(3, 0),
        xSemaphoreCreateBinary(),
        xSemaphoreCreateBinaryWithCaps(MALLOC_CAP_INTERNAL),
    };
    static const uint8_t type[] = {
        queueQUEUE_TYPE_BASE,
        queueQUEUE_TYPE_BASE,
        queueQUEUE_TYPE_BASE,
        queueQUEUE_TYPE_SET,
        queueQUEUE_TYPE_MUTEX,
        queueQUEUE_TYPE_RECURSIVE_MUTEX,
        queueQUEUE_TYPE_COUNTING_SEMAPHORE,
        queueQUEUE_TYPE_BINARY_SEMAPHORE,
        queueQUEUE_TYPE_BINARY_SEMAPHORE,
    };
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) {
        assert_non_null(made[i]);
        assert_int_equal(ucQueueGetQueueType(made[i]), type[i]);
        assert_int_equal(uxQueueGetQueueNumber(made[i]), 0);
        vQueueSetQueueNumber(made[i], 100 + i);
    }
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) {
        assert_int_equal(uxQueueGetQueueNumber(made[i]), 100 + i);
    }
    vQueueDeleteWithCaps(made[2]);
    vSemaphoreDeleteWithCaps(made[8]);
    for (size_t i = 0; i < 8; i++) {
        if (i != 2) {
            vQueueDelete(made[i]);
        }
    }
    ASSERT_REFUSED(3, {
        assert_int_equal(ucQueueGetQueueType(NULL), 0);
        assert_int_equal(uxQueueGetQueueNumber(NULL), 0);
        vQueueSetQueueNumber(NULL, 1);
    });
}

/* xQueueGenericCreate is xQueueCreate with a type for the tracer: one block of 84 + n * size bytes;
 * made with a semaphore's type and item size 0 it works as that semaphore (xSemaphoreCreateBinary
 * on the chip), made with a mutex's it is no mutex (no holder; it starts empty). */
static void the_generic_creates_make_queues_marked_with_their_type(void **state)
{
    (void)state;
    const size_t before = heap_caps_get_free_size(INTERNAL);
    QueueHandle_t q = xQueueGenericCreate(4, sizeof(int), queueQUEUE_TYPE_BASE);
    assert_non_null(q);
    assert_true(before - heap_caps_get_free_size(INTERNAL) >= 84 + 4 * sizeof(int));
    const int in = 7;
    int out = 0;
    assert_int_equal(xQueueSend(q, &in, 0), pdPASS);
    assert_int_equal(xQueueReceive(q, &out, 0), pdPASS);
    assert_int_equal(out, 7);
    vQueueDelete(q);
    assert_int_equal(heap_caps_get_free_size(INTERNAL), before);

    QueueHandle_t binary = xQueueGenericCreate(1, 0, queueQUEUE_TYPE_BINARY_SEMAPHORE);
    assert_int_equal(ucQueueGetQueueType(binary), queueQUEUE_TYPE_BINARY_SEMAPHORE);
    assert_int_equal(xSemaphoreTake(binary, 0), pdFALSE);
    assert_int_equal(xSemaphoreGive(binary), pdTRUE);
    assert_int_equal(xSemaphoreGive(binary), pdFALSE); /* one at most */
    assert_int_equal(xSemaphoreTake(binary, 0), pdTRUE);
    vSemaphoreDelete(binary);

    StaticQueue_t buffer;
    QueueHandle_t not_a_mutex =
        xQueueGenericCreateStatic(1, 0, NULL, &buffer, queueQUEUE_TYPE_MUTEX);
    assert_non_null(not_a_mutex);
    assert_int_equal(ucQueueGetQueueType(not_a_mutex), queueQUEUE_TYPE_MUTEX);
    assert_int_equal(xSemaphoreTake(not_a_mutex, 0), pdFALSE); /* a mutex is made given */
    assert_int_equal(xSemaphoreGive(not_a_mutex), pdTRUE);     /* by a task that holds none */
    assert_null(xSemaphoreGetMutexHolder(not_a_mutex));
    vQueueDelete(not_a_mutex);
    assert_int_equal(heap_caps_get_free_size(INTERNAL), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(the_system_state_lists_every_task_in_freertos_order, boot,
                                        tasks_gone),
        cmocka_unit_test_setup_teardown(task_info_gives_one_task_and_takes_the_state_given, boot,
                                        tasks_gone),
        cmocka_unit_test_setup_teardown(
            the_task_list_is_freertos_table_from_a_passing_internal_array, boot, tasks_gone),
        cmocka_unit_test_setup_teardown(run_time_is_the_cpu_time_each_task_used, boot, tasks_gone),
        cmocka_unit_test_setup_teardown(the_table_stays_whole_while_tasks_come_and_go, boot,
                                        tasks_gone),
        cmocka_unit_test_setup_teardown(a_threads_run_time_starts_when_it_becomes_a_task, boot,
                                        tasks_gone),
        cmocka_unit_test_setup_teardown(the_calls_are_refused_in_an_isr, boot, tasks_gone),
        cmocka_unit_test_setup_teardown(
            a_notification_wait_without_a_timeout_is_listed_suspended_as_freertos_files_it, boot,
            tasks_gone),
        cmocka_unit_test_setup_teardown(a_queue_reads_the_type_it_was_made_with, boot, tasks_gone),
        cmocka_unit_test_setup_teardown(the_generic_creates_make_queues_marked_with_their_type,
                                        boot, tasks_gone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
