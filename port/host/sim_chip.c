#define _POSIX_C_SOURCE 200809L
/* TEMPORARY STUB (replaced by the simulator work): heap_caps over libc, caps ignored. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "esp_heap_caps.h"
#include "esp_memory_utils.h"
#include "esp_psram.h"
#include "kraken_sim.h"
#include "sim_internal.h"

static _Thread_local int isr_depth;
bool sim_in_isr(void) { return isr_depth > 0; }
void kraken_sim_isr_enter(void) { isr_depth++; }
void kraken_sim_isr_exit(void) { isr_depth--; }
bool sim_owns(const void *ptr) { (void)ptr; return false; }
void *heap_caps_malloc(size_t size, uint32_t caps) { (void)caps; return size ? __real_malloc(size) : NULL; }
void *heap_caps_calloc(size_t n, size_t size, uint32_t caps) { (void)caps; return __real_calloc(n, size); }
void *heap_caps_realloc(void *p, size_t size, uint32_t caps) { (void)caps; return __real_realloc(p, size); }
void *heap_caps_aligned_alloc(size_t a, size_t size, uint32_t caps) { (void)caps; void *p = NULL; return posix_memalign(&p, a < sizeof(void *) ? sizeof(void *) : a, size) ? NULL : p; }
void heap_caps_free(void *p) { __real_free(p); }
void *heap_caps_malloc_prefer(size_t size, size_t num, ...) { (void)num; return __real_malloc(size); }
size_t heap_caps_get_total_size(uint32_t caps) { (void)caps; return 1 << 20; }
size_t heap_caps_get_free_size(uint32_t caps) { (void)caps; return 1 << 19; }
size_t heap_caps_get_minimum_free_size(uint32_t caps) { (void)caps; return 1 << 18; }
size_t heap_caps_get_largest_free_block(uint32_t caps) { (void)caps; return 1 << 17; }
void heap_caps_get_info(multi_heap_info_t *info, uint32_t caps) { (void)caps; memset(info, 0, sizeof *info); }
bool heap_caps_check_integrity_all(bool print) { (void)print; return true; }
esp_err_t heap_caps_register_failed_alloc_callback(esp_alloc_failed_hook_t cb) { return cb ? ESP_OK : ESP_ERR_INVALID_ARG; }
bool esp_psram_is_initialized(void) { return true; }
size_t esp_psram_get_size(void) { return 8u << 20; }
bool esp_ptr_internal(const void *p) { (void)p; return true; }
bool esp_ptr_external_ram(const void *p) { (void)p; return false; }
bool esp_ptr_dma_capable(const void *p) { (void)p; return true; }
esp_err_t kraken_sim_init(kraken_sim_profile_t p) { (void)p; return ESP_OK; }
esp_err_t kraken_sim_reset(void) { return ESP_OK; }
kraken_sim_profile_t kraken_sim_get_profile(void) { return KRAKEN_SIM_ESP32S3_N8R8; }
const char *kraken_sim_profile_name(kraken_sim_profile_t p) { (void)p; return "esp32s3-n8r8"; }
