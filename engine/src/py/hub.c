/*
 * hub.c -- asyncio's wake delivery, and the foreign-wake hubs: one per
 * asyncio event loop and one per trio run, batching the wakes of foreign
 * threads.
 *
 * Delivery resolves the waiter the coroutine yielded (waiter.c):
 *  - on the loop's own thread (the GIL is then ours): directly.  That only
 *    schedules the Task's wakeup with call_soon, so no user code runs
 *    inside the waker, and it skips the self-pipe write that
 *    call_soon_threadsafe does;
 *  - from any other thread: loop.call_soon_threadsafe(release_waiter,
 *    waiter), as PyO3 does with its loop future.  The task may have been
 *    cancelled (and the waiter with it) in the meantime: resolving a
 *    waiter that is done does nothing.
 * A closed loop swallows the wake (checked first: uvloop does not raise
 * "Event loop is closed" from call_soon_threadsafe).
 *
 * A hub owns one wake queue (core/wakeq.c) and the thread-safe door into
 * its loop: loop.call_soon_threadsafe for asyncio, TrioToken.run_sync_soon
 * for trio.  Every coroutine suspended on that loop or run binds its task
 * waker to the hub's queue.  A foreign thread whose push found the queue
 * empty attaches once and submits hub._drain through the door; the drain
 * runs on the loop's thread and delivers every queued coroutine through
 * its runtime's deliver (which is then on the right thread, so direct).
 * N wakes from a thread: one GIL round trip, one loop wake-up.
 *
 * Where a hub lives.  An asyncio hub is stored on the loop itself
 * (loop._yieldpoint_wakehub), so it lives as long as the loop.  A
 * TrioToken has __slots__ and cannot hold one: trio's hubs are found in a
 * registry keyed by the token (a dict in this file's state, token ->
 * the hub's address, not a reference) and kept alive by the coroutines
 * suspended on them (trio_rt.c keeps the hub in the wait record); the
 * last one gone frees the hub, which takes its entry out.  So the
 * registry never keeps a finished run's token alive.
 */
#include "pyglue.h"

#include "pythread.h"

/* This file's state, NULL outside init..fini; strong references but for
 * the two caches, which are borrowed (see each). */
static struct {
    PyTypeObject *hub_type;
    yp__hub_t *loop_cache;          /* borrowed: the last loop's hub;
                                     * reset by the hub when it goes (a
                                     * strong cache kept the last loop
                                     * alive after its user dropped it) */
    PyObject *token_hubs;           /* dict: TrioToken -> int (the hub's
                                     * address; the hub removes its entry
                                     * when it goes) */
    yp__hub_t *token_cache;         /* borrowed: the last token's hub;
                                     * reset by the hub when it goes */
    PyObject *release_waiter;       /* C function, see below */
    PyObject *str_hub_attr;         /* "_yieldpoint_wakehub" */
    PyObject *str_drain;            /* "_drain" */
    PyObject *str_call_soon_threadsafe;
    PyObject *str_is_closed;
    PyObject *str_run_sync_soon;
} hst;

/* release_waiter(waiter): the wake, on the loop's thread.  A waiter
 * cancelled meanwhile stays as it is. */
