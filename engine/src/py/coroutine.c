/*
 * coroutine.c -- yieldpoint.Coroutine: a C future as a Python coroutine.
 *
 * One core function, coro_step(), performs every operation; am_send,
 * send, __next__, throw and close are thin wrappers around it (the shape
 * of CPython's gen_send_ex2).  What to do in each state is decided by the
 * Python-free protocol state machine (core/protocol.c); this file only
 * carries the decisions out.  It waits through the runtime interface
 * (pyglue.h) only, and picks the runtime once per coroutine, at its first
 * yield: trio when trio drives the thread, else asyncio.
 */
#include "pyglue.h"

#include "pythread.h"
#include "structmember.h"
#include "frameobject.h"    /* PyFrame_New, for cr_frame */

/* This file's state.  GIL-guarded unless marked. */
static PyTypeObject *coro_type;    /* strong */
static Py_ssize_t live_futures;    /* owned by coroutines, not dropped */
static Py_ssize_t live_coros;
static int wakes_on;               /* atomic: see yp__coroutine_set_wakes */

_Static_assert(offsetof(yp__coro_t, cr_wait)
                   == offsetof(yp__waiting_t, wait),
               "the wait record follows the object header");

void
yp__coroutine_set_wakes(int on)
{
    __atomic_store_n(&wakes_on, on, __ATOMIC_RELEASE);
}

static int
wakes_allowed(void)
{
    /* The flag covers teardown of our own state; Py_IsInitialized and the
     * finalizing check cover an interpreter that is going away without
     * having cleared the engine's capsule yet (a leaked module). */
    return __atomic_load_n(&wakes_on, __ATOMIC_ACQUIRE)
           && Py_IsInitialized() && !_Py_IsFinalizing();
}

/* The runtime for this coroutine: the one of its first yield, else the
 * library driving the thread now.  trio is asked first (asyncio is the
 * fallback, whose suspend reports "no running event loop"); trio's check
 * costs one sys.modules lookup while trio is not imported. */
static const yp__runtime_t *
coro_runtime(yp__wait_t *w)
{
    if (w->rt != NULL) {
        return w->rt;
    }
    return yp__trio_runtime.running() ? &yp__trio_runtime
                                      : &yp__asyncio_runtime;
}

/* Forget the current wait target (a new poll begins). */
static void
coro_release_wait(yp__coro_t *self)
{
    yp__wait_t *w = &self->cr_wait;
    if (w->rt != NULL) {
        w->rt->release(w);
    }
}

/* ---------------------------------------------------------------------
 * Dropping the future.
 */
/* End the future's life: runs exactly once per coroutine. */
static void
coro_drop_future(yp__coro_t *self)
{
    /* Beware: re-entrancy.  drop runs user code; take the future out of
     * the object first so nothing can reach it twice. */
    yp_future_t *future = self->cr_future;
    self->cr_future = NULL;
    if (future == NULL) {
        return;
    }
    live_futures--;
    yp__future_drop_safely(future);
}

/* Forget everything about the current wait and stop the waker for good. */
static void
coro_retire(yp__coro_t *self)
{
    yp__wait_t *w = &self->cr_wait;
    if (w->rt != NULL) {
        w->rt->clear(w);
    }
    /* The owner link is read under the GIL by notify(); clearing it
     * here (GIL held) makes any wake still in flight a no-op.  The
     * coroutine keeps its reference: the memory is its own. */
    self->cr_tw.base.data = NULL;
    yp__taskwaker_stop(&self->cr_tw);
}

/* `completed`: the future returned READY or ERROR (rather than being
 * closed, thrown into or freed). */
static void
coro_finish(yp__coro_t *self, int completed)
{
    coro_retire(self);
    if (YP_FAULT(DROP_SKIPPED) && !completed && self->cr_future != NULL) {
        /* Leak the future on every path but completion. */
        self->cr_future = NULL;
        live_futures--;
        return;
    }
    coro_drop_future(self);
}

/* ---------------------------------------------------------------------
 * Waking.
 */
/* The task waker's notify (any thread, no GIL): queue the wake, or
 * attach and deliver it to the owner through its runtime. */
