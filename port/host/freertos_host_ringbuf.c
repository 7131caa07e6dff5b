/*
 * freertos_host_ringbuf.c - ESP-IDF's ring buffers on the host (freertos/ringbuf.h). ESP-IDF's
 * layout, written anew on offsets: 8-byte item headers (a 32-bit length and 32-bit flags, the
 * chip's size on every host) inside the storage, four positions (acquire, write, read, free) and a
 * full flag, moved by the rules of ESP-IDF's ringbuf.c, so that what fits, where an item wraps and
 * every figure a caller can see are the chip's. State lives under the kernel lock of
 * freertos_host.c; one wait list per direction holds the waiting tasks (any number of them); a
 * send or a return wakes the first of them, as ESP-IDF's.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/ringbuf.h"
#include "freertos_host.h"
#include "sim_internal.h"

#define CONTROL_BYTES KRAKEN_SIM_RINGBUF_BYTES
#define HDR 8u /* ItemHeader_t on the chip: size_t length, UBaseType_t flags */
#define ALIGN4(n) (((n) + 3u) & ~(uint32_t)3u)

/* An item header's flags, the chip's values. */
#define ITEM_FREE 1u    /* returned */
#define ITEM_DUMMY 2u   /* the rest up to the end is unused: go on at the start */
#define ITEM_SPLIT 4u   /* allow-split: the item goes on at the start */
#define ITEM_WRITTEN 8u /* no-split: committed (sent, or acquired then completed) */

enum { MEM_HEAP, MEM_STATIC, MEM_CAPS };

typedef struct {
    uint32_t len, flags;
} header_t;

struct ringbuf {
    RingbufferType_t type;
    uint8_t memory; /* MEM_*: how it was created, hence how it is deleted */
    bool full;      /* acquire == free means full, not empty */
    uint32_t size, max_item;
    uint32_t acquire, write, read, free; /* ESP-IDF's pointers, as offsets into the storage */
    uint32_t unread;                     /* xItemsWaiting: items (a byte buffer: bytes) unread */
    uint32_t out; /* items (parts) received, not returned: free == read with some out is all out */
    uint8_t *storage;
    void *block;              /* MEM_HEAP, MEM_CAPS: the simulated control block */
    StaticRingbuffer_t *user; /* MEM_STATIC: the caller's */
    QueueSetHandle_t set;     /* xRingbufferAddToQueueSetRead's */
    uint32_t waiting_send, waiting_receive;
    fr_waiters_t sent, returned;
};

/* ---- the ring (fr_lock() held) ----------------------------------------------------------------- */

static header_t header_at(const struct ringbuf *rb, uint32_t at)
{
    header_t h;
    memcpy(&h, rb->storage + at, HDR);
    return h;
}

static void put_header(struct ringbuf *rb, uint32_t at, uint32_t len, uint32_t flags)
{
    const header_t h = {len, flags};
    memcpy(rb->storage + at, &h, HDR);
}

static void change_flags(struct ringbuf *rb, uint32_t at, uint32_t set, uint32_t clear)
{
    const header_t h = header_at(rb, at);
    put_header(rb, at, h.len, (h.flags & ~clear) | set);
}

/* A position with no room for a header before the end is the start (ESP-IDF's wrap rule). */
static uint32_t wrapped(const struct ringbuf *rb, uint32_t at)
{
    return rb->size - at < HDR ? 0 : at;
}

static bool fits(const struct ringbuf *rb, uint32_t n)
{
    if (rb->acquire == rb->free) {
        return !rb->full; /* empty or full */
    }
    const uint32_t need = rb->type == RINGBUF_TYPE_BYTEBUF ? n : ALIGN4(n) + HDR;
    if (rb->free > rb->acquire) {
        return need <= rb->free - rb->acquire;
    }
    const uint32_t room = rb->size - (rb->acquire - rb->free); /* free space, wrapping */
    switch (rb->type) {
    case RINGBUF_TYPE_BYTEBUF:
        return n <= room;
    case RINGBUF_TYPE_ALLOWSPLIT: /* whole before the end, or cut in two: a second header */
        return need <= rb->size - rb->acquire || need + HDR <= room;
    default: /* whole before the end, or whole from the start */
        return need <= rb->size - rb->acquire || need <= rb->free;
    }
}

/* Lock held, after fits(): moves acquire past a new no-split item; its data's offset. */
static uint32_t acquire_nosplit(struct ringbuf *rb, uint32_t n)
{
    if (rb->size - rb->acquire < ALIGN4(n) + HDR) {
        put_header(rb, rb->acquire, 0, ITEM_DUMMY); /* not enough before the end */
        rb->acquire = 0;
    }
    put_header(rb, rb->acquire, n, 0);
    const uint32_t item = rb->acquire + HDR;
    rb->acquire = wrapped(rb, item + ALIGN4(n));
    rb->full = rb->acquire == rb->free;
    return item;
}

/* Lock held: the no-split item at `item` is committed; write moves past every committed item
 * (items are read in the order they were acquired). */
