"""Driven by trio: the counterparts of the asyncio-specific clauses.

These run under the runtimes whose scheduler is trio's (``trio`` and
``anyio-trio``).  By hand, a case hands every ``WaitTaskRescheduled`` it
receives to trio (``loop.forward``), or throws into / closes the coroutine,
before it waits for anything else: a yielded suspension is a promise that
the task is waiting on it, and a wake of a task that is not waiting there
kills the run.
"""
import sys
import time

import outcome

from . import TRIO_FAMILY, clause
from ._support import (LATER, Fail, check, drive, eq, finishes, polls_before,
                       many_wakes, raises, reuse_error, same, steps, suspend,
                       ticks)


def _pending(yp, way, p=None):
    return yp.scripted(steps(way, "pending", ("ready", "unreachable")), p)


async def _until_polled(loop, p, n):
    for _ in range(500):
        if p.polls >= n:
            return
        await loop.sleep(0.002)
    eq(p.polls, n, "polls before the cancellation")


@clause("trio.await", runtimes=TRIO_FAMILY)
def await_(yp, way, loop):
    obj = object()
    exc = KeyError("k")

    async def main():
        a = await yp.scripted(steps(way, ("ready", obj)))
        b = await yp.sleep(0.01, "b")
        t = loop.spawn(yp.scripted(steps(way, ("ready", "t"))))
        try:
            await yp.scripted(steps(way, ("raise", exc)))
        except KeyError as e:
            same(e, exc, "exception raised by await")
        else:
            raise Fail("await of a failing future did not raise")
        return a, b, await t.wait()
    r = loop.run(main)
    same(r[0], obj, "await result")
    eq(r[1:], ("b", "t"), "await of sleep(), nursery task's result")


def _broken_for_the_case(*args):
    raise RuntimeError("broken for the case")


@clause("trio.await", runtimes=TRIO_FAMILY)
def await_with_trio_incomplete(yp, loop):
    """A trio whose lowlevel API is incomplete when a coroutine first
    suspends -- trio.lowlevel.Abort removed, or wait_task_rescheduled or
    cancel_shielded_checkpoint replaced by a function that raises, each in
    turn: an implementation that loads trio's API then cannot, so the await
    either completes or raises an exception -- never a crash or a hang --
    and whatever it reports goes to sys.unraisablehook.  No coroutine runs
    once the API is back: in the refleak mode every repetition meets each
    failure again (a failed load must not leak what it had loaded)."""
    import trio
    low = trio.lowlevel

    async def main():
        try:
            return await yp.scripted([("wake_after", LATER), ("ready", "a")])
        except Exception as e:          # noqa: B902 -- judged below
            return e

    for name, broken in (("Abort", None),
                         ("wait_task_rescheduled", _broken_for_the_case),
                         ("cancel_shielded_checkpoint",
                          _broken_for_the_case)):
        saved = getattr(low, name)
        hooked = []
        old_hook = sys.unraisablehook
        sys.unraisablehook = hooked.append
        if broken is None:
            delattr(low, name)
        else:
            setattr(low, name, broken)
        try:
            r = loop.run(main)
        finally:
            setattr(low, name, saved)
            sys.unraisablehook = old_hook
        what = (f"trio.lowlevel.{name} "
                + ("removed" if broken is None else "broken"))
        check(r == "a" or isinstance(r, Exception),
              f"await with {what} gave {r!r}")
        del r, hooked


@clause("trio.pending-suspends", runtimes=TRIO_FAMILY)
def pending_suspends(yp, loop):
    async def main():
        for script in (["pending", ("ready", 1)],
                       [("wake_after", LATER), ("ready", 1)]):
            p = yp.Probe()
            c = yp.scripted(script, p)
            y = c.send(None)
            eq(loop.classify(y), "suspend",
               f"{script[0]!r}: what the real Pending yielded ({y!r})")
            check(callable(getattr(y, "abort_func", None)),
                  f"{script[0]!r}: the message carries no abort_func")
            if script[0] == "pending":
                c.close()                 # nothing will wake it
                check(p.dropped, "close() did not drop the future")
                continue
            reply = await loop.forward(y)     # trio reschedules on the wake
            check(isinstance(reply, outcome.Value),
                  f"trio resumed the task with {reply!r}")
            eq(finishes(c.send, reply, what="send(outcome.Value(None))"), 1,
               "result")
            eq(p.polls, 2, "polls (the resumption is one poll)")
        return await yp.sleep(LATER, "slept")
    eq(loop.run(main), "slept", "await sleep() under trio")


