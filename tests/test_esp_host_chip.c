/* test_esp_host_chip.c - the host's chip-level ESP-IDF headers: esp_idf_version.h reports the
 * release the simulator follows, esp_chip_info() answers as an ESP32-S3 does on every module,
 * esp_cpu.h's core ID is xPortGetCoreID()'s, esp_cache_msync() refuses what the S3 refuses, and
 * esp_dma_utils.h places, aligns and sizes DMA buffers as the S3 does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "esp_cache.h"
#include "esp_chip_info.h"
#include "esp_cpu.h"
#include "esp_dma_utils.h"
#include "esp_heap_caps.h"
#include "esp_idf_version.h"
#include "esp_log.h"
#include "esp_memory_utils.h"
#include "esp_rom_sys.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "kraken_sim.h"
#include "sdkconfig.h"
#include "sim_internal.h" /* sim_chip_address(): where a range starts on the chip */

/* ---- what esp_cache_msync logged ---- */

static char logged[2048];
static size_t logged_len;

static int capture(const char *format, va_list args) __attribute__((format(printf, 1, 0)));
static int capture(const char *format, va_list args)
{
    const int n = vsnprintf(logged + logged_len, sizeof logged - logged_len, format, args);
    if (n > 0 && (size_t)n < sizeof logged - logged_len) {
        logged_len += (size_t)n;
    }
    return n;
}

static int boot_n8r8(void **state)
{
    (void)state;
    logged_len = 0;
    logged[0] = '\0';
    esp_log_set_vprintf(capture);
    return kraken_sim_init(KRAKEN_SIM_ESP32S3_N8R8) == ESP_OK ? 0 : -1;
}

static int stop_capture(void **state)
{
    (void)state;
    esp_log_set_vprintf(NULL);
    return 0;
}

/* ---- esp_idf_version.h ---- */

static void idf_version_is_the_release_the_simulator_follows(void **state)
{
    (void)state;
#if defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)
    const int expected = ESP_IDF_VERSION_VAL(5, 2, 7);
#elif defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_3)
    const int expected = ESP_IDF_VERSION_VAL(5, 3, 5);
#elif defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_4)
    const int expected = ESP_IDF_VERSION_VAL(5, 4, 4);
#elif defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_5)
    const int expected = ESP_IDF_VERSION_VAL(5, 5, 4);
#else
    const int expected = ESP_IDF_VERSION_VAL(5, 5, 5);
#endif
    assert_int_equal(ESP_IDF_VERSION, expected);
    assert_int_equal(ESP_IDF_VERSION_VAL(5, 5, 5), 0x050505);
    assert_true(ESP_IDF_VERSION_VAL(5, 10, 0) > ESP_IDF_VERSION_VAL(5, 9, 9));
    char text[32];
    snprintf(text, sizeof text, "v%d.%d.%d", ESP_IDF_VERSION_MAJOR, ESP_IDF_VERSION_MINOR,
             ESP_IDF_VERSION_PATCH);
    assert_string_equal(esp_get_idf_version(), text);
}

/* ---- esp_chip_info.h ---- */

static void chip_info_is_an_esp32s3_with_two_cores_on_every_module(void **state)
{
    (void)state;
    const kraken_sim_profile_t profiles[] = {KRAKEN_SIM_ESP32S3_N8R8, KRAKEN_SIM_ESP32S3_N8R2,
                                             KRAKEN_SIM_ESP32S3_N8};
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++) {
        assert_int_equal(kraken_sim_init(profiles[i]), ESP_OK);
        esp_chip_info_t info;
        memset(&info, 0xA5, sizeof info);
        esp_chip_info(&info);
        assert_int_equal(info.model, CHIP_ESP32S3);
        assert_int_equal(info.cores, 2);
        assert_int_equal(info.revision, 2); /* v0.2 */
        /* ESP-IDF's esp32s3/chip_info.c: Wi-Fi and BLE, never EMB_PSRAM or EMB_FLASH, whatever
         * the module (use esp_psram_get_size() for PSRAM). */
        assert_int_equal(info.features, CHIP_FEATURE_WIFI_BGN | CHIP_FEATURE_BLE);
    }
    assert_int_equal(CHIP_FEATURE_EMB_PSRAM, 1u << 7);
    assert_int_equal(CHIP_FEATURE_BLE, 1u << 4);
}

