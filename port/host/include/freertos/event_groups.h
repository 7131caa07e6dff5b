/*
 * freertos/event_groups.h (host) - FreeRTOS event groups with the chip's memory use: each takes
 * one 36-byte pvPortMalloc() block (sizeof(StaticEventGroup_t) on the S3). A set of bits wakes
 * every waiting task whose condition it meets, each seeing the bits as they were when it was met,
 * and then clears what those tasks asked to clear on exit, as FreeRTOS does. See
 * freertos/FreeRTOS.h for what is simulated.
 */
#ifndef FREERTOS_EVENT_GROUPS_H_HOST
#define FREERTOS_EVENT_GROUPS_H_HOST

#include "freertos/FreeRTOS.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct EventGroupDef_t *EventGroupHandle_t;
typedef TickType_t EventBits_t; /* 24 usable bits: the top 8 are the kernel's */

/** Memory an event group created with xEventGroupCreateStatic() uses instead of a heap block
 *  (KRAKEN_SIM_EVENT_GROUP_BYTES: 36 bytes on the S3 with the default options, as on a 32-bit
 *  host; 40 on a 64-bit one). */
typedef struct {
    void *host; /* the host record */
    uint8_t reserved[KRAKEN_SIM_EVENT_GROUP_BYTES - 4u];
} StaticEventGroup_t;

/** An event group with no bit set, in one block from pvPortMalloc(). NULL when the internal heap
 *  cannot hold it or the host is out of memory. task, O(1). */
EventGroupHandle_t xEventGroupCreate(void);
/** The same on the caller's memory, no heap call; NULL for a NULL buffer (logged). task, O(1). */
EventGroupHandle_t xEventGroupCreateStatic(StaticEventGroup_t *pxEventGroupBuffer);
/** Deletes it: its block goes back; tasks waiting on it return at once with 0, as in FreeRTOS.
 *  NULL: refused (logged; the chip asserts). task, O(waiting tasks). */
void vEventGroupDelete(EventGroupHandle_t xEventGroup);
/** The buffer given to xEventGroupCreateStatic(): pdTRUE with *ppxEventGroupBuffer set; for a
 *  group made by xEventGroupCreateWithCaps() (a static one on the chip too), its block: to free,
 *  not to read. pdFALSE, nothing set, for one made by xEventGroupCreate(). A NULL group or
 *  ppxEventGroupBuffer is refused with pdFALSE and an error line (the chip asserts). task or isr,
 *  O(1). */
BaseType_t xEventGroupGetStaticBuffer(EventGroupHandle_t xEventGroup,
                                      StaticEventGroup_t **ppxEventGroupBuffer);

/** Sets uxBitsToSet, wakes the tasks whose condition is now met and clears the bits those asked to
 *  clear on exit. Returns the bits after that. NULL group or bits in the top byte: 0, logged
 *  (the chip asserts). task (ISRs: xEventGroupSetBitsFromISR), O(waiting tasks). */
EventBits_t xEventGroupSetBits(EventGroupHandle_t xEventGroup, const EventBits_t uxBitsToSet);
/** The same from a simulated ISR, deferred to the timer task as in FreeRTOS (through
 *  xTimerPendFunctionCallFromISR(): the bits are set when the timer task gets to it; the group
 *  must live until then). pdPASS; pdFAIL when the timer task's queue is full, or for the refusals
 *  above. *pxHigherPriorityTaskWoken (when not NULL) is set to pdTRUE when the timer task was
 *  waiting. isr-ok, O(1). */
BaseType_t xEventGroupSetBitsFromISR(EventGroupHandle_t xEventGroup, const EventBits_t uxBitsToSet,
                                     BaseType_t *pxHigherPriorityTaskWoken);
/** Clears uxBitsToClear; returns the bits before. NULL or top-byte bits: 0, logged. task, O(1). */
EventBits_t xEventGroupClearBits(EventGroupHandle_t xEventGroup, const EventBits_t uxBitsToClear);
/** The same from a simulated ISR, deferred to the timer task as xEventGroupSetBitsFromISR():
 *  pdPASS; pdFAIL when the timer task's queue is full, or for the refusals above. isr-ok, O(1). */
BaseType_t xEventGroupClearBitsFromISR(EventGroupHandle_t xEventGroup, const EventBits_t uxBitsToClear);
/** The bits now. NULL: 0, refused and counted (FreeRTOS's is xEventGroupClearBits(g, 0), which
 *  asserts on NULL). task or isr, O(1). */
EventBits_t xEventGroupGetBits(EventGroupHandle_t xEventGroup);
/** The same from a simulated ISR (a function of its own, as FreeRTOS's): the bits; NULL or a
 *  deleted group: 0, refused and counted (the chip's dereferences NULL). isr-ok, O(1). */
EventBits_t xEventGroupGetBitsFromISR(EventGroupHandle_t xEventGroup);

/** Waits up to xTicksToWait for any (xWaitForAllBits pdFALSE) or all of uxBitsToWaitFor; when
 *  the condition is met, clears them if xClearOnExit. Returns the bits when the condition was met,
 *  or at the timeout (the caller tells which by testing them). NULL group, no bits or top-byte
 *  bits, or a non-zero wait in a simulated ISR or a critical
 *  section: 0, logged (the chip asserts). task, blocks. */
EventBits_t xEventGroupWaitBits(EventGroupHandle_t xEventGroup, const EventBits_t uxBitsToWaitFor,
                                const BaseType_t xClearOnExit, const BaseType_t xWaitForAllBits,
                                TickType_t xTicksToWait);

/** An event group whose record comes from heap_caps_malloc(uxMemoryCaps) (ESP-IDF's
 *  idf_additions.h); NULL when it cannot be had. Delete it with vEventGroupDeleteWithCaps (a plain
 *  vEventGroupDelete leaks the block, as on the chip). task, O(1). */
EventGroupHandle_t xEventGroupCreateWithCaps(UBaseType_t uxMemoryCaps);
/** Deletes an event group made by xEventGroupCreateWithCaps() and frees its block; another one is
 *  refused (logged), as NULL (the chip asserts). task. */
void vEventGroupDeleteWithCaps(EventGroupHandle_t xEventGroup);

/** A rendezvous: sets uxBitsToSet, then waits up to xTicksToWait for all of uxBitsToWaitFor,
 *  which the task completing the rendezvous clears for all, as FreeRTOS does. Returns the bits
 *  when the rendezvous completed (all of uxBitsToWaitFor in them), or at the timeout. Refused
 *  as xEventGroupWaitBits() (0, logged). task, blocks. */
EventBits_t xEventGroupSync(EventGroupHandle_t xEventGroup, const EventBits_t uxBitsToSet,
                            const EventBits_t uxBitsToWaitFor, TickType_t xTicksToWait);

#ifdef __cplusplus
}
#endif

#endif /* FREERTOS_EVENT_GROUPS_H_HOST */
