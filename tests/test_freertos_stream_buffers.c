/* test_freertos_stream_buffers.c - FreeRTOS stream and message buffers on the host: the chip's
 * memory use and capacity, FreeRTOS's send, receive and trigger-level semantics, bad input. */
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
#include "esp_memory_utils.h"
#include "freertos/FreeRTOS.h"
#include "freertos/message_buffer.h"
#include "freertos/stream_buffer.h"
#include "freertos/task.h"
#include "kraken_sim.h"

#include "capture_output.h" /* after esp_log.h: its log capture */
#include "freertos_test_support.h"
#include "freertos_refusals.h"
#include "freertos_buffer_fixture.h"

#define RECORD_BYTES CHIP_STREAM_BUFFER_BYTES

/* ---- memory and capacity --------------------------------------------------------------------- */

static void a_stream_buffer_is_one_block_of_40_plus_n_plus_1_bytes_holding_n(void **state)
{
    (void)state;
    kraken_sim_stats_t s0, s1;
    kraken_sim_get_stats(&s0);
    StreamBufferHandle_t sb = xStreamBufferCreate(100, 1);
    assert_non_null(sb);
    kraken_sim_get_stats(&s1);
    assert_int_equal(s1.allocations - s0.allocations, 1);
    const size_t taken = internal_at_setup - internal_free();
    assert_in_range(taken, RECORD_BYTES + 101, RECORD_BYTES + 101 + 16); /* rounding, header */
    assert_int_equal(xStreamBufferSpacesAvailable(sb), 100);
    assert_int_equal(xStreamBufferIsEmpty(sb), pdTRUE);

    uint8_t data[150];
    memset(data, 0x5A, sizeof data);
    assert_int_equal(xStreamBufferSend(sb, data, sizeof data, 0), 100); /* what fits */
    assert_int_equal(xStreamBufferIsFull(sb), pdTRUE);
    assert_int_equal(xStreamBufferBytesAvailable(sb), 100);
    assert_int_equal(xStreamBufferSend(sb, data, 1, 0), 0);
    vStreamBufferDelete(sb);
    assert_int_equal(internal_free(), internal_at_setup);

    /* The spare byte: for sizes across the heap's rounding, the buffer takes what a block of
     * 40 + n + 1 bytes takes (one of 40 + n would differ at some n). */
    for (size_t n = 100; n < 116; n++) {
        void *block = pvPortMalloc(RECORD_BYTES + n + 1);
        const size_t expected = internal_at_setup - internal_free();
        vPortFree(block);
        sb = xStreamBufferCreate(n, 1);
        assert_int_equal(internal_at_setup - internal_free(), expected);
        vStreamBufferDelete(sb);
    }
}

static void a_static_or_withcaps_buffer_of_n_bytes_holds_n_minus_1_as_in_freertos(void **state)
{
    (void)state;
    static uint8_t storage[100];
    static StaticStreamBuffer_t record;
    kraken_sim_stats_t s0, s1;
    kraken_sim_get_stats(&s0);
    StreamBufferHandle_t sb = xStreamBufferCreateStatic(sizeof storage, 1, storage, &record);
    assert_non_null(sb);
    kraken_sim_get_stats(&s1);
    assert_int_equal(s1.allocations, s0.allocations);
    assert_int_equal(xStreamBufferSpacesAvailable(sb), 99);
    vStreamBufferDelete(sb);

    /* WithCaps: the record and the storage, two blocks with the caps, both freed. */
    const uint32_t caps = heap_caps_get_total_size(MALLOC_CAP_SPIRAM) != 0 ? MALLOC_CAP_SPIRAM
                                                                           : INTERNAL;
    const size_t before = heap_caps_get_free_size(caps);
    kraken_sim_get_stats(&s0);
    sb = xStreamBufferCreateWithCaps(100, 1, caps);
    assert_non_null(sb);
    kraken_sim_get_stats(&s1);
    assert_int_equal(s1.allocations - s0.allocations, 2);
    assert_in_range(before - heap_caps_get_free_size(caps), RECORD_BYTES + 100,
                    RECORD_BYTES + 100 + 16);
    assert_int_equal(xStreamBufferSpacesAvailable(sb), 99);
    StreamBufferHandle_t plain = xStreamBufferCreate(8, 1);
    log_capture_begin();
    ASSERT_REFUSED(1, vStreamBufferDeleteWithCaps(plain)); /* not WithCaps: refused, still usable */
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "not made by xStreamBufferGenericCreateWithCaps()"));
    assert_int_equal(xStreamBufferSend(plain, "ok", 2, 0), 2);
    /* FreeRTOS's xStreamBufferGetStaticBuffers(): the static buffer's memory, a WithCaps one's
     * two blocks (static buffers on the chip), none for a heap one. */
    uint8_t *got_storage = NULL;
    StaticStreamBuffer_t *got_record = NULL;
    assert_int_equal(xStreamBufferGetStaticBuffers(plain, &got_storage, &got_record), pdFALSE);
    assert_int_equal(xStreamBufferGetStaticBuffers(sb, &got_storage, &got_record), pdTRUE);
    assert_int_equal(xStreamBufferSend(sb, "hi", 2, 0), 2);
    assert_memory_equal(got_storage, "hi", 2); /* its ring */
    assert_true(heap_caps_get_allocated_size(got_record) >= RECORD_BYTES); /* a block */
    StreamBufferHandle_t fixed = xMessageBufferCreateStatic(sizeof storage, storage, &record);
    assert_int_equal(xMessageBufferGetStaticBuffers(fixed, &got_storage, &got_record), pdTRUE);
    assert_ptr_equal(got_storage, storage);
    assert_ptr_equal(got_record, &record);
    vMessageBufferDelete(fixed);
    log_capture_begin();
    ASSERT_REFUSED(1, assert_int_equal(xStreamBufferGetStaticBuffers(sb, NULL, &got_record),
                                       pdFALSE));
    ASSERT_REFUSED(1, assert_int_equal(xStreamBufferGetStaticBuffers(NULL, &got_storage,
                                                                     &got_record), pdFALSE));
    logged = log_capture_end();
    assert_non_null(strstr(logged, "xStreamBufferGetStaticBuffers: no place for the buffers"));
    vStreamBufferDelete(plain);
    vStreamBufferDeleteWithCaps(sb);
    assert_int_equal(heap_caps_get_free_size(caps), before);

    /* A message buffer's trigger level is not passed on, as ESP-IDF's (any level is accepted). */
    sb = xStreamBufferGenericCreateWithCaps(100, 500, pdTRUE, caps);
    assert_non_null(sb);
    vMessageBufferDeleteWithCaps(sb);

    /* The storage does not fit: the record goes back too. */
    kraken_sim_fail_every(caps, 2);
    assert_null(xMessageBufferCreateWithCaps(100, caps));
    kraken_sim_fault_clear();
    assert_int_equal(heap_caps_get_free_size(caps), before);
}

