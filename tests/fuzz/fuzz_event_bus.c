/*
 * fuzz_event_bus.c - the event bus in manual mode driven by arbitrary input, against a model of
 * what event_bus.h promises.
 *
 * Operations read from the bytes: register services (long, empty, too many names), subscribe and
 * unsubscribe (wildcards, stale and zero handles), posts of every size and priority from tasks and
 * from a simulated ISR (wildcards, NULL data, unknown priorities, full lanes, pools emptied by a
 * hog, oversize payloads), dispatches of some or all events, restarts with other lane sizes,
 * drains and discards, ISR posts while the bus is stopped. Handlers run scripts from the input
 * too: they post, subscribe, unsubscribe themselves or others, and try what a handler may not do.
 * The model keeps the queued events of each lane and the subscriptions, and checks:
 *   - delivery order: every event is the head of the highest non-empty lane, each lane FIFO;
 *   - each event reaches exactly the subscriptions that matched when its dispatch started, minus
 *     those removed before their turn, with its payload intact, its seq in post order, from_isr,
 *     an 8-aligned data pointer (NULL for size 0);
 *   - each post's result, and the reason it is counted under;
 *   - after every operation: every lane's counters (posted, from ISR, delivered, unhandled, each
 *     drop reason, depth), payload counts, subscriptions, services, blocks held by queued events,
 *     each subscription's deliveries, system_event_bus_check();
 *   - at the end: deinit returns every block (pools full, memory_pool_deinit accepted) and the
 *     heap is back to its boot figure.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "esp_timer.h"
#include "fuzz_support.h"
#include "kraken_config.h"
#include "kraken_sim.h"
#include "memory_pool.h"
#include "system_service/event_bus.h"

#define LANES SYSTEM_EVENT_PRIORITY_COUNT
#define REASONS SYSTEM_EVENT_DROP_REASON_COUNT
#define CLASSES MEMORY_POOL_CLASS_COUNT
#define SUBS_MAX KRAKEN_EVENT_MAX_SUBSCRIBERS
#define RING 256 /* > any lane capacity */
#define CRITICAL SYSTEM_EVENT_PRIORITY_CRITICAL

typedef struct {
    uint32_t id;   /* post number in this input: written into the payload */
    uint32_t seqn; /* accepted posts before it since the start: its seq, less an offset */
    system_service_id_t source;
    system_event_type_t type;
    size_t size;
    bool isr;
    int cls; /* pool class of the payload, -1 inline, CLASSES heap */
} mev_t;

typedef struct {
    mev_t ev[RING];
    uint32_t head, len;
} mlane_t;

typedef struct {
    bool active;
    system_event_subscription_t handle;
    system_service_id_t source;
    system_event_type_t type;
    uint32_t deliveries;
    uint8_t script; /* what the handler does when called */
    bool retired;   /* removed during this dispatch call: its table slot may still be taken (a
                       call of it was collected) until the call returns */
} msub_t;

static const uint16_t kconfig[LANES] = {KRAKEN_EVENT_LANE_LOW_CAPACITY,
                                        KRAKEN_EVENT_LANE_NORMAL_CAPACITY,
                                        KRAKEN_EVENT_LANE_HIGH_CAPACITY,
                                        KRAKEN_EVENT_LANE_CRITICAL_CAPACITY}; /* lane sizes */
static fuzz_input_t *in;
static bool trace;
static mlane_t lanes[LANES];
static msub_t subs[SUBS_MAX];
static system_event_stats_t want; /* the model's statistics */
static uint32_t aside[LANES][REASONS], aside_invalid_priority; /* refused while stopped */
static bool running, dispatching, draining;
static uint32_t next_id, accepted, services;
static int64_t seq_offset;
static bool seq_known;
static size_t class_size[CLASSES];
static bool spills;
static void *hog[64]; /* pool blocks taken from the bus's classes */
static size_t hog_n;

/* The event being delivered: which subscriptions must still be called for it. */
static struct {
    bool active;
    mev_t ev;
    bool pending[SUBS_MAX]; /* subscriptions still to be called for it (any Kconfig size) */
    int left;               /* how many */
} cur;
static uint32_t popped_this_call; /* events taken from the model in this dispatch call */
static uint32_t actions_this_call; /* handler scripts run in it */
static uint32_t popped_lane_this_call[LANES];

