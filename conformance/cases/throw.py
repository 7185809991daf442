"""throw, close, cancellation and garbage collection."""
import asyncio
import time
import warnings
import weakref

from ypkit import messages

from . import ASYNCIO, clause
from ._support import (LATER, NoNewNames, about, advance, check, collect,
                       drive, eq, finishes, frame_names, polls_before, raises,
                       reuse_error, same, steps, suspend, suspended, ticks,
                       until)


def _pending(yp, way, p=None):
    return yp.scripted(steps(way, "pending", ("ready", "unreachable")), p)


@clause("throw.no-handle-raises", "throw.no-handle-drops")
def no_handle(yp, way, loop):
    async def main():
        p = yp.Probe()
        c = _pending(yp, way, p)
        await suspend(c, way)
        exc = ValueError("thrown")
        with about("throw.no-handle-raises"):
            same(raises(ValueError, c.throw, exc), exc,
                 "exception raised by throw")
        with about("throw.no-handle-drops"):
            check(p.dropped, "future not dropped by throw without a handle")
            eq(p.polls, polls_before(way) + 1, "polls (throw must not poll)")
            reuse_error(c.send, None, what="send after throw")
    loop.run(main)


@clause("throw.no-handle-fresh")
def no_handle_fresh(yp):
    p = yp.Probe()
    c = yp.scripted([("ready", 1)], p)
    exc = KeyError("fresh")
    same(raises(KeyError, c.throw, exc), exc, "exception raised")
    eq((p.polls, p.dropped), (0, True), "(polls, dropped) after throw")
    reuse_error(c.send, None, what="send after throw into a fresh coroutine")


@clause("throw.stopiteration")
def stopiteration(yp, way, loop):
    async def main():
        for fresh in (True, False):
            p = yp.Probe()
            c = _pending(yp, way, p)
            if not fresh:
                await suspend(c, way)
            exc = StopIteration(7)
            err = raises(RuntimeError, c.throw, exc)
            eq(str(err), messages.STOP_ITERATION, "message")
            same(err.__cause__, exc, "__cause__ of the RuntimeError")
            # (Dropping is throw.no-handle-drops / -fresh's business.)
    loop.run(main)


@clause("throw.forms")
def forms(yp, loop):
    tb = None
    try:
        raise ValueError("for a traceback")
    except ValueError as e:
        tb = e.__traceback__
    inst = ValueError("inst")
    cases = [
        ((inst,), lambda e: e is inst, "throw(instance)"),
        ((ValueError,), lambda e: type(e) is ValueError, "throw(class)"),
        ((ValueError, inst), lambda e: e is inst, "throw(type, instance)"),
        ((ValueError, "arg"), lambda e: type(e) is ValueError
         and e.args == ("arg",), "throw(type, 'arg')"),
        ((ValueError, inst, tb), lambda e: e is inst,
         "throw(type, instance, tb)"),
        ((ValueError, None, None), lambda e: type(e) is ValueError,
         "throw(type, None, None)"),
    ]

    async def main():
        for args, ok, what in cases:
            p = yp.Probe()
            c = yp.scripted(["pending", ("ready", 1)], p)
            c.send(None)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                e = raises(ValueError, c.throw, *args, what=what)
            check(ok(e), f"{what}: raised {e!r}")
            check(p.dropped, f"{what}: future not dropped")
    loop.run(main)


def _raise_here():
    raise ValueError("raised in _raise_here")


