/*
 * trio_rt.c -- the trio runtime (also anyio's trio backend).
 *
 * trio drives a task by coro.send(outcome) and understands a few yielded
 * messages (trio/_core/_traps.py).  On a real Pending the coroutine yields
 * WaitTaskRescheduled(abort_fn), the message
 * trio.lowlevel.wait_task_rescheduled(abort_fn) yields, and records the
 * task and the run's TrioToken.  Woken during the poll, it yields trio's
 * cancel_shielded_checkpoint message (trio rejects None).  trio resumes it
 * with outcome.Value(None) (a poll) or outcome.Error(exc) (a throw: that
 * is how cancellation arrives, after abort_fn).
 *
 * trio allows exactly one reschedule per wait (it asserts it).  The record
 * holds the task only while the coroutine waits on that very suspension:
 * whoever reschedules it (a wake, or trio itself after abort_fn returned
 * Abort.SUCCEEDED) takes the task out first, so a second wake, a stale
 * wake and a wake after the coroutine finished find nothing to do.
 *
 * A wake on trio's thread reschedules directly.  Wakes from other threads
 * are batched like asyncio's: the record holds the run's hub (hub.c; one
 * per TrioToken, shared by all coroutines of the run), the task waker is
 * bound to its queue, and one token.run_sync_soon(hub._drain) per batch
 * brings them to trio's thread, where the drain delivers each coroutine
 * still suspended on the arming its wake fired (so here, directly).
 * After trio.run returned, run_sync_soon raises RunFinishedError: the
 * batch has nobody to wake and is dropped.  Measured with 1,000 parked
 * tasks woken from one thread (bench/run --runtime trio), one
 * run_sync_soon per wake cost ~5.8x trio's own per-wake baseline.
 *
 * A deliver off trio's thread (a waker that could not be bound) still
 * works per wake: token.run_sync_soon(rescheduler, coro, msg, task)
 * re-checks on trio's thread that the coroutine still waits on `msg`.
 *
 * trio is never imported here: its objects load on the first yield that
 * finds it running (it is in sys.modules by then).
 */
#include "pyglue.h"

#include "pythread.h"

/* This file's state; strong references.  `str_trio` lives from init to
 * fini; the rest from the first load to fini. */
static struct {
    PyObject *str_trio;             /* "trio": sys.modules key, cvar value */
    PyObject *cvar;                 /* sniffio.current_async_library_cvar;
                                     * loaded once trio is imported */
    int loaded;                     /* the rest: once trio ran here */
    PyObject *current_task;         /* trio.lowlevel.current_task */
    PyObject *current_trio_token;
    PyObject *reschedule;           /* trio.lowlevel.reschedule */
    PyObject *abort_succeeded;      /* trio.lowlevel.Abort.SUCCEEDED */
    PyObject *wait_type;            /* WaitTaskRescheduled */
    PyObject *checkpoint;           /* CancelShieldedCheckpoint message */
    PyObject *value_type;           /* outcome.Value */
    PyObject *error_type;           /* outcome.Error */
    PyObject *run_finished;         /* trio.RunFinishedError */
    PyObject *str_error;            /* "error" */
    PyObject *str_run_sync_soon;
    PyObject *rescheduler;          /* C function, below */
} tst;

static PyObject *
rescheduler(PyObject *unused, PyObject *const *args, Py_ssize_t nargs);

static PyMethodDef rescheduler_def = {
    "_trio_reschedule", (PyCFunction)(void (*)(void))rescheduler,
    METH_FASTCALL,
    "_trio_reschedule(coro, msg, task)\n--\n\n"
    "On trio's thread: reschedule task if coro still waits on msg.",
};

static PyObject *
abort_fn(PyObject *owner, PyObject *raise_cancel);

static PyMethodDef abort_def = {
    "_trio_abort", abort_fn, METH_O,
    "_trio_abort(raise_cancel)\n--\n\n"
    "trio cancels the wait: disarm, and let trio reschedule the task.",
};

