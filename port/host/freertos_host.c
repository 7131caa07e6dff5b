/*
 * freertos_host.c - ESP-IDF's FreeRTOS tasks, ticks, notifications, critical sections and heap
 * functions on POSIX threads; every kernel object the chip would allocate is a simulated-heap block
 * of the chip's size (freertos/FreeRTOS.h). Queues and semaphores: freertos_host_queue.c.
 *
 * Each task has a host record (libc memory: the simulator's, not the chip's), counted in
 * `task_count` (uxTaskGetNumberOfTasks) until deleted or its thread ends.
 * Threads are detached; a task's thread frees its record when it ends. A task deleted by another
 * ends at its next call into the API: fr_wait() and the entry checks look at `deleted`.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* syscall(): the main thread's test */
#define KRAKEN_SIM_TRACE_FACILITY /* task.h's trace calls, whatever the build's options */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "esp_memory_utils.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/idf_additions.h"
#include "freertos/task.h"
#include "freertos_host.h"
#include "sdkconfig.h"
#include "sim_internal.h"

#define FREERTOS_CAPS (MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT) /* heap_idf.c */
#define HOST_MIN_STACK (256u * 1024u) /* host code needs more stack than the chip's */
/* esp_task.h's TASK_EXTRA_STACK_SIZE: 512 bytes more for ESP-IDF's own tasks' stacks with newlib's
 * full printf format (none for its nano format: CONFIG_NEWLIB_NANO_FORMAT is its name before v5.5,
 * still defined as an alias). */
#if defined(CONFIG_LIBC_NEWLIB_NANO_FORMAT) || defined(CONFIG_NEWLIB_NANO_FORMAT)
#define TASK_EXTRA_STACK 0u
#else
#define TASK_EXTRA_STACK 512u
#endif
/* ESP-IDF's main task depth (esp_task.h's ESP_TASK_MAIN_STACK): the depth a thread not made by
 * xTaskCreate*() is measured against, "main" as the others. */
#define FOREIGN_STACK_BYTES ((uint32_t)CONFIG_ESP_MAIN_TASK_STACK_SIZE + TASK_EXTRA_STACK)
#define MAIN_TASK_CORE ((BaseType_t)CONFIG_ESP_MAIN_TASK_AFFINITY) /* ESP_TASK_MAIN_CORE */
/* FreeRTOS lowers a timer task priority of configMAX_PRIORITIES or more to the highest there is. */
#define TIMER_TASK_PRIORITY                                                                        \
    (CONFIG_FREERTOS_TIMER_TASK_PRIORITY < configMAX_PRIORITIES                                   \
         ? CONFIG_FREERTOS_TIMER_TASK_PRIORITY                                                     \
         : configMAX_PRIORITIES - 1)
_Static_assert(CONFIG_ESP_MAIN_TASK_STACK_SIZE > 0, "CONFIG_ESP_MAIN_TASK_STACK_SIZE: no stack");
#define STACK_PAINT 0xA5u

/* A thread's CPU-time clock and its reading now, in microseconds (false: none). */
typedef struct {
    clockid_t clock;
    bool ok;
    uint64_t now_us;
} cpu_clock_t;

struct tskTaskControlBlock {
    TaskFunction_t code;
    void *arg;
    char name[configMAX_TASK_NAME_LEN];
    UBaseType_t priority;
    BaseType_t core;      /* 0, 1 or tskNO_AFFINITY */
    void *stack, *tcb;    /* simulated-heap blocks (NULL: the caller's memory, or none) */
    const void *stack_area; /* the stack the chip would use (a block or the caller's buffer) */
    uint32_t stack_bytes;
    bool with_caps;       /* made by xTask*WithCaps() */
    bool foreign;         /* a thread not made by xTaskCreate*() */
    bool idle;            /* an idle task's record ("IDLE0", "IDLE1"): no thread, no memory */
    bool service;         /* a service task's static record (fr_service_task) */
    bool parked;          /* a service task waiting for work outside fr_wait(), or not started:
                             listed blocked (atomic: set without the lock) */
    bool parks_notified;  /* its chip task waits for a notification without end: listed S */
    StaticTask_t *buffer; /* xTaskCreateStatic*()'s TCB buffer, or a boot task's that the chip
                             creates static (NULL: none) */
    bool counted;         /* in task_count: until deleted or its thread ends */
    bool deleted;         /* its thread ends at its next call (stored atomically, under the lock) */
    bool suspended;       /* in vTaskSuspend() */
    bool listed;          /* in the task list (xTaskGetHandle): until deleted or its thread ends */
    bool wait_aborted;    /* xTaskAbortDelay(): its wait ends as if it timed out */
    uintptr_t watched_low; /* the host stack painted at its start: [watched_low, watched_high) */
    uintptr_t watched_high;
    struct tskTaskControlBlock *prev, *next; /* the task list */
    fr_waiters_t *waiting_on; /* the list it waits in (NULL: not waiting, or woken) */
    struct tskTaskControlBlock *next_waiter; /* the next in that list */
    uint32_t *waiting_count;    /* fr_wait's counter and cleanup: vTaskDelete undoes the wait */
    const uint32_t *woken_from; /* that counter when a wake took it off its list, until it blocks
                                   again or ends (compared, never read: fr_let_woken_run_locked) */
    void (*waiting_cleanup)(void *arg);
    void *waiting_arg;
    UBaseType_t number;       /* FreeRTOS's uxTCBNumber: 1, 2... in order of listing */
    UBaseType_t trace_number; /* vTaskSetTaskNumber()'s */
    cpu_clock_t cpu;          /* its thread's CPU clock, read when it became a task: run time */
    uint32_t notify_value[configTASK_NOTIFICATION_ARRAY_ENTRIES];
    bool notify_pending[configTASK_NOTIFICATION_ARRAY_ENTRIES];
    uint8_t notify_awaited; /* 1 + the index its notification wait is on; 0: none */
    bool notify_forever;    /* in a notification wait without a timeout (stream buffers' too):
                               FreeRTOS files it with the suspended tasks, its lists show S */
    bool in_callbacks;    /* its TLS deletion callbacks run in the task that deleted it: its
                             record stays and its handle answers (the chip's TCB goes after) */
    fr_waiters_t own;     /* its waits on itself: suspended, delayed, for a notification */
    pthread_cond_t wake;  /* its thread sleeps on it while it waits in any list */
    void *tls[configNUM_THREAD_LOCAL_STORAGE_POINTERS]; /* ESP-IDF's: deletion callbacks in the
                                                          second half */
    TaskHookFunction_t tag; /* vTaskSetApplicationTaskTag()'s */
};

static pthread_mutex_t kernel = PTHREAD_MUTEX_INITIALIZER;
static UBaseType_t task_count;
static UBaseType_t tasks_being_freed; /* deleted tasks (and vTaskDeleteWithCaps' clean-up task)
                                       * count until their memory is back, as FreeRTOS counts
                                       * tasks waiting for the idle task's clean-up */
static struct tskTaskControlBlock *task_list; /* every task alive, the timer task's too */
static UBaseType_t tasks_numbered;
static _Thread_local struct tskTaskControlBlock *t_self;
static _Thread_local bool t_ending; /* in its own deletion callbacks, as it ends */
static pthread_key_t foreign_key; /* ends a foreign thread's record with the thread */
static pthread_once_t foreign_once = PTHREAD_ONCE_INIT;

void fr_lock(void)
{
    pthread_mutex_lock(&kernel);
}

void fr_unlock(void)
{
    pthread_mutex_unlock(&kernel);
}

/* A condition variable on CLOCK_MONOTONIC (deadlines are CLOCK_MONOTONIC). */
static void cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
}

/* The deadline of a wait that ends at tick from + ticks, `from` a tick count the caller read (not
 * after now, less than one wrap of TickType_t ago). Tick k comes k tick periods after the
 * simulated boot, when xTaskGetTickCount() becomes k. */
static void deadline_at_tick(TickType_t from, TickType_t ticks, struct timespec *out)
{
    const uint64_t now_us = (uint64_t)esp_timer_get_time();
    clock_gettime(CLOCK_MONOTONIC, out);
    const uint64_t tick = now_us * configTICK_RATE_HZ / 1000000u;
    const uint64_t start = tick - (TickType_t)((TickType_t)tick - from); /* from, in 64 bits */
    const uint64_t end_us =
        ((start + ticks) * 1000000u + configTICK_RATE_HZ - 1) / configTICK_RATE_HZ;
    const uint64_t ns = end_us > now_us ? (end_us - now_us) * 1000u : 0;
    uint64_t total = (uint64_t)out->tv_nsec + ns % 1000000000u;
    out->tv_sec += (time_t)(ns / 1000000000u + total / 1000000000u);
    out->tv_nsec = (long)(total % 1000000000u);
}

bool fr_deadline(TickType_t ticks, struct timespec *out)
{
    if (ticks == portMAX_DELAY) {
        return false;
    }
    /* As on the chip, the wait ends at the ticks-th tick interrupt from now, the first of which
     * may come at once: between ticks - 1 and ticks periods from now. */
    deadline_at_tick(xTaskGetTickCount(), ticks, out);
    return true;
}

/* Critical sections (portMUX) this thread holds, nested ones counted. */
static _Thread_local uint32_t t_critical;
/* vTaskSuspendAll() calls this thread has not undone yet. */
static _Thread_local uint32_t t_scheduler_suspended;

bool sim_in_critical(void)
{
    return t_critical != 0;
}

bool fr_refuse_wait(const char *fn, TickType_t ticks)
{
    if (ticks == 0) {
        return false;
    }
    const char *const refusal =
        sim_in_isr() ? "in an ISR: refused (the chip asserts)"
        : t_critical != 0
            ? "inside a critical section: refused (interrupts are off there on the chip: no "
              "FreeRTOS call may block)"
        : t_scheduler_suspended != 0
            ? "with the scheduler suspended (vTaskSuspendAll): refused (no task may block there: "
              "the chip asserts, or for a notification wait goes wrong)"
            : NULL;
    if (refusal == NULL) {
        return false;
    }
    if (ticks != portMAX_DELAY) {
        ESP_LOGE(FR_TAG, "%s: a wait of %" PRIu32 " ticks %s", fn, ticks, refusal);
    } else {
        ESP_LOGE(FR_TAG, "%s: a wait without end (portMAX_DELAY) %s", fn, refusal);
    }
    sim_count_refused_wait();
    return true;
}

/* ---- task records ------------------------------------------------------------------------------ */

/* The chip's idle tasks, one per core: records with no thread and no memory, listed (found by
 * xTaskGetHandle(), numbered first) but not counted, as the timer task. */
static struct tskTaskControlBlock idle_tasks[configNUMBER_OF_CORES];
static bool idle_listed;

/* The chip's boot tasks the host runs as threads (fr_service_task()): records listed and counted
 * from boot, as the chip's, whose threads start when first needed. Which tasks, from ESP-IDF
 * v5.5.1: FreeRTOS's timer task (timers.c: created at the scheduler's start, pinned to
 * configTIMER_SERVICE_TASK_CORE_AFFINITY, blocked on its command queue when idle) and the
 * esp_timer task (esp_timer.c, esp_task.h's ESP_TASK_TIMER_PRIO and _STACK, waiting for a
 * notification without end when idle). */
typedef struct {
    const char *name;
    UBaseType_t priority;
    BaseType_t core;
    uint32_t depth;
    bool notified;  /* it waits for a notification when idle */
    bool is_static; /* created by xTaskCreateStatic*() on the chip: the timer task, whose buffers
                       come from vApplicationGetTimerTaskMemory (port_common.c); the esp_timer
                       task is xTaskCreatePinnedToCore()'s */
} service_spec_t;

static const service_spec_t service_spec[FR_SERVICES] = {
    [FR_TIMER_TASK] = {CONFIG_FREERTOS_TIMER_SERVICE_TASK_NAME, TIMER_TASK_PRIORITY,
                       (BaseType_t)CONFIG_FREERTOS_TIMER_SERVICE_TASK_CORE_AFFINITY,
                       (uint32_t)CONFIG_FREERTOS_TIMER_TASK_STACK_DEPTH, false, true},
    [FR_ESP_TIMER_TASK] = {"esp_timer", configMAX_PRIORITIES - 3,
                           (BaseType_t)CONFIG_ESP_TIMER_TASK_AFFINITY,
                           (uint32_t)CONFIG_ESP_TIMER_TASK_STACK_SIZE + TASK_EXTRA_STACK, true,
                           false},
};
static struct tskTaskControlBlock service_tasks[FR_SERVICES];

