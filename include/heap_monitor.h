/*
 * heap_monitor.h - heap fragmentation you can see, thresholds that call you, history you can plot.
 *
 * Figures come from ESP-IDF's per-heap queries (total, free, minimum free, largest free block). The
 * first three read counters; the largest free block does not: on the chip
 * heap_caps_get_largest_free_block() is heap_caps_get_info(), a walk of every block of each matching
 * heap inside that heap's critical section. So one "figure read" below costs O(heaps) on the host
 * simulator (its TLSF keeps the figure) but O(blocks) on the chip: keep the sampler period long.
 * Low-memory callbacks are checked on free bytes alone (counters, no walk); the largest block is read
 * only for a crossing that is delivered.
 * Regions, by capability mask (memory_log_usage() uses the very same masks, so the figures agree):
 *   all 8-bit heaps    HEAP_MONITOR_CAPS_ALL    the top-level fields of heap_stats_t
 *   internal SRAM      HEAP_MONITOR_CAPS_SRAM   heap_stats_t.internal
 *   PSRAM              HEAP_MONITOR_CAPS_PSRAM  heap_stats_t.psram (all zero without PSRAM)
 *
 * Fragmentation of a region = 100 x (1 - largest free block / free bytes), rounded to the nearest
 * integer (halves up), 0 when nothing is free. A region made of several heaps counts the gaps
 * between them (ESP-IDF's figures are sums of free bytes and a max of largest blocks).
 *
 * Low-memory callbacks are checked on every call that reads the heap figures
 * (heap_monitor_get_stats, heap_monitor_get_caps_stats, heap_monitor_check_health,
 * heap_monitor_get_health_issues, heap_monitor_log_stats, heap_monitor_get_json,
 * heap_monitor_sample_now) and by the sampler task: run the sampler, or call one of these, to be told.
 *
 * Failed allocations are counted only after heap_monitor_init() (it installs ESP-IDF's single
 * failed-allocation hook; nothing installs it behind your back). Everything else needs no set-up.
 *
 * Context words: "task" = from a task only; "isr-ok" = also from an interrupt handler, never
 * blocks; "may block" = may wait for another task (docs/DESIGN.md). A "task" function called
 * from an ISR does nothing and returns ESP_ERR_INVALID_STATE (heap_monitor_get_health_issues:
 * HEAP_MONITOR_ISSUE_NOT_CHECKED, so heap_monitor_check_health is false; heap_monitor_log_stats
 * logs nothing). The monitor's own lock
 * is a critical section (spins, never sleeps). "Never blocks" is about the monitor itself: the
 * low-memory callbacks run in the calling task, and a log line waits for the console as ESP_LOG does.
 * All state is static, sized by Kconfig (menu "Heap monitor"); the only allocation is the sampler
 * task (stack and TCB), while it runs; its two semaphores are static.
 */
#ifndef HEAP_MONITOR_H
#define HEAP_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"
#include "esp_heap_caps.h"
#include "esp_log.h" /* the spec's snippet logs its figures with this header alone */
#include "memory_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The regions' capability masks, shared with system_service/memory_utils.h. */
#define HEAP_MONITOR_CAPS_ALL (MALLOC_CAP_8BIT)
#define HEAP_MONITOR_CAPS_SRAM (MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)
#define HEAP_MONITOR_CAPS_PSRAM (MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT)

/* ---- statistics ------------------------------------------------------------------------------ */

/** Figures of one region (or of any caps mask), in bytes. */
typedef struct {
    size_t total_bytes;        /**< managed by the heap (heap_caps_get_total_size) */
    size_t total_free_bytes;   /**< free now (heap_caps_get_free_size) */
    size_t largest_free_block; /**< largest allocation that would succeed now */
    size_t minimum_free_bytes; /**< sum of each heap's low-water mark since boot
                                    (heap_caps_get_minimum_free_size): the heaps may reach theirs
                                    at different times, so it can be below any total seen */
    int fragmentation_percent; /**< 0..100, see the top of this file */
    size_t allocated_blocks;   /**< 0 unless filled by heap_monitor_count_blocks() */
    size_t free_blocks;        /**< 0 unless filled by heap_monitor_count_blocks() */
} heap_region_stats_t;

