/*
 * sim_task_tracking.c - CONFIG_HEAP_TASK_TRACKING on the simulated chip: which task allocated each
 * live heap block, ESP-IDF's heap_caps_get_per_task_info() over it, and v5.5's per-task
 * statistics (current and peak use per heap, the arrays' helpers, the printouts) as
 * heap_task_info.c keeps them.
 *
 * ESP-IDF keeps the owner in a word before each block and the statistics in blocks of the biggest
 * heap. The host's blocks have that word (sim_chip.c), so the heaps' figures are the chip's, but
 * it keeps the owners and statistics in host memory (an owner hash table by block, and a record
 * per task and per task and heap), so the statistics take no room in the heaps.
 * sim_chip.c tells it of every block a heap hands out or takes back, freertos_host.c of every
 * task that goes.
 */
#define KRAKEN_SIM_TASK_TRACKING_IMPL /* the API, whatever the build's option */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "esp_heap_task_info.h"
#include "esp_log.h"
#include "freertos/task.h"
#include "sim_internal.h"

#define BUCKETS 4096u /* a power of two */
#define TAG "heap_task_tracking"

typedef struct owner owner_t;

/* One heap a task has allocated from (ESP-IDF's heap_stats_t): its figures and the task's live
 * blocks in it, oldest first. */
typedef struct task_rec task_rec_t;
typedef struct heap_rec {
    const sim_heap_t *heap;
    task_rec_t *task;
    heap_stat_t stat; /* alloc_stat unused (NULL) */
    owner_t *first, *last;
    struct heap_rec *next;
} heap_rec_t;

/* One task that has allocated (ESP-IDF's task_info_t): heaps in the order of first use. */
struct task_rec {
    task_stat_t stat; /* heap_stat unused (NULL) */
    bool retired;     /* deleted, or its handle's host record is gone: the handle's new blocks
                         are not its */
    heap_rec_t *heaps, *last_heap;
    task_rec_t *next;
};

struct owner {
    uintptr_t block;
    TaskHandle_t task;
    uint32_t size;
    heap_rec_t *rec; /* NULL once the task's statistics are gone (deleted, not kept) */
    owner_t *prev, *next_in_rec;
    owner_t *next; /* in the bucket */
};

static pthread_mutex_t owners_lock = PTHREAD_MUTEX_INITIALIZER;
static owner_t *buckets[BUCKETS];
static task_rec_t *tasks; /* by decreasing handle, as ESP-IDF's list (a NULL task last) */
static bool keep_deleted;
_Atomic bool sim_tracking;

/* The arrays heap_caps_alloc_*_task_stat_arrays() handed out: only they are freed as such. */
typedef struct stat_array {
    void *block;
    struct stat_array *next;
} stat_array_t;

static stat_array_t *stat_arrays; /* owners_lock */
_Atomic unsigned sim_stat_arrays;

/* owners_lock held: unlinks block's entry; false when it is no such array. */
static bool unlist_array_locked(const void *block)
{
    for (stat_array_t **at = &stat_arrays; *at != NULL; at = &(*at)->next) {
        stat_array_t *entry = *at;
        if (entry->block == block) {
            *at = entry->next;
            __real_free(entry);
            atomic_fetch_sub(&sim_stat_arrays, 1);
            return true;
        }
    }
    return false;
}


static owner_t **bucket_of(uintptr_t block)
{
    return &buckets[(uint32_t)((block >> 3) * 2654435761u) >> 20]; /* the top 12 bits */
}

static void drop_task_locked(task_rec_t *t)
{
    for (heap_rec_t *h = t->heaps, *next; h != NULL; h = next) {
        next = h->next;
        for (owner_t *o = h->first; o != NULL; o = o->next_in_rec) {
            o->rec = NULL;
        }
        __real_free(h);
    }
    __real_free(t);
}

