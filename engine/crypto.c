/*
 * crypto.c — wpo.core.crypto: random bytes, SHA-256, HMAC-SHA-256, MD5,
 * hex and base64, v4 UUIDs and AES-256-GCM (state encryption), all over
 * OpenSSL's EVP interface, libcrypto loaded at the first call that needs it
 * (cryptoapi.h). It owns no key material: callers pass keys in and
 * nothing here keeps them. The pure C functions (crypto.h) serve sigv4.c and
 * the C tests; the Lua bindings sit at the end.
 *
 * Lua API (wpo.core.crypto):
 *   random(n) -> bytes                     n cryptographically random bytes
 *   sha256(data) -> bytes                  32 raw bytes
 *   sha256_new() -> h                      incremental: h:update(data) -> h,
 *                                          h:digest() -> 32 raw bytes (once),
 *                                          h:close() (idempotent; __gc, __close)
 *   hmac_sha256(key, data) -> bytes        32 raw bytes
 *   md5(data) -> bytes                     16 raw bytes
 *   hex(bytes) -> string                   lower-case
 *   unhex(s) -> bytes | nil, err
 *   base64(bytes) -> string                RFC 4648, padded
 *   unbase64(s) -> bytes | nil, err        strict: canonical padded base64 only
 *   uuid() -> "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
 *   aes_gcm_encrypt(key32, plaintext, aad?) -> iv(12) .. ciphertext .. tag(16)
 *   aes_gcm_decrypt(key32, blob, aad?) -> plaintext | nil, "authentication failed ..."
 * A key that is not 32 bytes, or an argument of the wrong type, raises.
 * Every function that hashes, signs, encrypts or draws random bytes raises,
 * when libcrypto cannot be loaded, the wpo error CryptoUnavailable ("crypto.
 * sha256: cannot load libcrypto (...): why"), one line at the command line;
 * hex, unhex, base64 and unbase64 need no library.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "crypto.h"
#include "dl.h"
#include "cryptoapi.h"
#include "cryptocalls.h"   /* generated: NAME is wpo_libcrypto.NAME */

static int loaded(void)
{
    return wpo_libcrypto_load(NULL, 0) == 0;
}

void wpo_crypto_why(const char *what, char *err, size_t errlen)
{
    char why[256];
    if (wpo_libcrypto_load(why, sizeof why) != 0)
        snprintf(err, errlen, "%s: %s", what, why);
    else
        snprintf(err, errlen, "%s: OpenSSL failure", what);
}

/* Fetching an algorithm costs more than hashing a short string: fetch the
 * two digests once per process. */
static EVP_MD *sha256_md;
static EVP_MD *md5_md;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_digests(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    md5_md = EVP_MD_fetch(NULL, "MD5", NULL);
}

static const EVP_MD *digest_sha256(void)
{
    pthread_once(&fetch_once, fetch_digests);
    return sha256_md ? sha256_md : EVP_sha256();
}

static const EVP_MD *digest_md5(void)
{
    pthread_once(&fetch_once, fetch_digests);
    return md5_md;
}

int wpo_crypto_random(void *out, size_t n)
{
    if (!loaded())
        return -1;
    while (n > 0) {
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
        if (RAND_bytes(out, chunk) != 1)
            return -1;
        out = (uint8_t *)out + chunk;
        n -= (size_t)chunk;
    }
    return 0;
}

int wpo_crypto_sha256(const void *data, size_t len, uint8_t out[WPO_SHA256_LEN])
{
    if (!loaded())
        return -1;
    unsigned int outlen = 0;
    return EVP_Digest(data, len, out, &outlen, digest_sha256(), NULL) == 1 ? 0 : -1;
}

int wpo_crypto_md5(const void *data, size_t len, uint8_t out[WPO_MD5_LEN])
{
    if (!loaded())
        return -1;
    const EVP_MD *md = digest_md5();
    unsigned int outlen = 0;
    if (!md)
        return -1;
    return EVP_Digest(data, len, out, &outlen, md, NULL) == 1 ? 0 : -1;
}

/* RFC 2104 over the fetched SHA-256: three times faster than OpenSSL's
 * one-shot HMAC(), which looks the algorithm up on every call. */
