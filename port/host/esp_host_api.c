/*
 * esp_host_api.c - the small ESP-IDF services of the host port: error names and ESP_ERROR_CHECK's
 * report, ESP_LOGx output in ESP-IDF's format with per-tag levels and buffer dumps,
 * esp_timer_get_time() (the timers: esp_host_timer.c), esp_rom_printf().
 */
#define _POSIX_C_SOURCE 200809L /* flockfile, clock_gettime */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "esp_err.h"
#include "esp_log.h"
#include "esp_rom_sys.h"
#include "esp_timer.h"
#include "sdkconfig.h"
#include "sim_internal.h"

/* The lines written here (ESP_LOG_BUFFER_*) are the caller's: counted where the chip aborts. */
#undef ESP_HOST_LOG_WRITER
#define ESP_HOST_LOG_WRITER esp_log_write

#ifdef CONFIG_LOG_DEFAULT_LEVEL
#define LOG_DEFAULT_LEVEL CONFIG_LOG_DEFAULT_LEVEL
#else
#define LOG_DEFAULT_LEVEL ESP_LOG_INFO
#endif

/* esp_err.h's codes, all the host has (ESP-IDF's table also holds those of the components the
 * firmware links); an unknown code is "ERROR", as with CONFIG_ESP_ERR_TO_NAME_LOOKUP, ESP-IDF's
 * default ("UNKNOWN ERROR" is its text without the table, which names nothing). */
#define UNKNOWN_MSG "ERROR"

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
    case ESP_ERR_WIFI_BASE: return "ESP_ERR_WIFI_BASE";
    case ESP_ERR_MESH_BASE: return "ESP_ERR_MESH_BASE";
    case ESP_ERR_FLASH_BASE: return "ESP_ERR_FLASH_BASE";
    case ESP_ERR_HW_CRYPTO_BASE: return "ESP_ERR_HW_CRYPTO_BASE";
    case ESP_ERR_MEMPROT_BASE: return "ESP_ERR_MEMPROT_BASE";
    default: return UNKNOWN_MSG;
    }
}

const char *esp_err_to_name_r(esp_err_t code, char *buf, size_t buflen)
{
    if (buf == NULL || buflen == 0) {
        return buf;
    }
    const char *name = esp_err_to_name(code);
    if (strcmp(name, UNKNOWN_MSG) != 0) {
        snprintf(buf, buflen, "%s", name);
    } else {
        snprintf(buf, buflen, UNKNOWN_MSG " 0x%x(%d)", (unsigned)code, code);
    }
    return buf;
}

static void error_check_report(const char *macro, esp_err_t rc, const char *file, int line,
                               const char *function, const char *expression, const void *caller)
{
    esp_rom_printf("%s failed: esp_err_t 0x%x (%s) at %p\n", macro, (unsigned)rc,
                   esp_err_to_name(rc), caller);
    esp_rom_printf("file: \"%s\" line %d\nfunc: %s\nexpression: %s\n", file, line, function,
                   expression);
}

void _esp_error_check_failed_without_abort(esp_err_t rc, const char *file, int line,
                                           const char *function, const char *expression)
{
    error_check_report("ESP_ERROR_CHECK_WITHOUT_ABORT", rc, file, line, function, expression,
                       __builtin_return_address(0));
}

void _esp_error_check_failed(esp_err_t rc, const char *file, int line, const char *function,
                             const char *expression)
{
    error_check_report("ESP_ERROR_CHECK", rc, file, line, function, expression,
                       __builtin_return_address(0));
    abort();
}

int esp_rom_printf(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    const int n = vprintf(fmt, args);
    va_end(args);
    fflush(stdout);
    return n;
}

void esp_rom_delay_us(uint32_t us)
{
    const int64_t until = esp_timer_get_time() + us;
    while (esp_timer_get_time() < until) {
    }
}

/* ---- time: the simulated boot is the first call -------------------------------------------- */

static int64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* 0 until the first call. A relaxed load instead of pthread_once: the bus reads the time per
 * event, and on the chip esp_timer_get_time() is a plain counter read. */
static _Atomic int64_t boot_us;

