/*
 * runtime.c -- the engine's module state and its lifetime: the top of the
 * binding, composing the layers below (each owns and clears its state).
 *
 * The state is created by the first yp_init() and owned by a capsule that
 * every initialised module keeps in its dict (as "_yieldpoint_runtime").
 * Module dicts are cleared during finalization while the interpreter still
 * works, so the capsule destructor is the last safe moment to stop the
 * timer thread and to tell foreign wakers to stay away from the GIL.
 */
#include "pyglue.h"

/* Borrowed: valid exactly while the engine is initialised (its destructor
 * clears it), so a second yp_init can share it without a reference
 * cycle. */
static PyObject *the_capsule = NULL;

#define YP__CAPSULE_NAME "yieldpoint._runtime"

/* Tear down in the reverse order of state_init; each fini tolerates a
 * partial init. */
static void
state_fini(void)
{
    yp__coroutine_fini();
    yp__trio_fini();
    yp__asyncio_fini();
    yp__hub_fini();
    yp__waiter_fini();
}

static int
state_init(void)
{
    if (yp__waiter_init() < 0 || yp__hub_init() < 0
        || yp__asyncio_init() < 0 || yp__trio_init() < 0
        || yp__coroutine_init() < 0)
    {
        state_fini();
        return -1;
    }
    return 0;
}

static void
capsule_destructor(PyObject *capsule)
{
    if (capsule != the_capsule) {
        return;   /* cannot happen: one capsule per initialisation */
    }
    /* Foreign wakers must stop attaching before the interpreter goes. */
    yp__coroutine_set_wakes(0);
    /* The timer thread wakes wakers outside its lock, and a wake may be
     * waiting for the GIL right now: release it while joining. */
    Py_BEGIN_ALLOW_THREADS
    yp_timer_shutdown();
    Py_END_ALLOW_THREADS
    the_capsule = NULL;
    state_fini();
}

int
yp_init(PyObject *module)
{
    PyObject *capsule = NULL;

    if (module == NULL || !PyModule_Check(module)) {
        PyErr_SetString(PyExc_TypeError, "yp_init() expects a module");
        return -1;
    }
    if (the_capsule == NULL) {
        if (state_init() < 0) {
            return -1;
        }
        /* The pointer only names the capsule; the state is file-static
         * in each layer. */
        capsule = PyCapsule_New((void *)&the_capsule, YP__CAPSULE_NAME,
                                capsule_destructor);
        if (capsule == NULL) {
            state_fini();
            return -1;
        }
        the_capsule = capsule;
        yp_timer_restart();
        yp__coroutine_set_wakes(1);
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
