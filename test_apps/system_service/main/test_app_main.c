/*
 * test_app_main.c - the Unity menu, and what every test must leave behind: no heap memory lost and
 * every pool block back in its pool.
 */
#include <stdio.h>

#include "esp_heap_caps.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "heap_monitor.h"
#include "memory_pool.h"
#include "system_service/event_bus.h"
#include "unity.h"
#include "unity_test_runner.h"

/* GPTimer's first use creates a platform mutex and esp_intr_alloc a vector descriptor, both kept
 * (the timer group itself goes with the last timer): the same allowance as ESP-IDF's own GPTimer
 * test app. */
#define LEAK_ALLOWANCE 300

static size_t s_free_before;
static heap_monitor_thresholds_t s_thresholds;

void setUp(void)
{
    TEST_ESP_OK(heap_monitor_get_thresholds(&s_thresholds));
    s_free_before = heap_caps_get_free_size(MALLOC_CAP_8BIT);
}

static bool free_block(const memory_pool_block_info_t *info, void *arg)
{
    (void)arg;
    memory_pool_free((void *)info->ptr);
    return true;
}

void tearDown(void)
{
    /* A test that failed half-way may have left the bus running, with handlers on its stack. */
    if (system_event_bus_is_ready()) {
        system_event_bus_deinit(SYSTEM_EVENT_DEINIT_DISCARD);
    }
    /* A deleted task's stack and TCB are freed by the idle task: let it run. */
    vTaskDelay(pdMS_TO_TICKS(50));

    heap_monitor_set_thresholds(&s_thresholds);

    /* Blocks still live fail this test; they are freed, so that the next test starts clean. */
    memory_pool_stats_t st;
    TEST_ESP_OK(memory_pool_get_stats(&st));
    memory_pool_walk_live(free_block, NULL);
    for (unsigned c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        TEST_ASSERT_EQUAL_UINT32_MESSAGE(0, st.classes[c].in_use, "a pool block was not freed");
    }
    TEST_ASSERT_EQUAL_UINT32_MESSAGE(0, st.heap_blocks_live, "a pool heap block was not freed");

    const size_t after = heap_caps_get_free_size(MALLOC_CAP_8BIT);
    printf("heap: %u bytes free before, %u after\n", (unsigned)s_free_before, (unsigned)after);
    TEST_ASSERT_MESSAGE(after + LEAK_ALLOWANCE >= s_free_before, "heap memory leaked");
}

void app_main(void)
{
    /* The pools' storage is one allocation that lives until deinit: make it before the first
     * test measures the heap, as firmware does at boot. */
    ESP_ERROR_CHECK(memory_pool_ensure_init());
    printf("Kraken-OS system_service on-chip tests\n");
    unity_run_menu();
}
