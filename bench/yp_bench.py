#!/usr/bin/python3.11
"""yieldpoint benchmarks: a C-future implementation vs CPython's own coroutines.

One command (bench/run) measures, interleaved in one process, every metric of
issue #6 against its asyncio baseline and prints a table of ratios
(candidate / baseline) with the targets; it also writes results.json and
results.png (matplotlib, Agg).  See bench/README.md.

Subcommands (the default is `run`):

  run       the benchmark (wall clock, interleaved; memory in fresh children;
            --callgrind adds instruction counts and per-function profiles)
  readme    regenerate the results section of bench/README.md from a JSON
  _mem, _cg internal: one memory / one callgrind child process

The candidate is any module exporting the five fixtures noop, yield_now,
park, wake_parked and wake_parked_from_thread (--impl MODULE --path DIR).
"""
import argparse
import asyncio
import gc
import importlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYTHON = "/usr/bin/python3.11"
DEFAULT_PATH = os.path.join(ROOT, "build", "default", "python")
FIXTURES = ("noop", "yield_now", "park", "wake_parked", "wake_parked_from_thread")
BATCH = 1000   # coroutines parked and woken at a time

perf_ns = time.perf_counter_ns

# (key, title, baseline description, target ratio or None)
METRICS = [
    ("ready", "ready-await", "async def f(): return 42", 0.9),
    ("yield", "yield-now", "async def f(): await asyncio.sleep(0); return 42", 1.0),
    ("park_loop", "park/wake, loop thread, 1,000 at a time",
     "tasks awaiting loop.create_future(), call_soon(fut.set_result, None)", 0.9),
    ("park_thread", "park/wake, foreign thread, 1,000 at a time",
     "one thread: loop.call_soon_threadsafe(fut.set_result, None) per wake", 0.6),
    ("memory", "memory per suspended coroutine + task (RSS)",
     "async def awaiting a loop future, in a Task", 0.6),
    ("scaling", "park/wake cost per coroutine at 10^6 vs 10^3 (candidate)",
     "the candidate at 10^3", 1.2),
]
METRIC_INFO = {m[0]: m for m in METRICS}


# ---------------------------------------------------------------------------
# The implementations.

def load_impl(name, path):
    if path:
        sys.path.insert(0, os.path.abspath(path))
    mod = importlib.import_module(name)
    missing = [f for f in FIXTURES if not callable(getattr(mod, f, None))]
    if missing:
        raise SystemExit(f"{name} ({getattr(mod, '__file__', '?')}) lacks "
                         f"fixtures: {', '.join(missing)}")
    return mod


async def native_ready():
    return 42


async def native_yield():
    await asyncio.sleep(0)
    return 42


async def native_park(fut):
    await fut
    return 42


