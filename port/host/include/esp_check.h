/*
 * esp_check.h (host) - ESP-IDF's early-return and goto checks. On a failure each logs
 * "<function>(<line>): <message>" at error level with log_tag, then returns or jumps; the GOTO forms
 * store the code in a variable `ret` the caller declares. The _ISR forms log as ESP_EARLY_LOGE.
 */
#ifndef ESP_CHECK_H_HOST
#define ESP_CHECK_H_HOST

#include "esp_err.h"
#include "esp_log.h"

#define ESP_CHECK_LOG_(log, log_tag, format, ...)                                                  \
    log(log_tag, "%s(%d): " format, __FUNCTION__, __LINE__, ##__VA_ARGS__)

#define ESP_CHECK_ERR_(log, x, on_fail, log_tag, format, ...)                                      \
    do {                                                                                           \
        esp_err_t err_rc_ = (x);                                                                   \
        if (unlikely(err_rc_ != ESP_OK)) {                                                         \
            ESP_CHECK_LOG_(log, log_tag, format, ##__VA_ARGS__);                                   \
            on_fail;                                                                               \
        }                                                                                          \
    } while (0)

#define ESP_CHECK_FALSE_(log, a, on_fail, log_tag, format, ...)                                    \
    do {                                                                                           \
        if (unlikely(!(a))) {                                                                      \
            ESP_CHECK_LOG_(log, log_tag, format, ##__VA_ARGS__);                                   \
            on_fail;                                                                               \
        }                                                                                          \
    } while (0)

#define ESP_RETURN_ON_ERROR(x, log_tag, format, ...)                                               \
    ESP_CHECK_ERR_(ESP_LOGE, x, return err_rc_, log_tag, format, ##__VA_ARGS__)
#define ESP_RETURN_ON_ERROR_ISR(x, log_tag, format, ...)                                           \
    ESP_CHECK_ERR_(ESP_EARLY_LOGE, x, return err_rc_, log_tag, format, ##__VA_ARGS__)
#define ESP_RETURN_VOID_ON_ERROR(x, log_tag, format, ...)                                          \
    ESP_CHECK_ERR_(ESP_LOGE, x, return, log_tag, format, ##__VA_ARGS__)
#define ESP_RETURN_VOID_ON_ERROR_ISR(x, log_tag, format, ...)                                      \
    ESP_CHECK_ERR_(ESP_EARLY_LOGE, x, return, log_tag, format, ##__VA_ARGS__)
#define ESP_GOTO_ON_ERROR(x, goto_tag, log_tag, format, ...)                                       \
    ESP_CHECK_ERR_(ESP_LOGE, x, ret = err_rc_; goto goto_tag, log_tag, format, ##__VA_ARGS__)
#define ESP_GOTO_ON_ERROR_ISR(x, goto_tag, log_tag, format, ...)                                   \
    ESP_CHECK_ERR_(ESP_EARLY_LOGE, x, ret = err_rc_; goto goto_tag, log_tag, format, ##__VA_ARGS__)

#define ESP_RETURN_ON_FALSE(a, err_code, log_tag, format, ...)                                     \
    ESP_CHECK_FALSE_(ESP_LOGE, a, return err_code, log_tag, format, ##__VA_ARGS__)
#define ESP_RETURN_ON_FALSE_ISR(a, err_code, log_tag, format, ...)                                 \
    ESP_CHECK_FALSE_(ESP_EARLY_LOGE, a, return err_code, log_tag, format, ##__VA_ARGS__)
#define ESP_RETURN_VOID_ON_FALSE(a, log_tag, format, ...)                                          \
    ESP_CHECK_FALSE_(ESP_LOGE, a, return, log_tag, format, ##__VA_ARGS__)
#define ESP_RETURN_VOID_ON_FALSE_ISR(a, log_tag, format, ...)                                      \
    ESP_CHECK_FALSE_(ESP_EARLY_LOGE, a, return, log_tag, format, ##__VA_ARGS__)
#define ESP_GOTO_ON_FALSE(a, err_code, goto_tag, log_tag, format, ...)                             \
    ESP_CHECK_FALSE_(ESP_LOGE, a, ret = err_code; goto goto_tag, log_tag, format, ##__VA_ARGS__)
#define ESP_GOTO_ON_FALSE_ISR(a, err_code, goto_tag, log_tag, format, ...)                         \
    ESP_CHECK_FALSE_(ESP_EARLY_LOGE, a, ret = err_code; goto goto_tag, log_tag, format,           \
                     ##__VA_ARGS__)

#endif
