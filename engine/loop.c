/*
 * loop.c — wpo.core.loop: the event loop. A curl multi handle (made at the
 * first transfer: a run that sends no request never loads libcurl), a heap of
 * timers, a queue of results posted by worker threads (which wake the loop
 * through an eventfd), and the interrupt signals (SIGINT, SIGTERM), all
 * turned into completions by loop.wait. It owns the operations' ids and
 * their lifetimes; it never resumes a coroutine (stdlib/wpo/task.lua does)
 * and never calls Lua from a curl callback or a worker thread. The C side for
 * other modules is engine/loop.h; HTTP requests themselves are http.c's.
 *
 * Lua API
 *   loop.wait(timeout_ms?) -> completions
 *       An array of { id = integer, ok = true, value = any } or
 *       { id = integer, ok = false, err = string, code = string }, in this
 *       order: interrupt records, cancellations, timers (by due time),
 *       transfers, worker results. timeout_ms 0 polls; nil or negative blocks
 *       until at least one completion; positive blocks at most that long. With
 *       nothing pending (and no signal to report) it returns {} at once.
 *   loop.timer(ms) -> id            completes ok (value true) after ms
 *   loop.cancel(id) -> boolean      true if id was pending and not already
 *       cancelled; it then completes with ok = false, code = "cancelled".
 *   loop.outstanding() -> integer       operations started and not yet delivered
 *   loop.outstanding(id) -> boolean     whether id is one of them
 *   loop.outstanding(kind) -> integer   those of one kind: "timer", "transfer", "worker"
 *   loop.now() -> ms                monotonic clock, float milliseconds
 *   loop.catch_interrupts(on) -> was    install (true) or remove (false)
 *       wpo's handler of SIGINT and SIGTERM; returns whether it was installed
 *       for this loop. Removing it restores the previous dispositions.
 *   loop.interrupts() -> integer    signals received since catching began
 *
 * Interrupts: while caught, each SIGINT or SIGTERM wakes a blocked wait() and
 * is reported once, in the order they arrived, as a record in wait()'s result:
 *     { id = 0, ok = false, code = "interrupt", err = "interrupted (SIGTERM)",
 *       signal = "SIGTERM", count = n }
 * where n counts both signals together since catching began (1 for the
 * first, 2 for the second, whichever they were). Id 0 is never an
 * operation's id. The handler is process-wide; the last loop that asked for
 * it receives the signals.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include "curlapi.h"
#include "loop.h"

#define LOOP_STATE_MT "wpo.core.loop.state"
#define POLL_SLICE_MS 60000

enum op_kind { OP_TIMER, OP_TRANSFER, OP_WORKER };

struct op {
    int64_t id;
    enum op_kind kind;
    int cancelled;              /* resources released; completion queued */
    struct op *hnext;           /* hash chain */
    struct op *cnext;           /* list of cancelled ops awaiting delivery */
    union {
        struct { double due; size_t slot; } timer;
        struct { CURL *easy; const struct wpo_loop_transfer_type *type; void *ctx; } xfer;
        struct { const struct wpo_loop_op_type *type; void *ctx; } work;
    } u;
};

struct posted {
    int64_t id;
    const struct wpo_loop_op_type *type;
    void *result;
    struct posted *next;
};

struct wpo_loop_queue {
    pthread_mutex_t mu;
    int refs;
    int open;                   /* 0 once the loop closed */
    int wake_fd;                /* eventfd: a post makes it readable; -1 once closed */
    struct posted *head, *tail;
    struct posted *spare;       /* one node reserved per started worker operation */
};

struct wpo_loop {
    int closed;
    CURLM *multi;               /* NULL until the first transfer */
    struct wpo_loop_queue *queue;
    int64_t next_id;
    struct op **buckets;
    size_t nbuckets, count;
    size_t by_kind[3];          /* count by enum op_kind */
    struct op **heap;
    size_t heap_len, heap_cap;
    struct op *cancelled_head, *cancelled_tail;
    struct posted *draining;    /* taken from the queue, not yet delivered */
    int sig_catching;
    int sig_base, sig_seen;
};

static char loop_key;
static char undelivered_key;    /* completions collected by a wait that then raised */