static void commit_nosplit(struct ringbuf *rb, uint32_t item)
{
    change_flags(rb, item - HDR, ITEM_WRITTEN, ITEM_SPLIT);
    rb->unread++;
    for (header_t h = header_at(rb, rb->write); h.flags & (ITEM_WRITTEN | ITEM_DUMMY);
         h = header_at(rb, rb->write)) {
        if (h.flags & ITEM_DUMMY) {
            change_flags(rb, rb->write, ITEM_WRITTEN, 0);
            rb->write = 0;
        } else {
            rb->write = wrapped(rb, rb->write + HDR + ALIGN4(h.len));
        }
        if (rb->write == rb->acquire) {
            break;
        }
    }
}

static void copy_allowsplit(struct ringbuf *rb, const uint8_t *data, uint32_t n)
{
    uint32_t aligned = ALIGN4(n);
    const uint32_t before_end = rb->size - rb->acquire;
    if (before_end < aligned + HDR) { /* the head part up to the end, the rest from the start */
        const uint32_t part = before_end - HDR;
        put_header(rb, rb->acquire, part, part > 0 ? ITEM_SPLIT : ITEM_DUMMY);
        if (part > 0) {
            memcpy(rb->storage + rb->acquire + HDR, data, part);
            rb->unread++;
            data += part;
            n -= part;
            aligned -= part;
        }
        rb->acquire = 0;
    }
    put_header(rb, rb->acquire, n, 0);
    memcpy(rb->storage + rb->acquire + HDR, data, n);
    rb->unread++;
    rb->acquire = wrapped(rb, rb->acquire + HDR + aligned);
    rb->full = rb->acquire == rb->free;
    rb->write = rb->acquire;
}

static void copy_bytes(struct ringbuf *rb, const uint8_t *data, uint32_t n)
{
    const uint32_t before_end = rb->size - rb->acquire;
    if (before_end < n) {
        memcpy(rb->storage + rb->acquire, data, before_end);
        rb->unread += before_end;
        data += before_end;
        n -= before_end;
        rb->acquire = 0;
    }
    memcpy(rb->storage + rb->acquire, data, n);
    rb->unread += n;
    rb->acquire += n;
    if (rb->acquire == rb->size) {
        rb->acquire = 0;
    }
    rb->full = rb->acquire == rb->free;
    rb->write = rb->acquire;
}

static void copy_in(struct ringbuf *rb, const void *data, uint32_t n)
{
    if (rb->type == RINGBUF_TYPE_NOSPLIT) {
        const uint32_t item = acquire_nosplit(rb, n);
        memcpy(rb->storage + item, data, n);
        commit_nosplit(rb, item);
    } else if (rb->type == RINGBUF_TYPE_ALLOWSPLIT) {
        copy_allowsplit(rb, data, n);
    } else {
        copy_bytes(rb, data, n);
    }
}

static bool readable(const struct ringbuf *rb)
{
    if (rb->type == RINGBUF_TYPE_BYTEBUF && rb->read != rb->free) {
        return false; /* one piece of a byte buffer out at a time */
    }
    if (rb->unread == 0 || (rb->read == rb->write && !rb->full)) {
        return false;
    }
    return rb->type != RINGBUF_TYPE_NOSPLIT || (header_at(rb, rb->read).flags & ITEM_WRITTEN);
}

/* Lock held, readable(): the next item's (or part's) data offset and length; *split when the
 * item goes on at the start. */
static uint32_t take_item(struct ringbuf *rb, uint32_t *len, bool *split)
{
    header_t h = header_at(rb, rb->read);
    if (h.flags & ITEM_DUMMY) {
        rb->read = 0;
        h = header_at(rb, 0);
    }
    const uint32_t item = rb->read + HDR;
    *len = h.len;
    *split = (h.flags & ITEM_SPLIT) != 0;
    rb->unread--;
    rb->out++;
    rb->read = wrapped(rb, item + ALIGN4(h.len));
    return item;
}

/* Lock held, readable(): the contiguous bytes from read, at most max (0: all). */
static uint32_t take_bytes(struct ringbuf *rb, size_t max, uint32_t *len)
{
    const uint32_t at = rb->read;
    const bool to_end = rb->read > rb->write || rb->full;
    const uint32_t there = to_end ? rb->size - at : rb->write - at;
    *len = max == 0 || there <= max ? there : (uint32_t)max;
    rb->unread -= *len;
    rb->read = *len == there ? (to_end ? 0 : rb->write) : at + *len;
    return at;
}

/* Lock held: free steps past the returned or dummy item at it (ESP-IDF's prvReturnItemDefault). */
static void advance_free(struct ringbuf *rb, header_t h)
{
    if (h.flags & ITEM_DUMMY) {
        change_flags(rb, rb->free, ITEM_FREE, 0);
        rb->free = 0;
    } else {
        rb->free = wrapped(rb, rb->free + HDR + ALIGN4(h.len));
    }
}

