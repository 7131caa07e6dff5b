/*
 * capture_output.h - for tests: what a call prints on stdout or stderr (ESP-IDF's dumps and
 * reports go there). Include after cmocka.h, with _POSIX_C_SOURCE >= 200809L.
 */
#ifndef CAPTURE_OUTPUT_H
#define CAPTURE_OUTPUT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Run fn(arg) with the stream (STDOUT_FILENO or STDERR_FILENO) going to a file; what it wrote
 * goes to out (NUL-terminated, cut to size - 1). */
static inline void capture_output(int stream, void (*fn)(void *), void *arg, char *out,
                                  size_t size)
{
    char path[] = "/tmp/kraken_captureXXXXXX";
    const int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    fflush(stderr);
    const int saved = dup(stream);
    dup2(fd, stream);
    fn(arg);
    fflush(stdout);
    fflush(stderr);
    dup2(saved, stream);
    close(saved);
    memset(out, 0, size);
    assert_true(pread(fd, out, size - 1, 0) >= 0);
    close(fd);
    unlink(path);
}

#endif
