/*
 * demo_events.c - the event bus in the demo: the spec's Example 1 as written, then service-like
 * traffic on every lane (sensor readings, Wi-Fi status, UI frames, a battery alarm, a button
 * interrupt) posted by a FreeRTOS task as firmware would, then the bus statistics. The bus starts
 * by itself, as in the spec.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "demo.h"
#include "esp_heap_caps.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "kraken_sim.h"
#include "system_service/event_bus.h"

static const char *TAG = "demo_events";

/* The user's variables in Example 1. */
static system_service_id_t service_id;
static system_event_type_t event_type = 1;

/* ---- spec, Example 1: Service Using Event System (as written) --------------------------------- */

// Event data automatically uses memory pools!
typedef struct {
    uint32_t value;
    uint8_t data[200];  // Will use 256-byte pool
} my_event_data_t;

void my_service_send_data(void);
void my_service_send_data(void) {
    my_event_data_t event_data = {
        .value = 42
    };
    
    // Memory pool allocation happens automatically
    system_event_post(service_id, event_type, 
                     &event_data, sizeof(event_data),
                     SYSTEM_EVENT_PRIORITY_NORMAL);
    // ↑ Data copied to pool, sent to queue, freed automatically
}

/* ---- subscribers --------------------------------------------------------------------------- */

#define WAIT_MS 500

enum { EV_READING = 1, EV_LINK = 2, EV_FRAME = 3, EV_BATTERY_LOW = 4, EV_BUTTON = 5 };

typedef struct {
    uint32_t calls;
    uint32_t bad;
} counter_t;

static void example_handler(const system_event_t *e, void *ctx)
{
    counter_t *c = ctx;
    const my_event_data_t *d = e->data;
    c->calls++;
    c->bad += e->size != sizeof(my_event_data_t) || d->value != 42;
}

static void count_handler(const system_event_t *e, void *ctx)
{
    counter_t *c = ctx;
    c->calls++;
    c->bad += e->size != 0 && e->data == NULL;
}

static void power_handler(const system_event_t *e, void *ctx)
{
    counter_t *c = ctx;
    c->calls++;
    c->bad += e->priority != SYSTEM_EVENT_PRIORITY_CRITICAL;
    ESP_LOGW(TAG, "power: battery low (%u mV), event #%u", (unsigned)*(const uint16_t *)e->data,
             (unsigned)e->seq);
}

static uint32_t total(const system_event_stats_t *st, int delivered)
{
    uint32_t n = 0;
    for (int p = 0; p < SYSTEM_EVENT_PRIORITY_COUNT; p++) {
        n += delivered ? st->lanes[p].delivered : st->lanes[p].posted;
    }
    return n;
}

