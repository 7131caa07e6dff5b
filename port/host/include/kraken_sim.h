/*
 * kraken_sim.h - the simulated ESP32-S3 memory map (host only).
 *
 * Internal SRAM and PSRAM are separate regions with the chip's sizes and capability bits, each
 * managed by a TLSF heap with ESP-IDF's parameters. The ESP-IDF API in this folder (esp_heap_caps.h,
 * esp_psram.h, esp_memory_utils.h, ...) runs on top of it. The chip is set up on first use from the
 * environment variable KRAKEN_SIM_PROFILE (esp32s3-n8r8 by default); tests switch and reset it here.
 * All functions are thread-safe; none may be called from a simulated ISR.
 */
#ifndef KRAKEN_SIM_H
#define KRAKEN_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    KRAKEN_SIM_ESP32S3_N8R8 = 0, /**< 8 MB flash, 8 MB octal PSRAM (default) */
    KRAKEN_SIM_ESP32S3_N8R2 = 1, /**< 8 MB flash, 2 MB quad PSRAM */
    KRAKEN_SIM_ESP32S3_N8 = 2,   /**< 8 MB flash, no PSRAM */
    KRAKEN_SIM_PROFILE_COUNT
} kraken_sim_profile_t;

/** (Re)start the simulated chip with `profile`: every heap is new and empty of allocations;
 *  pointers from before are invalid. ESP_OK, ESP_ERR_INVALID_ARG (unknown profile). */
esp_err_t kraken_sim_init(kraken_sim_profile_t profile);
/** kraken_sim_init() with the current profile; also clears fault injection and counters. */
esp_err_t kraken_sim_reset(void);
/** Current profile (initialises from KRAKEN_SIM_PROFILE on first use). */
kraken_sim_profile_t kraken_sim_get_profile(void);
/** "esp32s3-n8r8", "esp32s3-n8r2", "esp32s3-n8"; NULL for an unknown value. */
const char *kraken_sim_profile_name(kraken_sim_profile_t profile);
/** Parse a profile name. ESP_OK, ESP_ERR_INVALID_ARG (NULL), ESP_ERR_NOT_FOUND (unknown name). */
esp_err_t kraken_sim_profile_from_name(const char *name, kraken_sim_profile_t *out);

/* ---- Fault injection: allocations whose caps contain all of `caps` fail (0 = any caps) ----- */

/** The next `n` matching allocations fail. */
void kraken_sim_fail_next(uint32_t caps, unsigned n);
/** Every `nth` matching allocation fails (nth 0 turns it off). */
void kraken_sim_fail_every(uint32_t caps, unsigned nth);
/** Turn off all fault injection. */
void kraken_sim_fault_clear(void);

/* ---- Simulated interrupt context (kraken_port_in_isr() is true in between) ----------------- */

void kraken_sim_isr_enter(void);
void kraken_sim_isr_exit(void);

/* ---- Statistics of the simulator itself --------------------------------------------------- */

typedef struct {
    uint64_t allocations;     /**< successful allocations (all heaps) */
    uint64_t frees;           /**< successful frees */
    uint64_t failed;          /**< failed allocations, injected ones included */
    uint64_t injected;        /**< failures caused by fault injection */
    uint64_t invalid_frees;   /**< free of a pointer no heap handed out, or freed twice */
} kraken_sim_stats_t;

void kraken_sim_get_stats(kraken_sim_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
