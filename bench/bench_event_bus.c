/*
 * bench_event_bus.c - events per second posted + delivered by the Kraken event bus against a
 * baseline bus built here with esp_event's design (a malloc'd copy of the payload per post, one
 * FIFO for every event, a mutex around the handler list during dispatch), in the same run. The
 * baseline's malloc() is the simulated ESP32-S3 heap, as esp_event's is the chip's heap; two more
 * columns: the same with esp_event's CONFIG_ESP_EVENT_LOOP_PROFILING (two timer reads per handler
 * call, for a comparison at similar statistics), and the same on glibc's malloc (per-thread
 * caches, much faster than any MCU heap: the hardest baseline this host offers).
 *
 *   bench_event_bus                      table: 1 and 8 subscribers x 16/200/1000-byte payloads,
 *                                        manual dispatch (one thread) and dispatcher task (producer
 *                                        thread + dispatcher), events/s of the buses and the ratios,
 *                                        heap calls per event of the Kraken bus (simulator counter)
 *   bench_event_bus --events N           events per measurement (default 200000)
 *   bench_event_bus --only MODE SUBS BYTES   one row (MODE manual or task)
 *   bench_event_bus --fixed N [--size S] [--batch B]   (B = 0: N dispatch calls, nothing queued)
 *                                        fixed workload for callgrind: N events of S bytes (default
 *                                        16) to one subscriber, manual mode, B posts (default 1)
 *                                        then one dispatch_pending, repeated:
 *     valgrind --tool=callgrind --toggle-collect=fixed_workload \
 *         --toggle-collect=baseline_fixed_workload ./bench_event_bus --fixed 96000
 *     callgrind_annotate --inclusive=yes callgrind.out.<pid> | grep -E 'fixed_workload|_handler'
 *   (instructions per event = (fixed_workload - kraken_handler) / N; the same workload runs on
 *   the baseline bus first: (baseline_fixed_workload - baseline_handler) / N)
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_support.h"
#include "kraken_config.h"
#include "kraken_port.h"
#include "kraken_sim.h"
#include "sim_internal.h"
#include "system_service/event_bus.h"

#define SRC ((system_service_id_t)3)
#define TYPE ((system_event_type_t)7)

static volatile uint64_t sink; /* handlers write here so their work is not optimised away */

/* ---- baseline: esp_event's design on the same host primitives --------------------------------- */

#define BL_QUEUE 32 /* CONFIG_ESP_EVENT_LOOP_QUEUE_SIZE default */

typedef void (*bl_handler_fn)(const void *data, size_t size, void *ctx);
typedef struct bl_handler {
    struct bl_handler *next;
    uint16_t source;
    uint32_t type;
    bl_handler_fn fn;
    void *ctx;
    uint32_t invoked; /* CONFIG_ESP_EVENT_LOOP_PROFILING's per-handler figures */
    int64_t time;
} bl_handler_t;

typedef struct {
    uint16_t source;
    uint32_t type;
    void *data;
    size_t size;
    bool stop;
} bl_post_t;

static struct {
    pthread_mutex_t qlock;
    pthread_cond_t not_empty, not_full;
    bl_post_t q[BL_QUEUE];
    unsigned head, count;
    pthread_mutex_t handlers_lock; /* esp_event holds the loop mutex while running handlers */
    bl_handler_t *handlers;
    uint64_t mallocs, frees;
    bool profiling; /* esp_event with CONFIG_ESP_EVENT_LOOP_PROFILING: time every handler call */
    bool glibc;     /* copies from glibc's malloc instead of the simulated chip heap */
} bl = {.qlock = PTHREAD_MUTEX_INITIALIZER,
        .not_empty = PTHREAD_COND_INITIALIZER,
        .not_full = PTHREAD_COND_INITIALIZER,
        .handlers_lock = PTHREAD_MUTEX_INITIALIZER};

static void bl_subscribe(uint16_t source, uint32_t type, bl_handler_fn fn, void *ctx)
{
    bl_handler_t *h = __real_malloc(sizeof *h);
    *h = (bl_handler_t){.source = source, .type = type, .fn = fn, .ctx = ctx};
    bl_handler_t **tail = &bl.handlers; /* registration order, as esp_event */
    while (*tail != NULL) {
        tail = &(*tail)->next;
    }
    *tail = h;
}

static void bl_clear(void)
{
    while (bl.handlers != NULL) {
        bl_handler_t *next = bl.handlers->next;
        __real_free(bl.handlers);
        bl.handlers = next;
    }
}

