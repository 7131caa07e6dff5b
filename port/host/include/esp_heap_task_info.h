/* esp_heap_task_info.h (host) - CONFIG_HEAP_TASK_TRACKING: which task holds which heap blocks
 * (port/host/sim_task_tracking.c). As in ESP-IDF, empty without that option. Of ESP-IDF's calls
 * only heap_caps_get_per_task_info() is here, not the per-task statistics of v5.5 and later. */
#ifndef ESP_HEAP_TASK_INFO_H_HOST
#define ESP_HEAP_TASK_INFO_H_HOST

#include "sdkconfig.h"

#if CONFIG_HEAP_TASK_TRACKING || defined(KRAKEN_SIM_TASK_TRACKING_IMPL)

#include <stddef.h>
#include <stdint.h>

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
    void *address;     /**< the block, as the allocation call returned it (ESP-IDF: 4 bytes
                            before, where it keeps the owner) */
    uint32_t size;     /**< its usable size, heap_caps_get_allocated_size() (ESP-IDF: 4 more) */
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

#ifdef __cplusplus
}
#endif
#endif /* CONFIG_HEAP_TASK_TRACKING */
#endif
