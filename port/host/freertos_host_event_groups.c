/*
 * freertos_host_event_groups.c - FreeRTOS event groups on the host (freertos/event_groups.h), under
 * the kernel lock of freertos_host.c. As in FreeRTOS, xEventGroupSetBits() decides for every
 * waiting task whether its condition is met (each waiter is a node on its own stack, linked in the
 * group), so two tasks waiting for one bit with clear-on-exit both see it.
 */
#include <inttypes.h>
#include <stdint.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "freertos/timers.h"
#include "freertos_host.h"
#include "sim_internal.h"

#define EVENT_GROUP_SIZE KRAKEN_SIM_EVENT_GROUP_BYTES
#define CONTROL_BITS 0xFF000000u

enum { MEM_HEAP, MEM_STATIC, MEM_CAPS };

typedef struct waiter {
    struct EventGroupDef_t *group;
    EventBits_t wait_for;
    bool all, clear;
    bool met;           /* set by a SetBits (or the delete) */
    EventBits_t result; /* the bits when it was met */
    TaskHandle_t task;  /* the waiting task (NULL: a thread with no record) */
    struct waiter *next;
} waiter_t;

struct EventGroupDef_t {
    EventBits_t bits;
    uint8_t memory;  /* MEM_* */
    bool deleted;    /* deleted while tasks waited: the last of them frees the record */
    void *block;     /* the simulated block (NULL: MEM_STATIC) */
    StaticEventGroup_t *buffer; /* MEM_STATIC: the caller's */
    waiter_t *waiters;
    uint32_t waiting;
    fr_waiters_t changed;
};

static void destroy(struct EventGroupDef_t *g)
{
    __real_free(g);
}

static EventGroupHandle_t make(uint8_t memory, void *block)
{
    struct EventGroupDef_t *g = __real_calloc(1, sizeof *g);
    if (g != NULL) {
        g->memory = memory;
        g->block = block;
        if (!fr_handle_add(g, FR_EVENT_GROUP)) {
            destroy(g);
            return NULL;
        }
    }
    return g;
}

EventGroupHandle_t xEventGroupCreate(void)
{
    void *block = pvPortMalloc(EVENT_GROUP_SIZE);
    EventGroupHandle_t g = block != NULL ? make(MEM_HEAP, block) : NULL;
    if (g == NULL) {
        vPortFree(block);
    }
    return g;
}

static const void *buffer_of(const void *record)
{
    return ((const struct EventGroupDef_t *)record)->buffer;
}

EventGroupHandle_t xEventGroupCreateStatic(StaticEventGroup_t *pxEventGroupBuffer)
{
    if (pxEventGroupBuffer == NULL) {
        FR_REFUSE("%s: no buffer: refused (the chip asserts)", __func__);
        return NULL;
    }
    if (fr_refuse_live_buffer(__func__, pxEventGroupBuffer, pxEventGroupBuffer->host,
                              FR_EVENT_GROUP, buffer_of)) {
        return NULL;
    }
    EventGroupHandle_t g = make(MEM_STATIC, NULL);
    if (g != NULL) {
        pxEventGroupBuffer->host = g;
        g->buffer = pxEventGroupBuffer;
    }
    return g;
}

EventGroupHandle_t xEventGroupCreateWithCaps(UBaseType_t uxMemoryCaps)
{
    void *block = heap_caps_malloc(EVENT_GROUP_SIZE, (uint32_t)uxMemoryCaps);
    EventGroupHandle_t g = block != NULL ? make(MEM_CAPS, block) : NULL;
    if (g == NULL) {
        heap_caps_free(block);
    }
    return g;
}

