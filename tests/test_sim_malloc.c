/* test_sim_malloc.c - plain malloc()/calloc()/realloc()/free() on the simulated chip, and libc interop. */
#define _GNU_SOURCE /* getline, reallocarray, asprintf */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture_output.h"
#include "esp_heap_caps.h"
#include "esp_memory_utils.h"
#include "esp_psram.h"
#include "kraken_sim.h"
#include "sdkconfig.h"
#include "sim_internal.h"

/* Called through pointers so the compiler cannot reject the misuse these tests make on purpose. */
static void (*volatile free_fn)(void *) = free;
static void *(*volatile calloc_fn)(size_t, size_t) = calloc;
/* ...and so that clang cannot elide a malloc() whose result is only compared with NULL. */
static void *(*volatile malloc_fn)(size_t) = malloc;
static void *(*volatile realloc_fn)(void *, size_t) = realloc;
static void *(*volatile reallocarray_fn)(void *, size_t, size_t) = reallocarray;

static unsigned hook_calls;
static size_t hook_size;
static uint32_t hook_caps;

static void failed_hook(size_t size, uint32_t caps, const char *function_name)
{
    (void)function_name;
    hook_calls++;
    hook_size = size;
    hook_caps = caps;
}

/* The build's options, on the current ESP-IDF release (test_sim_heap_caps.c covers the others). */
static int boot(kraken_sim_profile_t profile)
{
    hook_calls = 0;
    sim_policy_t policy;
    sim_policy_from_sdkconfig(&policy);
    policy.idf = SIM_IDF_CURRENT;
    if (sim_init_with_policy(profile, &policy) != ESP_OK) {
        return -1;
    }
    return heap_caps_register_failed_alloc_callback(failed_hook) == ESP_OK ? 0 : -1;
}

static int boot_n8r8(void **state)
{
    (void)state;
    return boot(KRAKEN_SIM_ESP32S3_N8R8);
}

static int boot_n8r2(void **state)
{
    (void)state;
    return boot(KRAKEN_SIM_ESP32S3_N8R2);
}

static int boot_n8(void **state)
{
    (void)state;
    return boot(KRAKEN_SIM_ESP32S3_N8);
}

static kraken_sim_stats_t stats(void)
{
    kraken_sim_stats_t s;
    kraken_sim_get_stats(&s);
    return s;
}

static void malloc_returns_simulated_internal_ram_and_free_gives_it_back(void **state)
{
    (void)state;
    size_t before = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    char *p = malloc(1000);
    assert_non_null(p);
    assert_true(sim_owns(p));
    assert_true(esp_ptr_internal(p)); /* USE_CAPS_ALLOC (and small sizes under USE_MALLOC) */
    assert_true(heap_caps_get_free_size(MALLOC_CAP_INTERNAL) < before);
    memset(p, 'x', 1000);
    free(p);
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_INTERNAL), before);
    assert_int_equal(stats().allocations, 1);
    assert_int_equal(stats().frees, 1);
}

static void free_releases_heap_caps_blocks_of_every_memory(void **state)
{
    (void)state;
    size_t before = heap_caps_get_free_size(0);
    void *psram = heap_caps_malloc(5000, MALLOC_CAP_SPIRAM);
    void *dma = heap_caps_aligned_alloc(64, 512, MALLOC_CAP_DMA);
    void *rtc = heap_caps_malloc(100, MALLOC_CAP_RTCRAM);
    assert_non_null(dma);
    assert_non_null(rtc);
    free(psram); /* NULL on the module without PSRAM: a no-op */
    free(dma);
    free(rtc);
    assert_int_equal(heap_caps_get_free_size(0), before);
    assert_int_equal(stats().invalid_frees, 0);
    assert_true(heap_caps_check_integrity_all(true));
}

/* Memory libc allocates for itself (its unwrapped malloc: fopen's buffers, realpath) */
static char *libc_string(const char *s)
{
    char *copy = __real_malloc(strlen(s) + 1);
    assert_non_null(copy);
    return strcpy(copy, s);
}

