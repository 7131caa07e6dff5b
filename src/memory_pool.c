/*
 * memory_pool.c - size-class pools with a counted heap fallback (memory_pool.h).
 *
 * Storage: one allocation of internal SRAM holds, in order, the checked-mode metadata of every
 * block, one state word per block, then the blocks of every class (Small first). The blocks come
 * last so that an overrun of the last block reaches the heap's next header (which the heap checks),
 * never our state.
 *
 * State word (link_t) per block, kept outside the blocks: while the block is free, the index of the
 * next free block or LINK_END; while it is handed out, its own index (a free list never links a
 * block to itself); with FULL checks, LINK_BUSY while it is poisoned or verified outside the lock.
 * A free is accepted only for a block in the handed-out state, so a double free or a write after
 * free can never make the allocator hand a block out twice.
 *
 * Finding the owner of a pointer: for each class, rotate_right(ptr - base, log2(block size)) is the
 * block index iff it is below the class's block count (bits below the block size rotate to the top
 * and make it huge, as does any address outside the class). Classes whose size is not a power of
 * two, pointers into blocks and heap blocks take the slow path.
 *
 * Heap blocks (fallback and oversize) are recognised by a fixed hash table of live heap pointers
 * under its own lock: one node per block the cap allows, chained from at least as many buckets
 * (so a chain holds one node on average). Nodes never move, so a walk over them passes each block
 * that stays live once, however many heap blocks come and go meanwhile.
 *
 * memory_pool_owns() runs on every free() of the host simulator, so a pointer that is not ours must
 * be answered without a lock: one range check over the blocks of all classes (published like the
 * classes), and an atomic count of the heap table's entries.
 *
 * Set-up and publication: the first allocation sets the pools up (g_state UNINIT -> SETUP ->
 * READY). The class fields are written (under the class lock, for memory_pool_owns) before each
 * class's `limit` is stored with release, class 0 last; allocations load class 0's `limit` with
 * acquire, so a block can only be obtained after every class is published, and every free of a
 * block happens after it. A free (of NULL, say, while set-up runs) tests the classes with a table
 * of its own (g_fast), published once filled. An allocation that finds class 0 unpublished
 * waits for the whole set-up (it must not take a larger class published before its own), as
 * concurrent first allocations do (they never see a block before). A failed set-up leaves the pools
 * off (FAILED: every request is a counted heap fallback) until memory_pool_deinit, so class fields
 * never change while blocks from us are live.
 *
 * Locks: one per class, one for the heap table, each held for O(1) work (checks hold one for a
 * free-list walk or one block). The heap, the log and the hook are always called outside them.
 *
 * KRAKEN_PORT_ISR_TEXT marks what the ISR functions (memory_pool_*_isr, the isr-ok queries)
 * reach: IRAM with CONFIG_SYSTEM_SERVICE_ISR_IN_IRAM (tools/iram_check.py checks that nothing is
 * left out).
 */
#include <stdatomic.h>
#include <string.h>

#include "kraken_config.h"
#include "kraken_port.h"
#include "memory_pool.h"
#include "memory_pool_heap_call.h"
#include "memory_pool_tally.h"
#include "system_service/memory_utils.h" /* MEMORY_CAPS_SRAM: the pools live in internal SRAM */

#define CLASSES MEMORY_POOL_CLASS_COUNT
#define CHECKS KRAKEN_POOL_CHECK_LEVEL /* 0 NONE, 1 BASIC, 2 FULL */
#define OVERSIZE_TAG CLASSES           /* heap-table tag of an oversize block */
#define MIN_ALIGN 8u                   /* pool and heap blocks alike are aligned to this */
#define HEAP_MIN_ALIGN 4u              /* any heap block is (TLSF on the chip): below, misaligned */
#define STORAGE_ALIGN 16u
#define POISON 0xFE                    /* free blocks, FULL checks (ESP-IDF's free fill) */
#define CANARY 0xA5                    /* after the requested size, BASIC/FULL checks */
#define CANARY_MAX 8u

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define NOINLINE __attribute__((noinline))
#define ALWAYS_INLINE inline __attribute__((always_inline))
/* A misuse report names the return address of the user's call. Each public call passes its own,
 * but for the fast paths without checks where the port's calls in tail position are jumps
 * (KRAKEN_PORT_TAIL_CALLS): there reading it would cost a stack frame (x86-64), and the slow paths
 * are tail calls whose own return address (WHO) is the user's. (A host build at -Og, which no
 * preset makes, names the pool's function instead.) */
#define CALLER() ((const void *)__builtin_return_address(0))
#if CHECKS || !KRAKEN_PORT_TAIL_CALLS
#define FAST_CALLER() CALLER()
#else
#define FAST_CALLER() NULL
#endif
#define WHO(caller) ((caller) != NULL ? (caller) : CALLER())

typedef uint16_t link_t;
#define LINK_END ((link_t)0xFFFF)
#define LINK_BUSY ((link_t)0xFFFD)
_Static_assert(MEMORY_POOL_MAX_BLOCKS_PER_CLASS == LINK_BUSY, "block indices stay below the states");
_Static_assert(KRAKEN_POOL_SMALL_COUNT <= MEMORY_POOL_MAX_BLOCKS_PER_CLASS &&
                   KRAKEN_POOL_MEDIUM_COUNT <= MEMORY_POOL_MAX_BLOCKS_PER_CLASS &&
                   KRAKEN_POOL_LARGE_COUNT <= MEMORY_POOL_MAX_BLOCKS_PER_CLASS &&
                   KRAKEN_POOL_XLARGE_COUNT <= MEMORY_POOL_MAX_BLOCKS_PER_CLASS,
               "CONFIG_SYSTEM_SERVICE_MEMORY_POOL_*_COUNT must be at most 65533");
_Static_assert(KRAKEN_POOL_XLARGE_SIZE <= MEMORY_POOL_MAX_BLOCK_SIZE,
               "CONFIG_SYSTEM_SERVICE_MEMORY_POOL_XLARGE_SIZE must be at most 65536");

static const char *const TAG = "memory_pool";
static const char *const CLASS_NAME[CLASSES] = {"Small", "Medium", "Large", "XLarge"};

/* Who allocated a live block and when (BASIC/FULL checks). */
typedef struct {
    const void *owner;
    uint32_t size;
    uint32_t time_ms;
} block_meta_t;

typedef struct {
    uint32_t in_use;
    uint32_t peak;
    uint32_t allocations; /* frees = allocations - in_use */
    uint32_t failures;    /* NULL results decided under this lock (ISR paths) */
    uint32_t spills;
    uint32_t double_frees;
    uint32_t invalid_frees;
    uint32_t overruns;
    uint32_t writes_after_free;
} class_counters_t;

typedef struct {
    kraken_port_lock_t lock;
    link_t head;           /* first free block, LINK_END when empty */
    uint8_t index;         /* 0..3, for reports */
    class_counters_t n;    /* under lock */
    _Atomic size_t limit;  /* block_size once published, 0 before: the size walk passes by */
    /* Written by set-up before g_blocks_lo is published and kept by deinit: a free or
     * memory_pool_owns() from an ISR may still be placing a pointer with them. */
    uint8_t *base;         /* first block */
    size_t block_size;
    /* Under lock. count is 0 until set-up publishes the class and again from deinit's check on:
     * whoever placed a pointer without the lock finds out here that the blocks are gone. */
    link_t *links;
    block_meta_t *meta;    /* NULL without checks */
    uint32_t count;
} pool_class_t;

enum { STATE_UNINIT, STATE_SETUP, STATE_READY, STATE_FAILED };

#define DEFAULT_CONFIG                                                                             \
    {                                                                                              \
        .classes = {{KRAKEN_POOL_SMALL_SIZE, KRAKEN_POOL_SMALL_COUNT},                             \
                    {KRAKEN_POOL_MEDIUM_SIZE, KRAKEN_POOL_MEDIUM_COUNT},                           \
                    {KRAKEN_POOL_LARGE_SIZE, KRAKEN_POOL_LARGE_COUNT},                             \
                    {KRAKEN_POOL_XLARGE_SIZE, KRAKEN_POOL_XLARGE_COUNT}},                          \
        .heap_blocks_max = KRAKEN_POOL_HEAP_BLOCKS_MAX,                                            \
        .try_larger_class = KRAKEN_POOL_TRY_LARGER_CLASS,                                          \
    }
#define DEFAULT_LIMITS                                                                             \
    {KRAKEN_POOL_SMALL_SIZE, KRAKEN_POOL_MEDIUM_SIZE, KRAKEN_POOL_LARGE_SIZE, KRAKEN_POOL_XLARGE_SIZE}

/* The class table. Changed only by memory_pool_init/deinit (no concurrent task, by contract), so
 * every path, also before set-up, may read it without a lock. What an ISR's allocation reads
 * (which may run during deinit) is atomic: the block sizes and the spill flag. */
