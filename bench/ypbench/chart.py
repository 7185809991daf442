"""results.png: the ratios against the targets (a bar per candidate), the
scaling curves and the memory breakdown by kind (every side)."""
from .breakdown import KINDS
from .schema import labels
from .tables import table_rows


def _colors(R):
    """One colour per side, the same in every panel; native is black."""
    cands = labels(R)
    palette = ["tab:blue", "tab:orange", "tab:green", "tab:purple",
               "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
    out = {c: palette[i % len(palette)] for i, c in enumerate(cands)}
    out["base"] = "black"
    return out


def _name(side):
    return "native asyncio" if side == "base" else side


def _ratios(ax, R, colors):
    rows = [r for r in table_rows(R)
            if any(x["ratio"] is not None for x in r["cands"].values())]
    cands = labels(R)
    width = 0.8 / len(cands)
    for j, c in enumerate(cands):
        for i, r in enumerate(rows):
            x = r["cands"][c]
            if x["ratio"] is None:
                continue
            xpos = i - 0.4 + width * (j + 0.5)
            ax.bar(xpos, x["ratio"], width * 0.9, color=colors[c], alpha=0.85,
                   hatch="//" if x["verdict"] == "MISS" else None,
                   edgecolor="white", label=c if i == 0 else None)
            if x["p25"] is not None:
                ax.errorbar(xpos, x["ratio"],
                            yerr=[[x["ratio"] - x["p25"]], [x["p75"] - x["ratio"]]],
                            color="black", capsize=3)
            if x["cg_ratio"] is not None:
                ax.plot(xpos, x["cg_ratio"], "D", color="black", markersize=4,
                        label="callgrind Ir ratio" if i == 0 and j == 0 else None)
            ax.text(xpos, max(x["ratio"], x["p75"] or 0) + 0.01,
                    f"{x['ratio']:.2f}", ha="center", va="bottom", fontsize=7)
    for i, r in enumerate(rows):
        ax.hlines(r["target"], i - 0.45, i + 0.45, colors="red",
                  linestyles="dashed", label="target" if i == 0 else None)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r["key"] for r in rows])
    ax.set_ylabel("candidate / native (lower is better)")
    ax.set_title("ratio to native asyncio, same run (hatched: target missed; "
                 "bars p25-p75 of the paired rounds)", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)


def _scaling(ax, R, colors):
    s = R["scaling"]
    for side in labels(R) + ["base"]:
        for g, style, tag in (("gc", "-", ""), ("nogc", "--", ", gc off")):
            d = s[f"{g}_ns"].get(side)
            if not d:
                continue
            ks = sorted(d, key=int)
            ax.errorbar([int(k) for k in ks], [d[k]["median"] for k in ks],
                        yerr=[[d[k]["median"] - d[k]["min"] for k in ks],
                              [d[k]["max"] - d[k]["median"] for k in ks]],
                        marker="o", capsize=3, color=colors[side],
                        linestyle=style, label=_name(side) + tag)
    ax.set_xscale("log")
    ax.set_xlabel("coroutines parked at once")
    ax.set_ylabel("park+wake+finish, ns per coroutine")
    ax.set_title("scaling (flat is the target)", fontsize=10)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)


def _memory(ax, R, colors):
    mem = R["memory"]["per_size"]
    n = max(mem, key=int)
    bd = mem[n]["breakdown"]
    sides = ["base"] + labels(R)
    kinds = [k for k, _ in KINDS] + ["residue"]
    import matplotlib
    cmap = matplotlib.colormaps["tab20"]
    drawn = set()
    for i, side in enumerate(sides):
        bottom = 0
        for j, k in enumerate(kinds):
            v = bd[side].get(k) or 0
            if v <= 0:
                continue
            ax.bar(i, v, 0.6, bottom=bottom, color=cmap(j),
                   label=None if k in drawn else k)
            drawn.add(k)
            if v >= 40:
                ax.text(i, bottom + v / 2, f"{k} {v:.0f}", ha="center",
                        va="center", fontsize=6)
            bottom += v
        ax.hlines(bd[side]["rss"], i - 0.35, i + 0.35, colors=colors[side],
                  linewidth=2.5, label="RSS" if i == 0 else None)
        ax.text(i + 0.36, bd[side]["rss"], f"RSS {bd[side]['rss']:.0f}",
                va="center", fontsize=7)
    ax.set_xticks(range(len(sides)))
    ax.set_xticklabels([_name(s) for s in sides])
    ax.set_xlim(-0.6, len(sides) - 0.1)
    ax.set_ylabel("bytes per suspended coroutine + task")
    ax.set_title(f"memory by kind, n={int(n):,} (negative entries not drawn)",
                 fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def draw_chart(R, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = _colors(R)
    has_scaling = "scaling" in R
    has_memory = ("memory" in R and "breakdown" in
                  next(iter(R["memory"]["per_size"].values())))
    lower = [f for f, on in ((_scaling, has_scaling), (_memory, has_memory)) if on]
    fig = plt.figure(figsize=(15, 11 if lower else 5.5))
    grid = fig.add_gridspec(2 if lower else 1, max(1, len(lower)))
    _ratios(fig.add_subplot(grid[0, :]), R, colors)
    for i, f in enumerate(lower):
        f(fig.add_subplot(grid[1, i]), R, colors)
    fig.suptitle(f"yieldpoint bench: {', '.join(labels(R))} vs native asyncio; "
                 f"{R['meta']['host']} ({R['meta']['when']}, shared machine)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
