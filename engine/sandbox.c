/*
 * sandbox.c — wpo.core.sandbox: the budgets under which untrusted stack code
 * runs. It owns the Lua state's allocator (every byte counted, and refused
 * past the running sandbox's memory cap; small blocks from its own size
 * classes, see "small blocks" below) and an instruction budget charged by
 * a count hook (and by C code that does unbounded work in one call, through
 * wpo_sandbox_charge). It also gives stack code the pcall, xpcall and
 * coroutine.resume that cannot catch a spent budget. Building the stack's
 * environment (what it may see) is stdlib/wpo/sandbox.lua's.
 *
 * Lua API (wpo.core.sandbox):
 *   run(opts, fn, ...) -> true, results... | false, err, where
 *     opts = { instructions = N, memory = BYTES, skip = "@/prefix/" }.
 *     Runs fn with at most N instructions (counted in steps of HOOK_STEP)
 *     and with the state growing by at most BYTES. A spent budget is
 *     err = { budget = "instructions" | "memory", limit = N }; any other
 *     error is the value raised. where is the file:line of the innermost Lua
 *     frame whose source does not start with skip (the user's code), or nil.
 *   pcall(fn, ...), xpcall(fn, msgh, ...)  as the base library's, except
 *     that an error from a spent budget is raised again instead of caught.
 *   resume(co, ...)  as coroutine.resume, with the same exception.
 *   usage() -> bytes in use, current limit (0: none)
 *   unmetered(fn, ...) -> fn's results, run without the instruction count
 *     (the library's own work inside a run; see its comment)
 *   caller(level, user, stdlib, engine, stop) -> "file:line" | nil
 *     The file:line stack code is blamed for, from the calling thread's
 *     frames `level` and outward (numbered as debug.getinfo numbers them from
 *     the caller), stopping at a frame running the function `stop` (nil:
 *     none): the innermost frame whose source is a key of the table `user`
 *     (nil: none); else the innermost frame in the stdlib (source starting
 *     with the string `stdlib`, nil: none) whose file relative to it is not a
 *     key of `engine`, as that relative path:line, when `user` is given; else
 *     the innermost other file's frame. Frames without a line are skipped.
 *     What stdlib/wpo/stack.lua's user_where asks at every declaration,
 *     without a debug.getinfo table per frame.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <lauxlib.h>

#include "sandbox.h"

#define HOOK_STEP 1000
#define WHERE_MAX 512

enum { TRIP_NONE, TRIP_STEPS, TRIP_MEMORY };

/* ---- small blocks ----
 * Lua tells its allocator the size of every block it resizes or frees, so a
 * block needs no header: one of n <= SMALL_MAX bytes is a block of its size
 * class, n rounded up to a multiple of SMALL_STEP. The free blocks of a
 * class are a list threaded through their first word; new ones are cut from
 * regions of REGION bytes, aligned and advised for transparent huge pages.
 * Nine in ten of the allocations of a plan are small: a list pop instead of
 * malloc's hundred instructions, and their memory first touched 2 MiB at a
 * time (one page fault) rather than 4 KiB at a time (about 2.5 us each).
 * Blocks never change class and regions go back to the system only when the
 * state is closed. Larger blocks are malloc's. Sanitizer builds use malloc
 * for every block, so their checks see each one.
 * A free block serves its class only, so memory the state freed in one
 * class is not the next class's: the memory cap bounds what the state holds
 * from the system (regions and large blocks, `held`) as well as what Lua
 * holds (`used`), or stack code could cycle through the classes and take
 * 30 times its cap. */
#define SMALL_STEP 16
#define SMALL_MAX 512
#define SMALL_CLASSES (SMALL_MAX / SMALL_STEP)
#define REGION ((size_t)2 << 20)
#if defined(__SANITIZE_ADDRESS__)
#define SMALL_BLOCKS 0
#else
#define SMALL_BLOCKS 1
#endif

