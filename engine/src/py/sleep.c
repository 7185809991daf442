/*
 * sleep.c -- yp_sleep: complete with a value after a delay, timed by the
 * engine's shared timer thread (core/timer.c).
 */
#include "pyglue.h"

#include <math.h>

typedef struct {
    yp_future_t base;
    double seconds;
    yp_timer_t *timer;     /* owned; started at the first poll */
    PyObject *result;      /* strong */
} sleep_future_t;

static yp_poll_t
sleep_poll(yp_future_t *f, yp_context_t *cx, PyObject **result)
{
    sleep_future_t *self = (sleep_future_t *)f;
    if (self->timer == NULL) {
        /* Started lazily, like a Rust future: nothing happens until the
         * coroutine is first polled. */
        int err = yp_timer_start(self->seconds, &self->timer);
        if (err != 0) {
            PyErr_Format(PyExc_RuntimeError, "yp_sleep: %s",
                         yp_strerror(err));
            return YP_ERROR;
        }
    }
    if (yp_timer_poll(self->timer, cx) == YP_READY) {
        *result = self->result;   /* transfer ownership */
        self->result = NULL;
        return YP_READY;
    }
    return YP_PENDING;
}

static void
sleep_drop(yp_future_t *f)
{
    sleep_future_t *self = (sleep_future_t *)f;
    if (self->timer != NULL) {
        yp_timer_drop(self->timer);
    }
    PyObject *result = self->result;
    PyMem_Free(self);
    Py_XDECREF(result);
}

static int
sleep_traverse(yp_future_t *f, visitproc visit, void *arg)
{
    Py_VISIT(((sleep_future_t *)f)->result);
    return 0;
}

static const yp_future_vtable_t sleep_vtable = {
    .name = "yp_sleep",
    .poll = sleep_poll,
    .drop = sleep_drop,
    .traverse = sleep_traverse,
};

yp_future_t *
yp_sleep(double seconds, PyObject *result)
{
    if (isnan(seconds) || seconds < 0) {
        PyErr_SetString(PyExc_ValueError,
                        "sleep length must be a non-negative number");
        return NULL;
    }
    sleep_future_t *self = PyMem_Malloc(sizeof(*self));
    if (self == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    self->base.vtable = &sleep_vtable;
    self->seconds = seconds;
    self->timer = NULL;
    self->result = Py_NewRef(result != NULL ? result : Py_None);
    return &self->base;
}
