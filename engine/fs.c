/*
 * fs.c — wpo.core.fs: the file operations state depends on. Atomic replace
 * (temp in the same directory, fsync, rename, fsync the directory), files
 * created 0600 unless told otherwise, advisory locks (flock) that name their
 * holder, the removal of temp files a killed writer left, the small
 * directory helpers around them, and appenders: a file appended to and
 * fdatasync'ed by a worker thread of its own, each append completing on the
 * event loop (wpo.core.loop) once it is durable (the state journal's group
 * commits). Disk failures are returned as nil, message, code (the errno
 * name: "ENOENT", "EACCES"...).
 * It owns no format: what goes in the files is the callers' business.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include <lauxlib.h>

#include "fs.h"
#include "guard.h"
#include "loop.h"

/* WPO_FS_FAULT=STEP, or STEP:N for the Nth atomic write of this process:
 * _exit at that step of wpo_fs_write_atomic (crash tests). */
static unsigned atomic_writes_so_far;

static void fault_point(const char *step)
{
    const char *f = getenv("WPO_FS_FAULT");
    size_t len = strlen(step);
    if (!f || strncmp(f, step, len) != 0)
        return;
    if (f[len] == '\0' || (f[len] == ':' && strtoul(f + len + 1, NULL, 10) == atomic_writes_so_far))
        _exit(WPO_FS_FAULT_EXIT);
}

/* WPO_FS_FAULT=enospc:N (tests only): from the Nth write of this process
 * on (an atomic write's temporary file, or a journal append), writing fails
 * with ENOSPC, as on a full disk. Appends run on their own thread. */
static atomic_uint disk_writes;

static int disk_full(void)
{
    unsigned writes = atomic_fetch_add(&disk_writes, 1) + 1;
    const char *f = getenv("WPO_FS_FAULT");
    if (!f || strncmp(f, "enospc:", 7) != 0)
        return 0;
    long n = strtol(f + 7, NULL, 10);
    return n > 0 && writes >= (unsigned long)n;
}

static int fail(char *err, size_t errlen, const char *what, const char *path)
{
    int e = errno;
    snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
    errno = e;
    return -1;
}

/* dir of path into out ("." when path has no slash) */
static void dir_of(const char *path, char *out, size_t outlen)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, outlen, ".");
    else if (slash == path)
        snprintf(out, outlen, "/");
    else
        snprintf(out, outlen, "%.*s", (int)(slash - path), path);
}

int wpo_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                        char *err, size_t errlen)
{
    static unsigned counter;
    char dir[4096], tmp[4200];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int fd = -1, rc = -1;
    if (!*base || strlen(path) >= sizeof dir) {
        errno = EINVAL;
        return fail(err, errlen, "cannot write", path);
    }
    dir_of(path, dir, sizeof dir);
    atomic_writes_so_far++;
    for (int attempt = 0; fd < 0; attempt++) {
        snprintf(tmp, sizeof tmp, "%s/" WPO_FS_TEMP_FORMAT, dir, base, (long)getpid(), counter++);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
        if (fd < 0 && (errno != EEXIST || attempt > 100))
            return fail(err, errlen, "cannot create a temporary file beside", path);
    }
    if (fchmod(fd, mode & 07777) != 0) {
        fail(err, errlen, "cannot set the mode of", tmp);
        goto cleanup;
    }
    if (disk_full()) {
        errno = ENOSPC;
        fail(err, errlen, "cannot write", tmp);
        goto cleanup;
    }
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, (const char *)data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fail(err, errlen, "cannot write", tmp);
            goto cleanup;
        }
        off += (size_t)n;
    }
    fault_point("after-temp-write");
    if (fsync(fd) != 0) {
        fail(err, errlen, "cannot flush", tmp);
        goto cleanup;
    }
    fault_point("after-fsync");
    int cfd = fd;
    fd = -1;
    if (close(cfd) != 0) {
        fail(err, errlen, "cannot close", tmp);
        goto cleanup;
    }
    fault_point("before-rename");
    if (rename(tmp, path) != 0) {
        fail(err, errlen, "cannot replace", path);
        goto cleanup;
    }
    tmp[0] = '\0';
    fault_point("after-rename");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        fail(err, errlen, "cannot flush the directory", dir);
        if (dfd >= 0)
            close(dfd);
        goto cleanup;
    }
    close(dfd);
    rc = 0;
