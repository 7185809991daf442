/*
 * countdown.c -- a third-party extension written against yieldpoint.
 *
 *     import asyncio, countdown
 *     asyncio.run(countdown.countdown(3, 0.1))   # -> 0 after ~0.3 s
 *
 * countdown(n, interval) ticks n times, `interval` seconds apart, on the
 * engine's timer thread, and completes with how many ticks were left:
 * 0 normally, more if the task was cancelled (it has a cancel handle, so
 * cancelling returns early instead of raising).
 */
#include <yieldpoint.h>

typedef struct {
    yp_future_t base;       /* first member: the engine sees this */
    long left;
    double interval;
    yp_timer_t *tick;       /* owned: the current tick, or NULL */
    yp_cancel_t *cancel;    /* owned ref */
} countdown_t;

static yp_poll_t
countdown_poll(yp_future_t *f, yp_context_t *cx, PyObject **result)
{
    countdown_t *self = (countdown_t *)f;
    for (;;) {
        PyObject *exc;
        if (self->left == 0
            || yp_cancel_poll(self->cancel, cx, &exc) == YP_READY)
        {
            if (self->left != 0) {
                Py_DECREF(exc);
            }
            *result = PyLong_FromLong(self->left);
            return *result ? YP_READY : YP_ERROR;
        }
        if (self->tick == NULL
            && yp_timer_start(self->interval, &self->tick) != 0)
        {
            PyErr_SetString(PyExc_RuntimeError, "countdown: no timer");
            return YP_ERROR;
        }
        if (yp_timer_poll(self->tick, cx) == YP_PENDING) {
            return YP_PENDING;
        }
        yp_timer_drop(self->tick);
        self->tick = NULL;
        self->left--;
    }
}

static void
countdown_drop(yp_future_t *f)
{
    countdown_t *self = (countdown_t *)f;
    if (self->tick != NULL) {
        yp_timer_drop(self->tick);
    }
    yp_cancel_decref(self->cancel);
    PyMem_Free(self);
}

static const yp_future_vtable_t countdown_vtable = {
    .name = "countdown.countdown",
    .poll = countdown_poll,
    .drop = countdown_drop,
};

static PyObject *
countdown(PyObject *module, PyObject *args)
{
    long n;
    double interval;
    if (!PyArg_ParseTuple(args, "ld:countdown", &n, &interval)) {
        return NULL;
    }
    if (n < 0 || interval < 0) {
        PyErr_SetString(PyExc_ValueError, "n and interval must be >= 0");
        return NULL;
    }
    yp_cancel_t *cancel = yp_cancel_new();
    if (cancel == NULL) {
        return NULL;
    }
    countdown_t *self = PyMem_Malloc(sizeof(*self));
    if (self == NULL) {
        yp_cancel_decref(cancel);
        return PyErr_NoMemory();
    }
    self->base.vtable = &countdown_vtable;
    self->left = n;
    self->interval = interval;
    self->tick = NULL;
    self->cancel = yp_cancel_incref(cancel);
    PyObject *coro = yp_coroutine_new(&self->base, "countdown", NULL, cancel);
    yp_cancel_decref(cancel);
    return coro;
}

static PyMethodDef methods[] = {
    {"countdown", countdown, METH_VARARGS,
     "countdown(n, interval)\n--\n\nTick n times; return ticks left."},
    {NULL, NULL, 0, NULL},
};

static int
exec_module(PyObject *module)
{
    return yp_init(module);   /* once per module, from Py_mod_exec */
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "countdown",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC PyInit_countdown(void);

PyMODINIT_FUNC
PyInit_countdown(void)
{
    return PyModuleDef_Init(&def);
}
