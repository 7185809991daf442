/* Cancel handles and borrow flags through the public API. */
#include "harness.h"

H_SUITE(cancel);
H_SUITE(borrow);

static void
counting_wake(yp_waker_t *w)
{
    (*(int *)w->data)++;
}

static void
noop_destroy(yp_waker_t *w)
{
}

static const yp_waker_vtable_t counting_vtable = {
    .wake = counting_wake, .destroy = noop_destroy,
};

Test(cancel, stores_last_exception_and_wakes_registered_waker)
{
    int wakes_a = 0, wakes_b = 0;
    yp_waker_t a, b;
    yp_waker_init(&a, &counting_vtable, &wakes_a);
    yp_waker_init(&b, &counting_vtable, &wakes_b);
    yp_cancel_t *h = yp_cancel_new();
    PyObject *exc;

    yp_context_t cx = {.waker = &a};
    cr_assert_eq(yp_cancel_poll(h, &cx, &exc), YP_PENDING);
    cr_assert_eq(yp_waker_refcount(&a), 2, "registered a clone");
    cr_assert_eq(yp_cancel_poll(h, &cx, &exc), YP_PENDING);
    cr_assert_eq(yp_waker_refcount(&a), 2, "same waker: not re-registered");
    cx.waker = &b;
    cr_assert_eq(yp_cancel_poll(h, &cx, &exc), YP_PENDING);
    cr_assert_eq(yp_waker_refcount(&a), 1, "replaced: old clone dropped");
    cr_assert_eq(yp_waker_refcount(&b), 2);
    cr_assert(!yp_cancel_is_cancelled(h));

    PyObject *e1 = PyObject_CallNoArgs(PyExc_KeyError);
    PyObject *e2 = PyObject_CallNoArgs(PyExc_ValueError);
    yp_cancel_throw(h, e1);
    yp_cancel_throw(h, e2);
    cr_assert(yp_cancel_is_cancelled(h));
    cr_assert_eq(wakes_b, 2);
    cr_assert_eq(wakes_a, 0);
    cr_assert_eq(yp_cancel_poll(h, &cx, &exc), YP_READY);
    cr_assert_eq(exc, e2, "only the last exception is kept");
    Py_DECREF(exc);
    Py_DECREF(e1);
    Py_DECREF(e2);
    yp_cancel_decref(h);
    cr_assert_eq(yp_waker_refcount(&b), 1, "handle freed its clone");
    h_fini();
}

Test(cancel, cancelled_future_in_a_loop_task_cancel)
{
    yp_cancel_t *h = yp_cancel_new();
    PyObject *coro = yp_coroutine_new(yp_cancel_cancelled(h), "c", NULL, h);
    yp_cancel_decref(h);
    h_set("coro", coro);
    Py_DECREF(coro);
    h_run("async def main():\n"
          "    t = asyncio.ensure_future(coro)\n"
          "    await asyncio.sleep(0.01)\n"
          "    t.cancel('why')\n"
          "    r = await t\n"
          "    return r, t.cancelled()\n"
          "r = asyncio.run(main())\n"
          "assert isinstance(r[0], asyncio.CancelledError), r\n"
          "assert r[1] is False");
    h_fini();
}

Test(borrow, messages_and_states)
{
    yp_borrowflag_t f = YP_BORROWFLAG_INIT;
    cr_assert_eq(yp_borrow_acquire(&f, YP_BORROW_SHARED), 0);
    cr_assert_eq(yp_borrow_acquire(&f, YP_BORROW_SHARED), 0);
    cr_assert_eq(yp_borrowflag_state(&f), 2);
    cr_assert_eq(yp_borrow_acquire(&f, YP_BORROW_EXCLUSIVE), -1);
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    cr_assert_eq(t, PyExc_RuntimeError);
    cr_assert_str_eq(PyUnicode_AsUTF8(v), "Already borrowed");
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    yp_borrow_release(&f, YP_BORROW_SHARED);
    yp_borrow_release(&f, YP_BORROW_SHARED);
    cr_assert_eq(yp_borrowflag_state(&f), 0);
    cr_assert_eq(yp_borrow_acquire(&f, YP_BORROW_EXCLUSIVE), 0);
    cr_assert_eq(yp_borrowflag_state(&f), -1);
    cr_assert_eq(yp_borrow_acquire(&f, YP_BORROW_SHARED), -1);
    PyErr_Fetch(&t, &v, &tb);
    cr_assert_str_eq(PyUnicode_AsUTF8(v), "Already mutably borrowed");
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    yp_borrow_release(&f, YP_BORROW_EXCLUSIVE);
    cr_assert_eq(yp_borrowflag_state(&f), 0);
    h_fini();
}

Test(borrow, guard_takes_at_first_poll_and_releases_on_drop)
{
    yp_borrowflag_t f = YP_BORROWFLAG_INIT;
    t_counts_t c = {0};
    t_step_t s[] = {T_WAKE, T_READY};
    PyObject *owner = PyList_New(0);
    PyObject *coro = yp_coroutine_new(
        yp_borrow_guard(t_future(s, 2, NULL, &c), owner, &f,
                        YP_BORROW_EXCLUSIVE), "m", "Owner.m", NULL), *r;
    cr_assert_eq(yp_borrowflag_state(&f), 0, "not taken at call time");
    cr_assert_eq(PyIter_Send(coro, Py_None, &r), PYGEN_NEXT);
    Py_DECREF(r);
    cr_assert_eq(yp_borrowflag_state(&f), -1, "held across the yield");
    cr_assert_eq(PyIter_Send(coro, Py_None, &r), PYGEN_RETURN);
    Py_DECREF(r);
    cr_assert_eq(yp_borrowflag_state(&f), 0, "released at completion");
    Py_DECREF(coro);

    /* A refused borrow fails the first poll and drops the inner future. */
    cr_assert_eq(yp_borrow_acquire(&f, YP_BORROW_SHARED), 0);
    coro = yp_coroutine_new(
        yp_borrow_guard(t_future(s, 2, NULL, &c), owner, &f,
                        YP_BORROW_EXCLUSIVE), "m", "Owner.m", NULL);
    cr_assert_eq(PyIter_Send(coro, Py_None, &r), PYGEN_ERROR);
    cr_assert(PyErr_ExceptionMatches(PyExc_RuntimeError));
    PyErr_Clear();
    cr_assert_eq(c.drops, 2);
    yp_borrow_release(&f, YP_BORROW_SHARED);
    cr_assert_eq(yp_borrowflag_state(&f), 0);
    Py_DECREF(coro);
    cr_assert_eq(Py_REFCNT(owner), 1, "the guard released its owner");
    Py_DECREF(owner);
    h_fini();
}