static memory_pool_config_t g_cfg = DEFAULT_CONFIG;
static _Atomic size_t g_limit[CLASSES] = DEFAULT_LIMITS; /* block sizes, for the size lookup */
static atomic_bool g_spill = KRAKEN_POOL_TRY_LARGER_CLASS; /* g_cfg.try_larger_class */

static atomic_int g_state; /* STATE_* */
static atomic_uint g_pins; /* memory_pool_pin()s not yet unpinned: deinit refuses */
static void *g_storage;    /* the one allocation, written only in STATE_SETUP */
static pool_class_t g_class[CLASSES] = {
    {.lock = KRAKEN_PORT_LOCK_INITIALIZER, .head = LINK_END, .index = 0},
    {.lock = KRAKEN_PORT_LOCK_INITIALIZER, .head = LINK_END, .index = 1},
    {.lock = KRAKEN_PORT_LOCK_INITIALIZER, .head = LINK_END, .index = 2},
    {.lock = KRAKEN_PORT_LOCK_INITIALIZER, .head = LINK_END, .index = 3},
};
/* The O(1) test of a free, read without a lock through g_fast: g_fast_none (nothing matches)
 * until set-up has filled g_fast_table and published it (release), back to g_fast_none at
 * deinit. A free (of NULL, say) may run during a set-up: it reads the table it loaded, never one
 * being written. */
typedef struct {
    uintptr_t base[CLASSES];  /* first block */
    size_t count[CLASSES];    /* blocks recognised: count (1 if the size is not a power of 2) */
    uint8_t shift[CLASSES];   /* log2(block size), 0 if not a power of 2 */
} fast_table_t;
static fast_table_t g_fast_none, g_fast_table; /* in DRAM: ISRs read them */
static _Atomic(const fast_table_t *) g_fast = &g_fast_none;
static _Atomic(memory_pool_misuse_hook_t) g_hook;
/* Where the blocks of all classes lie while set up ([lo, hi); lo 0 otherwise). hi is stored before
 * lo, lo is loaded first: a reader that sees lo sees its hi (or a later 0). */
static _Atomic uintptr_t g_blocks_lo, g_blocks_hi;

/* ---- heap-block table ------------------------------------------------------------------------ */

#define P2_(x, s) ((x) | ((x) >> (s)))
#define POW2_CEIL(x) (P2_(P2_(P2_(P2_(P2_((x) - 1, 1), 2), 4), 8), 16) + 1)
#define HEAP_NODES (KRAKEN_POOL_HEAP_BLOCKS_MAX < 1 ? 1 : KRAKEN_POOL_HEAP_BLOCKS_MAX)
#define HEAP_BUCKETS (HEAP_NODES < 2 ? 2 : POW2_CEIL(HEAP_NODES)) /* >= 2: home_slot shifts < 32 */
#define HEAP_BITS ((unsigned)__builtin_ctz(HEAP_BUCKETS))

typedef uint16_t node_ref_t; /* node index + 1; 0: none (so the zeroed table is empty) */

typedef struct {
    uint32_t live;                  /* blocks in the table */
    uint32_t reserved;              /* heap calls in flight (count against the cap) */
    uint32_t peak;
    uint32_t tag_live[CLASSES + 1]; /* per fallback class, then oversize */
    uint32_t served[CLASSES + 1];   /* fallbacks per class, then oversize */
    uint32_t failures[CLASSES + 1];
    uint32_t unknown_frees;
    uint32_t isr_frees;
    uint32_t heap_calls; /* memory_pool_refuse_heap_call */
    uint32_t setup_failures;
} heap_counters_t;

typedef struct {
    void *ptr;       /* NULL while the node is spare */
    node_ref_t next; /* next node in its bucket, or on the spare list */
    uint8_t tag;
} heap_node_t;

static struct {
    kraken_port_lock_t lock;
    heap_counters_t n;
    uint32_t fresh;   /* nodes [0, fresh) have been used; the rest were never */
    node_ref_t spare; /* used nodes given back */
    node_ref_t bucket[HEAP_BUCKETS];
    heap_node_t node[HEAP_NODES];
#if CHECKS
    block_meta_t meta[HEAP_NODES];
#endif
} g_heap = {.lock = KRAKEN_PORT_LOCK_INITIALIZER};
static atomic_uint g_heap_entries; /* entries in the table; changed under the heap lock */

_Static_assert(HEAP_NODES < UINT16_MAX, "node_ref_t holds a node index + 1");

KRAKEN_PORT_ISR_TEXT
static inline size_t home_slot(const void *p)
{
    return (uint32_t)((uint32_t)((uintptr_t)p >> 2) * 2654435761u) >> (32u - HEAP_BITS);
}

/* Node holding p, or -1. Heap lock held. O(1) expected: at most one node per bucket on average
 * (live <= cap <= HEAP_NODES <= HEAP_BUCKETS). */
KRAKEN_PORT_ISR_TEXT
static long table_find(const void *p)
{
    for (node_ref_t r = g_heap.bucket[home_slot(p)]; r != 0; r = g_heap.node[r - 1].next) {
        if (g_heap.node[r - 1].ptr == p) {
            return (long)r - 1;
        }
    }
    return -1;
}

/* Unlink node i from its bucket and make it spare. Heap lock held. Nodes never move, so a walk
 * over the node array passes every entry that stays in the table exactly once. */
static void table_remove(size_t i)
{
    node_ref_t *link = &g_heap.bucket[home_slot(g_heap.node[i].ptr)];
    while (*link != i + 1) {
        link = &g_heap.node[*link - 1].next;
    }
    *link = g_heap.node[i].next;
    g_heap.node[i].ptr = NULL;
    g_heap.node[i].next = g_heap.spare;
    g_heap.spare = (node_ref_t)(i + 1);
    atomic_fetch_sub_explicit(&g_heap_entries, 1u, memory_order_relaxed);
}

/* Insert p (there is a node for it: live < cap <= HEAP_NODES). Heap lock held. Returns its node. */
static size_t table_insert(void *p, unsigned tag)
{
    long old = table_find(p);
    if (old >= 0) {
        /* The heap handed p out again, so it was freed behind our back (plain free()): forget it. */
        g_heap.n.tag_live[g_heap.node[old].tag]--;
        g_heap.n.live--;
        table_remove((size_t)old);
    }
    size_t i;
    if (g_heap.spare != 0) {
        i = g_heap.spare - 1u;
        g_heap.spare = g_heap.node[i].next;
    } else {
        i = g_heap.fresh++;
    }
    node_ref_t *head = &g_heap.bucket[home_slot(p)];
    g_heap.node[i] = (heap_node_t){.ptr = p, .next = *head, .tag = (uint8_t)tag};
    *head = (node_ref_t)(i + 1);
    atomic_fetch_add_explicit(&g_heap_entries, 1u, memory_order_relaxed);
    return i;
}

/* ---- helpers --------------------------------------------------------------------------------- */

#if CHECKS
KRAKEN_PORT_ISR_TEXT
static uint32_t now_ms(void)
{
    return (uint32_t)(kraken_port_time_us() / 1000);
}

/* True when n bytes at p all equal value; a word at a time (pool blocks are 8-aligned). */
KRAKEN_PORT_ISR_TEXT
static bool all_bytes(const uint8_t *p, size_t n, uint8_t value)
{
    const uintptr_t pattern = (uintptr_t)-1 / 0xFF * value;
    size_t i = 0;
    for (; i + sizeof(uintptr_t) <= n; i += sizeof(uintptr_t)) {
        uintptr_t word;
        memcpy(&word, p + i, sizeof word);
        if (word != pattern) {
            return false;
        }
    }
    for (; i < n; i++) {
        if (p[i] != value) {
            return false;
        }
    }
    return true;
}

KRAKEN_PORT_ISR_TEXT
static inline size_t canary_len(size_t size, size_t block_size)
{
    size_t room = block_size - size;
    return room < CANARY_MAX ? room : CANARY_MAX;
}
#endif

/* c's lock held. */
KRAKEN_PORT_ISR_TEXT
static inline bool is_live(const pool_class_t *c, size_t idx)
{
    return idx < c->count && c->links[idx] == (link_t)idx;
}

/* The log line of a misuse report: tasks only (its strings and the log are in flash). A refused
 * heap call names the refusing function when it is known (memory_pool_refuse_heap_call_from);
 * its block is either a pool block or a heap block of the pools. */
