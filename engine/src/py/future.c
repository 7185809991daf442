/*
 * future.c -- the future contract's checks, dropping, and the two trivial
 * futures.  The bottom of the binding: calls nothing above it.
 */
#include "pyglue.h"

void
yp__future_drop_safely(yp_future_t *future)
{
    if (future == NULL) {
        return;
    }
    /* drop may run Python code (decrefs of arguments): keep a pending
     * exception out of its way, and keep its failures out of ours. */
    if (!PyErr_Occurred()) {
        future->vtable->drop(future);
        if (PyErr_Occurred()) {
            PyErr_WriteUnraisable(NULL);
        }
        return;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    future->vtable->drop(future);
    if (PyErr_Occurred()) {
        PyErr_WriteUnraisable(NULL);
    }
    PyErr_Restore(type, value, tb);
}

yp_poll_t
yp_future_poll(yp_future_t *future, yp_context_t *cx, PyObject **result)
{
    const char *name = future->vtable->name ? future->vtable->name : "future";

    *result = NULL;
    yp_poll_t r = future->vtable->poll(future, cx, result);
    switch (r) {
    case YP_READY:
        if (*result == NULL) {
            PyErr_Format(PyExc_SystemError,
                         "%s: poll returned YP_READY without a result", name);
            return YP_ERROR;
        }
        if (PyErr_Occurred()) {
            Py_CLEAR(*result);
            PyErr_Format(PyExc_SystemError,
                         "%s: poll returned YP_READY with an exception set",
                         name);
            return YP_ERROR;
        }
        return YP_READY;
    case YP_PENDING:
        if (PyErr_Occurred()) {
            Py_CLEAR(*result);
            PyErr_Format(PyExc_SystemError,
                         "%s: poll returned YP_PENDING with an exception set",
                         name);
            return YP_ERROR;
        }
        Py_CLEAR(*result);
        return YP_PENDING;
    case YP_ERROR:
        Py_CLEAR(*result);
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_SystemError,
                         "%s: poll returned YP_ERROR without an exception",
                         name);
        }
        return YP_ERROR;
    default:
        Py_CLEAR(*result);
        PyErr_Format(PyExc_SystemError, "%s: poll returned %d", name, (int)r);
        return YP_ERROR;
    }
}

void
yp_future_drop(yp_future_t *future)
{
    yp__future_drop_safely(future);
}

/* A future ready (or failed) on its first poll with one stored object. */
typedef struct {
    yp_future_t base;
    PyObject *value;   /* strong */
} value_future_t;

static yp_poll_t
ready_poll(yp_future_t *f, yp_context_t *cx, PyObject **result)
{
    value_future_t *self = (value_future_t *)f;
    *result = self->value;   /* transfer ownership */
    self->value = NULL;
    return YP_READY;
}

static yp_poll_t
failed_poll(yp_future_t *f, yp_context_t *cx, PyObject **result)
{
    value_future_t *self = (value_future_t *)f;
    PyObject *exc = self->value;
    self->value = NULL;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return YP_ERROR;
}

static void
value_drop(yp_future_t *f)
{
    value_future_t *self = (value_future_t *)f;
    Py_XDECREF(self->value);
    PyMem_Free(self);
}

static int
value_traverse(yp_future_t *f, visitproc visit, void *arg)
{
    Py_VISIT(((value_future_t *)f)->value);
    return 0;
}

static const yp_future_vtable_t ready_vtable = {
    .name = "yp_ready",
    .poll = ready_poll,
    .drop = value_drop,
    .traverse = value_traverse,
};

static const yp_future_vtable_t failed_vtable = {
    .name = "yp_failed",
    .poll = failed_poll,
    .drop = value_drop,
    .traverse = value_traverse,
};

static yp_future_t *
value_future_new(const yp_future_vtable_t *vt, PyObject *value)
{
    value_future_t *self = PyMem_Malloc(sizeof(*self));
    if (self == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    self->base.vtable = vt;
    self->value = Py_NewRef(value);
    return &self->base;
}

yp_future_t *
yp_ready(PyObject *value)
{
    return value_future_new(&ready_vtable, value);
}

yp_future_t *
yp_failed(PyObject *exc)
{
    if (!PyExceptionInstance_Check(exc)) {
        PyErr_SetString(PyExc_TypeError,
                        "yp_failed() needs an exception instance");
        return NULL;
    }
    return value_future_new(&failed_vtable, exc);
}

/* module.name, a new reference (NULL with an exception set).  Shared by
 * the runtimes, which import their library's objects lazily. */
PyObject *
yp__import_attr(const char *module, const char *name)
{
    PyObject *m = PyImport_ImportModule(module);
    if (m == NULL) {
        return NULL;
    }
    PyObject *r = PyObject_GetAttrString(m, name);
    Py_DECREF(m);
    return r;
}
