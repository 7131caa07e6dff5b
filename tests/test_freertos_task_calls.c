/* test_freertos_task_calls.c - the host FreeRTOS's notification arrays (the ...Indexed and
 * ...Generic calls, state and value clearing, notify-and-query), thread-local storage pointers and
 * their deletion callbacks, the application task tag, scheduler suspension and the timeout
 * helpers. Tasks report through atomics (cmocka's asserts belong to the test's thread). Several
 * indices are tested when the build has them (tests/configs/alternate.defaults: 3), the deletion
 * callbacks when the build enables them (the default), the tag when it has it
 * (tests/configs/menuconfig-mix.defaults). */
#define _POSIX_C_SOURCE 200809L
#define KRAKEN_SIM_TRACE_FACILITY /* vTaskGetInfo, whatever the options */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#include <cmocka.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/idf_additions.h"
#include "freertos/queue.h"
#include "freertos/task.h"
#include "freertos/timers.h"
#include "kraken_sim.h"

#include "capture_output.h" /* after esp_log.h: its log capture */
#include "freertos_test_support.h"
#include "freertos_refusals.h"

#define STACK 4096u
#define INTERNAL (MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)
#define ENTRIES configTASK_NOTIFICATION_ARRAY_ENTRIES

static size_t internal_at_setup;

static int boot(void **state)
{
    (void)state;
    if (kraken_sim_init(KRAKEN_SIM_ESP32S3_N8R8) != ESP_OK) {
        return -1;
    }
    TaskHandle_t me = xTaskGetCurrentTaskHandle(); /* this thread is a task from here on */
    for (UBaseType_t i = 0; i < ENTRIES; i++) {   /* nothing left from a test before */
        (void)xTaskGenericNotifyStateClear(me, i);
        (void)ulTaskGenericNotifyValueClear(me, i, UINT32_MAX);
    }
    internal_at_setup = heap_caps_get_free_size(INTERNAL);
    return 0;
}

/* Every task ended and its memory back; the scheduler not left suspended. */
static int all_back(void **state)
{
    (void)state;
    WAIT_FOR(uxTaskGetNumberOfTasks() == TASKS_AT_REST);
    const bool ok = unasserted_refusals() == 0 && uxTaskGetNumberOfTasks() == TASKS_AT_REST &&
                    heap_caps_get_free_size(INTERNAL) == internal_at_setup &&
                    xTaskGetSchedulerState() == taskSCHEDULER_RUNNING;
    return ok ? 0 : -1;
}

/* ---- notification arrays ----------------------------------------------------------------------- */

static void the_calls_without_an_index_use_index_0(void **state)
{
    (void)state;
    TaskHandle_t me = xTaskGetCurrentTaskHandle();
    assert_int_equal(xTaskNotify(me, 0x11, eSetValueWithOverwrite), pdPASS);
    uint32_t value = 0;
    assert_int_equal(xTaskNotifyWaitIndexed(0, 0, UINT32_MAX, &value, 0), pdTRUE);
    assert_int_equal(value, 0x11);
    assert_int_equal(xTaskNotifyGiveIndexed(me, 0), pdPASS);
    assert_int_equal(ulTaskNotifyTake(pdTRUE, 0), 1);
    assert_int_equal(xTaskNotifyGive(me), pdPASS);
    assert_int_equal(ulTaskNotifyTakeIndexed(0, pdTRUE, 0), 1);
}

#if ENTRIES >= 3
static void each_index_has_its_own_value_and_state(void **state)
{
    (void)state;
    TaskHandle_t me = xTaskGetCurrentTaskHandle();
    assert_int_equal(xTaskNotifyIndexed(me, 1, 5, eSetValueWithOverwrite), pdPASS);
    assert_int_equal(xTaskNotifyIndexed(me, 2, 0x30, eSetBits), pdPASS);
    uint32_t value = 99;
    assert_int_equal(xTaskNotifyWait(0, 0, &value, 0), pdFALSE); /* nothing on index 0 */
    assert_int_equal(value, 0);
    /* Index 1 pending: a second value without overwrite fails there, not on index 2's... */
    assert_int_equal(xTaskNotifyIndexed(me, 1, 6, eSetValueWithoutOverwrite), pdFAIL);
    assert_int_equal(xTaskNotifyWaitIndexed(2, 0, 0x10, &value, 0), pdTRUE);
    assert_int_equal(value, 0x30);
    assert_int_equal(xTaskNotifyIndexed(me, 2, 7, eSetValueWithoutOverwrite), pdPASS);
    /* ... and each keeps its own value. */
    assert_int_equal(ulTaskNotifyTakeIndexed(1, pdFALSE, 0), 5);
    assert_int_equal(ulTaskNotifyTakeIndexed(1, pdTRUE, 0), 4); /* decremented, then cleared */
    assert_int_equal(ulTaskNotifyTakeIndexed(1, pdTRUE, 0), 0);
    assert_int_equal(ulTaskNotifyTakeIndexed(2, pdTRUE, 0), 7);

    /* Querying and clearing on entry look at their own index only. */
    uint32_t previous = 0;
    assert_int_equal(xTaskNotify(me, 0x1, eSetValueWithOverwrite), pdPASS); /* index 0 pending */
    assert_int_equal(xTaskNotifyAndQueryIndexed(me, 2, 0x0F, eSetValueWithOverwrite, &previous),
                     pdPASS);
    assert_int_equal(previous, 0); /* index 2's, not index 0's */
    assert_int_equal(xTaskNotifyStateClearIndexed(me, 2), pdPASS); /* 0x0F stays, not pending */
    assert_int_equal(xTaskNotifyWaitIndexed(2, 0xFF, 0, &value, 0), pdFALSE);
    assert_int_equal(value, 0); /* cleared on entry: nothing was pending on index 2 */
    assert_int_equal(ulTaskNotifyTake(pdTRUE, 0), 0x1);
}

