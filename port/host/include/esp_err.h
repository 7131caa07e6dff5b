/* esp_err.h (host) - ESP-IDF's error codes with ESP-IDF's values, ESP_ERROR_CHECK and its
 * companions. */
#ifndef ESP_ERR_H_HOST
#define ESP_ERR_H_HOST

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "esp_compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int esp_err_t;

#define ESP_OK 0
#define ESP_FAIL -1
#define ESP_ERR_NO_MEM 0x101
#define ESP_ERR_INVALID_ARG 0x102
#define ESP_ERR_INVALID_STATE 0x103
#define ESP_ERR_INVALID_SIZE 0x104
#define ESP_ERR_NOT_FOUND 0x105
#define ESP_ERR_NOT_SUPPORTED 0x106
#define ESP_ERR_TIMEOUT 0x107
#define ESP_ERR_INVALID_RESPONSE 0x108
#define ESP_ERR_INVALID_CRC 0x109
#define ESP_ERR_INVALID_VERSION 0x10A
#define ESP_ERR_INVALID_MAC 0x10B
#define ESP_ERR_NOT_FINISHED 0x10C
#define ESP_ERR_NOT_ALLOWED 0x10D

#define ESP_ERR_WIFI_BASE 0x3000
#define ESP_ERR_MESH_BASE 0x4000
#define ESP_ERR_FLASH_BASE 0x6000
#define ESP_ERR_HW_CRYPTO_BASE 0xc000
#define ESP_ERR_MEMPROT_BASE 0xd000

/** Name of an error code of this header ("ESP_ERR_NO_MEM"), or "ERROR" for other values (as
 *  ESP-IDF with its default CONFIG_ESP_ERR_TO_NAME_LOOKUP). isr-ok, O(1). */
const char *esp_err_to_name(esp_err_t code);

/** The name into buf (at most buflen bytes with the terminating NUL): an esp_err_t name, else
 *  "ERROR 0x<hex>(<decimal>)", errno values too: ESP-IDF tries strerror_r() but, built with
 *  _GNU_SOURCE, gets the GNU one, whose char * result never equals the 0 it tests for. Returns
 *  buf. isr-ok, O(1). */
const char *esp_err_to_name_r(esp_err_t code, char *buf, size_t buflen);

/* What ESP_ERROR_CHECK and ESP_ERROR_CHECK_WITHOUT_ABORT call on a failure: print ESP-IDF's
 * message ("ESP_ERROR_CHECK failed: esp_err_t 0x101 (ESP_ERR_NO_MEM) at 0x..." then the file,
 * line, function and expression) to stdout; the first then aborts, the second returns.
 * isr-ok, never block, never touch the simulated heap. */
void _esp_error_check_failed(esp_err_t rc, const char *file, int line, const char *function,
                             const char *expression) __attribute__((__noreturn__));
void _esp_error_check_failed_without_abort(esp_err_t rc, const char *file, int line,
                                           const char *function, const char *expression);

#ifndef __ASSERT_FUNC
#define __ASSERT_FUNC __func__ /* ESP-IDF's assert.h defines it; glibc's does not */
#endif

/* ESP-IDF compiles these checks out under NDEBUG, which it defines only with
 * CONFIG_COMPILER_OPTIMIZATION_ASSERTIONS_DISABLE. CMake's Release and RelWithDebInfo define
 * NDEBUG for every host build, so the host ignores it: the checks always run. */

/** Abort with ESP-IDF's message when x is not ESP_OK. */
#define ESP_ERROR_CHECK(x)                                                                         \
    do {                                                                                           \
        esp_err_t err_rc_ = (x);                                                                   \
        if (unlikely(err_rc_ != ESP_OK)) {                                                         \
            _esp_error_check_failed(err_rc_, __FILE__, __LINE__, __ASSERT_FUNC, #x);               \
        }                                                                                          \
    } while (0)

/** Print ESP-IDF's message when x is not ESP_OK; the value is x's. */
#define ESP_ERROR_CHECK_WITHOUT_ABORT(x)                                                           \
    ({                                                                                             \
        esp_err_t err_rc_ = (x);                                                                   \
        if (unlikely(err_rc_ != ESP_OK)) {                                                         \
            _esp_error_check_failed_without_abort(err_rc_, __FILE__, __LINE__, __ASSERT_FUNC, #x); \
        }                                                                                          \
        err_rc_;                                                                                   \
    })

#ifdef __cplusplus
}
#endif
#endif
