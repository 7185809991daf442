/* drop runs exactly once, on every path that ends a future. */
#include "harness.h"

H_SUITE(drop);

static PyObject *
coro_of(const t_step_t *steps, int n, PyObject *value, t_counts_t *c)
{
    PyObject *coro = yp_coroutine_new(t_future(steps, n, value, c), "t",
                                      NULL, NULL);
    cr_assert_not_null(coro);
    return coro;
}

static PySendResult
send(PyObject *coro, PyObject **out)
{
    return PyIter_Send(coro, Py_None, out);
}

Test(drop, on_ready)
{
    t_counts_t c = {0};
    t_step_t s[] = {T_READY};
    PyObject *coro = coro_of(s, 1, NULL, &c), *r;
    cr_assert_eq(send(coro, &r), PYGEN_RETURN);
    Py_DECREF(r);
    cr_assert_eq(c.drops, 1);
    cr_assert_eq(send(coro, &r), PYGEN_ERROR);   /* reuse */
    PyErr_Clear();
    cr_assert_eq(c.drops, 1);
    Py_DECREF(coro);
    cr_assert_eq(c.drops, 1);
    h_fini();
}

Test(drop, on_error)
{
    t_counts_t c = {0};
    t_step_t s[] = {T_ERROR};
    PyObject *exc = PyObject_CallFunction(PyExc_KeyError, "s", "k");
    PyObject *coro = coro_of(s, 1, exc, &c), *r;
    Py_DECREF(exc);
    cr_assert_eq(send(coro, &r), PYGEN_ERROR);
    cr_assert(PyErr_ExceptionMatches(PyExc_KeyError));
    PyErr_Clear();
    cr_assert_eq(c.drops, 1);
    Py_DECREF(coro);
    cr_assert_eq(c.drops, 1);
    h_fini();
}

Test(drop, on_throw_without_handle)
{
    t_counts_t c = {0};
    t_step_t s[] = {T_WAKE};
    PyObject *coro = coro_of(s, 1, NULL, &c), *r;
    cr_assert_eq(send(coro, &r), PYGEN_NEXT);
    cr_assert_eq(r, Py_None, "woken during poll yields None");
    Py_DECREF(r);
    r = PyObject_CallMethod(coro, "throw", "O", PyExc_ValueError);
    cr_assert_null(r);
    cr_assert(PyErr_ExceptionMatches(PyExc_ValueError));
    PyErr_Clear();
    cr_assert_eq(c.drops, 1);
    cr_assert_eq(c.polls, 1);
    Py_DECREF(coro);
    cr_assert_eq(c.drops, 1);
    h_fini();
}

Test(drop, on_close_fresh_and_suspended_and_twice)
{
    t_counts_t c1 = {0}, c2 = {0};
    t_step_t s[] = {T_WAKE};
    PyObject *fresh = coro_of(s, 1, NULL, &c1);
    PyObject *susp = coro_of(s, 1, NULL, &c2), *r;
    cr_assert_eq(send(susp, &r), PYGEN_NEXT);
    Py_DECREF(r);
    for (int i = 0; i < 2; i++) {
        r = PyObject_CallMethod(fresh, "close", NULL);
        cr_assert_eq(r, Py_None);
        Py_DECREF(r);
        r = PyObject_CallMethod(susp, "close", NULL);
        cr_assert_eq(r, Py_None);
        Py_DECREF(r);
    }
    cr_assert_eq(c1.drops, 1);
    cr_assert_eq(c1.polls, 0);
    cr_assert_eq(c2.drops, 1);
    Py_DECREF(fresh);
    Py_DECREF(susp);
    cr_assert_eq(c1.drops + c2.drops, 2);
    h_fini();
}

Test(drop, on_free_fresh_warns_once)
{
    t_counts_t c = {0};
    t_step_t s[] = {T_READY};
    h_run("import warnings\n"
          "_w = warnings.catch_warnings(record=True)\n"
          "caught = _w.__enter__()\n"
          "warnings.simplefilter('always')");
    PyObject *coro = coro_of(s, 1, NULL, &c);
    Py_DECREF(coro);
    cr_assert_eq(c.drops, 1);
    cr_assert_eq(c.polls, 0);
    PyObject *n = h_eval("sum('was never awaited' in str(w.message) "
                         "and w.category is RuntimeWarning for w in caught)");
    cr_assert_eq(PyLong_AsLong(n), 1);
    Py_DECREF(n);
    h_run("_w.__exit__(None, None, None)");
    h_fini();
}

Test(drop, on_free_suspended)
{
    t_counts_t c = {0};
    t_step_t s[] = {T_WAKE};
    PyObject *coro = coro_of(s, 1, NULL, &c), *r;
    cr_assert_eq(send(coro, &r), PYGEN_NEXT);
    Py_DECREF(r);
    Py_DECREF(coro);
    cr_assert_eq(c.drops, 1);
    h_fini();
}