/* Task mode delivers in the dispatcher task: wait (at most 2 s) until it has caught up. */
static void wait_until_delivered(void)
{
    system_event_stats_t st;
    for (int i = 0; i < 2000; i++) {
        system_event_get_stats(&st);
        if (st.mode == SYSTEM_EVENT_MODE_MANUAL) {
            system_event_dispatch_pending(SYSTEM_EVENT_DISPATCH_ALL, NULL);
        }
        if (total(&st, 1) == total(&st, 0)) {
            return;
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            ESP_LOGE(TAG, __VA_ARGS__);                                                            \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* The services' traffic, from a FreeRTOS task as in firmware: 16-byte readings (inline), 64-byte
 * link reports, 1000-byte UI frames, an alarm, a button interrupt. A burst faster than the
 * dispatcher: each post may wait up to 500 ms for room. */
typedef struct {
    system_service_id_t sensor, wifi, ui, power;
    TaskHandle_t main;       /* notified when done */
    uint32_t posted, refused;
} traffic_t;

static void traffic_task(void *arg)
{
    traffic_t *t = arg;
    const system_service_id_t sensor = t->sensor, wifi = t->wifi, ui = t->ui, power = t->power;
    uint32_t posted = 0, refused = 0;
    for (uint32_t i = 0; i < 200; i++) {
        struct {
            uint32_t t_ms;
            float celsius, humidity, lux;
        } reading = {i * 10, 21.5f, 40.0f, 300.0f};
        esp_err_t err = system_event_post_with_timeout(sensor, EV_READING, &reading, sizeof reading,
                                                       SYSTEM_EVENT_PRIORITY_NORMAL, WAIT_MS);
        posted += err == ESP_OK;
        refused += err != ESP_OK;
        if (i % 10 == 0) {
            uint8_t link[64] = {(uint8_t)i};
            err = system_event_post_with_timeout(wifi, EV_LINK, link, sizeof link,
                                                 SYSTEM_EVENT_PRIORITY_HIGH, WAIT_MS);
            posted += err == ESP_OK;
            refused += err != ESP_OK;
        }
        if (i % 25 == 0) {
            static uint8_t frame[1000];
            memset(frame, (int)i, sizeof frame);
            err = system_event_post_with_timeout(ui, EV_FRAME, frame, sizeof frame,
                                                 SYSTEM_EVENT_PRIORITY_LOW, WAIT_MS);
            posted += err == ESP_OK;
            refused += err != ESP_OK;
        }
        if (i == 150) {
            uint16_t millivolts = 3310;
            err = system_event_post_with_timeout(power, EV_BATTERY_LOW, &millivolts,
                                                 sizeof millivolts, SYSTEM_EVENT_PRIORITY_CRITICAL,
                                                 WAIT_MS);
            posted += err == ESP_OK;
            refused += err != ESP_OK;
        }
        if (i == 100) {
            /* a GPIO interrupt reports a button press */
            uint32_t gpio = 0;
            bool woken = false;
            kraken_sim_isr_enter();
            err = system_event_post_from_isr(ui, EV_BUTTON, &gpio, sizeof gpio,
                                             SYSTEM_EVENT_PRIORITY_HIGH, &woken);
            kraken_sim_isr_exit();
            posted += err == ESP_OK;
            refused += err != ESP_OK;
        }
    }
    t->posted = posted;
    t->refused = refused;
    xTaskNotifyGive(t->main);
    vTaskDelay(portMAX_DELAY); /* until deleted by main */
}


int demo_events_run(void)
{
    int failures = 0;
    ESP_LOGI(TAG, "--- event bus: spec Example 1, then service traffic on every lane ---");

    /* Example 1: a service registers, somebody listens, the service posts. */
    counter_t example = {0};
    CHECK(system_service_register("my_service", &service_id) == ESP_OK, "register my_service");
    CHECK(system_event_subscribe(service_id, event_type, example_handler, &example, NULL) == ESP_OK,
          "subscribe to my_service");
    my_service_send_data();
    wait_until_delivered();
    CHECK(example.calls == 1 && example.bad == 0, "Example 1: handler saw %u events, %u bad",
          (unsigned)example.calls, (unsigned)example.bad);

    /* Services and their listeners. */
    system_service_id_t sensor, wifi, ui, power;
    CHECK(system_service_register("sensor", &sensor) == ESP_OK, "register sensor");
    CHECK(system_service_register("wifi", &wifi) == ESP_OK, "register wifi");
    CHECK(system_service_register("ui", &ui) == ESP_OK, "register ui");
    CHECK(system_service_register("power", &power) == ESP_OK, "register power");
    counter_t logger = {0}, display = {0}, battery = {0}, buttons = {0};
    system_event_subscription_t logger_sub;
    CHECK(system_event_subscribe(SYSTEM_SERVICE_ID_ANY, SYSTEM_EVENT_TYPE_ANY, count_handler,
                                 &logger, &logger_sub) == ESP_OK,
          "subscribe logger");
    CHECK(system_event_subscribe(sensor, SYSTEM_EVENT_TYPE_ANY, count_handler, &display, NULL) ==
              ESP_OK,
          "subscribe display");
    CHECK(system_event_subscribe(SYSTEM_SERVICE_ID_ANY, EV_BATTERY_LOW, power_handler, &battery,
                                 NULL) == ESP_OK,
          "subscribe power manager");
    CHECK(system_event_subscribe(SYSTEM_SERVICE_ID_ANY, EV_BUTTON, count_handler, &buttons, NULL) ==
              ESP_OK,
          "subscribe button handler");

    /* The traffic comes from a FreeRTOS task, whose 4 KB stack and TCB are internal SRAM. */
    traffic_t traffic = {.sensor = sensor, .wifi = wifi, .ui = ui, .power = power,
                         .main = xTaskGetCurrentTaskHandle()};
    const size_t sram_before = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    TaskHandle_t producer = NULL;
    CHECK(xTaskCreate(traffic_task, "traffic", 4096, &traffic, 5, &producer) == pdPASS,
          "create the traffic task");
    ESP_LOGI(TAG, "traffic task created: its stack and TCB took %u bytes of internal SRAM",
             (unsigned)(sram_before - heap_caps_get_free_size(MALLOC_CAP_INTERNAL)));
    CHECK(producer != NULL && ulTaskNotifyTake(pdTRUE, pdMS_TO_TICKS(10000)) == 1,
          "the traffic task did not finish");
    vTaskDelete(producer); /* it waits for this */
    const uint32_t posted = traffic.posted, refused = traffic.refused;
    wait_until_delivered();
    ESP_LOGI(TAG, "service traffic: posted %u events (%u refused; plus Example 1's one); logger "
                  "saw %u, display %u, power %u, buttons %u",
             (unsigned)posted, (unsigned)refused, (unsigned)logger.calls, (unsigned)display.calls,
             (unsigned)battery.calls, (unsigned)buttons.calls);
    CHECK(refused == 0, "%u posts refused", (unsigned)refused);
    CHECK(logger.calls == posted && logger.bad == 0, "logger saw %u of %u events",
          (unsigned)logger.calls, (unsigned)posted);
    CHECK(display.calls == 200, "display saw %u sensor readings", (unsigned)display.calls);
    CHECK(battery.calls == 1 && battery.bad == 0, "power manager saw %u alarms",
          (unsigned)battery.calls);
    CHECK(buttons.calls == 1, "button handler saw %u presses", (unsigned)buttons.calls);
    CHECK(system_event_unsubscribe(logger_sub) == ESP_OK, "unsubscribe logger");
    ESP_LOGI(TAG, "logger unsubscribed: the subscription list below no longer shows it");

    system_event_stats_t st;
    system_event_get_stats(&st);
    uint32_t held = 0;
    for (int c = 0; c < SYSTEM_EVENT_POOL_CLASS_COUNT; c++) {
        held += st.pool_blocks_in_use[c];
    }
    CHECK(held == 0, "%u pool blocks still held by delivered events", (unsigned)held);
    CHECK(st.heap_payloads == 0, "%u payloads went to the heap", (unsigned)st.heap_payloads);
    CHECK(system_event_bus_check() == ESP_OK, "bus integrity check");
    system_event_log_stats(TAG);
    return failures;
}
