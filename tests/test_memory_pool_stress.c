/*
 * test_memory_pool_stress.c - the pools under contention: more threads than cores allocate and free
 * random sizes (every class, oversize, size 0) through the task and ISR variants, stamp every
 * block and check the stamp before freeing it (a block handed out twice would be overwritten),
 * then the counters must add up exactly, every class must fill to capacity again and the structure
 * must be intact. Also: many threads racing to set the pools up, frees of NULL racing it, and an
 * ISR allocating while the pools are set up and torn down again.
 * KRAKEN_TEST_ITERATIONS sets the operations per thread (default 1000000).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_support.h"

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "kraken_port.h"
#include "kraken_sim.h"
#include "memory_pool.h"
#include "sdkconfig.h"

#define SLOTS 32
#define SRAM_CAPS (MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)

static atomic_int g_misuse;

static void count_misuse(const memory_pool_misuse_info_t *info)
{
    (void)info;
    atomic_fetch_add(&g_misuse, 1);
}

static int threads_to_use(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long n = cores < 1 ? 8 : 2 * cores + 2;
    return n < 8 ? 8 : n > 16 ? 16 : (int)n;
}

static long iterations(void)
{
    const char *env = getenv("KRAKEN_TEST_ITERATIONS");
    long n = env != NULL ? strtol(env, NULL, 10) : 0;
    return n > 0 ? n : 1000000;
}

static int setup(void **state)
{
    (void)state;
    if (memory_pool_deinit() != ESP_OK || kraken_sim_reset() != ESP_OK) {
        return -1;
    }
    atomic_store(&g_misuse, 0);
    memory_pool_set_misuse_hook(count_misuse);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    memory_pool_set_misuse_hook(NULL);
    return free_every_live_block() == 0 && memory_pool_deinit() == ESP_OK && isr_heap_calls() == 0
               ? 0
               : -1;
}

/* ---- random traffic ------------------------------------------------------------------------------ */

typedef struct {
    uint8_t *ptr;
    size_t size;
    uint32_t stamp;
    bool isr; /* from the ISR variant: certainly a pool block */
} slot_t;

typedef struct {
    int id;
    long ops;
    pthread_barrier_t *start;
    uint64_t ok;       /* non-NULL results */
    uint64_t refused;  /* NULL results for sizes > 0 */
    uint64_t freed;
    uint64_t bad_content;
} worker_t;

