/* esp_compiler.h (host) - ESP-IDF's branch hints. */
#ifndef ESP_COMPILER_H_HOST
#define ESP_COMPILER_H_HOST

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#endif
#ifndef unlikely
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#endif
