"""The candidate and its native baseline: one timed block of each operation."""
import asyncio
import importlib
import os
import sys
import threading
import time

from .config import BATCH, FIXTURES


def load_impl(name, path):
    if path:
        sys.path.insert(0, os.path.abspath(path))
    mod = importlib.import_module(name)
    missing = [f for f in FIXTURES if not callable(getattr(mod, f, None))]
    if missing:
        raise SystemExit(f"{name} ({getattr(mod, '__file__', '?')}) lacks "
                         f"fixtures: {', '.join(missing)}")
    return mod


perf_ns = time.perf_counter_ns


async def native_ready():
    return 42


async def native_yield():
    await asyncio.sleep(0)
    return 42


async def native_park(fut):
    await fut
    return 42


async def _awaits(f, n):
    """`await f()` n times in one driver coroutine: (elapsed ns, n)."""
    r = None
    t0 = perf_ns()
    for _ in range(n):
        r = await f()
    t1 = perf_ns()
    assert r == 42, r
    return t1 - t0, n


class Sides:
    """Per side ('cand' or 'base'): one block of each timed operation.

    Every block returns (elapsed_ns, ops[, extra]) and checks its results
    outside the timed region."""

    def __init__(self, impl):
        self.impl = impl

    # -- ready-await and yield-now: one driver coroutine, n awaits.
    async def ready(self, side, n):
        return await _awaits(self.impl.noop if side == "cand"
                             else native_ready, n)

    async def yield_(self, side, n):
        return await _awaits(self.impl.yield_now if side == "cand"
                             else native_yield, n)

    # -- park / wake: `size` tasks parked, then all woken, then all done.
    async def _finish(self, tasks):
        last = tasks[-1]
        while not last.done():
            await asyncio.sleep(0)
        if not all(t.done() for t in tasks):      # never seen; stay correct
            await asyncio.gather(*tasks)

    def _check(self, tasks):
        bad = [t for t in tasks if t.result() != 42]
        assert not bad, bad[:3]

    async def park(self, side, size, how="loop"):
        """One cycle; returns (ns, size, park_ns, wake_ns)."""
        loop = asyncio.get_running_loop()
        ct = loop.create_task
        sleep = asyncio.sleep
        impl = self.impl
        if side == "cand":
            park = impl.park
            t0 = perf_ns()
            tasks = [ct(park()) for _ in range(size)]
            await sleep(0)                    # every task runs up to its park
            t1 = perf_ns()
            woken = (impl.wake_parked() if how == "loop"
                     else impl.wake_parked_from_thread())
            await self._finish(tasks)
            t2 = perf_ns()
            assert woken == size, (woken, size)
        else:
            cf = loop.create_future
            t0 = perf_ns()
            futs = [cf() for _ in range(size)]
            tasks = [ct(native_park(f)) for f in futs]
            await sleep(0)
            t1 = perf_ns()
            if how == "loop":
                cs = loop.call_soon
                for f in futs:
                    cs(f.set_result, None)
            else:
                th = threading.Thread(target=_threadsafe_wake,
                                      args=(loop, futs))
                th.start()
                th.join()                     # the loop thread waits
            await self._finish(tasks)
            t2 = perf_ns()
        self._check(tasks)
        return t2 - t0, size, t1 - t0, t2 - t1

    async def block(self, metric, side, n):
        """n: awaits for ready/yield, cycles of BATCH for park metrics."""
        if metric == "ready":
            return await self.ready(side, n)
        if metric == "yield":
            return await self.yield_(side, n)
        return await park_cycles(self.park, metric, side, n)


async def park_cycles(park, metric, side, n):
    """n park/wake cycles of BATCH coroutines through park(side, BATCH,
    how) (asyncio's Sides or trio's), summed: (total ns, operations, park
    ns, wake ns)."""
    how = "loop" if metric == "park_loop" else "thread"
    tot = ops = pk = wk = 0
    for _ in range(n):
        a, b, c, d = await park(side, BATCH, how)
        tot += a
        ops += b
        pk += c
        wk += d
    return tot, ops, pk, wk


def _threadsafe_wake(loop, futs):
    cst = loop.call_soon_threadsafe
    for f in futs:
        cst(f.set_result, None)
