/*
 * sim_chip.c - the simulated ESP32-S3 memory map and ESP-IDF's heap_caps API over it.
 *
 * Modelled on ESP-IDF's components/heap (heap_caps.c, heap_caps_base.c, heap_caps_init.c),
 * components/heap/port/esp32s3/memory_layout.c, components/esp_hw_support/heap_align_hw.c and
 * components/esp_psram/system_layer/esp_psram.c. docs/simulator.md explains the choices.
 *
 * Host memory: one anonymous mapping (the "arena") made on first use and never unmapped, with a
 * PROT_NONE guard page after every region, so that any pointer the simulator ever handed out stays
 * recognisable (sim_owns) even after a reset or a profile switch.
 */
#define _GNU_SOURCE /* MAP_ANONYMOUS, pthread_getattr_np */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "esp_heap_caps.h"
#include "esp_heap_caps_init.h"
#include "esp_log.h"
#include "esp_memory_utils.h"
#include "esp_psram.h"
#include "esp_rom_sys.h"
#include "esp_system.h"
#include "kraken_sim.h"
#include "sdkconfig.h"
#include "sim_internal.h"
#include "tlsf_heap.h"

static const char *const TAG = "heap_caps";
static const char *const SIM_TAG = "kraken_sim";

/* ---- the chip ---------------------------------------------------------------------------------
 * Internal heap regions as observed at boot on an ESP32-S3 with 8 MB PSRAM (facts file):
 *   267552 B  "RAM" (D/IRAM, 0x3FC88000..): the main heap after the app's static data
 *    22308 B  "RAM" (D/IRAM): the ROM/startup stack area, handed to the heap before app_main
 *    32767 B  the DMA/internal pool of CONFIG_SPIRAM_MALLOC_RESERVE_INTERNAL (32768): ESP-IDF
 *             carves it out of the main heap and registers it with end = start + size - 1,
 *             hence the odd size; it exists only when malloc() may use PSRAM
 *     7912 B  "RTCRAM": RTC fast memory (8 KiB less the RTC data), not DMA-capable
 * The board reported has a 64 KiB data cache. A 16 or 32 KiB data cache (ESP-IDF's default is 32)
 * leaves the heap a 32 KiB "DRAM" region at 0x3FCF0000, and a 16 KiB one adds 16 KiB at
 * 0x3C000000 unless CONFIG_SPIRAM reserves that address range (memory_layout.c): caps INTERNAL
 * and DMA at priority 1 only, so the D/IRAM heaps serve first. esp_memory_utils.h calls both
 * internal, and only the first DMA-capable (SOC_DMA_LOW..HIGH).
 */
#define SIM_DIRAM_MAIN_BYTES 267552u
#define SIM_DIRAM_STARTUP_BYTES 22308u
#define SIM_RTCRAM_BYTES 7912u
#define SIM_DRAM_BYTES 0x8000u        /* 0x3FCF0000, data cache of 16 or 32 KiB */
#define SIM_DRAM_DROM_BYTES 0x4000u   /* 0x3C000000, data cache of 16 KiB */
#define SIM_PSRAM_MAX_BYTES (8u << 20)
#define SIM_HEAP_SIZE_MAX (32u << 20) /* SOC_MAX_CONTIGUOUS_RAM_SIZE: larger requests fail */
#define SIM_UNALIGNED_BYTES 4u        /* UNALIGNED_MEM_ALIGNMENT_BYTES */
#define SIM_SIMD_ALIGN 16u            /* SOC_SIMD_PREFERRED_DATA_ALIGNMENT */
#ifdef CONFIG_ESP32S3_DATA_CACHE_LINE_SIZE
#define SIM_DCACHE_LINE CONFIG_ESP32S3_DATA_CACHE_LINE_SIZE
#else
#define SIM_DCACHE_LINE 32u /* ESP32S3_DATA_CACHE_LINE_32B, ESP-IDF's default */
#endif
#define SIM_PRIOS 3

#define COMMON_CAPS (MALLOC_CAP_DEFAULT | MALLOC_CAP_32BIT | MALLOC_CAP_8BIT)
/* memory_layout.c with CONFIG_ESP_SYSTEM_MEMPROT (the S3's default): no heap is executable. */
static const uint32_t caps_diram[SIM_PRIOS] = {
    COMMON_CAPS | MALLOC_CAP_INTERNAL | MALLOC_CAP_DMA | MALLOC_CAP_RETENTION | MALLOC_CAP_SIMD, 0,
    0};
static const uint32_t caps_rtcram[SIM_PRIOS] = {MALLOC_CAP_RTCRAM, 0,
                                                COMMON_CAPS | MALLOC_CAP_INTERNAL};
/* SOC_MEMORY_TYPE_DRAM: what the data cache leaves. */
static const uint32_t caps_dram[SIM_PRIOS] = {
    0, COMMON_CAPS | MALLOC_CAP_INTERNAL | MALLOC_CAP_DMA | MALLOC_CAP_SIMD, 0};
/* esp_psram_extram_add_to_heap_allocator() */
static const uint32_t caps_spiram[SIM_PRIOS] = {
    MALLOC_CAP_SPIRAM | MALLOC_CAP_DEFAULT, 0,
    MALLOC_CAP_8BIT | MALLOC_CAP_32BIT | MALLOC_CAP_SIMD};
/* esp_psram_extram_reserve_dma_pool(): MALLOC_CAP_DEFAULT since v5.5.5 (and on master) */
static const uint32_t caps_dma_pool[SIM_PRIOS] = {
    0, MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL,
    MALLOC_CAP_DEFAULT | MALLOC_CAP_8BIT | MALLOC_CAP_32BIT};
static const uint32_t caps_dma_pool_before_5_5_5[SIM_PRIOS] = {
    0, MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL, MALLOC_CAP_8BIT | MALLOC_CAP_32BIT};

/* Fixed places in the arena, one per region kind (the pool lives inside the main D/IRAM heap). */
enum {
    SLOT_DIRAM_MAIN,
    SLOT_DIRAM_STARTUP,
    SLOT_DRAM,
    SLOT_DRAM_DROM,
    SLOT_RTCRAM,
    SLOT_PSRAM,
    SLOT_COUNT
};
static const size_t slot_bytes[SLOT_COUNT] = {
    SIM_DIRAM_MAIN_BYTES, SIM_DIRAM_STARTUP_BYTES, SIM_DRAM_BYTES,
    SIM_DRAM_DROM_BYTES,  SIM_RTCRAM_BYTES,        SIM_PSRAM_MAX_BYTES};

/* Where each area would sit on the chip (soc.h, memory_layout.c; the static data's size and the
 * flash mapping are an app's, chosen here). Only the ranges matter: esp_memory_utils.h's tests. */
#define CHIP_STATICS 0x3FC88000u     /* .data/.bss: SOC_DRAM_LOW, below the main heap */
#define CHIP_DIRAM_MAIN_END 0x3FCE9710u /* APP_USABLE_DRAM_END: the startup stack area above */
#define CHIP_DIRAM_MAIN (CHIP_DIRAM_MAIN_END - SIM_DIRAM_MAIN_BYTES)
#define CHIP_DRAM 0x3FCF0000u        /* left by a 16/32 KiB data cache */
#define CHIP_DRAM_DROM 0x3C000000u   /* left by a 16 KiB data cache (SOC_DROM_LOW) */
#define CHIP_RODATA 0x3C010000u      /* flash .rodata through the data cache (DROM) */
#define CHIP_PSRAM 0x3C100000u       /* PSRAM mapped after the flash data, same bus window */
#define CHIP_IRAM 0x40378000u        /* .iram1 code (SOC_DIRAM_IRAM_LOW) */
#define CHIP_IROM 0x42000000u        /* flash .text (SOC_IROM_LOW) */
#define CHIP_RTC_FAST 0x600FE000u    /* RTC fast memory: RTC_FAST_ATTR, RTC_IRAM_ATTR, then heap */
#define CHIP_RTC_FAST_HEAP (0x60100000u - SIM_RTCRAM_BYTES)
#define CHIP_RTC_SLOW 0x50000000u    /* RTC slow memory: RTC_DATA_ATTR & co. (SOC_RTC_DATA_LOW) */

/* Each slot's first byte stands for this chip address (sim_chip_address). The host places it so
 * that host and chip addresses agree modulo a power of two at least the slot's size: an alignment
 * test, and the padding of an aligned allocation, come out as on the chip for any alignment. */
static const uint32_t slot_chip_base[SLOT_COUNT] = {CHIP_DIRAM_MAIN, CHIP_DIRAM_MAIN_END,
                                                     CHIP_DRAM,       CHIP_DRAM_DROM,
                                                     CHIP_RTC_FAST_HEAP, CHIP_PSRAM};

static const struct {
    const char *name;
    size_t psram_bytes;
    bool octal; /* the module's PSRAM is octal (N8R8), else quad (N8R2) */
} profiles[KRAKEN_SIM_PROFILE_COUNT] = {
    [KRAKEN_SIM_ESP32S3_N8R8] = {"esp32s3-n8r8", 8u << 20, true},
    [KRAKEN_SIM_ESP32S3_N8R2] = {"esp32s3-n8r2", 2u << 20, false},
    [KRAKEN_SIM_ESP32S3_N8] = {"esp32s3-n8", 0, false},
};

/* ESP-IDF's heap_t: `end - start` is what heap_caps_get_total_size() counts. */
typedef struct sim_heap {
    const char *name;
    uint32_t caps[SIM_PRIOS];
    uint32_t all_caps;
    uintptr_t start;
    uintptr_t end;
    tlsf_heap_t *tlsf;
    bool min_free_zero; /* registered after startup: ESP-IDF restores its minimum to 0 */
    bool added;         /* by heap_caps_add_region*(), not by the boot */
    pthread_mutex_t *lock;
    struct sim_heap *next; /* fixed once the heap is in the list (until the next boot) */
} sim_heap_t;

/* ESP-IDF's registered_heaps: a list that heap_caps_add_region*() extends at its head while other
 * tasks walk it. Entries come from a fixed store (the boot's heaps, then the added ones) and are
 * never moved nor unlinked before the next boot, so a walk needs no lock: HEAPS() loads the head
 * with acquire, and an entry is complete before it is published as the head. */
#define SIM_MAX_HEAPS 32
static sim_heap_t heap_store[SIM_MAX_HEAPS];
static pthread_mutex_t heap_locks[SIM_MAX_HEAPS]; /* heap_store[i]'s */
static size_t heap_store_used;                    /* boot, or under add_lock */
static _Atomic(sim_heap_t *) heap_head;
static _Atomic size_t heap_count;
static _Atomic size_t heaps_added_outside; /* added heaps outside the arena (sim_owns) */
static pthread_mutex_t add_lock = PTHREAD_MUTEX_INITIALIZER; /* serialises heap_caps_add_region */
#define HEAPS(h)                                                                                   \
    for (sim_heap_t *h = atomic_load_explicit(&heap_head, memory_order_acquire); h != NULL;       \
         h = h->next)

/* heap_caps_monitor_local_minimum_free_size_start/stop: each heap's minimum before the start (in
 * list order), in a heap block as ESP-IDF keeps them; NULL when not monitoring. */
static pthread_mutex_t monitor_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t *monitor_saved; /* the chip's size_t: 4 bytes a heap in its block */
static size_t monitor_count;

static struct {
    kraken_sim_profile_t profile;
    sim_policy_t policy;
    bool hooks; /* policy.heap_hooks once booted: the boot's own allocations call no hook */
    size_t owner_word;      /* sim_block_owner_bytes(), from policy.task_tracking */
    bool psram;             /* esp_psram_is_initialized() */
    size_t psram_bytes;     /* esp_psram_get_size() */
    /* ESP-IDF's malloc_alwaysinternal_limit, an int on the chip: -1 (what heap_caps_malloc_extmem_
     * enable(SIZE_MAX) stores, and UINT32_MAX, the chip's SIZE_MAX) keeps malloc() out of PSRAM;
     * any other value is a size limit, read back as an unsigned 32-bit number. */
    _Atomic int32_t malloc_limit;
    bool bss_in_psram;
    bool noinit_in_psram;
    bool boots_on_chip;     /* false: ESP-IDF would abort at boot ("Failed to init external RAM!") */
    bool dram, dram_drom; /* the regions a 32 / 16 KiB data cache leaves */
    uintptr_t slot_start[SLOT_COUNT];
} chip;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t chip_lock = PTHREAD_MUTEX_INITIALIZER; /* serialises (re)initialisation */
static _Atomic uintptr_t arena_lo; /* 0 until mapped */
static _Atomic uintptr_t arena_hi;

/* The sections of esp_attr.h's placement attributes: the linker defines __start_ and __stop_ for
 * each section that exists. */
#define HOST_SECTION(name)                                                                         \
    extern char __start_##name[] __attribute__((weak));                                            \
    extern char __stop_##name[] __attribute__((weak));
HOST_SECTION(kraken_ext_bss)
HOST_SECTION(kraken_ext_noinit)
HOST_SECTION(kraken_iram)
HOST_SECTION(kraken_rtc_slow)
HOST_SECTION(kraken_rtc_noinit)
HOST_SECTION(kraken_rtc_rodata)
HOST_SECTION(kraken_rtc_fast)
HOST_SECTION(kraken_rtc_text)
#define SECTION_RANGE(name) (uintptr_t) __start_##name, (uintptr_t)__stop_##name