/* ---- SIGINT and SIGTERM (process-wide) ---- */

/* The handler appends each signal to a ring the loop reads from: the count
 * only grows, and the handler masks both signals, so it never races itself. */
#define SIG_RING 64
static volatile sig_atomic_t sig_count;
static volatile sig_atomic_t sig_ring[SIG_RING];
static int sig_pipe[2] = {-1, -1};
static struct sigaction sig_prev_int, sig_prev_term;
static struct wpo_loop *sig_owner;

static void on_interrupt(int signo)
{
    int saved = errno;
    sig_ring[sig_count % SIG_RING] = signo;
    sig_count++;
    if (sig_pipe[1] >= 0) {
        ssize_t r = write(sig_pipe[1], "i", 1);
        (void)r;
    }
    errno = saved;
}

static void drain_sig_pipe(void)
{
    char buf[64];
    while (read(sig_pipe[0], buf, sizeof buf) > 0)
        ;
}

static int interrupts_catch(struct wpo_loop *loop, char *err, size_t errlen)
{
    if (sig_pipe[0] < 0 && pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(err, errlen, "cannot create the signal pipe: %s", strerror(errno));
        return -1;
    }
    if (!sig_owner) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_interrupt;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaddset(&sa.sa_mask, SIGINT);
        sigaddset(&sa.sa_mask, SIGTERM);
        if (sigaction(SIGINT, &sa, &sig_prev_int) != 0) {
            snprintf(err, errlen, "cannot install the SIGINT handler: %s", strerror(errno));
            return -1;
        }
        if (sigaction(SIGTERM, &sa, &sig_prev_term) != 0) {
            snprintf(err, errlen, "cannot install the SIGTERM handler: %s", strerror(errno));
            sigaction(SIGINT, &sig_prev_int, NULL);
            return -1;
        }
    } else {
        sig_owner->sig_catching = 0;
    }
    sig_owner = loop;
    loop->sig_catching = 1;
    loop->sig_base = loop->sig_seen = sig_count;
    return 0;
}

static void interrupts_release(struct wpo_loop *loop)
{
    loop->sig_catching = 0;
    if (sig_owner != loop)
        return;
    sigaction(SIGINT, &sig_prev_int, NULL);
    sigaction(SIGTERM, &sig_prev_term, NULL);
    sig_owner = NULL;
}

/* ---- helpers ---- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- the id -> op table ---- */

static struct op *table_find(struct wpo_loop *loop, int64_t id)
{
    if (!loop->nbuckets)
        return NULL;
    for (struct op *op = loop->buckets[(uint64_t)id & (loop->nbuckets - 1)]; op; op = op->hnext)
        if (op->id == id)
            return op;
    return NULL;
}

static int table_add(struct wpo_loop *loop, struct op *op)
{
    if (loop->count >= loop->nbuckets) {
        size_t n = loop->nbuckets ? loop->nbuckets * 2 : 64;
        struct op **b = calloc(n, sizeof *b);
        if (!b)
            return -1;
        for (size_t i = 0; i < loop->nbuckets; i++) {
            struct op *o = loop->buckets[i], *next;
            for (; o; o = next) {
                next = o->hnext;
                size_t k = (uint64_t)o->id & (n - 1);
                o->hnext = b[k];
                b[k] = o;
            }
        }
        free(loop->buckets);
        loop->buckets = b;
        loop->nbuckets = n;
    }
    size_t k = (uint64_t)op->id & (loop->nbuckets - 1);
    op->hnext = loop->buckets[k];
    loop->buckets[k] = op;
    loop->count++;
    loop->by_kind[op->kind]++;
    return 0;
}

static void table_remove(struct wpo_loop *loop, struct op *op)
{
    struct op **p = &loop->buckets[(uint64_t)op->id & (loop->nbuckets - 1)];
    for (; *p; p = &(*p)->hnext) {
        if (*p == op) {
            *p = op->hnext;
            loop->count--;
            loop->by_kind[op->kind]--;
            return;
        }
    }
}

static struct op *op_new(struct wpo_loop *loop, enum op_kind kind)
{
    struct op *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    op->id = ++loop->next_id;
    op->kind = kind;
    if (table_add(loop, op) != 0) {
        free(op);
        return NULL;
    }
    return op;
}

