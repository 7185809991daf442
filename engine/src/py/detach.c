/*
 * detach.c -- poll an inner future with the GIL released (the guide's
 * AllowThreads wrapper).  The inner poll may block; other Python threads
 * run meanwhile.  Its waker is the coroutine's task waker, which is
 * Python-free until it fires, so waking it from inside the detached poll
 * only flips an atomic (POLLING -> WOKEN).
 */
#include "pyglue.h"

typedef struct {
    yp_future_t base;
    yp_detached_t *inner;   /* owned */
} detach_future_t;

static yp_poll_t
detach_poll(yp_future_t *f, yp_context_t *cx, PyObject **result)
{
    detach_future_t *self = (detach_future_t *)f;
    yp_detached_t *inner = self->inner;
    yp_poll_t r;

    if (YP_FAULT(DETACH_KEEPS_GIL)) {
        r = inner->vtable->poll(inner, cx);
    }
    else {
        Py_BEGIN_ALLOW_THREADS
        r = inner->vtable->poll(inner, cx);
        Py_END_ALLOW_THREADS
    }
    if (r == YP_PENDING) {
        return YP_PENDING;
    }
    if (r != YP_READY) {
        /* A detached poll cannot have set a Python exception. */
        PyErr_Format(PyExc_SystemError,
                     "%s: detached poll returned %d (only YP_PENDING and "
                     "YP_READY are allowed without the GIL)",
                     inner->vtable->name ? inner->vtable->name : "detached",
                     (int)r);
        return YP_ERROR;
    }
    *result = inner->vtable->finish(inner);
    return *result != NULL ? YP_READY : YP_ERROR;
}

static void
detach_drop(yp_future_t *f)
{
    detach_future_t *self = (detach_future_t *)f;
    yp_detached_t *inner = self->inner;
    PyMem_Free(self);
    inner->vtable->drop(inner);
}

static const yp_future_vtable_t detach_vtable = {
    .name = "yp_detach",
    .poll = detach_poll,
    .drop = detach_drop,
    .traverse = NULL,   /* a detached future owns no Python objects */
};

yp_future_t *
yp_detach(yp_detached_t *inner)
{
    if (inner == NULL) {
        return NULL;
    }
    detach_future_t *self = PyMem_Malloc(sizeof(*self));
    if (self == NULL) {
        inner->vtable->drop(inner);
        PyErr_NoMemory();
        return NULL;
    }
    self->base.vtable = &detach_vtable;
    self->inner = inner;
    return &self->base;
}
