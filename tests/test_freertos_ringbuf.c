/* test_freertos_ringbuf.c - ESP-IDF's ring buffers on the host: the chip's memory use, item layout
 * and figures, waiting, ISR calls, queue sets, misuse, and several producers with one consumer.
 *
 * The figures asserted are the chip's, worked out by hand from ESP-IDF v5.5's ringbuf.c: an item
 * takes an 8-byte header and its size rounded up to 4; a no-split item that does not fit before
 * the end leaves a dummy header there and starts at 0; a position with less than 8 bytes before
 * the end wraps to 0; the maximum item is (size / 2 rounded up to 4) - 8 (no-split), size - 16
 * (allow-split), size (bytes). Each test traces the positions (offsets from the storage) it checks.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "esp_memory_utils.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/ringbuf.h"
#include "freertos/task.h"
#include "kraken_sim.h"

#include "capture_output.h" /* after esp_log.h: its log capture */
#include "freertos_test_support.h"
#include "freertos_refusals.h"
#include "freertos_buffer_fixture.h"

#define CONTROL 112u /* sizeof(StaticRingbuffer_t) on the S3 */

static size_t heap_free(void)
{
    return internal_free() + psram_free();
}

typedef struct {
    UBaseType_t free, read, write, acquire, waiting;
} info_t;

static info_t info(RingbufHandle_t rb)
{
    info_t i;
    vRingbufferGetInfo(rb, &i.free, &i.read, &i.write, &i.acquire, &i.waiting);
    return i;
}

#define ASSERT_INFO(rb, f, r, w, a, n)                                                             \
    do {                                                                                           \
        const info_t i_ = info(rb);                                                                \
        assert_int_equal(i_.free, (f));                                                            \
        assert_int_equal(i_.read, (r));                                                            \
        assert_int_equal(i_.write, (w));                                                           \
        assert_int_equal(i_.acquire, (a));                                                         \
        assert_int_equal(i_.waiting, (n));                                                         \
    } while (0)

static uint8_t *storage_of(RingbufHandle_t rb)
{
    /* the first item of an empty buffer sits right after its header at offset 0 */
    size_t n;
    assert_int_equal(xRingbufferSend(rb, "", 0, 0), pdTRUE);
    uint8_t *item = xRingbufferReceive(rb, &n, 0);
    assert_non_null(item);
    vRingbufferReturnItem(rb, item);
    return item - 8;
}

/* ---- memory ---------------------------------------------------------------------------------- */

/* What malloc() takes for these blocks (ESP-IDF's malloc policy, as ringbuf.c allocates). */
static size_t malloc_takes(size_t a, size_t b)
{
    const size_t before = heap_free();
    void *pa = malloc(a), *pb = malloc(b);
    assert_non_null(pa);
    assert_non_null(pb);
    const size_t taken = before - heap_free();
    free(pb);
    free(pa);
    return taken;
}

static void a_ring_buffer_is_a_112_byte_control_block_and_its_rounded_storage_from_malloc(void **state)
{
    (void)state;
    /* size, type, storage malloc'ed, max item (by the formulas above) */
    static const struct {
        size_t size;
        RingbufferType_t type;
        size_t storage, max_item, free_now;
    } cases[] = {
        {100, RINGBUF_TYPE_NOSPLIT, 100, 44, 44},    /* 50 -> 52 - 8; free: 100 - 8, at most 44 */
        {101, RINGBUF_TYPE_NOSPLIT, 104, 44, 44},    /* rounded to 104: 52 - 8 */
        {102, RINGBUF_TYPE_ALLOWSPLIT, 104, 88, 88}, /* 104 - 16; free: 104 - 8, at most 88 */
        {101, RINGBUF_TYPE_BYTEBUF, 101, 101, 101},  /* bytes: not rounded, no overhead */
        {12, RINGBUF_TYPE_NOSPLIT, 12, 0, 0},        /* 6 -> 8 - 8: items of 0 bytes only */
        {16, RINGBUF_TYPE_ALLOWSPLIT, 16, 0, 0},
    };
    kraken_sim_stats_t s0, s1;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const size_t expected = malloc_takes(CONTROL, cases[c].storage);
        kraken_sim_get_stats(&s0);
        const size_t before = heap_free();
        RingbufHandle_t rb = xRingbufferCreate(cases[c].size, cases[c].type);
        assert_non_null(rb);
        kraken_sim_get_stats(&s1);
        assert_int_equal(s1.allocations - s0.allocations, 2);
        assert_int_equal(before - heap_free(), expected);
        assert_int_equal(xRingbufferGetMaxItemSize(rb), cases[c].max_item);
        assert_int_equal(xRingbufferGetCurFreeSize(rb), cases[c].free_now);
        uint8_t *storage = NULL;
        StaticRingbuffer_t *control = NULL;
        assert_int_equal(xRingbufferGetStaticBuffer(rb, &storage, &control), pdFALSE);
        vRingbufferDelete(rb);
        assert_int_equal(heap_free(), before);
    }

    /* NoSplit(10, 5): (12 + 8) x 5 = 100 bytes, exactly five items of 10. */
    RingbufHandle_t rb = xRingbufferCreateNoSplit(10, 5);
    assert_non_null(rb);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(xRingbufferSend(rb, "0123456789", 10, 0), pdTRUE);
    }
    ASSERT_INFO(rb, 0, 0, 0, 0, 5); /* acquire went round to free: full */
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 0);
    assert_int_equal(xRingbufferSend(rb, "", 0, 0), pdFALSE);
    vRingbufferDelete(rb);

    /* The storage does not fit anywhere (64 MiB): NULL, the control block freed too. */
    const size_t before = heap_free();
    kraken_sim_get_stats(&s0);
    assert_null(xRingbufferCreate((size_t)64 << 20, RINGBUF_TYPE_BYTEBUF));
    kraken_sim_get_stats(&s1);
    assert_int_equal(s1.allocations - s0.allocations, 1); /* the control block was had */
    assert_int_equal(heap_free(), before);
}

/* What heap_caps_malloc(caps) takes for the control block and a storage of `storage` bytes. */
static size_t caps_takes(uint32_t caps, size_t storage)
{
    const size_t before = heap_caps_get_free_size(caps);
    void *a = heap_caps_malloc(CONTROL, caps), *b = heap_caps_malloc(storage, caps);
    assert_non_null(a);
    assert_non_null(b);
    const size_t taken = before - heap_caps_get_free_size(caps);
    heap_caps_free(b);
    heap_caps_free(a);
    return taken;
}

