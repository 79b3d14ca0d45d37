"""The verdict's procedure, simulated: how often it calls a network "better" when it is not, and how often it
does when it is.

Run: python benchmarks/verdict_calibration.py [--sims 4000] [--calibrate RUN_DIR ...] [--out FILE]

Each simulated verdict goes through the project's own code (``nas.app.verdict.report``, hits packed as the
workers pack them): the winner fixed as the search's first candidate, the fixed-sequence comparison with the
baseline, the interval with the pooled seed-to-seed noise and Student's t. What is simulated is the test split's
correctness, image by image, of each retraining:

    P(image i right in run r of network X) = sigmoid(a_i + c_X + u_Xi + g_r)

``a_i`` the image's difficulty (shared by every network: the image-level correlation between networks), ``u_Xi``
the network's own view of the image (two architectures disagree on more images than two seeds of one),
``g_r`` a retraining's luck (seed-to-seed noise beyond the images' coin flips), ``c_X`` the network's skill, set
so that its expected accuracy is the baseline's plus the true difference. The parameters are fitted to four
measured figures: the accuracy, one retraining's seed-to-seed standard deviation, and the share of test images on
which two retrainings of one network, and of two networks, disagree. Without ``--calibrate`` these are this
project's defaults (0.855, 0.50 points from ``benchmarks/fidelity.md``'s 6 seeds of 26 networks, and 7% and 10%
disagreement); with it, they are measured on the verdict retrainings recorded in the given run directories.

Designs are (candidates retrained, seeds each); the baseline is always retrained with the same seeds. For each:
the false "better" rate under the null (every network as good as the baseline; target at most the nominal
one-sided 2.5%), and the power at true differences of +1, +1.5 and +2 points, each with a 95% Wilson interval.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from estimators.train import encode_correct  # noqa: E402
from nas.app.verdict import Entrant, report  # noqa: E402

N_TEST = 5000
DESIGNS = [(1, 4, "search"), (1, 6, "search"), (1, 8, "search"), (1, 10, "search"), (2, 4, "search"),
           (3, 2, "search"), (3, 4, "search"), (3, 2, "test")]
DIFFS = [0.0, 0.01, 0.015, 0.02]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class Model:
    """The per-image model above, fitted to (accuracy, seed sd, within and between disagreement)."""

    def __init__(self, acc: float, seed_sd: float, d_within: float, d_between: float, rng: np.random.Generator):
        self.rng = rng
        z = rng.standard_normal(N_TEST)
        self.z = z
        # difficulty spread: two retrainings disagree on E[2 p (1 - p)] of the images
        s_a = _bisect(lambda s: _within(z * s + _centre(z * s, acc)) - d_within, 0.3, 12.0, decreasing=True)
        self.a = z * s_a + _centre(z * s_a, acc)
        # network-image effects: two networks disagree more than two retrainings of one
        self.s_u = _bisect(lambda s: _between(self.a, s, acc) - d_between, 0.0, 6.0) if d_between > d_within else 0.0
        # a retraining's luck on the logit scale: its accuracy moves by seed_sd beyond the images' coin flips
        flips = math.sqrt(d_within / 2 / N_TEST)  # sd of a run's accuracy from the coin flips alone
        extra = math.sqrt(max(0.0, seed_sd ** 2 - flips ** 2))
        slope = float(np.mean(_dens(self.a)))  # d accuracy / d logit shift
        self.s_g = extra / slope if slope > 0 else 0.0

    def network(self, diff: float) -> np.ndarray:
        """Logits of a new network whose expected accuracy is the reference level plus ``diff``."""
        u = self.rng.standard_normal(N_TEST) * self.s_u
        base = self.a + u
        target = float(np.mean(sigmoid(self.a))) + diff
        c = _bisect(lambda c: float(np.mean(sigmoid(base + c))) - target, -5.0, 5.0)
        return base + c

    def run(self, logits: np.ndarray) -> np.ndarray:
        """One retraining's hits on the test images."""
        p = sigmoid(logits + self.rng.standard_normal() * self.s_g)
        return self.rng.random(N_TEST) < p


def _dens(x: np.ndarray) -> np.ndarray:
    p = sigmoid(x)
    return p * (1 - p)


def _centre(x: np.ndarray, acc: float) -> float:
    return _bisect(lambda c: float(np.mean(sigmoid(x + c))) - acc, -10.0, 10.0)


def _within(a: np.ndarray) -> float:
    """The share of images two retrainings disagree on, without retraining luck."""
    p = sigmoid(a)
    return float(np.mean(2 * p * (1 - p)))


def _between(a: np.ndarray, s_u: float, acc: float) -> float:
    rng = np.random.default_rng(7)
    pa = sigmoid(a + rng.standard_normal(len(a)) * s_u)
    pb = sigmoid(a + rng.standard_normal(len(a)) * s_u)
    pa = sigmoid(np.log(pa / (1 - pa)) + _centre(np.log(pa / (1 - pa)), acc))
    pb = sigmoid(np.log(pb / (1 - pb)) + _centre(np.log(pb / (1 - pb)), acc))
    return float(np.mean(pa * (1 - pb) + pb * (1 - pa)))


