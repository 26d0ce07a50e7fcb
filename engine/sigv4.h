/*
 * sigv4.h — the AWS Signature Version 4 signer's C interface, in stages like
 * AWS's own C signer: canonical request -> string to sign -> signing key ->
 * signature, then the Authorization header or the presigned URL. sigv4.c
 * implements it; the Lua binding (wpo.core.sigv4) and tests/c/test_sigv4.c
 * use it. Every function returns 0, or -1 with a message in err.
 */
#ifndef WPO_SIGV4_H
#define WPO_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A byte string that need not be NUL-terminated; ptr NULL means "absent". */
struct wpo_str {
    const char *ptr;
    size_t len;
};

struct wpo_sigv4_header {
    struct wpo_str name, value;
};

struct wpo_sigv4_request {
    struct wpo_str method;
    struct wpo_str url;            /* absolute, already percent-encoded for the wire */
    const struct wpo_sigv4_header *headers;  /* repeated names are joined with ',' in order */
    size_t nheaders;
    struct wpo_str body;           /* hashed unless payload_hash is given */
    struct wpo_str payload_hash;   /* hex, "UNSIGNED-PAYLOAD", ...; ptr NULL: sha256(body) */
    struct wpo_str access_key, secret_key;
    struct wpo_str session_token;  /* ptr NULL or empty: none */
    struct wpo_str region, service;
    int64_t time;                  /* epoch seconds */
    int64_t expires;               /* > 0: the presigned (query) form, valid this long */
    bool normalize_path;           /* remove dot segments and empty segments (not S3) */
    bool double_encode;            /* encode the (already encoded) path again (not S3) */
    bool content_sha256_header;    /* header form: add and sign x-amz-content-sha256 (S3) */
    bool sign_session_token;       /* false: the token is added but not signed */
    bool distinct_header_names;    /* names differing only in case are an error (the
                                      Lua binding: a table has no order between them) */
};

struct wpo_sigv4_buf {
    char *data;      /* NUL-terminated when not NULL */
    size_t len, cap;
    bool oom;
};

/* What the stages produce; zero it (or wpo_sigv4_init) before use, and
 * release it with wpo_sigv4_free. */
struct wpo_sigv4_signing {
    char amz_date[17];             /* 20150830T123600Z */
    char date[9];                  /* 20150830 */
    struct wpo_sigv4_buf host;     /* the host header the signature covers */
    struct wpo_sigv4_buf canonical_query;
    struct wpo_sigv4_buf signed_headers;
    struct wpo_sigv4_buf payload_hash;
    struct wpo_sigv4_buf canonical_request;
    struct wpo_sigv4_buf string_to_sign;
    char signature[65];
    struct wpo_sigv4_buf authorization;  /* header form */
    struct wpo_sigv4_buf url;            /* presigned form */
    /* working space, kept from one call to the next to save allocations */
    struct wpo_sigv4_buf work_block, work_path, work_headers, work_query;
};

void wpo_sigv4_init(struct wpo_sigv4_signing *s);
void wpo_sigv4_free(struct wpo_sigv4_signing *s);

/* Stage 1: dates, host, canonical query string, signed headers, payload
 * hash and the canonical request itself. */
int wpo_sigv4_canonical_request(const struct wpo_sigv4_request *req, struct wpo_sigv4_signing *s,
                                char *err, size_t errlen);

/* Stage 2: the string to sign for canonical request cr (req gives the time,
 * region and service). */
int wpo_sigv4_string_to_sign(const struct wpo_sigv4_request *req, const char *cr, size_t crlen,
                             struct wpo_sigv4_signing *s, char *err, size_t errlen);

/* Stage 3: the signing key for a secret, a yyyymmdd date, region, service;
 * the last few are cached (a digest of the secret is the cache key). */
int wpo_sigv4_signing_key(struct wpo_str secret, const char *date, struct wpo_str region,
                          struct wpo_str service, uint8_t key[32], char *err, size_t errlen);

/* Stage 4: hex HMAC-SHA256 of the string to sign under key. */
int wpo_sigv4_signature(const uint8_t key[32], const char *sts, size_t len, char hex[65]);

/* All stages, then s->authorization (req->expires == 0) or s->url (> 0). */
int wpo_sigv4_sign(const struct wpo_sigv4_request *req, struct wpo_sigv4_signing *s,
                   char *err, size_t errlen);

#endif
