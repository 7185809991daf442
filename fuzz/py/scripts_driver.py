"""Driver of the `scripts` fuzz target (loaded by fuzz/py_target.c).

Arbitrary Python-level input to the fixtures: values built from the bytes
(nested tuples/lists of strings, numbers, NaN/inf, huge ints, bools,
exception classes and instances, callables, hostile sequences and numbers
whose dunder methods raise) are passed to every fixture function and
method. The rule (conformance/SPEC.md fixture.args-type,
fixture.malformed-step; tests/python/test_bad_input.py): bad input raises
TypeError or ValueError at call time; a coroutine that was created and is
driven by hand outside a loop may only raise what the contract lists (the
RuntimeError texts of ypkit.messages below, ValueError for a malformed step
returned by a call step, the exception a "raise" step names, StopIteration
converted to RuntimeError, or what our own callables raise); close() never
raises; afterwards a send raises messages.REUSE. Anything else is a crash.
"""
import gc
import math
# Anything coroutine-shaped that a fixture returns gets driven.
from collections.abc import Coroutine as _CoroutineABC

from fuzz_support import (FDP, FuzzFailure, Unraisables, collect, fail,
                          implementation)
from ypkit import messages
from ypkit.drive import Unfinished
from ypkit.drive import drive as drive_by_hand

# The implementation under test and its live-object count.
yp, _live = implementation()

MAX_CALLS = 8


class Hostile(Exception):
    """Raised by the hostile objects' dunder methods: user code's error,
    which may legitimately propagate out of a call."""


class FE(Exception):
    pass


class BadSeq:
    def __len__(self):
        raise Hostile("len")

    def __getitem__(self, i):
        raise Hostile("getitem")


class ShortSeq:
    """Claims two items, has one."""

    def __len__(self):
        return 2

    def __getitem__(self, i):
        if i == 0:
            return "pending"
        raise IndexError(i)


class BadFloat:
    def __float__(self):
        raise Hostile("float")


class FloatSub(float):
    pass


class IntSub(int):
    pass


class StrSub(str):
    pass


class BadEq(str):
    def __eq__(self, other):
        raise Hostile("eq")

    __hash__ = str.__hash__


NAMES = ["pending", "wake", "ready", "raise", "call", "wake_after", "",
         "Pending", "pending\0", "wake_after "]


def value(f, depth=0):
    k = f.int(24)
    if k == 0:
        return None
    if k == 1:
        return f.bool()
    if k == 2:
        return f.int(256) - 128
    if k == 3:
        return f.pick([10 ** 400, -10 ** 400, 2 ** 63, -2 ** 63 - 1])
    if k == 4:
        return f.pick([0.0, -0.0, 1e-9, 1e-3, 1e308, math.inf, -math.inf,
                       math.nan, -1.5])
    if k == 5:
        return f.pick(NAMES)
    if k == 6:
        return f.take(f.int(8)).decode("latin-1")
    if k == 7:
        return bytes(f.take(4))
    if k in (8, 9, 10) and depth < 3:
        n = f.int(4)
        items = [value(f, depth + 1) for _ in range(n)]
        return tuple(items) if k != 10 else items
    if k == 11 and depth < 3:
        return (f.pick(NAMES), value(f, depth + 1))
    if k == 12:
        return f.pick([ValueError, KeyError, StopIteration, FE, int,
                       BaseException, GeneratorExit, KeyboardInterrupt])
    if k == 13:
        return f.pick([FE("x"), StopIteration(1), ValueError("v")])
    if k == 14:
        r = value(f, depth + 1) if depth < 3 else None
        return f.pick([lambda: r, lambda: ("ready", r), _raiser, len])
    if k == 15:
        return f.pick([BadSeq(), ShortSeq(), BadFloat(), FloatSub(0.0),
                       IntSub(1), StrSub("pending"), BadEq("pending")])
    if k == 16:
        return yp.Probe()
    if k == 17:
        return yp.Counter()
    if k == 18:
        return {f.pick(NAMES): value(f, depth + 1)} if depth < 2 else {}
    if k == 19:
        return object()
    if k == 20:
        return f.pick([math.nan, math.inf, -1, -1e-300, 1e-300, 0])
    if k == 21 and depth < 3:
        return [(f.pick(NAMES), value(f, depth + 1))
                for _ in range(f.int(4))]
    return f.pick(["pending", ("ready", 1), ("raise", FE), "wake",
                   ("wake_after", 0), ("call", _raiser)])


def _raiser():
    raise Hostile("from a call step")


