"""Driver of the `coroutine` fuzz target (loaded by fuzz/py_target.c).

Bytes become operations on real yieldpoint coroutines: scripted futures,
Counter methods (borrows), cancellable(), sleeps; send/__next__/throw in
every argument form/close, dropping (finalize), reference cycles and GC,
wakes from the timer thread (("wake_after", s) steps with tiny s),
re-entrant calls through ("call", fn) steps, and driving inside a running
asyncio loop.  A model predicts the outcome of every operation from the
contract (conformance/SPEC.md, through the contract kit ypkit); after each input every coroutine
and future is gone (yieldpoint._live() back to baseline), every object
handed to the engine is freed (weakrefs), every borrow is released
(Counter.set succeeds) and no unraisable exception was reported.
Anything else raises FuzzFailure, which the harness turns into a crash.
"""
import asyncio
import time
import warnings
import weakref

import importlib
import os

# The implementation under test: `yieldpoint` by default, or any adapter
# module with the same fixtures (conformance/ADAPTER.md), named by
# YP_FUZZ_MODULE and found through YP_FUZZ_MODULE_DIR.
yp = importlib.import_module(os.environ.get("YP_FUZZ_MODULE", "yieldpoint"))
# Live-object counts are a yieldpoint hook; other adapters go without
# that one check (weakref and Counter checks still apply).
_live = getattr(yp, "_live", lambda: None)

from fuzz_support import FDP, FuzzFailure, Unraisables, collect, fail
from ypkit import messages, scripted

MAX_OPS = 48
NSLOTS = 5
NCOUNTERS = 2

# ---------------------------------------------------------------------------
# Objects handed to the engine.  Fresh per input and weakly tracked, so a
# leaked reference shows up at the end of the input.


class FE(Exception):
    pass


class FBase(BaseException):
    pass


class FuzzError(Exception):
    """Raised by ("call", fn) functions on purpose."""


class NeedsArg(Exception):
    def __init__(self, a):
        super().__init__(a)


class BadNew(Exception):
    def __new__(cls, *a):
        return 5


class Sentinel:
    pass


class FStop(StopIteration):
    """A StopIteration that can be weakly referenced (the base cannot)."""


def _make_tb():
    try:
        raise FE("tb")
    except FE as e:
        return e.__traceback__


TB = _make_tb()

class Slot:
    __slots__ = ("kind", "coro", "state", "steps", "idx", "probe", "polls",
                 "counter", "excl", "resolve", "held", "polls_known",
                 "cancel_exc", "tracked", "name", "timer_armed")

    def __init__(self, kind, coro):
        self.kind = kind
        self.coro = coro
        self.state = "created"
        self.steps = []
        self.idx = 0
        self.probe = None
        self.polls = 0
        self.timer_armed = False
        self.counter = None
        self.excl = False
        self.resolve = True
        self.held = False
        self.polls_known = True
        self.cancel_exc = None
        self.tracked = True


class CounterModel:
    __slots__ = ("obj", "value", "shared", "excl")

    def __init__(self, obj, value):
        self.obj = obj
        self.value = value
        self.shared = 0
        self.excl = False


class World:
    def __init__(self, f):
        self.f = f
        self.slots = [None] * NSLOTS
        self.garbage = []          # slots whose coroutine sits in a cycle
        self.counters = []
        self.refs = []             # weakrefs to everything handed out
        self.in_loop = False
        self.depth = 0
        self.never_awaited = 0     # expected RuntimeWarnings
        self.opno = 0
        self.loop_used = False

    def track(self, obj):
        self.refs.append(weakref.ref(obj))
        return obj


# ---------------------------------------------------------------------------
# Building coroutines.

def make_value(w):
    k = w.f.int(8)
    if k == 0:
        return None
    if k == 1:
        return (1, 2)
    if k == 2:
        return ()
    if k == 3:
        return w.track(FE("returned, not raised"))
    if k == 4:
        return w.track(FStop(7))
    if k == 5:
        return 0
    return w.track(Sentinel())


RAISE_CLASSES = [ValueError, KeyError, FE, FBase, StopIteration, GeneratorExit,
                 KeyboardInterrupt, SystemExit, asyncio.CancelledError,
                 NeedsArg]


def make_exc(w):
    """(step argument, expected outcome when raised from a poll)."""
    if w.f.bool():
        cls = w.f.pick(RAISE_CLASSES)
        if cls is NeedsArg:
            return cls, ("raise_type", TypeError)
        if cls is StopIteration:
            return cls, ("raise_pep479",)
        return cls, ("raise_type", cls)
    k = w.f.int(3)
    if k == 0:
        e = w.track(FE("raised"))
    elif k == 1:
        e = w.track(FStop(3))
        return e, ("raise_pep479",)
    else:
        e = FBase("base")
    return e, ("raise_is", e)


