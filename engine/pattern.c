/*
 * pattern.c — wpo.core.pattern: find, match, gmatch and gsub with the
 * semantics, results and error messages of Lua 5.4's string library (manual
 * §6.4.1), for stack code in the sandbox. The matcher backtracks and recurses
 * as lstrlib's does (the same depth limit, so the same "pattern too complex"),
 * but every step is charged to the sandbox's instruction budget, so a
 * backtracking pattern stops when the budget is spent instead of running for
 * ever inside one C call.
 * wpo_sandbox_charge may raise: the match state lives on the C stack (gmatch's
 * in its iterator's userdata) and results in Lua buffers, never in malloc'd
 * memory. It does not decide the budget nor install itself in the sandbox.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "sandbox.h"

#define WPO_PATTERN_MAXCAPTURES   32     /* lstrlib's LUA_MAXCAPTURES */
#define WPO_PATTERN_MAXDEPTH      200    /* nested matches before "pattern too complex" */
#define WPO_PATTERN_CHARGE_EVERY  4096   /* units gathered before one charge */

#define WPO_CAP_OPEN      (-1)           /* capture length while still open */
#define WPO_CAP_POSITION  (-2)           /* a () capture: its position only */

/* A unit of work: one attempt to match one pattern item at one subject
 * position, one step of backtracking, or WPO_SANDBOX_BYTES_PER_UNIT bytes of
 * a scan (a set's text, %b, a back-reference, a plain find, a copy). */
struct wpo_pattern_match {
    lua_State *L;
    const char *subject, *subject_end;   /* Lua strings: *subject_end is NUL */
    const char *pattern_end;
    int depth;                           /* nested matches still allowed */
    int level;                           /* captures opened so far */
    size_t work;                         /* units not yet charged */
    struct {
        const char *start;
        ptrdiff_t len;                   /* or WPO_CAP_OPEN, WPO_CAP_POSITION */
    } capture[WPO_PATTERN_MAXCAPTURES];
};

static const char *match_here(struct wpo_pattern_match *m, const char *s, const char *p);

static void charge_flush(struct wpo_pattern_match *m)
{
    size_t n = m->work;
    m->work = 0;
    if (n)
        wpo_sandbox_charge(m->L, n);
}

static void charge(struct wpo_pattern_match *m, size_t units)
{
    m->work += units;
    if (m->work >= WPO_PATTERN_CHARGE_EVERY)
        charge_flush(m);
}

static size_t bytes_units(size_t n)
{
    return n / WPO_SANDBOX_BYTES_PER_UNIT + 1;
}

/* Raises a pattern error, the work done so far charged first. */
static const char *pattern_error(struct wpo_pattern_match *m, const char *fmt, ...)
{
    charge_flush(m);
    va_list ap;
    va_start(ap, fmt);
    luaL_where(m->L, 1);
    lua_pushvfstring(m->L, fmt, ap);
    va_end(ap);
    lua_concat(m->L, 2);
    lua_error(m->L);
    return NULL;
}

static void match_init(struct wpo_pattern_match *m, lua_State *L, const char *s, size_t ls,
                       const char *p, size_t lp)
{
    m->L = L;
    m->subject = s;
    m->subject_end = s + ls;
    m->pattern_end = p + lp;
    m->depth = WPO_PATTERN_MAXDEPTH;
    m->level = 0;
    m->work = 0;
}

static void match_reset(struct wpo_pattern_match *m)
{
    m->level = 0;
    m->depth = WPO_PATTERN_MAXDEPTH;
}

/* ---- single items --------------------------------------------------------- */

/* The end of the item at p: past "%x", a whole set "[...]", or one character.
 * A set's text is charged for twice: read here, then to test a byte. */