static void bl_enqueue(bl_post_t p)
{
    pthread_mutex_lock(&bl.qlock);
    while (bl.count == BL_QUEUE) {
        pthread_cond_wait(&bl.not_full, &bl.qlock);
    }
    bl.q[(bl.head + bl.count) % BL_QUEUE] = p;
    bl.count++;
    pthread_cond_signal(&bl.not_empty);
    pthread_mutex_unlock(&bl.qlock);
}

static int bl_post(uint16_t source, uint32_t type, const void *data, size_t size)
{
    /* esp_event_post_to: one heap copy per post. malloc() here is the simulated ESP32-S3 heap
     * (TLSF under a lock per region, as heap_caps_malloc on the chip); glibc's (per-thread caches,
     * nothing like the chip's) for comparison. */
    void *copy = bl.glibc ? __real_malloc(size) : malloc(size);
    if (copy == NULL) {
        return -1;
    }
    bl.mallocs++;
    memcpy(copy, data, size);
    bl_enqueue((bl_post_t){.source = source, .type = type, .data = copy, .size = size});
    return 0;
}

static void bl_deliver(const bl_post_t *p)
{
    pthread_mutex_lock(&bl.handlers_lock);
    for (bl_handler_t *h = bl.handlers; h != NULL; h = h->next) {
        if (h->source == p->source && h->type == p->type) {
            if (bl.profiling) { /* as esp_event's handler_execute(): two timer reads per call */
                int64_t start = kraken_port_time_us();
                h->fn(p->data, p->size, h->ctx);
                h->time += kraken_port_time_us() - start;
                h->invoked++;
            } else {
                h->fn(p->data, p->size, h->ctx);
            }
        }
    }
    pthread_mutex_unlock(&bl.handlers_lock);
    if (bl.glibc) {
        __real_free(p->data);
    } else {
        free(p->data);
    }
    bl.frees++;
}

/* One event; false when the queue is empty (wait=false) or a stop arrived. */
static bool bl_dispatch_one(bool wait)
{
    pthread_mutex_lock(&bl.qlock);
    while (bl.count == 0) {
        if (!wait) {
            pthread_mutex_unlock(&bl.qlock);
            return false;
        }
        pthread_cond_wait(&bl.not_empty, &bl.qlock);
    }
    bl_post_t p = bl.q[bl.head];
    bl.head = (bl.head + 1) % BL_QUEUE;
    bl.count--;
    pthread_cond_signal(&bl.not_full);
    pthread_mutex_unlock(&bl.qlock);
    if (p.stop) {
        return false;
    }
    bl_deliver(&p);
    return true;
}

static void *bl_dispatcher_main(void *arg)
{
    (void)arg;
    while (bl_dispatch_one(true)) {
    }
    return NULL;
}

static void baseline_handler(const void *data, size_t size, void *ctx)
{
    (void)ctx;
    sink += ((const uint8_t *)data)[size - 1];
}

/* ---- the Kraken bus ---------------------------------------------------------------------------- */

void kraken_handler(const system_event_t *event, void *ctx);
void kraken_handler(const system_event_t *event, void *ctx)
{
    (void)ctx;
    sink += ((const uint8_t *)event->data)[event->size - 1];
}

static void kraken_start(system_event_mode_t mode, int subscribers)
{
    system_event_bus_config_t cfg = system_event_bus_default_config();
    cfg.mode = mode;
    if (system_event_bus_init(&cfg) != ESP_OK) {
        fprintf(stderr, "bench: bus init failed\n");
        exit(1);
    }
    for (int i = 0; i < subscribers; i++) {
        system_event_subscribe(SRC, TYPE, kraken_handler, NULL, NULL);
    }
}

static uint64_t sim_heap_calls(void)
{
    kraken_sim_stats_t st;
    kraken_sim_get_stats(&st);
    return st.allocations + st.frees + st.failed;
}

/* ---- measurements ------------------------------------------------------------------------------ */

#define BATCH 16 /* manual mode posts this many, then dispatches them */

typedef struct {
    double seconds;
    uint64_t heap_calls;
    uint64_t failed;
} run_t;

static run_t kraken_manual(uint32_t events, size_t size, int subs)
{
    static uint8_t payload[1024];
    kraken_start(SYSTEM_EVENT_MODE_MANUAL, subs);
    run_t r = {0};
    uint64_t heap0 = sim_heap_calls();
    int64_t t0 = kraken_port_time_us();
    for (uint32_t done = 0; done < events; done += BATCH) {
        for (int i = 0; i < BATCH; i++) {
            r.failed += system_event_post(SRC, TYPE, payload, size, SYSTEM_EVENT_PRIORITY_NORMAL) != ESP_OK;
        }
        system_event_dispatch_pending(SYSTEM_EVENT_DISPATCH_ALL, NULL);
    }
    r.seconds = (double)(kraken_port_time_us() - t0) / 1e6;
    r.heap_calls = sim_heap_calls() - heap0;
    system_event_bus_deinit(SYSTEM_EVENT_DEINIT_DISCARD);
    return r;
}

