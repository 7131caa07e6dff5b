/* test_freertos_handles.c - handles of deleted FreeRTOS objects on the host: every call given one
 * (a second delete, a *DeleteWithCaps() after a plain delete, a send, a query) is refused and
 * counted, and reads nothing behind it (the ASan build would stop at a read of the freed record);
 * so is a handle of another kind of object, and a deleted task's before its record goes. On the
 * chip these calls read freed memory (a deleted task's: depending on timing). */
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
#define KRAKEN_SIM_TRACE_FACILITY /* vTaskGetInfo and the task numbers, whatever the options */
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "freertos/idf_additions.h"
#include "freertos/message_buffer.h"
#include "freertos/queue.h"
#include "freertos/ringbuf.h"
#include "freertos/semphr.h"
#include "freertos/stream_buffer.h"
#include "freertos/task.h"
#include "freertos/timers.h"
#include "kraken_sim.h"

#include "capture_output.h" /* after esp_log.h: its log capture */
#include "freertos_test_support.h"
#include "freertos_refusals.h"
#include "freertos_timer_task.h"
#include "test_sanitizers.h"
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define CAPS (MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT)
#define INTERNAL (MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)

/* The simulated heap's free bytes, both kinds of RAM (PSRAM may be absent: 0). */
static size_t free_bytes(void)
{
    return heap_caps_get_free_size(INTERNAL) + heap_caps_get_free_size(MALLOC_CAP_SPIRAM);
}

static void ignore(TimerHandle_t timer)
{
    (void)timer;
}

/* Each *DeleteWithCaps() after a plain delete of the same WithCaps object: the plain delete leaks
 * its blocks (as on the chip), the WithCaps one is refused, frees nothing and says why. */
static void a_delete_with_caps_after_a_plain_delete_is_refused_and_frees_nothing(void **state)
{
    (void)state;
    const UBaseType_t caps = heap_caps_get_total_size(MALLOC_CAP_SPIRAM) != 0 ? CAPS : INTERNAL;
    QueueHandle_t q = xQueueCreateWithCaps(4, 8, caps);
    SemaphoreHandle_t sem = xSemaphoreCreateBinaryWithCaps(caps);
    EventGroupHandle_t group = xEventGroupCreateWithCaps(caps);
    StreamBufferHandle_t stream = xStreamBufferCreateWithCaps(64, 1, caps);
    MessageBufferHandle_t message = xMessageBufferCreateWithCaps(64, caps);
    RingbufHandle_t ring = xRingbufferCreateWithCaps(64, RINGBUF_TYPE_NOSPLIT, caps);
    assert_non_null(q);
    assert_non_null(sem);
    assert_non_null(group);
    assert_non_null(stream);
    assert_non_null(message);
    assert_non_null(ring);
    log_capture_begin();
    ASSERT_NOT_REFUSED(vQueueDelete(q), vSemaphoreDelete(sem), vEventGroupDelete(group),
                       vStreamBufferDelete(stream), vMessageBufferDelete(message),
                       vRingbufferDelete(ring));
    const size_t leaked = free_bytes();
    ASSERT_REFUSED(6, vQueueDeleteWithCaps(q), vSemaphoreDeleteWithCaps(sem),
                   vEventGroupDeleteWithCaps(group), vStreamBufferDeleteWithCaps(stream),
                   vMessageBufferDeleteWithCaps(message), vRingbufferDeleteWithCaps(ring));
    const char *logged = log_capture_end();
    assert_int_equal(free_bytes(), leaked); /* nothing freed on the strength of a dead handle */
    assert_non_null(strstr(logged, "vQueueDeleteWithCaps("));
    assert_non_null(strstr(logged, "no live queue (deleted, or never one)"));
    assert_non_null(strstr(logged, "vSemaphoreDeleteWithCaps("));
    assert_non_null(strstr(logged, "vEventGroupDeleteWithCaps("));
    assert_non_null(strstr(logged, "no live event group (deleted, or never one)"));
    assert_non_null(strstr(logged, "no live stream or message buffer (deleted, or never one)"));
    assert_non_null(strstr(logged, "vRingbufferDeleteWithCaps: no live ring buffer"));
}

/* A plain object deleted twice: the second delete is refused (the chip frees it again). */
static void a_second_delete_is_refused(void **state)
{
    (void)state;
    QueueHandle_t q = xQueueCreate(2, 4);
    SemaphoreHandle_t mutex = xSemaphoreCreateMutex();
    QueueSetHandle_t set = xQueueCreateSet(2);
    EventGroupHandle_t group = xEventGroupCreate();
    StreamBufferHandle_t stream = xStreamBufferCreate(32, 1);
    RingbufHandle_t ring = xRingbufferCreate(64, RINGBUF_TYPE_BYTEBUF);
    TimerHandle_t timer = xTimerCreate("t", 1000, pdFALSE, NULL, ignore);
    const size_t before = free_bytes();
    vQueueDelete(q);
    vSemaphoreDelete(mutex);
    vQueueDelete(set);
    vEventGroupDelete(group);
    vStreamBufferDelete(stream);
    vRingbufferDelete(ring);
    assert_int_equal(xTimerDelete(timer, 0), pdPASS);
    const size_t after = free_bytes();
    assert_true(after > before);
    ASSERT_REFUSED(7, vQueueDelete(q), vSemaphoreDelete(mutex), vQueueDelete(set),
                   vEventGroupDelete(group), vStreamBufferDelete(stream), vRingbufferDelete(ring),
                   assert_int_equal(xTimerDelete(timer, 0), pdFAIL));
    assert_int_equal(free_bytes(), after);
}

