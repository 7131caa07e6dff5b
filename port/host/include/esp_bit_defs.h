/*
 * esp_bit_defs.h (host) - ESP-IDF's bit names, with the chip's types: BIT0..BIT31 are plain hex
 * constants (int, BIT31 unsigned int), BIT32..BIT63 unsigned long long, BIT(nr) an unsigned long
 * (32 bits on the chip, 64 on a 64-bit host: the value is the same for nr < 32), BIT64(nr) an
 * unsigned long long. Brought in by esp_system.h, and so by freertos/FreeRTOS.h, as in ESP-IDF.
 */
#ifndef ESP_BIT_DEFS_H_HOST
#define ESP_BIT_DEFS_H_HOST

#define BIT31 0x80000000
#define BIT30 0x40000000
#define BIT29 0x20000000
#define BIT28 0x10000000
#define BIT27 0x08000000
#define BIT26 0x04000000
#define BIT25 0x02000000
#define BIT24 0x01000000
#define BIT23 0x00800000
#define BIT22 0x00400000
#define BIT21 0x00200000
#define BIT20 0x00100000
#define BIT19 0x00080000
#define BIT18 0x00040000
#define BIT17 0x00020000
#define BIT16 0x00010000
#define BIT15 0x00008000
#define BIT14 0x00004000
#define BIT13 0x00002000
#define BIT12 0x00001000
#define BIT11 0x00000800
#define BIT10 0x00000400
#define BIT9  0x00000200
#define BIT8  0x00000100
#define BIT7  0x00000080
#define BIT6  0x00000040
#define BIT5  0x00000020
#define BIT4  0x00000010
#define BIT3  0x00000008
#define BIT2  0x00000004
#define BIT1  0x00000002
#define BIT0  0x00000001

#define BIT63 (1ULL << 63)
#define BIT62 (1ULL << 62)
#define BIT61 (1ULL << 61)
#define BIT60 (1ULL << 60)
#define BIT59 (1ULL << 59)
#define BIT58 (1ULL << 58)
#define BIT57 (1ULL << 57)
#define BIT56 (1ULL << 56)
#define BIT55 (1ULL << 55)
#define BIT54 (1ULL << 54)
#define BIT53 (1ULL << 53)
#define BIT52 (1ULL << 52)
#define BIT51 (1ULL << 51)
#define BIT50 (1ULL << 50)
#define BIT49 (1ULL << 49)
#define BIT48 (1ULL << 48)
#define BIT47 (1ULL << 47)
#define BIT46 (1ULL << 46)
#define BIT45 (1ULL << 45)
#define BIT44 (1ULL << 44)
#define BIT43 (1ULL << 43)
#define BIT42 (1ULL << 42)
#define BIT41 (1ULL << 41)
#define BIT40 (1ULL << 40)
#define BIT39 (1ULL << 39)
#define BIT38 (1ULL << 38)
#define BIT37 (1ULL << 37)
#define BIT36 (1ULL << 36)
#define BIT35 (1ULL << 35)
#define BIT34 (1ULL << 34)
#define BIT33 (1ULL << 33)
#define BIT32 (1ULL << 32)

#ifndef __ASSEMBLER__
#ifndef BIT
#define BIT(nr) (1UL << (nr))
#endif
#ifndef BIT64
#define BIT64(nr) (1ULL << (nr))
#endif
#else
#ifndef BIT
#define BIT(nr) (1 << (nr))
#endif
#endif

#endif /* ESP_BIT_DEFS_H_HOST */
