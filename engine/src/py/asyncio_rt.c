/*
 * asyncio_rt.c -- the asyncio runtime: how a suspended coroutine waits.
 *
 * On a real Pending the coroutine yields a fresh loop future (created
 * lazily with loop.create_future(), so uvloop's loop works unchanged) with
 * _asyncio_future_blocking set, exactly what `yield from future` does.
 * The Task adds its wakeup callback to that future; resolving it resumes
 * the Task, which sends into us again.
 *
 * A wake is delivered in one of two ways:
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
 */
#include "pyglue.h"

#include "pythread.h"

/* release_waiter(fut): resolve fut unless something else already did.
 * set_result on a done (cancelled) future raises InvalidStateError, which
 * is exactly "already resolved"; asking fut.done() first would cost a
 * second method call on every wake to save one on a rare path. */
static PyObject *
release_waiter(PyObject *module, PyObject *fut)
{
    yp__state_t *st = yp__st;
    if (st == NULL) {
        Py_RETURN_NONE;
    }
    PyObject *r = PyObject_CallMethodOneArg(fut, st->str_set_result, Py_None);
    if (r == NULL) {
        if (!PyErr_ExceptionMatches(st->invalid_state_error)) {
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

int
yp__asyncio_init(yp__state_t *st)
{
    PyObject *events = PyImport_ImportModule("asyncio.events");
    if (events == NULL) {
        return -1;
    }
    st->get_running_loop = PyObject_GetAttrString(events, "_get_running_loop");
    Py_DECREF(events);
    if (st->get_running_loop == NULL) {
        return -1;
    }
    st->release_waiter = PyCFunction_New(&release_waiter_def, NULL);
    if (st->release_waiter == NULL) {
        return -1;
    }
    PyObject *exceptions = PyImport_ImportModule("asyncio.exceptions");
    if (exceptions == NULL) {
        return -1;
    }
    st->invalid_state_error = PyObject_GetAttrString(exceptions,
                                                     "InvalidStateError");
    Py_DECREF(exceptions);
    return st->invalid_state_error != NULL ? 0 : -1;
}

void
yp__asyncio_fini(yp__state_t *st)
{
    Py_CLEAR(st->get_running_loop);
    Py_CLEAR(st->release_waiter);
    Py_CLEAR(st->invalid_state_error);
}

static PyObject *
asyncio_suspend(yp__coro_t *coro)
{
    yp__state_t *st = yp__st;
    PyObject *loop = NULL, *fut = NULL;

    if (st == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "yieldpoint runtime is shut down");
        return NULL;
    }
    loop = PyObject_CallNoArgs(st->get_running_loop);
    if (loop == NULL) {
        return NULL;
    }
    if (loop == Py_None) {
        Py_DECREF(loop);
        PyErr_SetString(PyExc_RuntimeError, "no running event loop");
        return NULL;
    }
    /* The hub caches the loop's bound create_future (one lookup per
     * loop instead of one per suspension). */
    yp__hub_t *hub = yp__hub_for_loop(st, loop);
    fut = hub != NULL ? yp__hub_create_future(hub)
                      : PyObject_CallMethodNoArgs(loop, st->str_create_future);
    if (fut == NULL) {
        goto error;
    }
    if (PyObject_SetAttr(fut, st->str_blocking, Py_True) < 0) {
        goto error;
    }
    Py_XSETREF(coro->cr_loop, loop);   /* steals loop */
    Py_XSETREF(coro->cr_waitfut, Py_NewRef(fut));
    coro->cr_thread = PyThread_get_thread_ident();
    return fut;

error:
    Py_XDECREF(loop);
    Py_XDECREF(fut);
    return NULL;
}

static int
loop_is_closed(yp__state_t *st, PyObject *loop)
{
    PyObject *r = PyObject_CallMethodNoArgs(loop, st->str_is_closed);
    if (r == NULL) {
        return -1;
    }
    int closed = PyObject_IsTrue(r);
    Py_DECREF(r);
    return closed;
}

static void
asyncio_deliver(yp__coro_t *coro)
{
    yp__state_t *st = yp__st;
    PyObject *fut, *loop, *r = NULL;

    if (st == NULL || coro->cr_waitfut == NULL) {
        return;
    }
    /* Beware: re-entrancy.  set_result and call_soon_threadsafe run Python
     * code (loop methods, maybe a subclass's), which could resume or free
     * this coroutine and replace cr_waitfut.  Hold our own references. */
    fut = Py_NewRef(coro->cr_waitfut);
    loop = Py_NewRef(coro->cr_loop);
    if (coro->cr_thread == PyThread_get_thread_ident()) {
        r = release_waiter(NULL, fut);
    }
    else {
        int closed = loop_is_closed(st, loop);
        if (closed == 0) {
            r = PyObject_CallMethodObjArgs(loop, st->str_call_soon_threadsafe,
                                           st->release_waiter, fut, NULL);
            if (r == NULL && loop_is_closed(st, loop) == 1) {
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

static void
asyncio_release(yp__coro_t *coro)
{
    if (YP_FAULT(USE_AFTER_FREE)) {
        /* Read the loop future after dropping what is usually the last
         * reference to it (the Task cleared its own before resuming us). */
        PyObject *stale = coro->cr_waitfut;
        Py_CLEAR(coro->cr_waitfut);
        if (stale != NULL) {
            volatile Py_ssize_t rc = Py_REFCNT(stale);
            (void)rc;
        }
    }
    Py_CLEAR(coro->cr_waitfut);
    /* cr_loop is kept: the next suspend usually runs on the same loop. */
}

const yp__runtime_t yp__asyncio_runtime = {
    .suspend = asyncio_suspend,
    .deliver = asyncio_deliver,
    .release = asyncio_release,
};
