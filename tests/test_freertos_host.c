/* test_freertos_host.c - ESP-IDF's FreeRTOS API on host threads (port/host/include/freertos/):
 * every kernel object the chip would allocate is a block of the simulated heap of the chip's size
 * (task: stack then the TCB; queue: its record + n * size; semaphore: a record; WithCaps: the caps'
 * memory), and queues, semaphores, mutexes, notifications, delays, critical sections and the
 * FromISR calls of simulated ISRs behave as ESP-IDF's.
 *
 * Tasks are host threads: nothing is asserted inside them (cmocka's asserts belong to the test's
 * thread); they report through atomics, and every wait has a generous bound. The exact sizes of
 * the blocks come from ESP-IDF's heap tracing (esp_heap_trace.h), the free sizes allow for TLSF's
 * block headers. Each test deletes what it made: the teardown checks that every task's thread has
 * ended and that the heaps are back where the boot left them. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "esp_attr.h"
#include "esp_heap_caps.h"
#include "esp_heap_trace.h"
#include "esp_log.h"
#include "esp_memory_utils.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/idf_additions.h"
#include "freertos/queue.h"
#include "freertos/event_groups.h"
#include "freertos/semphr.h"
#include "freertos/stream_buffer.h"
#include "freertos/task.h"
#include "freertos/timers.h"
#include "kraken_sim.h"
#include "freertos_host.h" /* fr_deadline(): the host's wait deadlines */
#include "sim_internal.h"

#include "capture_output.h" /* after esp_log.h: its log capture */
#include "freertos_chip_sizes.h"
#include "freertos_refusals.h"
#include "test_support.h"

#define INTERNAL_8BIT (MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)
#define TCB_BYTES CHIP_TCB_BYTES
#define QUEUE_BYTES CHIP_QUEUE_BYTES
#define HEADERS(n) (16u * (n)) /* TLSF's header (and rounding) of n blocks, at most */
#define STACK 4096u            /* a class size of TLSF: no rounding whatever the release */
#define PATIENCE_MS 10000      /* what must happen "soon" (TSan, a loaded CI machine) */

/* A wait of about 30 ms, and its length as the implementation computes it. */
#define SHORT_WAIT ((TickType_t)(pdMS_TO_TICKS(30) > 0 ? pdMS_TO_TICKS(30) : 1))
#define TICKS_US(t) ((int64_t)(t) * 1000000 / configTICK_RATE_HZ)
/* A wait of t ticks ends at the t-th tick interrupt, the first of which may come at once: it
 * lasts more than t - 1 tick periods (less a millisecond for the two clocks' reads). */
#define WAIT_MIN_US(t) (TICKS_US((t) - 1) - 1000)
/* A wait that must not run out. */
#define LONG_WAIT ((TickType_t)(pdMS_TO_TICKS(PATIENCE_MS) > 0 ? pdMS_TO_TICKS(PATIENCE_MS) : 1))

/* ---- helpers --------------------------------------------------------------------------------- */

static int64_t now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void sleep_ms(unsigned ms)
{
    const struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Polls cond every millisecond until it holds, for PATIENCE_MS at most; assert it afterwards. */
#define WAIT_FOR(cond)                                                                             \
    do {                                                                                           \
        for (int waited_ = 0; !(cond) && waited_ < PATIENCE_MS; waited_++) {                       \
            sleep_ms(1);                                                                           \
        }                                                                                          \
    } while (0)

static size_t internal_free(void)
{
    return heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
}

static size_t psram_free(void)
{
    return heap_caps_get_free_size(MALLOC_CAP_SPIRAM);
}

static kraken_sim_stats_t stats(void)
{
    kraken_sim_stats_t s;
    kraken_sim_get_stats(&s);
    return s;
}

/* True once exactly n tasks are alive (a deleted task counts until its stack and TCB are back). */
static bool tasks_become(UBaseType_t n)
{
    WAIT_FOR(uxTaskGetNumberOfTasks() == n);
    return uxTaskGetNumberOfTasks() == n;
}

/* True once the task waits in a call (a queue, a notification, a delay...). */
static bool becomes_blocked(TaskHandle_t task)
{
    WAIT_FOR(eTaskGetState(task) == eBlocked);
    return eTaskGetState(task) == eBlocked;
}

static heap_trace_record_t trace_record(size_t index)
{
    heap_trace_record_t r;
    assert_int_equal(heap_trace_get(index, &r), ESP_OK);
    return r;
}

/* ---- fixture --------------------------------------------------------------------------------- */

static heap_trace_record_t trace_buffer[32];
static size_t internal_at_setup, psram_at_setup;
static UBaseType_t tasks_at_setup;

/* The build's configuration on `profile`, PSRAM support on or off whatever the build says, heap
 * tracing and allocation hooks available. The test's thread is a task from the start (counted
 * once). */
static int boot(kraken_sim_profile_t profile, bool spiram)
{
    sim_policy_t policy;
    sim_policy_from_sdkconfig(&policy);
    policy.spiram = spiram;
    policy.octal = profile == KRAKEN_SIM_ESP32S3_N8R8;
    policy.memmap = false;
    policy.noinit_external = policy.noinit_external && spiram;
    policy.bss_external = policy.bss_external && spiram;
    policy.heap_tracing = true;
    policy.heap_hooks = true;
    if (sim_init_with_policy(profile, &policy) != ESP_OK ||
        heap_trace_init_standalone(trace_buffer, sizeof trace_buffer / sizeof trace_buffer[0]) !=
            ESP_OK) {
        return -1;
    }
    (void)xTaskGetCurrentTaskHandle();
    internal_at_setup = internal_free();
    psram_at_setup = psram_free();
    tasks_at_setup = uxTaskGetNumberOfTasks();
    return 0;
}

static int boot_n8r8(void **state)
{
    (void)state;
    return boot(KRAKEN_SIM_ESP32S3_N8R8, true);
}

static int boot_n8_without_psram(void **state)
{
    (void)state;
    return boot(KRAKEN_SIM_ESP32S3_N8, false);
}

/* Every task's thread ended and every kernel object was deleted: the heaps are as booted. */
static int check_and_reset(void **state)
{
    (void)state;
    kraken_sim_fault_clear();
    (void)heap_trace_stop();
    esp_log_set_vprintf(NULL);
    const bool tasks_gone = tasks_become(tasks_at_setup);
    const size_t internal = internal_free(), psram = psram_free();
    const kraken_sim_stats_t s = stats();
    int rc = unasserted_refusals() != 0 ? -1 : 0;
    if (!tasks_gone || internal != internal_at_setup || psram != psram_at_setup ||
        s.invalid_frees != 0) {
        print_error("teardown: %u tasks alive (%u at setup), internal free %zu (%zu), PSRAM free "
                    "%zu (%zu), %llu invalid frees\n",
                    (unsigned)uxTaskGetNumberOfTasks(), (unsigned)tasks_at_setup, internal,
                    internal_at_setup, psram, psram_at_setup, (unsigned long long)s.invalid_frees);
        rc = -1;
    }
    kraken_sim_reset();
    return rc;
}

/* ---- task bodies ----------------------------------------------------------------------------- */

/* Says it runs, then waits for notifications until deleted. */
static void park(void *started)
{
    if (started != NULL) {
        atomic_store((atomic_int *)started, 1);
    }
    for (;;) {
        (void)ulTaskNotifyTake(pdTRUE, portMAX_DELAY);
    }
}

static void say_so_and_delete_myself(void *ran)
{
    atomic_store((atomic_int *)ran, 1);
    vTaskDelete(NULL);
}

/* Waits for a notification, then vTaskDeleteWithCaps(NULL). */
static void wait_then_delete_myself_with_caps(void *ran)
{
    (void)ulTaskNotifyTake(pdTRUE, portMAX_DELAY);
    atomic_store((atomic_int *)ran, 1);
    vTaskDeleteWithCaps(NULL);
}

static void say_so_and_return(void *ran)
{
    atomic_store((atomic_int *)ran, 1);
}

/* ---- memory: tasks --------------------------------------------------------------------------- */

/* The sizes follow the build's FreeRTOS options as on the chip (trace facility, run-time counter,
 * name length, thread-local pointers, notification array); a 32-bit host's static buffers have
 * the chip's sizes exactly. */
static void kernel_objects_have_the_chips_sizes_for_the_options(void **state)
{
    (void)state;
    if (!CHIP_SIZES_MEASURED) {
        print_message("the chip's sizes were not measured for this configuration: not checked\n");
        skip();
    }
    assert_int_equal(KRAKEN_SIM_TCB_BYTES, CHIP_TCB_BYTES);
    assert_int_equal(KRAKEN_SIM_QUEUE_BYTES, CHIP_QUEUE_BYTES);
    assert_int_equal(KRAKEN_SIM_EVENT_GROUP_BYTES, CHIP_EVENT_GROUP_BYTES);
    assert_int_equal(KRAKEN_SIM_TIMER_BYTES, CHIP_TIMER_BYTES);
    assert_int_equal(KRAKEN_SIM_STREAM_BUFFER_BYTES, CHIP_STREAM_BUFFER_BYTES);
    if (sizeof(void *) == 4) {
        assert_int_equal(sizeof(StaticTask_t), CHIP_TCB_BYTES);
        assert_int_equal(sizeof(StaticQueue_t), CHIP_QUEUE_BYTES);
        assert_int_equal(sizeof(StaticEventGroup_t), CHIP_EVENT_GROUP_BYTES);
        assert_int_equal(sizeof(StaticTimer_t), CHIP_TIMER_BYTES);
        assert_int_equal(sizeof(StaticStreamBuffer_t), CHIP_STREAM_BUFFER_BYTES);
    }
}

static void a_task_takes_its_stack_then_its_tcb_from_the_internal_heap_until_deleted(
    void **state)
{
    (void)state;
    const size_t before = internal_free();
    const kraken_sim_stats_t s0 = stats();
    atomic_int started = 0;
    TaskHandle_t task = NULL;
    assert_int_equal(heap_trace_start(HEAP_TRACE_ALL), ESP_OK);
    assert_int_equal(xTaskCreate(park, "parked", STACK, &started, 5, &task), pdPASS);
    assert_int_equal(heap_trace_stop(), ESP_OK);
    assert_non_null(task);

    assert_int_equal(stats().allocations - s0.allocations, 2);
    assert_int_equal(heap_trace_get_count(), 2);
    const heap_trace_record_t stack = trace_record(0), tcb = trace_record(1);
    assert_int_equal(stack.size, STACK); /* the stack first, as ESP-IDF (it grows down) */
    assert_true(esp_ptr_internal(stack.address));
    assert_int_equal(tcb.size, TCB_BYTES);
    assert_true(esp_ptr_internal(tcb.address));
    assert_in_range(before - internal_free(), STACK + TCB_BYTES, STACK + TCB_BYTES + HEADERS(2));
    assert_int_equal(xPortGetFreeHeapSize(), heap_caps_get_free_size(INTERNAL_8BIT));

    WAIT_FOR(atomic_load(&started));
    assert_true(atomic_load(&started));
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks_at_setup + 1);

    vTaskDelete(task);
    assert_int_equal(internal_free(), before); /* at once */
    assert_int_equal(stats().frees - s0.frees, 2);
    assert_true(tasks_become(tasks_at_setup));
}

static void a_task_that_deletes_itself_gives_its_stack_and_tcb_back(void **state)
{
    (void)state;
    const size_t before = internal_free();
    atomic_int ran = 0;
    assert_int_equal(xTaskCreate(say_so_and_delete_myself, "short", 2 * STACK, &ran, 5, NULL),
                     pdPASS);
    assert_true(tasks_become(tasks_at_setup)); /* its thread ended */
    assert_true(atomic_load(&ran));
    assert_int_equal(internal_free(), before);
}

/* CONFIG_HEAP_USE_HOOKS (on in every boot here): the heap's calls in order while `recording`, and
 * frees that take their time while `slow_frees` is set. */
typedef struct {
    char kind; /* 'a'llocation or 'f'ree */
    size_t size;
    void *ptr;
} heap_event_t;
static heap_event_t events[16];
static atomic_int event_count;
static atomic_bool recording, slow_frees;

static void record_event(char kind, size_t size, void *ptr)
{
    if (atomic_load(&recording)) {
        const int i = atomic_fetch_add(&event_count, 1);
        if (i < 16) {
            events[i] = (heap_event_t){.kind = kind, .size = size, .ptr = ptr};
        }
    }
}

void esp_heap_trace_alloc_hook(void *ptr, size_t size, uint32_t caps);
void esp_heap_trace_free_hook(void *ptr);

void esp_heap_trace_alloc_hook(void *ptr, size_t size, uint32_t caps)
{
    (void)caps;
    record_event('a', size, ptr);
}

static SemaphoreHandle_t hook_mutex; /* taken and given by each free while set */

void esp_heap_trace_free_hook(void *ptr)
{
    record_event('f', 0, ptr);
    if (atomic_load(&slow_frees)) {
        sleep_ms(50);
    }
    SemaphoreHandle_t m = __atomic_load_n(&hook_mutex, __ATOMIC_ACQUIRE);
    if (m != NULL) { /* a hook that calls FreeRTOS, as a firmware's may */
        (void)xSemaphoreTake(m, portMAX_DELAY);
        (void)xSemaphoreGive(m);
    }
}

/* A task deleting itself ends once its memory is back, not in a hook's call into FreeRTOS. */
static void a_task_deleting_itself_frees_all_even_when_the_free_hook_calls_freertos(void **state)
{
    (void)state;
    SemaphoreHandle_t m = xSemaphoreCreateMutex();
    assert_non_null(m);
    const size_t with_mutex = internal_free();
    __atomic_store_n(&hook_mutex, m, __ATOMIC_RELEASE);
    atomic_int ran = 0;
    assert_int_equal(xTaskCreate(say_so_and_delete_myself, "hooked", 2 * STACK, &ran, 5, NULL),
                     pdPASS);
    assert_true(tasks_become(tasks_at_setup));
    __atomic_store_n(&hook_mutex, NULL, __ATOMIC_RELEASE);
    assert_true(atomic_load(&ran));
    assert_int_equal(internal_free(), with_mutex);
    vSemaphoreDelete(m);
}

/* A log sink that waits on a FreeRTOS mutex the test holds. */
static SemaphoreHandle_t sink_gate;
static atomic_int sink_entered;

static int gated_sink(const char *format, va_list args)
{
    (void)format;
    (void)args;
    atomic_store(&sink_entered, 1);
    (void)xSemaphoreTake(sink_gate, portMAX_DELAY);
    (void)xSemaphoreGive(sink_gate);
    return 0;
}

static void log_a_line(void *unused)
{
    (void)unused;
    ESP_LOG_LEVEL(ESP_LOG_INFO, "gated", "a line"); /* not compiled out whatever the Kconfig */
    park(NULL);
}

/* A task deleted while it waits inside a log sink ends there; the log stays usable. */
static void a_task_deleted_inside_a_log_sink_leaves_the_log_usable(void **state)
{
    (void)state;
    sink_gate = xSemaphoreCreateMutex();
    assert_non_null(sink_gate);
    assert_int_equal(xSemaphoreTake(sink_gate, 0), pdTRUE);
    atomic_store(&sink_entered, 0);
    esp_log_level_set("gated", ESP_LOG_INFO); /* whatever CONFIG_LOG_DEFAULT_LEVEL is */
    esp_log_set_vprintf(gated_sink);
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(log_a_line, "logger", STACK, NULL, 5, &task), pdPASS);
    WAIT_FOR(atomic_load(&sink_entered) && eTaskGetState(task) == eBlocked);
    assert_int_equal(eTaskGetState(task), eBlocked);
    vTaskDelete(task);
    assert_true(tasks_become(tasks_at_setup));
    log_capture_begin(); /* would wait for ever for the log's lock */
    ESP_LOG_LEVEL(ESP_LOG_INFO, "gated", "still usable");
    assert_non_null(strstr(log_capture_end(), "still usable"));
    assert_int_equal(xSemaphoreGive(sink_gate), pdTRUE);
    vSemaphoreDelete(sink_gate);
}

/* Watchers that wait for the count (as the idle task's clean-up) may count on the memory. */
static void a_self_deleted_task_counts_until_its_stack_and_tcb_are_back(void **state)
{
    (void)state;
    atomic_int ran = 0;
    atomic_store(&slow_frees, true); /* each of its two frees takes 50 ms */
    assert_int_equal(xTaskCreate(say_so_and_delete_myself, "short", 2 * STACK, &ran, 5, NULL),
                     pdPASS);
    assert_true(tasks_become(tasks_at_setup));
    const size_t seen = internal_free();
    atomic_store(&slow_frees, false);
    assert_true(atomic_load(&ran));
    assert_int_equal(seen, internal_at_setup);
}

static void a_task_whose_stack_or_tcb_does_not_fit_fails_with_nothing_allocated(void **state)
{
    (void)state;
    const size_t before = internal_free();
    const size_t largest = heap_caps_get_largest_free_block(INTERNAL_8BIT);
    kraken_sim_stats_t s0 = stats();
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(park, "huge", (uint32_t)largest + 1, NULL, 5, &task),
                     errCOULD_NOT_ALLOCATE_REQUIRED_MEMORY);
    assert_int_equal(internal_free(), before);
    assert_int_equal(stats().allocations, s0.allocations);
    assert_int_equal(stats().failed, s0.failed + 1);
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks_at_setup);

    /* The stack fits, the TCB does not: the stack goes back. */
    s0 = stats();
    kraken_sim_fail_every(MALLOC_CAP_INTERNAL, 2);
    const BaseType_t rc = xTaskCreate(park, "no tcb", STACK, NULL, 5, &task);
    kraken_sim_fault_clear();
    assert_int_equal(rc, errCOULD_NOT_ALLOCATE_REQUIRED_MEMORY);
    assert_int_equal(stats().injected, s0.injected + 1);
    assert_int_equal(stats().allocations, s0.allocations + 1);
    assert_int_equal(stats().frees, s0.frees + 1);
    assert_int_equal(internal_free(), before);
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks_at_setup);
}

/* Tests that give a task a PSRAM stack: skipped where the chip refuses one. */
static void need_psram_stacks(void)
{
    if (!KRAKEN_SIM_TASK_STACK_IN_PSRAM) {
        print_message("CONFIG_FREERTOS_TASK_CREATE_ALLOW_EXT_MEM is off (no PSRAM stacks): not "
                      "checked\n");
        skip();
    }
}

static void a_withcaps_task_has_its_stack_in_psram_and_its_tcb_in_internal_ram(void **state)
{
    (void)state;
    need_psram_stacks();
    const size_t internal = internal_free(), psram = psram_free();
    atomic_int started = 0;
    TaskHandle_t task = NULL;
    assert_int_equal(heap_trace_start(HEAP_TRACE_ALL), ESP_OK);
    assert_int_equal(xTaskCreatePinnedToCoreWithCaps(park, "psram stack", STACK, &started, 5,
                                                     &task, 1, MALLOC_CAP_SPIRAM),
                     pdPASS);
    assert_int_equal(heap_trace_stop(), ESP_OK);
    assert_int_equal(heap_trace_get_count(), 2);
    const heap_trace_record_t tcb = trace_record(0), stack = trace_record(1); /* idf_additions.c */
    assert_int_equal(tcb.size, TCB_BYTES);
    assert_true(esp_ptr_internal(tcb.address));
    assert_int_equal(stack.size, STACK);
    assert_true(esp_ptr_external_ram(stack.address));
    assert_in_range(psram - psram_free(), STACK, STACK + HEADERS(1));
    assert_in_range(internal - internal_free(), TCB_BYTES, TCB_BYTES + HEADERS(1));
    assert_int_equal(xTaskGetCoreID(task), 1);
    WAIT_FOR(atomic_load(&started));
    assert_true(atomic_load(&started));

    vTaskDeleteWithCaps(task);
    assert_int_equal(psram_free(), psram); /* both at once */
    assert_int_equal(internal_free(), internal);
    assert_true(tasks_become(tasks_at_setup));
}

/* idf_additions.c: vTaskDeleteWithCaps(NULL) creates a clean-up task that frees the caller's
 * stack and TCB: for a moment internal RAM holds its stack (configMINIMAL_STACK_SIZE) and TCB. */