Test(drop, on_gc_of_cycle)
{
    t_counts_t c = {0};
    t_step_t s[] = {T_WAKE};
    PyObject *list = PyList_New(0);
    PyObject *coro = coro_of(s, 1, list, &c), *r;
    PyList_Append(list, coro);        /* coro -> future -> list -> coro */
    Py_DECREF(list);
    cr_assert_eq(send(coro, &r), PYGEN_NEXT);
    Py_DECREF(r);
    Py_DECREF(coro);
    cr_assert_eq(c.drops, 0, "kept alive by the cycle");
    PyGC_Collect();
    cr_assert_eq(c.drops, 1);
    h_fini();
}

Test(drop, with_cancel_handle_after_throw)
{
    yp_cancel_t *cancel = yp_cancel_new();
    PyObject *coro = yp_coroutine_new(yp_cancel_cancelled(cancel), "c",
                                      NULL, cancel);
    yp_cancel_decref(cancel);
    cr_assert_not_null(coro);
    PyObject *exc = PyObject_CallNoArgs(PyExc_KeyError);
    PyObject *r = PyObject_CallMethod(coro, "throw", "O", exc);
    cr_assert_null(r);
    cr_assert(PyErr_ExceptionMatches(PyExc_StopIteration));
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    PyObject *value = PyObject_GetAttrString(v, "value");
    cr_assert_eq(value, exc, "the thrown exception object is returned");
    Py_DECREF(value);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    Py_DECREF(exc);
    cr_assert_eq(yp_live_futures(), 0);
    Py_DECREF(coro);
    h_fini();
}

Test(drop, future_never_wrapped)
{
    t_counts_t c = {0};
    t_step_t s[] = {T_READY};
    yp_future_drop(t_future(s, 1, NULL, &c));
    yp_future_drop(NULL);
    cr_assert_eq(c.drops, 1);
    h_fini();
}

Test(drop, null_future_is_an_error_not_a_crash)
{
    cr_assert_null(yp_coroutine_new(NULL, "x", NULL, NULL));
    cr_assert(PyErr_ExceptionMatches(PyExc_SystemError));
    PyErr_Clear();
    h_fini();
}

Test(drop, select_drops_losers_at_once)
{
    t_counts_t a = {0}, b = {0}, w = {0};
    t_step_t pend[] = {T_PENDING}, wake_then_ready[] = {T_WAKE, T_READY};
    PyObject *seven = PyLong_FromLong(7);
    yp_future_t *fs[3] = {
        t_future(pend, 1, NULL, &a),
        t_future(wake_then_ready, 2, seven, &w),
        t_future(pend, 1, NULL, &b),
    };
    Py_DECREF(seven);
    PyObject *coro = yp_coroutine_new(yp_select(fs, 3, 1), "sel", NULL,
                                      NULL), *r;
    cr_assert_eq(send(coro, &r), PYGEN_NEXT);
    Py_DECREF(r);
    cr_assert_eq(a.drops + b.drops + w.drops, 0);
    cr_assert_eq(send(coro, &r), PYGEN_RETURN);
    cr_assert(PyTuple_Check(r) && PyTuple_GET_SIZE(r) == 2);
    cr_assert_eq(PyLong_AsLong(PyTuple_GET_ITEM(r, 0)), 1);
    cr_assert_eq(PyLong_AsLong(PyTuple_GET_ITEM(r, 1)), 7);
    Py_DECREF(r);
    cr_assert_eq(a.drops, 1);
    cr_assert_eq(b.drops, 1);
    cr_assert_eq(w.drops, 1);
    cr_assert_eq(a.polls, 2, "earlier branches are polled again");
    cr_assert_eq(b.polls, 1, "branches after the winner are not polled");
    Py_DECREF(coro);
    h_fini();
}

Test(drop, select_close_drops_all_once)
{
    t_counts_t a = {0}, b = {0};
    t_step_t pend[] = {T_WAKE};
    yp_future_t *fs[2] = {t_future(pend, 1, NULL, &a),
                          t_future(pend, 1, NULL, &b)};
    PyObject *coro = yp_coroutine_new(yp_select(fs, 2, 0), "sel", NULL,
                                      NULL), *r;
    cr_assert_eq(send(coro, &r), PYGEN_NEXT);
    Py_DECREF(r);
    r = PyObject_CallMethod(coro, "close", NULL);
    Py_XDECREF(r);
    cr_assert_eq(a.drops, 1);
    cr_assert_eq(b.drops, 1);
    Py_DECREF(coro);
    h_fini();
}

Test(drop, select_of_nothing_is_valueerror)
{
    cr_assert_null(yp_select(NULL, 0, 0));
    cr_assert(PyErr_ExceptionMatches(PyExc_ValueError));
    PyErr_Clear();
    h_fini();
}