static NOINLINE void report_log(const memory_pool_misuse_info_t *info, const char *heap_function)
{
    const char *class_name = "not a pool block";
    if (info->class_index >= 0) {
        class_name = CLASS_NAME[info->class_index];
    } else if (info->kind == MEMORY_POOL_MISUSE_HEAP_CALL) {
        class_name = "a heap block of the pools"; /* only live blocks from here are refused */
    }
    /* The owner is known with CHECK BASIC or FULL only: "owner unknown" rather than a null pointer,
     * which each libc prints its own way. */
    const char *misuse = memory_pool_misuse_name(info->kind);
    if (heap_function != NULL && info->owner != NULL) {
        KRAKEN_LOGE(TAG, "%s: %p (%s), caller %p, owner %p: %s() refused it, release it with "
                    "memory_pool_free()", misuse, info->ptr, class_name, info->caller, info->owner,
                    heap_function);
    } else if (heap_function != NULL) {
        KRAKEN_LOGE(TAG, "%s: %p (%s), caller %p, owner unknown: %s() refused it, release it with "
                    "memory_pool_free()", misuse, info->ptr, class_name, info->caller, heap_function);
    } else if (info->owner != NULL) {
        KRAKEN_LOGE(TAG, "%s: %p (%s), caller %p, owner %p", misuse, info->ptr, class_name,
                    info->caller, info->owner);
    } else {
        KRAKEN_LOGE(TAG, "%s: %p (%s), caller %p, owner unknown", misuse, info->ptr, class_name,
                    info->caller);
    }
}

/* A misuse to the hook, and from a task to the log. Not inlined: tools/iram_check.py knows its
 * call of report_log as task-only. */
KRAKEN_PORT_ISR_TEXT
static NOINLINE void report_info(const memory_pool_misuse_info_t *info, const char *heap_function)
{
    memory_pool_misuse_hook_t hook = atomic_load_explicit(&g_hook, memory_order_acquire);
    if (hook != NULL) {
        hook(info);
    }
    if (!kraken_port_in_isr()) {
        report_log(info, heap_function);
    }
}

KRAKEN_PORT_ISR_TEXT
static void report(memory_pool_misuse_t kind, const void *ptr, int class_index, const void *caller,
                   const void *owner)
{
    const memory_pool_misuse_info_t info = {kind, ptr, class_index, caller, owner};
    report_info(&info, NULL);
}

/* Index of the smallest class whose block holds size bytes; CLASSES for 0 and oversize. */
KRAKEN_PORT_ISR_TEXT
static unsigned class_for_size(size_t size)
{
    size_t n = size - 1;
    unsigned ci = 0;
    while (ci < CLASSES && n >= atomic_load_explicit(&g_limit[ci], memory_order_relaxed)) {
        ci++;
    }
    return ci;
}

KRAKEN_PORT_ISR_TEXT
static void count_class_failure(unsigned ci)
{
    if (ci >= CLASSES) {
        kraken_port_lock(&g_heap.lock);
        g_heap.n.failures[OVERSIZE_TAG]++;
        kraken_port_unlock(&g_heap.lock);
        return;
    }
    kraken_port_lock(&g_class[ci].lock);
    g_class[ci].n.failures++;
    kraken_port_unlock(&g_class[ci].lock);
}

/* ---- heap path ------------------------------------------------------------------------------- */

static NOINLINE void *heap_alloc(size_t size, unsigned tag, const void *caller)
{
    (void)caller;
    kraken_port_lock(&g_heap.lock);
    if (g_heap.n.live + g_heap.n.reserved >= g_cfg.heap_blocks_max) {
        g_heap.n.failures[tag]++;
        kraken_port_unlock(&g_heap.lock);
        return NULL;
    }
    g_heap.n.reserved++; /* the cap holds while the heap call runs unlocked */
    kraken_port_unlock(&g_heap.lock);

    /* 8-byte aligned like a pool block (the chip's heap gives 4): a caller cannot tell which
     * it got, and the event bus promises 8 for every payload */
    void *p = kraken_port_heap_aligned_alloc(MIN_ALIGN, size, MEMORY_CAPS_SRAM);
#if CHECKS
    uint32_t t = now_ms();
#endif

    kraken_port_lock(&g_heap.lock);
    g_heap.n.reserved--;
    if (p == NULL) {
        g_heap.n.failures[tag]++;
    } else {
        size_t slot = table_insert(p, tag);
#if CHECKS
        g_heap.meta[slot] = (block_meta_t){caller, (uint32_t)(size > UINT32_MAX ? UINT32_MAX : size), t};
#else
        (void)slot;
#endif
        g_heap.n.tag_live[tag]++;
        g_heap.n.served[tag]++;
        if (++g_heap.n.live > g_heap.n.peak) {
            g_heap.n.peak = g_heap.n.live;
        }
    }
    kraken_port_unlock(&g_heap.lock);
    return p;
}

/* free_outside found heap block `slot` and is not in an interrupt: forget it, give it back. Entered
 * with the heap lock held. Task only: not in IRAM with the ISR option. */
static NOINLINE esp_err_t free_heap_block(long slot, void *ptr)
{
    g_heap.n.tag_live[g_heap.node[slot].tag]--;
    g_heap.n.live--;
    table_remove((size_t)slot);
    kraken_port_unlock(&g_heap.lock);
    kraken_port_heap_free(ptr);
    return ESP_OK;
}

/* A free of something outside the pool blocks: NULL, a heap block from here, or misuse. */
KRAKEN_PORT_ISR_TEXT
static NOINLINE esp_err_t free_outside(void *ptr, bool isr, const void *caller)
{
    caller = WHO(caller);
    if (ptr == NULL) {
        return isr ? ESP_ERR_INVALID_ARG : ESP_OK;
    }
    isr = isr || kraken_port_in_isr();
    memory_pool_misuse_t kind;
    const void *owner = NULL;
    kraken_port_lock(&g_heap.lock);
    long slot = table_find(ptr);
    if (slot >= 0 && !isr) {
        return free_heap_block(slot, ptr);
    }
    if (slot >= 0) {
        g_heap.n.isr_frees++;
        kind = MEMORY_POOL_MISUSE_HEAP_FREE_IN_ISR;
#if CHECKS
        owner = g_heap.meta[slot].owner;
#endif
    } else {
        g_heap.n.unknown_frees++;
        kind = ((uintptr_t)ptr & (HEAP_MIN_ALIGN - 1)) != 0 ? MEMORY_POOL_MISUSE_MISALIGNED
                                                             : MEMORY_POOL_MISUSE_UNKNOWN_POINTER;
    }
    kraken_port_unlock(&g_heap.lock);
    report(kind, ptr, -1, caller, owner);
    return ESP_ERR_INVALID_ARG;
}

/* ---- pool path ------------------------------------------------------------------------------- */

static ALWAYS_INLINE uintptr_t rotate_right(uintptr_t x, unsigned s)
{
    return (x >> s) | (x << ((0u - s) & (sizeof(uintptr_t) * 8 - 1)));
}

static void *alloc_class_empty(size_t size, pool_class_t *c, uint32_t margin, bool isr,
                               const void *caller);

/* A block of class c when more than `margin` are free. Otherwise NULL (a spill attempt) or, when
 * `fallback`, what alloc_class_empty gives. With a tally (memory_pool_take_tallied): NULL while it
 * is closed, and a block taken counted in it under the lock. O(1) (FULL: O(block size), outside
 * the lock). */
static ALWAYS_INLINE void *take(pool_class_t *c, size_t size, uint32_t margin, bool isr,
                                bool fallback, const void *caller, memory_pool_tally_t *tally)
{
#if CHECKS
    uint32_t t = now_ms();
#endif
    kraken_port_lock(&c->lock);
    /* in_use counts every block off the free list (also BUSY ones), so the list is empty exactly
     * when in_use == count; the margin check is the same comparison. */
    uint32_t used = c->n.in_use;
    if (tally != NULL && UNLIKELY(!atomic_load_explicit(&tally->open, memory_order_relaxed))) {
        kraken_port_unlock(&c->lock);
        return NULL;
    }
    if (UNLIKELY(c->count - used <= margin)) {
        kraken_port_unlock(&c->lock);
        return fallback ? alloc_class_empty(size, c, margin, isr, caller) : NULL;
    }
    size_t idx = c->head;
    link_t *links = c->links;
    c->head = links[idx];
#if CHECKS < 2
    links[idx] = (link_t)idx; /* handed out; here, gcc keeps idx in one register (one move less) */
#endif
    c->n.in_use = ++used;
    c->n.allocations++;
    if (used > c->n.peak) {
        c->n.peak = used;
    }
    if (tally != NULL) {
        tally->taken[c->index]++;
    }
#if CHECKS
    c->meta[idx] = (block_meta_t){caller, (uint32_t)size, t};
#endif
#if CHECKS >= 2
    uint8_t *p = c->base + idx * c->block_size;
    links[idx] = LINK_BUSY;
    kraken_port_unlock(&c->lock);
    /* Free blocks hold nothing but poison: anything else was written after a free. */
    bool clean = all_bytes(p, c->block_size, POISON);
    kraken_port_lock(&c->lock);
    if (!clean) {
        c->n.writes_after_free++;
    }
    memset(p + size, CANARY, canary_len(size, c->block_size));
    links[idx] = (link_t)idx;
    kraken_port_unlock(&c->lock);
    if (!clean) {
        report(MEMORY_POOL_MISUSE_WRITE_AFTER_FREE, p, (int)c->index, caller, NULL);
    }
#else
    uint8_t *p = c->base + idx * c->block_size;
#if CHECKS
    memset(p + size, CANARY, canary_len(size, c->block_size));
#endif
    kraken_port_unlock(&c->lock);
#endif
    return p;
}

