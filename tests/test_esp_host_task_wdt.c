/* test_esp_host_task_wdt.c - ESP-IDF's task watchdog (esp_task_wdt.h) on the host. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "capture_output.h"
#include "esp_heap_caps.h"
#include "esp_log.h"
#include "esp_task_wdt.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "freertos_refusals.h"
#include "freertos_test_support.h"
#include "kraken_sim.h"
#include "sim_internal.h"

#define ENTRY_BYTES 16u /* sizeof(twdt_entry_t), sizeof(twdt_obj_t) on the S3 */

/* Kconfig leaves a bool that is off undefined. */
#ifndef CONFIG_ESP_TASK_WDT_EN
#define CONFIG_ESP_TASK_WDT_EN 0
#endif
#ifndef CONFIG_ESP_TASK_WDT_INIT
#define CONFIG_ESP_TASK_WDT_INIT 0
#endif
#ifndef CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU0
#define CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU0 0
#endif
#ifndef CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU1
#define CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU1 0
#endif

/* ---- what the watchdog did ------------------------------------------------------------------ */

static uint64_t triggers(void)
{
    kraken_sim_stats_t s;
    kraken_sim_get_stats(&s);
    return s.task_wdt_triggers;
}

/* The user handler: how often, and whether each call was a simulated ISR. */
static atomic_int handler_calls, handler_outside_isr;

void esp_task_wdt_isr_user_handler(void)
{
    atomic_fetch_add(&handler_calls, 1);
    if (!sim_in_isr()) {
        atomic_fetch_add(&handler_outside_isr, 1);
    }
}

/* Log lines of every thread (the watcher's included), under a lock of the test's own. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[16384];
static size_t log_len;

__attribute__((format(printf, 1, 0))) static int keep_line(const char *format, va_list args)
{
    pthread_mutex_lock(&log_lock);
    const size_t room = sizeof log_text - log_len;
    const int n = vsnprintf(log_text + log_len, room, format, args);
    if (n > 0) {
        log_len += (size_t)n < room ? (size_t)n : room - 1;
    }
    pthread_mutex_unlock(&log_lock);
    return n;
}

static void log_begin(void)
{
    pthread_mutex_lock(&log_lock);
    log_len = 0;
    log_text[0] = '\0';
    pthread_mutex_unlock(&log_lock);
    esp_log_set_vprintf(keep_line);
}

/* True when the kept lines contain `text`. */
static bool logged(const char *text)
{
    pthread_mutex_lock(&log_lock);
    const bool found = strstr(log_text, text) != NULL;
    pthread_mutex_unlock(&log_lock);
    return found;
}

/* esp_task_wdt_print_triggered_tasks()'s parts, joined. */
typedef struct {
    char text[512];
} parts_t;

static void join(void *opaque, const char *msg)
{
    parts_t *p = opaque;
    strncat(p->text, msg, sizeof p->text - strlen(p->text) - 1);
}

static const char CAPTION[] = "Task watchdog got triggered. The following tasks/users did not "
                              "reset the watchdog in time:";

/* ---- setup ---------------------------------------------------------------------------------- */

static size_t internal_free(void)
{
    return heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
}

/* What one calloc(1, 16) takes, as ESP-IDF's entries and object are. */
static size_t calloc_cost(void)
{
    const size_t at = internal_free();
    void *probe = calloc(1, ENTRY_BYTES);
    assert_non_null(probe);
    const size_t one = at - internal_free();
    free(probe);
    assert_in_range(one, ENTRY_BYTES, ENTRY_BYTES + 16);
    return one;
}

/* Asked quietly: status logs "TWDT was never initialized" before init. */
static bool is_initialised(void)
{
    const esp_log_level_t level = esp_log_level_get("task_wdt");
    esp_log_level_set("task_wdt", ESP_LOG_NONE);
    const esp_err_t status = esp_task_wdt_status(xTaskGetIdleTaskHandleForCore(0));
    const bool yes = status != ESP_ERR_INVALID_STATE && status != ESP_ERR_NOT_SUPPORTED;
    esp_log_level_set("task_wdt", level);
    return yes;
}

/* The watchdog as this test wants it, whatever the boot did. */
static void fresh(uint32_t timeout_ms, bool panic)
{
    if (is_initialised()) {
        assert_int_equal(esp_task_wdt_deinit(), ESP_OK);
    }
    const esp_task_wdt_config_t config = {.timeout_ms = timeout_ms, .trigger_panic = panic};
    assert_int_equal(esp_task_wdt_init(&config), ESP_OK);
}