def make_call(w, si):
    """A ("call", fn) step for the coroutine in slot si, and the step fn
    returns (or None when fn raises)."""
    f = w.f
    kind = f.int(10)
    target = f.int(NSLOTS)
    ret = make_simple_step(w, si)
    if kind == 8:
        ret = f.pick([("ready",), "bogus", 5, None, ("call", 5)])

    def fn():
        if kind == 0:
            op_send(w, si, nested=True)
        elif kind == 1:
            op_throw(w, si, nested=True)
        elif kind == 2:
            op_close(w, si, nested=True)
        elif kind == 3:
            op_send(w, target, nested=True)
        elif kind == 4:
            op_close(w, target, nested=True)
        elif kind == 5:
            op_delete(w, target, nested=True)
        elif kind == 6:
            collect()
        elif kind == 7:
            raise FuzzError("from a call step")
        return ret

    w.track(fn)
    return ("call", fn), (kind, ret)


def make_simple_step(w, si):
    k = w.f.int(6)
    if k == 0:
        return "pending"
    if k == 1:
        return "wake"
    if k == 2:
        return ("wake_after", w.f.pick([0, 1e-6, 1e-4, 0.0]))
    if k == 3:
        return ("ready", make_value(w))
    if k == 4:
        return ("raise", make_exc(w)[0])
    return "pending"


def new_scripted(w, si):
    f = w.f
    n = f.int(6)
    steps, plan = [], []
    for _ in range(n):
        k = f.int(7)
        if k == 6 and w.depth == 0:
            step, info = make_call(w, si)
            steps.append(step)
            plan.append(("call",) + info)
        else:
            step = make_simple_step(w, si)
            steps.append(step)
            plan.append(("step", step))
    probe = yp.Probe()
    coro = yp.scripted(steps, probe) if f.bool() else \
        yp.scripted(tuple(steps), probe=probe)
    s = Slot("scripted", coro)
    s.steps = plan
    s.probe = probe
    return s


def new_counter(w, si):
    f = w.f
    c = w.counters[f.int(len(w.counters))]
    excl = f.bool()
    resolve = f.bool()
    meth = c.obj.incr if excl else c.obj.get
    coro = meth(resolve) if f.bool() else meth(resolve=resolve)
    s = Slot("counter", coro)
    s.counter, s.excl, s.resolve = c, excl, resolve
    return s


def new_cancellable(w, si):
    return Slot("cancellable", yp.cancellable())


def new_misc(w, si):
    k = w.f.int(4)
    if k == 0:
        coro = yp.sleep(w.f.pick([0, 1e-5, 1e-4]), w.track(Sentinel()))
    elif k == 1:
        coro = yp.cancellable_sleep(w.f.pick([0, 1e-5, 10]))
    elif k == 2:
        coro = yp.yield_now()
    else:
        coro = yp.noop()
    s = Slot("misc", coro)
    s.tracked = False
    return s


# ---------------------------------------------------------------------------
# Checking outcomes.

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
    return isinstance(v, asyncio.Future) and \
        getattr(v, "_asyncio_future_blocking", False)


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


def release_borrow(s):
    if s.kind == "counter" and s.held:
        if s.excl:
            s.counter.excl = False
        else:
            s.counter.shared -= 1
        s.held = False


def finish(w, s):
    release_borrow(s)
    s.state = "finished"


# ---------------------------------------------------------------------------
# Operations.

def poll_scripted(w, si, s, call_op):
    """send on a scripted slot that may poll.  Returns the expectation."""
    s.polls += 1
    if s.idx >= len(s.steps):
        s.idx += 1
        s.state = "running"
        res = call_op()
        return res, scripted.PAST_THE_END, "finished"
    plan = s.steps[s.idx]
    s.idx += 1
    s.state = "running"
    w.depth += 1
    try:
        res = call_op()
    finally:
        w.depth -= 1
    if plan[0] == "step":
        outcome = want = scripted.outcome(plan[1])
    else:
        kind, step = plan[1], plan[2]
        outcome = scripted.outcome(step)
        want = ("raise_type", FuzzError) if kind == 7 else outcome
    if want == ("pending",) and s.timer_armed:
        # An earlier ("wake_after", t) timer of this future may fire
        # during this very poll (how late it fires depends on the
        # machine's load): a wake during poll yields None instead.
        want = ("either",)
    if outcome == ("either",):
        s.timer_armed = True
    after = "suspended" if scripted.suspends(want) else "finished"
    return res, want, after


