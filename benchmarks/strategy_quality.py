"""Search quality of each strategy on a fixed surrogate objective that needs no training.

(Named strategy_quality.py, not strategies.py, so that running it does not shadow the strategies package.)

Run: python benchmarks/strategy_quality.py [--seeds 10] [--evals 300] [--out benchmarks/strategy_quality.md]
     python benchmarks/strategy_quality.py --landscape nb201 [--out benchmarks/strategy_quality_nb201.md]

The surrogate scores a config by its distance to a fixed hidden optimum in the space's dimensions (each ordered
dimension scaled to [0, 1], each categorical one matched or not), plus a mild reward for MACs; under the budget
the hidden optimum is usually out of reach, so a strategy has to trade dimensions against each other as it would
for accuracy. It is a synthetic landscape for comparing strategies, not a model of accuracy. For every strategy,
space and seed the best value after 100 and 300 evaluations is recorded, and how many evaluations it took to reach
random search's mean 300-evaluation best. Target: evolution and optuna reach it in at most 100 evaluations.

With ``--landscape nb201`` the objective is real instead: the cell space, each config scored by NAS-Bench-201's
200-epoch CIFAR-10 test accuracy (``estimators.nb201``, the table shipped with the package), under a budget that
every cell fits, so that the strategies see the benchmark's whole landscape. The best is recorded after 25, 50,
100 and 300 evaluations. Target: the default strategy (evolution) reaches random search's mean 300-evaluation
best in at most 50 evaluations (moonshot 25). A second table sets evolution's population and tournament sizes
side by side on 30 further seeds, on this landscape and on the two surrogate ones.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import numpy as np

import search_spaces
import strategies
from search_spaces import Space


def surrogate(space: Space, seed: int = 1234):
    """A fixed objective over the space's configs: closeness to a hidden optimum, plus a little for MACs."""
    rng = np.random.default_rng(seed)
    target = {d.name: rng.random() if d.ordered else d.choices[int(rng.integers(len(d.choices)))]
              for d in space.dimensions}
    weight = {d.name: rng.uniform(0.5, 1.5) for d in space.dimensions}
    pos = {d.name: {v: i / max(1, len(d.choices) - 1) for i, v in enumerate(d.choices)} for d in space.dimensions}
    ordered = {d.name: d.ordered for d in space.dimensions}

    def f(config: dict, macs: int) -> float:
        loss = 0.0
        for k, v in config.items():
            miss = (pos[k][v] - target[k]) ** 2 if ordered[k] else float(v != target[k])
            loss += weight[k] * miss
        return -loss / len(config) + 0.02 * math.log(macs)

    return f


def run(name: str, space: Space, budget: int, seed: int, evals: int, f, **options) -> list[float]:  # noqa: ANN001
    """Best-so-far after each evaluation."""
    s = strategies.get(name)(space, budget=budget, seed=seed, **options)
    best, curve = -math.inf, []
    for _ in range(evals):
        c = s.ask()
        value = f(c.config, c.macs)
        s.tell(c, {"accuracy": value})
        best = max(best, value)
        curve.append(best)
    return curve


def nb201(seeds: int, evals: int) -> str:
    """The strategies on NAS-Bench-201's real landscape: best accuracy after 25, 50, 100 and ``evals``."""
    from estimators.nb201 import table

    truth = table()
    space, budget, f = nb201_landscape()  # every cell fits

    marks = [m for m in (25, 50, 100, 300) if m < evals] + [evals]
    curves: dict[str, list[list[float]]] = {}
    secs: dict[str, float] = {}
    for name in strategies.names():
        t = time.perf_counter()
        curves[name] = [run(name, space, budget, seed, evals, f) for seed in range(seeds)]
        secs[name] = (time.perf_counter() - t) / (seeds * evals)
        print(f"nb201 {name}: {secs[name] * 1e3:.1f} ms per ask+tell", flush=True)
    target = statistics.mean(c[-1] for c in curves["random"])
    rows = []
    for name, cs in curves.items():
        reach = [next((i + 1 for i, v in enumerate(c) if v >= target), None) for c in cs]
        reached = sorted(r for r in reach if r is not None)
        at = [f"{statistics.mean(c[m - 1] for c in cs):.2f} ± {statistics.stdev(c[m - 1] for c in cs):.2f}"
              for m in marks]
        rows.append((name, *at, f"{statistics.median(reached) if len(reached) > len(cs) / 2 else '>' + str(evals)}",
                     f"{len(reached)}/{len(cs)}", f"{secs[name] * 1e3:.1f}"))
    head = ("strategy", *[f"best @{m} (%, mean ± sd)" for m in marks], "evals to random's best (median)",
            "seeds reaching it", "ms per ask+tell")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]
    return (f"random's best: random search's mean best after {evals} evaluations, {target:.2f}%. {seeds} seeds; "
            f"the table's best cell scores {max(truth.values()):.2f}%.\n\n" + "\n".join(lines) + "\n")


def nb201_landscape():  # noqa: ANN201
    """The cell space, its whole MAC range, and NAS-Bench-201's accuracy as the objective."""
    from estimators.nb201 import EDGES, arch, table

    truth = table()
    space = search_spaces.get("cell")

    def f(config: dict, macs: int) -> float:
        return truth[arch({(a, b): config[f"e{a}{b}"] for a, b in EDGES})]

    return space, space.mac_range()[1], f


EVOLUTION = ((20, 5), (10, 5), (10, 7))
"""Evolution's (population, sample) settings compared on held-out seeds: the earlier default first."""


