/*
 * freertos_host_stream_buffer.c - FreeRTOS stream and message buffers on the host
 * (freertos/stream_buffer.h, freertos/message_buffer.h): FreeRTOS's ring of `length` bytes of
 * which length - 1 are usable, in the simulated-heap block the chip would allocate, under the
 * kernel lock of freertos_host.c, with a wait list per direction for the one waiting task each.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/idf_additions.h"
#include "freertos/stream_buffer.h"
#include "freertos_host.h"
#include "sim_internal.h"

#define RECORD_SIZE KRAKEN_SIM_STREAM_BUFFER_BYTES
#define LENGTH_BYTES 4u /* a message's length: the chip's size_t */

enum { MEM_HEAP, MEM_STATIC, MEM_CAPS };

struct StreamBufferDef_t {
    size_t length;     /* of the ring: one byte more than it can hold */
    size_t head, tail; /* written at head, read at tail */
    size_t trigger;
    uint8_t *storage;
    bool message;
    uint8_t memory;      /* MEM_*: how it was created, hence how it is deleted */
    void *block;         /* the simulated record (MEM_HEAP: with the storage after it) */
    void *storage_block; /* MEM_CAPS: the storage, a block of its own */
    StaticStreamBuffer_t *buffer; /* MEM_STATIC: the caller's */
    uint32_t waiting_send, waiting_receive; /* tasks waiting (FreeRTOS allows one each) */
    /* FreeRTOS's xTaskWaitingToSend/-Receive: set while a task waits and its notification has not
     * come; a wake clears it at once (its thread runs later), as the chip's notification does. The
     * task (NULL: a thread with no record) is what a FromISR notification compares with. */
    bool send_listed, receive_listed;
    TaskHandle_t send_task, receive_task;
    fr_waiters_t sent, received;
};

/* ---- the ring (fr_lock() held) ----------------------------------------------------------------- */

static size_t bytes_in(const struct StreamBufferDef_t *sb)
{
    return (sb->length + sb->head - sb->tail) % sb->length;
}

static size_t space_in(const struct StreamBufferDef_t *sb)
{
    return sb->length - 1 - bytes_in(sb);
}

static void put(struct StreamBufferDef_t *sb, const uint8_t *data, size_t n)
{
    const size_t first = n < sb->length - sb->head ? n : sb->length - sb->head;
    memcpy(sb->storage + sb->head, data, first);
    memcpy(sb->storage, data + first, n - first);
    sb->head = (sb->head + n) % sb->length;
}

/* Copies n bytes from `at` (a ring position) without taking them. */
static void peek(const struct StreamBufferDef_t *sb, size_t at, uint8_t *out, size_t n)
{
    const size_t first = n < sb->length - at ? n : sb->length - at;
    memcpy(out, sb->storage + at, first);
    memcpy(out + first, sb->storage, n - first);
}

static size_t next_message_length(const struct StreamBufferDef_t *sb)
{
    if (!sb->message || bytes_in(sb) < LENGTH_BYTES) {
        return 0;
    }
    uint32_t n;
    peek(sb, sb->tail, (uint8_t *)&n, LENGTH_BYTES);
    return n;
}

/* Writes what FreeRTOS's prvWriteMessageToBuffer() writes; the data bytes written. */
static size_t write_locked(struct StreamBufferDef_t *sb, const void *data, size_t n)
{
    const size_t space = space_in(sb);
    if (sb->message) {
        if (n == 0 || space < n + LENGTH_BYTES) {
            return 0; /* FreeRTOS commits a message's length only with its bytes */
        }
        const uint32_t length = (uint32_t)n;
        put(sb, (const uint8_t *)&length, LENGTH_BYTES);
    } else if (n > space) {
        n = space;
    }
    put(sb, data, n);
    if (n > 0 && bytes_in(sb) >= sb->trigger) { /* FreeRTOS's sbSEND_COMPLETED */
        sb->receive_listed = false;
        fr_wake_all_locked(&sb->sent);
    }
    return n;
}