/* ---- the timer heap, ordered by (due, id) ---- */

static int timer_before(const struct op *a, const struct op *b)
{
    if (a->u.timer.due != b->u.timer.due)
        return a->u.timer.due < b->u.timer.due;
    return a->id < b->id;
}

static void heap_place(struct wpo_loop *loop, size_t i, struct op *op)
{
    loop->heap[i] = op;
    op->u.timer.slot = i;
}

static void heap_up(struct wpo_loop *loop, size_t i)
{
    struct op *op = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(op, loop->heap[parent]))
            break;
        heap_place(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_place(loop, i, op);
}

static void heap_down(struct wpo_loop *loop, size_t i)
{
    struct op *op = loop->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= loop->heap_len)
            break;
        if (c + 1 < loop->heap_len && timer_before(loop->heap[c + 1], loop->heap[c]))
            c++;
        if (!timer_before(loop->heap[c], op))
            break;
        heap_place(loop, i, loop->heap[c]);
        i = c;
    }
    heap_place(loop, i, op);
}

static int heap_push(struct wpo_loop *loop, struct op *op)
{
    if (loop->heap_len == loop->heap_cap) {
        size_t n = loop->heap_cap ? loop->heap_cap * 2 : 16;
        struct op **h = realloc(loop->heap, n * sizeof *h);
        if (!h)
            return -1;
        loop->heap = h;
        loop->heap_cap = n;
    }
    loop->heap[loop->heap_len++] = op;
    heap_up(loop, loop->heap_len - 1);
    return 0;
}

static void heap_remove(struct wpo_loop *loop, struct op *op)
{
    size_t i = op->u.timer.slot;
    struct op *last = loop->heap[--loop->heap_len];
    if (i == loop->heap_len)
        return;
    heap_place(loop, i, last);
    heap_up(loop, i);
    heap_down(loop, last->u.timer.slot);
}

/* ---- the worker queue ---- */

static void queue_free_posted(struct posted *p)
{
    while (p) {
        struct posted *next = p->next;
        p->type->free_result(p->result);
        free(p);
        p = next;
    }
}

void wpo_loop_queue_unref(struct wpo_loop_queue *q)
{
    pthread_mutex_lock(&q->mu);
    int last = --q->refs == 0;
    pthread_mutex_unlock(&q->mu);
    if (!last)
        return;
    queue_free_posted(q->head);
    while (q->spare) {
        struct posted *next = q->spare->next;
        free(q->spare);
        q->spare = next;
    }
    pthread_mutex_destroy(&q->mu);
    free(q);
}

void wpo_loop_post(struct wpo_loop_queue *q, int64_t id,
                   const struct wpo_loop_op_type *type, void *result)
{
    /* The node was reserved by wpo_loop_op_start, so posting cannot fail. */
    pthread_mutex_lock(&q->mu);
    struct posted *p = q->spare;
    if (p)
        q->spare = p->next;
    pthread_mutex_unlock(&q->mu);
    if (!p && !(p = malloc(sizeof *p))) {
        /* Only a post without wpo_loop_op_start gets here: its result is
         * freed, and no operation of the loop waits for it. */
        type->free_result(result);
        return;
    }
    p->id = id;
    p->type = type;
    p->result = result;
    p->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->open) {
        if (q->tail)
            q->tail->next = p;
        else
            q->head = p;
        q->tail = p;
        /* never blocks (the counter is far from its limit); a failed write
         * would only delay delivery to the next poll slice */
        uint64_t one = 1;
        ssize_t w = write(q->wake_fd, &one, sizeof one);
        (void)w;
        p = NULL;
    }
    pthread_mutex_unlock(&q->mu);
    if (p)  /* the loop is closed */
        queue_free_posted(p);
}

/* ---- the loop's lifetime ---- */

static void op_release(struct wpo_loop *loop, struct op *op)
{
    if (op->cancelled)
        return;
    switch (op->kind) {
    case OP_TIMER:
        heap_remove(loop, op);
        break;
    case OP_TRANSFER:
        wpo_curl.multi_remove_handle(loop->multi, op->u.xfer.easy);
        wpo_curl.easy_cleanup(op->u.xfer.easy);
        op->u.xfer.type->free(op->u.xfer.ctx);
        break;
    case OP_WORKER:
        if (op->u.work.type->release)
            op->u.work.type->release(op->u.work.ctx, 1);
        break;
    }
    op->cancelled = 1;
}

