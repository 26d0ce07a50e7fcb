/*
 * test_sandbox.c — the Lua state's allocator (engine/sandbox.c): blocks of
 * every size keep their bytes through any sequence of allocations, resizes
 * across the small-block classes and malloc's sizes, and frees; they are
 * aligned and never overlap, also once the system refuses memory; a Lua
 * state on it survives heavy churn.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "sandbox.h"
#include "test.h"

#define SLOTS 2000

struct slot {
    unsigned char *p;
    size_t size;
    unsigned char fill;
};

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* mostly small blocks, some around the 512-byte boundary, some large */
static size_t random_size(void)
{
    switch (rng() % 8) {
    case 0: return 1 + rng() % 16;
    case 1: return 500 + rng() % 30;
    case 2: return 1 + rng() % 5000;
    default: return 1 + rng() % 300;
    }
}

static int intact(const struct slot *s)
{
    for (size_t i = 0; i < s->size; i++)
        if (s->p[i] != (unsigned char)(s->fill + i))
            return 0;
    return 1;
}

static void fill(struct slot *s, size_t from)
{
    for (size_t i = from; i < s->size; i++)
        s->p[i] = (unsigned char)(s->fill + i);
}

static int by_address(const void *a, const void *b)
{
    const struct slot *x = a, *y = b;
    return x->p < y->p ? -1 : x->p > y->p;
}

static void test_blocks_keep_their_bytes(void)
{
    void *ud = wpo_sandbox_new();
    CHECK(ud != NULL);
    static struct slot slots[SLOTS];
    memset(slots, 0, sizeof slots);
    int broken = 0, misaligned = 0, failed = 0;
    for (int op = 0; op < 200000; op++) {
        struct slot *s = &slots[rng() % SLOTS];
        if (!s->p) {
            s->size = random_size();
            s->fill = (unsigned char)rng();
            s->p = wpo_sandbox_alloc(ud, NULL, LUA_TTABLE, s->size);
            if (!s->p) {
                failed++;
                continue;
            }
            fill(s, 0);
        } else if (rng() % 3 == 0) {
            broken += !intact(s);
            wpo_sandbox_alloc(ud, s->p, s->size, 0);
            s->p = NULL;
            continue;
        } else {
            broken += !intact(s);
            size_t n = random_size();
            unsigned char *q = wpo_sandbox_alloc(ud, s->p, s->size, n);
            if (!q) {
                failed++;
                continue;
            }
            size_t kept = n < s->size ? n : s->size;
            s->p = q;
            s->size = n;
            /* the first `kept` bytes moved with the block; the rest is new */
            for (size_t i = 0; i < kept; i++)
                broken += q[i] != (unsigned char)(s->fill + i);
            fill(s, kept);
        }
        misaligned += ((uintptr_t)s->p % 16) != 0;
    }
    CHECK(failed == 0);
    CHECK(broken == 0);
    CHECK(misaligned == 0);

    /* no two live blocks share a byte */
    static struct slot live[SLOTS];
    int n = 0;
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p)
            live[n++] = slots[i];
    qsort(live, (size_t)n, sizeof live[0], by_address);
    int overlaps = 0;
    for (int i = 1; i < n; i++)
        overlaps += live[i - 1].p + live[i - 1].size > live[i].p;
    CHECK(n > SLOTS / 4);
    CHECK(overlaps == 0);
    for (int i = 0; i < n; i++)
        CHECK(intact(&live[i]));
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].p)
            wpo_sandbox_alloc(ud, slots[i].p, slots[i].size, 0);
    wpo_sandbox_free(ud);
}

/* one block walked up through every size to well past the small classes and
 * back down, its bytes checked at each step */
