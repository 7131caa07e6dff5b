/*
 * system_service/event_bus.h - services post events; subscribers receive them; the payload lives in
 * a memory pool block from post to the end of delivery.
 *
 * Guarantees
 *   - One copy: the payload is copied once at post into the smallest pool class that fits (payloads
 *     up to CONFIG_SYSTEM_SERVICE_EVENT_INLINE_DATA_SIZE bytes live inside the event record). Every
 *     subscriber gets the same data pointer; the block goes back to its pool once the last
 *     subscriber has returned: together with those of the other events dispatched in the same run
 *     (at most 16), or after its own event when a handler posts a pool payload, a post waits for
 *     the class or a post has found it empty (then for the rest of the run: a post that cannot
 *     wait, from an ISR or a handler or with timeout 0, can miss a block once per run in a class
 *     run dry while the run holds delivered ones). No heap call per event:
 *     event records sit in static per-priority rings and subscriptions in a static table (sizes
 *     from Kconfig). Payloads above the largest pool class go to the heap (counted) or are rejected,
 *     per CONFIG_SYSTEM_SERVICE_EVENT_OVERSIZE ("oversize" below: above both the largest class and
 *     the inline size, which a Kconfig may set above a small table's largest class).
 *   - Order: higher priority first; FIFO within a priority (per dispatcher; see dispatch_pending).
 *     The order among the subscribers of one event is unspecified.
 *   - Back-pressure is explicit and counted, never silent: each priority has its own bounded lane;
 *     a post to a full lane waits up to its timeout and fails with ESP_ERR_TIMEOUT; posts from
 *     handlers and ISRs never wait. CRITICAL has its own lane and a reserve of pool blocks that
 *     lower priorities cannot take (CONFIG_SYSTEM_SERVICE_EVENT_CRITICAL_RESERVE_BLOCKS). Every
 *     failed post frees what it took and is counted in its lane's `dropped[reason]`.
 *   - The bus starts by itself on first use (Kconfig mode, thread-safe); system_event_bus_init()
 *     chooses the mode and lane sizes; system_event_bus_deinit() returns every block to its pool.
 *     A call that finds another task starting the bus waits for that start (in 1 ms steps; it
 *     creates the dispatcher task at most): "never blocks" and "0: never" below mean apart from
 *     that.
 *
 * Context words (docs/DESIGN.md): "task" = from a task only,
 * "isr-ok" = also from an interrupt handler, never blocks (from an ESP_INTR_FLAG_IRAM one only
 * system_event_post_from_isr(), and only with CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM); "may block" =
 * may wait for another task.
 * Handlers run in the dispatcher task (task mode) or in the caller of
 * system_event_dispatch_pending() (manual mode); they may post, subscribe and unsubscribe.
 */
#ifndef SYSTEM_SERVICE_EVENT_BUS_H
#define SYSTEM_SERVICE_EVENT_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- identities -------------------------------------------------------------------------------- */

/** A service, from system_service_register() (or any value the firmware fixes; names are optional). */
typedef uint16_t system_service_id_t;
/** An event type, chosen by the posting service. */
typedef uint32_t system_event_type_t;

/** Wildcards for system_event_subscribe(); not valid as the source or type of a post. */
#define SYSTEM_SERVICE_ID_ANY ((system_service_id_t)0xFFFFu)
#define SYSTEM_EVENT_TYPE_ANY ((system_event_type_t)0xFFFFFFFFu)

typedef enum {
    SYSTEM_EVENT_PRIORITY_LOW = 0,
    SYSTEM_EVENT_PRIORITY_NORMAL = 1,
    SYSTEM_EVENT_PRIORITY_HIGH = 2,
    SYSTEM_EVENT_PRIORITY_CRITICAL = 3,
} system_event_priority_t;
#define SYSTEM_EVENT_PRIORITY_COUNT 4

/** What a handler receives. `data` (NULL when size is 0) is valid until the handler returns and is
 *  shared by every subscriber of the event: do not modify it. */
