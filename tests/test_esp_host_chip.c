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
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "kraken_sim.h"
#include "sdkconfig.h"
#include "sim_internal.h" /* sim_chip_address(): where a range starts on the chip */

#include "freertos_test_support.h" /* after freertos/task.h */

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
    (void)xTaskGetCurrentTaskHandle(); /* the test's thread is a task: counted in TASKS_AT_REST */
    for (BaseType_t core = 0; core < configNUMBER_OF_CORES; core++) {
        core_seen_t seen = {.done = xSemaphoreCreateBinary(), .core_id = -1, .port_core_id = -1};
        assert_non_null(seen.done);
        assert_int_equal(xTaskCreatePinnedToCore(report_core, "core", 4096, &seen, 5, NULL, core),
                         pdPASS);
        assert_int_equal(xSemaphoreTake(seen.done, portMAX_DELAY), pdTRUE);
        assert_int_equal(seen.core_id, core);
        assert_int_equal(seen.port_core_id, core);
        assert_true(seen.sp_internal); /* the task's stack is an internal heap block */
        /* it deletes itself after its give, and counts until its stack and TCB are back: the
         * next test's boot must not run under its frees (TSan saw it) */
        WAIT_FOR(uxTaskGetNumberOfTasks() == TASKS_AT_REST);
        assert_int_equal(uxTaskGetNumberOfTasks(), TASKS_AT_REST);
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

/* The clock ESP-IDF sets at startup: CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ (160 MHz by default, 240 in
 * tests/configs/alternate.defaults, 80 in menuconfig-mix.defaults), as cycles per microsecond of
 * simulated time. */
static void cycle_count_runs_at_the_configured_cpu_frequency(void **state)
{
    (void)state;
    const uint32_t mhz = CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ;
    assert_int_equal(esp_rom_get_cpu_ticks_per_us(), mhz);
    const int64_t t0 = esp_timer_get_time();
    const esp_cpu_cycle_count_t before = esp_cpu_get_cycle_count();
    esp_rom_delay_us(1000);
    const esp_cpu_cycle_count_t after = esp_cpu_get_cycle_count();
    const int64_t t1 = esp_timer_get_time();
    const uint32_t elapsed = (uint32_t)(after - before); /* wraps as CCOUNT */
    /* at least the delay's cycles, at most those of the time around it (less than 3/2 of another
     * frequency's when the delay took under 1.5 ms) */
    assert_true(elapsed >= mhz * 1000u);
    assert_true((uint64_t)elapsed <= (uint64_t)(t1 - t0) * mhz);
    /* counted from the simulated boot: the count is the microseconds x the MHz, mod 2^32 */
    assert_true((uint32_t)(before - (uint32_t)((uint64_t)t0 * mhz)) <= (uint64_t)(t1 - t0) * mhz);
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

/* ---- esp_dma_utils.h ---- */

static bool psram_in_heap(void)
{
    return heap_caps_get_total_size(MALLOC_CAP_SPIRAM) > 0;
}

#define SKIP_WITHOUT_PSRAM()                                                                       \
    do {                                                                                           \
        if (!psram_in_heap()) {                                                                    \
            print_message("skipped: no PSRAM in the heap in this configuration (CONFIG_SPIRAM, "    \
                          "CONFIG_SPIRAM_USE_CAPS_ALLOC)\n");                                       \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static void reset_log(void)
{
    logged_len = 0;
    logged[0] = '\0';
}

/* The v5.2 names are deprecated from v5.3: their tests call them anyway. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static void dma_malloc_places_internal_buffers_on_4_bytes(void **state)
{
    (void)state;
    const size_t free_before = heap_caps_get_free_size(MALLOC_CAP_DMA);
    void *buf = NULL;
    size_t actual = 0;
    assert_int_equal(esp_dma_malloc(13, 0, &buf, &actual), ESP_OK);
    assert_non_null(buf);
    assert_int_equal(actual, 16); /* rounded up to 4 */
    assert_int_equal((uintptr_t)buf % 4, 0);
    assert_true(esp_ptr_dma_capable(buf));
    assert_true(esp_ptr_internal(buf));
    assert_true(heap_caps_get_free_size(MALLOC_CAP_DMA) < free_before);
    heap_caps_free(buf);
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_DMA), free_before);
    /* actual_size may be NULL; other flags are ignored */
    assert_int_equal(esp_dma_malloc(8, BIT(5), &buf, NULL), ESP_OK);
    assert_true(esp_ptr_dma_capable(buf));
    heap_caps_free(buf);
    assert_int_equal(logged_len, 0);
}

static void dma_malloc_with_the_psram_flag_takes_whole_cache_lines(void **state)
{
    (void)state;
    SKIP_WITHOUT_PSRAM();
    const size_t psram_free = heap_caps_get_free_size(MALLOC_CAP_SPIRAM);
    void *buf = NULL;
    size_t actual = 0;
    assert_int_equal(esp_dma_malloc(1, ESP_DMA_MALLOC_FLAG_PSRAM, &buf, &actual), ESP_OK);
    assert_int_equal(actual, LINE);
    assert_int_equal((uintptr_t)buf % LINE, 0);
    assert_true(esp_ptr_external_ram(buf));
    assert_int_equal(esp_cache_msync(buf, actual, C2M), ESP_OK); /* what it is for */
    free(buf);                                                   /* free() takes it too */
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_SPIRAM), psram_free);
    assert_int_equal(esp_dma_malloc(LINE + 1, ESP_DMA_MALLOC_FLAG_PSRAM, &buf, &actual), ESP_OK);
    assert_int_equal(actual, 2 * LINE);
    heap_caps_free(buf);
}

