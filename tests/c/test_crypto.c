/*
 * test_crypto.c — crypto.h: digests against published vectors, hex and
 * base64 (RFC 4648) both ways, AES-256-GCM round trips and tampering.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "test.h"

static const char *hex_of(const uint8_t *p, size_t n)
{
    static char buf[1024];
    wpo_crypto_hex(p, n, buf);
    return buf;
}

static void test_sha256_vectors(void)
{
    uint8_t d[WPO_SHA256_LEN];
    CHECK(wpo_crypto_sha256("", 0, d) == 0);
    CHECK_STR(hex_of(d, sizeof d), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(wpo_crypto_sha256("abc", 3, d) == 0);
    CHECK_STR(hex_of(d, sizeof d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_hmac_rfc4231(void)
{
    uint8_t d[WPO_SHA256_LEN], key[20];
    memset(key, 0x0b, sizeof key);
    CHECK(wpo_crypto_hmac_sha256(key, sizeof key, "Hi There", 8, d) == 0);
    CHECK_STR(hex_of(d, sizeof d), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    const char *data = "what do ya want for nothing?";
    CHECK(wpo_crypto_hmac_sha256("Jefe", 4, data, strlen(data), d) == 0);
    CHECK_STR(hex_of(d, sizeof d), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(wpo_crypto_hmac_sha256(NULL, 0, NULL, 0, d) == 0);
    CHECK_STR(hex_of(d, sizeof d), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

static void test_md5(void)
{
    uint8_t d[WPO_MD5_LEN];
    CHECK(wpo_crypto_md5("message digest", 14, d) == 0);
    CHECK_STR(hex_of(d, sizeof d), "f96b697d7cb7938d525a2f31aaf161d0");
}

static void test_hex(void)
{
    uint8_t out[4];
    CHECK(wpo_crypto_unhex("00fFa9", 6, out) == 0);
    CHECK(out[0] == 0 && out[1] == 0xff && out[2] == 0xa9);
    CHECK(wpo_crypto_unhex("abc", 3, out) == -1);
    CHECK(wpo_crypto_unhex("0g", 2, out) == -1);
}

static void test_base64(void)
{
    static const char *const vectors[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="},
        {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    char enc[16];
    uint8_t dec[16];
    size_t n;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        wpo_crypto_base64((const uint8_t *)vectors[i][0], strlen(vectors[i][0]), enc);
        CHECK_STR(enc, vectors[i][1]);
        CHECK(wpo_crypto_unbase64(vectors[i][1], strlen(vectors[i][1]), dec, &n) == 0);
        CHECK(n == strlen(vectors[i][0]) && memcmp(dec, vectors[i][0], n) == 0);
    }
    static const char *const bad[] = {"Zg", "Zg=", "Zh==", "Zm9=", "Z===", "Zg==Zg==", "Zm9v\n", "Zm-_"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(wpo_crypto_unbase64(bad[i], strlen(bad[i]), dec, &n) == -1);
}

static void test_aes_gcm(void)
{
    uint8_t key[WPO_AES_KEY_LEN], other[WPO_AES_KEY_LEN];
    CHECK(wpo_crypto_random(key, sizeof key) == 0);
    memcpy(other, key, sizeof key);
    other[0] ^= 1;
    const char *plain = "{\"lineage\":\"x\",\"serial\":7}";
    size_t n = strlen(plain), total = n + WPO_AES_GCM_IV_LEN + WPO_AES_GCM_TAG_LEN;
    uint8_t *blob = malloc(total), *back = malloc(n + 1);
    char err[160];
    CHECK(wpo_crypto_aes_gcm_encrypt(key, plain, n, "aad", 3, blob) == 0);
    CHECK(wpo_crypto_aes_gcm_decrypt(key, blob, total, "aad", 3, back, err, sizeof err) == 0);
    CHECK(memcmp(back, plain, n) == 0);

    CHECK(wpo_crypto_aes_gcm_decrypt(other, blob, total, "aad", 3, back, err, sizeof err) == -1);
    CHECK(strncmp(err, "authentication failed", 21) == 0);
    CHECK(wpo_crypto_aes_gcm_decrypt(key, blob, total, NULL, 0, back, err, sizeof err) == -1);
    for (size_t i = 0; i < total; i++) {
        blob[i] ^= 0x80;
        err[0] = '\0';
        CHECK(wpo_crypto_aes_gcm_decrypt(key, blob, total, "aad", 3, back, err, sizeof err) == -1);
        CHECK(strncmp(err, "authentication failed", 21) == 0);
        blob[i] ^= 0x80;
    }
    CHECK(wpo_crypto_aes_gcm_decrypt(key, blob, 27, "aad", 3, back, err, sizeof err) == -1);
    CHECK(strncmp(err, "authentication failed", 21) == 0);
    free(blob);
    free(back);
}

int main(void)
{
    static const struct test_case cases[] = {
        TEST(test_sha256_vectors), TEST(test_hmac_rfc4231), TEST(test_md5), TEST(test_hex),
        TEST(test_base64), TEST(test_aes_gcm), {NULL, NULL}};
    return test_run("crypto", cases);
}
