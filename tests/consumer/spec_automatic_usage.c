/* "Automatic Usage": the spec shows no include; the event bus's header is the one it needs. */
#include "system_service/event_bus.h"

#include "spec_snippets.h"

static system_service_id_t service_id = 1;
static system_event_type_t event_type = 1;
static system_event_priority_t priority = SYSTEM_EVENT_PRIORITY_NORMAL;

void spec_automatic_usage(void)
{
    static const char data[100] = "a reading larger than an event record holds: a pool block";
    const size_t size = sizeof(data);
    // This automatically uses memory pools!
    system_event_post(service_id, event_type, data, size, priority);
    // ↑ Event data allocated from appropriate pool
    // ↑ Automatically freed after delivery
}
