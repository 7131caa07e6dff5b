/* esp_log.h (host) - ESP_LOGx in ESP-IDF's format: "I (1234) tag: message", to stdout. */
#ifndef ESP_LOG_H_HOST
#define ESP_LOG_H_HOST

#include <stdarg.h>
#include <stdint.h>

#include "sdkconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ESP_LOG_NONE = 0,
    ESP_LOG_ERROR = 1,
    ESP_LOG_WARN = 2,
    ESP_LOG_INFO = 3,
    ESP_LOG_DEBUG = 4,
    ESP_LOG_VERBOSE = 5,
} esp_log_level_t;

/** Where log lines go, as in ESP-IDF: a vprintf-like function. */
typedef int (*vprintf_like_t)(const char *format, va_list args);

/** Send every later log line to `func` (NULL: back to the default, vprintf to stdout); returns
 *  the previous function. As ESP-IDF's, e.g. for a test that captures what was logged. */
vprintf_like_t esp_log_set_vprintf(vprintf_like_t func);

/** Milliseconds since the simulated boot. */
uint32_t esp_log_timestamp(void);
/** Set the level for `tag`; "*" sets the default level and, as in ESP-IDF, drops every tag's own
 *  level. Default: CONFIG_LOG_DEFAULT_LEVEL. Host limits (ESP-IDF's list has none): 64 tags with
 *  their own level at once and 63 characters a tag; beyond them the call is ignored with a line
 *  on stderr. NULL: nothing. Thread-safe. */
