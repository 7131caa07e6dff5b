/*
 * bench_memory_pool - alloc+free pairs for the spec's pool size mix: memory_pool against the
 * project's heap_caps_malloc (the simulated chip's TLSF heap), glibc malloc and, when Debian's
 * libmimalloc is installed, mimalloc, all in the same run.
 *
 * Size mix: the class of each request is drawn with the weights of the spec's pool table (block
 * counts 100 : 50 : 20 : 10), its size uniformly in (previous class size, class size]. Sizes are
 * precomputed (fixed seed) so every allocator sees the same sequence.
 *
 * usage: bench_memory_pool                      timed run: median ns per pair, ratios
 *        bench_memory_pool --fixed NAME [PAIRS] [--full]
 *                                              fixed workload for callgrind (no timing)
 *        NAME: pool | heap_caps | glibc | mimalloc; PAIRS default 1000000; --full (pool only):
 *        every class holds all but one block in use during the pairs, so the same count as without
 *        shows the cost does not depend on how many blocks are in use
 * Instructions per pair (see docs/memory-pools.md):
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out ./bench_memory_pool --fixed pool
 *   callgrind_annotate --inclusive=yes cg.out | grep -E 'memory_pool_(alloc|free) '
 *   => (Ir of memory_pool_alloc + Ir of memory_pool_free) / PAIRS
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "esp_heap_caps.h"
#include "memory_pool.h"
#include "bench_support.h"
#include "sim_internal.h"

#define MIX_LEN 4096 /* power of two */
#define BATCH 8
#define RUNS 15
#define TIMED_PAIRS 200000

typedef struct {
    const char *name;
    void *(*alloc)(size_t size);
    void (*free)(void *ptr);
} allocator_t;

static size_t g_mix[MIX_LEN];
static void *(*g_mi_malloc)(size_t);
static void (*g_mi_free)(void *);

static void *pool_alloc(size_t size) { return memory_pool_alloc(size); }
static void pool_free(void *ptr) { memory_pool_free(ptr); }
static void *caps_alloc(size_t size) { return heap_caps_malloc(size, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT); }
static void caps_free(void *ptr) { heap_caps_free(ptr); }
static void *glibc_alloc(size_t size) { return __real_malloc(size); }
static void glibc_free(void *ptr) { __real_free(ptr); }
static void *mi_alloc(size_t size) { return g_mi_malloc(size); }
static void mi_free_fn(void *ptr) { g_mi_free(ptr); }

static allocator_t g_allocators[] = {
    {"pool", pool_alloc, pool_free},
    {"heap_caps", caps_alloc, caps_free},
    {"glibc", glibc_alloc, glibc_free},
    {"mimalloc", mi_alloc, mi_free_fn},
};
#define ALLOCATORS (sizeof g_allocators / sizeof g_allocators[0])

static void make_mix(void)
{
    static const size_t sizes[4] = {64, 256, 1024, 4096};
    static const unsigned weights[4] = {100, 50, 20, 10};
    uint32_t x = 0x2545F491u;
    for (size_t i = 0; i < MIX_LEN; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        unsigned w = x % 180, c = 0;
        while (w >= weights[c]) {
            w -= weights[c++];
        }
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        size_t low = c == 0 ? 0 : sizes[c - 1];
        g_mix[i] = low + 1 + x % (sizes[c] - low);
    }
}

static bool load_mimalloc(void)
{
    /* dlopen keeps mimalloc out of the global symbol scope: it does not replace glibc's malloc. */
    void *lib = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        return false;
    }
    *(void **)&g_mi_malloc = dlsym(lib, "mi_malloc");
    *(void **)&g_mi_free = dlsym(lib, "mi_free");
    return g_mi_malloc != NULL && g_mi_free != NULL;
}

/* alloc, touch, free: the event bus pattern (post, deliver, release). */
static __attribute__((noinline)) unsigned run_pairs(const allocator_t *a, size_t pairs)
{
    unsigned failures = 0;
    for (size_t i = 0; i < pairs; i++) {
        char *p = a->alloc(g_mix[i & (MIX_LEN - 1)]);
        if (p == NULL) {
            failures++;
            continue;
        }
        *(volatile char *)p = 1;
        a->free(p);
    }
    return failures;
}

/* BATCH allocations live at once, freed oldest first: queued events. */
static __attribute__((noinline)) unsigned run_batches(const allocator_t *a, size_t pairs)
{
    unsigned failures = 0;
    void *live[BATCH];
    for (size_t i = 0; i + BATCH <= pairs; i += BATCH) {
        for (size_t k = 0; k < BATCH; k++) {
            live[k] = a->alloc(g_mix[(i + k) & (MIX_LEN - 1)]);
            failures += live[k] == NULL;
        }
        for (size_t k = 0; k < BATCH; k++) {
            a->free(live[k]);
        }
    }
    return failures;
}