static uint32_t next_random(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static size_t random_size(uint32_t *rng)
{
    static const size_t sizes[4] = {CONFIG_SYSTEM_SERVICE_MEMORY_POOL_SMALL_SIZE,
                                    CONFIG_SYSTEM_SERVICE_MEMORY_POOL_MEDIUM_SIZE,
                                    CONFIG_SYSTEM_SERVICE_MEMORY_POOL_LARGE_SIZE,
                                    CONFIG_SYSTEM_SERVICE_MEMORY_POOL_XLARGE_SIZE};
    uint32_t r = next_random(rng) % 1000;
    if (r < 5) {
        return 0;
    }
    if (r < 35) {
        return sizes[3] + 1 + next_random(rng) % 3000; /* oversize */
    }
    unsigned c = r < 500 ? 0 : r < 800 ? 1 : r < 930 ? 2 : 3;
    size_t low = c == 0 ? 0 : sizes[c - 1];
    return low + 1 + next_random(rng) % (sizes[c] - low);
}

/* The first and the last 8 bytes of the request carry the stamp and their position. */
static uint8_t stamp_byte(const slot_t *s, size_t i)
{
    return (uint8_t)(s->stamp >> (8 * (i % 4))) ^ (uint8_t)i;
}

static void stamp(slot_t *s)
{
    for (size_t i = 0; i < s->size; i = (i == 7 && s->size > 16) ? s->size - 8 : i + 1) {
        s->ptr[i] = stamp_byte(s, i);
    }
}

static bool stamp_intact(const slot_t *s)
{
    for (size_t i = 0; i < s->size; i = (i == 7 && s->size > 16) ? s->size - 8 : i + 1) {
        if (s->ptr[i] != stamp_byte(s, i)) {
            return false;
        }
    }
    return true;
}

static void release(worker_t *w, slot_t *s)
{
    if (!stamp_intact(s)) {
        w->bad_content++;
    }
    if (s->isr) {
        kraken_sim_isr_enter();
        esp_err_t err = memory_pool_free_isr(s->ptr);
        kraken_sim_isr_exit();
        if (err != ESP_OK) {
            w->bad_content++;
        }
    } else {
        memory_pool_free(s->ptr);
    }
    s->ptr = NULL;
    w->freed++;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    slot_t slots[SLOTS] = {{0}};
    uint32_t rng = 0x9E3779B9u * (uint32_t)(w->id + 1);
    uint32_t serial = (uint32_t)w->id << 24;
    pthread_barrier_wait(w->start);
    for (long op = 0; op < w->ops; op++) {
        slot_t *s = &slots[next_random(&rng) % SLOTS];
        if (s->ptr != NULL) {
            release(w, s);
            continue;
        }
        size_t size = random_size(&rng);
        bool isr = size != 0 && next_random(&rng) % 8 == 0;
        uint8_t *p;
        if (isr) {
            kraken_sim_isr_enter();
            p = memory_pool_alloc_isr(size);
            kraken_sim_isr_exit();
        } else {
            p = memory_pool_alloc(size);
        }
        if (p == NULL) {
            w->refused += size != 0;
            continue;
        }
        w->ok++;
        *s = (slot_t){p, size, ++serial, isr};
        stamp(s);
    }
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].ptr != NULL) {
            release(w, &slots[i]);
        }
    }
    return NULL;
}

static void run_workers(int n, long ops, worker_t *w)
{
    pthread_t tid[16];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        w[i] = (worker_t){.id = i, .ops = ops, .start = &start};
        assert_int_equal(pthread_create(&tid[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(tid[i], NULL);
    }
    pthread_barrier_destroy(&start);
}

static void many_threads_end_with_exact_counters_and_every_class_full_again(void **state)
{
    (void)state;
    const int n = threads_to_use();
    worker_t w[16];
    run_workers(n, iterations(), w);

    uint64_t ok = 0, refused = 0, freed = 0, bad = 0;
    for (int i = 0; i < n; i++) {
        ok += w[i].ok;
        refused += w[i].refused;
        freed += w[i].freed;
        bad += w[i].bad_content;
    }
    assert_int_equal(bad, 0);
    assert_int_equal(ok, freed);
    assert_int_equal(atomic_load(&g_misuse), 0);

    memory_pool_stats_t st;
    assert_int_equal(memory_pool_get_stats(&st), ESP_OK);
    uint64_t served = st.oversize, failed = st.oversize_failures, pool = 0;
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        const memory_pool_class_stats_t *k = &st.classes[c];
        assert_int_equal(k->in_use, 0);
        assert_int_equal(k->fallback_live, 0);
        assert_int_equal(k->allocations, k->frees);
        assert_int_equal(k->double_frees + k->invalid_frees, 0);
        assert_true(k->peak_in_use <= k->capacity);
        assert_int_equal(k->min_free, k->capacity - k->peak_in_use);
        pool += k->allocations;
        served += k->heap_fallbacks;
        failed += k->failures;
    }
    /* counters are 32-bit: exact as long as the run stays below 2^32 events */
    assert_int_equal(pool + served, ok);
    assert_int_equal(failed, refused);
    assert_int_equal(st.heap_blocks_live, 0);
    assert_int_equal(st.oversize_live, 0);
    assert_true(st.heap_blocks_peak <= st.heap_blocks_max);
    assert_int_equal(st.double_frees + st.invalid_frees, 0);
    assert_int_equal(memory_pool_check_integrity(), ESP_OK);
    print_message("  %d threads x %ld ops: %llu allocations (%llu pool, %llu heap), %llu refused\n",
                  n, iterations(), (unsigned long long)ok, (unsigned long long)pool,
                  (unsigned long long)served, (unsigned long long)refused);

    /* every class fills to its capacity again, from the pools alone; one more request fails, or
     * with TRY_LARGER_CLASS takes a block of the next larger class (the pools use the defaults) */
    memory_pool_config_t cfg;
    assert_int_equal(memory_pool_get_default_config(&cfg), ESP_OK);
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        uint32_t cap = st.classes[c].capacity;
        const bool spills = cfg.try_larger_class && c + 1 < MEMORY_POOL_CLASS_COUNT;
        void **all = calloc(cap, sizeof *all);
        assert_non_null(all);
        for (uint32_t i = 0; i < cap; i++) {
            all[i] = memory_pool_alloc_isr(st.classes[c].block_size);
            assert_non_null(all[i]);
        }
        void *extra = memory_pool_alloc_isr(st.classes[c].block_size);
        memory_pool_stats_t full;
        memory_pool_get_stats(&full);
        if (spills) {
            assert_non_null(extra);
            assert_int_equal(full.classes[c + 1].in_use, 1);
            assert_int_equal(full.classes[c].larger_class_spills,
                             st.classes[c].larger_class_spills + 1);
            assert_int_equal(memory_pool_free_isr(extra), ESP_OK);
        } else {
            assert_null(extra);
        }
        assert_int_equal(full.classes[c].in_use, cap);
        assert_int_equal(full.classes[c].min_free, 0);
        assert_int_equal(memory_pool_check_integrity(), ESP_OK);
        for (uint32_t i = 0; i < cap; i++) {
            assert_int_equal(memory_pool_free_isr(all[i]), ESP_OK);
        }
        free(all);
    }
    assert_int_equal(memory_pool_check_integrity(), ESP_OK);
}