static void static_and_withcaps_buffers_use_the_callers_memory_or_the_caps(void **state)
{
    (void)state;
    static uint32_t words[16]; /* 64 bytes, 4-byte aligned */
    static StaticRingbuffer_t control;
    kraken_sim_stats_t s0, s1;
    kraken_sim_get_stats(&s0);
    RingbufHandle_t rb = xRingbufferCreateStatic(sizeof words, RINGBUF_TYPE_NOSPLIT,
                                                 (uint8_t *)words, &control);
    assert_non_null(rb);
    kraken_sim_get_stats(&s1);
    assert_int_equal(s1.allocations, s0.allocations);
    assert_int_equal(xRingbufferGetMaxItemSize(rb), 24); /* 32 - 8 */
    assert_int_equal(xRingbufferSend(rb, "abc", 3, 0), pdTRUE);
    size_t n;
    uint8_t *item = xRingbufferReceive(rb, &n, 0);
    assert_ptr_equal(item, (uint8_t *)words + 8); /* the caller's storage, after the header */
    assert_int_equal(n, 3);
    vRingbufferReturnItem(rb, item);
    uint8_t *storage = NULL;
    StaticRingbuffer_t *got = NULL;
    assert_int_equal(xRingbufferGetStaticBuffer(rb, &storage, &got), pdTRUE);
    assert_ptr_equal(storage, (uint8_t *)words);
    assert_ptr_equal(got, &control);
    vRingbufferDelete(rb);

    /* WithCaps: the control block, then the storage, both with the caps (PSRAM when there). */
    const uint32_t caps = heap_caps_get_total_size(MALLOC_CAP_SPIRAM) != 0 ? MALLOC_CAP_SPIRAM
                                                                           : INTERNAL;
    const size_t before = heap_caps_get_free_size(caps);
    const size_t expected = caps_takes(caps, 100), expected_64 = caps_takes(caps, 64);
    const char *logged;
    kraken_sim_get_stats(&s0);
    rb = xRingbufferCreateWithCaps(99, RINGBUF_TYPE_ALLOWSPLIT, caps); /* rounded to 100 */
    assert_non_null(rb);
    kraken_sim_get_stats(&s1);
    assert_int_equal(s1.allocations - s0.allocations, 2);
    assert_int_equal(before - heap_caps_get_free_size(caps), expected);
    assert_int_equal(xRingbufferGetMaxItemSize(rb), 84);
    assert_int_equal(xRingbufferGetStaticBuffer(rb, &storage, &got), pdTRUE);
    assert_true(caps != MALLOC_CAP_SPIRAM || esp_ptr_external_ram(storage));
    assert_true(caps != MALLOC_CAP_SPIRAM || esp_ptr_external_ram(got));
    vRingbufferDeleteWithCaps(rb);
    assert_int_equal(heap_caps_get_free_size(caps), before);

    /* Refused by the static create's checks after both blocks were had: both go back. */
    log_capture_begin();
    ASSERT_REFUSED(1, assert_null(xRingbufferCreateWithCaps(64, RINGBUF_TYPE_MAX, caps)));
    ASSERT_REFUSED(1, assert_null(xRingbufferCreateWithCaps(8, RINGBUF_TYPE_NOSPLIT, caps)));
    logged = log_capture_end();
    assert_non_null(strstr(logged, "xRingbufferCreateStatic(64, 3): not a ring buffer type"));
    assert_int_equal(heap_caps_get_free_size(caps), before);
    ASSERT_NOT_REFUSED(assert_null(xRingbufferCreateWithCaps(0, RINGBUF_TYPE_BYTEBUF, caps)));

    /* The storage does not fit: the control block goes back too. */
    kraken_sim_fail_every(caps, 2);
    assert_null(xRingbufferCreateWithCaps(100, RINGBUF_TYPE_NOSPLIT, caps));
    kraken_sim_fault_clear();
    assert_int_equal(heap_caps_get_free_size(caps), before);

    /* A plain delete of a WithCaps buffer leaves its memory allocated, as on the chip. */
    rb = xRingbufferCreateWithCaps(64, RINGBUF_TYPE_BYTEBUF, caps);
    assert_non_null(rb);
    assert_int_equal(xRingbufferGetStaticBuffer(rb, &storage, &got), pdTRUE);
    log_capture_begin();
    vRingbufferDelete(rb);
    logged = log_capture_end();
    assert_non_null(strstr(logged, "its memory stays allocated"));
    assert_int_equal(before - heap_caps_get_free_size(caps), expected_64);
    heap_caps_free(got);
    heap_caps_free(storage);
}

/* ---- the chip's layout ----------------------------------------------------------------------- */

/* 64 bytes, no-split (max 24): A and B of 20 take 28 each (0..28, 28..56); 8 bytes are left
 * before the end, only a header. */
static void a_nosplit_item_that_does_not_fit_before_the_end_starts_at_0_behind_a_dummy(void **state)
{
    (void)state;
    RingbufHandle_t rb = xRingbufferCreate(64, RINGBUF_TYPE_NOSPLIT);
    assert_non_null(rb);
    assert_int_equal(xRingbufferGetMaxItemSize(rb), 24);
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 24); /* 64 - 8, at most 24 */
    uint8_t *base = storage_of(rb);                      /* an empty item: 0..8, returned */
    ASSERT_INFO(rb, 8, 8, 8, 8, 0);
    vRingbufferDelete(rb);

    rb = xRingbufferCreate(64, RINGBUF_TYPE_NOSPLIT);
    char a[20], b[20], c[20];
    memset(a, 'A', sizeof a);
    memset(b, 'B', sizeof b);
    memset(c, 'C', sizeof c);
    assert_int_equal(xRingbufferSend(rb, a, 20, 0), pdTRUE);
    assert_int_equal(xRingbufferSend(rb, b, 20, 0), pdTRUE);
    ASSERT_INFO(rb, 0, 0, 56, 56, 2);
    /* free runs: 56..64 (8) and 0..0: 8 - 8 = 0; C (28) fits in neither */
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 0);
    assert_int_equal(xRingbufferSend(rb, c, 20, 0), pdFALSE);

    size_t n;
    uint8_t *item = xRingbufferReceive(rb, &n, 0);
    assert_non_null(item);
    base = item - 8;
    assert_int_equal(n, 20);
    assert_memory_equal(item, a, 20);
    vRingbufferReturnItem(rb, item);
    ASSERT_INFO(rb, 28, 28, 56, 56, 1);
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 20); /* the larger run 0..28, less 8 */

    /* C: a dummy at 56, C at 0..28; acquire meets free: full. */
    assert_int_equal(xRingbufferSend(rb, c, 20, 0), pdTRUE);
    ASSERT_INFO(rb, 28, 28, 28, 28, 2);
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 0);
    assert_int_equal(xRingbufferSend(rb, "", 0, 0), pdFALSE);

    item = xRingbufferReceive(rb, &n, 0);
    assert_ptr_equal(item, base + 36);
    assert_memory_equal(item, b, 20);
    vRingbufferReturnItem(rb, item); /* free passes B up to read (56) */
    ASSERT_INFO(rb, 56, 56, 28, 28, 1);
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 20); /* 28..56, less 8 */

    item = xRingbufferReceive(rb, &n, 0);
    assert_ptr_equal(item, base + 8); /* past the dummy, at the start */
    assert_int_equal(n, 20);
    assert_memory_equal(item, c, 20);
    vRingbufferReturnItem(rb, item); /* free passes the dummy and C */
    ASSERT_INFO(rb, 28, 28, 28, 28, 0);
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 24); /* 28..64 = 36 - 8, at most 24 */
    vRingbufferDelete(rb);
}