/* Reads what FreeRTOS's prvReadMessageFromBuffer() reads; the data bytes read. */
static size_t read_locked(struct StreamBufferDef_t *sb, void *out, size_t room)
{
    size_t n = bytes_in(sb);
    if (sb->message) {
        n = next_message_length(sb);
        if (n == 0 && bytes_in(sb) < LENGTH_BYTES) {
            return 0;
        }
        if (n > room) {
            return 0; /* the message stays */
        }
        sb->tail = (sb->tail + LENGTH_BYTES) % sb->length;
    } else if (n > room) {
        n = room;
    }
    peek(sb, sb->tail, out, n);
    sb->tail = (sb->tail + n) % sb->length;
    if (n > 0) { /* FreeRTOS's sbRECEIVE_COMPLETED */
        sb->send_listed = false;
        fr_wake_all_locked(&sb->received);
    }
    return n;
}

/* ---- creation and deletion --------------------------------------------------------------------- */

static bool valid_shape(const char *fn, size_t size, size_t trigger, bool message, bool is_static,
                        bool callbacks)
{
    if (callbacks) { /* not counted: no misuse, the host's limit */
        ESP_LOGE(FR_TAG, "%s: completed callbacks (not simulated): refused", fn);
        return false;
    }
    const char *why = (message || is_static) && size <= LENGTH_BYTES ? "a size of 4 bytes or less"
                      : size == 0                                     ? "a size of 0"
                      : trigger > size                                ? "a trigger level above the size"
                      : size > UINT32_MAX - RECORD_SIZE - 1           ? "a size the chip cannot address"
                                                                      : NULL;
    if (why != NULL) {
        FR_REFUSE("%s(%zu, %zu): %s: refused (the chip asserts)", fn, size, trigger, why);
        return false;
    }
    return true;
}

static struct StreamBufferDef_t *make(uint8_t memory, bool message, size_t length, size_t trigger,
                                      void *block, uint8_t *storage)
{
    struct StreamBufferDef_t *sb = __real_calloc(1, sizeof *sb);
    if (sb == NULL) {
        return NULL;
    }
    sb->memory = memory;
    sb->message = message;
    sb->length = length;
    sb->trigger = trigger != 0 ? trigger : 1;
    sb->block = block;
    sb->storage = storage;
    if (!fr_handle_add(sb, FR_STREAM_BUFFER)) {
        __real_free(sb);
        return NULL;
    }
    return sb;
}

StreamBufferHandle_t xStreamBufferGenericCreate(size_t xBufferSizeBytes, size_t xTriggerLevelBytes,
                                                BaseType_t xIsMessageBuffer,
                                                StreamBufferCallbackFunction_t pxSendCompletedCallback,
                                                StreamBufferCallbackFunction_t pxReceiveCompletedCallback)
{
    fr_task_call();
    if (!valid_shape(__func__, xBufferSizeBytes, xTriggerLevelBytes, xIsMessageBuffer != pdFALSE,
                     false, pxSendCompletedCallback != NULL || pxReceiveCompletedCallback != NULL)) {
        return NULL;
    }
    /* stream_buffer.c: one block, the record then the ring of one byte more than asked. */
    uint8_t *block = pvPortMalloc(RECORD_SIZE + xBufferSizeBytes + 1);
    struct StreamBufferDef_t *sb =
        block != NULL ? make(MEM_HEAP, xIsMessageBuffer != pdFALSE, xBufferSizeBytes + 1,
                             xTriggerLevelBytes, block, block + RECORD_SIZE)
                      : NULL;
    if (sb == NULL) {
        vPortFree(block);
    }
    return sb;
}

static const void *buffer_of(const void *record)
{
    return ((const struct StreamBufferDef_t *)record)->buffer;
}

StreamBufferHandle_t xStreamBufferGenericCreateStatic(size_t xBufferSizeBytes,
                                                      size_t xTriggerLevelBytes,
                                                      BaseType_t xIsMessageBuffer,
                                                      uint8_t *const pucStreamBufferStorageArea,
                                                      StaticStreamBuffer_t *const pxStaticStreamBuffer,
                                                      StreamBufferCallbackFunction_t pxSendCompletedCallback,
                                                      StreamBufferCallbackFunction_t pxReceiveCompletedCallback)
{
    fr_task_call();
    if (pucStreamBufferStorageArea == NULL || pxStaticStreamBuffer == NULL) {
        FR_REFUSE("%s: no storage or buffer: refused (the chip asserts)", __func__);
        return NULL;
    }
    if (fr_refuse_live_buffer(__func__, pxStaticStreamBuffer, pxStaticStreamBuffer->host,
                              FR_STREAM_BUFFER, buffer_of)) {
        return NULL;
    }
    if (!valid_shape(__func__, xBufferSizeBytes, xTriggerLevelBytes, xIsMessageBuffer != pdFALSE,
                     true, pxSendCompletedCallback != NULL || pxReceiveCompletedCallback != NULL)) {
        return NULL;
    }
    struct StreamBufferDef_t *sb = make(MEM_STATIC, xIsMessageBuffer != pdFALSE, xBufferSizeBytes,
                                        xTriggerLevelBytes, NULL, pucStreamBufferStorageArea);
    if (sb != NULL) {
        sb->buffer = pxStaticStreamBuffer;
        pxStaticStreamBuffer->host = sb;
    }
    return sb;
}