static void
coro_notify(yp__taskwaker_t *tw)
{
    if (!wakes_allowed()) {
        return;
    }
    /* From another thread, to a waker bound to asyncio's hub: queue it;
     * the loop drains in batches. */
    if (yp__hub_notify(tw)) {
        return;
    }
    /* Any thread.  PyGILState_Ensure is re-entrant, so this also works on
     * the loop thread inside another future's poll, and inside a detached
     * poll (it re-attaches for the duration). */
    PyGILState_STATE g = PyGILState_Ensure();
    yp__wait_t *w = tw->base.data;
    if (w != NULL && w->rt != NULL) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject *owner = Py_NewRef(yp__wait_owner(w));
        w->rt->deliver(w, tw);   /* runs Python code: owner held */
        Py_DECREF(owner);
        PyErr_Restore(type, value, tb);
    }
    PyGILState_Release(g);
}

/* ---------------------------------------------------------------------
 * The task waker.
 *
 * Embedded in the coroutine (cr_tw), so a coroutine that suspends costs
 * no heap block for it.  The coroutine holds one reference from creation
 * until its memory goes; a future may clone more and keep them anywhere
 * (a timer thread, another loop), so the object can be deallocated while
 * clones are out.  Then the memory -- waker included -- must stay until
 * the last clone is dropped, which may happen on any thread, without the
 * GIL, where nothing can be handed back to Python's allocator.  So:
 *
 *  - Coro_dealloc, holding the GIL: if its reference is the only one
 *    (yp__taskwaker_sole), free or recycle at once, the common case.
 *    Otherwise drop it; whoever drops the last one runs coro_tw_destroy.
 *  - coro_tw_destroy, any thread: push the memory onto the graveyard, a
 *    lock-free stack.  It touches nothing of Python's.
 *  - graveyard_reap, GIL held (the next coroutine created or freed, and
 *    engine teardown): take the whole stack at once and free each block
 *    with its type, whose reference the dead object kept for this (in
 *    3.11, PyObject_GC_Del reads the type).
 *
 * The stack is pushed by many threads and only ever emptied whole, with
 * one exchange, so there is no ABA problem: a node is never popped alone
 * while another thread's push holds a stale head.  The link is the
 * waker's own queue link `next` field, free by then: a queued link holds
 * a reference, so a waker that reached destroy is on no queue.
 */
static yp__wakeq_link_t *graveyard;   /* atomic: stack of dead coroutines */

