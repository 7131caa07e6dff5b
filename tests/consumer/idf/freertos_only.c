/*
 * freertos_only.c - a firmware file that includes freertos/FreeRTOS.h and nothing else, and uses
 * what ESP-IDF's FreeRTOS.h brings with it (its Xtensa portmacro.h includes esp_attr.h, esp_cpu.h,
 * esp_memory_utils.h, esp_heap_caps.h, esp_rom_sys.h and esp_system.h; esp_system.h brings
 * esp_bit_defs.h and esp_idf_version.h). If the host's FreeRTOS.h stops bringing one of them,
 * this file stops compiling. It also reads ESP-IDF options the project's sdkconfig.defaults sets
 * (idf/project.defaults), simulated on the host or not.
 */
#include "freertos/FreeRTOS.h"

#define EVENT_READY BIT0
#define EVENT_HIGH BIT31
#define WIDE_FLAG BIT63

#if ESP_IDF_VERSION < ESP_IDF_VERSION_VAL(5, 1, 0)
#error "the simulator follows ESP-IDF v5.1 or later"
#endif

/* The project's sdkconfig.defaults (idf/project.defaults) reach sdkconfig.h, simulated or not. */
_Static_assert(CONFIG_ESP_MAIN_TASK_STACK_SIZE == 4096, "the project's main task stack");
_Static_assert(CONFIG_ESP_INT_WDT_TIMEOUT_MS == 800, "the project's interrupt watchdog timeout");
/* A choice the host simulates gives its number, as ESP-IDF's Kconfig derives it. */
_Static_assert(CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ == 240, "the project's CPU frequency");

static IRAM_ATTR int in_iram(int x)
{
    return x + 1;
}

/* 0 when every name works as on the chip; the number of the failed check otherwise. */
int freertos_only_uses_espidfs_transitive_includes(void)
{
    if (EVENT_READY != 1 || EVENT_HIGH != 0x80000000u || WIDE_FLAG != (1ULL << 63) ||
        BIT64(40) != (1ULL << 40) || BIT(3) != 8u) {
        return 1;
    }
    if (in_iram(1) != 2 || !esp_ptr_in_iram((const void *)(uintptr_t)in_iram)) {
        return 2;
    }
    void *p = heap_caps_malloc(64, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
    const bool internal = p != NULL && esp_ptr_internal(p);
    heap_caps_free(p);
    if (!internal) {
        return 3;
    }
    void *q = heap_caps_malloc(64, MALLOC_CAP_SPIRAM); /* NULL on a module without PSRAM */
    const bool external = q == NULL || esp_ptr_external_ram(q);
    heap_caps_free(q);
    if (!external) {
        return 3;
    }
    if (esp_cpu_get_core_id() != (int)xPortGetCoreID()) {
        return 4;
    }
    if (esp_get_free_heap_size() == 0 || esp_get_idf_version()[0] != 'v') {
        return 5;
    }
    esp_rom_printf("freertos_only: ESP-IDF %s names through freertos/FreeRTOS.h alone\n",
                   esp_get_idf_version());
    return 0;
}
