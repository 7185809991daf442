"""Records + listing -> the JSON report (the one every format renders).

    {"format": "yp-conform-report/2", "run_info": {...},
     "implementation": name, "module", "module_file", "adapter_contract",
     "spec_version", "variants": ["k=v"], "loops", "expectations",
     "seconds", "matches_expectations", "harness_errors",
     "summary": COUNTS, "warnings": [...],
     "areas":   [{"id", "title", "result", "counts", "clauses_ok",
                  "clauses_total"}],
     "clauses": [{"id", "area", "level", "text", "source", "result",
                  "counts"}],
     "cases":   [{"id", "case", "way", "loop", "area", "clauses", "status",
                  "expected", "outcome", "seconds", "message",
                  "expectation_reason", "skip_reason",
                  "failed_clause", "passed_clauses" (a FAIL a case
                  attributed to one of its clauses)}]}

COUNTS = {"PASS", "FAIL", "CRASH", "TIMEOUT", "SKIP", "ERROR",
"expected_failures", "unexpected"}; a result is "ok", "xfail" (only
expected failures), "skip" (all skipped), "FAIL" (something does not match
the expectations) or "--" (nothing selected).
"""
import json

from .schema import LEVELS, OK, REPORT_FORMAT, STATUSES, outcome


def for_clause(case, clause_id):
    """The case instance as clause_id sees it.  A FAIL the case attributed
    to another of its clauses (cases._support.about) is a PASS for a clause
    whose assertions had all passed before it; a clause not reached keeps
    the instance's status."""
    failed = case.get("failed_clause")
    if case["status"] != "FAIL" or failed in (None, clause_id) \
            or clause_id not in case.get("passed_clauses", ()):
        return case
    return dict(case, status="PASS", outcome=OK)


def tally(cases):
    t = {s: 0 for s in STATUSES}
    t.update(expected_failures=0, unexpected=0, total=0)
    for c in cases:
        t[c["status"]] += 1
        t["total"] += 1
        if c["outcome"] != OK:
            t["unexpected"] += 1
        elif c["status"] not in ("PASS", "SKIP"):
            t["expected_failures"] += 1
    return t


def verdict(t):
    if t["total"] == 0:
        return "--"
    if t["unexpected"]:
        return "FAIL"
    if t["expected_failures"]:
        return "xfail"
    if t["SKIP"] == t["total"]:
        return "skip"
    return "ok"


def build(listing, records, wall_seconds):
    opts, info = listing["options"], listing["run_info"]
    cases = []
    for c, r in zip(listing["cases"], records):
        case = {"id": c["id"], "case": c["case"], "way": c["way"],
                "loop": c["loop"], "area": c["area"],
                "clauses": c["clauses"], "status": r["status"],
                "expected": c["expected"],
                "outcome": outcome(r["status"], c["expected"]),
                "seconds": r["seconds"], "message": r["message"],
                "expectation_reason": c["reason"],
                "expectation": c.get("expectation"),
                "skip_reason": c["skip"]}
        if "signal" in r:
            case["signal"] = r["signal"]
        if "failed_clause" in r:
            case.update(failed_clause=r["failed_clause"],
                        passed_clauses=r["passed_clauses"])
        cases.append(case)
    clauses = []
    for cl in listing["clauses"]:
        t = tally([for_clause(c, cl["id"]) for c in cases
                   if cl["id"] in c["clauses"]])
        clauses.append(dict(cl, result=verdict(t), counts=t))
    areas = []
    for a in listing["areas"]:
        t = tally([c for c in cases if c["area"] == a["id"]])
        mine = [cl for cl in clauses if cl["area"] == a["id"]
                and cl["counts"]["total"]]
        areas.append(dict(a, result=verdict(t), counts=t,
                          clauses_total=len(mine),
                          clauses_ok=sum(cl["result"] in ("ok", "skip")
                                         for cl in mine)))
    summary = tally(cases)
    impl = info["implementation"]
    return {
        "format": REPORT_FORMAT,
        "implementation": impl["name"],
        "module": impl["module"],
        "module_file": impl["module_file"],
        "adapter_contract": impl["contract"],
        "spec_version": info["suite"]["spec_version"],
        "variants": [f"{k}={v}" for k, v in sorted(impl["variants"].items())],
        "loops": opts["loops"],
        "expectations": opts["expectations"] or "none",
        "seconds": round(wall_seconds, 2),
        "matches_expectations": summary["unexpected"] == 0,
        "harness_errors": summary["ERROR"],
        "run_info": info,
        "summary": summary,
        "warnings": listing.get("warnings", []),
        "areas": areas,
        "clauses": clauses,
        "cases": cases,
    }


def level_counts(report):
    """{level: (clauses fully passing, clauses run)}: "fully passing" is
    a result of ok or skip (the console's closing line, the README table)."""
    counts = {lv: [0, 0] for lv in LEVELS}
    for cl in report["clauses"]:
        if cl["counts"]["total"] == 0:
            continue
        counts[cl["level"]][1] += 1
        counts[cl["level"]][0] += cl["result"] in ("ok", "skip")
    return {lv: tuple(v) for lv, v in counts.items()}


def exit_code(report):
    """0: matches the expectations; 1: does not; 2: a harness error."""
    if report["summary"]["ERROR"]:
        return 2
    return 0 if report["matches_expectations"] else 1


def write_json(report, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, ensure_ascii=False)
        f.write("\n")


def load_json(path):
    """A saved report; ValueError if it is not one."""
    with open(path, encoding="utf-8") as f:
        rep = json.load(f)
    if not isinstance(rep, dict) or rep.get("format") != REPORT_FORMAT:
        raise ValueError(f"{path}: not a {REPORT_FORMAT} report (format "
                         f"{rep.get('format') if isinstance(rep, dict) else '?'!r})")
    return rep