/* 64 bytes, allow-split (max 48): A, B of 16 take 24 each (0..24, 24..48); with A back, C of 20
 * (28 with its header) wraps: 36 with a second header <= 64 - (48 - 24) = 40. Its head part gets
 * the 8 bytes 56..64 behind a header at 48, its tail the 12 at 8..20. */
static void an_allowsplit_item_is_cut_in_two_at_the_end(void **state)
{
    (void)state;
    RingbufHandle_t rb = xRingbufferCreate(64, RINGBUF_TYPE_ALLOWSPLIT);
    assert_non_null(rb);
    assert_int_equal(xRingbufferGetMaxItemSize(rb), 48);
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 48); /* 64 - 8, at most 48 */
    char a[16], b[16], c[20];
    memset(a, 'A', sizeof a);
    memset(b, 'B', sizeof b);
    for (size_t i = 0; i < sizeof c; i++) {
        c[i] = (char)('a' + i);
    }
    assert_int_equal(xRingbufferSend(rb, a, 16, 0), pdTRUE);
    assert_int_equal(xRingbufferSend(rb, b, 16, 0), pdTRUE);
    void *head, *tail;
    size_t head_n = 0, tail_n = 77;
    assert_int_equal(xRingbufferReceiveSplit(rb, &head, &tail, &head_n, &tail_n, 0), pdTRUE);
    uint8_t *base = (uint8_t *)head - 8;
    assert_null(tail);
    assert_int_equal(tail_n, 77); /* left alone when not split */
    vRingbufferReturnItem(rb, head);
    ASSERT_INFO(rb, 24, 24, 48, 48, 1);
    /* free wraps: 24 + (64 - 48) - 2 headers = 24 */
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 24);

    assert_int_equal(xRingbufferSend(rb, c, 20, 0), pdTRUE);
    ASSERT_INFO(rb, 24, 24, 20, 20, 3); /* B and C's two parts */
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 0); /* 24 - 20 - 8 < 0 */

    assert_int_equal(xRingbufferReceiveSplit(rb, &head, &tail, &head_n, &tail_n, 0), pdTRUE);
    assert_memory_equal(head, b, 16);
    assert_null(tail);
    void *b_item = head;
    assert_int_equal(xRingbufferReceiveSplit(rb, &head, &tail, &head_n, &tail_n, 0), pdTRUE);
    assert_ptr_equal(head, base + 56);
    assert_int_equal(head_n, 8);
    assert_ptr_equal(tail, base + 8);
    assert_int_equal(tail_n, 12);
    assert_memory_equal(head, c, 8);
    assert_memory_equal(tail, c + 8, 12);
    ASSERT_INFO(rb, 24, 20, 20, 20, 0);

    /* Returned out of order: free waits for B, then passes everything returned. */
    vRingbufferReturnItem(rb, tail);
    ASSERT_INFO(rb, 24, 20, 20, 20, 0);
    vRingbufferReturnItem(rb, head);
    ASSERT_INFO(rb, 24, 20, 20, 20, 0);
    vRingbufferReturnItem(rb, b_item);
    ASSERT_INFO(rb, 20, 20, 20, 20, 0);
    /* empty with acquire == free != 0: 20 + 64 - 20 - 2 headers = 48 */
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 48);
    vRingbufferDelete(rb);
}

/* 16 bytes: no headers; a receive gives the contiguous bytes (up to the end), one piece out at a
 * time. */
static void a_byte_buffer_gives_contiguous_bytes_one_piece_at_a_time(void **state)
{
    (void)state;
    RingbufHandle_t rb = xRingbufferCreate(16, RINGBUF_TYPE_BYTEBUF);
    assert_non_null(rb);
    assert_int_equal(xRingbufferSend(rb, "", 0, 0), pdTRUE); /* nothing sent */
    ASSERT_INFO(rb, 0, 0, 0, 0, 0);
    assert_int_equal(xRingbufferSend(rb, "0123456789", 10, 0), pdTRUE);
    ASSERT_INFO(rb, 0, 0, 10, 10, 10);
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 6);
    size_t n;
    assert_null(xRingbufferReceiveUpTo(rb, &n, 0, 0)); /* 0 bytes asked: nothing */
    uint8_t *piece = xRingbufferReceiveUpTo(rb, &n, 0, 4);
    assert_non_null(piece);
    assert_int_equal(n, 4);
    assert_memory_equal(piece, "0123", 4);
    assert_null(xRingbufferReceive(rb, &n, 0)); /* the piece is not back yet */
    vRingbufferReturnItem(rb, piece);
    ASSERT_INFO(rb, 4, 4, 10, 10, 6);
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 10); /* 4 - 10 + 16 */

    assert_int_equal(xRingbufferSend(rb, "ABCDEFGH", 8, 0), pdTRUE); /* 10..16, then 0..2 */
    ASSERT_INFO(rb, 4, 4, 2, 2, 14);
    assert_int_equal(xRingbufferSend(rb, "xyz", 3, 0), pdFALSE); /* 2 free */
    piece = xRingbufferReceive(rb, &n, 0);
    assert_int_equal(n, 12); /* up to the end */
    assert_memory_equal(piece, "456789ABCDEF", 12);
    vRingbufferReturnItem(rb, piece);
    piece = xRingbufferReceive(rb, &n, 0);
    assert_int_equal(n, 2);
    assert_memory_equal(piece, "GH", 2);
    vRingbufferReturnItem(rb, piece);
    ASSERT_INFO(rb, 2, 2, 2, 2, 0);
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 16);

    /* Full: 16 bytes from 2 wrap round to 2. */
    assert_int_equal(xRingbufferSend(rb, "ABCDEFGHIJKLMNOP", 16, 0), pdTRUE);
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 0);
    piece = xRingbufferReceive(rb, &n, 0);
    assert_int_equal(n, 14);
    vRingbufferReturnItem(rb, piece);
    piece = xRingbufferReceive(rb, &n, 0);
    assert_memory_equal(piece, "OP", 2);
    vRingbufferReturnItem(rb, piece);
    /* 14 bytes from 2 end exactly at the end: acquire and write wrap to 0 */
    assert_int_equal(xRingbufferSend(rb, "abcdefghijklmn", 14, 0), pdTRUE);
    ASSERT_INFO(rb, 2, 2, 0, 0, 14);
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 2);
    vRingbufferDelete(rb);
}

