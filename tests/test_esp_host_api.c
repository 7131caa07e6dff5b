/* test_esp_host_api.c - the host's small ESP-IDF services: error names, ESP_ERROR_CHECK and
 * esp_check.h, log lines and buffer dumps in ESP-IDF's format, esp_rom_printf. */
#define _POSIX_C_SOURCE 200809L /* fork, capture_output.h */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture_output.h"
#include "esp_check.h"
#include "esp_err.h"
#include "esp_log.h"
#include "esp_rom_sys.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "kraken_sim.h"
#include "sdkconfig.h"
#include "test_support.h"

static const char *const TAG = "api";

/* ---- capturing what was logged or printed ------------------------------------------------------ */

static char logged[4096];
static size_t logged_len;

static int capture(const char *format, va_list args) __attribute__((format(printf, 1, 0)));
static int capture(const char *format, va_list args)
{
    const int n = vsnprintf(logged + logged_len, sizeof logged - logged_len, format, args);
    if (n > 0) {
        logged_len += (size_t)n < sizeof logged - logged_len ? (size_t)n : 0;
    }
    return n;
}

static int start_capture(void **state)
{
    (void)state;
    logged_len = 0;
    logged[0] = '\0';
    esp_log_set_vprintf(capture);
    esp_log_level_set("*", ESP_LOG_INFO);
    return 0;
}

static int stop_capture(void **state)
{
    (void)state;
    esp_log_set_vprintf(NULL);
    return 0;
}

/* ---- error names and checks --------------------------------------------------------------------- */

/* An errno value gets the number too: esp_err_to_name.c's strerror_r() test never passes with
 * the GNU strerror_r that ESP-IDF's _GNU_SOURCE selects. */
static void esp_err_to_name_r_gives_the_name_or_the_number(void **state)
{
    (void)state;
    char buf[64];
    assert_ptr_equal(esp_err_to_name_r(ESP_ERR_NO_MEM, buf, sizeof buf), buf);
    assert_string_equal(buf, "ESP_ERR_NO_MEM");
    assert_string_equal(esp_err_to_name_r(ESP_OK, buf, sizeof buf), "ESP_OK");
    assert_string_equal(esp_err_to_name_r(2, buf, sizeof buf), "ERROR 0x2(2)"); /* ENOENT */
    assert_string_equal(esp_err_to_name_r(0x7777, buf, sizeof buf), "ERROR 0x7777(30583)");
    assert_string_equal(esp_err_to_name_r(ESP_ERR_NOT_FOUND, buf, 8), "ESP_ERR"); /* cut to fit */
    assert_string_equal(esp_err_to_name(0x7777), "ERROR"); /* ESP-IDF's default table's word */
    assert_string_equal(esp_err_to_name(ESP_ERR_FLASH_BASE), "ESP_ERR_FLASH_BASE");
}

static void check_ok(void *unused)
{
    (void)unused;
    ESP_ERROR_CHECK(ESP_OK);
    esp_rom_printf("still here\n");
}

static void check_without_abort(void *unused)
{
    (void)unused;
    const esp_err_t rc = ESP_ERROR_CHECK_WITHOUT_ABORT(ESP_ERR_TIMEOUT);
    esp_rom_printf("returned 0x%x\n", (unsigned)rc);
}

static void esp_error_check_passes_esp_ok_and_without_abort_reports_and_returns(void **state)
{
    (void)state;
    char out[512];
    capture_output(STDOUT_FILENO, check_ok, NULL, out, sizeof out);
    assert_string_equal(out, "still here\n");
    capture_output(STDOUT_FILENO, check_without_abort, NULL, out, sizeof out);
    assert_non_null(
        strstr(out, "ESP_ERROR_CHECK_WITHOUT_ABORT failed: esp_err_t 0x107 (ESP_ERR_TIMEOUT) at "));
    assert_non_null(strstr(out, "file: \"" __FILE__ "\" line "));
    assert_non_null(strstr(out, "func: check_without_abort\nexpression: ESP_ERR_TIMEOUT\n"));
    assert_non_null(strstr(out, "returned 0x107\n"));
}

static void check_fails(void *arg)
{
    (void)arg;
    ESP_ERROR_CHECK(ESP_ERR_NO_MEM);
}

