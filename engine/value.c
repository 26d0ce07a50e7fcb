/*
 * value.c — wpo.core.value: the one-line display of attribute values that
 * stdlib/wpo/value.lua documents as value.show, and its string quoting. A
 * plan shows every attribute of every resource it creates: in Lua this was
 * an eighth of an offline plan's instructions.
 *
 * Lua API (wpo.core.value):
 *   shower(unknown, lazy_mt) -> show
 *     show(v [, sensitive]) -> string. sensitive: "(sensitive)". A string
 *     is quote(v); nil is null; an integer, or a float with an integer
 *     value, in decimal; another float as %.17g; a boolean as true/false;
 *     `unknown`, or a table whose metatable is lazy_mt: "(known after
 *     apply)"; {} for an empty table; a table whose keys are exactly 1..#t
 *     as [a, b]; any other table as { k = v, ["k k"] = v, [1] = v } in key
 *     order (by type name, then by value; strings byte by byte), a key bare
 *     when it is a name ([A-Za-z_][A-Za-z0-9_]*). Other values as tostring.
 *     Tables are read raw (no metamethod of a value runs: values may be
 *     stack code's). A table inside itself shows as <cycle>, one nested
 *     deeper than MAX_DEPTH as {...}: show never fails on what it is given
 *     (it is used in error messages about bad values). The work is charged
 *     to the running sandbox's instruction budget.
 *   quote(s) -> s in double quotes, with \" \\ \n \t \r and the other
 *     control characters as \u00XX.
 * It keeps no state: the sentinels are the closure's upvalues.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "sandbox.h"

#define MAX_DEPTH 100            /* deeper than value.lua's MAX_DEPTH (64): any plain value fits */

/* The text being built, in a userdata that is the out's user value: Lua
 * allocates it (counted against the sandbox's memory; a refusal is Lua's own
 * memory error, which stack code cannot catch) and collects it however the
 * show ends. */
struct out {
    char *p;
    size_t len, cap;
    int slot;                      /* the out userdata's stack index */
    const void *open[MAX_DEPTH];   /* the tables being shown, outermost first */
};

static void out_put(lua_State *L, struct out *o, const char *s, size_t n)
{
    if (o->cap - o->len < n) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap - o->len < n) {
            if (cap > ((size_t)-1) / 2)
                luaL_error(L, "value too large to show");
            cap *= 2;
        }
        char *p = lua_newuserdatauv(L, cap, 0);
        if (o->len)
            memcpy(p, o->p, o->len);
        lua_setiuservalue(L, o->slot, 1);   /* the old text is garbage now */
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

/* the budget for handling n bytes */
static void charge_bytes(lua_State *L, size_t n)
{
    wpo_sandbox_charge(L, 1 + n / WPO_SANDBOX_BYTES_PER_UNIT);
}

/* written as it is inside quotes */
static int plain_char(unsigned char c)
{
    return c >= 32 && c != 127 && c != '"' && c != '\\';
}

#define PUT_LIT(L, o, s) out_put(L, o, "" s, sizeof(s) - 1)

static const char HEX[] = "0123456789abcdef";

static void put_quoted(lua_State *L, struct out *o, const char *s, size_t n)
{
    PUT_LIT(L, o, "\"");
    size_t run = 0;   /* bytes copied as they are, not yet written */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (plain_char(c)) {
            run++;
            continue;
        }
        out_put(L, o, s + i - run, run);
        run = 0;
        char esc[6] = { '\\', 0 };
        size_t k = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\t': esc[1] = 't'; break;
        case '\r': esc[1] = 'r'; break;
        default:
            esc[1] = 'u';
            out_put(L, o, esc, 2);
            esc[0] = '0';
            esc[1] = '0';
            esc[2] = HEX[c >> 4];
            esc[3] = HEX[c & 15];
            k = 4;
        }
        out_put(L, o, esc, k);
    }
    out_put(L, o, s + n - run, run);
    PUT_LIT(L, o, "\"");
}

