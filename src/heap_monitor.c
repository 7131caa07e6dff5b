/*
 * heap_monitor.c - heap figures, health, low-memory callbacks, failed-allocation counts, a sampler
 * with a ring buffer, and a JSON snapshot (include/heap_monitor.h).
 *
 * Locking: one critical section (s_lock) guards the callback table, the thresholds, the ring buffer
 * and the sampler state. It is held only to copy small structs: never across a heap query, a log
 * line or a user callback (on the chip it is a spinlock with interrupts off). The failed-allocation
 * hook may run in an ISR, so its counters are lock-free atomics.
 */
#include <limits.h>
#include <stdatomic.h>
#include <string.h>

#include "heap_monitor.h"
#include "kraken_config.h"
#include "kraken_port.h"

#define CALLBACK_SLOTS KRAKEN_HEAP_MONITOR_MAX_CALLBACKS
#define FAILED_SLOTS KRAKEN_HEAP_MONITOR_FAILED_ALLOC_SLOTS
#define SAMPLE_SLOTS KRAKEN_HEAP_MONITOR_SAMPLE_COUNT
#define SAMPLES_PER_HOLD 8u /* heap_monitor_get_samples: 448 bytes per hold on the chip */

static const char *const DEFAULT_TAG = "heap_monitor";

/* The per-item costs Kconfig's help states for the chip (4-byte pointers). */
_Static_assert(sizeof(void *) != 4 || sizeof(heap_monitor_sample_t) == 56,
               "update the sample size in Kconfig.heap_monitor and docs/heap-monitor.md");

#define ISSUES_INTERNAL                                                                            \
    (HEAP_MONITOR_ISSUE_INTERNAL_FRAGMENTED | HEAP_MONITOR_ISSUE_INTERNAL_LOW_FREE |              \
     HEAP_MONITOR_ISSUE_INTERNAL_SMALL_LARGEST | HEAP_MONITOR_ISSUE_INTERNAL_FULL)
#define ISSUES_PSRAM                                                                               \
    (HEAP_MONITOR_ISSUE_PSRAM_FRAGMENTED | HEAP_MONITOR_ISSUE_PSRAM_LOW_FREE |                    \
     HEAP_MONITOR_ISSUE_PSRAM_FULL)

#define KCONFIG_THRESHOLDS                                                                         \
    {                                                                                              \
        .fragmentation_percent = KRAKEN_HEAP_MONITOR_FRAGMENTATION_THRESHOLD,                      \
        .min_free_internal = KRAKEN_HEAP_MONITOR_MIN_FREE_INTERNAL,                                \
        .min_largest_internal = KRAKEN_HEAP_MONITOR_MIN_LARGEST_INTERNAL,                          \
        .min_free_psram = KRAKEN_HEAP_MONITOR_MIN_FREE_PSRAM,                                      \
        .check_integrity = KRAKEN_HEAP_MONITOR_CHECK_INTEGRITY,                                    \
    }

typedef struct {
    heap_monitor_callback_t fn;
    void *ctx;
    uint32_t caps;
    size_t threshold;
    uint32_t generation; /* unique per registration: a stale check never updates a reused slot */
    bool used;
    bool low;        /* the state last decided; the deliverer tells the callback each change */
    bool delivering; /* a task is calling fn: other checks leave the slot to it */
    bool look_again; /* a check left the slot to the deliverer: it reads free bytes again */
} callback_slot_t;

/* caps 0 marks a free slot, claimed by compare-and-swap in the hook. */
typedef struct {
    _Atomic uint32_t caps;
    _Atomic uint32_t count;
    _Atomic size_t largest_request;
} failed_slot_t;

typedef enum { SAMPLER_STOPPED, SAMPLER_STARTING, SAMPLER_RUNNING, SAMPLER_STOPPING } sampler_state_t;

static kraken_port_lock_t s_lock = KRAKEN_PORT_LOCK_INITIALIZER;
static heap_monitor_thresholds_t s_thresholds = KCONFIG_THRESHOLDS;
static callback_slot_t s_callbacks[CALLBACK_SLOTS];
static uint32_t s_next_generation;

static heap_monitor_sample_t s_samples[SAMPLE_SLOTS];
static size_t s_sample_head; /* index of the next write */
static size_t s_sample_count;
static uint32_t s_sample_sequence;

static sampler_state_t s_sampler_state = SAMPLER_STOPPED;
static uint32_t s_sampler_period_ms;
static kraken_port_task_t s_sampler_task;
static kraken_port_sem_t s_sampler_stop_sem;
static kraken_port_sem_t s_sampler_go_sem; /* the task waits on it until start has finished */

static _Atomic uint32_t s_failed_total;
static failed_slot_t s_failed[FAILED_SLOTS];
static _Atomic(heap_monitor_alloc_failed_fn_t) s_failed_chain;
/* heap_monitor_init() ran: failures are counted (the log says so when they are not) */
static _Atomic bool s_hook_installed;

/* ---- figures ----------------------------------------------------------------------------------- */

/* (q, r) += x for the division 100 * gap = q * m + r, with r, x < m: no overflow for any m. */
static void add_mod(uint64_t *q, uint64_t *r, uint64_t x, uint64_t m)
{
    if (*r >= m - x) {
        *r -= m - x;
        (*q)++;
    } else {
        *r += x;
    }
}

