/*
 * sim_multi_heap.c - ESP-IDF's multi_heap.h on the host: the simulator's TLSF over memory the
 * caller gives, behind an optional lock, with ESP-IDF's argument checks (multi_heap.c). What the
 * chip asserts on is refused and counted instead (multi_heap.h says which).
 */
#include "multi_heap.h"

#include <pthread.h>
#include <stdio.h>

#include "esp_log.h"
#include "sim_internal.h"
#include "tlsf_heap.h"

static const char *const TAG = "multi_heap";

/* At the (aligned) start of the caller's memory; the TLSF heap follows. */
struct multi_heap_info {
    pthread_mutex_t *lock;
    tlsf_heap_t *tlsf;
};

static uintptr_t align_up(uintptr_t v)
{
    return (v + TLSF_HEAP_ALIGN - 1u) & ~(uintptr_t)(TLSF_HEAP_ALIGN - 1u);
}

static void lock(multi_heap_handle_t heap)
{
    if (heap->lock != NULL) {
        pthread_mutex_lock(heap->lock);
    }
}

static void unlock(multi_heap_handle_t heap)
{
    if (heap->lock != NULL) {
        pthread_mutex_unlock(heap->lock);
    }
}

static void refuse(const char *function, multi_heap_handle_t heap, const void *p)
{
    ESP_LOGE(TAG, "%s(%p, %p): not a live block of this heap (double free?): ignored", function,
             (void *)heap, p);
    sim_count_invalid_free();
}

multi_heap_handle_t multi_heap_register(void *start, size_t size)
{
    if (start == NULL || (uintptr_t)start % 4 != 0) { /* the chip's TLSF refuses it too */
        return NULL;
    }
    const uintptr_t begin = (uintptr_t)start;
    const uintptr_t handle = align_up(begin);
    const uintptr_t region = align_up(handle + sizeof(struct multi_heap_info));
    if (region - begin >= size) {
        return NULL;
    }
    tlsf_heap_t *tlsf = tlsf_heap_create((void *)region, size - (region - begin));
    if (tlsf == NULL) {
        return NULL;
    }
    struct multi_heap_info *heap = (struct multi_heap_info *)handle;
    SIM_UNPOISON(heap, sizeof *heap); /* a heap registered here before may have poisoned it */
    heap->lock = NULL;
    heap->tlsf = tlsf;
    return heap;
}

void multi_heap_set_lock(multi_heap_handle_t heap, void *lock_ptr)
{
    if (heap != NULL) {
        heap->lock = lock_ptr;
    }
}

void *multi_heap_malloc(multi_heap_handle_t heap, size_t size)
{
    if (heap == NULL || size == 0) {
        return NULL;
    }
    lock(heap);
    void *p = tlsf_heap_malloc(heap->tlsf, size);
    unlock(heap);
    return p;
}

void *multi_heap_aligned_alloc_offs(multi_heap_handle_t heap, size_t size, size_t alignment,
                                    size_t offset)
{
    if (heap == NULL || size == 0) {
        return NULL;
    }
    lock(heap);
    void *p = tlsf_heap_memalign_offs(heap->tlsf, alignment, size, offset);
    unlock(heap);
    return p;
}

void *multi_heap_aligned_alloc(multi_heap_handle_t heap, size_t size, size_t alignment)
{
    return multi_heap_aligned_alloc_offs(heap, size, alignment, 0);
}

void multi_heap_free(multi_heap_handle_t heap, void *p)
{
    if (heap == NULL || p == NULL) {
        return;
    }
    lock(heap);
    const tlsf_free_result_t result = tlsf_heap_free(heap->tlsf, p);
    unlock(heap);
    if (result != TLSF_FREE_OK) {
        refuse(__func__, heap, p);
    }
}

void multi_heap_aligned_free(multi_heap_handle_t heap, void *p)
{
    multi_heap_free(heap, p);
}

void *multi_heap_realloc(multi_heap_handle_t heap, void *p, size_t size)
{
    if (heap == NULL) {
        return NULL;
    }
    if (p == NULL) {
        return multi_heap_malloc(heap, size);
    }
    lock(heap);
    const bool live = tlsf_heap_block_size(heap->tlsf, p) != 0;
    void *result = live ? tlsf_heap_realloc(heap->tlsf, p, size) : NULL;
    unlock(heap);
    if (!live) {
        refuse(__func__, heap, p);
    }
    return result;
}

size_t multi_heap_get_allocated_size(multi_heap_handle_t heap, void *p)
{
    if (heap == NULL || p == NULL) {
        return 0;
    }
    lock(heap);
    const size_t size = tlsf_heap_block_size(heap->tlsf, p);
    unlock(heap);
    return size;
}

