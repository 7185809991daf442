"""The Python half of yp-conform: adapter checks, case lists, one case run.

The C runner calls ``enumerate_text`` once (in a child process) to get the
case list, and ``run_case`` once per Criterion worker.  Both can be used
directly from Python for debugging::

    /usr/bin/python3.11 -m cases._harness --impl yp_native --path adapters/native
"""
import fnmatch
import importlib
import json
import os
import sys
import traceback

from . import LOOPS, load_all
from . import _runtime, _support
from ypkit import refleak

CONTRACT_MAJOR = "1"
FIXTURES = ("sleep", "cancellable", "cancellable_sleep", "sleep_loop",
            "Counter", "counters_dropped", "gil_probe", "Probe", "scripted")
VARIANTS = {"borrow_timing": ("first_poll", "call"),
            "arg_check": ("call", "first_poll")}
KINDS = ("PASS", "FAIL", "CRASH", "TIMEOUT", "SKIP")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class HarnessError(Exception):
    """A broken adapter, spec or expectations file: not a case result."""


# --- the adapter ------------------------------------------------------------

class Adapter:
    def __init__(self, module):
        self.module = module
        decl = getattr(module, "__yp_conformance__", None)
        where = f"adapter module {module.__name__!r} ({getattr(module, '__file__', '?')})"
        if not isinstance(decl, dict):
            raise HarnessError(f"{where} has no __yp_conformance__ dict "
                               f"(see conformance/ADAPTER.md)")
        contract = decl.get("contract")
        if not isinstance(contract, str) or \
                contract.split(".")[0] != CONTRACT_MAJOR:
            raise HarnessError(f"{where}: __yp_conformance__['contract'] is "
                               f"{contract!r}; this suite implements adapter "
                               f"contract {CONTRACT_MAJOR}.x")
        unknown = set(decl) - {"contract", "implementation", "variants",
                               "cannot", "runtimes"}
        if unknown:
            raise HarnessError(f"{where}: unknown declaration keys "
                               f"{sorted(unknown)}")
        self.name = decl.get("implementation", module.__name__)
        if not isinstance(self.name, str) or not self.name:
            raise HarnessError(f"{where}: 'implementation' must be a string")
        variants = decl.get("variants", {})
        if not isinstance(variants, dict):
            raise HarnessError(f"{where}: 'variants' must be a dict")
        self.variants = {k: v[0] for k, v in VARIANTS.items()}
        for k, v in variants.items():
            if k not in VARIANTS:
                raise HarnessError(f"{where}: unknown variant {k!r} (known: "
                                   f"{', '.join(VARIANTS)})")
            if v not in VARIANTS[k]:
                raise HarnessError(f"{where}: variant {k}={v!r}; allowed: "
                                   f"{', '.join(VARIANTS[k])}")
            self.variants[k] = v
        cannot = decl.get("cannot", {})
        if not isinstance(cannot, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and v
                for k, v in cannot.items()):
            raise HarnessError(f"{where}: 'cannot' must map capability or "
                               f"clause names to non-empty reasons")
        self.cannot = dict(cannot)
        # Contract 1.1: the runtimes the implementation claims; a 1.0
        # adapter (no key) means asyncio and uvloop.
        runtimes = decl.get("runtimes", list(_runtime.DEFAULT_RUNTIMES))
        if not isinstance(runtimes, (list, tuple)) or not all(
                isinstance(r, str) for r in runtimes):
            raise HarnessError(f"{where}: 'runtimes' must be a list of "
                               f"runtime names ({', '.join(LOOPS)})")
        bad = [r for r in runtimes if r not in LOOPS]
        if bad:
            raise HarnessError(f"{where}: unknown runtimes {bad} (known: "
                               f"{', '.join(LOOPS)})")
        self.runtimes = tuple(runtimes)
        missing = [f for f in FIXTURES
                   if not hasattr(module, f) and f not in self.cannot]
        if missing:
            raise HarnessError(f"{where} lacks fixtures {', '.join(missing)} "
                               f"and does not declare them under 'cannot'")

    def skip_reason(self, case, runtime=None):
        for key in (case.id, case.area, *case.clauses, *case.requires):
            if key in self.cannot:
                return f"adapter cannot express {key}: {self.cannot[key]}"
        if runtime is not None:
            if runtime not in self.runtimes:
                return (f"runtime {runtime} not claimed by the adapter "
                        f"(its 'runtimes': {', '.join(self.runtimes)})")
            why = _runtime.unavailable(runtime)
            if why:
                return why
        return None


def _split_paths(paths):
    if isinstance(paths, str):
        return [p for p in paths.split(os.pathsep) if p]
    return list(paths or ())


def load_adapter(impl, paths):
    for p in reversed(_split_paths(paths)):
        if p and p not in sys.path:
            sys.path.insert(0, p)
    try:
        module = importlib.import_module(impl)
    except BaseException as e:      # noqa: B902 -- report any import failure
        raise HarnessError(f"cannot import adapter module {impl!r}: "
                           f"{type(e).__name__}: {e}") from e
    return Adapter(module)


