"""How a search scores a candidate: one registry of estimators, each saying what the driver, outputs, plot and
views need to know about it, so that none of them tests an estimator's name.

An entry is an ``Estimator``: whether it looks scores up (tabular: no Ray, no data set, no early stopping, no
verdict) or trains, whether early stopping applies, what its scores are (the words the summary, the plot and the
study view use), and its own checks of the settings. A new estimator is one ``register(Estimator(...))`` and the
worker-side code that computes its scores (``worker.evaluate`` dispatches on the spec).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import NasError


@dataclass(frozen=True)
class Estimator:
    """What the search needs to know about one way of scoring candidates."""

    name: str
    doc: str  # one line for --help and `unknown estimator` messages
    tabular: bool = False  # looked up in this process: no Ray, no data set, no early stopping, no verdict
    stops_early: bool = True  # the search's early-stopping rule applies (per-epoch training)
    score: str = "{epochs} epoch proxy"  # what a score is, after "accuracy 0.71 (...)"; {epochs} is filled in
    axis: str = "{dataset}; dots: validation, {epochs} epoch proxy"  # pareto.png's accuracy axis, in brackets
    dataset: str | None = None  # the data the scores come from, when not the search's --dataset
    epochs: int | None = None  # the training epochs behind a score, when not the search's --epochs
    no_verdict: str | None = None  # why a tabular estimator has no verdict (the summary's line)
    check: Callable[[Any], None] | None = None  # its own refusals of a Settings object (one line each)
    prepare: Callable[[Any, Any], None] | None = None  # fills in settings from what it scores with (settings, space)
    spec: Callable[[Any], dict[str, Any]] | None = None  # what its workers are given beside the proxy's spec
    funnel: bool = False  # its top candidates are re-scored by standalone training, the best of them the winner

    def describe_score(self, epochs: Any) -> str:
        return self.score.format(epochs=epochs)

    def describe_axis(self, s: Any) -> str:
        return self.axis.format(dataset=s.dataset, epochs=s.epochs)


REGISTRY: dict[str, Estimator] = {}


def register(e: Estimator) -> Estimator:
    """Add ``e`` under its name (a name registered twice is a bug)."""
    if not e.name or e.name in REGISTRY:
        raise ValueError(f"estimator name {e.name!r} is empty or registered twice")
    REGISTRY[e.name] = e
    return e


def get(name: str) -> Estimator:
    """The estimator ``name``; an unknown one is one line listing the valid ones."""
    if name not in REGISTRY:
        raise NasError(f"unknown estimator '{name}'; estimators: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def _nb201(s: Any) -> None:
    if s.space != "cell":
        raise NasError(f"--estimator nb201 looks cells up in NAS-Bench-201's table, so it scores only the cell "
                       f"space, not '{s.space}'")
    if s.input not in (None, [3, 32, 32]) or s.classes not in (None, 10):
        raise NasError("--estimator nb201 scores networks for 3x32x32 images and 10 classes (CIFAR-10), the table's "
                       "own; drop --input and --classes")


def _supernet(s: Any) -> None:
    if not s.supernet:
        raise NasError("--estimator supernet needs --supernet CHECKPOINT (a supernet.pt from `nas supernet train`)")


def _supernet_prepare(s: Any, space: Any) -> None:
    from .settings import supernet_settings

    supernet_settings(s, space)


def _supernet_spec(s: Any) -> dict[str, Any]:
    from pathlib import Path

    return {"supernet": str(Path(s.supernet).resolve()) if s.supernet else None}


register(Estimator("proxy", "proxy training on the --dataset, scored on its validation split"))
register(Estimator(
    "nb201", "NAS-Bench-201's 200-epoch CIFAR-10 test accuracy, looked up (the cell space only)", tabular=True,
    stops_early=False, score="NAS-Bench-201, 200 epochs", axis="NAS-Bench-201: CIFAR-10 test, 200 epochs",
    dataset="NAS-Bench-201 CIFAR-10", epochs=200, check=_nb201,
    no_verdict="the table holds one test accuracy per network, so no split is left that the search never read: "
               "best.yaml is the best cell by the table, a benchmark figure rather than a held-out one"))
register(Estimator(
    "supernet", "weights inherited from a trained supernet (--supernet), norm statistics recalibrated, scored on "
    "its validation split", stops_early=False, score="weights inherited from the supernet",
    axis="{dataset}; dots: validation, weights inherited from the supernet", epochs=0, check=_supernet,
    prepare=_supernet_prepare, spec=_supernet_spec, funnel=True))