/* --full: all but one block of every class taken, so each pair takes the last free block. */
static void *g_filled[8192];
static size_t g_filled_n;

static size_t fill_all_but_one(void)
{
    memory_pool_stats_t st;
    memory_pool_get_stats(&st);
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        for (uint32_t k = 1; k < st.classes[c].capacity && g_filled_n < 8192; k++) {
            g_filled[g_filled_n++] = memory_pool_alloc(st.classes[c].block_size);
        }
    }
    return g_filled_n;
}

static void empty_filled(void)
{
    while (g_filled_n > 0) {
        memory_pool_free(g_filled[--g_filled_n]);
    }
}

static double median_ns_per_pair(const allocator_t *a, unsigned (*run)(const allocator_t *, size_t),
                                 unsigned *failures)
{
    double samples[RUNS];
    *failures += run(a, TIMED_PAIRS / 4); /* warm up */
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        *failures += run(a, TIMED_PAIRS);
        samples[r] = (now_ns() - t0) / TIMED_PAIRS;
    }
    qsort(samples, RUNS, sizeof samples[0], cmp_double);
    return samples[RUNS / 2];
}

static const allocator_t *find_allocator(const char *name, bool have_mimalloc)
{
    for (size_t i = 0; i < ALLOCATORS; i++) {
        if (strcmp(g_allocators[i].name, name) == 0) {
            return (i == 3 && !have_mimalloc) ? NULL : &g_allocators[i];
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    make_mix();
    if (!(argc >= 3 && strcmp(argv[1], "--fixed") == 0)) {
        bench_print_command(argc, argv, "docs/memory-pools.md");
    }
    bool have_mimalloc = load_mimalloc();
    if (memory_pool_ensure_init() != ESP_OK) {
        fprintf(stderr, "memory pools could not be set up\n");
        return 1;
    }

    if (argc >= 3 && strcmp(argv[1], "--fixed") == 0) {
        const allocator_t *a = find_allocator(argv[2], have_mimalloc);
        size_t pairs = argc >= 4 ? strtoul(argv[3], NULL, 10) : 1000000;
        bool full = argc >= 5 && strcmp(argv[4], "--full") == 0;
        if (a == NULL || pairs == 0 || (argc >= 5 && !full) || (full && a != &g_allocators[0])) {
            fprintf(stderr, "usage: %s --fixed pool|heap_caps|glibc|mimalloc [PAIRS] [--full]%s\n",
                    argv[0], have_mimalloc ? "" : " (mimalloc: libmimalloc.so.2 not found)");
            return 2;
        }
        size_t held = full ? fill_all_but_one() : 0;
        unsigned failures = run_pairs(a, pairs);
        printf("%s: %zu alloc+free pairs, %u failures, %zu other blocks in use\n", a->name, pairs,
               failures, held);
        empty_filled();
        return failures == 0 ? 0 : 1;
    }

    printf("bench_memory_pool: alloc+free pairs, spec size mix (class weights 100:50:20:10), "
           "median of %d runs x %d pairs\n", RUNS, TIMED_PAIRS);
    if (!have_mimalloc) {
        printf("  (mimalloc not found: apt-get install libmimalloc2.0 to compare with it)\n");
    }
    static const struct {
        const char *name;
        unsigned (*run)(const allocator_t *, size_t);
    } patterns[] = {{"pair (alloc, touch, free)", run_pairs}, {"batch of 8, FIFO free", run_batches}};
    unsigned failures = 0;
    for (size_t p = 0; p < 2; p++) {
        printf("%s:\n", patterns[p].name);
        double pool_ns = 0;
        for (size_t i = 0; i < ALLOCATORS; i++) {
            if (i == 3 && !have_mimalloc) {
                continue;
            }
            double ns = median_ns_per_pair(&g_allocators[i], patterns[p].run, &failures);
            if (i == 0) {
                pool_ns = ns;
            }
            printf("  %-10s %7.2f ns/pair  %5.2fx pool\n", g_allocators[i].name, ns, ns / pool_ns);
        }
    }
    memory_pool_stats_t st;
    memory_pool_get_stats(&st);
    uint32_t fallbacks = 0;
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        fallbacks += st.classes[c].heap_fallbacks;
    }
    printf("pool heap fallbacks during the run: %u (0 expected); allocation failures: %u\n",
           (unsigned)fallbacks, failures);
    return failures == 0 && fallbacks == 0 ? 0 : 1;
}
