/*
 * crypto.h — the digests and encodings other engine files (sigv4.c) and the
 * C tests use. Implemented in crypto.c with OpenSSL's EVP interface, libcrypto
 * loaded by the first function that needs it (cryptoapi.h).
 */
#ifndef WPO_CRYPTO_H
#define WPO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define WPO_SHA256_LEN 32
#define WPO_MD5_LEN 16
#define WPO_AES_GCM_IV_LEN 12
#define WPO_AES_GCM_TAG_LEN 16
#define WPO_AES_KEY_LEN 32

/* Each returns 0, or -1 when OpenSSL fails (libcrypto cannot be loaded, out
 * of memory, no provider): wpo_crypto_why says which, in one line. */
void wpo_crypto_why(const char *what, char *err, size_t errlen);
int wpo_crypto_random(void *out, size_t n);
int wpo_crypto_sha256(const void *data, size_t len, uint8_t out[WPO_SHA256_LEN]);
int wpo_crypto_md5(const void *data, size_t len, uint8_t out[WPO_MD5_LEN]);
int wpo_crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                           uint8_t out[WPO_SHA256_LEN]);

/* Lower-case hex of n bytes into out (2n characters plus a NUL). */
void wpo_crypto_hex(const uint8_t *in, size_t n, char *out);

/* Hex digits (either case, even length) to bytes: out holds len/2 bytes.
 * -1 on an odd length or a character that is not a hex digit. */
int wpo_crypto_unhex(const char *in, size_t len, uint8_t *out);

/* RFC 4648 base64 with padding: out holds 4*ceil(n/3) characters plus a NUL. */
size_t wpo_crypto_base64(const uint8_t *in, size_t n, char *out);

/* Strict base64 decoding (standard alphabet, '=' padding required, no
 * whitespace): out holds 3*(len/4) bytes; *outlen gets the decoded length.
 * -1 on anything that is not canonical base64. */
int wpo_crypto_unbase64(const char *in, size_t len, uint8_t *out, size_t *outlen);

/* AES-256-GCM with a random 12-byte IV: out (n + 28 bytes) gets
 * iv .. ciphertext .. 16-byte tag. */
int wpo_crypto_aes_gcm_encrypt(const uint8_t key[WPO_AES_KEY_LEN], const void *plain, size_t n,
                               const void *aad, size_t aadlen, uint8_t *out);

/* The inverse: out holds n - 28 bytes. -1 when the blob is too short or does
 * not authenticate under key and aad (err says which). */
int wpo_crypto_aes_gcm_decrypt(const uint8_t key[WPO_AES_KEY_LEN], const uint8_t *blob, size_t n,
                               const void *aad, size_t aadlen, uint8_t *out,
                               char *err, size_t errlen);

#endif
