"""The results directory -> one record per instance.

What a worker leaves (see runner/worker.c):

    <i>.start    the worker got this far (its pid)
    <i>.res      its record (results.worker, or the runner for a declared skip)
    <i>.crash    the fatal signal's number (the runner's signal handler)
    <i>.timeout  the runner's alarm fired
    <i>.out      the worker's stdout and stderr
    <i>.leak     the leak checker's message (runner/leakcheck.c): a case
                 that passed but lost memory fails with it
    memcheck.<pid>  under Valgrind, that worker's memcheck log (leakcheck.c)

A crash or a hang becomes a CRASH or TIMEOUT record carrying the evidence:
the worker's output and memcheck's log, excerpted around the report that
matters (a sanitizer's ERROR line and stack, not its shadow-byte legend),
bounded, every cut said with its size.  A record that cannot be parsed is a
harness ERROR.
"""
import os
import re
import signal as _signal

from .schema import RecordError, parse_record

# How much of each piece of evidence a record carries: from the first
# report line on (EVIDENCE_HEAD), and the end of the output (EVIDENCE_TAIL).
EVIDENCE_HEAD = 8000
EVIDENCE_TAIL = 3000
# At most this much of a file is read (its start and its end).
READ_MAX = 4 << 20

# Where a checker's or the interpreter's report starts.
REPORT_START = re.compile(
    r"^(?:==\d+==\s*)?(?:ERROR: (?:AddressSanitizer|LeakSanitizer)"
    r"|WARNING: ThreadSanitizer|SUMMARY: UndefinedBehaviorSanitizer)"
    r"|^Fatal Python error"
    r"|^==\d+== \S", re.M)
# Memcheck ended the worker at an error (ci/valgrind --exit-on-first-error).
MEMCHECK_STOPPED = "Exit program on first error"

# Runtimes whose own library loses memory on every loop, so a leak report
# under them cannot be pinned on the implementation: uvloop 0.17 (Debian
# 12) leaks ~2 KB of Python objects per loop with any implementation, the
# native coroutines included (ci/gate-refleak leaves uvloop out for the
# same reason).  Their cases are leak-checked under the other runtimes.
LEAKY_RUNTIMES = frozenset({"uvloop"})


def _read(path):
    """The text of path (None if absent); past READ_MAX its start and end
    with the size of the middle said."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(0)
            if size <= READ_MAX:
                return f.read().decode("utf-8", "replace")
            head = f.read(READ_MAX // 2)
            f.seek(size - READ_MAX // 2)
            tail = f.read()
    except OSError:
        return None
    cut = size - len(head) - len(tail)
    return (head.decode("utf-8", "replace")
            + f"\n[... {cut} bytes cut ...]\n"
            + tail.decode("utf-8", "replace"))


def excerpt(text, head=EVIDENCE_HEAD, tail=EVIDENCE_TAIL):
    """text bounded to about head + tail characters: from the first report
    line (a sanitizer's ERROR, memcheck, a fatal Python error) on, and the
    end; each part left out replaced by a line saying how much."""
    if len(text) <= head + tail:
        return text
    m = REPORT_START.search(text)
    start = m.start() if m else max(0, len(text) - head - tail)
    parts = []
    if start:
        parts.append(f"[... {start} characters cut ...]")
    end = min(len(text), start + head)
    parts.append(text[start:end].rstrip("\n"))
    if end < len(text):
        rest = max(end, len(text) - tail)
        if rest > end:
            parts.append(f"[... {rest - end} characters cut ...]")
        parts.append(text[rest:].rstrip("\n"))
    return "\n".join(parts)


def _memcheck_log(results_dir, base):
    """The worker's memcheck log (under Valgrind), or None."""
    start = _read(base + ".start")
    pid = start.strip() if start else ""
    if not pid.isdigit():
        return None
    log = _read(os.path.join(results_dir, f"memcheck.{pid}"))
    return log if log and log.strip() else None


def _with_output(head, base, memcheck=None):
    out = _read(base + ".out")
    if out and out.strip():
        head = f"{head}\n--- worker output ---\n{excerpt(out.rstrip())}"
    if memcheck:
        head = f"{head}\n--- memcheck ---\n{excerpt(memcheck.rstrip())}"
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
    memcheck = _memcheck_log(results_dir, base)
    rec = {"id": case["id"], "seconds": None}
    if crash is not None:
        try:
            sig = int(crash.strip())
        except ValueError:
            sig = 0
        after = " after the case finished" if res is not None else ""
        rec.update(status="CRASH", signal=sig, message=_with_output(
            f"worker killed by signal {sig} ({_signame(sig)}){after}", base,
            memcheck))
    elif os.path.exists(base + ".timeout"):
        rec.update(status="TIMEOUT", message=_with_output(
            f"no result after {timeout:g} s", base, memcheck))
    elif res is not None:
        try:
            parsed = parse_record(res, case["id"])
        except RecordError as e:
            rec.update(status="ERROR", message=_with_output(
                f"harness error: malformed result record: {e}", base,
                memcheck))
        else:
            rec.update(status=parsed["status"], message=parsed["message"],
                       seconds=parsed["seconds"])
            if "failed_clause" in parsed:
                rec.update(failed_clause=parsed["failed_clause"],
                           passed_clauses=parsed["passed_clauses"])
            leak = _read(base + ".leak")
            leaky_runtime = case.get("loop") in LEAKY_RUNTIMES
            if rec["status"] == "PASS" and leak and not leaky_runtime:
                rec.update(status="FAIL", message=leak)
                if memcheck:
                    rec["message"] += "\n" + excerpt(memcheck.rstrip())
            elif rec["status"] == "PASS" and memcheck \
                    and MEMCHECK_STOPPED in memcheck and not leaky_runtime:
                # Memcheck ended the worker after its record was written.
                rec.update(status="FAIL", message=_with_output(
                    "memcheck found an error after the case", base,
                    memcheck))
            elif rec["status"] != "PASS" and memcheck:
                rec["message"] += "\n--- memcheck ---\n" \
                    + excerpt(memcheck.rstrip())
            if rec["status"] == "SKIP" and not rec["message"]:
                rec["message"] = case.get("skip") or "skipped"
            if rec["status"] == "ERROR":
                rec["message"] = _with_output(rec["message"], base)
    elif os.path.exists(base + ".start"):
        rec.update(status="CRASH", message=_with_output(
            "worker exited without a result", base, memcheck))
    else:
        rec.update(status="CRASH",
                   message="the worker never started this case")
    return rec


def collect(results_dir, listing):
    timeout = float(listing["options"].get("timeout") or 0)
    return [collect_one(results_dir, c, timeout) for c in listing["cases"]]
