/* test_sim_stress.c - the simulated chip under concurrent malloc/free from several threads.
 * KRAKEN_STRESS_ITERATIONS overrides the operations per thread (default 20000). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "esp_heap_caps.h"
#include "esp_memory_utils.h"
#include "kraken_sim.h"

#define THREADS 4
#define LIVE 48

typedef struct {
    unsigned seed;
    unsigned iterations;
    unsigned failures;
    unsigned misplaced; /* blocks found outside the memory their caps asked for */
    unsigned corrupted; /* blocks whose fill pattern changed while owned by this thread */
} worker_t;

static unsigned next_random(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (*state >> 8) & 0xFFFFFFu;
}

typedef enum { ANYWHERE, INTERNAL, EXTERNAL } placement_t;

typedef struct {
    uint8_t *ptr;
    size_t size;
    uint8_t tag;
} block_t;

static bool placed_right(const void *p, placement_t expected)
{
    switch (expected) {
    case INTERNAL: return esp_ptr_internal(p);
    case EXTERNAL: return esp_ptr_external_ram(p);
    default: return esp_ptr_internal(p) || esp_ptr_external_ram(p); /* malloc(): per sdkconfig */
    }
}

static bool intact(const block_t *b)
{
    for (size_t i = 0; i < b->size; i++) {
        if (b->ptr[i] != b->tag) {
            return false;
        }
    }
    return true;
}

static void release(worker_t *w, block_t *b)
{
    if (b->ptr == NULL) {
        return;
    }
    if (!intact(b)) {
        w->corrupted++;
    }
    if ((b->tag & 1) != 0) {
        heap_caps_free(b->ptr);
    } else {
        free(b->ptr);
    }
    b->ptr = NULL;
}

static void *work(void *arg)
{
    worker_t *w = arg;
    block_t live[LIVE] = {{0}};
    for (unsigned i = 0; i < w->iterations; i++) {
        unsigned r = next_random(&w->seed);
        block_t *b = &live[r % LIVE];
        release(w, b);
        size_t size = 1 + (next_random(&w->seed) % 2048);
        uint8_t tag = (uint8_t)(r >> 12);
        uint8_t *p;
        placement_t expected = INTERNAL;
        switch ((r >> 4) % 5) {
        case 0: p = malloc(size); tag &= 0xFE; expected = ANYWHERE; break;
        case 1: p = calloc(1, size); tag &= 0xFE; expected = ANYWHERE; break;
        case 2: p = heap_caps_malloc(size, MALLOC_CAP_SPIRAM); tag |= 1; expected = EXTERNAL; break;
        case 3: p = heap_caps_malloc(size, MALLOC_CAP_DMA); tag |= 1; break;
        default: {
            uint8_t *small = heap_caps_malloc(16, MALLOC_CAP_8BIT);
            p = heap_caps_realloc(small, size, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
            if (p == NULL) {
                heap_caps_free(small); /* a failed realloc leaves the block to its owner */
            }
            tag |= 1;
            break;
        }
        }
        if (p == NULL) {
            w->failures++; /* fault injection (every 97th attempt) or a full heap */
            continue;
        }
        if (!placed_right(p, expected)) {
            w->misplaced++;
        }
        memset(p, tag, size);
        *b = (block_t){.ptr = p, .size = size, .tag = tag};
    }
    for (unsigned i = 0; i < LIVE; i++) {
        release(w, &live[i]);
    }
    return NULL;
}

static unsigned iterations(void)
{
    const char *env = getenv("KRAKEN_STRESS_ITERATIONS");
    long n = env != NULL ? strtol(env, NULL, 10) : 0;
    return n > 0 ? (unsigned)n : 20000u;
}

static void run_threads(kraken_sim_profile_t profile)
{
    assert_int_equal(kraken_sim_init(profile), ESP_OK);
    size_t free_before = heap_caps_get_free_size(0);
    multi_heap_info_t info;
    heap_caps_get_info(&info, 0);
    size_t blocks_before = info.allocated_blocks; /* the DMA pool is one under USE_MALLOC */
    kraken_sim_fail_every(0, 97);
    pthread_t threads[THREADS];
    worker_t workers[THREADS];
    for (unsigned t = 0; t < THREADS; t++) {
        workers[t] = (worker_t){.seed = 0x9E3779B9u * (t + 1), .iterations = iterations()};
        assert_int_equal(pthread_create(&threads[t], NULL, work, &workers[t]), 0);
    }
    unsigned failures = 0;
    for (unsigned t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(threads[t], NULL), 0);
        assert_int_equal(workers[t].corrupted, 0);
        assert_int_equal(workers[t].misplaced, 0);
        failures += workers[t].failures;
    }
    kraken_sim_fault_clear();
    assert_true(heap_caps_check_integrity_all(true));
    assert_int_equal(heap_caps_get_free_size(0), free_before);
    kraken_sim_stats_t s;
    kraken_sim_get_stats(&s);
    assert_int_equal(s.allocations, s.frees);
    assert_int_equal(s.invalid_frees, 0);
    assert_true(s.injected > 0);
    assert_true(failures > 0);
    heap_caps_get_info(&info, 0);
    assert_int_equal(info.allocated_blocks, blocks_before);
}

static void four_threads_allocating_and_freeing_keep_every_heap_consistent_on_n8r8(void **state)
{
    (void)state;
    run_threads(KRAKEN_SIM_ESP32S3_N8R8);
}

static void four_threads_allocating_and_freeing_keep_every_heap_consistent_on_n8(void **state)
{
    (void)state;
    run_threads(KRAKEN_SIM_ESP32S3_N8); /* SPIRAM requests fail: counted, never misplaced */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(four_threads_allocating_and_freeing_keep_every_heap_consistent_on_n8r8),
        cmocka_unit_test(four_threads_allocating_and_freeing_keep_every_heap_consistent_on_n8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
