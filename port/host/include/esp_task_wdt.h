/*
 * esp_task_wdt.h (host) - ESP-IDF v5.x's task watchdog (TWDT): subscribed tasks and users must
 * reset it within the timeout, or it prints the ones that did not and calls
 * esp_task_wdt_isr_user_handler(), then, with trigger_panic, aborts (the chip panics).
 *
 * Results and the memory taken are ESP-IDF's (components/esp_system/task_wdt/task_wdt.c): the
 * watchdog's object and each subscription are malloc() blocks of the chip's size (16 bytes each),
 * internal RAM as on the chip. With CONFIG_ESP_TASK_WDT_INIT (ESP-IDF's default) the chip's startup
 * has initialised it, with CONFIG_ESP_TASK_WDT_TIMEOUT_S, CONFIG_ESP_TASK_WDT_PANIC and the idle
 * tasks of CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU0/1: the host does the same at each simulated
 * boot (that object and those subscriptions are part of the boot figure: no simulated memory).
 *
 * A host thread plays the timer: when the timeout passes without every subscribed task and user
 * having reset since the last feed, it logs ESP-IDF's lines, counts the timeout
 * (kraken_sim_stats_t.task_wdt_triggers), calls the user handler as a simulated ISR and, with
 * trigger_panic, aborts; otherwise it goes on and triggers again a timeout later, as the chip's
 * timer does. The host's idle tasks never starve (they have no thread): subscribed, they never
 * trigger. A task deleted while subscribed stays subscribed, as on the chip: it triggers, under
 * the name it had when it was subscribed. Without CONFIG_ESP_TASK_WDT_EN (ESP-IDF does not link
 * the API then) every call returns ESP_ERR_NOT_SUPPORTED. docs/simulator.md, "Task watchdog".
 *
 * Each call is thread-safe (one short mutex) and never blocks for long; "isr-ok" below means it
 * may also be called between kraken_sim_isr_enter() and _exit().
 */
#ifndef ESP_TASK_WDT_H_HOST
#define ESP_TASK_WDT_H_HOST

#include <stdbool.h>
#include <stdint.h>

#include "esp_err.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The watchdog's configuration. */
typedef struct {
    uint32_t timeout_ms;     /**< ms without a complete round of resets before it triggers */
    uint32_t idle_core_mask; /**< bit i: subscribe core i's idle task (cores 0 and 1; never
                                  starved on the host) */
    bool trigger_panic;      /**< abort on a timeout (the chip panics and reboots) */
} esp_task_wdt_config_t;

/** A subscribed user (esp_task_wdt_add_user()): the address of its 16-byte entry. */
typedef struct esp_task_wdt_user_handle_s *esp_task_wdt_user_handle_t;

/** Initialise the watchdog and subscribe the idle tasks of config->idle_core_mask; it starts
 *  watching with the first subscription. ESP_OK; ESP_ERR_INVALID_ARG (config NULL, a mask bit
 *  above core 1); ESP_ERR_INVALID_STATE (already initialised: with CONFIG_ESP_TASK_WDT_INIT the
 *  boot did it, reconfigure instead); ESP_ERR_NO_MEM (no 16 bytes for its object; no room for an
 *  idle task's entry aborts, as ESP-IDF's ESP_ERROR_CHECK does). task, O(entries). */
esp_err_t esp_task_wdt_init(const esp_task_wdt_config_t *config);

/** New timeout, panic flag and idle tasks for the initialised watchdog; the timeout starts over.
 *  ESP_OK; ESP_ERR_INVALID_ARG (as init); ESP_ERR_INVALID_STATE (not initialised). An idle task's
 *  entry without room aborts (ESP_ERROR_CHECK). task, O(entries). */
esp_err_t esp_task_wdt_reconfigure(const esp_task_wdt_config_t *config);

/** Unsubscribe the idle tasks and free the watchdog, after a timeout being reported (list and
 *  handler) has ended, as the chip's interrupt holds the watchdog's lock meanwhile. ESP_OK;
 *  ESP_ERR_INVALID_STATE (not initialised, or tasks or users still subscribed: then nothing
 *  changes). task, may block (for that report), O(entries). */
esp_err_t esp_task_wdt_deinit(void);

