/*
 * event_bus.c - pool-backed events in per-priority rings, delivered by a dispatcher task or by
 * system_event_dispatch_pending().
 *
 * Storage is static (sizes from Kconfig): one ring of event records per priority lane, one table of
 * subscriptions, one table of service names. A payload is copied once, into the record (inline, up
 * to KRAKEN_EVENT_INLINE_DATA_SIZE bytes) or into a pool block from memory_pool_alloc_isr_margin(),
 * which never touches the heap; only oversize payloads may go to the heap (Kconfig).
 *
 * Locking: one port lock (a spinlock on the chip) guards the rings, the tables and the lane counters.
 * It is never held across a handler call, a pool call, a semaphore call or a log line. A dispatcher
 * pops an event into its own stack frame, then walks the subscription table under the lock and drops
 * the lock around each handler call; the entry's `busy` count keeps it from being reused meanwhile,
 * and unsubscribe waits for it (outside handlers). Counters touched outside the lock are atomics.
 *
 * Lifecycle: `state` (atomic) goes UNINIT -> STARTING -> READY -> STOPPING -> UNINIT. Every API call
 * that may touch the rings or the semaphores counts itself in `users` before checking the state, and
 * deinit waits for `users` to drop to zero after setting STOPPING (both seq_cst, so one of the two
 * always sees the other).
 */
#include <limits.h>
#include <stdatomic.h>
#include <string.h>

#include "kraken_config.h"
#include "kraken_port.h"
#include "memory_pool.h"
#include "system_service/event_bus.h"

_Static_assert(SYSTEM_EVENT_POOL_CLASS_COUNT == MEMORY_POOL_CLASS_COUNT,
               "event_bus.h and memory_pool.h disagree on the number of pool classes");
_Static_assert(KRAKEN_POOL_CLASS_COUNT == MEMORY_POOL_CLASS_COUNT, "pool class count");

static const char *TAG = "event_bus";

#define INLINE_SIZE KRAKEN_EVENT_INLINE_DATA_SIZE
#define MAX_SUBS KRAKEN_EVENT_MAX_SUBSCRIBERS
#define MAX_SERVICES KRAKEN_EVENT_MAX_SERVICES
#define NAME_LEN KRAKEN_EVENT_SERVICE_NAME_LEN
#define CLASSES MEMORY_POOL_CLASS_COUNT
#define LANES SYSTEM_EVENT_PRIORITY_COUNT
#define CRITICAL SYSTEM_EVENT_PRIORITY_CRITICAL
#define TOTAL_SLOTS                                                                                \
    (KRAKEN_EVENT_LANE_LOW_CAPACITY + KRAKEN_EVENT_LANE_NORMAL_CAPACITY +                          \
     KRAKEN_EVENT_LANE_HIGH_CAPACITY + KRAKEN_EVENT_LANE_CRITICAL_CAPACITY)
/* How long an unsubscribe waits between looks at a running call (a give normally wakes it first). */
#define UNSUBSCRIBE_POLL_MS 10
/* How often a post waiting for a pool block looks again (blocks freed by other pool users give no
 * signal). */
#define BLOCK_POLL_MS 5

static const uint16_t kconfig_capacity[LANES] = {
    KRAKEN_EVENT_LANE_LOW_CAPACITY, KRAKEN_EVENT_LANE_NORMAL_CAPACITY,
    KRAKEN_EVENT_LANE_HIGH_CAPACITY, KRAKEN_EVENT_LANE_CRITICAL_CAPACITY};
static const char *const lane_name[LANES] = {"LOW", "NORMAL", "HIGH", "CRITICAL"};

/* Where a payload lives: a pool class index (0..CLASSES-1) or one of these. */
#define STORE_INLINE 0xFFu
#define STORE_HEAP 0xFEu

typedef struct {
    union {
        void *block;                             /* pool or heap block */
        _Alignas(8) uint8_t bytes[INLINE_SIZE]; /* inline payload */
    } payload;
    int64_t timestamp_us;
    uint32_t size;
    uint32_t seq;
    system_event_type_t type;
    system_service_id_t source;
    uint8_t store;
    uint8_t from_isr;
} slot_t;

typedef struct {
    slot_t *slots;
    uint32_t capacity, head, count, high_water;
    uint32_t waiters; /* posters waiting for room */
    uint32_t woken;   /* of which already given a wake-up token */
    uint32_t posted, posted_from_isr, unhandled;
    uint32_t dropped[SYSTEM_EVENT_DROP_REASON_COUNT];
    uint32_t latency_min, latency_max;
    uint64_t latency_sum, latency_n;
    _Atomic uint32_t delivered; /* counted after the block is freed, outside the lock */
} lane_t;

enum { SUB_FREE = 0, SUB_ACTIVE, SUB_RETIRED };

typedef struct {
    system_event_handler_t handler;
    void *ctx;
    system_event_type_t type;
    system_service_id_t source;
    uint8_t state;
    bool waiter;   /* an unsubscribe waits for busy to reach 0 */
    uint32_t busy; /* calls running now */
    uint32_t gen;  /* generation, part of the handle: a stale handle never matches a reused entry */
    uint32_t deliveries, longest_us;
    uint64_t total_us;
} sub_t;

enum { ST_UNINIT = 0, ST_STARTING, ST_READY, ST_STOPPING };
enum { DISPATCHED, EMPTY, STOP };

/* Everything zeroed by a start. */
typedef struct {
    system_event_mode_t mode;
    lane_t lanes[LANES];
    uint32_t pending; /* queued in all lanes */
    uint32_t seq;
    bool dispatcher_idle; /* the dispatcher waits on `work`: the next post gives it */
    bool stop, discard;   /* deinit asks the dispatcher to stop (after draining unless discard) */
    sub_t subs[MAX_SUBS];
    uint32_t sub_limit; /* entries at or above this index are free */
    uint32_t sub_count;
    char names[MAX_SERVICES][NAME_LEN];
    uint32_t service_count;
    uint32_t inline_payloads, pool_payloads;
} bus_state_t;

static struct {
    kraken_port_lock_t lock;
    _Atomic int state;
    _Atomic uint32_t users;
    uint32_t next_gen; /* never reset: handles from before a restart stay stale */
    bus_state_t s;
    kraken_port_sem_t work;  /* the dispatcher sleeps here */
    kraken_port_sem_t space[LANES]; /* posters wait here for room */
    kraken_port_sem_t idle;  /* unsubscribers wait here for a running call to end */
    kraken_port_sem_t block_sem[CLASSES]; /* posts wait here for a pool block of the class */
    _Atomic uint32_t block_waiters[CLASSES];
    /* The pools' class table, read at start (memory_pool_init may have changed the Kconfig one). */
    uint32_t class_size[CLASSES], class_capacity[CLASSES];
    kraken_port_task_t task;
    /* Payload counters, updated outside the lock. */
    _Atomic uint32_t blocks[CLASSES]; /* pool blocks held by events, by class asked for */
    _Atomic uint32_t blocks_peak[CLASSES];
    _Atomic uint32_t heap_payloads, heap_in_use;
    _Atomic uint32_t invalid_priority;
} bus = {.lock = KRAKEN_PORT_LOCK_INITIALIZER};