static void a_withcaps_task_deleting_itself_needs_a_clean_up_task_for_a_moment(void **state)
{
    (void)state;
    need_psram_stacks();
    const size_t internal = internal_free(), psram = psram_free();
    atomic_int ran = 0;
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreateWithCaps(wait_then_delete_myself_with_caps, "self", STACK, &ran, 5,
                                         &task, MALLOC_CAP_SPIRAM),
                     pdPASS);
    atomic_store(&event_count, 0);
    atomic_store(&recording, true);
    xTaskNotifyGive(task);
    assert_true(tasks_become(tasks_at_setup));
    atomic_store(&recording, false);
    assert_true(atomic_load(&ran));

    /* The clean-up task's stack and TCB, then the task's two blocks freed, then the helper's. */
    assert_int_equal(atomic_load(&event_count), 6);
    const char *expected = "aaffff";
    for (int i = 0; i < 6; i++) {
        assert_int_equal(events[i].kind, expected[i]);
    }
    assert_int_equal(events[0].size, configMINIMAL_STACK_SIZE);
    assert_int_equal(events[1].size, TCB_BYTES);
    assert_true(esp_ptr_internal(events[0].ptr) && esp_ptr_internal(events[1].ptr));
    assert_true(esp_ptr_external_ram(events[2].ptr)); /* the task's PSRAM stack */
    assert_true(esp_ptr_internal(events[3].ptr));     /* its TCB */
    assert_ptr_equal(events[4].ptr, events[0].ptr);
    assert_ptr_equal(events[5].ptr, events[1].ptr);
    assert_int_equal(internal_free(), internal);
    assert_int_equal(psram_free(), psram);
}

/* Without room for the clean-up task (its stack, or its TCB after the stack) the chip aborts; the
 * host says so and frees anyway, each block once. */
static void a_withcaps_task_deleting_itself_without_room_for_the_clean_up_task_is_logged(
    void **state)
{
    (void)state;
    need_psram_stacks();
    for (int tcb_fails = 0; tcb_fails <= 1; tcb_fails++) {
        const size_t internal = internal_free(), psram = psram_free();
        const uint64_t invalid_frees = stats().invalid_frees;
        atomic_int ran = 0;
        TaskHandle_t task = NULL;
        assert_int_equal(xTaskCreateWithCaps(wait_then_delete_myself_with_caps, "stuck", STACK,
                                             &ran, 5, &task, MALLOC_CAP_SPIRAM),
                         pdPASS);
        log_capture_begin();
        if (tcb_fails) {
            kraken_sim_fail_every(MALLOC_CAP_INTERNAL, 2); /* the stack is had, the TCB is not */
        } else {
            kraken_sim_fail_next(MALLOC_CAP_INTERNAL, 1);
        }
        xTaskNotifyGive(task);
        assert_true(tasks_become(tasks_at_setup));
        const char *logged = log_capture_end();
        kraken_sim_fault_clear();
        assert_true(atomic_load(&ran));
        char expected[128];
        snprintf(expected, sizeof expected,
                 "vTaskDeleteWithCaps(\"stuck\"): no memory for the clean-up task (%u + %u bytes "
                 "of internal RAM): the chip aborts",
                 (unsigned)configMINIMAL_STACK_SIZE, (unsigned)TCB_BYTES);
        assert_non_null(strstr(logged, expected));
        assert_int_equal(internal_free(), internal);
        assert_int_equal(psram_free(), psram);
        assert_int_equal(stats().invalid_frees, invalid_frees);
    }
}

static void a_withcaps_task_whose_stack_does_not_fit_fails_and_gives_its_tcb_back(void **state)
{
    (void)state;
    const size_t internal = internal_free(), psram = psram_free();
    TaskHandle_t task = NULL;
    kraken_sim_fail_next(MALLOC_CAP_SPIRAM, 1);
    const BaseType_t rc = xTaskCreateWithCaps(park, "no stack", STACK, NULL, 5, &task,
                                              MALLOC_CAP_SPIRAM);
    kraken_sim_fault_clear();
    assert_int_equal(rc, pdFAIL);
    assert_int_equal(internal_free(), internal);
    assert_int_equal(psram_free(), psram);
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks_at_setup);
}

/* On the chip vTaskDelete() of a WithCaps task frees neither block (they are the static buffers
 * of xTaskCreateStatic there): heap tracing shows the leak, and a warning says so. */
static void vtaskdelete_of_a_withcaps_task_leaks_its_blocks_and_says_so(void **state)
{
    (void)state;
    need_psram_stacks();
    const size_t internal = internal_free(), psram = psram_free();
    atomic_int started = 0;
    TaskHandle_t task = NULL;
    assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_OK);
    assert_int_equal(xTaskCreateWithCaps(park, "leaky", STACK, &started, 5, &task,
                                         MALLOC_CAP_SPIRAM),
                     pdPASS);
    WAIT_FOR(atomic_load(&started));
    const size_t taken_internal = internal - internal_free(), taken_psram = psram - psram_free();
    const bool says_so = log_lines_at(ESP_LOG_WARN); /* else: the leak only */
    log_capture_begin();
    vTaskDelete(task);
    const char *logged = log_capture_end();
    if (says_so) {
        assert_non_null(strstr(logged, "W ("));
        assert_non_null(strstr(logged, "vTaskDelete(\"leaky\")"));
        assert_non_null(strstr(logged, "stay allocated"));
    }
    assert_true(tasks_become(tasks_at_setup)); /* the task itself is gone */
    assert_int_equal(internal - internal_free(), taken_internal);
    assert_int_equal(psram - psram_free(), taken_psram);
    assert_int_equal(heap_trace_stop(), ESP_OK);

    assert_int_equal(heap_trace_get_count(), 2); /* what leaked, as heap tracing shows it */
    const heap_trace_record_t tcb = trace_record(0), stack = trace_record(1);
    assert_int_equal(tcb.size, TCB_BYTES);
    assert_int_equal(stack.size, STACK);
    assert_true(esp_ptr_external_ram(stack.address));
    heap_caps_free(tcb.address);
    heap_caps_free(stack.address);
    assert_int_equal(internal_free(), internal);
    assert_int_equal(psram_free(), psram);
}

static void vtaskdeletewithcaps_refuses_a_task_not_made_with_caps(void **state)
{
    (void)state;
    const size_t before = internal_free();
    atomic_int started = 0;
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(park, "plain", STACK, &started, 5, &task), pdPASS);
    WAIT_FOR(atomic_load(&started));
    const size_t taken = before - internal_free();
    log_capture_begin();
    ASSERT_REFUSED(1, vTaskDeleteWithCaps(task));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "vTaskDeleteWithCaps(\"plain\"): not made by xTask*WithCaps()"));
    sleep_ms(20);
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks_at_setup + 1); /* still alive */
    assert_int_equal(before - internal_free(), taken);
    vTaskDelete(task);
    assert_int_equal(internal_free(), before);
    assert_true(tasks_become(tasks_at_setup));
}

static void without_psram_a_psram_stack_or_queue_cannot_be_had(void **state)
{
    (void)state;
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_SPIRAM), 0);
    const size_t internal = internal_free();
    const kraken_sim_stats_t s0 = stats();
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreatePinnedToCoreWithCaps(park, "x", STACK, NULL, 5, &task, 0,
                                                     MALLOC_CAP_SPIRAM),
                     pdFAIL);
    assert_null(xQueueCreateWithCaps(4, 4, MALLOC_CAP_SPIRAM));
    assert_null(xSemaphoreCreateBinaryWithCaps(MALLOC_CAP_SPIRAM));
    assert_int_equal(internal_free(), internal); /* the TCB went back */
    /* The stack, the queue's record and its storage (asked for anyway), the semaphore. */
    assert_int_equal(stats().failed - s0.failed, 4);
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks_at_setup);
}

/* ---- memory: queues, semaphores, static objects ---------------------------------------------- */

static void a_queue_is_one_internal_block_of_84_bytes_plus_its_storage(void **state)
{
    (void)state;
    const size_t before = internal_free();
    assert_int_equal(heap_trace_start(HEAP_TRACE_ALL), ESP_OK);
    QueueHandle_t q = xQueueCreate(10, 4);
    QueueHandle_t no_storage = xQueueCreate(3, 0);
    assert_int_equal(heap_trace_stop(), ESP_OK);
    assert_non_null(q);
    assert_non_null(no_storage);
    assert_int_equal(heap_trace_get_count(), 2);
    assert_int_equal(trace_record(0).size, QUEUE_BYTES + 10 * 4);
    assert_true(esp_ptr_internal(trace_record(0).address));
    assert_int_equal(trace_record(1).size, QUEUE_BYTES);
    const size_t expected = 2 * QUEUE_BYTES + 10 * 4;
    assert_in_range(before - internal_free(), expected, expected + HEADERS(2));
    vQueueDelete(q);
    vQueueDelete(no_storage);
    assert_int_equal(internal_free(), before);
}

static void each_semaphore_and_mutex_is_one_84_byte_internal_block(void **state)
{
    (void)state;
    const size_t before = internal_free();
    assert_int_equal(heap_trace_start(HEAP_TRACE_ALL), ESP_OK);
    SemaphoreHandle_t s[4] = {xSemaphoreCreateBinary(), xSemaphoreCreateCounting(5, 2),
                              xSemaphoreCreateMutex(), xSemaphoreCreateRecursiveMutex()};
    assert_int_equal(heap_trace_stop(), ESP_OK);
    assert_int_equal(heap_trace_get_count(), 4);
    for (size_t i = 0; i < 4; i++) {
        assert_non_null(s[i]);
        assert_int_equal(trace_record(i).size, QUEUE_BYTES);
        assert_true(esp_ptr_internal(trace_record(i).address));
    }
    assert_in_range(before - internal_free(), 4 * QUEUE_BYTES, 4 * QUEUE_BYTES + HEADERS(4));
    for (size_t i = 0; i < 4; i++) {
        vSemaphoreDelete(s[i]);
    }
    assert_int_equal(internal_free(), before);
}

static void withcaps_queues_and_semaphores_take_their_blocks_with_the_caps(void **state)
{
    (void)state;
    const size_t internal = internal_free(), psram = psram_free();
    assert_int_equal(heap_trace_start(HEAP_TRACE_ALL), ESP_OK);
    QueueHandle_t q = xQueueCreateWithCaps(8, 16, MALLOC_CAP_SPIRAM);
    SemaphoreHandle_t binary = xSemaphoreCreateBinaryWithCaps(MALLOC_CAP_SPIRAM);
    SemaphoreHandle_t mutex = xSemaphoreCreateMutexWithCaps(MALLOC_CAP_SPIRAM);
    SemaphoreHandle_t counting = xSemaphoreCreateCountingWithCaps(4, 4, MALLOC_CAP_SPIRAM);
    assert_int_equal(heap_trace_stop(), ESP_OK);
    assert_true(q != NULL && binary != NULL && mutex != NULL && counting != NULL);
    assert_int_equal(heap_trace_get_count(), 5);
    const size_t sizes[5] = {QUEUE_BYTES, 8 * 16, QUEUE_BYTES, QUEUE_BYTES, QUEUE_BYTES};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(trace_record(i).size, sizes[i]);
        assert_true(esp_ptr_external_ram(trace_record(i).address));
    }
    assert_int_equal(internal_free(), internal);
    const size_t expected = 4 * QUEUE_BYTES + 8 * 16;
    assert_in_range(psram - psram_free(), expected, expected + HEADERS(5));

    /* They work as any other. */
    uint8_t item[16] = {1, 2, 3}, out[16] = {0};
    assert_int_equal(xQueueSend(q, item, 0), pdPASS);
    assert_int_equal(xQueueReceive(q, out, 0), pdPASS);
    assert_memory_equal(out, item, sizeof item);
    assert_int_equal(xSemaphoreTake(mutex, 0), pdTRUE);
    assert_int_equal(xSemaphoreGive(mutex), pdTRUE);
    assert_int_equal(uxSemaphoreGetCount(counting), 4);
    assert_int_equal(xSemaphoreTake(binary, 0), pdFALSE);

    vQueueDeleteWithCaps(q);
    vSemaphoreDeleteWithCaps(binary);
    vSemaphoreDeleteWithCaps(mutex);
    vSemaphoreDeleteWithCaps(counting);
    assert_int_equal(psram_free(), psram);

    /* The storage does not fit: the record goes back too. */
    kraken_sim_fail_every(MALLOC_CAP_SPIRAM, 2);
    QueueHandle_t half = xQueueCreateWithCaps(8, 16, MALLOC_CAP_SPIRAM);
    kraken_sim_fault_clear();
    assert_null(half);
    assert_int_equal(psram_free(), psram);

    /* The record does not fit: the storage is still asked for, then given back, as
     * idf_additions.c does (the heap sees two allocations, one failed). */
    const kraken_sim_stats_t s0 = stats();
    kraken_sim_fail_next(MALLOC_CAP_SPIRAM, 1);
    QueueHandle_t none = xQueueCreateWithCaps(8, 16, MALLOC_CAP_SPIRAM);
    kraken_sim_fault_clear();
    assert_null(none);
    assert_int_equal(stats().failed - s0.failed, 1);
    assert_int_equal(stats().allocations - s0.allocations, 1);
    assert_int_equal(stats().frees - s0.frees, 1);
    assert_int_equal(psram_free(), psram);
}

/* As on the chip, where a WithCaps queue's blocks are the static buffers of xQueueCreateStatic: a
 * plain vQueueDelete()/vSemaphoreDelete() frees neither (heap tracing shows the leak) and says
 * so; vQueueDeleteWithCaps() of a queue made otherwise is refused. */
static void a_plain_delete_of_a_withcaps_queue_leaks_its_blocks_and_says_so(void **state)
{
    (void)state;
    const size_t internal = internal_free(), psram = psram_free();
    assert_int_equal(heap_trace_start(HEAP_TRACE_LEAKS), ESP_OK);
    QueueHandle_t q = xQueueCreateWithCaps(8, 16, MALLOC_CAP_SPIRAM);
    SemaphoreHandle_t binary = xSemaphoreCreateBinaryWithCaps(MALLOC_CAP_SPIRAM);
    assert_true(q != NULL && binary != NULL);
    const size_t taken = psram - psram_free();
    const bool says_so = log_lines_at(ESP_LOG_WARN); /* else: the leak only */
    log_capture_begin();
    vQueueDelete(q);
    vSemaphoreDelete(binary);
    const char *logged = log_capture_end();
    assert_int_equal(heap_trace_stop(), ESP_OK);
    if (says_so) {
        assert_non_null(strstr(logged, "W ("));
        assert_non_null(strstr(logged, "vQueueDelete("));
        assert_non_null(strstr(logged, "made by a *CreateWithCaps(): its memory stays allocated"));
    }
    assert_int_equal(psram - psram_free(), taken);
    assert_int_equal(heap_trace_get_count(), 3); /* the queue's record and storage, the semaphore */
    void *leaked[3];
    for (size_t i = 0; i < 3; i++) {
        const heap_trace_record_t r = trace_record(i);
        assert_true(esp_ptr_external_ram(r.address));
        leaked[i] = r.address;
    }
    for (size_t i = 0; i < 3; i++) {
        heap_caps_free(leaked[i]);
    }
    assert_int_equal(psram_free(), psram);

    QueueHandle_t plain = xQueueCreate(1, 1);
    SemaphoreHandle_t mutex = xSemaphoreCreateMutex();
    assert_true(plain != NULL && mutex != NULL);
    const size_t plain_taken = internal - internal_free();
    log_capture_begin();
    ASSERT_REFUSED(1, vQueueDeleteWithCaps(plain));
    ASSERT_REFUSED(1, vSemaphoreDeleteWithCaps(mutex));
    logged = log_capture_end();
    assert_non_null(strstr(logged, "vQueueDeleteWithCaps("));
    assert_non_null(strstr(logged, "vSemaphoreDeleteWithCaps("));
    assert_non_null(strstr(logged, "not made by a *CreateWithCaps(): refused"));
    assert_int_equal(internal - internal_free(), plain_taken);
    uint8_t one = 1;
    assert_int_equal(xQueueSend(plain, &one, 0), pdPASS); /* still a queue */
    assert_int_equal(xSemaphoreTake(mutex, 0), pdTRUE);   /* still a mutex */
    assert_int_equal(xSemaphoreGive(mutex), pdTRUE);
    vQueueDelete(plain);
    vSemaphoreDelete(mutex);
    assert_int_equal(internal_free(), internal);
}

static uint8_t static_stack[STACK];
static StaticTask_t static_tcb;

typedef struct {
    SemaphoreHandle_t done;
    atomic_uintptr_t param;
} static_task_seen_t;

static void give_done_then_park(void *arg)
{
    static_task_seen_t *seen = arg;
    atomic_store(&seen->param, (uintptr_t)arg);
    xSemaphoreGive(seen->done);
    park(NULL);
}

static void static_objects_work_without_a_single_heap_call(void **state)
{
    (void)state;
    const size_t before = internal_free();
    const kraken_sim_stats_t s0 = stats();
    StaticQueue_t queue_buffer;
    uint8_t storage[4 * 8];
    StaticSemaphore_t binary_buffer, mutex_buffer, counting_buffer, recursive_buffer;

    QueueHandle_t q = xQueueCreateStatic(4, 8, storage, &queue_buffer);
    SemaphoreHandle_t binary = xSemaphoreCreateBinaryStatic(&binary_buffer);
    SemaphoreHandle_t mutex = xSemaphoreCreateMutexStatic(&mutex_buffer);
    SemaphoreHandle_t counting = xSemaphoreCreateCountingStatic(3, 3, &counting_buffer);
    SemaphoreHandle_t recursive = xSemaphoreCreateRecursiveMutexStatic(&recursive_buffer);
    assert_true(q && binary && mutex && counting && recursive);
    static_task_seen_t seen = {.done = binary};
    TaskHandle_t task = xTaskCreateStatic(give_done_then_park, "static", sizeof static_stack, &seen,
                                          5, static_stack, &static_tcb);
    assert_non_null(task);
    assert_int_equal(xSemaphoreTake(binary, LONG_WAIT), pdTRUE);
    assert_int_equal(atomic_load(&seen.param), (uintptr_t)&seen);

    /* The items are copied into the caller's storage. */
    const uint8_t item[8] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4};
    uint8_t out[8] = {0};
    assert_int_equal(xQueueSend(q, item, 0), pdPASS);
    bool in_storage = false;
    for (size_t at = 0; at + sizeof item <= sizeof storage; at += sizeof item) {
        in_storage = in_storage || memcmp(storage + at, item, sizeof item) == 0;
    }
    assert_true(in_storage);
    assert_int_equal(xQueueReceive(q, out, 0), pdPASS);
    assert_memory_equal(out, item, sizeof item);
    assert_int_equal(xSemaphoreTake(mutex, 0), pdTRUE);
    assert_int_equal(xSemaphoreGive(mutex), pdTRUE);
    assert_int_equal(uxSemaphoreGetCount(counting), 3);
    assert_int_equal(xSemaphoreTakeRecursive(recursive, 0), pdTRUE);
    assert_int_equal(xSemaphoreGiveRecursive(recursive), pdTRUE);

    vTaskDelete(task);
    assert_true(tasks_become(tasks_at_setup));
    vQueueDelete(q);
    vSemaphoreDelete(binary);
    vSemaphoreDelete(mutex);
    vSemaphoreDelete(counting);
    vSemaphoreDelete(recursive);
    const kraken_sim_stats_t s1 = stats();
    assert_int_equal(s1.allocations, s0.allocations);
    assert_int_equal(s1.frees, s0.frees);
    assert_int_equal(s1.failed, s0.failed);
    assert_int_equal(internal_free(), before);

    /* No buffer: refused. */
    log_capture_begin();
    TaskHandle_t no_stack = NULL, no_tcb = NULL;
    QueueHandle_t no_storage = NULL, no_record = NULL;
    ASSERT_REFUSED(1, no_stack = xTaskCreateStatic(park, "x", STACK, NULL, 5, NULL, &static_tcb));
    ASSERT_REFUSED(1, no_tcb = xTaskCreateStatic(park, "x", STACK, NULL, 5, static_stack, NULL));
    ASSERT_REFUSED(1, no_storage = xQueueCreateStatic(4, 8, NULL, &queue_buffer));
    ASSERT_REFUSED(1, no_record = xQueueCreateStatic(4, 8, storage, NULL));
    (void)log_capture_end();
    assert_null(no_stack);
    assert_null(no_tcb);
    assert_null(no_storage);
    assert_null(no_record);
    log_capture_begin();
    ASSERT_REFUSED(1, assert_null(xSemaphoreCreateBinaryStatic(NULL)));
    ASSERT_REFUSED(1, assert_null(xSemaphoreCreateMutexStatic(NULL)));
    ASSERT_REFUSED(1, assert_null(xSemaphoreCreateRecursiveMutexStatic(NULL)));
    ASSERT_REFUSED(1, assert_null(xSemaphoreCreateCountingStatic(3, 3, NULL)));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "xQueueCreateBinarySemaphoreStatic: no buffer: refused"));
    assert_non_null(strstr(logged, "xQueueCreateMutexStatic: no buffer: refused"));
    assert_non_null(strstr(logged, "xQueueCreateCountingSemaphoreStatic: no buffer: refused"));
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks_at_setup);
    assert_int_equal(stats().allocations, s0.allocations);
}

