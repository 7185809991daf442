"""Statuses, outcomes and the per-instance record.

A worker writes one record per case instance, one JSON object:

    {"format": "yp-conform-record/1", "id": "area::case[way,loop]",
     "status": "PASS" | "FAIL" | "SKIP" | "ERROR",
     "message": "...", "seconds": 0.012,
     "failed_clause": "throw.no-handle-drops",     (a FAIL inside about())
     "passed_clauses": ["throw.no-handle-raises"]}  (its completed blocks)

The collector adds CRASH and TIMEOUT records (with "signal" for a crash)
for workers that left no record.  A record that is not valid JSON, lacks a
field, has the wrong type or names another instance is a harness ERROR,
never a pass.
"""
RECORD_FORMAT = "yp-conform-record/1"
REPORT_FORMAT = "yp-conform-report/2"
LISTING_FORMAT = "yp-conform-listing/1"

# What a case instance did.  ERROR is the harness's own failure (a broken
# adapter, a malformed record): never an expectation, always exit 2.
STATUSES = ("PASS", "FAIL", "CRASH", "TIMEOUT", "SKIP", "ERROR")
# What may be written in an expectations file.
KINDS = ("PASS", "FAIL", "CRASH", "TIMEOUT", "SKIP")
WORKER_STATUSES = ("PASS", "FAIL", "SKIP", "ERROR")

# How a status compares with the expectations.
OK = "ok"
UNEXPECTED = "unexpected"            # failed, expected to pass
XPASS = "unexpected-pass"            # passed, expected to fail
REGRESSED = "regressed"              # expected FAIL, got CRASH (or the reverse)
HARNESS = "harness-error"            # ERROR: the harness could not tell
OUTCOMES = (OK, UNEXPECTED, XPASS, REGRESSED, HARNESS)

LEVELS = ("MUST", "SHOULD", "MAY")


class RecordError(ValueError):
    """A record that cannot be trusted."""


def make_record(inst, status, message, seconds, clauses=None):
    """clauses: None, or {"failed": id, "passed": [ids]} for a FAIL that a
    case attributed to one of its clauses (cases._support.about)."""
    rec = {"format": RECORD_FORMAT, "id": inst, "status": status,
           "message": message, "seconds": round(float(seconds), 6)}
    if clauses is not None:
        rec.update(failed_clause=clauses["failed"],
                   passed_clauses=list(clauses["passed"]))
    return rec


def parse_record(text, inst):
    """The record in ``text`` for instance ``inst``; RecordError if it is
    not exactly one well-formed record of that instance."""
    import json
    try:
        rec = json.loads(text)
    except ValueError as e:
        raise RecordError(f"not a JSON record ({e}; {len(text)} bytes: "
                          f"{text[:120]!r}...)") from None
    if not isinstance(rec, dict):
        raise RecordError(f"not a JSON object: {text[:120]!r}")
    if rec.get("format") != RECORD_FORMAT:
        raise RecordError(f"format {rec.get('format')!r}, expected "
                          f"{RECORD_FORMAT!r}")
    if rec.get("status") not in WORKER_STATUSES:
        raise RecordError(f"unknown status {rec.get('status')!r}")
    if not isinstance(rec.get("message"), str):
        raise RecordError("'message' is not a string")
    secs = rec.get("seconds")
    if isinstance(secs, bool) or not isinstance(secs, (int, float)):
        raise RecordError("'seconds' is not a number")
    if "failed_clause" in rec and (
            rec["status"] != "FAIL"
            or not isinstance(rec["failed_clause"], str)
            or not isinstance(rec.get("passed_clauses"), list)
            or not all(isinstance(c, str) for c in rec["passed_clauses"])):
        raise RecordError("'failed_clause' without a FAIL, or malformed "
                          "'passed_clauses'")
    if "id" in rec and rec["id"] != inst:
        raise RecordError(f"record of {rec['id']!r} in the file of {inst!r}")
    return rec


def outcome(status, expected):
    """Compare a status with the expected kinds (a list, ["PASS"] if none)."""
    if status == "ERROR":
        return HARNESS
    if status == "SKIP" or status in expected:
        return OK
    if status == "PASS":
        return XPASS
    if "PASS" in expected:
        return UNEXPECTED
    return REGRESSED
