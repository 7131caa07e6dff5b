/* test_sim_memory_map.c - the simulated ESP32-S3's regions, caps and pointer classification. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "esp_attr.h"
#include "esp_heap_caps.h"
#include "esp_memory_utils.h"
#include "esp_psram.h"
#include "kraken_sim.h"
#include "sim_internal.h"

#define MIB (1024u * 1024u)
#define COMMON (MALLOC_CAP_DEFAULT | MALLOC_CAP_32BIT | MALLOC_CAP_8BIT)
#define DIRAM_CAPS0                                                                                \
    (COMMON | MALLOC_CAP_INTERNAL | MALLOC_CAP_DMA | MALLOC_CAP_RETENTION | MALLOC_CAP_SIMD)
#define DRAM_CAPS1 (COMMON | MALLOC_CAP_INTERNAL | MALLOC_CAP_DMA | MALLOC_CAP_SIMD)
/* What ESP-IDF's default 32 KiB data cache leaves of its 64 KiB: a heap at 0x3FCF0000. */
#define DRAM_BYTES 32768u

/* Zero-initialised statics placed like EXT_RAM_BSS_ATTR / APP_DATA_ATTR data. */
static EXT_RAM_BSS_ATTR uint8_t ext_buffer[8192];
static EXT_RAM_BSS_ATTR uint32_t ext_counters[64];
/* An initial value: lost with CONFIG_SPIRAM_ALLOW_BSS_SEG_EXTERNAL_MEMORY, as on the chip (its
 * .ext_ram.bss is not loaded, and zeroed at boot), kept without it (the attribute is empty). */
static EXT_RAM_BSS_ATTR uint16_t ext_initialised[3] = {1, 2, 3};
static uint8_t plain_static[64];

static kraken_sim_profile_t profile_from_environment;

/* The layout tests boot ESP-IDF's CONFIG_SPIRAM_USE_CAPS_ALLOC (PSRAM in the heap, not MEMMAP),
 * the module's own PSRAM mode (CONFIG_SPIRAM_MODE_OCT for the N8R8, quad for the N8R2: with
 * CONFIG_SPIRAM_IGNORE_NOTFOUND the other mode finds none) and its 32 KiB data cache explicitly
 * (BSS placement as the build says), so they hold whatever sdkconfig the library was built with. */
static int boot_caps_alloc_with_dcache(kraken_sim_profile_t profile, unsigned dcache_kb)
{
    sim_policy_t policy;
    sim_policy_from_sdkconfig(&policy);
    policy.idf = SIM_IDF_CURRENT; /* the heap order and caps written below */
    policy.spiram = true;
    policy.octal = profile != KRAKEN_SIM_ESP32S3_N8R2;
    policy.use_malloc = false;
    policy.memmap = false;
    policy.dcache_kb = dcache_kb;
    return sim_init_with_policy(profile, &policy) == ESP_OK ? 0 : -1;
}

static int boot_caps_alloc(kraken_sim_profile_t profile)
{
    return boot_caps_alloc_with_dcache(profile, 32);
}

static int boot_n8r8_dcache16(void **state)
{
    (void)state;
    return boot_caps_alloc_with_dcache(KRAKEN_SIM_ESP32S3_N8R8, 16);
}

/* A build without CONFIG_SPIRAM: nothing reserves the external address range. */
static int boot_no_spiram_dcache16(void **state)
{
    (void)state;
    sim_policy_t policy = {.spiram = false, .dcache_kb = 16};
    return sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy) == ESP_OK ? 0 : -1;
}

static int boot_n8r8_dcache64(void **state)
{
    (void)state;
    return boot_caps_alloc_with_dcache(KRAKEN_SIM_ESP32S3_N8R8, 64);
}

static int boot_n8r8(void **state)
{
    (void)state;
    return boot_caps_alloc(KRAKEN_SIM_ESP32S3_N8R8);
}

static int boot_n8r2(void **state)
{
    (void)state;
    return boot_caps_alloc(KRAKEN_SIM_ESP32S3_N8R2);
}