static const char *item_end(struct wpo_pattern_match *m, const char *p)
{
    const char *start = p;
    char c = *p++;
    if (c == '%') {
        if (p == m->pattern_end)
            return pattern_error(m, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (c == '[') {
        if (p < m->pattern_end && *p == '^')
            p++;
        do {    /* the first member may be a ']' */
            if (p == m->pattern_end)
                return pattern_error(m, "malformed pattern (missing ']')");
            c = *p++;
            if (c == '%' && p < m->pattern_end)
                p++;
        } while (p == m->pattern_end || *p != ']');
        m->work += 2 * (size_t)(p - start) / WPO_SANDBOX_BYTES_PER_UNIT;
        return p + 1;
    }
    return p;
}

/* Whether byte c is in class %cl; a letter that names no class stands for itself. */
static int class_has(int c, int cl)
{
    int in;
    switch (tolower(cl)) {
    case 'a': in = isalpha(c); break;
    case 'c': in = iscntrl(c); break;
    case 'd': in = isdigit(c); break;
    case 'g': in = isgraph(c); break;
    case 'l': in = islower(c); break;
    case 'p': in = ispunct(c); break;
    case 's': in = isspace(c); break;
    case 'u': in = isupper(c); break;
    case 'w': in = isalnum(c); break;
    case 'x': in = isxdigit(c); break;
    case 'z': in = c == 0; break;      /* deprecated, still in Lua 5.4 */
    default: return cl == c;
    }
    return isupper(cl) ? !in : in != 0;
}

/* Whether byte c is in the set from '[' at p to its ']' at close. */
static int set_has(int c, const char *p, const char *close)
{
    int member = 1;
    p++;
    if (*p == '^') {
        member = 0;
        p++;
    }
    for (; p < close; p++) {
        if (*p == '%') {
            p++;
            if (class_has(c, (unsigned char)*p))
                return member;
        } else if (p[1] == '-' && p + 2 < close) {
            if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2])
                return member;
            p += 2;
        } else if ((unsigned char)*p == c) {
            return member;
        }
    }
    return !member;
}

/* Whether the item from p to ep matches the byte at s (never at the end). */
static int item_matches(const struct wpo_pattern_match *m, const char *s, const char *p,
                        const char *ep)
{
    if (s >= m->subject_end)
        return 0;
    int c = (unsigned char)*s;
    switch (*p) {
    case '.': return 1;
    case '%': return class_has(c, (unsigned char)p[1]);
    case '[': return set_has(c, p, ep - 1);
    default: return (unsigned char)*p == c;
    }
}

/* ---- items that recurse or scan ------------------------------------------ */

/* The units of one test of the item from p to ep against a byte. */
static size_t item_units(const char *p, const char *ep)
{
    return *p == '[' ? 1 + (size_t)(ep - p) / WPO_SANDBOX_BYTES_PER_UNIT : 1;
}

/* item* : the longest run first, then ever shorter ones. */
static const char *match_greedy(struct wpo_pattern_match *m, const char *s, const char *p,
                                const char *ep)
{
    ptrdiff_t n = 0;
    if (*p == '.') {
        n = m->subject_end - s;
        charge(m, (size_t)n);
    } else {
        size_t units = item_units(p, ep);
        while (item_matches(m, s + n, p, ep)) {
            n++;
            charge(m, units);
        }
    }
    for (; n >= 0; n--) {
        const char *e = match_here(m, s + n, ep + 1);
        if (e)
            return e;
    }
    return NULL;
}

/* item- : the shortest run first, then one more at a time. */
static const char *match_lazy(struct wpo_pattern_match *m, const char *s, const char *p,
                              const char *ep)
{
    size_t units = item_units(p, ep);
    for (;;) {
        const char *e = match_here(m, s, ep + 1);
        if (e)
            return e;
        m->work += units;
        if (!item_matches(m, s, p, ep))
            return NULL;
        s++;
    }
}

/* %bxy at s, p just past "%b". */
static const char *match_balance(struct wpo_pattern_match *m, const char *s, const char *p)
{
    if (p + 1 >= m->pattern_end)
        return pattern_error(m, "malformed pattern (missing arguments to '%%b')");
    if (s >= m->subject_end || *s != *p)
        return NULL;
    char open = p[0], close = p[1];
    size_t nesting = 1;
    const char *e = s;
    while (++e < m->subject_end) {
        if (*e == close) {
            if (--nesting == 0) {
                charge(m, bytes_units((size_t)(e - s)));
                return e + 1;
            }
        } else if (*e == open) {
            nesting++;
        }
    }
    charge(m, bytes_units((size_t)(e - s)));
    return NULL;
}

