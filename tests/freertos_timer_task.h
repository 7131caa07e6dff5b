/*
 * freertos_timer_task.h - what the host FreeRTOS tests that use the timer task share. Include
 * after cmocka.h, freertos/timers.h and freertos_test_support.h.
 */
#ifndef FREERTOS_TIMER_TASK_H
#define FREERTOS_TIMER_TASK_H

#include <stdatomic.h>
#include <stdint.h>

/* A pended call (xTimerPendFunctionCall) that sets the atomic_int at flag. */
static inline __attribute__((unused)) void set_flag(void *flag, uint32_t unused)
{
    (void)unused;
    atomic_store((atomic_int *)flag, 1);
}

/* Returns once the timer task has finished what it was doing (a callback, a pended call). */
static inline __attribute__((unused)) void flush_timer_task(void)
{
    atomic_int done = 0;
    assert_int_equal(xTimerPendFunctionCall(set_flag, &done, 0, PATIENCE_TICKS), pdPASS);
    WAIT_FOR(atomic_load(&done));
    assert_true(atomic_load(&done));
}

#endif /* FREERTOS_TIMER_TASK_H */
