/*
 * freertos/idf_additions.h (host) - ESP-IDF's "WithCaps" creation functions, which choose the
 * memory of a task's stack or of a queue: with MALLOC_CAP_SPIRAM a stack or a queue goes to the
 * simulated PSRAM, as on the chip (and fails, as there, when the module has none). The allocations
 * are ESP-IDF's (idf_additions.c): a task's TCB from pvPortMalloc() and its stack with the caps; a
 * queue's 84-byte record and its storage as two blocks with the caps; a semaphore's record with
 * the caps. Each *DeleteWithCaps frees what its create took.
 */
#ifndef FREERTOS_IDF_ADDITIONS_H_HOST
#define FREERTOS_IDF_ADDITIONS_H_HOST

#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h" /* with xEventGroupCreateWithCaps */
#include "freertos/queue.h"
#include "freertos/semphr.h"
#include "freertos/task.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS
/** Called with a thread-local storage pointer's index and value when its task is deleted. */
typedef void (*TlsDeleteCallbackFunction_t)(int, void *);
/** Sets xTaskToSet's (NULL: the caller's) pointer xIndex (below
 *  CONFIG_FREERTOS_THREAD_LOCAL_STORAGE_POINTERS, else ignored, as ESP-IDF) and the callback that
 *  vTaskDelete() calls with it (NULL: none). The callbacks run in the deleting task before the
 *  stack and TCB are freed when the deleted task's code runs no more (itself, or a task waiting
 *  or suspended); a task deleted while it runs calls them as it ends, at its next FreeRTOS call
 *  (on the chip the idle task calls them for a task deleting itself or running on the other
 *  core). A callback may ask about its task by handle: it answers (eTaskGetState(): eDeleted)
 *  until they return. Not called when a thread not made by xTaskCreate*() just ends. task, O(1). */
void vTaskSetThreadLocalStoragePointerAndDelCallback(TaskHandle_t xTaskToSet, BaseType_t xIndex,
                                                     void *pvValue,
                                                     TlsDeleteCallbackFunction_t pvDelCallback);
#endif

/** A task whose stack (usStackDepth bytes) comes from heap_caps_malloc(uxMemoryCaps). pdPASS, or
 *  pdFAIL with nothing allocated (no memory, or the refusals of xTaskCreatePinnedToCore()). Delete
 *  it with vTaskDeleteWithCaps(). task, O(1). */
BaseType_t xTaskCreatePinnedToCoreWithCaps(TaskFunction_t pvTaskCode, const char *const pcName,
                                           const configSTACK_DEPTH_TYPE usStackDepth,
                                           void *const pvParameters, UBaseType_t uxPriority,
                                           TaskHandle_t *const pvCreatedTask,
                                           const BaseType_t xCoreID, UBaseType_t uxMemoryCaps);

static inline BaseType_t xTaskCreateWithCaps(TaskFunction_t pvTaskCode, const char *const pcName,
                                             const configSTACK_DEPTH_TYPE usStackDepth,
                                             void *const pvParameters, UBaseType_t uxPriority,
                                             TaskHandle_t *pvCreatedTask, UBaseType_t uxMemoryCaps)
{
    return xTaskCreatePinnedToCoreWithCaps(pvTaskCode, pcName, usStackDepth, pvParameters,
                                           uxPriority, pvCreatedTask, tskNO_AFFINITY, uxMemoryCaps);
}

/** The lowest address of the task's stack (NULL: the caller's) as the chip has it: its block in
 *  the simulated heap, or the buffer given to xTaskCreateStatic*(). For a thread not made by
 *  xTaskCreate*() ("main", the timer and esp_timer tasks), whose stack is the host's: the low end
 *  of the host stack its high-water mark is measured on (host memory, not the chip's), NULL
 *  before the thread has run. isr-ok, O(1) with a handle; NULL (the caller) from
 *  a thread without a task record yet makes one (task). */
StackType_t *xTaskGetStackStart(TaskHandle_t xTask);
/** xTaskGetStackStart() under its ESP-IDF v5 name (v6 deprecates it; not marked so here, so that
 *  v5 firmware builds with -Werror). */
uint8_t *pxTaskGetStackStart(TaskHandle_t xTask);

/** The idle task of core xCoreID (freertos/task.h, "the idle tasks"); an xCoreID that is not
 *  below configNUMBER_OF_CORES is refused with NULL and an error line (the chip asserts). isr-ok,
 *  O(1). */
TaskHandle_t xTaskGetIdleTaskHandleForCore(BaseType_t xCoreID);

/** The task "running" on core xCoreID. The host runs tasks on its own threads, not on the chip's
 *  cores, so: for the caller's core (xPortGetCoreID(): its pinned core, core 0 when not pinned)
 *  the caller, as xTaskGetCurrentTaskHandle(); for the other core its idle task, as the chip
 *  answers when nothing else runs there (never NULL, since a NULL handle reads as "the caller" in
 *  the task calls it would be given to). An xCoreID that is not below configNUMBER_OF_CORES is
 *  refused with NULL and an error line (the chip asserts). isr-ok, O(1). */
TaskHandle_t xTaskGetCurrentTaskHandleForCore(BaseType_t xCoreID);

/** Deletes a task made by xTask*WithCaps() (NULL: the caller) and frees its stack and TCB. A task
 *  made otherwise is refused (logged; the chip asserts). A task deleting itself needs, for a
 *  moment, a clean-up task's stack (configMINIMAL_STACK_SIZE) and TCB from internal RAM, as in
 *  ESP-IDF; without them the chip aborts: the host logs that and frees anyway. task, O(1). */
