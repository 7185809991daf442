"""The coroutine object: ABCs, names, reuse, re-entrancy, warnings, am_send."""
import asyncio
import collections.abc
import inspect
import ctypes
import sys
import warnings
import weakref

from ypkit import messages

from . import clause
from ._support import (Fail, Skip, check, collect, eq, finishes, raises,
                       reuse_error, same, steps, suspend, suspended)


def _all(yp):
    k = yp.Counter()
    return [yp.scripted([("ready", 1)]), yp.sleep(0.01), yp.cancellable(),
            yp.cancellable_sleep(1), yp.sleep_loop(), yp.gil_probe(False, 0),
            k.get(), k.incr()]


def _close_all(cs):
    for c in cs:
        c.close()


@clause("coro.abc")
def abc(yp):
    cs = _all(yp)
    for c in cs:
        check(isinstance(c, collections.abc.Coroutine),
              f"{c!r} is not a collections.abc.Coroutine")
        check(isinstance(c, collections.abc.Awaitable),
              f"{c!r} is not a collections.abc.Awaitable")
        check(asyncio.iscoroutine(c), f"asyncio.iscoroutine({c!r}) is false")
    _close_all(cs)


@clause("coro.await-iter")
def await_iter(yp, way, loop):
    c = yp.scripted(steps(way, ("ready", "it")))
    it = c.__await__()
    check(hasattr(type(it), "__next__"),
          f"__await__() returned {type(it).__name__}, not an iterator")

    async def main():
        for _ in range(100):
            try:
                y = next(it)
            except StopIteration as e:
                return e.value
            await loop.forward(y)     # next() sends None, whatever comes back
        raise Fail("did not finish")
    eq(loop.run(main), "it", "result through __await__()")
    reuse_error(c.send, None, what="the coroutine after its iterator finished")


@clause("coro.name")
def name(yp):
    k = yp.Counter()
    cs = [(yp.scripted([]), "scripted"), (yp.sleep(0), "sleep"),
          (yp.cancellable(), "cancellable"),
          (yp.cancellable_sleep(0), "cancellable_sleep"),
          (yp.sleep_loop(), "sleep_loop"), (yp.gil_probe(False, 0), "gil_probe"),
          (k.get(), "get"), (k.incr(), "incr")]
    for c, n in cs:
        eq(c.__name__, n, "__name__")
        c.close()


@clause("coro.qualname")
def qualname(yp):
    k = yp.Counter()
    cs = [(yp.scripted([]), "scripted"), (yp.sleep(0), "sleep"),
          (yp.cancellable(), "cancellable"), (yp.gil_probe(False, 0), "gil_probe"),
          (k.get(), "Counter.get"), (k.incr(), "Counter.incr")]
    for c, n in cs:
        eq(c.__qualname__, n, "__qualname__")
        c.close()


@clause("coro.reuse-error")
def reuse_after_each_ending(yp, way, loop):
    def finished_ready():
        c = yp.scripted(steps(way, ("ready", 1)))
        return c, (lambda: loop.run(lambda: c))

    def finished_error():
        c = yp.scripted(steps(way, ("raise", KeyError)))
        return c, (lambda: raises(KeyError, loop.run, lambda: c))

    def finished_throw():
        c = yp.scripted(steps(way, "pending"))

        async def main():
            await suspend(c, way)
            raises(ValueError, c.throw, ValueError("x"))
        return c, (lambda: loop.run(main))

    def finished_close():
        c = yp.scripted(steps(way, "pending"))

        async def main():
            await suspend(c, way)
            c.close()
        return c, (lambda: loop.run(main))

    def finished_handle():
        c = yp.cancellable()

        async def main():
            c.send(None)
            finishes(c.throw, ValueError("x"))
        return c, (lambda: loop.run(main))

    for make in (finished_ready, finished_error, finished_throw,
                 finished_close, finished_handle):
        c, finish = make()
        finish()
        ending = make.__name__
        reuse_error(c.send, None, what=f"send() after {ending}")
        if hasattr(c, "__next__"):
            reuse_error(c.__next__, what=f"__next__() after {ending}")
        reuse_error(c.throw, ValueError("late"), what=f"throw() after {ending}")
        same(c.close(), None, f"close() after {ending}")


