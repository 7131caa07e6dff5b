/* Example 3 "Service with Critical Data", as written, with the one include the spec shows (it
 * also calls heap_monitor_log_stats(): memory_utils.h brings in heap_monitor.h). The example
 * keeps its context nowhere; this file keeps it so that it can be freed. */
#include "system_service/memory_utils.h"

#include "spec_snippets.h"

typedef struct {
    uint8_t control_data[256];  // In SRAM (automatic)
} wifi_ctx_t;

static wifi_ctx_t *kept;

esp_err_t wifi_service_init(void);

esp_err_t wifi_service_init(void) {
    // Small allocation - use SRAM for fast access
    wifi_ctx_t *ctx = SYSTEM_MALLOC(sizeof(wifi_ctx_t));
    if (!ctx) {
        return ESP_ERR_NO_MEM;
    }
    kept = ctx;

    // Monitor memory
    memory_log_usage("wifi_service");
    heap_monitor_log_stats(TAG);

    return ESP_OK;
}

int spec_example3(void)
{
    esp_err_t err = wifi_service_init();
    free(kept);
    return err;
}
