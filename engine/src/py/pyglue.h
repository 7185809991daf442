/*
 * pyglue.h -- private to the engine's CPython binding.  Never installed.
 *
 * The binding is a thin layer over the Python-free core: the coroutine
 * type asks the core's protocol state machine what to do, hands futures a
 * task waker from the core, and implements the one runtime interface
 * (suspend / deliver) that connects a waker to an event loop.
 */
#ifndef YP_PY_PYGLUE_H
#define YP_PY_PYGLUE_H

#include "yieldpoint.h"
#include "internal.h"

/* ---------------------------------------------------------------------
 * Engine state.  One per process (the engine supports the main
 * interpreter only).  Created by the first yp_init(), kept alive by a
 * capsule stored in every module that called yp_init(), and torn down by
 * that capsule's destructor when the last such module is cleared (at the
 * latest during interpreter finalization).
 */
typedef struct yp__state_s {
    PyTypeObject *coroutine_type;   /* strong */
    PyObject *get_running_loop;     /* strong: asyncio._get_running_loop */
    PyObject *release_waiter;       /* strong: C function, see asyncio_rt.c */
    /* Interned method and attribute names, all strong. */
    PyObject *str_create_future;
    PyObject *str_call_soon_threadsafe;
    PyObject *str_set_result;
    PyObject *str_done;
    PyObject *str_is_closed;
    PyObject *str_blocking;         /* "_asyncio_future_blocking" */
    PyObject *invalid_state_error;  /* strong: asyncio.InvalidStateError */
    /* Wake hubs (hub.c). */
    PyTypeObject *hub_type;         /* strong */
    PyObject *hub_cache;            /* strong: the last loop's hub */
    PyObject *str_hub_attr;         /* "_yieldpoint_wakehub" */
    PyObject *str_drain;            /* "_drain" */
    PyObject *base_create_future;   /* strong: BaseEventLoop.create_future */
    PyObject *future_type;          /* strong: asyncio.futures.Future */
    PyObject *functools_partial;    /* strong */
} yp__state_t;

/* Borrowed pointer to the state; NULL before yp_init / after teardown. */
extern yp__state_t *yp__st;

/* Non-zero while wakers from foreign threads may attach to the
 * interpreter.  Cleared when the engine state is torn down, so a timer
 * thread or a user thread waking late never calls PyGILState_Ensure on a
 * finalizing interpreter. */
int yp__interpreter_alive(void);

/* ---------------------------------------------------------------------
 * The coroutine object.
 */
typedef struct yp__coro_s {
    PyObject_HEAD
    yp_future_t *cr_future;        /* owned; NULL once dropped */
    yp__taskwaker_t *cr_waker;     /* owned ref; created on first clone */
    yp_waker_t cr_inline;          /* the waker a poll sees until then */
    char cr_inline_woken;          /* cr_inline was woken in this poll */
    char cr_finalized;             /* tp_finalize ran: never recycle */
    PyObject *cr_waitfut;          /* strong: loop future we yielded */
    PyObject *cr_loop;             /* strong: that future's loop */
    unsigned long cr_thread;       /* thread running cr_loop */
    yp_cancel_t *cr_cancel;        /* owned ref, or NULL */
    const char *cr_name;           /* static */
    const char *cr_qualname;       /* static */
    PyObject *cr_weakreflist;
    yp__proto_t cr_proto;
} yp__coro_t;

int yp__coroutine_type_init(yp__state_t *st, PyObject *module);
/* Free the recycled coroutine objects (before the type goes away). */
void yp__coroutine_freelist_clear(void);

/* ---------------------------------------------------------------------
 * Runtime interface: how a suspended coroutine waits on an event loop.
 * asyncio (and uvloop, which uses asyncio's Future and Task) is the one
 * implementation; see asyncio_rt.c.
 *
 *  suspend  after a PENDING poll: create the object to yield to the
 *           driving task (new ref), remember what deliver needs, and
 *           leave the coroutine ready to be armed.  NULL + exception
 *           when there is no running loop.
 *  deliver  with the GIL held, after the task waker fired: make the
 *           driving task poll again.  Never raises (reports unraisable).
 *  release  forget the wait target (new poll, completion, dealloc).
 */
typedef struct yp__runtime_s {
    PyObject *(*suspend)(yp__coro_t *coro);
    void (*deliver)(yp__coro_t *coro);
    void (*release)(yp__coro_t *coro);
} yp__runtime_t;

extern const yp__runtime_t yp__asyncio_runtime;

int yp__asyncio_init(yp__state_t *st);
void yp__asyncio_fini(yp__state_t *st);

/* The task waker's notify: attach, then deliver to the owner. */
void yp__coro_notify(yp__taskwaker_t *tw);

/* ---------------------------------------------------------------------
 * Wake hubs (hub.c): batched delivery of foreign-thread wakes.
 */
typedef struct yp__hub_s yp__hub_t;
int yp__hub_init(yp__state_t *st);
/* The loop's hub (borrowed; cached), or NULL (no exception) if the loop
 * cannot hold one. */
yp__hub_t *yp__hub_for_loop(yp__state_t *st, PyObject *loop);
/* loop.create_future() through the hub's bound method (new ref). */
PyObject *yp__hub_create_future(yp__hub_t *hub);
void yp__hub_fini(yp__state_t *st);
/* With the GIL, before arming: record the loop thread and bind the waker
 * to its loop's queue (once). */
void yp__hub_bind(yp__coro_t *coro, yp__taskwaker_t *tw);
/* From notify, any thread, no GIL: queue a foreign wake.  Returns 0 when
 * the wake is not batchable (loop thread, or no hub): deliver directly. */
int yp__hub_notify(yp__taskwaker_t *tw);

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
 * Small shared helpers.
 */
/* Drop `future` with any pending exception saved around the call, and an
 * exception raised by drop reported as unraisable.  NULL is ok. */
void yp__future_drop_safely(yp_future_t *future);

/* Count of futures owned by coroutines and not yet dropped. */
extern Py_ssize_t yp__live_futures;
extern Py_ssize_t yp__live_coros;

#endif /* YP_PY_PYGLUE_H */
