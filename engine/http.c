/*
 * http.c — wpo.core.http: HTTP/1.1 requests over libcurl, run by the event
 * loop (engine/loop.c owns the multi handle, the ids and the completions;
 * this file owns building a request and turning its result into Lua).
 *
 *   http.start(req) -> id
 *     req = { method = "GET" (default) | "HEAD" | "POST" | "PUT" | "DELETE"
 *                      | "PATCH" | "OPTIONS",
 *             url = "http://..." | "https://..." (required),
 *             headers = { [name] = string value }?,
 *             body = string?,            (POST/PUT/PATCH without one send an
 *                                         empty body, Content-Length: 0)
 *             timeout_ms = integer?,     whole request, default 300000, 0 = none
 *             connect_timeout_ms = integer?,  default 10000, 0 = curl's own
 *             ca_bundle = path? }        CA file to verify the server with,
 *                                        instead of the system's; default
 *                                        $AWS_CA_BUNDLE when set (as the AWS SDKs)
 *   Misuse (unknown key, bad method, missing or non-http(s) url, header names
 *   that are not tokens, values that are not strings or hold CR/LF) raises.
 *
 *   The completion (see loop.wait) is ok with value
 *     { status = integer, headers = { [lower-case name] = value },
 *       body = string, reused = boolean (the connection was kept alive),
 *       timing = { total_ms, connect_ms, tls_ms, first_byte_ms } }
 *   headers repeated in the response are joined with ", ". total_ms,
 *   connect_ms (TCP up; 0 on a reused connection) and first_byte_ms count from
 *   the start of the request; tls_ms is the TLS handshake's duration (0 for
 *   http and reused connections). Any status is a response: 3xx is returned,
 *   never followed.
 *   Or it fails with code "timeout", "connect" (refused, unreachable, DNS),
 *   "tls" (handshake, certificate), "transport" (anything else: connection
 *   dropped, empty reply...) or "cancelled" (loop.cancel), and a message naming
 *   the host, never the whole URL (its query may hold a presigned signature).
 *
 * TLS verification is always on (peer and host name); nothing turns it off.
 * Connections are kept alive in the loop's multi handle and reused per host.
 * Proxies follow libcurl's environment variables (https_proxy, no_proxy...).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <lauxlib.h>

#include "curlapi.h"
#include "guard.h"
#include "loop.h"

#define HTTP_DEFAULT_TIMEOUT_MS 300000L
#define HTTP_DEFAULT_CONNECT_TIMEOUT_MS 10000L

struct buf {
    char *data;
    size_t len, cap;
    int oom;
};

struct http_req {
    struct curl_slist *headers;
    struct buf body, head;          /* the response's; head: the last response's header lines */
    char host[300];                 /* host[:port], for messages */
    char errbuf[CURL_ERROR_SIZE];
    int headers_ended;              /* the last response's blank line came: its headers are whole */
};

static const char *const methods[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", NULL
};

static const char *const request_keys[] = {
    "method", "url", "headers", "body", "timeout_ms", "connect_timeout_ms", "ca_bundle", NULL
};

static int buf_append(struct buf *b, const char *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->oom = 1;
            return -1;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static void req_free(void *ctx)
{
    struct http_req *req = ctx;
    if (!req)
        return;
    wpo_curl.slist_free_all(req->headers);
    free(req->body.data);
    free(req->head.data);
    free(req);
}

/* curl callbacks: collect into C buffers, nothing else. */
static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct http_req *req = ud;
    return buf_append(&req->body, data, size * n) == 0 ? size * n : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    struct http_req *req = ud;
    size_t len = size * n;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        req->head.len = 0;      /* a new response (after a 1xx): forget the last */
        req->headers_ended = 0;
    }
    if ((len == 2 && memcmp(data, "\r\n", 2) == 0) || (len == 1 && data[0] == '\n'))
        req->headers_ended = 1;
    return buf_append(&req->head, data, len) == 0 ? len : 0;
}

