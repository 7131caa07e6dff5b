/*
 * esp_heap_trace.h (host) - ESP-IDF's standalone heap tracing over the simulated ESP32-S3: the
 * leak check of ESP-IDF's unit tests (heap_trace_start(HEAP_TRACE_LEAKS) ... heap_trace_stop(),
 * heap_trace_dump()) runs unchanged on the host, where LeakSanitizer cannot see the simulated heap.
 *
 * Same names, types and results as ESP-IDF's (master; older releases: below). Traced: every heap
 * call that reaches ESP-IDF's heap_caps_*_base functions: heap_caps_malloc/calloc/realloc/free and
 * their aligned, default and prefer forms, malloc(), calloc(), realloc(), free(), aligned_alloc(),
 * memalign(), posix_memalign(), getline()'s buffer (the pools' heap fallback included; pool blocks
 * are not heap calls). ESP-IDF v5.5.5 and earlier do not record heap_caps_calloc(_prefer): the
 * host does with CONFIG_KRAKEN_SIM_ESP_IDF_CURRENT (as master), not with the older release options.
 * A failed allocation is not recorded; a realloc is a free of the old block then an allocation of
 * the new one (each try of realloc_prefer/_default), so a failed realloc drops the old block's
 * record in HEAP_TRACE_LEAKS mode, as on the chip.
 *
 * Configuration, as in ESP-IDF (Component config > Heap memory debugging): CONFIG_HEAP_TRACING_
 * STANDALONE turns it on, CONFIG_HEAP_TRACING_STACK_DEPTH (0-32, default 2) sets how many callers
 * each record keeps. Without STANDALONE the functions return ESP_ERR_NOT_SUPPORTED here (ESP-IDF
 * does not link them at all then). Host differences (docs/simulator.md, "Heap tracing"): the callers
 * start at the function that called the heap API (on the chip at a fixed depth inside the
 * allocator), `ccount` counts the simulated clock's cycles (esp_cpu_get_cycle_count()) on CPU 0, with
 * CONFIG_HEAP_TRACE_HASH_MAP the map's memory is taken as on the chip but lookups search the records
 * (same results), glibc's internal allocations (stdio buffers) are not simulated, so not traced
 * (strdup, strndup, asprintf and getline are), misuse the chip would crash on is refused with
 * ESP_ERR_INVALID_STATE.
 *
 * Releases (CONFIG_KRAKEN_SIM_ESP_IDF_*), as ESP-IDF's own header and heap_trace_standalone.c:
 * heap_trace_alloc_pause() exists since v5.4 and heap_trace_record_t.freed since v5.5, so code that
 * uses them does not build here for an older release, as for the chip (guard it with
 * ESP_IDF_VERSION); before v5.4 heap_trace_stop() before any start is ESP_ERR_INVALID_STATE; before
 * v5.5 the dump prints " caller " even with no callers and takes a HEAP_TRACE_ALL record with a
 * `freed_by[0]` as freed (with CONFIG_HEAP_TRACING_STACK_DEPTH 0 every record counts as alive).
 *
 * Every function is thread-safe and O(1) unless stated; the recording done inside heap calls is
 * O(records) for a free or a realloc (a search of the records by address) and for an allocation
 * into a full buffer (the records shift), O(1) otherwise.
 */
#ifndef ESP_HEAP_TRACE_H_HOST
#define ESP_HEAP_TRACE_H_HOST

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "esp_err.h"
#include "sdkconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef CONFIG_HEAP_TRACING_STACK_DEPTH
#define CONFIG_HEAP_TRACING_STACK_DEPTH 0
#endif

typedef enum {
    HEAP_TRACE_ALL,   /**< every allocation is kept; a free marks its record freed */
    HEAP_TRACE_LEAKS, /**< a free removes its allocation's record: what is left leaked */
} heap_trace_mode_t;

/** One traced allocation. */
typedef struct heap_trace_record_t {
    uint32_t ccount; /**< cycle count at the allocation, bits 1..0 cleared; bit 0: the CPU (0) */
    void *address;   /**< the block; NULL in an unused record */
    size_t size;     /**< the size asked for (calloc: n * size, 0 if that overflowed) */
#if !(defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_4) || defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_3) ||      \
      defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2))
    bool freed; /**< HEAP_TRACE_ALL: the block was freed since (ESP-IDF v5.5 and later) */
#endif
    void *alloced_by[CONFIG_HEAP_TRACING_STACK_DEPTH]; /**< return addresses, innermost first */
    void *freed_by[CONFIG_HEAP_TRACING_STACK_DEPTH];   /**< the same for the free, zero if none */
#if CONFIG_HEAP_TRACING_STANDALONE
    TAILQ_ENTRY(heap_trace_record_t) tailq_list; /**< ESP-IDF's list links (unused here, zero) */
#if CONFIG_HEAP_TRACE_HASH_MAP
    SLIST_ENTRY(heap_trace_record_t) slist_hashmap; /**< ESP-IDF's map links (unused here, zero) */
#endif
#endif
} heap_trace_record_t;

