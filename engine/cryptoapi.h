/*
 * cryptoapi.h — OpenSSL's libcrypto, loaded with dlopen on first use, as
 * libcurl and libgit2 are (curlapi.h, gitapi.h). wpo is not linked against
 * it: a run that neither hashes, signs nor encrypts (an offline plan of a
 * stack whose state is not encrypted, validate) never maps it. A program
 * linked against libcrypto starts in about twice the time of one that is
 * not (2.6 ms against 1.3 ms here, perf stat -r 200): its relocations and
 * initialisers.
 *
 * wpo_libcrypto_load() loads the library ($WPO_LIBCRYPTO when set, a path
 * or a name for dlopen; else WPO_LIBCRYPTO_SONAME, the soname of the
 * OpenSSL whose headers wpo was compiled against) and resolves every
 * function wpo calls, once per process (thread-safe; later calls return the
 * first outcome). Then wpo_libcrypto.NAME is NAME. crypto.c and sys.c call
 * them by their own names: they include "cryptocalls.h" after this header,
 * which the Makefile generates from WPO_LIBCRYPTO_FUNCTIONS ("#define NAME
 * (wpo_libcrypto.NAME)" for each; never include it before this header). A
 * thread other than the one that loaded the library calls
 * wpo_libcrypto_load before it reads a pointer: the pthread_once in it is
 * the memory barrier. Every function of crypto.h loads it first.
 */
#ifndef WPO_CRYPTOAPI_H
#define WPO_CRYPTOAPI_H

#include <stddef.h>

#include "dl.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* OpenSSL's soname follows its major version since 3.0 */
#define WPO_LIBCRYPTO_SONAME "libcrypto.so." WPO_STR(OPENSSL_VERSION_MAJOR)

/* every libcrypto function engine/ calls; the list ends at the first empty
 * line (the Makefile reads it) */
#define WPO_LIBCRYPTO_FUNCTIONS(X) \
    X(OpenSSL_version) X(OPENSSL_cleanse) X(RAND_bytes) \
    X(EVP_sha256) X(EVP_MD_fetch) X(EVP_Digest) \
    X(EVP_MD_CTX_new) X(EVP_MD_CTX_free) X(EVP_DigestInit_ex) X(EVP_DigestUpdate) X(EVP_DigestFinal_ex) \
    X(EVP_aes_256_gcm) X(EVP_CIPHER_CTX_new) X(EVP_CIPHER_CTX_free) X(EVP_CIPHER_CTX_ctrl) \
    X(EVP_EncryptInit_ex) X(EVP_EncryptUpdate) X(EVP_EncryptFinal_ex) \
    X(EVP_DecryptInit_ex) X(EVP_DecryptUpdate) X(EVP_DecryptFinal_ex)

struct wpo_libcrypto_api {
#define WPO_LIBCRYPTO_FIELD(name) __typeof__(name) *name;
    WPO_LIBCRYPTO_FUNCTIONS(WPO_LIBCRYPTO_FIELD)
#undef WPO_LIBCRYPTO_FIELD
};

extern struct wpo_libcrypto_api wpo_libcrypto;

/* 0 once libcrypto is loaded; -1 with a one-line message in err (e.g.
 * "cannot load libcrypto (needed for hashing, signing and encryption): ...") */
int wpo_libcrypto_load(char *err, size_t errlen);

#endif
