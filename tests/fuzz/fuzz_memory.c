/*
 * fuzz_memory.c - the pools, the simulated ESP32-S3 heap (heap_caps_*, malloc) and memory_utils
 * driven by arbitrary input, against a model of what their headers promise.
 *
 * Each input is a simulated reboot (a profile: N8R8, N8R2 or N8) followed by operations read from
 * the bytes: allocations of every kind and size (0, class edges, oversize, SIZE_MAX, overflowing
 * n * size), frees of live blocks, double frees, pointers into blocks, pointers nothing handed
 * out, heap blocks freed from a (simulated) ISR, batches, reallocs, a custom pool table, a cap on
 * heap blocks, injected heap failures. After every operation the pools' statistics must equal the
 * model's counters field by field, every live block must still hold the bytes written into it,
 * and no two live blocks may overlap; at the end of the input everything is freed and the pools
 * must be full, memory_pool_deinit() must succeed and every heap's free bytes must be back to the
 * figure of the fresh boot (nothing leaked, on any path).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "esp_heap_caps.h"
#include "esp_heap_trace.h"
#include "esp_log.h"
#include "esp_memory_utils.h"
#include "fuzz_support.h"
#include "kraken_sim.h"
#include "memory_pool.h"
#include "sim_internal.h"
#include "system_service/memory_utils.h"

#define CLASSES MEMORY_POOL_CLASS_COUNT
#define LIVE_MAX 64
#define FREED_MAX 16

typedef enum {
    OWNER_POOLS,  /* from memory_pool_alloc*: a pool block or a pool heap block */
    OWNER_HEAP,   /* heap_caps_* / malloc / memory_utils: released with heap_caps_free or free */
} owner_t;

typedef struct {
    uint8_t *ptr;
    size_t size;   /* bytes written (and checked) */
    uint8_t fill;
    owner_t owner;
    int pool_class; /* OWNER_POOLS: class of the pool block, -1 for a heap block */
    int tag;        /* OWNER_POOLS heap block: requested class, CLASSES for oversize */
    uint32_t caps;  /* OWNER_HEAP: what it must satisfy */
    size_t align;   /* OWNER_HEAP: required alignment */
    size_t asked;   /* OWNER_HEAP: the size its heap trace record must show */
    bool traced;    /* OWNER_HEAP: it has a record (a failed realloc drops it, as in ESP-IDF) */
} block_t;

static block_t live[LIVE_MAX];
/* Heap tracing runs in HEAP_TRACE_LEAKS mode through each input: its records must be exactly the
 * live heap blocks (check_trace), and none must be left once everything is freed. */
#define TRACE_RECORDS 256
static heap_trace_record_t trace_records[TRACE_RECORDS];
static size_t live_n;
static uint8_t *freed_pool[FREED_MAX]; /* pool block starts freed since (double-free candidates) */
static size_t freed_n;
static memory_pool_stats_t want;        /* the model's statistics */
static uint32_t want_hooks, hooks;      /* misuse reports expected / seen */
static bool pools_ready;                /* set up with storage (else every request is the heap's) */
static uint8_t next_fill = 1;
static bool trace; /* FUZZ_TRACE set: each operation on stderr (to replay a crash) */

static void on_misuse(const memory_pool_misuse_info_t *info)
{
    (void)info;
    hooks++;
}

/* ---- the model ------------------------------------------------------------------------------- */

static int requested_class(size_t size)
{
    for (int c = 0; c < CLASSES; c++) {
        if (size <= want.classes[c].block_size) {
            return c;
        }
    }
    return CLASSES;
}

static bool class_has_room(int c, uint32_t margin)
{
    return want.classes[c].capacity - want.classes[c].in_use > margin;
}

static void note_peaks(void)
{
    for (int c = 0; c < CLASSES; c++) {
        memory_pool_class_stats_t *s = &want.classes[c];
        if (s->in_use > s->peak_in_use) {
            s->peak_in_use = s->in_use;
            s->min_free = s->capacity - s->in_use;
        }
    }
    if (want.heap_blocks_live > want.heap_blocks_peak) {
        want.heap_blocks_peak = want.heap_blocks_live;
    }
}

