/* test_esp_host_timer.c - ESP-IDF's esp_timer software timers on the host. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "capture_output.h"
#include "esp_heap_caps.h"
#include "esp_memory_utils.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "kraken_sim.h"
#include "sim_internal.h" /* sim_init_with_policy(): heap hooks on */

static void sleep_ms(unsigned ms)
{
    const struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Wait up to 2 s for *counter to reach at least n. */
static bool reaches(atomic_int *counter, int n)
{
    for (int i = 0; i < 2000 && atomic_load(counter) < n; i++) {
        sleep_ms(1);
    }
    return atomic_load(counter) >= n;
}

/* Up to 10 s until the esp_timer task waits again (for an alarm or a start): no callback runs
 * then. A callback seen to have run may still be returning: a timer deleted meanwhile is freed
 * only once it has, and a call under way at a stop may still come. */
static bool dispatcher_waits(void)
{
    const TaskHandle_t task = xTaskGetHandle("esp_timer");
    for (int i = 0; i < 10000 && eTaskGetState(task) != eBlocked; i++) {
        sleep_ms(1);
    }
    return eTaskGetState(task) == eBlocked;
}

static void count(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

static esp_timer_handle_t make(esp_timer_cb_t callback, void *arg, const char *name)
{
    const esp_timer_create_args_t args = {.callback = callback, .arg = arg, .name = name};
    esp_timer_handle_t timer = NULL;
    assert_int_equal(esp_timer_create(&args, &timer), ESP_OK);
    assert_non_null(timer);
    return timer;
}

static void a_one_shot_timer_calls_back_once_after_its_timeout(void **state)
{
    (void)state;
    atomic_int calls = 0;
    const size_t internal = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    esp_timer_handle_t timer = make(count, &calls, "once");
    const int64_t start = esp_timer_get_time();
    assert_int_equal(esp_timer_start_once(timer, 3000), ESP_OK);
    const bool active = esp_timer_is_active(timer);
    uint64_t expiry = 0;
    assert_int_equal(esp_timer_get_expiry_time(timer, &expiry), ESP_OK);
    /* armed, its alarm 3 ms on; unless this thread was preempted past the alarm (a loaded
     * machine): then the esp_timer task may have fired it already, disarmed with no alarm */
    const bool past_alarm = esp_timer_get_time() - start >= 3000;
    assert_true(active || past_alarm);
    assert_true((int64_t)expiry >= start + 3000 || (past_alarm && expiry == 0));
    assert_true(reaches(&calls, 1));
    assert_true(esp_timer_get_time() - start >= 3000);
    sleep_ms(10);
    assert_int_equal(atomic_load(&calls), 1);
    assert_false(esp_timer_is_active(timer));
    assert_int_equal(esp_timer_get_expiry_time(timer, &expiry), ESP_OK);
    assert_int_equal(expiry, 0);
    assert_true(dispatcher_waits());
    assert_int_equal(esp_timer_delete(timer), ESP_OK); /* after its callback: freed at once */
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_INTERNAL), internal);
}

static void a_periodic_timer_calls_back_every_period_until_stopped(void **state)
{
    (void)state;
    atomic_int calls = 0;
    esp_timer_handle_t timer = make(count, &calls, "tick");
    assert_int_equal(esp_timer_start_periodic(timer, 1000), ESP_OK);
    uint64_t period = 0;
    assert_int_equal(esp_timer_get_period(timer, &period), ESP_OK);
    assert_int_equal(period, 1000);
    uint64_t expiry;
    assert_int_equal(esp_timer_get_expiry_time(timer, &expiry), ESP_ERR_NOT_SUPPORTED);
    assert_true(reaches(&calls, 5));
    assert_int_equal(esp_timer_stop(timer), ESP_OK);
    const int at_stop = atomic_load(&calls);
    assert_true(dispatcher_waits()); /* a call under way has ended: none touches `calls` after */
    sleep_ms(20);
    assert_true(atomic_load(&calls) <= at_stop + 1); /* that one call, no more */
    assert_int_equal(esp_timer_get_period(timer, &period), ESP_OK);
    assert_int_equal(period, 0);
    assert_int_equal(esp_timer_delete(timer), ESP_OK);
}

static _Atomic int order[3], fired;

static void record(void *arg)
{
    order[atomic_fetch_add(&fired, 1)] = (int)(intptr_t)arg;
}

