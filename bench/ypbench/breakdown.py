"""Memory per suspended coroutine, by object kind: what each byte of the
memory metric is, so that a regression points at its cause.

In the tracemalloc child (memory.mem_child), once all n tasks are
suspended, every task is walked (gc.get_referents, from the task, its
coroutine, the object it awaits, its name, its context and the weak
references to it) and each object it alone reaches (not one that existed
before the tasks were created, not one shared by two tasks) is charged,
sys.getsizeof bytes, to the kind of the root it was reached from.  What
no Python object accounts for comes from the allocators: the fixture's
PyMem allocations (tracemalloc, in the call that creates the coroutine)
and the C heap (glibc mallinfo2 in the other child, less Python's own
large blocks), where the engine's wakers and the fixture's registry live.
"""
import asyncio
import gc
import sys
import weakref

# The kinds, in the order the tables print them.
KINDS = [
    ("coroutine", "the coroutine object (native: with its frame)"),
    ("waiter", "what the coroutine yielded to the Task (native: the asyncio.Future)"),
    ("wakeup", "the Task's wake-up callback registered on the waiter, callback lists"),
    ("task", "the asyncio.Task"),
    ("context", "the Task's contextvars.Context copy"),
    ("task name", "the Task's name string (Task-N)"),
    ("task registry", "asyncio's all-tasks WeakSet: the weakref and its set slot"),
    ("fixture", "PyMem allocated by the fixture call besides the coroutine object"),
    ("C heap", "malloc: the engine's wakers, the fixture's registry (mallinfo2 "
               "less Python's large blocks)"),
]
WALKED = ("coroutine", "waiter", "wakeup", "task", "context", "task name",
          "task registry")


def new_coroutine(fn, *args):
    """Create the coroutine in this frame, so that tracemalloc tells what
    the fixture call allocates (fixture_pymem)."""
    return fn(*args)


NEW_CORO_LINES = range(new_coroutine.__code__.co_firstlineno,
                       new_coroutine.__code__.co_firstlineno + 4)


def compact_all_tasks():
    """Rebuild asyncio's all-tasks WeakSet's set: the dead tasks of the
    warm-up leave dummies in it, and when it resizes (tens of bytes per
    coroutine at 10^4) depends on them.  Every side then grows it from the
    same state."""
    reg = getattr(asyncio.tasks, "_all_tasks", None)
    if isinstance(getattr(reg, "data", None), set):
        reg.data = set(reg.data)


def all_tasks_table():
    """Bytes of asyncio's registry of all tasks (the WeakSet's set)."""
    reg = getattr(asyncio.tasks, "_all_tasks", None)
    data = getattr(reg, "data", None)
    return sys.getsizeof(data) if data is not None else 0


def walk(tasks, before_ids):
    """{kind: bytes, ...} summed over all tasks, plus "objects" and
    "gc_tracked" (counts of the objects charged)."""
    import contextvars
    info = {}                        # id -> [kind, size, owners, tracked]
    for t in tasks:
        waiter = getattr(t, "_fut_waiter", None)
        fixed = {id(waiter): "waiter"} if waiter is not None else {}
        # a coroutine that is its own waiter is charged as the coroutine
        fixed.update({id(t.get_coro()): "coroutine",
                      id(t.get_name()): "task name"})
        for r in gc.get_referents(t):
            if isinstance(r, contextvars.Context):
                fixed[id(r)] = "context"
        stack = [(t, "task")] + [(w, "task registry")
                                 for w in weakref.getweakrefs(t)]
        local = set()
        while stack:
            o, kind = stack.pop()
            i = id(o)
            if i in local or i in before_ids or isinstance(o, type):
                continue
            local.add(i)
            kind = fixed.get(i, kind)
            e = info.get(i)
            if e is not None:        # reached from another task: shared
                e[2] += 1
                continue
            info[i] = [kind, sys.getsizeof(o), 1, gc.is_tracked(o)]
            for r in gc.get_referents(o):
                k = kind
                if (getattr(r, "__self__", None) is t
                        or kind == "waiter" and isinstance(r, (list, tuple))):
                    k = "wakeup"     # the task's bound wake-up, its lists
                stack.append((r, k))
    out = {k: 0 for k in WALKED}
    out["objects"] = out["gc_tracked"] = 0
    for kind, size, owners, tracked in info.values():
        if owners == 1:
            out[kind] += size
            out["objects"] += 1
            out["gc_tracked"] += tracked
    return out


def fixture_pymem(snapshot, coro_size):
    """(bytes the fixture call allocated besides the coroutine objects,
    bytes in blocks > 512 B, which pymalloc takes from malloc)."""
    fixture = large = 0
    here = new_coroutine.__code__.co_filename
    for tr in snapshot.traces:
        f = tr.traceback[0]
        if (f.filename == here and f.lineno in NEW_CORO_LINES
                and tr.size != coro_size):
            fixture += tr.size
        if tr.size > 512:
            large += tr.size
    return fixture, large


def combine(m):
    """One side's breakdown, bytes per coroutine, from the medians of the
    plain children (rss, heap) and of the tracemalloc children
    (tracemalloc, the walk, fixture, py_large), all in `m`."""
    mem = tm = m
    out = {k: tm[k] for k in WALKED + ("fixture",) if k in tm}
    if "heap" in mem and "py_large" in tm:
        out["C heap"] = mem["heap"] - tm["py_large"]
    measured = tm["tracemalloc"] + out.get("C heap", 0)
    out["residue"] = measured - sum(out[k] for k, _ in KINDS if k in out)
    out["measured"] = measured
    out["rss"] = mem["rss"]
    out["slack"] = mem["rss"] - measured
    out["objects"] = tm.get("objects")
    out["gc_tracked"] = tm.get("gc_tracked")
    return out
