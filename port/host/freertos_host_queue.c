/*
 * freertos_host_queue.c - FreeRTOS queues, semaphores and mutexes on the host (freertos/queue.h,
 * freertos/semphr.h): a ring of items in the simulated-heap block the chip would allocate, under
 * the kernel lock of freertos_host.c, with a wait list per direction for waiting tasks.
 *
 * Semaphores are queues of item size 0 whose count is the number of "items", as in FreeRTOS: a
 * binary semaphore has length 1, a counting one its maximum, a mutex length 1 and a holder.
 *
 * A queue set is a queue of member handles, as in FreeRTOS: an item or give that arrives in a
 * member puts the member's handle in its set (prvNotifyQueueSetContainer) instead of waking the
 * member's own receivers, and xQueueSelectFromSet() is a receive from the set. The queue registry
 * (vQueueAddToRegistry) is a static array of CONFIG_FREERTOS_QUEUE_REGISTRY_SIZE names.
 */
#define KRAKEN_SIM_QUEUE_REGISTRY /* queue.h's registry calls, whatever the build's size */
#define KRAKEN_SIM_TRACE_FACILITY /* and its trace calls, whatever the build's options */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/idf_additions.h"
#include "freertos/queue.h"
#include "freertos/semphr.h"
#include "freertos_host.h"
#include "sim_internal.h"

#define QUEUE_SIZE KRAKEN_SIM_QUEUE_BYTES /* sizeof(StaticQueue_t) == sizeof(StaticSemaphore_t) */
#define CHIP_HANDLE_SIZE 4u /* sizeof(QueueSetMemberHandle_t) on the chip: a set's item */
#define REGISTRY_SIZE CONFIG_FREERTOS_QUEUE_REGISTRY_SIZE
_Static_assert(REGISTRY_SIZE >= 0 && REGISTRY_SIZE <= 20,
               "CONFIG_FREERTOS_QUEUE_REGISTRY_SIZE: 0 to 20, as ESP-IDF's Kconfig");

enum { MEM_HEAP, MEM_STATIC, MEM_CAPS };

struct QueueDefinition {
    uint8_t type;             /* queueQUEUE_TYPE_*: how it behaves */
    uint8_t trace_type;       /* the type it was made with (ucQueueGetQueueType) */
    uint8_t memory;           /* MEM_*: how it was created, hence how it is deleted */
    UBaseType_t trace_number; /* vQueueSetQueueNumber()'s */
    UBaseType_t length, item_size;
    UBaseType_t head, count; /* items at storage[head .. head + count) mod length */
    uint8_t *storage;        /* NULL when item_size is 0 */
    void *block;             /* the simulated record (and, for MEM_HEAP, the storage after it) */
    void *storage_block;     /* MEM_CAPS: the storage, a block of its own */
    StaticQueue_t *buffer;   /* MEM_STATIC: the caller's StaticQueue_t */
    TaskHandle_t holder;     /* mutexes: who holds it */
    UBaseType_t recursion;   /* recursive mutexes: the holder's takes */
    struct QueueDefinition *set; /* the queue set it is a member of (pxQueueSetContainer) */
    UBaseType_t members;         /* a queue set: the queues and semaphores in it */
    bool is_set;                 /* made by xQueueCreateSet() */
    uint8_t *host_storage;       /* a set's handles when the chip's 4-byte slots cannot hold them */
    uint32_t waiting_items, waiting_room; /* tasks waiting on each condition */
    fr_waiters_t items, room;
};

static bool is_mutex(const struct QueueDefinition *q)
{
    return q->type == queueQUEUE_TYPE_MUTEX || q->type == queueQUEUE_TYPE_RECURSIVE_MUTEX;
}

static void destroy(struct QueueDefinition *q)
{
    __real_free(q->host_storage);
    __real_free(q);
}

/* A record for memory already had (block, storage); NULL when the host has none. */
static struct QueueDefinition *make(uint8_t type, uint8_t memory, UBaseType_t length,
                                    UBaseType_t item_size, void *block, uint8_t *storage)
{
    struct QueueDefinition *q = __real_calloc(1, sizeof *q);
    if (q == NULL) {
        return NULL;
    }
    q->type = type;
    q->trace_type = type;
    q->memory = memory;
    q->length = length;
    q->item_size = item_size;
    q->block = block;
    q->storage = storage;
    if (!fr_handle_add(q, FR_QUEUE)) {
        destroy(q);
        return NULL;
    }
    return q;
}

static bool valid_shape(const char *fn, UBaseType_t length, UBaseType_t item_size)
{
    /* The chip's size_t has 32 bits: a queue it cannot address is refused on every host. */
    if (length == 0 || (uint64_t)length * item_size > UINT32_MAX - QUEUE_SIZE) {
        FR_REFUSE("%s(%u, %u): %s: refused", fn, length, item_size,
                  length == 0 ? "length 0 (the chip asserts)" : "length * item size overflows");
        return false;
    }
    return true;
}

/* xQueueCreate() and xQueueGenericCreate(): a queue, whatever the type it is made with (in
 * queue.c the type only marks it for tracing: a mutex is one xQueueCreateMutex() made). */
static QueueHandle_t create(const char *fn, UBaseType_t uxQueueLength, UBaseType_t uxItemSize,
                            uint8_t trace_type)
{
    if (!valid_shape(fn, uxQueueLength, uxItemSize)) {
        return NULL;
    }
    const size_t bytes = (size_t)uxQueueLength * uxItemSize;
    uint8_t *block = pvPortMalloc(QUEUE_SIZE + bytes); /* xQueueGenericCreate: one block */
    if (block == NULL) {
        return NULL;
    }
    struct QueueDefinition *q = make(queueQUEUE_TYPE_BASE, MEM_HEAP, uxQueueLength, uxItemSize,
                                     block, uxItemSize != 0 ? block + QUEUE_SIZE : NULL);
    if (q == NULL) {
        vPortFree(block);
        return NULL;
    }
    q->trace_type = trace_type;
    return q;
}

