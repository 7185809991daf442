"""Self-test of yp-conform: harness errors, CRASH and TIMEOUT isolation,
expectation bookkeeping (FAIL->CRASH, unexpected pass) and the reports.

    /usr/bin/python3.11 conformance/tools/selftest.py path/to/yp-conform
"""
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
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

    print(f"{'all ok' if not failures else f'{len(failures)} failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
