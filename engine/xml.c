/*
 * xml.c — wpo.core.xml: XML documents (AWS responses) into Lua tables, with
 * expat. expat's callbacks only build a C tree in an arena; the tree becomes
 * Lua tables after expat has returned, so no Lua error can cross an expat
 * frame. It owns the refusals that make hostile input harmless: no DTD and
 * no entity declaration (so no entity expansion and no external entity),
 * a depth limit and a size limit. Each Lua state keeps one decoder (expat
 * parser, buffers, an arena block) from one document to the next.
 *
 * Lua API (wpo.core.xml):
 *   decode(s, { max_depth = 256, max_bytes = 64 MiB }?) -> root | nil, err
 *     A node is { name = "LocalName", attrs = { [local name] = value } or nil,
 *     text = "the element's own character data, concatenated", [1..n] =
 *     child nodes in document order }. Namespace prefixes are dropped from
 *     element and attribute names, xmlns attributes are not reported. text
 *     is "" for an element whose only character data is whitespace between
 *     child elements. err is "xml: <what> at line N": malformed or
 *     truncated input, a DTD or entity declaration, nesting deeper than
 *     max_depth, a document larger than max_bytes.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>
#include <lauxlib.h>

#include "crypto.h"
#include "xml.h"

/* expat reports "namespace-uri|local" for names in a namespace; '|' can
 * be in a URI but never in a local name. */
#define NS_SEP '|'
#define CHUNK ((size_t)1 << 24)
#define MAX_DEPTH_LIMIT 10000

/* ---- arena -------------------------------------------------------------- */

struct arena_block {
    struct arena_block *prev;
    size_t size, used;
    max_align_t data[];
};

