/*
 * asyncio_rt.c -- the asyncio runtime (also uvloop and anyio's asyncio
 * backend, which use asyncio's Future and Task).
 *
 * On a real Pending the coroutine yields a fresh loop future (created
 * lazily with loop.create_future(), so uvloop's loop works unchanged) with
 * _asyncio_future_blocking set, exactly what `yield from future` does.
 * The Task adds its wakeup callback to that future; resolving it (hub.c)
 * resumes the Task, which sends into us again.  Woken during the poll, the
 * coroutine yields None: the Task's "run me again next iteration".
 */
#include "pyglue.h"

#include "pythread.h"

/* This file's state; strong references, NULL outside init..fini. */
static struct {
    PyObject *get_running_loop;     /* asyncio.events._get_running_loop */
    PyObject *str_create_future;
    PyObject *str_blocking;         /* "_asyncio_future_blocking" */
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
    if (ast.get_running_loop == NULL
        || (ast.str_create_future = PyUnicode_InternFromString(
                "create_future")) == NULL
        || (ast.str_blocking = PyUnicode_InternFromString(
                "_asyncio_future_blocking")) == NULL)
    {
        return -1;
    }
    return 0;
}

void
yp__asyncio_fini(void)
{
    Py_CLEAR(ast.get_running_loop);
    Py_CLEAR(ast.str_create_future);
    Py_CLEAR(ast.str_blocking);
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
    /* The hub caches the loop's bound create_future (one lookup per
     * loop instead of one per suspension). */
    yp__hub_t *hub = yp__hub_for_loop(loop);
    fut = hub != NULL ? yp__hub_create_future(hub)
                      : PyObject_CallMethodNoArgs(loop, ast.str_create_future);
    if (fut == NULL) {
        goto error;
    }
    if (PyObject_SetAttr(fut, ast.str_blocking, Py_True) < 0) {
        goto error;
    }
    Py_XSETREF(w->loop, loop);   /* steals loop */
    Py_XSETREF(w->yielded, Py_NewRef(fut));
    w->thread = PyThread_get_thread_ident();
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
