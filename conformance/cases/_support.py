"""Helpers the cases share: script building, assertions, driving by hand.

The contract's texts, the scripted step grammar, driving by hand outside a
loop and the refleak check are the contract kit's (``ypkit``); this module
adds what only the cases need: assertions that raise ``Fail``, and driving
inside a runtime.
"""
import asyncio
import contextlib
import gc
import sys
import os
import random
import threading
import time

from ypkit import messages, scripted
from ypkit.drive import DriveError
from ypkit.drive import drive as _drive_by_hand

from ._runtime import current

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


# --- which clause an assertion checks ---------------------------------------
#
# A case tagged with several clauses marks the assertions of each with
# ``with about(clause_id):``.  A failure inside fails that clause alone; a
# block that completed passed its clause, so a later failure of another
# clause does not fail it (results.report.for_clause).  Failures outside
# every block fail all the case's clauses.

_attribution = {"failed": None, "passed": []}


def begin_case():
    _attribution.update(failed=None, passed=[])


def attribution():
    """{"failed": clause or None, "passed": [clauses]} of the last case."""
    return dict(_attribution, passed=list(_attribution["passed"]))


@contextlib.contextmanager
def about(clause_id):
    try:
        yield
    except Skip:
        raise
    except BaseException:
        if _attribution["failed"] is None:     # the innermost block wins
            _attribution["failed"] = clause_id
        raise
    if clause_id not in _attribution["passed"]:
        _attribution["passed"].append(clause_id)


# --- scripts ---------------------------------------------------------------

def prefix(way):
    """Steps that make the final step happen the given way."""
    return scripted.prefix(way, LATER)


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
    raises(RuntimeError, fn, *args, what=what, message=messages.REUSE)


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


def record(kind, text):
    _background.append(f"{kind}: {text}")


def install_hooks():
    def unraisable(u):
        record("unraisable", f"{u.exc_type.__name__}: {u.exc_value} "
                f"({u.err_msg or ''} {u.object!r})")

    def thread_hook(a):
        record("thread", f"{a.exc_type.__name__}: {a.exc_value}")
    sys.unraisablehook = unraisable
    threading.excepthook = thread_hook


def take_background():
    out = list(_background)
    _background.clear()
    return out


# --- driving by hand ----------------------------------------------------------

async def settle(fut, what="the yielded future"):
    """Wait (inside a running loop) until a yielded loop future is done."""
    done, _ = await asyncio.wait({fut}, timeout=WAIT)
    check(done, f"{what} was not woken within {WAIT}s")


async def drive(coro, value=None, after=None):
    """Drive coro by hand inside Runtime.run(), like the runtime's task
    does: each yield is handed to the runtime (``forward``) and what comes
    back is sent in -- or ``value`` on every send when it is not None.
    ``after=[y]`` continues a coroutine whose last yield y the case holds
    (forwarding y first).

    Returns (result, yields): every value the coroutine yielded."""
    rt = current()
    yields = []
    send = value
    if after:
        reply = await rt.forward(after[0])
        send = reply if value is None else value
    for _ in range(10000):
        try:
            y = coro.send(send)
        except StopIteration as e:
            return e.value, yields
        yields.append(y)
        if rt.classify(y) is None:
            raise Fail(f"coroutine yielded {y!r}, which {rt} does not "
                       f"accept (neither a suspension nor a yield-now)")
        reply = await rt.forward(y)
        send = reply if value is None else value
    raise Fail("coroutine did not finish after 10000 sends")


def run_by_hand(loop, coro, value=None):
    """drive() in a fresh loop of the given variant (or none for None)."""
    if loop is None:
        try:
            return _drive_by_hand(coro, value)
        except DriveError as e:
            raise Fail(str(e)) from None
    return loop.run(lambda: drive(coro, value))


def await_in(loop, make_coro):
    """`await` the coroutine inside an async def under the loop variant."""
    async def main():
        return await make_coro()
    return loop.run(main)


async def advance(coro, n):
    """Send n times, handing each yield but the last to the runtime in
    between; return the last yielded value (the coroutine must not finish).
    Under trio the last yield is a promise the case keeps: it must be
    forwarded, or the coroutine thrown into or closed, before the case waits
    for anything else."""
    rt = current()
    y = reply = None
    for i in range(n):
        if i:
            reply = await rt.forward(y)
        try:
            y = coro.send(reply)
        except StopIteration as e:
            raise Fail(f"coroutine finished early (send {i + 1} of {n}) "
                       f"with {e.value!r}") from None
    return y


async def suspend(coro, way):
    """Drive a scripted(steps(way, "pending", ...)) to its "pending" step."""
    y = await advance(coro, polls_before(way) + 1)
    check(current().classify(y) == "suspend",
          f"a real Pending should yield {current()}'s suspension, "
          f"yielded {y!r}")
    return y


def frame_names(exc):
    """The function names along `exc`'s traceback, outermost first."""
    names, tb = [], exc.__traceback__
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    return names


def suspended(y):
    """Whether a yielded value is the running runtime's suspension."""
    return current().classify(y) == "suspend"


def many_wakes(yp, loop, seed):
    """250 coroutines at once under the runtime, woken from foreign threads
    at random moments (a seeded schedule): 200 scripted futures woken twice,
    50 sleeps; each must finish with its own result."""
    rnd = random.Random(seed)

    async def main():
        coros = [yp.scripted([("wake_after", rnd.uniform(0, 0.05)),
                              ("wake_after", rnd.uniform(0, 0.02)),
                              ("ready", i)]) for i in range(200)]
        coros += [yp.sleep(rnd.uniform(0, 0.05), -i) for i in range(1, 51)]
        return await loop.gather(*coros)
    eq(loop.run(main), list(range(200)) + [-i for i in range(1, 51)],
       "results of 250 concurrent coroutines")


class NoNewNames(asyncio.SelectorEventLoop):
    """An asyncio loop that refuses every attribute it did not have after
    __init__: it cannot hold an implementation's per-loop state (yieldpoint
    keeps its wake hub on the loop), so every wake takes the implementation's
    other path (yieldpoint's per-wake one)."""
    _frozen = False

    def __init__(self):
        super().__init__()
        self._frozen = True

    def __setattr__(self, name, value):
        if self._frozen and name not in self.__dict__:
            raise AttributeError(f"this loop takes no new attribute {name!r}")
        super().__setattr__(name, value)


async def ticks(n=3):
    for _ in range(n):
        await current().checkpoint()


ADAPTER = None     # the harness's Adapter (variants, cannot) during a case


def variant(name):
    return ADAPTER.variants[name] if ADAPTER is not None else None
