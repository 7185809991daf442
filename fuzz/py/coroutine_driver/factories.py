"""New coroutines for a slot: the steps of a scripted future and their
arguments, Counter methods, cancellable(), sleeps."""
import asyncio

from fuzz_support import collect

from .model import NSLOTS, Slot, yp
from .objects import FBase, FE, FStop, FuzzError, NeedsArg, Sentinel


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
        if kind <= 5:
            # Re-entrant: an operation on this or another slot from inside
            # the poll (operations.nested, installed as World.nested).
            w.nested(w, kind, si, target)
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
