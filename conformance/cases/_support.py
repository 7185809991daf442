"""Helpers the cases share: script building, assertions, loop variants."""
import asyncio
import gc
import sys
import os
import threading
import time

# Seconds before a foreign thread wakes ("later" way).  It must exceed one
# poll, or the wake lands *during* the poll and the coroutine rightly
# yields None; under Valgrind a poll can take tens of milliseconds, so the
# valgrind gate raises it through YP_CONF_LATER.
LATER = float(os.environ.get("YP_CONF_LATER", "0.02"))
WAIT = 5.0            # generous bound for anything that should be prompt


class Skip(Exception):
    """Raise to skip a case, with the reason as the message."""


class Fail(AssertionError):
    pass


# --- scripts ---------------------------------------------------------------

def prefix(way):
    """Steps that make the final step happen the given way."""
    if way in (None, "ready"):
        return []
    if way == "wake":
        return ["wake"]
    if way == "later":
        return [("wake_after", LATER)]
    raise ValueError(way)


def steps(way, *final):
    return prefix(way) + list(final)


def polls_before(way):
    return len(prefix(way))


# --- assertions --------------------------------------------------------------

def check(cond, msg):
    if not cond:
        raise Fail(msg)


def eq(actual, expected, what):
    if actual != expected:
        raise Fail(f"{what}: expected {expected!r}, got {actual!r}")


def same(actual, expected, what):
    if actual is not expected:
        raise Fail(f"{what}: expected the very object {expected!r}, "
                   f"got {actual!r}")


def raises(exc_type, fn, *args, message=None, what=None, **kwargs):
    """Call fn; it must raise exc_type exactly (and message, if given)."""
    what = what or getattr(fn, "__name__", repr(fn))
    try:
        result = fn(*args, **kwargs)
    except BaseException as e:      # noqa: B902 -- cases assert exact types
        if type(e) is not exc_type:
            raise Fail(f"{what}: expected {exc_type.__name__}, got "
                       f"{type(e).__name__}: {e}") from e
        if message is not None and str(e) != message:
            raise Fail(f"{what}: expected message {message!r}, got "
                       f"{str(e)!r}") from e
        return e
    raise Fail(f"{what}: expected {exc_type.__name__}, returned {result!r}")


def finishes(fn, *args, what=None):
    """Call fn (a send/throw/__next__); it must raise StopIteration."""
    e = raises(StopIteration, fn, *args, what=what)
    return e.value


def reuse_error(fn, *args, what=None):
    raises(RuntimeError, fn, *args, what=what,
           message="cannot reuse already awaited coroutine")


def collect():
    for _ in range(3):
        gc.collect()


def until(pred, timeout=WAIT, what="condition"):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise Fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.001)


# --- background errors --------------------------------------------------------

_background = []


def _record(kind, text):
    _background.append(f"{kind}: {text}")


def install_hooks():
    def unraisable(u):
        _record("unraisable", f"{u.exc_type.__name__}: {u.exc_value} "
                f"({u.err_msg or ''} {u.object!r})")

    def thread_hook(a):
        _record("thread", f"{a.exc_type.__name__}: {a.exc_value}")
    sys.unraisablehook = unraisable
    threading.excepthook = thread_hook


def take_background():
    out = list(_background)
    _background.clear()
    return out


# --- loops --------------------------------------------------------------------

class Loop:
    """A loop variant: ``run(main)`` runs ``main()`` (an async function)."""

    def __init__(self, name):
        self.name = name
        if name == "asyncio":
            self.factory = asyncio.new_event_loop
        elif name == "uvloop":
            try:
                import uvloop
            except ImportError as e:
                raise Skip(f"uvloop is not importable: {e}") from e
            self.factory = uvloop.new_event_loop
        else:
            raise ValueError(name)

    def new_loop(self):
        loop = self.factory()
        loop.set_exception_handler(
            lambda lp, ctx: _record("loop", ctx.get("message", "") + " "
                                    + repr(ctx.get("exception"))))
        return loop

    def runner(self):
        return asyncio.Runner(loop_factory=self.new_loop)

    def run(self, main, timeout=15.0):
        async def guarded():
            return await asyncio.wait_for(main(), timeout)
        with self.runner() as r:
            return r.run(guarded())

    def __repr__(self):
        return self.name


# --- driving by hand ----------------------------------------------------------

async def settle(fut, what="the yielded future"):
    """Wait (inside a running loop) until a yielded loop future is done."""
    done, _ = await asyncio.wait({fut}, timeout=WAIT)
    check(done, f"{what} was not woken within {WAIT}s")


async def drive(coro, value=None):
    """Drive coro by hand inside a running loop, like a Task does.

    Returns (result, yields): every value the coroutine yielded."""
    yields = []
    for _ in range(10000):
        try:
            y = coro.send(value)
        except StopIteration as e:
            return e.value, yields
        yields.append(y)
        if y is None:
            await asyncio.sleep(0)
        elif asyncio.isfuture(y):
            await settle(y)
        else:
            raise Fail(f"coroutine yielded {y!r}, neither None nor a future")
    raise Fail("coroutine did not finish after 10000 sends")


def run_by_hand(loop, coro, value=None):
    """drive() in a fresh loop of the given variant (or none for None)."""
    if loop is None:
        yields = []
        while True:
            try:
                y = coro.send(value)
            except StopIteration as e:
                return e.value, yields
            yields.append(y)
            check(y is None, f"by hand outside a loop, yielded {y!r}")
    return loop.run(lambda: drive(coro, value))


def await_in(loop, make_coro):
    """`await` the coroutine inside an async def under the loop variant."""
    async def main():
        return await make_coro()
    return loop.run(main)


async def advance(coro, n):
    """Send n times, settling yielded futures in between; return the last
    yielded value (the coroutine must not finish)."""
    y = None
    for i in range(n):
        if i:
            if y is None:
                await asyncio.sleep(0)
            else:
                await settle(y)
        try:
            y = coro.send(None)
        except StopIteration as e:
            raise Fail(f"coroutine finished early (send {i + 1} of {n}) "
                       f"with {e.value!r}") from None
    return y


async def suspend(coro, way):
    """Drive a scripted(steps(way, "pending", ...)) to its "pending" step."""
    y = await advance(coro, polls_before(way) + 1)
    check(asyncio.isfuture(y), f"a real Pending should yield the loop "
                               f"future, yielded {y!r}")
    return y


async def ticks(n=3):
    for _ in range(n):
        await asyncio.sleep(0)


ADAPTER = None     # the harness's Adapter (variants, cannot) during a case


def variant(name):
    return ADAPTER.variants[name] if ADAPTER is not None else None
