"""The verdict: the search's top candidates and the best seed within the budget, retrained and scored on data the
search never saw, with intervals.

A search ranks candidates by a noisy, low-fidelity score on a validation split that also decided which trials to
stop; the best of many noisy scores is biased upwards. The verdict retrains the top ``k`` candidates and the seed
at a higher fidelity (more epochs, all the training data, several seeds) and scores them on the test split.
Differences are paired over the same test images (each image's correctness averaged over the seeds), so the
interval reflects which images the two networks disagree on, not two independent binomial errors. A claim about
architectures must also survive training noise: one retraining's test accuracy moves from seed to seed (by about
0.5 points at the default protocol, ``benchmarks/fidelity.md``), so every interval adds the seed-to-seed variance,
pooled over the verdict's networks, divided by each side's seeds, with Student's t at the Welch-Satterthwaite
degrees of freedom.

The procedure is fixed before any test image is read (``benchmarks/verdict_calibration.md`` simulates it):

- the **winner** is the candidate the search itself ranks first (its best validation score within the budget),
  whatever the test split later says of the others;
- the winner is compared with the **baseline** (the space's hand-designed network scaled to the budget) first, at
  one-sided 2.5% ("better" when the 95% interval lies above zero); further candidates (``--verdict-top``) are
  compared in the search's order only while every earlier one was found better (a fixed-sequence test: the chance
  of any false "better" stays at 2.5%, and the winner's comparison pays nothing for the others);
- the fidelity audit, the search's scores against the verdict's, gives a Kendall tau with a bootstrap interval
  only from ``AUDIT_MIN`` retrained networks up.

>>> paired_difference([1, 1, 0, 1], [1, 0, 0, 1])[0]
0.25
>>> wording("trial 7", "mobilenet_v2 x0.98 (300M)", 0.014, 0.006, 0.022, "test")
'trial 7 vs mobilenet_v2 x0.98 (300M): +1.4 points [+0.6, +2.2] on the test split: trial 7 is better'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence, cast

import numpy as np

Scores = Sequence[float] | np.ndarray
"""Per-network or per-image scores: a list of floats or a numpy array."""

VERDICT_SEED = 1000
"""Verdict retraining ``k`` of a search with ``--seed S`` uses seed ``S + VERDICT_SEED + k`` (modulo 2^32, the seeds
numpy takes): an initialization and a
batch order no proxy run of the search used (with the same seed, a retraining of a top candidate would start from
the very weights whose lucky draw helped it to the top)."""

AUDIT_MIN = 5
"""Retrained networks with a search score that the fidelity audit needs before it reports a Kendall tau: over
three networks tau takes only four values, and its bootstrap interval spans nearly everything below five."""

AUDIT_TRIALS = -1_000_000
"""A supernet search's standalone training of its trial ``t`` is recorded as trial ``AUDIT_TRIALS - t``."""

VERDICT_TRIALS = -1_000_000_000
VERDICT_SEEDS_MAX = 1000
"""Verdict evaluations are recorded under trial ids at or below ``VERDICT_TRIALS``: seed ``s`` of the search's trial
``t`` as ``VERDICT_TRIALS - VERDICT_SEEDS_MAX * (t + 1) - s``, of the baseline as ``VERDICT_TRIALS - s``. An id names
the network and the seed whatever the entrants' order, so a run extended with more trials, whose winner may change,
never takes one network's retraining for another's."""


def verdict_trial(block: int, seed: int) -> int:
    """The store's id of verdict retraining ``seed`` of the network in ``block`` (0: the baseline, t + 1: trial t)."""
    return VERDICT_TRIALS - VERDICT_SEEDS_MAX * block - seed


def verdict_run(trial: int) -> tuple[int, int]:
    """The block and the seed of the verdict retraining recorded as ``trial``."""
    return divmod(VERDICT_TRIALS - trial, VERDICT_SEEDS_MAX)


def run_name(trial: int) -> str:
    """What a store id means, in words: ``trial 12``, ``verdict: trial 12, seed 2``, ``verdict: baseline, seed 0``
    or ``audit: trial 12`` (``trials.csv``'s ``name`` column)."""
    if trial >= 0:
        return f"trial {trial}"
    if trial <= VERDICT_TRIALS:
        block, seed = verdict_run(trial)
        return f"verdict: {'baseline' if block == 0 else f'trial {block - 1}'}, seed {seed}"
    if trial <= AUDIT_TRIALS:
        return f"audit: trial {AUDIT_TRIALS - trial}"
    return f"record {trial}"