int heap_monitor_fragmentation_percent(size_t free_bytes, size_t largest)
{
    if (free_bytes == 0 || largest >= free_bytes) {
        return 0;
    }
    const uint64_t m = free_bytes, gap = free_bytes - largest;
    /* round(100 * gap / m), halves up, exactly for every size: 100 * gap built bit by bit as a
     * quotient and a remainder below m (100 * gap itself overflows on 64-bit hosts) */
    uint64_t q = 0, r = 0;
    for (int bit = 6; bit >= 0; bit--) {
        q *= 2;
        add_mod(&q, &r, r, m);
        if ((100u >> bit) & 1u) {
            add_mod(&q, &r, gap, m);
        }
    }
    return (int)(q + (r >= m - r)); /* never above 100: gap < m */
}

static void read_region(uint32_t caps, heap_region_stats_t *out)
{
    kraken_port_heap_figures_t f;
    kraken_port_heap_figures(caps, &f);
    *out = (heap_region_stats_t){
        .total_bytes = f.total_bytes,
        .total_free_bytes = f.free_bytes,
        .largest_free_block = f.largest_free_block,
        .minimum_free_bytes = f.minimum_free_bytes,
        .fragmentation_percent = heap_monitor_fragmentation_percent(f.free_bytes, f.largest_free_block),
    };
}

static void read_stats(heap_stats_t *stats)
{
    heap_region_stats_t all;
    read_region(HEAP_MONITOR_CAPS_ALL, &all);
    *stats = (heap_stats_t){
        .total_bytes = all.total_bytes,
        .total_free_bytes = all.total_free_bytes,
        .largest_free_block = all.largest_free_block,
        .minimum_free_bytes = all.minimum_free_bytes,
        .fragmentation_percent = all.fragmentation_percent,
        .psram_present = kraken_port_psram_available(),
        .failed_allocations = atomic_load(&s_failed_total),
    };
    read_region(HEAP_MONITOR_CAPS_SRAM, &stats->internal);
    if (stats->psram_present) {
        read_region(HEAP_MONITOR_CAPS_PSRAM, &stats->psram);
    }
}

typedef enum { EDGE_NONE, EDGE_DELIVER, EDGE_LOOK_AGAIN } edge_t;

/* Lock held: what the check of registration `gen` in slot i that found `low` does. One task
 * delivers a slot at a time (`delivering`), so the events strictly alternate. A check that finds
 * the slot being delivered leaves it to the deliverer and asks it to look again (its figure may
 * be newer than the deliverer's); the deliverer looks again after each call. */
static edge_t take_edge_locked(size_t i, uint32_t gen, bool low, bool deliverer)
{
    callback_slot_t *live = &s_callbacks[i];
    if (!live->used || live->generation != gen) {
        return EDGE_NONE;
    }
    if (!deliverer && live->delivering) {
        live->look_again = true;
        return EDGE_NONE;
    }
    if (live->low != low) {
        live->low = low;
        live->delivering = true;
        return EDGE_DELIVER;
    }
    if (deliverer && live->look_again) {
        live->look_again = false;
        return EDGE_LOOK_AGAIN;
    }
    live->delivering = false;
    return EDGE_NONE;
}

/* Check every registered callback against fresh free bytes for its caps; deliver edges unlocked.
 * The check reads counters only; the largest block (a walk of the heap on the chip, see
 * heap_monitor.h) is read only for an edge that is delivered. */
static void check_callbacks(void)
{
    for (size_t i = 0; i < CALLBACK_SLOTS; i++) {
        kraken_port_lock(&s_lock);
        const callback_slot_t slot = s_callbacks[i];
        kraken_port_unlock(&s_lock);
        if (!slot.used) {
            continue;
        }
        bool deliverer = false;
        for (;;) {
            const size_t free_bytes = kraken_port_heap_free_size(slot.caps);
            /* 0 free bytes is low only for memory the chip has: no heap matching the caps (PSRAM
             * caps without PSRAM) gives 0 too, and absent memory cannot run low. The total (a
             * counter per heap, no walk) is read only then. */
            const bool low = free_bytes < slot.threshold &&
                             (free_bytes != 0 || kraken_port_heap_total_size(slot.caps) != 0);
            kraken_port_lock(&s_lock);
            const edge_t edge = take_edge_locked(i, slot.generation, low, deliverer);
            kraken_port_unlock(&s_lock);
            if (edge == EDGE_NONE) {
                break;
            }
            deliverer = true;
            if (edge == EDGE_LOOK_AGAIN) {
                continue;
            }
            kraken_port_heap_figures_t f;
            kraken_port_heap_figures(slot.caps, &f);
            const heap_monitor_event_t event = {
                .caps = slot.caps,
                .threshold = slot.threshold,
                .free_bytes = free_bytes, /* the figure the edge was decided on */
                .largest_free_block = f.largest_free_block,
                .low = low,
            };
            slot.fn(&event, slot.ctx);
        }
    }
}

esp_err_t heap_monitor_get_stats(heap_stats_t *stats)
{
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE; /* task only: nothing done */
    }
    if (stats == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    read_stats(stats);
    check_callbacks();
    return ESP_OK;
}

