/* test_freertos_queue_sets.c - FreeRTOS queue sets and the queue registry on the host
 * (freertos/queue.h): the chip's memory use, FreeRTOS's order and wake-up semantics, and the
 * misuse the chip asserts on, refused and logged. */
#define _POSIX_C_SOURCE 200809L
#define KRAKEN_SIM_QUEUE_REGISTRY /* the registry's calls, also when the build's size is 0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "kraken_sim.h"

#include "capture_output.h" /* after esp_log.h: its log capture */
#include "freertos_test_support.h"
#include "freertos_refusals.h"

#define INTERNAL (MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)

/* Tasks alive, this thread counted (it becomes a task at its first call that needs one). */
static UBaseType_t tasks_now(void)
{
    (void)xTaskGetCurrentTaskHandle();
    return uxTaskGetNumberOfTasks();
}

/* Until the task threads that ended have gone, as counted by the kernel. */
static void wait_for_tasks(UBaseType_t n)
{
    WAIT_FOR(uxTaskGetNumberOfTasks() <= n);
    assert_int_equal(uxTaskGetNumberOfTasks(), n);
}

/* The internal bytes a create takes (block and header), given back by its delete. */
static size_t bytes_of_set(UBaseType_t length)
{
    const size_t before = heap_caps_get_free_size(INTERNAL);
    QueueSetHandle_t set = xQueueCreateSet(length);
    assert_non_null(set);
    const size_t taken = before - heap_caps_get_free_size(INTERNAL);
    vQueueDelete(set);
    assert_int_equal(heap_caps_get_free_size(INTERNAL), before);
    return taken;
}

static size_t bytes_of_queue(UBaseType_t length, UBaseType_t item_size)
{
    const size_t before = heap_caps_get_free_size(INTERNAL);
    QueueHandle_t q = xQueueCreate(length, item_size);
    assert_non_null(q);
    const size_t taken = before - heap_caps_get_free_size(INTERNAL);
    vQueueDelete(q);
    return taken;
}

static void a_set_is_one_internal_block_of_a_queue_of_4_byte_handles(void **state)
{
    (void)state;
    /* xQueueGenericCreate(n, sizeof(Queue_t *) == 4, queueQUEUE_TYPE_SET) on the chip */
    assert_int_equal(bytes_of_set(10), bytes_of_queue(10, 4));
    assert_int_equal(bytes_of_set(1), bytes_of_queue(1, 4));
    assert_int_equal(bytes_of_set(21) - bytes_of_set(1), 20 * 4);
}

/* Takes n empty members out of set, then deletes the set (not the members). */
static void empty_set_and_delete(QueueSetHandle_t set, const QueueSetMemberHandle_t *members,
                                 size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(xQueueRemoveFromSet(members[i], set), pdPASS);
    }
    vQueueDelete(set);
}

/* Three members of different kinds and a set as long as they are together. */
typedef struct {
    QueueHandle_t a, b;
    SemaphoreHandle_t sem;
    QueueSetHandle_t set;
} three_t;

static three_t make_three(void)
{
    three_t t = {.a = xQueueCreate(2, sizeof(uint32_t)), .b = xQueueCreate(2, sizeof(uint32_t)),
                 .sem = xSemaphoreCreateBinary(), .set = xQueueCreateSet(2 + 2 + 1)};
    assert_true(t.a != NULL && t.b != NULL && t.sem != NULL && t.set != NULL);
    assert_int_equal(xQueueAddToSet(t.a, t.set), pdPASS);
    assert_int_equal(xQueueAddToSet(t.b, t.set), pdPASS);
    assert_int_equal(xQueueAddToSet(t.sem, t.set), pdPASS);
    return t;
}

static void delete_three(three_t *t)
{
    empty_set_and_delete(t->set, (QueueSetMemberHandle_t[]){t->a, t->b, t->sem}, 3);
    vQueueDelete(t->a);
    vQueueDelete(t->b);
    vSemaphoreDelete(t->sem);
}

