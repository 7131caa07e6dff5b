/* Example 1 "Service Using Event System", as written, with the one include the spec shows; the
 * service's id and event type, which the spec leaves to the service, are registered here. */
#include "system_service/event_bus.h"

#include "spec_snippets.h"

static system_service_id_t service_id;
static system_event_type_t event_type = 3;

// Event data automatically uses memory pools!
typedef struct {
    uint32_t value;
    uint8_t data[200];  // Will use 256-byte pool
} my_event_data_t;

void my_service_send_data(void);

void my_service_send_data(void) {
    my_event_data_t event_data = {
        .value = 42
    };

    // Memory pool allocation happens automatically
    system_event_post(service_id, event_type,
                     &event_data, sizeof(event_data),
                     SYSTEM_EVENT_PRIORITY_NORMAL);
    // ↑ Data copied to pool, sent to queue, freed automatically
}

static unsigned delivered;

static void count_event(const system_event_t *event, void *ctx)
{
    (void)ctx;
    const my_event_data_t *d = event->data;
    if (event->size != sizeof(my_event_data_t) || d->value != 42) {
        return;
    }
    for (size_t i = 0; i < sizeof d->data; i++) {
        if (d->data[i] != 0) { /* zero-initialised by the example */
            return;
        }
    }
    delivered++;
}

int spec_example1(void)
{
    if (system_service_register("my_service", &service_id) != ESP_OK ||
        system_event_subscribe(service_id, event_type, count_event, NULL, NULL) != ESP_OK) {
        return -1;
    }
    my_service_send_data();
    /* Delivered by the dispatcher task; deinit returns once every queued event was. */
    if (system_event_bus_deinit(SYSTEM_EVENT_DEINIT_DRAIN) != ESP_OK) {
        return -1;
    }
    return delivered == 1 ? 0 : -1;
}
