"""The runtimes a case runs under, behind one small runtime-neutral layer.

A case with a parameter ``loop`` receives a ``Runtime`` and writes its body
once, against this layer:

* ``rt.run(main)`` runs the async function ``main()`` in a fresh event loop
  of the runtime (with an overall timeout) and returns its result;
* ``rt.spawn(coro)`` (inside ``run``) starts a task: ``await t.wait()``
  gives its result or raises its error, ``await t.join()`` waits without
  raising, ``t.cancel()`` cancels it, ``t.cancelled()`` says whether it
  ended by that cancellation (then ``result()`` raises);
* ``rt.group()`` is a task group (nursery) whose ``spawn`` starts a member:
  when one member fails, the others are cancelled and the error leaves the
  ``async with`` (``rt.leaves(exc)`` gives the non-cancellation errors,
  whatever the runtime wraps them in);
* ``rt.move_on_after(s)`` / ``rt.fail_after(s)`` time out a scope
  (``fail_after`` raises ``rt.TimeoutError``);
* ``rt.gather(*aws)`` runs awaitables concurrently, results in order;
* ``rt.sleep(s)``, ``rt.checkpoint()``;
* by hand: ``classify(y)`` says what a yielded value means to the runtime
  (``"yield-now"``, ``"suspend"`` or ``None`` for a value it would reject),
  ``forward(y)`` hands a yielded value to the runtime the way ``await``
  would and returns what the runtime sends back (``None`` under asyncio, an
  ``outcome`` under trio).

Runtimes: ``asyncio`` and ``uvloop`` (asyncio's API on the stdlib or the
uvloop loop), ``trio``, ``anyio-asyncio`` and ``anyio-trio`` (anyio's API,
cancel scopes and task groups, on either backend).  One that cannot be
imported makes its instances SKIP with the reason.
"""
import asyncio
import warnings

RUNTIMES = ("asyncio", "uvloop", "trio", "anyio-asyncio", "anyio-trio")
# Runtimes where a Pending yields an asyncio future and a wake during the
# poll yields None, and where cancellation is a throw().
ASYNCIO_FAMILY = ("asyncio", "uvloop", "anyio-asyncio")
# Runtimes driven by trio's scheduler: wait_task_rescheduled messages,
# resumption by send(outcome), cancellation through abort_fn.
TRIO_FAMILY = ("trio", "anyio-trio")
# What an adapter that declares contract 1.0 (no "runtimes" key) claims.
DEFAULT_RUNTIMES = ("asyncio", "uvloop")

RUN_TIMEOUT = 15.0

_current = None        # the Runtime whose run() is executing


def current():
    return _current


def unavailable(name):
    """Why the runtime cannot run here (a string), or None when it can."""
    needs = {"uvloop": ("uvloop",), "trio": ("trio", "outcome"),
             "anyio-asyncio": ("anyio",),
             "anyio-trio": ("anyio", "trio", "outcome")}.get(name, ())
    for mod in needs:
        try:
            __import__(mod)
        except ImportError as e:
            return f"{name}: {mod} is not importable: {e}"
    return None


def _message(make):
    """The first value an awaitable yields to its runtime (trio's trap
    messages are reached through public functions this way)."""
    c = make()
    try:
        return c.send(None)
    finally:
        c.close()


class Runtime:
    """Base: what every runtime offers; see the module docstring."""

    library = None          # "asyncio" or "trio": what the scheduler is
    TimeoutError = TimeoutError

    def __init__(self, name):
        self.name = name
        self.record = None  # set by the harness: report an escaped error

    def __repr__(self):
        return self.name

    @property
    def trio_based(self):
        return self.library == "trio"

    # --- by hand ---------------------------------------------------------

    def forward(self, y):
        return _Forward(y)

    def run(self, main, timeout=RUN_TIMEOUT):
        global _current
        prev, _current = _current, self
        try:
            return self._run(main, timeout)
        finally:
            _current = prev


class _Forward:
    """``await _Forward(y)`` yields y to the runtime once and returns what
    the runtime sends back: what ``await coro`` does for each yield."""
    __slots__ = ("y",)

    def __init__(self, y):
        self.y = y

    def __await__(self):
        return (yield self.y)


# --- asyncio and uvloop ----------------------------------------------------------

