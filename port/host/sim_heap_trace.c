/*
 * sim_heap_trace.c - ESP-IDF's standalone heap tracing (esp_heap_trace.h) on the simulated chip.
 *
 * The heap calls of sim_chip.c report each allocation and free here (sim_trace_alloc/free), where
 * ESP-IDF's linker wraps of heap_caps_*_base call record_allocation() and record_free(). The
 * records are kept in the caller's buffer in order, oldest first, as ESP-IDF's list holds them; a
 * free or a drop shifts the newer ones down (O(records), a host's memmove).
 *
 * Callers: glibc's backtrace(), minus the frames of the heap API itself. Those functions are in
 * the section SIM_HEAP_API names, so a record's callers start at whoever called the heap API.
 */
#include <execinfo.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "esp_heap_caps.h"
#include "esp_cpu.h"
#include "esp_heap_trace.h"
#include "esp_idf_version.h"
#include "esp_log.h"
#include "esp_memory_utils.h"
#include "esp_timer.h"
#include "sim_internal.h"

#define STACK_DEPTH CONFIG_HEAP_TRACING_STACK_DEPTH
/* The build's release's API (esp_heap_trace.h): record.freed since v5.5, alloc_pause since v5.4. */
#define HAS_FREED (ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 5, 0))
#define HAS_ALLOC_PAUSE (ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 4, 0))
_Static_assert(STACK_DEPTH >= 0 && STACK_DEPTH <= 32, "CONFIG_HEAP_TRACING_STACK_DEPTH: 0 to 32");

static const char *const TAG = "heap_trace";

typedef enum { TRACING_UNKNOWN = 0, TRACING_STARTED, TRACING_STOPPED, TRACING_ALLOC_PAUSED } state_t;

static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic bool enabled;  /* CONFIG_HEAP_TRACING_STANDALONE, or a test's policy */
static _Atomic state_t state; /* read without the lock by the heap calls' second check */
_Atomic bool sim_trace_watching;
static heap_trace_mode_t mode;
static heap_trace_record_t *buffer;
static size_t capacity, count, high_water_mark, total_allocations, total_frees;
static bool has_overflowed;
static bool started; /* a heap_trace_start() since boot: ESP-IDF sets up its record lists there */
static sim_idf_t idf; /* the release followed, from the boot's policy */
#if CONFIG_HEAP_TRACE_HASH_MAP
static void *hash_map; /* the chip's map memory (8 bytes per entry), taken once per boot */
static size_t hashmap_hits, hashmap_miss;
#ifdef CONFIG_HEAP_TRACE_HASH_MAP_IN_EXT_RAM
#define HASH_MAP_CAPS MALLOC_CAP_SPIRAM
#else
#define HASH_MAP_CAPS MALLOC_CAP_INTERNAL
#endif
#endif

extern char __start_kraken_sim_heap_api[], __stop_kraken_sim_heap_api[];

/* The API's first step: boot the simulator if nothing did yet (its boot sets and resets tracing),
 * then whether tracing is built in (else ESP_ERR_NOT_SUPPORTED). */
static bool built_in(void)
{
    sim_boot_once();
    return atomic_load(&enabled);
}

/* Lock held. */
static void set_state_locked(state_t to)
{
    atomic_store(&state, to);
    atomic_store(&sim_trace_watching, to == TRACING_STARTED || to == TRACING_ALLOC_PAUSED);
}

void sim_trace_boot(bool on, sim_idf_t release)
{
    pthread_mutex_lock(&trace_lock);
    atomic_store(&enabled, on);
    idf = release;
    /* Before v5.4 the state was a bool, false at boot: a stop before any start is refused. */
    set_state_locked(release >= SIM_IDF_V5_3 ? TRACING_STOPPED : TRACING_UNKNOWN);
    mode = HEAP_TRACE_ALL;
    buffer = NULL;
    capacity = count = high_water_mark = total_allocations = total_frees = 0;
    has_overflowed = false;
    started = false;
#if CONFIG_HEAP_TRACE_HASH_MAP
    hash_map = NULL; /* went with the old heaps */
    hashmap_hits = hashmap_miss = 0;
#endif
    pthread_mutex_unlock(&trace_lock);
}

static bool in_heap_api(const void *pc)
{
    return (const char *)pc >= __start_kraken_sim_heap_api &&
           (const char *)pc < __stop_kraken_sim_heap_api;
}