static bool matches(const msub_t *s, system_service_id_t source, system_event_type_t type)
{
    return s->active && (s->source == source || s->source == SYSTEM_SERVICE_ID_ANY) &&
           (s->type == type || s->type == SYSTEM_EVENT_TYPE_ANY);
}

/* The subscriptions an event matches now: their number, and (when `due` is not NULL) which. */
static int receivers(const mev_t *e, bool due[SUBS_MAX])
{
    int n = 0;
    for (int i = 0; i < SUBS_MAX; i++) {
        const bool m = matches(&subs[i], e->source, e->type);
        n += m;
        if (due != NULL) {
            due[i] = m;
        }
    }
    return n;
}

static int class_of_size(size_t size)
{
    if (size <= KRAKEN_EVENT_INLINE_DATA_SIZE) {
        return -1;
    }
    for (int c = 0; c < CLASSES; c++) {
        if (size <= class_size[c]) {
            return c;
        }
    }
    return CLASSES;
}

static uint8_t fill_of(uint32_t id, size_t k)
{
    return (uint8_t)(id * 31u + k * 7u + 1u);
}

/* ---- the model's delivery -------------------------------------------------------------------- */

static int top_lane(void)
{
    for (int p = LANES - 1; p >= 0; p--) {
        if (lanes[p].len > 0) {
            return p;
        }
    }
    return -1;
}

static mev_t pop(int p)
{
    mlane_t *l = &lanes[p];
    mev_t e = l->ev[l->head];
    l->head = (l->head + 1) % RING;
    l->len--;
    want.lanes[p].depth--;
    want.lanes[p].delivered++;
    if (e.cls >= 0 && e.cls < CLASSES) {
        want.pool_blocks_in_use[e.cls]--;
    } else if (e.cls == CLASSES) {
        want.heap_in_use--;
    }
    popped_this_call++;
    popped_lane_this_call[p]++;
    return e;
}

/* The event being delivered got all its calls: no subscription may be left waiting for it. */
static void finish_current(void)
{
    if (cur.active) {
        FUZZ_CHECK(cur.left == 0, "event %u: %d subscriptions never called", cur.ev.id,
                   cur.left);
        cur.active = false;
    }
}

/* Events the bus delivered without a call (no subscriber): taken in the bus's order. */
static void pop_unhandled(void)
{
    int p = top_lane();
    FUZZ_CHECK(p >= 0, "the bus delivered an event the model does not have");
    mev_t e = pop(p);
    FUZZ_CHECK(receivers(&e, NULL) == 0, "event %u (lane %d) had subscribers but no call", e.id,
               p);
    want.lanes[p].unhandled++;
}

static void handler(const system_event_t *event, void *ctx);

/* ---- operations ------------------------------------------------------------------------------ */

static const system_service_id_t sources[] = {0, 1, 2, 7, SYSTEM_SERVICE_ID_ANY};
static const system_event_type_t types[] = {1, 2, 3, SYSTEM_EVENT_TYPE_ANY};

static size_t pick_size(void)
{
    static const size_t sizes[] = {0, 1, 4, 15, 16, 17, 63, 64, 65, 200, 256, 257, 1000, 1024,
                                   1025, 4095, 4096, 4097, 6000};
    uint8_t k = fuzz_u8(in);
    return k < 200 ? sizes[k % (sizeof sizes / sizeof sizes[0])] : fuzz_u16(in) % 5000;
}

