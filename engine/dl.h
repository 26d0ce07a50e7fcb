/*
 * dl.h — a shared library opened with dlopen at its first use, and the
 * functions wpo calls in it looked up by name (curlapi.c, cryptoapi.c, gitapi.c).
 */
#ifndef WPO_DL_H
#define WPO_DL_H

#include <pthread.h>
#include <stddef.h>

#include <lua.h>

/* A macro's value as a string literal (for sonames made of version numbers). */
#define WPO_STR_(x) #x
#define WPO_STR(x) WPO_STR_(x)

/* A function to look up, and where its address goes. */
struct wpo_dl_symbol {
    const char *name;
    void **slot;
};

/* Opens $env when set (a path, or a name for dlopen), else soname, and
 * stores the address of each symbol (the list ends at a NULL name) in its
 * slot. The handle (kept for the process's life), or NULL with one line in
 * err: "cannot load WHAT: <dlerror: the file and why>", or "cannot load
 * WHAT: FILE has no SYMBOL (HINT)" (the library is closed again). */
void *wpo_dl_open(const char *env, const char *soname, const char *what, const struct wpo_dl_symbol *symbols,
                  const char *hint, char *err, size_t errlen);

/* A library's loading, done once per process whichever thread asks first:
 * load() sets status to 0, or leaves it -1 with one line in error. */
struct wpo_dl_once {
    pthread_once_t once;
    int status;
    char error[256];
};
#define WPO_DL_ONCE_INIT { PTHREAD_ONCE_INIT, -1, "" }

/* Runs load once (o's once); then 0, or -1 with o->error copied to err (err
 * may be NULL). The pthread_once is the memory barrier: a thread that gets 0
 * sees everything load wrote. */
int wpo_dl_once(struct wpo_dl_once *o, void (*load)(void), char *err, size_t errlen);

/* Raises in L the wpo error (stdlib/wpo/errors.lua) { code = code, message
 * = msg }: a library that cannot be loaded is the machine's problem, which
 * the command line says in one line, not an internal error of wpo's. Where
 * wpo.errors cannot be loaded (a bare state), a plain error with msg. */
int wpo_dl_raise(lua_State *L, const char *code, const char *msg);

#endif