static void select_gives_the_members_in_the_order_their_data_came(void **state)
{
    (void)state;
    const size_t before = heap_caps_get_free_size(INTERNAL);
    three_t t = make_three();
    assert_null(xQueueSelectFromSet(t.set, 0)); /* nothing yet */
    const uint32_t one = 1, two = 2, three = 3;
    assert_int_equal(xQueueSend(t.b, &one, 0), pdPASS);
    assert_int_equal(xSemaphoreGive(t.sem), pdTRUE);
    assert_int_equal(xQueueSend(t.a, &two, 0), pdPASS);
    assert_int_equal(xQueueSend(t.b, &three, 0), pdPASS);
    assert_int_equal(uxQueueMessagesWaiting(t.set), 4); /* one handle per item or give */
    uint32_t got = 0;
    assert_ptr_equal(xQueueSelectFromSet(t.set, 0), t.b);
    assert_int_equal(xQueueReceive(t.b, &got, 0), pdPASS);
    assert_int_equal(got, 1);
    assert_ptr_equal(xQueueSelectFromSet(t.set, 0), t.sem);
    assert_int_equal(xSemaphoreTake(t.sem, 0), pdTRUE);
    assert_ptr_equal(xQueueSelectFromSet(t.set, 0), t.a);
    assert_int_equal(xQueueReceive(t.a, &got, 0), pdPASS);
    assert_int_equal(got, 2);
    assert_ptr_equal(xQueueSelectFromSet(t.set, 0), t.b);
    assert_int_equal(xQueueReceive(t.b, &got, 0), pdPASS);
    assert_int_equal(got, 3);
    assert_null(xQueueSelectFromSet(t.set, 0));
    delete_three(&t);
    assert_int_equal(heap_caps_get_free_size(INTERNAL), before);
}

static void counting_semaphores_and_held_mutexes_are_members_too(void **state)
{
    (void)state;
    SemaphoreHandle_t counting = xSemaphoreCreateCounting(3, 0);
    SemaphoreHandle_t mutex = xSemaphoreCreateMutex();
    SemaphoreHandle_t recursive = xSemaphoreCreateRecursiveMutex();
    QueueSetHandle_t set = xQueueCreateSet(3 + 1 + 1);
    assert_true(counting != NULL && mutex != NULL && recursive != NULL && set != NULL);
    assert_int_equal(xQueueAddToSet(counting, set), pdPASS);
    /* a free mutex is a full queue of one: it is added while held, as in FreeRTOS */
    assert_int_equal(xSemaphoreTake(mutex, 0), pdTRUE);
    assert_int_equal(xQueueAddToSet(mutex, set), pdPASS);
    assert_int_equal(xSemaphoreTakeRecursive(recursive, 0), pdTRUE);
    assert_int_equal(xSemaphoreTakeRecursive(recursive, 0), pdTRUE);
    assert_int_equal(xQueueAddToSet(recursive, set), pdPASS);

    assert_int_equal(xSemaphoreGive(counting), pdTRUE);
    assert_int_equal(xSemaphoreGive(counting), pdTRUE);
    assert_int_equal(xSemaphoreGiveRecursive(recursive), pdTRUE); /* still held: nothing to take */
    assert_int_equal(uxQueueMessagesWaiting(set), 2);
    assert_int_equal(xSemaphoreGive(mutex), pdTRUE);
    assert_int_equal(xSemaphoreGiveRecursive(recursive), pdTRUE); /* free now */
    assert_ptr_equal(xQueueSelectFromSet(set, 0), counting);
    assert_ptr_equal(xQueueSelectFromSet(set, 0), counting);
    assert_ptr_equal(xQueueSelectFromSet(set, 0), mutex);
    assert_ptr_equal(xQueueSelectFromSet(set, 0), recursive);
    assert_null(xQueueSelectFromSet(set, 0));
    assert_int_equal(uxSemaphoreGetCount(counting), 2);
    assert_int_equal(xSemaphoreTake(counting, 0), pdTRUE);
    assert_int_equal(xSemaphoreTake(counting, 0), pdTRUE);
    assert_int_equal(xSemaphoreTake(mutex, 0), pdTRUE);
    assert_int_equal(xSemaphoreTakeRecursive(recursive, 0), pdTRUE);
    empty_set_and_delete(set, (QueueSetMemberHandle_t[]){counting, mutex, recursive}, 3);
    assert_int_equal(xSemaphoreGive(mutex), pdTRUE); /* out of the set: no handle anywhere */
    vSemaphoreDelete(counting);
    vSemaphoreDelete(mutex);
    vSemaphoreDelete(recursive);
}

/* A task that selects from a set, then reads the member it got. */
typedef struct {
    QueueSetHandle_t set;
    TickType_t ticks;
    atomic_int done;
    QueueSetMemberHandle_t got;
    uint32_t item;
    BaseType_t read;
} selector_t;

static void selector_task(void *arg)
{
    selector_t *s = arg;
    s->got = xQueueSelectFromSet(s->set, s->ticks);
    if (s->got != NULL) {
        s->read = xQueueReceive(s->got, &s->item, 0);
    }
    atomic_store(&s->done, 1);
    vTaskDelete(NULL);
}

