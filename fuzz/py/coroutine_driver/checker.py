"""Checking outcomes: an operation's result captured as data, compared with
the outcome the model expects (ypkit.scripted's tags, plus the model's own)."""
import asyncio

from fuzz_support import FuzzFailure, fail
from ypkit import messages


# Whether the exception _strip saw last carried a traceback (op_throw's
# check that a throw with a traceback keeps it).
LAST_HAD_TB = False


def _strip(e):
    """Drop the tracebacks of a caught exception and of its chain: a
    traceback keeps the frames alive, and with them the coroutine the
    frames refer to, which would turn a `del` into a GC-time finalize."""
    global LAST_HAD_TB
    LAST_HAD_TB = e.__traceback__ is not None
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        e.__traceback__ = None
        for nxt in (e.__cause__, e.__context__):
            if nxt is not None and id(nxt) not in seen:
                nxt.__traceback__ = None
        e = e.__context__ or e.__cause__


def run_and_capture(fn):
    try:
        return ("ok", fn())
    except FuzzFailure:
        raise
    except StopIteration as e:
        _strip(e)
        return ("stop", e)
    except BaseException as e:  # noqa: B902 - everything is data here
        _strip(e)
        return ("exc", e)


def describe(res):
    kind, v = res
    if kind == "exc":
        return f"raised {type(v).__name__}({v!r})"
    if kind == "stop":
        return f"StopIteration(value={v.value!r})"
    return f"yielded {v!r}"


def is_loop_future(v):
    """What a real Pending yields under asyncio: the engine's waiter, an
    object with asyncio's Future protocol (asyncio.isfuture)."""
    return asyncio.isfuture(v) and \
        getattr(v, "_asyncio_future_blocking", False) is True


def expect(w, si, what, res, want):
    """Compare an observed result with an expected outcome."""
    kind, v = res
    tag = want[0]
    ok = False
    if tag == "pending":
        tag = "yield_fut" if w.in_loop else "noloop"
    if tag == "either":
        ok = (kind == "ok" and (v is None or (w.in_loop and
                                              is_loop_future(v)))) or \
            (not w.in_loop and kind == "exc" and
             type(v) is RuntimeError and str(v) == messages.NO_LOOP)
    elif tag == "yield_none":
        ok = kind == "ok" and v is None
    elif tag == "yield_fut":
        ok = kind == "ok" and is_loop_future(v)
    elif tag == "noloop":
        ok = kind == "exc" and type(v) is RuntimeError and \
            str(v) == messages.NO_LOOP
    elif tag == "return":
        ok = kind == "stop" and v.value is want[1]
    elif tag == "return_none":
        ok = kind == "ok" and v is None
    elif tag == "raise_is":
        ok = kind == "exc" and v is want[1]
    elif tag == "raise_type":
        ok = kind == "exc" and type(v) is want[1]
    elif tag == "raise_pep479":
        ok = kind == "exc" and type(v) is RuntimeError and \
            isinstance(v.__cause__, StopIteration)
    elif tag == "runtime":
        ok = kind == "exc" and type(v) is RuntimeError and str(v) == want[1]
    elif tag == "running":
        ok = kind == "exc" and type(v) is ValueError and \
            str(v) == messages.RUNNING
    elif tag == "malformed":
        ok = kind == "exc" and type(v) is ValueError and \
            str(v).startswith(messages.MALFORMED)
    elif tag == "typeerror":
        ok = kind == "exc" and type(v) is TypeError
    elif tag == "value":
        ok = kind == "stop" and v.value == want[1]
    else:
        fail(f"driver bug: unknown expectation {want!r}")
    if not ok:
        s = w.slots[si]
        fail(f"op {w.opno}: slot {si} ({s.kind if s else '-'}, "
             f"state {s.state if s else '-'}): {what} {describe(res)}, "
             f"expected {want!r}")


def check_probe(w, si, s):
    if s.probe is None:
        return
    if s.polls_known and s.probe.polls != s.polls:
        fail(f"op {w.opno}: slot {si}: probe.polls={s.probe.polls}, "
             f"model says {s.polls}")
    if s.state != "running" and bool(s.probe.dropped) != \
            (s.state == "finished"):
        fail(f"op {w.opno}: slot {si} in state {s.state}: "
             f"probe.dropped={s.probe.dropped}")