int
yp__trio_init(void)
{
    tst.str_trio = PyUnicode_InternFromString("trio");
    return tst.str_trio != NULL ? 0 : -1;
}

void
yp__trio_fini(void)
{
    tst.loaded = 0;
    Py_CLEAR(tst.str_trio);
    Py_CLEAR(tst.cvar);
    Py_CLEAR(tst.current_task);
    Py_CLEAR(tst.current_trio_token);
    Py_CLEAR(tst.reschedule);
    Py_CLEAR(tst.abort_succeeded);
    Py_CLEAR(tst.wait_type);
    Py_CLEAR(tst.checkpoint);
    Py_CLEAR(tst.value_type);
    Py_CLEAR(tst.error_type);
    Py_CLEAR(tst.run_finished);
    Py_CLEAR(tst.str_error);
    Py_CLEAR(tst.str_run_sync_soon);
    Py_CLEAR(tst.rescheduler);
}

/* The first message `async_fn(*arg)` yields to trio: public functions
 * only, no private imports.  New ref. */
static PyObject *
first_message(PyObject *async_fn, PyObject *arg)
{
    PyObject *coro = arg != NULL ? PyObject_CallOneArg(async_fn, arg)
                                 : PyObject_CallNoArgs(async_fn);
    if (coro == NULL) {
        return NULL;
    }
    PyObject *msg = PyObject_CallMethod(coro, "send", "O", Py_None);
    PyObject *r = PyObject_CallMethod(coro, "close", NULL);
    Py_DECREF(coro);
    if (r == NULL) {
        Py_XDECREF(msg);
        return NULL;
    }
    Py_DECREF(r);
    return msg;
}

static int
load(void)
{
    PyObject *wtr = NULL, *csc = NULL, *abort = NULL, *msg = NULL;
    int ok = 0;

    if ((tst.current_task = yp__import_attr("trio.lowlevel", "current_task"))
               == NULL
        || (tst.current_trio_token = yp__import_attr("trio.lowlevel",
                                                 "current_trio_token"))
               == NULL
        || (tst.reschedule = yp__import_attr("trio.lowlevel", "reschedule"))
               == NULL
        || (abort = yp__import_attr("trio.lowlevel", "Abort")) == NULL
        || (tst.abort_succeeded = PyObject_GetAttrString(abort, "SUCCEEDED"))
               == NULL
        || (tst.run_finished = yp__import_attr("trio", "RunFinishedError"))
               == NULL
        || (tst.value_type = yp__import_attr("outcome", "Value")) == NULL
        || (tst.error_type = yp__import_attr("outcome", "Error")) == NULL
        || (tst.str_error = PyUnicode_InternFromString("error")) == NULL
        || (tst.str_run_sync_soon = PyUnicode_InternFromString(
                "run_sync_soon")) == NULL
        || (tst.rescheduler = PyCFunction_New(&rescheduler_def, NULL))
               == NULL
        || (wtr = yp__import_attr("trio.lowlevel", "wait_task_rescheduled"))
               == NULL
        || (csc = yp__import_attr("trio.lowlevel", "cancel_shielded_checkpoint"))
               == NULL
        || (msg = first_message(wtr, Py_None)) == NULL
        || (tst.checkpoint = first_message(csc, NULL)) == NULL)
    {
        goto done;
    }
    tst.wait_type = Py_NewRef((PyObject *)Py_TYPE(msg));
    tst.loaded = 1;
    ok = 1;

done:
    Py_XDECREF(wtr);
    Py_XDECREF(csc);
    Py_XDECREF(abort);
    Py_XDECREF(msg);
    if (!ok) {
        /* Keep str_trio and cvar, forget the rest: the next yield tries
         * again. */
        PyObject *keep = tst.str_trio, *cvar = tst.cvar;
        tst.str_trio = tst.cvar = NULL;
        yp__trio_fini();
        tst.str_trio = keep;
        tst.cvar = cvar;
        return -1;
    }
    return 0;
}