#ifdef CONFIG_SPIRAM_ALLOW_BSS_SEG_EXTERNAL_MEMORY
/* ESP-IDF's .ext_ram.bss, where EXT_RAM_BSS_ATTR (APP_DATA_ATTR) puts statics with this option, is
 * NOLOAD and zeroed at boot: an initial value given to such a static is lost on the chip (PSRAM
 * found or not: without it the chip stops at boot). The host does the same before the program's
 * own constructors run (the chip's C++ constructors run after the zeroing too), and says so. */
__attribute__((constructor(101))) static void zero_ext_bss_as_the_chip(void)
{
    char *const start = __start_kraken_ext_bss, *const stop = __stop_kraken_ext_bss;
    size_t nonzero = 0;
    for (const char *p = start; start != NULL && p < stop; p++) {
        nonzero += *p != 0;
    }
    if (nonzero != 0) {
        memset(start, 0, (size_t)(stop - start));
        ESP_LOGE(SIM_TAG,
                 "EXT_RAM_BSS_ATTR (APP_DATA_ATTR) statics with an initial value (%zu byte(s) not "
                 "0): zeroed, as the chip does at boot (its .ext_ram.bss is not loaded); give them "
                 "their values at run time",
                 nonzero);
    }
}
#endif
/* The program's own image (ld's default script): code, then read-only data, then .data/.bss. */
extern char __executable_start[] __attribute__((weak));
extern char etext[] __attribute__((weak));
extern char __data_start[] __attribute__((weak));
extern char _end[] __attribute__((weak));

/* ---- counters, hook, fault injection, ISR flag ----------------------------------------------- */

/* Separate variables, not a struct: i386 gcc notes an ABI change for _Atomic 64-bit fields. */
static _Atomic uint64_t stat_allocations, stat_frees, stat_failed, stat_injected, stat_invalid_frees,
    stat_invalid_queries, stat_isr_calls, stat_refused_waits, stat_refused_calls,
    stat_critical_logs, stat_suspended_tracked_calls, stat_task_wdt_triggers;

static _Atomic(esp_alloc_failed_hook_t) failed_hook;

static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool fault_armed; /* fast path: false when no mode is on */
static struct {
    uint32_t next_caps;
    unsigned next_left;
    uint32_t every_caps;
    unsigned every_nth;
    unsigned every_count;
} fault;

static _Thread_local unsigned isr_depth;
static _Thread_local uint64_t isr_number; /* outermost kraken_sim_isr_enter() calls so far */

static void ensure_init(void);

