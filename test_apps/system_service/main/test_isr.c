/*
 * test_isr.c - one GPTimer alarm per call. The function it runs is the component's "isr-ok" code,
 * from flash: the cache is on during these tests. The callback itself is IRAM_ATTR because the
 * iram configuration (sdkconfig.ci.iram) sets CONFIG_GPTIMER_ISR_CACHE_SAFE (GPTIMER_ISR_IRAM_SAFE
 * up to ESP-IDF 5.4), with which GPTimer refuses to register a callback outside IRAM.
 */
#include "test_isr.h"

#include <stdint.h>

#include "driver/gptimer.h"
#include "esp_attr.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "unity.h"

typedef struct {
    test_isr_fn_t fn;
    void *arg;
    volatile bool fired;
} isr_call_t;

static bool IRAM_ATTR on_alarm(gptimer_handle_t timer, const gptimer_alarm_event_data_t *edata,
                               void *ctx)
{
    (void)timer;
    (void)edata;
    isr_call_t *call = ctx;
    const bool woken = call->fn(call->arg);
    call->fired = true;
    return woken;
}

void test_run_in_isr(test_isr_fn_t fn, void *arg)
{
    isr_call_t call = {.fn = fn, .arg = arg, .fired = false};
    gptimer_handle_t timer = NULL;
    const gptimer_config_t config = {
        .clk_src = GPTIMER_CLK_SRC_DEFAULT,
        .direction = GPTIMER_COUNT_UP,
        .resolution_hz = 1000000, /* 1 us per count */
    };
    TEST_ESP_OK(gptimer_new_timer(&config, &timer));
    const gptimer_event_callbacks_t callbacks = {.on_alarm = on_alarm};
    TEST_ESP_OK(gptimer_register_event_callbacks(timer, &callbacks, &call));
    const gptimer_alarm_config_t alarm = {.alarm_count = 1000}; /* 1 ms, once */
    TEST_ESP_OK(gptimer_set_alarm_action(timer, &alarm));
    TEST_ESP_OK(gptimer_enable(timer));
    TEST_ESP_OK(gptimer_start(timer));
    for (int i = 0; i < 100 && !call.fired; i++) {
        vTaskDelay(pdMS_TO_TICKS(10));
    }
    TEST_ESP_OK(gptimer_stop(timer));
    TEST_ESP_OK(gptimer_disable(timer));
    TEST_ESP_OK(gptimer_del_timer(timer));
    TEST_ASSERT_TRUE_MESSAGE(call.fired, "the timer interrupt never ran");
}
