/* "SRAM vs PSRAM Allocation / For Applications", with the one include the spec shows (it calls
 * free() and ESP_LOGE and returns ESP_ERR_NO_MEM: memory_utils.h must bring them in). */
#include "system_service/memory_utils.h"

#include "spec_snippets.h"

int spec_for_applications(void)
{
    const size_t size = 4096;
    // Dynamic allocation in PSRAM (for large buffers)
    uint8_t *buffer = APP_MALLOC(50000);  // 50KB in PSRAM
    if (buffer == NULL) {
        ESP_LOGE(TAG, "Failed to allocate PSRAM");
        return ESP_ERR_NO_MEM;
    }
    free(buffer);

    // Static allocation in PSRAM
    APP_DATA_ATTR static uint8_t large_buffer[100000];
    ESP_LOGI(TAG, "static PSRAM buffer at %p", (void *)large_buffer);

    // Fallback strategy (prefer PSRAM, use SRAM if needed)
    void *data = memory_alloc_prefer_psram(size);

    // Strict PSRAM only (fails if PSRAM unavailable)
    void *psram_data = memory_alloc_psram_only(size);

    free(data);
    free(psram_data);
    return ESP_OK;
}
