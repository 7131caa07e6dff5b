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
 * aligned_alloc(), memalign() and posix_memalign() are wrapped too: ESP-IDF routes them to
 * heap_caps_aligned_alloc_default().
 *
 * A block from memory_pool.h passed to free() or realloc() is refused (sim_refuse_pool_block).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "esp_heap_caps.h"
#include "sim_internal.h"

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *ptr, size_t size);
void __wrap_free(void *ptr);
void *__wrap_aligned_alloc(size_t alignment, size_t size);
void *__wrap_memalign(size_t alignment, size_t size);
int __wrap_posix_memalign(void **out, size_t alignment, size_t size);
size_t __wrap_malloc_usable_size(void *ptr);
size_t __real_malloc_usable_size(void *ptr);

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

void *__wrap_realloc(void *ptr, size_t size)
{
    if (ptr != NULL && !sim_owns(ptr)) {
        return __real_realloc(ptr, size);
    }
    if (ptr != NULL && sim_refuse_pool_block(ptr, "realloc")) {
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
    } else {
        sim_free(ptr, "free");
    }
}

/* ESP-IDF's newlib glue sends the aligned forms to heap_caps_aligned_alloc_default() too. */
void *__wrap_aligned_alloc(size_t alignment, size_t size)
{
    return sim_aligned_alloc_default(alignment, size);
}

void *__wrap_memalign(size_t alignment, size_t size)
{
    return sim_aligned_alloc_default(alignment, size);
}

int __wrap_posix_memalign(void **out, size_t alignment, size_t size)
{
    if (size == 0) { /* ESP-IDF: NULL for size 0 is allowed, not an error */
        *out = NULL;
        return 0;
    }
    void *ptr = sim_aligned_alloc_default(alignment, size);
    if (ptr == NULL) {
        return ENOMEM; /* *out left alone, as ESP-IDF does */
    }
    *out = ptr;
    return 0;
}

/* ESP-IDF's newlib glue defines malloc_usable_size() as 0 for every pointer; glibc's would read a
 * header the simulated heap does not have. */
size_t __wrap_malloc_usable_size(void *ptr)
{
    return ptr != NULL && !sim_owns(ptr) ? __real_malloc_usable_size(ptr) : 0;
}
