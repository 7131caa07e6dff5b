/* test_freertos_wakes.c - which waiting task a give wakes on the host FreeRTOS, and its state from
 * then on: as on the chip, the highest-priority waiter (the first come among equals) is ready at
 * once, before its thread runs; the others stay blocked. Tasks report through atomics (cmocka's
 * asserts belong to the test's thread). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "freertos/queue.h"
#include "freertos/ringbuf.h"
#include "freertos/semphr.h"
#include "freertos/stream_buffer.h"
#include "freertos/task.h"
#include "kraken_sim.h"

#include "freertos_refusals.h"
#include "freertos_test_support.h"

#define STACK 4096u
#define ROUNDS 20 /* a state read right after a give, this often: the woken thread runs meanwhile
                     at most a few times */

static int boot(void **state)
{
    (void)state;
    return kraken_sim_init(KRAKEN_SIM_ESP32S3_N8R8) == ESP_OK ? 0 : -1;
}

/* eTaskGetState(task) == want at every read for 2 ms. */
static bool stays(TaskHandle_t task, eTaskState want)
{
    const int64_t end = esp_timer_get_time() + 2000;
    while (esp_timer_get_time() < end) {
        if (eTaskGetState(task) != want) {
            return false;
        }
    }
    return true;
}

static _Atomic bool go_on;
static _Atomic int woke_order[2];
static _Atomic int woken_count;

/* What a woken task does: notes its wake-up (`id`), works (no FreeRTOS call: ready, not waiting)
 * until told to go on, then suspends itself. */
static void woke_then_work(int id)
{
    atomic_store(&woke_order[atomic_fetch_add(&woken_count, 1) % 2], id);
    while (!atomic_load(&go_on)) {
    }
    vTaskSuspend(NULL);
}

/* What a receiving task waits on: a queue, a semaphore or a ring buffer. */
typedef struct {
    QueueHandle_t queue;
    bool semaphore;
    RingbufHandle_t ring;
    int id;
} receiver_t;

static bool receive(const receiver_t *r)
{
    if (r->ring != NULL) {
        size_t size = 0;
        void *item = xRingbufferReceive(r->ring, &size, portMAX_DELAY);
        if (item != NULL) {
            vRingbufferReturnItem(r->ring, item);
        }
        return item != NULL;
    }
    uint32_t item = 0;
    return (r->semaphore ? xSemaphoreTake(r->queue, portMAX_DELAY)
                         : xQueueReceive(r->queue, &item, portMAX_DELAY)) == pdPASS;
}

static void receive_then_work(void *arg)
{
    const receiver_t *r = arg;
    if (receive(r)) {
        woke_then_work(r->id);
    }
    vTaskSuspend(NULL);
}

static void take_notification_then_work(void *arg)
{
    (void)arg;
    if (ulTaskNotifyTake(pdTRUE, portMAX_DELAY) != 0) {
        woke_then_work(1);
    }
    vTaskSuspend(NULL);
}

static void wait_bit_then_work(void *arg)
{
    EventGroupHandle_t g = arg;
    xEventGroupWaitBits(g, BIT0, pdTRUE, pdTRUE, portMAX_DELAY);
    woke_then_work(1);
}

static void wait_bit1_for_ever(void *arg)
{
    xEventGroupWaitBits(arg, BIT1, pdTRUE, pdTRUE, portMAX_DELAY);
    vTaskSuspend(NULL);
}

static void reset(void)
{
    atomic_store(&go_on, false);
    atomic_store(&woken_count, 0);
    atomic_store(&woke_order[0], 0);
    atomic_store(&woke_order[1], 0);
}

/* Ends a task that worked after its wake-up. */
static void let_go(TaskHandle_t t)
{
    atomic_store(&go_on, true);
    WAIT_FOR(eTaskGetState(t) == eSuspended);
    vTaskDelete(t);
}

static void a_task_a_give_wakes_is_ready_at_once(void **state)
{
    (void)state;
    QueueHandle_t q = xQueueCreate(1, sizeof(uint32_t));
    SemaphoreHandle_t sem = xSemaphoreCreateBinary();
    EventGroupHandle_t g = xEventGroupCreate();
    assert_non_null(q);
    assert_non_null(sem);
    assert_non_null(g);
    for (int round = 0; round < ROUNDS; round++) {
        reset();
        receiver_t r = {.queue = round % 2 == 0 ? q : sem, .semaphore = round % 2 != 0, .id = 1};
        TaskHandle_t t = NULL;
        assert_int_equal(xTaskCreate(receive_then_work, "rx", STACK, &r, 5, &t), pdPASS);
        assert_true(becomes_blocked(t));
        const uint32_t item = 1;
        assert_int_equal(round % 2 == 0 ? xQueueSend(q, &item, 0) : xSemaphoreGive(sem), pdPASS);
        assert_int_equal(eTaskGetState(t), eReady); /* before its thread took the item */
        WAIT_FOR(atomic_load(&woken_count) == 1);
        assert_int_equal(eTaskGetState(t), eReady); /* and working */
        let_go(t);

        reset();
        assert_int_equal(xTaskCreate(take_notification_then_work, "notified", STACK, NULL, 5, &t),
                         pdPASS);
        assert_true(becomes_blocked(t));
        xTaskNotifyGive(t);
        assert_int_equal(eTaskGetState(t), eReady);
        let_go(t);

        reset();
        assert_int_equal(xTaskCreate(wait_bit_then_work, "bits", STACK, g, 5, &t), pdPASS);
        assert_true(becomes_blocked(t));
        xEventGroupSetBits(g, BIT0);
        assert_int_equal(eTaskGetState(t), eReady);
        let_go(t);
    }
    vEventGroupDelete(g);
    vSemaphoreDelete(sem);
    vQueueDelete(q);
}

