"""The coroutine object driven by hand: send/throw/close/__next__ outside
and inside a running loop.  One test per bullet of the engine contract."""
import asyncio
import collections.abc
import gc
import re
import types
import warnings

import pytest

from ypkit import messages
from ypkit.drive import drive


def finish(coro):
    with pytest.raises(StopIteration) as ei:
        coro.send(None)
    return ei.value.value


# --- send -> poll mapping and results ---------------------------------------

def test_each_send_is_one_poll(yp):
    p = yp.Probe()
    c = yp.scripted(["wake", "wake", ("ready", 7)], p)
    assert p.polls == 0
    assert c.send(None) is None and p.polls == 1
    assert next(c) is None and p.polls == 2
    assert finish(c) == 7 and p.polls == 3
    assert p.dropped


def test_sent_value_is_ignored_even_first(yp):
    c = yp.scripted([("ready", 1)])
    with pytest.raises(StopIteration) as ei:
        c.send("not None")          # native would raise TypeError
    assert ei.value.value == 1


@pytest.mark.parametrize("value", [None, 0, "s", (1, 2), (), ((1,),), [1]])
def test_ready_value_is_returned_intact(yp, value):
    assert finish(yp.scripted([("ready", value)])) == value
    assert type(finish(yp.scripted([("ready", value)]))) is type(value)


def test_exception_object_is_returned_not_raised(yp):
    exc = ValueError("returned")
    assert finish(yp.scripted([("ready", exc)])) is exc


def test_error_is_raised_and_future_dropped(yp):
    p = yp.Probe()
    exc = KeyError("boom")
    c = yp.scripted([("raise", exc)], p)
    with pytest.raises(KeyError) as ei:
        c.send(None)
    assert ei.value is exc and p.dropped


def test_error_class_is_instantiated(yp):
    with pytest.raises(OSError):
        yp.scripted([("raise", OSError)]).send(None)


@pytest.mark.parametrize("stop", [StopIteration, StopIteration(5)])
def test_stopiteration_becomes_runtimeerror(yp, stop):
    c = yp.scripted([("raise", stop)])
    with pytest.raises(RuntimeError, match=f"^{re.escape(messages.STOP_ITERATION)}$") as ei:
        c.send(None)
    assert isinstance(ei.value.__cause__, StopIteration)


def test_stopasynciteration_is_not_converted(yp):
    with pytest.raises(StopAsyncIteration):
        yp.scripted([("raise", StopAsyncIteration())]).send(None)


# --- Pending ----------------------------------------------------------------

def test_wake_during_poll_yields_none(yp):
    c = yp.scripted(["wake", ("ready", 1)])
    assert c.send(None) is None
    assert finish(c) == 1


def test_real_pending_without_loop_raises_and_stays_resumable(yp):
    p = yp.Probe()
    c = yp.scripted(["pending", ("ready", 3)], p)
    with pytest.raises(RuntimeError, match=f"^{re.escape(messages.NO_LOOP)}$"):
        c.send(None)
    assert not p.dropped
    assert finish(c) == 3


def test_real_pending_in_loop_yields_a_blocking_waiter(yp):
    async def main():
        loop = asyncio.get_running_loop()
        c = yp.scripted(["pending", ("ready", 5)])
        fut = c.send(None)
        assert asyncio.isfuture(fut) and not isinstance(fut, asyncio.Future)
        assert fut.get_loop() is loop
        assert fut._asyncio_future_blocking is True
        assert not fut.done()
        fut.cancel()                    # nobody will wake it
        assert finish(c) == 5
    asyncio.run(main())


def test_loop_future_created_lazily_only_on_real_pending(yp):
    # Ready and self-waking coroutines run with no loop at all.
    assert drive(yp.scripted(["wake", "wake", ("ready", 1)])) == \
        (1, [None, None])


# --- finished coroutines ------------------------------------------------------

