/*
 * freertos/task.h (host) - tasks as POSIX threads whose stack and TCB are simulated-heap blocks of
 * the chip's sizes (see freertos/FreeRTOS.h for what is simulated).
 *
 * Memory, as ESP-IDF allocates it: xTaskCreate*() takes the stack (usStackDepth bytes) and then
 * the TCB (KRAKEN_SIM_TCB_BYTES, sizeof(StaticTask_t) on the S3) with pvPortMalloc(); a failure of either
 * returns errCOULD_NOT_ALLOCATE_REQUIRED_MEMORY and leaves nothing allocated. Both go back when the
 * task is deleted (ESP-IDF's idle task frees a self-deleted task's a little later). The host thread
 * has a stack of its own (host code needs more); the simulated one is only accounted.
 *
 * A thread not made by xTaskCreate*() (main(), a test's pthread) is a task too, for the calls that
 * need one (its handle, notifications, mutex ownership), with no simulated memory: like the tasks
 * ESP-IDF starts before app_main, whose memory the simulated heaps do not hold either.
 *
 * Deleting another task: its memory goes back at once, and a wait it is in is undone (the queue or
 * event group may be deleted right after); its thread ends at once if it waits, else at its next
 * call that may block or notify (a delay, a queue, semaphore or event-group call, a notification)
 * and never runs its code again. A thread that never makes such a call cannot be stopped (the host
 * cannot end a thread safely anywhere else). Queries (names, counts, ticks) do not end it.
 * A thread not made by xTaskCreate*() ends only by deleting itself (vTaskDelete(NULL) ends it
 * there, as pthread_exit would); deleting it from another task logs a warning and it goes on. It
 * counts in uxTaskGetNumberOfTasks() from its first call that needs a handle until it ends.
 * The chip's boot tasks: the timer task ("Tmr Svc") and the esp_timer task ("esp_timer") are
 * counted and listed from boot with the chip's names, priorities, cores and depths (their threads
 * become them when they start); deleting one is refused with an error line (the host's timers
 * need them). The idle tasks are records without a thread (below); the IPC tasks are not there.
 */
#ifndef FREERTOS_TASK_H_HOST
#define FREERTOS_TASK_H_HOST

#include "freertos/FreeRTOS.h"