StreamBufferHandle_t xStreamBufferGenericCreateWithCaps(size_t xBufferSizeBytes,
                                                        size_t xTriggerLevelBytes,
                                                        BaseType_t xIsMessageBuffer,
                                                        UBaseType_t uxMemoryCaps)
{
    fr_task_call();
    /* A message buffer's trigger level is not passed on (xMessageBufferCreateStatic: 0). */
    if (!valid_shape(__func__, xBufferSizeBytes,
                     xIsMessageBuffer != pdFALSE ? 0 : xTriggerLevelBytes,
                     xIsMessageBuffer != pdFALSE, true, false)) {
        return NULL;
    }
    /* idf_additions.c: the record, then the storage (even when the record failed), with the caps. */
    void *block = heap_caps_malloc(RECORD_SIZE, (uint32_t)uxMemoryCaps);
    uint8_t *storage = heap_caps_malloc(xBufferSizeBytes, (uint32_t)uxMemoryCaps);
    struct StreamBufferDef_t *sb =
        block != NULL && storage != NULL
            ? make(MEM_CAPS, xIsMessageBuffer != pdFALSE, xBufferSizeBytes,
                   xIsMessageBuffer != pdFALSE ? 0 : xTriggerLevelBytes, block, storage)
            : NULL;
    if (sb == NULL) {
        heap_caps_free(storage);
        heap_caps_free(block);
        return NULL;
    }
    sb->storage_block = storage;
    return sb;
}

/* Deletes unless a task waits on it; frees what `caps_api` says it may. */
static void delete_buffer(const char *fn, StreamBufferHandle_t sb, bool caps_api)
{
    fr_task_call();
    if (sb == NULL) { /* vStreamBufferDelete's configASSERT(pxStreamBuffer); the WithCaps delete
                         asserts in x*GetStaticBuffers() first */
        FR_REFUSE("%s: no buffer: refused (the chip asserts)", fn);
        return;
    }
    fr_lock();
    fr_let_woken_run_locked(sb, FR_STREAM_BUFFER, &sb->waiting_send, &sb->waiting_receive);
    /* looked up before anything is read, and left live ones at once, so that a second delete is
     * refused however the two calls interleave */
    const char *why =
        !fr_handle_live_locked(sb, FR_STREAM_BUFFER)
            ? "no live stream or message buffer (deleted, or never one): refused (the chip reads "
              "freed memory)"
        : sb->waiting_send + sb->waiting_receive > 0
            ? "a task waits on it: refused (the chip would leave it on freed memory)"
        : caps_api && sb->memory != MEM_CAPS
            ? "not made by xStreamBufferGenericCreateWithCaps(): refused (the chip asserts)"
            : NULL;
    if (why == NULL) {
        fr_handle_remove_locked(sb);
    }
    fr_unlock();
    if (why != NULL) {
        FR_REFUSE("%s: %s", fn, why);
        return;
    }
    if (!caps_api && sb->memory == MEM_CAPS) {
        ESP_LOGW(FR_TAG, "%s: made by a *CreateWithCaps(): its memory stays allocated "
                         "(delete it with v*DeleteWithCaps instead)", fn);
    } else {
        heap_caps_free(sb->block); /* idf_additions.c's order: the record, then the storage */
        heap_caps_free(sb->storage_block);
    }
    __real_free(sb);
}

void vStreamBufferDelete(StreamBufferHandle_t xStreamBuffer)
{
    delete_buffer(__func__, xStreamBuffer, false);
}

void vStreamBufferGenericDeleteWithCaps(StreamBufferHandle_t xStreamBuffer,
                                        BaseType_t xIsMessageBuffer)
{
    (void)xIsMessageBuffer;
    delete_buffer(__func__, xStreamBuffer, true);
}

/* ---- sending and receiving --------------------------------------------------------------------- */

