/*
 * gitread.c — what an offline plan needs from the work tree's repository,
 * read from .git directly, without libgit2: the commit HEAD names (its id,
 * shortest unique abbreviation, summary and time), the "origin" remote's
 * URL, and whether the files a stack loaded are as HEAD has them. Mapping
 * and starting libgit2 (and the 17 libraries it needs) costs more than the
 * whole plan it serves; this reads a few small files.
 *
 * It reads only the plain layout, and says so when a repository is outside
 * it: the caller then asks libgit2, which knows every case. A .git file
 * (a linked work tree, a submodule) is followed to its directories.
 * Outside: not owned by this user, another
 * repository format or extensions, alternates, config includes, url
 * rewriting (insteadOf), core.abbrev, core.bare or core.worktree, a
 * symbolic ref that is not HEAD -> refs/heads/..., a deltified commit, an
 * index other than version 2-4 or with a required extension (split or
 * sparse index). A file is "clean" only when the index proves it: its entry
 * (stage 0, no assume-valid, skip-worktree or intent-to-add flag) has the
 * file's mode, size, times, inode and owner, and the index's cached tree
 * for the root is HEAD's tree (nothing staged). An entry as new as the
 * index itself (racily clean: an edit in the same clock tick would not show
 * in the times) is decided as git decides it, by hashing the file, unless
 * attributes or line-ending settings could make git store other bytes.
 * Anything else is "not proven": libgit2 decides. Nothing here writes.
 *
 * Lua API (wpo.core.git):
 *   git.read_head(root) -> { workdir, path, commit, tree, refname, short,
 *       summary, time, remote } | nil, why
 *       root: the work tree (the directory holding .git), as realpath has
 *       it; refname "refs/heads/NAME" or "HEAD" (detached); remote the
 *       "origin" URL, password redacted, or false when there is none
 *   git.read_unproven(root, tree, paths) -> { path... } [, why]
 *       paths relative to root; those the index does not prove to be as
 *       the commit tree has them (none: all clean), and why the first is not
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <zlib.h>

#include "git.h"
#include "gitread.h"

#define MAX_SMALL (1u << 20)       /* HEAD, refs, config, a loose commit */
#define MAX_INDEX (256u << 20)
#define MAX_COMMIT (4u << 20)

struct why {
    char msg[256];
};

/* Says why the repository is outside what this file reads: -1. A message
 * longer than the buffer is cut. */
__attribute__((format(printf, 2, 3)))
static int outside(struct why *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof w->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* A path from a format; too long for out, it is "" (which opens nothing). */
__attribute__((format(printf, 3, 4)))
static void pathf(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap)
        out[0] = '\0';
}

/* The whole of a regular file, NUL-terminated; NULL when absent or larger
 * than max (errno ENOENT for absent). */
static char *slurp(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        close(fd);
        errno = EFBIG;
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0) {
            free(buf);
            buf = NULL;
            errno = EIO;
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (!buf)
        return NULL;
    buf[got] = '\0';
    if (len)
        *len = got;
    return buf;
}

