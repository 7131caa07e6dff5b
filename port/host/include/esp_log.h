/* esp_log.h (host) - ESP_LOGx in ESP-IDF's format: "I (1234) tag: message", to stdout. */
#ifndef ESP_LOG_H_HOST
#define ESP_LOG_H_HOST

#include <stdarg.h>
#include <stdint.h>

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
/** Set the level for `tag` ("*" = every tag). Default: INFO. */
void esp_log_level_set(const char *tag, esp_log_level_t level);
esp_log_level_t esp_log_level_get(const char *tag);
/** Write one formatted line (the ESP_LOGx macros add the prefix and the newline). */
void esp_log_write(esp_log_level_t level, const char *tag, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
void esp_log_writev(esp_log_level_t level, const char *tag, const char *format, va_list args)
    __attribute__((format(printf, 3, 0)));

#define ESP_HOST_LOG_(lvl, letter, tag, format, ...)                                               \
    esp_log_write(lvl, tag, letter " (%u) %s: " format "\n", (unsigned)esp_log_timestamp(), tag,  \
                  ##__VA_ARGS__)
#define ESP_LOGE(tag, format, ...) ESP_HOST_LOG_(ESP_LOG_ERROR, "E", tag, format, ##__VA_ARGS__)
#define ESP_LOGW(tag, format, ...) ESP_HOST_LOG_(ESP_LOG_WARN, "W", tag, format, ##__VA_ARGS__)
#define ESP_LOGI(tag, format, ...) ESP_HOST_LOG_(ESP_LOG_INFO, "I", tag, format, ##__VA_ARGS__)
#define ESP_LOGD(tag, format, ...) ESP_HOST_LOG_(ESP_LOG_DEBUG, "D", tag, format, ##__VA_ARGS__)
#define ESP_LOGV(tag, format, ...) ESP_HOST_LOG_(ESP_LOG_VERBOSE, "V", tag, format, ##__VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
