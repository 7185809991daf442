"""The report rendered for people and CI: console summary, JUnit XML, TAP."""
from xml.sax.saxutils import quoteattr, escape

from .report import level_counts
from .schema import HARNESS, OK, REGRESSED, XPASS

_TAGS = {XPASS: "UNEXPECTED PASS", REGRESSED: "REGRESSED",
         HARNESS: "HARNESS ERROR"}


def _indented(msg, max_lines):
    lines = msg.split("\n")
    out = [f"        {ln}" for ln in lines[:max_lines]]
    if len(lines) > max_lines:
        out.append("        ...")
    return out


def console(rep, verbose=False, out=print):
    out("")
    for c in rep["cases"]:
        if c["outcome"] != OK:
            out(f"  {c['status']:<7} {c['id']}   <-- "
                f"{_TAGS.get(c['outcome'], 'UNEXPECTED')} (expected "
                f"{'|'.join(c['expected'])})")
            if c["message"]:
                out("\n".join(_indented(c["message"], 30)))
            if c["outcome"] != "unexpected" and c["expectation_reason"]:
                out(f"        expectation: {c['expectation_reason']}")
        elif verbose or c["status"] not in ("PASS", "SKIP"):
            tail = "" if c["status"] in ("PASS", "SKIP") else "   (expected)"
            out(f"  {c['status']:<7} {c['id']}{tail}")
            if verbose and c["status"] != "PASS" and c["message"]:
                out("\n".join(_indented(c["message"], 6)))

    out(f"\n  {'clause':<30} {'level':<6} {'pass':>5} {'fail':>5} "
        f"{'crash':>5} {'tmout':>5} {'skip':>5}  result")
    for a in rep["areas"]:
        for cl in rep["clauses"]:
            t = cl["counts"]
            if cl["area"] != a["id"] or t["total"] == 0:
                continue
            out(f"  {cl['id']:<30} {cl['level']:<6} {t['PASS']:>5} "
                f"{t['FAIL'] + t['ERROR']:>5} {t['CRASH']:>5} "
                f"{t['TIMEOUT']:>5} {t['SKIP']:>5}  {cl['result']}")

    out(f"\n  {'area':<9} {'clauses':>8} {'pass':>5} {'fail':>5} "
        f"{'crash':>5} {'tmout':>5} {'skip':>5}  result")
    for a in rep["areas"]:
        t = a["counts"]
        if t["total"] == 0:
            continue
        frac = f"{a['clauses_ok']}/{a['clauses_total']}"
        out(f"  {a['id']:<9} {frac:>8} {t['PASS']:>5} "
            f"{t['FAIL'] + t['ERROR']:>5} {t['CRASH']:>5} "
            f"{t['TIMEOUT']:>5} {t['SKIP']:>5}  {a['result']}")

    s = rep["summary"]
    out("\n  clauses fully passing: " + ", ".join(
        f"{lv} {ok}/{n}" for lv, (ok, n) in level_counts(rep).items()))
    out(f"  {s['total']} instances in {rep['seconds']:.1f} s: PASS "
        f"{s['PASS']}, FAIL {s['FAIL']}, CRASH {s['CRASH']}, TIMEOUT "
        f"{s['TIMEOUT']}, SKIP {s['SKIP']}, harness ERROR {s['ERROR']}; "
        f"{s['expected_failures']} failed as expected")
    if s["ERROR"]:
        out(f"  result: HARNESS ERROR -- {s['ERROR']} instance(s) gave no "
            f"usable result; the run proves nothing about them")
    elif s["unexpected"] == 0:
        out(f"  result: {rep['implementation']} matches its expectations")
    else:
        n = {k: sum(c["outcome"] == k for c in rep["cases"])
             for k in ("unexpected", XPASS, REGRESSED)}
        out(f"  result: MISMATCH -- {n['unexpected']} unexpected failures, "
            f"{n[XPASS]} unexpected passes, {n[REGRESSED]} changed failure "
            f"kinds")


def _first_line(text, limit=300):
    line = (text or "").strip().split("\n", 1)[0]
    return line[:limit]


