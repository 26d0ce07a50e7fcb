/*
 * dag.c — wpo.core.dag: the dependency graph of a stack's resources, kept in
 * C. It owns nodes (string id + a label for messages, e.g. "address
 * (file:line)"), edges ("a depends on b"), cycle detection, topological order
 * and the bookkeeping of a walk: the ready set, done / failed marking, and
 * failure propagation (every transitive dependent not yet started becomes
 * skipped, naming the failed node). Everything is O(V + E).
 * It owns no scheduling: apply.lua starts the work and reports back here.
 */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dag.h"
#include "guard.h"

struct wpo_dag_list {
    uint32_t *v;
    uint32_t n, cap;
};

struct wpo_dag_node {
    char *id, *label;
    struct wpo_dag_list deps, rdeps;   /* what it waits for / what waits for it */
    uint32_t waiting;                  /* walk: prerequisites not yet done */
    uint32_t height;                   /* walk: nodes on the longest chain from it to the end */
    uint8_t status;
    int32_t cause;                     /* skipped: the failed node, else -1 */
};

struct wpo_dag {
    struct wpo_dag_node *nodes;
    size_t n, cap;
    uint32_t *slots;                   /* id -> index + 1, open addressing */
    size_t nslots;
    uint64_t *edges;                   /* (from + 1) << 32 | (to + 1), 0 = empty */
    size_t nedges, edge_slots;
    uint32_t *queue;                   /* the ready set: a heap, tallest first (lazy removal of skipped) */
    size_t qlen;
    int reverse;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t hash_u64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}

static int list_push(struct wpo_dag_list *l, uint32_t v)
{
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 4;
        uint32_t *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

struct wpo_dag *wpo_dag_new(void)
{
    return calloc(1, sizeof(struct wpo_dag));
}

void wpo_dag_free(struct wpo_dag *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++) {
        free(g->nodes[i].id);
        free(g->nodes[i].label);
        free(g->nodes[i].deps.v);
        free(g->nodes[i].rdeps.v);
    }
    free(g->nodes);
    free(g->slots);
    free(g->edges);
    free(g->queue);
    free(g);
}

size_t wpo_dag_size(const struct wpo_dag *g) { return g->n; }
size_t wpo_dag_edges(const struct wpo_dag *g) { return g->nedges; }
const char *wpo_dag_id(const struct wpo_dag *g, size_t node) { return g->nodes[node].id; }
const char *wpo_dag_label(const struct wpo_dag *g, size_t node) { return g->nodes[node].label; }

long wpo_dag_find(const struct wpo_dag *g, const char *id)
{
    if (!g->nslots)
        return -1;
    size_t mask = g->nslots - 1;
    for (size_t i = hash_str(id) & mask;; i = (i + 1) & mask) {
        uint32_t s = g->slots[i];
        if (!s)
            return -1;
        if (strcmp(g->nodes[s - 1].id, id) == 0)
            return (long)s - 1;
    }
}

static int slots_grow(struct wpo_dag *g)
{
    size_t nslots = g->nslots ? g->nslots * 2 : 64;
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t k = 0; k < g->n; k++) {
        size_t i = hash_str(g->nodes[k].id) & (nslots - 1);
        while (slots[i])
            i = (i + 1) & (nslots - 1);
        slots[i] = (uint32_t)k + 1;
    }
    free(g->slots);
    g->slots = slots;
    g->nslots = nslots;
    return 0;
}

long wpo_dag_add(struct wpo_dag *g, const char *id, const char *label, char *err, size_t errlen)
{
    if (wpo_dag_find(g, id) >= 0) {
        snprintf(err, errlen, "duplicate node '%s'", id);
        return -1;
    }
    if (g->n >= UINT32_MAX - 1) {
        snprintf(err, errlen, "too many nodes");
        return -1;
    }
    if ((g->n + 1) * 2 > g->nslots && slots_grow(g) != 0)
        goto nomem;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        struct wpo_dag_node *nodes = realloc(g->nodes, cap * sizeof *nodes);
        if (!nodes)
            goto nomem;
        g->nodes = nodes;
        g->cap = cap;
    }
    struct wpo_dag_node *nd = &g->nodes[g->n];
    memset(nd, 0, sizeof *nd);
    nd->cause = -1;
    nd->id = strdup(id);
    nd->label = strdup(label ? label : id);
    if (!nd->id || !nd->label) {
        free(nd->id);
        free(nd->label);
        goto nomem;
    }
    size_t mask = g->nslots - 1, i = hash_str(id) & mask;
    while (g->slots[i])
        i = (i + 1) & mask;
    g->slots[i] = (uint32_t)g->n + 1;
    return (long)g->n++;