/* give() found the block free (or BUSY): count, unlock, report. Tail-called with c's lock held. */
KRAKEN_PORT_ISR_TEXT
static NOINLINE esp_err_t double_free(pool_class_t *c, size_t idx, const void *caller)
{
    caller = WHO(caller);
    const void *ptr = c->base + idx * c->block_size;
    c->n.double_frees++;
    kraken_port_unlock(&c->lock);
    report(MEMORY_POOL_MISUSE_DOUBLE_FREE, ptr, (int)c->index, caller, NULL);
    return ESP_ERR_INVALID_STATE;
}

/* Block idx of class c back to its pool, if it is handed out. O(1) (FULL: O(block size)). */
static ALWAYS_INLINE esp_err_t give(pool_class_t *c, size_t idx, void *ptr, bool isr,
                                    const void *caller)
{
    kraken_port_lock(&c->lock);
    /* An ISR's free may have placed ptr before a deinit: no pool block now. Not looked at for
     * memory_pool_free(), a task's (tasks do not run with deinit), whose pair of instructions is
     * the pools' hottest path; an ISR calling it during deinit with a freed pointer is not
     * covered (the header says so). */
    if (isr && UNLIKELY(idx >= c->count)) {
        kraken_port_unlock(&c->lock);
        return free_outside(ptr, isr, caller);
    }
    link_t *links = c->links;
    if (UNLIKELY(links[idx] != (link_t)idx)) {
        return double_free(c, idx, caller);
    }
#if CHECKS
    const block_meta_t meta = c->meta[idx];
    bool overrun = !all_bytes((uint8_t *)ptr + meta.size, canary_len(meta.size, c->block_size), CANARY);
    if (overrun) {
        c->n.overruns++;
    }
#endif
#if CHECKS >= 2
    links[idx] = LINK_BUSY; /* ours until poisoned: neither free nor handed out */
    kraken_port_unlock(&c->lock);
    memset(ptr, POISON, c->block_size);
    kraken_port_lock(&c->lock);
#endif
    links[idx] = c->head;
    c->head = (link_t)idx;
    c->n.in_use--;
    kraken_port_unlock(&c->lock);
#if CHECKS
    if (overrun) {
        report(MEMORY_POOL_MISUSE_OVERRUN, ptr, (int)c->index, caller, meta.owner);
    }
#endif
    return ESP_OK;
}

/* Free of a pointer the O(1) test did not place: a block of a class whose size is not a power of
 * two, a pointer into or beside a block, a heap block, NULL, or an unknown pointer. */
KRAKEN_PORT_ISR_TEXT
static NOINLINE esp_err_t free_slow(void *ptr, bool isr, const void *caller)
{
    caller = WHO(caller);
    const unsigned ci = memory_pool_class_of(ptr);
    if (ci < CLASSES) {
        pool_class_t *c = &g_class[ci];
        uintptr_t rel = (uintptr_t)ptr - (uintptr_t)c->base;
        size_t idx = rel / c->block_size;
        if (rel == idx * c->block_size) {
            return give(c, idx, ptr, isr, caller);
        }
        kraken_port_lock(&c->lock);
        c->n.invalid_frees++;
        kraken_port_unlock(&c->lock);
        report((rel & (MIN_ALIGN - 1)) != 0 ? MEMORY_POOL_MISUSE_MISALIGNED
                                            : MEMORY_POOL_MISUSE_INTERIOR_POINTER,
               ptr, (int)c->index, caller, NULL);
        return ESP_ERR_INVALID_ARG;
    }
    return free_outside(ptr, isr, caller);
}

/* The index of the block of class i that ptr starts, in the O(1) test's table f, or a value not
 * below f->count[i]. */
static ALWAYS_INLINE uintptr_t fast_index(const fast_table_t *f, unsigned i, const void *ptr)
{
    return rotate_right((uintptr_t)ptr - f->base[i], f->shift[i]);
}

static ALWAYS_INLINE esp_err_t pool_free(void *ptr, bool isr, const void *caller)
{
    const fast_table_t *f = atomic_load_explicit(&g_fast, memory_order_acquire);
    /* One copy of give() per class: every class has a fixed address. */
#define TRY_CLASS(i)                                                                               \
    do {                                                                                           \
        uintptr_t idx = fast_index(f, i, ptr);                                                     \
        if (LIKELY(idx < f->count[i])) {                                                           \
            return give(&g_class[i], idx, ptr, isr, caller);                                       \
        }                                                                                          \
    } while (0)
    TRY_CLASS(0);
    TRY_CLASS(1);
    TRY_CLASS(2);
    TRY_CLASS(3);
#undef TRY_CLASS
    return free_slow(ptr, isr, caller);
}

/* ---- set-up ---------------------------------------------------------------------------------- */

/* A set-up that fails says so, with what it needed (the statistics only count it). A lazy one
 * (the first allocation's) is not tried again: memory_pool_alloc() serves from the heap until a
 * deinit; memory_pool_init() returns the error and leaves the pools as they were. */
static esp_err_t setup_failed(size_t bytes, bool lazy)
{
    KRAKEN_LOGE(TAG, "set-up failed: no block of %lu bytes of internal RAM for the pools%s",
                (unsigned long)bytes,
                lazy ? " (memory_pool_alloc() serves from the heap until memory_pool_deinit())" : "");
    return ESP_ERR_NO_MEM;
}

/* Allocate and lay out the storage for g_cfg, then publish the classes. Called in STATE_SETUP
 * with no lock held. ESP_OK or ESP_ERR_NO_MEM (nothing changed). */
static esp_err_t build(bool lazy)
{
    const size_t meta_size = CHECKS ? sizeof(block_meta_t) : 0;
    size_t meta_bytes = 0, link_bytes = 0, block_bytes = 0;
    for (unsigned i = 0; i < CLASSES; i++) {
        size_t count = g_cfg.classes[i].count, size = g_cfg.classes[i].block_size;
        meta_bytes += count * meta_size; /* small: count <= 65533 */
        link_bytes += count * sizeof(link_t);
        if (size > (SIZE_MAX - block_bytes) / count) {
            return setup_failed(SIZE_MAX, lazy);
        }
        block_bytes += size * count;
    }
    size_t head = (meta_bytes + link_bytes + STORAGE_ALIGN - 1) & ~(size_t)(STORAGE_ALIGN - 1);
    if (block_bytes > SIZE_MAX - head) {
        return setup_failed(SIZE_MAX, lazy);
    }
    uint8_t *mem = kraken_port_heap_aligned_alloc(STORAGE_ALIGN, head + block_bytes, MEMORY_CAPS_SRAM);
    if (mem == NULL) {
        return setup_failed(head + block_bytes, lazy);
    }
    block_meta_t *meta = CHECKS ? (block_meta_t *)(void *)mem : NULL;
    link_t *links = (link_t *)(void *)(mem + meta_bytes);
    uint8_t *blocks = mem + head;
    if (CHECKS >= 2) {
        memset(blocks, POISON, block_bytes);
    }
    g_storage = mem;
    for (unsigned i = 0; i < CLASSES; i++) {
        pool_class_t *c = &g_class[i];
        uint32_t count = g_cfg.classes[i].count;
        size_t size = g_cfg.classes[i].block_size;
        for (uint32_t b = 0; b < count; b++) {
            links[b] = (link_t)(b + 1);
        }
        links[count - 1] = LINK_END;
        bool pow2 = (size & (size - 1)) == 0;
        kraken_port_lock(&c->lock); /* get_stats and memory_pool_class_free may be reading */
        c->head = 0;
        c->base = blocks;
        c->links = links;
        c->meta = meta;
        c->block_size = size;
        kraken_port_unlock(&c->lock);
        g_fast_table.base[i] = (uintptr_t)blocks;
        g_fast_table.count[i] = pow2 ? count : 1;
        g_fast_table.shift[i] = pow2 ? (uint8_t)__builtin_ctzll(size) : 0;
        blocks += size * count;
        links += count;
        if (meta != NULL) {
            meta += count;
        }
    }
    atomic_store_explicit(&g_fast, &g_fast_table, memory_order_release);
    atomic_store_explicit(&g_blocks_hi, (uintptr_t)blocks, memory_order_release);
    atomic_store_explicit(&g_blocks_lo, (uintptr_t)(mem + head), memory_order_release);
    for (unsigned i = CLASSES; i-- > 0;) { /* class 0 last: see pool_alloc */
        pool_class_t *c = &g_class[i];
        kraken_port_lock(&c->lock);
        /* Its blocks can be taken and freed from here on; before, a take that read the limit of
         * an earlier set-up (an ISR during deinit) found none free. */
        c->count = g_cfg.classes[i].count;
        kraken_port_unlock(&c->lock);
        atomic_store_explicit(&c->limit, c->block_size, memory_order_release);
    }
    return ESP_OK;
}