static int boot(void **state)
{
    (void)state;
    atomic_store(&handler_calls, 0);
    atomic_store(&handler_outside_isr, 0);
    refusals_rebooted();
    return kraken_sim_reset() == ESP_OK ? 0 : -1;
}

/* Each test unsubscribes what it subscribed: the deinit must succeed (it also waits for a timeout
 * being reported), and no FreeRTOS call was refused. */
static int all_unsubscribed(void **state)
{
    (void)state;
    esp_log_set_vprintf(NULL);
    if (is_initialised() && esp_task_wdt_deinit() != ESP_OK) {
        return -1;
    }
    return unasserted_refusals() == 0 ? 0 : -1;
}

/* Polls until the watchdog has triggered n times (PATIENCE_TICKS at most). */
static bool triggered(uint64_t n)
{
    WAIT_FOR(triggers() >= n);
    return triggers() >= n;
}

/* ---- a panic: first, while the program has no thread but main (TSan cannot start one in the
 * child of a program that has) --------------------------------------------------------------- */

static void stop_resetting_with_panic(void *arg)
{
    (void)arg;
    fresh(20, true);
    assert_int_equal(esp_task_wdt_add(NULL), ESP_OK);
    vTaskDelay(PATIENCE_TICKS); /* never resets: the watchdog aborts the program meanwhile */
    printf("still running\n");
}

static void with_trigger_panic_a_timeout_aborts_the_program(void **state)
{
    (void)state;
    static char out[4096];
    const int status = capture_output_of_child(STDOUT_FILENO, stop_resetting_with_panic, NULL,
                                               out, sizeof out);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(out, CAPTION));
    assert_non_null(strstr(out, CONFIG_ESP_MAIN_TASK_AFFINITY == 0   ? " - main (CPU 0)"
                                : CONFIG_ESP_MAIN_TASK_AFFINITY == 1 ? " - main (CPU 1)"
                                                                     : " - main (CPU 0/1)"));
    assert_non_null(strstr(out, "task_wdt: Aborting."));
    assert_null(strstr(out, "still running"));
}

/* ---- the API's answers ---------------------------------------------------------------------- */

static void the_boot_initialises_the_watchdog_as_the_sdkconfig_says(void **state)
{
    (void)state;
    const esp_task_wdt_config_t config = {.timeout_ms = 1000};
#if CONFIG_ESP_TASK_WDT_INIT
    assert_int_equal(esp_task_wdt_init(&config), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_task_wdt_status(xTaskGetIdleTaskHandleForCore(0)),
                     CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU0 ? ESP_OK : ESP_ERR_NOT_FOUND);
    assert_int_equal(esp_task_wdt_status(xTaskGetIdleTaskHandleForCore(1)),
                     CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU1 ? ESP_OK : ESP_ERR_NOT_FOUND);
    assert_int_equal(esp_task_wdt_status(NULL), ESP_ERR_NOT_FOUND);
    /* A refused deinit leaves the boot's idle entries alone (no new blocks for them). */
    assert_int_equal(esp_task_wdt_add(NULL), ESP_OK);
    const size_t subscribed = internal_free();
    assert_int_equal(esp_task_wdt_deinit(), ESP_ERR_INVALID_STATE);
    assert_int_equal(internal_free(), subscribed);
    assert_int_equal(esp_task_wdt_delete(NULL), ESP_OK);
    /* Boot memory: deinit gives nothing back, a new init takes its 16 bytes. */
    const size_t before = internal_free();
    assert_int_equal(esp_task_wdt_deinit(), ESP_OK);
    assert_int_equal(internal_free(), before);
#else
    assert_int_equal(esp_task_wdt_status(NULL), ESP_ERR_INVALID_STATE);
#endif
    assert_int_equal(esp_task_wdt_init(&config), ESP_OK);
    assert_int_equal(esp_task_wdt_init(&config), ESP_ERR_INVALID_STATE);
    /* A reboot brings the boot's watchdog back. */
    assert_int_equal(kraken_sim_reset(), ESP_OK);
    refusals_rebooted();
    assert_int_equal(esp_task_wdt_status(NULL),
                     CONFIG_ESP_TASK_WDT_INIT ? ESP_ERR_NOT_FOUND : ESP_ERR_INVALID_STATE);
}

static void every_call_before_init_returns_invalid_state(void **state)
{
    (void)state;
    if (is_initialised()) {
        assert_int_equal(esp_task_wdt_deinit(), ESP_OK);
    }
    int handle_storage = 0;
    esp_task_wdt_user_handle_t user = (esp_task_wdt_user_handle_t)(void *)&handle_storage;
    const esp_task_wdt_config_t config = {.timeout_ms = 1000};
    assert_int_equal(esp_task_wdt_add(NULL), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_task_wdt_add_user("u", &user), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_task_wdt_reset(), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_task_wdt_reset_user(user), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_task_wdt_delete(NULL), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_task_wdt_delete_user(user), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_task_wdt_status(NULL), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_task_wdt_reconfigure(&config), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_task_wdt_deinit(), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_task_wdt_print_triggered_tasks(NULL, NULL, NULL), ESP_FAIL);
}