/* The TCB buffers of the boot tasks the chip creates static (the idle tasks, from
 * vApplicationGetIdleTaskMemory, and the timer task), which xTaskGetStaticBuffers() gives: host
 * memory, as their records (their chip blocks are in the boot figures, not in the heaps). */
static StaticTask_t boot_buffers[configNUMBER_OF_CORES + FR_SERVICES];

static void list_locked(struct tskTaskControlBlock *t);
static void count_locked(struct tskTaskControlBlock *t);

/* fr_lock() held: lists the boot records once. The idle records first, "IDLE" and the core's
 * digit as FreeRTOS names them, priority 0, pinned to their core, configMINIMAL_STACK_SIZE deep
 * (listed, not counted: no thread); then the service tasks (counted). */
static void list_boot_locked(void)
{
    if (idle_listed) {
        return;
    }
    idle_listed = true;
    for (int core = 0; core < configNUMBER_OF_CORES; core++) {
        struct tskTaskControlBlock *t = &idle_tasks[core];
        const char name[] = {'I', 'D', 'L', 'E', (char)('0' + core)};
        for (size_t i = 0; i < sizeof name && i + 1 < sizeof t->name; i++) {
            t->name[i] = name[i]; /* the record is zeroed: the name ends there */
        }
        t->priority = tskIDLE_PRIORITY;
        t->core = core;
        t->stack_bytes = configMINIMAL_STACK_SIZE;
        t->idle = true;
        t->buffer = &boot_buffers[core];
        cond_init(&t->wake);
        list_locked(t);
    }
    for (int i = 0; i < FR_SERVICES; i++) {
        struct tskTaskControlBlock *t = &service_tasks[i];
        strncpy(t->name, service_spec[i].name, sizeof t->name - 1);
        t->priority = service_spec[i].priority;
        t->core = service_spec[i].core;
        t->stack_bytes = service_spec[i].depth;
        t->foreign = true;
        t->service = true;
        t->parked = true;
        t->parks_notified = service_spec[i].notified;
        if (service_spec[i].is_static) {
            t->buffer = &boot_buffers[configNUMBER_OF_CORES + i];
        }
        cond_init(&t->wake);
        count_locked(t);
    }
}

static void list_locked(struct tskTaskControlBlock *t)
{
    list_boot_locked(); /* the chip's boot tasks come before every other */
    t->number = ++tasks_numbered; /* each record is listed once */
    t->listed = true;
    t->prev = NULL;
    t->next = task_list;
    if (task_list != NULL) {
        task_list->prev = t;
    }
    task_list = t;
}

/* Off the task list and uncounted: deleted, or its thread ended. */
static void uncount_locked(struct tskTaskControlBlock *t)
{
    if (t->listed) {
        t->listed = false;
        if (t->prev != NULL) {
            t->prev->next = t->next;
        } else {
            task_list = t->next;
        }
        if (t->next != NULL) {
            t->next->prev = t->prev;
        }
    }
    if (t->counted) {
        t->counted = false;
        task_count--;
    }
}

/* fr_lock() held: a task being deleted while it waits (or woken, before its thread ran) leaves
 * what it waits on at once, as FreeRTOS takes it off the object's list (the object may be
 * deleted right after); its thread ends when it wakes. */
static void undo_wait_locked(struct tskTaskControlBlock *t)
{
    (void)fr_wake_task_locked(t); /* it ends in fr_wait */
    if (t->waiting_count != NULL) {
        (*t->waiting_count)--;
        t->waiting_count = NULL;
    }
    if (t->waiting_cleanup != NULL) { /* last: it may free the object (and its wait list) */
        void (*cleanup)(void *arg) = t->waiting_cleanup;
        t->waiting_cleanup = NULL;
        cleanup(t->waiting_arg);
    }
}

#ifdef CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS
/* ---- thread-local storage deletion callbacks (ESP-IDF's: the pointers' second half) ----------- */

#define TLS_POINTERS CONFIG_FREERTOS_THREAD_LOCAL_STORAGE_POINTERS
_Static_assert(sizeof(TlsDeleteCallbackFunction_t) == sizeof(void *), "a callback fits a pointer");

/* A deleted task's callbacks and pointers, taken under fr_lock() (the record may go once it is
 * left), called after. */
typedef struct {
    TlsDeleteCallbackFunction_t callback[TLS_POINTERS];
    void *value[TLS_POINTERS];
} tls_deletion_t;

/* fr_lock() held: takes t's callbacks and pointers and clears the callbacks (each runs once);
 * false when it has none. */
static bool take_tls_locked(struct tskTaskControlBlock *t, tls_deletion_t *out)
{
    bool any = false;
    for (int i = 0; i < TLS_POINTERS; i++) {
        memcpy(&out->callback[i], &t->tls[i + TLS_POINTERS], sizeof out->callback[i]);
        out->value[i] = t->tls[i];
        t->tls[i + TLS_POINTERS] = NULL;
        any |= out->callback[i] != NULL;
    }
    return any;
}

/* fr_lock() not held. As ESP-IDF's port, a callback slot that a plain set overwrote with a
 * pointer code cannot run from is not called: the chip logs it and aborts. */
static void call_tls_callbacks(const tls_deletion_t *d, const char *task_name)
{
    for (int i = 0; i < TLS_POINTERS; i++) {
        if (d->callback[i] == NULL) {
            continue;
        }
        void *callback;
        memcpy(&callback, &d->callback[i], sizeof callback);
        if (!esp_ptr_executable(callback)) {
            FR_REFUSE("task \"%s\": the deletion callback of thread-local storage pointer "
                      "%d was overwritten with a pointer code cannot run from (%p): not "
                      "called (the chip aborts)", task_name, i, callback);
            continue;
        }
        d->callback[i](i, d->value[i]);
    }
}
#endif

/* A task record's memory goes only after RETIRED_RECORDS more have gone: a handle kept after its
 * task ended names no live record (refused, eDeleted) instead of the next task's record at the
 * same address. Nothing reads a retired record: under ASan it is poisoned, so a read stops there.
 * fr_lock() held; answers the record to free now (NULL: none yet). */
#define RETIRED_RECORDS 256u
static void *retired[RETIRED_RECORDS];
static unsigned retired_next;

static void *retire_locked(struct tskTaskControlBlock *record)
{
    void *oldest = retired[retired_next];
    retired[retired_next] = record;
    retired_next = (retired_next + 1) % RETIRED_RECORDS;
    SIM_POISON(record, sizeof *record); /* ASan's free and its next malloc need no unpoisoning */
    return oldest;
}

/* A condition threads wait on under the kernel lock, broadcast only while one waits. */
typedef struct {
    pthread_cond_t cond;
    uint32_t waiting;
} gathering_t;

/* Threads with no task record wait in `unlisted`, broadcast at every wake (they look again);
 * deletes in fr_let_woken_run_locked() in `blocked_or_ended`, broadcast when a task blocks or
 * ends. */
static gathering_t unlisted, blocked_or_ended;
static pthread_once_t gatherings_once = PTHREAD_ONCE_INIT;

static void gatherings_init(void)
{
    cond_init(&unlisted.cond);
    cond_init(&blocked_or_ended.cond);
}

/* fr_lock() held: one wait in g until a broadcast or the deadline (NULL: none); the result of
 * pthread_cond_timedwait(). */
static int gather_locked(gathering_t *g, const struct timespec *deadline)
{
    pthread_once(&gatherings_once, gatherings_init);
    g->waiting++;
    const int rc = deadline != NULL ? pthread_cond_timedwait(&g->cond, &kernel, deadline)
                                    : pthread_cond_wait(&g->cond, &kernel);
    g->waiting--;
    return rc;
}

static void broadcast_locked(gathering_t *g)
{
    if (g->waiting != 0) {
        pthread_cond_broadcast(&g->cond);
    }
}

/* fr_lock() held, by the task's own thread: the record goes and the thread ends. */
static _Noreturn void end_thread_locked(struct tskTaskControlBlock *t)
{
#ifdef CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS
    /* Callbacks left to it (deleted by another while it ran): called as it ends, the lock left;
     * meanwhile its calls do not end it again. */
    tls_deletion_t tls;
    if (take_tls_locked(t, &tls)) {
        t_ending = true;
        fr_unlock();
        call_tls_callbacks(&tls, t->name);
        fr_lock();
    }
#endif
    while (t->in_callbacks) { /* the deleter's calls of them may ask about it */
        pthread_cond_wait(&t->wake, &kernel);
    }
    uncount_locked(t);
    broadcast_locked(&blocked_or_ended);
    t_self = NULL;
    sim_chip_set_task_stack(NULL, 0);
    if (t->foreign) {
        pthread_setspecific(foreign_key, NULL);
    }
    pthread_cond_destroy(&t->wake);
    sim_owner_task_gone(t, false); /* its handle may be another task's once its record is freed */
    fr_handle_remove_locked(t);
    void *oldest = retire_locked(t);
    fr_unlock();
    __real_free(oldest);
    pthread_exit(NULL);
}

/* The priority a yield asked for from an ISR is judged against: the interrupted task's. */
static UBaseType_t interrupted_priority(void)
{
    const struct tskTaskControlBlock *self = t_self;
    return self != NULL ? self->priority : 0;
}

bool fr_task_outranks_caller_locked(TaskHandle_t task)
{
    const struct tskTaskControlBlock *t = task;
    return t == NULL || t->priority > interrupted_priority();
}

bool fr_wait_notified(fr_waiters_t *on, const struct timespec *deadline, uint32_t *waiting,
                      void (*cleanup)(void *arg), void *arg)
{
    struct tskTaskControlBlock *self = t_self;
    if (self != NULL) {
        self->notify_forever = deadline == NULL;
    }
    const bool signalled = fr_wait(on, deadline, waiting, cleanup, arg);
    if (self != NULL) {
        self->notify_forever = false;
    }
    return signalled;
}

bool fr_first_outranks_caller_locked(const fr_waiters_t *w)
{
    /* None listed: the caller's count may hold a task already taken off its list (woken, or its
     * wait aborted) whose thread has not run yet, which FreeRTOS's event list no longer holds;
     * or a thread with no record, waiting on some object (which, unknown here). */
    return w->first != NULL ? w->first->priority > interrupted_priority() : unlisted.waiting != 0;
}

/* fr_lock() held: self joins `on` behind the tasks of its priority or higher. O(tasks in it). */
static void enlist_locked(struct tskTaskControlBlock *self, fr_waiters_t *on)
{
    struct tskTaskControlBlock **at = &on->first;
    while (*at != NULL && (*at)->priority >= self->priority) {
        at = &(*at)->next_waiter;
    }
    self->next_waiter = *at;
    *at = self;
    self->waiting_on = on;
}

/* fr_lock() held: t leaves the list it waits in; false when it waits in none. */
static bool unlist_locked(struct tskTaskControlBlock *t)
{
    if (t == NULL || t->waiting_on == NULL) {
        return false;
    }
    struct tskTaskControlBlock **at = &t->waiting_on->first;
    while (*at != t) {
        at = &(*at)->next_waiter;
    }
    *at = t->next_waiter;
    t->next_waiter = NULL;
    t->waiting_on = NULL; /* ready from here on */
    return true;
}

bool fr_wake_task_locked(TaskHandle_t task)
{
    if (task == NULL) {
        broadcast_locked(&unlisted);
    }
    if (!unlist_locked(task)) {
        return false;
    }
    task->woken_from = task->waiting_count;
    pthread_cond_signal(&task->wake);
    return true;
}

bool fr_wake_one_locked(fr_waiters_t *w)
{
    return fr_wake_task_locked(w->first); /* none: the threads with no record look again */
}

void fr_wake_all_locked(fr_waiters_t *w)
{
    while (fr_wake_task_locked(w->first)) { /* and, at the end, those with no record */
    }
}

TaskHandle_t fr_current(void)
{
    return t_self;
}

static bool is_main_thread(void);

#define PREEMPTED_MAX 8u             /* woken tasks one delete waits for; more: it does not */
#define PREEMPTED_WAIT_NS 500000000L /* its bound (a woken task blocked outside FreeRTOS calls) */

/* fr_lock() held: the tasks woken from the waits counted in *a or *b, not blocked since, that
 * would have preempted the caller (see fr_let_woken_run_locked()) into out[]; false when one of
 * them would not have. */
