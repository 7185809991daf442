/*
 * pyglue.h -- private to the engine's CPython binding.  Never installed.
 *
 * The binding is a thin layer over the Python-free core: the coroutine
 * type asks the core's protocol state machine what to do, hands futures a
 * task waker from the core, and waits through one runtime interface
 * (yp__runtime_t) per event-loop library.
 *
 * The binding is a one-way stack; a file only calls into layers below its
 * own:
 *
 *   runtime.c     module state: yp_init and the teardown, composing the rest
 *   coroutine.c   the coroutine type; picks a runtime per coroutine
 *   asyncio_rt.c  trio_rt.c     the runtimes (yp__runtime_t below)
 *   hub.c         asyncio's wake delivery; the foreign-wake hubs
 *   waiter.c      what asyncio's Task waits on (asyncio's Future protocol)
 *   future.c cancel.c borrow.c detach.c select.c sleep.c    futures
 *
 * Each file owns its state (file-static) and clears it in its own fini.
 * The engine supports the main interpreter only.
 */
#ifndef YP_PY_PYGLUE_H
#define YP_PY_PYGLUE_H

#include "yieldpoint.h"
#include "internal.h"

#include <stddef.h>

/* ---------------------------------------------------------------------
 * The wait record: what a suspended coroutine waits on.  Embedded right
 * after the object header of the object that suspends (the coroutine), so
 * a runtime goes from the object to its record and back without knowing
 * the coroutine's layout.  GIL-guarded.
 */
typedef struct yp__runtime_s yp__runtime_t;

typedef struct yp__wait_s {
    const yp__runtime_t *rt;   /* of the first yield; NULL before it */
    PyObject *yielded;         /* strong: what we yielded to wait (asyncio
                                * waiter, trio WaitTaskRescheduled) or NULL */
    PyObject *loop;            /* strong: asyncio loop, trio's hub (which
                                * holds the TrioToken), or NULL */
    PyObject *task;            /* strong: the trio task while it waits;
                                * NULL once rescheduled or aborted */
    /* The thread that suspended is not kept here: only a task waker can
     * wake, so it lives in the waker's link (link.loop_thread, set by
     * bind at every arm), 8 bytes less per coroutine. */
} yp__wait_t;

typedef struct {
    PyObject_HEAD
    yp__wait_t wait;
} yp__waiting_t;

/* Borrowed: the record embedded in `obj`. */
static inline yp__wait_t *
yp__wait_of(PyObject *obj /* borrowed */)
{
    return &((yp__waiting_t *)obj)->wait;
}

/* Borrowed: the object the record is embedded in. */
static inline PyObject *
yp__wait_owner(yp__wait_t *w)
{
    return (PyObject *)((char *)w - offsetof(yp__waiting_t, wait));
}

/* ---------------------------------------------------------------------
 * Runtime interface: how a coroutine waits on the library driving it.
 * One implementation per library: asyncio (also uvloop and anyio's
 * asyncio backend: stdlib Future and Task), trio (also anyio's trio
 * backend).  Every function runs with the GIL held.
 *
 *  running    non-zero if this library drives the calling thread; cheap,
 *             never raises.  Asked before a coroutine's first yield only.
 *  yield_now  woken during the poll: what to yield for "poll me again
 *             soon" (new ref).
 *  suspend    after a PENDING poll: create what to yield (new ref) and
 *             fill the record.  NULL + exception when nothing runs here.
 *  bind       before arming: record the loop's thread in the task
 *             waker's link and attach it to the runtime's foreign-wake
 *             queue.
 *  deliver    after the task waker `tw` fired: make the driving task
 *             poll again (directly if called on tw's loop thread, else
 *             through the library's thread-safe door).  Never raises
 *             (reports unraisable).
 *  unwrap     (may be NULL) interpret a non-None value sent in: 0 a poll,
 *             1 a throw of *exc (new ref), -1 error.
 *  release    forget the wait target (a new poll begins).
 *  clear      forget everything (the coroutine finished).
 */
struct yp__runtime_s {
    int (*running)(void);
    PyObject *(*yield_now)(yp__wait_t *w);
    PyObject *(*suspend)(yp__wait_t *w);
    void (*bind)(yp__wait_t *w, yp__taskwaker_t *tw);
    void (*deliver)(yp__wait_t *w, yp__taskwaker_t *tw);
    int (*unwrap)(yp__wait_t *w, PyObject *sent, PyObject **exc);
    void (*release)(yp__wait_t *w);
    void (*clear)(yp__wait_t *w);
};

/* asyncio_rt.c */
extern const yp__runtime_t yp__asyncio_runtime;
int yp__asyncio_init(void);
void yp__asyncio_fini(void);

/* trio_rt.c.  trio is imported by the user, never by the engine: its
 * objects load at the first yield that finds trio running. */
extern const yp__runtime_t yp__trio_runtime;
int yp__trio_init(void);
void yp__trio_fini(void);