/** Everything heap_monitor_get_stats() reads. The top-level fields cover all 8-bit heaps
 *  (internal + PSRAM), as the spec's example reads them: with PSRAM the largest free block is
 *  PSRAM's, so their fragmentation hides internal SRAM's. `internal` and `psram` hold the same
 *  figures per region (the health check judges each). */
typedef struct {
    size_t total_bytes;
    size_t total_free_bytes;
    size_t largest_free_block;
    size_t minimum_free_bytes;
    int fragmentation_percent;
    size_t allocated_blocks;     /**< 0 unless filled by heap_monitor_count_blocks() */
    size_t free_blocks;          /**< 0 unless filled by heap_monitor_count_blocks() */
    heap_region_stats_t internal;
    heap_region_stats_t psram;   /**< all zero when psram_present is false */
    bool psram_present;          /**< PSRAM found and added to the heap */
    bool blocks_counted;         /**< the block counts were filled (heap_monitor_count_blocks) */
    uint32_t failed_allocations; /**< failed allocations counted (any caps): see heap_monitor_init */
} heap_stats_t;

/** Read the figures of all three regions into *stats (block counts 0, blocks_counted false), then
 *  check the low-memory callbacks. ESP_OK; ESP_ERR_INVALID_ARG when stats is NULL (nothing read,
 *  no callback checked). task; never blocks (callbacks run in the caller); 3 figure reads + one
 *  check per callback (costs: see the top). */
esp_err_t heap_monitor_get_stats(heap_stats_t *stats);

/** Same figures for any caps mask (heaps whose caps contain every bit of `caps`), then check the
 *  callbacks. ESP_OK; ESP_ERR_INVALID_ARG when out is NULL or caps is 0 (nothing read). task; never
 *  blocks (callbacks run in the caller); 1 figure read + one check per callback. */
esp_err_t heap_monitor_get_caps_stats(uint32_t caps, heap_region_stats_t *out);

/** Fill the allocated_blocks/free_blocks fields of *stats (top level and both regions) and set
 *  blocks_counted. This is the expensive one: it walks every block of every heap, holding each
 *  heap's lock while it does (heap_caps_get_info); never call it periodically. The other fields are
 *  left as they are. ESP_OK; ESP_ERR_INVALID_ARG when stats is NULL. task; never blocks, but every
 *  other allocation waits for each heap's walk; O(blocks), on the host too. */
esp_err_t heap_monitor_count_blocks(heap_stats_t *stats);

/** 100 x (1 - largest / free_bytes), rounded to the nearest integer (halves up); 0 when free_bytes
 *  is 0; clamped to 0..100 (largest above free_bytes, possible between two unsynchronised reads,
 *  gives 0). No failure. isr-ok, never blocks; O(1). */
int heap_monitor_fragmentation_percent(size_t free_bytes, size_t largest);

/* ---- health ---------------------------------------------------------------------------------- */

/** Health limits. Start as the Kconfig values; change them at run time with
 *  heap_monitor_set_thresholds(). A limit of 0 (100 for fragmentation) turns its check off. */
typedef struct {
    int fragmentation_percent;  /**< a region above this is unhealthy (0..100) */
    size_t min_free_internal;   /**< internal SRAM with fewer free bytes is unhealthy */
    size_t min_largest_internal; /**< internal SRAM with a smaller largest block is unhealthy */
    size_t min_free_psram;      /**< PSRAM with fewer free bytes is unhealthy (only when present) */
    bool check_integrity;       /**< also walk the heaps with heap_caps_check_integrity_all */
} heap_monitor_thresholds_t;

/** Copy the current thresholds. ESP_OK; ESP_ERR_INVALID_ARG when out is NULL. isr-ok, never
 *  blocks; O(1). */
esp_err_t heap_monitor_get_thresholds(heap_monitor_thresholds_t *out);
/** Replace the thresholds. ESP_OK; ESP_ERR_INVALID_ARG when t is NULL or fragmentation_percent is
 *  outside 0..100 (nothing changed). isr-ok, never blocks; O(1). */
