/*
 * memory_pool.h - fixed-size block pools in internal SRAM with a counted heap fallback.
 *
 * Four size classes (Small, Medium, Large, XLarge; Kconfig CONFIG_SYSTEM_SERVICE_MEMORY_POOL_*,
 * default 64 B x 100, 256 B x 50, 1 KB x 20, 4 KB x 10). A request takes a block of the smallest
 * class that fits. When that class is empty the request is served by the internal heap and counted
 * as a heap fallback of that class (optionally the next larger class is tried first); requests
 * larger than the largest class go to the heap and are counted as oversize. Both kinds of heap
 * block are released with memory_pool_free(), like pool blocks.
 *
 * Release every block from here with memory_pool_free() (or _free_isr), never free() or
 * heap_caps_free(): free() of a heap block here leaves it live in the pools' table (counted against
 * the cap; should the heap hand that address to someone else, memory_pool_free() would release
 * their block), free() of a pool block corrupts the heap. The host simulator refuses such a free(),
 * realloc(), heap_caps_free() or heap_caps_realloc() (logged, counted in
 * kraken_sim_stats_t.invalid_frees); the chip cannot catch it.
 * memory_pool_owns() tells whether a pointer is a live block from here.
 *
 * Guarantees
 *   - No set-up call needed: the first allocation from a task sets the pools up (one allocation of
 *     internal SRAM for all storage); tasks racing with it wait for it, ISRs get NULL.
 *     memory_pool_ensure_init() does it ahead of time, memory_pool_init() with another class table.
 *     If the storage cannot be allocated the pools stay off until memory_pool_deinit(): every
 *     request is then a counted heap fallback (stats: setup_failures, initialized false).
 *   - Pool alloc and free are O(1): a free list of block indices kept outside the blocks, so a
 *     write after free can never corrupt the allocator. No header in pool blocks: the owner of a
 *     pointer is found from its address.
 *   - Thread-safe: one critical section per class (a spinlock on both cores on ESP-IDF, also in
 *     ISRs). The heap and the log are never called inside it.
 *   - Misuse is detected in every build, in O(1): a double free, a pointer into a block, a
 *     misaligned pointer, a pointer no pool or fallback handed out. It is rejected (nothing
 *     changes), counted, passed to the misuse hook and logged (from tasks). A block is never handed
 *     out twice.
 *   - CONFIG_SYSTEM_SERVICE_MEMORY_POOL_CHECK BASIC adds a canary after the requested size of a
 *     pool block (a heap block, fallback or oversize, has none: the chip's heap debugging covers
 *     it) and the owner and age of every live block; FULL adds poisoning of free pool blocks
 *     (writes after free).
 *   - Every block is aligned to 8 bytes, pool and heap alike (the chip's heap alone gives 4).
 *   - Memory is not zero-filled (not O(1)).
 *
 * Context words (docs/DESIGN.md): "task" = task only, "isr-ok" = also from interrupts, never
 * blocks, "may block" = may wait for another task. From an ESP_INTR_FLAG_IRAM handler, which may
 * run with the flash cache off: memory_pool_alloc_isr, _alloc_isr_margin, _free_isr,
 * _free_batch_isr, _class_of, _class_free and _get_stats, with CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM
 * only (their code is then in IRAM). Locks here are critical sections (spin, never sleep). A
 * line logged from a task waits for the console like any ESP_LOG line: functions that log say so;
 * a misuse report from a task logs too (its first occurrence is a bug to fix anyway).
 */
#ifndef MEMORY_POOL_H
#define MEMORY_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Number of size classes (Small, Medium, Large, XLarge). */
#define MEMORY_POOL_CLASS_COUNT 4

/** Largest number of blocks in one class (memory_pool_init). */
#define MEMORY_POOL_MAX_BLOCKS_PER_CLASS 65533u

/** Largest block size of a class (memory_pool_init, CONFIG_..._XLARGE_SIZE). */
#define MEMORY_POOL_MAX_BLOCK_SIZE 65536u

/* ---- Allocation ------------------------------------------------------------------------------ */

