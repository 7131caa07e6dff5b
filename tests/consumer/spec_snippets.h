/*
 * spec_snippets.h - the consumer test's own declarations: one function per snippet of
 * memory-management-strategy.md. Each snippet lives in its own file that includes only the header
 * the spec shows for it, after which this header may add nothing but these prototypes and the
 * application's own names the spec leaves undefined (TAG).
 */
#ifndef SPEC_SNIPPETS_H
#define SPEC_SNIPPETS_H

extern const char *TAG; /* every snippet logs with the application's TAG */

void spec_automatic_usage(void);
void spec_manual_pool_usage(void);
int spec_for_applications(void); /* 0 when the PSRAM buffer was allocated */
void spec_for_system_services(void);
void spec_heap_monitoring(void);
void spec_pool_monitoring(void);
void spec_legacy_memory_utils(void);
int spec_example1(void);           /* 0 when the event was delivered and its block returned */
int spec_example2(void);           /* audio_app_entry()'s result (0: ESP_OK) */
int spec_example3(void);           /* wifi_service_init()'s result (0: ESP_OK) */
void spec_troubleshooting(void);

#endif