esp_err_t heap_monitor_set_thresholds(const heap_monitor_thresholds_t *t);

/** Reasons a heap is unhealthy (bits of the value returned by the two functions below). */
#define HEAP_MONITOR_ISSUE_INTERNAL_FRAGMENTED (1u << 0)    /**< internal fragmentation too high */
#define HEAP_MONITOR_ISSUE_INTERNAL_LOW_FREE (1u << 1)      /**< internal free below the minimum */
#define HEAP_MONITOR_ISSUE_INTERNAL_SMALL_LARGEST (1u << 2) /**< internal largest block too small */
#define HEAP_MONITOR_ISSUE_PSRAM_FRAGMENTED (1u << 3)       /**< PSRAM fragmentation too high */
#define HEAP_MONITOR_ISSUE_PSRAM_LOW_FREE (1u << 4)         /**< PSRAM free below the minimum */
#define HEAP_MONITOR_ISSUE_INTEGRITY (1u << 5)              /**< a heap failed its integrity check */
#define HEAP_MONITOR_ISSUE_NOT_CHECKED (1u << 6) /**< called from an ISR: nothing was read */
/** Internal SRAM is full: its largest free block is 0, so no allocation of any size succeeds.
 *  Always checked (no threshold). A full region is not also reported fragmented: its
 *  fragmentation figure, the formula applied to a few leftover bytes, reads up to 100 %. */
#define HEAP_MONITOR_ISSUE_INTERNAL_FULL (1u << 7)
/** PSRAM is full (as HEAP_MONITOR_ISSUE_INTERNAL_FULL; only when present). */
#define HEAP_MONITOR_ISSUE_PSRAM_FULL (1u << 8)

/** The thresholds applied to given figures (no integrity check, no callbacks): 0 when healthy,
 *  otherwise HEAP_MONITOR_ISSUE_* bits. PSRAM never counts when stats->psram_present is false.
 *  Returns 0 for NULL. isr-ok, never blocks; O(1). */
uint32_t heap_monitor_stats_issues(const heap_stats_t *stats);

/** Read the figures now (heap_monitor_get_stats) and apply the thresholds; with check_integrity,
 *  also walk the heaps. 0 when healthy, otherwise HEAP_MONITOR_ISSUE_* bits (no failure result).
 *  task; never blocks (callbacks run in the caller); 3 figure reads + one check per callback,
 *  plus O(blocks) with check_integrity. */
uint32_t heap_monitor_get_health_issues(void);

/** The spec's check: true iff heap_monitor_get_health_issues() is 0. task; never blocks (callbacks
 *  run in the caller); same cost. */
bool heap_monitor_check_health(void);

/** Log every region in the spec's format under `tag` ("heap_monitor" when NULL), one block each:
 *      Heap Fragmentation:
 *        Region: Internal SRAM
 *        Total: 322.7KB
 *        Free: 237.0KB
 *        Largest block: 180KB
 *        Fragmentation: 24% ✅ HEALTHY      (or "❌ UNHEALTHY (reasons)")
 *  then the failed-allocation count ("not counted (heap_monitor_init() not called)" before
 *  heap_monitor_init(), rather than a 0 that would look like none). Sizes in B, KB or MB
 *  (1024-based), with one decimal where not whole, rounded down so free memory is never
 *  overstated. A module without PSRAM prints
 *  "Region: PSRAM (not present)" and no figures. No result (cannot fail). task; may block: the log
 *  waits for the console (callbacks run in the caller); 3 figure reads + one check per callback,
 *  plus O(blocks)
 *  with check_integrity. */
void heap_monitor_log_stats(const char *tag);

/* ---- low-memory callbacks -------------------------------------------------------------------- */

/** What a callback is told. */
typedef struct {
    uint32_t caps;             /**< the caps it was registered with */
    size_t threshold;          /**< the threshold it was registered with (bytes) */
    size_t free_bytes;         /**< free bytes for caps when the edge was seen */
    size_t largest_free_block; /**< largest free block for caps at the same time */
    bool low;                  /**< true: free fell below threshold; false: recovered to >= it */
} heap_monitor_event_t;