@clause("trio.wake-yields-checkpoint", runtimes=TRIO_FAMILY)
def wake_yields_checkpoint(yp, loop):
    async def main():
        p = yp.Probe()
        c = yp.scripted(["wake", "wake", ("ready", 3)], p)
        reply = None
        for i in range(2):
            y = c.send(reply)
            check(y is not None, f"yield {i + 1} after a wake during the poll "
                                 f"is None, which trio rejects")
            eq(loop.classify(y), "yield-now",
               f"yield {i + 1} after a wake during the poll ({y!r})")
            reply = await loop.forward(y)
        eq(finishes(c.send, reply), 3, "result")
        eq(p.polls, 3, "polls")
        return await loop.spawn(yp.scripted(["wake", ("ready", 4)])).wait()
    eq(loop.run(main), 4, "task result")


@clause("trio.cancel-handle", runtimes=TRIO_FAMILY)
def cancel_handle(yp, loop):
    async def main():
        for make in (yp.cancellable, lambda: yp.cancellable_sleep(30)):
            t = loop.spawn(make())
            await ticks()
            t.cancel()
            r = await t.wait()
            check(isinstance(r, loop.cancelled_exc),
                  f"task result {r!r}, not trio's Cancelled")
            check(not t.cancelled(), "the Cancelled left the coroutine "
                                     "although it has a handle")
            c = make()
            check(loop.classify(c.send(None)) == "suspend",
                  "first poll should suspend")
            exc = KeyError("sent as outcome.Error")
            same(finishes(c.send, outcome.Error(exc),
                          what="send(outcome.Error(exc)) with a handle"),
                 exc, "result (the exception, returned)")
            reuse_error(c.send, None, what="send after completion")
    loop.run(main)


@clause("trio.cancel-drops", runtimes=TRIO_FAMILY)
def cancel_drops(yp, way, loop):
    async def main():
        p = yp.Probe()
        t = loop.spawn(_pending(yp, way, p))
        n = polls_before(way) + 1
        await _until_polled(loop, p, n)
        t.cancel()
        await t.join()
        check(t.cancelled(), "the task did not end by its cancellation")
        check(p.dropped, "future not dropped by the cancellation")
        eq(p.polls, n, "polls after the cancellation")

        p = yp.Probe()
        c = _pending(yp, way, p)
        await suspend(c, way)
        exc = KeyError("sent as outcome.Error")
        same(raises(KeyError, c.send, outcome.Error(exc),
                    what="send(outcome.Error(exc)) without a handle"),
             exc, "exception raised")
        check(p.dropped, "future not dropped by an outcome.Error")
        eq(p.polls, n, "polls (an outcome.Error must not poll)")
        reuse_error(c.send, None, what="send after the error")
    loop.run(main)


@clause("trio.cancel-drops", runtimes=TRIO_FAMILY)
def broken_error_sent(yp, loop):
    """An outcome.Error that lost its exception (its `error` slot deleted)
    sent into a suspended coroutine: send raises the AttributeError of
    reading it -- never polls with that error pending, never crashes --
    and close() still drops the future."""
    async def main():
        p = yp.Probe()
        c = _pending(yp, "ready", p)
        await suspend(c, "ready")
        broken = outcome.Error(KeyError("lost"))
        object.__delattr__(broken, "error")
        raises(AttributeError, c.send, broken,
               what="send(an outcome.Error without its error)")
        c.close()
        check(p.dropped, "close() after a broken outcome.Error did not drop "
              "the future")
    loop.run(main)


@clause("trio.nursery", runtimes=TRIO_FAMILY)
def nursery(yp, way, loop):
    async def main():
        p = yp.Probe()
        boom = ValueError("sibling")

        async def sibling():
            await loop.sleep(0.03)
            raise boom
        try:
            async with loop.group() as g:
                t1 = g.spawn(_pending(yp, way, p))
                t2 = g.spawn(yp.cancellable())
                g.spawn(sibling())
        except BaseException as e:      # noqa: B902 -- group types vary
            same_list = loop.leaves(e)
            check(len(same_list) == 1 and same_list[0] is boom,
                  f"errors out of the nursery: {same_list!r}, want [boom]")
        else:
            raise Fail("the nursery did not raise")
        check(t1.done() and t1.outcome[0] == "error"
              and isinstance(t1.outcome[1], loop.cancelled_exc),
              f"coroutine without a handle: {t1.outcome!r}")
        check(p.dropped, "future without a handle not dropped")
        check(t2.outcome is not None and t2.outcome[0] == "value"
              and isinstance(t2.outcome[1], loop.cancelled_exc),
              f"coroutine with a handle: {t2.outcome!r}")
    loop.run(main)


@clause("trio.move-on-after", runtimes=TRIO_FAMILY)
def move_on_after(yp, way, loop):
    async def main():
        p = yp.Probe()
        async with loop.move_on_after(0.05) as s:
            await _pending(yp, way, p)
        check(s.cancelled_caught, "the scope did not catch the cancellation")
        check(p.dropped, "future not dropped after move_on_after")
        async with loop.move_on_after(0.05):
            r = await yp.cancellable()
        check(isinstance(r, loop.cancelled_exc),
              f"cancellable() under move_on_after gave {r!r}")
        async with loop.move_on_after(5) as s:
            a = await yp.scripted(steps(way, ("ready", "a")))
        eq(a, "a", "result inside a scope that does not expire")
        check(not s.cancelled_caught, "a scope that did not expire caught")
    loop.run(main)


