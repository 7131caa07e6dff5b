/*
 * freertos_host_handles.c - the live kernel objects of the host FreeRTOS, by handle. A call given
 * the handle of a queue, semaphore, event group, stream or message buffer, ring buffer or timer
 * (or a task's record) looks it up here before it reads anything behind it, so that a
 * handle whose object was deleted (its host record freed) or that names an object of another kind
 * is refused, never dereferenced.
 *
 * An open-addressing hash set of handles (linear probing; a removal shifts the entries after it
 * back, so there are no tombstones) in host memory, at most half full (doubled then), under the
 * kernel lock: a lookup costs one hash and, on average, about one probe.
 */
#include <stdint.h>
#include <stdlib.h>

#include "esp_log.h"
#include "freertos_host.h"
#include "sim_internal.h"

#define FIRST_CAPACITY 64u

typedef struct {
    const void *handle; /* NULL: a free slot */
    uint8_t kind;       /* fr_kind_t */
} slot_t;

static slot_t *table;    /* under fr_lock() */
static size_t capacity;  /* a power of two, or 0 before the first object */
static size_t used;

/* A handle's first slot: its address mixed (records are 8- or 16-byte aligned). */
static size_t home(const void *handle, size_t cap)
{
    uint64_t x = (uint64_t)(uintptr_t)handle;
    x ^= x >> 29;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 32) & (cap - 1);
}

/* Lock held: where handle is, or capacity when it is not there. */
static size_t find_locked(const void *handle)
{
    if (capacity == 0 || handle == NULL) {
        return capacity;
    }
    for (size_t i = home(handle, capacity);; i = (i + 1) & (capacity - 1)) {
        if (table[i].handle == handle) {
            return i;
        }
        if (table[i].handle == NULL) { /* never full: the probe ends */
            return capacity;
        }
    }
}

static void put(slot_t *slots, size_t cap, slot_t entry)
{
    size_t i = home(entry.handle, cap);
    while (slots[i].handle != NULL) {
        i = (i + 1) & (cap - 1);
    }
    slots[i] = entry;
}

/* Lock held: room for one more (host memory, no simulated-heap call); false when the host has
 * none. */
static bool reserve_locked(void)
{
    if ((used + 1) * 2 <= capacity) {
        return true;
    }
    const size_t cap = capacity == 0 ? FIRST_CAPACITY : capacity * 2;
    slot_t *slots = __real_calloc(cap, sizeof *slots);
    if (slots == NULL) {
        return false;
    }
    for (size_t i = 0; i < capacity; i++) {
        if (table[i].handle != NULL) {
            put(slots, cap, table[i]);
        }
    }
    __real_free(table);
    table = slots;
    capacity = cap;
    return true;
}

bool fr_handle_add(const void *handle, fr_kind_t kind)
{
    fr_lock();
    const bool room = reserve_locked();
    if (room) {
        put(table, capacity, (slot_t){handle, (uint8_t)kind});
        used++;
    }
    fr_unlock();
    return room;
}

void fr_handle_remove_locked(const void *handle)
{
    size_t i = find_locked(handle);
    if (i == capacity) {
        return;
    }
    table[i].handle = NULL;
    used--;
    /* Backward shift: an entry after the hole moves into it unless its home lies cyclically in
     * (hole, entry], where a probe for it never passes the hole. */
    for (size_t j = (i + 1) & (capacity - 1); table[j].handle != NULL; j = (j + 1) & (capacity - 1)) {
        const size_t k = home(table[j].handle, capacity);
        const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            table[i] = table[j];
            table[j].handle = NULL;
            i = j;
        }
    }
}

bool fr_handle_live_locked(const void *handle, fr_kind_t kind)
{
    const size_t i = find_locked(handle);
    return i != capacity && table[i].kind == (uint8_t)kind;
}

static const char *const kind_names[] = {
    [FR_QUEUE] = "queue, semaphore or queue set",
    [FR_EVENT_GROUP] = "event group",
    [FR_STREAM_BUFFER] = "stream or message buffer",
    [FR_RINGBUF] = "ring buffer",
    [FR_TIMER] = "timer",
    [FR_TASK] = "task",
};

bool fr_refuse_dangling(const char *fn, const void *handle, fr_kind_t kind)
{
    if (handle == NULL) {
        return false;
    }
    fr_lock();
    const bool live = fr_handle_live_locked(handle, kind);
    fr_unlock();
    if (!live) {
        fr_refuse_dead(fn, handle, kind);
    }
    return !live;
}

void fr_refuse_dead(const char *fn, const void *handle, fr_kind_t kind)
{
    FR_REFUSE("%s(%p): no live %s (deleted, or never one): refused (the chip reads freed memory)",
              fn, handle, kind_names[kind]);
}