/* ---------------------------------------------------------------------
 * asyncio's waiter (waiter.c): what a coroutine yields to asyncio on a
 * real Pending, in place of a loop future.  One per wait.
 */
int yp__waiter_init(void);
void yp__waiter_fini(void);
/* A new pending waiter of `loop` with _asyncio_future_blocking set (new
 * ref), or NULL with an exception. */
PyObject *yp__waiter_new(PyObject *loop /* borrowed */);
/* Non-zero if `obj` is a waiter. */
int yp__waiter_check(PyObject *obj /* borrowed */);
/* The wake: end a pending wait with result None, scheduling its done
 * callbacks with loop.call_soon (the Task's wakeup).  A waiter that is
 * already done (cancelled) is left alone.  Loop thread, GIL held; 0, or
 * -1 with an exception (call_soon failed). */
int yp__waiter_resolve(PyObject *waiter /* borrowed */);

/* ---------------------------------------------------------------------
 * asyncio's wake delivery and the wake hubs (hub.c): one hub per asyncio
 * loop or trio run batches the wakes of foreign threads.  A drain
 * delivers each queued coroutine through its runtime's deliver, on the
 * loop's thread, if it still waits on the arming its wake fired.
 */
typedef struct yp__hub_s yp__hub_t;
int yp__hub_init(void);
void yp__hub_fini(void);
/* Resolve the record's waiter: directly on the loop thread, else
 * through call_soon_threadsafe.  Never raises. */
void yp__hub_deliver(yp__wait_t *w, yp__taskwaker_t *tw);
/* Before arming: record the loop thread and bind the waker to its loop's
 * queue (once). */
void yp__hub_bind(yp__wait_t *w, yp__taskwaker_t *tw);
/* trio's hub for `token` (new ref), shared by every coroutine of that
 * run; NULL with an exception on failure.  Its drain goes through
 * token.run_sync_soon; a RunFinishedError there drops the batch. */
PyObject *yp__hub_for_token(PyObject *token /* borrowed */);
/* The loop or token a hub serves (borrowed). */
PyObject *yp__hub_loop(PyObject *hub /* borrowed */);
/* yp__hub_bind for a record whose `loop` is the hub itself (trio). */
void yp__hub_bind_own(yp__wait_t *w, yp__taskwaker_t *tw);
/* From notify, any thread, no GIL: queue a foreign wake.  Returns 0 when
 * the wake is not batchable (loop thread, or the waker is bound to no
 * queue: another runtime): deliver directly.  A task waker's data is its
 * coroutine's yp__wait_t. */
int yp__hub_notify(yp__taskwaker_t *tw);

/* ---------------------------------------------------------------------
 * The coroutine object (coroutine.c).
 */
typedef struct yp__coro_s {
    PyObject_HEAD
    yp__wait_t cr_wait;            /* first: see yp__waiting_t */
    yp_future_t *cr_future;        /* owned; NULL once dropped */
    /* The waker every poll hands the future, embedded (one heap block
     * less per suspended coroutine).  The coroutine owns one reference
     * until the object is freed; while a future's clone is still out the
     * memory outlives the object (coroutine.c, "The task waker"). */
    yp__taskwaker_t cr_tw;
    char cr_finalized;             /* tp_finalize ran: never recycle */
    yp__proto_t cr_proto;          /* two bytes: in the padding here */
    yp_cancel_t *cr_cancel;        /* owned ref, or NULL */
    const char *cr_name;           /* static */
    const char *cr_qualname;       /* static */
    PyObject *cr_weakreflist;
} yp__coro_t;

int yp__coroutine_init(void);
/* Non-zero: wakes from foreign threads may attach to the interpreter.
 * Turned off before teardown, so a timer thread or a user thread waking
 * late never calls PyGILState_Ensure on a finalizing interpreter. */
void yp__coroutine_set_wakes(int on);
/* Free the recycled objects and drop the type. */
void yp__coroutine_fini(void);

/* PyObject_GetOptionalAttr (3.13) for 3.11: 1 found, 0 missing, -1. */
static inline int
PyObject_GetOptionalAttr_compat(PyObject *obj, PyObject *name,
                                PyObject **result)
{
    *result = PyObject_GetAttr(obj, name);
    if (*result != NULL) {
        return 1;
    }
    if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* ---------------------------------------------------------------------
 * Cancel handles (cancel.c).
 */
/* Visit the stored exception: only the coroutine owning `cancel` calls
 * this, so the exception is visited once however many holders exist. */
int yp__cancel_traverse(yp_cancel_t *cancel, visitproc visit, void *arg);

/* ---------------------------------------------------------------------
 * Futures (future.c).
 */
/* Drop `future` with any pending exception saved around the call, and an
 * exception raised by drop reported as unraisable.  NULL is ok. */
void yp__future_drop_safely(yp_future_t *future);
/* module.name: new reference, or NULL with an exception set. */
PyObject *yp__import_attr(const char *module, const char *name);

#endif /* YP_PY_PYGLUE_H */
