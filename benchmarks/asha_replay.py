"""Does early stopping help the verdict at the default 2 epochs? A replay on the fidelity benchmark's networks.

Run: python benchmarks/asha_replay.py [--epochs-budget 32] [--orders 2000] [--boot 1000]
                                      [--out benchmarks/asha_replay.md]

The procedure, fixed before it was run: every MobileNet network of ``benchmarks/fidelity.py`` (the space's two
seeds repaired into 300M, then the random strategy's trials) has its real proxy scores at the search's settings,
measured once each with their noise (after epoch 1 and epoch 2 with the learning-rate cycle restarting at epoch 1,
ASHA's rung; and after both epochs of one cycle), and its reference accuracy (mean test accuracy of 6 retrainings
by the verdict's protocol). A search is replayed as a random order of these networks (random proposals, no
replacement) under a fixed budget of training epochs, as a search of that wall time would spend them:

- **ASHA + restart** (the default): each network trains epoch 1 and asks ``AshaStopper(2, eta=3)`` (the
  search's own class) whether it goes on; promoted ones train epoch 2; the returned network is the best epoch-2
  score among those that finished; networks are proposed until the epochs run out.
- **off, one cycle**: every network trains both epochs under one cycle (what the search does with
  ``--early-stop off``, whose schedule needs no restart); the best epoch-2 score is returned.
- **off, restart**: both epochs with the restarted schedule's scores (isolates the schedule from the stopping).

What the verdict would judge is the returned network, so each configuration is scored by the reference
accuracy of what it returns, averaged over ``--orders`` random orders; the difference between two
configurations has a 95% interval from a bootstrap over the networks (the pool resampled ``--boot`` times,
the same orders replayed on each resample). The replay assumes one trial at a time (a search runs two, and the
order results land in changes which trials ASHA compares) and a pool of 40 networks (a search draws from 10^37).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import fidelity  # noqa: E402

from nas.app.stopping import AshaStopper  # noqa: E402


def pool(genomes: int) -> dict[str, np.ndarray]:
    """Scores and reference of every network the fidelity cache holds in full."""
    cache = fidelity.load_cache(fidelity.ROOT / "benchmarks" / "fidelity.jsonl")
    out: dict[str, list] = {k: [] for k in ("what", "p1", "p2", "o2", "ref", "macs")}
    for j in fidelity.mobilenet_jobs(genomes):
        r = cache.get(fidelity.key(j))
        seeds = [cache.get(fidelity.seed_key((*j, sd))) for sd in range(2, 6)]
        if not r or r["status"] != "ok" or not all(s and s["status"] == "ok" for s in seeds):
            continue
        out["what"].append(r["what"])
        out["p1"].append(r["proxy1"])
        out["p2"].append(r["proxy2"])
        out["o2"].append(r["onecycle2"])
        out["ref"].append(np.mean([r["ref0"], r["ref1"], *[s["accuracy"] for s in seeds]]))
        out["macs"].append(r["macs"])
    return {k: np.asarray(v) for k, v in out.items()}


def asha(order: np.ndarray, p1: np.ndarray, p2: np.ndarray, budget: int) -> tuple[int, int]:
    """The network ASHA returns and how many it proposed within ``budget`` epochs."""
    rule = AshaStopper(2, eta=3)
    spent, best, n = 0, None, 0
    for i in order:
        if spent + 1 > budget:
            break
        n += 1
        spent += 1
        if rule.keep_going(n, 1, float(p1[i])) and spent + 1 <= budget:
            spent += 1
            if best is None or p2[i] > p2[best]:
                best = i
    return (best if best is not None else order[0]), n


def full(order: np.ndarray, p2: np.ndarray, budget: int) -> tuple[int, int]:
    """The network a search without early stopping returns within ``budget`` epochs (2 per network)."""
    take = order[: max(1, budget // 2)]
    return take[int(np.argmax(p2[take]))], len(take)


def replay(d: dict[str, np.ndarray], orders: list[np.ndarray], budget: int) -> dict[str, tuple[np.ndarray, float]]:
    """For each configuration: the reference of the returned network per order, and networks proposed on average."""
    res: dict[str, list] = {"ASHA + restart (default)": [], "off, one cycle": [], "off, restart": []}
    n: dict[str, list] = {k: [] for k in res}
    for o in orders:
        for name, (i, k) in (("ASHA + restart (default)", asha(o, d["p1"], d["p2"], budget)),
                             ("off, one cycle", full(o, d["o2"], budget)), ("off, restart", full(o, d["p2"], budget))):
            res[name].append(d["ref"][i])
            n[name].append(k)
    return {k: (np.asarray(v), float(np.mean(n[k]))) for k, v in res.items()}


def table(d: dict[str, np.ndarray], budget: int, orders: list[np.ndarray], boot: int,
          rng: np.random.Generator) -> list[str]:
    """One budget's rows: each configuration's returned reference, and its difference from the default."""
    m = len(d["ref"])
    base = replay(d, orders, budget)
    names = list(base)
    diffs: dict[str, list[float]] = {n: [] for n in names[1:]}
    for _ in range(boot):
        idx = rng.integers(0, m, m)
        r = replay({k: v[idx] for k, v in d.items()}, orders[: max(50, len(orders) // 10)], budget)
        for n in names[1:]:
            diffs[n].append(r[n][0].mean() - r[names[0]][0].mean())
    top_q = np.percentile(d["ref"], 75)
    lines = [f"### {budget} training epochs", "",
             "| configuration | networks proposed | reference accuracy of the returned network (mean over orders) "
             "| in the reference's top quarter | difference from the default | 95% interval (bootstrap over "
             "networks) |", "|---|---:|---:|---:|---:|---|"]
    for n in names:
        refs, k = base[n]
        diff = ci = "-"
        if n != names[0]:
            lo, hi = np.percentile(diffs[n], [2.5, 97.5])
            diff = f"{100 * (refs.mean() - base[names[0]][0].mean()):+.2f} points"
            ci = f"[{100 * lo:+.2f}, {100 * hi:+.2f}]"
        lines.append(f"| {n} | {k:.1f} | {refs.mean():.4f} | {(refs >= top_q).mean():.0%} | {diff} | {ci} |")
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--genomes", type=int, default=38)
    ap.add_argument("--epochs-budget", default="24,32,48", help="training epochs a replayed search may spend")
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    d = pool(a.genomes)
    m = len(d["ref"])
    rng = np.random.default_rng(0)
    orders = [rng.permutation(m) for _ in range(a.orders)]
    lines = ["# Early stopping and the schedule, replayed on real proxy scores", "",
             f"`python benchmarks/asha_replay.py --epochs-budget {a.epochs_budget} --orders {a.orders} --boot "
             f"{a.boot}`", "",
             f"{m} networks of `benchmarks/fidelity.jsonl` (real proxy scores at the search's settings, each measured "
             "once with its noise; reference: mean test accuracy of 6 retrainings by the verdict's protocol, from "
             f"{d['ref'].min():.4f} to {d['ref'].max():.4f}). A replayed search spends a fixed number of training "
             f"epochs on random proposals; {a.orders} random orders. See the script's docstring for the procedure.",
             ""]
    for b in (int(x) for x in a.epochs_budget.split(",")):
        lines += table(d, b, orders, a.boot, rng)
    text = "\n".join(lines)
    print(text)
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
