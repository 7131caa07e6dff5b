/* heap_monitor: being written */
typedef int kraken_heap_monitor_placeholder_t;
