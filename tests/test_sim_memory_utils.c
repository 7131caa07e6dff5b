/* test_sim_memory_utils.c - esp_memory_utils.h and esp_attr.h's placement on the simulated
 * ESP32-S3: each pointer gets the answers ESP-IDF's S3 tests give on the chip. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "esp_attr.h"
#include "esp_heap_caps.h"
#include "esp_memory_utils.h"
#include "esp_psram.h"
#include "freertos/FreeRTOS.h"
#include "freertos/idf_additions.h"
#include "kraken_sim.h"
#include "sim_internal.h"

/* Every answer esp_memory_utils.h gives about one pointer, as bits. */
enum {
    IRAM = 1 << 0,
    DRAM = 1 << 1,
    DIRAM_DRAM = 1 << 2,
    DIRAM_IRAM = 1 << 3,
    RTC_FAST = 1 << 4, /* esp_ptr_in_rtc_iram_fast too: one range on the S3 */
    RTC_SLOW = 1 << 5,
    DMA = 1 << 6,
    DMA_EXT = 1 << 7,
    EXEC = 1 << 8,
    BYTE = 1 << 9,
    INTERNAL = 1 << 10,
    EXTERNAL = 1 << 11,
    DROM = 1 << 12,
    ROM = 1 << 13,
};

static unsigned classify(const void *p)
{
    return (esp_ptr_in_iram(p) ? IRAM : 0) | (esp_ptr_in_dram(p) ? DRAM : 0) |
           (esp_ptr_in_diram_dram(p) ? DIRAM_DRAM : 0) |
           (esp_ptr_in_diram_iram(p) ? DIRAM_IRAM : 0) |
           (esp_ptr_in_rtc_dram_fast(p) ? RTC_FAST : 0) | (esp_ptr_in_rtc_slow(p) ? RTC_SLOW : 0) |
           (esp_ptr_dma_capable(p) ? DMA : 0) | (esp_ptr_dma_ext_capable(p) ? DMA_EXT : 0) |
           (esp_ptr_executable(p) ? EXEC : 0) | (esp_ptr_byte_accessible(p) ? BYTE : 0) |
           (esp_ptr_internal(p) ? INTERNAL : 0) | (esp_ptr_external_ram(p) ? EXTERNAL : 0) |
           (esp_ptr_in_drom(p) ? DROM : 0) | (esp_ptr_in_rom(p) ? ROM : 0);
}

/* The S3's answers for each kind of memory (ESP-IDF's esp_memory_utils.h/.c with soc.h). */
#define ANSWERS_DIRAM (DRAM | DIRAM_DRAM | DMA | BYTE | INTERNAL)
#define ANSWERS_DRAM (DRAM | DMA | BYTE | INTERNAL) /* 0x3FCF0000: DRAM, not D/IRAM */
#define ANSWERS_RTC_FAST (RTC_FAST | EXEC | BYTE | INTERNAL)
#define ANSWERS_RTC_SLOW (RTC_SLOW | INTERNAL) /* not byte-accessible by ESP-IDF's test */
#define ANSWERS_PSRAM (DMA_EXT | EXEC | BYTE | EXTERNAL | DROM) /* the DROM window holds PSRAM */
#define ANSWERS_IRAM_CODE (IRAM | DIRAM_IRAM | EXEC | INTERNAL)
#define ANSWERS_FLASH_CODE EXEC
#define ANSWERS_FLASH_DATA DROM

static uint8_t plain_static[64];
static const char flash_string[] = "in flash on the chip";
static RTC_DATA_ATTR uint32_t rtc_data = 7;
static RTC_SLOW_ATTR uint32_t rtc_slow;
static RTC_NOINIT_ATTR uint32_t rtc_noinit;
static RTC_RODATA_ATTR const uint32_t rtc_rodata = 3;
static RTC_FAST_ATTR uint32_t rtc_fast;
static EXT_RAM_NOINIT_ATTR uint8_t ext_noinit[4096];
static DMA_ATTR uint8_t dma_buffer[6];
static DRAM_DMA_ALIGNED_ATTR uint8_t dma_aligned[5];

