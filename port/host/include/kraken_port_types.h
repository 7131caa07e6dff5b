/* kraken_port_types.h (host) - concrete port types on Linux: pthreads. */
#ifndef KRAKEN_PORT_TYPES_H
#define KRAKEN_PORT_TYPES_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    pthread_mutex_t mutex;
} kraken_port_lock_t;
#define KRAKEN_PORT_LOCK_INITIALIZER { PTHREAD_MUTEX_INITIALIZER }

typedef struct {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    uint32_t count;
    uint32_t max;
} kraken_port_sem_t;

typedef struct {
    pthread_t thread;
    void (*fn)(void *arg);
    void *arg;
    bool started;
} kraken_port_task_t;

#endif
