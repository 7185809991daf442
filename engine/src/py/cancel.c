/*
 * cancel.c -- cancel handles (PyO3's CancelHandle).
 *
 * Shared by a coroutine and the future it runs, so it is reference
 * counted; every use is attached (GIL held), so the count is a plain int.
 * The waker is registered by whoever polls yp_cancel_poll and is replaced
 * only when the new one would not wake the same task (PyO3 re-registers
 * only when !will_wake).
 */
#include "pyglue.h"

struct yp_cancel_s {
    Py_ssize_t refcnt;
    PyObject *exc;            /* strong: the last exception thrown in */
    int taken;                /* exc was handed out by poll at least once */
    yp_waker_t *waker;        /* owned clone, or NULL */
};

yp_cancel_t *
yp_cancel_new(void)
{
    yp_cancel_t *c = PyMem_Calloc(1, sizeof(*c));
    if (c == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    c->refcnt = 1;
    return c;
}

yp_cancel_t *
yp_cancel_incref(yp_cancel_t *cancel)
{
    cancel->refcnt++;
    return cancel;
}

void
yp_cancel_decref(yp_cancel_t *cancel)
{
    if (cancel == NULL || --cancel->refcnt > 0) {
        return;
    }
    /* Move everything out before the calls that may run code. */
    PyObject *exc = cancel->exc;
    yp_waker_t *waker = cancel->waker;
    PyMem_Free(cancel);
    yp_waker_drop(waker);
    Py_XDECREF(exc);
}

int
yp_cancel_is_cancelled(const yp_cancel_t *cancel)
{
    return cancel->exc != NULL;
}

void
yp_cancel_throw(yp_cancel_t *cancel, PyObject *exc)
{
    /* Only the last exception is kept. */
    Py_XSETREF(cancel->exc, Py_NewRef(exc));
    if (cancel->waker != NULL) {
        /* Beware: re-entrancy.  A foreign executor's wake may run code
         * that drops this handle's waker; wake through our own clone. */
        yp_waker_t *w = yp_waker_clone(cancel->waker);
        yp_waker_wake(w);
    }
}

yp_poll_t
yp_cancel_poll(yp_cancel_t *cancel, yp_context_t *cx, PyObject **exc)
{
    if (cancel->exc != NULL) {
        *exc = Py_NewRef(cancel->exc);
        cancel->taken = 1;
        return YP_READY;
    }
    yp_waker_register(&cancel->waker, yp_context_waker(cx));
    return YP_PENDING;
}

int
yp__cancel_traverse(yp_cancel_t *cancel, visitproc visit, void *arg)
{
    /* Only valid when the caller's reference is the only one that can
     * reach cancel->exc through the GC graph; see pyglue.h. */
    if (cancel->refcnt == 1) {
        Py_VISIT(cancel->exc);
    }
    return 0;
}

/* The `cancelled` future: completes with the thrown exception object. */
typedef struct {
    yp_future_t base;
    yp_cancel_t *cancel;   /* owned ref */
} cancelled_future_t;

static yp_poll_t
cancelled_poll(yp_future_t *f, yp_context_t *cx, PyObject **result)
{
    return yp_cancel_poll(((cancelled_future_t *)f)->cancel, cx, result);
}

static void
cancelled_drop(yp_future_t *f)
{
    cancelled_future_t *self = (cancelled_future_t *)f;
    yp_cancel_t *cancel = self->cancel;
    PyMem_Free(self);
    yp_cancel_decref(cancel);
}

static const yp_future_vtable_t cancelled_vtable = {
    .name = "yp_cancel_cancelled",
    .poll = cancelled_poll,
    .drop = cancelled_drop,
    .traverse = NULL,   /* the coroutine traverses its handle */
};

yp_future_t *
yp_cancel_cancelled(yp_cancel_t *cancel)
{
    cancelled_future_t *self = PyMem_Malloc(sizeof(*self));
    if (self == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    self->base.vtable = &cancelled_vtable;
    self->cancel = yp_cancel_incref(cancel);
    return &self->base;
}