cleanup:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && tmp[0]) {
        int e = errno;
        unlink(tmp);
        errno = e;
    }
    return rc;
}

static int read_fd(int fd, char *buf, size_t cap)
{
    size_t off = 0;
    while (off + 1 < cap) {
        ssize_t n = pread(fd, buf + off, cap - 1 - off, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    buf[off] = '\0';
    return (int)off;
}

int wpo_fs_lock(const char *path, const char *info, int *fd, char *holder, size_t holderlen,
                char *err, size_t errlen)
{
    *fd = -1;
    if (holderlen)
        holder[0] = '\0';
    int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0)
        return fail(err, errlen, "cannot open the lock file", path);
    while (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR)
            continue;
        if (errno == EWOULDBLOCK) {
            if (holderlen)
                read_fd(lfd, holder, holderlen);
            close(lfd);
            return 1;
        }
        fail(err, errlen, "cannot lock", path);
        close(lfd);
        return -1;
    }
    size_t len = strlen(info);
    if (ftruncate(lfd, 0) != 0 || pwrite(lfd, info, len, 0) != (ssize_t)len) {
        fail(err, errlen, "cannot write the lock file", path);
        close(lfd);
        return -1;
    }
    *fd = lfd;
    return 0;
}

void wpo_fs_unlock(int fd)
{
    if (fd < 0)
        return;
    if (ftruncate(fd, 0) != 0) {
        /* the stale info is overwritten by the next holder anyway */
    }
    flock(fd, LOCK_UN);
    close(fd);
}

/* ---- Lua binding ---- */

#define LOCK_MT "wpo.fs.lock"

struct lock_ud {
    int fd;
    char path[1024];
};

static const char *errno_code(int e)
{
    const char *name = strerrorname_np(e);
    return name ? name : "EIO";
}

static int push_error(lua_State *L, const char *msg, int e)
{
    luaL_pushfail(L);
    lua_pushstring(L, msg);
    lua_pushstring(L, errno_code(e));
    return 3;
}

static int push_errno(lua_State *L, const char *what, const char *path)
{
    int e = errno;
    char msg[1200];
    snprintf(msg, sizeof msg, "%s %s: %s", what, path, strerror(e));
    return push_error(L, msg, e);
}

static mode_t opt_mode(lua_State *L, int arg, mode_t def)
{
    if (lua_isnoneornil(L, arg))
        return def;
    if (lua_type(L, arg) == LUA_TSTRING) {
        char *end;
        const char *s = lua_tostring(L, arg);
        long m = strtol(s, &end, 8);
        if (*s && !*end && m >= 0 && m <= 07777)
            return (mode_t)m;
        luaL_argerror(L, arg, "mode must be octal digits like \"0600\" or an integer");
    }
    lua_Integer m = luaL_checkinteger(L, arg);
    luaL_argcheck(L, m >= 0 && m <= 07777, arg, "mode out of range");
    return (mode_t)m;
}

/* fs.write_atomic(path, data, mode?) -> true | nil, err, code   (mode default 0600) */
static int l_fs_write_atomic(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    mode_t mode = opt_mode(L, 3, 0600);
    char err[1200];
    if (wpo_fs_write_atomic(path, data, len, mode, err, sizeof err) != 0)
        return push_error(L, err, errno);
    lua_pushboolean(L, 1);
    return 1;
}

/* fs.read(path, max?) -> data | nil, err, code ("ENOENT" when absent;
 * "EFBIG" when the file holds more than max bytes) */
static void close_fd(void *p)
{
    close((int)(intptr_t)p - 1);
}

static void close_dir(void *p)
{
    closedir(p);
}

static int l_fs_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer max = luaL_optinteger(L, 2, -1);
    size_t total = 0;
    struct wpo_guard *g = wpo_guard_new(L);    /* the fd, while the buffer grows */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return push_errno(L, "cannot read", path);
    void *held = (void *)(intptr_t)(fd + 1);
    wpo_guard_hold(g, held, close_fd);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (;;) {
        char *p = luaL_prepbuffer(&b);
        ssize_t n = read(fd, p, LUAL_BUFFERSIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            wpo_guard_free(g, held);
            errno = e;
            return push_errno(L, "cannot read", path);
        }
        if (n == 0)
            break;
        total += (size_t)n;
        if (max >= 0 && total > (size_t)max) {
            wpo_guard_free(g, held);
            luaL_pushresult(&b);
            lua_pop(L, 1);
            luaL_pushfail(L);
            lua_pushfstring(L, "%s: larger than %I bytes", path, max);
            lua_pushliteral(L, "EFBIG");
            return 3;
        }
        luaL_addsize(&b, (size_t)n);
    }
    wpo_guard_free(g, held);
    luaL_pushresult(&b);
    return 1;
}

