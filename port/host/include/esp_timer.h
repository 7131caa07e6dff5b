/*
 * esp_timer.h (host) - esp_timer_get_time() (microseconds since the simulated boot) and ESP-IDF's
 * software timers.
 *
 * Timers run their callbacks one at a time in one dispatcher thread, started by the first
 * esp_timer_create(), which is the FreeRTOS task "esp_timer" (freertos/task.h: counted and listed
 * from boot with the chip's priority 22, core and depth). Each timer is a block of the simulated internal heap,
 * as on the chip (heap_caps_calloc, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT): delete timers before
 * kraken_sim_reset(). A callback must not block; it may start, stop or delete timers, its own too.
 * Not on the host: the ISR dispatch method (ESP_TIMER_ISR needs
 * CONFIG_ESP_TIMER_SUPPORTS_ISR_DISPATCH_METHOD), the *_at variants, esp_timer_stop_blocking,
 * light-sleep wake-up alarms, ETM events.
 */
#ifndef ESP_TIMER_H_HOST
#define ESP_TIMER_H_HOST

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct esp_timer *esp_timer_handle_t;
typedef void (*esp_timer_cb_t)(void *arg);

typedef enum {
    ESP_TIMER_TASK, /**< callback runs in the esp_timer task (the dispatcher thread) */
    ESP_TIMER_MAX,
} esp_timer_dispatch_t;

typedef struct {
    esp_timer_cb_t callback;              /**< called at each expiry */
    void *arg;                            /**< its argument */
    esp_timer_dispatch_t dispatch_method; /**< ESP_TIMER_TASK */
    const char *name;                     /**< for esp_timer_dump() */
    bool skip_unhandled_events;           /**< periodic: after a late expiry, one call, not one per
                                               missed period */
} esp_timer_create_args_t;

/** Microseconds since the simulated boot (the first call). isr-ok, O(1). */
int64_t esp_timer_get_time(void);

/** A stopped timer in *out_handle. ESP_ERR_INVALID_ARG (args, its callback or out_handle NULL, a
 *  dispatch method other than ESP_TIMER_TASK), ESP_ERR_NO_MEM (no internal heap for it, or no
 *  dispatcher thread). task, O(1). */
esp_err_t esp_timer_create(const esp_timer_create_args_t *create_args,
                           esp_timer_handle_t *out_handle);
/** Call back once, timeout_us from now. ESP_ERR_INVALID_ARG (NULL), ESP_ERR_INVALID_STATE
 *  (already running). isr-ok (never blocks), O(timers). */
esp_err_t esp_timer_start_once(esp_timer_handle_t timer, uint64_t timeout_us);
/** Call back every period_us from now on (at least 50 us, the chip's minimum: a shorter period is
 *  raised to it, as ESP-IDF does; the chip keeps 56 bits of it, so UINT64_MAX calls back at once
 *  and then in 2^56 - 1 us). ESP_ERR_INVALID_ARG (NULL), ESP_ERR_INVALID_STATE (already
 *  running). isr-ok, O(timers). */
esp_err_t esp_timer_start_periodic(esp_timer_handle_t timer, uint64_t period_us);
/** A running timer starts over: next expiry timeout_us from now (a periodic one takes it as its
 *  new period, at least 50 us). ESP_ERR_INVALID_ARG (NULL), ESP_ERR_INVALID_STATE (not running).
 *  isr-ok, O(timers). */
esp_err_t esp_timer_restart(esp_timer_handle_t timer, uint64_t timeout_us);
/** No more calls (one already running in the dispatcher finishes). ESP_ERR_INVALID_ARG (NULL),
 *  ESP_ERR_INVALID_STATE (not running). isr-ok, O(timers). */
esp_err_t esp_timer_stop(esp_timer_handle_t timer);
/** Free a stopped timer. While a callback runs (the timer's own, or any when called from a
 *  callback) the free is ESP-IDF's delete event: the timer counts as started until the
 *  dispatcher frees it after that callback returns, so starting, stopping or deleting it again
 *  gets ESP_ERR_INVALID_STATE (the chip's stop or restart would take the event out and leak
 *  it). Otherwise it is freed before the call returns (on the chip the esp_timer task, at
 *  priority 22, does it at once). Never blocks. ESP_ERR_INVALID_ARG (NULL),
 *  ESP_ERR_INVALID_STATE (running: stop it first). task, O(timers). */
esp_err_t esp_timer_delete(esp_timer_handle_t timer);
/** True while the timer is started. isr-ok, O(1). */
bool esp_timer_is_active(esp_timer_handle_t timer);
/** The period (0 for a one-shot or stopped timer). ESP_ERR_INVALID_ARG (NULL). isr-ok, O(1). */
esp_err_t esp_timer_get_period(esp_timer_handle_t timer, uint64_t *period);
/** When a one-shot timer expires (esp_timer_get_time() time base; 0 once stopped or expired).
 *  ESP_ERR_INVALID_ARG (NULL), ESP_ERR_NOT_SUPPORTED (a periodic timer). isr-ok, O(1). */
esp_err_t esp_timer_get_expiry_time(esp_timer_handle_t timer, uint64_t *expiry);
/** The nearest expiry of all running timers, INT64_MAX when none runs. isr-ok, O(1). */
int64_t esp_timer_get_next_alarm(void);
/** "Timer stats:" then name, period and next alarm of each running timer: ESP-IDF's lines
 *  without profiling, plus the name (which ESP-IDF prints only with CONFIG_ESP_TIMER_PROFILING).
 *  ESP_ERR_NO_MEM when its buffer cannot be had. task, O(timers). */
esp_err_t esp_timer_dump(FILE *stream);

#ifdef __cplusplus
}
#endif
#endif