/* ---- stream semantics ------------------------------------------------------------------------ */

static void bytes_come_out_in_order_across_the_ring_s_wrap(void **state)
{
    (void)state;
    StreamBufferHandle_t sb = xStreamBufferCreate(37, 1);
    assert_non_null(sb);
    uint8_t next_in = 0, next_out = 0;
    for (int round = 0; round < 200; round++) {
        uint8_t chunk[23];
        const size_t n = 1 + (size_t)(round * 7) % sizeof chunk;
        for (size_t i = 0; i < n; i++) {
            chunk[i] = (uint8_t)(next_in + i);
        }
        const size_t sent = xStreamBufferSend(sb, chunk, n, 0);
        next_in = (uint8_t)(next_in + sent);
        uint8_t out[23];
        const size_t got = xStreamBufferReceive(sb, out, 1 + (size_t)(round * 5) % sizeof out, 0);
        for (size_t i = 0; i < got; i++) {
            assert_int_equal(out[i], (uint8_t)(next_out + i));
        }
        next_out = (uint8_t)(next_out + got);
        assert_int_equal(xStreamBufferBytesAvailable(sb), (uint8_t)(next_in - next_out));
    }
    assert_int_equal(xStreamBufferReset(sb), pdPASS);
    assert_int_equal(xStreamBufferIsEmpty(sb), pdTRUE);
    vStreamBufferDelete(sb);
}

/* ---- message semantics ----------------------------------------------------------------------- */

static void a_message_is_whole_or_not_at_all_behind_a_4_byte_length(void **state)
{
    (void)state;
    MessageBufferHandle_t mb = xMessageBufferCreate(30);
    assert_non_null(mb);
    assert_int_equal(xMessageBufferSend(mb, "hello", 5, 0), 5);
    assert_int_equal(xStreamBufferBytesAvailable(mb), 9); /* 5 + its length */
    assert_int_equal(xMessageBufferSend(mb, "0123456789", 10, 0), 10);
    assert_int_equal(xMessageBufferSpacesAvailable(mb), 30 - 9 - 14);
    assert_int_equal(xMessageBufferSend(mb, "12345678", 8, 0), 0); /* 12 > 7: none of it */
    assert_int_equal(xMessageBufferNextLengthBytes(mb), 5);

    char out[16] = {0};
    assert_int_equal(xMessageBufferReceive(mb, out, 4, 0), 0); /* too small: it stays */
    assert_int_equal(xMessageBufferNextLengthBytes(mb), 5);
    assert_int_equal(xMessageBufferReceive(mb, out, 5, 0), 5); /* exactly its size */
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(xMessageBufferReceive(mb, out, sizeof out, 0), 10);
    assert_memory_equal(out, "0123456789", 10);
    assert_int_equal(xMessageBufferIsEmpty(mb), pdTRUE);
    assert_int_equal(xMessageBufferReceive(mb, out, sizeof out, 0), 0);

    /* A message of 0 bytes writes nothing, as FreeRTOS (its length is committed with bytes). */
    assert_int_equal(xMessageBufferSend(mb, "", 0, 0), 0);
    assert_int_equal(xMessageBufferIsEmpty(mb), pdTRUE);

    /* A message that can never fit is refused at once, whatever the wait. */
    char big[40] = {0};
    assert_int_equal(xMessageBufferSend(mb, big, 27, portMAX_DELAY), 0);
    assert_int_equal(xMessageBufferSend(mb, big, 26, 0), 26); /* 26 + 4 = 30: exactly */
    assert_int_equal(xMessageBufferIsFull(mb), pdTRUE);
    /* Full already with 4 bytes left: no message fits behind its length (FreeRTOS's test). */
    assert_int_equal(xMessageBufferReceive(mb, big, sizeof big, 0), 26);
    assert_int_equal(xMessageBufferSend(mb, big, 22, 0), 22);
    assert_int_equal(xMessageBufferSpacesAvailable(mb), 4);
    assert_int_equal(xMessageBufferIsFull(mb), pdTRUE);
    vMessageBufferDelete(mb);
}

