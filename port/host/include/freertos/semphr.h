/*
 * freertos/semphr.h (host) - semaphores and mutexes, which are queues without storage as in
 * FreeRTOS: each takes one 84-byte pvPortMalloc() block (sizeof(StaticSemaphore_t) on the S3).
 * Mutexes have an owner and recursive mutexes count; priority inheritance is not simulated (the
 * host does not enforce priorities). See freertos/FreeRTOS.h for what is simulated.
 */
#ifndef FREERTOS_SEMPHR_H_HOST
#define FREERTOS_SEMPHR_H_HOST

#include "freertos/queue.h"
#include "freertos/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A mutex (queueQUEUE_TYPE_MUTEX) or recursive mutex, given (free). NULL when the heap cannot
 *  hold it, or for another type (logged). task, O(1). */
QueueHandle_t xQueueCreateMutex(const uint8_t ucQueueType);
/** The same on the caller's memory, no heap call; NULL for a NULL buffer. task, O(1). */
QueueHandle_t xQueueCreateMutexStatic(const uint8_t ucQueueType, StaticQueue_t *pxStaticQueue);
/** A counting semaphore holding uxInitialCount of at most uxMaxCount. NULL when the heap cannot
 *  hold it; NULL and logged for a maximum of 0 or an initial count above it. task, O(1). */
QueueHandle_t xQueueCreateCountingSemaphore(const UBaseType_t uxMaxCount,
                                            const UBaseType_t uxInitialCount);
/** The same on the caller's memory, no heap call; NULL for a NULL buffer. task, O(1). */
QueueHandle_t xQueueCreateCountingSemaphoreStatic(const UBaseType_t uxMaxCount,
                                                  const UBaseType_t uxInitialCount,
                                                  StaticQueue_t *pxStaticQueue);
/** A binary semaphore, taken (empty), in one 84-byte block. NULL when the heap cannot hold it.
 *  task, O(1). */
QueueHandle_t xQueueCreateBinarySemaphore(void);
/** The same on the caller's memory, no heap call; NULL for a NULL buffer. task, O(1). */
QueueHandle_t xQueueCreateBinarySemaphoreStatic(StaticQueue_t *pxStaticQueue);

/** Takes one count (a mutex: takes ownership; taking a plain mutex its holder already holds waits,
 *  as on the chip, where it deadlocks), waiting up to xTicksToWait. pdTRUE, or pdFALSE after the
 *  wait. NULL, a non-zero wait in a simulated ISR or a critical
 *  section, or a mutex in an ISR: pdFALSE, logged.
 *  task, blocks. */
BaseType_t xQueueSemaphoreTake(QueueHandle_t xQueue, TickType_t xTicksToWait);
/** Takes a recursive mutex (again by its holder: counts). pdTRUE, or pdFALSE after the wait (or
 *  not a recursive mutex, logged). task, blocks. */
BaseType_t xQueueTakeMutexRecursive(QueueHandle_t xMutex, TickType_t xTicksToWait);
/** Gives back one take of a recursive mutex; pdFALSE when the caller does not hold it (as
 *  FreeRTOS: not logged, a normal answer), or for a NULL or other kind of semaphore (logged).
 *  task, O(1). */
BaseType_t xQueueGiveMutexRecursive(QueueHandle_t xMutex);
/** Gives a semaphore from a simulated ISR (not a mutex: pdFALSE, logged). pdTRUE, or errQUEUE_FULL
 *  when it is at its maximum count. isr-ok, O(1). */
BaseType_t xQueueGiveFromISR(QueueHandle_t xQueue, BaseType_t *const pxHigherPriorityTaskWoken);
/** The task holding a mutex, NULL when it is free or not a mutex (NULL handle: NULL, refused, as
 *  the chip asserts). isr-ok, O(1). */
TaskHandle_t xQueueGetMutexHolder(QueueHandle_t xSemaphore);

#define xSemaphoreCreateBinary() xQueueCreateBinarySemaphore()
/* FreeRTOS's old form, still in ESP-IDF: unlike xSemaphoreCreateBinary(), the semaphore is given. */
#define vSemaphoreCreateBinary(xSemaphore)                                                         \
    {                                                                                              \
        (xSemaphore) = xSemaphoreCreateBinary();                                                   \
        if ((xSemaphore) != NULL) {                                                                \
            (void)xSemaphoreGive((xSemaphore));                                                    \
        }                                                                                          \
    }
#define xSemaphoreCreateBinaryStatic(buf) xQueueCreateBinarySemaphoreStatic(buf)
#define xSemaphoreCreateMutex() xQueueCreateMutex(queueQUEUE_TYPE_MUTEX)
#define xSemaphoreCreateMutexStatic(buf) xQueueCreateMutexStatic(queueQUEUE_TYPE_MUTEX, (buf))
#define xSemaphoreCreateRecursiveMutex() xQueueCreateMutex(queueQUEUE_TYPE_RECURSIVE_MUTEX)
#define xSemaphoreCreateRecursiveMutexStatic(buf) \
    xQueueCreateMutexStatic(queueQUEUE_TYPE_RECURSIVE_MUTEX, (buf))
#define xSemaphoreCreateCounting(max, initial) xQueueCreateCountingSemaphore((max), (initial))
#define xSemaphoreCreateCountingStatic(max, initial, buf) \
    xQueueCreateCountingSemaphoreStatic((max), (initial), (buf))
#define vSemaphoreDelete(s) vQueueDelete((QueueHandle_t)(s))
/* The StaticSemaphore_t given to a static create: xQueueGenericGetStaticBuffers(). */
#define xSemaphoreGetStaticBuffer(xSemaphore, ppxSemaphoreBuffer) \
    xQueueGenericGetStaticBuffers((QueueHandle_t)(xSemaphore), NULL, (ppxSemaphoreBuffer))

#define xSemaphoreTake(s, ticks) xQueueSemaphoreTake((s), (ticks))
#define xSemaphoreTakeRecursive(m, ticks) xQueueTakeMutexRecursive((m), (ticks))
/* A give never waits: pdTRUE, or pdFALSE when the semaphore is at its maximum or the caller does
 * not hold the mutex (logged: the chip asserts when another task holds it). */
#define xSemaphoreGive(s) xQueueGenericSend((QueueHandle_t)(s), NULL, 0, queueSEND_TO_BACK)
#define xSemaphoreGiveRecursive(m) xQueueGiveMutexRecursive(m)
#define xSemaphoreGiveFromISR(s, woken) xQueueGiveFromISR((QueueHandle_t)(s), (woken))
#define xSemaphoreTakeFromISR(s, woken) xQueueReceiveFromISR((QueueHandle_t)(s), NULL, (woken))
#define xSemaphoreGetMutexHolder(s) xQueueGetMutexHolder(s)
#define xSemaphoreGetMutexHolderFromISR(s) xQueueGetMutexHolder(s)
#define uxSemaphoreGetCount(s) uxQueueMessagesWaiting((QueueHandle_t)(s))
#define uxSemaphoreGetCountFromISR(s) uxQueueMessagesWaiting((QueueHandle_t)(s))

#ifdef __cplusplus
}
#endif

#endif /* FREERTOS_SEMPHR_H_HOST */
