/*
 * sigv4.c — wpo.core.sigv4: AWS Signature Version 4, header and presigned
 * (query) forms, in the stages of AWS's own C signer: canonical request,
 * string to sign, signing key (cached per secret/date/region/service),
 * signature. It owns the canonical forms (URI path normalisation per service,
 * query and header canonicalisation, payload hashing); it does not own
 * credentials (the caller passes them in) or sending (http.c).
 *
 * The rules, checked against the AWS SigV4 test suite and botocore's signer:
 * - The url is the one that goes on the wire, already percent-encoded. Its
 *   path is normalised (dot segments and empty segments removed) unless
 *   normalize_path is false, then encoded again when double_encode is set
 *   (every service but S3); for S3 it is used as it is, only bytes that may
 *   not appear in a path being encoded.
 * - Query parameters: split on '&' (empty pieces dropped) and at the first
 *   '=', each key and value percent-decoded then encoded (RFC 3986
 *   unreserved kept; '+' means '+'), sorted by key then value, bytewise.
 * - Headers: names lower-cased; values trimmed with internal runs of
 *   whitespace (folded lines included) collapsed to one space; repeated
 *   names joined with ',' in the order given; sorted by name. Host comes
 *   from the url (lower-case, default port dropped) unless given. Never
 *   signed: authorization, user-agent, expect, x-amzn-trace-id, connection,
 *   upgrade, sec-websocket-*. x-amz-date is always the signer's own.
 * - Payload hash: payload_hash when given, else (header form, no
 *   content_sha256_header) a given x-amz-content-sha256 header's value,
 *   else the SHA-256 of the body ("" when none).
 *
 * Lua API (wpo.core.sigv4); req = { method, url, headers = { [name] = value
 * or { values... } }, body?, payload_hash?, access_key, secret_key,
 * session_token?, region, service, time? (epoch seconds, default now),
 * normalize_path?, double_encode?, content_sha256_header?,
 * sign_session_token? }. For service "s3" (and "s3-*") the defaults are
 * normalize_path = false, double_encode = false, content_sha256_header =
 * true, and presign() uses UNSIGNED-PAYLOAD; elsewhere the opposite.
 * sign_session_token defaults to true (false: the token travels unsigned).
 *   sign(req) -> { Authorization =, ["X-Amz-Date"] =, ["X-Amz-Security-Token"] =?,
 *                  ["X-Amz-Content-Sha256"] =? }   the headers to add
 *   presign(req, expires_seconds) -> url
 *   canonical_request(req, expires_seconds?) -> string, signed_headers
 *       (with expires_seconds: the presigned form's canonical request)
 *   string_to_sign(req, canonical_request) -> string
 *   signing_key(secret, yyyymmdd, region, service) -> 32 bytes (cached)
 *   signature(key, string_to_sign) -> hex
 * Bad arguments (unknown keys, a url that is not absolute, an invalid header
 * name...) raise: signing never fails for environmental reasons.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "crypto.h"
#include "sigv4.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_EXPIRES (7 * 24 * 3600)

/* ---- small helpers ------------------------------------------------------ */

static bool buf_grow(struct wpo_sigv4_buf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    if (extra > SIZE_MAX / 4 - b->len) {
        b->oom = true;
        return false;
    }
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

static void buf_add(struct wpo_sigv4_buf *b, const void *p, size_t n)
{
    if (!buf_grow(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_addc(struct wpo_sigv4_buf *b, char c)
{
    buf_add(b, &c, 1);
}

static void buf_adds(struct wpo_sigv4_buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_addstr(struct wpo_sigv4_buf *b, struct wpo_str s)
{
    buf_add(b, s.ptr, s.len);
}

static void buf_reset(struct wpo_sigv4_buf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->data)
        b->data[0] = '\0';
}

static void buf_release(struct wpo_sigv4_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* RFC 9110 token characters: what a header name or method may hold. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool all_tchar(struct wpo_str s)
{
    if (!s.ptr || s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!is_tchar((unsigned char)s.ptr[i]))
            return false;
    return true;
}

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static bool name_is(struct wpo_str name, const char *lname)
{
    size_t n = strlen(lname);
    if (name.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)name.ptr[i]) != (unsigned char)lname[i])
            return false;
    return true;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static const char HEX_UPPER[] = "0123456789ABCDEF";

/* Percent-encode every byte but the unreserved ones (and '/' when
 * keep_slash), into out, which holds 3 * n bytes. Returns the length. */
static size_t encode_bytes(char *out, const char *in, size_t n, bool keep_slash)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = HEX_UPPER[c >> 4];
            out[o++] = HEX_UPPER[c & 15];
        }
    }
    return o;
}

/* A query key or value: percent-decode (malformed escapes stay as they
 * are), then encode. out holds 3 * n bytes. Returns the length. */
static size_t reencode_component(char *out, const char *in, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%' && i + 2 < n) {
            int hi = hex_digit((unsigned char)in[i + 1]), lo = hex_digit((unsigned char)in[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (unsigned char)(hi << 4 | lo);
                i += 2;
            }
        }
        if (is_unreserved(c)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = HEX_UPPER[c >> 4];
            out[o++] = HEX_UPPER[c & 15];
        }
    }
    return o;
}

/* ---- the url ------------------------------------------------------------ */

struct url_parts {
    struct wpo_str scheme, host, port, path, query;
    size_t prefix_len;  /* scheme://authority/path: what a presigned url keeps */
};

