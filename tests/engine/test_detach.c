/* Attachment: polls run with the GIL held; yp_detach releases it so other
 * Python threads make progress during a blocking poll. */
#include "harness.h"

#include <time.h>

H_SUITE(detach);

typedef struct {
    yp_detached_t base;
    int held;
    int *dropped;
} blocker_t;

static yp_poll_t
blocker_poll(yp_detached_t *d, yp_context_t *cx)
{
    blocker_t *self = (blocker_t *)d;
    self->held = PyGILState_Check();
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return YP_READY;
}

static PyObject *
blocker_finish(yp_detached_t *d)
{
    return PyBool_FromLong(((blocker_t *)d)->held);
}

static void
blocker_drop(yp_detached_t *d)
{
    (*((blocker_t *)d)->dropped)++;
    free(d);
}

static const yp_detached_vtable_t blocker_vtable = {
    .name = "blocker",
    .poll = blocker_poll,
    .finish = blocker_finish,
    .drop = blocker_drop,
};

static const char SPINNER[] =
    "ticks = []\n"
    "stop = threading.Event()\n"
    "def spin():\n"
    "    while not stop.is_set():\n"
    "        ticks.append(time.monotonic())\n"
    "        time.sleep(0.001)\n"
    "th = threading.Thread(target=spin)\n"
    "th.start()\n"
    "time.sleep(0.02)\n";

Test(detach, other_threads_run_during_detached_poll)
{
    int dropped = 0;
    blocker_t *b = calloc(1, sizeof(*b));
    b->base.vtable = &blocker_vtable;
    b->dropped = &dropped;
    PyObject *coro = yp_coroutine_new(yp_detach(&b->base), "b", NULL, NULL);
    h_set("coro", coro);
    Py_DECREF(coro);
    h_run(SPINNER);
    h_run("t0 = time.monotonic()\n"
          "held = asyncio.run(coro)\n"
          "t1 = time.monotonic()\n"
          "stop.set(); th.join()\n"
          "during = len([t for t in ticks if t0 + 0.02 < t < t1 - 0.02])");
    PyObject *held = h_eval("held"), *during = h_eval("during");
    cr_assert_eq(held, Py_False, "the detached poll ran without the GIL");
    cr_assert_geq(PyLong_AsLong(during), 10,
                  "another Python thread progressed %ld times",
                  PyLong_AsLong(during));
    Py_DECREF(held);
    Py_DECREF(during);
    cr_assert_eq(dropped, 1);
    h_fini();
}

typedef struct {
    yp_future_t base;
} attached_t;

static yp_poll_t
attached_poll(yp_future_t *f, yp_context_t *cx, PyObject **result)
{
    int held = PyGILState_Check();
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    *result = PyBool_FromLong(held);
    return YP_READY;
}

static void
attached_drop(yp_future_t *f)
{
    free(f);
}

static const yp_future_vtable_t attached_vtable = {
    .name = "attached", .poll = attached_poll, .drop = attached_drop,
};

Test(detach, ordinary_polls_hold_the_gil)
{
    attached_t *a = calloc(1, sizeof(*a));
    a->base.vtable = &attached_vtable;
    PyObject *coro = yp_coroutine_new(&a->base, "a", NULL, NULL);
    h_set("coro", coro);
    Py_DECREF(coro);
    h_run(SPINNER);
    h_run("t0 = time.monotonic()\n"
          "held = asyncio.run(coro)\n"
          "t1 = time.monotonic()\n"
          "stop.set(); th.join()\n"
          "during = len([t for t in ticks if t0 + 0.02 < t < t1 - 0.02])");
    PyObject *held = h_eval("held"), *during = h_eval("during");
    cr_assert_eq(held, Py_True);
    cr_assert_leq(PyLong_AsLong(during), 2, "no progress while attached");
    Py_DECREF(held);
    Py_DECREF(during);
    h_fini();
}

static yp_poll_t
bad_poll(yp_detached_t *d, yp_context_t *cx)
{
    return YP_ERROR;   /* not allowed without the GIL */
}

static const yp_detached_vtable_t bad_vtable = {
    .name = "bad",
    .poll = bad_poll,
    .finish = blocker_finish,
    .drop = blocker_drop,
};

Test(detach, error_from_detached_poll_is_systemerror)
{
    int dropped = 0;
    blocker_t *b = calloc(1, sizeof(*b));
    b->base.vtable = &bad_vtable;
    b->dropped = &dropped;
    PyObject *coro = yp_coroutine_new(yp_detach(&b->base), "b", NULL, NULL);
    PyObject *r;
    cr_assert_eq(PyIter_Send(coro, Py_None, &r), PYGEN_ERROR);
    cr_assert(PyErr_ExceptionMatches(PyExc_SystemError));
    PyErr_Clear();
    cr_assert_eq(dropped, 1);
    Py_DECREF(coro);
    h_fini();
}
