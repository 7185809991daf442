"""N JSON reports -> one static HTML page and its Markdown twin.

Rows are the clauses (grouped by area, with level and text); there is one
column per implementation x runtime.  A cell sums up the instances of the
clause that ran under that runtime (plus its runtime-independent ones):

    PASS      every instance passed (skipped ones aside)
    FAIL      a failure the expectations do not explain
    expected FAIL / CRASH / TIMEOUT   explained by the expectations file,
              whose reason the cell carries
    SKIP      every instance skipped; the reason (the adapter's `cannot`,
              a runtime it does not claim or cannot import)
    CRASH, TIMEOUT, ERROR (a harness error)
    n/a       no instance of the clause under this runtime

CPython's native coroutines (implementation "native") come first: the
baseline.  Plain HTML and CSS; no script.
"""
import html
import os
import re

from .report import for_clause, load_json
from .schema import LEVELS, OK, XPASS

RUNTIME_ORDER = ("asyncio", "uvloop", "trio", "anyio-asyncio", "anyio-trio")
BASELINE = "native"


class Column:
    def __init__(self, report, runtime):
        self.report, self.runtime = report, runtime
        self.impl = report["implementation"]
        self.key = f"{self.impl}/{runtime}"
        info = report.get("run_info") or {}
        self.info = info
        self.version = (info.get("implementation") or {}).get("version", "?")
        self.runtime_version = (info.get("runtimes") or {}).get(runtime, "?")
        self.by_clause = {}
        for c in report["cases"]:
            if c["loop"] in (None, runtime):
                for cl in c["clauses"]:
                    self.by_clause.setdefault(cl, []).append(
                        for_clause(c, cl))


def columns(reports):
    """One column per report x runtime it ran; the baseline first."""
    cols = []
    ordered = sorted(reports, key=lambda r: r["implementation"] != BASELINE)
    for rep in ordered:
        loops = {c["loop"] for c in rep["cases"] if c["loop"]}
        loops |= set((rep.get("run_info") or {}).get("runtimes") or ())
        for rt in sorted(loops, key=lambda x: (RUNTIME_ORDER.index(x)
                                               if x in RUNTIME_ORDER else 99,
                                               x)):
            cols.append(Column(rep, rt))
    return cols


def cell(instances):
    """(status, expected, detail) for one clause x column."""
    if not instances:
        return "n/a", False, ""
    st = [c["status"] for c in instances]
    n = len(st)
    for worst in ("ERROR", "CRASH", "TIMEOUT", "FAIL"):
        bad = [c for c in instances if c["status"] == worst]
        if bad:
            expected = all(c["outcome"] == OK for c in instances
                           if c["status"] not in ("PASS", "SKIP"))
            if expected:
                reasons = sorted({c["expectation_reason"] for c in bad})
                detail = " / ".join(reasons)
            else:
                first = next(c for c in bad if c["outcome"] != OK)
                detail = (f"{first['id']}: "
                          f"{first['message'].strip().split(chr(10))[0][:300]}")
            return worst, expected and worst != "ERROR", \
                f"{len(bad)} of {n} instances. {detail}"
    if all(s == "SKIP" for s in st):
        reasons = sorted({c["message"] or c.get("skip_reason", "")
                          for c in instances})
        return "SKIP", False, " / ".join(reasons)
    xpass = [c for c in instances if c["outcome"] == XPASS]
    if xpass:
        return "PASS", False, (f"unexpected pass: the expectations say "
                               f"{xpass[0]['expected']}: "
                               f"{xpass[0]['expectation_reason']}")
    skipped = st.count("SKIP")
    return "PASS", True, (f"{n - skipped} of {n} instances passed"
                          + (f", {skipped} skipped" if skipped else ""))


def _label(status, expected):
    if status in ("FAIL", "CRASH", "TIMEOUT") and expected:
        return f"expected {status}"
    return status


def model(reports):
    """Everything both renderings need."""
    cols = columns(reports)
    areas, clauses, seen = [], {}, set()
    for rep in reports:
        for a in rep["areas"]:
            if a["id"] not in seen:
                seen.add(a["id"])
                areas.append(a)
        for cl in rep["clauses"]:
            clauses.setdefault(cl["id"], cl)
    rows = []        # (area, [clause rows])
    for a in areas:
        mine = []
        for cl in clauses.values():
            if cl["area"] != a["id"]:
                continue
            cells = [cell(col.by_clause.get(cl["id"], [])) for col in cols]
            if all(c[0] == "n/a" for c in cells):
                continue        # not run by any report (--filter)
            mine.append((cl, cells))
        if mine:
            rows.append((a, mine))
    return cols, rows, len(clauses)


