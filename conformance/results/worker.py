"""One case instance -> one record, in the worker process.

The record is written to ``<i>.res.tmp`` and renamed to ``<i>.res``: a
worker killed while writing leaves no record (a CRASH), never half of one.
"""
import json
import os
import time

from . import listing as lst
from .schema import make_record


def write_record(results_dir, index, record):
    path = os.path.join(results_dir, f"{index}.res")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False))
        f.write("\n")
    os.replace(path + ".tmp", path)


def run(results_dir, index):
    """Run instance ``index`` of the listing; write its record."""
    listing = lst.load(results_dir)
    case = listing["cases"][index]
    opts = listing["options"]
    timeout = float(opts.get("timeout") or 0)
    if timeout > 1.0:
        # A Python traceback of every thread shortly before the alarm.
        import faulthandler
        faulthandler.dump_traceback_later(timeout - 0.5, exit=False)
    from cases import _harness
    t0 = time.monotonic()
    try:
        status, message, clauses = _harness.run_case(
            opts["impl"], os.pathsep.join(opts["paths"]), case["case"],
            case["way"] or "-", case["loop"] or "-")
    finally:
        if timeout > 1.0:
            faulthandler.cancel_dump_traceback_later()
    record = make_record(case["id"], status, message, time.monotonic() - t0,
                         clauses)
    write_record(results_dir, index, record)
    return status