static bool woken_preempting_locked(const uint32_t *a, const uint32_t *b,
                                    struct tskTaskControlBlock *out[], uint32_t *n)
{
    const struct tskTaskControlBlock *self = t_self;
    /* a thread with no record yet is the main task, or one with a foreign task's place */
    const UBaseType_t mine = self != NULL ? self->priority : 1;
    const BaseType_t core = self != NULL ? self->core
                            : is_main_thread() ? MAIN_TASK_CORE
                                               : tskNO_AFFINITY;
    *n = 0;
    for (struct tskTaskControlBlock *t = task_list; t != NULL; t = t->next) {
        if (t == self || t->woken_from == NULL || (t->woken_from != a && t->woken_from != b)) {
            continue; /* (the caller too: it may have been woken from the object it deletes) */
        }
        /* would not run on the caller's core before it (FreeRTOS's prvIsYieldRequiredSMP():
         * the current core first, for a higher priority only; an unpinned caller's core is
         * unknown) */
        if (t->priority <= mine || (t->core != tskNO_AFFINITY && t->core != core) ||
            *n == PREEMPTED_MAX) {
            return false;
        }
        out[(*n)++] = t;
    }
    return true;
}

/* fr_lock() held: whether a task of tasks[] has not yet run until it blocked or ended. */
static bool any_still_runs_locked(struct tskTaskControlBlock *const tasks[], uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        /* a record is read only while live: a task's goes when its thread ends (the service
         * tasks' static records are never in the handle table: not waited for) */
        if (fr_handle_live_locked(tasks[i], FR_TASK) && !tasks[i]->deleted &&
            tasks[i]->waiting_on == NULL) {
            return true;
        }
    }
    return false;
}

void fr_let_woken_run_locked(const void *object, fr_kind_t kind, const uint32_t *a,
                             const uint32_t *b)
{
    struct tskTaskControlBlock *self = t_self;
    if (sim_in_isr() || t_critical != 0 || t_scheduler_suspended != 0) {
        return; /* no preemption there: the woken tasks have not run on the chip either */
    }
    struct timespec deadline;
    bool bounded = false;
    struct tskTaskControlBlock *woken[PREEMPTED_MAX];
    uint32_t n = 0;
    int rc = 0;
    /* the object's counters are compared only while it is live: another task may delete it; the
     * caller deleted meanwhile runs no more */
    while (rc != ETIMEDOUT && !(self != NULL && self->deleted) &&
           fr_handle_live_locked(object, kind) && woken_preempting_locked(a, b, woken, &n) &&
           any_still_runs_locked(woken, n)) {
        if (!bounded) {
            bounded = true;
            clock_gettime(CLOCK_MONOTONIC, &deadline);
            deadline.tv_nsec += PREEMPTED_WAIT_NS;
            if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
            }
        }
        while (rc != ETIMEDOUT && !(self != NULL && self->deleted) &&
               any_still_runs_locked(woken, n)) {
            rc = gather_locked(&blocked_or_ended, &deadline);
        }
    }
    if (bounded && self != NULL && self->deleted && !t_ending) {
        end_thread_locked(self); /* deleted while it waited: on the chip it ran no more */
    }
}

bool fr_wait(fr_waiters_t *on, const struct timespec *deadline, uint32_t *waiting,
             void (*cleanup)(void *arg), void *arg)
{
    struct tskTaskControlBlock *self = t_self;
    if (waiting != NULL) {
        (*waiting)++;
    }
    if (self == NULL) {
        const int rc = gather_locked(&unlisted, deadline);
        if (waiting != NULL) {
            (*waiting)--;
        }
        return rc != ETIMEDOUT;
    }
    self->waiting_count = waiting;
    self->waiting_cleanup = cleanup;
    self->waiting_arg = arg;
    enlist_locked(self, on);
    self->woken_from = NULL;
    broadcast_locked(&blocked_or_ended);
    int rc = 0;
    while (self->waiting_on != NULL && rc != ETIMEDOUT) { /* until a wake took it off */
        rc = deadline != NULL ? pthread_cond_timedwait(&self->wake, &kernel, deadline)
                              : pthread_cond_wait(&self->wake, &kernel);
    }
    const bool woken = !unlist_locked(self); /* or timed out */
    if (self->deleted && !t_ending) { /* vTaskDelete undid the wait (undo_wait_locked) */
        end_thread_locked(self);
    }
    self->waiting_count = NULL;
    self->waiting_cleanup = NULL;
    if (waiting != NULL) {
        (*waiting)--;
    }
    if (self->wait_aborted) {
        self->wait_aborted = false;
        return false;
    }
    return woken;
}

bool sim_task_deleted(const void *task)
{
    return __atomic_load_n(&((const struct tskTaskControlBlock *)task)->deleted, __ATOMIC_ACQUIRE);
}

bool sim_task_describe(const void *task, char *name, size_t size, int32_t *core)
{
    fr_lock();
    list_boot_locked(); /* the boot tasks are there from boot */
    const struct tskTaskControlBlock *t = task_list;
    while (t != NULL && (const void *)t != task) { /* compared, never read, until found */
        t = t->next;
    }
    if (t != NULL) {
        if (size > 0) {
            strncpy(name, t->name, size - 1);
            name[size - 1] = '\0';
        }
        *core = (int32_t)t->core;
    }
    fr_unlock();
    return t != NULL;
}

static void foreign_thread_ends(void *record)
{
    fr_lock();
    uncount_locked(record);
    broadcast_locked(&blocked_or_ended);
    sim_owner_task_gone(record, false);
    fr_handle_remove_locked(record);
    pthread_cond_destroy(&((struct tskTaskControlBlock *)record)->wake);
    void *oldest = retire_locked(record);
    fr_unlock();
    __real_free(oldest);
}

static void make_foreign_key(void)
{
    pthread_key_create(&foreign_key, foreign_thread_ends);
}

static struct tskTaskControlBlock *new_record(void)
{
    struct tskTaskControlBlock *t = __real_calloc(1, sizeof *t);
    if (t != NULL && !fr_handle_add(t, FR_TASK)) { /* until its memory goes */
        __real_free(t);
        return NULL;
    }
    if (t != NULL) {
        cond_init(&t->wake);
    }
    return t;
}

static void count_locked(struct tskTaskControlBlock *t)
{
    t->counted = true;
    task_count++;
    list_locked(t);
}

/* Paints [low, high) of the calling thread's stack, below this function's frame only (and below
 * the red zone a leaf function may use), for uxTaskGetStackHighWaterMark(). Not instrumented:
 * the bytes lie below the stack pointer, where ASan may have left a dead frame's poison. */
static __attribute__((noinline, no_sanitize_address, no_sanitize_thread)) void
paint_stack(uintptr_t low, uintptr_t high)
{
    const uintptr_t below_me = (uintptr_t)__builtin_frame_address(0) - 512;
    volatile uint8_t *p = (volatile uint8_t *)low;
    for (uintptr_t a = low; a < high && a < below_me; a++) {
        *p++ = STACK_PAINT;
    }
}

static bool read_cpu_us(clockid_t clock, uint64_t *us)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0) {
        return false;
    }
    *us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    return true;
}

/* The calling thread's clock: taken before its stack is painted (the first calls may go deep,
 * through the dynamic linker). */
static cpu_clock_t own_cpu_clock(void)
{
    cpu_clock_t c = {0};
    c.ok = pthread_getcpuclockid(pthread_self(), &c.clock) == 0 && read_cpu_us(c.clock, &c.now_us);
    return c;
}

/* fr_lock() held: microseconds of CPU time the task's thread has used since it became a task. */
static uint64_t cpu_us_locked(const struct tskTaskControlBlock *t)
{
    uint64_t now = 0;
    return t->cpu.ok && read_cpu_us(t->cpu.clock, &now) ? now - t->cpu.now_us : 0;
}

/* fr_lock() held, by the task's own thread as it starts: [low, high) of its stack was painted;
 * its CPU-time clock, read before, starts the run-time statistics (a thread adopted late: its
 * time before is not a task's). */
static void watch_locked(struct tskTaskControlBlock *t, uintptr_t low, uintptr_t high,
                         const cpu_clock_t *cpu)
{
    t->watched_low = low;
    t->watched_high = high;
    t->cpu = *cpu;
}

/* The calling thread becomes task t, its stack measured from here down over t->stack_bytes (what
 * its callers use is not known), not below the page above its host stack's end (a thread with a
 * small stack may have less room left). That area is its stack start (pxStackBase). A record not
 * listed yet is counted from here on. */
static __attribute__((noinline)) void attach(struct tskTaskControlBlock *t)
{
    const uintptr_t top = (uintptr_t)__builtin_frame_address(0);
    const uintptr_t floor = sim_own_stack_low() + 4096;
    fr_lock();
    list_boot_locked(); /* a service task's record (its depth), when it is the first */
    const uint32_t depth = t->stack_bytes;
    fr_unlock();
    const uintptr_t low = top - depth > floor || floor >= top ? top - depth : floor;
    const cpu_clock_t cpu = own_cpu_clock();
    paint_stack(low, top);
    fr_lock();
    watch_locked(t, low, top, &cpu);
    t->stack_area = (const void *)low;
    if (!t->listed) {
        count_locked(t);
    }
    __atomic_store_n(&t->parked, false, __ATOMIC_RELAXED);
    fr_unlock();
    t_self = t;
}

/* A record for the calling thread, not made by xTaskCreate*(): priority 1 as ESP-IDF's main task
 * (ESP_TASK_MAIN_PRIO), measured against its depth. */
static struct tskTaskControlBlock *adopt(const char *name, BaseType_t core)
{
    pthread_once(&foreign_once, make_foreign_key);
    struct tskTaskControlBlock *t = new_record();
    if (t == NULL) {
        return NULL;
    }
    t->foreign = true;
    t->core = core;
    t->priority = 1;
    t->stack_bytes = FOREIGN_STACK_BYTES;
    strncpy(t->name, name, sizeof t->name - 1);
    pthread_setspecific(foreign_key, t);
    attach(t);
    return t;
}

/* The process's main thread (its thread ID is the process ID), which runs app_main on the chip. */
static bool is_main_thread(void)
{
    return (pid_t)syscall(SYS_gettid) == getpid();
}

TaskHandle_t fr_self(void)
{
    if (t_self != NULL) {
        return t_self;
    }
    /* main() is app_main's task: its name and core; other threads have neither. */
    return is_main_thread() ? adopt("main", MAIN_TASK_CORE) : adopt("", tskNO_AFFINITY);
}

TaskHandle_t fr_or_self(TaskHandle_t task)
{
    return task != NULL ? task : fr_self();
}

TaskHandle_t fr_service_task(fr_service_t which)
{
    attach(&service_tasks[which]); /* listed there, when not yet */
    return &service_tasks[which];
}

/* Release, with state_locked()'s acquire: a task that reads it blocked sees what it did before, as
 * on the chip, where both happen in critical sections (it sets this outside fr_lock()). */
void fr_service_parked(fr_service_t which, bool parked)
{
    __atomic_store_n(&service_tasks[which].parked, parked, __ATOMIC_RELEASE);
}

/* fr_lock() held: a task deleted by another ends here, at its call into the API; inside a critical
 * section it ends when it leaves the last one instead (on the chip the delete's switch waits for
 * the section's end), so that no spinlock stays held by a thread that is gone. */
static void end_if_deleted_locked(void)
{
    if (t_self != NULL && t_self->deleted && !t_ending && !sim_in_isr() && t_critical == 0) {
        end_thread_locked(t_self);
    }
}

void fr_enter(void)
{
    fr_lock();
    end_if_deleted_locked();
}

void fr_task_call(void)
{
    struct tskTaskControlBlock *self = t_self;
    if (self != NULL && __atomic_load_n(&self->deleted, __ATOMIC_ACQUIRE) && !t_ending &&
        !sim_in_isr() && t_critical == 0) {
        fr_lock();
        end_thread_locked(self);
    }
}

/* ---- creation ---------------------------------------------------------------------------------- */

