/*
 * freertos_host_handles.c - the live kernel objects of the host FreeRTOS, by handle. A call given
 * the handle of a queue, semaphore, event group, stream or message buffer, ring buffer or timer
 * (or a task's record) looks it up here before it reads anything behind it, so that a
 * handle whose object was deleted (its host record freed) or that names an object of another kind
 * is refused, never dereferenced.
 *
 * libc's binary search tree (search.h: tsearch, tfind, tdelete; glibc's is a red-black tree, so a
 * lookup walks O(log n) nodes) of entries (handle, kind), ordered by address, under the kernel
 * lock (the tree has no lock of its own). Host memory only, never the simulated heap's figures:
 * an entry is __real_malloc()'s, and tsearch takes its nodes from malloc() inside libc.so, which
 * the link-time --wrap of malloc (cmake/kraken_host.cmake) does not reach.
 */
#define _XOPEN_SOURCE 700 /* search.h */
#include <search.h>
#include <stdint.h>
#include <stdlib.h>

#include "esp_log.h"
#include "freertos_host.h"
#include "sim_internal.h"

typedef struct {
    const void *handle;
    fr_kind_t kind;
} entry_t;

static void *root; /* under fr_lock(): entry_t, by handle */

/* By address, compared as integers (< between pointers to different objects is undefined). */
static int by_handle(const void *a, const void *b)
{
    const uintptr_t x = (uintptr_t)((const entry_t *)a)->handle;
    const uintptr_t y = (uintptr_t)((const entry_t *)b)->handle;
    return (x > y) - (x < y);
}

/* Lock held: handle's entry, or NULL. */
static entry_t *find_locked(const void *handle)
{
    const entry_t key = {.handle = handle};
    void *node = tfind(&key, &root, by_handle);
    return node != NULL ? *(entry_t **)node : NULL;
}

bool fr_handle_add(const void *handle, fr_kind_t kind)
{
    entry_t *entry = __real_malloc(sizeof *entry);
    if (entry == NULL) {
        return false;
    }
    *entry = (entry_t){handle, kind};
    fr_lock();
    void *node = tsearch(entry, &root, by_handle);
    const bool added = node != NULL && *(entry_t **)node == entry;
    if (node != NULL && !added) { /* there already (a record freed unremoved: never): now this */
        (*(entry_t **)node)->kind = kind;
    }
    fr_unlock();
    if (!added) {
        __real_free(entry);
    }
    return node != NULL;
}

void fr_handle_remove_locked(const void *handle)
{
    entry_t *entry = find_locked(handle);
    if (entry != NULL) {
        tdelete(entry, &root, by_handle);
        __real_free(entry);
    }
}

bool fr_handle_live_locked(const void *handle, fr_kind_t kind)
{
    const entry_t *entry = find_locked(handle);
    return entry != NULL && entry->kind == kind;
}

static const char *const kind_names[] = {
    [FR_QUEUE] = "queue, semaphore or queue set",
    [FR_EVENT_GROUP] = "event group",
    [FR_STREAM_BUFFER] = "stream or message buffer",
    [FR_RINGBUF] = "ring buffer",
    [FR_TIMER] = "timer",
    [FR_TASK] = "task",
};

bool fr_refuse_live_buffer(const char *fn, const void *buffer, const void *record, fr_kind_t kind,
                           const void *(*buffer_of)(const void *record))
{
    fr_lock();
    /* compared before it is read: garbage names no live object */
    const bool live = fr_handle_live_locked(record, kind) && buffer_of(record) == buffer;
    fr_unlock();
    if (live) {
        FR_REFUSE("%s(%p): the buffer of a live %s (delete it first): refused (the chip would "
                  "make a second one over it)", fn, buffer, kind_names[kind]);
    }
    return live;
}

bool fr_refuse_dangling(const char *fn, const void *handle, fr_kind_t kind)
{
    if (handle == NULL) {
        return false;
    }
    fr_enter(); /* a task deleted meanwhile ends here: its deleter may have freed the object */
    const bool live = fr_handle_live_locked(handle, kind);
    fr_unlock();
    if (!live) {
        fr_refuse_dead(fn, handle, kind);
    }
    return !live;
}

bool fr_enter_live(const char *fn, const void *handle, fr_kind_t kind, bool isr)
{
    isr ? fr_lock() : fr_enter();
    if (fr_handle_live_locked(handle, kind)) {
        return true;
    }
    fr_unlock();
    fr_refuse_dead(fn, handle, kind);
    return false;
}

void fr_refuse_dead(const char *fn, const void *handle, fr_kind_t kind)
{
    FR_REFUSE("%s(%p): no live %s (deleted, or never one): refused (the chip reads freed memory)",
              fn, handle, kind_names[kind]);
}
