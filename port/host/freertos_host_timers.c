/*
 * freertos_host_timers.c - FreeRTOS software timers on the host (freertos/timers.h): the timer
 * task is a thread that runs the expired timers' callbacks and the pended function calls, one at
 * a time; the timers' state is under the kernel lock of freertos_host.c. Expiries are in 64-bit
 * ticks since the simulated boot, so a wrap of the chip's 32-bit tick count changes nothing here.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <time.h>

#include "esp_log.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/timers.h"
#include "freertos_host.h"
#include "sim_internal.h"

#define TIMER_SIZE KRAKEN_SIM_TIMER_BYTES

struct tmrTimerControl {
    const char *name;
    TickType_t period;
    void *id;
    TimerCallbackFunction_t callback;
    void *block; /* the simulated block; NULL for a static timer */
    StaticTimer_t *buffer; /* a static timer's */
    bool auto_reload;
    bool active;
    bool delete_after_call; /* deleted while its callback ran: freed when it returns */
    uint64_t expiry;        /* ticks since the simulated boot */
    struct tmrTimerControl *next; /* in `active_list`, by expiry */
};

typedef struct {
    PendedFunction_t function;
    void *parameter1;
    uint32_t parameter2;
} pended_call_t;

static pthread_once_t timer_task_once = PTHREAD_ONCE_INIT;
static TaskHandle_t timer_task;
static fr_waiters_t changed; /* the timer task's: a timer or a pended call came */
static fr_waiters_t room;    /* for xTimerPendFunctionCall() waiting on a full queue */
static uint32_t waiting_room;
static bool timer_task_waits; /* for the FromISR calls' pxHigherPriorityTaskWoken */
static struct tmrTimerControl *active_list;
static struct tmrTimerControl *in_call; /* whose callback runs now */
static pended_call_t calls[CONFIG_FREERTOS_TIMER_QUEUE_LENGTH];
static unsigned calls_head, calls_count;

