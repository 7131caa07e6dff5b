/*
 * kraken_port_host.c - the core's port on Linux: pthreads for locks, semaphores and tasks, the
 * simulated interrupt context, and ESP-IDF-format logging (the heap part: port/kraken_port_heap_caps.c).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h" /* KRAKEN_SIM_TCB_BYTES */
#include "kraken_port.h"
#include "sim_internal.h"

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
    if ((int)level > LOG_LOCAL_LEVEL) {
        return; /* compiled out on the chip (CONFIG_LOG_MAXIMUM_LEVEL), as in port/esp_idf */
    }
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
    sem->waiters = 0;
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
        if (timeout_ms == 0) {
            rc = ETIMEDOUT;
            break;
        }
        sem->waiters++;
        if (timeout_ms == KRAKEN_PORT_WAIT_FOREVER) {
            rc = pthread_cond_wait(&sem->cond, &sem->mutex);
        } else {
            rc = pthread_cond_timedwait(&sem->cond, &sem->mutex, &deadline);
        }
        sem->waiters--;
    }
    bool taken = sem->count > 0;
    if (taken) {
        sem->count--;
    }
    pthread_mutex_unlock(&sem->mutex);
    return taken;
}

/* Give; *wakes says whether a take was waiting for it (one not served by an earlier give: each
 * waiter stays counted until it runs). */
static bool give(kraken_port_sem_t *sem, bool *wakes)
{
    pthread_mutex_lock(&sem->mutex);
    const bool given = sem->count < sem->max;
    *wakes = given && sem->waiters > sem->count;
    if (given) {
        sem->count++;
        pthread_cond_signal(&sem->cond);
    }
    pthread_mutex_unlock(&sem->mutex);
    return given;
}

bool kraken_port_sem_give(kraken_port_sem_t *sem)
{
    bool wakes;
    return give(sem, &wakes);
}

bool kraken_port_sem_give_from_isr(kraken_port_sem_t *sem, bool *woken)
{
    /* A simulated ISR runs on the interrupted thread; a waiter, if any, is woken, and *woken says
     * so (host threads have no priorities: any waiter counts). From a task the give has done all
     * there is to do: woken stays as it was. */
    bool wakes;
    const bool given = give(sem, &wakes);
    if (woken != NULL && wakes && kraken_port_in_isr()) {
        *woken = true;
    }
    return given;
}

/* ---- tasks ---------------------------------------------------------------------------------- */

/* The task each thread runs: kraken_port_task_is_current() must not read `thread`, which
 * pthread_create() may store only after the new thread has started. */
static _Thread_local const kraken_port_task_t *current_task;

static void free_task_memory(kraken_port_task_t *task)
{
    heap_caps_free(task->sim_tcb);
    heap_caps_free(task->sim_stack);
    task->sim_tcb = NULL;
    task->sim_stack = NULL;
}

static void *task_trampoline(void *arg)
{
    kraken_port_task_t *task = arg;
    current_task = task;
    sim_chip_set_task_stack(task->sim_stack, task->stack_bytes);
    task->fn(task->arg);
    sim_chip_set_task_stack(NULL, 0);
    current_task = NULL;
    return NULL;
}

esp_err_t kraken_port_task_create(kraken_port_task_t *task, kraken_port_task_fn_t fn, void *arg,
                                  const char *name, uint32_t stack_bytes, unsigned priority, int core)
{
    (void)name; /* host threads share the process's scheduler: priority and core are advisory */
    if (task == NULL || fn == NULL || core < -1 || core >= KRAKEN_PORT_CORES ||
        priority >= KRAKEN_PORT_PRIORITIES) {
        return ESP_ERR_INVALID_ARG; /* as on the chip, where FreeRTOS would assert */
    }
    task->fn = fn;
    task->arg = arg;
    /* The chip's xTaskCreatePinnedToCore takes the stack, then the TCB (KRAKEN_SIM_TCB_BYTES), from
     * the internal heap (freertos/task.h): the simulated heap holds them too, for as long as the task lives. */
    task->stack_bytes = stack_bytes;
    task->sim_stack = heap_caps_malloc(stack_bytes, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
    task->sim_tcb = task->sim_stack != NULL
                        ? heap_caps_malloc(KRAKEN_SIM_TCB_BYTES, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)
                        : NULL;
    if (task->sim_tcb == NULL) {
        heap_caps_free(task->sim_stack);
        task->sim_stack = NULL;
        task->started = false;
        return ESP_ERR_NO_MEM;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    /* Host code needs more stack than the chip (libc, sanitizers): never less than 256 KiB. */
    size_t stack = stack_bytes < 256u * 1024u ? 256u * 1024u : stack_bytes;
    pthread_attr_setstacksize(&attr, stack);
    int rc = pthread_create(&task->thread, &attr, task_trampoline, task);
    pthread_attr_destroy(&attr);
    task->started = (rc == 0);
    if (rc != 0) {
        free_task_memory(task);
    }
    return rc == 0 ? ESP_OK : ESP_ERR_NO_MEM;
}

void kraken_port_task_join(kraken_port_task_t *task)
{
    if (task->started) {
        pthread_join(task->thread, NULL);
        task->started = false;
        free_task_memory(task);
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
