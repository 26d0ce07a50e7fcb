/*
 * gitapi.c — libgit2 through dlopen, on first use (see gitapi.h).
 */
#include <dlfcn.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "dl.h"
#include "gitapi.h"

struct wpo_git_api wpo_git;

static struct wpo_dl_once lib_loading = WPO_DL_ONCE_INIT, initialising = WPO_DL_ONCE_INIT;
static void *lib_handle;

/* ---------------------------------------------------- CA certificates
 * libgit2 built with mbedTLS (Debian's) parses every certificate of the
 * system's CA bundle inside git_libgit2_init: about 5 ms on this project's
 * machines, at every start that opens a repository, for a TLS connection
 * that an offline plan never makes. wpo defines the two mbedTLS functions
 * libgit2 reads them with; the binary exports its symbols (-Wl,-E), and an
 * executable's definitions come first when the dynamic linker binds
 * libgit2's references. While git_libgit2_init runs on this thread they
 * note the location libgit2 asked for and load nothing; at any other time
 * they are mbedTLS's own, looked up in the mbedTLS library already mapped
 * (libgit2's, or another caller's: a libcurl built with mbedTLS would call
 * them too). Before a fetch, git.c hands libgit2 the CA bundle
 * (SSL_CERT_FILE, the system's, or what libgit2 would have read:
 * wpo_git_default_ca), parsed then. Until then libgit2 trusts no
 * certificate: a connection made without that step is refused, never let
 * through. A libgit2 built with OpenSSL never calls these. */
static _Thread_local int deferring_ca;
static char default_ca_file[PATH_MAX], default_ca_dir[PATH_MAX];

typedef int ca_parse_fn(void *chain, const char *location);

/* MBEDTLS_ERR_X509_FILE_IO_ERROR: what mbedTLS answers for a file it cannot read */
#define CA_FILE_IO_ERROR (-0x2900)

/* the mbedTLS X.509 library already mapped (by whichever library calls
 * these: libgit2, or a libcurl built with mbedTLS), opened again without
 * loading anything */
static int find_x509(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    if (info->dlpi_name && strstr(info->dlpi_name, "libmbedx509")) {
        *(void **)data = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
        return *(void **)data != NULL;
    }
    return 0;
}

static int parse_ca(const char *name, void *chain, const char *location, char *note, size_t notelen)
{
    if (deferring_ca) {
        snprintf(note, notelen, "%s", location ? location : "");
        return 0;
    }
    void *x509 = NULL;
    dl_iterate_phdr(find_x509, &x509);
    ca_parse_fn *real = x509 ? (ca_parse_fn *)dlsym(x509, name) : NULL;
    if (!real && lib_handle)
        real = (ca_parse_fn *)dlsym(lib_handle, name);
    /* the caller of this function holds the library mapped */
    if (x509)
        dlclose(x509);
    return real ? real(chain, location) : CA_FILE_IO_ERROR;
}

int mbedtls_x509_crt_parse_file(void *chain, const char *path);
int mbedtls_x509_crt_parse_path(void *chain, const char *path);

int mbedtls_x509_crt_parse_file(void *chain, const char *path)
{
    return parse_ca("mbedtls_x509_crt_parse_file", chain, path, default_ca_file, sizeof default_ca_file);
}

int mbedtls_x509_crt_parse_path(void *chain, const char *path)
{
    return parse_ca("mbedtls_x509_crt_parse_path", chain, path, default_ca_dir, sizeof default_ca_dir);
}

void wpo_git_default_ca(const char **file, const char **dir)
{
    *file = default_ca_file[0] ? default_ca_file : NULL;
    *dir = default_ca_dir[0] ? default_ca_dir : NULL;
}

static void load_lib(void)
{
    struct wpo_git_api api;
    const struct wpo_dl_symbol symbols[] = {
#define WPO_GIT_SYMBOL(name) {"git_" #name, (void **)&api.name},
        WPO_GIT_FUNCTIONS(WPO_GIT_SYMBOL)
#undef WPO_GIT_SYMBOL
        {NULL, NULL}
    };
    void *lib = wpo_dl_open("WPO_LIBGIT2", WPO_GIT_SONAME, "libgit2 (needed for git)", symbols,
                            "wpo was built for libgit2 " LIBGIT2_VERSION, lib_loading.error,
                            sizeof lib_loading.error);
    if (!lib)
        return;
    wpo_git = api;      /* the library stays loaded for the process's life */
    lib_handle = lib;
    lib_loading.status = 0;
}

static void init(void)
{
    if (wpo_dl_once(&lib_loading, load_lib, initialising.error, sizeof initialising.error) != 0)
        return;
    deferring_ca = 1;
    int rc = wpo_git.libgit2_init();
    deferring_ca = 0;
    if (rc < 0) {
        const git_error *e = wpo_git.error_last();
        snprintf(initialising.error, sizeof initialising.error,
                 "cannot load libgit2 (needed for git): git_libgit2_init failed: %s",
                 e && e->message ? e->message : "unknown error");
        return;
    }
    initialising.status = 0;
}

int wpo_git_load_lib(char *err, size_t errlen)
{
    return wpo_dl_once(&lib_loading, load_lib, err, errlen);
}

int wpo_git_load(char *err, size_t errlen)
{
    return wpo_dl_once(&initialising, init, err, errlen);
}
