"""How fast each space samples budget-feasible genomes, how often it repairs, and how the MACs spread.

Run: python benchmarks/sampling.py [--n 3000] [--out benchmarks/sampling.md]
Target: at least 5,000 feasible genomes per second for mobilenet at 300M MACs on one core.

A change measured against another revision, side by side:
    git worktree add /tmp/before REV
    python benchmarks/sampling.py --against /tmp/before --out benchmarks/sampling_change.md
runs each space in both trees in turn, ``--rounds`` times, and keeps each row's best.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import nas
import search_spaces

BUDGETS = (50_000_000, 300_000_000, 1_000_000_000)


def measure(name: str, n: int) -> list[tuple[str, ...]]:
    """The rows of one space, measured in this process."""
    rows = []
    space = search_spaces.get(name)
    low = space.min_cost()[0]
    for budget in BUDGETS:
        label = (name, "x".join(map(str, space.input)), nas.human(budget))
        if budget < low:
            rows.append((*label, f"below the space's minimum ({nas.human(low)})", "", "", "", ""))
            continue
        rng = np.random.default_rng(0)
        for _ in range(200):  # warm the per-block cost caches, as a search would have
            space.sample(rng, budget)
        rates = []
        for _ in range(5):  # the fastest of five timed runs, as timeit reports: noise only ever slows a run
            space.stats = {"samples": 0, "repaired": 0}
            t = time.perf_counter()
            genomes = [space.sample(rng, budget) for _ in range(n)]
            rates.append(n / (time.perf_counter() - t))
        rate = max(rates)
        ratio = [nas.cost(g).macs / budget for g in genomes[:500]]
        assert max(ratio) <= 1.0
        q = np.quantile(ratio, [0.1, 0.5, 0.9])
        rows.append((*label, f"{rate:,.0f}", f"{space.stats['repaired'] / space.stats['samples']:.0%}",
                     f"{q[0]:.2f}", f"{q[1]:.2f}", f"{q[2]:.2f}"))
    return rows


ROOT = Path(__file__).resolve().parents[1]


def rows_of(root: Path, name: str, n: int) -> list[tuple[str, ...]]:
    """One space's rows, measured in a fresh process that imports the code of the tree ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "sampling.py"), "--space", name, "--n", str(n)],
                         check=True, capture_output=True, text=True, env=env, cwd=root).stdout
    return [tuple(r) for r in json.loads(out.strip().splitlines()[-1])]


def against(other: Path, n: int, rounds: int) -> str:
    """This tree's sampling rates beside ``other``'s, interleaved space by space, each row's best of ``rounds``."""
    best: dict[tuple[str, str, str], float] = {}
    for _ in range(rounds):
        for name in search_spaces.names():
            for tag, root in (("before", other), ("after", ROOT)):
                for r in rows_of(root, name, n):
                    if r[3][:1].isdigit():
                        key = (r[0], r[2], tag)
                        best[key] = max(best.get(key, 0.0), float(r[3].replace(",", "")))
    lines = ["| space | budget (MACs) | before (genomes / s) | after | after / before |", "|---|---|---|---|---|"]
    for (name, budget, tag), v in best.items():
        if tag == "before" and (name, budget, "after") in best:
            a = best[(name, budget, "after")]
            lines.append(f"| {name} | {budget} | {v:,.0f} | {a:,.0f} | {a / v:.2f} |")
    def rev(root: Path) -> str:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return (out.stdout.strip() or "unknown") + (" with changes" if dirty else "")

    info = (f"{platform.machine()}, one core, Python {platform.python_version()}, {n} genomes per row, best of "
            f"{rounds} interleaved rounds; before: {rev(other)}, after: {rev(ROOT)}. Rates vary by up to 30% "
            "from run to run on this machine (a shared VM): a change shows as a ratio that stays on one side of 1 "
            "across runs")
    return "\n".join(lines) + f"\n\n{info}\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000, help="genomes per space and budget")
    ap.add_argument("--space", help="measure this space only and print its rows as JSON (used per space)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--against", type=Path, help="a checkout of another revision: compare its rates with this tree's")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds with --against (each row's best)")
    a = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    if a.space:
        print(json.dumps(measure(a.space, a.n)))
        return
    if a.against:
        text = against(a.against.resolve(), a.n, a.rounds)
        print(text)
        if a.out:
            a.out.write_text("# Budget-feasible sampling, before and after a change\n\n`python benchmarks/sampling.py "
                             "--against BEFORE --out benchmarks/sampling_change.md`\n\nSame measure as "
                             "[sampling.md](sampling.md), both trees run space by space in turn on the same "
                             "machine.\n\n" + text)
        return
    rows = []
    for name in search_spaces.names():  # each space in a fresh process, as a search runs one space
        for row in rows_of(ROOT, name, a.n):
            rows.append(row)
            print(" | ".join(row), flush=True)
    head = ("space", "input", "budget (MACs)", "genomes / s", "repaired", "MACs / budget p10", "p50", "p90")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]
    info = f"{platform.machine()}, one core, Python {platform.python_version()}, {a.n} genomes per row"
    text = "\n".join(lines) + f"\n\n{info}\n"
    print(text)
    if a.out:
        a.out.write_text("# Budget-feasible sampling\n\n"
                         "`python benchmarks/sampling.py --out benchmarks/sampling.md`\n\n"
                         "genomes / s: `space.sample(rng, budget)` end to end (draw, cost, repair, genome), after "
                         "200 warm-up samples, the fastest of five timed runs, each space in a process of its own "
                         "as a search runs. repaired: share of draws that were over the budget and were walked "
                         "down to it. MACs / budget: quantiles of the sampled genomes' analytic MACs over the "
                         "budget (1.00 = exactly at the budget).\n\n" + text)


if __name__ == "__main__":
    main()