struct small {
    void *free[SMALL_CLASSES];  /* free blocks of each class */
    char *next, *end;           /* the rest of the newest region */
    void *regions;              /* the regions, each linked through its first word */
    size_t held;                /* bytes from the system: regions, and large blocks */
};

static int is_small(size_t n)
{
    return SMALL_BLOCKS && n <= SMALL_MAX;
}

static size_t class_of(size_t n)
{
    return (n - 1) / SMALL_STEP;
}

/* A new region, its first SMALL_STEP bytes the link; 0 when the system has
 * no memory to give. */
static int small_region(struct small *sm)
{
    char *raw = mmap(NULL, 2 * REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return 0;
    char *r = (char *)(((uintptr_t)raw + REGION - 1) & ~(uintptr_t)(REGION - 1));
    if (r > raw)
        munmap(raw, (size_t)(r - raw));
    munmap(r + REGION, (size_t)(raw + REGION - r));
#ifdef MADV_HUGEPAGE
    madvise(r, REGION, MADV_HUGEPAGE);
#endif
    *(void **)r = sm->regions;
    sm->regions = r;
    sm->next = r + SMALL_STEP;
    sm->end = r + REGION;
    sm->held += REGION;
    return 1;
}

/* How much more the system would give for a block of old bytes to become n
 * (0 when the state's own free memory serves). */
static size_t held_growth(const struct small *sm, size_t old, size_t n)
{
    if (!is_small(n))
        return n > old || is_small(old) ? n - (is_small(old) ? 0 : old) : 0;
    if (old && is_small(old) && class_of(old) == class_of(n))
        return 0;
    size_t c = class_of(n), size = (c + 1) * SMALL_STEP;
    return sm->free[c] || (size_t)(sm->end - sm->next) >= size ? 0 : REGION;
}

static void *small_get(struct small *sm, size_t n)
{
    size_t c = class_of(n);
    void *p = sm->free[c];
    if (p) {
        sm->free[c] = *(void **)p;
        return p;
    }
    size_t size = (c + 1) * SMALL_STEP;
    if ((size_t)(sm->end - sm->next) < size) {
        /* the rest of the region is a free block of the largest class it fits */
        size_t rest = (size_t)(sm->end - sm->next);
        if (rest >= SMALL_STEP) {
            size_t rc = rest / SMALL_STEP - 1;
            *(void **)sm->next = sm->free[rc];
            sm->free[rc] = sm->next;
        }
        sm->next = sm->end;   /* given away: never cut from again, whether or not a region comes */
        if (!small_region(sm))
            return NULL;
    }
    p = sm->next;
    sm->next += size;
    return p;
}

static void small_put(struct small *sm, void *p, size_t n)
{
    size_t c = class_of(n);
    *(void **)p = sm->free[c];
    sm->free[c] = p;
}

static void block_free(struct small *sm, void *p, size_t n)
{
    if (!p)
        return;
    if (is_small(n)) {
        small_put(sm, p, n);
    } else {
        free(p);
        sm->held -= n;
    }
}

/* realloc for blocks of either kind; NULL when out of memory (never when
 * shrinking: Lua counts on that) */
static void *large_get(struct small *sm, size_t n)
{
    void *p = malloc(n);
    if (p)
        sm->held += n;
    return p;
}

static void *block_resize(struct small *sm, void *p, size_t old, size_t n)
{
    if (!p)
        return is_small(n) ? small_get(sm, n) : large_get(sm, n);
    if (is_small(old) && is_small(n) && class_of(old) == class_of(n))
        return p;
    if (!is_small(old) && !is_small(n)) {
        void *q = realloc(p, n);
        if (q)
            sm->held = sm->held - old + n;
        return q;
    }
    void *q = is_small(n) ? small_get(sm, n) : large_get(sm, n);
    if (!q) {
        /* shrinking a large block into a class without memory for one: it
         * stays where it is and, being at least as big, serves as a block of
         * the class from now on (never passed to free; still held) */
        return n < old ? p : NULL;
    }
    memcpy(q, p, old < n ? old : n);
    block_free(sm, p, old);
    return q;
}

static void small_release(struct small *sm)
{
    while (sm->regions) {
        void *r = sm->regions;
        sm->regions = *(void **)r;
        munmap(r, REGION);
    }
}

struct wpo_sandbox {
    size_t used;            /* bytes the Lua state holds */
    size_t limit;           /* refuse growth past this while running (0: none) */
    size_t held_limit;      /* and small.held past this (with one region of slack) */
    int unmetered;          /* unmetered() calls running: charges are not counted */
    int depth;              /* nested run() calls */
    long long steps;        /* instruction units left in the running sandbox */
    int tripped;            /* TRIP_*: the budget that ran out */
    lua_State *runner;      /* the thread that called run(), for locating an allocation */
    long fail_in;           /* tests: refuse the fail_in-th growing allocation from now and every later one (0: off) */
    long fail_seen;         /* tests: growing allocations since wpo_sandbox_fail_at */
    char skip[WHERE_MAX];   /* sources starting with this are not the user's */
    char where[WHERE_MAX];  /* where the budget ran out */
    struct small small;
};

static const char TRIP_KEY = 0;   /* light userdata: the error value of a spent budget */

void *wpo_sandbox_new(void)
{
    return calloc(1, sizeof(struct wpo_sandbox));
}

void wpo_sandbox_free(void *ud)
{
    struct wpo_sandbox *sb = ud;
    if (!sb)
        return;
    small_release(&sb->small);
    free(sb);
}

static struct wpo_sandbox *sandbox_of(lua_State *L)
{
    void *ud = NULL;
    lua_Alloc f = lua_getallocf(L, &ud);
    return f == wpo_sandbox_alloc ? ud : NULL;
}

/* The innermost Lua frame of L in the user's code ("file:line"), else the
 * innermost Lua frame with a file source. Reads the stack only (no
 * allocation), so the allocator may call it. */
static void locate(lua_State *L, const struct wpo_sandbox *sb, char *out, size_t outlen)
{
    lua_Debug ar;
    char fallback[WHERE_MAX] = "";
    size_t skiplen = strlen(sb->skip);
    out[0] = '\0';
    for (int level = 0; level < 200 && lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0 || ar.source[0] != '@')
            continue;
        if (skiplen == 0 || strncmp(ar.source, sb->skip, skiplen) != 0) {
            snprintf(out, outlen, "%s:%d", ar.source + 1, ar.currentline);
            return;
        }
        if (!fallback[0])
            snprintf(fallback, sizeof fallback, "%s:%d", ar.source + 1, ar.currentline);
    }
    snprintf(out, outlen, "%s", fallback);
}

