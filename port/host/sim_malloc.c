/*
 * sim_malloc.c - plain malloc()/calloc()/realloc()/free() on the simulated chip.
 *
 * Code linked with the library is built with -Wl,--wrap=malloc,... (cmake/kraken_host.cmake), so
 * its calls land here, as ESP-IDF's libc routes them to heap_caps: malloc and calloc take
 * heap_caps_malloc_default() (ESP-IDF's malloc() policy), free and realloc go by address: a
 * pointer in the simulator's memory belongs to the simulated heaps, anything else (strdup,
 * getline, fopen buffers: libc allocates those with its own, unwrapped malloc) to libc. In ASan and
 * TSan builds __real_* resolve to the sanitizer's interceptors, so libc pointers stay checked.
 * Nothing here calls a wrapped function: no recursion.
 *
 * A block from memory_pool.h (pool, heap fallback or oversize) passed to free() or realloc() is
 * refused: logged, counted as an invalid free, left alone. On the chip free() would release a heap
 * block behind the pools' back (their table keeps it live and may later free someone else's block
 * at that address) or corrupt the heap with a pool block.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "sim_internal.h"

/* memory_pool.h's query. Weak: a program that does not use the pools does not link memory_pool.o
 * (a weak reference pulls nothing out of a static library), and then it is NULL. */
bool memory_pool_owns(const void *ptr) __attribute__((weak));

static const char *const TAG = "heap_caps";

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *ptr, size_t size);
void __wrap_free(void *ptr);

void *__wrap_malloc(size_t size)
{
    return heap_caps_malloc_default(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    /* ESP-IDF's calloc(): an overflowing n * size is NULL without the failed-allocation hook. */
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        return NULL;
    }
    void *ptr = heap_caps_malloc_default(bytes);
    if (ptr != NULL) {
        memset(ptr, 0, bytes);
    }
    return ptr;
}

/* True (after logging and counting; no lock held) when ptr is a live block of the memory pools. */
static bool refuse_pool_block(void *ptr, const char *function_name)
{
    if (memory_pool_owns == NULL || !memory_pool_owns(ptr)) {
        return false;
    }
    sim_count_invalid_free();
    ESP_LOGE(TAG, "%s(%p): a memory_pool block, release it with memory_pool_free(); ignored",
             function_name, ptr);
    return true;
}

void *__wrap_realloc(void *ptr, size_t size)
{
    if (ptr != NULL && !sim_owns(ptr)) {
        return __real_realloc(ptr, size);
    }
    if (ptr != NULL && refuse_pool_block(ptr, "realloc")) {
        return NULL; /* as a failed realloc: the block stays valid */
    }
    return heap_caps_realloc_default(ptr, size);
}

void __wrap_free(void *ptr)
{
    if (ptr == NULL) {
        return;
    }
    if (!sim_owns(ptr)) {
        __real_free(ptr);
    } else if (!refuse_pool_block(ptr, "free")) {
        heap_caps_free(ptr);
    }
}