static void bad_arguments_and_a_second_subscription_return_invalid_arg(void **state)
{
    (void)state;
    assert_int_equal(esp_task_wdt_init(NULL), ESP_ERR_INVALID_ARG);
    const esp_task_wdt_config_t core2 = {.timeout_ms = 1000, .idle_core_mask = 4};
    assert_int_equal(esp_task_wdt_init(&core2), ESP_ERR_INVALID_ARG);
    fresh(10000, false);
    assert_int_equal(esp_task_wdt_reconfigure(NULL), ESP_ERR_INVALID_ARG);
    assert_int_equal(esp_task_wdt_reconfigure(&core2), ESP_ERR_INVALID_ARG);
    esp_task_wdt_user_handle_t user = NULL;
    assert_int_equal(esp_task_wdt_add_user(NULL, &user), ESP_ERR_INVALID_ARG);
    assert_int_equal(esp_task_wdt_add_user("u", NULL), ESP_ERR_INVALID_ARG);
    assert_null(user);
    assert_int_equal(esp_task_wdt_reset_user(NULL), ESP_ERR_INVALID_ARG);
    assert_int_equal(esp_task_wdt_delete_user(NULL), ESP_ERR_INVALID_ARG);

    const size_t before = internal_free();
    assert_int_equal(esp_task_wdt_add(NULL), ESP_OK);
    const size_t subscribed = internal_free();
    assert_int_equal(esp_task_wdt_add(xTaskGetCurrentTaskHandle()), ESP_ERR_INVALID_ARG);
    assert_int_equal(internal_free(), subscribed); /* its entry freed again */
    assert_int_equal(esp_task_wdt_status(NULL), ESP_OK);
    assert_int_equal(esp_task_wdt_delete(NULL), ESP_OK);
    assert_int_equal(internal_free(), before);
}

static void a_task_or_user_not_subscribed_gets_not_found(void **state)
{
    (void)state;
    fresh(10000, false);
    log_begin();
    assert_int_equal(esp_task_wdt_reset(), ESP_ERR_NOT_FOUND);
    assert_int_equal(esp_task_wdt_status(NULL), ESP_ERR_NOT_FOUND);
    assert_int_equal(esp_task_wdt_delete(NULL), ESP_ERR_NOT_FOUND);
    /* ESP_GOTO_ON_FALSE_ISR's lines, as each of ESP-IDF's: the function and a line number */
    assert_true(logged("task_wdt: delete_entry("));
    assert_true(logged("): task not found"));
    assert_int_equal(esp_task_wdt_add(NULL), ESP_OK);
    assert_int_equal(esp_task_wdt_add(NULL), ESP_ERR_INVALID_ARG);
    assert_true(logged("task_wdt: add_entry("));
    assert_true(logged("): task is already subscribed"));
    assert_int_equal(esp_task_wdt_delete(NULL), ESP_OK);
    esp_task_wdt_user_handle_t user = NULL;
    assert_int_equal(esp_task_wdt_add_user("gone", &user), ESP_OK);
    assert_non_null(user);
    assert_int_equal(esp_task_wdt_reset_user(user), ESP_OK);
    assert_int_equal(esp_task_wdt_delete_user(user), ESP_OK);
    assert_int_equal(esp_task_wdt_reset_user(user), ESP_ERR_NOT_FOUND);
    assert_int_equal(esp_task_wdt_delete_user(user), ESP_ERR_NOT_FOUND);
    assert_true(logged("): user not found"));
    /* a user is not a task: its handle is not found among them, nor a task's among users */
    assert_int_equal(esp_task_wdt_status((TaskHandle_t)(void *)user), ESP_ERR_NOT_FOUND);
}

static void deinit_is_refused_while_a_task_or_user_is_subscribed(void **state)
{
    (void)state;
    fresh(10000, false);
    assert_int_equal(esp_task_wdt_add(NULL), ESP_OK);
    assert_int_equal(esp_task_wdt_deinit(), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_task_wdt_status(NULL), ESP_OK);
    assert_int_equal(esp_task_wdt_delete(NULL), ESP_OK);
    esp_task_wdt_user_handle_t user = NULL;
    assert_int_equal(esp_task_wdt_add_user("u", &user), ESP_OK);
    assert_int_equal(esp_task_wdt_deinit(), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_task_wdt_delete_user(user), ESP_OK);
    assert_int_equal(esp_task_wdt_deinit(), ESP_OK);
}

