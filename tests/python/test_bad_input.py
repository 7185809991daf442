"""Bad input gives a clear Python exception at call time, never a crash."""
import math
import re

import pytest
from ypkit import messages


@pytest.mark.parametrize("call,exc", [
    (lambda yp: yp.sleep("1"), TypeError),
    (lambda yp: yp.sleep(True), TypeError),
    (lambda yp: yp.sleep(None), TypeError),
    (lambda yp: yp.sleep(-1), ValueError),
    (lambda yp: yp.sleep(math.nan), ValueError),
    (lambda yp: yp.sleep(math.inf), ValueError),
    (lambda yp: yp.sleep(10 ** 400), ValueError),      # found by fuzzing
    (lambda yp: yp.cancellable_sleep(-10 ** 400), ValueError),
    (lambda yp: yp.sleep(), TypeError),
    (lambda yp: yp.sleep(1, 2, 3), TypeError),
    (lambda yp: yp.sleep(1, bogus=2), TypeError),
    (lambda yp: yp.cancellable(1), TypeError),
    (lambda yp: yp.cancellable_sleep("x"), TypeError),
    (lambda yp: yp.cancellable_sleep(-2), ValueError),
    (lambda yp: yp.sleep_loop(1), TypeError),
    (lambda yp: yp.gil_probe(1, 0), TypeError),
    (lambda yp: yp.gil_probe(True, "x"), TypeError),
    (lambda yp: yp.gil_probe(True), TypeError),
    (lambda yp: yp.Counter("x"), TypeError),
    (lambda yp: yp.Counter(1.5), TypeError),
    (lambda yp: yp.Counter().set("x"), TypeError),
    (lambda yp: yp.Counter().get(resolve=1), TypeError),
    (lambda yp: yp.Counter().incr(1, 2), TypeError),
    (lambda yp: yp.Probe(1), TypeError),
    (lambda yp: yp.counters_dropped(1), TypeError),
    (lambda yp: yp.scripted(5), TypeError),
    (lambda yp: yp.scripted("pending"), TypeError),
    (lambda yp: yp.scripted(None), TypeError),
    (lambda yp: yp.scripted([], probe=5), TypeError),
    (lambda yp: yp.scripted(["bogus"]), ValueError),
    (lambda yp: yp.scripted([5]), ValueError),
    (lambda yp: yp.scripted([("ready",)]), ValueError),
    (lambda yp: yp.scripted([("ready", 1, 2)]), ValueError),
    (lambda yp: yp.scripted([("nope", 1)]), ValueError),
    (lambda yp: yp.scripted([("raise", 5)]), ValueError),
    (lambda yp: yp.scripted([("raise", int)]), ValueError),
    (lambda yp: yp.scripted([("call", 5)]), ValueError),
    (lambda yp: yp.scripted([("wake_after", -1)]), ValueError),
    (lambda yp: yp.scripted([("wake_after", "1")]), ValueError),
    (lambda yp: yp.scripted([("ready", 1), "bogus"]), ValueError),
])
def test_bad_arguments(yp, call, exc):
    with pytest.raises(exc):
        call(yp)


def test_exhausted_script(yp):
    p = yp.Probe()
    c = yp.scripted([], p)
    with pytest.raises(RuntimeError, match=f"^{re.escape(messages.EXHAUSTED)}$"):
        c.send(None)
    assert p.dropped


@pytest.mark.parametrize("ret", ["bogus", 5, None, ("ready",)])
def test_call_step_returning_malformed_step(yp, ret):
    c = yp.scripted([("call", lambda: ret)])
    with pytest.raises(ValueError, match=f"^{re.escape(messages.MALFORMED)}"):
        c.send(None)


def test_call_step_chain_is_bounded(yp):
    def again():
        return ("call", again)
    with pytest.raises(RuntimeError, match=f"^{re.escape(messages.CALL_CHAIN)}"):
        yp.scripted([("call", again)]).send(None)


def test_call_step_returning_step_runs_it(yp):
    c = yp.scripted([("call", lambda: ("ready", "r"))])
    with pytest.raises(StopIteration) as ei:
        c.send(None)
    assert ei.value.value == "r"


def test_huge_finite_delays_are_accepted_and_cancellable(yp):
    # Found by the `scripts` fuzzer: a finite but huge delay used to
    # overflow a time_t conversion in the sleeper thread (UBSan report).
    import asyncio

    async def main():
        for c in (yp.sleep(1e308), yp.cancellable_sleep(1e308),
                  yp.scripted([("wake_after", 1e308)])):
            t = asyncio.ensure_future(c)
            await asyncio.sleep(0.01)
            t.cancel()
            await asyncio.gather(t, return_exceptions=True)
    asyncio.run(main())