/* ---- waiting --------------------------------------------------------------------------------- */

typedef struct {
    StreamBufferHandle_t sb;
    size_t room;
    TickType_t wait;
    uint8_t data[64];
    atomic_size_t result;
    atomic_int started, done;
} receiver_t;

static void receive_task(void *arg)
{
    receiver_t *r = arg;
    atomic_store(&r->started, 1);
    atomic_store(&r->result, xStreamBufferReceive(r->sb, r->data, r->room, r->wait));
    atomic_store(&r->done, 1);
    vTaskDelete(NULL);
}

static void start_receiver(receiver_t *r)
{
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(receive_task, "receiver", 4096, r, 5, &task), pdPASS);
    /* Into its wait (not merely started: bytes sent before the wait would be taken at once). */
    WAIT_FOR(atomic_load(&r->done) || eTaskGetState(task) == eBlocked);
    assert_false(atomic_load(&r->done));
}

static void a_waiting_receiver_wakes_at_the_trigger_level_not_before(void **state)
{
    (void)state;
    receiver_t r = {.sb = xStreamBufferCreate(64, 10), .room = 64, .wait = PATIENCE_TICKS};
    assert_non_null(r.sb);
    start_receiver(&r);
    assert_int_equal(xStreamBufferSend(r.sb, "abcde", 5, 0), 5);
    vTaskDelay(5);
    assert_false(atomic_load(&r.done)); /* 5 < 10 */
    /* A second receiver is refused while one waits, and so are a reset and a delete. */
    uint8_t out[4];
    log_capture_begin();
    assert_int_equal(xStreamBufferReceive(r.sb, out, sizeof out, 0), 4); /* no wait: it reads */
    assert_int_equal(xStreamBufferReset(r.sb), pdFAIL);
    ASSERT_REFUSED(1, vStreamBufferDelete(r.sb));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "vStreamBufferDelete: a task waits on it: refused"));
    assert_int_equal(xStreamBufferSend(r.sb, "fghijklmno", 10, 0), 10); /* 11 in it */
    WAIT_FOR(atomic_load(&r.done));
    assert_true(atomic_load(&r.done));
    assert_int_equal(atomic_load(&r.result), 11);
    assert_memory_equal(r.data, "efghijklmno", 11);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);
    vStreamBufferDelete(r.sb);
}

/* FreeRTOS wakes the receiver once the bytes reach the trigger level: exactly it is enough, and a
 * send from an ISR says so. A receive from an ISR says it woke a task only when one waited to
 * send. */
static void a_receiver_wakes_at_exactly_the_trigger_level(void **state)
{
    (void)state;
    receiver_t r = {.sb = xStreamBufferCreate(64, 10), .room = 64, .wait = PATIENCE_TICKS};
    assert_non_null(r.sb);
    start_receiver(&r);
    const TickType_t t0 = xTaskGetTickCount();
    BaseType_t woken = pdFALSE;
    kraken_sim_isr_enter();
    const size_t sent = xStreamBufferSendFromISR(r.sb, "0123456789", 10, &woken);
    kraken_sim_isr_exit();
    assert_int_equal(sent, 10);
    assert_int_equal(woken, pdTRUE);
    WAIT_FOR(atomic_load(&r.done));
    assert_int_equal(atomic_load(&r.result), 10);
    assert_true(xTaskGetTickCount() - t0 < PATIENCE_TICKS / 2); /* woken, not its timeout */
    assert_memory_equal(r.data, "0123456789", 10);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);

    assert_int_equal(xStreamBufferSend(r.sb, "abc", 3, 0), 3);
    uint8_t out[4];
    woken = pdFALSE;
    kraken_sim_isr_enter();
    assert_int_equal(xStreamBufferReceiveFromISR(r.sb, out, sizeof out, &woken), 3);
    kraken_sim_isr_exit();
    assert_int_equal(woken, pdFALSE); /* no task waited for room */
    vStreamBufferDelete(r.sb);
}

