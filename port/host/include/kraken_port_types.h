/* kraken_port_types.h (host) - concrete port types on Linux: pthreads, and the
 * critical section inline (kraken_port_lock/unlock are static inline here, declared in kraken_port.h). */
#ifndef KRAKEN_PORT_TYPES_H
#define KRAKEN_PORT_TYPES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The critical section is a spinlock, as portENTER_CRITICAL_SAFE is on the chip. Uncontended it
 * is one atomic fetch-or ("lock bts") and one release store, inline. A waiter spins on a plain
 * load and yields the CPU every 64 spins, so oversubscribed hosts make progress (a preempted
 * holder gets to run). The wait loop makes no function call (the yield is a raw syscall on x86),
 * so callers keep their values in registers instead of saving them around the lock. */
#if defined(__SANITIZE_THREAD__)
#define KRAKEN_PORT_TSAN_ 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KRAKEN_PORT_TSAN_ 1
#endif
#endif
#ifndef KRAKEN_PORT_TSAN_
#define KRAKEN_PORT_TSAN_ 0
#endif

typedef struct {
    atomic_int locked;
} kraken_port_lock_t;
#define KRAKEN_PORT_LOCK_INITIALIZER { 0 }

/* Data written often by one core and read often by another goes on its own cache line. */
#define KRAKEN_PORT_CACHE_LINE 64

/* Code that may run with the flash cache disabled on the chip: nothing to do on the host. */
#define KRAKEN_PORT_IRAM_ATTR
#define KRAKEN_PORT_ISR_TEXT

/* 1 when a call in tail position is a jump (the callee's return address is its caller's): in
 * optimised builds, but not under ThreadSanitizer, whose function-exit hook follows every call. */
#if defined(__OPTIMIZE__) && !KRAKEN_PORT_TSAN_
#define KRAKEN_PORT_TAIL_CALLS 1
#else
#define KRAKEN_PORT_TAIL_CALLS 0
#endif

/* CPU cores tasks can be pinned to: the simulated ESP32-S3's two (threads are not pinned). */
#define KRAKEN_PORT_CORES 2
/* The chip's largest size_t (32 bits), where the simulator's heap_caps calls find a product of
 * sizes overflowing, whatever the host's width. */
#define KRAKEN_PORT_SIZE_MAX ((size_t)UINT32_MAX)
/* Task priorities run from 0 to KRAKEN_PORT_PRIORITIES - 1 (ESP-IDF's configMAX_PRIORITIES). */
#define KRAKEN_PORT_PRIORITIES 25

void kraken_port_lock_yield(void); /* sched_yield(), kraken_port_host.c */

static inline void kraken_port_lock_init(kraken_port_lock_t *lock)
{
    atomic_init(&lock->locked, 0);
}

static inline void kraken_port_lock_spin_(unsigned spins)
{
#if defined(__x86_64__) && defined(__linux__)
    if (spins % 64 != 0) {
        __builtin_ia32_pause();
    } else { /* sched_yield */
        __asm__ volatile("movl $24, %%eax\n\tsyscall" : : : "rax", "rcx", "r11", "memory");
    }
#elif defined(__i386__) && defined(__linux__)
    if (spins % 64 != 0) {
        __builtin_ia32_pause();
    } else { /* sched_yield */
        __asm__ volatile("movl $158, %%eax\n\tint $0x80" : : : "eax", "memory");
    }
#else
    if (spins % 64 == 0) {
        kraken_port_lock_yield();
    }
#endif
}

static inline void kraken_port_lock_wait_(kraken_port_lock_t *lock)
{
    unsigned spins = 0;
    do {
        kraken_port_lock_spin_(++spins);
    } while (atomic_load_explicit(&lock->locked, memory_order_relaxed) != 0);
}

static inline bool kraken_port_lock_try_(kraken_port_lock_t *lock)
{
#if (defined(__x86_64__) || defined(__i386__)) && !KRAKEN_PORT_TSAN_
    bool busy;
    __asm__ volatile("lock btsl $0, %0" : "+m"(lock->locked), "=@ccc"(busy) : : "memory");
    return !busy;
#else
    return !(atomic_fetch_or_explicit(&lock->locked, 1, memory_order_acquire) & 1);
#endif
}

static inline void kraken_port_lock(kraken_port_lock_t *lock)
{
    while (__builtin_expect(!kraken_port_lock_try_(lock), 0)) {
        kraken_port_lock_wait_(lock);
    }
}

static inline void kraken_port_unlock(kraken_port_lock_t *lock)
{
    atomic_store_explicit(&lock->locked, 0, memory_order_release);
}

typedef struct {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    uint32_t count;
    uint32_t max;
    uint32_t waiters; /* takes blocked in a wait: a give from an ISR wakes one of them */
} kraken_port_sem_t;

typedef struct {
    pthread_t thread;
    void (*fn)(void *arg);
    void *arg;
    bool started;
    void *sim_stack, *sim_tcb; /* the simulated-heap blocks the chip's task takes */
    uint32_t stack_bytes;
} kraken_port_task_t;

#endif