/* Parse "k=v\n" lines (the lock file) into a table at the top of the stack. */
static void push_info(lua_State *L, const char *text)
{
    lua_newtable(L);
    while (*text) {
        const char *eol = strchr(text, '\n');
        size_t n = eol ? (size_t)(eol - text) : strlen(text);
        const char *eq = memchr(text, '=', n);
        if (eq && eq > text) {
            lua_pushlstring(L, text, (size_t)(eq - text));
            lua_pushlstring(L, eq + 1, n - (size_t)(eq - text) - 1);
            if (lua_stringtonumber(L, lua_tostring(L, -1)) != 0)
                lua_remove(L, -2);
            lua_rawset(L, -3);
        }
        text += n + (eol ? 1 : 0);
    }
}

static void add_field(luaL_Buffer *b, lua_State *L, int holder, const char *key,
                      const char *prefix, int *first)
{
    lua_getfield(L, holder, key);
    if (!lua_isnil(L, -1)) {
        const char *v = lua_tostring(L, -1);
        luaL_addstring(b, *first ? "" : ", ");
        luaL_addstring(b, prefix);
        luaL_addstring(b, v ? v : "?");
        *first = 0;
    }
    lua_pop(L, 1);
}

/* fs.lock(path, info) -> lock | nil, err, holder
 * info: { pid=, host=, user=, command=, since=, ... } written into the lock
 * file; holder is that table as written by the process holding the lock. */
static int l_fs_lock(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_argcheck(L, strlen(path) < sizeof(((struct lock_ud *)0)->path), 1, "path too long");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            return luaL_argerror(L, 2, "info keys must be strings");
        if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
            return luaL_argerror(L, 2, lua_pushfstring(L, "info.%s must be a string or a number",
                                                       lua_tostring(L, -2)));
        const char *k = lua_tostring(L, -2);
        const char *v = lua_tostring(L, -1);
        luaL_addstring(&b, k);
        luaL_addchar(&b, '=');
        for (; *v; v++)
            luaL_addchar(&b, (*v == '\n' || *v == '\r') ? ' ' : *v);
        luaL_addchar(&b, '\n');
        lua_pop(L, 1);
    }
    luaL_pushresult(&b);
    const char *info = lua_tostring(L, -1);

    struct lock_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->fd = -1;
    snprintf(u->path, sizeof u->path, "%s", path);
    luaL_setmetatable(L, LOCK_MT);
    char holder[4096], err[1200];
    int rc = wpo_fs_lock(path, info, &u->fd, holder, sizeof holder, err, sizeof err);
    if (rc < 0)
        return push_error(L, err, errno);
    if (rc == 0)
        return 1;

    push_info(L, holder);
    int h = lua_gettop(L);
    luaL_pushfail(L);
    luaL_buffinit(L, &b);
    luaL_addstring(&b, path);
    lua_getfield(L, h, "pid");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        luaL_addstring(&b, " is locked by another process (which has not yet written who it is)");
    } else {
        lua_pop(L, 1);
        int first = 1;
        luaL_addstring(&b, " is locked by ");
        add_field(&b, L, h, "pid", "pid ", &first);
        first = 1;
        lua_getfield(L, h, "host");
        if (!lua_isnil(L, -1)) {
            luaL_addstring(&b, " on ");
            luaL_addstring(&b, lua_tostring(L, -1));
        }
        lua_pop(L, 1);
        luaL_addstring(&b, " (");
        add_field(&b, L, h, "user", "user ", &first);
        add_field(&b, L, h, "command", "running '", &first);
        if (!first) {
            lua_getfield(L, h, "command");
            if (!lua_isnil(L, -1))
                luaL_addchar(&b, '\'');
            lua_pop(L, 1);
        }
        add_field(&b, L, h, "since", "since ", &first);
        luaL_addchar(&b, ')');
    }
    luaL_pushresult(&b);
    lua_pushvalue(L, h);
    return 3;
}

