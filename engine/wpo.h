/*
 * wpo.h — what the host's files share: creating the Lua state and finding
 * the Lua standard library. Each core module keeps its own header, if any.
 */
#ifndef WPO_H
#define WPO_H

#include <lua.h>

/* A new Lua state with the standard libraries, cjson and every wpo.core.*
 * module preloaded, and package.path leading to the wpo stdlib. argv0 helps
 * find the stdlib next to the binary. NULL (with a message in err) on failure. */
lua_State *wpo_state_new(const char *argv0, char *err, size_t errlen);

/* Close a state made by wpo_state_new and free what it was made with. */
void wpo_state_close(lua_State *L);

#endif