static void acquired_items_are_read_in_acquire_order_once_completed(void **state)
{
    (void)state;
    RingbufHandle_t rb = xRingbufferCreate(64, RINGBUF_TYPE_NOSPLIT);
    assert_non_null(rb);
    void *a = NULL, *b = NULL, *big = (void *)1;
    assert_int_equal(xRingbufferSendAcquire(rb, &big, 25, 0), pdFALSE); /* above 24 */
    assert_null(big);
    assert_int_equal(xRingbufferSendAcquire(rb, &a, 8, 0), pdTRUE);
    assert_int_equal(xRingbufferSendAcquire(rb, &b, 8, 0), pdTRUE);
    ASSERT_INFO(rb, 0, 0, 0, 32, 0); /* two of 16 acquired, none written */
    memcpy(b, "bbbbbbbb", 8);
    assert_int_equal(xRingbufferSendComplete(rb, b), pdTRUE);
    size_t n;
    assert_null(xRingbufferReceive(rb, &n, 0)); /* A comes first and is not complete */
    ASSERT_INFO(rb, 0, 0, 0, 32, 1);
    memcpy(a, "aaaaaaaa", 8);
    assert_int_equal(xRingbufferSendComplete(rb, a), pdTRUE);
    ASSERT_INFO(rb, 0, 0, 32, 32, 2);
    log_capture_begin();
    ASSERT_REFUSED(1, assert_int_equal(xRingbufferSendComplete(rb, a), pdFALSE));
    ASSERT_REFUSED(1, assert_int_equal(xRingbufferSendComplete(rb, (uint8_t *)a + 4), pdFALSE));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "completed already: refused"));
    assert_non_null(strstr(logged, "not an item xRingbufferSendAcquire gave: refused"));
    uint8_t *item = xRingbufferReceive(rb, &n, 0);
    assert_ptr_equal(item, a);
    assert_memory_equal(item, "aaaaaaaa", 8);
    vRingbufferReturnItem(rb, item);
    item = xRingbufferReceive(rb, &n, 0);
    assert_ptr_equal(item, b);
    vRingbufferReturnItem(rb, item);
    vRingbufferDelete(rb);

    /* Full of acquired items, the second completed: the first still blocks reading. */
    rb = xRingbufferCreate(32, RINGBUF_TYPE_NOSPLIT); /* max 8: two items of 16 fill it */
    assert_int_equal(xRingbufferSendAcquire(rb, &a, 8, 0), pdTRUE);
    assert_int_equal(xRingbufferSendAcquire(rb, &b, 8, 0), pdTRUE);
    assert_int_equal(xRingbufferSendComplete(rb, b), pdTRUE);
    ASSERT_INFO(rb, 0, 0, 0, 0, 1);
    assert_null(xRingbufferReceive(rb, &n, 0));
    assert_int_equal(xRingbufferSendComplete(rb, a), pdTRUE);
    assert_ptr_equal(xRingbufferReceive(rb, &n, 0), a);
    vRingbufferDelete(rb);

    RingbufHandle_t bytes = xRingbufferCreate(64, RINGBUF_TYPE_BYTEBUF);
    log_capture_begin();
    ASSERT_REFUSED(1, assert_int_equal(xRingbufferSendAcquire(bytes, &a, 4, 0), pdFALSE));
    logged = log_capture_end();
    assert_non_null(strstr(logged, "xRingbufferSendAcquire: a byte buffer: refused"));
    vRingbufferDelete(bytes);
}

/* A full buffer read to its end, its first item returned while the second is still out: since
 * ESP-IDF's fix (v5.3.5, v5.4.3, v5.5.2, master) only the first item's room is free, so the next
 * send fits there and the one after waits, leaving the held item intact. Up to v5.5.1 (and the
 * host's v5.2 option) the buffer looked empty and that send overwrote the held item. */
static void a_full_buffer_read_to_its_end_frees_only_what_comes_back(void **state)
{
    (void)state;
    RingbufHandle_t rb = xRingbufferCreate(32, RINGBUF_TYPE_NOSPLIT); /* max 8 */
    assert_non_null(rb);
    assert_int_equal(xRingbufferSend(rb, "12345678", 8, 0), pdTRUE); /* 0..16 */
    assert_int_equal(xRingbufferSend(rb, "abcdefgh", 8, 0), pdTRUE); /* 16..32: full */
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 0);
    size_t n;
    void *first = xRingbufferReceive(rb, &n, 0);
    char *second = xRingbufferReceive(rb, &n, 0);
    assert_non_null(second);
    vRingbufferReturnItem(rb, first);
#if defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)
    ASSERT_INFO(rb, 0, 0, 0, 0, 0); /* looks empty */
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 8);
    assert_int_equal(xRingbufferSend(rb, "CCCCCCCC", 8, 0), pdTRUE);
    assert_int_equal(xRingbufferSend(rb, "DDDDDDDD", 8, 0), pdTRUE); /* over the held item */
    assert_memory_equal(second, "DDDDDDDD", 8);
#else
    ASSERT_INFO(rb, 16, 0, 0, 0, 0);
    assert_int_equal(xRingbufferGetCurFreeSize(rb), 8);
    assert_int_equal(xRingbufferSend(rb, "CCCCCCCC", 8, 0), pdTRUE); /* into the first's room */
    assert_int_equal(xRingbufferSend(rb, "DDDDDDDD", 8, 0), pdFALSE); /* no room: the second's */
    assert_memory_equal(second, "abcdefgh", 8);
#endif
    vRingbufferReturnItem(rb, second);
    vRingbufferDelete(rb);
}

