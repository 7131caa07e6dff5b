/*
 * freertos/timers.h (host) - FreeRTOS software timers with the chip's memory use: a timer is one
 * 40-byte pvPortMalloc() block (sizeof(StaticTimer_t) on the S3). Callbacks run one at a time in
 * the timer task ("Tmr Svc", configTIMER_TASK_PRIORITY, 1 by default), a task the chip starts at
 * boot: counted and listed from boot (freertos/task.h), its thread started by the first timer
 * call; it takes no simulated memory (its high-water mark is measured against
 * configTIMER_TASK_STACK_DEPTH).
 *
 * Differences from the chip: a command (start, stop, reset, change period, delete) takes effect
 * when the call returns, where the chip queues it for the timer task (which may run later), so
 * commands never fail for a full timer queue; xTimerPendFunctionCall() does use a queue of
 * CONFIG_FREERTOS_TIMER_QUEUE_LENGTH calls. A timer expires at a tick of CONFIG_FREERTOS_HZ, as on
 * the chip; an auto-reload timer the timer task could not serve in time has its callback called
 * once per missed period, as FreeRTOS does. See freertos/FreeRTOS.h for what else is simulated.
 */
#ifndef FREERTOS_TIMERS_H_HOST
#define FREERTOS_TIMERS_H_HOST

#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tmrTimerControl *TimerHandle_t;
typedef void (*TimerCallbackFunction_t)(TimerHandle_t xTimer);
typedef void (*PendedFunction_t)(void *, uint32_t);

/** Memory a timer created with xTimerCreateStatic() uses instead of a heap block
 *  (KRAKEN_SIM_TIMER_BYTES: 40 bytes on the S3 with the default options, as on a 32-bit host; 48
 *  on a 64-bit one). */
typedef struct {
    void *host; /* the host record */
    uint8_t reserved[KRAKEN_SIM_TIMER_BYTES - 4u];
} StaticTimer_t;

/** A dormant timer of xTimerPeriodInTicks ticks (pdTRUE xAutoReload: restarts itself at each
 *  expiry), in one block from pvPortMalloc(). NULL when the internal heap cannot hold it or the
 *  host is out of memory; a period of 0 is refused with NULL, logged (the chip asserts). A NULL
 *  callback is taken, as on the chip; its expiry, a crash on the chip, is refused (logged, no
 *  call). pcTimerName is kept, not copied. task, O(1). */
TimerHandle_t xTimerCreate(const char *const pcTimerName, const TickType_t xTimerPeriodInTicks,
                           const BaseType_t xAutoReload, void *const pvTimerID,
                           TimerCallbackFunction_t pxCallbackFunction);
/** The same on the caller's memory, no heap call; a NULL buffer is refused with NULL, logged.
 *  task, O(1). */
TimerHandle_t xTimerCreateStatic(const char *const pcTimerName, const TickType_t xTimerPeriodInTicks,
                                 const BaseType_t xAutoReload, void *const pvTimerID,
                                 TimerCallbackFunction_t pxCallbackFunction,
                                 StaticTimer_t *pxTimerBuffer);

/** Starts the timer, or restarts it when active: it expires xTimerPeriodInTicks ticks after the
 *  tick of the call. pdPASS; pdFAIL for a NULL timer (logged), or a non-zero xTicksToWait in a
 *  simulated ISR (logged; use the FromISR call). task, never blocks here, O(active timers). */
BaseType_t xTimerStart(TimerHandle_t xTimer, TickType_t xTicksToWait);
/** The same as xTimerStart(): FreeRTOS's reset is a restart. */
BaseType_t xTimerReset(TimerHandle_t xTimer, TickType_t xTicksToWait);
/** Makes the timer dormant (a dormant one stays so). pdPASS; pdFAIL as xTimerStart(). task,
 *  never blocks here, O(active timers). */
BaseType_t xTimerStop(TimerHandle_t xTimer, TickType_t xTicksToWait);
/** Sets the period and (re)starts the timer from the tick of the call, dormant or not. pdPASS;
 *  pdFAIL as xTimerStart() or for a period of 0 (logged; the chip asserts). task, never blocks
 *  here, O(active timers). */
BaseType_t xTimerChangePeriod(TimerHandle_t xTimer, TickType_t xNewPeriod, TickType_t xTicksToWait);
/** Stops and deletes the timer: a block from xTimerCreate() goes back to the heap, after its
 *  callback returns when it runs now (from any task, or from the callback itself). The handle is
 *  invalid afterwards. pdPASS; pdFAIL as xTimerStart(). task, never blocks here, O(active timers). */
BaseType_t xTimerDelete(TimerHandle_t xTimer, TickType_t xTicksToWait);