/** What a trace holds, copied out by heap_trace_summary(). */
typedef struct {
    heap_trace_mode_t mode;   /**< the mode of the last heap_trace_start() (ALL before any) */
    size_t total_allocations; /**< allocations recorded since heap_trace_start() */
    size_t total_frees;       /**< frees seen since heap_trace_start() while records existed */
    size_t count;             /**< records held now */
    size_t capacity;          /**< records the buffer holds */
    size_t high_water_mark;   /**< the largest `count` since boot (not reset by a start) */
    size_t has_overflowed;    /**< nonzero once the oldest record was dropped for a new one */
#if CONFIG_HEAP_TRACE_HASH_MAP
    size_t total_hashmap_hits; /**< frees that found their block's record */
    size_t total_hashmap_miss; /**< frees that did not (not traced, or its record dropped) */
#endif
} heap_trace_summary_t;

/**
 * Give tracing its record buffer (the caller's; it must stay valid while tracing can run). The
 * buffer tracing already has keeps its records; another one starts empty.
 * With CONFIG_HEAP_TRACE_HASH_MAP the first call takes the map's memory from the heap (internal,
 * or PSRAM with CONFIG_HEAP_TRACE_HASH_MAP_IN_EXT_RAM), for good.
 * @return ESP_OK; ESP_ERR_INVALID_STATE while tracing or paused; ESP_ERR_INVALID_ARG for a NULL
 *         buffer or 0 records; ESP_ERR_NO_MEM when the hash map does not fit (the chip would go
 *         on with no map and crash); ESP_ERR_NOT_SUPPORTED without CONFIG_HEAP_TRACING_STANDALONE.
 * Context: task. O(1).
 */
esp_err_t heap_trace_init_standalone(heap_trace_record_t *record_buffer, size_t num_records);

/** Host-based tracing (over JTAG) is not simulated. @return ESP_ERR_NOT_SUPPORTED. Context: any. */
esp_err_t heap_trace_init_tohost(void);

/**
 * Clear the records and the totals, and trace every heap call from now on in `mode`; while
 * tracing, a new call restarts it.
 * @return ESP_OK; ESP_ERR_INVALID_STATE when heap_trace_init_standalone() has not given a buffer;
 *         ESP_ERR_NOT_SUPPORTED without CONFIG_HEAP_TRACING_STANDALONE.
 * Context: task. O(capacity) (the buffer is cleared).
 */
esp_err_t heap_trace_start(heap_trace_mode_t mode);

/**
 * Stop recording; the records stay readable.
 * @return ESP_OK; ESP_ERR_INVALID_STATE when already stopped (before the first start: ESP_OK since
 *         ESP-IDF v5.4, ESP_ERR_INVALID_STATE before); ESP_ERR_NOT_SUPPORTED without
 *         CONFIG_HEAP_TRACING_STANDALONE. Context: task.
 */
esp_err_t heap_trace_stop(void);

#if !(defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_3) || defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2))
/**
 * Stop recording allocations but keep recording frees: a set of allocations can be watched until
 * each is freed. ESP-IDF v5.4 and later.
 * @return ESP_OK; ESP_ERR_INVALID_STATE when already paused; ESP_ERR_NOT_SUPPORTED without
 *         CONFIG_HEAP_TRACING_STANDALONE. Context: task.
 */
esp_err_t heap_trace_alloc_pause(void);
#endif

/**
 * Record again after heap_trace_stop() or heap_trace_alloc_pause(), keeping the records and
 * totals; the mode is the last start's (ALL if none).
 * @return ESP_OK; ESP_ERR_INVALID_STATE when tracing already, or before any heap_trace_start()
 *         since boot (the chip would crash at the next allocation); ESP_ERR_NOT_SUPPORTED without
 *         CONFIG_HEAP_TRACING_STANDALONE. Context: task.
 */
esp_err_t heap_trace_resume(void);

/** Records held now (0 without CONFIG_HEAP_TRACING_STANDALONE). Context: task. */
size_t heap_trace_get_count(void);

/**
 * Copy record `index` (0 = the oldest) to *record. While tracing runs in HEAP_TRACE_LEAKS mode the
 * indices move as blocks are freed: stop first for a consistent walk.
 * @return ESP_OK; ESP_ERR_INVALID_STATE for a NULL record (ESP-IDF's code); ESP_ERR_INVALID_ARG for
 *         an index at or past heap_trace_get_count(); ESP_ERR_NOT_SUPPORTED without
 *         CONFIG_HEAP_TRACING_STANDALONE. Context: task. O(1).
 */
esp_err_t heap_trace_get(size_t index, heap_trace_record_t *record);

/** Print every record and a summary to stdout, in ESP-IDF's format. Context: task. O(records). */
void heap_trace_dump(void);

/** heap_trace_dump() of the records whose block is in internal RAM (MALLOC_CAP_INTERNAL) and/or
 *  in PSRAM (MALLOC_CAP_SPIRAM); the summary counts only those. Context: task. O(records). */
void heap_trace_dump_caps(const uint32_t caps);

/**
 * Copy the trace's figures to *summary.
 * @return ESP_OK; ESP_ERR_INVALID_ARG for NULL; ESP_ERR_NOT_SUPPORTED without
 *         CONFIG_HEAP_TRACING_STANDALONE. Context: task. O(1).
 */
esp_err_t heap_trace_summary(heap_trace_summary_t *summary);

#ifdef __cplusplus
}
#endif

#endif
