/*
 * bench_freertos_handles - what the host FreeRTOS's dangling-handle check costs as objects pile
 * up: xQueueSend + xQueueReceive pairs on one queue (the same thread, no wait) with 0, 16, 256 and
 * 1024 other queues live. Every call looks its handle up in the tree of live handles
 * (port/host/freertos_host_handles.c: libc's tsearch, O(log n)); the row with none is the baseline
 * of the same run, the others are given as ratios to it.
 *
 * usage: bench_freertos_handles                    timed run: median ns per pair, ratios
 *        bench_freertos_handles --fixed N [PAIRS]  fixed workload for callgrind, N other queues
 * Instructions per pair (docs/simulator.md, "Dangling handles"; bench/callgrind_freertos_handles.sh
 * runs every row):
 *   valgrind --tool=callgrind --toggle-collect=fixed_workload ./bench_freertos_handles --fixed 256
 *   callgrind_annotate --inclusive=yes callgrind.out.<pid> | grep fixed_workload
 *   => Ir of fixed_workload / PAIRS (default 200000)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "bench_support.h"

#define MAX_OTHERS 1024
#define RUNS 15
#define TIMED_PAIRS 100000

static QueueHandle_t g_others[MAX_OTHERS];
static size_t g_live;

/* Up to n other queues live (the simulated internal SRAM holds them); false when it could not. */
static bool make_others(size_t n)
{
    while (g_live < n) {
        g_others[g_live] = xQueueCreate(1, sizeof(uint32_t));
        if (g_others[g_live] == NULL) {
            return false;
        }
        g_live++;
    }
    return true;
}

/* Not inlined: callgrind's --toggle-collect counts it alone. Answers the failed calls. */
__attribute__((noinline)) unsigned fixed_workload(QueueHandle_t q, size_t pairs)
{
    unsigned failures = 0;
    uint32_t v = 0;
    for (size_t i = 0; i < pairs; i++) {
        failures += xQueueSend(q, &v, 0) != pdPASS;
        failures += xQueueReceive(q, &v, 0) != pdPASS;
        v++;
    }
    return failures;
}

static double median_ns_per_pair(QueueHandle_t q, unsigned *failures)
{
    double samples[RUNS];
    *failures += fixed_workload(q, TIMED_PAIRS / 4); /* warm up */
    for (int r = 0; r < RUNS; r++) {
        const double t0 = now_ns();
        *failures += fixed_workload(q, TIMED_PAIRS);
        samples[r] = (now_ns() - t0) / TIMED_PAIRS;
    }
    qsort(samples, RUNS, sizeof samples[0], cmp_double);
    return samples[RUNS / 2];
}

int main(int argc, char **argv)
{
    const bool fixed = argc >= 3 && strcmp(argv[1], "--fixed") == 0;
    QueueHandle_t q = xQueueCreate(1, sizeof(uint32_t));
    if (q == NULL) {
        fprintf(stderr, "no queue: the simulated heap is full\n");
        return 1;
    }
    if (fixed) {
        const size_t others = strtoul(argv[2], NULL, 10);
        const size_t pairs = argc >= 4 ? strtoul(argv[3], NULL, 10) : 200000;
        if (others > MAX_OTHERS || pairs == 0 || !make_others(others)) {
            fprintf(stderr, "usage: %s --fixed N [PAIRS] (N <= %d other queues)\n", argv[0],
                    MAX_OTHERS);
            return 2;
        }
        const unsigned failures = fixed_workload(q, pairs);
        printf("%zu send+receive pairs, %zu other queues live, %u failed calls\n", pairs, others,
               failures);
        return failures == 0 ? 0 : 1;
    }
    bench_print_command(argc, argv, "docs/simulator.md");
    printf("bench_freertos_handles: xQueueSend + xQueueReceive pairs, no wait, median of %d runs x "
           "%d pairs\n", RUNS, TIMED_PAIRS);
    static const size_t rows[] = {0, 16, 256, MAX_OTHERS};
    unsigned failures = 0;
    double base = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (!make_others(rows[i])) {
            printf("  only %zu other queues fit in the simulated heap: stopped\n", g_live);
            break;
        }
        const double ns = median_ns_per_pair(q, &failures);
        base = i == 0 ? ns : base;
        printf("  %4zu other queues live  %7.2f ns/pair  %5.2fx none\n", rows[i], ns, ns / base);
    }
    for (size_t i = 0; i < g_live; i++) {
        vQueueDelete(g_others[i]);
    }
    vQueueDelete(q);
    printf("failed calls: %u (0 expected)\n", failures);
    return failures == 0 ? 0 : 1;
}