QueueHandle_t xQueueCreate(UBaseType_t uxQueueLength, UBaseType_t uxItemSize)
{
    return create(__func__, uxQueueLength, uxItemSize, queueQUEUE_TYPE_BASE);
}

QueueHandle_t xQueueGenericCreate(const UBaseType_t uxQueueLength, const UBaseType_t uxItemSize,
                                  const uint8_t ucQueueType)
{
    return create(__func__, uxQueueLength, uxItemSize, ucQueueType);
}

static const void *buffer_of(const void *record)
{
    return ((const struct QueueDefinition *)record)->buffer;
}

static QueueHandle_t create_static(const char *fn, UBaseType_t uxQueueLength,
                                   UBaseType_t uxItemSize, uint8_t *pucQueueStorage,
                                   StaticQueue_t *pxStaticQueue, uint8_t trace_type)
{
    if (pxStaticQueue == NULL || (uxItemSize != 0 && pucQueueStorage == NULL)) {
        FR_REFUSE("%s: no queue or storage buffer: refused (the chip asserts)", fn);
        return NULL;
    }
    if (fr_refuse_live_buffer(fn, pxStaticQueue, pxStaticQueue->host, FR_QUEUE, buffer_of)) {
        return NULL;
    }
    if (!valid_shape(fn, uxQueueLength, uxItemSize)) {
        return NULL;
    }
    struct QueueDefinition *q = make(queueQUEUE_TYPE_BASE, MEM_STATIC, uxQueueLength, uxItemSize,
                                     NULL, uxItemSize != 0 ? pucQueueStorage : NULL);
    if (q != NULL) {
        pxStaticQueue->host = q;
        q->buffer = pxStaticQueue;
        q->trace_type = trace_type;
    }
    return q;
}

QueueHandle_t xQueueCreateStatic(UBaseType_t uxQueueLength, UBaseType_t uxItemSize,
                                 uint8_t *pucQueueStorage, StaticQueue_t *pxStaticQueue)
{
    return create_static(__func__, uxQueueLength, uxItemSize, pucQueueStorage, pxStaticQueue,
                         queueQUEUE_TYPE_BASE);
}

QueueHandle_t xQueueGenericCreateStatic(const UBaseType_t uxQueueLength,
                                        const UBaseType_t uxItemSize, uint8_t *pucQueueStorage,
                                        StaticQueue_t *pxStaticQueue, const uint8_t ucQueueType)
{
    return create_static(__func__, uxQueueLength, uxItemSize, pucQueueStorage, pxStaticQueue,
                         ucQueueType);
}

QueueHandle_t xQueueCreateWithCaps(UBaseType_t uxQueueLength, UBaseType_t uxItemSize,
                                   UBaseType_t uxMemoryCaps)
{
    if (!valid_shape(__func__, uxQueueLength, uxItemSize)) {
        return NULL;
    }
    /* idf_additions.c: the record, then the storage (even when the record failed), each with the
     * caps. */
    void *block = heap_caps_malloc(QUEUE_SIZE, (uint32_t)uxMemoryCaps);
    uint8_t *storage = uxItemSize != 0
                           ? heap_caps_malloc((size_t)uxQueueLength * uxItemSize, (uint32_t)uxMemoryCaps)
                           : NULL;
    struct QueueDefinition *q = block != NULL && (uxItemSize == 0 || storage != NULL)
                                    ? make(queueQUEUE_TYPE_BASE, MEM_CAPS, uxQueueLength,
                                           uxItemSize, block, storage)
                                    : NULL;
    if (q == NULL) {
        heap_caps_free(storage);
        heap_caps_free(block);
        return NULL;
    }
    q->storage_block = storage;
    return q;
}

static void unregister_locked(QueueHandle_t q);

/* Lock held: why q may not be deleted now (NULL: it may). */
static const char *undeletable_locked(const struct QueueDefinition *q, bool caps_api)
{
    return !fr_handle_live_locked(q, FR_QUEUE)      ? "no live queue (deleted, or never one)"
           : q->waiting_items + q->waiting_room != 0 ? "tasks wait on it"
           : caps_api && q->memory != MEM_CAPS       ? "not made by a *CreateWithCaps()"
           /* FreeRTOS's vQueueDelete leaves a member in its set: the set would give its handle
            * (an item sent, then read without selecting the member, leaves it there too) */
           : q->set != NULL && fr_queue_set_holds_locked(q->set, q)
               ? "a member of a queue set that holds its handle"
           /* and its members would post into the deleted set */
           : q->members != 0 ? "a queue set that has members"
                             : NULL;
}

/* The memory a queue's creation took, freed by the delete that matches it. */
static void delete_queue(QueueHandle_t q, bool caps_api, const char *fn)
{
    fr_task_call();
    if (q == NULL) { /* vQueueDelete's configASSERT(pxQueue); the WithCaps deletes assert in
                        x*GetStaticBuffer*() first */
        FR_REFUSE("%s: no queue: refused (the chip asserts)", fn);
        return;
    }
    fr_lock();
    fr_let_woken_run_locked(q, FR_QUEUE, &q->waiting_items, &q->waiting_room);
    const char *refusal = undeletable_locked(q, caps_api);
    uint8_t memory = 0;
    if (refusal == NULL) {
        memory = q->memory;
        if (q->set != NULL) { /* a member whose handle is not in its set leaves it */
            q->set->members--;
        }
        unregister_locked(q); /* as FreeRTOS's vQueueDelete */
        fr_handle_remove_locked(q);
    }
    fr_unlock();
    if (refusal != NULL) {
        FR_REFUSE("%s(%p): %s: refused (the chip asserts or crashes)", fn, (void *)q,
                  refusal);
        return;
    }
    /* A plain delete of a WithCaps queue frees nothing, as on the chip, where its buffers are the
     * static ones of xQueueCreateStatic: they leak (heap tracing shows them). */
    const bool frees = caps_api || memory != MEM_CAPS;
    if (!frees) {
        ESP_LOGW(FR_TAG, "%s(%p): made by a *CreateWithCaps(): its memory stays allocated (delete it "
                         "with the *DeleteWithCaps() call instead)", fn, (void *)q);
    }
    void *block = frees ? q->block : NULL, *storage_block = frees ? q->storage_block : NULL;
    destroy(q);
    heap_caps_free(block); /* idf_additions.c's order: the record, then the storage */
    heap_caps_free(storage_block);
}