class Sides:
    """Per side ('cand' or 'base'): one block of each timed operation.

    Every block returns (elapsed_ns, ops[, extra]) and checks its results
    outside the timed region."""

    def __init__(self, impl):
        self.impl = impl

    # -- ready-await and yield-now: one driver coroutine, n awaits.
    async def ready(self, side, n):
        f = self.impl.noop if side == "cand" else native_ready
        r = None
        t0 = perf_ns()
        for _ in range(n):
            r = await f()
        t1 = perf_ns()
        assert r == 42, r
        return t1 - t0, n

    async def yield_(self, side, n):
        f = self.impl.yield_now if side == "cand" else native_yield
        r = None
        t0 = perf_ns()
        for _ in range(n):
            r = await f()
        t1 = perf_ns()
        assert r == 42, r
        return t1 - t0, n

    # -- park / wake: `size` tasks parked, then all woken, then all done.
    async def _finish(self, tasks):
        last = tasks[-1]
        while not last.done():
            await asyncio.sleep(0)
        if not all(t.done() for t in tasks):      # never seen; stay correct
            await asyncio.gather(*tasks)

    def _check(self, tasks):
        bad = [t for t in tasks if t.result() != 42]
        assert not bad, bad[:3]

    async def park(self, side, size, how="loop"):
        """One cycle; returns (ns, size, park_ns, wake_ns)."""
        loop = asyncio.get_running_loop()
        ct = loop.create_task
        sleep = asyncio.sleep
        impl = self.impl
        if side == "cand":
            park = impl.park
            t0 = perf_ns()
            tasks = [ct(park()) for _ in range(size)]
            await sleep(0)                    # every task runs up to its park
            t1 = perf_ns()
            woken = (impl.wake_parked() if how == "loop"
                     else impl.wake_parked_from_thread())
            await self._finish(tasks)
            t2 = perf_ns()
            assert woken == size, (woken, size)
        else:
            cf = loop.create_future
            t0 = perf_ns()
            futs = [cf() for _ in range(size)]
            tasks = [ct(native_park(f)) for f in futs]
            await sleep(0)
            t1 = perf_ns()
            if how == "loop":
                cs = loop.call_soon
                for f in futs:
                    cs(f.set_result, None)
            else:
                th = threading.Thread(target=_threadsafe_wake,
                                      args=(loop, futs))
                th.start()
                th.join()                     # the loop thread waits
            await self._finish(tasks)
            t2 = perf_ns()
        self._check(tasks)
        return t2 - t0, size, t1 - t0, t2 - t1

    async def block(self, metric, side, n):
        """n: awaits for ready/yield, cycles of BATCH for park metrics."""
        if metric == "ready":
            return await self.ready(side, n)
        if metric == "yield":
            return await self.yield_(side, n)
        how = "loop" if metric == "park_loop" else "thread"
        tot = ops = pk = wk = 0
        for _ in range(n):
            a, b, c, d = await self.park(side, BATCH, how)
            tot += a
            ops += b
            pk += c
            wk += d
        return tot, ops, pk, wk


def _threadsafe_wake(loop, futs):
    cst = loop.call_soon_threadsafe
    for f in futs:
        cst(f.set_result, None)


# ---------------------------------------------------------------------------
# Statistics.

