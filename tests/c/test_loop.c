/*
 * test_loop.c — the loop's C API for worker threads (engine/loop.h): a post
 * from another thread wakes a blocked loop.wait, results are converted on the
 * main thread, a cancelled operation's late result is freed and dropped, and
 * a post after lua_close is freed too. A wait that runs out of memory
 * loses no completion: the next wait returns each exactly once.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "loop.h"
#include "sandbox.h"
#include "test.h"
#include "wpo.h"

int luaopen_wpo_core_loop(lua_State *L);

enum { RESULT_OK, RESULT_FAIL, RESULT_RAISE };

struct result {
    int kind;
    int value;
};

static atomic_int results_freed;
static int released_done, released_cancelled;

static int test_convert(lua_State *L, void *r)
{
    struct result *res = r;
    if (res->kind == RESULT_FAIL) {
        lua_pushstring(L, "the worker failed");
        lua_pushstring(L, "git");
        return WPO_LOOP_FAIL;
    }
    if (res->kind == RESULT_RAISE)
        return luaL_error(L, "conversion blew up");
    lua_pushinteger(L, res->value);
    return WPO_LOOP_OK;
}

static void test_free_result(void *r)
{
    free(r);
    atomic_fetch_add(&results_freed, 1);
}

static void test_release(void *ctx, int cancelled)
{
    (void)ctx;
    if (cancelled)
        released_cancelled++;
    else
        released_done++;
}

static const struct wpo_loop_op_type test_type = {
    "test", test_convert, test_free_result, test_release
};

struct job {
    struct wpo_loop_queue *q;
    int64_t id;
    int kind, value, delay_ms;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    if (j->delay_ms) {
        struct timespec ts = { 0, (long)j->delay_ms * 1000000L };
        nanosleep(&ts, NULL);
    }
    struct result *r = malloc(sizeof *r);
    r->kind = j->kind;
    r->value = j->value;
    wpo_loop_post(j->q, j->id, &test_type, r);
    wpo_loop_queue_unref(j->q);
    return NULL;
}

static void reset_counters(void)
{
    atomic_store(&results_freed, 0);
    released_done = released_cancelled = 0;
}

static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "loop", luaopen_wpo_core_loop, 1);
    lua_pop(L, 1);
    return L;
}

/* loop.wait(timeout_ms) left on the stack; returns its length. */
static int wait(lua_State *L, int timeout_ms)
{
    lua_getglobal(L, "loop");
    lua_getfield(L, -1, "wait");
    lua_remove(L, -2);
    lua_pushinteger(L, timeout_ms);
    lua_call(L, 1, 1);
    return (int)luaL_len(L, -1);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Field of completion i of the table on top, as an integer / string. */
static lua_Integer field_int(lua_State *L, int i, const char *name)
{
    lua_rawgeti(L, -1, i);
    lua_getfield(L, -1, name);
    lua_Integer v = lua_tointeger(L, -1);
    lua_pop(L, 2);
    return v;
}

static const char *field_str(lua_State *L, int i, const char *name)
{
    lua_rawgeti(L, -1, i);
    lua_getfield(L, -1, name);
    const char *s = lua_tostring(L, -1);   /* held by the completion table */
    lua_pop(L, 2);
    return s;
}

static int field_bool(lua_State *L, int i, const char *name)
{
    lua_rawgeti(L, -1, i);
    lua_getfield(L, -1, name);
    int b = lua_toboolean(L, -1);
    lua_pop(L, 2);
    return b;
}

static void start_job(lua_State *L, pthread_t *th, struct job *j, int kind, int value, int delay_ms)
{
    j->id = wpo_loop_op_start(L, &test_type, NULL);
    j->q = wpo_loop_queue_ref(L);
    j->kind = kind;
    j->value = value;
    j->delay_ms = delay_ms;
    pthread_create(th, NULL, worker, j);
}

static void test_post_wakes_a_blocked_wait(void)
{
    reset_counters();
    lua_State *L = new_state();
    pthread_t th;
    struct job j;
    start_job(L, &th, &j, RESULT_OK, 42, 100);
    CHECK(j.id > 0);
    double t0 = now_ms();
    /* nothing else is pending: only the worker's post can end this wait early */
    int n = wait(L, 20000);
    double elapsed = now_ms() - t0;
    pthread_join(th, NULL);
    CHECK(n == 1);
    CHECK(elapsed < 10000);
    CHECK(field_int(L, 1, "id") == j.id);
    CHECK(field_bool(L, 1, "ok"));
    CHECK(field_int(L, 1, "value") == 42);
    CHECK(atomic_load(&results_freed) == 1);
    CHECK(released_done == 1 && released_cancelled == 0);
    lua_close(L);
}

static void test_failure_and_raising_conversion(void)
{
    reset_counters();
    lua_State *L = new_state();
    pthread_t a, b;
    struct job ja, jb;
    start_job(L, &a, &ja, RESULT_FAIL, 0, 0);
    start_job(L, &b, &jb, RESULT_RAISE, 0, 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    int n = wait(L, 20000);
    CHECK(n == 2);
    for (int i = 1; i <= n; i++) {
        CHECK(!field_bool(L, i, "ok"));
        if (field_int(L, i, "id") == ja.id) {
            CHECK_STR(field_str(L, i, "err"), "the worker failed");
            CHECK_STR(field_str(L, i, "code"), "git");
        } else {
            CHECK(field_int(L, i, "id") == jb.id);
            CHECK(strstr(field_str(L, i, "err"), "conversion blew up") != NULL);
            CHECK_STR(field_str(L, i, "code"), "internal");
        }
    }
    CHECK(atomic_load(&results_freed) == 2);
    lua_close(L);
}

static void test_cancelled_op_drops_its_late_result(void)
{
    reset_counters();
    lua_State *L = new_state();
    int64_t id = wpo_loop_op_start(L, &test_type, NULL);
    struct wpo_loop_queue *q = wpo_loop_queue_ref(L);
    lua_settop(L, 0);
    lua_getglobal(L, "loop");
    lua_getfield(L, -1, "cancel");
    lua_pushinteger(L, id);
    lua_call(L, 1, 1);
    CHECK(lua_toboolean(L, -1));
    lua_settop(L, 0);
    CHECK(released_cancelled == 1);
    int n = wait(L, 20000);
    CHECK(n == 1);
    CHECK(field_int(L, 1, "id") == id);
    CHECK_STR(field_str(L, 1, "code"), "cancelled");
    lua_settop(L, 0);

    /* the worker finishes anyway, after the cancellation was delivered */
    pthread_t th;
    struct job j = { q, id, RESULT_OK, 7, 0 };
    pthread_create(&th, NULL, worker, &j);
    pthread_join(th, NULL);
    n = wait(L, 0);
    CHECK(n == 0);
    CHECK(atomic_load(&results_freed) == 1);
    CHECK(released_done == 0 && released_cancelled == 1);
    lua_close(L);
}

/* How many times the completion list at the top of L holds id. */
static int count_id(lua_State *L, int64_t id)
{
    int found = 0;
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1); i++) {
        lua_rawgeti(L, -1, i);
        lua_getfield(L, -1, "id");
        found += lua_tointeger(L, -1) == id;
        lua_pop(L, 2);
    }
    return found;
}