static _Atomic uint32_t got;
static _Atomic int waited; /* 1 while the waiter waits, 2 once it returned */

static void wait_on_index_2(void *unused)
{
    (void)unused;
    uint32_t value = 0;
    atomic_store(&waited, 1);
    const BaseType_t r = xTaskNotifyWaitIndexed(2, 0, UINT32_MAX, &value, PATIENCE_TICKS);
    atomic_store(&got, r == pdTRUE ? value : 0);
    atomic_store(&waited, 2);
    vTaskDelete(NULL);
}

static void take_on_index_2(void *unused)
{
    (void)unused;
    atomic_store(&waited, 1);
    atomic_store(&got, ulTaskNotifyTakeIndexed(2, pdTRUE, PATIENCE_TICKS));
    atomic_store(&waited, 2);
    vTaskDelete(NULL);
}

/* Starts waiter_code, waiting on index 2; a notification (from an ISR) on index `other` leaves it
 * waiting, one on index 2 with `value` wakes it, and it got `expected`. */
static void wakes_only_on_index_2(TaskFunction_t waiter_code, UBaseType_t other, uint32_t value,
                                  eNotifyAction action, uint32_t expected)
{
    TaskHandle_t waiter = NULL;
    atomic_store(&waited, 0);
    assert_int_equal(xTaskCreate(waiter_code, "waiter", STACK, NULL, 5, &waiter), pdPASS);
    WAIT_FOR(atomic_load(&waited) == 1 && eTaskGetState(waiter) == eBlocked);
    assert_int_equal(eTaskGetState(waiter), eBlocked);

    BaseType_t woken = pdFALSE;
    kraken_sim_isr_enter();
    assert_int_equal(xTaskNotifyIndexedFromISR(waiter, other, value, action, &woken), pdPASS);
    kraken_sim_isr_exit();
    assert_int_equal(woken, pdFALSE); /* it waits on index 2 */
    vTaskDelay(3);
    assert_int_equal(atomic_load(&waited), 1);

    kraken_sim_isr_enter();
    assert_int_equal(xTaskNotifyIndexedFromISR(waiter, 2, value, action, &woken), pdPASS);
    kraken_sim_isr_exit();
    assert_int_equal(woken, pdTRUE);
    WAIT_FOR(atomic_load(&waited) == 2);
    assert_int_equal(atomic_load(&got), expected);
}

static void a_notification_wakes_a_task_only_on_the_index_it_waits_on(void **state)
{
    (void)state;
    wakes_only_on_index_2(wait_on_index_2, 1, 0xB, eSetValueWithOverwrite, 0xB);
}

static void a_take_wakes_only_on_its_index(void **state)
{
    (void)state;
    wakes_only_on_index_2(take_on_index_2, 0, 0, eIncrement, 1);
}
#endif

