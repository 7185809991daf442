"""Pending and the waker: loop futures, None yields, foreign-thread wakes."""
import asyncio
import contextvars
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

from ypkit import messages

from . import ASYNCIO, ASYNCIO_FAMILY, clause
from ._support import (LATER, WAIT, Fail, NoNewNames, about, check, collect,
                       eq, finishes, raises, run_by_hand, many_wakes, same,
                       settle, steps, ticks, until, variant)


@clause("pending.loop-future", runtimes=ASYNCIO_FAMILY)
def loop_future(yp, loop):
    async def main():
        running = asyncio.get_running_loop()
        for script in (["pending", ("ready", 1)],
                       [("wake_after", LATER), ("ready", 1)]):
            c = yp.scripted(script)
            y = c.send(None)
            check(asyncio.isfuture(y), f"{script[0]!r}: yielded {y!r}, "
                                       f"which asyncio.isfuture() rejects")
            check(y.get_loop() is running,
                  "the yielded waiter belongs to another loop")
            check(getattr(y, "_asyncio_future_blocking", None) is True,
                  "_asyncio_future_blocking is not set on the yielded waiter")
            if script[0] != "pending":
                y._asyncio_future_blocking = False
                await settle(y)
            eq(finishes(c.send, None), 1, "result")
    loop.run(main)


@clause("pending.waiter-variant", runtimes=ASYNCIO_FAMILY)
def waiter_variant(yp, loop):
    """The declared asyncio_waiter: a loop future, or an object of the
    implementation's own type (never a Future in disguise)."""
    async def main():
        c = yp.scripted(["pending", ("ready", 1)])
        y = c.send(None)
        if variant("asyncio_waiter") == "loop_future":
            check(isinstance(y, asyncio.Future),
                  f"asyncio_waiter=loop_future, but the coroutine yielded "
                  f"{type(y).__qualname__}, not an asyncio.Future")
        else:
            check(not isinstance(y, asyncio.Future),
                  f"asyncio_waiter=future_protocol, but the coroutine "
                  f"yielded an asyncio.Future ({type(y).__qualname__})")
        eq(finishes(c.send, None), 1, "result")
    loop.run(main)


async def _called_back(waiter, what):
    """Add a done callback to waiter; return (calls, the running loop's
    future that the first call resolves).  Each call records (argument,
    the context's marker)."""
    calls = []
    marked = asyncio.get_running_loop().create_future()

    def cb(arg):
        calls.append((arg, _MARK.get(None)))
        if not marked.done():
            marked.set_result(None)
    ctx = contextvars.copy_context()
    ctx.run(_MARK.set, what)
    waiter.add_done_callback(cb, context=ctx)
    return calls, marked


_MARK = contextvars.ContextVar("yp_conformance_mark")


@clause("pending.waiter-protocol", runtimes=ASYNCIO_FAMILY)
def waiter_protocol_wake(yp, loop):
    """A woken waiter: pending, then done with result None; callbacks run
    once, through the loop, with the waiter, in their own context."""
    from asyncio import InvalidStateError

    async def main():
        c = yp.scripted([("wake_after", LATER), ("ready", 2)])
        y = c.send(None)
        with about("pending.waiter-protocol"):
            check(not y.done() and not y.cancelled(),
                  "a pending waiter says it is done or cancelled")
            raises(InvalidStateError, y.result, what="result() while pending")
            raises(InvalidStateError, y.exception,
                   what="exception() while pending")
            calls, marked = await _called_back(y, "wake")
            removed = []
            y.add_done_callback(removed.append)
            eq(y.remove_done_callback(removed.append), 1,
               "remove_done_callback's count")
            eq(y.remove_done_callback(removed.append), 0,
               "remove_done_callback's count, the second time")
            y._asyncio_future_blocking = False
            await asyncio.wait_for(marked, WAIT)
            await ticks()
            eq(calls, [(y, "wake")], "callback calls (argument, context)")
            eq(removed, [], "a removed callback was called")
            check(y.done() and not y.cancelled(),
                  "a woken waiter is not done, or says it is cancelled")
            same(y.result(), None, "result() of a woken waiter")
            same(y.exception(), None, "exception() of a woken waiter")
            late, marked2 = await _called_back(y, "late")
            await asyncio.wait_for(marked2, WAIT)
            eq(late, [(y, "late")], "a callback added after the wake")
            eq(y.cancel(), False, "cancel() of a woken waiter")
        eq(finishes(c.send, None), 2, "result")
    loop.run(main)