static TaskHandle_t start_selector(selector_t *s)
{
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(selector_task, "selector", 4096, s, 5, &task), pdPASS);
    WAIT_FOR(atomic_load(&s->done) || eTaskGetState(task) == eBlocked); /* into its wait */
    assert_false(atomic_load(&s->done));
    return task;
}

/* Three members in a set, and a task selecting from it without a timeout. */
typedef struct {
    three_t t;
    selector_t s;
    UBaseType_t tasks; /* alive before the selector */
    TaskHandle_t task;
} selecting_t;

static void select_from_three(selecting_t *x)
{
    x->t = make_three();
    x->tasks = tasks_now();
    x->s = (selector_t){.set = x->t.set, .ticks = portMAX_DELAY};
    x->task = start_selector(&x->s);
}

/* The selector got `member` and read it, and has ended. */
static void selected(selecting_t *x, QueueSetMemberHandle_t member)
{
    WAIT_FOR(atomic_load(&x->s.done));
    assert_true(atomic_load(&x->s.done));
    assert_ptr_equal(x->s.got, member);
    assert_int_equal(x->s.read, pdPASS); /* an item, or the give taken */
    wait_for_tasks(x->tasks);
}

static void an_overwrite_that_replaces_an_item_puts_no_second_handle(void **state)
{
    (void)state;
    QueueHandle_t q = xQueueCreate(1, sizeof(uint32_t));
    QueueSetHandle_t set = xQueueCreateSet(1);
    assert_int_equal(xQueueAddToSet(q, set), pdPASS);
    const uint32_t one = 1, two = 2;
    assert_int_equal(xQueueOverwrite(q, &one), pdPASS);
    assert_int_equal(xQueueOverwrite(q, &two), pdPASS); /* the set is full: no handle wanted */
    kraken_sim_isr_enter();
    assert_int_equal(xQueueOverwriteFromISR(q, &one, NULL), pdPASS);
    kraken_sim_isr_exit();
    assert_int_equal(uxQueueMessagesWaiting(set), 1);
    uint32_t got = 0;
    assert_ptr_equal(xQueueSelectFromSet(set, 0), q);
    assert_int_equal(xQueueReceive(q, &got, 0), pdPASS);
    assert_int_equal(got, 1);
    assert_null(xQueueSelectFromSet(set, 0));

    /* selected, not read yet: a replacing overwrite from an ISR wakes no selector */
    assert_int_equal(xQueueOverwrite(q, &one), pdPASS);
    assert_ptr_equal(xQueueSelectFromSet(set, 0), q);
    const UBaseType_t tasks = tasks_now();
    selector_t s = {.set = set, .ticks = 10};
    start_selector(&s);
    BaseType_t woken = pdFALSE;
    kraken_sim_isr_enter();
    assert_int_equal(xQueueOverwriteFromISR(q, &two, &woken), pdPASS);
    kraken_sim_isr_exit();
    assert_int_equal(woken, pdFALSE);
    WAIT_FOR(atomic_load(&s.done));
    assert_null(s.got); /* its wait timed out */
    wait_for_tasks(tasks);
    assert_int_equal(xQueueReceive(q, &got, 0), pdPASS);
    assert_int_equal(got, 2);
    assert_int_equal(xQueueRemoveFromSet(q, set), pdPASS);
    vQueueDelete(set);
    vQueueDelete(q);
}

static void a_waiting_select_wakes_on_the_member_that_got_data(void **state)
{
    (void)state;
    selecting_t x;
    select_from_three(&x);
    const uint32_t item = 42;
    assert_int_equal(xQueueSend(x.t.b, &item, 0), pdPASS);
    selected(&x, x.t.b);
    assert_int_equal(x.s.item, 42);
    delete_three(&x.t);
}

static void a_give_from_an_isr_wakes_the_selecting_task_and_says_so(void **state)
{
    (void)state;
    selecting_t x;
    select_from_three(&x);
    three_t t = x.t;
    BaseType_t woken = pdFALSE;
    kraken_sim_isr_enter();
    assert_int_equal(xSemaphoreGiveFromISR(t.sem, &woken), pdTRUE);
    kraken_sim_isr_exit();
    assert_int_equal(woken, pdTRUE); /* the selector waited on the set */
    selected(&x, t.sem);
    woken = pdFALSE;
    const uint32_t item = 7;
    kraken_sim_isr_enter();
    assert_int_equal(xQueueSendFromISR(t.a, &item, &woken), pdPASS);
    kraken_sim_isr_exit();
    assert_int_equal(woken, pdFALSE); /* nobody selects now */
    assert_ptr_equal(xQueueSelectFromSet(t.set, 0), t.a);
    uint32_t got = 0;
    assert_int_equal(xQueueReceive(t.a, &got, 0), pdPASS);
    assert_int_equal(got, 7);
    delete_three(&t);
}