/* A post; `isr`: through system_event_post_from_isr inside a simulated ISR. */
static void op_post(uint8_t how)
{
    const bool isr = how & 1, in_handler = dispatching || draining;
    uint8_t k = fuzz_u8(in);
    system_service_id_t source = sources[k % 5];
    system_event_type_t type = types[(k / 5) % 4];
    unsigned prio = fuzz_u8(in);
    prio = prio < 240 ? prio % LANES : prio; /* now and then an unknown priority */
    size_t size = pick_size();
    static uint8_t payload[6000];
    const uint32_t id = next_id++;
    for (size_t b = 0; b < size; b++) {
        payload[b] = fill_of(id, b);
    }
    const void *data = size > 0 || (how & 2) == 0 ? payload : NULL;
    if (size > 0 && (how & 6) == 6) {
        data = NULL; /* NULL data with a size */
    }
    esp_err_t err;
    if (isr) {
        kraken_sim_isr_enter();
        bool woken = false;
        err = system_event_post_from_isr(source, type, data, size, (system_event_priority_t)prio,
                                         &woken);
        kraken_sim_isr_exit();
    } else if (in_handler) {
        err = system_event_post(source, type, data, size, (system_event_priority_t)prio);
    } else {
        err = system_event_post_with_timeout(source, type, data, size,
                                             (system_event_priority_t)prio, 0);
    }
    if (trace) {
        fprintf(stderr, "  post id %u src %u type %u prio %u size %zu isr %d: %d\n", id, source,
                (unsigned)type, prio, size, isr, err);
    }
    /* What the bus must have answered, in the order it checks. */
    if (prio >= LANES) {
        FUZZ_CHECK(err == ESP_ERR_INVALID_ARG, "unknown priority: %d", err);
        want.invalid_priority++;
        if (!running) {
            aside_invalid_priority++;
        }
        return;
    }
    system_event_drop_reason_t reason;
    const int cls = class_of_size(size);
    if (source == SYSTEM_SERVICE_ID_ANY || type == SYSTEM_EVENT_TYPE_ANY ||
        (data == NULL && size > 0)) {
        FUZZ_CHECK(err == ESP_ERR_INVALID_ARG, "invalid post: %d", err);
        reason = SYSTEM_EVENT_DROP_INVALID_ARG;
    } else if (!running || draining) {
        FUZZ_CHECK(err == ESP_ERR_INVALID_STATE, "post to a stopped bus: %d", err);
        reason = SYSTEM_EVENT_DROP_NOT_READY;
    } else if (cls == CLASSES && (isr || !KRAKEN_EVENT_OVERSIZE_TO_HEAP)) {
        FUZZ_CHECK(err == ESP_ERR_INVALID_SIZE, "oversize post: %d", err);
        reason = SYSTEM_EVENT_DROP_TOO_LARGE;
    } else if (err == ESP_ERR_NO_MEM && cls == CLASSES) { /* the heap refused the copy */
        memory_pool_stats_t st;
        memory_pool_get_stats(&st);
        FUZZ_CHECK(st.heap_blocks_live >= st.heap_blocks_max ||
                       heap_caps_get_largest_free_block(MALLOC_CAP_INTERNAL) < size + 64,
                   "NO_MEM for %zu bytes with the heap able to take them", size);
        reason = SYSTEM_EVENT_DROP_NO_MEM;
    } else if (err == ESP_ERR_NO_MEM) {
        FUZZ_CHECK(cls >= 0 && cls < CLASSES, "NO_MEM for a payload of %zu bytes", size);
        const uint32_t margin = prio == CRITICAL ? 0 : KRAKEN_EVENT_CRITICAL_RESERVE_BLOCKS;
        FUZZ_CHECK(memory_pool_class_free((unsigned)cls) <= margin &&
                       (!spills || cls + 1 == CLASSES ||
                        memory_pool_class_free((unsigned)cls + 1) <= margin),
                   "NO_MEM with blocks free in class %d", cls);
        /* RESERVE when blocks are left, in the class or the one it spills into */
        memory_pool_stats_t st;
        memory_pool_get_stats(&st);
        const bool left = st.classes[cls].in_use < st.classes[cls].capacity ||
                          (spills && cls + 1 < CLASSES &&
                           st.classes[cls + 1].in_use < st.classes[cls + 1].capacity);
        reason = prio != CRITICAL && left ? SYSTEM_EVENT_DROP_RESERVE : SYSTEM_EVENT_DROP_NO_MEM;
    } else if (err == ESP_ERR_TIMEOUT) {
        /* full: queued events, plus (in a handler) the run being delivered, fill the lane */
        FUZZ_CHECK(lanes[prio].len + (in_handler ? popped_lane_this_call[prio] : 0) >=
                       want.lanes[prio].capacity,
                   "TIMEOUT with lane %u at %u of %u", prio, lanes[prio].len,
                   want.lanes[prio].capacity);
        reason = SYSTEM_EVENT_DROP_FULL;
    } else {
        FUZZ_CHECK(err == ESP_OK, "post: %d", err);
        FUZZ_CHECK(lanes[prio].len < want.lanes[prio].capacity, "accepted into a full lane %u",
                   prio);
        mlane_t *l = &lanes[prio];
        l->ev[(l->head + l->len) % RING] =
            (mev_t){.id = id, .seqn = accepted++, .source = source, .type = type, .size = size,
                    .isr = isr, .cls = cls};
        l->len++;
        want.lanes[prio].posted++;
        want.lanes[prio].posted_from_isr += isr;
        want.lanes[prio].depth++;
        if (cls < 0) {
            want.inline_payloads++;
        } else if (cls < CLASSES) {
            want.pool_payloads++;
            want.pool_blocks_in_use[cls]++; /* with spills: the class may be the next; see check */
        } else {
            want.heap_payloads++;
            want.heap_in_use++;
        }
        return;
    }
    want.lanes[prio].dropped[reason]++;
    if (!running) {
        aside[prio][reason]++;
    }
}