static void loop_close(struct wpo_loop *loop)
{
    if (loop->closed)
        return;
    loop->closed = 1;
    interrupts_release(loop);
    for (size_t i = 0; i < loop->nbuckets; i++) {
        struct op *op = loop->buckets[i], *next;
        for (; op; op = next) {
            next = op->hnext;
            op_release(loop, op);
            free(op);
        }
    }
    free(loop->buckets);
    loop->buckets = NULL;
    loop->nbuckets = loop->count = 0;
    memset(loop->by_kind, 0, sizeof loop->by_kind);
    free(loop->heap);
    loop->heap = NULL;
    loop->heap_len = loop->heap_cap = 0;
    loop->cancelled_head = loop->cancelled_tail = NULL;

    queue_free_posted(loop->draining);
    loop->draining = NULL;
    struct wpo_loop_queue *q = loop->queue;
    pthread_mutex_lock(&q->mu);
    q->open = 0;
    /* closed here, not with the last reference: a worker still running
     * keeps the queue, but never writes to a closed one */
    close(q->wake_fd);
    q->wake_fd = -1;
    struct posted *left = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    queue_free_posted(left);
    wpo_loop_queue_unref(q);
    loop->queue = NULL;
    if (loop->multi)
        wpo_curl.multi_cleanup(loop->multi);
    loop->multi = NULL;
}

static int l_loop_state_gc(lua_State *L)
{
    loop_close(luaL_checkudata(L, 1, LOOP_STATE_MT));
    return 0;
}

static int l_loop_state_tostring(lua_State *L)
{
    struct wpo_loop *loop = luaL_checkudata(L, 1, LOOP_STATE_MT);
    if (loop->closed)
        lua_pushliteral(L, "wpo loop (closed)");
    else
        lua_pushfstring(L, "wpo loop (%d pending)", (int)loop->count);
    return 1;
}

/* The loop of L, created on first use. Raises only on out-of-memory or when
 * the eventfd cannot be made. */
static struct wpo_loop *loop_get(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &loop_key) == LUA_TUSERDATA) {
        struct wpo_loop *loop = lua_touserdata(L, -1);
        lua_pop(L, 1);
        return loop;
    }
    lua_pop(L, 1);

    struct wpo_loop *loop = lua_newuserdatauv(L, sizeof *loop, 0);
    memset(loop, 0, sizeof *loop);
    loop->closed = 1;   /* until fully built, __gc has nothing to free */
    if (luaL_newmetatable(L, LOOP_STATE_MT)) {
        lua_pushcfunction(L, l_loop_state_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_loop_state_gc);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, l_loop_state_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_setmetatable(L, -2);

    struct wpo_loop_queue *q = calloc(1, sizeof *q);
    if (!q) {
        luaL_error(L, "cannot create the event loop: out of memory");
        return NULL;
    }
    q->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->wake_fd < 0) {
        int e = errno;
        free(q);
        luaL_error(L, "cannot create the event loop: eventfd: %s", strerror(e));
        return NULL;
    }
    pthread_mutex_init(&q->mu, NULL);
    q->refs = 1;
    q->open = 1;
    loop->queue = q;
    loop->closed = 0;
    lua_rawsetp(L, LUA_REGISTRYINDEX, &loop_key);
    return loop;
}

/* ---- the C API (loop.h) ---- */

int64_t wpo_loop_op_start(lua_State *L, const struct wpo_loop_op_type *type, void *ctx)
{
    struct wpo_loop *loop = loop_get(L);
    if (loop->closed)
        return -1;
    struct posted *node = malloc(sizeof *node);
    if (!node)
        return -1;
    struct op *op = op_new(loop, OP_WORKER);
    if (!op) {
        free(node);
        return -1;
    }
    pthread_mutex_lock(&loop->queue->mu);
    node->next = loop->queue->spare;
    loop->queue->spare = node;
    pthread_mutex_unlock(&loop->queue->mu);
    op->u.work.type = type;
    op->u.work.ctx = ctx;
    return op->id;
}