/* One item into what r waits on: a queue's send, or a ring buffer's. */
static bool give(const receiver_t *r)
{
    const uint32_t item = 1;
    return r->ring != NULL ? xRingbufferSend(r->ring, &item, sizeof item, 0) == pdTRUE
                           : xQueueSend(r->queue, &item, 0) == pdPASS;
}

/* FreeRTOS's event lists, and ESP-IDF's ring buffers: a give wakes one waiter, the highest
 * priority whoever came first, the first come among equals; the other is not woken to find
 * nothing. */
static void a_give_wakes_the_highest_priority_waiter_and_the_first_among_equals(void **state)
{
    (void)state;
    static const struct {
        UBaseType_t first, second;
        int woken_first; /* 1: the task that waited first */
        bool ring;
    } cases[] = {{3, 6, 2, false}, {6, 3, 1, false}, {5, 5, 1, false}, {3, 6, 2, true}};
    static receiver_t r[2]; /* static: read by the tasks */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        reset();
        QueueHandle_t q = cases[c].ring ? NULL : xQueueCreate(1, sizeof(uint32_t));
        RingbufHandle_t rb = cases[c].ring ? xRingbufferCreate(256, RINGBUF_TYPE_NOSPLIT) : NULL;
        assert_true(q != NULL || rb != NULL);
        TaskHandle_t t[2] = {NULL, NULL};
        for (int i = 0; i < 2; i++) {
            r[i] = (receiver_t){.queue = q, .ring = rb, .id = i + 1};
            assert_int_equal(xTaskCreate(receive_then_work, "rx", STACK, &r[i],
                                         i == 0 ? cases[c].first : cases[c].second, &t[i]),
                             pdPASS);
            assert_true(becomes_blocked(t[i]));
        }
        TaskHandle_t woken = t[cases[c].woken_first - 1], other = t[2 - cases[c].woken_first];
        assert_true(give(&r[0]));
        assert_int_equal(eTaskGetState(woken), eReady);
        assert_int_equal(eTaskGetState(other), eBlocked);
        WAIT_FOR(atomic_load(&woken_count) == 1);
        assert_int_equal(atomic_load(&woke_order[0]), cases[c].woken_first);
        assert_true(stays(other, eBlocked));
        assert_true(give(&r[0]));
        WAIT_FOR(atomic_load(&woken_count) == 2);
        assert_int_equal(atomic_load(&woke_order[1]), 3 - cases[c].woken_first);
        atomic_store(&go_on, true);
        WAIT_FOR(eTaskGetState(t[0]) == eSuspended && eTaskGetState(t[1]) == eSuspended);
        vTaskDelete(t[0]);
        vTaskDelete(t[1]);
        if (rb != NULL) {
            vRingbufferDelete(rb);
        } else {
            vQueueDelete(q);
        }
    }
}

static StreamBufferHandle_t stream;

static void receive_stream_then_work(void *arg)
{
    (void)arg;
    uint8_t byte;
    if (xStreamBufferReceive(stream, &byte, 1, portMAX_DELAY) == 1) {
        woke_then_work(1);
    }
    vTaskSuspend(NULL);
}

#define WAITER_PRIORITY 5

/* Makes isr_call(kind, t, &woken) in a simulated ISR that interrupts this task at `priority`
 * while t (at WAITER_PRIORITY) waits; the yield must be asked for exactly when t outranks the
 * interrupted task, as FreeRTOS's xTaskRemoveFromEventList() answers. Then lets t, woken, end. */
static void check_isr_yield(TaskHandle_t t, UBaseType_t priority, int kind,
                            void (*isr_call)(int kind, TaskHandle_t t, BaseType_t *woken))
{
    assert_true(becomes_blocked(t));
    const UBaseType_t mine = uxTaskPriorityGet(NULL);
    vTaskPrioritySet(NULL, priority);
    BaseType_t woken = pdFALSE;
    kraken_sim_isr_enter();
    isr_call(kind, t, &woken);
    kraken_sim_isr_exit();
    vTaskPrioritySet(NULL, mine);
    assert_int_equal(woken, priority < WAITER_PRIORITY ? pdTRUE : pdFALSE);
    WAIT_FOR(atomic_load(&woken_count) == 1);
    let_go(t);
}

static const UBaseType_t interrupted[] = {WAITER_PRIORITY + 2, WAITER_PRIORITY,
                                          WAITER_PRIORITY - 2};
#define INTERRUPTED (sizeof interrupted / sizeof interrupted[0])

/* Receivers: a queue, a semaphore, a ring buffer, a notification, a stream buffer, and one woken
 * by xStreamBufferSendCompletedFromISR() below its trigger level (2). */
static receiver_t isr_rx; /* static: read by the task */

