/*
 * demo_monitor.c - the heap monitor's view of a realistic day on the chip: an app that streams
 * assets through PSRAM and a network service that churns SRAM leave both heaps fragmented; the
 * monitor shows it (spec format), the health check flags it, a low-memory callback fires on a
 * burst and again when it passes, the sampler records the trend and the JSON snapshot carries it
 * all. Each step checks its outcome; the function returns the number of steps that failed.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep: this demo runs on the host */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo.h"
#include "heap_monitor.h"
#include "memory_pool.h"
#include "system_service/memory_utils.h"

static const char *TAG = "demo_monitor";

static int failures;

static void step(bool ok, const char *what)
{
    if (ok) {
        ESP_LOGI(TAG, "ok: %s", what);
    } else {
        ESP_LOGE(TAG, "FAILED: %s", what);
        failures++;
    }
}

/* ---- the workload ---------------------------------------------------------------------------- */

#define ASSETS 24
#define CONNECTIONS 24

static void *assets[ASSETS];        /* PSRAM: decoded images/audio of varying size */
static void *asset_meta[ASSETS];    /* PSRAM: small long-lived metadata after each asset */
static void *connections[CONNECTIONS]; /* SRAM: per-connection buffers of a network service */
static void *sessions[CONNECTIONS];    /* SRAM: long-lived session state after each buffer */

/* Sizes are multiples of a unit scaled to the module (see workload_unit): asset i is
 * ASSET_UNITS(i) units, connection buffer i CONNECTION_UNITS(i) units. */
#define ASSET_UNITS(i) (6 + (i) * 37 % 11)     /* 48..128 KB with 8 KB units */
#define CONNECTION_UNITS(i) (2 + (i) * 5 % 7)  /* 2..8 KB with 1 KB units */
#define ASSET_META_BYTES 512
#define SESSION_BYTES 96

/* The largest unit (at most `full`, a multiple of 64) with which all `items` allocations of
 * `units(i)` units plus `extra` bytes each take at most two thirds of `free_bytes`: a smaller module
 * gets a smaller workload, never an allocation failure. */
static size_t workload_unit(size_t free_bytes, size_t full, size_t items, size_t (*units)(size_t),
                            size_t extra)
{
    size_t total_units = 0;
    for (size_t i = 0; i < items; i++) {
        total_units += units(i);
    }
    size_t budget = free_bytes / 3 * 2;
    budget = budget > items * extra ? budget - items * extra : 0;
    size_t unit = budget / total_units / 64 * 64;
    return unit < full ? unit : full;
}

static size_t asset_units(size_t i)
{
    return ASSET_UNITS(i);
}

static size_t connection_units(size_t i)
{
    return CONNECTION_UNITS(i);
}

/* An app loads assets each followed by a small metadata record, then drops the assets it no
 * longer shows: the metadata pins the holes apart. */
static void fragment_psram(size_t unit)
{
    for (size_t i = 0; i < ASSETS; i++) {
        assets[i] = heap_caps_malloc(ASSET_UNITS(i) * unit, HEAP_MONITOR_CAPS_PSRAM);
        asset_meta[i] = heap_caps_malloc(ASSET_META_BYTES, HEAP_MONITOR_CAPS_PSRAM);
    }
    for (size_t i = 0; i < ASSETS; i += 2) {
        heap_caps_free(assets[i]);
        assets[i] = NULL;
    }
}

/* A service opens connections (receive buffers) with a small session record each, then most
 * clients go away while their sessions stay cached. */
static void fragment_sram(size_t unit)
{
    for (size_t i = 0; i < CONNECTIONS; i++) {
        connections[i] = SYSTEM_MALLOC(CONNECTION_UNITS(i) * unit);
        sessions[i] = SYSTEM_MALLOC(SESSION_BYTES);
    }
    for (size_t i = 0; i < CONNECTIONS; i++) {
        if (i % 3 != 2) {
            free(connections[i]);
            connections[i] = NULL;
        }
    }
}

static void release_all(void)
{
    for (size_t i = 0; i < ASSETS; i++) {
        heap_caps_free(assets[i]);
        heap_caps_free(asset_meta[i]);
        assets[i] = asset_meta[i] = NULL;
    }
    for (size_t i = 0; i < CONNECTIONS; i++) {
        free(connections[i]);
        free(sessions[i]);
        connections[i] = sessions[i] = NULL;
    }
}

/* ---- the low-memory callback ----------------------------------------------------------------- */

typedef struct {
    int lows;
    int recoveries;
} burst_watch_t;

static void on_low_sram(const heap_monitor_event_t *event, void *ctx)
{
    burst_watch_t *watch = ctx;
    if (event->low) {
        watch->lows++;
        ESP_LOGW(TAG, "low-memory callback: internal SRAM free %zu < %zu bytes (largest %zu)",
                 event->free_bytes, event->threshold, event->largest_free_block);
    } else {
        watch->recoveries++;
        ESP_LOGI(TAG, "low-memory callback: internal SRAM recovered, %zu >= %zu bytes free",
                 event->free_bytes, event->threshold);
    }
}