/** Allocate `size` bytes: a block of the smallest class that fits; when that class is empty, the
 *  next larger class (CONFIG_..._TRY_LARGER_CLASS) or the internal heap (a counted fallback);
 *  the heap for sizes above the largest class (counted as oversize).
 *  Returns NULL iff size is 0, or the request needs the heap and the heap is out of memory, the
 *  live heap blocks reached their cap (stats heap_blocks_max: memory_pool_init's, else
 *  CONFIG_SYSTEM_SERVICE_MEMORY_POOL_HEAP_BLOCKS_MAX), or the caller is
 *  an ISR (a pool block is still given from an ISR; the heap never is). Every NULL but size 0 is
 *  counted as a failure.
 *  task (from an ISR it behaves as memory_pool_alloc_isr). Never blocks, except the first call:
 *  may block, waiting for a set-up another task started. Pool path O(1) (FULL checks:
 *  O(block size)); the heap path adds one heap call; the first call sets the pools up, O(blocks),
 *  and logs an error if that fails (the heap then serves every request). */
void *memory_pool_alloc(size_t size);

/** Free a block from any allocation function here (pool block or heap block). NULL is a no-op.
 *  No result: misuse (double free, pointer into a block, misaligned or unknown pointer, a heap
 *  block from an ISR) changes nothing, is counted and reported through the hook and, from a task,
 *  the log. task (pool blocks also from an ISR). Never blocks (but a misuse report logs).
 *  O(1) (FULL checks: O(block size)); a heap block adds one heap call. */
void memory_pool_free(void *ptr);

/** Allocation for ISRs: pool blocks only (the next larger class too with TRY_LARGER_CLASS), never
 *  the heap. NULL iff size is 0 or above the largest class, the class is empty, or the pools are
 *  not set up yet (they are after the first memory_pool_alloc or memory_pool_ensure_init);
 *  counted as a failure of the class (oversize failure above it). isr-ok, never blocks;
 *  O(1) (FULL: O(block size)). With CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM also from an
 *  ESP_INTR_FLAG_IRAM handler while the flash cache is off (its code is in IRAM). */
void *memory_pool_alloc_isr(size_t size);

/** Free a pool block from an ISR. Results:
 *    ESP_OK                 the block is back in its pool
 *    ESP_ERR_INVALID_STATE  double free (the block is already free; a free block that was never
 *                           handed out looks the same and is counted as a double free)
 *    ESP_ERR_INVALID_ARG    NULL (nothing done, not counted); a heap block (it stays allocated:
 *                           free it with memory_pool_free; counted in heap_frees_in_isr also
 *                           when this was called from a task); a pointer into a block, a
 *                           misaligned pointer or one nothing here handed out
 *  Every error but NULL is counted and passed to the misuse hook (logged only when called from a
 *  task). isr-ok, never blocks; O(1), with FULL checks O(block size) (the block is poisoned).
 *  With CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM also from an ESP_INTR_FLAG_IRAM handler while the flash
 *  cache is off (its code is in IRAM; a misuse hook it calls must be IRAM_ATTR then). */
esp_err_t memory_pool_free_isr(void *ptr);

/** Blocks of class class_index (0 = Small .. MEMORY_POOL_CLASS_COUNT - 1) free right now (a
 *  snapshot: other tasks may change it at once); 0 for a bad index or before set-up. isr-ok, never
 *  blocks (one short critical section); O(1). */
uint32_t memory_pool_class_free(unsigned class_index);

/** Free n pool blocks as n calls of memory_pool_free_isr would, with one lock acquisition per
 *  run of up to 16 consecutive blocks of one class (one per block with FULL checks or in a class
 *  whose size is not a power of two; the event bus returns a run of delivered events this way).
 *  blocks NULL: nothing freed (0). NULL entries are skipped; any other entry
 *  memory_pool_free_isr refuses (a double free, a
 *  pointer into a block, a heap block) is counted and reported as it would be, and the rest are
 *  still freed; an overrun block is reported and freed. Returns the number of blocks freed.
 *  isr-ok, never blocks; O(n) (FULL checks: O(n * block size)). */
size_t memory_pool_free_batch_isr(void *const blocks[], size_t n);

