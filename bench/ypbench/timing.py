"""Wall clock: interleaved rounds per metric, and scaling with the number parked."""
import gc
import statistics

from .stats import summarize


def round_order(sides, r):
    """The order of the sides in round r: forwards, then backwards (ABBA
    for one candidate), so that every side's mean position is the same."""
    return sides if r % 2 == 0 else sides[::-1]


async def timed_metric(sides, metric, rounds, block_ms, log):
    """Calibrate a block size, warm up, then `rounds` rounds of one block
    of every candidate and one baseline block, the order alternating.
    Each candidate's ratio is paired with the baseline block of its round."""
    unit = 1 if metric.startswith("park") else 256
    n = unit
    while True:                      # calibrate on the baseline
        gc.collect()
        ns = (await sides.block(metric, "base", n))[0]
        if ns >= block_ms * 1e6 or n >= unit * 4096:
            break
        n = max(n + unit, int(n * min(8, block_ms * 1e6 / max(ns, 1) * 1.2)))
        n = (n + unit - 1) // unit * unit
    every = sides.labels + ["base"]
    for side in every:               # warm-up
        await sides.block(metric, side, n)
    per = {s: [] for s in every}
    phases = {s: {"park": [], "wake": []} for s in every}
    ratios = {c: [] for c in sides.labels}
    for r in range(rounds):
        got = {}
        for side in round_order(every, r):
            gc.collect()
            res = await sides.block(metric, side, n)
            got[side] = res[0] / res[1]
            per[side].append(got[side])
            if len(res) > 2:
                phases[side]["park"].append(res[2] / res[1])
                phases[side]["wake"].append(res[3] / res[1])
        for c in sides.labels:
            ratios[c].append(got[c] / got["base"])
    out = {"block": n, "rounds": rounds,
           "ns": {s: summarize(v) for s, v in per.items()},
           "ratio": {c: summarize(v) for c, v in ratios.items()}}
    if phases["base"]["park"]:
        out["phases_ns"] = {s: {p: statistics.median(v) for p, v in ph.items()}
                            for s, ph in phases.items()}
    log(f"  {metric:12s} block={n:<7d} base {out['ns']['base']['median']:9.1f} ns"
        + "".join(f" | {c} {out['ns'][c]['median']:9.1f} ns"
                  f" ratio {out['ratio'][c]['median']:.3f}"
                  f" [{out['ratio'][c]['p25']:.3f}..{out['ratio'][c]['p75']:.3f}]"
                  for c in sides.labels))
    return out


async def scaling_metric(sides, sizes, reps, log, with_base_upto, big_reps=1):
    """Park `size` coroutines at once, wake them all, let all finish: cost
    per coroutine at each size, for every candidate and native asyncio (up
    to `with_base_upto`).  Sizes interleaved within each repetition, the
    sides' order alternating; small sizes repeat their cycle so each
    measurement covers >= 10^5 coroutines (or one cycle, if bigger).
    Measured twice: with the cyclic GC on (the default interpreter, the
    headline) and off (the engine's and asyncio's own scaling, without the
    collector's full-heap passes)."""
    every = sides.labels + ["base"]
    samples = {(g, side, s): [] for g in ("gc", "nogc")
               for side in every for s in sizes}
    for rep in range(reps):
        for size in sizes:
            if size >= 1_000_000 and rep >= big_reps:
                continue
            cycles = max(1, 100_000 // size)
            for g in ("gc", "nogc"):
                for side in round_order(every, rep):
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
    res = {"sizes": sizes, "base_upto": with_base_upto}
    for g in ("gc", "nogc"):
        ns = res[f"{g}_ns"] = {}
        vs = res[f"{g}_vs_first"] = {}
        for side in every:
            d = {str(s): summarize(samples[(g, side, s)])
                 for s in sizes if samples[(g, side, s)]}
            ns[side] = d
            first = d.get(str(sizes[0]))
            if first:
                vs[side] = {k: v["median"] / first["median"] for k, v in d.items()}
    return res
