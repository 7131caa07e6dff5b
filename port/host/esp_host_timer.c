/*
 * esp_host_timer.c - ESP-IDF's esp_timer software timers on the host: one dispatcher thread (the
 * esp_timer task) runs the callbacks in expiry order, as ESP-IDF's esp_timer.c does; the timers
 * themselves are simulated-heap blocks. Argument checks and results are ESP-IDF's.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "esp_heap_caps.h"
#include "esp_timer.h"
#include "freertos_host.h"

#define MIN_PERIOD_US 50 /* esp_timer_impl_get_min_period_us() on the S3 */
#define PERIOD_MASK ((UINT64_C(1) << 56) - 1u) /* the chip keeps a period in 56 bits */

struct esp_timer {
    esp_timer_cb_t callback;
    void *arg;
    const char *name;
    bool skip_unhandled;
    bool armed;
    /* deleted while a callback ran (its own or, from the dispatcher, another's): in the list as
     * ESP-IDF's delete event, at the time of the delete; the dispatcher frees it */
    bool deleted;
    int64_t alarm;
    uint64_t period; /* 0: one-shot */
    struct esp_timer *next; /* armed timers, by alarm */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed; /* on CLOCK_MONOTONIC */
static bool dispatcher_started;
static struct esp_timer *armed_list;
static struct esp_timer *in_call; /* whose callback runs now */
static _Thread_local bool t_dispatcher; /* this thread is the dispatcher */

static void insert(struct esp_timer *t)
{
    struct esp_timer **at = &armed_list;
    while (*at != NULL && (*at)->alarm <= t->alarm) {
        at = &(*at)->next;
    }
    t->next = *at;
    *at = t;
    t->armed = true;
    pthread_cond_signal(&changed);
}

static void unlink_armed(struct esp_timer *t)
{
    for (struct esp_timer **at = &armed_list; *at != NULL; at = &(*at)->next) {
        if (*at == t) {
            *at = t->next;
            break;
        }
    }
    t->armed = false;
    t->next = NULL;
}

/* now + us as ESP-IDF's unsigned sum: past 2^64 it wraps to a time already gone (below now: the
 * timer fires at once, as on the chip); from 2^63 on it is past any time (INT64_MAX: never). */
static int64_t after(int64_t now, uint64_t us)
{
    const uint64_t sum = (uint64_t)now + us;
    return sum >= (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)sum;
}

static uint64_t at_least_min_period(uint64_t us)
{
    return us < MIN_PERIOD_US ? MIN_PERIOD_US : us;
}

/* ESP-IDF's timer_remove(): out of the list, alarm and period 0. */
static void disarm(struct esp_timer *t)
{
    unlink_armed(t);
    t->alarm = 0;
    t->period = 0;
}

/* esp_timer_get_time() microseconds as a CLOCK_MONOTONIC deadline. */
static struct timespec deadline_of(int64_t alarm_us)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t wait_us = alarm_us - esp_timer_get_time();
    if (wait_us < 0) {
        wait_us = 0;
    }
    int64_t ns = now.tv_nsec + (wait_us % 1000000) * 1000;
    return (struct timespec){.tv_sec = now.tv_sec + (time_t)(wait_us / 1000000) + ns / 1000000000,
                             .tv_nsec = (long)(ns % 1000000000)};
}

