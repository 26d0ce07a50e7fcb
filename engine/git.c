/*
 * git.c — wpo.core.git: repositories through libgit2. It owns opening a
 * repository (discovering upward), resolving refs to commits, reading blobs
 * and directories at a commit, tags, ancestry, working-tree status, commit
 * metadata, and clone/fetch into a bare cache clone with credential
 * callbacks, on a worker thread that posts its completion to the loop.
 *
 * It does not own where the cache lives, URL parsing, the nearest-tag hint,
 * or how stacks are loaded: that is stdlib/wpo/git.lua and source.lua.
 *
 * Lua API (each function's comment gives its exact contract):
 *   git.open(path [, {search}]) -> repo     git.realpath(path) -> abs
 *   git.open_start(path [, {search}]) -> id   (the open on a worker thread)
 *   git.fetch(url, dir [, opts]) -> info    git.fetch_start(url, dir [, opts]) -> id
 *   git.blob_id(data) -> hex                git.redact(url) -> url
 *   repo:resolve(ref) -> id, kind, refname  repo:read(commit, path [, max]) -> data
 *   repo:readlink(commit, path) -> target   repo:list(commit, dir) -> entries
 *   repo:tags() / repo:tags_at(commit) / repo:branches()
 *   repo:is_ancestor(a, b) -> boolean       repo:merge_base(a, b) -> id
 *   repo:commit(id) -> { id, short, summary, message, time, author, email, parents }
 *   repo:head() -> id, refname              repo:status([{untracked}]) / repo:file_status(path)
 *   repo:remote_url([name]) -> url          repo:path() / repo:workdir() / repo:close()
 *   git.read_head(root) / git.read_unproven(root, tree, paths): without
 *       libgit2, for a plain work tree (gitread.c)
 *
 * Commit ids cross the boundary as 40-digit lower-case hex strings; where a
 * commit is expected, any unique prefix of at least 4 digits is accepted.
 * Misuse raises; every libgit2 failure returns nil, message, code with code
 * one of "notfound", "ambiguous", "ENOENT" (no such path at a commit),
 * "bare", "auth", "certificate", "network", "cancelled", "io", "git".
 * No Lua function is ever called from a libgit2 callback.
 *
 * libgit2 is loaded with dlopen (gitapi.h) by the first entry point that
 * needs it: git.open, git.fetch, git.blob_id on the calling thread,
 * git.open_start and git.fetch_start on their worker. When it cannot be,
 * they answer nil, "cannot load libgit2 (needed for git): ...",
 * "unavailable" (the job's error for the _start functions; git.blob_id,
 * which has no failure of its own, raises it).
 *
 * TLS certificates are verified (libgit2's default; the system CA bundle is
 * configured before the first fetch); SSH host keys must be in ~/.ssh/known_hosts
 * (libgit2 1.5.1 checks them when no certificate callback is set, and none
 * is). libgit2 1.5 has no connect timeout: a fetch from a host that never
 * answers stays on its worker until the host gives up; cancelling its id
 * completes it at once and the worker's late result is dropped.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>
#include <lauxlib.h>

#include "git.h"
#include "gitapi.h"
#include "gitread.h"
#include "gitcalls.h"   /* generated: git_NAME is wpo_git.NAME, libgit2 through dlopen */
#include "guard.h"
#include "loop.h"

#define WPO_GIT_REPO "wpo.git.repo"

struct wpo_git_repo {
    git_repository *repo;
};

/* ---------------------------------------------------------------- init */

/* libgit2 is loaded (dlopen, gitapi.c) and initialised when a repository is
 * first opened (or a blob id computed, or a remote fetched), never when the
 * module loads: mapping it costs about 3 ms. git.open_start and
 * git.fetch_start load it on their worker thread. Its TLS backend reads no
 * CA certificate as it initialises (gitapi.c defers that): the bundle is
 * handed to it, and parsed, only before the first fetch. */
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void init_tls(void)
{
    /* TLS verification stays on: libgit2 trusts no certificate until it is
     * given these. SSL_CERT_FILE, else the system bundle, else where libgit2
     * itself would have looked. */
    const char *bundle = getenv("SSL_CERT_FILE");
    if (!bundle || access(bundle, R_OK) != 0)
        bundle = "/etc/ssl/certs/ca-certificates.crt";
    if (access(bundle, R_OK) == 0) {
        git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, bundle, NULL);
        return;
    }
    const char *file, *dir;
    wpo_git_default_ca(&file, &dir);
    if (file || dir)
        git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file, dir);
}

int wpo_git_init_tls(char *err, size_t errlen)
{
    if (wpo_git_load(err, errlen) != 0)
        return -1;
    pthread_once(&tls_once, init_tls);
    return 0;
}

/* ------------------------------------------------------------- errors */

static const char *code_for(int rc)
{
    const git_error *e = git_error_last();
    switch (rc) {
    case GIT_ENOTFOUND: return "notfound";
    case GIT_EAMBIGUOUS: return "ambiguous";
    case GIT_EAUTH: return "auth";
    case GIT_ECERTIFICATE: return "certificate";
    case GIT_EUSER: return "cancelled";
    case GIT_EBAREREPO: return "bare";
    default: break;
    }
    if (e && (e->klass == GIT_ERROR_NET || e->klass == GIT_ERROR_SSL ||
              e->klass == GIT_ERROR_SSH || e->klass == GIT_ERROR_HTTP))
        return "network";
    if (e && e->klass == GIT_ERROR_OS)
        return "io";
    return "git";
}

static const char *last_message(void)
{
    const git_error *e = git_error_last();
    return e && e->message ? e->message : "unknown libgit2 error";
}

/* nil, "<what>: <libgit2's message>", code */
static int push_git_error(lua_State *L, int rc, const char *what)
{
    const char *code = code_for(rc);
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", what, last_message());
    lua_pushstring(L, code);
    return 3;
}

static int push_error(lua_State *L, const char *code, const char *fmt, ...)
{
    luaL_pushfail(L);
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_pushstring(L, code);
    return 3;
}

/* ------------------------------------------------------------ helpers */

/* free functions of the libgit2 objects a guard (guard.h) holds */
static void free_object(void *p) { git_object_free(p); }
static void free_reference(void *p) { git_reference_free(p); }
static void free_tree_entry(void *p) { git_tree_entry_free(p); }
static void free_status_list(void *p) { git_status_list_free(p); }
static void free_remote(void *p) { git_remote_free(p); }
static void free_branch_iterator(void *p) { git_branch_iterator_free(p); }
static void free_strarray(void *p)
{
    git_strarray_dispose(p);
    free(p);
}

static struct wpo_git_repo *check_repo(lua_State *L, int idx)
{
    struct wpo_git_repo *r = luaL_checkudata(L, idx, WPO_GIT_REPO);
    if (!r->repo)
        luaL_error(L, "attempt to use a closed git repository");
    return r;
}

static void push_oid(lua_State *L, const git_oid *oid)
{
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof hex, oid);
    lua_pushstring(L, hex);
}

static int is_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!strchr("0123456789abcdefABCDEF", s[i]))
            return 0;
    return 1;
}

/* The commit named by a full id or a unique prefix (>= 4 hex digits). On
 * failure pushes nil, err, code and returns the count, else 0. */
static int lookup_commit(lua_State *L, git_repository *repo, const char *id,
                         git_commit **out)
{
    size_t len = strlen(id);
    git_oid oid;
    if (len < GIT_OID_MINPREFIXLEN || len > GIT_OID_HEXSZ || !is_hex(id, len))
        return push_error(L, "notfound", "'%s' is not a commit id", id);
    if (git_oid_fromstrn(&oid, id, len) != 0)
        return push_git_error(L, GIT_ENOTFOUND, id);
    git_object *obj = NULL;
    int rc = git_object_lookup_prefix(&obj, repo, &oid, len, GIT_OBJECT_ANY);
    if (rc == GIT_ENOTFOUND)
        return push_error(L, "notfound", "no commit %s in this repository", id);
    if (rc != 0)
        return push_git_error(L, rc, id);
    git_object *peeled = NULL;
    rc = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
    git_object_free(obj);
    if (rc != 0)
        return push_error(L, "notfound", "%s is not a commit", id);
    *out = (git_commit *)peeled;
    return 0;
}

/* "stacks/./a.lua" and "./a.lua" are fine; absolute paths, "..", empty
 * components are not a path inside a tree. Writes the clean form to out. */
