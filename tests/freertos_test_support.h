/*
 * freertos_test_support.h - what the host FreeRTOS tests that wait in ticks share, and the chip's
 * object sizes. Include after freertos/task.h.
 */
#ifndef FREERTOS_TEST_SUPPORT_H
#define FREERTOS_TEST_SUPPORT_H

#include <stdbool.h>

#include "freertos_chip_sizes.h"
#include "freertos_refusals.h"

/* The chip's boot tasks the host runs as threads, counted from boot (uxTaskGetNumberOfTasks()) and
 * listed (uxTaskGetSystemState(), vTaskList()): the timer task ("Tmr Svc") and "esp_timer". */
#define BOOT_TASKS 2u
/* uxTaskGetNumberOfTasks() with no task left but the test's thread ("main") and the boot tasks. */
#define TASKS_AT_REST (1u + BOOT_TASKS)

/* What must happen "soon": long enough for TSan and a loaded CI machine. */
#define PATIENCE_TICKS pdMS_TO_TICKS(10000)

/* Polls cond every tick until it holds, for PATIENCE_TICKS at most; assert it afterwards. */
#define WAIT_FOR(cond)                                                                             \
    do {                                                                                           \
        for (TickType_t waited_ = 0; !(cond) && waited_ < PATIENCE_TICKS; waited_++) {             \
            vTaskDelay(1);                                                                         \
        }                                                                                          \
    } while (0)

/* True once `task` reads blocked (eTaskGetState()), polled as WAIT_FOR. */
static inline __attribute__((unused)) bool becomes_blocked(TaskHandle_t task)
{
    WAIT_FOR(eTaskGetState(task) == eBlocked);
    return eTaskGetState(task) == eBlocked;
}

/* A teardown: the test's tasks gone (only TASKS_AT_REST left) and every refusal asserted. */
static inline __attribute__((unused)) int tasks_at_rest(void **state)
{
    (void)state;
    WAIT_FOR(uxTaskGetNumberOfTasks() == TASKS_AT_REST);
    return unasserted_refusals() == 0 && uxTaskGetNumberOfTasks() == TASKS_AT_REST ? 0 : -1;
}

#endif /* FREERTOS_TEST_SUPPORT_H */
