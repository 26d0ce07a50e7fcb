/*
 * zlib.c — wpo.core.zlib: gzip with a reproducible header, bounded gunzip,
 * and a streaming gzip compressor for image layers, over zlib. The gzip
 * header is always MTIME 0, no file name or comment, OS 255 (unknown), so
 * the same input and level give the same bytes on every machine with the
 * same zlib. It owns no file and no digest: callers hash what they feed.
 *
 * Lua API (wpo.core.zlib):
 *   gzip(data [, level]) -> gz             level 0..9, default 6
 *   gunzip(gz [, max]) -> data | nil, err, code
 *       one gzip member; code "corrupt" (bad header, data, CRC or length,
 *       truncated, or bytes after the member) or "toolarge" (the output
 *       would pass max bytes; default 1 GiB)
 *   deflater([level [, keep]]) -> d        a gzip stream, written piecewise
 *   d:write(data) -> chunk                 compressed bytes ready so far ("" often;
 *                                          always "" with keep)
 *   d:finish() -> chunk                    the rest, CRC-32 and length included;
 *                                          with keep, the whole gzip stream: the
 *                                          output grew in one C buffer, so the
 *                                          caller never holds it twice in pieces
 *   d:sizes() -> bytes in, bytes out so far
 *   d:close()                              idempotent; also __gc and __close
 * Misuse (a bad level, writing after finish or close) raises; an internal
 * zlib failure raises too (it is not an environmental failure).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <lauxlib.h>

#include "guard.h"

#define WPO_ZLIB_DEFLATER "wpo.zlib.deflater"
#define DEFAULT_LEVEL 6
#define DEFAULT_MAX ((lua_Integer)1 << 30)
#define CHUNK 65536

/* A z_stream on the C heap, with whether deflateInit/inflateInit took. */
struct zstream {
    z_stream z;
    int inflating;
    int ready;
};

static void zstream_free(void *p)
{
    struct zstream *s = p;
    if (s->ready)
        (void)(s->inflating ? inflateEnd(&s->z) : deflateEnd(&s->z));
    free(s);
}

/* The fixed header fields; zlib fills XFL from the level. */
static gz_header fixed_header(void)
{
    gz_header h;
    memset(&h, 0, sizeof h);
    h.time = 0;
    h.os = 255;
    return h;
}

static int check_level(lua_State *L, int arg)
{
    lua_Integer level = luaL_optinteger(L, arg, DEFAULT_LEVEL);
    luaL_argcheck(L, level >= 0 && level <= 9, arg, "level must be 0..9");
    return (int)level;
}

/* deflateInit2 for gzip with the fixed header; 0 or a zlib code. The header
 * struct must outlive the first deflate() call that writes it: it is the
 * stream's own. */
struct deflate_stream {
    struct zstream s;
    gz_header header;
};

static int start_deflate(struct deflate_stream *d, int level)
{
    memset(d, 0, sizeof *d);
    int rc = deflateInit2(&d->s.z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK)
        return rc;
    d->s.ready = 1;
    d->header = fixed_header();
    return deflateSetHeader(&d->s.z, &d->header);
}

/* Where deflate writes: room(sink, &out) -> bytes free at out (0: out of
 * memory); then wrote(sink, n) for the n of them deflate filled. */
struct sink {
    size_t (*room)(struct sink *sink, char **out);
    void (*wrote)(struct sink *sink, size_t n);
};

/* Run deflate over in with flush, writing to sink; Z_OK / Z_STREAM_END,
 * Z_MEM_ERROR, or the zlib error. */