static void give_back(struct ringbuf *rb, uint32_t item)
{
    if (rb->type == RINGBUF_TYPE_BYTEBUF) {
        rb->free = rb->read; /* everything read is returned at once */
        rb->full = false;
        return;
    }
    change_flags(rb, item - HDR, ITEM_FREE, ITEM_SPLIT);
    rb->out--;
#if defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)
    /* v5.2 (and v5.3.0-5.3.4, v5.4.0-5.4.2, v5.5.0-5.5.1): free moves past every returned item up
     * to read (items may come back out of order) */
    while (rb->free != rb->read) {
        const header_t h = header_at(rb, rb->free);
        if (!(h.flags & (ITEM_FREE | ITEM_DUMMY))) {
            break;
        }
        advance_free(rb, h);
    }
    /* it clears the flag also when free did not move but caught up with read and acquire */
    if (rb->full && (rb->free != rb->acquire || rb->free == rb->read)) {
        rb->full = false;
    }
#else
    /* Since ESP-IDF's e73cbacd104 (v5.3.5, v5.4.3, v5.5.2, v6.0): the same, but free may also step
     * once past read, when the buffer is full (its oldest block) or nothing is unread (a returned
     * block at its head), and only a step clears the full flag. Before, a full buffer read to its
     * end looked empty after one return, and the next send overwrote items still out. */
    bool step_past_read = rb->full || rb->unread == 0, stepped = false;
    for (;;) {
        const header_t h = header_at(rb, rb->free);
        if (!(h.flags & (ITEM_FREE | ITEM_DUMMY)) || (rb->free == rb->read && !step_past_read)) {
            break;
        }
        step_past_read = false;
        stepped = true;
        advance_free(rb, h);
    }
    if (stepped) {
        rb->full = false;
    }
#endif
}

/* Lock held: whether `item` is the data of an item between `from` and `to` (the whole ring when
 * they meet and `whole`), walking the headers as ESP-IDF's free and write pointers do. Stops at a
 * header that cannot be one (stale bytes). */
static bool item_between(const struct ringbuf *rb, uint32_t from, uint32_t to, bool whole,
                         uint32_t item)
{
    uint32_t at = from;
    for (uint32_t steps = 0; steps <= rb->size / HDR; steps++) {
        if (at == to && !(steps == 0 && whole)) {
            return false;
        }
        const header_t h = header_at(rb, at);
        if (h.flags & ITEM_DUMMY) {
            at = 0;
            continue;
        }
        if (h.len > rb->max_item || rb->size - at - HDR < ALIGN4(h.len)) {
            return false;
        }
        if (at + HDR == item) {
            return true;
        }
        at = wrapped(rb, at + HDR + ALIGN4(h.len));
    }
    return false;
}

/* ESP-IDF's figures, lock held. */
static size_t bytes_free(const struct ringbuf *rb)
{
    if (rb->full) {
        return 0;
    }
    return rb->free > rb->acquire ? rb->free - rb->acquire : rb->size - (rb->acquire - rb->free);
}

static size_t largest_item_now(const struct ringbuf *rb)
{
    if (rb->full) {
        return 0;
    }
    int64_t n;
    if (rb->type == RINGBUF_TYPE_BYTEBUF) {
        return bytes_free(rb);
    } else if (rb->type == RINGBUF_TYPE_NOSPLIT) { /* the larger contiguous run, one header */
        const uint32_t to_end = rb->size - rb->acquire;
        n = rb->acquire < rb->free ? (int64_t)rb->free - rb->acquire
                                   : (int64_t)(to_end > rb->free ? to_end : rb->free);
        n -= HDR;
    } else if (rb->acquire == 0 && rb->free == 0) {
        n = (int64_t)rb->size - HDR;
    } else if (rb->acquire < rb->free) {
        n = (int64_t)rb->free - rb->acquire - HDR;
    } else { /* wraps: two headers */
        n = (int64_t)rb->free + (rb->size - rb->acquire) - 2 * HDR;
    }
    return n < 0 ? 0 : n > rb->max_item ? rb->max_item : (size_t)n;
}

/* ---- creation and deletion --------------------------------------------------------------------- */

static const char *bad_shape(size_t size, RingbufferType_t type, bool is_static,
                             const uint8_t *storage)
{
    const bool items = type != RINGBUF_TYPE_BYTEBUF;
    return (unsigned)type >= RINGBUF_TYPE_MAX ? "not a ring buffer type (the chip asserts)"
           : size == 0                        ? "a size of 0 (the chip asserts)"
           : size > UINT32_MAX - CONTROL_BYTES ? "a size the chip cannot address"
           : is_static && items && size % 4 != 0
               ? "a size not a multiple of 4 (the chip asserts)"
           : is_static && items && (uintptr_t)storage % 4 != 0
               ? "storage not 4-byte aligned (the chip asserts at the first send)"
           : type == RINGBUF_TYPE_NOSPLIT && size < 12
               ? "under 12 bytes its maximum item size wraps around on the chip (a send overruns it)"
           : type == RINGBUF_TYPE_ALLOWSPLIT && size < 16
               ? "under 16 bytes its maximum item size wraps around on the chip (a send overruns it)"
               : NULL;
}

static bool valid_shape(const char *fn, size_t size, RingbufferType_t type, bool is_static,
                        const uint8_t *storage)
{
    const char *why = bad_shape(size, type, is_static, storage);
    if (why != NULL) {
        FR_REFUSE("%s(%zu, %d): %s: refused", fn, size, (int)type, why);
        return false;
    }
    return true;
}

static struct ringbuf *make(uint8_t memory, uint32_t size, RingbufferType_t type, uint8_t *storage,
                            void *block)
{
    struct ringbuf *rb = __real_calloc(1, sizeof *rb);
    if (rb == NULL) {
        return NULL;
    }
    rb->memory = memory;
    rb->type = type;
    rb->size = size;
    /* no-split: the worst case is every position half-way; allow-split: two headers */
    rb->max_item = type == RINGBUF_TYPE_NOSPLIT      ? ALIGN4(size / 2) - HDR
                   : type == RINGBUF_TYPE_ALLOWSPLIT ? size - 2 * HDR
                                                     : size;
    rb->storage = storage;
    rb->block = block;
    if (!fr_handle_add(rb, FR_RINGBUF)) {
        __real_free(rb);
        return NULL;
    }
    return rb;
}

