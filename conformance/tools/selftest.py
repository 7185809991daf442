"""Self-test of yp-conform: harness errors, CRASH and TIMEOUT isolation,
expectation bookkeeping (FAIL->CRASH, unexpected pass), the records (a
1 MiB message arrives whole; a malformed or truncated record is a harness
error), run_info and the reports.

    /usr/bin/python3.11 conformance/tools/selftest.py path/to/yp-conform
"""
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.dirname(HERE)
sys.path.insert(0, CONF)
from results import schema  # noqa: E402
ADAPTERS = os.path.join(HERE, "selftest_adapters")
NATIVE = os.path.join(os.path.dirname(HERE), "adapters", "native")
failures = []


def run(exe, *args, timeout=300):
    p = subprocess.run([exe, *args], capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def expect(cond, what, output=""):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
        if output:
            print("     " + output[-2000:].replace("\n", "\n     "))


def main(exe):
    base = ["--path", ADAPTERS, "--path", NATIVE]
    for module, needle in (("yc_broken_import", "broken on purpose"),
                           ("yc_missing_fixtures", "lacks fixtures"),
                           ("yc_wrong_contract", "contract"),
                           ("yc_crash_on_import", "crashed"),
                           ("no_such_module_xyz", "cannot import")):
        rc, out = run(exe, "--impl", module, *base)
        expect(rc == 2 and needle in out,
               f"harness error for {module} (exit 2, mentions {needle!r})",
               out)

    rc, out = run(exe, "--impl", "yp_native", *base, "--filter", "nomatch")
    expect(rc == 2 and "no case matches" in out, "empty selection is an error",
           out)

    tmp = tempfile.mkdtemp(prefix="yc-selftest.")
    sel = ["--filter", "borrow::shared_shared,attach::gil_held,"
           "attach::detach_releases,fixture::counter", "--loop", "asyncio",
           "--timeout", "4", "-j", "2"]
    js, xml, tap = (os.path.join(tmp, n) for n in ("r.json", "r.xml", "r.tap"))
    rc, out = run(exe, "--impl", "yc_faulty", *base, *sel,
                  "--expectations", "none", "--json", js, "--junit", xml,
                  "--tap", tap)
    expect(rc == 1, "crash and hang without expectations: exit 1", out)
    rep = json.load(open(js))
    st = {c["case"]: c["status"] for c in rep["cases"]}
    expect(st.get("borrow::shared_shared") == "CRASH", "segfault -> CRASH",
           json.dumps(st))
    expect(st.get("attach::gil_held") == "TIMEOUT", "hang -> TIMEOUT",
           json.dumps(st))
    expect(st.get("fixture::counter") == "CRASH",
           "second crashing case isolated too", json.dumps(st))
    expect(st.get("attach::detach_releases") == "SKIP",
           "declared 'cannot' -> SKIP", json.dumps(st))
    crash = [c for c in rep["cases"] if c["status"] == "CRASH"][0]
    expect("signal 11" in crash["message"], "CRASH names the signal",
           crash["message"])
    expect(rep["matches_expectations"] is False, "JSON says mismatch")
    cl = {c["id"]: c for c in rep["clauses"]}
    expect(cl["borrow.shared-shared"]["result"] == "FAIL"
           and cl["borrow.shared-shared"]["counts"]["CRASH"] == 1,
           "per-clause counts in JSON", json.dumps(cl["borrow.shared-shared"]))
    root = ET.parse(xml).getroot()
    expect(root.tag == "testsuites" and len(root.iter("testcase").__next__().attrib) > 0,
           "JUnit XML parses")
    tap_text = open(tap).read()
    expect(tap_text.startswith("TAP version 13\n1..4\n")
           and "not ok" in tap_text and "# SKIP" in tap_text, "TAP output",
           tap_text)

    exp = os.path.join(tmp, "exp.json")
    json.dump({"expected": {
        "borrow::shared_shared": {"result": "FAIL", "reason": "was FAIL"},
        "attach::gil_held": {"result": "TIMEOUT", "reason": "hangs"},
        "fixture::counter": {"result": "CRASH", "reason": "crashes"},
        "attach::no_such_case": {"result": "FAIL", "reason": "stale"},
    }}, open(exp, "w"))
    rc, out = run(exe, "--impl", "yc_faulty", *base, *sel,
                  "--expectations", exp, "--json", js)
    rep = json.load(open(js))
    oc = {c["case"]: c["outcome"] for c in rep["cases"]}
    expect(rc == 1 and oc["borrow::shared_shared"] == "regressed"
           and "REGRESSED" in out, "FAIL -> CRASH is reported", out)
    expect(oc["attach::gil_held"] == "ok" and oc["fixture::counter"] == "ok",
           "expected TIMEOUT/CRASH match", json.dumps(oc))
    expect("stale expectation" in out, "stale expectation warned", out)

    json.dump({"expected": {
        "fixture::counter": {"result": "FAIL", "reason": "not any more"},
    }}, open(exp, "w"))
    rc, out = run(exe, "--impl", "yp_native", *base, "--filter",
                  "fixture::counter", "--loop", "asyncio", "--expectations",
                  exp, "--json", js)
    rep = json.load(open(js))
    expect(rc == 1 and rep["cases"][0]["outcome"] == "unexpected-pass"
           and "UNEXPECTED PASS" in out, "unexpected pass is reported", out)

    rc, out = run(exe, "--impl", "yp_native", *base, "--filter",
                  "fixture::counter,send::value_ignored", "--loop", "uvloop")
    expect(rc == 0 and "matches its expectations" in out,
           "native with its own expectations file (auto-picked): exit 0", out)
    # --write-expectations round trip: the generated file makes the same
    # run match; a new failure gets a TODO reason, a known one keeps its own.
    gen = os.path.join(tmp, "gen.json")
    json.dump({"expected": {
        "attach::gil_held": {"result": "TIMEOUT", "reason": "hangs"},
    }}, open(exp, "w"))
    rc, out = run(exe, "--impl", "yc_faulty", *base, *sel,
                  "--expectations", exp, "--write-expectations", gen)
    g = json.load(open(gen))["expected"]
    expect(rc == 1 and set(g) == {"borrow::shared_shared",
                                  "attach::gil_held", "fixture::counter"}
           and g["fixture::counter"]["result"] == "CRASH"
           and g["attach::gil_held"]["reason"] == "hangs"
           and g["borrow::shared_shared"]["reason"].startswith("TODO"),
           "--write-expectations lists every failure by case", json.dumps(g))
    rc, out = run(exe, "--impl", "yc_faulty", *base, *sel,
                  "--expectations", gen)
    expect(rc == 0 and "matches its expectations" in out,
           "the generated expectations file matches the run", out)

    # Runtimes: an unknown one claimed or asked for is a harness error; a
    # 1.0 adapter claims asyncio and uvloop, so its trio instances SKIP.
    rc, out = run(exe, "--impl", "yc_bad_runtime", *base)
    expect(rc == 2 and "unknown runtimes" in out and "curio" in out,
           "harness error for an unknown claimed runtime", out)
    rc, out = run(exe, "--impl", "yp_native", *base, "--loop", "curio")
    expect(rc == 2 and "unknown loop" in out, "--loop curio: exit 2", out)
    rc, out = run(exe, "--impl", "yc_contract10", *base, "--filter",
                  "fixture::counter", "--loop", "trio,asyncio",
                  "--expectations", "none", "--json", js)
    st = {c["loop"]: (c["status"], c["message"])
          for c in json.load(open(js))["cases"]}
    expect(rc == 0 and st.get("asyncio", ("",))[0] == "PASS"
           and st.get("trio", ("",))[0] == "SKIP"
           and "not claimed" in st["trio"][1],
           "a 1.0 adapter: asyncio runs, trio SKIPs as not claimed",
           json.dumps(st) + out)
    # A capability a later 1.x added: an earlier adapter SKIPs its cases.
    rc, out = run(exe, "--impl", "yc_contract10", *base, "--filter",
                  "fixture::cancellable_sleep_result", "--loop", "asyncio",
                  "--expectations", "none", "--json", js)
    st = [(c["status"], c["message"]) for c in json.load(open(js))["cases"]]
    expect(rc == 0 and len(st) == 1 and st[0][0] == "SKIP"
           and "predates cancellable_sleep.result" in st[0][1],
           "a 1.0 adapter SKIPs the cases of cancellable_sleep's result (1.3)",
           json.dumps(st) + out)
    # A fixture a later 1.x added: an earlier adapter may lack it (no
    # harness error) and SKIPs the cases that need it.
    rc, out = run(exe, "--impl", "yc_contract13", *base, "--filter",
                  "fixture::race,throw::gc_race_result_cycle,fixture::counter",
                  "--loop", "asyncio", "--expectations", "none", "--json", js)
    st = {c["id"].partition("[")[0]: (c["status"], c["message"])
          for c in json.load(open(js))["cases"]}
    expect(rc == 0 and st.get("fixture::counter", ("",))[0] == "PASS"
           and all(st.get(k, ("",))[0] == "SKIP"
                   and "predates race" in st[k][1]
                   for k in ("fixture::race", "throw::gc_race_result_cycle")),
           "a 1.3 adapter without race runs, and SKIPs the cases of race (1.5)",
           json.dumps(st) + out)

    records(exe, base, tmp)
    stop_signals(exe, base)
    print(f"{'all ok' if not failures else f'{len(failures)} failed'}")
    return 1 if failures else 0


def records(exe, base, tmp):
    """The record path: nothing truncated, nothing unparsable trusted."""
    js = os.path.join(tmp, "big.json")
    rc, out = run(exe, "--impl", "yc_big_message", *base, "--filter",
                  "fixture::counter", "--loop", "asyncio", "--expectations",
                  "none", "--json", js)
    sys.path.insert(0, os.path.join(HERE, "selftest_adapters"))
    sys.path.insert(0, NATIVE)
    import yc_big_message as big
    msg = json.load(open(js))["cases"][0]["message"] if os.path.exists(js) \
        else ""
    expect(rc == 1 and big.BODY + big.MARKER in msg,
           f"a 1 MiB failure message arrives whole ({len(msg)} chars)",
           out[-500:])

    # run_info in every report.
    rep = json.load(open(js))
    ri = rep.get("run_info", {})
    expect(ri.get("implementation", {}).get("name") == "big-message"
           and ri["implementation"]["version"].startswith("CPython 3.")
           and ri["implementation"]["module"] == "yc_big_message"
           and ri["python"]["build"] in ("release", "debug")
           and "asyncio" in ri["runtimes"]
           and set(ri["mode"]) >= {"sanitizers", "valgrind", "refleak"}
           and ri["suite"]["spec_version"] and ri["suite"]["revision"]
           and ri["host"]["name"] and ri["date"].endswith("Z"),
           "run_info: implementation and version, Python, runtimes, mode, "
           "suite, host, date", json.dumps(ri)[:1500])

    # Records that cannot be trusted: re-run the report step over a kept
    # results directory whose records were damaged.
    rc, out = run(exe, "--impl", "yp_native", *base, "--filter",
                  "fixture::counter,fixture::probe", "--loop", "asyncio",
                  "--keep")
    kept = out.rsplit("per-case files kept in ", 1)[-1].strip()
    expect(rc == 0 and os.path.isdir(kept), "--keep keeps the results", out)
    if not os.path.isdir(kept):
        return
    lst = json.load(open(os.path.join(kept, "listing.json")))
    idx = {c["case"]: c["index"] for c in lst["cases"]}
    res = {k: os.path.join(kept, f"{i}.res") for k, i in idx.items()}
    good = open(res["fixture::counter"]).read()
    expect(json.loads(good)["status"] == "PASS", "a worker record is JSON",
           good)
    rep_js = os.path.join(tmp, "damaged.json")

    def report(**opts):
        listing = dict(lst, options=dict(lst["options"], json=rep_js))
        json.dump(listing, open(os.path.join(kept, "listing.json"), "w"))
        return run(exe, "--yp-report", kept, CONF, "1.0")

    for what, text in (
            ("a truncated record", good[:len(good) // 2]),
            ("a record that is not JSON", "PASS\t0.1\n"),
            ("a record without a status",
             json.dumps({"format": schema.RECORD_FORMAT, "message": "",
                         "seconds": 0})),
            ("a record with an unknown status",
             json.dumps(dict(json.loads(good), status="OK"))),
            ("a record of another instance",
             json.dumps(dict(json.loads(good), id="x::y[-,-]")))):
        open(res["fixture::counter"], "w").write(text)
        rc, out = report()
        st = {c["case"]: c for c in json.load(open(rep_js))["cases"]}
        c = st["fixture::counter"]
        expect(rc == 2 and c["status"] == "ERROR"
               and c["outcome"] == "harness-error"
               and "malformed result record" in c["message"]
               and "HARNESS ERROR" in out,
               f"{what} is a harness error (exit 2), never a pass",
               out[-800:])
    os.unlink(res["fixture::counter"])
    rc, out = report()
    st = {c["case"]: c for c in json.load(open(rep_js))["cases"]}
    expect(rc == 1 and st["fixture::counter"]["status"] == "CRASH"
           and "without a result" in st["fixture::counter"]["message"],
           "a started worker without a record is a CRASH", out[-800:])

    # The evidence a CRASH carries: the sanitizer's ERROR line and the top
    # of its stack, not only the tail (ASan ends with its shadow-byte
    # legend); under Valgrind the worker's memcheck log; every cut said.
    i = idx["fixture::counter"]
    noise = "".join(f"case output line {n}\n" for n in range(40000))
    asan = ("==4242==ERROR: AddressSanitizer: heap-use-after-free on address"
            " 0x602000000010\n    #0 0x7f00 in yp_the_faulty_frame "
            "engine/src/core/x.c:1\n    #1 0x7f01 in caller\n"
            + "".join(f"  0x0c047fff80{n:02x}: fa fa fd fa\n"
                      for n in range(400))
            + "Shadow byte legend (one shadow byte represents 8 "
              "application bytes):\n  Addressable: 00\n")
    open(os.path.join(kept, f"{i}.out"), "w").write(noise + asan)
    pid = open(os.path.join(kept, f"{i}.start")).read().strip()
    memcheck = (f"==4243== Invalid read of size 8\n==4243==    at 0x1: "
                f"yp_memcheck_frame (x.c:2)\n")
    open(os.path.join(kept, f"memcheck.{pid}"), "w").write(memcheck)
    rc, out = report()
    msg = {c["case"]: c for c in json.load(open(rep_js))["cases"]}[
        "fixture::counter"]["message"]
    expect(rc == 1 and "ERROR: AddressSanitizer: heap-use-after-free" in msg
           and "#0 0x7f00 in yp_the_faulty_frame" in msg
           and "Addressable: 00" in msg
           and "characters cut ...]" in msg and len(msg) < 20000,
           "a CRASH carries the sanitizer's ERROR line and stack top, "
           "bounded, with the cut said", msg[:600])
    expect(pid.isdigit() and "Invalid read of size 8" in msg
           and "yp_memcheck_frame" in msg,
           "a CRASH carries the worker's memcheck log", msg[-600:])
    subprocess.run(["rm", "-rf", kept])

    # Options that used to be taken silently.
    for args, what in ((["--timeout", "abc"], "--timeout abc"),
                       (["--timeout", "0"], "--timeout 0"),
                       (["--timeout", "nan"], "--timeout nan"),
                       (["-j", "abc"], "-j abc"), (["-j", "-3"], "-j -3")):
        rc, out = run(exe, "--impl", "yp_native", *base, *args)
        expect(rc == 2 and args[0] in out, f"{what}: exit 2", out[-300:])
    rc, out = run(exe, "--impl", "yp_native", *base, "--list", "--filter",
                  "fixture::counter", "--filter", "fixture::probe",
                  "--loop", "asyncio")
    expect(rc == 0 and "fixture::counter[-,asyncio]" in out
           and "fixture::probe[" in out, "repeated --filter terms add up",
           out)

    # An instance ID pasted from a report (it holds a comma) selects it.
    rc, out = run(exe, "--impl", "yp_native", *base, "--list", "--filter",
                  "send::ready_value[ready,asyncio]")
    listed = [ln.split("\t")[0] for ln in out.splitlines() if "::" in ln]
    expect(rc == 0 and listed == ["send::ready_value[ready,asyncio]"],
           "an instance ID from a report works as a filter", out)

    # A failure names the case's own line, not the helper that raised.
    rc, out = run(exe, "--impl", "yp_native", *base, "--filter",
                  "send::value_ignored[ready,asyncio]", "--expectations",
                  "none")
    expect(rc == 1 and "[send.py:" in out and "[_support.py:" not in out,
           "a failure names the case file's line", out)

    # --write-expectations merges: a filtered run keeps the other entries.
    gen = os.path.join(tmp, "merge.json")
    json.dump({"implementation": "native", "expected": {
        "send::value_ignored": {"result": "FAIL", "reason": "kept"},
        "fixture::counter": {"result": "FAIL", "reason": "stale"}}},
        open(gen, "w"))
    rc, out = run(exe, "--impl", "yp_native", *base, "--filter",
                  "fixture::counter", "--loop", "asyncio",
                  "--expectations", "none", "--write-expectations", gen)
    g = json.load(open(gen))["expected"]
    expect(rc == 0 and g == {"send::value_ignored": {"result": "FAIL",
                                                     "reason": "kept"}},
           "--write-expectations --filter keeps unrelated entries and "
           "drops the ones the run disproved", json.dumps(g))

    # One case, two clauses: the failure is the clause's whose assertion
    # failed (throw() raised, but kept the future: drops fails, raises
    # passes), in the report, the console line and the matrix.
    js = os.path.join(tmp, "keeps.json")
    rc, out = run(exe, "--impl", "yc_throw_keeps", *base, "--filter",
                  "throw::no_handle[ready,asyncio]", "--expectations", "none",
                  "--json", js)
    rep = json.load(open(js)) if os.path.exists(js) else {"clauses": [],
                                                          "cases": [{}]}
    res = {c["id"]: c["result"] for c in rep["clauses"]
           if c["counts"]["total"]}
    expect(rc == 1 and res == {"throw.no-handle-raises": "ok",
                               "throw.no-handle-drops": "FAIL"}
           and rep["cases"][0].get("failed_clause") == "throw.no-handle-drops"
           and "(clause throw.no-handle-drops)" in out,
           "a case checking two clauses fails only the one whose assertion "
           "failed", json.dumps(res) + out[-600:])
    sys.path.insert(0, CONF)
    from results import matrix
    col = matrix.Column(rep, "asyncio") if rep.get("implementation") else None
    expect(col is not None
           and matrix.cell(col.by_clause["throw.no-handle-raises"])[0]
           == "PASS"
           and matrix.cell(col.by_clause["throw.no-handle-drops"])[0]
           == "FAIL", "the matrix attributes it the same way")

    # --level / --strict select clauses by level.
    def listed(*args):
        rc, out = run(exe, "--impl", "yp_native", *base, "--list",
                      "--loop", "asyncio", *args)
        return rc, {c for ln in out.splitlines() if "::" in ln
                    for c in ln.split("\t")[1].split(",")}, out
    levels = {c["id"]: c["level"] for c in rep["clauses"]}
    rc, must, out = listed("--level", "MUST")
    expect(rc == 0 and must and {levels.get(c) for c in must} == {"MUST"},
           "--level MUST lists MUST clauses only", out[-400:])
    rc, strict, out = listed("--strict")
    rc2, ms, _ = listed("--level", "must,SHOULD")
    expect(rc == 0 and rc2 == 0 and strict == ms and must < strict
           and {levels.get(c) for c in strict} == {"MUST", "SHOULD"},
           "--strict is MUST and SHOULD", out[-400:])
    rc, out = run(exe, "--impl", "yp_native", *base, "--list",
                  "--level", "MUSTT")
    expect(rc == 2 and "unknown level" in out and "MUSTT" in out,
           "--level with an unknown level: exit 2", out[-400:])

    # Expectations files: one for another implementation and an adapter's
    # misspelled 'cannot' key are refused; TODO reasons are warned about.
    bad = os.path.join(tmp, "other.json")
    json.dump({"implementation": "cython", "expected": {}}, open(bad, "w"))
    rc, out = run(exe, "--impl", "yp_native", *base, "--filter",
                  "fixture::counter", "--expectations", bad)
    expect(rc == 2 and "is for implementation 'cython'" in out
           and "'native'" in out,
           "an expectations file of another implementation: exit 2", out)
    rc, out = run(exe, "--impl", "yc_misspelled_cannot", *base, "--filter",
                  "fixture::counter")
    expect(rc == 2 and "'cannot' names 'attach.detach-releses'" in out
           and "did you mean 'attach.detach-releases'" in out,
           "a misspelled 'cannot' key: exit 2 with a suggestion", out)
    json.dump({"implementation": "native", "expected": {
        "send::value_ignored": {"result": "FAIL",
                                "reason": "TODO: explain. First seen: x"}}},
        open(bad, "w"))
    rc, out = run(exe, "--impl", "yp_native", *base, "--filter",
                  "send::value_ignored", "--loop", "asyncio",
                  "--expectations", bad)
    expect(rc == 0 and "warning: 1 expectation(s)" in out
           and "TODO reason" in out,
           "an expectations file with a TODO reason is warned about", out)

    # Progress while the run goes (every 30 s; YP_CONF_PROGRESS=0: each).
    p = subprocess.run([exe, "--impl", "yp_native", *base, "--filter",
                        "fixture::counter,fixture::probe", "--loop",
                        "asyncio"], capture_output=True, text=True,
                       timeout=300, env=dict(os.environ, YP_CONF_PROGRESS="0"))
    expect(p.returncode == 0 and "1/2 instances done" in p.stderr
           and "2/2 instances done" in p.stderr,
           "a run prints its progress", p.stderr[-600:])

    # TAP: an expected failure is "not ok ... # TODO" (prove: passing).
    tap = os.path.join(tmp, "x.tap")
    rc, out = run(exe, "--impl", "yp_native", *base, "--filter",
                  "send::value_ignored", "--loop", "asyncio", "--tap", tap)
    t = open(tap).read() if os.path.exists(tap) else ""
    expect(rc == 0 and "not ok 1 - send::value_ignored[ready,asyncio] "
           "# TODO expected FAIL" in t and "\nok " not in t,
           "TAP: expected failures are 'not ok # TODO'", t)


def stop_signals(exe, base):
    """SIGINT, SIGTERM or SIGHUP to a run leaves no temporary files (during
    the enumeration and while workers run) and the run dies of it."""
    import glob
    import signal
    import time
    for sig, phase in ((signal.SIGINT, "enumeration"),
                       (signal.SIGTERM, "workers"),
                       (signal.SIGINT, "workers"),
                       (signal.SIGHUP, "workers")):
        tmpdir = tempfile.mkdtemp(prefix="yc-signal.")
        p = subprocess.Popen([exe, "--impl", "yp_native", *base, "--loop",
                              "asyncio", "-j", "1"],
                             env=dict(os.environ, TMPDIR=tmpdir),
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        pattern = os.path.join(tmpdir, "yp-conform.*",
                               "*" if phase == "enumeration" else "*.start")
        deadline = time.monotonic() + 60
        while not glob.glob(pattern) and time.monotonic() < deadline \
                and p.poll() is None:
            time.sleep(0.01)
        reached = bool(glob.glob(pattern))
        p.send_signal(sig)
        try:
            rc = p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        left = [os.path.relpath(os.path.join(d, f), tmpdir)
                for d, _, fs in os.walk(tmpdir) for f in fs + [""]
                if d != tmpdir or f]
        expect(reached and rc == -sig and not left,
               f"{sig.name} during the {phase}: the run dies of it and "
               f"leaves no temporary file",
               f"reached={reached} rc={rc} left={left[:10]}")
        subprocess.run(["rm", "-rf", tmpdir])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