int wpo_crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                           uint8_t out[WPO_SHA256_LEN])
{
    enum { BLOCK = 64 };
    uint8_t k[BLOCK] = {0}, pad[BLOCK], inner[WPO_SHA256_LEN];
    unsigned int n = 0;
    int rc = -1;
    const EVP_MD *md = NULL;
    EVP_MD_CTX *ctx = NULL;

    if (!loaded())
        return -1;
    md = digest_sha256();
    if (keylen > BLOCK) {
        if (wpo_crypto_sha256(key, keylen, k) != 0)
            goto cleanup;
    } else if (keylen > 0) {
        memcpy(k, key, keylen);
    }
    if (!(ctx = EVP_MD_CTX_new()))
        goto cleanup;
    for (int i = 0; i < BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, pad, BLOCK) != 1 ||
        (len > 0 && EVP_DigestUpdate(ctx, data, len) != 1) ||
        EVP_DigestFinal_ex(ctx, inner, &n) != 1)
        goto cleanup;
    for (int i = 0; i < BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, pad, BLOCK) != 1 ||
        EVP_DigestUpdate(ctx, inner, sizeof inner) != 1 || EVP_DigestFinal_ex(ctx, out, &n) != 1)
        goto cleanup;
    rc = 0;
cleanup:
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    return rc;
}

void wpo_crypto_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int wpo_crypto_unhex(const char *in, size_t len, uint8_t *out)
{
    if (len % 2)
        return -1;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_value((unsigned char)in[i]), lo = hex_value((unsigned char)in[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t wpo_crypto_base64(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int wpo_crypto_unbase64(const char *in, size_t len, uint8_t *out, size_t *outlen)
{
    size_t o = 0;
    if (len % 4)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        int last = i + 4 == len;
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            int c = (unsigned char)in[i + k];
            if (c == '=' && last && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad) {
                return -1;  /* data after padding */
            } else if ((v[k] = b64_value(c)) < 0) {
                return -1;
            }
        }
        uint32_t word = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* Canonical form only: the bits under the padding must be zero. */
        if ((pad == 1 && (word & 0xff)) || (pad == 2 && (word & 0xffff)))
            return -1;
        out[o++] = (uint8_t)(word >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(word >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)word;
    }
    *outlen = o;
    return 0;
}

int wpo_crypto_aes_gcm_encrypt(const uint8_t key[WPO_AES_KEY_LEN], const void *plain, size_t n,
                               const void *aad, size_t aadlen, uint8_t *out)
{
    int rc = -1, len = 0;
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t *iv = out, *cipher = out + WPO_AES_GCM_IV_LEN, *tag = cipher + n;

    if (!loaded())
        return -1;
    if (n > (size_t)INT32_MAX - 64 || aadlen > (size_t)INT32_MAX)
        goto cleanup;
    if (wpo_crypto_random(iv, WPO_AES_GCM_IV_LEN) != 0)
        goto cleanup;
    if (!(ctx = EVP_CIPHER_CTX_new()))
        goto cleanup;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, WPO_AES_GCM_IV_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key, iv) != 1)
        goto cleanup;
    if (aadlen > 0 && EVP_EncryptUpdate(ctx, NULL, &len, aad, (int)aadlen) != 1)
        goto cleanup;
    if (n > 0 && EVP_EncryptUpdate(ctx, cipher, &len, plain, (int)n) != 1)
        goto cleanup;
    if (EVP_EncryptFinal_ex(ctx, cipher + (n > 0 ? len : 0), &len) != 1)
        goto cleanup;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, WPO_AES_GCM_TAG_LEN, tag) != 1)
        goto cleanup;
    rc = 0;
