/*
 * memory_pool_heap_call.h - the pools' refusal of a heap call on one of their blocks, with the name
 * of the refusing function and the user's call site (component-internal, not public API).
 *
 * memory_pool_refuse_heap_call() (memory_pool.h) is the public form for a user's own heap wrapper;
 * the memory_realloc_* functions of memory_utils.h use this one, so that a refusal is one log line
 * that names the function and where it was called from.
 */
#pragma once

#include <stdbool.h>

/** memory_pool_refuse_heap_call(ptr) with the report's caller set to `caller` (the return address
 *  of the refusing function's own call; NULL for none) and, when `function_name` is not NULL, the
 *  log line naming it: "<misuse>: <ptr> (<class>), caller <caller>, owner <owner>:
 *  <function_name>() refused it, release it with memory_pool_free()". Counted, passed to the hook
 *  and logged (from a task) exactly as the public form; nothing else is logged. isr-ok (logs only
 *  from a task), never blocks; O(1). */
bool memory_pool_refuse_heap_call_from(const void *ptr, const char *function_name,
                                       const void *caller);
