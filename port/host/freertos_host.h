/*
 * freertos_host.h - what the host FreeRTOS's task part (freertos_host.c) gives its queue part
 * (freertos_host_queue.c). Not a public header.
 */
#ifndef FREERTOS_HOST_H
#define FREERTOS_HOST_H

#include <stdbool.h>
#include <time.h>

#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/task.h"
#include "sim_internal.h"

/* One lock, as FreeRTOS's kernel lock: every task record and every queue is read and written under
 * it. Never held across a heap call or a log line (allocation hooks and log hooks may call into
 * FreeRTOS). */
void fr_lock(void);
void fr_unlock(void);
/* fr_lock() for any call: a task deleted by another ends here instead (a simulated ISR does
 * not end the task it interrupted: there it is fr_lock()). */
void fr_enter(void);

/* First thing in a call that takes a kernel object or may block or notify: a task deleted by
 * another ends here, before it touches anything (the object may be gone with it). Not in an ISR;
 * fr_lock() not held. */
void fr_task_call(void);

/* The ticks since the simulated boot, not wrapped (xTaskGetTickCount() is its low 32 bits). */
uint64_t fr_ticks(void);

/* The absolute deadline of a wait of `ticks` from now (at a tick, as on the chip); false for
 * portMAX_DELAY (no deadline). */
bool fr_deadline(TickType_t ticks, struct timespec *out);

/* The tasks waiting on one side of a kernel object (a queue's items, its room, ...), in FreeRTOS's
 * order for its event lists: the highest priority first, first come first among equals (the
 * priority when the wait began). Zero-initialised: empty. */
typedef struct {
    struct tskTaskControlBlock *first;
} fr_waiters_t;

/* fr_lock() held, by a task (not an ISR): waits in `on` until a wake below takes it off (or
 * xTaskAbortDelay(), or its deletion) or the deadline (NULL: none), counted in *waiting (when
 * not NULL) meanwhile; false on timeout or abort. Listed blocked until woken: a woken task is
 * ready at once, as on the chip, though its thread runs later (it then looks at what it waited
 * for again). A task deleted meanwhile ends here: uncounted, after cleanup(arg) (when not NULL)
 * with the lock held. A thread with no task record (one that never asked for its handle, or the
 * host out of memory) waits unlisted and wakes at every wake of any object. */
bool fr_wait(fr_waiters_t *on, const struct timespec *deadline, uint32_t *waiting,
             void (*cleanup)(void *arg), void *arg);

/* fr_wait() for a wait that is a notification wait on the chip (a stream buffer's): one without a
 * deadline is listed suspended, as FreeRTOS files it (uxTaskGetSystemState(), vTaskList()). */
bool fr_wait_notified(fr_waiters_t *on, const struct timespec *deadline, uint32_t *waiting,
                      void (*cleanup)(void *arg), void *arg);

/* fr_lock() held: wakes the first task of `w` (as xTaskRemoveFromEventList()); false when none
 * waits. O(1). */
bool fr_wake_one_locked(fr_waiters_t *w);

/* fr_lock() held: wakes every task of `w`. O(tasks woken). */
void fr_wake_all_locked(fr_waiters_t *w);

/* fr_lock() held: wakes `task` when it waits (in any list); false when it does not. NULL wakes
 * the threads with no task record. O(tasks in its list). */
bool fr_wake_task_locked(TaskHandle_t task);

/* The calling thread's task record, or NULL (not yet made, or the host out of memory): never
 * makes one. */
TaskHandle_t fr_current(void);

/* fr_lock() held: whether a FromISR call that wakes the first task of `w` (which the caller knows
 * waits) asks for a yield, as FreeRTOS's xTaskRemoveFromEventList() answers: that task's priority
 * above the interrupted one's (the caller's task; a thread with no record: 0). No task listed in
 * `w`: true only while a thread with no record waits (unlisted, it counts as above); a task
 * counted by the caller but off the list (woken, its wait aborted) is none, as on the chip. The
 * chip compares with the task running on the core the woken one may run on; the host with the
 * interrupted task whatever the woken one's core. O(1). */
bool fr_first_outranks_caller_locked(const fr_waiters_t *w);

/* fr_lock() held: the same for waking `task` (a notification, the timer task). O(1). */
bool fr_task_outranks_caller_locked(TaskHandle_t task);

/* The calling thread's task record, made on first use for a thread not made by xTaskCreate*();
 * NULL only when the host is out of memory. fr_lock() not held. */
TaskHandle_t fr_self(void);

/* `task`, or the calling task's record for NULL (FreeRTOS's "NULL means the caller"). As fr_self(). */
TaskHandle_t fr_or_self(TaskHandle_t task);

/* The chip's boot tasks the host runs as threads: records listed and counted from boot
 * (uxTaskGetNumberOfTasks(), uxTaskGetSystemState(), vTaskList()) with the chip's names,
 * priorities, cores and depths, whether or not their thread has started. */
typedef enum {
    FR_TIMER_TASK,     /* FreeRTOS's timer task (freertos_host_timers.c) */
    FR_ESP_TIMER_TASK, /* ESP-IDF's esp_timer task (esp_host_timer.c) */
    FR_SERVICES
} fr_service_t;

/* Makes the calling thread, not made by xTaskCreate*(), the service task `which` (once, from its
 * thread's start): its stack is measured from here down against the task's depth, its run time
 * from here on. fr_lock() not held. */
TaskHandle_t fr_service_task(fr_service_t which);

/* The service task waits for work outside fr_wait() (true), or works (false): listed blocked, or
 * suspended for a task the chip has waiting for a notification without end. Any lock may be
 * held. */