@clause("throw.forms")
def forms_keep_traceback(yp, loop):
    """throw(e, None, None): a traceback argument of None means "no new
    traceback", so the instance keeps the one it has and the frame that
    first raised it is still in the traceback of what comes out (setting
    None would erase where the error came from).  Only the instance form:
    with a class first, throw(type(e), e, None), CPython 3.11 itself drops
    the old traceback, so that is left open."""
    async def main():
        try:
            _raise_here()
        except ValueError as caught:
            e = caught
        c = yp.scripted(["pending", ("ready", 1)])
        c.send(None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            same(raises(ValueError, c.throw, e, None, None,
                        what="throw(e, None, None)"),
                 e, "the exception raised")
        names = frame_names(e)
        check("_raise_here" in names,
              "throw(e, None, None): the traceback lost the frame that "
              f"raised the exception (frames now: {names})")
    loop.run(main)


@clause("throw.forms")
def forms_separate_value(yp, loop):
    """throw(type, value) with a value that is not an instance of the type
    builds the type from it; an instance with a separate value, or a third
    argument that is no traceback, is refused with TypeError."""
    key = KeyError("k")
    inst = ValueError("inst")
    accepted = [
        ((ValueError, key), ValueError,
         lambda e: type(e) is ValueError and e.args == (key,),
         "throw(ValueError, KeyError('k'))"),
        ((ValueError, (1, 2)), ValueError,
         lambda e: type(e) is ValueError and e.args == (1, 2),
         "throw(ValueError, (1, 2))"),
        ((LookupError, key), KeyError, lambda e: e is key,
         "throw(LookupError, KeyError('k')): a subclass instance, as is"),
        ((inst, None), ValueError, lambda e: e is inst,
         "throw(instance, None)"),
    ]
    refused = [
        ((inst, "v"), "instance exception may not have a separate value",
         "throw(instance, 'v')"),
        ((inst, key), "instance exception may not have a separate value",
         "throw(instance, another instance)"),
        ((ValueError, None, "tb"), None, "throw(ValueError, None, 'tb')"),
    ]

    async def main():
        for args, typ, ok, what in accepted:
            p = yp.Probe()
            c = yp.scripted(["pending", ("ready", 1)], p)
            c.send(None)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                e = raises(typ, c.throw, *args, what=what)
            check(ok(e), f"{what}: raised {e!r} (args {e.args!r})")
            check(p.dropped, f"{what}: future not dropped")
        for args, message, what in refused:
            p = yp.Probe()
            c = yp.scripted(["pending", ("ready", 1)], p)
            c.send(None)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                raises(TypeError, c.throw, *args, message=message, what=what)
            c.close()
            check(p.dropped, f"{what}: future not dropped by close()")
    loop.run(main)


@clause("throw.delegated")
def delegated(yp, loop):
    async def main():
        p = yp.Probe()
        inner = yp.scripted(["pending", ("ready", 1)], p)

        async def outer(c):
            return await c
        o = outer(inner)
        o.send(None)
        inst = ValueError("through")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            same(raises(ValueError, o.throw, ValueError, inst, None,
                        what="outer.throw(type, value, None)"), inst,
                 "exception")
        check(p.dropped, "inner future not dropped")

        o = outer(yp.cancellable())
        o.send(None)
        inst = KeyError("to the handle")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            same(finishes(o.throw, KeyError, inst, None,
                          what="outer.throw(type, value, None) with a handle"),
                 inst, "outer's result")
    loop.run(main)


@clause("throw.non-exception")
def non_exception(yp, loop):
    async def main():
        for bad in (42, "str", None, object):
            c = yp.scripted(["pending", ("ready", 1)])
            c.send(None)
            raises(TypeError, c.throw, bad, what=f"throw({bad!r})")
            c.close()
        c = yp.scripted([("ready", 1)])
        raises(TypeError, c.throw, 42, what="throw(42) into a fresh coroutine")
        c.close()
    loop.run(main)


@clause("throw.handle-stores", "throw.handle-repolls")
def handle_stores(yp, loop):
    async def main():
        for make in (yp.cancellable, lambda: yp.cancellable_sleep(30)):
            c = make()
            check(suspended(c.send(None)), "first poll should pend")
            exc = KeyError("stored")
            same(finishes(c.throw, exc, what="throw with a handle"), exc,
                 "result (the thrown exception, returned)")
            reuse_error(c.send, None, what="send after completion")
    loop.run(main)


@clause("throw.handle-fresh")
def handle_fresh(yp):
    c = yp.cancellable()
    exc = ValueError("before the first poll")
    same(finishes(c.throw, exc, what="throw into a fresh cancellable()"), exc,
         "result")


@clause("throw.handle-keeps-future", "fixture.sleep-loop")
def handle_keeps_future(yp, loop):
    async def main():
        t = loop.spawn(yp.sleep_loop())
        await loop.sleep(0.1)
        t.cancel()
        n = await t.wait()
        check(not t.cancelled(), "task cancelled despite the handle")
        check(isinstance(n, int) and n >= 3,
              f"sleep_loop counted {n!r} sleeps in 0.1 s (want >= 3)")
        c = yp.sleep_loop()
        y = c.send(None)
        for _ in range(3):
            y = c.send(await loop.forward(y))
        n = finishes(c.throw, asyncio.CancelledError(), what="throw")
        eq(n, 3, "sleeps counted before the throw")
    loop.run(main)


@clause("throw.task-cancel")
def task_cancel(yp, way, loop):
    async def main():
        p = yp.Probe()
        t = loop.spawn(_pending(yp, way, p))
        await loop.checkpoint()
        until_polled = polls_before(way) + 1
        for _ in range(500):
            if p.polls >= until_polled:
                break
            await loop.sleep(0.002)
        eq(p.polls, until_polled, "polls before cancel")
        t.cancel()
        await t.join()
        check(t.cancelled(), "task not cancelled")
        check(p.dropped, "future not dropped by Task.cancel()")
        eq(p.polls, until_polled, "polls after cancel")
    loop.run(main)


@clause("throw.task-cancel", "throw.no-handle-fresh", runtimes=ASYNCIO)
def task_cancel_before_first_poll(yp, loop):
    async def main():
        p = yp.Probe()
        t = asyncio.create_task(yp.scripted(["pending"], p))
        t.cancel()                        # before the first step
        try:
            await t
        except asyncio.CancelledError:
            pass
        check(t.cancelled(), "task cancelled before its first step")
        eq((p.polls, p.dropped), (0, True), "(polls, dropped)")
    loop.run(main)


@clause("throw.task-cancel-handle")
def task_cancel_handle(yp, loop):
    async def main():
        for make in (yp.cancellable, lambda: yp.cancellable_sleep(30)):
            t = loop.spawn(make())
            await ticks()
            t.cancel()
            r = await t.wait()
            check(isinstance(r, loop.cancelled_exc),
                  f"task result {r!r}, not the runtime's cancellation "
                  f"({loop.cancelled_exc.__name__})")
            check(not t.cancelled(), "task.cancelled() is true")
    loop.run(main)


@clause("throw.wait-for-timeout", runtimes=ASYNCIO)
def wait_for_timeout(yp, way, loop):
    async def main():
        p = yp.Probe()
        try:
            await asyncio.wait_for(_pending(yp, way, p), 0.05)
        except asyncio.TimeoutError:
            pass
        else:
            check(False, "wait_for did not time out")
        check(p.dropped, "future not dropped after wait_for timeout")
        r = await asyncio.wait_for(yp.cancellable(), 0.05)
        check(isinstance(r, asyncio.CancelledError),
              f"wait_for(cancellable()) gave {r!r}")
    loop.run(main)


@clause("throw.taskgroup", runtimes=ASYNCIO)
def taskgroup(yp, way, loop):
    async def main():
        p = yp.Probe()
        boom = ValueError("sibling")

        async def sibling():
            await asyncio.sleep(0.03)
            raise boom
        try:
            async with asyncio.TaskGroup() as tg:
                t1 = tg.create_task(_pending(yp, way, p))
                t2 = tg.create_task(yp.cancellable())
                tg.create_task(sibling())
        except BaseExceptionGroup as eg:      # noqa: F821 -- 3.11 builtin
            eq(list(eg.exceptions), [boom], "ExceptionGroup contents")
        else:
            check(False, "TaskGroup did not raise")
        check(t1.cancelled(), "task without a handle not cancelled")
        check(p.dropped, "future without a handle not dropped")
        check(not t2.cancelled() and isinstance(t2.result(),
                                                asyncio.CancelledError),
              f"task with a handle: {t2!r}")
    loop.run(main)


@clause("throw.timeout-cm", runtimes=ASYNCIO)
def timeout_cm(yp, way, loop):
    async def main():
        p = yp.Probe()
        try:
            async with asyncio.timeout(0.05):
                await _pending(yp, way, p)
        except TimeoutError:
            pass
        else:
            check(False, "asyncio.timeout did not expire")
        check(p.dropped, "future not dropped after asyncio.timeout")
    loop.run(main)


@clause("throw.close-drops")
def close_drops(yp, way, loop):
    async def main():
        p = yp.Probe()
        c = _pending(yp, way, p)
        await suspend(c, way)
        same(c.close(), None, "close() of a suspended coroutine")
        check(p.dropped, "future not dropped by close()")
        eq(p.polls, polls_before(way) + 1, "polls (close must not poll)")
        reuse_error(c.send, None, what="send after close")
        # With a handle, close() does not deliver anything: it just drops.
        c = yp.cancellable()
        c.send(None)
        same(c.close(), None, "close() of a suspended cancellable()")
    loop.run(main)


@clause("throw.close-drops")
def close_fresh(yp):
    p = yp.Probe()
    c = yp.scripted([("ready", 1)], p)
    same(c.close(), None, "close() of a fresh coroutine")
    eq((p.polls, p.dropped), (0, True), "(polls, dropped) after close")
    reuse_error(c.send, None, what="send after close")


@clause("throw.close-drops")
def close_as_its_thread_ends(yp, loop):
    """close() of a sleep whose thread is in its last slice: the thread
    then finishes into a dropped future (the seed's `tx.send(())` after the
    receiver went returns an error nobody reads), which must break nothing
    and, under the gates, leak nothing."""
    async def main():
        for _ in range(3):
            c = yp.sleep(0.005)
            try:
                c.send(None)             # the thread starts
            except StopIteration:        # (or, on a host that stalled us
                continue                 # 5 ms, already ended: not this)
            time.sleep(0.002)            # ... and sleeps its last 5 ms
            same(c.close(), None, "close() of a sleep near its end")
            reuse_error(c.send, None, what="send after close")
        time.sleep(0.03)                 # the threads finish into nothing
    loop.run(main)


@clause("throw.close-idempotent")
def close_idempotent(yp):
    p = yp.Probe()
    c = yp.scripted([("ready", 1)], p)
    finishes(c.send, None)
    same(c.close(), None, "close() after finishing")
    same(c.close(), None, "second close()")
    c = yp.scripted([("raise", ValueError())])
    raises(ValueError, c.send, None)
    same(c.close(), None, "close() after an error")
    c = yp.scripted([("ready", 1)])
    c.close()
    same(c.close(), None, "close() after close()")


def _cycle(yp, p, first, start):
    """Leave behind a coroutine in a reference cycle:
    coroutine -> steps -> lambda -> box -> coroutine."""
    box = []
    c = yp.scripted(first + [("call", lambda: ("ready", box))], p)
    box.append(c)
    if start:
        c.send(None)


@clause("throw.gc-drops")
def gc_drops(yp, loop):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = yp.Probe()
        c = yp.scripted([("ready", 1)], p)
        del c
        collect()
        check(p.dropped, "fresh coroutine freed without dropping its future")

        p = yp.Probe()
        _cycle(yp, p, [], False)
        collect()
        check(p.dropped, "fresh coroutine in a cycle not collected")

    async def main():
        p = yp.Probe()
        c = yp.scripted(["pending"], p)
        c.send(None)
        del c
        collect()
        check(p.dropped, "suspended coroutine freed without dropping")

        p = yp.Probe()
        _cycle(yp, p, ["pending"], True)
        collect()
        check(p.dropped, "suspended coroutine in a cycle not collected")
    loop.run(main)


@clause("throw.gc-drops", runtimes=("asyncio",))
def gc_drops_with_its_loop(yp, loop):
    """A coroutine suspended in a task on a loop that is dropped unclosed,
    after its wake was queued on that loop (a foreign wake not yet run):
    the loop, the task, the coroutine and its waiter are garbage together,
    and the collector frees all of it.  On a loop that takes no new
    attribute (yieldpoint's per-wake path) the queued wake holds the
    waiter: a cycle loop -> ready queue -> waiter -> loop, which the
    collector only sees if the waiter shows its loop (tp_traverse).  On a
    plain loop nothing may keep the loop alive once its user dropped it
    (a cache of the last loop's state must not)."""
    for make in (asyncio.SelectorEventLoop, NoNewNames):
        _drop_loop_with_queued_wake(yp, make)


def _drop_loop_with_queued_wake(yp, make):
    ev = make()
    what = make.__name__
    # Its task is destroyed pending: asyncio reports that through the
    # loop's exception handler, which is not what this case checks.
    ev.set_exception_handler(lambda _loop, _context: None)
    p = yp.Probe()

    async def start():
        ev.create_task(_await(yp.scripted([("wake_after", LATER),
                                           ("ready", 1)], p)))
        for _ in range(3):
            await asyncio.sleep(0)
    try:
        ev.run_until_complete(start())
        eq(p.polls, 1, f"{what}: polls before the wake")
        until(lambda: len(ev._ready) > 0, what=f"{what}: the foreign wake "
              "to reach the loop's ready queue")
    except BaseException:
        ev.close()
        raise
    ref = weakref.ref(ev)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)   # unclosed loop
        del ev, start
        collect()
    check(ref() is None, f"{what}: a dropped loop, with a suspended "
          "coroutine's task and its queued wake, was not collected")
    check(p.dropped, f"{what}: the coroutine of a collected task did not "
          "drop its future")


