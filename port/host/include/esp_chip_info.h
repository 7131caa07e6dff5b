/*
 * esp_chip_info.h (host) - ESP-IDF's chip description, answered as an ESP32-S3 answers it.
 *
 * What esp_chip_info() reports follows ESP-IDF's esp32s3/chip_info.c (v5.1 to v5.5.5 alike):
 * model CHIP_ESP32S3, 2 cores, features CHIP_FEATURE_WIFI_BGN | CHIP_FEATURE_BLE on every module.
 * ESP-IDF never sets CHIP_FEATURE_EMB_PSRAM or CHIP_FEATURE_EMB_FLASH on the S3, not even on parts
 * with PSRAM or flash in the package (N8R8, N8R2): so neither does the simulator, whatever the
 * profile. Whether the module has PSRAM is esp_psram_is_initialized() / esp_psram_get_size()
 * (esp_psram.h), as on the chip. The revision is 2 (v0.2, the S3's current silicon; the chip reads
 * it from eFuse).
 */
#ifndef ESP_CHIP_INFO_H_HOST
#define ESP_CHIP_INFO_H_HOST

#include <stdbool.h>
#include <stdint.h>

#include "esp_bit_defs.h"
#include "sdkconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The chip models, with ESP-IDF's values. */
typedef enum {
    CHIP_ESP32 = 1,
    CHIP_ESP32S2 = 2,
    CHIP_ESP32S3 = 9, /**< what the simulator reports */
    CHIP_ESP32C3 = 5,
    CHIP_ESP32C2 = 12,
    CHIP_ESP32C6 = 13,
    CHIP_ESP32H2 = 16,
    CHIP_ESP32P4 = 18,
    CHIP_ESP32C61 = 20,
    CHIP_ESP32C5 = 23,
    CHIP_ESP32H21 = 25,
    CHIP_ESP32H4 = 28,
    CHIP_POSIX_LINUX = 999, /**< ESP-IDF's own linux target (not this simulator) */
} esp_chip_model_t;

/* Feature bits of esp_chip_info_t.features, with ESP-IDF's values. */
#define CHIP_FEATURE_EMB_FLASH BIT(0)  /**< flash in the package (never on the S3, see above) */
#define CHIP_FEATURE_WIFI_BGN BIT(1)   /**< 2.4 GHz Wi-Fi (the S3: yes) */
#define CHIP_FEATURE_BLE BIT(4)        /**< Bluetooth LE (the S3: yes) */
#define CHIP_FEATURE_BT BIT(5)         /**< Bluetooth Classic (the S3: no) */
#define CHIP_FEATURE_IEEE802154 BIT(6) /**< IEEE 802.15.4 (the S3: no) */
#define CHIP_FEATURE_EMB_PSRAM BIT(7)  /**< PSRAM in the package (never on the S3, see above) */

/** The chip's description, ESP-IDF's fields in ESP-IDF's order. */
typedef struct {
    esp_chip_model_t model; /**< CHIP_ESP32S3 */
    uint32_t features;      /**< CHIP_FEATURE_* bits: WIFI_BGN | BLE */
    uint16_t revision;      /**< major * 100 + minor: 2 (v0.2) */
    uint8_t cores;          /**< 2 */
} esp_chip_info_t;

/** Fills *out_info (every byte: the struct is zeroed first, as ESP-IDF does). out_info must not
 *  be NULL (ESP-IDF crashes; the host asserts). Never fails. isr-ok, O(1). */
void esp_chip_info(esp_chip_info_t *out_info);

#ifdef __cplusplus
}
#endif
#endif /* ESP_CHIP_INFO_H_HOST */
