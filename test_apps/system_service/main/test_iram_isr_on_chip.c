/*
 * test_iram_isr_on_chip.c - with CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM (sdkconfig.ci.iram), an
 * ESP_INTR_FLAG_IRAM interrupt posts events and takes and returns pool blocks while the flash cache
 * is off, as ESP-IDF's own GPTimer test app checks its IRAM-safe ISR: a 100 us GPTimer alarm
 * (CONFIG_GPTIMER_ISR_IRAM_SAFE, called GPTIMER_ISR_CACHE_SAFE since ESP-IDF 5.5) runs an IRAM
 * callback while unity_utils_run_cache_disable_stub() keeps the cache off for 1 ms, ten times. A
 * single call into flash from the callback would crash the chip (cache error).
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
#define PAYLOAD 64 /* above the inline size: a pool block (Small class) */

typedef struct {
    volatile uint32_t fired, posted, refused, blocks_ok;
} iram_isr_t;

/* Everything the callback touches is in internal RAM: it runs with the flash cache off. */
static DRAM_ATTR uint8_t payload[PAYLOAD];
static iram_isr_t counts;
static volatile uint32_t delivered;

static bool IRAM_ATTR on_alarm(gptimer_handle_t timer, const gptimer_alarm_event_data_t *edata,
                               void *ctx)
{
    (void)timer;
    (void)edata;
    iram_isr_t *c = ctx;
    bool woken = false;
    c->fired++;
    if (system_event_post_from_isr(SRC, TYPE, payload, sizeof payload, SYSTEM_EVENT_PRIORITY_HIGH,
                                   &woken) == ESP_OK) {
        c->posted++;
    } else {
        c->refused++; /* the lane can fill while the cache is off: the dispatcher cannot run */
    }
    void *block = memory_pool_alloc_isr(32);
    if (block != NULL && memory_pool_free_isr(block) == ESP_OK) {
        c->blocks_ok++;
    }
    return woken;
}

static void IRAM_ATTR cache_off_for_1_ms(void *arg)
{
    (void)arg;
    esp_rom_delay_us(1000);
}

static void count_delivery(const system_event_t *event, void *ctx)
{
    (void)ctx;
    const uint8_t *data = event->data;
    if (event->size == PAYLOAD && event->from_isr && data[PAYLOAD - 1] == 0xA5) {
        delivered++;
    }
}

TEST_CASE("an IRAM interrupt posts and uses the pools while the flash cache is off",
          "[system_service][iram]")
{
    payload[PAYLOAD - 1] = 0xA5;
    counts = (iram_isr_t){0};
    delivered = 0;
    system_event_bus_config_t bus_config = system_event_bus_default_config();
    bus_config.mode = SYSTEM_EVENT_MODE_TASK; /* a task starts the bus: an ISR cannot */
    TEST_ESP_OK(system_event_bus_init(&bus_config));
    TEST_ESP_OK(system_event_subscribe(SRC, TYPE, count_delivery, NULL, NULL));

    gptimer_handle_t timer = NULL;
    const gptimer_config_t config = {
        .clk_src = GPTIMER_CLK_SRC_DEFAULT,
        .direction = GPTIMER_COUNT_UP,
        .resolution_hz = 1000000, /* 1 us per count */
    };
    TEST_ESP_OK(gptimer_new_timer(&config, &timer));
    const gptimer_event_callbacks_t callbacks = {.on_alarm = on_alarm};
    TEST_ESP_OK(gptimer_register_event_callbacks(timer, &callbacks, &counts));
    const gptimer_alarm_config_t alarm = {
        .reload_count = 0,
        .alarm_count = 100, /* every 100 us */
        .flags.auto_reload_on_alarm = true,
    };
    TEST_ESP_OK(gptimer_set_alarm_action(timer, &alarm));
    TEST_ESP_OK(gptimer_enable(timer));
    TEST_ESP_OK(gptimer_start(timer));
    for (int i = 0; i < 10; i++) {
        unity_utils_run_cache_disable_stub(cache_off_for_1_ms, NULL);
        vTaskDelay(1); /* the dispatcher empties the lane between two windows */
    }
    TEST_ESP_OK(gptimer_stop(timer));
    TEST_ESP_OK(gptimer_disable(timer));
    TEST_ESP_OK(gptimer_del_timer(timer));

    TEST_ESP_OK(system_event_bus_deinit(SYSTEM_EVENT_DEINIT_DRAIN)); /* delivers what is queued */
    TEST_ASSERT_GREATER_THAN_UINT32(50, counts.fired); /* about 100 alarms fell in the windows */
    TEST_ASSERT_EQUAL_UINT32(counts.fired, counts.posted + counts.refused);
    TEST_ASSERT_GREATER_THAN_UINT32(0, counts.posted);
    TEST_ASSERT_EQUAL_UINT32(counts.posted, delivered);
    TEST_ASSERT_EQUAL_UINT32(counts.fired, counts.blocks_ok);
    system_event_stats_t st;
    TEST_ESP_OK(system_event_get_stats(&st));
    const system_event_lane_stats_t *high = &st.lanes[SYSTEM_EVENT_PRIORITY_HIGH];
    TEST_ASSERT_EQUAL_UINT32(counts.posted, high->posted_from_isr);
    TEST_ASSERT_EQUAL_UINT32(counts.refused, high->dropped[SYSTEM_EVENT_DROP_FULL] +
                                                 high->dropped[SYSTEM_EVENT_DROP_NO_MEM] +
                                                 high->dropped[SYSTEM_EVENT_DROP_RESERVE]);
}

#else

TEST_CASE("an IRAM interrupt posts and uses the pools while the flash cache is off",
          "[system_service][iram]")
{
    TEST_IGNORE_MESSAGE("build with sdkconfig.ci.iram (CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM)");
}

#endif