nomem:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static int edge_insert(uint64_t *edges, size_t nslots, uint64_t key)
{
    size_t mask = nslots - 1;
    for (size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
        if (edges[i] == key)
            return 0;
        if (!edges[i]) {
            edges[i] = key;
            return 1;
        }
    }
}

int wpo_dag_depend(struct wpo_dag *g, size_t node, size_t on)
{
    if ((g->nedges + 1) * 2 > g->edge_slots) {
        size_t nslots = g->edge_slots ? g->edge_slots * 2 : 128;
        uint64_t *edges = calloc(nslots, sizeof *edges);
        if (!edges)
            return -1;
        for (size_t i = 0; i < g->edge_slots; i++)
            if (g->edges[i])
                edge_insert(edges, nslots, g->edges[i]);
        free(g->edges);
        g->edges = edges;
        g->edge_slots = nslots;
    }
    uint64_t key = ((uint64_t)(node + 1) << 32) | (uint64_t)(on + 1);
    size_t mask = g->edge_slots - 1;
    for (size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
        if (g->edges[i] == key)
            return 0;
        if (!g->edges[i])
            break;
    }
    if (list_push(&g->nodes[node].deps, (uint32_t)on) != 0)
        return -1;
    if (list_push(&g->nodes[on].rdeps, (uint32_t)node) != 0) {
        g->nodes[node].deps.n--;
        return -1;
    }
    edge_insert(g->edges, g->edge_slots, key);
    g->nedges++;
    return 0;
}

size_t wpo_dag_neighbours(const struct wpo_dag *g, size_t node, int out, const uint32_t **list)
{
    const struct wpo_dag_list *l = out ? &g->nodes[node].rdeps : &g->nodes[node].deps;
    *list = l->v;
    return l->n;
}

/* Iterative depth-first search along "depends on" edges; a grey node met
 * again closes a cycle, which is the stretch of the path from it. */
int wpo_dag_check(const struct wpo_dag *g, uint32_t **cycle, size_t *ncycle)
{
    *cycle = NULL;
    *ncycle = 0;
    if (g->n == 0)
        return 0;
    uint8_t *colour = calloc(g->n, 1);
    uint32_t *path = malloc(g->n * sizeof *path);
    uint32_t *next = malloc(g->n * sizeof *next);
    int rc = 0;
    if (!colour || !path || !next) {
        rc = -1;
        goto cleanup;
    }
    for (size_t root = 0; root < g->n && rc == 0; root++) {
        if (colour[root])
            continue;
        size_t depth = 0;
        path[depth] = (uint32_t)root;
        next[depth] = 0;
        colour[root] = 1;
        while (depth != (size_t)-1) {
            const struct wpo_dag_node *nd = &g->nodes[path[depth]];
            if (next[depth] == nd->deps.n) {
                colour[path[depth]] = 2;
                depth--;
                continue;
            }
            uint32_t to = nd->deps.v[next[depth]++];
            if (colour[to] == 1) {
                size_t start = depth;
                while (path[start] != to)
                    start--;
                *ncycle = depth - start + 1;
                *cycle = malloc(*ncycle * sizeof **cycle);
                if (*cycle)
                    memcpy(*cycle, path + start, *ncycle * sizeof **cycle);
                rc = -1;
                break;
            }
            if (colour[to] == 0) {
                colour[to] = 1;
                depth++;
                path[depth] = to;
                next[depth] = 0;
            }
        }
    }
cleanup:
    free(colour);
    free(path);
    free(next);
    return rc;
}