static int clean_tree_path(const char *path, char *out, size_t outlen)
{
    size_t o = 0;
    if (path[0] == '/' || path[0] == '\0')
        return -1;
    const char *p = path;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.')) {
            /* skip "//" and "./" */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            return -1;
        } else {
            if (o + n + 2 > outlen)
                return -1;
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
        if (*p == '/')
            p++;
    }
    if (o == 0)
        return -1;
    out[o] = '\0';
    return 0;
}

/* -------------------------------------------------------- module level */

/* open_repo's answer when libgit2 cannot be loaded (no libgit2 code) */
#define NO_LIBGIT2 (-10000)

/* Open the repository containing path (a file or a directory), searching
 * parent directories when search is set. 0 or a libgit2 error code, or
 * NO_LIBGIT2 with the message in nolib. Runs on any thread; loads and
 * initialises libgit2 first. */
static int open_repo(const char *path, int search, git_repository **out, char *nolib, size_t nolib_len)
{
    if (wpo_git_load(nolib, nolib_len) != 0)
        return NO_LIBGIT2;
    /* Start from the directory of a file. */
    struct stat st;
    char *dir = NULL;
    if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
        dir = strdup(path);
        if (!dir) {
            git_error_set_oom();
            return -1;
        }
        char *slash = strrchr(dir, '/');
        if (slash == dir)
            slash[1] = '\0';
        else if (slash)
            *slash = '\0';
        else
            strcpy(dir, ".");
    }
    int rc = git_repository_open_ext(out, dir ? dir : path, search ? 0 : GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
    free(dir);
    return rc;
}

static int opt_search(lua_State *L, int idx)
{
    int search = 1;
    if (!lua_isnoneornil(L, idx)) {
        luaL_checktype(L, idx, LUA_TTABLE);
        lua_getfield(L, idx, "search");
        if (!lua_isnil(L, -1))
            search = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    return search;
}

/* git.open(path [, {search = true}]) -> repo | nil, err, code
 * path may be a file or a directory inside the work tree (or a bare
 * repository); with search (the default) parent directories are tried. */
static int l_git_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int search = opt_search(L, 2);
    struct wpo_git_repo *r = lua_newuserdatauv(L, sizeof *r, 0);
    r->repo = NULL;
    luaL_setmetatable(L, WPO_GIT_REPO);
    char nolib[256];
    int rc = open_repo(path, search, &r->repo, nolib, sizeof nolib);
    if (rc == NO_LIBGIT2)
        return push_error(L, "unavailable", "%s", nolib);
    if (rc == GIT_ENOTFOUND)
        return push_error(L, "notfound", "%s is not inside a git repository", path);
    if (rc != 0)
        return push_git_error(L, rc, path);
    return 1;
}

/* An open on a worker thread. The request is the result: the worker fills
 * it and posts it; the loop owns it from then. */
struct open_job {
    char *path;
    int search;
    struct wpo_loop_queue *queue;
    int64_t id;
    /* results */
    git_repository *repo;       /* moves into a repo userdata in convert */
    int rc;
    const char *code;
    char err[1024];
};

static void open_job_free(void *result)
{
    struct open_job *job = result;
    if (!job)
        return;
    if (job->repo) {
        wpo_git_load(NULL, 0);  /* done on the worker: the once orders its writes before our reads */
        git_repository_free(job->repo);
    }
    free(job->path);
    free(job);
}

/* Main thread, inside loop.wait: { repo = repo } */
static int open_convert(lua_State *L, void *result)
{
    struct open_job *job = result;
    if (job->rc != 0) {
        lua_pushstring(L, job->err);
        lua_pushstring(L, job->code);
        return WPO_LOOP_FAIL;
    }
    /* The worker loaded libgit2: pthread_once makes its writes (wpo_git's
     * pointers, libgit2's state) visible to this thread before any use. */
    wpo_git_load(NULL, 0);
    lua_createtable(L, 0, 1);
    struct wpo_git_repo *r = lua_newuserdatauv(L, sizeof *r, 0);
    r->repo = job->repo;
    job->repo = NULL;
    luaL_setmetatable(L, WPO_GIT_REPO);
    lua_setfield(L, -2, "repo");
    return WPO_LOOP_OK;
}

static const struct wpo_loop_op_type open_op = {
    .name = "git open",
    .convert = open_convert,
    .free_result = open_job_free,
    .release = NULL,
};

/* The worker: never touches a lua_State. */
static void *open_worker(void *arg)
{
    struct open_job *job = arg;
    struct wpo_loop_queue *queue = job->queue;
    job->rc = open_repo(job->path, job->search, &job->repo, job->err, sizeof job->err);
    if (job->rc == 0 && !git_repository_is_bare(job->repo)) {
        /* read the index here, off the main thread: the repository keeps it
         * for file_status and status, which re-read it only if it changed */
        git_index *index = NULL;
        if (git_repository_index(&index, job->repo) == 0)
            git_index_free(index);
        git_error_clear();
    }
    if (job->rc == NO_LIBGIT2) {
        job->code = "unavailable";
    } else if (job->rc == GIT_ENOTFOUND) {
        job->code = "notfound";
        snprintf(job->err, sizeof job->err, "%s is not inside a git repository", job->path);
    } else if (job->rc != 0) {
        job->code = code_for(job->rc);
        snprintf(job->err, sizeof job->err, "%s: %s", job->path, last_message());
    }
    wpo_loop_post(queue, job->id, &open_op, job);   /* job is the loop's now */
    wpo_loop_queue_unref(queue);
    return NULL;
}

/* git.open_start(path [, {search = true}]) -> id
 * As git.open, on a worker thread (libgit2's loading and initialisation
 * included): the completion (wpo.task.await(id)) is { repo = repo }, or
 * err, code. */
static int l_git_open_start(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int search = opt_search(L, 2);
    /* the queue first: making the loop may raise, and nothing is held yet */
    struct wpo_loop_queue *queue = wpo_loop_queue_ref(L);
    if (!queue)
        return luaL_error(L, "git.open_start: the event loop is closed");
    struct open_job *job = calloc(1, sizeof *job);
    if (!job || !(job->path = strdup(path))) {
        free(job);
        wpo_loop_queue_unref(queue);
        return luaL_error(L, "out of memory");
    }
    job->search = search;
    job->queue = queue;
    int64_t id = wpo_loop_op_start(L, &open_op, NULL);
    if (id < 0) {
        wpo_loop_queue_unref(job->queue);
        open_job_free(job);
        return luaL_error(L, "git.open_start: the event loop is closed or out of memory");
    }
    job->id = id;
    pthread_t thread;
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&thread, &attr, open_worker, job);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        job->rc = -1;
        job->code = "io";
        snprintf(job->err, sizeof job->err, "cannot start a thread to open %s: %s", path, strerror(rc));
        wpo_loop_post(queue, id, &open_op, job);   /* queue is job->queue */
        wpo_loop_queue_unref(queue);
    }
    lua_pushinteger(L, (lua_Integer)id);
    return 1;
}

/* git.blob_id(data) -> hex: the id git gives data stored as a blob */
static int l_git_blob_id(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    git_oid oid;
    char nolib[256];
    if (wpo_git_load(nolib, sizeof nolib) != 0)
        return luaL_error(L, "git.blob_id: %s", nolib);
    if (git_odb_hash(&oid, data, len, GIT_OBJECT_BLOB) != 0)
        return push_git_error(L, -1, "hash");
    push_oid(L, &oid);
    return 1;
}

/* git.realpath(path) -> absolute path, symlinks resolved | nil, err, code
 * (maps a stack file onto its repository's work tree) */
static int l_git_realpath(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char abs[PATH_MAX];         /* not malloc'd: pushing it may raise */
    if (!realpath(path, abs))
        return push_error(L, errno == ENOENT ? "ENOENT" : "io", "%s: %s", path, strerror(errno));
    lua_pushstring(L, abs);
    return 1;
}

/* git.redact(url) -> url with any password replaced by "***" */
static int l_git_redact(lua_State *L)
{
    size_t len;
    const char *url = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, len + 4);
    wpo_git_redact_url(url, out, len + 4);
    luaL_pushresultsize(&b, strlen(out));
    return 1;
}

/* ------------------------------------------------------- repo methods */