static void *arena_alloc(struct wpo_xml_doc *doc, size_t n)
{
    struct arena_block *b = doc->arena;
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + 15) & ~(size_t)15;
    if (!b || b->size - b->used < n) {
        size_t size = b ? b->size * 2 : 16384;
        if (size > ((size_t)1 << 20))
            size = (size_t)1 << 20;
        if (size < n)
            size = n;
        struct arena_block *nb = malloc(sizeof *nb + size);
        if (!nb)
            return NULL;
        nb->prev = b;
        nb->size = size;
        nb->used = 0;
        doc->arena = b = nb;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

void wpo_xml_free(struct wpo_xml_doc *doc)
{
    struct arena_block *b = doc->arena;
    while (b) {
        struct arena_block *prev = b->prev;
        free(b);
        b = prev;
    }
    doc->arena = NULL;
    doc->root = NULL;
}

/* ---- the parse ---------------------------------------------------------- */

struct text_buf {
    char *data;
    size_t len, cap;
};

/* An open element: the node, its last child so far, its character data. */
struct level {
    struct wpo_xml_node *node, *last;
    struct text_buf text;
};

struct parse_state {
    XML_Parser parser;
    struct wpo_xml_doc *doc;
    struct level *levels;         /* by depth; grows as the document nests */
    int nlevels;
    int depth, max_depth;
    bool failed;
    char *err;
    size_t errlen;
};

static void fail(struct parse_state *st, const char *fmt, ...)
{
    if (st->failed)
        return;
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(st->err, st->errlen, "xml: %s at line %lu", what,
             (unsigned long)XML_GetCurrentLineNumber(st->parser));
    st->failed = true;
    XML_StopParser(st->parser, XML_FALSE);
}

static const char *copy_str(struct parse_state *st, const char *s, size_t n)
{
    char *p = arena_alloc(st->doc, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static const char *local_name(const char *name)
{
    const char *sep = strrchr(name, NS_SEP);
    return sep ? sep + 1 : name;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct parse_state *st = ud;
    if (st->failed)
        return;
    if (st->depth >= st->max_depth) {
        fail(st, "nesting deeper than %d levels", st->max_depth);
        return;
    }
    if (st->depth == st->nlevels) {
        int n = st->nlevels ? 2 * st->nlevels : 16;
        if (n > st->max_depth)
            n = st->max_depth;
        struct level *lv = realloc(st->levels, (size_t)n * sizeof *lv);
        if (!lv)
            goto oom;
        memset(lv + st->nlevels, 0, (size_t)(n - st->nlevels) * sizeof *lv);
        st->levels = lv;
        st->nlevels = n;
    }
    struct wpo_xml_node *node = arena_alloc(st->doc, sizeof *node);
    if (!node)
        goto oom;
    memset(node, 0, sizeof *node);
    const char *local = local_name(name);
    if (!(node->name = copy_str(st, local, strlen(local))))
        goto oom;
    size_t n = 0;
    while (atts[2 * n])
        n++;
    if (n > 0) {
        if (!(node->attrs = arena_alloc(st->doc, n * sizeof *node->attrs)))
            goto oom;
        for (size_t i = 0; i < n; i++) {
            const char *an = local_name(atts[2 * i]);
            size_t vlen = strlen(atts[2 * i + 1]);
            node->attrs[i].name = copy_str(st, an, strlen(an));
            node->attrs[i].value = copy_str(st, atts[2 * i + 1], vlen);
            node->attrs[i].value_len = vlen;
            if (!node->attrs[i].name || !node->attrs[i].value)
                goto oom;
        }
        node->nattrs = n;
    }
    if (st->depth == 0) {
        st->doc->root = node;
    } else {
        struct level *up = &st->levels[st->depth - 1];
        if (up->last)
            up->last->next = node;
        else
            up->node->first = node;
        up->last = node;
        up->node->nchildren++;
    }
    struct level *lv = &st->levels[st->depth];
    lv->node = node;
    lv->last = NULL;
    lv->text.len = 0;
    st->depth++;
    return;
oom:
    fail(st, "out of memory");
}

static bool only_whitespace(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct parse_state *st = ud;
    if (st->failed || st->depth == 0)
        return;
    st->depth--;
    struct wpo_xml_node *node = st->levels[st->depth].node;
    struct text_buf *tb = &st->levels[st->depth].text;
    if (tb->len == 0 || (node->nchildren > 0 && only_whitespace(tb->data, tb->len))) {
        node->text = "";
        node->text_len = 0;
    } else if ((node->text = copy_str(st, tb->data, tb->len))) {
        node->text_len = tb->len;
    } else {
        fail(st, "out of memory");
    }
    tb->len = 0;
}

static void XMLCALL on_chars(void *ud, const XML_Char *s, int len)
{
    struct parse_state *st = ud;
    if (st->failed || st->depth == 0 || len <= 0)
        return;
    struct text_buf *tb = &st->levels[st->depth - 1].text;
    size_t n = (size_t)len;
    if (tb->cap - tb->len < n) {
        size_t cap = tb->cap ? tb->cap : 64;
        while (cap - tb->len < n) {
            if (cap > SIZE_MAX / 2) {
                fail(st, "out of memory");
                return;
            }
            cap *= 2;
        }
        char *p = realloc(tb->data, cap);
        if (!p) {
            fail(st, "out of memory");
            return;
        }
        tb->data = p;
        tb->cap = cap;
    }
    memcpy(tb->data + tb->len, s, n);
    tb->len += n;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *doctype, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    fail(ud, "DTDs are refused (<!DOCTYPE %s>)", doctype ? doctype : "");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *entity, int is_parameter_entity,
                                   const XML_Char *value, int value_length, const XML_Char *base,
                                   const XML_Char *system_id, const XML_Char *public_id,
                                   const XML_Char *notation)
{
    fail(ud, "entity declarations are refused (%s)", entity ? entity : "");
}

/* A fresh salt for each document without a system call: splitmix64 over a
 * seed drawn once per decoder from the system's random source. */
static unsigned long next_salt(struct wpo_xml_decoder *dec)
{
    if (dec->salt == 0) {
        uint64_t seed = 0;
        if (wpo_crypto_random(&seed, sizeof seed) != 0 || seed == 0)
            seed = (uint64_t)(uintptr_t)dec ^ UINT64_C(0x9e3779b97f4a7c15);
        dec->salt = seed;
    }
    uint64_t z = (dec->salt += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    z ^= z >> 31;
    return (unsigned long)(z ? z : 1);
}

int wpo_xml_decode(struct wpo_xml_decoder *dec, const char *data, size_t len,
                   const struct wpo_xml_limits *limits, struct wpo_xml_doc *doc,
                   char *err, size_t errlen)
{
    size_t max_bytes = limits && limits->max_bytes ? limits->max_bytes : WPO_XML_MAX_BYTES;
    int max_depth = limits && limits->max_depth > 0 ? limits->max_depth : WPO_XML_MAX_DEPTH;
    struct parse_state st = {0};
    st.doc = doc;
    st.max_depth = max_depth;
    st.err = err;
    st.errlen = errlen;
    doc->root = NULL;
    doc->arena = NULL;

    if (len > max_bytes) {
        snprintf(err, errlen, "xml: a document of %zu bytes is larger than the limit of %zu bytes",
                 len, max_bytes);
        return -1;
    }
    if (dec->parser) {
        if (!XML_ParserReset(dec->parser, NULL)) {
            XML_ParserFree(dec->parser);
            dec->parser = NULL;
        }
    }
    if (!dec->parser && !(dec->parser = XML_ParserCreateNS(NULL, NS_SEP))) {
        snprintf(err, errlen, "xml: out of memory at line 1");
        return -1;
    }
    st.parser = dec->parser;
    st.levels = dec->levels;
    st.nlevels = dec->nlevels;
    doc->arena = dec->spare;  /* an empty block: its used count is 0 */
    dec->spare = NULL;

    XML_SetUserData(st.parser, &st);
    XML_SetHashSalt(st.parser, next_salt(dec));
    XML_SetElementHandler(st.parser, on_start, on_end);
    XML_SetCharacterDataHandler(st.parser, on_chars);
    XML_SetStartDoctypeDeclHandler(st.parser, on_doctype);
    XML_SetEntityDeclHandler(st.parser, on_entity_decl);
    XML_SetParamEntityParsing(st.parser, XML_PARAM_ENTITY_PARSING_NEVER);

    size_t off = 0;
    do {
        size_t n = len - off > CHUNK ? CHUNK : len - off;
        int final = off + n == len;
        if (XML_Parse(st.parser, data + off, (int)n, final) != XML_STATUS_OK) {
            if (!st.failed)
                snprintf(err, errlen, "xml: %s at line %lu",
                         XML_ErrorString(XML_GetErrorCode(st.parser)),
                         (unsigned long)XML_GetCurrentLineNumber(st.parser));
            st.failed = true;
            break;
        }
        off += n;
    } while (off < len);

    if (!st.failed && !doc->root) {
        snprintf(err, errlen, "xml: no element found at line 1");
        st.failed = true;
    }
    /* The per-depth buffers stay with the decoder; a huge one is let go. */
    for (int i = 0; i < st.nlevels; i++)
        if (st.levels[i].text.cap > ((size_t)1 << 16)) {
            free(st.levels[i].text.data);
            memset(&st.levels[i].text, 0, sizeof st.levels[i].text);
        }
    dec->levels = st.levels;
    dec->nlevels = st.nlevels;
    if (st.failed) {
        wpo_xml_recycle(dec, doc);
        return -1;
    }
    return 0;
}

void wpo_xml_recycle(struct wpo_xml_decoder *dec, struct wpo_xml_doc *doc)
{
    struct arena_block *b = doc->arena;
    if (b && !dec->spare && b->size <= ((size_t)1 << 20)) {
        doc->arena = b->prev;
        b->prev = NULL;
        b->used = 0;
        dec->spare = b;
    }
    wpo_xml_free(doc);
}

void wpo_xml_decoder_free(struct wpo_xml_decoder *dec)
{
    if (dec->parser)
        XML_ParserFree(dec->parser);
    struct level *levels = dec->levels;
    for (int i = 0; i < dec->nlevels; i++)
        free(levels[i].text.data);
    free(levels);
    free(dec->spare);
    memset(dec, 0, sizeof *dec);
}

int wpo_xml_parse(const char *data, size_t len, const struct wpo_xml_limits *limits,
                  struct wpo_xml_doc *doc, char *err, size_t errlen)
{
    struct wpo_xml_decoder dec = {0};
    int rc = wpo_xml_decode(&dec, data, len, limits, doc, err, errlen);
    wpo_xml_decoder_free(&dec);
    return rc;
}

/* ---- Lua binding -------------------------------------------------------- */

#define STATE_MT "wpo.xml.decoder"

/* Per Lua state: the decoder, and the document being converted, held here
 * so that a Lua error (out of memory) while building the tables cannot leak
 * it; the next decode or the collector frees it. */
struct xml_state {
    struct wpo_xml_decoder dec;
    struct wpo_xml_doc doc;
};

static int state_gc(lua_State *L)
{
    struct xml_state *xs = luaL_checkudata(L, 1, STATE_MT);
    wpo_xml_free(&xs->doc);
    wpo_xml_decoder_free(&xs->dec);
    return 0;
}

/* The keys "name", "attrs", "text" are upvalues 1..3 of decode: pushing
 * them is cheaper than interning them again for every node. */
#define KEY_NAME lua_upvalueindex(1)
#define KEY_ATTRS lua_upvalueindex(2)
#define KEY_TEXT lua_upvalueindex(3)
#define XML_STATE lua_upvalueindex(4)

static void push_node(lua_State *L, const struct wpo_xml_node *node)
{
    luaL_checkstack(L, 4, "xml: document too deep");
    lua_createtable(L, (int)(node->nchildren > INT_MAX ? INT_MAX : node->nchildren),
                    node->nattrs > 0 ? 3 : 2);
    lua_pushvalue(L, KEY_NAME);
    lua_pushstring(L, node->name);
    lua_rawset(L, -3);
    if (node->nattrs > 0) {
        lua_pushvalue(L, KEY_ATTRS);
        lua_createtable(L, 0, (int)(node->nattrs > INT_MAX ? INT_MAX : node->nattrs));
        for (size_t i = 0; i < node->nattrs; i++) {
            lua_pushstring(L, node->attrs[i].name);
            lua_pushlstring(L, node->attrs[i].value, node->attrs[i].value_len);
            lua_rawset(L, -3);
        }
        lua_rawset(L, -3);
    }
    lua_pushvalue(L, KEY_TEXT);
    lua_pushlstring(L, node->text, node->text_len);
    lua_rawset(L, -3);
    lua_Integer i = 1;
    for (const struct wpo_xml_node *c = node->first; c; c = c->next) {
        push_node(L, c);
        lua_rawseti(L, -2, i++);
    }
}

static lua_Integer opt_limit(lua_State *L, int t, const char *name, lua_Integer lo, lua_Integer hi)
{
    lua_Integer v = 0;
    int type = lua_getfield(L, t, name);
    if (type != LUA_TNIL) {
        int isint = 0;
        v = lua_tointegerx(L, -1, &isint);
        if (!isint || v < lo || v > hi)
            luaL_error(L, "xml.decode: %s must be an integer from %I to %I", name, lo, hi);
    }
    lua_pop(L, 1);
    return v;
}

/* xml.decode(s, opts?) -> root | nil, err */
static int l_xml_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    struct wpo_xml_limits limits = {0, 0};
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            lua_pop(L, 1);
            const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
            if (!k || (strcmp(k, "max_depth") != 0 && strcmp(k, "max_bytes") != 0))
                luaL_error(L, "xml.decode: unknown option '%s' (valid: max_depth, max_bytes)",
                           k ? k : luaL_typename(L, -1));
        }
        limits.max_depth = (int)opt_limit(L, 2, "max_depth", 1, MAX_DEPTH_LIMIT);
        limits.max_bytes = (size_t)opt_limit(L, 2, "max_bytes", 1, (lua_Integer)1 << 40);
    }
    struct xml_state *xs = lua_touserdata(L, XML_STATE);
    wpo_xml_recycle(&xs->dec, &xs->doc);  /* left over if a conversion raised */
    char err[256];
    if (wpo_xml_decode(&xs->dec, s, len, &limits, &xs->doc, err, sizeof err) != 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    push_node(L, xs->doc.root);
    wpo_xml_recycle(&xs->dec, &xs->doc);
    return 1;
}

int luaopen_wpo_core_xml(lua_State *L)
{
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "name");
    lua_pushliteral(L, "attrs");
    lua_pushliteral(L, "text");
    struct xml_state *xs = lua_newuserdatauv(L, sizeof *xs, 0);
    memset(xs, 0, sizeof *xs);
    if (luaL_newmetatable(L, STATE_MT)) {
        lua_pushcfunction(L, state_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    lua_pushcclosure(L, l_xml_decode, 4);
    lua_setfield(L, -2, "decode");
    return 1;
}
