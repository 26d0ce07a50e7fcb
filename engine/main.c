/*
 * main.c — the wpo executable: create the Lua state, hand argv to
 * stdlib/wpo/cli.lua, turn what it returns into the exit status. An error
 * that escapes the CLI is an internal error: one line, or a traceback with
 * WPO_LOG=debug.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "wpo.h"

static int debug_enabled(void)
{
    const char *log = getenv("WPO_LOG");
    return log && strcmp(log, "debug") == 0;
}

static int message_handler(lua_State *L)
{
    const char *msg = NULL;
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
        msg = lua_tostring(L, -1);
    else if (lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER)
        msg = lua_tostring(L, 1);
    else
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    if (debug_enabled())
        luaL_traceback(L, L, msg, 1);
    else
        lua_pushstring(L, msg);
    return 1;
}

/* cli.main(argv) -> exit status */
static int run_cli(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "wpo.cli");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "main");
    lua_createtable(L, argc, 1);
    lua_pushstring(L, argv[0]);
    lua_rawseti(L, -2, 0);
    for (int i = 1; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_call(L, 1, 1);
    return 1;
}

int main(int argc, char **argv)
{
    char err[512];
    lua_State *L = wpo_state_new(argv[0], err, sizeof err);
    if (!L) {
        fprintf(stderr, "wpo: %s\n", err);
        return 1;
    }
    lua_pushcfunction(L, message_handler);
    lua_pushcfunction(L, run_cli);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = 1;
    if (lua_pcall(L, 2, 1, 1) != LUA_OK) {
        fprintf(stderr, "wpo: internal error: %s\n", lua_tostring(L, -1));
    } else if (lua_isinteger(L, -1)) {
        status = (int)lua_tointeger(L, -1);
    } else {
        status = lua_toboolean(L, -1) || lua_isnil(L, -1) ? 0 : 1;
    }
    fflush(stdout);
#ifndef __SANITIZE_ADDRESS__
    /* The commands close what they opened (state, journal, locks: with
     * to-be-closed variables, before cli.main returns), and no finaliser
     * left does more than free memory, close a descriptor or release a
     * lock, which the kernel does at exit. Freeing the state object by
     * object would cost 2 ms of the 20 an offline plan may take. Sanitizer
     * builds free it, so their leak checks still see every allocation. */
    if (!getenv("WPO_FREE_AT_EXIT"))
        exit(status);
#endif
    wpo_state_close(L);
    return status;
}
