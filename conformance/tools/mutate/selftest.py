"""The mutation tool's own test (ctest mutate.selftest):

    cd conformance/tools && /usr/bin/python3.11 -m mutate.selftest [--e2e [SCRATCH]]

Without --e2e (seconds): the generator on a known snippet (every operator,
every never-mutate rule), on the real engine sources (every mutant applies,
keeps the line count, is reproducible from its seed).  With --e2e (the
nightly run, minutes): two mutants through the whole pipeline in a scratch
copy: one that must be killed by the plain run (a poll that reports success
without running) and one that must be recognised as equivalent (a
whitespace change: identical machine code).
"""
import os
import sys
import tempfile

from . import __main__, generate, run
from .__main__ import DEFAULT_FILES, REPO, select_files

SNIPPET = r'''
#include <stdio.h>
#define LIMIT(x) ((x) < 3)
static int
f(int a, int *p)
{
    /* a < b && c in a comment */
    const char *s = "a < b || c";   // a >= b
    if (a < 2 && p != NULL) {
        g(a, 7);
    }
    if (YP_FAULT(SOME_FAULT)) {
        h(a == 1);
    }
    else {
        k(a >= 4);
    }
    p->x = -1;
    return q(a);
}
'''


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def test_snippet():
    ms = generate.mutants_of("s.c", SNIPPET)
    got = {(m.operator, m.old, m.new) for m in ms}
    want = {
        ("relational", "<", "<="), ("logical", "&&", "||"),
        ("relational", "!=", "=="), ("negate", "a < 2 && p != NULL",
                                     "!(a < 2 && p != NULL)"),
        ("delete", "g(a, 7)", ""), ("constant", "2", "3"), ("constant", "7", "8"),
        ("relational", ">=", ">"), ("constant", "4", "5"), ("delete", "k(a >= 4)", ""),
        ("delete", "p->x = -1", ""), ("constant", "-1", "0"),
        ("return", "q(a)", "0"),
    }
    expect(want <= got, f"missing mutants: {sorted(want - got)}")
    lines = SNIPPET.splitlines()
    # The preprocessor lines, the comment and the literal's line (whose
    # code outside the string and the // comment has nothing to mutate).
    never = {i + 1 for i, l in enumerate(lines)
             if l.startswith("#") or "comment" in l or '"' in l}
    expect(len(never) == 4, f"snippet lines: {never}")
    for m in ms:
        expect(m.line not in never,
               f"mutated a comment, literal or preprocessor line: {m}")
        expect("SOME_FAULT" not in lines[m.line - 1] and "h(a == 1)" not in lines[m.line - 1],
               f"mutated a YP_FAULT site or its body: {m}")


def test_engine_sources():
    files = select_files(DEFAULT_FILES)
    expect(files and all(f.endswith(".c") for f in files), f"files: {files}")
    ms = generate.all_mutants(REPO, files)
    expect(len(ms) > 500, f"only {len(ms)} mutants of the engine")
    ops = {m.operator for m in ms}
    expect(ops == {"relational", "logical", "negate", "delete", "constant", "return"},
           f"operators: {ops}")
    sources = {f: open(os.path.join(REPO, f), encoding="utf-8").read() for f in files}
    for m in ms:
        src = sources[m.path]
        expect(src[m.start:m.end] == m.old, f"{m.id}: span mismatch")
        out = m.apply(src)
        expect(out != src and out.count("\n") == src.count("\n"),
               f"{m.id}: not a same-line change")
        lines = src.splitlines()[m.line - 1]
        expect("YP_FAULT" not in lines or m.old not in lines.split("YP_FAULT")[1],
               f"{m.id}: mutates a fault site")
    a = generate.sample(ms, 20, 7)
    b = generate.sample(generate.all_mutants(REPO, files), 20, 7)
    expect(a == b and len(set(a)) == 20, "the sample is not reproducible")
    expect(generate.sample(ms, 20, 8) != a, "the seed does not matter")


def test_find_again():
    """--sample-of follows a record's lines through `git diff`: two lines
    added above move a mutant by two; a changed line loses its mutants."""
    path = "engine/src/core/borrow.c"
    old = __main__._git("show", f"HEAD:{path}")
    before = generate.mutants_of(path, old)
    expect(len(before) >= 3, f"too few mutants in {path}")
    moved = before[0]
    changed = [m for m in before if m.line != moved.line][-1]
    lines = old.splitlines(keepends=True)
    lines[changed.line - 1] = lines[changed.line - 1].replace(
        changed.old, changed.old + " /* edited */", 1)
    new = "/* one */\n/* two */\n" + "".join(lines)
    records = [{"id": m.id, "path": m.path, "line": m.line,
                "operator": m.operator, "mutation": m.describe()}
               for m in (moved, changed)]
    with tempfile.TemporaryDirectory(prefix="yp-mutate.") as tmp:
        os.makedirs(os.path.join(tmp, os.path.dirname(path)))
        with open(os.path.join(tmp, path), "w", encoding="utf-8") as f:
            f.write(new)
        found, lost = __main__.find_again(
            records, generate.mutants_of(path, new), "HEAD", tmp)
    expect([(m.line, m.old) for m, _ in found] == [(moved.line + 2, moved.old)],
           f"found: {[(m.id, r['id']) for m, r in found]}")
    expect([r["id"] for r in lost] == [changed.id], f"lost: {lost}")


def test_e2e(scratch=None):
    path = "engine/src/py/coroutine.c"
    src = open(os.path.join(REPO, path), encoding="utf-8").read()
    killed = [m for m in generate.mutants_of(path, src)
              if m.operator == "return" and m.old.startswith("coro_poll(")]
    expect(killed, "no `return coro_poll(...)` mutant in coroutine.c")
    at = src.index("static ")   # a space outside every function: code unchanged
    equivalent = generate.Mutant(path, src[:at].count("\n") + 1, at + 6, at + 7,
                                 "whitespace", " ", "  ")
    with tempfile.TemporaryDirectory(prefix="yp-mutate.") as tmp:
        s = run.Scratch(REPO, scratch or tmp, jobs=2)
        s.sync()
        v1 = run.run_mutant(s, killed[0], ["plain"], 900, 20, "2:3")
        expect(v1.status == "killed" and v1.mode == "plain",
               f"{killed[0].describe()}: {v1}")
        v2 = run.run_mutant(s, equivalent, ["plain"], 900, 20, "2:3")
        expect(v2.status == "equivalent", f"whitespace mutant: {v2}")
        expect(s.read(path) == src, "the scratch copy was not restored")
    print(f"e2e: {killed[0].describe()} killed ({v1.detail[:80]}); "
          "whitespace mutant equivalent")


def main(argv):
    for t in (test_snippet, test_engine_sources, test_find_again):
        t()
        print(f"ok {t.__name__}")
    if "--e2e" in argv:
        # --e2e [SCRATCH]: a scratch directory to keep (and reuse) builds in
        i = argv.index("--e2e")
        test_e2e(argv[i + 1] if i + 1 < len(argv) else None)
        print("ok test_e2e")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
