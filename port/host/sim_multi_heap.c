/*
 * sim_multi_heap.c - ESP-IDF's multi_heap.h on the host: the simulator's TLSF over memory the
 * caller gives, behind an optional lock, with ESP-IDF's argument checks (multi_heap.c). What the
 * chip asserts on is refused and counted instead (multi_heap.h says which).
 */
#include "multi_heap.h"

#include <stdio.h>

#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "sim_internal.h"
#include "tlsf_heap.h"

static const char *const TAG = "multi_heap";

/* The handle is the TLSF heap, which lays the region out as multi_heap_register() does on the chip
 * (its heap_t, then TLSF's control structure) and keeps the lock pointer in the heap_t's bytes. */
static tlsf_heap_t *tlsf_of(multi_heap_handle_t heap)
{
    return (tlsf_heap_t *)(void *)heap;
}

/* The lock is a portMUX_TYPE, taken as ESP-IDF's MULTI_HEAP_LOCK does (portENTER_CRITICAL_SAFE). */
static void lock(multi_heap_handle_t heap)
{
    portMUX_TYPE *mux = tlsf_heap_user(tlsf_of(heap));
    if (mux != NULL) {
        portENTER_CRITICAL_SAFE(mux);
    }
}

static void unlock(multi_heap_handle_t heap)
{
    portMUX_TYPE *mux = tlsf_heap_user(tlsf_of(heap));
    if (mux != NULL) {
        portEXIT_CRITICAL_SAFE(mux);
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
    /* a 64-bit host's granularity is 8: a start 4 mod 8 loses its first 4 bytes */
    const size_t skip = (size_t)(-(uintptr_t)start & (TLSF_HEAP_ALIGN - 1u));
    if (skip >= size) {
        return NULL;
    }
    return (multi_heap_handle_t)(void *)tlsf_heap_create((char *)start + skip, size - skip);
}

void multi_heap_set_lock(multi_heap_handle_t heap, void *lock_ptr)
{
    if (heap != NULL) {
        tlsf_heap_set_user(tlsf_of(heap), lock_ptr);
    }
}

void *multi_heap_malloc(multi_heap_handle_t heap, size_t size)
{
    if (heap == NULL || size == 0) {
        return NULL;
    }
    lock(heap);
    void *p = tlsf_heap_malloc(tlsf_of(heap), size);
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
    void *p = tlsf_heap_memalign_offs(tlsf_of(heap), alignment, size, offset);
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
    const tlsf_free_result_t result = tlsf_heap_free(tlsf_of(heap), p);
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
    const bool live = tlsf_heap_block_size(tlsf_of(heap), p) != 0;
    void *result = live ? tlsf_heap_realloc(tlsf_of(heap), p, size) : NULL;
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
    const size_t size = tlsf_heap_block_size(tlsf_of(heap), p);
    unlock(heap);
    /* the whole block is the caller's once it asked (as heap_caps_get_allocated_size makes it) */
    SIM_UNPOISON(p, size);
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
    const size_t bytes = read(tlsf_of(heap));
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
    const size_t before = tlsf_heap_min_free_bytes(tlsf_of(heap));
    tlsf_heap_reset_min_free(tlsf_of(heap));
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
    tlsf_heap_restore_min_free(tlsf_of(heap), new_minimum_free_bytes_value);
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
    const tlsf_heap_t *t = tlsf_of(heap);
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
    const bool valid = tlsf_heap_check(tlsf_of(heap));
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

/* TLSF's default walker, which tlsf_walk_pool() takes for a NULL one: each block on stdout with
 * the chip's header address (8 bytes before the payload on the 32-bit chip). */
static bool print_block(void *block_ptr, size_t block_size, int block_used, void *user_data)
{
    (void)user_data;
    printf("\t%p %s size: %x (%p)\n", block_ptr, block_used ? "used" : "free", (unsigned)block_size,
           (void *)((char *)block_ptr - 8));
    return true;
}

void multi_heap_walk(multi_heap_handle_t heap, multi_heap_walker_cb_t walker_func, void *user_data)
{
    if (heap == NULL) {
        return;
    }
    walk_t walk = {walker_func != NULL ? walker_func : print_block, user_data};
    lock(heap);
    tlsf_heap_walk(tlsf_of(heap), walk_one, &walk);
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
    const size_t size = tlsf_heap_containing_block_size(tlsf_of(heap), ptr, &payload);
    unlock(heap);
    return size != 0 ? payload : NULL;
}