static void count(_Atomic uint64_t *counter)
{
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

void sim_count_invalid_free(void)
{
    count(&stat_invalid_frees);
}

void sim_count_refused_wait(void)
{
    count(&stat_refused_waits);
}

void sim_count_refused_call(void)
{
    count(&stat_refused_calls);
}

void sim_count_task_wdt_trigger(void)
{
    count(&stat_task_wdt_triggers);
}

bool sim_in_isr(void)
{
    return isr_depth > 0;
}

unsigned sim_isr_depth(void)
{
    return isr_depth;
}

uint64_t sim_isr_number(void)
{
    return isr_number;
}

void kraken_sim_isr_enter(void)
{
    isr_number += isr_depth == 0;
    isr_depth++;
}

void kraken_sim_isr_exit(void)
{
    if (isr_depth > 0) {
        isr_depth--;
    }
}

static void fault_clear_all(void)
{
    pthread_mutex_lock(&fault_lock);
    memset(&fault, 0, sizeof fault);
    atomic_store(&fault_armed, false);
    pthread_mutex_unlock(&fault_lock);
}

/* Each of these boots the chip first: the lazy boot must not clear what they set. */
void kraken_sim_fail_next(uint32_t caps, unsigned n)
{
    ensure_init();
    pthread_mutex_lock(&fault_lock);
    fault.next_caps = caps;
    fault.next_left = n;
    atomic_store(&fault_armed, fault.next_left > 0 || fault.every_nth > 0);
    pthread_mutex_unlock(&fault_lock);
}

void kraken_sim_fail_every(uint32_t caps, unsigned nth)
{
    ensure_init();
    pthread_mutex_lock(&fault_lock);
    fault.every_caps = caps;
    fault.every_nth = nth;
    fault.every_count = 0;
    atomic_store(&fault_armed, fault.next_left > 0 || fault.every_nth > 0);
    pthread_mutex_unlock(&fault_lock);
}

void kraken_sim_fault_clear(void)
{
    ensure_init();
    fault_clear_all();
}

/* True when this allocation attempt (caps as the caller asked) must fail by injection. */
static bool fault_inject(uint32_t caps)
{
    if (!atomic_load_explicit(&fault_armed, memory_order_relaxed)) {
        return false;
    }
    bool fail = false;
    pthread_mutex_lock(&fault_lock);
    if (fault.next_left > 0 && (caps & fault.next_caps) == fault.next_caps) {
        fault.next_left--;
        fail = true;
    }
    if (fault.every_nth > 0 && (caps & fault.every_caps) == fault.every_caps) {
        fault.every_count++;
        if (fault.every_count % fault.every_nth == 0) {
            fail = true;
        }
    }
    atomic_store(&fault_armed, fault.next_left > 0 || fault.every_nth > 0);
    pthread_mutex_unlock(&fault_lock);
    if (fail) {
        count(&stat_injected);
    }
    return fail;
}

/* heap_caps_alloc_failed(): every allocation call that returns NULL for a non-zero size. With
 * CONFIG_HEAP_ABORT_WHEN_ALLOCATION_FAILS the chip then aborts, with this reason on the console. */
static void alloc_failed(size_t size, uint32_t caps, const char *function_name)
{
    count(&stat_failed);
    esp_alloc_failed_hook_t hook = atomic_load(&failed_hook);
    if (hook != NULL) {
        hook(size, caps, function_name);
    }
    if (chip.policy.abort_on_failure) {
        esp_rom_printf("\nabort: Mem alloc fail. size 0x%08" PRIx32 " caps 0x%08" PRIx32 "\n",
                       (uint32_t)size, caps);
        abort();
    }
}

esp_err_t heap_caps_register_failed_alloc_callback(esp_alloc_failed_hook_t callback)
{
    if (callback == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    ensure_init();
    atomic_store(&failed_hook, callback);
    return ESP_OK;
}

void kraken_sim_get_stats(kraken_sim_stats_t *out)
{
    if (out == NULL) {
        return;
    }
    ensure_init();
    out->allocations = atomic_load(&stat_allocations);
    out->frees = atomic_load(&stat_frees);
    out->failed = atomic_load(&stat_failed);
    out->injected = atomic_load(&stat_injected);
    out->invalid_frees = atomic_load(&stat_invalid_frees);
    out->invalid_queries = atomic_load(&stat_invalid_queries);
    out->isr_calls = atomic_load(&stat_isr_calls);
    out->refused_waits = atomic_load(&stat_refused_waits);
    out->refused_calls = atomic_load(&stat_refused_calls);
    out->critical_logs = atomic_load(&stat_critical_logs);
    out->suspended_tracked_calls = atomic_load(&stat_suspended_tracked_calls);
    out->task_wdt_triggers = atomic_load(&stat_task_wdt_triggers);
}

/* ESP-IDF lets an interrupt handler call the heap (mem_alloc.rst, "Calling Heap-Related Functions
 * from ISR": the alloc/realloc/free family) but strongly discourages it: the call runs as on the
 * chip, is counted, and the first one after each boot is logged (no lock held). */
static _Atomic bool isr_call_logged;

void sim_note_isr_call(const char *function_name)
{
    if (!sim_in_isr()) {
        return;
    }
    count(&stat_isr_calls);
    if (!atomic_exchange(&isr_call_logged, true)) {
        ESP_LOGW(TAG, "%s() called from an ISR: ESP-IDF allows it but discourages it (counted in "
                      "isr_calls; further ones are not logged)", function_name);
    }
}

/* ESP-IDF v5.5's task tracking takes a FreeRTOS mutex (portMAX_DELAY) in every allocation,
 * reallocation and free it records (heap_task_info.c): with the scheduler suspended,
 * xSemaphoreTake asserts. The call runs, is counted, and the first after each boot is logged (no
 * lock held). */
static _Atomic bool suspended_tracked_call_logged;

static __attribute__((noinline, cold)) void note_tracked_call_slow(const char *function_name)
{
    if (chip.policy.idf > SIM_IDF_V5_5 || !sim_scheduler_suspended()) {
        return;
    }
    count(&stat_suspended_tracked_calls);
    if (!atomic_exchange(&suspended_tracked_call_logged, true)) {
        ESP_LOGE(TAG, "%s() with the scheduler suspended (vTaskSuspendAll): ESP-IDF v5.5's heap "
                      "task tracking takes a mutex here, the chip asserts (counted in "
                      "suspended_tracked_calls; further ones are not logged)", function_name);
    }
}

/* Inlined: every allocation and free asks, and tracking is off by default. */
static inline void note_tracked_call(const char *function_name)
{
    if (__builtin_expect(chip.policy.task_tracking, 0)) {
        note_tracked_call_slow(function_name);
    }
}

static _Atomic bool critical_log_logged;

void sim_note_critical_log(const char *tag)
{
    count(&stat_critical_logs);
    if (!atomic_exchange(&critical_log_logged, true)) {
        ESP_LOGE(TAG, "an ESP_LOGx line (tag \"%s\") inside a critical section or an ISR: the "
                      "chip aborts there (libc's stdout lock cannot be taken where the CPU cannot "
                      "yield; ESP_EARLY_LOGx/ESP_DRAM_LOGx can). Counted in critical_logs; further "
                      "ones are not logged", tag != NULL ? tag : "");
    }
}

/* ---- profiles and policy ---------------------------------------------------------------------- */

const char *kraken_sim_profile_name(kraken_sim_profile_t profile)
{
    if ((unsigned)profile >= KRAKEN_SIM_PROFILE_COUNT) {
        return NULL;
    }
    return profiles[profile].name;
}

esp_err_t kraken_sim_profile_from_name(const char *name, kraken_sim_profile_t *out)
{
    if (name == NULL || out == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    for (unsigned i = 0; i < KRAKEN_SIM_PROFILE_COUNT; i++) {
        if (strcmp(name, profiles[i].name) == 0) {
            *out = (kraken_sim_profile_t)i;
            return ESP_OK;
        }
    }
    return ESP_ERR_NOT_FOUND;
}

void sim_policy_from_sdkconfig(sim_policy_t *out)
{
    *out = (sim_policy_t){0};
#ifdef CONFIG_SPIRAM
    out->spiram = true;
#endif
#ifdef CONFIG_SPIRAM_USE_MALLOC
    out->use_malloc = true;
#endif
#ifdef CONFIG_HEAP_ABORT_WHEN_ALLOCATION_FAILS
    out->abort_on_failure = true;
#endif
#ifdef CONFIG_SPIRAM_USE_MEMMAP
    out->memmap = true;
#endif
#ifdef CONFIG_SPIRAM_MODE_OCT
    out->octal = true;
#endif
#ifdef CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL
    out->malloc_always_internal = CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL;
#endif
#ifdef CONFIG_SPIRAM_MALLOC_RESERVE_INTERNAL
    out->reserve_internal = CONFIG_SPIRAM_MALLOC_RESERVE_INTERNAL;
#endif
#ifdef CONFIG_SPIRAM_ALLOW_BSS_SEG_EXTERNAL_MEMORY
    out->bss_external = true;
#endif
#ifdef CONFIG_SPIRAM_IGNORE_NOTFOUND
    out->ignore_notfound = true;
#endif
#ifdef CONFIG_SPIRAM_ALLOW_NOINIT_SEG_EXTERNAL_MEMORY
    out->noinit_external = true;
#endif
#if defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_5)
    out->idf = SIM_IDF_V5_5;
#elif defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_4)
    out->idf = SIM_IDF_V5_4;
#elif defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_3)
    out->idf = SIM_IDF_V5_3;
#elif defined(CONFIG_KRAKEN_SIM_ESP_IDF_V5_2)
    out->idf = SIM_IDF_V5_2;
#endif
#ifdef CONFIG_HEAP_TRACING_STANDALONE
    out->heap_tracing = true;
#endif
#ifdef CONFIG_HEAP_USE_HOOKS
    out->heap_hooks = true;
#endif
#ifdef CONFIG_HEAP_TASK_TRACKING
    out->task_tracking = true;
#endif
#ifdef CONFIG_HEAP_TRACK_DELETED_TASKS
    out->track_deleted_tasks = true;
#endif
#if defined(CONFIG_ESP32S3_DATA_CACHE_16KB)
    out->dcache_kb = 16;
#elif defined(CONFIG_ESP32S3_DATA_CACHE_64KB)
    out->dcache_kb = 64;
#else
    out->dcache_kb = 32;
#endif
}

/* ---- host memory -------------------------------------------------------------------------------- */

static size_t round_up(size_t value, size_t to)
{
    return (value + to - 1) / to * to;
}

/* The power of two a slot's host and chip addresses agree modulo: its size rounded up (any
 * alignment a heap in it can give), at least a page. */
static size_t slot_modulus(unsigned i, size_t page)
{
    size_t m = page;
    while (m < slot_bytes[i]) {
        m *= 2;
    }
    return m;
}

static bool arena_map(void)
{
    if (atomic_load(&arena_lo) != 0) {
        return true;
    }
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t total = 0;
    for (unsigned i = 0; i < SLOT_COUNT; i++) { /* the slot, its slack to the modulus, a guard page */
        total += round_up(page + slot_bytes[i], page) + slot_modulus(i, page) + page;
    }
    char *base = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        return false;
    }
    uintptr_t free_from = (uintptr_t)base;
    for (unsigned i = 0; i < SLOT_COUNT; i++) {
        const uintptr_t m = slot_modulus(i, page);
        const uintptr_t start = free_from + ((slot_chip_base[i] - free_from) & (m - 1));
        char *pages = (char *)(start - start % page);
        const size_t mapped = round_up(start - (uintptr_t)pages + slot_bytes[i], page);
        if (mprotect(pages, mapped, PROT_READ | PROT_WRITE) != 0) {
            munmap(base, total);
            return false;
        }
        SIM_POISON(pages, start - (uintptr_t)pages); /* before the region: ASan guards it */
        chip.slot_start[i] = start;
        free_from = (uintptr_t)pages + mapped + page; /* left PROT_NONE: a guard page */
    }
    atomic_store(&arena_hi, (uintptr_t)base + total);
    atomic_store(&arena_lo, (uintptr_t)base);
    return true;
}

static bool in_arena(uintptr_t p)
{
    uintptr_t lo = atomic_load_explicit(&arena_lo, memory_order_acquire);
    return lo != 0 && p >= lo && p < atomic_load_explicit(&arena_hi, memory_order_relaxed);
}

bool sim_owns(const void *ptr)
{
    const uintptr_t p = (uintptr_t)ptr;
    if (in_arena(p)) {
        return true;
    }
    if (atomic_load_explicit(&heaps_added_outside, memory_order_relaxed) == 0) {
        return false; /* libc's pointers pay one load more, unless regions were added */
    }
    HEAPS(heap) {
        if (heap->added && p >= heap->start && p < heap->end) {
            return true;
        }
    }
    return false;
}

/* As addresses: C does not define the difference of pointers to two objects. */
static size_t section_bytes(uintptr_t start, uintptr_t stop)
{
    return start != 0 && stop > start ? (size_t)(stop - start) : 0;
}

static bool in_section(uintptr_t p, uintptr_t start, uintptr_t stop)
{
    return start != 0 && p >= start && p < stop;
}

static size_t ext_bss_bytes(void)
{
    return section_bytes(SECTION_RANGE(kraken_ext_bss));
}

static size_t ext_noinit_bytes(void)
{
    return section_bytes(SECTION_RANGE(kraken_ext_noinit));
}

/* ---- building the heap list (heap_caps_init + esp_psram + app_startup) -------------------------- */

static uint32_t ored(const uint32_t caps[SIM_PRIOS])
{
    return caps[0] | caps[1] | caps[2];
}

/* Make a heap over [start, start + bytes) as multi_heap_register() does; NULL when the region is
 * too small for TLSF. The start is aligned up to the host TLSF's granularity (8 bytes on 64-bit
 * hosts; a start the chip's TLSF refuses, not 4-byte aligned, is refused before). The size is
 * the chip's, a multiple of 4 or not (the DMA pool's is not): its free bytes count the tail. */
static tlsf_heap_t *heap_over(uintptr_t start, size_t bytes)
{
    const uintptr_t aligned = (start + TLSF_HEAP_ALIGN - 1) & ~(uintptr_t)(TLSF_HEAP_ALIGN - 1);
    if (aligned - start >= bytes) {
        return NULL;
    }
    return tlsf_heap_create((void *)aligned, bytes - (aligned - start));
}

/* A heap over [start, start + bytes), not yet in the list; NULL when the store is full or the
 * region too small for TLSF. Boot, or under add_lock. */
static sim_heap_t *heap_new(const char *name, const uint32_t caps[SIM_PRIOS], uintptr_t start,
                            size_t bytes)
{
    if (heap_store_used >= SIM_MAX_HEAPS) {
        return NULL;
    }
    tlsf_heap_t *tlsf = heap_over(start, bytes);
    if (tlsf == NULL) {
        return NULL;
    }
    tlsf_heap_set_class_rounding(tlsf, chip.policy.idf <= SIM_IDF_V5_4); /* TLSF since v5.4 */
    const size_t slot = heap_store_used++;
    sim_heap_t *heap = &heap_store[slot];
    *heap = (sim_heap_t){.name = name, .start = start, .end = start + bytes, .tlsf = tlsf,
                         .lock = &heap_locks[slot]};
    memcpy(heap->caps, caps, sizeof heap->caps);
    heap->all_caps = ored(caps);
    return heap;
}

/* Link heap at position pos of the list (0: the head, as heap_caps_add_region_with_caps does).
 * Boot, or under add_lock with pos 0. */
static void heap_link(sim_heap_t *heap, size_t pos)
{
    sim_heap_t *head = atomic_load_explicit(&heap_head, memory_order_relaxed);
    if (pos == 0) {
        heap->next = head;
        atomic_store_explicit(&heap_head, heap, memory_order_release);
    } else {
        sim_heap_t *before = head;
        while (--pos > 0) {
            before = before->next;
        }
        heap->next = before->next;
        before->next = heap; /* boot only: nobody walks the list then */
    }
    atomic_fetch_add_explicit(&heap_count, 1, memory_order_relaxed);
}

static sim_heap_t *heap_insert(size_t pos, const char *name, const uint32_t caps[SIM_PRIOS],
                               uintptr_t start, size_t bytes)
{
    sim_heap_t *heap = heap_new(name, caps, start, bytes);
    if (heap != NULL) {
        heap_link(heap, pos);
    }
    return heap;
}

/* Register a heap as heap_caps_init() does: sorted by increasing size since v5.5 (small heaps
 * serve first); before, in memory_layout.c's region order: the order of the calls below. */
static void heap_register(const char *name, const uint32_t caps[SIM_PRIOS], uintptr_t start,
                          size_t bytes)
{
    size_t pos = 0;
    HEAPS(h) {
        if (chip.policy.idf < SIM_IDF_V5_4 && h->end - h->start >= bytes) {
            break;
        }
        pos++;
    }
    if (heap_insert(pos, name, caps, start, bytes) == NULL) {
        ESP_LOGE(SIM_TAG, "region %s of %u bytes is too small for a heap", name, (unsigned)bytes);
    }
}

static void *alloc_heaps(size_t alignment, size_t size, uint32_t caps);
static size_t largest_free_block(uint32_t caps);

/* esp_psram_extram_reserve_dma_pool(): internal DMA memory that malloc() reaches last. */
static void reserve_dma_pool(size_t size)
{
    while (size > 0) {
        size_t next = largest_free_block(MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL);
        next = next < size ? next : size;
        void *block = next > 0 ? alloc_heaps(SIM_UNALIGNED_BYTES, next,
                                             MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL)
                               : NULL;
        /* ESP-IDF registers the chunk with end = start + size - 1. */
        const bool current = chip.policy.idf == SIM_IDF_CURRENT;
        sim_heap_t *pool = block != NULL ? heap_insert(0, "DMAPOOL",
                                                       current ? caps_dma_pool
                                                               : caps_dma_pool_before_5_5_5,
                                                       (uintptr_t)block, next - 1)
                                         : NULL;
        if (pool == NULL) {
            /* The chip aborts here ("Could not reserve internal/DMA pool"); we go on without. */
            ESP_LOGE(SIM_TAG, "could not reserve the internal/DMA pool (%u bytes left)",
                     (unsigned)size);
            return;
        }
        pool->min_free_zero = current; /* added after startup: minimum reset to 0 since v5.5.5 */
        size -= next;
    }
}

/* The chip's `malloc_alwaysinternal_limit = limit`: a 32-bit size_t stored in an int. */
static int32_t limit_of(size_t limit)
{
    return (int32_t)(uint32_t)limit;
}

static esp_err_t boot(kraken_sim_profile_t profile, const sim_policy_t *policy)
{
    if (!arena_map()) {
        return ESP_ERR_NO_MEM;
    }
    fault_clear_all();
    sim_trace_boot(policy->heap_tracing, policy->idf);
    chip.hooks = false;
    chip.profile = profile;
    chip.policy = *policy;
    chip.owner_word = policy->task_tracking ? sizeof(void *) : 0;
    HEAPS(h) {
        if (h->added) { /* a static buffer given to the heap is the program's again */
            SIM_UNPOISON((void *)h->start, h->end - h->start);
        }
    }
    atomic_store(&heap_head, NULL);
    atomic_store(&heap_count, 0);
    atomic_store(&heaps_added_outside, 0);
    heap_store_used = 0;
    chip.psram_bytes = policy->spiram ? profiles[profile].psram_bytes : 0;
    /* PSRAM set up in the other mode (octal/quad) than the module's is not found: with
     * IGNORE_NOTFOUND the chip runs without it (simulated so); without, it aborts (simulated with
     * the PSRAM, so that the profile stays testable in one build, and said below). */
    const bool wrong_mode = chip.psram_bytes > 0 && policy->octal != profiles[profile].octal;
    if (wrong_mode) {
        static atomic_bool warned_mode;
        if (!atomic_exchange(&warned_mode, true)) {
            ESP_LOGW(SIM_TAG,
                     "%s has %s PSRAM but the build sets it up in %s mode (its own needs "
                     "CONFIG_SPIRAM_MODE_%s): the chip does not find it and %s",
                     profiles[profile].name, profiles[profile].octal ? "octal" : "quad",
                     policy->octal ? "octal" : "quad", profiles[profile].octal ? "OCT" : "QUAD",
                     policy->ignore_notfound
                         ? "runs without PSRAM (CONFIG_SPIRAM_IGNORE_NOTFOUND): simulated so"
                         : "aborts at boot; simulated as if the mode matched");
        }
        if (policy->ignore_notfound) {
            chip.psram_bytes = 0;
        }
    }
    chip.psram = chip.psram_bytes > 0; /* else as with CONFIG_SPIRAM_IGNORE_NOTFOUND */
    chip.boots_on_chip = !policy->spiram || (chip.psram && !wrong_mode) || policy->ignore_notfound;
    if (!chip.boots_on_chip && !wrong_mode) {
        static atomic_bool warned_boot;
        if (!atomic_exchange(&warned_boot, true)) {
            ESP_LOGW(SIM_TAG,
                     "%s has no PSRAM: built with CONFIG_SPIRAM and without "
                     "CONFIG_SPIRAM_IGNORE_NOTFOUND%s, the chip aborts at boot (\"Failed to init "
                     "external RAM!\"); simulated as if that option were set",
                     profiles[profile].name,
                     policy->bss_external || policy->noinit_external
                         ? " (ESP-IDF does not allow it with .bss or .noinit in PSRAM)"
                         : "");
        }
    }

    /* EXT_RAM_BSS_ATTR and EXT_RAM_NOINIT_ATTR statics: PSRAM when allowed and found, else
     * internal (.bss, .noinit). */
    const size_t bss = round_up(ext_bss_bytes(), 16);
    const size_t noinit = round_up(ext_noinit_bytes(), 16);
    chip.bss_in_psram = policy->bss_external && chip.psram;
    chip.noinit_in_psram = policy->noinit_external && chip.psram;
    if (((policy->bss_external && bss > 0) || (policy->noinit_external && noinit > 0)) &&
        !chip.psram) {
        static atomic_bool warned;
        if (!atomic_exchange(&warned, true)) {
            ESP_LOGW(SIM_TAG,
                     "%u bytes of EXT_RAM_BSS_ATTR / EXT_RAM_NOINIT_ATTR statics for PSRAM but no "
                     "PSRAM: counted in internal RAM",
                     (unsigned)(bss + noinit));
        }
    }
    size_t internal_statics = (chip.bss_in_psram ? 0 : bss) + (chip.noinit_in_psram ? 0 : noinit);
    const size_t psram_statics = (chip.bss_in_psram ? bss : 0) + (chip.noinit_in_psram ? noinit : 0);

    /* Internal statics come out of the main D/IRAM heap, as the linker places them. */
    size_t main_bytes = SIM_DIRAM_MAIN_BYTES;
    if (internal_statics + 4096 > main_bytes) {
        ESP_LOGE(SIM_TAG, "%u bytes of statics do not fit in internal RAM (dram0 overflow)",
                 (unsigned)internal_statics);
        internal_statics = main_bytes - 4096;
    }
    main_bytes -= internal_statics;
    heap_register("RAM", caps_diram, chip.slot_start[SLOT_DIRAM_MAIN], main_bytes);
    heap_register("RAM", caps_diram, chip.slot_start[SLOT_DIRAM_STARTUP], SIM_DIRAM_STARTUP_BYTES);
    const unsigned dcache_kb = policy->dcache_kb != 0 ? policy->dcache_kb : 32;
    chip.dram = dcache_kb <= 32;
    chip.dram_drom = dcache_kb == 16 && !policy->spiram; /* else inside the PSRAM reservation */
    if (chip.dram) {
        heap_register("DRAM", caps_dram, chip.slot_start[SLOT_DRAM], SIM_DRAM_BYTES);
    }
    if (chip.dram_drom) {
        heap_register("DRAM", caps_dram, chip.slot_start[SLOT_DRAM_DROM], SIM_DRAM_DROM_BYTES);
    }
    heap_register("RTCRAM", caps_rtcram, chip.slot_start[SLOT_RTCRAM], SIM_RTCRAM_BYTES);

    chip.malloc_limit = -1;
    if (chip.psram && !policy->memmap) { /* esp_psram_extram_add_to_heap_allocator() */
        /* The linker script puts .ext_ram.bss and .ext_ram_noinit at the start of PSRAM; the
         * heap gets the rest. */
        size_t skip = psram_statics;
        if (skip + 4096 > chip.psram_bytes) {
            ESP_LOGE(SIM_TAG, "%u bytes of statics do not fit in PSRAM", (unsigned)skip);
            skip = chip.psram_bytes - 4096;
        }
        if (heap_insert(0, "SPIRAM", caps_spiram, chip.slot_start[SLOT_PSRAM] + skip,
                        chip.psram_bytes - skip) == NULL) {
            ESP_LOGE(SIM_TAG, "PSRAM heap could not be created");
        }
        if (policy->use_malloc) {
            chip.malloc_limit = limit_of(policy->malloc_always_internal); /* extmem_enable */
            reserve_dma_pool(policy->reserve_internal);
        }
    }

    _Atomic uint64_t *const counters[] = {&stat_allocations,     &stat_frees,
                                          &stat_failed,          &stat_injected,
                                          &stat_invalid_frees,   &stat_invalid_queries,
                                          &stat_isr_calls,       &stat_refused_waits,
                                          &stat_refused_calls,   &stat_critical_logs,
                                          &stat_suspended_tracked_calls, &stat_task_wdt_triggers};
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        atomic_store(counters[i], 0);
    }
    atomic_store(&isr_call_logged, false);
    atomic_store(&critical_log_logged, false);
    atomic_store(&suspended_tracked_call_logged, false);
    monitor_saved = NULL; /* its block went with the old heaps */
    monitor_count = 0;
    atomic_store(&failed_hook, NULL);
    chip.hooks = policy->heap_hooks;
    /* after the boot's own blocks: they have no task */
    sim_owners_boot(policy->task_tracking, policy->track_deleted_tasks);
    sim_task_wdt_boot(); /* the chip's startup initialises it (CONFIG_ESP_TASK_WDT_INIT) */
    ESP_LOGD(SIM_TAG, "booted %s: %u heaps, PSRAM %u bytes", profiles[profile].name,
             (unsigned)atomic_load(&heap_count), (unsigned)chip.psram_bytes);
    return ESP_OK;
}

kraken_sim_profile_t sim_profile_for_env(const char *value)
{
    kraken_sim_profile_t profile = KRAKEN_SIM_ESP32S3_N8R8;
    if (value != NULL && value[0] != '\0' &&
        kraken_sim_profile_from_name(value, &profile) != ESP_OK) {
        ESP_LOGE(SIM_TAG,
                 "KRAKEN_SIM_PROFILE=%s is unknown (valid: esp32s3-n8r8, esp32s3-n8r2, "
                 "esp32s3-n8); using esp32s3-n8r8",
                 value);
        profile = KRAKEN_SIM_ESP32S3_N8R8;
    }
    return profile;
}

static void init_from_env(void)
{
    for (size_t i = 0; i < SIM_MAX_HEAPS; i++) {
        pthread_mutex_init(&heap_locks[i], NULL);
    }
    kraken_sim_profile_t profile = sim_profile_for_env(getenv("KRAKEN_SIM_PROFILE"));
    sim_policy_t policy;
    sim_policy_from_sdkconfig(&policy);
    pthread_mutex_lock(&chip_lock);
    if (boot(profile, &policy) != ESP_OK) {
        ESP_LOGE(SIM_TAG, "cannot map host memory for the simulated chip");
    }
    pthread_mutex_unlock(&chip_lock);
}

static void ensure_init(void)
{
    pthread_once(&init_once, init_from_env);
}

void sim_boot_once(void)
{
    ensure_init();
}

esp_err_t sim_init_with_policy(kraken_sim_profile_t profile, const sim_policy_t *policy)
{
    if ((unsigned)profile >= KRAKEN_SIM_PROFILE_COUNT || policy == NULL ||
        (policy->dcache_kb != 0 && policy->dcache_kb != 16 && policy->dcache_kb != 32 &&
         policy->dcache_kb != 64)) {
        return ESP_ERR_INVALID_ARG;
    }
    ensure_init();
    pthread_mutex_lock(&chip_lock);
    esp_err_t err = boot(profile, policy);
    pthread_mutex_unlock(&chip_lock);
    return err;
}

esp_err_t kraken_sim_init(kraken_sim_profile_t profile)
{
    sim_policy_t policy;
    sim_policy_from_sdkconfig(&policy);
    return sim_init_with_policy(profile, &policy);
}

esp_err_t kraken_sim_reset(void)
{
    ensure_init();
    pthread_mutex_lock(&chip_lock);
    sim_policy_t policy = chip.policy;
    esp_err_t err = boot(chip.profile, &policy);
    pthread_mutex_unlock(&chip_lock);
    return err;
}

kraken_sim_profile_t kraken_sim_get_profile(void)
{
    ensure_init();
    return chip.profile;
}

int64_t sim_malloc_internal_limit(void)
{
    ensure_init();
    const int32_t limit = atomic_load_explicit(&chip.malloc_limit, memory_order_relaxed);
    return limit == -1 ? -1 : (int64_t)(uint32_t)limit;
}

void heap_caps_malloc_extmem_enable(size_t limit)
{
    ensure_init();
    /* As on the chip, also without PSRAM: malloc() then tries PSRAM in vain and falls back to any
     * 8-bit memory, and a failure reports MALLOC_CAP_DEFAULT. */
    atomic_store_explicit(&chip.malloc_limit, limit_of(limit), memory_order_relaxed);
}

size_t kraken_sim_ext_bss_size(void)
{
    return ext_bss_bytes();
}

bool kraken_sim_ext_bss_in_psram(void)
{
    ensure_init();
    return chip.bss_in_psram;
}

bool kraken_sim_boots_on_chip(void)
{
    ensure_init();
    return chip.boots_on_chip;
}

/* ---- per-heap primitives (each takes the heap's lock) ------------------------------------------- */

static sim_heap_t *find_containing_heap(const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    HEAPS(heap) { /* from the head: a heap added inside another one's block is found first */
        if (p >= heap->start && p < heap->end) {
            return heap;
        }
    }
    return NULL;
}

static bool heap_matches(const sim_heap_t *heap, uint32_t caps)
{
    return (heap->all_caps & caps) == caps;
}

typedef struct {
    size_t total, free, min_free, largest, allocated_blocks, free_blocks;
} heap_figures_t;

static heap_figures_t heap_figures(const sim_heap_t *heap)
{
    pthread_mutex_lock(heap->lock);
    heap_figures_t f = {
        .total = heap->end - heap->start,
        .free = tlsf_heap_free_bytes(heap->tlsf),
        .min_free = heap->min_free_zero ? 0 : tlsf_heap_min_free_bytes(heap->tlsf),
        .largest = tlsf_heap_largest_free(heap->tlsf),
        .allocated_blocks = tlsf_heap_allocated_blocks(heap->tlsf),
        .free_blocks = tlsf_heap_free_blocks(heap->tlsf),
    };
    pthread_mutex_unlock(heap->lock);
    return f;
}

/* ---- allocation (heap_caps_base.c) ------------------------------------------------------------- */

/* esp_heap_adjust_alignment_to_hw() on the S3: internal RAM is not behind the cache, so DMA and
 * CACHE_ALIGNED ask nothing of it; PSRAM needs the data cache line; SIMD wants 16 bytes. True when
 * ESP-IDF's rounding of the size up to the alignment wraps it to 0 (size left as it was), on the
 * chip's 32-bit size_t as well as on the host's. */
static bool adjust_alignment_to_hw(size_t *alignment, size_t *size, uint32_t *caps)
{
    uint32_t c = *caps;
    if (chip.policy.idf == SIM_IDF_V5_2) {
        return false; /* came with v5.3: before, SPIRAM|DMA matches no heap */
    }
    if (!(c & (MALLOC_CAP_DMA | MALLOC_CAP_DMA_DESC_AHB | MALLOC_CAP_DMA_DESC_AXI |
               MALLOC_CAP_CACHE_ALIGNED | MALLOC_CAP_SIMD))) {
        return false;
    }
    size_t align = *alignment;
    if ((c & MALLOC_CAP_SPIRAM) && align < SIM_DCACHE_LINE) {
        align = SIM_DCACHE_LINE;
    }
    if ((c & MALLOC_CAP_SIMD) && align < SIM_SIMD_ALIGN) {
        align = SIM_SIMD_ALIGN;
    }
    if (*size <= SIM_HEAP_SIZE_MAX) { /* larger sizes fail later; do not wrap them to 0 here */
        *size = (*size + align - 1) & ~(align - 1);
    }
    if (c & (MALLOC_CAP_DMA_DESC_AHB | MALLOC_CAP_DMA_DESC_AXI)) {
        c = (c & ~(uint32_t)(MALLOC_CAP_DMA_DESC_AHB | MALLOC_CAP_DMA_DESC_AXI)) | MALLOC_CAP_DMA;
    }
    if (c & MALLOC_CAP_SPIRAM) {
        c &= ~(uint32_t)MALLOC_CAP_DMA; /* SPIRAM|DMA: DMA-capable PSRAM, i.e. any PSRAM */
    }
    c &= ~(uint32_t)MALLOC_CAP_CACHE_ALIGNED;
    *alignment = align;
    *caps = c;
    bool wraps = *size > SIZE_MAX - (align - 1);
#if SIZE_MAX > UINT32_MAX
    wraps |= *size <= UINT32_MAX && *size > UINT32_MAX - (align - 1);
#endif
    return wraps;
}

/* CONFIG_HEAP_USE_HOOKS (heap_caps_base.c's CALL_HOOK): the program's hooks, when it defines them,
 * after each block a heap hands out (the size and caps after the hardware adjustment) and after each
 * block it takes back. Weak: NULL in a program without them. */
void esp_heap_trace_alloc_hook(void *ptr, size_t size, uint32_t caps) __attribute__((weak));
void esp_heap_trace_free_hook(void *ptr) __attribute__((weak));

static void alloc_hook(void *ptr, size_t size, uint32_t caps)
{
    if (chip.hooks && esp_heap_trace_alloc_hook != NULL) {
        esp_heap_trace_alloc_hook(ptr, size, caps);
    }
}

/* CONFIG_HEAP_TASK_TRACKING's owner word (multi_heap_platform.h's MULTI_HEAP_BLOCK_OWNER_SIZE(),
 * sizeof(TaskHandle_t)): each heap_caps block starts with it, the caller's pointer after it. 4 bytes
 * on the chip; 8 on a 64-bit host, where it keeps payloads 8-aligned. 0 without tracking. The
 * simulator keeps the owner itself beside the heap (sim_task_tracking.c): the word only takes the
 * room it takes on the chip, and is poisoned under ASan. */
size_t sim_block_owner_bytes(void)
{
    return chip.owner_word;
}

/* The heap block that ptr, a pointer heap_caps handed out, lies in (ptr itself without tracking).
 * Arithmetic only: any pointer may be asked about. */
static void *block_of(const void *ptr)
{
    return (void *)((uintptr_t)ptr - sim_block_owner_bytes());
}

/* The pointer heap_caps hands out for a block a heap has just given (NULL for NULL). */
static void *payload_of(void *block)
{
    const size_t owner = sim_block_owner_bytes();
    if (block == NULL || owner == 0) {
        return block;
    }
    SIM_POISON(block, owner);
    return (char *)block + owner;
}

/* heap_caps_aligned_alloc_base() without fault injection: heaps by priority, then list order. */
static void *alloc_heaps(size_t alignment, size_t size, uint32_t caps)
{
    adjust_alignment_to_hw(&alignment, &size, &caps);
    const size_t owner = sim_block_owner_bytes();
    if (size == 0 || size > SIM_HEAP_SIZE_MAX - owner) {
        return NULL;
    }
    /* No heap has MALLOC_CAP_EXEC (memory protection on), so EXEC requests find nothing. */
    if (caps & MALLOC_CAP_32BIT) {
        size = (size + 3) & ~(size_t)3;
    }
    void *const task = sim_owner_now(); /* before any heap lock: it may take FreeRTOS's */
    for (int prio = 0; prio < SIM_PRIOS; prio++) {
        HEAPS(heap) {
            if ((heap->caps[prio] & caps) == 0 || !heap_matches(heap, caps)) {
                continue;
            }
            pthread_mutex_lock(heap->lock);
            void *block = alignment <= SIM_UNALIGNED_BYTES
                              ? tlsf_heap_malloc(heap->tlsf, size + owner)
                              : tlsf_heap_memalign_offs(heap->tlsf, alignment, size + owner, owner);
            sim_owner_set(block, task, heap); /* under the lock: no walk sees it without its task */
            pthread_mutex_unlock(heap->lock);
            void *ptr = payload_of(block);
            if (ptr != NULL) {
                alloc_hook(ptr, size, caps);
                return ptr;
            }
        }
    }
    return NULL;
}

/* One allocation attempt with one caps mask: fault injection, then the heaps. */
static void *alloc_base(size_t alignment, size_t size, uint32_t caps)
{
    if (size == 0 || fault_inject(caps)) {
        return NULL;
    }
    return alloc_heaps(alignment, size, caps);
}

/* Whether ptr, or the block a heap_caps pointer ptr would be (the owner word before it), is an
 * array of heap_caps_alloc_*_task_stat_arrays(): those blocks have no owner word. Inline: a free
 * pays one load while no array is live. */
static inline __attribute__((always_inline)) bool stat_array_at(const void *ptr)
{
    return atomic_load_explicit(&sim_stat_arrays, memory_order_relaxed) != 0 &&
           (sim_is_stat_array(ptr) || sim_is_stat_array(block_of(ptr)));
}

/* Release a block; false (after logging and counting, no lock held) when ptr is not one. */
static bool free_block(void *ptr, const char *function_name)
{
    if (stat_array_at(ptr)) {
        count(&stat_invalid_frees);
        ESP_LOGE(TAG, "%s(%p): an array of heap_caps_alloc_*_task_stat_arrays(): refused (ESP-IDF "
                      "would corrupt its heap; heap_caps_free_*_task_stat_arrays() frees it)",
                 function_name, ptr);
        return false;
    }
    void *const block = block_of(ptr);
    sim_heap_t *heap = find_containing_heap(block);
    tlsf_free_result_t result = TLSF_FREE_NOT_OWNED;
    if (heap != NULL) {
        pthread_mutex_lock(heap->lock);
        result = tlsf_heap_free(heap->tlsf, block);
        if (result == TLSF_FREE_OK) {
            sim_owner_forget(block); /* under the lock: the block may be another's right after */
        }
        pthread_mutex_unlock(heap->lock);
    }
    if (result == TLSF_FREE_OK) {
        if (chip.hooks && esp_heap_trace_free_hook != NULL) {
            esp_heap_trace_free_hook(ptr);
        }
        return true;
    }
    count(&stat_invalid_frees);
    ESP_LOGE(TAG, "%s(%p): %s; ignored (ESP-IDF would assert)", function_name, ptr,
             result == TLSF_FREE_DOUBLE    ? "double free"
             : result == TLSF_FREE_INVALID ? "not the start of a block"
                                           : "pointer outside every heap");
    return false;
}

/* Usable size of the live block heap_caps handed out as ptr (the owner word not counted), 0 when
 * none (then heap is NULL). With `inside`, the size of the live heap block that contains ptr, whose
 * start goes to *inside (the owner word counted, as ESP-IDF's multi_heap_find_containing_block). */
static size_t block_size(const void *ptr, void **inside, sim_heap_t **heap_out)
{
    const void *block = inside != NULL ? ptr : block_of(ptr);
    sim_heap_t *heap = find_containing_heap(block);
    size_t size = 0;
    if (heap != NULL) {
        pthread_mutex_lock(heap->lock);
        size = inside != NULL ? tlsf_heap_containing_block_size(heap->tlsf, block, inside)
                              : tlsf_heap_block_size(heap->tlsf, block);
        pthread_mutex_unlock(heap->lock);
        if (inside == NULL && size > 0) {
            size -= sim_block_owner_bytes(); /* a live block holds at least one byte more */
        }
    }
    *heap_out = size > 0 ? heap : NULL;
    return size;
}

typedef enum { REALLOC_OK, REALLOC_NO_MEM, REALLOC_BAD_PTR, REALLOC_FREED } realloc_status_t;

/* heap_caps_realloc_base(): ptr not NULL, size not 0. */
static realloc_status_t realloc_base(void *ptr, size_t size, uint32_t caps, void **out)
{
    size_t alignment = SIM_UNALIGNED_BYTES;
    uint32_t adjusted = caps;
    *out = NULL;
    if (adjust_alignment_to_hw(&alignment, &size, &adjusted)) {
        /* ESP-IDF rounds the size first, then takes the 0 it got for a free. */
        ESP_LOGW(TAG,
                 "heap_caps_realloc(%p, %zu, 0x%" PRIx32 "): the size rounds up to 0, so ESP-IDF "
                 "frees the block and returns NULL",
                 ptr, size, caps);
        if (free_block(ptr, "heap_caps_realloc")) {
            count(&stat_frees);
        }
        return REALLOC_FREED;
    }
    if (stat_array_at(ptr)) {
        count(&stat_invalid_frees);
        ESP_LOGE(TAG, "heap_caps_realloc(%p): an array of heap_caps_alloc_*_task_stat_arrays(): "
                      "refused (ESP-IDF would corrupt its heap)",
                 ptr);
        return REALLOC_BAD_PTR;
    }
    sim_heap_t *heap;
    size_t old_size = block_size(ptr, NULL, &heap);
    if (heap == NULL) {
        count(&stat_invalid_frees);
        ESP_LOGE(TAG, "heap_caps_realloc(%p): not a live block of any heap; ignored", ptr);
        return REALLOC_BAD_PTR;
    }
    const size_t owner = sim_block_owner_bytes();
    if (size > SIM_HEAP_SIZE_MAX - owner || fault_inject(caps)) {
        return REALLOC_NO_MEM;
    }
    if (heap_matches(heap, adjusted) && alignment <= SIM_UNALIGNED_BYTES) {
        void *const task = sim_owner_now();
        void *const block = block_of(ptr);
        pthread_mutex_lock(heap->lock);
        void *resized_block = tlsf_heap_realloc(heap->tlsf, block, size + owner);
        if (resized_block != NULL) { /* under the lock: its old place may be another's at once */
            sim_owner_forget(block);
            sim_owner_set(resized_block, task, heap);
        }
        pthread_mutex_unlock(heap->lock);
        void *resized = payload_of(resized_block);
        if (resized != NULL) {
            alloc_hook(resized, size, adjusted); /* in place or moved within the heap: no free hook */
            *out = resized;
            return REALLOC_OK;
        }
    }
    void *moved = alloc_heaps(alignment, size, adjusted);
    if (moved == NULL) {
        return REALLOC_NO_MEM;
    }
    SIM_UNPOISON(ptr, old_size); /* the slack past the old request may be poisoned */
    memcpy(moved, ptr, size < old_size ? size : old_size);
    free_block(ptr, "heap_caps_realloc");
    *out = moved;
    return REALLOC_OK;
}

/* Allocate through a list of masks, first success wins; not counted as an ISR call (the public
 * function that calls it is). */
static void *alloc_masks(size_t size, const uint32_t *masks, size_t count_masks, size_t alignment,
                         uint32_t hook_caps, const char *function_name)
{
    ensure_init();
    for (size_t i = 0; i < count_masks; i++) {
        void *ptr = alloc_base(alignment, size, masks[i]);
        if (ptr != NULL) {
            count(&stat_allocations);
            note_tracked_call(function_name);
            return ptr;
        }
    }
    if (size > 0) {
        alloc_failed(size, hook_caps, function_name);
    }
    return NULL;
}

SIM_HEAP_API static void *malloc_masks(size_t size, const uint32_t *masks, size_t count_masks,
                                       size_t alignment, uint32_t hook_caps,
                                       const char *function_name)
{
    sim_note_isr_call(function_name);
    void *ptr = alloc_masks(size, masks, count_masks, alignment, hook_caps, function_name);
    sim_trace_alloc(ptr, size);
    return ptr;
}

/* heap_caps_calloc*(): n * size bytes, zeroed. A NULL result with size > 0 (also for n == 0 or an
 * overflowing product) is reported as ESP-IDF reports it: hook_size bytes (heap_caps_calloc: the
 * product, wrapped; heap_caps_calloc_prefer: `size`, heap_caps.c). */
SIM_HEAP_API static void *calloc_masks(size_t n, size_t size, const uint32_t *masks,
                                       size_t count_masks, uint32_t hook_caps, size_t hook_size,
                                       const char *function_name)
{
    size_t bytes;
    sim_note_isr_call(function_name);
    if (!sim_chip_mul_overflow(n, size, &bytes) && bytes > 0) {
        ensure_init();
        for (size_t i = 0; i < count_masks; i++) {
            void *ptr = alloc_base(SIM_UNALIGNED_BYTES, bytes, masks[i]);
            if (ptr != NULL) {
                count(&stat_allocations);
                note_tracked_call(function_name);
                if (chip.policy.idf == SIM_IDF_CURRENT) { /* the releases miss it (master: 46fceb2) */
                    sim_trace_alloc(ptr, bytes);
                }
                return memset(ptr, 0, bytes);
            }
        }
    }
    if (size > 0) {
        alloc_failed(hook_size, hook_caps, function_name);
    }
    return NULL;
}

/* Realloc through a list of masks (one for heap_caps_realloc, several for the prefer/default
 * forms), with ESP-IDF's bookkeeping: NULL ptr allocates, size 0 frees. */
SIM_HEAP_API static void *realloc_masks(void *ptr, size_t size, const uint32_t *masks,
                                        size_t count_masks, uint32_t hook_caps,
                                        const char *function_name, const void *caller)
{
    ensure_init();
    if (ptr == NULL) {
        return malloc_masks(size, masks, count_masks, SIM_UNALIGNED_BYTES, hook_caps,
                            function_name);
    }
    sim_note_isr_call(function_name);
    if (sim_refuse_pool_block(ptr, function_name, caller)) {
        return NULL; /* as a failed realloc: the block stays valid */
    }
    if (size == 0) {
        if (count_masks > 0) { /* no mask: nothing happens */
            note_tracked_call(function_name);
            sim_trace_free(ptr);
            if (free_block(ptr, function_name)) {
                count(&stat_frees);
            }
        }
        return NULL;
    }
    for (size_t i = 0; i < count_masks; i++) {
        void *out;
        sim_trace_free(ptr); /* each try of ESP-IDF's heap_caps_realloc_base is traced */
        realloc_status_t status = realloc_base(ptr, size, masks[i], &out);
        if (status == REALLOC_OK) {
            note_tracked_call(function_name);
            sim_trace_alloc(out, size);
            return out;
        }
        if (status == REALLOC_BAD_PTR) {
            return NULL; /* misuse, not out of memory: counted and logged, no callback */
        }
        if (status == REALLOC_FREED) {
            break; /* the chip would go on with a freed block: stop here, as a failure */
        }
    }
    alloc_failed(size, hook_caps, function_name);
    return NULL;
}

/* ---- the public allocation API (heap_caps.c) --------------------------------------------------- */

SIM_HEAP_API void *heap_caps_malloc(size_t size, uint32_t caps)
{
    return malloc_masks(size, &caps, 1, SIM_UNALIGNED_BYTES, caps, __func__);
}

SIM_HEAP_API void *heap_caps_calloc(size_t n, size_t size, uint32_t caps)
{
    /* the product as the chip's 32-bit size_t wraps it (v5.1.4 and v5.2.2 on: before, `size`) */
    return calloc_masks(n, size, &caps, 1, caps, (uint32_t)(n * size), __func__);
}

SIM_HEAP_API void *heap_caps_realloc(void *ptr, size_t size, uint32_t caps)
{
    return realloc_masks(ptr, size, &caps, 1, caps, __func__, __builtin_return_address(0));
}

/* The pools' query (memory_pool.h) and their refusal of a heap call on one of their blocks
 * (src/memory_pool_heap_call.h: counted in their statistics, passed to their misuse hook, logged).
 * Weak: a program that does not use the pools does not link memory_pool.o (a weak reference pulls
 * nothing out of a static library), and then both are NULL. */
bool memory_pool_owns(const void *ptr) __attribute__((weak));
bool memory_pool_refuse_heap_call_from(const void *ptr, const char *function_name,
                                       const void *caller) __attribute__((weak));

bool sim_refuse_pool_block(void *ptr, const char *function_name, const void *caller)
{
    /* every free and realloc asks: the query first (no lock while the pools hold no heap block) */
    if (memory_pool_owns == NULL || !memory_pool_owns(ptr)) {
        return false;
    }
    sim_own_lines(true); /* the report is the simulator's: the chip's free() writes no line */
    const bool refused = memory_pool_refuse_heap_call_from(ptr, function_name, caller);
    sim_own_lines(false);
    if (refused) {
        sim_count_invalid_free();
    }
    return refused;
}

/* sim_free() without counting an ISR call (also for the simulator's own frees). Inlined: GCC
 * leaves it out of line otherwise, 9 instructions more on every free. */
SIM_HEAP_API static inline __attribute__((always_inline)) void free_quietly(void *ptr,
                                                                  const char *function_name,
                                                                  const void *caller)
{
    if (sim_refuse_pool_block(ptr, function_name, caller)) {
        return;
    }
    sim_trace_free(ptr);
    ensure_init();
    if (free_block(ptr, function_name)) {
        count(&stat_frees);
    }
}

SIM_HEAP_API void sim_free(void *ptr, const char *function_name, const void *caller)
{
    if (ptr == NULL) {
        return;
    }
    sim_note_isr_call(function_name);
    note_tracked_call(function_name);
    free_quietly(ptr, function_name, caller);
}

SIM_HEAP_API void heap_caps_free(void *ptr)
{
    sim_free(ptr, __func__, __builtin_return_address(0));
}

SIM_HEAP_API void *heap_caps_aligned_alloc(size_t alignment, size_t size, uint32_t caps)
{
    /* heap_caps_aligned_check_args(): bad alignment or size 0 fail without the callback. */
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || size == 0) {
        sim_note_isr_call(__func__);
        return NULL;
    }
    return malloc_masks(size, &caps, 1, alignment, caps, __func__);
}