static void compare_stats(const char *after)
{
    memory_pool_stats_t got;
    FUZZ_CHECK(memory_pool_get_stats(&got) == ESP_OK, "%s", after);
    for (int c = 0; c < CLASSES; c++) {
        const memory_pool_class_stats_t *g = &got.classes[c], *w = &want.classes[c];
#define SAME(field)                                                                                \
    FUZZ_CHECK(g->field == w->field, "after %s: class %d " #field " %lu, model %lu", after, c,     \
               (unsigned long)g->field, (unsigned long)w->field)
        SAME(block_size);
        SAME(capacity);
        SAME(in_use);
        SAME(peak_in_use);
        SAME(min_free);
        SAME(allocations);
        SAME(frees);
        SAME(heap_fallbacks);
        SAME(fallback_live);
        SAME(failures);
        SAME(larger_class_spills);
        SAME(double_frees);
        SAME(invalid_frees);
#undef SAME
        const uint32_t free_blocks = memory_pool_class_free((unsigned)c);
        FUZZ_CHECK(free_blocks == (pools_ready ? w->capacity - w->in_use : 0),
                   "after %s: class %d has %u blocks free, model %u", after, c,
                   (unsigned)free_blocks, (unsigned)(w->capacity - w->in_use));
    }
#define SAME(field)                                                                                \
    FUZZ_CHECK(got.field == want.field, "after %s: " #field " %lu, model %lu", after,              \
               (unsigned long)got.field, (unsigned long)want.field)
    SAME(oversize);
    SAME(oversize_live);
    SAME(oversize_failures);
    SAME(double_frees);
    SAME(invalid_frees);
    SAME(unknown_frees);
    SAME(heap_frees_in_isr);
    SAME(heap_calls);
    SAME(heap_blocks_live);
    SAME(heap_blocks_peak);
    SAME(heap_blocks_max);
    SAME(setup_failures);
    SAME(try_larger_class);
    SAME(initialized);
#undef SAME
    FUZZ_CHECK(hooks == want_hooks, "after %s: %u misuse reports, model %u", after,
               (unsigned)hooks, (unsigned)want_hooks);
}

/* Every live block still holds its bytes, and none overlaps another. */
static void check_blocks(const char *after)
{
    for (size_t i = 0; i < live_n; i++) {
        const block_t *b = &live[i];
        for (size_t k = 0; k < b->size; k++) {
            FUZZ_CHECK(b->ptr[k] == b->fill, "after %s: block %p byte %zu changed", after,
                       (void *)b->ptr, k);
        }
        for (size_t j = i + 1; j < live_n; j++) {
            const block_t *o = &live[j];
            size_t bs = b->size ? b->size : 1, os = o->size ? o->size : 1;
            FUZZ_CHECK(b->ptr + bs <= o->ptr || o->ptr + os <= b->ptr,
                       "after %s: live blocks %p and %p overlap", after, (void *)b->ptr,
                       (void *)o->ptr);
        }
    }
}

static void forget_freed(const uint8_t *p)
{
    for (size_t i = 0; i < freed_n; i++) {
        if (freed_pool[i] == p) {
            freed_pool[i] = freed_pool[--freed_n];
            return;
        }
    }
}

static void remember_freed(uint8_t *p)
{
    forget_freed(p);
    if (freed_n == FREED_MAX) {
        memmove(freed_pool, freed_pool + 1, sizeof freed_pool[0] * (FREED_MAX - 1));
        freed_n--;
    }
    freed_pool[freed_n++] = p;
}

static block_t *add_live(uint8_t *p, size_t size, owner_t owner)
{
    FUZZ_CHECK(live_n < LIVE_MAX, "model full");
    block_t *b = &live[live_n++];
    *b = (block_t){.ptr = p, .size = size, .fill = next_fill, .owner = owner};
    next_fill = (uint8_t)(next_fill % 251 + 1);
    memset(p, b->fill, size);
    forget_freed(p);
    return b;
}

static void drop_live(size_t i)
{
    live[i] = live[--live_n];
}

static size_t pick_size(fuzz_input_t *in)
{
    static const size_t edges[] = {0, 1, 7, 8, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 4095,
                                   4096, 4097, 8192, 65536, 300000, 3u << 20, SIZE_MAX,
                                   SIZE_MAX / 2};
    uint8_t k = fuzz_u8(in);
    if (k < 2 * sizeof edges / sizeof edges[0]) {
        return edges[k / 2];
    }
    /* mostly the small classes, which fill up soonest */
    static const uint16_t spread[] = {80, 80, 300, 1100, 4200, 4200, 9000, 65535};
    return fuzz_u16(in) % spread[k % 8];
}

/* ---- pools ----------------------------------------------------------------------------------- */

