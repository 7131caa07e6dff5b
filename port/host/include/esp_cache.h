/*
 * esp_cache.h (host) - ESP-IDF's esp_cache_msync(), with the S3's argument checks.
 *
 * On the ESP32-S3 only external memory (PSRAM, and flash mapped through the cache) is behind the
 * cache: a DMA buffer in PSRAM must be written back before a DMA reads it (C2M) and invalidated
 * before the CPU reads what a DMA wrote (M2C), in whole data cache lines
 * (CONFIG_ESP32S3_DATA_CACHE_LINE_SIZE: 32 bytes by default). The host has no cache: after the
 * checks below the call does nothing. The checks are ESP-IDF's (esp_mm's esp_cache_msync, v5.3 to
 * v5.5.5; v5.1/v5.2's small differences are not modelled), made on the chip address the pointer
 * stands for (esp_memory_utils.h), so code that is refused on the chip is refused here, with
 * ESP-IDF's error line (tag "cache"):
 *   - addr NULL, or addr + size past the 32-bit address space;
 *   - both directions (DIR_C2M | DIR_M2C) or both types (TYPE_DATA | TYPE_INST);
 *   - a range not wholly in the cache's address windows (0x3C000000-0x3E000000 data,
 *     0x42000000-0x44000000 instructions): internal RAM (a heap_caps_malloc(MALLOC_CAP_DMA)
 *     buffer, a task stack, statics) is refused, a PSRAM block is taken;
 *   - without ESP_CACHE_MSYNC_FLAG_UNALIGNED, an address or size that is not a multiple of the
 *     cache line (the data line, or with TYPE_INST the instruction line, 32 bytes);
 *   - M2C with UNALIGNED; C2M with TYPE_INST.
 * Each refusal returns ESP_ERR_INVALID_ARG and writes nothing. What a stale cache line would do
 * on the chip (a DMA reading old data) is not simulated.
 */
#ifndef ESP_CACHE_H_HOST
#define ESP_CACHE_H_HOST

#include <stdint.h>
#include <stdlib.h>

#include "esp_bit_defs.h"
#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/** C2M: invalidate after the write-back; M2C: invalidates in any case. */
#define ESP_CACHE_MSYNC_FLAG_INVALIDATE BIT(0)
/** Allow an address and size that are not multiples of the cache line (C2M only). */
#define ESP_CACHE_MSYNC_FLAG_UNALIGNED BIT(1)
/** Cache to memory (write back), the default direction. */
#define ESP_CACHE_MSYNC_FLAG_DIR_C2M BIT(2)
/** Memory to cache (invalidate). */
#define ESP_CACHE_MSYNC_FLAG_DIR_M2C BIT(3)
/** Data cache, the default type. */
#define ESP_CACHE_MSYNC_FLAG_TYPE_DATA BIT(4)
/** Instruction cache (M2C only). */
#define ESP_CACHE_MSYNC_FLAG_TYPE_INST BIT(5)

/** Synchronises [addr, addr + size) between the cache and memory (flags: ESP_CACHE_MSYNC_FLAG_*;
 *  C2M and data by default): on the host, checks the arguments as the S3 does (above) and does
 *  nothing else.
 *  Returns ESP_OK, or ESP_ERR_INVALID_ARG for any refusal listed above (logged under "cache").
 *  isr-ok (the chip takes a spinlock), O(1). */
esp_err_t esp_cache_msync(void *addr, size_t size, int flags);

#ifdef __cplusplus
}
#endif
#endif /* ESP_CACHE_H_HOST */
