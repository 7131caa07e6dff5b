/*
 * freertos/stream_buffer.h (host) - FreeRTOS stream buffers with the chip's memory use and
 * capacity: xStreamBufferCreate(n) is one pvPortMalloc() block of 40 + n + 1 bytes
 * (sizeof(StaticStreamBuffer_t) on the S3, and FreeRTOS's one spare byte) holding n bytes; a
 * static or WithCaps buffer of n bytes holds n - 1, as in FreeRTOS. One task may wait to send and
 * one to receive at a time (FreeRTOS asserts otherwise; here the second is refused, logged).
 * Message buffers (freertos/message_buffer.h) are these with a 4-byte length before each message.
 * Not simulated: FreeRTOS waits on the task's notification (index 0), so on the chip a wait ends
 * early when another notification comes and clears one pending; here the waits leave
 * notifications alone.
 */
#ifndef FREERTOS_STREAM_BUFFER_H_HOST
#define FREERTOS_STREAM_BUFFER_H_HOST

#include "freertos/FreeRTOS.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct StreamBufferDef_t *StreamBufferHandle_t;
/** configUSE_SB_COMPLETED_CALLBACK's callbacks: not simulated (a create given one is refused). */
typedef void (*StreamBufferCallbackFunction_t)(StreamBufferHandle_t xStreamBuffer,
                                               BaseType_t xIsInsideISR,
                                               BaseType_t *const pxHigherPriorityTaskWoken);

/** Memory a buffer created with xStreamBufferCreateStatic() uses instead of a heap block
 *  (KRAKEN_SIM_STREAM_BUFFER_BYTES: 40 bytes on the S3 with the default options, as on a 32-bit
 *  host; 48 on a 64-bit one). */
typedef struct {
    void *host; /* the host record */
    uint8_t reserved[KRAKEN_SIM_STREAM_BUFFER_BYTES - 4u];
} StaticStreamBuffer_t;

/** Stream (pdFALSE) or message (pdTRUE) buffer holding xBufferSizeBytes, in one block of
 *  KRAKEN_SIM_STREAM_BUFFER_BYTES (40 with the default options) +
 *  xBufferSizeBytes + 1 bytes from pvPortMalloc(). A receiver waiting on an empty buffer wakes when
 *  xTriggerLevelBytes (0: 1) are in it. NULL when the heap cannot hold it or the host is out of
 *  memory; refused with NULL, logged (the chip asserts): a size of 0 (of 4 or less for a message
 *  buffer), a trigger level above the size, a completed callback. task, O(1). */
StreamBufferHandle_t xStreamBufferGenericCreate(size_t xBufferSizeBytes, size_t xTriggerLevelBytes,
                                                BaseType_t xIsMessageBuffer,
                                                StreamBufferCallbackFunction_t pxSendCompletedCallback,
                                                StreamBufferCallbackFunction_t pxReceiveCompletedCallback);
/** The same on the caller's memory (pucStreamBufferStorageArea of xBufferSizeBytes, which holds
 *  xBufferSizeBytes - 1, as in FreeRTOS), no heap call; refused with NULL, logged: a NULL buffer,
 *  a size of 4 or less (FreeRTOS's check, for stream buffers too), a trigger level above the size,
 *  a completed callback. task, O(1). */
StreamBufferHandle_t xStreamBufferGenericCreateStatic(size_t xBufferSizeBytes,
                                                      size_t xTriggerLevelBytes,
                                                      BaseType_t xIsMessageBuffer,
                                                      uint8_t *const pucStreamBufferStorageArea,
                                                      StaticStreamBuffer_t *const pxStaticStreamBuffer,
                                                      StreamBufferCallbackFunction_t pxSendCompletedCallback,
                                                      StreamBufferCallbackFunction_t pxReceiveCompletedCallback);
#define xStreamBufferCreate(xBufferSizeBytes, xTriggerLevelBytes) \
    xStreamBufferGenericCreate((xBufferSizeBytes), (xTriggerLevelBytes), pdFALSE, NULL, NULL)
#define xStreamBufferCreateStatic(xBufferSizeBytes, xTriggerLevelBytes, pucStorage, pxStatic) \
    xStreamBufferGenericCreateStatic((xBufferSizeBytes), (xTriggerLevelBytes), pdFALSE,       \
                                     (pucStorage), (pxStatic), NULL, NULL)

/** Deletes it: a block from the create goes back to the heap. Refused while a task waits on it
 *  (logged: the chip would leave that task on freed memory), as NULL (the chip asserts). A task
 *  woken from it that would have preempted the caller on the chip runs first, until it blocks or
 *  ends (docs/simulator.md). task; may block (0.5 s at most, only for such a task); O(tasks). */
void vStreamBufferDelete(StreamBufferHandle_t xStreamBuffer);

/** Copies pvTxData in. A stream buffer takes as many bytes as there is room for; a message buffer
 *  the whole message and its 4-byte length, or nothing (a message of 0 bytes: nothing). Waits up to xTicksToWait for the room
 *  (not at all for a message larger than the buffer). Returns the bytes written (0: none). NULL
 *  buffer or data with a non-zero length, or a second task waiting to send: 0, logged. task, may
 *  block, O(length). */