/* Sockets are close-on-exec: a child process (git, a shell) must not keep
 * wpo's connections open. */
static curl_socket_t on_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *addr)
{
    (void)ud;
    (void)purpose;
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

static const char *error_code(CURLcode c)
{
    switch (c) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
        return "connect";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
        return "tls";
    default:
        return "transport";
    }
}

static void push_error(lua_State *L, struct http_req *req, CURLcode c)
{
    const char *code = error_code(c);
    const char *detail = req->errbuf[0] ? req->errbuf : wpo_curl.easy_strerror(c);
    if (req->body.oom || req->head.oom)
        detail = "out of memory while receiving the response";
    if (strcmp(code, "timeout") == 0)
        lua_pushfstring(L, "request to %s timed out (%s)", req->host, detail);
    else if (strcmp(code, "connect") == 0)
        lua_pushfstring(L, "cannot connect to %s (%s)", req->host, detail);
    else if (strcmp(code, "tls") == 0)
        lua_pushfstring(L, "TLS failure with %s (%s)", req->host, detail);
    else
        lua_pushfstring(L, "request to %s failed (%s)", req->host, detail);
    lua_pushstring(L, code);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Push { [lower-case name] = value } from the header lines in head. */
static void push_headers(lua_State *L, struct buf *head)
{
    lua_newtable(L);
    char *p = head->data, *end = head->data + head->len;
    const char *last_name = NULL;
    size_t last_len = 0;
    int first = 1;
    while (p && p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        char *line_end = eol ? eol : end;
        char *next = eol ? eol + 1 : end;
        while (line_end > p && is_blank(line_end[-1]))
            line_end--;
        if (first) {            /* the status line */
            first = 0;
        } else if (line_end > p && (*p == ' ' || *p == '\t') && last_name) {
            /* obsolete line folding: continues the previous header's value */
            while (p < line_end && is_blank(*p))
                p++;
            lua_pushlstring(L, last_name, last_len);
            lua_pushvalue(L, -1);
            lua_rawget(L, -3);
            lua_pushliteral(L, " ");
            lua_pushlstring(L, p, (size_t)(line_end - p));
            lua_concat(L, 3);
            lua_rawset(L, -3);
        } else {
            char *colon = memchr(p, ':', (size_t)(line_end - p));
            if (colon && colon > p) {
                for (char *c = p; c < colon; c++)
                    *c = (char)tolower((unsigned char)*c);
                char *name_end = colon;
                while (name_end > p && is_blank(name_end[-1]))
                    name_end--;
                char *v = colon + 1;
                while (v < line_end && is_blank(*v))
                    v++;
                last_name = p;
                last_len = (size_t)(name_end - p);
                lua_pushlstring(L, p, last_len);
                lua_pushvalue(L, -1);
                if (lua_rawget(L, -3) == LUA_TSTRING) {
                    lua_pushliteral(L, ", ");
                    lua_pushlstring(L, v, (size_t)(line_end - v));
                    lua_concat(L, 3);
                } else {
                    lua_pop(L, 1);
                    lua_pushlstring(L, v, (size_t)(line_end - v));
                }
                lua_rawset(L, -3);
            }
        }
        p = next;
    }
}

static double ms_info(CURL *easy, CURLINFO what)
{
    curl_off_t us = 0;
    wpo_curl.easy_getinfo(easy, what, &us);
    return (double)us / 1000.0;
}

static int http_convert(lua_State *L, CURL *easy, CURLcode code, void *ctx)
{
    struct http_req *req = ctx;
    if (code != CURLE_OK) {
        push_error(L, req, code);
        return WPO_LOOP_FAIL;
    }
    long status = 0, connects = 0;
    CURLcode ic = wpo_curl.easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (ic == CURLE_OK)
        ic = wpo_curl.easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
    if (ic != CURLE_OK) {
        lua_pushfstring(L, "request to %s: curl_easy_getinfo: %s", req->host, wpo_curl.easy_strerror(ic));
        lua_pushliteral(L, "transport");
        return WPO_LOOP_FAIL;
    }
    /* libcurl takes a connection closed inside the header block for a whole
     * answer with no body; it is an answer lost on the way (the request may
     * well have been carried out), never a success. */
    if (!req->headers_ended) {
        lua_pushfstring(L, "request to %s failed (the connection closed inside the answer's headers)", req->host);
        lua_pushliteral(L, "transport");
        return WPO_LOOP_FAIL;
    }
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
    push_headers(L, &req->head);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, req->body.data ? req->body.data : "", req->body.len);
    lua_setfield(L, -2, "body");
    lua_pushboolean(L, connects == 0);
    lua_setfield(L, -2, "reused");

    double connect = ms_info(easy, CURLINFO_CONNECT_TIME_T);
    double tls = ms_info(easy, CURLINFO_APPCONNECT_TIME_T);
    lua_createtable(L, 0, 4);
    lua_pushnumber(L, ms_info(easy, CURLINFO_TOTAL_TIME_T));
    lua_setfield(L, -2, "total_ms");
    lua_pushnumber(L, connect);
    lua_setfield(L, -2, "connect_ms");
    lua_pushnumber(L, tls > connect ? tls - connect : 0.0);
    lua_setfield(L, -2, "tls_ms");
    lua_pushnumber(L, ms_info(easy, CURLINFO_STARTTRANSFER_TIME_T));
    lua_setfield(L, -2, "first_byte_ms");
    lua_setfield(L, -2, "timing");
    return WPO_LOOP_OK;
}