esp_err_t heap_monitor_get_caps_stats(uint32_t caps, heap_region_stats_t *out)
{
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE; /* task only: nothing done */
    }
    if (out == NULL || caps == 0) {
        return ESP_ERR_INVALID_ARG;
    }
    read_region(caps, out);
    check_callbacks();
    return ESP_OK;
}

esp_err_t heap_monitor_count_blocks(heap_stats_t *stats)
{
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE; /* task only: nothing done */
    }
    if (stats == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    kraken_port_heap_block_counts(HEAP_MONITOR_CAPS_ALL, &stats->allocated_blocks,
                                  &stats->free_blocks);
    kraken_port_heap_block_counts(HEAP_MONITOR_CAPS_SRAM, &stats->internal.allocated_blocks,
                                  &stats->internal.free_blocks);
    if (kraken_port_psram_available()) {
        kraken_port_heap_block_counts(HEAP_MONITOR_CAPS_PSRAM, &stats->psram.allocated_blocks,
                                      &stats->psram.free_blocks);
    } else {
        stats->psram.allocated_blocks = 0;
        stats->psram.free_blocks = 0;
    }
    stats->blocks_counted = true;
    return ESP_OK;
}

/* ---- health ------------------------------------------------------------------------------------ */

esp_err_t heap_monitor_get_thresholds(heap_monitor_thresholds_t *out)
{
    if (out == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    kraken_port_lock(&s_lock);
    *out = s_thresholds;
    kraken_port_unlock(&s_lock);
    return ESP_OK;
}

esp_err_t heap_monitor_set_thresholds(const heap_monitor_thresholds_t *t)
{
    if (t == NULL || t->fragmentation_percent < 0 || t->fragmentation_percent > 100) {
        return ESP_ERR_INVALID_ARG;
    }
    kraken_port_lock(&s_lock);
    s_thresholds = *t;
    kraken_port_unlock(&s_lock);
    return ESP_OK;
}

uint32_t heap_monitor_stats_issues(const heap_stats_t *stats)
{
    if (stats == NULL) {
        return 0;
    }
    heap_monitor_thresholds_t t;
    heap_monitor_get_thresholds(&t);
    uint32_t issues = 0;
    /* A full region's fragmentation is the formula on a few leftover bytes: "full" says it. */
    if (stats->internal.largest_free_block == 0) {
        issues |= HEAP_MONITOR_ISSUE_INTERNAL_FULL;
    } else if (stats->internal.fragmentation_percent > t.fragmentation_percent) {
        issues |= HEAP_MONITOR_ISSUE_INTERNAL_FRAGMENTED;
    }
    if (stats->internal.total_free_bytes < t.min_free_internal) {
        issues |= HEAP_MONITOR_ISSUE_INTERNAL_LOW_FREE;
    }
    if (stats->internal.largest_free_block < t.min_largest_internal) {
        issues |= HEAP_MONITOR_ISSUE_INTERNAL_SMALL_LARGEST;
    }
    if (stats->psram_present) {
        if (stats->psram.largest_free_block == 0) {
            issues |= HEAP_MONITOR_ISSUE_PSRAM_FULL;
        } else if (stats->psram.fragmentation_percent > t.fragmentation_percent) {
            issues |= HEAP_MONITOR_ISSUE_PSRAM_FRAGMENTED;
        }
        if (stats->psram.total_free_bytes < t.min_free_psram) {
            issues |= HEAP_MONITOR_ISSUE_PSRAM_LOW_FREE;
        }
    }
    return issues;
}

static uint32_t integrity_issues(void)
{
    heap_monitor_thresholds_t t;
    heap_monitor_get_thresholds(&t);
    if (t.check_integrity && !kraken_port_heap_check_integrity(false)) {
        return HEAP_MONITOR_ISSUE_INTEGRITY;
    }
    return 0;
}

uint32_t heap_monitor_get_health_issues(void)
{
    if (kraken_port_in_isr()) {
        return HEAP_MONITOR_ISSUE_NOT_CHECKED;
    }
    heap_stats_t stats;
    heap_monitor_get_stats(&stats);
    return heap_monitor_stats_issues(&stats) | integrity_issues();
}

bool heap_monitor_check_health(void)
{
    return heap_monitor_get_health_issues() == 0;
}

/* ---- text (src/ has no stdio: a small bounded writer that counts what it could not write) ------ */

typedef struct {
    char *buf;
    size_t size;
    size_t len; /* characters produced, written or not; buf keeps room for the NUL */
} text_t;

static void put_char(text_t *t, char c)
{
    if (t->len + 1 < t->size) {
        t->buf[t->len] = c;
    }
    t->len++;
}

static void put_str(text_t *t, const char *s)
{
    while (*s != '\0') {
        put_char(t, *s++);
    }
}

static void put_uint(text_t *t, unsigned long long v)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    while (n > 0) {
        put_char(t, digits[--n]);
    }
}

static void put_int(text_t *t, long long v)
{
    if (v < 0) {
        put_char(t, '-');
        put_uint(t, 0ull - (unsigned long long)v);
    } else {
        put_uint(t, (unsigned long long)v);
    }
}

