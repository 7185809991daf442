/*
 * waiter.c -- what a coroutine yields to asyncio on a real Pending: an
 * engine-owned object that follows asyncio's Future protocol, in place of
 * a loop future.
 *
 * asyncio's Task (the C one, the Python one, uvloop's loops, anyio's
 * asyncio backend) accepts any yielded object whose class has
 * `_asyncio_future_blocking` and whose value is True: it checks
 * get_loop(), clears the flag, calls add_done_callback(wakeup,
 * context=ctx), keeps the object as its _fut_waiter and, on Task.cancel(),
 * calls its cancel(msg).  When the callback runs, the Task calls result()
 * and sends into the coroutine, or throws what result() raised.
 *
 * Why not loop.create_future(): a Future is 160 bytes with fields for a
 * result, an exception, tracebacks and a callback list that a wait never
 * uses, created by a Python-level method; a wait needs one callback slot
 * and a state.  This object is 80 bytes, created in C, and resolving it is
 * one loop.call_soon of the Task's wakeup.
 *
 * A waiter serves one wait: it goes from PENDING to DONE (the wake: its
 * result is None) or to CANCELLED (Task.cancel), once.  Everything here
 * runs with the GIL held, on the loop's thread (hub.c brings foreign
 * wakes there).
 */
#include "pyglue.h"

typedef enum {
    WAITER_PENDING,
    WAITER_DONE,
    WAITER_CANCELLED,
} waiter_state_t;

typedef struct {
    PyObject_HEAD
    PyObject *loop;         /* strong: the loop the wait belongs to */
    PyObject *cb;           /* strong: the first done callback, or NULL */
    PyObject *cb_context;   /* strong: its context, or NULL */
    PyObject *more;         /* strong: list of (callback, context) pairs
                             * added after the first, or NULL (the Task
                             * adds exactly one) */
    PyObject *cancel_msg;   /* strong: cancel(msg)'s msg, or NULL */
    unsigned char state;    /* waiter_state_t */
    unsigned char blocking; /* _asyncio_future_blocking */
} waiter_t;

/* This file's state; strong references, NULL outside init..fini. */
static struct {
    PyTypeObject *type;
    PyObject *cancelled_error;      /* asyncio.CancelledError */
    PyObject *invalid_state_error;  /* asyncio.InvalidStateError */
    PyObject *copy_context;         /* contextvars.copy_context */
    PyObject *str_call_soon;
    PyObject *kwnames_context;      /* ("context",) */
} wst;

/* ---------------------------------------------------------------------
 * Scheduling the callbacks.
 */
/* loop.call_soon(fn, self, context=ctx): what asyncio's Future does for
 * each callback when it completes.  0, or -1 with an exception. */
