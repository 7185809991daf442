"""The adapter contract's fixtures and their argument checking."""
import importlib.util
import math
import time

from ypkit import messages

from . import clause
from ._support import (Skip, check, collect, eq, raises, run_by_hand, same,
                       steps, variant)


@clause("fixture.sleep")
def sleep(yp, loop):
    async def main():
        t0 = time.monotonic()
        r = await yp.sleep(0.05, "late")
        dt = time.monotonic() - t0
        return r, dt, await yp.sleep(0.001), await yp.sleep(0)
    r, dt, none1, none2 = loop.run(main)
    eq(r, "late", "sleep(0.05, 'late')")
    check(dt >= 0.049, f"sleep(0.05) finished after {dt:.4f}s")
    eq((none1, none2), (None, None), "default results")


@clause("fixture.sleep")
def sleep_not_late(yp, loop):
    """Nor much later: three 10 ms sleeps in a row finish before a 1 s sleep
    started just before them.  (A sleep whose deadline loses its carry into
    the seconds ends only at the next whole second of the clock: each short
    sleep then takes up to a second, and the three outlast the long one.)"""
    done = []

    async def long():
        await yp.sleep(1.0)
        done.append("1 s")

    async def shorts():
        for _ in range(3):
            await yp.sleep(0.01)
        done.append("3 x 10 ms")

    async def main():
        await loop.gather(long(), shorts())
    loop.run(main)
    eq(done, ["3 x 10 ms", "1 s"], "completion order")


@clause("fixture.cancellable-sleep")
def cancellable_sleep(yp, loop):
    eq(loop.run(lambda: yp.cancellable_sleep(0.01)), 42,
       "cancellable_sleep(0.01)")


@clause("fixture.cancellable-sleep", requires=("cancellable_sleep.result",))
def cancellable_sleep_result(yp, loop):
    r = object()
    same(loop.run(lambda: yp.cancellable_sleep(0.01, r)), r,
         "cancellable_sleep(0.01, r)")
    same(loop.run(lambda: yp.cancellable_sleep(0.01, result=None)), None,
         "cancellable_sleep(0.01, result=None)")


@clause("fixture.race", requires=("race",))
def race(yp, loop):
    """The winner's index and its result (the same object), whichever
    branch wins; the argument checks."""
    a, b = object(), object()
    eq(loop.run(lambda: yp.race((0.01, a), (30, b))), (0, a),
       "race((0.01, a), (30, b))")
    eq(loop.run(lambda: yp.race((30, a), (0.01, b), (30, None))), (1, b),
       "race((30, a), (0.01, b), (30, None))")
    i, r = loop.run(lambda: yp.race((0, b)))
    same(r, b, "race((0, b))'s result")
    eq(i, 0, "race((0, b))'s index")
    for exc, what, sleeps in (
            (ValueError, "race()", ()),
            (ValueError, "race((-1, 0))", ((-1, 0),)),
            (ValueError, "race((0, 0), (nan, 0))", ((0, 0), (math.nan, 0))),
            (TypeError, "race(0.5)", (0.5,)),
            (TypeError, "race((1, 2, 3))", ((1, 2, 3),)),
            (TypeError, "race(('x', 0))", (("x", 0),))):
        _refused(exc, lambda: yp.race(*sleeps), what)


@clause("fixture.counter")
def counter(yp, loop):
    async def main():
        k = yp.Counter()
        eq(k.value(), 0, "Counter().value()")
        k = yp.Counter(5)
        eq(await k.get(), 5, "get()")
        eq(await k.incr(), 6, "incr()")
        eq(k.value(), 6, "value() after incr()")
        same_none = k.set(10)
        eq(same_none, None, "set() return value")
        eq(await k.incr(), 11, "incr() after set(10)")
        eq(await k.get(resolve=True), 11, "get(resolve=True)")
    loop.run(main)


@clause("fixture.probe")
def probe(yp):
    p = yp.Probe()
    eq((p.polls, p.dropped), (0, False), "a fresh Probe")
    c = yp.scripted(["wake", "wake", ("ready", 0)], p)
    run_by_hand(None, c)
    eq((p.polls, bool(p.dropped)), (3, True), "(polls, dropped)")