def evolution_settings(first_seed: int, seeds: int, evals: int) -> str:
    """Evolution's population and sample sizes side by side on the three landscapes, on seeds
    ``first_seed .. first_seed + seeds - 1`` (not those of the main tables, on which the choice was first looked
    at): the median evaluations to random search's mean best on the same seeds, and the mean best at 50."""
    landscapes = [("NAS-Bench-201", *nb201_landscape())]
    for name, budget in (("mobilenet", 300_000_000), ("resnet", 4_000_000_000)):
        space = search_spaces.get(name)
        landscapes.append((f"{name} {budget / 1e6:,.0f}M surrogate", space, budget, surrogate(space)))
    seed_range = range(first_seed, first_seed + seeds)
    head = ["landscape", *[f"P={p}, S={k}" for p, k in EVOLUTION]]
    rows = []
    for label, space, budget, f in landscapes:
        target = statistics.mean(run("random", space, budget, s, evals, f)[-1] for s in seed_range)
        cells = []
        for p, k in EVOLUTION:
            cs = [run("evolution", space, budget, s, evals, f, population=p, sample=k) for s in seed_range]
            reach = [next((i + 1 for i, v in enumerate(c) if v >= target), None) for c in cs]
            reached = [r for r in reach if r is not None]
            median = statistics.median(reached) if len(reached) > len(cs) / 2 else f">{evals}"
            cells.append(f"{median} ({len(reached)}/{len(cs)})")
        rows.append([label, *cells])
        print(f"evolution settings on {label}: done", flush=True)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]
    return (f"Evolution's population P and tournament sample S, seeds {first_seed}-{first_seed + seeds - 1}: median "
            f"evaluations to random search's mean {evals}-evaluation best on the same seeds (seeds reaching it).\n\n"
            + "\n".join(lines) + "\n")


def search_seconds(trials: int = 300) -> str:
    """A whole ``nas search --estimator nb201`` through the driver, store, views and outputs, timed from the
    command line in a temporary directory (its own home: nothing written outside it)."""
    import os
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "nas.app.cli", "search", "--space", "cell", "--estimator", "nb201", "--trials",
               str(trials), "--out", f"{tmp}/run"]
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HOME": tmp})
        secs = time.perf_counter() - t
        if p.returncode != 0:
            raise SystemExit(f"the search failed: {p.stdout[-2000:]}{p.stderr[-2000:]}")
        best = next(l for l in p.stdout.splitlines() if l.startswith("search's best:"))
    return (f"A whole search on this landscape from the command line, `nas search --space cell --estimator nb201 "
            f"--trials {trials}` (evolution, the default; start-up, store, optuna-dashboard study and "
            f"outputs included; a lookup has no learning curve): {secs:.1f} s on this machine. {best}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--evals", type=int, default=300)
    ap.add_argument("--spaces", default="mobilenet,resnet")
    ap.add_argument("--landscape", choices=("surrogate", "nb201"), default="surrogate")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    if a.landscape == "nb201":
        text = (nb201(a.seeds, a.evals) + "\n" + evolution_settings(a.seeds, 30, a.evals) + "\n"
                + search_seconds(a.evals))
        print(text)
        if a.out:
            a.out.write_text("# Strategy quality on NAS-Bench-201's CIFAR-10 landscape\n\n"
                             f"`python benchmarks/strategy_quality.py --landscape nb201 --seeds {a.seeds} --evals "
                             f"{a.evals} --out {a.out}`\n\n" + (__doc__ or "").split("With ``--landscape nb201`` ")[1]
                             .strip().replace("the objective", "The objective", 1) + "\n\n" + text)
        return
    budgets = {"mobilenet": 300_000_000, "resnet": 4_000_000_000}
    rows = []
    for space_name in a.spaces.split(","):
        space = search_spaces.get(space_name)
        budget = budgets.get(space_name) or sum(space.mac_range()) // 3
        f = surrogate(space)
        curves: dict[str, list[list[float]]] = {}
        secs: dict[str, float] = {}
        for name in strategies.names():
            t = time.perf_counter()
            curves[name] = [run(name, space, budget, seed, a.evals, f) for seed in range(a.seeds)]
            secs[name] = (time.perf_counter() - t) / (a.seeds * a.evals)
            print(f"{space_name} {name}: {secs[name] * 1e3:.1f} ms per ask+tell", flush=True)
        target = statistics.mean(c[-1] for c in curves["random"])
        for name, cs in curves.items():
            reach = [next((i + 1 for i, v in enumerate(c) if v >= target), None) for c in cs]
            reached = sorted(r for r in reach if r is not None)
            at100 = [c[min(99, len(c) - 1)] for c in cs]
            at300 = [c[-1] for c in cs]
            rows.append((space_name, f"{budget / 1e6:,.0f}M", name,
                         f"{statistics.mean(at100):.4f} ± {statistics.stdev(at100):.4f}",
                         f"{statistics.mean(at300):.4f} ± {statistics.stdev(at300):.4f}",
                         f"{statistics.median(reached) if len(reached) > len(cs) / 2 else '>' + str(a.evals)}",
                         f"{len(reached)}/{len(cs)}", f"{secs[name] * 1e3:.1f}"))
    head = ("space", "budget (MACs)", "strategy", f"best @100 (mean ± sd, {a.seeds} seeds)", f"best @{a.evals}",
            "evals to random's best (median)", "seeds reaching it", "ms per ask+tell")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        a.out.write_text("# Strategy quality on a surrogate objective\n\n"
                         f"`python benchmarks/strategy_quality.py --seeds {a.seeds} --evals {a.evals} "
                         f"--out {a.out}`\n\n"
                         + (__doc__ or "").split("\n\n", 1)[1].split("\n\nRun:")[0].strip() + "\n\n"
                         "\"random's best\" is random search's mean best after "
                         f"{a.evals} evaluations over the seeds.\n\n" + text)


if __name__ == "__main__":
    main()