struct wpo_loop_queue *wpo_loop_queue_ref(lua_State *L)
{
    struct wpo_loop *loop = loop_get(L);
    if (loop->closed)
        return NULL;
    pthread_mutex_lock(&loop->queue->mu);
    loop->queue->refs++;
    pthread_mutex_unlock(&loop->queue->mu);
    return loop->queue;
}

/* The multi handle, made at the first transfer: 0, or -1 with a message */
static int multi_ready(struct wpo_loop *loop, char *err, size_t errlen)
{
    if (loop->multi)
        return 0;
    if (wpo_curl_load(err, errlen) != 0)
        return -1;
    CURLM *multi = wpo_curl.multi_init();
    if (!multi) {
        snprintf(err, errlen, "cannot create curl's multi handle: out of memory");
        return -1;
    }
    /* Keep-alive: idle connections stay in the multi handle's cache, shared
     * by every request, up to this many. */
    CURLMcode mc = wpo_curl.multi_setopt(multi, CURLMOPT_MAXCONNECTS, 128L);
    if (mc == CURLM_OK)
        mc = wpo_curl.multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
    if (mc != CURLM_OK) {
        snprintf(err, errlen, "curl_multi_setopt: %s", wpo_curl.multi_strerror(mc));
        wpo_curl.multi_cleanup(multi);
        return -1;
    }
    loop->multi = multi;
    return 0;
}

int64_t wpo_loop_transfer_start(lua_State *L, CURL *easy,
                                const struct wpo_loop_transfer_type *type, void *ctx,
                                char *err, size_t errlen)
{
    struct wpo_loop *loop = loop_get(L);
    if (loop->closed) {
        snprintf(err, errlen, "the event loop is closed");
        return -1;
    }
    if (multi_ready(loop, err, errlen) != 0)
        return -1;
    struct op *op = op_new(loop, OP_TRANSFER);
    if (!op) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    op->u.xfer.easy = easy;
    op->u.xfer.type = type;
    op->u.xfer.ctx = ctx;
    CURLcode ec = wpo_curl.easy_setopt(easy, CURLOPT_PRIVATE, (void *)op);
    if (ec != CURLE_OK) {
        snprintf(err, errlen, "curl_easy_setopt(CURLOPT_PRIVATE): %s", wpo_curl.easy_strerror(ec));
        table_remove(loop, op);
        free(op);
        return -1;
    }
    CURLMcode mc = wpo_curl.multi_add_handle(loop->multi, easy);
    if (mc != CURLM_OK) {
        snprintf(err, errlen, "%s", wpo_curl.multi_strerror(mc));
        table_remove(loop, op);
        free(op);
        return -1;
    }
    return op->id;
}

/* ---- completions ---- */

struct conversion {
    struct op *op;
    void *result;       /* a worker's */
    CURLcode code;      /* a transfer's */
};

/* Runs protected: (conversion) -> ok, value | false, message, code */
static int convert_protected(lua_State *L)
{
    struct conversion *c = lua_touserdata(L, 1);
    lua_settop(L, 0);
    int r;
    if (c->op->kind == OP_TRANSFER)
        r = c->op->u.xfer.type->convert(L, c->op->u.xfer.easy, c->code, c->op->u.xfer.ctx);
    else
        r = c->op->u.work.type->convert(L, c->result);
    int want = r == WPO_LOOP_OK ? 1 : 2;
    if (lua_gettop(L) != want)
        return luaL_error(L, "conversion pushed %d values instead of %d", lua_gettop(L), want);
    lua_pushboolean(L, r == WPO_LOOP_OK);
    lua_insert(L, 1);
    lua_settop(L, 3);
    return 3;
}

/* Append { id, ok = false, err, code } built from the strings on top. */
static int push_failure(lua_State *L, int list, int n, int64_t id, const char *err, const char *code)
{
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)id);
    lua_setfield(L, -2, "id");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "ok");
    lua_pushstring(L, err);
    lua_setfield(L, -2, "err");
    lua_pushstring(L, code);
    lua_setfield(L, -2, "code");
    lua_rawseti(L, list, ++n);
    return n;
}

