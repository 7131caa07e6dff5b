/* memory_pool: being written */
typedef int kraken_memory_pool_placeholder_t;