static int boot_n8(void **state)
{
    (void)state;
    return boot_caps_alloc(KRAKEN_SIM_ESP32S3_N8);
}

static kraken_sim_region_t region(size_t index)
{
    kraken_sim_region_t r;
    assert_int_equal(kraken_sim_get_region(index, &r), ESP_OK);
    return r;
}

static size_t ext_bss_rounded(void)
{
    return (kraken_sim_ext_bss_size() + 15) / 16 * 16;
}

/* The statics' share of PSRAM and of internal RAM under the current policy. */
static size_t psram_bss(void)
{
    return kraken_sim_ext_bss_in_psram() ? ext_bss_rounded() : 0;
}

static size_t internal_bss(void)
{
    return kraken_sim_ext_bss_in_psram() ? 0 : ext_bss_rounded();
}

/* Boot with EXT_RAM_BSS_ATTR statics in PSRAM allowed, whatever the build's sdkconfig says. */
static int boot_bss_external(kraken_sim_profile_t profile)
{
    sim_policy_t policy;
    sim_policy_from_sdkconfig(&policy);
    policy.idf = SIM_IDF_CURRENT; /* the heap order and caps written below */
    policy.spiram = true;
    policy.octal = profile != KRAKEN_SIM_ESP32S3_N8R2; /* the module's mode, as above */
    policy.use_malloc = false;
    policy.memmap = false;
    policy.bss_external = true;
    policy.dcache_kb = 32;
    return sim_init_with_policy(profile, &policy) == ESP_OK ? 0 : -1;
}

static int boot_n8r8_bss_external(void **state)
{
    (void)state;
    return boot_bss_external(KRAKEN_SIM_ESP32S3_N8R8);
}

static int boot_n8r2_bss_external(void **state)
{
    (void)state;
    return boot_bss_external(KRAKEN_SIM_ESP32S3_N8R2);
}

static int boot_n8_bss_external(void **state)
{
    (void)state;
    return boot_bss_external(KRAKEN_SIM_ESP32S3_N8);
}

static void assert_caps(const kraken_sim_region_t *r, uint32_t c0, uint32_t c1, uint32_t c2)
{
    assert_int_equal(r->caps[0], c0);
    assert_int_equal(r->caps[1], c1);
    assert_int_equal(r->caps[2], c2);
}

/* The internal heaps every profile has with a 32 KiB data cache, at the end of the list in
 * ESP-IDF's size order. */
static void assert_internal_heaps(size_t first, size_t main_bytes)
{
    kraken_sim_region_t rtc = region(first), startup = region(first + 1), dram = region(first + 2),
                        main_ram = region(first + 3);
    assert_string_equal(rtc.name, "RTCRAM");
    assert_int_equal(rtc.size, 7912);
    assert_caps(&rtc, MALLOC_CAP_RTCRAM, 0, COMMON | MALLOC_CAP_INTERNAL);
    assert_string_equal(startup.name, "RAM");
    assert_int_equal(startup.size, 22308);
    assert_caps(&startup, DIRAM_CAPS0, 0, 0);
    assert_string_equal(dram.name, "DRAM");
    assert_int_equal(dram.size, DRAM_BYTES);
    assert_caps(&dram, 0, DRAM_CAPS1, 0); /* reached after every D/IRAM heap */
    assert_string_equal(main_ram.name, "RAM");
    assert_int_equal(main_ram.size, main_bytes);
    assert_caps(&main_ram, DIRAM_CAPS0, 0, 0);
    for (size_t i = first; i < first + 4; i++) {
        kraken_sim_region_t r = region(i);
        assert_true(r.free_bytes < r.size); /* TLSF's control structure comes off the top */
        assert_true(r.free_bytes > r.size - 2048);
        assert_int_equal(r.minimum_free_bytes, r.free_bytes);
    }
}

/* ---- profiles ------------------------------------------------------------------------------- */

static unsigned early_hook_calls;

static void early_hook(size_t size, uint32_t caps, const char *function_name)
{
    (void)size;
    (void)caps;
    (void)function_name;
    early_hook_calls++;
}

