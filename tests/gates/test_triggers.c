/*
 * test_triggers.c -- engine tests that reach code paths the gate faults
 * live on but tests/engine/ does not reach yet.  Linked into the gate
 * proof binaries (tests/gates/CMakeLists.txt); each also passes on the
 * clean engine, which the gate runs check too.
 */
#include "harness.h"

H_SUITE(triggers);

/* A coroutine suspended on a loop future that nobody else holds (driven
 * by hand inside a running loop, the future dropped), then closed: the
 * coroutine's own reference is the last one, so releasing it frees the
 * future (USE_AFTER_FREE reads it afterwards). */
Test(triggers, close_while_suspended_on_an_orphaned_waiter)
{
    t_counts_t c = {0};
    t_step_t s[] = {T_PENDING};
    PyObject *coro = yp_coroutine_new(t_future(s, 1, NULL, &c), "t",
                                      NULL, NULL);
    cr_assert_not_null(coro);
    h_set("coro", coro);
    Py_DECREF(coro);
    h_run("async def main():\n"
          "    fut = coro.send(None)\n"
          "    assert asyncio.isfuture(fut), fut\n"
          "    del fut\n"
          "    coro.close()\n"
          "asyncio.run(main())");
    cr_assert_eq(c.drops, 1);
    cr_assert_eq(c.polls, 1);
    h_fini();
}