int64_t esp_timer_get_time(void)
{
    int64_t now = monotonic_us();
    int64_t boot = atomic_load_explicit(&boot_us, memory_order_relaxed);
    if (__builtin_expect(boot == 0, 0)) {
        int64_t none = 0;
        /* the first call is the boot; of racing first calls the first CAS wins */
        boot = atomic_compare_exchange_strong(&boot_us, &none, now) ? now : none;
        return now > boot ? now - boot : 0;
    }
    return now - boot;
}

uint32_t esp_log_timestamp(void)
{
    return (uint32_t)(esp_timer_get_time() / 1000);
}

/* ---- log levels: a default plus a few per-tag overrides ------------------------------------ */

/* ESP-IDF keeps a heap list of tags; the host a table (esp_log.h: its limits, refused aloud). */
#define TAG_LEVELS_MAX 64
#define TAG_MAX_LEN 63

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static esp_log_level_t default_level = (esp_log_level_t)LOG_DEFAULT_LEVEL;
static struct {
    char tag[TAG_MAX_LEN + 1];
    esp_log_level_t level;
} tag_levels[TAG_LEVELS_MAX];
static unsigned tag_level_count;

void esp_log_level_set(const char *tag, esp_log_level_t level)
{
    if (tag == NULL) {
        return;
    }
    const bool too_long = strlen(tag) > TAG_MAX_LEN;
    bool refused = too_long;
    pthread_mutex_lock(&log_mutex);
    if (strcmp(tag, "*") == 0) {
        default_level = level;
        tag_level_count = 0;
    } else if (!refused) {
        unsigned i = 0;
        while (i < tag_level_count && strcmp(tag_levels[i].tag, tag) != 0) {
            i++;
        }
        if (i == tag_level_count && tag_level_count < TAG_LEVELS_MAX) {
            snprintf(tag_levels[i].tag, sizeof tag_levels[i].tag, "%s", tag);
            tag_level_count++;
        }
        refused = i == tag_level_count;
        if (!refused) {
            tag_levels[i].level = level;
        }
    }
    pthread_mutex_unlock(&log_mutex);
    if (refused) { /* not through the log: its level is what failed to be set */
        fprintf(stderr, "esp_log_level_set(\"%.*s\"): %s %d %s: ignored (host limit)\n", TAG_MAX_LEN,
                tag, too_long ? "a tag longer than" : "more than", too_long ? TAG_MAX_LEN : TAG_LEVELS_MAX,
                too_long ? "characters" : "tags with their own level");
    }
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

__attribute__((format(printf, 1, 0))) static int log_to_stdout(const char *format, va_list args)
{
    int n = vprintf(format, args);
    fflush(stdout);
    return n;
}

static vprintf_like_t log_vprintf = log_to_stdout; /* under log_mutex */

vprintf_like_t esp_log_set_vprintf(vprintf_like_t func)
{
    pthread_mutex_lock(&log_mutex);
    vprintf_like_t previous = log_vprintf;
    log_vprintf = func != NULL ? func : log_to_stdout;
    pthread_mutex_unlock(&log_mutex);
    return previous;
}

static void unlock_stdout(void *unused)
{
    (void)unused;
    funlockfile(stdout);
}

/* Writes the line when the tag's level (by_tag), else the default level, lets it through; true
 * when it did. A line of level ESP_LOG_NONE never is (ESP-IDF v5.4 on; v5.2 and v5.3 wrote it). */
static bool write_line(esp_log_level_t level, const char *tag, bool by_tag, const char *format,
                       va_list args)
{
    pthread_mutex_lock(&log_mutex);
    const bool through =
        level != ESP_LOG_NONE && level <= (by_tag ? level_for_locked(tag) : default_level);
    const vprintf_like_t sink = log_vprintf;
    pthread_mutex_unlock(&log_mutex);
    if (!through) {
        return false;
    }
    /* As ESP-IDF, the sink runs under stdout's lock only, which is recursive: lines of two
     * threads do not mix, and a sink may log or set levels itself. A task deleted while it waits
     * in a sink (one may take a FreeRTOS mutex) ends there: its thread exits through this
     * handler, so the log stays usable. */
    flockfile(stdout);
    pthread_cleanup_push(unlock_stdout, NULL);
    sink(format, args);
    pthread_cleanup_pop(1);
    return true;
}

static _Thread_local bool t_own_lines;

void sim_own_lines(bool on)
{
    t_own_lines = on;
}

void esp_log_writev(esp_log_level_t level, const char *tag, const char *format, va_list args)
{
    /* The chip writes a line under libc's stdout lock, a recursive mutex, which aborts where the
     * CPU cannot yield: inside a critical section or in an ISR (newlib's locks.c). The line is
     * written here, and noted. */
    if (write_line(level, tag, true, format, args) && (sim_in_critical() || sim_in_isr()) &&
        !t_own_lines) {
        sim_note_critical_log(tag);
    }
}

void sim_log_write(esp_log_level_t level, const char *tag, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    (void)write_line(level, tag, true, format, args);
    va_end(args);
}

/* esp_log.h: early lines know no tag levels, only the default one. */
void esp_host_log_early_write(esp_log_level_t level, const char *tag, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    (void)write_line(level, tag, false, format, args);
    va_end(args);
}

void esp_log_write(esp_log_level_t level, const char *tag, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    esp_log_writev(level, tag, format, args);
    va_end(args);
}

uint32_t esp_log_early_timestamp(void)
{
    return esp_log_timestamp();
}

char *esp_log_system_timestamp(void)
{
    static _Thread_local char text[16];
    const uint32_t ms = esp_log_timestamp();
    snprintf(text, sizeof text, "%02u:%02u:%02u.%03u", (unsigned)(ms / 3600000u % 24u),
             (unsigned)(ms / 60000u % 60u), (unsigned)(ms / 1000u % 60u), (unsigned)(ms % 1000u));
    return text;
}

/* ---- buffers, 16 bytes per line, in ESP-IDF's three layouts ------------------------------------ */

#define BYTES_PER_LINE 16

static void hex_line(const uint8_t *p, size_t n, char *out, size_t size)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        at += (size_t)snprintf(out + at, size - at, i + 1 < n ? "%02x " : "%02x", p[i]);
    }
}