static void dma_calloc_zeroes_and_refuses_an_overflowing_product(void **state)
{
    (void)state;
    /* dirty a block, free it, and take it back zeroed */
    uint8_t *dirty = heap_caps_malloc(100, MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL);
    assert_non_null(dirty);
    memset(dirty, 0xA5, 100);
    heap_caps_free(dirty);
    const uint32_t flags[] = {0, ESP_DMA_MALLOC_FLAG_PSRAM};
    for (size_t f = 0; f < (psram_in_heap() ? 2u : 1u); f++) {
        uint8_t *buf = NULL;
        size_t actual = 0;
        assert_int_equal(esp_dma_calloc(5, 20, flags[f], (void **)&buf, &actual), ESP_OK);
        assert_true(actual >= 100);
        for (size_t i = 0; i < 100; i++) {
            assert_int_equal(buf[i], 0);
        }
        heap_caps_free(buf);
    }
    reset_log();
    void *untouched = &untouched;
    size_t actual = 7;
    assert_int_equal(esp_dma_calloc(SIZE_MAX / 2 + 1, 2, 0, &untouched, &actual),
                     ESP_ERR_INVALID_ARG);
    assert_ptr_equal(untouched, &untouched);
    assert_int_equal(actual, 7);
    assert_non_null(strstr(logged, "dma_utils: "));
    assert_non_null(strstr(logged, "total size overflow"));
}

static int failed_allocations;

static void count_failed_allocation(size_t size, uint32_t caps, const char *function_name)
{
    (void)size;
    (void)caps;
    (void)function_name;
    failed_allocations++;
}

static void dma_malloc_refuses_bad_arguments(void **state)
{
    (void)state;
    failed_allocations = 0;
    assert_int_equal(heap_caps_register_failed_alloc_callback(count_failed_allocation), ESP_OK);
    const size_t free_before = heap_caps_get_free_size(MALLOC_CAP_DEFAULT);
    reset_log();
    assert_int_equal(esp_dma_malloc(16, 0, NULL, NULL), ESP_ERR_INVALID_ARG);
    assert_non_null(strstr(logged, "null pointer"));
    assert_int_equal(esp_dma_calloc(1, 16, 0, NULL, NULL), ESP_ERR_INVALID_ARG);
    void *buf = &buf;
    size_t actual = 7;
    reset_log();
    assert_int_equal(esp_dma_malloc(0, 0, &buf, &actual), ESP_ERR_NO_MEM); /* as heap_caps */
    assert_int_equal(esp_dma_malloc(SIZE_MAX - 1, 0, &buf, &actual), ESP_ERR_NO_MEM);
    /* rounded up in the chip's 32-bit size_t, it wraps to 0: refused without a report */
    assert_int_equal(esp_dma_malloc(0xFFFFFFFDu, 0, &buf, &actual), ESP_ERR_NO_MEM);
    assert_int_equal(failed_allocations, 0);
    assert_int_equal(esp_dma_malloc(512 * 1024, 0, &buf, &actual), ESP_ERR_NO_MEM);
    assert_int_equal(failed_allocations, 1); /* too large for the heaps: reported */
    assert_ptr_equal(buf, &buf);
    assert_int_equal(actual, 7);
    assert_non_null(strstr(logged, "E ("));
    assert_non_null(strstr(logged, "dma_utils: "));
    assert_non_null(strstr(logged, "Not enough heap memory"));
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_DEFAULT), free_before);
}

