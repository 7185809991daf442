"""Reports -> the results table of conformance/README.md (Markdown).

The README's figures are rendered from real runs, never typed:

    python3.11 -m results table --readme conformance/README.md R.json...

rewrites the block between the README's ``results-table`` markers, and
``tools/readme_check.py`` (ctest conformance.readme) fails when the block
differs from what the latest reports give.
"""
import re
import sys

from .report import level_counts

BEGIN = "<!-- results-table: python3.11 -m results table --readme README.md REPORTS (do not edit by hand) -->"
END = "<!-- end results-table -->"
# The top-level README's excerpt of the console report (yieldpoint's run).
EXCERPT_BEGIN = "<!-- console-excerpt: python3.11 -m results table --excerpt ../README.md REPORT (do not edit by hand) -->"
EXCERPT_END = "<!-- end console-excerpt -->"


def _runtimes(rep):
    """The runtimes some instance ran under (not all skipped)."""
    ran = []
    for c in rep["cases"]:
        if c["loop"] and c["status"] != "SKIP" and c["loop"] not in ran:
            ran.append(c["loop"])
    return ", ".join(ran) or "none"


def render(reports):
    """The Markdown block (without the markers)."""
    order = {"yieldpoint": 0, "native": 1, "cython": 2}
    reports = sorted(reports, key=lambda r: (order.get(r["implementation"],
                                                       9),
                                             r["implementation"]))
    lines = ["| implementation | version | runtimes run | instances | PASS "
             "| FAIL (expected) | unexpected | SKIP | clauses fully passing |",
             "|---|---|---|---|---|---|---|---|---|"]
    for rep in reports:
        s = rep["summary"]
        ver = (rep.get("run_info", {}).get("implementation", {})
               .get("version") or "?")
        lv = level_counts(rep)
        fully = ", ".join(f"{k} {ok}/{n}" for k, (ok, n) in lv.items() if n)
        failed = s["FAIL"] + s["CRASH"] + s["TIMEOUT"]
        lines.append(f"| {rep['implementation']} | {ver} | {_runtimes(rep)} "
                     f"| {s['total']} | {s['PASS']} | {failed} "
                     f"({s['expected_failures']}) | {s['unexpected']} "
                     f"| {s['SKIP']} | {fully} |")
    return "\n".join(lines)


def excerpt(rep):
    """A few lines of the console report of ``rep``, as a fenced block:
    the first clause row, the area header and first area row, the
    closing lines."""
    from .formats import console
    lines = []
    console(rep, out=lambda s: lines.extend(s.split("\n")))
    clause_rows = [ln for ln in lines if ln.startswith("  ") and
                   ln.split()[:1] and "." in ln.split()[0]
                   and ln.split()[1:2] and ln.split()[1] in
                   ("MUST", "SHOULD", "MAY")]
    area_head = next(i for i, ln in enumerate(lines)
                     if ln.startswith("  area "))
    # Without the wall time, which no two runs share.
    closing = [re.sub(r" instances in [0-9.]+ s:", " instances:", ln)
               for ln in lines if ln.startswith(
                   ("  clauses fully passing", "  result:"))
               or " instances in " in ln]
    out = ["```", clause_rows[0], "  ...", lines[area_head],
           lines[area_head + 1], "  ...", *closing, "```"]
    return "\n".join(out)


def readme_block(text, begin=BEGIN, end=END):
    """(start, end) offsets of the block's body in a README's text."""
    b = text.index(begin) + len(begin) + 1
    return b, text.index(end, b)


def _rewrite(path, body, begin, end):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    b, e = readme_block(text, begin, end)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text[:b] + body + "\n" + text[e:])


def main(argv):
    """table [--readme README.md] REPORT...: the results table (printed,
    or written into README.md's block); table --excerpt README.md REPORT:
    the console excerpt block."""
    from .report import load_json
    if argv[:1] == ["--excerpt"] and len(argv) == 3:
        _rewrite(argv[1], excerpt(load_json(argv[2])), EXCERPT_BEGIN,
                 EXCERPT_END)
        return 0
    readme = None
    if argv[:1] == ["--readme"]:
        readme, argv = argv[1], argv[2:]
    if not argv:
        print("usage: python3.11 -m results table [--readme README.md] "
              "REPORT.json...  |  table --excerpt README.md REPORT.json",
              file=sys.stderr)
        return 2
    body = render([load_json(p) for p in argv])
    if readme is None:
        print(body)
    else:
        _rewrite(readme, body, BEGIN, END)
    return 0