BaseType_t xQueueGenericGetStaticBuffers(QueueHandle_t xQueue, uint8_t **ppucQueueStorage,
                                         StaticQueue_t **ppxStaticQueue)
{
    if (xQueue == NULL || ppxStaticQueue == NULL) {
        FR_REFUSE("%s: no %s: refused (the chip asserts)", __func__,
                  xQueue == NULL ? "queue" : "place for the queue buffer");
        return pdFALSE;
    }
    if (!fr_enter_live(__func__, xQueue, FR_QUEUE, false)) {
        return pdFALSE;
    }
    /* A WithCaps queue or semaphore is a static one on the chip (idf_additions.c): its blocks are
     * its buffers. Without storage FreeRTOS's pcHead points at the queue itself, and is NULL for
     * a mutex (queueQUEUE_IS_MUTEX). */
    StaticQueue_t *const buffer =
        xQueue->memory == MEM_STATIC ? xQueue->buffer
        : xQueue->memory == MEM_CAPS ? (StaticQueue_t *)xQueue->block
                                     : NULL;
    uint8_t *const storage = is_mutex(xQueue)           ? NULL
                             : xQueue->storage != NULL ? xQueue->storage
                                                       : (uint8_t *)buffer;
    fr_unlock();
    if (buffer == NULL) {
        return pdFALSE;
    }
    if (ppucQueueStorage != NULL) {
        *ppucQueueStorage = storage;
    }
    *ppxStaticQueue = buffer;
    return pdTRUE;
}

void vQueueDelete(QueueHandle_t xQueue)
{
    delete_queue(xQueue, false, __func__);
}

void vQueueDeleteWithCaps(QueueHandle_t xQueue)
{
    delete_queue(xQueue, true, __func__);
}

void vSemaphoreDeleteWithCaps(SemaphoreHandle_t xSemaphore)
{
    delete_queue(xSemaphore, true, __func__);
}

/* ---- semaphores and mutexes -------------------------------------------------------------------- */

/* A storage-less queue of `type` holding `count`, its record from pvPortMalloc() (MEM_HEAP),
 * heap_caps_malloc(caps) (MEM_CAPS) or buf (MEM_STATIC). */
static QueueHandle_t make_semaphore(uint8_t type, UBaseType_t length, UBaseType_t count,
                                    uint8_t memory, StaticQueue_t *buf, UBaseType_t caps)
{
    void *block = NULL;
    if (memory != MEM_STATIC) {
        block = memory == MEM_CAPS ? heap_caps_malloc(QUEUE_SIZE, (uint32_t)caps)
                                   : pvPortMalloc(QUEUE_SIZE);
        if (block == NULL) {
            return NULL;
        }
    }
    struct QueueDefinition *q = make(type, memory, length, 0, block, NULL);
    if (q == NULL) {
        heap_caps_free(block);
        return NULL;
    }
    q->count = count;
    if (buf != NULL) {
        buf->host = q;
        q->buffer = buf;
    }
    return q;
}

static bool valid_type(const char *fn, uint8_t type, bool mutex_only)
{
    const bool mutex = type == queueQUEUE_TYPE_MUTEX || type == queueQUEUE_TYPE_RECURSIVE_MUTEX;
    if (mutex_only ? !mutex
                   : !mutex && type != queueQUEUE_TYPE_BINARY_SEMAPHORE &&
                         type != queueQUEUE_TYPE_COUNTING_SEMAPHORE) {
        FR_REFUSE("%s: type %u: refused", fn, type);
        return false;
    }
    return true;
}

static bool valid_counts(const char *fn, UBaseType_t max, UBaseType_t initial)
{
    if (max == 0 || initial > max) {
        FR_REFUSE("%s(%u, %u): %s: refused (the chip asserts)", fn, max, initial,
                  max == 0 ? "maximum 0" : "initial count above the maximum");
        return false;
    }
    return true;
}

QueueHandle_t xQueueCreateMutex(const uint8_t ucQueueType)
{
    return valid_type(__func__, ucQueueType, true) ? make_semaphore(ucQueueType, 1, 1, MEM_HEAP, NULL, 0) : NULL;
}

/* A static semaphore's buffer (FreeRTOS: configASSERT(pxStaticQueue)); false, refused, for none
 * and for a live one's. */
static bool has_buffer(const char *fn, const StaticQueue_t *buffer)
{
    if (buffer == NULL) {
        FR_REFUSE("%s: no buffer: refused (the chip asserts)", fn);
        return false;
    }
    return !fr_refuse_live_buffer(fn, buffer, buffer->host, FR_QUEUE, buffer_of);
}

QueueHandle_t xQueueCreateMutexStatic(const uint8_t ucQueueType, StaticQueue_t *pxStaticQueue)
{
    if (!has_buffer(__func__, pxStaticQueue) || !valid_type(__func__, ucQueueType, true)) {
        return NULL;
    }
    return make_semaphore(ucQueueType, 1, 1, MEM_STATIC, pxStaticQueue, 0);
}

QueueHandle_t xQueueCreateCountingSemaphore(const UBaseType_t uxMaxCount,
                                            const UBaseType_t uxInitialCount)
{
    if (!valid_counts(__func__, uxMaxCount, uxInitialCount)) {
        return NULL;
    }
    return make_semaphore(queueQUEUE_TYPE_COUNTING_SEMAPHORE, uxMaxCount, uxInitialCount, MEM_HEAP, NULL,
                          0);
}

QueueHandle_t xQueueCreateCountingSemaphoreStatic(const UBaseType_t uxMaxCount,
                                                  const UBaseType_t uxInitialCount,
                                                  StaticQueue_t *pxStaticQueue)
{
    if (!has_buffer(__func__, pxStaticQueue) ||
        !valid_counts(__func__, uxMaxCount, uxInitialCount)) {
        return NULL;
    }
    return make_semaphore(queueQUEUE_TYPE_COUNTING_SEMAPHORE, uxMaxCount, uxInitialCount,
                          MEM_STATIC, pxStaticQueue, 0);
}