static void a_receiver_that_times_out_takes_what_came_below_the_trigger(void **state)
{
    (void)state;
    receiver_t r = {.sb = xStreamBufferCreate(64, 10), .room = 64, .wait = 20};
    assert_non_null(r.sb);
    start_receiver(&r);
    assert_int_equal(xStreamBufferSend(r.sb, "xyz", 3, 0), 3);
    WAIT_FOR(atomic_load(&r.done));
    assert_int_equal(atomic_load(&r.result), 3);
    assert_memory_equal(r.data, "xyz", 3);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);
    vStreamBufferDelete(r.sb);
}

/* Static and WithCaps message buffers keep messages whole as the heap one does, and a receiver
 * waiting on one wakes at the first message (a message buffer has no trigger level: one given
 * to the WithCaps create is ignored). */
static void static_and_withcaps_message_buffers_keep_messages_whole(void **state)
{
    (void)state;
    static uint8_t storage[32];
    static StaticMessageBuffer_t record;
    const uint32_t caps = heap_caps_get_total_size(MALLOC_CAP_SPIRAM) != 0 ? MALLOC_CAP_SPIRAM
                                                                           : INTERNAL;
    MessageBufferHandle_t mbs[2] = {
        xMessageBufferCreateStatic(sizeof storage, storage, &record),
        xStreamBufferGenericCreateWithCaps(32, 500, pdTRUE, caps),
    };
    for (int i = 0; i < 2; i++) {
        MessageBufferHandle_t mb = mbs[i];
        assert_non_null(mb);
        receiver_t r = {.sb = mb, .room = 64, .wait = PATIENCE_TICKS};
        start_receiver(&r);
        const TickType_t t0 = xTaskGetTickCount();
        assert_int_equal(xMessageBufferSend(mb, "hi", 2, 0), 2);
        WAIT_FOR(atomic_load(&r.done));
        assert_int_equal(atomic_load(&r.result), 2);
        assert_true(xTaskGetTickCount() - t0 < PATIENCE_TICKS / 2); /* woken, not its timeout */
        assert_memory_equal(r.data, "hi", 2);
        WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);

        assert_int_equal(xMessageBufferSend(mb, "hello", 5, 0), 5);
        assert_int_equal(xStreamBufferBytesAvailable(mb), 9); /* 5 + its length */
        char out[8] = {0};
        assert_int_equal(xMessageBufferReceive(mb, out, 4, 0), 0); /* too small: it stays */
        assert_int_equal(xMessageBufferReceive(mb, out, sizeof out, 0), 5);
        assert_memory_equal(out, "hello", 5);
    }
    vMessageBufferDelete(mbs[0]);
    vMessageBufferDeleteWithCaps(mbs[1]);
}

static void a_second_waiting_receiver_is_refused(void **state)
{
    (void)state;
    receiver_t r = {.sb = xStreamBufferCreate(16, 1), .room = 16, .wait = PATIENCE_TICKS};
    assert_non_null(r.sb);
    start_receiver(&r);
    uint8_t out[4];
    log_capture_begin();
    ASSERT_REFUSED(1, assert_int_equal(xStreamBufferReceive(r.sb, out, sizeof out, 1), 0));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "a second task waits to receive: refused"));
    assert_int_equal(xStreamBufferSend(r.sb, "k", 1, 0), 1);
    WAIT_FOR(atomic_load(&r.done));
    assert_int_equal(atomic_load(&r.result), 1);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);
    vStreamBufferDelete(r.sb);
}

typedef struct {
    StreamBufferHandle_t sb;
    atomic_size_t result;
    atomic_int done;
} sender_t;

static void send_task(void *arg)
{
    sender_t *s = arg;
    atomic_store(&s->result, xStreamBufferSend(s->sb, "0123456789", 10, PATIENCE_TICKS));
    atomic_store(&s->done, 1);
    vTaskDelete(NULL);
}

/* Into its wait for room (not merely started: a slow sender would find the room made meanwhile,
 * and the test's own send would be the first to wait). */
static void start_sender(sender_t *s)
{
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(send_task, "sender", 4096, s, 5, &task), pdPASS);
    WAIT_FOR(atomic_load(&s->done) || eTaskGetState(task) == eBlocked);
    assert_false(atomic_load(&s->done));
}