static void an_index_out_of_range_is_refused_and_logged_with_nothing_changed(void **state)
{
    (void)state;
    TaskHandle_t me = xTaskGetCurrentTaskHandle();
    assert_int_equal(xTaskNotify(me, 3, eSetValueWithOverwrite), pdPASS);
    uint32_t previous = 77, value = 77;
    BaseType_t woken = pdFALSE;
    log_capture_begin();
    ASSERT_REFUSED(1,
        assert_int_equal(xTaskGenericNotify(me, ENTRIES, 1, eSetBits, &previous), pdFAIL));
    kraken_sim_isr_enter();
    ASSERT_REFUSED(1,
        assert_int_equal(xTaskGenericNotifyFromISR(me, ENTRIES, 1, eSetBits, &previous, &woken), pdFAIL));
    ASSERT_REFUSED(1, vTaskGenericNotifyGiveFromISR(me, ENTRIES, &woken));
    kraken_sim_isr_exit();
    ASSERT_REFUSED(1, assert_int_equal(ulTaskGenericNotifyTake(ENTRIES, pdTRUE, 0), 0));
    ASSERT_REFUSED(1, assert_int_equal(xTaskGenericNotifyWait(ENTRIES, 0, 0, &value, 0), pdFALSE));
    ASSERT_REFUSED(1, assert_int_equal(xTaskGenericNotifyStateClear(me, ENTRIES), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(ulTaskGenericNotifyValueClear(me, ENTRIES, UINT32_MAX), 0));
    const char *logged = log_capture_end();
    static const char *const refusing[] = {"xTaskGenericNotify",      "xTaskGenericNotifyFromISR",
                                           "ulTaskGenericNotifyTake", "xTaskGenericNotifyWait",
                                           "xTaskGenericNotifyStateClear",
                                           "ulTaskGenericNotifyValueClear",
                                           "vTaskGenericNotifyGiveFromISR"};
    for (size_t i = 0; i < sizeof refusing / sizeof refusing[0]; i++) {
        char line[128];
        snprintf(line, sizeof line, "%s: index %u of %u notification values: refused", refusing[i],
                 (unsigned)ENTRIES, (unsigned)ENTRIES);
        assert_non_null(strstr(logged, line));
    }
    assert_int_equal(previous, 77);
    assert_int_equal(value, 77);
    assert_int_equal(woken, pdFALSE);
    /* Index 0 as it was: pending, 3. */
    assert_int_equal(xTaskNotifyWait(0, 0, &value, 0), pdTRUE);
    assert_int_equal(value, 3);
}

static void notify_and_query_gives_the_value_before_the_action(void **state)
{
    (void)state;
    TaskHandle_t me = xTaskGetCurrentTaskHandle();
    uint32_t previous = 99;
    assert_int_equal(xTaskNotifyAndQuery(me, 0x3, eSetBits, &previous), pdPASS);
    assert_int_equal(previous, 0);
    assert_int_equal(xTaskNotifyAndQuery(me, 0, eIncrement, &previous), pdPASS);
    assert_int_equal(previous, 0x3);
    BaseType_t woken = pdFALSE;
    kraken_sim_isr_enter();
    assert_int_equal(xTaskNotifyAndQueryFromISR(me, 9, eSetValueWithoutOverwrite, &previous, &woken),
                     pdFAIL); /* pending: refused, but the value before is still given */
    kraken_sim_isr_exit();
    assert_int_equal(previous, 0x4);
    assert_int_equal(xTaskNotifyAndQueryIndexed(me, 0, 0x10, eSetValueWithOverwrite, &previous),
                     pdPASS);
    assert_int_equal(previous, 0x4);
    assert_int_equal(ulTaskNotifyTake(pdTRUE, 0), 0x10);
}

static void state_clear_drops_a_pending_notification_and_keeps_the_value(void **state)
{
    (void)state;
    TaskHandle_t me = xTaskGetCurrentTaskHandle();
    assert_int_equal(xTaskNotifyStateClear(NULL), pdFAIL); /* none pending */
    assert_int_equal(xTaskNotify(me, 7, eSetValueWithOverwrite), pdPASS);
    assert_int_equal(xTaskNotifyStateClear(me), pdPASS);
    assert_int_equal(xTaskNotifyStateClearIndexed(NULL, 0), pdFAIL); /* dropped already */
    uint32_t value = 0;
    assert_int_equal(xTaskNotifyWait(0, 0, &value, 0), pdFALSE); /* nothing pending any more */
    assert_int_equal(value, 7);                                    /* the value stays */
    /* Not pending: a value without overwrite is taken again. */
    assert_int_equal(xTaskNotify(me, 8, eSetValueWithoutOverwrite), pdPASS);
    assert_int_equal(ulTaskNotifyTake(pdTRUE, 0), 8);
}

static void value_clear_clears_bits_keeps_the_state_and_returns_the_value_before(void **state)
{
    (void)state;
    TaskHandle_t me = xTaskGetCurrentTaskHandle();
    assert_int_equal(xTaskNotify(me, 0xF0, eSetValueWithOverwrite), pdPASS);
    assert_int_equal(ulTaskNotifyValueClear(NULL, 0x30), 0xF0);
    assert_int_equal(ulTaskNotifyValueClearIndexed(me, 0, 0), 0xC0); /* 0: a plain read */
    uint32_t value = 0;
    assert_int_equal(xTaskNotifyWait(0, 0, &value, 0), pdTRUE); /* still pending */
    assert_int_equal(value, 0xC0);
    assert_int_equal(ulTaskNotifyValueClear(me, UINT32_MAX), 0xC0);
    assert_int_equal(ulTaskNotifyValueClear(me, 0), 0);
}

/* ---- thread-local storage pointers ------------------------------------------------------------- */

static _Atomic(void *) other_tls;
static _Atomic bool other_may_end;

static void keep_own_pointer(void *value)
{
    vTaskSetThreadLocalStoragePointer(NULL, 0, value);
    atomic_store(&other_tls, pvTaskGetThreadLocalStoragePointer(NULL, 0));
    while (!atomic_load(&other_may_end)) {
        vTaskDelay(1);
    }
    vTaskDelete(NULL);
}

static void thread_local_storage_pointers_are_each_tasks_own(void **state)
{
    (void)state;
    static int mine, theirs;
    TaskHandle_t me = xTaskGetCurrentTaskHandle(), other = NULL;
    atomic_store(&other_tls, NULL);
    atomic_store(&other_may_end, false);
    vTaskSetThreadLocalStoragePointer(NULL, 0, &mine);
    assert_int_equal(xTaskCreate(keep_own_pointer, "tls", STACK, &theirs, 5, &other), pdPASS);
    WAIT_FOR(atomic_load(&other_tls) != NULL);
    assert_ptr_equal(atomic_load(&other_tls), &theirs);
    assert_ptr_equal(pvTaskGetThreadLocalStoragePointer(other, 0), &theirs);
    assert_ptr_equal(pvTaskGetThreadLocalStoragePointer(me, 0), &mine);
    assert_ptr_equal(pvTaskGetThreadLocalStoragePointer(NULL, 0), &mine);
    /* Set through the handle, read by the task itself. */
    vTaskSetThreadLocalStoragePointer(other, 0, &mine);
    assert_ptr_equal(pvTaskGetThreadLocalStoragePointer(other, 0), &mine);
    atomic_store(&other_may_end, true);

    /* Out of range, as FreeRTOS: ignored by the set, NULL from the get. */
    const BaseType_t last = configNUM_THREAD_LOCAL_STORAGE_POINTERS - 1;
    vTaskSetThreadLocalStoragePointer(NULL, last, &theirs);
    assert_ptr_equal(pvTaskGetThreadLocalStoragePointer(NULL, last), &theirs);
    vTaskSetThreadLocalStoragePointer(NULL, last + 1, &theirs);
    vTaskSetThreadLocalStoragePointer(NULL, -1, &theirs);
    assert_null(pvTaskGetThreadLocalStoragePointer(NULL, last + 1));
    assert_null(pvTaskGetThreadLocalStoragePointer(NULL, -1));
    assert_ptr_equal(pvTaskGetThreadLocalStoragePointer(NULL, 0), &mine);
    vTaskSetThreadLocalStoragePointer(NULL, last, NULL);
    vTaskSetThreadLocalStoragePointer(NULL, 0, NULL);
}

#ifdef CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS
#define POINTERS CONFIG_FREERTOS_THREAD_LOCAL_STORAGE_POINTERS

static _Atomic int calls;
static _Atomic int called_index;
static _Atomic(void *) called_value;
static _Atomic(TaskHandle_t) called_in;
static _Atomic size_t free_in_callback; /* internal free bytes when the callback ran */

static void release_block(int index, void *value)
{
    atomic_store(&called_index, index);
    atomic_store(&called_value, value);
    atomic_store(&called_in, xTaskGetCurrentTaskHandle());
    heap_caps_free(value);
    atomic_store(&free_in_callback, heap_caps_get_free_size(INTERNAL));
    /* last: a test that waits for the count sees every figure, and the block back, before it
     * returns; else the callback of a task that ends on its own thread could free it during the
     * teardown's count of the heap, or the next test's boot */
    atomic_fetch_add(&calls, 1);
}

static _Atomic bool holder_ready;
static _Atomic bool keep_busy; /* hold_block_busily() runs while it is true */

/* Its last pointer: a heap block, freed by the callback. */
static void keep_block(void)
{
    void *block = heap_caps_malloc(64, INTERNAL);
    vTaskSetThreadLocalStoragePointerAndDelCallback(NULL, POINTERS - 1, block, release_block);
    vTaskSetThreadLocalStoragePointerAndDelCallback(NULL, POINTERS, block, release_block); /* out */
    atomic_store(&holder_ready, true);
}

/* Keeps a block; deletes itself when asked (arg non-NULL), else waits, suspended, to be deleted. */
static void hold_block(void *delete_itself)
{
    keep_block();
    if (delete_itself != NULL) {
        vTaskDelete(NULL);
    }
    for (;;) {
        vTaskSuspend(NULL);
    }
}

/* Keeps a block and runs, with no FreeRTOS call, while keep_busy; then delays (a task deleted
 * meanwhile ends there). */
static void hold_block_busily(void *unused)
{
    (void)unused;
    keep_block();
    while (atomic_load(&keep_busy)) {
        sched_yield();
    }
    for (;;) {
        vTaskDelay(1);
    }
}

/* Starts hold_block() and waits until it is suspended: its code runs no more. */
static TaskHandle_t suspended_holder(void)
{
    TaskHandle_t holder = NULL;
    assert_int_equal(xTaskCreate(hold_block, "holder", STACK, NULL, 5, &holder), pdPASS);
    WAIT_FOR(atomic_load(&holder_ready) && eTaskGetState(holder) == eSuspended);
    assert_int_equal(eTaskGetState(holder), eSuspended);
    return holder;
}

static void reset_calls(void)
{
    atomic_store(&calls, 0);
    atomic_store(&called_index, -1);
    atomic_store(&called_value, NULL);
    atomic_store(&called_in, NULL);
    atomic_store(&holder_ready, false);
}

static void a_deletion_callback_gets_its_pointer_before_the_task_memory_goes(void **state)
{
    (void)state;
    reset_calls();
    TaskHandle_t holder = suspended_holder();
    void *block = pvTaskGetThreadLocalStoragePointer(holder, POINTERS - 1);
    assert_non_null(block);
    assert_int_equal(atomic_load(&calls), 0);

    vTaskDelete(holder);
    assert_int_equal(atomic_load(&calls), 1); /* once, for the one index that has a callback */
    assert_int_equal(atomic_load(&called_index), POINTERS - 1);
    assert_ptr_equal(atomic_load(&called_value), block);
    assert_ptr_equal(atomic_load(&called_in), xTaskGetCurrentTaskHandle()); /* the deleter */
    /* The stack and TCB were still allocated while it ran (its block was freed already); all is
     * back after. */
    assert_in_range(internal_at_setup - atomic_load(&free_in_callback), STACK + CHIP_TCB_BYTES,
                    STACK + CHIP_TCB_BYTES + 32);
    assert_int_equal(heap_caps_get_free_size(INTERNAL), internal_at_setup);
}

static void a_task_deleting_itself_has_its_callbacks_called_too(void **state)
{
    (void)state;
    reset_calls();
    assert_int_equal(xTaskCreate(hold_block, "holder", STACK, (void *)1, 5, NULL), pdPASS);
    WAIT_FOR(atomic_load(&calls) == 1);
    assert_int_equal(atomic_load(&calls), 1);
    assert_int_equal(atomic_load(&called_index), POINTERS - 1);
    assert_non_null(atomic_load(&called_value));
    /* Before its stack and TCB went back, as FreeRTOS's prvDeleteTCB(); all_back(): the block the
     * callback freed is back with the rest. */
    assert_in_range(internal_at_setup - atomic_load(&free_in_callback), STACK + CHIP_TCB_BYTES,
                    STACK + CHIP_TCB_BYTES + 32);
}

static void a_pointer_set_without_a_callback_is_left_alone(void **state)
{
    (void)state;
    reset_calls();
    TaskHandle_t holder = suspended_holder();
    void *block = pvTaskGetThreadLocalStoragePointer(holder, POINTERS - 1);
    vTaskSetThreadLocalStoragePointerAndDelCallback(holder, POINTERS - 1, block, NULL);
    vTaskDelete(holder);
    assert_int_equal(atomic_load(&calls), 0);
    heap_caps_free(block);
}

/* As on the chip, where the idle task deletes a task that runs on the other core: the callbacks
 * of a task deleted while it runs are called as it ends (here at its next FreeRTOS call), not
 * under its feet. A second delete of it is refused. */
static void a_task_deleted_while_it_runs_has_its_callbacks_called_as_it_ends(void **state)
{
    (void)state;
    reset_calls();
    atomic_store(&keep_busy, true);
    TaskHandle_t holder = NULL;
    assert_int_equal(xTaskCreate(hold_block_busily, "busy", STACK, NULL, 5, &holder), pdPASS);
    WAIT_FOR(atomic_load(&holder_ready));
    vTaskDelete(holder);
    assert_int_equal(atomic_load(&calls), 0); /* it still runs: its block stays */
    log_capture_begin();
    ASSERT_REFUSED(1, vTaskDelete(holder));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "vTaskDelete(\"busy\"): deleted already: refused"));
    atomic_store(&keep_busy, false);
    WAIT_FOR(atomic_load(&calls) == 1);
    assert_int_equal(atomic_load(&calls), 1);
    assert_ptr_equal(atomic_load(&called_in), holder); /* its own thread, as it ended */
}