void *wpo_sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct wpo_sandbox *sb = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        block_free(&sb->small, ptr, old);
        sb->used -= old;
        return NULL;
    }
    if (sb->fail_in && nsize > old && ++sb->fail_seen >= sb->fail_in)
        return NULL;
    if (sb->limit && nsize > old
        && (sb->used - old + nsize > sb->limit
            || sb->small.held + held_growth(&sb->small, old, nsize) > sb->held_limit + REGION)) {
        if (!sb->tripped) {
            sb->tripped = TRIP_MEMORY;
            if (sb->runner)
                locate(sb->runner, sb, sb->where, sizeof sb->where);
        }
        return NULL;
    }
    void *p = block_resize(&sb->small, ptr, old, nsize);
    if (p)
        sb->used = sb->used - old + nsize;
    return p;
}

/* Raise the spent budget's error in L (once spent, every later tick raises
 * it again, so code that catches it cannot go on for long). */
static int raise_trip(lua_State *L, struct wpo_sandbox *sb, int kind)
{
    if (!sb->tripped) {
        sb->tripped = kind;
        locate(L, sb, sb->where, sizeof sb->where);
    }
    lua_pushlightuserdata(L, (void *)&TRIP_KEY);
    return lua_error(L);
}

long wpo_sandbox_fail_at(lua_State *L, long n)
{
    struct wpo_sandbox *sb = sandbox_of(L);
    if (!sb)
        return -1;
    long seen = sb->fail_seen;
    sb->fail_in = n;
    sb->fail_seen = 0;
    return seen;
}