static void a_sender_waits_for_room_for_all_its_bytes(void **state)
{
    (void)state;
    sender_t s = {.sb = xStreamBufferCreate(16, 1)};
    assert_non_null(s.sb);
    assert_int_equal(xStreamBufferSend(s.sb, "ABCDEFGHIJKL", 12, 0), 12); /* 4 left */
    start_sender(&s); /* 4 < 10 */
    /* A second sender that would wait is refused (the chip asserts: one waiting sender). */
    ASSERT_REFUSED(1, assert_int_equal(xStreamBufferSend(s.sb, "0123456789", 10, 1), 0));
    uint8_t out[8];
    assert_int_equal(xStreamBufferReceive(s.sb, out, 4, 0), 4); /* 8 left: still not 10 */
    vTaskDelay(3);
    assert_false(atomic_load(&s.done));
    const TickType_t t0 = xTaskGetTickCount();
    assert_int_equal(xStreamBufferReceive(s.sb, out, 2, 0), 2); /* exactly 10 */
    WAIT_FOR(atomic_load(&s.done));
    assert_int_equal(atomic_load(&s.result), 10);
    assert_true(xTaskGetTickCount() - t0 < PATIENCE_TICKS / 2); /* woken, not its timeout */
    assert_int_equal(xStreamBufferBytesAvailable(s.sb), 16);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);
    vStreamBufferDelete(s.sb);

    /* A message as large as the whole buffer (10 + its 4 length bytes) waits for it to empty (one
     * larger never waits). */
    s = (sender_t){.sb = xMessageBufferCreate(14)};
    assert_non_null(s.sb);
    assert_int_equal(xMessageBufferSend(s.sb, "hi", 2, 0), 2); /* 6 of 14 */
    start_sender(&s); /* 10 + 4 > 8 */
    assert_int_equal(xMessageBufferReceive(s.sb, out, sizeof out, 0), 2);
    WAIT_FOR(atomic_load(&s.done));
    assert_int_equal(atomic_load(&s.result), 10);
    assert_int_equal(xMessageBufferIsFull(s.sb), pdTRUE);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);
    vMessageBufferDelete(s.sb);
}

/* stream_buffer.c: a stream send bigger than the buffer waits only for the whole buffer, and
 * writes what fits; a trigger level equal to the size is allowed (FreeRTOS asserts above it). */
static void a_stream_send_bigger_than_the_buffer_waits_only_for_an_empty_buffer(void **state)
{
    (void)state;
    StreamBufferHandle_t sb = xStreamBufferCreate(16, 16);
    assert_non_null(sb);
    const TickType_t t0 = xTaskGetTickCount();
    assert_int_equal(xStreamBufferSend(sb, "ABCDEFGHIJKLMNOPQRST", 20, PATIENCE_TICKS), 16);
    assert_true(xTaskGetTickCount() - t0 < PATIENCE_TICKS / 2); /* not its timeout */
    assert_int_equal(xStreamBufferIsFull(sb), pdTRUE);
    uint8_t out[20];
    assert_int_equal(xStreamBufferReceive(sb, out, sizeof out, 0), 16);
    assert_memory_equal(out, "ABCDEFGHIJKLMNOP", 16);
    vStreamBufferDelete(sb);
}

static void a_send_from_an_isr_wakes_the_receiver_and_says_so(void **state)
{
    (void)state;
    receiver_t r = {.sb = xMessageBufferCreate(32), .room = 32, .wait = PATIENCE_TICKS};
    assert_non_null(r.sb);
    start_receiver(&r);
    BaseType_t woken = pdFALSE;
    kraken_sim_isr_enter();
    assert_int_equal(xMessageBufferSendFromISR(r.sb, "irq", 3, &woken), 3);
    log_capture_begin();
    assert_int_equal(xStreamBufferSend(r.sb, "x", 1, 1), 0); /* a wait in an ISR */
    const char *logged = log_capture_end();
    kraken_sim_isr_exit();
    assert_int_equal(woken, pdTRUE);
    assert_non_null(strstr(logged, "a wait of 1 ticks in an ISR: refused"));
    WAIT_FOR(atomic_load(&r.done));
    assert_int_equal(atomic_load(&r.result), 3);
    assert_memory_equal(r.data, "irq", 3);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);
    woken = pdFALSE;
    uint8_t out[4];
    kraken_sim_isr_enter();
    assert_int_equal(xMessageBufferReceiveFromISR(r.sb, out, sizeof out, &woken), 0); /* empty */
    kraken_sim_isr_exit();
    assert_int_equal(woken, pdFALSE);
    vMessageBufferDelete(r.sb);
}

/* xStreamBufferSendCompletedFromISR() does what a send's notification does (for firmware that
 * sends its own way): the waiting receiver wakes below the trigger level and takes what is there.
 * It answers pdTRUE once per wait: a receiver already woken (by it, or by a send that reached the
 * trigger) is no longer waiting for FreeRTOS, so a second call, and a reset, find none. */