static int push_converted(lua_State *L, int list, int n, struct conversion *c)
{
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)c->op->id);
    lua_setfield(L, -2, "id");
    lua_pushcfunction(L, convert_protected);
    lua_pushlightuserdata(L, c);
    if (lua_pcall(L, 1, 3, 0) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        lua_pushboolean(L, 0);
        lua_setfield(L, -3, "ok");
        lua_pushstring(L, msg ? msg : "conversion failed");
        lua_setfield(L, -3, "err");
        lua_pushliteral(L, "internal");
        lua_setfield(L, -3, "code");
        lua_pop(L, 1);
    } else if (lua_toboolean(L, -3)) {
        lua_pop(L, 1);
        lua_setfield(L, -3, "value");
        lua_setfield(L, -2, "ok");
    } else {
        lua_setfield(L, -4, "code");
        lua_setfield(L, -3, "err");
        lua_setfield(L, -2, "ok");
    }
    lua_rawseti(L, list, ++n);
    return n;
}

/* Everything ready now, appended to the array at index list. */
static int collect(lua_State *L, struct wpo_loop *loop, int list, int n)
{
    int running;
    CURLMcode pmc = loop->multi ? wpo_curl.multi_perform(loop->multi, &running) : CURLM_OK;
    if (pmc != CURLM_OK)
        return luaL_error(L, "loop.wait: curl_multi_perform: %s", wpo_curl.multi_strerror(pmc));

    if (loop->sig_catching) {
        int seen_now = sig_count;
        if (seen_now - loop->sig_seen > SIG_RING)      /* more than the ring holds: the oldest are lost */
            loop->sig_seen = seen_now - SIG_RING;
        while (loop->sig_seen != seen_now) {
            int signo = sig_ring[loop->sig_seen % SIG_RING];
            const char *name = signo == SIGTERM ? "SIGTERM" : "SIGINT";
            char msg[32];
            snprintf(msg, sizeof msg, "interrupted (%s)", name);
            loop->sig_seen++;
            n = push_failure(L, list, n, 0, msg, "interrupt");
            lua_rawgeti(L, list, n);
            lua_pushstring(L, name);
            lua_setfield(L, -2, "signal");
            lua_pushinteger(L, loop->sig_seen - loop->sig_base);
            lua_setfield(L, -2, "count");
            lua_pop(L, 1);
        }
    }

    while (loop->cancelled_head) {
        struct op *op = loop->cancelled_head;
        int64_t id = op->id;
        char msg[64];
        snprintf(msg, sizeof msg, "operation %lld cancelled", (long long)id);
        n = push_failure(L, list, n, id, msg, "cancelled");   /* may raise: op still listed */
        loop->cancelled_head = op->cnext;
        if (!loop->cancelled_head)
            loop->cancelled_tail = NULL;
        table_remove(loop, op);
        free(op);
    }

    double t = now_ms();
    while (loop->heap_len && loop->heap[0]->u.timer.due <= t) {
        struct op *op = loop->heap[0];
        int64_t id = op->id;
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, (lua_Integer)id);
        lua_setfield(L, -2, "id");
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "ok");
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "value");
        lua_rawseti(L, list, ++n);
        heap_remove(loop, op);          /* after the raising calls */
        table_remove(loop, op);
        free(op);
    }

    CURLMsg *m;
    int left;
    while (loop->multi && (m = wpo_curl.multi_info_read(loop->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        struct conversion c = { NULL, NULL, m->data.result };
        char *priv = NULL;
        wpo_curl.easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        c.op = (struct op *)(void *)priv;
        wpo_curl.multi_remove_handle(loop->multi, easy);
        /* the op stays in the table while converting may raise: then
         * loop_close frees its handle and ctx */
        n = push_converted(L, list, n, &c);
        table_remove(loop, c.op);
        wpo_curl.easy_cleanup(easy);
        c.op->u.xfer.type->free(c.op->u.xfer.ctx);
        free(c.op);
    }

    /* Results taken from the queue wait in loop->draining until delivered:
     * if building a completion raises (out of memory), the rest are still
     * there for the next wait, and loop_close frees them. */
    pthread_mutex_lock(&loop->queue->mu);
    struct posted *taken = loop->queue->head;
    loop->queue->head = loop->queue->tail = NULL;
    pthread_mutex_unlock(&loop->queue->mu);
    if (taken) {
        struct posted **end = &loop->draining;
        while (*end)
            end = &(*end)->next;
        *end = taken;
    }
    while (loop->draining) {
        struct posted *p = loop->draining;
        struct op *op = table_find(loop, p->id);
        if (op && op->kind == OP_WORKER && !op->cancelled) {
            struct conversion c = { op, p->result, CURLE_OK };
            n = push_converted(L, list, n, &c);
            table_remove(loop, op);
            if (op->u.work.type->release)
                op->u.work.type->release(op->u.work.ctx, 0);
            free(op);
        }
        /* else: cancelled, or never ours; dropped. */
        loop->draining = p->next;
        p->type->free_result(p->result);
        free(p);
    }
    return n;
}

/* Blocks at most ms for a transfer's socket (once there is a multi handle),
 * a worker's post or a caught signal; drains the wakeups it saw. 0, or -1
 * with a message in err. */
static int wait_readable(struct wpo_loop *loop, int ms, char *err, size_t errlen)
{
    int wake = loop->queue->wake_fd;
    int sig = loop->sig_catching && sig_pipe[0] >= 0 ? sig_pipe[0] : -1;
    int woken = 0, signalled = 0;
    if (loop->multi) {
        struct curl_waitfd extra[2] = { { wake, CURL_WAIT_POLLIN, 0 }, { sig, CURL_WAIT_POLLIN, 0 } };
        CURLMcode mc = wpo_curl.multi_poll(loop->multi, extra, sig >= 0 ? 2 : 1, ms, NULL);
        if (mc != CURLM_OK) {
            snprintf(err, errlen, "curl_multi_poll: %s", wpo_curl.multi_strerror(mc));
            return -1;
        }
        woken = extra[0].revents != 0;
        signalled = sig >= 0 && extra[1].revents != 0;
    } else {
        struct pollfd fds[2] = { { wake, POLLIN, 0 }, { sig, POLLIN, 0 } };
        int r = poll(fds, sig >= 0 ? 2 : 1, ms);
        if (r < 0 && errno != EINTR) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            return -1;
        }
        if (r > 0) {
            woken = fds[0].revents != 0;
            signalled = sig >= 0 && fds[1].revents != 0;
        }
    }
    if (woken) {
        uint64_t count;
        ssize_t r = read(wake, &count, sizeof count);
        (void)r;        /* EAGAIN: another read took it; nothing is lost */
    }
    if (signalled)
        drain_sig_pipe();
    return 0;
}