def _bisect(f, lo: float, hi: float, decreasing: bool = False, steps: int = 50) -> float:  # noqa: ANN001
    """A root of ``f`` between ``lo`` and ``hi`` (``f`` increasing, or decreasing)."""
    for _ in range(steps):
        mid = (lo + hi) / 2
        v = f(mid)
        if (v < 0) != decreasing:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def simulate(model: Model, top: int, seeds: int, diff: float, pick: str = "search") -> dict[str, Any]:
    """One verdict: the winner ``diff`` above the baseline, the other candidates level with it. ``pick="test"``
    runs the procedure this project used before: the candidate with the best mean test accuracy is made the winner
    and tested on the same test images, with no correction (it is moved to the front of the search's order)."""
    nets = [model.network(diff)] + [model.network(0.0) for _ in range(top - 1)] + [model.network(0.0)]
    entrants = []
    for i, logits in enumerate(nets):
        e = Entrant(i, f"trial {i}" if i < top else "baseline", None, 0, i if i < top else None,
                    1.0 - i / 100 if i < top else None, is_seed=i == top, top=i < top)
        for sd in range(seeds):
            hits = model.run(logits)
            e.results[sd] = {"accuracy": float(hits.mean()), "correct": encode_correct(hits), "n_eval": N_TEST}
        entrants.append(e)
    if pick == "test":
        order = sorted(entrants[:top], key=lambda e: -(e.accuracy or 0)) + entrants[top:]
        for i, e in enumerate(order):
            e.index, e.search_accuracy = i, (1.0 - i / 100 if e.top else None)
        entrants = order
    _, _, data = report(entrants, "test")
    return data


def wilson(k: int, n: int) -> tuple[float, float]:
    z = 1.959964
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def measured(dirs: list[str]) -> tuple[float, float, float, float, str]:
    """Accuracy, seed sd, within- and between-network disagreement of the verdict runs stored in ``dirs``."""
    from estimators.train import decode_correct
    from nas.app.store import Store
    from nas.app.verdict import VERDICT_TRIALS

    accs, within, between, ss, df = [], [], [], 0.0, 0
    for d in dirs:
        out = Path(d)
        evs = [e for e in Store(f"sqlite:///{out / 'results.db'}", run=out.resolve().name).evaluations()
               if e.trial <= VERDICT_TRIALS and e.status == "ok" and e.metrics.get("correct")]
        nets: dict[str, list[np.ndarray]] = {}
        for e in evs:
            nets.setdefault(e.origin, []).append(decode_correct(e.metrics["correct"], e.metrics["n_eval"]))
        runs = list(nets.values())
        for hs in runs:
            a = [h.mean() for h in hs]
            accs += a
            if len(a) > 1:
                ss += float(np.var(a, ddof=1)) * (len(a) - 1)
                df += len(a) - 1
            within += [float(np.mean(x != y)) for i, x in enumerate(hs) for y in hs[i + 1:]]
        for i, hs in enumerate(runs):
            for other in runs[i + 1:]:
                between += [float(np.mean(x != y)) for x in hs for y in other]
    if not df or not within or not between:
        raise SystemExit("the run directories hold too few verdict retrainings to measure the noise")
    where = (f"measured on {len(accs)} verdict retrainings of {len(dirs)} run(s): seed sd pooled over {df} "
             f"degrees of freedom, {len(within)} within-network and {len(between)} between-network pairs")
    return float(np.mean(accs)), math.sqrt(ss / df), float(np.mean(within)), float(np.mean(between)), where


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=4000, help="simulated verdicts per design and difference")
    ap.add_argument("--calibrate", nargs="*", default=[], metavar="RUN_DIR")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    if a.calibrate:
        acc, sd, dw, db, where = measured(a.calibrate)
    else:
        acc, sd, dw, db = 0.855, 0.0050, 0.07, 0.10
        where = "this project's defaults (the accuracy and seed sd of benchmarks/fidelity.md's reference)"
    rng = np.random.default_rng(0)
    model = Model(acc, sd, dw, db, rng)
    t0 = time.time()
    rows = []
    for top, seeds, pick in DESIGNS:
        tag = {(1, 8): " (the default)"}.get((top, seeds), "")
        if pick == "test":
            tag = ", the winner picked on the test split (the procedure before)"
        row = [f"{top} candidate(s) + baseline, {seeds} seeds each{tag}", str((top + 1) * seeds)]
        for diff in DIFFS:
            better = sum(bool(simulate(model, top, seeds, diff, pick).get("versus_seed", {}).get("better"))
                         for _ in range(a.sims))
            lo, hi = wilson(better, a.sims)
            row.append(f"{100 * better / a.sims:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]")
        rows.append(row)
        print(" | ".join(row), flush=True)
    text = "\n".join([
        "# The verdict's false and true \"better\" rates, simulated", "",
        f"`python benchmarks/verdict_calibration.py --sims {a.sims}"
        + (f" --calibrate {' '.join(a.calibrate)}" if a.calibrate else "") + "`", "",
        "Each row runs the verdict's own report (`nas.app.verdict.report`) on simulated test-split hits; see the "
        "script's docstring for the model. The winner is the search's first candidate; further candidates are "
        "compared only in a fixed sequence after it, so the winner's comparison is the one whose rate is shown. "
        "The last row runs the procedure before: the best of the candidates on the test split made the winner and "
        "tested on the same split.", "",
        f"Noise: test accuracy {acc:.3f}, one retraining's seed-to-seed standard deviation {100 * sd:.2f} points, "
        f"two retrainings of one network disagree on {100 * dw:.1f}% of the {N_TEST:,} test images, two networks on "
        f"{100 * db:.1f}%; {where}.", "",
        "| design | retrainings | false \"better\" (true difference 0; nominal 2.5%) | power at +1 point | "
        "power at +1.5 | power at +2 |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| {' | '.join(r)} |" for r in rows], "",
        f"{a.sims:,} simulated verdicts per cell, 95% Wilson intervals; {time.time() - t0:.0f} s.", ""])
    print(text)
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