/* ---- output ---------------------------------------------------------------------------------- */

/* The names of the HEAP_MONITOR_ISSUE_* bits, with the figures and limits behind them. */
static const char *describe_issues(uint32_t issues, const heap_stats_t *s, char *out, size_t size)
{
    heap_monitor_thresholds_t t;
    heap_monitor_get_thresholds(&t);
    size_t len = 0;
    out[0] = '\0';
#define ADD(...)                                                                                   \
    do {                                                                                           \
        int n = snprintf(out + len, size - len, "%s", len > 0 ? ", " : "");                        \
        len += n > 0 && (size_t)n < size - len ? (size_t)n : 0;                                    \
        n = snprintf(out + len, size - len, __VA_ARGS__);                                          \
        len += n > 0 && (size_t)n < size - len ? (size_t)n : 0;                                    \
    } while (0)
    if (issues & HEAP_MONITOR_ISSUE_INTERNAL_FULL) {
        ADD("SRAM full (largest free block 0)");
    }
    if (issues & HEAP_MONITOR_ISSUE_INTERNAL_FRAGMENTED) {
        ADD("SRAM fragmented (%d%% > %d%%)", s->internal.fragmentation_percent, t.fragmentation_percent);
    }
    if (issues & HEAP_MONITOR_ISSUE_INTERNAL_LOW_FREE) {
        ADD("SRAM free low (%zu < %zu bytes)", s->internal.total_free_bytes, t.min_free_internal);
    }
    if (issues & HEAP_MONITOR_ISSUE_INTERNAL_SMALL_LARGEST) {
        ADD("SRAM largest block too small (%zu < %zu bytes)", s->internal.largest_free_block,
            t.min_largest_internal);
    }
    if (issues & HEAP_MONITOR_ISSUE_PSRAM_FULL) {
        ADD("PSRAM full (largest free block 0)");
    }
    if (issues & HEAP_MONITOR_ISSUE_PSRAM_FRAGMENTED) {
        ADD("PSRAM fragmented (%d%% > %d%%)", s->psram.fragmentation_percent, t.fragmentation_percent);
    }
    if (issues & HEAP_MONITOR_ISSUE_PSRAM_LOW_FREE) {
        ADD("PSRAM free low (%zu < %zu bytes)", s->psram.total_free_bytes, t.min_free_psram);
    }
    if (issues & HEAP_MONITOR_ISSUE_INTEGRITY) {
        ADD("a heap failed its integrity check");
    }
#undef ADD
    return out;
}

static void print_samples(void)
{
    heap_monitor_sample_t samples[12];
    size_t n = 0;
    heap_monitor_get_samples(samples, 12, &n);
    ESP_LOGI(TAG, "Sampler ring buffer (newest %zu of %zu slots):", n, heap_monitor_sample_capacity());
    ESP_LOGI(TAG, "  seq   t(ms)   SRAM free  largest frag   PSRAM free  largest frag  pools(S/M/L/XL) failed");
    for (size_t i = 0; i < n; i++) {
        const heap_monitor_sample_t *s = &samples[i];
        ESP_LOGI(TAG, "  %3u %7lld %11zu %8zu %3d%% %12zu %8zu %3d%%  %3u/%u/%u/%u %6u",
                 (unsigned)s->sequence, (long long)(s->timestamp_us / 1000), s->internal.free_bytes,
                 s->internal.largest_free_block, s->internal.fragmentation_percent,
                 s->psram.free_bytes, s->psram.largest_free_block, s->psram.fragmentation_percent,
                 (unsigned)s->pool_in_use[0], (unsigned)s->pool_in_use[1],
                 (unsigned)s->pool_in_use[2], (unsigned)s->pool_in_use[3],
                 (unsigned)s->failed_allocations);
    }
}

