/*
 * memory_pool_tally.h - pool allocations counted inside the pool's own critical section, for the
 * event bus (component-internal, not public API).
 *
 * A post copies its payload into a pool block before it takes the bus's lock, and deinit must not
 * return while a post holds such a block. Counting those posts with an atomic read-modify-write
 * costs as much as a lock on the hot path; counting them inside the pool's critical section, which
 * the allocation takes anyway, costs an add. Deinit closes the tally, then reads it under the same
 * locks: a take the reading did not count was refused.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory_pool.h"

typedef struct {
    _Atomic bool open; /* takes are refused while false; read under the class's lock */
    uint32_t taken[MEMORY_POOL_CLASS_COUNT]; /* blocks handed out, by class, under its lock */
} memory_pool_tally_t;

/** While tally->open: take a block of the smallest class that fits `size` when more than `margin`
 *  of that class are free, and count it in tally->taken[class] inside the class's critical
 *  section. NULL when the tally is closed, when the class has no more than `margin` free, when no
 *  class fits (0, oversize) and before the pools are set up: no spill into a larger class, no
 *  heap fallback, nothing counted in the pool statistics' failures (the caller's full attempt,
 *  memory_pool_alloc_isr_margin, does that). Free the block as any other. ISR-safe, never blocks,
 *  O(1). */
void *memory_pool_take_tallied(size_t size, uint32_t margin, memory_pool_tally_t *tally);

/** The blocks the tally has counted, every class summed, each class read under its lock: a take
 *  that took that lock before is in the sum; one after it sees `open` as it was before this call
 *  (closed: refused). Cannot fail. Task or ISR (not in IRAM); never blocks (the class locks
 *  are critical sections); O(classes). */
uint32_t memory_pool_tally_total(memory_pool_tally_t *tally);

/** Pin the pools: while pins outnumber unpins, memory_pool_deinit() refuses (ESP_ERR_INVALID_STATE,
 *  logged). The event bus pins them from its start to the end of its deinit: it keeps their class
 *  table. Pin before memory_pool_ensure_init(): a deinit that did not see the pin then ends before
 *  that set-up. Cannot fail. Task; never blocks; O(1). */
void memory_pool_pin(void);
void memory_pool_unpin(void);