SIM_HEAP_API void heap_caps_aligned_free(void *ptr)
{
    heap_caps_free(ptr);
}

SIM_HEAP_API void *heap_caps_aligned_calloc(size_t alignment, size_t n, size_t size, uint32_t caps)
{
    size_t bytes;
    if (sim_chip_mul_overflow(n, size, &bytes)) {
        sim_note_isr_call(__func__);
        return NULL;
    }
    void *ptr = heap_caps_aligned_alloc(alignment, bytes, caps);
    if (ptr != NULL) {
        memset(ptr, 0, bytes);
    }
    return ptr;
}

/* The masks heap_caps_malloc_default() tries, and the caps it reports on failure. */
static size_t default_masks(size_t size, uint32_t masks[2], uint32_t *hook_caps)
{
    const int32_t limit = atomic_load_explicit(&chip.malloc_limit, memory_order_relaxed);
    if (limit == -1) {
        masks[0] = MALLOC_CAP_DEFAULT | MALLOC_CAP_INTERNAL;
        *hook_caps = masks[0];
        return 1;
    }
    masks[0] = MALLOC_CAP_DEFAULT |
               (size <= (uint32_t)limit ? MALLOC_CAP_INTERNAL : MALLOC_CAP_SPIRAM);
    masks[1] = MALLOC_CAP_DEFAULT; /* "try again while being less picky" */
    *hook_caps = MALLOC_CAP_DEFAULT;
    return 2;
}