/* trio drives this thread: trio was imported, sniffio's context variable
 * (set by trio for its tasks) says "trio", and trio has a current task
 * here (the variable alone can leak into a worker thread's copied
 * context).  Only asked before a coroutine's first yield; never loads
 * more than the variable unless trio runs (the full load takes tens of
 * milliseconds on a debug interpreter: a wake landing meanwhile would
 * turn a no-loop error into a yield). */
static int
trio_running(void)
{
    if (tst.str_trio == NULL) {
        return 0;
    }
    if (tst.cvar == NULL) {
        PyObject *m = PyDict_GetItemWithError(PyImport_GetModuleDict(),
                                              tst.str_trio);
        if (m == NULL) {
            PyErr_Clear();
            return 0;
        }
        tst.cvar = yp__import_attr("sniffio", "current_async_library_cvar");
        if (tst.cvar == NULL) {
            PyErr_WriteUnraisable(tst.str_trio);
            return 0;
        }
    }
    PyObject *v = NULL;
    if (PyContextVar_Get(tst.cvar, NULL, &v) < 0) {
        PyErr_Clear();
        return 0;
    }
    int is_trio = v != NULL && PyUnicode_Check(v)
                  && PyUnicode_Compare(v, tst.str_trio) == 0;
    Py_XDECREF(v);
    if (!is_trio) {
        return 0;
    }
    if (!tst.loaded && load() < 0) {
        PyErr_WriteUnraisable(tst.str_trio);
        return 0;
    }
    PyObject *task = PyObject_CallNoArgs(tst.current_task);
    if (task == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(task);
    return 1;
}

static PyObject *
trio_yield_now(yp__wait_t *w)
{
    return Py_NewRef(tst.checkpoint);
}

static PyObject *
trio_suspend(yp__wait_t *w)
{
    PyObject *task = NULL, *token = NULL, *hub = NULL, *abort = NULL;
    PyObject *msg = NULL;

    if (!tst.loaded) {
        PyErr_SetString(PyExc_RuntimeError, "yieldpoint runtime is shut down");
        return NULL;
    }
    if ((task = PyObject_CallNoArgs(tst.current_task)) == NULL
        || (token = PyObject_CallNoArgs(tst.current_trio_token)) == NULL
        || (hub = (w->loop != NULL && yp__hub_loop(w->loop) == token)
                ? Py_NewRef(w->loop) : yp__hub_for_token(token)) == NULL
        || (abort = PyCFunction_New(&abort_def, yp__wait_owner(w))) == NULL
        || (msg = PyObject_CallOneArg(tst.wait_type, abort)) == NULL)
    {
        Py_XDECREF(task);
        Py_XDECREF(token);
        Py_XDECREF(hub);
        Py_XDECREF(abort);
        return NULL;
    }
    Py_DECREF(token);   /* the hub holds it */
    Py_DECREF(abort);
    Py_XSETREF(w->task, task);
    Py_XSETREF(w->loop, hub);
    Py_XSETREF(w->yielded, Py_NewRef(msg));
    return msg;
}

/* abort_fn(raise_cancel): trio calls it at most once per wait, when the
 * task's cancel scope is cancelled while it waits.  Disarm (take the task
 * out of the record: a wake arriving later reschedules nothing) and
 * return SUCCEEDED: trio then reschedules the task itself with
 * Error(Cancelled()), which send() throws into the coroutine. */
static PyObject *
abort_fn(PyObject *owner, PyObject *raise_cancel)
{
    if (YP_FAULT(TRIO_STALE_RESCHEDULE)) {
        /* Leave the wait armed: a wake queued before the abort and
         * delivered after it reschedules a task trio already did. */
        return Py_NewRef(tst.abort_succeeded);
    }
    Py_CLEAR(yp__wait_of(owner)->task);
    return Py_NewRef(tst.abort_succeeded != NULL ? tst.abort_succeeded
                                                 : Py_None);
}

/* Reschedule `task` (GIL held, on trio's thread).  Never raises: an
 * exception escaping a run_sync_soon callback would be a
 * TrioInternalError that kills the run. */
static void
reschedule(PyObject *task)
{
    PyObject *r = tst.reschedule != NULL
        ? PyObject_CallOneArg(tst.reschedule, task) : Py_NewRef(Py_None);
    if (r == NULL) {
        PyErr_WriteUnraisable(task);
    }
    Py_XDECREF(r);
}

/* rescheduler(coro, msg, task), run by trio for a foreign wake: the
 * coroutine may have been resumed, aborted, finished or suspended again
 * since the wake was queued; only a coroutine still waiting on `msg` with
 * `task` is rescheduled. */
static PyObject *
rescheduler(PyObject *unused, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        Py_RETURN_NONE;   /* only ever called by deliver below */
    }
    yp__wait_t *w = yp__wait_of(args[0]);
    PyObject *msg = args[1], *task = args[2];
    if (w->yielded == msg && w->task == task) {
        Py_CLEAR(w->task);   /* args[2] still holds it */
        reschedule(task);
    }
    Py_RETURN_NONE;
}