static int is_name(const char *s, size_t n)
{
    if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* a key of a table being shown, for sorting; the key itself stays in the
 * table, which is on the stack for as long as the key is used */
struct key {
    int type;                   /* LUA_T* */
    const char *s;              /* string: its bytes */
    size_t len;
    lua_Integer i;              /* number: isint ? i : n */
    lua_Number n;
    int isint, b;               /* boolean: b */
    int order;                  /* the rank of its type name among the types */
    lua_Integer slot;           /* where the key is in the keys table */
};

static int key_less(const struct key *a, const struct key *b)
{
    if (a->type != b->type)
        return a->order < b->order;
    switch (a->type) {
    case LUA_TSTRING: {
        int c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
        return c < 0 || (c == 0 && a->len < b->len);
    }
    case LUA_TNUMBER:
        if (a->isint && b->isint)
            return a->i < b->i;
        return (a->isint ? (lua_Number)a->i : a->n) < (b->isint ? (lua_Number)b->i : b->n);
    case LUA_TBOOLEAN:
        return a->b < b->b;
    default:
        return a->slot < b->slot;   /* other key types: the order the walk met them */
    }
}

static int key_cmp(const void *x, const void *y)
{
    const struct key *a = x, *b = y;
    return key_less(a, b) ? -1 : key_less(b, a) ? 1 : 0;
}

/* the rank of a type's name in byte order ("boolean" < "function" < ...),
 * as Lua's key_order compared type(a) < type(b) */
static int type_order(int t)
{
    switch (t) {
    case LUA_TBOOLEAN: return 0;
    case LUA_TFUNCTION: return 1;
    case LUA_TLIGHTUSERDATA: return 7;   /* "userdata" */
    case LUA_TNUMBER: return 3;
    case LUA_TSTRING: return 4;
    case LUA_TTABLE: return 5;
    case LUA_TTHREAD: return 6;
    case LUA_TUSERDATA: return 7;
    default: return 2;                    /* "nil" never a key */
    }
}

static void show(lua_State *L, struct out *o, int idx, int depth);

/* the number at idx as show writes it, into buf (64 bytes): its length */
static size_t format_number(lua_State *L, int idx, char *buf)
{
    int isint = 0;
    lua_Integer i = lua_tointegerx(L, idx, &isint);
    int n = isint ? snprintf(buf, 64, LUA_INTEGER_FMT, (LUAI_UACINT)i)
                  : snprintf(buf, 64, "%.17g", (double)lua_tonumber(L, idx));
    return (size_t)n;
}

/* an array: its keys are exactly 1..count (count keys in all) */
static int is_array(lua_State *L, int idx, size_t count)
{
    if (lua_rawlen(L, idx) != count)
        return 0;
    for (lua_Integer i = 1; i <= (lua_Integer)count; i++) {
        int absent = lua_rawgeti(L, idx, i) == LUA_TNIL;
        lua_pop(L, 1);
        if (absent)
            return 0;
    }
    return 1;
}

static void show_table(lua_State *L, struct out *o, int idx, int depth)
{
    if (lua_rawequal(L, idx, lua_upvalueindex(1))) {
        PUT_LIT(L, o, "(known after apply)");
        return;
    }
    if (lua_getmetatable(L, idx)) {
        if (lua_rawequal(L, -1, lua_upvalueindex(2))) {
            lua_pop(L, 1);
            PUT_LIT(L, o, "(known after apply)");
            return;
        }
        /* an object with a name (a resource's handle): the name, not its insides */
        lua_pushliteral(L, "__name");
        if (lua_rawget(L, -2) == LUA_TSTRING) {
            size_t n;
            const char *name = lua_tolstring(L, -1, &n);
            PUT_LIT(L, o, "<");
            out_put(L, o, name, n);
            PUT_LIT(L, o, ">");
            lua_pop(L, 2);
            return;
        }
        lua_pop(L, 2);
    }
    const void *self = lua_topointer(L, idx);
    for (int i = 0; i < depth; i++) {
        if (o->open[i] == self) {
            PUT_LIT(L, o, "<cycle>");
            return;
        }
    }
    if (depth >= MAX_DEPTH) {
        PUT_LIT(L, o, "{...}");
        return;
    }
    o->open[depth] = self;
    luaL_checkstack(L, 8, "value nested too deep");
    size_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        count++;
        lua_pop(L, 1);
    }
    if (count == 0) {
        PUT_LIT(L, o, "{}");
        return;
    }
    wpo_sandbox_charge(L, count);
    if (is_array(L, idx, count)) {
        PUT_LIT(L, o, "[");
        for (lua_Integer i = 1; i <= (lua_Integer)count; i++) {
            if (i > 1)
                PUT_LIT(L, o, ", ");
            lua_rawgeti(L, idx, i);
            show(L, o, lua_gettop(L), depth + 1);
            lua_pop(L, 1);
        }
        PUT_LIT(L, o, "]");
        return;
    }
    /* the keys: their sort fields in a userdata, themselves in a table */
    struct key *keys = lua_newuserdatauv(L, count * sizeof *keys, 0);
    lua_createtable(L, (int)count, 0);
    int ks = lua_gettop(L);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {   /* the same count keys: nothing ran since they were counted */
        lua_pop(L, 1);
        struct key *k = &keys[n++];
        memset(k, 0, sizeof *k);
        k->slot = (lua_Integer)n;
        k->type = lua_type(L, -1);
        k->order = type_order(k->type);
        if (k->type == LUA_TSTRING) {
            k->s = lua_tolstring(L, -1, &k->len);
        } else if (k->type == LUA_TNUMBER) {
            k->i = lua_tointegerx(L, -1, &k->isint);
            k->n = lua_tonumber(L, -1);
        } else if (k->type == LUA_TBOOLEAN) {
            k->b = lua_toboolean(L, -1);
        }
        lua_pushvalue(L, -1);
        lua_rawseti(L, ks, k->slot);
    }
    qsort(keys, n, sizeof *keys, key_cmp);
    PUT_LIT(L, o, "{ ");
    for (size_t j = 0; j < n; j++) {
        const struct key *k = &keys[j];
        if (j > 0)
            PUT_LIT(L, o, ", ");
        lua_rawgeti(L, ks, k->slot);
        int key = lua_gettop(L);
        if (k->type == LUA_TSTRING && is_name(k->s, k->len)) {
            out_put(L, o, k->s, k->len);
        } else {
            PUT_LIT(L, o, "[");
            show(L, o, key, depth + 1);
            PUT_LIT(L, o, "]");
        }
        PUT_LIT(L, o, " = ");
        lua_pushvalue(L, key);
        lua_rawget(L, idx);
        show(L, o, lua_gettop(L), depth + 1);
        lua_pop(L, 2);
    }
    PUT_LIT(L, o, " }");
    lua_pop(L, 2);   /* the keys */
}

