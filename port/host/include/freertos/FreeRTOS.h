/*
 * freertos/FreeRTOS.h (host) - the part of ESP-IDF's FreeRTOS that firmware memory code uses, on
 * host threads, with the chip's memory use: every kernel object FreeRTOS would allocate is a block
 * of the simulated heap of the size and capabilities it has on the ESP32-S3 (pvPortMalloc is
 * heap_caps_malloc(MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT), as in ESP-IDF's heap_idf.c). So a task's
 * stack, a queue's storage or a mutex counts against internal SRAM, fails when it is exhausted or
 * fragmented, and shows in heap tracing, exactly where the chip's would.
 *
 * What is simulated and what is not (docs/simulator.md, "FreeRTOS on the host"):
 * - Tasks are POSIX threads. Priorities and core affinity are recorded, not enforced: the host's
 *   scheduler runs the threads, so code that relies on a higher-priority task preempting a lower
 *   one, or on two tasks pinned to one core never running at once, behaves differently.
 * - A wait of n ticks ends at the n-th tick from now, on CLOCK_MONOTONIC (tick k comes k tick
 *   periods after the simulated boot), as on the chip: it lasts between n - 1 and n periods.
 * - FromISR calls are for kraken_sim_isr_enter()/_exit() context (xPortInIsrContext()); task-level
 *   calls that may block are refused there with their failure value (the chip would assert).
 * - A call with a non-zero wait (or a delay, or vTaskSuspend(NULL)) in a simulated ISR, inside a
 *   critical section or with the scheduler suspended (vTaskSuspendAll) is refused with its failure
 *   value, logged and counted
 *   (kraken_sim_stats_t.refused_waits), also one that would not have had to wait: ESP-IDF forbids
 *   blocking calls there.
 * - Any other call the chip asserts on (bad input, a wrong context) is refused with its failure
 *   value, logged and counted once (kraken_sim_stats_t.refused_calls; a wait only in
 *   refused_waits).
 * - The tick count is esp_timer_get_time() / portTICK_PERIOD_MS: it starts at the simulated boot.
 * Kernel objects live in the simulated heap: delete them before kraken_sim_reset().
 */
#ifndef FREERTOS_H_HOST
#define FREERTOS_H_HOST

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sdkconfig.h"

/* What ESP-IDF's Xtensa portmacro.h (v5.1 to v5.5) brings to every file that includes
 * FreeRTOS.h, and firmware relies on: IRAM_ATTR, esp_cpu_get_core_id(), esp_ptr_internal(),
 * heap_caps_malloc() and MALLOC_CAP_*, esp_rom_printf(), esp_get_free_heap_size() and, through
 * esp_system.h, BIT0..BIT63 and ESP_IDF_VERSION. None of them includes FreeRTOS.h back. */
#include "esp_attr.h"
#include "esp_cpu.h"
#include "esp_heap_caps.h"
#include "esp_memory_utils.h"
#include "esp_rom_sys.h"
#include "esp_system.h"
#ifdef CONFIG_FREERTOS_RUN_TIME_STATS_USING_ESP_TIMER
#include "esp_timer.h"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types and constants (the Xtensa port's) ---- */
typedef int BaseType_t;
typedef unsigned int UBaseType_t;
typedef uint32_t TickType_t;
typedef uint8_t StackType_t; /* ESP-IDF stack depths are in bytes */
#define configSTACK_DEPTH_TYPE uint32_t
#ifdef CONFIG_FREERTOS_RUN_TIME_COUNTER_TYPE_U64
#define configRUN_TIME_COUNTER_TYPE uint64_t
#else
#define configRUN_TIME_COUNTER_TYPE uint32_t /* ESP-IDF's default */
#endif

#define pdFALSE ((BaseType_t)0)
#define pdTRUE ((BaseType_t)1)
#define pdPASS (pdTRUE)
#define pdFAIL (pdFALSE)
#define errQUEUE_EMPTY ((BaseType_t)0)
#define errQUEUE_FULL ((BaseType_t)0)
#define errCOULD_NOT_ALLOCATE_REQUIRED_MEMORY (-1)