static void
trio_deliver(yp__wait_t *w, yp__taskwaker_t *tw)
{
    if (w->task == NULL || w->yielded == NULL) {
        return;   /* aborted, already rescheduled, or not waiting */
    }
    if (__atomic_load_n(&tw->link.loop_thread, __ATOMIC_RELAXED)
        == PyThread_get_thread_ident())
    {
        PyObject *task = w->task;   /* take it out: one reschedule */
        w->task = NULL;
        reschedule(task);
        Py_DECREF(task);
        return;
    }
    /* Beware: re-entrancy.  run_sync_soon runs Python code; hold our own
     * references to what it needs. */
    PyObject *token = Py_NewRef(yp__hub_loop(w->loop));
    PyObject *msg = Py_NewRef(w->yielded);
    PyObject *task = Py_NewRef(w->task);
    PyObject *owner = yp__wait_owner(w);
    PyObject *r = PyObject_CallMethodObjArgs(token, tst.str_run_sync_soon,
                                             tst.rescheduler, owner, msg,
                                             task, NULL);
    if (r == NULL) {
        if (PyErr_ExceptionMatches(tst.run_finished)) {
            PyErr_Clear();   /* trio.run returned: nobody to wake */
        }
        else {
            PyErr_WriteUnraisable(token);
        }
    }
    Py_XDECREF(r);
    Py_DECREF(token);
    Py_DECREF(msg);
    Py_DECREF(task);
}

static int
trio_unwrap(yp__wait_t *w, PyObject *sent, PyObject **exc)
{
    *exc = NULL;
    if (!tst.loaded || !PyObject_TypeCheck(sent, (PyTypeObject *)tst.error_type)) {
        return 0;   /* outcome.Value (or anything else): a poll */
    }
    *exc = PyObject_GetAttr(sent, tst.str_error);
    if (*exc == NULL) {
        return -1;
    }
    if (!PyExceptionInstance_Check(*exc)) {
        Py_CLEAR(*exc);
        PyErr_SetString(PyExc_TypeError,
                        "outcome.Error sent into a coroutine must hold an "
                        "exception instance");
        return -1;
    }
    return 1;
}

static void
trio_release(yp__wait_t *w)
{
    Py_CLEAR(w->yielded);
    Py_CLEAR(w->task);
}

static void
trio_clear(yp__wait_t *w)
{
    trio_release(w);
    Py_CLEAR(w->loop);
}

const yp__runtime_t yp__trio_runtime = {
    .running = trio_running,
    .yield_now = trio_yield_now,
    .suspend = trio_suspend,
    .bind = yp__hub_bind_own,
    .deliver = trio_deliver,
    .unwrap = trio_unwrap,
    .release = trio_release,
    .clear = trio_clear,
};
