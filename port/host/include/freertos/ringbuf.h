/*
 * freertos/ringbuf.h (host) - ESP-IDF's ring buffers (component esp_ringbuf, v5.5's API) with the
 * chip's memory use and figures: the same layout in the same simulated-heap blocks, so that
 * GetMaxItemSize, GetCurFreeSize, vRingbufferGetInfo and what fits are the chip's numbers.
 *
 * - xRingbufferCreate(n, type): a 112-byte control block (sizeof(StaticRingbuffer_t) on the S3)
 *   by calloc() and the n-byte storage (n rounded up to 4 unless RINGBUF_TYPE_BYTEBUF) by
 *   malloc(): ESP-IDF's malloc policy (heap_caps_malloc_default), both freed by
 *   vRingbufferDelete. WithCaps: both blocks by heap_caps_malloc(caps).
 * - No-split and allow-split items take an 8-byte header (the chip's, on every host) and their
 *   size rounded up to 4; a no-split item that does not fit before the end leaves the rest as a
 *   dummy and starts at the beginning; an allow-split one is cut in two (a second header).
 * - Sends wait for room and receives for an item (any number of tasks, woken the highest priority
 *   first, first come among equals). Received items must be returned (vRingbufferReturnItem);
 *   they may be returned out of order, as in ESP-IDF (its returns since v5.5.2; v5.2's with
 *   CONFIG_KRAKEN_SIM_ESP_IDF_V5_2).
 * - What ESP-IDF asserts on (a NULL handle or size pointer, a call for another type of buffer,
 *   an item returned twice or a pointer that is no received item, a size of 0, ...) is refused
 *   with the call's failure value, logged and counted (kraken_sim_stats_t.refused_calls).
 *
 * Calling context words (docs/simulator.md): "task" may be called from a task only; "isr" from
 * a simulated ISR (kraken_sim_isr_enter()); "may block" waits up to its xTicksToWait.
 */
#ifndef FREERTOS_RINGBUF_H_HOST
#define FREERTOS_RINGBUF_H_HOST

#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A ring buffer; void * as in ESP-IDF (so that it converts to a QueueSetMemberHandle_t). */
typedef void *RingbufHandle_t;

typedef enum {
    /** Items kept whole: an 8-byte header each, 32-bit aligned sizes. */
    RINGBUF_TYPE_NOSPLIT = 0,
    /** Items cut in two at the end of the storage when needed (a second header). */
    RINGBUF_TYPE_ALLOWSPLIT,
    /** A stream of bytes: no headers, no items. */
    RINGBUF_TYPE_BYTEBUF,
    RINGBUF_TYPE_MAX,
} RingbufferType_t;

/** sizeof(StaticRingbuffer_t) on the ESP32-S3 (ESP-IDF asserts it equals its Ringbuffer_t). */
#define KRAKEN_SIM_RINGBUF_BYTES 112u

/** Memory a ring buffer made by xRingbufferCreateStatic() uses instead of the control block
 *  (112 bytes on the S3 and a 32-bit host; 120 on a 64-bit one). */
typedef struct xSTATIC_RINGBUFFER {
    void *host; /* the host record */
    uint8_t reserved[KRAKEN_SIM_RINGBUF_BYTES - 4u];
} StaticRingbuffer_t;

/** A ring buffer of xBufferSize bytes (rounded up to 4 unless a byte buffer): the control block by
 *  calloc(), then the storage by malloc() (both tried; on a failure both freed). NULL when the heap
 *  cannot hold them or the host is out of memory; refused with NULL, logged (the chip asserts): a
 *  size of 0, a type of RINGBUF_TYPE_MAX or more, a size the chip cannot address; also a
 *  no-split buffer under 12 bytes (after rounding) or an allow-split one under 16, whose maximum
 *  item size wraps around on the chip (a send there overruns the storage). task, O(1). */
RingbufHandle_t xRingbufferCreate(size_t xBufferSize, RingbufferType_t xBufferType);
/** xRingbufferCreate((xItemSize rounded up to 4 + 8) * xItemNum, RINGBUF_TYPE_NOSPLIT). */
RingbufHandle_t xRingbufferCreateNoSplit(size_t xItemSize, size_t xItemNum);
/** The same on the caller's memory, no heap call. Refused with NULL, logged: NULL storage or
 *  buffer, a size of 0, a bad type, a size not a multiple of 4 (unless a byte buffer), storage not
 *  4-byte aligned (unless a byte buffer: the chip asserts at the first send), the sizes above.
 *  task, O(1). */
RingbufHandle_t xRingbufferCreateStatic(size_t xBufferSize, RingbufferType_t xBufferType,
                                        uint8_t *pucRingbufferStorage,
                                        StaticRingbuffer_t *pxStaticRingbuffer);
/** As xRingbufferCreate with both blocks from heap_caps_malloc(uxMemoryCaps) (MALLOC_CAP_SPIRAM:
 *  PSRAM, which ESP-IDF allows); made as a static buffer, as in ESP-IDF. NULL when either block
 *  cannot be had (a size of 0 is one: heap_caps_malloc(0) is NULL); refused with NULL, logged,
 *  both blocks freed: xRingbufferCreateStatic's checks (a bad type, the sizes above). task, O(1). */