static void
coro_tw_destroy(yp_waker_t *waker)
{
    yp__taskwaker_t *tw = YP__CONTAINER_OF(waker, yp__taskwaker_t, base);
    yp__taskwaker_release(tw);
    yp__wakeq_link_t *head = __atomic_load_n(&graveyard, __ATOMIC_RELAXED);
    do {
        tw->link.next = head;
    } while (!__atomic_compare_exchange_n(&graveyard, &head, &tw->link, 1,
                                          __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
}

static const yp_waker_vtable_t coro_tw_vtable = {
    .wake = yp__taskwaker_wake,
    .destroy = coro_tw_destroy,
};

/* GIL held.  Free every coroutine whose last waker reference went away
 * after the object itself. */
static void
graveyard_reap(void)
{
    if (__atomic_load_n(&graveyard, __ATOMIC_RELAXED) == NULL) {
        return;
    }
    /* Acquire pairs with each push's release: the pusher's writes to the
     * block happen-before we free it. */
    yp__wakeq_link_t *link = __atomic_exchange_n(&graveyard, NULL,
                                                 __ATOMIC_ACQUIRE);
    while (link != NULL) {
        yp__wakeq_link_t *next = link->next;
        yp__coro_t *self = YP__CONTAINER_OF(link, yp__coro_t, cr_tw.link);
        PyTypeObject *tp = Py_TYPE(self);
        tp->tp_free(self);
        Py_DECREF(tp);
        link = next;
    }
}

/* ---------------------------------------------------------------------
 * The step: one send/throw/close.
 */
static void
raise_running(void)
{
    PyErr_SetString(PyExc_ValueError, "coroutine already executing");
}

static void
raise_reuse(void)
{
    PyErr_SetString(PyExc_RuntimeError,
                    "cannot reuse already awaited coroutine");
}

/* PEP 479: a StopIteration escaping the future would end the awaiting
 * generator machinery silently; turn it into RuntimeError chained from
 * it, as native coroutines do. */
static void
convert_stopiteration(void)
{
    if (YP_FAULT(STOPITERATION_LEAKED)
        || !PyErr_ExceptionMatches(PyExc_StopIteration))
    {
        return;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL) {
        PyException_SetTraceback(value, tb);
    }
    PyErr_SetString(PyExc_RuntimeError, "coroutine raised StopIteration");
    PyObject *t2, *v2, *tb2;
    PyErr_Fetch(&t2, &v2, &tb2);
    PyErr_NormalizeException(&t2, &v2, &tb2);
    Py_INCREF(value);
    PyException_SetCause(v2, value);      /* steals */
    PyException_SetContext(v2, value);    /* steals */
    PyErr_Restore(t2, v2, tb2);
    Py_DECREF(type);
    Py_XDECREF(tb);
}

/* Poll the future once.  The protocol state is RUNNING on entry. */
static PySendResult
coro_poll(yp__coro_t *self, PyObject **presult)
{
    PyObject *result = NULL;
    yp__taskwaker_t *tw = &self->cr_tw;
    yp_context_t cx = {.waker = &tw->base};

    yp__taskwaker_begin_poll(tw);
    coro_release_wait(self);

    yp_poll_t r = yp_future_poll(self->cr_future, &cx, &result);
    yp__proto_end_poll(&self->cr_proto, r);

    if (r == YP_READY) {
        if (YP_FAULT(DROP_TWICE)) {
            self->cr_future->vtable->drop(self->cr_future);
        }
        coro_finish(self, 1);
        if (YP_FAULT(LEAK_REF)) {
            Py_INCREF(result);   /* one reference leaked per completion */
        }
        *presult = result;
        return PYGEN_RETURN;
    }
    if (r == YP_ERROR) {
        coro_finish(self, 1);
        if (YP_FAULT(EXCEPTION_SWALLOWED)) {
            PyErr_Clear();
            *presult = Py_NewRef(Py_None);
            return PYGEN_RETURN;
        }
        convert_stopiteration();
        *presult = NULL;
        return PYGEN_ERROR;
    }

    /* PENDING.  Woken during the poll: yield the runtime's "run me again
     * soon" (asyncio: None, as sleep(0); trio: a shielded checkpoint); no
     * loop future, no loop needed. */
    yp__wait_t *w = &self->cr_wait;
    const yp__runtime_t *rt = coro_runtime(w);
    if (yp__taskwaker_state(tw) == YP__TW_WOKEN) {
        w->rt = rt;
        *presult = rt->yield_now(w);
        return PYGEN_NEXT;
    }
    PyObject *fut = rt->suspend(w);
    if (fut == NULL) {
        /* No running loop (or loop failure): the future stays, the
         * coroutine stays resumable; the wake, if any, is lost. */
        *presult = NULL;
        return PYGEN_ERROR;
    }
    w->rt = rt;
    /* Woken since the test above: by a foreign thread, between the poll
     * and now.  Then yield "run me again soon" instead of `fut`. */
    int woken;
    if (yp__taskwaker_sole(tw)) {
        /* Nobody keeps a clone (our reference is the only one), and
         * nobody can clone it later: nothing to bind or arm, and nothing
         * but a throw (or trio's abort) can end the wait.  But a clone
         * may have been kept, woken and dropped since the test above:
         * its CAS to WOKEN happened before its release decrement, and
         * sole() is an acquire load, so this read sees the wake. */
        woken = yp__taskwaker_state(tw) == YP__TW_WOKEN;
    }
    else {
        if (rt->bind != NULL) {
            rt->bind(w, tw);
        }
        woken = yp__taskwaker_arm(tw) == YP__TW_WOKEN;
    }
    if (woken) {
        rt->release(w);
        Py_DECREF(fut);
        *presult = rt->yield_now(w);
        return PYGEN_NEXT;
    }
    *presult = fut;
    return PYGEN_NEXT;
}

/* Normalise throw()'s 1-3 arguments into an exception instance (new ref),
 * with CPython's error messages.  NULL with TypeError on bad input. */
static PyObject *
normalize_throw(PyObject *typ, PyObject *val, PyObject *tb)
{
    if (tb == Py_None) {
        tb = NULL;
    }
    else if (tb != NULL && !PyTraceBack_Check(tb)) {
        PyErr_SetString(PyExc_TypeError,
                        "throw() third argument must be a traceback object");
        return NULL;
    }
    if (PyExceptionClass_Check(typ)) {
        PyObject *t = Py_NewRef(typ);
        PyObject *v = Py_XNewRef(val);
        PyObject *b = Py_XNewRef(tb);
        PyErr_NormalizeException(&t, &v, &b);
        if (v == NULL || !PyExceptionInstance_Check(v)) {
            /* The class's constructor failed, or returned junk. */
            Py_XDECREF(t);
            Py_XDECREF(v);
            Py_XDECREF(b);
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError,
                                "calling the exception class did not "
                                "return an exception");
            }
            return NULL;
        }
        if (b != NULL) {
            PyException_SetTraceback(v, b);
        }
        Py_XDECREF(t);
        Py_XDECREF(b);
        return v;
    }
    if (PyExceptionInstance_Check(typ)) {
        if (val != NULL && val != Py_None) {
            PyErr_SetString(PyExc_TypeError,
                            "instance exception may not have a separate "
                            "value");
            return NULL;
        }
        if (tb != NULL) {
            PyException_SetTraceback(typ, tb);
        }
        return Py_NewRef(typ);
    }
    PyErr_Format(PyExc_TypeError,
                 "exceptions must be classes or instances deriving from "
                 "BaseException, not %s",
                 Py_TYPE(typ)->tp_name);
    return NULL;
}

