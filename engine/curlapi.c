/*
 * curlapi.c — libcurl through dlopen, on first use (see curlapi.h).
 */
#include <stdio.h>

#include "curlapi.h"
#include "dl.h"

struct wpo_curl_api wpo_curl;

static struct wpo_dl_once loading = WPO_DL_ONCE_INIT;

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
                     "wpo needs libcurl 7.80 or later", loading.error, sizeof loading.error))
        return;
    CURLcode c = api.global_init(CURL_GLOBAL_DEFAULT);
    if (c != CURLE_OK) {
        snprintf(loading.error, sizeof loading.error,
                 "cannot load libcurl (needed for HTTP requests): curl_global_init failed: %s", api.easy_strerror(c));
        return;     /* left loaded: curl may have set up part of its state */
    }
    wpo_curl = api;     /* the library stays loaded for the process's life */
    loading.status = 0;
}

int wpo_curl_load(char *err, size_t errlen)
{
    return wpo_dl_once(&loading, load, err, errlen);
}