QueueHandle_t xQueueCreateBinarySemaphore(void)
{
    return make_semaphore(queueQUEUE_TYPE_BINARY_SEMAPHORE, 1, 0, MEM_HEAP, NULL, 0);
}

QueueHandle_t xQueueCreateBinarySemaphoreStatic(StaticQueue_t *pxStaticQueue)
{
    return has_buffer(__func__, pxStaticQueue)
               ? make_semaphore(queueQUEUE_TYPE_BINARY_SEMAPHORE, 1, 0, MEM_STATIC, pxStaticQueue, 0)
               : NULL;
}

SemaphoreHandle_t xSemaphoreCreateGenericWithCaps(UBaseType_t uxMaxCount, UBaseType_t uxInitialCount,
                                                  const uint8_t ucQueueType,
                                                  UBaseType_t uxMemoryCaps)
{
    if (!valid_type(__func__, ucQueueType, false)) {
        return NULL;
    }
    if (ucQueueType == queueQUEUE_TYPE_COUNTING_SEMAPHORE) {
        if (!valid_counts(__func__, uxMaxCount, uxInitialCount)) {
            return NULL;
        }
        return make_semaphore(ucQueueType, uxMaxCount, uxInitialCount, MEM_CAPS, NULL, uxMemoryCaps);
    }
    const UBaseType_t count = ucQueueType == queueQUEUE_TYPE_BINARY_SEMAPHORE ? 0 : 1;
    return make_semaphore(ucQueueType, 1, count, MEM_CAPS, NULL, uxMemoryCaps);
}

/* ---- sending and receiving --------------------------------------------------------------------- */

/* Lock held: true when putting an item at `position` replaces one (an overwrite of a full queue
 * of one): the count stays, and FreeRTOS does not tell the queue's set. */
static bool replaces(const struct QueueDefinition *q, BaseType_t position)
{
    return position == queueOVERWRITE && q->count == q->length;
}

/* Lock held: one item copied into the ring (a semaphore's count up), nobody woken. */
static void copy_in_locked(struct QueueDefinition *q, const void *item, BaseType_t position)
{
    if (replaces(q, position)) {
        q->count = 0; /* a queue of one: its item is replaced */
        q->head = 0;
    }
    if (q->item_size != 0 && item != NULL) { /* NULL: a give (a semaphore) */
        UBaseType_t at;
        if (position == queueSEND_TO_FRONT) {
            q->head = q->head == 0 ? q->length - 1 : q->head - 1;
            at = q->head;
        } else {
            at = (q->head + q->count) % q->length;
        }
        memcpy(q->storage + (size_t)at * q->item_size, item, q->item_size);
    }
    q->count++;
}

/* Lock held: one item in. A member of a queue set puts its handle in the set and wakes a task
 * selecting from it, not one waiting on the member itself (FreeRTOS: a member is read after
 * xQueueSelectFromSet() gave its handle); the set has room (set_full_refused checked it). */
static void put_locked(struct QueueDefinition *q, const void *item, BaseType_t position)
{
    const bool replacing = replaces(q, position);
    copy_in_locked(q, item, position);
    struct QueueDefinition *woken = q;
    if (q->set != NULL) {
        if (replacing) {
            return;
        }
        woken = q->set;
        copy_in_locked(woken, &q, queueSEND_TO_BACK); /* the set's set is not told, as FreeRTOS */
    }
    if (woken->waiting_items != 0) {
        (void)fr_wake_one_locked(&woken->items);
    }
}

/* Lock held: when q is a member of a queue set that has no room for the handle an item or give
 * at `position` would put there (the chip asserts: a set shorter than its members together, or
 * a member read without selecting it), unlocks, logs and answers true; nothing changed. */
static bool set_full_refused(const char *fn, const struct QueueDefinition *q, BaseType_t position)
{
    const struct QueueDefinition *set = q->set;
    if (set == NULL || replaces(q, position) || set->count < set->length) {
        return false;
    }
    fr_unlock();
    FR_REFUSE("%s(%p): its queue set %p is full: refused (the chip asserts: make a set as "
              "long as its members together, and read a member only once selected)",
              fn, (const void *)q, (const void *)set);
    return true;
}

/* Lock held: the oldest item out (or only copied: peek). */
static void take_locked(struct QueueDefinition *q, void *buffer, bool peek)
{
    if (q->item_size != 0 && buffer != NULL) {
        memcpy(buffer, q->storage + (size_t)q->head * q->item_size, q->item_size);
    }
    if (peek) {
        if (q->waiting_items != 0) {
            (void)fr_wake_one_locked(&q->items); /* the item is still there for another waiter */
        }
        return;
    }
    q->head = (q->head + 1) % q->length;
    q->count--;
    if (q->waiting_room != 0) {
        (void)fr_wake_one_locked(&q->room);
    }
}

/* What a queue is (fixed at its creation). */
typedef struct {
    UBaseType_t length, item_size;
    bool mutex, recursive, set;
} shape_t;

/* q's shape (all zero for NULL), read under the lock, so that a task deleted meanwhile ends (in
 * fr_enter) before it reads a queue that may have gone with it; false (logged, all zero) when q
 * is not NULL and names no live queue: nothing behind it is read. */
static bool shape_of(const char *fn, QueueHandle_t q, shape_t *out)
{
    *out = (shape_t){0};
    if (q == NULL) {
        return true;
    }
    fr_enter();
    const bool live = fr_handle_live_locked(q, FR_QUEUE);
    if (live) {
        *out = (shape_t){.length = q->length, .item_size = q->item_size, .mutex = is_mutex(q),
                         .recursive = q->type == queueQUEUE_TYPE_RECURSIVE_MUTEX,
                         .set = q->is_set};
    }
    fr_unlock();
    if (!live) {
        fr_refuse_dead(fn, q, FR_QUEUE);
    }
    return live;
}