/* Runs first, before anything has used the simulator. */
static void the_first_use_boots_the_environments_profile_and_keeps_what_was_set_before(void **state)
{
    (void)state;
    assert_int_equal(heap_caps_register_failed_alloc_callback(early_hook), ESP_OK);
    kraken_sim_fail_next(MALLOC_CAP_8BIT, 1);
    assert_int_equal(kraken_sim_get_profile(), profile_from_environment);
    assert_null(heap_caps_malloc(16, MALLOC_CAP_8BIT)); /* the injected failure survived */
    assert_int_equal(early_hook_calls, 1);              /* and so did the callback */
}

static void profile_names_round_trip_and_unknown_names_are_rejected(void **state)
{
    (void)state;
    for (int p = 0; p < KRAKEN_SIM_PROFILE_COUNT; p++) {
        kraken_sim_profile_t parsed;
        const char *name = kraken_sim_profile_name((kraken_sim_profile_t)p);
        assert_non_null(name);
        assert_int_equal(kraken_sim_profile_from_name(name, &parsed), ESP_OK);
        assert_int_equal(parsed, p);
    }
    kraken_sim_profile_t parsed = KRAKEN_SIM_ESP32S3_N8;
    assert_int_equal(kraken_sim_profile_from_name("esp32s3-n16r8", &parsed), ESP_ERR_NOT_FOUND);
    assert_int_equal(parsed, KRAKEN_SIM_ESP32S3_N8);
    assert_int_equal(kraken_sim_profile_from_name(NULL, &parsed), ESP_ERR_INVALID_ARG);
    assert_int_equal(kraken_sim_profile_from_name("esp32s3-n8", NULL), ESP_ERR_INVALID_ARG);
    assert_null(kraken_sim_profile_name(KRAKEN_SIM_PROFILE_COUNT));
}

static void an_unknown_or_empty_environment_profile_gives_the_default(void **state)
{
    (void)state;
    assert_int_equal(sim_profile_for_env("esp32s3-n8r2"), KRAKEN_SIM_ESP32S3_N8R2);
    assert_int_equal(sim_profile_for_env("esp32s3-n8"), KRAKEN_SIM_ESP32S3_N8);
    assert_int_equal(sim_profile_for_env("esp32-wrover"), KRAKEN_SIM_ESP32S3_N8R8);
    assert_int_equal(sim_profile_for_env(""), KRAKEN_SIM_ESP32S3_N8R8);
    assert_int_equal(sim_profile_for_env(NULL), KRAKEN_SIM_ESP32S3_N8R8);
}

static void init_with_an_unknown_profile_fails_and_changes_nothing(void **state)
{
    (void)state;
    void *p = heap_caps_malloc(64, MALLOC_CAP_8BIT);
    assert_int_equal(kraken_sim_init(KRAKEN_SIM_PROFILE_COUNT), ESP_ERR_INVALID_ARG);
    assert_int_equal(kraken_sim_get_profile(), KRAKEN_SIM_ESP32S3_N8R2);
    heap_caps_free(p); /* still a live block of the unchanged chip */
    kraken_sim_stats_t s;
    kraken_sim_get_stats(&s);
    assert_int_equal(s.invalid_frees, 0);
    assert_int_equal(s.frees, 1);
}

static void reset_keeps_the_profile_and_clears_counters_faults_and_the_hook(void **state)
{
    (void)state;
    kraken_sim_fail_next(0, 100);
    assert_null(heap_caps_malloc(64, MALLOC_CAP_8BIT));
    assert_int_equal(kraken_sim_reset(), ESP_OK);
    assert_int_equal(kraken_sim_get_profile(), KRAKEN_SIM_ESP32S3_N8R2);
    kraken_sim_stats_t s;
    kraken_sim_get_stats(&s);
    assert_int_equal(s.failed + s.injected + s.allocations, 0);
    void *p = heap_caps_malloc(64, MALLOC_CAP_8BIT);
    assert_non_null(p);
    heap_caps_free(p);
}

/* ---- regions and caps per profile ----------------------------------------------------------- */