/* ---- esp_cpu.h ---- */

typedef struct {
    SemaphoreHandle_t done;
    int core_id;
    BaseType_t port_core_id;
    bool sp_internal;
} core_seen_t;

static void report_core(void *arg)
{
    core_seen_t *seen = arg;
    seen->core_id = esp_cpu_get_core_id();
    seen->port_core_id = xPortGetCoreID();
    seen->sp_internal = esp_ptr_internal(esp_cpu_get_sp());
    xSemaphoreGive(seen->done);
    vTaskDelete(NULL);
}

static void core_id_is_the_core_the_task_is_pinned_to(void **state)
{
    (void)state;
    assert_int_equal(esp_cpu_get_core_id(), xPortGetCoreID());
    for (BaseType_t core = 0; core < configNUMBER_OF_CORES; core++) {
        core_seen_t seen = {.done = xSemaphoreCreateBinary(), .core_id = -1, .port_core_id = -1};
        assert_non_null(seen.done);
        assert_int_equal(xTaskCreatePinnedToCore(report_core, "core", 4096, &seen, 5, NULL, core),
                         pdPASS);
        assert_int_equal(xSemaphoreTake(seen.done, portMAX_DELAY), pdTRUE);
        assert_int_equal(seen.core_id, core);
        assert_int_equal(seen.port_core_id, core);
        assert_true(seen.sp_internal); /* the task's stack is an internal heap block */
        vTaskDelay(2);                 /* let the task's deletion complete */
        vSemaphoreDelete(seen.done);
    }
}

static void stack_pointer_is_in_the_callers_frame(void **state)
{
    (void)state;
    volatile char here = 0;
    const uintptr_t sp = (uintptr_t)esp_cpu_get_sp();
    const uintptr_t local = (uintptr_t)&here;
    assert_true(sp - local < 4096 || local - sp < 4096);
    assert_true(esp_ptr_internal(esp_cpu_get_sp()));
}

static void cycle_count_runs_at_240_mhz_of_simulated_time(void **state)
{
    (void)state;
    const esp_cpu_cycle_count_t before = esp_cpu_get_cycle_count();
    esp_rom_delay_us(1000);
    const esp_cpu_cycle_count_t elapsed = esp_cpu_get_cycle_count() - before; /* wraps as CCOUNT */
    assert_true(elapsed >= 240u * 1000u);
    assert_true(elapsed < 240u * 1000u * 1000u); /* well under a second */
}

static void compare_and_set_swaps_only_an_expected_value(void **state)
{
    (void)state;
    volatile uint32_t word = 5;
    assert_false(esp_cpu_compare_and_set(&word, 4, 9));
    assert_int_equal(word, 5);
    assert_true(esp_cpu_compare_and_set(&word, 5, 9));
    assert_int_equal(word, 9);
}

/* ---- esp_cache.h ---- */

#ifdef CONFIG_ESP32S3_DATA_CACHE_LINE_SIZE
#define LINE CONFIG_ESP32S3_DATA_CACHE_LINE_SIZE
#else
#define LINE 32
#endif

#define C2M ESP_CACHE_MSYNC_FLAG_DIR_C2M
#define M2C ESP_CACHE_MSYNC_FLAG_DIR_M2C
#define UNALIGNED ESP_CACHE_MSYNC_FLAG_UNALIGNED

static void cache_msync_takes_whole_psram_cache_lines(void **state)
{
    (void)state;
    uint8_t *buf = heap_caps_aligned_alloc(LINE, 4 * LINE, MALLOC_CAP_SPIRAM);
    if (buf == NULL) {
        print_message("skipped: no PSRAM in this configuration (CONFIG_SPIRAM)\n");
        skip();
    }
    assert_true(esp_ptr_external_ram(buf));
    assert_int_equal(esp_cache_msync(buf, 4 * LINE, 0), ESP_OK); /* C2M, data by default */
    assert_int_equal(esp_cache_msync(buf, LINE, C2M | ESP_CACHE_MSYNC_FLAG_INVALIDATE), ESP_OK);
    assert_int_equal(esp_cache_msync(buf + LINE, 2 * LINE, M2C), ESP_OK);
    assert_int_equal(esp_cache_msync(buf, LINE, M2C | ESP_CACHE_MSYNC_FLAG_TYPE_INST), ESP_OK);
    /* C2M may be unaligned when it says so */
    assert_int_equal(esp_cache_msync(buf + 1, 5, C2M | UNALIGNED), ESP_OK);
    assert_int_equal(logged_len, 0);
    heap_caps_free(buf);
}