cleanup:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int wpo_crypto_aes_gcm_decrypt(const uint8_t key[WPO_AES_KEY_LEN], const uint8_t *blob, size_t n,
                               const void *aad, size_t aadlen, uint8_t *out,
                               char *err, size_t errlen)
{
    int rc = -1, len = 0;
    EVP_CIPHER_CTX *ctx = NULL;
    const size_t overhead = WPO_AES_GCM_IV_LEN + WPO_AES_GCM_TAG_LEN;

    if (!loaded()) {
        wpo_crypto_why("aes_gcm_decrypt", err, errlen);
        return -1;
    }
    if (n < overhead) {
        snprintf(err, errlen, "authentication failed: %zu bytes is shorter than IV and tag (%zu)",
                 n, overhead);
        return -1;
    }
    size_t clen = n - overhead;
    const uint8_t *iv = blob, *cipher = blob + WPO_AES_GCM_IV_LEN, *tag = cipher + clen;
    if (clen > (size_t)INT32_MAX - 64 || aadlen > (size_t)INT32_MAX) {
        snprintf(err, errlen, "aes_gcm_decrypt: input too large");
        return -1;
    }
    if (!(ctx = EVP_CIPHER_CTX_new()) ||
        EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, WPO_AES_GCM_IV_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, key, iv) != 1 ||
        (aadlen > 0 && EVP_DecryptUpdate(ctx, NULL, &len, aad, (int)aadlen) != 1) ||
        (clen > 0 && EVP_DecryptUpdate(ctx, out, &len, cipher, (int)clen) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, WPO_AES_GCM_TAG_LEN, (void *)tag) != 1) {
        snprintf(err, errlen, "aes_gcm_decrypt: OpenSSL failure");
        goto cleanup;
    }
    if (EVP_DecryptFinal_ex(ctx, out + (clen > 0 ? len : 0), &len) != 1) {
        /* The plaintext written so far is not to be trusted: wipe it. */
        OPENSSL_cleanse(out, clen);
        snprintf(err, errlen, "authentication failed: wrong key, wrong associated data, "
                 "or the data was altered");
        goto cleanup;
    }
    rc = 0;
cleanup:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/* ---- Lua bindings ------------------------------------------------------ */

/* raises "crypto.WHAT: OpenSSL failure[ (hint)]", or, when libcrypto cannot
 * be loaded, the CryptoUnavailable error that says why */
static int raise_failure(lua_State *L, const char *what, const char *hint)
{
    char name[64], err[400];
    snprintf(name, sizeof name, "crypto.%s", what);
    wpo_crypto_why(name, err, sizeof err);
    if (!loaded())
        return wpo_dl_raise(L, "CryptoUnavailable", err);
    return hint ? luaL_error(L, "%s (%s)", err, hint) : luaL_error(L, "%s", err);
}

static int push_result_or_raise(lua_State *L, luaL_Buffer *b, int rc, const char *what)
{
    if (rc != 0)
        return raise_failure(L, what, NULL);
    luaL_pushresult(b);
    return 1;
}

/* crypto.random(n) -> bytes */
static int l_crypto_random(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0 && n <= (1 << 30), 1, "must be between 0 and 2^30");
    luaL_Buffer b;
    uint8_t *p = (uint8_t *)luaL_buffinitsize(L, &b, (size_t)n);
    int rc = wpo_crypto_random(p, (size_t)n);
    luaL_addsize(&b, (size_t)n);
    return push_result_or_raise(L, &b, rc, "random");
}

/* crypto.sha256(data) -> bytes */
static int l_crypto_sha256(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    uint8_t out[WPO_SHA256_LEN];
    if (wpo_crypto_sha256(data, len, out) != 0)
        return raise_failure(L, "sha256", NULL);
    lua_pushlstring(L, (const char *)out, sizeof out);
    return 1;
}

/* crypto.hmac_sha256(key, data) -> bytes */
static int l_crypto_hmac_sha256(lua_State *L)
{
    size_t klen, len;
    const char *key = luaL_checklstring(L, 1, &klen);
    const char *data = luaL_checklstring(L, 2, &len);
    uint8_t out[WPO_SHA256_LEN];
    if (wpo_crypto_hmac_sha256(key, klen, data, len, out) != 0)
        return raise_failure(L, "hmac_sha256", NULL);
    lua_pushlstring(L, (const char *)out, sizeof out);
    return 1;
}

/* crypto.md5(data) -> bytes */
static int l_crypto_md5(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    uint8_t out[WPO_MD5_LEN];
    if (wpo_crypto_md5(data, len, out) != 0)
        return raise_failure(L, "md5", "is MD5 available?");
    lua_pushlstring(L, (const char *)out, sizeof out);
    return 1;
}

/* crypto.hex(bytes) -> lower-case hex */
static int l_crypto_hex(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    luaL_argcheck(L, len < ((size_t)1 << 40), 1, "too long");
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, 2 * len + 1);
    wpo_crypto_hex((const uint8_t *)data, len, out);
    luaL_pushresultsize(&b, 2 * len);
    return 1;
}