@clause("pending.waiter-protocol", runtimes=ASYNCIO_FAMILY)
def waiter_protocol_cancel(yp, loop):
    """cancel(msg) ends a pending wait once, by position or keyword; the
    wake that follows changes nothing."""
    from asyncio import CancelledError

    async def main():
        for how in ("positional", "keyword"):
            p = yp.Probe()
            c = yp.scripted([("wake_after", LATER), ("ready", 3)], p)
            y = c.send(None)
            calls, marked = await _called_back(y, how)
            with about("pending.waiter-protocol"):
                ok = y.cancel("why") if how == "positional" \
                    else y.cancel(msg="why")
                eq(ok, True, f"cancel() ({how}) of a pending waiter")
                eq(y.cancel("again"), False, "a second cancel()")
                check(y.done() and y.cancelled(),
                      "a cancelled waiter is not done, or not cancelled")
                for what in ("result", "exception"):
                    e = raises(CancelledError, getattr(y, what),
                               what=f"{what}() of a cancelled waiter")
                    eq(e.args, ("why",), f"{what}()'s CancelledError args")
                await asyncio.wait_for(marked, WAIT)
                await asyncio.sleep(LATER * 3)     # the wake comes and goes
                await ticks()
                eq(calls, [(y, how)], "callback calls after cancel and wake")
                check(y.cancelled(), "the wake after cancel() changed it")
            c.close()
            collect()
            check(p.dropped, "future not dropped by close()")
    loop.run(main)


@clause("pending.wake-yields-none", runtimes=ASYNCIO)
def wake_yields_none(yp, loop):
    async def main():
        p = yp.Probe()
        c = yp.scripted(["wake", "wake", ("ready", 3)], p)
        eq(c.send(None), None, "first yield after a wake during poll")
        eq(c.send(None), None, "second yield after a wake during poll")
        eq(finishes(c.send, None), 3, "result")
        eq(p.polls, 3, "polls")
        # Driven by a Task, a None yield is a sleep(0).
        return await asyncio.create_task(yp.scripted(["wake", ("ready", 4)]))
    eq(loop.run(main), 4, "task result")


@clause("pending.wake-yields-none", "pending.ready-no-loop")
def wake_yields_none_without_loop(yp):
    c = yp.scripted(["wake", ("ready", 3)])
    eq(c.send(None), None, "yield after a wake during poll, no loop")
    eq(finishes(c.send, None), 3, "result")


@clause("pending.ready-no-loop")
def ready_without_loop(yp):
    for way in ("ready", "wake"):
        result, yields = run_by_hand(None, yp.scripted(steps(way, ("ready", 9))))
        eq(result, 9, f"{way}: result outside any loop")
    eq(run_by_hand(None, yp.gil_probe(False, 0))[0], True,
       "gil_probe outside any loop")


@clause("pending.wake-resumes", "pending.foreign-thread")
def wake_resumes(yp, loop):
    async def main():
        p = yp.Probe()
        c = yp.scripted([("wake_after", LATER), ("wake_after", LATER),
                         ("ready", "w")], p)
        r = await loop.spawn(c).wait()
        eq(p.polls, 3, "polls (one per wake)")
        return r
    eq(loop.run(main), "w", "result after two foreign-thread wakes")


@clause("pending.foreign-thread", "pending.wake-resumes", runtimes=("asyncio",))
def foreign_thread_loop_without_attributes(yp, loop):
    async def main():
        p = yp.Probe()
        coros = [yp.scripted([("wake_after", LATER), "wake",
                              ("wake_after", LATER), ("ready", "a")], p),
                 yp.sleep(LATER, "b"), yp.cancellable_sleep(LATER)]
        coros += [yp.scripted([("wake_after", i / 1000), ("ready", i)])
                  for i in range(20)]
        r = await asyncio.gather(*coros)
        eq(p.polls, 4, "polls (one per wake)")
        return r
    ev = NoNewNames()
    try:
        eq(ev.run_until_complete(main()), ["a", "b", 42] + list(range(20)),
           "results on a loop that takes no new attribute")
    finally:
        ev.close()