static int
call_soon(waiter_t *self, PyObject *fn, PyObject *ctx)
{
    PyObject *args[4] = {self->loop, fn, (PyObject *)self, ctx};
    PyObject *r = PyObject_VectorcallMethod(
        wst.str_call_soon, args, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET,
        wst.kwnames_context);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/* Leave PENDING for `state` and schedule every callback.  Beware:
 * re-entrancy.  call_soon is a loop method (a subclass's may run any
 * code, even add or remove callbacks): the callbacks are moved into
 * locals first, so each is scheduled exactly once. */
static int
waiter_complete(waiter_t *self, waiter_state_t state)
{
    PyObject *cb = self->cb, *ctx = self->cb_context, *more = self->more;
    int rc = 0;

    self->state = (unsigned char)state;
    self->cb = NULL;
    self->cb_context = NULL;
    self->more = NULL;
    if (cb != NULL) {
        rc = call_soon(self, cb, ctx);
    }
    for (Py_ssize_t i = 0; rc == 0 && more != NULL
                           && i < PyList_GET_SIZE(more); i++)
    {
        PyObject *pair = PyList_GET_ITEM(more, i);
        rc = call_soon(self, PyTuple_GET_ITEM(pair, 0),
                       PyTuple_GET_ITEM(pair, 1));
    }
    Py_XDECREF(cb);
    Py_XDECREF(ctx);
    Py_XDECREF(more);
    return rc;
}

/* ---------------------------------------------------------------------
 * The engine's side.
 */
PyObject *
yp__waiter_new(PyObject *loop)
{
    if (wst.type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "yieldpoint runtime is shut down");
        return NULL;
    }
    waiter_t *self = PyObject_GC_New(waiter_t, wst.type);
    if (self == NULL) {
        return NULL;
    }
    self->loop = Py_NewRef(loop);
    self->cb = NULL;
    self->cb_context = NULL;
    self->more = NULL;
    self->cancel_msg = NULL;
    self->state = WAITER_PENDING;
    /* Set, as `yield from future` sets it: this is how the Task tells a
     * future that wants to block from a bare yield. */
    self->blocking = 1;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

int
yp__waiter_check(PyObject *obj)
{
    return wst.type != NULL && Py_IS_TYPE(obj, wst.type);
}

int
yp__waiter_resolve(PyObject *op)
{
    waiter_t *self = (waiter_t *)op;
    if (self->state != WAITER_PENDING) {
        return 0;   /* cancelled meanwhile: the Task is already told */
    }
    return waiter_complete(self, WAITER_DONE);
}

/* ---------------------------------------------------------------------
 * asyncio's Future protocol.
 */
static PyObject *
cancelled_error(waiter_t *self)
{
    return self->cancel_msg != NULL
        ? PyObject_CallOneArg(wst.cancelled_error, self->cancel_msg)
        : PyObject_CallNoArgs(wst.cancelled_error);
}

static PyObject *
raise_cancelled(waiter_t *self)
{
    PyObject *exc = cancelled_error(self);
    if (exc != NULL) {
        PyErr_SetObject(wst.cancelled_error, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static PyObject *
Waiter_get_loop(PyObject *op, PyObject *unused)
{
    return Py_NewRef(((waiter_t *)op)->loop);
}

static PyObject *
Waiter_done(PyObject *op, PyObject *unused)
{
    return PyBool_FromLong(((waiter_t *)op)->state != WAITER_PENDING);
}

static PyObject *
Waiter_cancelled(PyObject *op, PyObject *unused)
{
    return PyBool_FromLong(((waiter_t *)op)->state == WAITER_CANCELLED);
}

/* result() and exception(): the same three outcomes; only the text for
 * "still pending" differs (asyncio's own). */
static PyObject *
waiter_outcome(waiter_t *self, const char *not_ready)
{
    switch (self->state) {
    case WAITER_PENDING:
        PyErr_SetString(wst.invalid_state_error, not_ready);
        return NULL;
    case WAITER_CANCELLED:
        return raise_cancelled(self);
    default:
        Py_RETURN_NONE;
    }
}

static PyObject *
Waiter_result(PyObject *op, PyObject *unused)
{
    return waiter_outcome((waiter_t *)op, "Result is not ready.");
}

static PyObject *
Waiter_exception(PyObject *op, PyObject *unused)
{
    return waiter_outcome((waiter_t *)op, "Exception is not set.");
}

/* add_done_callback(fn, *, context=None) */
static PyObject *
Waiter_add_done_callback(PyObject *op, PyObject *const *args,
                         Py_ssize_t nargs, PyObject *kwnames)
{
    waiter_t *self = (waiter_t *)op;
    PyObject *fn, *ctx = Py_None, *pair = NULL;
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;

    if (nargs != 1) {
        PyErr_Format(PyExc_TypeError,
                     "add_done_callback() takes exactly 1 positional "
                     "argument (%zd given)", nargs);
        return NULL;
    }
    fn = args[0];
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        if (!PyUnicode_Check(key)
            || PyUnicode_CompareWithASCIIString(key, "context") != 0)
        {
            PyErr_Format(PyExc_TypeError, "add_done_callback() got an "
                         "unexpected keyword argument %R", key);
            return NULL;
        }
        ctx = args[nargs + i];
    }
    if (ctx == Py_None) {
        ctx = PyObject_CallNoArgs(wst.copy_context);
        if (ctx == NULL) {
            return NULL;
        }
    }
    else {
        Py_INCREF(ctx);
    }
    if (self->state != WAITER_PENDING) {
        int rc = call_soon(self, fn, ctx);
        Py_DECREF(ctx);
        if (rc < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    if (self->cb == NULL && self->more == NULL) {
        self->cb = Py_NewRef(fn);
        self->cb_context = ctx;   /* steals */
        Py_RETURN_NONE;
    }
    pair = PyTuple_Pack(2, fn, ctx);
    Py_DECREF(ctx);
    if (pair == NULL) {
        return NULL;
    }
    if (self->more == NULL && (self->more = PyList_New(0)) == NULL) {
        goto error;
    }
    if (PyList_Append(self->more, pair) < 0) {
        goto error;
    }
    Py_DECREF(pair);
    Py_RETURN_NONE;

error:
    Py_CLEAR(pair);
    return NULL;
}

/* remove_done_callback(fn) -> the number removed (compared with ==, as
 * asyncio's Future does). */
static PyObject *
Waiter_remove_done_callback(PyObject *op, PyObject *fn)
{
    waiter_t *self = (waiter_t *)op;
    Py_ssize_t removed = 0;

    if (self->cb != NULL) {
        PyObject *cb = Py_NewRef(self->cb);   /* == may run any code */
        int eq = PyObject_RichCompareBool(cb, fn, Py_EQ);
        if (eq < 0) {
            Py_DECREF(cb);
            return NULL;
        }
        if (eq && self->cb == cb) {
            Py_CLEAR(self->cb);
            Py_CLEAR(self->cb_context);
            removed++;
        }
        Py_DECREF(cb);
    }
    if (self->more != NULL) {
        PyObject *more = Py_NewRef(self->more);
        PyObject *kept = PyList_New(0);
        if (kept == NULL) {
            Py_DECREF(more);
            return NULL;
        }
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(more); i++) {
            PyObject *pair = PyList_GET_ITEM(more, i);
            int eq = PyObject_RichCompareBool(PyTuple_GET_ITEM(pair, 0), fn,
                                              Py_EQ);
            if (eq < 0 || (!eq && PyList_Append(kept, pair) < 0)) {
                Py_DECREF(kept);
                Py_DECREF(more);
                return NULL;
            }
            removed += eq;
        }
        if (self->more == more) {
            Py_SETREF(self->more, kept);
        }
        else {
            Py_DECREF(kept);   /* completed meanwhile: nothing to keep */
        }
        Py_DECREF(more);
    }
    return PyLong_FromSsize_t(removed);
}

/* cancel(msg=None): Task.cancel() calls it with the msg positionally (the
 * C Task) or by keyword (the Python one). */
static PyObject *
Waiter_cancel(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
              PyObject *kwnames)
{
    waiter_t *self = (waiter_t *)op;
    PyObject *msg = Py_None;
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;

    if (nargs + nkw > 1) {
        PyErr_SetString(PyExc_TypeError,
                        "cancel() takes at most 1 argument (msg)");
        return NULL;
    }
    if (nargs == 1) {
        msg = args[0];
    }
    else if (nkw == 1) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, 0);
        if (!PyUnicode_Check(key)
            || PyUnicode_CompareWithASCIIString(key, "msg") != 0)
        {
            PyErr_Format(PyExc_TypeError, "cancel() got an unexpected "
                         "keyword argument %R", key);
            return NULL;
        }
        msg = args[0];
    }
    self->blocking = 0;
    if (self->state != WAITER_PENDING) {
        Py_RETURN_FALSE;
    }
    if (YP_FAULT(WAITER_CANCEL_IGNORED)) {
        Py_RETURN_TRUE;   /* the Task believes it; nothing wakes it */
    }
    if (msg != Py_None) {
        Py_XSETREF(self->cancel_msg, Py_NewRef(msg));
    }
    if (waiter_complete(self, WAITER_CANCELLED) < 0) {
        return NULL;
    }
    Py_RETURN_TRUE;
}

static PyObject *
Waiter_get_blocking(PyObject *op, void *closure)
{
    return PyBool_FromLong(((waiter_t *)op)->blocking);
}

static int
Waiter_set_blocking(PyObject *op, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError,
                        "cannot delete _asyncio_future_blocking");
        return -1;
    }
    int b = PyObject_IsTrue(value);
    if (b < 0) {
        return -1;
    }
    ((waiter_t *)op)->blocking = (unsigned char)b;
    return 0;
}

