/*
 * freertos_buffer_fixture.h - the set-up and teardown of the host's buffer tests (stream, message
 * and ring buffers): boot a fresh simulated chip; at the end every buffer is deleted, every task
 * gone, the memory back and no refusal left unasserted. Include once per test program, after
 * freertos_test_support.h and freertos_refusals.h.
 */
#ifndef FREERTOS_BUFFER_FIXTURE_H
#define FREERTOS_BUFFER_FIXTURE_H

#define INTERNAL (MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)

static size_t internal_at_setup, psram_at_setup;
static UBaseType_t tasks_at_setup;

static size_t internal_free(void)
{
    return heap_caps_get_free_size(INTERNAL);
}

static size_t psram_free(void)
{
    return heap_caps_get_free_size(MALLOC_CAP_SPIRAM);
}

static int boot(void **state)
{
    (void)state;
    if (kraken_sim_reset() != ESP_OK) {
        return -1;
    }
    (void)xTaskGetCurrentTaskHandle();
    internal_at_setup = internal_free();
    psram_at_setup = psram_free();
    tasks_at_setup = uxTaskGetNumberOfTasks();
    return 0;
}

static int all_gone(void **state)
{
    (void)state;
    kraken_sim_fault_clear();
    WAIT_FOR(uxTaskGetNumberOfTasks() == tasks_at_setup);
    if (unasserted_refusals() != 0) {
        return -1;
    }
    if (uxTaskGetNumberOfTasks() != tasks_at_setup || internal_free() != internal_at_setup ||
        psram_free() != psram_at_setup) {
        print_error("teardown: %u tasks (%u), internal free %zu (%zu), PSRAM free %zu (%zu)\n",
                    (unsigned)uxTaskGetNumberOfTasks(), (unsigned)tasks_at_setup, internal_free(),
                    internal_at_setup, psram_free(), psram_at_setup);
        return -1;
    }
    return 0;
}

#endif /* FREERTOS_BUFFER_FIXTURE_H */