static void pvportmalloc_takes_internal_byte_addressable_memory(void **state)
{
    (void)state;
    const size_t before = xPortGetFreeHeapSize();
    assert_int_equal(before, heap_caps_get_free_size(INTERNAL_8BIT));
    uint8_t *p = pvPortMalloc(1024); /* a TLSF class size: no rounding */
    assert_non_null(p);
    assert_true(esp_ptr_internal(p));
    assert_true(esp_ptr_byte_accessible(p));
    assert_in_range(before - xPortGetFreeHeapSize(), 1024, 1024 + HEADERS(1));
    assert_true(xPortGetMinimumEverFreeHeapSize() <= xPortGetFreeHeapSize());
    vPortFree(p);
    vPortFree(NULL);
    assert_int_equal(xPortGetFreeHeapSize(), before);
    assert_null(pvPortMalloc(0));
}

/* ---- queues ---------------------------------------------------------------------------------- */

static void a_queue_is_fifo_and_send_to_front_jumps_the_line(void **state)
{
    (void)state;
    QueueHandle_t q = xQueueCreate(4, sizeof(uint32_t));
    assert_non_null(q);
    /* Round after round, so that the ring wraps at both ends. */
    for (uint32_t round = 0; round < 6; round++) {
        uint32_t v = 10 * round + 1;
        assert_int_equal(xQueueSend(q, &v, 0), pdPASS);
        v = 10 * round + 2;
        assert_int_equal(xQueueSendToBack(q, &v, 0), pdPASS);
        v = 10 * round + 3;
        assert_int_equal(xQueueSend(q, &v, 0), pdPASS);
        assert_int_equal(xQueueIsQueueFullFromISR(q), pdFALSE); /* one place left */
        assert_int_equal(xQueueIsQueueEmptyFromISR(q), pdFALSE);
        v = 10 * round; /* first in line */
        assert_int_equal(xQueueSendToFront(q, &v, 0), pdPASS);
        v = 99; /* the queue holds a copy */
        assert_int_equal(uxQueueMessagesWaiting(q), 4);
        assert_int_equal(uxQueueSpacesAvailable(q), 0);
        assert_int_equal(xQueueIsQueueFullFromISR(q), pdTRUE);
        assert_int_equal(xQueuePeek(q, &v, 0), pdPASS);
        assert_int_equal(v, 10 * round);
        assert_int_equal(uxQueueMessagesWaiting(q), 4); /* peek leaves it */
        for (uint32_t i = 0; i < 4; i++) {
            assert_int_equal(xQueueReceive(q, &v, 0), pdPASS);
            assert_int_equal(v, 10 * round + i);
        }
        if (round % 2 == 0) { /* a different ring offset next round */
            assert_int_equal(xQueueSend(q, &v, 0), pdPASS);
            assert_int_equal(xQueueReceive(q, &v, 0), pdPASS);
        }
        assert_int_equal(xQueueReceive(q, &v, 0), errQUEUE_EMPTY);
        assert_int_equal(xQueuePeek(q, &v, 0), errQUEUE_EMPTY);
        assert_int_equal(xQueueIsQueueEmptyFromISR(q), pdTRUE);
        assert_int_equal(uxQueueSpacesAvailable(q), 4);
    }
    vQueueDelete(q);
}

static void overwrite_replaces_the_item_of_a_queue_of_one_and_is_refused_on_a_longer_one(
    void **state)
{
    (void)state;
    QueueHandle_t one = xQueueCreate(1, sizeof(uint32_t)), two = xQueueCreate(2, sizeof(uint32_t));
    assert_true(one && two);
    uint32_t v = 1;
    assert_int_equal(xQueueOverwrite(one, &v), pdPASS); /* empty: as a send */
    v = 2;
    assert_int_equal(xQueueOverwrite(one, &v), pdPASS); /* full: replaced, no wait */
    assert_int_equal(uxQueueMessagesWaiting(one), 1);
    BaseType_t woken = pdFALSE;
    v = 3;
    kraken_sim_isr_enter();
    const BaseType_t from_isr = xQueueOverwriteFromISR(one, &v, &woken);
    kraken_sim_isr_exit();
    assert_int_equal(from_isr, pdPASS);
    assert_int_equal(woken, pdFALSE);
    assert_int_equal(xQueueReceive(one, &v, 0), pdPASS);
    assert_int_equal(v, 3);
    assert_int_equal(xQueueReceive(one, &v, 0), errQUEUE_EMPTY);

    v = 5;
    assert_int_equal(xQueueSend(two, &v, 0), pdPASS);
    v = 6;
    log_capture_begin();
    BaseType_t rc = pdPASS, rc_isr = pdPASS;
    ASSERT_REFUSED(1, rc = xQueueOverwrite(two, &v));
    kraken_sim_isr_enter();
    ASSERT_REFUSED(1, rc_isr = xQueueOverwriteFromISR(two, &v, NULL));
    kraken_sim_isr_exit();
    const char *logged = log_capture_end();
    assert_int_equal(rc, pdFAIL);
    assert_int_equal(rc_isr, pdFAIL);
    assert_non_null(strstr(logged, "overwrite on a queue of length 2: refused"));
    assert_int_equal(uxQueueMessagesWaiting(two), 1);
    assert_int_equal(xQueueReceive(two, &v, 0), pdPASS);
    assert_int_equal(v, 5);
    vQueueDelete(one);
    vQueueDelete(two);
}

static void a_full_queue_refuses_at_once_without_a_wait_and_after_the_wait_with_one(void **state)
{
    (void)state;
    QueueHandle_t q = xQueueCreate(1, sizeof(uint32_t));
    SemaphoreHandle_t taken = xSemaphoreCreateBinary();
    assert_true(q && taken);
    uint32_t v = 1;
    assert_int_equal(xQueueSend(q, &v, 0), pdPASS);

    int64_t t0 = now_us();
    assert_int_equal(xQueueSend(q, &v, 0), errQUEUE_FULL);
    assert_true(now_us() - t0 < 500000);

    t0 = now_us();
    assert_int_equal(xQueueSend(q, &v, SHORT_WAIT), errQUEUE_FULL);
    int64_t waited = now_us() - t0;
    assert_true(waited >= WAIT_MIN_US(SHORT_WAIT));
    assert_true(waited < 10 * TICKS_US(SHORT_WAIT) + 1000000);

    assert_int_equal(xQueueReceive(q, &v, 0), pdPASS);
    t0 = now_us();
    assert_int_equal(xQueueReceive(q, &v, SHORT_WAIT), errQUEUE_EMPTY);
    waited = now_us() - t0;
    assert_true(waited >= WAIT_MIN_US(SHORT_WAIT));
    assert_true(waited < 10 * TICKS_US(SHORT_WAIT) + 1000000);

    t0 = now_us();
    assert_int_equal(xSemaphoreTake(taken, SHORT_WAIT), pdFALSE);
    waited = now_us() - t0;
    assert_true(waited >= WAIT_MIN_US(SHORT_WAIT));
    assert_true(waited < 10 * TICKS_US(SHORT_WAIT) + 1000000);
    vQueueDelete(q);
    vSemaphoreDelete(taken);
}

typedef struct {
    QueueHandle_t q;
    uint32_t value;
    atomic_int started;
    atomic_int result; /* 0: not yet; else the call's result + 10 */
    atomic_uint got;
    atomic_int after; /* set after the call: must never be, for a task deleted in it */
} queue_probe_t;

static void receive_once(void *arg)
{
    queue_probe_t *p = arg;
    atomic_store(&p->started, 1);
    uint32_t v = 0;
    const BaseType_t rc = xQueueReceive(p->q, &v, LONG_WAIT);
    atomic_store(&p->got, v);
    atomic_store(&p->after, 1);
    atomic_store(&p->result, rc + 10); /* last: once it is seen the task writes nothing more */
    park(NULL);
}

static void send_once(void *arg)
{
    queue_probe_t *p = arg;
    atomic_store(&p->started, 1);
    const BaseType_t rc = xQueueSend(p->q, &p->value, LONG_WAIT);
    atomic_store(&p->after, 1);
    atomic_store(&p->result, rc + 10); /* last: once it is seen the task writes nothing more */
    park(NULL);
}

static void a_receiver_blocked_on_an_empty_queue_is_woken_by_a_sender_task(void **state)
{
    (void)state;
    queue_probe_t receiver = {.q = xQueueCreate(2, sizeof(uint32_t))};
    assert_non_null(receiver.q);
    queue_probe_t sender = {.q = receiver.q, .value = 42};
    TaskHandle_t r = NULL, s = NULL;
    assert_int_equal(xTaskCreate(receive_once, "receiver", STACK, &receiver, 5, &r), pdPASS);
    assert_true(becomes_blocked(r));
    assert_int_equal(atomic_load(&receiver.result), 0); /* waiting */
    assert_int_equal(xTaskCreate(send_once, "sender", STACK, &sender, 5, &s), pdPASS);
    WAIT_FOR(atomic_load(&receiver.result) != 0);
    assert_int_equal(atomic_load(&receiver.result), pdPASS + 10);
    assert_int_equal(atomic_load(&receiver.got), 42);
    WAIT_FOR(atomic_load(&sender.result) != 0);
    assert_int_equal(atomic_load(&sender.result), pdPASS + 10);
    vTaskDelete(r);
    vTaskDelete(s);
    assert_true(tasks_become(tasks_at_setup));
    assert_int_equal(uxQueueMessagesWaiting(receiver.q), 0);
    vQueueDelete(receiver.q);
}

static void peek_once(void *arg)
{
    queue_probe_t *p = arg;
    atomic_store(&p->started, 1);
    uint32_t v = 0;
    const BaseType_t rc = xQueuePeek(p->q, &v, LONG_WAIT);
    atomic_store(&p->got, v);
    atomic_store(&p->after, 1);
    atomic_store(&p->result, rc + 10); /* last: once it is seen the task writes nothing more */
    park(NULL);
}

/* A peek leaves the item: every task peeking at the empty queue sees the one item sent. */
static void tasks_peeking_at_an_empty_queue_all_see_the_item_sent(void **state)
{
    (void)state;
    queue_probe_t a = {.q = xQueueCreate(2, sizeof(uint32_t))};
    assert_non_null(a.q);
    queue_probe_t b = {.q = a.q};
    TaskHandle_t ta = NULL, tb = NULL;
    assert_int_equal(xTaskCreate(peek_once, "peek a", STACK, &a, 5, &ta), pdPASS);
    assert_int_equal(xTaskCreate(peek_once, "peek b", STACK, &b, 5, &tb), pdPASS);
    assert_true(becomes_blocked(ta) && becomes_blocked(tb));
    uint32_t v = 77;
    const int64_t t0 = now_us();
    assert_int_equal(xQueueSend(a.q, &v, 0), pdPASS);
    WAIT_FOR(atomic_load(&a.result) != 0 && atomic_load(&b.result) != 0);
    assert_true(now_us() - t0 < TICKS_US(LONG_WAIT) / 2); /* woken, not by their timeouts */
    assert_int_equal(atomic_load(&a.result), pdPASS + 10);
    assert_int_equal(atomic_load(&b.result), pdPASS + 10);
    assert_int_equal(atomic_load(&a.got), 77);
    assert_int_equal(atomic_load(&b.got), 77);
    assert_int_equal(uxQueueMessagesWaiting(a.q), 1);
    vTaskDelete(ta);
    vTaskDelete(tb);
    assert_true(tasks_become(tasks_at_setup));
    vQueueDelete(a.q);
}

static void a_sender_blocked_on_a_full_queue_gets_in_when_an_item_is_taken(void **state)
{
    (void)state;
    queue_probe_t sender = {.q = xQueueCreate(1, sizeof(uint32_t)), .value = 7};
    assert_non_null(sender.q);
    uint32_t v = 6;
    assert_int_equal(xQueueSend(sender.q, &v, 0), pdPASS);
    TaskHandle_t s = NULL;
    assert_int_equal(xTaskCreate(send_once, "sender", STACK, &sender, 5, &s), pdPASS);
    assert_true(becomes_blocked(s));
    assert_int_equal(atomic_load(&sender.result), 0); /* waiting for room */
    assert_int_equal(xQueueReceive(sender.q, &v, 0), pdPASS);
    assert_int_equal(v, 6);
    const int64_t t0 = now_us();
    WAIT_FOR(atomic_load(&sender.result) != 0);
    assert_int_equal(atomic_load(&sender.result), pdPASS + 10);
    assert_true(now_us() - t0 < TICKS_US(LONG_WAIT) / 2); /* woken, not let in by its timeout */
    assert_int_equal(xQueueReceive(sender.q, &v, 0), pdPASS);
    assert_int_equal(v, 7);
    vTaskDelete(s);
    assert_true(tasks_become(tasks_at_setup));
    vQueueDelete(sender.q);
}

/* FreeRTOS's reset unblocks one waiting sender (xQueueGenericReset): the other waits on, for a
 * receive or its timeout, although the queue has room. */
static void reset_empties_a_queue_and_lets_one_blocked_sender_in(void **state)
{
    (void)state;
    QueueHandle_t q = xQueueCreate(2, sizeof(uint32_t));
    assert_non_null(q);
    queue_probe_t sender[2] = {{.q = q, .value = 9}, {.q = q, .value = 8}};
    uint32_t v = 1;
    assert_int_equal(xQueueSend(q, &v, 0), pdPASS);
    assert_int_equal(xQueueSend(q, &v, 0), pdPASS);
    TaskHandle_t s[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(xTaskCreate(send_once, "sender", STACK, &sender[i], 5, &s[i]), pdPASS);
        assert_true(becomes_blocked(s[i]));
    }
    assert_int_equal(xQueueReset(q), pdPASS);
    const int64_t t0 = now_us();
    WAIT_FOR(atomic_load(&sender[0].result) + atomic_load(&sender[1].result) != 0);
    assert_true(now_us() - t0 < TICKS_US(LONG_WAIT) / 2); /* woken, not let in by its timeout */
    const int in = atomic_load(&sender[0].result) != 0 ? 0 : 1;
    assert_int_equal(atomic_load(&sender[in].result), pdPASS + 10);
    vTaskDelay(pdMS_TO_TICKS(50)); /* time enough for a second sender let in to have sent */
    assert_int_equal(atomic_load(&sender[1 - in].result), 0); /* still waiting, with room */
    assert_int_equal(uxQueueMessagesWaiting(q), 1);
    assert_int_equal(xQueueReceive(q, &v, 0), pdPASS); /* a receive lets the other one in */
    assert_int_equal(v, sender[in].value);
    WAIT_FOR(atomic_load(&sender[1 - in].result) != 0);
    assert_int_equal(atomic_load(&sender[1 - in].result), pdPASS + 10);
    assert_int_equal(xQueueReceive(q, &v, 0), pdPASS);
    assert_int_equal(v, sender[1 - in].value);
    for (int i = 0; i < 2; i++) {
        vTaskDelete(s[i]);
    }
    assert_true(tasks_become(tasks_at_setup));
    vQueueDelete(q);
    /* A mutex's holder shares the queue's fields on the chip: reset, it is taken by no task. */
    SemaphoreHandle_t m = xSemaphoreCreateMutex();
    assert_int_equal(xSemaphoreTake(m, 0), pdPASS);
    log_capture_begin();
    ASSERT_REFUSED(1, assert_int_equal(xQueueReset(m), pdFAIL));
    assert_non_null(strstr(log_capture_end(), "xQueueGenericReset: a mutex: refused"));
    assert_ptr_equal(xSemaphoreGetMutexHolder(m), xTaskGetCurrentTaskHandle()); /* unchanged */
    assert_int_equal(xSemaphoreGive(m), pdPASS);
    vSemaphoreDelete(m);
}

/* A task that receives from q forever, counting what it got. */
typedef struct {
    QueueHandle_t q;
    atomic_int count;
    atomic_uint last;
} sink_t;

static void sink(void *arg)
{
    sink_t *s = arg;
    for (;;) {
        uint32_t v;
        if (xQueueReceive(s->q, &v, portMAX_DELAY) == pdPASS) {
            atomic_store(&s->last, v);
            atomic_fetch_add(&s->count, 1);
        }
    }
}

/* A task that sends to q forever, counting what went in. */
static void source(void *arg)
{
    sink_t *s = arg;
    for (uint32_t v = 100;; v++) {
        if (xQueueSend(s->q, &v, portMAX_DELAY) == pdPASS) {
            atomic_fetch_add(&s->count, 1);
        }
    }
}

static void fromisr_calls_work_in_a_simulated_isr_and_make_no_heap_call(void **state)
{
    (void)state;
    QueueHandle_t q = xQueueCreate(2, sizeof(uint32_t));
    assert_non_null(q);
    const kraken_sim_stats_t s0 = stats();
    uint32_t a = 1, b = 2, out[3] = {0};
    BaseType_t woken = pdFALSE, rc[8];
    kraken_sim_isr_enter();
    rc[0] = xPortInIsrContext();
    rc[1] = xQueueSendFromISR(q, &a, &woken);
    rc[2] = xQueueSendToFrontFromISR(q, &b, &woken);
    rc[3] = xQueueSendToBackFromISR(q, &a, NULL); /* full */
    rc[4] = xQueuePeekFromISR(q, &out[0]);
    rc[5] = xQueueReceiveFromISR(q, &out[1], &woken);
    rc[6] = xQueueReceiveFromISR(q, &out[2], NULL);
    rc[7] = xQueueReceiveFromISR(q, &out[2], &woken); /* empty */
    const BaseType_t peek_empty = xQueuePeekFromISR(q, &out[2]);
    const UBaseType_t waiting = uxQueueMessagesWaitingFromISR(q);
    kraken_sim_isr_exit();
    assert_int_equal(rc[0], pdTRUE);
    assert_int_equal(xPortInIsrContext(), pdFALSE);
    assert_int_equal(rc[1], pdPASS);
    assert_int_equal(rc[2], pdPASS);
    assert_int_equal(rc[3], errQUEUE_FULL);
    assert_int_equal(rc[4], pdPASS);
    assert_int_equal(rc[5], pdPASS);
    assert_int_equal(rc[6], pdPASS);
    assert_int_equal(rc[7], errQUEUE_EMPTY);
    assert_int_equal(peek_empty, errQUEUE_EMPTY);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 2);
    assert_int_equal(out[2], 1);
    assert_int_equal(waiting, 0);
    assert_int_equal(woken, pdFALSE); /* no task waited */
    assert_int_equal(stats().isr_calls, s0.isr_calls);
    vQueueDelete(q);
}

/* FreeRTOS sets *pxHigherPriorityTaskWoken when a task waited for what the ISR did: each round
 * waits for the task to be in its wait, so that each call wakes it. Deleted in its wait, the
 * task reads the test's sink_t no more. */
static void fromisr_sends_and_receives_report_a_task_they_woke(void **state)
{
    (void)state;
    sink_t in = {.q = xQueueCreate(1, sizeof(uint32_t))};
    assert_non_null(in.q);
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(sink, "sink", STACK, &in, 5, &task), pdPASS);
    for (uint32_t round = 0; round < 3; round++) {
        assert_true(becomes_blocked(task)); /* in its receive */
        BaseType_t woken = pdFALSE;
        kraken_sim_isr_enter();
        const BaseType_t rc = xQueueSendFromISR(in.q, &round, &woken);
        kraken_sim_isr_exit();
        assert_int_equal(rc, pdPASS);
        assert_int_equal(woken, pdTRUE);
        WAIT_FOR(atomic_load(&in.count) == (int)round + 1);
        assert_int_equal(atomic_load(&in.count), round + 1);
        assert_int_equal(atomic_load(&in.last), round);
    }
    assert_true(becomes_blocked(task));
    vTaskDelete(task);
    assert_true(tasks_become(tasks_at_setup));

    /* A task waiting for room, woken by a receive from an ISR. */
    sink_t out = {.q = in.q};
    assert_int_equal(xTaskCreate(source, "source", STACK, &out, 5, &task), pdPASS);
    WAIT_FOR(atomic_load(&out.count) == 1); /* the queue is full, the next send waits */
    for (int round = 0; round < 3; round++) {
        assert_true(becomes_blocked(task)); /* in its send, waiting for room */
        BaseType_t woken = pdFALSE;
        uint32_t v = 0;
        kraken_sim_isr_enter();
        const BaseType_t rc = xQueueReceiveFromISR(out.q, &v, &woken);
        kraken_sim_isr_exit();
        assert_int_equal(rc, pdPASS);
        assert_int_equal(v, 100 + (uint32_t)round);
        assert_int_equal(woken, pdTRUE);
        WAIT_FOR(atomic_load(&out.count) == round + 2);
        assert_int_equal(atomic_load(&out.count), round + 2);
    }
    assert_true(becomes_blocked(task));
    vTaskDelete(task);
    assert_true(tasks_become(tasks_at_setup));
    vQueueDelete(in.q);
}

