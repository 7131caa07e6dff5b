/* esp_heap_caps_init.h (host) - adding memory to the simulated chip's heaps at run time.
 * heap_caps_init() and heap_caps_enable_nonos_stack_heaps() are ESP-IDF's startup code's: the
 * simulator boots its heaps itself (kraken_sim.h), so they are not here. */
#ifndef ESP_HEAP_CAPS_INIT_H_HOST
#define ESP_HEAP_CAPS_INIT_H_HOST

#include <stdint.h>

#include "esp_err.h"
#include "esp_heap_caps.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Make [start, end) a new heap with the capabilities of the memory `start` lies in
 *  (memory_layout.c's types: internal RAM "RAM"/"DRAM", PSRAM "SPIRAM", RTC fast memory "RTCRAM"),
 *  as heap_caps_add_region_with_caps() does with those capabilities. The memory must be unused
 *  from then on; it stays a heap until the next boot (kraken_sim_reset). On the host, RAM of the
 *  simulated chip is the program's statics (EXT_RAM_BSS_ATTR ones in PSRAM, RTC_FAST_ATTR ones in
 *  RTC fast memory), a heap block and the calling thread's stack.
 *  ESP_ERR_INVALID_ARG when start is 0; ESP_ERR_NOT_FOUND when start lies in no such memory
 *  (code, read-only data, RTC slow memory, host memory outside the simulated chip); otherwise
 *  what heap_caps_add_region_with_caps() returns. task (takes a heap block), may block on the
 *  heaps' locks, O(heaps). */
esp_err_t heap_caps_add_region(intptr_t start, intptr_t end);

/** Make [start, end) a new heap with caps[0..2] (capabilities by priority, as
 *  soc_memory_types; copied). It goes to the head of the heap list: among heaps of equal
 *  priority it serves first, and a pointer inside it belongs to it even when the region is a
 *  block of another heap. Its minimum free size starts at 0 (ESP-IDF v5.5.5 and later: added
 *  after startup), and ESP-IDF's heap_t for it (36 bytes) is taken from the internal heap for
 *  good.
 *  ESP_OK; ESP_ERR_INVALID_ARG for NULL caps, a start or end of 0, end <= start, and (host only)
 *  memory that is not RAM of the simulated chip (see heap_caps_add_region; logged);
 *  ESP_FAIL when the region crosses the start or the end of a heap or is exactly one (a region
 *  inside, before or after a heap is allowed: ESP-IDF's heap_caps_check_add_region_allowed());
 *  ESP_ERR_NO_MEM when the heap_t cannot be allocated, or (host only, logged) when the simulator
 *  already holds 32 heaps; ESP_ERR_INVALID_SIZE when start is not 4-byte aligned or the region is
 *  too small for the heap's control structure. Nothing is kept on failure.
 *  task (takes a heap block), may block on the heaps' locks, O(heaps). */
esp_err_t heap_caps_add_region_with_caps(const uint32_t caps[], intptr_t start, intptr_t end);

#ifdef __cplusplus
}
#endif
#endif