static void the_watchdog_and_each_subscription_take_a_16_byte_block_of_internal_ram(void **state)
{
    (void)state;
    if (is_initialised()) {
        assert_int_equal(esp_task_wdt_deinit(), ESP_OK);
    }
    const size_t one = calloc_cost();

    kraken_sim_stats_t s0, s1;
    kraken_sim_get_stats(&s0);
    const size_t start = internal_free();
    const esp_task_wdt_config_t config = {.timeout_ms = 10000, .idle_core_mask = 3};
    assert_int_equal(esp_task_wdt_init(&config), ESP_OK); /* object and two idle entries */
    assert_int_equal(start - internal_free(), 3 * one);
    const size_t at = internal_free();
    assert_int_equal(esp_task_wdt_add(NULL), ESP_OK);
    assert_int_equal(at - internal_free(), one);
    esp_task_wdt_user_handle_t user = NULL;
    assert_int_equal(esp_task_wdt_add_user("u", &user), ESP_OK);
    assert_int_equal(at - internal_free(), 2 * one);
    kraken_sim_get_stats(&s1);
    assert_int_equal(s1.allocations - s0.allocations, 5);

    assert_int_equal(esp_task_wdt_delete_user(user), ESP_OK);
    assert_int_equal(esp_task_wdt_delete(NULL), ESP_OK);
    assert_int_equal(internal_free(), at);
    assert_int_equal(esp_task_wdt_deinit(), ESP_OK);
    assert_int_equal(internal_free(), start);
}

static void no_room_for_an_entry_gives_no_mem_and_subscribes_nothing(void **state)
{
    (void)state;
    fresh(10000, false);
    /* two attempts: malloc() may try internal RAM, then any (CONFIG_SPIRAM_USE_MALLOC) */
    kraken_sim_fail_next(0, 2);
    assert_int_equal(esp_task_wdt_add(NULL), ESP_ERR_NO_MEM);
    kraken_sim_fault_clear();
    assert_int_equal(esp_task_wdt_status(NULL), ESP_ERR_NOT_FOUND);
    esp_task_wdt_user_handle_t user = NULL;
    kraken_sim_fail_next(0, 2);
    assert_int_equal(esp_task_wdt_add_user("u", &user), ESP_ERR_NO_MEM);
    kraken_sim_fault_clear();
    assert_null(user);
    assert_int_equal(esp_task_wdt_deinit(), ESP_OK);
    const esp_task_wdt_config_t config = {.timeout_ms = 1000};
    kraken_sim_fail_next(0, 2);
    assert_int_equal(esp_task_wdt_init(&config), ESP_ERR_NO_MEM);
    kraken_sim_fault_clear();
    assert_int_equal(esp_task_wdt_status(NULL), ESP_ERR_INVALID_STATE);
}

/* ---- feeding ------------------------------------------------------------------------------- */

static void the_watchdog_is_fed_only_when_every_subscription_has_reset(void **state)
{
    (void)state;
    fresh(10000, false);
    esp_task_wdt_user_handle_t a = NULL, b = NULL;
    assert_int_equal(esp_task_wdt_add_user("user-a", &a), ESP_OK);
    assert_int_equal(esp_task_wdt_add_user("user-b", &b), ESP_OK);
    assert_int_equal(esp_task_wdt_reset_user(a), ESP_OK);
    assert_int_equal(esp_task_wdt_reset_user(a), ESP_OK);
    parts_t p = {{0}};
    int cpus = 0;
    assert_int_equal(esp_task_wdt_print_triggered_tasks(join, &p, &cpus), ESP_OK);
    char want[256];
    snprintf(want, sizeof want, "%s\n - user-b (CPU 0/1)", CAPTION); /* a has reset, b not */
    assert_string_equal(p.text, want);
    assert_int_equal(cpus, 3);
    /* b resets last: a feed, after which both must reset again */
    assert_int_equal(esp_task_wdt_reset_user(b), ESP_OK);
    p = (parts_t){{0}};
    assert_int_equal(esp_task_wdt_print_triggered_tasks(join, &p, NULL), ESP_OK);
    snprintf(want, sizeof want, "%s\n - user-b (CPU 0/1)\n - user-a (CPU 0/1)", CAPTION);
    assert_string_equal(p.text, want);
    /* without a handler: ESP-IDF's lines in the log */
    log_begin();
    assert_int_equal(esp_task_wdt_print_triggered_tasks(NULL, NULL, NULL), ESP_OK);
    assert_true(logged("task_wdt: Task watchdog got triggered."));
    assert_true(logged("task_wdt:  - user-a (CPU 0/1)\n"));
    assert_int_equal(esp_task_wdt_delete_user(a), ESP_OK);
    assert_int_equal(esp_task_wdt_delete_user(b), ESP_OK);
    assert_int_equal(esp_task_wdt_print_triggered_tasks(join, &p, NULL), ESP_FAIL); /* none */
}