/** xTimerStart() from a simulated ISR. *pxHigherPriorityTaskWoken (when not NULL) is left as it
 *  is: the timer task (priority 1) is not woken to run before the interrupted task. isr-ok, O(active
 *  timers). */
BaseType_t xTimerStartFromISR(TimerHandle_t xTimer, BaseType_t *pxHigherPriorityTaskWoken);
/** xTimerReset() from a simulated ISR, as xTimerStartFromISR(). isr-ok, O(active timers). */
BaseType_t xTimerResetFromISR(TimerHandle_t xTimer, BaseType_t *pxHigherPriorityTaskWoken);
/** xTimerStop() from a simulated ISR, as xTimerStartFromISR(). isr-ok, O(active timers). */
BaseType_t xTimerStopFromISR(TimerHandle_t xTimer, BaseType_t *pxHigherPriorityTaskWoken);
/** xTimerChangePeriod() from a simulated ISR, as xTimerStartFromISR(). isr-ok, O(active timers). */
BaseType_t xTimerChangePeriodFromISR(TimerHandle_t xTimer, TickType_t xNewPeriod,
                                     BaseType_t *pxHigherPriorityTaskWoken);

/* The queries below, given a NULL timer (or xTimerGetStaticBuffer() a NULL place), answer
 * pdFALSE, NULL, 0 or nothing, refused: logged and counted (the chip asserts). */
/** pdTRUE while the timer is started and not yet expired (a one-shot timer is dormant from the
 *  moment its callback is called, an auto-reload one stays active). isr-ok, O(1). */
BaseType_t xTimerIsTimerActive(TimerHandle_t xTimer);
/** The ID given at creation or by vTimerSetTimerID(). isr-ok, O(1). */
void *pvTimerGetTimerID(const TimerHandle_t xTimer);
/** Replaces the ID. isr-ok, O(1). */
void vTimerSetTimerID(TimerHandle_t xTimer, void *pvNewID);
/** The name given at creation. isr-ok, O(1). */
const char *pcTimerGetName(TimerHandle_t xTimer);
/** Makes the timer auto-reload (pdTRUE) or one-shot (pdFALSE) from its next expiry. isr-ok,
 *  O(1). */
void vTimerSetReloadMode(TimerHandle_t xTimer, const BaseType_t xAutoReload);
/** pdTRUE for an auto-reload timer. isr-ok, O(1). */
BaseType_t xTimerGetReloadMode(TimerHandle_t xTimer);
/** The same as a UBaseType_t. isr-ok, O(1). */
UBaseType_t uxTimerGetReloadMode(TimerHandle_t xTimer);
/** The period in ticks. isr-ok, O(1). */
TickType_t xTimerGetPeriod(TimerHandle_t xTimer);
/** The tick at which an active timer expires next (as xTaskGetTickCount(), wrapping). isr-ok,
 *  O(1). */
TickType_t xTimerGetExpiryTime(TimerHandle_t xTimer);
/** pdTRUE and *ppxTimerBuffer for a timer made by xTimerCreateStatic(); pdFALSE for one made by
 *  xTimerCreate(). isr-ok, O(1). */
BaseType_t xTimerGetStaticBuffer(TimerHandle_t xTimer, StaticTimer_t **ppxTimerBuffer);

/** The timer task (its thread started on first use; the same handle xTaskGetHandle() finds before).
 *  NULL only when the host cannot start its thread. task, O(1). */
TaskHandle_t xTimerGetTimerDaemonTaskHandle(void);
/** Has the timer task call xFunctionToPend(pvParameter1, ulParameter2) after the calls pended
 *  before it. Waits up to xTicksToWait for room when CONFIG_FREERTOS_TIMER_QUEUE_LENGTH calls are
 *  pending; pdFAIL when there is none then, for a NULL function (logged), or when the timer task
 *  cannot be started. task, may block, O(1). */
BaseType_t xTimerPendFunctionCall(PendedFunction_t xFunctionToPend, void *pvParameter1,
                                  uint32_t ulParameter2, TickType_t xTicksToWait);
/** The same from a simulated ISR: pdFAIL at once when the queue is full. *pxHigherPriorityTaskWoken
 *  (when not NULL) is set to pdTRUE when the timer task was waiting. isr-ok, O(1). */
BaseType_t xTimerPendFunctionCallFromISR(PendedFunction_t xFunctionToPend, void *pvParameter1,
                                         uint32_t ulParameter2,
                                         BaseType_t *pxHigherPriorityTaskWoken);

#ifdef __cplusplus
}
#endif

#endif /* FREERTOS_TIMERS_H_HOST */