static void n8r8_has_8_mib_of_psram_first_and_four_internal_heaps(void **state)
{
    (void)state;
    assert_true(esp_psram_is_initialized());
    assert_int_equal(esp_psram_init(), ESP_ERR_INVALID_STATE); /* set up at boot */
    assert_int_equal(esp_psram_get_size(), 8 * MIB);
    assert_int_equal(kraken_sim_region_count(), 5);
    kraken_sim_region_t psram = region(0);
    assert_string_equal(psram.name, "SPIRAM");
    assert_int_equal(psram.size, 8 * MIB - psram_bss());
    assert_caps(&psram, MALLOC_CAP_SPIRAM | MALLOC_CAP_DEFAULT, 0,
                MALLOC_CAP_8BIT | MALLOC_CAP_32BIT | MALLOC_CAP_SIMD);
    assert_internal_heaps(1, 267552 - internal_bss());
}

static void n8r2_has_2_mib_of_psram(void **state)
{
    (void)state;
    assert_true(esp_psram_is_initialized());
    assert_int_equal(esp_psram_get_size(), 2 * MIB);
    assert_int_equal(kraken_sim_region_count(), 5);
    assert_int_equal(region(0).size, 2 * MIB - psram_bss());
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_SPIRAM), 2 * MIB - psram_bss());
    assert_internal_heaps(1, 267552 - internal_bss());
}

static void n8_has_no_psram_and_keeps_the_statics_in_internal_ram(void **state)
{
    (void)state;
    assert_false(esp_psram_is_initialized());
    assert_int_equal(esp_psram_init(), ESP_FAIL); /* none found */
    assert_false(esp_psram_is_initialized());
    assert_int_equal(esp_psram_get_size(), 0);
    assert_int_equal(kraken_sim_region_count(), 4);
    assert_internal_heaps(0, 267552 - ext_bss_rounded()); /* no PSRAM: statics always internal */
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_SPIRAM), 0);
    assert_int_equal(heap_caps_get_free_size(MALLOC_CAP_SPIRAM), 0);
    assert_int_equal(heap_caps_get_largest_free_block(MALLOC_CAP_SPIRAM), 0);
}

static void init_boots_with_the_malloc_policy_of_the_builds_sdkconfig(void **state)
{
    (void)state;
    sim_policy_t build;
    sim_policy_from_sdkconfig(&build);
    for (int p = 0; p < KRAKEN_SIM_PROFILE_COUNT; p++) {
        assert_int_equal(kraken_sim_init((kraken_sim_profile_t)p), ESP_OK);
        /* PSRAM set up in the module's own mode (N8R8 octal, N8R2 quad) is found; in the other
         * mode it is not: the chip runs without it (IGNORE_NOTFOUND) or aborts (simulated with) */
        const bool has = p != KRAKEN_SIM_ESP32S3_N8, octal = p == KRAKEN_SIM_ESP32S3_N8R8;
        const bool found = build.spiram && has && octal == build.octal;
        bool psram = esp_psram_is_initialized();
        assert_int_equal(psram, found || (build.spiram && has && !build.ignore_notfound));
        bool malloc_psram = psram && build.use_malloc;
        assert_int_equal(sim_malloc_internal_limit(),
                         malloc_psram ? (int64_t)build.malloc_always_internal : -1);
        kraken_sim_region_t head = region(0);
        assert_int_equal(strcmp(head.name, "DMAPOOL") == 0,
                         malloc_psram && build.reserve_internal > 0);
        assert_int_equal(kraken_sim_ext_bss_in_psram(), psram && build.bss_external);
        assert_int_equal(kraken_sim_boots_on_chip(),
                         !build.spiram || found || build.ignore_notfound);
    }
}

/* ESP-IDF panics at boot when PSRAM support is built in and the module has none, unless
 * CONFIG_SPIRAM_IGNORE_NOTFOUND is set. The simulator boots it anyway (internal heaps only), and
 * says whether the chip would. */
