/*
 * event_bus.c - pool-backed events in per-priority rings, delivered by a dispatcher task or by
 * system_event_dispatch_pending().
 *
 * Storage is static (sizes from Kconfig): one ring of event records per priority lane, one table of
 * subscriptions, one table of service names. A payload is copied once, into the record (inline, up
 * to KRAKEN_EVENT_INLINE_DATA_SIZE bytes) or into a pool block from memory_pool_alloc_isr_margin(),
 * which never touches the heap; only oversize payloads may go to the heap (Kconfig).
 *
 * Locking: one port lock (a spinlock on the chip) guards the rings, the tables and the counters.
 * It is never held across a handler call, a pool call, a semaphore call or a log line. One critical
 * section per run and dispatcher: it settles the previous run (subscriber figures, delivered,
 * blocks, latency) and takes the next: up to RUN consecutive events of one source and type from the
 * head of the highest lane, their slots reserved so that the handlers read them in place (each
 * slot is released to posts once its event is delivered), and up to
 * CHUNK matching subscriptions marked `busy`; the handlers then run without the lock. A busy entry
 * is never reused or unlinked, and unsubscribe waits for it (outside handlers); its state is read
 * before each call (an atomic), so an entry removed meanwhile is skipped. Between two events of a
 * run, a higher-priority post or a new subscription (`activity`) puts the rest of the run back.
 *
 * Subscriptions sit in lists: one per bucket of exact sources (source % BUCKETS) and one for
 * SYSTEM_SERVICE_ID_ANY, so an event looks at the subscriptions of its own bucket and the
 * wildcards, not at the whole table.
 *
 * Lifecycle: `state` (atomic) goes UNINIT -> STARTING -> READY -> STOPPING -> UNINIT. An inline post
 * checks the state inside its critical section (deinit sets STOPPING inside the lock, so a post
 * either sees STOPPING or is queued before deinit drains). Every other call that
 * holds something outside the lock (a pool block, a semaphore) counts itself in `users` first, and
 * deinit waits for `users` to drop to zero after setting STOPPING (both seq_cst, so one of the two
 * always sees the other). post()'s pool block, copied before its critical section, is counted
 * without an atomic read-modify-write instead: in `tally`, by the pools under the class's lock
 * (refused once deinit has closed it), and in `settled` under ours; deinit also waits for the two
 * to agree.
 *
 * KRAKEN_PORT_ISR_TEXT marks what system_event_post_from_isr() reaches: IRAM with
 * CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM (tools/iram_check.py checks that nothing it reaches is left out).
 */
#include <limits.h>
#include <stdatomic.h>
#include <string.h>

#include "kraken_config.h"
#include "kraken_port.h"
#include "memory_pool.h"
#include "memory_pool_tally.h"
#include "system_service/event_bus.h"

_Static_assert(SYSTEM_EVENT_POOL_CLASS_COUNT == MEMORY_POOL_CLASS_COUNT,
               "event_bus.h and memory_pool.h disagree on the number of pool classes");
_Static_assert(KRAKEN_POOL_CLASS_COUNT == MEMORY_POOL_CLASS_COUNT, "pool class count");

static const char *TAG = "event_bus";

#define ALWAYS_INLINE inline __attribute__((always_inline))
#define COLD __attribute__((noinline, cold)) /* keeps the common paths short */

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
/* A post that finds its lane full (or its pool class empty) and may wait yields this many times
 * before it sleeps: the dispatcher, running on the other core or let run by the yield, usually
 * makes room meanwhile, which saves a sleep/wake pair. */
#define POST_SPINS 20
/* Subscription lists: exact sources by source % BUCKETS, plus one list for SYSTEM_SERVICE_ID_ANY. */
#define BUCKETS 8u
#define ANY_LIST BUCKETS
/* Subscriptions called per critical section (bounds the dispatcher's stack use). */
#define CHUNK KRAKEN_EVENT_DISPATCH_CHUNK

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
    bool from_isr;
} slot_t;

typedef struct {
    slot_t *slots;
    uint32_t capacity, head, count, high_water;
    uint32_t reserved; /* slots before head taken by a run (one run of one dispatcher; those of
                          its delivered events are bus.released) */
    uint32_t waiters; /* posters waiting for room */
    uint32_t woken;   /* of which already given a wake-up token */
    uint32_t posted, posted_from_isr, delivered, unhandled;
    uint32_t dropped[SYSTEM_EVENT_DROP_REASON_COUNT];
    uint32_t latency_min, latency_max; /* min is UINT32_MAX until the first delivery */
    uint64_t latency_sum, latency_n;
} lane_t;

enum { SUB_FREE = 0, SUB_ACTIVE, SUB_RETIRED };

typedef struct sub {
    system_event_handler_t handler;
    void *ctx;
    struct sub *next, *prev; /* list links */
    system_event_type_t type;
    system_service_id_t source;
    _Atomic uint8_t state; /* written under the lock; read without it by a dispatcher holding busy */
    bool waiter;           /* an unsubscribe waits for busy to reach 0 */
    uint32_t busy;         /* calls running or about to run */
    uint64_t gen; /* generation, part of the handle: a stale handle never matches a reused entry
                     (64 bits: never wraps); also tells subscriptions made during a walk */
    uint32_t deliveries, longest_us;
    uint64_t total_us;
} sub_t;

enum { ST_UNINIT = 0, ST_STARTING, ST_READY, ST_STOPPING };
enum { TOLD_STOPPED = 1, TOLD_RUNNING = 2 };

/* Everything zeroed by a start. */
typedef struct {
    system_event_mode_t mode;
    lane_t lanes[LANES];
    /* Bits 0..LANES-1: lanes with queued events; then a bit per lane with a poster waiting for
     * room (room_wanted(p)); the bits above count subscribes.
     * Written under the lock; a dispatcher reads it without the lock between the events of a run. */
    _Atomic uint32_t activity;
    uint32_t seq;
    bool dispatcher_idle; /* the dispatcher waits on `work`: the next post gives it */
    bool stop;    /* deinit asks the dispatcher task to stop (once it has drained, without discard) */
    bool discard; /* deinit(DISCARD) began: every dispatcher stops at its next event */
    sub_t subs[MAX_SUBS];
    sub_t *list_head[BUCKETS + 1], *list_tail[BUCKETS + 1];
    uint32_t sub_count; /* ACTIVE entries (RETIRED ones wait for their calls to end) */
    char names[MAX_SERVICES][NAME_LEN];
    uint32_t service_count;
    uint32_t pool_payloads, heap_payloads; /* inline ones are the rest of `posted` */
    uint32_t invalid_priority; /* posts with no lane to count them in */
    /* Pool blocks (by the class they came from) taken by posts and not yet settled by a run;
     * minus the bus.returned counts, the blocks events hold now (held_locked). */
    uint32_t blocks[CLASSES];
    uint32_t blocks_peak[CLASSES];
} bus_state_t;

static struct {
    kraken_port_lock_t lock;
    _Atomic int state;
    _Atomic uint32_t users;
    /* post()'s pool blocks, not counted in `users`: counted in the tally by the pools inside the
     * class's critical section (open while READY), and in `settled` under our lock once the block
     * is queued or handed on to `users`. Deinit closes the tally and waits until the two agree.
     * Never reset. */
    memory_pool_tally_t tally;
    uint32_t settled;
    uint64_t next_gen; /* never reset: handles from before a restart stay stale */
    bus_state_t s;
    kraken_port_sem_t work;  /* the dispatcher sleeps here */
    kraken_port_sem_t space[LANES]; /* posters wait here for room */
    kraken_port_sem_t idle;  /* unsubscribers wait here for a running call to end */
    _Atomic uint32_t idle_waiters; /* how many (changed under the lock) */
    kraken_port_sem_t block_sem[CLASSES]; /* posts wait here for a pool block of the class */
    _Atomic uint32_t block_waiters[CLASSES];
    /* Below MISSED_SHIFT: the sum of block_waiters; bit MISSED_SHIFT + c: a post found class c
     * without a block since a dispatcher last looked. One load tells a dispatcher that nobody
     * wants the blocks it holds. */
    _Atomic uint32_t block_wanted;
    /* Blocks of delivered events (given back to the pools or about to be), by lane and class,
     * not yet subtracted from s.blocks by the settle of their run: added before the free, so
     * that a post that gets such a block sees it added. Only the dispatcher holding the lane's
     * run writes its row (a load and a store, no read-modify-write), once per event: kept off
     * the lines every post reads. */
    _Alignas(KRAKEN_PORT_CACHE_LINE) _Atomic uint32_t returned[LANES][CLASSES];
    /* Per lane, the slots of the run's delivered events (the oldest of lane->reserved): posts may
     * take them again. The dispatcher holding the run stores it after each event, without the
     * lock (release: the handlers are done with the slot); the run's settle zeroes it. Off the
     * lines every post reads. */
    _Alignas(KRAKEN_PORT_CACHE_LINE) _Atomic uint32_t released[LANES];
    /* The pools' class table, read at start (memory_pool_init may have changed the Kconfig one). */
    _Alignas(KRAKEN_PORT_CACHE_LINE) uint32_t class_size[CLASSES];
    uint32_t class_capacity[CLASSES];
    _Atomic uint32_t largest; /* class_size[CLASSES - 1], for the unlocked look of post() */
    bool spills;              /* the pools' try_larger_class: a block may be of a larger class */
    kraken_port_task_t task;
    _Atomic uint32_t heap_in_use; /* updated outside the lock */
    /* Posts refused while the bus was stopped (before its first start, since its last deinit, or
     * during a start): the next successful start keeps them in its counters. Lock held. */
    uint32_t stopped_dropped[LANES][SYSTEM_EVENT_DROP_REASON_COUNT];
    uint32_t stopped_invalid_priority;
    /* system_event_dispatch_pending() was refused for task mode and said why (TOLD_*): once while
     * stopped (until deinit ends), once per start. Two bits: a refusal racing a start does not
     * use up the started bus's line. */
    _Atomic uint8_t told_task_mode;
} bus = {.lock = KRAKEN_PORT_LOCK_INITIALIZER};