static size_t rounded(size_t size, RingbufferType_t type)
{
    return type == RINGBUF_TYPE_BYTEBUF || size > UINT32_MAX - CONTROL_BYTES ? size
                                                                            : ALIGN4(size);
}

RingbufHandle_t xRingbufferCreate(size_t xBufferSize, RingbufferType_t xBufferType)
{
    fr_task_call();
    const size_t size = rounded(xBufferSize, xBufferType);
    if (!valid_shape(__func__, size, xBufferType, false, NULL)) {
        return NULL;
    }
    /* ringbuf.c: calloc() the control block, malloc() the storage (both tried). */
    void *block = heap_caps_malloc_default(CONTROL_BYTES);
    uint8_t *storage = heap_caps_malloc_default(size);
    if (block != NULL) {
        memset(block, 0, CONTROL_BYTES);
    }
    struct ringbuf *rb = block != NULL && storage != NULL
                             ? make(MEM_HEAP, (uint32_t)size, xBufferType, storage, block)
                             : NULL;
    if (rb == NULL) {
        heap_caps_free(block);
        heap_caps_free(storage);
    }
    return rb;
}

RingbufHandle_t xRingbufferCreateNoSplit(size_t xItemSize, size_t xItemNum)
{
    size_t size = 0;
    if (xItemSize > UINT32_MAX - CONTROL_BYTES ||
        __builtin_mul_overflow(ALIGN4(xItemSize) + HDR, xItemNum, &size)) {
        size = SIZE_MAX; /* refused below as a size the chip cannot address */
    }
    return xRingbufferCreate(size, RINGBUF_TYPE_NOSPLIT);
}

static const void *buffer_of(const void *record)
{
    return ((const struct ringbuf *)record)->user;
}

RingbufHandle_t xRingbufferCreateStatic(size_t xBufferSize, RingbufferType_t xBufferType,
                                        uint8_t *pucRingbufferStorage,
                                        StaticRingbuffer_t *pxStaticRingbuffer)
{
    fr_task_call();
    if (pucRingbufferStorage == NULL || pxStaticRingbuffer == NULL) {
        FR_REFUSE("%s: no storage or buffer: refused (the chip asserts)", __func__);
        return NULL;
    }
    if (fr_refuse_live_buffer(__func__, pxStaticRingbuffer, pxStaticRingbuffer->host, FR_RINGBUF,
                              buffer_of)) {
        return NULL;
    }
    if (!valid_shape(__func__, xBufferSize, xBufferType, true, pucRingbufferStorage)) {
        return NULL;
    }
    struct ringbuf *rb =
        make(MEM_STATIC, (uint32_t)xBufferSize, xBufferType, pucRingbufferStorage, NULL);
    if (rb != NULL) {
        rb->user = pxStaticRingbuffer;
        pxStaticRingbuffer->host = rb;
    }
    return rb;
}

RingbufHandle_t xRingbufferCreateWithCaps(size_t xBufferSize, RingbufferType_t xBufferType,
                                          UBaseType_t uxMemoryCaps)
{
    fr_task_call();
    const size_t size = rounded(xBufferSize, xBufferType);
    /* ringbuf.c: the control block, then the storage (both tried), then the static create. */
    void *block = heap_caps_malloc(CONTROL_BYTES, (uint32_t)uxMemoryCaps);
    uint8_t *storage = heap_caps_malloc(size, (uint32_t)uxMemoryCaps);
    struct ringbuf *rb = NULL;
    if (block != NULL && storage != NULL &&
        valid_shape("xRingbufferCreateStatic", size, xBufferType, true, storage)) {
        rb = make(MEM_CAPS, (uint32_t)size, xBufferType, storage, block);
    }
    if (rb == NULL) {
        heap_caps_free(block);
        heap_caps_free(storage);
    }
    return rb;
}

static bool refuse_null(const char *fn, const void *a, const void *b)
{
    if (a == NULL || b == NULL) {
        FR_REFUSE("%s: a NULL argument: refused (the chip asserts)", fn);
        return true;
    }
    return false;
}

/* A handle for the calls that take one: false (logged) for NULL or a dead handle, and for a
 * NULL `other` argument. */
static bool refuse_rb(const char *fn, const struct ringbuf *rb, const void *other)
{
    return refuse_null(fn, rb, other) || fr_refuse_dangling(fn, rb, FR_RINGBUF);
}