static void timers_fire_in_expiry_order_and_restart_moves_the_expiry(void **state)
{
    (void)state;
    atomic_store(&fired, 0);
    esp_timer_handle_t a = make(record, (void *)1, "a"), b = make(record, (void *)2, "b"),
                       c = make(record, (void *)3, "c");
    /* 100 ms apart: a stall of the test between two calls changes nothing. */
    assert_int_equal(esp_timer_start_once(c, 300000), ESP_OK);
    assert_int_equal(esp_timer_start_once(a, 100000), ESP_OK);
    assert_int_equal(esp_timer_start_once(b, 900000), ESP_OK);
    uint64_t a_expiry;
    assert_int_equal(esp_timer_get_expiry_time(a, &a_expiry), ESP_OK);
    assert_int_equal(esp_timer_get_next_alarm(), (int64_t)a_expiry);
    assert_int_equal(esp_timer_restart(b, 200000), ESP_OK); /* now between a and c */
    assert_true(reaches(&fired, 3));
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 3);
    assert_int_equal(esp_timer_get_next_alarm(), INT64_MAX);
    esp_timer_delete(a);
    esp_timer_delete(b);
    esp_timer_delete(c);
}

static void misuse_gets_esp_idfs_answers(void **state)
{
    (void)state;
    esp_timer_handle_t out = NULL;
    esp_timer_create_args_t args = {.callback = count};
    assert_int_equal(esp_timer_create(NULL, &out), ESP_ERR_INVALID_ARG);
    assert_int_equal(esp_timer_create(&args, NULL), ESP_ERR_INVALID_ARG);
    args.dispatch_method = ESP_TIMER_MAX;
    assert_int_equal(esp_timer_create(&args, &out), ESP_ERR_INVALID_ARG);
    args = (esp_timer_create_args_t){.callback = NULL};
    assert_int_equal(esp_timer_create(&args, &out), ESP_ERR_INVALID_ARG);
    assert_null(out);
    atomic_int calls = 0;
    esp_timer_handle_t timer = make(count, &calls, NULL);
    assert_int_equal(esp_timer_stop(timer), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_timer_restart(timer, 1000), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_timer_start_periodic(timer, 1000000), ESP_OK);
    assert_int_equal(esp_timer_start_once(timer, 10), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_timer_start_periodic(timer, 1000), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_timer_delete(timer), ESP_ERR_INVALID_STATE);
    assert_int_equal(esp_timer_stop(timer), ESP_OK);
    assert_int_equal(esp_timer_delete(timer), ESP_OK);
    assert_int_equal(esp_timer_start_once(NULL, 1), ESP_ERR_INVALID_ARG);
    assert_int_equal(esp_timer_start_periodic(NULL, 1000), ESP_ERR_INVALID_ARG);
    assert_int_equal(esp_timer_restart(NULL, 1), ESP_ERR_INVALID_ARG);
    assert_int_equal(esp_timer_stop(NULL), ESP_ERR_INVALID_ARG);
    assert_int_equal(esp_timer_delete(NULL), ESP_ERR_INVALID_ARG);
    assert_false(esp_timer_is_active(NULL));
    assert_int_equal(atomic_load(&calls), 0);
}

/* Periods under the chip's 50 us are raised to it, also by a restart; a timeout past any time
 * never expires, but one whose sum with the time wraps past 2^64 expires at once (ESP-IDF's sum
 * is unsigned). */
