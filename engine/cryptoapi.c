/*
 * cryptoapi.c — OpenSSL's libcrypto through dlopen, on first use (see
 * cryptoapi.h).
 */
#include <stddef.h>

#include "cryptoapi.h"
#include "dl.h"

struct wpo_libcrypto_api wpo_libcrypto;

static struct wpo_dl_once loading = WPO_DL_ONCE_INIT;

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
                     symbols, "wpo was built for OpenSSL " WPO_STR(OPENSSL_VERSION_MAJOR), loading.error,
                     sizeof loading.error))
        return;
    wpo_libcrypto = api;     /* the library stays loaded for the process's life */
    loading.status = 0;
}

int wpo_libcrypto_load(char *err, size_t errlen)
{
    return wpo_dl_once(&loading, load, err, errlen);
}
