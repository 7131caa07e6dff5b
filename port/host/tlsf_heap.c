/* TEMPORARY STUB: the TLSF heap is being written. */
#include "tlsf_heap.h"