/* ---- concurrent first use ---------------------------------------------------------------------- */

typedef struct {
    pthread_barrier_t *start;
    size_t size;
    void *block;
} first_t;

static void *first_use(void *arg)
{
    first_t *f = arg;
    pthread_barrier_wait(f->start);
    f->block = memory_pool_alloc(f->size);
    return NULL;
}

static void threads_racing_to_first_use_set_the_pools_up_once(void **state)
{
    (void)state;
    /* what one set-up takes from internal SRAM */
    kraken_port_heap_figures_t before, after;
    kraken_port_heap_figures(SRAM_CAPS, &before);
    assert_int_equal(memory_pool_ensure_init(), ESP_OK);
    kraken_port_heap_figures(SRAM_CAPS, &after);
    const size_t one_set_up = before.free_bytes - after.free_bytes;
    assert_int_equal(memory_pool_deinit(), ESP_OK);

    /* Each thread takes a block of the smallest class with one left (no heap fallback), so a
     * table of one block per class still races 4 threads. */
    const size_t sizes[MEMORY_POOL_CLASS_COUNT] = {
        CONFIG_SYSTEM_SERVICE_MEMORY_POOL_SMALL_SIZE, CONFIG_SYSTEM_SERVICE_MEMORY_POOL_MEDIUM_SIZE,
        CONFIG_SYSTEM_SERVICE_MEMORY_POOL_LARGE_SIZE, CONFIG_SYSTEM_SERVICE_MEMORY_POOL_XLARGE_SIZE};
    uint32_t left[MEMORY_POOL_CLASS_COUNT] = {
        CONFIG_SYSTEM_SERVICE_MEMORY_POOL_SMALL_COUNT, CONFIG_SYSTEM_SERVICE_MEMORY_POOL_MEDIUM_COUNT,
        CONFIG_SYSTEM_SERVICE_MEMORY_POOL_LARGE_COUNT, CONFIG_SYSTEM_SERVICE_MEMORY_POOL_XLARGE_COUNT};
    pthread_t tid[16];
    first_t f[16];
    uint32_t per_class[MEMORY_POOL_CLASS_COUNT] = {0};
    int n = 0;
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        for (; left[c] > 0 && n < threads_to_use() && n < 16; left[c]--, n++) {
            f[n].size = sizes[c];
            per_class[c]++;
        }
    }
    for (int round = 0; round < 20; round++) {
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, (unsigned)n);
        kraken_port_heap_figures(SRAM_CAPS, &before);
        for (int i = 0; i < n; i++) {
            f[i] = (first_t){&start, f[i].size, NULL};
            assert_int_equal(pthread_create(&tid[i], NULL, first_use, &f[i]), 0);
        }
        for (int i = 0; i < n; i++) {
            pthread_join(tid[i], NULL);
        }
        pthread_barrier_destroy(&start);
        kraken_port_heap_figures(SRAM_CAPS, &after);
        assert_int_equal(before.free_bytes - after.free_bytes, one_set_up);
        memory_pool_stats_t st;
        memory_pool_get_stats(&st);
        assert_true(st.initialized);
        assert_int_equal(st.setup_failures, 0);
        for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) { /* everyone waited for the pools */
            assert_int_equal(st.classes[c].in_use, per_class[c]);
            assert_int_equal(st.classes[c].heap_fallbacks, 0);
        }
        for (int i = 0; i < n; i++) {
            assert_non_null(f[i].block);
            for (int j = 0; j < i; j++) {
                assert_ptr_not_equal(f[i].block, f[j].block);
            }
        }
        for (int i = 0; i < n; i++) {
            memory_pool_free(f[i].block);
        }
        assert_int_equal(memory_pool_deinit(), ESP_OK);
    }
    assert_int_equal(atomic_load(&g_misuse), 0);
}