#ifdef __cplusplus
extern "C" {
#endif

#define tskIDLE_PRIORITY ((UBaseType_t)0U)
#define taskYIELD() vPortYield()
#define tskKERNEL_VERSION_NUMBER "V10.5.1"

typedef enum {
    eNoAction = 0,            /**< notify without changing the value */
    eSetBits,                 /**< value |= ulValue */
    eIncrement,               /**< value += 1 */
    eSetValueWithOverwrite,   /**< value = ulValue */
    eSetValueWithoutOverwrite /**< value = ulValue unless a notification is pending (then fails) */
} eNotifyAction;

/** What eTaskGetState() answers. */
typedef enum {
    eRunning = 0, /**< the caller (the host cannot tell which other thread runs) */
    eReady,       /**< neither waiting nor suspended */
    eBlocked,     /**< waiting in a call (a delay, a queue, a notification...) */
    eSuspended,   /**< in vTaskSuspend() */
    eDeleted,     /**< deleted, its thread not ended yet */
    eInvalid      /**< no task */
} eTaskState;

/** A task running pxTaskCode(pvParameters). Stack and TCB from pvPortMalloc() (see above); name
 *  copied (configMAX_TASK_NAME_LEN - 1 characters kept). Returns pdPASS, *pxCreatedTask set when
 *  not NULL; errCOULD_NOT_ALLOCATE_REQUIRED_MEMORY when the internal heap cannot hold them or the
 *  host cannot start a thread, with nothing allocated. A NULL pxTaskCode, uxPriority >=
 *  configMAX_PRIORITIES or an xCoreID that is neither 0, 1 nor tskNO_AFFINITY is refused with
 *  pdFAIL and logged (the chip would assert). The task function must not return: end it with
 *  vTaskDelete(NULL) (a return is logged and treated as that, where the chip aborts). task, O(1). */
BaseType_t xTaskCreatePinnedToCore(TaskFunction_t pxTaskCode, const char *const pcName,
                                   const configSTACK_DEPTH_TYPE usStackDepth,
                                   void *const pvParameters, UBaseType_t uxPriority,
                                   TaskHandle_t *const pxCreatedTask, const BaseType_t xCoreID);

/** xTaskCreatePinnedToCore() on any core. */
static inline BaseType_t xTaskCreate(TaskFunction_t pxTaskCode, const char *const pcName,
                                     const configSTACK_DEPTH_TYPE usStackDepth,
                                     void *const pvParameters, UBaseType_t uxPriority,
                                     TaskHandle_t *const pxCreatedTask)
{
    return xTaskCreatePinnedToCore(pxTaskCode, pcName, usStackDepth, pvParameters, uxPriority,
                                   pxCreatedTask, tskNO_AFFINITY);
}

/** 1 when xTaskCreateStatic*() and xTaskCreate*WithCaps() accept a stack in PSRAM: with
 *  CONFIG_FREERTOS_TASK_CREATE_ALLOW_EXT_MEM, and in a build without CONFIG_SPIRAM, where the option
 *  has no say (a test that boots a module with PSRAM anyway gets ESP-IDF's default for a PSRAM
 *  build). Host only. */
#if defined(CONFIG_FREERTOS_TASK_CREATE_ALLOW_EXT_MEM) || !defined(CONFIG_SPIRAM)
#define KRAKEN_SIM_TASK_STACK_IN_PSRAM 1
#else
#define KRAKEN_SIM_TASK_STACK_IN_PSRAM 0
#endif
/** A task on the caller's memory: puxStackBuffer (usStackDepth bytes) and pxTaskBuffer, no heap
 *  call. Returns its handle; NULL for a NULL buffer or code, or arguments refused as above, or
 *  when the host cannot start a thread. The buffers must outlive the task. As ESP-IDF asserts
 *  (portVALID_TCB_MEM, portVALID_STACK_MEM), a TCB buffer that is not in internal byte-accessible
 *  RAM (an EXT_RAM_BSS_ATTR static, a MALLOC_CAP_SPIRAM block, RTC slow memory...) is refused
 *  with NULL and an error line, and so is such a stack, except one in PSRAM with
 *  CONFIG_FREERTOS_TASK_CREATE_ALLOW_EXT_MEM (on by default with CONFIG_SPIRAM, as ESP-IDF's for
 *  the S3); host memory outside the simulated chip (another thread's stack) is not judged.
 *  Buffers that overlap each other, or the stack or static TCB buffer of a task not deleted, are
 *  refused the same way, and the TCB buffer of a task that deleted itself until its thread has
 *  ended (not atomic with another create on the same buffers). task, O(tasks). */
TaskHandle_t xTaskCreateStaticPinnedToCore(TaskFunction_t pxTaskCode, const char *const pcName,
                                           const uint32_t ulStackDepth, void *const pvParameters,
                                           UBaseType_t uxPriority, StackType_t *const puxStackBuffer,
                                           StaticTask_t *const pxTaskBuffer, const BaseType_t xCoreID);

static inline TaskHandle_t xTaskCreateStatic(TaskFunction_t pxTaskCode, const char *const pcName,
                                             const uint32_t ulStackDepth, void *const pvParameters,
                                             UBaseType_t uxPriority, StackType_t *const puxStackBuffer,
                                             StaticTask_t *const pxTaskBuffer)
{
    return xTaskCreateStaticPinnedToCore(pxTaskCode, pcName, ulStackDepth, pvParameters, uxPriority,
                                         puxStackBuffer, pxTaskBuffer, tskNO_AFFINITY);
}

/** Deletes a task (NULL: the caller, which does not return). Its stack and TCB go back to the
 *  heap at once; another task's thread ends as said above. Deleting another thread not made by
 *  xTaskCreate*() ends nothing. Refused in a simulated ISR, for an idle task, and for a task
 *  deleted already whose thread has not ended (also one that deleted itself: on the chip a
 *  double delete) (logged). task, O(1). */
void vTaskDelete(TaskHandle_t xTaskToDelete);

/** Suspends the calling task (NULL or its own handle) until vTaskResume() or
 *  xTaskResumeFromISR(); notifications do not wake it (they stay pending). Suspending another
 *  task is not simulated (the host cannot stop a thread where it is): refused, logged, as is a
 *  call in a simulated ISR (an idle task's handle too). A suspended task can be deleted. task, blocks. */
void vTaskSuspend(TaskHandle_t xTaskToSuspend);
/** Resumes a task in vTaskSuspend(). A task not suspended is left as it is: a resume is not
 *  remembered, as in FreeRTOS. NULL: nothing. task, O(1). */
void vTaskResume(TaskHandle_t xTaskToResume);
/** vTaskResume() from a simulated ISR: pdTRUE when a suspended task was resumed, else pdFALSE.
 *  isr-ok, O(1). */
BaseType_t xTaskResumeFromISR(TaskHandle_t xTaskToResume);
/** The task's state (see eTaskState); NULL: eInvalid, logged (the chip asserts). isr-ok, O(1). */
eTaskState eTaskGetState(TaskHandle_t xTask);

/** Sleeps xTicksToDelay ticks (0: yields); portMAX_DELAY sleeps until the task is deleted. A
 *  non-zero delay in a simulated ISR or a critical section is refused (logged). task, blocks. */
void vTaskDelay(const TickType_t xTicksToDelay);
/** Sleeps until *pxPreviousWakeTime + xTimeIncrement and advances *pxPreviousWakeTime by it;
 *  pdFALSE (no sleep) when that time has passed already. NULL or a simulated ISR: pdFALSE.
 *  task, blocks. */
BaseType_t xTaskDelayUntil(TickType_t *const pxPreviousWakeTime, const TickType_t xTimeIncrement);
#define vTaskDelayUntil(pxPreviousWakeTime, xTimeIncrement) \
    ((void)xTaskDelayUntil((pxPreviousWakeTime), (xTimeIncrement)))

/** Ticks since the simulated boot (wraps at 2^32). isr-ok, O(1). */
TickType_t xTaskGetTickCount(void);
/** The same, for ISRs. isr-ok, O(1). */
TickType_t xTaskGetTickCountFromISR(void);
/** The calling task (a thread not made by xTaskCreate*() gets a handle too, see above; in a
 *  simulated ISR, the task it interrupted, as on the chip); NULL only when the host is out of
 *  memory for its record. isr-ok, O(1). */
TaskHandle_t xTaskGetCurrentTaskHandle(void);
/** The task's name (NULL: the caller's); "main" for the process's main thread (the one whose
 *  thread ID is the process ID: app_main's task on the chip), "" for another thread not made by
 *  xTaskCreate*() ("Tmr Svc" for the timer task of freertos/timers.h, "esp_timer" for the thread
 *  that runs esp_timer callbacks, "IDLE0" and "IDLE1" for the idle tasks). The string lives as long as the task's thread. isr-ok, O(1). */
char *pcTaskGetName(TaskHandle_t xTaskToQuery);
#define pcTaskGetTaskName(xTask) pcTaskGetName(xTask)
/** Its priority (NULL: the caller's) as set, not enforced. isr-ok, O(1). */
UBaseType_t uxTaskPriorityGet(const TaskHandle_t xTask);
/** uxTaskPriorityGet() for an ISR (NULL: the task it interrupted). isr-ok, O(1). */
UBaseType_t uxTaskPriorityGetFromISR(const TaskHandle_t xTask);
/** Records a new priority (NULL: the caller). A value >= configMAX_PRIORITIES is refused with an
 *  error line and changes nothing (the chip's configASSERT aborts), and so is any priority for an
 *  idle task (xTaskGetIdleTaskHandle()). Not enforced. task, O(1). */
void vTaskPrioritySet(TaskHandle_t xTask, UBaseType_t uxNewPriority);
/** The core it is pinned to, tskNO_AFFINITY when none (NULL: the caller); "main" has
 *  CONFIG_ESP_MAIN_TASK_AFFINITY's (core 0 by default), another thread not made by xTaskCreate*()
 *  none. isr-ok, O(1). */
BaseType_t xTaskGetCoreID(TaskHandle_t xTask);
/** Tasks alive: those made by xTaskCreate*() and not deleted, plus the other threads that have
 *  used a task call (with CONFIG_HEAP_TASK_TRACKING, also a heap call: each block needs its
 *  task), plus the timer task and the esp_timer task from boot (not the idle tasks). A deleted
 *  task counts until its stack and TCB are back in the heap, as FreeRTOS counts it until the idle
 *  task's clean-up. isr-ok, O(1). */
UBaseType_t uxTaskGetNumberOfTasks(void);
/** The least stack, in bytes (ESP-IDF's unit), the task (NULL: the caller) has had left since it
 *  started. Measured on the host: its thread's stack is painted at its start over the task's
 *  depth below its entry, and this counts the bytes never written since. x86-64 code and glibc use
 *  a different amount of stack than the chip's Xtensa code and newlib (printf-style calls often
 *  more), so the figure shows the trend (deep calls, large locals, recursion), not the chip's own
 *  number. A thread not made by xTaskCreate*() is measured from its first FreeRTOS call down (or,
 *  with CONFIG_HEAP_TASK_TRACKING, its first heap call), against 3584 bytes (ESP-IDF's main
 *  task), less when its host stack has less room. A task that has not run yet has its whole
 *  depth left; 0 when the host had no memory for the caller's record. task (reads the task's
 *  stack without its lock), O(bytes left). */
UBaseType_t uxTaskGetStackHighWaterMark(TaskHandle_t xTask);
/** A task (made by xTaskCreate*() or a thread that has used a task call, the timer task too) whose
 *  name is pcNameToQuery; one of them when several share it; NULL when none. A deleted task is
 *  not found (FreeRTOS finds one that deleted itself until the idle task has freed it). NULL, with an error line, for a NULL name or one of configMAX_TASK_NAME_LEN
 *  characters or more (the chip asserts). task, O(tasks). */
TaskHandle_t xTaskGetHandle(const char *pcNameToQuery);
/** Ends the wait of a blocked task (eBlocked: a delay, a queue, semaphore, event-group, stream
 *  buffer or notification wait, with or without a timeout) as if it timed out: pdPASS. pdFAIL when
 *  it is not blocked (running, ready, suspended by vTaskSuspend(), deleted). A NULL task is
 *  refused with an error line (the chip asserts). task, never blocks, O(1). */
BaseType_t xTaskAbortDelay(TaskHandle_t xTask);

/* ---- the idle tasks ----
 * The chip runs one idle task per core ("IDLE0", "IDLE1"), started at boot. The host has a record
 * for each that runs no code and holds no simulated memory (the boot figure has theirs): queries
 * answer as the chip's would (name, priority 0, its core, eReady, a stack high-water mark of its
 * whole configMINIMAL_STACK_SIZE, no stack start, run time 0), xTaskGetHandle() finds it, and it
 * is not counted by uxTaskGetNumberOfTasks() nor listed by uxTaskGetSystemState()/vTaskList()
 * (a row with no run time would read as a CPU always busy). vTaskDelete(), vTaskSuspend() and vTaskPrioritySet() of one are refused with
 * an error line. */

/** The idle task of the caller's core (xPortGetCoreID(): core 0 for a task not pinned). Never
 *  NULL. isr-ok, O(1). */
TaskHandle_t xTaskGetIdleTaskHandle(void);

/** The task's buffers as given to xTaskCreateStatic*(): pdTRUE with *ppuxStackBuffer and
 *  *ppxTaskBuffer set. For a task made by xTask*WithCaps() (a static task on the chip too), its
 *  stack block and its TCB block (KRAKEN_SIM_TCB_BYTES: to free, not to read as a StaticTask_t),
 *  until vTaskDeleteWithCaps(). pdFALSE, both left alone, for a task made by xTaskCreate*() and
 *  for the records the host makes itself (threads not made by xTaskCreate*(), the idle and timer
 *  tasks; on the chip those two are static: pdTRUE there). xTask NULL: the caller. A NULL ppuxStackBuffer or ppxTaskBuffer is refused with
 *  pdFALSE and an error line (the chip asserts). The task must not have ended. task or isr, O(1). */
BaseType_t xTaskGetStaticBuffers(TaskHandle_t xTask, StackType_t **ppuxStackBuffer,
                                 StaticTask_t **ppxTaskBuffer);

#if CONFIG_FREERTOS_USE_TRACE_FACILITY || defined(KRAKEN_SIM_TRACE_FACILITY)
/* ---- trace facility (CONFIG_FREERTOS_USE_TRACE_FACILITY) ----
 * The tasks listed are those uxTaskGetNumberOfTasks() counts (the timer task and the esp_timer
 * task too, not the idle tasks, which the chip starts at boot with its IPC tasks; the main thread
 * is listed, as "main", once it has made a FreeRTOS call), in FreeRTOS's order: ready and running tasks from the
 * highest priority down, then blocked, then suspended ones. A deleted task waiting for its memory to come back is counted but not listed
 * (FreeRTOS lists it as eDeleted); a task waiting without a timeout is listed with the blocked
 * ones (FreeRTOS files it with the suspended ones, as "S" for a delay or a notification wait).
 * Run time (CONFIG_FREERTOS_GENERATE_RUN_TIME_STATS) is the microseconds of CPU time the task's
 * host thread has used since it became a task; the total, esp_timer_get_time() since boot; both
 * 32-bit and wrapping as on the chip (ESP-IDF's 64-bit counter option is not simulated). On the
 * host the run time is measured whether or not that option is set. Every call below but the task
 * numbers' is refused in a simulated ISR (logged; FreeRTOS suspends the scheduler in them, which
 * asserts there) and, called by a task another has deleted, ends that task as any task call
 * does. */

/** One task's state, as uxTaskGetSystemState() and vTaskGetInfo() give it. */
typedef struct xTASK_STATUS {
    TaskHandle_t xHandle;
    const char *pcTaskName;        /**< the task's own name: invalid once it is deleted */
    UBaseType_t xTaskNumber;       /**< unique for the process, 1, 2... in the order tasks came
                                        (made, or a thread's first task call; the timer task's
                                        too) */
    eTaskState eCurrentState;
    UBaseType_t uxCurrentPriority;
    UBaseType_t uxBasePriority;    /**< the same (no priority inheritance on the host) */
    configRUN_TIME_COUNTER_TYPE ulRunTimeCounter; /**< see above; 0 before it ran */
    StackType_t *pxStackBase;      /**< as xTaskGetStackStart() */
    configSTACK_DEPTH_TYPE usStackHighWaterMark; /**< bytes, as uxTaskGetStackHighWaterMark() */
#ifdef CONFIG_FREERTOS_VTASKLIST_INCLUDE_COREID
    BaseType_t xCoreID;            /**< 0, 1 or tskNO_AFFINITY */
#endif
} TaskStatus_t;

/** Fills pxTaskStatusArray with every task's state (see above) and, when pulTotalRunTime is not
 *  NULL, sets it to the run-time clock. A task in a notification wait without a timeout (a stream
 *  buffer's too) is eSuspended here, as FreeRTOS files it (eTaskGetState(): eBlocked). Returns
 *  the number filled; 0 (nothing written, not even *pulTotalRunTime) when uxArraySize is less than
 *  uxTaskGetNumberOfTasks() or the array is NULL, or in a simulated ISR. task, holds the kernel's lock throughout (every FreeRTOS call waits),
 *  O(tasks^2 + their stacks' unused bytes). */
UBaseType_t uxTaskGetSystemState(TaskStatus_t *const pxTaskStatusArray,
                                 const UBaseType_t uxArraySize,
                                 configRUN_TIME_COUNTER_TYPE *const pulTotalRunTime);
/** One task's (NULL: the caller's) state; its stack high-water mark only when xGetFreeStackSpace
 *  (else 0); eState, when not eInvalid, is reported instead of the task's own (the caller is
 *  eRunning whatever is given). A NULL status is refused with an error line (the chip crashes).
 *  The task must not have ended (its handle is then invalid, as on the chip). task, holds the
 *  kernel's lock, O(its stack's unused bytes). */
void vTaskGetInfo(TaskHandle_t xTask, TaskStatus_t *pxTaskStatus, BaseType_t xGetFreeStackSpace,
                  eTaskState eState);
/** The number vTaskSetTaskNumber() gave the task (0 until then; NULL task: 0). isr-ok, O(1). */
UBaseType_t uxTaskGetTaskNumber(TaskHandle_t xTask);
/** Sets that number (for trace tools); NULL task: nothing. isr-ok, O(1). */
void vTaskSetTaskNumber(TaskHandle_t xTask, const UBaseType_t uxHandle);

#if CONFIG_FREERTOS_USE_STATS_FORMATTING_FUNCTIONS || defined(KRAKEN_SIM_TRACE_FACILITY)
/** Writes FreeRTOS's task table into pcWriteBuffer: per task a line "name (padded to
 *  configMAX_TASK_NAME_LEN - 1)\tstate (X running, R ready, B blocked, S suspended)\tpriority\t
 *  stack high-water mark\ttask number" (with CONFIG_FREERTOS_VTASKLIST_INCLUDE_COREID, "\tcore",
 *  -1 for none) and "\r\n". Takes a TaskStatus_t array from pvPortMalloc() (internal RAM) while
 *  it runs, as FreeRTOS; writes "" when there is none, or when a task came between the count and
 *  the listing. The buffer must hold configMAX_TASK_NAME_LEN + 34 bytes per task and one more
 *  (unchecked, as in FreeRTOS). A NULL buffer is refused with an error line. task, holds the
 *  kernel's lock while it writes, O(tasks^2 + stacks). */
void vTaskList(char *pcWriteBuffer);
#if CONFIG_FREERTOS_GENERATE_RUN_TIME_STATS || defined(KRAKEN_SIM_TRACE_FACILITY)
/** Writes FreeRTOS's run-time table: per task "name (padded to configMAX_TASK_NAME_LEN - 1)\t
 *  counter\t\tpercent%\r\n" ("<1%" under 1), the percent of the time since boot; a task is
 *  under 100 % but the sum may be more (the host's cores, the chip's two). Nothing when the total
 *  is under 100 µs. Memory, buffer (configMAX_TASK_NAME_LEN + 29 bytes per task and one more) and
 *  refusals as vTaskList(). task, O(tasks^2 + stacks). */
void vTaskGetRunTimeStats(char *pcWriteBuffer);
#endif
#endif
#endif /* trace facility */

/* ---- direct-to-task notifications ----
 * Each task has configTASK_NOTIFICATION_ARRAY_ENTRIES values (Kconfig
 * FREERTOS_TASK_NOTIFICATION_ARRAY_ENTRIES, 1 by default), each with its state: pending (received,
 * not yet taken) or not. The calls without "Indexed" use index 0, as FreeRTOS's macros. An index of
 * configTASK_NOTIFICATION_ARRAY_ENTRIES or more, or a NULL task where one is needed, is refused
 * with pdFAIL (0 for the ul... calls) and logged (the chip asserts). */

#define tskDEFAULT_INDEX_TO_NOTIFY (0)

/** Notifies xTaskToNotify's value uxIndexToNotify with eAction (see eNotifyAction);
 *  *pulPreviousNotificationValue (when not NULL) gets the value before it. pdPASS; pdFAIL for
 *  eSetValueWithoutOverwrite when a notification is pending there, or refused (above). Wakes the
 *  task when it waits on that index. task, O(1), never blocks. */
BaseType_t xTaskGenericNotify(TaskHandle_t xTaskToNotify, UBaseType_t uxIndexToNotify,
                              uint32_t ulValue, eNotifyAction eAction,
                              uint32_t *pulPreviousNotificationValue);
/** xTaskGenericNotify() from a simulated ISR; *pxHigherPriorityTaskWoken (when not NULL) is set
 *  to pdTRUE when the task waited on that index. isr-ok, O(1). */
BaseType_t xTaskGenericNotifyFromISR(TaskHandle_t xTaskToNotify, UBaseType_t uxIndexToNotify,
                                     uint32_t ulValue, eNotifyAction eAction,
                                     uint32_t *pulPreviousNotificationValue,
                                     BaseType_t *pxHigherPriorityTaskWoken);
/** xTaskGenericNotifyFromISR(..., eIncrement, NULL, ...): the counting-semaphore give. isr-ok,
 *  O(1). */
void vTaskGenericNotifyGiveFromISR(TaskHandle_t xTaskToNotify, UBaseType_t uxIndexToNotify,
                                   BaseType_t *pxHigherPriorityTaskWoken);
/** When the caller's value uxIndexToWaitOn is 0, waits up to xTicksToWait for a notification
 *  there; then returns the value (0 on timeout, or after a notification that left it at 0, as
 *  FreeRTOS) and clears it (xClearCountOnExit) or decrements it. 0 when refused (above, or in a
 *  simulated ISR; logged). task, blocks. */
uint32_t ulTaskGenericNotifyTake(UBaseType_t uxIndexToWaitOn, BaseType_t xClearCountOnExit,
                                 TickType_t xTicksToWait);
/** Waits up to xTicksToWait for a notification on the caller's value uxIndexToWaitOn: clears
 *  ulBitsToClearOnEntry first (when none is pending), and ulBitsToClearOnExit from the value after
 *  one came; *pulNotificationValue (when not NULL) gets the value before that. pdTRUE when a
 *  notification came; pdFALSE on timeout, or refused (above, or in a simulated ISR; logged). task,
 *  blocks. */
BaseType_t xTaskGenericNotifyWait(UBaseType_t uxIndexToWaitOn, uint32_t ulBitsToClearOnEntry,
                                  uint32_t ulBitsToClearOnExit, uint32_t *pulNotificationValue,
                                  TickType_t xTicksToWait);
/** Drops a pending notification of xTask's (NULL: the caller's) value uxIndexToClear, its value
 *  unchanged: pdPASS when one was pending, else pdFAIL (also refused, above). task, O(1). */
BaseType_t xTaskGenericNotifyStateClear(TaskHandle_t xTask, UBaseType_t uxIndexToClear);
/** Clears ulBitsToClear in xTask's (NULL: the caller's) value uxIndexToClear, its state
 *  unchanged; returns the value before (0 when refused, above). task, O(1). */
uint32_t ulTaskGenericNotifyValueClear(TaskHandle_t xTask, UBaseType_t uxIndexToClear,
                                       uint32_t ulBitsToClear);

#define xTaskNotify(xTaskToNotify, ulValue, eAction) \
    xTaskGenericNotify((xTaskToNotify), tskDEFAULT_INDEX_TO_NOTIFY, (ulValue), (eAction), NULL)
#define xTaskNotifyIndexed(xTaskToNotify, uxIndexToNotify, ulValue, eAction) \
    xTaskGenericNotify((xTaskToNotify), (uxIndexToNotify), (ulValue), (eAction), NULL)
#define xTaskNotifyAndQuery(xTaskToNotify, ulValue, eAction, pulPreviousNotifyValue)       \
    xTaskGenericNotify((xTaskToNotify), tskDEFAULT_INDEX_TO_NOTIFY, (ulValue), (eAction), \
                       (pulPreviousNotifyValue))
#define xTaskNotifyAndQueryIndexed(xTaskToNotify, uxIndexToNotify, ulValue, eAction,        \
                                   pulPreviousNotifyValue)                                   \
    xTaskGenericNotify((xTaskToNotify), (uxIndexToNotify), (ulValue), (eAction),            \
                       (pulPreviousNotifyValue))