/* Set the pools up unless another task is doing it or has done it. Never waits. task. */
static void lazy_setup(void)
{
    int expected = STATE_UNINIT;
    if (!atomic_compare_exchange_strong_explicit(&g_state, &expected, STATE_SETUP,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        return;
    }
    esp_err_t err = build(true);
    if (err != ESP_OK) {
        kraken_port_lock(&g_heap.lock);
        g_heap.n.setup_failures++;
        kraken_port_unlock(&g_heap.lock);
    }
    atomic_store_explicit(&g_state, err == ESP_OK ? STATE_READY : STATE_FAILED, memory_order_release);
}

/* Set up if needed and wait for a set-up run by another task. READY or FAILED. task, may block. */
static int setup_and_wait(void)
{
    for (;;) {
        lazy_setup();
        int state = atomic_load_explicit(&g_state, memory_order_acquire);
        if (state != STATE_SETUP) {
            return state;
        }
        kraken_port_delay_ms(1); /* at least one tick: a lower-priority task may be setting up */
    }
}

/* ---- allocation ------------------------------------------------------------------------------ */

/* Class c could not give a block (empty, or the margin): larger class, heap, or NULL. */
KRAKEN_PORT_ISR_TEXT
static NOINLINE void *alloc_class_empty(size_t size, pool_class_t *c, uint32_t margin, bool isr,
                                        const void *caller)
{
    caller = WHO(caller);
    const unsigned ci = c->index;
    if (atomic_load_explicit(&g_spill, memory_order_relaxed) && ci + 1 < CLASSES) {
        void *p = take(c + 1, size, margin, isr, false, caller, NULL);
        if (p != NULL) {
            kraken_port_lock(&c->lock);
            c->n.spills++;
            kraken_port_unlock(&c->lock);
            return p;
        }
    }
    if (isr || kraken_port_in_isr()) {
        count_class_failure(ci);
        return NULL;
    }
    return heap_alloc(size, ci, caller);
}

static void *alloc_beyond(size_t size, uint32_t margin, bool isr, const void *caller);

static ALWAYS_INLINE void *pool_alloc(size_t size, uint32_t margin, bool isr, const void *caller,
                                      memory_pool_tally_t *tally)
{
    /* Smallest class that fits. Size 0 wraps to SIZE_MAX and walks past the last class. The
     * set-up publishes class 0 last: with its limit 0 the walk must not go on (it could take a
     * block of a larger class already published); alloc_beyond waits for the set-up. A tallied
     * take (memory_pool_take_tallied) has no fallback: NULL instead. */
    const bool fallback = tally == NULL;
    const size_t n = size - 1;
    const size_t small = atomic_load_explicit(&g_class[0].limit, memory_order_acquire);
    if (n < small) {
        return take(&g_class[0], size, margin, isr, fallback, caller, tally);
    }
    if (small == 0) {
        return fallback ? alloc_beyond(size, margin, isr, caller) : NULL;
    }
    /* One copy of take() per class: every field has a fixed address. Relaxed: class 0's acquire
     * above ordered these after the whole publication. */
#define FITS_CLASS(i)                                                                              \
    if (n < atomic_load_explicit(&g_class[i].limit, memory_order_relaxed)) {                       \
        return take(&g_class[i], size, margin, isr, fallback, caller, tally);                      \
    }
    FITS_CLASS(1)
    FITS_CLASS(2)
    FITS_CLASS(3)
#undef FITS_CLASS
    return fallback ? alloc_beyond(size, margin, isr, caller) : NULL;
}

/* No class took the request: size 0, oversize, or the pools are not (all) published yet. */
KRAKEN_PORT_ISR_TEXT
static NOINLINE void *alloc_beyond(size_t size, uint32_t margin, bool isr, const void *caller)
{
    caller = WHO(caller);
    if (size == 0) {
        return NULL;
    }
    isr = isr || kraken_port_in_isr();
    int state = atomic_load_explicit(&g_state, memory_order_acquire);
    if (state != STATE_READY && state != STATE_FAILED && !isr) {
        state = setup_and_wait();
    }
    /* After the acquire of the state: the table a set-up published, which a look before it could
     * miss (a memory_pool_init() table racing this call, which the contract excludes). */
    const unsigned ci = class_for_size(size);
    if (state == STATE_READY && ci < CLASSES) {
        /* published since our first look: the class pool_alloc would pick (one copy of take) */
        return take(&g_class[ci], size, margin, isr, true, caller, NULL);
    }
    if (isr) {
        count_class_failure(ci);
        return NULL;
    }
    /* Oversize, or no pools (their storage could not be had): the heap, counted. */
    return heap_alloc(size, ci < CLASSES ? ci : OVERSIZE_TAG, caller);
}

void *memory_pool_alloc(size_t size)
{
    return pool_alloc(size, 0, false, FAST_CALLER(), NULL);
}

void *memory_pool_alloc_margin(size_t size, uint32_t margin)
{
    return pool_alloc(size, margin, false, FAST_CALLER(), NULL);
}

KRAKEN_PORT_ISR_TEXT
void *memory_pool_alloc_isr(size_t size)
{
#if CHECKS
    return pool_alloc(size, 0, true, FAST_CALLER(), NULL);
#else
    return memory_pool_alloc_isr_margin(size, 0); /* no owner to record: one copy in IRAM */
#endif
}

KRAKEN_PORT_ISR_TEXT
void *memory_pool_alloc_isr_margin(size_t size, uint32_t margin)
{
    return pool_alloc(size, margin, true, FAST_CALLER(), NULL);
}

KRAKEN_PORT_ISR_TEXT
void *memory_pool_take_tallied(size_t size, uint32_t margin, memory_pool_tally_t *tally)
{
    return pool_alloc(size, margin, true, FAST_CALLER(), tally);
}

void memory_pool_pin(void)
{
    atomic_fetch_add(&g_pins, 1);
}

void memory_pool_unpin(void)
{
    atomic_fetch_sub(&g_pins, 1);
}

uint32_t memory_pool_tally_total(memory_pool_tally_t *tally)
{
    uint32_t total = 0;
    for (unsigned i = 0; i < CLASSES; i++) {
        pool_class_t *c = &g_class[i];
        kraken_port_lock(&c->lock);
        total += tally->taken[i];
        kraken_port_unlock(&c->lock);
    }
    return total;
}

void memory_pool_free(void *ptr)
{
    (void)pool_free(ptr, false, FAST_CALLER());
}

KRAKEN_PORT_ISR_TEXT
esp_err_t memory_pool_free_isr(void *ptr)
{
    return pool_free(ptr, true, FAST_CALLER());
}

/* Index of the power-of-two class holding ptr at a block start (O(1) test of pool_free), or
 * CLASSES. */
static ALWAYS_INLINE unsigned fast_class_of(const fast_table_t *f, const void *ptr, uintptr_t *idx)
{
    for (unsigned i = 0; i < CLASSES; i++) {
        uintptr_t k = fast_index(f, i, ptr);
        if (k < f->count[i]) {
            *idx = k;
            return i;
        }
    }
    return CLASSES;
}

KRAKEN_PORT_ISR_TEXT
uint32_t memory_pool_class_free(unsigned class_index)
{
    if (class_index >= CLASSES) {
        return 0;
    }
    pool_class_t *c = &g_class[class_index];
    kraken_port_lock(&c->lock);
    const uint32_t free_blocks = c->count - c->n.in_use; /* count is 0 before set-up */
    kraken_port_unlock(&c->lock);
    return free_blocks;
}

/* Blocks freed under one lock acquisition at most: bounds the time interrupts wait (on the chip the
 * class lock is a critical section). */
#define BATCH_LOCK_MAX 16

KRAKEN_PORT_ISR_TEXT
size_t memory_pool_free_batch_isr(void *const blocks[], size_t n)
{
    const void *caller = CALLER();
    const fast_table_t *f = atomic_load_explicit(&g_fast, memory_order_acquire);
    size_t freed = 0, i = 0;
    if (blocks == NULL) {
        return 0;
    }
    while (i < n) {
        uintptr_t idx = 0;
        unsigned ci = CHECKS >= 2 ? CLASSES : fast_class_of(f, blocks[i], &idx);
        if (ci == CLASSES) { /* not a plain pool block start (or FULL checks): one at a time */
            /* pool_free's own class test would fail as fast_class_of did: straight to free_slow */
            freed += (CHECKS >= 2 ? pool_free(blocks[i], true, caller)
                                  : free_slow(blocks[i], true, caller)) == ESP_OK;
            i++;
            continue;
        }
        pool_class_t *c = &g_class[ci];
        kraken_port_lock(&c->lock);
        link_t *links = c->links;
        /* Its blocks gone (a deinit since f was read): give() tells. The count cannot change
         * while the lock is held, so the first block's look covers the run. */
        bool misuse = UNLIKELY(idx >= c->count);
        /* Consecutive blocks of this class; misuse, another class or BATCH_LOCK_MAX end the run. */
        for (unsigned k = 0; !misuse;) {
            if (UNLIKELY(links[idx] != (link_t)idx)) {
                misuse = true;
                break;
            }
#if CHECKS
            const block_meta_t meta = c->meta[idx];
            if (UNLIKELY(!all_bytes((uint8_t *)blocks[i] + meta.size,
                                    canary_len(meta.size, c->block_size), CANARY))) {
                misuse = true;
                break;
            }
#endif
            links[idx] = c->head;
            c->head = (link_t)idx;
            c->n.in_use--;
            freed++;
            if (++i == n || ++k == BATCH_LOCK_MAX) {
                break;
            }
            idx = fast_index(f, ci, blocks[i]);
            if (idx >= f->count[ci]) {
                break;
            }
        }
        kraken_port_unlock(&c->lock);
        if (misuse) { /* give() counts and reports it (an overrun block is still freed) */
            freed += give(c, idx, blocks[i], true, caller) == ESP_OK;
            i++;
        }
    }
    return freed;
}

KRAKEN_PORT_ISR_TEXT
unsigned memory_pool_class_of(const void *ptr)
{
    const uintptr_t a = (uintptr_t)ptr;
    const uintptr_t lo = atomic_load_explicit(&g_blocks_lo, memory_order_acquire);
    if (lo == 0 || a < lo || a >= atomic_load_explicit(&g_blocks_hi, memory_order_acquire)) {
        return CLASSES;
    }
    /* Set up (lo is published after the bases; deinit keeps them): the classes lie one after
     * the other from lo, class 0 first. */
    for (unsigned i = CLASSES; i-- > 0;) {
        if (a >= (uintptr_t)g_class[i].base) {
            return i;
        }
    }
    return CLASSES;
}

bool memory_pool_owns(const void *ptr)
{
    const unsigned ci = memory_pool_class_of(ptr);
    if (ci < CLASSES) {
        pool_class_t *c = &g_class[ci];
        const uintptr_t rel = (uintptr_t)ptr - (uintptr_t)c->base;
        kraken_port_lock(&c->lock);
        const bool live = rel % c->block_size == 0 && is_live(c, rel / c->block_size);
        kraken_port_unlock(&c->lock);
        return live;
    }
    /* A live heap block from here was entered before it was handed out, so this sees it counted. */
    if (ptr == NULL || atomic_load_explicit(&g_heap_entries, memory_order_relaxed) == 0) {
        return false;
    }
    kraken_port_lock(&g_heap.lock);
    bool found = table_find(ptr) >= 0;
    kraken_port_unlock(&g_heap.lock);
    return found;
}

bool memory_pool_refuse_heap_call_from(const void *ptr, const char *function_name,
                                       const void *caller)
{
    if (!memory_pool_owns(ptr)) {
        return false;
    }
    const unsigned ci = memory_pool_class_of(ptr);
    const void *owner = NULL; /* known with CHECK BASIC or FULL, while the block is live */
#if CHECKS
    if (ci < CLASSES) {
        pool_class_t *c = &g_class[ci];
        const size_t b = (size_t)((uintptr_t)ptr - (uintptr_t)c->base) / c->block_size;
        kraken_port_lock(&c->lock);
        owner = is_live(c, b) ? c->meta[b].owner : NULL;
        kraken_port_unlock(&c->lock);
    }
#endif
    kraken_port_lock(&g_heap.lock);
    g_heap.n.heap_calls++;
#if CHECKS
    if (ci >= CLASSES) {
        const long slot = table_find(ptr);
        owner = slot >= 0 ? g_heap.meta[slot].owner : NULL;
    }
#endif
    kraken_port_unlock(&g_heap.lock);
    const memory_pool_misuse_info_t info = {MEMORY_POOL_MISUSE_HEAP_CALL, ptr,
                                            ci < CLASSES ? (int)ci : -1, caller, owner};
    report_info(&info, function_name); /* the refusal's one log line */
    return true;
}

bool memory_pool_refuse_heap_call(const void *ptr)
{
    return memory_pool_refuse_heap_call_from(ptr, NULL, CALLER());
}

/* ---- set-up API ------------------------------------------------------------------------------ */

esp_err_t memory_pool_get_default_config(memory_pool_config_t *out)
{
    if (out == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    *out = (memory_pool_config_t)DEFAULT_CONFIG;
    return ESP_OK;
}

static bool config_valid(const memory_pool_config_t *cfg)
{
    size_t previous = 0;
    for (unsigned i = 0; i < CLASSES; i++) {
        size_t size = cfg->classes[i].block_size;
        uint32_t count = cfg->classes[i].count;
        if (size < MIN_ALIGN || size % MIN_ALIGN != 0 || size > MEMORY_POOL_MAX_BLOCK_SIZE ||
            size <= previous || count == 0 || count > MEMORY_POOL_MAX_BLOCKS_PER_CLASS) {
            return false;
        }
        previous = size;
    }
    return cfg->heap_blocks_max <= KRAKEN_POOL_HEAP_BLOCKS_MAX;
}

/* Every lock at once: the classes', then the heap's (no other path holds two). */
static void lock_all(void)
{
    for (unsigned i = 0; i < CLASSES; i++) {
        kraken_port_lock(&g_class[i].lock);
    }
    kraken_port_lock(&g_heap.lock);
}

static void unlock_all(void)
{
    kraken_port_unlock(&g_heap.lock);
    for (unsigned i = CLASSES; i-- > 0;) {
        kraken_port_unlock(&g_class[i].lock);
    }
}

/* Under every lock: memory_pool_get_stats() (isr-ok) reads a class's count under its lock, the
 * heap's figures under the heap's, and may run during a set-up or a deinit. */
static void set_table(const memory_pool_config_t *cfg)
{
    lock_all();
    g_cfg = *cfg;
    unlock_all();
    atomic_store_explicit(&g_spill, cfg->try_larger_class, memory_order_relaxed);
    for (unsigned i = 0; i < CLASSES; i++) {
        atomic_store_explicit(&g_limit[i], cfg->classes[i].block_size, memory_order_relaxed);
    }
}

esp_err_t memory_pool_init(const memory_pool_config_t *config)
{
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE;
    }
    memory_pool_config_t cfg = DEFAULT_CONFIG;
    if (config != NULL) {
        if (!config_valid(config)) {
            return ESP_ERR_INVALID_ARG;
        }
        cfg = *config;
    }
    int expected = STATE_UNINIT;
    if (!atomic_compare_exchange_strong_explicit(&g_state, &expected, STATE_SETUP,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        return ESP_ERR_INVALID_STATE;
    }
    const memory_pool_config_t previous = g_cfg;
    set_table(&cfg);
    esp_err_t err = build(false);
    if (err != ESP_OK) {
        set_table(&previous);
        kraken_port_lock(&g_heap.lock);
        g_heap.n.setup_failures++;
        kraken_port_unlock(&g_heap.lock);
    }
    atomic_store_explicit(&g_state, err == ESP_OK ? STATE_READY : STATE_UNINIT, memory_order_release);
    return err;
}

esp_err_t memory_pool_ensure_init(void)
{
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE;
    }
    return setup_and_wait() == STATE_READY ? ESP_OK : ESP_ERR_NO_MEM;
}

esp_err_t memory_pool_deinit(void)
{
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE;
    }
    /* The check and the switch under every lock at once: an ISR's take cannot get a block between
     * them, one after them finds its class empty (count 0) and fails. */
    lock_all();
    uint32_t pool_live = 0;
    for (unsigned i = 0; i < CLASSES; i++) {
        pool_live += g_class[i].n.in_use;
    }
    const uint32_t heap_live = g_heap.n.live + g_heap.n.reserved;
    int state = atomic_load_explicit(&g_state, memory_order_acquire);
    const bool setting_up = state == STATE_SETUP;
    const bool idle = pool_live == 0 && heap_live == 0;
    const bool pinned = atomic_load(&g_pins) != 0;
    const bool switched = !setting_up && idle && !pinned &&
                          atomic_compare_exchange_strong_explicit(&g_state, &state, STATE_SETUP,
                                                                  memory_order_acq_rel,
                                                                  memory_order_acquire);
    if (switched) {
        for (unsigned i = 0; i < CLASSES; i++) {
            atomic_store_explicit(&g_class[i].limit, 0, memory_order_relaxed);
            g_class[i].count = 0;
            g_class[i].head = LINK_END;
        }
    }
    unlock_all();
    if (setting_up) {
        return ESP_ERR_INVALID_STATE; /* a set-up is running */
    }
    if (pinned) {
        KRAKEN_LOGE(TAG, "deinit refused: the event bus runs on the pools (deinit it first)");
        return ESP_ERR_INVALID_STATE;
    }
    if (!idle) {
        KRAKEN_LOGE(TAG, "deinit refused: %u pool block(s) and %u heap block(s) still allocated",
                    (unsigned)pool_live, (unsigned)heap_live);
        return ESP_ERR_INVALID_STATE;
    }
    if (!switched) {
        return ESP_ERR_INVALID_STATE; /* a set-up began meanwhile */
    }
    /* An ISR may still be placing a pointer with the fast table or the classes' bases and block
     * sizes: they stay as they are (the next set-up rewrites them); the class's count, 0 since
     * the check, tells it under the lock that the blocks are gone. */
    atomic_store_explicit(&g_blocks_lo, 0, memory_order_relaxed);
    atomic_store_explicit(&g_blocks_hi, 0, memory_order_relaxed);
    atomic_store_explicit(&g_fast, &g_fast_none, memory_order_relaxed);
    for (unsigned i = 0; i < CLASSES; i++) {
        pool_class_t *c = &g_class[i]; /* limit, count and head were zeroed with the check */
        kraken_port_lock(&c->lock);
        memset(&c->n, 0, sizeof c->n);
        c->links = NULL;
        c->meta = NULL;
        kraken_port_unlock(&c->lock);
    }
    void *storage = g_storage;
    g_storage = NULL;
    kraken_port_heap_free(storage); /* NULL when never set up */
    kraken_port_lock(&g_heap.lock);
    memset(&g_heap.n, 0, sizeof g_heap.n);
    kraken_port_unlock(&g_heap.lock);
    set_table(&(memory_pool_config_t)DEFAULT_CONFIG);
    atomic_store_explicit(&g_state, STATE_UNINIT, memory_order_release);
    return ESP_OK;
}

