/* esp_heap_task_info.h (host) - CONFIG_HEAP_TASK_TRACKING: which task holds which heap blocks,
 * and (ESP-IDF v5.5 and later) each task's current and peak use of each heap
 * (port/host/sim_task_tracking.c). As in ESP-IDF, empty without that option.
 *
 * As on the chip, each heap_caps block starts with an owner word (sizeof(TaskHandle_t): 4 bytes
 * on the chip, 8 on a 64-bit host) before the pointer the allocation returns, so tracking costs
 * the heaps what it costs there. Where the host differs: it keeps the owners and the statistics
 * in host memory (ESP-IDF: in the word, and in blocks of the biggest heap, 16 bytes per live
 * allocation, 44 per task and heap, 52 per task), so the statistics take no room in the heaps. */
#ifndef ESP_HEAP_TASK_INFO_H_HOST
#define ESP_HEAP_TASK_INFO_H_HOST

#include "sdkconfig.h"

#if CONFIG_HEAP_TASK_TRACKING || defined(KRAKEN_SIM_TASK_TRACKING_IMPL)

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "esp_err.h"

#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/** How many sets of capabilities the totals can be split by. */
#define NUM_HEAP_TASK_CAPS 4

/** One task's allocations, split by the sets of capabilities asked for. */
typedef struct {
    TaskHandle_t task;               /**< the task (NULL: blocks with no task, the boot's) */
    size_t size[NUM_HEAP_TASK_CAPS];  /**< bytes held, per set */
    size_t count[NUM_HEAP_TASK_CAPS]; /**< blocks held, per set */
} heap_task_totals_t;

/** One block and the task that allocated it. */
typedef struct {
    TaskHandle_t task; /**< the task that allocated (or last reallocated) it */
    void *address;     /**< the block: heap_caps_get_per_task_info() gives its owner word's address
                            (the pointer returned, less sizeof(TaskHandle_t)); v5.5's statistics
                            the pointer returned */
    uint32_t size;     /**< the whole block, owner word included: heap_caps_get_allocated_size()
                            + sizeof(TaskHandle_t) */
} heap_task_block_t;

/** What heap_caps_get_per_task_info() collects. A heap counts in the first set i whose
 *  (heap caps & mask[i]) == caps[i] (mask[0] = caps[0] = 0: every heap); a heap no set matches is
 *  skipped. totals (NULL: none) holds *num_totals entries from the last call, kept in their order
 *  and recounted, and gets a new entry per new task up to max_totals (tasks beyond are not
 *  counted). blocks (NULL or max_blocks 0: none) gets up to max_blocks blocks of the tasks in
 *  tasks[0..num_tasks) (tasks NULL: of every task). */
typedef struct {
    int32_t caps[NUM_HEAP_TASK_CAPS];
    int32_t mask[NUM_HEAP_TASK_CAPS];
    TaskHandle_t *tasks;
    size_t num_tasks;
    heap_task_totals_t *totals;
    size_t *num_totals;
    size_t max_totals;
    heap_task_block_t *blocks;
    size_t max_blocks;
} heap_task_info_params_t;

/** Per-task totals and block lists of every live heap block (params above), the heaps in their
 *  list order and each heap's blocks by address. Returns the number of blocks written to
 *  params->blocks; *params->num_totals becomes the number of totals entries in use. A new totals
 *  entry starts at 0 in every set (ESP-IDF leaves the sets other than the block's as the array
 *  had them). 0, with an error line, for a NULL params or num_totals (ESP-IDF crashes). task
 *  (from a simulated ISR it runs and is counted in isr_calls, as the heap calls: it takes each
 *  heap's lock in turn), O(blocks x (tasks + num_tasks)). */
size_t heap_caps_get_per_task_info(heap_task_info_params_t *params);

#if !(defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_4) || defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_3) ||      \
      defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)) ||                                                \
    defined(KRAKEN_SIM_TASK_TRACKING_IMPL)
