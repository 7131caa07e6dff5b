/*
 * fuzz_main.c - runs a fuzz target without libFuzzer (gcc builds, TSan, 32-bit): the input files
 * named on the command line (to replay a crash libFuzzer saved), or pseudo-random inputs from a
 * fixed seed, the same on every run (the input running is kept in ./fuzz-last-input, so the one
 * that fails can be replayed):
 *   fuzz_memory [--runs N] [--seed S] [--max-len L]     (defaults 2000, 1, 1024)
 *   fuzz_memory crash-1234...
 * With clang and -DKRAKEN_FUZZ=ON the targets link libFuzzer instead (coverage-guided; see
 * tests/fuzz/README.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"

static uint64_t next(uint64_t *s) /* xorshift64* */
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static int replay(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    printf("%s: %zu bytes ran clean\n", path, n);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long runs = 2000, max_len = 1024;
    uint64_t seed = 1;
    int files = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10) | 1;
        } else if (strcmp(argv[i], "--max-len") == 0 && i + 1 < argc) {
            max_len = strtoul(argv[++i], NULL, 10);
        } else if (replay(argv[i]) != 0) {
            return 1;
        } else {
            files++;
        }
    }
    if (files > 0) {
        return 0;
    }
    static uint8_t buf[1 << 16]; /* not malloc'd: each input reboots the simulated heap */
    if (max_len >= sizeof buf) {
        max_len = sizeof buf - 1;
    }
    uint64_t s = seed;
    for (unsigned long r = 0; r < runs; r++) {
        size_t n = max_len ? (size_t)(next(&s) % (max_len + 1)) : 0;
        for (size_t k = 0; k < n; k++) {
            buf[k] = (uint8_t)(next(&s) >> 56);
        }
        /* written first: an input that aborts is left there, to replay */
        FILE *f = fopen("fuzz-last-input", "wb");
        if (f != NULL) {
            fwrite(buf, 1, n, f);
            fclose(f);
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    remove("fuzz-last-input");
    printf("%lu random inputs (seed %llu, up to %lu bytes) ran clean\n", runs,
           (unsigned long long)seed, max_len);
    return 0;
}
