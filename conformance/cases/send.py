"""send -> poll: one poll per send, and what a finished poll produces."""
import asyncio

from ypkit import messages

from . import ASYNCIO_FAMILY, clause
from ._support import (Fail, Skip, await_in, check, eq, finishes,
                       frame_names, polls_before, raises, reuse_error,
                       run_by_hand, same, steps, suspended)


@clause("send.one-poll", "fixture.probe")
def one_poll_per_send(yp, way, loop):
    p = yp.Probe()
    eq((p.polls, p.dropped), (0, False), "a fresh Probe")
    c = yp.scripted(steps(way, ("ready", 1)), p)
    eq(p.polls, 0, "polls before the first send")
    result, yields = run_by_hand(loop, c)
    eq(result, 1, "result")
    eq(len(yields), polls_before(way), "sends that yielded")
    eq(p.polls, polls_before(way) + 1, "polls (one per send)")


@clause("send.one-poll")
def spurious_poll(yp, loop):
    async def main():
        p = yp.Probe()
        c = yp.scripted(["pending", ("wake_after", 5.0), ("ready", 7)], p)
        y1 = c.send(None)
        check(suspended(y1), f"first send yielded {y1!r}")
        c.send(None)                    # not woken: polls anyway
        eq(p.polls, 2, "polls after two sends without a wake")
        eq(finishes(c.send, None), 7, "third send's result")
        eq(p.polls, 3, "polls after three sends")
    loop.run(main)


@clause("send.value-ignored", runtimes=ASYNCIO_FAMILY)
def value_ignored(yp, way, loop):
    p = yp.Probe()
    c = yp.scripted(steps(way, ("ready", "v")), p)
    result, _ = run_by_hand(loop, c, value=12345)
    eq(result, "v", "result when sending 12345 every time")
    eq(p.polls, polls_before(way) + 1, "polls")


@clause("send.next-is-send-none")
def next_is_send_none(yp, way, loop):
    p = yp.Probe()
    c = yp.scripted(steps(way, ("ready", "n")), p)
    if not hasattr(c, "__next__"):
        c.close()
        raise Skip("the coroutine has no __next__ (allowed: MAY clause)")

    async def main():
        for _ in range(100):
            try:
                y = c.__next__()
            except StopIteration as e:
                return e.value
            await loop.forward(y)     # __next__ sends None, whatever comes back
        raise Fail("did not finish")
    eq(loop.run(main), "n", "result via __next__")
    eq(p.polls, polls_before(way) + 1, "polls via __next__")
    reuse_error(c.__next__, what="__next__ after finishing")


@clause("send.ready-value", "asyncio.await")
def ready_value(yp, way, loop):
    obj = object()
    result, _ = run_by_hand(loop, yp.scripted(steps(way, ("ready", obj))))
    same(result, obj, "StopIteration.value")
    same(await_in(loop, lambda: yp.scripted(steps(way, ("ready", obj)))), obj,
         "await result")


@clause("send.ready-none")
def ready_none(yp, way, loop):
    result, _ = run_by_hand(loop, yp.scripted(steps(way, ("ready", None))))
    same(result, None, "StopIteration.value")
    same(await_in(loop, lambda: yp.scripted(steps(way, ("ready", None)))),
         None, "await result")


@clause("send.ready-tuple")
def ready_tuple(yp, way, loop):
    for t in [(), (1,), (1, 2), ((),), (None,)]:
        result, _ = run_by_hand(loop, yp.scripted(steps(way, ("ready", t))))
        same(result, t, f"StopIteration.value for {t!r}")
        same(await_in(loop, lambda: yp.scripted(steps(way, ("ready", t)))),
             t, f"await result for {t!r}")


@clause("send.ready-exception-object")
def ready_exception_object(yp, way, loop):
    for exc in [ValueError("returned"), asyncio.CancelledError(),
                KeyboardInterrupt()]:
        result, _ = run_by_hand(loop, yp.scripted(steps(way, ("ready", exc))))
        same(result, exc, "StopIteration.value")
        same(await_in(loop, lambda: yp.scripted(steps(way, ("ready", exc)))),
             exc, "await result")


@clause("send.error-raises", "asyncio.await")
def error_raises(yp, way, loop):
    exc = KeyError("k")
    e = raises(KeyError, run_by_hand, loop, yp.scripted(steps(way, ("raise", exc))),
               what="driving a failing future")
    same(e, exc, "raised exception")
    e = raises(LookupError, run_by_hand, loop,
               yp.scripted(steps(way, ("raise", LookupError))),
               what="raising an exception class")
    check(type(e) is LookupError, f"class instantiated, got {e!r}")
    e = raises(KeyError, await_in, loop,
               lambda: yp.scripted(steps(way, ("raise", exc))),
               what="await of a failing future")
    same(e, exc, "exception raised by await")


@clause("send.stopiteration")
def stopiteration(yp, way, loop):
    for si in (StopIteration(5), StopIteration):
        e = raises(RuntimeError, run_by_hand, loop,
                   yp.scripted(steps(way, ("raise", si))),
                   message=messages.STOP_ITERATION,
                   what=f"a future raising {si!r}")
        check(isinstance(e.__cause__, StopIteration),
              f"__cause__ should be the StopIteration, got {e.__cause__!r}")
        if isinstance(si, StopIteration):
            same(e.__cause__, si, "__cause__")


@clause("send.stopiteration")
def stopiteration_traceback(yp, way, loop):
    """The StopIteration kept as __cause__ keeps the traceback it was raised
    with (PEP 479's conversion must not strip it)."""
    def stop_here():
        raise StopIteration(5)
    e = raises(RuntimeError, run_by_hand, loop,
               yp.scripted(steps(way, ("call", stop_here))),
               message=messages.STOP_ITERATION,
               what="a poll raising StopIteration from Python code")
    check(isinstance(e.__cause__, StopIteration),
          f"__cause__ should be the StopIteration, got {e.__cause__!r}")
    frames = frame_names(e.__cause__)
    check("stop_here" in frames,
          f"__cause__.__traceback__ lost the raising frame (frames: {frames})")


@clause("send.drop-on-finish")
def drop_on_finish(yp, way, loop):
    p = yp.Probe()
    c = yp.scripted(steps(way, ("ready", 1), ("ready", 2)), p)
    run_by_hand(loop, c)
    check(p.dropped, "future not dropped after finishing (ready)")
    polls = p.polls
    reuse_error(c.send, None, what="send after finishing")
    eq(p.polls, polls, "polls after finishing")

    p = yp.Probe()
    c = yp.scripted(steps(way, ("raise", ValueError("x")), ("ready", 2)), p)
    raises(ValueError, run_by_hand, loop, c)
    check(p.dropped, "future not dropped after finishing (error)")
    eq(p.polls, polls_before(way) + 1, "polls")