/* An allocation from the pools returned p for `size` (rc its class) with `margin`; isr: no heap. */
static void model_pool_alloc(uint8_t *p, size_t size, uint32_t margin, bool isr)
{
    const int rc = requested_class(size);
    if (size == 0) {
        FUZZ_CHECK(p == NULL, "size 0 gave %p", (void *)p);
        return;
    }
    const bool spill_ok = want.try_larger_class && rc + 1 < CLASSES;
    const bool pool_room =
        pools_ready && rc < CLASSES &&
        (class_has_room(rc, margin) || (spill_ok && class_has_room(rc + 1, margin)));
    if (p == NULL) {
        FUZZ_CHECK(!pool_room, "NULL for %zu bytes with room in class %d", size, rc);
        if (rc == CLASSES) {
            want.oversize_failures++;
        } else {
            want.classes[rc].failures++;
        }
        return;
    }
    FUZZ_CHECK(((uintptr_t)p & 7) == 0, "%p not 8-aligned", (void *)p);
    block_t *b = add_live(p, size > 4200 ? 4200 : size, OWNER_POOLS); /* big: the start only */
    const unsigned got = memory_pool_class_of(p);
    if (got < CLASSES) {
        FUZZ_CHECK(pool_room, "pool block %p of class %u with no room", (void *)p, got);
        const int expect = class_has_room(rc, margin) ? rc : rc + 1;
        FUZZ_CHECK((int)got == expect, "%zu bytes: block of class %u, want %d", size, got, expect);
        b->pool_class = (int)got;
        want.classes[got].in_use++;
        want.classes[got].allocations++;
        if ((int)got != rc) {
            want.classes[rc].larger_class_spills++;
        }
    } else {
        FUZZ_CHECK(!isr, "an ISR allocation gave heap block %p", (void *)p);
        FUZZ_CHECK(!pool_room, "heap block %p for %zu bytes with room in class %d", (void *)p,
                   size, rc);
        FUZZ_CHECK(want.heap_blocks_live < want.heap_blocks_max, "heap block beyond the cap");
        b->pool_class = -1;
        b->tag = rc;
        if (rc == CLASSES) {
            want.oversize++;
            want.oversize_live++;
        } else {
            want.classes[rc].heap_fallbacks++;
            want.classes[rc].fallback_live++;
        }
        want.heap_blocks_live++;
    }
    note_peaks();
}

/* A free through the pools of live block i (task or ISR); returns what memory_pool_free_isr
 * must return. */
static esp_err_t model_pool_free_live(size_t i, bool isr)
{
    block_t *b = &live[i];
    if (b->owner == OWNER_HEAP) { /* nothing here handed it out */
        want.unknown_frees++;
        want.invalid_frees++;
        want_hooks++;
        return ESP_ERR_INVALID_ARG;
    }
    if (b->pool_class >= 0) {
        want.classes[b->pool_class].in_use--;
        want.classes[b->pool_class].frees++;
        remember_freed(b->ptr);
        drop_live(i);
        return ESP_OK;
    }
    if (isr) { /* a heap block stays allocated */
        want.heap_frees_in_isr++;
        want.invalid_frees++;
        want_hooks++;
        return ESP_ERR_INVALID_ARG;
    }
    if (b->tag == CLASSES) {
        want.oversize_live--;
    } else {
        want.classes[b->tag].fallback_live--;
    }
    want.heap_blocks_live--;
    drop_live(i);
    return ESP_OK;
}

static bool is_live(const uint8_t *p)
{
    for (size_t i = 0; i < live_n; i++) {
        if (live[i].ptr == p) {
            return true;
        }
    }
    return false;
}

/* A pointer that is not a live block: a freed pool block (double free), a pointer into a pool
 * block, or one nothing here handed out. Sets *kind to what the pools must count. */
typedef enum { BAD_DOUBLE, BAD_INTERIOR, BAD_UNKNOWN } bad_t;

static uint8_t *pick_bad(fuzz_input_t *in, bad_t *kind, int *cls)
{
    static uint64_t outside[4]; /* never handed out */
    uint8_t k = fuzz_u8(in);
    if (k % 3 == 0 && freed_n > 0) {
        uint8_t *p = freed_pool[fuzz_u8(in) % freed_n];
        if (!is_live(p)) {
            *kind = BAD_DOUBLE;
            *cls = (int)memory_pool_class_of(p);
            return p;
        }
    }
    if (k % 3 == 1 && pools_ready) {
        int c = fuzz_u8(in) % CLASSES;
        for (size_t i = 0; i < live_n; i++) { /* a pointer into a live block of class c */
            if (live[i].owner == OWNER_POOLS && live[i].pool_class == c) {
                size_t off = 1 + fuzz_u16(in) % (want.classes[c].block_size - 1);
                *kind = BAD_INTERIOR;
                *cls = c;
                return live[i].ptr + off;
            }
        }
    }
    *kind = BAD_UNKNOWN;
    *cls = -1;
    return (uint8_t *)outside + (k & 1 ? 8 : 3); /* aligned or not: both unknown outside */
}

static void model_bad_free(bad_t kind, int cls)
{
    want_hooks++;
    if (kind == BAD_DOUBLE) {
        want.classes[cls].double_frees++;
        want.double_frees++;
    } else if (kind == BAD_INTERIOR) {
        want.classes[cls].invalid_frees++;
        want.invalid_frees++;
    } else {
        want.unknown_frees++;
        want.invalid_frees++;
    }
}