/* A slot for a new subscription: a free one, else -2 when only retired ones are left (the bus
 * may or may not have them back yet), else -1 (the table is full). */
static int free_sub(void)
{
    int retired = -1;
    for (int i = 0; i < SUBS_MAX; i++) {
        if (!subs[i].active && !subs[i].retired) {
            return i;
        }
        if (subs[i].retired) {
            retired = -2;
        }
    }
    return retired;
}

static void end_of_dispatch_call(void)
{
    for (int i = 0; i < SUBS_MAX; i++) {
        subs[i].retired = false;
    }
}

static void op_subscribe(void)
{
    uint8_t k = fuzz_u8(in);
    const int free_slot = free_sub();
    int slot = free_slot;
    if (free_slot == -2) { /* only retired slots: the bus may have one back already */
        for (slot = 0; !subs[slot].retired; slot++) {
        }
    }
    system_event_subscription_t h = {0};
    esp_err_t err = system_event_subscribe(sources[k % 5], types[(k / 5) % 4],
                                           k >= 250 ? NULL : handler,
                                           &subs[slot < 0 ? 0 : slot], &h);
    if (trace) {
        fprintf(stderr, "  subscribe (slot %d): %d\n", free_slot, err);
    }
    if (k >= 250) {
        FUZZ_CHECK(err == ESP_ERR_INVALID_ARG, "NULL handler: %d", err);
        return;
    }
    if (draining) {
        FUZZ_CHECK(err == ESP_ERR_INVALID_STATE, "subscribe while draining: %d", err);
        return;
    }
    if (free_slot == -1 || (free_slot == -2 && err == ESP_ERR_NO_MEM)) {
        FUZZ_CHECK(err == ESP_ERR_NO_MEM, "subscribe to a full table: %d", err);
        return;
    }
    FUZZ_CHECK(err == ESP_OK, "subscribe: %d", err);
    subs[slot] = (msub_t){.active = true, .handle = h, .source = sources[k % 5],
                          .type = types[(k / 5) % 4], .script = fuzz_u8(in)};
    want.subscriptions++;
}

static void unsubscribe(int i)
{
    esp_err_t err = system_event_unsubscribe(subs[i].handle);
    if (draining) {
        FUZZ_CHECK(err == ESP_ERR_INVALID_STATE, "unsubscribe while draining: %d", err);
        return;
    }
    if (!subs[i].active) {
        FUZZ_CHECK(err == ESP_ERR_NOT_FOUND, "stale handle: %d", err);
        return;
    }
    if (trace) {
        fprintf(stderr, "  unsubscribe %d: %d (dispatching %d)\n", i, err, dispatching);
    }
    FUZZ_CHECK(err == ESP_OK, "unsubscribe: %d", err);
    subs[i].active = false;
    subs[i].retired = dispatching;
    want.subscriptions--;
    if (cur.pending[i]) { /* never called again */
        cur.pending[i] = false;
        cur.left--;
    }
}

static void op_unsubscribe(void)
{
    uint8_t k = fuzz_u8(in);
    if (k == 255) {
        system_event_subscription_t zero = {0};
        FUZZ_CHECK(system_event_unsubscribe(zero) ==
                       (draining ? ESP_ERR_INVALID_STATE : ESP_ERR_NOT_FOUND),
                   "zero handle");
        return;
    }
    int i = k % SUBS_MAX;
    if (subs[i].handle.opaque_ != 0) { /* active, or removed: a stale handle */
        unsubscribe(i);
    }
}