/* Kahn's algorithm, taking nodes in index order among the ready ones. */
int wpo_dag_order(const struct wpo_dag *g, int reverse, uint32_t *order)
{
    uint32_t *waiting = malloc((g->n ? g->n : 1) * sizeof *waiting);
    if (!waiting)
        return -1;
    size_t head = 0, tail = 0;
    for (size_t i = 0; i < g->n; i++) {
        waiting[i] = reverse ? g->nodes[i].rdeps.n : g->nodes[i].deps.n;
        if (!waiting[i])
            order[tail++] = (uint32_t)i;
    }
    while (head < tail) {
        const struct wpo_dag_node *nd = &g->nodes[order[head++]];
        const struct wpo_dag_list *l = reverse ? &nd->deps : &nd->rdeps;
        for (uint32_t k = 0; k < l->n; k++)
            if (--waiting[l->v[k]] == 0)
                order[tail++] = l->v[k];
    }
    free(waiting);
    return tail == g->n ? 0 : -1;
}

/* The ready set is a binary heap: the node with the longest chain still
 * waiting behind it comes first (it bounds the walk's end), ties in index
 * order. Every node enters it at most once per walk. */
static int taller(const struct wpo_dag *g, uint32_t a, uint32_t b)
{
    uint32_t ha = g->nodes[a].height, hb = g->nodes[b].height;
    return ha != hb ? ha > hb : a < b;
}

static void ready_push(struct wpo_dag *g, uint32_t node)
{
    size_t i = g->qlen++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!taller(g, node, g->queue[parent]))
            break;
        g->queue[i] = g->queue[parent];
        i = parent;
    }
    g->queue[i] = node;
}

static uint32_t ready_pop(struct wpo_dag *g)
{
    uint32_t top = g->queue[0], last = g->queue[--g->qlen];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= g->qlen)
            break;
        if (c + 1 < g->qlen && taller(g, g->queue[c + 1], g->queue[c]))
            c++;
        if (!taller(g, g->queue[c], last))
            break;
        g->queue[i] = g->queue[c];
        i = c;
    }
    if (g->qlen)
        g->queue[i] = last;
    return top;
}

/* The nodes that wait for `node` in the current walk's direction. */
static const struct wpo_dag_list *waiters(const struct wpo_dag *g, size_t node);

int wpo_dag_walk(struct wpo_dag *g, int reverse)
{
    uint32_t *cycle;
    size_t ncycle;
    if (wpo_dag_check(g, &cycle, &ncycle) != 0) {
        free(cycle);
        return -1;
    }
    free(g->queue);
    g->queue = malloc((g->n ? g->n : 1) * sizeof *g->queue);
    if (!g->queue)
        return -1;
    g->qlen = 0;
    g->reverse = reverse;
    /* heights, from the end of the walk backwards (the queue lends its space
     * for the order) */
    if (wpo_dag_order(g, reverse, g->queue) != 0)
        return -1;
    for (size_t k = g->n; k-- > 0;) {
        uint32_t i = g->queue[k], tallest = 0;
        const struct wpo_dag_list *l = waiters(g, i);
        for (uint32_t j = 0; j < l->n; j++)
            if (g->nodes[l->v[j]].height > tallest)
                tallest = g->nodes[l->v[j]].height;
        g->nodes[i].height = tallest + 1;
    }
    for (size_t i = 0; i < g->n; i++) {
        struct wpo_dag_node *nd = &g->nodes[i];
        nd->waiting = reverse ? nd->rdeps.n : nd->deps.n;
        nd->cause = -1;
        nd->status = nd->waiting ? WPO_DAG_PENDING : WPO_DAG_READY;
        if (!nd->waiting)
            ready_push(g, (uint32_t)i);
    }
    return 0;
}

long wpo_dag_next(struct wpo_dag *g)
{
    while (g->queue && g->qlen > 0) {
        uint32_t i = ready_pop(g);
        if (g->nodes[i].status == WPO_DAG_READY) {
            g->nodes[i].status = WPO_DAG_RUNNING;
            return (long)i;
        }
    }
    return -1;
}

/* The nodes that wait for `node` in the current walk's direction. */
static const struct wpo_dag_list *waiters(const struct wpo_dag *g, size_t node)
{
    return g->reverse ? &g->nodes[node].deps : &g->nodes[node].rdeps;
}

