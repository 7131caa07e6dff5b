/*
 * test_iram_isr_on_chip.c - with CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM (sdkconfig.ci.iram), an
 * ESP_INTR_FLAG_IRAM interrupt posts events and takes, returns and misuses pool blocks while the
 * flash cache is off, as ESP-IDF's own GPTimer test app checks its IRAM-safe ISR: a 100 us GPTimer
 * alarm (CONFIG_GPTIMER_ISR_IRAM_SAFE, called GPTIMER_ISR_CACHE_SAFE since ESP-IDF 5.5) runs an IRAM
 * callback while unity_utils_run_cache_disable_stub() keeps the cache off for 1 ms, ten times. The
 * windows reach the slow paths too: a lane of two fills (the dispatcher cannot run), the pools are
 * emptied for the last five windows, and every alarm in a window frees a pointer the pools never
 * handed out (reported through an IRAM misuse hook). One call into flash would crash the chip.
 */
#include <stdint.h>

#include "driver/gptimer.h"
#include "esp_attr.h"
#include "esp_rom_sys.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "memory_pool.h"
#include "sdkconfig.h"
#include "system_service/event_bus.h"
#include "unity.h"
#include "unity_test_utils.h"

#if CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM

#if !(CONFIG_GPTIMER_ISR_IRAM_SAFE || CONFIG_GPTIMER_ISR_CACHE_SAFE)
#error "sdkconfig.ci.iram sets CONFIG_GPTIMER_ISR_IRAM_SAFE: the timer's own ISR must be in IRAM"
#endif

#define SRC ((system_service_id_t)21)
#define TYPE ((system_event_type_t)5)
#define PAYLOAD (CONFIG_SYSTEM_SERVICE_EVENT_INLINE_DATA_SIZE + 8) /* a pool block, not inline */
#define WINDOWS 10
#define MAX_HELD 512 /* blocks taken to empty the pools (Kconfig default: 180) */

typedef struct {
    uint32_t fired, posted, full, no_mem, other; /* posts, by result */
    uint32_t fired_off, posted_off, full_off, no_mem_off; /* of which with the cache off */
    uint32_t blocks_ok, blocks_none, bad_frees, bad_frees_refused, hook_calls;
} iram_isr_t;

/* Everything the callbacks touch is in internal RAM (.bss, DRAM_ATTR): they run with the cache off. */
static DRAM_ATTR uint8_t payload[PAYLOAD];
static DRAM_ATTR _Alignas(8) uint32_t not_a_block[2];
static volatile iram_isr_t counts;
static volatile bool cache_off;
static volatile uint32_t delivered;
static void *held[MAX_HELD];

static void IRAM_ATTR on_misuse(const memory_pool_misuse_info_t *info)
{
    (void)info;
    counts.hook_calls++;
}

static bool IRAM_ATTR on_alarm(gptimer_handle_t timer, const gptimer_alarm_event_data_t *edata,
                               void *ctx)
{
    (void)timer;
    (void)edata;
    (void)ctx;
    const bool off = cache_off;
    bool woken = false;
    counts.fired++;
    counts.fired_off += off;
    switch (system_event_post_from_isr(SRC, TYPE, payload, sizeof payload,
                                       SYSTEM_EVENT_PRIORITY_HIGH, &woken)) {
    case ESP_OK:
        counts.posted++;
        counts.posted_off += off;
        break;
    case ESP_ERR_TIMEOUT: /* lane full */
        counts.full++;
        counts.full_off += off;
        break;
    case ESP_ERR_NO_MEM: /* pools emptied */
        counts.no_mem++;
        counts.no_mem_off += off;
        break;
    default:
        counts.other++;
        break;
    }
    void *block = memory_pool_alloc_isr(8);
    if (block == NULL) {
        counts.blocks_none++;
    } else if (memory_pool_free_isr(block) == ESP_OK) {
        counts.blocks_ok++;
    }
    if (off) {
        counts.bad_frees++;
        counts.bad_frees_refused += memory_pool_free_isr(not_a_block) == ESP_ERR_INVALID_ARG;
    }
    return woken;
}

static void IRAM_ATTR cache_off_for_1_ms(void *arg)
{
    (void)arg;
    cache_off = true;
    esp_rom_delay_us(1000);
    cache_off = false;
}

static void count_delivery(const system_event_t *event, void *ctx)
{
    (void)ctx;
    const uint8_t *data = event->data;
    if (event->size == PAYLOAD && event->from_isr && data[PAYLOAD - 1] == 0xA5) {
        delivered++;
    }
}

/* Take every pool block an ISR could get for `size` (with try_larger_class, the larger classes'
 * too). Returns how many are now held. */
static size_t empty_pools(size_t size, size_t n)
{
    void *p;
    while (n < MAX_HELD && (p = memory_pool_alloc_isr(size)) != NULL) {
        held[n++] = p;
    }
    TEST_ASSERT_LESS_THAN(MAX_HELD, n);
    return n;
}

