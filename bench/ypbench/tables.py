"""The report as text: rows of ratios against targets, the table, the
callgrind profile."""
from .callgrind import CG_METRICS
from .config import METRICS


def verdict(ratio, target):
    if ratio is None or target is None:
        return "-"
    return "PASS" if ratio <= target else "MISS"


def table_rows(R):
    rows = []
    w = R.get("wall", {})
    cg = R.get("callgrind", {})
    for key, title, base, target in METRICS:
        row = {"key": key, "title": title, "baseline": base, "target": target,
               "ratio": None, "spread": "", "cand": "", "base": "", "cg": ""}
        if key in w:
            m = w[key]
            row["ratio"] = m["ratio"]["median"]
            row["spread"] = f"{m['ratio']['p25']:.2f}-{m['ratio']['p75']:.2f}"
            row["cand"] = f"{m['cand_ns']['median']:.0f} ns"
            row["base"] = f"{m['base_ns']['median']:.0f} ns"
        elif key == "memory" and "memory" in R:
            sizes = R["memory"]["per_size"]
            big = max(sizes, key=int)
            m = sizes[big]
            row["ratio"] = m["ratio"]["rss"]
            row["spread"] = "n=" + ",".join(f"{int(k):.0e}".replace("e+0", "e")
                                            for k in sizes)
            row["cand"] = f"{m['cand']['rss']:.0f} B"
            row["base"] = f"{m['base']['rss']:.0f} B"
        elif key == "scaling" and "scaling" in R:
            s = R["scaling"]
            last = str(s["sizes"][-1])
            row["ratio"] = s["cand_vs_first"].get(last)
            row["title"] = (f"park/wake cost per coroutine at "
                            f"{int(last):.0e} vs {s['sizes'][0]:.0e}".replace("e+0", "e"))
            row["cand"] = f"{s['cand_ns'][last]['median']:.0f} ns"
            row["base"] = f"{s['cand_ns'][str(s['sizes'][0])]['median']:.0f} ns"
            row["spread"] = ", ".join(f"{v:.2f}" for v in s["cand_vs_first"].values())
        if key in cg:
            row["cg"] = (f"{cg[key]['cand_ir']:.0f} / {cg[key]['base_ir']:.0f}"
                         f" = {cg[key]['ratio']:.2f}")
        row["verdict"] = verdict(row["ratio"], target)
        rows.append(row)
    return rows


def format_table(R, markdown=False):
    rows = table_rows(R)
    hdr = ["metric", "candidate", "baseline", "ratio", "spread (p25-p75)",
           "target", "verdict", "callgrind Ir/op cand / base = ratio"]
    body = []
    for r in rows:
        body.append([r["title"], r["cand"], r["base"],
                     "n/a" if r["ratio"] is None else f"{r['ratio']:.3f}",
                     r["spread"], f"<= {r['target']}", r["verdict"] if r["ratio"] is not None else "n/a",
                     r["cg"] or "-"])
    if markdown:
        lines = ["| " + " | ".join(hdr) + " |",
                 "|" + "|".join("---" for _ in hdr) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in b) + " |" for b in body]
        return "\n".join(lines)
    widths = [max(len(hdr[i]), *(len(b[i]) for b in body)) for i in range(len(hdr))]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    lines = [fmt.format(*hdr), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*b) for b in body]
    return "\n".join(lines)


def profile_text(R, top=15):
    cg = R.get("callgrind", {})
    out = []
    for metric in CG_METRICS:
        if metric not in cg:
            continue
        for side in ("cand", "base"):
            p = cg[metric]["profile"][side]
            out.append(f"### {metric} / {side}: {cg[metric][side + '_ir']:.0f} Ir per op")
            for kind in ("exclusive", "inclusive"):
                out.append(f"  {kind}:")
                for name, ir in p[kind][:top]:
                    out.append(f"    {ir:10.1f}  {name}")
    return "\n".join(out)