static void a_module_without_psram_boots_on_the_chip_only_as_esp_idf_allows(void **state)
{
    (void)state;
    sim_policy_t policy;
    sim_policy_from_sdkconfig(&policy);
    policy.idf = SIM_IDF_CURRENT; /* the heap order and caps written below */
    policy.ignore_notfound = false;
    policy.spiram = true;
    assert_int_equal(sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8, &policy), ESP_OK);
    assert_false(kraken_sim_boots_on_chip());
    assert_false(esp_psram_is_initialized());
    void *p = heap_caps_malloc(1024, MALLOC_CAP_8BIT);
    assert_non_null(p); /* simulated as with IGNORE_NOTFOUND: the internal heaps work */
    heap_caps_free(p);

    policy.octal = false;
    assert_int_equal(sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R2, &policy), ESP_OK);
    assert_true(kraken_sim_boots_on_chip()); /* quad PSRAM found in quad mode */
    policy.octal = true;
    assert_int_equal(sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R2, &policy), ESP_OK);
    assert_false(kraken_sim_boots_on_chip()); /* octal mode does not find it: abort */
    assert_int_equal(esp_psram_get_size(), 2u << 20); /* simulated as if found */
    assert_int_equal(sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy), ESP_OK);
    assert_true(kraken_sim_boots_on_chip()); /* octal PSRAM in octal mode */
    policy.octal = false;
    assert_int_equal(sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy), ESP_OK);
    assert_false(kraken_sim_boots_on_chip()); /* quad mode on octal PSRAM: abort */

    policy.bss_external = false;
    policy.ignore_notfound = true;
    assert_int_equal(sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8, &policy), ESP_OK);
    assert_true(kraken_sim_boots_on_chip());
    assert_int_equal(sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy), ESP_OK);
    assert_true(kraken_sim_boots_on_chip()); /* quad mode misses the octal PSRAM: runs without */
    assert_false(esp_psram_is_initialized());
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_SPIRAM), 0);

    policy.ignore_notfound = false;
    policy.spiram = false; /* no PSRAM support built in: nothing to find */
    assert_int_equal(sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8, &policy), ESP_OK);
    assert_true(kraken_sim_boots_on_chip());
}

static void a_build_without_config_spiram_ignores_the_modules_psram(void **state)
{
    (void)state;
    sim_policy_t policy;
    sim_policy_from_sdkconfig(&policy);
    policy.idf = SIM_IDF_CURRENT; /* the heap order and caps written below */
    policy.spiram = false;
    policy.bss_external = false;
    assert_int_equal(sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy), ESP_OK);
    assert_false(esp_psram_is_initialized());
    assert_int_equal(esp_psram_get_size(), 0);
    assert_null(heap_caps_malloc(16, MALLOC_CAP_SPIRAM));
}

/* CONFIG_ESP32S3_DATA_CACHE_64KB: the cache keeps all 64 KiB, the heap gets none of it. */
static void a_64_kib_data_cache_leaves_no_dram_heap(void **state)
{
    (void)state;
    assert_int_equal(kraken_sim_region_count(), 4);
    for (size_t i = 0; i < kraken_sim_region_count(); i++) {
        assert_string_not_equal(region(i).name, "DRAM");
    }
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_INTERNAL),
                     267552 + 22308 + 7912 - internal_bss());
}

/* CONFIG_ESP32S3_DATA_CACHE_16KB also frees 16 KiB at 0x3C000000, but CONFIG_SPIRAM reserves
 * the external address range it lies in: with PSRAM support only the 32 KiB heap appears. */
static void a_16_kib_data_cache_with_config_spiram_leaves_only_the_32_kib_heap(void **state)
{
    (void)state;
    assert_int_equal(kraken_sim_region_count(), 5);
    assert_internal_heaps(1, 267552 - internal_bss());
}

/* Without CONFIG_SPIRAM the 16 KiB heap sorts in by size; ESP-IDF's esp_ptr_internal() names it
 * internal (a clause for this cache size), esp_ptr_dma_capable() does not (SOC_DMA_LOW..HIGH). */
