"""The matrix page in a real browser (ctest conformance.matrix).

    matrix_check.py YP_CONFORM OUT_DIR NAME=MODULE=PATH...

Runs a small filtered suite against each implementation (two runtimes, a
few clauses with known cells), renders the matrix with results.matrix,
loads the page in headless chromium (a screenshot into OUT_DIR and
--dump-dom), and checks the DOM the browser built: the number of clause
rows and implementation x runtime columns, and known cells (native's
send.value-ignored is an expected FAIL; yieldpoint's borrow.shared-shared
is a PASS).  Exit 77 (skipped) when chromium is not installed.
"""
import html.parser
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.dirname(HERE)
sys.path.insert(0, CONF)
from results import matrix  # noqa: E402
from results.report import load_json  # noqa: E402

FILTER = "send.value-ignored,borrow.shared-shared,fixture.counter"
LOOPS = ("asyncio", "trio")
WINDOW = (1500, 1100)


class Dom(html.parser.HTMLParser):
    """Rows, column heads and cells of table#matrix."""

    def __init__(self):
        super().__init__()
        self.rows, self.cols, self.cells = [], [], {}
        self._row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "tr" and "clause" in cls:
            self._row = a.get("data-clause")
            self.rows.append(self._row)
        elif tag == "th" and "col" in cls:
            self.cols.append(a.get("data-col"))
        elif tag == "td" and "cell" in cls and self._row:
            self.cells[(self._row, a.get("data-col"))] = (
                a.get("data-status"), a.get("data-expected") == "1")


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def browser(exe, page, *args):
    prof = tempfile.mkdtemp(prefix="yc-chromium.")
    try:
        return subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu",
             "--hide-scrollbars", f"--user-data-dir={prof}",
             f"--window-size={WINDOW[0]},{WINDOW[1]}", *args,
             "file://" + os.path.abspath(page)],
            capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(prof, ignore_errors=True)


def main(argv):
    conform, out, impls = argv[0], argv[1], argv[2:]
    exe = chromium()
    if exe is None:
        print("SKIP: chromium is not installed (ci/bootstrap installs "
              "Debian's chromium); the matrix page was not browser-tested")
        return 77
    os.makedirs(out, exist_ok=True)
    reports = []
    for spec in impls:
        name, module, path = spec.split("=", 2)
        js = os.path.join(out, f"{name}.json")
        p = subprocess.run([conform, "--impl", module, "--path", path,
                            "--filter", FILTER, "--loop", ",".join(LOOPS),
                            "-j", "2", "--json", js],
                           capture_output=True, text=True, timeout=1200)
        if p.returncode not in (0, 1) or not os.path.exists(js):
            print(f"FAIL: yp-conform --impl {module}: exit {p.returncode}\n"
                  f"{p.stdout[-2000:]}{p.stderr[-2000:]}")
            return 1
        reports.append(load_json(js))
    page = os.path.join(out, "matrix.html")
    with open(page, "w", encoding="utf-8") as f:
        f.write(matrix.render_html(reports, "conformance.matrix (filtered)"))
    with open(os.path.join(out, "matrix.md"), "w", encoding="utf-8") as f:
        f.write(matrix.render_markdown(reports))
    shot = os.path.join(out, "matrix.png")
    if os.path.exists(shot):
        os.unlink(shot)
    p = browser(exe, page, f"--screenshot={shot}")
    dom = browser(exe, page, "--dump-dom")
    failures = []

    def expect(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    expect(os.path.exists(shot) and os.path.getsize(shot) > 10000,
           f"screenshot written: {shot}")
    d = Dom()
    d.feed(dom.stdout)
    cols, rows, _ = matrix.model(reports)
    want_rows = sorted({cl["id"] for _, mine in rows for cl, _ in mine})
    expect(sorted(d.rows) == want_rows
           and set(FILTER.split(",")) <= set(d.rows),
           f"{len(d.rows)} clause rows in the browser's DOM "
           f"(want {len(want_rows)}: {', '.join(want_rows)})")
    want_cols = [f"{r['implementation']}/{lp}" for r in
                 sorted(reports, key=lambda r: r["implementation"] != "native")
                 for lp in LOOPS]
    expect(d.cols == want_cols,
           f"{len(d.cols)} columns, native first: {d.cols} (want {want_cols})")
    names = {r["implementation"] for r in reports}
    if "native" in names:
        expect(d.cells.get(("send.value-ignored", "native/asyncio"))
               == ("FAIL", True),
               "native/asyncio send.value-ignored is an expected FAIL: "
               f"{d.cells.get(('send.value-ignored', 'native/asyncio'))}")
        expect(d.cells.get(("send.value-ignored", "native/trio"))
               == ("n/a", False),
               "native/trio send.value-ignored is n/a (asyncio only)")
    if "yieldpoint" in names:
        got = d.cells.get(("borrow.shared-shared", "yieldpoint/asyncio"))
        expect(got == ("PASS", False),
               f"yieldpoint/asyncio borrow.shared-shared is PASS: {got}")
    print(json.dumps({"screenshot": shot, "rows": len(d.rows),
                      "columns": len(d.cols)}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
