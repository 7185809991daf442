"""Driven by asyncio: run, await, tasks, gather, wait_for, TaskGroup, timeout."""
import asyncio
import sys
import types

from . import ASYNCIO, clause
from ._support import LATER, Skip, eq, same, steps


@clause("asyncio.run", runtimes=ASYNCIO)
def run(yp, way, loop):
    obj = object()
    with loop.runner() as r:
        same(r.run(yp.scripted(steps(way, ("ready", obj)))), obj,
             "Runner.run result")
    with loop.runner() as r:
        eq(r.run(yp.sleep(0.01, "slept")), "slept", "Runner.run(sleep())")


@clause("asyncio.create-task", runtimes=ASYNCIO)
def create_task(yp, way, loop):
    async def main():
        t1 = asyncio.create_task(yp.scripted(steps(way, ("ready", "t1"))))
        t2 = asyncio.ensure_future(yp.scripted(steps(way, ("ready", "t2"))))
        t3 = asyncio.get_running_loop().create_task(yp.sleep(0.01, "t3"))
        return await t1, await t2, await t3, t1.result()
    eq(loop.run(main), ("t1", "t2", "t3", "t1"), "task results")


@clause("asyncio.gather", runtimes=ASYNCIO)
def gather(yp, way, loop):
    async def main():
        coros = [yp.scripted(steps(way, ("ready", i))) for i in range(20)]
        coros.append(yp.sleep(0.02, "s"))
        return await asyncio.gather(*coros)
    eq(loop.run(main), list(range(20)) + ["s"], "gather results")


@clause("asyncio.wait-for", runtimes=ASYNCIO)
def wait_for(yp, way, loop):
    async def main():
        a = await asyncio.wait_for(yp.scripted(steps(way, ("ready", "a"))), 5)
        b = await asyncio.wait_for(yp.sleep(0.01, "b"), 5)
        return a, b
    eq(loop.run(main), ("a", "b"), "wait_for results")


@clause("asyncio.taskgroup", runtimes=ASYNCIO)
def taskgroup(yp, way, loop):
    async def main():
        async with asyncio.TaskGroup() as tg:
            ts = [tg.create_task(yp.scripted(steps(way, ("ready", i))))
                  for i in range(5)]
            ts.append(tg.create_task(yp.sleep(0.01, "s")))
        return [t.result() for t in ts]
    eq(loop.run(main), [0, 1, 2, 3, 4, "s"], "TaskGroup results")


@clause("asyncio.timeout", runtimes=ASYNCIO)
def timeout(yp, way, loop):
    async def main():
        async with asyncio.timeout(5):
            a = await yp.scripted(steps(way, ("ready", "a")))
            b = await yp.sleep(0.01, "b")
        return a, b
    eq(loop.run(main), ("a", "b"), "results inside asyncio.timeout")


@clause("asyncio.await", runtimes=("asyncio",))
def await_beside_broken_trio(yp, loop):
    """trio imported while its sniffio is broken -- cannot be imported any
    more, or its current_async_library_cvar is not a ContextVar -- changes
    nothing under asyncio: an implementation that asks which library
    drives it falls back to asyncio.  It may report the problem through
    sys.unraisablehook, which this case catches."""
    try:
        import trio  # noqa: F401 -- imported, as a program beside us would
    except ImportError:
        raise Skip("needs trio (Debian: python3-trio)") from None
    saved = sys.modules.get("sniffio")
    hooked = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = hooked.append
    try:
        for what, broken in (
                ("cannot be imported", None),
                ("has no ContextVar",
                 types.SimpleNamespace(current_async_library_cvar=object()))):
            sys.modules["sniffio"] = broken

            async def main():
                return await yp.scripted([("wake_after", LATER),
                                          ("ready", "a")])
            eq(loop.run(main), "a", f"result beside a trio whose sniffio "
               f"{what}")
    finally:
        sys.unraisablehook = old_hook
        if saved is None:
            sys.modules.pop("sniffio", None)
        else:
            sys.modules["sniffio"] = saved
