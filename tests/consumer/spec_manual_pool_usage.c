/* "Manual Pool Usage (Advanced)", with the one include the spec shows. */
#include "memory_pool.h"

#include "spec_snippets.h"

void spec_manual_pool_usage(void)
{
    // Allocate from pool
    void *ptr = memory_pool_alloc(256);
    if (ptr == NULL) {
        // Pool exhausted, fell back to heap
    }

    // Free back to pool
    memory_pool_free(ptr);

    // Get statistics
    memory_pool_log_stats(TAG);
}
