"""The candidate and its native baseline: one timed block of each operation."""
import asyncio
import importlib
import importlib.machinery
import os
import sys
import threading
import time

from .config import BATCH, FIXTURES


class Candidate:
    """One implementation under test: `module` imported from `path`,
    called `label` in the tables (the module's name, `name#2` for a second
    candidate of the same name)."""

    def __init__(self, label, name, path, mod):
        self.label, self.name, self.path, self.mod = label, name, path, mod

    def meta(self):
        return {"label": self.label, "module": self.name, "path": self.path,
                "file": getattr(self.mod, "__file__", "?")}


def _import(name, path):
    """Import module `name` with `path` first on sys.path.  The same module
    twice is one module (an A/A run shows the noise); two files of one
    name cannot share a process: two builds of yieldpoint would share the
    loop's wake hub attribute, and the second would take the slow path."""
    loaded = sys.modules.get(name)
    if loaded is not None and path:
        spec = importlib.machinery.PathFinder.find_spec(
            name, [os.path.abspath(path)])
        if spec is not None and spec.origin != getattr(loaded, "__file__", None):
            raise SystemExit(
                f"--impl {name} --path {path}: another {name} "
                f"({loaded.__file__}) is already a candidate; two files of "
                f"one module cannot be measured in one process (compare two "
                f"builds in two runs)")
    if path:
        sys.path.insert(0, os.path.abspath(path))
    return importlib.import_module(name)


def load_impl(name, path, label=None):
    """The candidate `name` from `path`, its fixtures checked: a module that
    cannot be imported or lacks a fixture is an error message, not a
    traceback."""
    try:
        mod = _import(name, path)
    except Exception as e:
        raise SystemExit(f"--impl {name}: cannot import it"
                         f"{f' from {path}' if path else ''}: "
                         f"{type(e).__name__}: {e}")
    missing = [f for f in FIXTURES if not callable(getattr(mod, f, None))]
    if missing:
        raise SystemExit(f"--impl {name} ({getattr(mod, '__file__', '?')}) lacks "
                         f"the bench fixtures {', '.join(missing)} (each must be "
                         f"a callable; see bench/README.md, 'Comparing another "
                         f"implementation')")
    return Candidate(label or name, name, path, mod)


def load_candidates(specs):
    """[(module, path)] -> [Candidate], labels unique."""
    cands = []
    for name, path in specs:
        label = name
        k = 2
        while any(c.label == label for c in cands):
            label = f"{name}#{k}"
            k += 1
        cands.append(load_impl(name, path, label))
    return cands


def child_sides(cands):
    """[(side, candidate, --side of its child)]: each candidate, then the
    baseline, whose children load the first candidate and run native."""
    return ([(c.label, c, "cand") for c in cands]
            + [("base", cands[0], "base")])


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
    """Per side (a candidate's label, or 'base' for native asyncio): one
    block of each timed operation.

    Every block returns (elapsed_ns, ops[, extra]) and checks its results
    outside the timed region."""

    def __init__(self, cands):
        self.impls = {c.label: c.mod for c in cands}
        self.labels = [c.label for c in cands]

    # -- ready-await and yield-now: one driver coroutine, n awaits.
    async def ready(self, side, n):
        return await _awaits(native_ready if side == "base"
                             else self.impls[side].noop, n)

    async def yield_(self, side, n):
        return await _awaits(native_yield if side == "base"
                             else self.impls[side].yield_now, n)

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
        if side != "base":
            impl = self.impls[side]
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


async def probe(sides, cands):
    """Each candidate's fixtures once, before anything is measured: a
    fixture that misbehaves is named in an error message (SystemExit).
    `sides` is a Sides or a TrioSides (run under asyncio or trio)."""
    for c in cands:
        for what, call in (("noop()", lambda: sides.block("ready", c.label, 1)),
                           ("yield_now()", lambda: sides.block("yield", c.label, 1)),
                           ("park() + wake_parked()",
                            lambda: sides.park(c.label, 3, "loop")),
                           ("park() + wake_parked_from_thread()",
                            lambda: sides.park(c.label, 3, "thread"))):
            try:
                await call()
            except Exception as e:
                raise SystemExit(f"--impl {c.name} ({c.meta()['file']}): "
                                 f"{what} failed when tried once (the fixture "
                                 f"contract: bench/README.md): {type(e).__name__}: {e!r}")


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
