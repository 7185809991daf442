/* harness.c -- see harness.h. */
#include "harness.h"

#include <stdlib.h>

static PyObject *module;
yp_waker_t *t_kept_waker;

void
h_init(void)
{
    PyPreConfig pre;
    PyPreConfig_InitIsolatedConfig(&pre);
    pre.allocator = PYMEM_ALLOCATOR_MALLOC;
    PyStatus s = Py_PreInitialize(&pre);
    cr_assert(!PyStatus_Exception(s), "Py_PreInitialize failed");

    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    s = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    cr_assert(!PyStatus_Exception(s), "Py_InitializeFromConfig failed");

    module = PyModule_New("yp_test");
    cr_assert_not_null(module);
    cr_assert_eq(yp_init(module), 0, "yp_init failed");
    h_set("yp_test", module);
    h_run("import asyncio, gc, sys, threading, time");
}

PyObject *
h_module(void)
{
    return module;
}

static void
fail_with_exception(const char *what)
{
    if (PyErr_Occurred()) {
        PyErr_Print();
    }
    cr_assert_fail("%s raised (traceback above)", what);
}

void
h_run(const char *src)
{
    PyObject *main = PyImport_AddModule("__main__");
    PyObject *d = PyModule_GetDict(main);
    PyObject *r = PyRun_String(src, Py_file_input, d, d);
    if (r == NULL) {
        fail_with_exception(src);
    }
    Py_DECREF(r);
}

PyObject *
h_eval(const char *expr)
{
    PyObject *main = PyImport_AddModule("__main__");
    PyObject *d = PyModule_GetDict(main);
    PyObject *r = PyRun_String(expr, Py_eval_input, d, d);
    if (r == NULL) {
        fail_with_exception(expr);
    }
    return r;
}

void
h_set(const char *name, PyObject *obj)
{
    PyObject *main = PyImport_AddModule("__main__");
    cr_assert_eq(PyObject_SetAttrString(main, name, obj), 0);
}

void
h_fini(void)
{
    h_run("for _n in ('coro', 'c', 't', 'r'):\n"
          "    globals().pop(_n, None)\n"
          "gc.collect()");
    cr_assert_null(PyErr_Occurred(), "exception left pending");
    cr_assert_eq(yp_live_coroutines(), 0, "%zd coroutines alive",
                 yp_live_coroutines());
    cr_assert_eq(yp_live_futures(), 0, "%zd futures alive",
                 yp_live_futures());
    yp_waker_drop(t_kept_waker);
    t_kept_waker = NULL;
    module = NULL;   /* owned by __main__ now */
    cr_assert_eq(Py_FinalizeEx(), 0, "Py_FinalizeEx failed");
}

/* ---------------------------------------------------------------------
 * The test future.
 */
typedef struct {
    yp_future_t base;
    PyObject *value;
    t_counts_t *counts;
    int n;
    int at;
    t_step_t steps[];
} t_future_t;

static yp_poll_t
t_poll(yp_future_t *f, yp_context_t *cx, PyObject **result)
{
    t_future_t *self = (t_future_t *)f;
    t_step_t step = self->steps[self->at < self->n ? self->at : self->n - 1];
    self->at++;
    self->counts->polls++;
    switch (step) {
    case T_READY:
        *result = Py_NewRef(self->value);
        return YP_READY;
    case T_ERROR:
        PyErr_SetObject((PyObject *)Py_TYPE(self->value), self->value);
        return YP_ERROR;
    case T_WAKE:
        yp_waker_wake_by_ref(yp_context_waker(cx));
        return YP_PENDING;
    case T_KEEP_WAKER:
        yp_waker_register(&t_kept_waker, yp_context_waker(cx));
        return YP_PENDING;
    case T_PENDING:
    default:
        return YP_PENDING;
    }
}

static void
t_drop(yp_future_t *f)
{
    t_future_t *self = (t_future_t *)f;
    self->counts->drops++;
    Py_XDECREF(self->value);
    free(self);
}

static int
t_traverse(yp_future_t *f, visitproc visit, void *arg)
{
    Py_VISIT(((t_future_t *)f)->value);
    return 0;
}

static const yp_future_vtable_t t_vtable = {
    .name = "t_future",
    .poll = t_poll,
    .drop = t_drop,
    .traverse = t_traverse,
};

yp_future_t *
t_future(const t_step_t *steps, int n, PyObject *value, t_counts_t *counts)
{
    t_future_t *self = malloc(sizeof(*self) + (size_t)n * sizeof(t_step_t));
    cr_assert_not_null(self);
    self->base.vtable = &t_vtable;
    self->value = Py_XNewRef(value ? value : Py_None);
    self->counts = counts;
    self->n = n;
    self->at = 0;
    for (int i = 0; i < n; i++) {
        self->steps[i] = steps[i];
    }
    return &self->base;
}