static PyObject *
Waiter_repr(PyObject *op)
{
    static const char *const names[] = {
        [WAITER_PENDING] = "pending",
        [WAITER_DONE] = "finished result=None",
        [WAITER_CANCELLED] = "cancelled",
    };
    return PyUnicode_FromFormat("<yieldpoint waiter %s>",
                                names[((waiter_t *)op)->state]);
}

static int
Waiter_traverse(PyObject *op, visitproc visit, void *arg)
{
    waiter_t *self = (waiter_t *)op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->loop);
    Py_VISIT(self->cb);
    Py_VISIT(self->cb_context);
    Py_VISIT(self->more);
    Py_VISIT(self->cancel_msg);
    return 0;
}

static int
Waiter_clear(PyObject *op)
{
    waiter_t *self = (waiter_t *)op;
    Py_CLEAR(self->loop);
    Py_CLEAR(self->cb);
    Py_CLEAR(self->cb_context);
    Py_CLEAR(self->more);
    Py_CLEAR(self->cancel_msg);
    return 0;
}

static void
Waiter_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    (void)Waiter_clear(op);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyMethodDef Waiter_methods[] = {
    {"get_loop", Waiter_get_loop, METH_NOARGS,
     "get_loop()\n--\n\nThe event loop this wait belongs to."},
    {"done", Waiter_done, METH_NOARGS,
     "done()\n--\n\nTrue once woken or cancelled."},
    {"cancelled", Waiter_cancelled, METH_NOARGS,
     "cancelled()\n--\n\nTrue once cancelled."},
    {"result", Waiter_result, METH_NOARGS,
     "result()\n--\n\nNone once woken; raises CancelledError once "
     "cancelled, InvalidStateError while pending."},
    {"exception", Waiter_exception, METH_NOARGS,
     "exception()\n--\n\nNone once woken; as result() otherwise."},
    {"add_done_callback", (PyCFunction)(void (*)(void))
     Waiter_add_done_callback, METH_FASTCALL | METH_KEYWORDS,
     "add_done_callback(fn, *, context=None)\n--\n\n"
     "Schedule fn(self) with loop.call_soon when the wait ends."},
    {"remove_done_callback", Waiter_remove_done_callback, METH_O,
     "remove_done_callback(fn)\n--\n\nRemove fn; return how many."},
    {"cancel", (PyCFunction)(void (*)(void))Waiter_cancel,
     METH_FASTCALL | METH_KEYWORDS,
     "cancel(msg=None)\n--\n\nCancel the wait (Task.cancel() does); "
     "False if it already ended."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Waiter_getset[] = {
    {"_asyncio_future_blocking", Waiter_get_blocking, Waiter_set_blocking,
     "asyncio's marker of a future that a Task waits on.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Waiter_slots[] = {
    {Py_tp_dealloc, Waiter_dealloc},
    {Py_tp_traverse, Waiter_traverse},
    {Py_tp_clear, Waiter_clear},
    {Py_tp_repr, Waiter_repr},
    {Py_tp_methods, Waiter_methods},
    {Py_tp_getset, Waiter_getset},
    {Py_tp_doc, "What a yieldpoint coroutine yields to asyncio while it "
                "waits: asyncio's Future protocol, for one wait."},
    {0, NULL},
};

static PyType_Spec Waiter_spec = {
    .name = "yieldpoint._Waiter",
    .basicsize = sizeof(waiter_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC
             | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Waiter_slots,
};

int
yp__waiter_init(void)
{
    if ((wst.type = (PyTypeObject *)PyType_FromSpec(&Waiter_spec)) == NULL
        || (wst.cancelled_error = yp__import_attr("asyncio.exceptions",
                                                  "CancelledError")) == NULL
        || (wst.invalid_state_error = yp__import_attr(
                "asyncio.exceptions", "InvalidStateError")) == NULL
        || (wst.copy_context = yp__import_attr("contextvars",
                                               "copy_context")) == NULL
        || (wst.str_call_soon = PyUnicode_InternFromString("call_soon"))
               == NULL
        || (wst.kwnames_context = Py_BuildValue("(s)", "context")) == NULL)
    {
        return -1;
    }
    return 0;
}

void
yp__waiter_fini(void)
{
    Py_CLEAR(wst.type);
    Py_CLEAR(wst.cancelled_error);
    Py_CLEAR(wst.invalid_state_error);
    Py_CLEAR(wst.copy_context);
    Py_CLEAR(wst.str_call_soon);
    Py_CLEAR(wst.kwnames_context);
}