/* A double return whose room an unread item took meanwhile: free == read then, nothing out, and the
 * pointer is that item's; refused (the chip marks the unread item returned: its real return then
 * fails). */
static void an_item_returned_again_after_its_room_was_sent_into_is_refused(void **state)
{
    (void)state;
    RingbufHandle_t rb = xRingbufferCreate(32, RINGBUF_TYPE_NOSPLIT); /* max 8 */
    assert_non_null(rb);
    size_t n;
    assert_int_equal(xRingbufferSend(rb, "AAAAAAAA", 8, 0), pdTRUE); /* 0..16 */
    uint8_t *a = xRingbufferReceive(rb, &n, 0);
    assert_non_null(a);
    vRingbufferReturnItem(rb, a);
    assert_int_equal(xRingbufferSend(rb, "BBBBBBBB", 8, 0), pdTRUE); /* 16..32 */
    uint8_t *b = xRingbufferReceive(rb, &n, 0);
    assert_non_null(b);
    vRingbufferReturnItem(rb, b);
    assert_int_equal(xRingbufferSend(rb, "CCCCCCCC", 8, 0), pdTRUE); /* 0..16: where A was */
    ASSERT_INFO(rb, 0, 0, 16, 16, 1);
    log_capture_begin();
    ASSERT_REFUSED(1, vRingbufferReturnItem(rb, a)); /* A again: C is unread there */
    assert_non_null(strstr(log_capture_end(), "refused"));
    ASSERT_INFO(rb, 0, 0, 16, 16, 1);
    uint8_t *c = xRingbufferReceive(rb, &n, 0);
    assert_ptr_equal(c, a);
    assert_memory_equal(c, "CCCCCCCC", 8);
    ASSERT_NOT_REFUSED(vRingbufferReturnItem(rb, c)); /* C's own return */
    ASSERT_INFO(rb, 16, 16, 16, 16, 0);
    vRingbufferDelete(rb);
}

static void print_info(void *rb)
{
    xRingbufferPrintInfo(rb);
}

static void print_info_prints_esp_idfs_line(void **state)
{
    (void)state;
    RingbufHandle_t rb = xRingbufferCreate(64, RINGBUF_TYPE_NOSPLIT);
    assert_int_equal(xRingbufferSend(rb, "abcd", 4, 0), pdTRUE); /* 0..12 */
    size_t n;
    void *item = xRingbufferReceive(rb, &n, 0);
    char out[256];
    capture_output(STDOUT_FILENO, print_info, rb, out, sizeof out);
    assert_string_equal(out, "Rb size:64\tfree: 52\trptr: 12\tfreeptr: 0\twptr: 12, aptr: 12\n");
    vRingbufferReturnItem(rb, item);
    vRingbufferDelete(rb);
}

/* ---- waiting and ISRs ------------------------------------------------------------------------ */

typedef struct {
    RingbufHandle_t rb;
    TickType_t wait;
    char data[32];
    atomic_size_t size;
    atomic_int done, ok;
} waiter_t;

static void receive_task(void *arg)
{
    waiter_t *w = arg;
    size_t n = 0;
    char *item = xRingbufferReceive(w->rb, &n, w->wait);
    if (item != NULL) {
        memcpy(w->data, item, n);
        vRingbufferReturnItem(w->rb, item);
        atomic_store(&w->ok, 1);
    }
    atomic_store(&w->size, n);
    atomic_store(&w->done, 1);
    vTaskDelete(NULL);
}

static void send_task(void *arg)
{
    waiter_t *w = arg;
    atomic_store(&w->ok, xRingbufferSend(w->rb, "0123456789", 10, w->wait) == pdTRUE);
    atomic_store(&w->done, 1);
    vTaskDelete(NULL);
}

static void start(TaskFunction_t fn, waiter_t *w)
{
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(fn, "waiter", 4096, w, 5, &task), pdPASS);
    WAIT_FOR(atomic_load(&w->done) || eTaskGetState(task) == eBlocked);
    assert_false(atomic_load(&w->done));
}

static void a_waiting_receiver_wakes_at_a_send_from_an_isr_which_says_so(void **state)
{
    (void)state;
    waiter_t w = {.rb = xRingbufferCreate(64, RINGBUF_TYPE_NOSPLIT), .wait = PATIENCE_TICKS};
    assert_non_null(w.rb);
    start(receive_task, &w);
    log_capture_begin();
    ASSERT_REFUSED(1, vRingbufferDelete(w.rb)); /* a task waits on it */
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "vRingbufferDelete: a task waits on it: refused"));
    const TickType_t t0 = xTaskGetTickCount();
    BaseType_t woken = pdFALSE;
    kraken_sim_isr_enter();
    assert_int_equal(xRingbufferSendFromISR(w.rb, "irq!", 4, &woken), pdTRUE);
    kraken_sim_isr_exit();
    assert_int_equal(woken, pdTRUE);
    WAIT_FOR(atomic_load(&w.done));
    assert_true(atomic_load(&w.ok));
    assert_int_equal(atomic_load(&w.size), 4);
    assert_memory_equal(w.data, "irq!", 4);
    assert_true(xTaskGetTickCount() - t0 < PATIENCE_TICKS / 2); /* woken, not its timeout */
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);

    /* No waiter: woken untouched. The ISR receives and returns, never waiting. */
    woken = pdFALSE;
    size_t n;
    kraken_sim_isr_enter();
    assert_int_equal(xRingbufferSendFromISR(w.rb, "x", 1, &woken), pdTRUE);
    void *item = xRingbufferReceiveFromISR(w.rb, &n);
    assert_non_null(item);
    vRingbufferReturnItemFromISR(w.rb, item, &woken);
    assert_null(xRingbufferReceiveFromISR(w.rb, &n));
    log_capture_begin();
    assert_null(xRingbufferReceive(w.rb, &n, 1)); /* a wait in an ISR: refused_waits */
    logged = log_capture_end();
    kraken_sim_isr_exit();
    assert_int_equal(woken, pdFALSE);
    assert_non_null(strstr(logged, "a wait of 1 ticks in an ISR: refused"));
    vRingbufferDelete(w.rb);
}

