"""One input: setup() once per process, run(data) per input, and the
end-of-input checks."""
import asyncio
import warnings

from fuzz_support import FDP, Unraisables, collect, fail
from ypkit import messages

from . import operations
from .checker import describe, run_and_capture
from .model import MAX_OPS, NCOUNTERS, NSLOTS, CounterModel, World, yp
from .model import live as live_count
from .operations import (op_close, op_counter_sync, op_cycle, op_delete,
                         op_gc, op_loop, op_new, op_send, op_sleep,
                         op_throw, op_trio, trio)


LOOP = None
UNRAISABLE = None
BASELINE = None


def setup():
    global LOOP, UNRAISABLE, BASELINE
    LOOP = asyncio.new_event_loop()
    UNRAISABLE = Unraisables()
    # Warm up: the first loop iteration and imports allocate caches.
    LOOP.run_until_complete(asyncio.sleep(0))
    collect()
    BASELINE = live_count()


def _play(data):
    """Run one input; returns what the end-of-input checks need, so that
    every local of the run is gone before they start."""
    f = FDP(data)
    w = World(f, LOOP, operations.nested)
    for i in range(NCOUNTERS):
        v = f.int(3)
        w.counters.append(CounterModel(yp.Counter(v), v))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            while f.left() > 0 and w.opno < MAX_OPS:
                op = f.int(12)
                si = f.int(NSLOTS)
                if op in (0, 1):
                    op_new(w, si)
                elif op in (2, 3):
                    op_send(w, si)
                elif op == 4:
                    op_throw(w, si)
                elif op == 5:
                    op_close(w, si)
                elif op == 6:
                    op_delete(w, si)
                elif op == 7:
                    op_cycle(w, si)
                elif op == 8:
                    op_gc(w)
                elif op == 9:
                    op_counter_sync(w)
                elif op == 10:
                    # The runtime: asyncio's loop, or trio when present.
                    if trio is not None and f.bool():
                        op_trio(w, si)
                    else:
                        op_loop(w, si)
                else:
                    op_sleep(w)
                w.opno += 1
            # Tear down: close what is left (close never raises), then drop.
            for si in range(NSLOTS):
                if w.slots[si] is not None and w.slots[si].coro is not None:
                    op_close(w, si)
                    w.slots[si].coro = None
            op_gc(w)
        finally:
            # Let late timer wakes land, and run their loop callbacks.
            if w.loop_used:
                LOOP.run_until_complete(asyncio.sleep(0))
    warned = sum(1 for m in caught if messages.is_never_awaited(m))
    others = [str(m.message) for m in caught
              if not messages.is_never_awaited(m)]
    if others:
        fail(f"unexpected warnings: {others}")
    for c in w.counters:
        r = run_and_capture(lambda: c.obj.set(0))
        if r != ("ok", None):
            fail(f"a borrow was never released: Counter.set {describe(r)}")
    return w.refs, len(w.counters), w.never_awaited, warned


def run(data):
    dropped_before = yp.counters_dropped()
    refs, ncounters, expected_warnings, warned = _play(data)
    collect()
    live = live_count()
    if live != BASELINE:
        fail(f"live coroutines/futures {live}, baseline {BASELINE}")
    alive = [r() for r in refs if r() is not None]
    if alive:
        fail(f"{len(alive)} object(s) handed to the engine are still "
             f"alive: {alive[:5]!r}")
    del alive
    if yp.counters_dropped() - dropped_before != ncounters:
        fail("a Counter leaked (a coroutine or guard kept it alive)")
    if warned < expected_warnings:
        fail(f"{expected_warnings} coroutine(s) were freed never awaited "
             f"but only {warned} RuntimeWarning(s) were issued")
    UNRAISABLE.check()
    pending = [t for t in asyncio.all_tasks(LOOP) if not t.done()]
    if pending:
        fail(f"tasks left pending: {pending!r}")