SIM_HEAP_API void *heap_caps_malloc_default(size_t size)
{
    ensure_init();
    uint32_t masks[2], hook_caps;
    size_t n = default_masks(size, masks, &hook_caps);
    /* With PSRAM out of malloc(), ESP-IDF simply calls heap_caps_malloc(). */
    return malloc_masks(size, masks, n, SIM_UNALIGNED_BYTES, hook_caps,
                        n == 1 ? "heap_caps_malloc" : __func__);
}

SIM_HEAP_API void *sim_aligned_alloc_default(size_t alignment, size_t size)
{
    /* heap_caps_aligned_alloc_default() (heap_private.h): bad alignment or size 0 fail without
     * the callback, then the masks of heap_caps_malloc_default(). */
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || size == 0) {
        sim_note_isr_call("heap_caps_aligned_alloc");
        return NULL;
    }
    ensure_init();
    if (chip.policy.idf == SIM_IDF_V5_2) { /* newlib's heap.c before v5.3: any default memory */
        const uint32_t caps = MALLOC_CAP_DEFAULT;
        return malloc_masks(size, &caps, 1, alignment, caps, "heap_caps_aligned_alloc");
    }
    uint32_t masks[2], hook_caps;
    size_t n = default_masks(size, masks, &hook_caps);
    return malloc_masks(size, masks, n, alignment, hook_caps,
                        n == 1 ? "heap_caps_aligned_alloc" : "heap_caps_aligned_alloc_default");
}