static void a_16_kib_data_cache_without_config_spiram_leaves_16_kib_more(void **state)
{
    (void)state;
    assert_int_equal(kraken_sim_region_count(), 5);
    static const struct {
        const char *name;
        size_t size;
    } expect[] = {{"RTCRAM", 7912}, {"DRAM", 16384}, {"RAM", 22308}, {"DRAM", DRAM_BYTES}};
    for (size_t i = 0; i < 4; i++) {
        kraken_sim_region_t r = region(i);
        assert_string_equal(r.name, expect[i].name);
        assert_int_equal(r.size, expect[i].size);
    }
    kraken_sim_region_t drom = region(1);
    assert_caps(&drom, 0, DRAM_CAPS1, 0);
    assert_true(esp_ptr_internal((const void *)drom.start));
    assert_false(esp_ptr_dma_capable((const void *)drom.start));
    assert_false(esp_ptr_external_ram((const void *)drom.start));
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_INTERNAL),
                     267552 + 22308 + DRAM_BYTES + 16384 + 7912 - ext_bss_rounded());
}

static void a_data_cache_size_esp_idf_does_not_offer_is_refused(void **state)
{
    (void)state;
    sim_policy_t policy = {.spiram = true, .dcache_kb = 48};
    assert_int_equal(sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy), ESP_ERR_INVALID_ARG);
    assert_int_equal(kraken_sim_region_count(), 5); /* the chip booted before is unchanged */
}

static void region_queries_reject_an_index_past_the_end(void **state)
{
    (void)state;
    kraken_sim_region_t r;
    assert_int_equal(kraken_sim_get_region(kraken_sim_region_count(), &r), ESP_ERR_INVALID_ARG);
    assert_int_equal(kraken_sim_get_region(0, NULL), ESP_ERR_INVALID_ARG);
}

/* ---- pointer classification ------------------------------------------------------------------ */

static void every_byte_of_a_region_and_none_past_it_is_classified_as_its_memory(void **state)
{
    (void)state;
    for (size_t i = 0; i < kraken_sim_region_count(); i++) {
        kraken_sim_region_t r = region(i);
        const uint8_t *first = (const uint8_t *)r.start;
        const uint8_t *last = first + r.size - 1;
        bool psram = strcmp(r.name, "SPIRAM") == 0;
        /* A 16 KiB data cache's extra heap lies at 0x3C000000: internal, not DMA-capable by
         * ESP-IDF's address tests, though its caps say DMA. */
        bool drom = strcmp(r.name, "DRAM") == 0 && r.size == 16384;
        bool dma = strcmp(r.name, "RAM") == 0 || strcmp(r.name, "DMAPOOL") == 0 ||
                   (strcmp(r.name, "DRAM") == 0 && !drom);
        assert_int_equal(esp_ptr_external_ram(first), psram);
        assert_int_equal(esp_ptr_external_ram(last), psram);
        assert_int_equal(esp_ptr_internal(first), !psram);
        assert_int_equal(esp_ptr_internal(last), !psram);
        assert_int_equal(esp_ptr_dma_capable(first), dma);
        assert_int_equal(esp_ptr_dma_capable(last), dma);
        assert_true(sim_owns(first));
        assert_true(sim_owns(last));
        if (psram) {
            assert_false(esp_ptr_external_ram(last + 1));
        } else if (r.size == 7912 || r.size == 22308 || r.size == DRAM_BYTES) {
            assert_false(esp_ptr_internal(last + 1)); /* padding and guard page, not RAM */
        }
    }
}

/* Host and chip addresses of a region agree modulo a power of two at least its size, so an
 * alignment seen on the host is the chip's, however large: the padding of an aligned allocation
 * is the chip's too. */