static esp_err_t bad_result(bad_t kind)
{
    return kind == BAD_DOUBLE ? ESP_ERR_INVALID_STATE : ESP_ERR_INVALID_ARG;
}

/* Read the configuration the pools run with into the model (after a set-up). */
static void model_setup(void)
{
    memory_pool_stats_t st;
    memory_pool_get_stats(&st);
    pools_ready = st.initialized;
    for (int c = 0; c < CLASSES; c++) {
        want.classes[c].block_size = st.classes[c].block_size;
        want.classes[c].capacity = st.classes[c].capacity;
        want.classes[c].min_free = st.classes[c].capacity;
    }
    want.heap_blocks_max = st.heap_blocks_max;
    want.try_larger_class = st.try_larger_class;
    want.initialized = st.initialized;
}

/* The Kconfig table, its storage allocation failing when the input says so (the pools then stay
 * off: every request is a counted heap fallback). */
static void set_up(fuzz_input_t *in)
{
    if (fuzz_u8(in) % 8 == 0) {
        kraken_sim_fail_next(0, 1);
    }
    esp_err_t err = memory_pool_ensure_init();
    kraken_sim_fault_clear();
    FUZZ_CHECK(err == ESP_OK || err == ESP_ERR_NO_MEM, "set-up: %d", err);
    want.setup_failures += err == ESP_ERR_NO_MEM;
}

/* A table from the input, valid or not; set_up() when it is refused. */
static void op_init(fuzz_input_t *in)
{
    memory_pool_config_t cfg;
    memory_pool_get_default_config(&cfg);
    uint8_t k = fuzz_u8(in);
    size_t size = 8u << (k & 3);
    for (int c = 0; c < CLASSES; c++) {
        cfg.classes[c].block_size = size;
        cfg.classes[c].count = 1 + fuzz_u8(in) % 24;
        size = size * 2 + (k & 4 ? 8 : 0); /* not always a power of two */
    }
    cfg.try_larger_class = k & 8;
    if (k & 16) { /* a smaller cap, within Kconfig's */
        cfg.heap_blocks_max = fuzz_u8(in) % (cfg.heap_blocks_max < 5 ? cfg.heap_blocks_max + 1 : 6);
    }
    bool valid = true;
    if (k & 32) { /* break a rule */
        valid = false;
        switch (fuzz_u8(in) % 4) {
        case 0: cfg.classes[1].block_size = cfg.classes[0].block_size; break;
        case 1: cfg.classes[2].count = 0; break;
        case 2: cfg.classes[0].block_size = 12; break;
        default: cfg.heap_blocks_max = 1u << 30; break;
        }
    }
    if (k & 64) {
        kraken_sim_fail_next(0, 1);
    }
    esp_err_t err = memory_pool_init(&cfg);
    kraken_sim_fault_clear();
    FUZZ_CHECK(err == (!valid ? ESP_ERR_INVALID_ARG : k & 64 ? ESP_ERR_NO_MEM : ESP_OK),
               "init (valid %d, storage failing %d): %d", valid, (k & 64) != 0, err);
    want.setup_failures += err == ESP_ERR_NO_MEM;
    if (err != ESP_OK) {
        set_up(in);
    }
}

static void op_pool_alloc(fuzz_input_t *in, uint8_t how)
{
    if (live_n == LIVE_MAX) {
        return;
    }
    size_t size = pick_size(in);
    uint32_t margin = how & 1 ? fuzz_u8(in) % 4 : 0;
    bool isr = how & 2;
    uint8_t *p;
    if (isr) {
        kraken_sim_isr_enter();
        p = margin ? memory_pool_alloc_isr_margin(size, margin) : memory_pool_alloc_isr(size);
        kraken_sim_isr_exit();
    } else {
        p = margin ? memory_pool_alloc_margin(size, margin) : memory_pool_alloc(size);
    }
    model_pool_alloc(p, size, margin, isr);
}

static void op_pool_free(fuzz_input_t *in, uint8_t how)
{
    const bool isr = how & 1;
    uint8_t *p;
    esp_err_t want_err;
    if ((how & 2) && live_n > 0) {
        size_t i = fuzz_u8(in) % live_n;
        p = live[i].ptr;
        want_err = model_pool_free_live(i, isr); /* a heap_caps block: refused as unknown */
    } else if (how & 4) {
        p = NULL;
        want_err = ESP_ERR_INVALID_ARG;
    } else {
        bad_t kind;
        int cls;
        p = pick_bad(in, &kind, &cls);
        model_bad_free(kind, cls);
        want_err = bad_result(kind);
    }
    if (isr) {
        kraken_sim_isr_enter();
        esp_err_t err = memory_pool_free_isr(p);
        kraken_sim_isr_exit();
        FUZZ_CHECK(err == want_err, "memory_pool_free_isr(%p): %d, want %d", (void *)p, err,
                   want_err);
    } else {
        memory_pool_free(p);
    }
}