static run_t kraken_task(uint32_t events, size_t size, int subs)
{
    static uint8_t payload[1024];
    kraken_start(SYSTEM_EVENT_MODE_TASK, subs);
    run_t r = {0};
    uint64_t heap0 = sim_heap_calls();
    int64_t t0 = kraken_port_time_us();
    for (uint32_t i = 0; i < events; i++) {
        r.failed += system_event_post_with_timeout(SRC, TYPE, payload, size,
                                                   SYSTEM_EVENT_PRIORITY_NORMAL,
                                                   SYSTEM_EVENT_WAIT_FOREVER) != ESP_OK;
    }
    uint64_t heap1 = sim_heap_calls();
    system_event_bus_deinit(SYSTEM_EVENT_DEINIT_DRAIN); /* returns when every event was delivered */
    r.seconds = (double)(kraken_port_time_us() - t0) / 1e6;
    r.heap_calls = heap1 - heap0;
    return r;
}

static run_t baseline_manual(uint32_t events, size_t size, int subs)
{
    static uint8_t payload[1024];
    for (int i = 0; i < subs; i++) {
        bl_subscribe(SRC, TYPE, baseline_handler, NULL);
    }
    run_t r = {0};
    uint64_t m0 = bl.mallocs + bl.frees;
    int64_t t0 = kraken_port_time_us();
    for (uint32_t done = 0; done < events; done += BATCH) {
        for (int i = 0; i < BATCH; i++) {
            r.failed += bl_post(SRC, TYPE, payload, size) != 0;
        }
        while (bl_dispatch_one(false)) {
        }
    }
    r.seconds = (double)(kraken_port_time_us() - t0) / 1e6;
    r.heap_calls = bl.mallocs + bl.frees - m0;
    bl_clear();
    return r;
}

static run_t baseline_task(uint32_t events, size_t size, int subs)
{
    static uint8_t payload[1024];
    for (int i = 0; i < subs; i++) {
        bl_subscribe(SRC, TYPE, baseline_handler, NULL);
    }
    run_t r = {0};
    uint64_t m0 = bl.mallocs + bl.frees;
    pthread_t th;
    int64_t t0 = kraken_port_time_us();
    pthread_create(&th, NULL, bl_dispatcher_main, NULL);
    for (uint32_t i = 0; i < events; i++) {
        r.failed += bl_post(SRC, TYPE, payload, size) != 0;
    }
    bl_enqueue((bl_post_t){.stop = true});
    pthread_join(th, NULL);
    r.seconds = (double)(kraken_port_time_us() - t0) / 1e6;
    r.heap_calls = bl.mallocs + bl.frees - m0;
    bl_clear();
    return r;
}

typedef run_t (*measure_fn)(uint32_t, size_t, int);

/* A baseline run with one of its options on. */
static run_t baseline_with(bool *option, measure_fn fn, uint32_t events, size_t size, int subs)
{
    *option = true;
    run_t r = fn(events, size, subs);
    *option = false;
    return r;
}

/* With esp_event's own profiling on (for comparison at similar statistics). */
static run_t baseline_manual_profiled(uint32_t events, size_t size, int subs)
{
    return baseline_with(&bl.profiling, baseline_manual, events, size, subs);
}

static run_t baseline_task_profiled(uint32_t events, size_t size, int subs)
{
    return baseline_with(&bl.profiling, baseline_task, events, size, subs);
}

/* On glibc's malloc. */
static run_t baseline_manual_glibc(uint32_t events, size_t size, int subs)
{
    return baseline_with(&bl.glibc, baseline_manual, events, size, subs);
}

static run_t baseline_task_glibc(uint32_t events, size_t size, int subs)
{
    return baseline_with(&bl.glibc, baseline_task, events, size, subs);
}

/* Best of ROUNDS runs each, the buses taking turns, so that all see the same share of a machine
 * whose load changes (the least disturbed run of each). */
#define ROUNDS 5
#define BUSES 4 /* kraken, baseline, baseline with profiling, baseline on glibc */