void vTaskDeleteWithCaps(TaskHandle_t xTaskToDelete);

/** A queue whose record and storage come from heap_caps_malloc(uxMemoryCaps), asked for in that
 *  order (the storage even when the record failed, as ESP-IDF does). NULL with nothing allocated
 *  when either fails, or for the refusals of xQueueCreate(). task, O(1). */
QueueHandle_t xQueueCreateWithCaps(UBaseType_t uxQueueLength, UBaseType_t uxItemSize,
                                   UBaseType_t uxMemoryCaps);
/** Deletes a queue made by xQueueCreateWithCaps() and frees both blocks; another queue is refused
 *  (logged), as NULL (the chip asserts). (A plain vQueueDelete of such a queue leaks its blocks,
 *  as on the chip, with a warning.) Waits as vQueueDelete for woken tasks that would have
 *  preempted the caller. task; may block (0.5 s at most); O(tasks). */
void vQueueDeleteWithCaps(QueueHandle_t xQueue);

/** A semaphore or mutex of the given type (queueQUEUE_TYPE_*) whose record comes from
 *  heap_caps_malloc(uxMemoryCaps); for a counting one, its maximum and initial count. NULL when
 *  the block cannot be had or the arguments are refused as by the plain creates. task, O(1). */
SemaphoreHandle_t xSemaphoreCreateGenericWithCaps(UBaseType_t uxMaxCount, UBaseType_t uxInitialCount,
                                                  const uint8_t ucQueueType,
                                                  UBaseType_t uxMemoryCaps);
#define xSemaphoreCreateBinaryWithCaps(caps) \
    xSemaphoreCreateGenericWithCaps(0, 0, queueQUEUE_TYPE_BINARY_SEMAPHORE, (caps))
#define xSemaphoreCreateCountingWithCaps(max, initial, caps) \
    xSemaphoreCreateGenericWithCaps((max), (initial), queueQUEUE_TYPE_COUNTING_SEMAPHORE, (caps))
#define xSemaphoreCreateMutexWithCaps(caps) \
    xSemaphoreCreateGenericWithCaps(0, 0, queueQUEUE_TYPE_MUTEX, (caps))
#define xSemaphoreCreateRecursiveMutexWithCaps(caps) \
    xSemaphoreCreateGenericWithCaps(0, 0, queueQUEUE_TYPE_RECURSIVE_MUTEX, (caps))
/** Deletes a semaphore made by xSemaphoreCreate*WithCaps() and frees its block; another one is
 *  refused (logged), as NULL (the chip asserts). (vSemaphoreDelete leaks it, as on the chip.)
 *  Waits as vQueueDelete for woken tasks that would have preempted the caller. task; may block
 *  (0.5 s at most); O(tasks). */
void vSemaphoreDeleteWithCaps(SemaphoreHandle_t xSemaphore);

/** A stream or message buffer whose record (KRAKEN_SIM_STREAM_BUFFER_BYTES) and xBufferSizeBytes
 *  of storage come from heap_caps_malloc(uxMemoryCaps), two blocks (both asked for, as ESP-IDF
 *  does); made as by
 *  xStreamBufferGenericCreateStatic(), it holds xBufferSizeBytes - 1. NULL with nothing allocated
 *  when either fails, or for the refusals of the static create. task, O(1). */
struct StreamBufferDef_t *xStreamBufferGenericCreateWithCaps(size_t xBufferSizeBytes,
                                                             size_t xTriggerLevelBytes,
                                                             BaseType_t xIsMessageBuffer,
                                                             UBaseType_t uxMemoryCaps);
/** Deletes a buffer made by xStreamBufferGenericCreateWithCaps() and frees both blocks; another
 *  one is refused (logged), as one waited on and NULL (the chip asserts). Waits as
 *  vStreamBufferDelete for woken tasks that would have preempted the caller. task; may block
 *  (0.5 s at most); O(tasks). */
void vStreamBufferGenericDeleteWithCaps(struct StreamBufferDef_t *xStreamBuffer,
                                        BaseType_t xIsMessageBuffer);
/* (struct StreamBufferDef_t * is StreamBufferHandle_t and MessageBufferHandle_t: this header is
 * included by FreeRTOS.h, before freertos/stream_buffer.h may have declared them.) */
static inline struct StreamBufferDef_t *xStreamBufferCreateWithCaps(size_t xBufferSizeBytes,
                                                                    size_t xTriggerLevelBytes,
                                                                    UBaseType_t uxMemoryCaps)
{
    return xStreamBufferGenericCreateWithCaps(xBufferSizeBytes, xTriggerLevelBytes, pdFALSE,
                                              uxMemoryCaps);
}
static inline void vStreamBufferDeleteWithCaps(struct StreamBufferDef_t *xStreamBuffer)
{
    vStreamBufferGenericDeleteWithCaps(xStreamBuffer, pdFALSE);
}
static inline struct StreamBufferDef_t *xMessageBufferCreateWithCaps(size_t xBufferSizeBytes,
                                                                     UBaseType_t uxMemoryCaps)
{
    return xStreamBufferGenericCreateWithCaps(xBufferSizeBytes, 0, pdTRUE, uxMemoryCaps);
}
static inline void vMessageBufferDeleteWithCaps(struct StreamBufferDef_t *xMessageBuffer)
{
    vStreamBufferGenericDeleteWithCaps(xMessageBuffer, pdTRUE);
}

#ifdef __cplusplus
}
#endif

#endif /* FREERTOS_IDF_ADDITIONS_H_HOST */