/* ---- Lua API ---- */

/* loop.wait(timeout_ms?) -> completions */
static int l_loop_wait(lua_State *L)
{
    double timeout = luaL_optnumber(L, 1, -1);
    luaL_argcheck(L, timeout == timeout, 1, "timeout is not a number");
    struct wpo_loop *loop = loop_get(L);
    if (loop->closed)
        return luaL_error(L, "loop.wait: the event loop is closed");
    lua_settop(L, 0);
    /* The list lives in the registry while it fills, so completions already
     * taken are not lost if a later step raises: the next wait returns them. */
    int n = 0;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &undelivered_key) == LUA_TTABLE) {
        n = (int)lua_rawlen(L, 1);
    } else {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, 1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &undelivered_key);
    }
    double deadline = timeout < 0 ? -1 : now_ms() + timeout;
    for (;;) {
        n = collect(L, loop, 1, n);
        if (n > 0 || timeout == 0 || loop->count == 0)
            break;
        double t = now_ms();
        if (deadline >= 0 && t >= deadline)
            break;
        double wake = deadline;
        if (loop->heap_len) {
            double due = loop->heap[0]->u.timer.due;
            if (wake < 0 || due < wake)
                wake = due;
        }
        int ms = POLL_SLICE_MS;
        if (wake >= 0) {
            double d = ceil(wake - t);
            if (d <= 0)
                continue;
            if (d < POLL_SLICE_MS)
                ms = (int)d;
        }
        char err[160];
        if (wait_readable(loop, ms, err, sizeof err) != 0)
            return luaL_error(L, "loop.wait: %s", err);
    }
    lua_pushnil(L);     /* the key exists: clearing it allocates nothing */
    lua_rawsetp(L, LUA_REGISTRYINDEX, &undelivered_key);
    return 1;
}