/* Every queue and semaphore call given a deleted queue is refused with its failure answer. */
static void a_deleted_queue_is_refused_by_every_call(void **state)
{
    (void)state;
    QueueHandle_t q = xQueueCreate(2, sizeof(uint32_t));
    SemaphoreHandle_t mutex = xSemaphoreCreateRecursiveMutex();
    QueueSetHandle_t set = xQueueCreateSet(2);
    QueueHandle_t live = xQueueCreate(1, sizeof(uint32_t));
    QueueSetHandle_t live_set = xQueueCreateSet(1);
    assert_non_null(live_set);
    assert_non_null(q);
    assert_non_null(mutex);
    assert_non_null(set);
    assert_non_null(live);
    vQueueDelete(q);
    vSemaphoreDelete(mutex);
    vQueueDelete(set);
    uint32_t item = 7;
    StaticQueue_t *buffer = NULL;
    BaseType_t woken = pdFALSE;
    ASSERT_REFUSED(1, assert_int_equal(xQueueSend(q, &item, 0), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xQueueSendFromISR(q, &item, &woken), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xQueueReceive(q, &item, 0), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xQueuePeek(q, &item, 0), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xQueueReceiveFromISR(q, &item, &woken), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xQueuePeekFromISR(q, &item), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(uxQueueMessagesWaiting(q), 0));
    ASSERT_REFUSED(1, assert_int_equal(uxQueueSpacesAvailable(q), 0));
    ASSERT_REFUSED(1, assert_int_equal(xQueueReset(q), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xQueueGenericGetStaticBuffers(q, NULL, &buffer), pdFALSE));
    ASSERT_REFUSED(1, assert_int_equal(xSemaphoreTake(mutex, 0), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xSemaphoreGive(mutex), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xSemaphoreTakeRecursive(mutex, 0), pdFALSE));
    ASSERT_REFUSED(1, assert_int_equal(xSemaphoreGiveRecursive(mutex), pdFALSE));
    ASSERT_REFUSED(1, assert_null(xSemaphoreGetMutexHolder(mutex)));
    /* the queue-set calls, with a dead set or a dead member */
    ASSERT_REFUSED(1, assert_int_equal(xQueueAddToSet(live, set), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xQueueAddToSet(q, live_set), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xQueueRemoveFromSet(q, live_set), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xQueueRemoveFromSet(live, set), pdFAIL));
    ASSERT_REFUSED(1, assert_null(xQueueSelectFromSet(set, 0)));
    ASSERT_REFUSED(1, assert_null(xQueueSelectFromSetFromISR(set)));
    /* a live queue still works */
    ASSERT_NOT_REFUSED(assert_int_equal(xQueueSend(live, &item, 0), pdPASS));
    vQueueDelete(live);
    vQueueDelete(live_set);
}

static void a_deleted_event_group_is_refused_by_every_call(void **state)
{
    (void)state;
    EventGroupHandle_t group = xEventGroupCreate();
    assert_non_null(group);
    vEventGroupDelete(group);
    StaticEventGroup_t *buffer = NULL;
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupSetBits(group, 1), 0));
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupClearBits(group, 1), 0));
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupGetBits(group), 0));
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupWaitBits(group, 1, pdFALSE, pdFALSE, 0), 0));
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupSync(group, 1, 3, 0), 0));
    /* the dead group is what a refused wait reports too (in a simulated ISR, as a queue does) */
    kraken_sim_isr_enter();
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupWaitBits(group, 1, pdFALSE, pdFALSE, 10), 0));
    kraken_sim_isr_exit();
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupSetBitsFromISR(group, 1, NULL), pdFAIL));
    kraken_sim_isr_enter();
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupGetBitsFromISR(group), 0));
    kraken_sim_isr_exit();
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupGetStaticBuffer(group, &buffer), pdFALSE));
}

static void a_deleted_stream_buffer_is_refused_by_every_call(void **state)
{
    (void)state;
    StreamBufferHandle_t stream = xStreamBufferCreate(32, 1);
    MessageBufferHandle_t message = xMessageBufferCreate(32);
    assert_non_null(stream);
    assert_non_null(message);
    vStreamBufferDelete(stream);
    vMessageBufferDelete(message);
    uint8_t data[4] = {1, 2, 3, 4};
    ASSERT_REFUSED(1, assert_int_equal(xStreamBufferSend(stream, data, sizeof data, 0), 0));
    ASSERT_REFUSED(1, assert_int_equal(xStreamBufferReceive(stream, data, sizeof data, 0), 0));
    ASSERT_REFUSED(1, assert_int_equal(xMessageBufferSend(message, data, sizeof data, 0), 0));
    ASSERT_REFUSED(1, assert_int_equal(xStreamBufferBytesAvailable(stream), 0));
    ASSERT_REFUSED(1, assert_int_equal(xStreamBufferSpacesAvailable(stream), 0));
    ASSERT_REFUSED(1, assert_int_equal(xStreamBufferIsFull(stream), pdFALSE));
    ASSERT_REFUSED(1, assert_int_equal(xStreamBufferReset(stream), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xStreamBufferSetTriggerLevel(stream, 2), pdFALSE));
    ASSERT_REFUSED(1, assert_int_equal(xMessageBufferNextLengthBytes(message), 0));
}

static void a_deleted_ring_buffer_is_refused_by_every_call(void **state)
{
    (void)state;
    RingbufHandle_t ring = xRingbufferCreate(64, RINGBUF_TYPE_NOSPLIT);
    RingbufHandle_t live = xRingbufferCreate(64, RINGBUF_TYPE_NOSPLIT);
    QueueSetHandle_t set = xQueueCreateSet(2);
    assert_non_null(ring);
    assert_non_null(live);
    assert_non_null(set);
    vRingbufferDelete(ring);
    vQueueDelete(set);
    /* a live buffer, a deleted set: the set is not counted into (nor read) */
    ASSERT_REFUSED(1, assert_int_equal(xRingbufferAddToQueueSetRead(live, set), pdFALSE));
    vRingbufferDelete(live);
    uint8_t data[4] = {1, 2, 3, 4};
    size_t size = 0;
    void *item = NULL;
    UBaseType_t free_at = 99;
    ASSERT_REFUSED(1, assert_int_equal(xRingbufferSend(ring, data, sizeof data, 0), pdFALSE));
    ASSERT_REFUSED(1, assert_int_equal(xRingbufferSendAcquire(ring, &item, 4, 0), pdFALSE));
    ASSERT_REFUSED(1, assert_null(xRingbufferReceive(ring, &size, 0)));
    ASSERT_REFUSED(1, vRingbufferReturnItem(ring, data));
    ASSERT_REFUSED(1, assert_int_equal(xRingbufferGetMaxItemSize(ring), 0));
    ASSERT_REFUSED(1, assert_int_equal(xRingbufferGetCurFreeSize(ring), 0));
    ASSERT_REFUSED(1, vRingbufferGetInfo(ring, &free_at, NULL, NULL, NULL, NULL));
    assert_int_equal(free_at, 99); /* nothing written */
}