static void a_select_times_out_with_null_after_its_ticks(void **state)
{
    (void)state;
    three_t t = make_three();
    const TickType_t start = xTaskGetTickCount();
    assert_null(xQueueSelectFromSet(t.set, 5));
    /* a wait of n ticks ends at the n-th tick: between n - 1 and n periods */
    assert_true(xTaskGetTickCount() - start >= 4);
    delete_three(&t);
}

static void select_from_an_isr_never_waits(void **state)
{
    (void)state;
    three_t t = make_three();
    kraken_sim_isr_enter();
    assert_null(xQueueSelectFromSetFromISR(t.set));
    assert_int_equal(xSemaphoreGiveFromISR(t.sem, NULL), pdTRUE);
    assert_ptr_equal(xQueueSelectFromSetFromISR(t.set), t.sem);
    assert_int_equal(xSemaphoreTakeFromISR(t.sem, NULL), pdTRUE);
    assert_null(xQueueSelectFromSetFromISR(t.set));
    kraken_sim_isr_exit();
    delete_three(&t);
}

/* A task waiting on a member itself: FreeRTOS wakes the set's selector instead. */
typedef struct {
    QueueHandle_t q;
    atomic_int done;
    BaseType_t result;
    TickType_t waited;
} reader_t;

#define READER_TICKS 20

static void reader_task(void *arg)
{
    reader_t *r = arg;
    const TickType_t start = xTaskGetTickCount();
    uint32_t item = 0;
    r->result = xQueueReceive(r->q, &item, READER_TICKS);
    r->waited = xTaskGetTickCount() - start;
    atomic_store(&r->done, 1);
    vTaskDelete(NULL);
}

static void a_member_s_data_does_not_wake_a_task_waiting_on_the_member(void **state)
{
    (void)state;
    three_t t = make_three();
    const UBaseType_t tasks = tasks_now();
    reader_t r = {.q = t.a};
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(reader_task, "reader", 4096, &r, 5, &task), pdPASS);
    WAIT_FOR(atomic_load(&r.done) || eTaskGetState(task) == eBlocked);
    const uint32_t item = 1;
    assert_int_equal(xQueueSend(t.a, &item, 0), pdPASS);
    WAIT_FOR(atomic_load(&r.done));
    assert_int_equal(r.result, pdPASS);         /* it finds the item when its wait ends */
    assert_true(r.waited >= READER_TICKS - 1); /* not before */
    wait_for_tasks(tasks);
    assert_ptr_equal(xQueueSelectFromSet(t.set, 0), t.a); /* the handle stays in the set */
    delete_three(&t);
}

