/*
 * sim_task_tracking.c - CONFIG_HEAP_TASK_TRACKING on the simulated chip: which task allocated each
 * live heap block, and ESP-IDF's heap_caps_get_per_task_info() over it (heap_task_info.c).
 *
 * ESP-IDF keeps the owner in 4 bytes before each block; the host keeps it beside the heaps, in a
 * hash table of host memory, so that the blocks and the heaps' figures stay as without tracking.
 * sim_chip.c tells it of every block a heap hands out or takes back.
 */
#define KRAKEN_SIM_TASK_TRACKING_IMPL /* the API, whatever the build's option */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "esp_heap_task_info.h"
#include "esp_log.h"
#include "freertos/task.h"
#include "sim_internal.h"

#define BUCKETS 4096u /* a power of two */

typedef struct owner {
    uintptr_t block;
    TaskHandle_t task;
    struct owner *next;
} owner_t;

static pthread_mutex_t owners_lock = PTHREAD_MUTEX_INITIALIZER;
static owner_t *buckets[BUCKETS];
_Atomic bool sim_tracking;

static owner_t **bucket_of(uintptr_t block)
{
    return &buckets[(uint32_t)((block >> 3) * 2654435761u) >> 20]; /* the top 12 bits */
}

void sim_owners_boot(bool on)
{
    pthread_mutex_lock(&owners_lock);
    for (size_t i = 0; i < BUCKETS; i++) {
        while (buckets[i] != NULL) {
            owner_t *o = buckets[i];
            buckets[i] = o->next;
            __real_free(o);
        }
    }
    atomic_store(&sim_tracking, on);
    pthread_mutex_unlock(&owners_lock);
}

/* owners_lock held: where the entry of block is, or where it would go. */
static owner_t **find_locked(uintptr_t block)
{
    owner_t **at = bucket_of(block);
    while (*at != NULL && (*at)->block != block) {
        at = &(*at)->next;
    }
    return at;
}

void *sim_owner_current(void)
{
    /* As ESP-IDF's MULTI_HEAP_SET_BLOCK_OWNER: the running task, in an ISR the one it
     * interrupted. */
    return xTaskGetCurrentTaskHandle();
}

void sim_owner_record(void *block, void *task)
{
    owner_t *fresh = __real_malloc(sizeof *fresh);
    pthread_mutex_lock(&owners_lock);
    owner_t **at = find_locked((uintptr_t)block);
    if (*at != NULL) {
        (*at)->task = task;
        __real_free(fresh);
    } else if (fresh != NULL) { /* without host memory the block stays unowned (NULL) */
        *fresh = (owner_t){.block = (uintptr_t)block, .task = task, .next = NULL};
        *at = fresh;
    }
    pthread_mutex_unlock(&owners_lock);
}

void sim_owner_erase(const void *block)
{
    pthread_mutex_lock(&owners_lock);
    owner_t **at = find_locked((uintptr_t)block);
    owner_t *gone = *at;
    if (gone != NULL) {
        *at = gone->next;
    }
    pthread_mutex_unlock(&owners_lock);
    __real_free(gone);
}

static TaskHandle_t owner_of(const void *block)
{
    pthread_mutex_lock(&owners_lock);
    const owner_t *o = *find_locked((uintptr_t)block);
    TaskHandle_t task = o != NULL ? o->task : NULL;
    pthread_mutex_unlock(&owners_lock);
    return task;
}

typedef struct {
    heap_task_info_params_t *params;
    size_t count;     /* entries of params->totals in use */
    size_t remaining; /* room left in params->blocks */
    heap_task_block_t *next_block;
    size_t type;      /* the partition of the heap walked */
} scan_t;

static void total_block(scan_t *s, TaskHandle_t task, size_t size)
{
    heap_task_totals_t *totals = s->params->totals;
    size_t i = 0;
    while (i < s->count && totals[i].task != task) {
        i++;
    }
    if (i == s->count) {
        if (s->count == s->params->max_totals) {
            return; /* no room: this task's figures are not collected */
        }
        /* Its other partitions start at 0 (ESP-IDF leaves them as the caller's array had them). */
        memset(&totals[i], 0, sizeof totals[i]);
        totals[i].task = task;
        s->count++;
    }
    totals[i].size[s->type] += size;
    totals[i].count[s->type]++;
}

static bool wanted(const heap_task_info_params_t *p, TaskHandle_t task)
{
    if (p->tasks == NULL) {
        return true;
    }
    for (size_t i = 0; i < p->num_tasks; i++) {
        if (p->tasks[i] == task) {
            return true;
        }
    }
    return false;
}

static bool scan_block(uint32_t heap_caps, void *block, size_t size, void *ctx)
{
    scan_t *s = ctx;
    (void)heap_caps;
    const TaskHandle_t task = owner_of(block);
    if (s->params->totals != NULL) {
        total_block(s, task, size);
    }
    if (s->params->blocks != NULL && s->remaining > 0 && wanted(s->params, task)) {
        *s->next_block++ = (heap_task_block_t){.task = task, .address = block,
                                               .size = (uint32_t)size};
        s->remaining--;
    }
    return true;
}

/* The first partition whose mask and caps the heap's capabilities match; NUM_HEAP_TASK_CAPS for
 * none (the heap is skipped). */
static size_t partition_of(const heap_task_info_params_t *p, uint32_t heap_caps)
{
    size_t type = 0;
    while (type < NUM_HEAP_TASK_CAPS &&
           (heap_caps & (uint32_t)p->mask[type]) != (uint32_t)p->caps[type]) {
        type++;
    }
    return type;
}

static bool select_heap(uint32_t heap_caps, void *ctx)
{
    scan_t *s = ctx;
    s->type = partition_of(s->params, heap_caps);
    return s->type < NUM_HEAP_TASK_CAPS;
}

size_t heap_caps_get_per_task_info(heap_task_info_params_t *params)
{
    sim_note_isr_call(__func__);
    if (params == NULL || params->num_totals == NULL) {
        ESP_LOGE("heap_task_info", "heap_caps_get_per_task_info: %s: refused (ESP-IDF would "
                                   "crash on it)",
                 params == NULL ? "no parameters" : "no num_totals");
        return 0;
    }
    scan_t s = {.params = params,
                .count = *params->num_totals,
                .remaining = params->max_blocks,
                .next_block = params->blocks};
    if (params->totals != NULL) { /* the entries kept from the last call start again at 0 */
        for (size_t i = 0; i < s.count; i++) {
            memset(params->totals[i].size, 0, sizeof params->totals[i].size);
            memset(params->totals[i].count, 0, sizeof params->totals[i].count);
        }
    }
    sim_walk_used_blocks(select_heap, scan_block, &s);
    *params->num_totals = s.count;
    return params->max_blocks - s.remaining;
}