static bool refuse_null(const char *fn, const void *sb, const void *data)
{
    if (sb == NULL || data == NULL) { /* FreeRTOS asserts on a NULL buffer whatever the length */
        FR_REFUSE("%s: %s: refused (the chip asserts)", fn,
                  sb == NULL ? "no buffer" : "no data");
        return true;
    }
    return fr_refuse_dangling(fn, sb, FR_STREAM_BUFFER);
}

/* A second task that would wait on one side. FreeRTOS asserts while the first is registered;
 * once the first is woken (its thread not run yet) it does not, but the first, when it runs,
 * clears the second's registration, whose wake-up is then lost. */
static void refuse_second_waiter(const char *fn, const char *side, bool first_registered)
{
    if (first_registered) {
        FR_REFUSE("%s: a second task waits to %s: refused (the chip asserts)", fn, side);
    } else {
        FR_REFUSE("%s: a second task waits to %s while the first, woken, has not run: refused (on "
                  "the chip the first would unregister it, and it would miss its wake-up)",
                  fn, side);
    }
}

/* fr_wait()'s clean-up for a waiting task deleted: it is no longer registered (on the chip the
 * buffer would keep the deleted task as its waiter). */
static void sender_gone(void *sb)
{
    ((struct StreamBufferDef_t *)sb)->send_listed = false;
}

static void receiver_gone(void *sb)
{
    ((struct StreamBufferDef_t *)sb)->receive_listed = false;
}