static void a_send_completed_call_wakes_the_receiver_once(void **state)
{
    (void)state;
    receiver_t r = {.sb = xStreamBufferCreate(64, 10), .room = 64, .wait = PATIENCE_TICKS};
    assert_non_null(r.sb);
    BaseType_t woken = pdFALSE;
    kraken_sim_isr_enter();
    assert_int_equal(xStreamBufferSendCompletedFromISR(r.sb, &woken), pdFALSE); /* none waits */
    kraken_sim_isr_exit();
    assert_int_equal(woken, pdFALSE);
    start_receiver(&r);
    assert_int_equal(xStreamBufferSend(r.sb, "abc", 3, 0), 3); /* below the trigger */
    vTaskDelay(3);
    assert_false(atomic_load(&r.done));
    const TickType_t t0 = xTaskGetTickCount();
    kraken_sim_isr_enter();
    assert_int_equal(xStreamBufferSendCompletedFromISR(r.sb, &woken), pdTRUE);
    assert_int_equal(xStreamBufferSendCompletedFromISR(r.sb, NULL), pdFALSE); /* woken already */
    kraken_sim_isr_exit();
    assert_int_equal(woken, pdTRUE); /* the receiver (5) outranks this task (1) */
    WAIT_FOR(atomic_load(&r.done));
    assert_int_equal(atomic_load(&r.result), 3);
    assert_true(xTaskGetTickCount() - t0 < PATIENCE_TICKS / 2); /* woken, not its timeout */
    assert_memory_equal(r.data, "abc", 3);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);

    /* A send that reaches the trigger wakes it just the same: no second wake, and the buffer may
     * be reset at once (on the chip, a receiver that has not run yet then takes nothing). */
    atomic_store(&r.done, 0);
    start_receiver(&r);
    woken = pdFALSE;
    kraken_sim_isr_enter();
    assert_int_equal(xStreamBufferSendFromISR(r.sb, "0123456789", 10, &woken), 10);
    assert_int_equal(xStreamBufferSendCompletedFromISR(r.sb, NULL), pdFALSE);
    BaseType_t again = pdFALSE;
    assert_int_equal(xStreamBufferSendFromISR(r.sb, "x", 1, &again), 1);
    kraken_sim_isr_exit();
    assert_int_equal(woken, pdTRUE);
    assert_int_equal(again, pdFALSE); /* no task left to wake */
    assert_int_equal(xStreamBufferReset(r.sb), pdPASS);
    WAIT_FOR(atomic_load(&r.done));
    const size_t got = atomic_load(&r.result); /* 0 when it ran after the reset */
    assert_true(got == 0 || got == 10 || got == 11);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);

    log_capture_begin();
    ASSERT_REFUSED(1, assert_int_equal(xStreamBufferSendCompletedFromISR(NULL, NULL), pdFALSE));
    ASSERT_REFUSED(1, assert_int_equal(xMessageBufferReceiveCompletedFromISR(NULL, NULL), pdFALSE));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "xStreamBufferSendCompletedFromISR: no buffer: refused"));
    vStreamBufferDelete(r.sb);
}

/* Starts `code` waiting on sb, deletes it while it waits: a reset is refused before, passes after. */
static void delete_while_waiting(StreamBufferHandle_t sb, TaskFunction_t code, void *arg)
{
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(code, "doomed", 4096, arg, 5, &task), pdPASS);
    assert_true(becomes_blocked(task));
    assert_int_equal(xStreamBufferReset(sb), pdFAIL); /* it waits */
    vTaskDelete(task);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);
    assert_int_equal(xStreamBufferReset(sb), pdPASS);
}

/* A waiting receiver deleted leaves the buffer: no longer registered (a reset passes, a completed
 * call finds nobody), and the next receiver may wait and wake; a waiting sender the same. On the
 * chip the buffer would keep the deleted task as its waiter. */
static void a_waiting_task_deleted_leaves_the_buffer(void **state)
{
    (void)state;
    receiver_t r = {.sb = xStreamBufferCreate(64, 1), .room = 64, .wait = portMAX_DELAY};
    assert_non_null(r.sb);
    delete_while_waiting(r.sb, receive_task, &r);
    kraken_sim_isr_enter();
    assert_int_equal(xStreamBufferSendCompletedFromISR(r.sb, NULL), pdFALSE);
    kraken_sim_isr_exit();
    r.wait = PATIENCE_TICKS;
    start_receiver(&r);
    assert_int_equal(xStreamBufferSend(r.sb, "z", 1, 0), 1);
    WAIT_FOR(atomic_load(&r.done));
    assert_int_equal(atomic_load(&r.result), 1);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);

    uint8_t fill[64] = {0};
    assert_int_equal(xStreamBufferSend(r.sb, fill, sizeof fill, 0), 64); /* a sender waits for room */
    sender_t s = {.sb = r.sb};
    delete_while_waiting(r.sb, send_task, &s);
    vStreamBufferDelete(r.sb);
}

/* xStreamBufferReceiveCompletedFromISR() wakes the waiting sender, which looks at the room again
 * and, finding too little, waits again until its timeout, as FreeRTOS's send loop does. */
