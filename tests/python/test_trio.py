"""The fixtures and the coroutine driven by trio and by anyio (both
backends): await in tasks and nurseries, cancel scopes, timeouts, foreign
wakes, stale wakes, wakes after the run.  The user futures are the same as
under asyncio: nothing in them knows which library runs them."""
import asyncio
import os
import threading
import time

import pytest

trio = pytest.importorskip("trio")
anyio = pytest.importorskip("anyio")
outcome = pytest.importorskip("outcome")

THREE_WAYS = {
    "ready": [("ready", "v")],
    "woken-in-poll": ["wake", ("ready", "v")],
    "woken-later": [("wake_after", 0.01), ("ready", "v")],
}


@pytest.mark.parametrize("way", THREE_WAYS)
def test_trio_three_ways(yp, way):
    p = yp.Probe()

    async def main():
        r = await yp.scripted(THREE_WAYS[way], p)
        results = []

        async def child():
            results.append(await yp.scripted(THREE_WAYS[way]))
        async with trio.open_nursery() as n:
            n.start_soon(child)
            n.start_soon(child)
        return r, results
    assert trio.run(main) == ("v", ["v", "v"])
    assert p.dropped and p.polls == len(THREE_WAYS[way])


def test_trio_pending_yields_wait_message_and_unwraps_outcome(yp):
    """By hand, as trio's task loop does: the Pending yields trio's
    WaitTaskRescheduled, a wake during the poll its checkpoint message,
    and outcome.Value resumes while outcome.Error throws."""
    seen = []

    async def main():
        coro = yp.scripted(["wake", "pending", ("ready", 7)])
        msg = coro.send(None)                  # woken during the poll
        seen.append(msg)
        msg = coro.send(outcome.Value(None))   # a real Pending
        seen.append(type(msg).__name__)
        with pytest.raises(KeyError):
            coro.send(outcome.Error(KeyError("k")))   # no handle: raised
    trio.run(main)
    assert seen[0] is not None and seen[1] == "WaitTaskRescheduled"


def test_trio_sleep_and_cancellable(yp):
    async def main():
        t0 = time.monotonic()
        assert await yp.sleep(0.03, ("a", 1)) == ("a", 1)
        assert time.monotonic() - t0 >= 0.025
        assert await yp.cancellable_sleep(0.01) == 42
        with trio.move_on_after(0.02) as scope:
            r = await yp.cancellable_sleep(10)
        # The handle took the Cancelled: the future completed with it.
        assert isinstance(r, trio.Cancelled)
        assert not scope.cancelled_caught
    trio.run(main)


def test_trio_cancel_without_handle_drops(yp):
    p = yp.Probe()

    async def main():
        with trio.move_on_after(0.02) as scope:
            await yp.scripted(["pending"], p)
        assert scope.cancelled_caught
        with pytest.raises(trio.TooSlowError):
            with trio.fail_after(0.02):
                await yp.sleep(10)
    trio.run(main)
    assert p.dropped and p.polls == 1


def test_trio_nursery_sibling_fails(yp):
    probes = [yp.Probe() for _ in range(2)]

    async def fail():
        await yp.sleep(0.01)
        raise KeyError("x")

    async def main():
        async with trio.open_nursery() as n:
            n.start_soon(yp.scripted, ["pending"], probes[0])
            n.start_soon(yp.scripted, [("wake_after", 5)], probes[1])
            n.start_soon(fail)
    with pytest.raises(KeyError):
        trio.run(main)
    assert all(p.dropped for p in probes)


def test_trio_sleep_loop_until_cancelled(yp):
    async def main():
        with trio.move_on_after(0.05):
            return await yp.sleep_loop()
    n = trio.run(main)
    assert isinstance(n, int) and n >= 1


def test_trio_many_foreign_wakes(yp):
    async def main():
        results = []

        async def one():
            results.append(await yp.park())
        async with trio.open_nursery() as n:
            for _ in range(200):
                n.start_soon(one)
            await trio.testing.wait_all_tasks_blocked()
            assert yp.wake_parked_from_thread() == 200
        async with trio.open_nursery() as n:
            for _ in range(50):
                n.start_soon(one)
            await trio.testing.wait_all_tasks_blocked()
            assert yp.wake_parked() == 50
        return results
    import trio.testing  # noqa: F401
    assert trio.run(main) == [42] * 250


