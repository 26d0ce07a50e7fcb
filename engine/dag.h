/*
 * dag.h — the dependency graph behind wpo.core.dag, for dag.c and its C test.
 * Nodes are numbered in insertion order; "a depends on b" is an edge a -> b.
 * A walk hands out nodes whose prerequisites are done (or, reversed, whose
 * dependents are done), in FIFO order, and propagates failure as skips.
 */
#ifndef WPO_DAG_H
#define WPO_DAG_H

#include <stddef.h>
#include <stdint.h>

enum wpo_dag_status {
    WPO_DAG_PENDING, WPO_DAG_READY, WPO_DAG_RUNNING,
    WPO_DAG_DONE, WPO_DAG_FAILED, WPO_DAG_SKIPPED
};

struct wpo_dag;

struct wpo_dag *wpo_dag_new(void);
void wpo_dag_free(struct wpo_dag *g);
size_t wpo_dag_size(const struct wpo_dag *g);
size_t wpo_dag_edges(const struct wpo_dag *g);

/* The new node's index, or -1 (err filled: duplicate id, out of memory). */
long wpo_dag_add(struct wpo_dag *g, const char *id, const char *label, char *err, size_t errlen);
/* The index of id, or -1. */
long wpo_dag_find(const struct wpo_dag *g, const char *id);
const char *wpo_dag_id(const struct wpo_dag *g, size_t node);
const char *wpo_dag_label(const struct wpo_dag *g, size_t node);
/* node depends on `on` (a repeated edge is kept once): 0, or -1 out of memory. */
int wpo_dag_depend(struct wpo_dag *g, size_t node, size_t on);
/* What node waits for (out = 0) or what waits for node (out = 1). */
size_t wpo_dag_neighbours(const struct wpo_dag *g, size_t node, int out, const uint32_t **list);

/* 0 when acyclic; -1 with *cycle (malloc'd, caller frees) the nodes of one
 * cycle in dependency order, each depending on the next, the last on the first. */
int wpo_dag_check(const struct wpo_dag *g, uint32_t **cycle, size_t *ncycle);
/* A topological order (dependencies first; reverse: dependents first) into
 * order[size]; 0, or -1 when there is a cycle. */
int wpo_dag_order(const struct wpo_dag *g, int reverse, uint32_t *order);

/* Start (or restart) a walk: every node pending, those with nothing to wait
 * for ready. 0, or -1 when there is a cycle or memory runs out. */
int wpo_dag_walk(struct wpo_dag *g, int reverse);
/* The next ready node, now running; -1 when none is ready. */
long wpo_dag_next(struct wpo_dag *g);
/* A running node finished: its waiters whose last prerequisite it was become ready. */
int wpo_dag_done(struct wpo_dag *g, size_t node);
/* A running (or ready/pending) node failed: every transitive waiter not yet
 * started is skipped with this node as its cause. Returns how many were
 * skipped; their indexes go to skipped[], which has room for size nodes. */
size_t wpo_dag_fail(struct wpo_dag *g, size_t node, uint32_t *skipped);
enum wpo_dag_status wpo_dag_status(const struct wpo_dag *g, size_t node, long *cause);
/* Number of nodes in each status, indexed by enum wpo_dag_status. */
void wpo_dag_counts(const struct wpo_dag *g, size_t counts[6]);

#endif
