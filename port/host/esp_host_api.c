/*
 * esp_host_api.c - the small ESP-IDF services of the host port: error names, ESP_LOGx output in
 * ESP-IDF's format with per-tag levels, and esp_timer_get_time().
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "esp_err.h"
#include "esp_log.h"
#include "esp_timer.h"

const char *esp_err_to_name(esp_err_t code)
{
    switch (code) {
    case ESP_OK: return "ESP_OK";
    case ESP_FAIL: return "ESP_FAIL";
    case ESP_ERR_NO_MEM: return "ESP_ERR_NO_MEM";
    case ESP_ERR_INVALID_ARG: return "ESP_ERR_INVALID_ARG";
    case ESP_ERR_INVALID_STATE: return "ESP_ERR_INVALID_STATE";
    case ESP_ERR_INVALID_SIZE: return "ESP_ERR_INVALID_SIZE";
    case ESP_ERR_NOT_FOUND: return "ESP_ERR_NOT_FOUND";
    case ESP_ERR_NOT_SUPPORTED: return "ESP_ERR_NOT_SUPPORTED";
    case ESP_ERR_TIMEOUT: return "ESP_ERR_TIMEOUT";
    case ESP_ERR_INVALID_RESPONSE: return "ESP_ERR_INVALID_RESPONSE";
    case ESP_ERR_INVALID_CRC: return "ESP_ERR_INVALID_CRC";
    case ESP_ERR_INVALID_VERSION: return "ESP_ERR_INVALID_VERSION";
    case ESP_ERR_INVALID_MAC: return "ESP_ERR_INVALID_MAC";
    case ESP_ERR_NOT_FINISHED: return "ESP_ERR_NOT_FINISHED";
    case ESP_ERR_NOT_ALLOWED: return "ESP_ERR_NOT_ALLOWED";
    default: return "UNKNOWN ERROR";
    }
}

/* ---- time: the simulated boot is the first call -------------------------------------------- */

/* On the chip esp_timer_get_time() reads a hardware counter. Here, on x86-64 with an invariant
 * TSC, it is the TSC scaled to microseconds (a few instructions, no vDSO call: the event bus reads
 * the time per post and, with profiling, per handler call), calibrated once against
 * CLOCK_MONOTONIC over CALIBRATION_US at the first call (error a few ppm). Elsewhere (other CPUs,
 * no invariant TSC) it is CLOCK_MONOTONIC. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

#define CALIBRATION_US 2000
#define TSC_SHIFT 40 /* fixed point of us_per_tick: 2^40 / ticks per us (29 bits at 3 GHz) */

static int64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct {
    int64_t boot_us;  /* CLOCK_MONOTONIC at the boot */
    uint64_t tsc0;    /* TSC at the boot */
    uint64_t mult;    /* 0: no usable TSC */
} clk;
static pthread_once_t clk_once = PTHREAD_ONCE_INIT;
static atomic_bool clk_ready; /* clk is written (release) */

static void clk_boot(void)
{
#if HAVE_TSC
    unsigned a, b, c, d;
    if (__get_cpuid(0x80000007u, &a, &b, &c, &d) && (d & (1u << 8)) != 0) { /* invariant TSC */
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0); /* the first call may fault in the vDSO's data */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        uint64_t tsc0 = __rdtsc(), tsc1;
        int64_t ns;
        do {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            tsc1 = __rdtsc();
            ns = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);
        } while (ns < CALIBRATION_US * 1000);
        if (tsc1 > tsc0) {
            /* mult = 2^40 * us / ticks */
            clk.mult = (uint64_t)(((unsigned __int128)ns << TSC_SHIFT) / ((tsc1 - tsc0) * 1000u));
            clk.tsc0 = tsc1;
        }
        clk.boot_us = (int64_t)t1.tv_sec * 1000000 + t1.tv_nsec / 1000;
    } else
#endif
    {
        clk.boot_us = monotonic_us();
    }
    atomic_store_explicit(&clk_ready, true, memory_order_release);
}

int64_t esp_timer_get_time(void)
{
    if (__builtin_expect(!atomic_load_explicit(&clk_ready, memory_order_acquire), 0)) {
        pthread_once(&clk_once, clk_boot);
    }
#if HAVE_TSC
    if (__builtin_expect(clk.mult != 0, 1)) {
        uint64_t ticks = __rdtsc() - clk.tsc0; /* TSCs of all CPUs agree (invariant, synced) */
        return (int64_t)(((unsigned __int128)ticks * clk.mult) >> TSC_SHIFT);
    }
#endif
    int64_t now = monotonic_us() - clk.boot_us;
    return now > 0 ? now : 0;
}

uint32_t esp_log_timestamp(void)
{
    return (uint32_t)(esp_timer_get_time() / 1000);
}

/* ---- log levels: a default plus a few per-tag overrides ------------------------------------ */

#define TAG_LEVELS_MAX 16

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static esp_log_level_t default_level = ESP_LOG_INFO;
static struct {
    char tag[24];
    esp_log_level_t level;
} tag_levels[TAG_LEVELS_MAX];
static unsigned tag_level_count;

void esp_log_level_set(const char *tag, esp_log_level_t level)
{
    if (tag == NULL) {
        return;
    }
    pthread_mutex_lock(&log_mutex);
    if (strcmp(tag, "*") == 0) {
        default_level = level;
        tag_level_count = 0;
    } else {
        unsigned i = 0;
        while (i < tag_level_count && strcmp(tag_levels[i].tag, tag) != 0) {
            i++;
        }
        if (i == tag_level_count && tag_level_count < TAG_LEVELS_MAX) {
            snprintf(tag_levels[i].tag, sizeof tag_levels[i].tag, "%s", tag);
            tag_level_count++;
        }
        if (i < tag_level_count) {
            tag_levels[i].level = level;
        }
    }
    pthread_mutex_unlock(&log_mutex);
}

static esp_log_level_t level_for_locked(const char *tag)
{
    for (unsigned i = 0; tag != NULL && i < tag_level_count; i++) {
        if (strcmp(tag_levels[i].tag, tag) == 0) {
            return tag_levels[i].level;
        }
    }
    return default_level;
}

esp_log_level_t esp_log_level_get(const char *tag)
{
    pthread_mutex_lock(&log_mutex);
    esp_log_level_t level = level_for_locked(tag);
    pthread_mutex_unlock(&log_mutex);
    return level;
}

void esp_log_writev(esp_log_level_t level, const char *tag, const char *format, va_list args)
{
    pthread_mutex_lock(&log_mutex);
    if (level <= level_for_locked(tag)) {
        vfprintf(stdout, format, args);
        fflush(stdout);
    }
    pthread_mutex_unlock(&log_mutex);
}

void esp_log_write(esp_log_level_t level, const char *tag, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    esp_log_writev(level, tag, format, args);
    va_end(args);
}