async def _await(c):
    return await c


class _Box:
    """A step argument that can be watched with a weak reference."""


@clause("throw.gc-drops")
def gc_frees_everything(yp, loop):
    """A dropped coroutine -- never awaited, or suspended on a pending step
    or on a timer's wake -- leaves nothing alive: the step arguments it
    still held are freed with it."""
    refs = []

    def leave(first, start):
        box = _Box()
        refs.append((weakref.ref(box), f"{first} (started: {start})"))
        c = yp.scripted(first + [("ready", box)])
        if start:
            check(suspended(c.send(None)), f"{first}: first poll should pend")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        leave([], False)
        leave(["pending"], False)

    async def main():
        leave(["pending"], True)
        leave([("wake_after", 30)], True)
    loop.run(main)
    collect()
    alive = [what for ref, what in refs if ref() is not None]
    eq(alive, [], "step arguments still alive after the coroutine was dropped")


def _result_cycle(loop, make):
    """Leave coroutines whose future holds a result that refers back to
    them (``make(box)`` -> coroutine), fresh and suspended; after a
    collection every result must be freed."""
    refs = []

    def leave(start):
        box = _Box()
        box.coro = make(box)
        refs.append((weakref.ref(box), f"started: {start}"))
        if start:
            check(suspended(box.coro.send(None)), "the first poll should pend")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        leave(False)

    async def main():
        leave(True)
    loop.run(main)
    collect()
    alive = [what for ref, what in refs if ref() is not None]
    eq(alive, [], "results in a cycle still alive after collection")