/* The return addresses above the heap API, innermost first, zero-filled. */
SIM_HEAP_API static void get_callers(void **callers)
{
    if (STACK_DEPTH == 0) {
        return;
    }
    void *frames[STACK_DEPTH + 16];
    int n = backtrace(frames, (int)(sizeof frames / sizeof frames[0]));
    int first = 0;
    while (first < n && !in_heap_api(frames[first])) { /* a sanitizer's backtrace interceptor */
        first++;
    }
    while (first < n && in_heap_api(frames[first])) {
        first++;
    }
    for (int i = 0; i < STACK_DEPTH; i++) {
        callers[i] = first + i < n ? frames[first + i] : NULL;
    }
}

/* ESP-IDF's get_ccount(): the cycle count with the CPU number in bit 0 (here always CPU 0). */
static uint32_t ccount_now(void)
{
    return (uint32_t)esp_cpu_get_cycle_count() & ~3u;
}

static void drop(size_t index)
{
    memmove(&buffer[index], &buffer[index + 1], (count - index - 1) * sizeof buffer[0]);
    count--;
    memset(&buffer[count], 0, sizeof buffer[0]);
}

/* The record of ptr a free finds in ESP-IDF, or count when none: the newest with its hash map
 * (SLIST_INSERT_HEAD), else the oldest (list_find's TAILQ_FOREACH). They differ only when a block
 * was freed while not traced and its address handed out again, or in HEAP_TRACE_ALL mode. */
static size_t find(const void *ptr)
{
#if CONFIG_HEAP_TRACE_HASH_MAP
    for (size_t i = count; i > 0; i--) {
        if (buffer[i - 1].address == ptr) {
            return i - 1;
        }
    }
#else
    for (size_t i = 0; i < count; i++) {
        if (buffer[i].address == ptr) {
            return i;
        }
    }
#endif
    return count;
}

SIM_HEAP_API void sim_trace_record_alloc(void *ptr, size_t size)
{
    if (ptr == NULL || atomic_load_explicit(&state, memory_order_relaxed) != TRACING_STARTED) {
        return;
    }
    heap_trace_record_t record = {.ccount = ccount_now(), .address = ptr, .size = size};
    get_callers(record.alloced_by);
    pthread_mutex_lock(&trace_lock);
    if (atomic_load_explicit(&state, memory_order_relaxed) == TRACING_STARTED) {
        if (count == capacity) { /* make room: the oldest goes */
            has_overflowed = true;
            drop(0);
        }
        if (count < capacity) {
            buffer[count++] = record;
            if (count > high_water_mark) {
                high_water_mark = count;
            }
        } else { /* more after a re-init with fewer: none added, an overflow (ESP-IDF's list_add) */
            has_overflowed = true;
        }
        total_allocations++;
    }
    pthread_mutex_unlock(&trace_lock);
}

SIM_HEAP_API void sim_trace_record_free(void *ptr)
{
    state_t now = atomic_load_explicit(&state, memory_order_relaxed);
    if (ptr == NULL || now == TRACING_STOPPED || now == TRACING_UNKNOWN) {
        return;
    }
    void *callers[STACK_DEPTH + 1]; /* + 1: no zero-length array */
    get_callers(callers);
    pthread_mutex_lock(&trace_lock);
    now = atomic_load_explicit(&state, memory_order_relaxed);
    if (count != 0 && now != TRACING_STOPPED && now != TRACING_UNKNOWN) {
        total_frees++;
        size_t i = find(ptr);
#if CONFIG_HEAP_TRACE_HASH_MAP
        hashmap_hits += i < count;
        hashmap_miss += i == count;
#endif
        if (i < count && mode == HEAP_TRACE_ALL) {
#if HAS_FREED
            buffer[i].freed = true;
#endif
            memcpy(buffer[i].freed_by, callers, sizeof buffer[i].freed_by);
        } else if (i < count) {
            drop(i);
        }
    }
    pthread_mutex_unlock(&trace_lock);
}

/* ESP-IDF's set_tracing(): moving to the state the trace is in already is refused. */
static esp_err_t set_state(state_t to)
{
    if (!built_in()) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    pthread_mutex_lock(&trace_lock);
    esp_err_t err = ESP_OK;
    if (atomic_load(&state) == to) {
        err = ESP_ERR_INVALID_STATE;
    } else if (to == TRACING_STARTED && (buffer == NULL || !started)) {
        err = ESP_ERR_INVALID_STATE; /* heap_trace_resume() before any start: a crash on the chip */
    } else {
        set_state_locked(to);
    }
    pthread_mutex_unlock(&trace_lock);
    return err;
}

static bool busy_locked(void)
{
    const state_t now = atomic_load(&state);
    return now == TRACING_STARTED || now == TRACING_ALLOC_PAUSED;
}