/* Ends the text: true when everything fit (NUL-terminated), else buf gets "" when it has room. */
static bool text_finish(text_t *t)
{
    if (t->len < t->size) {
        t->buf[t->len] = '\0';
        return true;
    }
    if (t->size > 0) {
        t->buf[0] = '\0';
    }
    return false;
}

#define HUMAN_BYTES_LEN 24

/* "512B", "1.5KB", "8MB": 1024-based, one decimal unless whole, rounded down. */
static const char *human_bytes(size_t bytes, char out[HUMAN_BYTES_LEN])
{
    text_t t = {out, HUMAN_BYTES_LEN, 0};
    size_t unit = 1;
    const char *suffix = "B";
    if (bytes >= (size_t)1024 * 1024) {
        unit = (size_t)1024 * 1024;
        suffix = "MB";
    } else if (bytes >= 1024) {
        unit = 1024;
        suffix = "KB";
    }
    put_uint(&t, bytes / unit);
    unsigned tenth = (unsigned)((unsigned long long)(bytes % unit) * 10u / unit);
    if (bytes % unit != 0) { /* "1.0KB" for 1075 bytes: "1KB" would read as exact */
        put_char(&t, '.');
        put_uint(&t, tenth);
    }
    put_str(&t, suffix);
    text_finish(&t);
    return out;
}

/* ---- log --------------------------------------------------------------------------------------- */

static void log_region(const char *tag, const char *name, const heap_region_stats_t *r,
                       bool present, uint32_t issues)
{
    KRAKEN_LOGI(tag, "Heap Fragmentation:");
    if (!present) {
        KRAKEN_LOGI(tag, "  Region: %s (not present)", name);
        return;
    }
    char a[HUMAN_BYTES_LEN];
    KRAKEN_LOGI(tag, "  Region: %s", name);
    KRAKEN_LOGI(tag, "  Total: %s", human_bytes(r->total_bytes, a));
    KRAKEN_LOGI(tag, "  Free: %s", human_bytes(r->total_free_bytes, a));
    KRAKEN_LOGI(tag, "  Largest block: %s", human_bytes(r->largest_free_block, a));
    if (issues == 0) {
        KRAKEN_LOGI(tag, "  Fragmentation: %d%% \u2705 HEALTHY", r->fragmentation_percent);
        return;
    }
    char why[96];
    text_t t = {why, sizeof why, 0};
    const char *sep = "";
    if (issues & (HEAP_MONITOR_ISSUE_INTERNAL_FULL | HEAP_MONITOR_ISSUE_PSRAM_FULL)) {
        put_str(&t, "full");
        sep = ", ";
    }
    if (issues & (HEAP_MONITOR_ISSUE_INTERNAL_FRAGMENTED | HEAP_MONITOR_ISSUE_PSRAM_FRAGMENTED)) {
        put_str(&t, "fragmented");
        sep = ", ";
    }
    if (issues & (HEAP_MONITOR_ISSUE_INTERNAL_LOW_FREE | HEAP_MONITOR_ISSUE_PSRAM_LOW_FREE)) {
        put_str(&t, sep);
        put_str(&t, "low free memory");
        sep = ", ";
    }
    if (issues & HEAP_MONITOR_ISSUE_INTERNAL_SMALL_LARGEST) {
        put_str(&t, sep);
        put_str(&t, "largest block too small");
    }
    text_finish(&t);
    KRAKEN_LOGW(tag, "  Fragmentation: %d%% \u274C UNHEALTHY (%s)", r->fragmentation_percent, why);
}

void heap_monitor_log_stats(const char *tag)
{
    if (kraken_port_in_isr()) {
        return; /* task only: nothing logged */
    }
    if (tag == NULL) {
        tag = DEFAULT_TAG;
    }
    heap_stats_t stats;
    heap_monitor_get_stats(&stats);
    uint32_t issues = heap_monitor_stats_issues(&stats);
    log_region(tag, "Internal SRAM", &stats.internal, true, issues & ISSUES_INTERNAL);
    log_region(tag, "PSRAM", &stats.psram, stats.psram_present, issues & ISSUES_PSRAM);
    heap_monitor_thresholds_t t;
    heap_monitor_get_thresholds(&t);
    if (t.check_integrity) {
        bool ok = integrity_issues() == 0;
        kraken_port_log(ok ? KRAKEN_LOG_INFO : KRAKEN_LOG_WARN, tag, "Heap integrity: %s",
                        ok ? "\u2705 OK" : "\u274C CORRUPTED");
    }
    if (atomic_load(&s_hook_installed)) {
        KRAKEN_LOGI(tag, "Failed allocations: %lu", (unsigned long)stats.failed_allocations);
    } else {
        KRAKEN_LOGI(tag, "Failed allocations: not counted (heap_monitor_init() not called)");
    }
}

/* ---- low-memory callbacks ---------------------------------------------------------------------- */

