/* esp_rom_sys.h (host) - the ROM's console output and busy wait, as failed-allocation hooks and
 * ISR code use them. */
#ifndef ESP_ROM_SYS_H_HOST
#define ESP_ROM_SYS_H_HOST

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** printf to the console (stdout on the host), unbuffered as the ROM's; returns the characters
 *  written. isr-ok, never touches the simulated heap. */
int esp_rom_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Busy-wait `us` microseconds. isr-ok. */
void esp_rom_delay_us(uint32_t us);

/** The simulated CPU's cycles per microsecond: CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ (the host never
 *  changes the frequency; ESP-IDF's esp_rom_set_cpu_ticks_per_us() is not there). isr-ok, O(1). */
uint32_t esp_rom_get_cpu_ticks_per_us(void);

#ifdef __cplusplus
}
#endif
#endif
