/* test_kraken_port.c - the core's port (port/host, or port/esp_idf on the simulated FreeRTOS with
 * -DKRAKEN_PORT=esp_idf) against src/kraken_port.h's contract: counting semaphores and tasks (the
 * pools and the bus use the semaphores with an initial count of 0 only). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "esp_heap_caps.h"
#include "esp_memory_utils.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h" /* KRAKEN_SIM_TCB_BYTES */
#include "kraken_port.h"
#include "kraken_sim.h"

static void create_refuses_bad_counts_and_takes_an_initial_count_up_to_the_maximum(void **state)
{
    (void)state;
    kraken_port_sem_t sem;
    assert_int_equal(kraken_port_sem_create(NULL, 1, 0), ESP_ERR_INVALID_ARG);
    assert_int_equal(kraken_port_sem_create(&sem, 0, 0), ESP_ERR_INVALID_ARG);
    assert_int_equal(kraken_port_sem_create(&sem, 2, 3), ESP_ERR_INVALID_ARG);
    assert_int_equal(kraken_port_sem_create(&sem, 3, 3), ESP_OK); /* full at the start */
    assert_false(kraken_port_sem_give(&sem));
    for (int i = 0; i < 3; i++) {
        assert_true(kraken_port_sem_take(&sem, 0));
    }
    assert_false(kraken_port_sem_take(&sem, 0));
    assert_true(kraken_port_sem_give(&sem));
    assert_true(kraken_port_sem_take(&sem, 0));
    kraken_port_sem_delete(&sem);
}

/* A timed take that gets nothing waits its whole timeout, whatever the clock's sub-second part
 * (the deadline carries into the seconds) and wherever between two ticks it begins, then fails. */
static void a_timed_take_waits_its_whole_timeout(void **state)
{
    (void)state;
    kraken_port_sem_t sem;
    assert_int_equal(kraken_port_sem_create(&sem, 1, 0), ESP_OK);
    for (int i = 0; i < 25; i++) { /* 25 x 40 ms: the sub-second part wraps at least once */
        const int64_t start = esp_timer_get_time();
        assert_false(kraken_port_sem_take(&sem, 40));
        assert_true(esp_timer_get_time() - start >= 40000);
    }
    kraken_port_sem_delete(&sem);
}

/* A delay sleeps at least its milliseconds, wherever between two ticks it begins (on ESP-IDF it is
 * in whole ticks: 15 ms is not a whole number of ticks at the default 100 Hz). */
static void a_delay_sleeps_at_least_its_milliseconds(void **state)
{
    (void)state;
    for (int i = 0; i < 25; i++) {
        const int64_t start = esp_timer_get_time();
        kraken_port_delay_ms(15);
        assert_true(esp_timer_get_time() - start >= 15000);
    }
}

static void *give_later(void *arg)
{
    const struct timespec pause = {0, 20 * 1000000L};
    nanosleep(&pause, NULL);
    (void)kraken_port_sem_give(arg);
    return NULL;
}

static void a_take_without_timeout_is_woken_by_a_give(void **state)
{
    (void)state;
    kraken_port_sem_t sem;
    assert_int_equal(kraken_port_sem_create(&sem, 1, 0), ESP_OK);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, give_later, &sem), 0);
    assert_true(kraken_port_sem_take(&sem, KRAKEN_PORT_WAIT_FOREVER));
    assert_int_equal(pthread_join(thread, NULL), 0);
    kraken_port_sem_delete(&sem);
}

typedef struct {
    kraken_port_sem_t *sem;
    atomic_bool stop;
    atomic_int takes; /* takes that returned */
} taker_t;

static void *take_until_stopped(void *arg)
{
    taker_t *t = arg;
    while (!atomic_load(&t->stop)) {
        if (kraken_port_sem_take(t->sem, KRAKEN_PORT_WAIT_FOREVER)) {
            atomic_fetch_add(&t->takes, 1);
        }
    }
    return NULL;
}

/* From a task the ISR give leaves *woken alone; from an ISR it says whether it unblocked a task:
 * not when nobody waits, yes when a take waits (retried until the taker is blocked in its take). */