esp_err_t heap_monitor_register_callback(size_t threshold, uint32_t caps, heap_monitor_callback_t fn,
                                         void *ctx)
{
    if (fn == NULL || caps == 0 || threshold == 0) {
        return ESP_ERR_INVALID_ARG;
    }
    esp_err_t err = ESP_ERR_NO_MEM;
    callback_slot_t *free_slot = NULL;
    kraken_port_lock(&s_lock);
    for (size_t i = 0; i < CALLBACK_SLOTS; i++) {
        callback_slot_t *s = &s_callbacks[i];
        if (!s->used) {
            if (free_slot == NULL) {
                free_slot = s;
            }
        } else if (s->fn == fn && s->ctx == ctx && s->caps == caps && s->threshold == threshold) {
            err = ESP_ERR_INVALID_STATE;
            free_slot = NULL;
            break;
        }
    }
    if (free_slot != NULL) {
        *free_slot = (callback_slot_t){
            .fn = fn,
            .ctx = ctx,
            .caps = caps,
            .threshold = threshold,
            .generation = ++s_next_generation,
            .used = true,
            .low = false,
        };
        err = ESP_OK;
    }
    kraken_port_unlock(&s_lock);
    return err;
}

esp_err_t heap_monitor_unregister_callback(heap_monitor_callback_t fn, void *ctx)
{
    if (fn == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    bool found = false;
    kraken_port_lock(&s_lock);
    for (size_t i = 0; i < CALLBACK_SLOTS; i++) {
        callback_slot_t *s = &s_callbacks[i];
        if (s->used && s->fn == fn && s->ctx == ctx) {
            *s = (callback_slot_t){.used = false};
            found = true;
        }
    }
    kraken_port_unlock(&s_lock);
    return found ? ESP_OK : ESP_ERR_NOT_FOUND;
}

/* ---- failed allocations ------------------------------------------------------------------------ */

/* The slot counting `caps`, claimed on first use; NULL when caps is 0 or every slot is taken. In
 * IRAM with on_alloc_failed. */
static KRAKEN_PORT_IRAM_ATTR failed_slot_t *failed_slot_for(uint32_t caps)
{
    if (caps == 0) {
        return NULL;
    }
    for (size_t i = 0; i < FAILED_SLOTS; i++) {
        uint32_t seen = atomic_load(&s_failed[i].caps);
        if (seen == 0) {
            uint32_t expected = 0;
            if (atomic_compare_exchange_strong(&s_failed[i].caps, &expected, caps)) {
                return &s_failed[i];
            }
            seen = expected; /* another failure claimed it first */
        }
        if (seen == caps) {
            return &s_failed[i];
        }
    }
    return NULL;
}

/* Runs in the failed allocation's context (maybe an ISR, maybe with the flash cache off: in IRAM,
 * touching only DRAM): atomics only, no lock, no log. */
static KRAKEN_PORT_IRAM_ATTR void on_alloc_failed(size_t size, uint32_t caps, const char *function)
{
    atomic_fetch_add(&s_failed_total, 1u);
    failed_slot_t *slot = failed_slot_for(caps);
    if (slot != NULL) {
        atomic_fetch_add(&slot->count, 1u);
        size_t largest = atomic_load(&slot->largest_request);
        while (size > largest && !atomic_compare_exchange_weak(&slot->largest_request, &largest, size)) {
        }
    }
    heap_monitor_alloc_failed_fn_t chain = atomic_load(&s_failed_chain);
    if (chain != NULL) {
        chain(size, caps, function);
    }
}

esp_err_t heap_monitor_init(void)
{
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE; /* task only: nothing done */
    }
    esp_err_t err = kraken_port_register_alloc_failed_hook(on_alloc_failed);
    if (err == ESP_OK) {
        atomic_store(&s_hook_installed, true);
    }
    return err;
}

uint32_t heap_monitor_get_failed_alloc_count(uint32_t caps)
{
    if (caps == 0) {
        return atomic_load(&s_failed_total);
    }
    uint32_t sum = 0;
    for (size_t i = 0; i < FAILED_SLOTS; i++) {
        uint32_t slot_caps = atomic_load(&s_failed[i].caps);
        if (slot_caps != 0 && (slot_caps & caps) == caps) {
            sum += atomic_load(&s_failed[i].count);
        }
    }
    return sum;
}

esp_err_t heap_monitor_get_failed_allocs(heap_monitor_failed_alloc_t *out, size_t max, size_t *count)
{
    if (count == NULL || (out == NULL && max > 0)) {
        return ESP_ERR_INVALID_ARG;
    }
    size_t n = 0;
    for (size_t i = 0; i < FAILED_SLOTS && n < max; i++) {
        uint32_t caps = atomic_load(&s_failed[i].caps);
        uint32_t failures = atomic_load(&s_failed[i].count);
        if (caps != 0 && failures != 0) {
            out[n++] = (heap_monitor_failed_alloc_t){
                .caps = caps,
                .count = failures,
                .largest_request = atomic_load(&s_failed[i].largest_request),
            };
        }
    }
    *count = n;
    return ESP_OK;
}

void heap_monitor_reset_failed_allocs(void)
{
    /* Lock-free against the hook: a failure counted while this runs may be lost, or land in a
     * slot being freed and so count for the next mask that claims it. */
    atomic_store(&s_failed_total, 0u);
    for (size_t i = 0; i < FAILED_SLOTS; i++) {
        atomic_store(&s_failed[i].caps, 0u);
        atomic_store(&s_failed[i].count, 0u);
        atomic_store(&s_failed[i].largest_request, (size_t)0);
    }
}

