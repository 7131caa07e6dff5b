/*
 * demo_pools.c - the memory pools under a service-like load on the simulated chip: a sensor
 * service posting small readings, a network service queueing messages, a logger holding 1 KB
 * records and an OTA chunk, an ISR producer that may only use the pools, and a burst that runs
 * the Small class dry (the heap takes over, counted). The services' steady state is the spec's
 * example, so memory_pool_log_stats prints the spec's lines; then everything is released and the
 * counters are checked. Returns the number of failed steps.
 */
#include <stdint.h>
#include <string.h>

#include "demo.h"
#include "esp_log.h"
#include "esp_timer.h"
#include "kraken_sim.h"
#include "memory_pool.h"

static const char *TAG = "demo_pools";

#define SMALL_HELD 45 /* the spec's example state: 45/100, 12/50, 3/20, 1/10 */
#define MEDIUM_HELD 12
#define LARGE_HELD 3
#define XLARGE_HELD 1

typedef struct {
    uint32_t sensor_id;
    int32_t value;
    int64_t timestamp_us;
} reading_t; /* 16 bytes: Small */

typedef struct {
    uint32_t value;
    uint8_t data[200]; /* the spec's Example 1 payload: "Will use 256-byte pool" */
} message_t;

static int check(bool ok, const char *what)
{
    if (!ok) {
        ESP_LOGE(TAG, "step failed: %s", what);
    }
    return ok ? 0 : 1;
}

/* Many short-lived events: post, deliver, release (the event bus pattern). */
static int churn(unsigned rounds)
{
    int failed = 0;
    for (unsigned i = 0; i < rounds; i++) {
        reading_t *r = memory_pool_alloc(sizeof *r);
        message_t *m = memory_pool_alloc(sizeof *m);
        failed += check(r != NULL && m != NULL, "churn allocation");
        if (r != NULL) {
            *r = (reading_t){1, (int32_t)i, esp_timer_get_time()};
        }
        if (m != NULL) {
            m->value = 42;
            memset(m->data, (int)i, sizeof m->data);
        }
        memory_pool_free(m);
        memory_pool_free(r);
    }
    return failed;
}

int demo_pools_run(void)
{
    int failed = 0;
    ESP_LOGI(TAG, "memory pools: service-like load");
    failed += churn(1000);

    /* steady state of the services: queued readings, messages, log records, an OTA chunk */
    static void *held[SMALL_HELD + MEDIUM_HELD + LARGE_HELD + XLARGE_HELD];
    size_t n = 0;
    for (int i = 0; i < SMALL_HELD; i++) {
        held[n++] = memory_pool_alloc(sizeof(reading_t));
    }
    for (int i = 0; i < MEDIUM_HELD; i++) {
        held[n++] = memory_pool_alloc(sizeof(message_t));
    }
    for (int i = 0; i < LARGE_HELD; i++) {
        held[n++] = memory_pool_alloc(1000); /* log record */
    }
    held[n++] = memory_pool_alloc(4096); /* OTA chunk */
    for (size_t i = 0; i < n; i++) {
        failed += check(held[i] != NULL, "steady-state allocation");
    }

    /* a burst of sensor readings: the other 55 Small blocks, then 2 from the heap (counted) */
    memory_pool_stats_t before;
    memory_pool_get_stats(&before);
    uint32_t burst_size = before.classes[0].capacity - before.classes[0].in_use + 2;
    void *burst[128];
    failed += check(burst_size <= 128, "burst fits the demo's table");
    for (uint32_t i = 0; i < burst_size && i < 128; i++) {
        burst[i] = memory_pool_alloc(sizeof(reading_t));
        failed += check(burst[i] != NULL, "burst allocation (pool or heap fallback)");
    }
    memory_pool_stats_t mid;
    memory_pool_get_stats(&mid);
    ESP_LOGI(TAG, "burst of %u readings: %u from the Small pool (now %u/%u), %u from the heap "
                  "(counted as heap fallbacks)",
             (unsigned)burst_size, (unsigned)(mid.classes[0].allocations - before.classes[0].allocations),
             (unsigned)mid.classes[0].in_use, (unsigned)mid.classes[0].capacity,
             (unsigned)(mid.classes[0].heap_fallbacks - before.classes[0].heap_fallbacks));
    /* meanwhile an ISR finds the Small class empty: it fails fast instead of touching the heap */
    kraken_sim_isr_enter();
    void *from_isr = memory_pool_alloc_isr(sizeof(reading_t));
    kraken_sim_isr_exit();
    failed += check(from_isr == NULL, "ISR allocation from an empty class fails fast");
    memory_pool_stats_t after_isr;
    memory_pool_get_stats(&after_isr);
    failed += check(after_isr.classes[0].failures - mid.classes[0].failures == 1,
                    "the ISR's refusal is counted as one Small failure");
    ESP_LOGI(TAG, "ISR producer: Small is empty and ISRs never use the heap, so memory_pool_alloc_isr "
                  "returned NULL at once (intended: Small's \"1 failed\" below)");
    for (uint32_t i = 0; i < burst_size && i < 128; i++) {
        memory_pool_free(burst[i]);
    }

    memory_pool_stats_t st;
    memory_pool_get_stats(&st);
    failed += check(st.classes[0].heap_fallbacks - before.classes[0].heap_fallbacks == 2,
                    "the burst took exactly 2 heap fallbacks");
    failed += check(st.classes[0].in_use == SMALL_HELD && st.classes[1].in_use == MEDIUM_HELD &&
                        st.classes[2].in_use == LARGE_HELD && st.classes[3].in_use == XLARGE_HELD,
                    "steady state matches");
    memory_pool_log_stats(TAG);

    for (size_t i = 0; i < n; i++) {
        memory_pool_free(held[i]);
    }
    memory_pool_get_stats(&st);
    uint32_t live = st.heap_blocks_live;
    for (int c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
        live += st.classes[c].in_use;
    }
    failed += check(live == 0, "every block returned");
    failed += check(st.double_frees == 0 && st.invalid_frees == 0, "no misuse");
    failed += check(memory_pool_check_integrity() == ESP_OK, "integrity check");
    ESP_LOGI(TAG, "memory pools: %u pool allocations, %u heap fallbacks, all released",
                (unsigned)(st.classes[0].allocations + st.classes[1].allocations +
                           st.classes[2].allocations + st.classes[3].allocations),
                (unsigned)(st.classes[0].heap_fallbacks + st.classes[1].heap_fallbacks +
                           st.classes[2].heap_fallbacks + st.classes[3].heap_fallbacks));
    return failed;
}