static void misuse_is_refused_and_logged(void **state)
{
    (void)state;
    three_t t = make_three();
    QueueSetHandle_t other = xQueueCreateSet(4);
    QueueHandle_t plain = xQueueCreate(2, sizeof(uint32_t));
    assert_true(other != NULL && plain != NULL);
    const uint32_t item = 5;
    portMUX_TYPE mux = portMUX_INITIALIZER_UNLOCKED;

    log_capture_begin();
    ASSERT_REFUSED(1, assert_null(xQueueCreateSet(0)));
    ASSERT_REFUSED(1, assert_int_equal(xQueueAddToSet(NULL, t.set), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xQueueAddToSet(plain, NULL), pdFAIL));
    /* a queue, not a set */
    ASSERT_REFUSED(1, assert_int_equal(xQueueAddToSet(plain, t.a), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xQueueAddToSet(t.a, other), pdFAIL)); /* in a set already */
    assert_int_equal(xQueueSend(plain, &item, 0), pdPASS);
    ASSERT_REFUSED(1, assert_int_equal(xQueueAddToSet(plain, other), pdFAIL)); /* not empty */
    /* not in that set */
    ASSERT_REFUSED(1, assert_int_equal(xQueueRemoveFromSet(t.a, other), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xQueueRemoveFromSet(NULL, other), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xQueueRemoveFromSet(t.a, NULL), pdFAIL));
    assert_int_equal(xQueueSend(t.a, &item, 0), pdPASS);
    ASSERT_REFUSED(1, assert_int_equal(xQueueRemoveFromSet(t.a, t.set), pdFAIL)); /* not empty */
    ASSERT_REFUSED(1, vQueueDelete(t.a)); /* a member whose handle is in its set */
    ASSERT_REFUSED(1, vQueueDelete(t.set)); /* a set with members */
    ASSERT_REFUSED(1, assert_null(xQueueSelectFromSet(NULL, 0)));
    ASSERT_REFUSED(1, assert_null(xQueueSelectFromSet(plain, 0))); /* not a set: its item stays */
    ASSERT_REFUSED(1, assert_null(xQueueSelectFromSetFromISR(NULL)));
    ASSERT_REFUSED(1, assert_null(xQueueSelectFromSetFromISR(plain)));
    kraken_sim_isr_enter();
    ASSERT_NOT_REFUSED(assert_null(xQueueSelectFromSet(t.set, 1))); /* refused_waits alone */
    kraken_sim_isr_exit();
    portENTER_CRITICAL(&mux);
    ASSERT_NOT_REFUSED(assert_null(xQueueSelectFromSet(t.set, 1)));
    portEXIT_CRITICAL(&mux);
    const char *out = log_capture_end();

    assert_non_null(strstr(out, "xQueueCreateSet(0, 4): length 0"));
    assert_non_null(strstr(out, "xQueueAddToSet: no queue or semaphore: refused"));
    assert_non_null(strstr(out, "xQueueAddToSet((nil)): no queue set: refused"));
    assert_non_null(strstr(out, "): not a queue set: refused"));
    assert_non_null(strstr(out, "already in a queue set"));
    assert_non_null(strstr(out, "not empty (a given semaphore or a free mutex is not)"));
    assert_non_null(strstr(out, "not in this queue set"));
    assert_non_null(strstr(out, "xQueueRemoveFromSet: no queue or semaphore"));
    assert_non_null(strstr(out, "xQueueRemoveFromSet((nil)): no queue set"));
    assert_non_null(strstr(out, "not empty (the set holds its handle)"));
    assert_non_null(strstr(out, "a member of a queue set that holds its handle: refused"));
    assert_non_null(strstr(out, "a queue set that has members: refused"));
    assert_non_null(strstr(out, "xQueueSelectFromSet((nil)): no queue set"));
    assert_non_null(strstr(out, "xQueueSelectFromSetFromISR((nil)): no queue set"));
    assert_non_null(strstr(out, "xQueueSelectFromSet: a wait of 1 ticks in an ISR"));
    assert_non_null(strstr(out, "xQueueSelectFromSet: a wait of 1 ticks inside a critical"));

    /* nothing changed: the set still has its three members and a's handle */
    assert_int_equal(uxQueueMessagesWaiting(plain), 1);
    assert_ptr_equal(xQueueSelectFromSet(t.set, 0), t.a);
    uint32_t got = 0;
    assert_int_equal(xQueueReceive(t.a, &got, 0), pdPASS);
    ASSERT_REFUSED(1, assert_int_equal(xQueueAddToSet(plain, other), pdFAIL)); /* still not empty */
    assert_int_equal(xQueueReceive(plain, &got, 0), pdPASS);
    assert_int_equal(xQueueAddToSet(plain, other), pdPASS);
    assert_int_equal(xQueueRemoveFromSet(plain, other), pdPASS);
    vQueueDelete(plain);
    vQueueDelete(other);
    delete_three(&t);
}

static void a_send_to_a_member_of_a_full_set_is_refused_and_logged(void **state)
{
    (void)state;
    /* a set too short for its members (the chip asserts in prvNotifyQueueSetContainer) */
    QueueHandle_t q = xQueueCreate(2, sizeof(uint32_t));
    SemaphoreHandle_t sem = xSemaphoreCreateCounting(2, 0);
    SemaphoreHandle_t recursive = xSemaphoreCreateRecursiveMutex();
    QueueSetHandle_t set = xQueueCreateSet(1);
    assert_int_equal(xSemaphoreTakeRecursive(recursive, 0), pdTRUE);
    assert_int_equal(xSemaphoreTakeRecursive(recursive, 0), pdTRUE);
    assert_int_equal(xQueueAddToSet(q, set), pdPASS);
    assert_int_equal(xQueueAddToSet(sem, set), pdPASS);
    assert_int_equal(xQueueAddToSet(recursive, set), pdPASS);
    const uint32_t item = 9;
    assert_int_equal(xQueueSend(q, &item, 0), pdPASS); /* the set is full now */
    assert_int_equal(xSemaphoreGiveRecursive(recursive), pdTRUE); /* held still: no handle */
    log_capture_begin();
    ASSERT_REFUSED(1, assert_int_equal(xQueueSend(q, &item, 0), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xSemaphoreGive(sem), pdFALSE));
    ASSERT_REFUSED(1, assert_int_equal(xSemaphoreGiveRecursive(recursive), pdFALSE));
    kraken_sim_isr_enter();
    ASSERT_REFUSED(1, assert_int_equal(xQueueSendFromISR(q, &item, NULL), pdFAIL));
    ASSERT_REFUSED(1, assert_int_equal(xSemaphoreGiveFromISR(sem, NULL), pdFALSE));
    kraken_sim_isr_exit();
    const char *out = log_capture_end();
    assert_non_null(strstr(out, "xQueueGenericSend("));
    assert_non_null(strstr(out, "xQueueGenericSendFromISR("));
    assert_non_null(strstr(out, "xQueueGiveMutexRecursive("));
    assert_non_null(strstr(out, "is full: refused"));
    /* nothing went in */
    assert_int_equal(uxQueueMessagesWaiting(q), 1);
    assert_int_equal(uxSemaphoreGetCount(sem), 0);
    assert_ptr_equal(xSemaphoreGetMutexHolder(recursive), xTaskGetCurrentTaskHandle());
    assert_ptr_equal(xQueueSelectFromSet(set, 0), q);
    uint32_t got = 0;
    assert_int_equal(xQueueReceive(q, &got, 0), pdPASS);
    assert_int_equal(xSemaphoreGiveRecursive(recursive), pdTRUE); /* room again */
    assert_ptr_equal(xQueueSelectFromSet(set, 0), recursive);
    assert_int_equal(xSemaphoreTakeRecursive(recursive, 0), pdTRUE);
    empty_set_and_delete(set, (QueueSetMemberHandle_t[]){q, sem, recursive}, 3);
    vQueueDelete(q);
    vSemaphoreDelete(sem);
    vSemaphoreDelete(recursive);
}

