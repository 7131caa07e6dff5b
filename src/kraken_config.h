/*
 * kraken_config.h - the one internal configuration header: Kconfig values (sdkconfig.h) with the
 * compile-time checks Kconfig cannot express. Every error names the option to change.
 * Each module keeps its checks in its own section below.
 */
#ifndef KRAKEN_CONFIG_H
#define KRAKEN_CONFIG_H

#include "sdkconfig.h"

/* ---- memory pools ---------------------------------------------------------------------------- */
#define KRAKEN_POOL_CLASS_COUNT 4

#define KRAKEN_POOL_SMALL_SIZE CONFIG_SYSTEM_SERVICE_MEMORY_POOL_SMALL_SIZE
#define KRAKEN_POOL_SMALL_COUNT CONFIG_SYSTEM_SERVICE_MEMORY_POOL_SMALL_COUNT
#define KRAKEN_POOL_MEDIUM_SIZE CONFIG_SYSTEM_SERVICE_MEMORY_POOL_MEDIUM_SIZE
#define KRAKEN_POOL_MEDIUM_COUNT CONFIG_SYSTEM_SERVICE_MEMORY_POOL_MEDIUM_COUNT
#define KRAKEN_POOL_LARGE_SIZE CONFIG_SYSTEM_SERVICE_MEMORY_POOL_LARGE_SIZE
#define KRAKEN_POOL_LARGE_COUNT CONFIG_SYSTEM_SERVICE_MEMORY_POOL_LARGE_COUNT
#define KRAKEN_POOL_XLARGE_SIZE CONFIG_SYSTEM_SERVICE_MEMORY_POOL_XLARGE_SIZE
#define KRAKEN_POOL_XLARGE_COUNT CONFIG_SYSTEM_SERVICE_MEMORY_POOL_XLARGE_COUNT

_Static_assert(KRAKEN_POOL_SMALL_SIZE % 8 == 0,
               "CONFIG_SYSTEM_SERVICE_MEMORY_POOL_SMALL_SIZE must be a multiple of 8");
_Static_assert(KRAKEN_POOL_MEDIUM_SIZE % 8 == 0,
               "CONFIG_SYSTEM_SERVICE_MEMORY_POOL_MEDIUM_SIZE must be a multiple of 8");
_Static_assert(KRAKEN_POOL_LARGE_SIZE % 8 == 0,
               "CONFIG_SYSTEM_SERVICE_MEMORY_POOL_LARGE_SIZE must be a multiple of 8");
_Static_assert(KRAKEN_POOL_XLARGE_SIZE % 8 == 0,
               "CONFIG_SYSTEM_SERVICE_MEMORY_POOL_XLARGE_SIZE must be a multiple of 8");
_Static_assert(KRAKEN_POOL_MEDIUM_SIZE > KRAKEN_POOL_SMALL_SIZE,
               "CONFIG_SYSTEM_SERVICE_MEMORY_POOL_MEDIUM_SIZE must be larger than ..._SMALL_SIZE");
_Static_assert(KRAKEN_POOL_LARGE_SIZE > KRAKEN_POOL_MEDIUM_SIZE,
               "CONFIG_SYSTEM_SERVICE_MEMORY_POOL_LARGE_SIZE must be larger than ..._MEDIUM_SIZE");
_Static_assert(KRAKEN_POOL_XLARGE_SIZE > KRAKEN_POOL_LARGE_SIZE,
               "CONFIG_SYSTEM_SERVICE_MEMORY_POOL_XLARGE_SIZE must be larger than ..._LARGE_SIZE");
_Static_assert(KRAKEN_POOL_SMALL_COUNT > 0 && KRAKEN_POOL_MEDIUM_COUNT > 0 &&
                   KRAKEN_POOL_LARGE_COUNT > 0 && KRAKEN_POOL_XLARGE_COUNT > 0,
               "CONFIG_SYSTEM_SERVICE_MEMORY_POOL_*_COUNT must be at least 1");

/* ---- heap monitor ---------------------------------------------------------------------------- */

/* ---- event bus ------------------------------------------------------------------------------- */

#endif /* KRAKEN_CONFIG_H */
