/*
 * freertos/queue.h (host) - FreeRTOS queues with the chip's memory use: xQueueCreate(n, size)
 * takes one pvPortMalloc() block of 84 + n * size bytes (sizeof(StaticQueue_t) on the S3 plus the
 * storage, as FreeRTOS's xQueueGenericCreate), and the items are copied in and out of that block.
 * Tasks waiting on one queue are woken in FreeRTOS's order (the highest priority first, first come
 * first among equals); which item each woken task then takes depends on when the host runs its
 * thread (priorities are not enforced). See freertos/FreeRTOS.h for what is simulated.
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

/* The types a queue is made with: a plain queue or set, or a semaphore's (semphr.h). */
#define queueQUEUE_TYPE_BASE ((uint8_t)0U)
#define queueQUEUE_TYPE_SET ((uint8_t)0U)
#define queueQUEUE_TYPE_MUTEX ((uint8_t)1U)
#define queueQUEUE_TYPE_COUNTING_SEMAPHORE ((uint8_t)2U)
#define queueQUEUE_TYPE_BINARY_SEMAPHORE ((uint8_t)3U)
#define queueQUEUE_TYPE_RECURSIVE_MUTEX ((uint8_t)4U)

/** A queue of uxQueueLength items of uxItemSize bytes, in one block from pvPortMalloc(). NULL when
 *  the internal heap cannot hold it or the host is out of memory; NULL and logged for a length of
 *  0 or a size whose n * size overflows (the chip asserts on the first). An item size of 0 makes a
 *  semaphore-like queue with no storage. task, O(1). */
QueueHandle_t xQueueCreate(UBaseType_t uxQueueLength, UBaseType_t uxItemSize);
/** A queue on the caller's memory (pucQueueStorage: n * size bytes, NULL when size is 0), no heap
 *  call. NULL for a NULL buffer or the refusals above. The memory must outlive the queue. task. */
QueueHandle_t xQueueCreateStatic(UBaseType_t uxQueueLength, UBaseType_t uxItemSize,
                                 uint8_t *pucQueueStorage, StaticQueue_t *pxStaticQueue);
/** FreeRTOS's own creates, which xQueueCreate() and xQueueCreateStatic() are on the chip: the
 *  same queue, made with ucQueueType, a queueQUEUE_TYPE_*. The type only marks it for the trace
 *  facility (ucQueueGetQueueType): a queue made with a semaphore's or mutex's type behaves as a
 *  queue of uxItemSize (0: a semaphore-like queue), as in queue.c. NULL, and the refusals, as
 *  their xQueueCreate() and xQueueCreateStatic() counterparts. task, O(1). */
QueueHandle_t xQueueGenericCreate(const UBaseType_t uxQueueLength, const UBaseType_t uxItemSize,
                                  const uint8_t ucQueueType);
QueueHandle_t xQueueGenericCreateStatic(const UBaseType_t uxQueueLength,
                                        const UBaseType_t uxItemSize, uint8_t *pucQueueStorage,
                                        StaticQueue_t *pxStaticQueue, const uint8_t ucQueueType);
/** Deletes it: its block goes back (a static queue's memory is the caller's again; a WithCaps
 *  queue's blocks leak, as on the chip: use vQueueDeleteWithCaps), and it leaves the queue
 *  registry and, when empty, its queue set. Refused (logged) while tasks wait on it, for a member
 *  of a queue set that is not empty, or a queue set that has members, where the chip crashes
 *  (then or later: FreeRTOS leaves a deleted member in its set), and for NULL (the chip asserts).
 *  A task woken from it that would have preempted the caller on the chip runs first, until it
 *  blocks or ends (docs/simulator.md). task; may block (0.5 s at most, only for such a task);
 *  O(tasks) plus O(CONFIG_FREERTOS_QUEUE_REGISTRY_SIZE). */
void vQueueDelete(QueueHandle_t xQueue);
/** The buffers given to xQueueCreateStatic() (or a semaphore's static create): pdTRUE with
 *  *ppxStaticQueue and, when ppucQueueStorage is not NULL, *ppucQueueStorage set (the storage;
 *  for an item size of 0 the queue buffer itself, NULL for a mutex, as FreeRTOS's pcHead). For a queue or semaphore made by a WithCaps create (static ones
 *  on the chip too), its blocks: to free, not to read. pdFALSE, nothing set, for one made by a
 *  dynamic create. A NULL queue or ppxStaticQueue is refused with pdFALSE and an error line (the
 *  chip asserts). task or isr, O(1). */
BaseType_t xQueueGenericGetStaticBuffers(QueueHandle_t xQueue, uint8_t **ppucQueueStorage,
                                         StaticQueue_t **ppxStaticQueue);
#define xQueueGetStaticBuffers(xQueue, ppucQueueStorage, ppxStaticQueue) \
    xQueueGenericGetStaticBuffers((xQueue), (ppucQueueStorage), (ppxStaticQueue))

