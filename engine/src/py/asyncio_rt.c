/*
 * asyncio_rt.c -- the asyncio runtime (also uvloop and anyio's asyncio
 * backend, which use asyncio's Future and Task).
 *
 * On a real Pending the coroutine yields a waiter (waiter.c): an object
 * of the running loop that follows asyncio's Future protocol, with
 * _asyncio_future_blocking set, which the Task treats as it treats the
 * loop future of `yield from future`.  The Task adds its wakeup callback
 * to it; resolving it (hub.c) schedules that callback, and the Task sends
 * into us again.  Woken during the poll, the coroutine yields None: the
 * Task's "run me again next iteration".  Both need a running loop only
 * for a real Pending.
 */
#include "pyglue.h"

#include "pythread.h"

/* This file's state; strong references, NULL outside init..fini. */
static struct {
    PyObject *get_running_loop;     /* asyncio.events._get_running_loop */
} ast;

int
yp__asyncio_init(void)
{
    PyObject *events = PyImport_ImportModule("asyncio.events");
    if (events == NULL) {
        return -1;
    }
    ast.get_running_loop = PyObject_GetAttrString(events, "_get_running_loop");
    Py_DECREF(events);
    return ast.get_running_loop != NULL ? 0 : -1;
}

void
yp__asyncio_fini(void)
{
    Py_CLEAR(ast.get_running_loop);
}

/* The default runtime: never asked (coroutine.c falls back to it). */
static int
asyncio_running(void)
{
    return 1;
}

static PyObject *
asyncio_yield_now(yp__wait_t *w)
{
    return Py_NewRef(Py_None);
}

static PyObject *
asyncio_suspend(yp__wait_t *w)
{
    PyObject *loop = NULL, *fut = NULL;

    if (ast.get_running_loop == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "yieldpoint runtime is shut down");
        return NULL;
    }
    loop = PyObject_CallNoArgs(ast.get_running_loop);
    if (loop == NULL) {
        return NULL;
    }
    if (loop == Py_None) {
        Py_DECREF(loop);
        PyErr_SetString(PyExc_RuntimeError, "no running event loop");
        return NULL;
    }
    fut = yp__waiter_new(loop);
    if (fut == NULL) {
        goto error;
    }
    Py_XSETREF(w->loop, loop);   /* steals loop */
    Py_XSETREF(w->yielded, Py_NewRef(fut));
    return fut;

error:
    Py_XDECREF(loop);
    Py_XDECREF(fut);
    return NULL;
}

static void
asyncio_release(yp__wait_t *w)
{
    if (YP_FAULT(USE_AFTER_FREE)) {
        /* Read the loop future after dropping what is usually the last
         * reference to it (the Task cleared its own before resuming us). */
        PyObject *stale = w->yielded;
        Py_CLEAR(w->yielded);
        if (stale != NULL) {
            volatile Py_ssize_t rc = Py_REFCNT(stale);
            (void)rc;
        }
    }
    Py_CLEAR(w->yielded);
    /* The loop is kept: the next suspend usually runs on the same loop. */
}

static void
asyncio_clear(yp__wait_t *w)
{
    asyncio_release(w);
    Py_CLEAR(w->loop);
}

const yp__runtime_t yp__asyncio_runtime = {
    .running = asyncio_running,
    .yield_now = asyncio_yield_now,
    .suspend = asyncio_suspend,
    .bind = yp__hub_bind,
    .deliver = yp__hub_deliver,
    .unwrap = NULL,
    .release = asyncio_release,
    .clear = asyncio_clear,
};
