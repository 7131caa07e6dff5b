/* esp_timer.h (host) - esp_timer_get_time(): microseconds since the simulated boot. */
#ifndef ESP_TIMER_H_HOST
#define ESP_TIMER_H_HOST

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

int64_t esp_timer_get_time(void);

#ifdef __cplusplus
}
#endif
#endif