static struct lock_ud *check_lock(lua_State *L)
{
    return luaL_checkudata(L, 1, LOCK_MT);
}

/* lock:close(): release the lock (idempotent) */
static int l_lock_close(lua_State *L)
{
    struct lock_ud *u = check_lock(L);
    wpo_fs_unlock(u->fd);
    u->fd = -1;
    return 0;
}

static int l_lock_tostring(lua_State *L)
{
    struct lock_ud *u = check_lock(L);
    lua_pushfstring(L, "wpo.fs.lock (%s%s)", u->path, u->fd < 0 ? ", released" : "");
    return 1;
}

/* fs.mkdir_p(path, mode?) -> true | nil, err, code   (mode default 0755) */
static int l_fs_mkdir_p(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    mode_t mode = opt_mode(L, 2, 0755);
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return push_errno(L, "cannot create directory", path);
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, mode) != 0 && errno != EEXIST)
                return push_errno(L, "cannot create directory", buf);
            *p = c;
            if (!c)
                break;
        }
    }
    struct stat st;
    if (stat(buf, &st) != 0)
        return push_errno(L, "cannot create directory", path);
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return push_errno(L, "cannot create directory", path);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* fs.exists(path) -> boolean */
static int l_fs_exists(lua_State *L)
{
    struct stat st;
    lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0);
    return 1;
}

/* fs.remove(path) -> true | nil, err, code   (a file, or an empty directory) */
static int l_fs_remove(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (unlink(path) != 0) {
        if (errno != EISDIR && errno != EPERM)
            return push_errno(L, "cannot remove", path);
        if (rmdir(path) != 0)
            return push_errno(L, "cannot remove", path);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* fs.rename(from, to) -> true | nil, err, code */
static int l_fs_rename(lua_State *L)
{
    const char *from = luaL_checkstring(L, 1);
    const char *to = luaL_checkstring(L, 2);
    if (rename(from, to) != 0)
        return push_errno(L, "cannot rename", from);
    lua_pushboolean(L, 1);
    return 1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Push a sorted copy of the array of n strings at the top of the stack. */
static void push_sorted(lua_State *L, int n)
{
    /* sort through a C array of the Lua-owned strings (the table keeps them alive) */
    const char **names = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *names, 0);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, -2, i + 1);
        names[i] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* fs.list(dir) -> { name... } sorted, without . and .. | nil, err, code */
static int l_fs_list(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct wpo_guard *g = wpo_guard_new(L);    /* the DIR, while names are pushed */
    DIR *d = opendir(path);
    if (!d)
        return push_errno(L, "cannot list", path);
    wpo_guard_hold(g, d, close_dir);
    lua_newtable(L);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, -2, ++n);
    }
    wpo_guard_free(g, d);
    push_sorted(L, n);
    return 1;
}

static void push_stat(lua_State *L, const struct stat *st);

/* fs.stat(path) -> { type = "file"|"directory"|"link"|"other", size, mode,
 *                    mtime, ino } | nil, err, code   (follows links) */
static int l_fs_stat(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (stat(path, &st) != 0)
        return push_errno(L, "cannot stat", path);
    push_stat(L, &st);
    return 1;
}

/* fs.lstat(path) -> the table of fs.stat for path itself (a link is not
 * followed), plus target (a link's contents) and, for type "other", special
 * = "fifo"|"socket"|"character device"|"block device" | nil, err, code */
static int l_fs_lstat(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    char target[PATH_MAX];
    ssize_t n = 0;
    if (lstat(path, &st) != 0)
        return push_errno(L, "cannot stat", path);
    if (S_ISLNK(st.st_mode) && (n = readlink(path, target, sizeof target)) < 0)
        return push_errno(L, "cannot read the link", path);
    if (n >= (ssize_t)sizeof target) {
        errno = ENAMETOOLONG;
        return push_errno(L, "cannot read the link", path);
    }
    push_stat(L, &st);
    if (S_ISLNK(st.st_mode)) {
        lua_pushlstring(L, target, (size_t)n);
        lua_setfield(L, -2, "target");
    }
    const char *special = S_ISFIFO(st.st_mode) ? "fifo" : S_ISSOCK(st.st_mode) ? "socket"
                          : S_ISCHR(st.st_mode) ? "character device"
                          : S_ISBLK(st.st_mode) ? "block device" : NULL;
    if (special) {
        lua_pushstring(L, special);
        lua_setfield(L, -2, "special");
    }
    return 1;
}