esp_err_t heap_monitor_set_alloc_failed_chain(heap_monitor_alloc_failed_fn_t fn)
{
    atomic_store(&s_failed_chain, fn);
    return ESP_OK;
}

/* ---- sampler ----------------------------------------------------------------------------------- */

static void region_sample(const heap_region_stats_t *r, heap_monitor_region_sample_t *out)
{
    out->free_bytes = r->total_free_bytes;
    out->largest_free_block = r->largest_free_block;
    out->fragmentation_percent = r->fragmentation_percent;
}

esp_err_t heap_monitor_sample_now(heap_monitor_sample_t *out)
{
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE; /* task only: nothing done */
    }
    heap_monitor_sample_t sample = {0};
    memory_pool_stats_t pools;
    /* Pools first: should reading them set the pools up, the heap figures below include that. */
    if (memory_pool_get_stats(&pools) == ESP_OK) {
        for (size_t c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
            sample.pool_in_use[c] = pools.classes[c].in_use;
        }
    }
    heap_region_stats_t region;
    read_region(HEAP_MONITOR_CAPS_SRAM, &region);
    region_sample(&region, &sample.internal);
    if (kraken_port_psram_available()) {
        read_region(HEAP_MONITOR_CAPS_PSRAM, &region);
        region_sample(&region, &sample.psram);
    }
    sample.failed_allocations = atomic_load(&s_failed_total);
    /* Stored, with its time and sequence taken under the lock, before any callback runs: a callback
     * that frees memory and samples again appends a newer sample, and samples taken by several
     * tasks are kept in time order. */
    kraken_port_lock(&s_lock);
    sample.timestamp_us = kraken_port_time_us();
    sample.sequence = ++s_sample_sequence;
    s_samples[s_sample_head] = sample;
    s_sample_head = (s_sample_head + 1) % SAMPLE_SLOTS;
    if (s_sample_count < SAMPLE_SLOTS) {
        s_sample_count++;
    }
    kraken_port_unlock(&s_lock);
    check_callbacks();
    if (out != NULL) {
        *out = sample;
    }
    return ESP_OK;
}

size_t heap_monitor_sample_capacity(void)
{
    return SAMPLE_SLOTS;
}

esp_err_t heap_monitor_get_samples(heap_monitor_sample_t *out, size_t max, size_t *count)
{
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE; /* task only: nothing done */
    }
    if (count == NULL || (out == NULL && max > 0)) {
        return ESP_ERR_INVALID_ARG;
    }
    /* A few samples per hold of the critical section (interrupts off on the chip), oldest first;
     * each is checked against the sequence it must have, and a sample written over meanwhile (the
     * sampler went round the whole ring) starts the copy again from the ring as it is then. */
    size_t n = 0, index = 0, i = 0;
    uint32_t first = 0;
    kraken_port_lock(&s_lock);
    for (;;) {
        if (i == 0) {
            n = max < s_sample_count ? max : s_sample_count;
            index = (s_sample_head + SAMPLE_SLOTS - n) % SAMPLE_SLOTS;
            first = s_samples[index].sequence;
        }
        const size_t end = n - i > SAMPLES_PER_HOLD ? i + SAMPLES_PER_HOLD : n;
        while (i < end && s_samples[index].sequence == first + (uint32_t)i) {
            out[i++] = s_samples[index];
            index = (index + 1) % SAMPLE_SLOTS;
        }
        if (i == n) {
            break;
        }
        if (i < end) {
            i = 0; /* overtaken */
            continue;
        }
        kraken_port_unlock(&s_lock); /* let the interrupts and the other core in */
        kraken_port_lock(&s_lock);
    }
    kraken_port_unlock(&s_lock);
    *count = n;
    return ESP_OK;
}

void heap_monitor_clear_samples(void)
{
    kraken_port_lock(&s_lock);
    s_sample_count = 0;
    kraken_port_unlock(&s_lock);
}

static void sampler_main(void *arg)
{
    (void)arg;
    /* Sample only once start has stored the task handle: a callback run by the first sample must
     * already be recognised as running in this task (heap_monitor_sampler_stop refuses it). */
    kraken_port_sem_take(&s_sampler_go_sem, KRAKEN_PORT_WAIT_FOREVER);
    kraken_port_lock(&s_lock);
    uint32_t period_ms = s_sampler_period_ms;
    kraken_port_unlock(&s_lock);
    do {
        heap_monitor_sample_now(NULL);
    } while (!kraken_port_sem_take(&s_sampler_stop_sem, period_ms)); /* stop gives the semaphore */
}

