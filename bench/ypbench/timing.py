"""Wall clock: interleaved rounds per metric, and scaling with the number parked."""
import gc
import statistics

from .stats import summarize


async def timed_metric(sides, metric, rounds, block_ms, log):
    """Calibrate a block size, warm up, then `rounds` rounds of one
    candidate block and one baseline block, the order alternating."""
    unit = 1 if metric.startswith("park") else 256
    n = unit
    while True:                      # calibrate on the baseline
        gc.collect()
        ns = (await sides.block(metric, "base", n))[0]
        if ns >= block_ms * 1e6 or n >= unit * 4096:
            break
        n = max(n + unit, int(n * min(8, block_ms * 1e6 / max(ns, 1) * 1.2)))
        n = (n + unit - 1) // unit * unit
    for side in ("cand", "base"):    # warm-up
        await sides.block(metric, side, n)
    per = {"cand": [], "base": []}
    phases = {"cand": {"park": [], "wake": []}, "base": {"park": [], "wake": []}}
    ratios = []
    for r in range(rounds):
        order = ("cand", "base") if r % 2 == 0 else ("base", "cand")
        got = {}
        for side in order:
            gc.collect()
            res = await sides.block(metric, side, n)
            got[side] = res[0] / res[1]
            per[side].append(got[side])
            if len(res) > 2:
                phases[side]["park"].append(res[2] / res[1])
                phases[side]["wake"].append(res[3] / res[1])
        ratios.append(got["cand"] / got["base"])
    out = {"block": n, "rounds": rounds,
           "cand_ns": summarize(per["cand"]), "base_ns": summarize(per["base"]),
           "ratio": summarize(ratios)}
    if phases["cand"]["park"]:
        out["phases_ns"] = {s: {p: statistics.median(v) for p, v in ph.items()}
                            for s, ph in phases.items()}
    log(f"  {metric:12s} block={n:<7d} cand {out['cand_ns']['median']:9.1f} ns"
        f"  base {out['base_ns']['median']:9.1f} ns"
        f"  ratio {out['ratio']['median']:.3f}"
        f" [{out['ratio']['p25']:.3f}..{out['ratio']['p75']:.3f}]")
    return out


async def scaling_metric(sides, sizes, reps, log, with_base_upto, big_reps=1):
    """Park `size` coroutines at once, wake them all, let all finish: cost
    per coroutine at each size.  Sizes interleaved within each repetition;
    small sizes repeat their cycle so each measurement covers >= 10^5
    coroutines (or one cycle, if bigger).  Measured twice: with the cyclic
    GC on (the default interpreter, the headline) and off (the engine's and
    asyncio's own scaling, without the collector's full-heap passes)."""
    res = {"sizes": sizes}
    samples = {(g, side, s): [] for g in ("gc", "nogc")
               for side in ("cand", "base") for s in sizes}
    for rep in range(reps):
        for size in sizes:
            if size >= 1_000_000 and rep >= big_reps:
                continue
            cycles = max(1, 100_000 // size)
            for g in ("gc", "nogc"):
                for side in ("cand", "base"):
                    if side == "base" and size > with_base_upto:
                        continue
                    gc.collect()
                    if g == "nogc":
                        gc.disable()
                    try:
                        tot = ops = 0
                        for _ in range(cycles):
                            a, b, _, _ = await sides.park(side, size, "loop")
                            tot += a
                            ops += b
                    finally:
                        gc.enable()
                    samples[(g, side, size)].append(tot / ops)
                    log(f"  scaling rep {rep} size {size:>8d} {side} {g:4s}: "
                        f"{tot / ops:8.1f} ns/coroutine")
    for g in ("gc", "nogc"):
        for side in ("cand", "base"):
            key = f"{side}_ns" if g == "gc" else f"{side}_nogc_ns"
            d = res[key] = {str(s): summarize(samples[(g, side, s)])
                            for s in sizes if samples[(g, side, s)]}
            first = d.get(str(sizes[0]))
            if first:
                res[key.replace("_ns", "_vs_first")] = {
                    k: v["median"] / first["median"] for k, v in d.items()}
    return res