static void best_of(const measure_fn fn[BUSES], uint32_t events, size_t size, int subs,
                    run_t best[BUSES])
{
    for (int i = 0; i < ROUNDS; i++) {
        for (int k = 0; k < BUSES; k++) {
            run_t r = fn[k](events, size, subs);
            if (i == 0 || r.seconds < best[k].seconds) {
                best[k] = r;
            }
        }
    }
}

/* The callgrind workload: kept as its own function for --toggle-collect. */
void fixed_workload(uint32_t n, size_t size, uint32_t batch);
void fixed_workload(uint32_t n, size_t size, uint32_t batch)
{
    static uint8_t payload[1024];
    const uint32_t step = batch ? batch : 1;
    for (uint32_t i = 0; i < n; i += step) {
        for (uint32_t k = 0; k < batch; k++) {
            system_event_post(SRC, TYPE, payload, size, SYSTEM_EVENT_PRIORITY_NORMAL);
        }
        system_event_dispatch_pending(SYSTEM_EVENT_DISPATCH_ALL, NULL);
    }
}

/* The same workload on the baseline bus (callgrind: --toggle-collect=baseline_fixed_workload). */
void baseline_fixed_workload(uint32_t n, size_t size, uint32_t batch);
void baseline_fixed_workload(uint32_t n, size_t size, uint32_t batch)
{
    static uint8_t payload[1024];
    const uint32_t step = batch ? batch : 1;
    for (uint32_t i = 0; i < n; i += step) {
        for (uint32_t k = 0; k < batch; k++) {
            bl_post(SRC, TYPE, payload, size);
        }
        while (bl_dispatch_one(false)) {
        }
    }
}

static int run_fixed(uint32_t n, size_t size, uint32_t batch)
{
    const uint32_t step = batch ? batch : 1;
    bl_subscribe(SRC, TYPE, baseline_handler, NULL);
    baseline_fixed_workload(64, size, 1);
    baseline_fixed_workload((n + step - 1) / step * step, size, batch);
    bl_clear();
    kraken_start(SYSTEM_EVENT_MODE_MANUAL, 1);
    fixed_workload(64, size, 1); /* warm-up: pools and lazily initialised state */
    n = (n + step - 1) / step * step;
    uint64_t heap0 = sim_heap_calls();
    fixed_workload(n, size, batch);
    uint64_t heap = sim_heap_calls() - heap0;
    system_event_stats_t st;
    system_event_get_stats(&st);
    if (batch == 0) {
        printf("fixed workload: %u dispatch calls with nothing queued, manual mode\n", (unsigned)n);
    } else {
        printf("fixed workload: %u events of %zu bytes posted in batches of %u, each batch "
               "dispatched, 1 subscriber, manual mode: %u delivered, %llu heap calls\n",
               (unsigned)n, size, (unsigned)batch,
               (unsigned)st.lanes[SYSTEM_EVENT_PRIORITY_NORMAL].delivered,
               (unsigned long long)heap);
    }
    system_event_bus_deinit(SYSTEM_EVENT_DEINIT_DISCARD);
    return heap == 0 ? 0 : 1;
}

/* What passing one cache line to the other thread and back costs here. In task mode the poster
 * and the dispatcher (and the baseline's two threads) hand each other a few lines per event, so
 * the task rows move with this figure from one machine, or one vCPU placement, to the next. */
#define PING_ROUNDS 200000
static _Atomic int ping;

/* Spin until ping == value; yield now and then, or on one CPU (taskset) each wait lasts until
 * the scheduler's next tick and the measurement takes hours. */
static void wait_for_ping(int value)
{
    for (unsigned spins = 1; atomic_load_explicit(&ping, memory_order_acquire) != value; spins++) {
        if (spins % 4096 == 0) {
            sched_yield();
        }
    }
}

static void *pong_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < PING_ROUNDS; i++) {
        wait_for_ping(1);
        atomic_store_explicit(&ping, 0, memory_order_release);
    }
    return NULL;
}

static double cache_line_round_trip_ns(void)
{
    pthread_t th;
    if (pthread_create(&th, NULL, pong_main, NULL) != 0) {
        return 0;
    }
    int64_t t0 = kraken_port_time_us();
    for (int i = 0; i < PING_ROUNDS; i++) {
        atomic_store_explicit(&ping, 1, memory_order_release);
        wait_for_ping(0);
    }
    int64_t t1 = kraken_port_time_us();
    pthread_join(th, NULL);
    return (double)(t1 - t0) * 1000.0 / PING_ROUNDS;
}

