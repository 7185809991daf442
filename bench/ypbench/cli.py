"""The subcommands: run (the benchmark), readme, and the children _mem, _cg."""
import argparse
import asyncio
import json
import os
import platform
import sys
import time

from . import __doc__ as DESCRIPTION
from .callgrind import CG_METRICS, callgrind_metric, cg_child
from .chart import draw_chart
from .config import DEFAULT_PATH, HERE, ROOT
from .memory import mem_child, memory_metric
from .readme import update_readme
from .sides import Sides, load_impl
from .tables import format_table, profile_text
from .timing import scaling_metric, timed_metric
from .trio_sides import TrioSides, trio_table


def run_trio(args):
    """`run --runtime trio`: the wall-clock metrics under trio.run against
    trio's own primitives (trio_sides), interleaved like asyncio's; writes
    results-trio-CLOCK.json (never results.json, which the README's main table
    is generated from)."""
    import trio
    t_start = time.monotonic()
    impl = load_impl(args.impl, args.path)
    outdir = os.path.abspath(args.out)
    os.makedirs(outdir, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    R = {"meta": {
        "impl": args.impl, "impl_file": getattr(impl, "__file__", "?"),
        "runtime": f"trio {trio.__version__}",
        "python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "host": platform.node(), "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "quick": args.quick, "argv": sys.argv[1:],
    }}
    with open("/proc/loadavg") as f:
        R["meta"]["loadavg_start"] = f.read().split()[:3]
    log(f"candidate: {args.impl} ({R['meta']['impl_file']}) under trio")
    rounds = args.rounds or (7 if args.quick else 21)
    block_ms = 4 if args.quick else 25
    sides = TrioSides(impl, trio, args.clock)
    R["meta"]["clock"] = args.clock

    async def timed():
        wall = {}
        for k in ("ready", "yield", "park_loop", "park_thread"):
            if only is None or k in only:
                wall[k] = await timed_metric(sides, k, rounds, block_ms, log)
        return wall

    log("wall clock under trio (interleaved rounds):")
    R["wall"] = trio.run(timed)
    R["meta"]["seconds"] = round(time.monotonic() - t_start, 1)
    with open("/proc/loadavg") as f:
        R["meta"]["loadavg_end"] = f.read().split()[:3]
    jpath = os.path.join(outdir, f"results-trio-{args.clock}.json")
    with open(jpath, "w") as f:
        json.dump(R, f, indent=1)
    print(trio_table(R))
    print(f"\nwrote {jpath} ({R['meta']['seconds']} s; load average "
          f"{' '.join(R['meta']['loadavg_start'])} -> "
          f"{' '.join(R['meta']['loadavg_end'])})")
    return 0


def run(args):
    if args.runtime == "trio":
        return run_trio(args)
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
    ap = argparse.ArgumentParser(description=DESCRIPTION,
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
    p.add_argument("--runtime", choices=("asyncio", "trio"), default="asyncio",
                   help="trio: the wall-clock metrics under trio.run against "
                        "trio's own primitives (results-trio-CLOCK.json)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="with --runtime trio: wall clock, or the process's "
                        "CPU time (steadier on a loaded host)")
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