class AsyncioRuntime(Runtime):
    library = "asyncio"
    TimeoutError = TimeoutError

    def __init__(self, name):
        super().__init__(name)
        if name == "asyncio":
            self.factory = asyncio.new_event_loop
        else:
            import uvloop
            self.factory = uvloop.new_event_loop
        self.cancelled_exc = asyncio.CancelledError

    def new_loop(self):
        loop = self.factory()
        loop.set_exception_handler(
            lambda lp, ctx: self.record and self.record(
                "loop", ctx.get("message", "") + " "
                + repr(ctx.get("exception"))))
        return loop

    def runner(self):
        return asyncio.Runner(loop_factory=self.new_loop)

    def _run(self, main, timeout):
        async def guarded():
            return await asyncio.wait_for(main(), timeout)
        with self.runner() as r:
            return r.run(guarded())

    def classify(self, y):
        if y is None:
            return "yield-now"
        if asyncio.isfuture(y) and \
                getattr(y, "_asyncio_future_blocking", False) is True:
            return "suspend"
        return None

    def spawn(self, coro):
        return _AsyncioTask(asyncio.ensure_future(coro))

    def group(self):
        return _AsyncioGroup()

    async def gather(self, *aws):
        return await asyncio.gather(*aws)

    def move_on_after(self, seconds):
        return _AsyncioMoveOn(seconds)

    def fail_after(self, seconds):
        return asyncio.timeout(seconds)      # raises TimeoutError

    async def sleep(self, seconds):
        await asyncio.sleep(seconds)

    async def checkpoint(self):
        await asyncio.sleep(0)

    def leaves(self, exc):
        return _leaves(exc, asyncio.CancelledError)


class _AsyncioTask:
    def __init__(self, task):
        self.task = task

    def cancel(self):
        self.task.cancel()

    def done(self):
        return self.task.done()

    def cancelled(self):
        return self.task.cancelled()

    async def join(self):
        await asyncio.wait({self.task})

    async def wait(self):
        return await self.task

    def result(self):
        return self.task.result()


class _AsyncioGroup:
    async def __aenter__(self):
        self.tg = asyncio.TaskGroup()
        await self.tg.__aenter__()
        return self

    async def __aexit__(self, *exc):
        return await self.tg.__aexit__(*exc)

    def spawn(self, coro):
        return _AsyncioTask(self.tg.create_task(coro))


class _AsyncioMoveOn:
    """trio's move_on_after in asyncio: a timeout that is swallowed."""

    def __init__(self, seconds):
        self.cm = asyncio.timeout(seconds)
        self.cancelled_caught = False

    async def __aenter__(self):
        await self.cm.__aenter__()
        return self

    async def __aexit__(self, *exc):
        try:
            return await self.cm.__aexit__(*exc)
        except TimeoutError:
            self.cancelled_caught = True
            return True


def _leaves(exc, cancelled):
    """The non-cancellation leaf exceptions of exc (groups flattened)."""
    if isinstance(exc, BaseExceptionGroup):         # noqa: F821 -- 3.11
        out = []
        for e in exc.exceptions:
            out += _leaves(e, cancelled)
        return out
    sub = getattr(exc, "exceptions", None)          # trio.MultiError
    if isinstance(sub, (list, tuple)):
        out = []
        for e in sub:
            out += _leaves(e, cancelled)
        return out
    return [] if isinstance(exc, cancelled) else [exc]


# --- trio and anyio: cancel scopes and nurseries ----------------------------------------

class ScopedRuntime(Runtime):
    """trio, or anyio on either backend: tasks live in a nursery / task
    group opened by run(); a task is cancelled through its own scope."""

    def __init__(self, name):
        super().__init__(name)
        import trio
        self._nursery = None
        self.yield_now_msg = None
        self.suspend_type = None
        if name in TRIO_FAMILY:
            self.library = "trio"
            self._trio_messages()
        else:
            self.library = "asyncio"
        if name == "trio":
            self.lib = trio
            self.cancelled_exc = trio.Cancelled
            self.TimeoutError = trio.TooSlowError
        else:
            with warnings.catch_warnings():
                # anyio 3.6 predates trio 0.22's MultiError deprecation.
                warnings.simplefilter("ignore")
                import anyio
                if name == "anyio-trio":
                    import anyio._backends._trio  # noqa: F401
            self.lib = anyio
            self.backend = name.split("-", 1)[1]
            self.TimeoutError = TimeoutError
            self.cancelled_exc = None           # known only inside run()

    def _trio_messages(self):
        import trio.lowlevel as tl
        self.yield_now_msg = _message(tl.cancel_shielded_checkpoint)
        self.suspend_type = type(_message(
            lambda: tl.wait_task_rescheduled(lambda raise_cancel: None)))

    def _run(self, main, timeout):
        lib = self.lib

        async def guarded():
            if self.name != "trio":
                self.cancelled_exc = lib.get_cancelled_exc_class()
            with lib.fail_after(timeout):
                async with self._open_group() as n:
                    self._nursery = n
                    try:
                        return await main()
                    finally:
                        # Tasks still running when main returns are
                        # cancelled, as asyncio.run does.
                        n.cancel_scope.cancel()
                        self._nursery = None
        if self.name == "trio":
            return lib.run(guarded)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            if self.backend == "trio":
                import trio
                warnings.simplefilter("ignore", trio.TrioDeprecationWarning)
            return lib.run(guarded, backend=self.backend)

    def _open_group(self):
        if self.name == "trio":
            return self.lib.open_nursery()
        return self.lib.create_task_group()

    def classify(self, y):
        if self.library == "asyncio":
            return AsyncioRuntime.classify(self, y)
        if y is self.yield_now_msg:
            return "yield-now"
        if isinstance(y, self.suspend_type):
            return "suspend"
        return None

    def spawn(self, coro):
        if self._nursery is None:
            raise RuntimeError("spawn() outside Runtime.run()")
        return _ScopedTask(self, self._nursery, coro, propagate=False)

    def group(self):
        return _ScopedGroup(self)

    async def gather(self, *aws):
        async with self.group() as g:
            ts = [g.spawn(a) for a in aws]
        return [t.result() for t in ts]

    def move_on_after(self, seconds):
        return _ScopeCM(self, self.lib.move_on_after(seconds))

    def fail_after(self, seconds):
        return _ScopeCM(self, self.lib.fail_after(seconds))

    async def sleep(self, seconds):
        await self.lib.sleep(seconds)

    async def checkpoint(self):
        await self.lib.sleep(0)

    def leaves(self, exc):
        return _leaves(exc, self.cancelled_exc)