/* %1 .. %9 at s: the text of that closed capture again. */
static const char *match_backref(struct wpo_pattern_match *m, const char *s, int digit)
{
    int i = digit - '1';
    if (i < 0 || i >= m->level || m->capture[i].len == WPO_CAP_OPEN)
        return pattern_error(m, "invalid capture index %%%d", i + 1);
    ptrdiff_t len = m->capture[i].len;
    if (len < 0 || m->subject_end - s < len)    /* a position capture matches nothing */
        return NULL;
    charge(m, bytes_units((size_t)len));
    if (memcmp(m->capture[i].start, s, (size_t)len) != 0)
        return NULL;
    return s + len;
}

static const char *capture_open(struct wpo_pattern_match *m, const char *s, const char *p,
                                ptrdiff_t kind)
{
    if (m->level >= WPO_PATTERN_MAXCAPTURES)
        return pattern_error(m, "too many captures");
    m->capture[m->level].start = s;
    m->capture[m->level].len = kind;
    m->level++;
    const char *e = match_here(m, s, p);
    if (!e)
        m->level--;
    return e;
}

static const char *capture_close(struct wpo_pattern_match *m, const char *s, const char *p)
{
    int i = m->level - 1;
    while (i >= 0 && m->capture[i].len != WPO_CAP_OPEN)
        i--;
    if (i < 0)
        return pattern_error(m, "invalid pattern capture");
    m->capture[i].len = s - m->capture[i].start;
    const char *e = match_here(m, s, p);
    if (!e)
        m->capture[i].len = WPO_CAP_OPEN;
    return e;
}

/* The rest of the pattern from p against the subject from s: the end of the
 * match, or NULL. Items that cannot backtrack loop here; the others recurse. */
static const char *match_here(struct wpo_pattern_match *m, const char *s, const char *p)
{
    if (m->depth-- == 0)
        return pattern_error(m, "pattern too complex");
    for (;;) {
        if (++m->work >= WPO_PATTERN_CHARGE_EVERY)
            charge_flush(m);
        if (p == m->pattern_end)
            break;
        switch (*p) {
        case '(':
            if (p + 1 < m->pattern_end && p[1] == ')')
                s = capture_open(m, s, p + 2, WPO_CAP_POSITION);
            else
                s = capture_open(m, s, p + 1, WPO_CAP_OPEN);
            goto done;
        case ')':
            s = capture_close(m, s, p + 1);
            goto done;
        case '$':
            if (p + 1 == m->pattern_end) {
                if (s != m->subject_end)
                    s = NULL;
                goto done;
            }
            break;                          /* elsewhere, a plain '$' */
        case '%':
            if (p + 1 == m->pattern_end)
                break;
            if (p[1] == 'b') {
                s = match_balance(m, s, p + 2);
                if (!s)
                    goto done;
                p += 4;
                continue;
            }
            if (p[1] == 'f') {
                p += 2;
                if (p == m->pattern_end || *p != '[')
                    return pattern_error(m, "missing '[' after '%%f' in pattern");
                const char *ep = item_end(m, p);
                int before = s == m->subject ? 0 : (unsigned char)s[-1];
                int here = (unsigned char)*s;
                if (set_has(before, p, ep - 1) || !set_has(here, p, ep - 1)) {
                    s = NULL;
                    goto done;
                }
                p = ep;
                continue;
            }
            if (p[1] >= '0' && p[1] <= '9') {
                s = match_backref(m, s, p[1]);
                if (!s)
                    goto done;
                p += 2;
                continue;
            }
            break;
        }
        /* a single-byte item, perhaps quantified */
        const char *ep = item_end(m, p);
        char q = ep < m->pattern_end ? *ep : '\0';
        if (!item_matches(m, s, p, ep)) {
            if (q == '*' || q == '?' || q == '-') {
                p = ep + 1;
                continue;
            }
            s = NULL;
            goto done;
        }
        switch (q) {
        case '?': {
            const char *e = match_here(m, s + 1, ep + 1);
            if (e) {
                s = e;
                goto done;
            }
            p = ep + 1;
            continue;
        }
        case '+':
            s = match_greedy(m, s + 1, p, ep);
            goto done;
        case '*':
            s = match_greedy(m, s, p, ep);
            goto done;
        case '-':
            s = match_lazy(m, s, p, ep);
            goto done;
        default:
            s++;
            p = ep;
            continue;
        }
    }
done:
    m->depth++;
    return s;
}

/* ---- results -------------------------------------------------------------- */

/* Capture i of the match s..e (capture 0 is the whole match when there are
 * none): its length and start, or WPO_CAP_POSITION with the position pushed. */