esp_err_t heap_trace_init_standalone(heap_trace_record_t *record_buffer, size_t num_records)
{
    if (!built_in()) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    pthread_mutex_lock(&trace_lock);
    esp_err_t err = busy_locked()                                 ? ESP_ERR_INVALID_STATE
                    : record_buffer == NULL || num_records == 0 ? ESP_ERR_INVALID_ARG
                                                                  : ESP_OK;
#if CONFIG_HEAP_TRACE_HASH_MAP
    if (err == ESP_OK && hash_map == NULL) {
        /* Taken without the lock: the heap may call the program's hooks or failed-allocation
         * callback, which may call this API. Tracing is off, so it is not recorded. */
        pthread_mutex_unlock(&trace_lock);
        /* ESP-IDF sizes it by sizeof(heap_trace_record_list_t), a TAILQ_HEAD: 8 bytes on the chip */
        const size_t bytes = 8u * CONFIG_HEAP_TRACE_HASH_MAP_SIZE;
        ESP_LOGI(TAG, "hashmap: allocating %zu bytes (%s)", bytes,
                 HASH_MAP_CAPS == MALLOC_CAP_SPIRAM ? "PSRAM" : "Internal RAM");
        void *map = heap_caps_calloc(1, bytes, HASH_MAP_CAPS);
        if (map == NULL) {
            return ESP_ERR_NO_MEM;
        }
        pthread_mutex_lock(&trace_lock);
        if (hash_map == NULL) {
            hash_map = map;
            map = NULL;
        }
        err = busy_locked() ? ESP_ERR_INVALID_STATE : ESP_OK;
        if (map != NULL) { /* another init took one meanwhile */
            pthread_mutex_unlock(&trace_lock);
            heap_caps_free(map);
            pthread_mutex_lock(&trace_lock);
        }
    }
#endif
    if (err == ESP_OK) {
        /* The same buffer keeps its records (as ESP-IDF's list, which lives in it), also more
         * than the new capacity: listed until a start, none added meanwhile; another buffer starts
         * empty (ESP-IDF would go on listing records in the old one). */
        if (record_buffer != buffer) {
            count = 0;
        }
        buffer = record_buffer;
        capacity = num_records;
    }
    pthread_mutex_unlock(&trace_lock);
    return err;
}

esp_err_t heap_trace_init_tohost(void)
{
    return ESP_ERR_NOT_SUPPORTED;
}

esp_err_t heap_trace_start(heap_trace_mode_t mode_param)
{
    if (!built_in()) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    pthread_mutex_lock(&trace_lock);
    esp_err_t err = ESP_ERR_INVALID_STATE;
    if (buffer != NULL) {
        mode = mode_param;
        memset(buffer, 0, capacity * sizeof buffer[0]);
        count = total_allocations = total_frees = 0;
        has_overflowed = false;
        started = true;
#if CONFIG_HEAP_TRACE_HASH_MAP
        hashmap_hits = hashmap_miss = 0;
#endif
        set_state_locked(TRACING_STARTED);
        err = ESP_OK;
    }
    pthread_mutex_unlock(&trace_lock);
    return err;
}

esp_err_t heap_trace_stop(void)
{
    return set_state(TRACING_STOPPED);
}

#if HAS_ALLOC_PAUSE
esp_err_t heap_trace_alloc_pause(void)
{
    return set_state(TRACING_ALLOC_PAUSED);
}
#endif

esp_err_t heap_trace_resume(void)
{
    return set_state(TRACING_STARTED);
}

size_t heap_trace_get_count(void)
{
    sim_boot_once();
    pthread_mutex_lock(&trace_lock);
    size_t n = count;
    pthread_mutex_unlock(&trace_lock);
    return n;
}

esp_err_t heap_trace_get(size_t index, heap_trace_record_t *record)
{
    if (!built_in()) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    if (record == NULL) {
        return ESP_ERR_INVALID_STATE;
    }
    pthread_mutex_lock(&trace_lock);
    esp_err_t err = ESP_ERR_INVALID_ARG;
    if (index < count) {
        *record = buffer[index];
        err = ESP_OK;
    }
    pthread_mutex_unlock(&trace_lock);
    return err;
}

esp_err_t heap_trace_summary(heap_trace_summary_t *summary)
{
    if (!built_in()) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    if (summary == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&trace_lock);
    *summary = (heap_trace_summary_t){
        .mode = mode,
        .total_allocations = total_allocations,
        .total_frees = total_frees,
        .count = count,
        .capacity = capacity,
        .high_water_mark = high_water_mark,
        .has_overflowed = has_overflowed,
#if CONFIG_HEAP_TRACE_HASH_MAP
        .total_hashmap_hits = hashmap_hits,
        .total_hashmap_miss = hashmap_miss,
#endif
    };
    pthread_mutex_unlock(&trace_lock);
    return ESP_OK;
}