@dataclass
class Entrant:
    """One network the verdict retrains: a top candidate of the search or the seed."""

    index: int
    label: str  # "trial 12" or "baseline mobilenet_v2 x0.98 (300M)"
    genome: Any
    macs: int
    search_trial: int | None = None  # the search's evaluation of this very genome, if any
    search_accuracy: float | None = None
    is_seed: bool = False  # the baseline: the space's hand-designed network scaled to the budget
    top: bool = True  # one of the search's top candidates (False: the baseline, added beside them)
    results: dict[int, dict[str, Any]] = field(default_factory=dict)  # seed -> evaluation metrics

    @property
    def block(self) -> int:
        """Where its retrainings are recorded (``verdict_trial``): 0 for the baseline, else its search trial + 1."""
        if self.is_seed or self.search_trial is None:
            return 0
        return self.search_trial + 1

    def trial(self, seed: int) -> int:
        """The store's trial id of this entrant's run with ``seed``."""
        return verdict_trial(self.block, seed)

    @property
    def accuracies(self) -> list[float]:
        return [r["accuracy"] for r in self.results.values() if r.get("accuracy") is not None]

    @property
    def accuracy(self) -> float | None:
        """Mean test accuracy over the seeds that finished."""
        a = self.accuracies
        return float(np.mean(a)) if a else None

    def hits(self) -> np.ndarray | None:
        """Each test image's correctness averaged over the seeds (None unless every seed recorded it)."""
        from estimators.train import decode_correct

        rows = [decode_correct(r["correct"], r["n_eval"]) for r in self.results.values()
                if r.get("correct") and r.get("n_eval")]
        return np.mean(rows, axis=0) if rows and len(rows) == len(self.results) else None

    def stderr(self, seed_var: float = 0.0) -> float | None:
        """Standard error of the mean test accuracy as an estimate of the network's: the test images' sampling
        error of the averaged hits, plus ``seed_var`` (one retraining's seed-to-seed variance) over the seeds."""
        h = self.hits()
        if h is None or len(h) < 2:
            return None
        return float(math.sqrt(np.var(h, ddof=1) / len(h) + seed_var / max(1, len(self.accuracies))))


def seed_noise(entrants: Sequence[Entrant]) -> tuple[float, int]:
    """The variance of one retraining's test accuracy from seed to seed, pooled over the entrants with two seeds or
    more, and its degrees of freedom (each entrant with ``k`` seeds gives ``k - 1``; 0: nothing to pool)."""
    ss, df = 0.0, 0
    for e in entrants:
        a = e.accuracies
        if len(a) >= 2:
            ss += float(np.var(a, ddof=1)) * (len(a) - 1)
            df += len(a) - 1
    return (ss / df if df else 0.0), df


def paired_difference(a: Scores, b: Scores, z: float = 1.959964, *, seed_var: float = 0.0,
                      seeds: tuple[int, int] = (1, 1), seed_df: int = 0) -> tuple[float, float, float]:
    """Mean of ``a - b`` over the same images and its 95% interval.

    Without ``seed_var`` the interval is the paired mean's normal approximation: test-image sampling only. With it
    (one retraining's seed-to-seed variance, estimated with ``seed_df`` degrees of freedom, and each side's number
    of ``seeds``), each side's mean of seeds also varies by ``seed_var / seeds``, and the quantile is Student's t
    at the Welch-Satterthwaite degrees of freedom of the sum (the image term's are taken as unlimited)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    mean = float(d.mean())
    if len(d) < 2:
        return mean, -math.inf, math.inf
    v_img = float(d.var(ddof=1)) / len(d)
    v_seed = seed_var * (1 / seeds[0] + 1 / seeds[1]) if seed_df > 0 else 0.0
    se = math.sqrt(v_img + v_seed)
    q = z
    if v_seed > 0:
        from scipy.stats import t

        q = float(t.ppf(0.975, se ** 4 / (v_seed ** 2 / seed_df)))
    return mean, mean - q * se, mean + q * se


def wording(a: str, b: str, diff: float, lo: float, hi: float, split: str, note: str = "") -> str:
    """``a vs b: +1.4 points [+0.6, +2.2] on the test split``, then ``(note)`` if given; when the interval holds
    zero, says they cannot be told apart. Points are percentage points of accuracy."""
    line = (f"{a} vs {b}: {100 * diff:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}] on the {split} split"
            + (f" ({note})" if note else ""))
    if lo <= 0 <= hi:
        return line + ": the two cannot be told apart"
    return line + (f": {a} is better" if diff > 0 else f": {b} is better")


def kendall_tau(x: Scores, y: Scores) -> float | None:
    """Kendall's tau-b of two score lists (None for fewer than 3 pairs of scores or no variation)."""
    if len(x) < 3:
        return None
    from scipy.stats import kendalltau

    tau = kendalltau(x, y).statistic
    return None if tau is None or not math.isfinite(tau) else float(tau)