static void *task_main(void *arg)
{
    struct tskTaskControlBlock *t = arg;
    /* The task's stack on the chip starts about here: its depth below is watched. */
    const uintptr_t top = (uintptr_t)__builtin_frame_address(0);
    const cpu_clock_t cpu = own_cpu_clock();
    paint_stack(top - t->stack_bytes, top);
    t_self = t;
    sim_chip_set_task_stack(t->stack_area, t->stack_bytes); /* esp_ptr_*() of its locals */
    fr_lock();
    watch_locked(t, top - t->stack_bytes, top, &cpu);
    end_if_deleted_locked(); /* deleted before it ran */
    fr_unlock();
    t->code(t->arg);
    FR_REFUSE("task \"%s\" returned from its function: deleted (the chip aborts; end a task "
              "with vTaskDelete(NULL))", t->name);
    vTaskDelete(NULL);
    return NULL;
}

static bool valid_task_args(const char *fn, TaskFunction_t code, UBaseType_t priority,
                            BaseType_t core)
{
    fr_task_call();
    if (code == NULL || priority >= configMAX_PRIORITIES ||
        (core != 0 && core != 1 && core != tskNO_AFFINITY)) {
        FR_REFUSE("%s: %s: refused (the chip asserts)", fn,
                  code == NULL ? "no task function"
                  : priority >= configMAX_PRIORITIES ? "priority >= configMAX_PRIORITIES"
                                                     : "no such core");
        return false;
    }
    return true;
}

/* True when ptr is memory the chip accepts for a task's TCB (stack false) or stack (true):
 * ESP-IDF's portVALID_TCB_MEM and portVALID_STACK_MEM (heap_idf.c), internal byte-accessible RAM,
 * and for a stack where PSRAM is allowed (KRAKEN_SIM_TASK_STACK_IN_PSRAM) any byte-accessible RAM.
 * Host memory that is no part of the simulated chip (another thread's stack, a shared library's)
 * is not judged. */
static bool valid_task_memory_at(const void *ptr, bool stack)
{
    if (sim_chip_address(ptr) == 0) {
        return true;
    }
    if (stack && KRAKEN_SIM_TASK_STACK_IN_PSRAM) {
        return esp_ptr_byte_accessible(ptr);
    }
    return esp_ptr_internal(ptr) && esp_ptr_byte_accessible(ptr);
}

/* xTaskCreateStaticPinnedToCore()'s configASSERTs on its buffers (the stack's first): false,
 * logged, for one the chip asserts on. tcb NULL: the stack alone (a WithCaps create's TCB is
 * pvPortMalloc()'s, internal). */
static bool valid_task_memory(const char *fn, const void *stack, const void *tcb)
{
    const bool stack_ok = valid_task_memory_at(stack, true);
    if (stack_ok && (tcb == NULL || valid_task_memory_at(tcb, false))) {
        return true;
    }
    FR_REFUSE("%s: the task's %s (%p) is %s: refused (the chip asserts: "
              "configASSERT(portVALID_%s_MEM(...)))", fn, stack_ok ? "TCB buffer" : "stack",
              stack_ok ? tcb : stack,
              esp_ptr_external_ram(stack_ok ? tcb : stack)
                  ? stack_ok ? "in PSRAM"
                             : "in PSRAM (CONFIG_FREERTOS_TASK_CREATE_ALLOW_EXT_MEM is off)"
                  : "not in internal byte-accessible RAM",
              stack_ok ? "TCB" : "STACK");
    return false;
}

/* Starts the thread of a record whose memory is had; NULL record: out of host memory. *out (when
 * not NULL) gets the handle before the task can run, as on the chip (the task may read it). */
static bool start(struct tskTaskControlBlock *t, TaskFunction_t code, const char *name, void *arg,
                  UBaseType_t priority, BaseType_t core, uint32_t stack_bytes, TaskHandle_t *out)
{
    if (t == NULL) {
        return false;
    }
    t->code = code;
    t->arg = arg;
    if (name != NULL) {
        strncpy(t->name, name, sizeof t->name - 1);
    }
    t->priority = priority;
    t->core = core;
    t->stack_bytes = stack_bytes;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, HOST_MIN_STACK + (size_t)stack_bytes); /* room to paint */
    fr_lock(); /* counted before it runs: it may delete itself at once */
    count_locked(t);
    TaskHandle_t before = out != NULL ? *out : NULL;
    if (out != NULL) {
        *out = t;
    }
    pthread_t thread;
    int rc = pthread_create(&thread, &attr, task_main, t);
    if (rc != 0) {
        uncount_locked(t);
        if (out != NULL) {
            *out = before; /* untouched on failure */
        }
    }
    fr_unlock();
    pthread_attr_destroy(&attr);
    return rc == 0;
}

static void drop_record(struct tskTaskControlBlock *t)
{
    if (t != NULL) {
        fr_lock();
        fr_handle_remove_locked(t);
        fr_unlock();
        pthread_cond_destroy(&t->wake);
        __real_free(t);
    }
}

/* A task on the stack and TCB blocks just taken (either NULL: that allocation failed); on any
 * failure both go back and nothing is left. */
static bool start_on_blocks(void *stack, void *tcb, bool with_caps, TaskFunction_t code,
                            const char *name, void *arg, UBaseType_t priority, BaseType_t core,
                            uint32_t stack_bytes, TaskHandle_t *out)
{
    struct tskTaskControlBlock *t = stack != NULL && tcb != NULL ? new_record() : NULL;
    if (t != NULL) {
        t->stack = stack;
        t->stack_area = stack;
        t->tcb = tcb;
        t->with_caps = with_caps;
    }
    if (!start(t, code, name, arg, priority, core, stack_bytes, out)) {
        drop_record(t);
        heap_caps_free(stack);
        vPortFree(tcb);
        return false;
    }
    return true;
}

BaseType_t xTaskCreatePinnedToCore(TaskFunction_t pxTaskCode, const char *const pcName,
                                   const configSTACK_DEPTH_TYPE usStackDepth,
                                   void *const pvParameters, UBaseType_t uxPriority,
                                   TaskHandle_t *const pxCreatedTask, const BaseType_t xCoreID)
{
    if (!valid_task_args(__func__, pxTaskCode, uxPriority, xCoreID)) {
        return pdFAIL;
    }
    /* The stack grows down on Xtensa: ESP-IDF takes the stack first, then the TCB. */
    void *stack = pvPortMalloc(usStackDepth);
    void *tcb = stack != NULL ? pvPortMalloc(KRAKEN_SIM_TCB_BYTES) : NULL;
    return start_on_blocks(stack, tcb, false, pxTaskCode, pcName, pvParameters, uxPriority, xCoreID,
                           usStackDepth, pxCreatedTask)
               ? pdPASS
               : errCOULD_NOT_ALLOCATE_REQUIRED_MEMORY;
}

/* A static task's TCB buffer is that of the record made on it (its first word) while the task is
 * not deleted: a task deleted by another gives it back at once (on the chip its TCB goes in
 * vTaskDelete() unless it runs on the other core), one that deleted itself once its thread has
 * ended and its record gone (the idle task's clean-up on the chip). */
static const void *tcb_buffer_of(const void *record)
{
    const struct tskTaskControlBlock *t = record;
    return t->deleted ? NULL : t->buffer;
}

/* Whether [a, a + a_bytes) and [b, b + b_bytes) share a byte (NULL: none). */
static bool overlap(const void *a, size_t a_bytes, const void *b, size_t b_bytes)
{
    const uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return a != NULL && b != NULL && x < y + b_bytes && y < x + a_bytes;
}

/* What of a new static task's buffers overlaps task t's; NULL: nothing. */
static const char *overlap_with(const struct tskTaskControlBlock *t, const void *stack,
                                uint32_t stack_bytes, const void *tcb)
{
    const size_t tcb_bytes = sizeof(StaticTask_t);
    if (overlap(stack, stack_bytes, t->stack_area, t->stack_bytes)) {
        return t->stack_area == stack ? "the stack is the stack" : "the stack overlaps the stack";
    }
    if (overlap(tcb, tcb_bytes, t->stack_area, t->stack_bytes)) {
        return "the TCB buffer is in the stack";
    }
    if (overlap(stack, stack_bytes, t->buffer, tcb_bytes) ||
        overlap(tcb, tcb_bytes, t->buffer, tcb_bytes)) {
        return "the stack or the TCB buffer overlaps the TCB buffer";
    }
    return NULL;
}

/* A static create whose stack and TCB buffer overlap, or overlap the stack or the static TCB
 * buffer of a listed task (a deleted one leaves the list at once): FreeRTOS would write one task
 * over the other (two tasks on one stack, a TCB in a stack). True, logged and counted. O(tasks). */
static bool refuse_live_stack(const char *fn, const void *stack, uint32_t stack_bytes,
                              const void *tcb)
{
    if (overlap(stack, stack_bytes, tcb, sizeof(StaticTask_t))) {
        FR_REFUSE("%s: the stack (%p, %" PRIu32 " bytes) and the TCB buffer (%p) overlap: refused "
                  "(FreeRTOS would write the TCB into the stack)", fn, stack, stack_bytes, tcb);
        return true;
    }
    fr_lock();
    const struct tskTaskControlBlock *t = task_list;
    const char *what = NULL;
    while (t != NULL && (what = overlap_with(t, stack, stack_bytes, tcb)) == NULL) {
        t = t->next;
    }
    char name[configMAX_TASK_NAME_LEN];
    if (what != NULL) {
        memcpy(name, t->name, sizeof name);
    }
    fr_unlock();
    if (what != NULL) {
        FR_REFUSE("%s: %s of task \"%s\", not deleted: refused (the chip would run one task over "
                  "the other)", fn, what, name);
    }
    return what != NULL;
}

TaskHandle_t xTaskCreateStaticPinnedToCore(TaskFunction_t pxTaskCode, const char *const pcName,
                                           const uint32_t ulStackDepth, void *const pvParameters,
                                           UBaseType_t uxPriority, StackType_t *const puxStackBuffer,
                                           StaticTask_t *const pxTaskBuffer, const BaseType_t xCoreID)
{
    if (puxStackBuffer == NULL || pxTaskBuffer == NULL) {
        FR_REFUSE("%s: no stack or task buffer: refused (the chip asserts)", __func__);
        return NULL;
    }
    if (!valid_task_memory(__func__, puxStackBuffer, pxTaskBuffer)) {
        return NULL;
    }
    /* (neither check is atomic with the create: two creates at once may both pass) */
    if (!valid_task_args(__func__, pxTaskCode, uxPriority, xCoreID) ||
        fr_refuse_live_buffer(__func__, pxTaskBuffer, pxTaskBuffer->host, FR_TASK, tcb_buffer_of) ||
        refuse_live_stack(__func__, puxStackBuffer, ulStackDepth, pxTaskBuffer)) {
        return NULL;
    }
    struct tskTaskControlBlock *t = new_record();
    if (t != NULL) {
        pxTaskBuffer->host = t;
        t->stack_area = puxStackBuffer;
        t->buffer = pxTaskBuffer;
    }
    if (!start(t, pxTaskCode, pcName, pvParameters, uxPriority, xCoreID, ulStackDepth, NULL)) {
        drop_record(t);
        return NULL;
    }
    return t;
}

BaseType_t xTaskCreatePinnedToCoreWithCaps(TaskFunction_t pvTaskCode, const char *const pcName,
                                           const configSTACK_DEPTH_TYPE usStackDepth,
                                           void *const pvParameters, UBaseType_t uxPriority,
                                           TaskHandle_t *const pvCreatedTask,
                                           const BaseType_t xCoreID, UBaseType_t uxMemoryCaps)
{
    if (!valid_task_args(__func__, pvTaskCode, uxPriority, xCoreID)) {
        return pdFAIL;
    }
    /* idf_additions.c: the TCB first (it must be internal), then the stack with the caps; then
     * xTaskCreateStaticPinnedToCore() on them, which asserts on a stack it does not accept. */
    void *tcb = pvPortMalloc(KRAKEN_SIM_TCB_BYTES);
    void *stack = heap_caps_malloc(usStackDepth, (uint32_t)uxMemoryCaps);
    if (tcb != NULL && stack != NULL && !valid_task_memory(__func__, stack, NULL)) {
        heap_caps_free(stack);
        vPortFree(tcb);
        return pdFAIL;
    }
    return start_on_blocks(stack, tcb, true, pvTaskCode, pcName, pvParameters, uxPriority, xCoreID,
                           usStackDepth, pvCreatedTask)
               ? pdPASS
               : pdFAIL;
}

/* ---- task handles ------------------------------------------------------------------------------ */

/* fr_lock() held: true when task names a task record not yet freed (a deleted task's goes when its
 * thread ends); compared, never read. */