static int parse_url(struct wpo_str url, struct url_parts *u, char *err, size_t errlen)
{
    const char *p = url.ptr, *end = url.ptr + url.len;
    memset(u, 0, sizeof *u);

    const char *s = p;
    while (s < end && ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                       (s > p && ((*s >= '0' && *s <= '9') || *s == '+' || *s == '-' || *s == '.'))))
        s++;
    if (s == p || end - s < 3 || memcmp(s, "://", 3) != 0) {
        snprintf(err, errlen, "url must be absolute (scheme://host/path), got '%.*s'",
                 (int)(url.len > 200 ? 200 : url.len), url.ptr);
        return -1;
    }
    u->scheme = (struct wpo_str){p, (size_t)(s - p)};

    const char *auth = s + 3, *aend = auth;
    while (aend < end && *aend != '/' && *aend != '?' && *aend != '#')
        aend++;
    const char *host = auth;
    for (const char *q = auth; q < aend; q++)
        if (*q == '@')
            host = q + 1;  /* userinfo is never signed */
    const char *hend = aend, *port = NULL;
    if (host < aend && *host == '[') {
        const char *close = memchr(host, ']', (size_t)(aend - host));
        if (!close) {
            snprintf(err, errlen, "url has an unterminated IPv6 address");
            return -1;
        }
        hend = close + 1;
        if (hend < aend) {
            if (*hend != ':') {
                snprintf(err, errlen, "url has junk after its IPv6 address");
                return -1;
            }
            port = hend + 1;
        }
    } else {
        for (const char *q = host; q < aend; q++)
            if (*q == ':') {
                hend = q;
                port = q + 1;
                break;
            }
    }
    if (hend == host) {
        snprintf(err, errlen, "url has no host: '%.*s'", (int)(url.len > 200 ? 200 : url.len),
                 url.ptr);
        return -1;
    }
    u->host = (struct wpo_str){host, (size_t)(hend - host)};
    for (size_t i = 0; i < u->host.len; i++)
        if ((unsigned char)host[i] <= ' ' || host[i] == 0x7f) {
            snprintf(err, errlen, "url has a space or control character in its host");
            return -1;
        }
    if (port) {
        u->port = (struct wpo_str){port, (size_t)(aend - port)};
        long value = 0;
        for (size_t i = 0; i < u->port.len; i++) {
            if (port[i] < '0' || port[i] > '9' || i >= 5) {
                snprintf(err, errlen, "url has an invalid port");
                return -1;
            }
            value = value * 10 + (port[i] - '0');
        }
        if (value > 65535) {
            snprintf(err, errlen, "url has an invalid port");
            return -1;
        }
    }

    const char *path = aend, *pend = aend;
    while (pend < end && *pend != '?' && *pend != '#')
        pend++;
    u->path = (struct wpo_str){path, (size_t)(pend - path)};
    u->prefix_len = (size_t)(pend - p);
    if (pend < end && *pend == '?') {
        const char *q = pend + 1, *qend = q;
        while (qend < end && *qend != '#')
            qend++;
        u->query = (struct wpo_str){q, (size_t)(qend - q)};
    }
    return 0;
}

static bool scheme_is(struct wpo_str scheme, const char *name)
{
    return name_is(scheme, name);
}

/* The host header for the url: lower-case host, port unless the default. */
static void add_host(struct wpo_sigv4_buf *b, const struct url_parts *u)
{
    for (size_t i = 0; i < u->host.len; i++)
        buf_addc(b, (char)lower((unsigned char)u->host.ptr[i]));
    if (u->port.len > 0) {
        long port = strtol(u->port.ptr, NULL, 10);  /* digits only, at most 5 */
        bool dflt = (port == 80 && scheme_is(u->scheme, "http")) ||
                    (port == 443 && scheme_is(u->scheme, "https"));
        if (!dflt) {
            char num[16];
            snprintf(num, sizeof num, ":%ld", port);
            buf_adds(b, num);
        }
    }
}

/* ---- canonical URI ------------------------------------------------------ */

/* RFC 3986 dot-segment removal, also dropping empty segments (as AWS
 * services do); a trailing '/' stays when anything is left. */
static void add_normalized_path(struct wpo_sigv4_buf *out, struct wpo_str path)
{
    size_t start = out->len;
    const char *p = path.ptr, *end = path.ptr + path.len;
    while (p < end) {
        const char *seg = p;
        while (p < end && *p != '/')
            p++;
        size_t n = (size_t)(p - seg);
        if (p < end)
            p++;
        if (n == 0 || (n == 1 && seg[0] == '.'))
            continue;
        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            if (out->len > start && !out->oom) {
                size_t i = out->len;
                while (i > start && out->data[i - 1] != '/')
                    i--;
                out->len = i > start ? i - 1 : start;
                out->data[out->len] = '\0';
            }
            continue;
        }
        buf_addc(out, '/');
        buf_add(out, seg, n);
    }
    if (out->len == start)
        buf_addc(out, '/');
    else if (path.len > 0 && path.ptr[path.len - 1] == '/')
        buf_addc(out, '/');
}

static void add_canonical_uri(struct wpo_sigv4_buf *out, struct wpo_str path,
                              const struct wpo_sigv4_request *req, struct wpo_sigv4_buf *tmp)
{
    if (path.len == 0)
        path = (struct wpo_str){"/", 1};
    if (req->normalize_path) {
        buf_reset(tmp);
        add_normalized_path(tmp, path);
        if (tmp->oom) {
            out->oom = true;
            return;
        }
        path = (struct wpo_str){tmp->data, tmp->len};
    }
    if (path.len > SIZE_MAX / 4) {
        out->oom = true;
        return;
    }
    if (!buf_grow(out, 3 * path.len))
        return;
    if (req->double_encode) {
        out->len += encode_bytes(out->data + out->len, path.ptr, path.len, true);
    } else {
        /* Already encoded for the wire: keep escapes, encode only what may
         * not appear in a path as it is. */
        char *o = out->data + out->len;
        for (size_t i = 0; i < path.len; i++) {
            unsigned char c = (unsigned char)path.ptr[i];
            if (is_unreserved(c) || c == '/' ||
                (c == '%' && i + 2 < path.len && hex_digit((unsigned char)path.ptr[i + 1]) >= 0 &&
                 hex_digit((unsigned char)path.ptr[i + 2]) >= 0)) {
                *o++ = (char)c;
            } else {
                *o++ = '%';
                *o++ = HEX_UPPER[c >> 4];
                *o++ = HEX_UPPER[c & 15];
            }
        }
        out->len = (size_t)(o - out->data);
    }
    out->data[out->len] = '\0';
}

/* ---- canonical headers -------------------------------------------------- */

struct header_entry {
    struct wpo_str name, value;
    size_t index;  /* the order given, to keep repeated headers in order */
};

static int compare_names(struct wpo_str a, struct wpo_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = lower((unsigned char)a.ptr[i]), y = lower((unsigned char)b.ptr[i]);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return a.len < b.len ? -1 : a.len > b.len;
}