/* repo:path() -> the .git directory (or the bare repository), no trailing / */
static int l_repo_path(lua_State *L)
{
    struct wpo_git_repo *r = check_repo(L, 1);
    const char *p = git_repository_path(r->repo);
    size_t n = strlen(p);
    lua_pushlstring(L, p, n > 1 && p[n - 1] == '/' ? n - 1 : n);
    return 1;
}

/* repo:workdir() -> the work tree, no trailing / | nil (bare) */
static int l_repo_workdir(lua_State *L)
{
    struct wpo_git_repo *r = check_repo(L, 1);
    const char *p = git_repository_workdir(r->repo);
    if (!p) {
        lua_pushnil(L);
        return 1;
    }
    size_t n = strlen(p);
    lua_pushlstring(L, p, n > 1 && p[n - 1] == '/' ? n - 1 : n);
    return 1;
}

/* repo:head() -> commit id, refname ("refs/heads/main", or "HEAD" when
 * detached) | nil, err, code ("notfound" before the first commit) */
static int l_repo_head(lua_State *L)
{
    struct wpo_git_repo *r = check_repo(L, 1);
    struct wpo_guard *gd = wpo_guard_new(L);
    git_reference *head = NULL;
    int rc = git_repository_head(&head, r->repo);
    if (rc == GIT_EUNBORNBRANCH || rc == GIT_ENOTFOUND)
        return push_error(L, "notfound", "the repository has no commits yet");
    if (rc != 0)
        return push_git_error(L, rc, "HEAD");
    wpo_guard_hold(gd, head, free_reference);
    git_object *obj = NULL;
    rc = git_reference_peel(&obj, head, GIT_OBJECT_COMMIT);
    if (rc != 0) {
        wpo_guard_release(gd);
        return push_git_error(L, rc, "HEAD");
    }
    wpo_guard_hold(gd, obj, free_object);
    push_oid(L, git_object_id(obj));
    lua_pushstring(L, git_repository_head_detached(r->repo) ? "HEAD" : git_reference_name(head));
    wpo_guard_release(gd);
    return 2;
}

/* Looks refname up and peels it to a commit: 1 found, 0 absent, <0 error
 * (with nil, err, code pushed; *pushed gets the count). */
static int try_ref(lua_State *L, git_repository *repo, const char *refname,
                   git_oid *out, int *pushed)
{
    git_reference *ref = NULL;
    int rc = git_reference_lookup(&ref, repo, refname);
    if (rc == GIT_ENOTFOUND || rc == GIT_EINVALIDSPEC)
        return 0;
    if (rc != 0) {
        *pushed = push_git_error(L, rc, refname);
        return -1;
    }
    git_object *obj = NULL;
    rc = git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT);
    git_reference_free(ref);
    if (rc != 0) {
        *pushed = push_error(L, "notfound", "%s does not point at a commit", refname);
        return -1;
    }
    git_oid_cpy(out, git_object_id(obj));
    git_object_free(obj);
    return 1;
}

/* repo:resolve(ref) -> commit id, kind, refname | nil, err, code
 * ref: "HEAD"; a tag (annotated or lightweight); a branch; a remote branch
 * ("origin/main", or "main" when only origin has it); a full refname; a full
 * or abbreviated commit id; else a revision expression ("v1.0.0~1").
 * Tags win over branches of the same name, as in git. kind is "head",
 * "tag", "branch", "remote", "ref", "commit" or "expression". The error for
 * an unknown ref is code "notfound" (wpo.git adds the nearest tags). */
static int l_repo_resolve(lua_State *L)
{
    struct wpo_git_repo *r = check_repo(L, 1);
    size_t len;
    const char *name = luaL_checklstring(L, 2, &len);
    if (len == 0 || strlen(name) != len)
        return luaL_argerror(L, 2, "a ref name must be a non-empty string without NULs");
    git_oid oid;
    int pushed = 0, found;

    if (strcmp(name, "HEAD") == 0) {
        int n = l_repo_head(L);
        if (n == 2) {
            lua_pushliteral(L, "head");
            lua_insert(L, -2);
            return 3;
        }
        return n;
    }

    static const struct { const char *fmt, *kind; } forms[] = {
        {"%s", "ref"},                  /* only when it starts with refs/ */
        {"refs/tags/%s", "tag"},
        {"refs/heads/%s", "branch"},
        {"refs/remotes/%s", "remote"},
        {"refs/remotes/origin/%s", "remote"},
    };
    char refname[1024];
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        if (i == 0 && strncmp(name, "refs/", 5) != 0)
            continue;
        if (snprintf(refname, sizeof refname, forms[i].fmt, name) >= (int)sizeof refname)
            continue;
        found = try_ref(L, r->repo, refname, &oid, &pushed);
        if (found < 0)
            return pushed;
        if (found) {
            push_oid(L, &oid);
            lua_pushstring(L, forms[i].kind);
            lua_pushstring(L, refname);
            return 3;
        }
    }

    if (len >= GIT_OID_MINPREFIXLEN && len <= GIT_OID_HEXSZ && is_hex(name, len)) {
        git_commit *commit = NULL;
        int n = lookup_commit(L, r->repo, name, &commit);
        if (n == 0) {
            git_oid_cpy(&oid, git_commit_id(commit));
            git_commit_free(commit);                /* before the calls that may raise */
            push_oid(L, &oid);
            lua_pushliteral(L, "commit");
            push_oid(L, &oid);                      /* refname: the full id */
            return 3;
        }
        /* An ambiguous prefix is worth saying; "not found" falls through. */
        if (strcmp(lua_tostring(L, -1), "ambiguous") == 0 || len == GIT_OID_HEXSZ)
            return n;
        lua_pop(L, n);
    }

    if (strpbrk(name, "~^@{")) {
        git_object *obj = NULL, *peeled = NULL;
        int rc = git_revparse_single(&obj, r->repo, name);
        if (rc == 0) {
            rc = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
            git_object_free(obj);
            if (rc != 0)
                return push_error(L, "notfound", "'%s' does not name a commit", name);
            git_oid_cpy(&oid, git_object_id(peeled));
            git_object_free(peeled);                /* before the calls that may raise */
            push_oid(L, &oid);
            lua_pushliteral(L, "expression");
            lua_pushstring(L, name);
            return 3;
        }
        if (rc != GIT_ENOTFOUND && rc != GIT_EINVALIDSPEC && rc != GIT_EAMBIGUOUS)
            return push_git_error(L, rc, name);
    }
    return push_error(L, "notfound", "no tag, branch or commit named '%s'", name);
}

static void free_odb(void *p) { git_odb_free(p); }

/* The blob at path (link: a symbolic link's target, else a file's bytes),
 * refused with code "EFBIG" over max bytes before it is loaded. */
