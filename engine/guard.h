/*
 * guard.h — C resources held by a userdata while Lua calls that may raise
 * (out of memory) run: a guard on the stack owns up to WPO_GUARD_SLOTS
 * resources, each with its free function; its __gc and __close free what it
 * still holds, so a longjmp past the C frame leaks nothing. Make the guard
 * before taking the resources (making it may raise), hold each as soon as it
 * is taken, and free them with wpo_guard_release (or let the garbage
 * collector do it). A guard stays on the C function's stack: Lua code never
 * sees it.
 */
#ifndef WPO_GUARD_H
#define WPO_GUARD_H

#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#define WPO_GUARD_SLOTS 8
#define WPO_GUARD_MT "wpo.guard.resources"

struct wpo_guard {
    struct { void *p; void (*free)(void *); } slot[WPO_GUARD_SLOTS];
};

/* Free what the guard still holds, most recently held first. */
static inline void wpo_guard_release(struct wpo_guard *g)
{
    for (int i = WPO_GUARD_SLOTS - 1; i >= 0; i--) {
        if (g->slot[i].p) {
            void *p = g->slot[i].p;
            g->slot[i].p = NULL;
            g->slot[i].free(p);
        }
    }
}

static inline int wpo_guard_gc(lua_State *L)
{
    wpo_guard_release(luaL_checkudata(L, 1, WPO_GUARD_MT));
    return 0;
}

static inline int wpo_guard_tostring(lua_State *L)
{
    struct wpo_guard *g = luaL_checkudata(L, 1, WPO_GUARD_MT);
    int n = 0;
    for (int i = 0; i < WPO_GUARD_SLOTS; i++)
        n += g->slot[i].p != NULL;
    lua_pushfstring(L, "wpo guard (%d held)", n);
    return 1;
}

/* Push a new, empty guard (may raise: hold nothing yet). */
static inline struct wpo_guard *wpo_guard_new(lua_State *L)
{
    struct wpo_guard *g = lua_newuserdatauv(L, sizeof *g, 0);
    memset(g, 0, sizeof *g);
    if (luaL_newmetatable(L, WPO_GUARD_MT)) {
        lua_pushcfunction(L, wpo_guard_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, wpo_guard_gc);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, wpo_guard_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_setmetatable(L, -2);
    return g;
}

/* The guard owns p from now on (p may be NULL: nothing held). Never raises;
 * a guard holds at most WPO_GUARD_SLOTS resources (a programming error past that
 * aborts). */
static inline void wpo_guard_hold(struct wpo_guard *g, void *p, void (*fn)(void *))
{
    if (!p)
        return;
    for (int i = 0; i < WPO_GUARD_SLOTS; i++) {
        if (!g->slot[i].p) {
            g->slot[i].p = p;
            g->slot[i].free = fn;
            return;
        }
    }
    abort();
}

/* The guard lets go of p without freeing it (its new owner frees it). */
static inline void wpo_guard_forget(struct wpo_guard *g, void *p)
{
    for (int i = 0; i < WPO_GUARD_SLOTS; i++)
        if (p && g->slot[i].p == p)
            g->slot[i].p = NULL;
}

/* Free p now if the guard holds it. */
static inline void wpo_guard_free(struct wpo_guard *g, void *p)
{
    for (int i = 0; i < WPO_GUARD_SLOTS; i++) {
        if (p && g->slot[i].p == p) {
            g->slot[i].p = NULL;
            g->slot[i].free(p);
            return;
        }
    }
}

#endif