static slot_t slot_storage[TOTAL_SLOTS];

/* Depth of handler calls on this task: posts from a handler never wait; some calls are refused. */
static _Thread_local uint32_t t_in_handler;

/* ---- helpers ---------------------------------------------------------------------------------- */

static bool valid_priority(system_event_priority_t p)
{
    return (unsigned)p < LANES;
}

static void count_drop_locked(lane_t *lane, system_event_drop_reason_t reason)
{
    lane->dropped[reason]++;
}

static void count_drop(system_event_priority_t priority, system_event_drop_reason_t reason)
{
    kraken_port_lock(&bus.lock);
    count_drop_locked(&bus.s.lanes[priority], reason);
    kraken_port_unlock(&bus.lock);
}

static unsigned class_of(size_t size)
{
    unsigned c = 0;
    while (size > bus.class_size[c]) {
        c++;
    }
    return c;
}

static void atomic_max(_Atomic uint32_t *peak, uint32_t value)
{
    uint32_t old = atomic_load_explicit(peak, memory_order_relaxed);
    while (value > old &&
           !atomic_compare_exchange_weak_explicit(peak, &old, value, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

static void free_payload(void *block, uint8_t store)
{
    if (store == STORE_INLINE) {
        return;
    }
    if (store == STORE_HEAP) {
        memory_pool_free(block);
        atomic_fetch_sub(&bus.heap_in_use, 1);
        return;
    }
    (void)memory_pool_free_isr(block); /* our own block: cannot fail */
    atomic_fetch_sub(&bus.blocks[store], 1);
    /* Wake a post waiting for this class once the bus holds at most half of it, so that a producer
     * faster than the dispatcher sleeps once per half class, not once per event. */
    if (atomic_load(&bus.block_waiters[store]) != 0 &&
        atomic_load(&bus.blocks[store]) <= bus.class_capacity[store] / 2) {
        kraken_port_sem_give(&bus.block_sem[store]);
    }
}

static inline uint32_t clamp_us(int64_t us)
{
    if (__builtin_expect((uint64_t)us >> 32 != 0, 0)) {
        return us < 0 ? 0 : UINT32_MAX;
    }
    return (uint32_t)us;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

system_event_bus_config_t system_event_bus_default_config(void)
{
    system_event_bus_config_t config = {
        .mode = KRAKEN_EVENT_DEFAULT_MODE_MANUAL ? SYSTEM_EVENT_MODE_MANUAL : SYSTEM_EVENT_MODE_TASK,
        .lane_capacity = {0, 0, 0, 0},
        .task_stack_bytes = KRAKEN_EVENT_TASK_STACK_SIZE,
        .task_priority = KRAKEN_EVENT_TASK_PRIORITY,
        .task_core = KRAKEN_EVENT_TASK_CORE,
    };
    return config;
}

static esp_err_t check_config(const system_event_bus_config_t *config)
{
    if (config->mode != SYSTEM_EVENT_MODE_TASK && config->mode != SYSTEM_EVENT_MODE_MANUAL) {
        return ESP_ERR_INVALID_ARG;
    }
    for (unsigned i = 0; i < LANES; i++) {
        if (config->lane_capacity[i] > kconfig_capacity[i]) {
            return ESP_ERR_INVALID_ARG;
        }
    }
    return ESP_OK;
}

static void dispatcher_main(void *arg);

/* The semaphores, in creation order: space[0..LANES-1], block_sem[0..CLASSES-1], idle, work. */
#define SEM_COUNT (LANES + CLASSES + 2)

static kraken_port_sem_t *sem_at(unsigned i)
{
    return i < LANES             ? &bus.space[i]
           : i < LANES + CLASSES ? &bus.block_sem[i - LANES]
           : i == LANES + CLASSES ? &bus.idle
                                  : &bus.work;
}

static void delete_semaphores(unsigned created)
{
    for (unsigned i = 0; i < created; i++) {
        kraken_port_sem_delete(sem_at(i));
    }
}

/* Called with state STARTING, by exactly one task. */
static esp_err_t start(const system_event_bus_config_t *config)
{
    kraken_port_lock(&bus.lock);
    memset(&bus.s, 0, sizeof bus.s);
    bus.s.mode = config->mode;
    slot_t *next = slot_storage;
    for (unsigned i = 0; i < LANES; i++) {
        lane_t *lane = &bus.s.lanes[i];
        lane->slots = next;
        next += kconfig_capacity[i];
        lane->capacity = config->lane_capacity[i] ? config->lane_capacity[i] : kconfig_capacity[i];
        atomic_store_explicit(&lane->delivered, 0, memory_order_relaxed);
    }
    kraken_port_unlock(&bus.lock);
    for (unsigned c = 0; c < CLASSES; c++) {
        atomic_store(&bus.blocks[c], 0);
        atomic_store(&bus.blocks_peak[c], 0);
    }
    atomic_store(&bus.heap_payloads, 0);
    atomic_store(&bus.heap_in_use, 0);
    atomic_store(&bus.invalid_priority, 0);

    /* ISR posts need the pools set up, and memory_pool_alloc_isr never sets them up. */
    memory_pool_stats_t pools;
    if (memory_pool_ensure_init() != ESP_OK || memory_pool_get_stats(&pools) != ESP_OK) {
        return ESP_ERR_NO_MEM;
    }
    for (unsigned c = 0; c < CLASSES; c++) {
        atomic_store(&bus.block_waiters[c], 0);
        bus.class_size[c] = (uint32_t)pools.classes[c].block_size;
        bus.class_capacity[c] = pools.classes[c].capacity;
    }
    for (unsigned i = 0; i < SEM_COUNT; i++) {
        /* work: one pending wake-up is enough; the others count waiters' tokens */
        if (kraken_port_sem_create(sem_at(i), i == SEM_COUNT - 1 ? 1 : UINT16_MAX, 0) != ESP_OK) {
            delete_semaphores(i);
            return ESP_ERR_NO_MEM;
        }
    }
    if (config->mode == SYSTEM_EVENT_MODE_TASK) {
        uint32_t stack = config->task_stack_bytes ? config->task_stack_bytes
                                                  : KRAKEN_EVENT_TASK_STACK_SIZE;
        unsigned prio = config->task_priority ? config->task_priority : KRAKEN_EVENT_TASK_PRIORITY;
        if (kraken_port_task_create(&bus.task, dispatcher_main, NULL, "event_bus", stack, prio,
                                    config->task_core) != ESP_OK) {
            delete_semaphores(SEM_COUNT);
            return ESP_ERR_NO_MEM;
        }
    }
    return ESP_OK;
}

esp_err_t system_event_bus_init(const system_event_bus_config_t *config)
{
    if (kraken_port_in_isr() || t_in_handler) {
        return ESP_ERR_INVALID_STATE;
    }
    system_event_bus_config_t defaults = system_event_bus_default_config();
    if (config == NULL) {
        config = &defaults;
    }
    esp_err_t err = check_config(config);
    if (err != ESP_OK) {
        return err;
    }
    int expected = ST_UNINIT;
    if (!atomic_compare_exchange_strong(&bus.state, &expected, ST_STARTING)) {
        return ESP_ERR_INVALID_STATE;
    }
    err = start(config);
    atomic_store(&bus.state, err == ESP_OK ? ST_READY : ST_UNINIT);
    return err;
}

/* Start with the Kconfig defaults unless started; wait while another task starts it. */
static esp_err_t start_lazily(void)
{
    for (;;) {
        int state = atomic_load(&bus.state);
        if (state == ST_READY) {
            return ESP_OK;
        }
        if (state == ST_STOPPING || kraken_port_in_isr()) {
            return ESP_ERR_INVALID_STATE;
        }
        if (state == ST_UNINIT) {
            esp_err_t err = system_event_bus_init(NULL);
            if (err != ESP_ERR_INVALID_STATE) {
                return err; /* else someone else won the race: look again */
            }
            if (t_in_handler) {
                return ESP_ERR_INVALID_STATE;
            }
        } else {
            kraken_port_delay_ms(1); /* STARTING elsewhere: a start takes a task creation at most */
        }
    }
}

/* Count the caller in `users` and make sure the bus is READY (starting it if allowed). */
static esp_err_t enter_slow(bool may_start)
{
    for (;;) {
        atomic_fetch_sub(&bus.users, 1);
        if (!may_start) {
            return ESP_ERR_INVALID_STATE;
        }
        esp_err_t err = start_lazily();
        if (err != ESP_OK) {
            return err;
        }
        atomic_fetch_add(&bus.users, 1);
        if (atomic_load(&bus.state) == ST_READY) {
            return ESP_OK;
        }
    }
}

static inline esp_err_t enter(bool may_start)
{
    atomic_fetch_add(&bus.users, 1);
    if (__builtin_expect(atomic_load(&bus.state) == ST_READY, 1)) {
        return ESP_OK;
    }
    return enter_slow(may_start);
}

static inline void leave(void)
{
    atomic_fetch_sub(&bus.users, 1);
}

bool system_event_bus_is_ready(void)
{
    return atomic_load(&bus.state) == ST_READY;
}

/* Lock held; the entry is RETIRED with no call running. */
static void free_sub_locked(sub_t *sub)
{
    sub->state = SUB_FREE;
    sub->waiter = false;
    bus.s.sub_count--;
    while (bus.s.sub_limit > 0 && bus.s.subs[bus.s.sub_limit - 1].state == SUB_FREE) {
        bus.s.sub_limit--;
    }
}

/* ---- dispatch -------------------------------------------------------------------------------- */

/* Posters waiting for room. The dispatcher task wakes them when their lane is at most half full,
 * so that a producer faster than the dispatcher sleeps once per half lane instead of once per
 * event; a manual dispatch wakes them at once (it may stop after one event). Lock held; returns
 * how many tokens to give. */
static uint32_t space_wakeups_locked(lane_t *lane, bool as_task)
{
    if (lane->waiters == lane->woken || (as_task && lane->count > lane->capacity / 2)) {
        return 0;
    }
    uint32_t n = lane->waiters - lane->woken;
    lane->woken = lane->waiters;
    return n;
}

static inline void give_space(unsigned lane, uint32_t n)
{
    for (; n > 0; n--) {
        kraken_port_sem_give(&bus.space[lane]);
    }
}

/* Deliver the oldest event of the highest non-empty lane. *clock carries the time of the end of
 * the previous handler in a batch (0: unknown), which saves one timer read per event. When the
 * lanes are empty and `will_sleep`, the dispatcher task is marked idle: the next post wakes it. */
static int dispatch_one(bool as_task, bool will_sleep, int64_t *clock)
{
    _Alignas(8) uint8_t inline_copy[INLINE_SIZE];
    kraken_port_lock(&bus.lock);
    if (as_task && bus.s.stop && (bus.s.discard || bus.s.pending == 0)) {
        kraken_port_unlock(&bus.lock);
        return STOP;
    }
    if (bus.s.pending == 0) {
        bus.s.dispatcher_idle = will_sleep;
        kraken_port_unlock(&bus.lock);
        return EMPTY;
    }
    unsigned p = LANES - 1;
    while (bus.s.lanes[p].count == 0) {
        p--;
    }
    lane_t *lane = &bus.s.lanes[p];
    const slot_t *slot = &lane->slots[lane->head];
    const uint8_t store = slot->store;
    void *block = slot->payload.block;
    system_event_t event = {
        .source = slot->source,
        .type = slot->type,
        .priority = (system_event_priority_t)p,
        .data = block,
        .size = slot->size,
        .seq = slot->seq,
        .timestamp_us = slot->timestamp_us,
        .from_isr = slot->from_isr != 0,
    };
    if (store == STORE_INLINE) {
        memcpy(inline_copy, slot->payload.bytes, INLINE_SIZE); /* the slot is reused once we unlock */
        event.data = event.size != 0 ? inline_copy : NULL;
    }
    lane->head = lane->head + 1 == lane->capacity ? 0 : lane->head + 1;
    lane->count--;
    bus.s.pending--;
    uint32_t wake_posters = space_wakeups_locked(lane, as_task);

    int64_t now = 0;
    if (KRAKEN_EVENT_PROFILING) {
        now = *clock != 0 ? *clock : kraken_port_time_us();
        uint32_t latency = clamp_us(now - event.timestamp_us);
        if (lane->latency_n == 0 || latency < lane->latency_min) {
            lane->latency_min = latency;
        }
        if (latency > lane->latency_max) {
            lane->latency_max = latency;
        }
        lane->latency_sum += latency;
        lane->latency_n++;
    }

    bool matched = false, give_idle = false;
    for (uint32_t i = 0; i < bus.s.sub_limit; i++) {
        sub_t *sub = &bus.s.subs[i];
        if (sub->state != SUB_ACTIVE ||
            (sub->source != SYSTEM_SERVICE_ID_ANY && sub->source != event.source) ||
            (sub->type != SYSTEM_EVENT_TYPE_ANY && sub->type != event.type)) {
            continue;
        }
        matched = true;
        sub->busy++;
        system_event_handler_t handler = sub->handler;
        void *ctx = sub->ctx;
        kraken_port_unlock(&bus.lock);
        if (wake_posters != 0) {
            give_space(p, wake_posters);
            wake_posters = 0;
        }
        t_in_handler++;
        handler(&event, ctx);
        t_in_handler--;
        uint32_t took = 0;
        if (KRAKEN_EVENT_PROFILING) {
            int64_t end = kraken_port_time_us();
            took = clamp_us(end - now);
            now = end;
        }
        kraken_port_lock(&bus.lock);
        sub->busy--;
        sub->deliveries++;
        sub->total_us += took;
        if (took > sub->longest_us) {
            sub->longest_us = took;
        }
        if (sub->state == SUB_RETIRED && sub->busy == 0) {
            if (sub->waiter) {
                give_idle = true; /* the unsubscriber frees the entry */
            } else {
                free_sub_locked(sub); /* unsubscribed from a handler: nobody waits */
            }
        }
    }
    if (!matched) {
        lane->unhandled++;
    }
    kraken_port_unlock(&bus.lock);
    *clock = now;
    give_space(p, wake_posters);
    if (give_idle) {
        kraken_port_sem_give(&bus.idle);
    }
    free_payload(block, store);
    atomic_fetch_add_explicit(&lane->delivered, 1, memory_order_release);
    return DISPATCHED;
}

/* The dispatcher task. Before sleeping on `work` it yields a few times: a producer about to post
 * again then finds it awake, which saves a sleep/wake pair (two context switches) per burst. */
#define IDLE_YIELDS 3

static void dispatcher_main(void *arg)
{
    (void)arg;
    int64_t clock = 0;
    unsigned idle = 0;
    for (;;) {
        int r = dispatch_one(true, idle == IDLE_YIELDS, &clock);
        if (r == DISPATCHED) {
            idle = 0;
        } else if (r == STOP) {
            return;
        } else if (idle < IDLE_YIELDS) {
            idle++;
            kraken_port_delay_ms(0);
        } else {
            kraken_port_sem_take(&bus.work, KRAKEN_PORT_WAIT_FOREVER);
            idle = 0;
            clock = 0;
        }
    }
}

esp_err_t system_event_dispatch_pending(uint32_t max_events, uint32_t *out_dispatched)
{
    if (out_dispatched != NULL) {
        *out_dispatched = 0;
    }
    if (kraken_port_in_isr() || t_in_handler) {
        return ESP_ERR_INVALID_STATE;
    }
    esp_err_t err = enter(true);
    if (err != ESP_OK) {
        return err;
    }
    if (bus.s.mode != SYSTEM_EVENT_MODE_MANUAL) {
        leave();
        return ESP_ERR_INVALID_STATE;
    }
    uint32_t n = 0;
    int64_t clock = 0;
    while (n < max_events && dispatch_one(false, false, &clock) == DISPATCHED) {
        n++;
    }
    leave();
    if (out_dispatched != NULL) {
        *out_dispatched = n;
    }
    return ESP_OK;
}

/* ---- posting --------------------------------------------------------------------------------- */

/* Time left before `*deadline` (set from timeout_ms on first use), in ms rounded up; 0 = expired. */
static uint32_t wait_left_ms(int64_t *deadline, uint32_t timeout_ms)
{
    if (timeout_ms == SYSTEM_EVENT_WAIT_FOREVER) {
        return KRAKEN_PORT_WAIT_FOREVER;
    }
    int64_t now = kraken_port_time_us();
    if (*deadline == 0) {
        *deadline = now + (int64_t)timeout_ms * 1000;
    }
    int64_t left = *deadline - now;
    return left <= 0 ? 0 : (uint32_t)((left + 999) / 1000);
}

/* The reason a pool allocation of class c failed: the class is empty (NO_MEM), or only its
 * CRITICAL reserve is left (RESERVE). Failure path only. */
static system_event_drop_reason_t block_failure_reason(unsigned c, bool critical)
{
    memory_pool_stats_t st;
    if (critical || memory_pool_get_stats(&st) != ESP_OK ||
        st.classes[c].in_use >= st.classes[c].capacity) {
        return SYSTEM_EVENT_DROP_NO_MEM;
    }
    return SYSTEM_EVENT_DROP_RESERVE;
}

/* A pool block of the smallest class that fits. Below CRITICAL the last
 * KRAKEN_EVENT_CRITICAL_RESERVE_BLOCKS blocks of the class are left alone (the pools' margin, so
 * the reserve holds whoever else uses the pools). When may_wait, waits up to the deadline for the
 * bus to return a block. */
static void *take_block(size_t size, bool critical, bool may_wait, uint32_t timeout_ms,
                        int64_t *deadline, unsigned *out_class, system_event_drop_reason_t *reason)
{
    const unsigned c = class_of(size);
    const uint32_t margin = critical ? 0 : KRAKEN_EVENT_CRITICAL_RESERVE_BLOCKS;
    bool waiting = false;
    for (;;) {
        void *block = memory_pool_alloc_isr_margin(size, margin);
        uint32_t left = block == NULL && may_wait ? wait_left_ms(deadline, timeout_ms) : 0;
        if (left == 0 || atomic_load(&bus.state) != ST_READY) {
            if (waiting) {
                atomic_fetch_sub(&bus.block_waiters[c], 1);
            }
            if (block != NULL) {
                *out_class = c;
                atomic_max(&bus.blocks_peak[c], atomic_fetch_add(&bus.blocks[c], 1) + 1);
                return block;
            }
            *reason = left != 0 ? SYSTEM_EVENT_DROP_NOT_READY : block_failure_reason(c, critical);
            return NULL;
        }
        if (!waiting) {
            /* Register, then look once more: a block freed in between is either seen by that
             * look or followed by a give (free_payload reads block_waiters after freeing). */
            atomic_fetch_add(&bus.block_waiters[c], 1);
            waiting = true;
            continue;
        }
        /* The dispatcher gives block_sem when it frees a block; other pool users do not, hence
         * the short poll. */
        kraken_port_sem_take(&bus.block_sem[c], left < BLOCK_POLL_MS ? left : BLOCK_POLL_MS);
    }
}

/* Push an accepted event into its lane. Lock held, lane not full. Returns true when the dispatcher
 * task sleeps and must be woken. */
static inline bool push_locked(lane_t *lane, system_service_id_t source, system_event_type_t type,
                               const void *data, size_t size, void *block, uint8_t store,
                               int64_t now, bool isr)
{
    uint32_t idx = lane->head + lane->count;
    if (idx >= lane->capacity) {
        idx -= lane->capacity;
    }
    slot_t *slot = &lane->slots[idx];
    if (store == STORE_INLINE) {
        if (size != 0) {
            memcpy(slot->payload.bytes, data, size);
        }
        bus.s.inline_payloads++;
    } else {
        slot->payload.block = block;
        bus.s.pool_payloads += store != STORE_HEAP;
    }
    slot->timestamp_us = now;
    slot->size = (uint32_t)size;
    slot->seq = bus.s.seq++;
    slot->type = type;
    slot->source = source;
    slot->store = store;
    slot->from_isr = isr;
    if (++lane->count > lane->high_water) {
        lane->high_water = lane->count;
    }
    lane->posted++;
    lane->posted_from_isr += isr;
    bus.s.pending++;
    bool wake = bus.s.dispatcher_idle;
    bus.s.dispatcher_idle = false;
    return wake;
}

/* The payload copy: inline (nothing to take), a pool block of the smallest fitting class, or the
 * heap for an oversize payload. On failure *reason says why. */
#define COLD __attribute__((noinline, cold)) /* keeps the common path of post() short */

static esp_err_t take_payload(const void *data, size_t size, bool critical, bool isr,
                              bool may_wait, uint32_t timeout_ms, int64_t *deadline, void **block,
                              uint8_t *store, system_event_drop_reason_t *reason)
{
    if (size <= bus.class_size[CLASSES - 1]) {
        unsigned c = 0;
        *block = take_block(size, critical, may_wait, timeout_ms, deadline, &c, reason);
        if (*block == NULL) {
            return *reason == SYSTEM_EVENT_DROP_NOT_READY ? ESP_ERR_INVALID_STATE : ESP_ERR_NO_MEM;
        }
        *store = (uint8_t)c;
    } else {
        /* (size >> 16 >> 16): above 4 GiB on 64-bit hosts; the record keeps a 32-bit size */
        if (isr || !KRAKEN_EVENT_OVERSIZE_TO_HEAP || (size >> 16 >> 16) != 0) {
            *reason = SYSTEM_EVENT_DROP_TOO_LARGE;
            return ESP_ERR_INVALID_SIZE;
        }
        if ((*block = memory_pool_alloc(size)) == NULL) {
            *reason = SYSTEM_EVENT_DROP_NO_MEM;
            return ESP_ERR_NO_MEM;
        }
        *store = STORE_HEAP;
        atomic_fetch_add(&bus.heap_in_use, 1);
    }
    memcpy(*block, data, size);
    return ESP_OK;
}

/* A failed post: count it, give back what it took. */
static COLD esp_err_t post_failed(system_event_priority_t priority, system_event_drop_reason_t reason,
                             esp_err_t err, void *block, uint8_t store, bool entered)
{
    count_drop(priority, reason);
    free_payload(block, store);
    if (entered) {
        leave();
    }
    return err;
}

/* The lane was full (or the bus stopping) at the first look: wait for room up to the deadline. */
static COLD esp_err_t post_slow(lane_t *lane, system_event_priority_t priority,
                           system_service_id_t source, system_event_type_t type, const void *data,
                           size_t size, void *block, uint8_t store, int64_t now, bool isr,
                           bool may_wait, uint32_t timeout_ms, int64_t *deadline, bool *woken)
{
    system_event_drop_reason_t reason = SYSTEM_EVENT_DROP_FULL;
    esp_err_t err = ESP_OK;
    bool waiting = false, token = false, wake = false;
    kraken_port_lock(&bus.lock);
    for (;;) {
        if (waiting) {
            /* A token taken was one of the `woken`; a timeout may leave a token behind (a later
             * waiter then wakes once for nothing and waits again). */
            lane->waiters--;
            if (token && lane->woken > 0) {
                lane->woken--;
            }
            if (lane->woken > lane->waiters) {
                lane->woken = lane->waiters;
            }
            waiting = false;
        }
        if (atomic_load(&bus.state) != ST_READY) {
            reason = SYSTEM_EVENT_DROP_NOT_READY;
            err = ESP_ERR_INVALID_STATE;
            break;
        }
        if (lane->count < lane->capacity) {
            wake = push_locked(lane, source, type, data, size, block, store, now, isr);
            break;
        }
        uint32_t left = may_wait ? wait_left_ms(deadline, timeout_ms) : 0;
        if (left == 0) {
            err = ESP_ERR_TIMEOUT;
            break;
        }
        lane->waiters++;
        waiting = true;
        kraken_port_unlock(&bus.lock);
        token = kraken_port_sem_take(&bus.space[priority], left);
        kraken_port_lock(&bus.lock);
    }
    if (err != ESP_OK) {
        count_drop_locked(lane, reason);
    }
    kraken_port_unlock(&bus.lock);
    if (err != ESP_OK) {
        free_payload(block, store);
    } else {
        if (store == STORE_HEAP) {
            atomic_fetch_add(&bus.heap_payloads, 1);
        }
        if (wake) {
            if (isr) {
                kraken_port_sem_give_from_isr(&bus.work, woken);
            } else {
                kraken_port_sem_give(&bus.work);
            }
        }
    }
    leave();
    return err;
}

static esp_err_t post(system_service_id_t source, system_event_type_t type, const void *data,
                      size_t size, system_event_priority_t priority, uint32_t timeout_ms,
                      bool isr, bool *woken)
{
    if (!valid_priority(priority)) {
        atomic_fetch_add(&bus.invalid_priority, 1);
        return ESP_ERR_INVALID_ARG;
    }
    if (source == SYSTEM_SERVICE_ID_ANY || type == SYSTEM_EVENT_TYPE_ANY ||
        (data == NULL && size > 0)) {
        return post_failed(priority, SYSTEM_EVENT_DROP_INVALID_ARG, ESP_ERR_INVALID_ARG, NULL,
                           STORE_INLINE, false);
    }
    if (!isr && kraken_port_in_isr()) {
        return post_failed(priority, SYSTEM_EVENT_DROP_NOT_READY, ESP_ERR_INVALID_STATE, NULL,
                           STORE_INLINE, false);
    }
    esp_err_t err = enter(!isr);
    if (err != ESP_OK) {
        return post_failed(priority, SYSTEM_EVENT_DROP_NOT_READY, err, NULL, STORE_INLINE, false);
    }
    const bool may_wait = !isr && timeout_ms != 0 && t_in_handler == 0;
    int64_t deadline = 0;
    void *block = NULL;
    uint8_t store = STORE_INLINE;
    if (size > INLINE_SIZE) {
        system_event_drop_reason_t reason;
        err = take_payload(data, size, priority == CRITICAL, isr, may_wait, timeout_ms, &deadline,
                           &block, &store, &reason);
        if (err != ESP_OK) {
            return post_failed(priority, reason, err, NULL, STORE_INLINE, true);
        }
    }
    const int64_t now = kraken_port_time_us();
    lane_t *lane = &bus.s.lanes[priority];
    kraken_port_lock(&bus.lock);
    if (__builtin_expect(lane->count >= lane->capacity || atomic_load(&bus.state) != ST_READY, 0)) {
        kraken_port_unlock(&bus.lock);
        return post_slow(lane, priority, source, type, data, size, block, store, now, isr,
                         may_wait, timeout_ms, &deadline, woken);
    }
    bool wake = push_locked(lane, source, type, data, size, block, store, now, isr);
    kraken_port_unlock(&bus.lock);
    if (store == STORE_HEAP) {
        atomic_fetch_add(&bus.heap_payloads, 1);
    }
    if (wake) {
        if (isr) {
            kraken_port_sem_give_from_isr(&bus.work, woken);
        } else {
            kraken_port_sem_give(&bus.work);
        }
    }
    leave();
    return ESP_OK;
}

esp_err_t system_event_post_with_timeout(system_service_id_t service_id,
                                         system_event_type_t event_type, const void *data,
                                         size_t size, system_event_priority_t priority,
                                         uint32_t timeout_ms)
{
    return post(service_id, event_type, data, size, priority, timeout_ms, false, NULL);
}

esp_err_t system_event_post(system_service_id_t service_id, system_event_type_t event_type,
                            const void *data, size_t size, system_event_priority_t priority)
{
    return post(service_id, event_type, data, size, priority, KRAKEN_EVENT_POST_TIMEOUT_MS, false,
                NULL);
}

esp_err_t system_event_post_from_isr(system_service_id_t service_id, system_event_type_t event_type,
                                     const void *data, size_t size,
                                     system_event_priority_t priority,
                                     bool *higher_priority_task_woken)
{
    return post(service_id, event_type, data, size, priority, 0, true, higher_priority_task_woken);
}

/* ---- subscriptions --------------------------------------------------------------------------- */

#define HANDLE_INDEX_BITS 8u

static uint32_t handle_of(uint32_t index, uint32_t gen)
{
    return (gen << HANDLE_INDEX_BITS) | (index + 1);
}

/* The entry a handle names while it is ACTIVE, else NULL. Lock held. */
static sub_t *sub_of_locked(system_event_subscription_t handle)
{
    uint32_t index = (handle.opaque_ & ((1u << HANDLE_INDEX_BITS) - 1)) - 1;
    if (handle.opaque_ == 0 || index >= MAX_SUBS) {
        return NULL;
    }
    sub_t *sub = &bus.s.subs[index];
    if (sub->state != SUB_ACTIVE || handle_of(index, sub->gen) != handle.opaque_) {
        return NULL;
    }
    return sub;
}

esp_err_t system_event_subscribe(system_service_id_t service_id, system_event_type_t event_type,
                                 system_event_handler_t handler, void *ctx,
                                 system_event_subscription_t *out_handle)
{
    if (out_handle != NULL) {
        out_handle->opaque_ = 0;
    }
    if (handler == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE;
    }
    esp_err_t err = enter(true);
    if (err != ESP_OK) {
        return err;
    }
    uint32_t opaque = 0;
    kraken_port_lock(&bus.lock);
    for (uint32_t i = 0; i < MAX_SUBS; i++) {
        sub_t *sub = &bus.s.subs[i];
        if (sub->state != SUB_FREE) {
            continue;
        }
        bus.next_gen = (bus.next_gen + 1) & (UINT32_MAX >> HANDLE_INDEX_BITS);
        if (bus.next_gen == 0) {
            bus.next_gen = 1;
        }
        *sub = (sub_t){.handler = handler, .ctx = ctx, .type = event_type, .source = service_id,
                       .state = SUB_ACTIVE, .gen = bus.next_gen};
        opaque = handle_of(i, sub->gen);
        bus.s.sub_count++;
        if (i >= bus.s.sub_limit) {
            bus.s.sub_limit = i + 1;
        }
        break;
    }
    kraken_port_unlock(&bus.lock);
    leave();
    if (opaque == 0) {
        return ESP_ERR_NO_MEM;
    }
    if (out_handle != NULL) {
        out_handle->opaque_ = opaque;
    }
    return ESP_OK;
}

esp_err_t system_event_unsubscribe(system_event_subscription_t handle)
{
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE;
    }
    if (enter(false) != ESP_OK) {
        /* Not started: no subscription exists. Stopping: deinit removes it and returns only after
         * the last handler call. */
        return atomic_load(&bus.state) == ST_STOPPING ? ESP_ERR_INVALID_STATE : ESP_ERR_NOT_FOUND;
    }
    kraken_port_lock(&bus.lock);
    sub_t *sub = sub_of_locked(handle);
    if (sub == NULL) {
        kraken_port_unlock(&bus.lock);
        leave();
        return ESP_ERR_NOT_FOUND;
    }
    sub->state = SUB_RETIRED; /* no new call starts from now on */
    if (sub->busy == 0) {
        free_sub_locked(sub);
    } else if (t_in_handler == 0) {
        /* A call is running in a dispatcher: wait for it, so the caller may free ctx. */
        sub->waiter = true;
        while (sub->busy > 0) {
            kraken_port_unlock(&bus.lock);
            kraken_port_sem_take(&bus.idle, UNSUBSCRIBE_POLL_MS);
            kraken_port_lock(&bus.lock);
        }
        free_sub_locked(sub);
    } /* else: inside a handler; the dispatcher frees the entry when its call returns */
    kraken_port_unlock(&bus.lock);
    leave();
    return ESP_OK;
}

/* ---- services -------------------------------------------------------------------------------- */

esp_err_t system_service_register(const char *name, system_service_id_t *out_id)
{
    if (name == NULL || out_id == NULL || name[0] == '\0') {
        return ESP_ERR_INVALID_ARG;
    }
    size_t len = 0;
    while (len < NAME_LEN && name[len] != '\0') {
        len++;
    }
    if (len == NAME_LEN) {
        return ESP_ERR_INVALID_SIZE;
    }
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE;
    }
    esp_err_t err = enter(true);
    if (err != ESP_OK) {
        return err;
    }
    err = ESP_ERR_NO_MEM;
    kraken_port_lock(&bus.lock);
    for (uint32_t i = 0; i < bus.s.service_count; i++) {
        if (strcmp(bus.s.names[i], name) == 0) {
            *out_id = (system_service_id_t)i;
            err = ESP_OK;
            break;
        }
    }
    if (err != ESP_OK && bus.s.service_count < MAX_SERVICES) {
        memcpy(bus.s.names[bus.s.service_count], name, len + 1);
        *out_id = (system_service_id_t)bus.s.service_count++;
        err = ESP_OK;
    }
    kraken_port_unlock(&bus.lock);
    leave();
    return err;
}

const char *system_service_get_name(system_service_id_t id)
{
    const char *name = NULL;
    kraken_port_lock(&bus.lock);
    if (atomic_load(&bus.state) == ST_READY && id < bus.s.service_count) {
        name = bus.s.names[id];
    }
    kraken_port_unlock(&bus.lock);
    return name;
}

/* ---- deinit ---------------------------------------------------------------------------------- */

/* Pop one queued event without delivering it; false when every lane is empty. */
static bool discard_one(void)
{
    kraken_port_lock(&bus.lock);
    if (bus.s.pending == 0) {
        kraken_port_unlock(&bus.lock);
        return false;
    }
    unsigned p = LANES - 1;
    while (bus.s.lanes[p].count == 0) {
        p--;
    }
    lane_t *lane = &bus.s.lanes[p];
    slot_t ev = lane->slots[lane->head];
    lane->head = lane->head + 1 == lane->capacity ? 0 : lane->head + 1;
    lane->count--;
    bus.s.pending--;
    count_drop_locked(lane, SYSTEM_EVENT_DROP_DISCARDED);
    kraken_port_unlock(&bus.lock);
    free_payload(ev.payload.block, ev.store);
    return true;
}

esp_err_t system_event_bus_deinit(system_event_deinit_t how)
{
    if (how != SYSTEM_EVENT_DEINIT_DRAIN && how != SYSTEM_EVENT_DEINIT_DISCARD) {
        return ESP_ERR_INVALID_ARG;
    }
    if (kraken_port_in_isr() || t_in_handler) {
        return ESP_ERR_INVALID_STATE;
    }
    int expected = ST_READY;
    if (!atomic_compare_exchange_strong(&bus.state, &expected, ST_STOPPING)) {
        return ESP_ERR_INVALID_STATE;
    }
    /* Release posters waiting for room or for a block: they see STOPPING and leave. */
    uint32_t waiting[LANES];
    kraken_port_lock(&bus.lock);
    for (unsigned i = 0; i < LANES; i++) {
        waiting[i] = bus.s.lanes[i].waiters;
    }
    kraken_port_unlock(&bus.lock);
    for (unsigned i = 0; i < LANES; i++) {
        give_space(i, waiting[i]);
    }
    for (unsigned c = 0; c < CLASSES; c++) {
        for (uint32_t n = atomic_load(&bus.block_waiters[c]); n > 0; n--) {
            kraken_port_sem_give(&bus.block_sem[c]);
        }
    }
    while (atomic_load(&bus.users) != 0) {
        kraken_port_delay_ms(1);
    }
    if (bus.s.mode == SYSTEM_EVENT_MODE_TASK) {
        kraken_port_lock(&bus.lock);
        bus.s.stop = true;
        bus.s.discard = how == SYSTEM_EVENT_DEINIT_DISCARD;
        kraken_port_unlock(&bus.lock);
        kraken_port_sem_give(&bus.work);
        kraken_port_task_join(&bus.task);
    } else if (how == SYSTEM_EVENT_DEINIT_DRAIN) {
        int64_t clock = 0;
        while (dispatch_one(false, false, &clock) == DISPATCHED) {
        }
    }
    while (discard_one()) {
    }
    kraken_port_lock(&bus.lock);
    for (uint32_t i = 0; i < MAX_SUBS; i++) {
        bus.s.subs[i].state = SUB_FREE;
    }
    bus.s.sub_count = 0;
    bus.s.sub_limit = 0;
    kraken_port_unlock(&bus.lock);
    delete_semaphores(SEM_COUNT);
    atomic_store(&bus.state, ST_UNINIT);
    return ESP_OK;
}

/* ---- statistics ------------------------------------------------------------------------------ */

esp_err_t system_event_get_stats(system_event_stats_t *out)
{
    if (out == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    memset(out, 0, sizeof *out);
    kraken_port_lock(&bus.lock);
    out->mode = bus.s.mode;
    out->ready = atomic_load(&bus.state) == ST_READY;
    for (unsigned i = 0; i < LANES; i++) {
        const lane_t *lane = &bus.s.lanes[i];
        system_event_lane_stats_t *o = &out->lanes[i];
        o->capacity = lane->capacity;
        o->depth = lane->count;
        o->depth_high_water = lane->high_water;
        o->posted = lane->posted;
        o->posted_from_isr = lane->posted_from_isr;
        o->unhandled = lane->unhandled;
        memcpy(o->dropped, lane->dropped, sizeof o->dropped);
        o->latency_min_us = lane->latency_min;
        o->latency_max_us = lane->latency_max;
        o->latency_mean_us = lane->latency_n ? (uint32_t)(lane->latency_sum / lane->latency_n) : 0;
    }
    out->inline_payloads = bus.s.inline_payloads;
    out->pool_payloads = bus.s.pool_payloads;
    out->subscriptions = bus.s.sub_count;
    out->services = bus.s.service_count;
    for (unsigned i = 0; i < LANES; i++) {
        out->lanes[i].delivered = atomic_load_explicit(&bus.s.lanes[i].delivered, memory_order_acquire);
    }
    kraken_port_unlock(&bus.lock);
    for (unsigned c = 0; c < CLASSES; c++) {
        out->pool_blocks_in_use[c] = atomic_load(&bus.blocks[c]);
        out->pool_blocks_peak[c] = atomic_load(&bus.blocks_peak[c]);
    }
    out->heap_payloads = atomic_load(&bus.heap_payloads);
    out->heap_in_use = atomic_load(&bus.heap_in_use);
    out->invalid_priority = atomic_load(&bus.invalid_priority);
    return ESP_OK;
}

esp_err_t system_event_get_subscription_stats(system_event_subscription_t handle,
                                              system_event_subscription_stats_t *out)
{
    if (out == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    esp_err_t err = ESP_ERR_NOT_FOUND;
    kraken_port_lock(&bus.lock);
    const sub_t *sub = atomic_load(&bus.state) == ST_READY ? sub_of_locked(handle) : NULL;
    if (sub != NULL) {
        *out = (system_event_subscription_stats_t){
            .service_id = sub->source,
            .event_type = sub->type,
            .deliveries = sub->deliveries,
            .longest_handler_us = sub->longest_us,
            .total_handler_us = sub->total_us,
        };
        err = ESP_OK;
    }
    kraken_port_unlock(&bus.lock);
    return err;
}

void system_event_reset_peaks(void)
{
    kraken_port_lock(&bus.lock);
    for (unsigned i = 0; i < LANES; i++) {
        lane_t *lane = &bus.s.lanes[i];
        lane->high_water = lane->count;
        lane->latency_min = 0;
        lane->latency_max = 0;
        lane->latency_sum = 0;
        lane->latency_n = 0;
    }
    for (uint32_t i = 0; i < MAX_SUBS; i++) {
        bus.s.subs[i].longest_us = 0;
    }
    kraken_port_unlock(&bus.lock);
    for (unsigned c = 0; c < CLASSES; c++) {
        atomic_store(&bus.blocks_peak[c], atomic_load(&bus.blocks[c]));
    }
}

/* Decimal text of v into buf (at least 11 bytes). */
static const char *u32_text(uint32_t v, char *buf)
{
    char digits[10];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    size_t k = 0;
    while (n > 0) {
        buf[k++] = digits[--n];
    }
    buf[k] = '\0';
    return buf;
}

/* "ANY", the registered name, or "#<id>" for an unregistered id; buf at least 12 bytes. */
static const char *service_label(system_service_id_t id, char *buf)
{
    if (id == SYSTEM_SERVICE_ID_ANY) {
        return "ANY";
    }
    const char *name = system_service_get_name(id);
    if (name != NULL) {
        return name;
    }
    buf[0] = '#';
    u32_text(id, buf + 1);
    return buf;
}

void system_event_log_stats(const char *tag)
{
    if (tag == NULL) {
        tag = TAG;
    }
    system_event_stats_t st;
    system_event_get_stats(&st);
    KRAKEN_LOGI(tag, "Event bus: %s, %s mode, %u services, %u subscriptions",
                st.ready ? "ready" : "stopped",
                st.mode == SYSTEM_EVENT_MODE_TASK ? "task" : "manual", (unsigned)st.services,
                (unsigned)st.subscriptions);
    for (unsigned i = LANES; i-- > 0;) {
        const system_event_lane_stats_t *l = &st.lanes[i];
        KRAKEN_LOGI(tag, "  %-8s posted %u (isr %u), delivered %u (unhandled %u), depth %u/%u max %u",
                    lane_name[i], (unsigned)l->posted, (unsigned)l->posted_from_isr,
                    (unsigned)l->delivered, (unsigned)l->unhandled, (unsigned)l->depth,
                    (unsigned)l->capacity, (unsigned)l->depth_high_water);
        const uint32_t *d = l->dropped;
        KRAKEN_LOGI(tag,
                    "  %-8s dropped: full %u, no_mem %u, reserve %u, too_large %u, invalid %u, "
                    "not_ready %u, discarded %u; latency us min/mean/max %u/%u/%u",
                    "", (unsigned)d[SYSTEM_EVENT_DROP_FULL], (unsigned)d[SYSTEM_EVENT_DROP_NO_MEM],
                    (unsigned)d[SYSTEM_EVENT_DROP_RESERVE], (unsigned)d[SYSTEM_EVENT_DROP_TOO_LARGE],
                    (unsigned)d[SYSTEM_EVENT_DROP_INVALID_ARG],
                    (unsigned)d[SYSTEM_EVENT_DROP_NOT_READY],
                    (unsigned)d[SYSTEM_EVENT_DROP_DISCARDED], (unsigned)l->latency_min_us,
                    (unsigned)l->latency_mean_us, (unsigned)l->latency_max_us);
    }
    KRAKEN_LOGI(tag,
                "  payloads: inline %u, pool %u, heap %u (%u live); pool blocks in use %u/%u/%u/%u "
                "(peak %u/%u/%u/%u); invalid priority %u",
                (unsigned)st.inline_payloads, (unsigned)st.pool_payloads,
                (unsigned)st.heap_payloads, (unsigned)st.heap_in_use,
                (unsigned)st.pool_blocks_in_use[0], (unsigned)st.pool_blocks_in_use[1],
                (unsigned)st.pool_blocks_in_use[2], (unsigned)st.pool_blocks_in_use[3],
                (unsigned)st.pool_blocks_peak[0], (unsigned)st.pool_blocks_peak[1],
                (unsigned)st.pool_blocks_peak[2], (unsigned)st.pool_blocks_peak[3],
                (unsigned)st.invalid_priority);
    for (uint32_t i = 0; i < MAX_SUBS; i++) {
        kraken_port_lock(&bus.lock);
        sub_t sub = bus.s.subs[i];
        bool live = i < bus.s.sub_limit && sub.state == SUB_ACTIVE;
        kraken_port_unlock(&bus.lock);
        if (!live) {
            continue;
        }
        char label[12], type[11];
        const char *src = service_label(sub.source, label);
        const char *type_text = sub.type == SYSTEM_EVENT_TYPE_ANY ? "ANY" : u32_text(sub.type, type);
        KRAKEN_LOGI(tag, "  subscription %u: service %s, type %s: %u deliveries, longest %u us",
                    (unsigned)i, src, type_text, (unsigned)sub.deliveries, (unsigned)sub.longest_us);
    }
}

/* ---- integrity check ------------------------------------------------------------------------- */

#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failure = what;                                                                        \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

esp_err_t system_event_bus_check(void)
{
    const char *failure = NULL;
    uint32_t queued_blocks[CLASSES] = {0};
    kraken_port_lock(&bus.lock);
    uint32_t pending = 0;
    for (unsigned i = 0; i < LANES; i++) {
        const lane_t *lane = &bus.s.lanes[i];
        if (atomic_load(&bus.state) == ST_UNINIT && lane->capacity == 0) {
            continue; /* never started */
        }
        CHECK(lane->capacity >= 1 && lane->capacity <= kconfig_capacity[i], "lane capacity");
        CHECK(lane->head < lane->capacity, "lane head");
        CHECK(lane->count <= lane->capacity, "lane count");
        CHECK(lane->high_water <= lane->capacity, "lane high-water");
        pending += lane->count;
        for (uint32_t k = 0; k < lane->count; k++) {
            const slot_t *slot = &lane->slots[(lane->head + k) % lane->capacity];
            if (slot->store == STORE_INLINE) {
                CHECK(slot->size <= INLINE_SIZE, "inline payload size");
            } else if (slot->store == STORE_HEAP) {
                CHECK(slot->size > bus.class_size[CLASSES - 1], "heap payload size");
            } else {
                CHECK(slot->store < CLASSES && slot->size <= bus.class_size[slot->store] &&
                          slot->size > INLINE_SIZE,
                      "pool payload class");
                queued_blocks[slot->store]++;
            }
        }
    }
    CHECK(pending == bus.s.pending, "pending count");
    uint32_t active = 0;
    for (uint32_t i = 0; i < MAX_SUBS; i++) {
        const sub_t *sub = &bus.s.subs[i];
        CHECK(sub->state <= SUB_RETIRED, "subscription state");
        CHECK(i < bus.s.sub_limit || sub->state == SUB_FREE, "subscription above the limit");
        CHECK(sub->state != SUB_ACTIVE || sub->handler != NULL, "subscription without handler");
        CHECK(sub->state != SUB_FREE || sub->busy == 0, "free subscription in a call");
        active += sub->state != SUB_FREE;
    }
    CHECK(active == bus.s.sub_count, "subscription count");
    CHECK(bus.s.service_count <= MAX_SERVICES, "service count");
    for (unsigned c = 0; c < CLASSES; c++) {
        CHECK(queued_blocks[c] <= atomic_load(&bus.blocks[c]), "pool blocks counted");
    }
out:
    kraken_port_unlock(&bus.lock);
    if (failure != NULL) {
        KRAKEN_LOGE(TAG, "integrity check failed: %s", failure);
        return ESP_ERR_INVALID_STATE;
    }
    return ESP_OK;
}
