"""The results directory -> one record per instance.

What a worker leaves (see runner/worker.c):

    <i>.start    the worker got this far
    <i>.res      its record (results.worker, or the runner for a declared skip)
    <i>.crash    the fatal signal's number (the runner's signal handler)
    <i>.timeout  the runner's alarm fired
    <i>.out      the worker's stdout and stderr
    <i>.leak     the leak checker's message (runner/leakcheck.c): a case
                 that passed but lost memory fails with it

A crash or a hang becomes a CRASH or TIMEOUT record carrying the tail of
the worker's output; a record that cannot be parsed is a harness ERROR.
"""
import os
import signal as _signal

from .schema import RecordError, parse_record

OUTPUT_TAIL = 4000

# Runtimes whose own library loses memory on every loop, so a leak report
# under them cannot be pinned on the implementation: uvloop 0.17 (Debian
# 12) leaks ~2 KB of Python objects per loop with any implementation, the
# native coroutines included (ci/gate-refleak leaves uvloop out for the
# same reason).  Their cases are leak-checked under the other runtimes.
LEAKY_RUNTIMES = frozenset({"uvloop"})


def _read(path, tail=0):
    try:
        with open(path, "rb") as f:
            if tail:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - tail))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def _with_output(head, base):
    out = _read(base + ".out", OUTPUT_TAIL)
    if out and out.strip():
        return f"{head}\n--- worker output (tail) ---\n{out.rstrip()}"
    return head


def _signame(sig):
    try:
        return _signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def collect_one(results_dir, case, timeout):
    base = os.path.join(results_dir, str(case["index"]))
    crash = _read(base + ".crash")
    res = _read(base + ".res")
    rec = {"id": case["id"], "seconds": None}
    if crash is not None:
        try:
            sig = int(crash.strip())
        except ValueError:
            sig = 0
        after = " after the case finished" if res is not None else ""
        rec.update(status="CRASH", signal=sig, message=_with_output(
            f"worker killed by signal {sig} ({_signame(sig)}){after}", base))
    elif os.path.exists(base + ".timeout"):
        rec.update(status="TIMEOUT", message=_with_output(
            f"no result after {timeout:g} s", base))
    elif res is not None:
        try:
            parsed = parse_record(res, case["id"])
        except RecordError as e:
            rec.update(status="ERROR", message=_with_output(
                f"harness error: malformed result record: {e}", base))
        else:
            rec.update(status=parsed["status"], message=parsed["message"],
                       seconds=parsed["seconds"])
            leak = _read(base + ".leak")
            if rec["status"] == "PASS" and leak \
                    and case.get("loop") not in LEAKY_RUNTIMES:
                rec.update(status="FAIL", message=leak)
            if rec["status"] == "SKIP" and not rec["message"]:
                rec["message"] = case.get("skip") or "skipped"
            if rec["status"] == "ERROR":
                rec["message"] = _with_output(rec["message"], base)
    elif os.path.exists(base + ".start"):
        rec.update(status="CRASH", message=_with_output(
            "worker exited without a result", base))
    else:
        rec.update(status="CRASH",
                   message="the worker never started this case")
    return rec


def collect(results_dir, listing):
    timeout = float(listing["options"].get("timeout") or 0)
    return [collect_one(results_dir, c, timeout) for c in listing["cases"]]
