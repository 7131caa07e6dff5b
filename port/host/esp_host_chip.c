/*
 * esp_host_chip.c - the chip-level ESP-IDF calls of the host port: esp_get_idf_version()
 * (esp_idf_version.h), esp_cpu.h's core ID, cycle count and compare-and-set, esp_chip_info()
 * (esp_chip_info.h), esp_cache_msync()'s argument checks (esp_cache.h) and the CPU clock
 * (esp_rom_get_cpu_ticks_per_us(), esp_rom_sys.h). Modelled on ESP-IDF's
 * esp_common, esp_hw_support (cpu.c, port/esp32s3/chip_info.c) and esp_mm (esp_cache_msync.c,
 * the S3's cache_ll.h); the answers are the S3's, written for the host.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "esp_cache.h"
#include "esp_check.h"
#include "esp_chip_info.h"
#include "esp_cpu.h"
#include "esp_idf_version.h"
#include "esp_rom_sys.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "sdkconfig.h"
#include "sim_internal.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

const char *esp_get_idf_version(void)
{
    return "v" STRINGIFY(ESP_IDF_VERSION_MAJOR) "." STRINGIFY(ESP_IDF_VERSION_MINOR) "." STRINGIFY(
        ESP_IDF_VERSION_PATCH);
}

/* ---- esp_cpu.h ---- */

int esp_cpu_get_core_id(void)
{
    return (int)xPortGetCoreID();
}

/* The simulated CPU's clock: the frequency ESP-IDF sets at startup (Kconfig.host's choice, as
 * ESP-IDF's, only 80, 160 or 240 on the S3). */
_Static_assert(CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ == 80 || CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ == 160 ||
                   CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ == 240,
               "CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ: the ESP32-S3 runs at 80, 160 or 240 MHz");

esp_cpu_cycle_count_t esp_cpu_get_cycle_count(void)
{
    return (esp_cpu_cycle_count_t)((uint64_t)esp_timer_get_time() *
                                   (uint64_t)CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ);
}

uint32_t esp_rom_get_cpu_ticks_per_us(void)
{
    return CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ;
}

