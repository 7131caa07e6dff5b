/*
 * kraken_demo - the simulated Kraken-OS workload shown by `make run`: the spec's examples on the
 * simulated ESP32-S3 (profile from KRAKEN_SIM_PROFILE), then every statistic the subsystem keeps.
 */
#include <stdio.h>
#include <stdlib.h>

#include "demo.h"
#include "esp_log.h"
#include "heap_monitor.h"
#include "kraken_sim.h"
#include "sdkconfig.h"

static const char *TAG = "kraken_demo";

int main(void)
{
    /* the simulator falls back to the default module for an unknown name; a demo run for a module
     * it does not have would show the wrong figures, so refuse it here */
    const char *profile_name = getenv("KRAKEN_SIM_PROFILE");
    kraken_sim_profile_t profile;
    if (profile_name != NULL && profile_name[0] != '\0' &&
        kraken_sim_profile_from_name(profile_name, &profile) != ESP_OK) {
        fprintf(stderr, "kraken_demo: KRAKEN_SIM_PROFILE=%s is unknown; valid:", profile_name);
        for (int p = 0; p < KRAKEN_SIM_PROFILE_COUNT; p++) {
            fprintf(stderr, " %s", kraken_sim_profile_name((kraken_sim_profile_t)p));
        }
        fputc('\n', stderr);
        return 2;
    }
    /* first, as firmware does at boot: failed allocations count from here on */
    if (heap_monitor_init() != ESP_OK) {
        ESP_LOGE(TAG, "heap_monitor_init() failed");
        return EXIT_FAILURE;
    }
#ifdef CONFIG_SPIRAM
    const char *const psram_note = "";
#else
    const char *const psram_note = " (built without CONFIG_SPIRAM: its PSRAM is not used)";
#endif
    ESP_LOGI(TAG, "Kraken-OS memory management on a simulated %s%s",
             kraken_sim_profile_name(kraken_sim_get_profile()), psram_note);
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
