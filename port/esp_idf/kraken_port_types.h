/* kraken_port_types.h (ESP-IDF) - concrete port types on FreeRTOS. */
#ifndef KRAKEN_PORT_TYPES_H
#define KRAKEN_PORT_TYPES_H

#include <stdbool.h>
#include <stdint.h>
#include "esp_attr.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"

typedef struct {
    portMUX_TYPE mux; /* spinlock: safe on both cores and from ISRs */
} kraken_port_lock_t;
#define KRAKEN_PORT_LOCK_INITIALIZER { portMUX_INITIALIZER_UNLOCKED }

/* Data written often by one core and read often by another goes on its own cache line; internal
 * SRAM, where the component's data lives, is not behind a cache on the ESP32-S3. */
#define KRAKEN_PORT_CACHE_LINE 4

/* Code that may run with the flash cache disabled (ESP-IDF calls the failed-allocation hook from
 * its heap functions, which are in IRAM and may be called from IRAM-safe ISRs). */
#define KRAKEN_PORT_IRAM_ATTR IRAM_ATTR

/* Code an interrupt handler reaches through the ISR entry points (system_event_post_from_isr and
 * the pools' ISR functions): in IRAM with CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM, so that an
 * ESP_INTR_FLAG_IRAM handler may call them with the flash cache off. tools/iram_check.py checks
 * that nothing they reach is left in flash. */
#if CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM
#define KRAKEN_PORT_ISR_TEXT IRAM_ATTR
#else
#define KRAKEN_PORT_ISR_TEXT
#endif

/* Whether a call in tail position is a jump (the callee's return address is its caller's): never
 * with Xtensa's windowed ABI. */
#define KRAKEN_PORT_TAIL_CALLS 0

/* The largest size_t of the chip (32 bits), where sizes and products of sizes overflow: SIZE_MAX
 * there, and the chip's figure also where this port runs on the host simulator. */
#define KRAKEN_PORT_SIZE_MAX ((size_t)UINT32_MAX)

/* CPU cores tasks can be pinned to (1 with CONFIG_FREERTOS_UNICORE). */
#define KRAKEN_PORT_CORES portNUM_PROCESSORS
/* Task priorities run from 0 to KRAKEN_PORT_PRIORITIES - 1. */
#define KRAKEN_PORT_PRIORITIES configMAX_PRIORITIES

typedef struct {
    SemaphoreHandle_t handle;
    StaticSemaphore_t storage; /* no heap allocation for the semaphore itself */
} kraken_port_sem_t;

typedef struct {
    TaskHandle_t handle;
    SemaphoreHandle_t done; /* given by the task when its function returns (FreeRTOS has no join) */
    StaticSemaphore_t done_storage;
    void (*fn)(void *arg);
    void *arg;
} kraken_port_task_t;

#endif