static void delete_buffer(const char *fn, struct ringbuf *rb, bool caps_api)
{
    fr_task_call();
    if (refuse_null(fn, rb, "")) {
        return;
    }
    fr_enter();
    fr_let_woken_run_locked(rb, FR_RINGBUF, &rb->waiting_send, &rb->waiting_receive);
    /* looked up before anything is read; left live ones at once, so that a second delete is
     * refused however the two calls interleave */
    const char *why =
        !fr_handle_live_locked(rb, FR_RINGBUF)
            ? "no live ring buffer (deleted, or never one): refused (the chip reads freed memory)"
        : rb->waiting_send + rb->waiting_receive > 0
            ? "a task waits on it: refused (the chip would leave it on freed memory)"
        : caps_api && rb->memory != MEM_CAPS
            ? "not made by xRingbufferCreateWithCaps(): refused (the chip asserts, or frees the "
              "caller's memory)"
        /* ESP-IDF's delete leaves it in its set too: the set would give a freed buffer's handle */
        : rb->set != NULL && fr_queue_set_holds_locked(rb->set, rb)
            ? "its queue set holds its handle (select it and read it first): refused (the set "
              "would give a deleted buffer's handle)"
            : NULL;
    if (why == NULL) {
        if (rb->set != NULL) { /* it leaves its set, as a queue whose handle is not there does */
            (void)fr_queue_set_members_locked(rb->set, -1);
        }
        fr_handle_remove_locked(rb);
    }
    fr_unlock();
    if (why != NULL) {
        FR_REFUSE("%s: %s", fn, why);
        return;
    }
    if (rb->memory == MEM_HEAP || caps_api) {
        /* ringbuf.c's order: vRingbufferDelete the storage, then the control block;
         * vRingbufferDeleteWithCaps the control block, then the storage */
        heap_caps_free(caps_api ? rb->block : rb->storage);
        heap_caps_free(caps_api ? rb->storage : rb->block);
    } else if (rb->memory == MEM_CAPS) {
        ESP_LOGW(FR_TAG, "%s: made by xRingbufferCreateWithCaps(): its memory stays allocated "
                         "(delete it with vRingbufferDeleteWithCaps instead)", fn);
    }
    __real_free(rb);
}

void vRingbufferDelete(RingbufHandle_t xRingbuffer)
{
    delete_buffer(__func__, xRingbuffer, false);
}

void vRingbufferDeleteWithCaps(RingbufHandle_t xRingbuffer)
{
    delete_buffer(__func__, xRingbuffer, true);
}

/* ---- sending ----------------------------------------------------------------------------------- */

/* Lock held, then released: posts the buffer's handle to its queue set (ESP-IDF does it outside its
 * lock, ignoring a full set) or wakes its receivers. */
static void announce_and_unlock(struct ringbuf *rb, bool isr, BaseType_t *woken)
{
    QueueSetHandle_t set = rb->set;
    const bool receivers = rb->waiting_receive > 0;
    const bool yield = receivers && fr_first_outranks_caller_locked(&rb->sent);
    if (set == NULL && receivers) {
        (void)fr_wake_one_locked(&rb->sent);
    }
    fr_unlock();
    if (set != NULL) {
        QueueSetMemberHandle_t member = (QueueSetMemberHandle_t)(void *)rb;
        if (isr) {
            (void)xQueueSendFromISR(set, &member, woken);
        } else {
            (void)xQueueSend(set, &member, 0);
        }
    } else if (yield && woken != NULL) {
        *woken = pdTRUE;
    }
}

/* Lock held: waits (unlocking meanwhile) until cond(rb) holds or the deadline; false on timeout. */
static bool wait_until(struct ringbuf *rb, bool (*cond)(const struct ringbuf *, uint32_t),
                       uint32_t n, TickType_t ticks, fr_waiters_t *signal, uint32_t *waiting)
{
    struct timespec deadline;
    const bool timed = fr_deadline(ticks, &deadline);
    while (!cond(rb, n)) {
        if (ticks == 0 || (!fr_wait(signal, timed ? &deadline : NULL, waiting, NULL, NULL) &&
                           !cond(rb, n))) {
            return false;
        }
    }
    return true;
}

static bool can_read(const struct ringbuf *rb, uint32_t unused)
{
    (void)unused;
    return readable(rb);
}

/* Send (acquired NULL) or acquire; the arguments checked. */
static BaseType_t send(const char *fn, struct ringbuf *rb, const void *data, void **acquired,
                       size_t n, TickType_t ticks, bool isr, BaseType_t *woken)
{
    if (fr_refuse_wait(fn, ticks) || !fr_enter_live(fn, rb, FR_RINGBUF, isr)) {
        return pdFALSE;
    }
    if (n > rb->max_item || (rb->type == RINGBUF_TYPE_BYTEBUF && n == 0)) {
        /* it never fits: ESP-IDF fails at once; or nothing to send */
        const BaseType_t r = n > rb->max_item ? pdFALSE : pdTRUE;
        fr_unlock();
        return r;
    }
    if (!wait_until(rb, fits, (uint32_t)n, ticks, &rb->returned, &rb->waiting_send)) {
        fr_unlock();
        return pdFALSE;
    }
    if (acquired != NULL) {
        *acquired = rb->storage + acquire_nosplit(rb, (uint32_t)n); /* no one told yet */
        fr_unlock();
        return pdTRUE;
    }
    copy_in(rb, data, (uint32_t)n);
    announce_and_unlock(rb, isr, woken);
    return pdTRUE;
}

static bool refuse_send_args(const char *fn, const struct ringbuf *rb, const void *item, size_t n)
{
    if (rb == NULL || (item == NULL && n != 0)) {
        FR_REFUSE("%s: %s: refused (the chip asserts)", fn, rb == NULL ? "no ring buffer" : "no item");
        return true;
    }
    return fr_refuse_dangling(fn, rb, FR_RINGBUF);
}

