"""Callgrind: instruction counts per operation and per-function profiles,
one child process per metric x side x iteration count."""
import asyncio
import gc
import os
import re
import subprocess

from .children import child_cmd, run_child
from .config import BATCH
from .sides import Sides, child_sides, load_impl


CG_METRICS = ("ready", "yield", "park_loop", "park_thread")
# (warm-up, n1, n2): ops for ready/yield, cycles of BATCH for park metrics.
CG_COUNTS = {"ready": (500, 1000, 6000), "yield": (500, 1000, 6000),
             "park_loop": (1, 1, 5), "park_thread": (1, 1, 5)}
CG_COUNTS_QUICK = {"ready": (100, 200, 1200), "yield": (100, 200, 1200),
                   "park_loop": (1, 1, 2), "park_thread": (1, 1, 2)}


def cg_child(args):
    cand = load_impl(args.impl, args.path)
    s = Sides([cand])
    side = cand.label if args.side == "cand" else "base"

    async def main():
        await s.block(args.metric, side, args.warm)
        gc.collect()
        await s.block(args.metric, side, args.n)

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


def callgrind_metric(args, cands, quick, log, want):
    """Instructions per operation of every side (each candidate and the
    baseline), per metric: {ops, ir: {side}, ratio: {label}, profile:
    {side}} (schema.py)."""
    counts = CG_COUNTS_QUICK if quick else CG_COUNTS
    cgdir = os.path.abspath(args.cg_dir)
    os.makedirs(cgdir, exist_ok=True)
    jobs = []
    metrics = [m for m in CG_METRICS if want(m)]
    every = [c.label for c in cands] + ["base"]
    for metric in metrics:
        warm, n1, n2 = counts[metric]
        for side, c, child_side in child_sides(cands):
            for n in (n1, n2):
                out = os.path.join(cgdir, f"{metric}.{side}.{n}.out")
                cmd = (["valgrind", "--tool=callgrind",
                        f"--callgrind-out-file={out}"]
                       + child_cmd("_cg", c.name, c.path)
                       + ["--metric", metric, "--side", child_side,
                          "--warm", str(warm), "--n", str(n)])
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
        ir = {side: (totals[(metric, side, n2)]
                     - totals[(metric, side, n1)]) / ops for side in every}
        row = {"ops": ops, "ir": ir,
               "ratio": {c.label: ir[c.label] / ir["base"] for c in cands},
               "profile": {}}
        # per-function profile of the measured region (run n2 minus run n1)
        for side in every:
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
        log(f"  callgrind {metric:12s} base {ir['base']:10.0f} Ir/op" + "".join(
            f" | {c.label} {ir[c.label]:10.0f} Ir/op ratio {row['ratio'][c.label]:.3f}"
            for c in cands))
    return res