void sim_owners_boot(bool on, bool keep)
{
    pthread_mutex_lock(&owners_lock);
    while (tasks != NULL) { /* first: it unlinks owners */
        task_rec_t *t = tasks;
        tasks = t->next;
        drop_task_locked(t);
    }
    for (size_t i = 0; i < BUCKETS; i++) {
        while (buckets[i] != NULL) {
            owner_t *o = buckets[i];
            buckets[i] = o->next;
            __real_free(o);
        }
    }
    while (stat_arrays != NULL) { /* their blocks went with the heaps */
        (void)unlist_array_locked(stat_arrays->block);
    }
    keep_deleted = keep;
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

/* owners_lock held: the task's current record, made if new; NULL without host memory, or for a
 * task deleted by another whose thread has not ended yet (its blocks count for no one, as on the
 * chip it would not run again). */
static task_rec_t *task_rec_locked(TaskHandle_t task)
{
    task_rec_t **at = &tasks;
    for (; *at != NULL && (uintptr_t)(*at)->stat.handle >= (uintptr_t)task; at = &(*at)->next) {
        if ((*at)->stat.handle == task && !(*at)->retired) {
            return *at;
        }
    }
    if (task != NULL && sim_task_deleted(task)) {
        return NULL;
    }
    task_rec_t *t = __real_calloc(1, sizeof *t);
    if (t != NULL) {
        t->stat.handle = task;
        t->stat.is_alive = true;
        /* the running task (or the one an ISR interrupted): its name cannot go meanwhile;
         * configMAX_TASK_NAME_LEN - 1 characters kept, as ESP-IDF's */
        const char *name = task != NULL ? pcTaskGetName(task) : "Pre-scheduler";
        for (size_t i = 0; i < sizeof t->stat.name - 1 && name[i] != '\0'; i++) {
            t->stat.name[i] = name[i]; /* the rest zeroed by calloc */
        }
        t->next = *at;
        *at = t;
    }
    return t;
}

static heap_rec_t *heap_rec_locked(task_rec_t *t, const sim_heap_t *heap)
{
    heap_rec_t *h = t->heaps;
    while (h != NULL && h->heap != heap) {
        h = h->next;
    }
    if (h == NULL && (h = __real_calloc(1, sizeof *h)) != NULL) {
        h->heap = heap;
        h->task = t;
        sim_heap_describe(heap, &h->stat.name, &h->stat.caps, &h->stat.size);
        if (t->last_heap != NULL) {
            t->last_heap->next = h;
        } else {
            t->heaps = h;
        }
        t->last_heap = h;
        t->stat.heap_count++;
    }
    return h;
}

/* owners_lock held: the block counts for its task and heap, as their newest. */
static void count_locked(owner_t *o, const sim_heap_t *heap)
{
    task_rec_t *t = task_rec_locked(o->task);
    heap_rec_t *h = t != NULL ? heap_rec_locked(t, heap) : NULL;
    o->rec = h;
    if (h == NULL) { /* the block is the task's, uncounted (no log under locks) */
        return;
    }
    o->prev = h->last;
    o->next_in_rec = NULL;
    *(h->last != NULL ? &h->last->next_in_rec : &h->first) = o;
    h->last = o;
    h->stat.alloc_count++;
    h->stat.current_usage += o->size;
    if (h->stat.current_usage > h->stat.peak_usage) {
        h->stat.peak_usage = h->stat.current_usage;
    }
    t->stat.overall_current_usage += o->size;
    if (t->stat.overall_current_usage > t->stat.overall_peak_usage) {
        t->stat.overall_peak_usage = t->stat.overall_current_usage;
    }
}

/* owners_lock held: the block no longer counts for anyone. */
static void uncount_locked(owner_t *o)
{
    heap_rec_t *h = o->rec;
    if (h == NULL) {
        return;
    }
    *(o->prev != NULL ? &o->prev->next_in_rec : &h->first) = o->next_in_rec;
    *(o->next_in_rec != NULL ? &o->next_in_rec->prev : &h->last) = o->prev;
    h->stat.alloc_count--;
    h->stat.current_usage -= o->size;
    h->task->stat.overall_current_usage -= o->size;
    o->rec = NULL;
}

void sim_owner_record(void *block, void *task, const sim_heap_t *heap)
{
    owner_t *fresh = __real_malloc(sizeof *fresh);
    const uint32_t size = (uint32_t)sim_heap_block_size_locked(heap, block);
    pthread_mutex_lock(&owners_lock);
    owner_t **at = find_locked((uintptr_t)block);
    owner_t *o = *at;
    if (o != NULL) {
        uncount_locked(o);
        __real_free(fresh);
    } else if ((o = fresh) != NULL) { /* without host memory the block stays unowned (NULL) */
        *o = (owner_t){.block = (uintptr_t)block};
        *at = o;
    }
    if (o != NULL) {
        o->task = task;
        o->size = size;
        count_locked(o, heap);
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
        uncount_locked(gone);
    }
    pthread_mutex_unlock(&owners_lock);
    __real_free(gone);
}

void sim_owner_task_gone(void *task, bool deleted)
{
    if (!atomic_load_explicit(&sim_tracking, memory_order_relaxed)) {
        return;
    }
    pthread_mutex_lock(&owners_lock);
    for (task_rec_t **at = &tasks; *at != NULL; at = &(*at)->next) {
        task_rec_t *t = *at;
        if (t->stat.handle != task || t->retired) {
            continue;
        }
        t->retired = true;
        if (deleted) {
            t->stat.is_alive = false;
            if (!keep_deleted) { /* its blocks stay the task's, uncounted */
                *at = t->next;
                drop_task_locked(t);
            }
        }
        break;
    }
    pthread_mutex_unlock(&owners_lock);
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

/* ---- per-task statistics (ESP-IDF v5.5 and later) ---------------------------------------------- */

/* The pointer the allocation returned, after the block's owner word: what v5.5 records (its size
 * is the whole block's, the word included). */
static void *payload(const owner_t *o)
{
    return (void *)(o->block + sim_block_owner_bytes());
}

/* owners_lock held: h's figures, and its blocks oldest first into blocks[*used..] when they all
 * fit in room (else alloc_stat is NULL), as ESP-IDF fills the caller's arrays. */
static void copy_heap_locked(const heap_rec_t *h, heap_stat_t *out, heap_task_block_t *blocks,
                             size_t *used, size_t room)
{
    *out = h->stat;
    out->alloc_stat = NULL;
    if (*used + h->stat.alloc_count > room) {
        return;
    }
    out->alloc_stat = blocks + *used;
    size_t i = 0;
    for (const owner_t *o = h->first; o != NULL; o = o->next_in_rec) {
        out->alloc_stat[i++] = (heap_task_block_t){.task = o->task, .address = payload(o),
                                                   .size = o->size};
    }
    *used += i;
}

static bool arrays_valid(const void *array, size_t count)
{
    return array != NULL || count == 0;
}

esp_err_t heap_caps_get_all_task_stat(heap_all_tasks_stat_t *tasks_stat)
{
    sim_note_isr_call(__func__);
    if (tasks_stat == NULL || !arrays_valid(tasks_stat->stat_arr, tasks_stat->task_count) ||
        !arrays_valid(tasks_stat->heap_stat_start, tasks_stat->heap_count) ||
        !arrays_valid(tasks_stat->alloc_stat_start, tasks_stat->alloc_count)) {
        return ESP_ERR_INVALID_ARG;
    }
    size_t task_index = 0, heap_index = 0, alloc_index = 0;
    pthread_mutex_lock(&owners_lock);
    for (const task_rec_t *t = tasks; t != NULL && task_index < tasks_stat->task_count;
         t = t->next) {
        task_stat_t *out = &tasks_stat->stat_arr[task_index++];
        *out = t->stat;
        out->heap_stat = NULL;
        if (heap_index + t->stat.heap_count > tasks_stat->heap_count) {
            continue; /* its heaps do not fit: none of them is given (a later task's may) */
        }
        out->heap_stat = tasks_stat->heap_stat_start + heap_index;
        heap_index += t->stat.heap_count;
        size_t i = 0;
        for (const heap_rec_t *h = t->heaps; h != NULL; h = h->next) {
            copy_heap_locked(h, &out->heap_stat[i++], tasks_stat->alloc_stat_start, &alloc_index,
                             tasks_stat->alloc_count);
        }
    }
    pthread_mutex_unlock(&owners_lock);
    tasks_stat->task_count = task_index;
    tasks_stat->heap_count = heap_index;
    tasks_stat->alloc_count = alloc_index;
    return ESP_OK;
}

/* owners_lock held: the first record of task in list order, whatever became of it; with
 * alive_only, the first not marked deleted (ESP-IDF's is_alive). */
static const task_rec_t *find_task_locked(TaskHandle_t task, bool alive_only)
{
    const task_rec_t *t = tasks;
    while (t != NULL && (t->stat.handle != task || (alive_only && !t->stat.is_alive))) {
        t = t->next;
    }
    return t;
}

/* owners_lock held: the task's live blocks, every heap. */
static size_t blocks_of_locked(const task_rec_t *t)
{
    size_t n = 0;
    for (const heap_rec_t *h = t->heaps; h != NULL; h = h->next) {
        n += h->stat.alloc_count;
    }
    return n;
}

esp_err_t heap_caps_get_single_task_stat(heap_single_task_stat_t *task_stat,
                                         TaskHandle_t task_handle)
{
    sim_note_isr_call(__func__);
    if (task_stat == NULL || !arrays_valid(task_stat->heap_stat_start, task_stat->heap_count) ||
        !arrays_valid(task_stat->alloc_stat_start, task_stat->alloc_count)) {
        return ESP_ERR_INVALID_ARG;
    }
    const TaskHandle_t task = task_handle != NULL ? task_handle : xTaskGetCurrentTaskHandle();
    size_t heap_index = 0, alloc_index = 0;
    pthread_mutex_lock(&owners_lock);
    const task_rec_t *t = find_task_locked(task, false);
    if (t != NULL) {
        task_stat->stat = t->stat;
        task_stat->stat.heap_stat = task_stat->heap_stat_start;
        /* as many of its heaps as fit, in the order of first use */
        for (const heap_rec_t *h = t->heaps; h != NULL && heap_index < task_stat->heap_count;
             h = h->next) {
            copy_heap_locked(h, &task_stat->heap_stat_start[heap_index++],
                             task_stat->alloc_stat_start, &alloc_index, task_stat->alloc_count);
        }
    }
    pthread_mutex_unlock(&owners_lock);
    if (t == NULL) {
        return ESP_FAIL;
    }
    task_stat->heap_count = heap_index;
    task_stat->alloc_count = alloc_index;
    return ESP_OK;
}

/* owners_lock held. */
static void print_task_locked(FILE *stream, const task_rec_t *t, bool last)
{
    const task_stat_t *s = &t->stat;
    fprintf(stream, "%s %s: %s, CURRENT MEMORY USAGE %zu, PEAK MEMORY USAGE %zu, TOTAL HEAP USED "
                    "%zu:\n",
            last ? "└" : "├", s->is_alive ? "ALIVE" : "DELETED", s->name,
            s->overall_current_usage, s->overall_peak_usage, s->heap_count);
    const char *const bar = last ? " " : "│";
    for (const heap_rec_t *h = t->heaps; h != NULL; h = h->next) {
        const heap_stat_t *hs = &h->stat;
        fprintf(stream, "%s    %s HEAP: %s, CAPS: 0x%08" PRIx32 ", SIZE: %zu, USAGE: CURRENT %zu "
                        "(%zu%%), PEAK %zu (%zu%%), ALLOC COUNT: %zu\n",
                bar, h->next == NULL ? "└" : "├", hs->name, hs->caps, hs->size, hs->current_usage,
                hs->current_usage * 100 / hs->size, hs->peak_usage, hs->peak_usage * 100 / hs->size,
                hs->alloc_count);
        for (const owner_t *o = h->first; o != NULL; o = o->next_in_rec) {
            fprintf(stream, "%s    %s    ├ ALLOC %p, SIZE %" PRIu32 "\n", bar,
                    h->next == NULL ? " " : "│", payload(o), o->size);
        }
    }
}

/* owners_lock held. */
static void print_overview_locked(FILE *stream, const task_rec_t *t, bool first, bool last)
{
    if (first) {
        fputs("┌────────────────────┬─────────┬──────────────────────┬───────────────────┬"
              "─────────────────┐\n"
              "│ TASK               │ STATUS  │ CURRENT MEMORY USAGE │ PEAK MEMORY USAGE │"
              " TOTAL HEAP USED │\n"
              "├────────────────────┼─────────┼──────────────────────┼───────────────────┼"
              "─────────────────┤\n",
              stream);
    }
    fprintf(stream, "│ %18s │ %7s │ %20zu │ %17zu │ %15zu │\n", t->stat.name,
            t->stat.is_alive ? "ALIVE  " : "DELETED", t->stat.overall_current_usage,
            t->stat.overall_peak_usage, t->stat.heap_count);
    if (last) {
        fputs("└────────────────────┴─────────┴──────────────────────┴───────────────────┴"
              "─────────────────┘\n",
              stream);
    }
}

void heap_caps_print_all_task_stat(FILE *stream)
{
    sim_note_isr_call(__func__);
    pthread_mutex_lock(&owners_lock);
    for (const task_rec_t *t = tasks; t != NULL; t = t->next) {
        print_task_locked(stream != NULL ? stream : stdout, t, t->next == NULL);
    }
    pthread_mutex_unlock(&owners_lock);
}

void heap_caps_print_all_task_stat_overview(FILE *stream)
{
    sim_note_isr_call(__func__);
    pthread_mutex_lock(&owners_lock);
    for (const task_rec_t *t = tasks; t != NULL; t = t->next) {
        print_overview_locked(stream != NULL ? stream : stdout, t, t == tasks, t->next == NULL);
    }
    pthread_mutex_unlock(&owners_lock);
}

/* The tree or the table row of task_handle (NULL: the caller), if it has statistics. */
static void print_one(FILE *stream, TaskHandle_t task_handle, bool overview)
{
    const TaskHandle_t task = task_handle != NULL ? task_handle : xTaskGetCurrentTaskHandle();
    stream = stream != NULL ? stream : stdout;
    pthread_mutex_lock(&owners_lock);
    const task_rec_t *t = find_task_locked(task, false);
    if (t != NULL && overview) {
        print_overview_locked(stream, t, true, true);
    } else if (t != NULL) {
        print_task_locked(stream, t, true);
    }
    pthread_mutex_unlock(&owners_lock);
}

void heap_caps_print_single_task_stat(FILE *stream, TaskHandle_t task_handle)
{
    sim_note_isr_call(__func__);
    print_one(stream, task_handle, false);
}

void heap_caps_print_single_task_stat_overview(FILE *stream, TaskHandle_t task_handle)
{
    sim_note_isr_call(__func__);
    print_one(stream, task_handle, true);
}

/* n elements of size bytes from the biggest heap into *out; false (nothing taken) when there is
 * no room. n 0: none needed. */
static bool take_array(void **out, size_t n, size_t size)
{
    *out = NULL;
    if (n == 0) {
        return true;
    }
    stat_array_t *entry = __real_malloc(sizeof *entry);
    void *block = entry != NULL && n <= SIZE_MAX / size ? sim_alloc_in_biggest_heap(n * size)
                                                        : NULL;
    if (block == NULL) {
        __real_free(entry);
        return false;
    }
    pthread_mutex_lock(&owners_lock);
    *entry = (stat_array_t){.block = block, .next = stat_arrays};
    stat_arrays = entry;
    atomic_fetch_add(&sim_stat_arrays, 1);
    pthread_mutex_unlock(&owners_lock);
    *out = block;
    return true;
}

bool sim_is_stat_array(const void *block)
{
    pthread_mutex_lock(&owners_lock);
    const stat_array_t *entry = stat_arrays;
    while (entry != NULL && entry->block != block) {
        entry = entry->next;
    }
    pthread_mutex_unlock(&owners_lock);
    return entry != NULL;
}

/* Frees an array take_array() handed out (NULL: nothing); refuses, aloud, anything else. */
static void give_back(void *block, const char *fn)
{
    if (block == NULL) {
        return;
    }
    pthread_mutex_lock(&owners_lock);
    const bool listed = unlist_array_locked(block);
    pthread_mutex_unlock(&owners_lock);
    if (listed) {
        sim_free_untracked(block);
    } else {
        sim_count_invalid_free();
        ESP_LOGE(TAG, "%s(%p): not an array of heap_caps_alloc_*_task_stat_arrays(): refused "
                      "(ESP-IDF would corrupt its heap)",
                 fn, block);
    }
}

/* The free helpers' NULL: ESP-IDF reads its fields (a crash on the chip). Refused aloud and
 * counted as an invalid free; false for it. */
static bool stat_arrays_given(const void *stat, const char *fn)
{
    if (stat == NULL) {
        sim_count_invalid_free();
        ESP_LOGE(TAG, "%s(NULL): refused (ESP-IDF would crash on it)", fn);
    }
    return stat != NULL;
}

esp_err_t heap_caps_alloc_single_task_stat_arrays(heap_single_task_stat_t *task_stat,
                                                  TaskHandle_t task_handle)
{
    sim_note_isr_call(__func__);
    if (task_stat == NULL) {
        ESP_LOGE(TAG, "%s: no task_stat (ESP-IDF would crash on it)", __func__);
        return ESP_ERR_INVALID_ARG;
    }
    const TaskHandle_t task = task_handle != NULL ? task_handle : xTaskGetCurrentTaskHandle();
    size_t heaps = 0, allocs = 0;
    pthread_mutex_lock(&owners_lock);
    /* as ESP-IDF, the first record of the handle still alive: a deleted task's gets none; one
     * whose TCB was never freed (a static task, an ended thread) is alive */
    const task_rec_t *t = find_task_locked(task, true);
    if (t != NULL) {
        heaps = t->stat.heap_count;
        allocs = blocks_of_locked(t);
    }
    pthread_mutex_unlock(&owners_lock);
    void *heap_stats, *blocks;
    if (!take_array(&heap_stats, heaps, sizeof(heap_stat_t)) ||
        !take_array(&blocks, allocs, sizeof(heap_task_block_t))) {
        give_back(heap_stats, __func__);
        *task_stat = (heap_single_task_stat_t){0};
        return ESP_FAIL;
    }
    task_stat->heap_stat_start = heap_stats;
    task_stat->heap_count = heaps;
    task_stat->alloc_stat_start = blocks;
    task_stat->alloc_count = allocs;
    return ESP_OK;
}

void heap_caps_free_single_task_stat_arrays(heap_single_task_stat_t *task_stat)
{
    sim_note_isr_call(__func__);
    if (stat_arrays_given(task_stat, __func__)) {
        give_back(task_stat->heap_stat_start, __func__);
        give_back(task_stat->alloc_stat_start, __func__);
        task_stat->heap_stat_start = NULL;
        task_stat->alloc_stat_start = NULL;
        task_stat->heap_count = 0;
        task_stat->alloc_count = 0;
    }
}

esp_err_t heap_caps_alloc_all_task_stat_arrays(heap_all_tasks_stat_t *tasks_stat)
{
    sim_note_isr_call(__func__);
    if (tasks_stat == NULL) {
        ESP_LOGE(TAG, "%s: no tasks_stat (ESP-IDF would crash on it)", __func__);
        return ESP_ERR_INVALID_ARG;
    }
    size_t count = 0, heaps = 0, allocs = 0;
    pthread_mutex_lock(&owners_lock);
    for (const task_rec_t *t = tasks; t != NULL; t = t->next) {
        count++;
        heaps += t->stat.heap_count;
        allocs += blocks_of_locked(t);
    }
    pthread_mutex_unlock(&owners_lock);
    void *stats, *heap_stats = NULL, *blocks;
    if (!take_array(&stats, count, sizeof(task_stat_t)) ||
        !take_array(&heap_stats, heaps, sizeof(heap_stat_t)) ||
        !take_array(&blocks, allocs, sizeof(heap_task_block_t))) {
        give_back(stats, __func__);
        give_back(heap_stats, __func__);
        *tasks_stat = (heap_all_tasks_stat_t){0};
        return ESP_FAIL;
    }
    *tasks_stat = (heap_all_tasks_stat_t){.task_count = count, .stat_arr = stats,
                                          .heap_count = heaps, .heap_stat_start = heap_stats,
                                          .alloc_count = allocs, .alloc_stat_start = blocks};
    return ESP_OK;
}

void heap_caps_free_all_task_stat_arrays(heap_all_tasks_stat_t *tasks_stat)
{
    sim_note_isr_call(__func__);
    if (stat_arrays_given(tasks_stat, __func__)) {
        give_back(tasks_stat->stat_arr, __func__);
        give_back(tasks_stat->heap_stat_start, __func__);
        give_back(tasks_stat->alloc_stat_start, __func__);
        *tasks_stat = (heap_all_tasks_stat_t){0};
    }
}
