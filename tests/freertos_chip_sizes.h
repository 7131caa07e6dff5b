/*
 * freertos_chip_sizes.h - the sizes the host FreeRTOS tests hold kernel objects to. Include after
 * freertos/FreeRTOS.h.
 */
#ifndef FREERTOS_CHIP_SIZES_H
#define FREERTOS_CHIP_SIZES_H

/* sizeof(StaticTask_t), (StaticQueue_t), (StaticEventGroup_t), (StaticTimer_t) and
 * (StaticStreamBuffer_t) on the ESP32-S3: ESP-IDF's headers compiled with Xtensa gcc for each
 * FreeRTOS configuration the CI builds (the default; tests/configs/alternate.defaults's names, TLS
 * pointers, notification array, run-time statistics and task tag; menuconfig-mix.defaults's 64-bit
 * run-time statistics).
 * The tests hold the host to these, not to its own formula (KRAKEN_SIM_*_BYTES), which another
 * configuration falls back on (CHIP_SIZES_MEASURED 0: the sizes themselves are not checked). */
#if CONFIG_FREERTOS_MAX_TASK_NAME_LEN == 16 && CONFIG_FREERTOS_THREAD_LOCAL_STORAGE_POINTERS == 1 &&   \
    defined(CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS) &&                                            \
    CONFIG_FREERTOS_TASK_NOTIFICATION_ARRAY_ENTRIES == 1 &&                                        \
    !defined(CONFIG_FREERTOS_USE_TRACE_FACILITY) && !defined(CONFIG_FREERTOS_USE_APPLICATION_TASK_TAG)
#define CHIP_TCB_BYTES 100u
#define CHIP_QUEUE_BYTES 84u
#define CHIP_EVENT_GROUP_BYTES 36u
#define CHIP_TIMER_BYTES 40u
#define CHIP_STREAM_BUFFER_BYTES 40u
#define CHIP_SIZES_MEASURED 1
#elif CONFIG_FREERTOS_MAX_TASK_NAME_LEN == 13 && CONFIG_FREERTOS_THREAD_LOCAL_STORAGE_POINTERS == 3 && \
    !defined(CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS) &&                                           \
    CONFIG_FREERTOS_TASK_NOTIFICATION_ARRAY_ENTRIES == 3 &&                                        \
    defined(CONFIG_FREERTOS_GENERATE_RUN_TIME_STATS) &&                                           \
    !defined(CONFIG_FREERTOS_RUN_TIME_COUNTER_TYPE_U64) &&                                         \
    defined(CONFIG_FREERTOS_USE_APPLICATION_TASK_TAG)
#define CHIP_TCB_BYTES 132u
#define CHIP_QUEUE_BYTES 92u
#define CHIP_EVENT_GROUP_BYTES 40u
#define CHIP_TIMER_BYTES 44u
#define CHIP_STREAM_BUFFER_BYTES 44u
#define CHIP_SIZES_MEASURED 1
#elif CONFIG_FREERTOS_MAX_TASK_NAME_LEN == 16 && CONFIG_FREERTOS_THREAD_LOCAL_STORAGE_POINTERS == 1 && \
    defined(CONFIG_FREERTOS_TLSP_DELETION_CALLBACKS) &&                                            \
    CONFIG_FREERTOS_TASK_NOTIFICATION_ARRAY_ENTRIES == 1 &&                                        \
    defined(CONFIG_FREERTOS_GENERATE_RUN_TIME_STATS) &&                                           \
    defined(CONFIG_FREERTOS_RUN_TIME_COUNTER_TYPE_U64) &&                                          \
    !defined(CONFIG_FREERTOS_USE_APPLICATION_TASK_TAG)
#define CHIP_TCB_BYTES 120u
#define CHIP_QUEUE_BYTES 92u
#define CHIP_EVENT_GROUP_BYTES 40u
#define CHIP_TIMER_BYTES 44u
#define CHIP_STREAM_BUFFER_BYTES 44u
#define CHIP_SIZES_MEASURED 1
#else
#define CHIP_TCB_BYTES KRAKEN_SIM_TCB_BYTES
#define CHIP_QUEUE_BYTES KRAKEN_SIM_QUEUE_BYTES
#define CHIP_EVENT_GROUP_BYTES KRAKEN_SIM_EVENT_GROUP_BYTES
#define CHIP_TIMER_BYTES KRAKEN_SIM_TIMER_BYTES
#define CHIP_STREAM_BUFFER_BYTES KRAKEN_SIM_STREAM_BUFFER_BYTES
#define CHIP_SIZES_MEASURED 0
#endif

#endif /* FREERTOS_CHIP_SIZES_H */
