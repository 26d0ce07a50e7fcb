/*
 * gitread.h — git.read_head and git.read_unproven (gitread.c): what an offline
 * plan needs from a plain work tree's repository, read without libgit2.
 */
#ifndef WPO_GITREAD_H
#define WPO_GITREAD_H

#include <lua.h>

/* Adds read_head and read_unproven to the table on the top of the stack. */
void wpo_gitread_register(lua_State *L);

#endif