def tau_interval(x: Scores, y: Scores, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """A bootstrap 95% interval of Kendall's tau over the networks (resampled with replacement)."""
    rng = np.random.default_rng(seed)
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    taus = []
    for _ in range(n):
        i = rng.integers(len(xa), size=len(xa))
        t = kendall_tau(xa[i], ya[i])
        if t is not None:
            taus.append(t)
    return (float(np.percentile(taus, 2.5)), float(np.percentile(taus, 97.5))) if taus else (-1.0, 1.0)


def winner_of(entrants: Sequence[Entrant]) -> Entrant | None:
    """The verdict's winner, fixed before the test split is read: the candidate the search ranks first (entrants
    are made in the search's order), the first with a finished retraining should an earlier one have failed."""
    return next((e for e in entrants if e.top and e.accuracy is not None), None)


def fidelity(entrants: Sequence[Entrant]) -> dict[str, Any]:
    """What the verdict retrained, read off its runs: width, input, map floor, epochs and training images."""
    runs = [r for e in entrants for r in e.results.values()]
    if not runs:
        return {}
    r = runs[0]
    return {"width": r.get("width"), "input": r.get("input"), "floor": r.get("floor"), "epochs": r.get("epochs"),
            "train_images": r.get("train_images"), "n_test": r.get("n_eval"), "device": r.get("device"),
            "evaluator": r.get("evaluator")}


def fidelity_text(f: dict[str, Any]) -> str:
    """``width x0.35, 1x28x28 input (strides dropped below 4x4), 3 epochs on 15,000 training images``."""
    if not f:
        return "no retraining finished"
    if f.get("evaluator"):
        return (f"width x{f.get('width') or 1:g} by {f['evaluator']} (your evaluator's own training), "
                f"{f.get('epochs')} epoch(s)")
    shape = "x".join(map(str, f.get("input") or ())) or "?"
    floor = f.get("floor") or 1
    strides = f" (strides dropped where a map would fall below {floor}x{floor})" if floor > 1 else ""
    images = f"{f['train_images']:,}" if f.get("train_images") else "all"
    return (f"width x{f.get('width') or 1:g}, {shape} input{strides}, {f.get('epochs')} epoch(s) on {images} "
            "training images")


def report(entrants: list[Entrant], split: str) -> tuple[Entrant | None, list[str], dict[str, Any]]:
    """The winner, the summary lines and the verdict as data (for ``verdict.json``), by the fixed procedure of
    the module's docstring."""
    done = [e for e in entrants if e.accuracy is not None]
    winner = winner_of(entrants)
    seed_var, seed_df = seed_noise(done)
    fid = fidelity(entrants)
    lines = [_entrant_line(e, seed_var) for e in sorted(done, key=lambda e: -(e.accuracy or 0))]
    data: dict[str, Any] = {"split": split, "fidelity": fid, "entrants": [_entrant_data(e, seed_var) for e in entrants],
                            "seed_sd": math.sqrt(seed_var), "seed_df": seed_df,
                            "procedure": "winner: the search's first; fixed-sequence one-sided 2.5% tests "
                                         "against the baseline"}
    if seed_df:
        lines.append(f"training noise: one retraining's test accuracy moves by {100 * math.sqrt(seed_var):.2f} "
                     f"points (standard deviation, seed to seed, pooled over {seed_df} degree(s) of freedom); the "
                     "+- and the interval include it")
    else:
        lines.append("training noise: one seed per network cannot measure it; the +- and the interval cover the "
                     "test images only (--verdict-seeds 2 or more)")
    lines += _compare(entrants, winner, seed_var, seed_df, fid, split, data)
    lines.append(_audit(done, data))
    return winner, lines, data


def _entrant_line(e: Entrant, seed_var: float) -> str:
    """``  trial 12   107.7M MACs (trained as 2.60M MACs, 176k params): test 0.8548 +- 0.0050 (8 seeds), ...``"""
    se = e.stderr(seed_var)
    r = next(iter(e.results.values()), {})
    trained = ""
    if r.get("proxy_macs") is not None:
        from ...cost import human

        trained = f" (trained as {human(r['proxy_macs'])} MACs, {human(r.get('proxy_params') or 0)} params)"
    search = f", search score {e.search_accuracy:.4f}" if e.search_accuracy is not None else ""
    return (f"  {e.label:<34} {e.macs / 1e6:7.1f}M MACs{trained}: test {e.accuracy:.4f}"
            + (f" +- {se:.4f}" if se is not None else "") + f" ({len(e.accuracies)} seeds){search}")


def _entrant_data(e: Entrant, seed_var: float) -> dict[str, Any]:
    """One entrant as ``verdict.json`` holds it."""
    r = next(iter(e.results.values()), {})
    return {"label": e.label, "macs": e.macs, "search_trial": e.search_trial, "search_accuracy": e.search_accuracy,
            "seed": e.is_seed, "accuracy": e.accuracy, "stderr": e.stderr(seed_var), "accuracies": e.accuracies,
            "trained_macs": r.get("proxy_macs"), "trained_params": r.get("proxy_params")}


def _compare(entrants: list[Entrant], winner: Entrant | None, seed_var: float, seed_df: int, fid: dict[str, Any],
             split: str, data: dict[str, Any]) -> list[str]:
    """The candidates against the baseline in the search's order, each tested only while every earlier one was
    better (fixed sequence); fills ``data["comparisons"]`` and, for the winner, ``data["versus_seed"]``."""
    lines: list[str] = []
    seed = next((e for e in entrants if e.is_seed and e.accuracy is not None), None)
    data["comparisons"] = []
    if seed is None:
        return lines
    if winner is seed:
        lines.append(f"winner ({winner.label}): the search's best is the baseline itself; nothing to compare")
    note = f"both retrained at width x{fid.get('width') or 1:g} on {'x'.join(map(str, fid.get('input') or ()))}"
    open_ = True
    for e in [e for e in entrants if e.top and not e.is_seed and e.accuracy is not None]:
        a, b = e.hits(), seed.hits()
        name = f"winner ({e.label})" if e is winner else e.label
        if a is None or b is None or len(a) != len(b):
            why = ("the evaluator did not report which test images each retraining got right ('correct')"
                   if a is None or b is None else "the two were scored on different numbers of test images")
            lines.append(f"{name} vs {seed.label}: no paired test, so no claim: {why}; test accuracy "
                         f"{e.accuracy:.4f} against {seed.accuracy:.4f}")
            data["comparisons"].append({"label": e.label, "tested": False, "reason": why})
            open_ = False
            continue
        diff, lo, hi = paired_difference(a, b, seed_var=seed_var, seed_df=seed_df,
                                         seeds=(len(e.accuracies), len(seed.accuracies)))
        if open_:
            lines.append(wording(name, seed.label, diff, lo, hi, split, note))
        else:
            lines.append(f"{name} vs {seed.label}: {100 * diff:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}] on "
                         f"the {split} split ({note}): no claim (an earlier candidate in the search's order was not "
                         "better)")
        data["comparisons"].append({"label": e.label, "diff": diff, "low": lo, "high": hi, "tested": open_,
                                    "better": open_ and lo > 0, "worse": open_ and hi < 0})
        if e is winner:
            data["versus_seed"] = {"diff": diff, "low": lo, "high": hi, "told_apart": not lo <= 0 <= hi,
                                   "better": lo > 0}
        open_ = open_ and lo > 0
    return lines


def _audit(done: list[Entrant], data: dict[str, Any]) -> str:
    """The fidelity audit: the search's scores against the verdict's, as a tau with its interval from
    ``AUDIT_MIN`` networks up."""
    scored = [e for e in done if e.search_accuracy is not None]
    x = cast(list[float], [e.search_accuracy for e in scored])  # scored: those with a search score
    y = cast(list[float], [e.accuracy for e in scored])
    tau = kendall_tau(x, y) if len(scored) >= AUDIT_MIN else None
    data["kendall_tau"], data["kendall_tau_interval"] = tau, None
    if tau is None:
        return (f"fidelity audit: {len(scored)} retrained network(s) with a search score, too few for a Kendall tau "
                f"(it needs {AUDIT_MIN}; --verdict-top {AUDIT_MIN} retrains that many)")
    lo, hi = tau_interval(x, y)
    data["kendall_tau_interval"] = [lo, hi]
    return (f"fidelity audit: Kendall tau {tau:+.2f} [{lo:+.2f}, {hi:+.2f}] between the search's scores and the "
            f"verdict over the {len(scored)} retrained networks (1: the search ranked them as the verdict does)")


@dataclass
class Verdict:
    """What the verdict found: the winner (None when the verdict names none), the report's lines, what
    verdict.json holds, and every entrant with the runs recorded for it."""

    winner: Entrant | None
    lines: list[str]
    data: dict[str, Any]
    entrants: list[Entrant]

    @property
    def partial(self) -> bool:
        """Whether some retraining is missing (a run cut short): a partial verdict claims nothing."""
        return bool(self.data.get("partial"))
