/*
 * fuzz_heap_monitor.c - the heap monitor's low-memory callbacks, failed-allocation counts and JSON
 * snapshot driven by arbitrary input on the simulated ESP32-S3, against a model of heap_monitor.h.
 *
 * Operations read from the bytes: allocations and frees that move free memory across thresholds
 * (SRAM, PSRAM, DMA; on modules with and without PSRAM), registrations (duplicates, thresholds of
 * 0, a full table), unregistrations, failing allocations (huge sizes, injected failures), counter
 * resets, the checks that deliver edges, the JSON snapshot with buffers of every size. Checked:
 *   - each registration gets exactly the edges its caps' free bytes call for at each check: a fall
 *     below the threshold, then a recovery, strictly alternating, the first one a fall, none for
 *     memory the module does not have; each event carries the registration's caps, threshold and
 *     the free bytes the edge was decided on;
 *   - each register/unregister result;
 *   - the failed-allocation total, the per-mask counts in first-failure order (up to the slots),
 *     the largest request of each;
 *   - the JSON: the length a NULL call reports is the snapshot's, a buffer one byte short is
 *     refused with "" written, the text parses as JSON and its failure total is the model's;
 *   - at the end: deinit leaves nothing registered and the heaps as the boot left them.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "fuzz_support.h"
#include "heap_monitor.h"
#include "kraken_config.h"
#include "kraken_sim.h"

#define REG_MAX KRAKEN_HEAP_MONITOR_MAX_CALLBACKS
#define SLOTS KRAKEN_HEAP_MONITOR_FAILED_ALLOC_SLOTS
#define LIVE_MAX 48

typedef struct {
    bool used;
    size_t threshold;
    uint32_t caps;
    int fn;  /* 0 or 1: which callback */
    int ctx; /* 0 or 1: which context */
    bool low; /* last edge delivered */
    uint32_t calls_due, calls_seen; /* edges expected / delivered at the current check */
    bool due_low;
} reg_t;

static reg_t regs[REG_MAX];
static int ctx_tag[2];
static void *live[LIVE_MAX];
static size_t live_n;
static struct {
    uint32_t total;
    size_t n;
    uint32_t caps[SLOTS], count[SLOTS];
    size_t largest[SLOTS];
} failed;

static const uint32_t caps_table[] = {HEAP_MONITOR_CAPS_SRAM, HEAP_MONITOR_CAPS_PSRAM,
                                      MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL, MALLOC_CAP_8BIT};

static reg_t *find(size_t threshold, uint32_t caps, int fn, int ctx)
{
    for (int i = 0; i < REG_MAX; i++) {
        reg_t *r = &regs[i];
        if (r->used && r->threshold == threshold && r->caps == caps && r->fn == fn &&
            r->ctx == ctx) {
            return r;
        }
    }
    return NULL;
}

static void on_edge(int fn, const heap_monitor_event_t *e, void *ctx)
{
    const int c = ctx == &ctx_tag[0] ? 0 : 1;
    reg_t *r = find(e->threshold, e->caps, fn, c);
    FUZZ_CHECK(r != NULL, "an edge for no registration (caps %#x, threshold %zu)",
               (unsigned)e->caps, e->threshold);
    FUZZ_CHECK(r->calls_seen < r->calls_due, "an edge not due (caps %#x, threshold %zu, low %d)",
               (unsigned)e->caps, e->threshold, e->low);
    FUZZ_CHECK(e->low == r->due_low, "edge low=%d, want %d", e->low, r->due_low);
    FUZZ_CHECK(e->free_bytes == heap_caps_get_free_size(e->caps), "event free %zu, heap %zu",
               e->free_bytes, heap_caps_get_free_size(e->caps));
    FUZZ_CHECK(e->low == (e->free_bytes < e->threshold), "low %d with %zu free of %zu", e->low,
               e->free_bytes, e->threshold);
    r->calls_seen++;
}

static void cb0(const heap_monitor_event_t *e, void *ctx)
{
    on_edge(0, e, ctx);
}

static void cb1(const heap_monitor_event_t *e, void *ctx)
{
    on_edge(1, e, ctx);
}