static int compare_headers(const void *pa, const void *pb)
{
    const struct header_entry *a = pa, *b = pb;
    int c = compare_names(a->name, b->name);
    if (c)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Trim, and collapse each internal run of whitespace to one space. */
static void add_trimmed(struct wpo_sigv4_buf *b, struct wpo_str v)
{
    size_t i = 0, n = v.len;
    while (i < n && is_space((unsigned char)v.ptr[i]))
        i++;
    while (n > i && is_space((unsigned char)v.ptr[n - 1]))
        n--;
    /* Most values (tokens, hashes, dates) hold no space at all: copy them
     * after one branch-free scan. */
    size_t blanks = 0;
    for (size_t k = i; k < n; k++)
        blanks += (unsigned char)v.ptr[k] <= ' ';
    if (blanks == 0) {
        buf_add(b, v.ptr + i, n - i);
        return;
    }
    if (!buf_grow(b, n - i))
        return;
    char *o = b->data + b->len;
    bool gap = false;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        if (is_space(c)) {
            gap = true;
            continue;
        }
        if (gap) {
            *o++ = ' ';
            gap = false;
        }
        *o++ = (char)c;
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

static bool never_signed(struct wpo_str name)
{
    static const char *const names[] = {
        "authorization", "user-agent", "expect", "x-amzn-trace-id", "connection", "upgrade",
        "sec-websocket-key", "sec-websocket-protocol", "sec-websocket-version", NULL};
    for (const char *const *n = names; *n; n++)
        if (name_is(name, *n))
            return true;
    return false;
}

static bool has_token(const struct wpo_sigv4_request *req)
{
    return req->session_token.ptr && req->session_token.len > 0;
}

/* ---- stages ------------------------------------------------------------- */

void wpo_sigv4_init(struct wpo_sigv4_signing *s)
{
    memset(s, 0, sizeof *s);
}

void wpo_sigv4_free(struct wpo_sigv4_signing *s)
{
    buf_release(&s->host);
    buf_release(&s->canonical_query);
    buf_release(&s->signed_headers);
    buf_release(&s->payload_hash);
    buf_release(&s->canonical_request);
    buf_release(&s->string_to_sign);
    buf_release(&s->authorization);
    buf_release(&s->url);
    buf_release(&s->work_block);
    buf_release(&s->work_path);
    buf_release(&s->work_headers);
    buf_release(&s->work_query);
}

/* n bytes of working space in b (its content is not kept). */
static void *reserve(struct wpo_sigv4_buf *b, size_t n)
{
    buf_reset(b);
    return buf_grow(b, n) ? b->data : NULL;
}

static int format_dates(int64_t t, struct wpo_sigv4_signing *s, char *err, size_t errlen)
{
    if (t < 0 || t > INT64_C(253402300799)) {
        snprintf(err, errlen, "time %lld is outside 1970..9999", (long long)t);
        return -1;
    }
    /* Civil date from days since the epoch (Howard Hinnant's algorithm). */
    int64_t days = t / 86400, secs = t % 86400;
    int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1), m = (int)(mp < 10 ? mp + 3 : mp - 9);
    int y = (int)(yoe + era * 400 + (m <= 2));
    int hh = (int)(secs / 3600), mm = (int)(secs / 60 % 60), ss = (int)(secs % 60);
    int fields[] = {y / 100, y % 100, m, d, -1, hh, mm, ss};
    char *o = s->amz_date;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (fields[i] < 0) {
            *o++ = 'T';
            continue;
        }
        *o++ = (char)('0' + fields[i] / 10);
        *o++ = (char)('0' + fields[i] % 10);
    }
    *o++ = 'Z';
    *o = '\0';
    memcpy(s->date, s->amz_date, 8);
    s->date[8] = '\0';
    return 0;
}

static int check_scope(const struct wpo_sigv4_request *req, char *err, size_t errlen)
{
    if (!all_tchar(req->region)) {
        snprintf(err, errlen, "region must be a non-empty token such as us-east-1");
        return -1;
    }
    if (!all_tchar(req->service)) {
        snprintf(err, errlen, "service must be a non-empty token such as ec2");
        return -1;
    }
    return 0;
}

static int check_credentials(const struct wpo_sigv4_request *req, char *err, size_t errlen)
{
    if (!all_tchar(req->access_key)) {
        snprintf(err, errlen, "access_key must be a non-empty token");
        return -1;
    }
    if (!req->secret_key.ptr) {
        snprintf(err, errlen, "secret_key is required");
        return -1;
    }
    if (has_token(req)) {
        const char *t = req->session_token.ptr;
        size_t n = req->session_token.len;
        if (memchr(t, '\n', n) || memchr(t, '\r', n) || memchr(t, '\0', n)) {
            snprintf(err, errlen, "session_token holds a line break or NUL");
            return -1;
        }
    }
    return 0;
}

struct query_param {
    const char *key, *value;
    size_t klen, vlen;
};

static int compare_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int compare_params(const void *pa, const void *pb)
{
    const struct query_param *a = pa, *b = pb;
    int c = compare_bytes(a->key, a->klen, b->key, b->klen);
    return c ? c : compare_bytes(a->value, a->vlen, b->value, b->vlen);
}

static bool key_is_ci(const struct query_param *p, const char *name)
{
    return name_is((struct wpo_str){p->key, p->klen}, name);
}

/* Canonical query string into s->canonical_query; in the presigned form,
 * with the X-Amz-* parameters (signed headers must be known). */
static int build_query(const struct wpo_sigv4_request *req, const struct url_parts *u,
                       struct wpo_sigv4_signing *s, char *err, size_t errlen)
{
    int rc = -1;
    struct query_param *params = NULL;
    char *enc = NULL;
    size_t nparams = 0, maxparams = 7, encsize = 0;

    for (size_t i = 0; i < u->query.len; i++)
        if (u->query.ptr[i] == '&')
            maxparams++;
    /* Every byte encodes to at most three. */
    encsize = 3 * u->query.len + 64;
    char expires[24] = "";
    if (req->expires > 0) {
        snprintf(expires, sizeof expires, "%lld", (long long)req->expires);
        encsize += 3 * (req->access_key.len + req->region.len + req->service.len +
                        s->signed_headers.len + req->session_token.len) + 512;
    }
    if (maxparams > SIZE_MAX / 2 / sizeof *params || encsize > SIZE_MAX / 2)
        params = NULL;
    else
        params = reserve(&s->work_query, maxparams * sizeof *params + encsize);
    enc = params ? (char *)(params + maxparams) : NULL;
    if (!params) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    char *w = enc;
    const char *p = u->query.ptr, *end = p ? p + u->query.len : NULL;
    while (p && p < end) {
        const char *piece = p;
        while (p < end && *p != '&')
            p++;
        const char *pend = p;
        if (p < end)
            p++;
        if (pend == piece)
            continue;
        const char *eq = memchr(piece, '=', (size_t)(pend - piece));
        const char *kend = eq ? eq : pend, *v = eq ? eq + 1 : pend;
        struct query_param *qp = &params[nparams++];
        qp->key = w;
        qp->klen = reencode_component(w, piece, (size_t)(kend - piece));
        w += qp->klen;
        qp->value = w;
        qp->vlen = reencode_component(w, v, (size_t)(pend - v));
        w += qp->vlen;
    }

