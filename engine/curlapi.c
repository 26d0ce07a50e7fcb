/*
 * curlapi.c — libcurl through dlopen, on first use (see curlapi.h).
 */
#include <pthread.h>
#include <stdio.h>

#include "curlapi.h"
#include "dl.h"

struct wpo_curl_api wpo_curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_status = -1;
static char load_error[256];

static void load(void)
{
    struct wpo_curl_api api;
    const struct wpo_dl_symbol symbols[] = {
#define WPO_CURL_SYMBOL(name) {"curl_" #name, (void **)&api.name},
        WPO_CURL_FUNCTIONS(WPO_CURL_SYMBOL)
#undef WPO_CURL_SYMBOL
        {NULL, NULL}
    };
    if (!wpo_dl_open("WPO_LIBCURL", WPO_CURL_SONAME, "libcurl (needed for HTTP requests)", symbols,
                     "wpo needs libcurl 7.80 or later", load_error, sizeof load_error))
        return;
    CURLcode c = api.global_init(CURL_GLOBAL_DEFAULT);
    if (c != CURLE_OK) {
        snprintf(load_error, sizeof load_error, "cannot load libcurl (needed for HTTP requests): curl_global_init "
                 "failed: %s", api.easy_strerror(c));
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