@clause("throw.gc-drops", requires=("cancellable_sleep.result",))
def gc_sleep_result_cycle(yp, loop):
    """A sleep's result that refers back to its coroutine (coroutine ->
    select -> sleep -> result -> coroutine): the cycle is collected, fresh
    or suspended, and the result freed -- which needs the collector to see
    the result through the sleep inside the select."""
    _result_cycle(loop, lambda box: yp.cancellable_sleep(30, box))


@clause("throw.gc-drops", requires=("race",))
def gc_race_result_cycle(yp, loop):
    """As gc_sleep_result_cycle, through the *second* branch of a select
    (race: coroutine -> select -> second sleep -> result -> coroutine),
    the first holding a result too: the collector must see every branch."""
    _result_cycle(loop, lambda box: yp.race((30, _Box()), (30, box)))


@clause("throw.gc-drops")
def gc_while_select_suspended(yp, loop):
    """A collection while a select-based coroutine (cancellable_sleep: a
    sleep raced against its cancel handle) is suspended walks its live
    future harmlessly: the coroutine then completes."""
    async def main():
        c = yp.cancellable_sleep(LATER)
        y = await advance(c, 1)
        check(suspended(y), "cancellable_sleep's first poll should pend")
        collect()
        result, _ = await drive(c, after=[y])
        eq(result, 42, "result after a collection during the suspension")
    loop.run(main)