@pytest.mark.parametrize("ending", ["ready", "raise", "close", "throw"])
def test_reuse_after_any_ending(yp, ending):
    c = yp.scripted(["wake", ("ready", 1)] if ending != "raise"
                    else [("raise", ValueError())])
    if ending == "ready":
        c.send(None)
        finish(c)
    elif ending == "raise":
        with pytest.raises(ValueError):
            c.send(None)
    elif ending == "close":
        c.close()
    else:
        with pytest.raises(KeyError):
            c.throw(KeyError())
    for op in (lambda: c.send(None), lambda: next(c),
               lambda: c.throw(ValueError)):
        with pytest.raises(RuntimeError,
                           match=f"^{re.escape(messages.REUSE)}$"):
            op()
    assert c.close() is None
    assert c.close() is None


# --- throw ------------------------------------------------------------------

# Each form builds fresh objects: a shared exception instance would keep
# its traceback (and so the coroutine) alive across tests.
THROW_FORMS = {
    "instance": lambda e: ((e,), e),
    "class": lambda e: ((ValueError,), None),
    "class+value": lambda e: ((ValueError, "v"), None),
    "class+instance": lambda e: ((ValueError, e), e),
    "instance+None": lambda e: ((e, None), e),
    "3-arg": lambda e: ((ValueError, "v", None), None),
}


@pytest.mark.parametrize("form", THROW_FORMS)
def test_throw_without_handle_drops_then_raises(yp, form):
    args, ident = THROW_FORMS[form](ValueError("v"))
    p = yp.Probe()
    c = yp.scripted(["wake", ("ready", 1)], p)
    c.send(None)
    with pytest.raises(ValueError) as ei:
        c.throw(*args)
    if ident is not None:
        assert ei.value is ident
    assert p.dropped and p.polls == 1


def test_throw_with_traceback(yp):
    try:
        raise KeyError("k")
    except KeyError as e:
        tb = e.__traceback__
    c = yp.scripted(["wake"])
    with pytest.raises(KeyError) as ei:
        c.throw(KeyError, KeyError("k2"), tb)
    assert ei.value.__traceback__ is not None


def test_throw_into_fresh_coroutine_closes_without_warning(yp, recwarn):
    p = yp.Probe()
    c = yp.scripted([("ready", 1)], p)
    with pytest.raises(ValueError):
        c.throw(ValueError)
    assert p.dropped and p.polls == 0
    del c
    gc.collect()
    assert not [w for w in recwarn if messages.is_never_awaited(w)]


@pytest.mark.parametrize("bad", [42, "s", None, object(), int])
def test_throw_non_exception_is_typeerror_and_harmless(yp, bad):
    p = yp.Probe()
    c = yp.scripted([("ready", 1)], p)
    with pytest.raises(TypeError, match="exceptions must be classes or "
                                        "instances deriving from BaseException"):
        c.throw(bad)
    assert not p.dropped
    assert finish(c) == 1


def test_throw_argument_errors(yp):
    c = yp.scripted([("ready", 1)])
    with pytest.raises(TypeError):
        c.throw()
    with pytest.raises(TypeError):
        c.throw(ValueError, 1, None, None)
    with pytest.raises(TypeError, match="traceback"):
        c.throw(ValueError, 1, "not a traceback")
    with pytest.raises(TypeError, match="separate value"):
        c.throw(ValueError(), 1)
    assert finish(c) == 1


def test_throw_with_cancel_handle_stores_and_polls_again(yp):
    async def main():
        c = yp.cancellable()
        fut = c.send(None)
        assert asyncio.isfuture(fut)
        exc = asyncio.CancelledError("stop")
        with pytest.raises(StopIteration) as ei:
            c.throw(exc)        # stored, woken, polled in the same call
        assert ei.value.value is exc
        fut.cancel()
    asyncio.run(main())


def test_throw_with_cancel_handle_into_fresh_coroutine(yp):
    c = yp.cancellable()
    exc = KeyError("first poll sees it")
    with pytest.raises(StopIteration) as ei:
        c.throw(exc)
    assert ei.value.value is exc


def test_cancel_handle_may_ignore_and_keep_running(yp):
    async def main():
        c = yp.sleep_loop()
        y = c.send(None)
        # A sleep whose timer is already due when first polled (a loaded
        # host) ends in the next poll: the first yield may be a yield-now.
        while y is None:
            y = c.send(None)
        y.cancel()
        with pytest.raises(StopIteration) as ei:
            c.throw(asyncio.CancelledError())
        assert isinstance(ei.value.value, int)
    asyncio.run(main())