static void short_periods_are_raised_to_50_us_and_far_timeouts_never_expire(void **state)
{
    (void)state;
    atomic_int calls = 0;
    esp_timer_handle_t timer = make(count, &calls, NULL);
    assert_int_equal(esp_timer_start_periodic(timer, 10), ESP_OK);
    uint64_t period = 0;
    assert_int_equal(esp_timer_get_period(timer, &period), ESP_OK);
    assert_int_equal(period, 50);
    assert_int_equal(esp_timer_restart(timer, 0), ESP_OK);
    assert_int_equal(esp_timer_get_period(timer, &period), ESP_OK);
    assert_int_equal(period, 50);
    assert_true(esp_timer_is_active(timer)); /* still periodic */
    assert_int_equal(esp_timer_restart(timer, 2000), ESP_OK); /* the timeout is the new period */
    assert_int_equal(esp_timer_get_period(timer, &period), ESP_OK);
    assert_int_equal(period, 2000);
    assert_int_equal(esp_timer_stop(timer), ESP_OK);
    assert_true(dispatcher_waits()); /* a call of the 2 ms period under way has ended */
    assert_int_equal(esp_timer_start_once(timer, (uint64_t)INT64_MAX), ESP_OK);
    assert_int_equal(esp_timer_get_next_alarm(), INT64_MAX);
    const int before = atomic_load(&calls);
    sleep_ms(5);
    assert_int_equal(atomic_load(&calls), before);
    assert_int_equal(esp_timer_stop(timer), ESP_OK);
    assert_int_equal(esp_timer_start_once(timer, UINT64_MAX), ESP_OK); /* now - 1: gone */
    for (int ms = 0; ms < 5000 && atomic_load(&calls) == before; ms++) {
        sleep_ms(1);
    }
    assert_int_equal(atomic_load(&calls), before + 1);
    assert_false(esp_timer_is_active(timer));
    /* a period of "forever": the first call at once (the sum wraps), the next in 2^56 - 1 us (the
     * chip keeps 56 bits of it), not one call after another */
    assert_int_equal(esp_timer_start_periodic(timer, UINT64_MAX), ESP_OK);
    assert_int_equal(esp_timer_get_period(timer, &period), ESP_OK);
    assert_int_equal(period, (UINT64_C(1) << 56) - 1);
    assert_true(reaches(&calls, before + 2));
    sleep_ms(20);
    assert_int_equal(atomic_load(&calls), before + 2);
    assert_int_equal(esp_timer_stop(timer), ESP_OK);
    assert_int_equal(esp_timer_delete(timer), ESP_OK);
}

/* A periodic callback that holds the dispatcher for a while its first time, and notes the next
 * alarm (its own: the only timer armed) at each of its first two calls. */
typedef struct {
    atomic_int calls;
    int64_t next[2];
    int64_t first_returned;
} late_t;

static void late_at_first(void *arg)
{
    late_t *l = arg;
    const int call = atomic_load(&l->calls);
    if (call < 2) {
        l->next[call] = esp_timer_get_next_alarm();
    }
    if (call == 0) {
        sleep_ms(100); /* five periods */
        l->first_returned = esp_timer_get_time();
    }
    atomic_fetch_add(&l->calls, 1);
}

/* ESP-IDF's timer_process_alarm(): a periodic alarm moves by the period from the last one, so
 * missed events come at once, unless skip_unhandled_events moves it a period from now. */
static void a_late_periodic_timer_catches_up_unless_it_skips_unhandled_events(void **state)
{
    (void)state;
    const uint64_t period = 20000;
    for (int skip = 0; skip < 2; skip++) {
        late_t l = {0};
        const esp_timer_create_args_t args = {.callback = late_at_first, .arg = &l,
                                              .name = "late", .skip_unhandled_events = skip};
        esp_timer_handle_t timer = NULL;
        assert_int_equal(esp_timer_create(&args, &timer), ESP_OK);
        assert_int_equal(esp_timer_start_periodic(timer, period), ESP_OK);
        const int64_t first = esp_timer_get_next_alarm();
        assert_true(reaches(&l.calls, 2));
        assert_int_equal(esp_timer_stop(timer), ESP_OK);
        assert_int_equal(esp_timer_delete(timer), ESP_OK);
        assert_true(dispatcher_waits()); /* a catch-up call under way no longer writes `l` */
        if (!skip) {
            assert_int_equal(l.next[0], first + (int64_t)period);
            assert_int_equal(l.next[1], first + 2 * (int64_t)period); /* in the past: at once */
        } else {
            assert_true(l.next[1] > l.first_returned); /* a period after the late dispatch */
        }
    }
}

static esp_timer_handle_t self_deleting;
static atomic_int self_deleted;

static void delete_myself(void *arg)
{
    (void)arg;
    atomic_store(&self_deleted, esp_timer_delete(self_deleting) == ESP_OK ? 1 : -1);
}