static void char_line(const uint8_t *p, size_t n, char *out, size_t size)
{
    (void)size;
    memcpy(out, p, n);
    out[n] = '\0';
}

static void hexdump_line(const uint8_t *p, size_t n, char *out, size_t size)
{
    size_t at = (size_t)snprintf(out, size, "0x%08" PRIxPTR " ", (uintptr_t)p);
    for (size_t i = 0; i < BYTES_PER_LINE; i++) {
        const char *gap = (i & 7) == 0 ? "  " : " ";
        at += i < n ? (size_t)snprintf(out + at, size - at, "%s%02x", gap, p[i])
                    : (size_t)snprintf(out + at, size - at, "%s  ", gap);
    }
    at += (size_t)snprintf(out + at, size - at, "  |");
    for (size_t i = 0; i < n; i++) {
        out[at++] = p[i] >= 32 && p[i] <= 126 ? (char)p[i] : '.';
    }
    snprintf(out + at, size - at, "|");
}

static void log_buffer(const char *tag, const void *buffer, uint16_t len, esp_log_level_t level,
                       void (*line)(const uint8_t *, size_t, char *, size_t))
{
    char out[128];
    const uint8_t *p = buffer;
    for (size_t done = 0; done < len; done += BYTES_PER_LINE) {
        const size_t n = len - done < BYTES_PER_LINE ? len - done : BYTES_PER_LINE;
        line(p + done, n, out, sizeof out);
        ESP_LOG_LEVEL(level, tag, "%s", out);
    }
}

void esp_log_buffer_hex_internal(const char *tag, const void *buffer, uint16_t buff_len,
                                 esp_log_level_t level)
{
    log_buffer(tag, buffer, buff_len, level, hex_line);
}

void esp_log_buffer_char_internal(const char *tag, const void *buffer, uint16_t buff_len,
                                  esp_log_level_t level)
{
    log_buffer(tag, buffer, buff_len, level, char_line);
}

void esp_log_buffer_hexdump_internal(const char *tag, const void *buffer, uint16_t buff_len,
                                     esp_log_level_t level)
{
    log_buffer(tag, buffer, buff_len, level, hexdump_line);
}