static void give_in_isr(int kind, TaskHandle_t t, BaseType_t *woken)
{
    const uint32_t item = 1;
    if (kind == 0) {
        assert_int_equal(xQueueSendFromISR(isr_rx.queue, &item, woken), pdPASS);
    } else if (kind == 1) {
        assert_int_equal(xSemaphoreGiveFromISR(isr_rx.queue, woken), pdPASS);
    } else if (kind == 2) {
        assert_int_equal(xRingbufferSendFromISR(isr_rx.ring, &item, sizeof item, woken), pdTRUE);
    } else if (kind == 3) {
        vTaskNotifyGiveFromISR(t, woken);
    } else if (kind == 4) {
        assert_int_equal(xStreamBufferSendFromISR(stream, &item, 1, woken), 1);
    } else {
        assert_int_equal(xStreamBufferSendFromISR(stream, &item, 1, woken), 1); /* no wake */
        assert_int_equal(xStreamBufferSendCompletedFromISR(stream, woken), pdTRUE);
    }
}

static void a_give_from_an_isr_asks_for_a_yield_only_for_a_task_that_outranks_the_interrupted(
    void **state)
{
    (void)state;
    for (int kind = 0; kind < 6; kind++) {
        for (size_t p = 0; p < INTERRUPTED; p++) {
            reset();
            isr_rx = (receiver_t){.id = 1};
            TaskFunction_t code = receive_then_work;
            if (kind == 0 || kind == 1) {
                isr_rx.semaphore = kind == 1;
                isr_rx.queue = isr_rx.semaphore ? xSemaphoreCreateBinary()
                                                : xQueueCreate(1, sizeof(uint32_t));
            } else if (kind == 2) {
                isr_rx.ring = xRingbufferCreate(256, RINGBUF_TYPE_NOSPLIT);
            } else if (kind == 3) {
                code = take_notification_then_work;
            } else {
                stream = xStreamBufferCreate(16, kind == 4 ? 1 : 2);
                code = receive_stream_then_work;
            }
            TaskHandle_t t = NULL;
            assert_int_equal(xTaskCreate(code, "rx", STACK, &isr_rx, WAITER_PRIORITY, &t), pdPASS);
            check_isr_yield(t, interrupted[p], kind, give_in_isr);
            if (isr_rx.queue != NULL) {
                vQueueDelete(isr_rx.queue);
            } else if (isr_rx.ring != NULL) {
                vRingbufferDelete(isr_rx.ring);
            } else if (kind >= 4) {
                vStreamBufferDelete(stream);
            }
        }
    }
}

/* The other side: a task waiting for room in a full queue, ring buffer or stream buffer, woken by
 * a take from an ISR, or by xStreamBufferReceiveCompletedFromISR() before one (which then wakes
 * no task: the yield is the call's). */
static QueueHandle_t full_queue;
static RingbufHandle_t full_ring;

static void send_into_the_full_one(void *arg)
{
    const uint32_t item = 2;
    const int kind = (int)(intptr_t)arg;
    const bool sent = kind == 0   ? xQueueSend(full_queue, &item, portMAX_DELAY) == pdPASS
                      : kind == 1 ? xRingbufferSend(full_ring, &item, sizeof item, portMAX_DELAY)
                                      == pdTRUE
                                  : xStreamBufferSend(stream, &item, 1, portMAX_DELAY) == 1;
    if (sent) {
        woke_then_work(1);
    }
    vTaskSuspend(NULL);
}

static void take_in_isr(int kind, TaskHandle_t t, BaseType_t *woken)
{
    (void)t;
    uint32_t out = 0;
    if (kind == 0) {
        assert_int_equal(xQueueReceiveFromISR(full_queue, &out, woken), pdPASS);
    } else if (kind == 1) {
        size_t size = 0;
        void *got = xRingbufferReceiveFromISR(full_ring, &size);
        assert_non_null(got);
        vRingbufferReturnItemFromISR(full_ring, got, woken);
    } else if (kind == 2) {
        assert_int_equal(xStreamBufferReceiveFromISR(stream, &out, 1, woken), 1);
    } else {
        assert_int_equal(xStreamBufferReceiveCompletedFromISR(stream, woken), pdTRUE);
        assert_int_equal(xStreamBufferReceiveFromISR(stream, &out, 1, NULL), 1);
    }
}

static void a_take_from_an_isr_asks_for_a_yield_only_for_a_sender_that_outranks_the_interrupted(
    void **state)
{
    (void)state;
    for (int kind = 0; kind < 4; kind++) {
        for (size_t p = 0; p < INTERRUPTED; p++) {
            reset();
            const uint32_t item = 1;
            if (kind == 0) {
                full_queue = xQueueCreate(1, sizeof item);
                assert_int_equal(xQueueSend(full_queue, &item, 0), pdPASS);
            } else if (kind == 1) {
                full_ring = xRingbufferCreate(32, RINGBUF_TYPE_NOSPLIT);
                while (xRingbufferSend(full_ring, &item, sizeof item, 0) == pdTRUE) {
                }
            } else {
                stream = xStreamBufferCreate(1, 1);
                assert_int_equal(xStreamBufferSend(stream, &item, 1, 0), 1);
            }
            TaskHandle_t t = NULL;
            assert_int_equal(xTaskCreate(send_into_the_full_one, "tx", STACK, (void *)(intptr_t)kind,
                                         WAITER_PRIORITY, &t),
                             pdPASS);
            check_isr_yield(t, interrupted[p], kind, take_in_isr);
            if (kind == 0) {
                vQueueDelete(full_queue);
            } else if (kind == 1) {
                vRingbufferDelete(full_ring);
            } else {
                vStreamBufferDelete(stream);
            }
        }
    }
}

