/*
 * capture_output.h - for tests: what a call prints on stdout or stderr (ESP-IDF's dumps and
 * reports go there). Include after cmocka.h, with _POSIX_C_SOURCE >= 200809L.
 */
#ifndef CAPTURE_OUTPUT_H
#define CAPTURE_OUTPUT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

/* Run fn(arg) in a forked child whose stream (STDOUT_FILENO or STDERR_FILENO) goes to out
 * (NUL-terminated, cut to size - 1), for calls that end the program (abort); the child's wait
 * status. */
static inline int capture_output_of_child(int stream, void (*fn)(void *), void *arg, char *out,
                                          size_t size)
{
    char path[] = "/tmp/kraken_childXXXXXX";
    const int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    fflush(stderr);
    const pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        dup2(fd, stream);
        fn(arg);
        fflush(stdout);
        fflush(stderr);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    memset(out, 0, size);
    assert_true(pread(fd, out, size - 1, 0) >= 0);
    close(fd);
    unlink(path);
    return status;
}

#ifdef ESP_LOG_H_HOST
/* The log lines between log_capture_begin() and log_capture_end(), of every thread (the log
 * serialises its writer), through esp_log_set_vprintf. Include esp_log.h first. */
static char capture_log_text[16384];
static size_t capture_log_len;

__attribute__((format(printf, 1, 0))) static inline int capture_log_line(const char *format,
                                                                          va_list args)
{
    const size_t room = sizeof capture_log_text - capture_log_len;
    const int n = vsnprintf(capture_log_text + capture_log_len, room, format, args);
    if (n > 0) {
        capture_log_len += (size_t)n < room ? (size_t)n : room - 1;
    }
    return n;
}

static inline void log_capture_begin(void)
{
    capture_log_len = 0;
    capture_log_text[0] = '\0';
    esp_log_set_vprintf(capture_log_line);
}

static inline const char *log_capture_end(void)
{
    esp_log_set_vprintf(NULL);
    return capture_log_text;
}
#endif

#endif