@clause("trio.fail-after", runtimes=TRIO_FAMILY)
def fail_after(yp, way, loop):
    async def main():
        p = yp.Probe()
        try:
            async with loop.fail_after(0.05):
                await _pending(yp, way, p)
        except loop.TimeoutError:
            pass
        else:
            raise Fail("fail_after did not expire")
        check(p.dropped, "future not dropped after fail_after")
        async with loop.fail_after(5):
            return await yp.scripted(steps(way, ("ready", "b")))
    eq(loop.run(main), "b", "result inside fail_after that does not expire")


@clause("trio.stale-wake", runtimes=TRIO_FAMILY)
def stale_wake(yp, loop):
    delay = max(0.05, 2 * LATER)

    async def not_cut_short(what):
        """The pending wakes land during this sleep: none may end it."""
        t0 = time.monotonic()
        await loop.sleep(delay * 4)
        dt = time.monotonic() - t0
        check(dt >= delay * 4 * 0.95,
              f"sleep({delay * 4}) returned after {dt:.3f}s: a wake {what} "
              f"rescheduled the task")

    async def main():
        import trio
        token = trio.lowlevel.current_trio_token()
        # A foreign wake queued (run_sync_soon) before trio cancels the
        # wait, delivered after the abort: the abort was the one reschedule.
        for i in range(8):
            p = yp.Probe()
            t = loop.spawn(yp.scripted([("wake_after", delay), "pending"], p)
                           if i % 2 else yp.cancellable_sleep(delay))
            if i % 2:
                await _until_polled(loop, p, 1)
            else:
                await ticks()
            # Rounds 0-3 queue the cancel ahead of the wake: trio runs its
            # run_sync_soon callbacks in order, in one go, so abort_fn runs,
            # then the wake's callback, and only then the task; a wake the
            # abort did not disarm meets the task already rescheduled, every
            # time.  Rounds 4-7 cancel at once: trio then runs the task and
            # the wake's callback in either order.
            queued = i < 4
            if queued:
                token.run_sync_soon(t.cancel)
            time.sleep(delay * 3)        # trio's thread blocked: the wake queues
            if not queued:
                t.cancel()               # abort_fn runs now, before the wake
            await t.join()
            await not_cut_short("queued before trio cancelled the wait")
        # Wakes arriving after the coroutine finished or was closed.
        c = yp.scripted([("wake_after", delay), ("ready", 1)])
        c.send(None)
        eq(finishes(c.send, None), 1, "spurious second poll finishes")
        c2 = yp.scripted([("wake_after", delay), "pending"])
        c2.send(None)
        c2.close()
        await not_cut_short("after the coroutine finished or was closed")
        # Two wakes for one suspension (the stale waker of poll 1 and poll
        # 2's own): the coroutine resumes (a stale waker may cause a
        # spurious poll), and the second wake reschedules nothing.
        p = yp.Probe()
        c = yp.scripted([("wake_after", delay), ("wake_after", 2 * delay),
                         ("ready", "r")], p)
        c.send(None)
        y = c.send(None)             # poll 2 before poll 1's wake
        eq((await drive(c, after=[y]))[0], "r", "result")
        eq(p.polls, 3, "polls")
        await not_cut_short("of a suspension that had already resumed")
        # A wake arriving after trio cancelled the wait (abort_fn), with and
        # without a handle.
        for make in (lambda: yp.scripted([("wake_after", delay), "pending"]),
                     lambda: yp.cancellable_sleep(delay)):
            async with loop.move_on_after(delay / 5):
                await make()
            await not_cut_short("after trio cancelled the wait")
    loop.run(main)


@clause("trio.run-finished", runtimes=TRIO_FAMILY)
def run_finished(yp, loop):
    delay = max(0.2, 10 * LATER)
    p = yp.Probe()
    c = yp.scripted([("wake_after", delay), "pending"], p)
    s = yp.sleep(delay)
    cs = yp.cancellable_sleep(delay)

    async def start():
        # Suspended by hand and never forwarded: the run ends long before
        # the wakes (delay), which then meet a finished run.
        for x in (c, s, cs):
            eq(loop.classify(x.send(None)), "suspend", "first poll")
    loop.run(start)
    time.sleep(delay * 2.5)           # the wakes hit the finished run
    for x in (c, s, cs):
        x.close()
    check(p.dropped, "close() after trio.run returned did not drop")


@clause("trio.many", runtimes=TRIO_FAMILY)
def many(yp, loop):
    many_wakes(yp, loop, seed=4321)
