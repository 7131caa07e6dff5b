/*
 * sim_memory_utils.c - esp_memory_utils.h on the simulated ESP32-S3: ESP-IDF's tests for the S3
 * (esp_memory_utils.h/.c, soc/esp32s3 soc.h ranges) applied to the chip address a host pointer
 * stands for (sim_chip_address). The build options ESP-IDF tests at compile time are this
 * simulator's: RTC fast memory is a heap (CONFIG_ESP_SYSTEM_ALLOW_RTC_FAST_MEM_AS_HEAP, the S3's
 * default), PSRAM support and the data cache's size come from the build's sdkconfig.
 */
#include "esp_memory_utils.h"

#include "sim_internal.h"

/* soc/esp32s3/include/soc/soc.h */
#define S3_DROM_LOW 0x3C000000u
#define S3_DROM_HIGH 0x3E000000u
#define S3_IROM_LOW 0x42000000u
#define S3_IROM_HIGH 0x44000000u
#define S3_IROM_MASK_LOW 0x40000000u
#define S3_IROM_MASK_HIGH 0x40060000u
#define S3_IRAM_LOW 0x40370000u
#define S3_IRAM_HIGH 0x403E0000u
#define S3_DRAM_LOW 0x3FC88000u /* also SOC_DMA_, SOC_BYTE_ACCESSIBLE_, SOC_MEM_INTERNAL_LOW */
#define S3_DRAM_HIGH 0x3FD00000u /* also SOC_DMA_HIGH, SOC_BYTE_ACCESSIBLE_HIGH */
#define S3_DIRAM_DRAM_LOW 0x3FC88000u
#define S3_DIRAM_DRAM_HIGH 0x3FCF0000u
#define S3_DIRAM_IRAM_LOW 0x40378000u
#define S3_DIRAM_IRAM_HIGH 0x403E0000u
#define S3_MEM_INTERNAL_HIGH 0x403E0000u
#define S3_RTC_FAST_LOW 0x600FE000u /* SOC_RTC_IRAM_ and SOC_RTC_DRAM_ */
#define S3_RTC_FAST_HIGH 0x60100000u
#define S3_RTC_DATA_LOW 0x50000000u /* RTC slow memory */
#define S3_RTC_DATA_HIGH 0x50002000u
#define S3_DCACHE_16KB_HIGH (S3_DROM_LOW + 0x4000u)

static bool in(uint32_t a, uint32_t low, uint32_t high)
{
    return a >= low && a < high;
}

static bool in_left_by_16kb_dcache(uint32_t a)
{
    return sim_data_cache_16kb() && in(a, S3_DROM_LOW, S3_DCACHE_16KB_HIGH);
}

bool esp_ptr_in_iram(const void *p)
{
    return in(sim_chip_address(p), S3_IRAM_LOW, S3_IRAM_HIGH);
}

bool esp_ptr_in_dram(const void *p)
{
    return in(sim_chip_address(p), S3_DRAM_LOW, S3_DRAM_HIGH);
}

bool esp_ptr_in_diram_dram(const void *p)
{
    return in(sim_chip_address(p), S3_DIRAM_DRAM_LOW, S3_DIRAM_DRAM_HIGH);
}

bool esp_ptr_in_diram_iram(const void *p)
{
    return in(sim_chip_address(p), S3_DIRAM_IRAM_LOW, S3_DIRAM_IRAM_HIGH);
}

bool esp_ptr_in_rtc_dram_fast(const void *p)
{
    return in(sim_chip_address(p), S3_RTC_FAST_LOW, S3_RTC_FAST_HIGH);
}

bool esp_ptr_in_rtc_iram_fast(const void *p)
{
    return esp_ptr_in_rtc_dram_fast(p); /* one range for code and data on the S3 */
}

bool esp_ptr_in_rtc_slow(const void *p)
{
    return in(sim_chip_address(p), S3_RTC_DATA_LOW, S3_RTC_DATA_HIGH);
}

bool esp_ptr_dma_capable(const void *p)
{
    return in(sim_chip_address(p), S3_DRAM_LOW, S3_DRAM_HIGH);
}

bool esp_ptr_dma_ext_capable(const void *p)
{
    return sim_chip_in_psram(sim_chip_address(p));
}

bool esp_ptr_executable(const void *p)
{
    const uint32_t a = sim_chip_address(p);
    return in(a, S3_IROM_LOW, S3_IROM_HIGH) || in(a, S3_IRAM_LOW, S3_IRAM_HIGH) ||
           in(a, S3_IROM_MASK_LOW, S3_IROM_MASK_HIGH) || sim_chip_in_psram(a) ||
           in(a, S3_RTC_FAST_LOW, S3_RTC_FAST_HIGH);
}

bool esp_ptr_byte_accessible(const void *p)
{
    const uint32_t a = sim_chip_address(p);
    return in(a, S3_DRAM_LOW, S3_DRAM_HIGH) || in(a, S3_RTC_FAST_LOW, S3_RTC_FAST_HIGH) ||
           sim_chip_in_psram(a) || in_left_by_16kb_dcache(a);
}

bool esp_ptr_internal(const void *p)
{
    const uint32_t a = sim_chip_address(p);
    return in(a, S3_DRAM_LOW, S3_MEM_INTERNAL_HIGH) || in(a, S3_RTC_DATA_LOW, S3_RTC_DATA_HIGH) ||
           in(a, S3_RTC_FAST_LOW, S3_RTC_FAST_HIGH) || in_left_by_16kb_dcache(a);
}

bool esp_ptr_external_ram(const void *p)
{
    return sim_chip_in_psram(sim_chip_address(p));
}

bool esp_ptr_in_drom(const void *p)
{
    const uint32_t low = sim_data_cache_16kb() ? S3_DCACHE_16KB_HIGH : S3_DROM_LOW;
    return in(sim_chip_address(p), low, S3_DROM_HIGH);
}

bool esp_ptr_in_rom(const void *p)
{
    return in(sim_chip_address(p), S3_IROM_MASK_LOW, S3_IROM_MASK_HIGH);
}
