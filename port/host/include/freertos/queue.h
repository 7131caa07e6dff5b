/*
 * freertos/queue.h (host) - FreeRTOS queues with the chip's memory use: xQueueCreate(n, size)
 * takes one pvPortMalloc() block of 84 + n * size bytes (sizeof(StaticQueue_t) on the S3 plus the
 * storage, as FreeRTOS's xQueueGenericCreate), and the items are copied in and out of that block.
 * Tasks waiting on one queue are served in the order the host's scheduler picks (FreeRTOS serves
 * the highest priority first, which the host does not enforce). See freertos/FreeRTOS.h for what is simulated.
 */
#ifndef FREERTOS_QUEUE_H_HOST
#define FREERTOS_QUEUE_H_HOST

#include "freertos/FreeRTOS.h"

#ifdef __cplusplus
extern "C" {
#endif

#define queueSEND_TO_BACK ((BaseType_t)0)
#define queueSEND_TO_FRONT ((BaseType_t)1)
#define queueOVERWRITE ((BaseType_t)2)

/** A queue of uxQueueLength items of uxItemSize bytes, in one block from pvPortMalloc(). NULL when
 *  the internal heap cannot hold it or the host is out of memory; NULL and logged for a length of
 *  0 or a size whose n * size overflows (the chip asserts on the first). An item size of 0 makes a
 *  semaphore-like queue with no storage. task, O(1). */
QueueHandle_t xQueueCreate(UBaseType_t uxQueueLength, UBaseType_t uxItemSize);
/** A queue on the caller's memory (pucQueueStorage: n * size bytes, NULL when size is 0), no heap
 *  call. NULL for a NULL buffer or the refusals above. The memory must outlive the queue. task. */
QueueHandle_t xQueueCreateStatic(UBaseType_t uxQueueLength, UBaseType_t uxItemSize,
                                 uint8_t *pucQueueStorage, StaticQueue_t *pxStaticQueue);
/** Deletes it: its block goes back (a static queue's memory is the caller's again; a WithCaps
 *  queue's blocks leak, as on the chip: use vQueueDeleteWithCaps). Refused (logged) while tasks
 *  wait on it, where the chip crashes. NULL: nothing. task, O(1). */
void vQueueDelete(QueueHandle_t xQueue);

/** Copies *pvItemToQueue in (xCopyPosition: queueSEND_TO_BACK, queueSEND_TO_FRONT, or
 *  queueOVERWRITE for a queue of length 1), waiting up to xTicksToWait for room. pdPASS, or
 *  errQUEUE_FULL after the wait. NULL queue, NULL item with a non-zero item size, queueOVERWRITE
 *  on a longer queue, or a non-zero wait in a simulated ISR or a critical
 *  section: pdFAIL, logged. task, blocks. */
BaseType_t xQueueGenericSend(QueueHandle_t xQueue, const void *const pvItemToQueue,
                             TickType_t xTicksToWait, const BaseType_t xCopyPosition);
#define xQueueSend(q, item, ticks) xQueueGenericSend((q), (item), (ticks), queueSEND_TO_BACK)
#define xQueueSendToBack(q, item, ticks) xQueueGenericSend((q), (item), (ticks), queueSEND_TO_BACK)
#define xQueueSendToFront(q, item, ticks) xQueueGenericSend((q), (item), (ticks), queueSEND_TO_FRONT)
#define xQueueOverwrite(q, item) xQueueGenericSend((q), (item), 0, queueOVERWRITE)

/** The same without waiting, from a simulated ISR; *pxHigherPriorityTaskWoken (when not NULL) is
 *  set to pdTRUE when a task was waiting for an item. isr-ok, O(1) plus the copy. */
BaseType_t xQueueGenericSendFromISR(QueueHandle_t xQueue, const void *const pvItemToQueue,
                                    BaseType_t *const pxHigherPriorityTaskWoken,
                                    const BaseType_t xCopyPosition);
#define xQueueSendFromISR(q, item, woken) \
    xQueueGenericSendFromISR((q), (item), (woken), queueSEND_TO_BACK)
#define xQueueSendToBackFromISR(q, item, woken) \
    xQueueGenericSendFromISR((q), (item), (woken), queueSEND_TO_BACK)
#define xQueueSendToFrontFromISR(q, item, woken) \
    xQueueGenericSendFromISR((q), (item), (woken), queueSEND_TO_FRONT)
#define xQueueOverwriteFromISR(q, item, woken) \
    xQueueGenericSendFromISR((q), (item), (woken), queueOVERWRITE)

/** Copies the oldest item to *pvBuffer and removes it, waiting up to xTicksToWait for one. pdPASS,
 *  or errQUEUE_EMPTY after the wait. NULL queue or buffer (item size > 0), or a simulated ISR with
 *  a non-zero wait: pdFAIL, logged. task, blocks. */
BaseType_t xQueueReceive(QueueHandle_t xQueue, void *const pvBuffer, TickType_t xTicksToWait);
/** The same, leaving the item in the queue. task, blocks. */
BaseType_t xQueuePeek(QueueHandle_t xQueue, void *const pvBuffer, TickType_t xTicksToWait);
/** xQueueReceive() without waiting, from a simulated ISR; *pxHigherPriorityTaskWoken (when not
 *  NULL) is set to pdTRUE when a task was waiting for room. isr-ok, O(1) plus the copy. */
BaseType_t xQueueReceiveFromISR(QueueHandle_t xQueue, void *const pvBuffer,
                                BaseType_t *const pxHigherPriorityTaskWoken);
/** xQueuePeek() without waiting, from a simulated ISR: pdPASS, errQUEUE_EMPTY, or pdFAIL (logged)
 *  for a NULL queue or buffer. isr-ok, O(1) plus the copy. */
BaseType_t xQueuePeekFromISR(QueueHandle_t xQueue, void *const pvBuffer);

/** Items queued (0 for NULL). task or isr, O(1). */
UBaseType_t uxQueueMessagesWaiting(const QueueHandle_t xQueue);
#define uxQueueMessagesWaitingFromISR(q) uxQueueMessagesWaiting(q)
/** Free places (0 for NULL). task or isr, O(1). */
UBaseType_t uxQueueSpacesAvailable(const QueueHandle_t xQueue);
/** pdTRUE when empty / full (NULL: pdFALSE). isr-ok, O(1). */
BaseType_t xQueueIsQueueEmptyFromISR(const QueueHandle_t xQueue);
BaseType_t xQueueIsQueueFullFromISR(const QueueHandle_t xQueue);
/** Empties it (one task waiting to send is let in, as in FreeRTOS: the others wait for a receive
 *  or their timeout; a mutex is left as it is). Always pdPASS (NULL: pdFAIL, logged). task,
 *  O(1). */
BaseType_t xQueueGenericReset(QueueHandle_t xQueue, BaseType_t xNewQueue);
#define xQueueReset(q) xQueueGenericReset((q), pdFALSE)

#ifdef __cplusplus
}
#endif

#endif /* FREERTOS_QUEUE_H_HOST */
