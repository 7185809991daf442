/*
 * hub.c -- asyncio's wake delivery, and one wake hub per event loop that
 * batches the wakes of foreign threads.
 *
 * Delivery resolves the loop future the coroutine yielded:
 *  - on the loop's own thread (the GIL is then ours): fut.set_result(None)
 *    directly.  set_result only schedules callbacks with call_soon, so no
 *    user code runs inside the waker, and it skips the self-pipe write that
 *    call_soon_threadsafe does;
 *  - from any other thread: loop.call_soon_threadsafe(release_waiter, fut),
 *    as PyO3 does.  The task may have been cancelled (and the future with
 *    it) in the meantime, so release_waiter treats a future that is
 *    already done as delivered (see there).
 * A closed loop swallows the wake (checked first: uvloop does not raise
 * "Event loop is closed" from call_soon_threadsafe).
 *
 * The hub owns the loop's wake queue (core/wakeq.c) and is stored on the
 * loop itself (loop._yieldpoint_wakehub), so every coroutine suspended on
 * that loop shares it.  A foreign thread whose push found the queue empty
 * attaches once and schedules hub._drain with call_soon_threadsafe; the
 * drain runs on the loop thread and resolves every queued coroutine's loop
 * future directly.  N wakes from a thread: one GIL round trip, one
 * self-pipe write.
 */
#include "pyglue.h"

#include "pythread.h"

/* This file's state; all strong references, NULL outside init..fini. */
static struct {
    PyTypeObject *hub_type;
    PyObject *hub_cache;            /* the last loop's hub */
    PyObject *release_waiter;       /* C function, see below */
    PyObject *invalid_state_error;  /* asyncio.InvalidStateError */
    PyObject *base_create_future;   /* BaseEventLoop.create_future */
    PyObject *future_type;          /* asyncio.futures.Future */
    PyObject *functools_partial;
    PyObject *str_hub_attr;         /* "_yieldpoint_wakehub" */
    PyObject *str_drain;            /* "_drain" */
    PyObject *str_create_future;
    PyObject *str_call_soon_threadsafe;
    PyObject *str_set_result;
    PyObject *str_is_closed;
} hst;

/* release_waiter(fut): resolve fut unless something else already did.
 * set_result on a done (cancelled) future raises InvalidStateError, which
 * is exactly "already resolved"; asking fut.done() first would cost a
 * second method call on every wake to save one on a rare path. */