/* crypto.unhex(s) -> bytes | nil, err */
static int l_crypto_unhex(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    uint8_t *out = (uint8_t *)luaL_buffinitsize(L, &b, len / 2 + 1);
    if (wpo_crypto_unhex(s, len, out) != 0) {
        luaL_pushfail(L);
        lua_pushstring(L, len % 2 ? "unhex: odd number of hex digits"
                                  : "unhex: not a hex digit");
        return 2;
    }
    luaL_pushresultsize(&b, len / 2);
    return 1;
}

/* crypto.base64(bytes) -> string */
static int l_crypto_base64(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    luaL_argcheck(L, len < ((size_t)1 << 40), 1, "too long");
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, (len + 2) / 3 * 4 + 1);
    size_t n = wpo_crypto_base64((const uint8_t *)data, len, out);
    luaL_pushresultsize(&b, n);
    return 1;
}

/* crypto.unbase64(s) -> bytes | nil, err */
static int l_crypto_unbase64(lua_State *L)
{
    size_t len, n = 0;
    const char *s = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    uint8_t *out = (uint8_t *)luaL_buffinitsize(L, &b, len / 4 * 3 + 1);
    if (wpo_crypto_unbase64(s, len, out, &n) != 0) {
        luaL_pushfail(L);
        lua_pushstring(L, "unbase64: not canonical padded base64 (RFC 4648)");
        return 2;
    }
    luaL_pushresultsize(&b, n);
    return 1;
}

/* crypto.uuid() -> v4 uuid string */
static int l_crypto_uuid(lua_State *L)
{
    uint8_t r[16];
    char hex[33], out[37];
    if (wpo_crypto_random(r, sizeof r) != 0)
        return raise_failure(L, "uuid", NULL);
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);  /* version 4 */
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);  /* RFC 4122 variant */
    wpo_crypto_hex(r, sizeof r, hex);
    /* 8-4-4-4-12 */
    size_t o = 0;
    for (size_t i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            out[o++] = '-';
        out[o++] = hex[i];
    }
    lua_pushlstring(L, out, o);
    return 1;
}

static const uint8_t *check_key(lua_State *L, int arg)
{
    size_t klen;
    const char *key = luaL_checklstring(L, arg, &klen);
    if (klen != WPO_AES_KEY_LEN)
        luaL_argerror(L, arg, lua_pushfstring(L, "key must be 32 bytes, got %d", (int)klen));
    return (const uint8_t *)key;
}

/* crypto.aes_gcm_encrypt(key32, plaintext, aad?) -> iv .. ciphertext .. tag */
static int l_crypto_aes_gcm_encrypt(lua_State *L)
{
    size_t n, aadlen = 0;
    const uint8_t *key = check_key(L, 1);
    const char *plain = luaL_checklstring(L, 2, &n);
    const char *aad = luaL_optlstring(L, 3, NULL, &aadlen);
    luaL_argcheck(L, n < (size_t)INT32_MAX - 64, 2, "too long");
    size_t total = n + WPO_AES_GCM_IV_LEN + WPO_AES_GCM_TAG_LEN;
    luaL_Buffer b;
    uint8_t *out = (uint8_t *)luaL_buffinitsize(L, &b, total);
    if (wpo_crypto_aes_gcm_encrypt(key, plain, n, aad, aadlen, out) != 0)
        return raise_failure(L, "aes_gcm_encrypt", NULL);
    luaL_pushresultsize(&b, total);
    return 1;
}

