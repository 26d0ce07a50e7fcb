/*
 * git.h — the part of wpo.core.git that runs without Lua: fetching a remote
 * repository into a bare cache clone (used on a worker thread, and by the C
 * unit tests), and redacting credentials out of URLs.
 */
#ifndef WPO_GIT_H
#define WPO_GIT_H

#include <stdatomic.h>
#include <stddef.h>

/* One clone-or-fetch of `url` into the bare repository `dir`. The caller
 * fills the inputs (heap strings, owned by the request: wpo_git_fetch_free
 * wipes the secrets and frees them); wpo_git_fetch_run fills the results.
 * Nothing in it touches a lua_State, so it may run on any thread. */
struct wpo_git_fetch {
    /* inputs */
    char *url;              /* file://, https://, ssh:// (credentials redacted in messages) */
    char *dir;              /* the cache clone: created (atomically) when absent */
    char *token;            /* HTTPS token (password), or NULL */
    char *token_from;       /* where the token came from, for messages ("WPO_GIT_TOKEN") */
    char *username;         /* HTTPS user name for the token (default "x-access-token") */
    char *ssh_key;          /* private key file, or NULL */
    char *ssh_passphrase;   /* its passphrase, or NULL */
    int ssh_agent;          /* try ssh-agent (the caller saw SSH_AUTH_SOCK) */
    atomic_int cancelled;   /* set from another thread: the transfer stops */
    atomic_int *cancel;     /* the flag the transfer watches: &cancelled, or a
                               flag that outlives the request (fetch_start) */

    /* results */
    int cloned;             /* 1: dir was created by this run */
    char head[256];         /* the remote's default branch ("refs/heads/main") or "" */
    char err[1024];         /* the message when wpo_git_fetch_run returns -1 */
    const char *code;       /* "auth", "certificate", "network", "notfound",
                               "cancelled", "io", "git" */

    /* credential callback bookkeeping: each method is tried once */
    int tried_agent, tried_key, tried_token, tried_username, auth_exhausted;
    unsigned int auth_allowed;
    char tried[256];
};

/* A zeroed request for url into dir (copies both); NULL when out of memory. */
struct wpo_git_fetch *wpo_git_fetch_new(const char *url, const char *dir);

/* Clone (bare, into a temporary directory renamed into place) or fetch
 * (every branch and tag, pruning what the remote deleted), holding an
 * flock on "<dir>.lock" meanwhile. 0 on success, -1 with f->err/f->code. */
int wpo_git_fetch_run(struct wpo_git_fetch *f);

/* Wipes the secrets, frees every string and f itself. NULL is fine. */
void wpo_git_fetch_free(struct wpo_git_fetch *f);

/* url with any password in its user info replaced by "***". */
void wpo_git_redact_url(const char *url, char *out, size_t outlen);

/* wpo_git_load (gitapi.h: libgit2 loaded and initialised) and, once, the
 * CA bundle for HTTPS (before a fetch): 0, or -1 with a one-line message in
 * err. Any thread. */
int wpo_git_init_tls(char *err, size_t errlen);

#endif
