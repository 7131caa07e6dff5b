/*
 * esp_cpu.h (host) - the part of ESP-IDF's esp_cpu.h that memory code uses: which core runs the
 * caller, the stack pointer, the cycle counter and the atomic compare-and-set. Not here: stalling,
 * resetting or waking cores, interrupt set-up, break- and watchpoints (no meaning on the host; code
 * that uses them does not build, instead of doing something else than on the chip). Brought in by
 * freertos/FreeRTOS.h, as ESP-IDF's portmacro.h does.
 */
#ifndef ESP_CPU_H_HOST
#define ESP_CPU_H_HOST

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

#include "esp_attr.h"
#include "esp_err.h"
#include "sdkconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The cycle counter's type (CCOUNT, 32 bits). */
typedef uint32_t esp_cpu_cycle_count_t;

/** The core the caller runs on, as xPortGetCoreID() says on the host: the core the calling task
 *  is pinned to, 0 when it is not pinned (or not a task). On the chip an unpinned task may run on
 *  either core and read 0 or 1. Never fails. isr-ok, O(1). (A function on the host, an inline
 *  register read on the chip.) */
int esp_cpu_get_core_id(void);

/** An address in the caller's current stack frame: with esp_memory_utils.h a task's stack pointer
 *  is in its stack block (esp_ptr_internal() true for an internal stack), as on the chip. isr-ok,
 *  O(1). */
FORCE_INLINE_ATTR void *esp_cpu_get_sp(void)
{
    return __builtin_frame_address(0);
}

/** The cycle count of the simulated CPU at CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ (microseconds since the
 *  simulated boot x the MHz, wrapping at 32 bits: about 17.9 s at 240 MHz, 26.8 s at 160), the
 *  clock heap tracing's ccount uses. Not the host's CPU time. isr-ok, O(1). */
esp_cpu_cycle_count_t esp_cpu_get_cycle_count(void);

/** Atomically: if *addr == compare_value, *addr = new_value and true; else false, *addr unchanged.
 *  Sequentially consistent (the chip's S32C1I, also on PSRAM). addr must not be NULL. isr-ok,
 *  O(1). */
bool esp_cpu_compare_and_set(volatile uint32_t *addr, uint32_t compare_value, uint32_t new_value);

#ifdef __cplusplus
}
#endif
#endif /* ESP_CPU_H_HOST */