static void esp_error_check_reports_and_aborts_on_an_error(void **state)
{
    (void)state;
    char out[512];
    const int status = capture_output_of_child(STDOUT_FILENO, check_fails, NULL, out, sizeof out);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(out, "ESP_ERROR_CHECK failed: esp_err_t 0x101 (ESP_ERR_NO_MEM) at "));
    assert_non_null(strstr(out, "func: check_fails\nexpression: ESP_ERR_NO_MEM\n"));
}

static esp_err_t returns_on_error(esp_err_t inner)
{
    ESP_RETURN_ON_ERROR(inner, TAG, "inner call failed: %d", 7);
    return ESP_OK;
}

static esp_err_t goes_to_cleanup(int value, bool *cleaned)
{
    esp_err_t ret = ESP_OK;
    ESP_GOTO_ON_FALSE(value > 0, ESP_ERR_INVALID_ARG, cleanup, TAG, "value %d", value);
    ESP_GOTO_ON_ERROR(value == 2 ? ESP_ERR_TIMEOUT : ESP_OK, cleanup, TAG, "no reply");
    return ESP_OK;
cleanup:
    *cleaned = true;
    return ret;
}

static void esp_check_macros_log_the_function_and_line_then_return_or_jump(void **state)
{
    (void)state;
    assert_int_equal(returns_on_error(ESP_OK), ESP_OK);
    assert_int_equal(logged_len, 0);
    assert_int_equal(returns_on_error(ESP_ERR_NOT_FOUND), ESP_ERR_NOT_FOUND);
    assert_non_null(strstr(logged, "E ("));
    assert_non_null(strstr(logged, ") api: returns_on_error("));
    assert_non_null(strstr(logged, "): inner call failed: 7\n"));
    bool cleaned = false;
    assert_int_equal(goes_to_cleanup(1, &cleaned), ESP_OK);
    assert_false(cleaned);
    assert_int_equal(goes_to_cleanup(0, &cleaned), ESP_ERR_INVALID_ARG);
    assert_true(cleaned);
    assert_non_null(strstr(logged, "goes_to_cleanup("));
    assert_non_null(strstr(logged, "): value 0\n"));
    cleaned = false;
    assert_int_equal(goes_to_cleanup(2, &cleaned), ESP_ERR_TIMEOUT);
    assert_true(cleaned);
    assert_non_null(strstr(logged, "): no reply\n"));
}

/* ---- logging -------------------------------------------------------------------------------------- */

static void buffers_are_logged_16_bytes_per_line_in_esp_idfs_three_layouts(void **state)
{
    (void)state;
    NEED_LOG_LEVEL(ESP_LOG_INFO); /* ESP_LOG_BUFFER_HEX and _CHAR log at INFO */
    const char text[] = "The way to get started is\x01";
    const uint16_t n = (uint16_t)(sizeof text - 1); /* 26 bytes: a full line and 10 */
    ESP_LOG_BUFFER_HEX(TAG, text, n);
    assert_non_null(strstr(logged, "api: 54 68 65 20 77 61 79 20 74 6f 20 67 65 74 20 73\n"));
    assert_non_null(strstr(logged, "api: 74 61 72 74 65 64 20 69 73 01\n"));
    logged_len = 0;
    ESP_LOG_BUFFER_CHAR(TAG, text, 16);
    assert_non_null(strstr(logged, "I ("));
    assert_non_null(strstr(logged, "api: The way to get s\n"));
    logged_len = 0;
    ESP_LOG_BUFFER_HEXDUMP(TAG, text, n, ESP_LOG_WARN);
    assert_non_null(strstr(logged, "W ("));
    char expect[160];
    snprintf(expect, sizeof expect, "api: 0x%08lx   54 68 65 20 77 61 79 20  74 6f 20 67 65 74 20 73  "
                                    "|The way to get s|\n",
             (unsigned long)(uintptr_t)text);
    assert_non_null(strstr(logged, expect));
    snprintf(expect, sizeof expect,
             "api: 0x%08lx   74 61 72 74 65 64 20 69  73 01                    |tarted is.|\n",
             (unsigned long)(uintptr_t)(text + 16));
    assert_non_null(strstr(logged, expect));
    logged_len = 0;
    logged[0] = '\0';
    ESP_LOG_BUFFER_HEX_LEVEL(TAG, text, n, ESP_LOG_DEBUG); /* below the tag's level: nothing */
    ESP_LOG_BUFFER_HEX(TAG, text, 0);
    assert_int_equal(logged_len, 0);
}

