/*
 * curlapi.c — libcurl through dlopen, on first use (see curlapi.h).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curlapi.h"

struct wpo_curl_api wpo_curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_status = -1;
static char load_error[256];

static void load(void)
{
    struct wpo_curl_api api;
    const char *name = getenv("WPO_LIBCURL");
    if (!name || !*name)
        name = WPO_CURL_SONAME;
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        /* dlerror names the file and why (not found, wrong class...) */
        const char *why = dlerror();
        snprintf(load_error, sizeof load_error, "cannot load libcurl (needed for HTTP requests): %s",
                 why ? why : name);
        return;
    }
    /* dlsym's void * to a function pointer: POSIX guarantees it works */
    const char *lib_name = name;
#define WPO_CURL_RESOLVE(name) \
    *(void **)(&api.name) = dlsym(lib, "curl_" #name); \
    if (!api.name) { \
        snprintf(load_error, sizeof load_error, "%s has no curl_%s (wpo needs libcurl 7.80 or later)", \
                 lib_name, #name); \
        dlclose(lib); \
        return; \
    }
    WPO_CURL_FUNCTIONS(WPO_CURL_RESOLVE)
#undef WPO_CURL_RESOLVE
    CURLcode c = api.global_init(CURL_GLOBAL_DEFAULT);
    if (c != CURLE_OK) {
        snprintf(load_error, sizeof load_error, "curl_global_init failed: %s", api.easy_strerror(c));
        return;     /* left loaded: curl may have set up part of its state */
    }
    wpo_curl = api;     /* the library stays loaded for the process's life */
    load_status = 0;
}

int wpo_curl_load(char *err, size_t errlen)
{
    pthread_once(&load_once, load);
    if (load_status != 0 && err && errlen)
        snprintf(err, errlen, "%s", load_error);
    return load_status;
}