typedef struct {
    system_service_id_t source;       /**< posting service */
    system_event_type_t type;         /**< event type */
    system_event_priority_t priority; /**< lane it travelled in */
    const void *data;                 /**< payload copy, aligned to 8 bytes */
    size_t size;                      /**< payload bytes */
    uint32_t seq;                     /**< bus-wide sequence number in post order, from 0 at each
                                           start; it wraps after 2^32 posts (compare as
                                           (int32_t)(a - b)) */
    /** esp_timer_get_time() when the post was called (a pool payload's post reads it just after
     *  copying the payload): a post that waited for room or for a block keeps it, so its latency
     *  includes the wait and a later seq may carry an earlier time */
    int64_t timestamp_us;
    bool from_isr;                    /**< posted with system_event_post_from_isr() */
} system_event_t;

typedef void (*system_event_handler_t)(const system_event_t *event, void *ctx);

/** A subscription. Opaque: compare with nothing, only pass it back. A zero value is no subscription. */
typedef struct {
    uint64_t opaque_;
} system_event_subscription_t;

/** Timeout that never expires, for system_event_post_with_timeout(). */
#define SYSTEM_EVENT_WAIT_FOREVER UINT32_MAX
/** max_events value for system_event_dispatch_pending(): until the lanes are empty. */
#define SYSTEM_EVENT_DISPATCH_ALL UINT32_MAX

/* ---- services -------------------------------------------------------------------------------- */

/** Register a service name and get its id; registering a name again returns the same id.
 *  Ids are dense from 0. Starts the bus if needed.
 *  ESP_OK; ESP_ERR_INVALID_ARG (NULL name or out_id, empty name); ESP_ERR_INVALID_SIZE (name of
 *  CONFIG_SYSTEM_SERVICE_EVENT_SERVICE_NAME_LEN bytes or more); ESP_ERR_NO_MEM (table full,
 *  CONFIG_SYSTEM_SERVICE_EVENT_MAX_SERVICES); ESP_ERR_INVALID_STATE (ISR, deinit in progress) or
 *  the error of a failed start. task, never blocks; O(services x name length). */
esp_err_t system_service_register(const char *name, system_service_id_t *out_id);

/** Name of a registered service, NULL when `id` is not registered. The pointer stays valid until
 *  deinit returns (the handlers a DRAIN runs may still use it). isr-ok, never blocks; O(1). */
const char *system_service_get_name(system_service_id_t id);

/* ---- posting --------------------------------------------------------------------------------- */

/** Copy `size` bytes of `data` into the bus and queue the event in the lane of `priority`.
 *  Waits up to CONFIG_SYSTEM_SERVICE_EVENT_POST_TIMEOUT_MS for room in a full lane and for a block
 *  of an exhausted pool class (never from inside a handler). Same results as
 *  system_event_post_with_timeout(). task, may block (bounded by that timeout, plus up to two
 *  FreeRTOS ticks on the chip); O(1) plus the copy. */
esp_err_t system_event_post(system_service_id_t service_id, system_event_type_t event_type,
                            const void *data, size_t size, system_event_priority_t priority);

/** Post, waiting at most `timeout_ms` (0: never; SYSTEM_EVENT_WAIT_FOREVER) for room in a full lane
 *  and for a free block in an exhausted pool class (one deadline for both). From inside a handler
 *  the timeout is taken as 0 (no self-deadlock). Starts the bus if needed.
 *  ESP_OK: queued; the data was copied and may be reused at once.
 *  ESP_ERR_INVALID_ARG: service_id or event_type is a wildcard, priority is unknown, or data is NULL
 *                       with size > 0.
 *  ESP_ERR_TIMEOUT:     the lane stayed full (dropped reason FULL). Room freed while posts wait
 *                       is theirs: a post that does not wait (timeout 0, an ISR's, a handler's)
 *                       finds the lane full while it holds no slot for each waiter.
 *  ESP_ERR_NO_MEM:      no block in the payload's pool class (NO_MEM), the class's CRITICAL reserve
 *                       reached by a lower priority (RESERVE), both until the deadline; or the
 *                       heap refused an oversize copy (NO_MEM, no wait).
 *  ESP_ERR_INVALID_SIZE: an oversize payload with OVERSIZE_REJECT, or one of 4 GiB
 *                       or more (64-bit hosts: the record keeps a 32-bit size) (TOO_LARGE).
 *  ESP_ERR_INVALID_STATE: called from an ISR, or the bus is being deinitialised (NOT_READY).
 *  The error of a failed automatic start (e.g. ESP_ERR_NO_MEM), counted NOT_READY.
 *  Every failure is counted in the lane (unknown priorities in stats.invalid_priority) and leaves
 *  nothing allocated. task, may block (bounded by timeout_ms; on the chip FreeRTOS waits in whole
 *  ticks, so a wait may end up to two ticks late: 20 ms at ESP-IDF's default 100 Hz);
 *  O(1) plus the copy. */