BAD_CALLS = [
    ("sleep('1')", lambda yp: yp.sleep("1")),
    ("sleep(None)", lambda yp: yp.sleep(None)),
    ("cancellable_sleep('x')", lambda yp: yp.cancellable_sleep("x")),
    ("gil_probe(1, 0.1)", lambda yp: yp.gil_probe(1, 0.1)),
    ("gil_probe(True, 'x')", lambda yp: yp.gil_probe(True, "x")),
    ("Counter('x')", lambda yp: yp.Counter("x")),
    ("Counter().get(resolve=1)", lambda yp: yp.Counter().get(resolve=1)),
    ("Counter().incr(resolve='no')", lambda yp: yp.Counter().incr(resolve="no")),
    ("scripted([], probe=object())", lambda yp: yp.scripted([], probe=object())),
]
ALWAYS_AT_CALL = [
    ("Counter().set('x')", lambda yp: yp.Counter().set("x")),
    ("sleep()", lambda yp: yp.sleep()),
    ("cancellable(1)", lambda yp: yp.cancellable(1)),
    ("scripted(42)", lambda yp: yp.scripted(42)),
    ("scripted('pending')", lambda yp: yp.scripted("pending")),
    ("scripted(None)", lambda yp: yp.scripted(None)),
]


@clause("fixture.args-type")
def args_type(yp):
    for what, call in ALWAYS_AT_CALL:
        raises(TypeError, call, yp, what=what)
    for what, call in BAD_CALLS:
        _refused(TypeError, lambda: call(yp), what)


@clause("fixture.args-value")
def args_value(yp):
    for fn in ("sleep", "cancellable_sleep"):
        for bad in (-1, -0.5, float("nan"), float("inf")):
            _refused(ValueError, lambda: getattr(yp, fn)(bad),
                     f"{fn}({bad!r})")


def _refused(exc_type, make, what):
    """make() must raise exc_type at the call, or (the adapter's arg_check
    variant "first_poll") at the call or the first send."""
    if variant("arg_check") != "first_poll":
        raises(exc_type, make, what=what)
        return
    try:
        c = make()
    except exc_type:
        return
    raises(exc_type, c.send, None, what=f"first send of {what}")


@clause("fixture.malformed-step")
def malformed_step(yp):
    bad = ["bogus", 42, None, ("ready",), ("ready", 1, 2), ["ready", 1],
           ("raise", 42), ("raise", "ValueError"), ("call", 42),
           ("wake_after", -1), ("wake_after", "x"), ("wake_after", float("nan")),
           ("nope", 1), (1, 2)]
    for step in bad:
        raises(ValueError, yp.scripted, [("ready", 1), step],
               what=f"scripted([..., {step!r}])")
    c = yp.scripted([("call", lambda: "bogus")])
    raises(ValueError, c.send, None,
           what="a call step returning a malformed step")


@clause("fixture.script-exhausted")
def script_exhausted(yp, way, loop):
    if way == "later" and loop is None:
        raise Skip("needs a loop")
    p = yp.Probe()
    c = yp.scripted(steps(way), p)
    raises(RuntimeError, run_by_hand, loop, c, message=messages.EXHAUSTED,
           what="polling past the script")
    check(p.dropped, "future not dropped after the error")


@clause("fixture.module-instances")
def module_instances(yp):
    """A second module object of the adapter, from its spec (what a second
    interpreter, or importlib.util.module_from_spec, makes): refused with
    ImportError, or working; either way dropping it leaves nothing behind
    (the refleak mode repeats this and counts)."""
    spec = getattr(yp, "__spec__", None)
    if spec is None or spec.loader is None:
        raise Skip("the adapter module has no import spec to load it from")
    try:
        m = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(m)
    except ImportError:
        return
    p = m.Probe()
    result, _ = run_by_hand(None, m.scripted(["wake", ("ready", 7)], p))
    eq(result, 7, "a scripted coroutine of the second module object")
    check(p.dropped, "its future was not dropped")
    del m, p
    collect()