/* What a callback learnt about its own task by handle, as code that logs whose resources it frees
 * does: on the chip prvDeleteTCB() calls it before the TCB goes, so the handle still answers. */
static struct {
    _Atomic(TaskHandle_t) task;
    char name[configMAX_TASK_NAME_LEN];
    void *pointer; /* its own TLS pointer, read back by handle */
    void *value;   /* the one it was given */
    UBaseType_t priority;
    eTaskState state, info_state; /* eTaskGetState's, vTaskGetInfo's */
    uint64_t refused; /* refused_calls() when it ran */
} asked;

static void ask_about_own_task(int index, void *value)
{
    TaskHandle_t task = atomic_load(&asked.task);
    /* time for a deleted task's thread to end meanwhile, were it let */
    nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
    strncpy(asked.name, pcTaskGetName(task), sizeof asked.name - 1);
    asked.pointer = pvTaskGetThreadLocalStoragePointer(task, index);
    asked.value = value;
    asked.priority = uxTaskPriorityGet(task);
    asked.state = eTaskGetState(task);
    TaskStatus_t info;
    vTaskGetInfo(task, &info, pdFALSE, eInvalid);
    asked.info_state = info.eCurrentState;
    asked.refused = refused_calls();
    atomic_fetch_add(&calls, 1);
}