static void free_and_realloc_accept_what_libc_allocated_itself(void **state)
{
    (void)state;
    kraken_sim_stats_t before = stats();
    char *copy = libc_string("kraken"); /* not wrapped, not simulated */
    assert_false(sim_owns(copy));
    char *grown = realloc(copy, 4096);
    assert_non_null(grown);
    assert_false(sim_owns(grown));
    assert_string_equal(grown, "kraken");
    free(grown);
    FILE *stream = fopen("/dev/null", "w"); /* libc's own buffers come and go too */
    assert_non_null(stream);
    fprintf(stream, "%d\n", 42);
    fclose(stream);
    kraken_sim_stats_t after = stats();
    assert_int_equal(after.allocations, before.allocations);
    assert_int_equal(after.invalid_frees, before.invalid_frees);
}

/* glibc's fortified asprintf(); declared only under _FORTIFY_SOURCE */
int __asprintf_chk(char **out, int flag, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* newlib takes them from malloc(): heap blocks that heap_caps_free(), the figures and the
 * simulator's counters know (glibc's own malloc served them before). */
static void strings_from_strdup_strndup_and_asprintf_are_heap_blocks(void **state)
{
    (void)state;
    const size_t free_before = heap_caps_get_free_size(MALLOC_CAP_8BIT);
    const kraken_sim_stats_t before = stats();
    char *a = strdup("kraken");
    char *b = strndup("kraken-os", 6);
    char *c = NULL;
    assert_int_equal(asprintf(&c, "%s-%d", "pool", 64), 7);
    assert_string_equal(a, "kraken");
    assert_string_equal(b, "kraken");
    assert_string_equal(c, "pool-64");
    char *d = NULL; /* asprintf() as glibc's _FORTIFY_SOURCE compiles it */
    assert_int_equal(__asprintf_chk(&d, 1, "%d", 42), 2);
    assert_string_equal(d, "42");
    char *const strings[] = {a, b, c, d};
    for (size_t i = 0; i < 4; i++) {
        assert_true(sim_owns(strings[i]));
        assert_true(heap_caps_get_allocated_size(strings[i]) >= strlen(strings[i]) + 1);
    }
    assert_int_equal(stats().allocations, before.allocations + 4);
    assert_true(heap_caps_get_free_size(MALLOC_CAP_8BIT) < free_before);
    heap_caps_free(a); /* as on the chip */
    free(b);
    free(c);
    free(d);
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_8BIT), free_before);
    char *empty = NULL; /* an empty text is a 1-byte block */
    assert_int_equal(asprintf(&empty, "%s", ""), 0);
    assert_string_equal(empty, "");
    free(empty);
    kraken_sim_fail_next(0, 8); /* out of memory (every heap malloc() tries): NULL and ENOMEM */
    errno = 0;
    assert_null(strdup("x"));
    assert_int_equal(errno, ENOMEM);
    kraken_sim_fault_clear();
    assert_int_equal(stats().invalid_frees, before.invalid_frees);
}

static void malloc_of_zero_returns_null_without_the_hook_as_on_esp_idf(void **state)
{
    (void)state;
    assert_null(malloc_fn(0));
    assert_null(calloc_fn(0, 16));
    assert_null(calloc_fn(16, 0));
    assert_int_equal(hook_calls, 0);
}

static void calloc_zeroes_and_an_overflowing_product_is_null_without_the_hook(void **state)
{
    (void)state;
    unsigned char *dirty = malloc(256);
    assert_non_null(dirty);
    memset(dirty, 0xFF, 256);
    free(dirty);
    unsigned char *clean = calloc(16, 16);
    assert_non_null(clean);
    for (int i = 0; i < 256; i++) {
        assert_int_equal(clean[i], 0);
    }
    free(clean);
    assert_null(calloc_fn(SIZE_MAX / 4, 8));
    assert_null(calloc_fn(0x10000, 0x10001)); /* over 4 GB: the chip's 32-bit size_t overflows */
    assert_int_equal(hook_calls, 0); /* ESP-IDF's calloc() returns before heap_caps */
}

