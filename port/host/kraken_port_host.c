/*
 * kraken_port_host.c - the core's port on Linux: the simulated chip's heap_caps API, pthreads for
 * locks, semaphores and tasks, and ESP-IDF-format logging.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "esp_memory_utils.h"
#include "esp_psram.h"
#include "esp_timer.h"
#include "kraken_port.h"
#include "sim_internal.h"

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
    return esp_psram_is_initialized();
}

size_t kraken_port_psram_size(void)
{
    return esp_psram_get_size();
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
    return sim_in_isr();
}

void kraken_port_log(kraken_log_level_t level, const char *tag, const char *fmt, ...)
{
    static const char letters[] = "?EWIDV";
    char line[256];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    esp_log_write((esp_log_level_t)level, tag, "%c (%u) %s: %s\n", letters[level],
                  (unsigned)esp_log_timestamp(), tag, line);
}

/* ---- locks ------------------------------------------------------------------------------------ */

/* kraken_port_lock/unlock/lock_init are inline in kraken_port_types.h. */
void kraken_port_lock_yield(void)
{
    sched_yield();
}

/* ---- counting semaphores -------------------------------------------------------------------- */

esp_err_t kraken_port_sem_create(kraken_port_sem_t *sem, uint32_t max_count, uint32_t initial)
{
    if (sem == NULL || max_count == 0 || initial > max_count) {
        return ESP_ERR_INVALID_ARG;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&sem->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        return ESP_ERR_NO_MEM;
    }
    if (pthread_mutex_init(&sem->mutex, NULL) != 0) {
        pthread_cond_destroy(&sem->cond);
        return ESP_ERR_NO_MEM;
    }
    sem->count = initial;
    sem->max = max_count;
    return ESP_OK;
}

void kraken_port_sem_delete(kraken_port_sem_t *sem)
{
    pthread_cond_destroy(&sem->cond);
    pthread_mutex_destroy(&sem->mutex);
}

bool kraken_port_sem_take(kraken_port_sem_t *sem, uint32_t timeout_ms)
{
    struct timespec deadline;
    if (timeout_ms != KRAKEN_PORT_WAIT_FOREVER) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&sem->mutex);
    int rc = 0;
    while (sem->count == 0 && rc != ETIMEDOUT) {
        if (timeout_ms == KRAKEN_PORT_WAIT_FOREVER) {
            rc = pthread_cond_wait(&sem->cond, &sem->mutex);
        } else if (timeout_ms == 0) {
            rc = ETIMEDOUT;
        } else {
            rc = pthread_cond_timedwait(&sem->cond, &sem->mutex, &deadline);
        }
    }
    bool taken = sem->count > 0;
    if (taken) {
        sem->count--;
    }
    pthread_mutex_unlock(&sem->mutex);
    return taken;
}

bool kraken_port_sem_give(kraken_port_sem_t *sem)
{
    pthread_mutex_lock(&sem->mutex);
    bool given = sem->count < sem->max;
    if (given) {
        sem->count++;
        pthread_cond_signal(&sem->cond);
    }
    pthread_mutex_unlock(&sem->mutex);
    return given;
}

bool kraken_port_sem_give_from_isr(kraken_port_sem_t *sem, bool *woken)
{
    /* A simulated ISR runs on the interrupted thread; a waiter, if any, is woken. */
    bool given = kraken_port_sem_give(sem);
    if (woken != NULL && given) {
        *woken = true;
    }
    return given;
}

/* ---- tasks ---------------------------------------------------------------------------------- */

/* The task each thread runs: kraken_port_task_is_current() must not read `thread`, which
 * pthread_create() may store only after the new thread has started. */
static _Thread_local const kraken_port_task_t *current_task;

static void *task_trampoline(void *arg)
{
    kraken_port_task_t *task = arg;
    current_task = task;
    task->fn(task->arg);
    current_task = NULL;
    return NULL;
}

esp_err_t kraken_port_task_create(kraken_port_task_t *task, kraken_port_task_fn_t fn, void *arg,
                                  const char *name, uint32_t stack_bytes, unsigned priority, int core)
{
    (void)name; /* host threads share the process's scheduler: priority and core are advisory */
    (void)priority;
    (void)core;
    if (task == NULL || fn == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    task->fn = fn;
    task->arg = arg;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    /* Host code needs more stack than the chip (libc, sanitizers): never less than 256 KiB. */
    size_t stack = stack_bytes < 256u * 1024u ? 256u * 1024u : stack_bytes;
    pthread_attr_setstacksize(&attr, stack);
    int rc = pthread_create(&task->thread, &attr, task_trampoline, task);
    pthread_attr_destroy(&attr);
    task->started = (rc == 0);
    return rc == 0 ? ESP_OK : ESP_ERR_NO_MEM;
}

void kraken_port_task_join(kraken_port_task_t *task)
{
    if (task->started) {
        pthread_join(task->thread, NULL);
        task->started = false;
    }
}

bool kraken_port_task_is_current(const kraken_port_task_t *task)
{
    return task != NULL && current_task == task && !sim_in_isr();
}

void kraken_port_delay_ms(uint32_t ms)
{
    if (ms == 0) {
        sched_yield();
        return;
    }
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