static void timers_are_internal_heap_blocks_and_a_callback_may_delete_its_timer(void **state)
{
    (void)state;
    /* A call through the dispatcher: a timer an earlier test deleted while its callback ran is
     * freed once that callback returned, so before this one runs. */
    atomic_int calls = 0;
    const size_t without_warm = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    esp_timer_handle_t warm = make(count, &calls, NULL);
    assert_int_equal(esp_timer_start_once(warm, 0), ESP_OK);
    assert_true(reaches(&calls, 1));
    const size_t internal = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    self_deleting = make(delete_myself, NULL, "self");
    assert_true(esp_ptr_internal(self_deleting));
    assert_true(heap_caps_get_free_size(MALLOC_CAP_INTERNAL) < internal);
    atomic_store(&self_deleted, 0);
    assert_int_equal(esp_timer_start_once(self_deleting, 1000), ESP_OK);
    assert_true(reaches(&self_deleted, 1));
    for (int i = 0; i < 1000 && heap_caps_get_free_size(MALLOC_CAP_INTERNAL) != internal; i++) {
        sleep_ms(1); /* freed by the dispatcher once the callback returned */
    }
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_INTERNAL), internal);
    assert_int_equal(esp_timer_delete(warm), ESP_OK); /* outside its callback: freed at once */
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_INTERNAL), without_warm);
}

/* A timer deleted by another task while its callback runs is ESP-IDF's delete event from then on:
 * armed, so the callback cannot start it again (the host freed it at once, and the dispatcher then
 * ran a freed timer) nor delete it twice; freed once the callback returns. */
typedef struct {
    esp_timer_handle_t self;
    atomic_int stage; /* 1: callback entered; 2: deleted by the test; 3: callback done */
    esp_err_t restart, second_delete;
} deleted_in_call_t;

static void restart_after_delete(void *arg)
{
    deleted_in_call_t *d = arg;
    atomic_store(&d->stage, 1);
    for (int i = 0; i < 2000 && atomic_load(&d->stage) != 2; i++) {
        sleep_ms(1);
    }
    d->restart = esp_timer_start_once(d->self, 5000);
    d->second_delete = esp_timer_delete(d->self);
    atomic_store(&d->stage, 3);
}

static void a_timer_deleted_in_its_callback_cannot_start_again_and_goes_after_it(void **state)
{
    (void)state;
    static deleted_in_call_t d;
    const size_t internal = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    d = (deleted_in_call_t){.restart = ESP_OK, .second_delete = ESP_OK};
    d.self = make(restart_after_delete, &d, "doomed");
    assert_int_equal(esp_timer_start_once(d.self, 0), ESP_OK);
    for (int i = 0; i < 2000 && atomic_load(&d.stage) != 1; i++) {
        sleep_ms(1);
    }
    assert_int_equal(esp_timer_delete(d.self), ESP_OK);
    assert_true(esp_timer_is_active(d.self)); /* the delete event (the callback still runs) */
    assert_int_equal(esp_timer_stop(d.self), ESP_ERR_INVALID_STATE);      /* a deleted timer: */
    assert_int_equal(esp_timer_restart(d.self, 10), ESP_ERR_INVALID_STATE); /* its event stays */
    assert_true(heap_caps_get_free_size(MALLOC_CAP_INTERNAL) < internal);
    atomic_store(&d.stage, 2);
    for (int i = 0; i < 2000 && atomic_load(&d.stage) != 3; i++) {
        sleep_ms(1);
    }
    assert_int_equal(d.restart, ESP_ERR_INVALID_STATE);
    assert_int_equal(d.second_delete, ESP_ERR_INVALID_STATE);
    assert_true(dispatcher_waits());
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_INTERNAL), internal);
}

/* A callback that deletes another stopped timer: as on the chip, the esp_timer task frees it once
 * the callback has returned (a free hook that calls esp_timer then does not deadlock). */
static atomic_bool hook_reads_timers;
void esp_heap_trace_free_hook(void *ptr);
void esp_heap_trace_free_hook(void *ptr)
{
    (void)ptr;
    if (atomic_load(&hook_reads_timers)) {
        (void)esp_timer_get_next_alarm();
    }
}

typedef struct {
    esp_timer_handle_t victim;
    esp_err_t deleted;
    size_t free_before, free_after;
    atomic_int done;
} deleter_t;

static void delete_another(void *arg)
{
    deleter_t *d = arg;
    d->free_before = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    d->deleted = esp_timer_delete(d->victim);
    d->free_after = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    atomic_store(&d->done, 1);
}