@clause("coro.reentrant")
def reentrant(yp, way, loop):
    box, seen = [], []

    def reenter():
        c = box[0]
        for what, fn in (("send", lambda: c.send(None)),
                         ("__next__", lambda: next(c) if hasattr(c, "__next__")
                          else c.send(None)),
                         ("throw", lambda: c.throw(ValueError("in"))),
                         ("close", c.close)):
            try:
                fn()
            except ValueError as e:
                seen.append((what, type(e), str(e)))
            except BaseException as e:     # noqa: B902
                seen.append((what, type(e), str(e)))
            else:
                seen.append((what, None, "returned"))
        return ("ready", "outer result")
    p = yp.Probe()
    c = yp.scripted(steps(way, ("call", reenter)), p)
    box.append(c)

    async def main():
        return await c
    eq(loop.run(main), "outer result", "the outer poll's result")
    box.clear()
    for what, t, msg in seen:
        check(t is ValueError and msg == messages.RUNNING,
              f"re-entrant {what}(): expected ValueError({messages.RUNNING!r}"
              f"), got {getattr(t, '__name__', t)}: {msg}")
    eq(len(seen), 4, "re-entrant calls made")
    check(p.dropped, "future not dropped after finishing")


def _stages(yp, loop, look):
    """look(c, stage) at every stage of a scripted coroutine's life."""
    box = []

    def inside():
        look(box[0], "running")
        return ("ready", 1)

    async def main():
        c = yp.scripted(["pending", ("call", inside)])
        box.append(c)
        look(c, "created")
        check(suspended(c.send(None)), "first poll should suspend")
        look(c, "suspended")
        finishes(c.send, None)
        box.clear()
        look(c, "finished")
        c = yp.scripted([("raise", KeyError)])
        raises(KeyError, c.send, None)
        look(c, "failed")
        c = yp.scripted(["pending"])
        c.send(None)
        c.close()
        look(c, "closed while suspended")
    loop.run(main)


@clause("coro.introspection")
def introspection(yp, loop):
    seen = []

    def look(c, stage):
        running = getattr(c, "cr_running", "missing")
        susp = getattr(c, "cr_suspended", "missing")
        aw = getattr(c, "cr_await", "missing")
        seen.append((stage, running, susp,
                     "missing" if aw == "missing" else aw is not None))
    _stages(yp, loop, look)
    want = [("created", False, False, False), ("suspended", False, True, True),
            ("running", True, False, False), ("finished", False, False, False),
            ("failed", False, False, False),
            ("closed while suspended", False, False, False)]
    for got, exp in zip(seen, want):
        eq(got[1:], exp[1:], f"{exp[0]}: (cr_running, cr_suspended, "
                             f"cr_await is not None)")
    eq(len(seen), len(want), "stages seen")


@clause("coro.getcoroutinestate")
def getcoroutinestate(yp, loop):
    seen = []

    def look(c, stage):
        try:
            seen.append((stage, inspect.getcoroutinestate(c)))
        except Exception as e:          # noqa: B902 -- reported below
            seen.append((stage, f"{type(e).__name__}: {e}"))
    _stages(yp, loop, look)
    eq(seen, [("created", inspect.CORO_CREATED),
              ("suspended", inspect.CORO_SUSPENDED),
              ("running", inspect.CORO_RUNNING),
              ("finished", inspect.CORO_CLOSED),
              ("failed", inspect.CORO_CLOSED),
              ("closed while suspended", inspect.CORO_CLOSED)],
       "inspect.getcoroutinestate() at each stage")