def quantile(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summarize(xs):
    return {"median": statistics.median(xs), "p25": quantile(xs, 0.25),
            "p75": quantile(xs, 0.75), "min": min(xs), "max": max(xs),
            "n": len(xs)}


# ---------------------------------------------------------------------------
# Wall-clock: interleaved rounds.

async def timed_metric(sides, metric, rounds, block_ms, log):
    """Calibrate a block size, warm up, then `rounds` rounds of one
    candidate block and one baseline block, the order alternating."""
    unit = 1 if metric.startswith("park") else 256
    n = unit
    while True:                      # calibrate on the baseline
        gc.collect()
        ns = (await sides.block(metric, "base", n))[0]
        if ns >= block_ms * 1e6 or n >= unit * 4096:
            break
        n = max(n + unit, int(n * min(8, block_ms * 1e6 / max(ns, 1) * 1.2)))
        n = (n + unit - 1) // unit * unit
    for side in ("cand", "base"):    # warm-up
        await sides.block(metric, side, n)
    per = {"cand": [], "base": []}
    phases = {"cand": {"park": [], "wake": []}, "base": {"park": [], "wake": []}}
    ratios = []
    for r in range(rounds):
        order = ("cand", "base") if r % 2 == 0 else ("base", "cand")
        got = {}
        for side in order:
            gc.collect()
            res = await sides.block(metric, side, n)
            got[side] = res[0] / res[1]
            per[side].append(got[side])
            if len(res) > 2:
                phases[side]["park"].append(res[2] / res[1])
                phases[side]["wake"].append(res[3] / res[1])
        ratios.append(got["cand"] / got["base"])
    out = {"block": n, "rounds": rounds,
           "cand_ns": summarize(per["cand"]), "base_ns": summarize(per["base"]),
           "ratio": summarize(ratios)}
    if phases["cand"]["park"]:
        out["phases_ns"] = {s: {p: statistics.median(v) for p, v in ph.items()}
                            for s, ph in phases.items()}
    log(f"  {metric:12s} block={n:<7d} cand {out['cand_ns']['median']:9.1f} ns"
        f"  base {out['base_ns']['median']:9.1f} ns"
        f"  ratio {out['ratio']['median']:.3f}"
        f" [{out['ratio']['p25']:.3f}..{out['ratio']['p75']:.3f}]")
    return out


async def scaling_metric(sides, sizes, reps, log, with_base_upto, big_reps=1):
    """Park `size` coroutines at once, wake them all, let all finish: cost
    per coroutine at each size.  Sizes interleaved within each repetition;
    small sizes repeat their cycle so each measurement covers >= 10^5
    coroutines (or one cycle, if bigger).  Measured twice: with the cyclic
    GC on (the default interpreter, the headline) and off (the engine's and
    asyncio's own scaling, without the collector's full-heap passes)."""
    res = {"sizes": sizes}
    samples = {(g, side, s): [] for g in ("gc", "nogc")
               for side in ("cand", "base") for s in sizes}
    for rep in range(reps):
        for size in sizes:
            if size >= 1_000_000 and rep >= big_reps:
                continue
            cycles = max(1, 100_000 // size)
            for g in ("gc", "nogc"):
                for side in ("cand", "base"):
                    if side == "base" and size > with_base_upto:
                        continue
                    gc.collect()
                    if g == "nogc":
                        gc.disable()
                    try:
                        tot = ops = 0
                        for _ in range(cycles):
                            a, b, _, _ = await sides.park(side, size, "loop")
                            tot += a
                            ops += b
                    finally:
                        gc.enable()
                    samples[(g, side, size)].append(tot / ops)
                    log(f"  scaling rep {rep} size {size:>8d} {side} {g:4s}: "
                        f"{tot / ops:8.1f} ns/coroutine")
    for g in ("gc", "nogc"):
        for side in ("cand", "base"):
            key = f"{side}_ns" if g == "gc" else f"{side}_nogc_ns"
            d = res[key] = {str(s): summarize(samples[(g, side, s)])
                            for s in sizes if samples[(g, side, s)]}
            first = d.get(str(sizes[0]))
            if first:
                res[key.replace("_ns", "_vs_first")] = {
                    k: v["median"] / first["median"] for k, v in d.items()}
    return res


# ---------------------------------------------------------------------------
# Memory: fresh child processes.

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


def run_child(cmd, env=None, timeout=900):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env,
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"child failed ({p.returncode}): {' '.join(cmd)}\n"
                           f"{p.stderr[-3000:]}")
    return p


def memory_metric(args, sizes, reps, log):
    base_cmd = [PYTHON, os.path.abspath(__file__), "_mem", "--impl", args.impl]
    if args.path:
        base_cmd += ["--path", args.path]
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


# ---------------------------------------------------------------------------
# Callgrind: one process per metric x side x iteration count.

CG_METRICS = ("ready", "yield", "park_loop", "park_thread")
# (warm-up, n1, n2): ops for ready/yield, cycles of BATCH for park metrics.
CG_COUNTS = {"ready": (500, 1000, 6000), "yield": (500, 1000, 6000),
             "park_loop": (1, 1, 5), "park_thread": (1, 1, 5)}
CG_COUNTS_QUICK = {"ready": (100, 200, 1200), "yield": (100, 200, 1200),
                   "park_loop": (1, 1, 2), "park_thread": (1, 1, 2)}


def cg_child(args):
    impl = load_impl(args.impl, args.path)
    s = Sides(impl)

    async def main():
        await s.block(args.metric, args.side, args.warm)
        gc.collect()
        await s.block(args.metric, args.side, args.n)

    asyncio.run(main())


def _cg_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


_ANN_RE = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*?)\s*$")


