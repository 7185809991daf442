"""The fixtures and the coroutine driven by asyncio and uvloop: asyncio.run,
create_task, gather, wait_for, TaskGroup, timeout, await in async def."""
import asyncio
import gc
import sys
import threading
import time

import pytest
from ypkit.messages import BORROWED, MUT_BORROWED


THREE_WAYS = {
    "ready": [("ready", "v")],
    "woken-in-poll": ["wake", ("ready", "v")],
    "woken-later": [("wake_after", 0.01), ("ready", "v")],
}


@pytest.mark.parametrize("way", THREE_WAYS)
def test_three_ways_await(yp, runner, way):
    p = yp.Probe()

    async def main():
        return await yp.scripted(THREE_WAYS[way], p)
    assert runner(main()) == "v"
    assert p.dropped and p.polls == len(THREE_WAYS[way])


@pytest.mark.parametrize("way", THREE_WAYS)
def test_three_ways_task_and_gather(yp, runner, way):
    async def main():
        t = asyncio.create_task(yp.scripted(THREE_WAYS[way]))
        a, b = await asyncio.gather(yp.scripted(THREE_WAYS[way]),
                                    yp.scripted(THREE_WAYS[way]))
        return await t, a, b
    assert runner(main()) == ("v", "v", "v")


def test_asyncio_run_directly(yp, runner):
    assert runner(yp.sleep(0.001, "done")) == "done"
    assert runner(yp.sleep(0)) is None


def test_task_stack_of_a_c_coroutine(yp, runner):
    """cr_frame is a real stand-in frame, so asyncio's Task.get_stack()
    and print_stack() (which walk f_back and read f_code) work on a task
    whose coroutine has no Python frame, and it is None once done."""
    import io

    async def main():
        c = yp.scripted(["pending", ("ready", 1)])
        t = asyncio.ensure_future(c)
        await asyncio.sleep(0)
        stack = t.get_stack()
        out = io.StringIO()
        t.print_stack(file=out)
        t.cancel()
        try:
            await t
        except asyncio.CancelledError:
            pass
        return stack, out.getvalue(), c.cr_frame
    stack, text, after = runner(main())
    assert len(stack) == 1 and stack[0].f_code.co_name == "scripted"
    assert '"<yieldpoint>"' in text and "scripted" in text
    assert after is None


def test_sleep_completes_with_result(yp, runner):
    async def main():
        t0 = time.monotonic()
        r = await yp.sleep(0.05, ("a", 1))
        return r, time.monotonic() - t0
    r, took = runner(main())
    assert r == ("a", 1) and took >= 0.045


def test_cancellable_returns_thrown_exception(yp, runner):
    async def main():
        t = asyncio.create_task(yp.cancellable())
        await asyncio.sleep(0.01)
        t.cancel("why")
        r = await t
        # PyO3 semantics: the handle swallows Task.cancel().
        return r, t.cancelled()
    r, cancelled = runner(main())
    assert isinstance(r, asyncio.CancelledError) and not cancelled


def test_cancellable_sleep_both_outcomes(yp, runner):
    async def main():
        assert await yp.cancellable_sleep(0.01) == 42
        t = asyncio.create_task(yp.cancellable_sleep(10))
        await asyncio.sleep(0.01)
        t.cancel()
        return await t
    assert isinstance(runner(main()), asyncio.CancelledError)


def test_sleep_loop_counts_until_cancelled(yp, runner):
    async def main():
        t = asyncio.create_task(yp.sleep_loop())
        await asyncio.sleep(0.05)
        t.cancel()
        return await t
    n = runner(main())
    assert isinstance(n, int) and n >= 1


def test_task_cancel_without_handle_cancels(yp, runner):
    p = yp.Probe()

    async def main():
        t = asyncio.create_task(yp.scripted(["pending"], p))
        await asyncio.sleep(0)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        return t.cancelled()
    assert runner(main()) is True
    assert p.dropped


def test_wait_for_timeout(yp, runner):
    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(yp.sleep(10), 0.02)
        # With a cancel handle the cancellation is swallowed: wait_for
        # returns what the coroutine returned.
        r = await asyncio.wait_for(yp.cancellable_sleep(10), 0.02)
        return r
    assert isinstance(runner(main()), asyncio.CancelledError)


def test_timeout_context(yp, runner):
    p = yp.Probe()

    async def main():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.02):
                await yp.scripted(["pending"], p)
    runner(main())
    assert p.dropped


def test_taskgroup_failure_cancels_siblings(yp, runner):
    probes = [yp.Probe() for _ in range(3)]

    async def main():
        with pytest.raises(ExceptionGroup) as ei:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(yp.scripted(["pending"], probes[0]))
                tg.create_task(yp.scripted([("wake_after", 5)], probes[1]))
                tg.create_task(yp.scripted(
                    [("wake_after", 0.01), ("raise", KeyError("x"))],
                    probes[2]))
        assert ei.group_contains(KeyError) if hasattr(ei, "group_contains") \
            else isinstance(ei.value.exceptions[0], KeyError)
    runner(main())
    assert all(p.dropped for p in probes)


def test_foreign_wake_while_loop_thread_holds_gil(yp, runner):
    async def main():
        # The timer thread wakes the scripted coroutine while gil_probe
        # blocks the loop thread with the GIL held: the wake must wait,
        # not deadlock, and arrive afterwards.
        return await asyncio.wait_for(asyncio.gather(
            yp.scripted([("wake_after", 0.01), ("ready", 1)]),
            yp.gil_probe(False, 0.1)), 5)
    assert runner(main()) == [1, True]