static void op_register(void)
{
    static const char *const names[] = {"wifi", "sensor", "ui", "storage", "a", ""};
    char name[64];
    uint8_t k = fuzz_u8(in);
    if (k % 8 < 6) {
        snprintf(name, sizeof name, "%s", names[k % 8]);
    } else if (k % 8 == 6) {
        snprintf(name, sizeof name, "svc%u", k); /* many names: the table fills */
    } else {
        memset(name, 'n', KRAKEN_EVENT_SERVICE_NAME_LEN); /* one byte too long */
        name[KRAKEN_EVENT_SERVICE_NAME_LEN] = '\0';
    }
    system_service_id_t id = 0xBEEF, again = 0xBEEF;
    esp_err_t err = system_service_register(name, &id);
    if (draining) {
        FUZZ_CHECK(err == ESP_ERR_INVALID_STATE, "register while draining: %d", err);
        return;
    }
    if (name[0] == '\0') {
        FUZZ_CHECK(err == ESP_ERR_INVALID_ARG, "empty name: %d", err);
        return;
    }
    if (strlen(name) >= KRAKEN_EVENT_SERVICE_NAME_LEN) {
        FUZZ_CHECK(err == ESP_ERR_INVALID_SIZE, "long name: %d", err);
        return;
    }
    if (err == ESP_ERR_NO_MEM) {
        FUZZ_CHECK(services == KRAKEN_EVENT_MAX_SERVICES, "table full at %u", services);
        return;
    }
    FUZZ_CHECK(err == ESP_OK, "register %s: %d", name, err);
    if (id == services) {
        services++;
        want.services++;
    }
    FUZZ_CHECK(id < services, "id %u of %u services", id, services);
    FUZZ_CHECK(strcmp(system_service_get_name(id), name) == 0, "name of %u", id);
    FUZZ_CHECK(system_service_register(name, &again) == ESP_OK && again == id, "same name again");
}

/* The dispatch call returned `n` events: those the handlers did not see were unhandled. */
static void settle_dispatch(uint32_t n)
{
    finish_current();
    FUZZ_CHECK(popped_this_call <= n, "%u events seen, %u reported", popped_this_call, n);
    while (popped_this_call < n) {
        pop_unhandled();
    }
}

static void op_dispatch(void)
{
    uint8_t k = fuzz_u8(in);
    uint32_t max = k < 128 ? SYSTEM_EVENT_DISPATCH_ALL : k % 8;
    uint32_t n = 12345;
    popped_this_call = actions_this_call = 0;
    memset(popped_lane_this_call, 0, sizeof popped_lane_this_call);
    dispatching = true;
    esp_err_t err = system_event_dispatch_pending(max, &n);
    dispatching = false;
    end_of_dispatch_call();
    FUZZ_CHECK(err == ESP_OK, "dispatch: %d", err);
    FUZZ_CHECK(n <= max, "dispatched %u of at most %u", n, max);
    settle_dispatch(n);
    if (max == SYSTEM_EVENT_DISPATCH_ALL) {
        FUZZ_CHECK(top_lane() < 0, "DISPATCH_ALL left events queued");
    }
}

/* Take pool blocks away from the bus (or give them back): NO_MEM and RESERVE become reachable. */
static void op_hog(void)
{
    uint8_t k = fuzz_u8(in);
    if (k & 1) {
        while (hog_n > 0 && k-- > 1) {
            memory_pool_free(hog[--hog_n]);
        }
        return;
    }
    size_t size = class_size[k % CLASSES];
    for (int i = 0; i < 8 && hog_n < 64; i++) {
        void *p = memory_pool_alloc_isr(size); /* pool blocks only */
        if (p == NULL) {
            break;
        }
        hog[hog_n++] = p;
    }
}