static IRAM_ATTR int iram_function(int x)
{
    return x + 1;
}

static RTC_IRAM_ATTR int rtc_function(int x)
{
    return x + 2;
}

static int flash_function(int x)
{
    return x + 3;
}

static const void *code(int (*fn)(int))
{
    return (const void *)(uintptr_t)fn;
}

static int boot(kraken_sim_profile_t profile, bool spiram, bool noinit_external, unsigned dcache_kb)
{
    sim_policy_t policy;
    sim_policy_from_sdkconfig(&policy);
    policy.spiram = spiram;
    /* the module's own PSRAM mode: with CONFIG_SPIRAM_IGNORE_NOTFOUND the other finds none */
    policy.octal = profile != KRAKEN_SIM_ESP32S3_N8R2;
    policy.use_malloc = false;
    policy.memmap = false;
    policy.noinit_external = noinit_external;
    policy.dcache_kb = dcache_kb;
    return sim_init_with_policy(profile, &policy) == ESP_OK ? 0 : -1;
}

static int boot_n8r8(void **state)
{
    (void)state;
    return boot(KRAKEN_SIM_ESP32S3_N8R8, true, true, 32);
}

static int boot_n8r8_dcache16(void **state)
{
    (void)state;
    return boot(KRAKEN_SIM_ESP32S3_N8R8, true, true, 16);
}

static int boot_n8r2_dcache64(void **state)
{
    (void)state;
    return boot(KRAKEN_SIM_ESP32S3_N8R2, true, true, 64);
}

static int boot_n8r8_noinit_internal(void **state)
{
    (void)state;
    return boot(KRAKEN_SIM_ESP32S3_N8R8, true, false, 32);
}

static int boot_n8_without_psram_support(void **state)
{
    (void)state;
    return boot(KRAKEN_SIM_ESP32S3_N8, false, false, 16);
}

static int reset(void **state)
{
    (void)state;
    kraken_sim_reset();
    return 0;
}

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

/* ---- the heaps ---------------------------------------------------------------------------------- */

static void each_heap_gets_the_chips_answers_at_its_first_and_last_byte(void **state)
{
    (void)state;
    size_t seen = 0;
    for (size_t i = 0; i < kraken_sim_region_count(); i++) {
        kraken_sim_region_t r;
        assert_int_equal(kraken_sim_get_region(i, &r), ESP_OK);
        unsigned expected;
        if (strcmp(r.name, "RAM") == 0) {
            expected = ANSWERS_DIRAM;
        } else if (strcmp(r.name, "DRAM") == 0) {
            expected = ANSWERS_DRAM;
        } else if (strcmp(r.name, "RTCRAM") == 0) {
            expected = ANSWERS_RTC_FAST;
        } else if (strcmp(r.name, "SPIRAM") == 0) {
            expected = ANSWERS_PSRAM;
        } else {
            fail_msg("unexpected heap %s", r.name);
            continue;
        }
        const uint8_t *first = (const uint8_t *)r.start;
        assert_int_equal(classify(first), expected);
        assert_int_equal(classify(first + r.size - 1), expected);
        seen++;
    }
    assert_int_equal(seen, kraken_sim_region_count());
    assert_true(seen >= 4);
    assert_int_equal(classify(flash_string), ANSWERS_FLASH_DATA);
    assert_int_equal(classify(plain_static), ANSWERS_DIRAM);
}