void wpo_sandbox_charge(lua_State *L, size_t n)
{
    struct wpo_sandbox *sb = sandbox_of(L);
    if (!sb || sb->depth == 0 || sb->unmetered)
        return;
    sb->steps -= (long long)n;
    if (sb->steps < 0 || sb->tripped)
        raise_trip(L, sb, TRIP_STEPS);
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    wpo_sandbox_charge(L, HOOK_STEP);
}

/* unmetered(fn, ...) -> fn's results: fn's work is not charged to the
 * running sandbox's instruction budget (the library's own work, such as
 * loading one of its modules for stack code, is not stack code's; the
 * memory cap still holds): the count hook is off on this thread, C charges
 * (patterns, value.show) are not counted. Both come back however fn ends,
 * the hook counting afresh from HOOK_STEP; fn's error is raised again (a
 * memory refusal under a cap as the spent memory budget it is, which stack
 * code cannot catch).
 * Stack code cannot reach it: wpo.core.sandbox is not in its API, and
 * finalisers (which could run inside) are refused to it. */
static int l_sandbox_unmetered(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    struct wpo_sandbox *sb = sandbox_of(L);
    int nargs = lua_gettop(L) - 1;
    if (!sb || sb->depth == 0) {
        lua_call(L, nargs, LUA_MULTRET);
        return lua_gettop(L);
    }
    lua_Hook hook = lua_gethook(L);
    int mask = lua_gethookmask(L), count = lua_gethookcount(L);
    lua_sethook(L, NULL, 0, 0);
    sb->unmetered++;
    int status = lua_pcall(L, nargs, LUA_MULTRET, 0);
    sb->unmetered--;
    lua_sethook(L, hook, mask, count);
    if (status == LUA_ERRMEM && sb->limit && !sb->tripped) {
        sb->tripped = TRIP_MEMORY;
        if (sb->runner)
            locate(sb->runner, sb, sb->where, sizeof sb->where);
    }
    if (status != LUA_OK)
        return lua_error(L);
    return lua_gettop(L);
}

static int spent(lua_State *L, int status)
{
    struct wpo_sandbox *sb = sandbox_of(L);
    return sb && sb->depth > 0 && status != LUA_OK && status != LUA_YIELD
        && (sb->tripped || status == LUA_ERRMEM);
}

/* pcall's and xpcall's ending: results, or false + the error, unless the
 * error is a spent budget, which goes on up. */
static int finish_pcall(lua_State *L, int status, lua_KContext extra)
{
    if (status != LUA_OK && status != LUA_YIELD) {
        if (spent(L, status))
            return lua_error(L);
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - (int)extra;
}

/* sandbox.pcall(fn, ...) -> true, results... | false, err */
static int l_sandbox_pcall(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_pcall);
    return finish_pcall(L, status, 0);
}

/* The message handler xpcall installs: the caller's, unless the budget is
 * spent. A hook's error runs the handler with hooks off (Lua turns them on
 * again only when the error reaches a pcall), so the caller's handler must
 * not run then: it could loop forever unseen. */
static int guarded_handler(lua_State *L)
{
    struct wpo_sandbox *sb = sandbox_of(L);
    if (sb && sb->depth > 0 && sb->tripped)
        return 1;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* sandbox.xpcall(fn, msgh, ...) -> true, results... | false, msgh(err) */
static int l_sandbox_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, guarded_handler, 1);
    lua_replace(L, 2);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);   /* fn, msgh, true, fn, args... */
    int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
    return finish_pcall(L, status, 2);
}