void esp_log_level_set(const char *tag, esp_log_level_t level);
/** The level in force for `tag` (its own, else the default). */
esp_log_level_t esp_log_level_get(const char *tag);
/** Write one formatted line (the ESP_LOGx macros add the prefix and the newline). */
void esp_log_write(esp_log_level_t level, const char *tag, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
void esp_log_writev(esp_log_level_t level, const char *tag, const char *format, va_list args)
    __attribute__((format(printf, 3, 0)));
/** esp_log_write() for ESP_EARLY_LOGx and ESP_DRAM_LOGx, which the chip writes with
 *  esp_rom_printf(): not counted inside a critical section (host only). No result; a line above
 *  the default level is dropped (as on the chip, whatever the tag's level: esp_log_level.h's
 *  early check). isr-ok; takes the log's lock; O(line). */
void esp_host_log_early_write(esp_log_level_t level, const char *tag, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/** Milliseconds since the simulated boot (ESP-IDF: before the scheduler starts). isr-ok, O(1). */
uint32_t esp_log_early_timestamp(void);
/** "HH:MM:SS.mmm" since the simulated boot, in a per-thread buffer (valid until the thread's next
 *  call). isr-ok, O(1). */
char *esp_log_system_timestamp(void);

/* Levels above LOG_LOCAL_LEVEL are compiled out: CONFIG_LOG_MAXIMUM_LEVEL unless a file defines
 * it before including this header, as in ESP-IDF. */
#ifndef LOG_LOCAL_LEVEL
#ifdef CONFIG_LOG_MAXIMUM_LEVEL
#define LOG_LOCAL_LEVEL CONFIG_LOG_MAXIMUM_LEVEL
#else
#define LOG_LOCAL_LEVEL ESP_LOG_VERBOSE
#endif
#endif

#define ESP_HOST_LOG_WITH_(write, lvl, letter, tag, format, ...)                                    \
    write(lvl, tag, letter " (%u) %s: " format "\n", (unsigned)esp_log_timestamp(), tag,          \
          ##__VA_ARGS__)
/* The function ESP_LOGx lines are written with. The simulator's own sources use their own writer
 * (sim_internal.h): their lines report a misuse, they do not make one where the CPU cannot yield. */
#ifndef ESP_HOST_LOG_WRITER
#define ESP_HOST_LOG_WRITER esp_log_write
#endif
#define ESP_HOST_LOG_(lvl, letter, tag, format, ...)                                               \
    ESP_HOST_LOG_WITH_(ESP_HOST_LOG_WRITER, lvl, letter, tag, format, ##__VA_ARGS__)
#define ESP_HOST_LOG_LOCAL_(lvl, letter, tag, format, ...)                                         \
    do {                                                                                           \
        if (LOG_LOCAL_LEVEL >= (lvl)) {                                                            \
            ESP_HOST_LOG_(lvl, letter, tag, format, ##__VA_ARGS__);                                \
        }                                                                                          \
    } while (0)
#define ESP_LOGE(tag, format, ...) ESP_HOST_LOG_LOCAL_(ESP_LOG_ERROR, "E", tag, format, ##__VA_ARGS__)
#define ESP_LOGW(tag, format, ...) ESP_HOST_LOG_LOCAL_(ESP_LOG_WARN, "W", tag, format, ##__VA_ARGS__)
#define ESP_LOGI(tag, format, ...) ESP_HOST_LOG_LOCAL_(ESP_LOG_INFO, "I", tag, format, ##__VA_ARGS__)
#define ESP_LOGD(tag, format, ...) ESP_HOST_LOG_LOCAL_(ESP_LOG_DEBUG, "D", tag, format, ##__VA_ARGS__)
#define ESP_LOGV(tag, format, ...)                                                                 \
    ESP_HOST_LOG_LOCAL_(ESP_LOG_VERBOSE, "V", tag, format, ##__VA_ARGS__)

/* Before the scheduler and with the cache off on the chip (esp_rom_printf, no libc lock): the same
 * lines here, also inside a critical section. */
#define ESP_HOST_EARLY_LOG_(lvl, letter, tag, format, ...)                                         \
    do {                                                                                           \
        if (LOG_LOCAL_LEVEL >= (lvl)) {                                                            \
            ESP_HOST_LOG_WITH_(esp_host_log_early_write, lvl, letter, tag, format, ##__VA_ARGS__); \
        }                                                                                          \
    } while (0)
#define ESP_EARLY_LOGE(tag, format, ...)                                                           \
    ESP_HOST_EARLY_LOG_(ESP_LOG_ERROR, "E", tag, format, ##__VA_ARGS__)
#define ESP_EARLY_LOGW(tag, format, ...)                                                           \
    ESP_HOST_EARLY_LOG_(ESP_LOG_WARN, "W", tag, format, ##__VA_ARGS__)
#define ESP_EARLY_LOGI(tag, format, ...)                                                           \
    ESP_HOST_EARLY_LOG_(ESP_LOG_INFO, "I", tag, format, ##__VA_ARGS__)
#define ESP_EARLY_LOGD(tag, format, ...)                                                           \
    ESP_HOST_EARLY_LOG_(ESP_LOG_DEBUG, "D", tag, format, ##__VA_ARGS__)
#define ESP_EARLY_LOGV(tag, format, ...)                                                           \
    ESP_HOST_EARLY_LOG_(ESP_LOG_VERBOSE, "V", tag, format, ##__VA_ARGS__)
/* ... and from DRAM, for an ISR with the cache off: the same, without a timestamp (ESP-IDF's
 * _ESP_LOG_DRAM_LOG_FORMAT). */
#define ESP_HOST_DRAM_LOG_(lvl, letter, tag, format, ...)                                          \
    do {                                                                                           \
        if (LOG_LOCAL_LEVEL >= (lvl)) {                                                            \
            esp_host_log_early_write(lvl, tag, letter " %s: " format "\n", tag, ##__VA_ARGS__);    \
        }                                                                                          \
    } while (0)
#define ESP_DRAM_LOGE(tag, format, ...)                                                            \
    ESP_HOST_DRAM_LOG_(ESP_LOG_ERROR, "E", tag, format, ##__VA_ARGS__)
#define ESP_DRAM_LOGW(tag, format, ...)                                                            \
    ESP_HOST_DRAM_LOG_(ESP_LOG_WARN, "W", tag, format, ##__VA_ARGS__)
#define ESP_DRAM_LOGI(tag, format, ...)                                                            \
    ESP_HOST_DRAM_LOG_(ESP_LOG_INFO, "I", tag, format, ##__VA_ARGS__)
#define ESP_DRAM_LOGD(tag, format, ...)                                                            \
    ESP_HOST_DRAM_LOG_(ESP_LOG_DEBUG, "D", tag, format, ##__VA_ARGS__)
#define ESP_DRAM_LOGV(tag, format, ...)                                                            \
    ESP_HOST_DRAM_LOG_(ESP_LOG_VERBOSE, "V", tag, format, ##__VA_ARGS__)

/** A line at a level chosen at run time (ESP_LOG_NONE, or any other value: an INFO line, as
 *  ESP-IDF's last else writes it). */
#define ESP_LOG_LEVEL(level, tag, format, ...)                                                     \
    do {                                                                                           \
        switch (level) {                                                                           \
        case ESP_LOG_ERROR: ESP_HOST_LOG_(ESP_LOG_ERROR, "E", tag, format, ##__VA_ARGS__); break;  \
        case ESP_LOG_WARN: ESP_HOST_LOG_(ESP_LOG_WARN, "W", tag, format, ##__VA_ARGS__); break;    \
        case ESP_LOG_INFO: ESP_HOST_LOG_(ESP_LOG_INFO, "I", tag, format, ##__VA_ARGS__); break;    \
        case ESP_LOG_DEBUG: ESP_HOST_LOG_(ESP_LOG_DEBUG, "D", tag, format, ##__VA_ARGS__); break;  \
        case ESP_LOG_VERBOSE:                                                                      \
            ESP_HOST_LOG_(ESP_LOG_VERBOSE, "V", tag, format, ##__VA_ARGS__);                       \
            break;                                                                                 \
        default: /* ESP_LOG_NONE: ESP-IDF's last else, an INFO line */                           \
            ESP_HOST_LOG_(ESP_LOG_INFO, "I", tag, format, ##__VA_ARGS__);                          \
            break;                                                                                 \
        }                                                                                          \
    } while (0)
/** As ESP_LOG_LEVEL, compiled out above LOG_LOCAL_LEVEL. */
#define ESP_LOG_LEVEL_LOCAL(level, tag, format, ...)                                               \
    do {                                                                                           \
        if (LOG_LOCAL_LEVEL >= (level)) {                                                          \
            ESP_LOG_LEVEL(level, tag, format, ##__VA_ARGS__);                                      \
        }                                                                                          \
    } while (0)

/** A buffer as ESP-IDF logs it, 16 bytes per line at `level`: hex ("54 68 65 ..."), characters,
 *  or a hex dump with the address and the printable characters ("0x3ffb5bc0   54 68 ... |The|").
 *  Nothing for length 0. task. */
void esp_log_buffer_hex_internal(const char *tag, const void *buffer, uint16_t buff_len,
                                 esp_log_level_t level);
void esp_log_buffer_char_internal(const char *tag, const void *buffer, uint16_t buff_len,
                                  esp_log_level_t level);
void esp_log_buffer_hexdump_internal(const char *tag, const void *buffer, uint16_t buff_len,
                                     esp_log_level_t level);
#define ESP_LOG_BUFFER_HEX_LEVEL(tag, buffer, buff_len, level)                                     \
    do {                                                                                           \
        if (LOG_LOCAL_LEVEL >= (level)) {                                                          \
            esp_log_buffer_hex_internal(tag, buffer, buff_len, level);                             \
        }                                                                                          \
    } while (0)
#define ESP_LOG_BUFFER_CHAR_LEVEL(tag, buffer, buff_len, level)                                    \
    do {                                                                                           \
        if (LOG_LOCAL_LEVEL >= (level)) {                                                          \
            esp_log_buffer_char_internal(tag, buffer, buff_len, level);                            \
        }                                                                                          \
    } while (0)
#define ESP_LOG_BUFFER_HEXDUMP(tag, buffer, buff_len, level)                                       \
    do {                                                                                           \
        if (LOG_LOCAL_LEVEL >= (level)) {                                                          \
            esp_log_buffer_hexdump_internal(tag, buffer, buff_len, level);                         \
        }                                                                                          \
    } while (0)
#define ESP_LOG_BUFFER_HEX(tag, buffer, buff_len)                                                  \
    ESP_LOG_BUFFER_HEX_LEVEL(tag, buffer, buff_len, ESP_LOG_INFO)
#define ESP_LOG_BUFFER_CHAR(tag, buffer, buff_len)                                                 \
    ESP_LOG_BUFFER_CHAR_LEVEL(tag, buffer, buff_len, ESP_LOG_INFO)

#ifdef __cplusplus
}
#endif
#endif