static int read_entry(lua_State *L, int link, lua_Integer max)
{
    struct wpo_git_repo *r = check_repo(L, 1);
    const char *id = luaL_checkstring(L, 2);
    const char *path = luaL_checkstring(L, 3);
    char clean[4096];
    if (clean_tree_path(path, clean, sizeof clean) != 0)
        return push_error(L, "ENOENT", "%s: not a path inside the repository", path);

    struct wpo_guard *gd = wpo_guard_new(L);   /* the objects below, while pushing */
    git_commit *commit = NULL;
    int n = lookup_commit(L, r->repo, id, &commit);
    if (n)
        return n;
    wpo_guard_hold(gd, commit, free_object);
    git_tree *tree = NULL;
    git_tree_entry *entry = NULL;
    git_blob *blob = NULL;
    int rc = git_commit_tree(&tree, commit);
    wpo_guard_hold(gd, tree, free_object);
    if (rc != 0) {
        n = push_git_error(L, rc, path);
        goto cleanup;
    }
    rc = git_tree_entry_bypath(&entry, tree, clean);
    wpo_guard_hold(gd, entry, free_tree_entry);
    if (rc == GIT_ENOTFOUND) {
        char shortid[8];
        git_oid_tostr(shortid, sizeof shortid, git_commit_id(commit));
        n = push_error(L, "ENOENT", "%s: no such file at commit %s", clean, shortid);
        goto cleanup;
    }
    if (rc != 0) {
        n = push_git_error(L, rc, clean);
        goto cleanup;
    }
    git_filemode_t mode = git_tree_entry_filemode(entry);
    if (mode == GIT_FILEMODE_TREE) {
        n = push_error(L, "git", "%s: is a directory", clean);
        goto cleanup;
    }
    if (mode == GIT_FILEMODE_LINK && !link) {
        n = push_error(L, "git", "%s: is a symbolic link (not followed)", clean);
        goto cleanup;
    }
    if (mode != GIT_FILEMODE_LINK && link) {
        n = push_error(L, "git", "%s: is not a symbolic link", clean);
        goto cleanup;
    }
    if (mode == GIT_FILEMODE_COMMIT) {
        n = push_error(L, "git", "%s: is a submodule (not read)", clean);
        goto cleanup;
    }
    if (max >= 0) {
        git_odb *odb = NULL;
        size_t size = 0;
        git_object_t type;
        rc = git_repository_odb(&odb, r->repo);
        wpo_guard_hold(gd, odb, free_odb);
        if (rc == 0)
            rc = git_odb_read_header(&size, &type, odb, git_tree_entry_id(entry));
        wpo_guard_free(gd, odb);
        if (rc != 0) {
            n = push_git_error(L, rc, clean);
            goto cleanup;
        }
        if ((lua_Integer)size > max) {
            n = push_error(L, "EFBIG", "%s: %d bytes, more than %d", clean, (int)size, (int)max);
            goto cleanup;
        }
    }
    rc = git_blob_lookup(&blob, r->repo, git_tree_entry_id(entry));
    wpo_guard_hold(gd, blob, free_object);
    if (rc != 0) {
        n = push_git_error(L, rc, clean);
        goto cleanup;
    }
    lua_pushlstring(L, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
    n = 1;
cleanup:
    wpo_guard_release(gd);
    return n;
}

/* repo:read(commit, path [, max]) -> data | nil, err, code
 * The blob's raw bytes at path (relative to the repository root) in the
 * commit's tree; no filters (line endings stay as committed). code "ENOENT"
 * when the path is absent, "notfound" for an unknown commit, "git" for a
 * directory, a symbolic link or a submodule, "EFBIG" when the blob holds
 * more than max bytes (checked before it is read). */
static int l_repo_read(lua_State *L)
{
    lua_Integer max = luaL_optinteger(L, 4, -1);
    luaL_argcheck(L, max >= -1, 4, "max must be >= 0");
    return read_entry(L, 0, max);
}

/* repo:readlink(commit, path) -> target | nil, err, code
 * A symbolic link's target at the commit; code "git" when path is not a link. */
static int l_repo_readlink(lua_State *L)
{
    return read_entry(L, 1, 4096);
}

static const char *entry_kind(git_filemode_t mode)
{
    switch (mode) {
    case GIT_FILEMODE_TREE: return "dir";
    case GIT_FILEMODE_LINK: return "link";
    case GIT_FILEMODE_COMMIT: return "submodule";
    default: return "file";
    }
}

/* repo:list(commit, dir) -> { {name, kind, mode}... } | nil, err, code
 * The entries of a directory ("" or "." for the root) in the commit's tree,
 * in git's order (by name); kind "file", "dir", "link" or "submodule"; mode
 * git's file mode (0100644, 0100755, 040000, 0120000, 0160000).
 * code "ENOENT" when dir is absent, "git" when it is not a directory. */
static int l_repo_list(lua_State *L)
{
    struct wpo_git_repo *r = check_repo(L, 1);
    const char *id = luaL_checkstring(L, 2);
    const char *path = luaL_optstring(L, 3, "");
    char clean[4096] = "";
    int root = path[0] == '\0' || strcmp(path, ".") == 0 || strcmp(path, "./") == 0;
    if (!root && clean_tree_path(path, clean, sizeof clean) != 0)
        return push_error(L, "ENOENT", "%s: not a path inside the repository", path);

    struct wpo_guard *gd = wpo_guard_new(L);   /* the objects below, while pushing */
    git_commit *commit = NULL;
    int n = lookup_commit(L, r->repo, id, &commit);
    if (n)
        return n;
    wpo_guard_hold(gd, commit, free_object);
    git_tree *tree = NULL, *sub = NULL;
    git_tree_entry *entry = NULL;
    int rc = git_commit_tree(&tree, commit);
    wpo_guard_hold(gd, tree, free_object);
    if (rc != 0) {
        n = push_git_error(L, rc, path);
        goto cleanup;
    }
    const git_tree *dir = tree;
    if (!root) {
        rc = git_tree_entry_bypath(&entry, tree, clean);
        wpo_guard_hold(gd, entry, free_tree_entry);
        if (rc == GIT_ENOTFOUND) {
            char shortid[8];
            git_oid_tostr(shortid, sizeof shortid, git_commit_id(commit));
            n = push_error(L, "ENOENT", "%s: no such directory at commit %s", clean, shortid);
            goto cleanup;
        }
        if (rc == 0 && git_tree_entry_type(entry) != GIT_OBJECT_TREE) {
            n = push_error(L, "git", "%s: not a directory", clean);
            goto cleanup;
        }
        if (rc == 0)
            rc = git_tree_lookup(&sub, r->repo, git_tree_entry_id(entry));
        wpo_guard_hold(gd, sub, free_object);
        if (rc != 0) {
            n = push_git_error(L, rc, clean);
            goto cleanup;
        }
        dir = sub;
    }
    size_t count = git_tree_entrycount(dir);
    lua_createtable(L, (int)count, 0);
    for (size_t i = 0; i < count; i++) {
        const git_tree_entry *e = git_tree_entry_byindex(dir, i);
        lua_createtable(L, 0, 3);
        lua_pushstring(L, git_tree_entry_name(e));
        lua_setfield(L, -2, "name");
        lua_pushstring(L, entry_kind(git_tree_entry_filemode(e)));
        lua_setfield(L, -2, "kind");
        lua_pushinteger(L, (lua_Integer)git_tree_entry_filemode(e));
        lua_setfield(L, -2, "mode");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    n = 1;
cleanup:
    wpo_guard_release(gd);
    return n;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* repo:tags() -> { name... } sorted */
static int l_repo_tags(lua_State *L)
{
    struct wpo_git_repo *r = check_repo(L, 1);
    struct wpo_guard *gd = wpo_guard_new(L);   /* the names, while pushing */
    git_strarray *names = calloc(1, sizeof *names);
    if (!names)
        return luaL_error(L, "out of memory");
    wpo_guard_hold(gd, names, free_strarray);
    int rc = git_tag_list(names, r->repo);
    if (rc != 0) {
        wpo_guard_release(gd);
        return push_git_error(L, rc, "tags");
    }
    qsort(names->strings, names->count, sizeof names->strings[0], compare_names);
    lua_createtable(L, (int)names->count, 0);
    for (size_t i = 0; i < names->count; i++) {
        lua_pushstring(L, names->strings[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    wpo_guard_release(gd);
    return 1;
}

/* repo:branches() -> { "main", "origin/main", ... } (local, then remote) */
static int l_repo_branches(lua_State *L)
{
    struct wpo_git_repo *r = check_repo(L, 1);
    struct wpo_guard *gd = wpo_guard_new(L);   /* the iterator and a ref, while pushing */
    git_branch_iterator *it = NULL;
    int rc = git_branch_iterator_new(&it, r->repo, GIT_BRANCH_ALL);
    if (rc != 0)
        return push_git_error(L, rc, "branches");
    wpo_guard_hold(gd, it, free_branch_iterator);
    lua_newtable(L);
    lua_Integer i = 0;
    git_reference *ref = NULL;
    git_branch_t type;
    while ((rc = git_branch_next(&ref, &type, it)) == 0) {
        wpo_guard_hold(gd, ref, free_reference);
        const char *name = NULL;
        size_t len = 0;
        if (git_branch_name(&name, ref) == 0 && name)
            len = strlen(name);
        if (len > 0 && !(len >= 5 && strcmp(name + len - 5, "/HEAD") == 0)) {
            lua_pushstring(L, name);
            lua_rawseti(L, -2, ++i);
        }
        wpo_guard_free(gd, ref);
    }
    wpo_guard_release(gd);
    if (rc != GIT_ITEROVER) {
        lua_pop(L, 1);
        return push_git_error(L, rc, "branches");
    }
    return 1;
}

struct tags_at {
    git_repository *repo;
    git_oid target;
    char **names;
    size_t count, cap;
    int oom;
};

static void free_tags_at(void *p)
{
    struct tags_at *t = p;
    for (size_t i = 0; i < t->count; i++)
        free(t->names[i]);
    free(t->names);
    free(t);
}

static int collect_tag(const char *name, git_oid *oid, void *payload)
{
    struct tags_at *t = payload;
    git_object *obj = NULL, *peeled = NULL;
    if (git_object_lookup(&obj, t->repo, oid, GIT_OBJECT_ANY) != 0)
        return 0;
    int ok = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) == 0 &&
             git_oid_equal(git_object_id(peeled), &t->target);
    git_object_free(peeled);
    git_object_free(obj);
    if (!ok)
        return 0;
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4;
        char **names = realloc(t->names, cap * sizeof *names);
        if (!names) {
            t->oom = 1;
            return 0;
        }
        t->names = names;
        t->cap = cap;
    }
    if (strncmp(name, "refs/tags/", 10) == 0)
        name += 10;
    if (!(t->names[t->count] = strdup(name))) {
        t->oom = 1;
        return 0;
    }
    t->count++;
    return 0;
}

/* repo:tags_at(commit) -> { name... } the tags pointing at that commit, sorted */
static int l_repo_tags_at(lua_State *L)
{
    struct wpo_git_repo *r = check_repo(L, 1);
    const char *id = luaL_checkstring(L, 2);
    struct wpo_guard *gd = wpo_guard_new(L);   /* the names, while pushing */
    git_commit *commit = NULL;
    int n = lookup_commit(L, r->repo, id, &commit);
    if (n)
        return n;
    struct tags_at *t = calloc(1, sizeof *t);
    if (!t) {
        git_commit_free(commit);
        return luaL_error(L, "out of memory");
    }
    wpo_guard_hold(gd, t, free_tags_at);
    t->repo = r->repo;
    git_oid_cpy(&t->target, git_commit_id(commit));
    git_commit_free(commit);
    int rc = git_tag_foreach(r->repo, collect_tag, t);
    if (rc == 0 && !t->oom) {
        qsort(t->names, t->count, sizeof *t->names, compare_names);
        lua_createtable(L, (int)t->count, 0);
        for (size_t i = 0; i < t->count; i++) {
            lua_pushstring(L, t->names[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        n = 1;
    } else {
        n = t->oom ? push_error(L, "git", "out of memory listing tags")
                   : push_git_error(L, rc, "tags");
    }
    wpo_guard_release(gd);
    return n;
}

/* repo:is_ancestor(a, b) -> boolean | nil, err, code
 * true when commit a is b or reachable from b (git merge-base --is-ancestor) */
static int l_repo_is_ancestor(lua_State *L)
{
    struct wpo_git_repo *r = check_repo(L, 1);
    const char *a = luaL_checkstring(L, 2), *b = luaL_checkstring(L, 3);
    struct wpo_guard *gd = wpo_guard_new(L);   /* a's commit, while b's error is pushed */
    git_commit *ca = NULL, *cb = NULL;
    int n = lookup_commit(L, r->repo, a, &ca);
    if (n)
        return n;
    wpo_guard_hold(gd, ca, free_object);
    n = lookup_commit(L, r->repo, b, &cb);
    if (n) {
        wpo_guard_release(gd);
        return n;
    }
    wpo_guard_hold(gd, cb, free_object);
    int rc = 1;
    if (!git_oid_equal(git_commit_id(ca), git_commit_id(cb)))
        rc = git_graph_descendant_of(r->repo, git_commit_id(cb), git_commit_id(ca));
    wpo_guard_release(gd);
    if (rc < 0)
        return push_git_error(L, rc, "ancestry");
    lua_pushboolean(L, rc);
    return 1;
}

/* repo:merge_base(a, b) -> commit id | nil, err, code ("notfound": none) */
static int l_repo_merge_base(lua_State *L)
{
    struct wpo_git_repo *r = check_repo(L, 1);
    const char *a = luaL_checkstring(L, 2), *b = luaL_checkstring(L, 3);
    struct wpo_guard *gd = wpo_guard_new(L);   /* a's commit, while b's error is pushed */
    git_commit *ca = NULL, *cb = NULL;
    int n = lookup_commit(L, r->repo, a, &ca);
    if (n)
        return n;
    wpo_guard_hold(gd, ca, free_object);
    n = lookup_commit(L, r->repo, b, &cb);
    if (n) {
        wpo_guard_release(gd);
        return n;
    }
    wpo_guard_hold(gd, cb, free_object);
    git_oid base;
    int rc = git_merge_base(&base, r->repo, git_commit_id(ca), git_commit_id(cb));
    wpo_guard_release(gd);
    if (rc == GIT_ENOTFOUND)
        return push_error(L, "notfound", "%s and %s have no common ancestor", a, b);
    if (rc != 0)
        return push_git_error(L, rc, "merge base");
    push_oid(L, &base);
    return 1;
}

/* repo:commit(id) -> { id, short, summary, message, time, author, email,
 * parents } | nil, err, code. short is the shortest unique abbreviation
 * (at least 7 digits); time is the committer time, epoch seconds. */
static int l_repo_commit(lua_State *L)
{
    struct wpo_git_repo *r = check_repo(L, 1);
    const char *id = luaL_checkstring(L, 2);
    struct wpo_guard *gd = wpo_guard_new(L);   /* the commit, while pushing */
    git_commit *commit = NULL;
    int n = lookup_commit(L, r->repo, id, &commit);
    if (n)
        return n;
    wpo_guard_hold(gd, commit, free_object);
    git_buf shortid = {0};
    int rc = git_object_short_id(&shortid, (const git_object *)commit);
    if (rc != 0) {
        wpo_guard_release(gd);
        return push_git_error(L, rc, id);
    }
    char shortbuf[GIT_OID_HEXSZ + 1];
    snprintf(shortbuf, sizeof shortbuf, "%s", shortid.ptr);
    git_buf_dispose(&shortid);
    lua_createtable(L, 0, 8);
    push_oid(L, git_commit_id(commit));
    lua_setfield(L, -2, "id");
    lua_pushstring(L, shortbuf);
    lua_setfield(L, -2, "short");
    const char *summary = git_commit_summary(commit);
    lua_pushstring(L, summary ? summary : "");
    lua_setfield(L, -2, "summary");
    const char *message = git_commit_message(commit);
    lua_pushstring(L, message ? message : "");
    lua_setfield(L, -2, "message");
    lua_pushinteger(L, (lua_Integer)git_commit_time(commit));
    lua_setfield(L, -2, "time");
    const git_signature *author = git_commit_author(commit);
    lua_pushstring(L, author && author->name ? author->name : "");
    lua_setfield(L, -2, "author");
    lua_pushstring(L, author && author->email ? author->email : "");
    lua_setfield(L, -2, "email");
    lua_pushinteger(L, (lua_Integer)git_commit_parentcount(commit));
    lua_setfield(L, -2, "parents");
    wpo_guard_release(gd);
    return 1;
}

static const char *status_word(unsigned int s)
{
    if (s & GIT_STATUS_CONFLICTED) return "conflicted";
    if (s & (GIT_STATUS_INDEX_DELETED | GIT_STATUS_WT_DELETED)) return "deleted";
    if (s & (GIT_STATUS_INDEX_RENAMED | GIT_STATUS_WT_RENAMED)) return "renamed";
    if (s & (GIT_STATUS_INDEX_TYPECHANGE | GIT_STATUS_WT_TYPECHANGE)) return "typechange";
    if (s & (GIT_STATUS_INDEX_MODIFIED | GIT_STATUS_WT_MODIFIED)) return "modified";
    if (s & GIT_STATUS_INDEX_NEW) return "new";
    if (s & GIT_STATUS_WT_NEW) return "untracked";
    if (s & GIT_STATUS_IGNORED) return "ignored";
    return "current";
}

#define WPO_GIT_STAGED (GIT_STATUS_INDEX_NEW | GIT_STATUS_INDEX_MODIFIED | \
    GIT_STATUS_INDEX_DELETED | GIT_STATUS_INDEX_RENAMED | GIT_STATUS_INDEX_TYPECHANGE)

/* repo:status([{untracked = false}]) -> { {path, state, staged}... } | nil, err, code
 * Every path that differs from HEAD (staged or not). Untracked files are
 * left out unless untracked = true; ignored files and submodules always.
 * state: "modified", "new" (staged), "deleted", "renamed", "typechange",
 * "conflicted", "untracked". A bare repository: code "bare". */
static int l_repo_status(lua_State *L)
{
    struct wpo_git_repo *r = check_repo(L, 1);
    int untracked = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "untracked");
        untracked = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    if (git_repository_is_bare(r->repo))
        return push_error(L, "bare", "a bare repository has no working tree");
    git_status_options opts;
    git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
    opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
    opts.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
    if (untracked)
        opts.flags |= GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS;
    struct wpo_guard *gd = wpo_guard_new(L);   /* the list, while pushing */
    git_status_list *list = NULL;
    int rc = git_status_list_new(&list, r->repo, &opts);
    if (rc != 0)
        return push_git_error(L, rc, "status");
    wpo_guard_hold(gd, list, free_status_list);
    size_t count = git_status_list_entrycount(list);
    lua_createtable(L, (int)count, 0);
    lua_Integer n = 0;
    for (size_t i = 0; i < count; i++) {
        const git_status_entry *e = git_status_byindex(list, i);
        if (!e || e->status == GIT_STATUS_CURRENT)
            continue;
        const git_diff_delta *d = e->index_to_workdir ? e->index_to_workdir : e->head_to_index;
        const char *path = d ? (d->new_file.path ? d->new_file.path : d->old_file.path) : NULL;
        if (!path)
            continue;
        lua_createtable(L, 0, 3);
        lua_pushstring(L, path);
        lua_setfield(L, -2, "path");
        lua_pushstring(L, status_word(e->status));
        lua_setfield(L, -2, "state");
        lua_pushboolean(L, (e->status & WPO_GIT_STAGED) != 0);
        lua_setfield(L, -2, "staged");
        lua_rawseti(L, -2, ++n);
    }
    wpo_guard_release(gd);
    return 1;
}

/* repo:file_status(path) -> state | nil, err, code
 * path relative to the work tree root; state as in status() plus "current"
 * (committed and unchanged) and "ignored". */
static int l_repo_file_status(lua_State *L)
{
    struct wpo_git_repo *r = check_repo(L, 1);
    const char *path = luaL_checkstring(L, 2);
    char clean[4096];
    if (clean_tree_path(path, clean, sizeof clean) != 0)
        return push_error(L, "ENOENT", "%s: not a path inside the repository", path);
    if (git_repository_is_bare(r->repo))
        return push_error(L, "bare", "a bare repository has no working tree");
    unsigned int flags = 0;
    int rc = git_status_file(&flags, r->repo, clean);
    if (rc == GIT_ENOTFOUND)
        return push_error(L, "ENOENT", "%s: not in the work tree nor in the index", clean);
    if (rc != 0)
        return push_git_error(L, rc, clean);
    lua_pushstring(L, status_word(flags));
    return 1;
}

/* repo:remote_url([name = "origin"]) -> url (password redacted) | nil, err, code */
static int l_repo_remote_url(lua_State *L)
{
    struct wpo_git_repo *r = check_repo(L, 1);
    const char *name = luaL_optstring(L, 2, "origin");
    struct wpo_guard *gd = wpo_guard_new(L);   /* the remote, while the buffer grows */
    git_remote *remote = NULL;
    int rc = git_remote_lookup(&remote, r->repo, name);
    if (rc == GIT_ENOTFOUND || rc == GIT_EINVALIDSPEC)
        return push_error(L, "notfound", "no remote named '%s'", name);
    if (rc != 0)
        return push_git_error(L, rc, name);
    wpo_guard_hold(gd, remote, free_remote);
    const char *url = git_remote_url(remote);
    size_t len = url ? strlen(url) : 0;
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, len + 4);
    wpo_git_redact_url(url ? url : "", out, len + 4);
    wpo_guard_free(gd, remote);
    luaL_pushresultsize(&b, strlen(out));
    return 1;
}

/* repo:close() -> true (idempotent) */
static int l_repo_close(lua_State *L)
{
    struct wpo_git_repo *r = luaL_checkudata(L, 1, WPO_GIT_REPO);
    if (r->repo) {
        git_repository_free(r->repo);
        r->repo = NULL;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_repo_gc(lua_State *L)
{
    l_repo_close(L);
    return 0;
}

static int l_repo_tostring(lua_State *L)
{
    struct wpo_git_repo *r = luaL_checkudata(L, 1, WPO_GIT_REPO);
    if (!r->repo)
        lua_pushliteral(L, "git repository (closed)");
    else
        lua_pushfstring(L, "git repository (%s)", git_repository_path(r->repo));
    return 1;
}

/* -------------------------------------------------------------- fetch */

void wpo_git_redact_url(const char *url, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    const char *scheme = strstr(url, "://");
    const char *auth = scheme ? scheme + 3 : NULL;
    const char *end = auth ? auth + strcspn(auth, "/?#") : NULL;
    const char *at = NULL;
    if (auth)
        for (const char *p = auth; p < end; p++)
            if (*p == '@')
                at = p;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon) {
        snprintf(out, outlen, "%s", url);
        return;
    }
    snprintf(out, outlen, "%.*s:***%s", (int)(colon - url), url, at);
}

struct wpo_git_fetch *wpo_git_fetch_new(const char *url, const char *dir)
{
    struct wpo_git_fetch *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    atomic_init(&f->cancelled, 0);
    f->cancel = &f->cancelled;
    f->url = strdup(url);
    f->dir = strdup(dir);
    if (!f->url || !f->dir) {
        wpo_git_fetch_free(f);
        return NULL;
    }
    return f;
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void wpo_git_fetch_free(struct wpo_git_fetch *f)
{
    if (!f)
        return;
    free(f->url);
    free(f->dir);
    free_secret(f->token);
    free(f->token_from);
    free(f->username);
    free(f->ssh_key);
    free_secret(f->ssh_passphrase);
    explicit_bzero(f, sizeof *f);
    free(f);
}

static void note_tried(struct wpo_git_fetch *f, const char *what)
{
    size_t used = strlen(f->tried);
    snprintf(f->tried + used, sizeof f->tried - used, "%s%s", used ? ", " : "", what);
}

/* libgit2 calls this again after each rejected credential: every method is
 * offered once, then the fetch fails with GIT_EAUTH, so bad credentials
 * never loop. */
static int credentials_cb(git_credential **out, const char *url, const char *user_from_url,
                          unsigned int allowed, void *payload)
{
    struct wpo_git_fetch *f = payload;
    (void)url;
    if (atomic_load(f->cancel))
        return GIT_EUSER;
    f->auth_allowed |= allowed;
    char note[320];
    if (allowed & GIT_CREDENTIAL_SSH_KEY) {
        const char *user = user_from_url && *user_from_url ? user_from_url : "git";
        if (f->ssh_agent && !f->tried_agent) {
            f->tried_agent = 1;
            snprintf(note, sizeof note, "ssh-agent as '%s'", user);
            note_tried(f, note);
            return git_credential_ssh_key_from_agent(out, user);
        }
        if (f->ssh_key && !f->tried_key) {
            f->tried_key = 1;
            snprintf(note, sizeof note, "key %s as '%s'", f->ssh_key, user);
            note_tried(f, note);
            return git_credential_ssh_key_new(out, user, NULL, f->ssh_key,
                                              f->ssh_passphrase ? f->ssh_passphrase : "");
        }
    }
    if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && f->token && !f->tried_token) {
        const char *user = f->username ? f->username
                         : user_from_url && *user_from_url ? user_from_url : "x-access-token";
        f->tried_token = 1;
        snprintf(note, sizeof note, "token from %s as '%s'",
                 f->token_from ? f->token_from : "the environment", user);
        note_tried(f, note);
        return git_credential_userpass_plaintext_new(out, user, f->token);
    }
    if ((allowed & GIT_CREDENTIAL_USERNAME) && !f->tried_username) {
        f->tried_username = 1;
        const char *user = user_from_url && *user_from_url ? user_from_url : "git";
        return git_credential_username_new(out, user);
    }
    f->auth_exhausted = 1;
    git_error_set_str(GIT_ERROR_CALLBACK, "no more credentials to try");
    return GIT_EAUTH;
}

static int transfer_cb(const git_indexer_progress *stats, void *payload)
{
    struct wpo_git_fetch *f = payload;
    (void)stats;
    return atomic_load(f->cancel) ? -1 : 0;
}

static int sideband_cb(const char *str, int len, void *payload)
{
    struct wpo_git_fetch *f = payload;
    (void)str;
    (void)len;
    return atomic_load(f->cancel) ? -1 : 0;
}

/* The one line for a failed authentication: the URL and what was tried. */
static void auth_message(struct wpo_git_fetch *f, const char *url)
{
    if (f->tried[0]) {
        snprintf(f->err, sizeof f->err, "authentication failed for %s (tried: %s)", url, f->tried);
        return;
    }
    const char *hint;
    if ((f->auth_allowed & GIT_CREDENTIAL_SSH_KEY) &&
        (f->auth_allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT))
        hint = "start ssh-agent with your key, or set WPO_GIT_TOKEN";
    else if (f->auth_allowed & GIT_CREDENTIAL_SSH_KEY)
        hint = "start ssh-agent with your key loaded (SSH_AUTH_SOCK), or set WPO_GIT_SSH_KEY";
    else if (f->auth_allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT)
        hint = "set WPO_GIT_TOKEN to an access token";
    else
        hint = "the server offered no method wpo supports";
    snprintf(f->err, sizeof f->err, "authentication required by %s and no credentials to offer (tried: nothing; %s)",
             url, hint);
}

static void fetch_fail(struct wpo_git_fetch *f, int rc, const char *url, const char *what)
{
    if (atomic_load(f->cancel)) {
        f->code = "cancelled";
        snprintf(f->err, sizeof f->err, "fetching %s was cancelled", url);
    } else if (f->auth_exhausted || rc == GIT_EAUTH) {
        f->code = "auth";
        auth_message(f, url);
    } else {
        f->code = code_for(rc);
        snprintf(f->err, sizeof f->err, "%s %s: %s", what, url, last_message());
    }
}

static int mkdir_parents(const char *path, char *err, size_t errlen)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %.900s: %s", buf, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int create_remote(git_repository *repo, const char *url, git_remote **out)
{
    git_remote *remote = NULL;
    int rc = git_remote_create_with_fetchspec(&remote, repo, "origin", url,
                                              "+refs/heads/*:refs/heads/*");
    if (rc != 0)
        return rc;
    git_remote_free(remote);
    if ((rc = git_remote_add_fetch(repo, "origin", "+refs/tags/*:refs/tags/*")) != 0)
        return rc;
    return git_remote_lookup(out, repo, "origin");
}

int wpo_git_fetch_run(struct wpo_git_fetch *f)
{
    char url[1024], lockpath[4096], tmp[4096];
    f->err[0] = '\0';
    f->code = NULL;
    if (wpo_git_init_tls(f->err, sizeof f->err) != 0) {
        f->code = "unavailable";
        return -1;
    }
    wpo_git_redact_url(f->url, url, sizeof url);
    f->head[0] = '\0';
    f->cloned = 0;
    f->tried[0] = '\0';
    f->tried_agent = f->tried_key = f->tried_token = f->tried_username = f->auth_exhausted = 0;
    f->auth_allowed = 0;

    int ret = -1, lockfd = -1, rc;
    git_repository *repo = NULL;
    git_remote *remote = NULL;
    tmp[0] = '\0';

    if (snprintf(lockpath, sizeof lockpath, "%s.lock", f->dir) >= (int)sizeof lockpath) {
        f->code = "io";
        snprintf(f->err, sizeof f->err, "cache path too long: %s", f->dir);
        return -1;
    }
    if (mkdir_parents(f->dir, f->err, sizeof f->err) != 0) {
        f->code = "io";
        return -1;
    }
    lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockfd < 0 || flock(lockfd, LOCK_EX) != 0) {
        f->code = "io";
        snprintf(f->err, sizeof f->err, "cannot lock %.900s: %s", lockpath, strerror(errno));
        goto cleanup;
    }

    struct stat st;
    if (stat(f->dir, &st) == 0) {
        rc = git_repository_open_ext(&repo, f->dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
        if (rc != 0) {
            f->code = "io";
            snprintf(f->err, sizeof f->err, "%s is not a usable git cache (%s); remove it and retry",
                     f->dir, last_message());
            goto cleanup;
        }
        rc = git_remote_lookup(&remote, repo, "origin");
        if (rc == 0 && strcmp(git_remote_url(remote), f->url) != 0) {
            git_remote_free(remote);
            remote = NULL;
            rc = git_remote_set_url(repo, "origin", f->url);
            if (rc == 0)
                rc = git_remote_lookup(&remote, repo, "origin");
        }
        if (rc != 0) {
            fetch_fail(f, rc, url, "cannot use the cache of");
            goto cleanup;
        }
    } else {
        if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld", f->dir, (long)getpid()) >= (int)sizeof tmp) {
            f->code = "io";
            snprintf(f->err, sizeof f->err, "cache path too long: %s", f->dir);
            tmp[0] = '\0';
            goto cleanup;
        }
        remove_tree(tmp);
        rc = git_repository_init(&repo, tmp, 1);
        if (rc == 0)
            rc = create_remote(repo, f->url, &remote);
        if (rc != 0) {
            fetch_fail(f, rc, url, "cannot create a cache for");
            goto cleanup;
        }
    }

    git_fetch_options opts;
    git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
    opts.callbacks.credentials = credentials_cb;
    opts.callbacks.transfer_progress = transfer_cb;
    opts.callbacks.sideband_progress = sideband_cb;
    opts.callbacks.payload = f;
    opts.prune = GIT_FETCH_PRUNE;
    opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL;
    rc = git_remote_fetch(remote, NULL, &opts, "wpo: fetch");
    if (rc != 0) {
        fetch_fail(f, rc, url, "cannot fetch");
        goto cleanup;
    }

    /* Point HEAD at the remote's default branch, so "no ref" means it. */
    git_buf head = {0};
    if (git_remote_default_branch(&head, remote) == 0) {
        snprintf(f->head, sizeof f->head, "%s", head.ptr);
        git_repository_set_head(repo, head.ptr);
    }
    git_buf_dispose(&head);
    git_error_clear();

    if (tmp[0]) {
        git_remote_free(remote);
        remote = NULL;
        git_repository_free(repo);
        repo = NULL;
        if (rename(tmp, f->dir) != 0) {
            f->code = "io";
            snprintf(f->err, sizeof f->err, "cannot move the new clone into %s: %s",
                     f->dir, strerror(errno));
            goto cleanup;
        }
        tmp[0] = '\0';
        f->cloned = 1;
    }
    ret = 0;

cleanup:
    git_remote_free(remote);
    git_repository_free(repo);
    if (tmp[0])
        remove_tree(tmp);
    if (lockfd >= 0)
        close(lockfd);  /* releases the flock */
    return ret;
}

static const char *const fetch_option_names[] = {
    "token", "token_from", "username", "ssh_key", "ssh_passphrase", "ssh_agent", NULL
};

/* Copies an optional string field of the options table (index 3): 0, or -1
 * when out of memory. */
static int opt_string(lua_State *L, const char *key, char **dst)
{
    lua_getfield(L, 3, key);
    if (!lua_isnil(L, -1) && !(*dst = strdup(lua_tostring(L, -1)))) {
        lua_pop(L, 1);
        return -1;
    }
    lua_pop(L, 1);
    return 0;
}

/* The request for git.fetch / fetch_start from (url, dir, opts). Raises on
 * misuse, always before anything is allocated. */
static void free_fetch(void *p)
{
    wpo_git_fetch_free(p);
}

static void unref_queue(void *p)
{
    wpo_loop_queue_unref(p);
}

/* The request of git.fetch(url, dir, opts), held by the guard gd. */
static struct wpo_git_fetch *fetch_request(lua_State *L, struct wpo_guard *gd)
{
    const char *url = luaL_checkstring(L, 1);
    const char *dir = luaL_checkstring(L, 2);
    if (*dir == '\0')
        luaL_argerror(L, 2, "the cache directory must not be empty");
    int has_opts = !lua_isnoneornil(L, 3);
    if (has_opts) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            const char *known = NULL;
            if (lua_type(L, -2) == LUA_TSTRING)
                for (const char *const *n = fetch_option_names; *n; n++)
                    if (strcmp(*n, lua_tostring(L, -2)) == 0)
                        known = *n;
            if (!known)
                luaL_error(L, "git.fetch: unknown option '%s' (valid: token, token_from, "
                           "username, ssh_key, ssh_passphrase, ssh_agent)", luaL_tolstring(L, -2, NULL));
            if (strcmp(known, "ssh_agent") != 0 && lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "git.fetch: option '%s' must be a string, not a %s", known, luaL_typename(L, -1));
            lua_pop(L, 1);
        }
    }
    struct wpo_git_fetch *f = wpo_git_fetch_new(url, dir);
    wpo_guard_hold(gd, f, free_fetch);        /* opt_string may raise */
    if (f && has_opts) {
        if (opt_string(L, "token", &f->token) || opt_string(L, "token_from", &f->token_from) ||
            opt_string(L, "username", &f->username) || opt_string(L, "ssh_key", &f->ssh_key) ||
            opt_string(L, "ssh_passphrase", &f->ssh_passphrase)) {
            wpo_guard_free(gd, f);
            f = NULL;
        } else {
            lua_getfield(L, 3, "ssh_agent");
            f->ssh_agent = lua_toboolean(L, -1);
            lua_pop(L, 1);
        }
    }
    if (!f)
        luaL_error(L, "out of memory");
    return f;
}

/* The value of a finished fetch: { cloned = boolean, head = refname | nil, dir } */
static void push_fetch_value(lua_State *L, struct wpo_git_fetch *f)
{
    lua_createtable(L, 0, 3);
    lua_pushboolean(L, f->cloned);
    lua_setfield(L, -2, "cloned");
    if (f->head[0]) {
        lua_pushstring(L, f->head);
        lua_setfield(L, -2, "head");
    }
    lua_pushstring(L, f->dir);
    lua_setfield(L, -2, "dir");
}

/* git.fetch(url, dir [, opts]) -> { cloned, head, dir } | nil, err, code
 * Blocking: clone url into dir (bare, every branch and tag) when absent,
 * else fetch into it. opts: token (HTTPS password), token_from (its name
 * for messages), username (default "x-access-token"), ssh_agent (boolean),
 * ssh_key (private key file), ssh_passphrase. */
static int l_git_fetch(lua_State *L)
{
    lua_settop(L, 3);                          /* url, dir, opts: the guard goes above */
    struct wpo_guard *gd = wpo_guard_new(L);   /* the request, while pushing */
    struct wpo_git_fetch *f = fetch_request(L, gd);
    wpo_git_fetch_run(f);
    int n = 1;
    if (f->code) {
        char err[sizeof f->err];
        const char *code = f->code;   /* a string literal */
        snprintf(err, sizeof err, "%s", f->err);
        wpo_guard_free(gd, f);
        n = push_error(L, code, "%s", err);
    } else {
        push_fetch_value(L, f);
        wpo_guard_free(gd, f);
    }
    return n;
}

/* A fetch on a worker thread. The job holds the cancel flag: it outlives
 * both the request (handed to the loop by wpo_loop_post) and the loop's
 * hold on the operation (release), whichever ends last frees it. */
struct fetch_job {
    atomic_int refs;
    atomic_int cancelled;
    struct wpo_git_fetch *f;
    struct wpo_loop_queue *queue;
    int64_t id;
};

static void job_unref(struct fetch_job *job)
{
    if (atomic_fetch_sub(&job->refs, 1) == 1)
        free(job);
}

/* Main thread, inside loop.wait: the completion's value. */
static int fetch_convert(lua_State *L, void *result)
{
    struct wpo_git_fetch *f = result;
    if (f->code) {
        lua_pushstring(L, f->err);
        lua_pushstring(L, f->code);
        return WPO_LOOP_FAIL;
    }
    push_fetch_value(L, f);
    return WPO_LOOP_OK;
}

static void fetch_free_result(void *result)
{
    wpo_git_fetch_free(result);
}

/* Main thread: the loop lets go of the job; when cancelled, the transfer
 * stops at its next callback. */
static void fetch_release(void *ctx, int cancelled)
{
    struct fetch_job *job = ctx;
    if (cancelled)
        atomic_store(&job->cancelled, 1);
    job_unref(job);
}

static const struct wpo_loop_op_type fetch_op = {
    .name = "git fetch",
    .convert = fetch_convert,
    .free_result = fetch_free_result,
    .release = fetch_release,
};

/* The worker: never touches a lua_State. */
static void *fetch_worker(void *arg)
{
    struct fetch_job *job = arg;
    struct wpo_git_fetch *f = job->f;
    job->f = NULL;
    wpo_git_fetch_run(f);
    f->cancel = &f->cancelled;        /* the job may go once we let it */
    wpo_loop_post(job->queue, job->id, &fetch_op, f);   /* f is the loop's now */
    wpo_loop_queue_unref(job->queue);
    job_unref(job);
    return NULL;
}

/* git.fetch_start(url, dir [, opts]) -> id | nil, err, code
 * As git.fetch, on a worker thread; the completion (wpo.task.await(id))
 * carries { cloned, head, dir } or err, code. loop.cancel(id) stops the
 * transfer at its next progress or credential callback. */
static int l_git_fetch_start(lua_State *L)
{
    /* the guard holds the queue and the request until the job owns them */
    lua_settop(L, 3);                          /* url, dir, opts: the guard goes above */
    struct wpo_guard *gd = wpo_guard_new(L);
    struct wpo_loop_queue *queue = wpo_loop_queue_ref(L);
    if (!queue)
        return push_error(L, "io", "cannot start a fetch: the event loop is closed");
    wpo_guard_hold(gd, queue, unref_queue);
    struct wpo_git_fetch *f = fetch_request(L, gd);
    struct fetch_job *job = calloc(1, sizeof *job);
    if (!job) {
        wpo_guard_release(gd);
        return push_error(L, "io", "out of memory");
    }
    atomic_init(&job->refs, 2);       /* the loop (release) and the worker */
    atomic_init(&job->cancelled, 0);
    job->f = f;
    f->cancel = &job->cancelled;
    job->queue = queue;
    int64_t id = wpo_loop_op_start(L, &fetch_op, job);
    if (id < 0) {
        wpo_guard_release(gd);
        free(job);
        return push_error(L, "io", "cannot start a fetch: the event loop is closed or out of memory");
    }
    wpo_guard_forget(gd, queue);      /* the job's now */
    wpo_guard_forget(gd, f);
    job->id = id;
    pthread_t thread;
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&thread, &attr, fetch_worker, job);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        /* No worker: complete the operation from here, as a failure. */
        f->code = "io";
        snprintf(f->err, sizeof f->err, "cannot start a thread to fetch: %s", strerror(rc));
        f->cancel = &f->cancelled;
        job->f = NULL;
        wpo_loop_post(job->queue, id, &fetch_op, f);
        wpo_loop_queue_unref(job->queue);
        job_unref(job);
    }
    lua_pushinteger(L, (lua_Integer)id);
    return 1;
}

