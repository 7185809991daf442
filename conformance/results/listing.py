"""The enumeration: adapter + cases + filter + expectations -> listing.

The listing (``listing.json`` in the results directory) is everything the
workers and the report need: the options, run_info, the spec's areas and
clauses, and every selected instance with its expectation and skip reason.
"""
import json
import os

from . import expectations as exps
from . import run_info as ri
from .schema import LISTING_FORMAT


class ListingError(Exception):
    """Nothing can run: a harness error."""


def build(opts, conf_dir):
    """opts: impl, paths (list), filter, loops, expectations (''|'none'|
    path), timeout, json, junit, tap, write_expectations, verbose."""
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
        warnings.append(f"expectations file {exp_path} is for "
                        f"{exp_impl!r}, the adapter says {adapter.name!r}")
    clause_ids = {c["id"] for c in spec["clauses"]}
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
    used, out = set(), []
    for c in cases:
        for inst, way, lp in c.instances(LOOPS):
            exp = exps.match(expectations, c.id, inst)
            if exp:
                used.add(exp.pattern)
            if lp is not None and lp not in loop_set:
                continue
            if not _harness.selected(opts.get("filter", ""), c, inst):
                continue
            out.append({
                "index": len(out), "id": inst, "case": c.id,
                "way": way, "loop": lp, "area": c.area,
                "clauses": list(c.clauses),
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
        "options": dict(opts, expectations=exp_path, loops=loops),
        "run_info": info,
        "areas": spec["areas"],
        "clauses": spec["clauses"],
        "cases": out,
        "warnings": warnings,
    }


def save(listing, results_dir):
    path = os.path.join(results_dir, "listing.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(listing, f, ensure_ascii=False)
    os.replace(path + ".tmp", path)


def load(results_dir):
    with open(os.path.join(results_dir, "listing.json"),
              encoding="utf-8") as f:
        return json.load(f)