static atomic_int self_deleted; /* 1: deleted and still live in its callback; 2: not */

static void delete_itself(TimerHandle_t timer)
{
    const bool deleted = xTimerDelete(timer, 0) == pdPASS;
    /* still live until its callback returns, as on the chip */
    const bool live = pvTimerGetTimerID(timer) == &self_deleted;
    atomic_store(&self_deleted, deleted && live ? 1 : 2);
}

/* A timer deleted in its own callback is freed once it returns: its handle is dead then. */
static void a_timer_deleted_in_its_callback_is_refused_after_it(void **state)
{
    (void)state;
    atomic_store(&self_deleted, 0);
    TimerHandle_t timer = xTimerCreate("once", 1, pdFALSE, &self_deleted, delete_itself);
    assert_non_null(timer);
    assert_int_equal(xTimerStart(timer, 0), pdPASS);
    WAIT_FOR(atomic_load(&self_deleted));
    assert_int_equal(atomic_load(&self_deleted), 1);
    flush_timer_task();
    ASSERT_REFUSED(1, assert_null(pvTimerGetTimerID(timer)));
    ASSERT_REFUSED(1, assert_int_equal(xTimerDelete(timer, 0), pdFAIL));
}

/* A static timer deleted in its callback and made again there on its buffer: the new one is a
 * timer of its own (the old one is freed when the call returns), as on the chip. */
static StaticTimer_t remade_buffer;
static _Atomic(TimerHandle_t) remade;

static void delete_and_remake(TimerHandle_t timer)
{
    (void)xTimerDelete(timer, 0);
    atomic_store(&remade, xTimerCreateStatic("again", 1, pdFALSE, NULL, ignore, &remade_buffer));
}

static void a_static_timer_deleted_in_its_callback_may_be_made_again_there(void **state)
{
    (void)state;
    atomic_store(&remade, NULL);
    TimerHandle_t timer =
        xTimerCreateStatic("once", 1, pdFALSE, NULL, delete_and_remake, &remade_buffer);
    assert_non_null(timer);
    assert_int_equal(xTimerStart(timer, 0), pdPASS);
    WAIT_FOR(atomic_load(&remade) != NULL);
    flush_timer_task();
    TimerHandle_t again = atomic_load(&remade);
    assert_non_null(again);
    assert_int_equal(xTimerIsTimerActive(again), pdFALSE);
    assert_int_equal(xTimerDelete(again, 0), pdPASS);

    /* Not an auto-reload one: the chip has it back in its active list during the callback, and a
     * create over it would corrupt the list. Refused as live; freed after the call. */
    const uint64_t before = refused_calls();
    timer = xTimerCreateStatic("reload", 1, pdTRUE, NULL, delete_and_remake, &remade_buffer);
    assert_non_null(timer);
    assert_int_equal(xTimerStart(timer, 0), pdPASS);
    WAIT_FOR(refused_calls() != before);
    flush_timer_task();
    ASSERT_REFUSED_SINCE(before, 1);
    assert_null(atomic_load(&remade));
    again = xTimerCreateStatic("after", 1, pdFALSE, NULL, ignore, &remade_buffer); /* now free */
    assert_non_null(again);
    assert_int_equal(xTimerDelete(again, 0), pdPASS);
}

static void a_deleted_timer_is_refused_by_every_call(void **state)
{
    (void)state;
    int id = 0;
    TimerHandle_t timer = xTimerCreate("t", 1000, pdTRUE, &id, ignore);
    assert_non_null(timer);
    assert_int_equal(xTimerDelete(timer, 0), pdPASS);
    ASSERT_REFUSED(1, assert_int_equal(xTimerStart(timer, 0), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xTimerStop(timer, 0), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xTimerChangePeriod(timer, 5, 0), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xTimerIsTimerActive(timer), pdFALSE));
    ASSERT_REFUSED(1, assert_null(pvTimerGetTimerID(timer)));
    ASSERT_REFUSED(1, vTimerSetTimerID(timer, NULL));
    ASSERT_REFUSED(1, assert_null(pcTimerGetName(timer)));
    ASSERT_REFUSED(1, assert_int_equal(xTimerGetPeriod(timer), 0));
    ASSERT_REFUSED(1, assert_int_equal(xTimerGetReloadMode(timer), pdFALSE));
}

/* A handle cast to another kind (a queue given as a ring buffer...) names no object of that kind. */
static void a_handle_of_another_kind_is_refused(void **state)
{
    (void)state;
    QueueHandle_t q = xQueueCreate(2, sizeof(uint32_t));
    EventGroupHandle_t group = xEventGroupCreate();
    RingbufHandle_t ring = xRingbufferCreate(64, RINGBUF_TYPE_NOSPLIT);
    assert_non_null(q);
    assert_non_null(group);
    assert_non_null(ring);
    uint32_t item = 1;
    ASSERT_REFUSED(1, assert_int_equal(xQueueSend((QueueHandle_t)(void *)group, &item, 0), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xEventGroupSetBits((EventGroupHandle_t)(void *)q, 1), 0));
    ASSERT_REFUSED(1, assert_int_equal(xRingbufferSend((RingbufHandle_t)(void *)q, &item, 4, 0),
                                       pdFALSE));
    ASSERT_REFUSED(1, assert_int_equal(xStreamBufferSend((StreamBufferHandle_t)(void *)ring, &item,
                                                         4, 0), 0));
    ASSERT_REFUSED(1, vQueueDelete((QueueHandle_t)(void *)ring));
    ASSERT_NOT_REFUSED(assert_int_equal(xQueueSend(q, &item, 0), pdPASS)); /* all still there */
    vQueueDelete(q);
    vEventGroupDelete(group);
    vRingbufferDelete(ring);
}

/* A static create given the buffer of a live object (an init run twice) is refused and changes
 * nothing: FreeRTOS would re-initialise that object under its handle (its items, its waiters).
 * Once the object is deleted, its buffer may be used again. */