typedef void (*heap_monitor_callback_t)(const heap_monitor_event_t *event, void *ctx);

/** Call fn(event, ctx) once when free memory for `caps` falls below `threshold` bytes (low = true),
 *  and once when it is back at or above it (low = false); the two strictly alternate, the first one
 *  being a fall, and never overlap: while one task delivers, a check in another leaves the next
 *  edge to it, and it looks again when its call returns. If free memory is already below the
 *  threshold, the first check after registration reports it. Memory the chip does not have never
 *  runs low: while no heap has every bit of `caps` (heap_caps_get_total_size(caps) == 0, e.g.
 *  HEAP_MONITOR_CAPS_PSRAM on a module without PSRAM) the registration is kept but fn is never
 *  called; PSRAM that is present but exhausted is reported as usual. Checks run as described at
 *  the top of this file; the callback runs in the task that made the check (the sampler task for
 *  the sampler) with no monitor lock held, so it may call any heap_monitor function except
 *  heap_monitor_sampler_stop/heap_monitor_deinit from the sampler task.
 *  ESP_OK; ESP_ERR_INVALID_ARG when fn is NULL, caps is 0 or threshold is 0;
 *  ESP_ERR_INVALID_STATE when the same (threshold, caps, fn, ctx) is already registered;
 *  ESP_ERR_NO_MEM when all CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_MAX_CALLBACKS slots are taken.
 *  isr-ok (only registers), never blocks; O(slots). */
esp_err_t heap_monitor_register_callback(size_t threshold, uint32_t caps, heap_monitor_callback_t fn,
                                         void *ctx);

/** Remove every registration of (fn, ctx). A delivery already under way in another task may still
 *  complete after this returns. ESP_OK; ESP_ERR_INVALID_ARG when fn is NULL; ESP_ERR_NOT_FOUND when
 *  nothing matched. isr-ok, never blocks; O(slots). */
esp_err_t heap_monitor_unregister_callback(heap_monitor_callback_t fn, void *ctx);

/* ---- failed allocations ---------------------------------------------------------------------- */

/** Install the monitor's failed-allocation hook (heap_caps_register_failed_alloc_callback): from
 *  then on failed allocations are counted per requested caps mask. Nothing else here installs it
 *  (ESP-IDF keeps a single hook, and a hidden install would replace yours): until this is called
 *  the failure counts stay 0. Call it at boot; calling it again re-installs the hook (on the
 *  host, call it again after kraken_sim_init/reset: a simulated reboot removes the hook, as a
 *  reboot would). To get the failures yourself as well, use heap_monitor_set_alloc_failed_chain
 *  rather than your own hook. ESP_OK; ESP_ERR_INVALID_STATE from an ISR (nothing installed).
 *  task; never blocks; O(1). */
esp_err_t heap_monitor_init(void);

/** Failed allocations whose requested caps contained every bit of `caps`; 0 counts every failure.
 *  A plain malloc() that fails is reported by ESP-IDF with MALLOC_CAP_DEFAULT (plus
 *  MALLOC_CAP_INTERNAL when malloc() never uses PSRAM): count it with MALLOC_CAP_DEFAULT. A call
 *  that tries several masks (heap_caps_malloc_prefer, so APP_MALLOC/CALLOC/REALLOC) reports only
 *  its last one, MEMORY_CAPS_APP_SRAM for APP_*: MALLOC_CAP_SPIRAM does not count them. Masks
 *  beyond CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_FAILED_ALLOC_SLOTS distinct ones (since init or the last
 *  reset) count only for caps 0. No failure. isr-ok, never blocks; O(slots). */
uint32_t heap_monitor_get_failed_alloc_count(uint32_t caps);

/** One counted caps mask. */
typedef struct {
    uint32_t caps;          /**< the mask as requested */
    uint32_t count;         /**< failures since init or the last reset */
    size_t largest_request; /**< largest size reported with this mask (bytes): the request,
                                 except ESP-IDF's heap_caps_calloc_prefer (APP_CALLOC), which
                                 reports the element size */
} heap_monitor_failed_alloc_t;

