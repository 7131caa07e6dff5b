/*
 * test_memory_pool_basic.c - the checked-mode tests at CONFIG_SYSTEM_SERVICE_MEMORY_POOL_CHECK_BASIC
 * (canary, owner and age, integrity check, leak report; no poisoning).
 */
#define KRAKEN_POOL_CHECK_LEVEL 1
#include "test_memory_pool_checked.c"
