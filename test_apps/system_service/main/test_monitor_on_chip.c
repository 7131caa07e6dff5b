/*
 * test_monitor_on_chip.c - the heap monitor reads ESP-IDF's heap: its figures, the health check
 * against a real allocation and the failed-allocation hook.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "esp_heap_caps.h"
#include "heap_monitor.h"
#include "system_service/memory_utils.h"
#include "unity.h"

/* Figures read at two moments: equal up to what other tasks (idle, timers) allocate between. */
#define NEAR_BYTES 1024

static void assert_near(size_t idf, size_t monitor)
{
    const size_t diff = idf > monitor ? idf - monitor : monitor - idf;
    TEST_ASSERT_TRUE_MESSAGE(diff <= NEAR_BYTES, "the monitor's figure is not ESP-IDF's");
}

TEST_CASE("heap monitor figures are ESP-IDF's, fragmentation computed from them", "[monitor]")
{
    heap_stats_t st;
    TEST_ESP_OK(heap_monitor_get_stats(&st));
    TEST_ASSERT_EQUAL_UINT(heap_caps_get_total_size(HEAP_MONITOR_CAPS_SRAM),
                           st.internal.total_bytes);
    TEST_ASSERT_EQUAL_UINT(heap_caps_get_total_size(HEAP_MONITOR_CAPS_PSRAM), st.psram.total_bytes);
    TEST_ASSERT_EQUAL_UINT(heap_caps_get_total_size(HEAP_MONITOR_CAPS_ALL), st.total_bytes);
    TEST_ASSERT_EQUAL(memory_psram_available(), st.psram_present);
    const heap_region_stats_t *regions[] = {&st.internal, &st.psram};
    const uint32_t caps[] = {HEAP_MONITOR_CAPS_SRAM, HEAP_MONITOR_CAPS_PSRAM};
    for (size_t i = 0; i < sizeof regions / sizeof regions[0]; i++) {
        const heap_region_stats_t *r = regions[i];
        /* Read again from ESP-IDF: other tasks may have allocated a little meanwhile. */
        assert_near(heap_caps_get_free_size(caps[i]), r->total_free_bytes);
        assert_near(heap_caps_get_largest_free_block(caps[i]), r->largest_free_block);
        assert_near(heap_caps_get_minimum_free_size(caps[i]), r->minimum_free_bytes);
        TEST_ASSERT_TRUE(r->largest_free_block <= r->total_free_bytes);
        TEST_ASSERT_TRUE(r->minimum_free_bytes <= r->total_free_bytes);
        TEST_ASSERT_EQUAL_INT(heap_monitor_fragmentation_percent(r->total_free_bytes,
                                                                 r->largest_free_block),
                              r->fragmentation_percent);
    }

    TEST_ESP_OK(heap_monitor_count_blocks(&st));
    TEST_ASSERT_TRUE(st.blocks_counted);
    TEST_ASSERT_TRUE(st.internal.allocated_blocks > 0); /* at least the pools' storage */
    TEST_ASSERT_TRUE(st.internal.free_blocks > 0);
}

TEST_CASE("the health check fails while internal free memory is below its limit", "[monitor]")
{
    heap_monitor_thresholds_t saved;
    TEST_ESP_OK(heap_monitor_get_thresholds(&saved));
    /* A limit 8 KiB below what is free now: a 16 KiB allocation crosses it. */
    const size_t free_now = heap_caps_get_free_size(HEAP_MONITOR_CAPS_SRAM);
    const heap_monitor_thresholds_t limits = {.fragmentation_percent = 100,
                                              .min_free_internal = free_now - 8 * 1024};
    TEST_ESP_OK(heap_monitor_set_thresholds(&limits));
    TEST_ASSERT_TRUE(heap_monitor_check_health());

    void *p = SYSTEM_MALLOC(16 * 1024);
    TEST_ASSERT_NOT_NULL(p);
    TEST_ASSERT_FALSE(heap_monitor_check_health());
    TEST_ASSERT_EQUAL_HEX32(HEAP_MONITOR_ISSUE_INTERNAL_LOW_FREE, heap_monitor_get_health_issues());
    free(p);
    TEST_ASSERT_TRUE(heap_monitor_check_health());
    TEST_ESP_OK(heap_monitor_set_thresholds(&saved));
}

TEST_CASE("failed allocations are counted by caps once heap_monitor_init ran", "[monitor]")
{
    TEST_ESP_OK(heap_monitor_init());
    heap_monitor_reset_failed_allocs();
    TEST_ASSERT_NULL(heap_caps_malloc(64 * 1024 * 1024, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT));
    TEST_ASSERT_NULL(heap_caps_malloc(64 * 1024 * 1024, MALLOC_CAP_DMA));
    TEST_ASSERT_EQUAL_UINT32(2, heap_monitor_get_failed_alloc_count(0));
    TEST_ASSERT_EQUAL_UINT32(1, heap_monitor_get_failed_alloc_count(MALLOC_CAP_DMA));
    TEST_ASSERT_EQUAL_UINT32(1, heap_monitor_get_failed_alloc_count(MALLOC_CAP_INTERNAL));
    TEST_ESP_OK(heap_monitor_deinit());
}

TEST_CASE("a JSON buffer of heap_monitor_json_max_length() + 1 bytes takes the snapshot", "[monitor]")
{
    const size_t max = heap_monitor_json_max_length();
    TEST_ASSERT_TRUE(max > 1000 && max < 4096); /* 1620 with the defaults on 32-bit */
    char *json = malloc(max + 1);
    TEST_ASSERT_NOT_NULL(json);
    size_t len = 0;
    TEST_ESP_OK(heap_monitor_get_json(json, max + 1, &len));
    TEST_ASSERT_TRUE(len <= max);
    TEST_ASSERT_EQUAL_size_t(len, strlen(json));
    TEST_ASSERT_EQUAL_INT('{', json[0]);
    free(json);
}