def _warnings_of(fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn()
        collect()
    return [x for x in w if messages.is_never_awaited(x)]


@clause("coro.never-awaited")
def never_awaited(yp):
    k = yp.Counter()
    for make, qn in ((lambda: yp.scripted([("ready", 1)]), "scripted"),
                     (lambda: yp.sleep(1), "sleep"),
                     (k.get, "Counter.get")):
        ws = _warnings_of(lambda: make())
        eq([str(w.message) for w in ws],
           [messages.never_awaited(qn)], "RuntimeWarnings")


@clause("coro.never-awaited")
def never_awaited_as_error(yp):
    """With warnings turned into errors, the warning cannot propagate out
    of a deallocator: it goes to sys.unraisablehook, as CPython's does."""
    seen = []
    old = sys.unraisablehook
    sys.unraisablehook = lambda u: seen.append((u.exc_type, str(u.exc_value)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            yp.scripted([("ready", 1)])        # freed at once, never awaited
            collect()
    finally:
        sys.unraisablehook = old
    eq(seen, [(RuntimeWarning, messages.never_awaited("scripted"))],
       "sys.unraisablehook calls (exception type, message)")


@clause("coro.no-spurious-warning")
def no_spurious_warning(yp, loop):
    def polled_to_end():
        c = yp.scripted([("ready", 1)])
        finishes(c.send, None)

    def closed_fresh():
        yp.scripted([("ready", 1)]).close()

    def thrown_fresh():
        raises(KeyError, yp.scripted([("ready", 1)]).throw, KeyError())

    def suspended_then_freed():
        async def main():
            c = yp.scripted(["pending"])
            c.send(None)
        loop.run(main)

    def awaited():
        loop.run(lambda: yp.scripted(["wake", ("ready", 1)]))

    for fn in (polled_to_end, closed_fresh, thrown_fresh,
               suspended_then_freed, awaited):
        ws = _warnings_of(fn)
        eq([str(w.message) for w in ws], [], f"warnings ({fn.__name__})")


class _PyAsyncMethods(ctypes.Structure):
    _fields_ = [("am_await", ctypes.c_void_p), ("am_aiter", ctypes.c_void_p),
                ("am_anext", ctypes.c_void_p), ("am_send", ctypes.c_void_p)]


class _TypeHead(ctypes.Structure):       # PyTypeObject up to tp_as_async
    _fields_ = [("ob_refcnt", ctypes.c_ssize_t), ("ob_type", ctypes.c_void_p),
                ("ob_size", ctypes.c_ssize_t), ("tp_name", ctypes.c_char_p),
                ("tp_basicsize", ctypes.c_ssize_t),
                ("tp_itemsize", ctypes.c_ssize_t),
                ("tp_dealloc", ctypes.c_void_p),
                ("tp_vectorcall_offset", ctypes.c_ssize_t),
                ("tp_getattr", ctypes.c_void_p), ("tp_setattr", ctypes.c_void_p),
                ("tp_as_async", ctypes.POINTER(_PyAsyncMethods))]


@clause("coro.am-send")
def am_send(yp):
    cs = _all(yp)
    for tp in {type(c) for c in cs}:
        head = _TypeHead.from_address(id(tp))
        check(bool(head.tp_as_async), f"{tp.__qualname__} has no tp_as_async")
        check(bool(head.tp_as_async.contents.am_send),
              f"{tp.__qualname__} has no am_send slot")
    _close_all(cs)


# --- out of memory -------------------------------------------------------------
#
# CPython's own fault injector, _testcapi.set_nomemory(n, n + 1), makes the
# n-th allocation through the interpreter's allocators (PyMem_*,
# PyObject_*, raw included) fail and every other one succeed: whatever the
# implementation is written in, its Python objects come from there.  Each
# operation runs once per n, so each of its allocations fails once.

OOM_SPAN = 160      # allocations tried per operation (more than any needs)


def _testcapi():
    try:
        import _testcapi
    except ImportError:
        raise Skip("needs CPython's _testcapi (set_nomemory); Debian: "
                   "libpython3.11-testsuite") from None
    return _testcapi


def _finish(c):
    """send(None) until the coroutine finishes (a by-hand drive with no
    allocation of its own); its result."""
    sys._getframe(1)    # the caller's frame object, now: see CEVAL_LOST
    try:
        while True:
            c.send(None)
    except StopIteration as e:
        return e.value


# CPython 3.11's own bug: a frame that returns with an exception while its
# caller has no frame object yet makes one (frame.c, take_ownership); when
# that allocation fails, the pending exception is cleared, and the eval loop
# raises SystemError(CEVAL_LOST) -- a debug build aborts on an assertion.
# The sweeps give their frames their frame objects before anything can
# fail (sys._getframe); inside a pure-Python adapter's own frames it can
# still happen, so the message is accepted.  An implementation's C function
# returning NULL without an exception reads differently ("... returned NULL
# without setting an exception"): the sweeps call send/throw/close as
# methods, never through the eval loop, so this hides nothing of theirs.
CEVAL_LOST = "error return without exception set"
# CPython's threading failing for want of memory says so with a
# RuntimeError, not a MemoryError (_thread.allocate_lock, a thread's start):
# the interpreter's own, seen when an implementation starts a thread.
THREAD_LOST = ("can't allocate lock", "can't start new thread")


def _from_oom(exc):
    """Whether exc is a MemoryError or came from one (cause or context)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, MemoryError) or (
                type(exc) is SystemError and str(exc) == CEVAL_LOST) or (
                type(exc) is RuntimeError and str(exc) in THREAD_LOST):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _oom_sweep(capi, what, prepare, op):
    """op(prepare()) once as it is, then for n in OOM_SPAN: prepare()
    (allocations working) and op(state) with the n-th allocation failing.
    op must then complete, raise what it raised as it is (StopIteration,
    the thrown error, ...) or raise MemoryError (possibly as the cause or
    context of another error); anything else is a failure, with the first
    n that gave it."""
    sys._getframe()     # this frame's object, now: see CEVAL_LOST
    expected = ()
    try:
        op(prepare())
    except Exception as e:      # noqa: B902 -- the outcome to compare with
        expected = (type(e),)
    for n in range(OOM_SPAN):
        state = prepare()
        got = None
        capi.set_nomemory(n, n + 1)
        try:
            op(state)
        except expected:
            pass
        except Exception as e:      # noqa: B902 -- judged below, hooks off
            got = e
        finally:
            capi.remove_mem_hooks()
        if got is not None and not _from_oom(got):
            raise Fail(f"{what}, allocation {n} failing: "
                       f"{type(got).__name__}: {got} (expected MemoryError"
                       f"{''.join(f' or {t.__name__}' for t in expected)})")


def _on_a_loop(yp, keep):
    """(loop, coroutine): a fresh asyncio loop (so that whatever an
    implementation keeps per loop is made again) and a coroutine whose
    first poll keeps its waker (cancellable's handle does; a wake_after
    would start a thread, and CPython's thread start can hang when an
    allocation fails in the new thread)."""
    ev = asyncio.SelectorEventLoop()
    c = yp.cancellable()
    keep.append((ev, c))
    return ev, c


def _first_suspension(s):
    """The coroutine's first send with its loop set as the running one
    (asyncio's hook for loop implementations), so that it suspends on that
    loop without the loop running: no allocation of the loop's own."""
    ev, c = s
    asyncio.events._set_running_loop(ev)
    try:
        c.send(None)
    except StopIteration as e:
        # cancellable completes with what ended its wait, returned: an
        # allocation that failed inside it (the native adapter's body
        # catches it) is judged like a raised one.
        if isinstance(e.value, BaseException):
            raise e.value from None
        raise
    finally:
        asyncio.events._set_running_loop(None)


class _Held:
    """A result to watch with a weak reference."""


@clause("coro.out-of-memory")
def out_of_memory(yp):
    """Every allocation of a fixture call, a poll, a throw, a close, failing
    in turn: a clean MemoryError or the normal outcome; afterwards every
    future made was dropped and every result freed."""
    capi = _testcapi()
    made = []
    suspensions = []

    def watched():
        """(probe, result, made): op sets made[0] once the coroutine exists
        (an item store allocates nothing).  Only those are checked: a call
        that failed before making one is the interpreter's business."""
        s = (yp.Probe(), _Held(), [False])
        made.append((s[0], weakref.ref(s[1]), s[2]))
        return s

    def scripted(steps):
        def op(s):
            c = yp.scripted(steps(s[1]), s[0])
            s[2][0] = True
            return _finish(c)
        return op

    def started(s):
        c = yp.scripted(["wake", ("ready", s[1])], s[0])
        s[2][0] = True
        c.send(None)
        return c

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _oom_sweep(capi, "Probe()", lambda: None, lambda _: yp.Probe())
        _oom_sweep(capi, "scripted([ready]) run to the end", watched,
                   scripted(lambda r: [("ready", r)]))
        _oom_sweep(capi, "scripted([wake, wake, ready]) run to the end",
                   watched, scripted(lambda r: ["wake", "wake", ("ready", r)]))
        _oom_sweep(capi, "scripted([raise]) run to the end", watched,
                   scripted(lambda r: [("raise", KeyError(r))]))
        _oom_sweep(capi, "throw() without a handle",
                   lambda: started(watched()), lambda c: c.throw(KeyError()))
        _oom_sweep(capi, "close() after a poll", lambda: started(watched()),
                   lambda c: c.close())
        _oom_sweep(capi, "throw() into a handle", lambda: yp.cancellable(),
                   lambda c: c.throw(KeyError()))
        _oom_sweep(capi, "cancellable_sleep(30) made and closed",
                   lambda: None, lambda _: yp.cancellable_sleep(30).close())
        _oom_sweep(capi, "Counter().get() run to the end", lambda: None,
                   lambda _: _finish(yp.Counter(3).get()))
        _oom_sweep(capi, "a first suspension on a fresh asyncio loop, its "
                   "waker kept (per-loop state made)",
                   lambda: _on_a_loop(yp, suspensions), _first_suspension)
    for ev, c in suspensions:
        c.close()
        ev.close()
    collect()
    made = [(p, r) for p, r, flag in made if flag[0]]
    eq([p for p, _ in made if not p.dropped], [],
       "probes of futures not dropped once allocations work again")
    eq(sum(r() is not None for _, r in made), 0,
       "results still alive once allocations work again")
