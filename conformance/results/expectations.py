"""Expectations files: an implementation's known failures.

    {"implementation": "native", "comment": "...",
     "expected": {PATTERN: {"result": KIND or [KIND, ...], "reason": "..."}}}

PATTERN is an instance ID (``area::case[way,loop]``), a case ID
(``area::case``, all its instances) or a glob over either.  The most
specific pattern wins: instance ID, then case ID, then the first glob.
"""
import fnmatch
import json
import os

from .schema import KINDS


class ExpectationsError(Exception):
    """A file that cannot be used: a harness error."""


class Expectation:
    __slots__ = ("pattern", "kinds", "reason")

    def __init__(self, pattern, kinds, reason):
        self.pattern, self.kinds, self.reason = pattern, kinds, reason


def load(path):
    """(implementation or None, [Expectation]) from ``path`` ('' -> none)."""
    if not path:
        return None, []
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ExpectationsError(f"expectations file {path}: {e}") from e
    exp = data.get("expected") if isinstance(data, dict) else None
    if not isinstance(exp, dict):
        raise ExpectationsError(f"expectations file {path}: needs an "
                                f"'expected' object")
    out = []
    for pattern, entry in exp.items():
        if not isinstance(entry, dict) or "reason" not in entry \
                or "result" not in entry:
            raise ExpectationsError(f"expectations file {path}: entry "
                                    f"{pattern!r} needs 'result' and 'reason'")
        kinds = entry["result"]
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        bad = [k for k in kinds if k not in KINDS]
        if bad or not kinds:
            raise ExpectationsError(f"expectations file {path}: entry "
                                    f"{pattern!r} has unknown result "
                                    f"{bad or kinds}")
        out.append(Expectation(pattern, kinds, str(entry["reason"])))
    impl = data.get("implementation")
    return (impl if isinstance(impl, str) else None), out


def match(expectations, case_id, inst):
    """The Expectation for one instance, or None."""
    for want in (inst, case_id):
        for e in expectations:
            if e.pattern == want:
                return e
    for e in expectations:
        if any(c in e.pattern for c in "*?[") and \
                (fnmatch.fnmatchcase(inst, e.pattern)
                 or fnmatch.fnmatchcase(case_id, e.pattern)):
            return e
    return None


def default_path(conf_dir, implementation):
    auto = os.path.join(conf_dir, "expectations", implementation + ".json")
    return auto if os.path.exists(auto) else ""


def write(path, implementation, cases, old_comment=None):
    """Write this run's failures to ``path``, merged into what ``path``
    already holds: an old entry that matches no instance of this run is kept
    as it is, so ``--filter`` never loses entries; one that does is
    replaced by what the run saw.

    A failure is keyed by its case ID when every selected instance of the
    case failed the same way (the usual shape of a real divergence), by its
    instance ID otherwise.  A failure that the expectations used or the old
    file explained keeps that reason; a new one gets "TODO" plus its first
    message line, so that a reviewer sees which reasons are owed.
    Returns (entries written, harness errors left out)."""
    old = []
    comment = None
    if os.path.exists(path):
        _, old = load(path)
        try:
            with open(path, encoding="utf-8") as f:
                comment = json.load(f).get("comment")
        except (OSError, ValueError, AttributeError):
            comment = None
    by_case = {}
    for c in cases:
        by_case.setdefault(c["case"], []).append(c)
    covered = set()
    for c in cases:
        e = match(old, c["case"], c["id"])
        if e is not None:
            covered.add(e.pattern)
    entries, errors = {}, 0
    for e in old:
        if e.pattern not in covered:
            entries[e.pattern] = {"result": e.kinds if len(e.kinds) > 1
                                  else e.kinds[0], "reason": e.reason}
    for c in cases:
        st = c["status"]
        if st in ("PASS", "SKIP"):
            continue
        if st == "ERROR":
            errors += 1          # a broken adapter is never an expectation
            continue
        same = all(o["status"] == st for o in by_case[c["case"]])
        key = c["case"] if same else c["id"]
        if key in entries:
            continue
        prior = match(old, c["case"], c["id"])
        reason = c.get("expectation_reason") or (prior.reason if prior
                                                 else "")
        if not reason:
            first = c["message"].strip().split("\n", 1)[0][:400]
            reason = f"TODO: explain. First seen: {first}"
        entries[key] = {"result": st, "reason": reason}
    data = {"implementation": implementation,
            "comment": comment or "Generated by yp-conform "
                       "--write-expectations; replace every TODO reason "
                       "with the divergence's cause before committing.",
            "expected": entries}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return len(entries), errors