static void calls_that_would_wait_are_refused_in_a_simulated_isr(void **state)
{
    (void)state;
    QueueHandle_t q = xQueueCreate(2, sizeof(uint32_t));
    SemaphoreHandle_t binary = xSemaphoreCreateBinary(), mutex = xSemaphoreCreateMutex();
    assert_true(q && binary && mutex);
    uint32_t v = 5, out = 0;
    assert_int_equal(xQueueSend(q, &v, 0), pdPASS);
    (void)ulTaskNotifyTake(pdTRUE, 0);
    xTaskNotifyGive(xTaskGetCurrentTaskHandle()); /* pending: the refusal is not a timeout */
    BaseType_t rc[11];
    TickType_t previous = xTaskGetTickCount();
    log_capture_begin();
    kraken_sim_isr_enter();
    rc[0] = xQueueReceive(q, &out, 1);
    rc[1] = xQueueSend(q, &v, 1);
    rc[2] = xQueuePeek(q, &out, SHORT_WAIT);
    rc[3] = xSemaphoreTake(binary, 1);
    ASSERT_REFUSED(1, rc[4] = xSemaphoreTake(mutex, 0)); /* a mutex: never in an ISR */
    rc[5] = (BaseType_t)ulTaskNotifyTake(pdTRUE, 1);
    rc[6] = xTaskNotifyWait(0, 0, NULL, 1);
    const int64_t t0 = now_us();
    vTaskDelay(LONG_WAIT);
    const int64_t delayed = now_us() - t0;
    rc[7] = xTaskDelayUntil(&previous, SHORT_WAIT);
    ASSERT_REFUSED(1, rc[8] = xSemaphoreGiveFromISR(mutex, NULL));
    ASSERT_REFUSED(1, rc[9] = xSemaphoreTakeFromISR(mutex, NULL));
    rc[10] = xQueueReceive(q, &out, 0); /* no wait: allowed */
    ASSERT_REFUSED(1, vTaskDelete(NULL)); /* the task it interrupted: not from an ISR */
    ASSERT_REFUSED(1, assert_int_equal(ulTaskNotifyTake(pdTRUE, 0), 0)); /* no wait, in an ISR */
    kraken_sim_isr_exit();
    const char *logged = log_capture_end();
    for (int i = 0; i < 10; i++) {
        if (rc[i] != pdFAIL) {
            print_error("call %d in an ISR gave %d\n", i, (int)rc[i]);
        }
        assert_int_equal(rc[i], pdFAIL);
    }
    assert_true(delayed < TICKS_US(LONG_WAIT) / 2);
    assert_int_equal(rc[10], pdPASS);
    assert_int_equal(out, 5);
    assert_non_null(strstr(logged, "xQueueReceive: a wait of 1 ticks in an ISR: refused"));
    assert_non_null(strstr(logged, "xQueueGenericSend: a wait of 1 ticks in an ISR: refused"));
    assert_non_null(strstr(logged, "vTaskDelay: a wait of"));
    assert_non_null(strstr(logged, "ulTaskGenericNotifyTake: a wait of 1 ticks in an ISR: refused"));
    assert_non_null(strstr(logged, "a mutex"));
    assert_int_equal(ulTaskNotifyTake(pdTRUE, 0), 1); /* the notification is still there */
    assert_int_equal(uxSemaphoreGetCount(mutex), 1);
    vQueueDelete(q);
    vSemaphoreDelete(binary);
    vSemaphoreDelete(mutex);
}

/* Inside a critical section (interrupts off on the chip's core) no FreeRTOS call may block: a call
 * that would wait is refused at once, logged and counted (kraken_sim_stats_t.refused_waits), in a
 * nested section too; a call without a wait runs; after the last exit waits work again. */
static void calls_that_would_wait_are_refused_inside_a_critical_section(void **state)
{
    (void)state;
    QueueHandle_t q = xQueueCreate(2, sizeof(uint32_t));
    SemaphoreHandle_t binary = xSemaphoreCreateBinary();
    assert_true(q && binary);
    uint32_t v = 5, out = 0;
    (void)ulTaskNotifyTake(pdTRUE, 0);
    xTaskNotifyGive(xTaskGetCurrentTaskHandle()); /* pending: the refusal is not a timeout */
    portMUX_TYPE mux = portMUX_INITIALIZER_UNLOCKED, other = portMUX_INITIALIZER_UNLOCKED;
    kraken_sim_stats_t before, after;
    kraken_sim_get_stats(&before);
    BaseType_t rc[7];
    log_capture_begin();
    const int64_t t0 = now_us();
    portENTER_CRITICAL(&mux);
    rc[0] = xQueueReceive(q, &out, LONG_WAIT);
    rc[1] = xSemaphoreTake(binary, 1);
    rc[2] = (BaseType_t)ulTaskNotifyTake(pdTRUE, LONG_WAIT);
    vTaskDelay(LONG_WAIT);
    portENTER_CRITICAL(&other); /* nested, another lock */
    rc[3] = xTaskNotifyWait(0, 0, NULL, 1);
    ASSERT_NOT_REFUSED(vTaskSuspend(NULL)); /* would block until a resume: a wait */
    portEXIT_CRITICAL(&other);
    rc[4] = xQueueSend(q, &v, 0); /* no wait: runs */
    portENTER_CRITICAL(&mux); /* the same lock again */
    portEXIT_CRITICAL(&mux);
    rc[5] = xQueueReceive(q, &out, 1); /* still inside the first: refused, though an item waits */
    portEXIT_CRITICAL(&mux);
    const int64_t took = now_us() - t0;
    rc[6] = xQueueReceive(q, &out, SHORT_WAIT); /* outside: runs */
    const char *logged = log_capture_end();
    kraken_sim_get_stats(&after);
    for (int i = 0; i < 6; i++) {
        const BaseType_t want = i == 4 ? pdPASS : pdFAIL;
        if (rc[i] != want) {
            print_error("call %d inside a critical section gave %d\n", i, (int)rc[i]);
        }
        assert_int_equal(rc[i], want);
    }
    assert_int_equal(rc[6], pdPASS);
    assert_int_equal(out, 5);
    assert_true(took < TICKS_US(LONG_WAIT) / 2);
    assert_int_equal(after.refused_waits - before.refused_waits, 7);
    assert_non_null(strstr(logged, "xQueueReceive: a wait of 1 ticks inside a critical section: "
                                   "refused"));
    assert_non_null(strstr(logged, "vTaskDelay: a wait of"));
    assert_non_null(strstr(logged, "xTaskGenericNotifyWait: a wait of 1 ticks inside a critical"));
    assert_non_null(strstr(logged, "vTaskSuspend(NULL): a wait without end (portMAX_DELAY) "
                                   "inside a critical section: refused"));
    assert_int_equal(ulTaskNotifyTake(pdTRUE, 0), 1); /* the notification is still there */
    vQueueDelete(q);
    vSemaphoreDelete(binary);
}

typedef struct {
    portMUX_TYPE mux;
    QueueHandle_t q;
    atomic_int inside; /* 1 once in the section */
    atomic_int go;     /* set once the task is deleted */
    atomic_int after;  /* set if it runs on after leaving the section */
} section_probe_t;

static void delete_me_in_a_section(void *arg)
{
    section_probe_t *p = arg;
    portENTER_CRITICAL(&p->mux);
    atomic_store(&p->inside, 1);
    while (!atomic_load(&p->go)) {
    }
    uint32_t v = 7;
    (void)xQueueSend(p->q, &v, 0); /* a call without a wait: allowed in a section */
    portEXIT_CRITICAL(&p->mux);    /* the task ends here */
    atomic_store(&p->after, 1);
    for (;;) {
        vTaskDelay(1);
    }
}

/* A task deleted while inside a critical section goes on to the end of the section (on the chip the
 * delete's switch waits for it) and ends there: it does not leave the spinlock held, nor run on. */
static void a_task_deleted_inside_a_critical_section_releases_it_first(void **state)
{
    (void)state;
    section_probe_t p = {.mux = portMUX_INITIALIZER_UNLOCKED, .q = xQueueCreate(1, sizeof(uint32_t))};
    assert_non_null(p.q);
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(delete_me_in_a_section, "sect", STACK, &p, 5, &task), pdPASS);
    WAIT_FOR(atomic_load(&p.inside));
    vTaskDelete(task);
    atomic_store(&p.go, 1);
    assert_true(tasks_become(tasks_at_setup));
    WAIT_FOR(__atomic_load_n(&p.mux.owner, __ATOMIC_ACQUIRE) == 0);
    assert_int_equal(__atomic_load_n(&p.mux.owner, __ATOMIC_ACQUIRE), 0);
    uint32_t v = 0;
    assert_int_equal(xQueueReceive(p.q, &v, 0), pdPASS); /* its send ran */
    assert_int_equal(v, 7);
    portENTER_CRITICAL(&p.mux); /* free: taken at once */
    portEXIT_CRITICAL(&p.mux);
    assert_int_equal(atomic_load(&p.after), 0);
    vQueueDelete(p.q);
}

/* As on the chip: in an ISR, the task it interrupted. */
static void xtaskgetcurrenttaskhandle_in_a_simulated_isr_is_the_interrupted_task(void **state)
{
    (void)state;
    TaskHandle_t me = xTaskGetCurrentTaskHandle();
    assert_non_null(me);
    kraken_sim_isr_enter();
    TaskHandle_t in_isr = xTaskGetCurrentTaskHandle();
    kraken_sim_isr_exit();
    assert_ptr_equal(in_isr, me);
    assert_ptr_equal(xTaskGetCurrentTaskHandle(), me);
}

static void null_and_malformed_arguments_are_refused_with_the_documented_results(void **state)
{
    (void)state;
    QueueHandle_t q = xQueueCreate(2, sizeof(uint32_t));
    assert_non_null(q);
    uint32_t v = 3;
    assert_int_equal(xQueueSend(q, &v, 0), pdPASS);
    const kraken_sim_stats_t s0 = stats();
    log_capture_begin();
    const uint64_t refused_before = refused_calls();
    BaseType_t rc[16];
    rc[0] = xQueueSend(NULL, &v, 0);
    rc[1] = xQueueReceive(NULL, &v, 0);
    rc[2] = xQueuePeek(NULL, &v, 0);
    rc[3] = xQueueSend(q, NULL, 0);
    rc[4] = xQueueReceive(q, NULL, 0);
    rc[5] = xQueuePeek(q, NULL, 0);
    rc[6] = xQueueSendFromISR(NULL, &v, NULL);
    rc[7] = xQueueReceiveFromISR(NULL, &v, NULL);
    rc[8] = xQueueReset(NULL);
    rc[9] = xSemaphoreTake(NULL, 0);
    rc[10] = xSemaphoreGive(NULL);
    rc[11] = xSemaphoreTakeRecursive(NULL, 0);
    rc[12] = xSemaphoreGiveRecursive(NULL);
    rc[13] = xTaskNotify(NULL, 1, eSetBits);
    rc[14] = xTaskNotifyGive(NULL);
    rc[15] = xSemaphoreTake(q, 0); /* a queue with items is no semaphore */
    QueueHandle_t not_a_mutex = xQueueCreateMutex(queueQUEUE_TYPE_BINARY_SEMAPHORE);
    SemaphoreHandle_t bad_type = xSemaphoreCreateGenericWithCaps(1, 1, 99, MALLOC_CAP_INTERNAL);
    const char *logged = log_capture_end();
    ASSERT_REFUSED_SINCE(refused_before, 18); /* each call once */
    for (int i = 0; i < 16; i++) {
        if (rc[i] != pdFAIL) {
            print_error("call %d gave %d\n", i, (int)rc[i]);
        }
        assert_int_equal(rc[i], pdFAIL);
    }
    assert_null(not_a_mutex);
    assert_null(bad_type);
    /* the queries too (the chip asserts on a NULL handle) */
    ASSERT_REFUSED(5, {
        assert_int_equal(uxQueueMessagesWaiting(NULL), 0);
        assert_int_equal(uxQueueSpacesAvailable(NULL), 0);
        assert_int_equal(xQueueIsQueueEmptyFromISR(NULL), pdFALSE);
        assert_int_equal(xQueueIsQueueFullFromISR(NULL), pdFALSE);
        assert_null(xSemaphoreGetMutexHolder(NULL));
    });
    assert_null(xSemaphoreGetMutexHolder(q)); /* not a mutex */
    /* in the order of the calls (a NULL queue, then a NULL item): each names the wrong argument */
    const char *sends = strstr(logged, "xQueueGenericSend: ");
    assert_non_null(sends);
    assert_int_equal(strncmp(sends, "xQueueGenericSend: no queue: refused", 36), 0);
    assert_non_null(strstr(sends + 1, "xQueueGenericSend: no item buffer: refused"));
    assert_non_null(strstr(logged, "xQueueReceive: no item buffer: refused"));
    assert_non_null(strstr(logged, "xTaskGenericNotify: no task: refused"));
    assert_non_null(strstr(logged, "xQueueSemaphoreTake: not a semaphore: refused"));
    assert_non_null(strstr(logged, "type 99: refused"));
    assert_int_equal(stats().allocations, s0.allocations);
    assert_int_equal(uxQueueMessagesWaiting(q), 1); /* untouched */
    assert_int_equal(xQueueReceive(q, &v, 0), pdPASS);
    assert_int_equal(v, 3);
    vQueueDelete(q);
    SemaphoreHandle_t given = xSemaphoreCreateBinary();
    assert_non_null(given);
    assert_int_equal(xSemaphoreGive(given), pdTRUE);
    kraken_sim_isr_enter();
    ASSERT_REFUSED(1, assert_int_equal(xQueuePeekFromISR(given, NULL), pdFAIL)); /* can't peek */
    kraken_sim_isr_exit();
    assert_int_equal(uxSemaphoreGetCount(given), 1);
    vSemaphoreDelete(given);
    /* a notify action that is none of eNotifyAction's (the chip asserts): nothing notified */
    (void)xTaskNotifyStateClear(NULL);
    ASSERT_REFUSED(1, assert_int_equal(xTaskNotify(xTaskGetCurrentTaskHandle(), 5,
                                                   (eNotifyAction)9), pdFAIL));
    assert_int_equal(xTaskNotifyStateClear(NULL), pdFALSE);
}

/* FreeRTOS's vQueueDelete() asserts on NULL (configASSERT(pxQueue)), the WithCaps deletes in
 * xQueueGenericGetStaticBuffers() before it: each is refused once, touching no heap. */
static void deleting_a_null_queue_or_semaphore_is_refused(void **state)
{
    (void)state;
    const kraken_sim_stats_t s0 = stats();
    log_capture_begin();
    ASSERT_REFUSED(1, vQueueDelete(NULL));
    ASSERT_REFUSED(1, vSemaphoreDelete(NULL));
    ASSERT_REFUSED(1, vQueueDeleteWithCaps(NULL));
    ASSERT_REFUSED(1, vSemaphoreDeleteWithCaps(NULL));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "vQueueDelete: no queue: refused (the chip asserts)"));
    assert_non_null(strstr(logged, "vQueueDeleteWithCaps: no queue: refused"));
    assert_non_null(strstr(logged, "vSemaphoreDeleteWithCaps: no queue: refused"));
    assert_int_equal(stats().allocations, s0.allocations);
    assert_int_equal(stats().frees, s0.frees);
}

static void a_queue_of_length_0_or_larger_than_4_gb_is_refused_without_a_heap_call(void **state)
{
    (void)state;
    const size_t before = internal_free();
    kraken_sim_stats_t s0 = stats();
    StaticQueue_t buffer;
    uint8_t storage[16];
    log_capture_begin();
    const uint64_t refused_before = refused_calls();
    QueueHandle_t refused[6] = {
        xQueueCreate(0, 4),
        xQueueCreate(0x40000000u, 4),              /* 4 GiB */
        xQueueCreate(1, UINT32_MAX - QUEUE_BYTES + 1), /* record + storage past 4 GiB */
        xQueueCreate(UINT_MAX, UINT_MAX),
        xQueueCreateWithCaps(0, 4, MALLOC_CAP_SPIRAM),
        xQueueCreateStatic(0, 4, storage, &buffer),
    };
    const char *logged = log_capture_end();
    ASSERT_REFUSED_SINCE(refused_before, 6);
    for (int i = 0; i < 6; i++) {
        assert_null(refused[i]);
    }
    assert_non_null(strstr(logged, "xQueueCreate(0, 4): length 0"));
    assert_non_null(strstr(logged, "length * item size overflows"));
    const kraken_sim_stats_t s1 = stats();
    assert_int_equal(s1.allocations, s0.allocations);
    assert_int_equal(s1.failed, s0.failed); /* no heap call at all */

    /* The largest shape the chip can address is tried, and the heap says no. */
    s0 = stats();
    assert_null(xQueueCreate(1, UINT32_MAX - QUEUE_BYTES));
    assert_int_equal(stats().failed, s0.failed + 1);
    assert_int_equal(internal_free(), before);
}

/* A thread that is not a task: the host's main thread or a library's worker that never called a
 * task API. */
static void *receive_twice_in_a_plain_thread(void *arg)
{
    queue_probe_t *p = arg;
    uint32_t v = 0;
    atomic_store(&p->started, xQueueReceive(p->q, &v, 2) + 10); /* empty: times out */
    const BaseType_t rc = xQueueReceive(p->q, &v, portMAX_DELAY);
    atomic_store(&p->got, v);
    atomic_store(&p->result, rc + 10);
    return NULL;
}

/* Such a thread waits on a queue as a task does: a timeout ends its wait with errQUEUE_EMPTY, a
 * send wakes it, it is never counted as a task, and once its waits are over the queue can be
 * deleted. */
static void a_thread_that_is_not_a_task_waits_on_a_queue_as_a_task_does(void **state)
{
    (void)state;
    const size_t before = internal_free();
    queue_probe_t p = {.q = xQueueCreate(1, sizeof(uint32_t))};
    assert_non_null(p.q);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, receive_twice_in_a_plain_thread, &p), 0);
    WAIT_FOR(atomic_load(&p.started) != 0);
    assert_int_equal(atomic_load(&p.started), errQUEUE_EMPTY + 10);
    sleep_ms(10); /* most likely in its second wait by now; a send before it is received too */
    assert_int_equal(atomic_load(&p.result), 0);
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks_at_setup);
    uint32_t v = 42;
    assert_int_equal(xQueueSend(p.q, &v, 0), pdPASS);
    WAIT_FOR(atomic_load(&p.result) != 0);
    assert_int_equal(atomic_load(&p.result), pdPASS + 10);
    assert_int_equal(atomic_load(&p.got), 42);
    assert_int_equal(pthread_join(thread, NULL), 0);
    log_capture_begin();
    vQueueDelete(p.q);
    const char *logged = log_capture_end();
    assert_null(strstr(logged, "refused"));
    assert_int_equal(internal_free(), before);
}

typedef struct {
    atomic_uintptr_t handle;
    atomic_int tasks_seen; /* uxTaskGetNumberOfTasks() inside the thread */
    atomic_int go_on;      /* 1: return; 2: delete itself */
    atomic_int after;      /* set after vTaskDelete(NULL): must never be */
} plain_thread_t;

static void *plain_thread(void *arg)
{
    plain_thread_t *p = arg;
    atomic_store(&p->handle, (uintptr_t)xTaskGetCurrentTaskHandle());
    atomic_store(&p->tasks_seen, (int)uxTaskGetNumberOfTasks());
    WAIT_FOR(atomic_load(&p->go_on) != 0);
    if (atomic_load(&p->go_on) == 2) {
        vTaskDelete(NULL);
        atomic_store(&p->after, 1);
    }
    return NULL;
}

/* A thread that is not a task gets a handle, counts as a task while it lives, and ends its task
 * by returning or by deleting itself; another task's delete only logs (the host cannot end it). */
static void a_thread_that_is_not_a_task_counts_until_it_ends_or_deletes_itself(void **state)
{
    (void)state;
    for (int how = 1; how <= 2; how++) {
        plain_thread_t p = {0};
        pthread_t thread;
        assert_int_equal(pthread_create(&thread, NULL, plain_thread, &p), 0);
        WAIT_FOR(atomic_load(&p.tasks_seen) != 0);
        assert_int_equal(atomic_load(&p.tasks_seen), tasks_at_setup + 1);
        assert_true(atomic_load(&p.handle) != 0);
        assert_true(atomic_load(&p.handle) != (uintptr_t)xTaskGetCurrentTaskHandle());
        if (how == 1) {
            log_capture_begin();
            vTaskDelete((TaskHandle_t)atomic_load(&p.handle));
            const char *logged = log_capture_end();
            assert_non_null(strstr(logged, "W ("));
            assert_non_null(strstr(logged, "vTaskDelete(\"\"): a thread not made by xTaskCreate*() "
                                           "ends only by deleting itself: it goes on"));
            assert_int_equal(uxTaskGetNumberOfTasks(), tasks_at_setup + 1);
        }
        atomic_store(&p.go_on, how);
        assert_int_equal(pthread_join(thread, NULL), 0);
        assert_int_equal(atomic_load(&p.after), 0);
        assert_int_equal(uxTaskGetNumberOfTasks(), tasks_at_setup);
    }
}

