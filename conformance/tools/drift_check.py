"""Drift check: every SPEC.md clause has a case, every case names a clause,
and clauses.json matches SPEC.md.  Exit 0 when in sync, 1 otherwise.

    /usr/bin/python3.11 conformance/tools/drift_check.py
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import spec  # noqa: E402
from cases import load_all  # noqa: E402


def main():
    problems = []
    parsed = spec.parse()
    clause_ids = [c["id"] for c in parsed["clauses"]]
    cases = load_all()
    named = {}
    for case in cases:
        if not case.clauses:
            problems.append(f"case {case.id} names no clause")
        for cid in case.clauses:
            named.setdefault(cid, []).append(case.id)
            if cid not in clause_ids:
                problems.append(f"case {case.id} names unknown clause {cid}")
    for cid in clause_ids:
        if cid not in named:
            problems.append(f"clause {cid} has no case")
    ids = [c.id for c in cases]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"duplicate case id {dup}")
    if spec.main(["--check"]) != 0:
        problems.append("clauses.json is stale (tools/spec.py --write)")
    for p in problems:
        print("drift:", p)
    n_inst = sum(len(c.ways) * len(c.loops) for c in cases)
    print(f"{len(clause_ids)} clauses, {len(cases)} cases "
          f"({n_inst} instances over every runtime); "
          f"{'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