static void push_stat(lua_State *L, const struct stat *stp)
{
    struct stat st = *stp;
    lua_createtable(L, 0, 5);
    lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory"
                      : S_ISLNK(st.st_mode) ? "link" : "other");
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)st.st_size);
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
    lua_setfield(L, -2, "mode");
    lua_pushnumber(L, (lua_Number)st.st_mtim.tv_sec + (lua_Number)st.st_mtim.tv_nsec / 1e9);
    lua_setfield(L, -2, "mtime");
    lua_pushinteger(L, (lua_Integer)st.st_ino);
    lua_setfield(L, -2, "ino");
}

/* The pid in name when it is ".<base>.tmp-<pid>-<n>" (write_atomic's temp
 * file for base), else 0. */
static long temp_pid(const char *name, const char *base)
{
    size_t blen = strlen(base);
    if (name[0] != '.' || strncmp(name + 1, base, blen) != 0 || strncmp(name + 1 + blen, ".tmp-", 5) != 0)
        return 0;
    const char *p = name + 1 + blen + 5;
    char *end;
    errno = 0;
    long pid = strtol(p, &end, 10);
    if (end == p || *end != '-' || errno != 0 || pid <= 0 || pid > INT_MAX)
        return 0;
    const char *n = end + 1;
    if (!*n)
        return 0;
    for (; *n; n++)
        if (*n < '0' || *n > '9')
            return 0;
    return pid;
}

/* fs.remove_stale_temps(path) -> { name... } | nil, err, code
 * Removes the temporary copies of path that write_atomic leaves when its
 * process dies mid-write (".<base>.tmp-<pid>-<n>" beside path), only those
 * whose process is gone; returns the names removed (sorted). Any other file,
 * and a temp file of a live process (this one too), is left alone. */
static int l_fs_remove_stale_temps(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[4096];
    luaL_argcheck(L, *base && strlen(path) < sizeof dir, 1, "expected a file's path");
    dir_of(path, dir, sizeof dir);
    struct wpo_guard *g = wpo_guard_new(L);    /* the DIR, while names are pushed */
    DIR *d = opendir(dir);
    if (!d)
        return push_errno(L, "cannot list", dir);
    wpo_guard_hold(g, d, close_dir);
    lua_newtable(L);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = temp_pid(e->d_name, base);
        if (pid == 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;                   /* alive (or not ours to signal: alive too) */
        char full[8300];
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        if (unlink(full) != 0 && errno != ENOENT) {
            int saved = errno;
            wpo_guard_free(g, d);
            errno = saved;
            return push_errno(L, "cannot remove", full);
        }
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, -2, ++n);
    }
    wpo_guard_free(g, d);
    push_sorted(L, n);
    return 1;
}