/* The chip asserts when a queue is deleted while a task waits on it: refused and logged here, and
 * the waiting task goes on. */
static void a_queue_a_task_waits_on_is_not_deleted(void **state)
{
    (void)state;
    queue_probe_t receiver = {.q = xQueueCreate(1, sizeof(uint32_t))};
    assert_non_null(receiver.q);
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(receive_once, "receiver", STACK, &receiver, 5, &task), pdPASS);
    assert_true(becomes_blocked(task));
    const size_t before = internal_free();
    log_capture_begin();
    ASSERT_REFUSED(1, vQueueDelete(receiver.q));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "tasks wait on it: refused"));
    assert_int_equal(internal_free(), before);
    uint32_t v = 11;
    assert_int_equal(xQueueSend(receiver.q, &v, 0), pdPASS);
    WAIT_FOR(atomic_load(&receiver.result) != 0);
    assert_int_equal(atomic_load(&receiver.result), pdPASS + 10);
    assert_int_equal(atomic_load(&receiver.got), 11);
    vTaskDelete(task);
    assert_true(tasks_become(tasks_at_setup));
    vQueueDelete(receiver.q);
}

/* ---- semaphores and mutexes ------------------------------------------------------------------ */

typedef struct {
    SemaphoreHandle_t s;
    atomic_int started;
    atomic_int result; /* 0: not yet; else the call's result + 10 */
} take_probe_t;

static void take_once(void *arg)
{
    take_probe_t *p = arg;
    atomic_store(&p->started, 1);
    atomic_store(&p->result, xSemaphoreTake(p->s, LONG_WAIT) + 10);
    park(NULL);
}

/* An ISR give wakes a task once: a second give before that task has run wakes nobody more (the
 * waiter left the list with the first), as FreeRTOS reports it. */
static void a_second_isr_give_does_not_report_the_same_waiter_woken(void **state)
{
    (void)state;
    take_probe_t p = {.s = xSemaphoreCreateCounting(2, 0)};
    assert_non_null(p.s);
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(take_once, "taker", STACK, &p, 5, &task), pdPASS);
    assert_true(becomes_blocked(task));
    BaseType_t first = pdFALSE, second = pdFALSE;
    kraken_sim_isr_enter();
    assert_int_equal(xSemaphoreGiveFromISR(p.s, &first), pdTRUE);
    assert_int_equal(xSemaphoreGiveFromISR(p.s, &second), pdTRUE);
    kraken_sim_isr_exit();
    assert_int_equal(first, pdTRUE);
    assert_int_equal(second, pdFALSE);
    WAIT_FOR(atomic_load(&p.result) != 0);
    assert_int_equal(atomic_load(&p.result), pdTRUE + 10);
    assert_int_equal(uxSemaphoreGetCount(p.s), 1);
    vTaskDelete(task);
    assert_true(tasks_become(tasks_at_setup));
    vSemaphoreDelete(p.s);
}

/* FreeRTOS's old vSemaphoreCreateBinary() (a macro, still in ESP-IDF) makes the semaphore given. */
static void the_old_vsemaphorecreatebinary_makes_a_given_semaphore(void **state)
{
    (void)state;
    SemaphoreHandle_t s = NULL;
    vSemaphoreCreateBinary(s);
    assert_non_null(s);
    assert_int_equal(uxSemaphoreGetCount(s), 1);
    assert_int_equal(xSemaphoreTake(s, 0), pdTRUE);
    assert_int_equal(xSemaphoreTake(s, 0), pdFALSE);
    vSemaphoreDelete(s);
}

static void a_binary_semaphore_starts_taken_and_holds_one_give(void **state)
{
    (void)state;
    SemaphoreHandle_t s = xSemaphoreCreateBinary();
    assert_non_null(s);
    assert_int_equal(uxSemaphoreGetCount(s), 0);
    assert_int_equal(xSemaphoreTake(s, 0), pdFALSE);
    assert_int_equal(xSemaphoreGive(s), pdTRUE);
    assert_int_equal(xSemaphoreGive(s), pdFALSE);
    assert_int_equal(uxSemaphoreGetCount(s), 1);
    assert_int_equal(xSemaphoreTake(s, 0), pdTRUE);
    assert_int_equal(xSemaphoreTake(s, 0), pdFALSE);

    BaseType_t rc[3], woken = pdFALSE;
    kraken_sim_isr_enter();
    rc[0] = xSemaphoreGiveFromISR(s, &woken);
    rc[1] = xSemaphoreGiveFromISR(s, &woken);
    rc[2] = xSemaphoreTakeFromISR(s, &woken);
    kraken_sim_isr_exit();
    assert_int_equal(rc[0], pdTRUE);
    assert_int_equal(rc[1], errQUEUE_FULL);
    assert_int_equal(rc[2], pdTRUE);
    assert_int_equal(woken, pdFALSE);

    /* A task waiting in a take goes on at a give from an ISR. */
    take_probe_t probe = {.s = s};
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(take_once, "taker", STACK, &probe, 5, &task), pdPASS);
    assert_true(becomes_blocked(task));
    assert_int_equal(atomic_load(&probe.result), 0);
    kraken_sim_isr_enter();
    rc[0] = xSemaphoreGiveFromISR(s, NULL);
    kraken_sim_isr_exit();
    assert_int_equal(rc[0], pdTRUE);
    WAIT_FOR(atomic_load(&probe.result) != 0);
    assert_int_equal(atomic_load(&probe.result), pdTRUE + 10);
    assert_int_equal(uxSemaphoreGetCount(s), 0);
    vTaskDelete(task);
    assert_true(tasks_become(tasks_at_setup));
    vSemaphoreDelete(s);
}

static void a_counting_semaphore_counts_up_to_its_maximum_and_bad_counts_are_refused(void **state)
{
    (void)state;
    SemaphoreHandle_t s = xSemaphoreCreateCounting(3, 1);
    assert_non_null(s);
    assert_int_equal(uxSemaphoreGetCount(s), 1);
    assert_int_equal(xSemaphoreGive(s), pdTRUE);
    assert_int_equal(xSemaphoreGive(s), pdTRUE);
    assert_int_equal(xSemaphoreGive(s), pdFALSE);
    assert_int_equal(uxSemaphoreGetCountFromISR(s), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(xSemaphoreTake(s, 0), pdTRUE);
    }
    assert_int_equal(xSemaphoreTake(s, 0), pdFALSE);
    vSemaphoreDelete(s);

    SemaphoreHandle_t full = xSemaphoreCreateCounting(3, 3);
    assert_non_null(full);
    assert_int_equal(uxSemaphoreGetCount(full), 3);
    vSemaphoreDelete(full);

    StaticSemaphore_t buffer;
    const kraken_sim_stats_t s0 = stats();
    log_capture_begin();
    const uint64_t refused_before = refused_calls();
    SemaphoreHandle_t refused[5] = {
        xSemaphoreCreateCounting(0, 0),
        xSemaphoreCreateCounting(2, 3),
        xSemaphoreCreateCountingStatic(2, 3, &buffer),
        xSemaphoreCreateCountingStatic(2, 1, NULL),
        xSemaphoreCreateCountingWithCaps(0, 0, MALLOC_CAP_SPIRAM),
    };
    const char *logged = log_capture_end();
    ASSERT_REFUSED_SINCE(refused_before, 5);
    for (int i = 0; i < 5; i++) {
        assert_null(refused[i]);
    }
    assert_non_null(strstr(logged, "(0, 0): maximum 0: refused"));
    assert_non_null(strstr(logged, "(2, 3): initial count above the maximum: refused"));
    assert_int_equal(stats().allocations, s0.allocations);
    assert_int_equal(stats().failed, s0.failed);
}

typedef struct {
    SemaphoreHandle_t m;
    atomic_int gave_first; /* its give before any take: result + 10 */
    atomic_int tried;
    atomic_int took;       /* result + 10 */
    atomic_int held_by_me; /* xSemaphoreGetMutexHolder() == its handle, after the take */
    atomic_int gave_back;  /* result + 10 */
} mutex_probe_t;

static void contend_for_the_mutex(void *arg)
{
    mutex_probe_t *p = arg;
    atomic_store(&p->gave_first, xSemaphoreGive(p->m) + 10); /* not the holder */
    atomic_store(&p->tried, 1);
    const BaseType_t took = xSemaphoreTake(p->m, LONG_WAIT);
    atomic_store(&p->held_by_me, xSemaphoreGetMutexHolder(p->m) == xTaskGetCurrentTaskHandle());
    atomic_store(&p->took, took + 10);
    (void)ulTaskNotifyTake(pdTRUE, LONG_WAIT); /* holds it until told */
    atomic_store(&p->gave_back, xSemaphoreGive(p->m) + 10);
    vTaskDelete(NULL);
}

static void a_mutex_belongs_to_its_taker_and_others_wait_until_it_is_given(void **state)
{
    (void)state;
    mutex_probe_t p = {.m = xSemaphoreCreateMutex()};
    assert_non_null(p.m);
    TaskHandle_t me = xTaskGetCurrentTaskHandle();
    assert_non_null(me);
    assert_null(xSemaphoreGetMutexHolder(p.m));
    assert_int_equal(uxSemaphoreGetCount(p.m), 1); /* created given */
    assert_int_equal(xSemaphoreTake(p.m, 0), pdTRUE);
    assert_ptr_equal(xSemaphoreGetMutexHolder(p.m), me);
    assert_ptr_equal(xSemaphoreGetMutexHolderFromISR(p.m), me);
    assert_int_equal(xSemaphoreTake(p.m, 0), pdFALSE); /* not recursive: no second take */

    TaskHandle_t task = NULL;
    log_capture_begin();
    const uint64_t refused_before = refused_calls();
    assert_int_equal(xTaskCreate(contend_for_the_mutex, "contender", STACK, &p, 5, &task), pdPASS);
    WAIT_FOR(atomic_load(&p.tried));
    sleep_ms(30);
    const char *logged = log_capture_end();
    ASSERT_REFUSED_SINCE(refused_before, 1); /* its give: it does not hold the mutex */
    assert_int_equal(atomic_load(&p.gave_first), pdFALSE + 10);
    assert_non_null(strstr(logged, "the caller does not hold this mutex: refused"));
    assert_int_equal(atomic_load(&p.took), 0); /* still waiting */
    assert_ptr_equal(xSemaphoreGetMutexHolder(p.m), me);

    assert_int_equal(xSemaphoreGive(p.m), pdTRUE);
    WAIT_FOR(atomic_load(&p.took) != 0);
    assert_int_equal(atomic_load(&p.took), pdTRUE + 10);
    assert_true(atomic_load(&p.held_by_me));
    assert_ptr_equal(xSemaphoreGetMutexHolder(p.m), task);
    log_capture_begin();
    BaseType_t mine = pdPASS;
    ASSERT_REFUSED(1, mine = xSemaphoreGive(p.m)); /* the contender holds it now */
    (void)log_capture_end();
    assert_int_equal(mine, pdFALSE);
    assert_int_equal(xSemaphoreTake(p.m, 0), pdFALSE);

    assert_int_equal(xTaskNotifyGive(task), pdPASS);
    WAIT_FOR(atomic_load(&p.gave_back) != 0);
    assert_int_equal(atomic_load(&p.gave_back), pdTRUE + 10);
    assert_true(tasks_become(tasks_at_setup));
    assert_null(xSemaphoreGetMutexHolder(p.m));
    assert_int_equal(uxSemaphoreGetCount(p.m), 1);
    /* Nobody holds it: a give is a send to a full queue of one, errQUEUE_FULL as on the chip,
     * which asserts only when another task holds the mutex. */
    log_capture_begin();
    BaseType_t again = pdPASS;
    ASSERT_NOT_REFUSED(again = xSemaphoreGive(p.m)); /* no misuse */
    assert_null(strstr(log_capture_end(), "mutex"));
    assert_int_equal(again, errQUEUE_FULL);
    assert_int_equal(uxSemaphoreGetCount(p.m), 1);
    vSemaphoreDelete(p.m);
}

typedef struct {
    SemaphoreHandle_t m;
    atomic_int take; /* result + 10 */
    atomic_int give; /* result + 10 */
} recursive_probe_t;

/* Tries the recursive mutex without waiting, and gives it back when that worked. */
static void try_the_recursive_mutex(void *arg)
{
    recursive_probe_t *p = arg;
    const BaseType_t took = xSemaphoreTakeRecursive(p->m, 0);
    atomic_store(&p->give, xSemaphoreGiveRecursive(p->m) + 10);
    atomic_store(&p->take, took + 10);
    vTaskDelete(NULL);
}

static void a_recursive_mutex_is_free_again_after_as_many_gives_as_takes(void **state)
{
    (void)state;
    recursive_probe_t p = {.m = xSemaphoreCreateRecursiveMutex()};
    assert_non_null(p.m);
    TaskHandle_t me = xTaskGetCurrentTaskHandle();
    for (int i = 0; i < 3; i++) {
        assert_int_equal(xSemaphoreTakeRecursive(p.m, 0), pdTRUE);
    }
    assert_ptr_equal(xSemaphoreGetMutexHolder(p.m), me);

    assert_int_equal(xTaskCreate(try_the_recursive_mutex, "other", STACK, &p, 5, NULL), pdPASS);
    WAIT_FOR(atomic_load(&p.take) != 0);
    assert_int_equal(atomic_load(&p.take), pdFALSE + 10);
    assert_int_equal(atomic_load(&p.give), pdFALSE + 10); /* not its holder */
    assert_true(tasks_become(tasks_at_setup));

    assert_int_equal(xSemaphoreGiveRecursive(p.m), pdTRUE);
    assert_int_equal(xSemaphoreGiveRecursive(p.m), pdTRUE);
    assert_ptr_equal(xSemaphoreGetMutexHolder(p.m), me); /* one take left */
    assert_int_equal(xSemaphoreGiveRecursive(p.m), pdTRUE);
    assert_null(xSemaphoreGetMutexHolder(p.m));
    assert_int_equal(xSemaphoreGiveRecursive(p.m), pdFALSE); /* one give too many */

    atomic_store(&p.take, 0);
    assert_int_equal(xTaskCreate(try_the_recursive_mutex, "other", STACK, &p, 5, NULL), pdPASS);
    WAIT_FOR(atomic_load(&p.take) != 0);
    assert_int_equal(atomic_load(&p.take), pdTRUE + 10);
    assert_int_equal(atomic_load(&p.give), pdTRUE + 10);
    assert_true(tasks_become(tasks_at_setup));
    assert_null(xSemaphoreGetMutexHolder(p.m));

    SemaphoreHandle_t plain = xSemaphoreCreateMutex();
    assert_non_null(plain);
    log_capture_begin();
    BaseType_t rc = pdPASS;
    ASSERT_REFUSED(1, rc = xSemaphoreTakeRecursive(plain, 0));
    const char *logged = log_capture_end();
    assert_int_equal(rc, pdFALSE);
    assert_non_null(strstr(logged, "not a recursive mutex: refused"));
    assert_int_equal(uxSemaphoreGetCount(plain), 1);
    vSemaphoreDelete(plain);
    vSemaphoreDelete(p.m);
}

/* FreeRTOS's answer, not a misuse report: pdFALSE, nothing logged, the mutex unchanged. */
static void a_recursive_give_by_a_task_not_holding_it_is_a_plain_pdfalse(void **state)
{
    (void)state;
    SemaphoreHandle_t m = xSemaphoreCreateRecursiveMutex();
    assert_non_null(m);
    log_capture_begin();
    const BaseType_t rc = xSemaphoreGiveRecursive(m);
    const char *logged = log_capture_end();
    assert_int_equal(rc, pdFALSE);
    assert_true(logged[0] == '\0');
    assert_int_equal(uxSemaphoreGetCount(m), 1); /* still free */
    assert_int_equal(xSemaphoreTakeRecursive(m, 0), pdTRUE);
    assert_int_equal(xSemaphoreGiveRecursive(m), pdTRUE);
    vSemaphoreDelete(m);
}

/* ---- tasks ----------------------------------------------------------------------------------- */

typedef struct {
    atomic_uintptr_t param;
    atomic_uintptr_t self;
    char name[configMAX_TASK_NAME_LEN + 1];
    atomic_int port_core;
    atomic_int done;
} task_seen_t;

static void report_and_park(void *arg)
{
    task_seen_t *seen = arg;
    atomic_store(&seen->param, (uintptr_t)arg);
    atomic_store(&seen->self, (uintptr_t)xTaskGetCurrentTaskHandle());
    strncpy(seen->name, pcTaskGetName(NULL), sizeof seen->name - 1);
    atomic_store(&seen->port_core, xPortGetCoreID());
    atomic_store(&seen->done, 1);
    park(NULL);
}

static void a_task_runs_with_its_parameter_name_priority_and_core(void **state)
{
    (void)state;
    static const char name[] = "a_rather_long_task_name_indeed";
    _Static_assert(sizeof name > configMAX_TASK_NAME_LEN, "a name that is cut");
    task_seen_t one = {0}, other = {0};
    TaskHandle_t a = NULL, b = NULL;
    assert_int_equal(xTaskCreatePinnedToCore(report_and_park, name, STACK,
                                             &one, 7, &a, 1),
                     pdPASS);
    assert_int_equal(xTaskCreate(report_and_park, "free", STACK, &other, 3, &b), pdPASS);
    WAIT_FOR(atomic_load(&one.done) && atomic_load(&other.done));
    assert_true(atomic_load(&one.done) && atomic_load(&other.done));
    assert_int_equal(atomic_load(&one.param), (uintptr_t)&one);
    assert_int_equal(atomic_load(&one.self), (uintptr_t)a);
    char kept[configMAX_TASK_NAME_LEN]; /* configMAX_TASK_NAME_LEN - 1 characters kept */
    memcpy(kept, name, sizeof kept - 1);
    kept[sizeof kept - 1] = '\0';
    assert_string_equal(one.name, kept);
    assert_string_equal(pcTaskGetName(a), kept);
    assert_string_equal(pcTaskGetTaskName(b), "free");
    assert_int_equal(atomic_load(&one.port_core), 1);
    assert_int_equal(xTaskGetCoreID(a), 1);
    assert_int_equal(atomic_load(&other.port_core), 0);
    assert_int_equal(xTaskGetCoreID(b), tskNO_AFFINITY);
    assert_int_equal(uxTaskPriorityGet(a), 7);
    assert_int_equal(uxTaskPriorityGet(b), 3);

    log_capture_begin();
    ASSERT_REFUSED(1, vTaskPrioritySet(a, configMAX_PRIORITIES)); /* the chip's assert aborts */
    assert_non_null(strstr(log_capture_end(), "priority 25 >= configMAX_PRIORITIES: refused"));
    assert_int_equal(uxTaskPriorityGet(a), 7);
    vTaskPrioritySet(a, configMAX_PRIORITIES - 1);
    assert_int_equal(uxTaskPriorityGet(a), configMAX_PRIORITIES - 1);
    vTaskPrioritySet(a, tskIDLE_PRIORITY);
    assert_int_equal(uxTaskPriorityGet(a), 0);

    /* The test's own thread, the process's main thread, is a task too, named "main" as app_main's
     * task on the chip, on its core (CONFIG_ESP_MAIN_TASK_AFFINITY) with a priority of its own. */
    assert_string_equal(pcTaskGetName(NULL), "main");
    assert_ptr_equal(xTaskGetHandle("main"), xTaskGetCurrentTaskHandle());
    assert_int_equal(xTaskGetCoreID(NULL), (BaseType_t)CONFIG_ESP_MAIN_TASK_AFFINITY);
    assert_int_equal(xPortGetCoreID(), CONFIG_ESP_MAIN_TASK_AFFINITY == 1 ? 1 : 0);
    const UBaseType_t mine = uxTaskPriorityGet(NULL);
    vTaskPrioritySet(NULL, 12);
    assert_int_equal(uxTaskPriorityGet(NULL), 12);
    vTaskPrioritySet(NULL, mine);

    vTaskDelete(a);
    vTaskDelete(b);
    assert_true(tasks_become(tasks_at_setup));
}

