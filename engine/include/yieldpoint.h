/*
 * yieldpoint.h -- C futures as Python coroutines.
 *
 * The only header a user of the engine includes.  A *future* is a C struct
 * with a poll function and a drop function; yp_coroutine_new() wraps one in
 * a Python coroutine object that asyncio (or uvloop) drives: every send is
 * one poll, throw goes to a cancel handle or drops the future, close drops
 * it.  See docs/engine.md for the full contract.
 *
 * Threading: every function here must be called with the GIL held (an
 * "attached" thread), except where a comment says "any thread".  Wakers
 * (yieldpoint/core.h) may be used from any thread.
 *
 * Reference conventions, noted on every PyObject * below:
 *   new       the function returns a new (owned) reference;
 *   borrowed  the caller keeps its reference / the result is not owned;
 *   steals    the function takes over the caller's reference, even when
 *             it fails.
 */
#ifndef YIELDPOINT_H
#define YIELDPOINT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "yieldpoint/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------
 * Initialisation.
 *
 * Call yp_init(module) from your module's Py_mod_exec slot (or PyInit).
 * It creates the engine's types on first use and stores a reference to
 * the engine's runtime in the module, so the runtime lives as long as any
 * module using it.  Returns 0, or -1 with an exception set.  Only the main
 * interpreter is supported.
 */
YP_EXTERN int yp_init(PyObject *module /* borrowed */);

/* The coroutine type (borrowed), or NULL before yp_init. */
YP_EXTERN PyTypeObject *yp_coroutine_type(void);

/* ---------------------------------------------------------------------
 * Futures.
 *
 * Embed yp_future_t as the first member of your own struct and point it at
 * a static vtable:
 *
 *   poll      called with the GIL held, once per coroutine send.  Return
 *             YP_READY with *result set to a new reference, YP_PENDING
 *             after arranging for cx's waker to be woken, or YP_ERROR with
 *             a Python exception set.  Never called again after READY or
 *             ERROR.
 *   drop      called exactly once, with the GIL held, on whichever path
 *             ends the future: completion, error, throw without a cancel
 *             handle, close(), or the coroutine being freed.  It releases
 *             everything the future owns (including its own memory).  An
 *             exception may be pending when drop runs; drop must not clear
 *             it and must not raise.
 *   traverse  optional: visit every Python object the future owns, so the
 *             garbage collector can break cycles through it.
 *
 * A future owns everything it refers to (the C reading of Rust's
 * Send + 'static): keep strong references to arguments until drop.
 */
typedef struct yp_future_s yp_future_t;

typedef struct yp_future_vtable_s {
    const char *name;   /* for error messages and repr; may be NULL */
    yp_poll_t (*poll)(yp_future_t *self, yp_context_t *cx,
                      PyObject **result /* out: new */);
    void (*drop)(yp_future_t *self);
    int (*traverse)(yp_future_t *self, visitproc visit, void *arg);
} yp_future_vtable_t;

struct yp_future_s {
    /* read-only */
    const yp_future_vtable_t *vtable;
};

/* Call the vtable, checking the contract (a READY without a result or an
 * ERROR without an exception becomes SystemError). */
YP_EXTERN yp_poll_t yp_future_poll(yp_future_t *future, yp_context_t *cx,
                                   PyObject **result /* out: new */);
/* Drop a future that never reached a coroutine.  NULL is ok. */
YP_EXTERN void yp_future_drop(yp_future_t *future);

/* Ready on first poll with `value`.  NULL on memory error. */
YP_EXTERN yp_future_t *yp_ready(PyObject *value /* borrowed */);

/* Fails on first poll with `exc` (an exception instance). */
YP_EXTERN yp_future_t *yp_failed(PyObject *exc /* borrowed */);

/* Completes with `result` (None if NULL) after `seconds`, timed by the
 * engine's shared timer thread.  NULL with an exception set on error
 * (ValueError for a negative or NaN delay). */
YP_EXTERN yp_future_t *yp_sleep(double seconds,
                                PyObject *result /* borrowed, or NULL */);

/* Polls `futures` in order; the first to finish (ready or error) wins and
 * the others are dropped at once.  Completes with the winner's result, or
 * with a (index, result) tuple when `with_index` is non-zero.  Steals
 * every future, even on failure (NULL with an exception set). */
YP_EXTERN yp_future_t *yp_select(yp_future_t **futures, size_t n,
                                 int with_index);

/* ---------------------------------------------------------------------
 * Detach: poll without the GIL (the guide's AllowThreads).
 *
 * A detached future's poll runs with the GIL released, so it may block
 * and other Python threads run meanwhile; it must not touch any Python
 * object.  Once it returns YP_READY, `finish` runs attached and converts
 * its plain-C output into the Python result (new reference, or NULL with an
 * exception).  `drop` runs attached, exactly once.  yp_detach steals
 * `inner` (it is dropped if yp_detach fails).
 */
