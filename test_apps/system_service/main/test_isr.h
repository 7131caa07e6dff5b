/*
 * test_isr.h - run a function once in a real interrupt handler (a GPTimer alarm), for the tests of
 * the isr-ok functions.
 */
#pragma once

#include <stdbool.h>

/** Called in the ISR; returns true when it woke a higher-priority task (the ISR then yields). */
typedef bool (*test_isr_fn_t)(void *arg);

/** Arm a one-shot timer alarm that calls fn(arg) from its ISR, wait for it (at most 1 s), release
 *  the timer. Fails the running test if the alarm never fired. Task only. */
void test_run_in_isr(test_isr_fn_t fn, void *arg);