int demo_monitor_run(void)
{
    failures = 0;
    bool psram = memory_psram_available();
    heap_monitor_clear_samples();
    /* the pools take their storage (one SRAM block) on first use: take it now, so that "before"
     * and "after" below compare the same heap */
    step(memory_pool_ensure_init() == ESP_OK, "memory pools set up");

    heap_stats_t before;
    heap_monitor_get_stats(&before);
    heap_monitor_sample_now(NULL);
    ESP_LOGI(TAG, "--- at rest ---");
    heap_monitor_log_stats(TAG);
    step(heap_monitor_check_health(), "the heap is healthy at rest");

    /* A day of work: pool-served events in flight, assets and connections come and go. */
    void *events[6];
    for (size_t i = 0; i < 6; i++) {
        events[i] = memory_pool_alloc(i < 4 ? 48 : 200);
    }
    /* The workload is sized for the module: on a smaller one the same pattern with smaller
     * buffers, so that nothing fails here (the only failed allocation is the one shown below). */
    size_t sram_unit = workload_unit(before.internal.total_free_bytes, 1024, CONNECTIONS,
                                     connection_units, SESSION_BYTES);
    size_t psram_unit = workload_unit(before.psram.total_free_bytes, 8 * 1024, ASSETS, asset_units,
                                      ASSET_META_BYTES);
    ESP_LOGI(TAG, "workload for this module: %d connection buffers of %zu..%zu bytes in SRAM; %s",
             CONNECTIONS, 2 * sram_unit, 8 * sram_unit,
             psram ? "assets in PSRAM (below)" : "no PSRAM, so no assets");
    uint32_t failed_before = heap_monitor_get_failed_alloc_count(0);
    if (psram) {
        ESP_LOGI(TAG, "  %d assets of %zu..%zu KB in PSRAM", ASSETS, 6 * psram_unit / 1024,
                 16 * psram_unit / 1024);
        fragment_psram(psram_unit);
    }
    fragment_sram(sram_unit);
    step(heap_monitor_get_failed_alloc_count(0) == failed_before,
         "every workload allocation succeeded");
    heap_monitor_sample_now(NULL);

    heap_stats_t busy;
    heap_monitor_get_stats(&busy);
    ESP_LOGI(TAG, "--- after streaming assets and churning connections ---");
    heap_monitor_log_stats(TAG);
    memory_pool_log_stats(TAG);
    step(busy.internal.fragmentation_percent > before.internal.fragmentation_percent,
         "SRAM fragmentation rose with the connection churn");
    if (psram) {
        step(busy.psram.fragmentation_percent > before.psram.fragmentation_percent,
             "PSRAM fragmentation rose with the asset churn");
    } else {
        step(busy.psram.total_bytes == 0 && !busy.psram_present,
             "without PSRAM the PSRAM figures are zero");
    }
    uint32_t issues = heap_monitor_get_health_issues();
    char why[256];
    ESP_LOGI(TAG, "health check: %s%s%s", issues == 0 ? "healthy" : "unhealthy: ",
             describe_issues(issues, &busy, why, sizeof why), issues == 0 ? "" : " (as intended)");

    /* A burst (e.g. a TLS handshake) takes 24 KB of SRAM for a moment. */
    burst_watch_t watch = {0};
    size_t threshold = busy.internal.total_free_bytes - 16 * 1024;
    step(heap_monitor_register_callback(threshold, HEAP_MONITOR_CAPS_SRAM, on_low_sram, &watch) ==
             ESP_OK,
         "low-memory callback registered 16 KB below the current free SRAM");
    void *burst[6];
    for (size_t i = 0; i < 6; i++) {
        burst[i] = SYSTEM_MALLOC(4096);
    }
    heap_monitor_sample_now(NULL); /* the sampler's check sees the crossing */
    heap_monitor_check_health();   /* a second check: no second call */
    step(watch.lows == 1 && watch.recoveries == 0, "the callback fired once on the crossing");
    void *too_big = SYSTEM_MALLOC(400 * 1024); /* more than the chip has: fails, counted */
    step(too_big == NULL, "a 400 KB SRAM request (more than the module has) fails, as intended");
    for (size_t i = 0; i < 6; i++) {
        free(burst[i]);
    }
    heap_monitor_sample_now(NULL);
    heap_monitor_sample_now(NULL);
    step(watch.lows == 1 && watch.recoveries == 1, "the callback fired once on the recovery");
    heap_monitor_unregister_callback(on_low_sram, &watch);
    step(heap_monitor_get_failed_alloc_count(HEAP_MONITOR_CAPS_SRAM) >= 1,
         "the failed allocation is counted under its caps");

    /* The day ends: everything is given back. */
    for (size_t i = 0; i < 6; i++) {
        memory_pool_free(events[i]);
    }
    release_all();
    heap_monitor_sample_now(NULL);
    heap_stats_t after;
    heap_monitor_get_stats(&after);
    step(after.internal.total_free_bytes == before.internal.total_free_bytes &&
             after.psram.total_free_bytes == before.psram.total_free_bytes,
         "free memory is back exactly where it started");
    step(heap_monitor_check_health(), "the heap is healthy again");

    /* Left alone, the sampler task keeps the trend: a few periods at 10 ms. */
    step(heap_monitor_sampler_start(10) == ESP_OK, "sampler task started (10 ms period)");
    nanosleep(&(struct timespec){.tv_nsec = 45 * 1000 * 1000}, NULL);
    step(heap_monitor_sampler_stop() == ESP_OK, "sampler task stopped");

    ESP_LOGI(TAG, "--- trend ---");
    print_samples();

    /* Sized once from the build's longest snapshot: never too small, whatever the figures. */
    const size_t json_size = heap_monitor_json_max_length() + 1;
    char *json = malloc(json_size);
    size_t length = 0;
    esp_err_t err = json != NULL ? heap_monitor_get_json(json, json_size, &length) : ESP_ERR_NO_MEM;
    step(err == ESP_OK, "JSON snapshot written");
    if (err == ESP_OK) {
        ESP_LOGI(TAG, "JSON snapshot (%zu of at most %zu bytes): %s", length, json_size - 1, json);
    }
    free(json);
    char tiny[16];
    step(heap_monitor_get_json(tiny, sizeof tiny, NULL) == ESP_ERR_INVALID_SIZE && tiny[0] == '\0',
         "a too small buffer is refused, not truncated");
    return failures;
}