esp_err_t system_event_post_with_timeout(system_service_id_t service_id,
                                         system_event_type_t event_type, const void *data,
                                         size_t size, system_event_priority_t priority,
                                         uint32_t timeout_ms);

/** Post from an interrupt handler: never blocks, never touches the heap. The payload (not
 *  oversize: up to the largest pool class or the inline size) goes into a pool block or the event
 *  record. *higher_priority_task_woken (may be NULL) is set true when the dispatcher task was
 *  woken: yield at the end of the ISR (portYIELD_FROM_ISR). Also callable from a task: then it
 *  behaves as a post with timeout 0 but for the heap (an oversize payload is still refused), the
 *  dispatcher is woken at once and *higher_priority_task_woken is left alone.
 *  ESP_OK; ESP_ERR_INVALID_ARG (as above); ESP_ERR_TIMEOUT (lane full, or its free slots held for
 *  tasks waiting for room, as above); ESP_ERR_NO_MEM (class empty
 *  or reserve); ESP_ERR_INVALID_SIZE (oversize); ESP_ERR_INVALID_STATE (the bus
 *  has not been started from a task yet, or is being deinitialised). isr-ok, O(1) plus the copy; with
 *  CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM also from an ESP_INTR_FLAG_IRAM handler while the flash cache
 *  is off (the code it reaches is in IRAM, `data` must then be in internal RAM too). */
esp_err_t system_event_post_from_isr(system_service_id_t service_id, system_event_type_t event_type,
                                     const void *data, size_t size,
                                     system_event_priority_t priority,
                                     bool *higher_priority_task_woken);

/* ---- subscribing ----------------------------------------------------------------------------- */

/** Call handler(event, ctx) for every event whose source matches service_id and whose type matches
 *  event_type (either may be a wildcard). Takes effect for events dispatched after it returns; one
 *  handler may be subscribed several times (each call is a separate subscription).
 *  *out_handle (may be NULL if the subscription is never removed) receives the handle, or zero
 *  (no subscription) on any failure.
 *  ESP_OK; ESP_ERR_INVALID_ARG (NULL handler); ESP_ERR_NO_MEM (table full,
 *  CONFIG_SYSTEM_SERVICE_EVENT_MAX_SUBSCRIBERS); ESP_ERR_INVALID_STATE (ISR, deinit in progress)
 *  or the error of a failed start. task (handlers included), never blocks; O(subscriptions). */
esp_err_t system_event_subscribe(system_service_id_t service_id, system_event_type_t event_type,
                                 system_event_handler_t handler, void *ctx,
                                 system_event_subscription_t *out_handle);

/** Remove a subscription. After it returns the handler is never called again for it, and (outside
 *  handlers) no call of it is still running, so `ctx` may be freed: also when it returns
 *  ESP_ERR_NOT_FOUND for a subscription removed already, by its own handler say, whose call still
 *  runs. From inside a handler it does not wait for a call running in another dispatcher (manual
 *  mode with several dispatching tasks).
 *  While a dispatcher holds the subscription for the events it is delivering, it waits until that
 *  dispatcher has made those events' calls, the other subscriptions' included (up to 16 events
 *  taken together), as esp_event's unregister waits for the event being dispatched: do not call
 *  it while holding something a handler of those events may wait for (a deadlock).
 *  ESP_OK; ESP_ERR_NOT_FOUND (zero, stale or already removed handle; bus deinitialised);
 *  ESP_ERR_INVALID_STATE (ISR, or a deinit in progress: the subscription goes with it, and no
 *  handler runs once deinit has returned). task, may block (above); O(1) besides. */