static void test_wait_out_of_memory_loses_nothing(void)
{
    for (long n = 1; n <= 500; n++) {
        reset_counters();
        char err[256];
        lua_State *L = wpo_state_new("wpo", err, sizeof err);
        CHECK(L != NULL);
        if (!L)
            return;
        CHECK(luaL_dostring(L, "loop = require 'wpo.core.loop' T = loop.timer(0)") == LUA_OK);
        int64_t ids[3];
        struct wpo_loop_queue *q = wpo_loop_queue_ref(L);
        for (int i = 0; i < 2; i++) {
            ids[i] = wpo_loop_op_start(L, &test_type, NULL);
            struct result *r = malloc(sizeof *r);
            r->kind = RESULT_OK;
            r->value = i + 1;
            wpo_loop_post(q, ids[i], &test_type, r);
        }
        wpo_loop_queue_unref(q);
        lua_getglobal(L, "T");
        ids[2] = lua_tointeger(L, -1);
        lua_settop(L, 0);
        int seen[3] = {0, 0, 0};

        /* the first wait with the nth allocation on refused */
        lua_getglobal(L, "loop");
        lua_getfield(L, -1, "wait");
        lua_pushinteger(L, 0);
        wpo_sandbox_fail_at(L, n);
        int status = lua_pcall(L, 1, 1, 0);
        long allocations = wpo_sandbox_fail_at(L, 0);
        if (status == LUA_OK)
            for (int i = 0; i < 3; i++)
                seen[i] += count_id(L, ids[i]);
        lua_settop(L, 0);
        /* then waits with memory, until nothing is pending */
        for (int k = 0; k < 10; k++) {
            CHECK(luaL_dostring(L, "return loop.wait(0), loop.outstanding()") == LUA_OK);
            lua_Integer pending = lua_tointeger(L, -1);
            lua_pop(L, 1);
            for (int i = 0; i < 3; i++)
                seen[i] += count_id(L, ids[i]);
            lua_settop(L, 0);
            if (pending == 0)
                break;
        }
        for (int i = 0; i < 3; i++)
            if (seen[i] != 1) {
                fprintf(stderr, "  allocation %ld refused: completion %d delivered %d times\n", n, i, seen[i]);
                CHECK(seen[i] == 1);
            }
        CHECK(released_done == 2);
        wpo_state_close(L);
        CHECK(atomic_load(&results_freed) == 2);
        if (allocations < n)
            break;      /* the wait made fewer allocations: every one was refused once */
    }
}

