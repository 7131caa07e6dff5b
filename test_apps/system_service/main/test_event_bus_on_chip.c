/*
 * test_event_bus_on_chip.c - the event bus under FreeRTOS: the dispatcher task, posts from a
 * hardware interrupt that wake it (up to the largest pool class), priority order, and every block
 * back after deinit. The handlers' contexts are static: a test that fails while the dispatcher
 * task may still call them (a timeout) leaves them valid until tearDown stops the bus.
 */
#include <stdint.h>
#include <string.h>

#include "esp_memory_utils.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "memory_pool.h"
#include "sdkconfig.h"
#include "system_service/event_bus.h"
#include "test_isr.h"
#include "unity.h"

#define PAYLOAD 200 /* above the inline size, in the Medium class (256 B) */

typedef struct {
    SemaphoreHandle_t delivered;
    const void *data[2];
    unsigned calls;
    bool same_bytes;
    bool from_isr;
    unsigned class_index;
} delivery_t;

static void fill(uint8_t *buf, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) {
        buf[i] = (uint8_t)(seed + i);
    }
}

static void record(const system_event_t *event, void *ctx)
{
    delivery_t *d = ctx;
    uint8_t expected[PAYLOAD];
    fill(expected, sizeof expected, (uint8_t)event->type);
    if (d->calls < 2) {
        d->data[d->calls] = event->data;
    }
    d->calls++;
    d->same_bytes = event->size == PAYLOAD && memcmp(event->data, expected, PAYLOAD) == 0;
    d->from_isr = event->from_isr;
    d->class_index = memory_pool_class_of(event->data);
    xSemaphoreGive(d->delivered);
}

/* The bus returns a block after the last handler of its event returned: wait for that (at most
 * 100 ms), then the class must hold no block of the bus's. */
static void assert_blocks_back(unsigned class_index)
{
    memory_pool_stats_t pools;
    for (int i = 0; i < 100; i++) {
        TEST_ESP_OK(memory_pool_get_stats(&pools));
        if (pools.classes[class_index].in_use == 0) {
            break;
        }
        vTaskDelay(pdMS_TO_TICKS(1));
    }
    TEST_ASSERT_EQUAL_UINT32_MESSAGE(0, pools.classes[class_index].in_use,
                                     "the block was not returned after delivery");
}

static void start_bus(system_event_mode_t mode)
{
    system_event_bus_config_t config = system_event_bus_default_config();
    config.mode = mode;
    TEST_ESP_OK(system_event_bus_init(&config));
}

TEST_CASE("the dispatcher task delivers one pool copy to every subscriber, then frees it",
          "[event_bus]")
{
    start_bus(SYSTEM_EVENT_MODE_TASK);
    static delivery_t d; /* handlers' contexts are static: see the top */
    d = (delivery_t){.delivered = xSemaphoreCreateCounting(2, 0)};
    TEST_ASSERT_NOT_NULL(d.delivered);
    system_service_id_t sensor;
    TEST_ESP_OK(system_service_register("sensor", &sensor));
    TEST_ESP_OK(system_event_subscribe(sensor, 7, record, &d, NULL));
    TEST_ESP_OK(system_event_subscribe(SYSTEM_SERVICE_ID_ANY, SYSTEM_EVENT_TYPE_ANY, record, &d,
                                       NULL));
    uint8_t payload[PAYLOAD];
    fill(payload, sizeof payload, 7);

    TEST_ESP_OK(
        system_event_post(sensor, 7, payload, sizeof payload, SYSTEM_EVENT_PRIORITY_NORMAL));
    memset(payload, 0, sizeof payload); /* the bus has its own copy */
    TEST_ASSERT_TRUE(xSemaphoreTake(d.delivered, pdMS_TO_TICKS(1000)));
    TEST_ASSERT_TRUE(xSemaphoreTake(d.delivered, pdMS_TO_TICKS(1000)));

    TEST_ASSERT_EQUAL_UINT(2, d.calls);
    TEST_ASSERT_TRUE(d.same_bytes);
    TEST_ASSERT_EQUAL_PTR(d.data[0], d.data[1]); /* one copy for both */
    TEST_ASSERT_EQUAL_UINT(1, d.class_index);
    TEST_ASSERT_TRUE(esp_ptr_internal(d.data[0]));
    assert_blocks_back(1); /* freed after delivery, not at deinit */
    TEST_ESP_OK(system_event_bus_deinit(SYSTEM_EVENT_DEINIT_DRAIN));
    system_event_stats_t st;
    TEST_ESP_OK(system_event_get_stats(&st));
    TEST_ASSERT_EQUAL_UINT32(1, st.lanes[SYSTEM_EVENT_PRIORITY_NORMAL].delivered);
    TEST_ASSERT_EQUAL_UINT32(1, st.pool_payloads);
    TEST_ASSERT_EQUAL_UINT32(0, st.pool_blocks_in_use[1]);
    vSemaphoreDelete(d.delivered);
}