static void
raise_instance(PyObject *exc /* steals */)
{
    PyObject *tb = PyException_GetTraceback(exc);
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, tb);
}

/* The one core function.  `exc` (borrowed) is the exception instance for
 * throw, NULL for send; `closing` selects close(). */
static PySendResult
coro_step(yp__coro_t *self, PyObject *exc, int closing, PyObject **presult)
{
    yp__op_t op = closing ? YP__OP_CLOSE
                          : (exc != NULL ? YP__OP_THROW : YP__OP_SEND);
    yp__action_t act = yp__proto_begin(&self->cr_proto, op);

    *presult = NULL;
    switch (act) {
    case YP__ACT_POLL:
        return coro_poll(self, presult);
    case YP__ACT_CANCEL_POLL:
        if (YP_FAULT(CANCEL_DROPS)) {
            self->cr_proto.state = YP__CR_FINISHED;
            coro_finish(self, 0);
            raise_instance(Py_NewRef(exc));
            return PYGEN_ERROR;
        }
        /* Reset the waker first, so the handle's wake (usually our own
         * waker, registered by the future) lands as "woken during poll"
         * instead of resolving a loop future nobody awaits any more. */
        yp__taskwaker_begin_poll(&self->cr_tw);
        yp_cancel_throw(self->cr_cancel, exc);
        return coro_poll(self, presult);
    case YP__ACT_DROP_RAISE:
        coro_finish(self, 0);
        raise_instance(Py_NewRef(exc));
        /* A thrown StopIteration would read as "returned" to whatever
         * awaits us: PEP 479 applies as it does to native coroutines. */
        convert_stopiteration();
        return PYGEN_ERROR;
    case YP__ACT_DROP:
    case YP__ACT_DROP_WARN:
        coro_finish(self, 0);
        *presult = Py_NewRef(Py_None);
        return PYGEN_RETURN;
    case YP__ACT_NOOP:
        if (op == YP__OP_SEND) {
            /* Only reachable with YP_FAULT(REUSE_ERROR_MISSING). */
            *presult = Py_NewRef(Py_None);
            return PYGEN_RETURN;
        }
        if (op == YP__OP_THROW) {
            raise_instance(Py_NewRef(exc));
            return PYGEN_ERROR;
        }
        *presult = Py_NewRef(Py_None);
        return PYGEN_RETURN;
    case YP__ACT_ERR_RUNNING:
        raise_running();
        return PYGEN_ERROR;
    case YP__ACT_ERR_REUSE:
    default:
        raise_reuse();
        return PYGEN_ERROR;
    }
}

