/* "Legacy Memory Utils (Still Available)", with the one include the spec shows (ESP_LOGI, bool). */
#include "system_service/memory_utils.h"

#include "spec_snippets.h"

void spec_legacy_memory_utils(void)
{
    // Log detailed memory usage
    memory_log_usage("my_service");

    // Get memory info
    memory_info_t info;
    memory_get_info(&info);
    ESP_LOGI(TAG, "Free SRAM: %zu bytes", info.free_sram);
    ESP_LOGI(TAG, "Free PSRAM: %zu bytes", info.free_psram);

    // Quick checks
    size_t free_sram = memory_get_free_sram();
    size_t free_psram = memory_get_free_psram();
    bool has_psram = memory_psram_available();
    ESP_LOGI(TAG, "%zu %zu %d", free_sram, free_psram, has_psram);
}