static void model_start(const system_event_bus_config_t *cfg)
{
    memset(&want, 0, sizeof want);
    memset(lanes, 0, sizeof lanes);
    memset(subs, 0, sizeof subs);
    for (int p = 0; p < LANES; p++) {
        want.lanes[p].capacity = cfg->lane_capacity[p] ? cfg->lane_capacity[p] : kconfig[p];
        for (int r = 0; r < REASONS; r++) {
            want.lanes[p].dropped[r] = aside[p][r];
        }
    }
    want.invalid_priority = aside_invalid_priority;
    memset(aside, 0, sizeof aside);
    aside_invalid_priority = 0;
    want.mode = SYSTEM_EVENT_MODE_MANUAL;
    want.ready = true;
    running = true;
    services = 0;
    seq_known = false;
    memory_pool_stats_t st;
    memory_pool_get_stats(&st);
    for (int c = 0; c < CLASSES; c++) {
        class_size[c] = st.classes[c].block_size;
    }
    spills = st.try_larger_class;
}

static void start(void)
{
    system_event_bus_config_t cfg = system_event_bus_default_config();
    cfg.mode = SYSTEM_EVENT_MODE_MANUAL;
    uint8_t k = fuzz_u8(in);
    for (int p = 0; p < LANES; p++) { /* now and then a short lane (up to 4, within Kconfig's) */
        uint16_t most = kconfig[p] < 4 ? kconfig[p] : 4;
        cfg.lane_capacity[p] = k & (1u << p) ? (uint16_t)(1 + fuzz_u8(in) % most) : 0;
    }
    FUZZ_CHECK(system_event_bus_init(&cfg) == ESP_OK, "init");
    model_start(&cfg);
}

static void stop(bool discard)
{
    if (!discard) {
        popped_this_call = actions_this_call = 0;
        memset(popped_lane_this_call, 0, sizeof popped_lane_this_call);
        draining = true;
    }
    esp_err_t err = system_event_bus_deinit(discard ? SYSTEM_EVENT_DEINIT_DISCARD
                                                    : SYSTEM_EVENT_DEINIT_DRAIN);
    FUZZ_CHECK(err == ESP_OK, "deinit: %d", err);
    if (!discard) {
        finish_current();
        while (top_lane() >= 0) { /* drained without a call */
            pop_unhandled();
        }
        draining = false;
    }
    for (int p = 0; p < LANES; p++) {
        want.lanes[p].dropped[SYSTEM_EVENT_DROP_DISCARDED] += lanes[p].len;
        want.lanes[p].depth = 0;
        lanes[p].len = 0;
    }
    memset(want.pool_blocks_in_use, 0, sizeof want.pool_blocks_in_use);
    want.heap_in_use = 0;
    want.ready = false;
    want.subscriptions = 0;
    want.services = 0; /* forgotten with the subscriptions */
    running = false;
    cur.active = false;
}

/* What a handler may not do: all refused. */
static void forbidden_in_handler(void)
{
    uint32_t n;
    FUZZ_CHECK(system_event_dispatch_pending(SYSTEM_EVENT_DISPATCH_ALL, &n) == ESP_ERR_INVALID_STATE,
               "dispatch from a handler");
    FUZZ_CHECK(system_event_bus_deinit(SYSTEM_EVENT_DEINIT_DISCARD) == ESP_ERR_INVALID_STATE,
               "deinit from a handler");
    FUZZ_CHECK(system_event_bus_init(NULL) == ESP_ERR_INVALID_STATE, "init from a handler");
}

/* ---- the handler ----------------------------------------------------------------------------- */