def _cg_functions(path, inclusive):
    """{function label: Ir} from callgrind_annotate.  Labels are shortened
    to "file.c:function [object]"; recursion levels (f'2) are merged for
    exclusive counts (for inclusive ones only the outermost level is kept)."""
    cmd = ["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
           "--threshold=100", path]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    funcs = {}
    started = False
    for line in out.splitlines():
        if not started:
            if re.search(r"file:function", line):
                started = True
            continue
        if not line.strip() or line.startswith("--"):
            if funcs and not line.strip():
                break
            continue
        m = _ANN_RE.match(line)
        if not m:
            continue
        text = m.group(2)
        obj = re.search(r"\s*\[([^\]]*)\]\s*$", text)
        if obj:
            text = text[:obj.start()]
        fname, _, func = text.rpartition(":")
        rec = re.search(r"'(\d+)$", func)
        if rec:
            if inclusive:
                continue
            func = func[:rec.start()]
        label = f"{os.path.basename(fname)}:{func}"
        if obj:
            label += f" [{os.path.basename(obj.group(1))}]"
        funcs[label] = funcs.get(label, 0) + int(m.group(1).replace(",", ""))
    return funcs


_INC_RE = re.compile(r"PyGILState|PyThreadState|PyEval_(Save|Restore|Acquire|Release)"
                     r"|take_gil|drop_gil|\[(?!python3|libc|ld-linux)[^\]]*\.so\]")


def _inclusive_keep(label):
    return bool(_INC_RE.search(label))


def callgrind_metric(args, quick, outdir, log, want):
    counts = CG_COUNTS_QUICK if quick else CG_COUNTS
    cgdir = os.path.abspath(args.cg_dir)
    os.makedirs(cgdir, exist_ok=True)
    jobs = []
    metrics = [m for m in CG_METRICS if want(m)]
    for metric in metrics:
        warm, n1, n2 = counts[metric]
        for side in ("cand", "base"):
            for n in (n1, n2):
                out = os.path.join(cgdir, f"{metric}.{side}.{n}.out")
                cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                       PYTHON, os.path.abspath(__file__), "_cg", "--impl", args.impl,
                       "--metric", metric, "--side", side, "--warm", str(warm),
                       "--n", str(n)]
                if args.path:
                    cmd += ["--path", args.path]
                jobs.append((metric, side, n, out, cmd))
    env = dict(os.environ, PYTHONHASHSEED="0")
    from concurrent.futures import ThreadPoolExecutor
    if getattr(args, "cg_reuse", False):     # re-analyse existing files
        jobs_to_run = [j for j in jobs if not os.path.exists(j[3])]
    else:
        jobs_to_run = jobs
    with ThreadPoolExecutor(max_workers=args.jobs) as ex:
        futs = [ex.submit(run_child, j[4], env, 1800) for j in jobs_to_run]
        for f in futs:
            f.result()
    totals = {(m, s, n): _cg_total(o) for m, s, n, o, _ in jobs}
    res = {}
    for metric in metrics:
        warm, n1, n2 = counts[metric]
        ops = (n2 - n1) * (BATCH if metric.startswith("park") else 1)
        row = {"ops": ops}
        for side in ("cand", "base"):
            row[f"{side}_ir"] = (totals[(metric, side, n2)]
                                 - totals[(metric, side, n1)]) / ops
        row["ratio"] = row["cand_ir"] / row["base_ir"]
        # per-function profile of the measured region (run n2 minus run n1)
        row["profile"] = {}
        for side in ("cand", "base"):
            prof = {}
            for inc in (False, True):
                f2 = _cg_functions(os.path.join(cgdir, f"{metric}.{side}.{n2}.out"), inc)
                f1 = _cg_functions(os.path.join(cgdir, f"{metric}.{side}.{n1}.out"), inc)
                diff = {k: (v - f1.get(k, 0)) / ops for k, v in f2.items()}
                if inc:   # extension modules and thread-state work only
                    diff = {k: v for k, v in diff.items() if _inclusive_keep(k)}
                top = sorted(diff.items(), key=lambda kv: -kv[1])[:25]
                prof["inclusive" if inc else "exclusive"] = [
                    [k, round(v, 1)] for k, v in top if v > 0.5]
            row["profile"][side] = prof
        res[metric] = row
        log(f"  callgrind {metric:12s} cand {row['cand_ir']:10.0f} Ir/op"
            f"  base {row['base_ir']:10.0f} Ir/op  ratio {row['ratio']:.3f}")
    return res


# ---------------------------------------------------------------------------
# Report.

def verdict(ratio, target):
    if ratio is None or target is None:
        return "-"
    return "PASS" if ratio <= target else "MISS"