BaseType_t xRingbufferSend(RingbufHandle_t xRingbuffer, const void *pvItem, size_t xItemSize,
                           TickType_t xTicksToWait)
{
    fr_task_call();
    if (refuse_send_args(__func__, xRingbuffer, pvItem, xItemSize)) {
        return pdFALSE;
    }
    return send(__func__, xRingbuffer, pvItem, NULL, xItemSize, xTicksToWait, false, NULL);
}

BaseType_t xRingbufferSendFromISR(RingbufHandle_t xRingbuffer, const void *pvItem,
                                  size_t xItemSize, BaseType_t *pxHigherPriorityTaskWoken)
{
    if (refuse_send_args(__func__, xRingbuffer, pvItem, xItemSize)) {
        return pdFALSE;
    }
    return send(__func__, xRingbuffer, pvItem, NULL, xItemSize, 0, true,
                pxHigherPriorityTaskWoken);
}

static bool refuse_type(const char *fn, const struct ringbuf *rb, RingbufferType_t wanted,
                        bool is_wanted)
{
    if (!fr_enter_live(fn, rb, FR_RINGBUF, false)) { /* its type read in the hold that finds it */
        return true;
    }
    const RingbufferType_t type = rb->type;
    fr_unlock();
    if ((type == wanted) != is_wanted) {
        static const char *const names[] = {"a no-split", "an allow-split", "a byte"};
        FR_REFUSE("%s: %s buffer: refused (the chip asserts)", fn, names[type]);
        return true;
    }
    return false;
}

BaseType_t xRingbufferSendAcquire(RingbufHandle_t xRingbuffer, void **ppvItem, size_t xItemSize,
                                  TickType_t xTicksToWait)
{
    fr_task_call();
    struct ringbuf *rb = xRingbuffer;
    if (refuse_rb(__func__, rb, ppvItem) || refuse_type(__func__, rb, RINGBUF_TYPE_NOSPLIT, true)) {
        return pdFALSE;
    }
    *ppvItem = NULL;
    return send(__func__, rb, NULL, ppvItem, xItemSize, xTicksToWait, false, NULL);
}

BaseType_t xRingbufferSendComplete(RingbufHandle_t xRingbuffer, void *pvItem)
{
    fr_task_call();
    struct ringbuf *rb = xRingbuffer;
    if (refuse_rb(__func__, rb, pvItem) || refuse_type(__func__, rb, RINGBUF_TYPE_NOSPLIT, true)) {
        return pdFALSE;
    }
    if (!fr_enter_live(__func__, rb, FR_RINGBUF, false)) {
        return pdFALSE;
    }
    const uintptr_t at = (uintptr_t)pvItem - (uintptr_t)rb->storage;
    /* acquired items lie from write to acquire, completed ones before write (from free) */
    const bool inside = (uintptr_t)pvItem >= (uintptr_t)rb->storage && at <= rb->size;
    const bool acquired =
        inside && item_between(rb, rb->write, rb->acquire, rb->full, (uint32_t)at);
    const bool twice = acquired ? (header_at(rb, (uint32_t)at - HDR).flags & ITEM_WRITTEN) != 0
                                : inside && item_between(rb, rb->free, rb->write, rb->full,
                                                         (uint32_t)at);
    if (!acquired || twice) {
        fr_unlock();
        FR_REFUSE("%s(%p): %s: refused (the chip asserts)", __func__, pvItem,
                  twice ? "completed already" : "not an item xRingbufferSendAcquire gave");
        return pdFALSE;
    }
    commit_nosplit(rb, (uint32_t)at);
    announce_and_unlock(rb, false, NULL);
    return pdTRUE;
}

/* ---- receiving --------------------------------------------------------------------------------- */

/* ESP-IDF's receive: item 1 (and the tail part of a split item: item 2). Arguments checked. */
static bool receive(const char *fn, struct ringbuf *rb, void **item1, size_t *len1, void **item2,
                    size_t *len2, size_t max, TickType_t ticks, bool isr)
{
    if (fr_refuse_wait(fn, ticks) || !fr_enter_live(fn, rb, FR_RINGBUF, isr)) {
        return false;
    }
    if (!wait_until(rb, can_read, 0, ticks, &rb->sent, &rb->waiting_receive)) {
        fr_unlock();
        return false;
    }
    uint32_t len;
    bool split = false;
    if (rb->type == RINGBUF_TYPE_BYTEBUF) {
        *item1 = rb->storage + take_bytes(rb, max, &len);
    } else {
        *item1 = rb->storage + take_item(rb, &len, &split);
    }
    *len1 = len;
    if (item2 != NULL) {
        *item2 = NULL;
        if (split) {
            *item2 = rb->storage + take_item(rb, &len, &split);
            *len2 = len;
        }
    }
    fr_unlock();
    return true;
}

static void *receive_one(const char *fn, RingbufHandle_t xRingbuffer, size_t *pxItemSize,
                         TickType_t ticks, bool isr)
{
    struct ringbuf *rb = xRingbuffer;
    void *item = NULL;
    if (refuse_rb(fn, rb, pxItemSize) || refuse_type(fn, rb, RINGBUF_TYPE_ALLOWSPLIT, false)) {
        return NULL;
    }
    return receive(fn, rb, &item, pxItemSize, NULL, NULL, 0, ticks, isr) ? item : NULL;
}