static bool record_live_locked(const void *task)
{
    for (int core = 0; core < configNUMBER_OF_CORES; core++) {
        if (task == &idle_tasks[core]) { /* static records */
            return true;
        }
    }
    for (int i = 0; i < FR_SERVICES; i++) {
        if (task == &service_tasks[i]) { /* static records, listed before their threads start */
            return true;
        }
    }
    return fr_handle_live_locked(task, FR_TASK);
}

/* Takes fr_lock() and answers the record of task (NULL or its own handle: the caller's) when it
 * names a task not deleted. Otherwise answers NULL with the lock not held: after FR_REFUSE when
 * task names no live record (looked up, never read) or a task deleted by another whose thread has
 * not ended yet (its record is still there, but on the chip vTaskDelete() frees at once a task
 * that is not running: only the idle task's clean-up of one that was running on the other core
 * leaves a window, so a call given a deleted task's handle may read freed memory there), or when
 * the caller has no record and the host no memory for one. The lock keeps the record from going
 * before the read. */
static struct tskTaskControlBlock *lock_task(TaskHandle_t task, const char *fn)
{
    struct tskTaskControlBlock *t = fr_or_self(task);
    if (t == NULL) {
        return NULL;
    }
    fr_lock();
    if (task == NULL || t == t_self) { /* a deleted caller runs on until its next wait */
        return t;
    }
    if (!record_live_locked(t)) {
        fr_unlock();
        fr_refuse_dead(fn, task, FR_TASK);
        return NULL;
    }
    if (!t->deleted || t->in_callbacks) {
        return t;
    }
    char name[configMAX_TASK_NAME_LEN];
    memcpy(name, t->name, sizeof name); /* the record may go once the lock is left */
    fr_unlock();
    FR_REFUSE("%s(\"%s\"): a deleted task (its thread not ended yet): refused (the chip may "
              "have freed its TCB already)", fn, name);
    return NULL;
}

/* ---- thread-local storage pointers ------------------------------------------------------------- */

void vTaskSetThreadLocalStoragePointer(TaskHandle_t xTaskToSet, BaseType_t xIndex, void *pvValue)
{
    fr_task_call(); /* a task deleted by another ends here: what it sets would never be freed */
    if (xIndex < 0 || xIndex >= configNUM_THREAD_LOCAL_STORAGE_POINTERS) {
        return;
    }
    struct tskTaskControlBlock *t = lock_task(xTaskToSet, __func__);
    if (t != NULL) {
        t->tls[xIndex] = pvValue;
        fr_unlock();
    }
}

void *pvTaskGetThreadLocalStoragePointer(TaskHandle_t xTaskToQuery, BaseType_t xIndex)
{
    if (xIndex < 0 || xIndex >= configNUM_THREAD_LOCAL_STORAGE_POINTERS) {
        return NULL;
    }
    struct tskTaskControlBlock *t = lock_task(xTaskToQuery, __func__);
    if (t == NULL) {
        return NULL;
    }
    void *value = t->tls[xIndex];
    fr_unlock();
    return value;
}

#ifdef CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS
void vTaskSetThreadLocalStoragePointerAndDelCallback(TaskHandle_t xTaskToSet, BaseType_t xIndex,
                                                     void *pvValue,
                                                     TlsDeleteCallbackFunction_t pvDelCallback)
{
    fr_task_call();
    if (xIndex < 0 || xIndex >= TLS_POINTERS) {
        return;
    }
    struct tskTaskControlBlock *t = lock_task(xTaskToSet, __func__);
    if (t != NULL) {
        t->tls[xIndex] = pvValue;
        memcpy(&t->tls[xIndex + TLS_POINTERS], &pvDelCallback, sizeof pvDelCallback);
        fr_unlock();
    }
}
#endif

/* ---- deletion ---------------------------------------------------------------------------------- */

/* vTaskDelete (caps_api false) or vTaskDeleteWithCaps (true). */
static void delete_task(TaskHandle_t task, bool caps_api, const char *fn)
{
    fr_task_call();
    struct tskTaskControlBlock *t = fr_or_self(task); /* task itself, unless NULL */
    if (t == NULL) {
        return; /* the caller has no record and the host no memory for one: nothing to delete */
    }
    /* Another task's record goes when its thread ends, whenever the lock is not held: looked up
     * and read in one hold (and looked up again in the next). */
    char name[configMAX_TASK_NAME_LEN];
    fr_lock();
    const bool live = task == NULL || record_live_locked(t);
    const bool idle = live && t->idle, service = live && t->service;
    const bool with_caps = live && t->with_caps;
    if (live) {
        memcpy(name, t->name, sizeof name);
    }
    fr_unlock();
    if (!live) {
        fr_refuse_dead(fn, task, FR_TASK);
        return;
    }
    if (sim_in_isr()) {
        FR_REFUSE("%s: in an ISR: refused (the chip asserts)", fn);
        return;
    }
    if (idle) {
        FR_REFUSE("%s(\"%s\"): an idle task: refused (the chip's scheduler needs it)", fn, name);
        return;
    }
    if (service) { /* not counted: the chip deletes it (its timers then never run) */
        ESP_LOGE(FR_TAG, "%s(\"%s\"): a service task the chip starts at boot: refused (not "
                         "simulated: the host's timers need its thread)", fn, name);
        return;
    }
    const bool self = t == t_self;
    if (self && t_scheduler_suspended != 0) {
        FR_REFUSE("%s(NULL) with the scheduler suspended (vTaskSuspendAll): the chip "
                  "asserts", fn);
    }
    void *helper_stack = NULL, *helper_tcb = NULL;
    if (caps_api && self && with_caps) {
        /* idf_additions.c: a WithCaps task cannot free its own stack, so vTaskDeleteWithCaps()
         * creates a clean-up task (configMINIMAL_STACK_SIZE) that frees it; the chip aborts
         * when that task cannot be had. */
        helper_stack = pvPortMalloc(configMINIMAL_STACK_SIZE);
        helper_tcb = helper_stack != NULL ? pvPortMalloc(KRAKEN_SIM_TCB_BYTES) : NULL;
        if (helper_tcb == NULL) {
            vPortFree(helper_stack);
            helper_stack = NULL;
            ESP_LOGE(FR_TAG, "%s(\"%s\"): no memory for the clean-up task (%u + %u bytes of "
                             "internal RAM): the chip aborts here", fn, name,
                     (unsigned)configMINIMAL_STACK_SIZE, (unsigned)KRAKEN_SIM_TCB_BYTES);
        }
    }
    fr_lock();
    if (!self && !record_live_locked(t)) { /* its thread ended since the look-up */
        fr_unlock();
        fr_refuse_dead(fn, task, FR_TASK);
        return;
    }
    memcpy(name, t->name, sizeof name); /* another task's record may go once the lock is left */
    /* deleted already (off the list at once, also when it deleted itself), its thread not ended */
    if (!self && !t->listed) {
        fr_unlock();
        FR_REFUSE("%s(\"%s\"): deleted already: refused", fn, name);
        return;
    }
    if (caps_api && !t->with_caps) {
        fr_unlock();
        FR_REFUSE("%s(\"%s\"): not made by xTask*WithCaps(): refused (the chip asserts)", fn,
                  name);
        return;
    }
    /* vTaskDelete() of a WithCaps task frees nothing, as on the chip, where its buffers are the
     * static ones of xTaskCreateStatic: they leak (heap tracing shows them). */
    const bool frees = caps_api || !t->with_caps;
    const bool leaks = !frees && t->stack != NULL;
    void *stack = frees ? t->stack : NULL, *tcb = frees ? t->tcb : NULL;
    if (frees) {
        t->stack = NULL;
        t->tcb = NULL;
    }
    const bool ends = !t->foreign || self;
    bool recount = false;
    if (helper_tcb != NULL) { /* the clean-up task counts until its own memory is back */
        tasks_being_freed++;
    }
    /* A task deleting itself ends below, once its memory is back: flagged now, it would end in
     * the first call a free or log hook makes into FreeRTOS. */
    __atomic_store_n(&t->deleted, ends && !self, __ATOMIC_RELEASE);
    if (ends && !self) {
        broadcast_locked(&blocked_or_ended); /* it runs no more (itself: when its thread ends) */
    }
    if (tcb != NULL) { /* task tracking sees the deletion in the TCB's free, as ESP-IDF's; told
                          here, where the handle is surely this task's, before its thread can
                          allocate again */
        sim_owner_task_gone(t, true);
    }
#ifdef CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS
    /* Now when its code runs no more (itself, or waiting: it ends when woken), as FreeRTOS's
     * prvDeleteTCB(); a task deleted while it runs calls them as it ends (end_thread_locked()),
     * as the chip's idle task does for one running on the other core. */
    tls_deletion_t tls;
    const bool tls_now = ends && (self || t->waiting_on != NULL) && take_tls_locked(t, &tls);
    t->in_callbacks = tls_now && !self;
#endif
    if (ends) {
        undo_wait_locked(t);
        if (t->counted) { /* gone for FreeRTOS once its memory is back, whenever its thread ends */
            tasks_being_freed++;
            recount = true;
        }
        uncount_locked(t);
    }
    fr_unlock();
    if (!ends) {
        ESP_LOGW(FR_TAG, "%s(\"%s\"): a thread not made by xTaskCreate*() ends only by deleting "
                         "itself: it goes on", fn, name);
    }
    if (leaks) {
        ESP_LOGW(FR_TAG, "%s(\"%s\"): made by xTask*WithCaps(): its stack and TCB stay allocated "
                         "(vTaskDeleteWithCaps frees them)", fn, name);
    }
#ifdef CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS
    if (tls_now) { /* before the memory goes, as FreeRTOS's prvDeleteTCB() */
        t_ending = self;
        call_tls_callbacks(&tls, name);
        if (!self) { /* its thread may end now */
            fr_lock();
            t->in_callbacks = false;
            pthread_cond_broadcast(&t->wake);
            fr_unlock();
        }
    }
#endif
    heap_caps_free(stack);
    vPortFree(tcb);
    vPortFree(helper_stack); /* the clean-up task deletes itself */
    vPortFree(helper_tcb);
    if (recount || self) {
        fr_lock();
        if (recount) {
            tasks_being_freed--;
        }
        if (helper_tcb != NULL) {
            tasks_being_freed--;
        }
        if (self) {
            end_thread_locked(t);
        }
        fr_unlock();
    }
}

void vTaskDelete(TaskHandle_t xTaskToDelete)
{
    delete_task(xTaskToDelete, false, __func__);
}

void vTaskDeleteWithCaps(TaskHandle_t xTaskToDelete)
{
    delete_task(xTaskToDelete, true, __func__);
}

/* ---- suspension -------------------------------------------------------------------------------- */

void vTaskSuspend(TaskHandle_t xTaskToSuspend)
{
    fr_task_call();
    if (xTaskToSuspend != NULL) {
        struct tskTaskControlBlock *t = lock_task(xTaskToSuspend, __func__);
        if (t == NULL) {
            return;
        }
        const bool idle = t->idle;
        fr_unlock();
        if (idle) { /* a static record: its name stays */
            FR_REFUSE("%s(\"%s\"): an idle task: refused (the chip's scheduler needs it)",
                      __func__, t->name);
            return;
        }
    }
    struct tskTaskControlBlock *self = fr_self();
    if (self == NULL) {
        return; /* the caller has no record and the host no memory for one */
    }
    if (xTaskToSuspend != NULL && xTaskToSuspend != self) {
        if (sim_in_isr()) {
            FR_REFUSE("%s: in an ISR: refused (the chip asserts)", __func__);
        } else { /* not counted: no misuse, the host's limit */
            ESP_LOGE(FR_TAG, "%s: another task: refused (not simulated: the host cannot stop a "
                             "thread where it is)", __func__);
        }
        return;
    }
    /* Suspending itself is a wait without end: refused as one (refused_waits) in an ISR, inside a
     * critical section or with the scheduler suspended, where the chip asserts (tasks.c's
     * configASSERT(uxSchedulerSuspended == 0) before the yield). */
    if (fr_refuse_wait("vTaskSuspend(NULL)", portMAX_DELAY)) {
        return;
    }
    fr_lock();
    end_if_deleted_locked();
    self->suspended = true;
    while (self->suspended) { /* on its own condition: vTaskDelete() ends it there */
        (void)fr_wait(&self->own, NULL, NULL, NULL, NULL);
    }
    fr_unlock();
}

