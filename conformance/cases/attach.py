"""Interpreter attachment: the GIL is held in poll unless detached."""
import threading
import time

from . import clause
from ._support import check, eq, run_by_hand

BLOCK = 0.3
MARGIN = 0.06


def _ticker():
    stamps, stop = [], threading.Event()

    def run():
        while not stop.is_set():
            stamps.append(time.monotonic())
            time.sleep(0.001)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return stamps, stop, t


def _progress_during(yp, loop, detach):
    """Run gil_probe(detach, BLOCK) under a ticking thread; return (result,
    ticks strictly inside the blocking window)."""
    stamps, stop, t = _ticker()
    time.sleep(0.02)

    async def main():
        t0 = time.monotonic()
        r = await yp.gil_probe(detach, BLOCK)
        return r, t0, time.monotonic()
    try:
        r, t0, t1 = loop.run(main)
    finally:
        stop.set()
        t.join()
    check(t1 - t0 >= BLOCK * 0.9, f"gil_probe blocked only {t1 - t0:.3f}s")
    inside = [s for s in stamps if t0 + MARGIN < s < t1 - MARGIN]
    return r, len(inside)


@clause("attach.gil-held")
def gil_held(yp, loop):
    eq(run_by_hand(None, yp.gil_probe(False, 0.01))[0], True,
       "gil_probe(False) by hand")
    eq(loop.run(lambda: yp.gil_probe(False, 0.01)), True,
       "gil_probe(False) in a task")


@clause("attach.detach-releases", requires=("gil_probe.detach",))
def detach_releases(yp, loop):
    r, n = _progress_during(yp, loop, True)
    eq(r, False, "gil_probe(True) result (GIL held while blocking?)")
    check(n >= 20, f"another Python thread ticked only {n} times during a "
                   f"{BLOCK}s detached poll")


@clause("attach.attached-blocks")
def attached_blocks(yp, loop):
    r, n = _progress_during(yp, loop, False)
    eq(r, True, "gil_probe(False) result")
    check(n <= 2, f"another Python thread ticked {n} times during a "
                  f"{BLOCK}s attached poll")


@clause("attach.foreign-wake-no-deadlock", "pending.foreign-thread")
def foreign_wake_no_deadlock(yp, loop):
    async def main():
        a = loop.spawn(yp.scripted([("wake_after", 0.05), ("ready", "a")]))
        b = loop.spawn(yp.sleep(0.05, "b"))
        await loop.checkpoint()         # both suspended, wakes armed
        g = await yp.gil_probe(False, BLOCK)   # wakes land while we block
        async with loop.fail_after(5):
            return g, [await a.wait(), await b.wait()]
    eq(loop.run(main), (True, ["a", "b"]), "results")