def _hubs():
    import gc
    return sum(type(o).__name__ == "_WakeHub" for o in gc.get_objects())


def test_trio_foreign_wakes_are_batched(yp, monkeypatch):
    """500 coroutines of one run woken from one thread while trio's
    thread waits for it, twice: the wakes share the run's hub, and one
    run_sync_soon carries the whole batch (not one per wake)."""
    import trio.testing  # noqa: F401
    calls = []
    real = trio.lowlevel.TrioToken.run_sync_soon

    def counting(self, *a, **k):
        calls.append(a[0])
        return real(self, *a, **k)
    monkeypatch.setattr(trio.lowlevel.TrioToken, "run_sync_soon", counting)

    async def main():
        results = []

        async def one():
            results.append(await yp.park())
        for _ in range(2):
            calls.clear()
            async with trio.open_nursery() as n:
                for _ in range(500):
                    n.start_soon(one)
                await trio.testing.wait_all_tasks_blocked()
                assert yp.wake_parked_from_thread() == 500
            assert len(calls) == 1, calls[:3]
        return results
    assert trio.run(main) == [42] * 1000


def test_trio_hubs_go_with_their_runs(yp):
    """The token registry keeps no finished run alive: a run's hub goes
    with the last coroutine suspended on it."""
    import gc

    async def main():
        async with trio.open_nursery() as n:
            for _ in range(20):
                n.start_soon(yp.scripted, [("wake_after", 0.001),
                                           ("ready", 1)])
    trio.run(main)
    gc.collect()
    before = _hubs()
    for _ in range(3):
        trio.run(main)
    gc.collect()
    assert _hubs() <= before


def test_trio_foreign_wakes_race_cancel(yp):
    """A thread wakes 50 parked coroutines while trio cancels their scope,
    10 times: each wait is rescheduled exactly once (by the wake or by the
    abort; trio asserts it), and no queued wake cuts a later sleep
    short."""
    import trio.testing  # noqa: F401

    async def main():
        got = cancelled = 0
        for i in range(10):
            results = []

            async def one():
                results.append(await yp.park())
            async with trio.open_nursery() as n:
                for _ in range(50):
                    n.start_soon(one)
                await trio.testing.wait_all_tasks_blocked()
                th = threading.Thread(target=yp.wake_parked_from_thread)
                th.start()
                if i % 2:
                    time.sleep(0.0005 * (i % 5))   # vary who is first
                n.cancel_scope.cancel()
            th.join()
            got += len(results)
            cancelled += 50 - len(results)
            assert results == [42] * len(results)
            t0 = trio.current_time()
            await trio.sleep(0.02)
            assert trio.current_time() - t0 >= 0.019, "a wake cut a sleep"
        return got, cancelled
    import sys
    unraisable = []
    old = sys.unraisablehook
    sys.unraisablehook = unraisable.append   # trio's reschedule asserts
    try:
        got, cancelled = trio.run(main)
    finally:
        sys.unraisablehook = old
    assert [u.exc_value for u in unraisable] == []
    assert got + cancelled == 500


def test_trio_many_wakes_after_run_finished(yp):
    """Coroutines suspended by hand and left behind when trio.run returns,
    woken together from a thread: run_sync_soon raises RunFinishedError,
    which the hub swallows (nothing unraisable), and they still close."""
    import sys
    kept = []
    unraisable = []

    async def main():
        for _ in range(50):
            c = yp.park()
            c.send(None)
            kept.append(c)
    trio.run(main)
    old = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        assert yp.wake_parked_from_thread() == 50
        assert yp.wake_parked_from_thread() == 0
    finally:
        sys.unraisablehook = old
    for c in kept:
        c.close()
    assert unraisable == []


def test_trio_stale_wake_after_abort_does_not_cut_sleep(yp):
    """A wake of a wait that trio already aborted reschedules nothing: the
    task's next trio.sleep runs its full time."""
    async def main():
        with trio.move_on_after(0.01):
            await yp.scripted([("wake_after", 0.05), ("ready", 1)])
        t0 = trio.current_time()
        await trio.sleep(0.15)
        return trio.current_time() - t0
    assert trio.run(main) >= 0.14


