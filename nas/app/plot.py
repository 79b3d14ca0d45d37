"""The plot of a search: accuracy against MACs, the Pareto front, the budget and the verdict's test scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..cost import human
from .store import Evaluation


def plot(path: Path, done: list[Evaluation], front: list[Evaluation], budget: int, s: Any,
          entrants: list[Any] = ()) -> None:
    """Accuracy against MACs: every candidate, the Pareto front, the budget line and, apart, the verdict's test
    scores (mean over seeds, with 95% error bars)."""
    from matplotlib.figure import Figure  # no pyplot: a notebook's backend and open figures are left as they are

    fig = Figure(figsize=(7, 5), dpi=120)
    ax = fig.subplots()
    ok = [e for e in done if e.trial >= 0 and e.status == "ok"]
    stopped = [e for e in done if e.trial >= 0 and e.status == "stopped" and e.accuracy is not None]
    seeds: list[Evaluation] = []
    ax.scatter([e.macs / 1e6 for e in ok], [e.accuracy for e in ok], s=18, alpha=0.6, label="candidates")
    if front:
        ax.plot([e.macs / 1e6 for e in front], [e.accuracy for e in front], "-o", ms=4, color="C1",
                label="Pareto front")
    for e in seeds:
        ax.scatter([e.macs / 1e6], [e.accuracy], marker="*", s=160, color="C3", zorder=5)
        ax.annotate(e.origin.split(":", 1)[1], (e.macs / 1e6, e.accuracy), textcoords="offset points",
                    xytext=(6, 4), fontsize=8)
    if stopped:  # their accuracy is from fewer epochs: drawn apart, those far below pinned to the bottom edge
        full = [e.accuracy for e in ok + seeds] + [e.accuracy for e in entrants if e.accuracy is not None]
        if full:
            lo, hi = min(full), max(full)
            floor = lo - 0.25 * max(hi - lo, 0.01)
            ax.set_ylim(floor, hi + 0.08 * max(hi - lo, 0.01))
        else:
            floor = -1.0
        ys = [max(e.accuracy, floor) for e in stopped]
        ax.scatter([e.macs / 1e6 for e in stopped], ys, s=16, facecolors="none", edgecolors="0.55",
                   marker="o", label="stopped early (fewer epochs)")
    scored = [e for e in entrants if e.accuracy is not None]
    if scored:
        from .verdict import seed_noise

        seed_var = seed_noise(scored)[0]
        errs = [1.96 * (e.stderr(seed_var) or 0) for e in scored]
        ax.errorbar([e.macs / 1e6 for e in scored], [e.accuracy for e in scored], yerr=errs, fmt="D", ms=6,
                    color="C2", capsize=3, zorder=6, label=f"verdict: test split, mean of {s.verdict_seeds} seeds")
        for e in scored:
            ax.annotate(e.label, (e.macs / 1e6, e.accuracy), textcoords="offset points", xytext=(6, -10), fontsize=7,
                        color="C2")
    ax.axvline(budget / 1e6, color="k", ls="--", lw=1, label=f"budget {human(budget)} MACs")
    ax.set_xlabel("MACs (millions, at the deployment input)")
    from .scoring import get

    ax.set_ylabel(f"accuracy ({get(s.estimator).describe_axis(s)})")
    what = f"{len(ok)} completed, {len(stopped)} stopped early" if stopped else f"{len(ok)} candidates"
    ax.set_title(f"{s.space} space, {s.strategy}: {what}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
