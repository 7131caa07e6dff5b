/* multi_heap.h (host) - multi_heap_info_t with ESP-IDF's fields. */
#ifndef MULTI_HEAP_H_HOST
#define MULTI_HEAP_H_HOST

#include <stddef.h>

typedef struct {
    size_t total_free_bytes;      /**< free bytes in the heaps */
    size_t total_allocated_bytes; /**< allocated bytes in the heaps */
    size_t largest_free_block;    /**< largest size heap_caps_malloc() could return */
    size_t minimum_free_bytes;    /**< lifetime minimum of free bytes */
    size_t allocated_blocks;      /**< blocks in use */
    size_t free_blocks;           /**< free blocks */
    size_t total_blocks;          /**< all blocks */
} multi_heap_info_t;

#endif
