"""Memory: bytes held per suspended coroutine, each size in fresh children."""
import asyncio
import gc
import json
import os
import statistics
import sys

from .breakdown import (WALKED, all_tasks_table, combine, compact_all_tasks,
                        fixture_pymem, new_coroutine, walk)
from .children import child_cmd, run_child
from .sides import Sides, child_sides, load_impl, native_park
from .timing import round_order


def _mallinfo_bytes():
    """glibc heap in use (malloc'd chunks + mmapped chunks), or None."""
    try:
        import ctypes

        class MI2(ctypes.Structure):
            _fields_ = [(f, ctypes.c_size_t) for f in (
                "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                "fsmblks", "uordblks", "fordblks", "keepcost")]
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MI2
        mi = libc.mallinfo2()
        return mi.uordblks + mi.hblkhd
    except Exception:
        return None


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def mem_child(args):
    """Print bytes held by args.n suspended coroutines (+ tasks) of one side
    ('cand': the candidate args.impl; 'base': native asyncio).  With
    --tracemalloc, also the breakdown by kind (breakdown.py)."""
    cand = load_impl(args.impl, args.path)
    side = cand.label if args.side == "cand" else "base"
    use_tm = args.tracemalloc
    if use_tm:
        import tracemalloc

    async def main():
        loop = asyncio.get_running_loop()
        ct, cf = loop.create_task, loop.create_future
        # warm-up: every code path and type once
        s = Sides([cand])
        for _ in range(3):
            await s.park(side, 1000, "loop")
        tasks = [None] * args.n            # preallocated: not in the delta
        gc.collect()
        compact_all_tasks()
        if use_tm:
            before = gc.get_objects()      # kept alive: ids stay unique
            before_ids = set(map(id, before))
            before_ids.add(id(before))
            table0 = all_tasks_table()
            tracemalloc.start()
            tm0 = tracemalloc.get_traced_memory()[0]
        rss0, heap0 = _rss_bytes(), _mallinfo_bytes()
        if side != "base":
            park = cand.mod.park
            for i in range(args.n):
                tasks[i] = ct(new_coroutine(park))
        else:
            for i in range(args.n):
                tasks[i] = ct(new_coroutine(native_park, cf()))
        await asyncio.sleep(0)             # all suspended now
        gc.collect()
        out = {"side": args.side, "n": args.n,
               "rss": _rss_bytes() - rss0}
        h1 = _mallinfo_bytes()
        if heap0 is not None and h1 is not None:
            out["heap"] = h1 - heap0
        if use_tm:
            out["tracemalloc"] = tracemalloc.get_traced_memory()[0] - tm0
            snap = tracemalloc.take_snapshot()
            tracemalloc.stop()
            out["fixture"], out["py_large"] = fixture_pymem(
                snap, sys.getsizeof(tasks[0].get_coro()))
            del snap
            out.update(walk(tasks, before_ids))
            out["task registry"] += all_tasks_table() - table0
        assert all(not t.done() for t in tasks[:100])
        print(json.dumps(out), flush=True)
        os._exit(0)                        # no teardown of n tasks

    asyncio.run(main())


PLAIN = ("rss", "heap")
TRACED = ("tracemalloc", "fixture", "py_large", "objects", "gc_tracked") + WALKED


def memory_metric(args, cands, sizes, reps, log):
    """Every side at every size, in fresh children, the sides' order
    alternating per repetition: {sizes, per_size: {n: {sides, ratio,
    breakdown}}} (schema.py), bytes per coroutine."""
    res = {"sizes": sizes, "per_size": {}}
    for n in sizes:
        acc = {s: {} for s, _, _ in child_sides(cands)}
        for rep in range(reps):
            for side, c, child_side in round_order(child_sides(cands), rep):
                for tm in (False, True):
                    cmd = child_cmd("_mem", c.name, c.path) + [
                        "--side", child_side, "--n", str(n)]
                    if tm:
                        cmd.append("--tracemalloc")
                    d = json.loads(run_child(cmd).stdout.strip().splitlines()[-1])
                    for k in TRACED if tm else PLAIN:
                        if k in d:
                            acc[side].setdefault(k, []).append(d[k] / n)
        med = {s: {k: statistics.median(v) for k, v in a.items()}
               for s, a in acc.items()}
        row = {"sides": {s: {k: m[k] for k in ("rss", "heap", "tracemalloc")
                             if k in m} for s, m in med.items()},
               "breakdown": {s: combine(m) for s, m in med.items()}}
        base = row["sides"]["base"]
        row["ratio"] = {c.label: {k: v / base[k]
                                  for k, v in row["sides"][c.label].items()
                                  if base.get(k)} for c in cands}
        res["per_size"][str(n)] = row
        log(f"  memory n={n:<7d} bytes/coroutine:" + " |".join(
            f" {s} rss {m['rss']:.0f} heap {m.get('heap', 0):.0f}"
            f" tm {m.get('tracemalloc', 0):.0f}" for s, m in row["sides"].items()))
    return res