static void an_empty_member_deleted_leaves_its_set(void **state)
{
    (void)state;
    const size_t before = heap_caps_get_free_size(INTERNAL);
    QueueHandle_t q = xQueueCreate(1, sizeof(uint32_t));
    QueueSetHandle_t set = xQueueCreateSet(1);
    assert_int_equal(xQueueAddToSet(q, set), pdPASS);
    log_capture_begin();
    vQueueDelete(q);
    vQueueDelete(set); /* no member left */
    assert_int_equal(strlen(log_capture_end()), 0);
    assert_int_equal(heap_caps_get_free_size(INTERNAL), before);
}

/* FreeRTOS's vQueueDelete leaves a member's handle in its set, which xQueueSelectFromSet gives
 * later; a member read without a select is empty with its handle still there. Deleting it, or
 * taking it out of the set (FreeRTOS lets an empty member go), is refused until a select took its
 * handle. */
static void a_member_whose_handle_its_set_holds_is_not_deleted_nor_removed(void **state)
{
    (void)state;
    QueueHandle_t q = xQueueCreate(1, sizeof(uint32_t));
    QueueSetHandle_t set = xQueueCreateSet(1);
    assert_true(q != NULL && set != NULL);
    assert_int_equal(xQueueAddToSet(q, set), pdPASS);
    uint32_t v = 5;
    assert_int_equal(xQueueSend(q, &v, 0), pdPASS);
    ASSERT_REFUSED(1, vQueueDelete(q)); /* an item, and its handle in the set */
    assert_int_equal(xQueueReceive(q, &v, 0), pdPASS); /* read without a select */
    log_capture_begin();
    ASSERT_REFUSED(1, vQueueDelete(q));
    ASSERT_REFUSED(1, assert_int_equal(xQueueRemoveFromSet(q, set), pdFAIL));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "a member of a queue set that holds its handle: refused"));
    assert_non_null(strstr(logged, "the set holds its handle (read without a select"));
    assert_ptr_equal(xQueueSelectFromSet(set, 0), q); /* the handle it held: still a queue */
    ASSERT_NOT_REFUSED(vQueueDelete(q)); /* its handle gone from the set: it leaves the set */
    ASSERT_NOT_REFUSED(vQueueDelete(set));
}

static void a_task_deleted_while_it_selects_leaves_the_set_usable(void **state)
{
    (void)state;
    const size_t before = heap_caps_get_free_size(INTERNAL);
    selecting_t x;
    select_from_three(&x);
    vTaskDelete(x.task);
    wait_for_tasks(x.tasks);
    assert_false(atomic_load(&x.s.done)); /* it never returned from its select */
    three_t t = x.t;
    const uint32_t item = 3;
    assert_int_equal(xQueueSend(t.b, &item, 0), pdPASS);
    assert_ptr_equal(xQueueSelectFromSet(t.set, 0), t.b); /* the handle was not lost to it */
    uint32_t got = 0;
    assert_int_equal(xQueueReceive(t.b, &got, 0), pdPASS);
    log_capture_begin();
    delete_three(&t); /* its wait was undone: the set is deleted */
    assert_int_equal(strlen(log_capture_end()), 0);
    assert_int_equal(heap_caps_get_free_size(INTERNAL), before);
}