/* Lock held: when q names no live queue, unlocks, logs and answers true (nothing read). */
static bool dead_refused(const char *fn, QueueHandle_t q)
{
    if (fr_handle_live_locked(q, FR_QUEUE)) {
        return false;
    }
    fr_unlock();
    fr_refuse_dead(fn, q, FR_QUEUE);
    return true;
}

/* The first look of a call at q: its shape; false (logged) for a NULL or dead queue, or a NULL
 * item buffer for items that have a size. */
static bool look(const char *fn, QueueHandle_t q, const void *item, shape_t *out)
{
    if (!shape_of(fn, q, out)) {
        return false;
    }
    if (q == NULL || (item == NULL && out->item_size != 0)) {
        FR_REFUSE("%s: %s: refused (the chip asserts)", fn,
                  q == NULL ? "no queue" : "no item buffer");
        return false;
    }
    return true;
}


BaseType_t xQueueGenericSend(QueueHandle_t xQueue, const void *const pvItemToQueue,
                             TickType_t xTicksToWait, const BaseType_t xCopyPosition)
{
    fr_task_call();
    shape_t shape;
    if (!look(__func__, xQueue, pvItemToQueue, &shape) ||
        fr_refuse_wait(__func__, xTicksToWait)) {
        return pdFAIL;
    }
    struct QueueDefinition *q = xQueue;
    if (xCopyPosition == queueOVERWRITE && shape.length != 1) {
        FR_REFUSE("%s: overwrite on a queue of length %u: refused (the chip asserts)",
                  __func__, shape.length);
        return pdFAIL;
    }
    const TaskHandle_t self = shape.mutex ? fr_self() : NULL; /* before the lock: it may take it */
    struct timespec deadline;
    const bool timed = fr_deadline(xTicksToWait, &deadline);
    fr_enter();
    if (dead_refused(__func__, q)) { /* deleted since the look (a caller fr_enter() does not end) */
        return pdFAIL;
    }
    /* A mutex nobody holds is a full queue of one: its give fails as a send to a full queue
     * (errQUEUE_FULL, nothing logged), as on the chip; held by another task, the chip asserts. */
    while (!(is_mutex(q) && q->holder != NULL && q->holder != self) && q->count == q->length &&
           xCopyPosition != queueOVERWRITE) {
        if (xTicksToWait == 0) {
            fr_unlock();
            return errQUEUE_FULL;
        }
        const bool signalled = fr_wait(&q->room, timed ? &deadline : NULL, &q->waiting_room, NULL, NULL);
        if (!signalled && q->count == q->length) {
            fr_unlock();
            return errQUEUE_FULL;
        }
    }
    if (is_mutex(q) && q->holder != self) { /* another task holds it (or took it meanwhile) */
        fr_unlock(); /* never log under the kernel lock: a log hook may call FreeRTOS */
        FR_REFUSE("xSemaphoreGive(%p): the caller does not hold this mutex: refused (the "
                  "chip asserts)", (void *)q);
        return pdFAIL;
    }
    if (set_full_refused(__func__, q, xCopyPosition)) {
        return pdFAIL;
    }
    if (is_mutex(q)) {
        q->holder = NULL;
    }
    put_locked(q, pvItemToQueue, xCopyPosition);
    fr_unlock();
    return pdPASS;
}

BaseType_t xQueueGenericSendFromISR(QueueHandle_t xQueue, const void *const pvItemToQueue,
                                    BaseType_t *const pxHigherPriorityTaskWoken,
                                    const BaseType_t xCopyPosition)
{
    shape_t shape;
    if (!look(__func__, xQueue, pvItemToQueue, &shape)) {
        return pdFAIL;
    }
    struct QueueDefinition *q = xQueue;
    if ((xCopyPosition == queueOVERWRITE && shape.length != 1) || shape.mutex) {
        FR_REFUSE("%s: %s: refused (the chip asserts)", __func__,
                  shape.mutex ? "a mutex" : "overwrite on a queue longer than 1");
        return pdFAIL;
    }
    fr_lock();
    if (dead_refused(__func__, q)) { /* deleted since the look */
        return pdFAIL;
    }
    if (q->count == q->length && xCopyPosition != queueOVERWRITE) {
        fr_unlock();
        return errQUEUE_FULL;
    }
    if (set_full_refused(__func__, q, xCopyPosition)) {
        return pdFAIL;
    }
    /* a receiver not yet served by the items already queued (each one woken takes one): of the
     * queue, or of its set when it is in one (unless the item replaced one: nobody is told) */
    const struct QueueDefinition *told = q->set == NULL               ? q
                                         : replaces(q, xCopyPosition) ? NULL
                                                                      : q->set;
    const bool woke = told != NULL && told->waiting_items > told->count &&
                      fr_first_outranks_caller_locked(&told->items);
    put_locked(q, pvItemToQueue, xCopyPosition);
    fr_unlock();
    if (woke && pxHigherPriorityTaskWoken != NULL) {
        *pxHigherPriorityTaskWoken = pdTRUE;
    }
    return pdPASS;
}

BaseType_t xQueueGiveFromISR(QueueHandle_t xQueue, BaseType_t *const pxHigherPriorityTaskWoken)
{
    return xQueueGenericSendFromISR(xQueue, NULL, pxHigherPriorityTaskWoken, queueSEND_TO_BACK);
}

