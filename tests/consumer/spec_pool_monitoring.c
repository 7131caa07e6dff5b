/* "Memory Pool Monitoring", with the one include the spec shows. */
#include "memory_pool.h"

#include "spec_snippets.h"

void spec_pool_monitoring(void)
{
    // Log pool statistics
    memory_pool_log_stats(TAG);
}