def op_send(w, si, nested=False):
    s = w.slots[si]
    if s is None or s.coro is None:
        return
    coro = s.coro
    form = w.f.int(3) if not nested else 0
    if form == 0:
        call_op = lambda: coro.send(None)  # noqa: E731
    elif form == 1:
        call_op = lambda: coro.send(w.track(Sentinel()))  # noqa: E731
    else:
        call_op = coro.__next__
    what = "send"
    if not s.tracked:
        res = run_and_capture(call_op)
        return
    if s.state == "running":
        expect(w, si, what, run_and_capture(call_op), ("running",))
        return
    if s.state == "finished":
        expect(w, si, what, run_and_capture(call_op),
               ("runtime", messages.REUSE))
        return
    if s.kind == "scripted":
        res, want, after = poll_scripted(
            w, si, s, lambda: run_and_capture(call_op))
        s.state = after
        expect(w, si, what, res, want)
        check_probe(w, si, s)
        return
    if s.kind == "counter":
        c = s.counter
        want = None
        if not s.held:
            if s.excl and (c.excl or c.shared):
                want = ("runtime", messages.BORROWED)
            elif not s.excl and c.excl:
                want = ("runtime", messages.MUT_BORROWED)
            else:
                s.held = True
                if s.excl:
                    c.excl = True
                else:
                    c.shared += 1
        res = run_and_capture(call_op)
        if want is not None:
            finish(w, s)
        elif s.resolve:
            if s.excl:
                c.value += 1
            want = ("value", c.value)
            finish(w, s)
        else:
            want = ("pending",)
            s.state = "suspended"
        expect(w, si, what, res, want)
        return
    if s.kind == "cancellable":
        res = run_and_capture(call_op)
        if s.cancel_exc is not None:
            want = ("return", s.cancel_exc)
            finish(w, s)
        else:
            want = ("pending",)
            s.state = "suspended"
        expect(w, si, what, res, want)


def throw_form(w):
    """(arguments, expectation of the normalised exception)."""
    f = w.f
    k = f.int(17)
    if k == 0:
        return (ValueError,), ("cls", ValueError)
    if k == 1:
        return (FE, "x"), ("cls", FE)
    if k == 2:
        return (FE, ("a", "b")), ("cls", FE)
    if k in (3, 4, 5):
        e = w.track(FE("thrown"))
        args = [(e,), (e, None), (e, None, TB)][k - 3]
        return args, ("inst", e)
    if k == 6:
        return (ValueError, None, TB), ("cls", ValueError)
    if k == 7:
        return (w.track(FE("i")), "x"), ("typeerror",)
    if k == 8:
        return (5,), ("typeerror",)
    if k == 9:
        return (int,), ("typeerror",)
    if k == 10:
        return (ValueError, None, 5), ("typeerror",)
    if k == 11:
        return (), ("typeerror",)
    if k == 12:
        return (ValueError, 1, None, 4), ("typeerror",)
    if k in (13, 14):
        # The constructor fails; as in CPython's gen.throw, the TypeError
        # from normalising is what gets thrown in.
        return ((NeedsArg,) if k == 13 else (BadNew,)), ("cls", TypeError)
    if k == 15:
        cls = f.pick([StopIteration, GeneratorExit, KeyboardInterrupt,
                      SystemExit, asyncio.CancelledError, FBase])
        return (cls,), ("cls", cls)
    e = w.track(FStop(5))
    return (e,), ("inst", e)