esp_err_t heap_monitor_sampler_start(uint32_t period_ms)
{
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE; /* task only: nothing done */
    }
    if (period_ms == KRAKEN_PORT_WAIT_FOREVER) {
        return ESP_ERR_INVALID_ARG; /* the wait between samples would never end */
    }
    kraken_port_lock(&s_lock);
    if (s_sampler_state != SAMPLER_STOPPED) {
        kraken_port_unlock(&s_lock);
        return ESP_ERR_INVALID_STATE;
    }
    s_sampler_state = SAMPLER_STARTING;
    s_sampler_period_ms = period_ms != 0 ? period_ms : KRAKEN_HEAP_MONITOR_SAMPLE_PERIOD_MS;
    kraken_port_unlock(&s_lock);

    esp_err_t err = kraken_port_sem_create(&s_sampler_stop_sem, 1, 0);
    if (err == ESP_OK) {
        err = kraken_port_sem_create(&s_sampler_go_sem, 1, 0);
        if (err == ESP_OK) {
            err = kraken_port_task_create(&s_sampler_task, sampler_main, NULL, "heap_monitor",
                                          KRAKEN_HEAP_MONITOR_SAMPLER_STACK_SIZE,
                                          KRAKEN_HEAP_MONITOR_SAMPLER_PRIORITY, -1);
            if (err != ESP_OK) {
                kraken_port_sem_delete(&s_sampler_go_sem);
            }
        }
        if (err != ESP_OK) {
            kraken_port_sem_delete(&s_sampler_stop_sem);
        }
    }
    if (err != ESP_OK) {
        err = ESP_ERR_NO_MEM;
    }
    kraken_port_lock(&s_lock);
    s_sampler_state = err == ESP_OK ? SAMPLER_RUNNING : SAMPLER_STOPPED;
    kraken_port_unlock(&s_lock);
    if (err == ESP_OK) {
        kraken_port_sem_give(&s_sampler_go_sem);
    }
    return err;
}

/* True when the caller is the sampler task (it cannot wait for itself to end), also while another
 * task is stopping it: its callback may still be running then. */
static bool sampler_is_caller_locked(void)
{
    return (s_sampler_state == SAMPLER_RUNNING || s_sampler_state == SAMPLER_STOPPING) &&
           kraken_port_task_is_current(&s_sampler_task);
}

esp_err_t heap_monitor_sampler_stop(void)
{
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE; /* task only: nothing done */
    }
    kraken_port_lock(&s_lock);
    if (s_sampler_state != SAMPLER_RUNNING || sampler_is_caller_locked()) {
        kraken_port_unlock(&s_lock);
        return ESP_ERR_INVALID_STATE;
    }
    s_sampler_state = SAMPLER_STOPPING;
    kraken_port_unlock(&s_lock);

    kraken_port_sem_give(&s_sampler_stop_sem);
    kraken_port_task_join(&s_sampler_task);
    kraken_port_sem_delete(&s_sampler_stop_sem);
    kraken_port_sem_delete(&s_sampler_go_sem);

    kraken_port_lock(&s_lock);
    s_sampler_state = SAMPLER_STOPPED;
    kraken_port_unlock(&s_lock);
    return ESP_OK;
}

bool heap_monitor_sampler_running(void)
{
    kraken_port_lock(&s_lock);
    bool running = s_sampler_state == SAMPLER_RUNNING;
    kraken_port_unlock(&s_lock);
    return running;
}

/* ---- JSON -------------------------------------------------------------------------------------- */

static void put_key(text_t *t, const char *key)
{
    put_char(t, '"');
    put_str(t, key);
    put_str(t, "\":");
}

static void put_field(text_t *t, const char *key, unsigned long long value, bool comma)
{
    put_key(t, key);
    put_uint(t, value);
    if (comma) {
        put_char(t, ',');
    }
}

static void put_region(text_t *t, const heap_region_stats_t *r)
{
    put_field(t, "total", r->total_bytes, true);
    put_field(t, "free", r->total_free_bytes, true);
    put_field(t, "largest", r->largest_free_block, true);
    put_field(t, "min_free", r->minimum_free_bytes, true);
    put_field(t, "fragmentation", (unsigned long long)r->fragmentation_percent, false);
}

/* What the snapshot prints, read before any of it is written. */
typedef struct {
    int64_t timestamp_us;
    uint32_t issues;
    heap_stats_t stats;
    struct {
        uint32_t caps, count;
        size_t largest_request;
    } failed[FAILED_SLOTS];
    bool pools_ok;
    memory_pool_stats_t pools;
    bool running;
    uint32_t period_ms;
    size_t samples;
} json_figures_t;

static void read_json_figures(json_figures_t *f)
{
    heap_monitor_get_stats(&f->stats);
    f->issues = heap_monitor_stats_issues(&f->stats);
    f->timestamp_us = kraken_port_time_us();
    for (size_t i = 0; i < FAILED_SLOTS; i++) {
        f->failed[i].caps = atomic_load(&s_failed[i].caps);
        f->failed[i].count = atomic_load(&s_failed[i].count);
        f->failed[i].largest_request = atomic_load(&s_failed[i].largest_request);
    }
    f->pools_ok = memory_pool_get_stats(&f->pools) == ESP_OK;
    kraken_port_lock(&s_lock);
    f->running = s_sampler_state == SAMPLER_RUNNING;
    f->period_ms = f->running ? s_sampler_period_ms : 0;
    f->samples = s_sample_count;
    kraken_port_unlock(&s_lock);
}

/* Figures that print longest: every number at its type's widest (the percentages at 100, the
 * timestamp at its most negative), every slot and pool class printed, every flag "false". */
static void longest_json_figures(json_figures_t *f)
{
    memset(f, 0xFF, sizeof *f);
    f->timestamp_us = INT64_MIN;
    f->stats.fragmentation_percent = 100;
    f->stats.internal.fragmentation_percent = 100;
    f->stats.psram.fragmentation_percent = 100;
    f->stats.psram_present = false;
    f->stats.blocks_counted = false;
    f->pools_ok = true;
    f->running = false;
}