/* A task whose wait xTaskAbortDelay() ended is off the object's event list at once, as on the
 * chip, though its thread runs later: a give from an ISR meanwhile has no waiter to wake, and
 * asks for no yield (the task outranks the interrupted one: were it still waiting, it would).
 * Not a stream buffer: its wait is for a notification, which the chip still sends to a task
 * whose wait was aborted until that task runs (so the answer depends on when it runs). */
static void a_give_from_an_isr_after_an_aborted_wait_asks_for_no_yield(void **state)
{
    (void)state;
    static const int kinds[] = {0, 2}; /* give_in_isr's queue and ring buffer */
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const int kind = kinds[k];
        for (int round = 0; round < ROUNDS; round++) {
            reset();
            isr_rx = (receiver_t){.id = 1};
            if (kind == 0) {
                isr_rx.queue = xQueueCreate(1, sizeof(uint32_t));
            } else {
                isr_rx.ring = xRingbufferCreate(256, RINGBUF_TYPE_NOSPLIT);
            }
            TaskHandle_t t = NULL;
            assert_int_equal(
                xTaskCreate(receive_then_work, "rx", STACK, &isr_rx, WAITER_PRIORITY, &t), pdPASS);
            assert_true(becomes_blocked(t));
            assert_int_equal(xTaskAbortDelay(t), pdPASS);
            BaseType_t woken = pdFALSE;
            kraken_sim_isr_enter(); /* interrupting this task, at 1 */
            give_in_isr(kind, t, &woken);
            kraken_sim_isr_exit();
            assert_int_equal(woken, pdFALSE);
            /* It may take the item when its thread runs after the give (FreeRTOS's loop looks
             * at the queue before its timeout), or leave empty-handed. */
            WAIT_FOR(atomic_load(&woken_count) == 1 || eTaskGetState(t) == eSuspended);
            let_go(t);
            if (kind == 0) {
                vQueueDelete(isr_rx.queue);
            } else {
                vRingbufferDelete(isr_rx.ring);
            }
        }
    }
}

/* Setting bits wakes the tasks they satisfy, no other. */
static void setting_bits_wakes_only_the_tasks_they_satisfy(void **state)
{
    (void)state;
    reset();
    EventGroupHandle_t g = xEventGroupCreate();
    assert_non_null(g);
    TaskHandle_t t0 = NULL, t1 = NULL;
    assert_int_equal(xTaskCreate(wait_bit_then_work, "bit0", STACK, g, 5, &t0), pdPASS);
    assert_int_equal(xTaskCreate(wait_bit1_for_ever, "bit1", STACK, g, 5, &t1), pdPASS);
    assert_true(becomes_blocked(t0));
    assert_true(becomes_blocked(t1));
    xEventGroupSetBits(g, BIT0);
    assert_int_equal(eTaskGetState(t0), eReady);
    assert_true(stays(t1, eBlocked));
    xEventGroupSetBits(g, BIT1);
    WAIT_FOR(eTaskGetState(t1) == eSuspended);
    vTaskDelete(t1);
    let_go(t0);
    vEventGroupDelete(g);
}

static _Atomic int bits_returned;

static void wait_bit3_then_suspend(void *arg)
{
    if (xEventGroupWaitBits(arg, BIT3, pdTRUE, pdTRUE, portMAX_DELAY) == 0) {
        atomic_fetch_add(&bits_returned, 1);
    }
    vTaskSuspend(NULL);
}

/* FreeRTOS unblocks every task waiting on a deleted event group, with 0 bits. */
static void deleting_an_event_group_wakes_every_waiter(void **state)
{
    (void)state;
    atomic_store(&bits_returned, 0);
    EventGroupHandle_t g = xEventGroupCreate();
    assert_non_null(g);
    TaskHandle_t t[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(xTaskCreate(wait_bit3_then_suspend, "bit3", STACK, g, 5, &t[i]), pdPASS);
        assert_true(becomes_blocked(t[i]));
    }
    vEventGroupDelete(g);
    assert_int_not_equal(eTaskGetState(t[0]), eBlocked); /* ready, or suspended once it ran */
    assert_int_not_equal(eTaskGetState(t[1]), eBlocked);
    WAIT_FOR(atomic_load(&bits_returned) == 2);
    assert_int_equal(atomic_load(&bits_returned), 2);
    for (int i = 0; i < 2; i++) {
        WAIT_FOR(eTaskGetState(t[i]) == eSuspended);
        vTaskDelete(t[i]);
    }
}

/* A task deleted after a give woke it, before its thread ran (in some rounds): it waits no more,
 * the queue can be deleted (nothing refused). Its thread may still run after the delete: what it
 * reads is static, not on this stack. */
static void a_task_deleted_once_woken_leaves_its_wait(void **state)
{
    (void)state;
    static receiver_t receivers[ROUNDS];
    for (int round = 0; round < ROUNDS; round++) {
        reset();
        QueueHandle_t q = xQueueCreate(1, sizeof(uint32_t));
        assert_non_null(q);
        receivers[round] = (receiver_t){.queue = q, .id = 1};
        TaskHandle_t t = NULL;
        assert_int_equal(
            xTaskCreate(receive_then_work, "rx", STACK, &receivers[round], 5, &t), pdPASS);
        assert_true(becomes_blocked(t));
        const uint32_t item = 1;
        assert_int_equal(xQueueSend(q, &item, 0), pdPASS);
        atomic_store(&go_on, true); /* it suspends itself at once if it ran */
        vTaskDelete(t);
        vQueueDelete(q); /* refused (the teardown's check) while the queue counts a waiter */
        assert_int_equal(unasserted_refusals(), 0);
    }
}