static void op_pool_batch(fuzz_input_t *in)
{
    void *batch[8];
    size_t n = fuzz_u8(in) % 9, want_freed = 0;
    for (size_t k = 0; k < n; k++) {
        uint8_t what = fuzz_u8(in);
        if (what < 170 && live_n > 0) {
            size_t i = what % live_n;
            batch[k] = live[i].ptr;
            want_freed += model_pool_free_live(i, true) == ESP_OK;
        } else if (what < 200) {
            batch[k] = NULL;
        } else {
            bad_t kind;
            int cls;
            batch[k] = pick_bad(in, &kind, &cls);
            model_bad_free(kind, cls);
        }
    }
    kraken_sim_isr_enter();
    size_t freed = memory_pool_free_batch_isr(batch, n);
    kraken_sim_isr_exit();
    FUZZ_CHECK(freed == want_freed, "batch of %zu freed %zu, want %zu", n, freed, want_freed);
}

/* ---- the heap -------------------------------------------------------------------------------- */

static const uint32_t caps_table[] = {
    MALLOC_CAP_DEFAULT, MALLOC_CAP_8BIT, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT, MALLOC_CAP_SPIRAM,
    MALLOC_CAP_DMA, MALLOC_CAP_32BIT, MALLOC_CAP_SPIRAM | MALLOC_CAP_DMA, MALLOC_CAP_EXEC,
    MALLOC_CAP_INTERNAL | MALLOC_CAP_CACHE_ALIGNED, MALLOC_CAP_RTCRAM, 0,
};

static void check_caps(const uint8_t *p, uint32_t caps, size_t align)
{
    /* the S3's PSRAM is DMA-capable too (EDMA): DMA alone means internal only with INTERNAL */
    if (caps & (MALLOC_CAP_INTERNAL | MALLOC_CAP_EXEC)) {
        FUZZ_CHECK(esp_ptr_internal(p), "%p for caps %#x not internal", (void *)p, (unsigned)caps);
    }
    if (caps & MALLOC_CAP_SPIRAM) {
        FUZZ_CHECK(esp_ptr_external_ram(p), "%p for caps %#x not PSRAM", (void *)p, (unsigned)caps);
    } else if (caps & MALLOC_CAP_DMA) {
        FUZZ_CHECK(esp_ptr_dma_capable(p), "%p for caps %#x is not DMA-capable", (void *)p,
                   (unsigned)caps);
    }
    FUZZ_CHECK(((uintptr_t)p & (align - 1)) == 0, "%p not %zu-aligned", (void *)p, align);
}

static bool trace_record_of(const void *p, heap_trace_record_t *out)
{
    size_t found = 0;
    for (size_t i = 0, n = heap_trace_get_count(); i < n; i++) {
        heap_trace_record_t r;
        FUZZ_CHECK(heap_trace_get(i, &r) == ESP_OK, "heap_trace_get(%zu) of %zu", i, n);
        if (r.address == p) {
            *out = r;
            found++;
        }
    }
    FUZZ_CHECK(found <= 1, "%zu trace records of %p", found, p);
    return found == 1;
}

/* Each record is a live heap block, each traced live block has one record with the size asked. */
static void check_trace(void)
{
    heap_trace_summary_t sum;
    FUZZ_CHECK(heap_trace_summary(&sum) == ESP_OK && !sum.has_overflowed &&
                   sum.count == heap_trace_get_count() && sum.mode == HEAP_TRACE_LEAKS,
               "trace summary");
    for (size_t i = 0; i < sum.count; i++) {
        heap_trace_record_t r;
        FUZZ_CHECK(heap_trace_get(i, &r) == ESP_OK, "heap_trace_get(%zu)", i);
        FUZZ_CHECK(heap_caps_get_allocated_size(r.address) != 0, "a record of %p, no live block",
                   r.address);
    }
    for (size_t i = 0; i < live_n; i++) {
        heap_trace_record_t r;
        if (live[i].owner == OWNER_HEAP && live[i].traced) {
            FUZZ_CHECK(trace_record_of(live[i].ptr, &r) && r.size == live[i].asked,
                       "heap block %p of %zu bytes: record missing or of another size",
                       (void *)live[i].ptr, live[i].asked);
        }
    }
}

