/*
 * esp_host_task_wdt.c - ESP-IDF's task watchdog (esp_task_wdt.h) on the host. The chip's timer
 * group watchdog is a deadline here: it is fed when every subscription has reset since the last
 * feed, and a watcher thread (the timer's interrupt) triggers when the deadline passes first.
 * Results, logs and memory follow components/esp_system/task_wdt/task_wdt.c (v5.5); the code is
 * this project's own.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "esp_check.h"
#include "esp_task_wdt.h"
#include "sdkconfig.h"
#include "sim_internal.h"

#ifndef CONFIG_ESP_TASK_WDT_EN
#define CONFIG_ESP_TASK_WDT_EN 0
#endif
#ifndef CONFIG_ESP_TASK_WDT_INIT
#define CONFIG_ESP_TASK_WDT_INIT 0
#endif
#ifndef CONFIG_ESP_TASK_WDT_PANIC
#define CONFIG_ESP_TASK_WDT_PANIC 0
#endif
#ifndef CONFIG_ESP_TASK_WDT_TIMEOUT_S
#define CONFIG_ESP_TASK_WDT_TIMEOUT_S 5
#endif
#ifndef CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU0
#define CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU0 0
#endif
#ifndef CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU1
#define CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU1 0
#endif

#define CORES 2
/* sizeof(twdt_obj_t) and sizeof(twdt_entry_t) on the S3 (4-byte pointers): each is calloc()ed. */
#define CHIP_OBJ_BYTES 16u
#define CHIP_ENTRY_BYTES 16u

static const char *const TAG = "task_wdt";

/* One subscription, in host memory; `block` is the chip's entry (the user's handle). */
typedef struct entry {
    struct entry *next;
    void *block;           /* NULL: subscribed by the boot (boot memory) */
    TaskHandle_t task;     /* NULL: a user */
    const char *user_name; /* a user's, the caller's string */
    char task_name[configMAX_TASK_NAME_LEN]; /* as subscribed: the task may be deleted since */
    bool dangling;         /* `task` was no live task when subscribed (never read) */
    BaseType_t core;       /* the task's (tskNO_AFFINITY for a user) */
    bool idle;             /* an idle task: its hook resets all the time (never starved here) */
    bool has_reset;        /* since the last feed */
} entry_t;

/* Everything below under `lock`. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed; /* CLOCK_MONOTONIC: a feed, a new timeout, a boot */
static pthread_once_t cond_once = PTHREAD_ONCE_INIT;
static bool watcher_running; /* in this process (a forked child starts its own) */
static pthread_t watcher;
static struct {
    bool initialised;
    void *obj_block; /* the chip's object (NULL: the boot's) */
    entry_t *entries; /* newest first, as ESP-IDF's list */
    uint32_t idle_core_mask;
    bool panic;
    bool running; /* the timer: enabled while something is subscribed */
    bool triggering; /* the watcher reports a timeout (without the lock) */
    int64_t timeout_us;
    int64_t fed_at_us;
} wdt;

/* ---- helpers ------------------------------------------------------------------------------ */

static int64_t now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void init_cond(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&changed, &attr);
    pthread_condattr_destroy(&attr);
}

/* True when an entry other than `except` still has to reset (idle tasks never have to). */
static bool someone_pending_locked(const entry_t *except)
{
    for (const entry_t *e = wdt.entries; e != NULL; e = e->next) {
        if (e != except && !e->idle && !e->has_reset) {
            return true;
        }
    }
    return false;
}

/* The timer is fed: a new timeout starts, every entry must reset again. */
static void feed_locked(void)
{
    wdt.fed_at_us = now_us(); /* the next timeout from now */
    for (entry_t *e = wdt.entries; e != NULL; e = e->next) {
        e->has_reset = false;
    }
    pthread_cond_signal(&changed);
}

