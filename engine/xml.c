/*
 * xml.c — wpo.core.xml: XML documents (AWS responses) into Lua tables, with
 * expat. expat's callbacks only build a C tree in an arena; the tree becomes
 * Lua tables after expat has returned, so no Lua error can cross an expat
 * frame. It owns the refusals that make hostile input harmless: no DTD and
 * no entity declaration (so no entity expansion and no external entity),
 * a depth limit and a size limit.
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

struct parse_state {
    XML_Parser parser;
    struct wpo_xml_doc *doc;
    struct wpo_xml_node **open;   /* the open elements, by depth */
    struct wpo_xml_node **last;   /* the last child of each open element */
    struct text_buf *text;        /* character data of each open element */
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
        struct wpo_xml_node *parent = st->open[st->depth - 1];
        if (st->last[st->depth - 1])
            st->last[st->depth - 1]->next = node;
        else
            parent->first = node;
        st->last[st->depth - 1] = node;
        parent->nchildren++;
    }
    st->open[st->depth] = node;
    st->last[st->depth] = NULL;
    st->text[st->depth].len = 0;
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
    struct wpo_xml_node *node = st->open[st->depth];
    struct text_buf *tb = &st->text[st->depth];
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
    struct text_buf *tb = &st->text[st->depth - 1];
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

int wpo_xml_parse(const char *data, size_t len, const struct wpo_xml_limits *limits,
                  struct wpo_xml_doc *doc, char *err, size_t errlen)
{
    int rc = -1;
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
    st.open = calloc((size_t)max_depth, sizeof *st.open);
    st.last = calloc((size_t)max_depth, sizeof *st.last);
    st.text = calloc((size_t)max_depth, sizeof *st.text);
    st.parser = XML_ParserCreateNS(NULL, NS_SEP);
    if (!st.open || !st.last || !st.text || !st.parser) {
        snprintf(err, errlen, "xml: out of memory at line 1");
        goto cleanup;
    }
    XML_SetUserData(st.parser, &st);
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
    rc = st.failed ? -1 : 0;
cleanup:
    if (st.parser)
        XML_ParserFree(st.parser);
    if (st.text)
        for (int i = 0; i < max_depth; i++)
            free(st.text[i].data);
    free(st.text);
    free(st.open);
    free(st.last);
    if (rc != 0)
        wpo_xml_free(doc);
    return rc;
}

/* ---- Lua binding -------------------------------------------------------- */

#define DOC_MT "wpo.xml.doc"

/* A parse's C tree is held by a userdata until converted, so a Lua error
 * (out of memory) while building the tables cannot leak it. */
static int doc_gc(lua_State *L)
{
    wpo_xml_free(luaL_checkudata(L, 1, DOC_MT));
    return 0;
}

static void push_node(lua_State *L, const struct wpo_xml_node *node)
{
    luaL_checkstack(L, 4, "xml: document too deep");
    lua_createtable(L, (int)(node->nchildren > INT_MAX ? INT_MAX : node->nchildren), 3);
    lua_pushstring(L, node->name);
    lua_setfield(L, -2, "name");
    if (node->nattrs > 0) {
        lua_createtable(L, 0, (int)(node->nattrs > INT_MAX ? INT_MAX : node->nattrs));
        for (size_t i = 0; i < node->nattrs; i++) {
            lua_pushlstring(L, node->attrs[i].value, node->attrs[i].value_len);
            lua_setfield(L, -2, node->attrs[i].name);
        }
        lua_setfield(L, -2, "attrs");
    }
    lua_pushlstring(L, node->text, node->text_len);
    lua_setfield(L, -2, "text");
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
    struct wpo_xml_doc *doc = lua_newuserdatauv(L, sizeof *doc, 0);
    memset(doc, 0, sizeof *doc);
    luaL_setmetatable(L, DOC_MT);
    char err[256];
    if (wpo_xml_parse(s, len, &limits, doc, err, sizeof err) != 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    push_node(L, doc->root);
    wpo_xml_free(doc);
    return 1;
}

static const luaL_Reg xml_functions[] = {
    {"decode", l_xml_decode},
    {NULL, NULL}
};

int luaopen_wpo_core_xml(lua_State *L)
{
    if (luaL_newmetatable(L, DOC_MT)) {
        lua_pushcfunction(L, doc_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_newlib(L, xml_functions);
    return 1;
}