/* The CLOCK_MONOTONIC time at which the tick count reaches `tick`. */
static struct timespec deadline_of_tick(uint64_t tick)
{
    const int64_t at_us = (int64_t)((tick * 1000000u + configTICK_RATE_HZ - 1) / configTICK_RATE_HZ);
    int64_t wait_us = at_us - esp_timer_get_time();
    if (wait_us < 0) {
        wait_us = 0;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const int64_t ns = now.tv_nsec + (wait_us % 1000000) * 1000;
    return (struct timespec){.tv_sec = now.tv_sec + (time_t)(wait_us / 1000000 + ns / 1000000000),
                             .tv_nsec = (long)(ns % 1000000000)};
}

/* fr_lock() held. */
static void unlink_active_locked(struct tmrTimerControl *t)
{
    for (struct tmrTimerControl **at = &active_list; *at != NULL; at = &(*at)->next) {
        if (*at == t) {
            *at = t->next;
            break;
        }
    }
    t->active = false;
    t->next = NULL;
}

/* fr_lock() held: active, expiring at t->expiry (after the timers expiring at the same tick). */
static void insert_active_locked(struct tmrTimerControl *t)
{
    struct tmrTimerControl **at = &active_list;
    while (*at != NULL && (*at)->expiry <= t->expiry) {
        at = &(*at)->next;
    }
    t->next = *at;
    *at = t;
    t->active = true;
    (void)fr_wake_one_locked(&changed);
}

/* fr_lock() held: a message came to the timer task's queue (it is woken to take it). From an ISR,
 * whether the send asks for a yield, as xQueueSendFromISR() does on the chip: the timer task waits
 * on its queue, outranks the interrupted task, and no earlier send of this ISR has taken it off the
 * queue's wait list (it runs after the ISR). */
static bool sent_to_timer_task_locked(void)
{
    static _Thread_local uint64_t woken_in_isr; /* sim_isr_number() of the ISR that woke it */
    bool yield = false;
    if (sim_in_isr() && timer_task_waits && woken_in_isr != sim_isr_number()) {
        woken_in_isr = sim_isr_number();
        yield = fr_task_outranks_caller_locked(timer_task);
    }
    (void)fr_wake_one_locked(&changed);
    return yield;
}

static void destroy(struct tmrTimerControl *t)
{
    vPortFree(t->block);
    __real_free(t);
}

/* fr_lock() held, by the timer task: t has expired (ticks `now`). */
static void expire_locked(struct tmrTimerControl *t, uint64_t now)
{
    /* timers.c: a one-shot timer is dormant before its callback, an auto-reload one is already
     * reloaded; one that missed periods has its callback called once for each of them. */
    unlink_active_locked(t);
    uint64_t runs = 1;
    if (t->auto_reload) {
        uint64_t next = t->expiry + t->period;
        for (; next <= now; next += t->period) {
            runs++;
        }
        t->expiry = next;
        insert_active_locked(t);
    }
    in_call = t;
    const TimerCallbackFunction_t callback = t->callback;
    fr_unlock();
    if (callback == NULL) { /* timers.c calls it all the same */
        FR_REFUSE("timer \"%s\" expired with no callback: refused (the chip crashes calling NULL)",
                  t->name != NULL ? t->name : "");
        runs = 0;
    }
    for (uint64_t i = 0; i < runs; i++) {
        callback(t);
    }
    fr_lock();
    in_call = NULL;
    if (t->delete_after_call) {
        if (t->active) { /* started again by its callback after the delete */
            unlink_active_locked(t);
        }
        fr_handle_remove_locked(t);
        fr_unlock();
        destroy(t);
        fr_lock();
    }
}

/* fr_lock() held, by the timer task: as timers.c's loop, the timer that expired first (if one
 * has), then every pended call; else waits for the next expiry or call. */
static void serve_locked(void)
{
    struct tmrTimerControl *t = active_list;
    const uint64_t now = fr_ticks();
    const bool expired = t != NULL && t->expiry <= now;
    if (expired) {
        expire_locked(t, now);
    }
    if (calls_count == 0 && !expired) {
        struct timespec deadline;
        if (t != NULL) {
            deadline = deadline_of_tick(t->expiry);
        }
        timer_task_waits = true;
        (void)fr_wait(&changed, t != NULL ? &deadline : NULL, NULL, NULL, NULL);
        timer_task_waits = false;
        return;
    }
    while (calls_count > 0) {
        const pended_call_t call = calls[calls_head];
        calls_head = (calls_head + 1) % CONFIG_FREERTOS_TIMER_QUEUE_LENGTH;
        calls_count--;
        if (waiting_room > 0) {
            (void)fr_wake_one_locked(&room);
        }
        fr_unlock();
        call.function(call.parameter1, call.parameter2);
        fr_lock();
    }
}

static sem_t timer_task_ready;

static void *timer_task_main(void *unused)
{
    (void)unused;
    timer_task = fr_service_task(FR_TIMER_TASK);
    sem_post(&timer_task_ready);
    fr_lock();
    for (;;) {
        serve_locked();
    }
    return NULL;
}

/* The timer task: started once, runs for the process's life. */
static void start_timer_task(void)
{
    sem_init(&timer_task_ready, 0, 0);
    pthread_t thread;
    if (pthread_create(&thread, NULL, timer_task_main, NULL) == 0) {
        pthread_detach(thread);
        while (sem_wait(&timer_task_ready) != 0) {
        }
    }
    sem_destroy(&timer_task_ready);
}

TaskHandle_t xTimerGetTimerDaemonTaskHandle(void)
{
    pthread_once(&timer_task_once, start_timer_task);
    return timer_task;
}

/* ---- creation and deletion --------------------------------------------------------------------- */

/* A NULL callback is taken, as timers.c does: the chip crashes only if the timer expires. */
static bool valid_timer_args(const char *fn, TickType_t period)
{
    if (period == 0) {
        FR_REFUSE("%s: a period of 0 ticks: refused (the chip asserts)", fn);
        return false;
    }
    return xTimerGetTimerDaemonTaskHandle() != NULL;
}

static struct tmrTimerControl *make(const char *name, TickType_t period, BaseType_t auto_reload,
                                    void *id, TimerCallbackFunction_t callback)
{
    struct tmrTimerControl *t = __real_calloc(1, sizeof *t);
    if (t != NULL) {
        t->name = name;
        t->period = period;
        t->auto_reload = auto_reload != pdFALSE;
        t->id = id;
        t->callback = callback;
        if (!fr_handle_add(t, FR_TIMER)) {
            __real_free(t);
            return NULL;
        }
    }
    return t;
}

TimerHandle_t xTimerCreate(const char *const pcTimerName, const TickType_t xTimerPeriodInTicks,
                           const BaseType_t xAutoReload, void *const pvTimerID,
                           TimerCallbackFunction_t pxCallbackFunction)
{
    fr_task_call();
    if (!valid_timer_args(__func__, xTimerPeriodInTicks)) {
        return NULL;
    }
    void *block = pvPortMalloc(TIMER_SIZE);
    struct tmrTimerControl *t =
        block != NULL ? make(pcTimerName, xTimerPeriodInTicks, xAutoReload, pvTimerID,
                             pxCallbackFunction)
                      : NULL;
    if (t == NULL) {
        vPortFree(block);
        return NULL;
    }
    t->block = block;
    return t;
}

/* A static timer's buffer; none for a one-shot timer deleted in its callback (freed when the call
 * returns): the callback may make a timer on that buffer again, as on the chip. An auto-reload
 * one is back in the chip's active list during its callback: a create over it would corrupt the
 * list, so it is refused as live. */
static const void *buffer_of(const void *record)
{
    const struct tmrTimerControl *t = record;
    return t->delete_after_call && !t->auto_reload ? NULL : t->buffer;
}

TimerHandle_t xTimerCreateStatic(const char *const pcTimerName, const TickType_t xTimerPeriodInTicks,
                                 const BaseType_t xAutoReload, void *const pvTimerID,
                                 TimerCallbackFunction_t pxCallbackFunction,
                                 StaticTimer_t *pxTimerBuffer)
{
    fr_task_call();
    if (pxTimerBuffer == NULL) {
        FR_REFUSE("%s: no timer buffer: refused (the chip asserts)", __func__);
        return NULL;
    }
    if (fr_refuse_live_buffer(__func__, pxTimerBuffer, pxTimerBuffer->host, FR_TIMER, buffer_of)) {
        return NULL;
    }
    if (!valid_timer_args(__func__, xTimerPeriodInTicks)) {
        return NULL;
    }
    struct tmrTimerControl *t =
        make(pcTimerName, xTimerPeriodInTicks, xAutoReload, pvTimerID, pxCallbackFunction);
    if (t != NULL) {
        t->buffer = pxTimerBuffer;
        pxTimerBuffer->host = t;
    }
    return t;
}

/* ---- commands ---------------------------------------------------------------------------------- */

enum command { START, STOP, CHANGE_PERIOD, DELETE };

static BaseType_t command(const char *fn, TimerHandle_t t, enum command what, TickType_t period,
                          TickType_t wait)
{
    fr_task_call();
    if (t == NULL || (what == CHANGE_PERIOD && period == 0)) {
        FR_REFUSE("%s: %s: refused (the chip asserts)", fn,
                  t == NULL ? "no timer" : "a period of 0 ticks");
        return pdFAIL;
    }
    if (sim_scheduler_suspended()) {
        wait = 0; /* FreeRTOS's timers.c sends the command without waiting then */
    }
    if (fr_refuse_wait(fn, wait)) {
        return pdFAIL;
    }
    const uint64_t now = fr_ticks();
    bool free_now = false;
    fr_lock();
    if (!fr_handle_live_locked(t, FR_TIMER)) { /* looked up before anything is read */
        fr_unlock();
        fr_refuse_dead(fn, t, FR_TIMER);
        return pdFAIL;
    }
    if (t->active) {
        unlink_active_locked(t);
    }
    if (what == CHANGE_PERIOD) { /* and starts the timer */
        t->period = period;
    }
    if (what == START || what == CHANGE_PERIOD) {
        t->expiry = now + t->period;
        insert_active_locked(t);
    } else if (what == DELETE) {
        free_now = t != in_call;
        t->delete_after_call = !free_now;
        if (free_now) { /* at once: a second delete is refused (its callback may still use it) */
            fr_handle_remove_locked(t);
        }
    }
    fr_unlock();
    if (free_now) {
        destroy(t);
    }
    return pdPASS;
}

BaseType_t xTimerStart(TimerHandle_t xTimer, TickType_t xTicksToWait)
{
    return command(__func__, xTimer, START, 0, xTicksToWait);
}

BaseType_t xTimerReset(TimerHandle_t xTimer, TickType_t xTicksToWait)
{
    return command(__func__, xTimer, START, 0, xTicksToWait);
}

BaseType_t xTimerStop(TimerHandle_t xTimer, TickType_t xTicksToWait)
{
    return command(__func__, xTimer, STOP, 0, xTicksToWait);
}

BaseType_t xTimerChangePeriod(TimerHandle_t xTimer, TickType_t xNewPeriod, TickType_t xTicksToWait)
{
    return command(__func__, xTimer, CHANGE_PERIOD, xNewPeriod, xTicksToWait);
}

BaseType_t xTimerDelete(TimerHandle_t xTimer, TickType_t xTicksToWait)
{
    return command(__func__, xTimer, DELETE, 0, xTicksToWait);
}

/* A command from an ISR: on the chip xQueueSendFromISR() to the timer task's queue, which asks
 * for a yield when the timer task waits for it and outranks the interrupted task. */
static BaseType_t command_from_isr(const char *fn, TimerHandle_t t, enum command what,
                                   TickType_t period, BaseType_t *woken)
{
    const BaseType_t r = command(fn, t, what, period, 0);
    if (r == pdPASS) {
        fr_lock();
        if (sent_to_timer_task_locked() && woken != NULL) {
            *woken = pdTRUE;
        }
        fr_unlock();
    }
    return r;
}

BaseType_t xTimerStartFromISR(TimerHandle_t xTimer, BaseType_t *pxHigherPriorityTaskWoken)
{
    return command_from_isr(__func__, xTimer, START, 0, pxHigherPriorityTaskWoken);
}

BaseType_t xTimerResetFromISR(TimerHandle_t xTimer, BaseType_t *pxHigherPriorityTaskWoken)
{
    return command_from_isr(__func__, xTimer, START, 0, pxHigherPriorityTaskWoken);
}

BaseType_t xTimerStopFromISR(TimerHandle_t xTimer, BaseType_t *pxHigherPriorityTaskWoken)
{
    return command_from_isr(__func__, xTimer, STOP, 0, pxHigherPriorityTaskWoken);
}

BaseType_t xTimerChangePeriodFromISR(TimerHandle_t xTimer, TickType_t xNewPeriod,
                                     BaseType_t *pxHigherPriorityTaskWoken)
{
    return command_from_isr(__func__, xTimer, CHANGE_PERIOD, xNewPeriod, pxHigherPriorityTaskWoken);
}

/* ---- pended function calls --------------------------------------------------------------------- */

static BaseType_t pend(const char *fn, PendedFunction_t function, void *parameter1,
                       uint32_t parameter2, TickType_t wait, BaseType_t *woken)
{
    if (function == NULL) {
        FR_REFUSE("%s: no function: refused", fn);
        return pdFAIL;
    }
    if (fr_refuse_wait(fn, wait) || xTimerGetTimerDaemonTaskHandle() == NULL) {
        return pdFAIL;
    }
    struct timespec deadline;
    const bool bounded = fr_deadline(wait, &deadline);
    fr_enter();
    while (calls_count == CONFIG_FREERTOS_TIMER_QUEUE_LENGTH) {
        if (wait == 0 || !fr_wait(&room, bounded ? &deadline : NULL, &waiting_room, NULL, NULL)) {
            fr_unlock();
            return pdFAIL;
        }
    }
    calls[(calls_head + calls_count) % CONFIG_FREERTOS_TIMER_QUEUE_LENGTH] =
        (pended_call_t){.function = function, .parameter1 = parameter1, .parameter2 = parameter2};
    calls_count++;
    if (sent_to_timer_task_locked() && woken != NULL) {
        *woken = pdTRUE;
    }
    fr_unlock();
    return pdPASS;
}

BaseType_t xTimerPendFunctionCall(PendedFunction_t xFunctionToPend, void *pvParameter1,
                                  uint32_t ulParameter2, TickType_t xTicksToWait)
{
    fr_task_call();
    return pend(__func__, xFunctionToPend, pvParameter1, ulParameter2, xTicksToWait, NULL);
}

BaseType_t xTimerPendFunctionCallFromISR(PendedFunction_t xFunctionToPend, void *pvParameter1,
                                         uint32_t ulParameter2,
                                         BaseType_t *pxHigherPriorityTaskWoken)
{
    return pend(__func__, xFunctionToPend, pvParameter1, ulParameter2, 0,
                pxHigherPriorityTaskWoken);
}

/* ---- queries ----------------------------------------------------------------------------------- */

/* A query's way in: fr_lock() held on a live timer; false, refused, for NULL (the chip asserts) or
 * a deleted timer. */
static bool enter_timer(const char *fn, TimerHandle_t t)
{
    if (t == NULL) {
        FR_REFUSE("%s: no timer: refused (the chip asserts)", fn);
        return false;
    }
    return fr_enter_live(fn, t, FR_TIMER, false);
}

BaseType_t xTimerIsTimerActive(TimerHandle_t xTimer)
{
    if (!enter_timer(__func__, xTimer)) {
        return pdFALSE;
    }
    const bool active = xTimer->active;
    fr_unlock();
    return active ? pdTRUE : pdFALSE;
}

void *pvTimerGetTimerID(const TimerHandle_t xTimer)
{
    if (!enter_timer(__func__, xTimer)) {
        return NULL;
    }
    void *id = xTimer->id;
    fr_unlock();
    return id;
}

void vTimerSetTimerID(TimerHandle_t xTimer, void *pvNewID)
{
    if (enter_timer(__func__, xTimer)) {
        xTimer->id = pvNewID;
        fr_unlock();
    }
}

const char *pcTimerGetName(TimerHandle_t xTimer)
{
    if (!enter_timer(__func__, xTimer)) {
        return NULL;
    }
    const char *const name = xTimer->name;
    fr_unlock();
    return name;
}

void vTimerSetReloadMode(TimerHandle_t xTimer, const BaseType_t xAutoReload)
{
    if (enter_timer(__func__, xTimer)) {
        xTimer->auto_reload = xAutoReload != pdFALSE;
        fr_unlock();
    }
}

BaseType_t xTimerGetReloadMode(TimerHandle_t xTimer)
{
    if (!enter_timer(__func__, xTimer)) {
        return pdFALSE;
    }
    const bool auto_reload = xTimer->auto_reload;
    fr_unlock();
    return auto_reload ? pdTRUE : pdFALSE;
}

UBaseType_t uxTimerGetReloadMode(TimerHandle_t xTimer)
{
    return (UBaseType_t)xTimerGetReloadMode(xTimer);
}

TickType_t xTimerGetPeriod(TimerHandle_t xTimer)
{
    if (!enter_timer(__func__, xTimer)) {
        return 0;
    }
    const TickType_t period = xTimer->period;
    fr_unlock();
    return period;
}

TickType_t xTimerGetExpiryTime(TimerHandle_t xTimer)
{
    if (!enter_timer(__func__, xTimer)) {
        return 0;
    }
    const uint64_t expiry = xTimer->expiry;
    fr_unlock();
    return (TickType_t)expiry;
}

BaseType_t xTimerGetStaticBuffer(TimerHandle_t xTimer, StaticTimer_t **ppxTimerBuffer)
{
    if (ppxTimerBuffer == NULL) {
        FR_REFUSE("%s: no place for the buffer: refused (the chip asserts)", __func__);
        return pdFALSE;
    }
    if (!enter_timer(__func__, xTimer)) {
        return pdFALSE;
    }
    StaticTimer_t *const buffer = xTimer->buffer;
    fr_unlock();
    if (buffer == NULL) {
        return pdFALSE;
    }
    *ppxTimerBuffer = buffer;
    return pdTRUE;
}