/* Lets the callback know its handle; deletes itself when asked (arg non-NULL), else waits,
 * suspended, to be deleted. */
static void be_asked_about(void *delete_itself)
{
    atomic_store(&asked.task, xTaskGetCurrentTaskHandle());
    vTaskSetThreadLocalStoragePointerAndDelCallback(NULL, POINTERS - 1, &asked,
                                                    ask_about_own_task);
    atomic_store(&holder_ready, true);
    if (delete_itself != NULL) {
        vTaskDelete(NULL);
    }
    for (;;) {
        vTaskSuspend(NULL);
    }
}

static void a_deletion_callback_can_ask_about_its_task_by_handle(void **state)
{
    (void)state;
    for (int delete_itself = 0; delete_itself < 2; delete_itself++) {
        reset_calls();
        memset(asked.name, 0, sizeof asked.name);
        asked.pointer = asked.value = NULL;
        asked.priority = 0;
        asked.state = asked.info_state = eRunning;
        const uint64_t refused_before = refused_calls();
        TaskHandle_t task = NULL;
        assert_int_equal(xTaskCreate(be_asked_about, "asked", STACK,
                                     delete_itself ? (void *)1 : NULL, 6, &task),
                         pdPASS);
        if (!delete_itself) { /* deleted by this task while it waits */
            WAIT_FOR(atomic_load(&holder_ready) && eTaskGetState(task) == eSuspended);
            vTaskDelete(task);
        }
        WAIT_FOR(atomic_load(&calls) == 1);
        assert_int_equal(atomic_load(&calls), 1);
        assert_string_equal(asked.name, "asked");
        assert_ptr_equal(asked.pointer, &asked);
        assert_ptr_equal(asked.value, &asked);
        assert_int_equal(asked.priority, 6);
        assert_int_equal(asked.state, eDeleted);
        assert_int_equal(asked.info_state, eDeleted);
        assert_int_equal(asked.refused, refused_before); /* nothing refused */
        WAIT_FOR(uxTaskGetNumberOfTasks() == TASKS_AT_REST);
    }
}

