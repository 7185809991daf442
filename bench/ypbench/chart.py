"""results.png: ratios against targets, and the scaling curves."""
from .tables import table_rows


def draw_chart(R, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in table_rows(R) if r["ratio"] is not None]
    has_scaling = "scaling" in R
    fig, axes = plt.subplots(1, 2 if has_scaling else 1,
                             figsize=(14 if has_scaling else 8, 5.5),
                             squeeze=False)
    ax = axes[0][0]
    xs = range(len(rows))
    ratios = [r["ratio"] for r in rows]
    colors = ["tab:green" if r["verdict"] == "PASS" else "tab:red" for r in rows]
    ax.bar(xs, ratios, color=colors, alpha=0.8, label="measured ratio")
    for i, r in enumerate(rows):
        ax.hlines(r["target"], i - 0.4, i + 0.4, colors="black",
                  linestyles="dashed", label="target" if i == 0 else None)
        w = R.get("wall", {}).get(r["key"])
        if w:
            ax.errorbar(i, w["ratio"]["median"],
                        yerr=[[w["ratio"]["median"] - w["ratio"]["p25"]],
                              [w["ratio"]["p75"] - w["ratio"]["median"]]],
                        color="black", capsize=4)
        cg = R.get("callgrind", {}).get(r["key"])
        if cg:
            ax.plot(i, cg["ratio"], "D", color="tab:blue",
                    label="callgrind Ir ratio" if i == 0 else None)
        ax.text(i, r["ratio"], f"{r['ratio']:.2f}", ha="center", va="bottom")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(list(xs))
    ax.set_xticklabels([r["key"] for r in rows], rotation=20)
    ax.set_ylabel("candidate / baseline (lower is better)")
    ax.set_title(f"{R['meta']['impl']} vs asyncio native")
    ax.legend(loc="upper left", fontsize=8)
    if has_scaling:
        ax = axes[0][1]
        s = R["scaling"]
        for side, label in (("cand", R["meta"]["impl"]), ("base", "native asyncio"),
                            ("cand_nogc", R["meta"]["impl"] + ", gc off"),
                            ("base_nogc", "native asyncio, gc off")):
            d = s.get(f"{side}_ns")
            if d:
                ks = sorted(d, key=int)
                ax.errorbar([int(k) for k in ks], [d[k]["median"] for k in ks],
                            yerr=[[d[k]["median"] - d[k]["min"] for k in ks],
                                  [d[k]["max"] - d[k]["median"] for k in ks]],
                            marker="o", capsize=3, label=label,
                            linestyle="--" if "nogc" in side else "-")
        ax.set_xscale("log")
        ax.set_xlabel("coroutines parked at once")
        ax.set_ylabel("park+wake+finish, ns per coroutine")
        ax.set_title("scaling (flat is the target)")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    fig.suptitle(f"yieldpoint bench — {R['meta']['host']} "
                 f"({R['meta']['when']}, noisy shared machine)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
