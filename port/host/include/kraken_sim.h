/*
 * kraken_sim.h - the simulated ESP32-S3 memory map (host only).
 *
 * Internal SRAM and PSRAM are separate regions with the chip's sizes and capability bits, each
 * managed by a TLSF heap with ESP-IDF's parameters. The ESP-IDF API in this folder (esp_heap_caps.h,
 * esp_psram.h, esp_memory_utils.h, ...) runs on top of it. The chip is set up on first use of any
 * of these APIs from the environment variable KRAKEN_SIM_PROFILE (esp32s3-n8r8 by default; an
 * unknown name logs an error listing the valid ones and uses the default); tests switch and reset
 * it here. docs/simulator.md lists the regions of each profile and the semantics.
 *
 * Context: kraken_sim_init/reset are a simulated reboot: "task", and never concurrently with any
 * other call into the simulator (join your threads first). Everything else is thread-safe and
 * isr-ok (it never blocks for long: at most a short mutex).
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

/** (Re)boot the simulated chip with `profile` and the build's sdkconfig: every heap is new and
 *  empty; pointers from before are invalid (freeing one is counted as an invalid free, or may
 *  release a new block that happens to start at the same address). Like a reboot it also clears
 *  the failed-allocation callback, fault injection and the statistics. Call it while no other
 *  thread is inside the simulator: a task that deleted itself is still freeing its stack until
 *  uxTaskGetNumberOfTasks() no longer counts it.
 *  ESP_OK; ESP_ERR_INVALID_ARG (unknown profile: nothing changed); ESP_ERR_NO_MEM (the host could
 *  not map the regions' memory). task, O(regions). */
esp_err_t kraken_sim_init(kraken_sim_profile_t profile);
/** kraken_sim_init() with the current profile. ESP_OK, ESP_ERR_NO_MEM. task, O(regions). */
esp_err_t kraken_sim_reset(void);
/** Current profile (initialises from KRAKEN_SIM_PROFILE on first use). */
kraken_sim_profile_t kraken_sim_get_profile(void);
/** "esp32s3-n8r8", "esp32s3-n8r2", "esp32s3-n8"; NULL for an unknown value. */
const char *kraken_sim_profile_name(kraken_sim_profile_t profile);
/** Parse a profile name. ESP_OK, ESP_ERR_INVALID_ARG (NULL), ESP_ERR_NOT_FOUND (unknown name). */
esp_err_t kraken_sim_profile_from_name(const char *name, kraken_sim_profile_t *out);

/* ---- Fault injection ------------------------------------------------------------------------
 * An "allocation" here is one attempt with one caps mask: heap_caps_malloc/calloc/aligned_alloc
 * make one, heap_caps_realloc one (unless it frees), heap_caps_*_prefer one per mask tried, and
 * malloc()/heap_caps_malloc_default one or two (ESP-IDF's internal-then-any order). An attempt
 * matches when its caps contain every bit of the injected `caps` (0 matches every attempt). A
 * failed attempt behaves exactly like "no heap had room": a prefer/default call goes on to its next
 * mask, and when the call as a whole returns NULL the failed-allocation callback runs as usual.
 * Both modes may be active at once. isr-ok, O(1). */

/** The next `n` matching attempts fail (n 0 turns this mode off). */
void kraken_sim_fail_next(uint32_t caps, unsigned n);
/** Every `nth` matching attempt fails, counted from now (nth 0 turns this mode off). */
void kraken_sim_fail_every(uint32_t caps, unsigned nth);
/** Turn off all fault injection. */
void kraken_sim_fault_clear(void);

/* ---- Simulated interrupt context (kraken_port_in_isr() is true in between) -----------------
 * Per thread, nestable. ESP-IDF allows the heap's alloc/realloc/free family in an ISR but strongly
 * discourages it; in between, every heap_caps_* call and malloc()/free() of simulated memory runs
 * as in a task and is counted (isr_calls); the first one after each boot logs a warning. isr-ok. */

void kraken_sim_isr_enter(void);
/** Leave the innermost kraken_sim_isr_enter(); ignored when not in one. */
void kraken_sim_isr_exit(void);

/* ---- Statistics of the simulator itself --------------------------------------------------- */

/** Counters since the last kraken_sim_init/reset; never decreased otherwise. Blocks handed out
 *  minus blocks released (allocations - frees) is the number of live blocks the API handed out. */
