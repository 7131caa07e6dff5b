/* "SRAM vs PSRAM Allocation / For System Services": the spec shows no include; it uses the
 * placement macros and the event bus, so their two headers. */
#include "system_service/event_bus.h"
#include "system_service/memory_utils.h"

#include "spec_snippets.h"

static system_service_id_t service_id = 1;
static system_event_type_t event_type = 2;
static system_event_priority_t priority = SYSTEM_EVENT_PRIORITY_LOW;

void spec_for_system_services(void)
{
    struct {
        uint32_t reading;
    } data = {7};
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