/* Receive, peek or take (a semaphore or mutex: buffer NULL, item size 0). */
static BaseType_t receive(const char *fn, QueueHandle_t xQueue, void *buffer, TickType_t ticks,
                          bool peek)
{
    fr_task_call();
    shape_t shape;
    if (!look(fn, xQueue, buffer, &shape) || fr_refuse_wait(fn, ticks)) {
        return pdFAIL;
    }
    struct QueueDefinition *q = xQueue;
    TaskHandle_t self = NULL;
    if (shape.mutex) {
        if (sim_in_isr()) {
            FR_REFUSE("%s: a mutex in an ISR: refused (the chip asserts)", fn);
            return pdFAIL;
        }
        self = fr_self();
    }
    struct timespec deadline;
    const bool timed = fr_deadline(ticks, &deadline);
    fr_enter();
    if (dead_refused(fn, q)) { /* deleted since the look (a caller fr_enter() does not end) */
        return pdFAIL;
    }
    while (q->count == 0) {
        if (ticks == 0) {
            fr_unlock();
            return errQUEUE_EMPTY;
        }
        const bool signalled = fr_wait(&q->items, timed ? &deadline : NULL, &q->waiting_items, NULL,
                                       NULL);
        if (!signalled && q->count == 0) {
            fr_unlock();
            return errQUEUE_EMPTY;
        }
    }
    take_locked(q, buffer, peek);
    if (is_mutex(q) && !peek) {
        q->holder = self;
        q->recursion = 1;
    }
    fr_unlock();
    return pdPASS;
}

BaseType_t xQueueReceive(QueueHandle_t xQueue, void *const pvBuffer, TickType_t xTicksToWait)
{
    return receive(__func__, xQueue, pvBuffer, xTicksToWait, false);
}

BaseType_t xQueuePeek(QueueHandle_t xQueue, void *const pvBuffer, TickType_t xTicksToWait)
{
    return receive(__func__, xQueue, pvBuffer, xTicksToWait, true);
}

BaseType_t xQueueSemaphoreTake(QueueHandle_t xQueue, TickType_t xTicksToWait)
{
    fr_task_call();
    shape_t shape;
    if (!shape_of(__func__, xQueue, &shape)) {
        return pdFAIL;
    }
    if (shape.item_size != 0) {
        FR_REFUSE("%s: not a semaphore: refused (the chip asserts)", __func__);
        return pdFAIL;
    }
    return receive(__func__, xQueue, NULL, xTicksToWait, false);
}

BaseType_t xQueueReceiveFromISR(QueueHandle_t xQueue, void *const pvBuffer,
                                BaseType_t *const pxHigherPriorityTaskWoken)
{
    shape_t shape;
    if (!look(__func__, xQueue, pvBuffer, &shape)) {
        return pdFAIL;
    }
    struct QueueDefinition *q = xQueue;
    if (shape.mutex) {
        FR_REFUSE("%s: a mutex: refused (FreeRTOS forbids mutexes in ISRs; the chip takes it "
                  "for no task)", __func__);
        return pdFAIL;
    }
    fr_lock();
    if (dead_refused(__func__, q)) { /* deleted since the look */
        return pdFAIL;
    }
    if (q->count == 0) {
        fr_unlock();
        return errQUEUE_EMPTY;
    }
    const bool woke = q->waiting_room > q->length - q->count && /* as above, for the free slots */
                      fr_first_outranks_caller_locked(&q->room);
    take_locked(q, pvBuffer, false);
    fr_unlock();
    if (woke && pxHigherPriorityTaskWoken != NULL) {
        *pxHigherPriorityTaskWoken = pdTRUE;
    }
    return pdPASS;
}

BaseType_t xQueuePeekFromISR(QueueHandle_t xQueue, void *const pvBuffer)
{
    shape_t shape;
    if (!look(__func__, xQueue, pvBuffer, &shape)) {
        return pdFAIL;
    }
    if (shape.item_size == 0) {
        FR_REFUSE("%s: a semaphore cannot be peeked: refused (the chip asserts)", __func__);
        return pdFAIL;
    }
    fr_lock();
    if (dead_refused(__func__, xQueue)) { /* deleted since the look */
        return pdFAIL;
    }
    const bool any = xQueue->count != 0;
    if (any) {
        take_locked(xQueue, pvBuffer, true);
    }
    fr_unlock();
    return any ? pdPASS : errQUEUE_EMPTY;
}

/* ---- recursive mutexes ------------------------------------------------------------------------- */

BaseType_t xQueueTakeMutexRecursive(QueueHandle_t xMutex, TickType_t xTicksToWait)
{
    fr_task_call();
    shape_t shape;
    if (!shape_of(__func__, xMutex, &shape)) {
        return pdFALSE;
    }
    if (!shape.recursive) {
        FR_REFUSE("%s: not a recursive mutex: refused (FreeRTOS asks for one; the chip does not check)",
                  __func__);
        return pdFALSE;
    }
    TaskHandle_t self = fr_self();
    fr_enter();
    if (dead_refused(__func__, xMutex)) {
        return pdFALSE;
    }
    if (xMutex->holder != NULL && xMutex->holder == self) {
        xMutex->recursion++;
        fr_unlock();
        return pdTRUE;
    }
    fr_unlock();
    return receive(__func__, xMutex, NULL, xTicksToWait, false);
}

BaseType_t xQueueGiveMutexRecursive(QueueHandle_t xMutex)
{
    fr_task_call();
    shape_t shape;
    if (!shape_of(__func__, xMutex, &shape)) {
        return pdFALSE;
    }
    if (!shape.recursive) {
        FR_REFUSE("%s: not a recursive mutex: refused (FreeRTOS asks for one; the chip does not check)",
                  __func__);
        return pdFALSE;
    }
    TaskHandle_t self = fr_self();
    fr_enter();
    if (dead_refused(__func__, xMutex)) {
        return pdFALSE;
    }
    if (xMutex->holder == NULL || xMutex->holder != self) {
        fr_unlock();
        return pdFALSE; /* FreeRTOS's answer to a give by a task that does not hold it */
    }
    if (xMutex->recursion == 1 && set_full_refused(__func__, xMutex, queueSEND_TO_BACK)) {
        return pdFALSE;
    }
    if (--xMutex->recursion != 0) {
        fr_unlock();
        return pdTRUE;
    }
    xMutex->holder = NULL;
    put_locked(xMutex, NULL, queueSEND_TO_BACK);
    fr_unlock();
    return pdTRUE;
}

/* ---- queries ----------------------------------------------------------------------------------- */

/* A query's way in: fr_lock() held on a live queue; false, refused, for NULL (the chip asserts) or
 * a deleted queue. */
static bool enter_query(const char *fn, QueueHandle_t q)
{
    if (q == NULL) {
        FR_REFUSE("%s: no queue or semaphore: refused (the chip asserts)", fn);
        return false;
    }
    fr_lock();
    return !dead_refused(fn, q);
}