typedef struct {
    uint64_t allocations;   /**< new blocks handed out (a realloc that resizes or moves is not one) */
    uint64_t frees;         /**< blocks released (heap_caps_free, free(), realloc to size 0) */
    uint64_t failed;        /**< allocation calls that returned NULL for a non-zero size */
    uint64_t injected;      /**< attempts failed by fault injection */
    uint64_t invalid_frees; /**< free/realloc of a pointer no heap handed out, or freed twice, or
                                 of a memory_pool block (memory_pool_free releases those);
                                 heap_caps_free_*_task_stat_arrays() of NULL or of an array
                                 their alloc helpers did not hand out */
    uint64_t invalid_queries; /**< heap_caps_get_allocated_size() of a pointer that is not a live
                                   block, heap_caps_get_containing_block_size() of one in none:
                                   0, logged (ESP-IDF asserts) */
    uint64_t isr_calls;     /**< heap calls made from a simulated ISR (allowed, discouraged) */
    uint64_t refused_waits; /**< FreeRTOS calls that would wait (a timeout other than 0, a delay,
                                 vTaskSuspend(NULL)) made in a simulated ISR, inside a critical
                                 section (portENTER_CRITICAL) or with the scheduler suspended
                                 (vTaskSuspendAll): refused, logged (the chip asserts or hangs);
                                 counted here only, not in refused_calls */
    uint64_t refused_calls; /**< every other FreeRTOS call refused for bad input or a wrong
                                 context: a NULL handle or buffer, a priority, core or index out
                                 of range, a static TCB or stack in memory the chip rejects, an
                                 idle task deleted, suspended or reprioritised, a delete or a
                                 trace call in a simulated ISR, a delete of the wrong kind
                                 (WithCaps or not) or of an object tasks wait on, a mutex given
                                 by a task not holding it, a bad portEXIT_CRITICAL or
                                 taskEXIT_CRITICAL_FROM_ISR...: refused with the call's failure
                                 value, logged (the chip asserts, aborts or crashes on nearly
                                 all); also, logged, a task function that returns (deleted), a
                                 vTaskDelete(NULL) with the scheduler suspended (done) and a TLS
                                 deletion callback a plain set overwrote (not called), where the
                                 chip aborts or asserts. Each counted once. Not counted: what the
                                 host does not simulate (vTaskSuspend of another task, stream
                                 buffer completed callbacks), refused and logged */
    uint64_t critical_logs; /**< ESP_LOGx lines written inside a critical section or in a
                                 simulated ISR: written, the first logged (the chip aborts:
                                 libc's stdout lock); not the simulator's own diagnostics */
    uint64_t suspended_tracked_calls; /**< with CONFIG_HEAP_TASK_TRACKING on ESP-IDF v5.5 and
                                           later: allocations, reallocations and frees made with
                                           the scheduler suspended (vTaskSuspendAll): done, the
                                           first logged (the chip asserts: the tracking takes a
                                           mutex) */
    uint64_t task_wdt_triggers; /**< task watchdog timeouts (esp_task_wdt.h): each time the
                                     watchdog found a subscribed task or user that had not reset
                                     it within the timeout, printed the list and called
                                     esp_task_wdt_isr_user_handler (counted before a panic
                                     aborts) */
} kraken_sim_stats_t;

/** Copy the counters out. out NULL: nothing. isr-ok, O(1). */
void kraken_sim_get_stats(kraken_sim_stats_t *out);

/* ---- The memory map ------------------------------------------------------------------------- */

/** One heap of the simulated chip, in ESP-IDF's registered-heap order (the order in which
 *  heap_caps tries heaps at each priority level). */
typedef struct {
    const char *name;          /**< memory type as ESP-IDF names it: "RAM" (D/IRAM), "DRAM" (data
                                    cache memory the cache does not use), "RTCRAM", "SPIRAM", or
                                    "DMAPOOL" (CONFIG_SPIRAM_MALLOC_RESERVE_INTERNAL) */
    uint32_t caps[3];          /**< MALLOC_CAP_* at ESP-IDF's three priority levels */
    uintptr_t start;           /**< host address of the region */
    size_t size;               /**< region bytes, as heap_caps_get_total_size() counts them */
    size_t free_bytes;         /**< heap_caps_get_free_size() of this heap alone */
    size_t minimum_free_bytes; /**< its low-water mark */
    size_t largest_free_block; /**< the largest size one allocation can get from it */
} kraken_sim_region_t;

/** Number of heaps of the current profile. isr-ok, O(1). */
size_t kraken_sim_region_count(void);
/** Describe heap `index` (0 .. count-1). ESP_OK; ESP_ERR_INVALID_ARG (out NULL or index out of
 *  range). isr-ok, O(1). */
esp_err_t kraken_sim_get_region(size_t index, kraken_sim_region_t *out);

/** Bytes of EXT_RAM_BSS_ATTR / APP_DATA_ATTR statics linked into the program. O(1). */
size_t kraken_sim_ext_bss_size(void);
/** True when those statics are counted in the simulated PSRAM (PSRAM present and
 *  CONFIG_SPIRAM_ALLOW_BSS_SEG_EXTERNAL_MEMORY); false when in internal SRAM. O(1). */
bool kraken_sim_ext_bss_in_psram(void);

/** False when the real chip would not get past boot with this profile and the build's options:
 *  PSRAM support built in (CONFIG_SPIRAM), none on the module or none found in the configured mode
 *  (CONFIG_SPIRAM_MODE_OCT for the octal N8R8, quad for the N8R2), and CONFIG_SPIRAM_IGNORE_NOTFOUND
 *  not set (ESP-IDF does not allow it with .bss or .noinit in PSRAM, and the spec's sdkconfig puts
 *  .bss there): ESP-IDF aborts ("Failed to init external RAM!"). The simulator assumes ESP-IDF's
 *  default CONFIG_SPIRAM_BOOT_HW_INIT (PSRAM set up at boot). It boots such a chip anyway - a
 *  module without PSRAM as if IGNORE_NOTFOUND were set, one in the wrong mode as if the mode
 *  matched - so that each profile can be tested in one build, and logs a warning the first time;
 *  a firmware's test can assert on this. (With IGNORE_NOTFOUND set, PSRAM in the wrong mode is
 *  absent, as on the chip.) O(1). */
bool kraken_sim_boots_on_chip(void);

#ifdef __cplusplus
}
#endif
#endif