/** Copy up to `max` masks with a non-zero count into out, in the order they first failed; *count
 *  receives the number copied. A request with caps 0 (which no heap serves) counts in the total
 *  only. ESP_OK; ESP_ERR_INVALID_ARG when count is NULL or out is NULL with
 *  max > 0. isr-ok, never blocks; O(slots). */
esp_err_t heap_monitor_get_failed_allocs(heap_monitor_failed_alloc_t *out, size_t max, size_t *count);

/** Set every failed-allocation counter to 0 and free every mask's slot. A failure counted while
 *  this runs may be lost or, rarely, be counted for the next mask to take a slot (the counters are
 *  lock-free so that the hook can run in an ISR). No result. isr-ok, never blocks; O(slots). */
void heap_monitor_reset_failed_allocs(void);

/** Same signature as ESP-IDF's esp_alloc_failed_hook_t. */
typedef void (*heap_monitor_alloc_failed_fn_t)(size_t size, uint32_t caps, const char *function);

/** Also call fn after counting each failed allocation (NULL removes it). fn runs in the context of
 *  the failed allocation (possibly an ISR, with the flash cache off if the allocation was made so:
 *  the monitor's own hook is in IRAM; if your allocations can fail that way, put fn in IRAM too):
 *  keep it short. ESP_OK (always). isr-ok, never blocks; O(1). */
esp_err_t heap_monitor_set_alloc_failed_chain(heap_monitor_alloc_failed_fn_t fn);

/* ---- sampler --------------------------------------------------------------------------------- */

/** One region in a sample. */
typedef struct {
    size_t free_bytes;
    size_t largest_free_block;
    int fragmentation_percent;
} heap_monitor_region_sample_t;

/** One sample. */
typedef struct {
    int64_t timestamp_us;                 /**< esp_timer_get_time() when taken */
    uint32_t sequence;                    /**< 1 for the first sample after boot, +1 each */
    heap_monitor_region_sample_t internal;
    heap_monitor_region_sample_t psram;   /**< zero without PSRAM */
    uint32_t pool_in_use[MEMORY_POOL_CLASS_COUNT]; /**< blocks in use per pool class (0 if the
                                                        pools report an error) */
    uint32_t failed_allocations;          /**< heap_monitor_get_failed_alloc_count(0) */
} heap_monitor_sample_t;

/** Take one sample now: read the pool and heap figures, check the callbacks, and append the sample
 *  to the ring buffer (the oldest is overwritten when full). Copies it to *out when out is not NULL.
 *  ESP_OK; ESP_ERR_INVALID_STATE from an ISR (nothing read or stored). task; never blocks
 *  (callbacks run in the caller); 2 figure reads + one check per callback, plus O(pool classes). */
esp_err_t heap_monitor_sample_now(heap_monitor_sample_t *out);

/** Capacity of the ring buffer (CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_SAMPLE_COUNT). No failure.
 *  isr-ok, never blocks; O(1). */
size_t heap_monitor_sample_capacity(void);

/** Copy the newest min(max, stored) samples into out, oldest first, with consecutive sequence
 *  numbers; *count receives the number. ESP_OK; ESP_ERR_INVALID_ARG when count is NULL or out is
 *  NULL with max > 0. task; never blocks: copies 8 samples per hold of the monitor's critical
 *  section, so interrupts are off for 8 samples at most, whatever the ring's size (a copy the
 *  sampler overtakes, going round the whole ring meanwhile, starts again); O(copied). */
esp_err_t heap_monitor_get_samples(heap_monitor_sample_t *out, size_t max, size_t *count);

/** Forget every stored sample (sequence numbers keep counting). No result. isr-ok, never blocks;
 *  O(1). */
void heap_monitor_clear_samples(void);

