/*
 * esp_attr.h (host) - ESP-IDF's placement and code attributes, for firmware built on the simulated
 * ESP32-S3.
 *
 * The attributes that move an object to another memory put it in a host section of its own, so
 * that esp_memory_utils.h classifies it as the chip would (docs/simulator.md, "Where a pointer
 * points"): IRAM_ATTR code is IRAM, RTC_* objects are RTC memory, EXT_RAM_BSS_ATTR and
 * EXT_RAM_NOINIT_ATTR statics are PSRAM when their option allows it and the module has PSRAM
 * (counted against the PSRAM heap then, against the main D/IRAM heap otherwise, as the chip's
 * linker script places .ext_ram.bss and .ext_ram_noinit).
 *
 * Differences from the chip: one host section per attribute, where ESP-IDF makes one per use
 * (__COUNTER__), so a const and a non-const object with the same RTC_* attribute in one source
 * file are a "section type conflict" here; DRAM_ATTR, DMA_ATTR and DRAM_STR add nothing but their
 * alignment (a const object stays in the host's read-only data, which classifies as flash), and
 * .noinit objects are zeroed at start (the host has no reset that keeps them).
 */
#ifndef ESP_ATTR_H_HOST
#define ESP_ATTR_H_HOST

#include "sdkconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ROMFN_ATTR
/* Custom sections of ESP-IDF's own headers: none on the host, as on ESP-IDF's linux target. */
#define _COUNTER_STRINGIFY(COUNTER) #COUNTER
#define _SECTION_ATTR_IMPL(SECTION, COUNTER)
#define _SECTION_FORCE_ATTR_IMPL(SECTION, COUNTER)
#define IDF_DEPRECATED(REASON) __attribute__((deprecated(REASON)))

/* Code in internal instruction RAM (esp_ptr_in_iram, esp_ptr_executable). */
#define IRAM_ATTR __attribute__((section("kraken_iram")))
#define FORCE_IRAM_ATTR __attribute__((noinline, section("kraken_iram")))
/* Data forced into internal DRAM: the host's static data already classifies so. */
#define DRAM_ATTR
#define NOLOAD_ATTR
#define IRAM_8BIT_ACCESSIBLE 0 /* the ESP32 only */
#define IRAM_DATA_ATTR
#define IRAM_BSS_ATTR
#define COREDUMP_IRAM_DATA_ATTR
#define COREDUMP_DRAM_ATTR

#define WORD_ALIGNED_ATTR __attribute__((aligned(4)))
#define DMA_ATTR WORD_ALIGNED_ATTR DRAM_ATTR
/* The S3 reaches internal memory without the L1 cache: word alignment, as ESP-IDF. */
#define DRAM_DMA_ALIGNED_ATTR WORD_ALIGNED_ATTR DRAM_ATTR
#define PACKED_ATTR __attribute__((packed))
#define FORCE_INLINE_ATTR static inline __attribute__((always_inline))
#define NOINLINE_ATTR __attribute__((noinline))
#define NONSTRING_ATTR
#define DRAM_STR(str) (str)

/* RTC memory: data in RTC slow memory (ESP-IDF's default placement of RTC_DATA_ATTR on the S3),
 * RTC_FAST_ATTR data and RTC_IRAM_ATTR code in RTC fast memory. */
#define RTC_DATA_ATTR __attribute__((section("kraken_rtc_slow")))
#define RTC_SLOW_ATTR __attribute__((section("kraken_rtc_slow")))
#define RTC_NOINIT_ATTR __attribute__((section("kraken_rtc_noinit")))
#define RTC_RODATA_ATTR __attribute__((section("kraken_rtc_rodata")))
#define RTC_FAST_ATTR __attribute__((section("kraken_rtc_fast")))
#define RTC_IRAM_ATTR __attribute__((section("kraken_rtc_text")))
#define COREDUMP_RTC_DATA_ATTR RTC_DATA_ATTR
#define COREDUMP_RTC_FAST_ATTR RTC_FAST_ATTR
#define COREDUMP_NOINIT_ATTR RTC_NOINIT_ATTR

/* PSRAM statics: with CONFIG_SPIRAM_ALLOW_BSS_SEG_EXTERNAL_MEMORY (resp. _NOINIT_SEG_) and PSRAM
 * found, else internal (checked at run time by the simulator, not here). With the BSS option an
 * initial value is lost, as on the chip (sim_chip.c). The type's own alignment, as ESP-IDF's. */
#define EXT_RAM_BSS_ATTR __attribute__((section("kraken_ext_bss")))
#define EXT_RAM_NOINIT_ATTR __attribute__((section("kraken_ext_noinit")))
/* The old name: deprecated in ESP-IDF v5.x, with the same compiler warning; gone in v6.0. */
#define EXT_RAM_ATTR                                                                               \
    EXT_RAM_BSS_ATTR _Pragma("GCC warning \"'EXT_RAM_ATTR' macro is deprecated, please use `EXT_RAM_BSS_ATTR`\"")
#define COREDUMP_EXTRAM_ATTR EXT_RAM_BSS_ATTR
#define COREDUMP_EXTRAM_NOINIT_ATTR EXT_RAM_NOINIT_ATTR
#define __NOINIT_ATTR
#define NOINIT_ATTR

#ifdef __cplusplus
/* Enum flags in C++ (ESP-IDF: use outside extern "C"). */
#define KRAKEN_FLAG_OP(TYPE, INT_TYPE, OP)                                                         \
    FORCE_INLINE_ATTR constexpr TYPE operator OP(TYPE a, TYPE b)                                   \
    {                                                                                              \
        return (TYPE)((INT_TYPE)a OP(INT_TYPE) b);                                                 \
    }                                                                                              \
    FORCE_INLINE_ATTR TYPE &operator OP##=(TYPE &a, TYPE b) { return a = a OP b; }
#define KRAKEN_FLAG_SHIFT(TYPE, INT_TYPE, OP)                                                      \
    FORCE_INLINE_ATTR constexpr TYPE operator OP(TYPE a, int b) { return (TYPE)((INT_TYPE)a OP b); } \
    FORCE_INLINE_ATTR TYPE &operator OP##=(TYPE &a, int b) { return a = a OP b; }
#define FLAG_ATTR_IMPL(TYPE, INT_TYPE)                                                             \
    FORCE_INLINE_ATTR constexpr TYPE operator~(TYPE a) { return (TYPE)~(INT_TYPE)a; }             \
    KRAKEN_FLAG_OP(TYPE, INT_TYPE, |) KRAKEN_FLAG_OP(TYPE, INT_TYPE, &)                            \
    KRAKEN_FLAG_OP(TYPE, INT_TYPE, ^) KRAKEN_FLAG_SHIFT(TYPE, INT_TYPE, >>)                        \
    KRAKEN_FLAG_SHIFT(TYPE, INT_TYPE, <<)
#define FLAG_ATTR_U32(TYPE) FLAG_ATTR_IMPL(TYPE, uint32_t)
#define FLAG_ATTR FLAG_ATTR_U32
#else
#define FLAG_ATTR(TYPE)
#endif

#ifdef __cplusplus
}
#endif
#endif
