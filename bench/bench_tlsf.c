/*
 * bench_tlsf.c - cost of one free+malloc pair in the simulator's TLSF heap (port/host/tlsf_heap.h)
 * against glibc, for issue 2's workload: 128 live blocks, each step frees a random live block and
 * allocates a new one of 1-64 B (50 %), 65-256 B (30 %), 257-1024 B (15 %), 1025-4096 B (5 %).
 *
 *   bench_tlsf            wall clock: ns per pair on a 320 KiB and an 8 MiB region and with glibc
 *   bench_tlsf callgrind  a fixed workload for `valgrind --tool=callgrind --collect-atstart=no`:
 *                         collection is switched on (CALLGRIND_TOGGLE_COLLECT) around the measured
 *                         steps only; instructions per pair = inclusive cost of each workload_*
 *                         function / steps. bench/callgrind_tlsf.sh runs it and prints the figures.
 *
 * The random slots and sizes are drawn before the timed part, so only the loop (two loads, a store,
 * the call pair) is measured; workload_loop_only runs the same loop without the heap to show that
 * overhead, and the script subtracts it.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_TOGGLE_COLLECT
#endif

#include "bench_support.h"
#include "sim_internal.h"
#include "tlsf_heap.h"

#define LIVE 128u

typedef struct {
    uint8_t slot;
    uint16_t size;
} step_t;

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static uint16_t pick_size(void)
{
    uint32_t r = rng() % 100u;
    uint32_t lo = r < 50 ? 1 : r < 80 ? 65 : r < 95 ? 257 : 1025;
    uint32_t hi = r < 50 ? 64 : r < 80 ? 256 : r < 95 ? 1024 : 4096;
    return (uint16_t)(lo + rng() % (hi - lo + 1u));
}

static step_t *make_steps(size_t n)
{
    step_t *s = __real_malloc(n * sizeof(*s));
    if (s == NULL) {
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        s[i].slot = (uint8_t)(rng() % LIVE);
        s[i].size = pick_size();
    }
    return s;
}

static tlsf_heap_t *heap_under_test;
static void *live[LIVE];
static size_t failures;

/* noinline + distinct names: callgrind's --toggle-collect selects them */
__attribute__((noinline)) static void workload_tlsf_320k(const step_t *s, size_t n)
{
    tlsf_heap_t *h = heap_under_test;
    for (size_t i = 0; i < n; i++) {
        tlsf_heap_free(h, live[s[i].slot]);
        live[s[i].slot] = tlsf_heap_malloc(h, s[i].size);
    }
}

__attribute__((noinline)) static void workload_tlsf_8m(const step_t *s, size_t n)
{
    tlsf_heap_t *h = heap_under_test;
    for (size_t i = 0; i < n; i++) {
        tlsf_heap_free(h, live[s[i].slot]);
        live[s[i].slot] = tlsf_heap_malloc(h, s[i].size);
    }
}

__attribute__((noinline)) static void workload_glibc(const step_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        __real_free(live[s[i].slot]);
        live[s[i].slot] = __real_malloc(s[i].size);
    }
}

/* the same loop with trivial stand-ins: what the loop itself costs */
static uint64_t sink;
__attribute__((noinline)) static void *fake_malloc(size_t n) { return (void *)(uintptr_t)n; }
__attribute__((noinline)) static void fake_free(void *p) { sink += (uintptr_t)p; }
__attribute__((noinline)) static void workload_loop_only(const step_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fake_free(live[s[i].slot]);
        live[s[i].slot] = fake_malloc(s[i].size);
    }
}

typedef void (*workload_fn)(const step_t *, size_t);

/* Fill LIVE blocks, warm up, then run `n` measured steps. Returns ns per step. */
static double run(const char *name, workload_fn fn, size_t region, const step_t *warm,
                  size_t nwarm, const step_t *steps, size_t n)
{
    void *mem = NULL;
    heap_under_test = NULL;
    if (region) {
        mem = __real_malloc(region);
        heap_under_test = mem ? tlsf_heap_create(mem, region) : NULL;
        if (heap_under_test == NULL) {
            fprintf(stderr, "%s: cannot create the heap\n", name);
            exit(1);
        }
    }
    memset(live, 0, sizeof(live));
    fn(warm, nwarm);
    double t0 = now_ns();
    CALLGRIND_TOGGLE_COLLECT;
    fn(steps, n);
    CALLGRIND_TOGGLE_COLLECT;
    double t = (now_ns() - t0) / (double)n;
    failures = 0;
    for (size_t i = 0; i < LIVE; i++) {
        failures += live[i] == NULL;
        if (region) {
            tlsf_heap_free(heap_under_test, live[i]);
        } else if (fn == workload_glibc) {
            __real_free(live[i]);
        }
    }
    if (region) {
        if (!tlsf_heap_check(heap_under_test) || tlsf_heap_allocated_blocks(heap_under_test)) {
            fprintf(stderr, "%s: heap inconsistent after the run\n", name);
            exit(1);
        }
        tlsf_heap_destroy(heap_under_test);
        __real_free(mem);
    }
    if (failures) {
        fprintf(stderr, "%s: %zu allocations failed at the end (region too small?)\n", name,
                failures);
    }
    return t;
}

int main(int argc, char **argv)
{
    bool cg = argc > 1 && strcmp(argv[1], "callgrind") == 0;
    if (!cg) {
        bench_print_command(argc, argv, "docs/bench-tlsf.md");
    }
    size_t n = cg ? 100000u : 3000000u, nwarm = 20000u;
    step_t *warm = make_steps(nwarm), *steps = make_steps(n);
    double loop = run("loop only", workload_loop_only, 0, warm, nwarm, steps, n);
    double t320 = run("tlsf 320 KiB", workload_tlsf_320k, 320u * 1024u, warm, nwarm, steps, n);
    double t8m = run("tlsf 8 MiB", workload_tlsf_8m, 8u * 1024u * 1024u, warm, nwarm, steps, n);
    double tg = run("glibc", workload_glibc, 0, warm, nwarm, steps, n);
    if (cg) {
        printf("steps %zu\n", n); /* the script divides each workload_* inclusive cost by this */
        return 0;
    }
    printf("bench_tlsf: %zu free+malloc pairs, %u live blocks, sizes 50%% 1-64 / 30%% 65-256 / "
           "15%% 257-1024 / 5%% 1025-4096\n", n, LIVE);
    printf("  loop overhead      %6.1f ns/pair\n", loop);
    printf("  tlsf 320 KiB       %6.1f ns/pair (net %.1f)\n", t320, t320 - loop);
    printf("  tlsf 8 MiB         %6.1f ns/pair (net %.1f)\n", t8m, t8m - loop);
    printf("  glibc              %6.1f ns/pair (net %.1f)\n", tg, tg - loop);
    printf("  ratio tlsf(320 KiB)/glibc %.2f (net)\n", (t320 - loop) / (tg - loop));
    __real_free(warm);
    __real_free(steps);
    return 0;
}