static PyObject *
release_waiter(PyObject *module, PyObject *fut)
{
    if (hst.str_set_result == NULL) {
        Py_RETURN_NONE;   /* torn down */
    }
    PyObject *r = PyObject_CallMethodOneArg(fut, hst.str_set_result, Py_None);
    if (r == NULL) {
        if (!PyErr_ExceptionMatches(hst.invalid_state_error)) {
            return NULL;
        }
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return r;
}

static PyMethodDef release_waiter_def = {
    "_release_waiter", release_waiter, METH_O,
    "_release_waiter(fut)\n--\n\nResolve fut with None unless it is done.",
};

static int
loop_is_closed(PyObject *loop)
{
    PyObject *r = PyObject_CallMethodNoArgs(loop, hst.str_is_closed);
    if (r == NULL) {
        return -1;
    }
    int closed = PyObject_IsTrue(r);
    Py_DECREF(r);
    return closed;
}

void
yp__hub_deliver(yp__wait_t *w)
{
    PyObject *fut, *loop, *r = NULL;

    if (hst.str_set_result == NULL || w->yielded == NULL) {
        return;
    }
    /* Beware: re-entrancy.  set_result and call_soon_threadsafe run Python
     * code (loop methods, maybe a subclass's), which could resume or free
     * this coroutine and replace its loop future.  Hold our own
     * references. */
    fut = Py_NewRef(w->yielded);
    loop = Py_NewRef(w->loop);
    if (w->thread == PyThread_get_thread_ident()) {
        r = release_waiter(NULL, fut);
    }
    else {
        int closed = loop_is_closed(loop);
        if (closed == 0) {
            r = PyObject_CallMethodObjArgs(loop, hst.str_call_soon_threadsafe,
                                           hst.release_waiter, fut, NULL);
            if (r == NULL && loop_is_closed(loop) == 1) {
                /* Closed between the check and the call: the task is
                 * gone with its loop, so the wake has nobody to wake. */
                PyErr_Clear();
                r = Py_NewRef(Py_None);
            }
        }
        else if (closed == 1) {
            r = Py_NewRef(Py_None);
        }
    }
    if (r == NULL) {
        PyErr_WriteUnraisable(fut);
    }
    Py_XDECREF(r);
    Py_DECREF(fut);
    Py_DECREF(loop);
}

struct yp__hub_s {
    PyObject_HEAD
    yp__wakeq_t *q;          /* owned ref */
    PyObject *loop;          /* strong */
    PyObject *create_future; /* strong: loop.create_future, bound once */
};

/* Deliver (or, with deliver == 0, discard) everything queued.  GIL held. */
static void
hub_take_all(yp__wakeq_t *q, int deliver)
{
    yp__wakeq_link_t *link = yp__wakeq_take(q);
    while (link != NULL) {
        yp__wakeq_link_t *next = yp__wakeq_next(link);
        yp__wait_t *w = link->waker->data;
        if (deliver && w != NULL) {
            PyObject *owner = Py_NewRef(yp__wait_owner(w));
            yp__hub_deliver(w);   /* runs Python code: owner held */
            Py_DECREF(owner);
        }
        yp_waker_drop(link->waker);
        link = next;
    }
}

static PyObject *
Hub_drain(PyObject *op, PyObject *unused)
{
    hub_take_all(((yp__hub_t *)op)->q, 1);
    Py_RETURN_NONE;
}

static int
Hub_traverse(PyObject *op, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(((yp__hub_t *)op)->loop);
    Py_VISIT(((yp__hub_t *)op)->create_future);
    return 0;
}

static int
Hub_clear(PyObject *op)
{
    Py_CLEAR(((yp__hub_t *)op)->loop);
    Py_CLEAR(((yp__hub_t *)op)->create_future);
    return 0;
}

static void
Hub_dealloc(PyObject *op)
{
    yp__hub_t *self = (yp__hub_t *)op;
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    /* Wakers bound to this queue outlive us; they must find no owner. */
    self->q->owner = NULL;
    hub_take_all(self->q, 0);
    yp__wakeq_decref(self->q);
    (void)Hub_clear(op);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyMethodDef Hub_methods[] = {
    {"_drain", Hub_drain, METH_NOARGS,
     "_drain()\n--\n\nDeliver the wakes queued by other threads."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Hub_slots[] = {
    {Py_tp_dealloc, Hub_dealloc},
    {Py_tp_traverse, Hub_traverse},
    {Py_tp_clear, Hub_clear},
    {Py_tp_methods, Hub_methods},
    {Py_tp_doc, "Per-loop delivery of wakes from other threads."},
    {0, NULL},
};

static PyType_Spec Hub_spec = {
    .name = "yieldpoint._WakeHub",
    .basicsize = sizeof(yp__hub_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Hub_slots,
};

int
yp__hub_init(void)
{
    hst.hub_type = (PyTypeObject *)PyType_FromSpec(&Hub_spec);
    if (hst.hub_type == NULL
        || (hst.str_hub_attr = PyUnicode_InternFromString(
                "_yieldpoint_wakehub")) == NULL
        || (hst.str_drain = PyUnicode_InternFromString("_drain")) == NULL
        || (hst.str_create_future = PyUnicode_InternFromString(
                "create_future")) == NULL
        || (hst.str_call_soon_threadsafe = PyUnicode_InternFromString(
                "call_soon_threadsafe")) == NULL
        || (hst.str_set_result = PyUnicode_InternFromString("set_result"))
               == NULL
        || (hst.str_is_closed = PyUnicode_InternFromString("is_closed"))
               == NULL
        || (hst.release_waiter = PyCFunction_New(&release_waiter_def, NULL))
               == NULL
        || (hst.invalid_state_error = yp__import_attr("asyncio.exceptions",
                                                  "InvalidStateError"))
               == NULL
        || (hst.future_type = yp__import_attr("asyncio.futures", "Future"))
               == NULL
        || (hst.functools_partial = yp__import_attr("functools", "partial"))
               == NULL)
    {
        return -1;
    }
    PyObject *base = yp__import_attr("asyncio.base_events", "BaseEventLoop");
    if (base == NULL) {
        return -1;
    }
    hst.base_create_future = PyObject_GetAttr(base, hst.str_create_future);
    Py_DECREF(base);
    return hst.base_create_future != NULL ? 0 : -1;
}

void
yp__hub_fini(void)
{
    Py_CLEAR(hst.hub_cache);
    Py_CLEAR(hst.hub_type);
    Py_CLEAR(hst.release_waiter);
    Py_CLEAR(hst.invalid_state_error);
    Py_CLEAR(hst.base_create_future);
    Py_CLEAR(hst.future_type);
    Py_CLEAR(hst.functools_partial);
    Py_CLEAR(hst.str_hub_attr);
    Py_CLEAR(hst.str_drain);
    Py_CLEAR(hst.str_create_future);
    Py_CLEAR(hst.str_call_soon_threadsafe);
    Py_CLEAR(hst.str_set_result);
    Py_CLEAR(hst.str_is_closed);
}

/* What creates this loop's futures.  BaseEventLoop.create_future is a
 * Python method whose whole body is `return futures.Future(loop=self)`:
 * when the loop does not override it, call that class directly with the
 * loop bound (functools.partial), saving a Python frame per suspension.
 * Otherwise (uvloop, user loops) use the loop's own bound method. */
static PyObject *
hub_future_factory(PyObject *loop)
{
    PyObject *meth = PyObject_GetAttr((PyObject *)Py_TYPE(loop),
                                      hst.str_create_future);
    if (meth == NULL) {
        return NULL;
    }
    int is_base = meth == hst.base_create_future;
    Py_DECREF(meth);
    if (!is_base) {
        return PyObject_GetAttr(loop, hst.str_create_future);
    }
    PyObject *kwargs = Py_BuildValue("{sO}", "loop", loop);
    if (kwargs == NULL) {
        return NULL;
    }
    PyObject *args = PyTuple_Pack(1, hst.future_type);
    PyObject *partial = args == NULL ? NULL
        : PyObject_Call(hst.functools_partial, args, kwargs);
    Py_XDECREF(args);
    Py_DECREF(kwargs);
    return partial;
}

/* The loop's hub (borrowed from the cache), created on first use; NULL
 * without an exception when the loop cannot hold one (then wakes take the
 * per-wake path). */
yp__hub_t *
yp__hub_for_loop(PyObject *loop)
{
    yp__hub_t *hub = (yp__hub_t *)hst.hub_cache;
    if (hst.hub_type == NULL) {
        return NULL;
    }
    if (hub != NULL && hub->loop == loop) {
        return hub;
    }
    PyObject *found = NULL;
    if (PyObject_GetOptionalAttr_compat(loop, hst.str_hub_attr, &found) < 0) {
        PyErr_Clear();
        return NULL;
    }
    if (found != NULL && !Py_IS_TYPE(found, hst.hub_type)) {
        Py_CLEAR(found);   /* somebody else's attribute: leave it alone */
        return NULL;
    }
    if (found == NULL) {
        yp__hub_t *fresh = PyObject_GC_New(yp__hub_t, hst.hub_type);
        if (fresh == NULL) {
            PyErr_Clear();
            return NULL;
        }
        fresh->loop = Py_NewRef(loop);
        fresh->create_future = hub_future_factory(loop);
        fresh->q = yp__wakeq_new(fresh);
        if (fresh->q == NULL || fresh->create_future == NULL) {
            PyErr_Clear();
            if (fresh->q != NULL) {
                yp__wakeq_decref(fresh->q);
            }
            Py_CLEAR(fresh->loop);
            Py_CLEAR(fresh->create_future);
            PyObject_GC_Del(fresh);
            Py_DECREF(hst.hub_type);
            return NULL;
        }
        PyObject_GC_Track(fresh);
        if (PyObject_SetAttr(loop, hst.str_hub_attr, (PyObject *)fresh) < 0) {
            PyErr_Clear();
            Py_DECREF(fresh);
            return NULL;
        }
        found = (PyObject *)fresh;
    }
    /* The cache keeps the hub (and through it the loop) alive, which is
     * what makes the pointer comparison above sound. */
    Py_XSETREF(hst.hub_cache, found);
    return (yp__hub_t *)found;
}

void
yp__hub_bind(yp__wait_t *w, yp__taskwaker_t *tw)
{
    __atomic_store_n(&tw->link.loop_thread, w->thread, __ATOMIC_RELAXED);
    if (tw->link.wakeq != NULL || w->loop == NULL) {
        return;   /* bound for life at the first arm */
    }
    yp__hub_t *hub = yp__hub_for_loop(w->loop);
    if (hub != NULL) {
        /* Published by the arm's release CAS. */
        yp__wakeq_bind(&tw->link, hub->q);
    }
}

/* The push that made `q` non-empty: get a drain scheduled.  Any thread,
 * no GIL held on entry. */
static void
hub_schedule(yp__wakeq_t *q)
{
    PyGILState_STATE g = PyGILState_Ensure();
    yp__hub_t *hub = q->owner;
    int scheduled = 0;

    if (hst.hub_type != NULL && hub != NULL) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        Py_INCREF(hub);
        PyObject *closed = PyObject_CallMethodNoArgs(hub->loop,
                                                     hst.str_is_closed);
        if (closed == Py_False) {
            PyObject *drain = PyObject_GetAttr((PyObject *)hub,
                                               hst.str_drain);
            PyObject *r = drain == NULL ? NULL
                : PyObject_CallMethodOneArg(hub->loop,
                                            hst.str_call_soon_threadsafe,
                                            drain);
            scheduled = r != NULL;
            Py_XDECREF(r);
            Py_XDECREF(drain);
        }
        Py_XDECREF(closed);
        if (!scheduled && PyErr_Occurred()) {
            /* Closed between the check and the call, or broken: the
             * tasks of a closed loop have nobody to resume them. */
            PyErr_Clear();
        }
        Py_DECREF(hub);
        PyErr_Restore(type, value, tb);
    }
    if (!scheduled) {
        /* Nobody will drain: let the queue go empty, so the wakers' list
         * references are released and later pushes schedule again. */
        hub_take_all(q, 0);
    }
    PyGILState_Release(g);
}

PyObject *
yp__hub_create_future(yp__hub_t *hub)
{
    return PyObject_CallNoArgs(hub->create_future);
}

int
yp__hub_notify(yp__taskwaker_t *tw)
{
    yp__wakeq_t *q = tw->link.wakeq;
    if (q == NULL
        || __atomic_load_n(&tw->link.loop_thread, __ATOMIC_RELAXED)
               == PyThread_get_thread_ident())
    {
        return 0;   /* not batched: the caller delivers directly */
    }
    if (yp__wakeq_push(q, &tw->link)) {
        hub_schedule(q);
    }
    return 1;
}
