/*
 * gitapi.c — libgit2 through dlopen, on first use (see gitapi.h).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gitapi.h"

struct wpo_git_api wpo_git;

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int lib_status = -1, init_status = -1;
static char lib_error[256], init_error[256];

static void load_lib(void)
{
    struct wpo_git_api api;
    const char *name = getenv("WPO_LIBGIT2");
    if (!name || !*name)
        name = WPO_GIT_SONAME;
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        /* dlerror names the file and why (not found, wrong class...) */
        const char *why = dlerror();
        snprintf(lib_error, sizeof lib_error, "cannot load libgit2 (needed for git): %s",
                 why ? why : name);
        return;
    }
    /* dlsym's void * to a function pointer: POSIX guarantees it works */
    const char *lib_name = name;
#define WPO_GIT_RESOLVE(name) \
    *(void **)(&api.name) = dlsym(lib, "git_" #name); \
    if (!api.name) { \
        snprintf(lib_error, sizeof lib_error, "cannot load libgit2 (needed for git): %s has no git_%s " \
                 "(wpo was built for libgit2 %s)", lib_name, #name, LIBGIT2_VERSION); \
        dlclose(lib); \
        return; \
    }
    WPO_GIT_FUNCTIONS(WPO_GIT_RESOLVE)
#undef WPO_GIT_RESOLVE
    wpo_git = api;      /* the library stays loaded for the process's life */
    lib_status = 0;
}

static void init(void)
{
    pthread_once(&lib_once, load_lib);
    if (lib_status != 0) {
        snprintf(init_error, sizeof init_error, "%s", lib_error);
        return;
    }
    int rc = wpo_git.libgit2_init();
    if (rc < 0) {
        const git_error *e = wpo_git.error_last();
        snprintf(init_error, sizeof init_error, "cannot load libgit2 (needed for git): git_libgit2_init failed: %s",
                 e && e->message ? e->message : "unknown error");
        return;
    }
    init_status = 0;
}

int wpo_git_load_lib(char *err, size_t errlen)
{
    pthread_once(&lib_once, load_lib);
    if (lib_status != 0 && err && errlen)
        snprintf(err, errlen, "%s", lib_error);
    return lib_status;
}

int wpo_git_load(char *err, size_t errlen)
{
    pthread_once(&init_once, init);
    if (init_status != 0 && err && errlen)
        snprintf(err, errlen, "%s", init_error);
    return init_status;
}
