/* esp_assert.h (host) - ESP-IDF's compile-time assertion, and assert(). */
#ifndef ESP_ASSERT_H_HOST
#define ESP_ASSERT_H_HOST

#include <assert.h>

#define ESP_STATIC_ASSERT _Static_assert

#endif