static void *dispatch(void *unused)
{
    (void)unused;
    (void)fr_service_task(FR_ESP_TIMER_TASK); /* the chip's "esp_timer" task */
    t_dispatcher = true;
    pthread_mutex_lock(&lock);
    /* Blocked (parked) but for its callbacks: on the chip a start, stop or delete only sets the
     * hardware alarm, and the task wakes when one is due; here the thread also wakes to take the
     * new deadline, which no read of its state sees. */
    for (;;) {
        if (armed_list == NULL) {
            fr_service_parked(FR_ESP_TIMER_TASK, true);
            pthread_cond_wait(&changed, &lock);
            continue;
        }
        struct esp_timer *t = armed_list;
        const int64_t now = esp_timer_get_time();
        if (t->alarm > now) {
            const struct timespec until = deadline_of(t->alarm);
            fr_service_parked(FR_ESP_TIMER_TASK, true);
            pthread_cond_timedwait(&changed, &lock, &until);
            continue;
        }
        fr_service_parked(FR_ESP_TIMER_TASK, false); /* before the lock goes: stop() sees it */
        if (t->deleted) { /* freed outside the lock: a heap hook may call esp_timer */
            unlink_armed(t);
            pthread_mutex_unlock(&lock);
            heap_caps_free(t);
            pthread_mutex_lock(&lock);
            continue;
        }
        if (t->period > 0) { /* ESP-IDF's timer_process_alarm() */
            const int64_t late_periods = (now - t->alarm) / (int64_t)t->period;
            unlink_armed(t);
            t->alarm = after(t->skip_unhandled && late_periods > 1 ? now : t->alarm, t->period);
            insert(t);
        } else {
            disarm(t);
        }
        in_call = t;
        const esp_timer_cb_t callback = t->callback;
        void *arg = t->arg;
        pthread_mutex_unlock(&lock);
        callback(arg);
        pthread_mutex_lock(&lock);
        in_call = NULL;
    }
    return NULL;
}

/* The esp_timer task: started once, runs for the process's life. */
static bool start_dispatcher_locked(void)
{
    if (dispatcher_started) {
        return true;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&changed, &attr);
    pthread_condattr_destroy(&attr);
    pthread_t thread;
    if (pthread_create(&thread, NULL, dispatch, NULL) != 0) {
        pthread_cond_destroy(&changed);
        return false;
    }
    pthread_detach(thread);
    dispatcher_started = true;
    return true;
}

esp_err_t esp_timer_create(const esp_timer_create_args_t *args, esp_timer_handle_t *out_handle)
{
    if (args == NULL || args->callback == NULL || out_handle == NULL ||
        args->dispatch_method != ESP_TIMER_TASK) {
        return ESP_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&lock);
    const bool started = start_dispatcher_locked();
    pthread_mutex_unlock(&lock);
    if (!started) {
        return ESP_ERR_NO_MEM;
    }
    struct esp_timer *t = heap_caps_calloc(1, sizeof *t, MALLOC_CAP_8BIT | MALLOC_CAP_INTERNAL);
    if (t == NULL) {
        return ESP_ERR_NO_MEM;
    }
    t->callback = args->callback;
    t->arg = args->arg;
    t->name = args->name;
    t->skip_unhandled = args->skip_unhandled_events;
    *out_handle = t;
    return ESP_OK;
}

