"""A supernet search checked against standalone training: which candidates are trained on their own, the tau
between the two rankings, and the re-scored order the verdict's winner is taken from.

The supernet ranks every candidate in about a second; standalone proxy training (the ``proxy`` estimator's
protocol, every epoch, no early stopping) costs about twenty. So a supernet search trains two sets on their own
after the search: the ``audit`` candidates spread evenly over its ranking (top and bottom included), for a
Kendall tau between the two rankings with a bootstrap interval, and its top ``rescore`` candidates, of which the
best by standalone score becomes the verdict's winner (the funnel: the supernet ranks many, standalone training
re-scores the best few, the verdict judges the winner). Both are fixed by the supernet's ranking alone, before
any standalone result or test image is read.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from ..genome import loads
from .jobs import Job
from .store import Evaluation
from .verdict import AUDIT_TRIALS, kendall_tau, tau_interval

WARN_BELOW = 0.3
"""A tau below this says the supernet's ranking barely carries over to standalone training: the log warns."""


def ranked(done: list[Evaluation], budget: int) -> list[Evaluation]:
    """The search's completed candidates within ``budget`` MACs, best by its own score first, one per genome."""
    ok = [e for e in done if e.trial >= 0 and e.status == "ok" and e.macs <= budget and e.accuracy is not None]
    seen: set[str] = set()
    out = []
    for e in sorted(ok, key=lambda e: (-(e.accuracy or 0.0), e.macs, e.trial)):
        if e.genome not in seen:
            seen.add(e.genome)
            out.append(e)
    return out


def picks(done: list[Evaluation], budget: int, audit: int, rescore: int) -> list[Evaluation]:
    """The candidates to train standalone: the top ``rescore`` and ``audit`` spread evenly over the ranking."""
    order = ranked(done, budget)
    if not order:
        return []
    spread = {int(round(i)) for i in np.linspace(0, len(order) - 1, min(audit, len(order)))} if audit else set()
    chosen = sorted(spread | set(range(min(rescore, len(order)))))
    return [order[i] for i in chosen]


def standalone(done: list[Evaluation]) -> dict[int, Evaluation]:
    """The standalone results recorded so far, by the search trial they score."""
    return {AUDIT_TRIALS - e.trial: e for e in done
            if e.trial <= AUDIT_TRIALS and (e.origin or "").startswith("audit:") and e.status == "ok"}


def audit_jobs(done: list[Evaluation], budget: int, audit: int, rescore: int) -> list[Job]:
    """The standalone trainings still to run (a crashed run's finished ones are kept)."""
    have = standalone(done)
    return [Job.for_audit(e.trial, loads(e.genome), e.macs) for e in picks(done, budget, audit, rescore)
            if e.trial not in have]


def rescored(done: list[Evaluation], budget: int, rescore: int) -> list[Evaluation]:
    """The search's ranking with its top ``rescore`` reordered by their standalone scores (those without one,
    a failed training, keep their place after them): the verdict takes its winner from the first."""
    order = ranked(done, budget)
    have = standalone(done)
    top = order[:rescore]
    scored = sorted((e for e in top if e.trial in have),
                    key=lambda e: (-(have[e.trial].accuracy or 0.0), e.macs, e.trial))
    return scored + [e for e in top if e.trial not in have] + order[rescore:]


def report(done: list[Evaluation], budget: int, audit: int) -> tuple[list[str], dict[str, Any]]:
    """Lines on how the supernet's ranking carries over to standalone training, and the same as data."""
    have = standalone(done)
    order = [e for e in ranked(done, budget) if e.trial in have]
    data: dict[str, Any] = {"audited": [e.trial for e in order], "kendall_tau": None, "kendall_tau_interval": None,
                            "standalone_scores": {str(e.trial): have[e.trial].accuracy for e in order}}
    if len(order) < 3:
        return [f"supernet audit: {len(order)} candidate(s) trained standalone, too few for a Kendall tau"], data
    x = cast(list[float], [e.accuracy for e in order])  # ranked() and standalone() keep scored ones only
    y = cast(list[float], [have[e.trial].accuracy for e in order])
    tau = kendall_tau(x, y)
    lo, hi = tau_interval(x, y)
    data.update(kendall_tau=tau, kendall_tau_interval=[lo, hi], supernet=x, standalone=y)
    lines = [f"supernet audit: Kendall tau {tau:+.2f} [{lo:+.2f}, {hi:+.2f}] between the supernet's scores and "
             f"standalone proxy training over the {len(order)} candidates trained standalone (1: the same order)"]
    if tau is not None and tau < WARN_BELOW:
        lines.append(f"warning: the supernet's ranking carries over poorly (tau below {WARN_BELOW}): train it "
                     "longer, or search with --estimator proxy")
    return lines, data