/** Start the sampler task: a sample at once, then one every period_ms (0: the Kconfig default
 *  CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_SAMPLE_PERIOD_MS); the period is measured from the end of one
 *  sample to the start of the next (at least period_ms; on the chip less than two ticks more).
 *  ESP_OK; ESP_ERR_INVALID_ARG for UINT32_MAX (a wait without end, not a period);
 *  ESP_ERR_INVALID_STATE when already running (or being started or stopped by another task);
 *  ESP_ERR_NO_MEM when the task or one of its two semaphores cannot be created (nothing left
 *  behind). task; never blocks (the new task waits for this call, not the reverse); O(1) plus
 *  creating the task and the semaphores. */
esp_err_t heap_monitor_sampler_start(uint32_t period_ms);

/** Stop the sampler task and wait until it has ended (at most one sample's duration).
 *  ESP_OK; ESP_ERR_INVALID_STATE when not running or when called from the sampler task itself
 *  (from a callback), or while another task is starting or stopping it. task; may block: waits
 *  for the sampler to finish the sample it is taking and end. O(1) plus that wait (one sample). */
esp_err_t heap_monitor_sampler_stop(void);

/** True while the sampler task runs (not while starting or stopping). isr-ok, never blocks; O(1). */
bool heap_monitor_sampler_running(void);

/* ---- telemetry ------------------------------------------------------------------------------- */

/** Write every figure as one JSON object (no whitespace) into buf, NUL-terminated:
 *    {"timestamp_us":..,"healthy":true,"issues":0,
 *     "heap":{"total":..,"free":..,"largest":..,"min_free":..,"fragmentation":..},
 *     "internal":{same keys},"psram":{"present":true, same keys},
 *     "failed_allocs":{"total":..,"by_caps":[{"caps":..,"count":..,"largest_request":..}]},
 *     "pools":[{"block_size":..,"capacity":..,"in_use":..,"peak":..,"fallbacks":..,"failures":..}],
 *     "sampler":{"running":false,"period_ms":..,"samples":..}}
 *  "healthy"/"issues" apply the thresholds without the integrity walk; "pools" is null when the
 *  pools report an error. Never truncates: when the snapshot does not fit, buf receives "" (if size
 *  > 0) and the call fails. *length (if not NULL) receives the snapshot's length without the NUL in
 *  both cases, so size must be at least *length + 1. A buffer of heap_monitor_json_max_length() + 1
 *  bytes always fits; the length of one call does not bound the next (the timestamp or a counter
 *  may gain a digit, a new caps entry may appear).
 *  ESP_OK; ESP_ERR_INVALID_SIZE when size is too small (buf NULL with size 0 asks for the length);
 *  ESP_ERR_INVALID_ARG when buf is NULL and size > 0 (nothing read). task; never blocks (callbacks
 *  run in the caller); 3 figure reads + one check per callback, plus O(failed-alloc slots + pool classes). */
esp_err_t heap_monitor_get_json(char *buf, size_t size, size_t *length);

/** The longest snapshot heap_monitor_get_json() can write with this build's configuration, without
 *  the NUL: every figure at its type's widest, every failed-allocation slot
 *  (CONFIG_SYSTEM_SERVICE_HEAP_MONITOR_FAILED_ALLOC_SLOTS) and pool class printed. Constant for a
 *  build: 1620 bytes with the defaults on the chip (32-bit). Size a telemetry buffer from it.
 *  No failure. It reads no state and takes no lock: isr-ok (the same length), never blocks, but
 *  it lays a full snapshot's figures out on the caller's stack (mind a small ISR stack);
 *  O(failed-alloc slots + pool classes). */
size_t heap_monitor_json_max_length(void);

/** Back to the boot state: stop the sampler, remove every callback, clear samples and failure
 *  counts, thresholds back to Kconfig, no chained hook. The failed-allocation hook stays installed
 *  (ESP-IDF cannot remove it) and keeps counting. ESP_OK; ESP_ERR_INVALID_STATE when called from
 *  the sampler task (nothing changed). task; may block: waits for a start or stop of the sampler
 *  in another task to finish, then for the sampler task to end (heap_monitor_sampler_stop).
 *  O(callback slots + failed-alloc slots) plus those waits. */
esp_err_t heap_monitor_deinit(void);

#ifdef __cplusplus
}
#endif
#endif /* HEAP_MONITOR_H */