RingbufHandle_t xRingbufferCreateWithCaps(size_t xBufferSize, RingbufferType_t xBufferType,
                                          UBaseType_t uxMemoryCaps);

/** Copies xItemSize bytes in as one item (a byte buffer: as bytes), waiting up to xTicksToWait for
 *  room. pdTRUE when sent; pdFALSE on timeout, at once for an item larger than
 *  xRingbufferGetMaxItemSize() (it never fits; not a refusal, as in ESP-IDF); 0 bytes to a byte
 *  buffer is pdTRUE, nothing sent. Refused with pdFALSE, logged: NULL handle, NULL item with a
 *  size, a wait in an ISR or critical section. task, may block, O(1). */
BaseType_t xRingbufferSend(RingbufHandle_t xRingbuffer, const void *pvItem, size_t xItemSize,
                           TickType_t xTicksToWait);
/** xRingbufferSend without waiting; *pxHigherPriorityTaskWoken (when not NULL) set to pdTRUE when a
 *  task waited to receive (left alone otherwise). isr or task, O(1). */
BaseType_t xRingbufferSendFromISR(RingbufHandle_t xRingbuffer, const void *pvItem,
                                  size_t xItemSize, BaseType_t *pxHigherPriorityTaskWoken);
/** Reserves room for a no-split item of xItemSize bytes (waiting up to xTicksToWait) and points
 *  *ppvItem to it (NULL on failure); the item is received only after xRingbufferSendComplete, and
 *  items become readable in the order they were acquired. pdFALSE on timeout or for an item larger
 *  than the maximum. Refused with pdFALSE, logged: NULL handle or ppvItem, a buffer not no-split.
 *  task, may block, O(1). */
BaseType_t xRingbufferSendAcquire(RingbufHandle_t xRingbuffer, void **ppvItem, size_t xItemSize,
                                  TickType_t xTicksToWait);
/** Commits an item xRingbufferSendAcquire gave; pdTRUE. Refused with pdFALSE, logged: NULL
 *  arguments, a buffer not no-split, a pointer that is no acquired item or one already completed.
 *  task, O(items acquired). */
BaseType_t xRingbufferSendComplete(RingbufHandle_t xRingbuffer, void *pvItem);

/** The oldest item (a byte buffer: all contiguous bytes), *pxItemSize its size, waiting up to
 *  xTicksToWait; it stays in the buffer until returned. NULL on timeout. Refused with NULL,
 *  logged: NULL handle or pxItemSize, an allow-split buffer (xRingbufferReceiveSplit), a wait in
 *  an ISR or critical section. A byte buffer gives nothing while bytes are out (not returned).
 *  task, may block, O(1). */
void *xRingbufferReceive(RingbufHandle_t xRingbuffer, size_t *pxItemSize, TickType_t xTicksToWait);
/** xRingbufferReceive without waiting. isr or task, O(1). */
void *xRingbufferReceiveFromISR(RingbufHandle_t xRingbuffer, size_t *pxItemSize);
/** An allow-split buffer's oldest item: its head part (*ppvHeadItem, *pxHeadItemSize) and, when it
 *  was split, its tail (else *ppvTailItem NULL and *pxTailItemSize unchanged); both parts must be
 *  returned. pdFALSE on timeout. Refused with pdFALSE, logged: a NULL argument, a buffer not
 *  allow-split, a wait in an ISR or critical section. task, may block, O(1). */
BaseType_t xRingbufferReceiveSplit(RingbufHandle_t xRingbuffer, void **ppvHeadItem,
                                   void **ppvTailItem, size_t *pxHeadItemSize,
                                   size_t *pxTailItemSize, TickType_t xTicksToWait);
/** xRingbufferReceiveSplit without waiting. isr or task, O(1). */
BaseType_t xRingbufferReceiveSplitFromISR(RingbufHandle_t xRingbuffer, void **ppvHeadItem,
                                          void **ppvTailItem, size_t *pxHeadItemSize,
                                          size_t *pxTailItemSize);
/** A byte buffer's next contiguous bytes, at most xMaxSize (0: NULL at once). Refused with NULL,
 *  logged: NULL handle or pxItemSize, a buffer not a byte buffer, a wait in an ISR or critical
 *  section. task, may block, O(1). */
void *xRingbufferReceiveUpTo(RingbufHandle_t xRingbuffer, size_t *pxItemSize,
                             TickType_t xTicksToWait, size_t xMaxSize);
/** xRingbufferReceiveUpTo without waiting. isr or task, O(1). */
void *xRingbufferReceiveUpToFromISR(RingbufHandle_t xRingbuffer, size_t *pxItemSize,
                                    size_t xMaxSize);

/** Gives a received item (or a byte buffer's received bytes) back; its room is free once every
 *  item before it is back too. Wakes tasks waiting to send. Refused, logged (nothing changes): NULL
 *  arguments, a pointer outside the storage, a pointer that is no received item (a no-split or
 *  allow-split buffer), an item returned twice. task, O(items received). */