def junit(rep, path):
    """One <testsuite> per area.  A mismatching FAIL or unexpected pass is
    a <failure>; a mismatching CRASH, TIMEOUT or harness ERROR an <error>
    (counted under errors=); expected failures and skips are <skipped>."""
    s = rep["summary"]
    def is_error(c):
        return c["outcome"] != OK and c["status"] in ("CRASH", "TIMEOUT",
                                                      "ERROR")
    nerr = sum(is_error(c) for c in rep["cases"])
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<testsuites name={quoteattr("yp-conform " + rep["implementation"])}'
             f' tests="{s["total"]}" failures="{s["unexpected"] - nerr}"'
             f' errors="{nerr}" time="{rep["seconds"]:.2f}">']
    for a in rep["areas"]:
        mine = [c for c in rep["cases"] if c["area"] == a["id"]]
        if not mine:
            continue
        err = sum(is_error(c) for c in mine)
        bad = sum(c["outcome"] != OK for c in mine)
        skipped = sum(c["outcome"] == OK and c["status"] != "PASS"
                      for c in mine)
        lines.append(f'  <testsuite name={quoteattr(a["id"])} '
                     f'tests="{len(mine)}" failures="{bad - err}" '
                     f'errors="{err}" skipped="{skipped}">')
        for c in mine:
            secs = c["seconds"] or 0.0
            head = (f'    <testcase classname={quoteattr(c["area"])} '
                    f'name={quoteattr(c["id"])} time="{secs:.3f}">')
            clauses = ", ".join(c["clauses"])
            if c["outcome"] != OK:
                el = "error" if is_error(c) else "failure"
                kind = "UNEXPECTED-PASS" if c["outcome"] == XPASS \
                    else c["status"]
                msg = ("passed, but the expectations say it fails: "
                       + c["expectation_reason"]) if c["outcome"] == XPASS \
                    else _first_line(c["message"]) or c["status"]
                body = f"{c['message']}\nclauses: {clauses}"
                lines.append(f'{head}\n      <{el} type={quoteattr(kind)} '
                             f'message={quoteattr(f"[{clauses}] {msg}")}>'
                             f'{escape(body)}</{el}>\n    </testcase>')
            elif c["status"] == "SKIP":
                lines.append(f'{head}<skipped message='
                             f'{quoteattr(c["message"])}/></testcase>')
            elif c["status"] != "PASS":
                lines.append(f'{head}<skipped message='
                             f'{quoteattr("expected " + c["status"] + ": " + c["expectation_reason"])}'
                             f'/></testcase>')
            else:
                lines.append(f"{head}</testcase>")
        lines.append("  </testsuite>")
    lines.append("</testsuites>")
    with open(path, "w", encoding="utf-8") as f:
        f.write(_xml_clean("\n".join(lines)) + "\n")


def _xml_clean(text):
    # XML 1.0 cannot carry most control characters, even escaped.
    return "".join(ch if ch in "\n\t\r" or ord(ch) >= 0x20 else "?"
                   for ch in text)


def tap(rep, path):
    """TAP 13.  An expected failure is ``not ok ... # TODO`` (TAP's known
    failure: prove counts it as passing, not as "TODO passed"); a skip is
    ``ok ... # SKIP``; every mismatch is a plain ``not ok`` with YAML."""
    out = ["TAP version 13", f"1..{len(rep['cases'])}"]
    for i, c in enumerate(rep["cases"], 1):
        ok = c["outcome"] == OK
        if c["status"] == "SKIP":
            out.append(f"ok {i} - {c['id']} # SKIP "
                       f"{_first_line(c['message'])}")
            continue
        if ok and c["status"] != "PASS":
            out.append(f"not ok {i} - {c['id']} # TODO expected "
                       f"{c['status']}: {_first_line(c['expectation_reason'])}")
            continue
        out.append(f"{'ok' if ok else 'not ok'} {i} - {c['id']}")
        if not ok:
            out += ["  ---", f"    status: {c['status']}",
                    f"    expected: {'|'.join(c['expected'])}",
                    f"    outcome: {c['outcome']}",
                    f"    clauses: [{', '.join(c['clauses'])}]",
                    "    message: |"]
            out += [f"      {ln}" for ln in c["message"].split("\n")]
            out.append("  ...")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