#define configTICK_RATE_HZ (CONFIG_FREERTOS_HZ)
#define configMAX_PRIORITIES (25)
#define configMINIMAL_STACK_SIZE (CONFIG_FREERTOS_IDLE_TASK_STACKSIZE)
#define configTIMER_TASK_PRIORITY (CONFIG_FREERTOS_TIMER_TASK_PRIORITY)
#define configTIMER_QUEUE_LENGTH (CONFIG_FREERTOS_TIMER_QUEUE_LENGTH)
#define configTIMER_TASK_STACK_DEPTH (CONFIG_FREERTOS_TIMER_TASK_STACK_DEPTH)
#define configMAX_TASK_NAME_LEN (CONFIG_FREERTOS_MAX_TASK_NAME_LEN)
#define configNUMBER_OF_CORES (CONFIG_FREERTOS_NUMBER_OF_CORES)
#define portNUM_PROCESSORS (CONFIG_FREERTOS_NUMBER_OF_CORES)
#define portMAX_DELAY ((TickType_t)0xffffffffUL)
#define portTICK_PERIOD_MS ((TickType_t)1000 / configTICK_RATE_HZ)
#define pdMS_TO_TICKS(xTimeInMs) \
    ((TickType_t)(((TickType_t)(xTimeInMs) * (TickType_t)configTICK_RATE_HZ) / (TickType_t)1000U))
#define pdTICKS_TO_MS(xTicks) ((TickType_t)((uint64_t)(xTicks) * 1000 / configTICK_RATE_HZ))
#define tskNO_AFFINITY ((BaseType_t)0x7FFFFFFF)
#define configTASK_NOTIFICATION_ARRAY_ENTRIES (CONFIG_FREERTOS_TASK_NOTIFICATION_ARRAY_ENTRIES)
/* As ESP-IDF's FreeRTOSConfig.h: the deletion callbacks take the second half of the array. */
#ifdef CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS
#define configNUM_THREAD_LOCAL_STORAGE_POINTERS (CONFIG_FREERTOS_THREAD_LOCAL_STORAGE_POINTERS * 2)
#define configTHREAD_LOCAL_STORAGE_DELETE_CALLBACKS 1
#else
#define configNUM_THREAD_LOCAL_STORAGE_POINTERS (CONFIG_FREERTOS_THREAD_LOCAL_STORAGE_POINTERS)
#endif

/* ---- the kernel objects' sizes on the ESP32-S3 ----
 * sizeof(StaticTask_t), (StaticQueue_t), ... from ESP-IDF's headers compiled with Xtensa gcc for
 * each option below (checked one by one) with picolibc, ESP-IDF v6's libc: what a dynamic create
 * takes from the heap. With newlib (v5's default) the chip's TCB also holds a struct _reent,
 * not counted here (not measured). The TCB holds the name, a core ID (two cores), the trace
 * facility's numbers (8 bytes), the application task tag (4), the thread-local storage pointers
 * (4 each), the run-time counter (4, or 8 aligned to 8), and the notification values (4 each)
 * and states (1 each); the trace facility adds a number to the other objects too. */
#ifdef CONFIG_FREERTOS_USE_TRACE_FACILITY
#define KRAKEN_SIM_FR_TRACE 1u
#else
#define KRAKEN_SIM_FR_TRACE 0u
#endif
#ifdef CONFIG_FREERTOS_GENERATE_RUN_TIME_STATS
#define KRAKEN_SIM_FR_RUN_TIME 1u
#else
#define KRAKEN_SIM_FR_RUN_TIME 0u
#endif
#ifdef CONFIG_FREERTOS_USE_APPLICATION_TASK_TAG
#define configUSE_APPLICATION_TASK_TAG 1
#define KRAKEN_SIM_FR_TAG 1u
#else
#define KRAKEN_SIM_FR_TAG 0u
#endif
#define KRAKEN_SIM_ROUND4(n) (((n) + 3u) & ~3u)
#define KRAKEN_SIM_ROUND8(n) (((n) + 7u) & ~7u)
/* The TCB up to the run-time counter, which a 64-bit counter aligns (and the TCB with it) to 8. */
#define KRAKEN_SIM_TCB_HEAD                                                                        \
    (KRAKEN_SIM_ROUND4(52u + configMAX_TASK_NAME_LEN) + 4u * (configNUMBER_OF_CORES > 1) + 4u +    \
     8u * KRAKEN_SIM_FR_TRACE + 8u + 4u * KRAKEN_SIM_FR_TAG +                                      \
     4u * configNUM_THREAD_LOCAL_STORAGE_POINTERS)