static void sleeper(void *arg)
{
    (void)arg;
    vTaskSuspend(NULL);
}

static void a_pinned_task_is_listed_with_its_core(void **state)
{
    (void)state;
    fresh(10000, false);
    TaskHandle_t pinned = NULL;
    /* subscribed by handle: its name and core as the chip prints them */
    assert_int_equal(xTaskCreatePinnedToCore(sleeper, "pinned", 2048, NULL, 1, &pinned, 1), pdPASS);
    assert_int_equal(esp_task_wdt_add(pinned), ESP_OK);
    assert_int_equal(esp_task_wdt_status(pinned), ESP_OK);
    parts_t p = {{0}};
    int cpus = 0;
    assert_int_equal(esp_task_wdt_print_triggered_tasks(join, &p, &cpus), ESP_OK);
    assert_non_null(strstr(p.text, "\n - pinned (CPU 1)"));
    assert_int_equal(cpus, 2);
    assert_int_equal(esp_task_wdt_delete(pinned), ESP_OK);
    vTaskDelete(pinned);
}

/* ---- timeouts ------------------------------------------------------------------------------ */

typedef struct {
    SemaphoreHandle_t done;
    int resets;         /* how many to make, one a tick */
    bool stay;          /* then stay subscribed without resetting (until deleted) */
    atomic_int failures; /* calls that did not answer ESP_OK */
} worker_t;

static void worker(void *arg)
{
    worker_t *w = arg;
    if (esp_task_wdt_add(NULL) != ESP_OK) {
        atomic_fetch_add(&w->failures, 1);
    }
    for (int i = 0; i < w->resets; i++) {
        if (esp_task_wdt_reset() != ESP_OK || esp_task_wdt_status(NULL) != ESP_OK) {
            atomic_fetch_add(&w->failures, 1);
        }
        vTaskDelay(1);
    }
    if (!w->stay && esp_task_wdt_delete(NULL) != ESP_OK) {
        atomic_fetch_add(&w->failures, 1);
    }
    xSemaphoreGive(w->done);
    vTaskSuspend(NULL);
}

static void a_task_that_stops_resetting_triggers_with_espidfs_lines_and_the_handler(void **state)
{
    (void)state;
    fresh(30, false);
    log_begin();
    worker_t w = {.done = xSemaphoreCreateBinary(), .resets = 3, .stay = true};
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreatePinnedToCore(worker, "stuck", 4096, &w, 1, &task, 0), pdPASS);
    assert_int_equal(xSemaphoreTake(w.done, PATIENCE_TICKS), pdTRUE);
    assert_true(triggered(2)); /* again a timeout later, as the chip's timer */
    assert_int_equal(esp_task_wdt_delete(task), ESP_OK);
    assert_int_equal(esp_task_wdt_deinit(), ESP_OK); /* after the report in progress */
    assert_int_equal(atomic_load(&w.failures), 0);
    assert_true(logged("E ("));
    assert_true(logged(") task_wdt: Task watchdog got triggered. The following tasks/users did not "
                       "reset the watchdog in time:\n"));
    assert_true(logged("task_wdt:  - stuck (CPU 0)\n"));
    assert_true(atomic_load(&handler_calls) >= 2);
    assert_int_equal(atomic_load(&handler_calls), (int)triggers());
    assert_int_equal(atomic_load(&handler_outside_isr), 0);
    vTaskDelete(task);
    vSemaphoreDelete(w.done);
}

static void tasks_and_users_that_keep_resetting_never_trigger(void **state)
{
    (void)state;
    fresh(500, false); /* ten times a reset round's length: margin for a loaded machine */
    worker_t a = {.done = xSemaphoreCreateBinary(), .resets = 60};
    worker_t b = {.done = xSemaphoreCreateBinary(), .resets = 60};
    TaskHandle_t ta = NULL, tb = NULL;
    assert_int_equal(xTaskCreate(worker, "a", 4096, &a, 1, &ta), pdPASS);
    assert_int_equal(xTaskCreate(worker, "b", 4096, &b, 1, &tb), pdPASS);
    esp_task_wdt_user_handle_t user = NULL;
    assert_int_equal(esp_task_wdt_add_user("loop", &user), ESP_OK);
    while (uxSemaphoreGetCount(a.done) == 0 || uxSemaphoreGetCount(b.done) == 0) {
        assert_int_equal(esp_task_wdt_reset_user(user), ESP_OK);
        vTaskDelay(1);
    }
    assert_int_equal(esp_task_wdt_delete_user(user), ESP_OK);
    assert_int_equal(esp_task_wdt_deinit(), ESP_OK);
    assert_int_equal(triggers(), 0);
    assert_int_equal(atomic_load(&a.failures) + atomic_load(&b.failures), 0);
    vTaskDelete(ta);
    vTaskDelete(tb);
    vSemaphoreDelete(a.done);
    vSemaphoreDelete(b.done);
}