# --- spec and filters -----------------------------------------------------------

def load_spec():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import spec
    finally:
        sys.path.pop(0)
    return spec.parse(os.path.join(ROOT, "SPEC.md"))


def _term_matches(term, keys):
    for k in keys:
        if k == term or fnmatch.fnmatchcase(k, term) or \
                k.startswith(term + ".") or k.startswith(term + "::"):
            return True
    return False


def selected(filter_expr, case, inst):
    """--filter: comma-separated terms matched against the area, the case
    ID, the instance ID and the clause IDs (glob, or prefix up to '.' or
    '::'); a term starting with '!' excludes."""
    if not filter_expr:
        return True
    keys = (case.area, case.id, inst, *case.clauses)
    terms = [t.strip() for t in filter_expr.split(",") if t.strip()]
    inc = [t for t in terms if not t.startswith("!")]
    exc = [t[1:] for t in terms if t.startswith("!")]
    if inc and not any(_term_matches(t, keys) for t in inc):
        return False
    return not any(_term_matches(t, keys) for t in exc)


# --- expectations ---------------------------------------------------------------

def load_expectations(path):
    """{"expected": {pattern: {"result": KIND or [KIND...], "reason": str}}}"""
    if not path:
        return []
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise HarnessError(f"expectations file {path}: {e}") from e
    exp = data.get("expected") if isinstance(data, dict) else None
    if not isinstance(exp, dict):
        raise HarnessError(f"expectations file {path}: needs an 'expected' "
                           f"object")
    out = []
    for pattern, entry in exp.items():
        if not isinstance(entry, dict) or "reason" not in entry \
                or "result" not in entry:
            raise HarnessError(f"expectations file {path}: entry {pattern!r} "
                               f"needs 'result' and 'reason'")
        kinds = entry["result"]
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        bad = [k for k in kinds if k not in KINDS]
        if bad or not kinds:
            raise HarnessError(f"expectations file {path}: entry {pattern!r}"
                               f" has unknown result {bad or kinds}")
        out.append((pattern, kinds, str(entry["reason"])))
    return out


def expectation_for(expectations, case, inst):
    """Most specific match: instance ID, then case ID, then a glob."""
    for want in (inst, case.id):
        for pattern, kinds, reason in expectations:
            if pattern == want:
                return pattern, kinds, reason
    for pattern, kinds, reason in expectations:
        if any(c in pattern for c in "*?[") and \
                (fnmatch.fnmatchcase(inst, pattern)
                 or fnmatch.fnmatchcase(case.id, pattern)):
            return pattern, kinds, reason
    return None


# --- enumeration ------------------------------------------------------------------

def _clean(s):
    return str(s).replace("\t", " ").replace("\n", " \\n ")


def enumerate_text(impl, paths, filter_expr="", loops="all",
                   expectations_path=""):
    """The case list for the C runner, one record per line, tab-separated:

        S version                       spec version
        I name module-file contract variants expectations-file
        A area title
        C clause area level             every clause of SPEC.md
        T inst case way loop area clauses expected reason skip
        W message                       a warning (stale expectation, ...)
        E message                       a harness error (nothing runs)
    """
    lines = []
    try:
        spec = load_spec()
        cases = load_all()
        adapter = load_adapter(impl, paths)
        if expectations_path in ("", None):
            auto = os.path.join(ROOT, "expectations", adapter.name + ".json")
            expectations_path = auto if os.path.exists(auto) else ""
        elif expectations_path == "none":
            expectations_path = ""
        expectations = load_expectations(expectations_path)
    except HarnessError as e:
        return f"E\t{_clean(e)}\n"
    clause_ids = {c["id"] for c in spec["clauses"]}
    for c in cases:
        unknown = [x for x in c.clauses if x not in clause_ids]
        if unknown:
            return (f"E\tcase {c.id} names unknown clause(s) "
                    f"{', '.join(unknown)}\n")
    loop_set = LOOPS if loops in ("", "all") else tuple(loops.split(","))
    for lp in loop_set:
        if lp not in LOOPS:
            return f"E\tunknown loop {lp!r} (choose from {', '.join(LOOPS)}, all)\n"
    lines.append(f"S\t{spec['version']}")
    variants = ",".join(f"{k}={v}" for k, v in sorted(adapter.variants.items()))
    lines.append(f"I\t{_clean(adapter.name)}\t"
                 f"{_clean(getattr(adapter.module, '__file__', '?'))}\t"
                 f"{_clean(adapter.module.__yp_conformance__['contract'])}\t"
                 f"{variants}\t{_clean(expectations_path or 'none')}")
    for a in spec["areas"]:
        lines.append(f"A\t{a['id']}\t{_clean(a['title'])}")
    for c in spec["clauses"]:
        lines.append(f"C\t{c['id']}\t{c['area']}\t{c['level']}")
    used = set()
    for c in cases:
        for inst, way, lp in c.instances(LOOPS):
            skip = adapter.skip_reason(c, lp) or ""
            exp = expectation_for(expectations, c, inst)
            if exp:
                used.add(exp[0])
            if lp is not None and lp not in loop_set:
                continue
            if not selected(filter_expr, c, inst):
                continue
            kinds, reason = (exp[1], exp[2]) if exp else (["PASS"], "")
            lines.append("\t".join([
                "T", inst, c.id, way or "-", lp or "-", c.area,
                ",".join(c.clauses), "|".join(kinds), _clean(reason),
                _clean(skip)]))
    for pattern, _, _ in expectations:
        if pattern not in used:
            lines.append(f"W\tstale expectation {pattern!r} matches no case")
    return "\n".join(lines) + "\n"