static void log_level_macros_pick_the_letter_at_run_time(void **state)
{
    (void)state;
    NEED_LOG_LEVEL(ESP_LOG_INFO); /* ESP_EARLY_LOGI */
    ESP_LOG_LEVEL(ESP_LOG_WARN, TAG, "%s", "warned");
    ESP_LOG_LEVEL_LOCAL(ESP_LOG_ERROR, TAG, "%d", 42);
    ESP_LOG_LEVEL(ESP_LOG_NONE, TAG, "none"); /* ESP-IDF's last else: an INFO line */
    ESP_EARLY_LOGI(TAG, "early");
    ESP_DRAM_LOGE(TAG, "from an IRAM ISR");
    assert_non_null(strstr(logged, "W ("));
    assert_non_null(strstr(logged, ") api: warned\n"));
    assert_non_null(strstr(logged, ") api: 42\nI ("));
    assert_non_null(strstr(logged, ") api: none\nI (")); /* then the early line */
    assert_non_null(strstr(logged, ") api: early\nE api: from an IRAM ISR\n")); /* no time */
    const char *stamp = esp_log_system_timestamp(); /* HH:MM:SS.mmm */
    assert_int_equal(strlen(stamp), 12);
    assert_true(stamp[2] == ':' && stamp[5] == ':' && stamp[8] == '.');
    const uint32_t before = esp_log_timestamp();
    assert_true(esp_log_early_timestamp() >= before);
}

/* Early and DRAM lines know no tag levels (ESP-IDF's esp_log_level.h: "For early log, there is no
 * log tag filtering"): only the default level lets them through. */
static void early_lines_follow_the_default_level_not_the_tags(void **state)
{
    (void)state;
    NEED_LOG_LEVEL(ESP_LOG_INFO);
    esp_log_level_set("muted", ESP_LOG_NONE);
    ESP_EARLY_LOGE("muted", "early error");
    ESP_DRAM_LOGW("muted", "dram warning");
    ESP_LOGE("muted", "plain error");
    esp_log_level_set("*", ESP_LOG_WARN);
    esp_log_level_set("loud", ESP_LOG_INFO);
    ESP_EARLY_LOGI("loud", "early info");
    ESP_LOGI("loud", "plain info");
    esp_log_level_set("*", ESP_LOG_INFO);
    assert_non_null(strstr(logged, ") muted: early error\n"));
    assert_non_null(strstr(logged, "W muted: dram warning\n"));
    assert_null(strstr(logged, "plain error"));
    assert_null(strstr(logged, "early info"));
    assert_non_null(strstr(logged, ") loud: plain info\n"));
}

/* An unset tag's level when the program started, before any esp_log_level_set() (main()). */
static esp_log_level_t level_at_start;

/* Tags start at CONFIG_LOG_DEFAULT_LEVEL, and a tag nobody set follows "*" once it is set;
 * levels above CONFIG_LOG_MAXIMUM_LEVEL (LOG_LOCAL_LEVEL) are compiled out, so raising a tag's
 * level at run time does not bring them back. */
/* Inside a critical section the chip cannot take libc's stdout lock (ESP_LOGx aborts there;
 * ESP_EARLY_LOGx and ESP_DRAM_LOGx print with esp_rom_printf): the line is written here, counted
 * in critical_logs, and the first after each boot says so. A line the tag's level drops is not
 * written, nor counted (ESP-IDF checks the level first). */
