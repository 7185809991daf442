"""The Python half of yp-conform: adapter checks, case lists, one case run.

The results package calls ``load_adapter``, ``load_spec`` and ``selected``
to build the case list (results.listing) and ``run_case`` once per
Criterion worker (results.worker).  Cases can be run directly from Python
for debugging::

    /usr/bin/python3.11 -m cases._harness --impl yp_native --path adapters/native
"""
import fnmatch
import importlib
import os
import sys
import traceback

from . import LOOPS, load_all
from . import _runtime, _support
from ypkit import refleak

CONTRACT_MAJOR = "1"
CONTRACT = "1.5"         # the adapter contract this suite implements
# Fixtures and capabilities a later minor version of the contract added: an
# adapter that declares an earlier one need not have them, and SKIPs the
# cases that need them.
SINCE = {"cancellable_sleep.result": 3, "race": 5}
FIXTURES = ("sleep", "cancellable", "cancellable_sleep", "sleep_loop",
            "Counter", "counters_dropped", "gil_probe", "Probe", "scripted",
            "race")
VARIANTS = {"borrow_timing": ("first_poll", "call"),
            "arg_check": ("call", "first_poll"),
            "asyncio_waiter": ("loop_future", "future_protocol")}
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
        minor = contract.partition(".")[2]
        self.minor = int(minor) if minor.isdigit() else 0
        unknown = set(decl) - {"contract", "implementation", "version",
                               "variants", "cannot", "runtimes"}
        if unknown:
            raise HarnessError(f"{where}: unknown declaration keys "
                               f"{sorted(unknown)}")
        self.name = decl.get("implementation", module.__name__)
        if not isinstance(self.name, str) or not self.name:
            raise HarnessError(f"{where}: 'implementation' must be a string")
        # Contract 1.2: the implementation's version, for run_info.
        version = decl.get("version", getattr(module, "__version__", None))
        if version is not None and not isinstance(version, str):
            raise HarnessError(f"{where}: 'version' must be a string")
        self.version = version
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
                   if not hasattr(module, f) and f not in self.cannot
                   and self.minor >= SINCE.get(f, 0)]
        if missing:
            raise HarnessError(f"{where} lacks fixtures {', '.join(missing)} "
                               f"and does not declare them under 'cannot'")

    def skip_reason(self, case, runtime=None):
        for key in (case.id, case.area, *case.clauses, *case.requires):
            if key in self.cannot:
                return f"adapter cannot express {key}: {self.cannot[key]}"
        for key in case.requires:
            if self.minor < SINCE.get(key, 0):
                return (f"adapter contract {CONTRACT_MAJOR}.{self.minor} "
                        f"predates {key} ({CONTRACT_MAJOR}.{SINCE[key]})")
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


def _split_terms(filter_expr):
    """Split at commas outside brackets, so that an instance ID copied
    from a report (``area::case[way,loop]``) is one term."""
    terms, cur, depth = [], [], 0
    for ch in filter_expr:
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
        elif ch == "," and not depth:
            terms.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    terms.append("".join(cur))
    return [t.strip() for t in terms if t.strip()]


def selected(filter_expr, case, inst):
    """--filter: comma-separated terms matched against the area, the case
    ID, the instance ID and the clause IDs (exactly, as a glob, or as a
    prefix up to '.' or '::'); a term starting with '!' excludes."""
    if not filter_expr:
        return True
    keys = (case.area, case.id, inst, *case.clauses)
    terms = _split_terms(filter_expr)
    inc = [t for t in terms if not t.startswith("!")]
    exc = [t[1:] for t in terms if t.startswith("!")]
    if inc and not any(_term_matches(t, keys) for t in inc):
        return False
    return not any(_term_matches(t, keys) for t in exc)


# --- running one case ------------------------------------------------------------------

def _describe_failure(e, failed_clause=None):
    tb = traceback.extract_tb(e.__traceback__)
    # The innermost line of a case file (send.py, throw.py, ...): the
    # check that failed, not the helper in _support.py that raised.
    where = ""
    mine = [fr for fr in tb
            if os.path.dirname(os.path.abspath(fr.filename)) == HERE]
    for fr in reversed(mine):
        if not os.path.basename(fr.filename).startswith("_"):
            where = f" [{os.path.basename(fr.filename)}:{fr.lineno}]"
            break
    if not where and mine:
        fr = mine[-1]
        where = f" [{os.path.basename(fr.filename)}:{fr.lineno}]"
    if failed_clause:
        where += f" (clause {failed_clause})"
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
    """Run one case instance; return (status, message, clauses): clauses is
    None or, for a FAIL inside an ``about()`` block, {"failed": the clause
    whose assertion failed, "passed": clauses whose blocks completed}.  Under
    YP_REFLEAK=W:R (yp-conform --refleak) the case body runs W+R times in
    this interpreter and reference growth fails it (ypkit.refleak)."""
    try:
        rl = refleak.settings()
    except refleak.SettingError as e:
        return "ERROR", f"--refleak: {e}"
    if rl is None:
        status, msg = _run_case_once(impl, paths, case_id, way, loop)
    else:
        status, msg = _run_refleak(
            lambda: _run_case_once(impl, paths, case_id, way, loop), *rl)
    clauses = _support.attribution()
    if status != "FAIL" or clauses["failed"] is None:
        return status, msg, None
    return status, msg, clauses


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
    _support.begin_case()
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
        failed = _support.attribution()["failed"]
        if failed is not None and failed not in case.clauses:
            return "ERROR", (f"case {case_id}: about({failed!r}) names a "
                             f"clause the case is not tagged with "
                             f"({', '.join(case.clauses)})")
        return "FAIL", _describe_failure(e, failed)
    _support.begin_case()       # a pass: nothing to attribute
    return "PASS", ""


def main(argv):
    """Debug driver: run every selected case in this process, no isolation
    (the listing and the expectations are results.listing's)."""
    import argparse
    sys.path.insert(0, ROOT)
    from results import listing, schema
    ap = argparse.ArgumentParser(prog="cases._harness")
    ap.add_argument("--impl", required=True)
    ap.add_argument("--path", action="append", default=[])
    ap.add_argument("--filter", default="")
    ap.add_argument("--loop", default="all")
    ap.add_argument("--expectations", default="")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args(argv)
    try:
        lst = listing.build({"impl": a.impl, "paths": a.path,
                             "filter": a.filter, "loops": a.loop,
                             "expectations": a.expectations}, ROOT)
    except listing.ListingError as e:
        print("harness error:", e)
        return 2
    for w in lst["warnings"]:
        print("warning:", w)
    counts = {}
    for c in lst["cases"]:
        status, msg, _ = run_case(a.impl, a.path, c["case"],
                                  c["way"] or "-", c["loop"] or "-")
        counts[status] = counts.get(status, 0) + 1
        mark = "" if schema.outcome(status, c["expected"]) == schema.OK \
            else "  <-- UNEXPECTED"
        if a.v or status != "PASS" or mark:
            print(f"{status:5} {c['id']}{mark}")
            if msg and status != "PASS":
                print("      " + msg.replace("\n", "\n      "))
    print(counts)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