static void a_waiting_sender_wakes_when_an_item_comes_back(void **state)
{
    (void)state;
    waiter_t w = {.rb = xRingbufferCreate(32, RINGBUF_TYPE_NOSPLIT), .wait = PATIENCE_TICKS};
    assert_non_null(w.rb); /* max 8: "0123456789" is too large; ours of 8 fill it in two */
    assert_int_equal(xRingbufferSend(w.rb, "abcdefgh", 8, 0), pdTRUE);
    assert_int_equal(xRingbufferSend(w.rb, "ijklmnop", 8, 0), pdTRUE);
    /* an item above the maximum never fits: pdFALSE at once, whatever the wait, not refused */
    const TickType_t t0 = xTaskGetTickCount();
    ASSERT_NOT_REFUSED(assert_int_equal(xRingbufferSend(w.rb, "0123456789", 10, PATIENCE_TICKS),
                                        pdFALSE));
    assert_true(xTaskGetTickCount() - t0 < PATIENCE_TICKS / 2);
    vRingbufferDelete(w.rb);

    w.rb = xRingbufferCreate(48, RINGBUF_TYPE_ALLOWSPLIT); /* max 32; 10 takes 20 */
    assert_non_null(w.rb);
    assert_int_equal(xRingbufferSend(w.rb, "0123456789abcdefghijklmnopqrst", 30, 0), pdTRUE);
    assert_int_equal(xRingbufferGetCurFreeSize(w.rb), 0); /* 40 taken: 8 left, less 2 headers */
    start(send_task, &w);
    void *head, *tail;
    size_t head_n, tail_n;
    assert_int_equal(xRingbufferReceiveSplit(w.rb, &head, &tail, &head_n, &tail_n, 0), pdTRUE);
    uint8_t *const base = (uint8_t *)head - 8;
    vTaskDelay(3);
    assert_false(atomic_load(&w.done)); /* received is not returned */
    BaseType_t woken = pdFALSE;
    kraken_sim_isr_enter();
    vRingbufferReturnItemFromISR(w.rb, head, &woken);
    kraken_sim_isr_exit();
    assert_int_equal(woken, pdTRUE);
    WAIT_FOR(atomic_load(&w.done));
    assert_true(atomic_load(&w.ok));
    kraken_sim_isr_enter();
    assert_int_equal(xRingbufferReceiveSplitFromISR(w.rb, &head, &tail, &head_n, &tail_n), pdTRUE);
    kraken_sim_isr_exit();
    /* 40..48 held only a header: a dummy there, the whole item at the start (20 bytes) */
    assert_ptr_equal(head, base + 8);
    assert_null(tail);
    assert_int_equal(head_n, 10);
    assert_memory_equal(head, "0123456789", 10);
    ASSERT_INFO(w.rb, 40, 20, 20, 20, 0);
    vRingbufferReturnItem(w.rb, head);
    ASSERT_INFO(w.rb, 20, 20, 20, 20, 0);
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);
    vRingbufferDelete(w.rb);
}

static void a_receive_times_out_on_an_empty_buffer(void **state)
{
    (void)state;
    RingbufHandle_t rb = xRingbufferCreate(32, RINGBUF_TYPE_BYTEBUF);
    const TickType_t t0 = xTaskGetTickCount();
    size_t n = 99;
    assert_null(xRingbufferReceiveUpTo(rb, &n, 5, 8));
    assert_true(xTaskGetTickCount() - t0 >= 4); /* a wait of 5 ticks lasts 4 to 5 periods */
    assert_int_equal(n, 99);
    kraken_sim_isr_enter();
    assert_null(xRingbufferReceiveUpToFromISR(rb, &n, 8));
    assert_int_equal(xRingbufferSendFromISR(rb, "hey", 3, NULL), pdTRUE);
    assert_non_null(xRingbufferReceiveUpToFromISR(rb, &n, 2));
    kraken_sim_isr_exit();
    assert_int_equal(n, 2);
    vRingbufferDelete(rb);
}

/* ---- queue sets ------------------------------------------------------------------------------ */

static void a_buffer_in_a_queue_set_posts_its_handle_at_each_send(void **state)
{
    (void)state;
    QueueSetHandle_t set = xQueueCreateSet(4);
    QueueHandle_t other = xQueueCreate(1, 1);
    RingbufHandle_t rb = xRingbufferCreate(64, RINGBUF_TYPE_NOSPLIT);
    assert_non_null(set);
    assert_int_equal(xRingbufferAddToQueueSetRead(rb, set), pdTRUE);
    assert_int_equal(xRingbufferAddToQueueSetRead(rb, set), pdFALSE); /* in one already */
    assert_int_equal(xQueueAddToSet(other, set), pdPASS);
    assert_int_equal(xRingbufferSend(rb, "hello", 5, 0), pdTRUE);
    QueueSetMemberHandle_t member = xQueueSelectFromSet(set, 0);
    assert_int_equal(xRingbufferCanRead(rb, member), pdTRUE);
    assert_int_equal(xRingbufferCanRead(rb, (QueueSetMemberHandle_t)other), pdFALSE);
    assert_int_equal(xRingbufferRemoveFromQueueSetRead(rb, set), pdFALSE); /* an item to read */
    size_t n;
    void *item = xRingbufferReceive(rb, &n, 0);
    assert_int_equal(n, 5);
    vRingbufferReturnItem(rb, item);
    assert_null(xQueueSelectFromSet(set, 0));
    assert_int_equal(xRingbufferRemoveFromQueueSetRead(rb, set), pdTRUE);
    assert_int_equal(xRingbufferSend(rb, "again", 5, 0), pdTRUE);
    assert_null(xQueueSelectFromSet(set, 0)); /* out of the set: no handle */
    assert_int_equal(xQueueRemoveFromSet(other, set), pdPASS);
    vRingbufferDelete(rb);
    vQueueDelete(other);
    vQueueDelete(set);
}

/* The set counts a buffer in it, as it counts its queues: deleting the set first is refused (the
 * buffer would post its handle into freed memory); deleting the buffer takes it out of the set. A
 * plain queue is no set. */
static void a_queue_set_is_not_deleted_under_a_buffer_in_it(void **state)
{
    (void)state;
    QueueSetHandle_t set = xQueueCreateSet(2);
    QueueHandle_t plain = xQueueCreate(2, sizeof(void *));
    RingbufHandle_t rb = xRingbufferCreate(64, RINGBUF_TYPE_NOSPLIT);
    assert_true(set && plain && rb);
    log_capture_begin();
    ASSERT_REFUSED(1, assert_int_equal(xRingbufferAddToQueueSetRead(rb, plain), pdFALSE));
    assert_int_equal(xRingbufferAddToQueueSetRead(rb, set), pdTRUE);
    ASSERT_REFUSED(1, vQueueDelete(set));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "xRingbufferAddToQueueSetRead("));
    assert_non_null(strstr(logged, "not a queue set: refused"));
    assert_non_null(strstr(logged, "a queue set that has members"));
    assert_int_equal(xRingbufferSend(rb, "still", 5, 0), pdTRUE); /* the set is there */
    assert_true(xRingbufferCanRead(rb, xQueueSelectFromSet(set, 0)));
    size_t n;
    void *item = xRingbufferReceive(rb, &n, 0);
    assert_non_null(item);
    vRingbufferReturnItem(rb, item);
    assert_int_equal(xRingbufferRemoveFromQueueSetRead(rb, set), pdTRUE);
    assert_int_equal(xRingbufferAddToQueueSetRead(rb, set), pdTRUE);
    vRingbufferDelete(rb); /* leaves the set */
    ASSERT_NOT_REFUSED(vQueueDelete(set));
    vQueueDelete(plain);
}