/* The dump of releases before v5.5: " caller " even with no callers, and a record freed by its
 * free's callers (HEAP_TRACE_ALL only; with no callers kept, never). Always so in a build for one
 * of them, whose records have no `freed`. */
static bool dump_before_v5_5(void)
{
    return !HAS_FREED || idf >= SIM_IDF_V5_4;
}

static bool dumped_as_freed(const heap_trace_record_t *r)
{
#if HAS_FREED
    if (!dump_before_v5_5()) {
        return r->freed;
    }
#endif
    return mode == HEAP_TRACE_ALL && STACK_DEPTH != 0 && r->freed_by[0] != NULL;
}

/* esp_rom_printf's %p: "0x" and at least 8 hex digits (NULL is 0x00000000, not glibc's "(nil)"). */
#define ROM_P "0x%08" PRIxPTR
#define ROM_P_ARG(p) ((uintptr_t)(p))

void heap_trace_dump_caps(const uint32_t caps)
{
    if (!built_in()) {
        ESP_LOGW(TAG, "heap tracing is off (CONFIG_HEAP_TRACING_STANDALONE): nothing to dump");
        return;
    }
    const bool internal = (caps & MALLOC_CAP_INTERNAL) != 0, psram = (caps & MALLOC_CAP_SPIRAM) != 0;
    pthread_mutex_lock(&trace_lock);
    size_t alive_bytes = 0, alive = 0;
    printf("====== Heap Trace: %zu records (%zu capacity) ======\n", count, capacity);
    for (size_t i = 0; i < count; i++) {
        const heap_trace_record_t *r = &buffer[i];
        const bool in_internal = esp_ptr_internal(r->address);
        const bool in_psram = esp_ptr_external_ram(r->address);
        if (!((internal && psram) || (internal && in_internal) || (psram && in_psram))) {
            continue;
        }
        printf("%6zu bytes (@ " ROM_P "%s) allocated CPU %" PRIu32 " ccount 0x%08" PRIx32, r->size,
               ROM_P_ARG(r->address), in_psram ? ",    PSRAM" : in_internal ? ", Internal" : "",
               r->ccount & 1u, r->ccount & ~3u);
        if (dump_before_v5_5() || (STACK_DEPTH != 0 && r->alloced_by[0] != NULL)) {
            printf(" caller ");
            for (int j = 0; j < STACK_DEPTH && r->alloced_by[j] != NULL; j++) { /* as ESP-IDF */
                printf(ROM_P "%s", ROM_P_ARG(r->alloced_by[j]), j < STACK_DEPTH - 1 ? ":" : "");
            }
        }
        if (!dumped_as_freed(r)) {
            alive_bytes += r->size;
            alive++;
            printf("\n");
        } else if (mode == HEAP_TRACE_ALL && STACK_DEPTH != 0 && r->freed_by[0] != NULL) {
            printf("\nfreed by "); /* every entry, NULL ones too, as ESP-IDF */
            for (int j = 0; j < STACK_DEPTH; j++) {
                printf(ROM_P "%s", ROM_P_ARG(r->freed_by[j]), j < STACK_DEPTH - 1 ? ":" : "\n");
            }
        } else {
            printf(" freed\n");
        }
    }
    printf("====== Heap Trace Summary ======\n");
    if (mode == HEAP_TRACE_ALL) {
        printf("Mode: Heap Trace All\n");
        printf("%zu bytes alive in trace (%zu/%zu allocations)\n", alive_bytes, alive, count);
    } else {
        printf("Mode: Heap Trace Leaks\n");
        printf("%zu bytes 'leaked' in trace (%zu allocations)\n", alive_bytes, alive);
    }
    printf("records: %zu (%zu capacity, %zu high water mark)\n", count, capacity, high_water_mark);
#if CONFIG_HEAP_TRACE_HASH_MAP
    printf("hashmap: %zu capacity (%zu hits, %zu misses)\n", (size_t)CONFIG_HEAP_TRACE_HASH_MAP_SIZE,
           hashmap_hits, hashmap_miss);
#endif
    printf("total allocations: %zu\n", total_allocations);
    printf("total frees: %zu\n", total_frees);
    if (has_overflowed) {
        printf("(NB: Internal Buffer has overflowed, so trace data is incomplete.)\n");
    }
    printf("================================\n");
    fflush(stdout);
    pthread_mutex_unlock(&trace_lock);
}

void heap_trace_dump(void)
{
    heap_trace_dump_caps(MALLOC_CAP_INTERNAL | MALLOC_CAP_SPIRAM);
}