/* fs.writable(dir) -> true | nil, err, code   (whether this process may create files in dir) */
static int l_fs_writable(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (access(path, W_OK | X_OK) != 0)
        return push_errno(L, "cannot write in", path);
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- appenders ---- */

#define APPENDER_MT "wpo.fs.appender"

/* A file being appended to. Its worker thread (started by the first append)
 * writes and fdatasyncs one append at a time; the userdata and the worker
 * each hold a reference, and whichever lets go last frees it.
 *
 * The file is grown ahead of the data in steps of APPEND_STEP (fallocate,
 * which extends it with zeros), so that an fdatasync has only the data to
 * flush, not the file's size: a reader finds the data followed by zero
 * bytes, which are not data. Where fallocate is not supported the file
 * simply grows with each append. */
#define APPEND_STEP (1 << 20)

struct appender {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;                   /* under mu */
    int fd;                     /* the worker closes it when it runs */
    off_t end;                  /* where the data ends (the worker's) */
    off_t allocated;            /* the file's size, zeros past end */
    int no_fallocate;
    int closing;                /* the userdata let go: finish the queue, exit */
    int busy;                   /* an append is queued or being written */
    int worker;                 /* the worker was started */
    char *data;                 /* the queued append; the worker's once taken */
    size_t len;
    int64_t id;
    struct wpo_loop_queue *queue;
    char path[1024];
};

struct append_result {
    int err;                    /* errno; 0 when the data is durable */
    size_t len;
    char msg[1200];
};

struct appender_ud {
    struct appender *a;
};

static atomic_uint appends_so_far;

/* WPO_FS_FAULT=STEP or STEP:N (only at the Nth append of this process). */
static int append_fault(const char *step, unsigned n)
{
    const char *f = getenv("WPO_FS_FAULT");
    size_t len = strlen(step);
    if (!f || strncmp(f, step, len) != 0)
        return 0;
    if (f[len] == '\0')
        return 1;
    return f[len] == ':' && strtoul(f + len + 1, NULL, 10) == n;
}

static void append_now(struct appender *a, const char *data, size_t len, struct append_result *r)
{
    int fd = a->fd;
    const char *path = a->path;
    unsigned n = atomic_fetch_add(&appends_so_far, 1) + 1;
    if (!a->no_fallocate && a->end + (off_t)len > a->allocated) {
        off_t want = a->end + (off_t)len + APPEND_STEP;
        int rc = posix_fallocate(fd, a->allocated, want - a->allocated);
        if (rc == 0)
            a->allocated = want;
        else if (rc == EOPNOTSUPP || rc == EINVAL)
            a->no_fallocate = 1;
        else {
            r->err = rc;
            snprintf(r->msg, sizeof r->msg, "cannot grow %s: %s", path, strerror(rc));
            return;
        }
    }
    if (disk_full()) {
        r->err = ENOSPC;
        snprintf(r->msg, sizeof r->msg, "cannot append to %s: %s", path, strerror(ENOSPC));
        return;
    }
    if (append_fault("journal-torn", n)) {
        if (pwrite(fd, data, len / 2, a->end) < 0) {
            /* dying anyway */
        }
        _exit(WPO_FS_FAULT_EXIT);
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = pwrite(fd, data + off, len - off, a->end + (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            r->err = errno;
            snprintf(r->msg, sizeof r->msg, "cannot append to %s: %s", path, strerror(errno));
            return;
        }
        off += (size_t)w;
    }
    a->end += (off_t)len;
    if (append_fault("journal-before-sync", n))
        _exit(WPO_FS_FAULT_EXIT);
    if (fdatasync(fd) != 0) {
        r->err = errno;
        snprintf(r->msg, sizeof r->msg, "cannot flush %s: %s", path, strerror(errno));
        return;
    }
    if (append_fault("journal-after-sync", n))
        _exit(WPO_FS_FAULT_EXIT);
    r->len = len;
}

static void appender_unref_locked(struct appender *a)
{
    int last = --a->refs == 0;
    pthread_mutex_unlock(&a->mu);
    if (last) {
        pthread_mutex_destroy(&a->mu);
        pthread_cond_destroy(&a->cv);
        free(a);
    }
}

/* Main thread, inside loop.wait. */
static int append_convert(lua_State *L, void *result)
{
    struct append_result *r = result;
    if (!r) {
        lua_pushliteral(L, "cannot append: out of memory");
        lua_pushliteral(L, "ENOMEM");
        return WPO_LOOP_FAIL;
    }
    if (r->err) {
        lua_pushstring(L, r->msg);
        lua_pushstring(L, errno_code(r->err));
        return WPO_LOOP_FAIL;
    }
    lua_pushinteger(L, (lua_Integer)r->len);
    return WPO_LOOP_OK;
}

static void append_free_result(void *result)
{
    free(result);
}

static const struct wpo_loop_op_type append_op = {
    .name = "append",
    .convert = append_convert,
    .free_result = append_free_result,
    .release = NULL,
};

/* The worker: never touches a lua_State. */
static void *appender_worker(void *arg)
{
    struct appender *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->data && !a->closing)
            pthread_cond_wait(&a->cv, &a->mu);
        if (!a->data)
            break;
        char *data = a->data;
        size_t len = a->len;
        int64_t id = a->id;
        struct wpo_loop_queue *queue = a->queue;
        a->data = NULL;
        a->queue = NULL;
        pthread_mutex_unlock(&a->mu);

        struct append_result *r = calloc(1, sizeof *r);
        if (r)
            append_now(a, data, len, r);
        free(data);
        pthread_mutex_lock(&a->mu);
        a->busy = 0;
        pthread_mutex_unlock(&a->mu);
        wpo_loop_post(queue, id, &append_op, r);     /* r is the loop's now */
        wpo_loop_queue_unref(queue);
        pthread_mutex_lock(&a->mu);
    }
    if (a->fd >= 0)
        close(a->fd);
    a->fd = -1;
    appender_unref_locked(a);
    return NULL;
}