/* ESP-IDF v5.2 checks the address only, on 4 bytes, wherever the buffer is; v5.3 and later check
 * the address and the size, on the cache line in PSRAM. */
static void dma_is_buffer_aligned_checks_the_location_and_the_alignment(void **state)
{
    (void)state;
    uint8_t *in = heap_caps_aligned_alloc(64, 64, MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL);
    assert_non_null(in);
    assert_true(esp_dma_is_buffer_aligned(in, 64, ESP_DMA_BUF_LOCATION_INTERNAL));
    assert_true(esp_dma_is_buffer_aligned(in + 4, 8, ESP_DMA_BUF_LOCATION_INTERNAL));
    assert_false(esp_dma_is_buffer_aligned(in + 2, 8, ESP_DMA_BUF_LOCATION_INTERNAL));
    assert_false(esp_dma_is_buffer_aligned(in, 64, ESP_DMA_BUF_LOCATION_PSRAM));
    static const char in_flash[64] __attribute__((aligned(64))) = "rodata";
    assert_false(esp_dma_is_buffer_aligned(in_flash, 64, ESP_DMA_BUF_LOCATION_INTERNAL));
    assert_false(esp_dma_is_buffer_aligned(in_flash, 64, ESP_DMA_BUF_LOCATION_PSRAM));
#if defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)
    assert_true(esp_dma_is_buffer_aligned(in, 6, ESP_DMA_BUF_LOCATION_INTERNAL));
#else
    assert_false(esp_dma_is_buffer_aligned(in, 6, ESP_DMA_BUF_LOCATION_INTERNAL));
    assert_true(esp_dma_is_buffer_aligned(in, 64, ESP_DMA_BUF_LOCATION_AUTO));
    assert_false(esp_dma_is_buffer_aligned(in_flash, 64, ESP_DMA_BUF_LOCATION_AUTO));
#endif
    heap_caps_free(in);
    if (!psram_in_heap()) {
        return;
    }
    uint8_t *ext = heap_caps_aligned_alloc(LINE, 2 * LINE, MALLOC_CAP_SPIRAM);
    assert_non_null(ext);
    assert_true(esp_dma_is_buffer_aligned(ext, 2 * LINE, ESP_DMA_BUF_LOCATION_PSRAM));
    assert_false(esp_dma_is_buffer_aligned(ext, 2 * LINE, ESP_DMA_BUF_LOCATION_INTERNAL));
    assert_false(esp_dma_is_buffer_aligned(ext + 2, LINE, ESP_DMA_BUF_LOCATION_PSRAM));
#if defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)
    assert_true(esp_dma_is_buffer_aligned(ext + 4, 4, ESP_DMA_BUF_LOCATION_PSRAM));
#else
    assert_false(esp_dma_is_buffer_aligned(ext + 4, LINE, ESP_DMA_BUF_LOCATION_PSRAM));
    assert_false(esp_dma_is_buffer_aligned(ext, LINE + 4, ESP_DMA_BUF_LOCATION_PSRAM));
    assert_true(esp_dma_is_buffer_aligned(ext, LINE, ESP_DMA_BUF_LOCATION_AUTO));
#endif
    heap_caps_free(ext);
}

/* A module without PSRAM: the internal buffers as before, a PSRAM one is ESP_ERR_NO_MEM. */
static void dma_malloc_on_a_module_without_psram_has_internal_buffers_only(void **state)
{
    (void)state;
    assert_int_equal(kraken_sim_init(KRAKEN_SIM_ESP32S3_N8), ESP_OK);
    reset_log();
    void *buf = NULL;
    size_t actual = 0;
    assert_int_equal(esp_dma_malloc(64, 0, &buf, &actual), ESP_OK);
    assert_true(esp_ptr_dma_capable(buf));
    heap_caps_free(buf);
    buf = NULL;
    assert_int_equal(esp_dma_malloc(64, ESP_DMA_MALLOC_FLAG_PSRAM, &buf, &actual), ESP_ERR_NO_MEM);
    assert_int_equal(esp_dma_calloc(1, 64, ESP_DMA_MALLOC_FLAG_PSRAM, &buf, &actual),
                     ESP_ERR_NO_MEM);
    assert_null(buf);
    assert_non_null(strstr(logged, "Not enough heap memory"));
#if !defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)
    const esp_dma_mem_info_t ext = {.extra_heap_caps = MALLOC_CAP_SPIRAM};
    assert_int_equal(esp_dma_capable_malloc(64, &ext, &buf, &actual), ESP_ERR_NO_MEM);
    const esp_dma_mem_info_t internal = {.dma_alignment_bytes = 32};
    assert_int_equal(esp_dma_capable_malloc(64, &internal, &buf, &actual), ESP_OK);
    assert_true(esp_ptr_dma_capable(buf));
    heap_caps_free(buf);
#endif
}

