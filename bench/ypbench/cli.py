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
from .schema import SCHEMA, upgrade
from .sides import Sides, load_candidates, probe
from .tables import breakdown_table, format_table, profile_text, scaling_table
from .timing import scaling_metric, timed_metric
from .trio_sides import TrioSides, trio_table


def _meta(args, cands, **more):
    """results.json's meta: the candidates, the interpreter, the host."""
    return {"schema": SCHEMA, "candidates": [c.meta() for c in cands],
            "impl": ", ".join(c.label for c in cands), **more,
            "python": f"{platform.python_implementation()} "
                      f"{platform.python_version()} ({sys.executable})",
            "host": platform.node(), "cpus": os.cpu_count(),
            "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "quick": args.quick, "argv": sys.argv[1:]}


def run_trio(args):
    """`run --runtime trio`: the wall-clock metrics under trio.run against
    trio's own primitives (trio_sides), interleaved like asyncio's; writes
    results-trio-CLOCK.json (never results.json, which the README's main table
    is generated from)."""
    import trio
    t_start = time.monotonic()
    cands = load_candidates(args.impls)
    outdir = os.path.abspath(args.out)
    os.makedirs(outdir, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    R = {"meta": _meta(args, cands, runtime=f"trio {trio.__version__}")}
    with open("/proc/loadavg") as f:
        R["meta"]["loadavg_start"] = f.read().split()[:3]
    for c in cands:
        log(f"candidate: {c.label} ({c.meta()['file']}) under trio")
    rounds = args.rounds or (7 if args.quick else 21)
    block_ms = 4 if args.quick else 25
    sides = TrioSides(cands, trio, args.clock)
    trio.run(probe, sides, cands)
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
    cands = load_candidates(args.impls)
    quick = args.quick
    outdir = os.path.abspath(args.out)
    os.makedirs(outdir, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None

    def want(k):
        return only is None or k in only

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    R = {"meta": _meta(args, cands)}
    try:
        with open("/proc/loadavg") as f:
            R["meta"]["loadavg_start"] = f.read().split()[:3]
    except OSError:
        pass
    for c in cands:
        log(f"candidate: {c.label} ({c.meta()['file']})")

    rounds = args.rounds or (7 if quick else 21)
    block_ms = 4 if quick else 25
    sides = Sides(cands)
    asyncio.run(probe(sides, cands))

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
        upto = args.native_scaling_upto or sizes[-1]
        return await scaling_metric(sides, sizes, reps, log,
                                    with_base_upto=upto,
                                    big_reps=args.million_reps)

    log("wall clock (interleaved rounds):")
    R["wall"] = asyncio.run(timed())
    if want("memory"):
        log("memory (fresh child processes):")
        R["memory"] = memory_metric(args, cands,
                                    [10_000] if quick else [10_000, 100_000],
                                    1 if quick else 2, log)
    if want("scaling"):
        log("scaling:")
        R["scaling"] = asyncio.run(scaling())
    if args.callgrind:
        log("callgrind:")
        R["callgrind"] = callgrind_metric(args, cands, quick, log, want)
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
    for more in (breakdown_table, scaling_table):
        text = more(R)
        if text:
            print()
            print(text)
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


class _Impl(argparse.Action):
    """--impl MODULE: one more candidate, [MODULE, path], in args.impls
    (a list of [module, path] pairs; a --path before any --impl is
    pending, under the key None, for the first candidate)."""

    def __call__(self, parser, ns, value, option=None):
        specs = list(getattr(ns, self.dest, None) or [])
        specs.append([value, None])
        setattr(ns, self.dest, specs)


class _Path(argparse.Action):
    """--path DIR: the path of the --impl before it."""

    def __call__(self, parser, ns, value, option=None):
        specs = list(getattr(ns, self.dest, None) or [])
        named = [s for s in specs if s[0] is not None]
        last = named[-1] if named else None
        if last is None:
            if any(s[0] is None for s in specs):
                parser.error("--path given twice before any --impl")
            specs.append([None, value])
        elif last[1] is not None:
            parser.error(f"--path given twice for --impl {last[0]} "
                         f"(each --path follows its own --impl)")
        else:
            last[1] = value
        setattr(ns, self.dest, specs)


def _candidates(parser, specs):
    """args.impls -> [(module, path)]: no --impl means yieldpoint; a --path
    before the first --impl is that candidate's; yieldpoint without a path
    comes from build/default/python."""
    specs = specs or []
    pending = [s[1] for s in specs if s[0] is None]
    specs = [s for s in specs if s[0] is not None] or [["yieldpoint", None]]
    if pending:
        if specs[0][1] is not None:
            parser.error(f"--path given twice for --impl {specs[0][0]}")
        specs[0][1] = pending[0]
    return [(name, DEFAULT_PATH if path is None and name == "yieldpoint"
             else path) for name, path in specs]


def main(argv=None):
    ap = argparse.ArgumentParser(description=DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")

    def impl_args(p):
        p.add_argument("--impl", action=_Impl, dest="impls", metavar="MODULE",
                       help="module exporting the five fixtures (default "
                            "yieldpoint); repeat it to measure several "
                            "candidates in one run")
        p.add_argument("--path", action=_Path, dest="impls", metavar="DIR",
                       help=f"directory prepended to sys.path for the --impl "
                            f"before it (default for yieldpoint: "
                            f"{os.path.relpath(DEFAULT_PATH, ROOT)})")

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
    p.add_argument("--native-scaling-upto", type=int, default=0,
                   help="measure native asyncio's scaling up to this size "
                        "(default: every size the candidates run)")
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
    if hasattr(args, "impls"):
        args.impls = _candidates(ap, args.impls)
        args.impl, args.path = args.impls[0]
    if args.cmd == "run":
        return run(args)
    if args.cmd == "readme":
        with open(args.json) as f:
            R = upgrade(json.load(f))
        update_readme(R, args.readme)
        print(f"updated {args.readme} from {args.json}")
        return 0
    if args.cmd == "_mem":
        return mem_child(args)
    if args.cmd == "_cg":
        return cg_child(args)
    return 0