static void a_static_create_over_a_live_objects_buffer_is_refused(void **state)
{
    (void)state;
    static StaticQueue_t queue_buffer;
    static StaticSemaphore_t mutex_buffer;
    static StaticEventGroup_t group_buffer;
    static StaticStreamBuffer_t stream_buffer;
    static StaticRingbuffer_t ring_buffer;
    static StaticTimer_t timer_buffer;
    static uint8_t queue_storage[8], stream_storage[32], ring_storage[64];
    for (int round = 0; round < 2; round++) {
        QueueHandle_t q = xQueueCreateStatic(2, 4, queue_storage, &queue_buffer);
        SemaphoreHandle_t m = xSemaphoreCreateMutexStatic(&mutex_buffer);
        EventGroupHandle_t g = xEventGroupCreateStatic(&group_buffer);
        StreamBufferHandle_t sb =
            xStreamBufferCreateStatic(sizeof stream_storage, 1, stream_storage, &stream_buffer);
        RingbufHandle_t rb = xRingbufferCreateStatic(sizeof ring_storage, RINGBUF_TYPE_NOSPLIT,
                                                     ring_storage, &ring_buffer);
        TimerHandle_t t = xTimerCreateStatic("once", 10, pdFALSE, NULL, ignore, &timer_buffer);
        assert_true(q != NULL && m != NULL && g != NULL && sb != NULL && rb != NULL && t != NULL);
        const uint32_t item = 7;
        assert_int_equal(xQueueSend(q, &item, 0), pdPASS);
        log_capture_begin();
        ASSERT_REFUSED(1, assert_null(xQueueCreateStatic(2, 4, queue_storage, &queue_buffer)));
        ASSERT_REFUSED(1, assert_null(xSemaphoreCreateBinaryStatic(&mutex_buffer)));
        ASSERT_REFUSED(1, assert_null(xEventGroupCreateStatic(&group_buffer)));
        ASSERT_REFUSED(1, assert_null(xMessageBufferCreateStatic(sizeof stream_storage,
                                                                 stream_storage, &stream_buffer)));
        ASSERT_REFUSED(1, assert_null(xRingbufferCreateStatic(
                              sizeof ring_storage, RINGBUF_TYPE_NOSPLIT, ring_storage, &ring_buffer)));
        ASSERT_REFUSED(1, assert_null(xTimerCreateStatic("twice", 10, pdFALSE, NULL, ignore,
                                                         &timer_buffer)));
        const char *logged = log_capture_end();
        assert_non_null(strstr(logged, "the buffer of a live queue, semaphore or queue set "
                                       "(delete it first): refused"));
        assert_non_null(strstr(logged, "xTimerCreateStatic("));
        assert_int_equal(uxQueueMessagesWaiting(q), 1); /* the live one untouched */
        assert_ptr_equal(queue_buffer.host, q);
        vQueueDelete(q);
        vSemaphoreDelete(m);
        vEventGroupDelete(g);
        vStreamBufferDelete(sb);
        vRingbufferDelete(rb);
        assert_int_equal(xTimerDelete(t, portMAX_DELAY), pdPASS);
    } /* the second round: the same buffers again, each object deleted */

    /* A buffer whose first word happens to name a live queue made on another buffer (garbage, or
     * the record of a deleted queue reused for a new one) is no live queue's buffer. */
    static StaticQueue_t other_buffer;
    static uint8_t other_storage[8];
    QueueHandle_t other = xQueueCreateStatic(2, 4, other_storage, &other_buffer);
    assert_non_null(other);
    queue_buffer.host = other;
    QueueHandle_t q = xQueueCreateStatic(2, 4, queue_storage, &queue_buffer);
    assert_non_null(q);
    vQueueDelete(q);
    vQueueDelete(other);
}

static void wait_forever(void *arg);

static void task_deletes_itself(void *arg)
{
    (void)arg;
    vTaskDelete(NULL);
}

/* The same for a task: a static create given the TCB buffer or the stack of a task not deleted is
 * refused (FreeRTOS would make a second task over its TCB, or run two tasks on one stack). A task
 * deleted by another gives its buffers back at once, one that deleted itself once its thread has
 * ended (the chip's idle task has cleaned it up then). */
static void a_static_task_over_a_live_tasks_buffers_is_refused(void **state)
{
    (void)state;
    static StaticTask_t tcb, other_tcb;
    static StackType_t stack[4096], other_stack[4096];
    const UBaseType_t tasks = uxTaskGetNumberOfTasks();
    TaskHandle_t t = xTaskCreateStatic(wait_forever, "first", sizeof stack, NULL, 5, stack, &tcb);
    assert_non_null(t);
    log_capture_begin();
    ASSERT_REFUSED(1, assert_null(xTaskCreateStatic(wait_forever, "x", sizeof other_stack, NULL, 5,
                                                    other_stack, &tcb)));
    ASSERT_REFUSED(1, assert_null(xTaskCreateStatic(wait_forever, "x", sizeof stack, NULL, 5,
                                                    stack, &other_tcb)));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "the buffer of a live task (delete it first): refused"));
    assert_non_null(strstr(logged, "the stack of task \"first\", not deleted: refused"));
    assert_ptr_equal(tcb.host, t); /* the live one untouched */
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks + 1);
    other_tcb.host = t; /* a first word naming a live task made on another buffer: garbage */
    TaskHandle_t other = xTaskCreateStatic(wait_forever, "other", sizeof other_stack, NULL, 5,
                                           other_stack, &other_tcb);
    assert_non_null(other);
    vTaskDelete(other);
    vTaskDelete(t);
    t = xTaskCreateStatic(task_deletes_itself, "second", sizeof stack, NULL, 5, stack, &tcb);
    assert_non_null(t);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks);
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks);
    t = xTaskCreateStatic(wait_forever, "third", sizeof stack, NULL, 5, stack, &tcb);
    assert_non_null(t);
    vTaskDelete(t);
}

/* Overlaps, not only the same buffers: a static create whose stack or TCB buffer shares a byte
 * with a live task's stack or TCB buffer, or whose own two overlap, is refused; buffers that only
 * touch are not. */