/* True when t was suspended. */
static bool resume(TaskHandle_t task, const char *fn)
{
    if (task == NULL) {
        return false;
    }
    struct tskTaskControlBlock *t = lock_task(task, fn);
    if (t == NULL) {
        return false;
    }
    const bool was = t->suspended;
    if (was) {
        t->suspended = false;
        fr_wake_all_locked(&t->own);
    }
    fr_unlock();
    return was;
}

void vTaskResume(TaskHandle_t xTaskToResume)
{
    fr_task_call();
    (void)resume(xTaskToResume, __func__);
}

BaseType_t xTaskResumeFromISR(TaskHandle_t xTaskToResume)
{
    return resume(xTaskToResume, __func__) ? pdTRUE : pdFALSE;
}

/* fr_lock() held (not needed for the caller itself): the task's state. */
static eTaskState state_locked(const struct tskTaskControlBlock *t)
{
    return t == t_self       ? (t_ending ? eDeleted : eRunning) /* running: also the task a
                                                                   simulated ISR interrupted */
           : t->deleted      ? eDeleted
           : t->suspended    ? eSuspended
           : t->waiting_on != NULL || __atomic_load_n(&t->parked, __ATOMIC_ACQUIRE) ? eBlocked
                                                                                     : eReady;
}

eTaskState eTaskGetState(TaskHandle_t xTask)
{
    if (xTask == NULL) {
        FR_REFUSE("%s: no task: refused (the chip asserts)", __func__);
        return eInvalid;
    }
    if (xTask == t_self) { /* in its deletion callbacks: deleted, as on the chip, where the idle
                              task calls them */
        return t_ending ? eDeleted : eRunning;
    }
    fr_lock();
    /* a task whose record went with its thread: deleted (not a misuse here: polling a task's state
     * until eDeleted is how code waits for its end) */
    const eTaskState state = record_live_locked(xTask) ? state_locked(xTask) : eDeleted;
    fr_unlock();
    return state;
}

/* ---- time -------------------------------------------------------------------------------------- */

uint64_t fr_ticks(void)
{
    return (uint64_t)esp_timer_get_time() * configTICK_RATE_HZ / 1000000u;
}

TickType_t xTaskGetTickCount(void)
{
    return (TickType_t)fr_ticks();
}

TickType_t xTaskGetTickCountFromISR(void)
{
    return xTaskGetTickCount();
}

/* Sleeps until the deadline (NULL: portMAX_DELAY ticks, 497 days at 100 Hz: for ever), ending
 * the thread if its task is deleted meanwhile. */
static void sleep_until(const struct timespec *deadline)
{
    fr_lock();
    end_if_deleted_locked();
    struct tskTaskControlBlock *self = t_self;
    if (self == NULL) { /* no record (host out of memory): a plain sleep */
        fr_unlock();
        struct timespec far;
        if (deadline == NULL) {
            clock_gettime(CLOCK_MONOTONIC, &far);
            far.tv_sec += 497 * 24 * 3600;
            deadline = &far;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline, NULL) == EINTR) {
        }
        return;
    }
    /* In its own list: only xTaskAbortDelay() or its deletion wakes it before the deadline. */
    while (fr_wait(&self->own, deadline, NULL, NULL, NULL)) {
    }
    fr_unlock();
}

void vTaskDelay(const TickType_t xTicksToDelay)
{
    fr_task_call();
    if (fr_refuse_wait(__func__, xTicksToDelay)) {
        return;
    }
    (void)fr_self();
    if (xTicksToDelay == 0) {
        fr_lock();
        end_if_deleted_locked();
        fr_unlock();
        sched_yield();
        return;
    }
    struct timespec deadline;
    sleep_until(fr_deadline(xTicksToDelay, &deadline) ? &deadline : NULL);
}

BaseType_t xTaskDelayUntil(TickType_t *const pxPreviousWakeTime, const TickType_t xTimeIncrement)
{
    fr_task_call();
    if (pxPreviousWakeTime == NULL || fr_refuse_wait(__func__, 1)) {
        return pdFALSE;
    }
    (void)fr_self();
    const TickType_t now = xTaskGetTickCount();
    const TickType_t wake = *pxPreviousWakeTime + xTimeIncrement;
    /* FreeRTOS's test, wrap-around included: sleep only when wake lies ahead of now. */
    const bool ahead = (TickType_t)(wake - *pxPreviousWakeTime) > (TickType_t)(now - *pxPreviousWakeTime);
    *pxPreviousWakeTime = wake;
    if (!ahead) {
        fr_lock();
        end_if_deleted_locked();
        fr_unlock();
        return pdFALSE;
    }
    struct timespec deadline; /* from `now`: a tick that passed since does not move the wake */
    deadline_at_tick(now, wake - now, &deadline);
    sleep_until(&deadline);
    return pdTRUE;
}

/* ---- queries ----------------------------------------------------------------------------------- */

TaskHandle_t xTaskGetCurrentTaskHandle(void)
{
    return fr_self();
}

char *pcTaskGetName(TaskHandle_t xTaskToQuery)
{
    static char none[1];
    if (xTaskToQuery == NULL || xTaskToQuery == t_self) {
        /* the caller's: its record stays while it runs, so no lock (the heap task tracking asks
         * for it under its own lock, which the kernel's holder may want) */
        struct tskTaskControlBlock *self = fr_self();
        return self != NULL ? self->name : none;
    }
    struct tskTaskControlBlock *t = lock_task(xTaskToQuery, __func__);
    if (t == NULL) {
        return none;
    }
    fr_unlock();
    return t->name;
}

static UBaseType_t priority_of(TaskHandle_t task, const char *fn)
{
    struct tskTaskControlBlock *t = lock_task(task, fn);
    if (t == NULL) {
        return 0;
    }
    const UBaseType_t p = t->priority;
    fr_unlock();
    return p;
}

UBaseType_t uxTaskPriorityGetFromISR(const TaskHandle_t xTask)
{
    return priority_of(xTask, __func__);
}

UBaseType_t uxTaskPriorityGet(const TaskHandle_t xTask)
{
    return priority_of(xTask, __func__);
}

void vTaskPrioritySet(TaskHandle_t xTask, UBaseType_t uxNewPriority)
{
    if (uxNewPriority >= configMAX_PRIORITIES) { /* configASSERT before FreeRTOS's own clamp */
        FR_REFUSE("%s: priority %u >= configMAX_PRIORITIES: refused (the chip asserts)",
                  __func__, (unsigned)uxNewPriority);
        return;
    }
    struct tskTaskControlBlock *t = lock_task(xTask, __func__);
    if (t == NULL) {
        return;
    }
    if (t->idle) { /* a static record: its name stays */
        fr_unlock();
        FR_REFUSE("%s(\"%s\", %u): an idle task: refused (its priority stays 0)", __func__,
                  t->name, (unsigned)uxNewPriority);
        return;
    }
    t->priority = uxNewPriority;
    end_if_deleted_locked();
    fr_unlock();
}

BaseType_t xTaskGetCoreID(TaskHandle_t xTask)
{
    struct tskTaskControlBlock *t = lock_task(xTask, __func__);
    if (t == NULL) {
        return tskNO_AFFINITY;
    }
    const BaseType_t core = t->core;
    fr_unlock();
    return core;
}

BaseType_t xPortGetCoreID(void)
{
    const BaseType_t core = t_self != NULL ? t_self->core : tskNO_AFFINITY;
    return core == 1 ? 1 : 0;
}

/* A core the chip has (configASSERT(taskVALID_CORE_ID(core))); false, logged, for another. */
static bool valid_core(const char *fn, BaseType_t core)
{
    if (core >= 0 && core < configNUMBER_OF_CORES) {
        return true;
    }
    FR_REFUSE("%s(%d): no such core: refused (the chip asserts)", fn, (int)core);
    return false;
}

static TaskHandle_t idle_task(BaseType_t core)
{
    fr_lock();
    list_boot_locked();
    fr_unlock();
    return &idle_tasks[core];
}

TaskHandle_t xTaskGetIdleTaskHandleForCore(BaseType_t xCoreID)
{
    return valid_core(__func__, xCoreID) ? idle_task(xCoreID) : NULL;
}

TaskHandle_t xTaskGetIdleTaskHandle(void)
{
    return idle_task(xPortGetCoreID());
}

TaskHandle_t xTaskGetCurrentTaskHandleForCore(BaseType_t xCoreID)
{
    if (!valid_core(__func__, xCoreID)) {
        return NULL;
    }
    return xCoreID == xPortGetCoreID() ? xTaskGetCurrentTaskHandle() : idle_task(xCoreID);
}

BaseType_t xTaskGetStaticBuffers(TaskHandle_t xTask, StackType_t **ppuxStackBuffer,
                                 StaticTask_t **ppxTaskBuffer)
{
    if (ppuxStackBuffer == NULL || ppxTaskBuffer == NULL) {
        FR_REFUSE("%s: no place for the %s: refused (the chip asserts)", __func__,
                  ppuxStackBuffer == NULL ? "stack buffer" : "task buffer");
        return pdFALSE;
    }
    struct tskTaskControlBlock *t = lock_task(xTask, __func__);
    if (t == NULL) {
        return pdFALSE;
    }
    /* A WithCaps task is a static one on the chip (idf_additions.c): its blocks are its buffers.
     * The idle and timer tasks are static there too (boot_buffers): their stack is what
     * xTaskGetStackStart() gives, none before their thread runs (the idle tasks have none). */
    const bool has = t->buffer != NULL || (t->with_caps && t->tcb != NULL);
    if (has) {
        *ppuxStackBuffer = (StackType_t *)t->stack_area;
        *ppxTaskBuffer = t->buffer != NULL ? t->buffer : (StaticTask_t *)t->tcb;
    }
    fr_unlock();
    return has ? pdTRUE : pdFALSE;
}

UBaseType_t uxTaskGetNumberOfTasks(void)
{
    fr_lock();
    list_boot_locked(); /* counted from boot */
    UBaseType_t n = task_count + tasks_being_freed;
    fr_unlock();
    return n;
}

/* The painted bytes at the low end of the watched stack that were never written. Reads another
 * thread's stack while it runs: not instrumented (bytes of live frames, ASan redzones). */
static __attribute__((noinline, no_sanitize_address, no_sanitize_thread)) size_t
unwritten(uintptr_t low, uintptr_t high)
{
    const volatile uint8_t *p = (const volatile uint8_t *)low;
    size_t n = 0;
    while (low + n < high && p[n] == STACK_PAINT) {
        n++;
    }
    return n;
}

/* The task's stack bytes never written (not run yet: all of its depth). The stack is read
 * without the lock: only the bounds need it. */
static UBaseType_t high_water(const struct tskTaskControlBlock *t, bool locked)
{
    if (!locked) {
        fr_lock();
    }
    const uintptr_t low = t->watched_low, high = t->watched_high;
    const uint32_t depth = t->stack_bytes;
    if (!locked) {
        fr_unlock();
    }
    return high == 0 ? depth : (UBaseType_t)unwritten(low, high);
}

UBaseType_t uxTaskGetStackHighWaterMark(TaskHandle_t xTask)
{
    struct tskTaskControlBlock *t = lock_task(xTask, __func__);
    if (t == NULL) {
        return 0;
    }
    const UBaseType_t unused = high_water(t, true);
    fr_unlock();
    return unused;
}

/* ---- trace facility (CONFIG_FREERTOS_USE_TRACE_FACILITY) ------------------------------------- */

/* fr_lock() held. */
static void status_locked(const struct tskTaskControlBlock *t, TaskStatus_t *out,
                          bool stack_space, eTaskState state)
{
    *out = (TaskStatus_t){
        .xHandle = (TaskHandle_t)t,
        .pcTaskName = t->name,
        .xTaskNumber = t->number,
        .eCurrentState = state != eInvalid && t != t_self ? state : state_locked(t),
        .uxCurrentPriority = t->priority,
        .uxBasePriority = t->priority,
        .ulRunTimeCounter = (configRUN_TIME_COUNTER_TYPE)cpu_us_locked(t),
        .pxStackBase = (StackType_t *)t->stack_area,
        .usStackHighWaterMark = stack_space ? high_water(t, true) : 0,
#ifdef CONFIG_FREERTOS_VTASKLIST_INCLUDE_COREID
        .xCoreID = t->core,
#endif
    };
}

/* FreeRTOS's order: ready (and running) tasks from the highest priority down, then blocked, then
 * suspended ones. */