static struct appender_ud *check_appender(lua_State *L)
{
    return luaL_checkudata(L, 1, APPENDER_MT);
}

/* Where the data of a file grown ahead with zeros ends: after its last
 * byte that is not zero. */
static off_t data_end(int fd, off_t size)
{
    char buf[65536];
    while (size > 0) {
        size_t n = size < (off_t)sizeof buf ? (size_t)size : sizeof buf;
        ssize_t got = pread(fd, buf, n, size - (off_t)n);
        if (got != (ssize_t)n)
            return size;            /* unreadable: append after all of it */
        for (size_t i = n; i > 0; i--)
            if (buf[i - 1] != 0)
                return size - (off_t)n + (off_t)i;
        size -= (off_t)n;
    }
    return 0;
}

/* fs.appender(path) -> appender | nil, err, code
 * Opens path, which must exist, for appending after what it holds: after
 * its last byte that is not zero (an appender grows the file ahead of its
 * data with zeros; see struct appender). */
static int l_fs_appender(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_argcheck(L, strlen(path) < sizeof(((struct appender *)0)->path), 1, "path too long");
    struct appender_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->a = NULL;
    luaL_setmetatable(L, APPENDER_MT);
    struct appender *a = calloc(1, sizeof *a);
    if (!a)
        return luaL_error(L, "out of memory");
    struct stat st;
    a->fd = open(path, O_RDWR | O_CLOEXEC);
    if (a->fd < 0 || fstat(a->fd, &st) != 0) {
        int e = errno;
        if (a->fd >= 0)
            close(a->fd);
        free(a);
        errno = e;
        return push_errno(L, "cannot open for appending", path);
    }
    a->allocated = st.st_size;
    a->end = data_end(a->fd, st.st_size);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    a->refs = 1;
    snprintf(a->path, sizeof a->path, "%s", path);
    u->a = a;
    return 1;
}

/* The appender of an append (argument 1) and its data (argument 2); raises
 * after close and while an append is pending. */
static struct appender *idle_appender(lua_State *L, const char *what, const char **data, size_t *len)
{
    struct appender_ud *u = check_appender(L);
    *data = luaL_checklstring(L, 2, len);
    struct appender *a = u->a;
    if (!a)
        luaL_error(L, "attempt to use a closed appender");
    pthread_mutex_lock(&a->mu);
    int busy = a->busy;
    pthread_mutex_unlock(&a->mu);
    if (busy)
        luaL_error(L, "appender:%s: the previous append to %s has not completed", what, a->path);
    return a;
}

/* appender:append(data) -> id
 * The completion (wpo.task.await(id)) is the number of bytes once they are
 * written and fdatasync'ed, or err, code. One append at a time: raises
 * while one is pending, or after close. Cancelling the id does not stop the
 * write. */
static int l_appender_append(lua_State *L)
{
    size_t len;
    const char *data;
    struct appender *a = idle_appender(L, "append", &data, &len);
    /* the queue first: making the loop may raise, and nothing is held yet */
    struct wpo_loop_queue *queue = wpo_loop_queue_ref(L);
    if (!queue)
        return luaL_error(L, "appender:append: the event loop is closed");
    char *copy = malloc(len ? len : 1);
    int64_t id = copy ? wpo_loop_op_start(L, &append_op, NULL) : -1;
    if (id < 0) {
        wpo_loop_queue_unref(queue);
        free(copy);
        return luaL_error(L, "appender:append: out of memory");
    }
    memcpy(copy, data, len);
    pthread_mutex_lock(&a->mu);
    if (!a->worker) {
        pthread_t thread;
        pthread_attr_t attr;
        int rc = pthread_attr_init(&attr);
        if (rc == 0) {
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            rc = pthread_create(&thread, &attr, appender_worker, a);
            pthread_attr_destroy(&attr);
        }
        if (rc != 0) {
            pthread_mutex_unlock(&a->mu);
            struct append_result *r = calloc(1, sizeof *r);
            if (r) {
                r->err = rc;
                snprintf(r->msg, sizeof r->msg, "cannot start a thread to append to %s: %s", a->path, strerror(rc));
            }
            free(copy);
            wpo_loop_post(queue, id, &append_op, r);
            wpo_loop_queue_unref(queue);
            lua_pushinteger(L, (lua_Integer)id);
            return 1;
        }
        a->worker = 1;
        a->refs++;
    }
    a->busy = 1;
    a->data = copy;
    a->len = len;
    a->id = id;
    a->queue = queue;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    lua_pushinteger(L, (lua_Integer)id);
    return 1;
}

