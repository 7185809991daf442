#!/usr/bin/python3.11
"""layers.py -- the engine's one-way layering check (docs/layers.md).

In the spirit of Chromium's checkdeps: every engine source file is assigned
a layer in tools/layers.map, and this check fails when

  - a file #includes a header of a group it may not include (the core may
    not include Python.h or pyglue.h, the fixtures only public headers);
  - a file calls into a file of a higher layer: an undefined symbol of its
    object file (`nm`) that a higher file's object defines;
  - files depend on each other in a cycle (any two files of one directory
    that reach each other through calls);
  - a `known` entry of the map (a violation tolerated for now) no longer
    occurs: the list of known violations can only shrink.

Usage:
  layers.py --root DIR --map FILE [--map FILE...] --objects OBJ[:OBJ...]
            [--replace SRC=OBJ] [--source SRC=FILE]

--objects takes the build's object files, colon-separated (CMake names them
<target>.dir/<path of the source under the target's directory>.o).
--replace and --source stand a different object file or source text in for
one source file: the ctest proofs that the check bites use them.
"""

import argparse
import os
import re
import subprocess
import sys

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


class MapError(Exception):
    pass


def parse_map(paths):
    """Return (groups, headers, layers, known).

    groups:  name -> {"dir": repo-relative dir, "may_include": [groups]}
    headers: name -> {"dir": dir} or {"names": [bare header names]}
    layers:  [(group, [file names in the group's dir])], low to high
    known:   {(src, dst): why}
    """
    groups, headers, layers, known = {}, {}, [], {}
    for path in paths:
        with open(path) as f:
            for lineno, raw in enumerate(f, 1):
                line = raw.split("#", 1)[0].strip()
                where = f"{path}:{lineno}"
                if not line:
                    continue
                words = line.split()
                kind = words[0]
                if kind == "group" and len(words) >= 3:
                    groups[words[1]] = {"dir": words[2].rstrip("/"),
                                        "may_include": words[3:]}
                elif kind == "headers" and len(words) >= 3:
                    if "/" in words[2]:
                        headers[words[1]] = {"dir": words[2].rstrip("/")}
                    else:
                        headers[words[1]] = {"names": words[2:]}
                elif kind == "layer" and len(words) >= 3:
                    if words[1] not in groups:
                        raise MapError(f"{where}: layer of unknown group "
                                       f"{words[1]!r}")
                    layers.append((words[1], words[2:]))
                elif kind == "known" and len(words) >= 4 and words[2] == "->":
                    # The reason is the comment that follows on the line.
                    why = raw.split("#", 1)[1].strip() if "#" in raw else ""
                    if not why:
                        raise MapError(f"{where}: a known violation needs a "
                                       "comment saying why and what removes it")
                    known[(words[1], words[3])] = why
                else:
                    raise MapError(f"{where}: cannot read {raw.strip()!r}")
    return groups, headers, layers, known


def nm_symbols(objs):
    """{object: (defined, undefined)} global symbols, from one nm run."""
    out = subprocess.run(["nm", "-P", "-A", *objs], check=True, text=True,
                         capture_output=True).stdout
    syms = {o: (set(), set()) for o in objs}
    for line in out.splitlines():
        # "<object>: <name> <type> [value size]"; object paths hold no ": ".
        obj, _, rest = line.partition(": ")
        parts = rest.split()
        if obj not in syms or len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        defined, undefined = syms[obj]
        if kind in ("U", "w", "v"):
            undefined.add(name)
        elif kind.isupper():
            defined.add(name)
    return syms