static int deflate_run(z_stream *z, const char *in, size_t len, int flush, struct sink *sink)
{
    int rc = Z_OK;
    z->next_in = (Bytef *)in;
    size_t left = len;
    do {
        uInt take = left > (1u << 30) ? (1u << 30) : (uInt)left;
        z->avail_in = take;
        left -= take;
        int f = left ? Z_NO_FLUSH : flush;
        do {
            char *out;
            size_t room = sink->room(sink, &out);
            if (!room)
                return Z_MEM_ERROR;
            uInt avail = room > (1u << 30) ? (1u << 30) : (uInt)room;
            z->next_out = (Bytef *)out;
            z->avail_out = avail;
            rc = deflate(z, f);
            if (rc == Z_STREAM_ERROR)
                return rc;
            sink->wrote(sink, avail - z->avail_out);
        } while (z->avail_out == 0 || (f == Z_FINISH && rc != Z_STREAM_END));
    } while (left);
    return rc == Z_BUF_ERROR ? Z_OK : rc;
}

/* A sink into a luaL_Buffer: may raise (out of memory), so the stream is
 * then owned by a guard or a userdata. */
struct buffer_sink {
    struct sink sink;
    luaL_Buffer *b;
};

static size_t buffer_room(struct sink *sink, char **out)
{
    *out = luaL_prepbuffsize(((struct buffer_sink *)sink)->b, CHUNK);
    return CHUNK;
}

static void buffer_wrote(struct sink *sink, size_t n)
{
    luaL_addsize(((struct buffer_sink *)sink)->b, n);
}

static int deflate_into(luaL_Buffer *b, z_stream *z, const char *in, size_t len, int flush)
{
    struct buffer_sink bs = {{buffer_room, buffer_wrote}, b};
    return deflate_run(z, in, len, flush, &bs.sink);
}

/* zlib.gzip(data [, level]) -> gz */
static int l_zlib_gzip(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    int level = check_level(L, 2);
    struct wpo_guard *g = wpo_guard_new(L);   /* the stream, while the buffer grows */
    struct deflate_stream *d = malloc(sizeof *d);
    if (!d)
        return luaL_error(L, "zlib.gzip: out of memory");
    d->s.ready = 0;
    wpo_guard_hold(g, d, zstream_free);
    if (start_deflate(d, level) != Z_OK)
        return luaL_error(L, "zlib.gzip: deflateInit failed");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int rc = deflate_into(&b, &d->s.z, data, len, Z_FINISH);
    if (rc != Z_STREAM_END)
        return luaL_error(L, "zlib.gzip: deflate failed (%d)", rc);
    luaL_pushresult(&b);
    wpo_guard_free(g, d);
    return 1;
}

/* zlib.gunzip(gz [, max]) -> data | nil, err, code */
static int l_zlib_gunzip(lua_State *L)
{
    size_t len;
    const char *gz = luaL_checklstring(L, 1, &len);
    lua_Integer max = luaL_optinteger(L, 2, DEFAULT_MAX);
    luaL_argcheck(L, max >= 0, 2, "max must be >= 0");
    struct wpo_guard *g = wpo_guard_new(L);   /* the stream, while the buffer grows */
    struct zstream *s = calloc(1, sizeof *s);
    if (!s)
        return luaL_error(L, "zlib.gunzip: out of memory");
    s->inflating = 1;
    wpo_guard_hold(g, s, zstream_free);
    int rc = inflateInit2(&s->z, 15 + 16);   /* gzip only */
    if (rc != Z_OK)
        return luaL_error(L, "zlib.gunzip: inflateInit failed (%d)", rc);
    s->ready = 1;

    const char *err = NULL, *code = "corrupt";
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t total = 0, left = len;
    s->z.next_in = (Bytef *)gz;
    rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (s->z.avail_in == 0) {
            if (left == 0) {
                err = "truncated";
                break;
            }
            uInt take = left > (1u << 30) ? (1u << 30) : (uInt)left;
            s->z.avail_in = take;
            left -= take;
        }
        char *out = luaL_prepbuffsize(&b, CHUNK);
        s->z.next_out = (Bytef *)out;
        s->z.avail_out = CHUNK;
        rc = inflate(&s->z, Z_NO_FLUSH);
        size_t got = CHUNK - s->z.avail_out;
        if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_STREAM_ERROR) {
            err = s->z.msg ? s->z.msg : "invalid data";
            break;
        }
        if (rc == Z_MEM_ERROR)
            return luaL_error(L, "zlib.gunzip: out of memory");
        if (rc == Z_BUF_ERROR && got == 0 && s->z.avail_in == 0 && left == 0) {
            err = "truncated";
            break;
        }
        if (got > (size_t)max - total) {
            err = "toolarge";
            code = "toolarge";
            break;
        }
        total += got;
        luaL_addsize(&b, got);
    }
    if (!err && (s->z.avail_in != 0 || left != 0))
        err = "data after the end of the gzip member";
    wpo_guard_free(g, s);
    if (err) {
        luaL_pushfail(L);
        if (strcmp(code, "toolarge") == 0)
            lua_pushfstring(L, "gunzip: output larger than %I bytes", max);
        else
            lua_pushfstring(L, "gunzip: corrupt gzip data: %s", err);
        lua_pushstring(L, code);
        return 3;
    }
    luaL_pushresult(&b);
    return 1;
}