/* What the next check must deliver to each registration. */
static void expect_edges(void)
{
    for (int i = 0; i < REG_MAX; i++) {
        reg_t *r = &regs[i];
        if (!r->used) {
            continue;
        }
        const size_t free_bytes = heap_caps_get_free_size(r->caps);
        const bool low = free_bytes < r->threshold &&
                         (free_bytes != 0 || heap_caps_get_total_size(r->caps) != 0);
        r->calls_due = low != r->low;
        r->due_low = low;
        r->calls_seen = 0;
    }
}

static void delivered(const char *what)
{
    for (int i = 0; i < REG_MAX; i++) {
        reg_t *r = &regs[i];
        if (r->used) {
            FUZZ_CHECK(r->calls_seen == r->calls_due, "%s: %u edges of %u due (caps %#x, %zu)",
                       what, r->calls_seen, r->calls_due, (unsigned)r->caps, r->threshold);
            if (r->calls_due) {
                r->low = r->due_low;
            }
            r->calls_due = r->calls_seen = 0;
        }
    }
}

/* ---- operations ---------------------------------------------------------------------------- */

/* A failed allocation the monitor's hook counts: the total, and its mask while slots last. */
static void model_failure(uint32_t caps, size_t size)
{
    failed.total++;
    size_t k = 0;
    while (k < failed.n && failed.caps[k] != caps) {
        k++;
    }
    if (k == failed.n && failed.n < SLOTS) {
        failed.caps[failed.n++] = caps;
    }
    if (k < failed.n) {
        failed.count[k]++;
        failed.largest[k] = failed.largest[k] > size ? failed.largest[k] : size;
    }
}

static void op_alloc(fuzz_input_t *in)
{
    uint32_t caps = caps_table[fuzz_u8(in) % 4];
    size_t size = 1 + (size_t)fuzz_u16(in) * (fuzz_u8(in) % 8 + 1);
    if (live_n < LIVE_MAX) {
        void *p = heap_caps_malloc(size, caps);
        if (p != NULL) {
            live[live_n++] = p;
        } else {
            model_failure(caps, size); /* the heap really had no room */
        }
    }
}

static void op_free(fuzz_input_t *in)
{
    if (live_n > 0) {
        size_t i = fuzz_u8(in) % live_n;
        heap_caps_free(live[i]);
        live[i] = live[--live_n];
    }
}

/* A failure that cannot succeed: a size no heap has, or an injected one. */
static void op_fail(fuzz_input_t *in)
{
    uint8_t k = fuzz_u8(in);
    if (k & 1) {
        kraken_sim_fail_next(0, 1);
    }
    size_t size = k & 1 ? 64 : (size_t)64 << 20;
    uint32_t caps = k & 2 ? (uint32_t)(1u << (k % 20)) | MALLOC_CAP_8BIT : caps_table[k % 4];
    void *p = heap_caps_malloc(size, caps);
    kraken_sim_fault_clear();
    if (p != NULL) { /* an odd caps mask some heap serves after all, and no injected failure */
        heap_caps_free(p);
        return;
    }
    model_failure(caps, size);
}

static void op_register(fuzz_input_t *in)
{
    uint8_t k = fuzz_u8(in);
    uint32_t caps = caps_table[k % 4];
    int fn = (k >> 2) & 1, ctx = (k >> 3) & 1;
    /* thresholds around the free bytes now, so that edges come and go */
    size_t free_bytes = heap_caps_get_free_size(caps);
    size_t threshold = k >= 240 ? 0 : free_bytes + (size_t)fuzz_u16(in) * 4 - 131072 / 2;
    if (free_bytes < 65536 && threshold > free_bytes + 65536) {
        threshold = 1 + fuzz_u16(in);
    }
    esp_err_t err = heap_monitor_register_callback(threshold, caps, fn ? cb1 : cb0,
                                                   &ctx_tag[ctx]);
    if (threshold == 0) {
        FUZZ_CHECK(err == ESP_ERR_INVALID_ARG, "threshold 0: %d", err);
        return;
    }
    if (find(threshold, caps, fn, ctx) != NULL) {
        FUZZ_CHECK(err == ESP_ERR_INVALID_STATE, "duplicate: %d", err);
        return;
    }
    int slot = 0;
    while (slot < REG_MAX && regs[slot].used) {
        slot++;
    }
    if (slot == REG_MAX) {
        FUZZ_CHECK(err == ESP_ERR_NO_MEM, "full table: %d", err);
        return;
    }
    FUZZ_CHECK(err == ESP_OK, "register: %d", err);
    regs[slot] = (reg_t){.used = true, .threshold = threshold, .caps = caps, .fn = fn, .ctx = ctx};
}

