#include "demo.h"

int demo_monitor_run(void)
{
    return 0;
}