static void subscribed_idle_tasks_never_trigger(void **state)
{
    (void)state;
    fresh(20, false);
    const esp_task_wdt_config_t idle = {.timeout_ms = 20, .idle_core_mask = 3};
    assert_int_equal(esp_task_wdt_reconfigure(&idle), ESP_OK);
    assert_int_equal(esp_task_wdt_status(xTaskGetIdleTaskHandleForCore(0)), ESP_OK);
    assert_int_equal(esp_task_wdt_status(xTaskGetIdleTaskHandleForCore(1)), ESP_OK);
    /* the idle tasks alone, watched (a user's subscription has started the watcher thread) */
    esp_task_wdt_user_handle_t user = NULL;
    assert_int_equal(esp_task_wdt_add_user("gone", &user), ESP_OK);
    assert_int_equal(esp_task_wdt_delete_user(user), ESP_OK);
    vTaskDelay(pdMS_TO_TICKS(200)); /* ten timeouts */
    assert_int_equal(triggers(), 0);
    /* a user resetting alone feeds it: the idle tasks' hooks reset all the time */
    const esp_task_wdt_config_t slower = {.timeout_ms = 500, .idle_core_mask = 3};
    assert_int_equal(esp_task_wdt_reconfigure(&slower), ESP_OK);
    assert_int_equal(esp_task_wdt_add_user("lazy", &user), ESP_OK);
    for (int i = 0; i < 100; i++) { /* two timeouts */
        assert_int_equal(esp_task_wdt_reset_user(user), ESP_OK);
        vTaskDelay(1);
    }
    assert_int_equal(triggers(), 0);
    /* when the user stops resetting, it is listed, the idle tasks are not */
    assert_int_equal(esp_task_wdt_reconfigure(&idle), ESP_OK);
    assert_true(triggered(1));
    parts_t p = {{0}};
    assert_int_equal(esp_task_wdt_print_triggered_tasks(join, &p, NULL), ESP_OK);
    assert_non_null(strstr(p.text, "lazy"));
    assert_null(strstr(p.text, "IDLE"));
    assert_int_equal(esp_task_wdt_delete_user(user), ESP_OK);
    const esp_task_wdt_config_t none = {.timeout_ms = 20};
    assert_int_equal(esp_task_wdt_reconfigure(&none), ESP_OK);
    assert_int_equal(esp_task_wdt_status(xTaskGetIdleTaskHandleForCore(0)), ESP_ERR_NOT_FOUND);
}

static void reconfigure_sets_a_new_timeout_and_starts_it_over(void **state)
{
    (void)state;
    fresh(60000, false);
    esp_task_wdt_user_handle_t user = NULL;
    assert_int_equal(esp_task_wdt_add_user("silent", &user), ESP_OK);
    vTaskDelay(pdMS_TO_TICKS(100));
    assert_int_equal(triggers(), 0);
    const esp_task_wdt_config_t shorter = {.timeout_ms = 20};
    assert_int_equal(esp_task_wdt_reconfigure(&shorter), ESP_OK);
    assert_true(triggered(1));
    assert_int_equal(esp_task_wdt_delete_user(user), ESP_OK);
}

static void a_deleted_task_still_subscribed_keeps_triggering_under_its_name(void **state)
{
    (void)state;
    fresh(30, false);
    worker_t w = {.done = xSemaphoreCreateBinary(), .resets = 1, .stay = true};
    TaskHandle_t task = NULL;
    const UBaseType_t tasks = uxTaskGetNumberOfTasks();
    assert_int_equal(xTaskCreate(worker, "doomed", 4096, &w, 1, &task), pdPASS);
    assert_int_equal(xSemaphoreTake(w.done, PATIENCE_TICKS), pdTRUE);
    vTaskDelete(task);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks);
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks);
    const uint64_t before = triggers();
    assert_true(triggered(before + 1)); /* the chip goes on watching the dead handle */
    parts_t p = {{0}};
    assert_int_equal(esp_task_wdt_print_triggered_tasks(join, &p, NULL), ESP_OK);
    assert_non_null(strstr(p.text, "\n - doomed (CPU 0/1)"));
    assert_int_equal(esp_task_wdt_status(task), ESP_OK);
    assert_int_equal(esp_task_wdt_delete(task), ESP_OK); /* how firmware stops it */
    assert_int_equal(atomic_load(&w.failures), 0);
    vSemaphoreDelete(w.done);
}

