/*
 * kraken_port_esp_idf.c - the core's port on ESP-IDF: FreeRTOS (spinlock critical sections, static
 * counting semaphores, pinned tasks), esp_timer and esp_log (the heap part:
 * port/kraken_port_heap_caps.c).
 */
#include <stdio.h>

#include "esp_log.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "kraken_port.h"
#include "sdkconfig.h"

_Static_assert(KRAKEN_LOG_ERROR == (int)ESP_LOG_ERROR && KRAKEN_LOG_VERBOSE == (int)ESP_LOG_VERBOSE,
               "kraken_log_level_t must match esp_log_level_t");

KRAKEN_PORT_ISR_TEXT
int64_t kraken_port_time_us(void)
{
    return esp_timer_get_time();
}

KRAKEN_PORT_ISR_TEXT
bool kraken_port_in_isr(void)
{
    return xPortInIsrContext() != 0;
}

void kraken_port_log(kraken_log_level_t level, const char *tag, const char *fmt, ...)
{
    /* A line above the build's maximum level is not formatted. (Not esp_log_level_get(): it
     * takes the log's mutex without a timeout, and with CONFIG_LOG_TAG_LEVEL_IMPL_NONE it answers
     * the default level while ESP_LOGx prints up to the maximum.) */
    if ((int)level > LOG_LOCAL_LEVEL) {
        return;
    }
    char line[256]; /* the event bus's per-lane statistics line is about 220 characters */
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    /* ESP_LOG_LEVEL adds the level letter, timestamp, tag and colours as configured. */
    switch (level) {
    case KRAKEN_LOG_ERROR: ESP_LOGE(tag, "%s", line); break;
    case KRAKEN_LOG_WARN: ESP_LOGW(tag, "%s", line); break;
    case KRAKEN_LOG_INFO: ESP_LOGI(tag, "%s", line); break;
    case KRAKEN_LOG_DEBUG: ESP_LOGD(tag, "%s", line); break;
    default: ESP_LOGV(tag, "%s", line); break;
    }
}

/* ---- locks: portMUX spinlock, valid in tasks and ISRs on both cores --------------------------- */

void kraken_port_lock_init(kraken_port_lock_t *lock)
{
    portMUX_INITIALIZE(&lock->mux);
}

KRAKEN_PORT_ISR_TEXT
void kraken_port_lock(kraken_port_lock_t *lock)
{
    portENTER_CRITICAL_SAFE(&lock->mux);
}

KRAKEN_PORT_ISR_TEXT
void kraken_port_unlock(kraken_port_lock_t *lock)
{
    portEXIT_CRITICAL_SAFE(&lock->mux);
}

/* ---- counting semaphores (static storage: no heap use) --------------------------------------- */

esp_err_t kraken_port_sem_create(kraken_port_sem_t *sem, uint32_t max_count, uint32_t initial)
{
    if (sem == NULL || max_count == 0 || initial > max_count) {
        return ESP_ERR_INVALID_ARG;
    }
    sem->handle = xSemaphoreCreateCountingStatic(max_count, initial, &sem->storage);
    return sem->handle != NULL ? ESP_OK : ESP_ERR_NO_MEM;
}

void kraken_port_sem_delete(kraken_port_sem_t *sem)
{
    if (sem->handle != NULL) {
        vSemaphoreDelete(sem->handle);
        sem->handle = NULL;
    }
}

/* A wait of at least `ms` in ticks: rounded up (pdMS_TO_TICKS rounds down, in 32 bits, so 19 ms
 * at 100 Hz became 1 tick and hours wrapped around), plus one, since a wait of n ticks ends at the
 * n-th tick interrupt from now, the first of which may come at once. Below portMAX_DELAY (which
 * means forever); 0 stays 0 (no wait). */
static TickType_t wait_ticks(uint32_t ms)
{
    if (ms == KRAKEN_PORT_WAIT_FOREVER) {
        return portMAX_DELAY;
    }
    if (ms == 0) {
        return 0;
    }
    const uint64_t ticks = ((uint64_t)ms * configTICK_RATE_HZ + 999u) / 1000u + 1u;
    return ticks < portMAX_DELAY ? (TickType_t)ticks : portMAX_DELAY - 1;
}

bool kraken_port_sem_take(kraken_port_sem_t *sem, uint32_t timeout_ms)
{
    return xSemaphoreTake(sem->handle, wait_ticks(timeout_ms)) == pdTRUE;
}

bool kraken_port_sem_give(kraken_port_sem_t *sem)
{
    return xSemaphoreGive(sem->handle) == pdTRUE;
}

KRAKEN_PORT_ISR_TEXT
bool kraken_port_sem_give_from_isr(kraken_port_sem_t *sem, bool *woken)
{
    if (!xPortInIsrContext()) { /* from a task the FromISR give would wake a waiter next tick */
        return kraken_port_sem_give(sem);
    }
    BaseType_t higher = pdFALSE;
    bool given = xSemaphoreGiveFromISR(sem->handle, &higher) == pdTRUE;
    if (woken != NULL && higher == pdTRUE) {
        *woken = true;
    }
    return given;
}

/* ---- tasks: FreeRTOS has no join, so the trampoline signals a semaphore and waits for the joiner
 * to delete it. A task deleting itself would leave its stack and TCB to the idle task, freed at
 * some later time (FreeRTOS frees a task that is not running at once). */

static void task_trampoline(void *arg)
{
    kraken_port_task_t *task = arg;
    task->fn(task->arg);
    xSemaphoreGive(task->done);
    for (;;) {
        vTaskSuspend(NULL); /* until kraken_port_task_join() deletes it */
    }
}

esp_err_t kraken_port_task_create(kraken_port_task_t *task, kraken_port_task_fn_t fn, void *arg,
                                  const char *name, uint32_t stack_bytes, unsigned priority, int core)
{
    if (task == NULL || fn == NULL || priority >= KRAKEN_PORT_PRIORITIES || core < -1 ||
        core >= KRAKEN_PORT_CORES) { /* FreeRTOS would assert on a core it does not have */
        return ESP_ERR_INVALID_ARG;
    }
    task->fn = fn;
    task->arg = arg;
    task->done = xSemaphoreCreateBinaryStatic(&task->done_storage);
    BaseType_t affinity = core < 0 ? tskNO_AFFINITY : (BaseType_t)core;
    /* ESP-IDF's FreeRTOS takes the stack depth in bytes. */
    if (xTaskCreatePinnedToCore(task_trampoline, name, stack_bytes, task, priority, &task->handle,
                                affinity) != pdPASS) {
        vSemaphoreDelete(task->done);
        task->handle = NULL;
        return ESP_ERR_NO_MEM;
    }
    return ESP_OK;
}

void kraken_port_task_join(kraken_port_task_t *task)
{
    if (task->handle != NULL) {
        xSemaphoreTake(task->done, portMAX_DELAY);
        vTaskDelete(task->handle);
        vSemaphoreDelete(task->done);
        /* atomic: kraken_port_task_is_current() may read it meanwhile in another task */
        __atomic_store_n(&task->handle, NULL, __ATOMIC_RELAXED);
    }
}

bool kraken_port_task_is_current(const kraken_port_task_t *task)
{
    const TaskHandle_t handle = __atomic_load_n(&task->handle, __ATOMIC_RELAXED);
    return handle != NULL && !xPortInIsrContext() && xTaskGetCurrentTaskHandle() == handle;
}

void kraken_port_delay_ms(uint32_t ms)
{
    if (ms == 0) {
        taskYIELD();
        return;
    }
    vTaskDelay(wait_ticks(ms));
}