static void a_static_task_overlapping_a_live_tasks_buffers_is_refused(void **state)
{
    (void)state;
    enum { S = 4096 };
    _Alignas(16) static StackType_t area[4 * S]; /* the live task's stack is [S, 2S) */
    static StaticTask_t tcb, other_tcb;
    TaskHandle_t t = xTaskCreateStatic(wait_forever, "first", S, NULL, 5, area + S, &tcb);
    assert_non_null(t);
    log_capture_begin();
    /* into the live stack from below, and from inside */
    ASSERT_REFUSED(1, assert_null(xTaskCreateStatic(wait_forever, "x", S, NULL, 5, area + 16,
                                                    &other_tcb)));
    ASSERT_REFUSED(1, assert_null(xTaskCreateStatic(wait_forever, "x", 64, NULL, 5,
                                                    area + 2 * S - 64, &other_tcb)));
    /* a TCB buffer in the live stack; a stack over the live TCB buffer */
    ASSERT_REFUSED(1, assert_null(xTaskCreateStatic(wait_forever, "x", S, NULL, 5, area + 2 * S,
                                                    (StaticTask_t *)(void *)(area + S + 256))));
    ASSERT_REFUSED(1, assert_null(xTaskCreateStatic(wait_forever, "x", sizeof tcb, NULL, 5,
                                                    (StackType_t *)(void *)&tcb, &other_tcb)));
    /* its own stack and TCB buffer overlapping */
    ASSERT_REFUSED(1, assert_null(xTaskCreateStatic(wait_forever, "x", S, NULL, 5, area + 2 * S,
                                                    (StaticTask_t *)(void *)(area + 3 * S - 16))));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "the stack overlaps the stack of task \"first\", not deleted"));
    assert_non_null(strstr(logged, "the TCB buffer is in the stack of task \"first\""));
    assert_non_null(strstr(logged, "overlaps the TCB buffer of task \"first\""));
    assert_non_null(strstr(logged, "and the TCB buffer"));
    assert_ptr_equal(tcb.host, t); /* the live one untouched */
    /* touching, not overlapping: a stack that ends where the live one starts, and a TCB buffer
     * that starts where it ends */
    ASSERT_NOT_REFUSED({
        TaskHandle_t next = xTaskCreateStatic(wait_forever, "next", S, NULL, 5, area,
                                              (StaticTask_t *)(void *)(area + 2 * S));
        assert_non_null(next);
        vTaskDelete(next);
    });
    vTaskDelete(t);
}

/* Many objects, half of them deleted in an order unlike their creation's: each live one is still
 * found (the tree is rebalanced as they come and go), each dead one refused. */
static void many_handles_stay_found_as_others_come_and_go(void **state)
{
    (void)state;
    enum { N = 600 };
    static QueueHandle_t q[N];
    for (int i = 0; i < N; i++) {
        q[i] = xQueueCreate(1, 1);
        assert_non_null(q[i]);
    }
    for (int i = N - 1; i >= 0; i -= 2) {
        vQueueDelete(q[i]);
    }
    for (int i = 0; i < N; i += 2) {
        ASSERT_NOT_REFUSED(assert_int_equal(uxQueueSpacesAvailable(q[i]), 1));
    }
    ASSERT_REFUSED(N / 2, for (int i = 1; i < N; i += 2) {
        assert_int_equal(uxQueueSpacesAvailable(q[i]), 0);
    });
    for (int i = 0; i < N; i += 2) {
        vQueueDelete(q[i]);
    }
    ASSERT_REFUSED(N, for (int i = 0; i < N; i++) { vQueueDelete(q[i]); });
}

static void wait_forever(void *arg)
{
    (void)arg;
    for (;;) {
        (void)ulTaskNotifyTake(pdTRUE, portMAX_DELAY);
    }
}

/* True once a task deleted by another has ended its thread and freed its record, which it does
 * at its next FreeRTOS call, whenever the host runs it: a delete then finds no live task instead
 * of one deleted already (each try refused, and asserted). */
static bool record_goes(TaskHandle_t deleted)
{
    bool gone = false;
    for (TickType_t waited = 0; !gone && waited < PATIENCE_TICKS; waited++) {
        log_capture_begin();
        ASSERT_REFUSED(1, vTaskDelete(deleted));
        gone = strstr(log_capture_end(), "no live task") != NULL;
        if (!gone) {
            vTaskDelay(1);
        }
    }
    return gone;
}

#ifdef CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS
static atomic_int in_tls_callback; /* 1: entered, 2: may return */

static void hold_in_callback(int index, void *value)
{
    (void)index;
    (void)value;
    atomic_store(&in_tls_callback, 1);
    while (atomic_load(&in_tls_callback) != 2) {
    }
}

static void set_callback_then_delete_itself(void *arg)
{
    (void)arg;
    vTaskSetThreadLocalStoragePointerAndDelCallback(NULL, 0, NULL, hold_in_callback);
    vTaskDelete(NULL);
}

/* A task that deleted itself keeps its TCB buffer until its thread has ended (on the chip: until
 * the idle task has cleaned it up), here while its deletion callbacks run. */
static void a_self_deleted_tasks_tcb_buffer_is_refused_until_its_thread_ends(void **state)
{
    (void)state;
    static StaticTask_t tcb;
    static StackType_t stack[4096], other_stack[4096];
    atomic_store(&in_tls_callback, 0);
    TaskHandle_t t = xTaskCreateStatic(set_callback_then_delete_itself, "ending", sizeof stack,
                                       NULL, 5, stack, &tcb);
    assert_non_null(t);
    WAIT_FOR(atomic_load(&in_tls_callback) == 1);
    log_capture_begin();
    ASSERT_REFUSED(1, assert_null(xTaskCreateStatic(wait_forever, "x", sizeof other_stack, NULL, 5,
                                                    other_stack, &tcb)));
    assert_non_null(strstr(log_capture_end(), "the buffer of a live task (delete it first)"));
    log_capture_begin(); /* a second delete meanwhile: a double delete on the chip */
    ASSERT_REFUSED(1, vTaskDelete(t));
    assert_non_null(strstr(log_capture_end(), "(\"ending\"): deleted already: refused"));
    atomic_store(&in_tls_callback, 2);
    assert_true(record_goes(t));
    t = xTaskCreateStatic(wait_forever, "again", sizeof other_stack, NULL, 5, other_stack, &tcb);
    assert_non_null(t);
    vTaskDelete(t);
}
#endif

/* A deleted task's record goes with its thread: its handle is refused by a second delete, plain
 * or WithCaps, whenever it comes. */