/* Frees of NULL (task and ISR, one by one and batched) while other threads make the first
 * allocation: set-up may be writing the class fields, which such a free must not read (a NULL
 * taken for block 0 of a class half set up would be counted as a double free or hand block 0 out
 * twice). TSan sees the unsynchronised read, the counters the damage. */
typedef struct {
    pthread_barrier_t *start;
    atomic_int *bad;
} null_free_t;

static void *free_null_repeatedly(void *arg)
{
    null_free_t *f = arg;
    void *const none[2] = {NULL, NULL};
    pthread_barrier_wait(f->start);
    for (int i = 0; i < 2000; i++) {
        memory_pool_free(NULL);
        if (memory_pool_free_isr(NULL) != ESP_ERR_INVALID_ARG ||
            memory_pool_free_batch_isr(none, 2) != 0) {
            atomic_fetch_add(f->bad, 1);
        }
    }
    return NULL;
}

static void frees_of_null_racing_the_first_use_read_nothing_set_up_is_writing(void **state)
{
    (void)state;
    const size_t size = CONFIG_SYSTEM_SERVICE_MEMORY_POOL_SMALL_SIZE;
    for (int round = 0; round < 20; round++) {
        pthread_barrier_t start;
        atomic_int bad = 0;
        pthread_barrier_init(&start, NULL, 3);
        null_free_t nf = {&start, &bad};
        first_t first = {&start, size, NULL};
        pthread_t freer[2], user;
        assert_int_equal(pthread_create(&freer[0], NULL, free_null_repeatedly, &nf), 0);
        assert_int_equal(pthread_create(&freer[1], NULL, free_null_repeatedly, &nf), 0);
        assert_int_equal(pthread_create(&user, NULL, first_use, &first), 0);
        pthread_join(user, NULL);
        pthread_join(freer[0], NULL);
        pthread_join(freer[1], NULL);
        pthread_barrier_destroy(&start);
        assert_int_equal(atomic_load(&bad), 0);
        assert_non_null(first.block);
        memory_pool_stats_t st;
        memory_pool_get_stats(&st);
        assert_int_equal(st.classes[0].in_use, 1);
        assert_int_equal(st.classes[0].double_frees, 0);
        assert_int_equal(st.classes[0].invalid_frees, 0);
        memory_pool_free(first.block);
        assert_int_equal(memory_pool_check_integrity(), ESP_OK);
        assert_int_equal(memory_pool_deinit(), ESP_OK);
    }
    assert_int_equal(atomic_load(&g_misuse), 0);
}

