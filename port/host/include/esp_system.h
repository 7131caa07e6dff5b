/*
 * esp_system.h (host) - the heap figures of ESP-IDF's esp_system.h, as esp_system_chip.c computes
 * them, and its includes (esp_err.h, esp_attr.h, esp_bit_defs.h, esp_idf_version.h). Only these
 * functions: restart, reset reasons and shutdown handlers have no meaning on the host (code
 * that uses them does not build here, instead of doing something else than on the chip).
 */
#ifndef ESP_SYSTEM_H_HOST
#define ESP_SYSTEM_H_HOST

#include <stdbool.h>
#include <stdint.h>

/* As ESP-IDF's esp_system.h (v5.1 to v5.5): firmware finds BIT0.. and ESP_IDF_VERSION here. */
#include "esp_attr.h"
#include "esp_bit_defs.h"
#include "esp_err.h"
#include "esp_idf_version.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Free bytes of every heap malloc() may use: heap_caps_get_free_size(MALLOC_CAP_DEFAULT), PSRAM
 *  included (its heap has MALLOC_CAP_DEFAULT under every SPIRAM option but MEMMAP, even when
 *  malloc() itself stays internal). Not the largest block that can be allocated. Never fails.
 *  Context: task (from a simulated ISR it runs and is counted in isr_calls, as every heap_caps
 *  query). O(heaps). */
uint32_t esp_get_free_heap_size(void);

/** Free bytes of internal RAM: heap_caps_get_free_size(MALLOC_CAP_8BIT | MALLOC_CAP_DMA |
 *  MALLOC_CAP_INTERNAL). Never fails. Context and complexity as above. */
uint32_t esp_get_free_internal_heap_size(void);

/** The lowest esp_get_free_heap_size() since boot: heap_caps_get_minimum_free_size(
 *  MALLOC_CAP_DEFAULT) (the sum of each heap's own minimum). Never fails. Context and complexity
 *  as above. */
uint32_t esp_get_minimum_free_heap_size(void);

#ifdef __cplusplus
}
#endif
#endif