/* The deletes after a wake: what a woken task waited on, of each kind that counts its waiters. */
enum { DEL_QUEUE, DEL_SEMAPHORE, DEL_RING, DEL_STREAM, DEL_QUEUE_ROOM, DEL_KINDS };

static QueueHandle_t del_queue;
static RingbufHandle_t del_ring;
static StreamBufferHandle_t del_stream;

static void make_deletable(int kind)
{
    const uint32_t item = 1;
    del_queue = kind == DEL_SEMAPHORE ? xSemaphoreCreateBinary()
                : kind == DEL_QUEUE || kind == DEL_QUEUE_ROOM ? xQueueCreate(1, sizeof item)
                                                               : NULL;
    del_ring = kind == DEL_RING ? xRingbufferCreate(256, RINGBUF_TYPE_NOSPLIT) : NULL;
    del_stream = kind == DEL_STREAM ? xStreamBufferCreate(16, 1) : NULL;
    assert_true(del_queue != NULL || del_ring != NULL || del_stream != NULL);
    if (kind == DEL_QUEUE_ROOM) { /* full: its task waits for room */
        assert_int_equal(xQueueSend(del_queue, &item, 0), pdPASS);
    }
}

/* One wait on it (a receive; a send into the full queue); true when it ended with the item. */
static bool wait_on_deletable(int kind)
{
    uint32_t item = 2;
    size_t size = 0;
    switch (kind) {
    case DEL_RING: {
        void *got = xRingbufferReceive(del_ring, &size, portMAX_DELAY);
        if (got != NULL) {
            vRingbufferReturnItem(del_ring, got);
        }
        return got != NULL;
    }
    case DEL_STREAM: return xStreamBufferReceive(del_stream, &item, 1, portMAX_DELAY) == 1;
    case DEL_SEMAPHORE: return xSemaphoreTake(del_queue, portMAX_DELAY) == pdPASS;
    case DEL_QUEUE_ROOM: return xQueueSend(del_queue, &item, portMAX_DELAY) == pdPASS;
    default: return xQueueReceive(del_queue, &item, portMAX_DELAY) == pdPASS;
    }
}

/* What wakes that wait: one item in (a take out of the full queue). */
static bool wake_deletable(int kind)
{
    uint32_t item = 1;
    switch (kind) {
    case DEL_RING: return xRingbufferSend(del_ring, &item, sizeof item, 0) == pdTRUE;
    case DEL_STREAM: return xStreamBufferSend(del_stream, &item, 1, 0) == 1;
    case DEL_SEMAPHORE: return xSemaphoreGive(del_queue) == pdPASS;
    case DEL_QUEUE_ROOM: return xQueueReceive(del_queue, &item, 0) == pdPASS;
    default: return xQueueSend(del_queue, &item, 0) == pdPASS;
    }
}

static void delete_deletable(void)
{
    if (del_ring != NULL) {
        vRingbufferDelete(del_ring);
    } else if (del_stream != NULL) {
        vStreamBufferDelete(del_stream);
    } else {
        vQueueDelete(del_queue);
    }
}

/* A woken task's code: `waits` waits (arg; negative: one, then the task ends), each counted in
 * woken_count, then it blocks (suspends itself). */
static int del_kind;

static void wait_then_block(void *arg)
{
    const intptr_t waits = (intptr_t)arg;
    for (intptr_t i = 0; i < (waits < 0 ? 1 : waits); i++) {
        if (wait_on_deletable(del_kind)) {
            atomic_fetch_add(&woken_count, 1);
        }
    }
    if (waits < 0) {
        vTaskDelete(NULL);
    }
    vTaskSuspend(NULL);
}

/* A task running code(arg) at `priority` on `core`, once it is blocked. */
static TaskHandle_t blocked_task(TaskFunction_t code, void *arg, UBaseType_t priority,
                                 BaseType_t core)
{
    TaskHandle_t t = NULL;
    assert_int_equal(xTaskCreatePinnedToCore(code, "waiter", STACK, arg, priority, &t, core),
                     pdPASS);
    assert_true(becomes_blocked(t));
    return t;
}

static TaskHandle_t blocked_waiter(intptr_t waits, UBaseType_t priority, BaseType_t core)
{
    return blocked_task(wait_then_block, (void *)waits, priority, core);
}

/* On the chip a task a give (or a take) wakes runs before the giver's next line when it outranks
 * the giver and may run on its core (FreeRTOS's prvIsYieldRequiredSMP()), until it blocks: the
 * giver may then delete the object at once. The host's delete lets that task's thread run first. */
static void a_delete_lets_a_woken_task_that_would_preempt_the_deleter_run_first(void **state)
{
    (void)state;
    const BaseType_t main_core = (BaseType_t)CONFIG_ESP_MAIN_TASK_AFFINITY;
    int64_t deleting_us = 0;
    for (del_kind = 0; del_kind < DEL_KINDS; del_kind++) {
        for (int variant = 0; variant < 3; variant++) { /* unpinned, pinned, ends */
            if (variant == 1 && main_core == tskNO_AFFINITY) {
                continue; /* the main task may run on either core */
            }
            reset();
            make_deletable(del_kind);
            TaskHandle_t t = blocked_waiter(variant == 2 ? -1 : 1, WAITER_PRIORITY,
                                            variant == 1 ? main_core : tskNO_AFFINITY);
            assert_true(wake_deletable(del_kind));
            const int64_t start = esp_timer_get_time();
            ASSERT_NOT_REFUSED(delete_deletable());
            deleting_us += esp_timer_get_time() - start;
            assert_int_equal(atomic_load(&woken_count), 1); /* it ran, and blocked or ended */
            if (variant != 2) {
                assert_int_equal(eTaskGetState(t), eSuspended);
                vTaskDelete(t);
            }
        }
    }
    /* told when the task blocks or ends, not at the wait's bound (0.5 s a delete) */
    assert_true(deleting_us < 2000000);
}