/* A plain set into a callback's slot (the second half) with a data pointer: the chip's port
 * checks the slot can run code before calling it, logs and aborts; the host logs, does not call
 * it, and deletes the task. */
static void a_callback_slot_overwritten_with_data_is_logged_not_called(void **state)
{
    (void)state;
    reset_calls();
    TaskHandle_t holder = suspended_holder();
    void *block = pvTaskGetThreadLocalStoragePointer(holder, POINTERS - 1);
    void *data = heap_caps_malloc(16, INTERNAL); /* internal RAM: code cannot run from it */
    vTaskSetThreadLocalStoragePointer(holder, 2 * POINTERS - 1, data);
    log_capture_begin();
    ASSERT_REFUSED(1, vTaskDelete(holder)); /* deleted all the same: counted as a misuse */
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "task \"holder\": the deletion callback of thread-local storage "
                                   "pointer"));
    assert_non_null(strstr(logged, "not called (the chip aborts)"));
    assert_int_equal(atomic_load(&calls), 0);
    heap_caps_free(data);
    heap_caps_free(block);
}
#endif

/* ---- the application task tag ------------------------------------------------------------------ */

#ifdef CONFIG_FREERTOS_USE_APPLICATION_TASK_TAG
static BaseType_t add_one(void *counter)
{
    return ++*(BaseType_t *)counter;
}

static BaseType_t add_ten(void *counter)
{
    return *(BaseType_t *)counter += 10;
}

static void each_task_has_its_tag_and_the_hook_call_runs_it(void **state)
{
    (void)state;
    TaskHandle_t me = xTaskGetCurrentTaskHandle(), other = NULL;
    atomic_store(&other_tls, NULL);
    atomic_store(&other_may_end, false);
    static int unused;
    assert_int_equal(xTaskCreate(keep_own_pointer, "tagged", STACK, &unused, 5, &other), pdPASS);
    BaseType_t counter = 0;
    assert_null(xTaskGetApplicationTaskTag(NULL));
    assert_int_equal(xTaskCallApplicationTaskHook(NULL, &counter), pdFAIL); /* no tag */
    vTaskSetApplicationTaskTag(NULL, add_one);
    vTaskSetApplicationTaskTag(other, add_ten);
    assert_ptr_equal(xTaskGetApplicationTaskTag(me), add_one);
    assert_ptr_equal(xTaskGetApplicationTaskTag(other), add_ten);
    assert_int_equal(xTaskCallApplicationTaskHook(NULL, &counter), 1);
    assert_int_equal(xTaskCallApplicationTaskHook(other, &counter), 11);
    kraken_sim_isr_enter();
    assert_ptr_equal(xTaskGetApplicationTaskTagFromISR(other), add_ten);
    kraken_sim_isr_exit();
    vTaskSetApplicationTaskTag(NULL, NULL);
    assert_int_equal(xTaskCallApplicationTaskHook(me, &counter), pdFAIL);
    assert_int_equal(counter, 11);
    atomic_store(&other_may_end, true);
}
#endif

/* ---- the scheduler ----------------------------------------------------------------------------- */

static void ignore_expiry(TimerHandle_t timer)
{
    (void)timer;
}

static _Atomic BaseType_t seen_by_other;
static _Atomic bool other_looked;

static void look_at_scheduler(void *unused)
{
    (void)unused;
    atomic_store(&seen_by_other, xTaskGetSchedulerState());
    atomic_store(&other_looked, true);
    vTaskDelete(NULL);
}