static void op_unregister(fuzz_input_t *in)
{
    uint8_t k = fuzz_u8(in);
    int fn = k & 1, ctx = (k >> 1) & 1;
    bool any = false;
    for (int i = 0; i < REG_MAX; i++) {
        if (regs[i].used && regs[i].fn == fn && regs[i].ctx == ctx) {
            regs[i].used = false;
            any = true;
        }
    }
    esp_err_t err = heap_monitor_unregister_callback(fn ? cb1 : cb0, &ctx_tag[ctx]);
    FUZZ_CHECK(err == (any ? ESP_OK : ESP_ERR_NOT_FOUND), "unregister: %d", err);
}

static void op_check(fuzz_input_t *in)
{
    expect_edges();
    switch (fuzz_u8(in) % 3) {
    case 0: {
        heap_stats_t st;
        FUZZ_CHECK(heap_monitor_get_stats(&st) == ESP_OK, "get_stats");
        FUZZ_CHECK(st.failed_allocations == failed.total, "failed_allocations %u, model %u",
                   (unsigned)st.failed_allocations, (unsigned)failed.total);
        break;
    }
    case 1: (void)heap_monitor_check_health(); break;
    default: FUZZ_CHECK(heap_monitor_sample_now(NULL) == ESP_OK, "sample_now"); break;
    }
    delivered("check");
}

/* ---- JSON ---------------------------------------------------------------------------------- */

typedef struct {
    const char *p;
    int depth;
} json_t;

static bool json_value(json_t *j);

static bool json_string(json_t *j)
{
    if (*j->p != '"') {
        return false;
    }
    for (j->p++; *j->p != '"'; j->p++) {
        if (*j->p == '\0' || *j->p == '\\' || (unsigned char)*j->p < 0x20) {
            return false; /* the monitor writes keys and no escapes */
        }
    }
    j->p++;
    return true;
}

static bool json_value(json_t *j)
{
    if (++j->depth > 8) {
        return false;
    }
    bool ok = true;
    if (*j->p == '{' || *j->p == '[') {
        const char close = *j->p == '{' ? '}' : ']';
        const bool object = close == '}';
        j->p++;
        if (*j->p != close) {
            for (;;) {
                if (object && !(json_string(j) && *j->p++ == ':')) {
                    return false;
                }
                if (!json_value(j)) {
                    return false;
                }
                if (*j->p != ',') {
                    break;
                }
                j->p++;
            }
        }
        ok = *j->p++ == close;
    } else if (*j->p == '"') {
        ok = json_string(j);
    } else if (strncmp(j->p, "true", 4) == 0 || strncmp(j->p, "null", 4) == 0) {
        j->p += 4;
    } else if (strncmp(j->p, "false", 5) == 0) {
        j->p += 5;
    } else {
        const char *start = j->p;
        if (*j->p == '-') {
            j->p++;
        }
        while (*j->p >= '0' && *j->p <= '9') {
            j->p++;
        }
        ok = j->p > start && j->p[-1] != '-';
    }
    j->depth--;
    return ok;
}

static void op_json(fuzz_input_t *in)
{
    static char buf[8192];
    size_t len = 0, len2 = 0;
    expect_edges();
    FUZZ_CHECK(heap_monitor_get_json(NULL, 0, &len) == ESP_ERR_INVALID_SIZE, "length query");
    delivered("json length");
    const size_t max = heap_monitor_json_max_length();
    FUZZ_CHECK(len > 0 && len <= max && max < sizeof buf, "json length %zu, max %zu", len, max);
    if (fuzz_u8(in) & 1) { /* one byte short: refused, "" written */
        buf[0] = 'x';
        expect_edges();
        esp_err_t err = heap_monitor_get_json(buf, len, &len2);
        delivered("json short");
        FUZZ_CHECK(len2 >= len - 1, "short buffer: length %zu after %zu", len2, len);
        FUZZ_CHECK(err == (len2 + 1 > len ? ESP_ERR_INVALID_SIZE : ESP_OK), "short buffer: %d",
                   err);
        if (err != ESP_OK) {
            FUZZ_CHECK(buf[0] == '\0', "a refused snapshot left text");
        }
        return;
    }
    expect_edges();
    esp_err_t err = heap_monitor_get_json(buf, max + 1, &len2);
    delivered("json");
    FUZZ_CHECK(err == ESP_OK && strlen(buf) == len2 && len2 <= max, "json: %d, %zu vs %zu (max %zu)",
               err, strlen(buf), len2, max);
    json_t j = {buf, 0};
    FUZZ_CHECK(json_value(&j) && *j.p == '\0', "not JSON at byte %zu: %s", (size_t)(j.p - buf), buf);
    static const char key[] = "\"failed_allocs\":{\"total\":";
    const char *total = strstr(buf, key);
    FUZZ_CHECK(total != NULL && strtoul(total + sizeof key - 1, NULL, 10) == failed.total,
               "JSON failure total, model %u", (unsigned)failed.total);
}