def sccs(nodes, edges):
    """Tarjan's strongly connected components of size > 1."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def check(args):
    root = os.path.abspath(args.root)
    groups, headers, layers, known = parse_map(args.map)
    problems = []       # errors in the map or the inputs: always fatal

    # -- Every source file has exactly one layer. ------------------------
    rank, group_of = {}, {}
    group_order = []
    for i, (g, names) in enumerate(layers):
        if g not in group_order:
            group_order.append(g)
        for n in names:
            src = f"{groups[g]['dir']}/{n}"
            if src in rank:
                problems.append(f"{src}: assigned two layers")
            rank[src] = i
            group_of[src] = g
            if not os.path.isfile(os.path.join(root, src)):
                problems.append(f"{src}: in the map but not in the tree")
    for g, info in groups.items():
        d = os.path.join(root, info["dir"])
        for n in sorted(os.listdir(d)):
            src = f"{info['dir']}/{n}"
            if n.endswith(".c") and src not in rank:
                problems.append(f"{src}: no layer (add it to tools/layers.map)")
    layer_name = {i: f"{g}[{i}]" for i, (g, _) in enumerate(layers)}

    # -- Include edges. --------------------------------------------------
    header_group = {}   # repo-relative header path or bare name -> group
    for g, info in groups.items():
        d = os.path.join(root, info["dir"])
        for n in os.listdir(d):
            if n.endswith(".h"):
                header_group[f"{info['dir']}/{n}"] = g
    for h, info in headers.items():
        if "dir" in info:
            for dp, _, fs in os.walk(os.path.join(root, info["dir"])):
                for n in fs:
                    if n.endswith(".h"):
                        rel = os.path.relpath(os.path.join(dp, n), root)
                        header_group[rel] = h
        else:
            for n in info["names"]:
                header_group[n] = h
    # Where a quoted include is looked for after the file's own directory:
    # the build passes every group's directory and the public one with -I.
    include_dirs = ([info["dir"] for info in headers.values() if "dir" in info]
                    + [info["dir"] for info in groups.values()])

    source_text = dict(s.split("=", 1) for s in args.source)
    violations = {}     # (src, dst) -> message
    n_includes = 0
    for g, info in groups.items():
        d = os.path.join(root, info["dir"])
        for n in sorted(os.listdir(d)):
            if not n.endswith((".c", ".h")):
                continue
            src = f"{info['dir']}/{n}"
            path = source_text.get(src, os.path.join(root, src))
            with open(path) as f:
                text = f.read()
            for bracket, inc in INCLUDE_RE.findall(text):
                target = None
                for base in [info["dir"]] + include_dirs:
                    cand = os.path.normpath(f"{base}/{inc}")
                    if cand in header_group:
                        target = cand
                        break
                if target is None and inc in header_group:
                    target = inc
                if target is None:
                    if bracket == "<":
                        continue    # a system header
                    problems.append(f"{src}: #include \"{inc}\" is in no "
                                    "group of tools/layers.map")
                    continue
                n_includes += 1
                tg = header_group[target]
                if tg != g and tg not in info["may_include"]:
                    allowed = ", ".join([g] + info["may_include"])
                    violations[(src, target)] = (
                        f"{src} includes {target} (group {tg}); files of "
                        f"group {g} may include only {allowed}")

    # -- Call edges, from the object files. ------------------------------
    objects = {}
    for obj in [o for arg in args.objects for o in arg.split(":") if o]:
        m = re.search(r"\.dir/(.+)\.o$", obj)
        tail = m.group(1) if m else None
        hits = [s for s in rank if tail and s.endswith("/" + tail)]
        if len(hits) != 1:
            problems.append(f"{obj}: matches no single source of the map")
            continue
        objects[hits[0]] = obj
    for rep in args.replace:
        src, obj = rep.split("=", 1)
        if src not in rank:
            problems.append(f"--replace {src}: not a source of the map")
        objects[src] = obj
    for src in rank:
        if src not in objects:
            problems.append(f"{src}: no object file given")
    if problems:
        for p in problems:
            print(f"layers: error: {p}")
        return 2

    defined_by, needs = {}, {}
    syms = nm_symbols(sorted(set(objects.values())))
    for src, obj in sorted(objects.items()):
        defs, undefs = syms[obj]
        needs[src] = undefs
        for sym in defs:
            defined_by.setdefault(sym, set()).add(src)
    edges, via = {}, {}
    for src, undefs in needs.items():
        for sym in sorted(undefs):
            for dst in defined_by.get(sym, ()):
                if dst != src:
                    edges.setdefault(src, set()).add(dst)
                    via.setdefault((src, dst), []).append(sym)
    n_calls = sum(len(v) for v in edges.values())

    def calls(src, dst):
        syms = via[(src, dst)]
        more = f" and {len(syms) - 3} more" if len(syms) > 3 else ""
        return ", ".join(syms[:3]) + more

    # A cycle always holds an upward call unless all of its files share a
    # layer: report the upward calls (naming the cycle they close), and
    # every call of a cycle inside one layer.
    cycle_of = {}
    for comp in sccs(rank.keys(), edges):
        for src in comp:
            cycle_of[src] = " <-> ".join(comp)
    for src, dsts in edges.items():
        for dst in sorted(dsts):
            closes = (f"; closes the cycle {cycle_of[src]}"
                      if cycle_of.get(src) is not None
                      and cycle_of.get(src) == cycle_of.get(dst) else "")
            if rank[dst] > rank[src]:
                violations[(src, dst)] = (
                    f"{src} -> {dst}: calls up, from layer "
                    f"{layer_name[rank[src]]} into {layer_name[rank[dst]]} "
                    f"({calls(src, dst)}){closes}")
            elif rank[dst] == rank[src] and closes:
                violations[(src, dst)] = (
                    f"{src} -> {dst}: same layer {layer_name[rank[src]]}, "
                    f"calls {calls(src, dst)}{closes}")

    # -- Compare with the known list. ------------------------------------
    failed = False
    for key, msg in sorted(violations.items()):
        if key in known:
            print(f"layers: known: {msg}\n        ({known[key]})")
            continue
        print(f"layers: FAIL: {msg}")
        failed = True
    for key, why in sorted(known.items()):
        src, dst = key
        if group_of.get(src) != "py" or group_of.get(dst) != "py":
            print(f"layers: FAIL: known entry {src} -> {dst}: only "
                  "engine/src/py/ may have known violations")
            failed = True
        elif key not in violations:
            print(f"layers: FAIL: known entry {src} -> {dst} no longer "
                  "occurs: delete it from tools/layers.map")
            failed = True
    print(f"layers: {len(rank)} files in {len(layers)} layers, "
          f"{n_includes} includes, {n_calls} call edges, "
          f"{len(violations)} violations ({len(known)} known): "
          f"{'FAIL' if failed else 'OK'}")
    return 1 if failed else 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", required=True, help="the repository root")
    p.add_argument("--map", action="append", required=True)
    p.add_argument("--objects", action="append", default=[])
    p.add_argument("--replace", action="append", default=[],
                   metavar="SRC=OBJ")
    p.add_argument("--source", action="append", default=[],
                   metavar="SRC=FILE")
    args = p.parse_args(argv)
    try:
        return check(args)
    except MapError as e:
        print(f"layers: error: {e}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