#define xTaskNotifyFromISR(xTaskToNotify, ulValue, eAction, pxHigherPriorityTaskWoken)             \
    xTaskGenericNotifyFromISR((xTaskToNotify), tskDEFAULT_INDEX_TO_NOTIFY, (ulValue), (eAction), \
                              NULL, (pxHigherPriorityTaskWoken))
#define xTaskNotifyIndexedFromISR(xTaskToNotify, uxIndexToNotify, ulValue, eAction,       \
                                  pxHigherPriorityTaskWoken)                               \
    xTaskGenericNotifyFromISR((xTaskToNotify), (uxIndexToNotify), (ulValue), (eAction), NULL, \
                              (pxHigherPriorityTaskWoken))
#define xTaskNotifyAndQueryFromISR(xTaskToNotify, ulValue, eAction, pulPreviousNotificationValue, \
                                   pxHigherPriorityTaskWoken)                                     \
    xTaskGenericNotifyFromISR((xTaskToNotify), tskDEFAULT_INDEX_TO_NOTIFY, (ulValue), (eAction),  \
                              (pulPreviousNotificationValue), (pxHigherPriorityTaskWoken))
#define xTaskNotifyAndQueryIndexedFromISR(xTaskToNotify, uxIndexToNotify, ulValue, eAction,    \
                                          pulPreviousNotificationValue,                        \
                                          pxHigherPriorityTaskWoken)                           \
    xTaskGenericNotifyFromISR((xTaskToNotify), (uxIndexToNotify), (ulValue), (eAction),        \
                              (pulPreviousNotificationValue), (pxHigherPriorityTaskWoken))