static const struct wpo_loop_transfer_type http_transfer = {
    "http", http_convert, req_free
};

/* ---- validating a request (raises; allocates nothing) ---- */

static int is_token_char(unsigned char c)
{
    return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *opt_string(lua_State *L, int t, const char *key)
{
    int type = lua_getfield(L, t, key);
    const char *s = NULL;
    if (type == LUA_TSTRING)
        s = lua_tostring(L, -1);
    else if (type != LUA_TNIL)
        luaL_argerror(L, 1, lua_pushfstring(L, "%s must be a string, not a %s", key, lua_typename(L, type)));
    lua_pop(L, 1);      /* the string stays alive: the request table holds it */
    return s;
}

static long opt_ms(lua_State *L, int t, const char *key, long def)
{
    int type = lua_getfield(L, t, key);
    long v = def;
    if (type != LUA_TNIL) {
        int isnum = 0;
        lua_Integer n = lua_tointegerx(L, -1, &isnum);
        if (type != LUA_TNUMBER || !isnum || n < 0 || n > 86400000)
            luaL_argerror(L, 1, lua_pushfstring(L, "%s must be an integer number of milliseconds "
                                                   "between 0 and 86400000", key));
        v = (long)n;
    }
    lua_pop(L, 1);
    return v;
}

static void check_keys(lua_State *L, int t)
{
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        int known = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (const char *const *k = request_keys; *k && !known; k++)
                known = strcmp(*k, lua_tostring(L, -1)) == 0;
        if (!known) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (const char *const *k = request_keys; *k; k++) {
                if (k != request_keys)
                    luaL_addstring(&b, ", ");
                luaL_addstring(&b, *k);
            }
            luaL_pushresult(&b);
            const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2)
                                                             : luaL_typename(L, -2);
            luaL_argerror(L, 1, lua_pushfstring(L, "unknown request key '%s' (valid: %s)",
                                                key, lua_tostring(L, -1)));
        }
    }
}

