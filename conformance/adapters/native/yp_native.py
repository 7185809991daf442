"""yp_native -- the adapter-contract fixtures as ``async def`` coroutines.

The coroutine objects are CPython's own (``types.CoroutineType``); this module
only models, in Python, what a future-based implementation adds on top:

* a *poll* is one resumption of the coroutine body (``Probe.polls``);
* *drop* runs exactly once -- in the body's ``finally`` when it ends, or via
  ``weakref.finalize`` when a never-started coroutine is freed;
* a *Pending* and its *waker* use the running library's own primitives: an
  asyncio future woken by ``loop.call_soon_threadsafe`` from an OS thread
  (guarded against a closed loop), or trio's ``wait_task_rescheduled`` woken
  through ``TrioToken.run_sync_soon`` (anyio runs on either);
* a *cancel handle* is a ``try/except BaseException`` around the suspension,
  returning the thrown exception object (under trio, the ``Cancelled`` that
  arrives as an ``outcome.Error``);
* *borrows* are a flag on ``Counter`` taken on the first poll and released
  in ``finally``;
* *detach* is a blocking call through ``ctypes.CDLL`` (which releases the
  GIL); the attached flavour goes through ``ctypes.PyDLL`` (which does not).

The same source is compiled by Cython as the ``yp_cython`` adapter
(``../cython/yp_cython.pyx`` includes it), so it sticks to the subset of
Python that Cython 0.29 compiles into its own coroutine type.
"""
import asyncio
import ctypes
import math
import sys
import threading
import time
import weakref

__yp_conformance__ = {
    "contract": "1.5",
    "implementation": "native",
    # The implementation is the interpreter's own coroutine type.
    "version": "CPython " + ".".join(map(str, sys.version_info[:3])),
    "runtimes": ["asyncio", "uvloop", "trio", "anyio-asyncio", "anyio-trio"],
    "variants": {"borrow_timing": "first_poll", "arg_check": "call"},
    "cannot": {},
}


# --- suspension ----------------------------------------------------------------

