/* sim_internal.h - what the host port's files share about the simulated chip (not public). */
#ifndef SIM_INTERNAL_H
#define SIM_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"
#include "esp_log.h"
#include "kraken_sim.h"

/* SIM_UNPOISON: make host memory addressable again in AddressSanitizer builds (a no-op otherwise). */
#if defined(__SANITIZE_ADDRESS__)
#define SIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIM_ASAN 1
#endif
#endif
#ifdef SIM_ASAN
#include <sanitizer/asan_interface.h>
#define SIM_POISON(addr, bytes) ASAN_POISON_MEMORY_REGION((addr), (bytes))
#define SIM_UNPOISON(addr, bytes) ASAN_UNPOISON_MEMORY_REGION((addr), (bytes))
#else
#define SIM_POISON(addr, bytes) ((void)(addr), (void)(bytes))
#define SIM_UNPOISON(addr, bytes) ((void)(addr), (void)(bytes))
#endif

/* The libc allocator, bypassing the link-time wrap of malloc/free (sim_malloc.c): the simulator's
 * own host memory must never come from the simulated chip. */
void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *ptr, size_t size);
void __real_free(void *ptr);

/** Count one refused free/realloc in kraken_sim_stats_t.invalid_frees (sim_malloc.c). isr-ok. */
void sim_count_invalid_free(void);
/** Count one refused FreeRTOS wait in kraken_sim_stats_t.refused_waits. isr-ok. */
void sim_count_refused_wait(void);
/** Count one other refused FreeRTOS call in kraken_sim_stats_t.refused_calls (FR_REFUSE in
 *  freertos_host.h). isr-ok. */
void sim_count_refused_call(void);
/** Count one task watchdog timeout in kraken_sim_stats_t.task_wdt_triggers. isr-ok. */
void sim_count_task_wdt_trigger(void);
/** A boot: the task watchdog forgets every subscription (their blocks went with the heaps) and is
 *  initialised as the chip's startup does it (CONFIG_ESP_TASK_WDT_INIT), or not
 *  (esp_host_task_wdt.c). No heap call. */
void sim_task_wdt_boot(void);
/** True while the calling thread holds a critical section (portENTER_CRITICAL; freertos_host.c).
 *  isr-ok, O(1). */
bool sim_in_critical(void);
/** True between the calling thread's vTaskSuspendAll() and its matching xTaskResumeAll()
 *  (freertos_host.c). isr-ok, O(1). */
bool sim_scheduler_suspended(void);
/** An ESP_LOGx line written inside a critical section (the chip aborts there): count it
 *  (kraken_sim_stats_t.critical_logs), logging the first after each boot. isr-ok, O(1). */
void sim_note_critical_log(const char *tag);

/** esp_log_write() for the simulator's own diagnostics, which every ESP_LOGx in a file including
 *  this header goes through: written as any line, but not counted in critical_logs, since the
 *  misuse it reports (a wait or a heap call in an ISR...) is counted where it happens. */