/* ---- Per-task statistics (ESP-IDF v5.5 and later) ----------------------------------------------
 * A task gets statistics at its first allocation; they are kept until the next boot, or until
 * the task's deletion frees its TCB (without CONFIG_HEAP_TRACK_DELETED_TASKS; with it they stay,
 * marked deleted, and still fall as its blocks are freed). A task whose TCB is not freed (made by
 * xTaskCreateStatic, or a WithCaps task deleted by vTaskDelete) stays "alive" in them, as on the
 * chip; so does a thread not made by xTaskCreate*() after it ends. A new task that gets a gone
 * task's handle address gets statistics of its own, after the old ones in the list (ESP-IDF puts
 * them first when that address is the highest). A task deleted by another may run on the host
 * until its next FreeRTOS call: what it allocates meanwhile counts for no task. Usage is of live blocks; peaks are since the boot (or the task's first allocation).
 * Tasks come in ESP-IDF's order, by decreasing handle; a task's heaps in the order it first used
 * them; a heap's blocks oldest first (a realloc makes its block the newest). Every call below
 * takes the statistics' lock: task only (ESP-IDF takes a mutex; a call from a simulated ISR runs
 * and is counted in isr_calls). */

/** One task's use of one heap. */
typedef struct {
    const char *name;              /**< the heap's memory type: "RAM", "DRAM", "SPIRAM"... */
    uint32_t caps;                 /**< all the heap's capabilities, ORed */
    size_t size;                   /**< the heap's size */
    size_t current_usage;          /**< bytes of the task's live blocks in it */
    size_t peak_usage;             /**< the most current_usage has been */
    size_t alloc_count;            /**< the task's live blocks in it */
    heap_task_block_t *alloc_stat; /**< those blocks, oldest first, in the caller's array; NULL
                                        when they did not all fit */
} heap_stat_t;

/** One task. */
typedef struct {
    char name[configMAX_TASK_NAME_LEN]; /**< as at its first allocation */
    TaskHandle_t handle;
    bool is_alive;                 /**< false: deleted (CONFIG_HEAP_TRACK_DELETED_TASKS) */
    size_t overall_peak_usage;     /**< the most overall_current_usage has been */
    size_t overall_current_usage;  /**< bytes of its live blocks, every heap */
    size_t heap_count;             /**< heaps it has allocated from */
    heap_stat_t *heap_stat;        /**< those heaps, in the caller's array; NULL when they did not
                                        fit (heap_caps_get_all_task_stat) */
} task_stat_t;

/** heap_caps_get_single_task_stat()'s arrays (heap_count, alloc_count: their room, then how many
 *  were filled) and its result (stat). */
typedef struct {
    task_stat_t stat;
    size_t heap_count;
    heap_stat_t *heap_stat_start;
    size_t alloc_count;
    heap_task_block_t *alloc_stat_start;
} heap_single_task_stat_t;

/** heap_caps_get_all_task_stat()'s arrays: room in each, then how many were filled. */
typedef struct {
    size_t task_count;
    task_stat_t *stat_arr;
    size_t heap_count;
    heap_stat_t *heap_stat_start;
    size_t alloc_count;
    heap_task_block_t *alloc_stat_start;
} heap_all_tasks_stat_t;

/** Every task's statistics into tasks_stat's arrays, as many tasks as stat_arr holds. A task
 *  whose heaps do not all fit in what is left of heap_stat_start gets heap_stat NULL (a later
 *  task's may still fit); a heap whose blocks do not all fit in what is left of alloc_stat_start
 *  gets alloc_stat NULL. The three counts become the entries filled.
 *  ESP_OK; ESP_ERR_INVALID_ARG (tasks_stat NULL, or an array NULL with a count not 0: nothing
 *  changed). task, O(tasks + heaps + blocks filled). */
esp_err_t heap_caps_get_all_task_stat(heap_all_tasks_stat_t *tasks_stat);

