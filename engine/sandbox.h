/*
 * sandbox.h — the budgets under which untrusted stack code runs (sandbox.c):
 * the Lua state's allocator, which counts every byte and refuses past the
 * running sandbox's memory cap, and the instruction budget, charged by a count
 * hook and by C code that does unbounded work for one call (pattern matching).
 */
#ifndef WPO_SANDBOX_H
#define WPO_SANDBOX_H

#include <stddef.h>
#include <lua.h>

/* The allocator every wpo Lua state is created with; ud is a struct
 * wpo_sandbox from wpo_sandbox_new. */
void *wpo_sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* A fresh accounting block for one Lua state (NULL when out of memory);
 * freed with wpo_sandbox_free after lua_close. */
void *wpo_sandbox_new(void);
void wpo_sandbox_free(void *ud);

/* Bytes a C function may scan, compare or copy for one unit of the budget
 * (pattern matching, value.show). */
#define WPO_SANDBOX_BYTES_PER_UNIT 8

/* Charge n units of work to the running sandbox's instruction budget. Outside
 * a sandbox it does nothing; when the budget is spent it raises the budget
 * error (it may longjmp: hold no C resource across it). */
void wpo_sandbox_charge(lua_State *L, size_t n);

/* Tests: make the n-th allocation from now that grows a block fail, and
 * every later one (Lua retries a refused allocation after a full collection,
 * so a single refusal would not reach the error paths), until the next call;
 * n = 0: none. Returns how many growing allocations were asked for since the
 * previous call (-1: L was not made by wpo_state_new). */
long wpo_sandbox_fail_at(lua_State *L, long n);

#endif
