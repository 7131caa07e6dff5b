/*
 * test_cxx_new.cpp - C++ new and delete in a C++ project that links the component: they take the
 * simulated chip's heap as on ESP-IDF (malloc(): internal SRAM with the shipped
 * CONFIG_SPIRAM_USE_CAPS_ALLOC), the C++ runtime's own allocations included, and fail as the chip
 * does when it has no room, where the PC's memory would not.
 */
#include <csetjmp>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

extern "C" {
#include <cmocka.h> /* Debian's cmocka.h has no extern "C" of its own */
}

#include "esp_heap_caps.h"
#include "esp_memory_utils.h"
#include "heap_monitor.h"
#include "kraken_sim.h"

static size_t internal_free()
{
    return heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
}

/* Keeps a pointer alive so the compiler may not elide the new/delete pair (C++14 allows it). */
static void *volatile g_sink;

/* Larger than all the memory malloc() may reach, whatever the configuration. */
static size_t too_big()
{
    return heap_caps_get_total_size(MALLOC_CAP_DEFAULT) + 1;
}

static void new_takes_internal_sram_and_delete_gives_it_back(void **state)
{
    (void)state;
    const size_t before = internal_free();
    char *block = new char[1000];
    g_sink = block;
    assert_true(esp_ptr_internal(block));
    assert_true(before - internal_free() >= 1000);
    delete[] block;
    assert_int_equal(internal_free(), before);
}

static void the_cxx_runtime_allocates_from_the_simulated_heap_too(void **state)
{
    (void)state;
    const size_t before = internal_free();
    {
        std::string text;
        text.reserve(5000); /* grown by libstdc++'s own code, not this file's */
        text.assign(4000, 'k');
        assert_true(esp_ptr_internal(text.data()));
        std::vector<uint32_t> values(1000, 7u);
        assert_true(esp_ptr_internal(values.data()));
        assert_true(before - internal_free() >= 5000 + 4000);
    }
    assert_int_equal(internal_free(), before);
}

static void a_request_the_chip_cannot_hold_throws_bad_alloc_and_is_counted(void **state)
{
    (void)state;
    heap_monitor_init();
    const uint32_t failed = heap_monitor_get_failed_alloc_count(MALLOC_CAP_DEFAULT);
    const size_t before = internal_free();
    const size_t size = too_big();
    bool threw = false;
    try {
        g_sink = new char[size];
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    assert_true(threw);
    assert_true(heap_monitor_get_failed_alloc_count(MALLOC_CAP_DEFAULT) > failed);
    assert_int_equal(internal_free(), before);
}

static void nothrow_new_returns_null(void **state)
{
    (void)state;
    const size_t size = too_big();
    char *p = new (std::nothrow) char[size];
    assert_null(p);
    int *q = new (std::nothrow) int(5);
    assert_non_null(q);
    assert_true(esp_ptr_internal(q));
    delete q;
}

static int g_handler_calls;

static void handler_that_clears_the_fault()
{
    g_handler_calls++;
    kraken_sim_fault_clear();
}

static void the_new_handler_runs_until_there_is_room(void **state)
{
    (void)state;
    g_handler_calls = 0;
    kraken_sim_fail_every(0, 1); /* every attempt fails until the handler clears it */
    std::set_new_handler(handler_that_clears_the_fault);
    int *p = new int(42);
    std::set_new_handler(nullptr);
    assert_int_equal(g_handler_calls, 1);
    assert_int_equal(*p, 42);
    assert_true(esp_ptr_internal(p));
    delete p;
}

static void handler_that_gives_up()
{
    g_handler_calls++;
    throw std::bad_alloc();
}

static void nothrow_new_returns_null_when_the_handler_gives_up(void **state)
{
    (void)state;
    g_handler_calls = 0;
    kraken_sim_fail_every(0, 1);
    std::set_new_handler(handler_that_gives_up);
    int *p = new (std::nothrow) int(1);
    std::set_new_handler(nullptr);
    kraken_sim_fault_clear();
    assert_null(p);
    assert_int_equal(g_handler_calls, 1);
}

struct alignas(64) dma_frame {
    uint8_t bytes[100];
};

static void aligned_new_keeps_its_alignment(void **state)
{
    (void)state;
    const size_t before = internal_free();
    dma_frame *frame = new dma_frame();
    g_sink = frame;
    assert_int_equal(reinterpret_cast<uintptr_t>(frame) % 64, 0);
    assert_true(esp_ptr_internal(frame));
    assert_int_equal(frame->bytes[99], 0);
    delete frame;
    assert_int_equal(internal_free(), before);

    dma_frame *frames = new (std::nothrow) dma_frame[3];
    assert_non_null(frames);
    assert_int_equal(reinterpret_cast<uintptr_t>(frames) % 64, 0);
    delete[] frames;
    assert_int_equal(internal_free(), before);
}

static void new_of_zero_bytes_gives_distinct_pointers(void **state)
{
    (void)state;
    char *a = new char[0];
    char *b = new char[0];
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    delete[] a;
    delete[] b;
}

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_takes_internal_sram_and_delete_gives_it_back),
        cmocka_unit_test(the_cxx_runtime_allocates_from_the_simulated_heap_too),
        cmocka_unit_test(a_request_the_chip_cannot_hold_throws_bad_alloc_and_is_counted),
        cmocka_unit_test(nothrow_new_returns_null),
        cmocka_unit_test(the_new_handler_runs_until_there_is_room),
        cmocka_unit_test(nothrow_new_returns_null_when_the_handler_gives_up),
        cmocka_unit_test(aligned_new_keeps_its_alignment),
        cmocka_unit_test(new_of_zero_bytes_gives_distinct_pointers),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