static void a_log_line_inside_a_critical_section_is_counted_and_said_once(void **state)
{
    (void)state;
    NEED_LOG_LEVEL(ESP_LOG_INFO);
    assert_int_equal(kraken_sim_reset(), ESP_OK); /* statistics and the once-per-boot note */
    portMUX_TYPE mux = portMUX_INITIALIZER_UNLOCKED;
    kraken_sim_stats_t before, after;
    kraken_sim_get_stats(&before);
    portENTER_CRITICAL(&mux);
    ESP_LOGI(TAG, "first %d", 1);
    ESP_LOGI(TAG, "second");
    ESP_LOGD(TAG, "dropped by the level");
    ESP_EARLY_LOGI(TAG, "early");
    ESP_DRAM_LOGI(TAG, "dram");
    portEXIT_CRITICAL(&mux);
    ESP_LOGI(TAG, "outside");
    kraken_sim_get_stats(&after);
    assert_int_equal(after.critical_logs - before.critical_logs, 2);
    assert_non_null(strstr(logged, "api: first 1"));
    assert_non_null(strstr(logged, "api: second"));
    assert_non_null(strstr(logged, "api: early"));
    assert_non_null(strstr(logged, "api: dram"));
    assert_non_null(strstr(logged, "api: outside"));
    const char *note = strstr(logged, "inside a critical section or an ISR: the chip aborts");
    assert_non_null(note);
    assert_null(strstr(note + 1, "inside a critical section or an ISR")); /* once */
}

/* In an ISR too: libc's stdout lock is a recursive mutex, which newlib's locks abort on where the
 * CPU cannot yield. The simulator's own report of a misuse in the ISR is not such a line. */
static void a_log_line_in_an_isr_is_counted_and_the_simulators_own_reports_are_not(void **state)
{
    (void)state;
    NEED_LOG_LEVEL(ESP_LOG_INFO);
    assert_int_equal(kraken_sim_reset(), ESP_OK);
    kraken_sim_stats_t before, after;
    kraken_sim_get_stats(&before);
    kraken_sim_isr_enter();
    ESP_LOGI(TAG, "in the isr");
    ESP_EARLY_LOGI(TAG, "early in the isr");
    vTaskDelay(1); /* refused: the simulator reports it (tag "freertos") */
    kraken_sim_isr_exit();
    ESP_LOGI(TAG, "after the isr");
    kraken_sim_get_stats(&after);
    assert_int_equal(after.critical_logs - before.critical_logs, 1);
    assert_int_equal(after.refused_waits - before.refused_waits, 1);
    assert_non_null(strstr(logged, "api: in the isr"));
    assert_non_null(strstr(logged, "inside a critical section or an ISR: the chip aborts"));
}

/* What makes a line the simulator's is where it is written, not its tag: the firmware's own line
 * under a tag the simulator also uses is counted, and so is a buffer dump in an ISR. */
static void a_firmware_line_under_a_simulator_tag_is_counted(void **state)
{
    (void)state;
    NEED_LOG_LEVEL(ESP_LOG_INFO);
    kraken_sim_stats_t before, after;
    kraken_sim_get_stats(&before);
    kraken_sim_isr_enter();
    ESP_LOGI("freertos", "the firmware's line");
    ESP_LOGE("heap_caps", "another");
    const uint8_t bytes[4] = {1, 2, 3, 4};
    ESP_LOG_BUFFER_HEX("api", bytes, sizeof bytes);
    kraken_sim_isr_exit();
    kraken_sim_get_stats(&after);
    assert_int_equal(after.critical_logs - before.critical_logs, 3);
    assert_non_null(strstr(logged, "freertos: the firmware's line"));
}

static void log_levels_follow_the_kconfig_options(void **state)
{
    (void)state;
    assert_int_equal(level_at_start, CONFIG_LOG_DEFAULT_LEVEL);
    assert_int_equal(esp_log_level_get("a_tag_nobody_set"), ESP_LOG_INFO); /* start_capture's "*" */
    assert_int_equal(LOG_LOCAL_LEVEL, CONFIG_LOG_MAXIMUM_LEVEL);
    esp_log_level_set(TAG, ESP_LOG_VERBOSE);
    ESP_LOGD(TAG, "debug line");
    ESP_LOGE(TAG, "error line");
    assert_non_null(strstr(logged, "error line"));
    assert_int_equal(strstr(logged, "debug line") != NULL, CONFIG_LOG_MAXIMUM_LEVEL >= ESP_LOG_DEBUG);
}

