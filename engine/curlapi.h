/*
 * curlapi.h — libcurl, loaded with dlopen on first use. wpo is not linked
 * against libcurl: a run that sends no request (an offline plan, validate,
 * version aside) never maps libcurl and the libraries it pulls in (OpenSSL's
 * TLS users, nghttp2, libssh2, krb5, ldap...), which cost about 5 ms of
 * dynamic loading at every start.
 *
 * wpo_curl_load() loads the library ($WPO_LIBCURL when set, a path or a
 * name for dlopen; else WPO_CURL_SONAME), resolves every function wpo calls and
 * runs curl_global_init, once per process (thread-safe; later calls return
 * the first outcome). Then wpo_curl.NAME is curl_NAME, e.g.
 * wpo_curl.easy_setopt(easy, CURLOPT_URL, url). Before a successful load
 * the pointers are NULL: every entry point that reaches libcurl loads it
 * first (http.start, the loop's first transfer, sys.versions).
 */
#ifndef WPO_CURLAPI_H
#define WPO_CURLAPI_H

#include <stddef.h>

#include <curl/curl.h>

/* The shared object loaded: libcurl's ABI has been 4 since 2006. */
#define WPO_CURL_SONAME "libcurl.so.4"

#define WPO_CURL_FUNCTIONS(X) \
    X(global_init) X(version_info) X(free) \
    X(easy_init) X(easy_setopt) X(easy_getinfo) X(easy_cleanup) X(easy_strerror) \
    X(multi_init) X(multi_setopt) X(multi_add_handle) X(multi_remove_handle) \
    X(multi_perform) X(multi_poll) X(multi_info_read) X(multi_cleanup) X(multi_strerror) \
    X(slist_append) X(slist_free_all) \
    X(url) X(url_set) X(url_get) X(url_cleanup) X(url_strerror)

struct wpo_curl_api {
#define WPO_CURL_FIELD(name) __typeof__(curl_##name) *name;
    WPO_CURL_FUNCTIONS(WPO_CURL_FIELD)
#undef WPO_CURL_FIELD
};

extern struct wpo_curl_api wpo_curl;

/* 0 once libcurl is loaded and initialised; -1 with a one-line message in
 * err (e.g. "cannot load libcurl.so.4 (needed for HTTP requests): ...") */
int wpo_curl_load(char *err, size_t errlen);

#endif