def table_rows(R):
    rows = []
    w = R.get("wall", {})
    cg = R.get("callgrind", {})
    for key, title, base, target in METRICS:
        row = {"key": key, "title": title, "baseline": base, "target": target,
               "ratio": None, "spread": "", "cand": "", "base": "", "cg": ""}
        if key in w:
            m = w[key]
            row["ratio"] = m["ratio"]["median"]
            row["spread"] = f"{m['ratio']['p25']:.2f}-{m['ratio']['p75']:.2f}"
            row["cand"] = f"{m['cand_ns']['median']:.0f} ns"
            row["base"] = f"{m['base_ns']['median']:.0f} ns"
        elif key == "memory" and "memory" in R:
            sizes = R["memory"]["per_size"]
            big = max(sizes, key=int)
            m = sizes[big]
            row["ratio"] = m["ratio"]["rss"]
            row["spread"] = "n=" + ",".join(f"{int(k):.0e}".replace("e+0", "e")
                                            for k in sizes)
            row["cand"] = f"{m['cand']['rss']:.0f} B"
            row["base"] = f"{m['base']['rss']:.0f} B"
        elif key == "scaling" and "scaling" in R:
            s = R["scaling"]
            last = str(s["sizes"][-1])
            row["ratio"] = s["cand_vs_first"].get(last)
            row["title"] = (f"park/wake cost per coroutine at "
                            f"{int(last):.0e} vs {s['sizes'][0]:.0e}".replace("e+0", "e"))
            row["cand"] = f"{s['cand_ns'][last]['median']:.0f} ns"
            row["base"] = f"{s['cand_ns'][str(s['sizes'][0])]['median']:.0f} ns"
            row["spread"] = ", ".join(f"{v:.2f}" for v in s["cand_vs_first"].values())
        if key in cg:
            row["cg"] = (f"{cg[key]['cand_ir']:.0f} / {cg[key]['base_ir']:.0f}"
                         f" = {cg[key]['ratio']:.2f}")
        row["verdict"] = verdict(row["ratio"], target)
        rows.append(row)
    return rows


def format_table(R, markdown=False):
    rows = table_rows(R)
    hdr = ["metric", "candidate", "baseline", "ratio", "spread (p25-p75)",
           "target", "verdict", "callgrind Ir/op cand / base = ratio"]
    body = []
    for r in rows:
        body.append([r["title"], r["cand"], r["base"],
                     "n/a" if r["ratio"] is None else f"{r['ratio']:.3f}",
                     r["spread"], f"<= {r['target']}", r["verdict"] if r["ratio"] is not None else "n/a",
                     r["cg"] or "-"])
    if markdown:
        lines = ["| " + " | ".join(hdr) + " |",
                 "|" + "|".join("---" for _ in hdr) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in b) + " |" for b in body]
        return "\n".join(lines)
    widths = [max(len(hdr[i]), *(len(b[i]) for b in body)) for i in range(len(hdr))]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    lines = [fmt.format(*hdr), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*b) for b in body]
    return "\n".join(lines)


