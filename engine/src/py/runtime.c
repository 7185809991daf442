/*
 * runtime.c -- the engine's process-wide state and its lifetime.
 *
 * The state is created by the first yp_init() and owned by a capsule that
 * every initialised module keeps in its dict (as "_yieldpoint_runtime").
 * Module dicts are cleared during finalization while the interpreter still
 * works, so the capsule destructor is the last safe moment to stop the
 * timer thread and to tell foreign wakers to stay away from the GIL.
 */
#include "pyglue.h"

#include <stdlib.h>

yp__state_t *yp__st = NULL;
Py_ssize_t yp__live_futures = 0;
Py_ssize_t yp__live_coros = 0;

static int interpreter_alive = 0;   /* atomic */
/* Borrowed: valid exactly while yp__st is non-NULL (its destructor clears
 * both), so a second yp_init can share it without a reference cycle. */
static PyObject *the_capsule = NULL;

#define YP__CAPSULE_NAME "yieldpoint._runtime"

int
yp__interpreter_alive(void)
{
    /* The flag covers teardown of our own state; Py_IsInitialized and the
     * finalizing check cover an interpreter that is going away without
     * having cleared our capsule yet (a leaked module). */
    return __atomic_load_n(&interpreter_alive, __ATOMIC_ACQUIRE)
           && Py_IsInitialized() && !_Py_IsFinalizing();
}

static void
state_free(yp__state_t *st)
{
    yp__hub_fini(st);
    yp__asyncio_fini(st);
    yp__coroutine_freelist_clear();
    Py_CLEAR(st->coroutine_type);
    Py_CLEAR(st->str_create_future);
    Py_CLEAR(st->str_call_soon_threadsafe);
    Py_CLEAR(st->str_set_result);
    Py_CLEAR(st->str_done);
    Py_CLEAR(st->str_is_closed);
    Py_CLEAR(st->str_blocking);
    PyMem_Free(st);
}

static void
capsule_destructor(PyObject *capsule)
{
    yp__state_t *st = PyCapsule_GetPointer(capsule, YP__CAPSULE_NAME);
    if (st == NULL) {
        PyErr_WriteUnraisable(capsule);
        return;
    }
    /* Foreign wakers must stop attaching before the interpreter goes. */
    __atomic_store_n(&interpreter_alive, 0, __ATOMIC_RELEASE);
    /* The timer thread wakes wakers outside its lock, and a wake may be
     * waiting for the GIL right now: release it while joining. */
    Py_BEGIN_ALLOW_THREADS
    yp_timer_shutdown();
    Py_END_ALLOW_THREADS
    if (yp__st == st) {
        yp__st = NULL;
        the_capsule = NULL;
    }
    state_free(st);
}

static PyObject *
intern(const char *s)
{
    return PyUnicode_InternFromString(s);
}

static yp__state_t *
state_new(PyObject *module)
{
    yp__state_t *st = PyMem_Calloc(1, sizeof(*st));
    if (st == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if ((st->str_create_future = intern("create_future")) == NULL
        || (st->str_call_soon_threadsafe = intern("call_soon_threadsafe"))
               == NULL
        || (st->str_set_result = intern("set_result")) == NULL
        || (st->str_done = intern("done")) == NULL
        || (st->str_is_closed = intern("is_closed")) == NULL
        || (st->str_blocking = intern("_asyncio_future_blocking")) == NULL)
    {
        goto error;
    }
    if (yp__coroutine_type_init(st, module) < 0) {
        goto error;
    }
    if (yp__asyncio_init(st) < 0 || yp__hub_init(st) < 0) {
        goto error;
    }
    return st;

error:
    state_free(st);
    return NULL;
}

int
yp_init(PyObject *module)
{
    PyObject *capsule = NULL;

    if (module == NULL || !PyModule_Check(module)) {
        PyErr_SetString(PyExc_TypeError, "yp_init() expects a module");
        return -1;
    }
    if (yp__st == NULL) {
        yp__state_t *st = state_new(module);
        if (st == NULL) {
            return -1;
        }
        capsule = PyCapsule_New(st, YP__CAPSULE_NAME, capsule_destructor);
        if (capsule == NULL) {
            state_free(st);
            return -1;
        }
        yp__st = st;
        the_capsule = capsule;
        yp_timer_restart();
        __atomic_store_n(&interpreter_alive, 1, __ATOMIC_RELEASE);
    }
    else {
        capsule = Py_NewRef(the_capsule);
    }
    /* Both branches hold one reference to `capsule` here; the module's
     * dict takes its own. */
    if (PyObject_SetAttrString(module, "_yieldpoint_runtime", capsule) < 0) {
        Py_DECREF(capsule);
        return -1;
    }
    Py_DECREF(capsule);
    return 0;
}

PyTypeObject *
yp_coroutine_type(void)
{
    return yp__st != NULL ? yp__st->coroutine_type : NULL;
}

Py_ssize_t
yp_live_coroutines(void)
{
    return yp__live_coros;
}

Py_ssize_t
yp_live_futures(void)
{
    return yp__live_futures;
}
