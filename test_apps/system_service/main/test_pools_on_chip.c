/*
 * test_pools_on_chip.c - the pools on the chip: blocks in internal SRAM, the fallback to the real
 * heap, and the ISR functions from a hardware interrupt.
 */
#include <stdint.h>
#include <string.h>

#include "esp_memory_utils.h"
#include "memory_pool.h"
#include "system_service/memory_utils.h"
#include "test_isr.h"
#include "unity.h"

static memory_pool_config_t kconfig_table(void)
{
    memory_pool_config_t config;
    TEST_ESP_OK(memory_pool_get_default_config(&config));
    return config;
}

TEST_CASE("pool blocks of every class are in internal SRAM, aligned to 8, writable", "[pool]")
{
    const memory_pool_config_t config = kconfig_table();
    for (unsigned c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        const size_t size = config.classes[c].block_size;
        uint8_t *p = memory_pool_alloc(size);
        TEST_ASSERT_NOT_NULL(p);
        TEST_ASSERT_EQUAL_UINT(c, memory_pool_class_of(p));
        TEST_ASSERT_TRUE(esp_ptr_internal(p));
        TEST_ASSERT_TRUE(esp_ptr_byte_accessible(p));
        TEST_ASSERT_EQUAL_UINT(0, (uintptr_t)p % 8);
        memset(p, 0xA5, size);
        TEST_ASSERT_EACH_EQUAL_UINT8(0xA5, p, size);
        memory_pool_free(p);
    }
}

TEST_CASE("an exhausted class falls back to the internal heap, counted, and recovers", "[pool]")
{
    const memory_pool_config_t config = kconfig_table();
    const unsigned c = MEMORY_POOL_CLASS_COUNT - 1; /* no larger class to spill into */
    const size_t size = config.classes[c].block_size;
    const uint32_t n = config.classes[c].count;
    void **blocks = SYSTEM_CALLOC(n, sizeof *blocks);
    TEST_ASSERT_NOT_NULL(blocks);
    memory_pool_stats_t before, after;
    TEST_ESP_OK(memory_pool_get_stats(&before));

    for (uint32_t i = 0; i < n; i++) {
        blocks[i] = memory_pool_alloc(size);
        TEST_ASSERT_EQUAL_UINT(c, memory_pool_class_of(blocks[i]));
    }
    TEST_ASSERT_EQUAL_UINT32(0, memory_pool_class_free(c));
    void *fallback = memory_pool_alloc(size);
    TEST_ESP_OK(memory_pool_get_stats(&after));
    if (config.heap_blocks_max > 0) {
        TEST_ASSERT_NOT_NULL(fallback);
        TEST_ASSERT_EQUAL_UINT(MEMORY_POOL_CLASS_COUNT, memory_pool_class_of(fallback));
        TEST_ASSERT_TRUE(memory_pool_owns(fallback));
        TEST_ASSERT_TRUE(esp_ptr_internal(fallback));
        TEST_ASSERT_EQUAL_UINT(0, (uintptr_t)fallback % 8);
        TEST_ASSERT_EQUAL_UINT32(before.classes[c].heap_fallbacks + 1,
                                 after.classes[c].heap_fallbacks);
        TEST_ASSERT_EQUAL_UINT32(1, after.classes[c].fallback_live);
    } else {
        TEST_ASSERT_NULL(fallback);
        TEST_ASSERT_EQUAL_UINT32(before.classes[c].failures + 1, after.classes[c].failures);
    }

    memory_pool_free(fallback);
    for (uint32_t i = 0; i < n; i++) {
        memory_pool_free(blocks[i]);
    }
    free(blocks);
    TEST_ASSERT_EQUAL_UINT32(n, memory_pool_class_free(c));
}

typedef struct {
    size_t size;         /* a Medium request */
    size_t oversize;     /* above the largest class: only the heap could serve it */
    void *block;
    unsigned class_index;
    bool internal;
    void *oversize_block;
    esp_err_t free_result;
    esp_err_t double_free_result;
} isr_pool_test_t;

static bool pool_calls_in_isr(void *arg)
{
    isr_pool_test_t *t = arg;
    t->block = memory_pool_alloc_isr(t->size);
    t->class_index = memory_pool_class_of(t->block);
    t->internal = t->block != NULL && esp_ptr_internal(t->block);
    t->oversize_block = memory_pool_alloc(t->oversize); /* acts as _isr: never the heap */
    t->free_result = memory_pool_free_isr(t->block);
    t->double_free_result = memory_pool_free_isr(t->block);
    return false;
}

TEST_CASE("pool alloc and free work in a hardware interrupt, which never gets heap memory",
          "[pool][isr]")
{
    const memory_pool_config_t config = kconfig_table();
    isr_pool_test_t t = {
        .size = config.classes[0].block_size + 1,
        .oversize = config.classes[MEMORY_POOL_CLASS_COUNT - 1].block_size + 1,
    };
    memory_pool_stats_t before, after;
    TEST_ESP_OK(memory_pool_get_stats(&before));

    test_run_in_isr(pool_calls_in_isr, &t);

    TEST_ASSERT_NOT_NULL(t.block);
    TEST_ASSERT_EQUAL_UINT(1, t.class_index);
    TEST_ASSERT_TRUE(t.internal);
    TEST_ASSERT_NULL(t.oversize_block);
    TEST_ASSERT_EQUAL(ESP_OK, t.free_result);
    TEST_ASSERT_EQUAL(ESP_ERR_INVALID_STATE, t.double_free_result);
    TEST_ESP_OK(memory_pool_get_stats(&after));
    TEST_ASSERT_EQUAL_UINT32(before.classes[1].allocations + 1, after.classes[1].allocations);
    TEST_ASSERT_EQUAL_UINT32(before.classes[1].frees + 1, after.classes[1].frees);
    TEST_ASSERT_EQUAL_UINT32(before.classes[1].double_frees + 1, after.classes[1].double_frees);
    TEST_ASSERT_EQUAL_UINT32(before.oversize_failures + 1, after.oversize_failures);
    TEST_ASSERT_EQUAL_UINT32(before.oversize, after.oversize);
    TEST_ESP_OK(memory_pool_check_integrity());
}