size_t xStreamBufferSend(StreamBufferHandle_t xStreamBuffer, const void *pvTxData,
                         size_t xDataLengthBytes, TickType_t xTicksToWait);
/** The same from a simulated ISR, never waiting; *pxHigherPriorityTaskWoken (when not NULL) is set
 *  to pdTRUE when a waiting receiver was woken. isr-ok, O(length). */
size_t xStreamBufferSendFromISR(StreamBufferHandle_t xStreamBuffer, const void *pvTxData,
                                size_t xDataLengthBytes, BaseType_t *const pxHigherPriorityTaskWoken);
/** Copies out up to xBufferLengthBytes (a message buffer: the next message, or nothing when it is
 *  longer than that). Only on an empty buffer it waits, up to xTicksToWait, for the trigger level
 *  (then takes what is there). Returns the bytes read (0: none). NULL buffer or destination, or a
 *  second task waiting to receive: 0, logged. task, may block, O(length). */
size_t xStreamBufferReceive(StreamBufferHandle_t xStreamBuffer, void *pvRxData,
                            size_t xBufferLengthBytes, TickType_t xTicksToWait);
/** The same from a simulated ISR, never waiting; *pxHigherPriorityTaskWoken as for the send.
 *  isr-ok, O(length). */
size_t xStreamBufferReceiveFromISR(StreamBufferHandle_t xStreamBuffer, void *pvRxData,
                                   size_t xBufferLengthBytes,
                                   BaseType_t *const pxHigherPriorityTaskWoken);

/** What FreeRTOS's default sbSEND_COMPLETED does after a send, for an application that sends
 *  otherwise: wakes the task waiting to receive, which then takes what is there (maybe nothing).
 *  pdTRUE when one waited and was not woken yet; then *pxHigherPriorityTaskWoken (when not NULL)
 *  is set to pdTRUE when it outranks the interrupted task. pdFALSE otherwise, and for NULL
 *  (refused, logged: the chip asserts). isr-ok, O(1). */
BaseType_t xStreamBufferSendCompletedFromISR(StreamBufferHandle_t xStreamBuffer,
                                             BaseType_t *pxHigherPriorityTaskWoken);
/** The same for the task waiting to send (sbRECEIVE_COMPLETED): it looks at the room again, and
 *  waits again, up to its timeout, when there is still not enough. isr-ok, O(1). */
BaseType_t xStreamBufferReceiveCompletedFromISR(StreamBufferHandle_t xStreamBuffer,
                                                BaseType_t *pxHigherPriorityTaskWoken);
/** A static buffer's storage and StaticStreamBuffer_t (a WithCaps one's two blocks, which are
 *  those on the chip): pdTRUE; pdFALSE for one from xStreamBufferCreate(). Refused with pdFALSE,
 *  logged, for NULL arguments (the chip asserts). task, O(1). */
BaseType_t xStreamBufferGetStaticBuffers(StreamBufferHandle_t xStreamBuffer,
                                         uint8_t **ppucStreamBufferStorageArea,
                                         StaticStreamBuffer_t **ppxStaticStreamBuffer);

/** Bytes in it (a message buffer's lengths included). NULL: 0. isr-ok, O(1). */
size_t xStreamBufferBytesAvailable(StreamBufferHandle_t xStreamBuffer);
/** Bytes that can be written now. NULL: 0. isr-ok, O(1). */
size_t xStreamBufferSpacesAvailable(StreamBufferHandle_t xStreamBuffer);
/** pdTRUE when no byte (a message buffer: no message of 1 byte) fits. NULL: pdFALSE. isr-ok,
 *  O(1). */
BaseType_t xStreamBufferIsFull(StreamBufferHandle_t xStreamBuffer);
/** pdTRUE when it holds nothing. NULL: pdFALSE. isr-ok, O(1). */
BaseType_t xStreamBufferIsEmpty(StreamBufferHandle_t xStreamBuffer);
/** Empties it: pdPASS; pdFAIL while a task waits on it and has not been woken (as FreeRTOS: a
 *  task woken whose thread has not run yet then finds it empty), or for NULL. task, O(1). */
BaseType_t xStreamBufferReset(StreamBufferHandle_t xStreamBuffer);
/** Sets the trigger level (0: 1): pdTRUE; pdFALSE, the level unchanged, when it is not below the
 *  ring's length (the size + 1 of xStreamBufferCreate(), the size of a static buffer), or for
 *  NULL. isr-ok, O(1). */
BaseType_t xStreamBufferSetTriggerLevel(StreamBufferHandle_t xStreamBuffer, size_t xTriggerLevel);
/** A message buffer's next message length (0 when empty, and for a stream buffer). isr-ok,
 *  O(1). */
size_t xStreamBufferNextMessageLengthBytes(StreamBufferHandle_t xStreamBuffer);

#ifdef __cplusplus
}
#endif

#endif /* FREERTOS_STREAM_BUFFER_H_HOST */