#define xTaskNotifyGive(xTaskToNotify) \
    xTaskGenericNotify((xTaskToNotify), tskDEFAULT_INDEX_TO_NOTIFY, 0, eIncrement, NULL)
#define xTaskNotifyGiveIndexed(xTaskToNotify, uxIndexToNotify) \
    xTaskGenericNotify((xTaskToNotify), (uxIndexToNotify), 0, eIncrement, NULL)
#define vTaskNotifyGiveFromISR(xTaskToNotify, pxHigherPriorityTaskWoken)          \
    vTaskGenericNotifyGiveFromISR((xTaskToNotify), tskDEFAULT_INDEX_TO_NOTIFY, \
                                  (pxHigherPriorityTaskWoken))
#define vTaskNotifyGiveIndexedFromISR(xTaskToNotify, uxIndexToNotify, pxHigherPriorityTaskWoken) \
    vTaskGenericNotifyGiveFromISR((xTaskToNotify), (uxIndexToNotify), (pxHigherPriorityTaskWoken))
#define ulTaskNotifyTake(xClearCountOnExit, xTicksToWait) \
    ulTaskGenericNotifyTake(tskDEFAULT_INDEX_TO_NOTIFY, (xClearCountOnExit), (xTicksToWait))
#define ulTaskNotifyTakeIndexed(uxIndexToWaitOn, xClearCountOnExit, xTicksToWait) \
    ulTaskGenericNotifyTake((uxIndexToWaitOn), (xClearCountOnExit), (xTicksToWait))