    if (req->expires > 0) {
        static const char *const reserved[] = {"x-amz-algorithm", "x-amz-credential",
            "x-amz-date", "x-amz-expires", "x-amz-signedheaders", "x-amz-signature", NULL};
        for (size_t i = 0; i < nparams; i++) {
            for (const char *const *r = reserved; *r; r++)
                if (key_is_ci(&params[i], *r)) {
                    snprintf(err, errlen, "url already carries the query parameter %.*s",
                             (int)params[i].klen, params[i].key);
                    goto cleanup;
                }
            if (has_token(req) && key_is_ci(&params[i], "x-amz-security-token")) {
                snprintf(err, errlen, "url already carries X-Amz-Security-Token");
                goto cleanup;
            }
        }
        char credential[512];
        int n = snprintf(credential, sizeof credential, "%.*s/%s/%.*s/%.*s/aws4_request",
                         (int)req->access_key.len, req->access_key.ptr, s->date,
                         (int)req->region.len, req->region.ptr, (int)req->service.len,
                         req->service.ptr);
        if (n < 0 || (size_t)n >= sizeof credential) {
            snprintf(err, errlen, "access key, region or service too long");
            goto cleanup;
        }
        struct wpo_str added[6][2] = {
            {{"X-Amz-Algorithm", 15}, {ALGORITHM, sizeof ALGORITHM - 1}},
            {{"X-Amz-Credential", 16}, {credential, (size_t)n}},
            {{"X-Amz-Date", 10}, {s->amz_date, strlen(s->amz_date)}},
            {{"X-Amz-Expires", 13}, {expires, strlen(expires)}},
            {{"X-Amz-SignedHeaders", 19}, {s->signed_headers.data, s->signed_headers.len}},
            {{"X-Amz-Security-Token", 20}, req->session_token},
        };
        size_t nadded = has_token(req) && req->sign_session_token ? 6 : 5;
        for (size_t i = 0; i < nadded; i++) {
            struct query_param *qp = &params[nparams++];
            qp->key = added[i][0].ptr;
            qp->klen = added[i][0].len;
            qp->value = w;
            qp->vlen = encode_bytes(w, added[i][1].ptr, added[i][1].len, false);
            w += qp->vlen;
        }
    }

    qsort(params, nparams, sizeof *params, compare_params);
    buf_reset(&s->canonical_query);
    for (size_t i = 0; i < nparams; i++) {
        if (i)
            buf_addc(&s->canonical_query, '&');
        buf_add(&s->canonical_query, params[i].key, params[i].klen);
        buf_addc(&s->canonical_query, '=');
        buf_add(&s->canonical_query, params[i].value, params[i].vlen);
    }
    if (s->canonical_query.oom) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    if (!s->canonical_query.data)
        buf_add(&s->canonical_query, "", 0);
    rc = 0;
cleanup:
    return rc;
}

/* ---- the canonical request, in stages ---- */

/* Stage 1: check the request, format its dates, parse its URL into u and
 * put the Host value in s->host. */
static int check_and_parse(const struct wpo_sigv4_request *req, struct wpo_sigv4_signing *s,
                           struct url_parts *u, char *err, size_t errlen)
{
    bool presign = req->expires > 0;
    if (!all_tchar(req->method)) {
        snprintf(err, errlen, "method must be an HTTP token such as GET");
        return -1;
    }
    if (!req->url.ptr) {
        snprintf(err, errlen, "url is required");
        return -1;
    }
    if (check_scope(req, err, errlen) != 0 || format_dates(req->time, s, err, errlen) != 0)
        return -1;
    if (presign && req->expires > MAX_EXPIRES) {
        snprintf(err, errlen, "expires must be at most %d seconds (7 days)", MAX_EXPIRES);
        return -1;
    }
    if (presign && check_credentials(req, err, errlen) != 0)
        return -1;
    if (parse_url(req->url, u, err, errlen) != 0)
        return -1;
    buf_reset(&s->host);
    add_host(&s->host, u);
    return 0;
}

/* The caller's headers that are signed (in s->work_headers, room left for
 * the four the signer adds), with what the later stages need to know. */
struct signed_set {
    struct header_entry *hs;
    size_t nh;
    bool have_host;
    struct wpo_str given_content_sha;
};