static void heap_got(uint8_t *p, size_t size, uint32_t caps, size_t align, bool zeroed)
{
    if (p == NULL) {
        return;
    }
    check_caps(p, caps, align);
    size_t n = size > 4200 ? 4200 : size;
    for (size_t k = 0; zeroed && k < n; k++) {
        FUZZ_CHECK(p[k] == 0, "calloc block %p byte %zu not zero", (void *)p, k);
    }
    block_t *b = add_live(p, n, OWNER_HEAP);
    b->caps = caps;
    b->align = align;
    b->asked = size;
    b->traced = true;
}

static void op_heap_alloc(fuzz_input_t *in, uint8_t how)
{
    if (live_n == LIVE_MAX) {
        return;
    }
    uint32_t caps = caps_table[fuzz_u8(in) % (sizeof caps_table / sizeof caps_table[0])];
    size_t size = pick_size(in);
    switch (how % 8) {
    case 0: heap_got(heap_caps_malloc(size, caps), size, caps, 4, false); break;
    case 1: {
        size_t n = pick_size(in);
        uint8_t *p = heap_caps_calloc(n, size, caps);
        if (size != 0 && n > SIZE_MAX / size) {
            FUZZ_CHECK(p == NULL, "calloc(%zu, %zu) overflows but gave %p", n, size, (void *)p);
        }
        heap_got(p, n * size, caps, 4, true);
        break;
    }
    case 2: {
        size_t align = (size_t)1 << (fuzz_u8(in) % 12);
        uint8_t *p = heap_caps_aligned_alloc(align, size, caps);
        heap_got(p, size, caps, align, false);
        break;
    }
    case 3: heap_got(malloc(size), size, 0, 4, false); break;
    case 4: heap_got(memory_alloc_prefer_psram(size), size, 0, 4, false); break;
    case 5: {
        uint8_t *p = memory_alloc_psram_only(size);
        FUZZ_CHECK(p == NULL || memory_psram_available(), "PSRAM block without PSRAM");
        heap_got(p, size, MALLOC_CAP_SPIRAM, 4, false);
        break;
    }
    case 6: heap_got(SYSTEM_MALLOC(size), size, MALLOC_CAP_INTERNAL, 4, false); break;
    default: {
        size_t n = pick_size(in);
        uint8_t *p = DMA_CALLOC(n, size);
        if (size != 0 && n > SIZE_MAX / size) {
            FUZZ_CHECK(p == NULL, "DMA_CALLOC(%zu, %zu) overflows but gave %p", n, size, (void *)p);
        }
        heap_got(p, n * size, MEMORY_CAPS_DMA, MEMORY_DMA_ALIGNMENT, true);
        break;
    }
    }
}

static void op_heap_free_or_realloc(fuzz_input_t *in, uint8_t how)
{
    if ((how & 4) && live_n > 0) { /* a block of the pools: every realloc form refuses it */
        const block_t *b = &live[fuzz_u8(in) % live_n];
        if (b->owner == OWNER_POOLS) {
            void *(*const forms[])(void *, size_t) = {memory_realloc_prefer_psram,
                                                      memory_realloc_psram_only,
                                                      memory_realloc_sram, memory_realloc_dma};
            kraken_sim_stats_t s0, s1;
            kraken_sim_get_stats(&s0);
            void *p = forms[how % 4](b->ptr, pick_size(in));
            kraken_sim_get_stats(&s1);
            FUZZ_CHECK(p == NULL, "a realloc moved pool block %p to %p", (void *)b->ptr, p);
            /* refused before the heap (which, on the host only, would refuse it too) */
            FUZZ_CHECK(s1.invalid_frees == s0.invalid_frees, "realloc form %d reached the heap",
                       how % 4);
            want.heap_calls++; /* the pools' misuse */
            want.invalid_frees++;
            want_hooks++;
            return;
        }
    }
    size_t i = SIZE_MAX;
    for (size_t k = 0, start = live_n ? fuzz_u8(in) % live_n : 0; k < live_n; k++) {
        size_t j = (start + k) % live_n;
        if (live[j].owner == OWNER_HEAP) {
            i = j;
            break;
        }
    }
    if (i == SIZE_MAX) {
        return;
    }
    block_t b = live[i];
    if (how & 1) { /* free */
        drop_live(i);
        if (how & 2) {
            heap_caps_free(b.ptr);
        } else {
            free(b.ptr);
        }
        return;
    }
    /* realloc: the contents up to the smaller size survive; on failure the block is untouched */
    size_t size = pick_size(in);
    uint8_t *p;
    uint32_t caps = b.caps;
    size_t align = 4; /* heap_caps_realloc keeps the caps, not a larger alignment */
    bool freed = size == 0;
    if (b.caps == MEMORY_CAPS_DMA && b.align == MEMORY_DMA_ALIGNMENT) {
        p = DMA_REALLOC(b.ptr, size);
        align = MEMORY_DMA_ALIGNMENT;
    } else if (how & 2) {
        p = heap_caps_realloc(b.ptr, size, b.caps);
        /* ESP-IDF rounds a DMA or cache-aligned size up to the hardware's alignment first: near
         * SIZE_MAX it wraps to 0, which frees the block (simulated faithfully, with a warning) */
        freed |= (b.caps & (MALLOC_CAP_DMA | MALLOC_CAP_CACHE_ALIGNED)) && size > SIZE_MAX - 64;
    } else {
        p = APP_REALLOC(b.ptr, size);
        caps = 0;
    }
    if (trace) {
        fprintf(stderr, "realloc %p (caps %#x, align %zu) to %zu: %p\n", (void *)b.ptr,
                (unsigned)b.caps, b.align, size, (void *)p);
    }
    heap_trace_record_t r;
    if (p == NULL) {
        if (freed) {
            drop_live(i);
        } else if (align == MEMORY_DMA_ALIGNMENT) { /* failed before any heap call: no change */
            FUZZ_CHECK(trace_record_of(b.ptr, &r) == b.traced, "DMA_REALLOC lost a record");
        } else { /* ESP-IDF records the free before it tries */
            FUZZ_CHECK(!trace_record_of(b.ptr, &r), "a failed realloc kept %p's record",
                       (void *)b.ptr);
            live[i].traced = false;
        }
        return;
    }
    FUZZ_CHECK(size != 0, "realloc to 0 gave %p", (void *)p);
    size_t keep = b.size < size ? b.size : size;
    for (size_t k = 0; k < keep; k++) {
        FUZZ_CHECK(p[k] == b.fill, "realloc %p -> %p lost byte %zu", (void *)b.ptr, (void *)p, k);
    }
    drop_live(i);
    heap_got(p, size, caps, align, false);
    if (p == b.ptr && align == MEMORY_DMA_ALIGNMENT) { /* large enough: no heap call at all */
        live[live_n - 1].asked = b.asked;
        live[live_n - 1].traced = b.traced;
    }
}

