/*
 * esp_attr.h (host) - placement attributes. EXT_RAM_BSS_ATTR puts zero-initialised statics in the
 * section "kraken_ext_bss"; the simulator counts that section's size against the simulated PSRAM
 * (internal SRAM when PSRAM is absent or CONFIG_SPIRAM_ALLOW_BSS_SEG_EXTERNAL_MEMORY is off), as the
 * chip's linker script does with .ext_ram.bss, and esp_ptr_external_ram() reports those statics as
 * external when they are counted there.
 */
#ifndef ESP_ATTR_H_HOST
#define ESP_ATTR_H_HOST

#define IRAM_ATTR
#define DRAM_ATTR
#define RTC_DATA_ATTR
#define NOINIT_ATTR
#define EXT_RAM_BSS_ATTR __attribute__((section("kraken_ext_bss"), aligned(16)))

#endif
