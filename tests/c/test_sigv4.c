/*
 * test_sigv4.c — sigv4.h's stages called from C: the canonical request of a
 * plain GET, the signing key AWS documents, the stages agreeing with
 * wpo_sigv4_sign, repeated headers in array order, the presigned form, bad
 * input refused with a message, and garbage never crashing (run under ASan
 * by make check-asan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "sigv4.h"
#include "test.h"

#define S(lit) ((struct wpo_str){(lit), sizeof(lit) - 1})
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define T0 1440938160 /* 2015-08-30T12:36:00Z */

static struct wpo_sigv4_request base_request(void)
{
    struct wpo_sigv4_request req = {0};
    req.method = S("GET");
    req.url = S("https://example.amazonaws.com/");
    req.access_key = S("AKIDEXAMPLE");
    req.secret_key = S(SECRET);
    req.region = S("us-east-1");
    req.service = S("service");
    req.time = T0;
    req.normalize_path = req.double_encode = req.sign_session_token = true;
    return req;
}

static void test_canonical_get(void)
{
    struct wpo_sigv4_request req = base_request();
    struct wpo_sigv4_signing s;
    char err[256];
    wpo_sigv4_init(&s);
    CHECK(wpo_sigv4_canonical_request(&req, &s, err, sizeof err) == 0);
    CHECK_STR(s.canonical_request.data,
              "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
              "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_STR(s.signed_headers.data, "host;x-amz-date");
    CHECK_STR(s.amz_date, "20150830T123600Z");
    wpo_sigv4_free(&s);
}

static void test_signing_key_documented(void)
{
    uint8_t key[32];
    char err[256], hex[65];
    CHECK(wpo_sigv4_signing_key(S(SECRET), "20120215", S("us-east-1"), S("iam"), key, err, sizeof err) == 0);
    wpo_crypto_hex(key, 32, hex);
    CHECK_STR(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    /* again, from the cache */
    memset(key, 0, sizeof key);
    CHECK(wpo_sigv4_signing_key(S(SECRET), "20120215", S("us-east-1"), S("iam"), key, err, sizeof err) == 0);
    wpo_crypto_hex(key, 32, hex);
    CHECK_STR(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    CHECK(wpo_sigv4_signing_key(S(SECRET), "2012021", S("us-east-1"), S("iam"), key, err, sizeof err) == -1);
}

static void test_stages_agree_with_sign(void)
{
    struct wpo_sigv4_request req = base_request();
    struct wpo_sigv4_header headers[] = {
        {S("Content-Type"), S("application/x-www-form-urlencoded; charset=utf-8")}};
    req.method = S("POST");
    req.url = S("https://ec2.us-east-1.amazonaws.com/");
    req.service = S("ec2");
    req.headers = headers;
    req.nheaders = 1;
    req.body = S("Action=DescribeVpcs&Version=2016-11-15");
    req.session_token = S("token/with+chars=");
    struct wpo_sigv4_signing s;
    char err[256], sig[65], want[512];
    uint8_t key[32];
    wpo_sigv4_init(&s);
    CHECK(wpo_sigv4_sign(&req, &s, err, sizeof err) == 0);
    CHECK(strstr(s.canonical_request.data, "x-amz-security-token:token/with+chars=\n") != NULL);
    CHECK(wpo_sigv4_signing_key(req.secret_key, "20150830", req.region, req.service, key, err, sizeof err) == 0);
    CHECK(wpo_sigv4_signature(key, s.string_to_sign.data, s.string_to_sign.len, sig) == 0);
    snprintf(want, sizeof want, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, "
             "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=%s", sig);
    CHECK_STR(s.authorization.data, want);
    wpo_sigv4_free(&s);
}

static void test_repeated_headers_in_order(void)
{
    struct wpo_sigv4_request req = base_request();
    struct wpo_sigv4_header headers[] = {
        {S("X-B"), S("2")}, {S("x-a"), S(" z ")}, {S("X-A"), S("y")}, {S("x-A"), S("\tx\n  w")}};
    req.headers = headers;
    req.nheaders = 4;
    struct wpo_sigv4_signing s;
    char err[256];
    wpo_sigv4_init(&s);
    CHECK(wpo_sigv4_canonical_request(&req, &s, err, sizeof err) == 0);
    CHECK(strstr(s.canonical_request.data, "\nx-a:z,y,x w\nx-amz-date:20150830T123600Z\nx-b:2\n") != NULL);
    req.distinct_header_names = true;
    CHECK(wpo_sigv4_canonical_request(&req, &s, err, sizeof err) == -1);
    CHECK(strstr(err, "given twice") != NULL);
    wpo_sigv4_free(&s);
}

static void test_presign(void)
{
    struct wpo_sigv4_request req = base_request();
    req.url = S("https://example.amazonaws.com/a%20b?z=1&a=2");
    req.expires = 900;
    struct wpo_sigv4_signing s;
    char err[256];
    wpo_sigv4_init(&s);
    CHECK(wpo_sigv4_sign(&req, &s, err, sizeof err) == 0);
    const char *prefix = "https://example.amazonaws.com/a%20b?X-Amz-Algorithm=AWS4-HMAC-SHA256&"
                         "X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&"
                         "X-Amz-Date=20150830T123600Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&a=2&z=1"
                         "&X-Amz-Signature=";
    CHECK(s.url.data && strncmp(s.url.data, prefix, strlen(prefix)) == 0);
    CHECK(s.url.len == strlen(prefix) + 64);
    CHECK(s.url.data && strcmp(s.url.data + strlen(prefix), s.signature) == 0);
    CHECK(strstr(s.canonical_request.data, "\n/a%2520b\n") != NULL);

    req.url = S("https://example.amazonaws.com/?x-amz-signature=1");
    CHECK(wpo_sigv4_sign(&req, &s, err, sizeof err) == -1);
    CHECK(strstr(err, "already carries") != NULL);
    req.url = S("https://example.amazonaws.com/");
    req.expires = 604801;
    CHECK(wpo_sigv4_sign(&req, &s, err, sizeof err) == -1);
    wpo_sigv4_free(&s);
}

static void test_refusals(void)
{
    struct wpo_sigv4_signing s;
    char err[256];
    wpo_sigv4_init(&s);
    struct wpo_sigv4_request req = base_request();
    req.url = S("example.amazonaws.com/");
    CHECK(wpo_sigv4_sign(&req, &s, err, sizeof err) == -1);
    CHECK(strstr(err, "absolute") != NULL);
    req = base_request();
    struct wpo_sigv4_header bad[] = {{S("Bad Name"), S("x")}};
    req.headers = bad;
    req.nheaders = 1;
    CHECK(wpo_sigv4_sign(&req, &s, err, sizeof err) == -1);
    CHECK(strstr(err, "invalid header name") != NULL);
    req = base_request();
    req.time = -1;
    CHECK(wpo_sigv4_sign(&req, &s, err, sizeof err) == -1);
    req = base_request();
    req.region = S("us/east");
    CHECK(wpo_sigv4_sign(&req, &s, err, sizeof err) == -1);
    req = base_request();
    req.session_token = S("a\r\nInjected: 1");
    CHECK(wpo_sigv4_sign(&req, &s, err, sizeof err) == -1);
    wpo_sigv4_free(&s);
}

/* Random urls and headers made of the bytes that matter to the parser:
 * every call returns 0 or -1 with a message, and reusing one signing
 * struct across them leaks nothing (ASan). */
static void test_garbage_never_crashes(void)
{
    static const char alphabet[] = "/?#&=%:@[].-_~ aZ09\xc3\xa9\t\n\r+;,";
    uint32_t seed = 42;
    struct wpo_sigv4_signing s;
    char err[256], url[128], name[16], value[32];
    wpo_sigv4_init(&s);
    int ok = 0, refused = 0;
    for (int i = 0; i < 20000; i++) {
        struct wpo_sigv4_request req = base_request();
        size_t n = 0;
        n += (size_t)snprintf(url, sizeof url, "%s", (seed >> 3) % 4 ? "https://" : "");
        seed = seed * 1664525 + 1013904223;
        size_t len = (seed >> 8) % 60;
        for (size_t k = 0; k < len && n < sizeof url - 1; k++) {
            seed = seed * 1664525 + 1013904223;
            url[n++] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        url[n] = '\0';
        size_t nl = 0, vl = 0;
        for (size_t k = 0; k < 1 + (seed >> 20) % 8; k++) {
            seed = seed * 1664525 + 1013904223;
            name[nl++] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        for (size_t k = 0; k < (seed >> 24) % 20; k++) {
            seed = seed * 1664525 + 1013904223;
            value[vl++] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        struct wpo_sigv4_header h = {{name, nl}, {value, vl}};
        req.url = (struct wpo_str){url, n};
        req.headers = &h;
        req.nheaders = 1;
        req.normalize_path = seed & 1;
        req.double_encode = seed & 2;
        req.expires = seed & 4 ? 60 : 0;
        err[0] = '\0';
        int rc = wpo_sigv4_sign(&req, &s, err, sizeof err);
        if (rc == 0)
            ok++;
        else
            refused++;
        CHECK(rc == 0 || (rc == -1 && err[0] != '\0'));
    }
    CHECK(ok > 100 && refused > 100);
    wpo_sigv4_free(&s);
}

int main(void)
{
    static const struct test_case cases[] = {
        TEST(test_canonical_get), TEST(test_signing_key_documented),
        TEST(test_stages_agree_with_sign), TEST(test_repeated_headers_in_order),
        TEST(test_presign), TEST(test_refusals), TEST(test_garbage_never_crashes), {NULL, NULL}};
    return test_run("sigv4", cases);
}