/* sandbox.resume(co, ...) -> true, values... | false, err */
static int l_sandbox_resume(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    int narg = lua_gettop(L) - 1;
    int status = lua_status(co);
    if (status == LUA_OK && lua_gettop(co) == 0) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "cannot resume dead coroutine");
        return 2;
    }
    if (status != LUA_OK && status != LUA_YIELD) {
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "cannot resume dead coroutine");
        return 2;
    }
    if (!lua_checkstack(co, narg))
        return luaL_error(L, "too many arguments to resume");
    lua_xmove(L, co, narg);
    int nres = 0;
    status = lua_resume(co, L, narg, &nres);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, nres + 1))
            return luaL_error(L, "too many results to resume");
        lua_pushboolean(L, 1);
        lua_xmove(co, L, nres);
        lua_insert(L, -(nres + 1));
        return nres + 1;
    }
    lua_xmove(co, L, 1);
    if (spent(L, status))
        return lua_error(L);
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
}

/* The message handler of run(): the error as raised, and where it was. */
static int run_handler(lua_State *L)
{
    struct wpo_sandbox *sb = sandbox_of(L);
    char where[WHERE_MAX];
    locate(L, sb, where, sizeof where);
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    if (where[0]) {
        lua_pushstring(L, where);
        lua_rawseti(L, -2, 2);
    }
    return 1;
}

static lua_Integer opt_field(lua_State *L, int idx, const char *name, lua_Integer def)
{
    lua_getfield(L, idx, name);
    lua_Integer v = lua_isnil(L, -1) ? def : luaL_checkinteger(L, -1);
    lua_pop(L, 1);
    if (v < 0)
        luaL_error(L, "sandbox.run: %s must be >= 0", name);
    return v;
}

/* sandbox.run(opts, fn, ...) -> true, results... | false, err, where */
static int l_sandbox_run(lua_State *L)
{
    struct wpo_sandbox *sb = sandbox_of(L);
    if (!sb)
        return luaL_error(L, "sandbox.run: this Lua state was not made by wpo");
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_Integer steps = opt_field(L, 1, "instructions", 0);
    lua_Integer memory = opt_field(L, 1, "memory", 0);
    lua_getfield(L, 1, "skip");
    const char *skip = lua_isnil(L, -1) ? "" : luaL_checkstring(L, -1);
    if (strlen(skip) >= WHERE_MAX)
        return luaL_error(L, "sandbox.run: skip is too long");

    /* what this run replaces, put back at the end */
    struct wpo_sandbox saved = *sb;
    lua_Hook old_hook = lua_gethook(L);
    int old_mask = lua_gethookmask(L), old_count = lua_gethookcount(L);

    snprintf(sb->skip, sizeof sb->skip, "%s", skip);
    lua_pop(L, 1);
    sb->steps = steps > 0 ? steps : LLONG_MAX;
    if (sb->depth > 0 && saved.steps < sb->steps)
        sb->steps = saved.steps;
    if (memory > 0) {
        size_t cap = sb->used + (size_t)memory, held_cap = sb->small.held + (size_t)memory;
        sb->limit = (saved.limit && saved.limit < cap) ? saved.limit : cap;
        sb->held_limit = (saved.limit && saved.held_limit < held_cap) ? saved.held_limit : held_cap;
    }
    long long start = sb->steps;
    sb->tripped = TRIP_NONE;
    sb->where[0] = '\0';
    sb->runner = L;
    sb->depth++;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, HOOK_STEP);

    lua_pushcfunction(L, run_handler);
    lua_replace(L, 1);                       /* handler, fn, args... */
    int status = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 1);
    int tripped = sb->tripped ? sb->tripped : (status == LUA_ERRMEM && memory > 0 ? TRIP_MEMORY : 0);
    char where[WHERE_MAX];
    snprintf(where, sizeof where, "%s", sb->where);

    lua_sethook(L, old_hook, old_mask, old_count);
    sb->depth = saved.depth;
    sb->limit = saved.limit;
    sb->held_limit = saved.held_limit;
    sb->unmetered = saved.unmetered;
    sb->steps = saved.depth > 0 ? saved.steps - (start - sb->steps) : saved.steps;
    sb->tripped = saved.tripped;
    sb->runner = saved.runner;
    memcpy(sb->skip, saved.skip, sizeof sb->skip);
    memcpy(sb->where, saved.where, sizeof sb->where);

    if (status == LUA_OK) {
        lua_pushboolean(L, 1);
        lua_replace(L, 1);
        return lua_gettop(L);
    }
    lua_pushboolean(L, 0);
    if (tripped) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, tripped == TRIP_MEMORY ? "memory" : "instructions");
        lua_setfield(L, -2, "budget");
        lua_pushinteger(L, tripped == TRIP_MEMORY ? memory : steps);
        lua_setfield(L, -2, "limit");
    } else if (lua_istable(L, -2)) {
        lua_rawgeti(L, -2, 1);               /* the value raised */
    } else {
        lua_pushvalue(L, -2);                /* an error in the handler itself */
    }
    if (tripped && where[0]) {
        lua_pushstring(L, where);
    } else if (lua_istable(L, -3)) {
        lua_rawgeti(L, -3, 2);
    } else {
        lua_pushnil(L);
    }
    return 3;
}