/** The statistics of task_handle (NULL: the calling task; of several records of one handle, the
 *  first in list order, deleted or not) into task_stat->stat, with as many of its heaps as
 *  heap_stat_start holds (stat.heap_stat points there) and their blocks as for
 *  heap_caps_get_all_task_stat(). heap_count and alloc_count become the entries filled.
 *  ESP_OK; ESP_ERR_INVALID_ARG (as above); ESP_FAIL (the task has no statistics: it never
 *  allocated, or they went with it; *task_stat untouched). task, O(tasks + its heaps and
 *  blocks). */
esp_err_t heap_caps_get_single_task_stat(heap_single_task_stat_t *task_stat,
                                         TaskHandle_t task_handle);

/** ESP-IDF's tree of every task, its heaps and their blocks (stream NULL: stdout). The four
 *  print calls hold the statistics' lock while they write, as ESP-IDF holds its mutex: every
 *  allocation and free waits meanwhile, so the stream must not allocate from the simulated heap
 *  (a FILE of the host's libc does not). task, blocks the heap calls, O(tasks + heaps +
 *  blocks). */
void heap_caps_print_all_task_stat(FILE *stream);
/** ESP-IDF's table of every task's current and peak use (stream NULL: stdout). task, O(tasks). */
void heap_caps_print_all_task_stat_overview(FILE *stream);
/** The tree for one task (NULL: the caller); nothing when it has no statistics. task. */
void heap_caps_print_single_task_stat(FILE *stream, TaskHandle_t task_handle);
/** The table row for one task (NULL: the caller); nothing when it has no statistics. task. */
void heap_caps_print_single_task_stat_overview(FILE *stream, TaskHandle_t task_handle);

/** Arrays for heap_caps_get_single_task_stat(task_handle) (NULL: the caller), sized for its
 *  statistics now, taken from the biggest heap as ESP-IDF takes them (no capabilities, no
 *  owner): heap_stat_start/heap_count and alloc_stat_start/alloc_count are set (NULL/0 when none
 *  is needed; a deleted task needs none, as in ESP-IDF). Free them with
 *  heap_caps_free_single_task_stat_arrays().
 *  ESP_OK; ESP_FAIL (no room: nothing taken, every field NULL/0; ESP-IDF keeps what it took);
 *  ESP_ERR_INVALID_ARG (task_stat NULL; ESP-IDF crashes). task, O(tasks + its heaps). */
esp_err_t heap_caps_alloc_single_task_stat_arrays(heap_single_task_stat_t *task_stat,
                                                  TaskHandle_t task_handle);
/** Frees those arrays and zeroes their fields. task_stat NULL: refused with an error line
 *  (ESP-IDF v5.5.1 reads its fields: a crash). An array the helper did not hand out is refused
 *  with an error line and left as it is (ESP-IDF would corrupt its heap); so is one of these
 *  arrays given to heap_caps_free() or heap_caps_realloc(). Each refusal is counted in
 *  kraken_sim_stats_t.invalid_frees. task, O(heaps + arrays). */
void heap_caps_free_single_task_stat_arrays(heap_single_task_stat_t *task_stat);

/** Arrays for heap_caps_get_all_task_stat(), as above, for every task's statistics now.
 *  ESP_OK; ESP_FAIL (no room: nothing taken, every field NULL/0); ESP_ERR_INVALID_ARG
 *  (tasks_stat NULL). task, O(tasks + heaps). */
esp_err_t heap_caps_alloc_all_task_stat_arrays(heap_all_tasks_stat_t *tasks_stat);
/** Frees those arrays and zeroes every field, as the single-task one (NULL and an array the
 *  helper did not hand out are refused and counted the same way). task, O(heaps + arrays). */
void heap_caps_free_all_task_stat_arrays(heap_all_tasks_stat_t *tasks_stat);
#endif /* v5.5 and later */

#ifdef __cplusplus
}
#endif
#endif /* CONFIG_HEAP_TASK_TRACKING */
#endif