typedef struct yp_detached_s yp_detached_t;

typedef struct yp_detached_vtable_s {
    const char *name;
    yp_poll_t (*poll)(yp_detached_t *self, yp_context_t *cx); /* no GIL */
    PyObject *(*finish)(yp_detached_t *self);                 /* new */
    void (*drop)(yp_detached_t *self);
} yp_detached_vtable_t;

struct yp_detached_s {
    /* read-only */
    const yp_detached_vtable_t *vtable;
};

YP_EXTERN yp_future_t *yp_detach(yp_detached_t *inner);

/* ---------------------------------------------------------------------
 * Cancel handles (PyO3's #[pyo3(cancel_handle)]).
 *
 * A coroutine created with a cancel handle does not drop its future when an
 * exception is thrown in: it stores the exception in the handle (only the
 * last one is kept), wakes the waker last registered through the handle,
 * and polls again in the same call.  The future decides what cancellation
 * means.  Handles are reference counted (GIL held).
 */
typedef struct yp_cancel_s yp_cancel_t;

YP_EXTERN yp_cancel_t *yp_cancel_new(void);   /* NULL + MemoryError */
YP_EXTERN yp_cancel_t *yp_cancel_incref(yp_cancel_t *cancel);
YP_EXTERN void yp_cancel_decref(yp_cancel_t *cancel);  /* NULL is ok */
/* Non-zero once an exception was thrown in. */
YP_EXTERN int yp_cancel_is_cancelled(const yp_cancel_t *cancel);
/* YP_READY with *exc (new) set to the thrown exception, else YP_PENDING
 * with cx's waker registered (replaced only when it would not wake the
 * same task). */
YP_EXTERN yp_poll_t yp_cancel_poll(yp_cancel_t *cancel, yp_context_t *cx,
                                   PyObject **exc /* out: new */);
/* A future that completes with the thrown exception object (returned,
 * not raised).  Takes its own reference on `cancel`. */
YP_EXTERN yp_future_t *yp_cancel_cancelled(yp_cancel_t *cancel);
/* Called by the coroutine on throw; public for other executors. */
YP_EXTERN void yp_cancel_throw(yp_cancel_t *cancel,
                               PyObject *exc /* borrowed */);

/* ---------------------------------------------------------------------
 * Borrows across yield points.
 *
 * Put a yp_borrowflag_t in your object.  Synchronous methods bracket their
 * body with yp_borrow_acquire/yp_borrow_release; async methods wrap their
 * future in yp_borrow_guard, which takes the borrow at the coroutine's
 * first poll (PyO3 0.28+) and holds it across every yield until the future
 * is dropped.  Refusals raise RuntimeError("Already borrowed") when
 * exclusive access is refused and RuntimeError("Already mutably borrowed")
 * when shared access is refused.
 */
YP_EXTERN int yp_borrow_acquire(yp_borrowflag_t *flag, yp_borrow_mode_t mode);
YP_EXTERN void yp_borrow_release(yp_borrowflag_t *flag,
                                 yp_borrow_mode_t mode);
/* Steals `inner`; holds a strong reference to `owner` (the object that
 * contains `flag`) until drop.  NULL with an exception on failure. */
YP_EXTERN yp_future_t *yp_borrow_guard(yp_future_t *inner,
                                       PyObject *owner /* borrowed */,
                                       yp_borrowflag_t *flag,
                                       yp_borrow_mode_t mode);

/* ---------------------------------------------------------------------
 * Coroutines.
 *
 * Wrap `future` (stolen, dropped on failure) in a coroutine object.
 * `name` and `qualname` are static strings that must outlive the
 * coroutine (qualname NULL means name; use "Class.method" for methods).
 * `cancel` (borrowed, may be NULL) routes throw() into the handle.
 * Returns a new reference, or NULL with an exception set.
 */
YP_EXTERN PyObject *yp_coroutine_new(yp_future_t *future, const char *name,
                                     const char *qualname,
                                     yp_cancel_t *cancel);

/* Non-zero if `obj` is a yieldpoint coroutine. */
YP_EXTERN int yp_coroutine_check(PyObject *obj /* borrowed */);

/* Number of live coroutine objects and of futures not yet dropped, for
 * leak tests.  Process-wide. */
YP_EXTERN Py_ssize_t yp_live_coroutines(void);
YP_EXTERN Py_ssize_t yp_live_futures(void);

#ifdef __cplusplus
}
#endif

#endif /* YIELDPOINT_H */