/* ---- checks ---------------------------------------------------------------------------------- */

typedef struct {
    size_t seen;
    bool free_some; /* the walk's callback may free the block it is given */
} walk_t;

static bool walk_cb(const memory_pool_block_info_t *info, void *arg)
{
    walk_t *w = arg;
    w->seen++;
    size_t i = 0;
    while (i < live_n && live[i].ptr != info->ptr) {
        i++;
    }
    FUZZ_CHECK(i < live_n && live[i].owner == OWNER_POOLS, "walk: %p is no live block", info->ptr);
    const block_t *b = &live[i];
    FUZZ_CHECK(info->heap == (b->pool_class < 0), "walk: %p heap %d", info->ptr, info->heap);
    if (info->heap) {
        FUZZ_CHECK(info->requested_class == (b->tag == CLASSES ? -1 : b->tag),
                   "walk: heap block %p of class %d", info->ptr, info->requested_class);
    } else {
        FUZZ_CHECK(info->class_index == b->pool_class, "walk: %p in class %d", info->ptr,
                   info->class_index);
    }
    if (w->free_some && (w->seen & 1)) {
        uint8_t *p = b->ptr;
        FUZZ_CHECK(model_pool_free_live(i, false) == ESP_OK, "model");
        memory_pool_free(p);
    }
    return true;
}

static void op_checks(fuzz_input_t *in)
{
    size_t pooled = 0;
    for (size_t i = 0; i < live_n; i++) {
        pooled += live[i].owner == OWNER_POOLS;
        FUZZ_CHECK(memory_pool_owns(live[i].ptr) == (live[i].owner == OWNER_POOLS),
                   "memory_pool_owns(%p)", (void *)live[i].ptr);
    }
    for (size_t i = 0; i < freed_n; i++) {
        FUZZ_CHECK(memory_pool_owns(freed_pool[i]) == is_live(freed_pool[i]),
                   "memory_pool_owns(%p), a freed block", (void *)freed_pool[i]);
    }
    walk_t w = {.free_some = fuzz_u8(in) & 1};
    FUZZ_CHECK(memory_pool_walk_live(walk_cb, &w) == pooled, "walk saw %zu of %zu", w.seen, pooled);
    FUZZ_CHECK(memory_pool_walk_live(NULL, NULL) == 0, "walk with no callback");
    FUZZ_CHECK(memory_pool_check_integrity() == ESP_OK, "pool integrity");
    FUZZ_CHECK(heap_caps_check_integrity_all(true), "heap integrity");
    check_trace();
}

/* ---- one input ------------------------------------------------------------------------------- */