#define xTaskNotifyWait(ulBitsToClearOnEntry, ulBitsToClearOnExit, pulNotificationValue, \
                        xTicksToWait)                                                    \
    xTaskGenericNotifyWait(tskDEFAULT_INDEX_TO_NOTIFY, (ulBitsToClearOnEntry),          \
                           (ulBitsToClearOnExit), (pulNotificationValue), (xTicksToWait))
#define xTaskNotifyWaitIndexed(uxIndexToWaitOn, ulBitsToClearOnEntry, ulBitsToClearOnExit, \
                               pulNotificationValue, xTicksToWait)                         \
    xTaskGenericNotifyWait((uxIndexToWaitOn), (ulBitsToClearOnEntry), (ulBitsToClearOnExit), \
                           (pulNotificationValue), (xTicksToWait))
#define xTaskNotifyStateClear(xTask) xTaskGenericNotifyStateClear((xTask), tskDEFAULT_INDEX_TO_NOTIFY)
#define xTaskNotifyStateClearIndexed(xTask, uxIndexToClear) \
    xTaskGenericNotifyStateClear((xTask), (uxIndexToClear))
#define ulTaskNotifyValueClear(xTask, ulBitsToClear) \
    ulTaskGenericNotifyValueClear((xTask), tskDEFAULT_INDEX_TO_NOTIFY, (ulBitsToClear))
