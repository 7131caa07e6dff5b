/*
 * esp_memory_utils.h (host) - ESP-IDF's pointer classification for the ESP32-S3, against the
 * simulated memory map.
 *
 * Each function takes the chip address a pointer stands for and applies ESP-IDF's test for the S3
 * (its soc.h ranges), so the answers are the chip's, quirks included: a PSRAM pointer is also in
 * DROM (same bus window) and, with PSRAM support built in, "executable"; RTC slow memory is
 * internal but not byte-accessible; the 16 KiB region a 16 KiB data cache leaves at 0x3C000000 is
 * internal and byte-accessible but not DMA-capable.
 *
 * Where a host pointer stands on the chip (docs/simulator.md, "Where a pointer points"): a
 * simulated heap region is itself; the program's .data/.bss and the calling thread's stack (a
 * task's stack is a block of the main D/IRAM heap by default) are internal DRAM, its read-only data
 * flash (DROM), its code flash (IROM); esp_attr.h's IRAM_ATTR code is IRAM, RTC_FAST_ATTR data and
 * RTC_IRAM_ATTR code RTC fast memory, RTC_DATA_ATTR / RTC_SLOW_ATTR / RTC_NOINIT_ATTR /
 * RTC_RODATA_ATTR data RTC slow memory, EXT_RAM_BSS_ATTR / EXT_RAM_NOINIT_ATTR statics PSRAM when
 * they are counted there (else internal DRAM). Anything else (other threads' stacks, memory of
 * shared libraries, mmap) is not part of the simulated chip: every function answers false.
 *
 * Every function is isr-ok, never blocks, O(1) (the first call on each thread looks up the thread's
 * stack once), and boots the simulator on first use.
 * Not provided: the D/IRAM and RTC address conversions (esp_ptr_diram_dram_to_iram & co.: the host
 * has no second mapping of the same memory) and the stack-pointer checks (esp_stack_ptr_*: they
 * take a 32-bit address).
 */
#ifndef ESP_MEMORY_UTILS_H_HOST
#define ESP_MEMORY_UTILS_H_HOST

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "esp_attr.h"
#include "sdkconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

/** False on the S3: its DRAM and IRAM buses use different addresses for the same memory. */
static inline bool esp_dram_match_iram(void)
{
    return false;
}

/** True on the S3: RTC fast memory has one address for data and code. */
static inline bool esp_rtc_dram_match_rtc_iram(void)
{
    return true;
}

/** In the instruction bus's internal RAM (SOC_IRAM_LOW..HIGH): IRAM_ATTR code. */
bool esp_ptr_in_iram(const void *p);
/** In the data bus's internal RAM (SOC_DRAM_LOW..HIGH): the internal heaps, static data. */
bool esp_ptr_in_dram(const void *p);
/** In the D/IRAM part of DRAM (SOC_DIRAM_DRAM_LOW..HIGH): the two D/IRAM heaps, static data; not
 *  the 32 KiB DRAM region at 0x3FCF0000. */
bool esp_ptr_in_diram_dram(const void *p);
/** In the D/IRAM part of IRAM (SOC_DIRAM_IRAM_LOW..HIGH): IRAM_ATTR code. */
bool esp_ptr_in_diram_iram(const void *p);
/** In RTC fast memory seen as code (the same range as data on the S3). */
bool esp_ptr_in_rtc_iram_fast(const void *p);
/** In RTC fast memory: the RTCRAM heap, RTC_FAST_ATTR data, RTC_IRAM_ATTR code. */
bool esp_ptr_in_rtc_dram_fast(const void *p);
/** In RTC slow memory: RTC_DATA_ATTR, RTC_SLOW_ATTR, RTC_NOINIT_ATTR, RTC_RODATA_ATTR data. */
bool esp_ptr_in_rtc_slow(const void *p);

/** In the S3's DMA-capable internal range (SOC_DMA_LOW..HIGH): the D/IRAM and DRAM heaps and
 *  internal static data; not RTC memory, not PSRAM, not the 16 KiB region at 0x3C000000. */
bool esp_ptr_dma_capable(const void *p);
/** In PSRAM, which the S3's GDMA reaches (SOC_PSRAM_DMA_CAPABLE): the PSRAM heap and statics;
 *  false on a module without PSRAM. */
bool esp_ptr_dma_ext_capable(const void *p);

/** Aligned to 4 bytes. */
static inline bool esp_ptr_word_aligned(const void *p)
{
    return ((uintptr_t)p) % 4 == 0;
}

/** Code could run from there: flash IROM, IRAM, ROM, RTC fast memory, and PSRAM when the build has
 *  PSRAM support (ESP-IDF's test, which does not look at memory protection). The host's shared
 *  libraries are not classified (false). */
bool esp_ptr_executable(const void *p);
/** Byte reads and writes work there: DRAM, RTC fast memory, PSRAM, and with a 16 KiB data cache
 *  the region it leaves at 0x3C000000. Not IRAM, not RTC slow memory, not flash. */
bool esp_ptr_byte_accessible(const void *p);
/** In internal memory: SOC_MEM_INTERNAL_LOW..HIGH (DRAM and IRAM), RTC slow and fast memory, and
 *  with a 16 KiB data cache the region it leaves at 0x3C000000. */
bool esp_ptr_internal(const void *p);
/** In the mapped PSRAM (the PSRAM heap, PSRAM statics); false on a module without PSRAM. */
bool esp_ptr_external_ram(const void *p);
/** In the flash data window (SOC_DROM_LOW..HIGH, above the region a 16 KiB data cache leaves):
 *  read-only data, and on the S3 PSRAM too. */
bool esp_ptr_in_drom(const void *p);
/** In the chip's mask ROM: never for a host pointer (libc's code is not classified). */
bool esp_ptr_in_rom(const void *p);

#ifdef __cplusplus
}
#endif
#endif