static slot_t slot_storage[TOTAL_SLOTS];

/* Depth of dispatch on this task: posts from a handler never wait; some calls are refused. */
static _Thread_local uint32_t t_in_handler;

/* Pool blocks of the events a dispatcher has delivered in its current run, returned together at
 * the end of the run (one pool lock per class instead of one per event). Also at once when a
 * handler of the run posts a pool payload (it gets the blocks an event-by-event free would have
 * left it), when a poster waits for a block of the class and when a post has found the class
 * empty (then after each event for the rest of the run: held_blocks_wanted). */
#define RUN 16 /* events taken per critical section at most */
typedef struct {
    uint32_t n;
    uint32_t classes; /* a bit per class with a block in `blocks` */
    void *blocks[RUN];
} spent_t;

/* The running dispatch's spent blocks on this task, NULL outside a dispatch. */
static _Thread_local spent_t *t_spent;

static void return_spent(spent_t *sp)
{
    const uint32_t n = sp->n;
    sp->n = 0; /* before the call: nothing in it may see the blocks listed twice */
    sp->classes = 0;
    (void)memory_pool_free_batch_isr(sp->blocks, n); /* our own blocks: cannot fail */
}

/* ---- helpers ---------------------------------------------------------------------------------- */

KRAKEN_PORT_ISR_TEXT
static bool valid_priority(system_event_priority_t p)
{
    return (unsigned)p < LANES;
}

KRAKEN_PORT_ISR_TEXT
static void count_drop_locked(lane_t *lane, system_event_drop_reason_t reason)
{
    lane->dropped[reason]++;
}

/* Lock held: whether the bus is stopped (or starting), so that a refusal must outlive the start. */
KRAKEN_PORT_ISR_TEXT
static bool stopped_locked(void)
{
    const int state = atomic_load(&bus.state);
    return state == ST_UNINIT || state == ST_STARTING;
}

KRAKEN_PORT_ISR_TEXT
static void count_drop(system_event_priority_t priority, system_event_drop_reason_t reason)
{
    kraken_port_lock(&bus.lock);
    count_drop_locked(&bus.s.lanes[priority], reason);
    if (stopped_locked()) {
        bus.stopped_dropped[priority][reason]++;
    }
    kraken_port_unlock(&bus.lock);
}

KRAKEN_PORT_ISR_TEXT
static unsigned class_of(size_t size)
{
    unsigned c = 0;
    while (size > bus.class_size[c]) {
        c++;
    }
    return c;
}

/* Count n (may be negative, mod 2^32) blocks of class c as returned by the run of lane p; only
 * its dispatcher writes that row. */