static PyObject *
release_waiter(PyObject *module, PyObject *waiter)
{
    if (!yp__waiter_check(waiter)) {
        Py_RETURN_NONE;   /* torn down (or not ours: never scheduled) */
    }
    if (yp__waiter_resolve(waiter) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef release_waiter_def = {
    "_release_waiter", release_waiter, METH_O,
    "_release_waiter(waiter)\n--\n\nEnd the wait unless it ended.",
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
yp__hub_deliver(yp__wait_t *w, yp__taskwaker_t *tw)
{
    PyObject *fut, *loop, *r = NULL;

    if (hst.release_waiter == NULL || w->yielded == NULL) {
        return;
    }
    /* Beware: re-entrancy.  call_soon and call_soon_threadsafe run Python
     * code (loop methods, maybe a subclass's), which could resume or free
     * this coroutine and replace its waiter.  Hold our own references. */
    fut = Py_NewRef(w->yielded);
    loop = Py_NewRef(w->loop);
    if (__atomic_load_n(&tw->link.loop_thread, __ATOMIC_RELAXED)
        == PyThread_get_thread_ident())
    {
        r = release_waiter(NULL, fut);
    }
    else {
        int closed = loop_is_closed(loop);
        if (closed == 0) {
            r = PyObject_CallMethodObjArgs(loop, hst.str_call_soon_threadsafe,
                                           hst.release_waiter, fut, NULL);
            if (r == NULL) {
                /* Closed between the check and the call?  Then the task
                 * is gone with its loop and the wake has nobody to wake.
                 * Asking calls Python: not with the call's error set (a
                 * call made with an exception pending fails on its own,
                 * "returned a result with an exception set"). */
                PyObject *type, *value, *tb;
                PyErr_Fetch(&type, &value, &tb);
                if (loop_is_closed(loop) == 1) {
                    Py_XDECREF(type);
                    Py_XDECREF(value);
                    Py_XDECREF(tb);
                    r = Py_NewRef(Py_None);
                }
                else {
                    PyErr_Clear();   /* is_closed's own error, if any */
                    PyErr_Restore(type, value, tb);
                }
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
    PyObject *loop;          /* strong: the asyncio loop or the TrioToken */
    int asyncio;             /* serves an asyncio loop (else a trio run) */
    PyObject *submit;        /* strong: the loop's thread-safe door, bound:
                              * call_soon_threadsafe or run_sync_soon */
};

/* Deliver (or, with deliver == 0, discard) everything queued.  GIL held,
 * on the loop's thread when delivering. */
static void
hub_take_all(yp__wakeq_t *q, int deliver)
{
    yp__wakeq_link_t *link = yp__wakeq_take(q);
    while (link != NULL) {
        yp__wakeq_link_t *next = yp__wakeq_next(link);
        yp__wait_t *w = link->waker->data;
        yp__taskwaker_t *tw = YP__CONTAINER_OF(link->waker,
                                               yp__taskwaker_t, base);
        /* Deliver only to a coroutine still suspended on the arming that
         * this wake fired: the state leaves FIRED only through a new poll
         * (begin_poll) or the kill, both with the GIL, which we hold.  A
         * coroutine resumed meanwhile (a throw, trio's abort) polled the
         * future itself; its next suspension is not this wake's to end
         * (trio allows one reschedule per wait). */
        if (deliver && w != NULL && w->rt != NULL
            && yp__taskwaker_state(tw) == YP__TW_FIRED)
        {
            PyObject *owner = Py_NewRef(yp__wait_owner(w));
            w->rt->deliver(w, tw);   /* runs Python code: owner held */
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
    Py_VISIT(((yp__hub_t *)op)->submit);
    return 0;
}

/* A hub going away takes its cache entry with it, and a trio hub its
 * registry entry (keyed by the token, so before the token is cleared). */
static void
hub_unregister(yp__hub_t *self)
{
    if (hst.loop_cache == self) {
        hst.loop_cache = NULL;
    }
    if (hst.token_cache == self) {
        hst.token_cache = NULL;
    }
    if (self->asyncio || self->loop == NULL
        || hst.token_hubs == NULL)
    {
        return;   /* an asyncio hub, or already out */
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *addr = PyDict_GetItemWithError(hst.token_hubs, self->loop);
    if (addr != NULL && PyLong_AsVoidPtr(addr) == (void *)self
        && PyDict_DelItem(hst.token_hubs, self->loop) < 0)
    {
        PyErr_WriteUnraisable(self->loop);
    }
    PyErr_Clear();   /* a failed lookup: nothing of ours to remove */
    PyErr_Restore(type, value, tb);
}

static int
Hub_clear(PyObject *op)
{
    hub_unregister((yp__hub_t *)op);
    Py_CLEAR(((yp__hub_t *)op)->loop);
    Py_CLEAR(((yp__hub_t *)op)->submit);
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
     "_drain()\n--\n\nDeliver the wakes queued by other threads.  Never "
     "raises (trio turns a run_sync_soon callback that raises into "
     "TrioInternalError)."},
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
        || (hst.str_call_soon_threadsafe = PyUnicode_InternFromString(
                "call_soon_threadsafe")) == NULL
        || (hst.str_is_closed = PyUnicode_InternFromString("is_closed"))
               == NULL
        || (hst.str_run_sync_soon = PyUnicode_InternFromString(
                "run_sync_soon")) == NULL
        || (hst.token_hubs = PyDict_New()) == NULL
        || (hst.release_waiter = PyCFunction_New(&release_waiter_def, NULL))
               == NULL)
    {
        return -1;
    }
    return 0;
}

void
yp__hub_fini(void)
{
    hst.loop_cache = NULL;
    /* Hubs still alive (held by coroutines that outlive the module) find
     * no registry and no cache: their dealloc touches neither. */
    hst.token_cache = NULL;
    Py_CLEAR(hst.token_hubs);
    Py_CLEAR(hst.hub_type);
    Py_CLEAR(hst.release_waiter);
    Py_CLEAR(hst.str_hub_attr);
    Py_CLEAR(hst.str_drain);
    Py_CLEAR(hst.str_call_soon_threadsafe);
    Py_CLEAR(hst.str_is_closed);
    Py_CLEAR(hst.str_run_sync_soon);
}

/* A new hub for `loop` (new ref), or NULL with an exception.  Steals
 * `submit`. */
static yp__hub_t *
hub_new(PyObject *loop, int asyncio, PyObject *submit)
{
    if (submit == NULL || hst.hub_type == NULL) {
        Py_XDECREF(submit);
        return NULL;
    }
    yp__wakeq_t *q = yp__wakeq_new(NULL);
    yp__hub_t *hub = q == NULL ? NULL
        : PyObject_GC_New(yp__hub_t, hst.hub_type);
    if (hub == NULL) {
        if (q != NULL) {
            yp__wakeq_decref(q);
        }
        Py_DECREF(submit);
        return (yp__hub_t *)(PyErr_Occurred() ? NULL : PyErr_NoMemory());
    }
    q->owner = hub;
    hub->q = q;
    hub->loop = Py_NewRef(loop);
    hub->asyncio = asyncio;
    hub->submit = submit;
    PyObject_GC_Track(hub);
    return hub;
}

/* The loop's hub (new ref), created on first use; NULL without an
 * exception when the loop cannot hold one (then wakes take the per-wake
 * path). */
static yp__hub_t *
hub_for_loop(PyObject *loop)
{
    yp__hub_t *hub = hst.loop_cache;
    if (hst.hub_type == NULL) {
        return NULL;
    }
    /* The cache is borrowed but sound: a hub resets it when it goes, and
     * a live hub holds its loop, so the address cannot be reused. */
    if (hub != NULL && hub->loop == loop) {
        return (yp__hub_t *)Py_NewRef((PyObject *)hub);
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
        yp__hub_t *fresh = hub_new(
            loop, 1, PyObject_GetAttr(loop, hst.str_call_soon_threadsafe));
        if (fresh == NULL) {
            PyErr_Clear();
            return NULL;
        }
        if (PyObject_SetAttr(loop, hst.str_hub_attr, (PyObject *)fresh) < 0) {
            PyErr_Clear();
            Py_DECREF(fresh);
            return NULL;
        }
        found = (PyObject *)fresh;
    }
    hst.loop_cache = (yp__hub_t *)found;
    return (yp__hub_t *)found;
}

PyObject *
yp__hub_for_token(PyObject *token)
{
    yp__hub_t *hub = hst.token_cache;
    if (hst.token_hubs == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "yieldpoint runtime is shut down");
        return NULL;
    }
    /* The cache is borrowed but sound: a hub resets it when it goes, and
     * a live hub holds its token, so the address cannot be reused. */
    if (hub != NULL && hub->loop == token) {
        return Py_NewRef((PyObject *)hub);
    }
    PyObject *addr = PyDict_GetItemWithError(hst.token_hubs, token);
    if (addr != NULL) {
        hub = PyLong_AsVoidPtr(addr);
        if (hub == NULL) {
            return NULL;
        }
        hst.token_cache = hub;
        return Py_NewRef((PyObject *)hub);
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    hub = hub_new(token, 0, PyObject_GetAttr(token, hst.str_run_sync_soon));
    if (hub == NULL) {
        return NULL;
    }
    addr = PyLong_FromVoidPtr(hub);
    if (addr == NULL || PyDict_SetItem(hst.token_hubs, token, addr) < 0) {
        Py_XDECREF(addr);
        Py_DECREF(hub);
        return NULL;
    }
    Py_DECREF(addr);
    hst.token_cache = hub;
    return (PyObject *)hub;
}

PyObject *
yp__hub_loop(PyObject *hub)
{
    return ((yp__hub_t *)hub)->loop;
}

/* Bind the task waker to `hub`'s queue, for life at the first arm. */
static void
hub_bind(yp__hub_t *hub, yp__wait_t *w, yp__taskwaker_t *tw)
{
    __atomic_store_n(&tw->link.loop_thread, PyThread_get_thread_ident(),
                     __ATOMIC_RELAXED);
    if (tw->link.wakeq == NULL && hub != NULL) {
        /* Published by the arm's release CAS. */
        yp__wakeq_bind(&tw->link, hub->q);
    }
}

void
yp__hub_bind(yp__wait_t *w, yp__taskwaker_t *tw)
{
    if (tw->link.wakeq != NULL || w->loop == NULL) {
        __atomic_store_n(&tw->link.loop_thread, PyThread_get_thread_ident(),
                         __ATOMIC_RELAXED);
        return;   /* bound for life at the first arm */
    }
    /* Our own reference while binding: the loop's attribute is what
     * keeps its hub, and a loop's attribute can be anything. */
    yp__hub_t *hub = hub_for_loop(w->loop);
    hub_bind(hub, w, tw);
    Py_XDECREF(hub);
}

void
yp__hub_bind_own(yp__wait_t *w, yp__taskwaker_t *tw)
{
    hub_bind(w->loop != NULL && Py_IS_TYPE(w->loop, hst.hub_type)
                 ? (yp__hub_t *)w->loop : NULL,
             w, tw);
}

/* Submit hub._drain through the hub's thread-safe door.  1 if it is
 * scheduled; 0 if the loop is closed or the run finished (then nobody
 * will ever drain: its tasks are gone with it). */
static int
hub_submit(yp__hub_t *hub)
{
    if (hub->submit == NULL) {
        return 0;   /* cleared by the collector */
    }
    if (hub->asyncio) {
        /* asyncio: uvloop does not raise "Event loop is closed" from
         * call_soon_threadsafe, so ask first. */
        PyObject *closed = PyObject_CallMethodNoArgs(hub->loop,
                                                     hst.str_is_closed);
        int open = closed == Py_False;
        Py_XDECREF(closed);
        if (!open) {
            PyErr_Clear();
            return 0;
        }
    }
    PyObject *drain = PyObject_GetAttr((PyObject *)hub, hst.str_drain);
    PyObject *r = drain == NULL ? NULL : PyObject_CallOneArg(hub->submit,
                                                             drain);
    Py_XDECREF(drain);
    if (r == NULL) {
        /* Closed between the check and the call, trio's RunFinishedError
         * (trio.run returned), or broken: nobody is left to resume. */
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(r);
    return 1;
}

/* The push that made `q` non-empty: get a drain scheduled.  Any thread,
 * no GIL held on entry (and no engine lock: this takes the GIL). */
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
        scheduled = hub_submit(hub);
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