/* ----------------------------------------------------------- registry */

static const luaL_Reg repo_methods[] = {
    {"path", l_repo_path},
    {"workdir", l_repo_workdir},
    {"head", l_repo_head},
    {"resolve", l_repo_resolve},
    {"read", l_repo_read},
    {"readlink", l_repo_readlink},
    {"list", l_repo_list},
    {"tags", l_repo_tags},
    {"tags_at", l_repo_tags_at},
    {"branches", l_repo_branches},
    {"is_ancestor", l_repo_is_ancestor},
    {"merge_base", l_repo_merge_base},
    {"commit", l_repo_commit},
    {"status", l_repo_status},
    {"file_status", l_repo_file_status},
    {"remote_url", l_repo_remote_url},
    {"close", l_repo_close},
    {NULL, NULL}
};

static const luaL_Reg repo_meta[] = {
    {"__gc", l_repo_gc},
    {"__close", l_repo_gc},
    {"__tostring", l_repo_tostring},
    {"__index", NULL},
    {NULL, NULL}
};

static const luaL_Reg git_functions[] = {
    {"open", l_git_open},
    {"open_start", l_git_open_start},
    {"fetch", l_git_fetch},
    {"fetch_start", l_git_fetch_start},
    {"blob_id", l_git_blob_id},
    {"redact", l_git_redact},
    {"realpath", l_git_realpath},
    {NULL, NULL}
};

int luaopen_wpo_core_git(lua_State *L)
{
    if (luaL_newmetatable(L, WPO_GIT_REPO)) {
        luaL_setfuncs(L, repo_meta, 0);
        luaL_newlib(L, repo_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, git_functions);
    wpo_gitread_register(L);   /* read_head, read_unproven: gitread.c */
    return 1;
}