#pragma GCC diagnostic pop

#if !defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)

static void dma_capable_malloc_aligns_internal_buffers_to_the_dma_alignment_only(void **state)
{
    (void)state;
    const struct {
        size_t alignment, size, actual;
    } cases[] = {
        {0, 13, 13}, /* 0 counts as 1: internal RAM has no cache line */
        {1, 13, 13},
        {4, 13, 16},
        {16, 17, 32},
        {64, 64, 64},
        {128, 1, 128},
    };
    const size_t free_before = heap_caps_get_free_size(MALLOC_CAP_DMA);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const esp_dma_mem_info_t info = {.dma_alignment_bytes = cases[i].alignment};
        void *buf = NULL;
        size_t actual = 0;
        assert_int_equal(esp_dma_capable_malloc(cases[i].size, &info, &buf, &actual), ESP_OK);
        assert_int_equal(actual, cases[i].actual);
        assert_int_equal((uintptr_t)buf % (cases[i].alignment ? cases[i].alignment : 1), 0);
        assert_true(esp_ptr_dma_capable(buf));
        assert_true(esp_dma_is_buffer_alignment_satisfied(buf, actual, info));
        heap_caps_free(buf);
    }
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_DMA), free_before);
    /* extra caps narrow the heaps: DMA | INTERNAL | 8BIT is still internal, EXEC has no DMA heap */
    const esp_dma_mem_info_t internal = {.extra_heap_caps = MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT,
                                         .dma_alignment_bytes = 4};
    void *buf = NULL;
    assert_int_equal(esp_dma_capable_malloc(40, &internal, &buf, NULL), ESP_OK);
    assert_true(esp_ptr_dma_capable(buf));
    heap_caps_free(buf);
    const esp_dma_mem_info_t exec = {.extra_heap_caps = MALLOC_CAP_EXEC};
    assert_int_equal(esp_dma_capable_malloc(40, &exec, &buf, NULL), ESP_ERR_NO_MEM);
    assert_non_null(strstr(logged, "Not enough heap memory"));
}