# --- close ------------------------------------------------------------------

def test_close_drops_without_polling(yp):
    p = yp.Probe()
    c = yp.scripted([("raise", ValueError())], p)
    assert c.close() is None
    assert p.dropped and p.polls == 0


def test_close_suspended_never_raises(yp):
    p = yp.Probe()
    c = yp.scripted(["wake", ("raise", ValueError())], p)
    c.send(None)
    assert c.close() is None
    assert p.dropped and p.polls == 1


# --- re-entrancy --------------------------------------------------------------

@pytest.mark.parametrize("op", ["send", "throw", "close", "next"])
def test_reentrant_call_raises_valueerror_and_stays_usable(yp, op):
    box = {}

    def reenter():
        c = box["c"]
        fn = {"send": lambda: c.send(None),
              "throw": lambda: c.throw(KeyError),
              "close": c.close,
              "next": lambda: next(c)}[op]
        with pytest.raises(ValueError, match=f"^{re.escape(messages.RUNNING)}$"):
            fn()
        assert c.cr_running
        return ("ready", "survived")

    p = yp.Probe()
    box["c"] = c = yp.scripted([("call", reenter)], p)
    assert finish(c) == "survived"
    assert p.dropped and p.polls == 1
    del box["c"]


def test_call_step_exception_propagates(yp):
    def boom():
        raise LookupError("from fn")
    with pytest.raises(LookupError, match="from fn"):
        yp.scripted([("call", boom)]).send(None)


# --- the object ---------------------------------------------------------------

def test_names(yp):
    c = yp.scripted([("ready", 1)])
    assert c.__name__ == "scripted" and c.__qualname__ == "scripted"
    g = yp.Counter().get()
    assert g.__name__ == "get" and g.__qualname__ == "Counter.get"
    i = yp.Counter().incr()
    assert i.__qualname__ == "Counter.incr"
    assert "Counter.get" in repr(g)
    for x in (c, g, i):
        x.close()


def test_abcs_and_await(yp):
    c = yp.scripted([("ready", 1)])
    assert isinstance(c, collections.abc.Coroutine)
    assert isinstance(c, collections.abc.Awaitable)
    assert asyncio.iscoroutine(c)
    assert c.__await__() is c
    assert not isinstance(c, types.CoroutineType)
    c.close()


def test_type_is_not_instantiable(yp):
    with pytest.raises(TypeError):
        yp.Coroutine()


def test_never_awaited_warns(yp):
    c = yp.scripted([("ready", 1)])
    with pytest.warns(RuntimeWarning,
                      match=f"^{re.escape(messages.never_awaited('scripted'))}$"):
        del c
        gc.collect()


def test_never_awaited_uses_qualname(yp):
    c = yp.Counter().get()
    with pytest.warns(RuntimeWarning, match=f"^{re.escape(messages.never_awaited('Counter.get'))}$"):
        del c
        gc.collect()


@pytest.mark.parametrize("how", ["close", "send", "throw"])
def test_no_warning_once_started_or_closed(yp, how):
    c = yp.scripted(["wake", ("ready", 1)])
    if how == "close":
        c.close()
    elif how == "send":
        c.send(None)
    else:
        with pytest.raises(KeyError):
            c.throw(KeyError)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del c
        gc.collect()


def test_suspended_coroutine_freed_drops_future(yp):
    p = yp.Probe()
    c = yp.scripted(["wake", ("ready", 1)], p)
    c.send(None)
    del c
    assert p.dropped


def test_cycle_through_future_is_collected(yp):
    p = yp.Probe()
    box = []
    c = yp.scripted(["wake", ("ready", box)], p)
    box.append(c)           # coroutine -> future -> list -> coroutine
    c.send(None)
    del c, box
    gc.collect()
    assert p.dropped


def test_cr_attributes(yp):
    async def main():
        c = yp.scripted(["pending", ("ready", 1)])
        assert not c.cr_running and not c.cr_suspended
        fut = c.send(None)
        assert c.cr_suspended and c.cr_await is fut
        fut.cancel()
        finish(c)
        assert not c.cr_suspended
    asyncio.run(main())
