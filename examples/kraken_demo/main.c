/*
 * kraken_demo - the simulated Kraken-OS workload shown by `make run`: the spec's examples on the
 * simulated ESP32-S3 (profile from KRAKEN_SIM_PROFILE), then every statistic the subsystem keeps.
 */
#include <stdio.h>
#include <stdlib.h>

#include "demo.h"
#include "esp_log.h"
#include "kraken_sim.h"

static const char *TAG = "kraken_demo";

int main(void)
{
    ESP_LOGI(TAG, "Kraken-OS memory management on a simulated %s",
             kraken_sim_profile_name(kraken_sim_get_profile()));
    int failures = 0;
    failures += demo_memory_run();
    failures += demo_pools_run();
    failures += demo_events_run();
    failures += demo_monitor_run();
    if (failures != 0) {
        ESP_LOGE(TAG, "%d demo step(s) failed", failures);
        return EXIT_FAILURE;
    }
    ESP_LOGI(TAG, "done");
    return EXIT_SUCCESS;
}