esp_err_t system_event_unsubscribe(system_event_subscription_t handle);

/* ---- dispatching ----------------------------------------------------------------------------- */

typedef enum {
    SYSTEM_EVENT_MODE_TASK = 0,   /**< a dispatcher task delivers events as they arrive */
    SYSTEM_EVENT_MODE_MANUAL = 1, /**< events wait for system_event_dispatch_pending() */
} system_event_mode_t;

/** Manual mode: deliver up to max_events queued events (SYSTEM_EVENT_DISPATCH_ALL: until every lane
 *  is empty, events posted by the handlers included) in the calling task, highest priority first.
 *  *out_dispatched (may be NULL) receives the number of events delivered. Several tasks may dispatch
 *  at once; a lane is delivered by one of them at a time (FIFO holds), and a call returns early
 *  when the next event's lane is being delivered by another.
 *  A bus not started yet starts in manual mode with CONFIG_SYSTEM_SERVICE_EVENT_MODE_MANUAL; in the
 *  Kconfig's task mode it is not started (refused, as every call in task mode; the first refusal
 *  while it is stopped, and the first after each start, logs a warning that names the fix).
 *  ESP_OK; ESP_ERR_INVALID_STATE (task mode, ISR, inside a handler, deinit in progress) or the error
 *  of a failed start. task; never waits itself, but runs the handlers in the caller;
 *  O(events x matching subscriptions); with nothing queued, O(1) without taking the bus's lock. */
esp_err_t system_event_dispatch_pending(uint32_t max_events, uint32_t *out_dispatched);

/* ---- lifecycle ------------------------------------------------------------------------------- */

typedef struct {
    system_event_mode_t mode;
    /** Per-lane capacity; 0 = the Kconfig capacity, which is also the maximum (storage is static). */
    uint16_t lane_capacity[SYSTEM_EVENT_PRIORITY_COUNT];
    uint32_t task_stack_bytes; /**< dispatcher stack, at least 2560 (the Kconfig option's minimum);
                                    0 = CONFIG_SYSTEM_SERVICE_EVENT_TASK_STACK_SIZE */
    unsigned task_priority;    /**< 0 = CONFIG_SYSTEM_SERVICE_EVENT_TASK_PRIORITY */
    int task_core;             /**< -1 = any core (CONFIG_SYSTEM_SERVICE_EVENT_TASK_CORE by default) */
} system_event_bus_config_t;

/** The configuration the bus uses when it starts by itself (Kconfig values). Cannot fail. isr-ok,
 *  never blocks; O(1). */
system_event_bus_config_t system_event_bus_default_config(void);

/** Start the bus: services and subscriptions start empty, counters too but for the posts refused
 *  while the bus was stopped (kept, see system_event_get_stats); task mode starts the dispatcher.
 *  config NULL = system_event_bus_default_config().
 *  ESP_OK; ESP_ERR_INVALID_ARG (unknown mode, lane capacity above its Kconfig maximum, task mode
 *  with a task_core other than -1 or one of the chip's cores, a task_priority of
 *  configMAX_PRIORITIES or more, or a task_stack_bytes below 2560; manual mode ignores those three);
 *  ESP_ERR_INVALID_STATE (already started, ISR, inside a handler); ESP_ERR_NO_MEM (pools,
 *  semaphore or dispatcher task could not be had; nothing of the bus's is left allocated, the
 *  pools stay set up once set up). A failed start
 *  leaves the statistics as they were, but when the dispatcher task could not be created: they
 *  are then reset (the posts refused while stopped are kept for the next start). Sets the pools
 *  up if they are not (memory_pool_ensure_init) and logs a warning for each class of a
 *  memory_pool_init() table with no more blocks than the CRITICAL reserve: events below CRITICAL
 *  never get one (Kconfig counts are checked at build time). The bus keeps the pools' class table
 *  until its deinit: memory_pool_deinit() refuses meanwhile. task, never blocks; O(table sizes). */
esp_err_t system_event_bus_init(const system_event_bus_config_t *config);