static void host_and_chip_addresses_of_every_heap_agree_modulo_its_size(void **state)
{
    (void)state;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    bool psram = false;
    for (size_t i = 0; i < kraken_sim_region_count(); i++) {
        kraken_sim_region_t r = region(i);
        uintptr_t modulus = page;
        while (modulus < r.size) {
            modulus *= 2;
        }
        assert_int_equal((r.start - sim_chip_address((const void *)r.start)) % modulus, 0);
        psram = psram || (r.caps[0] & MALLOC_CAP_SPIRAM) != 0;
    }
    void *aligned = heap_caps_aligned_alloc(256, 100, MALLOC_CAP_INTERNAL);
    assert_non_null(aligned);
    assert_int_equal(sim_chip_address(aligned) % 256, 0);
    void *large = heap_caps_aligned_alloc(32768, 100, MALLOC_CAP_INTERNAL);
    assert_non_null(large);
    assert_int_equal(sim_chip_address(large) % 32768, 0);
    heap_caps_free(large);
    heap_caps_free(aligned);
    if (psram) { /* above the host's page: a 64 KiB MMU page, as the chip's heap places it */
        void *mmu_page = heap_caps_aligned_alloc(65536, 1024, MALLOC_CAP_SPIRAM);
        assert_non_null(mmu_page);
        assert_int_equal(sim_chip_address(mmu_page) % 65536, 0);
        heap_caps_free(mmu_page);
    }
}

static void host_statics_and_the_stack_are_internal_dram_and_libc_memory_is_no_chip_memory(
    void **state)
{
    (void)state;
    assert_true(esp_ptr_internal(plain_static));
    assert_true(esp_ptr_dma_capable(plain_static));
    assert_false(esp_ptr_external_ram(plain_static));
    int local = 0; /* a task's stack: internal DRAM by default */
    assert_true(esp_ptr_internal(&local));
    assert_true(esp_ptr_dma_capable(&local));
    assert_false(esp_ptr_external_ram(&local));
    assert_false(sim_owns(&local));
    char *libc = __real_malloc(8); /* libc's own malloc: not the simulated chip */
    assert_non_null(libc);
    assert_false(sim_owns(libc));
    assert_false(esp_ptr_internal(libc));
    free(libc);
}

/* ---- EXT_RAM_BSS_ATTR / APP_DATA_ATTR statics -------------------------------------------------- */

static void an_ext_ram_bss_statics_initial_value_is_lost_as_on_the_chip(void **state)
{
    (void)state;
#ifdef CONFIG_SPIRAM_ALLOW_BSS_SEG_EXTERNAL_MEMORY
    const uint16_t expected[3] = {0, 0, 0};
#else
    const uint16_t expected[3] = {1, 2, 3};
#endif
    assert_memory_equal(ext_initialised, expected, sizeof expected);
}

static void ext_ram_bss_statics_are_zeroed_and_counted_against_psram(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ext_buffer; i++) {
        assert_int_equal(ext_buffer[i], 0);
    }
    assert_true(kraken_sim_ext_bss_size() >= sizeof ext_buffer + sizeof ext_counters);
    assert_true(kraken_sim_ext_bss_in_psram());
    assert_true(esp_ptr_external_ram(ext_buffer));
    assert_true(esp_ptr_external_ram(&ext_counters[63]));
    assert_false(esp_ptr_internal(ext_buffer));
    assert_false(esp_ptr_dma_capable(ext_buffer));
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_SPIRAM) + ext_bss_rounded(),
                     esp_psram_get_size());
    ext_counters[0]++; /* usable memory */
}

static void ext_ram_bss_statics_count_against_internal_ram_without_psram(void **state)
{
    (void)state;
    assert_false(kraken_sim_ext_bss_in_psram());
    assert_true(esp_ptr_internal(ext_buffer));
    assert_true(esp_ptr_dma_capable(ext_buffer));
    assert_false(esp_ptr_external_ram(ext_buffer));
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_INTERNAL),
                     267552 + 22308 + DRAM_BYTES + 7912 - ext_bss_rounded());
}

static void ext_ram_bss_statics_stay_internal_when_bss_in_psram_is_off(void **state)
{
    (void)state;
    sim_policy_t policy = {.spiram = true, .bss_external = false}; /* dcache_kb 0: 32 KiB */
    assert_int_equal(sim_init_with_policy(KRAKEN_SIM_ESP32S3_N8R8, &policy), ESP_OK);
    assert_false(kraken_sim_ext_bss_in_psram());
    assert_true(esp_ptr_internal(ext_buffer));
    assert_false(esp_ptr_external_ram(ext_buffer));
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_SPIRAM), 8 * MIB);
    assert_int_equal(heap_caps_get_total_size(MALLOC_CAP_INTERNAL),
                     267552 + 22308 + DRAM_BYTES + 7912 - ext_bss_rounded());
}

