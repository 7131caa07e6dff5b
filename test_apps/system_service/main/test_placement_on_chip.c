/*
 * test_placement_on_chip.c - the placement macros return memory where their names say, as the
 * chip's address map tells (esp_memory_utils.h), and the memory figures are ESP-IDF's.
 */
#include <stdint.h>
#include <string.h>

#include "esp_memory_utils.h"
#include "esp_psram.h"
#include "sdkconfig.h"
#include "system_service/memory_utils.h"
#include "unity.h"

static APP_DATA_ATTR uint8_t s_app_data[4096];

TEST_CASE("APP_MALLOC is PSRAM when there is PSRAM, SYSTEM_MALLOC internal, DMA_MALLOC DMA-capable",
          "[placement]")
{
    uint8_t *app = APP_MALLOC(1000);
    uint8_t *sys = SYSTEM_MALLOC(1000);
    uint8_t *dma = DMA_MALLOC(1000);
    TEST_ASSERT_NOT_NULL(app);
    TEST_ASSERT_NOT_NULL(sys);
    TEST_ASSERT_NOT_NULL(dma);
    if (memory_psram_available()) {
        TEST_ASSERT_TRUE(esp_ptr_external_ram(app));
    } else {
        TEST_ASSERT_TRUE(esp_ptr_internal(app)); /* the fallback */
    }
    TEST_ASSERT_TRUE(esp_ptr_internal(sys));
    TEST_ASSERT_TRUE(esp_ptr_byte_accessible(sys));
    TEST_ASSERT_TRUE(esp_ptr_internal(dma));
    TEST_ASSERT_TRUE(esp_ptr_dma_capable(dma));
    TEST_ASSERT_EQUAL_UINT(0, (uintptr_t)dma % MEMORY_DMA_ALIGNMENT);
    memset(app, 1, 1000);
    memset(sys, 2, 1000);
    memset(dma, 3, 1000);
    free(app);
    free(sys);
    free(dma);
}

TEST_CASE("memory_alloc_psram_only gives PSRAM, or NULL on a module without it", "[placement]")
{
    void *p = memory_alloc_psram_only(64 * 1024);
    if (memory_psram_available()) {
        TEST_ASSERT_NOT_NULL(p);
        TEST_ASSERT_TRUE(esp_ptr_external_ram(p));
    } else {
        TEST_ASSERT_NULL(p);
    }
    free(p);
    TEST_ASSERT_NULL(memory_alloc_psram_only(0));
    TEST_ASSERT_NULL(APP_CALLOC(SIZE_MAX / 2, 4)); /* n * size overflows */
}

TEST_CASE("APP_DATA_ATTR statics are zeroed, in PSRAM when BSS may go there", "[placement]")
{
#if CONFIG_SPIRAM_ALLOW_BSS_SEG_EXTERNAL_MEMORY
    TEST_ASSERT_TRUE(esp_ptr_external_ram(s_app_data));
#else
    TEST_ASSERT_TRUE(esp_ptr_internal(s_app_data));
#endif
    TEST_ASSERT_EACH_EQUAL_UINT8(0, s_app_data, sizeof s_app_data);
    memset(s_app_data, 0x5A, sizeof s_app_data);
    TEST_ASSERT_EACH_EQUAL_UINT8(0x5A, s_app_data, sizeof s_app_data);
    memset(s_app_data, 0, sizeof s_app_data); /* zero again for the next run of this test */
}

TEST_CASE("memory_get_info reports ESP-IDF's figures", "[placement]")
{
    memory_info_t info;
    TEST_ESP_OK(memory_get_info(&info));
    TEST_ASSERT_EQUAL_UINT(heap_caps_get_total_size(MEMORY_CAPS_SRAM), info.total_sram);
    TEST_ASSERT_EQUAL_UINT(heap_caps_get_total_size(MEMORY_CAPS_PSRAM), info.total_psram);
    TEST_ASSERT_TRUE(info.min_free_sram <= info.free_sram);
    TEST_ASSERT_TRUE(info.largest_free_sram <= info.free_sram);
    /* Read again from ESP-IDF: other tasks may have allocated a little meanwhile. */
    TEST_ASSERT_UINT_WITHIN(1024, heap_caps_get_free_size(MEMORY_CAPS_SRAM), info.free_sram);
    TEST_ASSERT_UINT_WITHIN(1024, heap_caps_get_free_size(MEMORY_CAPS_DMA), info.free_dma);
#if CONFIG_SPIRAM
    TEST_ASSERT_EQUAL(esp_psram_is_initialized(), info.psram_available);
    if (info.psram_available) {
        TEST_ASSERT_EQUAL_UINT(esp_psram_get_size(), info.psram_size);
        TEST_ASSERT_TRUE(info.total_psram > 0 && info.total_psram <= info.psram_size);
    }
#else
    TEST_ASSERT_FALSE(info.psram_available);
    TEST_ASSERT_EQUAL_UINT(0, info.total_psram);
#endif

    const size_t free_before = memory_get_free_sram();
    void *p = SYSTEM_MALLOC(10 * 1024);
    TEST_ASSERT_NOT_NULL(p);
    TEST_ASSERT_TRUE(free_before - memory_get_free_sram() >= 10 * 1024);
    free(p);
    TEST_ESP_OK(memory_get_info(&info));
    TEST_ASSERT_TRUE(info.min_free_sram <= free_before - 10 * 1024);
}
