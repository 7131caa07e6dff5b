/* event_bus: being written */
typedef int kraken_event_bus_placeholder_t;