/* ---- many producers, one selector ---------------------------------------------------------- */

#define PRODUCERS 4
#define PER_PRODUCER 2000
#define MEMBER_LENGTH 4

typedef struct {
    SemaphoreHandle_t sem; /* given after every 4th item, by each producer */
    atomic_int finished;
} stress_t;

typedef struct {
    stress_t *shared;
    QueueHandle_t q;
} producer_t;

static void producer_task(void *arg)
{
    producer_t *p = arg;
    for (uint32_t i = 0; i < PER_PRODUCER; i++) {
        (void)xQueueSend(p->q, &i, portMAX_DELAY);
        /* a give at the semaphore's maximum fails (a give never waits): again a tick later */
        while (i % 4 == 0 && xSemaphoreGive(p->shared->sem) != pdTRUE) {
            vTaskDelay(1);
        }
    }
    atomic_fetch_add(&p->shared->finished, 1);
    vTaskDelete(NULL);
}

static void many_producers_and_one_selector_lose_and_duplicate_nothing(void **state)
{
    (void)state;
    const size_t before = heap_caps_get_free_size(INTERNAL);
    const UBaseType_t tasks = tasks_now();
    stress_t shared = {.sem = xSemaphoreCreateCounting(PRODUCERS * MEMBER_LENGTH, 0)};
    QueueSetHandle_t set = xQueueCreateSet(PRODUCERS * MEMBER_LENGTH * 2);
    producer_t producers[PRODUCERS];
    assert_true(shared.sem != NULL && set != NULL);
    assert_int_equal(xQueueAddToSet(shared.sem, set), pdPASS);
    for (int i = 0; i < PRODUCERS; i++) {
        producers[i] = (producer_t){.shared = &shared,
                                    .q = xQueueCreate(MEMBER_LENGTH, sizeof(uint32_t))};
        assert_non_null(producers[i].q);
        assert_int_equal(xQueueAddToSet(producers[i].q, set), pdPASS);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        assert_int_equal(xTaskCreate(producer_task, "producer", 4096, &producers[i], 5, NULL),
                         pdPASS);
    }
    uint32_t next[PRODUCERS] = {0}, gives = 0, misses = 0, strays = 0;
    const uint32_t expected_gives = PRODUCERS * ((PER_PRODUCER + 3) / 4);
    uint32_t received = 0;
    while (received < PRODUCERS * PER_PRODUCER || gives < expected_gives) {
        QueueSetMemberHandle_t m = xQueueSelectFromSet(set, PATIENCE_TICKS);
        assert_non_null(m);
        if (m == shared.sem) {
            misses += xSemaphoreTake(shared.sem, 0) != pdTRUE;
            gives++;
            continue;
        }
        int from = -1;
        for (int i = 0; i < PRODUCERS; i++) {
            from = producers[i].q == m ? i : from;
        }
        uint32_t item = UINT32_MAX;
        if (from < 0 || xQueueReceive(m, &item, 0) != pdPASS) {
            strays++;
            continue;
        }
        strays += item != next[from]; /* each producer's items in its order */
        next[from] = item + 1;
        received++;
    }
    assert_int_equal(misses, 0);
    assert_int_equal(strays, 0);
    assert_int_equal(gives, expected_gives);
    for (int i = 0; i < PRODUCERS; i++) {
        assert_int_equal(next[i], PER_PRODUCER);
    }
    assert_null(xQueueSelectFromSet(set, 0)); /* no handle left over */
    WAIT_FOR(atomic_load(&shared.finished) == PRODUCERS);
    wait_for_tasks(tasks);
    for (int i = 0; i < PRODUCERS; i++) {
        assert_int_equal(xQueueRemoveFromSet(producers[i].q, set), pdPASS);
        vQueueDelete(producers[i].q);
    }
    assert_int_equal(xQueueRemoveFromSet(shared.sem, set), pdPASS);
    vSemaphoreDelete(shared.sem);
    vQueueDelete(set);
    assert_int_equal(heap_caps_get_free_size(INTERNAL), before);
}

/* ---- the queue registry --------------------------------------------------------------------- */