/** QP/C-style margin: like memory_pool_alloc, but a pool block is taken only if at least `margin`
 *  blocks of the class stay free afterwards, keeping the last ones for callers with a smaller
 *  margin (critical producers use 0). Otherwise the request goes on as for an empty class
 *  (larger class, heap fallback). NULL in the cases of memory_pool_alloc (size 0; the heap is
 *  needed and is out of memory or at the cap; an ISR caller), counted the same way. task (from an
 *  ISR: memory_pool_alloc_isr_margin). Never blocks but on the first call (as memory_pool_alloc).
 *  O(1) on the pool path (FULL checks: O(block size)); the heap path adds one heap call. */
void *memory_pool_alloc_margin(size_t size, uint32_t margin);

/** memory_pool_alloc_isr with a margin (see memory_pool_alloc_margin): NULL as for
 *  memory_pool_alloc_isr, and when fewer than margin + 1 blocks of the class (and of the next larger
 *  one, with TRY_LARGER_CLASS) are free; counted as a failure. isr-ok, never blocks; O(1) (FULL
 *  checks: O(block size)). */
void *memory_pool_alloc_isr_margin(size_t size, uint32_t margin);

/* ---- Set-up (optional) ----------------------------------------------------------------------- */

/** One size class: block size in bytes (a multiple of 8, 8 .. MEMORY_POOL_MAX_BLOCK_SIZE, strictly
 *  larger than the previous class) and number of blocks (1 .. MEMORY_POOL_MAX_BLOCKS_PER_CLASS). */
typedef struct {
    size_t block_size;
    uint32_t count;
} memory_pool_class_config_t;

typedef struct {
    memory_pool_class_config_t classes[MEMORY_POOL_CLASS_COUNT]; /**< Small .. XLarge */
    uint32_t heap_blocks_max;  /**< cap on live heap blocks (fallback + oversize), at most
                                    CONFIG_..._HEAP_BLOCKS_MAX; 0: never use the heap */
    bool try_larger_class;     /**< take the next larger class before the heap */
} memory_pool_config_t;

/** The Kconfig configuration (what the pools use without memory_pool_init). ESP_OK, or
 *  ESP_ERR_INVALID_ARG for NULL. isr-ok, never blocks; O(1). */
esp_err_t memory_pool_get_default_config(memory_pool_config_t *out);

/** Set the pools up with `config` (NULL: the Kconfig table) instead of waiting for the first
 *  allocation. Storage for all classes is one allocation of internal SRAM (blocks + 2 bytes of
 *  state per block + the check level's metadata). Results:
 *    ESP_OK                 ready
 *    ESP_ERR_INVALID_ARG    a class breaks the rules of memory_pool_class_config_t, or
 *                           heap_blocks_max is above CONFIG_..._HEAP_BLOCKS_MAX
 *    ESP_ERR_INVALID_STATE  already set up, a set-up is running or failed (memory_pool_deinit
 *                           first), or called from an ISR
 *    ESP_ERR_NO_MEM         the storage could not be allocated (logged; nothing changed but the
 *                           count of failed set-ups; the pools stay unset: a later call may try
 *                           again)
 *  task. Not to be called while other tasks use the pools (the class table changes). Never blocks
 *  (it does not wait for a running set-up). O(blocks) plus one heap call. */
esp_err_t memory_pool_init(const memory_pool_config_t *config);

/** Make sure the pools are set up with the Kconfig table (memory_pool_init picks another), e.g.
 *  before ISRs use memory_pool_alloc_isr. ESP_OK when ready; ESP_ERR_NO_MEM when the storage could
 *  not be allocated, now or at an earlier call of this one or first allocation (no retry before
 *  memory_pool_deinit; a failed memory_pool_init does not count: this tries again);
 *  ESP_ERR_INVALID_STATE from an ISR. A set-up that fails logs an error. task, may block (waits
 *  for a set-up another task started).
 *  O(blocks) the first time, then O(1). */
esp_err_t memory_pool_ensure_init(void);