int wpo_dag_done(struct wpo_dag *g, size_t node)
{
    struct wpo_dag_node *nd = &g->nodes[node];
    if (!g->queue || nd->status != WPO_DAG_RUNNING)
        return -1;
    nd->status = WPO_DAG_DONE;
    const struct wpo_dag_list *l = waiters(g, node);
    for (uint32_t k = 0; k < l->n; k++) {
        struct wpo_dag_node *w = &g->nodes[l->v[k]];
        if (--w->waiting == 0 && w->status == WPO_DAG_PENDING) {
            w->status = WPO_DAG_READY;
            ready_push(g, l->v[k]);
        }
    }
    return 0;
}

size_t wpo_dag_fail(struct wpo_dag *g, size_t node, uint32_t *skipped)
{
    struct wpo_dag_node *nd = &g->nodes[node];
    if (!g->queue || nd->status == WPO_DAG_DONE || nd->status == WPO_DAG_FAILED
        || nd->status == WPO_DAG_SKIPPED)
        return 0;
    nd->status = WPO_DAG_FAILED;
    /* Breadth-first over waiters; skipped[] doubles as the queue, since a
     * node enters it exactly once, when it is skipped. */
    size_t count = 0;
    for (size_t head = 0, from = node;; from = skipped[head++]) {
        const struct wpo_dag_list *l = waiters(g, from);
        for (uint32_t k = 0; k < l->n; k++) {
            struct wpo_dag_node *w = &g->nodes[l->v[k]];
            if (w->status != WPO_DAG_PENDING && w->status != WPO_DAG_READY)
                continue;
            w->status = WPO_DAG_SKIPPED;
            w->cause = (int32_t)node;
            skipped[count++] = l->v[k];
        }
        if (head == count)
            break;
    }
    return count;
}

enum wpo_dag_status wpo_dag_status(const struct wpo_dag *g, size_t node, long *cause)
{
    if (cause)
        *cause = g->nodes[node].cause;
    return (enum wpo_dag_status)g->nodes[node].status;
}

void wpo_dag_counts(const struct wpo_dag *g, size_t counts[6])
{
    memset(counts, 0, 6 * sizeof counts[0]);
    for (size_t i = 0; i < g->n; i++)
        counts[g->nodes[i].status]++;
}

/* ---- Lua binding ---- */

#define DAG_MT "wpo.dag.graph"

static const char *const status_names[] = {
    "pending", "ready", "running", "done", "failed", "skipped"
};

struct dag_ud {
    struct wpo_dag *g;
    int walking;
};

static struct dag_ud *check_ud(lua_State *L)
{
    return luaL_checkudata(L, 1, DAG_MT);
}

static struct wpo_dag *check_graph(lua_State *L)
{
    struct dag_ud *u = check_ud(L);
    if (!u->g)
        luaL_error(L, "attempt to use a closed graph");
    return u->g;
}

static size_t check_node(lua_State *L, struct wpo_dag *g, int arg)
{
    const char *id = luaL_checkstring(L, arg);
    long i = wpo_dag_find(g, id);
    if (i < 0)
        luaL_argerror(L, arg, lua_pushfstring(L, "no node '%s' in the graph", id));
    return (size_t)i;
}

static struct dag_ud *check_walking(lua_State *L)
{
    struct dag_ud *u = check_ud(L);
    check_graph(L);
    if (!u->walking)
        luaL_error(L, "no walk in progress (call graph:walk() first)");
    return u;
}

static void free_cycle(void *p)
{
    free(p);
}

/* Pushes nil, "dependency cycle: a (f:1) -> b (f:2) -> a (f:1)", {ids}.
 * The guard owns cycle (from wpo_dag_check) while the message is built. */
static int push_cycle(lua_State *L, struct wpo_dag *g, struct wpo_guard *gd, uint32_t *cycle, size_t n)
{
    wpo_guard_hold(gd, cycle, free_cycle);
    if (!cycle) {
        luaL_pushfail(L);
        lua_pushliteral(L, "out of memory");
        return 2;
    }
    luaL_Buffer b;
    luaL_pushfail(L);
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "dependency cycle: ");
    for (size_t i = 0; i <= n; i++) {
        if (i)
            luaL_addstring(&b, " -> ");
        luaL_addstring(&b, g->nodes[cycle[i % n]].label);
    }
    luaL_pushresult(&b);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, g->nodes[cycle[i]].id);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    wpo_guard_free(gd, cycle);
    return 3;
}