def op_throw(w, si, nested=False):
    s = w.slots[si]
    if s is None or s.coro is None:
        return
    args, norm = throw_form(w)
    coro = s.coro
    res = run_and_capture(lambda: coro.throw(*args))
    if not s.tracked:
        return
    if norm[0] == "typeerror":
        expect(w, si, f"throw{args!r}", res, ("typeerror",))
        return
    if s.state == "running":
        expect(w, si, "throw", res, ("running",))
        return
    if s.state == "finished":
        expect(w, si, "throw", res, ("runtime", messages.REUSE))
        return
    kind, v = res
    if kind == "stop" and s.kind != "cancellable":
        kind = "exc"      # a thrown StopIteration comes out as is
    if kind != "exc" and s.kind != "cancellable":
        fail(f"op {w.opno}: slot {si}: throw{args!r} {describe(res)}")
    if s.kind == "cancellable":
        # The handle stores the exception and the future completes with it.
        if kind != "stop":
            fail(f"op {w.opno}: cancellable throw{args!r} {describe(res)}")
        exc = v.value
        finish(w, s)
    else:
        exc = v
        s.state = "finished"
        release_borrow(s)
        # throw.stopiteration (PEP 479): without a handle, a thrown
        # StopIteration comes out as RuntimeError chained from it.
        if isinstance(exc, RuntimeError) and \
                str(exc) == messages.STOP_ITERATION:
            thrown = norm[1] if norm[0] == "inst" else None
            if norm[0] == "cls" and not issubclass(norm[1], StopIteration):
                fail(f"op {w.opno}: slot {si}: throw{args!r} gave {exc!r}")
            if thrown is not None and not isinstance(thrown, StopIteration):
                fail(f"op {w.opno}: slot {si}: throw{args!r} gave {exc!r}")
            if exc.__cause__ is None or \
                    (thrown is not None and exc.__cause__ is not thrown):
                fail(f"op {w.opno}: slot {si}: PEP 479 RuntimeError lost "
                     f"its cause: {exc.__cause__!r}")
            exc = exc.__cause__
        elif isinstance(exc, StopIteration):
            fail(f"op {w.opno}: slot {si}: throw{args!r} let a "
                 f"StopIteration out as is: {exc!r}")
    if norm[0] == "inst":
        if exc is not norm[1]:
            fail(f"op {w.opno}: slot {si}: throw of an instance gave "
                 f"{exc!r}")
        if len(args) == 3 and not LAST_HAD_TB:
            fail(f"op {w.opno}: throw with a traceback lost it")
    elif type(exc) is not norm[1]:
        fail(f"op {w.opno}: slot {si}: throw{args!r} gave {exc!r}")
    check_probe(w, si, s)


def op_close(w, si, nested=False):
    s = w.slots[si]
    if s is None or s.coro is None:
        return
    res = run_and_capture(s.coro.close)
    if s.tracked and s.state == "running":
        expect(w, si, "close", res, ("running",))
        return
    expect(w, si, "close", res, ("return_none",))
    if s.tracked:
        finish(w, s)
        check_probe(w, si, s)


def op_delete(w, si, nested=False):
    s = w.slots[si]
    if s is None or s.coro is None:
        return
    if s.tracked and s.state == "running":
        return     # the caller's frame keeps it alive; not a finalize
    if s.tracked and s.state == "created":
        w.never_awaited += 1
    s.coro = None
    if s.tracked:
        finish(w, s)
        check_probe(w, si, s)
    w.slots[si] = None


def op_cycle(w, si):
    s = w.slots[si]
    if s is None or s.coro is None or (s.tracked and s.state == "running"):
        return
    lst = [s.coro]
    lst.append(lst)
    s.coro = None
    w.slots[si] = None
    w.garbage.append(s)


def op_gc(w):
    collect()
    for s in w.garbage:
        if s.tracked and s.state == "created":
            w.never_awaited += 1
        if s.tracked:
            finish(w, s)
            if s.probe is not None and not s.probe.dropped:
                fail(f"op {w.opno}: a coroutine collected as cyclic "
                     "garbage never dropped its future")
    w.garbage.clear()


def op_counter_sync(w):
    c = w.counters[w.f.int(len(w.counters))]
    if w.f.bool():
        res = run_and_capture(c.obj.value)
        want = ("runtime", messages.MUT_BORROWED) if c.excl else None
        if want is None:
            if res != ("ok", c.value) and not (res[0] == "ok" and
                                               res[1] == c.value):
                fail(f"op {w.opno}: Counter.value() {describe(res)}, "
                     f"model {c.value}")
            return
    else:
        v = w.f.int(5)
        res = run_and_capture(lambda: c.obj.set(v))
        if c.excl or c.shared:
            want = ("runtime", messages.BORROWED)
        else:
            c.value = v
            if res != ("ok", None):
                fail(f"op {w.opno}: Counter.set() {describe(res)}")
            return
    kind, e = res
    if not (kind == "exc" and type(e) is RuntimeError and
            str(e) == want[1]):
        fail(f"op {w.opno}: Counter sync method {describe(res)}, "
             f"expected {want}")


LOOP = None


async def _await(c):
    return await c