static void cache_msync_refuses_what_the_s3_refuses(void **state)
{
    (void)state;
    uint8_t *buf = heap_caps_aligned_alloc(LINE, 4 * LINE, MALLOC_CAP_SPIRAM);
    if (buf == NULL) {
        print_message("skipped: no PSRAM in this configuration (CONFIG_SPIRAM)\n");
        skip();
    }
    const struct {
        void *addr;
        size_t size;
        int flags;
        const char *says;
    } refused[] = {
        {NULL, LINE, 0, "null pointer"},
        {buf, LINE, C2M | M2C, "only select one direction or one type"},
        {buf, LINE, ESP_CACHE_MSYNC_FLAG_TYPE_DATA | ESP_CACHE_MSYNC_FLAG_TYPE_INST,
         "only select one direction or one type"},
        {buf + 1, LINE, C2M, "not aligned with cache line size"},
        {buf, LINE + 4, M2C, "not aligned with cache line size"},
        {buf + 1, 5, M2C | UNALIGNED, "M2C direction doesn't allow"},
        {buf, LINE, C2M | ESP_CACHE_MSYNC_FLAG_TYPE_INST, "C2M direction doesn't support"},
        {buf, (size_t)UINT32_MAX, C2M, "total size overflow"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        logged_len = 0;
        logged[0] = '\0';
        assert_int_equal(esp_cache_msync(refused[i].addr, refused[i].size, refused[i].flags),
                         ESP_ERR_INVALID_ARG);
        assert_non_null(strstr(logged, "E ("));
        assert_non_null(strstr(logged, "cache: "));
        assert_non_null(strstr(logged, refused[i].says));
    }
    heap_caps_free(buf);
}

/* Internal RAM is not behind the S3's cache: a DMA buffer there needs no sync, and ESP-IDF refuses
 * one (on every module). */
static void cache_msync_refuses_internal_memory(void **state)
{
    (void)state;
    static uint8_t statics[64] __attribute__((aligned(64)));
    uint8_t *dma = heap_caps_aligned_alloc(64, 64, MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL);
    assert_non_null(dma);
    void *const internal[] = {dma, statics};
    for (size_t i = 0; i < 2; i++) {
        logged_len = 0;
        assert_int_equal(esp_cache_msync(internal[i], 64, C2M), ESP_ERR_INVALID_ARG);
        assert_int_equal(esp_cache_msync(internal[i], 64, M2C), ESP_ERR_INVALID_ARG);
        assert_non_null(strstr(logged, "invalid addr or null pointer"));
    }
    heap_caps_free(dma);
    /* the calling thread's stack (internal DRAM on the chip) */
    uint8_t *on_stack = NULL;
    logged_len = 0;
    assert_int_equal(esp_cache_msync(&on_stack, sizeof on_stack, C2M | UNALIGNED),
                     ESP_ERR_INVALID_ARG);
    assert_non_null(strstr(logged, "invalid addr"));
}

/* A range must lie wholly in one cache window: starting in PSRAM (the data window) and ending
 * past it is refused, even when the end lands in the instruction window. */
static void cache_msync_refuses_a_range_that_leaves_its_window(void **state)
{
    (void)state;
    uint8_t *buf = heap_caps_aligned_alloc(LINE, 4 * LINE, MALLOC_CAP_SPIRAM);
    if (buf == NULL) {
        print_message("skipped: no PSRAM in this configuration (CONFIG_SPIRAM)\n");
        skip();
    }
    const uint32_t vaddr = sim_chip_address(buf);
    assert_true(vaddr >= 0x3C000000u && vaddr < 0x3E000000u);
    const size_t to_window_end = 0x3E000000u - vaddr;  /* a multiple of LINE, as vaddr */
    const size_t to_iram_window = 0x42000000u - vaddr; /* ends in the instruction window */
    const size_t sizes[] = {to_window_end + LINE, to_iram_window + LINE, 0x2000000u};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        logged_len = 0;
        logged[0] = '\0';
        assert_int_equal(esp_cache_msync(buf, sizes[i], C2M), ESP_ERR_INVALID_ARG);
        assert_int_equal(esp_cache_msync(buf, sizes[i], M2C), ESP_ERR_INVALID_ARG);
        assert_non_null(strstr(logged, "invalid addr or null pointer"));
    }
    heap_caps_free(buf);
}