static entry_t *find_task_locked(TaskHandle_t task)
{
    for (entry_t *e = wdt.entries; e != NULL; e = e->next) {
        if (e->task != NULL && e->task == task) {
            return e;
        }
    }
    return NULL;
}

static entry_t *find_user_locked(const void *block)
{
    for (entry_t *e = wdt.entries; e != NULL; e = e->next) {
        if (e->task == NULL && e->block == block) {
            return e;
        }
    }
    return NULL;
}

static void unlink_locked(const entry_t *gone)
{
    for (entry_t **at = &wdt.entries; *at != NULL; at = &(*at)->next) {
        if (*at == gone) {
            *at = gone->next;
            return;
        }
    }
}

/* Host memory of the entries dropped at a boot (their chip blocks went with the heaps). */
static void drop_all_locked(void)
{
    while (wdt.entries != NULL) {
        entry_t *e = wdt.entries;
        wdt.entries = e->next;
        __real_free(e);
    }
}

static void configure_locked(const esp_task_wdt_config_t *config)
{
    wdt.panic = config->trigger_panic;
    wdt.timeout_us = (int64_t)config->timeout_ms * 1000;
}

static bool valid_config(const esp_task_wdt_config_t *config)
{
    return config != NULL && config->idle_core_mask < (1u << CORES);
}

/* ---- the snapshot a printout is made from (no lock held while printing) ------------------- */

typedef struct {
    size_t count;
    int cpus;           /* cores of the entries, or-ed */
    const char **names; /* into the same host block */
    const char **cpu;
} pending_t;

static const char *cpu_text(BaseType_t core, int *bits)
{
    if (core == 0 || core == 1) {
        *bits = 1 << core;
        return core == 0 ? " (CPU 0)" : " (CPU 1)";
    }
    *bits = 3; /* a user, or a task on either core */
    return " (CPU 0/1)";
}

/* What a report calls the entry: a dangling handle's name is not known (the chip prints what its
 * freed TCB holds there). */
static const char *entry_name(const entry_t *e)
{
    return e->task == NULL ? e->user_name : e->dangling ? "(deleted task)" : e->task_name;
}

/* The entries that have not reset, copied: false when the host has no memory for it. */
static bool snapshot_locked(pending_t *out)
{
    size_t count = 0, text = 0;
    for (const entry_t *e = wdt.entries; e != NULL; e = e->next) {
        if (!e->idle && !e->has_reset) {
            count++;
            text += strlen(entry_name(e)) + 1;
        }
    }
    *out = (pending_t){0};
    char *block = __real_malloc(count * 2 * sizeof(char *) + text + 1);
    if (block == NULL) {
        return false;
    }
    out->names = (const char **)(void *)block;
    out->cpu = out->names + count;
    char *at = (char *)(out->cpu + count);
    for (const entry_t *e = wdt.entries; e != NULL; e = e->next) {
        if (!e->idle && !e->has_reset) {
            const char *name = entry_name(e);
            const size_t len = strlen(name) + 1;
            memcpy(at, name, len);
            int bits = 0;
            out->cpu[out->count] = cpu_text(e->core, &bits);
            out->names[out->count++] = at;
            out->cpus |= bits;
            at += len;
        }
    }
    return true;
}

static void print_pending(const pending_t *p, task_wdt_msg_handler handler, void *opaque)
{
    static const char caption[] = "Task watchdog got triggered. The following tasks/users did not "
                                  "reset the watchdog in time:";
    if (handler == NULL) {
        ESP_EARLY_LOGE(TAG, "%s", caption);
    } else {
        handler(opaque, caption);
    }
    for (size_t i = 0; i < p->count; i++) {
        if (handler == NULL) {
            ESP_EARLY_LOGE(TAG, " - %s%s", p->names[i], p->cpu[i]);
        } else {
            handler(opaque, "\n - ");
            handler(opaque, p->names[i]);
            handler(opaque, p->cpu[i]);
        }
    }
}

/* ---- the timer's interrupt ---------------------------------------------------------------- */

