/*
 * test_heap_monitor_spec.c - the spec's monitoring snippets (memory-management-strategy.md, "Heap
 * Monitoring", "Example 3" and "Troubleshooting") compile as written with only the spec's include
 * and print what the spec shows. This file includes nothing of the component but
 * system_service/memory_utils.h, as Example 3 does (-Wformat=2 -Werror checks the spec's formats).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_support.h"

#include "kraken_sim.h"
#include "sdkconfig.h"
#include "system_service/memory_utils.h"

static const char *TAG = "spec";

static char g_out[8192];

static void capture_begin(void)
{
    capture_stdout_begin();
}

static void capture_end(void)
{
    capture_stdout_end(g_out, sizeof g_out);
    fputs(g_out, stdout); /* still shown in the test log */
}

/* The spec's figures are those of a module with 8 MB of PSRAM in the heap: these tests skip when
 * the booted module has none there (CONFIG_SPIRAM off, CONFIG_SPIRAM_USE_MEMMAP, or PSRAM not
 * found with CONFIG_SPIRAM_IGNORE_NOTFOUND). */
static void skip_without_psram_support(void)
{
    NEED_PSRAM_IN_HEAP();
}

static int boot(void **state)
{
    (void)state;
    if (kraken_sim_init(KRAKEN_SIM_ESP32S3_N8R8) != ESP_OK || heap_monitor_deinit() != ESP_OK) {
        return -1;
    }
    return heap_monitor_init() == ESP_OK && set_reference_thresholds() == ESP_OK ? 0 : -1;
}

/* ---- the spec's "Heap Monitoring" snippet, as written ------------------------------------------ */

static void spec_heap_monitoring_snippet(void)
{
    // Check heap health
    if (!heap_monitor_check_health()) {
        ESP_LOGW(TAG, "Heap fragmentation high!");
    }

    // Get statistics
    heap_stats_t stats;
    heap_monitor_get_stats(&stats);
    ESP_LOGI(TAG, "Free: %zu bytes", stats.total_free_bytes);
    ESP_LOGI(TAG, "Largest block: %zu bytes", stats.largest_free_block);
    ESP_LOGI(TAG, "Fragmentation: %d%%", stats.fragmentation_percent);

    // Log detailed stats
    heap_monitor_log_stats(TAG);
}

static void the_heap_monitoring_snippet_prints_what_the_spec_shows(void **state)
{
    (void)state;
    skip_without_psram_support();
    NEED_LOG_LEVEL(ESP_LOG_INFO);
    capture_begin();
    spec_heap_monitoring_snippet();
    capture_end();
    heap_stats_t stats;
    assert_int_equal(heap_monitor_get_stats(&stats), ESP_OK);
    char line[128];
    snprintf(line, sizeof line, "spec: Free: %zu bytes\n", stats.total_free_bytes);
    assert_non_null(strstr(g_out, line));
    snprintf(line, sizeof line, "spec: Fragmentation: %d%%\n", stats.fragmentation_percent);
    assert_non_null(strstr(g_out, line));
    assert_null(strstr(g_out, "Heap fragmentation high!")); /* a fresh chip is healthy */
    /* the spec's block, for PSRAM (8 MB on this module) and for the internal SRAM */
    assert_non_null(strstr(g_out, "spec: Heap Fragmentation:\n"));
    assert_non_null(strstr(g_out, "spec:   Region: PSRAM\n"));
    assert_non_null(strstr(g_out, "spec:   Region: Internal SRAM\n"));
    const char *psram = strstr(g_out, "spec:   Region: PSRAM\n");
    assert_non_null(strstr(psram, "spec:   Total: 8MB\n"));
    assert_non_null(strstr(psram, "spec:   Free: "));
    assert_non_null(strstr(psram, "spec:   Largest block: "));
    assert_non_null(strstr(psram, "% \u2705 HEALTHY\n"));
}

/* ---- Example 3: a service with critical data, only memory_utils.h included ---------------------- */

typedef struct {
    uint8_t control_data[256]; // In SRAM (automatic)
} wifi_ctx_t;

static wifi_ctx_t *g_ctx;

static esp_err_t wifi_service_init(void)
{
    // Small allocation - use SRAM for fast access
    wifi_ctx_t *ctx = SYSTEM_MALLOC(sizeof(wifi_ctx_t));
    if (!ctx) {
        return ESP_ERR_NO_MEM;
    }
    g_ctx = ctx;

    // Monitor memory
    memory_log_usage("wifi_service");
    heap_monitor_log_stats(TAG);

    return ESP_OK;
}

static void example_3_logs_usage_and_the_monitors_view(void **state)
{
    (void)state;
    NEED_LOG_LEVEL(ESP_LOG_INFO);
    capture_begin();
    esp_err_t err = wifi_service_init();
    capture_end();
    assert_int_equal(err, ESP_OK);
    assert_non_null(strstr(g_out, "wifi_service: Memory usage:"));
    assert_non_null(strstr(g_out, "spec: Heap Fragmentation:\n"));
    /* both report the same free SRAM */
    memory_info_t info;
    assert_int_equal(memory_get_info(&info), ESP_OK);
    char line[128];
    snprintf(line, sizeof line, "SRAM:  %zu / %zu bytes free", info.free_sram, info.total_sram);
    assert_non_null(strstr(g_out, line));
    heap_stats_t stats;
    assert_int_equal(heap_monitor_get_stats(&stats), ESP_OK);
    assert_int_equal(stats.internal.total_free_bytes, info.free_sram);
    free(g_ctx);
}

/* ---- Troubleshooting: "Check heap fragmentation" ------------------------------------------------ */

static void the_troubleshooting_check_warns_when_fragmented(void **state)
{
    (void)state;
    skip_without_psram_support();
    NEED_LOG_LEVEL(ESP_LOG_WARN);
    /* fragment PSRAM: fill it with 32 KiB blocks, free every other one */
    static void *blocks[512];
    size_t n = 0;
    while (n < 512 && (blocks[n] = heap_caps_malloc(32 * 1024, MALLOC_CAP_SPIRAM)) != NULL) {
        n++;
    }
    for (size_t i = 0; i < n; i += 2) {
        heap_caps_free(blocks[i]);
        blocks[i] = NULL;
    }
    capture_begin();
    heap_monitor_log_stats(TAG);
    if (!heap_monitor_check_health()) {
        ESP_LOGW(TAG, "Heap fragmentation high!");
    }
    capture_end();
    assert_non_null(strstr(g_out, "W (")); /* ESP_LOGW's letter */
    assert_non_null(strstr(g_out, "spec: Heap fragmentation high!\n"));
    assert_non_null(strstr(g_out, "\u274C UNHEALTHY (fragmented)\n"));
    for (size_t i = 0; i < n; i++) {
        heap_caps_free(blocks[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(the_heap_monitoring_snippet_prints_what_the_spec_shows, boot),
        cmocka_unit_test_setup(example_3_logs_usage_and_the_monitors_view, boot),
        cmocka_unit_test_setup(the_troubleshooting_check_warns_when_fragmented, boot),
    };
    return cmocka_run_group_tests_name("heap_monitor: the spec's snippets", tests, NULL, NULL);
}
