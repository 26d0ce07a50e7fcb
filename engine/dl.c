/*
 * dl.c — shared libraries opened at their first use (see dl.h).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>

#include "dl.h"

void *wpo_dl_open(const char *env, const char *soname, const char *what, const struct wpo_dl_symbol *symbols,
                  const char *hint, char *err, size_t errlen)
{
    const char *name = getenv(env);
    if (!name || !*name)
        name = soname;
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        /* dlerror names the file and why (not found, wrong class...) */
        const char *why = dlerror();
        snprintf(err, errlen, "cannot load %s: %s", what, why ? why : name);
        return NULL;
    }
    for (const struct wpo_dl_symbol *s = symbols; s->name; s++) {
        /* dlsym's void * as a function pointer: POSIX guarantees it works */
        *s->slot = dlsym(lib, s->name);
        if (!*s->slot) {
            snprintf(err, errlen, "cannot load %s: %s has no %s (%s)", what, name, s->name, hint);
            dlclose(lib);
            return NULL;
        }
    }
    return lib;
}

int wpo_dl_once(struct wpo_dl_once *o, void (*load)(void), char *err, size_t errlen)
{
    pthread_once(&o->once, load);
    if (o->status != 0 && err && errlen)
        snprintf(err, errlen, "%s", o->error);
    return o->status;
}

int wpo_dl_raise(lua_State *L, const char *code, const char *msg)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "wpo.errors");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_getfield(L, -1, "new") != LUA_TFUNCTION)
        return luaL_error(L, "%s", msg);
    lua_createtable(L, 0, 2);
    lua_pushstring(L, code);
    lua_setfield(L, -2, "code");
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "message");
    lua_call(L, 1, 1);
    return lua_error(L);
}