static int list_rank(const TaskStatus_t *s)
{
    return s->eCurrentState == eBlocked     ? configMAX_PRIORITIES
           : s->eCurrentState == eSuspended ? configMAX_PRIORITIES + 1
                                            : configMAX_PRIORITIES - 1 - (int)s->uxCurrentPriority;
}

/* fr_lock() held: uxTaskGetSystemState(). */
static UBaseType_t system_state_locked(TaskStatus_t *all, UBaseType_t size,
                                       configRUN_TIME_COUNTER_TYPE *total)
{
    list_boot_locked();
    if (all == NULL || size < task_count + tasks_being_freed) {
        return 0;
    }
    UBaseType_t n = 0;
    for (const struct tskTaskControlBlock *t = task_list; t != NULL; t = t->next) {
        if (t->counted) { /* as uxTaskGetNumberOfTasks(): not the idle tasks */
            TaskStatus_t s;
            status_locked(t, &s, true, eInvalid);
            const bool parked = __atomic_load_n(&t->parked, __ATOMIC_RELAXED);
            if (s.eCurrentState == eBlocked &&
                (t->notify_forever || (parked && t->waiting_on == NULL && t->parks_notified))) {
                s.eCurrentState = eSuspended; /* vTaskGetInfo() on the suspended list: no event */
            }
            UBaseType_t at = n++; /* insertion by rank: stable, a few tasks */
            while (at > 0 && list_rank(&all[at - 1]) > list_rank(&s)) {
                all[at] = all[at - 1];
                at--;
            }
            all[at] = s;
        }
    }
    if (total != NULL) {
        *total = (configRUN_TIME_COUNTER_TYPE)esp_timer_get_time();
    }
    return n;
}

/* A trace call in a simulated ISR: refused, logged (FreeRTOS suspends the scheduler there, which
 * asserts in an ISR). */
static bool refused_in_isr(const char *fn)
{
    if (sim_in_isr()) {
        FR_REFUSE("%s: in an ISR: refused (the chip asserts)", fn);
        return true;
    }
    return false;
}

UBaseType_t uxTaskGetSystemState(TaskStatus_t *const pxTaskStatusArray,
                                 const UBaseType_t uxArraySize,
                                 configRUN_TIME_COUNTER_TYPE *const pulTotalRunTime)
{
    fr_task_call();
    if (refused_in_isr(__func__)) {
        return 0;
    }
    fr_lock();
    const UBaseType_t n = system_state_locked(pxTaskStatusArray, uxArraySize, pulTotalRunTime);
    fr_unlock();
    return n;
}

void vTaskGetInfo(TaskHandle_t xTask, TaskStatus_t *pxTaskStatus, BaseType_t xGetFreeStackSpace,
                  eTaskState eState)
{
    fr_task_call();
    if (refused_in_isr(__func__)) {
        return;
    }
    if (pxTaskStatus == NULL) {
        FR_REFUSE("%s: no TaskStatus_t: refused (the chip crashes)", __func__);
        return;
    }
    struct tskTaskControlBlock *t = lock_task(xTask, __func__);
    if (t == NULL) {
        return; /* refused, or the caller has no record and the host no memory for one */
    }
    status_locked(t, pxTaskStatus, xGetFreeStackSpace != pdFALSE, eState);
    fr_unlock();
}

UBaseType_t uxTaskGetTaskNumber(TaskHandle_t xTask)
{
    struct tskTaskControlBlock *t = xTask != NULL ? lock_task(xTask, __func__) : NULL;
    if (t == NULL) {
        return 0;
    }
    const UBaseType_t number = __atomic_load_n(&t->trace_number, __ATOMIC_RELAXED);
    fr_unlock();
    return number;
}

void vTaskSetTaskNumber(TaskHandle_t xTask, const UBaseType_t uxHandle)
{
    struct tskTaskControlBlock *t = xTask != NULL ? lock_task(xTask, __func__) : NULL;
    if (t != NULL) {
        __atomic_store_n(&t->trace_number, uxHandle, __ATOMIC_RELAXED);
        fr_unlock();
    }
}

/* vTaskList's and vTaskGetRunTimeStats' table: the tasks' states from an array taken with
 * pvPortMalloc (internal RAM, freed at the end) as FreeRTOS takes it; "" when there is none. The
 * lock is held until the names are written: a task's name goes with it. */
static void write_table(char *buffer, bool run_time, const char *fn)
{
    if (refused_in_isr(fn)) {
        return;
    }
    if (buffer == NULL) {
        FR_REFUSE("%s: no buffer: refused (the chip crashes)", fn);
        return;
    }
    *buffer = '\0';
    const UBaseType_t tasks = uxTaskGetNumberOfTasks();
    TaskStatus_t *all = pvPortMalloc(tasks * sizeof *all);
    if (all == NULL) {
        return;
    }
    static const char state_char[] = {'X', 'R', 'B', 'S', 'D'}; /* eRunning..eDeleted */
    configRUN_TIME_COUNTER_TYPE total = 0;
    fr_lock();
    const UBaseType_t n = system_state_locked(all, tasks, &total);
    total /= 100u;
    for (UBaseType_t i = 0; i < n && (!run_time || total > 0); i++) {
        const TaskStatus_t *s = &all[i];
        buffer += sprintf(buffer, "%-*s", configMAX_TASK_NAME_LEN - 1, s->pcTaskName);
        if (run_time && s->ulRunTimeCounter / total > 0) {
            buffer += sprintf(buffer, "\t%u\t\t%u%%\r\n", (unsigned)s->ulRunTimeCounter,
                              (unsigned)(s->ulRunTimeCounter / total));
        } else if (run_time) {
            buffer += sprintf(buffer, "\t%u\t\t<1%%\r\n", (unsigned)s->ulRunTimeCounter);
        } else {
            buffer += sprintf(buffer, "\t%c\t%u\t%u\t%u", state_char[s->eCurrentState],
                              (unsigned)s->uxCurrentPriority, (unsigned)s->usStackHighWaterMark,
                              (unsigned)s->xTaskNumber);
#ifdef CONFIG_FREERTOS_VTASKLIST_INCLUDE_COREID
            buffer += sprintf(buffer, "\t%d", s->xCoreID == tskNO_AFFINITY ? -1 : (int)s->xCoreID);
#endif
            buffer += sprintf(buffer, "\r\n");
        }
    }
    fr_unlock();
    vPortFree(all);
}

void vTaskList(char *pcWriteBuffer)
{
    fr_task_call();
    write_table(pcWriteBuffer, false, __func__);
}

void vTaskGetRunTimeStats(char *pcWriteBuffer)
{
    fr_task_call();
    write_table(pcWriteBuffer, true, __func__);
}

StackType_t *xTaskGetStackStart(TaskHandle_t xTask)
{
    struct tskTaskControlBlock *t = lock_task(xTask, __func__); /* a boot task's thread sets it */
    if (t == NULL) {
        return NULL;
    }
    StackType_t *start = (StackType_t *)t->stack_area;
    fr_unlock();
    return start;
}

uint8_t *pxTaskGetStackStart(TaskHandle_t xTask)
{
    return xTaskGetStackStart(xTask);
}

TaskHandle_t xTaskGetHandle(const char *pcNameToQuery)
{
    fr_task_call();
    if (pcNameToQuery == NULL || strlen(pcNameToQuery) >= configMAX_TASK_NAME_LEN) {
        FR_REFUSE("%s: %s: refused (the chip asserts)", __func__,
                  pcNameToQuery == NULL ? "no name" : "a name of configMAX_TASK_NAME_LEN or more");
        return NULL;
    }
    fr_lock();
    list_boot_locked(); /* the boot tasks are there from boot */
    struct tskTaskControlBlock *t = task_list;
    while (t != NULL && strncmp(t->name, pcNameToQuery, configMAX_TASK_NAME_LEN) != 0) {
        t = t->next;
    }
    fr_unlock();
    return t;
}

BaseType_t xTaskAbortDelay(TaskHandle_t xTask)
{
    fr_task_call();
    if (xTask == NULL) {
        FR_REFUSE("%s: no task: refused (the chip asserts)", __func__);
        return pdFAIL;
    }
    struct tskTaskControlBlock *t = lock_task(xTask, __func__);
    if (t == NULL) {
        return pdFAIL;
    }
    /* eBlocked: waiting with or without a timeout, not suspended (lock_task() refused a deleted
     * task); a task already woken is ready, as on the chip. */
    const bool blocked = t->waiting_on != NULL && !t->suspended;
    if (blocked) {
        t->wait_aborted = true;
        (void)fr_wake_task_locked(t);
    }
    fr_unlock();
    return blocked ? pdPASS : pdFAIL;
}

BaseType_t xPortInIsrContext(void)
{
    return sim_in_isr() ? pdTRUE : pdFALSE;
}

BaseType_t xPortInterruptedFromISRContext(void)
{
    return sim_isr_depth() >= 2 ? pdTRUE : pdFALSE;
}

void vPortYield(void)
{
    sched_yield();
}

/* ---- notifications ----------------------------------------------------------------------------- */

/* A notification index out of range is refused (FreeRTOS asserts). */
static bool valid_index(UBaseType_t index, const char *fn)
{
    if (index < configTASK_NOTIFICATION_ARRAY_ENTRIES) {
        return true;
    }
    FR_REFUSE("%s: index %u of %u notification values: refused (the chip asserts)", fn,
              (unsigned)index, (unsigned)configTASK_NOTIFICATION_ARRAY_ENTRIES);
    return false;
}

/* fr_lock() held. */
static BaseType_t notify_locked(struct tskTaskControlBlock *t, UBaseType_t i, uint32_t value,
                                eNotifyAction action, uint32_t *previous, bool *woke)
{
    if (previous != NULL) {
        *previous = t->notify_value[i];
    }
    const bool was_pending = t->notify_pending[i];
    switch (action) {
    case eSetBits:
        t->notify_value[i] |= value;
        break;
    case eIncrement:
        t->notify_value[i]++;
        break;
    case eSetValueWithOverwrite:
        t->notify_value[i] = value;
        break;
    case eSetValueWithoutOverwrite:
        if (was_pending) {
            return pdFAIL;
        }
        t->notify_value[i] = value;
        break;
    case eNoAction:
    default:
        break;
    }
    t->notify_pending[i] = true;
    *woke = t->notify_awaited == i + 1;
    if (*woke) {
        fr_wake_all_locked(&t->own);
    }
    return pdPASS;
}

/* from_isr: a FromISR call, which does not end a deleted caller; *woken (when not NULL) is set
 * when it woke the task. */
static BaseType_t notify(TaskHandle_t task, UBaseType_t index, uint32_t value, eNotifyAction action,
                         uint32_t *previous, bool from_isr, BaseType_t *woken, const char *fn)
{
    fr_task_call();
    if (task == NULL) {
        FR_REFUSE("%s: no task: refused (the chip asserts)", fn);
        return pdFAIL;
    }
    if (!valid_index(index, fn)) {
        return pdFAIL;
    }
    if ((unsigned)action > (unsigned)eSetValueWithoutOverwrite) {
        FR_REFUSE("%s: action %d: refused (the chip asserts)", fn, (int)action);
        return pdFAIL;
    }
    bool woke = false;
    struct tskTaskControlBlock *t = lock_task(task, fn);
    if (t == NULL) {
        return pdFAIL;
    }
    BaseType_t r = notify_locked(t, index, value, action, previous, &woke);
    woke = woke && fr_task_outranks_caller_locked(t);
    if (!from_isr) {
        end_if_deleted_locked();
    }
    fr_unlock();
    if (woken != NULL && woke) {
        *woken = pdTRUE;
    }
    return r;
}

BaseType_t xTaskGenericNotify(TaskHandle_t xTaskToNotify, UBaseType_t uxIndexToNotify,
                              uint32_t ulValue, eNotifyAction eAction,
                              uint32_t *pulPreviousNotificationValue)
{
    return notify(xTaskToNotify, uxIndexToNotify, ulValue, eAction, pulPreviousNotificationValue,
                  false, NULL, __func__);
}

BaseType_t xTaskGenericNotifyFromISR(TaskHandle_t xTaskToNotify, UBaseType_t uxIndexToNotify,
                                     uint32_t ulValue, eNotifyAction eAction,
                                     uint32_t *pulPreviousNotificationValue,
                                     BaseType_t *pxHigherPriorityTaskWoken)
{
    return notify(xTaskToNotify, uxIndexToNotify, ulValue, eAction, pulPreviousNotificationValue,
                  true, pxHigherPriorityTaskWoken, __func__);
}