static bool post_in_isr(void *arg)
{
    esp_err_t *result = arg;
    uint8_t payload[PAYLOAD];
    fill(payload, sizeof payload, 9);
    bool woken = false;
    *result = system_event_post_from_isr(1, 9, payload, sizeof payload, SYSTEM_EVENT_PRIORITY_HIGH,
                                         &woken);
    return woken;
}

TEST_CASE("a post from a hardware interrupt wakes the dispatcher task", "[event_bus][isr]")
{
    start_bus(SYSTEM_EVENT_MODE_TASK);
    static delivery_t d;
    d = (delivery_t){.delivered = xSemaphoreCreateCounting(1, 0)};
    TEST_ASSERT_NOT_NULL(d.delivered);
    TEST_ESP_OK(system_event_subscribe(1, 9, record, &d, NULL));
    esp_err_t result = ESP_FAIL;

    test_run_in_isr(post_in_isr, &result);

    TEST_ASSERT_EQUAL(ESP_OK, result);
    TEST_ASSERT_TRUE(xSemaphoreTake(d.delivered, pdMS_TO_TICKS(1000)));
    TEST_ASSERT_TRUE(d.same_bytes);
    TEST_ASSERT_TRUE(d.from_isr);
    TEST_ESP_OK(system_event_bus_deinit(SYSTEM_EVENT_DEINIT_DRAIN));
    system_event_stats_t st;
    TEST_ESP_OK(system_event_get_stats(&st));
    TEST_ASSERT_EQUAL_UINT32(1, st.lanes[SYSTEM_EVENT_PRIORITY_HIGH].posted_from_isr);
    TEST_ASSERT_EQUAL_UINT32(1, st.lanes[SYSTEM_EVENT_PRIORITY_HIGH].delivered);
    vSemaphoreDelete(d.delivered);
}

typedef struct {
    const uint8_t *payload;
    size_t size;
    esp_err_t result;
} isr_post_t;

static bool post_largest_in_isr(void *arg)
{
    isr_post_t *t = arg;
    bool woken = false;
    t->result = system_event_post_from_isr(1, 10, t->payload, t->size, SYSTEM_EVENT_PRIORITY_HIGH,
                                           &woken);
    return woken;
}

typedef struct {
    SemaphoreHandle_t delivered;
    const uint8_t *expected;
    size_t size;
    bool intact;
    unsigned class_index;
} largest_delivery_t;

static void check_largest(const system_event_t *event, void *ctx)
{
    largest_delivery_t *d = ctx;
    d->intact = event->size == d->size && memcmp(event->data, d->expected, d->size) == 0;
    d->class_index = memory_pool_class_of(event->data);
    xSemaphoreGive(d->delivered);
}