static void the_registry_names_up_to_its_size_and_forgets_deleted_queues(void **state)
{
    (void)state;
    enum { SIZE = CONFIG_FREERTOS_QUEUE_REGISTRY_SIZE };
    QueueHandle_t q[SIZE + 1];
    for (int i = 0; i <= SIZE; i++) {
        q[i] = xQueueCreate(1, 1);
        assert_non_null(q[i]);
    }
    const size_t before = heap_caps_get_free_size(INTERNAL);
    static const char *const names[] = {"q0", "q1", "q2", "q3", "q4", "q5", "q6",
                                        "q7", "q8", "q9", "q10", "q11", "q12", "q13",
                                        "q14", "q15", "q16", "q17", "q18", "q19", "q20"};
    for (int i = 0; i <= SIZE; i++) {
        vQueueAddToRegistry(q[i], names[i]);
    }
    assert_int_equal(heap_caps_get_free_size(INTERNAL), before); /* a static array */
    for (int i = 0; i < SIZE; i++) {
        assert_string_equal(pcQueueGetName(q[i]), names[i]);
    }
    assert_null(pcQueueGetName(q[SIZE])); /* full: not registered */
    if (SIZE == 0) {
        for (int i = 0; i <= SIZE; i++) {
            vQueueDelete(q[i]);
        }
        skip(); /* CONFIG_FREERTOS_QUEUE_REGISTRY_SIZE is 0: nothing is ever registered */
    }
    vQueueAddToRegistry(q[0], "renamed"); /* registered again: the new name, the same place */
    assert_string_equal(pcQueueGetName(q[0]), "renamed");
    vQueueAddToRegistry(q[0], NULL); /* changes nothing, as FreeRTOS */
    assert_string_equal(pcQueueGetName(q[0]), "renamed");
    vQueueUnregisterQueue(q[0]);
    assert_null(pcQueueGetName(q[0]));
    vQueueAddToRegistry(q[SIZE], names[SIZE]); /* into the place q[0] left */
    assert_string_equal(pcQueueGetName(q[SIZE]), names[SIZE]);
    vQueueDelete(q[SIZE]); /* a deleted queue leaves the registry */
    vQueueAddToRegistry(q[0], names[0]);
    assert_string_equal(pcQueueGetName(q[0]), names[0]);
    for (int i = 1; i < SIZE; i++) {
        assert_string_equal(pcQueueGetName(q[i]), names[i]); /* the others kept theirs */
    }
    log_capture_begin();
    ASSERT_REFUSED(1, vQueueAddToRegistry(NULL, "none"));
    ASSERT_REFUSED(1, vQueueUnregisterQueue(NULL));
    ASSERT_REFUSED(1, assert_null(pcQueueGetName(NULL)));
    const char *out = log_capture_end();
    assert_non_null(strstr(out, "vQueueAddToRegistry: no queue: refused"));
    assert_non_null(strstr(out, "vQueueUnregisterQueue: no queue: refused"));
    assert_non_null(strstr(out, "pcQueueGetName: no queue: refused"));
    for (int i = 0; i < SIZE; i++) {
        vQueueDelete(q[i]);
        assert_null(pcQueueGetName(q[i]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(a_set_is_one_internal_block_of_a_queue_of_4_byte_handles, refusals_reset),
        cmocka_unit_test_teardown(select_gives_the_members_in_the_order_their_data_came, refusals_reset),
        cmocka_unit_test_teardown(counting_semaphores_and_held_mutexes_are_members_too, refusals_reset),
        cmocka_unit_test_teardown(an_overwrite_that_replaces_an_item_puts_no_second_handle, refusals_reset),
        cmocka_unit_test_teardown(a_waiting_select_wakes_on_the_member_that_got_data, refusals_reset),
        cmocka_unit_test_teardown(a_give_from_an_isr_wakes_the_selecting_task_and_says_so, refusals_reset),
        cmocka_unit_test_teardown(a_select_times_out_with_null_after_its_ticks, refusals_reset),
        cmocka_unit_test_teardown(select_from_an_isr_never_waits, refusals_reset),
        cmocka_unit_test_teardown(a_member_s_data_does_not_wake_a_task_waiting_on_the_member,
                                  refusals_reset),
        cmocka_unit_test_teardown(misuse_is_refused_and_logged, refusals_reset),
        cmocka_unit_test_teardown(a_send_to_a_member_of_a_full_set_is_refused_and_logged, refusals_reset),
        cmocka_unit_test_teardown(an_empty_member_deleted_leaves_its_set, refusals_reset),
        cmocka_unit_test_teardown(a_member_whose_handle_its_set_holds_is_not_deleted_nor_removed,
                                  refusals_reset),
        cmocka_unit_test_teardown(a_task_deleted_while_it_selects_leaves_the_set_usable, refusals_reset),
        cmocka_unit_test_teardown(many_producers_and_one_selector_lose_and_duplicate_nothing,
                                  refusals_reset),
        cmocka_unit_test_teardown(the_registry_names_up_to_its_size_and_forgets_deleted_queues,
                                  refusals_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
