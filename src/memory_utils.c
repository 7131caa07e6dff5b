/* memory_utils: being written */
typedef int kraken_memory_utils_placeholder_t;