static _Noreturn void panic_abort(void)
{
    ESP_EARLY_LOGE(TAG, "Aborting.");
    fprintf(stderr, "abort() was called: task watchdog timeout with trigger_panic (the chip "
                    "panics and reboots, reset reason ESP_RST_TASK_WDT)\n");
    fflush(stdout);
    fflush(stderr);
    abort();
}

/* A timeout: the list, the user's handler (as an ISR), the count, the panic. No lock held. */
static void trigger(const pending_t *p, bool with_panic)
{
    print_pending(p, NULL, NULL);
    if (esp_task_wdt_isr_user_handler != NULL) {
        kraken_sim_isr_enter();
        esp_task_wdt_isr_user_handler();
        kraken_sim_isr_exit();
    }
    sim_count_task_wdt_trigger();
    if (with_panic) {
        panic_abort();
    }
}

static struct timespec deadline_of(int64_t at_us)
{
    return (struct timespec){.tv_sec = (time_t)(at_us / 1000000),
                             .tv_nsec = (long)(at_us % 1000000) * 1000};
}

static void *watch(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&lock);
    for (;;) {
        if (!wdt.initialised || !wdt.running) {
            pthread_cond_wait(&changed, &lock);
            continue;
        }
        const int64_t due = wdt.fed_at_us + wdt.timeout_us;
        const int64_t now = now_us();
        if (now < due) {
            const struct timespec until = deadline_of(due);
            pthread_cond_timedwait(&changed, &lock, &until);
            continue;
        }
        /* The interrupt feeds the timer (the chip's stage 0 clears, a timeout later it fires
         * again); the entries keep their flags. All reset: the idle hook's feed, no timeout. */
        wdt.fed_at_us = now;
        if (!someone_pending_locked(NULL)) {
            feed_locked();
            continue;
        }
        pending_t p;
        const bool listed = snapshot_locked(&p);
        const bool with_panic = wdt.panic;
        wdt.triggering = true;
        pthread_mutex_unlock(&lock);
        if (listed) {
            trigger(&p, with_panic);
            __real_free((void *)p.names);
        }
        pthread_mutex_lock(&lock);
        wdt.triggering = false;
        pthread_cond_broadcast(&changed); /* a deinit waiting for the report's end */
    }
    return NULL;
}

/* Lock held: the watcher thread runs (started with the first subscription a timeout can end). */
static void start_watcher_locked(void)
{
    if (watcher_running) {
        return;
    }
    pthread_t thread;
    if (pthread_create(&thread, NULL, watch, NULL) == 0) {
        pthread_detach(thread);
        watcher = thread;
        watcher_running = true;
    } else {
        ESP_LOGE(TAG, "no host thread for the watchdog: it will not trigger");
    }
}

/* fork(): the lock is held across it, so the child's copy is consistent (and its own); the child
 * has no watcher thread, nor waiters on the condition. */
static void before_fork(void)
{
    pthread_mutex_lock(&lock);
}

static void after_fork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

static void after_fork_child(void)
{
    init_cond();
    pthread_mutex_unlock(&lock);
    watcher_running = false;
}