SIM_HEAP_API void *heap_caps_realloc_default(void *ptr, size_t size)
{
    ensure_init();
    uint32_t masks[2], hook_caps;
    size_t n = default_masks(size, masks, &hook_caps);
    return realloc_masks(ptr, size, masks, n, hook_caps, n == 1 ? "heap_caps_realloc" : __func__,
                         __builtin_return_address(0));
}

/* Collect the variadic masks (at most 16 are honoured: no caller needs more). */
#define PREFER_MAX 16
static size_t prefer_masks(size_t num, va_list args, uint32_t masks[PREFER_MAX], uint32_t *last)
{
    size_t n = 0;
    *last = MALLOC_CAP_DEFAULT;
    for (; num > 0; num--) {
        uint32_t caps = va_arg(args, uint32_t);
        if (n < PREFER_MAX) {
            masks[n++] = caps;
        }
        *last = caps;
    }
    return n;
}

SIM_HEAP_API void *heap_caps_malloc_prefer(size_t size, size_t num, ...)
{
    uint32_t masks[PREFER_MAX], last;
    va_list args;
    va_start(args, num);
    size_t n = prefer_masks(num, args, masks, &last);
    va_end(args);
    return malloc_masks(size, masks, n, SIM_UNALIGNED_BYTES, last, __func__);
}

SIM_HEAP_API void *heap_caps_realloc_prefer(void *ptr, size_t size, size_t num, ...)
{
    uint32_t masks[PREFER_MAX], last;
    va_list args;
    va_start(args, num);
    size_t n = prefer_masks(num, args, masks, &last);
    va_end(args);
    return realloc_masks(ptr, size, masks, n, last, __func__, __builtin_return_address(0));
}

SIM_HEAP_API void *heap_caps_calloc_prefer(size_t n, size_t size, size_t num, ...)
{
    uint32_t masks[PREFER_MAX], last;
    va_list args;
    va_start(args, num);
    size_t count_masks = prefer_masks(num, args, masks, &last);
    va_end(args);
    return calloc_masks(n, size, masks, count_masks, last, size, __func__);
}

size_t heap_caps_get_allocated_size(void *ptr)
{
    sim_note_isr_call(__func__);
    ensure_init();
    sim_heap_t *heap;
    size_t size = block_size(ptr, NULL, &heap); /* NULL too: the chip asserts */
    if (heap == NULL) {
        count(&stat_invalid_queries);
        ESP_LOGE(TAG, "heap_caps_get_allocated_size(%p): not a live block (ESP-IDF would assert)",
                 ptr);
    } else {
        /* The whole block is the caller's to use once it asked for its size (as ASan's own
         * malloc_usable_size makes it): lift the poison on the slack after the request. */
        SIM_UNPOISON(ptr, size);
    }
    return size;
}

size_t heap_caps_get_containing_block_size(void *ptr)
{
    sim_note_isr_call(__func__);
    ensure_init();
    sim_heap_t *heap;
    void *start = NULL;
    const size_t size = block_size(ptr, &start, &heap);
    if (size == 0) {
        count(&stat_invalid_queries);
        ESP_LOGE(TAG, "heap_caps_get_containing_block_size(%p): not inside a live block (ESP-IDF "
                      "would assert)", ptr);
    } else {
        /* usable, as heap_caps_get_allocated_size makes it; the owner word stays poisoned (the
         * task statistics' arrays have none) */
        const bool array = atomic_load_explicit(&sim_stat_arrays, memory_order_relaxed) != 0 &&
                           sim_is_stat_array(start);
        const size_t owner = array ? 0 : sim_block_owner_bytes();
        SIM_UNPOISON((char *)start + owner, size - owner);
    }
    return size;
}

/* ---- figures (O(1) per heap from the TLSF counters) -------------------------------------------- */

/* heap_caps_get_info() with CONFIG_HEAP_TASK_TRACKING takes the owner word off the largest free
 * block so far after each heap it adds (ESP-IDF's loop: so the figure is up to a word per heap
 * lower than the room a request has), and off each heap's free and minimum free bytes once. The
 * host copies it, so the figures are the chip's, but never goes below 0 (the chip's sums wrap). */
static size_t less_owner_word(size_t bytes)
{
    const size_t owner = sim_block_owner_bytes();
    return bytes > owner ? bytes - owner : 0;
}

typedef enum { FIG_TOTAL, FIG_FREE, FIG_MIN_FREE, FIG_LARGEST } figure_t;

/* heap_caps_match(): every heap whose caps contain all of `caps` (caps 0 matches every heap). */
static size_t figure(uint32_t caps, figure_t which, const char *function_name)
{
    sim_note_isr_call(function_name);
    ensure_init();
    if (which == FIG_LARGEST) {
        return largest_free_block(caps);
    }
    size_t result = 0;
    HEAPS(heap) {
        if (!heap_matches(heap, caps)) {
            continue;
        }
        heap_figures_t f = heap_figures(heap);
        result += which == FIG_TOTAL ? f.total : which == FIG_FREE ? f.free : f.min_free;
    }
    return result;
}

size_t heap_caps_get_total_size(uint32_t caps)
{
    return figure(caps, FIG_TOTAL, __func__);
}

size_t heap_caps_get_free_size(uint32_t caps)
{
    return figure(caps, FIG_FREE, __func__);
}

size_t heap_caps_get_minimum_free_size(uint32_t caps)
{
    return figure(caps, FIG_MIN_FREE, __func__);
}

/* esp_system.h's heap figures (esp_system_chip.c). */
uint32_t esp_get_free_heap_size(void)
{
    return (uint32_t)heap_caps_get_free_size(MALLOC_CAP_DEFAULT);
}

uint32_t esp_get_free_internal_heap_size(void)
{
    return (uint32_t)heap_caps_get_free_size(MALLOC_CAP_8BIT | MALLOC_CAP_DMA | MALLOC_CAP_INTERNAL);
}

uint32_t esp_get_minimum_free_heap_size(void)
{
    return (uint32_t)heap_caps_get_minimum_free_size(MALLOC_CAP_DEFAULT);
}

size_t heap_caps_get_largest_free_block(uint32_t caps)
{
    return figure(caps, FIG_LARGEST, __func__);
}

/* As ESP-IDF (heap_caps.c): each heap's minimum restarts from its free size; a second start keeps
 * the lowest minimum saved so far. The saved minima take a MALLOC_CAP_DEFAULT block, as there. */
esp_err_t heap_caps_monitor_local_minimum_free_size_start(void)
{
    sim_note_isr_call(__func__);
    ensure_init();
    pthread_mutex_lock(&monitor_lock);
    if (monitor_saved == NULL) {
        const uint32_t caps = MALLOC_CAP_DEFAULT;
        const size_t heaps = atomic_load(&heap_count);
        const size_t bytes = heaps * sizeof *monitor_saved;
        monitor_saved = alloc_masks(bytes, &caps, 1, SIM_UNALIGNED_BYTES, caps, "heap_caps_malloc");
        sim_trace_alloc(monitor_saved, bytes); /* a heap_caps_malloc on the chip: traced */
        if (monitor_saved == NULL) {
            pthread_mutex_unlock(&monitor_lock);
            ESP_LOGE(TAG, "%s: no memory for the saved minima (ESP-IDF would assert)", __func__);
            return ESP_ERR_NO_MEM;
        }
        monitor_count = heaps;
        memset(monitor_saved, 0xFF, monitor_count * sizeof *monitor_saved);
    }
    sim_heap_t *heap = atomic_load_explicit(&heap_head, memory_order_acquire);
    for (size_t i = 0; i < monitor_count && heap != NULL; i++, heap = heap->next) {
        pthread_mutex_lock(heap->lock);
        const size_t old = heap->min_free_zero ? 0 : tlsf_heap_min_free_bytes(heap->tlsf);
        heap->min_free_zero = false;
        tlsf_heap_reset_min_free(heap->tlsf);
        pthread_mutex_unlock(heap->lock);
        if (old < monitor_saved[i]) {
            monitor_saved[i] = (uint32_t)old;
        }
    }
    pthread_mutex_unlock(&monitor_lock);
    return ESP_OK;
}

/* Each heap's minimum becomes the lower of its local one and the one saved at the start. */
esp_err_t heap_caps_monitor_local_minimum_free_size_stop(void)
{
    sim_note_isr_call(__func__);
    ensure_init();
    pthread_mutex_lock(&monitor_lock);
    uint32_t *saved = monitor_saved;
    if (saved == NULL) {
        pthread_mutex_unlock(&monitor_lock);
        return ESP_FAIL;
    }
    sim_heap_t *heap = atomic_load_explicit(&heap_head, memory_order_acquire);
    for (size_t i = 0; i < monitor_count && heap != NULL; i++, heap = heap->next) {
        pthread_mutex_lock(heap->lock);
        if (saved[i] == 0) {
            heap->min_free_zero = true;
        } else {
            tlsf_heap_restore_min_free(heap->tlsf, saved[i]);
        }
        pthread_mutex_unlock(heap->lock);
    }
    monitor_saved = NULL;
    monitor_count = 0;
    pthread_mutex_unlock(&monitor_lock);
    free_quietly(saved, "heap_caps_free", NULL); /* a heap_caps_free on the chip: traced */
    return ESP_OK;
}

/* heap_caps_get_largest_free_block() (heap_caps_get_info()'s figure, tracking's owner word taken
 * off as ESP-IDF does: see less_owner_word()), also for the boot's DMA reserve, which ESP-IDF sizes
 * with it: no ensure_init (it runs inside pthread_once), no ISR check. */
static size_t largest_free_block(uint32_t caps)
{
    size_t largest = 0;
    HEAPS(heap) {
        if (heap_matches(heap, caps)) {
            size_t block = heap_figures(heap).largest;
            largest = block > largest ? block : largest;
            largest = less_owner_word(largest);
        }
    }
    return largest;
}