/* ESP-IDF's delete leaves a buffer's handle in its set, which xQueueSelectFromSet gives later: a
 * buffer whose handle the set holds (an item sent, read or not without a select) is not deleted
 * (refused, counted) nor taken out of the set (pdFALSE, as for an item to read) until a select
 * took the handle. */
static void a_buffer_whose_handle_its_set_holds_is_not_deleted_nor_removed(void **state)
{
    (void)state;
    QueueSetHandle_t set = xQueueCreateSet(2);
    RingbufHandle_t rb = xRingbufferCreate(64, RINGBUF_TYPE_NOSPLIT);
    assert_true(set && rb);
    assert_int_equal(xRingbufferAddToQueueSetRead(rb, set), pdTRUE);
    assert_int_equal(xRingbufferSend(rb, "x", 1, 0), pdTRUE);
    log_capture_begin();
    ASSERT_REFUSED(1, vRingbufferDelete(rb)); /* an item to read, its handle in the set */
    size_t n;
    void *item = xRingbufferReceive(rb, &n, 0); /* read without a select */
    assert_non_null(item);
    vRingbufferReturnItem(rb, item);
    ASSERT_REFUSED(1, vRingbufferDelete(rb));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "vRingbufferDelete: its queue set holds its handle"));
    assert_int_equal(xRingbufferRemoveFromQueueSetRead(rb, set), pdFALSE);
    assert_ptr_equal((void *)xQueueSelectFromSet(set, 0), (void *)rb); /* still a buffer */
    assert_int_equal(xRingbufferRemoveFromQueueSetRead(rb, set), pdTRUE);
    assert_int_equal(xRingbufferAddToQueueSetRead(rb, set), pdTRUE);
    ASSERT_NOT_REFUSED(vRingbufferDelete(rb)); /* leaves the set */
    ASSERT_NOT_REFUSED(vQueueDelete(set));
}

/* ---- misuse ---------------------------------------------------------------------------------- */

static void what_esp_idf_asserts_on_is_refused_and_logged(void **state)
{
    (void)state;
    static uint32_t words[8];
    static StaticRingbuffer_t control;
    size_t n;
    void *p, *q;
    log_capture_begin();
    ASSERT_REFUSED(1, assert_null(xRingbufferCreate(0, RINGBUF_TYPE_BYTEBUF)));
    ASSERT_REFUSED(1, assert_null(xRingbufferCreate(64, RINGBUF_TYPE_MAX)));
    ASSERT_REFUSED(1, assert_null(xRingbufferCreate(8, RINGBUF_TYPE_NOSPLIT)));    /* max wraps */
    ASSERT_REFUSED(1, assert_null(xRingbufferCreate(12, RINGBUF_TYPE_ALLOWSPLIT))); /* too */
    ASSERT_REFUSED(1, assert_null(xRingbufferCreateStatic(32, RINGBUF_TYPE_NOSPLIT, NULL, &control)));
    ASSERT_REFUSED(1, assert_null(xRingbufferCreateStatic(30, RINGBUF_TYPE_NOSPLIT,
                                                          (uint8_t *)words, &control)));
    ASSERT_REFUSED(1, assert_null(xRingbufferCreateStatic(28, RINGBUF_TYPE_NOSPLIT,
                                                          (uint8_t *)words + 1, &control)));
    ASSERT_REFUSED(1, assert_int_equal(xRingbufferSend(NULL, "a", 1, 0), pdFALSE));
    ASSERT_REFUSED(1, vRingbufferDelete(NULL));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "xRingbufferCreate(0, 2): a size of 0 (the chip asserts)"));
    assert_non_null(strstr(logged, "not a ring buffer type"));
    assert_non_null(strstr(logged, "under 12 bytes its maximum item size wraps around"));
    assert_non_null(strstr(logged, "a size not a multiple of 4"));
    assert_non_null(strstr(logged, "storage not 4-byte aligned"));
    assert_non_null(strstr(logged, "xRingbufferSend: no ring buffer: refused"));
    assert_int_equal(heap_free(), internal_at_setup + psram_at_setup);

    RingbufHandle_t nosplit = xRingbufferCreate(64, RINGBUF_TYPE_NOSPLIT);
    RingbufHandle_t split = xRingbufferCreate(64, RINGBUF_TYPE_ALLOWSPLIT);
    RingbufHandle_t bytes = xRingbufferCreate(64, RINGBUF_TYPE_BYTEBUF);
    assert_int_equal(xRingbufferSend(nosplit, "abcd", 4, 0), pdTRUE);
    assert_int_equal(xRingbufferSend(nosplit, "efgh", 4, 0), pdTRUE);
    assert_int_equal(xRingbufferSend(split, "abcd", 4, 0), pdTRUE);
    log_capture_begin();
    ASSERT_REFUSED(1, assert_int_equal(xRingbufferSend(nosplit, NULL, 4, 0), pdFALSE));
    ASSERT_REFUSED(1, assert_null(xRingbufferReceive(nosplit, NULL, 0)));
    ASSERT_REFUSED(1, assert_null(xRingbufferReceive(split, &n, 0)));
    ASSERT_REFUSED(1, assert_int_equal(xRingbufferReceiveSplit(nosplit, &p, &q, &n, &n, 0), pdFALSE));
    ASSERT_REFUSED(1, assert_null(xRingbufferReceiveUpTo(nosplit, &n, 0, 4)));
    ASSERT_REFUSED(1, vRingbufferDeleteWithCaps(bytes)); /* not WithCaps */
    uint8_t *item = xRingbufferReceive(nosplit, &n, 0);
    uint8_t *unread = item + 12; /* "efgh": sent, not received */
    ASSERT_REFUSED(1, vRingbufferReturnItem(nosplit, unread));
    ASSERT_REFUSED(1, vRingbufferReturnItem(nosplit, item + 4)); /* inside an item */
    ASSERT_REFUSED(1, vRingbufferReturnItem(nosplit, words));   /* not in the buffer */
    ASSERT_REFUSED(1, vRingbufferReturnItem(nosplit, NULL));
    ASSERT_NOT_REFUSED(vRingbufferReturnItem(nosplit, item));
    ASSERT_REFUSED(1, vRingbufferReturnItem(nosplit, item)); /* twice */
    ASSERT_REFUSED(1, assert_int_equal(xRingbufferGetMaxItemSize(NULL), 0));
    logged = log_capture_end();
    assert_non_null(strstr(logged, "xRingbufferReceive: an allow-split buffer: refused"));
    assert_non_null(strstr(logged, "xRingbufferReceiveSplit: a no-split buffer: refused"));
    assert_non_null(strstr(logged, "xRingbufferReceiveUpTo: a no-split buffer: refused"));
    assert_non_null(strstr(logged, "not made by xRingbufferCreateWithCaps()"));
    assert_non_null(strstr(logged, "not an item it gave: refused"));
    assert_non_null(strstr(logged, "a pointer outside its storage: refused"));
    assert_non_null(strstr(logged, "returned already: refused"));
    /* the refused returns changed nothing: "efgh" is still there, once */
    item = xRingbufferReceive(nosplit, &n, 0);
    assert_memory_equal(item, "efgh", 4);
    vRingbufferReturnItem(nosplit, item);
    assert_null(xRingbufferReceive(nosplit, &n, 0));
    vRingbufferDelete(nosplit);
    vRingbufferDelete(split);
    vRingbufferDelete(bytes);
}