/** Release the storage and return to the never-used state (Kconfig table, counters zeroed; the
 *  misuse hook stays installed), for tests and shutdown. Refuses while anything is allocated:
 *  ESP_ERR_INVALID_STATE when a pool block or a heap block from here is live (logged with the
 *  counts; nothing changes), while the event bus runs (it keeps the class table it read at its
 *  start: system_event_bus_deinit() first; logged) or when called from an ISR or during a set-up;
 *  ESP_OK otherwise (also when never set up).
 *  task. Not to be called while other tasks use the pools; an ISR may: a block it holds makes
 *  deinit refuse, and once deinit has checked, its allocations get NULL and its
 *  memory_pool_free_isr, memory_pool_free_batch_isr and memory_pool_owns take a pool pointer for
 *  one from nowhere (its memory_pool_free of a block freed already may then read the class's
 *  state array as NULL, a crash on the chip: that free, the task variant, keeps its fast path free
 *  of the look). Never blocks (a refusal
 *  logs; the check holds every class's critical section at once). O(classes) plus one heap call. */
esp_err_t memory_pool_deinit(void);

/* ---- Statistics ------------------------------------------------------------------------------ */

/** Per-class statistics, copied out by value. Counters are monotonic (they wrap at 2^32);
 *  peak_in_use and min_free are watermarks reset by memory_pool_reset_peaks. */
typedef struct {
    size_t block_size;        /**< bytes per block */
    uint32_t capacity;        /**< blocks in the class */
    uint32_t in_use;          /**< blocks handed out now */
    uint32_t peak_in_use;     /**< high-water mark of in_use (reset: memory_pool_reset_peaks) */
    uint32_t min_free;        /**< low-water mark of free blocks = capacity - peak_in_use */
    uint32_t allocations;     /**< successful pool allocations */
    uint32_t frees;           /**< successful pool frees */
    uint32_t heap_fallbacks;  /**< requests of this class served by the heap because it was empty
                                   (or, for a _margin call, down to its margin) */
    uint32_t fallback_live;   /**< fallback heap blocks of this class not yet freed */
    uint32_t failures;        /**< requests of this class that returned NULL */
    uint32_t larger_class_spills; /**< requests of this class served by the next larger class */
    uint32_t double_frees;    /**< frees of a block of this class that was already free */
    uint32_t invalid_frees;   /**< pointers into a block of this class, or misaligned in it */
    uint32_t overruns;        /**< canary found overwritten (BASIC/FULL checks) */
    uint32_t writes_after_free; /**< poison found overwritten (FULL checks) */
} memory_pool_class_stats_t;

typedef struct {
    memory_pool_class_stats_t classes[MEMORY_POOL_CLASS_COUNT];
    uint32_t oversize;        /**< requests above the largest class (served by the heap) */
    uint32_t oversize_live;   /**< oversize heap blocks not yet freed */
    uint32_t oversize_failures; /**< requests above the largest class that returned NULL */
    uint32_t double_frees;    /**< all classes: frees of a block that was already free */
    uint32_t invalid_frees;   /**< every other rejected free: the classes' invalid_frees, plus
                                   unknown_frees, heap_frees_in_isr and heap_calls */
    uint32_t unknown_frees;   /**< pointers outside the pools that no fallback handed out (this
                                   includes a second free of a heap block) */
    uint32_t heap_frees_in_isr; /**< heap blocks given to memory_pool_free_isr or to a free from
                                     an ISR (left allocated) */
    uint32_t heap_calls;      /**< live blocks from here given to a heap function that refused them
                                   (memory_pool_refuse_heap_call: memory_realloc_*; on the host
                                   simulator also free(), realloc(), heap_caps_free/realloc()) */
    uint32_t heap_blocks_live;  /**< fallback + oversize heap blocks live now */
    uint32_t heap_blocks_peak;  /**< high-water mark of heap_blocks_live (reset with the peaks) */
    uint32_t heap_blocks_max;   /**< the cap on heap_blocks_live */
    uint32_t setup_failures;  /**< set-ups that could not allocate the storage */
    uint8_t check_level;      /**< 0 NONE, 1 BASIC, 2 FULL (CONFIG_..._CHECK) */
    bool try_larger_class;    /**< an empty class spills into the next larger one (set-up's config) */
    bool initialized;         /**< the pools are set up */
} memory_pool_stats_t;