/* ---- statistics ------------------------------------------------------------------------------ */

KRAKEN_PORT_ISR_TEXT
esp_err_t memory_pool_get_stats(memory_pool_stats_t *out)
{
    if (out == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < CLASSES; i++) {
        pool_class_t *c = &g_class[i];
        kraken_port_lock(&c->lock);
        class_counters_t n = c->n;
        const memory_pool_class_config_t table = g_cfg.classes[i]; /* set_table() holds the lock */
        kraken_port_unlock(&c->lock);
        memory_pool_class_stats_t *s = &out->classes[i];
        s->block_size = table.block_size;
        s->capacity = table.count;
        s->in_use = n.in_use;
        s->peak_in_use = n.peak;
        s->min_free = s->capacity - n.peak;
        s->allocations = n.allocations;
        s->frees = n.allocations - n.in_use;
        s->failures = n.failures;
        s->larger_class_spills = n.spills;
        s->double_frees = n.double_frees;
        s->invalid_frees = n.invalid_frees;
        s->overruns = n.overruns;
        s->writes_after_free = n.writes_after_free;
        out->double_frees += n.double_frees;
        out->invalid_frees += n.invalid_frees;
    }
    kraken_port_lock(&g_heap.lock);
    heap_counters_t h = g_heap.n;
    out->heap_blocks_max = g_cfg.heap_blocks_max;
    out->try_larger_class = g_cfg.try_larger_class;
    kraken_port_unlock(&g_heap.lock);
    for (unsigned i = 0; i < CLASSES; i++) {
        out->classes[i].heap_fallbacks = h.served[i];
        out->classes[i].fallback_live = h.tag_live[i];
        out->classes[i].failures += h.failures[i];
    }
    out->oversize = h.served[OVERSIZE_TAG];
    out->oversize_live = h.tag_live[OVERSIZE_TAG];
    out->oversize_failures = h.failures[OVERSIZE_TAG];
    out->unknown_frees = h.unknown_frees;
    out->heap_frees_in_isr = h.isr_frees;
    out->heap_calls = h.heap_calls;
    out->invalid_frees += h.unknown_frees + h.isr_frees + h.heap_calls;
    out->heap_blocks_live = h.live;
    out->heap_blocks_peak = h.peak;
    out->setup_failures = h.setup_failures;
    out->check_level = CHECKS;
    out->initialized = atomic_load_explicit(&g_state, memory_order_acquire) == STATE_READY;
    return ESP_OK;
}

