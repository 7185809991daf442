"""The enumeration: adapter + cases + filter + expectations -> listing.

The listing (``listing.json`` in the results directory) is everything the
workers and the report need: the options, run_info, the spec's areas and
clauses, and every selected instance with its expectation and skip reason.
"""
import difflib
import json
import os

from . import expectations as exps
from . import run_info as ri
from .schema import LEVELS, LISTING_FORMAT


class ListingError(Exception):
    """Nothing can run: a harness error."""


def build(opts, conf_dir):
    """opts: impl, paths (list), filter, loops, levels ('' = all, or
    comma-separated MUST/SHOULD/MAY), expectations (''|'none'|path),
    timeout, json, junit, tap, write_expectations, verbose."""
    from cases import LOOPS, load_all
    from cases import _harness, _runtime
    try:
        spec = _harness.load_spec()
        cases = load_all()
        adapter = _harness.load_adapter(opts["impl"], opts["paths"])
    except _harness.HarnessError as e:
        raise ListingError(str(e)) from None
    exp_path = opts.get("expectations", "")
    if exp_path in ("", None):
        exp_path = exps.default_path(conf_dir, adapter.name)
    elif exp_path == "none":
        exp_path = ""
    try:
        exp_impl, expectations = exps.load(exp_path)
    except exps.ExpectationsError as e:
        raise ListingError(str(e)) from None
    warnings = []
    if exp_impl is not None and exp_impl != adapter.name:
        raise ListingError(f"expectations file {exp_path} is for "
                           f"implementation {exp_impl!r}, but the adapter "
                           f"declares {adapter.name!r}")
    clause_ids = {c["id"] for c in spec["clauses"]}
    _check_cannot(adapter, cases, clause_ids, _harness.FIXTURES)
    for c in cases:
        unknown = [x for x in c.clauses if x not in clause_ids]
        if unknown:
            raise ListingError(f"case {c.id} names unknown clause(s) "
                               f"{', '.join(unknown)}")
    loops = opts.get("loops") or "all"
    loop_set = LOOPS if loops == "all" else tuple(loops.split(","))
    for lp in loop_set:
        if lp not in LOOPS:
            raise ListingError(f"unknown loop {lp!r} (choose from "
                               f"{', '.join(LOOPS)}, all)")
    levels = [lv.strip().upper() for lv in
              (opts.get("levels") or ",".join(LEVELS)).split(",")
              if lv.strip()]
    bad = [lv for lv in levels if lv not in LEVELS]
    if bad or not levels:
        raise ListingError(f"unknown level {', '.join(bad) or '(none)'!r} "
                           f"(choose from {', '.join(LEVELS)})")
    level_of = {c["id"]: c["level"] for c in spec["clauses"]}
    used, out = set(), []
    for c in cases:
        # --level: a case runs if it checks a clause of those levels, and
        # reports only on those clauses.
        mine = [x for x in c.clauses if level_of[x] in levels]
        for inst, way, lp in c.instances(LOOPS):
            exp = exps.match(expectations, c.id, inst)
            if exp:
                used.add(exp.pattern)
            if lp is not None and lp not in loop_set or not mine:
                continue
            if not _harness.selected(opts.get("filter", ""), c, inst):
                continue
            out.append({
                "index": len(out), "id": inst, "case": c.id,
                "way": way, "loop": lp, "area": c.area,
                "clauses": mine,
                "expected": list(exp.kinds) if exp else ["PASS"],
                "reason": exp.reason if exp else "",
                "expectation": exp.pattern if exp else None,
                "skip": adapter.skip_reason(c, lp) or "",
            })
    for e in expectations:
        if e.pattern not in used:
            warnings.append(f"stale expectation {e.pattern!r} matches no case")
    todo = sum(1 for e in expectations if e.reason.startswith("TODO"))
    if todo:
        warnings.append(f"{todo} expectation(s) in {exp_path} still have a "
                        f"TODO reason")
    info = ri.gather(adapter, opts["impl"], conf_dir, spec["version"],
                     _harness.CONTRACT, loop_set, _runtime.unavailable,
                     opts.get("timeout"), exp_path)
    return {
        "format": LISTING_FORMAT,
        "options": dict(opts, expectations=exp_path, loops=loops,
                        levels=",".join(levels)),
        "run_info": info,
        "areas": spec["areas"],
        "clauses": spec["clauses"],
        "cases": out,
        "warnings": warnings,
    }


def _check_cannot(adapter, cases, clause_ids, fixtures):
    """Every 'cannot' key names something the suite knows: a misspelled
    one would skip nothing and say nothing."""
    known = set(clause_ids) | set(fixtures)
    for c in cases:
        known |= {c.id, c.area, *c.requires}
    for key in adapter.cannot:
        if key not in known:
            near = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ListingError(
                f"adapter {adapter.module.__name__!r}: 'cannot' names "
                f"{key!r}, which is no fixture, capability, clause, case or "
                f"area of this suite{hint}")


def save(listing, results_dir):
    path = os.path.join(results_dir, "listing.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(listing, f, ensure_ascii=False)
    os.replace(path + ".tmp", path)


def load(results_dir):
    with open(os.path.join(results_dir, "listing.json"),
              encoding="utf-8") as f:
        return json.load(f)
