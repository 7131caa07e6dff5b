/*
 * esp_idf_version.h (host) - the ESP-IDF release the simulator follows, in ESP-IDF's names.
 *
 * The release is the build's CONFIG_KRAKEN_SIM_ESP_IDF_* choice (docs/simulator.md, "Which
 * ESP-IDF"); each choice covers several releases and reports the newest v5.x one it covers:
 *   _CURRENT 5.5.5 (also master)   _V5_5 5.5.4 (also v5.5.0-3, v6.0)   _V5_4 5.4.4
 *   _V5_3 5.3.5                    _V5_2 5.2.7 (also v5.1)
 * So `#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 3, 0)` picks the code the simulated heap
 * matches. Brought in by esp_system.h, and so by freertos/FreeRTOS.h, as in ESP-IDF.
 */
#ifndef ESP_IDF_VERSION_H_HOST
#define ESP_IDF_VERSION_H_HOST

#include "sdkconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)
#define ESP_IDF_VERSION_MAJOR 5
#define ESP_IDF_VERSION_MINOR 2
#define ESP_IDF_VERSION_PATCH 7
#elif defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_3)
#define ESP_IDF_VERSION_MAJOR 5
#define ESP_IDF_VERSION_MINOR 3
#define ESP_IDF_VERSION_PATCH 5
#elif defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_4)
#define ESP_IDF_VERSION_MAJOR 5
#define ESP_IDF_VERSION_MINOR 4
#define ESP_IDF_VERSION_PATCH 4
#elif defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_5)
#define ESP_IDF_VERSION_MAJOR 5
#define ESP_IDF_VERSION_MINOR 5
#define ESP_IDF_VERSION_PATCH 4
#else /* CONFIG_KRAKEN_SIM_ESP_IDF_CURRENT, the default */
#define ESP_IDF_VERSION_MAJOR 5
#define ESP_IDF_VERSION_MINOR 5
#define ESP_IDF_VERSION_PATCH 5
#endif

/** A version as one comparable number: (major << 16) | (minor << 8) | patch, as ESP-IDF's. */
#define ESP_IDF_VERSION_VAL(major, minor, patch) (((major) << 16) | ((minor) << 8) | (patch))
/** The release followed, as ESP_IDF_VERSION_VAL. */
#define ESP_IDF_VERSION                                                                            \
    ESP_IDF_VERSION_VAL(ESP_IDF_VERSION_MAJOR, ESP_IDF_VERSION_MINOR, ESP_IDF_VERSION_PATCH)

#ifndef __ASSEMBLER__
/** The release followed as a string, "v5.5.5" (the chip's is its build's `git describe`, e.g.
 *  "v5.5.5-dirty"). Never NULL; a static string. isr-ok, O(1). */
const char *esp_get_idf_version(void);
#endif

#ifdef __cplusplus
}
#endif
#endif /* ESP_IDF_VERSION_H_HOST */
