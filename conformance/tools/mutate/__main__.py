"""mutate: how many automatic mutants of the engine the suite kills.

    cd conformance/tools && /usr/bin/python3.11 -m mutate [options]

Generates the mutants of the engine's C sources (generate.py), picks a
seeded random sample, and for each builds the module in a scratch copy of
the tree and runs the conformance suite, cheapest mode first (run.py).
Prints the kill ratio per file and per mode and every survivor, and writes a
JSON record (--json).  Exit 0 when the run completed (survivors are data,
not an error), 2 on a usage or setup error.
"""
import argparse
import collections
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from . import generate, run

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
# The benchmark fixtures (bench.c) are no part of the contract the suite
# checks, so they are not in the default population.
DEFAULT_FILES = ["engine/src/core/*.c", "engine/src/py/*.c", "engine/fixtures/*.c",
                 "!engine/fixtures/bench.c"]
FORMAT = "yieldpoint-mutants/1"


def select_files(patterns, root=REPO):
    chosen = set()
    for pat in patterns:
        if pat.startswith("!"):
            chosen -= set(glob.glob(pat[1:], root_dir=root))
        else:
            chosen |= set(glob.glob(pat, root_dir=root))
    return sorted(chosen)


def parse(argv):
    ap = argparse.ArgumentParser(prog="mutate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1, help="sample seed (default 1)")
    ap.add_argument("-n", "--count", type=int, default=40,
                    help="mutants to sample; 0 for all (default 40)")
    ap.add_argument("--files", nargs="+", default=DEFAULT_FILES, metavar="GLOB",
                    help="sources to mutate, relative to the repository; !GLOB "
                         "removes (default: %(default)s)")
    ap.add_argument("--only", nargs="+", metavar="ID",
                    help="run these mutant IDs (path:line:offset:operator) "
                    "only; with --sample-of, these as well")
    ap.add_argument("--modes", default="plain,refleak,asan",
                    help="modes, cheapest first, comma-separated (default %(default)s)")
    ap.add_argument("--scratch", default=os.path.join(REPO, "build", "mutate"),
                    help="scratch directory for the copy and its builds")
    ap.add_argument("--rev", help="test the sources and suite of this commit "
                    "(default: the working tree as it is)")
    ap.add_argument("--filter", metavar="EXPR",
                    help="run only these cases (yp-conform --filter): for "
                    "re-checking the survivors of a whole-suite run (--resume) "
                    "against cases added since; the record notes it")
    ap.add_argument("--sample-of", metavar="JSON",
                    help="take the sample of this earlier record instead of "
                    "drawing one: each of its mutants is found again on "
                    "today's sources, its line followed through `git diff` "
                    "from the record's commit (left out if that line "
                    "changed); its killed verdicts are kept and its "
                    "survivors run again in the --modes not yet met (every "
                    "mode with --filter)")
    ap.add_argument("--sample-rev", metavar="REV",
                    help="the commit --sample-of's record was drawn from, "
                    "if the record does not say (records before 2026-12-03 "
                    "say 'working tree')")
    ap.add_argument("--json", help="write the record here (updated after every mutant)")
    ap.add_argument("--resume", action="store_true",
                    help="reuse verdicts for the same mutants from --json")
    ap.add_argument("--timeout", type=int, default=900,
                    help="seconds for one suite run before it counts as a hang")
    ap.add_argument("--case-timeout", type=int, default=20,
                    help="yp-conform --timeout (default %(default)s)")
    ap.add_argument("--refleak", default="2:3", help="W:R for the refleak mode")
    ap.add_argument("-j", "--jobs", type=int, default=1,
                    help="build and suite parallelism (default 1)")
    ap.add_argument("--nice", type=int, default=15)
    ap.add_argument("--report", metavar="JSON",
                    help="print the figures of an existing record and exit")
    ap.add_argument("--list", action="store_true",
                    help="print the sampled mutants and exit")
    args = ap.parse_args(argv)
    args.modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in args.modes if m not in run.MODES]
    if bad:
        ap.error(f"unknown mode(s) {bad}; known: {', '.join(run.MODES)}")
    return args


def choose(args, root):
    """The population of `root`'s sources and the sample to run."""
    files = select_files(args.files, root)
    if not files:
        raise SystemExit(f"mutate: no file matches {args.files}")
    population = generate.all_mutants(root, files)
    if args.only:
        by_id = {m.id: m for m in population}
        missing = [i for i in args.only if i not in by_id]
        if missing:
            raise SystemExit(f"mutate: no such mutant: {', '.join(missing)}")
        return files, population, [by_id[i] for i in args.only]
    return files, population, generate.sample(population, args.count or None, args.seed)