static void realloc_keeps_the_contents_and_handles_null_and_zero(void **state)
{
    (void)state;
    char *p = realloc(NULL, 10);
    assert_non_null(p);
    memcpy(p, "012345678", 10);
    char *q = realloc(p, 5000);
    assert_non_null(q);
    assert_string_equal(q, "012345678");
    char *r = realloc(q, 4);
    assert_non_null(r);
    assert_memory_equal(r, "0123", 4);
    assert_null(realloc(r, 0)); /* frees, as ESP-IDF's realloc(p, 0) does */
    assert_int_equal(stats().allocations, stats().frees);
}

static void a_failed_malloc_reports_esp_idfs_default_caps_to_the_hook(void **state)
{
    (void)state;
    assert_null(malloc_fn(16u << 20)); /* larger than internal RAM and than PSRAM */
    assert_int_equal(hook_calls, 1);
    assert_int_equal(hook_size, 16u << 20);
#ifdef CONFIG_SPIRAM_USE_MALLOC
    assert_int_equal(hook_caps, esp_psram_is_initialized() ? MALLOC_CAP_DEFAULT
                                                            : MALLOC_CAP_DEFAULT | MALLOC_CAP_INTERNAL);
#else
    assert_int_equal(hook_caps, MALLOC_CAP_DEFAULT | MALLOC_CAP_INTERNAL);
#endif
}

/* heap_caps_malloc_extmem_enable() sets malloc()'s limit whether PSRAM is there or not, as ESP-IDF
 * does: small blocks stay internal, a failure then reports MALLOC_CAP_DEFAULT. */
static void extmem_enable_applies_with_or_without_psram(void **state)
{
    (void)state;
    heap_caps_malloc_extmem_enable(4096);
    char *p = malloc_fn(100);
    assert_non_null(p);
    assert_true(esp_ptr_internal(p));
    free(p);
    assert_null(malloc_fn(16u << 20));
    assert_int_equal(hook_calls, 1);
    assert_int_equal(hook_caps, MALLOC_CAP_DEFAULT);
}

/* The chip keeps the limit in an int, -1 meaning "malloc() never uses PSRAM": the chip's SIZE_MAX
 * (UINT32_MAX) turns PSRAM off whatever the host's size_t, a 2 GiB limit still counts as a size. */
static void extmem_enable_stores_its_limit_as_the_chips_int(void **state)
{
    (void)state;
    heap_caps_malloc_extmem_enable(UINT32_MAX);
    assert_int_equal(sim_malloc_internal_limit(), -1);
    assert_null(malloc_fn(16u << 20));
    assert_int_equal(hook_caps, MALLOC_CAP_DEFAULT | MALLOC_CAP_INTERNAL);
    heap_caps_malloc_extmem_enable(SIZE_MAX);
    assert_int_equal(sim_malloc_internal_limit(), -1);
    heap_caps_malloc_extmem_enable(0x80000000u);
    assert_int_equal(sim_malloc_internal_limit(), (int64_t)0x80000000u);
    assert_null(malloc_fn(16u << 20));
    assert_int_equal(hook_caps, MALLOC_CAP_DEFAULT);
}

/* ESP-IDF's newlib glue sends these to heap_caps_aligned_alloc_default() as well. */
static void *(*volatile aligned_alloc_fn)(size_t, size_t) = aligned_alloc;
static int (*volatile posix_memalign_fn)(void **, size_t, size_t) = posix_memalign;

static void aligned_allocations_come_from_the_simulated_chip_too(void **state)
{
    (void)state;
    size_t before = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    char *a = aligned_alloc_fn(64, 1000);
    assert_non_null(a);
    assert_true(sim_owns(a));
    assert_true(esp_ptr_internal(a));
    assert_int_equal((uintptr_t)a % 64, 0);
    assert_true(heap_caps_get_free_size(MALLOC_CAP_INTERNAL) < before);
    void *m = NULL;
    assert_int_equal(posix_memalign_fn(&m, 128, 200), 0);
    assert_true(sim_owns(m));
    assert_int_equal((uintptr_t)m % 128, 0);
    free(m);
    free(a);
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_INTERNAL), before);
    assert_int_equal(hook_calls, 0);
    /* failures: as heap_caps_aligned_alloc_default() */
    assert_null(aligned_alloc_fn(64, 16u << 20));
    assert_int_equal(hook_calls, 1);
    assert_int_equal(hook_size, 16u << 20);
    void *untouched = &m;
    m = untouched;
    assert_int_equal(posix_memalign_fn(&m, 64, 16u << 20), ENOMEM);
    assert_ptr_equal(m, untouched);
    assert_int_equal(posix_memalign_fn(&m, 64, 0), 0); /* size 0: NULL, not an error */
    assert_null(m);
    assert_null(aligned_alloc_fn(48, 100)); /* not a power of two: no callback */
    assert_int_equal(hook_calls, 2);
}