#define ulTaskNotifyValueClearIndexed(xTask, uxIndexToClear, ulBitsToClear) \
    ulTaskGenericNotifyValueClear((xTask), (uxIndexToClear), (ulBitsToClear))

/* ---- thread-local storage pointers ----
 * configNUM_THREAD_LOCAL_STORAGE_POINTERS per task, as FreeRTOS (Kconfig
 * FREERTOS_THREAD_LOCAL_STORAGE_POINTERS; doubled with FREERTOS_TLSP_DELETION_CALLBACKS, the
 * second half holding the callbacks, as ESP-IDF's). NULL xTaskToSet/xTaskToQuery: the caller. As
 * FreeRTOS, an index out of range is ignored by the set and gives NULL on the get. */

/** Sets xTaskToSet's pointer xIndex. task, O(1). */
void vTaskSetThreadLocalStoragePointer(TaskHandle_t xTaskToSet, BaseType_t xIndex, void *pvValue);
/** xTaskToQuery's pointer xIndex (NULL when never set or out of range). task, O(1). */
void *pvTaskGetThreadLocalStoragePointer(TaskHandle_t xTaskToQuery, BaseType_t xIndex);

/* ---- the application task tag (CONFIG_FREERTOS_USE_APPLICATION_TASK_TAG) ---- */