static void write_json(text_t *t, const json_figures_t *f)
{
    put_char(t, '{');
    put_key(t, "timestamp_us");
    put_int(t, f->timestamp_us);
    put_char(t, ',');
    put_key(t, "healthy");
    put_str(t, f->issues == 0 ? "true," : "false,");
    put_field(t, "issues", f->issues, true);

    put_key(t, "heap");
    put_char(t, '{');
    const heap_region_stats_t all = {
        .total_bytes = f->stats.total_bytes,
        .total_free_bytes = f->stats.total_free_bytes,
        .largest_free_block = f->stats.largest_free_block,
        .minimum_free_bytes = f->stats.minimum_free_bytes,
        .fragmentation_percent = f->stats.fragmentation_percent,
    };
    put_region(t, &all);
    put_str(t, "},");
    put_key(t, "internal");
    put_char(t, '{');
    put_region(t, &f->stats.internal);
    put_str(t, "},");
    put_key(t, "psram");
    put_char(t, '{');
    put_key(t, "present");
    put_str(t, f->stats.psram_present ? "true," : "false,");
    put_region(t, &f->stats.psram);
    put_str(t, "},");

    put_key(t, "failed_allocs");
    put_char(t, '{');
    put_field(t, "total", f->stats.failed_allocations, true);
    put_key(t, "by_caps");
    put_char(t, '[');
    const char *sep = "";
    for (size_t i = 0; i < FAILED_SLOTS; i++) {
        if (f->failed[i].caps == 0 || f->failed[i].count == 0) {
            continue;
        }
        put_str(t, sep);
        put_char(t, '{');
        put_field(t, "caps", f->failed[i].caps, true);
        put_field(t, "count", f->failed[i].count, true);
        put_field(t, "largest_request", f->failed[i].largest_request, false);
        put_char(t, '}');
        sep = ",";
    }
    put_str(t, "]},");

    put_key(t, "pools");
    if (f->pools_ok) {
        put_char(t, '[');
        for (size_t c = 0; c < MEMORY_POOL_CLASS_COUNT; c++) {
            const memory_pool_class_stats_t *p = &f->pools.classes[c];
            put_str(t, c == 0 ? "{" : ",{");
            put_field(t, "block_size", p->block_size, true);
            put_field(t, "capacity", p->capacity, true);
            put_field(t, "in_use", p->in_use, true);
            put_field(t, "peak", p->peak_in_use, true);
            put_field(t, "fallbacks", p->heap_fallbacks, true);
            put_field(t, "failures", p->failures, false);
            put_char(t, '}');
        }
        put_str(t, "],");
    } else {
        put_str(t, "null,");
    }

    put_key(t, "sampler");
    put_char(t, '{');
    put_key(t, "running");
    put_str(t, f->running ? "true," : "false,");
    put_field(t, "period_ms", f->period_ms, true);
    put_field(t, "samples", f->samples, false);
    put_str(t, "}}");
}

esp_err_t heap_monitor_get_json(char *buf, size_t size, size_t *length)
{
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE; /* task only: nothing done */
    }
    if (buf == NULL && size > 0) {
        return ESP_ERR_INVALID_ARG;
    }
    json_figures_t figures;
    read_json_figures(&figures);
    text_t t = {buf, size, 0};
    write_json(&t, &figures);
    if (length != NULL) {
        *length = t.len;
    }
    return text_finish(&t) ? ESP_OK : ESP_ERR_INVALID_SIZE;
}

size_t heap_monitor_json_max_length(void)
{
    json_figures_t figures;
    longest_json_figures(&figures);
    text_t t = {NULL, 0, 0};
    write_json(&t, &figures);
    return t.len;
}

/* ---- reset ------------------------------------------------------------------------------------- */

esp_err_t heap_monitor_deinit(void)
{
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE; /* task only: nothing done */
    }
    kraken_port_lock(&s_lock);
    bool from_sampler = sampler_is_caller_locked();
    kraken_port_unlock(&s_lock);
    if (from_sampler) {
        return ESP_ERR_INVALID_STATE;
    }
    /* A start or stop in another task is brief (a task creation, one sample): wait for its end,
     * so that no sampler is left running after this returns. */
    for (;;) {
        kraken_port_lock(&s_lock);
        const sampler_state_t state = s_sampler_state;
        kraken_port_unlock(&s_lock);
        if (state == SAMPLER_STOPPED) {
            break;
        }
        if (state == SAMPLER_RUNNING && heap_monitor_sampler_stop() == ESP_OK) {
            break;
        }
        kraken_port_delay_ms(1);
    }

    kraken_port_lock(&s_lock);
    for (size_t i = 0; i < CALLBACK_SLOTS; i++) {
        s_callbacks[i] = (callback_slot_t){.used = false};
    }
    s_thresholds = (heap_monitor_thresholds_t)KCONFIG_THRESHOLDS;
    s_sample_head = 0;
    s_sample_count = 0;
    s_sample_sequence = 0;
    kraken_port_unlock(&s_lock);
    atomic_store(&s_failed_chain, (heap_monitor_alloc_failed_fn_t)NULL);
    heap_monitor_reset_failed_allocs();
    return ESP_OK;
}