static void ends_at_once(void *arg)
{
    (void)arg;
    vTaskDelete(NULL);
}

/* The chip stores the pointer of a deleted task and reads its freed TCB when it reports it; the
 * host stores it too, never reads it (ASan would see), warns, and reports it by what it is. */
static void a_deleted_tasks_handle_is_subscribed_without_being_read(void **state)
{
    (void)state;
    fresh(10000, false);
    log_begin();
    const UBaseType_t tasks = uxTaskGetNumberOfTasks();
    TaskHandle_t gone = NULL;
    assert_int_equal(xTaskCreate(ends_at_once, "gone", 2048, NULL, 1, &gone), pdPASS);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks);
    vTaskDelay(2); /* its thread has ended and freed its record */
    assert_int_equal(esp_task_wdt_add(gone), ESP_OK);
    assert_true(logged("no live task (deleted?)"));
    assert_int_equal(esp_task_wdt_status(gone), ESP_OK);
    parts_t p = {{0}};
    int cpus = 0;
    assert_int_equal(esp_task_wdt_print_triggered_tasks(join, &p, &cpus), ESP_OK);
    assert_non_null(strstr(p.text, "\n - (deleted task) (CPU 0/1)"));
    assert_null(strstr(p.text, "gone"));
    assert_int_equal(cpus, 3);
    assert_int_equal(esp_task_wdt_delete(gone), ESP_OK);
    /* A live task's handle is read as ever, without the warning. */
    log_begin();
    assert_int_equal(esp_task_wdt_add(NULL), ESP_OK);
    assert_false(logged("no live task"));
    assert_int_equal(esp_task_wdt_delete(NULL), ESP_OK);
}

/* ---- threads ------------------------------------------------------------------------------- */

enum { STRESS_TASKS = 4, STRESS_ROUNDS = 200 };

static void stress_worker(void *arg)
{
    worker_t *w = arg;
    if (esp_task_wdt_add(NULL) != ESP_OK) {
        atomic_fetch_add(&w->failures, 1);
    }
    for (int i = 0; i < w->resets; i++) {
        if (esp_task_wdt_reset() != ESP_OK) {
            atomic_fetch_add(&w->failures, 1);
        }
        if (i % 16 == 0) {
            vTaskDelay(1);
        }
    }
    if (esp_task_wdt_delete(NULL) != ESP_OK || esp_task_wdt_status(NULL) != ESP_ERR_NOT_FOUND) {
        atomic_fetch_add(&w->failures, 1);
    }
    xSemaphoreGive(w->done);
    vTaskSuspend(NULL);
}

static void tasks_resetting_while_users_come_and_go_and_the_watchdog_checks(void **state)
{
    (void)state;
    fresh(5, false); /* it checks all the time; timeouts may happen, each is reported whole */
    esp_log_level_set("task_wdt", ESP_LOG_NONE);
    const size_t start = internal_free();
    worker_t w[STRESS_TASKS];
    TaskHandle_t t[STRESS_TASKS];
    for (int i = 0; i < STRESS_TASKS; i++) {
        w[i] = (worker_t){.done = xSemaphoreCreateBinary(), .resets = STRESS_ROUNDS * 16};
        assert_int_equal(xTaskCreate(stress_worker, "stress", 4096, &w[i], 1, &t[i]), pdPASS);
    }
    bool all_done = false;
    for (int round = 0; !all_done; round++) {
        esp_task_wdt_user_handle_t user = NULL;
        assert_int_equal(esp_task_wdt_add_user("churn", &user), ESP_OK);
        assert_int_equal(esp_task_wdt_reset_user(user), ESP_OK);
        assert_int_equal(esp_task_wdt_delete_user(user), ESP_OK);
        int cpus = 0;
        (void)esp_task_wdt_print_triggered_tasks(join, &(parts_t){{0}}, &cpus);
        all_done = true;
        for (int i = 0; i < STRESS_TASKS; i++) {
            all_done &= uxSemaphoreGetCount(w[i].done) == 1;
        }
    }
    assert_int_equal(esp_task_wdt_deinit(), ESP_OK);
    for (int i = 0; i < STRESS_TASKS; i++) {
        assert_int_equal(atomic_load(&w[i].failures), 0);
        vTaskDelete(t[i]);
        vSemaphoreDelete(w[i].done);
    }
    const size_t after = start + calloc_cost(); /* the object's block went too */
    WAIT_FOR(internal_free() == after);
    assert_int_equal(internal_free(), after);
    assert_int_equal(atomic_load(&handler_calls), (int)triggers());
    esp_log_level_set("task_wdt", (esp_log_level_t)CONFIG_LOG_DEFAULT_LEVEL);
}