void memory_pool_reset_peaks(void)
{
    for (unsigned i = 0; i < CLASSES; i++) {
        kraken_port_lock(&g_class[i].lock);
        g_class[i].n.peak = g_class[i].n.in_use;
        kraken_port_unlock(&g_class[i].lock);
    }
    kraken_port_lock(&g_heap.lock);
    g_heap.n.peak = g_heap.n.live;
    kraken_port_unlock(&g_heap.lock);
}

static unsigned decimal_digits(size_t v)
{
    unsigned n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

void memory_pool_log_stats(const char *tag)
{
    if (kraken_port_in_isr()) {
        return; /* task only: nothing logged */
    }
    static const char *const LEVEL[] = {"NONE", "BASIC", "FULL"};
    tag = tag != NULL ? tag : TAG;
    memory_pool_stats_t st;
    memory_pool_get_stats(&st);
    KRAKEN_LOGI(tag, "Memory Pool Statistics:");
    for (unsigned i = 0; i < CLASSES; i++) {
        const memory_pool_class_stats_t *c = &st.classes[i];
        /* "Small (64B):" padded to the spec's column: sizes divisible by 1024 in KB */
        bool kb = c->block_size % 1024 == 0;
        size_t shown = kb ? c->block_size / 1024 : c->block_size;
        int label = (int)(strlen(CLASS_NAME[i]) + 4 + decimal_digits(shown) + (kb ? 2 : 1));
        int pad = label < 14 ? 15 - label : 1;
        KRAKEN_LOGI(tag, "  %s (%u%s):%*s%u/%u used, %u heap fallbacks", CLASS_NAME[i],
                    (unsigned)shown, kb ? "KB" : "B", pad, "", (unsigned)c->in_use,
                    (unsigned)c->capacity, (unsigned)c->heap_fallbacks);
    }
    for (unsigned i = 0; i < CLASSES; i++) {
        const memory_pool_class_stats_t *c = &st.classes[i];
        KRAKEN_LOGI(tag,
                    "  %s: peak %u, min free %u, %u allocs, %u frees, %u fallback live, "
                    "%u failed, %u spilled up, %u double/%u invalid frees",
                    CLASS_NAME[i], (unsigned)c->peak_in_use, (unsigned)c->min_free,
                    (unsigned)c->allocations, (unsigned)c->frees, (unsigned)c->fallback_live,
                    (unsigned)c->failures, (unsigned)c->larger_class_spills,
                    (unsigned)c->double_frees, (unsigned)c->invalid_frees);
    }
    KRAKEN_LOGI(tag, "  Heap blocks: %u live (peak %u, cap %u), oversize %u (%u live, %u failed)",
                (unsigned)st.heap_blocks_live, (unsigned)st.heap_blocks_peak,
                (unsigned)st.heap_blocks_max, (unsigned)st.oversize, (unsigned)st.oversize_live,
                (unsigned)st.oversize_failures);
    uint32_t overruns = 0, waf = 0;
    for (unsigned i = 0; i < CLASSES; i++) {
        overruns += st.classes[i].overruns;
        waf += st.classes[i].writes_after_free;
    }
    KRAKEN_LOGI(tag,
                "  Misuse: %u double frees, %u invalid frees (%u unknown, %u heap from ISR, "
                "%u given to the heap), %u overruns, %u writes after free; checks %s%s",
                (unsigned)st.double_frees, (unsigned)st.invalid_frees, (unsigned)st.unknown_frees,
                (unsigned)st.heap_frees_in_isr, (unsigned)st.heap_calls, (unsigned)overruns,
                (unsigned)waf,
                LEVEL[st.check_level], st.initialized ? "" : "; not set up yet");
}

/* ---- misuse and checks ----------------------------------------------------------------------- */

void memory_pool_set_misuse_hook(memory_pool_misuse_hook_t hook)
{
    atomic_store_explicit(&g_hook, hook, memory_order_release);
}

const char *memory_pool_misuse_name(memory_pool_misuse_t kind)
{
    switch (kind) {
    case MEMORY_POOL_MISUSE_DOUBLE_FREE: return "double free";
    case MEMORY_POOL_MISUSE_INTERIOR_POINTER: return "pointer into a block";
    case MEMORY_POOL_MISUSE_MISALIGNED: return "misaligned pointer";
    case MEMORY_POOL_MISUSE_UNKNOWN_POINTER: return "unknown pointer";
    case MEMORY_POOL_MISUSE_HEAP_FREE_IN_ISR: return "heap block freed from an ISR";
    case MEMORY_POOL_MISUSE_OVERRUN: return "overrun past the requested size";
    case MEMORY_POOL_MISUSE_WRITE_AFTER_FREE: return "write after free";
    case MEMORY_POOL_MISUSE_CORRUPTED: return "corrupted pool state";
    case MEMORY_POOL_MISUSE_HEAP_CALL: return "pool block given to a heap function";
    }
    return "unknown";
}

/* Integrity of class ci's free list and states, under its lock (one walk). */
static bool class_structure_ok(pool_class_t *c)
{
    kraken_port_lock(&c->lock);
    uint32_t free_count = 0, live = 0;
    bool ok = true;
    for (link_t idx = c->head; idx != LINK_END; idx = c->links[idx]) {
        if (idx >= c->count || free_count >= c->count || is_live(c, idx) ||
            c->links[idx] == LINK_BUSY) {
            ok = false;
            break;
        }
        free_count++;
    }
    for (uint32_t b = 0; b < c->count; b++) {
        live += is_live(c, b) || c->links[b] == LINK_BUSY;
    }
    ok = ok && live == c->n.in_use && free_count + live == c->count;
    kraken_port_unlock(&c->lock);
    return ok;
}

/* BASIC: canary of a live block; FULL: poison of a free block. One block under the lock. */
static unsigned check_block(unsigned ci, uint32_t b)
{
    pool_class_t *c = &g_class[ci];
    uint8_t *p = c->base + (size_t)b * c->block_size;
    memory_pool_misuse_t kind = MEMORY_POOL_MISUSE_CORRUPTED;
    const void *owner = NULL;
    kraken_port_lock(&c->lock);
    link_t state = c->links[b];
    bool ok = true;
#if CHECKS
    if (state == (link_t)b) {
        uint32_t size = c->meta[b].size;
        ok = all_bytes(p + size, canary_len(size, c->block_size), CANARY);
        if (!ok) {
            c->n.overruns++;
            kind = MEMORY_POOL_MISUSE_OVERRUN;
            owner = c->meta[b].owner;
            memset(p + size, CANARY, canary_len(size, c->block_size)); /* not again at free */
        }
    }
#endif
#if CHECKS >= 2
    if (state != (link_t)b && state != LINK_BUSY) {
        ok = all_bytes(p, c->block_size, POISON);
        if (!ok) {
            c->n.writes_after_free++;
            kind = MEMORY_POOL_MISUSE_WRITE_AFTER_FREE;
            memset(p, POISON, c->block_size); /* reported now, not again at allocation */
        }
    }
#endif
    (void)state;
    kraken_port_unlock(&c->lock);
    if (!ok) {
        report(kind, p, (int)ci, NULL, owner);
    }
    return ok ? 0 : 1;
}

/* The heap table's structure: every bucket's chain holds nodes in use whose pointers hash to it
 * (no cycle: at most HEAP_NODES steps), the spare list the rest of the used nodes, and the
 * counters match. Heap lock held throughout: O(HEAP_BUCKETS + HEAP_NODES). */
static bool heap_table_ok(void)
{
    kraken_port_lock(&g_heap.lock);
    uint32_t chained = 0, per_tag[CLASSES + 1] = {0};
    bool ok = g_heap.fresh <= HEAP_NODES; /* then a link <= fresh names a node of the array */
    for (size_t b = 0; ok && b < HEAP_BUCKETS; b++) {
        for (node_ref_t r = g_heap.bucket[b]; ok && r != 0;) {
            ok = r <= g_heap.fresh;
            const heap_node_t *nd = ok ? &g_heap.node[r - 1] : NULL;
            ok = ok && nd->ptr != NULL && home_slot(nd->ptr) == b && nd->tag <= OVERSIZE_TAG &&
                 ++chained <= g_heap.fresh;
            if (ok) {
                per_tag[nd->tag]++;
                r = nd->next;
            }
        }
    }
    uint32_t spare = 0;
    for (node_ref_t r = g_heap.spare; ok && r != 0;) {
        ok = r <= g_heap.fresh && g_heap.node[r - 1].ptr == NULL && ++spare <= g_heap.fresh;
        r = ok ? g_heap.node[r - 1].next : 0;
    }
    ok = ok && chained == g_heap.n.live && chained + spare == g_heap.fresh;
    for (unsigned t = 0; t <= OVERSIZE_TAG; t++) {
        ok = ok && per_tag[t] == g_heap.n.tag_live[t];
    }
    kraken_port_unlock(&g_heap.lock);
    return ok;
}

esp_err_t memory_pool_check_integrity(void)
{
    if (kraken_port_in_isr()) {
        return ESP_ERR_INVALID_STATE;
    }
    unsigned bad = 0;
    if (atomic_load_explicit(&g_state, memory_order_acquire) == STATE_READY) {
        for (unsigned ci = 0; ci < CLASSES; ci++) {
            pool_class_t *c = &g_class[ci];
            if (!class_structure_ok(c)) {
                bad++;
                report(MEMORY_POOL_MISUSE_CORRUPTED, c->base, (int)ci, NULL, NULL);
            }
            for (uint32_t b = 0; CHECKS && b < c->count; b++) {
                bad += check_block(ci, b);
            }
        }
    }
    if (!heap_table_ok()) {
        bad++;
        report(MEMORY_POOL_MISUSE_CORRUPTED, NULL, -1, NULL, NULL);
    }
    return bad == 0 ? ESP_OK : ESP_ERR_INVALID_STATE;
}

size_t memory_pool_walk_live(memory_pool_walk_cb_t cb, void *arg)
{
    if (kraken_port_in_isr()) {
        return 0; /* task only: nothing walked */
    }
    if (cb == NULL) {
        return 0;
    }
    size_t seen = 0;
    if (atomic_load_explicit(&g_state, memory_order_acquire) == STATE_READY) {
        for (unsigned ci = 0; ci < CLASSES; ci++) {
            pool_class_t *c = &g_class[ci];
            for (uint32_t b = 0; b < c->count; b++) {
                memory_pool_block_info_t info = {
                    .ptr = c->base + (size_t)b * c->block_size,
                    .class_index = (int)ci,
                    .requested_class = (int)ci,
                    .size = c->block_size,
                };
                kraken_port_lock(&c->lock);
                bool live = is_live(c, b);
#if CHECKS
                if (live) { /* the clock read after the allocation's: no block is younger than 0 */
                    info.size = c->meta[b].size;
                    info.owner = c->meta[b].owner;
                    info.age_ms = now_ms() - c->meta[b].time_ms;
                }
#endif
                kraken_port_unlock(&c->lock);
                if (live) {
                    seen++;
                    if (!cb(&info, arg)) {
                        return seen;
                    }
                }
            }
        }
    }
    /* The heap table: its nodes never move (table_remove), so each block live throughout is
     * passed once. */
    for (size_t i = 0; i < HEAP_NODES; i++) {
        memory_pool_block_info_t info = {.class_index = -1, .heap = true};
        kraken_port_lock(&g_heap.lock);
        const bool used = i < g_heap.fresh;
        info.ptr = g_heap.node[i].ptr;
        info.requested_class = g_heap.node[i].tag < CLASSES ? (int)g_heap.node[i].tag : -1;
#if CHECKS
        info.size = g_heap.meta[i].size;
        info.owner = g_heap.meta[i].owner;
        info.age_ms = info.ptr != NULL ? now_ms() - g_heap.meta[i].time_ms : 0;
#endif
        kraken_port_unlock(&g_heap.lock);
        if (!used) {
            break; /* no node beyond was ever used */
        }
        if (info.ptr != NULL) {
            seen++;
            if (!cb(&info, arg)) {
                break;
            }
        }
    }
    return seen;
}

static bool log_leak(const memory_pool_block_info_t *info, void *arg)
{
    const char *tag = arg;
    const char *where = info->heap ? (info->requested_class >= 0 ? "heap fallback" : "heap oversize")
                                   : CLASS_NAME[info->class_index];
    const char *of = info->heap && info->requested_class >= 0 ? CLASS_NAME[info->requested_class] : "";
    KRAKEN_LOGW(tag, "  %s%s%s %p: %u B, owner %p, age %u ms", where, *of ? " " : "", of, info->ptr,
                (unsigned)info->size, info->owner, (unsigned)info->age_ms);
    return true;
}

size_t memory_pool_log_leaks(const char *tag)
{
    if (kraken_port_in_isr()) {
        return 0; /* task only: nothing logged */
    }
    tag = tag != NULL ? tag : TAG;
    KRAKEN_LOGI(tag, "Memory pool live blocks%s:", CHECKS ? "" : " (owner and age need CHECK BASIC)");
    size_t n = memory_pool_walk_live(log_leak, (void *)(uintptr_t)tag);
    KRAKEN_LOGI(tag, "  %u live block(s)", (unsigned)n);
    return n;
}
