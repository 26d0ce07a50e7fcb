/*
 * dl.c — shared libraries opened at their first use (see dl.h).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

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
