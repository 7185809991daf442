/*
 * select.c -- the first of several futures to finish wins; the others are
 * dropped at once (futures::select!).  Every branch shares the task's
 * waker, so a wake from any branch re-polls all remaining branches.
 */
#include "pyglue.h"

typedef struct {
    yp_future_t base;
    size_t n;
    int with_index;
    yp_future_t *futures[];   /* owned; NULL once dropped */
} select_future_t;

static void
drop_all(select_future_t *self)
{
    for (size_t i = 0; i < self->n; i++) {
        yp_future_t *f = self->futures[i];
        self->futures[i] = NULL;
        yp_future_drop(f);
    }
}

static yp_poll_t
select_poll(yp_future_t *f, yp_context_t *cx, PyObject **result)
{
    select_future_t *self = (select_future_t *)f;

    for (size_t i = 0; i < self->n; i++) {
        yp_future_t *branch = self->futures[i];
        if (branch == NULL) {
            continue;
        }
        PyObject *value = NULL;
        yp_poll_t r = yp_future_poll(branch, cx, &value);
        if (r == YP_PENDING) {
            continue;
        }
        /* The winner is done: its drop happens with the others, now, so
         * that resources (threads, borrows) are released before the
         * coroutine resumes its caller. */
        drop_all(self);
        if (r == YP_ERROR) {
            return YP_ERROR;
        }
        if (self->with_index) {
            PyObject *t = Py_BuildValue("(nN)", (Py_ssize_t)i, value);
            if (t == NULL) {
                return YP_ERROR;
            }
            value = t;
        }
        *result = value;
        return YP_READY;
    }
    return YP_PENDING;
}

static void
select_drop(yp_future_t *f)
{
    select_future_t *self = (select_future_t *)f;
    drop_all(self);
    PyMem_Free(self);
}

static int
select_traverse(yp_future_t *f, visitproc visit, void *arg)
{
    select_future_t *self = (select_future_t *)f;
    for (size_t i = 0; i < self->n; i++) {
        yp_future_t *b = self->futures[i];
        if (b != NULL && b->vtable->traverse != NULL) {
            int r = b->vtable->traverse(b, visit, arg);
            if (r != 0) {
                return r;
            }
        }
    }
    return 0;
}

static const yp_future_vtable_t select_vtable = {
    .name = "yp_select",
    .poll = select_poll,
    .drop = select_drop,
    .traverse = select_traverse,
};

yp_future_t *
yp_select(yp_future_t **futures, size_t n, int with_index)
{
    int missing = 0;
    for (size_t i = 0; i < n; i++) {
        missing |= futures[i] == NULL;
    }
    if (n == 0 || missing) {
        for (size_t i = 0; i < n; i++) {
            yp_future_drop(futures[i]);
        }
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError,
                            "yp_select() needs one or more futures");
        }
        return NULL;
    }
    select_future_t *self =
        PyMem_Malloc(sizeof(*self) + n * sizeof(yp_future_t *));
    if (self == NULL) {
        for (size_t i = 0; i < n; i++) {
            yp_future_drop(futures[i]);
        }
        PyErr_NoMemory();
        return NULL;
    }
    self->base.vtable = &select_vtable;
    self->n = n;
    self->with_index = with_index != 0;
    for (size_t i = 0; i < n; i++) {
        self->futures[i] = futures[i];
    }
    return &self->base;
}