/* Turn a PYGEN_RETURN into StopIteration(value) for the Python-level
 * methods.  _PyGen_SetStopIterationValue wraps tuples and exception
 * instances so they arrive intact as StopIteration.value. */
static PyObject *
gen_result(PySendResult r, PyObject *result)
{
    if (r == PYGEN_NEXT) {
        return result;
    }
    if (r == PYGEN_RETURN) {
        if (YP_FAULT(TUPLE_UNWRAPPED)) {
            PyErr_SetObject(PyExc_StopIteration, result);
        }
        else if (result == Py_None) {
            PyErr_SetNone(PyExc_StopIteration);
        }
        else {
            _PyGen_SetStopIterationValue(result);
        }
        Py_DECREF(result);
    }
    return NULL;
}

/* ---------------------------------------------------------------------
 * Slots and methods.
 */
/* A send.  The value is ignored under asyncio (PyO3 semantics); trio
 * sends an outcome, whose Error is a throw (cancellation arrives so). */
static PySendResult
coro_send(yp__coro_t *self, PyObject *arg, PyObject **presult)
{
    yp__wait_t *w = &self->cr_wait;
    if (arg != Py_None && arg != NULL && w->rt != NULL
        && w->rt->unwrap != NULL)
    {
        PyObject *exc;
        int u = w->rt->unwrap(w, arg, &exc);
        if (u < 0) {
            *presult = NULL;
            return PYGEN_ERROR;
        }
        if (u > 0) {
            PySendResult r;
            if (YP_FAULT(TRIO_ERROR_UNROUTED)
                && self->cr_proto.state == YP__CR_SUSPENDED)
            {
                /* Drop and raise even with a cancel handle. */
                self->cr_proto.state = YP__CR_FINISHED;
                coro_finish(self, 0);
                raise_instance(Py_NewRef(exc));
                *presult = NULL;
                r = PYGEN_ERROR;
            }
            else {
                r = coro_step(self, exc, 0, presult);
            }
            Py_DECREF(exc);
            return r;
        }
    }
    return coro_step(self, NULL, 0, presult);
}

static PySendResult
Coro_am_send(PyObject *op, PyObject *arg, PyObject **presult)
{
    return coro_send((yp__coro_t *)op, arg, presult);
}

static PyObject *
Coro_iternext(PyObject *op)
{
    PyObject *result;
    PySendResult r = coro_step((yp__coro_t *)op, NULL, 0, &result);
    return gen_result(r, result);
}

static PyObject *
Coro_send(PyObject *op, PyObject *arg)
{
    PyObject *result;
    PySendResult r = coro_send((yp__coro_t *)op, arg, &result);
    return gen_result(r, result);
}

static PyObject *
Coro_throw(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *result;
    if (nargs < 1 || nargs > 3) {
        PyErr_Format(PyExc_TypeError,
                     nargs < 1 ? "throw expected at least 1 argument, got %zd"
                               : "throw expected at most 3 arguments, got %zd",
                     nargs);
        return NULL;
    }
    PyObject *exc = normalize_throw(args[0], nargs > 1 ? args[1] : NULL,
                                    nargs > 2 ? args[2] : NULL);
    if (exc == NULL) {
        return NULL;
    }
    PySendResult r = coro_step((yp__coro_t *)op, exc, 0, &result);
    Py_DECREF(exc);
    return gen_result(r, result);
}

static PyObject *
Coro_close(PyObject *op, PyObject *unused)
{
    PyObject *result;
    PySendResult r = coro_step((yp__coro_t *)op, NULL, 1, &result);
    if (r == PYGEN_ERROR) {
        return NULL;
    }
    Py_DECREF(result);
    Py_RETURN_NONE;
}

static PyObject *
Coro_await(PyObject *op)
{
    return Py_NewRef(op);
}