static void set_a_level_beyond_the_limits(void *unused)
{
    (void)unused;
    char tag[80];
    memset(tag, 'x', 64); /* one character too many */
    tag[64] = '\0';
    esp_log_level_set(tag, ESP_LOG_ERROR);
    for (int i = 0; i < 64; i++) {
        snprintf(tag, sizeof tag, "tag%d", i); /* "quiet" and "chatty" are two of the 64 */
        esp_log_level_set(tag, ESP_LOG_WARN);
    }
}

/* A tag's own level wins over the default and is updated in place; "*" drops every tag's own
 * level (ESP-IDF's clear_log_level_list()); the host's limits are said, never silent. */
static void each_tag_keeps_its_own_level_until_star_is_set(void **state)
{
    (void)state;
    char longest[64]; /* 63 characters: the longest the host keeps */
    memset(longest, 'y', 63);
    longest[63] = '\0';
    esp_log_level_set(longest, ESP_LOG_ERROR);
    assert_int_equal(esp_log_level_get(longest), ESP_LOG_ERROR);
    esp_log_level_set("*", ESP_LOG_INFO);
    esp_log_level_set("quiet", ESP_LOG_ERROR);
    esp_log_level_set("chatty", ESP_LOG_DEBUG);
    esp_log_level_set("quiet", ESP_LOG_WARN); /* the same tag again: updated */
    assert_int_equal(esp_log_level_get("quiet"), ESP_LOG_WARN);
    assert_int_equal(esp_log_level_get("chatty"), ESP_LOG_DEBUG);
    assert_int_equal(esp_log_level_get("other"), ESP_LOG_INFO); /* start_capture's "*" */
    ESP_LOGI("quiet", "not shown");
    ESP_LOGW("quiet", "shown");
    assert_null(strstr(logged, "not shown"));
    assert_non_null(strstr(logged, "quiet: shown"));
    char err[512];
    capture_output(STDERR_FILENO, set_a_level_beyond_the_limits, NULL, err, sizeof err);
    assert_non_null(strstr(err, "a tag longer than 63 characters: ignored (host limit)"));
    assert_non_null(strstr(err, "esp_log_level_set(\"tag62\"): more than 64 tags"));
    assert_non_null(strstr(err, "esp_log_level_set(\"tag63\"): more than 64 tags"));
    assert_null(strstr(err, "\"tag61\""));
    assert_int_equal(esp_log_level_get("tag61"), ESP_LOG_WARN);
    assert_int_equal(esp_log_level_get("tag62"), ESP_LOG_INFO);
    esp_log_level_set("*", ESP_LOG_WARN);
    assert_int_equal(esp_log_level_get("quiet"), ESP_LOG_WARN);
    assert_int_equal(esp_log_level_get("chatty"), ESP_LOG_WARN);
    assert_int_equal(esp_log_level_get("tag0"), ESP_LOG_WARN);
    esp_log_level_set("chatty", ESP_LOG_ERROR); /* room again */
    assert_int_equal(esp_log_level_get("chatty"), ESP_LOG_ERROR);
    esp_log_level_set(NULL, ESP_LOG_NONE); /* nothing */
    assert_int_equal(esp_log_level_get("other"), ESP_LOG_WARN);
}

/* A line of level ESP_LOG_NONE is never written (ESP-IDF v5.4 on), whatever the tag allows. */
static void a_line_of_level_none_is_never_written(void **state)
{
    (void)state;
    esp_log_level_set("Q", ESP_LOG_NONE);
    esp_log_write(ESP_LOG_NONE, "Q", "none to a silent tag\n");
    esp_log_level_set("Q", ESP_LOG_VERBOSE);
    esp_log_write(ESP_LOG_NONE, "Q", "none to a verbose tag\n");
    esp_log_write(ESP_LOG_ERROR, "Q", "an error\n");
    assert_null(strstr(logged, "none to"));
    assert_non_null(strstr(logged, "an error"));
}

/* A sink may log and read or set levels itself: as on the chip, no log lock is held while it
 * runs (only stdout's, which is recursive). Its own lines go through it too. */
static atomic_int sink_depth;