static void check_failed(const char *after)
{
    FUZZ_CHECK(heap_monitor_get_failed_alloc_count(0) == failed.total, "after %s: total %u, model %u",
               after, (unsigned)heap_monitor_get_failed_alloc_count(0), (unsigned)failed.total);
    heap_monitor_failed_alloc_t list[SLOTS + 1];
    size_t n = 99;
    FUZZ_CHECK(heap_monitor_get_failed_allocs(list, SLOTS + 1, &n) == ESP_OK, "get_failed_allocs");
    size_t want_n = 0;
    for (size_t k = 0; k < failed.n; k++) {
        if (failed.count[k] == 0) {
            continue;
        }
        FUZZ_CHECK(want_n < n && list[want_n].caps == failed.caps[k] &&
                       list[want_n].count == failed.count[k] &&
                       list[want_n].largest_request == failed.largest[k],
                   "after %s: mask %#x: %u failures, largest %zu, model %u, %zu", after,
                   (unsigned)failed.caps[k], (unsigned)list[want_n].count,
                   list[want_n].largest_request, (unsigned)failed.count[k], failed.largest[k]);
        want_n++;
    }
    FUZZ_CHECK(n == want_n, "after %s: %zu masks listed, model %zu", after, n, want_n);
}

/* ---- one input ------------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input_t input = {data, size}, *in = &input;
    esp_log_level_set("*", ESP_LOG_NONE);
    FUZZ_CHECK(kraken_sim_init((kraken_sim_profile_t)(fuzz_u8(in) % KRAKEN_SIM_PROFILE_COUNT)) ==
                   ESP_OK, "reboot");
    FUZZ_CHECK(heap_monitor_deinit() == ESP_OK, "deinit"); /* a clean monitor for each input */
    FUZZ_CHECK(heap_monitor_init() == ESP_OK, "init");
    const size_t sram0 = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    memset(regs, 0, sizeof regs);
    memset(&failed, 0, sizeof failed);
    live_n = 0;
    static const char *const names[] = {"alloc", "alloc", "free", "fail", "register",
                                        "unregister", "check", "json", "reset failures"};
    while (input.n > 0) {
        const uint8_t op = fuzz_u8(in);
        switch (op % 9) {
        case 0: case 1: op_alloc(in); break;
        case 2: op_free(in); break;
        case 3: op_fail(in); break;
        case 4: op_register(in); break;
        case 5: op_unregister(in); break;
        case 6: op_check(in); break;
        case 7: op_json(in); break;
        default:
            heap_monitor_reset_failed_allocs();
            memset(&failed, 0, sizeof failed);
            break;
        }
        check_failed(names[op % 9]);
    }
    while (live_n > 0) {
        heap_caps_free(live[--live_n]);
    }
    FUZZ_CHECK(heap_monitor_deinit() == ESP_OK, "deinit");
    for (int f = 0; f < 2; f++) {
        for (int c = 0; c < 2; c++) {
            FUZZ_CHECK(heap_monitor_unregister_callback(f ? cb1 : cb0, &ctx_tag[c]) ==
                           ESP_ERR_NOT_FOUND,
                       "a registration survived deinit");
        }
    }
    FUZZ_CHECK(heap_caps_get_free_size(MALLOC_CAP_INTERNAL) == sram0, "SRAM %zu free, %zu at boot",
               heap_caps_get_free_size(MALLOC_CAP_INTERNAL), sram0);
    return 0;
}
