/*
 * main.c - runs each snippet of memory-management-strategy.md (one file each, with the include the
 * spec shows for it) in a consumer project built as the README says: if a name, include path or
 * behaviour the spec relies on changes, this stops compiling or exits non-zero.
 */
#include <stdio.h>

#include "memory_pool.h"
#include "system_service/event_bus.h"

#include "spec_snippets.h"

const char *TAG = "spec";

static int fail(const char *what)
{
    fprintf(stderr, "spec snippet failed: %s\n", what);
    return 1;
}

int main(void)
{
    spec_automatic_usage(); /* the first post starts the bus: no init call */
    if (!system_event_bus_is_ready()) {
        return fail("the bus did not start on the first post");
    }
    /* Its 100 bytes go to a pool block (to the heap if the configuration's largest class is
     * smaller, as in the CI's smallest-pools build). */
    system_event_stats_t bus;
    memory_pool_stats_t pools;
    if (system_event_get_stats(&bus) != ESP_OK || memory_pool_get_stats(&pools) != ESP_OK) {
        return fail("statistics");
    }
    const bool fits = pools.classes[MEMORY_POOL_CLASS_COUNT - 1].block_size >= 100;
    if ((fits ? bus.pool_payloads : bus.heap_payloads) != 1) {
        return fail("Automatic Usage: the payload did not go to a pool block");
    }
    spec_manual_pool_usage();
    if (spec_for_applications() != 0) {
        return fail("For Applications: APP_MALLOC(50000) returned NULL");
    }
    spec_for_system_services();
    spec_heap_monitoring();
    spec_pool_monitoring();
    spec_legacy_memory_utils();
    if (spec_example2() != 0) {
        return fail("Example 2: audio_app_entry");
    }
    if (spec_example3() != 0) {
        return fail("Example 3: wifi_service_init");
    }
    spec_troubleshooting();
    if (spec_example1() != 0) {
        return fail("Example 1: the event was not delivered intact once");
    }
    /* Every event was delivered and the bus stopped: their pool blocks are all back. */
    memory_pool_stats_t st;
    if (memory_pool_get_stats(&st) != ESP_OK) {
        return fail("memory_pool_get_stats");
    }
    for (unsigned c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        if (st.classes[c].in_use != 0) {
            return fail("a pool block was not returned after delivery");
        }
    }
    printf("all spec snippets ran, each compiled with its own include only\n");
    return 0;
}