static void a_give_from_an_isr_says_whether_it_woke_a_task(void **state)
{
    (void)state;
    kraken_port_sem_t sem;
    assert_int_equal(kraken_port_sem_create(&sem, 2, 0), ESP_OK);
    bool woken = false;
    assert_true(kraken_port_sem_give_from_isr(&sem, &woken));
    assert_false(woken);
    kraken_sim_isr_enter();
    assert_true(kraken_port_sem_give_from_isr(&sem, &woken));
    assert_false(kraken_port_sem_give_from_isr(&sem, NULL)); /* full */
    kraken_sim_isr_exit();
    assert_false(woken); /* nobody was waiting */
    assert_true(kraken_port_sem_take(&sem, 0));
    assert_true(kraken_port_sem_take(&sem, 0));

    taker_t taker = {.sem = &sem};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, take_until_stopped, &taker), 0);
    for (int round = 0; round < 200 && !woken; round++) {
        const struct timespec pause = {0, 5 * 1000000L};
        nanosleep(&pause, NULL); /* the taker blocks (or takes the last give and blocks again) */
        kraken_sim_isr_enter();
        (void)kraken_port_sem_give_from_isr(&sem, &woken); /* full if the taker is slow to start */
        kraken_sim_isr_exit();
    }
    assert_true(woken);
    atomic_store(&taker.stop, true);
    (void)kraken_port_sem_give(&sem); /* its last take returns */
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_true(atomic_load(&taker.takes) >= 1);
    while (kraken_port_sem_take(&sem, 0)) { /* what the taker left */
    }
    woken = false;
    kraken_sim_isr_enter();
    assert_true(kraken_port_sem_give_from_isr(&sem, &woken));
    kraken_sim_isr_exit();
    assert_false(woken); /* the taker is gone: nobody waits again */
    kraken_port_sem_delete(&sem);
}

typedef struct {
    kraken_port_task_t *self;
    atomic_int current;     /* kraken_port_task_is_current(self) inside the task */
    atomic_int in_isr;      /* the same from a simulated ISR on the task's thread */
    atomic_uint local_kind; /* where a local of the task is: 1 internal, 2 elsewhere */
} task_seen_t;

static void look_at_myself(void *arg)
{
    task_seen_t *seen = arg;
    int local = 0;
    atomic_store(&seen->current, kraken_port_task_is_current(seen->self) ? 1 : 2);
    kraken_sim_isr_enter();
    atomic_store(&seen->in_isr, kraken_port_task_is_current(seen->self) ? 1 : 2);
    kraken_sim_isr_exit();
    atomic_store(&seen->local_kind, esp_ptr_internal(&local) ? 1 : 2);
}

/* A task is current only inside itself (not in an ISR there, not in another thread); its stack
 * and TCB are internal heap blocks until it is joined; the last core and priority are
 * the chip's, one more is refused. */
static void a_task_knows_itself_and_holds_its_stack_until_joined(void **state)
{
    (void)state;
    kraken_port_task_t task;
    task_seen_t seen = {.self = &task};
    assert_int_equal(kraken_port_task_create(&task, look_at_myself, &seen, "x", 4096, 1,
                                             KRAKEN_PORT_CORES),
                     ESP_ERR_INVALID_ARG);
    assert_int_equal(kraken_port_task_create(&task, look_at_myself, &seen, "x", 4096,
                                             KRAKEN_PORT_PRIORITIES, -1),
                     ESP_ERR_INVALID_ARG);
    const size_t before = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    assert_int_equal(kraken_port_task_create(&task, look_at_myself, &seen, "x", 4096,
                                             KRAKEN_PORT_PRIORITIES - 1, KRAKEN_PORT_CORES - 1),
                     ESP_OK);
    assert_true(before - heap_caps_get_free_size(MALLOC_CAP_INTERNAL) >= 4096 + KRAKEN_SIM_TCB_BYTES);
    assert_false(kraken_port_task_is_current(&task));
    kraken_port_task_join(&task);
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_INTERNAL), before);
    assert_int_equal(atomic_load(&seen.current), 1);
    assert_int_equal(atomic_load(&seen.in_isr), 2);
    assert_int_equal(atomic_load(&seen.local_kind), 1); /* a task's locals are internal RAM */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_refuses_bad_counts_and_takes_an_initial_count_up_to_the_maximum),
        cmocka_unit_test(a_timed_take_waits_its_whole_timeout),
        cmocka_unit_test(a_delay_sleeps_at_least_its_milliseconds),
        cmocka_unit_test(a_take_without_timeout_is_woken_by_a_give),
        cmocka_unit_test(a_give_from_an_isr_says_whether_it_woke_a_task),
        cmocka_unit_test(a_task_knows_itself_and_holds_its_stack_until_joined),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
