/*
 * sim_malloc.c - plain malloc()/calloc()/realloc()/free() on the simulated chip.
 *
 * Code linked with the library is built with -Wl,--wrap=malloc,... (cmake/kraken_host.cmake), so
 * its calls land here, as ESP-IDF's libc routes them to heap_caps: malloc and calloc take
 * heap_caps_malloc_default() (ESP-IDF's malloc() policy), free and realloc go by address: a
 * pointer in the simulator's memory belongs to the simulated heaps, anything else (fopen buffers,
 * realpath: libc allocates those with its own, unwrapped malloc) to libc. In ASan and
 * TSan builds __real_* resolve to the sanitizer's interceptors, so libc pointers stay checked.
 * Nothing here calls a wrapped function: no recursion.
 *
 * aligned_alloc(), memalign() and posix_memalign() are wrapped too: ESP-IDF routes them to
 * heap_caps_aligned_alloc_default(); valloc() and pvalloc() are malloc() there, and here;
 * mallinfo(), malloc_trim(), mallopt() and malloc_stats() are stubs there, and here. So are
 * the libc calls that grow a buffer the caller passes: reallocarray(), getline() and getdelim()
 * (glibc would hand a simulated buffer to its own realloc, which aborts; ESP-IDF's newlib grows it
 * with heap_caps_realloc_default()). And the calls that return a new string: strdup(), strndup(),
 * asprintf(), vasprintf() (newlib takes it from malloc(), so it is a heap block that
 * heap_caps_free() and the heap figures know).
 *
 * A block from memory_pool.h passed to free() or realloc() is refused (sim_refuse_pool_block).
 */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "esp_heap_caps.h"
#include "sim_internal.h"

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *ptr, size_t size);
void __wrap_free(void *ptr);
void *__wrap_aligned_alloc(size_t alignment, size_t size);
void *__wrap_valloc(size_t size);
void *__wrap_pvalloc(size_t size);
void *__wrap_memalign(size_t alignment, size_t size);
int __wrap_posix_memalign(void **out, size_t alignment, size_t size);
size_t __wrap_malloc_usable_size(void *ptr);
size_t __real_malloc_usable_size(void *ptr);
struct mallinfo __wrap_mallinfo(void);
int __wrap_malloc_trim(size_t pad);
int __wrap_mallopt(int param, int value);
void __wrap_malloc_stats(void);
void *__wrap_reallocarray(void *ptr, size_t n, size_t size);
ssize_t __wrap_getdelim(char **line, size_t *capacity, int delim, FILE *stream);
ssize_t __wrap_getline(char **line, size_t *capacity, FILE *stream);
ssize_t __wrap___getdelim(char **line, size_t *capacity, int delim, FILE *stream);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t max);
int __wrap_vasprintf(char **out, const char *format, va_list args)
    __attribute__((format(printf, 2, 0)));
int __wrap_asprintf(char **out, const char *format, ...) __attribute__((format(printf, 2, 3)));
int __wrap___vasprintf_chk(char **out, int flag, const char *format, va_list args)
    __attribute__((format(printf, 3, 0)));