static void a_task_deleted_twice_is_refused(void **state)
{
    (void)state;
    TaskHandle_t plain = NULL, caps = NULL;
    assert_int_equal(xTaskCreate(wait_forever, "plain", 4096, NULL, 5, &plain), pdPASS);
    assert_int_equal(xTaskCreateWithCaps(wait_forever, "caps", 4096, NULL, 5, &caps, INTERNAL),
                     pdPASS);
    const UBaseType_t tasks = uxTaskGetNumberOfTasks();
    vTaskDelete(plain);
    vTaskDeleteWithCaps(caps);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks - 2);
    assert_true(record_goes(plain) && record_goes(caps)); /* refused before too: deleted */
    log_capture_begin();
    ASSERT_REFUSED(3, vTaskDelete(plain), vTaskDeleteWithCaps(plain), vTaskDeleteWithCaps(caps));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "no live task (deleted, or never one)"));
    assert_null(strstr(logged, "deleted already")); /* the three found no record */
    /* its state: deleted, read from nothing (polling for it is how code waits for an end) */
    ASSERT_NOT_REFUSED(assert_int_equal(eTaskGetState(plain), eDeleted));
}

static void delete_myself(void *arg)
{
    (void)arg;
    vTaskDelete(NULL);
}

/* Every task call given the handle of a deleted task is refused once with its failure answer and
 * reads or writes nothing of it; the log is the caller's to check. */
static void every_task_call_refuses(TaskHandle_t gone)
{
    uint32_t previous = 7;
    BaseType_t woken = pdFALSE;
    StackType_t *stack = NULL;
    StaticTask_t *buffer = NULL;
    ASSERT_REFUSED(1, assert_int_equal(xTaskNotify(gone, 1, eSetBits), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xTaskNotifyGive(gone), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(
                          xTaskNotifyAndQuery(gone, 1, eSetValueWithOverwrite, &previous), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xTaskNotifyFromISR(gone, 1, eSetBits, &woken), pdFAIL));
    ASSERT_REFUSED(1, vTaskNotifyGiveFromISR(gone, &woken));
    ASSERT_REFUSED(1, assert_int_equal(xTaskNotifyStateClear(gone), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(ulTaskNotifyValueClear(gone, 0xFFFFFFFFu), 0));
    ASSERT_REFUSED(1, vTaskSuspend(gone));
    ASSERT_REFUSED(1, vTaskResume(gone));
    ASSERT_REFUSED(1, assert_int_equal(xTaskResumeFromISR(gone), pdFALSE));
    ASSERT_REFUSED(1, vTaskPrioritySet(gone, 3));
    ASSERT_REFUSED(1, assert_int_equal(uxTaskPriorityGet(gone), 0));
    ASSERT_REFUSED(1, assert_int_equal(uxTaskPriorityGetFromISR(gone), 0));
    ASSERT_REFUSED(1, assert_int_equal(xTaskAbortDelay(gone), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(uxTaskGetStackHighWaterMark(gone), 0));
    ASSERT_REFUSED(1, assert_string_equal(pcTaskGetName(gone), ""));
    ASSERT_REFUSED(1, assert_int_equal(xTaskGetCoreID(gone), tskNO_AFFINITY));
    ASSERT_REFUSED(1, assert_null(xTaskGetStackStart(gone)));
    ASSERT_REFUSED(1, assert_int_equal(xTaskGetStaticBuffers(gone, &stack, &buffer), pdFALSE));
    ASSERT_REFUSED(1, vTaskSetThreadLocalStoragePointer(gone, 0, &previous));
    ASSERT_REFUSED(1, assert_null(pvTaskGetThreadLocalStoragePointer(gone, 0)));
#ifdef CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS
    ASSERT_REFUSED(1, vTaskSetThreadLocalStoragePointerAndDelCallback(gone, 0, &previous, NULL));
#endif
    TaskStatus_t status = {0};
    ASSERT_REFUSED(1, vTaskGetInfo(gone, &status, pdTRUE, eInvalid));
    assert_null(status.xHandle);
    ASSERT_REFUSED(1, vTaskSetTaskNumber(gone, 9));
    ASSERT_REFUSED(1, assert_int_equal(uxTaskGetTaskNumber(gone), 0));
#ifdef CONFIG_FREERTOS_USE_APPLICATION_TASK_TAG
    ASSERT_REFUSED(1, vTaskSetApplicationTaskTag(gone, NULL));
    ASSERT_REFUSED(1, assert_null(xTaskGetApplicationTaskTag(gone)));
    ASSERT_REFUSED(1, assert_null(xTaskGetApplicationTaskTagFromISR(gone)));
    ASSERT_REFUSED(1, assert_int_equal(xTaskCallApplicationTaskHook(gone, NULL), pdFAIL));
#endif
    assert_int_equal(previous, 7); /* nothing written from the gone record */
    assert_int_equal(woken, pdFALSE);
    assert_null(stack);
    assert_null(buffer);
}

/* A task that deleted itself and whose thread has ended (its record retired, poisoned under ASan):
 * every call given its handle is refused with its failure answer and reads nothing (the ASan
 * build stops at a read). */
static void a_task_gone_is_refused_by_every_call(void **state)
{
    (void)state;
    const UBaseType_t tasks = uxTaskGetNumberOfTasks();
    TaskHandle_t gone = NULL;
    assert_int_equal(xTaskCreate(delete_myself, "gone", 4096, NULL, 5, &gone), pdPASS);
    /* uncounted as its thread ends, in the lock hold that takes its handle off the live ones */
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks);
#ifdef TEST_ASAN
    assert_true(__asan_address_is_poisoned(gone));
#endif
    log_capture_begin();
    every_task_call_refuses(gone);
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "xTaskGenericNotify("));
    assert_non_null(strstr(logged, "no live task (deleted, or never one)"));
    /* NULL keeps its meaning, the caller, and a live task's handle is not refused */
    ASSERT_NOT_REFUSED(
        assert_int_equal(uxTaskPriorityGet(NULL), uxTaskPriorityGet(xTaskGetCurrentTaskHandle())));
    ASSERT_NOT_REFUSED(assert_int_equal(xTaskNotifyGive(xTaskGetCurrentTaskHandle()), pdPASS));
    ASSERT_NOT_REFUSED(assert_int_equal(ulTaskNotifyTake(pdTRUE, 0), 1));
}

static atomic_uint own_priority; /* what spin_then_delay read of itself once deleted */

