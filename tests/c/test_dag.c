/*
 * test_dag.c — the dependency graph in C: insertion, edges, cycles, order,
 * and a walk's ready set, failure propagation and reverse direction.
 */
#include <stdlib.h>
#include <time.h>

#include "dag.h"
#include "test.h"

static struct wpo_dag *graph(const char *const *ids, size_t n)
{
    struct wpo_dag *g = wpo_dag_new();
    char err[128];
    for (size_t i = 0; i < n; i++)
        CHECK(wpo_dag_add(g, ids[i], NULL, err, sizeof err) == (long)i);
    return g;
}

static void test_add_find_duplicate(void)
{
    static const char *const ids[] = {"a", "b", "c"};
    struct wpo_dag *g = graph(ids, 3);
    char err[128];
    CHECK(wpo_dag_find(g, "b") == 1);
    CHECK(wpo_dag_find(g, "zz") == -1);
    CHECK(wpo_dag_add(g, "b", NULL, err, sizeof err) == -1);
    CHECK_STR(err, "duplicate node 'b'");
    CHECK_STR(wpo_dag_label(g, 2), "c");
    wpo_dag_free(g);
}

static void test_repeated_edge_kept_once(void)
{
    static const char *const ids[] = {"a", "b"};
    struct wpo_dag *g = graph(ids, 2);
    CHECK(wpo_dag_depend(g, 0, 1) == 0);
    CHECK(wpo_dag_depend(g, 0, 1) == 0);
    const uint32_t *l;
    CHECK(wpo_dag_neighbours(g, 0, 0, &l) == 1);
    CHECK(wpo_dag_neighbours(g, 1, 1, &l) == 1 && l[0] == 0);
    CHECK(wpo_dag_edges(g) == 1);
    wpo_dag_free(g);
}

static void test_cycle_is_reported_in_order(void)
{
    static const char *const ids[] = {"x", "a", "b", "c"};
    struct wpo_dag *g = graph(ids, 4);
    wpo_dag_depend(g, 0, 1);       /* x -> a -> b -> c -> a */
    wpo_dag_depend(g, 1, 2);
    wpo_dag_depend(g, 2, 3);
    wpo_dag_depend(g, 3, 1);
    uint32_t *cycle;
    size_t n;
    CHECK(wpo_dag_check(g, &cycle, &n) == -1);
    CHECK(n == 3);
    if (cycle && n == 3)
        CHECK(cycle[0] == 1 && cycle[1] == 2 && cycle[2] == 3);
    free(cycle);
    CHECK(wpo_dag_walk(g, 0) == -1);
    wpo_dag_free(g);
}

static void test_self_edge_is_a_cycle(void)
{
    static const char *const ids[] = {"a"};
    struct wpo_dag *g = graph(ids, 1);
    wpo_dag_depend(g, 0, 0);
    uint32_t *cycle;
    size_t n;
    CHECK(wpo_dag_check(g, &cycle, &n) == -1);
    CHECK(n == 1 && cycle && cycle[0] == 0);
    free(cycle);
    wpo_dag_free(g);
}

static void test_order_and_reverse(void)
{
    static const char *const ids[] = {"subnet", "vpc", "sg"};
    struct wpo_dag *g = graph(ids, 3);
    wpo_dag_depend(g, 0, 1);
    wpo_dag_depend(g, 2, 1);
    uint32_t order[3];
    CHECK(wpo_dag_order(g, 0, order) == 0);
    CHECK(order[0] == 1 && order[1] == 0 && order[2] == 2);
    CHECK(wpo_dag_order(g, 1, order) == 0);
    CHECK(order[0] == 0 && order[1] == 2 && order[2] == 1);
    wpo_dag_free(g);
}