class _SlowLookups(NoNewNames):
    """NoNewNames whose first lookup of a name it lacks takes 3 x LATER
    (the GIL released, as a proxy's lookup would): a missing attribute an
    implementation asks for while suspending (yieldpoint: its wake hub)
    widens the gap between the poll's Pending and the yield, so that a
    foreign wake due LATER after the poll lands inside it."""

    def __init__(self):
        self._slept = False
        super().__init__()

    def __getattr__(self, name):
        if not name.startswith("__") and not self._slept:
            self._slept = True
            time.sleep(3 * LATER)
        raise AttributeError(name)


@clause("pending.foreign-thread", "pending.wake-resumes", runtimes=("asyncio",))
def foreign_wake_while_suspending(yp, loop):
    """A foreign wake that lands after the poll returned Pending but before
    the coroutine yielded (while it is still suspending) is not lost: the
    task polls again and completes.  An implementation that records the
    wait as armed without seeing the wake yields a waiter nobody will
    release."""
    async def main():
        p = yp.Probe()
        r = await asyncio.wait_for(
            yp.scripted([("wake_after", LATER), ("ready", "a")], p), WAIT)
        return r, p.polls
    ev = _SlowLookups()
    try:
        r, polls = ev.run_until_complete(main())
    except asyncio.TimeoutError:
        raise Fail(f"a wake that landed while the coroutine was suspending "
                   f"was lost: no resume in {WAIT}s") from None
    finally:
        ev.close()
    eq((r, polls), ("a", 2), "result and polls")


@clause("pending.loop-closed", runtimes=("asyncio",))
def loop_closed_without_attributes(yp, loop):
    p = yp.Probe()
    _wakes_hit_closed_loop(NoNewNames(), p, [
        yp.scripted([("wake_after", 0.05), "pending"], p), yp.sleep(0.05)])