/* There it runs until it blocks: when that is a wait on the same object again, the delete would
 * leave it on freed memory, and is refused. */
static void a_woken_task_that_waits_again_keeps_the_object_from_its_delete(void **state)
{
    (void)state;
    for (del_kind = 0; del_kind < DEL_KINDS; del_kind++) {
        reset();
        make_deletable(del_kind);
        TaskHandle_t t = blocked_waiter(2, WAITER_PRIORITY, tskNO_AFFINITY);
        assert_true(wake_deletable(del_kind));
        ASSERT_REFUSED(1, delete_deletable());
        assert_int_equal(atomic_load(&woken_count), 1);
        assert_int_equal(eTaskGetState(t), eBlocked);
        assert_true(wake_deletable(del_kind));
        ASSERT_NOT_REFUSED(delete_deletable());
        assert_int_equal(atomic_load(&woken_count), 2);
        vTaskDelete(t);
    }
}

/* The woken task may delete the deleter before it blocks: on the chip the deleter then never runs
 * again, and the object stays. */
static TaskHandle_t giver;
static QueueHandle_t giver_queue;

static void receive_delete_the_giver_then_block(void *arg)
{
    (void)arg;
    uint32_t item = 0;
    if (xQueueReceive(giver_queue, &item, portMAX_DELAY) == pdPASS) {
        vTaskDelete(giver);
        atomic_fetch_add(&woken_count, 1);
    }
    vTaskSuspend(NULL);
}

static void give_then_delete(void *arg)
{
    (void)arg;
    const uint32_t item = 1;
    (void)xQueueSend(giver_queue, &item, 0);
    vQueueDelete(giver_queue);
    atomic_store(&go_on, true); /* never reached: deleted by the woken task first */
    vTaskSuspend(NULL);
}

static void a_deleter_deleted_by_the_woken_task_deletes_nothing(void **state)
{
    (void)state;
    reset();
    giver_queue = xQueueCreate(1, sizeof(uint32_t));
    assert_non_null(giver_queue);
    TaskHandle_t t = NULL;
    assert_int_equal(xTaskCreate(receive_delete_the_giver_then_block, "rx", STACK, NULL,
                                 WAITER_PRIORITY, &t),
                     pdPASS);
    assert_true(becomes_blocked(t));
    const UBaseType_t tasks = uxTaskGetNumberOfTasks();
    assert_int_equal(xTaskCreate(give_then_delete, "giver", STACK, NULL, 2, &giver), pdPASS);
    WAIT_FOR(atomic_load(&woken_count) == 1 && uxTaskGetNumberOfTasks() == tasks);
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks); /* the giver is gone */
    assert_false(atomic_load(&go_on));
    assert_int_equal(uxQueueSpacesAvailable(giver_queue), 1); /* live, its item taken */
    WAIT_FOR(eTaskGetState(t) == eSuspended);
    vTaskDelete(t);
    vQueueDelete(giver_queue);
}

/* A task at WAITER_PRIORITY blocked on a new queue (r's): once woken it works (no FreeRTOS call)
 * until go_on. */
static TaskHandle_t worker_on_a_queue(receiver_t *r)
{
    *r = (receiver_t){.queue = xQueueCreate(1, sizeof(uint32_t)), .id = 1};
    assert_non_null(r->queue);
    return blocked_task(receive_then_work, r, WAITER_PRIORITY, tskNO_AFFINITY);
}

/* A woken task deleted by a third while the delete waits for it runs no more: the delete goes on
 * then, not at its bound. */
static TaskHandle_t to_delete;

static void delete_after_50_ms(void *arg)
{
    (void)arg;
    vTaskDelay(pdMS_TO_TICKS(50));
    vTaskDelete(to_delete);
    while (!atomic_load(&go_on)) { /* it does not block: its delete alone tells */
    }
    vTaskSuspend(NULL);
}

static void a_woken_task_deleted_meanwhile_ends_the_deletes_wait(void **state)
{
    (void)state;
    reset();
    static receiver_t r;
    to_delete = worker_on_a_queue(&r);
    TaskHandle_t deleter = NULL;
    assert_int_equal(xTaskCreate(delete_after_50_ms, "deleter", STACK, NULL, 1, &deleter), pdPASS);
    assert_true(give(&r));
    const int64_t start = esp_timer_get_time();
    ASSERT_NOT_REFUSED(vQueueDelete(r.queue));
    assert_true(esp_timer_get_time() - start < 400000);
    atomic_store(&go_on, true); /* its thread ends at its next FreeRTOS call */
    WAIT_FOR(eTaskGetState(deleter) == eSuspended);
    vTaskDelete(deleter);
}

/* Tasks that take an item from a ring buffer, work (no FreeRTOS call), give it back; the deleting
 * one then deletes the buffer. */
static RingbufHandle_t shared_ring;
static _Atomic int returns;