static void invalid_task_arguments_are_refused_without_a_heap_call(void **state)
{
    (void)state;
    const kraken_sim_stats_t s0 = stats();
    TaskHandle_t t = NULL;
    log_capture_begin();
    const uint64_t refused_before = refused_calls();
    const BaseType_t rc[6] = {
        xTaskCreate(NULL, "x", STACK, NULL, 5, &t),
        xTaskCreate(park, "x", STACK, NULL, configMAX_PRIORITIES, &t),
        xTaskCreatePinnedToCore(park, "x", STACK, NULL, 5, &t, 2),
        xTaskCreatePinnedToCore(park, "x", STACK, NULL, 5, &t, -1),
        xTaskCreatePinnedToCoreWithCaps(park, "x", STACK, NULL, 5, &t, 2, MALLOC_CAP_SPIRAM),
        xTaskCreateWithCaps(NULL, "x", STACK, NULL, 5, &t, MALLOC_CAP_SPIRAM),
    };
    const TaskHandle_t statics[3] = {
        xTaskCreateStatic(NULL, "x", sizeof static_stack, NULL, 5, static_stack, &static_tcb),
        xTaskCreateStatic(park, "x", sizeof static_stack, NULL, 25, static_stack, &static_tcb),
        xTaskCreateStaticPinnedToCore(park, "x", sizeof static_stack, NULL, 5, static_stack,
                                      &static_tcb, 3),
    };
    const char *logged = log_capture_end();
    ASSERT_REFUSED_SINCE(refused_before, 9);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(rc[i], pdFAIL);
    }
    for (int i = 0; i < 3; i++) {
        assert_null(statics[i]);
    }
    assert_non_null(strstr(logged, "xTaskCreatePinnedToCore: no task function: refused"));
    assert_non_null(strstr(logged, "priority >= configMAX_PRIORITIES: refused"));
    assert_non_null(strstr(logged, "no such core: refused"));
    assert_int_equal(stats().allocations, s0.allocations);
    assert_int_equal(stats().failed, s0.failed);
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks_at_setup);

    /* The limits themselves are fine. */
    atomic_int started = 0;
    assert_int_equal(xTaskCreatePinnedToCore(park, "top", STACK, &started, configMAX_PRIORITIES - 1,
                                             &t, 0),
                     pdPASS);
    WAIT_FOR(atomic_load(&started));
    vTaskDelete(t);
    assert_true(tasks_become(tasks_at_setup));
}

static void vtaskdelay_sleeps_its_ticks_and_0_only_yields(void **state)
{
    (void)state;
    int64_t t0 = now_us();
    vTaskDelay(SHORT_WAIT);
    const int64_t slept = now_us() - t0;
    assert_true(slept >= WAIT_MIN_US(SHORT_WAIT));
    assert_true(slept < 10 * TICKS_US(SHORT_WAIT) + 1000000);
    t0 = now_us();
    vTaskDelay(0);
    assert_true(now_us() - t0 < 1000000);
}

/* As on the chip, a wait ends at a tick interrupt: begun between two ticks, a wait of one tick
 * ends at the next tick, in less than a tick period (tried until a start falls between ticks
 * with time to spare; a wait that ran for whole periods from its start would never be shorter). */
static void a_wait_of_one_tick_ends_at_the_next_tick(void **state)
{
    (void)state;
    const int64_t period = TICKS_US(1);
    bool delay_ended_early = false, take_ended_early = false;
    SemaphoreHandle_t sem = xSemaphoreCreateBinary();
    assert_non_null(sem);
    for (int i = 0; i < 20 && !(delay_ended_early && take_ended_early); i++) {
        vTaskDelay(1); /* just after a tick */
        const struct timespec half = {0, (long)(period * 1000 / 2)};
        nanosleep(&half, NULL);
        TickType_t tick = xTaskGetTickCount();
        int64_t t0 = now_us();
        vTaskDelay(1);
        delay_ended_early |= now_us() - t0 < period;
        assert_true(xTaskGetTickCount() - tick >= 1); /* never before the tick */

        vTaskDelay(1);
        nanosleep(&half, NULL);
        tick = xTaskGetTickCount();
        t0 = now_us();
        assert_int_equal(xSemaphoreTake(sem, 1), pdFALSE);
        take_ended_early |= now_us() - t0 < period;
        assert_true(xTaskGetTickCount() - tick >= 1);
    }
    vSemaphoreDelete(sem);
    assert_true(delay_ended_early);
    assert_true(take_ended_early);
}

typedef struct {
    TickType_t ticks;
    atomic_llong slept_us; /* 0: not yet */
} delay_probe_t;

static void delay_and_report(void *arg)
{
    delay_probe_t *p = arg;
    const int64_t t0 = now_us();
    vTaskDelay(p->ticks);
    atomic_store(&p->slept_us, now_us() - t0 + 1); /* + 1: never 0 */
    park(NULL);
}

/* A delay is a delay: notifications to the sleeping task do not cut it short. */
static void a_delay_sleeps_through_notifications(void **state)
{
    (void)state;
    delay_probe_t p = {.ticks = 10 * SHORT_WAIT};
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(delay_and_report, "sleeper", STACK, &p, 5, &task), pdPASS);
    assert_true(becomes_blocked(task));
    assert_int_equal(xTaskNotifyGive(task), pdPASS);
    assert_int_equal(xTaskNotify(task, 1, eSetBits), pdPASS);
    WAIT_FOR(atomic_load(&p.slept_us) != 0);
    assert_true(atomic_load(&p.slept_us) >= WAIT_MIN_US(p.ticks));
    vTaskDelete(task);
    assert_true(tasks_become(tasks_at_setup));
}

static void xtaskdelayuntil_wakes_at_fixed_intervals_and_skips_a_wake_time_past(void **state)
{
    (void)state;
    const TickType_t step = SHORT_WAIT;
    TickType_t previous = xTaskGetTickCount();
    const TickType_t start = previous;
    const int64_t t0 = now_us();
    for (TickType_t i = 1; i <= 3; i++) {
        const BaseType_t rc = xTaskDelayUntil(&previous, step);
        if (i == 1) {
            assert_int_equal(rc, pdTRUE); /* the first wake time lies ahead */
        }
        assert_int_equal(previous, start + i * step);
        assert_true(xTaskGetTickCount() - start >= i * step); /* not before its wake time */
    }
    /* The start was read anywhere in its tick: at least 3 steps less one tick went by. */
    assert_true(now_us() - t0 >= TICKS_US(3 * step - 1) - 1000);

    const TickType_t long_step = LONG_WAIT; /* a wake time 9 long steps ago */
    previous = xTaskGetTickCount() - 10 * long_step;
    const TickType_t late = previous;
    const int64_t t1 = now_us();
    assert_int_equal(xTaskDelayUntil(&previous, long_step), pdFALSE);
    assert_true(now_us() - t1 < TICKS_US(long_step) / 2);
    assert_int_equal(previous, late + long_step); /* advanced all the same */
    assert_int_equal(xTaskDelayUntil(NULL, step), pdFALSE);

    /* Late by most of a step: it sleeps only what is left of it. */
    previous = xTaskGetTickCount() - (long_step - step);
    const TickType_t behind = previous;
    const int64_t t2 = now_us();
    assert_int_equal(xTaskDelayUntil(&previous, long_step), pdTRUE);
    assert_true(now_us() - t2 < TICKS_US(long_step) / 2);
    assert_int_equal(previous, behind + long_step);

    /* A wake time that is now is not ahead: no delay (FreeRTOS: xTimeToWake > the tick count). */
    int checked = 0;
    for (int i = 0; i < 20 && checked < 3; i++) {
        const TickType_t tick = xTaskGetTickCount();
        previous = tick - step;
        const BaseType_t rc = xTaskDelayUntil(&previous, step);
        if (xTaskGetTickCount() == tick) { /* no tick went by meanwhile */
            assert_int_equal(rc, pdFALSE);
            checked++;
        }
    }
    assert_true(checked > 0);
}

/* A timeout of a second or more (fr_deadline carries the seconds once): the wait lasts a second;
 * the deadline of one over two seconds lies that far ahead, less a tick at most (read without
 * waiting, which a loaded machine may stretch: a late wake-up is not a longer timeout). */
static void a_wait_of_a_second_times_out_after_a_second(void **state)
{
    (void)state;
    const TickType_t second = pdMS_TO_TICKS(1000);
    (void)ulTaskNotifyTake(pdTRUE, 0);
    const int64_t t0 = now_us();
    assert_int_equal(ulTaskNotifyTake(pdTRUE, second), 0);
    assert_true(now_us() - t0 >= WAIT_MIN_US(second));
    const TickType_t longer = 2 * second + 1; /* two whole seconds to carry, from any point */
    struct timespec deadline;
    const int64_t before = now_us();
    assert_true(fr_deadline(longer, &deadline));
    const int64_t after = now_us();
    const int64_t at = (int64_t)deadline.tv_sec * 1000000 + deadline.tv_nsec / 1000;
    assert_true(at - before >= WAIT_MIN_US(longer));
    assert_true(at - after <= TICKS_US(longer) + 1);
}

static void the_tick_count_advances_at_the_configured_rate(void **state)
{
    (void)state;
    assert_int_equal(pdMS_TO_TICKS(1000), configTICK_RATE_HZ);
    assert_int_equal(pdTICKS_TO_MS(configTICK_RATE_HZ), 1000);
    assert_int_equal(configTICK_RATE_HZ, CONFIG_FREERTOS_HZ);
    /* The tick count is the simulated time in ticks: read between two tick counts, the time in
     * ticks lies between them. */
    for (int i = 0; i < 20; i++) {
        const TickType_t before = xTaskGetTickCount();
        const TickType_t from_time =
            (TickType_t)(esp_timer_get_time() * configTICK_RATE_HZ / 1000000);
        kraken_sim_isr_enter();
        const TickType_t in_isr = xTaskGetTickCountFromISR();
        kraken_sim_isr_exit();
        assert_in_range(from_time, before, in_isr);
        sleep_ms(1);
    }
    const TickType_t t0 = xTaskGetTickCount();
    sleep_ms(150);
    const TickType_t elapsed = xTaskGetTickCount() - t0;
    assert_true(elapsed + 1 >= (TickType_t)(150 * configTICK_RATE_HZ / 1000));
    assert_true(elapsed <= (TickType_t)(10 * 150 * configTICK_RATE_HZ / 1000 + 1));
}

typedef struct {
    SemaphoreHandle_t m;
    atomic_int started;
    atomic_int after;
} blocked_probe_t;

static void sleep_long(void *arg)
{
    blocked_probe_t *p = arg;
    atomic_store(&p->started, 1);
    vTaskDelay(portMAX_DELAY); /* 0xffffffff ticks, as FreeRTOS counts them: for ever here */
    atomic_store(&p->after, 1);
    park(NULL);
}

static void wait_for_the_mutex(void *arg)
{
    blocked_probe_t *p = arg;
    atomic_store(&p->started, 1);
    (void)xSemaphoreTake(p->m, portMAX_DELAY);
    atomic_store(&p->after, 1);
    park(NULL);
}

/* Deleting another task frees its memory at once; its thread ends in the call it waits in (well
 * before that wait's end) and never runs its code again; what it waited on can then be deleted. */
static void deleting_a_task_blocked_in_a_wait_ends_it_and_frees_its_memory_at_once(void **state)
{
    (void)state;
    const size_t empty = internal_free();
    queue_probe_t receiver = {.q = xQueueCreate(1, sizeof(uint32_t))};
    blocked_probe_t sleeper = {0}, taker = {.m = xSemaphoreCreateMutex()};
    assert_true(receiver.q && taker.m);
    assert_int_equal(xSemaphoreTake(taker.m, 0), pdTRUE);
    const size_t objects = internal_free();
    TaskHandle_t r = NULL, s = NULL, t = NULL;
    assert_int_equal(xTaskCreate(receive_once, "receiver", STACK, &receiver, 5, &r), pdPASS);
    assert_int_equal(xTaskCreate(sleep_long, "sleeper", STACK, &sleeper, 5, &s), pdPASS);
    assert_int_equal(xTaskCreate(wait_for_the_mutex, "taker", STACK, &taker, 5, &t), pdPASS);
    assert_true(becomes_blocked(r) && becomes_blocked(s) && becomes_blocked(t));
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks_at_setup + 3);

    const int64_t t0 = now_us();
    vTaskDelete(r);
    vTaskDelete(s);
    vTaskDelete(t);
    assert_int_equal(internal_free(), objects); /* stacks and TCBs back at once */
    assert_true(tasks_become(tasks_at_setup));
    assert_true(now_us() - t0 < TICKS_US(LONG_WAIT) / 2);
    assert_false(atomic_load(&receiver.after));
    assert_false(atomic_load(&sleeper.after));
    assert_false(atomic_load(&taker.after));
    assert_int_equal(xSemaphoreGive(taker.m), pdTRUE);
    vQueueDelete(receiver.q);
    vSemaphoreDelete(taker.m);
    assert_int_equal(internal_free(), empty);
}

/* The handle is written before the task runs, as on the chip: a task may read it at once. */
static TaskHandle_t created_handle;
static atomic_uintptr_t handle_seen_by_task;

static void read_own_handle(void *arg)
{
    atomic_store(&handle_seen_by_task, (uintptr_t)created_handle);
    park(arg);
}

static void the_handle_is_set_before_the_new_task_runs(void **state)
{
    (void)state;
    for (int round = 0; round < 50; round++) {
        atomic_int started = 0;
        created_handle = NULL;
        atomic_store(&handle_seen_by_task, 1);
        assert_int_equal(xTaskCreate(read_own_handle, "reader", STACK, &started, 5,
                                     &created_handle), pdPASS);
        WAIT_FOR(atomic_load(&started));
        assert_int_equal(atomic_load(&handle_seen_by_task), (uintptr_t)created_handle);
        vTaskDelete(created_handle);
        assert_true(tasks_become(tasks_at_setup));
    }
}

/* As on the chip, a deleted task is no longer counted, even while its host thread runs on. */
static void a_running_task_deleted_by_another_is_no_longer_counted(void **state)
{
    (void)state;
    atomic_int started = 0;
    TaskHandle_t t = NULL;
    assert_int_equal(xTaskCreate(park, "parked", STACK, &started, 5, &t), pdPASS);
    WAIT_FOR(atomic_load(&started));
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks_at_setup + 1);
    vTaskDelete(t);
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks_at_setup);
    sleep_ms(20); /* its thread ends: the count does not drop twice */
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks_at_setup);
}

static void spin_then_delay(void *arg)
{
    atomic_int *go = arg;
    atomic_store(go, 1);
    while (atomic_load(go) == 1) { /* no call into FreeRTOS: its record stays */
    }
    vTaskDelay(1); /* deleted: it ends here */
}

/* FreeRTOS's eDeleted: deleted, its TCB not yet freed (here: its thread has not ended yet). */
static void a_deleted_task_still_running_reads_as_deleted(void **state)
{
    (void)state;
    /* static: the deleted task's thread ends without a join, after its last read of it */
    static atomic_int go;
    atomic_store(&go, 0);
    TaskHandle_t t = NULL;
    assert_int_equal(xTaskCreate(spin_then_delay, "spinner", STACK, &go, 5, &t), pdPASS);
    WAIT_FOR(atomic_load(&go) == 1);
    vTaskDelete(t);
    assert_int_equal(eTaskGetState(t), eDeleted);
    atomic_store(&go, 2);
    assert_true(tasks_become(tasks_at_setup));
}

/* A peek takes nothing: a mutex stays free and has no holder. */
static void peeking_at_a_mutex_does_not_take_it(void **state)
{
    (void)state;
    SemaphoreHandle_t m = xSemaphoreCreateMutex();
    assert_non_null(m);
    assert_int_equal(xQueuePeek(m, NULL, 0), pdPASS);
    assert_null(xSemaphoreGetMutexHolder(m));
    assert_int_equal(uxSemaphoreGetCount(m), 1);
    assert_int_equal(xSemaphoreTake(m, 0), pdTRUE);
    assert_ptr_equal(xSemaphoreGetMutexHolder(m), xTaskGetCurrentTaskHandle());
    assert_int_equal(xSemaphoreGive(m), pdTRUE);
    vSemaphoreDelete(m);
}

/* As on the chip, where vTaskDelete() takes the task off the queue's waiting list before it
 * returns: the queue may be deleted right after (it was refused, "tasks wait on it", until the
 * deleted task's thread had woken, and leaked). */
static void a_queue_may_be_deleted_right_after_the_task_waiting_on_it(void **state)
{
    (void)state;
    const size_t before = internal_free();
    for (int round = 0; round < 20; round++) {
        queue_probe_t receiver = {.q = xQueueCreate(1, sizeof(uint32_t))};
        assert_non_null(receiver.q);
        TaskHandle_t r = NULL;
        assert_int_equal(xTaskCreate(receive_once, "receiver", STACK, &receiver, 5, &r), pdPASS);
        assert_true(becomes_blocked(r)); /* in its wait: a delete before it is another case */
        log_capture_begin();
        vTaskDelete(r);
        vQueueDelete(receiver.q);
        const char *logged = log_capture_end();
        assert_true(logged[0] == '\0');
        assert_int_equal(internal_free(), before); /* the queue, stack and TCB, at once */
        assert_true(tasks_become(tasks_at_setup));
    }
}

static void suspend_the_scheduler_and_delete_itself(void *unused)
{
    (void)unused;
    vTaskSuspendAll();
    vTaskDelete(NULL);
}

/* The chip asserts (a task may not block or switch with the scheduler suspended); the host
 * deletes it, logs and counts it. */
static void a_task_deleting_itself_with_the_scheduler_suspended_is_logged_and_counted(void **state)
{
    (void)state;
    log_capture_begin();
    const uint64_t refused_before = refused_calls();
    assert_int_equal(
        xTaskCreate(suspend_the_scheduler_and_delete_itself, "suspender", STACK, NULL, 5, NULL),
        pdPASS);
    const bool ended = tasks_become(tasks_at_setup);
    const char *logged = log_capture_end();
    assert_true(ended);
    ASSERT_REFUSED_SINCE(refused_before, 1);
    assert_non_null(strstr(logged, "vTaskDelete(NULL) with the scheduler suspended"));
}

static void a_task_function_that_returns_is_logged_and_deleted(void **state)
{
    (void)state;
    const size_t before = internal_free();
    atomic_int ran = 0;
    log_capture_begin();
    const uint64_t refused_before = refused_calls();
    assert_int_equal(xTaskCreate(say_so_and_return, "returner", STACK, &ran, 5, NULL), pdPASS);
    const bool ended = tasks_become(tasks_at_setup);
    ASSERT_REFUSED_SINCE(refused_before, 1); /* deleted all the same: counted as a misuse */
    const char *logged = log_capture_end();
    assert_true(ended);
    assert_true(atomic_load(&ran));
    assert_non_null(strstr(logged, "E ("));
    assert_non_null(strstr(logged, "task \"returner\" returned from its function: deleted"));
    assert_int_equal(internal_free(), before);
}

/* ---- suspension ------------------------------------------------------------------------------ */

typedef struct {
    atomic_int before, after; /* around its vTaskSuspend(NULL) */
    bool wait_first;          /* take a notification before suspending */
} suspender_t;

/* Suspends itself once, then parks. */
static void suspend_myself(void *arg)
{
    suspender_t *s = arg;
    if (s->wait_first) {
        (void)ulTaskNotifyTake(pdTRUE, portMAX_DELAY);
    }
    atomic_store(&s->before, 1);
    vTaskSuspend(NULL);
    atomic_store(&s->after, 1);
    park(NULL);
}

static void a_task_suspended_by_itself_sleeps_through_notifications_until_resumed(void **state)
{
    (void)state;
    suspender_t s = {0};
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(suspend_myself, "sleeper", STACK, &s, 5, &task), pdPASS);
    WAIT_FOR(eTaskGetState(task) == eSuspended);
    assert_int_equal(eTaskGetState(task), eSuspended);
    assert_true(atomic_load(&s.before));
    xTaskNotifyGive(task); /* kept pending, does not wake it */
    sleep_ms(30);
    assert_false(atomic_load(&s.after));
    assert_int_equal(eTaskGetState(task), eSuspended);

    vTaskResume(task);
    WAIT_FOR(atomic_load(&s.after));
    assert_true(atomic_load(&s.after));
    WAIT_FOR(eTaskGetState(task) == eBlocked); /* parked, after taking the pending notification */
    assert_int_equal(eTaskGetState(task), eBlocked);
    assert_int_equal(eTaskGetState(xTaskGetCurrentTaskHandle()), eRunning);
    vTaskDelete(task);
    assert_true(tasks_become(tasks_at_setup));
}

static void a_resume_before_the_suspend_is_lost_as_in_freertos(void **state)
{
    (void)state;
    suspender_t s = {.wait_first = true};
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(suspend_myself, "late", STACK, &s, 5, &task), pdPASS);
    WAIT_FOR(eTaskGetState(task) == eBlocked);
    vTaskResume(task); /* not suspended: nothing */
    kraken_sim_isr_enter();
    assert_int_equal(xTaskResumeFromISR(task), pdFALSE);
    kraken_sim_isr_exit();
    xTaskNotifyGive(task);
    WAIT_FOR(eTaskGetState(task) == eSuspended);
    assert_int_equal(eTaskGetState(task), eSuspended);
    sleep_ms(30);
    assert_false(atomic_load(&s.after));

    kraken_sim_isr_enter();
    assert_int_equal(xTaskResumeFromISR(task), pdTRUE);
    kraken_sim_isr_exit();
    WAIT_FOR(atomic_load(&s.after));
    assert_true(atomic_load(&s.after));
    vTaskDelete(task);
    assert_true(tasks_become(tasks_at_setup));
}