#ifdef CONFIG_FREERTOS_RUN_TIME_COUNTER_TYPE_U64
#define KRAKEN_SIM_TCB_BYTES                                                                       \
    KRAKEN_SIM_ROUND8(KRAKEN_SIM_ROUND8(KRAKEN_SIM_TCB_HEAD) + 8u +                               \
                      5u * configTASK_NOTIFICATION_ARRAY_ENTRIES + 2u)
#else
#define KRAKEN_SIM_TCB_BYTES                                                                       \
    KRAKEN_SIM_ROUND4(KRAKEN_SIM_TCB_HEAD + 4u * KRAKEN_SIM_FR_RUN_TIME +                         \
                      5u * configTASK_NOTIFICATION_ARRAY_ENTRIES + 2u)
#endif
#define KRAKEN_SIM_QUEUE_BYTES (84u + 8u * KRAKEN_SIM_FR_TRACE)
#define KRAKEN_SIM_EVENT_GROUP_BYTES (36u + 4u * KRAKEN_SIM_FR_TRACE)
#define KRAKEN_SIM_TIMER_BYTES (40u + 4u * KRAKEN_SIM_FR_TRACE)
#define KRAKEN_SIM_STREAM_BUFFER_BYTES (40u + 4u * KRAKEN_SIM_FR_TRACE)

/* The kernel objects' types (here, not in task.h and queue.h, so that the headers may be included
 * in any order, each of them bringing the others as ESP-IDF's FreeRTOS.h does). */
typedef struct tskTaskControlBlock *TaskHandle_t;
typedef void (*TaskFunction_t)(void *);
typedef struct QueueDefinition *QueueHandle_t;
typedef struct QueueDefinition *QueueSetHandle_t;
typedef QueueHandle_t SemaphoreHandle_t;

/** Memory a task created with xTaskCreateStatic*() uses instead of a heap TCB (KRAKEN_SIM_TCB_BYTES:
 *  100 bytes on the S3 with the default options and picolibc, as here on a 32-bit host; 4 or 8
 *  more on a 64-bit one). */
typedef struct {
    void *host; /* the host thread's record */
    uint8_t reserved[KRAKEN_SIM_TCB_BYTES - 4u];
} StaticTask_t;

/** Memory a queue or semaphore created with a *CreateStatic() uses instead of a heap block
 *  (KRAKEN_SIM_QUEUE_BYTES: 84 bytes on the S3 with the default options, as on a 32-bit host; 4
 *  more on a 64-bit one). */
typedef struct {
    void *host; /* the host record */
    uint8_t reserved[KRAKEN_SIM_QUEUE_BYTES - 4u];
} StaticQueue_t;
typedef StaticQueue_t StaticSemaphore_t;

/** Stops (abort) when x is false, as ESP-IDF's configASSERT, with ESP-IDF's __assert_func line:
 *  "assert failed: <the calling function> <file>:<line> (<expression>)" on stderr. */