def op_loop(w, si):
    """Drive the slot's coroutine as an asyncio Task for a moment, then
    cancel it; the coroutine must be finished afterwards."""
    s = w.slots[si]
    if s is None or s.coro is None or w.in_loop or \
            (s.tracked and s.state in ("running", "finished")):
        return
    coro = s.coro
    task = LOOP.create_task(_await(coro))
    w.in_loop = w.loop_used = True
    s.state = "running" if s.tracked else s.state
    try:
        for _ in range(2):
            try:
                LOOP.run_until_complete(asyncio.wait([task], timeout=0.002))
            except (KeyboardInterrupt, SystemExit, FBase, GeneratorExit):
                pass
            if task.done():
                break
            task.cancel()
        if not task.done():
            fail(f"op {w.opno}: a cancelled task did not finish")
    finally:
        w.in_loop = False
    if not task.cancelled():
        e = task.exception()
        if e is not None and isinstance(e, FuzzFailure):
            raise e
        if e is None and s.tracked and s.kind == "counter":
            # It ran to completion inside the loop: incr() added one.
            c = s.counter
            if s.excl:
                c.value += 1
            if task.result() != c.value:
                fail(f"op {w.opno}: Counter.{'incr' if s.excl else 'get'}"
                     f"() in a task gave {task.result()!r}, model "
                     f"{c.value}")
    s.polls_known = False
    finish(w, s)
    check_probe(w, si, s)
    del task


def op_sleep(w):
    time.sleep(w.f.pick([0, 1e-4, 5e-4]))


def op_new(w, si):
    if w.slots[si] is not None and w.slots[si].coro is not None:
        op_delete(w, si)
    maker = w.f.pick([new_scripted, new_scripted, new_counter,
                      new_cancellable, new_misc])
    s = maker(w, si)
    if s.probe is not None:
        w.track(s.coro)
    w.slots[si] = s


# ---------------------------------------------------------------------------

UNRAISABLE = None
BASELINE = None


def setup():
    global LOOP, UNRAISABLE, BASELINE
    LOOP = asyncio.new_event_loop()
    UNRAISABLE = Unraisables()
    # Warm up: the first loop iteration and imports allocate caches.
    LOOP.run_until_complete(asyncio.sleep(0))
    collect()
    BASELINE = _live()


def _play(data):
    """Run one input; returns what the end-of-input checks need, so that
    every local of the run is gone before they start."""
    f = FDP(data)
    w = World(f)
    for i in range(NCOUNTERS):
        v = f.int(3)
        w.counters.append(CounterModel(yp.Counter(v), v))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            while f.left() > 0 and w.opno < MAX_OPS:
                op = f.int(12)
                si = f.int(NSLOTS)
                if op in (0, 1):
                    op_new(w, si)
                elif op in (2, 3):
                    op_send(w, si)
                elif op == 4:
                    op_throw(w, si)
                elif op == 5:
                    op_close(w, si)
                elif op == 6:
                    op_delete(w, si)
                elif op == 7:
                    op_cycle(w, si)
                elif op == 8:
                    op_gc(w)
                elif op == 9:
                    op_counter_sync(w)
                elif op == 10:
                    op_loop(w, si)
                else:
                    op_sleep(w)
                w.opno += 1
            # Tear down: close what is left (close never raises), then drop.
            for si in range(NSLOTS):
                if w.slots[si] is not None and w.slots[si].coro is not None:
                    op_close(w, si)
                    w.slots[si].coro = None
            op_gc(w)
        finally:
            # Let late timer wakes land, and run their loop callbacks.
            if w.loop_used:
                LOOP.run_until_complete(asyncio.sleep(0))
    warned = sum(1 for m in caught if messages.is_never_awaited(m))
    others = [str(m.message) for m in caught
              if not messages.is_never_awaited(m)]
    if others:
        fail(f"unexpected warnings: {others}")
    for c in w.counters:
        r = run_and_capture(lambda: c.obj.set(0))
        if r != ("ok", None):
            fail(f"a borrow was never released: Counter.set {describe(r)}")
    return w.refs, len(w.counters), w.never_awaited, warned


def run(data):
    dropped_before = yp.counters_dropped()
    refs, ncounters, expected_warnings, warned = _play(data)
    collect()
    live = _live()
    if live != BASELINE:
        fail(f"live coroutines/futures {live}, baseline {BASELINE}")
    alive = [r() for r in refs if r() is not None]
    if alive:
        fail(f"{len(alive)} object(s) handed to the engine are still "
             f"alive: {alive[:5]!r}")
    del alive
    if yp.counters_dropped() - dropped_before != ncounters:
        fail("a Counter leaked (a coroutine or guard kept it alive)")
    if warned < expected_warnings:
        fail(f"{expected_warnings} coroutine(s) were freed never awaited "
             f"but only {warned} RuntimeWarning(s) were issued")
    UNRAISABLE.check()
    pending = [t for t in asyncio.all_tasks(LOOP) if not t.done()]
    if pending:
        fail(f"tasks left pending: {pending!r}")
