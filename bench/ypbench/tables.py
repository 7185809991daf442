"""The report as text or markdown: the ratios against the targets (a
group of columns per candidate), the memory breakdown by kind, the
scaling curves, the callgrind profiles."""
from .breakdown import KINDS
from .callgrind import CG_METRICS
from .config import EXTRA_TARGETS, METRICS
from .schema import labels


def verdict(ratio, target):
    if ratio is None or target is None:
        return "-"
    return "PASS" if ratio <= target else "MISS"


def _e(n):
    return f"{int(n):.0e}".replace("e+0", "e")


def table_rows(R):
    """One row per metric: {key, title, baseline, target, base (the
    baseline's figure), cands: {label: {value, ratio, p25, p75, spread,
    verdict, cg, cg_ratio}}}; ratio None where the metric was not run."""
    rows = []
    w = R.get("wall", {})
    cg = R.get("callgrind", {})
    for key, title, baseline, target in METRICS:
        row = {"key": key, "title": title, "baseline": baseline,
               "target": target, "base": "", "cands": {}}
        for c in labels(R):
            cell = row["cands"][c] = {"value": "", "ratio": None,
                                      "p25": None, "p75": None, "spread": "",
                                      "cg": "", "cg_ratio": None}
            if key in w:
                m = w[key]
                r = m["ratio"][c]
                cell.update(ratio=r["median"], p25=r["p25"], p75=r["p75"],
                            spread=f"{r['p25']:.2f}-{r['p75']:.2f}",
                            value=f"{m['ns'][c]['median']:.0f} ns")
                row["base"] = f"{m['ns']['base']['median']:.0f} ns"
            elif key == "memory" and "memory" in R:
                sizes = R["memory"]["per_size"]
                m = sizes[max(sizes, key=int)]
                cell.update(ratio=m["ratio"][c]["rss"],
                            spread="n=" + ",".join(_e(k) for k in sizes),
                            value=f"{m['sides'][c]['rss']:.0f} B")
                row["base"] = f"{m['sides']['base']['rss']:.0f} B"
            elif key == "scaling" and "scaling" in R:
                s = R["scaling"]
                first, last = str(s["sizes"][0]), str(s["sizes"][-1])
                row["title"] = (f"park/wake cost per coroutine at {_e(last)} "
                                f"vs {_e(first)}")
                vs = s["gc_vs_first"]
                cell.update(ratio=vs[c].get(last),
                            spread=", ".join(f"{v:.2f}" for v in vs[c].values()),
                            value=f"{s['gc_ns'][c][last]['median']:.0f} ns")
                b = s["gc_ns"].get("base", {})
                top = max(b, key=int) if b else None
                row["base"] = "-" if top is None else (
                    f"{b[top]['median']:.0f} ns = {vs['base'][top]:.2f}x"
                    + ("" if top == last else f" (at {_e(top)})"))
            if key in cg:
                cell["cg_ratio"] = cg[key]["ratio"][c]
                cell["cg"] = (f"{cg[key]['ir'][c]:.0f} / {cg[key]['ir']['base']:.0f}"
                              f" = {cell['cg_ratio']:.2f}")
            cell["verdict"] = verdict(cell["ratio"], target)
        rows.append(row)
    return rows


def render(hdr, body, markdown=False):
    """A table as aligned text, or as markdown."""
    if markdown:
        lines = ["| " + " | ".join(hdr) + " |",
                 "|" + "|".join("---" for _ in hdr) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in b) + " |"
                  for b in body]
        return "\n".join(lines)
    widths = [max(len(hdr[i]), *(len(b[i]) for b in body)) for i in range(len(hdr))]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    lines = [fmt.format(*hdr), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*b) for b in body]
    return "\n".join(lines)


