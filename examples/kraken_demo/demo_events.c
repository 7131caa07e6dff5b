#include "demo.h"

int demo_events_run(void)
{
    return 0;
}