def _totals(rows, ncols, pick):
    """Per column: (passed, expected failures, other failures, skipped,
    applicable) over the clause rows that pick() selects."""
    out = []
    for i in range(ncols):
        p = x = f = s = n = 0
        for _, mine in rows:
            for cl, cells in mine:
                if not pick(cl):
                    continue
                status, expected, _ = cells[i]
                if status == "n/a":
                    continue
                n += 1
                if status == "PASS":
                    p += 1
                elif status == "SKIP":
                    s += 1
                elif expected:
                    x += 1
                else:
                    f += 1
        out.append((p, x, f, s, n))
    return out


def _total_text(t):
    p, x, f, s, n = t
    if n == 0:
        return "—"
    parts = [f"{p}/{n}"]
    if x:
        parts.append(f"{x} xfail")
    if f:
        parts.append(f"{f} FAIL")
    if s:
        parts.append(f"{s} skip")
    return " · ".join(parts)


def _info_lines(col):
    i = col.info
    impl, py = i.get("implementation", {}), i.get("python", {})
    mode, suite, host = i.get("mode", {}), i.get("suite", {}), i.get("host", {})
    modes = list(mode.get("sanitizers") or [])
    if mode.get("valgrind"):
        modes.append("valgrind")
    if mode.get("refleak"):
        modes.append(f"refleak {mode['refleak']}")
    return [
        ("module", f"{impl.get('module', '?')} ({impl.get('module_file', '?')})"),
        ("contract", impl.get("contract", "?")),
        ("runtime", col.runtime_version),
        ("Python", f"{py.get('implementation', '')} {py.get('version', '?')} "
                   f"{py.get('build', '')}"
                   + (" free-threaded" if py.get("gil_disabled") else "")),
        ("mode", ", ".join(modes) or "plain"),
        ("spec", f"{suite.get('spec_version', '?')}, contract "
                 f"{suite.get('contract', '?')}"),
        ("suite", suite.get("revision", "?")),
        ("expectations", os.path.basename(suite.get("expectations") or "none")),
        ("host", f"{host.get('name', '?')} ({host.get('platform', '?')})"),
        ("date", i.get("date", "?")),
    ]


CSS = """
body{font:14px/1.35 system-ui,sans-serif;margin:16px;color:#1b1f24;background:#fff}
h1{font-size:20px;margin:0 0 4px}
p.sub{margin:0 0 12px;color:#555}
table{border-collapse:separate;border-spacing:0}
th,td{border-bottom:1px solid #e3e6ea;padding:3px 6px;vertical-align:top}
thead th{position:sticky;top:0;background:#f6f8fa;z-index:2;border-bottom:2px solid #c9ced4;
 text-align:left;font-weight:600;min-width:92px;max-width:120px}
thead th.clause{min-width:250px}
th.col .impl{font-size:14px}
th.col .rt{font-weight:400;color:#444}
th.col.baseline{background:#eef4ff}
th.col details{font-weight:400;font-size:11px;color:#444}
th.col dl{margin:2px 0;width:210px;white-space:normal}
th.col dt{font-weight:600;float:left;clear:left;margin-right:4px}
th.col dd{margin:0}
td.clause{min-width:250px;max-width:330px}
td.clause summary{cursor:pointer}
td.clause code{font-size:13px}
td.clause .text{font-size:12px;color:#333;margin:2px 0 0}
td.clause .src{font-size:11px;color:#666}
td.level{font-size:11px;color:#555}
tr.area th{background:#f0f2f4;text-align:left;border-top:2px solid #c9ced4}
tr.area td{background:#f0f2f4;font-size:12px;border-top:2px solid #c9ced4}
tr.level-total td,tr.level-total th{background:#fafbfc;font-size:12px}
td.cell{font-size:12px;font-weight:600;white-space:nowrap;text-align:center}
td.cell details{font-weight:400}
td.cell summary{cursor:pointer;font-weight:600;list-style:none}
td.cell .why{white-space:normal;font-weight:400;text-align:left;font-size:11px;max-width:220px}
.PASS{background:#d8f5dd;color:#125c24}
.FAIL{background:#ffd7d5;color:#8a1010}
.FAIL.expected,.CRASH.expected,.TIMEOUT.expected{background:#fff0c2;color:#6b4c00}
.SKIP{background:#eceff2;color:#555}
.CRASH{background:#a4161a;color:#fff}
.TIMEOUT{background:#e76f00;color:#fff}
.ERROR{background:#6a1b9a;color:#fff}
.na{color:#aaa;font-weight:400}
th.first,td.first{border-left:2px solid #9aa3ad}
.legend span{display:inline-block;padding:1px 6px;margin-right:6px;border-radius:3px;font-size:12px}
"""