static PyObject *
Coro_repr(PyObject *op)
{
    yp__coro_t *self = (yp__coro_t *)op;
    return PyUnicode_FromFormat("<yieldpoint.Coroutine object %s at %p>",
                                self->cr_qualname, op);
}

static PyObject *
Coro_get_name(PyObject *op, void *closure)
{
    return PyUnicode_FromString(((yp__coro_t *)op)->cr_name);
}

static PyObject *
Coro_get_qualname(PyObject *op, void *closure)
{
    return PyUnicode_FromString(((yp__coro_t *)op)->cr_qualname);
}

static PyObject *
Coro_get_running(PyObject *op, void *closure)
{
    return PyBool_FromLong(((yp__coro_t *)op)->cr_proto.state
                           == YP__CR_RUNNING);
}

static PyObject *
Coro_get_suspended(PyObject *op, void *closure)
{
    return PyBool_FromLong(((yp__coro_t *)op)->cr_proto.state
                           == YP__CR_SUSPENDED);
}

static PyObject *
Coro_get_await(PyObject *op, void *closure)
{
    yp__coro_t *self = (yp__coro_t *)op;
    PyObject *y = self->cr_wait.yielded;
    return Py_NewRef(y != NULL ? y : Py_None);
}

/* cr_frame: None once finished or closed, as for native coroutines.
 * Before that, a stand-in frame built on demand (nothing is stored per
 * coroutine): inspect.getcoroutinestate() tells CREATED from CLOSED by
 * cr_frame being None, and asyncio's Task.get_stack()/print_stack() and
 * traceback walk it, so it must be a real frame (f_code, f_lineno, f_back)
 * rather than any non-None object.  Its code is empty and named after the
 * coroutine, file "<yieldpoint>", the way Cython builds frames for
 * functions that have none. */
static PyObject *
Coro_get_frame(PyObject *op, void *closure)
{
    yp__coro_t *self = (yp__coro_t *)op;
    PyCodeObject *code = NULL;
    PyObject *globals = NULL;
    PyFrameObject *frame = NULL;

    if (self->cr_proto.state == YP__CR_FINISHED) {
        Py_RETURN_NONE;
    }
    code = PyCode_NewEmpty("<yieldpoint>", self->cr_qualname, 0);
    if (code == NULL) {
        goto error;
    }
    globals = PyDict_New();
    if (globals == NULL) {
        goto error;
    }
    frame = PyFrame_New(PyThreadState_Get(), code, globals, NULL);
error:
    Py_XDECREF(code);
    Py_XDECREF(globals);
    return (PyObject *)frame;
}

/* ---------------------------------------------------------------------
 * Lifetime.
 */
static void
Coro_finalize(PyObject *op)
{
    yp__coro_t *self = (yp__coro_t *)op;
    PyObject *type, *value, *tb;

    /* CPython marks a finalized object in its GC header and never calls
     * tp_finalize on it again; such memory must not be recycled, or the
     * next coroutine in it would lose its never-awaited warning. */
    self->cr_finalized = 1;
    PyErr_Fetch(&type, &value, &tb);
    yp__action_t act = yp__proto_begin(&self->cr_proto, YP__OP_FINALIZE);
    if (act == YP__ACT_DROP_WARN) {
        /* Same text and category as native coroutines (genobject.c). */
        if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                             "coroutine '%.50s' was never awaited",
                             self->cr_qualname) < 0)
        {
            PyErr_WriteUnraisable(op);
        }
    }
    if (act == YP__ACT_DROP || act == YP__ACT_DROP_WARN) {
        coro_finish(self, 0);
    }
    PyErr_Restore(type, value, tb);
}

static int
Coro_traverse(PyObject *op, visitproc visit, void *arg)
{
    yp__coro_t *self = (yp__coro_t *)op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->cr_wait.yielded);
    Py_VISIT(self->cr_wait.loop);
    Py_VISIT(self->cr_wait.task);
    if (self->cr_future != NULL && self->cr_future->vtable->traverse != NULL) {
        int r = self->cr_future->vtable->traverse(self->cr_future, visit, arg);
        if (r != 0) {
            return r;
        }
    }
    if (self->cr_cancel != NULL) {
        return yp__cancel_traverse(self->cr_cancel, visit, arg);
    }
    return 0;
}