static void a_suspended_scheduler_nests_and_refuses_waits_until_resumed(void **state)
{
    (void)state;
    QueueHandle_t q = xQueueCreate(1, sizeof(int));
    assert_non_null(q);
    int item = 0;
    kraken_sim_stats_t st;
    kraken_sim_get_stats(&st);
    const uint64_t refused_before = st.refused_waits;
    assert_int_equal(xTaskGetSchedulerState(), taskSCHEDULER_RUNNING);
    vTaskSuspendAll();
    vTaskSuspendAll();
    assert_int_equal(xTaskGetSchedulerState(), taskSCHEDULER_SUSPENDED);

    /* Another task's state is its own (on the chip: a task of the other core). */
    atomic_store(&other_looked, false);
    assert_int_equal(xTaskCreate(look_at_scheduler, "looker", STACK, NULL, 5, NULL), pdPASS);
    const int64_t deadline = esp_timer_get_time() + PATIENCE_TICKS * 1000000LL / configTICK_RATE_HZ;
    while (!atomic_load(&other_looked) && esp_timer_get_time() < deadline) {
        struct timespec ms = {0, 1000000}; /* no delay: that would be a wait */
        nanosleep(&ms, NULL);
    }
    assert_true(atomic_load(&other_looked));
    assert_int_equal(atomic_load(&seen_by_other), taskSCHEDULER_RUNNING);

    log_capture_begin();
    ASSERT_NOT_REFUSED(assert_int_equal(xQueueReceive(q, &item, 1), pdFALSE), vTaskDelay(2),
                       vTaskSuspend(NULL)); /* refused waits: it would never come back */
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "vTaskSuspend(NULL): a wait without end (portMAX_DELAY) with "
                                   "the scheduler suspended (vTaskSuspendAll): refused"));
    assert_non_null(strstr(logged, "a wait of 1 ticks with the scheduler suspended "
                                   "(vTaskSuspendAll): refused"));
    assert_non_null(strstr(logged, "vTaskDelay"));
    kraken_sim_get_stats(&st);
    assert_int_equal(st.refused_waits - refused_before, 3);
    assert_int_equal(xQueueSend(q, &item, 0), pdPASS); /* no wait: allowed */
    /* A timer command sends without waiting then, as FreeRTOS's timers.c: it works. */
    TimerHandle_t timer = xTimerCreate("t", 100, pdFALSE, NULL, ignore_expiry);
    assert_non_null(timer);
    assert_int_equal(xTimerStart(timer, 10), pdPASS);
    assert_int_equal(xTimerIsTimerActive(timer), pdTRUE);
    assert_int_equal(xTimerStop(timer, 10), pdPASS);

    assert_int_equal(xTaskResumeAll(), pdFALSE);
    assert_int_equal(xTaskGetSchedulerState(), taskSCHEDULER_SUSPENDED); /* one more to undo */
    assert_int_equal(xTaskResumeAll(), pdFALSE);
    assert_int_equal(xTaskGetSchedulerState(), taskSCHEDULER_RUNNING);
    assert_int_equal(xQueueReceive(q, &item, 1), pdPASS); /* may wait again */
    assert_int_equal(xTimerDelete(timer, 10), pdPASS);

    log_capture_begin();
    ASSERT_REFUSED(1, assert_int_equal(xTaskResumeAll(), pdFALSE)); /* nothing to undo */
    vTaskSuspendAll();
    kraken_sim_isr_enter(); /* an ISR can neither suspend nor resume the task it interrupted */
    ASSERT_REFUSED(1, vTaskSuspendAll());
    ASSERT_REFUSED(1, assert_int_equal(xTaskResumeAll(), pdFALSE));
    kraken_sim_isr_exit();
    assert_int_equal(xTaskGetSchedulerState(), taskSCHEDULER_SUSPENDED);
    (void)xTaskResumeAll();
    logged = log_capture_end();
    assert_non_null(strstr(logged, "xTaskResumeAll: in an ISR: refused"));
    assert_non_null(strstr(logged, "xTaskResumeAll: the scheduler is not suspended by this task"));
    assert_non_null(strstr(logged, "vTaskSuspendAll"));
    assert_int_equal(xTaskGetSchedulerState(), taskSCHEDULER_RUNNING);
    vQueueDelete(q);
}

/* ---- timeouts ---------------------------------------------------------------------------------- */