void fr_service_parked(fr_service_t which, bool parked);

/* True, after logging "<fn>: ..." and counting it (kraken_sim_stats_t.refused_waits), when ticks
 * != 0 and the caller is a simulated ISR (the chip asserts) or holds a critical section (the chip
 * cannot block there: interrupts are off on its core). */
bool fr_refuse_wait(const char *fn, TickType_t ticks);

/* fr_lock() held: a ring buffer (freertos_host_ringbuf.c) joins (change 1) or leaves (-1) the
 * members of `set`, so that the set is not deleted while the buffer would post into it. False,
 * nothing changed, when `set` is no live queue set. */
bool fr_queue_set_members_locked(QueueSetHandle_t set, int change);

/* fr_lock() held: true when the queue set `set` holds member's handle (an item or give arrived
 * there, not yet selected): deleting the member then would leave the set a dangling handle.
 * O(items in the set). */
bool fr_queue_set_holds_locked(QueueSetHandle_t set, const void *member);

/* The kinds of kernel object whose handles freertos_host_handles.c knows. */
typedef enum {
    FR_QUEUE = 1, /* queues, semaphores, mutexes and queue sets */
    FR_EVENT_GROUP,
    FR_STREAM_BUFFER, /* and message buffers */
    FR_RINGBUF,
    FR_TIMER,
    FR_TASK, /* a task record, from its making until its memory goes (after its delete) */
} fr_kind_t;

/* A new object's handle joins the live ones; false, nothing changed, when the host is out of
 * memory (the creation then fails as out of memory). fr_lock() not held. O(log n). */
bool fr_handle_add(const void *handle, fr_kind_t kind);

/* fr_lock() held: the handle leaves the live ones (its object is being deleted); nothing for a
 * handle that is not there. O(log n). */
void fr_handle_remove_locked(const void *handle);

/* fr_lock() held: true when handle names a live object of `kind`; compared, never read.
 * O(log n). */
bool fr_handle_live_locked(const void *handle, fr_kind_t kind);

/* fr_lock() held, by a task about to delete `object` (of `kind`), whose waits are counted in *a
 * and *b: lets the tasks woken from those waits (or aborted there) and not blocked since, the
 * caller apart, run first when they would have preempted the caller on the chip. There a task
 * woken with a priority above the caller's, able to run on the caller's core (unpinned, or pinned
 * to the caller's when the caller is pinned), runs before the caller's next line, until it blocks
 * or ends; here its thread may not have run yet, or be still working. Waits (the lock released
 * meanwhile) until each such task has blocked or ended, then looks again. Returns at once when a
 * woken task would not have preempted the caller (the caller's checks then refuse the delete
 * while that task is counted), in an ISR, in a critical section or with the scheduler suspended
 * (no preemption there). Bounded at 0.5 s in all (a woken task blocked outside FreeRTOS calls).
 * A caller deleted meanwhile ends here. The object may be gone on return (another task deleted
 * it): the caller looks again. O(tasks) a look. */
void fr_let_woken_run_locked(const void *object, fr_kind_t kind, const uint32_t *a,
                             const uint32_t *b);

/* A static create's look at its buffer (not NULL), whose first word is the host record of what
 * was made on it before (or garbage, or 0): true, after FR_REFUSE, when that names a live object
 * of `kind` whose buffer (buffer_of(record)) is this one. FreeRTOS would re-initialise the live
 * object under its handle (its waiters, a pending timer command) where the host would make a
 * second object. fr_lock() not held. O(log n). */
bool fr_refuse_live_buffer(const char *fn, const void *buffer, const void *record, fr_kind_t kind,
                           const void *(*buffer_of)(const void *record));

/* True, after FR_REFUSE ("<fn>(<handle>): no live <kind> (deleted, or never one): refused"), when
 * handle is not NULL and names no live object of `kind`; false for NULL (each call refuses NULL
 * its own way). A first look only: the call reads the object after fr_enter_live(). Looks in
 * fr_enter(), so a task deleted by another ends here. fr_lock() not held. */
bool fr_refuse_dangling(const char *fn, const void *handle, fr_kind_t kind);

/* fr_enter() (fr_lock() for a FromISR call, isr: it does not end its caller), then true with
 * the lock held when handle names a live object of `kind`; else unlocks, refuses as
 * fr_refuse_dangling() and answers false. Whatever the call reads behind the handle is read in
 * this hold: once the lock goes, another task may free the object (also the task that just
 * deleted the caller, which ends here instead). handle not NULL. O(log n). */
bool fr_enter_live(const char *fn, const void *handle, fr_kind_t kind, bool isr);

/* FR_REFUSE's line for a handle that names no live object of `kind` (the check was the caller's):
 * "<fn>(<handle>): no live <kind> (deleted, or never one): refused". fr_lock() not held. */
void fr_refuse_dead(const char *fn, const void *handle, fr_kind_t kind);

#define FR_TAG "freertos"

/* Logs a misuse the host refuses (the chip asserts, aborts or crashes): "<fn>: <why>: refused
 * (...)", and counts it once (kraken_sim_stats_t.refused_calls). Every refusal but a wait's
 * (fr_refuse_wait: refused_waits only) and what the host does not simulate goes through it.
 * Arguments as ESP_LOGE's after the tag. fr_lock() not held. */
#define FR_REFUSE(...)                                                                             \
    do {                                                                                           \
        ESP_LOGE(FR_TAG, __VA_ARGS__);                                                             \
        sim_count_refused_call();                                                                  \
    } while (0)

#endif /* FREERTOS_HOST_H */
