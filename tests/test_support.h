/*
 * test_support.h - what several test programs share: capturing what the code under test prints
 * (the log goes to stdout, in ESP-IDF's format), the pool tests' heap-block guard, the teardowns'
 * checks, the heap monitor tests' health limits, filling a heap to its last block and naming the
 * simulated heap a pointer is in, counting a string's occurrences.
 * Include after <cmocka.h>.
 */
#ifndef TEST_SUPPORT_H
#define TEST_SUPPORT_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "heap_monitor.h"
#include "kraken_sim.h"
#include "sdkconfig.h"

/* How many times `needle` occurs in `text` (overlapping ones too). */
static inline size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *at = strstr(text, needle); at != NULL; at = strstr(at + 1, needle)) {
        n++;
    }
    return n;
}

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

/* Skips a test that needs `n` live heap blocks (fallback or oversize) where the Kconfig
 * cap of memory_pool's heap blocks, which init may not exceed, allows fewer (0 turns it off). */
#define NEED_HEAP_BLOCKS(n)                                                                        \
    do {                                                                                           \
        if (CONFIG_SYSTEM_SERVICE_MEMORY_POOL_HEAP_BLOCKS_MAX < (n)) {                             \
            print_message("skipped: needs %d live heap blocks, "                                   \
                          "CONFIG_SYSTEM_SERVICE_MEMORY_POOL_HEAP_BLOCKS_MAX=%d\n",                \
                          (int)(n), CONFIG_SYSTEM_SERVICE_MEMORY_POOL_HEAP_BLOCKS_MAX);            \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* Whether log lines at `level` (ESP_LOG_INFO, ...) can appear: false, with a message naming the
 * option, where CONFIG_LOG_MAXIMUM_LEVEL compiles them out (here as in the component and its port:
 * run time cannot bring them back). When true, every tag logs at `level` whatever
 * CONFIG_LOG_DEFAULT_LEVEL is: the default level "*" is raised to it if below (which also drops
 * per-tag levels, as esp_log_level_set("*") does), never lowered. */
static inline bool log_lines_at(esp_log_level_t level)
{
    if (CONFIG_LOG_MAXIMUM_LEVEL < (int)level) {
        print_message("not checked: log lines at level %d, CONFIG_LOG_MAXIMUM_LEVEL=%d compiles "
                      "them out\n",
                      (int)level, CONFIG_LOG_MAXIMUM_LEVEL);
        return false;
    }
    if ((int)esp_log_level_get("*") < (int)level) {
        esp_log_level_set("*", level);
    }
    return true;
}

/* Skips a test whose point is log lines at `level` where the configuration compiles them out;
 * otherwise lets every tag log at `level` (log_lines_at). */
#define NEED_LOG_LEVEL(level)                                                                      \
    do {                                                                                           \
        if (!log_lines_at(level)) {                                                                \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* Whether the booted module has PSRAM in the heap (the real condition, asked of the heap). Where
 * the module and the options decide it, it is also checked against them: none on the N8, none
 * without CONFIG_SPIRAM or with CONFIG_SPIRAM_USE_MEMMAP (mapped, not the heap's); a module with
 * PSRAM has it there unless CONFIG_SPIRAM_IGNORE_NOTFOUND lets it run without PSRAM found in
 * another CONFIG_SPIRAM_MODE_* (without it the simulator boots as if the mode matched). */
static inline bool psram_in_heap(void)
{
    const bool in_heap = heap_caps_get_total_size(MALLOC_CAP_SPIRAM) > 0;
#if !CONFIG_SPIRAM || CONFIG_SPIRAM_USE_MEMMAP
    assert_false(in_heap);
#else
    if (kraken_sim_get_profile() == KRAKEN_SIM_ESP32S3_N8) {
        assert_false(in_heap);
    }
#if !CONFIG_SPIRAM_IGNORE_NOTFOUND
    else {
        assert_true(in_heap);
    }
#endif
#endif
    return in_heap;
}

/* Skips a test that needs PSRAM in the heap where the booted module has none there. */
#define NEED_PSRAM_IN_HEAP()                                                                       \
    do {                                                                                           \
        if (!psram_in_heap()) {                                                                    \
            print_message("skipped: needs PSRAM in the heap; %s has none there with this build "   \
                          "(CONFIG_SPIRAM, CONFIG_SPIRAM_USE_MEMMAP, CONFIG_SPIRAM_MODE_* with "   \
                          "CONFIG_SPIRAM_IGNORE_NOTFOUND)\n",                                      \
                          kraken_sim_profile_name(kraken_sim_get_profile()));                      \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static inline bool free_live_block_(const memory_pool_block_info_t *info, void *freed)
{
    memory_pool_free((void *)info->ptr);
    ++*(size_t *)freed;
    return true;
}

/* For a teardown: free every block from memory_pool still live (a test that failed half-way
 * leaves its blocks behind, and the next test's deinit would refuse), so that one failure does
 * not fail every later test. Returns how many there were: not 0 fails the teardown. */
static inline size_t free_every_live_block(void)
{
    size_t freed = 0;
    memory_pool_walk_live(free_live_block_, &freed);
    return freed;
}

/* For a teardown: heap calls the simulator saw from a simulated ISR since its last reset. ESP-IDF
 * allows some (the simulator runs them), the component's ISR paths make none: not 0 fails. */
static inline uint64_t isr_heap_calls(void)
{
    kraken_sim_stats_t st;
    kraken_sim_get_stats(&st);
    return st.isr_calls;
}

/* For a teardown: FreeRTOS waits refused in an ISR or inside a critical section, other FreeRTOS
 * calls refused (refused_calls), and log lines written in a critical section or an ISR, since the
 * simulator's last reset (the chip asserts, hangs or aborts on each): not 0 fails. With
 * -DKRAKEN_PORT=esp_idf the component's own lock is such a section. */
static inline uint64_t critical_misuses(void)
{
    kraken_sim_stats_t st;
    kraken_sim_get_stats(&st);
    return st.refused_waits + st.refused_calls + st.critical_logs;
}

/* Takes the largest free block of `caps` until none is left, at most `max` blocks and at least
 * one; answers how many (the heap tests' exhaustion). */
static inline size_t take_every_block(void **blocks, size_t max, uint32_t caps)
{
    size_t n = 0, largest;
    while (n < max && (largest = heap_caps_get_largest_free_block(caps)) > 0) {
        void *b = heap_caps_malloc(largest, caps);
        if (b == NULL) {
            break;
        }
        blocks[n++] = b;
    }
    assert_true(n > 0);
    assert_true(n < max);
    return n;
}

/* The name of the simulated heap that holds ptr (the first region containing it, as ESP-IDF
 * searches), "none" outside every one. */
static inline const char *sim_region_name_of(const void *ptr)
{
    for (size_t i = 0; i < kraken_sim_region_count(); i++) {
        kraken_sim_region_t r;
        assert_int_equal(kraken_sim_get_region(i, &r), ESP_OK);
        if ((uintptr_t)ptr >= r.start && (uintptr_t)ptr < r.start + r.size) {
            return r.name;
        }
    }
    return "none";
}

/* The health limits the heap monitor tests are written for (the Kconfig defaults), so that they
 * hold whatever the configuration sets. */
static inline esp_err_t set_reference_thresholds(void)
{
    const heap_monitor_thresholds_t t = {.fragmentation_percent = 50,
                                         .min_free_internal = 32768,
                                         .min_largest_internal = 16384,
                                         .min_free_psram = 0,
                                         .check_integrity = false};
    return heap_monitor_set_thresholds(&t);
}

#endif
