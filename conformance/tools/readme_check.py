"""ctest conformance.readme: the results table in conformance/README.md is
the one the latest reports give (results.table), so its figures are never
typed by hand and never go stale.

    /usr/bin/python3.11 conformance/tools/readme_check.py REPORTS_DIR

REPORTS_DIR holds the conformance.<impl> tests' JSON reports; exit 77
(skipped) when one is missing.  To update the README after a change:
    cd conformance && python3.11 -m results table --readme README.md \\
        REPORTS_DIR/yieldpoint.json REPORTS_DIR/native.json REPORTS_DIR/cython.json
    python3.11 -m results table --excerpt ../README.md REPORTS_DIR/yieldpoint.json
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.dirname(HERE)
sys.path.insert(0, CONF)
from results import report, table  # noqa: E402

IMPLS = ("yieldpoint", "native", "cython")


def main(reports_dir):
    paths = [os.path.join(reports_dir, f"{i}.json") for i in IMPLS]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        print(f"skipped: no report {', '.join(missing)}")
        return 77
    reps = [report.load_json(p) for p in paths]
    bad = 0
    for readme, what, want, begin, end in (
            (os.path.join(CONF, "README.md"), "results table",
             table.render(reps), table.BEGIN, table.END),
            (os.path.join(os.path.dirname(CONF), "README.md"),
             "console excerpt", table.excerpt(reps[0]),
             table.EXCERPT_BEGIN, table.EXCERPT_END)):
        text = open(readme, encoding="utf-8").read()
        b, e = table.readme_block(text, begin, end)
        have = text[b:e].rstrip("\n")
        if have != want:
            print(f"{readme}: the {what} is not the one these reports "
                  f"give; regenerate it (see this script's docstring).")
            print("README:\n" + have + "\nreports:\n" + want)
            bad = 1
        else:
            print(f"ok: {readme}'s {what} matches the reports")
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
