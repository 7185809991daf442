"""Parse SPEC.md into clauses; write or check clauses.json.

    /usr/bin/python3.11 tools/spec.py            # print a summary
    /usr/bin/python3.11 tools/spec.py --write    # regenerate clauses.json
    /usr/bin/python3.11 tools/spec.py --check    # exit 1 if clauses.json is stale

SPEC.md is the source of truth; clauses.json is its machine-readable copy for
tools outside this repository.  One clause per line:

    - **`area.name`** · LEVEL · text — *source:* where
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SPEC = os.path.join(ROOT, "SPEC.md")
CLAUSES_JSON = os.path.join(ROOT, "clauses.json")

CLAUSE_RE = re.compile(
    r"^- \*\*`(?P<id>[a-z]+\.[a-z0-9-]+)`\*\* · (?P<level>MUST|SHOULD|MAY) · "
    r"(?P<text>.*?) — \*source:\* (?P<source>.+)$")
AREA_RE = re.compile(r"^## (?P<area>[a-z]+) — (?P<title>.+)$")
VERSION_RE = re.compile(r"^Spec version \*\*(?P<v>[0-9.]+)\*\*")


def parse(path=SPEC):
    """Return {"version", "areas": [...], "clauses": [...]} from SPEC.md."""
    version, area, areas, clauses, seen = None, None, [], [], set()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            m = VERSION_RE.match(line)
            if m:
                version = m.group("v")
            m = AREA_RE.match(line)
            if m:
                area = m.group("area")
                areas.append({"id": area, "title": m.group("title")})
                continue
            if line.startswith("## "):
                area = None
                continue
            if line.startswith("- **`"):
                m = CLAUSE_RE.match(line)
                if not m:
                    raise ValueError(f"{path}:{lineno}: malformed clause line")
                cid = m.group("id")
                if area is None or not cid.startswith(area + "."):
                    raise ValueError(
                        f"{path}:{lineno}: clause {cid} outside its area")
                if cid in seen:
                    raise ValueError(f"{path}:{lineno}: duplicate clause {cid}")
                seen.add(cid)
                clauses.append({"id": cid, "area": area,
                                "level": m.group("level"),
                                "text": m.group("text"),
                                "source": m.group("source")})
    if version is None:
        raise ValueError(f"{path}: no 'Spec version' line")
    return {"version": version, "areas": areas, "clauses": clauses}


def _dump(spec):
    return json.dumps(spec, ensure_ascii=False, indent=1) + "\n"


def main(argv):
    spec = parse()
    if "--write" in argv:
        with open(CLAUSES_JSON, "w", encoding="utf-8") as f:
            f.write(_dump(spec))
        print(f"wrote {CLAUSES_JSON}: {len(spec['clauses'])} clauses")
        return 0
    if "--check" in argv:
        try:
            with open(CLAUSES_JSON, encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = ""
        if current != _dump(spec):
            print("clauses.json is out of date with SPEC.md; run "
                  "tools/spec.py --write", file=sys.stderr)
            return 1
        return 0
    for a in spec["areas"]:
        cs = [c for c in spec["clauses"] if c["area"] == a["id"]]
        lv = {l: sum(c["level"] == l for c in cs) for l in ("MUST", "SHOULD", "MAY")}
        print(f"{a['id']:9} {len(cs):3}  MUST {lv['MUST']:2}  SHOULD {lv['SHOULD']:2}  MAY {lv['MAY']}")
    print(f"total     {len(spec['clauses']):3}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