TaskHandle_t xQueueGetMutexHolder(QueueHandle_t xSemaphore)
{
    if (!enter_query(__func__, xSemaphore)) {
        return NULL;
    }
    TaskHandle_t holder = is_mutex(xSemaphore) ? xSemaphore->holder : NULL;
    fr_unlock();
    return holder;
}

/* The trace facility's (queue.c reads NULL's fields: a crash, refused here as a chip assert). */
void vQueueSetQueueNumber(QueueHandle_t xQueue, UBaseType_t uxQueueNumber)
{
    if (enter_query(__func__, xQueue)) {
        xQueue->trace_number = uxQueueNumber;
        fr_unlock();
    }
}

UBaseType_t uxQueueGetQueueNumber(QueueHandle_t xQueue)
{
    if (!enter_query(__func__, xQueue)) {
        return 0;
    }
    const UBaseType_t n = xQueue->trace_number;
    fr_unlock();
    return n;
}

uint8_t ucQueueGetQueueType(QueueHandle_t xQueue)
{
    if (!enter_query(__func__, xQueue)) {
        return 0;
    }
    const uint8_t type = xQueue->trace_type;
    fr_unlock();
    return type;
}

UBaseType_t uxQueueMessagesWaiting(const QueueHandle_t xQueue)
{
    if (!enter_query(__func__, xQueue)) {
        return 0;
    }
    UBaseType_t n = xQueue->count;
    fr_unlock();
    return n;
}

UBaseType_t uxQueueSpacesAvailable(const QueueHandle_t xQueue)
{
    if (!enter_query(__func__, xQueue)) {
        return 0;
    }
    UBaseType_t n = xQueue->length - xQueue->count;
    fr_unlock();
    return n;
}

BaseType_t xQueueIsQueueEmptyFromISR(const QueueHandle_t xQueue)
{
    if (!enter_query(__func__, xQueue)) {
        return pdFALSE;
    }
    const bool empty = xQueue->count == 0;
    fr_unlock();
    return empty ? pdTRUE : pdFALSE;
}

BaseType_t xQueueIsQueueFullFromISR(const QueueHandle_t xQueue)
{
    if (!enter_query(__func__, xQueue)) {
        return pdFALSE;
    }
    const bool full = xQueue->count == xQueue->length;
    fr_unlock();
    return full ? pdTRUE : pdFALSE;
}

BaseType_t xQueueGenericReset(QueueHandle_t xQueue, BaseType_t xNewQueue)
{
    fr_task_call();
    (void)xNewQueue;
    if (xQueue == NULL) {
        FR_REFUSE("%s: no queue: refused (the chip asserts)", __func__);
        return pdFAIL;
    }
    fr_lock();
    if (dead_refused(__func__, xQueue)) {
        return pdFAIL;
    }
    if (is_mutex(xQueue)) { /* its holder and recursion share the queue's fields on the chip */
        fr_unlock();
        FR_REFUSE("%s: a mutex: refused (the chip leaves it taken by no task: no take succeeds, "
                  "any task may give it)", __func__);
        return pdFAIL;
    }
    xQueue->count = 0;
    xQueue->head = 0;
    /* FreeRTOS unblocks one waiting sender; the others wait for a receive or their timeout (the
     * room they could have is theirs only then) */
    (void)fr_wake_one_locked(&xQueue->room);
    fr_unlock();
    return pdPASS;
}

/* ---- queue sets -------------------------------------------------------------------------------- */

QueueSetHandle_t xQueueCreateSet(const UBaseType_t uxEventQueueLength)
{
    if (!valid_shape(__func__, uxEventQueueLength, CHIP_HANDLE_SIZE)) {
        return NULL;
    }
    /* xQueueGenericCreate(length, sizeof(Queue_t *), queueQUEUE_TYPE_SET): one block */
    uint8_t *block = pvPortMalloc(QUEUE_SIZE + (size_t)uxEventQueueLength * CHIP_HANDLE_SIZE);
    if (block == NULL) {
        return NULL;
    }
    /* A 32-bit host's handles fit the chip's slots; a 64-bit host's go to host memory. */
    const bool fits = sizeof(QueueSetMemberHandle_t) <= CHIP_HANDLE_SIZE;
    uint8_t *host = fits ? NULL : __real_calloc(uxEventQueueLength, sizeof(QueueSetMemberHandle_t));
    struct QueueDefinition *set =
        fits || host != NULL ? make(queueQUEUE_TYPE_BASE, MEM_HEAP, uxEventQueueLength,
                                    sizeof(QueueSetMemberHandle_t), block,
                                    fits ? block + QUEUE_SIZE : host)
                             : NULL;
    if (set == NULL) {
        __real_free(host);
        vPortFree(block);
        return NULL;
    }
    set->is_set = true;
    set->host_storage = host;
    return set;
}

/* The first look at a set argument: false (logged) for NULL, a dead handle or one that is not a
 * set. */
static bool is_set_arg(const char *fn, QueueSetHandle_t set)
{
    shape_t shape;
    if (!shape_of(fn, set, &shape)) {
        return false;
    }
    if (set == NULL || !shape.set) {
        FR_REFUSE("%s(%p): %s: refused (the chip asserts or corrupts memory)", fn,
                  (void *)set, set == NULL ? "no queue set" : "not a queue set");
        return false;
    }
    return true;
}

/* The first look of xQueueAddToSet/xQueueRemoveFromSet: false (logged) for no member or no set. */
static bool member_args(const char *fn, QueueSetMemberHandle_t member, QueueSetHandle_t set)
{
    fr_task_call();
    if (member == NULL) {
        FR_REFUSE("%s: no queue or semaphore: refused (the chip crashes)", fn);
        return false;
    }
    shape_t shape;
    return shape_of(fn, member, &shape) && is_set_arg(fn, set);
}

bool fr_queue_set_members_locked(QueueSetHandle_t set, int change)
{
    if (!fr_handle_live_locked(set, FR_QUEUE) || !set->is_set) {
        return false;
    }
    set->members = (UBaseType_t)((int)set->members + change);
    return true;
}

