/* bench_support.h - what the benchmarks share: saying which command produced their figures. */
#ifndef BENCH_SUPPORT_H
#define BENCH_SUPPORT_H

#include <stdio.h>
#include <time.h> /* clock_gettime: the bench defines _POSIX_C_SOURCE (or _GNU_SOURCE) first */

/* Print the command line, and where the repeatable (callgrind) figures are explained. */
static inline void bench_print_command(int argc, char **argv, const char *doc)
{
    printf("command:");
    for (int i = 0; i < argc; i++) {
        printf(" %s", argv[i]);
    }
    printf("   (callgrind figures: %s)\n", doc);
}

/* CLOCK_MONOTONIC now, in nanoseconds. */
static inline double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* qsort's comparison of doubles, for the medians. */
static inline int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
