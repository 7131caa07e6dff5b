/* demo.h - the parts of the Kraken-OS demo workload; each returns the number of failed steps. */
#ifndef KRAKEN_DEMO_H
#define KRAKEN_DEMO_H

int demo_memory_run(void);  /* spec examples 2 and 3: PSRAM app buffers, SRAM/DMA service buffers */
int demo_pools_run(void);   /* memory pools under a service-like load */
int demo_events_run(void);  /* event bus traffic (spec example 1) */
int demo_monitor_run(void); /* the heap monitor's view */

#endif