int main(int argc, char **argv)
{
    uint32_t events = 200000;
    uint32_t fixed = 0;
    size_t fixed_size = 16;
    uint32_t fixed_batch = 1;
    int only_mode = -1, only_subs = 0; /* --only MODE SUBS SIZE: one row of the table */
    size_t only_size = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--events") == 0 && i + 1 < argc) {
            events = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--fixed") == 0 && i + 1 < argc) {
            fixed = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            fixed_size = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            fixed_batch = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--only") == 0 && i + 3 < argc) {
            only_mode = strcmp(argv[++i], "task") == 0 ? 1 : 0;
            only_subs = atoi(argv[++i]);
            only_size = (size_t)strtoul(argv[++i], NULL, 10);
        } else {
            fprintf(stderr,
                    "usage: %s [--events N] [--only manual|task SUBS BYTES] "
                    "[--fixed N [--size S] [--batch B]]\n",
                    argv[0]);
            return 2;
        }
    }
    if (fixed_size == 0 || fixed_size > 1024 || fixed_batch > KRAKEN_EVENT_LANE_NORMAL_CAPACITY) {
        fprintf(stderr, "--size must be 1..1024, --batch 0..the NORMAL lane capacity\n");
        return 2;
    }
    if (fixed > 0) {
        return run_fixed(fixed, fixed_size, fixed_batch);
    }
    bench_print_command(argc, argv, "docs/event-bus.md");
    events = (events + BATCH - 1) / BATCH * BATCH;
    /* What one timer read costs here: the bus reads it at post, once per run of up to 16 events
     * (latency) and after each handler when CONFIG_SYSTEM_SERVICE_EVENT_PROFILING is on; the
     * baseline never does. */
    int64_t t0 = kraken_port_time_us();
    volatile int64_t last = 0;
    for (int i = 0; i < 1000000; i++) {
        last = kraken_port_time_us();
    }
    printf("kraken_port_time_us(): %.1f ns per call; timer reads per event: 1 at post, 1 per run "
           "of up to 16%s\n",
           (double)(last - t0) * 1000.0 / 1e6,
           KRAKEN_EVENT_PROFILING ? ", 1 per handler call (profiling on)" : " (profiling off)");
    printf("cache line round trip between two threads: %.0f ns (task rows scale with it)\n",
           cache_line_round_trip_ns());
    printf("bench_event_bus: %u events per measurement, best of %d runs taking turns; baseline = "
           "esp_event design (malloc copy per post from the simulated ESP32-S3 heap, one FIFO of "
           "%d, handler-list mutex); base+prof = the same with CONFIG_ESP_EVENT_LOOP_PROFILING's "
           "two timer reads per handler call; base+glibc = the baseline on glibc's malloc\n",
           (unsigned)events, ROUNDS, BL_QUEUE);
    printf("%-7s %4s %6s | %11s | %11s %6s | %11s %6s | %11s %6s | %s\n", "mode", "subs", "bytes",
           "kraken ev/s", "baseline", "ratio", "base+prof", "ratio", "base+glibc", "ratio",
           "heap calls/event");
    const size_t sizes[] = {16, 200, 1000};
    const int subs[] = {1, 8};
    int bad = 0;
    for (int m = 0; m < 2; m++) {
        for (int s = 0; s < 2; s++) {
            for (int z = 0; z < 3; z++) {
                if ((only_mode >= 0 && only_mode != m) || (only_subs > 0 && only_subs != subs[s]) ||
                    (only_size > 0 && only_size != sizes[z])) {
                    continue;
                }
                const measure_fn fn[BUSES] = {
                    m == 0 ? kraken_manual : kraken_task,
                    m == 0 ? baseline_manual : baseline_task,
                    m == 0 ? baseline_manual_profiled : baseline_task_profiled,
                    m == 0 ? baseline_manual_glibc : baseline_task_glibc,
                };
                run_t r[BUSES];
                best_of(fn, events, sizes[z], subs[s], r);
                double ev[BUSES];
                bool failed = false;
                for (int k = 0; k < BUSES; k++) {
                    ev[k] = events / r[k].seconds;
                    failed |= r[k].failed != 0;
                }
                printf("%-7s %4d %6zu | %11.0f | %11.0f %5.2fx | %11.0f %5.2fx | %11.0f %5.2fx | "
                       "%.3f vs %.3f%s\n",
                       m == 0 ? "manual" : "task", subs[s], sizes[z], ev[0], ev[1], ev[0] / ev[1],
                       ev[2], ev[0] / ev[2], ev[3], ev[0] / ev[3],
                       (double)r[0].heap_calls / events, (double)r[1].heap_calls / events,
                       failed ? "  (FAILED POSTS)" : "");
                bad += failed || r[0].heap_calls != 0;
            }
        }
    }
    return bad == 0 ? 0 : 1;
}