int main(void)
{
    profile_from_environment = sim_profile_for_env(getenv("KRAKEN_SIM_PROFILE"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_first_use_boots_the_environments_profile_and_keeps_what_was_set_before),
        cmocka_unit_test(profile_names_round_trip_and_unknown_names_are_rejected),
        cmocka_unit_test(an_unknown_or_empty_environment_profile_gives_the_default),
        cmocka_unit_test_setup(init_with_an_unknown_profile_fails_and_changes_nothing, boot_n8r2),
        cmocka_unit_test_setup(reset_keeps_the_profile_and_clears_counters_faults_and_the_hook,
                               boot_n8r2),
        cmocka_unit_test_setup(n8r8_has_8_mib_of_psram_first_and_four_internal_heaps, boot_n8r8),
        cmocka_unit_test_setup(n8r2_has_2_mib_of_psram, boot_n8r2),
        cmocka_unit_test_setup(n8_has_no_psram_and_keeps_the_statics_in_internal_ram, boot_n8),
        cmocka_unit_test(init_boots_with_the_malloc_policy_of_the_builds_sdkconfig),
        cmocka_unit_test(a_build_without_config_spiram_ignores_the_modules_psram),
        cmocka_unit_test(a_module_without_psram_boots_on_the_chip_only_as_esp_idf_allows),
        cmocka_unit_test_setup(a_64_kib_data_cache_leaves_no_dram_heap, boot_n8r8_dcache64),
        cmocka_unit_test_setup(a_16_kib_data_cache_with_config_spiram_leaves_only_the_32_kib_heap,
                               boot_n8r8_dcache16),
        cmocka_unit_test_setup(a_16_kib_data_cache_without_config_spiram_leaves_16_kib_more,
                               boot_no_spiram_dcache16),
        cmocka_unit_test_setup(a_data_cache_size_esp_idf_does_not_offer_is_refused, boot_n8r8),
        cmocka_unit_test_setup(region_queries_reject_an_index_past_the_end, boot_n8r8),
        cmocka_unit_test_setup(host_and_chip_addresses_of_every_heap_agree_modulo_its_size,
                               boot_n8r8),
        cmocka_unit_test_setup(host_and_chip_addresses_of_every_heap_agree_modulo_its_size,
                               boot_n8),
        cmocka_unit_test_setup(every_byte_of_a_region_and_none_past_it_is_classified_as_its_memory,
                               boot_n8r8),
        cmocka_unit_test_setup(every_byte_of_a_region_and_none_past_it_is_classified_as_its_memory,
                               boot_n8r2),
        cmocka_unit_test_setup(every_byte_of_a_region_and_none_past_it_is_classified_as_its_memory,
                               boot_n8),
        cmocka_unit_test_setup(every_byte_of_a_region_and_none_past_it_is_classified_as_its_memory,
                               boot_no_spiram_dcache16),
        cmocka_unit_test_setup(
            host_statics_and_the_stack_are_internal_dram_and_libc_memory_is_no_chip_memory, boot_n8r8),
        cmocka_unit_test_setup(ext_ram_bss_statics_are_zeroed_and_counted_against_psram,
                               boot_n8r8_bss_external),
        cmocka_unit_test_setup(ext_ram_bss_statics_are_zeroed_and_counted_against_psram,
                               boot_n8r2_bss_external),
        cmocka_unit_test_setup(ext_ram_bss_statics_count_against_internal_ram_without_psram,
                               boot_n8_bss_external),
        cmocka_unit_test(ext_ram_bss_statics_stay_internal_when_bss_in_psram_is_off),
        cmocka_unit_test(an_ext_ram_bss_statics_initial_value_is_lost_as_on_the_chip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
