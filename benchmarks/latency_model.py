"""How well does ``--max-latency-ms``'s model predict a network's CPU latency? The evidence behind the flag.

Run: python benchmarks/latency_model.py [--space mobilenet] [--budget 300M] [--held-out 100] [--runs 3]

Fixed before anything is measured: ``--held-out`` networks are drawn from the space under the budget with their own
seed; ``--runs`` calibrations are made exactly as a search makes them (``nas.app.latency``: the networks a run with
seed 0, 1, ... draws, 60 fitted and 20 judged, and the convolutions of 200 more timed), each in a fresh process.
Every held-out network is then measured twice, in two fresh processes (one thread, batch 1, the least of 30
passes in three rounds over the list: ``nas.latency.measure_apart``, as a search measures); the first \
measurement is the truth each model is judged against, and the
second, judged the same way, is the noise floor. Judged as nn-Meter reports it: the share of held-out networks
predicted within 10% of measured, with a Wilson 95% interval.

A cheaper predictor is judged beside it: MACs alone (``a * MACs + b``, fitted to the same 60 networks).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nas  # noqa: E402
import search_spaces  # noqa: E402
from nas.app.latency import COVER, FIT, JUDGE, calibration_genomes  # noqa: E402
from nas.latency import calibrate, machine, measure_apart, within  # noqa: E402


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of k successes in n."""
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return mid - half, mid + half


def row(name: str, predicted: np.ndarray, truth: np.ndarray) -> str:
    k, n = int(round(within(predicted, truth) * len(truth))), len(truth)
    lo, hi = wilson(k, n)
    err = np.abs(predicted / truth - 1)
    return f"| {name} | {k}/{n} = {k / n:.0%} | {lo:.0%}-{hi:.0%} | {np.median(err):.1%} | {err.max():.1%} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="mobilenet")
    ap.add_argument("--budget", default="300M")
    ap.add_argument("--held-out", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "latency_model.md"))
    a = ap.parse_args()
    space = search_spaces.get(a.space)
    budget = space.check_budget(a.budget)
    started = time.time()
    rng = np.random.default_rng(2026)  # the held-out networks: no run's calibration draws from this generator
    held = [space.sample(rng, budget) for _ in range(a.held_out)]
    truth, _ = measure_apart(held, log=print)
    again, _ = measure_apart(held, log=print)
    truth, again = np.array(truth), np.array(again)
    macs = np.array([nas.cost(g).macs for g in held], dtype=float)
    lines = [
        f"# Predicting CPU latency for `--max-latency-ms` ({a.space} space, {a.budget} MACs)",
        "",
        f"`python benchmarks/latency_model.py --space {a.space} --budget {a.budget} --held-out {a.held_out} "
        f"--runs {a.runs}` on {machine()} ({platform.machine()}); {date.today()}. Latency: one thread, batch 1, "
        f"float32, the least of 30 passes in three rounds over the list, in a fresh process. Each model is "
        "calibrated as a search "
        f"calibrates it ({FIT} networks fitted, {JUDGE} judged, the convolutions of {COVER} more timed) and judged "
        f"on {a.held_out} other networks drawn before any measurement; see the script's docstring. Target: at "
        "least 90% within 10%.",
        "",
        "| predictor | held-out within 10% | 95% interval | median error | largest error |",
        "|---|---:|---:|---:|---:|",
        row("noise floor: the same networks measured again in another process", again, truth),
    ]
    runs = []
    for seed in range(a.runs):
        genomes = calibration_genomes(space, budget, seed)
        model = calibrate(genomes[:FIT + JUDGE], FIT, genomes[FIT + JUDGE:], print)
        estimated_before = len(model.estimated)
        predicted = np.array([model.predict(g) for g in held])
        unseen = len(model.estimated) - estimated_before
        fit_macs = np.array([nas.cost(g).macs for g in genomes[:FIT]], dtype=float)
        fit_ms = np.array(model.calibration_ms[:FIT])
        runs.append((seed, model, predicted, unseen, fit_macs, fit_ms))
        j = model.judged
        lines.append(row(f"the model, calibration of seed {seed} (its own judgement: "
                         f"{round(j['within_10pct'] * j['networks'])}/{j['networks']}; {unseen} held-out "
                         "convolutions not in its table)", predicted, truth))
    # MACs alone, fitted to the 60 networks the first calibration measured
    seed, model, _, _, fit_macs, fit_ms = runs[0]
    A = np.column_stack([fit_macs, np.ones(len(fit_macs))])
    w = np.linalg.lstsq(A / fit_ms[:, None], np.ones(len(fit_ms)), rcond=None)[0]
    lines.append(row("MACs alone (a * MACs + b)", np.column_stack([macs, np.ones(len(macs))]) @ w, truth))
    shares = [within(p, truth) for _, _, p, _, _, _ in runs]
    lines += ["", f"Held-out networks measured {truth.min():.1f}-{truth.max():.1f} ms; the calibrations' shares "
              f"within 10%: {', '.join(f'{s:.0%}' for s in shares)}. {(time.time() - started) / 60:.0f} minutes, "
              f"{os.cpu_count()} CPUs."]
    Path(a.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