/* Whether the monotonic clock has reached `deadline` (fr_deadline()'s). */
static bool passed(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static size_t send(const char *fn, StreamBufferHandle_t sb, const void *data, size_t n,
                   TickType_t wait, BaseType_t *woken)
{
    if (refuse_null(fn, sb, data) || fr_refuse_wait(fn, wait)) {
        return 0;
    }
    struct timespec deadline;
    const bool bounded = fr_deadline(wait, &deadline);
    if (!fr_enter_live(fn, sb, FR_STREAM_BUFFER, false)) {
        return 0;
    }
    if (sb->message && n > UINT32_MAX - LENGTH_BYTES) {
        fr_unlock();
        FR_REFUSE("%s: a message of %zu bytes: refused (the chip asserts)", fn, n);
        return 0;
    }
    /* stream_buffer.c: the room waited for; a message that can never fit is not waited for. */
    size_t required = sb->message ? n + LENGTH_BYTES : n;
    if (required > sb->length - 1) {
        if (sb->message) {
            wait = 0;
        } else {
            required = sb->length - 1;
        }
    }
    if (wait != 0 && space_in(sb) < required) {
        if (sb->waiting_send > 0) {
            const bool first_registered = sb->send_listed; /* read before another may delete it */
            fr_unlock();
            refuse_second_waiter(fn, "send", first_registered);
            return 0;
        }
        /* FreeRTOS's loop: a notification (a receive, xStreamBufferReceiveCompletedFromISR) or an
         * xTaskAbortDelay() (which does not end a notification wait's timeout) makes it look at
         * the room again, and wait again until its timeout. */
        sb->send_task = fr_current();
        while (space_in(sb) < required) {
            sb->send_listed = true;
            if (!fr_wait_notified(&sb->received, bounded ? &deadline : NULL, &sb->waiting_send,
                                  sender_gone, sb) &&
                bounded && passed(&deadline)) {
                break;
            }
        }
        sb->send_listed = false;
    }
    const bool receiver_waits = sb->receive_listed && fr_task_outranks_caller_locked(sb->receive_task);
    const size_t written = write_locked(sb, data, n);
    if (woken != NULL && receiver_waits && written > 0 && bytes_in(sb) >= sb->trigger) {
        *woken = pdTRUE;
    }
    fr_unlock();
    return written;
}

size_t xStreamBufferSend(StreamBufferHandle_t xStreamBuffer, const void *pvTxData,
                         size_t xDataLengthBytes, TickType_t xTicksToWait)
{
    fr_task_call();
    return send(__func__, xStreamBuffer, pvTxData, xDataLengthBytes, xTicksToWait, NULL);
}

size_t xStreamBufferSendFromISR(StreamBufferHandle_t xStreamBuffer, const void *pvTxData,
                                size_t xDataLengthBytes, BaseType_t *const pxHigherPriorityTaskWoken)
{
    return send(__func__, xStreamBuffer, pvTxData, xDataLengthBytes, 0, pxHigherPriorityTaskWoken);
}

static size_t receive(const char *fn, StreamBufferHandle_t sb, void *out, size_t room,
                      TickType_t wait, BaseType_t *woken)
{
    if (refuse_null(fn, sb, out) || fr_refuse_wait(fn, wait)) {
        return 0;
    }
    struct timespec deadline;
    const bool bounded = fr_deadline(wait, &deadline);
    if (!fr_enter_live(fn, sb, FR_STREAM_BUFFER, false)) {
        return 0;
    }
    const size_t empty = sb->message ? LENGTH_BYTES : 0;
    /* Only an empty buffer is waited on, until the trigger level (a sender's wake-up). */
    if (wait != 0 && bytes_in(sb) <= empty) {
        if (sb->waiting_receive > 0) {
            const bool first_registered = sb->receive_listed;
            fr_unlock();
            refuse_second_waiter(fn, "receive", first_registered);
            return 0;
        }
        sb->receive_task = fr_current();
        /* FreeRTOS waits once, for its notification (the trigger level reached, or
         * xStreamBufferSendCompletedFromISR()) or an xTaskAbortDelay(), then takes what is there,
         * maybe nothing. Other wakes of this thread (one with no task record wakes at every wake)
         * are not it. */
        sb->receive_listed = true;
        while (sb->receive_listed &&
               fr_wait_notified(&sb->sent, bounded ? &deadline : NULL, &sb->waiting_receive,
                                receiver_gone, sb)) {
        }
        sb->receive_listed = false;
    }
    const bool sender_waits = sb->send_listed && fr_task_outranks_caller_locked(sb->send_task);
    const size_t read = bytes_in(sb) > empty ? read_locked(sb, out, room) : 0;
    if (woken != NULL && sender_waits && read > 0) {
        *woken = pdTRUE;
    }
    fr_unlock();
    return read;
}

size_t xStreamBufferReceive(StreamBufferHandle_t xStreamBuffer, void *pvRxData,
                            size_t xBufferLengthBytes, TickType_t xTicksToWait)
{
    fr_task_call();
    return receive(__func__, xStreamBuffer, pvRxData, xBufferLengthBytes, xTicksToWait, NULL);
}

size_t xStreamBufferReceiveFromISR(StreamBufferHandle_t xStreamBuffer, void *pvRxData,
                                   size_t xBufferLengthBytes,
                                   BaseType_t *const pxHigherPriorityTaskWoken)
{
    return receive(__func__, xStreamBuffer, pvRxData, xBufferLengthBytes, 0,
                   pxHigherPriorityTaskWoken);
}

/* What x{Send,Receive}CompletedFromISR() do (FreeRTOS's sbSEND/RECEIVE_COMPLETED): wake the task
 * waiting on the other side, if one waits and was not woken yet. */
static BaseType_t completed(const char *fn, StreamBufferHandle_t sb, bool sent,
                            BaseType_t *woken)
{
    if (sb == NULL) {
        FR_REFUSE("%s: no buffer: refused (the chip asserts)", fn);
        return pdFALSE;
    }
    if (!fr_enter_live(fn, sb, FR_STREAM_BUFFER, true)) {
        return pdFALSE;
    }
    bool *const listed = sent ? &sb->receive_listed : &sb->send_listed;
    fr_waiters_t *const waiters = sent ? &sb->sent : &sb->received;
    const bool waits = *listed;
    if (waits) {
        /* the task registered, as xTaskNotifyFromISR() answers: also one whose wait was aborted
         * and has not run yet (off the wait list, still waiting for its notification) */
        if (woken != NULL && fr_task_outranks_caller_locked(sent ? sb->receive_task : sb->send_task)) {
            *woken = pdTRUE;
        }
        *listed = false;
        fr_wake_all_locked(waiters);
    }
    fr_unlock();
    return waits ? pdTRUE : pdFALSE;
}

BaseType_t xStreamBufferSendCompletedFromISR(StreamBufferHandle_t xStreamBuffer,
                                             BaseType_t *pxHigherPriorityTaskWoken)
{
    return completed(__func__, xStreamBuffer, true, pxHigherPriorityTaskWoken);
}

BaseType_t xStreamBufferReceiveCompletedFromISR(StreamBufferHandle_t xStreamBuffer,
                                                BaseType_t *pxHigherPriorityTaskWoken)
{
    return completed(__func__, xStreamBuffer, false, pxHigherPriorityTaskWoken);
}

/* ---- state ------------------------------------------------------------------------------------- */

/* what(sb) under the lock; 0 for NULL or a dead handle (refused). */
static size_t query(const char *fn, StreamBufferHandle_t sb,
                    size_t (*what)(const struct StreamBufferDef_t *))
{
    if (sb == NULL || !fr_enter_live(fn, sb, FR_STREAM_BUFFER, false)) {
        return 0;
    }
    const size_t n = what(sb);
    fr_unlock();
    return n;
}

size_t xStreamBufferBytesAvailable(StreamBufferHandle_t xStreamBuffer)
{
    return query(__func__, xStreamBuffer, bytes_in);
}

size_t xStreamBufferSpacesAvailable(StreamBufferHandle_t xStreamBuffer)
{
    return query(__func__, xStreamBuffer, space_in);
}

BaseType_t xStreamBufferIsFull(StreamBufferHandle_t xStreamBuffer)
{
    if (xStreamBuffer == NULL || !fr_enter_live(__func__, xStreamBuffer, FR_STREAM_BUFFER, false)) {
        return pdFALSE;
    }
    const size_t least = xStreamBuffer->message ? LENGTH_BYTES : 0;
    const bool full = space_in(xStreamBuffer) <= least;
    fr_unlock();
    return full ? pdTRUE : pdFALSE;
}

BaseType_t xStreamBufferIsEmpty(StreamBufferHandle_t xStreamBuffer)
{
    return xStreamBuffer != NULL && xStreamBufferBytesAvailable(xStreamBuffer) == 0 ? pdTRUE
                                                                                    : pdFALSE;
}

BaseType_t xStreamBufferReset(StreamBufferHandle_t xStreamBuffer)
{
    fr_task_call();
    if (xStreamBuffer == NULL || !fr_enter_live(__func__, xStreamBuffer, FR_STREAM_BUFFER, false)) {
        return pdFAIL;
    }
    /* FreeRTOS's test: no task waiting whose notification has not come. */
    const bool idle = !xStreamBuffer->send_listed && !xStreamBuffer->receive_listed;
    if (idle) {
        xStreamBuffer->head = 0;
        xStreamBuffer->tail = 0;
    }
    fr_unlock();
    return idle ? pdPASS : pdFAIL;
}

BaseType_t xStreamBufferSetTriggerLevel(StreamBufferHandle_t xStreamBuffer, size_t xTriggerLevel)
{
    const size_t level = xTriggerLevel != 0 ? xTriggerLevel : 1;
    if (xStreamBuffer == NULL || !fr_enter_live(__func__, xStreamBuffer, FR_STREAM_BUFFER, false)) {
        return pdFALSE;
    }
    const bool ok = level < xStreamBuffer->length; /* FreeRTOS compares with the ring */
    if (ok) {
        xStreamBuffer->trigger = level;
    }
    fr_unlock();
    return ok ? pdTRUE : pdFALSE;
}

size_t xStreamBufferNextMessageLengthBytes(StreamBufferHandle_t xStreamBuffer)
{
    return query(__func__, xStreamBuffer, next_message_length);
}

BaseType_t xStreamBufferGetStaticBuffers(StreamBufferHandle_t xStreamBuffer,
                                         uint8_t **ppucStreamBufferStorageArea,
                                         StaticStreamBuffer_t **ppxStaticStreamBuffer)
{
    if (xStreamBuffer == NULL || ppucStreamBufferStorageArea == NULL ||
        ppxStaticStreamBuffer == NULL) {
        FR_REFUSE("%s: no %s: refused (the chip asserts)", __func__,
                  xStreamBuffer == NULL ? "buffer" : "place for the buffers");
        return pdFALSE;
    }
    if (!fr_enter_live(__func__, xStreamBuffer, FR_STREAM_BUFFER, false)) {
        return pdFALSE;
    }
    /* A WithCaps buffer is a static one on the chip (idf_additions.c): its blocks are its buffers. */
    StaticStreamBuffer_t *const buffer =
        xStreamBuffer->memory == MEM_STATIC ? xStreamBuffer->buffer
        : xStreamBuffer->memory == MEM_CAPS ? (StaticStreamBuffer_t *)xStreamBuffer->block
                                            : NULL;
    uint8_t *const storage = xStreamBuffer->storage;
    fr_unlock();
    if (buffer == NULL) {
        return pdFALSE;
    }
    *ppucStreamBufferStorageArea = storage;
    *ppxStaticStreamBuffer = buffer;
    return pdTRUE;
}