/* ---- walks: info, dump, integrity (O(blocks), under each heap's lock, as on the chip) ---------- */

static bool sum_used(void *payload, size_t size, bool used, void *ctx)
{
    (void)payload;
    if (used) {
        *(size_t *)ctx += size;
    }
    return true;
}

/* multi_heap_get_info() of one heap. */
static void heap_info(const sim_heap_t *heap, multi_heap_info_t *info)
{
    size_t allocated = 0;
    pthread_mutex_lock(heap->lock);
    tlsf_heap_walk(heap->tlsf, sum_used, &allocated);
    *info = (multi_heap_info_t){
        .total_free_bytes = tlsf_heap_free_bytes(heap->tlsf),
        .total_allocated_bytes = allocated,
        .largest_free_block = tlsf_heap_largest_free(heap->tlsf),
        .minimum_free_bytes = heap->min_free_zero ? 0 : tlsf_heap_min_free_bytes(heap->tlsf),
        .allocated_blocks = tlsf_heap_allocated_blocks(heap->tlsf),
        .free_blocks = tlsf_heap_free_blocks(heap->tlsf),
    };
    pthread_mutex_unlock(heap->lock);
    info->total_blocks = info->allocated_blocks + info->free_blocks;
}

static void sum_info(multi_heap_info_t *info, uint32_t caps)
{
    memset(info, 0, sizeof *info);
    ensure_init();
    const size_t owner = sim_block_owner_bytes(); /* ESP-IDF's arithmetic: see less_owner_word() */
    size_t words = 0;
    HEAPS(heap) {
        if (!heap_matches(heap, caps)) {
            continue;
        }
        multi_heap_info_t h;
        heap_info(heap, &h);
        info->total_free_bytes += h.total_free_bytes;
        info->total_allocated_bytes += h.total_allocated_bytes - h.allocated_blocks * owner;
        if (h.largest_free_block > info->largest_free_block) {
            info->largest_free_block = h.largest_free_block;
        }
        info->largest_free_block = less_owner_word(info->largest_free_block);
        info->minimum_free_bytes += h.minimum_free_bytes;
        info->allocated_blocks += h.allocated_blocks;
        info->free_blocks += h.free_blocks;
        info->total_blocks += h.total_blocks;
        words += owner;
    }
    info->total_free_bytes = info->total_free_bytes > words ? info->total_free_bytes - words : 0;
    info->minimum_free_bytes =
        info->minimum_free_bytes > words ? info->minimum_free_bytes - words : 0;
}

void heap_caps_get_info(multi_heap_info_t *info, uint32_t caps)
{
    if (info == NULL) {
        return;
    }
    sim_note_isr_call(__func__);
    sum_info(info, caps);
}

void heap_caps_print_heap_info(uint32_t caps)
{
    sim_note_isr_call(__func__);
    ensure_init();
    printf("Heap summary for capabilities 0x%08X:\n", (unsigned)caps);
    HEAPS(heap) {
        if (!heap_matches(heap, caps)) {
            continue;
        }
        multi_heap_info_t h;
        heap_info(heap, &h);
        printf("  At 0x%08x len %zu free %zu allocated %zu min_free %zu\n",
               (unsigned)sim_chip_address((const void *)heap->start),
               (size_t)(heap->end - heap->start), h.total_free_bytes, h.total_allocated_bytes,
               h.minimum_free_bytes);
        printf("    largest_free_block %zu alloc_blocks %zu free_blocks %zu total_blocks %zu\n",
               h.largest_free_block, h.allocated_blocks, h.free_blocks, h.total_blocks);
    }
    multi_heap_info_t total;
    sum_info(&total, caps);
    printf("  Totals:\n");
    printf("    free %zu allocated %zu min_free %zu largest_free_block %zu\n",
           total.total_free_bytes, total.total_allocated_bytes, total.minimum_free_bytes,
           total.largest_free_block);
    fflush(stdout);
}

/* ESP-IDF's multi_heap_dump() text, on the console (stdout) as its esp_rom_printf. */
static bool print_block(void *payload, size_t size, bool used, void *ctx)
{
    (void)ctx;
    printf("Block %p data, size: %u bytes, Free: %s \n", payload, (unsigned)size, used ? "No" : "Yes");
    return true;
}

/* Heaps selected by caps, or all of them when caps has MALLOC_CAP_INVALID (ESP-IDF's "all"). */
static bool heap_selected(const sim_heap_t *heap, uint32_t caps)
{
    return (caps & MALLOC_CAP_INVALID) != 0 || heap_matches(heap, caps);
}

void heap_caps_dump(uint32_t caps)
{
    sim_note_isr_call(__func__);
    ensure_init();
    HEAPS(heap) {
        if (!heap_selected(heap, caps)) {
            continue;
        }
        pthread_mutex_lock(heap->lock);
        printf("Showing data for heap: %p \n", (void *)heap->start); /* its heap_t is there */
        tlsf_heap_walk(heap->tlsf, print_block, NULL);
        pthread_mutex_unlock(heap->lock);
    }
    fflush(stdout);
}

typedef struct {
    heap_caps_walker_cb_t fn;
    void *user_data;
    walker_heap_into_t heap;
} walk_ctx_t;

static bool walk_block(void *payload, size_t size, bool used, void *ctx)
{
    const walk_ctx_t *w = ctx;
    return w->fn(w->heap, (walker_block_info_t){.ptr = payload, .size = size, .used = used},
                 w->user_data);
}

void heap_caps_walk(uint32_t caps, heap_caps_walker_cb_t walker_func, void *user_data)
{
    sim_note_isr_call(__func__);
    if (walker_func == NULL) {
        ESP_LOGE(TAG, "heap_caps_walk: NULL walker (ESP-IDF would assert)");
        return;
    }
    ensure_init();
    HEAPS(heap) {
        if ((caps & MALLOC_CAP_INVALID) == 0 && !heap_matches(heap, caps)) {
            continue;
        }
        walk_ctx_t w = {walker_func, user_data, {(intptr_t)heap->start, (intptr_t)heap->end}};
        pthread_mutex_lock(heap->lock);
        tlsf_heap_walk(heap->tlsf, walk_block, &w);
        pthread_mutex_unlock(heap->lock);
    }
}

void heap_caps_walk_all(heap_caps_walker_cb_t walker_func, void *user_data)
{
    heap_caps_walk(MALLOC_CAP_INVALID, walker_func, user_data);
}

void heap_caps_dump_all(void)
{
    heap_caps_dump(MALLOC_CAP_INVALID);
}

static bool check_heap(const sim_heap_t *heap, bool print_errors)
{
    pthread_mutex_lock(heap->lock);
    bool ok = tlsf_heap_check(heap->tlsf);
    pthread_mutex_unlock(heap->lock);
    if (!ok && print_errors) {
        ESP_LOGE(TAG, "CORRUPT HEAP: heap %s at %p failed its integrity check", heap->name,
                 (void *)heap->start);
    }
    return ok;
}

bool heap_caps_check_integrity(uint32_t caps, bool print_errors)
{
    sim_note_isr_call(__func__);
    ensure_init();
    bool valid = true;
    HEAPS(heap) {
        if (heap_selected(heap, caps)) {
            valid = check_heap(heap, print_errors) && valid;
        }
    }
    return valid;
}

bool heap_caps_check_integrity_all(bool print_errors)
{
    return heap_caps_check_integrity(MALLOC_CAP_INVALID, print_errors);
}

bool heap_caps_check_integrity_addr(intptr_t addr, bool print_errors)
{
    sim_note_isr_call(__func__);
    ensure_init();
    const sim_heap_t *heap = find_containing_heap((const void *)addr);
    return heap != NULL && check_heap(heap, print_errors);
}

/* ---- PSRAM and pointer classification (isr-ok: no lock) --------------------------------------- */

esp_err_t esp_psram_init(void)
{
    ensure_init();
    return chip.psram ? ESP_ERR_INVALID_STATE : ESP_FAIL;
}

bool esp_psram_is_initialized(void)
{
    ensure_init();
    return chip.psram;
}

size_t esp_psram_get_size(void)
{
    ensure_init();
    return chip.psram_bytes;
}


/* p in [lo, hi) maps to chip + (p - lo), kept below chip + chip_bytes. */
static bool map_area(uintptr_t p, uintptr_t lo, uintptr_t hi, uint32_t chip_base,
                     uint32_t chip_bytes, uint32_t *out)
{
    if (lo == 0 || p < lo || p >= hi) {
        return false;
    }
    const uintptr_t offset = p - lo;
    *out = chip_base + (uint32_t)(offset < chip_bytes ? offset : chip_bytes - 1);
    return true;
}

/* The bytes of slot i this boot uses as chip memory: 0 when the profile or the options leave the
 * region out (no PSRAM; a data cache that leaves no DRAM heap). */
static size_t slot_in_use(unsigned i)
{
    switch (i) {
    case SLOT_DRAM:
        return chip.dram ? SIM_DRAM_BYTES : 0;
    case SLOT_DRAM_DROM:
        return chip.dram_drom ? SIM_DRAM_DROM_BYTES : 0;
    case SLOT_PSRAM:
        return chip.psram ? chip.psram_bytes : 0;
    default:
        return slot_bytes[i];
    }
}

/* The calling thread's stack, found once per thread (glibc's own malloc, not the simulated one,
 * serves pthread_getattr_np): [lo, hi). */
static _Thread_local uintptr_t own_stack_lo, own_stack_hi;

/* The simulated stack block of the FreeRTOS task this thread runs, if any (freertos_host.c). */
static _Thread_local const uint8_t *task_stack;
static _Thread_local size_t task_stack_bytes;

void sim_chip_set_task_stack(const void *block, size_t bytes)
{
    task_stack = block;
    task_stack_bytes = bytes;
}

static bool in_own_stack(uintptr_t p)
{
    static _Thread_local bool known;
    if (!known) {
        known = true;
        pthread_attr_t attr;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            void *base;
            size_t size;
            if (pthread_attr_getstack(&attr, &base, &size) == 0) {
                own_stack_lo = (uintptr_t)base;
                own_stack_hi = own_stack_lo + size;
            }
            pthread_attr_destroy(&attr);
        }
    }
    return p >= own_stack_lo && p < own_stack_hi;
}

uintptr_t sim_own_stack_low(void)
{
    (void)in_own_stack(0);
    return own_stack_lo;
}

uint32_t sim_chip_address(const void *ptr)
{
    ensure_init();
    const uintptr_t p = (uintptr_t)ptr;
    uint32_t a = 0;
    for (unsigned i = 0; i < SLOT_COUNT; i++) {
        const uintptr_t start = chip.slot_start[i];
        const size_t bytes = slot_in_use(i);
        if (bytes != 0 &&
            map_area(p, start, start + bytes, slot_chip_base[i], (uint32_t)bytes, &a)) {
            return a;
        }
    }
    /* PSRAM statics sit before the PSRAM heap: the address of its first byte stands for them. */
    if ((chip.bss_in_psram && in_section(p, SECTION_RANGE(kraken_ext_bss))) ||
        (chip.noinit_in_psram && in_section(p, SECTION_RANGE(kraken_ext_noinit)))) {
        return CHIP_PSRAM;
    }
    if (in_own_stack(p)) {
        if (task_stack != NULL && task_stack_bytes != 0) {
            /* A FreeRTOS task's: the same depth below the top of its simulated stack block (which
             * may be in PSRAM: xTaskCreateWithCaps), kept inside it. */
            const uintptr_t depth = own_stack_hi - 1 - p;
            const size_t from_top = depth < task_stack_bytes ? (size_t)depth : task_stack_bytes - 1;
            return sim_chip_address(task_stack + task_stack_bytes - 1 - from_top);
        }
        return CHIP_DIRAM_MAIN; /* a task's stack: a block of the main D/IRAM heap by default */
    }
    if (in_section(p, SECTION_RANGE(kraken_ext_bss)) ||
        in_section(p, SECTION_RANGE(kraken_ext_noinit))) {
        return CHIP_STATICS; /* counted internal: .bss / .noinit */
    }
    const uint32_t rtc_fast_statics = CHIP_RTC_FAST_HEAP - CHIP_RTC_FAST;
    if (map_area(p, SECTION_RANGE(kraken_iram), CHIP_IRAM, 0x403E0000u - CHIP_IRAM, &a) ||
        map_area(p, SECTION_RANGE(kraken_rtc_text), CHIP_RTC_FAST, rtc_fast_statics, &a) ||
        map_area(p, SECTION_RANGE(kraken_rtc_fast), CHIP_RTC_FAST, rtc_fast_statics, &a) ||
        map_area(p, SECTION_RANGE(kraken_rtc_slow), CHIP_RTC_SLOW, 0x2000u, &a) ||
        map_area(p, SECTION_RANGE(kraken_rtc_noinit), CHIP_RTC_SLOW, 0x2000u, &a) ||
        map_area(p, SECTION_RANGE(kraken_rtc_rodata), CHIP_RTC_SLOW, 0x2000u, &a) ||
        map_area(p, (uintptr_t)__data_start, (uintptr_t)_end, CHIP_STATICS,
                 CHIP_DIRAM_MAIN - CHIP_STATICS, &a) ||
        map_area(p, (uintptr_t)etext, (uintptr_t)__data_start, CHIP_RODATA,
                 CHIP_PSRAM - CHIP_RODATA, &a) ||
        map_area(p, (uintptr_t)__executable_start, (uintptr_t)etext, CHIP_IROM, 0x2000000u, &a)) {
        return a;
    }
    return 0;
}

