"""The engine's asyncio waiter (engine/src/py/waiter.c): what a coroutine
yields to asyncio on a real Pending.  Its protocol behaviour for a Task is
checked by the conformance suite (pending.waiter-protocol); these are the
engine's own guarantees: bad calls raise, nothing leaks, cycles through it
are collected, and asyncio's Tasks (C and Python) drive it."""
import asyncio
import gc
import weakref

import pytest


def _suspend(yp, script=("pending", ("ready", 1))):
    c = yp.scripted(list(script))
    return c, c.send(None)


def test_the_waiter_cannot_be_made_from_python(yp):
    async def main():
        c, w = _suspend(yp)
        with pytest.raises(TypeError):
            type(w)()
        c.close()
    asyncio.run(main())


def test_bad_calls_raise_clear_errors(yp):
    async def main():
        c, w = _suspend(yp)
        with pytest.raises(TypeError, match="exactly 1 positional"):
            w.add_done_callback()
        with pytest.raises(TypeError, match="unexpected keyword"):
            w.add_done_callback(print, ctx=None)
        with pytest.raises(TypeError, match="at most 1 argument"):
            w.cancel("a", "b")
        with pytest.raises(TypeError, match="unexpected keyword"):
            w.cancel(message="a")
        with pytest.raises(AttributeError):
            del w._asyncio_future_blocking
        with pytest.raises(ZeroDivisionError):
            w._asyncio_future_blocking = _BadBool()
        assert w._asyncio_future_blocking is True
        assert "pending" in repr(w)
        c.close()
    asyncio.run(main())


class _BadBool:
    def __bool__(self):
        raise ZeroDivisionError


def test_many_callbacks_run_in_order_and_removal_counts(yp):
    async def main():
        c, w = _suspend(yp)
        seen = []
        cbs = [lambda f, i=i: seen.append(i) for i in range(4)]
        for cb in cbs:
            w.add_done_callback(cb)
        w.add_done_callback(cbs[2])
        assert w.remove_done_callback(cbs[2]) == 2
        assert w.remove_done_callback(cbs[0]) == 1
        assert w.cancel() is True
        assert "cancelled" in repr(w)
        for _ in range(3):
            await asyncio.sleep(0)
        assert seen == [1, 3]
        c.close()
    asyncio.run(main())


def test_a_callback_that_compares_badly_propagates(yp):
    class Bad:
        def __eq__(self, other):
            raise ValueError("no")

        def __call__(self, f):
            pass

    async def main():
        c, w = _suspend(yp)
        w.add_done_callback(Bad())
        with pytest.raises(ValueError):
            w.remove_done_callback(print)
        w.cancel()
        c.close()
    asyncio.run(main())


@pytest.mark.parametrize("task", ["c", "python"])
def test_tasks_drive_it_cancel_with_a_message_included(yp, task):
    """asyncio's C Task calls cancel(msg) positionally, the Python Task by
    keyword: both end in the coroutine with the message."""
    factory = (asyncio.tasks._CTask if task == "c"
               else asyncio.tasks._PyTask)

    async def main():
        loop = asyncio.get_running_loop()
        t = factory(yp.sleep(30), loop=loop)
        await asyncio.sleep(0)
        assert type(t._fut_waiter).__name__ == "_Waiter"
        t.cancel("stop here")
        with pytest.raises(asyncio.CancelledError, match="stop here"):
            await t
        ok = factory(yp.sleep(0.01, 5), loop=loop)
        assert await ok == 5
    asyncio.run(main())


def test_a_cycle_through_a_suspended_task_is_collected(yp):
    """task -> coroutine -> waiter -> Task wakeup -> task: nothing outside
    holds it once the loop is gone, and the collector frees it all."""
    refs = []
    probe = yp.Probe()

    async def main():
        t = asyncio.get_running_loop().create_task(
            yp.scripted(["pending"], probe))
        await asyncio.sleep(0)
        assert type(t._fut_waiter).__name__ == "_Waiter"
        refs.append(weakref.ref(t.get_coro()))
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    del loop
    for _ in range(3):
        gc.collect()
    assert refs[0]() is None
    assert probe.dropped