BaseType_t xEventGroupGetStaticBuffer(EventGroupHandle_t xEventGroup,
                                      StaticEventGroup_t **ppxEventGroupBuffer)
{
    if (xEventGroup == NULL || ppxEventGroupBuffer == NULL) {
        FR_REFUSE("%s: no %s: refused (the chip asserts)", __func__,
                  xEventGroup == NULL ? "event group" : "place for the buffer");
        return pdFALSE;
    }
    if (!fr_enter_live(__func__, xEventGroup, FR_EVENT_GROUP, false)) {
        return pdFALSE;
    }
    /* A WithCaps group is a static one on the chip (idf_additions_event_groups.c). */
    const bool has = xEventGroup->memory != MEM_HEAP;
    if (has) {
        *ppxEventGroupBuffer =
            xEventGroup->memory == MEM_STATIC ? xEventGroup->buffer : xEventGroup->block;
    }
    fr_unlock();
    return has ? pdTRUE : pdFALSE;
}

static void delete_group(EventGroupHandle_t g, bool caps_api, const char *fn)
{
    fr_task_call();
    if (g == NULL) { /* vEventGroupDelete's configASSERT(pxEventBits); the WithCaps delete
                        asserts in xEventGroupGetStaticBuffer() first */
        FR_REFUSE("%s: no event group: refused (the chip asserts)", fn);
        return;
    }
    fr_enter();
    const bool live = fr_handle_live_locked(g, FR_EVENT_GROUP); /* before anything is read */
    if (!live || (caps_api && g->memory != MEM_CAPS)) {
        fr_unlock();
        FR_REFUSE("%s(%p): %s: refused (the chip %s)", fn, (void *)g,
                  !live ? "no live event group (deleted, or never one)"
                        : "not made by xEventGroupCreateWithCaps()",
                  !live ? "reads freed memory" : "asserts");
        return;
    }
    fr_handle_remove_locked(g); /* a record waiters still hold is no live group */
    const bool frees = caps_api || g->memory != MEM_CAPS; /* see vQueueDelete */
    void *block = frees ? g->block : NULL;
    for (waiter_t *w = g->waiters; w != NULL; w = w->next) {
        w->met = true; /* FreeRTOS unblocks them with 0: "the event list is being deleted" */
        w->result = 0;
    }
    g->waiters = NULL;
    const bool waited = g->waiting != 0;
    g->deleted = true;
    fr_wake_all_locked(&g->changed);
    fr_unlock();
    if (!waited) {
        destroy(g);
    }
    if (!frees) {
        ESP_LOGW(FR_TAG, "%s(%p): made by xEventGroupCreateWithCaps(): its block stays allocated "
                         "(delete it with vEventGroupDeleteWithCaps instead)", fn, (void *)g);
    }
    heap_caps_free(block);
}

void vEventGroupDelete(EventGroupHandle_t xEventGroup)
{
    delete_group(xEventGroup, false, __func__);
}

void vEventGroupDeleteWithCaps(EventGroupHandle_t xEventGroup)
{
    delete_group(xEventGroup, true, __func__);
}

/* The arguments only: the group is looked up in the hold that uses it (fr_enter_live). */
static bool valid_bits(const char *fn, EventGroupHandle_t g, EventBits_t bits)
{
    if (g == NULL || (bits & CONTROL_BITS) != 0) {
        FR_REFUSE("%s: %s: refused (the chip asserts)", fn,
                  g == NULL ? "no event group" : "bits in the top byte (the kernel's)");
        return false;
    }
    return true;
}

/* Lock held: the waiter leaves its group's list (a timeout, or its task deleted while it waits);
 * the last waiter of a deleted group frees the record (then true). */
static bool unlink_waiter_locked(waiter_t *w)
{
    struct EventGroupDef_t *g = w->group;
    for (waiter_t **at = &g->waiters; *at != NULL; at = &(*at)->next) {
        if (*at == w) {
            *at = w->next;
            break;
        }
    }
    return g->deleted && g->waiting == 0;
}

/* fr_wait's cleanup for a task deleted while it waits: its node lives on its stack. */
static void waiter_task_ends(void *arg)
{
    waiter_t *w = arg;
    if (unlink_waiter_locked(w)) {
        destroy(w->group); /* host memory only: no heap call under the lock */
    }
}