def draw_chart(R, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in table_rows(R) if r["ratio"] is not None]
    has_scaling = "scaling" in R
    fig, axes = plt.subplots(1, 2 if has_scaling else 1,
                             figsize=(14 if has_scaling else 8, 5.5),
                             squeeze=False)
    ax = axes[0][0]
    xs = range(len(rows))
    ratios = [r["ratio"] for r in rows]
    colors = ["tab:green" if r["verdict"] == "PASS" else "tab:red" for r in rows]
    ax.bar(xs, ratios, color=colors, alpha=0.8, label="measured ratio")
    for i, r in enumerate(rows):
        ax.hlines(r["target"], i - 0.4, i + 0.4, colors="black",
                  linestyles="dashed", label="target" if i == 0 else None)
        w = R.get("wall", {}).get(r["key"])
        if w:
            ax.errorbar(i, w["ratio"]["median"],
                        yerr=[[w["ratio"]["median"] - w["ratio"]["p25"]],
                              [w["ratio"]["p75"] - w["ratio"]["median"]]],
                        color="black", capsize=4)
        cg = R.get("callgrind", {}).get(r["key"])
        if cg:
            ax.plot(i, cg["ratio"], "D", color="tab:blue",
                    label="callgrind Ir ratio" if i == 0 else None)
        ax.text(i, r["ratio"], f"{r['ratio']:.2f}", ha="center", va="bottom")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(list(xs))
    ax.set_xticklabels([r["key"] for r in rows], rotation=20)
    ax.set_ylabel("candidate / baseline (lower is better)")
    ax.set_title(f"{R['meta']['impl']} vs asyncio native")
    ax.legend(loc="upper left", fontsize=8)
    if has_scaling:
        ax = axes[0][1]
        s = R["scaling"]
        for side, label in (("cand", R["meta"]["impl"]), ("base", "native asyncio"),
                            ("cand_nogc", R["meta"]["impl"] + ", gc off"),
                            ("base_nogc", "native asyncio, gc off")):
            d = s.get(f"{side}_ns")
            if d:
                ks = sorted(d, key=int)
                ax.errorbar([int(k) for k in ks], [d[k]["median"] for k in ks],
                            yerr=[[d[k]["median"] - d[k]["min"] for k in ks],
                                  [d[k]["max"] - d[k]["median"] for k in ks]],
                            marker="o", capsize=3, label=label,
                            linestyle="--" if "nogc" in side else "-")
        ax.set_xscale("log")
        ax.set_xlabel("coroutines parked at once")
        ax.set_ylabel("park+wake+finish, ns per coroutine")
        ax.set_title("scaling (flat is the target)")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    fig.suptitle(f"yieldpoint bench — {R['meta']['host']} "
                 f"({R['meta']['when']}, noisy shared machine)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def profile_text(R, top=15):
    cg = R.get("callgrind", {})
    out = []
    for metric in CG_METRICS:
        if metric not in cg:
            continue
        for side in ("cand", "base"):
            p = cg[metric]["profile"][side]
            out.append(f"### {metric} / {side}: {cg[metric][side + '_ir']:.0f} Ir per op")
            for kind in ("exclusive", "inclusive"):
                out.append(f"  {kind}:")
                for name, ir in p[kind][:top]:
                    out.append(f"    {ir:10.1f}  {name}")
    return "\n".join(out)


# ---------------------------------------------------------------------------
# README regeneration.

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def readme_section(R):
    m = R["meta"]
    lines = [f"Generated by `bench/yp_bench.py readme {os.path.relpath(m['json'], ROOT) if m.get('json') else 'results.json'}` "
             f"from a run on {m['when']}: host `{m['host']}`, {m['cpus']} CPUs, "
             f"{m['python']}, candidate `{m['impl']}` from `{m['impl_file']}`"
             f"{', quick mode' if m.get('quick') else ''}. "
             "The machine is shared and noisy: wall-clock ratios are medians of "
             "paired, interleaved rounds; the callgrind column is deterministic.",
             "", format_table(R, markdown=True), ""]
    if "memory" in R:
        lines += ["Memory, bytes per suspended coroutine with its task "
                  "(fresh process per measurement; RSS = everything, "
                  "heap = glibc malloc incl. the engine's own mallocs, "
                  "tracemalloc = Python allocators only):", "",
                  "| n | side | RSS | malloc heap | tracemalloc |", "|---|---|---|---|---|"]
        for n, row in R["memory"]["per_size"].items():
            for side in ("cand", "base", "ratio"):
                d = row[side]
                fmtv = (lambda v: f"{v:.2f}") if side == "ratio" else (lambda v: f"{v:.0f}")
                lines.append(f"| {n} | {side} | " + " | ".join(
                    fmtv(d[k]) if k in d else "-" for k in ("rss", "heap", "tracemalloc")) + " |")
        lines.append("")
    if "scaling" in R:
        s = R["scaling"]
        lines += ["Scaling, park+wake+finish cost per coroutine with that many parked at once "
                  "(median ns; ratio to the smallest size; \"no GC\" = gc.disable() during the cycle):", "",
                  "| coroutines at once | candidate ns | ratio | candidate ns, no GC | ratio | native ns | ratio | native ns, no GC | ratio |",
                  "|---|---|---|---|---|---|---|---|---|"]

        def cell(side, k):
            d, v = s.get(f"{side}_ns", {}), s.get(f"{side}_vs_first", {})
            if k not in d:
                return "- | -"
            return f"{d[k]['median']:.0f} | {v[k]:.2f}"
        for size in s["sizes"]:
            k = str(size)
            lines.append(f"| {size:,} | " + " | ".join(
                cell(side, k) for side in ("cand", "cand_nogc", "base", "base_nogc")) + " |")
        lines.append("")
    w = R.get("wall", {})
    ph = [(k, w[k]["phases_ns"]) for k in ("park_loop", "park_thread") if k in w and "phases_ns" in w[k]]
    if ph:
        lines += ["Park/wake phases, ns per coroutine (park = create task + run to its "
                  "suspension; wake = wake all + run all to completion):", "",
                  "| metric | cand park | cand wake | base park | base wake |",
                  "|---|---|---|---|---|"]
        for k, p in ph:
            lines.append(f"| {k} | {p['cand']['park']:.0f} | {p['cand']['wake']:.0f} | "
                         f"{p['base']['park']:.0f} | {p['base']['wake']:.0f} |")
        lines.append("")
    if "callgrind" in R:
        lines += ["Callgrind profile of the candidate, instructions per operation "
                  "(run with n2 iterations minus run with n1; exclusive, top entries; "
                  "`???` and hex names are functions without symbols in Debian's "
                  "stripped python3.11):", "", "```", profile_text(R, top=12), "```", ""]
    return "\n".join(lines)


def update_readme(R, readme):
    with open(readme) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme}: markers {BEGIN} / {END} not found")
    pre, rest = text.split(BEGIN, 1)
    _, post = rest.split(END, 1)
    with open(readme, "w") as f:
        f.write(pre + BEGIN + "\n" + readme_section(R) + "\n" + END + post)