static void a_suspended_task_can_be_deleted_and_its_memory_comes_back(void **state)
{
    (void)state;
    const size_t before = internal_free();
    suspender_t s = {0};
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(suspend_myself, "gone", STACK, &s, 5, &task), pdPASS);
    WAIT_FOR(eTaskGetState(task) == eSuspended);
    vTaskDelete(task);
    assert_true(tasks_become(tasks_at_setup));
    assert_false(atomic_load(&s.after));
    assert_int_equal(internal_free(), before);
}

static void suspending_another_task_or_in_an_isr_is_refused_and_logged(void **state)
{
    (void)state;
    atomic_int started = 0;
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(park, "other", STACK, &started, 5, &task), pdPASS);
    assert_true(becomes_blocked(task));
    log_capture_begin();
    const uint64_t waits = stats().refused_waits;
    ASSERT_NOT_REFUSED(vTaskSuspend(task)); /* the host's limit, no misuse */
    kraken_sim_isr_enter();
    ASSERT_NOT_REFUSED(vTaskSuspend(NULL)); /* a wait: refused_waits */
    ASSERT_REFUSED(1, vTaskSuspend(task));
    kraken_sim_isr_exit();
    assert_int_equal(stats().refused_waits, waits + 1);
    ASSERT_REFUSED(1, assert_int_equal(eTaskGetState(NULL), eInvalid));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "vTaskSuspend: another task: refused (not simulated"));
    assert_non_null(strstr(logged, "vTaskSuspend: in an ISR: refused (the chip asserts)"));
    assert_non_null(strstr(logged, "vTaskSuspend(NULL): a wait without end (portMAX_DELAY) in an "
                                   "ISR: refused"));
    assert_non_null(strstr(logged, "eTaskGetState: no task: refused"));
    assert_int_equal(eTaskGetState(task), eBlocked); /* still parked, not suspended */
    vTaskDelete(task);
    assert_true(tasks_become(tasks_at_setup));
}

/* A task suspending itself waits without end: where the chip asserts on a wait (in an ISR, inside a
 * critical section, with the scheduler suspended) it is refused as a wait, counted in
 * refused_waits and not in refused_calls, as xQueueReceive(q, &item, portMAX_DELAY) would be. */
static void suspending_itself_is_refused_as_a_wait_where_the_chip_cannot_wait(void **state)
{
    (void)state;
    portMUX_TYPE mux = portMUX_INITIALIZER_UNLOCKED;
    log_capture_begin();
    uint64_t waits = stats().refused_waits;
    kraken_sim_isr_enter();
    ASSERT_NOT_REFUSED(vTaskSuspend(NULL));
    kraken_sim_isr_exit();
    assert_int_equal(stats().refused_waits, ++waits);
    portENTER_CRITICAL(&mux);
    ASSERT_NOT_REFUSED(vTaskSuspend(xTaskGetCurrentTaskHandle())); /* its own handle: the same */
    portEXIT_CRITICAL(&mux);
    assert_int_equal(stats().refused_waits, ++waits);
    vTaskSuspendAll();
    ASSERT_NOT_REFUSED(vTaskSuspend(NULL));
    assert_int_equal(xTaskResumeAll(), pdFALSE);
    assert_int_equal(stats().refused_waits, ++waits);
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "vTaskSuspend(NULL): a wait without end (portMAX_DELAY) in an "
                                   "ISR: refused"));
    assert_non_null(strstr(logged, "vTaskSuspend(NULL): a wait without end (portMAX_DELAY) inside "
                                   "a critical section: refused"));
    assert_non_null(strstr(logged, "vTaskSuspend(NULL): a wait without end (portMAX_DELAY) with "
                                   "the scheduler suspended (vTaskSuspendAll): refused"));
}

/* ---- notifications --------------------------------------------------------------------------- */

typedef struct {
    atomic_int started;
    atomic_int result; /* result + 10 */
    atomic_uint value;
} notify_probe_t;

static void take_a_notification(void *arg)
{
    notify_probe_t *p = arg;
    atomic_store(&p->started, 1);
    const uint32_t v = ulTaskNotifyTake(pdTRUE, LONG_WAIT);
    atomic_store(&p->value, v);
    atomic_store(&p->result, 10);
    park(NULL);
}

static void wait_for_a_notification(void *arg)
{
    notify_probe_t *p = arg;
    atomic_store(&p->started, 1);
    uint32_t v = 0;
    const BaseType_t rc = xTaskNotifyWait(0, UINT32_MAX, &v, LONG_WAIT);
    atomic_store(&p->value, v);
    atomic_store(&p->result, rc + 10);
    park(NULL);
}

static void notify_give_counts_and_take_decrements_or_clears(void **state)
{
    (void)state;
    TaskHandle_t me = xTaskGetCurrentTaskHandle();
    (void)ulTaskNotifyTake(pdTRUE, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(xTaskNotifyGive(me), pdPASS);
    }
    assert_int_equal(ulTaskNotifyTake(pdFALSE, 0), 3);
    assert_int_equal(ulTaskNotifyTake(pdFALSE, 0), 2);
    assert_int_equal(ulTaskNotifyTake(pdTRUE, 0), 1);
    assert_int_equal(ulTaskNotifyTake(pdTRUE, 0), 0);
    assert_int_equal(xTaskNotifyGive(me), pdPASS);
    assert_int_equal(xTaskNotifyGive(me), pdPASS);
    assert_int_equal(ulTaskNotifyTake(pdTRUE, 0), 2);
    assert_int_equal(ulTaskNotifyTake(pdFALSE, 0), 0); /* cleared on exit */

    const int64_t t0 = now_us();
    assert_int_equal(ulTaskNotifyTake(pdTRUE, SHORT_WAIT), 0);
    assert_true(now_us() - t0 >= WAIT_MIN_US(SHORT_WAIT));
    /* A notification before the call that leaves the count at 0 does not end its wait. */
    assert_int_equal(xTaskNotify(me, 0, eNoAction), pdPASS);
    const int64_t t1 = now_us();
    assert_int_equal(ulTaskNotifyTake(pdTRUE, SHORT_WAIT), 0);
    assert_true(now_us() - t1 >= WAIT_MIN_US(SHORT_WAIT));

    notify_probe_t p = {0};
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(take_a_notification, "taker", STACK, &p, 5, &task), pdPASS);
    assert_true(becomes_blocked(task));
    assert_int_equal(atomic_load(&p.result), 0);
    assert_int_equal(xTaskNotifyGive(task), pdPASS);
    WAIT_FOR(atomic_load(&p.result) != 0);
    assert_int_equal(atomic_load(&p.value), 1);
    vTaskDelete(task);
    assert_true(tasks_become(tasks_at_setup));
}

static void xtasknotify_actions_set_bits_increment_overwrite_or_refuse_to(void **state)
{
    (void)state;
    TaskHandle_t me = xTaskGetCurrentTaskHandle();
    uint32_t v = 0;
    (void)xTaskNotifyWait(UINT32_MAX, UINT32_MAX, NULL, 0); /* nothing pending, value 0 */
    assert_int_equal(xTaskNotify(me, 0x1, eSetBits), pdPASS);
    assert_int_equal(xTaskNotify(me, 0x4, eSetBits), pdPASS);
    assert_int_equal(xTaskNotifyWait(0, 0, &v, 0), pdTRUE);
    assert_int_equal(v, 0x5);
    assert_int_equal(xTaskNotify(me, 0, eIncrement), pdPASS);
    assert_int_equal(xTaskNotify(me, 0, eIncrement), pdPASS);
    assert_int_equal(xTaskNotifyWait(0, 0, &v, 0), pdTRUE);
    assert_int_equal(v, 0x7);
    assert_int_equal(xTaskNotify(me, 100, eSetValueWithOverwrite), pdPASS);
    assert_int_equal(xTaskNotify(me, 101, eSetValueWithOverwrite), pdPASS); /* pending: replaced */
    assert_int_equal(xTaskNotifyWait(0, 0, &v, 0), pdTRUE);
    assert_int_equal(v, 101);
    assert_int_equal(xTaskNotify(me, 200, eSetValueWithoutOverwrite), pdPASS); /* none pending */
    assert_int_equal(xTaskNotify(me, 300, eSetValueWithoutOverwrite), pdFAIL); /* one pending */
    assert_int_equal(xTaskNotifyWait(0, 0, &v, 0), pdTRUE);
    assert_int_equal(v, 200);
    assert_int_equal(xTaskNotify(me, 999, eNoAction), pdPASS); /* a notification, same value */
    assert_int_equal(xTaskNotifyWait(0, 0, &v, 0), pdTRUE);
    assert_int_equal(v, 200);
    assert_int_equal(xTaskNotifyWait(0, 0, &v, 0), pdFALSE); /* consumed */
}

static void xtasknotifywait_clears_bits_on_entry_and_exit_and_times_out(void **state)
{
    (void)state;
    TaskHandle_t me = xTaskGetCurrentTaskHandle();
    uint32_t v = 0;
    assert_int_equal(xTaskNotify(me, 0xFF, eSetValueWithOverwrite), pdPASS);
    assert_int_equal(xTaskNotifyWait(0x0F, 0, &v, 0), pdTRUE); /* pending: entry bits stay */
    assert_int_equal(v, 0xFF);
    assert_int_equal(xTaskNotifyWait(0x0F, 0, &v, 0), pdFALSE); /* none: entry bits go */
    assert_int_equal(v, 0xF0);
    assert_int_equal(xTaskNotify(me, 0x100, eSetBits), pdPASS);
    assert_int_equal(xTaskNotifyWait(0, 0x110, &v, 0), pdTRUE);
    assert_int_equal(v, 0x1F0); /* the value before the exit bits went */
    assert_int_equal(xTaskNotifyWait(0, 0, &v, 0), pdFALSE);
    assert_int_equal(v, 0xE0);
    assert_int_equal(xTaskNotifyWait(0, UINT32_MAX, &v, 0), pdFALSE); /* none: exit bits stay */
    assert_int_equal(xTaskNotifyWait(0, 0, &v, 0), pdFALSE);
    assert_int_equal(v, 0xE0);
    assert_int_equal(xTaskNotifyWait(UINT32_MAX, 0, &v, 0), pdFALSE);
    assert_int_equal(v, 0);

    const int64_t t0 = now_us();
    assert_int_equal(xTaskNotifyWait(0, 0, &v, SHORT_WAIT), pdFALSE);
    const int64_t waited = now_us() - t0;
    assert_true(waited >= WAIT_MIN_US(SHORT_WAIT));
    assert_true(waited < 10 * TICKS_US(SHORT_WAIT) + 1000000);

    notify_probe_t p = {0};
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(wait_for_a_notification, "waiter", STACK, &p, 5, &task), pdPASS);
    assert_true(becomes_blocked(task));
    assert_int_equal(atomic_load(&p.result), 0);
    assert_int_equal(xTaskNotify(task, 0xABC, eSetBits), pdPASS);
    WAIT_FOR(atomic_load(&p.result) != 0);
    assert_int_equal(atomic_load(&p.result), pdTRUE + 10);
    assert_int_equal(atomic_load(&p.value), 0xABC);
    vTaskDelete(task);
    assert_true(tasks_become(tasks_at_setup));
}

static void take_notifications_forever(void *arg)
{
    sink_t *s = arg;
    for (;;) {
        if (ulTaskNotifyTake(pdTRUE, portMAX_DELAY) != 0) {
            atomic_fetch_add(&s->count, 1);
        }
    }
}

static void notifications_from_an_isr_report_a_task_they_woke(void **state)
{
    (void)state;
    TaskHandle_t me = xTaskGetCurrentTaskHandle();
    (void)xTaskNotifyWait(UINT32_MAX, UINT32_MAX, NULL, 0); /* nothing pending, value 0 */
    BaseType_t woken = pdFALSE, rc[2];
    kraken_sim_isr_enter();
    rc[0] = xTaskNotifyFromISR(me, 5, eSetValueWithoutOverwrite, &woken);
    rc[1] = xTaskNotifyFromISR(me, 6, eSetValueWithoutOverwrite, &woken);
    vTaskNotifyGiveFromISR(me, NULL);
    kraken_sim_isr_exit();
    assert_int_equal(rc[0], pdPASS);
    assert_int_equal(rc[1], pdFAIL);
    assert_int_equal(woken, pdFALSE); /* the test's thread was not waiting */
    assert_int_equal(ulTaskNotifyTake(pdTRUE, 0), 6);

    sink_t s = {0};
    TaskHandle_t task = NULL;
    assert_int_equal(xTaskCreate(take_notifications_forever, "taker", STACK, &s, 5, &task), pdPASS);
    for (int round = 0; round < 3; round++) {
        assert_true(becomes_blocked(task)); /* in its take: the give wakes it */
        woken = pdFALSE;
        kraken_sim_isr_enter();
        vTaskNotifyGiveFromISR(task, &woken);
        kraken_sim_isr_exit();
        assert_int_equal(woken, pdTRUE);
        WAIT_FOR(atomic_load(&s.count) == round + 1);
        assert_int_equal(atomic_load(&s.count), round + 1);
    }
    assert_true(becomes_blocked(task));
    vTaskDelete(task);
    assert_true(tasks_become(tasks_at_setup));
}

/* ---- critical sections ----------------------------------------------------------------------- */

typedef struct {
    portMUX_TYPE *mux;
    atomic_int entered;
} contender_t;

static void *enter_and_leave(void *arg)
{
    contender_t *c = arg;
    portENTER_CRITICAL(c->mux);
    atomic_store(&c->entered, 1);
    portEXIT_CRITICAL(c->mux);
    return NULL;
}

static void *leave_without_entering(void *mux)
{
    portEXIT_CRITICAL((portMUX_TYPE *)mux);
    return NULL;
}

static void a_critical_section_nests_for_its_holder_and_excludes_other_threads(void **state)
{
    (void)state;
    portMUX_TYPE mux = portMUX_INITIALIZER_UNLOCKED;
    contender_t c = {.mux = &mux};
    portENTER_CRITICAL(&mux);
    taskENTER_CRITICAL(&mux); /* again by its holder: nests */
    assert_int_equal(mux.count, 2);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, enter_and_leave, &c), 0);
    sleep_ms(30);
    assert_int_equal(atomic_load(&c.entered), 0);
    taskEXIT_CRITICAL(&mux);
    sleep_ms(30);
    assert_int_equal(atomic_load(&c.entered), 0); /* held once still */
    portEXIT_CRITICAL(&mux);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(atomic_load(&c.entered), 1);
    assert_int_equal(__atomic_load_n(&mux.owner, __ATOMIC_ACQUIRE), 0);

    portMUX_TYPE other;
    portMUX_INITIALIZE(&other);
    portENTER_CRITICAL_ISR(&other);
    portEXIT_CRITICAL_ISR(&other);
    portENTER_CRITICAL_SAFE(&other);
    portEXIT_CRITICAL_SAFE(&other);
    assert_int_equal(__atomic_load_n(&other.owner, __ATOMIC_ACQUIRE), 0);
}

static void leaving_a_critical_section_not_held_is_refused_and_logged(void **state)
{
    (void)state;
    portMUX_TYPE mux = portMUX_INITIALIZER_UNLOCKED;
    portENTER_CRITICAL(&mux);
    log_capture_begin();
    pthread_t thread;
    ASSERT_REFUSED(1, assert_int_equal(pthread_create(&thread, NULL, leave_without_entering, &mux),
                                       0),
                   assert_int_equal(pthread_join(thread, NULL), 0));
    const char *logged = log_capture_end();
    assert_non_null(strstr(logged, "by a task that does not hold it: refused"));
    assert_int_equal(mux.count, 1); /* still the test's */
    assert_true(__atomic_load_n(&mux.owner, __ATOMIC_ACQUIRE) != 0);
    contender_t c = {.mux = &mux};
    assert_int_equal(pthread_create(&thread, NULL, enter_and_leave, &c), 0);
    sleep_ms(30);
    assert_int_equal(atomic_load(&c.entered), 0);
    portEXIT_CRITICAL(&mux);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(atomic_load(&c.entered), 1);

    log_capture_begin();
    ASSERT_REFUSED(1, portEXIT_CRITICAL(&mux)); /* by the test's thread, free now */
    logged = log_capture_end();
    assert_non_null(strstr(logged, "by a task that does not hold it: refused"));
    assert_int_equal(mux.count, 0);
    assert_int_equal(__atomic_load_n(&mux.owner, __ATOMIC_ACQUIRE), 0);
    contender_t again = {.mux = &mux};
    assert_null(enter_and_leave(&again)); /* usable as before */
    assert_int_equal(atomic_load(&again.entered), 1);
}

#define COUNTER_THREADS 4
#define COUNTER_ROUNDS 50000

static portMUX_TYPE counter_mux = portMUX_INITIALIZER_UNLOCKED;
static unsigned long counter; /* plain: only the spinlock protects it (TSan checks that too) */

static void *count_under_the_spinlock(void *unused)
{
    (void)unused;
    for (int i = 0; i < COUNTER_ROUNDS; i++) {
        portENTER_CRITICAL(&counter_mux);
        if (i % 16 == 0) {
            portENTER_CRITICAL(&counter_mux); /* nested now and then */
            counter++;
            portEXIT_CRITICAL(&counter_mux);
        } else {
            counter++;
        }
        portEXIT_CRITICAL(&counter_mux);
    }
    return NULL;
}

static void four_threads_counting_under_one_spinlock_lose_no_increment(void **state)
{
    (void)state;
    spinlock_initialize(&counter_mux);
    counter = 0;
    pthread_t threads[COUNTER_THREADS];
    for (int i = 0; i < COUNTER_THREADS; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, count_under_the_spinlock, NULL), 0);
    }
    for (int i = 0; i < COUNTER_THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    }
    assert_int_equal(counter, (unsigned long)COUNTER_THREADS * COUNTER_ROUNDS);
    assert_int_equal(__atomic_load_n(&counter_mux.owner, __ATOMIC_ACQUIRE), 0);
}

/* ---- many producers, many consumers ---------------------------------------------------------- */

#define PRODUCERS 4
#define CONSUMERS 2
#define ITEMS 20000u
#define STOP UINT32_MAX
#define STRESS_WAIT ((TickType_t)(pdMS_TO_TICKS(60000) > 0 ? pdMS_TO_TICKS(60000) : 1))

typedef struct {
    uint64_t sum;
    uint32_t count, out_of_order, malformed, timeouts;
} consumer_result_t;

typedef struct {
    QueueHandle_t q;
    SemaphoreHandle_t done; /* one give per task at its end */
    atomic_uint send_failures;
    consumer_result_t results[CONSUMERS];
} stress_t;

typedef struct {
    stress_t *stress;
    uint32_t id;
} worker_t;

static atomic_uchar delivered[PRODUCERS][ITEMS];

static void produce(void *arg)
{
    const worker_t *w = arg;
    for (uint32_t i = 0; i < ITEMS; i++) {
        const uint32_t item = w->id << 24 | i;
        if (xQueueSend(w->stress->q, &item, STRESS_WAIT) != pdPASS) {
            atomic_fetch_add(&w->stress->send_failures, 1);
        }
    }
    xSemaphoreGive(w->stress->done);
    vTaskDelete(NULL);
}

static void consume(void *arg)
{
    const worker_t *w = arg;
    consumer_result_t r = {0};
    int64_t last[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++) {
        last[p] = -1;
    }
    for (;;) {
        uint32_t item;
        if (xQueueReceive(w->stress->q, &item, STRESS_WAIT) != pdPASS) {
            r.timeouts++;
            break;
        }
        if (item == STOP) {
            break;
        }
        const uint32_t producer = item >> 24, seq = item & 0xFFFFFFu;
        if (producer >= PRODUCERS || seq >= ITEMS) {
            r.malformed++;
            continue;
        }
        if ((int64_t)seq <= last[producer]) {
            r.out_of_order++; /* each producer's items come in its order */
        }
        last[producer] = seq;
        atomic_fetch_add_explicit(&delivered[producer][seq], 1, memory_order_relaxed);
        r.sum += seq;
        r.count++;
    }
    w->stress->results[w->id] = r;
    xSemaphoreGive(w->stress->done);
    vTaskDelete(NULL);
}