/* sandbox.usage() -> bytes in use, limit (0: none) */
static int l_sandbox_usage(lua_State *L)
{
    struct wpo_sandbox *sb = sandbox_of(L);
    lua_pushinteger(L, sb ? (lua_Integer)sb->used : 0);
    lua_pushinteger(L, sb ? (lua_Integer)sb->limit : 0);
    return 2;
}

#define CALLER_DEPTH 60

static int l_sandbox_caller(lua_State *L)
{
    int level = (int)luaL_checkinteger(L, 1);
    int has_user = lua_istable(L, 2);
    size_t stdlib_len = 0;
    const char *stdlib = lua_isstring(L, 3) ? lua_tolstring(L, 3, &stdlib_len) : NULL;
    int has_engine = lua_istable(L, 4);
    int has_stop = !lua_isnoneornil(L, 5);
    int library = 0, fallback = 0;   /* stack indices of the found strings (0: none) */
    lua_settop(L, 5);
    lua_Debug ar;
    for (; level <= CALLER_DEPTH && lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, has_stop ? "Slf" : "Sl", &ar))
            break;
        if (has_stop) {
            int stop = lua_rawequal(L, -1, 5);
            lua_pop(L, 1);
            if (stop)
                break;
        }
        if (ar.currentline <= 0)
            continue;
        if (has_user) {
            lua_pushstring(L, ar.source);
            int user = lua_rawget(L, 2) != LUA_TNIL;
            lua_pop(L, 1);
            if (user) {
                lua_pushfstring(L, "%s:%d", ar.source + 1, ar.currentline);
                return 1;
            }
        }
        int in_stdlib = stdlib && strncmp(ar.source, stdlib, stdlib_len) == 0;
        if (in_stdlib && has_user && !library) {
            const char *rel = ar.source + stdlib_len;
            int engine = 0;
            if (has_engine) {
                lua_pushstring(L, rel);
                engine = lua_rawget(L, 4) != LUA_TNIL;
                lua_pop(L, 1);
            }
            if (!engine) {
                lua_pushfstring(L, "%s:%d", rel, ar.currentline);
                library = lua_gettop(L);
            }
        }
        if (!fallback && !in_stdlib && ar.source[0] == '@') {
            lua_pushfstring(L, "%s:%d", ar.source + 1, ar.currentline);
            fallback = lua_gettop(L);
        }
    }
    if (library || fallback)
        lua_pushvalue(L, library ? library : fallback);
    else
        lua_pushnil(L);
    return 1;
}

static const luaL_Reg sandbox_functions[] = {
    {"caller", l_sandbox_caller},
    {"run", l_sandbox_run},
    {"pcall", l_sandbox_pcall},
    {"xpcall", l_sandbox_xpcall},
    {"resume", l_sandbox_resume},
    {"usage", l_sandbox_usage},
    {"unmetered", l_sandbox_unmetered},
    {NULL, NULL}
};

int luaopen_wpo_core_sandbox(lua_State *L)
{
    luaL_newlib(L, sandbox_functions);
    return 1;
}