/* loop.timer(ms) -> id */
static int l_loop_timer(lua_State *L)
{
    double ms = luaL_checknumber(L, 1);
    luaL_argcheck(L, ms >= 0 && ms < 1e12, 1, "expected a number of milliseconds >= 0");
    struct wpo_loop *loop = loop_get(L);
    if (loop->closed)
        return luaL_error(L, "loop.timer: the event loop is closed");
    struct op *op = op_new(loop, OP_TIMER);
    if (!op)
        return luaL_error(L, "loop.timer: out of memory");
    op->u.timer.due = now_ms() + ms;
    if (heap_push(loop, op) != 0) {
        table_remove(loop, op);
        free(op);
        return luaL_error(L, "loop.timer: out of memory");
    }
    lua_pushinteger(L, (lua_Integer)op->id);
    return 1;
}

/* loop.cancel(id) -> boolean */
static int l_loop_cancel(lua_State *L)
{
    lua_Integer id = luaL_checkinteger(L, 1);
    struct wpo_loop *loop = loop_get(L);
    struct op *op = loop->closed ? NULL : table_find(loop, (int64_t)id);
    if (!op || op->cancelled) {
        lua_pushboolean(L, 0);
        return 1;
    }
    op_release(loop, op);
    op->cnext = NULL;
    if (loop->cancelled_tail)
        loop->cancelled_tail->cnext = op;
    else
        loop->cancelled_head = op;
    loop->cancelled_tail = op;
    lua_pushboolean(L, 1);
    return 1;
}

/* loop.outstanding() -> integer | loop.outstanding(id) -> boolean | loop.outstanding(kind) -> integer */
static int l_loop_outstanding(lua_State *L)
{
    struct wpo_loop *loop = loop_get(L);
    if (lua_isnoneornil(L, 1)) {
        lua_pushinteger(L, (lua_Integer)loop->count);
        return 1;
    }
    if (lua_type(L, 1) == LUA_TSTRING) {
        static const char *const kinds[] = {"timer", "transfer", "worker", NULL};
        int kind = luaL_checkoption(L, 1, NULL, kinds);
        lua_pushinteger(L, loop->closed ? 0 : (lua_Integer)loop->by_kind[kind]);
        return 1;
    }
    lua_Integer id = luaL_checkinteger(L, 1);
    lua_pushboolean(L, !loop->closed && table_find(loop, (int64_t)id) != NULL);
    return 1;
}

/* loop.now() -> ms */
static int l_loop_now(lua_State *L)
{
    lua_pushnumber(L, now_ms());
    return 1;
}

/* loop.catch_interrupts(on) -> was_on */
static int l_loop_catch_interrupts(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    int on = lua_toboolean(L, 1);
    struct wpo_loop *loop = loop_get(L);
    int was = loop->sig_catching;
    if (on && !was && !loop->closed) {
        char err[160];
        if (interrupts_catch(loop, err, sizeof err) != 0)
            return luaL_error(L, "loop.catch_interrupts: %s", err);
    } else if (!on && was) {
        interrupts_release(loop);
    }
    lua_pushboolean(L, was);
    return 1;
}

/* loop.interrupts() -> integer */
static int l_loop_interrupts(lua_State *L)
{
    struct wpo_loop *loop = loop_get(L);
    lua_pushinteger(L, loop->sig_catching ? sig_count - loop->sig_base : 0);
    return 1;
}

static const luaL_Reg loop_functions[] = {
    {"wait", l_loop_wait},
    {"timer", l_loop_timer},
    {"cancel", l_loop_cancel},
    {"outstanding", l_loop_outstanding},
    {"now", l_loop_now},
    {"catch_interrupts", l_loop_catch_interrupts},
    {"interrupts", l_loop_interrupts},
    {NULL, NULL}
};

int luaopen_wpo_core_loop(lua_State *L)
{
    loop_get(L);
    luaL_newlib(L, loop_functions);
    return 1;
}