/* appender:append_sync(data) -> bytes | nil, err, code
 * As append, on the calling thread (for a caller with nothing else to do
 * meanwhile: one thread handing over to another and back costs more than
 * the flush). Raises while an append is pending, or after close. */
static int l_appender_append_sync(lua_State *L)
{
    size_t len;
    const char *data;
    struct appender *a = idle_appender(L, "append_sync", &data, &len);
    /* no append is pending, so the worker (if any) is waiting: its fields are ours */
    struct append_result r;
    memset(&r, 0, sizeof r);
    append_now(a, data, len, &r);
    if (r.err)
        return push_error(L, r.msg, r.err);
    lua_pushinteger(L, (lua_Integer)r.len);
    return 1;
}

/* appender:close(): no more appends; one still pending completes first
 * (idempotent) */
static int l_appender_close(lua_State *L)
{
    struct appender_ud *u = check_appender(L);
    struct appender *a = u->a;
    u->a = NULL;
    if (!a)
        return 0;
    pthread_mutex_lock(&a->mu);
    a->closing = 1;
    if (!a->worker && a->fd >= 0) {
        close(a->fd);
        a->fd = -1;
    }
    pthread_cond_signal(&a->cv);
    appender_unref_locked(a);
    return 0;
}

static int l_appender_tostring(lua_State *L)
{
    struct appender_ud *u = check_appender(L);
    if (u->a)
        lua_pushfstring(L, "wpo.fs.appender (%s)", u->a->path);
    else
        lua_pushliteral(L, "wpo.fs.appender (closed)");
    return 1;
}

static const luaL_Reg appender_methods[] = {
    {"append", l_appender_append},
    {"append_sync", l_appender_append_sync},
    {"close", l_appender_close},
    {NULL, NULL}
};

static const luaL_Reg appender_meta[] = {
    {"__gc", l_appender_close},
    {"__close", l_appender_close},
    {"__tostring", l_appender_tostring},
    {"__index", NULL},
    {NULL, NULL}
};

static const luaL_Reg lock_methods[] = {
    {"close", l_lock_close},
    {NULL, NULL}
};

static const luaL_Reg lock_meta[] = {
    {"__gc", l_lock_close},
    {"__close", l_lock_close},
    {"__tostring", l_lock_tostring},
    {"__index", NULL},
    {NULL, NULL}
};

static const luaL_Reg fs_functions[] = {
    {"write_atomic", l_fs_write_atomic},
    {"read", l_fs_read},
    {"lock", l_fs_lock},
    {"mkdir_p", l_fs_mkdir_p},
    {"exists", l_fs_exists},
    {"remove", l_fs_remove},
    {"rename", l_fs_rename},
    {"list", l_fs_list},
    {"stat", l_fs_stat},
    {"lstat", l_fs_lstat},
    {"remove_stale_temps", l_fs_remove_stale_temps},
    {"writable", l_fs_writable},
    {"appender", l_fs_appender},
    {NULL, NULL}
};

int luaopen_wpo_core_fs(lua_State *L)
{
    luaL_newmetatable(L, LOCK_MT);
    luaL_setfuncs(L, lock_meta, 0);
    luaL_newlibtable(L, lock_methods);
    luaL_setfuncs(L, lock_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, APPENDER_MT);
    luaL_setfuncs(L, appender_meta, 0);
    luaL_newlibtable(L, appender_methods);
    luaL_setfuncs(L, appender_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, fs_functions);
    return 1;
}