/* The program's code stands for flash .text at 0x42000000 (SOC_IROM_LOW), the first byte of the
 * instruction window; the data window ends at 0x3DFFFFFF, the instruction window at 0x43FFFFFF
 * (the host has no cache: nothing is read or written). */
extern char __executable_start[] __attribute__((weak));

static void cache_msync_takes_the_first_and_last_byte_of_a_window(void **state)
{
    (void)state;
    assert_non_null(__executable_start);
    assert_int_equal(sim_chip_address(__executable_start), 0x42000000u);
    /* the instruction window: from its first byte, to its last byte, one past it */
    assert_int_equal(esp_cache_msync(__executable_start, LINE, M2C | ESP_CACHE_MSYNC_FLAG_TYPE_INST),
                     ESP_OK);
    assert_int_equal(esp_cache_msync(__executable_start, 1, C2M | UNALIGNED), ESP_OK);
    assert_int_equal(esp_cache_msync(__executable_start, 0x2000000u, C2M | UNALIGNED), ESP_OK);
    assert_int_equal(logged_len, 0);
    assert_int_equal(esp_cache_msync(__executable_start, 0x2000001u, C2M | UNALIGNED),
                     ESP_ERR_INVALID_ARG);
    assert_non_null(strstr(logged, "invalid addr or null pointer"));

    uint8_t *buf = heap_caps_aligned_alloc(LINE, LINE, MALLOC_CAP_SPIRAM);
    if (buf == NULL) {
        print_message("skipped: the data window's end needs PSRAM (CONFIG_SPIRAM)\n");
        skip();
    }
    const size_t to_window_end = 0x3E000000u - sim_chip_address(buf);
    logged_len = 0;
    logged[0] = '\0';
    assert_int_equal(esp_cache_msync(buf, to_window_end, C2M), ESP_OK); /* up to 0x3DFFFFFF */
    assert_int_equal(esp_cache_msync(buf + 1, to_window_end - 1, C2M | UNALIGNED), ESP_OK);
    assert_int_equal(logged_len, 0);
    assert_int_equal(esp_cache_msync(buf + 1, to_window_end, C2M | UNALIGNED), ESP_ERR_INVALID_ARG);
    assert_non_null(strstr(logged, "invalid addr or null pointer"));
    heap_caps_free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(idf_version_is_the_release_the_simulator_follows,
                                        boot_n8r8, stop_capture),
        cmocka_unit_test_setup_teardown(chip_info_is_an_esp32s3_with_two_cores_on_every_module,
                                        boot_n8r8, stop_capture),
        cmocka_unit_test_setup_teardown(core_id_is_the_core_the_task_is_pinned_to, boot_n8r8,
                                        stop_capture),
        cmocka_unit_test_setup_teardown(stack_pointer_is_in_the_callers_frame, boot_n8r8,
                                        stop_capture),
        cmocka_unit_test_setup_teardown(cycle_count_runs_at_240_mhz_of_simulated_time, boot_n8r8,
                                        stop_capture),
        cmocka_unit_test_setup_teardown(compare_and_set_swaps_only_an_expected_value, boot_n8r8,
                                        stop_capture),
        cmocka_unit_test_setup_teardown(cache_msync_takes_whole_psram_cache_lines, boot_n8r8,
                                        stop_capture),
        cmocka_unit_test_setup_teardown(cache_msync_refuses_what_the_s3_refuses, boot_n8r8,
                                        stop_capture),
        cmocka_unit_test_setup_teardown(cache_msync_refuses_internal_memory, boot_n8r8,
                                        stop_capture),
        cmocka_unit_test_setup_teardown(cache_msync_refuses_a_range_that_leaves_its_window,
                                        boot_n8r8, stop_capture),
        cmocka_unit_test_setup_teardown(cache_msync_takes_the_first_and_last_byte_of_a_window,
                                        boot_n8r8, stop_capture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
