/* bench_support.h - what the benchmarks share: saying which command produced their figures. */
#ifndef BENCH_SUPPORT_H
#define BENCH_SUPPORT_H

#include <stdio.h>

/* Print the command line, and where the repeatable (callgrind) figures are explained. */
static inline void bench_print_command(int argc, char **argv, const char *doc)
{
    printf("command:");
    for (int i = 0; i < argc; i++) {
        printf(" %s", argv[i]);
    }
    printf("   (callgrind figures: %s)\n", doc);
}

#endif
