/*
 * The spec's "Heap Monitoring" snippet with only the include it shows: heap_monitor.h must bring in
 * what the snippet uses (ESP_LOGW, ESP_LOGI), as each spec header must for its own snippet.
 */
#include "heap_monitor.h"

#include "spec_snippets.h"

/* "Heap Monitoring (NEW)" */
void spec_heap_monitoring(void)
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