static void a_timer_deleted_in_another_callback_is_freed_after_it_returns(void **state)
{
    (void)state;
    static deleter_t d;
    d = (deleter_t){.deleted = ESP_FAIL};
    esp_timer_handle_t deleter = make(delete_another, &d, "deleter");
    const size_t internal = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    d.victim = make(count, NULL, "victim");
    atomic_store(&hook_reads_timers, true);
    assert_int_equal(esp_timer_start_once(deleter, 0), ESP_OK);
    assert_true(reaches(&d.done, 1));
    assert_int_equal(d.deleted, ESP_OK);
    assert_int_equal(d.free_after, d.free_before); /* not yet */
    assert_true(dispatcher_waits());
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_INTERNAL), internal);
    atomic_store(&hook_reads_timers, false);
    assert_int_equal(esp_timer_delete(deleter), ESP_OK);
}

/* Reading the esp_timer task blocked, a task sees what its callbacks did before, as on the chip,
 * where both happen in critical sections: here nothing else orders the two threads
 * (ThreadSanitizer checks it; dispatcher_waits() relies on it). */
static int written_in_callback; /* plain: only that order protects it */
static atomic_int callback_ran;

static void write_then_return(void *unused)
{
    (void)unused;
    written_in_callback = 42;
    atomic_store_explicit(&callback_ran, 1, memory_order_relaxed); /* relaxed: no order */
}

static void what_a_callback_did_is_seen_once_the_esp_timer_task_reads_blocked(void **state)
{
    (void)state;
    esp_timer_handle_t timer = make(write_then_return, NULL, "writer");
    written_in_callback = 0;
    atomic_store(&callback_ran, 0);
    assert_int_equal(esp_timer_start_once(timer, 0), ESP_OK);
    for (int i = 0; i < 10000 && !atomic_load_explicit(&callback_ran, memory_order_relaxed); i++) {
        sleep_ms(1);
    }
    assert_true(dispatcher_waits());
    assert_int_equal(written_in_callback, 42);
    assert_int_equal(esp_timer_delete(timer), ESP_OK);
}

static void dump(void *unused)
{
    (void)unused;
    assert_int_equal(esp_timer_dump(stdout), ESP_OK);
}

static void dump_lists_the_running_timers(void **state)
{
    (void)state;
    atomic_int calls = 0;
    esp_timer_handle_t timer = make(count, &calls, "heap_report");
    assert_int_equal(esp_timer_start_periodic(timer, 5000000), ESP_OK);
    char text[512];
    capture_output(STDOUT_FILENO, dump, NULL, text, sizeof text);
    assert_non_null(strstr(text, "Timer stats:\nName                  Period      Alarm       \n"));
    assert_non_null(strstr(text, "heap_report           5000000     "));
    assert_int_equal(esp_timer_stop(timer), ESP_OK);
    assert_int_equal(esp_timer_delete(timer), ESP_OK);
}

int main(void)
{
    sim_policy_t policy;
    sim_policy_from_sdkconfig(&policy);
    policy.heap_hooks = true; /* esp_heap_trace_free_hook() above */
    const kraken_sim_profile_t profile = sim_profile_for_env(getenv("KRAKEN_SIM_PROFILE"));
    if (sim_init_with_policy(profile, &policy) != ESP_OK) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_one_shot_timer_calls_back_once_after_its_timeout),
        cmocka_unit_test(a_periodic_timer_calls_back_every_period_until_stopped),
        cmocka_unit_test(timers_fire_in_expiry_order_and_restart_moves_the_expiry),
        cmocka_unit_test(misuse_gets_esp_idfs_answers),
        cmocka_unit_test(short_periods_are_raised_to_50_us_and_far_timeouts_never_expire),
        cmocka_unit_test(a_late_periodic_timer_catches_up_unless_it_skips_unhandled_events),
        cmocka_unit_test(timers_are_internal_heap_blocks_and_a_callback_may_delete_its_timer),
        cmocka_unit_test(a_timer_deleted_in_its_callback_cannot_start_again_and_goes_after_it),
        cmocka_unit_test(a_timer_deleted_in_another_callback_is_freed_after_it_returns),
        cmocka_unit_test(what_a_callback_did_is_seen_once_the_esp_timer_task_reads_blocked),
        cmocka_unit_test(dump_lists_the_running_timers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
