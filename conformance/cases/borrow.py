"""Borrows across yield points (&self / &mut self)."""
from ypkit import messages

from . import clause
from ._support import (Fail, check, collect, eq, raises,
                       reuse_error, suspended, ticks, variant)

SHARED_REFUSED = messages.MUT_BORROWED
EXCLUSIVE_REFUSED = messages.BORROWED


def _at_call():
    return variant("borrow_timing") == "call"


def _hold(k, kind):
    """Start a never-resolving method so that it holds its borrow."""
    c = k.get(False) if kind == "shared" else k.incr(False)
    y = c.send(None)
    check(suspended(y), f"holder {kind} should pend, yielded {y!r}")
    return c


def _request(k, req):
    """Perform a borrowing request; return the exception it raised or None.

    Async requests are checked where the declared borrow_timing says the
    borrow is taken: the call, or the first send."""
    if req == "value":
        fn = k.value
    elif req == "set":
        fn = lambda: k.set(99)             # noqa: E731
    else:
        method = k.get if req == "get" else k.incr
        if _at_call():
            fn = method
        else:
            c = method()

            def fn():
                try:
                    return c.send(None)
                except StopIteration as e:
                    return e.value
    try:
        fn()
    except RuntimeError as e:
        return e
    return None


PAIRS = [  # holder, request, refused?, message
    ("shared", "get", False, None),
    ("shared", "value", False, None),
    ("shared", "incr", True, EXCLUSIVE_REFUSED),
    ("shared", "set", True, EXCLUSIVE_REFUSED),
    ("exclusive", "get", True, SHARED_REFUSED),
    ("exclusive", "value", True, SHARED_REFUSED),
    ("exclusive", "incr", True, EXCLUSIVE_REFUSED),
    ("exclusive", "set", True, EXCLUSIVE_REFUSED),
]


def _pairs(yp, loop, select, check_message):
    async def main():
        for holder, req, refused, msg in PAIRS:
            if not select(holder, req, refused):
                continue
            k = yp.Counter(5)
            h = _hold(k, holder)
            e = _request(k, req)
            what = f"{req} while a {holder} borrow is held"
            if not refused:
                check(e is None, f"{what}: refused with {e!r}")
            else:
                check(e is not None, f"{what}: not refused")
                check(type(e) is RuntimeError, f"{what}: {e!r}")
                if check_message:
                    eq(str(e), msg, f"{what}: message")
            h.close()
    loop.run(main)


@clause("borrow.shared-shared")
def shared_shared(yp, loop):
    _pairs(yp, loop, lambda h, r, refused: not refused, False)

    async def main():
        k = yp.Counter(5)
        a, b = _hold(k, "shared"), _hold(k, "shared")
        eq(await k.get(), 5, "a third shared get() completes")
        eq(k.value(), 5, "value()")
        a.close()
        b.close()
    loop.run(main)


@clause("borrow.exclusive-refused")
def exclusive_refused(yp, loop):
    _pairs(yp, loop, lambda h, r, refused: r in ("incr", "set"), False)


@clause("borrow.shared-refused")
def shared_refused(yp, loop):
    _pairs(yp, loop, lambda h, r, refused: h == "exclusive"
           and r in ("get", "value"), False)


@clause("borrow.messages")
def messages(yp, loop):
    _pairs(yp, loop, lambda h, r, refused: refused, True)


@clause("borrow.held-across-yields")
def held_across_yields(yp, loop):
    async def main():
        k = yp.Counter()
        h = _hold(k, "exclusive")
        for i in range(5):
            y = h.send(None)                  # another (spurious) poll
            check(suspended(y), f"poll {i + 2} yielded {y!r}")
            await ticks(2)
            check(_request(k, "set") is not None,
                  f"exclusive borrow released after yield {i + 1}")
        h.close()
        check(_request(k, "set") is None, "borrow still held after close()")
        # Held across a real wake too: a task that suspends repeatedly.
        k2 = yp.Counter()
        t = loop.spawn(k2.incr(False))
        await loop.sleep(0.02)
        check(_request(k2, "value") is not None,
              "borrow not held by a suspended task")
        t.cancel()
        await t.join()
    loop.run(main)


@clause("borrow.released", "fixture.counter")
def released(yp, loop):
    async def main():
        for kind in ("shared", "exclusive"):
            k = yp.Counter(1)
            c = k.get() if kind == "shared" else k.incr()
            r = await c
            eq(r, 1 if kind == "shared" else 2, f"{kind} result")
            check(_request(k, "set") is None, f"{kind}: held after completion")

            k = yp.Counter()
            _hold(k, kind).close()
            check(_request(k, "set") is None, f"{kind}: held after close()")

            k = yp.Counter()
            h = _hold(k, kind)
            raises(ValueError, h.throw, ValueError("x"))
            check(_request(k, "set") is None, f"{kind}: held after throw()")

            k = yp.Counter()
            t = loop.spawn(k.get(False) if kind == "shared"
                           else k.incr(False))
            await ticks()
            t.cancel()
            await t.join()
            check(t.cancelled(), "task not cancelled")
            check(_request(k, "set") is None,
                  f"{kind}: held after Task.cancel()")

            k = yp.Counter()
            h = _hold(k, kind)
            del h
            collect()
            check(_request(k, "set") is None,
                  f"{kind}: held after the suspended coroutine was freed")
    loop.run(main)


@clause("borrow.refused-clean")
def refused_clean(yp, loop):
    async def main():
        k = yp.Counter(3)
        h = _hold(k, "shared")
        if _at_call():
            raises(RuntimeError, k.incr, message=None)
        else:
            c = k.incr()
            raises(RuntimeError, c.send, None, what="refused incr()")
            reuse_error(c.send, None, what="send after the refusal")
        eq(k.value(), 3, "value() while the shared holder remains")
        check(_request(k, "set") is not None, "the holder's borrow was lost")
        h.close()
        check(_request(k, "set") is None,
              "something still holds a borrow after the refusal")
        eq(k.value(), 99, "value after set()")
    loop.run(main)


@clause("borrow.timing")
def timing(yp, loop):
    timing = variant("borrow_timing")

    async def main():
        k = yp.Counter()
        c = k.incr(False) if timing == "first_poll" else None
        if timing == "first_poll":
            check(_request(k, "set") is None,
                  "borrow_timing=first_poll, but an unstarted incr() holds "
                  "the borrow")
            g = k.get(False)               # creating it takes nothing
            c.send(None)
            e = raises(RuntimeError, g.send, None,
                       what="first send of get() while incr() holds")
            eq(str(e), SHARED_REFUSED, "message")
            c.close()
        elif timing == "call":
            c = k.incr(False)
            check(_request(k, "set") is not None,
                  "borrow_timing=call, but incr() did not borrow at call")
            raises(RuntimeError, k.get, False, what="get() call while held")
            c.close()
        else:
            raise Fail(f"unknown borrow_timing {timing!r}")
    loop.run(main)


@clause("borrow.object-freed")
def object_freed(yp, loop):
    async def main():
        collect()
        before = yp.counters_dropped()
        k = yp.Counter()
        h = _hold(k, "exclusive")
        del k
        collect()
        eq(yp.counters_dropped(), before,
           "Counter freed while a coroutine still borrows it")
        h.close()
        del h
        collect()
        eq(yp.counters_dropped(), before + 1, "Counter not freed after close")
        k = yp.Counter()
        eq(await k.incr(), 1, "incr()")
        del k
        collect()
        eq(yp.counters_dropped(), before + 2,
           "Counter not freed after a completed method")
    loop.run(main)