class _ClosesUnderTheWake(NoNewNames):
    """A loop that closes between a foreign thread's two calls: is_closed()
    says open, then call_soon_threadsafe finds it closed and raises
    asyncio's "Event loop is closed" (after which is_closed() says so).
    What a loop closed by its own thread does to a wake that checked first,
    made certain instead of a one-in-a-million interleaving."""

    def __init__(self):
        self._gone = False
        super().__init__()

    def is_closed(self):
        return self._gone or super().is_closed()

    def call_soon_threadsafe(self, *args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            self._gone = True
            raise RuntimeError("Event loop is closed")
        return super().call_soon_threadsafe(*args, **kwargs)


@clause("pending.loop-closed", runtimes=("asyncio",))
def loop_closes_under_the_wake(yp, loop):
    """A foreign wake that finds the loop open and then, at its
    call_soon_threadsafe, closed is silently ignored like any wake after
    the close: nothing on stderr or sys.unraisablehook, and close() still
    drops the future."""
    p = yp.Probe()
    c = yp.scripted([("wake_after", LATER), ("ready", 1)], p)
    ev = _ClosesUnderTheWake()
    hooked = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = hooked.append
    try:
        async def start():
            c.send(None)
        ev.run_until_complete(start())
        until(lambda: ev._gone, what="the foreign wake")
        time.sleep(LATER)              # the wake finishes its work
        ev.run_until_complete(asyncio.sleep(0))
    finally:
        sys.unraisablehook = old_hook
        ev._gone = False
        ev.close()
    c.close()
    check(p.dropped, "close() after the wake met a closed loop did not "
          "drop the future")
    eq([f"{u.exc_type.__name__}: {u.exc_value}" for u in hooked], [],
       "sys.unraisablehook calls for a wake that met a closing loop")


def _wakes_hit_closed_loop(ev, p, coros):
    """Start each of coros on ev (their wakes come 50 ms later), close ev
    before they come, then close the coroutines: the wakes must be
    harmless and close() must still drop probe p's future."""
    async def start():
        for x in coros:
            x.send(None)
    try:
        ev.run_until_complete(start())
    finally:
        ev.close()
    time.sleep(0.2)                   # the wakes hit a closed loop
    for x in coros:
        x.close()
    check(p.dropped, "close() after the loop closed did not drop the future")


@clause("pending.wake-resumes")
def wake_reports_nothing(yp, loop):
    """A normal wake -- during the poll, from a foreign thread, a sleep's,
    a select's -- writes nothing to stderr and calls no
    sys.unraisablehook."""
    hooked = []
    old_hook = sys.unraisablehook
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as f:
            os.dup2(f.fileno(), 2)
            sys.unraisablehook = hooked.append
            try:
                async def main():
                    return await loop.gather(
                        yp.scripted(["wake", ("wake_after", LATER),
                                     ("ready", 1)]),
                        yp.sleep(LATER, 2), yp.cancellable_sleep(LATER))
                result = loop.run(main)
                collect()
            finally:
                sys.stderr.flush()
                sys.unraisablehook = old_hook
                os.dup2(saved, 2)
            f.seek(0)
            out = f.read().decode(errors="replace")
    finally:
        os.close(saved)
    eq(result, [1, 2, 42], "results")
    eq(out, "", "written to stderr during normal wakes")
    eq([f"{u.exc_type.__name__}: {u.exc_value} ({u.err_msg})" for u in hooked],
       [], "sys.unraisablehook calls during normal wakes")


@clause("pending.foreign-thread", "fixture.sleep")
def foreign_thread_sleep(yp, way, loop):
    async def main():
        a = yp.scripted(steps(way, ("wake_after", 0.03), ("ready", "a")))
        return await loop.gather(a, yp.sleep(0.03, "b"))
    eq(loop.run(main), ["a", "b"], "results")


@clause("pending.no-loop-error")
def no_loop_error(yp):
    for script in (["pending", ("ready", 1)],
                   [("wake_after", LATER), ("ready", 1)]):
        raises(RuntimeError, yp.scripted(script).send, None,
               message=messages.NO_LOOP,
               what=f"send of {script[0]!r} outside a loop")
    raises(RuntimeError, yp.sleep(LATER).send, None,
           message=messages.NO_LOOP, what="sleep(LATER).send(None)")


@clause("pending.no-loop-resumable")
def no_loop_resumable(yp):
    p = yp.Probe()
    c = yp.scripted(["pending", ("ready", 1)], p)
    raises(RuntimeError, c.send, None, message=messages.NO_LOOP)
    check(not p.dropped, "the future was dropped by the no-loop error")
    eq(finishes(c.send, None, what="send after the no-loop error"), 1,
       "result of the next send")
    eq(p.polls, 2, "polls")


@clause("pending.late-wake")
def late_wake(yp, loop):
    async def main():
        p = yp.Probe()
        c = yp.scripted([("wake_after", 0.05), ("ready", 1)], p)
        c.send(None)
        eq(finishes(c.send, None), 1, "spurious second poll finishes")
        c2 = yp.scripted([("wake_after", 0.05), "pending"])
        c2.send(None)
        c2.close()
        t = loop.spawn(yp.scripted([("wake_after", 0.05), "pending"]))
        await ticks()
        t.cancel()
        await loop.sleep(0.15)           # the three wakes land now
        await ticks()
        eq(await yp.scripted(["wake", ("ready", 2)]), 2, "loop still works")
    loop.run(main)


@clause("pending.repeated-wakes")
def repeated_wakes(yp, loop):
    async def main():
        p = yp.Probe()
        c = yp.scripted([("wake_after", 0.02), ("wake_after", 0.02),
                         ("ready", 3)], p)
        c.send(None)
        y2 = c.send(None)            # poll 2 before poll 1's wake: stale waker
        reply = await loop.forward(y2)  # only the latest poll's wake counts
        await loop.sleep(0.03)       # the stale wake lands too
        eq(finishes(c.send, reply), 3, "result")
        eq(p.polls, 3, "polls")
        p2 = yp.Probe()
        r = await loop.spawn(yp.scripted(
            ["wake", ("wake_after", 0.0), "wake", ("wake_after", 0.01),
             ("ready", 4)], p2)).wait()
        eq((r, p2.polls), (4, 5), "task result and polls")
    loop.run(main)


@clause("pending.loop-closed", runtimes=ASYNCIO)
def loop_closed(yp, loop):
    p = yp.Probe()
    _wakes_hit_closed_loop(loop.new_loop(), p, [
        yp.scripted([("wake_after", 0.05), "pending"], p), yp.sleep(0.05),
        yp.cancellable_sleep(0.05)])


@clause("pending.many")
def many(yp, loop):
    many_wakes(yp, loop, seed=1234)


@clause("pending.many")
def wake_order(yp, loop):
    """Waits started together resume in the order their wakes come: four
    wake_after steps, started in a shuffled order, whose delays are
    2 x LATER apart, finish shortest first.  (A timer queue that loses its
    order -- a heap whose sift-down is off by one -- holds the second wake
    back behind the third.)"""
    gap = 2 * LATER
    done = []

    async def one(k):
        done.append(await yp.scripted([("wake_after", k * gap), ("ready", k)]))

    async def main():
        await loop.gather(*(one(k) for k in (2, 4, 1, 3)))
    loop.run(main)
    eq(done, [1, 2, 3, 4], "completion order of wakes 1-4 x "
       f"{gap:g}s away, started in the order 2, 4, 1, 3")


_EXIT_CHILD = """
import asyncio, sys
sys.path[:0] = {path!r}
import {module} as yp

async def main():
    # Kept in sys, whose dict the interpreter clears after every module's
    # (builtins would not do: finalization restores their startup copy
    # first): the coroutines, and so their waits, outlive the adapter
    # module's own globals.
    sys._yp_left_suspended = keep = [
        yp.scripted([("wake_after", 3600), ("ready", 1)]),
        yp.sleep(3600),
        yp.scripted([("wake_after", 0.002), ("ready", 1)]),
    ]
    for c in keep:
        c.send(None)

{install}asyncio.run(main())
print("exiting", flush=True)
"""


@clause("pending.interpreter-exit", runtimes=ASYNCIO)
def interpreter_exit(yp, loop):
    """A fresh interpreter (this one's executable, environment and path)
    that exits with coroutines suspended -- on a timer wake an hour away
    and on a foreign thread's hour-long sleep, their futures alive until
    after the adapter's module is cleared, beside a wake due as the run
    ends -- exits with status 0 and writes nothing to stderr: the waits are
    torn down with the interpreter, not woken into it."""
    path = [p for p in sys.path if p]
    install = ("import uvloop\nuvloop.install()\n" if loop.name == "uvloop"
               else "")
    code = _EXIT_CHILD.format(path=path, module=yp.__name__, install=install)
    # The child inherits this process's environment, so under the gates it
    # runs under the same sanitizer options (and its report, if any, is
    # what fails the case).  The limit is a hang guard only: a fresh
    # interpreter's start and exit take 0.1 s, a few seconds under memcheck
    # (which follows the child); the runner's timeout stays the outer bound.
    limit = 25.0
    try:
        r = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code],
                           capture_output=True, timeout=limit,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise Fail(f"the process did not end within {limit:g} s "
                   f"(stderr: {e.stderr!r})") from None
    err = r.stderr.decode(errors="replace")
    eq(r.stdout.decode(errors="replace"), "exiting\n",
       "the process's output (stderr: " + repr(err[-2000:]) + ")")
    eq(err, "", "the process's stderr")
    eq(r.returncode, 0, "the process's exit status")


@clause("pending.loop-closing")
def loop_closing(yp, loop):
    rnd = random.Random(99)
    probes = [yp.Probe() for _ in range(60)]
    tasks = []

    async def main():
        # Tasks left suspended when main returns: the run cancels them and
        # closes, while their foreign wakes land (spread over 0-10 ms).
        # Held past the run: a task suspended on a future nobody will
        # complete is only a task<->future cycle, and a collection before
        # the run cancels it would destroy it pending (asyncio keeps tasks
        # weakly).
        for i, p in enumerate(probes):
            tasks.append(loop.spawn(yp.scripted(
                [("wake_after", rnd.uniform(0, 0.01)), "pending"], p)))
            if i % 3 == 0:
                tasks.append(loop.spawn(
                    yp.cancellable_sleep(rnd.uniform(0, 0.01))))
                tasks.append(loop.spawn(yp.sleep(rnd.uniform(0, 0.01))))
        await ticks()
        time.sleep(0.004)             # some wakes queue while we block
    loop.run(main)
    time.sleep(0.05)                  # late wakes meet a closed loop
    check(all(p.dropped for p in probes),
          f"{sum(not p.dropped for p in probes)} futures not dropped")