typedef enum {
    SYSTEM_EVENT_DEINIT_DRAIN = 0,   /**< deliver the queued events first */
    SYSTEM_EVENT_DEINIT_DISCARD = 1, /**< drop them (counted as dropped DISCARDED); a dispatch
                                          under way finishes the event it is delivering (every
                                          subscriber of it is called) and delivers no more */
} system_event_deinit_t;

/** Stop the bus. New posts fail with ESP_ERR_INVALID_STATE from the start of the call; posters
 *  waiting for room are released; deinit waits for every call in progress, stops the dispatcher,
 *  drains or discards the queued events (posts made by handlers while draining are refused and
 *  counted NOT_READY), and returns every payload block. Services and subscriptions are forgotten;
 *  statistics stay readable until the next start. The bus starts again on next use.
 *  ESP_OK; ESP_ERR_INVALID_ARG (unknown `how`); ESP_ERR_INVALID_STATE (not started, ISR, inside a
 *  handler, or another deinit in progress). task, may block: waits until calls in progress
 *  return and the dispatcher task has stopped; O(queued events + subscriptions) plus the handlers
 *  of a drain. */
esp_err_t system_event_bus_deinit(system_event_deinit_t how);

/** True when the bus is started and not being deinitialised. isr-ok, never blocks; O(1). */
bool system_event_bus_is_ready(void);

/* ---- statistics ------------------------------------------------------------------------------ */

/** Why a post failed or a queued event was not delivered (index of `dropped`). */
typedef enum {
    SYSTEM_EVENT_DROP_FULL = 0,        /**< lane full until the timeout (ESP_ERR_TIMEOUT) */
    SYSTEM_EVENT_DROP_NO_MEM = 1,      /**< pool class empty or heap refused (ESP_ERR_NO_MEM) */
    SYSTEM_EVENT_DROP_RESERVE = 2,     /**< class blocks left are CRITICAL's reserve (ESP_ERR_NO_MEM) */
    SYSTEM_EVENT_DROP_TOO_LARGE = 3,   /**< above the largest class and not allowed to the heap */
    SYSTEM_EVENT_DROP_INVALID_ARG = 4, /**< wildcard source/type, NULL data with size > 0 */
    SYSTEM_EVENT_DROP_NOT_READY = 5,   /**< bus not started (ISR post) or being deinitialised,
                                            or a task-only post called from an ISR */
    SYSTEM_EVENT_DROP_DISCARDED = 6,   /**< queued, then discarded by deinit */
} system_event_drop_reason_t;
#define SYSTEM_EVENT_DROP_REASON_COUNT 7

/** Per-lane figures. Counters are monotonic from the start of the bus, which keeps the posts
 *  refused while the bus was stopped (before its first start or since its last deinit); peaks
 *  reset with system_event_reset_peaks(). */
typedef struct {
    uint32_t capacity;         /**< slots */
    uint32_t depth;            /**< queued now */
    uint32_t depth_high_water; /**< largest depth seen */
    uint32_t posted;           /**< accepted posts */
    uint32_t posted_from_isr;  /**< of which from system_event_post_from_isr */
    uint32_t delivered;        /**< events whose dispatch has finished (handlers run, block freed) */
    uint32_t unhandled;        /**< of which had no matching subscriber */
    uint32_t dropped[SYSTEM_EVENT_DROP_REASON_COUNT]; /**< failed posts and discarded events */
    /** post -> dispatch: to the event's own dispatch with CONFIG_SYSTEM_SERVICE_EVENT_PROFILING,
     *  else to the start of its run (up to 16 consecutive events of one source and type, taken
     *  together: the earlier events' handlers are not counted); 0 before any delivery */
    uint32_t latency_min_us;
    uint32_t latency_mean_us;
    uint32_t latency_max_us;
} system_event_lane_stats_t;

#define SYSTEM_EVENT_POOL_CLASS_COUNT 4 /**< = MEMORY_POOL_CLASS_COUNT */

