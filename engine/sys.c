/*
 * sys.c — wpo.core.sys: facts about the process and the libraries it runs
 * with (versions, pid, host, user, terminals, the wall clock). Nothing here blocks, except
 * readable() for at most the time it is given.
 */
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <expat.h>
#include <git2.h>
#include <lauxlib.h>

#include "cryptoapi.h"
#include "cryptocalls.h"   /* generated: NAME is wpo_libcrypto.NAME */
#include "curlapi.h"
#include "gitapi.h"
#include "gitcalls.h"   /* generated: git_NAME is wpo_git.NAME */

/* sys.versions() -> {wpo=, lua=, curl=, openssl=, expat=, libgit2=}; curl,
 * libcrypto and libgit2 are loaded to ask them (libgit2 not initialised: its
 * version needs no more), each "unavailable: WHY" when it cannot be */
static int l_sys_versions(lua_State *L)
{
    lua_createtable(L, 0, 6);
    lua_pushstring(L, WPO_VERSION);
    lua_setfield(L, -2, "wpo");
    lua_pushstring(L, LUA_RELEASE);
    lua_setfield(L, -2, "lua");
    char err[256];
    if (wpo_curl_load(err, sizeof err) == 0)
        lua_pushstring(L, wpo_curl.version_info(CURLVERSION_NOW)->version);
    else
        lua_pushfstring(L, "unavailable: %s", err);
    lua_setfield(L, -2, "curl");
    if (wpo_libcrypto_load(err, sizeof err) == 0)
        lua_pushstring(L, OpenSSL_version(OPENSSL_VERSION));
    else
        lua_pushfstring(L, "unavailable: %s", err);
    lua_setfield(L, -2, "openssl");
    lua_pushstring(L, XML_ExpatVersion());
    lua_setfield(L, -2, "expat");
    if (wpo_git_load_lib(err, sizeof err) == 0) {
        int major, minor, rev;
        git_libgit2_version(&major, &minor, &rev);
        lua_pushfstring(L, "%d.%d.%d", major, minor, rev);
    } else {
        lua_pushfstring(L, "unavailable: %s", err);
    }
    lua_setfield(L, -2, "libgit2");
    return 1;
}

/* sys.pid() -> integer */
static int l_sys_pid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

/* sys.hostname() -> string */
static int l_sys_hostname(lua_State *L)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    lua_pushstring(L, host);
    return 1;
}

/* sys.user() -> string: the login name, or the uid when it has none */
static int l_sys_user(lua_State *L)
{
    struct passwd *pw = getpwuid(getuid());
    if (pw && pw->pw_name)
        lua_pushstring(L, pw->pw_name);
    else
        lua_pushfstring(L, "uid %d", (int)getuid());
    return 1;
}

/* sys.isatty(fd) -> boolean */
static int l_sys_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

/* sys.readable(fd, timeout_ms?) -> boolean: whether fd has input (or end of
 * file) within timeout_ms (default 0); false on timeout and when a signal
 * interrupted the wait (poll is never restarted), so a caller waiting on a
 * terminal can drive the event loop and notice SIGINT between waits. */
static int l_sys_readable(lua_State *L)
{
    struct pollfd p;
    p.fd = (int)luaL_checkinteger(L, 1);
    p.events = POLLIN;
    p.revents = 0;
    lua_Integer timeout = luaL_optinteger(L, 2, 0);
    luaL_argcheck(L, timeout >= 0 && timeout <= 3600000, 2, "timeout_ms between 0 and 3600000");
    int n = poll(&p, 1, (int)timeout);
    lua_pushboolean(L, n > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0);
    return 1;
}

/* sys.timestamp() -> "2026-12-07T04:52:10.123456Z": the wall clock now, UTC,
 * RFC 3339 with microseconds (the @timestamp of machine-readable events). */
static int l_sys_timestamp(lua_State *L)
{
    struct timespec ts;
    struct tm tm;
    char buf[40];
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || !gmtime_r(&ts.tv_sec, &tm))
        return luaL_error(L, "sys.timestamp: the wall clock cannot be read");
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%06ldZ", (long)(ts.tv_nsec / 1000));
    lua_pushstring(L, buf);
    return 1;
}

static const luaL_Reg sys_functions[] = {
    {"timestamp", l_sys_timestamp},
    {"versions", l_sys_versions},
    {"pid", l_sys_pid},
    {"hostname", l_sys_hostname},
    {"user", l_sys_user},
    {"isatty", l_sys_isatty},
    {"readable", l_sys_readable},
    {NULL, NULL}
};

int luaopen_wpo_core_sys(lua_State *L)
{
    luaL_newlib(L, sys_functions);
    lua_pushliteral(L, WPO_VERSION);    /* sys.VERSION: wpo's, without loading libcurl */
    lua_setfield(L, -2, "VERSION");
    return 1;
}