TEST_CASE("an IRAM interrupt posts and uses the pools while the flash cache is off",
          "[system_service][iram]")
{
    payload[PAYLOAD - 1] = 0xA5;
    counts = (iram_isr_t){0};
    delivered = 0;
    system_event_bus_config_t bus_config = system_event_bus_default_config();
    bus_config.mode = SYSTEM_EVENT_MODE_TASK; /* a task starts the bus: an ISR cannot */
    bus_config.lane_capacity[SYSTEM_EVENT_PRIORITY_HIGH] = 2; /* fills within a window */
    TEST_ESP_OK(system_event_bus_init(&bus_config));
    TEST_ESP_OK(system_event_subscribe(SRC, TYPE, count_delivery, NULL, NULL));
    memory_pool_stats_t before;
    TEST_ESP_OK(memory_pool_get_stats(&before));
    memory_pool_set_misuse_hook(on_misuse);

    gptimer_handle_t timer = NULL;
    const gptimer_config_t config = {
        .clk_src = GPTIMER_CLK_SRC_DEFAULT,
        .direction = GPTIMER_COUNT_UP,
        .resolution_hz = 1000000, /* 1 us per count */
    };
    TEST_ESP_OK(gptimer_new_timer(&config, &timer));
    const gptimer_event_callbacks_t callbacks = {.on_alarm = on_alarm};
    TEST_ESP_OK(gptimer_register_event_callbacks(timer, &callbacks, NULL));
    const gptimer_alarm_config_t alarm = {
        .reload_count = 0,
        .alarm_count = 100, /* every 100 us: about 10 alarms per window */
        .flags.auto_reload_on_alarm = true,
    };
    TEST_ESP_OK(gptimer_set_alarm_action(timer, &alarm));
    TEST_ESP_OK(gptimer_enable(timer));
    TEST_ESP_OK(gptimer_start(timer));
    size_t n = 0;
    for (int i = 0; i < WINDOWS; i++) {
        if (i == WINDOWS / 2) { /* the last windows find the pools empty */
            n = empty_pools(PAYLOAD, empty_pools(1, 0));
        }
        unity_utils_run_cache_disable_stub(cache_off_for_1_ms, NULL);
        vTaskDelay(1); /* the dispatcher empties the lane between two windows */
    }
    TEST_ESP_OK(gptimer_stop(timer));
    TEST_ESP_OK(gptimer_disable(timer));
    TEST_ESP_OK(gptimer_del_timer(timer));
    for (size_t i = 0; i < n; i++) {
        memory_pool_free(held[i]);
    }
    memory_pool_set_misuse_hook(NULL);
    TEST_ESP_OK(system_event_bus_deinit(SYSTEM_EVENT_DEINIT_DRAIN)); /* delivers what is queued */

    /* Each path ran with the cache off: a post taken, a lane full, no block, a refused free. */
    TEST_ASSERT_GREATER_OR_EQUAL_UINT32(WINDOWS, counts.fired_off);
    TEST_ASSERT_GREATER_THAN_UINT32(0, counts.posted_off);
    TEST_ASSERT_GREATER_THAN_UINT32(0, counts.full_off);
    TEST_ASSERT_GREATER_THAN_UINT32(0, counts.no_mem_off);
    TEST_ASSERT_EQUAL_UINT32(0, counts.other);
    /* What the interrupt saw is what the bus and the pools counted. */
    TEST_ASSERT_EQUAL_UINT32(counts.posted, delivered);
    system_event_stats_t st;
    TEST_ESP_OK(system_event_get_stats(&st));
    const system_event_lane_stats_t *high = &st.lanes[SYSTEM_EVENT_PRIORITY_HIGH];
    TEST_ASSERT_EQUAL_UINT32(counts.posted, high->posted_from_isr);
    TEST_ASSERT_EQUAL_UINT32(counts.full, high->dropped[SYSTEM_EVENT_DROP_FULL]);
    TEST_ASSERT_EQUAL_UINT32(counts.no_mem, high->dropped[SYSTEM_EVENT_DROP_NO_MEM] +
                                                high->dropped[SYSTEM_EVENT_DROP_RESERVE]);
    TEST_ASSERT_GREATER_THAN_UINT32(0, counts.blocks_ok);
    TEST_ASSERT_GREATER_THAN_UINT32(0, counts.blocks_none);
    memory_pool_stats_t after;
    TEST_ESP_OK(memory_pool_get_stats(&after));
    TEST_ASSERT_EQUAL_UINT32(counts.bad_frees, counts.bad_frees_refused);
    TEST_ASSERT_EQUAL_UINT32(counts.bad_frees, counts.hook_calls);
    TEST_ASSERT_EQUAL_UINT32(counts.bad_frees, after.unknown_frees - before.unknown_frees);
}

#else

TEST_CASE("an IRAM interrupt posts and uses the pools while the flash cache is off",
          "[system_service][iram]")
{
    TEST_IGNORE_MESSAGE("build with sdkconfig.ci.iram (CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM)");
}

#endif
