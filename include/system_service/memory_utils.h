/*
 * system_service/memory_utils.h - where memory comes from: PSRAM for applications, internal SRAM for
 * system services, DMA-capable SRAM for peripherals, and the figures to watch them.
 *
 * Placement policy (ESP32-S3):
 *   APP_MALLOC / memory_alloc_prefer_psram   PSRAM first, internal SRAM when PSRAM is absent or full
 *                                            (malloc()'s internal heaps: MEMORY_CAPS_APP_SRAM)
 *   memory_alloc_psram_only                  PSRAM or NULL
 *   SYSTEM_MALLOC / memory_alloc_sram        internal, byte-addressable SRAM
 *   DMA_MALLOC / memory_alloc_dma            internal DMA-capable SRAM, MEMORY_DMA_ALIGNMENT-aligned
 *   APP_DATA_ATTR                            zero-initialised statics in PSRAM (EXT_RAM_BSS_ATTR)
 * Every pointer returned here is released with free() or heap_caps_free(), as the spec's examples do.
 * All sizes are in bytes; size 0 returns NULL (as heap_caps_malloc does); n * size overflow in the
 * calloc forms returns NULL. Failed allocations are reported to the heap's failed-allocation hook,
 * and so are, as ESP-IDF's heap_caps_calloc does, APP_/SYSTEM_CALLOC with n = 0 and size > 0 and
 * every overflowing calloc (DMA_CALLOC with n = 0 returns NULL without a report: it asks the heap
 * for 0 bytes, as heap_caps_aligned_calloc does). With CONFIG_HEAP_ABORT_WHEN_ALLOCATION_FAILS
 * such a failure aborts, memory_alloc_psram_only on a module without PSRAM included: firmware for
 * several module variants asks memory_psram_available() first (APP_MALLOC's PSRAM miss is not a
 * failure when SRAM serves).
 *
 * Every function below, unless it says otherwise:
 *   context     task (ESP-IDF tolerates heap calls from ISRs but strongly discourages them; the
 *               host simulator runs them and counts them in isr_calls)
 *   blocking    never blocks: the heap's lock is a spinlock critical section held for O(1) work
 *               (O(size) with CONFIG_HEAP_POISONING_COMPREHENSIVE, which checks and fills the
 *               block's bytes under it)
 *   complexity  O(1) in each heap (TLSF), O(number of heaps) to choose one; calloc adds the zero
 *               fill and a moving realloc the copy, both O(size)
 *
 * This header also brings in what the spec's examples use with it: esp_err.h, esp_log.h,
 * esp_heap_caps.h, esp_attr.h, <stdlib.h> (free) and heap_monitor.h.
 */
#ifndef SYSTEM_SERVICE_MEMORY_UTILS_H
#define SYSTEM_SERVICE_MEMORY_UTILS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "esp_attr.h"
#include "esp_err.h"
#include "esp_heap_caps.h"
#include "esp_log.h"
#include "heap_monitor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Alignment of DMA_MALLOC buffers: the S3's GDMA needs 4 bytes for internal RAM; 16 also serves
 *  burst transfers and the S3's 128-bit SIMD loads (esp-dsp), for at most 12 bytes of padding. */
#define MEMORY_DMA_ALIGNMENT 16

/** Capabilities used by this API: heap_monitor's masks, so that both report the same figures. */
#define MEMORY_CAPS_SRAM HEAP_MONITOR_CAPS_SRAM
#define MEMORY_CAPS_PSRAM HEAP_MONITOR_CAPS_PSRAM
#define MEMORY_CAPS_DMA (MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)
/** APP_*'s internal fallback: malloc()'s own internal mask. Unlike MEMORY_CAPS_SRAM it leaves
 *  ESP-IDF's internal/DMA reserve (CONFIG_SPIRAM_MALLOC_RESERVE_INTERNAL, only with
 *  CONFIG_SPIRAM_USE_MALLOC; a heap without MALLOC_CAP_DEFAULT before v5.5.5) to what must be
 *  internal: DMA buffers, task stacks, SYSTEM_MALLOC. From v5.5.5 malloc() and APP_* reach it
 *  last. An APP_* allocation that fails is
 *  reported to the failed-allocation hook with this mask (heap_caps_malloc_prefer reports its
 *  last one). */