/* An interrupt allocating and freeing while a task sets the pools up and tears them down: deinit
 * either refuses (the ISR holds a block) or makes sure no ISR gets one from the storage it frees. A
 * block taken between deinit's check and its switch would be refused by its free (unknown
 * pointer), and written after the storage went back to the heap (ASan). */
typedef struct {
    atomic_bool stop;
    atomic_int bad, taken;
} isr_user_t;

static void *allocate_in_isr_repeatedly(void *arg)
{
    isr_user_t *u = arg;
    while (!atomic_load(&u->stop)) {
        kraken_sim_isr_enter();
        uint8_t *p = memory_pool_alloc_isr(CONFIG_SYSTEM_SERVICE_MEMORY_POOL_SMALL_SIZE);
        if (p != NULL) {
            p[0] = 0x5A;
            atomic_fetch_add(&u->taken, 1);
            if (memory_pool_free_isr(p) != ESP_OK) {
                atomic_fetch_add(&u->bad, 1);
            }
        }
        kraken_sim_isr_exit();
    }
    return NULL;
}

static void deinit_racing_an_isr_that_allocates_never_frees_a_block_it_holds(void **state)
{
    (void)state;
    isr_user_t u = {0};
    pthread_t isr;
    esp_log_level_set("memory_pool", ESP_LOG_NONE); /* each refusal logs its counts */
    assert_int_equal(pthread_create(&isr, NULL, allocate_in_isr_repeatedly, &u), 0);
    int done = 0;
    for (long round = 0; round < 200000 && (done < 200 || atomic_load(&u.taken) < 1000); round++) {
        assert_int_equal(memory_pool_ensure_init(), ESP_OK);
        /* let the ISR in (on a loaded machine its thread may not run for a while) */
        const int seen = atomic_load(&u.taken);
        for (int spin = 0; spin < 1000 && atomic_load(&u.taken) == seen; spin++) {
            sched_yield();
        }
        const esp_err_t err = memory_pool_deinit(); /* refused while the ISR holds its block */
        assert_true(err == ESP_OK || err == ESP_ERR_INVALID_STATE);
        done += err == ESP_OK;
    }
    atomic_store(&u.stop, true);
    pthread_join(isr, NULL);
    esp_log_level_set("memory_pool", ESP_LOG_INFO);
    assert_int_equal(atomic_load(&u.bad), 0);
    assert_int_equal(atomic_load(&g_misuse), 0);
    assert_true(done > 0);
    assert_true(atomic_load(&u.taken) > 0); /* the race was run */
}

/* A simulated interrupt that runs rounds only while the task lets it, so that a test confines it
 * to one stretch of the task's work (a set-up, a deinit). */
typedef struct {
    atomic_int phase; /* 1: run rounds; 0: wait; -1: end */
    atomic_int rounds, idle, bad;
} isr_gate_t;

/* The interrupt's thread, before each round: waits while the gate is shut; false once ended. */
static bool isr_gate_next(isr_gate_t *g)
{
    for (;;) {
        const int phase = atomic_load(&g->phase);
        if (phase != 0) {
            atomic_store(&g->idle, 0);
            return phase > 0;
        }
        atomic_store(&g->idle, 1);
        sched_yield();
    }
}

/* The task: lets the interrupt in and gives it a while to start a round. */
static void isr_gate_open(isr_gate_t *g)
{
    const int seen = atomic_load(&g->rounds);
    atomic_store(&g->phase, 1);
    for (int spin = 0; spin < 1000 && atomic_load(&g->rounds) == seen; spin++) {
        sched_yield();
    }
}

