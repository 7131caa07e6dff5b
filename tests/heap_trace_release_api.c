/* heap_trace_release_api.c - compiled (not run) by the tests "heap_trace_api_of_*" with the
 * sdkconfig.h of one CONFIG_KRAKEN_SIM_ESP_IDF_* release: the host's esp_heap_trace.h declares what
 * that release's does, so code using a newer call fails to build as it would for the chip. */
#include <stdbool.h>

#include "esp_heap_trace.h"

#ifdef USE_ALLOC_PAUSE /* ESP-IDF v5.4 and later */
esp_err_t pause_allocations(void);
esp_err_t pause_allocations(void)
{
    return heap_trace_alloc_pause();
}
#endif

#ifdef USE_FREED /* ESP-IDF v5.5 and later */
bool record_freed(const heap_trace_record_t *record);
bool record_freed(const heap_trace_record_t *record)
{
    return record->freed;
}
#endif

/* At least one declaration in the translation unit whatever is defined. */
typedef int heap_trace_release_api_t;