def format_table(R, markdown=False):
    """The metrics against their targets: a group of columns per candidate
    (its figure, the ratio to the baseline, the spread, the verdict, and
    the callgrind instruction counts when they were measured)."""
    rows = table_rows(R)
    cands = labels(R)
    with_cg = "callgrind" in R
    hdr = ["metric", "baseline"]
    for c in cands:
        hdr += [c, f"{c} ratio", "spread (p25-p75)", "verdict"]
        if with_cg:
            hdr.append("callgrind Ir/op cand / base = ratio")
    hdr.append("target")
    body = []
    for r in rows:
        line = [r["title"], r["base"] or "-"]
        for c in cands:
            x = r["cands"][c]
            line += [x["value"] or "-",
                     "n/a" if x["ratio"] is None else f"{x['ratio']:.3f}",
                     x["spread"] or "-",
                     x["verdict"] if x["ratio"] is not None else "n/a"]
            if with_cg:
                line.append(x["cg"] or "-")
        extra = EXTRA_TARGETS.get(r["key"])
        line.append(f"<= {r['target']}" + (f"; {extra}" if extra else ""))
        body.append(line)
    return render(hdr, body, markdown)


def breakdown_table(R, markdown=False):
    """Bytes per suspended coroutine by kind (breakdown.py), a column per
    side, at the largest n measured; "" when memory was not measured."""
    mem = R.get("memory")
    if not mem or "breakdown" not in next(iter(mem["per_size"].values())):
        return ""
    n = max(mem["per_size"], key=int)
    bd = mem["per_size"][n]["breakdown"]
    sides = ["base"] + labels(R)
    hdr = [f"bytes per suspended coroutine, n={_e(n)}"] + [
        "native" if s == "base" else s for s in sides]

    def num(v, fmt="{:.0f}"):
        return "-" if v is None else fmt.format(v)
    body = [[k] + [num(bd[s].get(k)) for s in sides] for k, _ in KINDS]
    body += [["residue (tracemalloc not attributed)"]
             + [num(bd[s]["residue"]) for s in sides],
             ["= measured (tracemalloc + C heap)"]
             + [num(bd[s]["measured"]) for s in sides],
             ["RSS (the headline)"] + [num(bd[s]["rss"]) for s in sides],
             ["RSS - measured (allocator slack; < 0: reused free memory)"]
             + [num(bd[s]["slack"]) for s in sides],
             ["objects per coroutine (of which GC-tracked)"]
             + [f"{num(bd[s]['objects'], '{:.1f}')} ({num(bd[s]['gc_tracked'], '{:.1f}')})"
                for s in sides]]
    return render(hdr, body, markdown)


def scaling_table(R, markdown=False):
    """Park+wake+finish ns per coroutine at each size, every side with the
    GC on and off, with the ratio to the smallest size."""
    s = R.get("scaling")
    if not s:
        return ""
    sides = labels(R) + ["base"]
    hdr = ["coroutines at once"]
    for side in sides:
        name = "native" if side == "base" else side
        hdr += [f"{name} ns", "ratio", f"{name} ns, no GC", "ratio"]
    body = []
    for size in s["sizes"]:
        k = str(size)
        line = [f"{size:,}"]
        for side in sides:
            for g in ("gc", "nogc"):
                d = s[f"{g}_ns"].get(side, {})
                v = s[f"{g}_vs_first"].get(side, {})
                line += ([f"{d[k]['median']:.0f}", f"{v[k]:.2f}"]
                         if k in d else ["-", "-"])
        body.append(line)
    return render(hdr, body, markdown)


def profile_text(R, top=15):
    cg = R.get("callgrind", {})
    out = []
    for metric in CG_METRICS:
        if metric not in cg:
            continue
        for side in labels(R) + ["base"]:
            p = cg[metric]["profile"][side]
            out.append(f"### {metric} / {side}: {cg[metric]['ir'][side]:.0f} Ir per op")
            for kind in ("exclusive", "inclusive"):
                out.append(f"  {kind}:")
                for name, ir in p[kind][:top]:
                    out.append(f"    {ir:10.1f}  {name}")
    return "\n".join(out)