static void a_heap_block_of_each_caps_lands_where_the_caps_say(void **state)
{
    (void)state;
    void *dma = heap_caps_malloc(100, MALLOC_CAP_DMA);
    void *psram = heap_caps_malloc(100, MALLOC_CAP_SPIRAM);
    void *rtc = heap_caps_malloc(100, MALLOC_CAP_RTCRAM);
    assert_non_null(dma);
    assert_non_null(psram);
    assert_non_null(rtc);
    assert_int_equal(classify(dma) & (DMA | INTERNAL | EXTERNAL), DMA | INTERNAL);
    assert_int_equal(classify(psram), ANSWERS_PSRAM);
    assert_int_equal(classify(rtc), ANSWERS_RTC_FAST);
    heap_caps_free(dma);
    heap_caps_free(psram);
    heap_caps_free(rtc);
}

/* CONFIG_ESP32S3_DATA_CACHE_16KB without CONFIG_SPIRAM: 16 KiB more at 0x3C000000, internal and
 * byte-accessible by ESP-IDF's clauses for it, outside SOC_DMA_LOW..HIGH, and the DROM window
 * starts above it. */
static void the_region_a_16_kib_data_cache_leaves_is_internal_but_not_dma_capable(void **state)
{
    (void)state;
    size_t found = 0;
    for (size_t i = 0; i < kraken_sim_region_count(); i++) {
        kraken_sim_region_t r;
        assert_int_equal(kraken_sim_get_region(i, &r), ESP_OK);
        if (strcmp(r.name, "DRAM") == 0 && r.size == 16384) {
            assert_int_equal(classify((const void *)r.start), BYTE | INTERNAL);
            assert_int_equal(classify((const void *)(r.start + r.size - 1)), BYTE | INTERNAL);
            found++;
        }
    }
    assert_int_equal(found, 1);
    assert_int_equal(classify(flash_string), ANSWERS_FLASH_DATA);
}

/* ---- the program's own memory ------------------------------------------------------------------- */

static void static_data_is_dram_read_only_data_flash_and_code_flash(void **state)
{
    (void)state;
    assert_int_equal(classify(plain_static), ANSWERS_DIRAM);
    assert_int_equal(classify(&plain_static[63]), ANSWERS_DIRAM);
    assert_int_equal(classify(flash_string), ANSWERS_FLASH_DATA);
    assert_int_equal(classify("a literal"), ANSWERS_FLASH_DATA);
    assert_int_equal(classify(code(flash_function)), ANSWERS_FLASH_CODE);
    assert_int_equal(flash_function(1), 4);
}

static void esp_attr_placement_gives_iram_code_and_rtc_memory(void **state)
{
    (void)state;
    assert_int_equal(classify(code(iram_function)), ANSWERS_IRAM_CODE);
    assert_int_equal(iram_function(1), 2); /* still callable */
    assert_int_equal(classify(code(rtc_function)), ANSWERS_RTC_FAST);
    assert_int_equal(rtc_function(1), 3);
    assert_int_equal(classify(&rtc_fast), ANSWERS_RTC_FAST);
    const void *slow[] = {&rtc_data, &rtc_slow, &rtc_noinit, &rtc_rodata};
    for (size_t i = 0; i < sizeof slow / sizeof slow[0]; i++) {
        assert_int_equal(classify(slow[i]), ANSWERS_RTC_SLOW);
    }
    assert_int_equal(rtc_data, 7); /* initialised data keeps its value */
    assert_int_equal(rtc_rodata, 3);
    rtc_slow = rtc_noinit + 1;
    rtc_fast = rtc_slow;
    /* DMA_ATTR and DRAM_DMA_ALIGNED_ATTR: word-aligned DRAM */
    assert_true(esp_ptr_word_aligned(dma_buffer));
    assert_true(esp_ptr_word_aligned(dma_aligned));
    assert_false(esp_ptr_word_aligned(&dma_buffer[1]));
    assert_int_equal(classify(dma_buffer), ANSWERS_DIRAM);
}