/* Stage 2: pick the caller's headers that are signed. */
static int select_headers(const struct wpo_sigv4_request *req, struct wpo_sigv4_signing *s,
                          struct signed_set *set, char *err, size_t errlen)
{
    bool presign = req->expires > 0;
    struct header_entry *hs = NULL;
    if (req->nheaders < SIZE_MAX / 2 / sizeof *hs)
        hs = reserve(&s->work_headers, (req->nheaders + 4) * sizeof *hs);
    if (!hs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *set = (struct signed_set){hs, 0, false, {NULL, 0}};
    for (size_t i = 0; i < req->nheaders; i++) {
        struct wpo_str name = req->headers[i].name;
        if (!all_tchar(name)) {
            snprintf(err, errlen, "invalid header name '%.*s'", (int)(name.len > 100 ? 100 : name.len),
                     name.ptr ? name.ptr : "");
            return -1;
        }
        if (!req->headers[i].value.ptr) {
            snprintf(err, errlen, "header %.*s has no value", (int)name.len, name.ptr);
            return -1;
        }
        if (never_signed(name) || name_is(name, "x-amz-date"))
            continue;
        if (has_token(req) && name_is(name, "x-amz-security-token"))
            continue;
        if (name_is(name, "x-amz-content-sha256")) {
            if (req->content_sha256_header && !presign)
                continue;
            if (!set->given_content_sha.ptr)
                set->given_content_sha = req->headers[i].value;
        }
        if (name_is(name, "host"))
            set->have_host = true;
        hs[set->nh++] = (struct header_entry){name, req->headers[i].value, i};
    }
    return 0;
}

/* Stage 3: the payload hash, in s->payload_hash: the one given, else the
 * caller's x-amz-content-sha256 (not when presigning), else the body's. */
static int payload_hash(const struct wpo_sigv4_request *req, struct wpo_sigv4_signing *s,
                        const struct signed_set *set, char *err, size_t errlen)
{
    bool presign = req->expires > 0;
    uint8_t digest[WPO_SHA256_LEN];
    char hex[2 * WPO_SHA256_LEN + 1];
    buf_reset(&s->payload_hash);
    if (req->payload_hash.ptr) {
        buf_addstr(&s->payload_hash, req->payload_hash);
    } else if (set->given_content_sha.ptr && !presign) {
        add_trimmed(&s->payload_hash, set->given_content_sha);
    } else if (req->body.len == 0) {
        buf_adds(&s->payload_hash, EMPTY_SHA256);
    } else {
        if (wpo_crypto_sha256(req->body.ptr, req->body.len, digest) != 0) {
            wpo_crypto_why("sha256", err, errlen);
            return -1;
        }
        wpo_crypto_hex(digest, sizeof digest, hex);
        buf_add(&s->payload_hash, hex, 2 * WPO_SHA256_LEN);
    }
    for (size_t i = 0; i < s->payload_hash.len; i++)
        if (s->payload_hash.data[i] == '\n' || s->payload_hash.data[i] == '\r') {
            snprintf(err, errlen, "payload_hash holds a line break");
            return -1;
        }
    return 0;
}

/* Stage 4: add the headers the signer signs itself (host, x-amz-date, the
 * session token, x-amz-content-sha256) and sort the set canonically. */
static void add_signer_headers(const struct wpo_sigv4_request *req, struct wpo_sigv4_signing *s,
                               struct signed_set *set)
{
    bool presign = req->expires > 0;
    bool token_header = has_token(req) && req->sign_session_token && !presign;
    struct header_entry *hs = set->hs;
    size_t extra = req->nheaders;
    if (!set->have_host)
        hs[set->nh++] = (struct header_entry){{"host", 4}, {s->host.data, s->host.len}, extra++};
    if (!presign)
        hs[set->nh++] = (struct header_entry){{"x-amz-date", 10}, {s->amz_date, 16}, extra++};
    if (token_header)
        hs[set->nh++] = (struct header_entry){{"x-amz-security-token", 20}, req->session_token, extra++};
    if (req->content_sha256_header && !presign)
        hs[set->nh++] = (struct header_entry){{"x-amz-content-sha256", 20},
                                              {s->payload_hash.data, s->payload_hash.len}, extra++};
    qsort(hs, set->nh, sizeof *hs, compare_headers);
}

/* Stage 5: the canonical headers block (s->work_block: "name:v1,v2\n" per
 * name, lower-cased) and the signed headers list (s->signed_headers:
 * "a;b;c"), from the sorted set; equal names are merged. */
static int append_headers(const struct wpo_sigv4_request *req, struct wpo_sigv4_signing *s,
                          const struct signed_set *set, char *err, size_t errlen)
{
    const struct header_entry *hs = set->hs;
    size_t nh = set->nh;
    struct wpo_sigv4_buf *block = &s->work_block;
    buf_reset(block);
    buf_reset(&s->signed_headers);
    for (size_t i = 0; i < nh;) {
        size_t j = i + 1;
        while (j < nh && compare_names(hs[i].name, hs[j].name) == 0) {
            if (req->distinct_header_names && (hs[i].name.len != hs[j].name.len ||
                                              memcmp(hs[i].name.ptr, hs[j].name.ptr, hs[i].name.len))) {
                snprintf(err, errlen, "header '%.*s' given twice (as '%.*s' and '%.*s'): give one "
                         "name with a list of values", (int)hs[i].name.len, hs[i].name.ptr,
                         (int)hs[i].name.len, hs[i].name.ptr, (int)hs[j].name.len, hs[j].name.ptr);
                return -1;
            }
            j++;
        }
        if (i)
            buf_addc(&s->signed_headers, ';');
        size_t at_signed = s->signed_headers.len, at_block = block->len;
        buf_add(&s->signed_headers, hs[i].name.ptr, hs[i].name.len);
        buf_add(block, hs[i].name.ptr, hs[i].name.len);
        if (!s->signed_headers.oom && !block->oom)
            for (size_t k = 0; k < hs[i].name.len; k++) {
                s->signed_headers.data[at_signed + k] =
                    (char)lower((unsigned char)s->signed_headers.data[at_signed + k]);
                block->data[at_block + k] = (char)lower((unsigned char)block->data[at_block + k]);
            }
        buf_addc(block, ':');
        for (size_t k = i; k < j; k++) {
            if (k > i)
                buf_addc(block, ',');
            add_trimmed(block, hs[k].value);
        }
        buf_addc(block, '\n');
        i = j;
    }
    return 0;
}

/* The assembly's append steps, one line of the canonical request each. */
static void append_method(struct wpo_sigv4_buf *cr, const struct wpo_sigv4_request *req)
{
    for (size_t i = 0; i < req->method.len; i++) {
        unsigned char c = (unsigned char)req->method.ptr[i];
        buf_addc(cr, (char)(c >= 'a' && c <= 'z' ? c - 32 : c));
    }
    buf_addc(cr, '\n');
}

static void append_path(struct wpo_sigv4_buf *cr, const struct wpo_sigv4_request *req,
                        const struct url_parts *u, struct wpo_sigv4_signing *s)
{
    add_canonical_uri(cr, u->path, req, &s->work_path);
    buf_addc(cr, '\n');
}

static void append_query(struct wpo_sigv4_buf *cr, const struct wpo_sigv4_signing *s)
{
    buf_add(cr, s->canonical_query.data, s->canonical_query.len);
    buf_addc(cr, '\n');
}

static void append_header_block(struct wpo_sigv4_buf *cr, const struct wpo_sigv4_signing *s)
{
    buf_add(cr, s->work_block.data, s->work_block.len);
    buf_addc(cr, '\n');
}

static void append_signed_headers(struct wpo_sigv4_buf *cr, const struct wpo_sigv4_signing *s)
{
    buf_add(cr, s->signed_headers.data, s->signed_headers.len);
    buf_addc(cr, '\n');
}

static void append_payload_hash(struct wpo_sigv4_buf *cr, const struct wpo_sigv4_signing *s)
{
    buf_add(cr, s->payload_hash.data, s->payload_hash.len);
}

int wpo_sigv4_canonical_request(const struct wpo_sigv4_request *req, struct wpo_sigv4_signing *s,
                                char *err, size_t errlen)
{
    struct url_parts u;
    struct signed_set set;
    if (check_and_parse(req, s, &u, err, errlen) != 0)
        return -1;
    buf_reset(&s->work_block);
    if (select_headers(req, s, &set, err, errlen) != 0 ||
        payload_hash(req, s, &set, err, errlen) != 0)
        return -1;
    add_signer_headers(req, s, &set);
    if (append_headers(req, s, &set, err, errlen) != 0 ||
        build_query(req, &u, s, err, errlen) != 0)
        return -1;

    struct wpo_sigv4_buf *cr = &s->canonical_request;
    buf_reset(cr);
    append_method(cr, req);
    append_path(cr, req, &u, s);
    append_query(cr, s);
    append_header_block(cr, s);
    append_signed_headers(cr, s);
    append_payload_hash(cr, s);
    if (cr->oom || s->work_block.oom || s->signed_headers.oom || s->payload_hash.oom || s->host.oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int wpo_sigv4_string_to_sign(const struct wpo_sigv4_request *req, const char *cr, size_t crlen,
                             struct wpo_sigv4_signing *s, char *err, size_t errlen)
{
    uint8_t digest[WPO_SHA256_LEN];
    char hex[2 * WPO_SHA256_LEN + 1];
    if (check_scope(req, err, errlen) != 0 || format_dates(req->time, s, err, errlen) != 0)
        return -1;
    if (wpo_crypto_sha256(cr, crlen, digest) != 0) {
        wpo_crypto_why("sha256", err, errlen);
        return -1;
    }
    wpo_crypto_hex(digest, sizeof digest, hex);
    struct wpo_sigv4_buf *b = &s->string_to_sign;
    buf_reset(b);
    buf_adds(b, ALGORITHM "\n");
    buf_adds(b, s->amz_date);
    buf_addc(b, '\n');
    buf_adds(b, s->date);
    buf_addc(b, '/');
    buf_addstr(b, req->region);
    buf_addc(b, '/');
    buf_addstr(b, req->service);
    buf_adds(b, "/aws4_request\n");
    buf_adds(b, hex);
    if (b->oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* The signing key depends on the secret, the day, the region and the
 * service only: a handful of recent ones are kept, keyed by a digest of the
 * secret (the secret itself is not kept). */
#define KEY_CACHE_SIZE 16
#define KEY_CACHE_NAME 64

struct key_cache_entry {
    bool used;
    uint8_t secret_digest[WPO_SHA256_LEN];
    char date[9];
    char region[KEY_CACHE_NAME], service[KEY_CACHE_NAME];
    uint8_t key[WPO_SHA256_LEN];
};

static struct key_cache_entry key_cache[KEY_CACHE_SIZE];
static unsigned key_cache_next;
static pthread_mutex_t key_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static bool cache_matches(const struct key_cache_entry *e, const uint8_t *digest, const char *date,
                          struct wpo_str region, struct wpo_str service)
{
    return e->used && memcmp(e->secret_digest, digest, WPO_SHA256_LEN) == 0 &&
           memcmp(e->date, date, 9) == 0 && strlen(e->region) == region.len &&
           memcmp(e->region, region.ptr, region.len) == 0 && strlen(e->service) == service.len &&
           memcmp(e->service, service.ptr, service.len) == 0;
}

int wpo_sigv4_signing_key(struct wpo_str secret, const char *date, struct wpo_str region,
                          struct wpo_str service, uint8_t key[32], char *err, size_t errlen)
{
    uint8_t digest[WPO_SHA256_LEN], k[WPO_SHA256_LEN];
    if (!secret.ptr) {
        snprintf(err, errlen, "secret_key is required");
        return -1;
    }
    if (strlen(date) != 8 || strspn(date, "0123456789") != 8) {
        snprintf(err, errlen, "date must be yyyymmdd");
        return -1;
    }
    if (!all_tchar(region) || !all_tchar(service)) {
        snprintf(err, errlen, "region and service must be non-empty tokens");
        return -1;
    }
    bool cacheable = region.len < KEY_CACHE_NAME && service.len < KEY_CACHE_NAME;
    if (wpo_crypto_sha256(secret.ptr, secret.len, digest) != 0)
        goto failed;
    if (cacheable) {
        pthread_mutex_lock(&key_cache_lock);
        for (size_t i = 0; i < KEY_CACHE_SIZE; i++)
            if (cache_matches(&key_cache[i], digest, date, region, service)) {
                memcpy(key, key_cache[i].key, WPO_SHA256_LEN);
                pthread_mutex_unlock(&key_cache_lock);
                return 0;
            }
        pthread_mutex_unlock(&key_cache_lock);
    }

    /* kSecret = "AWS4" + secret; then date, region, service, "aws4_request". */
    char *ksecret = malloc(secret.len + 4);
    if (!ksecret)
        goto failed;
    memcpy(ksecret, "AWS4", 4);
    memcpy(ksecret + 4, secret.ptr, secret.len);
    int rc = wpo_crypto_hmac_sha256(ksecret, secret.len + 4, date, 8, k);
    memset(ksecret, 0, secret.len + 4);
    free(ksecret);
    if (rc != 0 || wpo_crypto_hmac_sha256(k, sizeof k, region.ptr, region.len, k) != 0 ||
        wpo_crypto_hmac_sha256(k, sizeof k, service.ptr, service.len, k) != 0 ||
        wpo_crypto_hmac_sha256(k, sizeof k, "aws4_request", 12, k) != 0)
        goto failed;
    memcpy(key, k, WPO_SHA256_LEN);

    if (cacheable) {
        pthread_mutex_lock(&key_cache_lock);
        struct key_cache_entry *e = &key_cache[key_cache_next++ % KEY_CACHE_SIZE];
        e->used = true;
        memcpy(e->secret_digest, digest, WPO_SHA256_LEN);
        memcpy(e->date, date, 9);
        memcpy(e->region, region.ptr, region.len);
        e->region[region.len] = '\0';
        memcpy(e->service, service.ptr, service.len);
        e->service[service.len] = '\0';
        memcpy(e->key, k, WPO_SHA256_LEN);
        pthread_mutex_unlock(&key_cache_lock);
    }
    return 0;
failed:
    wpo_crypto_why("HMAC-SHA256", err, errlen);
    return -1;
}

int wpo_sigv4_signature(const uint8_t key[32], const char *sts, size_t len, char hex[65])
{
    uint8_t mac[WPO_SHA256_LEN];
    if (wpo_crypto_hmac_sha256(key, WPO_SHA256_LEN, sts, len, mac) != 0)
        return -1;
    wpo_crypto_hex(mac, sizeof mac, hex);
    return 0;
}

int wpo_sigv4_sign(const struct wpo_sigv4_request *req, struct wpo_sigv4_signing *s,
                   char *err, size_t errlen)
{
    uint8_t key[WPO_SHA256_LEN];
    if (check_credentials(req, err, errlen) != 0 ||
        wpo_sigv4_canonical_request(req, s, err, errlen) != 0 ||
        wpo_sigv4_string_to_sign(req, s->canonical_request.data, s->canonical_request.len, s,
                                 err, errlen) != 0 ||
        wpo_sigv4_signing_key(req->secret_key, s->date, req->region, req->service, key,
                              err, errlen) != 0)
        return -1;
    if (wpo_sigv4_signature(key, s->string_to_sign.data, s->string_to_sign.len, s->signature) != 0) {
        wpo_crypto_why("HMAC-SHA256", err, errlen);
        return -1;
    }
    if (req->expires > 0) {
        struct url_parts u;
        if (parse_url(req->url, &u, err, errlen) != 0)
            return -1;
        struct wpo_sigv4_buf *b = &s->url;
        buf_reset(b);
        buf_add(b, req->url.ptr, u.prefix_len);
        if (u.path.len == 0)
            buf_addc(b, '/');
        buf_addc(b, '?');
        buf_add(b, s->canonical_query.data, s->canonical_query.len);
        if (has_token(req) && !req->sign_session_token) {
            buf_adds(b, "&X-Amz-Security-Token=");
            if (buf_grow(b, 3 * req->session_token.len)) {
                b->len += encode_bytes(b->data + b->len, req->session_token.ptr,
                                       req->session_token.len, false);
                b->data[b->len] = '\0';
            }
        }
        buf_adds(b, "&X-Amz-Signature=");
        buf_adds(b, s->signature);
        if (b->oom) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    } else {
        struct wpo_sigv4_buf *b = &s->authorization;
        buf_reset(b);
        buf_adds(b, ALGORITHM " Credential=");
        buf_addstr(b, req->access_key);
        buf_addc(b, '/');
        buf_adds(b, s->date);
        buf_addc(b, '/');
        buf_addstr(b, req->region);
        buf_addc(b, '/');
        buf_addstr(b, req->service);
        buf_adds(b, "/aws4_request, SignedHeaders=");
        buf_add(b, s->signed_headers.data, s->signed_headers.len);
        buf_adds(b, ", Signature=");
        buf_adds(b, s->signature);
        if (b->oom) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* ---- Lua bindings ------------------------------------------------------- */

#define SCRATCH_MT "wpo.sigv4.scratch"

/* Per Lua state, reused by every call: the stage outputs and the header
 * array, so a signature costs no allocation once warm. Nothing in here
 * calls back into Lua, so one scratch per state is enough. */
struct sigv4_scratch {
    struct wpo_sigv4_signing s;
    struct wpo_sigv4_header *headers;
    size_t cap;
};

static int scratch_gc(lua_State *L)
{
    struct sigv4_scratch *sc = luaL_checkudata(L, 1, SCRATCH_MT);
    wpo_sigv4_free(&sc->s);
    free(sc->headers);
    sc->headers = NULL;
    sc->cap = 0;
    return 0;
}

static struct sigv4_scratch *get_scratch(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static const char *const REQ_KEYS[] = {
    "method", "url", "headers", "body", "payload_hash", "access_key", "secret_key",
    "session_token", "region", "service", "time", "normalize_path", "double_encode",
    "content_sha256_header", "sign_session_token", NULL};

static void check_keys(lua_State *L, int t)
{
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        /* The valid keys are a set (upvalue 2): one lookup of an interned string. */
        lua_pushvalue(L, -1);
        bool ok = lua_rawget(L, lua_upvalueindex(2)) == LUA_TBOOLEAN;
        lua_pop(L, 1);
        if (!ok) {
            const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (const char *const *v = REQ_KEYS; *v; v++) {
                if (v != REQ_KEYS)
                    luaL_addstring(&b, ", ");
                luaL_addstring(&b, *v);
            }
            luaL_pushresult(&b);
            luaL_error(L, "sigv4: unknown request key '%s' (valid: %s)",
                       k ? k : luaL_typename(L, -2), lua_tostring(L, -1));
        }
    }
}

static struct wpo_str field_string(lua_State *L, int t, const char *name, bool required)
{
    struct wpo_str s = {NULL, 0};
    int type = lua_getfield(L, t, name);  /* left on the stack: keeps the string alive */
    if (type == LUA_TSTRING)
        s.ptr = lua_tolstring(L, -1, &s.len);
    else if (type != LUA_TNIL || required)
        luaL_error(L, "sigv4: req.%s must be a string (got %s)", name, lua_typename(L, type));
    return s;
}

static bool field_bool(lua_State *L, int t, const char *name, bool dflt)
{
    int type = lua_getfield(L, t, name);
    bool v = dflt;
    if (type == LUA_TBOOLEAN)
        v = lua_toboolean(L, -1);
    else if (type != LUA_TNIL)
        luaL_error(L, "sigv4: req.%s must be a boolean (got %s)", name, lua_typename(L, type));
    lua_pop(L, 1);
    return v;
}

static void add_header(lua_State *L, struct sigv4_scratch *sc, size_t *n, struct wpo_str name,
                       struct wpo_str value)
{
    if (*n == sc->cap) {
        size_t cap = sc->cap ? 2 * sc->cap : 16;
        struct wpo_sigv4_header *h = realloc(sc->headers, cap * sizeof *h);
        if (!h)
            luaL_error(L, "sigv4: out of memory");
        sc->headers = h;
        sc->cap = cap;
    }
    sc->headers[(*n)++] = (struct wpo_sigv4_header){name, value};
}

/* A header value: a string, a number (converted, and anchored in a table
 * made at stack slot anchor on first need), or an array of those for a
 * repeated header. */
static struct wpo_str header_value(lua_State *L, int idx, int anchor, const char *name)
{
    struct wpo_str v = {NULL, 0};
    if (lua_type(L, idx) == LUA_TSTRING) {
        v.ptr = lua_tolstring(L, idx, &v.len);
    } else if (lua_type(L, idx) == LUA_TNUMBER) {
        if (lua_isnil(L, anchor)) {
            lua_newtable(L);
            lua_replace(L, anchor);
        }
        lua_pushvalue(L, idx);
        v.ptr = lua_tolstring(L, -1, &v.len);
        lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    } else {
        luaL_error(L, "sigv4: header '%s' must be a string, a number or a list of them (got %s)",
                   name, luaL_typename(L, idx));
    }
    return v;
}

/* Fills req from the table at index t; leaves values on the stack (they
 * keep the strings alive until the caller returns). */
static void check_request(lua_State *L, int t, struct wpo_sigv4_request *req,
                          struct sigv4_scratch *sc, int64_t expires)
{
    luaL_checktype(L, t, LUA_TTABLE);
    luaL_checkstack(L, 24, "sigv4");
    check_keys(L, t);
    memset(req, 0, sizeof *req);
    req->method = field_string(L, t, "method", true);
    req->url = field_string(L, t, "url", true);
    req->region = field_string(L, t, "region", true);
    req->service = field_string(L, t, "service", true);
    req->access_key = field_string(L, t, "access_key", false);
    req->secret_key = field_string(L, t, "secret_key", false);
    req->session_token = field_string(L, t, "session_token", false);
    req->body = field_string(L, t, "body", false);
    req->payload_hash = field_string(L, t, "payload_hash", false);
    req->expires = expires;

    int type = lua_getfield(L, t, "time");
    if (type == LUA_TNIL) {
        req->time = (int64_t)time(NULL);
    } else {
        int isint = 0;
        req->time = (int64_t)lua_tointegerx(L, -1, &isint);
        if (!isint || type != LUA_TNUMBER)
            luaL_error(L, "sigv4: req.time must be integer epoch seconds (got %s)",
                       type == LUA_TNUMBER ? "a fraction" : lua_typename(L, type));
    }
    lua_pop(L, 1);

    bool s3 = req->service.len >= 2 && memcmp(req->service.ptr, "s3", 2) == 0 &&
              (req->service.len == 2 || req->service.ptr[2] == '-');
    req->normalize_path = field_bool(L, t, "normalize_path", !s3);
    req->double_encode = field_bool(L, t, "double_encode", !s3);
    req->content_sha256_header = field_bool(L, t, "content_sha256_header", s3);
    req->sign_session_token = field_bool(L, t, "sign_session_token", true);
    req->distinct_header_names = true;
    if (s3 && expires > 0 && !req->payload_hash.ptr && req->body.len == 0)
        req->payload_hash = (struct wpo_str){"UNSIGNED-PAYLOAD", 16};

    size_t n = 0;
    type = lua_getfield(L, t, "headers");
    if (type == LUA_TTABLE) {
        int headers = lua_gettop(L);
        lua_pushnil(L);
        int anchor = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, headers)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                luaL_error(L, "sigv4: header names must be strings (got %s)", luaL_typename(L, -2));
            struct wpo_str name;
            name.ptr = lua_tolstring(L, -2, &name.len);
            if (lua_type(L, -1) == LUA_TTABLE) {
                lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
                for (lua_Integer i = 1; i <= len; i++) {
                    lua_rawgeti(L, -1, i);
                    add_header(L, sc, &n, name, header_value(L, -1, anchor, name.ptr));
                    lua_pop(L, 1);  /* the list keeps the string alive */
                }
            } else {
                add_header(L, sc, &n, name, header_value(L, -1, anchor, name.ptr));
            }
            lua_pop(L, 1);
        }
    } else if (type != LUA_TNIL) {
        luaL_error(L, "sigv4: req.headers must be a table (got %s)", lua_typename(L, type));
    }
    req->headers = sc->headers;
    req->nheaders = n;
}

static int raise_error(lua_State *L, const char *err)
{
    return luaL_error(L, "sigv4: %s", err);
}

/* sigv4.sign(req) -> headers to add */
static int l_sigv4_sign(lua_State *L)
{
    struct sigv4_scratch *sc = get_scratch(L);
    struct wpo_sigv4_request req;
    char err[256];
    check_request(L, 1, &req, sc, 0);
    if (!req.access_key.ptr || !req.secret_key.ptr)
        return luaL_error(L, "sigv4: req.access_key and req.secret_key are required");
    if (wpo_sigv4_sign(&req, &sc->s, err, sizeof err) != 0)
        return raise_error(L, err);
    lua_createtable(L, 0, 4);
    lua_pushlstring(L, sc->s.authorization.data, sc->s.authorization.len);
    lua_setfield(L, -2, "Authorization");
    lua_pushstring(L, sc->s.amz_date);
    lua_setfield(L, -2, "X-Amz-Date");
    if (has_token(&req)) {
        lua_pushlstring(L, req.session_token.ptr, req.session_token.len);
        lua_setfield(L, -2, "X-Amz-Security-Token");
    }
    if (req.content_sha256_header) {
        lua_pushlstring(L, sc->s.payload_hash.data, sc->s.payload_hash.len);
        lua_setfield(L, -2, "X-Amz-Content-Sha256");
    }
    return 1;
}

static int64_t check_expires(lua_State *L, int arg)
{
    lua_Integer e = luaL_checkinteger(L, arg);
    luaL_argcheck(L, e >= 1 && e <= MAX_EXPIRES, arg, "must be 1 to 604800 seconds");
    return (int64_t)e;
}

/* sigv4.presign(req, expires_seconds) -> url */
static int l_sigv4_presign(lua_State *L)
{
    struct sigv4_scratch *sc = get_scratch(L);
    struct wpo_sigv4_request req;
    char err[256];
    int64_t expires = check_expires(L, 2);
    check_request(L, 1, &req, sc, expires);
    if (!req.access_key.ptr || !req.secret_key.ptr)
        return luaL_error(L, "sigv4: req.access_key and req.secret_key are required");
    if (wpo_sigv4_sign(&req, &sc->s, err, sizeof err) != 0)
        return raise_error(L, err);
    lua_pushlstring(L, sc->s.url.data, sc->s.url.len);
    return 1;
}

/* sigv4.canonical_request(req, expires_seconds?) -> string, signed_headers */
static int l_sigv4_canonical_request(lua_State *L)
{
    struct sigv4_scratch *sc = get_scratch(L);
    struct wpo_sigv4_request req;
    char err[256];
    int64_t expires = lua_isnoneornil(L, 2) ? 0 : check_expires(L, 2);
    check_request(L, 1, &req, sc, expires);
    if (wpo_sigv4_canonical_request(&req, &sc->s, err, sizeof err) != 0)
        return raise_error(L, err);
    lua_pushlstring(L, sc->s.canonical_request.data, sc->s.canonical_request.len);
    lua_pushlstring(L, sc->s.signed_headers.data, sc->s.signed_headers.len);
    return 2;
}

/* sigv4.string_to_sign(req, canonical_request) -> string */
static int l_sigv4_string_to_sign(lua_State *L)
{
    struct sigv4_scratch *sc = get_scratch(L);
    struct wpo_sigv4_request req;
    char err[256];
    size_t crlen;
    const char *cr = luaL_checklstring(L, 2, &crlen);
    check_request(L, 1, &req, sc, 0);
    if (wpo_sigv4_string_to_sign(&req, cr, crlen, &sc->s, err, sizeof err) != 0)
        return raise_error(L, err);
    lua_pushlstring(L, sc->s.string_to_sign.data, sc->s.string_to_sign.len);
    return 1;
}

/* sigv4.signing_key(secret, yyyymmdd, region, service) -> 32 bytes */
static int l_sigv4_signing_key(lua_State *L)
{
    struct wpo_str secret, region, service;
    size_t dlen;
    secret.ptr = luaL_checklstring(L, 1, &secret.len);
    const char *date = luaL_checklstring(L, 2, &dlen);
    region.ptr = luaL_checklstring(L, 3, &region.len);
    service.ptr = luaL_checklstring(L, 4, &service.len);
    luaL_argcheck(L, dlen == 8 && strlen(date) == 8, 2, "must be yyyymmdd");
    uint8_t key[WPO_SHA256_LEN];
    char err[256];
    if (wpo_sigv4_signing_key(secret, date, region, service, key, err, sizeof err) != 0)
        return raise_error(L, err);
    lua_pushlstring(L, (const char *)key, sizeof key);
    return 1;
}

/* sigv4.signature(key, string_to_sign) -> hex */
static int l_sigv4_signature(lua_State *L)
{
    size_t klen, len;
    const char *key = luaL_checklstring(L, 1, &klen);
    const char *sts = luaL_checklstring(L, 2, &len);
    luaL_argcheck(L, klen == WPO_SHA256_LEN, 1, "must be a 32-byte signing key");
    char hex[65];
    if (wpo_sigv4_signature((const uint8_t *)key, sts, len, hex) != 0) {
        char err[400];
        wpo_crypto_why("sigv4: HMAC-SHA256", err, sizeof err);
        return luaL_error(L, "%s", err);
    }
    lua_pushstring(L, hex);
    return 1;
}

static const luaL_Reg sigv4_functions[] = {
    {"sign", l_sigv4_sign},
    {"presign", l_sigv4_presign},
    {"canonical_request", l_sigv4_canonical_request},
    {"string_to_sign", l_sigv4_string_to_sign},
    {"signing_key", l_sigv4_signing_key},
    {"signature", l_sigv4_signature},
    {NULL, NULL}
};

int luaopen_wpo_core_sigv4(lua_State *L)
{
    lua_createtable(L, 0, sizeof sigv4_functions / sizeof sigv4_functions[0] - 1);
    struct sigv4_scratch *sc = lua_newuserdatauv(L, sizeof *sc, 0);
    memset(sc, 0, sizeof *sc);
    if (luaL_newmetatable(L, SCRATCH_MT)) {
        lua_pushcfunction(L, scratch_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    lua_createtable(L, 0, sizeof REQ_KEYS / sizeof REQ_KEYS[0]);
    for (const char *const *k = REQ_KEYS; *k; k++) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, *k);
    }
    luaL_setfuncs(L, sigv4_functions, 2);
    return 1;
}