static void a_receive_completed_call_makes_the_sender_look_again(void **state)
{
    (void)state;
    sender_t s = {.sb = xMessageBufferCreate(16)};
    assert_non_null(s.sb);
    assert_int_equal(xMessageBufferSend(s.sb, "full", 4, 0), 4); /* 8 of 16: 10 + 4 do not fit */
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(send_task, "sender", 4096, &s, 5, &task), pdPASS);
    assert_true(becomes_blocked(task));
    BaseType_t woken = pdFALSE;
    kraken_sim_isr_enter();
    assert_int_equal(xMessageBufferReceiveCompletedFromISR(s.sb, &woken), pdTRUE);
    kraken_sim_isr_exit();
    assert_int_equal(woken, pdTRUE);
    assert_true(becomes_blocked(task)); /* waiting again: still no room */
    vTaskDelay(3);
    assert_false(atomic_load(&s.done));
    kraken_sim_isr_enter();
    assert_int_equal(xMessageBufferReceiveCompletedFromISR(s.sb, NULL), pdTRUE); /* a new wait */
    kraken_sim_isr_exit();
    assert_true(becomes_blocked(task));
    /* xTaskAbortDelay() ends a notification wait but not its timeout: FreeRTOS's send loop
     * waits again (portMAX_DELAY here). */
    assert_int_equal(xTaskAbortDelay(task), pdPASS);
    vTaskDelay(3);
    assert_false(atomic_load(&s.done));
    assert_true(becomes_blocked(task));
    uint8_t out[8];
    assert_int_equal(xMessageBufferReceive(s.sb, out, sizeof out, 0), 4); /* room: it wakes */
    kraken_sim_isr_enter();
    assert_int_equal(xMessageBufferReceiveCompletedFromISR(s.sb, NULL), pdFALSE); /* woken */
    kraken_sim_isr_exit();
    WAIT_FOR(atomic_load(&s.done));
    assert_int_equal(atomic_load(&s.result), 10);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);
    vMessageBufferDelete(s.sb);
}

/* ---- a producer task and a consumer ---------------------------------------------------------- */

#define STREAM_BYTES 200000u

typedef struct {
    StreamBufferHandle_t sb;
    atomic_int done;
    atomic_uint mismatches;
} stream_t;

static void produce(void *arg)
{
    stream_t *s = arg;
    uint32_t sent = 0;
    while (sent < STREAM_BYTES) {
        uint8_t chunk[48];
        size_t n = 1 + sent % sizeof chunk;
        if (n > STREAM_BYTES - sent) {
            n = STREAM_BYTES - sent;
        }
        for (size_t i = 0; i < n; i++) {
            chunk[i] = (uint8_t)((sent + i) * 131u);
        }
        sent += (uint32_t)xStreamBufferSend(s->sb, chunk, n, PATIENCE_TICKS);
    }
    atomic_store(&s->done, 1);
    vTaskDelete(NULL);
}

static void every_byte_of_a_producer_task_arrives_once_in_order(void **state)
{
    (void)state;
    stream_t s = {.sb = xStreamBufferCreate(64, 16)};
    assert_non_null(s.sb);
    assert_int_equal(xTaskCreate(produce, "producer", 4096, &s, 5, NULL), pdPASS);
    uint32_t got = 0;
    while (got < STREAM_BYTES) {
        uint8_t out[40];
        const size_t n = xStreamBufferReceive(s.sb, out, sizeof out, PATIENCE_TICKS);
        assert_true(n > 0);
        for (size_t i = 0; i < n; i++) {
            if (out[i] != (uint8_t)((got + i) * 131u)) {
                atomic_fetch_add(&s.mismatches, 1);
            }
        }
        got += (uint32_t)n;
    }
    assert_int_equal(atomic_load(&s.mismatches), 0);
    WAIT_FOR(atomic_load(&s.done));
    assert_int_equal(xStreamBufferBytesAvailable(s.sb), 0);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);
    vStreamBufferDelete(s.sb);
}

/* ---- bad input ------------------------------------------------------------------------------- */