def call(f):
    """Pick a fixture and arguments.  Returns (callable, description)."""
    k = f.int(14)
    nargs = f.int(4)
    args = [value(f) for _ in range(nargs)]
    kwargs = {}
    if f.int(4) == 0:
        kwargs[f.pick(["probe", "result", "resolve", "seconds", "steps",
                       "value", "bogus", "detach", "block_seconds"])] = \
            value(f)
    counter = yp.Counter()
    fn = [yp.scripted, yp.scripted, yp.scripted, yp.sleep,
          yp.cancellable, yp.cancellable_sleep, yp.sleep_loop,
          yp.gil_probe, yp.Counter, counter.get, counter.incr,
          counter.set, counter.value, yp.Probe][k]
    if fn is yp.gil_probe and args and not isinstance(args[-1], bool):
        # Never block: a valid block_seconds is clamped to 0.
        args = [a if not isinstance(a, (int, float)) or isinstance(a, bool)
                else min(a, 0) for a in args]
    if fn in (yp.sleep, yp.cancellable_sleep):
        # Never sleep long: clamp plausible delays (huge ints, inf and NaN
        # stay, they must be refused).
        args = [min(a, 1e-4) if type(a) in (int, float) and 0 < a < 1e300
                else a for a in args]
    if fn is yp.scripted and nargs == 0 and not kwargs:
        args = [value(f)]
    return fn, args, kwargs


ALLOWED_CALL = (TypeError, ValueError, Hostile)


def allowed_drive_exc(e):
    t = type(e)
    if isinstance(e, (Hostile, FE, ValueError, KeyError, GeneratorExit,
                      KeyboardInterrupt)):
        return True
    if t is BaseException:
        return True
    if t is TypeError:
        return True   # a raise step's class could not be instantiated
    if t is RuntimeError:
        msg = str(e)
        return msg in (messages.NO_LOOP, messages.EXHAUSTED,
                       messages.STOP_ITERATION, messages.BORROWED,
                       messages.MUT_BORROWED, messages.REUSE) or \
            msg.startswith(messages.CALL_CHAIN) or \
            isinstance(e.__cause__, StopIteration)
    return False


def _still_pending(e):
    """A send's exception after which the coroutine lives on: checked
    first, and a real Pending outside a loop (messages.NO_LOOP) is sent
    again."""
    if isinstance(e, FuzzFailure):
        return False
    if not allowed_drive_exc(e):
        fail(f"send raised {type(e).__name__}: {e!r}")
    return isinstance(e, RuntimeError) and str(e) == messages.NO_LOOP


def drive(coro, f):
    finished = True
    try:
        drive_by_hand(coro, max_sends=f.int(6), any_yield=True,
                      retry=_still_pending)
    except Unfinished:
        finished = False
    except FuzzFailure:
        raise
    except BaseException:  # noqa: B902 -- checked by _still_pending
        pass
    if not finished:
        try:
            r = coro.close()
        except BaseException as e:  # noqa: B902
            fail(f"close() raised {type(e).__name__}: {e!r}")
        if r is not None:
            fail(f"close() returned {r!r}")
    try:
        coro.send(None)
    except RuntimeError as e:
        if str(e) != messages.REUSE:
            fail(f"send after finish raised RuntimeError({e!r})")
    except BaseException as e:  # noqa: B902
        fail(f"send after finish raised {type(e).__name__}: {e!r}")
    else:
        fail("send after finish did not raise")


UNRAISABLE = None
BASELINE = None


def setup():
    global UNRAISABLE, BASELINE
    import warnings
    warnings.simplefilter("ignore")
    UNRAISABLE = Unraisables()
    collect()
    BASELINE = _live()


def _play(data):
    f = FDP(data)
    n = 0
    while f.left() > 0 and n < MAX_CALLS:
        n += 1
        fn, args, kwargs = call(f)
        try:
            r = fn(*args, **kwargs)
        except FuzzFailure:
            raise
        except ALLOWED_CALL:
            continue
        except BaseException as e:  # noqa: B902
            fail(f"{getattr(fn, '__qualname__', fn)}(*{args!r}, "
                 f"**{kwargs!r}) raised {type(e).__name__}: {e!r}")
        if isinstance(r, _CoroutineABC):
            drive(r, f)
        del r


def run(data):
    _play(data)
    gc.collect()
    live = _live()
    if live != BASELINE:
        fail(f"live coroutines/futures {live}, baseline {BASELINE}")
    UNRAISABLE.check()
