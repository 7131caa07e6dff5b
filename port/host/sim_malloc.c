/* TEMPORARY STUB (replaced by the simulator work): plain malloc family routed by ownership. */
#include <stdlib.h>
#include "esp_heap_caps.h"
#include "sim_internal.h"

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *ptr, size_t size);
void __wrap_free(void *ptr);

void *__wrap_malloc(size_t size) { return __real_malloc(size); }
void *__wrap_calloc(size_t n, size_t size) { return __real_calloc(n, size); }
void *__wrap_realloc(void *ptr, size_t size) { return __real_realloc(ptr, size); }
void __wrap_free(void *ptr) { __real_free(ptr); }