static void test_resizes_across_classes(void)
{
    void *ud = wpo_sandbox_new();
    struct slot s = { NULL, 1, 7 };
    s.p = wpo_sandbox_alloc(ud, NULL, 0, 1);
    CHECK(s.p != NULL);
    fill(&s, 0);
    int broken = 0;
    for (size_t n = 2; n <= 1200; n++) {
        s.p = wpo_sandbox_alloc(ud, s.p, s.size, n);
        s.size = n;
        fill(&s, n - 1);
        broken += !intact(&s);
    }
    for (size_t n = 1199; n >= 1; n--) {
        s.p = wpo_sandbox_alloc(ud, s.p, s.size, n);
        s.size = n;
        broken += !intact(&s);
    }
    CHECK(broken == 0);
    wpo_sandbox_alloc(ud, s.p, s.size, 0);
    wpo_sandbox_free(ud);
}

/* a Lua state on the allocator: millions of bytes of strings and tables made
 * and collected, the results still right */
static void test_lua_state_churn(void)
{
    void *ud = wpo_sandbox_new();
    lua_State *L = lua_newstate(wpo_sandbox_alloc, ud);
    CHECK(L != NULL);
    luaL_openlibs(L);
    const char *script =
        "local keep, sum = {}, 0\n"
        "for i = 1, 200000 do\n"
        "  local t = { i, tostring(i), { x = i } }\n"
        "  if i % 7 == 0 then keep[#keep + 1] = t end\n"
        "  sum = sum + #t[2]\n"
        "end\n"
        "local check = 0\n"
        "for _, t in ipairs(keep) do\n"
        "  assert(t[2] == tostring(t[1]) and t[3].x == t[1])\n"
        "  check = check + t[1]\n"
        "end\n"
        "local s = string.rep('ab', 3000) .. 'c'\n"
        "assert(#s == 6001 and s:sub(-2) == 'bc')\n"
        "return sum, check, #keep\n";
    CHECK(luaL_dostring(L, script) == LUA_OK);
    CHECK(lua_tointeger(L, -3) == 1088895);             /* digits of 1..200000 */
    CHECK(lua_tointeger(L, -2) == (lua_Integer)7 * 28571 * 28572 / 2);
    CHECK(lua_tointeger(L, -1) == 28571);
    lua_close(L);
    wpo_sandbox_free(ud);
}

/* When the system refuses a new region, what was left of the old one went
 * to a free list: it must never be cut from again. In a child whose address
 * space is nearly full, blocks of every class are taken until one is refused,
 * and a few more after (Lua retries); every block keeps its own bytes. */
static int exhaust_in_child(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f || fscanf(f, "%lu", &pages) != 1)
        return 2;
    fclose(f);
    struct rlimit lim = {(rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (rlim_t)(9 << 20), 0};
    lim.rlim_max = lim.rlim_cur;
    if (setrlimit(RLIMIT_AS, &lim) != 0)
        return 2;
    void *ud = wpo_sandbox_new();
    enum { MAX = 1 << 20 };
    static unsigned char *blocks[MAX];
    static size_t sizes[MAX];
    int n = 0, refused = 0, attempt = 0;
    while (n < MAX && refused < 50) {
        size_t size = 16 * (size_t)(1 + (attempt++ * 7) % 32);   /* every class, shuffled */
        unsigned char *p = wpo_sandbox_alloc(ud, NULL, 0, size);
        if (!p) {
            refused++;
            continue;
        }
        memset(p, (unsigned char)n, size);
        blocks[n] = p;
        sizes[n++] = size;
    }
    if (!refused)
        return 3;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < sizes[i]; k++)
            if (blocks[i][k] != (unsigned char)i)
                return 1;
    return 0;
}

static void test_region_refused(void)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(exhaust_in_child());
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);   /* 1: two blocks shared bytes; 2, 3: the setup failed */
}

int main(void)
{
    static const struct test_case cases[] = {
        TEST(test_blocks_keep_their_bytes),
        TEST(test_resizes_across_classes),
        TEST(test_lua_state_churn),
        TEST(test_region_refused),
        {NULL, NULL}
    };
    return test_run("sandbox", cases);
}
