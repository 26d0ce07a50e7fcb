/*
 * loop.h — the event loop's C API for the other engine modules.
 *
 * One loop per lua_State (created on first use, freed by lua_close). An
 * operation has an integer id (> 0) and ends in exactly one completion,
 * delivered by loop.wait on the main thread. Two kinds of operations are
 * started from C:
 *
 *   - curl transfers (http.c): the loop owns the easy handle and drives it
 *     in its multi handle; when the transfer ends, convert() turns it into a
 *     Lua value inside loop.wait.
 *   - worker operations (a libgit2 worker in git.c, say): started on the main
 *     thread with wpo_loop_op_start, finished from ANY thread with
 *     wpo_loop_post, which queues the result and wakes loop.wait
 *     (through the loop's eventfd). The result becomes a Lua value on the main thread,
 *     inside loop.wait, through the operation type's convert().
 *
 * convert() never runs inside a curl or worker callback, so it may use the
 * Lua API freely; it runs protected: if it raises, the completion fails with
 * code "internal" and the raised message.
 *
 * Cancelling (loop.cancel(id), or lua_close) completes the operation with
 * code "cancelled"; a result posted later for it is freed, never converted.
 */
#ifndef WPO_LOOP_H
#define WPO_LOOP_H

#include <stdint.h>

#include <curl/curl.h>
#include <lua.h>

/* Return values of the convert functions. */
#define WPO_LOOP_OK   1   /* pushed one value: the completion's value */
#define WPO_LOOP_FAIL 0   /* pushed two strings: message, then code */

/* A kind of worker operation. */
struct wpo_loop_op_type {
    const char *name;
    /* Main thread, inside loop.wait: push the value of result and return
     * WPO_LOOP_OK, or push a message and a code and return WPO_LOOP_FAIL.
     * Does not free result. */
    int (*convert)(lua_State *L, void *result);
    /* Any thread: free a result (after convert, or when it arrives for an
     * operation that was cancelled or a loop that was closed). */
    void (*free_result)(void *result);
    /* Main thread, exactly once per operation: the loop lets go of ctx.
     * cancelled = 1 when it was cancelled (or the loop closed) before its
     * result was delivered, 0 after delivery. May be NULL. */
    void (*release)(void *ctx, int cancelled);
};

/* A kind of curl transfer. */
struct wpo_loop_transfer_type {
    const char *name;
    /* Main thread, inside loop.wait, once the transfer ended with `code`:
     * as wpo_loop_op_type.convert. The easy handle is still valid. */
    int (*convert)(lua_State *L, CURL *easy, CURLcode code, void *ctx);
    /* Main thread: free ctx (after convert, on cancel, or on close). */
    void (*free)(void *ctx);
};

/* The thread-safe side of a loop that workers post through. Reference
 * counted: it outlives the loop while a worker still holds it. */
struct wpo_loop_queue;

/* Main thread. Start a worker operation; returns its id, and ctx is handed
 * back to type->release exactly once. Returns -1 when out of memory or while
 * lua_close runs (the loop is closed): then release is never called. */
int64_t wpo_loop_op_start(lua_State *L, const struct wpo_loop_op_type *type, void *ctx);

/* Main thread. A new reference to the loop's queue, for a worker thread
 * (NULL while lua_close runs). */
struct wpo_loop_queue *wpo_loop_queue_ref(lua_State *L);

/* Any thread. Drop a reference taken with wpo_loop_queue_ref. */
void wpo_loop_queue_unref(struct wpo_loop_queue *q);

/* Any thread. Post the result of operation id; ownership of result passes to
 * the loop (freed with type->free_result, which must be the operation's type).
 * Wakes a loop.wait that is blocked. */
void wpo_loop_post(struct wpo_loop_queue *q, int64_t id,
                   const struct wpo_loop_op_type *type, void *result);

/* Main thread. Hand a configured easy handle to the loop and start it;
 * returns its id, or -1 (with a message in err) when curl refuses it, in
 * which case the caller still owns easy and ctx. On success the loop owns
 * both (the easy handle's CURLOPT_PRIVATE is the loop's). */
int64_t wpo_loop_transfer_start(lua_State *L, CURL *easy,
                                const struct wpo_loop_transfer_type *type, void *ctx,
                                char *err, size_t errlen);

#endif