/* ---- CONFIG_ESP_TASK_WDT_EN off (tests/configs/limits.defaults) ---------------------------- */

/* ESP-IDF does not link the API then; the host's calls answer ESP_ERR_NOT_SUPPORTED, take no
 * memory, and nothing watches. */
static void without_the_option_every_call_returns_not_supported(void **state)
{
    (void)state;
    const size_t before = internal_free();
    int handle_storage = 0;
    esp_task_wdt_user_handle_t user = (esp_task_wdt_user_handle_t)(void *)&handle_storage;
    const esp_task_wdt_config_t config = {.timeout_ms = 10};
    assert_int_equal(esp_task_wdt_init(&config), ESP_ERR_NOT_SUPPORTED);
    assert_int_equal(esp_task_wdt_reconfigure(&config), ESP_ERR_NOT_SUPPORTED);
    assert_int_equal(esp_task_wdt_add(NULL), ESP_ERR_NOT_SUPPORTED);
    assert_int_equal(esp_task_wdt_add_user("u", &user), ESP_ERR_NOT_SUPPORTED);
    assert_ptr_equal(user, (void *)&handle_storage); /* untouched */
    assert_int_equal(esp_task_wdt_reset(), ESP_ERR_NOT_SUPPORTED);
    assert_int_equal(esp_task_wdt_reset_user(user), ESP_ERR_NOT_SUPPORTED);
    assert_int_equal(esp_task_wdt_status(NULL), ESP_ERR_NOT_SUPPORTED);
    assert_int_equal(esp_task_wdt_status(xTaskGetIdleTaskHandleForCore(0)), ESP_ERR_NOT_SUPPORTED);
    assert_int_equal(esp_task_wdt_delete(NULL), ESP_ERR_NOT_SUPPORTED);
    assert_int_equal(esp_task_wdt_delete_user(user), ESP_ERR_NOT_SUPPORTED);
    assert_int_equal(esp_task_wdt_print_triggered_tasks(NULL, NULL, NULL), ESP_ERR_NOT_SUPPORTED);
    assert_int_equal(esp_task_wdt_deinit(), ESP_ERR_NOT_SUPPORTED);
    assert_int_equal(internal_free(), before);
    vTaskDelay(pdMS_TO_TICKS(30) + 1); /* three of the timeouts asked for: nothing triggers */
    assert_int_equal(triggers(), 0);
    assert_int_equal(atomic_load(&handler_calls), 0);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, boot, all_unsubscribed)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(with_trigger_panic_a_timeout_aborts_the_program), /* first: see above */
        TEST(the_boot_initialises_the_watchdog_as_the_sdkconfig_says),
        TEST(every_call_before_init_returns_invalid_state),
        TEST(bad_arguments_and_a_second_subscription_return_invalid_arg),
        TEST(a_task_or_user_not_subscribed_gets_not_found),
        TEST(deinit_is_refused_while_a_task_or_user_is_subscribed),
        TEST(the_watchdog_and_each_subscription_take_a_16_byte_block_of_internal_ram),
        TEST(no_room_for_an_entry_gives_no_mem_and_subscribes_nothing),
        TEST(the_watchdog_is_fed_only_when_every_subscription_has_reset),
        TEST(a_pinned_task_is_listed_with_its_core),
        TEST(a_task_that_stops_resetting_triggers_with_espidfs_lines_and_the_handler),
        TEST(tasks_and_users_that_keep_resetting_never_trigger),
        TEST(subscribed_idle_tasks_never_trigger),
        TEST(reconfigure_sets_a_new_timeout_and_starts_it_over),
        TEST(a_deleted_task_still_subscribed_keeps_triggering_under_its_name),
        TEST(a_deleted_tasks_handle_is_subscribed_without_being_read),
        TEST(tasks_resetting_while_users_come_and_go_and_the_watchdog_checks),
    };
    const struct CMUnitTest disabled[] = {
        TEST(without_the_option_every_call_returns_not_supported),
    };
    if (!CONFIG_ESP_TASK_WDT_EN) {
        print_message("CONFIG_ESP_TASK_WDT_EN is off: the watchdog's tests are left out, its "
                      "ESP_ERR_NOT_SUPPORTED answers checked\n");
        return cmocka_run_group_tests(disabled, NULL, NULL);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