#define MEMORY_CAPS_APP_SRAM (MALLOC_CAP_DEFAULT | MALLOC_CAP_INTERNAL)

/* ---- placement macros (the spec's names) ---------------------------------------------------- */

/** Application buffer: PSRAM first, internal SRAM as fallback. NULL on failure or size 0. */
#define APP_MALLOC(size) memory_alloc_prefer_psram(size)
#define APP_CALLOC(n, size) memory_calloc_prefer_psram((n), (size))
#define APP_REALLOC(ptr, size) memory_realloc_prefer_psram((ptr), (size))

/** System/critical data: internal SRAM only. NULL on failure or size 0. */
#define SYSTEM_MALLOC(size) memory_alloc_sram(size)
#define SYSTEM_CALLOC(n, size) memory_calloc_sram((n), (size))
#define SYSTEM_REALLOC(ptr, size) memory_realloc_sram((ptr), (size))

/** DMA buffer: internal DMA-capable SRAM, MEMORY_DMA_ALIGNMENT-aligned. NULL on failure or size 0. */
#define DMA_MALLOC(size) memory_alloc_dma(size)
#define DMA_CALLOC(n, size) memory_calloc_dma((n), (size))
#define DMA_REALLOC(ptr, size) memory_realloc_dma((ptr), (size))

/** Zero-initialised static data in PSRAM. Under ESP-IDF this is EXT_RAM_BSS_ATTR: the variable goes
 *  to PSRAM when CONFIG_SPIRAM_ALLOW_BSS_SEG_EXTERNAL_MEMORY is set and stays in internal RAM
 *  otherwise. Only for variables without an initialiser: in PSRAM they are zeroed at boot and an
 *  initial value is lost (the host simulator zeroes it too, with an error line). On the host the
 *  simulator counts these variables against the simulated PSRAM in the same way. */
#define APP_DATA_ATTR EXT_RAM_BSS_ATTR

/* ---- allocation functions --------------------------------------------------------------------- */

/** PSRAM first, then internal SRAM. NULL iff size is 0 or neither has a free block large enough.
 *  task, never blocks, O(1) per heap tried. */
void *memory_alloc_prefer_psram(size_t size);
/** PSRAM only. NULL iff size is 0, the module has no PSRAM, or PSRAM has no block large enough.
 *  task, never blocks, O(1) per heap tried. */
void *memory_alloc_psram_only(size_t size);
/** Internal byte-addressable SRAM only. NULL iff size is 0 or no internal block is large enough.
 *  task, never blocks, O(1) per heap tried. */
void *memory_alloc_sram(size_t size);
/** Internal DMA-capable SRAM aligned to MEMORY_DMA_ALIGNMENT. NULL iff size is 0 or no DMA-capable
 *  block is large enough for size plus the alignment's overhead (up to about MEMORY_DMA_ALIGNMENT
 *  + 32 bytes: a request of the DMA region's whole largest free block fails). task, never blocks,
 *  O(1) per heap tried. */
void *memory_alloc_dma(size_t size);

/** Zero-filled forms of the above. NULL also when n or size is 0 or n * size overflows. task,
 *  never blocks, O(n*size) for the zero fill. */
void *memory_calloc_prefer_psram(size_t n, size_t size);
void *memory_calloc_psram_only(size_t n, size_t size);
void *memory_calloc_sram(size_t n, size_t size);
void *memory_calloc_dma(size_t n, size_t size);