void *xRingbufferReceive(RingbufHandle_t xRingbuffer, size_t *pxItemSize, TickType_t xTicksToWait)
{
    fr_task_call();
    return receive_one(__func__, xRingbuffer, pxItemSize, xTicksToWait, false);
}

void *xRingbufferReceiveFromISR(RingbufHandle_t xRingbuffer, size_t *pxItemSize)
{
    return receive_one(__func__, xRingbuffer, pxItemSize, 0, true);
}

static BaseType_t receive_split(const char *fn, RingbufHandle_t xRingbuffer, void **head,
                                void **tail, size_t *head_len, size_t *tail_len, TickType_t ticks,
                                bool isr)
{
    struct ringbuf *rb = xRingbuffer;
    if (refuse_rb(fn, rb, head) || refuse_null(fn, tail, head_len) ||
        refuse_null(fn, tail_len, "") || refuse_type(fn, rb, RINGBUF_TYPE_ALLOWSPLIT, true)) {
        return pdFALSE;
    }
    return receive(fn, rb, head, head_len, tail, tail_len, 0, ticks, isr) ? pdTRUE : pdFALSE;
}

BaseType_t xRingbufferReceiveSplit(RingbufHandle_t xRingbuffer, void **ppvHeadItem,
                                   void **ppvTailItem, size_t *pxHeadItemSize,
                                   size_t *pxTailItemSize, TickType_t xTicksToWait)
{
    fr_task_call();
    return receive_split(__func__, xRingbuffer, ppvHeadItem, ppvTailItem, pxHeadItemSize,
                         pxTailItemSize, xTicksToWait, false);
}

BaseType_t xRingbufferReceiveSplitFromISR(RingbufHandle_t xRingbuffer, void **ppvHeadItem,
                                          void **ppvTailItem, size_t *pxHeadItemSize,
                                          size_t *pxTailItemSize)
{
    return receive_split(__func__, xRingbuffer, ppvHeadItem, ppvTailItem, pxHeadItemSize,
                         pxTailItemSize, 0, true);
}

static void *receive_up_to(const char *fn, RingbufHandle_t xRingbuffer, size_t *pxItemSize,
                           TickType_t ticks, size_t max, bool isr)
{
    struct ringbuf *rb = xRingbuffer;
    void *item = NULL;
    if (refuse_rb(fn, rb, pxItemSize) || refuse_type(fn, rb, RINGBUF_TYPE_BYTEBUF, true)) {
        return NULL;
    }
    if (max == 0) {
        return NULL; /* ESP-IDF: at once */
    }
    return receive(fn, rb, &item, pxItemSize, NULL, NULL, max, ticks, isr) ? item : NULL;
}

void *xRingbufferReceiveUpTo(RingbufHandle_t xRingbuffer, size_t *pxItemSize,
                             TickType_t xTicksToWait, size_t xMaxSize)
{
    fr_task_call();
    return receive_up_to(__func__, xRingbuffer, pxItemSize, xTicksToWait, xMaxSize, false);
}

void *xRingbufferReceiveUpToFromISR(RingbufHandle_t xRingbuffer, size_t *pxItemSize,
                                    size_t xMaxSize)
{
    return receive_up_to(__func__, xRingbuffer, pxItemSize, 0, xMaxSize, true);
}

/* ---- returning --------------------------------------------------------------------------------- */

static void return_item(const char *fn, struct ringbuf *rb, void *item, bool isr,
                        BaseType_t *woken)
{
    if (refuse_rb(fn, rb, item)) {
        return;
    }
    if (!fr_enter_live(fn, rb, FR_RINGBUF, isr)) {
        return;
    }
    const uintptr_t at = (uintptr_t)item - (uintptr_t)rb->storage;
    const bool inside = (uintptr_t)item >= (uintptr_t)rb->storage &&
                        (rb->type == RINGBUF_TYPE_BYTEBUF ? at < rb->size : at <= rb->size);
    const char *why = NULL;
    if (!inside) {
        why = "a pointer outside its storage";
    } else if (rb->type != RINGBUF_TYPE_BYTEBUF) {
        const bool returned = at >= HDR && (header_at(rb, (uint32_t)at - HDR).flags & ITEM_FREE);
        if (returned) {
            why = "returned already";
        } else if (/* free == read: nothing out, or (a full ring read whole) all */
                   !item_between(rb, rb->free, rb->read, rb->out > 0, (uint32_t)at)) {
            why = "not an item it gave";
        }
    }
    if (why != NULL) {
        fr_unlock();
        FR_REFUSE("%s(%p): %s: refused (the chip asserts)", fn, item, why);
        return;
    }
    give_back(rb, (uint32_t)at);
    const bool senders = rb->waiting_send > 0;
    const bool yield = senders && fr_first_outranks_caller_locked(&rb->returned);
    if (senders) {
        (void)fr_wake_one_locked(&rb->returned);
    }
    fr_unlock();
    if (yield && woken != NULL) {
        *woken = pdTRUE;
    }
}

void vRingbufferReturnItem(RingbufHandle_t xRingbuffer, void *pvItem)
{
    fr_task_call();
    return_item(__func__, xRingbuffer, pvItem, false, NULL);
}

