#include "demo.h"

int demo_pools_run(void)
{
    return 0;
}