int __wrap___asprintf_chk(char **out, int flag, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
ssize_t __real_getdelim(char **line, size_t *capacity, int delim, FILE *stream);
void __real_free(void *ptr);

SIM_HEAP_API void *__wrap_malloc(size_t size)
{
    return heap_caps_malloc_default(size);
}

SIM_HEAP_API void *__wrap_calloc(size_t n, size_t size)
{
    /* ESP-IDF's calloc(): an overflowing n * size is NULL without the failed-allocation hook. */
    size_t bytes;
    if (sim_chip_mul_overflow(n, size, &bytes)) {
        return NULL;
    }
    void *ptr = heap_caps_malloc_default(bytes);
    if (ptr != NULL) {
        memset(ptr, 0, bytes);
    }
    return ptr;
}

/* realloc() called from `caller` (for the report of a refused pool block). */
SIM_HEAP_API static void *realloc_from(void *ptr, size_t size, const void *caller)
{
    if (ptr != NULL && !sim_owns(ptr)) {
        return __real_realloc(ptr, size);
    }
    if (ptr != NULL && sim_refuse_pool_block(ptr, "realloc", caller)) {
        sim_note_isr_call("realloc"); /* heap_caps_realloc_default counts the others */
        return NULL; /* as a failed realloc: the block stays valid */
    }
    return heap_caps_realloc_default(ptr, size);
}

SIM_HEAP_API void *__wrap_realloc(void *ptr, size_t size)
{
    return realloc_from(ptr, size, __builtin_return_address(0));
}

SIM_HEAP_API void __wrap_free(void *ptr)
{
    if (ptr == NULL) {
        return;
    }
    if (!sim_owns(ptr)) {
        __real_free(ptr);
    } else {
        sim_free(ptr, "free", __builtin_return_address(0));
    }
}

/* ESP-IDF's newlib glue makes valloc() and pvalloc() aliases of malloc() (no page alignment). */
SIM_HEAP_API void *__wrap_valloc(size_t size)
{
    return heap_caps_malloc_default(size);
}

SIM_HEAP_API void *__wrap_pvalloc(size_t size)
{
    return heap_caps_malloc_default(size);
}

/* ESP-IDF's newlib glue sends the aligned forms to heap_caps_aligned_alloc_default() too. */
SIM_HEAP_API void *__wrap_aligned_alloc(size_t alignment, size_t size)
{
    return sim_aligned_alloc_default(alignment, size);
}

SIM_HEAP_API void *__wrap_memalign(size_t alignment, size_t size)
{
    return sim_aligned_alloc_default(alignment, size);
}

SIM_HEAP_API int __wrap_posix_memalign(void **out, size_t alignment, size_t size)
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

/* ESP-IDF's newlib glue stubs these out (heap.c), so that newlib's own allocator is never linked
 * in: mallinfo() is all zeros, malloc_trim() and mallopt() fail (0), malloc_stats() prints
 * nothing. glibc's would describe glibc's arena, which the simulated heaps are not part of. */
struct mallinfo __wrap_mallinfo(void)
{
    const struct mallinfo none = {0};
    return none;
}

int __wrap_malloc_trim(size_t pad)
{
    (void)pad;
    return 0;
}

int __wrap_mallopt(int param, int value)
{
    (void)param;
    (void)value;
    return 0;
}

void __wrap_malloc_stats(void)
{
}

/* newlib's reallocarray(): the product checked, then realloc(). */
SIM_HEAP_API void *__wrap_reallocarray(void *ptr, size_t n, size_t size)
{
    size_t bytes;
    if (sim_chip_mul_overflow(n, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc_from(ptr, bytes, __builtin_return_address(0));
}

/* A NULL buffer (allocated here, as newlib's getdelim() allocates it with realloc()) or a
 * simulated one: libc reads the line into a buffer of its own, which is then copied into the
 * caller's, grown as newlib grows it (128 bytes at first, then doubled: each step a realloc(),
 * which heap tracing sees). Other buffers: libc as usual. */
SIM_HEAP_API ssize_t __wrap_getdelim(char **line, size_t *capacity, int delim, FILE *stream)
{
    if (line == NULL || capacity == NULL || (*line != NULL && !sim_owns(*line))) {
        return __real_getdelim(line, capacity, delim, stream);
    }
    if (*line == NULL || *capacity < 4) {
        char *first = realloc_from(*line, 128, __builtin_return_address(0));
        if (first == NULL) {
            errno = ENOMEM;
            return -1;
        }
        *line = first;
        *capacity = 128;
    }
    char *read = NULL;
    size_t read_capacity = 0;
    ssize_t len = __real_getdelim(&read, &read_capacity, delim, stream);
    while (len >= 0 && (size_t)len >= *capacity) {
        char *grown = realloc_from(*line, *capacity * 2, __builtin_return_address(0));
        if (grown == NULL) {
            len = -1;
            errno = ENOMEM;
        } else {
            *line = grown;
            *capacity *= 2;
        }
    }
    if (len >= 0) {
        memcpy(*line, read, (size_t)len + 1);
    }
    __real_free(read); /* libc's: its getdelim allocated it */
    return len;
}

SIM_HEAP_API ssize_t __wrap_getline(char **line, size_t *capacity, FILE *stream)
{
    return __wrap_getdelim(line, capacity, '\n', stream);
}

/* glibc's inline getline() (optimised builds with _GNU_SOURCE) calls __getdelim. */
SIM_HEAP_API ssize_t __wrap___getdelim(char **line, size_t *capacity, int delim, FILE *stream)
{
    return __wrap_getdelim(line, capacity, delim, stream);
}

static char *string_of(const char *s, size_t n)
{
    char *copy = heap_caps_malloc_default(n + 1);
    if (copy == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(copy, s, n);
    copy[n] = '\0';
    return copy;
}

SIM_HEAP_API char *__wrap_strdup(const char *s)
{
    return string_of(s, strlen(s));
}

SIM_HEAP_API char *__wrap_strndup(const char *s, size_t max)
{
    return string_of(s, strnlen(s, max));
}

SIM_HEAP_API int __wrap_vasprintf(char **out, const char *format, va_list args)
{
    va_list again;
    va_copy(again, args);
    const int n = vsnprintf(NULL, 0, format, args); /* < 0: errno says why */
    char *text = n >= 0 ? heap_caps_malloc_default((size_t)n + 1) : NULL;
    if (text == NULL) {
        va_end(again);
        *out = NULL;
        if (n >= 0) {
            errno = ENOMEM;
        }
        return -1;
    }
    vsnprintf(text, (size_t)n + 1, format, again);
    va_end(again);
    *out = text;
    return n;
}

SIM_HEAP_API int __wrap_asprintf(char **out, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    const int n = __wrap_vasprintf(out, format, args);
    va_end(args);
    return n;
}

/* glibc's _FORTIFY_SOURCE turns asprintf() and vasprintf() into these (flag: the checking level). */
SIM_HEAP_API int __wrap___vasprintf_chk(char **out, int flag, const char *format, va_list args)
{
    (void)flag;
    return __wrap_vasprintf(out, format, args);
}

SIM_HEAP_API int __wrap___asprintf_chk(char **out, int flag, const char *format, ...)
{
    (void)flag;
    va_list args;
    va_start(args, format);
    const int n = __wrap_vasprintf(out, format, args);
    va_end(args);
    return n;
}