void vRingbufferReturnItemFromISR(RingbufHandle_t xRingbuffer, void *pvItem,
                                  BaseType_t *pxHigherPriorityTaskWoken)
{
    return_item(__func__, xRingbuffer, pvItem, true, pxHigherPriorityTaskWoken);
}

/* ---- state ------------------------------------------------------------------------------------- */

size_t xRingbufferGetMaxItemSize(RingbufHandle_t xRingbuffer)
{
    const struct ringbuf *rb = xRingbuffer;
    if (refuse_rb(__func__, rb, "") || !fr_enter_live(__func__, rb, FR_RINGBUF, false)) {
        return 0;
    }
    const size_t n = rb->max_item; /* fixed at creation */
    fr_unlock();
    return n;
}

size_t xRingbufferGetCurFreeSize(RingbufHandle_t xRingbuffer)
{
    const struct ringbuf *rb = xRingbuffer;
    if (refuse_rb(__func__, rb, "") || !fr_enter_live(__func__, rb, FR_RINGBUF, false)) {
        return 0;
    }
    const size_t n = largest_item_now(rb);
    fr_unlock();
    return n;
}

static BaseType_t set_membership(const char *fn, struct ringbuf *rb, QueueSetHandle_t set,
                                 bool add)
{
    fr_task_call();
    if (refuse_rb(fn, rb, set) || !fr_enter_live(fn, rb, FR_RINGBUF, false)) {
        return pdFALSE;
    }
    /* ESP-IDF: not while it holds an item to read (the set would miss it); nor, here, while the
     * set holds its handle (read without a select), which the set would give after it left */
    const bool ok = !readable(rb) && (add ? rb->set == NULL
                                          : rb->set == set && !fr_queue_set_holds_locked(set, rb));
    /* the set counts it, so that deleting the set under it is refused (it would post there) */
    const bool is_set = !ok || fr_queue_set_members_locked(set, add ? 1 : -1);
    if (ok && is_set) {
        rb->set = add ? set : NULL;
    }
    fr_unlock();
    if (!is_set) {
        FR_REFUSE("%s(%p): not a queue set: refused (the chip would post its handle into it)", fn,
                  (void *)set);
    }
    return ok && is_set ? pdTRUE : pdFALSE;
}

BaseType_t xRingbufferAddToQueueSetRead(RingbufHandle_t xRingbuffer, QueueSetHandle_t xQueueSet)
{
    return set_membership(__func__, xRingbuffer, xQueueSet, true);
}

BaseType_t xRingbufferRemoveFromQueueSetRead(RingbufHandle_t xRingbuffer,
                                             QueueSetHandle_t xQueueSet)
{
    return set_membership(__func__, xRingbuffer, xQueueSet, false);
}

void vRingbufferGetInfo(RingbufHandle_t xRingbuffer, UBaseType_t *uxFree, UBaseType_t *uxRead,
                        UBaseType_t *uxWrite, UBaseType_t *uxAcquire, UBaseType_t *uxItemsWaiting)
{
    const struct ringbuf *rb = xRingbuffer;
    if (refuse_rb(__func__, rb, "") || !fr_enter_live(__func__, rb, FR_RINGBUF, false)) {
        return;
    }
    const UBaseType_t info[] = {rb->free, rb->read, rb->write, rb->acquire, rb->unread};
    fr_unlock();
    UBaseType_t *const out[] = {uxFree, uxRead, uxWrite, uxAcquire, uxItemsWaiting};
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) {
        if (out[i] != NULL) {
            *out[i] = info[i];
        }
    }
}

void xRingbufferPrintInfo(RingbufHandle_t xRingbuffer)
{
    const struct ringbuf *rb = xRingbuffer;
    if (refuse_rb(__func__, rb, "") || !fr_enter_live(__func__, rb, FR_RINGBUF, false)) {
        return;
    }
    const int32_t v[] = {(int32_t)rb->size, (int32_t)bytes_free(rb), (int32_t)rb->read,
                         (int32_t)rb->free, (int32_t)rb->write, (int32_t)rb->acquire};
    fr_unlock();
    printf("Rb size:%" PRId32 "\tfree: %" PRId32 "\trptr: %" PRId32 "\tfreeptr: %" PRId32
           "\twptr: %" PRId32 ", aptr: %" PRId32 "\n",
           v[0], v[1], v[2], v[3], v[4], v[5]);
}

BaseType_t xRingbufferGetStaticBuffer(RingbufHandle_t xRingbuffer, uint8_t **ppucRingbufferStorage,
                                      StaticRingbuffer_t **ppxStaticRingbuffer)
{
    const struct ringbuf *rb = xRingbuffer;
    if (refuse_rb(__func__, rb, ppucRingbufferStorage) ||
        refuse_null(__func__, ppxStaticRingbuffer, "") ||
        !fr_enter_live(__func__, rb, FR_RINGBUF, false)) {
        return pdFALSE;
    }
    const bool has = rb->memory != MEM_HEAP;
    if (has) {
        *ppucRingbufferStorage = rb->storage;
        /* a WithCaps buffer's control block holds the chip's 112 bytes (this host's type may be
         * larger): only its address is given */
        *ppxStaticRingbuffer =
            rb->memory == MEM_STATIC ? rb->user : (StaticRingbuffer_t *)rb->block;
    }
    fr_unlock();
    return has ? pdTRUE : pdFALSE;
}