static void four_producers_and_two_consumers_pass_every_item_once_in_order(void **state)
{
    (void)state;
    memset(delivered, 0, sizeof delivered);
    static stress_t stress; /* static: a failed wait must not leave the workers a dead stack */
    stress = (stress_t){.q = xQueueCreate(16, sizeof(uint32_t)),
                       .done = xSemaphoreCreateCounting(PRODUCERS + CONSUMERS, 0)};
    assert_true(stress.q && stress.done);
    worker_t consumers[CONSUMERS], producers[PRODUCERS];
    for (uint32_t i = 0; i < CONSUMERS; i++) {
        consumers[i] = (worker_t){.stress = &stress, .id = i};
        assert_int_equal(xTaskCreate(consume, "consumer", STACK, &consumers[i], 5, NULL), pdPASS);
    }
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        producers[i] = (worker_t){.stress = &stress, .id = i};
        assert_int_equal(xTaskCreatePinnedToCore(produce, "producer", STACK, &producers[i], 5,
                                                 NULL, (BaseType_t)(i % 2)),
                         pdPASS);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        assert_int_equal(xSemaphoreTake(stress.done, STRESS_WAIT), pdTRUE);
    }
    const uint32_t stop = STOP;
    for (int i = 0; i < CONSUMERS; i++) { /* after every item: FIFO */
        assert_int_equal(xQueueSend(stress.q, &stop, STRESS_WAIT), pdPASS);
    }
    for (int i = 0; i < CONSUMERS; i++) {
        assert_int_equal(xSemaphoreTake(stress.done, STRESS_WAIT), pdTRUE);
    }
    assert_true(tasks_become(tasks_at_setup));

    assert_int_equal(atomic_load(&stress.send_failures), 0);
    uint64_t sum = 0, count = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        const consumer_result_t *r = &stress.results[i];
        assert_int_equal(r->timeouts, 0);
        assert_int_equal(r->malformed, 0);
        assert_int_equal(r->out_of_order, 0);
        sum += r->sum;
        count += r->count;
    }
    assert_int_equal(count, (uint64_t)PRODUCERS * ITEMS);
    assert_int_equal(sum, (uint64_t)PRODUCERS * ITEMS * (ITEMS - 1) / 2);
    for (int p = 0; p < PRODUCERS; p++) {
        for (uint32_t i = 0; i < ITEMS; i++) {
            if (atomic_load(&delivered[p][i]) != 1) {
                print_error("item %u of producer %d delivered %u times\n", i, p,
                            (unsigned)atomic_load(&delivered[p][i]));
                fail();
            }
        }
    }
    assert_int_equal(uxQueueMessagesWaiting(stress.q), 0);
    vQueueDelete(stress.q);
    vSemaphoreDelete(stress.done);
}

/* ---- static buffers: where the chip accepts them, and what they give back --------------------- */

RTC_DATA_ATTR static StaticTask_t rtc_slow_tcb; /* internal, not byte-accessible */
EXT_RAM_BSS_ATTR static StaticTask_t ext_tcb;  /* PSRAM with the BSS option */
EXT_RAM_BSS_ATTR static uint8_t ext_stack[STACK];

static void a_tcb_or_stack_the_chip_asserts_on_is_refused(void **state)
{
    (void)state;
    const kraken_sim_stats_t s0 = stats();
    log_capture_begin();
    ASSERT_REFUSED(1, assert_null(xTaskCreateStatic(park, "x", STACK, NULL, 5, static_stack,
                                                    &rtc_slow_tcb)));
    assert_non_null(strstr(log_capture_end(), "xTaskCreateStaticPinnedToCore: the task's TCB buffer"));
    StaticTask_t *psram_tcb = heap_caps_malloc(sizeof(StaticTask_t), MALLOC_CAP_SPIRAM);
    uint8_t *psram_stack = heap_caps_malloc(STACK, MALLOC_CAP_SPIRAM);
    assert_non_null(psram_tcb);
    assert_non_null(psram_stack);
    log_capture_begin();
    ASSERT_REFUSED(1, assert_null(xTaskCreateStatic(park, "x", STACK, NULL, 5, static_stack,
                                                    psram_tcb)));
    const char *log = log_capture_end();
    assert_non_null(strstr(log, "TCB buffer"));
    assert_non_null(strstr(log, "in PSRAM: refused (the chip asserts: "
                                "configASSERT(portVALID_TCB_MEM(...)))"));
    if (esp_ptr_external_ram(&ext_tcb)) { /* CONFIG_SPIRAM_ALLOW_BSS_SEG_EXTERNAL_MEMORY */
        ASSERT_REFUSED(1, assert_null(xTaskCreateStatic(park, "x", STACK, NULL, 5, static_stack,
                                                        &ext_tcb)));
    }
    assert_int_equal(uxTaskGetNumberOfTasks(), tasks_at_setup);

    /* A PSRAM stack: accepted with CONFIG_FREERTOS_TASK_CREATE_ALLOW_EXT_MEM (ESP-IDF's S3
     * default), refused without, xTaskCreateWithCaps() too (it creates a static task). */
    log_capture_begin();
    const unsigned refused = KRAKEN_SIM_TASK_STACK_IN_PSRAM ? 0 : 1;
    TaskHandle_t t = NULL, caps = NULL;
    BaseType_t caps_rc = pdFAIL;
    ASSERT_REFUSED(refused,
                   t = xTaskCreateStatic(park, "x", STACK, NULL, 5, psram_stack, &static_tcb));
    ASSERT_REFUSED(refused, caps_rc = xTaskCreateWithCaps(park, "caps", STACK, NULL, 5, &caps,
                                                          MALLOC_CAP_SPIRAM));
    log = log_capture_end();
#if KRAKEN_SIM_TASK_STACK_IN_PSRAM
    assert_non_null(t);
    assert_int_equal(caps_rc, pdPASS);
    vTaskDelete(t);
    vTaskDeleteWithCaps(caps);
#else
    assert_null(t);
    assert_int_equal(caps_rc, pdFAIL);
    assert_null(caps);
    assert_non_null(strstr(log, "xTaskCreateStaticPinnedToCore: the task's stack"));
    assert_non_null(strstr(log, "xTaskCreatePinnedToCoreWithCaps: the task's stack"));
    assert_non_null(strstr(log, "portVALID_STACK_MEM"));
#endif
    (void)log;
    if (esp_ptr_external_ram(ext_stack)) { /* same rule for a PSRAM static */
        ASSERT_REFUSED(refused,
                       t = xTaskCreateStatic(park, "x", STACK, NULL, 5, ext_stack, &static_tcb));
#if KRAKEN_SIM_TASK_STACK_IN_PSRAM
        assert_non_null(t);
        vTaskDelete(t);
#else
        assert_null(t);
#endif
    }
    heap_caps_free(psram_tcb);
    heap_caps_free(psram_stack);
    assert_true(tasks_become(tasks_at_setup));
    assert_int_equal(stats().allocations - stats().frees, s0.allocations - s0.frees);
}

static void static_and_withcaps_queues_and_semaphores_give_their_buffers_back(void **state)
{
    (void)state;
    StaticQueue_t queue_buffer, sem_buffer;
    uint8_t storage[4 * 8];
    QueueHandle_t q = xQueueCreateStatic(4, 8, storage, &queue_buffer);
    SemaphoreHandle_t sem = xSemaphoreCreateMutexStatic(&sem_buffer);
    QueueHandle_t dynamic = xQueueCreate(4, 8);
    SemaphoreHandle_t dynamic_sem = xSemaphoreCreateBinary();
    QueueHandle_t caps = xQueueCreateWithCaps(4, 8, MALLOC_CAP_SPIRAM);
    SemaphoreHandle_t caps_sem = xSemaphoreCreateBinaryWithCaps(MALLOC_CAP_SPIRAM);
    assert_true(q && sem && dynamic && dynamic_sem && caps && caps_sem);

    uint8_t *got_storage = NULL;
    StaticQueue_t *got = NULL;
    assert_int_equal(xQueueGetStaticBuffers(q, &got_storage, &got), pdTRUE);
    assert_ptr_equal(got_storage, storage);
    assert_ptr_equal(got, &queue_buffer);
    got = NULL;
    assert_int_equal(xQueueGetStaticBuffers(q, NULL, &got), pdTRUE);
    assert_ptr_equal(got, &queue_buffer);
    StaticSemaphore_t *got_sem = NULL;
    assert_int_equal(xSemaphoreGetStaticBuffer(sem, &got_sem), pdTRUE);
    assert_ptr_equal(got_sem, &sem_buffer);
    got_storage = storage; /* FreeRTOS's pcHead: NULL for a mutex */
    assert_int_equal(xQueueGenericGetStaticBuffers(sem, &got_storage, &got), pdTRUE);
    assert_null(got_storage);

    /* WithCaps (static objects on the chip): their PSRAM blocks, as vQueueDeleteWithCaps frees. */
    assert_int_equal(xQueueGetStaticBuffers(caps, &got_storage, &got), pdTRUE);
    assert_true(esp_ptr_external_ram(got));
    assert_true(esp_ptr_external_ram(got_storage));
    assert_ptr_not_equal(got_storage, (uint8_t *)got);
    assert_int_equal(xSemaphoreGetStaticBuffer(caps_sem, &got_sem), pdTRUE);
    assert_true(esp_ptr_external_ram(got_sem));

    /* Dynamic: pdFALSE, nothing written. */
    got = &queue_buffer;
    got_storage = storage;
    assert_int_equal(xQueueGetStaticBuffers(dynamic, &got_storage, &got), pdFALSE);
    assert_int_equal(xSemaphoreGetStaticBuffer(dynamic_sem, &got), pdFALSE);
    assert_ptr_equal(got, &queue_buffer);
    assert_ptr_equal(got_storage, storage);

    log_capture_begin();
    ASSERT_REFUSED(1, assert_int_equal(xQueueGetStaticBuffers(NULL, NULL, &got), pdFALSE));
    ASSERT_REFUSED(1, assert_int_equal(xQueueGetStaticBuffers(q, NULL, NULL), pdFALSE));
    const char *log = log_capture_end();
    assert_non_null(strstr(log, "xQueueGenericGetStaticBuffers: no queue: refused"));
    assert_non_null(strstr(log, "xQueueGenericGetStaticBuffers: no place for the queue buffer"));

    vQueueDelete(q);
    vSemaphoreDelete(sem);
    vQueueDelete(dynamic);
    vSemaphoreDelete(dynamic_sem);
    vQueueDeleteWithCaps(caps);
    vSemaphoreDeleteWithCaps(caps_sem);
}

/* ---- critical sections from an ISR, nested ISRs --------------------------------------------------- */

static void taskenter_critical_from_isr_refuses_waits_until_its_exit(void **state)
{
    (void)state;
    QueueHandle_t q = xQueueCreate(1, 4);
    assert_non_null(q);
    uint32_t item = 0;
    const uint64_t refused = stats().refused_waits;
    log_capture_begin();
    kraken_sim_isr_enter();
    const UBaseType_t outer = taskENTER_CRITICAL_FROM_ISR();
    const UBaseType_t inner = taskENTER_CRITICAL_FROM_ISR();
    taskEXIT_CRITICAL_FROM_ISR(inner);
    kraken_sim_isr_exit();
    /* Still masked: the task may not wait (the chip cannot switch with interrupts off). */
    assert_int_equal(xQueueReceive(q, &item, 1), pdFAIL);
    taskEXIT_CRITICAL_FROM_ISR(outer);
    ASSERT_REFUSED(1, taskEXIT_CRITICAL_FROM_ISR(outer)); /* undone already */
    const char *log = log_capture_end();
    assert_int_equal(stats().refused_waits, refused + 1);
    assert_non_null(strstr(log, "inside a critical section: refused"));
    assert_non_null(strstr(log, "taskEXIT_CRITICAL_FROM_ISR(0): not a value"));
    /* Unmasked: the wait is allowed again (and times out). */
    assert_int_equal(xQueueReceive(q, &item, 1), errQUEUE_EMPTY);
    assert_int_equal(stats().refused_waits, refused + 1);
    /* Leaving the outer one leaves the inner one too: the chip restores that level. */
    kraken_sim_isr_enter();
    const UBaseType_t first = taskENTER_CRITICAL_FROM_ISR();
    (void)taskENTER_CRITICAL_FROM_ISR();
    ASSERT_NOT_REFUSED(taskEXIT_CRITICAL_FROM_ISR(first));
    kraken_sim_isr_exit();
    assert_int_equal(xQueueReceive(q, &item, 1), errQUEUE_EMPTY);
    assert_int_equal(stats().refused_waits, refused + 1);
    vQueueDelete(q);
}

static void an_isr_knows_whether_it_interrupted_another(void **state)
{
    (void)state;
    assert_int_equal(xPortInterruptedFromISRContext(), pdFALSE);
    kraken_sim_isr_enter();
    assert_int_equal(xPortInterruptedFromISRContext(), pdFALSE); /* it interrupted a task */
    kraken_sim_isr_enter();
    assert_int_equal(xPortInterruptedFromISRContext(), pdTRUE);
    kraken_sim_isr_exit();
    assert_int_equal(xPortInterruptedFromISRContext(), pdFALSE);
    kraken_sim_isr_exit();
}

/* ---- configASSERT --------------------------------------------------------------------------------- */

static __attribute__((noinline)) void a_caller_that_asserts(int value)
{
    configASSERT(value == 3);
}

static void assert_then_fail(void *unused)
{
    (void)unused;
    a_caller_that_asserts(3); /* holds: returns */
    a_caller_that_asserts(4);
}

static void configassert_names_the_calling_function_as_esp_idf_does(void **state)
{
    (void)state;
    char text[512];
    const int status = capture_output_of_child(STDERR_FILENO, assert_then_fail, NULL, text,
                                               sizeof text);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    assert_non_null(strstr(text, "assert failed: a_caller_that_asserts "));
    assert_non_null(strstr(text, "test_freertos_host.c:"));
    assert_non_null(strstr(text, " (value == 3)\n"));
    assert_null(strstr(text, "kraken_freertos_assert_failed"));
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, boot_n8r8, check_and_reset)

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* memory */
        TEST(kernel_objects_have_the_chips_sizes_for_the_options),
        TEST(a_task_takes_its_stack_then_its_tcb_from_the_internal_heap_until_deleted),
        TEST(a_task_that_deletes_itself_gives_its_stack_and_tcb_back),
        TEST(a_self_deleted_task_counts_until_its_stack_and_tcb_are_back),
        TEST(a_task_deleting_itself_frees_all_even_when_the_free_hook_calls_freertos),
        TEST(a_task_deleted_inside_a_log_sink_leaves_the_log_usable),
        TEST(a_task_whose_stack_or_tcb_does_not_fit_fails_with_nothing_allocated),
        TEST(a_withcaps_task_has_its_stack_in_psram_and_its_tcb_in_internal_ram),
        TEST(a_withcaps_task_deleting_itself_needs_a_clean_up_task_for_a_moment),
        TEST(a_withcaps_task_deleting_itself_without_room_for_the_clean_up_task_is_logged),
        TEST(a_withcaps_task_whose_stack_does_not_fit_fails_and_gives_its_tcb_back),
        TEST(vtaskdelete_of_a_withcaps_task_leaks_its_blocks_and_says_so),
        TEST(vtaskdeletewithcaps_refuses_a_task_not_made_with_caps),
        cmocka_unit_test_setup_teardown(without_psram_a_psram_stack_or_queue_cannot_be_had,
                                        boot_n8_without_psram, check_and_reset),
        TEST(a_queue_is_one_internal_block_of_84_bytes_plus_its_storage),
        TEST(each_semaphore_and_mutex_is_one_84_byte_internal_block),
        TEST(withcaps_queues_and_semaphores_take_their_blocks_with_the_caps),
        TEST(a_plain_delete_of_a_withcaps_queue_leaks_its_blocks_and_says_so),
        TEST(static_objects_work_without_a_single_heap_call),
        TEST(pvportmalloc_takes_internal_byte_addressable_memory),
        TEST(a_tcb_or_stack_the_chip_asserts_on_is_refused),
        TEST(static_and_withcaps_queues_and_semaphores_give_their_buffers_back),
        TEST(taskenter_critical_from_isr_refuses_waits_until_its_exit),
        TEST(an_isr_knows_whether_it_interrupted_another),
        TEST(configassert_names_the_calling_function_as_esp_idf_does),
        /* queues */
        TEST(a_queue_is_fifo_and_send_to_front_jumps_the_line),
        TEST(overwrite_replaces_the_item_of_a_queue_of_one_and_is_refused_on_a_longer_one),
        TEST(a_full_queue_refuses_at_once_without_a_wait_and_after_the_wait_with_one),
        TEST(a_receiver_blocked_on_an_empty_queue_is_woken_by_a_sender_task),
        TEST(tasks_peeking_at_an_empty_queue_all_see_the_item_sent),
        TEST(a_sender_blocked_on_a_full_queue_gets_in_when_an_item_is_taken),
        TEST(reset_empties_a_queue_and_lets_one_blocked_sender_in),
        TEST(fromisr_calls_work_in_a_simulated_isr_and_make_no_heap_call),
        TEST(fromisr_sends_and_receives_report_a_task_they_woke),
        TEST(calls_that_would_wait_are_refused_in_a_simulated_isr),
        TEST(calls_that_would_wait_are_refused_inside_a_critical_section),
        TEST(a_second_isr_give_does_not_report_the_same_waiter_woken),
        TEST(a_task_deleted_inside_a_critical_section_releases_it_first),
        TEST(xtaskgetcurrenttaskhandle_in_a_simulated_isr_is_the_interrupted_task),
        TEST(null_and_malformed_arguments_are_refused_with_the_documented_results),
        TEST(deleting_a_null_queue_or_semaphore_is_refused),
        TEST(a_queue_of_length_0_or_larger_than_4_gb_is_refused_without_a_heap_call),
        TEST(a_thread_that_is_not_a_task_waits_on_a_queue_as_a_task_does),
        TEST(a_thread_that_is_not_a_task_counts_until_it_ends_or_deletes_itself),
        TEST(a_queue_a_task_waits_on_is_not_deleted),
        /* semaphores and mutexes */
        TEST(a_binary_semaphore_starts_taken_and_holds_one_give),
        TEST(the_old_vsemaphorecreatebinary_makes_a_given_semaphore),
        TEST(a_counting_semaphore_counts_up_to_its_maximum_and_bad_counts_are_refused),
        TEST(a_mutex_belongs_to_its_taker_and_others_wait_until_it_is_given),
        TEST(a_recursive_mutex_is_free_again_after_as_many_gives_as_takes),
        TEST(a_recursive_give_by_a_task_not_holding_it_is_a_plain_pdfalse),
        /* tasks */
        TEST(a_task_runs_with_its_parameter_name_priority_and_core),
        TEST(invalid_task_arguments_are_refused_without_a_heap_call),
        TEST(vtaskdelay_sleeps_its_ticks_and_0_only_yields),
        TEST(a_wait_of_one_tick_ends_at_the_next_tick),
        TEST(a_delay_sleeps_through_notifications),
        TEST(xtaskdelayuntil_wakes_at_fixed_intervals_and_skips_a_wake_time_past),
        TEST(a_wait_of_a_second_times_out_after_a_second),
        TEST(the_tick_count_advances_at_the_configured_rate),
        TEST(deleting_a_task_blocked_in_a_wait_ends_it_and_frees_its_memory_at_once),
        TEST(a_queue_may_be_deleted_right_after_the_task_waiting_on_it),
        TEST(the_handle_is_set_before_the_new_task_runs),
        TEST(a_running_task_deleted_by_another_is_no_longer_counted),
        TEST(a_deleted_task_still_running_reads_as_deleted),
        TEST(peeking_at_a_mutex_does_not_take_it),
        TEST(a_task_function_that_returns_is_logged_and_deleted),
        TEST(a_task_deleting_itself_with_the_scheduler_suspended_is_logged_and_counted),
        /* notifications */
        TEST(a_task_suspended_by_itself_sleeps_through_notifications_until_resumed),
        TEST(a_resume_before_the_suspend_is_lost_as_in_freertos),
        TEST(a_suspended_task_can_be_deleted_and_its_memory_comes_back),
        TEST(suspending_another_task_or_in_an_isr_is_refused_and_logged),
        TEST(suspending_itself_is_refused_as_a_wait_where_the_chip_cannot_wait),
        TEST(notify_give_counts_and_take_decrements_or_clears),
        TEST(xtasknotify_actions_set_bits_increment_overwrite_or_refuse_to),
        TEST(xtasknotifywait_clears_bits_on_entry_and_exit_and_times_out),
        TEST(notifications_from_an_isr_report_a_task_they_woke),
        /* critical sections */
        TEST(a_critical_section_nests_for_its_holder_and_excludes_other_threads),
        TEST(leaving_a_critical_section_not_held_is_refused_and_logged),
        TEST(four_threads_counting_under_one_spinlock_lose_no_increment),
        /* stress */
        TEST(four_producers_and_two_consumers_pass_every_item_once_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