/* dag.new() -> graph */
static int l_dag_new(lua_State *L)
{
    struct dag_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->g = NULL;
    u->walking = 0;
    luaL_setmetatable(L, DAG_MT);
    u->g = wpo_dag_new();
    if (!u->g)
        return luaL_error(L, "out of memory");
    return 1;
}

/* graph:add(id, label?) -> graph   (a duplicate id raises) */
static int l_dag_add(lua_State *L)
{
    struct dag_ud *u = check_ud(L);
    struct wpo_dag *g = check_graph(L);
    const char *id = luaL_checkstring(L, 2);
    const char *label = luaL_optstring(L, 3, id);
    if (u->walking)
        return luaL_error(L, "cannot add nodes during a walk");
    char err[256];
    if (wpo_dag_add(g, id, label, err, sizeof err) < 0)
        return luaL_error(L, "%s", err);
    lua_settop(L, 1);
    return 1;
}

/* graph:depend(id, on_id) -> graph   (id waits for on_id) */
static int l_dag_depend(lua_State *L)
{
    struct dag_ud *u = check_ud(L);
    struct wpo_dag *g = check_graph(L);
    size_t a = check_node(L, g, 2), b = check_node(L, g, 3);
    if (u->walking)
        return luaL_error(L, "cannot add edges during a walk");
    if (wpo_dag_depend(g, a, b) != 0)
        return luaL_error(L, "out of memory");
    lua_settop(L, 1);
    return 1;
}

/* graph:has(id) -> boolean */
static int l_dag_has(lua_State *L)
{
    struct wpo_dag *g = check_graph(L);
    lua_pushboolean(L, wpo_dag_find(g, luaL_checkstring(L, 2)) >= 0);
    return 1;
}

/* graph:label(id) -> label */
static int l_dag_label(lua_State *L)
{
    struct wpo_dag *g = check_graph(L);
    lua_pushstring(L, g->nodes[check_node(L, g, 2)].label);
    return 1;
}

/* graph:size() -> nodes, edges */
static int l_dag_size(lua_State *L)
{
    struct wpo_dag *g = check_graph(L);
    lua_pushinteger(L, (lua_Integer)g->n);
    lua_pushinteger(L, (lua_Integer)g->nedges);
    return 2;
}