# ---------------------------------------------------------------------------
# Main.

def run(args):
    t_start = time.monotonic()
    impl = load_impl(args.impl, args.path)
    quick = args.quick
    outdir = os.path.abspath(args.out)
    os.makedirs(outdir, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None

    def want(k):
        return only is None or k in only

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    R = {"meta": {
        "impl": args.impl, "impl_file": getattr(impl, "__file__", "?"),
        "python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "host": platform.node(), "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "quick": quick, "argv": sys.argv[1:],
    }}
    try:
        with open("/proc/loadavg") as f:
            R["meta"]["loadavg_start"] = f.read().split()[:3]
    except OSError:
        pass
    log(f"candidate: {args.impl} ({R['meta']['impl_file']})")

    rounds = args.rounds or (7 if quick else 21)
    block_ms = 4 if quick else 25
    sides = Sides(impl)

    async def timed():
        wall = {}
        for k in ("ready", "yield", "park_loop", "park_thread"):
            if want(k):
                wall[k] = await timed_metric(sides, k, rounds, block_ms, log)
        return wall

    async def scaling():
        sizes = [1000, 10_000] if quick else [1000, 10_000, 100_000]
        if not quick and not args.no_million:
            sizes.append(1_000_000)
        reps = 2 if quick else args.scaling_reps
        return await scaling_metric(sides, sizes, reps, log,
                                    with_base_upto=args.native_scaling_upto,
                                    big_reps=args.million_reps)

    log("wall clock (interleaved rounds):")
    R["wall"] = asyncio.run(timed())
    if want("memory"):
        log("memory (fresh child processes):")
        R["memory"] = memory_metric(args, [10_000] if quick else [10_000, 100_000],
                                    1 if quick else 2, log)
    if want("scaling"):
        log("scaling:")
        R["scaling"] = asyncio.run(scaling())
    if args.callgrind:
        log("callgrind:")
        R["callgrind"] = callgrind_metric(args, quick, outdir, log, want)
    R["meta"]["seconds"] = round(time.monotonic() - t_start, 1)
    try:
        with open("/proc/loadavg") as f:
            R["meta"]["loadavg_end"] = f.read().split()[:3]
    except OSError:
        pass
    jpath = os.path.join(outdir, "results.json")
    R["meta"]["json"] = jpath
    with open(jpath, "w") as f:
        json.dump(R, f, indent=1)
    print(format_table(R))
    if "callgrind" in R and args.profile:
        print()
        print(profile_text(R))
    try:
        draw_chart(R, os.path.join(outdir, "results.png"))
    except Exception as e:        # a chart is not worth failing a run for
        log(f"chart not drawn: {e!r}")
    print(f"\nwrote {jpath} and results.png ({R['meta']['seconds']} s)")
    if args.readme:
        update_readme(R, args.readme)
        print(f"updated {args.readme}")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")

    def impl_args(p):
        p.add_argument("--impl", default="yieldpoint",
                       help="module exporting the five fixtures (default yieldpoint)")
        p.add_argument("--path", default=None,
                       help=f"directory prepended to sys.path (default for "
                            f"yieldpoint: {os.path.relpath(DEFAULT_PATH, ROOT)})")

    p = sub.add_parser("run", help="run the benchmark")
    impl_args(p)
    p.add_argument("--quick", action="store_true", help="CI smoke: < 60 s, never fails on ratios")
    p.add_argument("--callgrind", action="store_true", help="add callgrind instruction counts + profiles")
    p.add_argument("--profile", action="store_true", help="print the callgrind per-function profiles")
    p.add_argument("--jobs", type=int, default=2, help="parallel callgrind processes")
    p.add_argument("--cg-dir", default=os.path.join(ROOT, "build", "bench-callgrind"),
                   help="where the raw callgrind.out files go (large; not for the repo)")
    p.add_argument("--cg-reuse", action="store_true",
                   help="reuse callgrind.out files already in --cg-dir")
    p.add_argument("--rounds", type=int, default=0, help="interleaved rounds per timed metric")
    p.add_argument("--no-million", action="store_true", help="scaling stops at 10^5")
    p.add_argument("--scaling-reps", type=int, default=3)
    p.add_argument("--million-reps", type=int, default=1,
                   help="repetitions at 10^6 (each is ~10-40 s on a 2-core box)")
    p.add_argument("--native-scaling-upto", type=int, default=100_000,
                   help="also measure native asyncio's scaling up to this size (informational)")
    p.add_argument("--only", default="", help="comma list: ready,yield,park_loop,park_thread,memory,scaling")
    p.add_argument("--out", default=os.path.join(HERE, "results"), help="output directory")
    p.add_argument("--readme", default=None, help="also regenerate this README's results section")

    p = sub.add_parser("readme", help="regenerate bench/README.md's results section from a JSON")
    p.add_argument("json", nargs="?", default=os.path.join(HERE, "results", "results.json"))
    p.add_argument("--readme", default=os.path.join(HERE, "README.md"))

    p = sub.add_parser("_mem")
    impl_args(p)
    p.add_argument("--side", choices=("cand", "base"), required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--tracemalloc", action="store_true")

    p = sub.add_parser("_cg")
    impl_args(p)
    p.add_argument("--metric", choices=CG_METRICS, required=True)
    p.add_argument("--side", choices=("cand", "base"), required=True)
    p.add_argument("--warm", type=int, required=True)
    p.add_argument("--n", type=int, required=True)

    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("run", "readme", "_mem", "_cg", "-h", "--help"):
        argv = ["run"] + argv
    args = ap.parse_args(argv)
    if getattr(args, "path", None) is None and getattr(args, "impl", None) == "yieldpoint":
        args.path = DEFAULT_PATH
    if args.cmd == "run":
        return run(args)
    if args.cmd == "readme":
        with open(args.json) as f:
            R = json.load(f)
        update_readme(R, args.readme)
        print(f"updated {args.readme} from {args.json}")
        return 0
    if args.cmd == "_mem":
        return mem_child(args)
    if args.cmd == "_cg":
        return cg_child(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