static esp_err_t arm(esp_timer_handle_t timer, uint64_t first_us, uint64_t period_us)
{
    if (timer == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    const int64_t now = esp_timer_get_time();
    pthread_mutex_lock(&lock);
    esp_err_t err = ESP_ERR_INVALID_STATE;
    if (!timer->armed) {
        timer->alarm = after(now, first_us);
        timer->period = period_us & PERIOD_MASK;
        insert(timer);
        err = ESP_OK;
    }
    pthread_mutex_unlock(&lock);
    return err;
}

esp_err_t esp_timer_start_once(esp_timer_handle_t timer, uint64_t timeout_us)
{
    return arm(timer, timeout_us, 0);
}

esp_err_t esp_timer_start_periodic(esp_timer_handle_t timer, uint64_t period_us)
{
    period_us = at_least_min_period(period_us);
    return arm(timer, period_us, period_us);
}

esp_err_t esp_timer_restart(esp_timer_handle_t timer, uint64_t timeout_us)
{
    if (timer == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    const int64_t now = esp_timer_get_time();
    pthread_mutex_lock(&lock);
    esp_err_t err = ESP_ERR_INVALID_STATE;
    if (timer->armed && !timer->deleted) {
        unlink_armed(timer);
        if (timer->period > 0) { /* the timeout is the new period */
            timeout_us = at_least_min_period(timeout_us);
            timer->period = timeout_us & PERIOD_MASK;
        }
        timer->alarm = after(now, timeout_us);
        insert(timer);
        err = ESP_OK;
    }
    pthread_mutex_unlock(&lock);
    return err;
}

esp_err_t esp_timer_stop(esp_timer_handle_t timer)
{
    if (timer == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&lock);
    esp_err_t err = ESP_ERR_INVALID_STATE;
    if (timer->armed && !timer->deleted) {
        disarm(timer);
        err = ESP_OK;
    }
    pthread_mutex_unlock(&lock);
    return err;
}

esp_err_t esp_timer_delete(esp_timer_handle_t timer)
{
    if (timer == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&lock);
    esp_err_t err = ESP_ERR_INVALID_STATE;
    bool free_now = false;
    if (!timer->armed) {
        if (timer == in_call || t_dispatcher) {
            /* ESP-IDF's delete event: armed now (a start from the callback is refused), freed by
             * the dispatcher once the running callback returns */
            timer->deleted = true;
            timer->period = 0;
            timer->alarm = esp_timer_get_time();
            insert(timer);
        } else {
            free_now = true; /* the chip's esp_timer task (priority 22) frees it at once */
        }
        err = ESP_OK;
    }
    pthread_mutex_unlock(&lock);
    if (free_now) {
        heap_caps_free(timer);
    }
    return err;
}

bool esp_timer_is_active(esp_timer_handle_t timer)
{
    if (timer == NULL) {
        return false;
    }
    pthread_mutex_lock(&lock);
    const bool armed = timer->armed;
    pthread_mutex_unlock(&lock);
    return armed;
}

esp_err_t esp_timer_get_period(esp_timer_handle_t timer, uint64_t *period)
{
    if (timer == NULL || period == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&lock);
    *period = timer->period;
    pthread_mutex_unlock(&lock);
    return ESP_OK;
}

esp_err_t esp_timer_get_expiry_time(esp_timer_handle_t timer, uint64_t *expiry)
{
    if (timer == NULL || expiry == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&lock);
    const esp_err_t err = timer->period > 0 ? ESP_ERR_NOT_SUPPORTED : ESP_OK;
    if (err == ESP_OK) {
        *expiry = (uint64_t)timer->alarm;
    }
    pthread_mutex_unlock(&lock);
    return err;
}

int64_t esp_timer_get_next_alarm(void)
{
    pthread_mutex_lock(&lock);
    const int64_t next = armed_list != NULL ? armed_list->alarm : INT64_MAX;
    pthread_mutex_unlock(&lock);
    return next;
}

esp_err_t esp_timer_dump(FILE *stream)
{
    enum { LINE = 64 };
    pthread_mutex_lock(&lock);
    size_t count = 0;
    for (const struct esp_timer *t = armed_list; t != NULL; t = t->next) {
        count++;
    }
    pthread_mutex_unlock(&lock);
    /* printed into a buffer first, as ESP-IDF (no printing under the lock); cut if timers came */
    const size_t size = LINE * (count + 1);
    char *text = calloc(1, size);
    if (text == NULL) {
        return ESP_ERR_NO_MEM;
    }
    size_t at = 0;
    pthread_mutex_lock(&lock);
    for (const struct esp_timer *t = armed_list; t != NULL && at + LINE < size; t = t->next) {
        char name[24];
        if (t->name != NULL) {
            snprintf(name, sizeof name, "%s", t->name);
        } else {
            snprintf(name, sizeof name, "timer@%p", (const void *)t);
        }
        at += (size_t)snprintf(text + at, size - at, "%-20s  %-10lld  %-12lld\n", name,
                               (long long)t->period, (long long)t->alarm);
    }
    pthread_mutex_unlock(&lock);
    if (stream != NULL) {
        fprintf(stream, "Timer stats:\n%-20s  %-10s  %-12s\n", "Name", "Period", "Alarm");
        fputs(text, stream);
    }
    free(text);
    return ESP_OK;
}
