/*
 * kraken_port.h - the only door from the core (src/) to the platform.
 *
 * The core never includes FreeRTOS, esp_* or libc-allocator headers. Everything it needs from the
 * platform is declared here and implemented twice: port/esp_idf/ (heap_caps, FreeRTOS, esp_log,
 * esp_timer) and port/host/ (the simulated ESP32-S3 and pthreads). Each port also provides
 * "kraken_port_types.h" with the concrete types below.
 *
 * Context words used in every contract of this project (defined once, here and in docs/DESIGN.md):
 *   task      may be called from a task (thread on the host) only
 *   isr-ok    may also be called from an interrupt handler; never blocks (the code is in flash:
 *             not from an ESP_INTR_FLAG_IRAM handler, which may run while the cache is off)
 *   may block may wait for another task (bounded by a timeout where one is given)
 */
#ifndef KRAKEN_PORT_H
#define KRAKEN_PORT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"            /* esp_err_t: the result type of the whole API (host: port/host) */
#include "kraken_port_types.h"  /* kraken_port_lock_t, kraken_port_sem_t, kraken_port_task_t,
                                  KRAKEN_PORT_CACHE_LINE (alignment that keeps data off another
                                  core's cache line; 4 where the data is not cached),
                                  KRAKEN_PORT_IRAM_ATTR (code that may run with the flash cache
                                  off), KRAKEN_PORT_ISR_TEXT (code the ISR entry points reach: in
                                  IRAM when CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM),
                                  KRAKEN_PORT_CORES (cores a task can be pinned to),
                                  KRAKEN_PORT_PRIORITIES (task priorities 0..this - 1),
                                  KRAKEN_PORT_TAIL_CALLS (1: a call in tail position is a
                                  jump, so the callee's return address is its caller's) */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Heap (ESP-IDF heap_caps semantics; caps are MALLOC_CAP_* values) ------------------------ */

/** heap_caps_malloc(): NULL on failure or size 0. task (isr-ok only if the platform's heap is);
 *  never blocks beyond the heap's lock; O(number of heaps) (TLSF: O(1) in each). */
void *kraken_port_heap_malloc(size_t size, uint32_t caps);
/** heap_caps_aligned_alloc(): alignment is a power of two; NULL on failure, size 0 or an
 *  alignment that is not. task, O(number of heaps). Freed with kraken_port_heap_free(). */
void *kraken_port_heap_aligned_alloc(size_t alignment, size_t size, uint32_t caps);
/** heap_caps_calloc(): zeroed; NULL on failure, size 0 or n*size overflow. task, O(n*size) (the
 *  zeroing). */
void *kraken_port_heap_calloc(size_t n, size_t size, uint32_t caps);
/** heap_caps_realloc(): ptr NULL allocates, size 0 frees (and returns NULL); NULL on failure with
 *  ptr left valid and unchanged. task, O(size) when the block moves. */
void *kraken_port_heap_realloc(void *ptr, size_t size, uint32_t caps);
/** heap_caps_free(): NULL is a no-op; a pointer the heap did not hand out makes ESP-IDF assert
 *  (the host simulator logs it, counts it and ignores it). task, O(number of heaps). */
void kraken_port_heap_free(void *ptr);
/** heap_caps_{malloc,calloc,realloc}_prefer() with two masks tried in order: the failed-alloc hook
 *  runs only when both fail. Same results as the plain forms. task. */
void *kraken_port_heap_malloc_prefer(size_t size, uint32_t caps_first, uint32_t caps_then);
void *kraken_port_heap_calloc_prefer(size_t n, size_t size, uint32_t caps_first, uint32_t caps_then);
void *kraken_port_heap_realloc_prefer(void *ptr, size_t size, uint32_t caps_first, uint32_t caps_then);
/** heap_caps_get_allocated_size(): usable bytes of a live block (>= the request). task,
 *  O(number of heaps). */
size_t kraken_port_heap_allocated_size(void *ptr);

/** Figures for every heap whose caps contain all of `caps` (sums; largest is a max). */
typedef struct {
    size_t total_bytes;        /**< heap_caps_get_total_size */
    size_t free_bytes;         /**< heap_caps_get_free_size */
    size_t minimum_free_bytes; /**< heap_caps_get_minimum_free_size (low-water mark) */
    size_t largest_free_block; /**< heap_caps_get_largest_free_block */
} kraken_port_heap_figures_t;

/** Fill `out` for `caps`. task. Zeros when no heap matches. Host: O(number of heaps). ESP-IDF:
 *  O(blocks): heap_caps_get_largest_free_block walks each heap in its critical section. */
void kraken_port_heap_figures(uint32_t caps, kraken_port_heap_figures_t *out);
/** Free bytes only (heap_caps_get_free_size): per-heap counters, O(number of heaps) on both
 *  platforms, no walk. task. */
size_t kraken_port_heap_free_size(uint32_t caps);
/** Bytes managed by the heaps matching `caps` (heap_caps_get_total_size): 0 when no heap has
 *  every bit of `caps` (PSRAM caps on a module without PSRAM). O(number of heaps), no walk.
 *  task. */
size_t kraken_port_heap_total_size(uint32_t caps);

/** Block counts (allocated, free) for `caps`: walks every block (heap_caps_get_info). task. */
void kraken_port_heap_block_counts(uint32_t caps, size_t *allocated_blocks, size_t *free_blocks);

/** heap_caps_check_integrity_all(print). Walks every heap. task. */
bool kraken_port_heap_check_integrity(bool print_errors);

/** Failed-allocation hook (heap_caps_register_failed_alloc_callback): called in the failing
 *  caller's context with the request. ESP_OK; ESP_ERR_INVALID_ARG on NULL. task, O(1). */
typedef void (*kraken_port_alloc_failed_hook_t)(size_t size, uint32_t caps, const char *function);
esp_err_t kraken_port_register_alloc_failed_hook(kraken_port_alloc_failed_hook_t hook);

/** True when PSRAM was found and added to the heap (esp_psram_is_initialized and a heap with
 *  MALLOC_CAP_SPIRAM). task (heap_caps_get_total_size is not among ESP-IDF's ISR-safe heap
 *  calls), O(number of heaps). */
bool kraken_port_psram_available(void);
/** Bytes of PSRAM on the module, 0 when absent (esp_psram_get_size). isr-ok, O(1). */
size_t kraken_port_psram_size(void);
/** Pointer classification (esp_ptr_internal / esp_ptr_external_ram / esp_ptr_dma_capable).
 *  isr-ok, O(1). */
bool kraken_port_ptr_internal(const void *ptr);
bool kraken_port_ptr_external(const void *ptr);
bool kraken_port_ptr_dma_capable(const void *ptr);

/* ---- Time, context, logging ---------------------------------------------------------------- */

/** Microseconds since boot (esp_timer_get_time). isr-ok, O(1). */
int64_t kraken_port_time_us(void);
/** True when running in an interrupt handler (host: inside kraken_sim_isr_enter/exit). isr-ok. */
bool kraken_port_in_isr(void);

typedef enum {
    KRAKEN_LOG_ERROR = 1, /* values match esp_log_level_t */
    KRAKEN_LOG_WARN = 2,
    KRAKEN_LOG_INFO = 3,
    KRAKEN_LOG_DEBUG = 4,
    KRAKEN_LOG_VERBOSE = 5,
} kraken_log_level_t;

/** One log line in ESP-IDF's format ("I (1234) tag: message"). task; never from an ISR. */
void kraken_port_log(kraken_log_level_t level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define KRAKEN_LOGE(tag, ...) kraken_port_log(KRAKEN_LOG_ERROR, tag, __VA_ARGS__)
#define KRAKEN_LOGW(tag, ...) kraken_port_log(KRAKEN_LOG_WARN, tag, __VA_ARGS__)
#define KRAKEN_LOGI(tag, ...) kraken_port_log(KRAKEN_LOG_INFO, tag, __VA_ARGS__)
#define KRAKEN_LOGD(tag, ...) kraken_port_log(KRAKEN_LOG_DEBUG, tag, __VA_ARGS__)

/* ---- Locks: a critical section usable from tasks and ISRs, on both cores ---------------------- */

/** Set up a lock at run time (or define it with KRAKEN_PORT_LOCK_INITIALIZER). Never on a lock
 *  that is held. Cannot fail. task, O(1). */
void kraken_port_lock_init(kraken_port_lock_t *lock);
/** Enter the critical section (ESP-IDF: portENTER_CRITICAL_SAFE). isr-ok; spins, never sleeps.
 *  Keep the section short and never call the heap, the log or a blocking call inside it. */
void kraken_port_lock(kraken_port_lock_t *lock);
/** Leave the critical section the caller entered with kraken_port_lock(). isr-ok, O(1). */
void kraken_port_unlock(kraken_port_lock_t *lock);

/* ---- Counting semaphores --------------------------------------------------------------------- */

#define KRAKEN_PORT_WAIT_FOREVER UINT32_MAX

/** ESP_OK; ESP_ERR_INVALID_ARG (sem NULL, max_count 0, initial above max_count);
 *  ESP_ERR_NO_MEM. task. */
esp_err_t kraken_port_sem_create(kraken_port_sem_t *sem, uint32_t max_count, uint32_t initial);
/** Release a created semaphore; nobody may wait on it or use it afterwards (the caller's
 *  protocol ensures that). task, O(1). */
void kraken_port_sem_delete(kraken_port_sem_t *sem);
/** Take, waiting until given or until at least timeout_ms have passed (0: poll, no wait;
 *  KRAKEN_PORT_WAIT_FOREVER). True when taken. ESP-IDF: the wait is in whole ticks, less than two
 *  ticks more than timeout_ms. task, may block. */
bool kraken_port_sem_take(kraken_port_sem_t *sem, uint32_t timeout_ms);
/** Give, waking one waiter; false when already at max_count. task, never blocks, O(1). */
bool kraken_port_sem_give(kraken_port_sem_t *sem);
/** Give from an ISR: *woken set true when a higher-priority task was unblocked. Also callable from
 *  a task, where it gives as kraken_port_sem_give() (the scheduler switches at once if needed)
 *  and leaves *woken alone. isr-ok. */
bool kraken_port_sem_give_from_isr(kraken_port_sem_t *sem, bool *woken);

/* ---- Tasks ------------------------------------------------------------------------------------ */

typedef void (*kraken_port_task_fn_t)(void *arg);

/** Start fn(arg) in a new task (host: a pthread). core -1 = any core, else 0..KRAKEN_PORT_CORES-1.
 *  When fn returns the task waits for kraken_port_task_join(). ESP_OK, ESP_ERR_INVALID_ARG (NULL
 *  task or fn, a core the chip does not have, a priority FreeRTOS does not have), ESP_ERR_NO_MEM.
 *  task. */
esp_err_t kraken_port_task_create(kraken_port_task_t *task, kraken_port_task_fn_t fn, void *arg,
                                  const char *name, uint32_t stack_bytes, unsigned priority, int core);
/** Wait until the task's function has returned, then delete the task: its stack and TCB are back
 *  in the heap on return (on the chip, unless the task was still running on the other core at
 *  that moment: then the idle task frees them a little later). task, blocks. */
void kraken_port_task_join(kraken_port_task_t *task);
/** True when called from inside `task`. isr-ok (false in an ISR). */
bool kraken_port_task_is_current(const kraken_port_task_t *task);
/** Sleep at least `ms` milliseconds (ESP-IDF: vTaskDelay, at least one tick; 0 yields). task,
 *  blocks; never from an ISR. */
void kraken_port_delay_ms(uint32_t ms);

#ifdef __cplusplus
}
#endif
#endif /* KRAKEN_PORT_H */