static ptrdiff_t capture_get(struct wpo_pattern_match *m, int i, const char *s, const char *e,
                             const char **start)
{
    if (i >= m->level) {
        if (i != 0)
            pattern_error(m, "invalid capture index %%%d", i + 1);
        *start = s;
        return e - s;
    }
    ptrdiff_t len = m->capture[i].len;
    *start = m->capture[i].start;
    if (len == WPO_CAP_OPEN)
        pattern_error(m, "unfinished capture");
    else if (len == WPO_CAP_POSITION)
        lua_pushinteger(m->L, (m->capture[i].start - m->subject) + 1);
    return len;
}

static void capture_push(struct wpo_pattern_match *m, int i, const char *s, const char *e)
{
    const char *start;
    ptrdiff_t len = capture_get(m, i, s, e, &start);
    if (len != WPO_CAP_POSITION)
        lua_pushlstring(m->L, start, (size_t)len);
}

/* Pushes every capture, or the whole match s..e when there are none and s is
 * given (find passes none). */
static int captures_push(struct wpo_pattern_match *m, const char *s, const char *e)
{
    int n = (m->level == 0 && s) ? 1 : m->level;
    luaL_checkstack(m->L, n, "too many captures");
    for (int i = 0; i < n; i++)
        capture_push(m, i, s, e);
    return n;
}

/* ---- find, match ---------------------------------------------------------- */

/* lstrlib's string-relative initial position, from 1, clipped at 1. */
static size_t position_from(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return (size_t)pos;
    if (pos == 0 || pos < -(lua_Integer)len)
        return 1;
    return len + (size_t)pos + 1;
}

static int has_specials(const char *p, size_t lp)
{
    for (size_t i = 0; i < lp; i++)
        if (memchr("^$*+?.([%-", p[i], 10))
            return 1;
    return 0;
}

static int find_or_match(lua_State *L, int find)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = position_from(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
        const char *at = lp == 0 ? s + init : memmem(s + init, ls - init, p, lp);
        wpo_sandbox_charge(L, bytes_units(ls - init + lp));
        if (at) {
            lua_pushinteger(L, (at - s) + 1);
            lua_pushinteger(L, (at - s) + (lua_Integer)lp);
            return 2;
        }
        luaL_pushfail(L);
        return 1;
    }
    struct wpo_pattern_match m;
    int anchor = lp > 0 && *p == '^';
    if (anchor) {
        p++;
        lp--;
    }
    match_init(&m, L, s, ls, p, lp);
    const char *from = s + init;
    do {
        match_reset(&m);
        const char *e = match_here(&m, from, p);
        if (e) {
            charge_flush(&m);
            if (!find)
                return captures_push(&m, from, e);
            lua_pushinteger(L, (from - s) + 1);
            lua_pushinteger(L, e - s);
            return captures_push(&m, NULL, NULL) + 2;
        }
    } while (from++ < m.subject_end && !anchor);
    charge_flush(&m);
    luaL_pushfail(L);
    return 1;
}

/* pattern.find(s, pattern [, init [, plain]]) -> start, end, captures... | nil */
static int l_pattern_find(lua_State *L)
{
    return find_or_match(L, 1);
}

/* pattern.match(s, pattern [, init]) -> captures... | nil */
static int l_pattern_match(lua_State *L)
{
    return find_or_match(L, 0);
}

/* ---- gmatch --------------------------------------------------------------- */

/* The iterator's state, in a userdata beside the subject and pattern strings
 * (its upvalues), which keep the pointers alive. */
struct wpo_pattern_iter {
    struct wpo_pattern_match m;
    const char *from;                    /* where the next search starts */
    const char *pattern;
    const char *last;                    /* end of the last match: no empty match there */
};

/* the iterator of pattern.gmatch -> captures... | nothing at the end */
static int l_pattern_gmatch_next(lua_State *L)
{
    struct wpo_pattern_iter *it = lua_touserdata(L, lua_upvalueindex(3));
    it->m.L = L;
    for (const char *from = it->from; from <= it->m.subject_end; from++) {
        match_reset(&it->m);
        const char *e = match_here(&it->m, from, it->pattern);
        if (e && e != it->last) {
            it->from = it->last = e;
            charge_flush(&it->m);
            return captures_push(&it->m, from, e);
        }
    }
    charge_flush(&it->m);
    return 0;
}