static bool condition_met(EventBits_t bits, EventBits_t wait_for, bool all)
{
    return all ? (bits & wait_for) == wait_for : (bits & wait_for) != 0;
}

/* Lock held: sets bits, wakes the waiters it satisfies, clears what they clear. */
static void set_locked(struct EventGroupDef_t *g, EventBits_t bits)
{
    g->bits |= bits;
    EventBits_t clear = 0;
    for (waiter_t **at = &g->waiters; *at != NULL;) {
        waiter_t *w = *at;
        if (condition_met(g->bits, w->wait_for, w->all)) {
            w->met = true;
            w->result = g->bits;
            if (w->clear) {
                clear |= w->wait_for;
            }
            *at = w->next; /* off the list: this set is its wake-up */
            (void)fr_wake_task_locked(w->task);
        } else {
            at = &w->next;
        }
    }
    g->bits &= ~clear;
}

EventBits_t xEventGroupSetBits(EventGroupHandle_t xEventGroup, const EventBits_t uxBitsToSet)
{
    fr_task_call();
    if (!valid_bits(__func__, xEventGroup, uxBitsToSet) ||
        !fr_enter_live(__func__, xEventGroup, FR_EVENT_GROUP, false)) {
        return 0;
    }
    set_locked(xEventGroup, uxBitsToSet);
    const EventBits_t bits = xEventGroup->bits;
    fr_unlock();
    return bits;
}

/* The timer task's half of the FromISR calls, as FreeRTOS's vEventGroupSetBitsCallback(). */
static void set_bits_later(void *group, uint32_t bits)
{
    (void)xEventGroupSetBits(group, (EventBits_t)bits);
}

static void clear_bits_later(void *group, uint32_t bits)
{
    (void)xEventGroupClearBits(group, (EventBits_t)bits);
}

BaseType_t xEventGroupSetBitsFromISR(EventGroupHandle_t xEventGroup, const EventBits_t uxBitsToSet,
                                     BaseType_t *pxHigherPriorityTaskWoken)
{
    if (!valid_bits(__func__, xEventGroup, uxBitsToSet) ||
        fr_refuse_dangling(__func__, xEventGroup, FR_EVENT_GROUP)) { /* nothing read */
        return pdFAIL;
    }
    return xTimerPendFunctionCallFromISR(set_bits_later, xEventGroup, uxBitsToSet,
                                         pxHigherPriorityTaskWoken);
}

EventBits_t xEventGroupClearBits(EventGroupHandle_t xEventGroup, const EventBits_t uxBitsToClear)
{
    fr_task_call();
    if (!valid_bits(__func__, xEventGroup, uxBitsToClear) ||
        !fr_enter_live(__func__, xEventGroup, FR_EVENT_GROUP, false)) {
        return 0;
    }
    const EventBits_t before = xEventGroup->bits;
    xEventGroup->bits &= ~uxBitsToClear;
    fr_unlock();
    return before;
}

BaseType_t xEventGroupClearBitsFromISR(EventGroupHandle_t xEventGroup, const EventBits_t uxBitsToClear)
{
    if (!valid_bits(__func__, xEventGroup, uxBitsToClear) ||
        fr_refuse_dangling(__func__, xEventGroup, FR_EVENT_GROUP)) { /* nothing read */
        return pdFAIL;
    }
    return xTimerPendFunctionCallFromISR(clear_bits_later, xEventGroup, uxBitsToClear, NULL);
}

static EventBits_t get_bits(const char *fn, EventGroupHandle_t g, bool isr)
{
    if (!valid_bits(fn, g, 0) || !fr_enter_live(fn, g, FR_EVENT_GROUP, isr)) {
        return 0;
    }
    const EventBits_t bits = g->bits;
    fr_unlock();
    return bits;
}

EventBits_t xEventGroupGetBits(EventGroupHandle_t xEventGroup)
{
    return get_bits(__func__, xEventGroup, false);
}