bool esp_cpu_compare_and_set(volatile uint32_t *addr, uint32_t compare_value, uint32_t new_value)
{
    return __atomic_compare_exchange_n(addr, &compare_value, new_value, false, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}

/* ---- esp_chip_info.h ---- */

#define S3_CHIP_REVISION 2u /* v0.2: major * 100 + minor, as efuse_hal_chip_revision() */

void esp_chip_info(esp_chip_info_t *out_info)
{
    assert(out_info != NULL);
    memset(out_info, 0, sizeof *out_info);
    out_info->model = CHIP_ESP32S3;
    out_info->revision = S3_CHIP_REVISION;
    out_info->cores = 2;
    out_info->features = CHIP_FEATURE_WIFI_BGN | CHIP_FEATURE_BLE;
}

/* ---- esp_cache.h ---- */

static const char *const CACHE_TAG = "cache"; /* ESP-IDF's */

/* soc/esp32s3 ext_mem_defs.h: the cache's address windows. */
#define S3_DRAM0_CACHE_LOW 0x3C000000u
#define S3_DRAM0_CACHE_HIGH 0x3E000000u
#define S3_IRAM0_CACHE_LOW 0x42000000u
#define S3_IRAM0_CACHE_HIGH 0x44000000u

#ifdef CONFIG_ESP32S3_DATA_CACHE_LINE_SIZE
#define S3_DCACHE_LINE ((uint32_t)CONFIG_ESP32S3_DATA_CACHE_LINE_SIZE)
#else
#define S3_DCACHE_LINE 32u /* ESP-IDF's default */
#endif
#ifdef CONFIG_ESP32S3_INSTRUCTION_CACHE_LINE_SIZE
#define S3_ICACHE_LINE ((uint32_t)CONFIG_ESP32S3_INSTRUCTION_CACHE_LINE_SIZE)
#else
#define S3_ICACHE_LINE 32u /* ESP-IDF's default */
#endif

static bool in_window(uint32_t a, uint32_t low, uint32_t high)
{
    return a >= low && a < high;
}

/* The S3's cache_ll_vaddr_to_cache_level_id(): the first and last byte in one cache window. */
static bool behind_cache(uint32_t start, uint32_t size)
{
    const uint32_t last = start + size - 1u;
    return (in_window(start, S3_IRAM0_CACHE_LOW, S3_IRAM0_CACHE_HIGH) &&
            in_window(last, S3_IRAM0_CACHE_LOW, S3_IRAM0_CACHE_HIGH)) ||
           (in_window(start, S3_DRAM0_CACHE_LOW, S3_DRAM0_CACHE_HIGH) &&
            in_window(last, S3_DRAM0_CACHE_LOW, S3_DRAM0_CACHE_HIGH));
}

esp_err_t esp_cache_msync(void *addr, size_t size, int flags)
{
    ESP_RETURN_ON_FALSE_ISR(addr, ESP_ERR_INVALID_ARG, CACHE_TAG, "null pointer");
    /* The checks are made on the chip address, whose size_t has 32 bits. */
    const uint32_t vaddr = sim_chip_address(addr);
    uint32_t end = 0;
    const bool overflow = __builtin_add_overflow(vaddr, size, &end); /* also a size above 32 bits */
    ESP_RETURN_ON_FALSE_ISR(!overflow, ESP_ERR_INVALID_ARG, CACHE_TAG,
                            "wrong size, total size overflow");
    const bool both_dir =
        (flags & ESP_CACHE_MSYNC_FLAG_DIR_C2M) && (flags & ESP_CACHE_MSYNC_FLAG_DIR_M2C);
    const bool both_type =
        (flags & ESP_CACHE_MSYNC_FLAG_TYPE_DATA) && (flags & ESP_CACHE_MSYNC_FLAG_TYPE_INST);
    ESP_RETURN_ON_FALSE_ISR(!both_dir && !both_type, ESP_ERR_INVALID_ARG, CACHE_TAG,
                            "both C2M and M2C directions, or both data and instruction type are "
                            "selected, you should only select one direction or one type");
    ESP_RETURN_ON_FALSE_ISR(behind_cache(vaddr, (uint32_t)size), ESP_ERR_INVALID_ARG, CACHE_TAG,
                            "invalid addr or null pointer");
    const uint32_t line = (flags & ESP_CACHE_MSYNC_FLAG_TYPE_INST) ? S3_ICACHE_LINE : S3_DCACHE_LINE;
    if ((flags & ESP_CACHE_MSYNC_FLAG_UNALIGNED) == 0) {
        const bool aligned = vaddr % line == 0 && (uint32_t)size % line == 0;
        ESP_RETURN_ON_FALSE_ISR(aligned, ESP_ERR_INVALID_ARG, CACHE_TAG,
                                "start address: 0x%" PRIx32 ", or the size: 0x%" PRIx32
                                " is(are) not aligned with cache line size (0x%" PRIx32 ")B",
                                vaddr, (uint32_t)size, line);
    }
    if (flags & ESP_CACHE_MSYNC_FLAG_DIR_M2C) {
        ESP_RETURN_ON_FALSE_ISR(!(flags & ESP_CACHE_MSYNC_FLAG_UNALIGNED), ESP_ERR_INVALID_ARG,
                                CACHE_TAG,
                                "M2C direction doesn't allow ESP_CACHE_MSYNC_FLAG_UNALIGNED");
    } else {
        ESP_RETURN_ON_FALSE_ISR(!(flags & ESP_CACHE_MSYNC_FLAG_TYPE_INST), ESP_ERR_INVALID_ARG,
                                CACHE_TAG, "C2M direction doesn't support instruction type");
    }
    return ESP_OK; /* no cache on the host: nothing to write back or invalidate */
}