/** Subscribe task_handle (NULL: the calling task): it must call esp_task_wdt_reset() within
 *  every timeout from now on. ESP_OK; ESP_ERR_INVALID_STATE (not initialised); ESP_ERR_INVALID_ARG
 *  (already subscribed); ESP_ERR_NO_MEM (no 16 bytes for its entry). A handle of no live task (a
 *  deleted one) is subscribed as on the chip, with a warning, and reported as "(deleted task)"
 *  (the chip reads its freed TCB). task, O(entries + tasks). */
esp_err_t esp_task_wdt_add(TaskHandle_t task_handle);

/** Subscribe a user (not a task) named user_name, which must stay valid while it is subscribed;
 *  *user_handle_ret gets its handle for esp_task_wdt_reset_user(). The same name may be
 *  subscribed twice (two users). ESP_OK; ESP_ERR_INVALID_ARG (a NULL argument);
 *  ESP_ERR_INVALID_STATE (not initialised); ESP_ERR_NO_MEM (no 16 bytes for its entry).
 *  task, O(entries). */
esp_err_t esp_task_wdt_add_user(const char *user_name, esp_task_wdt_user_handle_t *user_handle_ret);

/** Reset on behalf of the calling task; when every other subscription has reset since the last
 *  feed, this one feeds the watchdog. ESP_OK; ESP_ERR_INVALID_STATE (not initialised);
 *  ESP_ERR_NOT_FOUND (the calling task is not subscribed). isr-ok, O(entries). */
esp_err_t esp_task_wdt_reset(void);

/** esp_task_wdt_reset() on behalf of a user. ESP_OK; ESP_ERR_INVALID_ARG (NULL);
 *  ESP_ERR_INVALID_STATE (not initialised); ESP_ERR_NOT_FOUND (not a subscribed user's handle).
 *  isr-ok, O(entries). */
esp_err_t esp_task_wdt_reset_user(esp_task_wdt_user_handle_t user_handle);

/** Unsubscribe task_handle (NULL: the calling task), also one deleted since. ESP_OK;
 *  ESP_ERR_INVALID_STATE (not initialised); ESP_ERR_NOT_FOUND (not subscribed). task, O(entries). */
esp_err_t esp_task_wdt_delete(TaskHandle_t task_handle);

/** Unsubscribe a user; its handle is invalid afterwards. ESP_OK; ESP_ERR_INVALID_ARG (NULL);
 *  ESP_ERR_INVALID_STATE (not initialised); ESP_ERR_NOT_FOUND (not subscribed). task,
 *  O(entries). */
esp_err_t esp_task_wdt_delete_user(esp_task_wdt_user_handle_t user_handle);

/** Whether task_handle (NULL: the calling task) is subscribed. ESP_OK (it is);
 *  ESP_ERR_NOT_FOUND (it is not); ESP_ERR_INVALID_STATE (not initialised). isr-ok, O(entries). */
esp_err_t esp_task_wdt_status(TaskHandle_t task_handle);

/** Called at each timeout after the list is printed, before a panic, as a simulated ISR
 *  (kraken_sim_isr_enter(): waits are refused, ESP_LOGx lines counted, as ESP-IDF forbids both
 *  there). Weak: define it to handle timeouts. */
void __attribute__((weak)) esp_task_wdt_isr_user_handler(void);

/** A line's part for esp_task_wdt_print_triggered_tasks(). */
typedef void (*task_wdt_msg_handler)(void *opaque, const char *msg);

/** The subscriptions that have not reset since the last feed. msg_handler NULL: logged as
 *  ESP-IDF's "Task watchdog got triggered. The following tasks/users did not reset the watchdog in
 *  time:" then " - <name> (CPU 0)" per entry (CPU 1, or CPU 0/1 for an unpinned task or a user);
 *  else that caption, then "\n - ", the name and " (CPU n)" per entry, each a call of
 *  msg_handler(opaque, part), made without the watchdog's lock. *cpus_fail (when not NULL) gets
 *  the entries' cores or-ed in (bit i: core i). ESP_OK; ESP_FAIL (nothing subscribed, or not
 *  initialised: ESP-IDF crashes then). task, O(entries). */
esp_err_t esp_task_wdt_print_triggered_tasks(task_wdt_msg_handler msg_handler, void *opaque,
                                             int *cpus_fail);

#ifdef __cplusplus
}
#endif
#endif