def test_trio_wake_after_run_returned_is_harmless(yp):
    kept = []

    async def main():
        coro = yp.scripted([("wake_after", 0.05), ("ready", 1)])
        kept.append(coro)
        coro.send(None)          # suspends; the timer wakes it later
    trio.run(main)
    time.sleep(0.1)              # the wake hits RunFinishedError: dropped
    kept[0].close()


def test_trio_then_asyncio_in_one_thread(yp):
    """The runtime is chosen for each coroutine by the library running it,
    never once for the process."""
    async def t():
        return await yp.scripted(["wake", ("wake_after", 0.01),
                                  ("ready", "t")])

    async def a():
        return await yp.scripted(["wake", ("wake_after", 0.01),
                                  ("ready", "a")])
    assert trio.run(t) == "t"
    assert asyncio.run(a()) == "a"
    assert trio.run(t) == "t"


def test_trio_counter_and_detach(yp):
    async def main():
        c = yp.Counter(5)
        assert await c.incr() == 6
        assert await c.get() == 6
        assert await yp.gil_probe(False, 0) is True
        assert await yp.gil_probe(True, 0) is False
    trio.run(main)


def test_trio_in_worker_thread(yp):
    """Each thread runs its own library: trio in a worker, asyncio here."""
    out = []
    th = threading.Thread(target=lambda: out.append(
        trio.run(yp.sleep, 0.01, "w")))
    th.start()
    assert asyncio.run(yp.sleep(0.01, "m")) == "m"
    th.join()
    assert out == ["w"]


# --- anyio, both backends -----------------------------------------------------

@pytest.fixture(params=["asyncio", "trio"])
def backend(request):
    if os.environ.get("YP_REFLEAK"):
        # Measured without yieldpoint on python3.11d: anyio 3.6's run()
        # itself grows the total refcount by ~1 per run on either backend
        # (and allocated blocks on asyncio); the hunt would only see that.
        # trio alone is clean, so the trio tests above stay in the hunt.
        pytest.skip("anyio leaks by itself on the debug interpreter")
    return request.param


@pytest.mark.parametrize("way", THREE_WAYS)
def test_anyio_three_ways(yp, backend, way):
    async def main():
        results = []

        async def child():
            results.append(await yp.scripted(THREE_WAYS[way]))
        async with anyio.create_task_group() as tg:
            tg.start_soon(child)
            tg.start_soon(child)
        return await yp.scripted(THREE_WAYS[way]), results
    assert anyio.run(main, backend=backend) == ("v", ["v", "v"])


def test_anyio_cancel_scopes(yp, backend):
    p = yp.Probe()

    async def main():
        with anyio.move_on_after(0.02) as scope:
            await yp.scripted(["pending"], p)
        assert scope.cancel_called
        with pytest.raises(TimeoutError):
            with anyio.fail_after(0.02):
                await yp.sleep(10)
        # A cancel handle under anyio: the future completes with the
        # cancellation (anyio may deliver it more than once; the handle
        # keeps the first and the future finishes).
        with anyio.move_on_after(0.02):
            r = await yp.cancellable_sleep(10)
        return r
    r = anyio.run(main, backend=backend)
    assert isinstance(r, BaseException)
    assert p.dropped


def test_anyio_sibling_fails(yp, backend):
    """Don't assert on the group type: anyio 3.6 on trio 0.22 raises
    trio.NonBaseMultiError with deprecation warnings."""
    p = yp.Probe()

    async def fail():
        await yp.sleep(0.01)
        raise KeyError("x")

    async def main():
        async with anyio.create_task_group() as tg:
            tg.start_soon(yp.scripted, ["pending"], p)
            tg.start_soon(fail)
    with pytest.raises(BaseException) as ei:
        anyio.run(main, backend=backend)
    assert "KeyError" in repr(ei.value) or isinstance(ei.value, KeyError)
    assert p.dropped


def test_anyio_foreign_wakes(yp, backend):
    async def main():
        results = []

        async def one():
            results.append(await yp.park())
        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(one)
            await anyio.wait_all_tasks_blocked()
            assert yp.wake_parked_from_thread() == 100
        return results
    assert anyio.run(main, backend=backend) == [42] * 100