# --- running one case ------------------------------------------------------------------

def _describe_failure(e):
    tb = traceback.extract_tb(e.__traceback__)
    where = ""
    for fr in reversed(tb):
        if os.path.dirname(os.path.abspath(fr.filename)) == HERE:
            where = f" [{os.path.basename(fr.filename)}:{fr.lineno}]"
            break
    msg = f"{type(e).__name__}: {e}{where}"
    if not isinstance(e, AssertionError):
        # An unexpected exception: show the innermost frames too.
        msg += "\n" + "".join(traceback.format_exception(e)[-6:]).rstrip()
    return msg


class _Stop(Exception):
    """A repeated run did not pass: its result ends the refleak hunt."""


def _run_refleak(once, warmups, runs):
    """yp-conform --refleak: run `once` warmups+runs times in this
    interpreter; ypkit.refleak gives the verdict."""
    repeat = [0]

    def checked():
        status, msg = once()
        repeat[0] += 1
        if status != "PASS":
            i = repeat[0]
            raise _Stop(status, f"(repeat {i}) " + msg if i > 1 else msg)
    try:
        problems = refleak.hunt(checked, warmups, runs, _support.collect)
    except _Stop as stop:
        return stop.args
    if problems:
        return "FAIL", "refleak: " + ", ".join(problems)
    return "PASS", ""


def run_case(impl, paths, case_id, way, loop):
    """Run one case instance; return (status, message).  Under
    YP_REFLEAK=W:R (yp-conform --refleak) the case body runs W+R times in
    this interpreter and reference growth fails it (ypkit.refleak)."""
    try:
        rl = refleak.settings()
    except refleak.SettingError as e:
        return "ERROR", f"--refleak: {e}"
    if rl is None:
        return _run_case_once(impl, paths, case_id, way, loop)
    return _run_refleak(
        lambda: _run_case_once(impl, paths, case_id, way, loop), *rl)


def _run_case_once(impl, paths, case_id, way, loop):
    way = None if way in ("-", "") else way
    loop = None if loop in ("-", "") else loop
    try:
        adapter = load_adapter(impl, paths)
        cases = {c.id: c for c in load_all()}
    except HarnessError as e:
        return "ERROR", str(e)
    case = cases.get(case_id)
    if case is None:
        return "ERROR", f"no case {case_id!r}"
    reason = adapter.skip_reason(case, loop)
    if reason:
        return "SKIP", reason
    _support.install_hooks()
    _support.ADAPTER = adapter
    kwargs = {}
    try:
        if way is not None:
            kwargs["way"] = way
        if loop is not None:
            rt = _runtime.make(loop)
            rt.record = _support.record
            kwargs["loop"] = rt
        case.func(adapter.module, **kwargs)
        _support.collect()
        bg = _support.take_background()
        if bg:
            return "FAIL", ("error reported outside the case: "
                            + "; ".join(bg))
    except _support.Skip as e:
        return "SKIP", str(e)
    except BaseException as e:      # noqa: B902 -- any escape is a failure
        return "FAIL", _describe_failure(e)
    return "PASS", ""


def main(argv):
    """Debug driver: run every selected case in this process, no isolation."""
    import argparse
    ap = argparse.ArgumentParser(prog="cases._harness")
    ap.add_argument("--impl", required=True)
    ap.add_argument("--path", action="append", default=[])
    ap.add_argument("--filter", default="")
    ap.add_argument("--loop", default="all")
    ap.add_argument("--expectations", default="")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args(argv)
    text = enumerate_text(a.impl, a.path, a.filter, a.loop, a.expectations)
    counts = {}
    for line in text.splitlines():
        f = line.split("\t")
        if f[0] == "E":
            print("harness error:", f[1])
            return 2
        if f[0] == "W":
            print("warning:", f[1])
        if f[0] != "T":
            continue
        status, msg = run_case(a.impl, a.path, f[2], f[3], f[4])
        counts[status] = counts.get(status, 0) + 1
        expected = f[7].split("|")
        mark = "" if status in expected or (status == "SKIP") else "  <-- UNEXPECTED"
        if a.v or status != "PASS" or mark:
            print(f"{status:5} {f[1]}{mark}")
            if msg and status != "PASS":
                print("      " + msg.replace("\n", "\n      "))
    print(counts)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