static void once_setup(void)
{
    init_cond();
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

/* ---- subscriptions ------------------------------------------------------------------------- */

/* Lock held: the timer starts with the first entry; a new entry feeds it when every other has
 * reset (then it too must reset within a whole timeout). */
static void insert_locked(entry_t *e)
{
    e->next = wdt.entries;
    wdt.entries = e;
    const bool all_reset = !someone_pending_locked(e);
    if (!wdt.running) {
        wdt.running = true;
        wdt.fed_at_us = now_us();
    }
    if (all_reset) {
        feed_locked();
    }
    if (!e->idle) {
        start_watcher_locked();
    }
    pthread_cond_signal(&changed);
}

/* An entry for `task` (NULL: a user named user_name), with the task's name and core now. A
 * handle that is no live task (deleted) is kept, as the chip keeps the pointer, but not read:
 * the chip would read its freed TCB for the name and core when it reports it. */
static void describe(entry_t *e, TaskHandle_t task, const char *user_name)
{
    e->task = task;
    e->user_name = user_name;
    e->core = tskNO_AFFINITY;
    int32_t core = tskNO_AFFINITY;
    if (task != NULL && sim_task_describe(task, e->task_name, sizeof e->task_name, &core)) {
        e->core = (BaseType_t)core;
    } else if (task != NULL) {
        e->dangling = true;
        ESP_LOGW(TAG, "esp_task_wdt_add(%p): no live task (deleted?): subscribed, as the chip "
                      "does, which reads its freed TCB when it reports it",
                 (void *)task);
    }
}

/* ESP-IDF's add_entry(): the chip's block first (ESP_ERR_NO_MEM), then under the lock the state
 * and a duplicate task (the block freed again). */
static esp_err_t add_entry(TaskHandle_t task, const char *user_name, bool idle, void **block_out)
{
    void *block = calloc(1, CHIP_ENTRY_BYTES);
    entry_t *e = block != NULL ? __real_calloc(1, sizeof *e) : NULL;
    if (e == NULL) {
        free(block);
        return ESP_ERR_NO_MEM;
    }
    e->block = block;
    e->idle = idle;
    describe(e, task, user_name);
    pthread_once(&cond_once, once_setup);
    pthread_mutex_lock(&lock);
    esp_err_t err = ESP_OK;
    if (!wdt.initialised) {
        err = ESP_ERR_INVALID_STATE;
    } else if (task != NULL && find_task_locked(task) != NULL) {
        err = ESP_ERR_INVALID_ARG;
    } else {
        insert_locked(e);
    }
    pthread_mutex_unlock(&lock);
    if (err != ESP_OK) {
        /* ESP_GOTO_ON_FALSE_ISR's line there: the function and line, then the text */
        ESP_EARLY_LOGE(TAG, "%s(%d): %s", __func__, __LINE__,
                       err == ESP_ERR_INVALID_STATE ? "task watchdog was never initialized"
                                                    : "task is already subscribed");
        __real_free(e);
        free(block);
        return err;
    }
    if (block_out != NULL) {
        *block_out = block;
    }
    return ESP_OK;
}

/* ESP-IDF's delete_entry(): a task's entry, or a user's (task NULL, by its block). */
static esp_err_t delete_entry(TaskHandle_t task, const void *user_block)
{
    pthread_once(&cond_once, once_setup);
    pthread_mutex_lock(&lock);
    entry_t *e = NULL;
    esp_err_t err = ESP_OK;
    if (!wdt.initialised) {
        err = ESP_ERR_INVALID_STATE;
    } else {
        e = task != NULL ? find_task_locked(task) : find_user_locked(user_block);
        err = e != NULL ? ESP_OK : ESP_ERR_NOT_FOUND;
    }
    if (e != NULL) {
        unlink_locked(e);
        if (wdt.entries == NULL) {
            wdt.running = false; /* waits for the next subscription */
        } else if (!someone_pending_locked(NULL)) {
            feed_locked();
        }
    }
    pthread_mutex_unlock(&lock);
    if (err != ESP_OK) {
        ESP_EARLY_LOGE(TAG, "%s(%d): %s", __func__, __LINE__,
                       err == ESP_ERR_INVALID_STATE ? "task watchdog was never initialized"
                       : task != NULL               ? "task not found"
                                                    : "user not found");
        return err;
    }
    free(e->block); /* NULL for the boot's entries */
    __real_free(e);
    return ESP_OK;
}

/* The idle tasks of `mask`, as ESP-IDF subscribes them (core 0 first): a failure aborts, as its
 * ESP_ERROR_CHECK does. */
static void subscribe_idle(uint32_t mask)
{
    for (BaseType_t core = 0; core < CORES; core++) {
        if (mask & (1u << core)) {
            ESP_ERROR_CHECK(add_entry(xTaskGetIdleTaskHandleForCore(core), NULL, true, NULL));
        }
    }
}

static void unsubscribe_idle(uint32_t mask)
{
    for (BaseType_t core = 0; core < CORES; core++) {
        if (mask & (1u << core)) {
            ESP_ERROR_CHECK(delete_entry(xTaskGetIdleTaskHandleForCore(core), NULL));
        }
    }
}

/* ---- boot ---------------------------------------------------------------------------------- */

void sim_task_wdt_boot(void)
{
    pthread_once(&cond_once, once_setup);
    pthread_mutex_lock(&lock);
    drop_all_locked();
    wdt.initialised = false;
    wdt.obj_block = NULL;
    wdt.running = false;
    wdt.triggering = false;
    wdt.idle_core_mask = 0;
    if (CONFIG_ESP_TASK_WDT_EN && CONFIG_ESP_TASK_WDT_INIT) { /* app_startup.c's */
        const esp_task_wdt_config_t boot = {
            .timeout_ms = CONFIG_ESP_TASK_WDT_TIMEOUT_S * 1000u,
            .idle_core_mask = (CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU0 ? 1u : 0u) |
                              (CONFIG_ESP_TASK_WDT_CHECK_IDLE_TASK_CPU1 ? 2u : 0u),
            .trigger_panic = CONFIG_ESP_TASK_WDT_PANIC,
        };
        wdt.initialised = true;
        configure_locked(&boot);
        wdt.idle_core_mask = boot.idle_core_mask;
        /* Boot memory (no heap call here): entries in host memory only, as the boot's object. */
        for (BaseType_t core = 0; core < CORES; core++) {
            entry_t *e = (boot.idle_core_mask & (1u << core)) ? __real_calloc(1, sizeof *e) : NULL;
            if (e != NULL) {
                e->idle = true;
                describe(e, xTaskGetIdleTaskHandleForCore(core), NULL);
                insert_locked(e);
            }
        }
    }
    pthread_cond_signal(&changed);
    pthread_mutex_unlock(&lock);
}

/* ---- the API ------------------------------------------------------------------------------- */

/* Every call starts here: the simulated boot has initialised the watchdog (or not). */
static bool enabled(void)
{
    if (!CONFIG_ESP_TASK_WDT_EN) {
        return false;
    }
    sim_boot_once();
    pthread_once(&cond_once, once_setup);
    return true;
}

static bool initialised(void)
{
    pthread_mutex_lock(&lock);
    const bool yes = wdt.initialised;
    pthread_mutex_unlock(&lock);
    return yes;
}

esp_err_t esp_task_wdt_init(const esp_task_wdt_config_t *config)
{
    if (!enabled()) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    ESP_RETURN_ON_FALSE(valid_config(config), ESP_ERR_INVALID_ARG, TAG, "Invalid arguments");
    ESP_RETURN_ON_FALSE(!initialised(), ESP_ERR_INVALID_STATE, TAG, "TWDT already initialized");
    void *obj = calloc(1, CHIP_OBJ_BYTES);
    ESP_RETURN_ON_FALSE(obj != NULL, ESP_ERR_NO_MEM, TAG, "insufficient memory");
    pthread_mutex_lock(&lock);
    const bool raced = wdt.initialised; /* ESP-IDF: "must not be called by multiple tasks" */
    if (!raced) {
        wdt.initialised = true;
        wdt.obj_block = obj;
        wdt.running = false;
        wdt.idle_core_mask = config->idle_core_mask;
        configure_locked(config);
    }
    pthread_mutex_unlock(&lock);
    if (raced) {
        free(obj);
        ESP_LOGE(TAG, "TWDT already initialized");
        return ESP_ERR_INVALID_STATE;
    }
    subscribe_idle(config->idle_core_mask);
    return ESP_OK;
}

esp_err_t esp_task_wdt_reconfigure(const esp_task_wdt_config_t *config)
{
    if (!enabled()) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    ESP_RETURN_ON_FALSE(valid_config(config), ESP_ERR_INVALID_ARG, TAG, "Invalid arguments");
    ESP_RETURN_ON_FALSE(initialised(), ESP_ERR_INVALID_STATE, TAG, "TWDT not initialized yet");
    pthread_mutex_lock(&lock);
    configure_locked(config);
    const uint32_t old_mask = wdt.idle_core_mask;
    wdt.idle_core_mask = config->idle_core_mask;
    pthread_mutex_unlock(&lock);
    if (old_mask != config->idle_core_mask) {
        unsubscribe_idle(old_mask);
        subscribe_idle(config->idle_core_mask);
    }
    pthread_mutex_lock(&lock);
    if (wdt.entries != NULL) { /* restarted: a whole new timeout */
        wdt.running = true;
        wdt.fed_at_us = now_us();
    }
    pthread_cond_signal(&changed);
    pthread_mutex_unlock(&lock);
    return ESP_OK;
}

esp_err_t esp_task_wdt_deinit(void)
{
    if (!enabled()) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    ESP_RETURN_ON_FALSE(initialised(), ESP_ERR_INVALID_STATE, TAG, "TWDT was never initialized");
    pthread_mutex_lock(&lock);
    /* A timeout being reported ends first: the chip's interrupt holds the watchdog's lock while
     * it prints (not when the user handler calls this). */
    while (wdt.triggering && !(watcher_running && pthread_equal(watcher, pthread_self()))) {
        pthread_cond_wait(&changed, &lock);
    }
    bool others = false;
    for (const entry_t *e = wdt.entries; e != NULL; e = e->next) {
        others |= !e->idle;
    }
    const uint32_t mask = wdt.idle_core_mask;
    pthread_mutex_unlock(&lock);
    /* ESP-IDF unsubscribes the idle tasks, finds others and subscribes them again: the same
     * subscriptions in the end, left alone here. */
    ESP_RETURN_ON_FALSE(!others, ESP_ERR_INVALID_STATE, TAG, "Tasks/users still subscribed");
    unsubscribe_idle(mask);
    pthread_mutex_lock(&lock);
    if (wdt.entries != NULL) { /* a task subscribed meanwhile (ESP-IDF: not concurrently) */
        pthread_mutex_unlock(&lock);
        subscribe_idle(mask);
        ESP_LOGE(TAG, "Tasks/users still subscribed");
        return ESP_ERR_INVALID_STATE;
    }
    void *obj = wdt.obj_block;
    wdt.initialised = false;
    wdt.obj_block = NULL;
    wdt.running = false;
    wdt.idle_core_mask = 0;
    pthread_mutex_unlock(&lock);
    free(obj); /* NULL for the boot's */
    return ESP_OK;
}

esp_err_t esp_task_wdt_add(TaskHandle_t task_handle)
{
    if (!enabled()) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    ESP_RETURN_ON_FALSE(initialised(), ESP_ERR_INVALID_STATE, TAG, "TWDT was never initialized");
    return add_entry(task_handle != NULL ? task_handle : xTaskGetCurrentTaskHandle(), NULL, false,
                     NULL);
}

esp_err_t esp_task_wdt_add_user(const char *user_name, esp_task_wdt_user_handle_t *user_handle_ret)
{
    if (!enabled()) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    ESP_RETURN_ON_FALSE(user_name != NULL && user_handle_ret != NULL, ESP_ERR_INVALID_ARG, TAG,
                        "Invalid arguments");
    ESP_RETURN_ON_FALSE(initialised(), ESP_ERR_INVALID_STATE, TAG, "TWDT was never initialized");
    void *block = NULL;
    const esp_err_t err = add_entry(NULL, user_name, false, &block);
    if (err == ESP_OK) {
        *user_handle_ret = (esp_task_wdt_user_handle_t)block;
    }
    return err;
}

/* Lock held: entry e resets; the last of a round feeds. */
static void reset_locked(entry_t *e)
{
    e->has_reset = true;
    if (!someone_pending_locked(e)) {
        feed_locked();
    }
}

esp_err_t esp_task_wdt_reset(void)
{
    if (!enabled()) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    ESP_RETURN_ON_FALSE(initialised(), ESP_ERR_INVALID_STATE, TAG, "TWDT was never initialized");
    TaskHandle_t self = xTaskGetCurrentTaskHandle();
    pthread_mutex_lock(&lock);
    entry_t *e = find_task_locked(self);
    if (e != NULL) {
        reset_locked(e);
    }
    pthread_mutex_unlock(&lock);
    ESP_RETURN_ON_FALSE_ISR(e != NULL, ESP_ERR_NOT_FOUND, TAG, "task not found");
    return ESP_OK;
}

esp_err_t esp_task_wdt_reset_user(esp_task_wdt_user_handle_t user_handle)
{
    if (!enabled()) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    ESP_RETURN_ON_FALSE(user_handle != NULL, ESP_ERR_INVALID_ARG, TAG, "Invalid arguments");
    ESP_RETURN_ON_FALSE(initialised(), ESP_ERR_INVALID_STATE, TAG, "TWDT was never initialized");
    pthread_mutex_lock(&lock);
    entry_t *e = find_user_locked(user_handle);
    if (e != NULL) {
        reset_locked(e);
    }
    pthread_mutex_unlock(&lock);
    ESP_RETURN_ON_FALSE_ISR(e != NULL, ESP_ERR_NOT_FOUND, TAG, "user handle not found");
    return ESP_OK;
}

esp_err_t esp_task_wdt_delete(TaskHandle_t task_handle)
{
    if (!enabled()) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    ESP_RETURN_ON_FALSE(initialised(), ESP_ERR_INVALID_STATE, TAG, "TWDT was never initialized");
    return delete_entry(task_handle != NULL ? task_handle : xTaskGetCurrentTaskHandle(), NULL);
}

esp_err_t esp_task_wdt_delete_user(esp_task_wdt_user_handle_t user_handle)
{
    if (!enabled()) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    ESP_RETURN_ON_FALSE(user_handle != NULL, ESP_ERR_INVALID_ARG, TAG, "Invalid arguments");
    ESP_RETURN_ON_FALSE(initialised(), ESP_ERR_INVALID_STATE, TAG, "TWDT was never initialized");
    return delete_entry(NULL, user_handle);
}

esp_err_t esp_task_wdt_status(TaskHandle_t task_handle)
{
    if (!enabled()) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    ESP_RETURN_ON_FALSE(initialised(), ESP_ERR_INVALID_STATE, TAG, "TWDT was never initialized");
    TaskHandle_t task = task_handle != NULL ? task_handle : xTaskGetCurrentTaskHandle();
    pthread_mutex_lock(&lock);
    const bool found = find_task_locked(task) != NULL;
    pthread_mutex_unlock(&lock);
    return found ? ESP_OK : ESP_ERR_NOT_FOUND;
}

esp_err_t esp_task_wdt_print_triggered_tasks(task_wdt_msg_handler msg_handler, void *opaque,
                                             int *cpus_fail)
{
    if (!enabled()) {
        return ESP_ERR_NOT_SUPPORTED;
    }
    pthread_mutex_lock(&lock);
    const bool any = wdt.initialised && wdt.entries != NULL;
    pending_t p = {0};
    const bool listed = any && snapshot_locked(&p);
    pthread_mutex_unlock(&lock);
    if (!listed) {
        return ESP_FAIL;
    }
    print_pending(&p, msg_handler, opaque);
    if (cpus_fail != NULL) {
        *cpus_fail |= p.cpus;
    }
    __real_free((void *)p.names);
    return ESP_OK;
}
