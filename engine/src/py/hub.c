/*
 * hub.c -- one wake hub per event loop: delivers batched foreign wakes.
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
    yp__taskwaker_t *tw = yp__wakeq_take(q);
    while (tw != NULL) {
        yp__taskwaker_t *next = yp__wakeq_next(tw);
        yp__coro_t *owner = tw->base.data;
        if (deliver && owner != NULL) {
            Py_INCREF(owner);   /* deliver runs Python code */
            yp__asyncio_runtime.deliver(owner);
            Py_DECREF(owner);
        }
        yp_waker_drop(&tw->base);
        tw = next;
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
yp__hub_init(yp__state_t *st)
{
    st->hub_type = (PyTypeObject *)PyType_FromSpec(&Hub_spec);
    if (st->hub_type == NULL) {
        return -1;
    }
    st->str_hub_attr = PyUnicode_InternFromString("_yieldpoint_wakehub");
    st->str_drain = PyUnicode_InternFromString("_drain");
    if (st->str_hub_attr == NULL || st->str_drain == NULL) {
        return -1;
    }
    PyObject *base_events = PyImport_ImportModule("asyncio.base_events");
    PyObject *futures = PyImport_ImportModule("asyncio.futures");
    PyObject *functools = PyImport_ImportModule("functools");
    if (base_events != NULL && futures != NULL && functools != NULL) {
        PyObject *base = PyObject_GetAttrString(base_events, "BaseEventLoop");
        if (base != NULL) {
            st->base_create_future = PyObject_GetAttr(base,
                                                      st->str_create_future);
            Py_DECREF(base);
        }
        st->future_type = PyObject_GetAttrString(futures, "Future");
        st->functools_partial = PyObject_GetAttrString(functools, "partial");
    }
    Py_XDECREF(base_events);
    Py_XDECREF(futures);
    Py_XDECREF(functools);
    return st->base_create_future != NULL && st->future_type != NULL
           && st->functools_partial != NULL ? 0 : -1;
}

void
yp__hub_fini(yp__state_t *st)
{
    Py_CLEAR(st->hub_cache);
    Py_CLEAR(st->hub_type);
    Py_CLEAR(st->str_hub_attr);
    Py_CLEAR(st->str_drain);
    Py_CLEAR(st->base_create_future);
    Py_CLEAR(st->future_type);
    Py_CLEAR(st->functools_partial);
}

/* What creates this loop's futures.  BaseEventLoop.create_future is a
 * Python method whose whole body is `return futures.Future(loop=self)`:
 * when the loop does not override it, call that class directly with the
 * loop bound (functools.partial), saving a Python frame per suspension.
 * Otherwise (uvloop, user loops) use the loop's own bound method. */
static PyObject *
hub_future_factory(yp__state_t *st, PyObject *loop)
{
    PyObject *meth = PyObject_GetAttr((PyObject *)Py_TYPE(loop),
                                      st->str_create_future);
    if (meth == NULL) {
        return NULL;
    }
    int is_base = meth == st->base_create_future;
    Py_DECREF(meth);
    if (!is_base) {
        return PyObject_GetAttr(loop, st->str_create_future);
    }
    PyObject *kwargs = Py_BuildValue("{sO}", "loop", loop);
    if (kwargs == NULL) {
        return NULL;
    }
    PyObject *args = PyTuple_Pack(1, st->future_type);
    PyObject *partial = args == NULL ? NULL
        : PyObject_Call(st->functools_partial, args, kwargs);
    Py_XDECREF(args);
    Py_DECREF(kwargs);
    return partial;
}

/* The loop's hub (borrowed from the cache), created on first use; NULL
 * without an exception when the loop cannot hold one (then wakes take the
 * per-wake path). */
yp__hub_t *
yp__hub_for_loop(yp__state_t *st, PyObject *loop)
{
    yp__hub_t *hub = (yp__hub_t *)st->hub_cache;
    if (hub != NULL && hub->loop == loop) {
        return hub;
    }
    PyObject *found = NULL;
    if (PyObject_GetOptionalAttr_compat(loop, st->str_hub_attr, &found) < 0) {
        PyErr_Clear();
        return NULL;
    }
    if (found != NULL && !Py_IS_TYPE(found, st->hub_type)) {
        Py_CLEAR(found);   /* somebody else's attribute: leave it alone */
        return NULL;
    }
    if (found == NULL) {
        yp__hub_t *fresh = PyObject_GC_New(yp__hub_t, st->hub_type);
        if (fresh == NULL) {
            PyErr_Clear();
            return NULL;
        }
        fresh->loop = Py_NewRef(loop);
        fresh->create_future = hub_future_factory(st, loop);
        fresh->q = yp__wakeq_new(fresh);
        if (fresh->q == NULL || fresh->create_future == NULL) {
            PyErr_Clear();
            if (fresh->q != NULL) {
                yp__wakeq_decref(fresh->q);
            }
            Py_CLEAR(fresh->loop);
            Py_CLEAR(fresh->create_future);
            PyObject_GC_Del(fresh);
            Py_DECREF(st->hub_type);
            return NULL;
        }
        PyObject_GC_Track(fresh);
        if (PyObject_SetAttr(loop, st->str_hub_attr, (PyObject *)fresh) < 0) {
            PyErr_Clear();
            Py_DECREF(fresh);
            return NULL;
        }
        found = (PyObject *)fresh;
    }
    /* The cache keeps the hub (and through it the loop) alive, which is
     * what makes the pointer comparison above sound. */
    Py_XSETREF(st->hub_cache, found);
    return (yp__hub_t *)found;
}

void
yp__hub_bind(yp__coro_t *coro, yp__taskwaker_t *tw)
{
    yp__state_t *st = yp__st;
    __atomic_store_n(&tw->loop_thread, coro->cr_thread, __ATOMIC_RELAXED);
    if (tw->wakeq != NULL || st == NULL || coro->cr_loop == NULL) {
        return;   /* bound for life at the first arm */
    }
    yp__hub_t *hub = yp__hub_for_loop(st, coro->cr_loop);
    if (hub != NULL) {
        yp__wakeq_incref(hub->q);
        tw->wakeq = hub->q;   /* published by the arm's release CAS */
    }
}

/* The push that made `q` non-empty: get a drain scheduled.  Any thread,
 * no GIL held on entry. */
static void
hub_schedule(yp__wakeq_t *q)
{
    PyGILState_STATE g = PyGILState_Ensure();
    yp__state_t *st = yp__st;
    yp__hub_t *hub = q->owner;
    int scheduled = 0;

    if (st != NULL && hub != NULL) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        Py_INCREF(hub);
        PyObject *closed = PyObject_CallMethodNoArgs(hub->loop,
                                                     st->str_is_closed);
        if (closed == Py_False) {
            PyObject *drain = PyObject_GetAttr((PyObject *)hub,
                                               st->str_drain);
            PyObject *r = drain == NULL ? NULL
                : PyObject_CallMethodOneArg(hub->loop,
                                            st->str_call_soon_threadsafe,
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
    yp__wakeq_t *q = tw->wakeq;
    if (q == NULL
        || __atomic_load_n(&tw->loop_thread, __ATOMIC_RELAXED)
               == PyThread_get_thread_ident())
    {
        return 0;   /* not batched: the caller delivers directly */
    }
    if (yp__wakeq_push(q, tw)) {
        hub_schedule(q);
    }
    return 1;
}