static void dma_capable_malloc_aligns_psram_buffers_to_the_cache_line_too(void **state)
{
    (void)state;
    SKIP_WITHOUT_PSRAM();
    const struct {
        int extra;
        size_t alignment, size, actual;
    } cases[] = {
        {MALLOC_CAP_SPIRAM, 0, 1, LINE},
        {MALLOC_CAP_SPIRAM, 4, LINE + 1, 2 * LINE},
        {MALLOC_CAP_SPIRAM | MALLOC_CAP_DMA, 0, 10, LINE}, /* DMA dropped: no such heap */
        {MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT, 2 * LINE, 3 * LINE, 4 * LINE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const esp_dma_mem_info_t info = {.extra_heap_caps = cases[i].extra,
                                         .dma_alignment_bytes = cases[i].alignment};
        void *buf = NULL;
        size_t actual = 0;
        assert_int_equal(esp_dma_capable_malloc(cases[i].size, &info, &buf, &actual), ESP_OK);
        assert_int_equal(actual, cases[i].actual);
        const size_t align = cases[i].alignment > LINE ? cases[i].alignment : LINE;
        assert_int_equal((uintptr_t)buf % align, 0);
        assert_true(esp_ptr_external_ram(buf));
        assert_int_equal(esp_cache_msync(buf, actual, C2M), ESP_OK);
        assert_true(esp_dma_is_buffer_alignment_satisfied(buf, actual, info));
        heap_caps_free(buf);
    }
    assert_int_equal(logged_len, 0);
}

static void dma_capable_calloc_zeroes_and_refuses_an_overflowing_product(void **state)
{
    (void)state;
    const esp_dma_mem_info_t infos[] = {{.dma_alignment_bytes = 4},
                                        {.extra_heap_caps = MALLOC_CAP_SPIRAM}};
    for (size_t f = 0; f < (psram_in_heap() ? 2u : 1u); f++) {
        /* dirty the memory first: what calloc returns must have been cleared */
        uint8_t *dirty = NULL;
        assert_int_equal(esp_dma_capable_malloc(300, &infos[f], (void **)&dirty, NULL), ESP_OK);
        memset(dirty, 0x5A, 300);
        heap_caps_free(dirty);
        uint8_t *buf = NULL;
        size_t actual = 0;
        assert_int_equal(esp_dma_capable_calloc(3, 100, &infos[f], (void **)&buf, &actual), ESP_OK);
        assert_true(actual >= 300);
        for (size_t i = 0; i < 300; i++) {
            assert_int_equal(buf[i], 0);
        }
        heap_caps_free(buf);
    }
    reset_log();
    void *untouched = &untouched;
    size_t actual = 7;
    assert_int_equal(esp_dma_capable_calloc(SIZE_MAX / 4 + 1, 4, &infos[0], &untouched, &actual),
                     ESP_ERR_INVALID_ARG);
    assert_ptr_equal(untouched, &untouched);
    assert_int_equal(actual, 7);
    assert_non_null(strstr(logged, "total size overflow"));
}

static void dma_capable_malloc_refuses_bad_arguments(void **state)
{
    (void)state;
    const size_t free_before = heap_caps_get_free_size(MALLOC_CAP_DEFAULT);
    const esp_dma_mem_info_t ok = {.dma_alignment_bytes = 4};
    void *buf = &buf;
    size_t actual = 7;
    reset_log();
    assert_int_equal(esp_dma_capable_malloc(16, NULL, &buf, &actual), ESP_ERR_INVALID_ARG);
    assert_int_equal(esp_dma_capable_malloc(16, &ok, NULL, &actual), ESP_ERR_INVALID_ARG);
    assert_int_equal(esp_dma_capable_calloc(1, 16, NULL, &buf, &actual), ESP_ERR_INVALID_ARG);
    /* ESP-IDF crashes on this one (it stores through out_ptr after allocating): refused here */
    assert_int_equal(esp_dma_capable_calloc(1, 16, &ok, NULL, &actual), ESP_ERR_INVALID_ARG);
    assert_non_null(strstr(logged, "dma_utils: "));
    assert_non_null(strstr(logged, "null pointer"));
    reset_log();
    const esp_dma_mem_info_t not_a_power_of_two = {.dma_alignment_bytes = 12};
    const esp_dma_mem_info_t nowhere = {.extra_heap_caps = MALLOC_CAP_SPIRAM | MALLOC_CAP_INTERNAL};
    const esp_dma_mem_info_t huge_alignment = {.dma_alignment_bytes = (size_t)1 << 31};
    assert_int_equal(esp_dma_capable_malloc(0, &ok, &buf, &actual), ESP_ERR_NO_MEM);
    assert_int_equal(esp_dma_capable_malloc(SIZE_MAX - 2, &ok, &buf, &actual), ESP_ERR_NO_MEM);
    assert_int_equal(esp_dma_capable_malloc(24, &not_a_power_of_two, &buf, &actual),
                     ESP_ERR_NO_MEM);
    assert_int_equal(esp_dma_capable_malloc(24, &nowhere, &buf, &actual), ESP_ERR_NO_MEM);
    assert_int_equal(esp_dma_capable_malloc(24, &huge_alignment, &buf, &actual), ESP_ERR_NO_MEM);
    assert_ptr_equal(buf, &buf);
    assert_int_equal(actual, 7);
    assert_non_null(strstr(logged, "Not enough heap memory"));
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_DEFAULT), free_before);
}