/** A task's tag: a hook xTaskCallApplicationTaskHook() calls. */
typedef BaseType_t (*TaskHookFunction_t)(void *);
#ifdef CONFIG_FREERTOS_USE_APPLICATION_TASK_TAG
/** Sets xTask's (NULL: the caller's) tag. task, O(1). */
void vTaskSetApplicationTaskTag(TaskHandle_t xTask, TaskHookFunction_t pxHookFunction);
/** xTask's (NULL: the caller's) tag, NULL when none was set. task, O(1). */
TaskHookFunction_t xTaskGetApplicationTaskTag(TaskHandle_t xTask);
/** The same from a simulated ISR. isr-ok, O(1). */
TaskHookFunction_t xTaskGetApplicationTaskTagFromISR(TaskHandle_t xTask);
#endif
/** Calls xTask's (NULL: the caller's) tag with pvParameter and returns what it returns; pdFAIL
 *  when it has none. Declared always, defined with the option only, as in FreeRTOS. task or isr,
 *  O(1) plus the hook. */
BaseType_t xTaskCallApplicationTaskHook(TaskHandle_t xTask, void *pvParameter);

/* ---- the scheduler ---- */

#define taskSCHEDULER_SUSPENDED ((BaseType_t)0)
#define taskSCHEDULER_NOT_STARTED ((BaseType_t)1)
#define taskSCHEDULER_RUNNING ((BaseType_t)2)