static void nonsense_shapes_and_null_arguments_are_refused_and_logged(void **state)
{
    (void)state;
    static uint8_t storage[16];
    static StaticStreamBuffer_t record;
    log_capture_begin();
    ASSERT_REFUSED(1, assert_null(xStreamBufferCreate(0, 0)));
    ASSERT_REFUSED(1, assert_null(xMessageBufferCreate(4)));
    ASSERT_REFUSED(1, assert_null(xStreamBufferCreate(10, 11)));
    /* FreeRTOS's check */
    ASSERT_REFUSED(1, assert_null(xStreamBufferCreateStatic(4, 1, storage, &record)));
    ASSERT_REFUSED(1, assert_null(xStreamBufferCreateStatic(16, 1, NULL, &record)));
    ASSERT_NOT_REFUSED(assert_null(xStreamBufferGenericCreate( /* not simulated: not counted */
        16, 1, pdFALSE, (StreamBufferCallbackFunction_t)(uintptr_t)1, NULL)));
    ASSERT_REFUSED(1, assert_int_equal(xStreamBufferSend(NULL, "a", 1, 0), 0));
    ASSERT_REFUSED(1, assert_int_equal(xStreamBufferReceive(NULL, storage, 1, 0), 0));
    /* vStreamBufferDelete's configASSERT(pxStreamBuffer); the WithCaps ones assert in
     * x*GetStaticBuffers() first */
    ASSERT_REFUSED(1, vStreamBufferDelete(NULL));
    ASSERT_REFUSED(1, vMessageBufferDelete(NULL));
    ASSERT_REFUSED(1, vStreamBufferDeleteWithCaps(NULL));
    ASSERT_REFUSED(1, vMessageBufferDeleteWithCaps(NULL));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "xStreamBufferGenericCreate(0, 0): a size of 0: refused"));
    assert_non_null(strstr(logged, "(4, 0): a size of 4 bytes or less: refused"));
    assert_non_null(strstr(logged, "(10, 11): a trigger level above the size: refused"));
    assert_non_null(strstr(logged, "xStreamBufferGenericCreateStatic: no storage or buffer"));
    assert_non_null(strstr(logged, "completed callbacks (not simulated)"));
    assert_non_null(strstr(logged, "xStreamBufferSend: no buffer: refused"));
    assert_non_null(strstr(logged, "vStreamBufferDelete: no buffer: refused (the chip asserts)"));
    assert_non_null(strstr(logged, "vStreamBufferGenericDeleteWithCaps: no buffer: refused"));
    assert_int_equal(internal_free(), internal_at_setup);
    /* The queries answer NULL with their neutral value. */
    assert_int_equal(xStreamBufferBytesAvailable(NULL), 0);
    assert_int_equal(xStreamBufferIsEmpty(NULL), pdFALSE);
    assert_int_equal(xStreamBufferReset(NULL), pdFAIL);
    MessageBufferHandle_t mb = xMessageBufferCreate(16);
    assert_non_null(mb);
    /* a NULL buffer whatever the length: FreeRTOS's configASSERT(pvTxData / pvRxData) */
    log_capture_begin();
    ASSERT_REFUSED(1, assert_int_equal(xMessageBufferSend(mb, NULL, 0, 0), 0));
    ASSERT_REFUSED(1, assert_int_equal(xMessageBufferReceive(mb, NULL, 0, 0), 0));
    logged = log_capture_end();
    assert_non_null(strstr(logged, "no data: refused"));
    /* a message whose length the chip's 32-bit length word cannot hold */
    ASSERT_REFUSED(1, assert_int_equal(xMessageBufferSend(mb, storage, (size_t)UINT32_MAX, 0), 0));
    assert_int_equal(xMessageBufferIsEmpty(mb), pdTRUE);
    vMessageBufferDelete(mb);
    StreamBufferHandle_t sb = xStreamBufferCreate(16, 1);
    assert_int_equal(xStreamBufferSetTriggerLevel(sb, 17), pdFALSE); /* not below the ring's 17 */
    assert_int_equal(xStreamBufferSetTriggerLevel(sb, 16), pdTRUE);
    assert_int_equal(xStreamBufferSetTriggerLevel(sb, 0), pdTRUE);
    vStreamBufferDelete(sb);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, boot, all_gone)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(a_stream_buffer_is_one_block_of_40_plus_n_plus_1_bytes_holding_n),
        TEST(a_static_or_withcaps_buffer_of_n_bytes_holds_n_minus_1_as_in_freertos),
        TEST(bytes_come_out_in_order_across_the_ring_s_wrap),
        TEST(a_message_is_whole_or_not_at_all_behind_a_4_byte_length),
        TEST(a_waiting_receiver_wakes_at_the_trigger_level_not_before),
        TEST(a_receiver_wakes_at_exactly_the_trigger_level),
        TEST(a_receiver_that_times_out_takes_what_came_below_the_trigger),
        TEST(static_and_withcaps_message_buffers_keep_messages_whole),
        TEST(a_second_waiting_receiver_is_refused),
        TEST(a_sender_waits_for_room_for_all_its_bytes),
        TEST(a_stream_send_bigger_than_the_buffer_waits_only_for_an_empty_buffer),
        TEST(a_send_from_an_isr_wakes_the_receiver_and_says_so),
        TEST(a_send_completed_call_wakes_the_receiver_once),
        TEST(a_receive_completed_call_makes_the_sender_look_again),
        TEST(a_waiting_task_deleted_leaves_the_buffer),
        TEST(every_byte_of_a_producer_task_arrives_once_in_order),
        TEST(nonsense_shapes_and_null_arguments_are_refused_and_logged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
