"""results.json's shape: the sides of a run, and a file written before
several candidates were measured at once, read in the current shape.

Schema 2 keys every number by side, a candidate's label or "base" (native
asyncio): wall[m] = {ns: {side}, ratio: {label}, phases_ns: {side}},
memory.per_size[n] = {sides: {side: {rss, heap, tracemalloc}}, ratio:
{label}, breakdown: {side: {kind: bytes}}}, scaling = {gc_ns, nogc_ns,
gc_vs_first, nogc_vs_first: {side}}, callgrind[m] = {ir: {side}, ratio:
{label}, profile: {side}}.  meta.candidates lists the candidates in order."""

SCHEMA = 2


def labels(R):
    return [c["label"] for c in R["meta"]["candidates"]]


def upgrade(R):
    """R in schema 2; a schema-1 file (one candidate, keys cand_* and
    base_*) is converted in place."""
    m = R["meta"]
    if m.get("schema") == SCHEMA:
        return R
    c = m["impl"]
    m["candidates"] = [{"label": c, "module": c, "path": None,
                        "file": m.get("impl_file", "?")}]
    m["schema"] = SCHEMA

    def side(d):
        return {("base" if k == "base" else c): v for k, v in d.items()}
    for w in R.get("wall", {}).values():
        w["ns"] = {c: w.pop("cand_ns"), "base": w.pop("base_ns")}
        w["ratio"] = {c: w["ratio"]}
        if "phases_ns" in w:
            w["phases_ns"] = side(w["phases_ns"])
    for row in R.get("memory", {}).get("per_size", {}).values():
        ratio = row.pop("ratio")
        row["sides"] = {c: row.pop("cand"), "base": row.pop("base")}
        row["ratio"] = {c: ratio}
    s = R.get("scaling")
    if s:
        for g, old in (("gc", ""), ("nogc", "_nogc")):
            for what in ("ns", "vs_first"):
                s[f"{g}_{what}"] = {
                    sd: s.pop(f"{sd}{old}_{what}") for sd in ("cand", "base")
                    if f"{sd}{old}_{what}" in s}
                s[f"{g}_{what}"] = side(s[f"{g}_{what}"])
    for row in R.get("callgrind", {}).values():
        row["ir"] = {c: row.pop("cand_ir"), "base": row.pop("base_ir")}
        row["ratio"] = {c: row["ratio"]}
        row["profile"] = side(row["profile"])
    return R
