"""Early stopping between epochs: the median stopping rule and ASHA, each held in one Ray actor that every trial
asks at the epochs where the rule decides (``decision_epochs``), and replayed from the records when a search
resumes."""

from __future__ import annotations

import math
from typing import Any

from ..errors import NasError
from .store import Evaluation


class MedianStopper:
    """The median stopping rule (Golovin et al. 2017, Google Vizier): after each epoch a trial goes on only if
    its accuracy is at least the median of what earlier trials reached at the same epoch. Lives in one Ray actor
    that every trial asks."""

    def __init__(self, grace: int = 4) -> None:
        self.grace = grace  # trials that must have reported an epoch before any is stopped there
        self.seen: dict[int, dict[Any, float]] = {}

    def keep_going(self, trial: Any, epoch: int, accuracy: float) -> bool:
        """Record ``accuracy`` at ``epoch``; False when the trial is below the median of the others."""
        others = [a for t, a in self.seen.setdefault(epoch, {}).items() if t != trial]
        self.report(trial, epoch, accuracy)
        if len(others) < self.grace:
            return True
        others.sort()
        mid = len(others) // 2
        median = others[mid] if len(others) % 2 else (others[mid - 1] + others[mid]) / 2
        return accuracy >= median

    def report(self, trial: Any, epoch: int, accuracy: float) -> None:
        """Remember what ``trial`` reached at ``epoch``, without a decision (a resumed search replays its records)."""
        self.seen.setdefault(epoch, {})[trial] = accuracy


class AshaStopper:
    """Asynchronous successive halving (Li et al. 2020, "A System for Massively Parallel Hyperparameter Tuning"),
    in its stopping form: rungs at ``min_epochs * eta**k`` epochs below ``max_epochs``; a trial that reaches a rung
    goes on only if its accuracy is among the best ``ceil(n / eta)`` of the ``n`` trials recorded at that rung so
    far, itself included. Nobody waits for a promotion, so a trial is judged against the trials before it (the
    first at a rung always goes on). Lives in one Ray actor that every trial asks."""

    def __init__(self, max_epochs: int, eta: int = 3, min_epochs: int = 1) -> None:
        if eta < 2 or min_epochs < 1:
            raise NasError(f"ASHA needs eta >= 2 and min_epochs >= 1, got eta {eta}, min_epochs {min_epochs}")
        self.eta = eta
        self.rungs: list[int] = []
        r = min_epochs
        while r < max_epochs:
            self.rungs.append(r)
            r *= eta
        self.seen: dict[int, dict[Any, float]] = {r: {} for r in self.rungs}

    def keep_going(self, trial: Any, epoch: int, accuracy: float) -> bool:
        """Record ``accuracy`` if ``epoch`` is a rung; False when the trial is outside the top 1/eta there."""
        if epoch not in self.seen:
            return True
        self.report(trial, epoch, accuracy)
        ranked = sorted(self.seen[epoch].values(), reverse=True)
        return accuracy >= ranked[math.ceil(len(ranked) / self.eta) - 1]

    def report(self, trial: Any, epoch: int, accuracy: float) -> None:
        """Remember what ``trial`` reached at ``epoch`` if it is a rung, without a decision (for a replay)."""
        if epoch in self.seen:
            self.seen[epoch][trial] = accuracy


STOPPERS = ("asha", "median")


def make_stopper(settings: Any) -> MedianStopper | AshaStopper | None:
    """The early-stopping rule a search's settings ask for (None: every trial runs all its epochs)."""
    from .scoring import get

    estimator = get(getattr(settings, "estimator", "proxy"))
    if not settings.early_stop or settings.epochs < 2 or not estimator.stops_early:
        return None
    if settings.early_stop == "median":
        return MedianStopper()
    return AshaStopper(settings.epochs, eta=settings.eta)


def decision_epochs(stopper: MedianStopper | AshaStopper, epochs: int) -> list[int]:
    """The epochs, short of the last, at which ``stopper`` compares trials: the learning-rate cycle restarts
    there, so that each comparison is made where every trial's rate has just decayed to zero."""
    if isinstance(stopper, AshaStopper):
        return [r for r in stopper.rungs if r < epochs]
    return list(range(1, epochs))


def describe(stopper: MedianStopper | AshaStopper | None) -> str:
    """One line on what a stopping rule does."""
    if stopper is None:
        return "off, every trial runs all its epochs"
    if isinstance(stopper, MedianStopper):
        return (f"median stopping rule, after every epoch once {stopper.grace} trials have reached it (one "
                "learning-rate cycle per epoch)")
    return (f"ASHA, eta {stopper.eta}: the top 1/{stopper.eta} go on at epoch(s) "
            f"{', '.join(map(str, stopper.rungs))}, where the learning-rate cycle ends and restarts")


def replay(stopper: Any, done: list[Evaluation]) -> None:
    """Tell a fresh stopper what the recorded evaluations reached epoch by epoch (a resumed search judges new
    trials against everything before the crash, not only against what runs after it)."""
    for e in done:
        for h in (e.metrics or {}).get("history") or []:
            if h.get("accuracy") is not None:
                stopper.report(e.trial, h["epoch"], h["accuracy"])


class StoppingRule:
    """The Ray actor that holds a search's stopping rule in one place for every worker to ask (its class name is
    what the dashboard's actor list shows)."""

    def __init__(self, rule: Any) -> None:
        self.rule = rule

    def keep_going(self, trial: Any, epoch: int, accuracy: float) -> bool:
        return self.rule.keep_going(trial, epoch, accuracy)
