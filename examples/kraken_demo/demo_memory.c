#include "demo.h"

int demo_memory_run(void)
{
    return 0;
}