/** Copy the statistics (each class consistent in itself). ESP_ERR_INVALID_ARG for NULL; ESP_OK
 *  otherwise, also before set-up or after a failed one (`initialized` false; capacities from the
 *  table and min_free equal to them, heap_blocks_max the Kconfig cap, setup_failures; in_use, peaks
 *  and allocations 0; the failures, heap and misuse counters count as at any other time).
 *  isr-ok, never blocks; O(classes); does not set the pools up. While memory_pool_init or
 *  memory_pool_deinit runs in another task, each class (and the heap's figures) shows the old
 *  table or the new one. */
esp_err_t memory_pool_get_stats(memory_pool_stats_t *out);

/** Reset the watermarks to the current state: peak_in_use = in_use (so min_free = free now),
 *  heap_blocks_peak = heap_blocks_live. No result. isr-ok, never blocks; O(classes). */
void memory_pool_reset_peaks(void);

/** Log the statistics. The first lines are the spec's format:
 *    Memory Pool Statistics:
 *      Small (64B):   45/100 used, 2 heap fallbacks
 *      ... one line per class (Medium, Large, XLarge) ...
 *  then one line per class with peak, minimum free, allocations, frees, failures, spills, misuse,
 *  and one line each for the heap blocks and the misuse counters. tag NULL: "memory_pool".
 *  No result (cannot fail; from an ISR nothing is logged). task; may block: the log waits for
 *  the console. O(classes). */
void memory_pool_log_stats(const char *tag);

/* ---- Misuse and checks ----------------------------------------------------------------------- */

typedef enum {
    MEMORY_POOL_MISUSE_DOUBLE_FREE = 1,     /**< free of a pool block that is already free */
    MEMORY_POOL_MISUSE_INTERIOR_POINTER,    /**< pointer inside a pool block, not at its start */
    MEMORY_POOL_MISUSE_MISALIGNED,          /**< pointer not aligned as any block could be:
                                                 in a pool, not on its 8; outside, not on the 4
                                                 of any heap block (a 4-aligned one may be a
                                                 heap_caps_malloc block freed here: unknown) */
    MEMORY_POOL_MISUSE_UNKNOWN_POINTER,     /**< no pool or fallback handed this pointer out */
    MEMORY_POOL_MISUSE_HEAP_FREE_IN_ISR,    /**< heap block freed from an ISR: left allocated */
    MEMORY_POOL_MISUSE_OVERRUN,             /**< canary after the requested size overwritten */
    MEMORY_POOL_MISUSE_WRITE_AFTER_FREE,    /**< a free block's poison overwritten */
    MEMORY_POOL_MISUSE_CORRUPTED,           /**< free list or state damaged (integrity check) */
    MEMORY_POOL_MISUSE_HEAP_CALL,           /**< a live block from here given to a heap function
                                                 that would resize or free it: refused */
} memory_pool_misuse_t;

typedef struct {
    memory_pool_misuse_t kind;
    const void *ptr;          /**< the pointer passed in (block start for check findings) */
    int class_index;          /**< 0..3, or -1 outside the pools */
    const void *caller;       /**< return address of the call that found it (NULL from checks) */
    const void *owner;        /**< BASIC/FULL: who allocated the block, when known; else NULL */
} memory_pool_misuse_info_t;

/** Called for every misuse found, in the context that found it (may be an ISR), outside every
 *  lock of this module. It may call memory_pool_get_stats but not allocate from the pools. With
 *  CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM and IRAM interrupt handlers using the pools, make it IRAM_ATTR
 *  (it may run while the flash cache is off). */
typedef void (*memory_pool_misuse_hook_t)(const memory_pool_misuse_info_t *info);

/** Install the misuse hook (NULL removes it). No result. isr-ok, never blocks; O(1). */
void memory_pool_set_misuse_hook(memory_pool_misuse_hook_t hook);

/** Name of a misuse kind ("double free", ...), a static string; "unknown" for other values.
 *  isr-ok, never blocks; O(1). */
const char *memory_pool_misuse_name(memory_pool_misuse_t kind);