/* ESP-IDF's newlib glue makes valloc() and pvalloc() aliases of malloc() (components/newlib/src/
 * heap.c in v5.5.5, esp_libc on master): a block of the simulated chip with malloc()'s policy and
 * failure report, not a page of libc's heap. */
static void *(*volatile valloc_fn)(size_t) = valloc;
static void *(*volatile pvalloc_fn)(size_t) = pvalloc;

static void valloc_and_pvalloc_are_malloc_as_on_esp_idf(void **state)
{
    (void)state;
    size_t before = heap_caps_get_free_size(MALLOC_CAP_INTERNAL);
    void *v = valloc_fn(100);
    void *pv = pvalloc_fn(100);
    assert_non_null(v);
    assert_non_null(pv);
    assert_true(sim_owns(v));
    assert_true(sim_owns(pv));
    assert_true(esp_ptr_internal(v)); /* malloc()'s policy: internal first */
    assert_true(heap_caps_get_free_size(MALLOC_CAP_INTERNAL) < before);
    free(v);
    free(pv);
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_INTERNAL), before);
    assert_null(valloc_fn(0)); /* malloc(0): NULL without the hook */
    assert_int_equal(hook_calls, 0);
    assert_null(pvalloc_fn(16u << 20)); /* a failure is malloc()'s, reported as such */
    assert_int_equal(hook_calls, 1);
    assert_int_equal(hook_size, 16u << 20);
    kraken_sim_stats_t s = stats();
    assert_int_equal(s.allocations, 2);
    assert_int_equal(s.frees, 2);
}

static size_t (*volatile usable_size_fn)(void *) = malloc_usable_size;

static void malloc_usable_size_is_zero_as_on_esp_idf(void **state)
{
    (void)state;
    void *p = malloc(100);
    assert_true(sim_owns(p));
    assert_int_equal(usable_size_fn(p), 0); /* glibc's would read a header that is not there */
    assert_int_equal(usable_size_fn(NULL), 0);
    free(p);
    char *own = libc_string("libc's own"); /* glibc answers for its own blocks */
    assert_true(usable_size_fn(own) >= strlen(own) + 1);
    free(own);
}

static void print_malloc_stats(void *arg)
{
    (void)arg;
    malloc_stats();
}

/* ESP-IDF stubs these out (newlib glue, heap.c); glibc's would describe its own arena, which
 * holds the test's libc blocks and none of the simulated heaps'. */
static void malloc_introspection_is_stubbed_as_on_esp_idf(void **state)
{
    (void)state;
    char *own = libc_string("in glibc's arena");
    void *p = malloc(100);
    assert_true(sim_owns(p));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* glibc deprecates mallinfo() */
    const struct mallinfo info = mallinfo();
#pragma GCC diagnostic pop
    assert_int_equal(info.arena, 0);
    assert_int_equal(info.uordblks, 0);
    assert_int_equal(info.fordblks, 0);
    assert_int_equal(mallopt(M_TRIM_THRESHOLD, 1 << 20), 0); /* refused; glibc's accepts (1) */
    assert_int_equal(malloc_trim(0), 0);
    char printed[256];
    capture_output(STDERR_FILENO, print_malloc_stats, NULL, printed, sizeof printed);
    assert_string_equal(printed, ""); /* glibc's prints its arenas */
    free(p);
    free(own);
}

/* malloc()/free() from an ISR work as on ESP-IDF (heap_caps_malloc_default / heap_caps_free, allowed
 * there though discouraged) and are counted; a libc pointer still goes to libc. */