static int is_hex40(const char *s)
{
    for (int i = 0; i < 40; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return 0;
    return 1;
}

static void hex_to_raw(const char *hex, unsigned char *raw)
{
    for (int i = 0; i < 20; i++) {
        unsigned hi = (unsigned)(isdigit((unsigned char)hex[2 * i]) ? hex[2 * i] - '0' : hex[2 * i] - 'a' + 10);
        unsigned lo = (unsigned)(isdigit((unsigned char)hex[2 * i + 1]) ? hex[2 * i + 1] - '0' : hex[2 * i + 1] - 'a' + 10);
        raw[i] = (unsigned char)(hi << 4 | lo);
    }
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ------------------------------------------------------------ config */

/* A case-insensitive search: does any config file mention word? */
static int mentions(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = text; *p; p++)
        if (strncasecmp(p, word, n) == 0)
            return 1;
    return 0;
}

/* A file under the user's git directory: $XDG_CONFIG_HOME/git/NAME, else
 * $HOME/.config/git/NAME ("" with neither). */
static void user_git_file(char *out, size_t cap, const char *name)
{
    const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
    out[0] = '\0';
    if (xdg && *xdg)
        pathf(out, cap, "%s/git/%s", xdg, name);
    else if (home && *home)
        pathf(out, cap, "%s/.config/git/%s", home, name);
}

/* The first of the config files libgit2 reads for a repository (its own,
 * ~/.gitconfig, the XDG one, /etc/gitconfig) that mentions one of words,
 * case-insensitively: outside, naming it and what the words are about. A
 * file that exists but cannot be read is outside too. */
static int configs_mention(const char *common, const char *const *words, const char *what, struct why *w)
{
    char files[4][PATH_MAX];
    const char *home = getenv("HOME");
    pathf(files[0], sizeof files[0], "%s/config", common);
    files[1][0] = '\0';
    if (home && *home)
        pathf(files[1], sizeof files[1], "%s/.gitconfig", home);
    user_git_file(files[2], sizeof files[2], "config");
    pathf(files[3], sizeof files[3], "/etc/gitconfig");
    for (int i = 0; i < 4; i++) {
        if (!files[i][0])
            continue;
        char *text = slurp(files[i], MAX_SMALL, NULL);
        if (!text) {
            if (errno == ENOENT || errno == ENOTDIR)
                continue;
            return outside(w, "cannot read %s", files[i]);
        }
        int hit = 0;
        for (int k = 0; words[k] && !hit; k++)
            hit = mentions(text, words[k]);
        free(text);
        if (hit)
            return outside(w, "%s sets %s", files[i], what);
    }
    return 0;
}

/* Settings that change what libgit2 would answer for HEAD and the remote. */
static const char *const LIBGIT2_ONLY[] = {"insteadof", "[include", "abbrev", "worktree", NULL};

/* The repository's own config: format version 0, no extensions, not bare;
 * remote "origin"'s url copied to url (empty when none). Lines are the plain
 * form git writes (`[section "sub"]`, `\tkey = value`); a value with quotes,
 * escapes or a continuation is outside. */
static int read_repo_config(const char *common, char *url, size_t urlcap, struct why *w)
{
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/config", common);
    char *text = slurp(path, MAX_SMALL, NULL);
    url[0] = '\0';
    if (!text)
        return outside(w, "cannot read %s", path);
    int rc = 0;
    char section[128] = "";
    for (char *line = text; rc == 0 && line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        while (*line == ' ' || *line == '\t')
            line++;
        size_t n = strlen(line);
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0 || line[0] == '#' || line[0] == ';') {
            /* blank or comment */
        } else if (line[0] == '[') {
            if (line[n - 1] != ']' || n - 2 >= sizeof section)
                rc = outside(w, "%s: a section header wpo does not read", path);
            else {
                memcpy(section, line + 1, n - 2);
                section[n - 2] = '\0';
                for (char *p = section; *p && *p != ' ' && *p != '"'; p++)
                    *p = (char)tolower((unsigned char)*p);
                if (strncmp(section, "extensions", 10) == 0)
                    rc = outside(w, "%s uses repository extensions", path);
            }
        } else {
            char *eq = strchr(line, '=');
            char *key = line, *val = eq ? eq + 1 : (char *)"true";
            if (eq) {
                *eq = '\0';
                for (char *e = eq - 1; e >= key && (*e == ' ' || *e == '\t'); e--)
                    *e = '\0';
                while (*val == ' ' || *val == '\t')
                    val++;
            }
            if (strpbrk(val, "\"\\;#"))
                rc = outside(w, "%s: a value with quotes, escapes or a comment", path);
            else if (strcmp(section, "core") == 0 && strcasecmp(key, "repositoryformatversion") == 0) {
                if (strcmp(val, "0") != 0)
                    rc = outside(w, "%s: another repository format version", path);
            } else if (strcmp(section, "core") == 0 && strcasecmp(key, "bare") == 0) {
                if (strcasecmp(val, "false") != 0)
                    rc = outside(w, "%s: a bare repository", path);
            } else if (strcmp(section, "remote \"origin\"") == 0 && strcasecmp(key, "url") == 0) {
                pathf(url, urlcap, "%s", val);   /* the last one wins, as in git */
            }
        }
        line = next;
    }
    free(text);
    return rc;
}

/* -------------------------------------------------------------- refs */

/* ref (like "refs/heads/main") -> its 40-digit id, loose first, then
 * packed-refs; 1 found, 0 not found, -1 outside. */
static int resolve_ref(const char *common, const char *ref, char *hex, struct why *w)
{
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/%s", common, ref);
    char *text = slurp(path, MAX_SMALL, NULL);
    if (text) {
        int ok = strlen(text) >= 40 && is_hex40(text) && (text[40] == '\n' || text[40] == '\0');
        if (ok)
            memcpy(hex, text, 41), hex[40] = '\0';
        free(text);
        return ok ? 1 : outside(w, "%s is not a plain commit id", ref);
    }
    if (errno != ENOENT && errno != ENOTDIR && errno != EISDIR)
        return outside(w, "cannot read %s", path);
    pathf(path, sizeof path, "%s/packed-refs", common);
    text = slurp(path, 64u << 20, NULL);
    if (!text)
        return errno == ENOENT ? 0 : outside(w, "cannot read %s", path);
    size_t rlen = strlen(ref);
    int found = 0;
    for (char *line = text; line && *line;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (line[0] != '#' && line[0] != '^' && strlen(line) == 41 + rlen && line[40] == ' '
            && is_hex40(line) && strcmp(line + 41, ref) == 0) {
            memcpy(hex, line, 40);
            hex[40] = '\0';
            found = 1;
            break;
        }
        line = next;
    }
    free(text);
    return found;
}

/* ----------------------------------------------------------- objects */

struct pack {
    char *idx;          /* the whole .idx file, mapped */
    size_t idx_len;
    uint32_t count;
    char path[PATH_MAX];   /* the .pack */
};

struct odb {
    char objects[PATH_MAX];
    struct pack *packs;
    int npacks;
};

static void odb_close(struct odb *db)
{
    for (int i = 0; i < db->npacks; i++)
        munmap(db->packs[i].idx, db->packs[i].idx_len);
    free(db->packs);
    db->packs = NULL;
    db->npacks = 0;
}