static inline void add_returned(unsigned p, unsigned c, uint32_t n)
{
    _Atomic uint32_t *r = &bus.returned[p][c];
    atomic_store_explicit(r, atomic_load_explicit(r, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Lock held: blocks of class c that events hold now. */
KRAKEN_PORT_ISR_TEXT
static inline uint32_t held_locked(unsigned c)
{
    uint32_t held = bus.s.blocks[c];
    for (unsigned p = 0; p < LANES; p++) {
        held -= atomic_load_explicit(&bus.returned[p][c], memory_order_relaxed);
    }
    return held;
}

/* Classes with a post waiting for a block that one of class c would serve: c, and c - 1 when
 * the pools spill an empty class into the next one. A bit per class. */
static inline uint32_t block_waiters_served_by(unsigned c)
{
    uint32_t bits = 0;
    if (atomic_load_explicit(&bus.block_waiters[c], memory_order_relaxed) != 0) {
        bits = 1u << c;
    }
    if (__builtin_expect(bus.spills, 0) && c > 0 &&
        atomic_load_explicit(&bus.block_waiters[c - 1], memory_order_relaxed) != 0) {
        bits |= 1u << (c - 1);
    }
    return bits;
}

/* Lock held, blocks of class c just returned: the classes (a bit each) whose waiting posts to wake.
 * Only once the bus holds at most half of c, so that a producer faster than the dispatcher sleeps
 * once per half class, not once per event. */
static inline uint32_t block_wakeups_locked(unsigned c)
{
    const uint32_t waiting = block_waiters_served_by(c);
    return __builtin_expect(waiting != 0, 0) && held_locked(c) <= bus.class_capacity[c] / 2
               ? waiting
               : 0;
}

#define MISSED_SHIFT 24 /* bus.block_wanted */
_Static_assert(MISSED_SHIFT + CLASSES <= 32, "bus.block_wanted: a missed bit per class");

/* Whether a post waits for a block, or has missed one, that one of the classes in `classes` (a
 * bit each) would serve. A miss is answered once (its bit cleared): the caller's run then gives
 * the blocks of those classes back after each event (*scarce), as an ISR that cannot wait needs. */
static inline bool held_blocks_wanted(uint32_t classes, uint32_t *scarce)
{
    if ((classes & *scarce) != 0) {
        return true;
    }
    const uint32_t wanted = atomic_load_explicit(&bus.block_wanted, memory_order_relaxed);
    if (__builtin_expect(wanted == 0, 1)) {
        return false;
    }
    /* with spills, a block also serves the class below */
    const uint32_t served = classes | (bus.spills ? classes >> 1 : 0);
    const uint32_t missed = (wanted >> MISSED_SHIFT) & served;
    if (missed != 0) {
        atomic_fetch_and_explicit(&bus.block_wanted, ~(missed << MISSED_SHIFT),
                                  memory_order_relaxed);
        *scarce |= classes;
        return true;
    }
    if ((wanted & ((1u << MISSED_SHIFT) - 1)) == 0) {
        return false;
    }
    for (; classes != 0; classes &= classes - 1) {
        if (block_waiters_served_by((unsigned)__builtin_ctz(classes)) != 0) {
            return true;
        }
    }
    return false;
}

/* The class a pool block for a payload of `size` bytes came from (counted while READY). */
KRAKEN_PORT_ISR_TEXT
static inline uint8_t block_class(const void *block, size_t size)
{
    return (uint8_t)(bus.spills ? memory_pool_class_of(block) : class_of(size));
}

#define LANE_BITS ((1u << LANES) - 1)
#define ROOM_BITS (LANE_BITS << LANES)
#define SUBSCRIBE_ONE (1u << (2 * LANES))

/* The activity bit saying that a poster waits for room in lane p (its `waiters` is not 0). */
KRAKEN_PORT_ISR_TEXT
static inline uint32_t room_wanted(unsigned p)
{
    return 1u << (LANES + p);
}

KRAKEN_PORT_ISR_TEXT
static inline uint32_t activity(void)
{
    return atomic_load_explicit(&bus.s.activity, memory_order_relaxed);
}

KRAKEN_PORT_ISR_TEXT
static inline void set_activity(uint32_t value) /* lock held */
{
    atomic_store_explicit(&bus.s.activity, value, memory_order_relaxed);
}

static inline uint8_t sub_state(const sub_t *sub)
{
    return atomic_load_explicit(&sub->state, memory_order_relaxed);
}

static inline void set_sub_state(sub_t *sub, uint8_t state)
{
    atomic_store_explicit(&sub->state, state, memory_order_relaxed);
}

/* Give a payload block back (nothing for an inline payload). The counters are the caller's. */
KRAKEN_PORT_ISR_TEXT
static inline void free_payload(void *block, uint8_t store)
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
}

static inline uint32_t clamp_us(int64_t us)
{
    if (__builtin_expect((uint64_t)us >> 32 != 0, 0)) {
        return us < 0 ? 0 : UINT32_MAX;
    }
    return (uint32_t)us;
}

/* Copy an inline payload (n <= INLINE_SIZE) without a call: two overlapping words. */
KRAKEN_PORT_ISR_TEXT
static inline void copy_inline(uint8_t *dst, const uint8_t *src, size_t n)
{
    if (INLINE_SIZE > 16 && n > 16) {
        memcpy(dst, src, n);
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, src, 8);
        memcpy(&b, src + n - 8, 8);
        memcpy(dst, &a, 8);
        memcpy(dst + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, src, 4);
        memcpy(&b, src + n - 4, 4);
        memcpy(dst, &a, 4);
        memcpy(dst + n - 4, &b, 4);
    } else if (n > 0) {
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    }
}

/* ---- subscription lists (lock held) ----------------------------------------------------------- */

static inline unsigned list_of(system_service_id_t source)
{
    return source == SYSTEM_SERVICE_ID_ANY ? ANY_LIST : source % BUCKETS;
}

static void lists_reset_locked(void)
{
    for (unsigned l = 0; l <= ANY_LIST; l++) {
        bus.s.list_head[l] = NULL;
        bus.s.list_tail[l] = NULL;
    }
}

/* Append to its list (subscription order within a list). */
static void link_locked(sub_t *sub)
{
    unsigned l = list_of(sub->source);
    sub->next = NULL;
    sub->prev = bus.s.list_tail[l];
    if (sub->prev == NULL) {
        bus.s.list_head[l] = sub;
    } else {
        sub->prev->next = sub;
    }
    bus.s.list_tail[l] = sub;
}

static void unlink_locked(sub_t *sub)
{
    unsigned l = list_of(sub->source);
    if (sub->prev == NULL) {
        bus.s.list_head[l] = sub->next;
    } else {
        sub->prev->next = sub->next;
    }
    if (sub->next == NULL) {
        bus.s.list_tail[l] = sub->prev;
    } else {
        sub->next->prev = sub->prev;
    }
}

/* The entry is RETIRED with no call running: unlink and free it. */
static void free_sub_locked(sub_t *sub)
{
    unlink_locked(sub);
    set_sub_state(sub, SUB_FREE);
    sub->waiter = false;
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

/* The bus's own use of the dispatcher's stack, about 1.2 KB, with room for small handlers (the
 * Kconfig option's minimum). */
#define TASK_STACK_MIN 2560u

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
    if (config->mode == SYSTEM_EVENT_MODE_TASK &&
        (config->task_core < -1 || config->task_core >= KRAKEN_PORT_CORES ||
         config->task_priority >= KRAKEN_PORT_PRIORITIES ||
         (config->task_stack_bytes != 0 && config->task_stack_bytes < TASK_STACK_MIN))) {
        return ESP_ERR_INVALID_ARG;
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

/* Called with state STARTING, by exactly one task. What can fail comes before the last run's
 * figures are reset, except the dispatcher task's creation (ESP_ERR_NO_MEM). */
static esp_err_t start(const system_event_bus_config_t *config)
{
    /* ISR posts need the pools set up, and memory_pool_alloc_isr never sets them up. */
    memory_pool_stats_t pools;
    if (memory_pool_ensure_init() != ESP_OK || memory_pool_get_stats(&pools) != ESP_OK) {
        return ESP_ERR_NO_MEM;
    }
    atomic_store(&bus.block_wanted, 0);
    atomic_fetch_and(&bus.told_task_mode, (uint8_t)~TOLD_RUNNING);
    for (unsigned p = 0; p < LANES; p++) {
        atomic_store(&bus.released[p], 0);
    }
    for (unsigned c = 0; c < CLASSES; c++) {
        atomic_store(&bus.block_waiters[c], 0);
        for (unsigned p = 0; p < LANES; p++) {
            atomic_store(&bus.returned[p][c], 0);
        }
        /* Kconfig counts are checked at build time; a memory_pool_init() table only here */
        if (KRAKEN_EVENT_CRITICAL_RESERVE_BLOCKS != 0 &&
            pools.classes[c].capacity <= KRAKEN_EVENT_CRITICAL_RESERVE_BLOCKS) {
            KRAKEN_LOGW(TAG,
                        "pool class %u (%u B) has %u blocks, not more than the CRITICAL reserve "
                        "(%u): events below CRITICAL never get one (dropped: reserve)",
                        c, (unsigned)pools.classes[c].block_size,
                        (unsigned)pools.classes[c].capacity,
                        (unsigned)KRAKEN_EVENT_CRITICAL_RESERVE_BLOCKS);
        }
    }
    for (unsigned i = 0; i < SEM_COUNT; i++) {
        /* work: one pending wake-up is enough; the others count waiters' tokens */
        if (kraken_port_sem_create(sem_at(i), i == SEM_COUNT - 1 ? 1 : UINT16_MAX, 0) != ESP_OK) {
            delete_semaphores(i);
            return ESP_ERR_NO_MEM;
        }
    }

    kraken_port_lock(&bus.lock); /* system_event_bus_check may be reading */
    for (unsigned c = 0; c < CLASSES; c++) {
        bus.class_size[c] = (uint32_t)pools.classes[c].block_size;
        bus.class_capacity[c] = pools.classes[c].capacity;
    }
    atomic_store_explicit(&bus.largest, bus.class_size[CLASSES - 1], memory_order_relaxed);
    bus.spills = pools.try_larger_class;
    memset(&bus.s, 0, sizeof bus.s);
    bus.s.mode = config->mode;
    slot_t *next = slot_storage;
    for (unsigned i = 0; i < LANES; i++) {
        lane_t *lane = &bus.s.lanes[i];
        lane->slots = next;
        next += kconfig_capacity[i];
        lane->capacity = config->lane_capacity[i] ? config->lane_capacity[i] : kconfig_capacity[i];
        lane->latency_min = UINT32_MAX;
        /* Refused while stopped: kept (forgotten once the start succeeds: system_event_bus_init). */
        memcpy(lane->dropped, bus.stopped_dropped[i], sizeof lane->dropped);
    }
    bus.s.invalid_priority = bus.stopped_invalid_priority;
    lists_reset_locked();
    kraken_port_unlock(&bus.lock);
    atomic_store(&bus.heap_in_use, 0);
    if (config->mode == SYSTEM_EVENT_MODE_TASK) {
        uint32_t stack = config->task_stack_bytes ? config->task_stack_bytes
                                                  : KRAKEN_EVENT_TASK_STACK_SIZE;
        unsigned prio = config->task_priority ? config->task_priority : KRAKEN_EVENT_TASK_PRIORITY;
        esp_err_t err = kraken_port_task_create(&bus.task, dispatcher_main, NULL, "event_bus",
                                                stack, prio, config->task_core);
        if (err != ESP_OK) { /* NO_MEM (check_config refused what the port would) */
            delete_semaphores(SEM_COUNT);
            return err;
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
    memory_pool_pin(); /* the pools stay as start() finds them until deinit: we keep their table */
    err = start(config);
    if (err != ESP_OK) {
        memory_pool_unpin();
        atomic_store(&bus.state, ST_UNINIT); /* the refusals stay in stopped_*: the next start */
        return err;
    }
    /* The refusals made while stopped are in the counters now (those of the start too: counted in
     * both): forget them as READY is set, in one critical section, so none is kept twice. */
    kraken_port_lock(&bus.lock);
    memset(bus.stopped_dropped, 0, sizeof bus.stopped_dropped);
    bus.stopped_invalid_priority = 0;
    atomic_store(&bus.tally.open, true);
    atomic_store(&bus.state, ST_READY);
    kraken_port_unlock(&bus.lock);
    return ESP_OK;
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

/* The caller is counted in `users` and saw the bus not READY: uncount it, start the bus if allowed,
 * and count it again once READY. On failure it is left uncounted. Never inlined: an ISR's path
 * reaches the start only through here (tools/iram_check.py's TASK_ONLY). */
KRAKEN_PORT_ISR_TEXT
static COLD esp_err_t enter_slow(bool may_start)
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

KRAKEN_PORT_ISR_TEXT
static inline esp_err_t enter(bool may_start)
{
    atomic_fetch_add(&bus.users, 1);
    if (__builtin_expect(atomic_load(&bus.state) == ST_READY, 1)) {
        return ESP_OK;
    }
    return enter_slow(may_start);
}

KRAKEN_PORT_ISR_TEXT
static inline void leave(void)
{
    atomic_fetch_sub(&bus.users, 1);
}

bool system_event_bus_is_ready(void)
{
    return atomic_load(&bus.state) == ST_READY;
}

/* ---- dispatch -------------------------------------------------------------------------------- */

/* Lock held: the slots of lane p that posts cannot take now (queued events and the undelivered
 * part of a run). Acquire: the handlers are done with a released slot. */
static ALWAYS_INLINE uint32_t used_locked(const lane_t *lane, unsigned p)
{
    return lane->count + lane->reserved -
           atomic_load_explicit(&bus.released[p], memory_order_acquire);
}

/* Posters waiting for room. The dispatcher task wakes them when their lane is at most half full,
 * so that a producer faster than the dispatcher sleeps once per half lane instead of once per
 * event; a manual dispatch wakes them at once (it may stop after one event). Lock held; returns
 * how many tokens to give. */
static ALWAYS_INLINE uint32_t space_wakeups_locked(lane_t *lane, unsigned p, bool as_task)
{
    if (__builtin_expect(lane->waiters == lane->woken, 1) ||
        (as_task && used_locked(lane, p) > lane->capacity / 2)) {
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

/* Wake-ups decided under the lock and given after it, packed in one word: tokens for waiting
 * posters of one lane, a bit per pool class with a waiting poster, the idle bit for a waiting
 * unsubscriber. */
#define WAKE_SPACE_SHIFT 16 /* tokens << 16 | lane << 8 */
#define WAKE_LANE_SHIFT 8
#define WAKE_IDLE (1u << 7)

static COLD void give_wakeups(uint32_t w)
{
    give_space((w >> WAKE_LANE_SHIFT) & 0xFFu, w >> WAKE_SPACE_SHIFT);
    for (unsigned c = 0; c < CLASSES; c++) {
        if (w & (1u << c)) {
            kraken_port_sem_give(&bus.block_sem[c]);
        }
    }
    if (w & WAKE_IDLE) { /* a token for each: the one whose call ended may not be the first up */
        for (uint32_t n = atomic_load_explicit(&bus.idle_waiters, memory_order_relaxed); n > 0;
             n--) {
            kraken_port_sem_give(&bus.idle);
        }
    }
}

/* Where the walk of the subscription lists stands for an event: its bucket, then the wildcards.
 * It stops before the (CHUNK+1)th match and goes on after `last`, the last entry it took from the
 * current list (busy, so still linked), or from the list's head when it took none there. */
typedef struct {
    unsigned list;
    bool more;
    const sub_t *last;
    uint64_t gen_limit; /* bus.next_gen when the event's walk began: later subscriptions wait for
                           the next event (a handler's subscribe is appended to the lists) */
} walk_t;

/* Subscriptions being called (busy held), with what their calls took since the last settle (a
 * run: at most RUN calls each). */
typedef struct {
    uint32_t n;
    sub_t *sub[CHUNK];
    uint32_t longest[CHUNK], total[CHUNK]; /* us; total saturates */
    uint8_t calls[CHUNK];
} chunk_t;
_Static_assert(RUN <= UINT8_MAX, "chunk_t.calls counts the calls of one run");

/* Add a call's time to a chunk's total (saturating: 16 calls of over 4 minutes each). */
static inline void add_time(uint32_t *total, uint32_t took)
{
    const uint32_t sum = *total + took;
    *total = sum < took ? UINT32_MAX : sum;
}

/* Lock held: where a walk goes on. Read before the chunk holding `last` is settled (which may
 * unlink it). */
static inline const sub_t *walk_start_locked(const walk_t *walk)
{
    return walk->last != NULL ? walk->last->next : bus.s.list_head[walk->list];
}

/* Lock held. Mark up to CHUNK subscriptions matching (source, type) busy into ch, walking from
 * `sub`; walk->more says whether more match. */
static ALWAYS_INLINE void collect_locked(system_service_id_t source, system_event_type_t type,
                                         walk_t *walk, const sub_t *sub, chunk_t *ch)
{
    uint32_t n = 0;
    const sub_t *last = NULL; /* taken from the current list */
    walk->more = false;
    for (;;) {
        for (; sub != NULL; sub = sub->next) {
            if (sub_state(sub) == SUB_ACTIVE && sub->gen <= walk->gen_limit &&
                (sub->source == source || sub->source == SYSTEM_SERVICE_ID_ANY) &&
                (sub->type == type || sub->type == SYSTEM_EVENT_TYPE_ANY)) {
                if (n == CHUNK) { /* a match beyond the chunk: the caller comes back for it */
                    walk->more = true;
                    walk->last = last;
                    ch->n = n;
                    return;
                }
                sub_t *s = (sub_t *)sub;
                s->busy++;
                ch->sub[n] = s;
                ch->calls[n] = 0;
                if (KRAKEN_EVENT_PROFILING) {
                    ch->longest[n] = 0;
                    ch->total[n] = 0;
                }
                n++;
                last = sub;
            }
        }
        if (walk->list == ANY_LIST) {
            break;
        }
        walk->list = ANY_LIST;
        sub = bus.s.list_head[ANY_LIST];
        last = NULL;
    }
    ch->n = n;
}

/* Lock held: fold a chunk's figures into its subscriptions and release them. An entry
 * unsubscribed meanwhile is freed here, or its waiting unsubscriber woken. */
static ALWAYS_INLINE void settle_chunk_locked(chunk_t *ch, uint32_t *wake)
{
    for (uint32_t k = 0; k < ch->n; k++) {
        sub_t *sub = ch->sub[k];
        const uint32_t busy = sub->busy - 1;
        sub->busy = busy;
        sub->deliveries += ch->calls[k];
        if (KRAKEN_EVENT_PROFILING) {
            sub->total_us += ch->total[k];
            if (ch->longest[k] > sub->longest_us) {
                sub->longest_us = ch->longest[k];
            }
        }
        if (__builtin_expect(busy == 0 && sub_state(sub) == SUB_RETIRED, 0)) {
            if (sub->waiter) {
                *wake |= WAKE_IDLE; /* the unsubscriber frees the entry */
            } else {
                free_sub_locked(sub); /* unsubscribed from a handler: nobody waits */
            }
        }
    }
    ch->n = 0;
}

/* Entry k of the chunk made a call: count it and, profiling, time it. Each handler's end is the
 * next one's start (and the next event's dispatch time): one timer read per call measures them
 * all; *now moves to this end. */
static ALWAYS_INLINE void call_made(chunk_t *ch, uint32_t k, int64_t *now)
{
    ch->calls[k]++;
    if (KRAKEN_EVENT_PROFILING) {
        const int64_t end = kraken_port_time_us();
        const uint32_t took = clamp_us(end - *now);
        *now = end;
        add_time(&ch->total[k], took);
        if (took > ch->longest[k]) {
            ch->longest[k] = took;
        }
    }
}

/* Without the lock: call the chunk's handlers for one event. Returns whether a handler ran. */
static ALWAYS_INLINE bool call_chunk(const system_event_t *event, chunk_t *ch, int64_t *now)
{
    bool ran = false;
    for (uint32_t k = 0; k < ch->n; k++) {
        const sub_t *sub = ch->sub[k];
        if (__builtin_expect(sub_state(sub) != SUB_ACTIVE, 0)) {
            continue; /* unsubscribed since it was collected */
        }
        sub->handler(event, sub->ctx);
        ran = true;
        call_made(ch, k, now);
    }
    return ran;
}

/* call_chunk() for the common chunk of one subscription. */
static ALWAYS_INLINE bool call_one(const system_event_t *event, chunk_t *ch, int64_t *now)
{
    const sub_t *sub = ch->sub[0];
    if (__builtin_expect(sub_state(sub) != SUB_ACTIVE, 0)) {
        return false; /* unsubscribed since it was collected */
    }
    sub->handler(event, sub->ctx);
    call_made(ch, 0, now);
    return true;
}

/* An event with more than CHUNK subscribers (alone in its run): after the first chunk, settle and
 * call the next ones until the walk ends. Returns with the last chunk called, not settled. */
static COLD bool call_wide(const system_event_t *event, walk_t *walk, chunk_t *ch, int64_t *now)
{
    bool ran = false;
    while (walk->more) {
        uint32_t wake = 0;
        kraken_port_lock(&bus.lock);
        const sub_t *start = walk_start_locked(walk);
        settle_chunk_locked(ch, &wake);
        collect_locked(event->source, event->type, walk, start, ch);
        kraken_port_unlock(&bus.lock);
        if (wake != 0) {
            give_wakeups(wake);
        }
        if (KRAKEN_EVENT_PROFILING) {
            *now = kraken_port_time_us(); /* the bus's work is no handler's time */
        }
        ran |= call_chunk(event, ch, now);
    }
    return ran;
}

/* A run: events taken together from the head of one lane. Their slots stay reserved (counted in
 * lane->reserved, so posts cannot reuse them) until their event is delivered (bus.released), so
 * the handlers read them in place. */
typedef struct {
    lane_t *lane;
    unsigned p;
    uint32_t len, done, unhandled;
    bool freed_any;
    uint32_t latency_min, latency_max;
    uint64_t latency_sum;
    uint32_t scarce;         /* classes whose blocks go back after each event (a post missed one) */
    uint16_t freed[CLASSES]; /* blocks returned, by class */
} run_t;

/* Something the run must not overtake: a higher lane got an event, or a subscription was added
 * (it must see the rest): `act`, the activity read without the lock, changed outside the bits of
 * lanes p and below and the room bits since `seen`. A post or subscribe from this task's handlers
 * is seen at once, one from another task a little later, which no order could tell apart. */
static ALWAYS_INLINE bool run_interrupted(uint32_t act, uint32_t seen, uint32_t watch)
{
    return ((act ^ seen) & watch) != 0;
}

/* Give the run's undelivered events back to the head of their lane (their slots were reserved). */
static COLD void put_back(run_t *run)
{
    lane_t *lane = run->lane;
    const uint32_t r = run->len - run->done;
    kraken_port_lock(&bus.lock);
    lane->head = lane->head >= r ? lane->head - r : lane->head + lane->capacity - r;
    lane->count += r;
    lane->reserved -= r;
    if (lane->count > lane->high_water) { /* queued again: the depth may reach a new peak */
        lane->high_water = lane->count;
    }
    set_activity(activity() | 1u << run->p);
    kraken_port_unlock(&bus.lock);
    run->len = run->done;
}

/* Lock held: fold a delivered run into the lane and the bus, release its slots. */
static ALWAYS_INLINE void settle_run_locked(run_t *run, bool as_task, uint32_t *wake)
{
    lane_t *lane = run->lane;
    lane->reserved -= run->done;
    atomic_store_explicit(&bus.released[run->p], 0, memory_order_relaxed);
    lane->delivered += run->done;
    lane->unhandled += run->unhandled;
    if (run->done != 0) {
        if (run->latency_min < lane->latency_min) {
            lane->latency_min = run->latency_min;
        }
        if (run->latency_max > lane->latency_max) {
            lane->latency_max = run->latency_max;
        }
        lane->latency_sum += run->latency_sum;
        lane->latency_n += run->done;
    }
    for (unsigned c = 0; c < CLASSES && run->freed_any; c++) {
        if (run->freed[c] != 0) {
            bus.s.blocks[c] -= run->freed[c];
            add_returned(run->p, c, -(uint32_t)run->freed[c]);
            *wake |= block_wakeups_locked(c); /* the blocks were freed before (see take_block) */
        }
    }
    const uint32_t tokens = space_wakeups_locked(lane, run->p, as_task);
    if (__builtin_expect(tokens != 0, 0)) {
        *wake |= tokens << WAKE_SPACE_SHIFT | run->p << WAKE_LANE_SHIFT;
    }
}

/* Between two events of a run: the run gave the blocks of `classes` back because a post waits for
 * one (or has missed one). Wake the waiting posts under the settle's rule: once the bus holds at
 * most half of the class. */
static COLD void wake_block_waiters(uint32_t classes)
{
    uint32_t wake = 0;
    kraken_port_lock(&bus.lock);
    for (; classes != 0; classes &= classes - 1) {
        wake |= block_wakeups_locked((unsigned)__builtin_ctz(classes));
    }
    kraken_port_unlock(&bus.lock);
    if (wake != 0) {
        give_wakeups(wake);
    }
}

/* Between two events of a run: posters wait for room in the run's lane, which the delivered
 * events' slots may give them (space_wakeups_locked decides). */
static COLD void wake_waiting_posters(lane_t *lane, unsigned p, bool as_task)
{
    kraken_port_lock(&bus.lock);
    const uint32_t tokens = space_wakeups_locked(lane, p, as_task);
    kraken_port_unlock(&bus.lock);
    give_space(p, tokens);
}

/* Deliver up to `max` events, highest lane first, FIFO within a lane. One critical section per
 * run settles the previous run and takes the next: up to RUN events from the head of the highest
 * non-empty lane with the same source and type (so the same subscriptions, collected once). The
 * handlers run without the lock; between two events of a run a higher-priority event or a new
 * subscription puts the rest of the run back. The timer is read once per run (for the latency)
 * and, profiling, once after each handler call. The dispatcher task (`as_task`) stops when deinit
 * asks (*stop); with `will_sleep` and nothing delivered it is marked idle, so that the next post
 * wakes it. Returns the number of events delivered. */
static uint32_t dispatch(uint32_t max, bool as_task, bool will_sleep, bool *stop)
{
    system_event_t event; /* what the handlers see */
    chunk_t ch;
    ch.n = 0;
    walk_t walk;
    run_t run;
    run.lane = NULL;
    uint32_t wake = 0, count = 0;
    spent_t spent;
    spent.n = 0;
    spent.classes = 0;
    int64_t now = 0;
    t_in_handler++;
    t_spent = &spent;
    kraken_port_lock(&bus.lock);
    for (;;) {
        if (run.lane != NULL) {
            settle_chunk_locked(&ch, &wake);
            settle_run_locked(&run, as_task, &wake);
            count += run.done;
            run.lane = NULL;
        }
        uint32_t seen = activity();
        const uint32_t nonempty = seen & LANE_BITS;
        if (__builtin_expect(bus.s.stop | bus.s.discard, 0)) {
            if (bus.s.stop && as_task && (bus.s.discard || nonempty == 0)) {
                *stop = true;
                break;
            }
            if (bus.s.discard) {
                break; /* deinit(DISCARD) began: nothing more is delivered */
            }
        }
        if (nonempty == 0 || count == max) {
            if (count == 0) {
                bus.s.dispatcher_idle = will_sleep;
            }
            break;
        }
        const unsigned p = 31u - (unsigned)__builtin_clz(nonempty);
        lane_t *lane = &bus.s.lanes[p];
        if (__builtin_expect(lane->reserved != 0, 0)) {
            break; /* another dispatcher is delivering this lane (manual mode) */
        }
        /* Take the run: the head event and those after it with the same source and type. */
        const uint32_t capacity = lane->capacity, head = lane->head, queued = lane->count;
        const slot_t *slots = lane->slots;
        const system_service_id_t source = slots[head].source;
        const system_event_type_t type = slots[head].type;
        walk.list = list_of(source);
        walk.gen_limit = bus.next_gen;
        collect_locked(source, type, &walk, bus.s.list_head[walk.list], &ch);
        uint32_t limit = walk.more ? 1 : RUN;
        if (limit > queued) {
            limit = queued;
        }
        if (limit > max - count) {
            limit = max - count;
        }
        const slot_t *const end = slots + capacity;
        const slot_t *slot = slots + head;
        const slot_t *next = slot + 1 == end ? slots : slot + 1;
        uint32_t len = 1;
        while (len < limit && next->source == source && next->type == type) {
            len++;
            next = next + 1 == end ? slots : next + 1;
        }
        lane->head = head + len < capacity ? head + len : head + len - capacity; /* no division */
        lane->count = queued - len;
        lane->reserved = len;
        if (queued == len) {
            seen &= ~(1u << p);
            set_activity(seen);
        }
        /* Higher lanes, the subscribe count and this lane's room bit, taken as a change while it
         * is set: one test after each event sees all of them (none after a run's only event). */
        uint32_t watch = 0;
        if (len > 1) {
            watch = (~((2u << p) - 1) & ~ROOM_BITS) | room_wanted(p);
            seen &= ~room_wanted(p);
        }
        run = (run_t){.lane = lane, .p = p, .len = len, .latency_min = UINT32_MAX};
        kraken_port_unlock(&bus.lock);
        if (__builtin_expect(wake != 0, 0)) {
            give_wakeups(wake);
            wake = 0;
        }
        /* Once per run, after the bus's own work: the run's dispatch time and, profiling, the
         * first handler's start (then each handler's end is the next one's start). */
        now = kraken_port_time_us();
        event.source = source;
        event.type = type;
        event.priority = (system_event_priority_t)p;
        /* fixed for the run: a run of several events has all its subscriptions in the chunk */
        const bool one_sub = ch.n == 1 && !walk.more;
        uint32_t i = 0;
        for (;;) {
            const unsigned store = slot->store;
            event.size = slot->size;
            event.seq = slot->seq;
            event.timestamp_us = slot->timestamp_us;
            event.from_isr = slot->from_isr;
            event.data = store != STORE_INLINE ? slot->payload.block
                         : event.size != 0     ? slot->payload.bytes
                                               : NULL;
            /* The dispatch starts at `now` (without profiling, the run's start for all of its
             * events); an event posted after it reads as 0. */
            const uint32_t latency = clamp_us(now - event.timestamp_us);
            if (latency < run.latency_min) {
                run.latency_min = latency;
            }
            if (latency > run.latency_max) {
                run.latency_max = latency;
            }
            run.latency_sum += latency;
            bool ran;
            if (__builtin_expect(one_sub, 1)) {
                ran = call_one(&event, &ch, &now);
            } else {
                ran = call_chunk(&event, &ch, &now);
                if (__builtin_expect(walk.more, 0)) {
                    ran |= call_wide(&event, &walk, &ch, &now);
                }
            }
            if (__builtin_expect(!ran, 0)) {
                run.unhandled++;
                if (KRAKEN_EVENT_PROFILING) {
                    now = kraken_port_time_us(); /* no handler: the clock must still move */
                }
            }
            if (store < CLASSES) {
                add_returned(p, store, 1); /* counted before it is returned */
                spent.blocks[spent.n++] = slot->payload.block;
                run.freed[store]++;
                run.freed_any = true;
                spent.classes |= 1u << store;
            } else if (store == STORE_HEAP) {
                free_payload(slot->payload.block, (uint8_t)store);
            }
            /* A poster waits for, or has missed, a class whose delivered blocks the run holds (this
             * event's or an earlier one's, whatever class the next events use): they go back now. */
            if (spent.classes != 0 && held_blocks_wanted(spent.classes, &run.scarce)) {
                const uint32_t classes = spent.classes;
                return_spent(&spent);
                if (i + 1 < len && /* after the last event the settle wakes them */
                    (atomic_load_explicit(&bus.block_wanted, memory_order_relaxed) &
                     ((1u << MISSED_SHIFT) - 1)) != 0) { /* a post sleeps for a block */
                    wake_block_waiters(classes);
                }
                if (KRAKEN_EVENT_PROFILING) {
                    now = kraken_port_time_us(); /* the next handler's time starts after it */
                }
            }
            if (++i == len) {
                break;
            }
            atomic_store_explicit(&bus.released[p], i, memory_order_release);
            const uint32_t act = activity();
            if (__builtin_expect(((act ^ seen) & watch) != 0, 0)) {
                if (act & room_wanted(p)) {
                    wake_waiting_posters(lane, p, as_task);
                    if (KRAKEN_EVENT_PROFILING) {
                        now = kraken_port_time_us();
                    }
                }
                if (run_interrupted(act, seen, watch & ~room_wanted(p))) {
                    run.done = i;
                    put_back(&run);
                    break;
                }
            }
            slot = slot + 1 == end ? slots : slot + 1;
        }
        run.done = i;
        if (spent.n != 0) { /* before the events are counted delivered */
            return_spent(&spent);
        }
        kraken_port_lock(&bus.lock);
    }
    kraken_port_unlock(&bus.lock);
    t_spent = NULL;
    t_in_handler--;
    if (wake != 0) {
        give_wakeups(wake);
    }
    return count;
}

/* The dispatcher task. Before sleeping on `work` it yields a few times: a producer about to post
 * again then finds it awake, which saves a sleep/wake pair (two context switches) per burst. */
#define IDLE_YIELDS 3

static void dispatcher_main(void *arg)
{
    (void)arg;
    unsigned idle = 0;
    for (;;) {
        bool stop = false;
        uint32_t n = dispatch(UINT32_MAX, true, idle == IDLE_YIELDS, &stop);
        if (stop) {
            return;
        }
        if (n != 0) {
            idle = 0;
        } else if (idle < IDLE_YIELDS) {
            idle++;
            kraken_port_delay_ms(0);
        } else {
            kraken_port_sem_take(&bus.work, KRAKEN_PORT_WAIT_FOREVER);
            idle = 0;
        }
    }
}

/* system_event_dispatch_pending() refused for task mode: say why, once while stopped and once per
 * start (super-loop firmware that forgot its manual-mode init would otherwise only see
 * ESP_ERR_INVALID_STATE). */
static COLD void tell_task_mode(bool started)
{
    const uint8_t bit = started ? TOLD_RUNNING : TOLD_STOPPED;
    if ((atomic_fetch_or(&bus.told_task_mode, bit) & bit) == 0) {
        KRAKEN_LOGW(TAG,
                    "system_event_dispatch_pending() refused: the bus %s in task mode, where its "
                    "dispatcher task delivers; for manual dispatch call system_event_bus_init() "
                    "with SYSTEM_EVENT_MODE_MANUAL first, or choose "
                    "CONFIG_SYSTEM_SERVICE_EVENT_MODE_MANUAL",
                    started ? "runs" : "would start");
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
    esp_err_t err;
    /* in the Kconfig's task mode, never a start: a task-mode bus would refuse the call */
    while ((err = enter(KRAKEN_EVENT_DEFAULT_MODE_MANUAL)) != ESP_OK &&
           !KRAKEN_EVENT_DEFAULT_MODE_MANUAL) {
        const int state = atomic_load(&bus.state);
        if (state == ST_UNINIT) {
            tell_task_mode(false);
            return ESP_ERR_INVALID_STATE;
        }
        if (state == ST_STOPPING) {
            return ESP_ERR_INVALID_STATE;
        }
        if (state == ST_STARTING) {
            kraken_port_delay_ms(1); /* another task starts it: wait for that start, as every call */
        }
    }
    if (err != ESP_OK) {
        return err;
    }
    if (bus.s.mode != SYSTEM_EVENT_MODE_MANUAL) {
        leave();
        tell_task_mode(true);
        return ESP_ERR_INVALID_STATE;
    }
    if ((activity() & LANE_BITS) == 0) { /* nothing queued: a super-loop's usual pass, no lock */
        leave();
        return ESP_OK;
    }
    bool stop = false;
    uint32_t n = dispatch(max_events, false, false, &stop);
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

/* The reason a pool allocation of class c failed: the class (and the one it spills into) is empty
 * (NO_MEM), or only the CRITICAL reserve is left (RESERVE). Failure path only; a class's count,
 * not the whole statistics (their copy would cost an ISR about 300 bytes of stack). */
KRAKEN_PORT_ISR_TEXT
static system_event_drop_reason_t block_failure_reason(unsigned c, bool critical)
{
    const bool left = memory_pool_class_free(c) != 0 ||
                      (bus.spills && c + 1 < CLASSES && memory_pool_class_free(c + 1) != 0);
    return critical || !left ? SYSTEM_EVENT_DROP_NO_MEM : SYSTEM_EVENT_DROP_RESERVE;
}

/* Whether a try for a block of class c could succeed now: more than `margin` blocks free in it or
 * in the class it spills into. A look, not a try: it does not count in the pools' statistics. */
KRAKEN_PORT_ISR_TEXT
static bool block_may_be_free(unsigned c, uint32_t margin)
{
    return memory_pool_class_free(c) > margin ||
           (bus.spills && c + 1 < CLASSES && memory_pool_class_free(c + 1) > margin);
}

/* A pool block of class c once the first try failed (each try that fails counts in the pools'
 * statistics: a post that may not wait fails without another, one that waits tries again only
 * when a look says a block is there). Below CRITICAL the last
 * KRAKEN_EVENT_CRITICAL_RESERVE_BLOCKS blocks of the class are left alone (the pools' margin, so
 * the reserve holds whoever else uses the pools). When may_wait, waits up to the deadline for the
 * bus to return a block. */
KRAKEN_PORT_ISR_TEXT
static COLD void *take_block(size_t size, unsigned c, bool critical, bool may_wait,
                             uint32_t timeout_ms, int64_t *deadline,
                             system_event_drop_reason_t *reason)
{
    const uint32_t margin = critical ? 0 : KRAKEN_EVENT_CRITICAL_RESERVE_BLOCKS;
    bool waiting = false;
    unsigned spins = 0;
    void *block = NULL;
    for (;;) {
        uint32_t left = block == NULL && may_wait ? wait_left_ms(deadline, timeout_ms) : 0;
        if (left == 0 || atomic_load(&bus.state) != ST_READY) {
            if (waiting) {
                atomic_fetch_sub(&bus.block_waiters[c], 1);
                atomic_fetch_sub(&bus.block_wanted, 1);
            }
            if (block != NULL) {
                return block;
            }
            *reason = left != 0 ? SYSTEM_EVENT_DROP_NOT_READY : block_failure_reason(c, critical);
            return NULL;
        }
        if (spins < POST_SPINS) { /* the dispatcher is likely about to free one: let it run */
            spins++;
            kraken_port_delay_ms(0);
        } else if (!waiting) {
            /* Register, then look once more: a block the bus frees in between is either seen by
             * that look or followed by a give once the bus holds at most half of the class (the
             * dispatcher reads block_waiters after freeing, at a settle or between two events);
             * the poll below finds the others. */
            atomic_fetch_add(&bus.block_waiters[c], 1);
            atomic_fetch_add(&bus.block_wanted, 1);
            waiting = true;
        } else {
            /* The dispatcher gives block_sem when it frees a block; other pool users do not,
             * hence the short poll. */
            kraken_port_sem_take(&bus.block_sem[c], left < BLOCK_POLL_MS ? left : BLOCK_POLL_MS);
        }
        if (block_may_be_free(c, margin)) {
            block = memory_pool_alloc_isr_margin(size, margin);
        }
    }
}

/* Push an accepted event into its lane: copy an inline payload, count a pool block. Lock held,
 * lane not full. Returns true when the dispatcher task sleeps and must be woken. The lane's
 * fields are read before the slot is written (the compiler cannot tell that they do not alias). */
static ALWAYS_INLINE bool push_locked(lane_t *lane, unsigned priority, system_service_id_t source,
                                      system_event_type_t type, const void *data, size_t size,
                                      void *block, uint8_t store, int64_t now, bool isr)
{
    const uint32_t count = lane->count, capacity = lane->capacity;
    uint32_t idx = lane->head + count;
    if (idx >= capacity) {
        idx -= capacity;
    }
    slot_t *slot = &lane->slots[idx];
    const uint32_t seq = bus.s.seq;
    const uint32_t high_water = lane->high_water, posted = lane->posted;
    const uint32_t act = activity();
    const bool wake = bus.s.dispatcher_idle;
    if (store == STORE_INLINE) {
        copy_inline(slot->payload.bytes, data, size);
    } else {
        slot->payload.block = block;
    }
    slot->timestamp_us = now;
    slot->size = (uint32_t)size;
    slot->seq = seq;
    slot->type = type;
    slot->source = source;
    slot->store = store;
    slot->from_isr = isr;
    bus.s.seq = seq + 1;
    lane->count = count + 1;
    if (count == 0) {
        set_activity(act | 1u << priority);
    }
    if (count + 1 > high_water) {
        lane->high_water = count + 1;
    }
    lane->posted = posted + 1;
    if (isr) {
        lane->posted_from_isr++;
    }
    if (store < CLASSES) {
        bus.s.pool_payloads++;
        const uint32_t blocks = ++bus.s.blocks[store];
        if (blocks > bus.s.blocks_peak[store]) { /* held <= blocks: only then a new peak */
            const uint32_t held = held_locked(store);
            if (held > bus.s.blocks_peak[store]) {
                bus.s.blocks_peak[store] = held;
            }
        }
    } else if (store == STORE_HEAP) {
        bus.s.heap_payloads++;
    }
    if (__builtin_expect(wake, 0)) {
        bus.s.dispatcher_idle = false;
    }
    return wake;
}

KRAKEN_PORT_ISR_TEXT
static void wake_dispatcher(bool isr, bool *woken)
{
    if (isr) {
        kraken_port_sem_give_from_isr(&bus.work, woken);
    } else {
        kraken_port_sem_give(&bus.work);
    }
}

/* An oversize payload: a heap copy (counted), or refused. Cold: only above the largest class. */
KRAKEN_PORT_ISR_TEXT
static COLD esp_err_t take_heap(const void *data, size_t size, bool isr, void **block,
                                uint8_t *store, system_event_drop_reason_t *reason)
{
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
    memcpy(*block, data, size);
    return ESP_OK;
}

/* The payload copy: a pool block of the smallest fitting class (waiting for one only when the
 * class is empty), or the heap for an oversize payload. On failure *reason says why. */
static ALWAYS_INLINE esp_err_t take_payload(const void *data, size_t size, bool critical,
                                            bool isr, uint32_t timeout_ms,
                                            int64_t *deadline, void **block, uint8_t *store,
                                            system_event_drop_reason_t *reason)
{
    if (__builtin_expect(size > bus.class_size[CLASSES - 1], 0)) {
        return take_heap(data, size, isr, block, store, reason);
    }
    const unsigned c = class_of(size);
    const uint32_t margin = critical ? 0 : KRAKEN_EVENT_CRITICAL_RESERVE_BLOCKS;
    void *b = memory_pool_alloc_isr_margin(size, margin);
    if (__builtin_expect(b == NULL, 0)) {
        /* a dispatcher holding delivered blocks of the class gives them back at once */
        atomic_fetch_or_explicit(&bus.block_wanted, 1u << (MISSED_SHIFT + c), memory_order_relaxed);
        const bool may_wait = !isr && timeout_ms != 0 && t_in_handler == 0;
        b = take_block(size, c, critical, may_wait, timeout_ms, deadline, reason);
        if (b == NULL) {
            return *reason == SYSTEM_EVENT_DROP_NOT_READY ? ESP_ERR_INVALID_STATE : ESP_ERR_NO_MEM;
        }
    }
    *block = b;
    *store = block_class(b, size);
    memcpy(b, data, size);
    return ESP_OK;
}

/* A failed post: count it, give back what it took. */
KRAKEN_PORT_ISR_TEXT
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

/* Queue a post that missed post()'s fast path, waiting for room in a full lane up to the deadline
 * (post_general's queueing too: one copy of push_locked fewer, in IRAM with the ISR option). */
KRAKEN_PORT_ISR_TEXT
static COLD esp_err_t post_slow(lane_t *lane, system_event_priority_t priority,
                           system_service_id_t source, system_event_type_t type, const void *data,
                           size_t size, void *block, uint8_t store, int64_t now, bool isr,
                           bool may_wait, uint32_t timeout_ms, int64_t *deadline, bool *woken)
{
    system_event_drop_reason_t reason = SYSTEM_EVENT_DROP_FULL;
    esp_err_t err = ESP_OK;
    bool waiting = false, waited = false, token = false, wake = false, room = false;
    unsigned spins = 0;
    kraken_port_lock(&bus.lock);
    for (;;) {
        if (waiting) {
            waited = true;
            /* A token taken was one of the `woken`; a timeout may leave a token behind (a later
             * waiter then wakes once for nothing and waits again). */
            if (--lane->waiters == 0) {
                set_activity(activity() & ~room_wanted(priority));
            }
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
        /* The room freed while posters wait for it is theirs: a post that has not waited (an
         * ISR's, a handler's, one with no timeout, a newcomer) leaves them a slot each, or it
         * could keep them out until their deadline. Waiters compete among themselves. */
        if (used_locked(lane, priority) + (waited ? 0 : lane->waiters) < lane->capacity) {
            wake = push_locked(lane, priority, source, type, data, size, block, store, now, isr);
            break;
        }
        uint32_t left = may_wait ? wait_left_ms(deadline, timeout_ms) : 0;
        if (left == 0) {
            /* Refused only for the slots kept for waiters: one of them can come in now (the
             * dispatcher task wakes them at half a lane, which such posts may never let it
             * reach). */
            if (!waited && used_locked(lane, priority) < lane->capacity &&
                lane->waiters > lane->woken) {
                lane->woken++;
                room = true;
            }
            err = ESP_ERR_TIMEOUT;
            break;
        }
        if (spins < POST_SPINS) {
            spins++;
            kraken_port_unlock(&bus.lock);
            kraken_port_delay_ms(0);
            kraken_port_lock(&bus.lock);
            continue;
        }
        if (lane->waiters++ == 0) {
            set_activity(activity() | room_wanted(priority));
        }
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
        if (room && isr) {
            kraken_port_sem_give_from_isr(&bus.space[priority], woken);
        } else if (room) {
            kraken_port_sem_give(&bus.space[priority]);
        }
    } else {
        if (wake) {
            wake_dispatcher(isr, woken);
        }
    }
    leave();
    return err;
}

/* A post refused before it took anything: say why and count it. */
KRAKEN_PORT_ISR_TEXT
static COLD esp_err_t post_refused(system_service_id_t source, system_event_type_t type,
                                   const void *data, size_t size, system_event_priority_t priority)
{
    if (!valid_priority(priority)) {
        kraken_port_lock(&bus.lock);
        bus.s.invalid_priority++;
        if (stopped_locked()) {
            bus.stopped_invalid_priority++;
        }
        kraken_port_unlock(&bus.lock);
        return ESP_ERR_INVALID_ARG;
    }
    if (source == SYSTEM_SERVICE_ID_ANY || type == SYSTEM_EVENT_TYPE_ANY ||
        (data == NULL && size > 0)) {
        return post_failed(priority, SYSTEM_EVENT_DROP_INVALID_ARG, ESP_ERR_INVALID_ARG, NULL,
                           STORE_INLINE, false);
    }
    /* a task-only post called from an ISR */
    return post_failed(priority, SYSTEM_EVENT_DROP_NOT_READY, ESP_ERR_INVALID_STATE, NULL,
                       STORE_INLINE, false);
}

/* Every post the fast paths of post() did not finish: a heap payload, an empty pool class, a full
 * lane, a bus not started or stopping. Counted in `users` while it holds a block or may use a
 * semaphore: `held`, a pool block holding the payload, comes counted; without one the post is
 * counted here. `now` is the time of the call: the event keeps it whatever it waits for. */
KRAKEN_PORT_ISR_TEXT
static COLD esp_err_t post_general(system_service_id_t source, system_event_type_t type,
                                   const void *data, size_t size,
                                   system_event_priority_t priority, uint32_t timeout_ms, bool isr,
                                   bool *woken, void *held, int64_t now)
{
    esp_err_t err = held == NULL ? enter(!isr) : ESP_OK;
    if (err != ESP_OK) {
        return post_failed(priority, SYSTEM_EVENT_DROP_NOT_READY, err, NULL, STORE_INLINE, false);
    }
    int64_t deadline = 0;
    void *block = held;
    uint8_t store = STORE_INLINE;
    if (held != NULL) {
        store = block_class(held, size);
    } else if (size > INLINE_SIZE) {
        system_event_drop_reason_t reason;
        err = take_payload(data, size, priority == CRITICAL, isr, timeout_ms, &deadline,
                           &block, &store, &reason);
        if (err != ESP_OK) {
            return post_failed(priority, reason, err, NULL, STORE_INLINE, true);
        }
    }
    const bool may_wait = !isr && timeout_ms != 0 && t_in_handler == 0;
    return post_slow(&bus.s.lanes[priority], priority, source, type, data, size, block, store, now,
                     isr, may_wait, timeout_ms, &deadline, woken);
}

/* post()'s critical section: queue into a lane with room, else hand the post on to post_general
 * (which also looks at the slots a run has released). An inline payload (block NULL) needs no
 * atomic read-modify-write: the state is checked under the lock (deinit sets STOPPING inside it),
 * and the post is counted in `users` only if it must wake the dispatcher. A pool payload's block is
 * settled here (see bus.tally). */
static ALWAYS_INLINE esp_err_t post_locked(system_service_id_t source, system_event_type_t type,
                                           const void *data, size_t size,
                                           system_event_priority_t priority, uint32_t timeout_ms,
                                           bool isr, bool *woken, void *block, int64_t now)
{
    lane_t *lane = &bus.s.lanes[priority];
    kraken_port_lock(&bus.lock);
    if (__builtin_expect(atomic_load_explicit(&bus.state, memory_order_relaxed) == ST_READY &&
                             lane->count + lane->reserved + lane->waiters < lane->capacity,
                         1)) {
        const uint8_t store = block == NULL ? STORE_INLINE : block_class(block, size);
        if (__builtin_expect(
                !push_locked(lane, priority, source, type, data, size, block, store, now, isr), 1)) {
            bus.settled += block != NULL;
            kraken_port_unlock(&bus.lock);
            return ESP_OK;
        }
        atomic_fetch_add(&bus.users, 1); /* keeps `work` alive until the give (see deinit) */
        bus.settled += block != NULL;
        kraken_port_unlock(&bus.lock);
        wake_dispatcher(isr, woken);
        leave();
        return ESP_OK;
    }
    if (block != NULL) { /* from the tally to `users`, which post_general expects */
        atomic_fetch_add(&bus.users, 1);
        bus.settled++;
    }
    kraken_port_unlock(&bus.lock);
    return post_general(source, type, data, size, priority, timeout_ms, isr, woken, block, now);
}

/* The common case, a payload into a lane with room, takes one critical section (post_locked). A
 * pool payload is copied into its block (tallied: deinit waits for it) before the critical
 * section. */
static ALWAYS_INLINE esp_err_t post(system_service_id_t source, system_event_type_t type,
                                    const void *data, size_t size,
                                    system_event_priority_t priority, uint32_t timeout_ms, bool isr,
                                    bool *woken)
{
    if (__builtin_expect(!valid_priority(priority) || source == SYSTEM_SERVICE_ID_ANY ||
                             type == SYSTEM_EVENT_TYPE_ANY || (data == NULL && size > 0) ||
                             (!isr && kraken_port_in_isr()),
                         0)) {
        return post_refused(source, type, data, size, priority);
    }
    /* The event's timestamp, whatever it then waits for: read before any wait. A pool payload's
     * post reads it after the copy (2 % faster at 1000 bytes, manual mode, on the bench host). */
    if (size <= INLINE_SIZE) {
        return post_locked(source, type, data, size, priority, timeout_ms, isr, woken, NULL,
                           kraken_port_time_us());
    }
    if (__builtin_expect(size > atomic_load_explicit(&bus.largest, memory_order_relaxed) ||
                             atomic_load_explicit(&bus.state, memory_order_relaxed) != ST_READY,
                         0)) {
        return post_general(source, type, data, size, priority, timeout_ms, isr, woken, NULL,
                            kraken_port_time_us());
    }
    /* A handler posts (through either entry point): the run's delivered blocks go back first. A
     * real ISR leaves the interrupted task's run alone and does not even read t_spent: that task's
     * thread-local storage may be in PSRAM, out of reach while the flash cache is off. */
    if ((!isr || !kraken_port_in_isr()) && __builtin_expect(t_spent != NULL, 0) &&
        t_spent->n != 0) {
        return_spent(t_spent);
    }
    /* Tallied until post_locked settles it (deinit waits for both to agree). */
    void *block = memory_pool_take_tallied(
        size, priority == CRITICAL ? 0 : KRAKEN_EVENT_CRITICAL_RESERVE_BLOCKS, &bus.tally);
    if (__builtin_expect(block == NULL, 0)) { /* the full attempt: spill, failure count, wait */
        return post_general(source, type, data, size, priority, timeout_ms, isr, woken, NULL,
                            kraken_port_time_us());
    }
    memcpy(block, data, size);
    return post_locked(source, type, data, size, priority, timeout_ms, isr, woken, block,
                       kraken_port_time_us());
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

KRAKEN_PORT_ISR_TEXT
esp_err_t system_event_post_from_isr(system_service_id_t service_id, system_event_type_t event_type,
                                     const void *data, size_t size,
                                     system_event_priority_t priority,
                                     bool *higher_priority_task_woken)
{
    return post(service_id, event_type, data, size, priority, 0, true, higher_priority_task_woken);
}

/* ---- subscriptions --------------------------------------------------------------------------- */

#define HANDLE_INDEX_BITS 8u

static uint64_t handle_of(uint32_t index, uint64_t gen)
{
    return (gen << HANDLE_INDEX_BITS) | (index + 1);
}

/* The entry a handle names while it is in `state`, else NULL. Lock held. */
static sub_t *sub_of_locked(system_event_subscription_t handle, uint8_t state)
{
    uint32_t index = (uint32_t)(handle.opaque_ & ((1u << HANDLE_INDEX_BITS) - 1)) - 1;
    if (handle.opaque_ == 0 || index >= MAX_SUBS) {
        return NULL;
    }
    sub_t *sub = &bus.s.subs[index];
    if (sub_state(sub) != state || handle_of(index, sub->gen) != handle.opaque_) {
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
    uint64_t opaque = 0;
    kraken_port_lock(&bus.lock);
    for (uint32_t i = 0; i < MAX_SUBS; i++) {
        sub_t *sub = &bus.s.subs[i];
        if (sub_state(sub) != SUB_FREE) {
            continue;
        }
        bus.next_gen++; /* 56 bits in the handle: 2^56 subscribes never come */
        sub->handler = handler;
        sub->ctx = ctx;
        sub->type = event_type;
        sub->source = service_id;
        sub->waiter = false;
        sub->busy = 0;
        sub->gen = bus.next_gen;
        sub->deliveries = 0;
        sub->longest_us = 0;
        sub->total_us = 0;
        set_sub_state(sub, SUB_ACTIVE);
        link_locked(sub);
        set_activity(activity() + SUBSCRIBE_ONE);
        opaque = handle_of(i, sub->gen);
        bus.s.sub_count++;
        if (out_handle != NULL) {
            /* before the lock is left: a dispatcher that takes the subscription (under the lock)
             * may call the handler at once, which may read the handle from ctx */
            out_handle->opaque_ = opaque;
        }
        break;
    }
    kraken_port_unlock(&bus.lock);
    leave();
    return opaque != 0 ? ESP_OK : ESP_ERR_NO_MEM;
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
    esp_err_t err = ESP_OK;
    sub_t *sub = sub_of_locked(handle, SUB_ACTIVE);
    if (sub == NULL) {
        /* Unsubscribed already, maybe by its own handler, whose call may still run: the caller
         * may free ctx after this returns too. */
        sub = sub_of_locked(handle, SUB_RETIRED);
        err = ESP_ERR_NOT_FOUND;
    } else {
        set_sub_state(sub, SUB_RETIRED); /* no new call starts from now on */
        bus.s.sub_count--;
    }
    if (sub != NULL && sub->busy == 0) {
        free_sub_locked(sub);
    } else if (sub != NULL && t_in_handler == 0) {
        /* A call is running in a dispatcher: wait for it, so the caller may free ctx. Another
         * unsubscriber of the same handle may wait too: the first one out frees the entry, which
         * a subscribe may then reuse (another generation). */
        const uint64_t gen = sub->gen;
        sub->waiter = true;
        while (sub->gen == gen && sub_state(sub) == SUB_RETIRED && sub->busy > 0) {
            atomic_fetch_add_explicit(&bus.idle_waiters, 1, memory_order_relaxed);
            kraken_port_unlock(&bus.lock);
            kraken_port_sem_take(&bus.idle, UNSUBSCRIBE_POLL_MS);
            kraken_port_lock(&bus.lock);
            atomic_fetch_sub_explicit(&bus.idle_waiters, 1, memory_order_relaxed);
        }
        if (sub->gen == gen && sub_state(sub) == SUB_RETIRED) {
            free_sub_locked(sub);
        }
    } /* else: inside a handler; the dispatcher frees the entry when its call returns */
    kraken_port_unlock(&bus.lock);
    leave();
    return err;
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

/* The tables are valid while READY and while deinit drains (STOPPING: handlers still run); a
 * start rewrites them. */
static bool tables_valid(void)
{
    const int state = atomic_load(&bus.state);
    return state == ST_READY || state == ST_STOPPING;
}

const char *system_service_get_name(system_service_id_t id)
{
    const char *name = NULL;
    kraken_port_lock(&bus.lock);
    if (tables_valid() && id < bus.s.service_count) {
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
    const uint32_t act = activity(), nonempty = act & LANE_BITS;
    if (nonempty == 0) {
        kraken_port_unlock(&bus.lock);
        return false;
    }
    const unsigned p = 31u - (unsigned)__builtin_clz(nonempty);
    lane_t *lane = &bus.s.lanes[p];
    slot_t ev = lane->slots[lane->head];
    lane->head = lane->head + 1 == lane->capacity ? 0 : lane->head + 1;
    if (--lane->count == 0) {
        set_activity(act & ~(1u << p));
    }
    if (ev.store < CLASSES) {
        bus.s.blocks[ev.store]--;
    }
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
    /* READY -> STOPPING under the lock (only deinit leaves READY, and always here): an inline post
     * that saw READY inside its critical section is queued (and counted in `users` if it will wake
     * the dispatcher); every later one sees STOPPING. Then release posters waiting for room or for
     * a block: they see STOPPING and leave. */
    uint32_t waiting[LANES];
    kraken_port_lock(&bus.lock);
    if (atomic_load(&bus.state) != ST_READY) {
        kraken_port_unlock(&bus.lock);
        return ESP_ERR_INVALID_STATE;
    }
    if (how == SYSTEM_EVENT_DEINIT_DISCARD) {
        /* Every dispatcher stops at its next event (a subscribe's mark in `activity` ends a run):
         * what is queued now, or put back, is discarded below. Before the state: a handler that
         * sees the bus stopping knows that no further event of its run will be delivered. */
        bus.s.discard = true;
        set_activity(activity() + SUBSCRIBE_ONE);
    }
    atomic_store(&bus.state, ST_STOPPING);
    atomic_store(&bus.tally.open, false);
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
    /* settled first: a block it counts was tallied before (its post took the pool's lock, then
     * ours), so the tally read after it includes that block; a take that the tally does not count
     * came after the close and was refused. The difference never misses a block still held (it
     * may count one settled meanwhile: another look). */
    for (;;) {
        kraken_port_lock(&bus.lock);
        const uint32_t settled = bus.settled;
        kraken_port_unlock(&bus.lock);
        const uint32_t taken = memory_pool_tally_total(&bus.tally);
        if (taken == settled && atomic_load(&bus.users) == 0) {
            break;
        }
        kraken_port_delay_ms(1);
    }
    bool stop = false;
    if (bus.s.mode == SYSTEM_EVENT_MODE_TASK) {
        kraken_port_lock(&bus.lock);
        bus.s.stop = true;
        kraken_port_unlock(&bus.lock);
        kraken_port_sem_give(&bus.work);
        kraken_port_task_join(&bus.task);
    } else if (how == SYSTEM_EVENT_DEINIT_DRAIN) {
        (void)dispatch(UINT32_MAX, false, false, &stop);
    }
    while (discard_one()) {
    }
    kraken_port_lock(&bus.lock);
    for (uint32_t i = 0; i < MAX_SUBS; i++) {
        set_sub_state(&bus.s.subs[i], SUB_FREE);
    }
    lists_reset_locked();
    bus.s.sub_count = 0;
    bus.s.service_count = 0; /* forgotten too: stats.services counts registered ones */
    kraken_port_unlock(&bus.lock);
    delete_semaphores(SEM_COUNT);
    memory_pool_unpin();
    atomic_fetch_and(&bus.told_task_mode, (uint8_t)~TOLD_STOPPED);
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
        o->delivered = lane->delivered;
        o->unhandled = lane->unhandled;
        memcpy(o->dropped, lane->dropped, sizeof o->dropped);
        if (lane->latency_n != 0) {
            o->latency_min_us = lane->latency_min;
            o->latency_max_us = lane->latency_max;
            o->latency_mean_us = (uint32_t)(lane->latency_sum / lane->latency_n);
        }
    }
    out->pool_payloads = bus.s.pool_payloads;
    out->heap_payloads = bus.s.heap_payloads;
    out->inline_payloads = -out->pool_payloads - out->heap_payloads;
    for (unsigned i = 0; i < LANES; i++) {
        out->inline_payloads += out->lanes[i].posted;
    }
    out->subscriptions = bus.s.sub_count;
    out->services = bus.s.service_count;
    for (unsigned c = 0; c < CLASSES; c++) {
        out->pool_blocks_in_use[c] = held_locked(c);
        out->pool_blocks_peak[c] = bus.s.blocks_peak[c];
    }
    out->invalid_priority = bus.s.invalid_priority;
    kraken_port_unlock(&bus.lock);
    out->heap_in_use = atomic_load(&bus.heap_in_use);
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
    const sub_t *sub = tables_valid() ? sub_of_locked(handle, SUB_ACTIVE) : NULL;
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
        lane->latency_min = UINT32_MAX;
        lane->latency_max = 0;
        lane->latency_sum = 0;
        lane->latency_n = 0;
    }
    for (uint32_t i = 0; i < MAX_SUBS; i++) {
        bus.s.subs[i].longest_us = 0;
    }
    for (unsigned c = 0; c < CLASSES; c++) {
        bus.s.blocks_peak[c] = held_locked(c);
    }
    kraken_port_unlock(&bus.lock);
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
    if (kraken_port_in_isr()) {
        return; /* task only: nothing logged */
    }
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
        const sub_t *entry = &bus.s.subs[i];
        bool live = sub_state(entry) == SUB_ACTIVE;
        system_service_id_t source = entry->source;
        system_event_type_t event_type = entry->type;
        uint32_t deliveries = entry->deliveries, longest = entry->longest_us;
        kraken_port_unlock(&bus.lock);
        if (!live) {
            continue;
        }
        char label[12], type[11];
        const char *src = service_label(source, label);
        const char *type_text =
            event_type == SYSTEM_EVENT_TYPE_ANY ? "ANY" : u32_text(event_type, type);
        if (KRAKEN_EVENT_PROFILING) {
            KRAKEN_LOGI(tag, "  subscription %u: service %s, type %s: %u deliveries, longest %u us",
                        (unsigned)i, src, type_text, (unsigned)deliveries, (unsigned)longest);
        } else { /* handler time not measured */
            KRAKEN_LOGI(tag, "  subscription %u: service %s, type %s: %u deliveries", (unsigned)i,
                        src, type_text, (unsigned)deliveries);
        }
    }
}

/* ---- integrity check ------------------------------------------------------------------------- */
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
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE; /* task only: nothing checked */
    }
    const char *failure = NULL;
    uint32_t queued_blocks[CLASSES] = {0};
    kraken_port_lock(&bus.lock);
    const bool never_started = atomic_load(&bus.state) == ST_UNINIT && bus.s.lanes[0].capacity == 0;
    for (unsigned i = 0; i < LANES && !never_started; i++) {
        const lane_t *lane = &bus.s.lanes[i];
        CHECK((lane->count != 0) == ((activity() >> i) & 1u),
              "non-empty lane mask");
        /* posts may have taken released slots: count + reserved may exceed capacity until the
         * run is settled */
        CHECK(atomic_load(&bus.released[i]) <= lane->reserved, "lane released slots");
        CHECK((lane->waiters != 0) == ((activity() & room_wanted(i)) != 0),
              "posters waiting for room");
        CHECK(used_locked(lane, i) <= lane->capacity, "lane reserved slots");
        CHECK(lane->capacity >= 1 && lane->capacity <= kconfig_capacity[i], "lane capacity");
        CHECK(lane->head < lane->capacity, "lane head");
        CHECK(lane->count <= lane->capacity, "lane count");
        CHECK(lane->high_water <= lane->capacity, "lane high-water");
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
    uint32_t active = 0, in_use = 0, linked = 0;
    for (uint32_t i = 0; i < MAX_SUBS; i++) {
        const sub_t *sub = &bus.s.subs[i];
        uint8_t state = sub_state(sub);
        CHECK(state <= SUB_RETIRED, "subscription state");
        CHECK(state != SUB_ACTIVE || sub->handler != NULL, "subscription without handler");
        CHECK(state != SUB_FREE || sub->busy == 0, "free subscription in a call");
        active += state == SUB_ACTIVE;
        in_use += state != SUB_FREE;
    }
    CHECK(active == bus.s.sub_count, "subscription count");
    /* Every entry in use is linked once, in the list of its source; lists are consistent. */
    for (unsigned l = 0; l <= ANY_LIST && !never_started; l++) {
        const sub_t *prev = NULL;
        uint32_t steps = 0;
        for (const sub_t *sub = bus.s.list_head[l]; sub != NULL; sub = sub->next) {
            CHECK(sub >= bus.s.subs && sub < bus.s.subs + MAX_SUBS && ++steps <= MAX_SUBS,
                  "subscription list broken");
            CHECK(sub_state(sub) != SUB_FREE && list_of(sub->source) == l && sub->prev == prev,
                  "subscription list entry");
            prev = sub;
            linked++;
        }
        CHECK(bus.s.list_tail[l] == prev, "subscription list tail");
    }
    CHECK(never_started || linked == in_use, "subscriptions linked");
    CHECK(bus.s.service_count <= MAX_SERVICES, "service count");
    for (unsigned c = 0; c < CLASSES; c++) {
        const uint32_t held = held_locked(c);
        CHECK(queued_blocks[c] <= held && held <= bus.class_capacity[c], "pool blocks counted");
    }
out:
    kraken_port_unlock(&bus.lock);
    if (failure != NULL) {
        KRAKEN_LOGE(TAG, "integrity check failed: %s", failure);
        return ESP_ERR_INVALID_STATE;
    }
    return ESP_OK;
}
