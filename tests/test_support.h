/*
 * test_support.h - what several test programs share: capturing what the code under test prints
 * (the log goes to stdout, in ESP-IDF's format). Include after <cmocka.h>.
 */
#ifndef TEST_SUPPORT_H
#define TEST_SUPPORT_H

#include <stdio.h>
#include <unistd.h>

static FILE *capture_tmp_;
static int capture_saved_fd_ = -1;

/* Send stdout to a temporary file until capture_stdout_end(). */
static inline void capture_stdout_begin(void)
{
    fflush(stdout);
    capture_tmp_ = tmpfile();
    assert_non_null(capture_tmp_);
    capture_saved_fd_ = dup(STDOUT_FILENO);
    assert_true(capture_saved_fd_ >= 0);
    assert_true(dup2(fileno(capture_tmp_), STDOUT_FILENO) >= 0);
}

/* Restore stdout and return what was printed (NUL-terminated, cut to size - 1), its length. */
static inline size_t capture_stdout_end(char *out, size_t size)
{
    fflush(stdout);
    assert_true(dup2(capture_saved_fd_, STDOUT_FILENO) >= 0);
    close(capture_saved_fd_);
    capture_saved_fd_ = -1;
    rewind(capture_tmp_);
    size_t n = fread(out, 1, size - 1, capture_tmp_);
    out[n] = '\0';
    fclose(capture_tmp_);
    capture_tmp_ = NULL;
    return n;
}

#endif
