"""The candidate and trio's own primitives under trio.run: one timed block
of each operation (`bench/run --runtime trio`), shaped like sides.Sides so
that timing.timed_metric drives both.

Baselines, trio's own ways to do the same thing:
  ready      `async def f(): return 42`
  yield      `await trio.lowlevel.checkpoint()`
  park_loop  tasks in trio.lowlevel.wait_task_rescheduled, woken by
             trio.lowlevel.reschedule(task) on trio's thread
  park_thread  the same, woken from one OS thread by
             token.run_sync_soon(reschedule, task) per wake (trio's
             documented thread-safe door; trio coalesces the wake-up of
             its own thread, not the calls)
"""
import threading
import time

from .sides import park_cycles

# The clocks: wall (as asyncio's rows), or the process's CPU time (all
# threads), which a loaded host disturbs far less: time spent descheduled
# is not counted, on either side.
CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.process_time_ns}

METRICS = [
    # (key, title, baseline, target ratio)
    ("ready", "ready-await", "async def f(): return 42", 1.0),
    ("yield", "yield-now", "await trio.lowlevel.checkpoint()", 1.0),
    ("park_loop", "park/wake, trio's thread, 1,000 at a time",
     "wait_task_rescheduled + reschedule(task)", 1.0),
    ("park_thread", "park/wake, foreign thread, 1,000 at a time",
     "wait_task_rescheduled + token.run_sync_soon(reschedule, task) per wake",
     0.8),
]


def _threadsafe_wake(token, reschedule, tasks):
    rss = token.run_sync_soon
    for t in tasks:
        rss(reschedule, t)


class TrioSides:
    """Per side (a candidate's label, or 'base' for trio's own primitives):
    one block of each timed operation, run inside trio.run.  Every block returns (elapsed_ns, ops[, park_ns,
    wake_ns]) and checks its results outside the timed region."""

    def __init__(self, cands, trio, clock="wall"):
        self.impls = {c.label: c.mod for c in cands}
        self.labels = [c.label for c in cands]
        self.trio = trio
        self.clock = CLOCKS[clock]
        ll = trio.lowlevel

        async def native_ready():
            return 42

        async def native_yield():
            await ll.checkpoint()
            return 42
        self.native_ready = native_ready
        self.native_yield = native_yield

    async def _awaits(self, f, n):
        r = None
        clock = self.clock
        t0 = clock()
        for _ in range(n):
            r = await f()
        t1 = clock()
        assert r == 42, r
        return t1 - t0, n

    async def park(self, side, size, how):
        """One cycle: `size` tasks parked, then all woken, then all done.
        Returns (ns, size, park_ns, wake_ns)."""
        trio = self.trio
        ll = trio.lowlevel
        impl = self.impls.get(side)
        results = []
        tasks = []
        parked = [0]
        checkpoint = ll.checkpoint

        async def cand():
            parked[0] += 1          # then parks without another yield
            results.append(await impl.park())

        def abort(_):
            return ll.Abort.FAILED  # never cancelled here

        async def base():
            tasks.append(ll.current_task())
            parked[0] += 1
            await ll.wait_task_rescheduled(abort)
            results.append(42)

        fn = base if side == "base" else cand
        perf_ns = self.clock
        t0 = perf_ns()
        async with trio.open_nursery() as n:
            for _ in range(size):
                n.start_soon(fn)
            while parked[0] < size:   # every task runs up to its park
                await checkpoint()
            t1 = perf_ns()
            if side != "base":
                woken = (impl.wake_parked() if how == "loop"
                         else impl.wake_parked_from_thread())
            elif how == "loop":
                rs = ll.reschedule
                for t in tasks:
                    rs(t)
                woken = size
            else:
                th = threading.Thread(
                    target=_threadsafe_wake,
                    args=(ll.current_trio_token(), ll.reschedule, tasks))
                th.start()
                th.join()             # trio's thread waits, as cand's does
                woken = size
        t2 = perf_ns()
        assert woken == size, (woken, size)
        assert results == [42] * size, results[:3]
        return t2 - t0, size, t1 - t0, t2 - t1

    async def block(self, metric, side, n):
        """n: awaits for ready/yield, cycles of BATCH for park metrics."""
        if metric == "ready":
            return await self._awaits(self.native_ready if side == "base"
                                      else self.impls[side].noop, n)
        if metric == "yield":
            return await self._awaits(self.native_yield if side == "base"
                                      else self.impls[side].yield_now, n)
        return await park_cycles(self.park, metric, side, n)


def trio_table(R):
    """The trio rows as text, a row per metric and candidate: ratio
    (median, p25-p75), candidate and baseline ns per operation, target,
    verdict."""
    lines = [f"{'metric':44s} {'candidate':12s} {'ratio':>6s} {'p25-p75':>11s} "
             f"{'cand':>9s} {'base':>9s} {'target':>6s}  verdict"]
    for key, title, base, target in METRICS:
        m = R["wall"].get(key)
        if m is None:
            continue
        for c in m["ratio"]:
            r = m["ratio"][c]
            lines.append(
                f"{title:44s} {c:12s} {r['median']:6.2f} {r['p25']:5.2f}-{r['p75']:<5.2f} "
                f"{m['ns'][c]['median']:7.0f}ns {m['ns']['base']['median']:7.0f}ns "
                f"{target:6.1f}  {'PASS' if r['median'] <= target else 'MISS'}")
    return "\n".join(lines)
