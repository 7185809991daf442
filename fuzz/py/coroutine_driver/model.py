"""The model: what each slot holds and in which state, the Counters' borrows,
the World of one input, and the implementation under test."""
import weakref

from fuzz_support import implementation


# The implementation under test (fuzz_support.implementation).
yp, live = implementation()

MAX_OPS = 48
NSLOTS = 5
NCOUNTERS = 2


class Slot:
    __slots__ = ("kind", "coro", "state", "steps", "idx", "probe", "polls",
                 "counter", "excl", "resolve", "held", "polls_known",
                 "cancel_exc", "tracked", "name", "timer_armed", "yielded")

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
        self.yielded = False       # has yielded (its runtime is fixed)


class CounterModel:
    __slots__ = ("obj", "value", "shared", "excl")

    def __init__(self, obj, value):
        self.obj = obj
        self.value = value
        self.shared = 0
        self.excl = False


class World:
    """One input: the byte source, the slots, the Counters, what was handed
    out.  `loop` is the process's asyncio loop (op_loop; op_trio runs a
    fresh trio.run instead, with in_trio set); `nested(w, kind, si,
    target)` makes the re-entrant operation of a ("call", fn) step
    (operations.nested, given here so that factories need not import the
    operations that use them)."""

    def __init__(self, f, loop, nested):
        self.f = f
        self.loop = loop
        self.nested = nested
        self.slots = [None] * NSLOTS
        self.garbage = []          # slots whose coroutine sits in a cycle
        self.counters = []
        self.refs = []             # weakrefs to everything handed out
        self.in_loop = False
        self.in_trio = False
        self.depth = 0
        self.never_awaited = 0     # expected RuntimeWarnings
        self.opno = 0
        self.loop_used = False

    def track(self, obj):
        self.refs.append(weakref.ref(obj))
        return obj


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
