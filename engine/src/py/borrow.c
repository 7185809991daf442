/*
 * borrow.c -- borrow flags with Python errors, and the borrow guard that
 * holds a borrow across every yield of an async method.
 */
#include "pyglue.h"

int
yp_borrow_acquire(yp_borrowflag_t *flag, yp_borrow_mode_t mode)
{
    int err = yp_borrowflag_try(flag, mode);
    if (err != 0) {
        /* yp_strerror carries PyO3's exact texts for both codes. */
        PyErr_SetString(PyExc_RuntimeError, yp_strerror(err));
        return -1;
    }
    return 0;
}

void
yp_borrow_release(yp_borrowflag_t *flag, yp_borrow_mode_t mode)
{
    yp_borrowflag_untry(flag, mode);
}

/* Takes the borrow at the first poll (PyO3 0.28+), so creating the
 * coroutine never fails on a conflict; the first send does. */
typedef struct {
    yp_future_t base;
    yp_future_t *inner;        /* owned */
    PyObject *owner;           /* strong: keeps `flag` alive */
    yp_borrowflag_t *flag;
    yp_borrow_mode_t mode;
    int held;
} guard_future_t;

static yp_poll_t
guard_poll(yp_future_t *f, yp_context_t *cx, PyObject **result)
{
    guard_future_t *self = (guard_future_t *)f;
    if (!self->held) {
        if (yp_borrow_acquire(self->flag, self->mode) < 0) {
            return YP_ERROR;
        }
        self->held = 1;
    }
    return yp_future_poll(self->inner, cx, result);
}

static void
guard_drop(yp_future_t *f)
{
    guard_future_t *self = (guard_future_t *)f;
    /* Inner first: it may still use the borrowed object while dropping. */
    yp_future_drop(self->inner);
    if (self->held) {
        yp_borrow_release(self->flag, self->mode);
    }
    PyObject *owner = self->owner;
    PyMem_Free(self);
    Py_DECREF(owner);
}

static int
guard_traverse(yp_future_t *f, visitproc visit, void *arg)
{
    guard_future_t *self = (guard_future_t *)f;
    Py_VISIT(self->owner);
    if (self->inner->vtable->traverse != NULL) {
        return self->inner->vtable->traverse(self->inner, visit, arg);
    }
    return 0;
}

static const yp_future_vtable_t guard_vtable = {
    .name = "yp_borrow_guard",
    .poll = guard_poll,
    .drop = guard_drop,
    .traverse = guard_traverse,
};

yp_future_t *
yp_borrow_guard(yp_future_t *inner, PyObject *owner, yp_borrowflag_t *flag,
                yp_borrow_mode_t mode)
{
    if (inner == NULL) {
        return NULL;
    }
    if (mode != YP_BORROW_SHARED && mode != YP_BORROW_EXCLUSIVE) {
        yp_future_drop(inner);
        PyErr_SetString(PyExc_ValueError, "invalid borrow mode");
        return NULL;
    }
    guard_future_t *self = PyMem_Malloc(sizeof(*self));
    if (self == NULL) {
        yp_future_drop(inner);
        PyErr_NoMemory();
        return NULL;
    }
    self->base.vtable = &guard_vtable;
    self->inner = inner;
    self->owner = Py_NewRef(owner);
    self->flag = flag;
    self->mode = mode;
    self->held = 0;
    return &self->base;
}