static void test_post_after_close_is_freed(void)
{
    reset_counters();
    lua_State *L = new_state();
    int64_t id = wpo_loop_op_start(L, &test_type, NULL);
    struct wpo_loop_queue *q = wpo_loop_queue_ref(L);
    lua_close(L);
    CHECK(released_cancelled == 1);
    pthread_t th;
    struct job j = { q, id, RESULT_OK, 1, 0 };
    pthread_create(&th, NULL, worker, &j);   /* posts, then drops the last reference */
    pthread_join(th, NULL);
    CHECK(atomic_load(&results_freed) == 1);
}

#define THREADS 8
#define PER_THREAD 50

struct batch {
    struct wpo_loop_queue *q;
    int64_t ids[PER_THREAD];
    int base;
};

static void *batch_worker(void *arg)
{
    struct batch *b = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        struct result *r = malloc(sizeof *r);
        r->kind = RESULT_OK;
        r->value = b->base + i;
        wpo_loop_post(b->q, b->ids[i], &test_type, r);
    }
    wpo_loop_queue_unref(b->q);
    return NULL;
}

static void test_many_threads_post_at_once(void)
{
    reset_counters();
    lua_State *L = new_state();
    pthread_t th[THREADS];
    struct batch b[THREADS];
    int64_t first = 0;
    for (int t = 0; t < THREADS; t++) {
        b[t].q = wpo_loop_queue_ref(L);
        b[t].base = t * PER_THREAD;
        for (int i = 0; i < PER_THREAD; i++) {
            b[t].ids[i] = wpo_loop_op_start(L, &test_type, NULL);
            if (!first)
                first = b[t].ids[i];
        }
    }
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, batch_worker, &b[t]);
    int seen = 0, right = 0;
    while (seen < THREADS * PER_THREAD) {
        int n = wait(L, 20000);
        if (n == 0)
            break;
        for (int i = 1; i <= n; i++) {
            lua_Integer id = field_int(L, i, "id");
            lua_Integer v = field_int(L, i, "value");
            /* ids were handed out in order, thread by thread */
            right += v == (lua_Integer)(id - first);
        }
        seen += n;
        lua_pop(L, 1);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    CHECK(seen == THREADS * PER_THREAD);
    CHECK(right == THREADS * PER_THREAD);
    CHECK(atomic_load(&results_freed) == THREADS * PER_THREAD);
    CHECK(released_done == THREADS * PER_THREAD);
    lua_close(L);
}

int main(void)
{
    static const struct test_case cases[] = {
        TEST(test_post_wakes_a_blocked_wait),
        TEST(test_failure_and_raising_conversion),
        TEST(test_cancelled_op_drops_its_late_result),
        TEST(test_post_after_close_is_freed),
        TEST(test_wait_out_of_memory_loses_nothing),
        TEST(test_many_threads_post_at_once),
        {NULL, NULL}
    };
    return test_run("loop", cases);
}