/* ---- the streaming compressor ----------------------------------------- */

struct wpo_deflater {
    struct deflate_stream *d;   /* NULL once closed */
    int finished;
    int busy;                   /* set during a call: still set when it raised */
    lua_Integer in, out;
    int keep;                   /* the output is kept here until finish */
    char *kept;                 /* malloc'd; grown with realloc (mremap: no copy) */
    size_t kept_len, kept_cap;
};

/* A sink into the deflater's kept buffer: never raises. */
struct keep_sink {
    struct sink sink;
    struct wpo_deflater *w;
};

static size_t keep_room(struct sink *sink, char **out)
{
    struct wpo_deflater *w = ((struct keep_sink *)sink)->w;
    if (w->kept_cap - w->kept_len < CHUNK) {
        size_t cap = w->kept_cap ? w->kept_cap * 2 : 4 * CHUNK;
        char *p = realloc(w->kept, cap);
        if (!p)
            return 0;
        w->kept = p;
        w->kept_cap = cap;
    }
    *out = w->kept + w->kept_len;
    return w->kept_cap - w->kept_len;
}

static void keep_wrote(struct sink *sink, size_t n)
{
    ((struct keep_sink *)sink)->w->kept_len += n;
}

/* deflate into the kept buffer; Z_OK / Z_STREAM_END, Z_MEM_ERROR, or the
 * zlib error. Never raises. */
static int deflate_keep(struct wpo_deflater *w, const char *in, size_t len, int flush)
{
    struct keep_sink ks = {{keep_room, keep_wrote}, w};
    return deflate_run(&w->d->s.z, in, len, flush, &ks.sink);
}

static struct wpo_deflater *check_deflater(lua_State *L)
{
    struct wpo_deflater *w = luaL_checkudata(L, 1, WPO_ZLIB_DEFLATER);
    if (!w->d)
        luaL_error(L, "zlib deflater: used after close");
    if (w->busy)
        luaL_error(L, "zlib deflater: broken by an earlier error (out of memory)");
    if (w->finished)
        luaL_error(L, "zlib deflater: used after finish");
    return w;
}

/* zlib.deflater([level [, keep]]) -> d */
static int l_zlib_deflater(lua_State *L)
{
    int level = check_level(L, 1);
    int keep = lua_toboolean(L, 2);
    struct wpo_deflater *w = lua_newuserdatauv(L, sizeof *w, 0);
    memset(w, 0, sizeof *w);
    w->keep = keep;
    luaL_setmetatable(L, WPO_ZLIB_DEFLATER);
    struct deflate_stream *d = malloc(sizeof *d);
    if (!d)
        return luaL_error(L, "zlib.deflater: out of memory");
    d->s.ready = 0;
    w->d = d;   /* owned by the userdata from here */
    if (start_deflate(d, level) != Z_OK)
        return luaL_error(L, "zlib.deflater: deflateInit failed");
    return 1;
}