static void spin_then_delay(void *arg)
{
    atomic_int *go = arg;
    atomic_store(go, 1);
    while (atomic_load(go) == 1) { /* no call into FreeRTOS: its record stays */
    }
    /* deleted meanwhile, it still runs here (the chip's would not): its own handle is its own */
    atomic_store(&own_priority, (unsigned)uxTaskPriorityGet(xTaskGetCurrentTaskHandle()));
    atomic_store(go, 3);
    vTaskDelay(1); /* deleted: it ends here */
}

/* Deleted by another task while it runs, its thread not ended yet (its record still there): on the
 * chip vTaskDelete() frees a task that is not running at once, so whether its TCB is still there
 * (a task running on the other core, until the idle task's clean-up) is timing. Every call but
 * eTaskGetState() (eDeleted, as the chip's for a task waiting for its clean-up) is refused, as
 * after the record goes. */
static void a_task_deleted_but_not_yet_freed_is_refused_by_every_call(void **state)
{
    (void)state;
    static atomic_int go; /* static: the thread ends without a join, after its last read of it */
    atomic_store(&go, 0);
    TaskHandle_t deleted = NULL;
    assert_int_equal(xTaskCreate(spin_then_delay, "spinner", 4096, &go, 5, &deleted), pdPASS);
    WAIT_FOR(atomic_load(&go) == 1);
    vTaskDelete(deleted);
    log_capture_begin();
    every_task_call_refuses(deleted);
    ASSERT_NOT_REFUSED(assert_int_equal(eTaskGetState(deleted), eDeleted));
    ASSERT_REFUSED(1, vTaskDelete(deleted));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "xTaskGenericNotify(\"spinner\"): a deleted task (its thread "
                                   "not ended yet): refused"));
    assert_non_null(strstr(logged, "vTaskDelete(\"spinner\"): deleted already"));
    assert_null(strstr(logged, "no live task")); /* its record was there throughout */
    ASSERT_NOT_REFUSED(atomic_store(&go, 2); WAIT_FOR(atomic_load(&go) == 3));
    assert_int_equal(atomic_load(&own_priority), 5);
    vTaskDelay(2); /* its thread usually ends meanwhile; later, it touches only host records */
}

typedef struct {
    atomic_int go;
    EventGroupHandle_t group;
    atomic_uint bits; /* what it read from a simulated ISR once deleted */
} isr_reader_t;

static void spin_then_read_from_isr(void *arg)
{
    isr_reader_t *r = arg;
    atomic_store(&r->go, 1);
    while (atomic_load(&r->go) == 1) {
    }
    /* deleted meanwhile: an ISR that interrupts it is no call of the task, so it does not end it
     * (xEventGroupGetBits: a call made from tasks and ISRs alike) */
    kraken_sim_isr_enter();
    atomic_store(&r->bits, (unsigned)xEventGroupGetBits(r->group));
    kraken_sim_isr_exit();
    atomic_store(&r->go, 3);
    vTaskDelay(1); /* deleted: it ends here */
}

/* A call made in a simulated ISR on a deleted task's thread answers; the task's own next call
 * ends it (ending it there would end the thread inside the ISR). */
static void an_isr_on_a_deleted_tasks_thread_is_answered(void **state)
{
    (void)state;
    static isr_reader_t r; /* static: the thread ends without a join, after its last read of it */
    r.group = xEventGroupCreate();
    assert_non_null(r.group);
    assert_int_equal(xEventGroupSetBits(r.group, 0x5), 0x5);
    atomic_store(&r.go, 0);
    atomic_store(&r.bits, 0);
    TaskHandle_t reader = NULL;
    assert_int_equal(xTaskCreate(spin_then_read_from_isr, "reader", 4096, &r, 5, &reader), pdPASS);
    WAIT_FOR(atomic_load(&r.go) == 1);
    vTaskDelete(reader);
    atomic_store(&r.go, 2);
    WAIT_FOR(atomic_load(&r.go) == 3);
    assert_int_equal(atomic_load(&r.bits), 0x5);
    WAIT_FOR(uxTaskGetNumberOfTasks() == TASKS_AT_REST); /* before the group goes */
    vEventGroupDelete(r.group);
}

/* ---- a deleted task and the objects its deleter frees next ----------------------------------- */

/* A task keeps calling `use` on an object; this thread deletes the task, then the object. On the
 * chip the task stops at once; on the host it runs until its next call, which must end it before
 * it reads the object (the ASan and TSan builds stop at a read of the freed record), not refuse
 * the call (the teardown counts refusals). */
#define USER_ROUNDS 10

typedef struct {
    void (*use)(void *obj);
    void *obj;
} user_job_t;

static atomic_int user_spins;

static void keep_using(void *arg)
{
    const user_job_t job = *(const user_job_t *)arg; /* read before its first spin is counted */
    for (;;) {
        job.use(job.obj);
        atomic_fetch_add(&user_spins, 1);
    }
}

static void delete_user_then_object(void *(*make)(void), void (*drop)(void *),
                                    void (*use)(void *obj))
{
    for (int i = 0; i < USER_ROUNDS; i++) {
        user_job_t job = {.use = use, .obj = make()};
        assert_non_null(job.obj);
        atomic_store(&user_spins, 0);
        TaskHandle_t t = NULL;
        assert_int_equal(xTaskCreate(keep_using, "user", 4096, &job, 5, &t), pdPASS);
        WAIT_FOR(atomic_load(&user_spins) > 2);
        vTaskDelete(t);
        drop(job.obj);
        WAIT_FOR(uxTaskGetNumberOfTasks() == TASKS_AT_REST);
    }
}

static void *make_group(void) { return xEventGroupCreate(); }
static void drop_group(void *g) { vEventGroupDelete(g); }
static void set_bits(void *g) { (void)xEventGroupSetBits(g, 1); }
static void *make_ring(void) { return xRingbufferCreate(1024, RINGBUF_TYPE_NOSPLIT); }
static void drop_ring(void *rb) { vRingbufferDelete(rb); }
static void *make_stream(void) { return xStreamBufferCreate(64, 1); }
static void drop_stream(void *sb) { vStreamBufferDelete(sb); }
static void *make_recursive(void) { return xSemaphoreCreateRecursiveMutex(); }
static void drop_recursive(void *m) { vSemaphoreDelete(m); }
static void *make_timer(void) { return xTimerCreate("t", 1000, pdFALSE, NULL, ignore); }
static void drop_timer(void *t) { (void)xTimerDelete(t, 0); }

