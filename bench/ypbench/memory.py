"""Memory: bytes held per suspended coroutine, each size in fresh children."""
import asyncio
import gc
import json
import os
import statistics

from .children import child_cmd, run_child
from .sides import Sides, load_impl, native_park


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
    """Print bytes held by args.n suspended coroutines (+ tasks) of one side."""
    impl = load_impl(args.impl, args.path)
    use_tm = args.tracemalloc
    if use_tm:
        import tracemalloc

    async def main():
        loop = asyncio.get_running_loop()
        ct, cf = loop.create_task, loop.create_future
        # warm-up: every code path and type once
        s = Sides(impl)
        for _ in range(3):
            await s.park(args.side, 1000, "loop")
        tasks = [None] * args.n            # preallocated: not in the delta
        gc.collect()
        if use_tm:
            tracemalloc.start()
            tm0 = tracemalloc.get_traced_memory()[0]
        rss0, heap0 = _rss_bytes(), _mallinfo_bytes()
        if args.side == "cand":
            park = impl.park
            for i in range(args.n):
                tasks[i] = ct(park())
        else:
            for i in range(args.n):
                tasks[i] = ct(native_park(cf()))
        await asyncio.sleep(0)             # all suspended now
        gc.collect()
        out = {"side": args.side, "n": args.n,
               "rss": _rss_bytes() - rss0}
        h1 = _mallinfo_bytes()
        if heap0 is not None and h1 is not None:
            out["heap"] = h1 - heap0
        if use_tm:
            out["tracemalloc"] = tracemalloc.get_traced_memory()[0] - tm0
            tracemalloc.stop()
        assert all(not t.done() for t in tasks[:100])
        print(json.dumps(out), flush=True)
        os._exit(0)                        # no teardown of n tasks

    asyncio.run(main())


def memory_metric(args, sizes, reps, log):
    base_cmd = child_cmd("_mem", args)
    res = {"sizes": sizes, "per_size": {}}
    for n in sizes:
        acc = {s: {"rss": [], "heap": [], "tracemalloc": []}
               for s in ("cand", "base")}
        for rep in range(reps):
            order = ("cand", "base") if rep % 2 == 0 else ("base", "cand")
            for side in order:
                for tm in (False, True):
                    cmd = base_cmd + ["--side", side, "--n", str(n)]
                    if tm:
                        cmd.append("--tracemalloc")
                    d = json.loads(run_child(cmd).stdout.strip().splitlines()[-1])
                    for k in ("rss", "heap") if not tm else ("tracemalloc",):
                        if k in d:
                            acc[side][k].append(d[k] / n)
        row = {}
        for side in ("cand", "base"):
            row[side] = {k: statistics.median(v) for k, v in acc[side].items() if v}
        row["ratio"] = {k: row["cand"][k] / row["base"][k]
                        for k in row["cand"] if k in row["base"] and row["base"][k]}
        res["per_size"][str(n)] = row
        log(f"  memory n={n:<7d} bytes/coroutine: cand rss {row['cand']['rss']:.0f}"
            f" heap {row['cand'].get('heap', 0):.0f} tm {row['cand'].get('tracemalloc', 0):.0f}"
            f" | base rss {row['base']['rss']:.0f} heap {row['base'].get('heap', 0):.0f}"
            f" tm {row['base'].get('tracemalloc', 0):.0f} | ratio rss {row['ratio']['rss']:.3f}")
    return res