static int
Coro_clear(PyObject *op)
{
    yp__coro_t *self = (yp__coro_t *)op;
    /* tp_finalize already ran for cyclic garbage (PEP 442), so the future
     * is normally gone; drop it anyway if a cycle reached us first. */
    if (self->cr_proto.state != YP__CR_RUNNING) {
        self->cr_proto.state = YP__CR_FINISHED;
        coro_finish(self, 0);
    }
    Py_CLEAR(self->cr_wait.yielded);
    Py_CLEAR(self->cr_wait.loop);
    Py_CLEAR(self->cr_wait.task);
    return 0;
}

/* A freelist of coroutine objects.  Awaiting a C future allocates one
 * coroutine per call, so recycling their memory is the single biggest
 * saving on the ready-await path.  GIL-protected; emptied by
 * yp__coroutine_freelist_clear() when the engine is torn down. */
#define YP__CORO_FREELIST_MAX 1024
static yp__coro_t *coro_freelist[YP__CORO_FREELIST_MAX];
static int coro_numfree;

static void
freelist_clear(void)
{
    while (coro_numfree > 0) {
        PyObject_GC_Del(coro_freelist[--coro_numfree]);
    }
    graveyard_reap();
}

static void
Coro_dealloc(PyObject *op)
{
    yp__coro_t *self = (yp__coro_t *)op;
    PyTypeObject *tp = Py_TYPE(op);

    PyObject_GC_UnTrack(op);
    /* A finished coroutine has nothing to finalize: skip the finalizer
     * machinery on the common path. */
    if (self->cr_proto.state != YP__CR_FINISHED
        && PyObject_CallFinalizerFromDealloc(op) < 0)
    {
        return;   /* resurrected */
    }
    if (self->cr_weakreflist != NULL) {
        PyObject_ClearWeakRefs(op);
    }
    (void)Coro_clear(op);
    yp_cancel_decref(self->cr_cancel);
    self->cr_cancel = NULL;
    live_coros--;
    if (!yp__taskwaker_sole(&self->cr_tw)) {
        /* A clone is still out: the memory stays until its last
         * reference goes (the graveyard, above), and with it our
         * reference to the type.  Ours may be the last after all. */
        yp_waker_drop(&self->cr_tw.base);
        graveyard_reap();
        return;
    }
    yp__taskwaker_release(&self->cr_tw);
    if (!self->cr_finalized && coro_numfree < YP__CORO_FREELIST_MAX
        && tp == coro_type)
    {
        /* Untracked and cleared: PyObject_Init revives it. */
        coro_freelist[coro_numfree++] = self;
    }
    else {
        tp->tp_free(op);
    }
    Py_DECREF(tp);
    graveyard_reap();
}

PyObject *
yp_coroutine_new(yp_future_t *future, const char *name, const char *qualname,
                 yp_cancel_t *cancel)
{
    if (future == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_SystemError,
                            "yp_coroutine_new() got a NULL future");
        }
        return NULL;
    }
    if (coro_type == NULL) {
        yp_future_drop(future);
        PyErr_SetString(PyExc_RuntimeError,
                        "yieldpoint is not initialised (call yp_init)");
        return NULL;
    }
    yp__coro_t *self;
    graveyard_reap();
    if (coro_numfree > 0) {
        self = coro_freelist[--coro_numfree];
        (void)PyObject_Init((PyObject *)self, coro_type);
    }
    else {
        self = PyObject_GC_New(yp__coro_t, coro_type);
        if (self == NULL) {
            yp_future_drop(future);
            return NULL;
        }
    }
    if (YP_FAULT(OOB_WRITE)) {
        /* One byte past the object: past its heap block when Python
         * allocates with malloc (the asan preset).  Under the valgrind
         * preset's malloc_debug it hits a pad byte, which memcheck cannot
         * see; the wake queue's write (wakeq.c) is valgrind's. */
        ((volatile char *)self)[coro_type->tp_basicsize] = 1;
    }
    self->cr_future = future;
    yp__taskwaker_init(&self->cr_tw, &coro_tw_vtable, coro_notify,
                       &self->cr_wait);
    self->cr_wait.rt = NULL;
    self->cr_wait.yielded = NULL;
    self->cr_wait.loop = NULL;
    self->cr_wait.task = NULL;
    self->cr_cancel = cancel != NULL ? yp_cancel_incref(cancel) : NULL;
    self->cr_name = name != NULL ? name : "<yieldpoint>";
    self->cr_qualname = qualname != NULL ? qualname : self->cr_name;
    self->cr_weakreflist = NULL;
    yp__proto_init(&self->cr_proto, cancel != NULL);
    live_coros++;
    live_futures++;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