static void ring_round_trip(void *rb)
{
    const uint32_t x = 7;
    if (xRingbufferSend(rb, &x, sizeof x, 0) == pdTRUE) {
        size_t n;
        void *item = xRingbufferReceive(rb, &n, 0);
        if (item != NULL) {
            vRingbufferReturnItem(rb, item);
        }
    }
    (void)xRingbufferGetCurFreeSize(rb);
}

static void stream_round_trip(void *sb)
{
    const uint8_t x[4] = {1, 2, 3, 4};
    uint8_t y[4];
    (void)xStreamBufferSend(sb, x, sizeof x, 0);
    (void)xStreamBufferReceive(sb, y, sizeof y, 0);
    (void)xStreamBufferIsFull(sb);
}

static void take_and_give(void *m)
{
    if (xSemaphoreTakeRecursive(m, 0) == pdTRUE) {
        (void)xSemaphoreGiveRecursive(m);
    }
}

static void timer_queries(void *t)
{
    (void)xTimerGetPeriod(t);
    (void)pvTimerGetTimerID(t);
    (void)xTimerIsTimerActive(t);
}

static void a_deleted_task_never_reads_the_objects_its_deleter_frees_next(void **state)
{
    (void)state;
    delete_user_then_object(make_group, drop_group, set_bits);
    delete_user_then_object(make_ring, drop_ring, ring_round_trip);
    delete_user_then_object(make_stream, drop_stream, stream_round_trip);
    delete_user_then_object(make_recursive, drop_recursive, take_and_give);
    delete_user_then_object(make_timer, drop_timer, timer_queries);
}

/* A task gone with its thread: its handle stays a deleted task's (eDeleted, refused) while the
 * next tasks are made, not the handle of one of them at the same address. */
static void a_gone_tasks_handle_is_not_the_next_tasks(void **state)
{
    (void)state;
    /* glibc hands a gone record's address to a new one in some runs (about 2 in 5 of these) */
    for (int i = 0; i < 4 * USER_ROUNDS; i++) {
        TaskHandle_t gone = NULL, next = NULL;
        assert_int_equal(xTaskCreate(delete_myself, "gone", 4096, NULL, 5, &gone), pdPASS);
        WAIT_FOR(uxTaskGetNumberOfTasks() == TASKS_AT_REST); /* its record goes with its thread */
        assert_int_equal(xTaskCreate(wait_forever, "next", 4096, NULL, 5, &next), pdPASS);
        assert_true(becomes_blocked(next));
        assert_ptr_not_equal(next, gone);
        assert_int_equal(eTaskGetState(gone), eDeleted);
        vTaskDelete(next);
        WAIT_FOR(uxTaskGetNumberOfTasks() == TASKS_AT_REST);
    }
}

/* More tasks come and go than records are kept retired (256): the oldest retired records are
 * freed (poisoned under ASan until then) and their memory serves again, with no sanitizer report,
 * and tasks keep starting and ending. */
static void tasks_keep_coming_and_going_past_the_retired_records(void **state)
{
    (void)state;
    for (int i = 0; i < 256 + 8; i++) {
        assert_int_equal(xTaskCreate(delete_myself, "gone", 4096, NULL, 5, NULL), pdPASS);
        WAIT_FOR(uxTaskGetNumberOfTasks() == TASKS_AT_REST);
    }
    TaskHandle_t next = NULL;
    assert_int_equal(xTaskCreate(wait_forever, "next", 4096, NULL, 5, &next), pdPASS);
    assert_true(becomes_blocked(next));
    vTaskDelete(next);
    WAIT_FOR(uxTaskGetNumberOfTasks() == TASKS_AT_REST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(
            a_delete_with_caps_after_a_plain_delete_is_refused_and_frees_nothing, refusals_reset),
        cmocka_unit_test_teardown(a_second_delete_is_refused, refusals_reset),
        cmocka_unit_test_teardown(a_deleted_queue_is_refused_by_every_call, refusals_reset),
        cmocka_unit_test_teardown(a_deleted_event_group_is_refused_by_every_call, refusals_reset),
        cmocka_unit_test_teardown(a_deleted_stream_buffer_is_refused_by_every_call, refusals_reset),
        cmocka_unit_test_teardown(a_deleted_ring_buffer_is_refused_by_every_call, refusals_reset),
        cmocka_unit_test_teardown(a_deleted_timer_is_refused_by_every_call, refusals_reset),
        cmocka_unit_test_teardown(a_timer_deleted_in_its_callback_is_refused_after_it, refusals_reset),
        cmocka_unit_test_teardown(a_static_timer_deleted_in_its_callback_may_be_made_again_there,
                                  refusals_reset),
        cmocka_unit_test_teardown(many_handles_stay_found_as_others_come_and_go, refusals_reset),
        cmocka_unit_test_teardown(a_handle_of_another_kind_is_refused, refusals_reset),
        cmocka_unit_test_teardown(a_static_create_over_a_live_objects_buffer_is_refused,
                                  refusals_reset),
        cmocka_unit_test_teardown(a_static_task_over_a_live_tasks_buffers_is_refused,
                                  refusals_reset),
        cmocka_unit_test_teardown(a_static_task_overlapping_a_live_tasks_buffers_is_refused,
                                  refusals_reset),
#ifdef CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS
        cmocka_unit_test_teardown(a_self_deleted_tasks_tcb_buffer_is_refused_until_its_thread_ends,
                                  refusals_reset),
#endif
        cmocka_unit_test_teardown(a_task_deleted_twice_is_refused, refusals_reset),
        cmocka_unit_test_teardown(a_deleted_task_never_reads_the_objects_its_deleter_frees_next,
                                  refusals_reset),
        cmocka_unit_test_teardown(a_gone_tasks_handle_is_not_the_next_tasks, refusals_reset),
        cmocka_unit_test_teardown(tasks_keep_coming_and_going_past_the_retired_records,
                                  refusals_reset),
        cmocka_unit_test_teardown(a_task_gone_is_refused_by_every_call, refusals_reset),
        cmocka_unit_test_teardown(an_isr_on_a_deleted_tasks_thread_is_answered, refusals_reset),
        cmocka_unit_test_teardown(a_task_deleted_but_not_yet_freed_is_refused_by_every_call,
                                  refusals_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