/* Every pack's index (version 2), read whole. */
static int odb_open(struct odb *db, const char *common, struct why *w)
{
    memset(db, 0, sizeof *db);
    pathf(db->objects, sizeof db->objects, "%s/objects", common);
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/info/alternates", db->objects);
    if (access(path, F_OK) == 0)
        return outside(w, "%s: objects borrowed from another repository", path);
    pathf(path, sizeof path, "%s/pack", db->objects);
    DIR *dir = opendir(path);
    if (!dir)
        return errno == ENOENT ? 0 : outside(w, "cannot list %s", path);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(dir))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".idx") != 0)
            continue;
        struct pack *grown = realloc(db->packs, sizeof *grown * (size_t)(db->npacks + 1));
        if (!grown) {
            rc = outside(w, "out of memory");
            break;
        }
        db->packs = grown;
        struct pack *p = &db->packs[db->npacks];
        char idxpath[PATH_MAX];
        pathf(idxpath, sizeof idxpath, "%s/%s", path, e->d_name);
        /* mapped, not read: a large repository's index is hundreds of MB, of
         * which a lookup touches a few pages */
        int fd = open(idxpath, O_RDONLY | O_CLOEXEC);
        struct stat st;
        void *map = MAP_FAILED;
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
            map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (fd >= 0)
            close(fd);
        if (map == MAP_FAILED) {
            rc = outside(w, "cannot read %s", idxpath);
            break;
        }
        p->idx = map;
        p->idx_len = (size_t)st.st_size;
        db->npacks++;
        const unsigned char *u = (const unsigned char *)p->idx;
        if (p->idx_len < 8 + 256 * 4 + 40 || memcmp(u, "\377tOc", 4) != 0 || be32(u + 4) != 2) {
            rc = outside(w, "%s is not a version 2 pack index", idxpath);
            break;
        }
        p->count = be32(u + 8 + 255 * 4);
        if (p->idx_len < 8 + 256 * 4 + (size_t)p->count * 28 + 40) {
            rc = outside(w, "%s is truncated", idxpath);
            break;
        }
        pathf(p->path, sizeof p->path, "%s/%.*s.pack", path, (int)(n - 4), e->d_name);
    }
    closedir(dir);
    return rc;
}

static const unsigned char *pack_ids(const struct pack *p)
{
    return (const unsigned char *)p->idx + 8 + 256 * 4;
}

/* The first position in p whose id is >= the prefix (nbytes whole bytes of
 * raw, plus a high nibble when odd). */
static uint32_t pack_lower(const struct pack *p, const unsigned char *raw)
{
    const unsigned char *u = (const unsigned char *)p->idx + 8;
    uint32_t lo = raw[0] ? be32(u + (raw[0] - 1) * 4) : 0, hi = be32(u + raw[0] * 4);
    const unsigned char *ids = pack_ids(p);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (memcmp(ids + (size_t)mid * 20, raw, 20) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Do the first n hex digits of a and b agree? */
static int same_prefix(const unsigned char *a, const unsigned char *b, int n)
{
    if (memcmp(a, b, (size_t)n / 2) != 0)
        return 0;
    return n % 2 == 0 || (a[n / 2] >> 4) == (b[n / 2] >> 4);
}

/* Is another object's id equal to raw in its first n hex digits? */
static int ambiguous(const struct odb *db, const unsigned char *raw, const char *hex, int n, struct why *w)
{
    for (int i = 0; i < db->npacks; i++) {
        const struct pack *p = &db->packs[i];
        const unsigned char *ids = pack_ids(p);
        uint32_t at = pack_lower(p, raw);
        /* the neighbours on both sides of where raw sorts */
        if (at > 0 && same_prefix(ids + (size_t)(at - 1) * 20, raw, n))
            return 1;
        for (uint32_t j = at; j < p->count && same_prefix(ids + (size_t)j * 20, raw, n); j++)
            if (memcmp(ids + (size_t)j * 20, raw, 20) != 0)
                return 1;
    }
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/%.2s", db->objects, hex);
    DIR *dir = opendir(path);
    if (!dir)
        return errno == ENOENT ? 0 : outside(w, "cannot list %s", path);
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(dir)))
        if (strlen(e->d_name) == 38 && strncmp(e->d_name, hex + 2, (size_t)n - 2) == 0
            && strcmp(e->d_name, hex + 2) != 0)
            found = 1;
    closedir(dir);
    return found;
}

/* zlib data from fd at offset into out (exactly size bytes expected). */
static int inflate_fd(int fd, off_t offset, unsigned char *out, size_t size)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK)
        return -1;
    unsigned char in[16384];
    z.next_out = out;
    z.avail_out = (uInt)size;
    int rc = Z_OK;
    while (rc == Z_OK) {
        if (z.avail_in == 0) {
            ssize_t n = pread(fd, in, sizeof in, offset);
            if (n <= 0)
                break;
            offset += n;
            z.next_in = in;
            z.avail_in = (uInt)n;
        }
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc == Z_BUF_ERROR && z.avail_out == 0)
            break;
    }
    int ok = rc == Z_STREAM_END && z.total_out == size;
    inflateEnd(&z);
    return ok ? 0 : -1;
}

/* A commit's body (after the "commit N\0" header), malloc'd and
 * NUL-terminated; -1 outside (a delta, another type, damage). */