/** Resize keeping the placement rule of the matching alloc function (a block may move between
 *  heaps to satisfy it; contents are kept up to the smaller size). ptr NULL acts as the alloc
 *  function; size 0 frees ptr and returns NULL. On failure returns NULL and ptr stays valid and
 *  unchanged. A block of memory_pool.h (a pool block or one of its heap blocks, size 0 included)
 *  is refused: NULL, the block untouched, counted and reported as the pools' misuse
 *  (memory_pool_refuse_heap_call, O(1)) in one error line of the pools naming the function and its
 *  caller. Otherwise ptr must be a live heap block: for any other pointer ESP-IDF's heap asserts
 *  (the host simulator refuses it: NULL, logged, counted in kraken_sim_stats_t). DMA_REALLOC
 *  keeps a DMA buffer that is already large enough (it never shrinks in place: the tail is not
 *  given back) and otherwise moves it to keep MEMORY_DMA_ALIGNMENT: a growth always needs the old
 *  and the new block at once, so it may fail where heap_caps_realloc() would grow the block into a
 *  free neighbour (ESP-IDF has no call that grows a block only in place, and its move keeps only
 *  4-byte alignment). A DMA buffer is one esp_ptr_dma_capable() accepts, as drivers
 *  check: a DMA_MALLOC block in the 16 KiB heap at 0x3C000000 (CONFIG_ESP32S3_DATA_CACHE_16KB
 *  without CONFIG_SPIRAM), which ESP-IDF's heap counts as DMA-capable but that check does not, is
 *  always moved (NULL when no other DMA-capable block is large enough).
 *  task, never blocks. O(1) per heap tried when the block is resized in place (TLSF grows it into
 *  a free neighbour or splits off the tail; DMA_REALLOC: when it keeps the block); a move adds an
 *  allocation in the target heap and the O(size) copy. */
void *memory_realloc_prefer_psram(void *ptr, size_t size);
void *memory_realloc_psram_only(void *ptr, size_t size);
void *memory_realloc_sram(void *ptr, size_t size);
void *memory_realloc_dma(void *ptr, size_t size);

/* ---- figures ---------------------------------------------------------------------------------- */

/** Memory figures in bytes. PSRAM fields are 0 when the module has no PSRAM. */
typedef struct {
    size_t free_sram;          /**< free internal SRAM (MEMORY_CAPS_SRAM) */
    size_t total_sram;         /**< internal SRAM managed by the heap */
    size_t min_free_sram;      /**< sum of each internal heap's low-water mark since boot
                                    (heap_caps_get_minimum_free_size): the heaps may reach theirs
                                    at different times, so it can be below any free_sram seen */
    size_t largest_free_sram;  /**< largest internal block an allocation can get now */
    size_t free_psram;         /**< free PSRAM (MEMORY_CAPS_PSRAM) */
    size_t total_psram;        /**< PSRAM managed by the heap */
    size_t min_free_psram;     /**< the same for PSRAM (one heap on the ESP32-S3) */
    size_t largest_free_psram; /**< largest PSRAM block an allocation can get now */
    size_t free_dma;           /**< free internal DMA-capable SRAM (MEMORY_CAPS_DMA) */
    size_t psram_size;         /**< PSRAM on the module (esp_psram_get_size), 0 if absent */
    bool psram_available;      /**< PSRAM found and added to the heap */
} memory_info_t;

/** Fill *info. ESP_OK; ESP_ERR_INVALID_ARG when info is NULL (nothing written).
 *  task, never blocks. O(number of heaps) in the simulator; on the chip the two largest-block
 *  figures walk every block of the heaps (ESP-IDF's heap_caps_get_largest_free_block). */
esp_err_t memory_get_info(memory_info_t *info);
/** Free internal SRAM in bytes (counters, no walk). Cannot fail. task, never blocks,
 *  O(number of heaps). */
size_t memory_get_free_sram(void);
/** Free PSRAM in bytes; 0 without PSRAM (counters, no walk). Cannot fail. task, never blocks,
 *  O(number of heaps). */
size_t memory_get_free_psram(void);
/** True when PSRAM is present and added to the heap. task, never blocks, O(number of heaps)
 *  (it asks heap_caps for the PSRAM heaps' size, which ESP-IDF does not list among the heap calls
 *  an ISR may make). */
bool memory_psram_available(void);
/** Log one readable summary (free/total/minimum/largest for SRAM and PSRAM, free for DMA) under
 *  `tag` ("memory" when NULL). Cannot fail (from an ISR nothing is logged). task; blocks while
 *  the console is busy; O(number of heaps) plus the walk of memory_get_info() on the chip. */
void memory_log_usage(const char *tag);

#ifdef __cplusplus
}
#endif
#endif /* SYSTEM_SERVICE_MEMORY_UTILS_H */