def test_many_foreign_wakes_one_resume(yp, runner):
    p = yp.Probe()
    steps = [("wake_after", 0.01)] + [("call", lambda: "wake")] * 3 \
        + [("ready", 1)]

    async def main():
        return await yp.scripted(steps, p)
    assert runner(main()) == 1
    assert p.polls == len(steps)


def test_wake_after_loop_closed_is_harmless(yp):
    seen = []
    old = sys.unraisablehook
    sys.unraisablehook = lambda u: seen.append(u)
    try:
        loop = asyncio.new_event_loop()
        p = yp.Probe()
        c = yp.scripted([("wake_after", 0.05), ("ready", 1)], p)
        t = loop.create_task(c)
        loop.run_until_complete(asyncio.sleep(0.001))
        loop.close()
        time.sleep(0.15)        # the timer fires into a closed loop
        del t, c
        gc.collect()
    finally:
        sys.unraisablehook = old
    assert not seen, seen
    assert p.dropped


def test_wake_after_completion_and_close_is_noop(yp, runner):
    async def main():
        # The timer holds a waker clone that fires after the coroutine
        # already finished (it was woken by the second step instead).
        r = await yp.scripted([("wake_after", 0.02), ("ready", 1)])
        c = yp.scripted([("wake_after", 0.02)])
        t = asyncio.create_task(c)
        await asyncio.sleep(0)
        t.cancel()
        await asyncio.sleep(0.05)
        return r
    assert runner(main()) == 1


# --- borrows ------------------------------------------------------------------

def test_counter_basic(yp, runner):
    c = yp.Counter(5)

    async def main():
        assert await c.get() == 5
        assert await c.incr() == 6
        return await c.get()
    assert runner(main()) == 6
    assert c.value() == 6
    c.set(10)
    assert c.value() == 10


def test_shared_borrows_coexist(yp, runner):
    c = yp.Counter()

    async def main():
        held = asyncio.create_task(c.get(resolve=False))
        await asyncio.sleep(0)
        r = await asyncio.gather(c.get(), c.get())
        assert c.value() == 0
        held.cancel()
        return r
    assert runner(main()) == [0, 0]


@pytest.mark.parametrize("held,then,msg", [
    ("get", "incr", BORROWED),
    ("incr", "get", MUT_BORROWED),
    ("incr", "incr", BORROWED),
    ("get", "set", BORROWED),
    ("incr", "value", MUT_BORROWED),
    ("incr", "set", BORROWED),
])
def test_conflicting_borrows(yp, runner, held, then, msg):
    c = yp.Counter()

    async def main():
        t = asyncio.create_task(getattr(c, held)(resolve=False))
        await asyncio.sleep(0)
        if then in ("get", "incr"):
            coro = getattr(c, then)()      # no error at call time
            with pytest.raises(RuntimeError, match=f"^{msg}$"):
                await coro                 # ... but at the first poll
        elif then == "set":
            with pytest.raises(RuntimeError, match=f"^{msg}$"):
                c.set(1)
        else:
            with pytest.raises(RuntimeError, match=f"^{msg}$"):
                c.value()
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        # released by the cancellation
        assert await c.incr() == 1
    runner(main())


@pytest.mark.parametrize("ending", ["complete", "close", "gc", "throw"])
def test_borrow_released_on_every_ending(yp, ending):
    c = yp.Counter()

    async def main():
        if ending == "complete":
            await c.incr()
        else:
            co = c.incr(resolve=False)
            fut = co.send(None)
            with pytest.raises(RuntimeError, match=f"^{BORROWED}$"):
                c.set(3)
            fut.cancel()
            if ending == "close":
                co.close()
            elif ending == "throw":
                with pytest.raises(KeyError):
                    co.throw(KeyError)
            else:
                del co
                gc.collect()
        c.set(9)
        return c.value()
    assert asyncio.run(main()) == 9


def test_counter_freed_after_coroutines(yp):
    before = yp.counters_dropped()
    c = yp.Counter()
    co = c.get(resolve=False)
    del c
    assert yp.counters_dropped() == before   # the coroutine keeps it
    co.close()
    del co
    gc.collect()
    assert yp.counters_dropped() == before + 1


# --- attach / detach ----------------------------------------------------------

def test_poll_runs_attached(yp, runner):
    assert runner(yp.gil_probe(False, 0)) is True


def test_detach_releases_gil(yp, runner):
    assert runner(yp.gil_probe(True, 0)) is False


@pytest.mark.parametrize("detach", [False, True])
def test_detach_lets_other_threads_run(yp, detach):
    ticks = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.001)

    th = threading.Thread(target=spin)
    th.start()
    time.sleep(0.02)

    async def main():
        t0 = time.monotonic()
        await yp.gil_probe(detach, 0.2)
        return t0, time.monotonic()
    t0, t1 = asyncio.run(main())
    stop.set()
    th.join()
    during = [t for t in ticks if t0 + 0.02 < t < t1 - 0.02]
    if detach:
        assert len(during) >= 10, len(during)
    else:
        assert len(during) <= 2, len(during)


# --- benchmark fixtures -------------------------------------------------------

def test_bench_fixtures(yp, runner):
    async def main():
        assert await yp.noop() == 42
        assert await yp.yield_now() == 42
        ts = [asyncio.create_task(yp.park()) for _ in range(50)]
        await asyncio.sleep(0)
        assert yp.wake_parked() == 50
        assert await asyncio.gather(*ts) == [42] * 50
        ts = [asyncio.create_task(yp.park()) for _ in range(50)]
        await asyncio.sleep(0)
        assert yp.wake_parked_from_thread() == 50
        assert await asyncio.gather(*ts) == [42] * 50
        assert yp.wake_parked() == 0
    runner(main())