static void check_for_timeout_counts_a_wait_down_in_steps(void **state)
{
    (void)state;
    /* A budget a loaded machine's delays do not use up by accident. */
    const TickType_t budget = pdMS_TO_TICKS(500) > 10 ? pdMS_TO_TICKS(500) : 10;
    TimeOut_t t;
    vTaskSetTimeOutState(&t);
    TickType_t left = budget;
    vTaskDelay(3); /* at least 2 ticks */
    const TickType_t before = xTaskGetTickCount();
    assert_int_equal(xTaskCheckForTimeOut(&t, &left), pdFALSE);
    const TickType_t after = xTaskGetTickCount();
    assert_true(left <= budget - 2 && left > 0);
    assert_in_range(t.xTimeOnEntering, before, after); /* restarted: the next check counts from here */
    const TickType_t after_first = left;
    vTaskDelay(2); /* at least 1 tick */
    assert_int_equal(xTaskCheckForTimeOut(&t, &left), pdFALSE);
    assert_true(left < after_first);
    vTaskDelay(left + 1);
    assert_int_equal(xTaskCheckForTimeOut(&t, &left), pdTRUE);
    assert_int_equal(left, 0);

    TickType_t none = 0; /* a wait of 0 has run out at once, as in FreeRTOS */
    vTaskSetTimeOutState(&t);
    assert_int_equal(xTaskCheckForTimeOut(&t, &none), pdTRUE);
    assert_int_equal(none, 0);

    TickType_t forever = portMAX_DELAY;
    vTaskInternalSetTimeOutState(&t);
    vTaskDelay(2);
    assert_int_equal(xTaskCheckForTimeOut(&t, &forever), pdFALSE);
    assert_int_equal(forever, portMAX_DELAY);
}

static void check_for_timeout_follows_freertos_across_a_tick_count_wrap(void **state)
{
    (void)state;
    TimeOut_t now;
    vTaskSetTimeOutState(&now);
    assert_int_equal(now.xOverflowCount, 0); /* the host's count wraps after 497 days at 100 Hz */

    /* Started 16 ticks before the count wrapped: 16 + the count have passed. */
    TimeOut_t t = {.xOverflowCount = now.xOverflowCount - 1, .xTimeOnEntering = UINT32_MAX - 15};
    const TickType_t wait = now.xTimeOnEntering + 1000;
    TickType_t left = wait;
    assert_int_equal(xTaskCheckForTimeOut(&t, &left), pdFALSE);
    const TickType_t after = xTaskGetTickCount();
    assert_in_range(left, wait - (after + 16), wait - (now.xTimeOnEntering + 16));
    assert_int_equal(t.xOverflowCount, now.xOverflowCount); /* restarted now */

    /* Started before the wrap at the count it has now: a whole wrap. */
    vTaskSetTimeOutState(&now);
    t = (TimeOut_t){.xOverflowCount = now.xOverflowCount - 1, .xTimeOnEntering = now.xTimeOnEntering};
    left = UINT32_MAX - 1;
    assert_int_equal(xTaskCheckForTimeOut(&t, &left), pdTRUE);
    assert_int_equal(left, 0);
}

static void timeout_calls_refuse_null_arguments(void **state)
{
    (void)state;
    TimeOut_t t;
    TickType_t left = 5;
    log_capture_begin();
    ASSERT_REFUSED(1, vTaskSetTimeOutState(NULL));
    vTaskSetTimeOutState(&t);
    ASSERT_REFUSED(1, assert_int_equal(xTaskCheckForTimeOut(NULL, &left), pdTRUE));
    ASSERT_REFUSED(1, assert_int_equal(xTaskCheckForTimeOut(&t, NULL), pdTRUE));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "vTaskSetTimeOutState: no TimeOut_t: refused"));
    assert_non_null(strstr(logged, "xTaskCheckForTimeOut: no TimeOut_t: refused"));
    assert_non_null(strstr(logged, "xTaskCheckForTimeOut: no ticks to wait: refused"));
    assert_int_equal(left, 5);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, boot, all_back)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(the_calls_without_an_index_use_index_0),
#if ENTRIES >= 3
        TEST(each_index_has_its_own_value_and_state),
        TEST(a_notification_wakes_a_task_only_on_the_index_it_waits_on),
        TEST(a_take_wakes_only_on_its_index),
#endif
        TEST(an_index_out_of_range_is_refused_and_logged_with_nothing_changed),
        TEST(notify_and_query_gives_the_value_before_the_action),
        TEST(state_clear_drops_a_pending_notification_and_keeps_the_value),
        TEST(value_clear_clears_bits_keeps_the_state_and_returns_the_value_before),
        TEST(thread_local_storage_pointers_are_each_tasks_own),
#ifdef CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS
        TEST(a_deletion_callback_gets_its_pointer_before_the_task_memory_goes),
        TEST(a_task_deleting_itself_has_its_callbacks_called_too),
        TEST(a_pointer_set_without_a_callback_is_left_alone),
        TEST(a_task_deleted_while_it_runs_has_its_callbacks_called_as_it_ends),
        TEST(a_callback_slot_overwritten_with_data_is_logged_not_called),
        TEST(a_deletion_callback_can_ask_about_its_task_by_handle),
#endif
#ifdef CONFIG_FREERTOS_USE_APPLICATION_TASK_TAG
        TEST(each_task_has_its_tag_and_the_hook_call_runs_it),
#endif
        TEST(a_suspended_scheduler_nests_and_refuses_waits_until_resumed),
        TEST(check_for_timeout_counts_a_wait_down_in_steps),
        TEST(check_for_timeout_follows_freertos_across_a_tick_count_wrap),
        TEST(timeout_calls_refuse_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