class _Yield:
    """``await _Yield(x)`` yields x once.  What is sent back is a poll: None
    under asyncio (or by hand), an outcome under trio, where an
    ``outcome.Error`` is how trio delivers cancellation -- it is raised
    here, where a throw() would have surfaced."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __await__(self):
        sent = yield self.value
        _unwrap(sent)


def _unwrap(sent):
    if sent is not None and _outcome is not None \
            and isinstance(sent, _outcome.Error):
        sent.unwrap()


try:
    import outcome as _outcome
except ImportError:
    _outcome = None


def _running_trio():
    """The trio module when this thread runs a trio task (trio itself or
    anyio's trio backend), else None: asyncio, or no loop at all."""
    trio = sys.modules.get("trio")
    if trio is None:
        return None
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return None
    return trio


def _first_yield(coro):
    """The message an awaitable yields to trio (public functions only)."""
    msg = coro.send(None)
    coro.close()
    return msg


_trio_yield_now = []     # trio's cancel_shielded_checkpoint message, once


def _yield_now():
    """Woken during the poll: give the loop one turn and poll again --
    None for asyncio (like asyncio.sleep(0)), trio's
    cancel_shielded_checkpoint message under trio."""
    trio = _running_trio()
    if trio is None:
        return _Yield(None)
    if not _trio_yield_now:
        _trio_yield_now.append(
            _first_yield(trio.lowlevel.cancel_shielded_checkpoint()))
    return _Yield(_trio_yield_now[0])


class _Wait:
    """One Pending of a future, for the library that is running.

    asyncio: a future of the running loop, woken through
    ``loop.call_soon_threadsafe`` (``asyncio.get_running_loop()`` raises
    "no running event loop" outside one).  trio: ``wait_task_rescheduled``,
    woken through ``TrioToken.run_sync_soon``; the task to reschedule is
    held only while it is suspended on this wait, so a wake after the wait
    ended, after an abort (cancellation) or after ``trio.run`` returned
    reschedules nothing.  ``wake()`` may be called from any thread, any
    number of times, late."""
    __slots__ = ("loop", "fut", "trio", "token", "task", "woken")

    def __init__(self):
        self.woken = False
        self.task = None
        self.loop = self.fut = self.token = None
        self.trio = _running_trio()
        if self.trio is not None:
            self.token = self.trio.lowlevel.current_trio_token()
        else:
            self.loop = asyncio.get_running_loop()
            self.fut = self.loop.create_future()

    @property
    def done(self):
        return self.woken if self.fut is None else self.fut.done()

    def wake(self):
        self.woken = True
        try:
            if self.token is not None:
                self.token.run_sync_soon(self._reschedule)
            elif not self.loop.is_closed():
                self.loop.call_soon_threadsafe(self._release)
        except RuntimeError:
            pass           # the loop closed / trio.run returned meanwhile

    def _release(self):
        if not self.fut.done():
            self.fut.set_result(None)

    def _reschedule(self):
        # On trio's thread, inside the run: must never raise.
        task, self.task = self.task, None
        if task is not None:
            self.trio.lowlevel.reschedule(task)

    def _abort(self, raise_cancel):
        self.task = None   # disarmed: trio reschedules the task itself
        return self.trio.lowlevel.Abort.SUCCEEDED

    def __await__(self):
        """One real Pending (or a yield-now if already woken)."""
        if self.fut is not None:
            if self.fut.done():
                sent = yield None
            else:
                self.fut._asyncio_future_blocking = True
                sent = yield self.fut
        elif self.woken:
            sent = yield from _yield_now().__await__()
            return
        else:
            lowlevel = self.trio.lowlevel
            self.task = lowlevel.current_task()
            try:
                sent = yield _first_yield(
                    lowlevel.wait_task_rescheduled(self._abort))
            finally:
                self.task = None
        _unwrap(sent)


def _wake_after(wait, seconds):
    def run():
        time.sleep(seconds)
        wait.wake()
    threading.Thread(target=run, daemon=True).start()


def _seconds(obj, what):
    if isinstance(obj, bool) or not isinstance(obj, (int, float)):
        raise TypeError(f"{what} must be a number, not {type(obj).__name__}")
    s = float(obj)
    if math.isnan(s) or math.isinf(s) or s < 0:
        raise ValueError(f"{what} must be a non-negative finite number")
    return s


class _Drop:
    """Runs the drop action exactly once: at the end of the body, or when a
    coroutine that never started is freed."""
    __slots__ = ("action", "fin")

    def __init__(self, action):
        self.action = action
        self.fin = None

    def attach(self, coro, name, qualname=None):
        coro.__name__ = name
        coro.__qualname__ = qualname or name
        self.fin = weakref.finalize(coro, self.action)
        return coro

    def __call__(self):
        if self.fin is not None:
            self.fin()


def _noop():
    pass


# --- Probe ---------------------------------------------------------------------

class Probe:
    """Counts polls of a scripted future and records its drop."""
    __slots__ = ("polls", "dropped", "__weakref__")

    def __init__(self):
        self.polls = 0
        self.dropped = False

    def __repr__(self):
        return f"<Probe polls={self.polls} dropped={self.dropped}>"


# --- scripted ------------------------------------------------------------------

def _parse_step(step, index):
    if isinstance(step, str):
        if step in ("pending", "wake"):
            return step, None
        raise ValueError(f"malformed step {index}: unknown step {step!r}")
    if not (isinstance(step, tuple) and len(step) == 2
            and isinstance(step[0], str)):
        raise ValueError(f"malformed step {index}: expected \"pending\", "
                         f"\"wake\" or a (name, argument) tuple, got {step!r}")
    name, arg = step
    if name == "ready":
        return name, arg
    if name == "raise":
        if not (isinstance(arg, BaseException) or (
                isinstance(arg, type) and issubclass(arg, BaseException))):
            raise ValueError(f"malformed step {index}: (\"raise\", x) needs "
                             f"an exception instance or class, got "
                             f"{type(arg).__name__}")
        return name, arg
    if name == "call":
        if not callable(arg):
            raise ValueError(f"malformed step {index}: (\"call\", fn) needs a"
                             f" callable, got {type(arg).__name__}")
        return name, arg
    if name == "wake_after":
        try:
            return name, _seconds(arg, "wake_after delay")
        except (TypeError, ValueError) as e:
            raise ValueError(f"malformed step {index}: {e}") from None
    raise ValueError(f"malformed step {index}: unknown step {name!r}")


def scripted(steps, probe=None):
    """One step per poll; see conformance/ADAPTER.md."""
    if probe is not None and not isinstance(probe, Probe):
        raise TypeError(f"probe must be a Probe or None, not "
                        f"{type(probe).__name__}")
    if isinstance(steps, (str, bytes)) or not isinstance(steps, (list, tuple)):
        raise TypeError(f"steps must be a list or tuple of steps, not "
                        f"{type(steps).__name__}")
    parsed = [_parse_step(s, i) for i, s in enumerate(steps)]

    def dropped():
        if probe is not None:
            probe.dropped = True
    drop = _Drop(dropped)

    async def body():
        try:
            index = 0
            while True:
                if probe is not None:
                    probe.polls += 1
                if index >= len(parsed):
                    raise RuntimeError("script exhausted")
                kind, arg = parsed[index]
                index += 1
                depth = 0
                while kind == "call":
                    depth += 1
                    if depth > 100:
                        raise RuntimeError(
                            "scripted: more than 100 chained call steps")
                    kind, arg = _parse_step(arg(), index - 1)
                if kind == "ready":
                    return arg
                if kind == "raise":
                    raise arg
                if kind == "wake":
                    await _yield_now()
                    continue
                wait = _Wait()
                if kind == "wake_after":
                    _wake_after(wait, arg)
                await wait
        finally:
            drop()
    return drop.attach(body(), "scripted")


# --- the seed's examples ------------------------------------------------------

def sleep(seconds, result=None):
    """An OS thread sleeps, then wakes the task; completes with result."""
    s = _seconds(seconds, "seconds")

    async def body():
        wait = _Wait()
        _wake_after(wait, s)
        while not wait.done:
            await wait
        return result
    return _Drop(_noop).attach(body(), "sleep")


def cancellable():
    """Waits only for cancellation; completes with the exception thrown in."""
    async def body():
        try:
            wait = _Wait()
            while True:
                await wait
        except BaseException as exc:     # the cancel handle
            return exc
    return _Drop(_noop).attach(body(), "cancellable")


def cancellable_sleep(seconds, result=42):
    """result if the sleep ends first, else the thrown exception (returned)."""
    s = _seconds(seconds, "seconds")

    async def body():
        try:
            wait = _Wait()
            _wake_after(wait, s)
            while not wait.done:
                await wait
            return result
        except BaseException as exc:
            return exc
    return _Drop(_noop).attach(body(), "cancellable_sleep")


def sleep_loop():
    """1 ms sleeps until cancelled; completes with how many finished."""
    async def body():
        count = 0
        try:
            while True:
                wait = _Wait()
                _wake_after(wait, 0.001)
                # At least one suspension per sleep, as a C timer polled right
                # after it started: trio's wait is done as soon as the waking
                # thread ran, and a main thread descheduled for a millisecond
                # (a loaded host) would otherwise count a sleep without a yield.
                await wait
                while not wait.done:
                    await wait
                count += 1
        except BaseException:
            return count
    return _Drop(_noop).attach(body(), "sleep_loop")


def _race_sleep(pair, index):
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise TypeError(f"race(): sleep {index} must be a (seconds, result) "
                        f"tuple, not {type(pair).__name__}")
    return _seconds(pair[0], "seconds"), pair[1]


def _race_sleeper(wait, ended, index, seconds):
    time.sleep(seconds)
    ended[index] = True
    wait.wake()


def race(*sleeps):
    """(index, result) of the first of the (seconds, result) sleeps to end;
    no cancel handle.  Every sleep wakes the one task wait, as the branches
    of a select share the task's waker; the results stay in the body."""
    pairs = [_race_sleep(pair, i) for i, pair in enumerate(sleeps)]
    if not pairs:
        raise ValueError("race() needs one or more sleeps")

    async def body():
        wait = _Wait()
        ended = [False] * len(pairs)
        for i in range(len(pairs)):
            # Not a closure: Cython's would hold the whole scope, results
            # included, for as long as the thread sleeps.
            threading.Thread(target=_race_sleeper,
                             args=(wait, ended, i, pairs[i][0]),
                             daemon=True).start()
        while True:
            for i in range(len(pairs)):
                if ended[i]:
                    return (i, pairs[i][1])
            await wait
    return _Drop(_noop).attach(body(), "race")


# --- Counter: borrows ---------------------------------------------------------------

_counters = [0]


def counters_dropped():
    """How many Counter instances have been freed."""
    return _counters[0]


def _counter_freed():
    _counters[0] += 1


class Counter:
    """async get()/incr() borrow the counter (shared/exclusive) from their
    first poll until they end; value()/set() obey the same flag."""
    __slots__ = ("_value", "_borrow", "__weakref__")

    def __init__(self, value=0):
        if not isinstance(value, int):
            raise TypeError(f"Counter value must be int, not "
                            f"{type(value).__name__}")
        self._value = value
        self._borrow = 0          # >0: shared borrows, -1: exclusive
        weakref.finalize(self, _counter_freed)

    def _acquire(self, exclusive):
        if exclusive:
            if self._borrow != 0:
                raise RuntimeError("Already borrowed")
            self._borrow = -1
        else:
            if self._borrow < 0:
                raise RuntimeError("Already mutably borrowed")
            self._borrow += 1

    def _release(self, exclusive):
        self._borrow = 0 if exclusive else self._borrow - 1

    def _method(self, resolve, exclusive, name):
        if not isinstance(resolve, bool):
            raise TypeError(f"resolve must be bool, not "
                            f"{type(resolve).__name__}")

        async def body(counter):
            counter._acquire(exclusive)      # at the first poll
            try:
                if not resolve:
                    while True:              # never completes, never wakes
                        await _Wait()
                if exclusive:
                    counter._value += 1
                return counter._value
            finally:
                counter._release(exclusive)
        return _Drop(_noop).attach(body(self), name, "Counter." + name)

    def get(self, resolve=True):
        return self._method(resolve, False, "get")

    def incr(self, resolve=True):
        return self._method(resolve, True, "incr")

    def value(self):
        self._acquire(False)
        try:
            return self._value
        finally:
            self._release(False)

    def set(self, v):
        if not isinstance(v, int):
            raise TypeError(f"Counter value must be int, not "
                            f"{type(v).__name__}")
        self._acquire(True)
        self._value = v
        self._release(True)

    def __repr__(self):
        return f"<Counter value={self._value} borrow={self._borrow}>"


# --- attach / detach --------------------------------------------------------------

_attached = ctypes.PyDLL(None)     # calls keep the GIL
_detached = ctypes.CDLL(None)      # calls release the GIL


def gil_probe(detach, block_seconds):
    """First poll blocks for block_seconds (detached if detach); completes
    with whether the GIL was held while it blocked."""
    if not isinstance(detach, bool):
        raise TypeError(f"detach must be bool, not {type(detach).__name__}")
    s = _seconds(block_seconds, "block_seconds")
    usec = ctypes.c_uint(int(s * 1e6))

    async def body():
        if detach:
            _detached.usleep(usec)       # GIL released for the call
            return False
        held = bool(ctypes.pythonapi.PyGILState_Check())
        _attached.usleep(usec)
        return held
    return _Drop(_noop).attach(body(), "gil_probe")