/** Verify every structure: each class's free list (indices, no cycle, counts agree with in_use),
 *  the heap-block table; BASIC/FULL also every live block's canary; FULL also every free block's
 *  poison. Each finding is passed to the hook and logged, once, and an overrun or a write after
 *  free is also counted (a damaged free list or table is not: it has no counter); the canary or
 *  poison is restored, so a later check or the block's free does not report the same damage again.
 *  ESP_OK when all is well or the pools are not set up; ESP_ERR_INVALID_STATE when something is
 *  damaged (or called from an ISR). task; never blocks but to log a finding.
 *  O(blocks + HEAP_BLOCKS_MAX) plus, with FULL, O(pool bytes); each lock is held for one
 *  free-list walk (O(blocks of the class), with interrupts masked on this core on the chip), one
 *  block at a time, or the heap table's check (O(HEAP_BLOCKS_MAX)): a diagnostic, not for a
 *  latency-critical loop. */
esp_err_t memory_pool_check_integrity(void);

/** One live block, as seen by memory_pool_walk_live. */
typedef struct {
    const void *ptr;
    int class_index;          /**< 0..3 for pool blocks; -1 for heap blocks */
    bool heap;                /**< heap block (fallback or oversize) */
    int requested_class;      /**< heap blocks: class whose fallback it is, -1 for oversize;
                                   pool blocks: class_index */
    size_t size;              /**< requested bytes (BASIC/FULL); NONE: block size, 0 for heap */
    const void *owner;        /**< BASIC/FULL: return address of the allocating call; else NULL */
    uint32_t age_ms;          /**< BASIC/FULL: milliseconds since allocation; else 0 */
} memory_pool_block_info_t;

/** Return false to stop the walk. Called outside every lock; may free the block it is given. */
typedef bool (*memory_pool_walk_cb_t)(const memory_pool_block_info_t *info, void *arg);

/** Call cb for every live block (pool blocks in address order, then heap blocks). Returns the
 *  number of blocks passed to cb; 0 when cb is NULL or from an ISR (nothing walked) or nothing is
 *  live. Blocks allocated or freed during the walk may or may not be seen; a block live throughout
 *  is passed exactly once, however many others come and go meanwhile (walks may overlap). task;
 *  never blocks itself (cb runs in the caller). O(pool blocks + HEAP_BLOCKS_MAX); each lock held
 *  for one block. */
size_t memory_pool_walk_live(memory_pool_walk_cb_t cb, void *arg);

/** Leak report: log every live block (class, address, size, owner, age), then their number,
 *  which is also returned (cannot fail; from an ISR nothing is logged and 0 returned). tag NULL:
 *  "memory_pool". task; may block: the log waits for the console. O(blocks + HEAP_BLOCKS_MAX). */
size_t memory_pool_log_leaks(const char *tag);

/** Class index (0 = Small .. MEMORY_POOL_CLASS_COUNT - 1) of the pool class whose storage ptr
 *  points into, MEMORY_POOL_CLASS_COUNT for anything else (NULL, heap blocks, before set-up). A block
 *  that spilled into a larger class (try_larger_class) gives that class, not the requested one.
 *  isr-ok, never blocks, no lock; O(classes). Not while memory_pool_init/deinit run. */
unsigned memory_pool_class_of(const void *ptr);

/** True iff ptr is a live block from here: the start of a pool block now handed out, or a heap
 *  block (fallback or oversize) handed out and not yet freed. False for NULL, pointers into a
 *  block, free blocks and anything else. isr-ok, never blocks; O(1) (a pointer outside the pools
 *  takes no lock while no heap block from here is live). */
bool memory_pool_owns(const void *ptr);

/** For a function that resizes or frees heap blocks (memory_realloc_* of memory_utils.h, a wrapper
 *  of your own): true when ptr is a live block from here (memory_pool_owns), which such a function
 *  must refuse; the misuse is then counted (stats.heap_calls), passed to the hook as
 *  MEMORY_POOL_MISUSE_HEAP_CALL and logged. False, nothing counted, otherwise (NULL included).
 *  isr-ok (logs only from a task), never blocks; O(1) as memory_pool_owns. */
bool memory_pool_refuse_heap_call(const void *ptr);

#ifdef __cplusplus
}
#endif
#endif /* MEMORY_POOL_H */
