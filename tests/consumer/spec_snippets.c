/*
 * spec_snippets.c - every code snippet of memory-management-strategy.md, as written, in the
 * functions and variables they assume. Built by a consumer project (see CMakeLists.txt): if a name
 * or include path of the spec changes, this stops compiling.
 */
#include <stdint.h>
#include <stdlib.h>

#include "heap_monitor.h"
#include "memory_pool.h"
#include "system_service/event_bus.h"
#include "system_service/memory_utils.h"

static const char *TAG = "spec";

void spec_heap_monitoring(void); /* spec_heap_monitor.c */
static system_service_id_t service_id;
static system_event_type_t event_type = 1;
static system_event_priority_t priority = SYSTEM_EVENT_PRIORITY_NORMAL;

/* "Automatic Usage" */
static void automatic_usage(const void *data, size_t size)
{
    // This automatically uses memory pools!
    system_event_post(service_id, event_type, data, size, priority);
}

/* "Manual Pool Usage (Advanced)" */
static void manual_pool_usage(void)
{
    // Allocate from pool
    void *ptr = memory_pool_alloc(256);
    if (ptr == NULL) {
        // Pool exhausted, fell back to heap
    }

    // Free back to pool
    memory_pool_free(ptr);

    // Get statistics
    memory_pool_log_stats(TAG);
}

/* "For Applications" */
static esp_err_t for_applications(size_t size)
{
    // Dynamic allocation in PSRAM (for large buffers)
    uint8_t *buffer = APP_MALLOC(50000); // 50KB in PSRAM
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

/* "For System Services" */
static void for_system_services(void)
{
    uint32_t data = 7;
    // Small allocations - use standard malloc (goes to SRAM)
    void *service_data = malloc(1024);

    // Or explicitly request SRAM
    void *critical_data = SYSTEM_MALLOC(2048);

    // DMA-capable buffers (must be in SRAM)
    void *dma_buffer = DMA_MALLOC(512);

    // For event data - use memory pools (automatic via event_post)
    system_event_post(service_id, event_type, &data, sizeof(data), priority);
    free(service_data);
    free(critical_data);
    free(dma_buffer);
}

/* "Legacy Memory Utils (Still Available)" */
static void legacy_memory_utils(void)
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

/* "Troubleshooting" step 3 */
static void troubleshooting(void)
{
    if (!memory_psram_available()) {
        ESP_LOGE(TAG, "PSRAM not available!");
    }
}

/* Example 1 */
typedef struct {
    uint32_t value;
    uint8_t data[200]; // Will use 256-byte pool
} my_event_data_t;

static void my_service_send_data(void)
{
    my_event_data_t event_data = {.value = 42};

    // Memory pool allocation happens automatically
    system_event_post(service_id, event_type, &event_data, sizeof(event_data),
                      SYSTEM_EVENT_PRIORITY_NORMAL);
    // ↑ Data copied to pool, sent to queue, freed automatically
}

static unsigned delivered;

static void count_event(const system_event_t *event, void *ctx)
{
    (void)ctx;
    if (event->size == sizeof(my_event_data_t)) {
        delivered += ((const my_event_data_t *)event->data)->value == 42;
    }
}

int main(void)
{
    if (system_service_register("my_service", &service_id) != ESP_OK ||
        system_event_subscribe(service_id, event_type, count_event, NULL, NULL) != ESP_OK) {
        return 1;
    }
    automatic_usage("hello", 6);
    manual_pool_usage();
    if (for_applications(4096) != ESP_OK) {
        return 1;
    }
    for_system_services();
    spec_heap_monitoring();
    legacy_memory_utils();
    troubleshooting();
    my_service_send_data();
    if (system_event_bus_deinit(SYSTEM_EVENT_DEINIT_DRAIN) != ESP_OK || delivered != 1) {
        ESP_LOGE(TAG, "Example 1's event was not delivered (%u)", delivered);
        return 1;
    }
    ESP_LOGI(TAG, "all spec snippets ran");
    return 0;
}