static void receive_work_return(int work_us, bool then_delete)
{
    size_t size = 0;
    void *item = xRingbufferReceive(shared_ring, &size, portMAX_DELAY);
    atomic_fetch_add(&woken_count, 1);
    const int64_t until = esp_timer_get_time() + work_us;
    while (esp_timer_get_time() < until) {
    }
    if (item != NULL) {
        vRingbufferReturnItem(shared_ring, item);
        atomic_fetch_add(&returns, 1);
    }
    if (then_delete) {
        vRingbufferDelete(shared_ring);
        atomic_store(&go_on, true);
    }
    vTaskSuspend(NULL);
}

static void high_receiver(void *arg)
{
    (void)arg;
    receive_work_return(20000, false);
}

static void deleting_receiver(void *arg)
{
    (void)arg;
    receive_work_return(0, true);
}

static void new_shared_ring(void)
{
    reset();
    atomic_store(&returns, 0);
    shared_ring = xRingbufferCreate(256, RINGBUF_TYPE_NOSPLIT);
    assert_non_null(shared_ring);
}

/* A woken task that has left its wait but not yet blocked again (it works, then gives its item
 * back) still runs first: the delete waits for it, not only for tasks still counted as waiting. */
static void a_delete_waits_for_a_woken_task_that_has_left_its_wait(void **state)
{
    (void)state;
    new_shared_ring();
    TaskHandle_t t = blocked_task(high_receiver, NULL, WAITER_PRIORITY, tskNO_AFFINITY);
    const uint32_t item = 1;
    assert_int_equal(xRingbufferSend(shared_ring, &item, sizeof item, 0), pdTRUE);
    while (atomic_load(&woken_count) == 0) { /* it has the item: out of its wait */
    }
    ASSERT_NOT_REFUSED(vRingbufferDelete(shared_ring));
    assert_int_equal(atomic_load(&returns), 1);
    WAIT_FOR(eTaskGetState(t) == eSuspended);
    vTaskDelete(t);
}

/* The deleter may have been woken from the object itself (it took the last item): the higher
 * task woken with it still runs first. */
static void a_deleter_woken_from_the_object_lets_a_higher_woken_task_run_first(void **state)
{
    (void)state;
    new_shared_ring();
    TaskHandle_t high = blocked_task(high_receiver, NULL, 10, tskNO_AFFINITY);
    TaskHandle_t deleter = blocked_task(deleting_receiver, NULL, WAITER_PRIORITY, tskNO_AFFINITY);
    const uint32_t item = 1;
    ASSERT_NOT_REFUSED({
        assert_int_equal(xRingbufferSend(shared_ring, &item, sizeof item, 0), pdTRUE);
        assert_int_equal(xRingbufferSend(shared_ring, &item, sizeof item, 0), pdTRUE);
        WAIT_FOR(atomic_load(&go_on));
    });
    assert_true(atomic_load(&go_on));
    assert_int_equal(atomic_load(&returns), 2); /* the high one's too, before the delete */
    WAIT_FOR(eTaskGetState(high) == eSuspended && eTaskGetState(deleter) == eSuspended);
    vTaskDelete(high);
    vTaskDelete(deleter);
}

#ifdef CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS
/* A deleter deleted by a third while it waits ends then (its deletion callbacks run), not at the
 * wait's bound. */
static QueueHandle_t third_queue;
static _Atomic int64_t ended_at_us;
static _Atomic bool deleter_waits;

static void note_the_end(int index, void *value)
{
    (void)index;
    (void)value;
    atomic_store(&ended_at_us, esp_timer_get_time());
}

static void give_then_delete_third_queue(void *arg)
{
    (void)arg;
    vTaskSetThreadLocalStoragePointerAndDelCallback(NULL, 0, NULL, note_the_end);
    const uint32_t item = 1;
    (void)xQueueSend(third_queue, &item, 0);
    atomic_store(&deleter_waits, true);
    vQueueDelete(third_queue); /* waits for the woken task, which works on */
    vTaskSuspend(NULL);
}

static void a_deleter_deleted_while_it_waits_ends_then(void **state)
{
    (void)state;
    reset();
    atomic_store(&ended_at_us, 0);
    atomic_store(&deleter_waits, false);
    static receiver_t r;
    TaskHandle_t worker = worker_on_a_queue(&r), deleter = NULL;
    third_queue = r.queue;
    assert_int_equal(
        xTaskCreate(give_then_delete_third_queue, "deleter", STACK, NULL, 2, &deleter), pdPASS);
    WAIT_FOR(atomic_load(&deleter_waits) && atomic_load(&woken_count) == 1);
    vTaskDelay(2); /* in its wait by now (0.5 s long) */
    const int64_t deleted_at = esp_timer_get_time();
    vTaskDelete(deleter);
    WAIT_FOR(atomic_load(&ended_at_us) != 0);
    assert_true(atomic_load(&ended_at_us) - deleted_at < 300000);
    let_go(worker);
    vQueueDelete(third_queue); /* its deleter never deleted it */
}
#endif

/* One that goes on without a FreeRTOS call (it spins) keeps the delete waiting 0.5 s at most:
 * then, no longer counted by the queue, the queue is deleted. */
static void a_delete_waits_for_a_woken_task_half_a_second_at_most(void **state)
{
    (void)state;
    reset();
    static receiver_t r;
    TaskHandle_t t = worker_on_a_queue(&r);
    assert_true(give(&r));
    const int64_t start = esp_timer_get_time();
    ASSERT_NOT_REFUSED(vQueueDelete(r.queue));
    assert_true(esp_timer_get_time() - start >= 490000); /* (its bound, to the microsecond) */
    assert_int_equal(atomic_load(&woken_count), 1);
    let_go(t);
}