/* Check the headers table at index h; counts the lines it will make. */
static void check_headers(lua_State *L, int h)
{
    lua_pushnil(L);
    while (lua_next(L, h)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_argerror(L, 1, lua_pushfstring(L, "header names must be strings, not %s",
                                                luaL_typename(L, -2)));
        size_t nlen;
        const char *name = lua_tolstring(L, -2, &nlen);
        int ok = nlen > 0;
        for (size_t i = 0; ok && i < nlen; i++)
            ok = is_token_char((unsigned char)name[i]);
        if (!ok)
            luaL_argerror(L, 1, lua_pushfstring(L, "header name '%s' is not a valid token", name));
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_argerror(L, 1, lua_pushfstring(L, "header '%s' must have a string value, not a %s",
                                                name, luaL_typename(L, -1)));
        size_t vlen;
        const char *v = lua_tolstring(L, -1, &vlen);
        for (size_t i = 0; i < vlen; i++)
            if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0')
                luaL_argerror(L, 1, lua_pushfstring(L, "header '%s' has a line break or NUL in its value", name));
        lua_pop(L, 1);
    }
}

/* Parse url: 0 and host[:port] in host, or -1 with a reason in err. */
static int parse_url(const char *url, char *host, size_t hostlen, char *err, size_t errlen)
{
    CURLU *u = wpo_curl.url();
    char *scheme = NULL, *h = NULL, *port = NULL;
    int rc = -1;
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    CURLUcode uc = wpo_curl.url_set(u, CURLUPART_URL, url, 0);
    if (uc != CURLUE_OK) {
        snprintf(err, errlen, "url is not valid: %s", wpo_curl.url_strerror(uc));
        goto cleanup;
    }
    if (wpo_curl.url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        snprintf(err, errlen, "url must start with http:// or https://");
        goto cleanup;
    }
    if (wpo_curl.url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || !*h) {
        snprintf(err, errlen, "url has no host");
        goto cleanup;
    }
    if (wpo_curl.url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
        snprintf(host, hostlen, "%s:%s", h, port);
    else
        snprintf(host, hostlen, "%s", h);
    rc = 0;
cleanup:
    wpo_curl.free(scheme);
    wpo_curl.free(h);
    wpo_curl.free(port);
    wpo_curl.url_cleanup(u);
    return rc;
}

static int has_header(lua_State *L, int h, const char *want)
{
    if (!h)
        return 0;
    int found = 0;
    lua_pushnil(L);
    while (lua_next(L, h)) {
        lua_pop(L, 1);
        if (!found && strcasecmp(lua_tostring(L, -1), want) == 0)
            found = 1;
    }
    return found;
}

/* ---- http.start, in stages: options, headers, handle, body, submission ---- */

/* A request's options, checked (the strings are the request table's). */
struct http_opts {
    const char *method, *url, *body, *ca;
    size_t body_len;
    long timeout, connect_timeout;
    int h;                              /* stack index of the headers table, 0: none */
    int user_accept, user_type, user_expect;
};

/* Read and check the request table at index 1 (raises on a bad request;
 * allocates nothing that is not Lua's). Leaves the headers at index 2. */
static void parse_options(lua_State *L, struct http_opts *o)
{
    memset(o, 0, sizeof *o);
    check_keys(L, 1);
    o->method = opt_string(L, 1, "method");
    if (!o->method)
        o->method = "GET";
    int known = 0;
    for (const char *const *m = methods; *m && !known; m++)
        known = strcmp(*m, o->method) == 0;
    if (!known)
        luaL_argerror(L, 1, lua_pushfstring(L, "method '%s' is not one of GET, HEAD, POST, PUT, "
                                               "DELETE, PATCH, OPTIONS", o->method));
    o->url = opt_string(L, 1, "url");
    if (!o->url)
        luaL_argerror(L, 1, "url is required");
    if (lua_getfield(L, 1, "body") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_argerror(L, 1, lua_pushfstring(L, "body must be a string, not a %s", luaL_typename(L, -1)));
        o->body = lua_tolstring(L, -1, &o->body_len);
    }
    lua_pop(L, 1);
    if (o->body && strcmp(o->method, "HEAD") == 0)
        luaL_argerror(L, 1, "a HEAD request cannot have a body");
    o->timeout = opt_ms(L, 1, "timeout_ms", HTTP_DEFAULT_TIMEOUT_MS);
    o->connect_timeout = opt_ms(L, 1, "connect_timeout_ms", HTTP_DEFAULT_CONNECT_TIMEOUT_MS);
    o->ca = opt_string(L, 1, "ca_bundle");
    if (!o->ca) {
        const char *env = getenv("AWS_CA_BUNDLE");
        if (env && *env)
            o->ca = env;
    }
    int type = lua_getfield(L, 1, "headers");   /* stays at index 2 */
    if (type == LUA_TTABLE) {
        o->h = 2;
        check_headers(L, o->h);
    } else if (type != LUA_TNIL) {
        luaL_argerror(L, 1, lua_pushfstring(L, "headers must be a table, not a %s", lua_typename(L, type)));
    }
    o->user_accept = has_header(L, o->h, "accept");
    o->user_type = has_header(L, o->h, "content-type");
    o->user_expect = has_header(L, o->h, "expect");
}

/* The header lines: the caller's, then the ones curl would add on its own
 * that the caller did not ask for, suppressed. Raises nothing; 0, or -1
 * when out of memory (*out then holds what was built, for the caller to free). */
static int build_headers(lua_State *L, const struct http_opts *o, struct curl_slist **out)
{
    struct curl_slist *l;
    *out = NULL;
    if (o->h) {
        lua_pushnil(L);
        while (lua_next(L, o->h)) {
            size_t vlen;
            const char *name = lua_tostring(L, -2);
            const char *value = lua_tolstring(L, -1, &vlen);
            size_t n = strlen(name) + vlen + 3;
            char *line = malloc(n);
            if (!line) {
                lua_pop(L, 2);
                return -1;
            }
            /* "Name;" is curl's way to send a header with an empty value */
            if (vlen)
                snprintf(line, n, "%s: %s", name, value);
            else
                snprintf(line, n, "%s;", name);
            l = wpo_curl.slist_append(*out, line);
            free(line);
            if (!l) {
                lua_pop(L, 2);
                return -1;
            }
            *out = l;
            lua_pop(L, 1);
        }
    }
    const char *suppress[3];
    int ns = 0;
    if (!o->user_accept)
        suppress[ns++] = "Accept:";
    if (!o->user_type)
        suppress[ns++] = "Content-Type:";
    if (!o->user_expect)
        suppress[ns++] = "Expect:";
    for (int i = 0; i < ns; i++) {
        if (!(l = wpo_curl.slist_append(*out, suppress[i])))
            return -1;
        *out = l;
    }
    return 0;
}

/* Every curl_easy_setopt is checked: a refused option (out of memory in
 * COPYPOSTFIELDS, say) fails the request instead of sending another one. */
#define SETOPT(easy, opt, value, err, errlen) do { \
        CURLcode c_ = wpo_curl.easy_setopt((easy), (opt), (value)); \
        if (c_ != CURLE_OK) { \
            snprintf((err), (errlen), "curl_easy_setopt(%s): %s", #opt, wpo_curl.easy_strerror(c_)); \
            return -1; \
        } \
    } while (0)

/* The handle's transport: URL, protocols, TLS, timeouts, the header list and
 * the callbacks that collect the response into req. curl copies every string
 * given to setopt; the header list is req's and outlives the easy handle. */
static int setup_handle(CURL *easy, const struct http_opts *o, struct http_req *req,
                        char *err, size_t errlen)
{
    SETOPT(easy, CURLOPT_URL, o->url, err, errlen);
    SETOPT(easy, CURLOPT_PROTOCOLS_STR, "http,https", err, errlen);
    SETOPT(easy, CURLOPT_NOSIGNAL, 1L, err, errlen);
    SETOPT(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1, err, errlen);
    SETOPT(easy, CURLOPT_FOLLOWLOCATION, 0L, err, errlen);
    SETOPT(easy, CURLOPT_SSL_VERIFYPEER, 1L, err, errlen);
    SETOPT(easy, CURLOPT_SSL_VERIFYHOST, 2L, err, errlen);
    if (o->ca)
        SETOPT(easy, CURLOPT_CAINFO, o->ca, err, errlen);
    SETOPT(easy, CURLOPT_TCP_KEEPALIVE, 1L, err, errlen);
    SETOPT(easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket, err, errlen);
    SETOPT(easy, CURLOPT_TIMEOUT_MS, o->timeout, err, errlen);
    SETOPT(easy, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout, err, errlen);
    SETOPT(easy, CURLOPT_HTTPHEADER, req->headers, err, errlen);
    SETOPT(easy, CURLOPT_ERRORBUFFER, req->errbuf, err, errlen);
    SETOPT(easy, CURLOPT_WRITEFUNCTION, on_body, err, errlen);
    SETOPT(easy, CURLOPT_WRITEDATA, (void *)req, err, errlen);
    SETOPT(easy, CURLOPT_HEADERFUNCTION, on_header, err, errlen);
    SETOPT(easy, CURLOPT_HEADERDATA, (void *)req, err, errlen);
    return 0;
}

/* The method and the body: curl copies the body (COPYPOSTFIELDS), its size
 * set first. POST, PUT and PATCH always send one (empty when not given). */
static int setup_body(CURL *easy, const struct http_opts *o, char *err, size_t errlen)
{
    const char *method = o->method;
    int sends_body = o->body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                     strcmp(method, "PATCH") == 0;
    if (strcmp(method, "HEAD") == 0) {
        SETOPT(easy, CURLOPT_NOBODY, 1L, err, errlen);
    } else if (strcmp(method, "GET") == 0 && !o->body) {
        SETOPT(easy, CURLOPT_HTTPGET, 1L, err, errlen);
    } else {
        if (sends_body) {
            SETOPT(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len, err, errlen);
            SETOPT(easy, CURLOPT_COPYPOSTFIELDS, o->body ? o->body : "", err, errlen);
        }
        if (strcmp(method, "POST") != 0)
            SETOPT(easy, CURLOPT_CUSTOMREQUEST, method, err, errlen);
    }
    return 0;
}

#undef SETOPT

static void free_easy(void *p)
{
    wpo_curl.easy_cleanup(p);
}

/* http.start(req) -> id */
static int l_http_start(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    struct http_opts o;
    parse_options(L, &o);
    char err[300];
    if (wpo_curl_load(err, sizeof err) != 0)
        return luaL_error(L, "http.start: %s", err);

    /* req and the easy handle sit in a guard until the loop owns them: a
     * Lua call that raises (out of memory) frees them with it */
    struct wpo_guard *gd = wpo_guard_new(L);
    struct http_req *req = calloc(1, sizeof *req);
    if (!req)
        return luaL_error(L, "http.start: out of memory");
    wpo_guard_hold(gd, req, req_free);
    if (parse_url(o.url, req->host, sizeof req->host, err, sizeof err) != 0) {
        wpo_guard_release(gd);
        return luaL_argerror(L, 1, lua_pushstring(L, err));
    }
    CURL *easy = NULL;
    if (build_headers(L, &o, &req->headers) != 0 || !(easy = wpo_curl.easy_init())) {
        wpo_guard_release(gd);
        return luaL_error(L, "http.start: out of memory");
    }
    wpo_guard_hold(gd, easy, free_easy);
    if (setup_handle(easy, &o, req, err, sizeof err) != 0 ||
        setup_body(easy, &o, err, sizeof err) != 0) {
        wpo_guard_release(gd);
        return luaL_error(L, "http.start: %s", err);
    }

    int64_t id = wpo_loop_transfer_start(L, easy, &http_transfer, req, err, sizeof err);
    if (id < 0) {
        wpo_guard_release(gd);
        return luaL_error(L, "http.start: %s", err);
    }
    wpo_guard_forget(gd, easy);         /* the loop's now */
    wpo_guard_forget(gd, req);
    lua_pushinteger(L, (lua_Integer)id);
    return 1;
}

static const luaL_Reg http_functions[] = {
    {"start", l_http_start},
    {NULL, NULL}
};

int luaopen_wpo_core_http(lua_State *L)
{
    luaL_newlib(L, http_functions);
    return 1;
}