bool fr_queue_set_holds_locked(QueueSetHandle_t set, const void *member)
{
    for (UBaseType_t i = 0; i < set->count; i++) {
        QueueSetMemberHandle_t held;
        memcpy(&held, set->storage + (size_t)((set->head + i) % set->length) * set->item_size,
               sizeof held);
        if ((const void *)held == member) {
            return true;
        }
    }
    return false;
}

BaseType_t xQueueAddToSet(QueueSetMemberHandle_t xQueueOrSemaphore, QueueSetHandle_t xQueueSet)
{
    if (!member_args(__func__, xQueueOrSemaphore, xQueueSet)) {
        return pdFAIL;
    }
    fr_lock();
    if (dead_refused(__func__, xQueueOrSemaphore) || dead_refused(__func__, xQueueSet)) {
        return pdFAIL; /* deleted since the look */
    }
    const struct QueueDefinition *old = xQueueOrSemaphore->set;
    const bool empty = xQueueOrSemaphore->count == 0;
    if (old == NULL && empty) {
        xQueueOrSemaphore->set = xQueueSet;
        xQueueSet->members++;
    }
    fr_unlock();
    if (old != NULL || !empty) {
        FR_REFUSE("%s(%p, %p): %s: refused", __func__, (void *)xQueueOrSemaphore,
                  (void *)xQueueSet,
                  old != NULL ? "already in a queue set (a queue is in one set at most)"
                              : "not empty (a given semaphore or a free mutex is not)");
        return pdFAIL;
    }
    return pdPASS;
}

BaseType_t xQueueRemoveFromSet(QueueSetMemberHandle_t xQueueOrSemaphore,
                               QueueSetHandle_t xQueueSet)
{
    if (!member_args(__func__, xQueueOrSemaphore, xQueueSet)) {
        return pdFAIL;
    }
    fr_lock();
    if (dead_refused(__func__, xQueueOrSemaphore) || dead_refused(__func__, xQueueSet)) {
        return pdFAIL; /* deleted since the look */
    }
    const bool member = xQueueOrSemaphore->set == xQueueSet;
    const bool empty = xQueueOrSemaphore->count == 0;
    /* read without a select, a member is empty with its handle still in the set: FreeRTOS
     * (queue.c, v5.5.1) lets it go, and the set gives its handle later, deleted or not (refused
     * here: docs/simulator.md, where a host build differs) */
    const bool held = member && empty && fr_queue_set_holds_locked(xQueueSet, xQueueOrSemaphore);
    if (member && empty && !held) {
        xQueueOrSemaphore->set = NULL;
        xQueueSet->members--;
    }
    fr_unlock();
    if (!member || !empty || held) {
        FR_REFUSE("%s(%p, %p): %s: refused", __func__, (void *)xQueueOrSemaphore,
                  (void *)xQueueSet,
                  !member ? "not in this queue set"
                  : !empty ? "not empty (the set holds its handle)"
                           : "the set holds its handle (read without a select: select it first)");
        return pdFAIL;
    }
    return pdPASS;
}

QueueSetMemberHandle_t xQueueSelectFromSet(QueueSetHandle_t xQueueSet, const TickType_t xTicksToWait)
{
    fr_task_call();
    QueueSetMemberHandle_t member = NULL;
    if (is_set_arg(__func__, xQueueSet)) {
        (void)receive(__func__, xQueueSet, &member, xTicksToWait, false);
    }
    return member;
}

QueueSetMemberHandle_t xQueueSelectFromSetFromISR(QueueSetHandle_t xQueueSet)
{
    QueueSetMemberHandle_t member = NULL;
    if (is_set_arg(__func__, xQueueSet)) {
        (void)xQueueReceiveFromISR(xQueueSet, &member, NULL);
    }
    return member;
}

/* ---- the queue registry ------------------------------------------------------------------------ */

/* FreeRTOS's xQueueRegistry: a free slot has no name. Under the kernel lock. */
static struct {
    QueueHandle_t handle;
    const char *name;
} registry[REGISTRY_SIZE > 0 ? REGISTRY_SIZE : 1];

/* Lock held: q's slot, -1 when it has none. */
static int slot_of_locked(QueueHandle_t q)
{
    for (int i = 0; i < REGISTRY_SIZE; i++) {
        if (registry[i].handle == q) {
            return i;
        }
    }
    return -1;
}

static void unregister_locked(QueueHandle_t q)
{
    const int i = slot_of_locked(q);
    if (i >= 0) {
        registry[i].handle = NULL;
        registry[i].name = NULL;
    }
}

static bool registry_arg(const char *fn, QueueHandle_t q)
{
    if (q == NULL) {
        FR_REFUSE("%s: no queue: refused (the chip asserts)", fn);
        return false;
    }
    return true;
}

void vQueueAddToRegistry(QueueHandle_t xQueue, const char *pcQueueName)
{
    if (!registry_arg(__func__, xQueue) || pcQueueName == NULL) {
        return; /* FreeRTOS: a NULL name changes nothing */
    }
    fr_lock();
    int at = slot_of_locked(xQueue); /* registered again: the new name */
    for (int i = 0; at < 0 && i < REGISTRY_SIZE; i++) {
        if (registry[i].name == NULL) { /* the first free slot */
            at = i;
        }
    }
    if (at >= 0) {
        registry[at].handle = xQueue;
        registry[at].name = pcQueueName;
    }
    fr_unlock();
}

void vQueueUnregisterQueue(QueueHandle_t xQueue)
{
    if (registry_arg(__func__, xQueue)) {
        fr_lock();
        unregister_locked(xQueue);
        fr_unlock();
    }
}

const char *pcQueueGetName(QueueHandle_t xQueue)
{
    if (!registry_arg(__func__, xQueue)) {
        return NULL;
    }
    fr_lock();
    const int i = slot_of_locked(xQueue);
    const char *name = i >= 0 ? registry[i].name : NULL;
    fr_unlock();
    return name;
}