/* A woken task that would not have preempted the deleter (its priority, or pinned to the other
 * core) had not run on the chip: the delete does not wait for it and is refused while it is still
 * counted (its thread runs meanwhile at most a few times in ROUNDS). */
static void a_delete_does_not_wait_for_a_woken_task_that_would_not_preempt_the_deleter(
    void **state)
{
    (void)state;
    const BaseType_t main_core = (BaseType_t)CONFIG_ESP_MAIN_TASK_AFFINITY;
    static const struct {
        UBaseType_t priority;
        bool other_core;
        bool suspended; /* the deleter suspended the scheduler */
    } cases[] = {{1, false, false}, {WAITER_PRIORITY, true, false}, {WAITER_PRIORITY, false, true}};
    /* (the main task's priority is 1) */
    del_kind = DEL_QUEUE;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int refused = 0;
        for (int round = 0; round < ROUNDS; round++) {
            reset();
            make_deletable(del_kind);
            TaskHandle_t t = blocked_waiter(1, cases[c].priority,
                                            !cases[c].other_core ? tskNO_AFFINITY
                                            : main_core == 1     ? 0
                                                                 : 1);
            if (cases[c].suspended) {
                vTaskSuspendAll();
            }
            assert_true(wake_deletable(del_kind));
            const uint64_t before = refused_calls();
            delete_deletable();
            if (cases[c].suspended) {
                (void)xTaskResumeAll();
            }
            if (refused_calls() != before) {
                ASSERT_REFUSED_SINCE(before, 1);
                refused++;
                WAIT_FOR(eTaskGetState(t) == eSuspended);
                ASSERT_NOT_REFUSED(delete_deletable());
            }
            WAIT_FOR(eTaskGetState(t) == eSuspended);
            assert_int_equal(atomic_load(&woken_count), 1);
            vTaskDelete(t);
        }
        assert_true(refused > 0);
    }
}

/* A thread that is no task (no record: a plain pthread never asked for its handle) waits unlisted
 * and is woken by a give as well. */
static void *receive_in_a_plain_thread(void *arg)
{
    uint32_t item = 0;
    return xQueueReceive(arg, &item, portMAX_DELAY) == pdPASS ? arg : NULL;
}

static void *wait_bits_in_a_plain_thread(void *arg)
{
    return xEventGroupWaitBits(arg, BIT2, pdTRUE, pdTRUE, portMAX_DELAY) == BIT2 ? arg : NULL;
}

static void a_thread_that_is_no_task_is_woken_too(void **state)
{
    (void)state;
    const UBaseType_t tasks = uxTaskGetNumberOfTasks();
    QueueHandle_t q = xQueueCreate(1, sizeof(uint32_t));
    EventGroupHandle_t g = xEventGroupCreate();
    assert_non_null(q);
    assert_non_null(g);
    pthread_t rx, bits;
    assert_int_equal(pthread_create(&rx, NULL, receive_in_a_plain_thread, q), 0);
    assert_int_equal(pthread_create(&bits, NULL, wait_bits_in_a_plain_thread, g), 0);
    vTaskDelay(5); /* no state to wait for: it has no record */
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks);
    const uint32_t item = 1;
    assert_int_equal(xQueueSend(q, &item, 0), pdPASS);
    xEventGroupSetBits(g, BIT2);
    void *got = NULL;
    assert_int_equal(pthread_join(rx, &got), 0);
    assert_ptr_equal(got, q);
    assert_int_equal(pthread_join(bits, &got), 0);
    assert_ptr_equal(got, g);
    vEventGroupDelete(g);
    vQueueDelete(q);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, boot, tasks_at_rest)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(a_task_a_give_wakes_is_ready_at_once),
        TEST(a_give_wakes_the_highest_priority_waiter_and_the_first_among_equals),
        TEST(a_give_from_an_isr_asks_for_a_yield_only_for_a_task_that_outranks_the_interrupted),
        TEST(a_take_from_an_isr_asks_for_a_yield_only_for_a_sender_that_outranks_the_interrupted),
        TEST(a_give_from_an_isr_after_an_aborted_wait_asks_for_no_yield),
        TEST(setting_bits_wakes_only_the_tasks_they_satisfy),
        TEST(deleting_an_event_group_wakes_every_waiter),
        TEST(a_task_deleted_once_woken_leaves_its_wait),
        TEST(a_delete_lets_a_woken_task_that_would_preempt_the_deleter_run_first),
        TEST(a_woken_task_that_waits_again_keeps_the_object_from_its_delete),
        TEST(a_delete_waits_for_a_woken_task_that_has_left_its_wait),
        TEST(a_deleter_woken_from_the_object_lets_a_higher_woken_task_run_first),
#ifdef CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS
        TEST(a_deleter_deleted_while_it_waits_ends_then),
#endif
        TEST(a_delete_waits_for_a_woken_task_half_a_second_at_most),
        TEST(a_deleter_deleted_by_the_woken_task_deletes_nothing),
        TEST(a_woken_task_deleted_meanwhile_ends_the_deletes_wait),
        TEST(a_delete_does_not_wait_for_a_woken_task_that_would_not_preempt_the_deleter),
        TEST(a_thread_that_is_no_task_is_woken_too),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