/* pattern.gmatch(s, pattern [, init]) -> iterator (a leading '^' is a plain character) */
static int l_pattern_gmatch(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = position_from(luaL_optinteger(L, 3, 1), ls) - 1;
    lua_settop(L, 2);
    struct wpo_pattern_iter *it = lua_newuserdatauv(L, sizeof *it, 0);
    if (init > ls)
        init = ls + 1;
    match_init(&it->m, L, s, ls, p, lp);
    it->from = s + init;
    it->pattern = p;
    it->last = NULL;
    lua_pushcclosure(L, l_pattern_gmatch_next, 3);
    return 1;
}

/* ---- gsub ----------------------------------------------------------------- */

/* The replacement string (argument 3) for the match s..e, its %0-%9 and %%. */
static void replace_string(struct wpo_pattern_match *m, luaL_Buffer *b, const char *s,
                           const char *e)
{
    size_t n;
    const char *r = lua_tolstring(m->L, 3, &n);
    charge(m, bytes_units(n));
    const char *esc;
    while ((esc = memchr(r, '%', n)) != NULL) {
        charge(m, 1);
        luaL_addlstring(b, r, (size_t)(esc - r));
        char c = esc[1];                     /* the NUL after a final '%' is none of these */
        if (c == '%') {
            luaL_addchar(b, '%');
        } else if (c == '0') {
            charge(m, bytes_units((size_t)(e - s)));
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (c >= '1' && c <= '9') {
            const char *start;
            ptrdiff_t len = capture_get(m, c - '1', s, e, &start);
            if (len == WPO_CAP_POSITION) {
                luaL_addvalue(b);
            } else {
                charge(m, bytes_units((size_t)len));
                luaL_addlstring(b, start, (size_t)len);
            }
        } else {
            pattern_error(m, "invalid use of '%%' in replacement string");
        }
        n -= (size_t)(esc + 2 - r);
        r = esc + 2;
    }
    luaL_addlstring(b, r, n);
}

/* Adds the replacement of the match s..e; whether it changed the text. */
static int replace(struct wpo_pattern_match *m, luaL_Buffer *b, const char *s, const char *e,
                   int type)
{
    lua_State *L = m->L;
    if (type == LUA_TSTRING || type == LUA_TNUMBER) {
        replace_string(m, b, s, e);
        return 1;
    }
    charge_flush(m);                         /* Lua code may run and raise */
    if (type == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        int n = captures_push(m, s, e);
        lua_call(L, n, 1);
    } else {
        capture_push(m, 0, s, e);
        lua_gettable(L, 3);
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return 0;
    }
    if (!lua_isstring(L, -1))
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return 1;
}

/* pattern.gsub(s, pattern, repl [, n]) -> string, count */
static int l_pattern_gsub(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int type = lua_type(L, 3);
    lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    luaL_argexpected(L, type == LUA_TNUMBER || type == LUA_TSTRING ||
                     type == LUA_TFUNCTION || type == LUA_TTABLE, 3, "string/function/table");
    int anchor = lp > 0 && *p == '^';
    if (anchor) {
        p++;
        lp--;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    struct wpo_pattern_match m;
    match_init(&m, L, s, ls, p, lp);
    const char *last = NULL;
    lua_Integer count = 0;
    int changed = 0;
    while (count < max) {
        match_reset(&m);
        const char *e = match_here(&m, s, p);
        if (e && e != last) {
            count++;
            changed |= replace(&m, &b, s, e, type);
            s = last = e;
        } else if (s < m.subject_end) {
            luaL_addchar(&b, *s++);
        } else {
            break;
        }
        if (anchor)
            break;
    }
    charge(&m, bytes_units((size_t)(m.subject_end - s)));
    charge_flush(&m);
    if (changed) {
        luaL_addlstring(&b, s, (size_t)(m.subject_end - s));
        luaL_pushresult(&b);
    } else {
        lua_pushvalue(L, 1);
    }
    lua_pushinteger(L, count);
    return 2;
}

static const luaL_Reg pattern_functions[] = {
    {"find", l_pattern_find},
    {"match", l_pattern_match},
    {"gmatch", l_pattern_gmatch},
    {"gsub", l_pattern_gsub},
    {NULL, NULL}
};

int luaopen_wpo_core_pattern(lua_State *L)
{
    luaL_newlib(L, pattern_functions);
    return 1;
}