static void malloc_and_free_in_a_simulated_isr_work_and_are_counted(void **state)
{
    (void)state;
    void *p = malloc(32);
    assert_non_null(p);
    kraken_sim_isr_enter();
    void *q = malloc_fn(32);
    assert_non_null(q);
    assert_true(sim_owns(q));
    free_fn(p);
    free_fn(q);
    kraken_sim_isr_exit();
    assert_int_equal(stats().isr_calls, 3);
    assert_int_equal(stats().frees, 2);
    assert_int_equal(stats().invalid_frees, 0);
    char *text = libc_string("libc");
    kraken_sim_isr_enter();
    text = realloc_fn(text, 64);
    assert_non_null(text);
    assert_false(sim_owns(text));
    free_fn(text);
    kraken_sim_isr_exit();
    assert_int_equal(stats().isr_calls, 3); /* libc's memory is not the simulated chip's */
    assert_int_equal(stats().invalid_frees, 0);
}

/* libc calls that grow the caller's buffer: with a buffer from malloc() (simulated) they grow it
 * on the simulated chip, as newlib does on ESP-IDF (glibc's own realloc aborted on it). */
static void libc_calls_that_grow_a_malloc_buffer_keep_it_on_the_chip(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    char long_line[300];
    memset(long_line, 'x', sizeof long_line - 2);
    long_line[sizeof long_line - 2] = '\n';
    long_line[sizeof long_line - 1] = '\0';
    fputs("short\n", f);
    fputs(long_line, f);
    rewind(f);
    size_t capacity = 16;
    char *line = malloc(capacity);
    assert_true(sim_owns(line));
    assert_int_equal(getline(&line, &capacity, f), 6);
    assert_string_equal(line, "short\n");
    assert_int_equal(capacity, 16);
    assert_int_equal(getdelim(&line, &capacity, '\n', f), (ssize_t)strlen(long_line));
    assert_string_equal(line, long_line);
    assert_true(sim_owns(line)); /* grown by realloc() on the chip */
    assert_true(capacity > strlen(long_line));
    assert_int_equal(capacity, 512); /* doubled from 16, as newlib does */
    assert_int_equal(getline(&line, &capacity, f), -1); /* end of file: the buffer stays */
    assert_true(sim_owns(line));
    /* A NULL buffer is allocated on the chip too, 128 bytes first (newlib), doubled as needed. */
    rewind(f);
    char *fresh = NULL;
    size_t fresh_capacity = 0;
    assert_int_equal(getline(&fresh, &fresh_capacity, f), 6);
    assert_true(sim_owns(fresh));
    assert_int_equal(fresh_capacity, 128);
    assert_int_equal(getline(&fresh, &fresh_capacity, f), (ssize_t)strlen(long_line));
    assert_int_equal(fresh_capacity, 512);
    free(fresh);
    fclose(f);
    /* A line as long as the buffer leaves no room for its '\0': the buffer grows. A buffer whose
     * capacity says under 4 bytes starts again at 128. */
    f = tmpfile();
    assert_non_null(f);
    fputs("0123456789abcde\n", f);
    fputs("tiny\n", f);
    rewind(f);
    size_t exact_capacity = 16;
    char *exact = malloc(exact_capacity);
    assert_int_equal(getline(&exact, &exact_capacity, f), 16);
    assert_string_equal(exact, "0123456789abcde\n");
    assert_int_equal(exact_capacity, 32);
    size_t tiny_capacity = 0;
    char *tiny = malloc(1);
    assert_int_equal(getline(&tiny, &tiny_capacity, f), 5);
    assert_string_equal(tiny, "tiny\n");
    assert_int_equal(tiny_capacity, 128);
    free(exact);
    free(tiny);
    fclose(f);
    /* A buffer that cannot grow: -1 and ENOMEM, the buffer and its capacity kept. */
    f = tmpfile();
    assert_non_null(f);
    fputs(long_line, f);
    rewind(f);
    size_t kept_capacity = 16;
    char *kept = malloc(kept_capacity);
    assert_non_null(kept);
    strcpy(kept, "before");
    kraken_sim_fail_next(0, 8); /* every heap the growing realloc() tries */
    errno = 0;
    assert_int_equal(getline(&kept, &kept_capacity, f), -1);
    kraken_sim_fault_clear();
    assert_int_equal(errno, ENOMEM);
    assert_int_equal(kept_capacity, 16);
    assert_string_equal(kept, "before");
    free(kept);
    fclose(f);

    int *numbers = reallocarray_fn(line, 100, sizeof(int));
    assert_non_null(numbers);
    assert_true(sim_owns(numbers));
    errno = 0;
    assert_null(reallocarray_fn(numbers, SIZE_MAX / 2, 4)); /* n * size overflows: kept */
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(reallocarray_fn(numbers, 0x10000, 0x10001)); /* over the chip's 4 GB: the same */
    assert_int_equal(errno, ENOMEM);
    free(numbers);
    assert_int_equal(stats().invalid_frees, 0);
}