static void push_ids(lua_State *L, struct wpo_dag *g, const uint32_t *v, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, g->nodes[v[i]].id);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* graph:ids() -> { id... } in insertion order */
static int l_dag_ids(lua_State *L)
{
    struct wpo_dag *g = check_graph(L);
    lua_createtable(L, (int)g->n, 0);
    for (size_t i = 0; i < g->n; i++) {
        lua_pushstring(L, g->nodes[i].id);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* graph:deps(id) -> { id... }: what id waits for */
static int l_dag_deps(lua_State *L)
{
    struct wpo_dag *g = check_graph(L);
    size_t i = check_node(L, g, 2);
    push_ids(L, g, g->nodes[i].deps.v, g->nodes[i].deps.n);
    return 1;
}

/* graph:dependents(id) -> { id... }: what waits for id */
static int l_dag_dependents(lua_State *L)
{
    struct wpo_dag *g = check_graph(L);
    size_t i = check_node(L, g, 2);
    push_ids(L, g, g->nodes[i].rdeps.v, g->nodes[i].rdeps.n);
    return 1;
}

/* graph:closure({ id... }, "deps" | "dependents") -> { id... }: the given
 * nodes and everything they (transitively) wait for, or that waits for them,
 * in insertion order. */
static int l_dag_closure(lua_State *L)
{
    static const char *const dirs[] = {"deps", "dependents", NULL};
    struct wpo_dag *g = check_graph(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    int out = luaL_checkoption(L, 3, "deps", dirs);
    size_t n = g->n ? g->n : 1;
    uint8_t *seen = lua_newuserdatauv(L, n, 0);
    uint32_t *todo = lua_newuserdatauv(L, n * sizeof *todo, 0);
    memset(seen, 0, n);
    size_t head = 0, tail = 0;
    lua_Integer len = luaL_len(L, 2);
    for (lua_Integer k = 1; k <= len; k++) {
        lua_rawgeti(L, 2, k);
        long i = wpo_dag_find(g, luaL_checkstring(L, -1));
        if (i < 0)
            return luaL_error(L, "no node '%s' in the graph", lua_tostring(L, -1));
        lua_pop(L, 1);
        if (!seen[i]) {
            seen[i] = 1;
            todo[tail++] = (uint32_t)i;
        }
    }
    while (head < tail) {
        const struct wpo_dag_node *nd = &g->nodes[todo[head++]];
        const struct wpo_dag_list *l = out ? &nd->rdeps : &nd->deps;
        for (uint32_t k = 0; k < l->n; k++)
            if (!seen[l->v[k]]) {
                seen[l->v[k]] = 1;
                todo[tail++] = l->v[k];
            }
    }
    lua_createtable(L, (int)tail, 0);
    lua_Integer k = 0;
    for (size_t i = 0; i < g->n; i++)
        if (seen[i]) {
            lua_pushstring(L, g->nodes[i].id);
            lua_rawseti(L, -2, ++k);
        }
    return 1;
}

/* graph:check() -> true | nil, "dependency cycle: ...", { id... } */
static int l_dag_check(lua_State *L)
{
    struct wpo_dag *g = check_graph(L);
    uint32_t *cycle;
    size_t n;
    struct wpo_guard *gd = wpo_guard_new(L);   /* made before the cycle is */
    if (wpo_dag_check(g, &cycle, &n) != 0)
        return push_cycle(L, g, gd, cycle, n);
    lua_pushboolean(L, 1);
    return 1;
}

/* graph:order(reverse?) -> { id... } | nil, err, cycle: dependencies first
 * (reverse: dependents first), ties in insertion order */
static int l_dag_order(lua_State *L)
{
    struct wpo_dag *g = check_graph(L);
    int reverse = lua_toboolean(L, 2);
    uint32_t *order = lua_newuserdatauv(L, (g->n ? g->n : 1) * sizeof *order, 0);
    if (wpo_dag_order(g, reverse, order) != 0) {
        uint32_t *cycle;
        size_t n;
        struct wpo_guard *gd = wpo_guard_new(L);   /* made before the cycle is */
        if (wpo_dag_check(g, &cycle, &n) != 0)
            return push_cycle(L, g, gd, cycle, n);
        return luaL_error(L, "out of memory");
    }
    push_ids(L, g, order, g->n);
    return 1;
}

/* graph:walk(reverse?) -> true | nil, err, cycle: start a walk; a reverse
 * walk (destroy) hands a node out once everything that depends on it is done. */
static int l_dag_walk(lua_State *L)
{
    struct dag_ud *u = check_ud(L);
    struct wpo_dag *g = check_graph(L);
    if (wpo_dag_walk(g, lua_toboolean(L, 2)) != 0) {
        uint32_t *cycle;
        size_t n;
        struct wpo_guard *gd = wpo_guard_new(L);   /* made before the cycle is */
        if (wpo_dag_check(g, &cycle, &n) != 0)
            return push_cycle(L, g, gd, cycle, n);
        return luaL_error(L, "out of memory");
    }
    u->walking = 1;
    lua_pushboolean(L, 1);
    return 1;
}

/* graph:next() -> id | nil: a ready node, now running */
static int l_dag_next(lua_State *L)
{
    check_walking(L);
    struct wpo_dag *g = check_graph(L);
    long i = wpo_dag_next(g);
    if (i < 0)
        return 0;
    lua_pushstring(L, g->nodes[i].id);
    return 1;
}

/* graph:done(id): a running node succeeded */
static int l_dag_done(lua_State *L)
{
    check_walking(L);
    struct wpo_dag *g = check_graph(L);
    size_t i = check_node(L, g, 2);
    if (wpo_dag_done(g, i) != 0)
        return luaL_error(L, "node '%s' is %s, not running", g->nodes[i].id,
                          status_names[g->nodes[i].status]);
    return 0;
}

/* graph:fail(id) -> { skipped id... }: a node failed; every transitive
 * dependent not yet started is skipped ("skipped: upstream <id> failed") */
static int l_dag_fail(lua_State *L)
{
    check_walking(L);
    struct wpo_dag *g = check_graph(L);
    size_t i = check_node(L, g, 2);
    uint8_t st = g->nodes[i].status;
    if (st == WPO_DAG_DONE || st == WPO_DAG_FAILED || st == WPO_DAG_SKIPPED)
        return luaL_error(L, "node '%s' is already %s", g->nodes[i].id, status_names[st]);
    uint32_t *skipped = lua_newuserdatauv(L, (g->n ? g->n : 1) * sizeof *skipped, 0);
    size_t n = wpo_dag_fail(g, i, skipped);
    push_ids(L, g, skipped, n);
    return 1;
}

/* graph:status(id) -> "pending"|"ready"|"running"|"done"|"failed"|"skipped"
 *                     [, "skipped: upstream <id> failed", upstream id] */
static int l_dag_status(lua_State *L)
{
    struct dag_ud *u = check_ud(L);
    struct wpo_dag *g = check_graph(L);
    size_t i = check_node(L, g, 2);
    if (!u->walking) {
        lua_pushliteral(L, "pending");
        return 1;
    }
    long cause;
    enum wpo_dag_status st = wpo_dag_status(g, i, &cause);
    lua_pushstring(L, status_names[st]);
    if (st != WPO_DAG_SKIPPED || cause < 0)
        return 1;
    lua_pushfstring(L, "skipped: upstream %s failed", g->nodes[cause].id);
    lua_pushstring(L, g->nodes[cause].id);
    return 3;
}

/* graph:counts() -> { pending=, ready=, running=, done=, failed=, skipped= } */
static int l_dag_counts(lua_State *L)
{
    struct dag_ud *u = check_ud(L);
    struct wpo_dag *g = check_graph(L);
    size_t counts[6] = {0};
    if (u->walking)
        wpo_dag_counts(g, counts);
    else
        counts[WPO_DAG_PENDING] = g->n;
    lua_createtable(L, 0, 6);
    for (int k = 0; k < 6; k++) {
        lua_pushinteger(L, (lua_Integer)counts[k]);
        lua_setfield(L, -2, status_names[k]);
    }
    return 1;
}

/* graph:close(): free the graph (idempotent) */
static int l_dag_close(lua_State *L)
{
    struct dag_ud *u = check_ud(L);
    wpo_dag_free(u->g);
    u->g = NULL;
    u->walking = 0;
    return 0;
}

static int l_dag_tostring(lua_State *L)
{
    struct dag_ud *u = check_ud(L);
    if (!u->g)
        lua_pushliteral(L, "wpo.dag (closed)");
    else
        lua_pushfstring(L, "wpo.dag (%d nodes, %d edges)", (int)u->g->n, (int)u->g->nedges);
    return 1;
}

static const luaL_Reg dag_methods[] = {
    {"add", l_dag_add},
    {"depend", l_dag_depend},
    {"has", l_dag_has},
    {"label", l_dag_label},
    {"size", l_dag_size},
    {"ids", l_dag_ids},
    {"deps", l_dag_deps},
    {"dependents", l_dag_dependents},
    {"closure", l_dag_closure},
    {"check", l_dag_check},
    {"order", l_dag_order},
    {"walk", l_dag_walk},
    {"next", l_dag_next},
    {"done", l_dag_done},
    {"fail", l_dag_fail},
    {"status", l_dag_status},
    {"counts", l_dag_counts},
    {"close", l_dag_close},
    {NULL, NULL}
};

static const luaL_Reg dag_meta[] = {
    {"__gc", l_dag_close},
    {"__close", l_dag_close},
    {"__tostring", l_dag_tostring},
    {"__index", NULL},
    {NULL, NULL}
};

static const luaL_Reg dag_functions[] = {
    {"new", l_dag_new},
    {NULL, NULL}
};

int luaopen_wpo_core_dag(lua_State *L)
{
    luaL_newmetatable(L, DAG_MT);
    luaL_setfuncs(L, dag_meta, 0);
    luaL_newlibtable(L, dag_methods);
    luaL_setfuncs(L, dag_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, dag_functions);
    return 1;
}