void vTaskGenericNotifyGiveFromISR(TaskHandle_t xTaskToNotify, UBaseType_t uxIndexToNotify,
                                   BaseType_t *pxHigherPriorityTaskWoken)
{
    (void)notify(xTaskToNotify, uxIndexToNotify, 0, eIncrement, NULL, true,
                 pxHigherPriorityTaskWoken, __func__);
}

/* The caller's record for a notification wait on index i, or NULL when refused. */
static struct tskTaskControlBlock *notify_waiter(UBaseType_t i, TickType_t ticks, const char *fn)
{
    fr_task_call();
    if (!valid_index(i, fn) || fr_refuse_wait(fn, ticks)) {
        return NULL;
    }
    if (sim_in_isr()) {
        FR_REFUSE("%s: in an ISR: refused (the chip asserts)", fn);
        return NULL;
    }
    return fr_self();
}

uint32_t ulTaskGenericNotifyTake(UBaseType_t uxIndexToWaitOn, BaseType_t xClearCountOnExit,
                                 TickType_t xTicksToWait)
{
    const UBaseType_t i = uxIndexToWaitOn;
    struct tskTaskControlBlock *self = notify_waiter(i, xTicksToWait, __func__);
    if (self == NULL) {
        return 0;
    }
    struct timespec deadline;
    const bool timed = fr_deadline(xTicksToWait, &deadline);
    fr_lock();
    end_if_deleted_locked();
    if (self->notify_value[i] == 0 && xTicksToWait != 0) {
        /* As FreeRTOS: any notification ends the wait, also one that leaves the value at 0. */
        self->notify_pending[i] = false;
        self->notify_awaited = (uint8_t)(i + 1);
        while (!self->notify_pending[i] &&
               fr_wait_notified(&self->own, timed ? &deadline : NULL, NULL, NULL, NULL)) {
        }
        self->notify_awaited = 0;
    }
    const uint32_t value = self->notify_value[i];
    if (value != 0) {
        self->notify_value[i] = xClearCountOnExit != pdFALSE ? 0 : value - 1;
    }
    self->notify_pending[i] = false;
    fr_unlock();
    return value;
}

BaseType_t xTaskGenericNotifyWait(UBaseType_t uxIndexToWaitOn, uint32_t ulBitsToClearOnEntry,
                                  uint32_t ulBitsToClearOnExit, uint32_t *pulNotificationValue,
                                  TickType_t xTicksToWait)
{
    const UBaseType_t i = uxIndexToWaitOn;
    struct tskTaskControlBlock *self = notify_waiter(i, xTicksToWait, __func__);
    if (self == NULL) {
        return pdFALSE;
    }
    struct timespec deadline;
    const bool timed = fr_deadline(xTicksToWait, &deadline);
    fr_lock();
    end_if_deleted_locked();
    if (!self->notify_pending[i]) {
        self->notify_value[i] &= ~ulBitsToClearOnEntry;
    }
    self->notify_awaited = (uint8_t)(i + 1);
    while (!self->notify_pending[i] && xTicksToWait != 0 &&
           fr_wait_notified(&self->own, timed ? &deadline : NULL, NULL, NULL, NULL)) {
    }
    self->notify_awaited = 0;
    if (pulNotificationValue != NULL) {
        *pulNotificationValue = self->notify_value[i];
    }
    const bool came = self->notify_pending[i];
    if (came) {
        self->notify_value[i] &= ~ulBitsToClearOnExit;
    }
    self->notify_pending[i] = false;
    fr_unlock();
    return came ? pdTRUE : pdFALSE;
}

/* The record of xTask (NULL: the caller's) for a call on its notification index i, fr_lock()
 * held; NULL (not held) when refused. */
static struct tskTaskControlBlock *notified_task(TaskHandle_t task, UBaseType_t i, const char *fn)
{
    fr_task_call();
    return valid_index(i, fn) ? lock_task(task, fn) : NULL;
}

BaseType_t xTaskGenericNotifyStateClear(TaskHandle_t xTask, UBaseType_t uxIndexToClear)
{
    struct tskTaskControlBlock *t = notified_task(xTask, uxIndexToClear, __func__);
    if (t == NULL) {
        return pdFAIL;
    }
    const bool was_pending = t->notify_pending[uxIndexToClear];
    t->notify_pending[uxIndexToClear] = false;
    fr_unlock();
    return was_pending ? pdPASS : pdFAIL;
}

uint32_t ulTaskGenericNotifyValueClear(TaskHandle_t xTask, UBaseType_t uxIndexToClear,
                                       uint32_t ulBitsToClear)
{
    struct tskTaskControlBlock *t = notified_task(xTask, uxIndexToClear, __func__);
    if (t == NULL) {
        return 0;
    }
    const uint32_t value = t->notify_value[uxIndexToClear];
    t->notify_value[uxIndexToClear] = value & ~ulBitsToClear;
    fr_unlock();
    return value;
}

/* ---- the application task tag ------------------------------------------------------------------ */

#ifdef CONFIG_FREERTOS_USE_APPLICATION_TASK_TAG
static TaskHookFunction_t tag_of(TaskHandle_t task, const char *fn)
{
    struct tskTaskControlBlock *t = lock_task(task, fn);
    TaskHookFunction_t tag = NULL;
    if (t != NULL) {
        tag = t->tag;
        fr_unlock();
    }
    return tag;
}

void vTaskSetApplicationTaskTag(TaskHandle_t xTask, TaskHookFunction_t pxHookFunction)
{
    struct tskTaskControlBlock *t = lock_task(xTask, __func__);
    if (t != NULL) {
        t->tag = pxHookFunction;
        fr_unlock();
    }
}

TaskHookFunction_t xTaskGetApplicationTaskTag(TaskHandle_t xTask)
{
    return tag_of(xTask, __func__);
}

TaskHookFunction_t xTaskGetApplicationTaskTagFromISR(TaskHandle_t xTask)
{
    return tag_of(xTask, __func__);
}

BaseType_t xTaskCallApplicationTaskHook(TaskHandle_t xTask, void *pvParameter)
{
    TaskHookFunction_t tag = tag_of(xTask, __func__);
    return tag != NULL ? tag(pvParameter) : pdFAIL;
}
#endif

/* ---- the scheduler and timeouts ---------------------------------------------------------------- */

void vTaskSuspendAll(void)
{
    if (refused_in_isr(__func__)) {
        return;
    }
    t_scheduler_suspended++;
}

BaseType_t xTaskResumeAll(void)
{
    if (refused_in_isr(__func__)) {
        return pdFALSE;
    }
    if (t_scheduler_suspended == 0) {
        FR_REFUSE("%s: the scheduler is not suspended by this task: refused (the chip "
                  "asserts)", __func__);
        return pdFALSE;
    }
    t_scheduler_suspended--;
    return pdFALSE;
}

bool sim_scheduler_suspended(void)
{
    return t_scheduler_suspended != 0;
}

BaseType_t xTaskGetSchedulerState(void)
{
    return t_scheduler_suspended != 0 ? taskSCHEDULER_SUSPENDED : taskSCHEDULER_RUNNING;
}

/* The ticks since the simulated boot, as FreeRTOS's tick count and its overflows. */
static void now_as_time_out(TimeOut_t *out)
{
    const uint64_t ticks = fr_ticks();
    out->xOverflowCount = (BaseType_t)(ticks >> 32);
    out->xTimeOnEntering = (TickType_t)ticks;
}

void vTaskSetTimeOutState(TimeOut_t *const pxTimeOut)
{
    if (pxTimeOut == NULL) {
        FR_REFUSE("%s: no TimeOut_t: refused (the chip asserts)", __func__);
        return;
    }
    now_as_time_out(pxTimeOut);
}

void vTaskInternalSetTimeOutState(TimeOut_t *const pxTimeOut)
{
    vTaskSetTimeOutState(pxTimeOut);
}

BaseType_t xTaskCheckForTimeOut(TimeOut_t *const pxTimeOut, TickType_t *const pxTicksToWait)
{
    if (pxTimeOut == NULL || pxTicksToWait == NULL) {
        FR_REFUSE("%s: no %s: refused (the chip asserts)", __func__,
                  pxTimeOut == NULL ? "TimeOut_t" : "ticks to wait");
        return pdTRUE;
    }
    if (*pxTicksToWait == portMAX_DELAY) {
        return pdFALSE;
    }
    TimeOut_t now;
    now_as_time_out(&now);
    const TickType_t passed = now.xTimeOnEntering - pxTimeOut->xTimeOnEntering; /* mod 2^32 */
    /* As FreeRTOS: the count has wrapped since and come back past the start: a whole wrap. */
    const bool wrapped_past = now.xOverflowCount != pxTimeOut->xOverflowCount &&
                              now.xTimeOnEntering >= pxTimeOut->xTimeOnEntering;
    if (wrapped_past || passed >= *pxTicksToWait) {
        *pxTicksToWait = 0;
        return pdTRUE;
    }
    *pxTicksToWait -= passed;
    *pxTimeOut = now;
    return pdFALSE;
}

/* ---- memory ------------------------------------------------------------------------------------ */

void *pvPortMalloc(size_t xWantedSize)
{
    return heap_caps_malloc(xWantedSize, FREERTOS_CAPS);
}

void vPortFree(void *pv)
{
    sim_free(pv, "heap_caps_free", __builtin_return_address(0)); /* heap_caps_free() on the chip */
}

size_t xPortGetFreeHeapSize(void)
{
    return heap_caps_get_free_size(FREERTOS_CAPS);
}

size_t xPortGetMinimumEverFreeHeapSize(void)
{
    return heap_caps_get_minimum_free_size(FREERTOS_CAPS);
}

/* ---- critical sections ------------------------------------------------------------------------- */

static _Thread_local char t_identity; /* its address tells the threads apart */

void spinlock_initialize(portMUX_TYPE *lock)
{
    __atomic_store_n(&lock->owner, 0, __ATOMIC_RELAXED);
    lock->count = 0;
}

void vPortEnterCritical(portMUX_TYPE *mux)
{
    const uintptr_t me = (uintptr_t)&t_identity;
    t_critical++;
    if (__atomic_load_n(&mux->owner, __ATOMIC_RELAXED) == me) {
        mux->count++;
        return;
    }
    unsigned spins = 0;
    uintptr_t expected = 0;
    while (!__atomic_compare_exchange_n(&mux->owner, &expected, me, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
        expected = 0;
        if (++spins % 64 == 0) {
            sched_yield(); /* the holder may be a thread the host has not scheduled */
        }
    }
    mux->count = 1;
}

void vPortExitCritical(portMUX_TYPE *mux)
{
    if (__atomic_load_n(&mux->owner, __ATOMIC_RELAXED) != (uintptr_t)&t_identity) {
        FR_REFUSE("portEXIT_CRITICAL(%p) by a task that does not hold it: refused (the "
                  "chip aborts)", (void *)mux);
        return;
    }
    t_critical--;
    if (--mux->count == 0) {
        __atomic_store_n(&mux->owner, 0, __ATOMIC_RELEASE);
    }
    if (t_critical == 0) {
        fr_task_call(); /* deleted meanwhile: it ends now */
    }
}

/* taskENTER_CRITICAL_FROM_ISR()s of this thread not undone yet (each counts in t_critical). */
static _Thread_local UBaseType_t t_masked;

UBaseType_t xPortSetInterruptMaskFromISR(void)
{
    t_critical++;
    return t_masked++;
}

void vPortClearInterruptMaskFromISR(UBaseType_t prev_level)
{
    if (prev_level >= t_masked) {
        FR_REFUSE("taskEXIT_CRITICAL_FROM_ISR(%u): not a value a taskENTER_CRITICAL_FROM_ISR() "
                  "of this task returned (%u not undone): refused", (unsigned)prev_level,
                  (unsigned)t_masked);
        return;
    }
    t_critical -= (uint32_t)(t_masked - prev_level);
    t_masked = prev_level;
    if (t_critical == 0) {
        fr_task_call(); /* deleted meanwhile: it ends now */
    }
}

void kraken_freertos_assert_failed(const char *file, int line, const char *func, const char *expr)
{
    fprintf(stderr, "assert failed: %s %s:%d (%s)\n", func, file, line, expr);
    abort();
}