static void handler(const system_event_t *event, void *ctx)
{
    msub_t *s = ctx;
    const int i = (int)(s - subs);
    FUZZ_CHECK(dispatching || draining, "a handler ran outside a dispatch");
    if (!cur.active || !seq_known || event->seq != (uint32_t)(cur.ev.seqn + seq_offset)) {
        /* a new event: the ones before it in the bus's order had no subscriber */
        finish_current();
        int p;
        for (;;) {
            p = top_lane();
            FUZZ_CHECK(p >= 0, "a call for an event the model does not have");
            const mev_t *head = &lanes[p].ev[lanes[p].head];
            if (receivers(head, NULL) != 0) {
                break;
            }
            pop_unhandled();
        }
        cur.ev = pop(p);
        cur.active = true;
        cur.left = receivers(&cur.ev, cur.pending);
        if (!seq_known) {
            seq_offset = (int64_t)event->seq - cur.ev.seqn;
            seq_known = true;
        }
        FUZZ_CHECK(event->seq == (uint32_t)(cur.ev.seqn + seq_offset),
                   "event seq %u, want post %u (FIFO, priority order)", event->seq, cur.ev.id);
        FUZZ_CHECK((int)event->priority == p, "priority %d, lane %d", event->priority, p);
        FUZZ_CHECK(event->source == cur.ev.source && event->type == cur.ev.type, "source/type");
        FUZZ_CHECK(event->size == cur.ev.size, "size %zu, want %zu", event->size, cur.ev.size);
        FUZZ_CHECK(event->from_isr == cur.ev.isr, "from_isr");
        FUZZ_CHECK(event->timestamp_us <= esp_timer_get_time(), "timestamp in the future");
        FUZZ_CHECK((event->data == NULL) == (event->size == 0), "data %p for %zu bytes",
                   event->data, event->size);
        FUZZ_CHECK(((uintptr_t)event->data & 7) == 0, "data %p not 8-aligned", event->data);
        const uint8_t *d = event->data;
        for (size_t k = 0; k < event->size; k++) {
            FUZZ_CHECK(d[k] == fill_of(cur.ev.id, k), "event %u byte %zu", cur.ev.id, k);
        }
        if (cur.ev.cls >= 0 && cur.ev.cls < CLASSES) {
            unsigned c = memory_pool_class_of(event->data);
            FUZZ_CHECK(c == (unsigned)cur.ev.cls || (spills && c == (unsigned)cur.ev.cls + 1),
                       "payload of %zu bytes in class %u", event->size, c);
        }
    }
    FUZZ_CHECK(cur.pending[i], "subscription %d called for event %u (not due)", i,
               cur.ev.id);
    cur.pending[i] = false;
    cur.left--;
    s->deliveries++;
    if (trace) {
        fprintf(stderr, "  call sub %d for post %u (script %u)\n", i, cur.ev.id, s->script);
    }
    /* the script: while the input lasts, and a few actions per dispatch call (a handler that
     * posts at every call would otherwise keep DISPATCH_ALL going for ever) */
    if (in->n == 0 || ++actions_this_call > 48) {
        return;
    }
    const uint8_t script = s->script;
    if (script & 1) {
        forbidden_in_handler();
    }
    switch ((script >> 1) % 8) {
    case 0: op_post(fuzz_u8(in) & 6); break;   /* a task post from a handler: never waits */
    case 1: unsubscribe(i); break;              /* itself */
    case 2: op_unsubscribe(); break;            /* another */
    case 3: op_subscribe(); break;
    case 4: op_post(1); break;                  /* an ISR post while a handler runs */
    default: break;
    }
}

/* ---- checks ---------------------------------------------------------------------------------- */

static void check_stats(const char *after)
{
    system_event_stats_t got;
    FUZZ_CHECK(system_event_get_stats(&got) == ESP_OK, "stats");
    for (int p = 0; p < LANES; p++) {
        const system_event_lane_stats_t *g = &got.lanes[p], *w = &want.lanes[p];
#define SAME(field)                                                                                \
    FUZZ_CHECK(g->field == w->field, "after %s: lane %d " #field " %u, model %u", after, p,       \
               (unsigned)g->field, (unsigned)w->field)
        SAME(depth);
        SAME(posted);
        SAME(posted_from_isr);
        SAME(delivered);
        SAME(unhandled);
        for (int r = 0; r < REASONS; r++) {
            SAME(dropped[r]);
        }
        if (running) {
            SAME(capacity);
        }
#undef SAME
    }
#define SAME(field)                                                                                \
    FUZZ_CHECK(got.field == want.field, "after %s: " #field " %u, model %u", after,                \
               (unsigned)got.field, (unsigned)want.field)
    SAME(ready);
    SAME(inline_payloads);
    SAME(pool_payloads);
    SAME(heap_payloads);
    SAME(heap_in_use);
    SAME(invalid_priority);
    if (running) {
        SAME(mode);
        SAME(subscriptions);
        SAME(services);
    }
#undef SAME
    uint32_t got_blocks = 0, want_blocks = 0;
    for (int c = 0; c < CLASSES; c++) {
        if (!spills) {
            FUZZ_CHECK(got.pool_blocks_in_use[c] == want.pool_blocks_in_use[c],
                       "after %s: class %d blocks %u, model %u", after, c,
                       got.pool_blocks_in_use[c], want.pool_blocks_in_use[c]);
        }
        got_blocks += got.pool_blocks_in_use[c];
        want_blocks += want.pool_blocks_in_use[c];
    }
    FUZZ_CHECK(got_blocks == want_blocks, "after %s: %u blocks held, model %u", after, got_blocks,
               want_blocks);
    if (running) {
        for (int i = 0; i < SUBS_MAX; i++) {
            if (subs[i].active) {
                system_event_subscription_stats_t ss;
                FUZZ_CHECK(system_event_get_subscription_stats(subs[i].handle, &ss) == ESP_OK,
                           "subscription stats");
                FUZZ_CHECK(ss.deliveries == subs[i].deliveries,
                           "after %s: sub %d %u calls, model %u", after, i,
                           (unsigned)ss.deliveries, (unsigned)subs[i].deliveries);
            }
        }
        FUZZ_CHECK(system_event_bus_check() == ESP_OK, "after %s: bus invariants", after);
    }
}