/* The task: returns once the interrupt has seen the gate shut (a round under way ends first). */
static void isr_gate_shut(isr_gate_t *g)
{
    atomic_store(&g->phase, 0);
    atomic_store(&g->idle, 0);
    while (atomic_load(&g->idle) != 1) {
        sched_yield();
    }
}

/* An interrupt asking about and freeing a stale pointer (a block freed already: a double free)
 * with the ISR entry points while a task tears the pools down: deinit releases what the interrupt
 * may still be reading, so each answer must be one of the two it can be (before deinit: a double
 * free; after: a pointer from nowhere) and nothing may be read from the storage once it went back
 * to the heap. */
typedef struct {
    isr_gate_t gate;
    void *stale;
} stale_user_t;

static void *free_stale_in_isr_repeatedly(void *arg)
{
    stale_user_t *u = arg;
    while (isr_gate_next(&u->gate)) {
        void *p = u->stale;
        kraken_sim_isr_enter();
        const bool owned = memory_pool_owns(p);
        const esp_err_t err = memory_pool_free_isr(p);
        void *const one[1] = {p};
        const size_t freed = memory_pool_free_batch_isr(one, 1);
        kraken_sim_isr_exit();
        if (owned || (err != ESP_ERR_INVALID_STATE && err != ESP_ERR_INVALID_ARG) || freed != 0) {
            atomic_fetch_add(&u->gate.bad, 1);
        }
        atomic_fetch_add(&u->gate.rounds, 1);
    }
    return NULL;
}

static void deinit_racing_an_isr_that_frees_a_stale_pointer_reads_no_released_storage(void **state)
{
    (void)state;
    stale_user_t u = {0};
    pthread_t isr;
    assert_int_equal(pthread_create(&isr, NULL, free_stale_in_isr_repeatedly, &u), 0);
    const size_t size = CONFIG_SYSTEM_SERVICE_MEMORY_POOL_SMALL_SIZE;
    for (int round = 0; round < 300; round++) {
        assert_int_equal(memory_pool_ensure_init(), ESP_OK); /* the gate shut: a task's business */
        u.stale = memory_pool_alloc(size);
        assert_non_null(u.stale);
        memory_pool_free(u.stale);
        isr_gate_open(&u.gate);
        assert_int_equal(memory_pool_deinit(), ESP_OK); /* it holds nothing */
        isr_gate_shut(&u.gate);
    }
    atomic_store(&u.gate.phase, -1);
    pthread_join(isr, NULL);
    assert_int_equal(atomic_load(&u.gate.bad), 0);
    assert_true(atomic_load(&u.gate.rounds) > 0); /* the race was run */
    /* every double free and pointer from nowhere was reported, nothing else: the pools are whole */
    assert_true(atomic_load(&g_misuse) > 0);
    atomic_store(&g_misuse, 0);
    assert_int_equal(memory_pool_ensure_init(), ESP_OK);
    memory_pool_stats_t st;
    assert_int_equal(memory_pool_get_stats(&st), ESP_OK);
    assert_int_equal(st.classes[0].in_use, 0);
    assert_int_equal(st.classes[0].peak_in_use, 0);
    assert_int_equal(memory_pool_check_integrity(), ESP_OK);
}

/* An interrupt reading the statistics and resetting the peaks while a task sets the pools up
 * (with the Kconfig table or another) and tears them down: nothing has been allocated, so every
 * read shows no block in use and no free, the peaks it resets stay at 0 (a class must not show
 * its blocks taken while it is being laid out), and each class's block size and capacity, and
 * the heap cap, are one table's or the other's (init and deinit rewrite the table it reads). */
typedef struct {
    isr_gate_t gate;
    memory_pool_config_t tables[2];
} stats_reader_t;

static bool one_of(uint32_t v, uint32_t a, uint32_t b)
{
    return v == a || v == b;
}