static void test_walk_hands_out_each_node_when_ready(void)
{
    /* d waits for b and c; b and c wait for a */
    static const char *const ids[] = {"a", "b", "c", "d"};
    struct wpo_dag *g = graph(ids, 4);
    wpo_dag_depend(g, 1, 0);
    wpo_dag_depend(g, 2, 0);
    wpo_dag_depend(g, 3, 1);
    wpo_dag_depend(g, 3, 2);
    CHECK(wpo_dag_walk(g, 0) == 0);
    CHECK(wpo_dag_next(g) == 0);
    CHECK(wpo_dag_next(g) == -1);
    CHECK(wpo_dag_done(g, 0) == 0);
    CHECK(wpo_dag_done(g, 0) == -1);       /* not running any more */
    CHECK(wpo_dag_next(g) == 1);
    CHECK(wpo_dag_next(g) == 2);
    CHECK(wpo_dag_done(g, 2) == 0);
    CHECK(wpo_dag_next(g) == -1);          /* d still waits for b */
    CHECK(wpo_dag_done(g, 1) == 0);
    CHECK(wpo_dag_next(g) == 3);
    size_t counts[6];
    wpo_dag_counts(g, counts);
    CHECK(counts[WPO_DAG_DONE] == 3 && counts[WPO_DAG_RUNNING] == 1);
    wpo_dag_free(g);
}

static void test_failure_skips_dependents_only(void)
{
    /* b -> a, c -> b, e -> d: a fails, so b and c are skipped; d, e run */
    static const char *const ids[] = {"a", "b", "c", "d", "e"};
    struct wpo_dag *g = graph(ids, 5);
    wpo_dag_depend(g, 1, 0);
    wpo_dag_depend(g, 2, 1);
    wpo_dag_depend(g, 4, 3);
    CHECK(wpo_dag_walk(g, 0) == 0);
    CHECK(wpo_dag_next(g) == 0);
    CHECK(wpo_dag_next(g) == 3);
    uint32_t skipped[5];
    CHECK(wpo_dag_fail(g, 0, skipped) == 2);
    CHECK(skipped[0] == 1 && skipped[1] == 2);
    long cause;
    CHECK(wpo_dag_status(g, 2, &cause) == WPO_DAG_SKIPPED && cause == 0);
    CHECK(wpo_dag_status(g, 0, &cause) == WPO_DAG_FAILED && cause == -1);
    CHECK(wpo_dag_done(g, 3) == 0);
    CHECK(wpo_dag_next(g) == 4);
    CHECK(wpo_dag_next(g) == -1);
    wpo_dag_free(g);
}

static void test_reverse_walk_starts_from_dependents(void)
{
    static const char *const ids[] = {"vpc", "subnet"};
    struct wpo_dag *g = graph(ids, 2);
    wpo_dag_depend(g, 1, 0);
    CHECK(wpo_dag_walk(g, 1) == 0);
    CHECK(wpo_dag_next(g) == 1);
    CHECK(wpo_dag_next(g) == -1);
    uint32_t skipped[2];
    CHECK(wpo_dag_fail(g, 1, skipped) == 1 && skipped[0] == 0);
    wpo_dag_free(g);
}

static void test_large_chain_and_fan(void)
{
    /* 20,000 nodes: a chain plus every node depending on node 0. */
    enum { N = 20000 };
    struct wpo_dag *g = wpo_dag_new();
    char id[32], err[64];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "n%d", i);
        CHECK(wpo_dag_add(g, id, NULL, err, sizeof err) == i);
    }
    for (int i = 1; i < N; i++) {
        wpo_dag_depend(g, (size_t)i, (size_t)i - 1);
        wpo_dag_depend(g, (size_t)i, 0);
    }
    CHECK(wpo_dag_edges(g) == 2 * N - 3);
    clock_t t0 = clock();
    CHECK(wpo_dag_walk(g, 0) == 0);
    long k, seen = 0, last = -1;
    while ((k = wpo_dag_next(g)) >= 0) {
        CHECK(k == last + 1);
        last = k;
        seen++;
        wpo_dag_done(g, (size_t)k);
    }
    CHECK(seen == N);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(secs < 5.0);      /* a generous bound: quadratic work would take far longer */
    wpo_dag_free(g);
}

int main(void)
{
    static const struct test_case cases[] = {
        TEST(test_add_find_duplicate),
        TEST(test_repeated_edge_kept_once),
        TEST(test_cycle_is_reported_in_order),
        TEST(test_self_edge_is_a_cycle),
        TEST(test_order_and_reverse),
        TEST(test_walk_hands_out_each_node_when_ready),
        TEST(test_failure_skips_dependents_only),
        TEST(test_reverse_walk_starts_from_dependents),
        TEST(test_large_chain_and_fan),
        {NULL, NULL}
    };
    return test_run("dag", cases);
}