def _inline(text):
    """Escaped text with SPEC.md's `code` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _total_cells(cols, tot):
    return "".join(
        f'<td class="total{" first" if i == 0 or cols[i - 1].impl != c.impl else ""}">'
        f"{html.escape(_total_text(t))}</td>"
        for i, (c, t) in enumerate(zip(cols, tot)))


def render_html(reports, title="yieldpoint conformance matrix"):
    cols, rows, nclauses = model(reports)
    e = html.escape
    nrows = sum(len(m) for _, m in rows)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{e(title)}</title>", f"<style>{CSS}</style></head><body>",
           f"<h1>{e(title)}</h1>",
           f'<p class="sub">{nrows} of {nclauses} clauses run, '
           f"{len(cols)} columns (implementation × runtime), from "
           f"{len(reports)} report(s). Hover or open a clause for its text, "
           f"a cell for its reason; open a column head for its run_info.</p>",
           '<p class="legend"><span class="PASS">PASS</span>'
           '<span class="FAIL">FAIL</span>'
           '<span class="FAIL expected">expected FAIL (reason)</span>'
           '<span class="SKIP">SKIP (reason)</span>'
           '<span class="CRASH">CRASH</span>'
           '<span class="TIMEOUT">TIMEOUT</span>'
           '<span class="ERROR">ERROR: harness</span>'
           '<span class="na">n/a: not under this runtime</span></p>',
           '<table id="matrix"><thead><tr>'
           '<th class="clause">clause</th><th class="level">level</th>']
    for i, col in enumerate(cols):
        base = " baseline" if col.impl == BASELINE else ""
        if i == 0 or cols[i - 1].impl != col.impl:
            base += " first"
        info = "".join(f"<dt>{e(k)}</dt><dd>{e(str(v))}</dd>"
                       for k, v in _info_lines(col))
        out.append(
            f'<th class="col{base}" data-col="{e(col.key)}" '
            f'title="{e(col.impl)} {e(col.version)} under {e(col.runtime)}">'
            f'<div class="impl">{e(col.impl)}</div>'
            f'<div class="rt">{e(col.runtime)}</div>'
            f'<details><summary>{e(col.version)}</summary>'
            f"<dl>{info}</dl></details></th>")
    out.append("</tr></thead><tbody>")
    for a, mine in rows:
        tot = _totals([(a, mine)], len(cols), lambda cl: True)
        out.append(f'<tr class="area" data-area="{e(a["id"])}">'
                   f'<th colspan="2">{e(a["id"])} — {_inline(a.get("title", ""))}'
                   f"</th>" + _total_cells(cols, tot) + "</tr>")
        for cl, cells in mine:
            out.append(
                f'<tr class="clause" data-clause="{e(cl["id"])}">'
                f'<td class="clause" title="{e(cl.get("text", ""))}">'
                f'<details><summary><code>{e(cl["id"])}</code></summary>'
                f'<p class="text">{_inline(cl.get("text", ""))}</p>'
                f'<p class="src">source: {_inline(cl.get("source", ""))}</p>'
                f"</details></td>"
                f'<td class="level">{e(cl["level"])}</td>')
            for i, (col, (status, expected, detail)) in \
                    enumerate(zip(cols, cells)):
                first = " first" if i == 0 or cols[i - 1].impl != col.impl \
                    else ""
                if status == "n/a":
                    out.append(f'<td class="cell na{first}" '
                               f'data-col="{e(col.key)}" '
                               f'data-status="n/a">—</td>')
                    continue
                exp = " expected" if expected and status != "PASS" else ""
                label = _label(status, expected)
                body = (f"<details><summary>{e(label)}</summary>"
                        f'<div class="why">{e(detail)}</div></details>'
                        if status != "PASS" else e(label))
                out.append(
                    f'<td class="cell {status}{exp}{first}" '
                    f'data-col="{e(col.key)}" '
                    f'data-status="{status}" '
                    f'data-expected="{1 if exp else 0}" '
                    f'title="{e(detail)}">{body}</td>')
            out.append("</tr>")
    out.append("</tbody><tfoot>")
    for lv in LEVELS:
        tot = _totals(rows, len(cols), lambda cl, lv=lv: cl["level"] == lv)
        out.append(f'<tr class="level-total" data-level="{lv}">'
                   f'<th colspan="2">{lv} clauses</th>'
                   + _total_cells(cols, tot) + "</tr>")
    out.append("</tfoot></table></body></html>")
    return "\n".join(out) + "\n"


def _md(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(reports, title="yieldpoint conformance matrix"):
    cols, rows, nclauses = model(reports)
    nrows = sum(len(m) for _, m in rows)
    out = [f"# {title}", "",
           f"{nrows} of {nclauses} clauses run, {len(cols)} columns "
           f"(implementation × runtime). PASS, FAIL, expected FAIL "
           f"(reason in the notes), SKIP (reason in the notes), CRASH, "
           f"TIMEOUT, ERROR (harness), n/a (not under this runtime).", ""]
    head = ["clause", "level"] + [f"{c.impl} {c.runtime}" for c in cols]
    out.append("| " + " | ".join(_md(h) for h in head) + " |")
    out.append("|" + "---|" * len(head))
    notes = []
    for a, mine in rows:
        tot = _totals([(a, mine)], len(cols), lambda cl: True)
        out.append(f"| **{_md(a['id'])}** | | "
                   + " | ".join(_md(_total_text(t)) for t in tot) + " |")
        for cl, cells in mine:
            row = [f"`{cl['id']}`", cl["level"]]
            for col, (status, expected, detail) in zip(cols, cells):
                if status in ("PASS", "n/a"):
                    row.append(status)
                    continue
                notes.append(f"{col.impl} {col.runtime} · `{cl['id']}`: "
                             f"{detail}")
                row.append(f"{_label(status, expected)} [{len(notes)}]")
            out.append("| " + " | ".join(_md(x) for x in row) + " |")
    for lv in LEVELS:
        tot = _totals(rows, len(cols), lambda cl, lv=lv: cl["level"] == lv)
        out.append(f"| **{lv} total** | | "
                   + " | ".join(_md(_total_text(t)) for t in tot) + " |")
    out += ["", "## run_info", ""]
    keys = [k for k, _ in _info_lines(cols[0])] if cols else []
    out.append("| column | version | " + " | ".join(keys) + " |")
    out.append("|" + "---|" * (len(keys) + 2))
    for col in cols:
        out.append(f"| {_md(col.impl)} {_md(col.runtime)} | "
                   f"{_md(col.version)} | "
                   + " | ".join(_md(v) for _, v in _info_lines(col)) + " |")
    if notes:
        out += ["", "## Notes", ""]
        out += [f"{i}. {_md(n)}" for i, n in enumerate(notes, 1)]
    return "\n".join(out) + "\n"


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(
        prog="python3.11 -m results matrix",
        description="Combine yp-conform JSON reports into one matrix page.")
    ap.add_argument("reports", nargs="+", help="yp-conform --json reports")
    ap.add_argument("--html", help="write the HTML page here")
    ap.add_argument("--md", help="write the Markdown twin here")
    ap.add_argument("--title", default="yieldpoint conformance matrix")
    a = ap.parse_args(argv)
    try:
        reports = [load_json(p) for p in a.reports]
    except (OSError, ValueError) as exc:
        print(f"matrix: {exc}")
        return 2
    if not a.html and not a.md:
        print(render_markdown(reports, a.title), end="")
    if a.html:
        with open(a.html, "w", encoding="utf-8") as f:
            f.write(render_html(reports, a.title))
    if a.md:
        with open(a.md, "w", encoding="utf-8") as f:
            f.write(render_markdown(reports, a.title))
    return 0
