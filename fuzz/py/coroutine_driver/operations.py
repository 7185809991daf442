"""What a byte can do: the operations on slots, each checked against the
model as it happens."""
import asyncio
import time

from fuzz_support import FuzzFailure, collect, fail, optional_import
from ypkit import messages, scripted

from . import checker
from .checker import check_probe, describe, expect, run_and_capture
from .factories import (new_cancellable, new_counter, new_misc,
                        new_scripted)
from .model import finish, release_borrow
from .objects import (TB, BadNew, FBase, FE, FStop, FuzzError, NeedsArg,
                      Sentinel)

# trio, when the interpreter has it: op_trio then drives coroutines under
# trio's runtime as op_loop does under asyncio's.
trio = optional_import("trio")


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
        s.yielded = s.yielded or res[0] == "ok"
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
        if want is None and s.resolve:
            if s.excl:
                c.value += 1
            want = ("value", c.value)
        _settle(w, si, s, what, res, want)
        return
    if s.kind == "cancellable":
        res = run_and_capture(call_op)
        # Its first yield fixed its runtime (asyncio's, by hand or in
        # op_loop): op_trio's check needs one that never yielded.
        s.yielded = s.yielded or res[0] == "ok"
        _settle(w, si, s, what, res, None if s.cancel_exc is None
                else ("return", s.cancel_exc))


def _settle(w, si, s, what, res, done):
    """A poll of a Counter method or cancellable() happened: it finished
    with the outcome `done`, or (None) it is pending and the coroutine
    suspended."""
    if done is None:
        done = ("pending",)
        s.state = "suspended"
    else:
        finish(w, s)
    expect(w, si, what, res, done)


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
        if len(args) == 3 and not checker.LAST_HAD_TB:
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
    task = w.loop.create_task(_await(coro))
    w.in_loop = w.loop_used = True
    s.state = "running" if s.tracked else s.state
    try:
        for _ in range(2):
            try:
                w.loop.run_until_complete(
                    asyncio.wait([task], timeout=0.002))
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


async def _trio_await(coro, box):
    """`await coro` in a trio task, its scope cancelled after 2 ms (the
    cancellation comes in through abort_fn and outcome.Error).  Nothing
    escapes: the outcome goes to `box`."""
    with trio.move_on_after(0.002):
        try:
            box.append(("ok", await coro))
        except FuzzFailure:
            raise
        except BaseException as e:  # noqa: B902 - the outcome is data
            box.append(("exc", e))


def op_trio(w, si):
    """Drive the slot's coroutine as a trio task for a moment, cancelling
    its scope; the coroutine must be finished afterwards.  Other slots
    are not sent by hand meanwhile (nested): a wait suspended by hand
    inside a trio task records that task, which a later wake would
    reschedule behind trio's back (an API misuse, not a bug)."""
    s = w.slots[si]
    if s is None or s.coro is None or w.in_loop or \
            (s.tracked and s.state in ("running", "finished")):
        return
    coro = s.coro
    box = []
    w.in_loop = w.in_trio = True
    s.state = "running" if s.tracked else s.state
    try:
        trio.run(_trio_await, coro, box)
    except FuzzFailure:
        raise
    except BaseException as e:  # noqa: B902
        fail(f"op {w.opno}: trio.run raised {e!r} (a trio task's outcome "
             f"is caught inside it)")
    finally:
        w.in_loop = w.in_trio = False
    # A coroutine whose first yield was asyncio's stays asyncio's: under
    # trio its Pending raises "no running event loop" and leaves it
    # resumable.  Close it, as op_loop's cancelled Task would.
    r = run_and_capture(coro.close)
    if r != ("ok", None):
        fail(f"op {w.opno}: close after trio.run {describe(r)}")
    if len(box) != 1:
        fail(f"op {w.opno}: the trio task recorded {len(box)} outcomes")
    kind, v = box[0]
    if kind == "exc" and isinstance(v, FuzzFailure):
        raise v
    if s.tracked and s.kind == "counter" and kind == "ok":
        c = s.counter
        if s.excl:
            c.value += 1
        if v != c.value:
            fail(f"op {w.opno}: Counter.{'incr' if s.excl else 'get'}() "
                 f"in a trio task gave {v!r}, model {c.value}")
    if s.tracked and s.kind == "cancellable" and not s.yielded and \
            not (kind == "ok" and isinstance(v, trio.Cancelled)):
        # trio.cancel-handle: the Cancelled (sent as outcome.Error) goes
        # to the handle; the coroutine returns it, it does not raise.
        fail(f"op {w.opno}: cancellable() in a cancelled trio scope "
             f"{describe(('ok', v) if kind == 'ok' else ('exc', v))}, "
             f"expected the Cancelled returned")
    s.polls_known = False
    finish(w, s)
    check_probe(w, si, s)
    del box, v


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


def nested(w, kind, si, target):
    """The operation a ("call", fn) step makes from inside a poll
    (factories.make_call): kinds 0-2 on its own slot (send, throw, close),
    3-5 on the target slot (send, close, delete)."""
    if w.in_trio and kind == 3 and target != si:
        return   # see op_trio
    op = (op_send, op_throw, op_close, op_send, op_close, op_delete)[kind]
    op(w, si if kind < 3 else target, nested=True)