/** Copies *pvItemToQueue in (xCopyPosition: queueSEND_TO_BACK, queueSEND_TO_FRONT, or
 *  queueOVERWRITE for a queue of length 1), waiting up to xTicksToWait for room. pdPASS, or
 *  errQUEUE_FULL after the wait. NULL queue, NULL item with a non-zero item size, queueOVERWRITE
 *  on a longer queue, a member of a full queue set, or a non-zero wait in a simulated ISR or a
 *  critical section: pdFAIL, logged. task, blocks. */
BaseType_t xQueueGenericSend(QueueHandle_t xQueue, const void *const pvItemToQueue,
                             TickType_t xTicksToWait, const BaseType_t xCopyPosition);
#define xQueueSend(q, item, ticks) xQueueGenericSend((q), (item), (ticks), queueSEND_TO_BACK)
#define xQueueSendToBack(q, item, ticks) xQueueGenericSend((q), (item), (ticks), queueSEND_TO_BACK)
#define xQueueSendToFront(q, item, ticks) xQueueGenericSend((q), (item), (ticks), queueSEND_TO_FRONT)
#define xQueueOverwrite(q, item) xQueueGenericSend((q), (item), 0, queueOVERWRITE)

/** The same without waiting, from a simulated ISR; *pxHigherPriorityTaskWoken (when not NULL) is
 *  set to pdTRUE when the item wakes a waiting task of a higher priority than the interrupted one
 *  (a task already woken, whose thread has not run yet, is no longer waiting, as in FreeRTOS; a
 *  waiting thread with no task record counts as a task of a higher priority).
 *  isr-ok, O(1) plus the copy. */
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
 *  NULL) is set to pdTRUE when the free slot wakes a task waiting for room of a higher priority
 *  than the interrupted one (with the same exception as the send). isr-ok, O(1) plus the copy. */
BaseType_t xQueueReceiveFromISR(QueueHandle_t xQueue, void *const pvBuffer,
                                BaseType_t *const pxHigherPriorityTaskWoken);
/** xQueuePeek() without waiting, from a simulated ISR: pdPASS, errQUEUE_EMPTY, or pdFAIL (logged,
 *  counted) for a NULL queue or buffer, or a semaphore (the chip asserts: it cannot be peeked).
 *  isr-ok, O(1) plus the copy. */
BaseType_t xQueuePeekFromISR(QueueHandle_t xQueue, void *const pvBuffer);

/** Items queued (NULL: 0, refused as the chip asserts; logged, counted). task or isr, O(1). */
UBaseType_t uxQueueMessagesWaiting(const QueueHandle_t xQueue);
#define uxQueueMessagesWaitingFromISR(q) uxQueueMessagesWaiting(q)
/** Free places (NULL: 0, refused). task or isr, O(1). */
UBaseType_t uxQueueSpacesAvailable(const QueueHandle_t xQueue);
/** pdTRUE when empty / full (NULL: pdFALSE, refused). isr-ok, O(1). */
BaseType_t xQueueIsQueueEmptyFromISR(const QueueHandle_t xQueue);
BaseType_t xQueueIsQueueFullFromISR(const QueueHandle_t xQueue);
/** Empties it (one task waiting to send is let in, as in FreeRTOS: the others wait for a receive
 *  or their timeout; a mutex is left as it is). Always pdPASS (NULL: pdFAIL, logged). task,
 *  O(1). */
BaseType_t xQueueGenericReset(QueueHandle_t xQueue, BaseType_t xNewQueue);
#define xQueueReset(q) xQueueGenericReset((q), pdFALSE)

#if CONFIG_FREERTOS_USE_TRACE_FACILITY || defined(KRAKEN_SIM_TRACE_FACILITY)
/* ---- trace facility (CONFIG_FREERTOS_USE_TRACE_FACILITY), as task.h's task numbers ----
 * A NULL or deleted queue is refused (logged, counted: the chip reads through it): nothing set,
 * 0 returned. task or isr, O(1). */

/** Sets the number a tracer gives the queue (0 when made). */
void vQueueSetQueueNumber(QueueHandle_t xQueue, UBaseType_t uxQueueNumber);
/** The number vQueueSetQueueNumber() set. */
UBaseType_t uxQueueGetQueueNumber(QueueHandle_t xQueue);
/** The type it was made with: queueQUEUE_TYPE_BASE (a queue or a set), _MUTEX,
 *  _RECURSIVE_MUTEX, _COUNTING_SEMAPHORE, _BINARY_SEMAPHORE, or a Generic create's. */
uint8_t ucQueueGetQueueType(QueueHandle_t xQueue);
#endif