/* crypto.aes_gcm_decrypt(key32, blob, aad?) -> plaintext | nil, err */
static int l_crypto_aes_gcm_decrypt(lua_State *L)
{
    size_t n, aadlen = 0;
    const uint8_t *key = check_key(L, 1);
    const char *blob = luaL_checklstring(L, 2, &n);
    const char *aad = luaL_optlstring(L, 3, NULL, &aadlen);
    char err[320];
    if (!loaded())
        return raise_failure(L, "aes_gcm_decrypt", NULL);   /* not an authentication failure */
    size_t plen = n >= WPO_AES_GCM_IV_LEN + WPO_AES_GCM_TAG_LEN
                      ? n - WPO_AES_GCM_IV_LEN - WPO_AES_GCM_TAG_LEN : 0;
    luaL_Buffer b;
    uint8_t *out = (uint8_t *)luaL_buffinitsize(L, &b, plen + 1);
    if (wpo_crypto_aes_gcm_decrypt(key, (const uint8_t *)blob, n, aad, aadlen, out,
                                   err, sizeof err) != 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    luaL_pushresultsize(&b, plen);
    return 1;
}

/* ---- incremental SHA-256 ---------------------------------------------- */

#define WPO_CRYPTO_SHA256 "wpo.crypto.sha256"

struct wpo_sha256 {
    EVP_MD_CTX *ctx;   /* NULL once digested or closed */
};

/* crypto.sha256_new() -> h */
static int l_crypto_sha256_new(lua_State *L)
{
    if (!loaded())
        return raise_failure(L, "sha256_new", NULL);
    struct wpo_sha256 *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->ctx = NULL;
    luaL_setmetatable(L, WPO_CRYPTO_SHA256);
    if (!(h->ctx = EVP_MD_CTX_new()) || EVP_DigestInit_ex(h->ctx, digest_sha256(), NULL) != 1)
        return raise_failure(L, "sha256_new", NULL);
    return 1;
}

static struct wpo_sha256 *check_sha256(lua_State *L)
{
    struct wpo_sha256 *h = luaL_checkudata(L, 1, WPO_CRYPTO_SHA256);
    if (!h->ctx)
        luaL_error(L, "sha256: used after digest or close");
    return h;
}

/* h:update(data) -> h */
static int l_sha256_update(lua_State *L)
{
    struct wpo_sha256 *h = check_sha256(L);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    if (len > 0 && EVP_DigestUpdate(h->ctx, data, len) != 1)
        return luaL_error(L, "sha256:update: OpenSSL failure");
    lua_settop(L, 1);
    return 1;
}

/* h:digest() -> 32 raw bytes; h cannot be fed after */
static int l_sha256_digest(lua_State *L)
{
    struct wpo_sha256 *h = check_sha256(L);
    uint8_t out[WPO_SHA256_LEN];
    unsigned int n = 0;
    int rc = EVP_DigestFinal_ex(h->ctx, out, &n);
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
    if (rc != 1)
        return luaL_error(L, "sha256:digest: OpenSSL failure");
    lua_pushlstring(L, (const char *)out, sizeof out);
    return 1;
}

/* h:close() (idempotent) */
static int l_sha256_close(lua_State *L)
{
    struct wpo_sha256 *h = luaL_checkudata(L, 1, WPO_CRYPTO_SHA256);
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
    return 0;
}

static int l_sha256_tostring(lua_State *L)
{
    struct wpo_sha256 *h = luaL_checkudata(L, 1, WPO_CRYPTO_SHA256);
    lua_pushfstring(L, "sha256 (%s)", h->ctx ? "open" : "done");
    return 1;
}

static const luaL_Reg sha256_methods[] = {
    {"update", l_sha256_update},
    {"digest", l_sha256_digest},
    {"close", l_sha256_close},
    {NULL, NULL}
};

static const luaL_Reg sha256_meta[] = {
    {"__gc", l_sha256_close},
    {"__close", l_sha256_close},
    {"__tostring", l_sha256_tostring},
    {"__index", NULL},
    {NULL, NULL}
};

static const luaL_Reg crypto_functions[] = {
    {"random", l_crypto_random},
    {"sha256", l_crypto_sha256},
    {"sha256_new", l_crypto_sha256_new},
    {"hmac_sha256", l_crypto_hmac_sha256},
    {"md5", l_crypto_md5},
    {"hex", l_crypto_hex},
    {"unhex", l_crypto_unhex},
    {"base64", l_crypto_base64},
    {"unbase64", l_crypto_unbase64},
    {"uuid", l_crypto_uuid},
    {"aes_gcm_encrypt", l_crypto_aes_gcm_encrypt},
    {"aes_gcm_decrypt", l_crypto_aes_gcm_decrypt},
    {NULL, NULL}
};

int luaopen_wpo_core_crypto(lua_State *L)
{
    luaL_newmetatable(L, WPO_CRYPTO_SHA256);
    luaL_setfuncs(L, sha256_meta, 0);
    luaL_newlib(L, sha256_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, crypto_functions);
    return 1;
}
