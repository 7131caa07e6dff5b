/*
 * freertos_refusals.h - the host FreeRTOS tests' account of refused calls
 * (kraken_sim_stats_t.refused_calls): a test that provokes a refusal on purpose asserts it with
 * ASSERT_REFUSED, and its teardown checks that no other happened (unasserted_refusals() == 0), so
 * that every refusal the host counts is one a test asked for, and counted exactly once.
 */
#ifndef FREERTOS_REFUSALS_H
#define FREERTOS_REFUSALS_H

#include <stdint.h>

#include "kraken_sim.h"

/* Refusals the running test asserted since its setup (or the last simulated boot it made). */
static uint64_t asserted_refusals_ __attribute__((unused));

static inline uint64_t refused_calls(void)
{
    kraken_sim_stats_t st;
    kraken_sim_get_stats(&st);
    return st.refused_calls;
}

/* Runs the statement(s), which the host must refuse and count exactly n times. */
#define ASSERT_REFUSED(n, ...)                                                                     \
    do {                                                                                           \
        const uint64_t refused_before_ = refused_calls();                                          \
        __VA_ARGS__;                                                                               \
        assert_int_equal(refused_calls() - refused_before_, (n));                                  \
        asserted_refusals_ += (n);                                                                 \
    } while (0)

/* For calls ASSERT_REFUSED cannot hold (declarations): exactly n refusals since `before`, a
 * refused_calls() taken then. */
#define ASSERT_REFUSED_SINCE(before, n)                                                            \
    do {                                                                                           \
        assert_int_equal(refused_calls() - (before), (n));                                         \
        asserted_refusals_ += (n);                                                                 \
    } while (0)

/* Runs the statement(s), which the host must not count as a refusal. */
#define ASSERT_NOT_REFUSED(...) ASSERT_REFUSED(0, __VA_ARGS__)

/* A test that reboots the simulator (the counters go back to 0) says so. */
static inline __attribute__((unused)) void refusals_rebooted(void)
{
    asserted_refusals_ = 0;
}

/* For a teardown: refusals no ASSERT_REFUSED expected (not 0 fails, and prints them); starts the
 * next test's account. */
static inline __attribute__((unused)) uint64_t unasserted_refusals(void)
{
    const uint64_t unasserted = refused_calls() - asserted_refusals_;
    asserted_refusals_ = 0;
    if (unasserted != 0) {
        print_error("teardown: %llu FreeRTOS refusals (refused_calls) no test asserted\n",
                    (unsigned long long)unasserted);
    }
    return unasserted;
}

/* A teardown: the simulator rebooted (kraken_sim_reset()), after checking that the test's
 * refusals were all asserted. */
static inline __attribute__((unused)) int refusals_reset(void **state)
{
    (void)state;
    const uint64_t unasserted = unasserted_refusals();
    assert_int_equal(kraken_sim_reset(), ESP_OK);
    assert_int_equal(unasserted, 0);
    return 0;
}

#endif /* FREERTOS_REFUSALS_H */
