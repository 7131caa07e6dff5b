/*
 * kraken_port_esp_idf.c - the core's port on ESP-IDF: heap_caps, FreeRTOS (spinlock critical
 * sections, static counting semaphores, pinned tasks), esp_timer and esp_log.
 */
#include <stdio.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "esp_memory_utils.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "kraken_port.h"
#include "sdkconfig.h"
#if CONFIG_SPIRAM
#include "esp_psram.h"
#endif

_Static_assert(KRAKEN_LOG_ERROR == (int)ESP_LOG_ERROR && KRAKEN_LOG_VERBOSE == (int)ESP_LOG_VERBOSE,
               "kraken_log_level_t must match esp_log_level_t");

void *kraken_port_heap_malloc(size_t size, uint32_t caps)
{
    return heap_caps_malloc(size, caps);
}

void *kraken_port_heap_aligned_alloc(size_t alignment, size_t size, uint32_t caps)
{
    return heap_caps_aligned_alloc(alignment, size, caps);
}

void *kraken_port_heap_calloc(size_t n, size_t size, uint32_t caps)
{
    return heap_caps_calloc(n, size, caps);
}

void *kraken_port_heap_realloc(void *ptr, size_t size, uint32_t caps)
{
    return heap_caps_realloc(ptr, size, caps);
}

void kraken_port_heap_free(void *ptr)
{
    heap_caps_free(ptr);
}

void *kraken_port_heap_malloc_prefer(size_t size, uint32_t caps_first, uint32_t caps_then)
{
    return heap_caps_malloc_prefer(size, 2, caps_first, caps_then);
}

void *kraken_port_heap_calloc_prefer(size_t n, size_t size, uint32_t caps_first, uint32_t caps_then)
{
    return heap_caps_calloc_prefer(n, size, 2, caps_first, caps_then);
}

void *kraken_port_heap_realloc_prefer(void *ptr, size_t size, uint32_t caps_first, uint32_t caps_then)
{
    return heap_caps_realloc_prefer(ptr, size, 2, caps_first, caps_then);
}

size_t kraken_port_heap_allocated_size(void *ptr)
{
    return heap_caps_get_allocated_size(ptr);
}

void kraken_port_heap_figures(uint32_t caps, kraken_port_heap_figures_t *out)
{
    /* Total, free and minimum free are per-heap counters; the largest free block is not:
     * heap_caps_get_largest_free_block() calls heap_caps_get_info(), which walks every block of each
     * heap inside its critical section (O(blocks)). ESP-IDF has no cheaper query for it. */
    out->total_bytes = heap_caps_get_total_size(caps);
    out->free_bytes = heap_caps_get_free_size(caps);
    out->minimum_free_bytes = heap_caps_get_minimum_free_size(caps);
    out->largest_free_block = heap_caps_get_largest_free_block(caps);
}

size_t kraken_port_heap_free_size(uint32_t caps)
{
    return heap_caps_get_free_size(caps);
}

void kraken_port_heap_block_counts(uint32_t caps, size_t *allocated_blocks, size_t *free_blocks)
{
    multi_heap_info_t info;
    heap_caps_get_info(&info, caps);
    *allocated_blocks = info.allocated_blocks;
    *free_blocks = info.free_blocks;
}

bool kraken_port_heap_check_integrity(bool print_errors)
{
    return heap_caps_check_integrity_all(print_errors);
}

esp_err_t kraken_port_register_alloc_failed_hook(kraken_port_alloc_failed_hook_t hook)
{
    return heap_caps_register_failed_alloc_callback(hook);
}

bool kraken_port_psram_available(void)
{
#if CONFIG_SPIRAM
    return esp_psram_is_initialized();
#else
    return false;
#endif
}

size_t kraken_port_psram_size(void)
{
#if CONFIG_SPIRAM
    return esp_psram_is_initialized() ? esp_psram_get_size() : 0;
#else
    return 0;
#endif
}

bool kraken_port_ptr_internal(const void *ptr)
{
    return esp_ptr_internal(ptr);
}

bool kraken_port_ptr_external(const void *ptr)
{
    return esp_ptr_external_ram(ptr);
}

bool kraken_port_ptr_dma_capable(const void *ptr)
{
    return esp_ptr_dma_capable(ptr);
}

int64_t kraken_port_time_us(void)
{
    return esp_timer_get_time();
}

bool kraken_port_in_isr(void)
{
    return xPortInIsrContext() != 0;
}

void kraken_port_log(kraken_log_level_t level, const char *tag, const char *fmt, ...)
{
    char line[192];
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

void kraken_port_lock(kraken_port_lock_t *lock)
{
    portENTER_CRITICAL_SAFE(&lock->mux);
}

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

static TickType_t ms_to_ticks(uint32_t timeout_ms)
{
    if (timeout_ms == KRAKEN_PORT_WAIT_FOREVER) {
        return portMAX_DELAY;
    }
    TickType_t ticks = pdMS_TO_TICKS(timeout_ms);
    return (ticks == 0 && timeout_ms != 0) ? 1 : ticks; /* never round a real wait down to a poll */
}

bool kraken_port_sem_take(kraken_port_sem_t *sem, uint32_t timeout_ms)
{
    return xSemaphoreTake(sem->handle, ms_to_ticks(timeout_ms)) == pdTRUE;
}

bool kraken_port_sem_give(kraken_port_sem_t *sem)
{
    return xSemaphoreGive(sem->handle) == pdTRUE;
}

bool kraken_port_sem_give_from_isr(kraken_port_sem_t *sem, bool *woken)
{
    BaseType_t higher = pdFALSE;
    bool given = xSemaphoreGiveFromISR(sem->handle, &higher) == pdTRUE;
    if (woken != NULL && higher == pdTRUE) {
        *woken = true;
    }
    return given;
}

/* ---- tasks: FreeRTOS has no join, so the trampoline signals a semaphore before deleting itself */

static void task_trampoline(void *arg)
{
    kraken_port_task_t *task = arg;
    task->fn(task->arg);
    xSemaphoreGive(task->done);
    vTaskDelete(NULL);
}

esp_err_t kraken_port_task_create(kraken_port_task_t *task, kraken_port_task_fn_t fn, void *arg,
                                  const char *name, uint32_t stack_bytes, unsigned priority, int core)
{
    if (task == NULL || fn == NULL || priority >= configMAX_PRIORITIES) {
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
        vSemaphoreDelete(task->done);
        task->handle = NULL;
    }
}

bool kraken_port_task_is_current(const kraken_port_task_t *task)
{
    return task->handle != NULL && !xPortInIsrContext() &&
           xTaskGetCurrentTaskHandle() == task->handle;
}

void kraken_port_delay_ms(uint32_t ms)
{
    if (ms == 0) {
        taskYIELD();
        return;
    }
    vTaskDelay(ms_to_ticks(ms));
}