static void show(lua_State *L, struct out *o, int idx, int depth)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        charge_bytes(L, n);
        put_quoted(L, o, s, n);
        break;
    }
    case LUA_TNIL:
    case LUA_TNONE:
        PUT_LIT(L, o, "null");
        break;
    case LUA_TNUMBER: {
        char buf[64];
        out_put(L, o, buf, format_number(L, idx, buf));
        break;
    }
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            PUT_LIT(L, o, "true");
        else
            PUT_LIT(L, o, "false");
        break;
    case LUA_TTABLE:
        show_table(L, o, idx, depth);
        break;
    default: {   /* as tostring without a metamethod: none of a value runs */
        size_t n;
        const char *s = lua_pushfstring(L, "%s: %p", luaL_typename(L, idx), lua_topointer(L, idx));
        n = strlen(s);
        out_put(L, o, s, n);
        lua_pop(L, 1);
    }
    }
}

static struct out *new_out(lua_State *L)
{
    struct out *o = lua_newuserdatauv(L, sizeof *o, 1);
    memset(o, 0, sizeof *o);
    o->slot = lua_gettop(L);
    return o;
}

static int push_out(lua_State *L, struct out *o)
{
    lua_pushlstring(L, o->p ? o->p : "", o->len);
    return 1;
}

static int l_show(lua_State *L)
{
    if (lua_toboolean(L, 2)) {
        lua_pushliteral(L, "(sensitive)");
        return 1;
    }
    int t = lua_type(L, 1);
    if (t == LUA_TNUMBER || t == LUA_TNIL || t == LUA_TNONE || t == LUA_TBOOLEAN) {
        /* no buffer for a scalar */
        char buf[64];
        if (t != LUA_TNUMBER)
            lua_pushstring(L, t == LUA_TBOOLEAN ? (lua_toboolean(L, 1) ? "true" : "false") : "null");
        else
            lua_pushlstring(L, buf, format_number(L, 1, buf));
        return 1;
    }
    if (t == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, 1, &n);
        size_t i = 0;
        while (i < n && plain_char((unsigned char)s[i]))
            i++;
        if (i == n) {
            /* nothing to escape: no buffer of ours */
            charge_bytes(L, n);
            luaL_Buffer b;
            luaL_buffinitsize(L, &b, n + 2);
            luaL_addchar(&b, '"');
            luaL_addlstring(&b, s, n);
            luaL_addchar(&b, '"');
            luaL_pushresult(&b);
            return 1;
        }
    }
    lua_settop(L, 1);
    struct out *o = new_out(L);
    show(L, o, 1, 0);
    return push_out(L, o);
}

static int l_shower(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    lua_pushcclosure(L, l_show, 2);
    return 1;
}

static int l_quote(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    charge_bytes(L, n);
    struct out *o = new_out(L);
    put_quoted(L, o, s, n);
    return push_out(L, o);
}

int luaopen_wpo_core_value(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"shower", l_shower},
        {"quote", l_quote},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    return 1;
}
