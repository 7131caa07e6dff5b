/*
 * bench_freertos_wakes - what a blocking hand-over costs on the host FreeRTOS: two tasks play
 * ping-pong through two queues of length 1, each side blocking in xQueueReceive until the other's
 * xQueueSend wakes it (port/host/freertos_host.c's wait lists: the receiver is taken off the
 * queue's list and its own condition is signalled). The baseline of the same run is the host's
 * floor: the same ping-pong between two bare pthreads on one mutex and two condition variables.
 * Times only (the threads' scheduling is the machine's): median of RUNS runs, and the ratio.
 *
 * usage: bench_freertos_wakes
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/task.h"
#include "bench_support.h"

#define RUNS 9
#define ROUND_TRIPS 2000

/* ---- the host FreeRTOS: a task answers every ping ----------------------------------------------- */

static QueueHandle_t g_ping, g_pong;

static void answer(void *arg)
{
    (void)arg;
    for (;;) {
        uint32_t v = 0;
        if (xQueueReceive(g_ping, &v, portMAX_DELAY) == pdPASS) {
            (void)xQueueSend(g_pong, &v, portMAX_DELAY);
        }
    }
}

/* ns per round trip (two blocking waits, two wakes); *failures counts a lost or wrong answer. */
static double freertos_round_trips(unsigned *failures)
{
    const double t0 = now_ns();
    for (uint32_t i = 0; i < ROUND_TRIPS; i++) {
        uint32_t back = 0;
        if (xQueueSend(g_ping, &i, portMAX_DELAY) != pdPASS ||
            xQueueReceive(g_pong, &back, portMAX_DELAY) != pdPASS || back != i) {
            (*failures)++;
        }
    }
    return (now_ns() - t0) / ROUND_TRIPS;
}

/* ---- the baseline: bare pthreads ----------------------------------------------------------------- */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_pinged = PTHREAD_COND_INITIALIZER, g_ponged = PTHREAD_COND_INITIALIZER;
static bool g_ping_full, g_pong_full;
static uint32_t g_ping_value, g_pong_value;

static void *bare_answer(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_lock);
    for (;;) {
        while (!g_ping_full) {
            pthread_cond_wait(&g_pinged, &g_lock);
        }
        g_ping_full = false;
        g_pong_value = g_ping_value;
        g_pong_full = true;
        pthread_cond_signal(&g_ponged);
    }
    return NULL;
}

static double bare_round_trips(unsigned *failures)
{
    const double t0 = now_ns();
    pthread_mutex_lock(&g_lock);
    for (uint32_t i = 0; i < ROUND_TRIPS; i++) {
        g_ping_value = i;
        g_ping_full = true;
        pthread_cond_signal(&g_pinged);
        while (!g_pong_full) {
            pthread_cond_wait(&g_ponged, &g_lock);
        }
        g_pong_full = false;
        *failures += g_pong_value != i;
    }
    pthread_mutex_unlock(&g_lock);
    return (now_ns() - t0) / ROUND_TRIPS;
}

static double median(double (*run)(unsigned *), unsigned *failures)
{
    double samples[RUNS];
    (void)run(failures); /* warm up */
    for (int r = 0; r < RUNS; r++) {
        samples[r] = run(failures);
    }
    qsort(samples, RUNS, sizeof samples[0], cmp_double);
    return samples[RUNS / 2];
}

int main(int argc, char **argv)
{
    bench_print_command(argc, argv, "none, times only: docs/simulator.md");
    g_ping = xQueueCreate(1, sizeof(uint32_t));
    g_pong = xQueueCreate(1, sizeof(uint32_t));
    pthread_t bare;
    if (g_ping == NULL || g_pong == NULL ||
        xTaskCreate(answer, "answer", 4096, NULL, 5, NULL) != pdPASS ||
        pthread_create(&bare, NULL, bare_answer, NULL) != 0) {
        fprintf(stderr, "bench_freertos_wakes: could not start (simulated heap or threads)\n");
        return 1;
    }
    pthread_detach(bare);
    printf("bench_freertos_wakes: ping-pong round trips (two blocking waits and two wakes each), "
           "median of %d runs x %d\n", RUNS, ROUND_TRIPS);
    unsigned failures = 0;
    const double base = median(bare_round_trips, &failures);
    const double host = median(freertos_round_trips, &failures);
    printf("  bare pthreads (mutex + 2 conditions)   %8.0f ns/round trip  1.00x\n", base);
    printf("  host FreeRTOS (2 tasks, 2 queues)      %8.0f ns/round trip  %5.2fx\n", host,
           host / base);
    printf("lost or wrong answers: %u (0 expected)\n", failures);
    return failures == 0 ? 0 : 1;
}