EventBits_t xEventGroupGetBitsFromISR(EventGroupHandle_t xEventGroup)
{
    return get_bits(__func__, xEventGroup, true);
}

/* fr_lock() held, released on return: xEventGroupWaitBits() once its arguments are checked. */
static EventBits_t wait_locked(struct EventGroupDef_t *g, EventBits_t wait_for, bool all, bool clear,
                               TickType_t ticks, const struct timespec *deadline)
{
    EventBits_t result = g->bits;
    if (condition_met(g->bits, wait_for, all)) {
        if (clear) {
            g->bits &= ~wait_for;
        }
    } else if (ticks != 0) {
        waiter_t w = {.group = g, .wait_for = wait_for, .all = all, .clear = clear,
                      .task = fr_current(), .next = g->waiters};
        g->waiters = &w;
        while (!w.met && fr_wait(&g->changed, deadline, &g->waiting, waiter_task_ends, &w)) {
        }
        /* Met (by a set or the delete, which took it off the list) or timed out (the bits now). */
        result = w.met ? w.result : g->bits;
        if (unlink_waiter_locked(&w)) {
            fr_unlock();
            destroy(g); /* the last waiter of a deleted group */
            return result;
        }
    }
    fr_unlock();
    return result;
}

/* Checks a wait's arguments (bits: every bit it names) and takes the lock; false (logged, the lock
 * not taken) when they are refused. */
static bool enter_wait(const char *fn, EventGroupHandle_t g, EventBits_t bits, EventBits_t wait_for,
                       TickType_t ticks, struct timespec *deadline, bool *timed)
{
    fr_task_call();
    /* a dead group first, as every call reports it; looked up again in the hold that uses it */
    if (!valid_bits(fn, g, bits) || fr_refuse_dangling(fn, g, FR_EVENT_GROUP) ||
        fr_refuse_wait(fn, ticks)) {
        return false;
    }
    if (wait_for == 0) {
        FR_REFUSE("%s: no bits to wait for: refused (the chip asserts)", fn);
        return false;
    }
    *timed = fr_deadline(ticks, deadline);
    return fr_enter_live(fn, g, FR_EVENT_GROUP, false);
}

EventBits_t xEventGroupWaitBits(EventGroupHandle_t xEventGroup, const EventBits_t uxBitsToWaitFor,
                                const BaseType_t xClearOnExit, const BaseType_t xWaitForAllBits,
                                TickType_t xTicksToWait)
{
    struct timespec deadline;
    bool timed;
    if (!enter_wait(__func__, xEventGroup, uxBitsToWaitFor, uxBitsToWaitFor, xTicksToWait,
                    &deadline, &timed)) {
        return 0;
    }
    return wait_locked(xEventGroup, uxBitsToWaitFor, xWaitForAllBits != pdFALSE,
                       xClearOnExit != pdFALSE, xTicksToWait, timed ? &deadline : NULL);
}

EventBits_t xEventGroupSync(EventGroupHandle_t xEventGroup, const EventBits_t uxBitsToSet,
                            const EventBits_t uxBitsToWaitFor, TickType_t xTicksToWait)
{
    struct timespec deadline;
    bool timed;
    if (!enter_wait(__func__, xEventGroup, uxBitsToSet | uxBitsToWaitFor, uxBitsToWaitFor,
                    xTicksToWait, &deadline, &timed)) {
        return 0;
    }
    /* event_groups.c: set, then either the rendezvous is complete (this task clears it) or wait
     * for all of it with clear on exit. */
    const EventBits_t before = xEventGroup->bits;
    set_locked(xEventGroup, uxBitsToSet);
    if (((before | uxBitsToSet) & uxBitsToWaitFor) == uxBitsToWaitFor) {
        xEventGroup->bits &= ~uxBitsToWaitFor;
        fr_unlock();
        return before | uxBitsToSet;
    }
    return wait_locked(xEventGroup, uxBitsToWaitFor, true, true, xTicksToWait,
                       timed ? &deadline : NULL);
}
