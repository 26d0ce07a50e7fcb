/*
 * cryptoapi.c — OpenSSL's libcrypto through dlopen, on first use (see
 * cryptoapi.h).
 */
#include <pthread.h>
#include <stdio.h>

#include "cryptoapi.h"
#include "dl.h"

struct wpo_libcrypto_api wpo_libcrypto;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_status = -1;
static char load_error[256];

static void load(void)
{
    struct wpo_libcrypto_api api;
    const struct wpo_dl_symbol symbols[] = {
#define WPO_LIBCRYPTO_SYMBOL(name) {#name, (void **)&api.name},
        WPO_LIBCRYPTO_FUNCTIONS(WPO_LIBCRYPTO_SYMBOL)
#undef WPO_LIBCRYPTO_SYMBOL
        {NULL, NULL}
    };
    if (!wpo_dl_open("WPO_LIBCRYPTO", WPO_LIBCRYPTO_SONAME, "libcrypto (needed for hashing, signing and encryption)",
                     symbols, "wpo was built for OpenSSL " WPO_LIBCRYPTO_STR(OPENSSL_VERSION_MAJOR), load_error,
                     sizeof load_error))
        return;
    wpo_libcrypto = api;     /* the library stays loaded for the process's life */
    load_status = 0;
}

int wpo_libcrypto_load(char *err, size_t errlen)
{
    pthread_once(&load_once, load);
    if (load_status != 0 && err && errlen)
        snprintf(err, errlen, "%s", load_error);
    return load_status;
}