/* ---- queue sets ----
 * A set is a queue of member handles: an item sent to a member queue, or a give of a member
 * semaphore or mutex, also puts the member's handle in the set, and xQueueSelectFromSet() takes
 * the oldest handle out. Read a member only after a select gave its handle (FreeRTOS's rule): an
 * item arriving in a member wakes a task selecting from the set, not one waiting on the member
 * itself, and a handle left in the set for an item read otherwise takes a place in the set. An
 * overwrite that replaces the item of a queue of one puts no handle (the count did not change).
 * A send or give to a member whose set is full fails (pdFAIL, logged: the chip asserts) and
 * changes nothing. */

/** A queue set member: a queue or semaphore handle. */
typedef struct QueueDefinition *QueueSetMemberHandle_t;

/** A queue set with room for uxEventQueueLength handles (make it the sum of its members' lengths,
 *  a binary semaphore or mutex counting 1 and a counting semaphore its maximum), in one
 *  pvPortMalloc() block of xQueueCreate(length, 4)'s size, as on the chip (a 64-bit host keeps its
 *  8-byte handles in host memory beside it). NULL when the internal heap cannot hold it or the
 *  host is out of memory; NULL and logged for a length of 0 (the chip asserts) or one whose 4 x
 *  length overflows. No static version (FreeRTOS 10.5.1 has none). task, O(1). */
QueueSetHandle_t xQueueCreateSet(const UBaseType_t uxEventQueueLength);
/** Adds an empty queue or semaphore, or a held mutex, to a set: pdPASS. pdFAIL, logged, when it
 *  is already in a set (one set at most), not empty (a given semaphore, a free mutex), or for no
 *  member, no set or a handle that is not a set (FreeRTOS returns pdFAIL for the first two and
 *  asserts or corrupts memory for the others). Any kind can be a member, as in FreeRTOS; blocking
 *  on a set never gives a mutex holder a priority. task, O(1). */
BaseType_t xQueueAddToSet(QueueSetMemberHandle_t xQueueOrSemaphore, QueueSetHandle_t xQueueSet);
/** Takes an empty member out of its set: pdPASS. pdFAIL, logged, when it is not in that set or
 *  not empty (the set would keep its handle), or for no member or set. task, O(1). */
BaseType_t xQueueRemoveFromSet(QueueSetMemberHandle_t xQueueOrSemaphore,
                               QueueSetHandle_t xQueueSet);
/** The member whose item or give came first (members in the order their data arrived), waiting up
 *  to xTicksToWait for one; then read it without waiting (xQueueReceive, xSemaphoreTake(s, 0)).
 *  NULL after the wait; NULL and logged for no set, a handle that is not a set, or a non-zero
 *  wait in a simulated ISR or a critical section. task, blocks. */
QueueSetMemberHandle_t xQueueSelectFromSet(QueueSetHandle_t xQueueSet,
                                           const TickType_t xTicksToWait);
/** The same without waiting: NULL when no member has data (and, logged, for no set or a handle
 *  that is not a set). For a simulated ISR (a task may call it too, as on the chip). isr-ok, O(1). */
QueueSetMemberHandle_t xQueueSelectFromSetFromISR(QueueSetHandle_t xQueueSet);

/* ---- the queue registry (CONFIG_FREERTOS_QUEUE_REGISTRY_SIZE names, for debuggers) ----
 * With a size of 0 (ESP-IDF's default) the three calls are empty macros, as in FreeRTOS:
 * pcQueueGetName() then has no value to use. */
#if CONFIG_FREERTOS_QUEUE_REGISTRY_SIZE > 0 || defined(KRAKEN_SIM_QUEUE_REGISTRY)
/** Gives xQueue (a queue, semaphore, mutex or set) the name pcQueueName, whose string is kept, not
 *  copied: it must outlive the entry. Registered again: the new name. Nothing happens for a NULL
 *  name or when all CONFIG_FREERTOS_QUEUE_REGISTRY_SIZE places are taken; a NULL queue is refused
 *  (logged; the chip asserts). No heap use (a static array, as on the chip). task or isr,
 *  O(CONFIG_FREERTOS_QUEUE_REGISTRY_SIZE). */
void vQueueAddToRegistry(QueueHandle_t xQueue, const char *pcQueueName);
/** Takes xQueue out of the registry (not in it: nothing; NULL: refused, logged). vQueueDelete()
 *  does it too. task or isr, O(CONFIG_FREERTOS_QUEUE_REGISTRY_SIZE). */
void vQueueUnregisterQueue(QueueHandle_t xQueue);
/** xQueue's registered name, NULL when it is not registered (or NULL, logged). task or isr,
 *  O(CONFIG_FREERTOS_QUEUE_REGISTRY_SIZE). */
const char *pcQueueGetName(QueueHandle_t xQueue);
#else
#define vQueueAddToRegistry(xQueue, pcName)
#define vQueueUnregisterQueue(xQueue)
#define pcQueueGetName(xQueue)
#endif

#ifdef __cplusplus
}
#endif

#endif /* FREERTOS_QUEUE_H_HOST */