TEST_CASE("an interrupt posts a payload of the largest pool class, delivered intact",
          "[event_bus][isr]")
{
    /* Static: the ISR stack (1.5 KB by default) could not hold the largest class's size. */
    static uint8_t s_payload[CONFIG_SYSTEM_SERVICE_MEMORY_POOL_XLARGE_SIZE];
    fill(s_payload, sizeof s_payload, 11);
    memory_pool_config_t pools;
    TEST_ESP_OK(memory_pool_get_default_config(&pools));
    const unsigned largest = MEMORY_POOL_CLASS_COUNT - 1;
    TEST_ASSERT_EQUAL_UINT(sizeof s_payload, pools.classes[largest].block_size);

    start_bus(SYSTEM_EVENT_MODE_TASK);
    static largest_delivery_t d;
    d = (largest_delivery_t){.delivered = xSemaphoreCreateBinary(), .expected = s_payload,
                             .size = sizeof s_payload};
    TEST_ASSERT_NOT_NULL(d.delivered);
    TEST_ESP_OK(system_event_subscribe(1, 10, check_largest, &d, NULL));
    isr_post_t t = {.payload = s_payload, .size = sizeof s_payload, .result = ESP_FAIL};

    test_run_in_isr(post_largest_in_isr, &t);

    TEST_ASSERT_EQUAL(ESP_OK, t.result);
    TEST_ASSERT_TRUE(xSemaphoreTake(d.delivered, pdMS_TO_TICKS(1000)));
    TEST_ASSERT_TRUE(d.intact);
    TEST_ASSERT_EQUAL_UINT(largest, d.class_index); /* a pool block, not the heap */
    assert_blocks_back(largest);
    TEST_ESP_OK(system_event_bus_deinit(SYSTEM_EVENT_DEINIT_DRAIN));
    vSemaphoreDelete(d.delivered);
}

static void append_type(const system_event_t *event, void *ctx)
{
    char *order = ctx;
    const size_t n = strlen(order);
    order[n] = (char)('0' + event->type);
    order[n + 1] = '\0';
}

TEST_CASE("manual dispatch delivers higher priorities first, FIFO within one", "[event_bus]")
{
    start_bus(SYSTEM_EVENT_MODE_MANUAL);
    static char order[16];
    order[0] = '\0';
    TEST_ESP_OK(system_event_subscribe(2, SYSTEM_EVENT_TYPE_ANY, append_type, order, NULL));
    const struct {
        system_event_type_t type;
        system_event_priority_t priority;
    } posts[] = {{1, SYSTEM_EVENT_PRIORITY_LOW},    {2, SYSTEM_EVENT_PRIORITY_NORMAL},
                 {3, SYSTEM_EVENT_PRIORITY_CRITICAL}, {4, SYSTEM_EVENT_PRIORITY_NORMAL},
                 {5, SYSTEM_EVENT_PRIORITY_HIGH},   {6, SYSTEM_EVENT_PRIORITY_LOW}};
    for (size_t i = 0; i < sizeof posts / sizeof posts[0]; i++) {
        TEST_ESP_OK(system_event_post(2, posts[i].type, NULL, 0, posts[i].priority));
    }
    uint32_t dispatched = 0;
    TEST_ESP_OK(system_event_dispatch_pending(SYSTEM_EVENT_DISPATCH_ALL, &dispatched));
    TEST_ASSERT_EQUAL_UINT32(6, dispatched);
    TEST_ASSERT_EQUAL_STRING("352416", order);
    TEST_ESP_OK(system_event_bus_deinit(SYSTEM_EVENT_DEINIT_DRAIN));
}

TEST_CASE("deinit discards queued events, counted, and every pool block goes back", "[event_bus]")
{
    start_bus(SYSTEM_EVENT_MODE_MANUAL);
    memory_pool_stats_t pools;
    uint8_t payload[PAYLOAD] = {0};
    for (int i = 0; i < 10; i++) {
        TEST_ESP_OK(system_event_post(3, 1, payload, sizeof payload, SYSTEM_EVENT_PRIORITY_LOW));
    }
    TEST_ESP_OK(memory_pool_get_stats(&pools));
    TEST_ASSERT_EQUAL_UINT32(10, pools.classes[1].in_use);

    TEST_ESP_OK(system_event_bus_deinit(SYSTEM_EVENT_DEINIT_DISCARD));
    system_event_stats_t st;
    TEST_ESP_OK(system_event_get_stats(&st));
    const system_event_lane_stats_t *low = &st.lanes[SYSTEM_EVENT_PRIORITY_LOW];
    TEST_ASSERT_EQUAL_UINT32(10, low->dropped[SYSTEM_EVENT_DROP_DISCARDED]);
    TEST_ESP_OK(memory_pool_get_stats(&pools));
    TEST_ASSERT_EQUAL_UINT32(0, pools.classes[1].in_use);
}