/** Suspends the scheduler for the caller, nested (as ESP-IDF's, on the caller's core only: tasks
 *  of the other core go on). Until the matching xTaskResumeAll() the caller must not block: a call
 *  that would wait (vTaskSuspend(NULL) too) is refused with its failure value, logged and counted
 *  (the chip asserts, or for a notification wait goes wrong); a timer command sends without
 *  waiting, as FreeRTOS's; vTaskDelete(NULL) is logged (the chip asserts) and done. On the host,
 *  every other task goes on (they are threads of the host's scheduler). Refused in a simulated ISR
 *  (logged). task, O(1), never blocks. */
void vTaskSuspendAll(void);
/** Undoes one vTaskSuspendAll() of the caller: pdFALSE (the host never switches tasks here; the
 *  chip answers pdTRUE when it yielded to a task readied meanwhile). Without one to undo, or in a
 *  simulated ISR, refused with pdFALSE, logged (the chip asserts). task, O(1). */
BaseType_t xTaskResumeAll(void);
/** taskSCHEDULER_SUSPENDED inside the caller's vTaskSuspendAll(), else taskSCHEDULER_RUNNING (the
 *  simulated chip has booted). isr-ok, O(1). */
BaseType_t xTaskGetSchedulerState(void);

/* ---- timeouts, for code that waits in several steps ---- */

/** When a wait began, as FreeRTOS's: the tick count and its overflows. */
typedef struct xTIME_OUT {
    BaseType_t xOverflowCount;
    TickType_t xTimeOnEntering;
} TimeOut_t;

/** Records now in *pxTimeOut (NULL: refused, logged). isr-ok, O(1). */
void vTaskSetTimeOutState(TimeOut_t *const pxTimeOut);
/** As vTaskSetTimeOutState(), without FreeRTOS's critical section. isr-ok, O(1). */
void vTaskInternalSetTimeOutState(TimeOut_t *const pxTimeOut);
/** pdTRUE when *pxTicksToWait ticks have passed since *pxTimeOut (then *pxTicksToWait = 0); else
 *  pdFALSE, *pxTicksToWait reduced by the ticks passed and *pxTimeOut set to now, as FreeRTOS:
 *  call it again with the same two to go on waiting. portMAX_DELAY never runs out. NULL
 *  arguments: pdTRUE, logged (the chip asserts). (FreeRTOS also answers pdTRUE once after
 *  xTaskAbortDelay() ended a wait on a kernel object that did not look itself: not simulated.)
 *  task, O(1). */
BaseType_t xTaskCheckForTimeOut(TimeOut_t *const pxTimeOut, TickType_t *const pxTicksToWait);

#ifdef __cplusplus
}
#endif

#endif /* FREERTOS_TASK_H_HOST */