static size_t free_caps(uint32_t caps)
{
    return heap_caps_get_free_size(caps);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input_t in = {data, size};
    trace = getenv("FUZZ_TRACE") != NULL;
    esp_log_level_set("*", ESP_LOG_NONE); /* misuse is the point here: no log line per report */
    /* the build's options, on the current ESP-IDF release: the model encodes its heap rules */
    sim_policy_t policy;
    sim_policy_from_sdkconfig(&policy);
    policy.idf = SIM_IDF_CURRENT;
    policy.heap_tracing = true;
    const uint8_t boot = fuzz_u8(&in);
    policy.task_tracking = boot & 0x80; /* every block then carries ESP-IDF's owner word */
    FUZZ_CHECK(sim_init_with_policy((kraken_sim_profile_t)((boot & 0x7F) % KRAKEN_SIM_PROFILE_COUNT),
                                    &policy) == ESP_OK,
               "reboot");
    FUZZ_CHECK(heap_trace_init_standalone(trace_records, TRACE_RECORDS) == ESP_OK &&
                   heap_trace_start(HEAP_TRACE_LEAKS) == ESP_OK,
               "heap trace start");
    memory_pool_set_misuse_hook(on_misuse);
    const size_t sram0 = free_caps(MALLOC_CAP_INTERNAL), psram0 = free_caps(MALLOC_CAP_SPIRAM);
    memset(&want, 0, sizeof want);
    live_n = freed_n = 0;
    hooks = want_hooks = 0;
    if (fuzz_u8(&in) & 1) {
        op_init(&in);
    } else {
        set_up(&in);
    }
    model_setup();
    compare_stats("set-up");
    static const char *const names[] = {"pool alloc", "pool alloc", "pool alloc", "pool free",
                                        "pool free", "batch free", "heap alloc", "heap alloc",
                                        "heap free/realloc", "fault", "reset peaks", "checks"};
    while (in.n > 0) {
        const uint8_t op = fuzz_u8(&in), how = op / 12;
        switch (op % 12) {
        case 0: case 1: case 2: op_pool_alloc(&in, how); break;
        case 3: case 4: op_pool_free(&in, how); break;
        case 5: op_pool_batch(&in); break;
        case 6: case 7: op_heap_alloc(&in, how); break;
        case 8: op_heap_free_or_realloc(&in, how); break;
        case 9: /* the next heap attempts fail: every failure path must free what it took */
            kraken_sim_fail_next(how & 1 ? MALLOC_CAP_INTERNAL : 0, 1 + fuzz_u8(&in) % 3);
            break;
        case 10:
            memory_pool_reset_peaks();
            for (int c = 0; c < CLASSES; c++) {
                want.classes[c].peak_in_use = want.classes[c].in_use;
                want.classes[c].min_free = want.classes[c].capacity - want.classes[c].in_use;
            }
            want.heap_blocks_peak = want.heap_blocks_live;
            break;
        default: op_checks(&in); break;
        }
        if (trace) {
            fprintf(stderr, "%-18s live %zu:", names[op % 12], live_n);
            for (size_t i = 0; i < live_n; i++) {
                fprintf(stderr, " %p+%zu", (void *)live[i].ptr, live[i].size);
            }
            fputc('\n', stderr);
        }
        compare_stats(names[op % 12]);
        check_blocks(names[op % 12]);
    }
    /* Everything back: the pools full, deinit accepted, the heaps as the boot left them. */
    kraken_sim_fault_clear();
    while (live_n > 0) {
        block_t b = live[live_n - 1];
        if (b.owner == OWNER_POOLS) {
            FUZZ_CHECK(model_pool_free_live(live_n - 1, false) == ESP_OK, "model");
            memory_pool_free(b.ptr);
        } else {
            live_n--;
            heap_caps_free(b.ptr);
        }
    }
    compare_stats("freeing everything");
    for (int c = 0; c < CLASSES; c++) {
        FUZZ_CHECK(memory_pool_class_free((unsigned)c) == want.classes[c].capacity * pools_ready,
                   "class %d not full", c);
    }
    FUZZ_CHECK(memory_pool_deinit() == ESP_OK, "deinit with nothing live");
    FUZZ_CHECK(heap_trace_get_count() == 0, "%zu heap trace records with nothing live",
               heap_trace_get_count());
    FUZZ_CHECK(heap_trace_stop() == ESP_OK, "heap trace stop");
    FUZZ_CHECK(free_caps(MALLOC_CAP_INTERNAL) == sram0, "internal SRAM %zu free, %zu at boot",
               free_caps(MALLOC_CAP_INTERNAL), sram0);
    FUZZ_CHECK(free_caps(MALLOC_CAP_SPIRAM) == psram0, "PSRAM %zu free, %zu at boot",
               free_caps(MALLOC_CAP_SPIRAM), psram0);
    memory_pool_set_misuse_hook(NULL);
    return 0;
}