static int read_commit(const struct odb *db, const char *hex, char **body, size_t *len, struct why *w)
{
    unsigned char raw[20];
    hex_to_raw(hex, raw);
    for (int i = 0; i < db->npacks; i++) {
        const struct pack *p = &db->packs[i];
        uint32_t at = pack_lower(p, raw);
        if (at >= p->count || memcmp(pack_ids(p) + (size_t)at * 20, raw, 20) != 0)
            continue;
        const unsigned char *offs = pack_ids(p) + (size_t)p->count * 24;
        uint64_t off = be32(offs + (size_t)at * 4);
        if (off & 0x80000000u) {
            size_t k = off & 0x7fffffffu;
            const unsigned char *big = offs + (size_t)p->count * 4 + k * 8;
            if ((const char *)big + 8 > p->idx + p->idx_len - 40)
                return outside(w, "%s: a damaged large offset", p->path);
            off = (uint64_t)be32(big) << 32 | be32(big + 4);
        }
        int fd = open(p->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return outside(w, "cannot open %s", p->path);
        unsigned char head[16];
        ssize_t n = pread(fd, head, sizeof head, (off_t)off);
        int type = n > 0 ? (head[0] >> 4) & 7 : 0;
        uint64_t size = n > 0 ? head[0] & 15u : 0;
        int used = 1, shift = 4;
        while (n > 0 && (head[used - 1] & 0x80) && used < n && shift < 57) {
            size |= (uint64_t)(head[used] & 0x7f) << shift;
            shift += 7;
            used++;
        }
        if (type != 1 || size > MAX_COMMIT || (head[used - 1] & 0x80)) {
            close(fd);
            return outside(w, "commit %s is stored as a delta (or damaged) in its pack", hex);
        }
        *body = malloc((size_t)size + 1);
        int rc = *body ? inflate_fd(fd, (off_t)off + used, (unsigned char *)*body, (size_t)size) : -1;
        close(fd);
        if (rc != 0) {
            free(*body);
            return outside(w, "commit %s: damaged pack data", hex);
        }
        (*body)[size] = '\0';
        *len = (size_t)size;
        return 0;
    }
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/%.2s/%s", db->objects, hex, hex + 2);
    size_t zlen;
    char *z = slurp(path, MAX_COMMIT, &zlen);
    if (!z)
        return outside(w, "commit %s is in no pack and not loose", hex);
    /* the header first, then the exact body */
    unsigned char headbuf[32];
    z_stream s;
    memset(&s, 0, sizeof s);
    int ok = inflateInit(&s) == Z_OK;
    s.next_in = (unsigned char *)z;
    s.avail_in = (uInt)zlen;
    s.next_out = headbuf;
    s.avail_out = sizeof headbuf;
    int rc = ok ? inflate(&s, Z_SYNC_FLUSH) : Z_DATA_ERROR;
    size_t got = sizeof headbuf - s.avail_out;
    const unsigned char *nul = memchr(headbuf, '\0', got);
    unsigned long size = 0;
    if ((rc == Z_OK || rc == Z_STREAM_END) && nul && got >= 8 && memcmp(headbuf, "commit ", 7) == 0)
        size = strtoul((const char *)headbuf + 7, NULL, 10);
    else
        ok = 0;
    if (ok && size <= MAX_COMMIT && (*body = malloc(size + 1))) {
        size_t already = got - (size_t)(nul + 1 - headbuf);
        if (already > size)
            ok = 0;
        else {
            memcpy(*body, nul + 1, already);
            s.next_out = (unsigned char *)*body + already;
            s.avail_out = (uInt)(size - already);
            rc = already == size && rc == Z_STREAM_END ? Z_STREAM_END : inflate(&s, Z_FINISH);
            ok = rc == Z_STREAM_END && s.total_out == got + (size - already) && s.avail_out == 0;
        }
        if (!ok)
            free(*body);
    } else {
        ok = 0;
    }
    inflateEnd(&s);
    free(z);
    if (!ok)
        return outside(w, "commit %s: a damaged loose object", hex);
    (*body)[size] = '\0';
    *len = size;
    return 0;
}

/* libgit2's git_commit_summary: the first paragraph of the message (leading
 * newlines skipped; a blank or all-space line ends it), each whitespace run
 * holding a newline made one space, whitespace at the end dropped. */
static void push_summary(lua_State *L, const char *msg)
{
    while (*msg == '\n')
        msg++;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    const char *space = NULL;
    int space_newline = 0;
    for (; *msg; msg++) {
        char c = *msg;
        if (c == '\n') {
            /* a line of nothing but spaces (or none) ends the paragraph */
            const char *next = msg + 1;
            while (*next && *next != '\n' && isspace((unsigned char)*next))
                next++;
            if (!*next || *next == '\n')
                break;
        }
        if (isspace((unsigned char)c)) {
            if (!space) {
                space = msg;
                space_newline = 0;
            }
            space_newline |= c == '\n';
        } else {
            if (space) {
                if (space_newline)
                    luaL_addchar(&b, ' ');
                else
                    luaL_addlstring(&b, space, (size_t)(msg - space));
                space = NULL;
            }
            luaL_addchar(&b, c);
        }
    }
    luaL_pushresult(&b);
}

/* Pushes summary and sets tree (hex) and time from a commit body; -1 when
 * it is not a commit git writes. */
static int parse_commit(lua_State *L, const char *body, char *tree, lua_Integer *time, struct why *w)
{
    const char *p = body;
    if (strncmp(p, "tree ", 5) != 0 || !is_hex40(p + 5) || p[45] != '\n')
        return outside(w, "a commit without a tree line");
    memcpy(tree, p + 5, 40);
    tree[40] = '\0';
    int have_time = 0;
    for (p = p + 46; *p && *p != '\n';) {
        const char *eol = strchr(p, '\n');
        if (!eol)
            return outside(w, "a commit whose headers do not end");
        if (strncmp(p, "committer ", 10) == 0) {
            /* "committer Name <email> 1700000000 +0000" */
            const char *gt = NULL;
            for (const char *q = p; q < eol; q++)
                if (*q == '>')
                    gt = q;
            char *end;
            long long t = gt ? strtoll(gt + 1, &end, 10) : 0;
            if (!gt || end == gt + 1)
                return outside(w, "a committer line without a time");
            *time = (lua_Integer)t;
            have_time = 1;
        }
        p = eol + 1;
    }
    if (!have_time || *p != '\n')
        return outside(w, "a commit without a committer or a message");
    push_summary(L, p + 1);
    return 0;
}

/* ------------------------------------------------------------- open */

/* Where a work tree's repository keeps what it shares with other work
 * trees (config, refs, objects) and what is its own (HEAD, the index). For
 * a .git directory both are it; for a .git file ("gitdir: PATH", as a
 * linked work tree or a submodule has) PATH is its own, and PATH/commondir
 * names the shared one. */
struct dirs {
    char git[PATH_MAX];
    char common[PATH_MAX];
};

/* path's target, relative to base when not absolute, as realpath has it */
static int resolve_under(const char *base, const char *path, char *out, struct why *w)
{
    char joined[PATH_MAX];
    if (path[0] == '/')
        pathf(joined, sizeof joined, "%s", path);
    else
        pathf(joined, sizeof joined, "%s/%s", base, path);
    if (!joined[0] || !realpath(joined, out))
        return outside(w, "%s does not exist", joined[0] ? joined : path);
    return 0;
}

/* A file holding one path ("gitdir: PATH" with prefix, or just PATH) ->
 * that path resolved under base. */
static int read_pointer(const char *file, const char *prefix, const char *base, char *out, struct why *w)
{
    char *text = slurp(file, MAX_SMALL, NULL);
    if (!text)
        return outside(w, "cannot read %s", file);
    size_t n = strlen(prefix);
    int rc;
    text[strcspn(text, "\r\n")] = '\0';
    if (strncmp(text, prefix, n) != 0 || !text[n])
        rc = outside(w, "%s is not a pointer to a git directory", file);
    else
        rc = resolve_under(base, text + n, out, w);
    free(text);
    return rc;
}

/* root -> its repository's directories, checked to be this user's. */
static int git_dir(const char *root, struct dirs *d, struct why *w)
{
    char dotgit[PATH_MAX], path[PATH_MAX];
    const char *top = strcmp(root, "/") == 0 ? "" : root;
    pathf(dotgit, sizeof dotgit, "%s/.git", top);
    struct stat st;
    if (lstat(dotgit, &st) != 0)
        return outside(w, "%s is missing", dotgit);
    if (S_ISDIR(st.st_mode)) {
        pathf(d->git, sizeof d->git, "%s", dotgit);
    } else if (S_ISREG(st.st_mode)) {
        if (read_pointer(dotgit, "gitdir: ", root, d->git, w))
            return -1;
    } else {
        return outside(w, "%s is neither a directory nor a gitdir file", dotgit);
    }
    pathf(path, sizeof path, "%s/commondir", d->git);
    if (access(path, F_OK) == 0) {
        if (read_pointer(path, "", d->git, d->common, w))
            return -1;
    } else {
        pathf(d->common, sizeof d->common, "%s", d->git);
    }
    const char *mine[] = {root, d->git, d->common, NULL};
    for (int i = 0; mine[i]; i++)
        if (stat(mine[i], &st) != 0 || st.st_uid != geteuid())
            return outside(w, "%s belongs to another user (libgit2 checks safe.directory)", mine[i]);
    const char *need[] = {"objects", "refs", NULL};
    for (int i = 0; need[i]; i++) {
        pathf(path, sizeof path, "%s/%s", d->common, need[i]);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            return outside(w, "%s is missing", path);
    }
    return 0;
}

static int push_why(lua_State *L, const struct why *w)
{
    lua_pushnil(L);
    lua_pushstring(L, w->msg);
    return 2;
}

static int l_read_head(lua_State *L)
{
    const char *root = luaL_checkstring(L, 1);
    struct why w = {{0}};
    char real[PATH_MAX], url[4096];
    struct dirs d;
    if (!realpath(root, real) || strcmp(real, root) != 0) {
        outside(&w, "%s is not its own real path", root);
        return push_why(L, &w);
    }
    if (git_dir(root, &d, &w)
        || configs_mention(d.common, LIBGIT2_ONLY, "include, insteadOf, abbrev or worktree", &w)
        || read_repo_config(d.common, url, sizeof url, &w))
        return push_why(L, &w);
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/HEAD", d.git);
    char *head = slurp(path, MAX_SMALL, NULL);
    if (!head) {
        outside(&w, "cannot read %s", path);
        return push_why(L, &w);
    }
    char hex[41], refname[1024];
    int rc = 0;
    size_t hn = strcspn(head, "\n");
    head[hn] = '\0';
    if (strncmp(head, "ref: refs/heads/", 16) == 0 && hn - 5 < sizeof refname && !strstr(head, "..")) {
        pathf(refname, sizeof refname, "%s", head + 5);
        rc = resolve_ref(d.common, refname, hex, &w);   /* branches are shared */
        if (rc == 0)
            rc = outside(&w, "HEAD names %s, which has no commit yet", refname);
    } else if (hn == 40 && is_hex40(head)) {
        memcpy(hex, head, 41);
        pathf(refname, sizeof refname, "HEAD");
    } else {
        rc = outside(&w, "%s is not a branch or a commit id", path);
    }
    free(head);
    if (rc < 0)
        return push_why(L, &w);
    struct odb db;
    char *body = NULL;
    size_t blen = 0;
    if (odb_open(&db, d.common, &w) || read_commit(&db, hex, &body, &blen, &w)) {
        odb_close(&db);
        return push_why(L, &w);
    }
    unsigned char raw[20];
    hex_to_raw(hex, raw);
    int n = 7;    /* libgit2's default abbreviation, lengthened while another object shares it */
    int amb;
    while ((amb = ambiguous(&db, raw, hex, n, &w)) == 1 && n < 40)
        n++;
    odb_close(&db);
    if (amb < 0) {
        free(body);
        return push_why(L, &w);
    }
    lua_createtable(L, 0, 9);
    char tree[41];
    lua_Integer time = 0;
    if (parse_commit(L, body, tree, &time, &w)) {
        free(body);
        return push_why(L, &w);
    }
    free(body);
    lua_setfield(L, -2, "summary");
    lua_pushinteger(L, time);
    lua_setfield(L, -2, "time");
    const struct { const char *key, *value; size_t len; } fields[] = {
        {"tree", tree, 40}, {"commit", hex, 40}, {"short", hex, (size_t)n},
        {"refname", refname, strlen(refname)}, {"workdir", root, strlen(root)}, {"path", d.git, strlen(d.git)},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        lua_pushlstring(L, fields[i].value, fields[i].len);
        lua_setfield(L, -2, fields[i].key);
    }
    if (url[0]) {
        size_t len = strlen(url);
        char *out = malloc(len + 4);
        if (!out)
            return luaL_error(L, "out of memory");
        wpo_git_redact_url(url, out, len + 4);
        lua_pushstring(L, out);
        free(out);
    } else {
        lua_pushboolean(L, 0);
    }
    lua_setfield(L, -2, "remote");
    return 1;
}

/* ------------------------------------------------------------- index */

struct entry {
    const unsigned char *stat;   /* the 62-byte fixed part */
    char *path;                  /* owned when the index is version 4 */
    size_t len;
    unsigned flags, xflags;
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->path, y->path, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

struct index {
    char *data;
    size_t len;
    struct entry *entries;
    uint32_t count;
    int version;
    const unsigned char *root_tree;   /* the cached tree of "" (20 bytes) */
    struct stat st;
};

static void index_free(struct index *ix)
{
    if (ix->version == 4)
        for (uint32_t i = 0; i < ix->count; i++)
            free(ix->entries[i].path);
    free(ix->entries);
    free(ix->data);
}

static int read_index(struct index *ix, const char *gitdir, struct why *w)
{
    memset(ix, 0, sizeof *ix);
    char path[PATH_MAX];
    pathf(path, sizeof path, "%s/index", gitdir);
    if (stat(path, &ix->st) != 0)
        return outside(w, "%s is missing", path);
    ix->data = slurp(path, MAX_INDEX, &ix->len);
    if (!ix->data)
        return outside(w, "cannot read %s", path);
    const unsigned char *u = (const unsigned char *)ix->data, *end = u + ix->len - 20;
    if (ix->len < 32 || memcmp(u, "DIRC", 4) != 0 || be32(u + 4) < 2 || be32(u + 4) > 4)
        return outside(w, "%s: not an index of version 2 to 4", path);
    ix->version = (int)be32(u + 4);
    uint32_t count = be32(u + 8);
    if (count > ix->len / 62)
        return outside(w, "%s: damaged", path);
    ix->entries = calloc(count ? count : 1, sizeof *ix->entries);
    if (!ix->entries)
        return outside(w, "out of memory");
    const unsigned char *p = u + 12;
    const char *prev = "";
    size_t prevlen = 0;
    for (uint32_t i = 0; i < count; i++) {
        struct entry *e = &ix->entries[i];
        if (end - p < 62 + 2)
            return outside(w, "%s: damaged", path);
        e->stat = p;
        e->flags = (unsigned)p[60] << 8 | p[61];
        const unsigned char *name = p + 62;
        if (e->flags & 0x4000) {
            if (ix->version < 3)
                return outside(w, "%s: damaged", path);
            e->xflags = (unsigned)p[62] << 8 | p[63];
            name += 2;
        }
        if (ix->version == 4) {
            size_t strip = 0;
            int k = 0;
            do {   /* git's offset varint */
                if (name >= end || k++ > 8)
                    return outside(w, "%s: damaged", path);
                strip = k == 1 ? (*name & 0x7f) : ((strip + 1) << 7) | (*name & 0x7f);
            } while (*name++ & 0x80);
            const unsigned char *nul = memchr(name, '\0', (size_t)(end - name));
            if (!nul || strip > prevlen)
                return outside(w, "%s: damaged", path);
            size_t keep = prevlen - strip, add = (size_t)(nul - name);
            e->path = malloc(keep + add + 1);
            if (!e->path)
                return outside(w, "out of memory");
            ix->count = i + 1;   /* so index_free frees it */
            memcpy(e->path, prev, keep);
            memcpy(e->path + keep, name, add);
            e->path[keep + add] = '\0';
            e->len = keep + add;
            prev = e->path;
            prevlen = e->len;
            p = nul + 1;
        } else {
            const unsigned char *nul = memchr(name, '\0', (size_t)(end - name));
            if (!nul)
                return outside(w, "%s: damaged", path);
            e->path = (char *)name;
            e->len = (size_t)(nul - name);
            size_t fixed = (size_t)(name - p) + e->len;
            p += (fixed + 8) & ~(size_t)7;    /* 1 to 8 NULs pad it to 8 bytes */
            if (p > end)
                return outside(w, "%s: damaged", path);
        }
    }
    ix->count = count;
    /* extensions: a lower-case first letter is one a reader must know */
    while (end - p >= 8) {
        uint32_t size = be32(p + 4);
        if (size > (size_t)(end - p) - 8)
            return outside(w, "%s: damaged", path);
        if (p[0] >= 'a' && p[0] <= 'z')
            return outside(w, "%s needs an extension wpo does not read (a split or sparse index)", path);
        if (memcmp(p, "TREE", 4) == 0 && size >= 2 && p[8] == '\0') {
            /* the root first: "" NUL entry_count SP subtrees LF id */
            const unsigned char *q = p + 9, *lf = memchr(q, '\n', size - 1);
            if (lf && q[0] != '-' && (size_t)(lf + 1 + 20 - (p + 8)) <= size)
                ix->root_tree = lf + 1;
        }
        p += 8 + size;
    }
    return 0;
}

enum { CHANGED, CLEAN, RACY };

/* Does the entry match the file as lstat has it? CLEAN when it does and was
 * written before the index; RACY when it does but in the index's own time
 * (the file could have changed since without its times showing it), or
 * git smudged the entry (size 0) for that reason: the content decides. */
static int stat_clean(const struct entry *e, const struct stat *st, const struct stat *ixst)
{
    const unsigned char *s = e->stat;
    uint32_t ctime_s = be32(s), ctime_ns = be32(s + 4), mtime_s = be32(s + 8), mtime_ns = be32(s + 12);
    uint32_t ino = be32(s + 20), mode = be32(s + 24), uid = be32(s + 28), gid = be32(s + 32),
             size = be32(s + 36);
    uint32_t want_mode = (st->st_mode & S_IXUSR) ? 0100755 : 0100644;
    if (!S_ISREG(st->st_mode) || mode != want_mode)
        return CHANGED;
    if (mtime_s != (uint32_t)st->st_mtim.tv_sec || mtime_ns != (uint32_t)st->st_mtim.tv_nsec
        || ctime_s != (uint32_t)st->st_ctim.tv_sec || ctime_ns != (uint32_t)st->st_ctim.tv_nsec)
        return CHANGED;
    if (ino != (uint32_t)st->st_ino || uid != (uint32_t)st->st_uid || gid != (uint32_t)st->st_gid)
        return CHANGED;
    if (size == 0)
        return RACY;
    if (size != (uint32_t)st->st_size)
        return CHANGED;
    if ((int64_t)mtime_s > (int64_t)ixst->st_mtim.tv_sec
        || ((int64_t)mtime_s == (int64_t)ixst->st_mtim.tv_sec && (long)mtime_ns >= ixst->st_mtim.tv_nsec))
        return RACY;
    return CLEAN;
}

/* ---------------------------------------------------------------- SHA-1
 * FIPS 180-4, for the one id git gives a file's content ("blob N\0" then
 * the bytes): what decides a racily clean entry. */

struct sha1 {
    uint32_t h[5];
    uint64_t len;
    unsigned char block[64];
    size_t used;
};

static uint32_t rol(uint32_t x, int n) { return x << n | x >> (32 - n); }

static void sha1_block(struct sha1 *c, const unsigned char *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = be32(p + 4 * i);
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = c->h[0], b = c->h[1], d = c->h[3], e = c->h[4], cc = c->h[2];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) { f = (b & cc) | (~b & d); k = 0x5a827999; }
        else if (i < 40) { f = b ^ cc ^ d; k = 0x6ed9eba1; }
        else if (i < 60) { f = (b & cc) | (b & d) | (cc & d); k = 0x8f1bbcdc; }
        else { f = b ^ cc ^ d; k = 0xca62c1d6; }
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = cc;
        cc = rol(b, 30);
        b = a;
        a = t;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
}

static void sha1_init(struct sha1 *c)
{
    static const uint32_t iv[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    memcpy(c->h, iv, sizeof iv);
    c->len = 0;
    c->used = 0;
}

static void sha1_update(struct sha1 *c, const void *data, size_t n)
{
    const unsigned char *p = data;
    c->len += n;
    while (n > 0) {
        size_t take = 64 - c->used < n ? 64 - c->used : n;
        memcpy(c->block + c->used, p, take);
        c->used += take;
        p += take;
        n -= take;
        if (c->used == 64) {
            sha1_block(c, c->block);
            c->used = 0;
        }
    }
}

static void sha1_final(struct sha1 *c, unsigned char out[20])
{
    uint64_t bits = c->len * 8;
    unsigned char pad = 0x80, zero = 0, be[8];
    sha1_update(c, &pad, 1);
    while (c->used != 56)
        sha1_update(c, &zero, 1);
    for (int i = 0; i < 8; i++)
        be[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha1_update(c, be, 8);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (unsigned char)(c->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)c->h[i];
    }
}

/* Could git store this file as other bytes than it has (line endings, a
 * filter)? Only attributes or core.autocrlf / core.eol make it do that:
 * any .gitattributes on the file's way down from the root, the repository's
 * info/attributes, the user's attributes file, or a config that mentions
 * them, and the content cannot decide here. */
static int may_filter(const char *root, const char *rel, const char *common, struct why *w)
{
    char path[PATH_MAX];
    const char *slash = rel;
    for (;;) {
        pathf(path, sizeof path, "%s/%.*s%s.gitattributes", strcmp(root, "/") == 0 ? "" : root,
              (int)(slash - rel), rel, slash == rel ? "" : "/");
        if (path[0] == '\0' || access(path, F_OK) == 0)
            return outside(w, "%s: attributes may change how git stores it", rel);
        slash = strchr(slash == rel ? rel : slash + 1, '/');
        if (!slash)
            break;
    }
    char user[PATH_MAX];
    user_git_file(user, sizeof user, "attributes");
    pathf(path, sizeof path, "%s/info/attributes", common);
    if (access(path, F_OK) == 0 || (user[0] && access(user, F_OK) == 0))
        return outside(w, "%s: attributes may change how git stores it", rel);
    static const char *const converting[] = {"autocrlf", "eol", "attributesfile", NULL};
    return configs_mention(common, converting, "line endings or an attributes file", w);
}

/* Is the file's content the blob the entry names? 1 yes, 0 no, -1 outside. */
static int same_blob(const struct entry *e, const char *abs, const struct stat *st, struct why *w)
{
    if ((uint64_t)st->st_size > (64u << 20))
        return outside(w, "%s: too large to hash here", abs);
    size_t len;
    char *data = slurp(abs, 64u << 20, &len);
    if (!data)
        return outside(w, "cannot read %s", abs);
    char head[32];
    int hn = snprintf(head, sizeof head, "blob %zu", len);
    struct sha1 c;
    unsigned char id[20];
    sha1_init(&c);
    sha1_update(&c, head, (size_t)hn + 1);   /* the NUL too */
    sha1_update(&c, data, len);
    sha1_final(&c, id);
    free(data);
    return memcmp(id, e->stat + 40, 20) == 0;
}

/* Why the index does not prove rel clean, or 0 when it does. */
static int unproven(const struct index *ix, const char *root, const char *common, const char *rel, size_t len,
                    struct why *w)
{
    struct entry key = {.path = (char *)rel, .len = len};
    /* entries are sorted by path, then stage: the first of a path */
    size_t lo = 0, hi = ix->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (entry_cmp(&ix->entries[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo >= ix->count || entry_cmp(&ix->entries[lo], &key) != 0)
        return outside(w, "%s is not in the index", rel);
    const struct entry *hit = &ix->entries[lo];
    if ((hit->flags & 0xb000) || (hit->xflags & 0x6000))
        return outside(w, "%s: its index entry is staged, assumed valid, skipped or intent-to-add", rel);
    char abs[PATH_MAX];
    pathf(abs, sizeof abs, "%s/%s", strcmp(root, "/") == 0 ? "" : root, rel);
    struct stat st;
    if (lstat(abs, &st) != 0)
        return outside(w, "%s is gone", rel);
    int how = stat_clean(hit, &st, &ix->st);
    if (how == RACY) {   /* as git does: the content decides */
        if (may_filter(root, rel, common, w))
            return -1;
        int same = same_blob(hit, abs, &st, w);
        if (same < 0)
            return -1;
        how = same ? CLEAN : CHANGED;
    }
    return how == CLEAN ? 0 : outside(w, "%s changed since the index was written", rel);
}

static int l_read_unproven(lua_State *L)
{
    const char *root = luaL_checkstring(L, 1);
    const char *tree = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    if (strlen(tree) != 40 || !is_hex40(tree))
        return luaL_argerror(L, 2, "a 40-digit tree id");
    lua_Integer n = luaL_len(L, 3);
    for (lua_Integer i = 1; i <= n; i++) {   /* checked before anything is held */
        size_t len;
        const char *rel = (lua_geti(L, 3, i), lua_tolstring(L, -1, &len));
        if (!rel || len == 0 || rel[0] == '/')
            return luaL_argerror(L, 3, "paths relative to the root");
        lua_pop(L, 1);
    }
    struct why w = {{0}}, first = {{0}};
    struct dirs d;
    struct index ix;
    memset(&ix, 0, sizeof ix);
    /* a reason that holds for every path: none is proven */
    int all = git_dir(root, &d, &w) || read_index(&ix, d.git, &w);   /* each work tree has its own index */
    unsigned char raw[20];
    hex_to_raw(tree, raw);
    if (!all && (!ix.root_tree || memcmp(ix.root_tree, raw, 20) != 0))
        all = outside(&w, "the index is not HEAD's tree (something is staged)");
    if (all)
        first = w;
    lua_createtable(L, all ? (int)n : 0, 0);
    int out = 0;
    for (lua_Integer i = 1; i <= n; i++) {
        size_t len;
        const char *rel = (lua_geti(L, 3, i), lua_tolstring(L, -1, &len));
        if (all || unproven(&ix, root, d.common, rel, len, &w)) {
            if (!first.msg[0])
                first = w;
            lua_rawseti(L, -2, ++out);    /* rel, popped */
        } else {
            lua_pop(L, 1);
        }
    }
    if (ix.data || ix.entries)
        index_free(&ix);
    if (!out)
        return 1;
    lua_pushstring(L, first.msg);
    return 2;
}

static const luaL_Reg functions[] = {
    {"read_head", l_read_head},
    {"read_unproven", l_read_unproven},
    {NULL, NULL}
};

void wpo_gitread_register(lua_State *L)
{
    luaL_setfuncs(L, functions, 0);
}
