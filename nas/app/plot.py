"""The plot of a search: accuracy against MACs, the Pareto front, the budget and the verdict's test scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..cost import human
from .store import Evaluation


def plot(path: Path, done: list[Evaluation], front: list[Evaluation], budget: int, s: Any,
          entrants: Sequence[Any] = ()) -> Any:
    """Accuracy against MACs: every candidate, the Pareto front, the budget line and, apart, the verdict's test
    scores (mean over seeds, with 95% error bars). Returns the matplotlib Figure it saved."""
    from matplotlib.figure import Figure  # no pyplot: a notebook's backend and open figures are left as they are

    fig = Figure(figsize=(7, 5), dpi=120)
    ax = fig.subplots()
    ok = [e for e in done if e.trial >= 0 and e.status == "ok"]
    stopped = [e for e in done if e.trial >= 0 and e.status == "stopped" and e.accuracy is not None]
    ax.scatter([e.macs / 1e6 for e in ok], [e.accuracy or 0.0 for e in ok], s=18, alpha=0.6, label="candidates")
    if front:
        ax.plot([e.macs / 1e6 for e in front], [e.accuracy or 0.0 for e in front], "-o", ms=4, color="C1",
                label="Pareto front")
    if stopped:  # their accuracy is from fewer epochs: drawn apart, those far below pinned to the bottom edge
        full = [e.accuracy for e in ok] + [e.accuracy for e in entrants if e.accuracy is not None]
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
    ax.axvline(budget / 1e6, color="k", ls="--", lw=1, label=f"budget {human(budget)} MACs")
    ax.set_xlabel("MACs (millions, at the deployment input)")
    from .scoring import get

    ax.set_ylabel(f"accuracy ({get(s.estimator).describe_axis(s)})")
    what = f"{len(ok)} completed, {len(stopped)} stopped early" if stopped else f"{len(ok)} candidates"
    ax.set_title(f"{s.space} space, {s.strategy}: {what}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()
    if scored:
        _label(fig, ax, scored)
    fig.savefig(path)
    return fig


def _label(fig: Any, ax: Any, scored: list[Any]) -> None:
    """The verdict's labels, right of their points, moved down where they would cover one another (networks of
    similar MACs and accuracy), with a line back to the point they name."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    renderer = FigureCanvasAgg(fig).get_renderer()
    right = ax.get_window_extent(renderer).x1
    from matplotlib.transforms import Bbox

    points = ax.transData.transform([(e.macs / 1e6, e.accuracy) for e in scored])
    placed: list[Any] = [Bbox.from_extents(x - 9, y - 9, x + 9, y + 9) for x, y in points]  # the markers, then
    # the labels' text drawn so far
    for e in sorted(scored, key=lambda e: -e.accuracy):
        dy = -10.0
        while True:
            text = ax.annotate(e.label, (e.macs / 1e6, e.accuracy), textcoords="offset points", xytext=(6, dy),
                               fontsize=7, color="C2",
                               arrowprops={"arrowstyle": "-", "color": "C2", "lw": 0.5} if dy < -10 else None)
            text.update_positions(renderer)
            box = Text.get_window_extent(text, renderer)  # the text alone, not its line back to the point
            if box.x1 > right:  # past the plot's right edge: written to the left of the point
                text.set_horizontalalignment("right")
                text.xyann = (-6, dy)
                text.update_positions(renderer)
                box = Text.get_window_extent(text, renderer)
            if not any(box.overlaps(other) for other in placed) or dy < -200:
                placed.append(box)
                break
            text.remove()
            dy -= 9.0
