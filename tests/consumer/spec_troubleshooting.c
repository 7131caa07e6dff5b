/* "Troubleshooting / Out of Memory Errors", steps 1-4: the spec shows no include; memory_utils.h
 * (the helpers' header, which brings in heap_monitor.h and memory_pool.h) covers all four. */
#include "system_service/memory_utils.h"

#include "spec_snippets.h"

void spec_troubleshooting(void)
{
    // 1. Check pool exhaustion
    memory_pool_log_stats(TAG);

    // 2. Check heap fragmentation
    heap_monitor_log_stats(TAG);
    if (!heap_monitor_check_health()) {
        ESP_LOGW(TAG, "Heap fragmentation high!");
    }

    // 3. Check PSRAM availability
    if (!memory_psram_available()) {
        ESP_LOGE(TAG, "PSRAM not available!");
    }

    // 4. Log memory usage
    memory_log_usage(TAG);
}