static int logging_sink(const char *format, va_list args) __attribute__((format(printf, 1, 0)));
static int logging_sink(const char *format, va_list args)
{
    if (atomic_fetch_add(&sink_depth, 1) == 0) {
        if (esp_log_level_get("net") == ESP_LOG_INFO) {
            esp_log_level_set("net", ESP_LOG_WARN);
        }
        esp_log_write(ESP_LOG_ERROR, "sink", "from inside\n"); /* not compiled out */
    }
    const int n = capture(format, args);
    atomic_fetch_sub(&sink_depth, 1);
    return n;
}

static void *log_one_line(void *done)
{
    esp_log_write(ESP_LOG_ERROR, "outer", "first\n");
    atomic_store((atomic_bool *)done, true);
    return NULL;
}

static void a_sink_may_log_and_set_levels_itself(void **state)
{
    (void)state;
    esp_log_set_vprintf(logging_sink);
    atomic_bool done = false;
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, log_one_line, &done), 0);
    for (int i = 0; i < 500 && !atomic_load(&done); i++) {
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    }
    if (!atomic_load(&done)) { /* the log is locked for good: no teardown could log again */
        fprintf(stderr, "a log call from inside the sink did not return in 5 s\n");
        _exit(1);
    }
    pthread_join(thread, NULL);
    esp_log_set_vprintf(capture);
    assert_non_null(strstr(logged, "from inside\n"));
    assert_non_null(strstr(logged, "first\n"));
    assert_int_equal(esp_log_level_get("net"), ESP_LOG_WARN);
}

static void print_two(void *unused)
{
    (void)unused;
    assert_int_equal(esp_rom_printf("rom %d\n", 2), 6);
}

static void esp_rom_printf_writes_to_stdout_at_once(void **state)
{
    (void)state;
    char out[64];
    capture_output(STDOUT_FILENO, print_two, NULL, out, sizeof out);
    assert_string_equal(out, "rom 2\n");
}

/* As on the chip, the clock counts microseconds from the (simulated) boot: the program's first
 * call, not the host's uptime. */
static void esp_timer_get_time_counts_from_the_first_call(void **state)
{
    (void)state;
    const int64_t first = esp_timer_get_time();
    assert_true(first >= 0 && first < 10 * 1000000);
    esp_rom_delay_us(2000);
    assert_true(esp_timer_get_time() - first >= 2000);
}

int main(void)
{
    level_at_start = esp_log_level_get("a_tag_nobody_set");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(esp_err_to_name_r_gives_the_name_or_the_number),
        cmocka_unit_test(esp_error_check_passes_esp_ok_and_without_abort_reports_and_returns),
        cmocka_unit_test(esp_error_check_reports_and_aborts_on_an_error),
        cmocka_unit_test_setup_teardown(
            esp_check_macros_log_the_function_and_line_then_return_or_jump, start_capture,
            stop_capture),
        cmocka_unit_test_setup_teardown(
            buffers_are_logged_16_bytes_per_line_in_esp_idfs_three_layouts, start_capture,
            stop_capture),
        cmocka_unit_test_setup_teardown(early_lines_follow_the_default_level_not_the_tags,
                                        start_capture, stop_capture),
        cmocka_unit_test_setup_teardown(log_level_macros_pick_the_letter_at_run_time, start_capture,
                                        stop_capture),
        cmocka_unit_test_setup_teardown(each_tag_keeps_its_own_level_until_star_is_set,
                                        start_capture, stop_capture),
        cmocka_unit_test_setup_teardown(a_log_line_inside_a_critical_section_is_counted_and_said_once,
                                        start_capture, stop_capture),
        cmocka_unit_test_setup_teardown(
            a_log_line_in_an_isr_is_counted_and_the_simulators_own_reports_are_not, start_capture,
            stop_capture),
        cmocka_unit_test_setup_teardown(a_firmware_line_under_a_simulator_tag_is_counted,
                                        start_capture, stop_capture),
        cmocka_unit_test_setup_teardown(log_levels_follow_the_kconfig_options, start_capture,
                                        stop_capture),
        cmocka_unit_test_setup_teardown(a_line_of_level_none_is_never_written, start_capture,
                                        stop_capture),
        cmocka_unit_test_setup_teardown(a_sink_may_log_and_set_levels_itself, start_capture,
                                        stop_capture),
        cmocka_unit_test(esp_rom_printf_writes_to_stdout_at_once),
        cmocka_unit_test(esp_timer_get_time_counts_from_the_first_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