static void freeing_a_simulated_pointer_twice_is_counted_not_fatal(void **state)
{
    (void)state;
    char *p = malloc(64);
    assert_non_null(p);
    free_fn(p);
    free_fn(p);
    free_fn(p + 4);
    assert_int_equal(stats().invalid_frees, 2);
    assert_true(heap_caps_check_integrity_all(true));
}

/* sim_malloc.c asks the pools (memory_pool_owns, a weak reference) before releasing a block; this
 * program does not use them, so memory_pool.o is not linked and free() must work without it
 * (test_memory_pool.c covers the program that links them). */
bool memory_pool_owns(const void *ptr) __attribute__((weak));

static void free_and_realloc_work_in_a_program_without_the_memory_pools(void **state)
{
    (void)state;
    assert_null(memory_pool_owns); /* the premise: nothing pulled memory_pool.o in */
    char *p = malloc(5000);
    assert_non_null(p);
    char *q = realloc(p, 6000);
    assert_non_null(q);
    free(q);
    kraken_sim_stats_t s = stats();
    assert_int_equal(s.allocations, 1);
    assert_int_equal(s.frees, 1);
    assert_int_equal(s.invalid_frees, 0);
}

#define ALL_PROFILES(test)                                                                          \
    cmocka_unit_test_setup(test, boot_n8r8), cmocka_unit_test_setup(test, boot_n8r2),              \
        cmocka_unit_test_setup(test, boot_n8)

int main(void)
{
    const struct CMUnitTest tests[] = {
        ALL_PROFILES(malloc_returns_simulated_internal_ram_and_free_gives_it_back),
        ALL_PROFILES(free_releases_heap_caps_blocks_of_every_memory),
        ALL_PROFILES(free_and_realloc_accept_what_libc_allocated_itself),
        ALL_PROFILES(strings_from_strdup_strndup_and_asprintf_are_heap_blocks),
        ALL_PROFILES(malloc_of_zero_returns_null_without_the_hook_as_on_esp_idf),
        ALL_PROFILES(calloc_zeroes_and_an_overflowing_product_is_null_without_the_hook),
        ALL_PROFILES(realloc_keeps_the_contents_and_handles_null_and_zero),
        ALL_PROFILES(a_failed_malloc_reports_esp_idfs_default_caps_to_the_hook),
        ALL_PROFILES(aligned_allocations_come_from_the_simulated_chip_too),
        ALL_PROFILES(extmem_enable_applies_with_or_without_psram),
        ALL_PROFILES(extmem_enable_stores_its_limit_as_the_chips_int),
        ALL_PROFILES(malloc_and_free_in_a_simulated_isr_work_and_are_counted),
        ALL_PROFILES(valloc_and_pvalloc_are_malloc_as_on_esp_idf),
        ALL_PROFILES(malloc_usable_size_is_zero_as_on_esp_idf),
        ALL_PROFILES(malloc_introspection_is_stubbed_as_on_esp_idf),
        ALL_PROFILES(libc_calls_that_grow_a_malloc_buffer_keep_it_on_the_chip),
        ALL_PROFILES(freeing_a_simulated_pointer_twice_is_counted_not_fatal),
        ALL_PROFILES(free_and_realloc_work_in_a_program_without_the_memory_pools),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