int
yp_coroutine_check(PyObject *obj)
{
    return coro_type != NULL && Py_IS_TYPE(obj, coro_type);
}

PyTypeObject *
yp_coroutine_type(void)
{
    return coro_type;
}

Py_ssize_t
yp_live_coroutines(void)
{
    return live_coros;
}

Py_ssize_t
yp_live_futures(void)
{
    return live_futures;
}

/* ---------------------------------------------------------------------
 * Type.
 */
static PyMethodDef Coro_methods[] = {
    {"send", Coro_send, METH_O,
     "send(value)\n--\n\nPoll the future once (the value is ignored)."},
    {"throw", (PyCFunction)(void (*)(void))Coro_throw, METH_FASTCALL,
     "throw(typ[, val[, tb]])\n--\n\n"
     "Throw into the coroutine: into its cancel handle if it has one,\n"
     "otherwise drop the future and raise."},
    {"close", Coro_close, METH_NOARGS,
     "close()\n--\n\nDrop the future without polling it."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Coro_getset[] = {
    {"__name__", Coro_get_name, NULL, NULL, NULL},
    {"__qualname__", Coro_get_qualname, NULL, NULL, NULL},
    {"cr_running", Coro_get_running, NULL, NULL, NULL},
    {"cr_suspended", Coro_get_suspended, NULL, NULL, NULL},
    {"cr_await", Coro_get_await, NULL, NULL, NULL},
    {"cr_frame", Coro_get_frame, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Coro_members[] = {
    {"__weaklistoffset__", T_PYSSIZET,
     offsetof(yp__coro_t, cr_weakreflist), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot Coro_slots[] = {
    {Py_tp_dealloc, Coro_dealloc},
    {Py_tp_finalize, Coro_finalize},
    {Py_tp_traverse, Coro_traverse},
    {Py_tp_clear, Coro_clear},
    {Py_tp_repr, Coro_repr},
    {Py_tp_iternext, Coro_iternext},
    {Py_tp_methods, Coro_methods},
    {Py_tp_getset, Coro_getset},
    {Py_tp_members, Coro_members},
    {Py_am_await, Coro_await},
    {Py_am_send, Coro_am_send},
    {Py_tp_doc, "A C future driven as a Python coroutine."},
    {0, NULL},
};

static PyType_Spec Coro_spec = {
    .name = "yieldpoint.Coroutine",
    .basicsize = sizeof(yp__coro_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Coro_slots,
};

int
yp__coroutine_init(void)
{
    /* Not PyType_FromModuleAndSpec: the type is shared by every module
     * that calls yp_init and must not keep the first one alive. */
    coro_type = (PyTypeObject *)PyType_FromSpec(&Coro_spec);
    if (coro_type == NULL) {
        return -1;
    }
    /* Count as collections.abc.Coroutine explicitly (the ABC's subclass
     * hook would find send/throw/close/__await__ anyway; registering also
     * fills the ABC cache up front). */
    PyObject *abc = PyImport_ImportModule("collections.abc");
    if (abc == NULL) {
        return -1;
    }
    PyObject *r = NULL;
    PyObject *coro_abc = PyObject_GetAttrString(abc, "Coroutine");
    if (coro_abc != NULL) {
        r = PyObject_CallMethod(coro_abc, "register", "O", coro_type);
        Py_DECREF(coro_abc);
    }
    Py_DECREF(abc);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

void
yp__coroutine_fini(void)
{
    yp__coroutine_set_wakes(0);
    freelist_clear();
    Py_CLEAR(coro_type);
}