/* ---- one input ------------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input_t input = {data, size};
    in = &input;
    trace = getenv("FUZZ_TRACE") != NULL;
    esp_log_level_set("*", ESP_LOG_NONE);
    FUZZ_CHECK(kraken_sim_init(KRAKEN_SIM_ESP32S3_N8R8) == ESP_OK, "reboot");
    const size_t sram0 = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    memset(aside, 0, sizeof aside);
    aside_invalid_priority = 0;
    next_id = accepted = 0;
    hog_n = 0;
    memset(&cur, 0, sizeof cur);
    start();
    check_stats("start");
    static const char *const names[] = {"post", "post", "post", "post from ISR", "subscribe",
                                        "subscribe", "unsubscribe", "register", "dispatch",
                                        "dispatch", "hog", "stop or reset peaks"};
    while (input.n > 0) {
        const uint8_t op = fuzz_u8(in), how = op / 12;
        if (!running) { /* stopped: ISR posts and invalid task posts only (others would start it) */
            if (op % 2 == 0) {
                start();
            } else if (op % 4 == 1) {
                op_post(1);
            } else {
                system_event_post((system_service_id_t)1, 1, NULL, 0, (system_event_priority_t)9);
                want.invalid_priority++;
                aside_invalid_priority++;
            }
            check_stats("a stopped bus");
            continue;
        }
        switch (op % 12) {
        case 0: case 1: case 2: op_post(how & 6); break;
        case 3: op_post(1); break;
        case 4: case 5: op_subscribe(); break;
        case 6: op_unsubscribe(); break;
        case 7: op_register(); break;
        case 8: case 9: op_dispatch(); break;
        case 10: op_hog(); break;
        default:
            if (how % 4 == 0) {
                stop(how & 4); /* drain or discard */
            } else {
                system_event_reset_peaks();
            }
            break;
        }
        if (trace) {
            fprintf(stderr, "%s (depths %u %u %u %u)\n", names[op % 12], lanes[0].len,
                    lanes[1].len, lanes[2].len, lanes[3].len);
        }
        check_stats(names[op % 12]);
    }
    /* Everything back: a discard returns every block, the pools are full, the heap as at boot. */
    while (hog_n > 0) {
        memory_pool_free(hog[--hog_n]);
    }
    if (running) {
        stop(true);
    }
    static const uint32_t none[LANES][REASONS];
    if (aside_invalid_priority != 0 || memcmp(aside, none, sizeof aside) != 0) {
        start(); /* the next input must not inherit refusals made while stopped */
        stop(true);
    }
    check_stats("the end");
    memory_pool_stats_t st;
    memory_pool_get_stats(&st);
    for (int c = 0; c < CLASSES; c++) {
        FUZZ_CHECK(st.classes[c].in_use == 0, "class %d: %u blocks not returned", c,
                   st.classes[c].in_use);
    }
    FUZZ_CHECK(memory_pool_deinit() == ESP_OK, "pools deinit");
    FUZZ_CHECK(heap_caps_get_free_size(MALLOC_CAP_INTERNAL) == sram0, "SRAM %zu free, %zu at boot",
               heap_caps_get_free_size(MALLOC_CAP_INTERNAL), sram0);
    return 0;
}
