/* sim_internal.h - what the host port's files share about the simulated chip (not public). */
#ifndef SIM_INTERNAL_H
#define SIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* The libc allocator, bypassing the link-time wrap of malloc/free (sim_malloc.c): the simulator's
 * own host memory must never come from the simulated chip. */
void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *ptr, size_t size);
void __real_free(void *ptr);

/** True inside kraken_sim_isr_enter/exit on the calling thread. */
bool sim_in_isr(void);

/** True when ptr lies in a simulated heap region (any block, live or not). O(regions). */
bool sim_owns(const void *ptr);

#endif
