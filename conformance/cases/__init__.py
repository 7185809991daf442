"""The conformance cases.

A case is a plain function in ``cases/<area>.py`` tagged with the clause IDs
it checks::

    @clause("send.ready-value")
    def ready_value(yp, way, loop):
        ...

It receives the adapter module ``yp``; a parameter named ``way`` makes it run
three ways ("ready", "wake", "later" -- see SPEC.md), a parameter named
``loop`` makes it run under every runtime ("asyncio", "uvloop", "trio",
"anyio-asyncio", "anyio-trio"; ``_runtime.py`` is the layer such a case is
written against), or under those named by ``runtimes=`` (a clause that is
asyncio's or trio's own).  A case
passes by returning, fails by raising (``AssertionError`` from the helpers in
``_support``), and skips by raising ``_support.Skip``.

``requires`` names capabilities an adapter may declare it ``cannot`` express
(fixture names, ``gil_probe.detach``, ``scripted.call``, ...); such cases SKIP
with the adapter's reason.
"""
import inspect

from ypkit.scripted import WAYS

from ._runtime import RUNTIMES, ASYNCIO_FAMILY, TRIO_FAMILY  # noqa: F401

AREAS = ("send", "asyncio", "trio", "pending", "throw", "borrow", "attach",
         "coro", "fixture")
LOOPS = RUNTIMES
ASYNCIO = ("asyncio", "uvloop")     # asyncio's own API (tasks, wait_for, ...)

REGISTRY = []


class Case:
    __slots__ = ("func", "area", "name", "id", "clauses", "requires",
                 "ways", "loops")

    def __init__(self, func, clauses, requires, runtimes=LOOPS):
        self.func = func
        self.area = func.__module__.rpartition(".")[2]
        self.name = func.__name__
        self.id = f"{self.area}::{self.name}"
        self.clauses = tuple(clauses)
        self.requires = tuple(requires)
        params = inspect.signature(func).parameters
        self.ways = WAYS if "way" in params else (None,)
        unknown = [r for r in runtimes if r not in LOOPS]
        if unknown:
            raise ValueError(f"{self.id}: unknown runtimes {unknown}")
        self.loops = tuple(runtimes) if "loop" in params else (None,)

    def instances(self, loops=LOOPS):
        for way in self.ways:
            for lp in self.loops:
                if lp is not None and lp not in loops:
                    continue
                yield instance_id(self.id, way, lp), way, lp


def instance_id(case_id, way, loop):
    return f"{case_id}[{way or '-'},{loop or '-'}]"


def clause(*ids, requires=(), runtimes=LOOPS):
    """Tag a case with the clause IDs it checks (at least one); runtimes=
    narrows the runtimes a case with a ``loop`` parameter runs under."""
    if not ids:
        raise TypeError("clause() needs at least one clause ID")

    def deco(func):
        REGISTRY.append(Case(func, ids, requires, runtimes))
        return func
    return deco


def load_all():
    """Import every area module; return the registry (in file order)."""
    import importlib
    for area in AREAS:
        importlib.import_module(f"{__name__}.{area}")
    return REGISTRY