typedef struct {
    system_event_mode_t mode;
    bool ready;
    system_event_lane_stats_t lanes[SYSTEM_EVENT_PRIORITY_COUNT]; /**< indexed by priority */
    /** Pool blocks held by queued events and events being delivered, by the class a block came
     *  from. A delivered event's block counts as back once the dispatcher has set it aside for the
     *  pool, up to 16 blocks before the end of its run: the pools may show more in use meanwhile. */
    uint32_t pool_blocks_in_use[SYSTEM_EVENT_POOL_CLASS_COUNT];
    uint32_t pool_blocks_peak[SYSTEM_EVENT_POOL_CLASS_COUNT];     /**< high-water of the above */
    uint32_t inline_payloads;  /**< accepted events whose payload lived in the record (no block) */
    uint32_t pool_payloads;    /**< accepted events with a pool block */
    uint32_t heap_payloads;    /**< accepted events whose oversize payload went to the heap */
    uint32_t heap_in_use;      /**< heap copies held now: accepted and not yet delivered,
                                    or taken by a post still under way (waiting for room) */
    uint32_t invalid_priority; /**< posts with an unknown priority (no lane to count them in) */
    uint32_t subscriptions;    /**< active now */
    uint32_t services;         /**< registered */
} system_event_stats_t;

/** Copy the statistics. Works before the first start (the posts refused so far: NOT_READY,
 *  INVALID_ARG, invalid priorities; zeros otherwise) and after deinit (the run's final figures,
 *  plus the posts refused since; services and subscriptions 0: deinit forgot them). A start clears
 *  the counters but keeps the posts refused while the bus was stopped (an ISR's post before the
 *  start, a task's invalid post before the one that started the bus), counted once; see
 *  system_event_bus_init() for a start that fails.
 *  ESP_OK; ESP_ERR_INVALID_ARG (NULL). task and isr-ok, never blocks; O(lanes + classes). */
esp_err_t system_event_get_stats(system_event_stats_t *out);

typedef struct {
    system_service_id_t service_id; /**< as subscribed (may be SYSTEM_SERVICE_ID_ANY) */
    system_event_type_t event_type; /**< as subscribed (may be SYSTEM_EVENT_TYPE_ANY) */
    uint32_t deliveries;            /**< handler calls completed */
    /** longest call (reset with system_event_reset_peaks); 0 without
     *  CONFIG_SYSTEM_SERVICE_EVENT_PROFILING (off by default: a timer read per handler call) */
    uint32_t longest_handler_us;
    uint64_t total_handler_us; /**< sum of call durations; 0 without profiling */
} system_event_subscription_stats_t;

/** Figures of one subscription. ESP_OK; ESP_ERR_INVALID_ARG (NULL out); ESP_ERR_NOT_FOUND (handle
 *  not subscribed). task and isr-ok, never blocks; O(1). */
esp_err_t system_event_get_subscription_stats(system_event_subscription_t handle,
                                              system_event_subscription_stats_t *out);

/** Reset the peaks: lane depth high-water (to the current depth), latency min/mean/max (the mean
 *  starts again with them), pool block peaks, longest handler times. Counters are not reset.
 *  Cannot fail. task and isr-ok, never blocks (the bus's lock only); O(lanes + subscriptions). */
void system_event_reset_peaks(void);

/** Log every lane, the payload figures and every subscription with its service name, under `tag`
 *  ("event_bus" when NULL). Cannot fail (a stopped bus logs its kept counters; from an ISR nothing
 *  is logged). task; blocks
 *  while the console is busy; O(lanes + subscriptions). */
void system_event_log_stats(const char *tag);

/** Check the bus's invariants (lane indices within capacity, depth sums, subscription table,
 *  block counters against queued events when nothing is being dispatched). ESP_OK or
 *  ESP_ERR_INVALID_STATE (a broken invariant, the first one logged; or called from an ISR:
 *  nothing checked). task, never blocks;
 *  O(slots + subs), all inside the bus's lock: on the chip interrupts stay masked on this core
 *  (and ISR posts on the other core wait) for the whole scan, so call it from tests and
 *  diagnostics, not from a latency-critical loop. */
esp_err_t system_event_bus_check(void);

#ifdef __cplusplus
}
#endif
#endif /* SYSTEM_SERVICE_EVENT_BUS_H */