/* The class's block size and capacity are those of table t[0] or of t[1], not a mix. */
static bool one_table(const memory_pool_class_stats_t *k, const memory_pool_config_t t[2],
                      unsigned c)
{
    for (int i = 0; i < 2; i++) {
        if (k->block_size == t[i].classes[c].block_size && k->capacity == t[i].classes[c].count) {
            return true;
        }
    }
    return false;
}

static void *read_stats_in_isr_repeatedly(void *arg)
{
    stats_reader_t *r = arg;
    const memory_pool_config_t *t = r->tables;
    while (isr_gate_next(&r->gate)) {
        memory_pool_stats_t st;
        kraken_sim_isr_enter();
        memory_pool_get_stats(&st);
        memory_pool_reset_peaks();
        kraken_sim_isr_exit();
        bool bad = !one_of(st.heap_blocks_max, t[0].heap_blocks_max, t[1].heap_blocks_max);
        for (unsigned c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
            const memory_pool_class_stats_t *k = &st.classes[c];
            bad |= k->in_use != 0 || k->frees != 0 || k->peak_in_use != 0 ||
                   k->min_free != k->capacity || !one_table(k, t, c);
        }
        atomic_fetch_add(&r->gate.bad, bad);
        atomic_fetch_add(&r->gate.rounds, 1);
    }
    return NULL;
}

static void statistics_read_during_a_set_up_or_a_deinit_show_nothing_in_use(void **state)
{
    (void)state;
    stats_reader_t r = {0};
    assert_int_equal(memory_pool_get_default_config(&r.tables[0]), ESP_OK);
    r.tables[1] = r.tables[0];
    for (unsigned c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) { /* other sizes, other counts */
        memory_pool_class_config_t *k = &r.tables[1].classes[c];
        k->block_size += k->block_size + 8 <= MEMORY_POOL_MAX_BLOCK_SIZE ? 8 : 0;
        k->count = r.tables[0].classes[c].count > 1 ? 1 : 2;
    }
    /* (no more than the Kconfig cap) */
    r.tables[1].heap_blocks_max = r.tables[0].heap_blocks_max / 2;
    pthread_t isr;
    assert_int_equal(pthread_create(&isr, NULL, read_stats_in_isr_repeatedly, &r), 0);
    for (int round = 0; round < 3000; round++) {
        isr_gate_open(&r.gate);
        if (round % 2 == 0) {
            assert_int_equal(memory_pool_ensure_init(), ESP_OK); /* the Kconfig table */
        } else {
            assert_int_equal(memory_pool_init(&r.tables[1]), ESP_OK);
        }
        memory_pool_stats_t st;
        assert_int_equal(memory_pool_get_stats(&st), ESP_OK);
        for (unsigned c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
            assert_int_equal(st.classes[c].capacity, r.tables[round % 2].classes[c].count);
            assert_int_equal(st.classes[c].block_size, r.tables[round % 2].classes[c].block_size);
            assert_int_equal(st.classes[c].peak_in_use, 0);
            assert_int_equal(st.classes[c].min_free, st.classes[c].capacity);
        }
        assert_int_equal(memory_pool_deinit(), ESP_OK);
        isr_gate_shut(&r.gate);
    }
    atomic_store(&r.gate.phase, -1);
    pthread_join(isr, NULL);
    assert_int_equal(atomic_load(&r.gate.bad), 0);
    assert_true(atomic_load(&r.gate.rounds) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(many_threads_end_with_exact_counters_and_every_class_full_again,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(threads_racing_to_first_use_set_the_pools_up_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            frees_of_null_racing_the_first_use_read_nothing_set_up_is_writing, setup, teardown),
        cmocka_unit_test_setup_teardown(
            deinit_racing_an_isr_that_allocates_never_frees_a_block_it_holds, setup, teardown),
        cmocka_unit_test_setup_teardown(
            statistics_read_during_a_set_up_or_a_deinit_show_nothing_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(
            deinit_racing_an_isr_that_frees_a_stale_pointer_reads_no_released_storage, setup,
            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