def _git(*args):
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout


def _line_map(old_text, new_path):
    """old line of `old_text` -> its line in the file `new_path`, or None
    when that line changed or went: read off `git diff -U0` (exact, unlike
    a guess by distance)."""
    with tempfile.NamedTemporaryFile("w", suffix=".c") as old:
        old.write(old_text)
        old.flush()
        diff = subprocess.run(
            ["git", "diff", "--no-index", "-U0", old.name, new_path],
            capture_output=True, text=True).stdout
    hunks = [tuple(int(x) if x != "" else 1 for x in h) for h in re.findall(
        r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", diff, re.M)]

    def new_line(line):
        shift = 0
        for o_start, o_len, _n_start, n_len in hunks:
            if o_len == 0:                   # lines added after o_start
                if line > o_start:
                    shift += n_len
            elif o_start <= line < o_start + o_len:
                return None                  # this line changed
            elif line >= o_start + o_len:
                shift += n_len - o_len
        return line + shift
    return new_line


def find_again(old, population, rev, src_root):
    """Today's mutant for each record of `old` (drawn from the sources of
    commit `rev`), as (mutant, record) pairs, and the records whose line
    changed or went since (left out).  A line is followed through
    `git diff`; on it, the mutant with the same operator and mutation text
    (of several, the one in the same column)."""
    by_line = {}
    for m in population:
        by_line.setdefault((m.path, m.line), []).append(m)
    files, found, lost = {}, [], []     # path -> (old text, line map, today's)
    for r in old:
        path = r["path"]
        if path not in files:
            old_text = _git("show", f"{rev}:{path}")
            new_path = os.path.join(src_root, path)
            with open(new_path, encoding="utf-8") as f:
                files[path] = (old_text, _line_map(old_text, new_path),
                               f.read())
        old_text, new_line, new_text = files[path]
        same = [m for m in by_line.get((path, new_line(r["line"])), [])
                if m.operator == r["operator"] and m.describe() == r["mutation"]]
        if not same:
            lost.append(r)
            continue
        column = _column(old_text, int(r["id"].split(":")[2]))
        found.append((min(same, key=lambda m: abs(
            _column(new_text, m.start) - column)), r))
    return found, lost


def _column(text, offset):
    return offset - (text.rfind("\n", 0, offset) + 1)


def say_found(found, lost):
    """What find_again did, for the log: every record it left out, and
    every one whose statement moved."""
    for r in lost:
        print(f"mutate: {r['path']}:{r['line']} {r['mutation']}: not in "
              "today's sources (its code changed); left out", flush=True)
    for m, r in found:
        if m.id != r["id"]:
            print(f"mutate: {r['path']}:{r['line']} {r['mutation']}: found "
                  f"at line {m.line} ({m.id})", flush=True)


def ratio(k, n):
    return f"{k}/{n} ({100 * k / n:.0f} %)" if n else "-"


def summarize(records, modes):
    """Kill ratios: per file, per mode (cumulative), overall."""
    counted = [r for r in records if r["status"] in ("killed", "survived")]
    per_file = collections.defaultdict(lambda: [0, 0])
    for r in counted:
        per_file[r["path"]][1] += 1
        per_file[r["path"]][0] += r["status"] == "killed"
    per_mode, cum = {}, 0
    for m in modes:
        k = sum(1 for r in counted if r["mode"] == m)
        cum += k
        per_mode[m] = {"killed": k, "cumulative": cum}
    status = collections.Counter(r["status"] for r in records)
    return {"mutants": len(records), "status": dict(status),
            "counted": len(counted),
            "killed": sum(1 for r in counted if r["status"] == "killed"),
            "per_mode": per_mode,
            "per_file": {f: {"killed": k, "counted": n}
                         for f, (k, n) in sorted(per_file.items())}}


def print_summary(s, records, modes):
    print()
    print("mutate: kill ratio per file (killed / built and not identical)")
    for f, v in s["per_file"].items():
        print(f"  {f:36s} {ratio(v['killed'], v['counted'])}")
    print("mutate: per mode (cumulative, cheapest first)")
    for m in modes:
        v = s["per_mode"][m]
        print(f"  {m:8s} killed {v['killed']:3d}   cumulative "
              f"{ratio(v['cumulative'], s['counted'])}")
    st = s["status"]
    print(f"mutate: {s['mutants']} mutants: killed {st.get('killed', 0)}, "
          f"survived {st.get('survived', 0)}, equivalent (identical code) "
          f"{st.get('equivalent', 0)}, stillborn {st.get('stillborn', 0)}")
    print(f"mutate: overall {ratio(s['killed'], s['counted'])}")
    surv = [r for r in records if r["status"] == "survived"]
    if surv:
        print("mutate: survivors")
        for r in sorted(surv, key=lambda r: (r["path"], r["line"])):
            print(f"  {r['path']}:{r['line']}  {r['mutation']}   [{r['id']}]")


def main(argv=None):
    args = parse(argv if argv is not None else sys.argv[1:])
    if args.report:
        with open(args.report) as f:
            rec = json.load(f)
        print_summary(summarize(rec["mutants"], rec["modes"]), rec["mutants"],
                      rec["modes"])
        return 0
    scratch = run.Scratch(REPO, args.scratch, nice=args.nice, jobs=args.jobs)
    scratch.sync(args.rev)
    files, population, chosen = choose(args, scratch.src)
    previous = {}
    if args.sample_of:
        with open(args.sample_of) as f:
            old = json.load(f)
        rev = args.sample_rev or old.get("commit") or old.get("rev")
        if not rev or rev == "working tree":
            raise SystemExit("mutate: --sample-of: the record names no "
                             "commit; say which with --sample-rev")
        found, lost = find_again(old["mutants"], population, rev,
                                 scratch.src)
        say_found(found, lost)
        # --only adds mutants of its own (a lost record's successor).
        chosen = [m for m, _ in found] + (chosen if args.only else [])
        previous = {m.id: dict(r, id=m.id, line=m.line, was=r["id"])
                    for m, r in found if r["status"] != "error"}
    if args.list:
        for m in chosen:
            print(f"{m.id}\t{m.describe()}")
        return 0
    if args.resume and args.json and os.path.exists(args.json):
        with open(args.json) as f:
            previous = {r["id"]: r for r in json.load(f)["mutants"]
                        if r["status"] != "error"}
    head = {"format": FORMAT, "seed": args.seed, "count": args.count,
            "rev": args.rev or "working tree", "filter": args.filter,
            "commit": args.rev or _git("rev-parse", "HEAD").strip(),
            "dirty": not args.rev and bool(_git("status", "--porcelain",
                                                "--", "engine", "conformance")),
            "sample_of": args.sample_of, "files": files,
            "population": len(population), "modes": args.modes,
            "loops": run.LOOPS, "loops_for": run.LOOPS_FOR,
            "refleak": args.refleak, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                             time.gmtime())}
    if args.sample_of:
        head.update(seed=old.get("seed"), count=old.get("count"))
    records = []
    for i, m in enumerate(chosen, 1):
        rec = previous.get(m.id)
        if rec is not None and rec["mutation"] != m.describe():
            rec = None
        # A survivor of an earlier run meets only the modes it has not met.
        # With --filter, a survivor meets the filtered cases in every mode.
        todo = list(args.modes) if rec is None else \
            [x for x in args.modes if rec["status"] == "survived"
             and (args.filter or x not in rec.get("modes_run", []))]
        if todo:
            v = run.run_mutant(scratch, m, todo, args.timeout,
                               args.case_timeout, args.refleak, args.filter)
            before = (rec or {}).get("modes_run", [])
            met = todo[:todo.index(v.mode) + 1] if v.status == "killed" else \
                todo if v.status == "survived" else []
            ran = before + [x for x in met if x not in before]
            if v.status == "killed" and args.filter:
                v.detail = f"(cases {args.filter}) {v.detail}"
            rec = {"id": m.id, "path": m.path, "line": m.line,
                   "operator": m.operator, "mutation": m.describe(),
                   "status": v.status, "mode": v.mode, "modes_run": ran,
                   "seconds": round(v.seconds + (rec or {}).get("seconds", 0), 1),
                   "detail": v.detail}
        records.append(rec)
        how = rec["status"] + (f" by {rec['mode']}" if rec["mode"] else "")
        print(f"[{i}/{len(chosen)}] {m.path}:{m.line} {m.describe()}: {how}"
              f" ({rec['seconds']} s)", flush=True)
        if args.json:
            write(args.json, head, records, args.modes)
    s = summarize(records, args.modes)
    print_summary(s, records, args.modes)
    if args.json:
        write(args.json, head, records, args.modes)
    return 0


def write(path, head, records, modes):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(dict(head, summary=summarize(records, modes), mutants=records),
                  f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