static int deflater_run(lua_State *L, int flush)
{
    struct wpo_deflater *w = check_deflater(L);
    size_t len = 0;
    const char *data = flush == Z_FINISH ? "" : luaL_checklstring(L, 2, &len);
    if (w->keep) {
        size_t before = w->kept_len;
        w->busy = 1;
        int rc = deflate_keep(w, data, len, flush);
        if (rc == Z_MEM_ERROR)
            return luaL_error(L, "zlib deflater: out of memory");
        if (rc != (flush == Z_FINISH ? Z_STREAM_END : Z_OK))
            return luaL_error(L, "zlib deflater: deflate failed (%d)", rc);
        w->in += (lua_Integer)len;
        w->out += (lua_Integer)(w->kept_len - before);
        if (flush != Z_FINISH) {
            w->busy = 0;
            lua_pushliteral(L, "");
            return 1;
        }
        lua_pushlstring(L, w->kept ? w->kept : "", w->kept_len);   /* may raise: kept stays the userdata's */
        free(w->kept);
        w->kept = NULL;
        w->kept_len = w->kept_cap = 0;
        w->busy = 0;
        w->finished = 1;
        return 1;
    }
    luaL_Buffer b;
    w->busy = 1;
    luaL_buffinit(L, &b);
    int rc = deflate_into(&b, &w->d->s.z, data, len, flush);
    if (rc != (flush == Z_FINISH ? Z_STREAM_END : Z_OK))
        return luaL_error(L, "zlib deflater: deflate failed (%d)", rc);
    w->busy = 0;
    w->in += (lua_Integer)len;
    luaL_pushresult(&b);
    w->out += (lua_Integer)lua_rawlen(L, -1);
    if (flush == Z_FINISH)
        w->finished = 1;
    return 1;
}

/* d:write(data) -> chunk */
static int l_deflater_write(lua_State *L)
{
    return deflater_run(L, Z_NO_FLUSH);
}

/* d:finish() -> chunk (the last one: trailer included) */
static int l_deflater_finish(lua_State *L)
{
    return deflater_run(L, Z_FINISH);
}

/* d:sizes() -> bytes in, bytes out so far */
static int l_deflater_sizes(lua_State *L)
{
    struct wpo_deflater *w = luaL_checkudata(L, 1, WPO_ZLIB_DEFLATER);
    lua_pushinteger(L, w->in);
    lua_pushinteger(L, w->out);
    return 2;
}

/* d:close() (idempotent) */
static int l_deflater_close(lua_State *L)
{
    struct wpo_deflater *w = luaL_checkudata(L, 1, WPO_ZLIB_DEFLATER);
    if (w->d) {
        zstream_free(w->d);
        w->d = NULL;
    }
    free(w->kept);
    w->kept = NULL;
    w->kept_len = w->kept_cap = 0;
    return 0;
}

static int l_deflater_tostring(lua_State *L)
{
    struct wpo_deflater *w = luaL_checkudata(L, 1, WPO_ZLIB_DEFLATER);
    lua_pushfstring(L, "zlib deflater (%s, %I bytes in)",
                    !w->d ? "closed" : w->finished ? "finished" : "open", w->in);
    return 1;
}

static const luaL_Reg deflater_methods[] = {
    {"write", l_deflater_write},
    {"finish", l_deflater_finish},
    {"sizes", l_deflater_sizes},
    {"close", l_deflater_close},
    {NULL, NULL}
};

static const luaL_Reg deflater_meta[] = {
    {"__gc", l_deflater_close},
    {"__close", l_deflater_close},
    {"__tostring", l_deflater_tostring},
    {"__index", NULL},
    {NULL, NULL}
};

static const luaL_Reg zlib_functions[] = {
    {"gzip", l_zlib_gzip},
    {"gunzip", l_zlib_gunzip},
    {"deflater", l_zlib_deflater},
    {NULL, NULL}
};

int luaopen_wpo_core_zlib(lua_State *L)
{
    luaL_newmetatable(L, WPO_ZLIB_DEFLATER);
    luaL_setfuncs(L, deflater_meta, 0);
    luaL_newlib(L, deflater_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, zlib_functions);
    lua_pushinteger(L, DEFAULT_LEVEL);
    lua_setfield(L, -2, "DEFAULT_LEVEL");
    return 1;
}