static void ext_ram_noinit_statics_are_psram_when_allowed_and_come_out_of_its_heap(void **state)
{
    (void)state;
    assert_int_equal(classify(ext_noinit), ANSWERS_PSRAM);
    assert_int_equal(classify(&ext_noinit[sizeof ext_noinit - 1]), ANSWERS_PSRAM);
    const size_t ext_bss = kraken_sim_ext_bss_in_psram() ? round16(kraken_sim_ext_bss_size()) : 0;
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_SPIRAM) + ext_bss + sizeof ext_noinit,
                     esp_psram_get_size());
    ext_noinit[0]++; /* usable memory */
}

static void ext_ram_noinit_statics_stay_internal_when_the_option_is_off(void **state)
{
    (void)state;
    assert_int_equal(classify(ext_noinit), ANSWERS_DIRAM);
    const size_t ext_bss = kraken_sim_ext_bss_in_psram() ? round16(kraken_sim_ext_bss_size()) : 0;
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_SPIRAM) + ext_bss, esp_psram_get_size());
    const size_t internal_bss = kraken_sim_ext_bss_in_psram() ? 0 : round16(kraken_sim_ext_bss_size());
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_INTERNAL),
                     267552 + 22308 + 32768 + 7912 - internal_bss - sizeof ext_noinit);
}

static void without_psram_support_nothing_is_external_nor_executable_data(void **state)
{
    (void)state;
    assert_false(esp_psram_is_initialized());
    void *p = malloc(64);
    assert_non_null(p);
    assert_int_equal(classify(p) & (EXTERNAL | DMA_EXT | EXEC), 0);
    assert_int_equal(classify(ext_noinit), ANSWERS_DIRAM);
    free(p);
}

typedef struct {
    const int *main_local;
    unsigned own, main;
} seen_from_thread_t;

static void *classify_from_another_thread(void *arg)
{
    seen_from_thread_t *seen = arg;
    int local = 0;
    seen->own = classify(&local);
    seen->main = classify(seen->main_local);
    return NULL;
}

/* The calling thread's stack stands for a task's (a block of the main D/IRAM heap by default);
 * another thread's stack is not recognised. */
static void the_own_stack_is_internal_dram_other_stacks_and_libc_memory_are_no_chip_memory(
    void **state)
{
    (void)state;
    int local = 0;
    assert_int_equal(classify(&local), ANSWERS_DIRAM);
    seen_from_thread_t seen = {&local, 0, 0};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, classify_from_another_thread, &seen), 0);
    pthread_join(thread, NULL);
    assert_int_equal(seen.own, ANSWERS_DIRAM);
    assert_int_equal(seen.main, 0);
    char *libc = __real_malloc(8); /* libc's own malloc */
    assert_non_null(libc);
    assert_int_equal(classify(libc), 0);
    free(libc);
    assert_int_equal(classify(NULL), 0);
    assert_int_equal(classify((const void *)(uintptr_t)&abort), 0); /* a shared library's code */
}

typedef struct {
    SemaphoreHandle_t done;
    unsigned local; /* the answers for a local of the task */
} task_stack_seen_t;

static void classify_a_local(void *arg)
{
    task_stack_seen_t *seen = arg;
    volatile uint8_t buffer[32]; /* a DMA buffer on the stack: a classic */
    buffer[0] = 1;
    seen->local = classify((const void *)buffer);
    xSemaphoreGive(seen->done);
    (void)ulTaskNotifyTake(pdTRUE, portMAX_DELAY); /* until deleted */
}

/* A FreeRTOS task's locals answer as its stack block does: with a PSRAM stack, a stack buffer is
 * not DMA-capable (internal DMA), the bug that makes a transfer fail on the chip in one task only. */