void vRingbufferReturnItem(RingbufHandle_t xRingbuffer, void *pvItem);
/** The same; *pxHigherPriorityTaskWoken (when not NULL) set to pdTRUE when a task waited to send.
 *  isr or task, O(items received). */
void vRingbufferReturnItemFromISR(RingbufHandle_t xRingbuffer, void *pvItem,
                                  BaseType_t *pxHigherPriorityTaskWoken);

/** Deletes it: frees the control block and the storage of a xRingbufferCreate() buffer; a static
 *  one's memory is the caller's; a WithCaps one's stays allocated (logged: vRingbufferDeleteWithCaps
 *  frees it; ESP-IDF leaks it). Items not returned go with it; it leaves its queue set. NULL is
 *  refused (logged); so is a buffer tasks wait on (the chip would leave them on freed memory).
 *  A task woken from it that would have preempted the caller on the chip runs first, until it
 *  blocks or ends (docs/simulator.md). task; may block (0.5 s at most, only for such a task);
 *  O(tasks). */
void vRingbufferDelete(RingbufHandle_t xRingbuffer);
/** Deletes a xRingbufferCreateWithCaps() buffer and frees its two blocks. Refused, logged: NULL,
 *  any other buffer (the chip asserts, or frees the caller's static memory), a buffer tasks wait
 *  on. Waits as vRingbufferDelete for woken tasks that would have preempted the caller. task; may
 *  block (0.5 s at most); O(tasks). */
void vRingbufferDeleteWithCaps(RingbufHandle_t xRingbuffer);

/** The largest item a send can ever take: no-split: (size / 2 rounded up to 4) - 8; allow-split:
 *  size - 16; byte buffer: size. 0 for NULL (refused, logged). isr or task, O(1). */
size_t xRingbufferGetMaxItemSize(RingbufHandle_t xRingbuffer);
/** The largest item a send could take now, as ESP-IDF computes it (no-split: the larger contiguous
 *  free run less a header; allow-split: the free room less one header, or two when it wraps; byte
 *  buffer: the free bytes), at most the maximum. 0 for NULL (refused, logged). task, O(1). */
size_t xRingbufferGetCurFreeSize(RingbufHandle_t xRingbuffer);

/** Makes the buffer post its handle to xQueueSet at each send (and SendComplete) instead of
 *  waking receivers; select it with xQueueSelectFromSet and xRingbufferCanRead, then receive
 *  without waiting. pdFALSE when it is in a set already or holds an item to read. Refused with
 *  pdFALSE, logged: NULL arguments, a queue that is no set. The set counts it as a member until
 *  it is removed or deleted, so deleting the set first is refused, as for its queues (ESP-IDF
 *  lets the buffer post into the deleted set). task, O(1). */
BaseType_t xRingbufferAddToQueueSetRead(RingbufHandle_t xRingbuffer, QueueSetHandle_t xQueueSet);
/** pdTRUE when xMember, a handle xQueueSelectFromSet gave, is this ring buffer. isr or task, O(1). */
static inline BaseType_t xRingbufferCanRead(RingbufHandle_t xRingbuffer,
                                            QueueSetMemberHandle_t xMember)
{
    return (xMember == (QueueSetMemberHandle_t)xRingbuffer) ? pdTRUE : pdFALSE;
}
/** Undoes xRingbufferAddToQueueSetRead; pdFALSE when it is not in that set or holds an item to
 *  read. Refused with pdFALSE, logged: NULL arguments. task, O(1). */
BaseType_t xRingbufferRemoveFromQueueSetRead(RingbufHandle_t xRingbuffer,
                                             QueueSetHandle_t xQueueSet);

/** Copies out (each pointer may be NULL) the offsets from the storage's start of the free, read,
 *  write and acquire positions, and the items (a byte buffer: bytes) waiting to be read. NULL
 *  handle refused (logged), nothing written. task, O(1). */
void vRingbufferGetInfo(RingbufHandle_t xRingbuffer, UBaseType_t *uxFree, UBaseType_t *uxRead,
                        UBaseType_t *uxWrite, UBaseType_t *uxAcquire, UBaseType_t *uxItemsWaiting);
/** Prints ESP-IDF's line on stdout: "Rb size:<size>\tfree: <free bytes>\trptr: <read>\tfreeptr:
 *  <free>\twptr: <write>, aptr: <acquire>". NULL refused (logged). task, O(1). */
void xRingbufferPrintInfo(RingbufHandle_t xRingbuffer);
/** For a buffer made by xRingbufferCreateStatic or xRingbufferCreateWithCaps: its storage and
 *  control memory, pdTRUE; pdFALSE for one made by xRingbufferCreate. Refused with pdFALSE,
 *  logged: a NULL argument. isr or task, O(1). */
BaseType_t xRingbufferGetStaticBuffer(RingbufHandle_t xRingbuffer, uint8_t **ppucRingbufferStorage,
                                      StaticRingbuffer_t **ppxStaticRingbuffer);

#ifdef __cplusplus
}
#endif

#endif /* FREERTOS_RINGBUF_H_HOST */