/* ---- several producers, one consumer --------------------------------------------------------- */

#define PRODUCERS 3
#define ITEMS_EACH 3000u

typedef struct {
    RingbufHandle_t rb;
    uint32_t id;
    atomic_int done;
} producer_t;

/* An item: producer id, sequence number, then 0..12 bytes derived from both. */
static size_t make_item(uint32_t id, uint32_t seq, uint8_t *out)
{
    memcpy(out, &id, 4);
    memcpy(out + 4, &seq, 4);
    const size_t extra = (seq * 7u + id) % 13u;
    for (size_t i = 0; i < extra; i++) {
        out[8 + i] = (uint8_t)(id * 31u + seq + i);
    }
    return 8 + extra;
}

static void produce(void *arg)
{
    producer_t *p = arg;
    for (uint32_t seq = 0; seq < ITEMS_EACH; seq++) {
        uint8_t item[24];
        const size_t n = make_item(p->id, seq, item);
        while (xRingbufferSend(p->rb, item, n, PATIENCE_TICKS) != pdTRUE) {
        }
    }
    atomic_store(&p->done, 1);
    vTaskDelete(NULL);
}

static void every_item_of_several_producers_arrives_once_in_each_producers_order(void **state)
{
    (void)state;
    static const RingbufferType_t types[] = {RINGBUF_TYPE_NOSPLIT, RINGBUF_TYPE_ALLOWSPLIT};
    for (size_t t = 0; t < 2; t++) {
        RingbufHandle_t rb = xRingbufferCreate(200, types[t]);
        assert_non_null(rb);
        producer_t producers[PRODUCERS];
        for (uint32_t i = 0; i < PRODUCERS; i++) {
            producers[i] = (producer_t){.rb = rb, .id = i};
            assert_int_equal(xTaskCreate(produce, "producer", 4096, &producers[i], 5, NULL), pdPASS);
        }
        uint32_t next[PRODUCERS] = {0};
        for (uint32_t got = 0; got < PRODUCERS * ITEMS_EACH; got++) {
            uint8_t whole[24];
            size_t n = 0;
            if (types[t] == RINGBUF_TYPE_NOSPLIT) {
                uint8_t *item = xRingbufferReceive(rb, &n, PATIENCE_TICKS);
                assert_non_null(item);
                memcpy(whole, item, n);
                vRingbufferReturnItem(rb, item);
            } else { /* the parts of a split item, put back together */
                void *head, *tail;
                size_t head_n, tail_n = 0;
                assert_int_equal(
                    xRingbufferReceiveSplit(rb, &head, &tail, &head_n, &tail_n, PATIENCE_TICKS),
                    pdTRUE);
                memcpy(whole, head, head_n);
                n = head_n;
                if (tail != NULL) {
                    memcpy(whole + n, tail, tail_n);
                    n += tail_n;
                    vRingbufferReturnItem(rb, tail);
                }
                vRingbufferReturnItem(rb, head);
            }
            uint32_t id;
            memcpy(&id, whole, 4);
            assert_true(id < PRODUCERS);
            uint8_t expected[24];
            assert_int_equal(n, make_item(id, next[id], expected));
            assert_memory_equal(whole, expected, n); /* the next of that producer, intact */
            next[id]++;
        }
        for (uint32_t i = 0; i < PRODUCERS; i++) {
            WAIT_FOR(atomic_load(&producers[i].done));
            assert_true(atomic_load(&producers[i].done));
        }
        assert_int_equal(info(rb).waiting, 0); /* nothing more */
        WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);
        vRingbufferDelete(rb);
    }
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, boot, all_gone)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(a_ring_buffer_is_a_112_byte_control_block_and_its_rounded_storage_from_malloc),
        TEST(static_and_withcaps_buffers_use_the_callers_memory_or_the_caps),
        TEST(a_nosplit_item_that_does_not_fit_before_the_end_starts_at_0_behind_a_dummy),
        TEST(an_allowsplit_item_is_cut_in_two_at_the_end),
        TEST(a_byte_buffer_gives_contiguous_bytes_one_piece_at_a_time),
        TEST(acquired_items_are_read_in_acquire_order_once_completed),
        TEST(a_full_buffer_read_to_its_end_frees_only_what_comes_back),
        TEST(an_item_returned_again_after_its_room_was_sent_into_is_refused),
        TEST(print_info_prints_esp_idfs_line),
        TEST(a_waiting_receiver_wakes_at_a_send_from_an_isr_which_says_so),
        TEST(a_waiting_sender_wakes_when_an_item_comes_back),
        TEST(a_receive_times_out_on_an_empty_buffer),
        TEST(a_buffer_in_a_queue_set_posts_its_handle_at_each_send),
        TEST(a_queue_set_is_not_deleted_under_a_buffer_in_it),
        TEST(a_buffer_whose_handle_its_set_holds_is_not_deleted_nor_removed),
        TEST(what_esp_idf_asserts_on_is_refused_and_logged),
        TEST(every_item_of_several_producers_arrives_once_in_each_producers_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