#define configASSERT(x) \
    ((x) ? (void)0 : kraken_freertos_assert_failed(__FILE__, __LINE__, __func__, #x))
__attribute__((noreturn)) void kraken_freertos_assert_failed(const char *file, int line,
                                                              const char *func, const char *expr);

/* ---- memory (ESP-IDF's heap_idf.c: the internal, byte-addressable heap) ---- */

/** heap_caps_malloc(size, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT): NULL when none is left (or for 0).
 *  task or isr, O(1). */
void *pvPortMalloc(size_t xWantedSize);
/** heap_caps_free(); NULL is ignored. task or isr, O(1). */
void vPortFree(void *pv);
/** Free bytes of the internal byte-addressable heaps. isr-ok, O(heaps). */
size_t xPortGetFreeHeapSize(void);
/** Their low-water mark since the simulated boot. isr-ok, O(heaps). */
size_t xPortGetMinimumEverFreeHeapSize(void);

/* ---- critical sections: ESP-IDF's spinlocks (portMUX_TYPE) ----
 * A portMUX_TYPE is a spinlock that the same task may take again (nesting is counted), as
 * ESP-IDF's. It does not stop the other threads' "interrupts": it only excludes the other holders
 * of the same lock. Keep sections short: a wait inside one is refused (above). A task deleted inside
 * one goes on until it leaves the last one, and ends there. */
typedef struct {
    uintptr_t owner; /* 0: free; else the holder thread's identity (read and written atomically) */
    uint32_t count;  /* nesting depth of the holder */
} portMUX_TYPE;
#define portMUX_INITIALIZER_UNLOCKED {0, 0}
#define portMUX_INITIALIZE(mux) spinlock_initialize(mux)
#define SPINLOCK_INITIALIZER portMUX_INITIALIZER_UNLOCKED
typedef portMUX_TYPE spinlock_t;

/** Sets *lock free. task or isr, O(1). */
void spinlock_initialize(portMUX_TYPE *lock);
/** Takes the spinlock (spins while another thread holds it; again by its holder: nests). Never
 *  returns without it. task or isr, O(1) plus the wait. */
void vPortEnterCritical(portMUX_TYPE *mux);
/** Undoes one vPortEnterCritical() of the calling thread; a thread that does not hold it is
 *  refused (logged, nothing changes; the chip would abort). task or isr, O(1). */
void vPortExitCritical(portMUX_TYPE *mux);
#define portENTER_CRITICAL(mux) vPortEnterCritical(mux)
#define portEXIT_CRITICAL(mux) vPortExitCritical(mux)
#define portENTER_CRITICAL_ISR(mux) vPortEnterCritical(mux)
#define portEXIT_CRITICAL_ISR(mux) vPortExitCritical(mux)
#define portENTER_CRITICAL_SAFE(mux) vPortEnterCritical(mux)
#define portEXIT_CRITICAL_SAFE(mux) vPortExitCritical(mux)
#define taskENTER_CRITICAL(mux) vPortEnterCritical(mux)
#define taskEXIT_CRITICAL(mux) vPortExitCritical(mux)
#define taskENTER_CRITICAL_ISR(mux) vPortEnterCritical(mux)
#define taskEXIT_CRITICAL_ISR(mux) vPortExitCritical(mux)

/** The Xtensa port's interrupt mask (no spinlock: it excludes nothing on the other core): on the
 *  host, the calling thread is inside a critical section until the matching clear, so a wait there
 *  is refused and counted and a log line is counted, as inside portENTER_CRITICAL. Returns an
 *  opaque value for vPortClearInterruptMaskFromISR() (the chip's previous interrupt level). task
 *  or isr, O(1). */
UBaseType_t xPortSetInterruptMaskFromISR(void);
/** Undoes the xPortSetInterruptMaskFromISR() that returned prev_level and the ones made after it
 *  (the chip restores that level). A value no set of this thread returned is refused with an
 *  error line. task or isr, O(1). */
void vPortClearInterruptMaskFromISR(UBaseType_t prev_level);
#define portSET_INTERRUPT_MASK_FROM_ISR() xPortSetInterruptMaskFromISR()
#define portCLEAR_INTERRUPT_MASK_FROM_ISR(prev_level) vPortClearInterruptMaskFromISR(prev_level)
#define taskENTER_CRITICAL_FROM_ISR() portSET_INTERRUPT_MASK_FROM_ISR()
#define taskEXIT_CRITICAL_FROM_ISR(x) portCLEAR_INTERRUPT_MASK_FROM_ISR(x)

/* ---- context ---- */

/** True inside kraken_sim_isr_enter()/_exit() on this thread. isr-ok, O(1). */
BaseType_t xPortInIsrContext(void);
/** For a high-priority ISR: pdTRUE when the context it interrupted was an ISR itself, i.e. the
 *  calling thread is inside two or more nested kraken_sim_isr_enter(); pdFALSE otherwise (also
 *  outside every ISR). isr-ok, O(1). */
BaseType_t xPortInterruptedFromISRContext(void);
/** The core the calling task is pinned to, 0 when it is not pinned (or not a task). isr-ok, O(1). */
BaseType_t xPortGetCoreID(void);
/** Gives up the processor (sched_yield): portYIELD(), taskYIELD(). task, O(1). */
void vPortYield(void);
#define portYIELD() vPortYield()
#define portYIELD_WITHIN_API() vPortYield()
/* With or without its flag, as ESP-IDF's. It does nothing here: a simulated ISR runs in the thread
 * that entered it, and a task it woke is a thread already running. */
#define portYIELD_FROM_ISR(...) ((void)(int[]){0, __VA_ARGS__})
#define portEND_SWITCHING_ISR(x) portYIELD_FROM_ISR(x)

#ifdef __cplusplus
}
#endif

/* As ESP-IDF's FreeRTOS.h: its additions, and with them task.h, queue.h and semphr.h. */
#include "freertos/idf_additions.h"

#endif /* FREERTOS_H_HOST */