class _ScopeCM:
    """A trio/anyio timeout scope as ``async with`` (asyncio.timeout is
    asynchronous, so cases write ``async with`` for every runtime), with
    ``cancelled_caught`` as trio has it (anyio 3.6's scopes lack it)."""

    def __init__(self, rt, cm):
        self.rt = rt
        self.cm = cm
        self.cancelled_caught = False

    async def __aenter__(self):
        self.cm.__enter__()
        return self

    async def __aexit__(self, et, e, tb):
        swallowed = self.cm.__exit__(et, e, tb)
        self.cancelled_caught = bool(swallowed) and et is not None and \
            issubclass(et, self.rt.cancelled_exc)
        return swallowed


class _ScopedTask:
    """A task in a nursery with its own cancel scope, read like an asyncio
    Task.  propagate=False (spawn): an error is kept for wait(), as a Task
    keeps it; propagate=True (a group member): it also fails the group."""

    def __init__(self, rt, nursery, coro, propagate):
        self.rt = rt
        self.scope = rt.lib.CancelScope()
        self.outcome = None           # ("value", v) | ("error", e)
        self.was_cancelled = False    # ended by its own scope's cancel()
        self.finished = rt.lib.Event()
        self.propagate = propagate
        self.coro = coro
        nursery.start_soon(self._body)

    async def _body(self):
        try:
            with self.scope:
                try:
                    self.outcome = ("value", await self.coro)
                except BaseException as e:          # noqa: B902
                    self.outcome = ("error", e)
                    if self.propagate or isinstance(e, self.rt.cancelled_exc):
                        raise
            # Reached with a cancellation only when this task's own scope
            # swallowed it (one from outside propagates).
            self.was_cancelled = self.outcome[0] == "error" and isinstance(
                self.outcome[1], self.rt.cancelled_exc)
        finally:
            self.finished.set()

    def cancel(self):
        self.scope.cancel()

    def done(self):
        return self.finished.is_set()

    def cancelled(self):
        return self.was_cancelled

    async def join(self):
        await self.finished.wait()

    async def wait(self):
        await self.join()
        return self.result()

    def result(self):
        if self.outcome is None:
            raise RuntimeError("the task has not finished")
        if self.cancelled():
            raise TaskCancelled("the task ended by its cancel()")
        kind, v = self.outcome
        if kind == "error":
            raise v
        return v


class TaskCancelled(Exception):
    """What wait()/result() raise for a task that ended by its cancel()
    under trio or anyio (their Cancelled must not leave its scope)."""


class _ScopedGroup:
    def __init__(self, rt):
        self.rt = rt

    async def __aenter__(self):
        self.cm = self.rt._open_group()
        self.n = await self.cm.__aenter__()
        return self

    async def __aexit__(self, *exc):
        return await self.cm.__aexit__(*exc)

    def spawn(self, coro):
        return _ScopedTask(self.rt, self.n, coro, propagate=True)


def make(name):
    """The Runtime for a name; raises LookupError with the reason when it
    cannot be imported here."""
    if name not in RUNTIMES:
        raise ValueError(name)
    why = unavailable(name)
    if why:
        raise LookupError(why)
    if name in ("asyncio", "uvloop"):
        return AsyncioRuntime(name)
    return ScopedRuntime(name)