bool sim_chip_in_psram(uint32_t address)
{
    ensure_init();
    return chip.psram && address >= CHIP_PSRAM && address - CHIP_PSRAM < chip.psram_bytes;
}

bool sim_data_cache_16kb(void)
{
    ensure_init();
    return chip.policy.dcache_kb == 16;
}

typedef struct {
    bool (*block)(uint32_t heap_caps, void *payload, size_t size, void *ctx);
    void *ctx;
    uint32_t heap_caps;
} used_walk_t;

static bool used_block(void *payload, size_t size, bool used, void *ctx)
{
    const used_walk_t *w = ctx;
    return !used || w->block(w->heap_caps, payload, size, w->ctx);
}

void sim_walk_used_blocks(bool (*select)(uint32_t heap_caps, void *ctx),
                          bool (*block)(uint32_t heap_caps, void *payload, size_t size, void *ctx),
                          void *ctx)
{
    ensure_init();
    HEAPS(heap) {
        if (!select(heap->all_caps, ctx)) {
            continue;
        }
        used_walk_t w = {block, ctx, heap->all_caps};
        pthread_mutex_lock(heap->lock);
        tlsf_heap_walk(heap->tlsf, used_block, &w);
        pthread_mutex_unlock(heap->lock);
    }
}

void sim_heap_describe(const sim_heap_t *heap, const char **name, uint32_t *caps, size_t *size)
{
    *name = heap->name;
    *caps = heap->all_caps;
    *size = heap->end - heap->start;
}

size_t sim_heap_block_size_locked(const sim_heap_t *heap, const void *block)
{
    return tlsf_heap_block_size(heap->tlsf, block);
}

void *sim_alloc_in_biggest_heap(size_t size)
{
    ensure_init();
    sim_heap_t *biggest = NULL;
    HEAPS(heap) {
        if (biggest == NULL || biggest->end - biggest->start < heap->end - heap->start) {
            biggest = heap;
        }
    }
    if (biggest == NULL || size > SIM_HEAP_SIZE_MAX) {
        return NULL;
    }
    pthread_mutex_lock(biggest->lock);
    void *block = tlsf_heap_malloc(biggest->tlsf, size);
    pthread_mutex_unlock(biggest->lock);
    return block;
}

void sim_free_untracked(void *block)
{
    sim_heap_t *heap = block != NULL ? find_containing_heap(block) : NULL;
    if (heap != NULL) {
        pthread_mutex_lock(heap->lock);
        (void)tlsf_heap_free(heap->tlsf, block);
        pthread_mutex_unlock(heap->lock);
    }
}

/* ---- heap_caps_add_region (heap_caps_init.c) ---------------------------------------------------- */

/* sizeof(heap_t) on the ESP32-S3 without CONFIG_HEAP_TASK_TRACKING (caps[3], start, end, a
 * portMUX_TYPE, the multi_heap handle, the list link): taken from the internal heap for each
 * added region and never given back, as there. */
#define SIM_HEAP_T_BYTES 36u
#define CHIP_DIRAM_END 0x3FCF0000u      /* SOC_DIRAM_DRAM_HIGH */
#define CHIP_EXTRAM_DATA 0x3C000000u    /* SOC_EXTRAM_DATA_LOW..HIGH: the PSRAM window */
#define CHIP_EXTRAM_DATA_END 0x3E000000u

/* memory_layout.c's soc_memory_types. */
static const uint32_t caps_iram[SIM_PRIOS] = {0, MALLOC_CAP_32BIT | MALLOC_CAP_INTERNAL, 0};
/* Its SPIRAM type, for PSRAM memory added at run time (the boot heap has esp_psram's caps): only
 * MALLOC_CAP_SPIRAM at priority 0, the common caps at 2, since v5.3.3 and v5.4.1; at 1 in v5.2 to
 * v5.3.2 and v5.4.0 (the simulator's v5.3 and v5.4 follow the later patches). */
static const uint32_t caps_spiram_type[SIM_PRIOS] = {MALLOC_CAP_SPIRAM, 0,
                                                     COMMON_CAPS | MALLOC_CAP_SIMD};
static const uint32_t caps_spiram_type_v5_2[SIM_PRIOS] = {MALLOC_CAP_SPIRAM, COMMON_CAPS, 0};
#define SPIRAM_TYPE 3
static const struct {
    const char *name;
    const uint32_t *caps;
} memory_types[] = {{"RAM", caps_diram},       {"DRAM", caps_dram},     {"IRAM", caps_iram},
                    {"SPIRAM", caps_spiram_type}, {"RTCRAM", caps_rtcram}};

/* A memory type's caps in the release the simulator follows. */
static const uint32_t *type_caps(size_t type)
{
    return type == SPIRAM_TYPE && chip.policy.idf == SIM_IDF_V5_2 ? caps_spiram_type_v5_2
                                                                  : memory_types[type].caps;
}

/* soc_memory_regions on the S3 (memory protection on, RTC fast memory as heap): the type of the
 * memory at chip address a; NULL when no region holds it (IRAM, flash, RTC slow memory). */
static const char *region_type_at(uint32_t a, const uint32_t **caps)
{
    size_t type = SIZE_MAX;
    if (a >= CHIP_STATICS && a < CHIP_DIRAM_END) {
        type = 0;
    } else if ((chip.dram && a >= CHIP_DRAM && a - CHIP_DRAM < SIM_DRAM_BYTES) ||
               (chip.policy.dcache_kb == 16 && a >= CHIP_DRAM_DROM &&
                a - CHIP_DRAM_DROM < SIM_DRAM_DROM_BYTES)) {
        type = 1;
    } else if (chip.policy.spiram && a >= CHIP_EXTRAM_DATA && a < CHIP_EXTRAM_DATA_END) {
        type = SPIRAM_TYPE;
    } else if (a >= CHIP_RTC_FAST && a < 0x60100000u) {
        type = 4;
    }
    if (type == SIZE_MAX) {
        return NULL;
    }
    *caps = type_caps(type);
    return memory_types[type].name;
}

/* The name CONFIG_HEAP_TASK_TRACKING gives an added heap: the type with the same caps. */
static const char *type_name(const uint32_t caps[SIM_PRIOS])
{
    for (size_t i = 0; i < sizeof memory_types / sizeof memory_types[0]; i++) {
        if (ored(type_caps(i)) == ored(caps)) {
            return memory_types[i].name;
        }
    }
    return "added";
}

static bool span_in(uintptr_t start, uintptr_t last, uintptr_t lo, uintptr_t hi)
{
    return in_section(start, lo, hi) && in_section(last, lo, hi);
}

/* True when [start, end) is writable host memory that stands for the chip's RAM: a region of the
 * arena, the program's statics, the calling thread's stack. Anything else (libc's heap, other
 * threads' stacks, code, read-only data) the chip does not have, or would fault writing to. */
static bool chip_ram(uintptr_t start, uintptr_t end)
{
    const uintptr_t last = end - 1;
    for (unsigned i = 0; i < SLOT_COUNT; i++) {
        const size_t bytes = slot_in_use(i);
        if (bytes != 0 && span_in(start, last, chip.slot_start[i], chip.slot_start[i] + bytes)) {
            return true;
        }
    }
    return span_in(start, last, (uintptr_t)__data_start, (uintptr_t)_end) ||
           span_in(start, last, SECTION_RANGE(kraken_ext_bss)) ||
           span_in(start, last, SECTION_RANGE(kraken_ext_noinit)) ||
           span_in(start, last, SECTION_RANGE(kraken_rtc_fast)) ||
           span_in(start, last, SECTION_RANGE(kraken_rtc_slow)) ||
           span_in(start, last, SECTION_RANGE(kraken_rtc_noinit)) ||
           (in_own_stack(start) && in_own_stack(last));
}

/* heap_caps_check_add_region_allowed(): inside, before or after a heap, not across one of its
 * ends, not exactly on it. */
static bool add_allowed(const sim_heap_t *heap, uintptr_t start, uintptr_t end)
{
    const bool across_start = start < heap->start && end > heap->start;
    const bool across_end = start < heap->end && end > heap->end;
    const bool same = start == heap->start && end == heap->end;
    return !(across_start || across_end || same);
}

static bool overlaps_a_heap(uintptr_t start, uintptr_t end)
{
    HEAPS(heap) {
        if (!add_allowed(heap, start, end)) {
            return true;
        }
    }
    return false;
}

static esp_err_t add_region(const uint32_t caps[], intptr_t start, intptr_t end)
{
    ensure_init();
    if (caps == NULL || start == 0 || end == 0 || end <= start) {
        return ESP_ERR_INVALID_ARG;
    }
    const uintptr_t s = (uintptr_t)start, e = (uintptr_t)end;
    if (!chip_ram(s, e)) {
        ESP_LOGE(SIM_TAG,
                 "heap_caps_add_region(%p..%p): not RAM of the simulated chip (give it static "
                 "data, a heap block or a buffer on the calling task's stack): refused",
                 (void *)s, (void *)e);
        return ESP_ERR_INVALID_ARG;
    }
    if (overlaps_a_heap(s, e)) { /* checked again under add_lock below */
        ESP_LOGD(TAG, "invalid overlap detected with existing heap region");
        return ESP_FAIL;
    }
    /* The heap_t comes from the heap without add_lock held: the failed-allocation callback may
     * call in here. */
    const uint32_t internal = MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT;
    /* v5.5 on, CONFIG_HEAP_TASK_TRACKING adds the heap's name to it. */
    const size_t record_bytes =
        SIM_HEAP_T_BYTES + (chip.policy.task_tracking && chip.policy.idf <= SIM_IDF_V5_5 ? 4 : 0);
    void *record = alloc_masks(record_bytes, &internal, 1, SIM_UNALIGNED_BYTES, internal,
                               "heap_caps_malloc");
    sim_trace_alloc(record, record_bytes);
    if (record == NULL) {
        return ESP_ERR_NO_MEM;
    }
    esp_err_t err = ESP_OK;
    pthread_mutex_lock(&add_lock);
    sim_heap_t *heap = NULL;
    if (overlaps_a_heap(s, e)) { /* added by another task meanwhile */
        err = ESP_FAIL;
    } else if (heap_store_used >= SIM_MAX_HEAPS) {
        err = ESP_ERR_NO_MEM;
    } else if (s % 4 != 0 || (heap = heap_new(type_name(caps), caps, s, e - s)) == NULL) {
        err = ESP_ERR_INVALID_SIZE; /* multi_heap_register() refuses it */
    } else {
        heap->added = true;
        heap->min_free_zero = chip.policy.idf == SIM_IDF_CURRENT; /* after startup */
        if (!in_arena(s)) {
            atomic_fetch_add_explicit(&heaps_added_outside, 1, memory_order_relaxed);
        }
        heap_link(heap, 0);
    }
    pthread_mutex_unlock(&add_lock);
    if (err == ESP_ERR_NO_MEM) {
        ESP_LOGE(SIM_TAG, "heap_caps_add_region: the simulator holds at most %u heaps",
                 (unsigned)SIM_MAX_HEAPS);
    }
    if (err != ESP_OK) {
        free_quietly(record, "free", NULL);
    }
    return err;
}

esp_err_t heap_caps_add_region(intptr_t start, intptr_t end)
{
    sim_note_isr_call(__func__);
    if (start == 0) {
        return ESP_ERR_INVALID_ARG;
    }
    /* The type of `start`'s memory: ESP-IDF assumes `end` lies in memory of the same type. */
    const uint32_t *caps = NULL;
    const uint32_t a = sim_chip_address((const void *)start);
    const bool writable = a != 0 && chip_ram((uintptr_t)start, (uintptr_t)start + 1);
    if (!writable || region_type_at(a, &caps) == NULL) {
        return ESP_ERR_NOT_FOUND;
    }
    return add_region(caps, start, end);
}

esp_err_t heap_caps_add_region_with_caps(const uint32_t caps[], intptr_t start, intptr_t end)
{
    sim_note_isr_call(__func__);
    return add_region(caps, start, end);
}

/* ---- the memory map, for tests and tools -------------------------------------------------------- */

size_t kraken_sim_region_count(void)
{
    ensure_init();
    return atomic_load(&heap_count);
}

esp_err_t kraken_sim_get_region(size_t index, kraken_sim_region_t *out)
{
    ensure_init();
    const sim_heap_t *heap = NULL;
    HEAPS(h) {
        if (index-- == 0) {
            heap = h;
            break;
        }
    }
    if (out == NULL || heap == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    heap_figures_t f = heap_figures(heap);
    *out = (kraken_sim_region_t){
        .name = heap->name,
        .start = heap->start,
        .size = f.total,
        .free_bytes = f.free,
        .minimum_free_bytes = f.min_free,
        .largest_free_block = less_owner_word(f.largest), /* the caller's room */
    };
    memcpy(out->caps, heap->caps, sizeof out->caps);
    return ESP_OK;
}