size_t multi_heap_get_full_block_size(multi_heap_handle_t heap, void *p)
{
    return multi_heap_get_allocated_size(heap, p);
}

/* One of the TLSF's figures under the heap's lock; 0 for a NULL heap. */
static size_t figure(multi_heap_handle_t heap, size_t (*read)(const tlsf_heap_t *))
{
    if (heap == NULL) {
        return 0;
    }
    lock(heap);
    const size_t bytes = read(heap->tlsf);
    unlock(heap);
    return bytes;
}

size_t multi_heap_free_size(multi_heap_handle_t heap)
{
    return figure(heap, tlsf_heap_free_bytes);
}

size_t multi_heap_minimum_free_size(multi_heap_handle_t heap)
{
    return figure(heap, tlsf_heap_min_free_bytes);
}

size_t multi_heap_reset_minimum_free_bytes(multi_heap_handle_t heap)
{
    if (heap == NULL) {
        return 0;
    }
    lock(heap);
    const size_t before = tlsf_heap_min_free_bytes(heap->tlsf);
    tlsf_heap_reset_min_free(heap->tlsf);
    unlock(heap);
    return before;
}

void multi_heap_restore_minimum_free_bytes(multi_heap_handle_t heap,
                                           const size_t new_minimum_free_bytes_value)
{
    if (heap == NULL) {
        return;
    }
    lock(heap);
    tlsf_heap_restore_min_free(heap->tlsf, new_minimum_free_bytes_value);
    unlock(heap);
}

void multi_heap_get_info(multi_heap_handle_t heap, multi_heap_info_t *info)
{
    if (info == NULL) {
        return;
    }
    *info = (multi_heap_info_t){0};
    if (heap == NULL) {
        return;
    }
    lock(heap);
    const tlsf_heap_t *t = heap->tlsf;
    *info = (multi_heap_info_t){
        .total_free_bytes = tlsf_heap_free_bytes(t),
        .total_allocated_bytes = tlsf_heap_allocated_bytes(t),
        .largest_free_block = tlsf_heap_largest_free(t),
        .minimum_free_bytes = tlsf_heap_min_free_bytes(t),
        .allocated_blocks = tlsf_heap_allocated_blocks(t),
        .free_blocks = tlsf_heap_free_blocks(t),
        .total_blocks = tlsf_heap_allocated_blocks(t) + tlsf_heap_free_blocks(t),
    };
    unlock(heap);
}

bool multi_heap_check(multi_heap_handle_t heap, bool print_errors)
{
    if (heap == NULL) {
        return false;
    }
    lock(heap);
    const bool valid = tlsf_heap_check(heap->tlsf);
    unlock(heap);
    if (!valid && print_errors) {
        fprintf(stderr, "CORRUPT HEAP: multi_heap %p fails its integrity check\n", (void *)heap);
    }
    return valid;
}

typedef struct {
    multi_heap_walker_cb_t fn;
    void *user_data;
} walk_t;

static bool walk_one(void *payload, size_t size, bool used, void *ctx)
{
    const walk_t *walk = ctx;
    return walk->fn(payload, size, used ? 1 : 0, walk->user_data);
}

void multi_heap_walk(multi_heap_handle_t heap, multi_heap_walker_cb_t walker_func, void *user_data)
{
    if (heap == NULL || walker_func == NULL) {
        return;
    }
    walk_t walk = {walker_func, user_data};
    lock(heap);
    tlsf_heap_walk(heap->tlsf, walk_one, &walk);
    unlock(heap);
}

static bool dump_one(void *block_ptr, size_t block_size, int block_used, void *user_data)
{
    (void)user_data;
    fprintf(stderr, "Block %p data, size: %u bytes, Free: %s \n", block_ptr, (unsigned)block_size,
            block_used ? "No" : "Yes");
    return true;
}

void multi_heap_dump(multi_heap_handle_t heap)
{
    if (heap == NULL) {
        return;
    }
    fprintf(stderr, "Showing data for heap: %p \n", (void *)heap);
    multi_heap_walk(heap, dump_one, NULL);
}

void *multi_heap_find_containing_block(multi_heap_handle_t heap, void *ptr)
{
    if (heap == NULL) {
        return NULL;
    }
    void *payload = NULL;
    lock(heap);
    const size_t size = tlsf_heap_containing_block_size(heap->tlsf, ptr, &payload);
    unlock(heap);
    return size != 0 ? payload : NULL;
}