void sim_log_write(esp_log_level_t level, const char *tag, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
#undef ESP_HOST_LOG_WRITER
#define ESP_HOST_LOG_WRITER sim_log_write
/** While on (per thread), ESP_LOGx lines of code the simulator calls for its own diagnostics (the
 *  pools' report of a pool block given to free()) are not counted in critical_logs either: the
 *  chip would write none there. isr-ok, O(1). */
void sim_own_lines(bool on);

/** True (after counting an invalid free, and the pools counting, reporting to their misuse hook
 *  and logging a heap call from `caller` (NULL: unknown) to function_name) when ptr is a live
 *  block from memory_pool.h (pool, heap fallback or oversize): free(), realloc(), heap_caps_free()
 *  and heap_caps_realloc*() refuse those and leave them alone. On the chip they would release a
 *  heap block behind the pools' back (their table keeps it live and may later free someone else's
 *  block at that address) or corrupt the heap with a pool block. No lock held. */
bool sim_refuse_pool_block(void *ptr, const char *function_name, const void *caller);

/** ESP-IDF's malloc() (plain malloc() on the host lands here; private in ESP-IDF, as here: no
 *  public header declares it): without PSRAM in malloc() (CONFIG_SPIRAM_USE_CAPS_ALLOC, or no PSRAM
 *  on the module) heap_caps_malloc(size, MALLOC_CAP_DEFAULT | MALLOC_CAP_INTERNAL); with
 *  CONFIG_SPIRAM_USE_MALLOC sizes up to CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL try internal RAM
 *  first, larger ones PSRAM first, each then retrying with MALLOC_CAP_DEFAULT alone; on failure
 *  the callback gets MALLOC_CAP_DEFAULT. task. */
void *heap_caps_malloc_default(size_t size);
/** ESP-IDF's realloc(), with the same policy (private in ESP-IDF too). task. */
void *heap_caps_realloc_default(void *ptr, size_t size);

/** ESP-IDF's heap_caps_aligned_alloc_default() (private there), behind memalign(),
 *  aligned_alloc() and posix_memalign(): NULL for an alignment that is not a power of two or
 *  size 0 (no callback). task. */
void *sim_aligned_alloc_default(size_t alignment, size_t size);

/** heap_caps_free(), with the name of the caller's function and its call site for the logs. */
void sim_free(void *ptr, const char *function_name, const void *caller);

/** True inside kraken_sim_isr_enter/exit on the calling thread. isr-ok, O(1). */
bool sim_in_isr(void);
/** How many kraken_sim_isr_enter() the calling thread is inside (0: none). isr-ok, O(1). */
unsigned sim_isr_depth(void);
/** Which simulated ISR of the calling thread this is (or was last): its count of outermost
 *  kraken_sim_isr_enter() calls. Tells one ISR from the next. isr-ok, O(1). */
uint64_t sim_isr_number(void);

/** In a simulated ISR: count one heap call (kraken_sim_stats_t.isr_calls), logging the first
 *  after each boot. Each public heap call counts once. isr-ok, O(1). */
void sim_note_isr_call(const char *function_name);

/** True when ptr lies in the simulator's host memory (any region of any profile, live block or
 *  not): such a pointer must be released by heap_caps_free, never by libc. Does not initialise the
 *  simulator (false before the first use). isr-ok, O(1). */
bool sim_owns(const void *ptr);


/** The calling thread runs a FreeRTOS task whose simulated stack is block (bytes long; NULL: none
 *  any more): sim_chip_address() maps the thread's own stack into it. isr-ok, O(1). */
void sim_chip_set_task_stack(const void *block, size_t bytes);

/** The lowest address of the calling thread's host stack (0 when unknown). isr-ok, O(1) after
 *  the thread's first call. */
uintptr_t sim_own_stack_low(void);

/** The ESP32-S3 address ptr stands for: a simulated region, or an area of the program placed as
 *  the chip's linker script would (static data in DRAM, read-only data in flash through DROM, code
 *  in flash IROM, esp_attr.h's sections in IRAM, RTC fast or slow memory, PSRAM, the calling
 *  thread's stack in the main D/IRAM heap as a task's); 0 for memory that is not part of the
 *  simulated chip (other threads' stacks, shared libraries, mmap). Boots the simulator. isr-ok,
 *  O(1). */
uint32_t sim_chip_address(const void *ptr);

/** True for a chip address in the mapped PSRAM (ESP-IDF's esp_psram_check_ptr_addr): false on a
 *  module without PSRAM. isr-ok, O(1). */
bool sim_chip_in_psram(uint32_t address);

/** CONFIG_ESP32S3_DATA_CACHE_16KB: 0x3C000000..0x3C004000 is internal RAM (esp_memory_utils.h). */
bool sim_data_cache_16kb(void);

/** The ESP-IDF release whose heap the simulator follows (CONFIG_KRAKEN_SIM_ESP_IDF_*; see
 *  docs/simulator.md, "Which ESP-IDF"). */
typedef enum {
    SIM_IDF_CURRENT = 0, /**< v5.5.5 and master: everything below */
    SIM_IDF_V5_5,        /**< v5.5.0-v5.5.4, v6.0: the DMA reserve without MALLOC_CAP_DEFAULT, its
                              minimum free not reset to 0 */
    SIM_IDF_V5_4,        /**< and heaps in memory_layout.c's order, not by size */
    SIM_IDF_V5_3,        /**< and no size-class rounding of malloc's blocks */
    SIM_IDF_V5_2,        /**< v5.1, v5.2: and aligned_alloc() & co. with MALLOC_CAP_DEFAULT */
} sim_idf_t;

/** The ESP-IDF build options that decide what malloc() does and where EXT_RAM_BSS_ATTR statics go.
 *  Normally taken from the generated sdkconfig.h; tests pass other values to sim_init_with_policy()
 *  to exercise the CONFIG_SPIRAM_USE_MALLOC paths without a second build. */
typedef struct {
    bool spiram;                   /**< CONFIG_SPIRAM: PSRAM support built in */
    bool octal;                    /**< CONFIG_SPIRAM_MODE_OCT (else quad, ESP-IDF's default) */
    bool use_malloc;               /**< CONFIG_SPIRAM_USE_MALLOC (else USE_CAPS_ALLOC / MEMMAP) */
    bool memmap;                   /**< CONFIG_SPIRAM_USE_MEMMAP: PSRAM mapped, not in the heap */
    size_t malloc_always_internal; /**< CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL, bytes */
    size_t reserve_internal;       /**< CONFIG_SPIRAM_MALLOC_RESERVE_INTERNAL, bytes (0 = none) */
    bool bss_external;             /**< CONFIG_SPIRAM_ALLOW_BSS_SEG_EXTERNAL_MEMORY */
    bool ignore_notfound;          /**< CONFIG_SPIRAM_IGNORE_NOTFOUND */
    bool noinit_external;          /**< CONFIG_SPIRAM_ALLOW_NOINIT_SEG_EXTERNAL_MEMORY:
                                        EXT_RAM_NOINIT_ATTR statics in PSRAM */
    unsigned dcache_kb;            /**< CONFIG_ESP32S3_DATA_CACHE_{16,32,64}KB (0 = 32) */
    sim_idf_t idf;                 /**< the release followed (CONFIG_KRAKEN_SIM_ESP_IDF_*) */
    bool heap_tracing;             /**< CONFIG_HEAP_TRACING_STANDALONE: esp_heap_trace.h works */
    bool heap_hooks;               /**< CONFIG_HEAP_USE_HOOKS: esp_heap_trace_*_hook are called */
    bool abort_on_failure;         /**< CONFIG_HEAP_ABORT_WHEN_ALLOCATION_FAILS */
    bool task_tracking;            /**< CONFIG_HEAP_TASK_TRACKING: each block's task is kept */
    bool track_deleted_tasks;      /**< CONFIG_HEAP_TRACK_DELETED_TASKS: a deleted task's
                                        statistics are kept */
} sim_policy_t;

/** Boot the simulator on first use (KRAKEN_SIM_PROFILE, the build's policy), as every heap call
 *  does; nothing after. For APIs whose state the boot sets (heap tracing). */
void sim_boot_once(void);

/** The policy of the generated sdkconfig.h. O(1). */
void sim_policy_from_sdkconfig(sim_policy_t *out);

/** kraken_sim_init() with an explicit policy (kept by kraken_sim_reset() until the next
 *  kraken_sim_init()). ESP_OK, ESP_ERR_INVALID_ARG (unknown profile, NULL policy, dcache_kb not
 *  0, 16, 32 or 64), ESP_ERR_NO_MEM (host memory for the regions could not be mapped). Not
 *  concurrently with any other call. */
esp_err_t sim_init_with_policy(kraken_sim_profile_t profile, const sim_policy_t *policy);

/** The profile named by KRAKEN_SIM_PROFILE's value: esp32s3-n8r8 when value is NULL or empty; an
 *  unknown name logs an error listing the valid ones and gives esp32s3-n8r8. O(profiles). */
kraken_sim_profile_t sim_profile_for_env(const char *value);

/** The size that heap_caps_malloc_default() tries in internal RAM first, or -1 when malloc() never
 *  uses PSRAM (ESP-IDF's malloc_alwaysinternal_limit). O(1). */
int64_t sim_malloc_internal_limit(void);

/* ---- task tracking (sim_task_tracking.c) ---- */

typedef struct sim_heap sim_heap_t;

/** A boot: every owner and task statistic forgotten, tracking on or off for good (per the
 *  policy); keep_deleted: CONFIG_HEAP_TRACK_DELETED_TASKS. */
void sim_owners_boot(bool on, bool keep_deleted);
/** Tracking is on: heap calls then report to the owner table (one relaxed load otherwise). */
extern _Atomic bool sim_tracking;
void *sim_owner_current(void);
void sim_owner_record(void *block, void *task, const sim_heap_t *heap);
void sim_owner_erase(const void *block);
/** The FreeRTOS host, under its lock: task's TCB is about to be freed (deleted: ESP-IDF notices a
 *  deletion so; its live statistics end as a deleted task's), or its host record is (not
 *  deleted: its handle may be a new task's, so new blocks of that handle get new statistics; the
 *  old stay as they were, "alive" as ESP-IDF shows a task whose TCB it never saw freed). Nothing
 *  when tracking is off. task, O(tasks + a dropped record's blocks). */
void sim_owner_task_gone(void *task, bool deleted);
/** The task (its thread is running) has been deleted by another and ends at its next FreeRTOS
 *  call (freertos_host.c). isr-ok, O(1). */
bool sim_task_deleted(const void *task);
/** A live task's name (cut to size - 1 characters, NUL-ended) and core (0, 1 or tskNO_AFFINITY),
 *  copied under the FreeRTOS host's lock; false, nothing written, when task is no live task (a
 *  dangling handle: deleted, its record perhaps freed) or NULL. Never reads the handle's memory
 *  unless it is a live task's (freertos_host.c). task, O(tasks). */
bool sim_task_describe(const void *task, char *name, size_t size, int32_t *core);

/** n * size as the chip's 32-bit size_t holds it, into *bytes: true when it overflows there (a
 *  64-bit host's size_t would hold a product above 4 GB, and the call would fail as an allocation
 *  too large, reported to the failed-allocation hook, where the chip's is refused unreported).
 *  isr-ok, O(1). */
static inline bool sim_chip_mul_overflow(size_t n, size_t size, size_t *bytes)
{
    uint32_t product;
    const bool overflow = __builtin_mul_overflow(n, size, &product);
    *bytes = product;
    return overflow;
}

/** The calling task (in an ISR: the one it interrupted; it may get its task record now), as an
 *  opaque owner; NULL when tracking is off. No heap lock held. isr-ok. */
static inline void *sim_owner_now(void)
{
    return atomic_load_explicit(&sim_tracking, memory_order_relaxed) ? sim_owner_current() : NULL;
}

/** task (from sim_owner_now()) owns the live block of heap, whose lock is held (owners are
 *  locked after the heaps); nothing when tracking is off. isr-ok. */
static inline void sim_owner_set(void *block, void *task, const sim_heap_t *heap)
{
    if (block != NULL && atomic_load_explicit(&sim_tracking, memory_order_relaxed)) {
        sim_owner_record(block, task, heap);
    }
}

/** The block is no longer owned: call before the heap takes it back. A heap lock may be held. */
static inline void sim_owner_forget(const void *block)
{
    if (block != NULL && atomic_load_explicit(&sim_tracking, memory_order_relaxed)) {
        sim_owner_erase(block);
    }
}

/** Bytes of CONFIG_HEAP_TASK_TRACKING's owner word before each heap_caps block (sizeof(void *)),
 *  0 without tracking. Owners are recorded by block (the word's address), as ESP-IDF reads them.
 *  isr-ok, O(1). */
size_t sim_block_owner_bytes(void);
/** What ESP-IDF's per-task statistics say of a heap: its memory type's name, all its
 *  capabilities, its size (end - start). O(1). */
void sim_heap_describe(const sim_heap_t *heap, const char **name, uint32_t *caps, size_t *size);
/** The usable size of heap's live block; the heap's lock held. O(1). */
size_t sim_heap_block_size_locked(const sim_heap_t *heap, const void *block);
/** multi_heap_malloc() on ESP-IDF's find_biggest_heap() (the first of the largest heaps in list
 *  order): no capabilities, owner, hooks nor fault injection, as ESP-IDF's task tracking takes
 *  its arrays. NULL when it has no room. task, O(heaps). */
void *sim_alloc_in_biggest_heap(size_t size);
/** multi_heap_free() of such a block (NULL: nothing). task, O(heaps). */
void sim_free_untracked(void *block);
/** Arrays of heap_caps_alloc_*_task_stat_arrays() live now; sim_is_stat_array(block): block is
 *  one (heap_caps_free() and heap_caps_realloc() refuse them: they have no owner word on the
 *  chip). task, O(arrays). */
extern _Atomic unsigned sim_stat_arrays;
bool sim_is_stat_array(const void *block);

/** Walks every heap (in list order) that select(heap_caps, ctx) accepts, calling
 *  block(heap_caps, payload, size, ctx) for each used block under that heap's lock (block must
 *  not call the heap API); block returning false ends the heap's walk. task. */
void sim_walk_used_blocks(bool (*select)(uint32_t heap_caps, void *ctx),
                          bool (*block)(uint32_t heap_caps, void *payload, size_t size, void *ctx),
                          void *ctx);

/* ---- heap tracing (sim_heap_trace.c) ---- */

/** The functions a heap call passes through before it reports to the tracer: in one section, so
 *  that a record's callers start above them (sim_heap_trace.c). */
#define SIM_HEAP_API __attribute__((section("kraken_sim_heap_api")))

/** A boot: tracing on or off for good (per the policy), following `release`'s behaviour (its API
 *  is the build's CONFIG_KRAKEN_SIM_ESP_IDF_*), no buffer, every figure 0. */
void sim_trace_boot(bool on, sim_idf_t release);

/** Tracing started or paused: only then do heap calls report to the tracer (one relaxed load per
 *  call otherwise). */
extern _Atomic bool sim_trace_watching;

void sim_trace_record_alloc(void *ptr, size_t size);
void sim_trace_record_free(void *ptr);

/** A successful allocation of `size` bytes asked for (ESP-IDF's record_allocation); nothing when
 *  ptr is NULL or tracing does not record allocations. isr-ok; O(1), O(records) when the buffer is
 *  full (the oldest record goes). */
SIM_HEAP_API static inline void sim_trace_alloc(void *ptr, size_t size)
{
    if (atomic_load_explicit(&sim_trace_watching, memory_order_relaxed)) {
        sim_trace_record_alloc(ptr, size);
    }
}

/** A free of ptr about to happen (ESP-IDF's record_free, also the first half of each realloc
 *  try); nothing when ptr is NULL or tracing is stopped. isr-ok; O(records). */
SIM_HEAP_API static inline void sim_trace_free(void *ptr)
{
    if (atomic_load_explicit(&sim_trace_watching, memory_order_relaxed)) {
        sim_trace_record_free(ptr);
    }
}

#endif