static void dma_alignment_satisfied_needs_dma_memory_and_both_alignments(void **state)
{
    (void)state;
    uint8_t *in = heap_caps_aligned_alloc(64, 128, MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL);
    assert_non_null(in);
    const esp_dma_mem_info_t any = {.dma_alignment_bytes = 0};
    const esp_dma_mem_info_t by16 = {.dma_alignment_bytes = 16};
    assert_true(esp_dma_is_buffer_alignment_satisfied(in + 3, 5, any)); /* internal: no line */
    assert_true(esp_dma_is_buffer_alignment_satisfied(in + 16, 32, by16));
    assert_false(esp_dma_is_buffer_alignment_satisfied(in + 8, 32, by16));
    assert_false(esp_dma_is_buffer_alignment_satisfied(in, 24, by16));
    static uint8_t statics[32] __attribute__((aligned(16))); /* internal DRAM: DMA-capable */
    assert_true(esp_dma_is_buffer_alignment_satisfied(statics, sizeof statics, by16));
    static const char in_flash[32] __attribute__((aligned(16))) = "rodata";
    assert_false(esp_dma_is_buffer_alignment_satisfied(in_flash, sizeof in_flash, any));
    heap_caps_free(in);
    if (!psram_in_heap()) {
        return;
    }
    uint8_t *ext = heap_caps_aligned_alloc(2 * LINE, 4 * LINE, MALLOC_CAP_SPIRAM);
    assert_non_null(ext);
    assert_true(esp_dma_is_buffer_alignment_satisfied(ext, LINE, any));
    assert_false(esp_dma_is_buffer_alignment_satisfied(ext + 4, LINE, any)); /* the line too */
    assert_false(esp_dma_is_buffer_alignment_satisfied(ext, LINE / 2, any));
    const esp_dma_mem_info_t by_two_lines = {.dma_alignment_bytes = 2 * LINE};
    assert_false(esp_dma_is_buffer_alignment_satisfied(ext, LINE, by_two_lines));
    assert_true(esp_dma_is_buffer_alignment_satisfied(ext, 2 * LINE, by_two_lines));
    assert_false(esp_dma_is_buffer_alignment_satisfied(ext + LINE, 2 * LINE, by_two_lines));
    heap_caps_free(ext);
}

#else /* ESP-IDF v5.2 has none of these */

static void dma_capable_api_is_v5_3s(void **state)
{
    (void)state;
    print_message("skipped: esp_dma_capable_* come with ESP-IDF v5.3 "
                  "(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)\n");
    skip();
}
#define dma_capable_malloc_aligns_internal_buffers_to_the_dma_alignment_only dma_capable_api_is_v5_3s
#define dma_capable_malloc_aligns_psram_buffers_to_the_cache_line_too dma_capable_api_is_v5_3s
#define dma_capable_calloc_zeroes_and_refuses_an_overflowing_product dma_capable_api_is_v5_3s
#define dma_capable_malloc_refuses_bad_arguments dma_capable_api_is_v5_3s
#define dma_alignment_satisfied_needs_dma_memory_and_both_alignments dma_capable_api_is_v5_3s

#endif

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
        cmocka_unit_test_setup_teardown(cycle_count_runs_at_the_configured_cpu_frequency, boot_n8r8,
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
        cmocka_unit_test_setup_teardown(dma_malloc_places_internal_buffers_on_4_bytes, boot_n8r8, stop_capture),
        cmocka_unit_test_setup_teardown(dma_malloc_with_the_psram_flag_takes_whole_cache_lines, boot_n8r8, stop_capture),
        cmocka_unit_test_setup_teardown(dma_calloc_zeroes_and_refuses_an_overflowing_product, boot_n8r8, stop_capture),
        cmocka_unit_test_setup_teardown(dma_malloc_refuses_bad_arguments, boot_n8r8, stop_capture),
        cmocka_unit_test_setup_teardown(dma_is_buffer_aligned_checks_the_location_and_the_alignment, boot_n8r8, stop_capture),
        cmocka_unit_test_setup_teardown(dma_malloc_on_a_module_without_psram_has_internal_buffers_only, boot_n8r8, stop_capture),
        cmocka_unit_test_setup_teardown(dma_capable_malloc_aligns_internal_buffers_to_the_dma_alignment_only, boot_n8r8, stop_capture),
        cmocka_unit_test_setup_teardown(dma_capable_malloc_aligns_psram_buffers_to_the_cache_line_too, boot_n8r8, stop_capture),
        cmocka_unit_test_setup_teardown(dma_capable_calloc_zeroes_and_refuses_an_overflowing_product, boot_n8r8, stop_capture),
        cmocka_unit_test_setup_teardown(dma_capable_malloc_refuses_bad_arguments, boot_n8r8, stop_capture),
        cmocka_unit_test_setup_teardown(dma_alignment_satisfied_needs_dma_memory_and_both_alignments, boot_n8r8, stop_capture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
