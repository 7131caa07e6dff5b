/* Example 2 "App with Large Buffers", as written, with the one include the spec shows.
 * app_context_t and process_audio() are the application's (Kraken-OS's app framework), not this
 * component's: stand-ins come first. */
#include "system_service/memory_utils.h"

#include "spec_snippets.h"

typedef struct {
    const char *name;
} app_context_t;

static void process_audio(int16_t *samples, uint8_t *buffer)
{
    samples[0] = 1;
    buffer[0] = (uint8_t)samples[0];
}

esp_err_t audio_app_entry(app_context_t *ctx);

// Static audio buffer in PSRAM
APP_DATA_ATTR static int16_t audio_samples[48000];

esp_err_t audio_app_entry(app_context_t *ctx) {
    (void)ctx; /* unused by the spec's example */
    // Dynamic decode buffer in PSRAM
    uint8_t *decode_buffer = APP_MALLOC(100000);
    if (!decode_buffer) {
        ESP_LOGE(TAG, "Failed to allocate decode buffer");
        return ESP_ERR_NO_MEM;
    }

    // Use buffers...
    process_audio(audio_samples, decode_buffer);

    // Cleanup
    free(decode_buffer);
    return ESP_OK;
}

int spec_example2(void)
{
    app_context_t ctx = {"audio"};
    return audio_app_entry(&ctx);
}