static void a_tasks_locals_are_where_its_stack_block_is(void **state)
{
    (void)state;
    if (!KRAKEN_SIM_TASK_STACK_IN_PSRAM) {
        print_message("CONFIG_FREERTOS_TASK_CREATE_ALLOW_EXT_MEM is off (no PSRAM stacks): not "
                      "checked\n");
        skip();
    }
    const uint32_t caps[] = {MALLOC_CAP_SPIRAM, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT};
    const unsigned expected[] = {ANSWERS_PSRAM, ANSWERS_DIRAM};
    for (unsigned i = 0; i < 2; i++) {
        task_stack_seen_t seen = {.done = xSemaphoreCreateBinary()};
        assert_non_null(seen.done);
        TaskHandle_t task = NULL;
        assert_int_equal(xTaskCreatePinnedToCoreWithCaps(classify_a_local, "classify", 4096, &seen,
                                                         5, &task, tskNO_AFFINITY, caps[i]),
                         pdPASS);
        assert_true(xSemaphoreTake(seen.done, pdMS_TO_TICKS(5000)));
        assert_int_equal(seen.local, expected[i]);
        vTaskDeleteWithCaps(task);
        vSemaphoreDelete(seen.done);
    }
    /* a static task's stack is the caller's buffer: here a PSRAM block */
    task_stack_seen_t seen = {.done = xSemaphoreCreateBinary()};
    assert_non_null(seen.done);
    StackType_t *stack = heap_caps_malloc(4096, MALLOC_CAP_SPIRAM);
    assert_non_null(stack);
    static StaticTask_t tcb;
    TaskHandle_t task = xTaskCreateStatic(classify_a_local, "static", 4096, &seen, 5, stack, &tcb);
    assert_non_null(task);
    assert_true(xSemaphoreTake(seen.done, pdMS_TO_TICKS(5000)));
    assert_int_equal(seen.local, ANSWERS_PSRAM);
    vTaskDelete(task);
    vSemaphoreDelete(seen.done);
    heap_caps_free(stack);
}

static void the_chip_constants_are_the_s3s(void **state)
{
    (void)state;
    assert_false(esp_dram_match_iram());
    assert_true(esp_rtc_dram_match_rtc_iram());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(each_heap_gets_the_chips_answers_at_its_first_and_last_byte,
                                        boot_n8r8, reset),
        cmocka_unit_test_setup_teardown(each_heap_gets_the_chips_answers_at_its_first_and_last_byte,
                                        boot_n8r8_dcache16, reset),
        cmocka_unit_test_setup_teardown(each_heap_gets_the_chips_answers_at_its_first_and_last_byte,
                                        boot_n8r2_dcache64, reset),
        cmocka_unit_test_setup_teardown(a_heap_block_of_each_caps_lands_where_the_caps_say,
                                        boot_n8r8, reset),
        cmocka_unit_test_setup_teardown(
            the_region_a_16_kib_data_cache_leaves_is_internal_but_not_dma_capable,
            boot_n8_without_psram_support, reset),
        cmocka_unit_test_setup_teardown(static_data_is_dram_read_only_data_flash_and_code_flash,
                                        boot_n8r8, reset),
        cmocka_unit_test_setup_teardown(esp_attr_placement_gives_iram_code_and_rtc_memory,
                                        boot_n8r8, reset),
        cmocka_unit_test_setup_teardown(
            ext_ram_noinit_statics_are_psram_when_allowed_and_come_out_of_its_heap, boot_n8r8,
            reset),
        cmocka_unit_test_setup_teardown(ext_ram_noinit_statics_stay_internal_when_the_option_is_off,
                                        boot_n8r8_noinit_internal, reset),
        cmocka_unit_test_setup_teardown(without_psram_support_nothing_is_external_nor_executable_data,
                                        boot_n8_without_psram_support, reset),
        cmocka_unit_test_setup_teardown(
            the_own_stack_is_internal_dram_other_stacks_and_libc_memory_are_no_chip_memory,
            boot_n8r8, reset),
        cmocka_unit_test_setup_teardown(a_tasks_locals_are_where_its_stack_block_is, boot_n8r8, reset),
        cmocka_unit_test(the_chip_constants_are_the_s3s),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
