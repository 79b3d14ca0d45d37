"""The unit of work the driver hands to a Ray task: one training of one genome, as a typed record.

A job is either a candidate the strategy asked for (its result is told to the strategy and stored with the
strategy's state) or a verdict retraining of an entrant with one seed (stored only). The record says which, and
carries what the driver needs when the result comes back: the store's trial id, the genome, where it came from,
and which attempt this is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

from ..genome import Genome
from . import scoring
from .settings import Settings
from .verdict import AUDIT_TRIALS, VERDICT_SEED, Entrant

if TYPE_CHECKING:
    from strategies import Candidate


def base_spec(s: Settings, floor: int) -> dict[str, Any]:
    """What every task of a search with settings ``s`` is given (``evaluate`` reads it): the proxy's fidelity;
    ``floor`` is the space's smallest feature map."""
    spec = {"dataset": s.dataset, "epochs": s.epochs, "seed": s.seed, "data_dir": s.data_dir, "width": s.width,
            "train_images": s.train_images, "batch_size": s.batch_size, "floor": floor}
    entry = scoring.get(s.estimator)
    if entry.spec is not None:
        spec.update(entry.spec(s))
    if ":" in s.dataset:  # the user's data set: workers import its module from where the driver did
        from .evaluator import search_path

        spec.update(dataset_path=search_path(s.dataset))
    if s.evaluator:
        from .evaluator import search_path

        spec.update(evaluator=s.evaluator, evaluator_path=search_path(s.evaluator), gpus=s.gpus_per_trial)
    return spec


class Kind(str, Enum):
    """What a job is for; a ``str`` so that it reads as its name in logs."""

    CANDIDATE = "candidate"  # the strategy's proposal: told to the strategy, counted towards --trials
    VERDICT = "verdict"  # a retraining of an entrant with one seed: stored, never told
    AUDIT = "audit"  # a supernet search's candidate trained standalone at the proxy: stored, never told


@dataclass(frozen=True)
class Job:
    """One training of one genome on a Ray task: what it is, which trial it records as, which attempt it is."""

    kind: Kind
    trial: int  # the store's trial id (verdict jobs: below VERDICT_TRIALS)
    genome: Genome
    label: str  # what the task is: its name after "trial N: " for a candidate, its whole name for a verdict job
    origin: str
    parent: int | None = None
    candidate: Candidate | None = None  # the strategy's Candidate (kind CANDIDATE)
    entrant: Entrant | None = None  # kind VERDICT
    seed: int = 0  # kind VERDICT: which of the entrant's seeds
    overrides: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # spec keys this job changes
    attempt: int = 1  # 1 the first time; a job whose worker died is run again as attempt 2, 3, ...

    @classmethod
    def for_candidate(cls, c: Candidate) -> Job:
        """The job that evaluates the strategy's candidate ``c``."""
        what = f"{c.origin} of trial {c.parent}" if c.parent is not None else c.origin
        return cls(Kind.CANDIDATE, c.id, c.genome, f"{what}, {c.macs / 1e6:.0f}M MACs", c.origin, c.parent,
                   candidate=c)

    @classmethod
    def for_verdict(cls, e: Entrant, seed: int, base_seed: int, epochs: int, width: float | None = None) -> Job:
        """The job that retrains entrant ``e`` with its ``seed``-th seed: every epoch in one cycle, on all the
        training images, scored on the test split, at ``width`` (None: the search's proxy width)."""
        overrides: dict[str, Any] = {"final": True, "epochs": epochs, "train_images": None,
                                     "seed": (base_seed + VERDICT_SEED + seed) % 2**32}  # a seed numpy takes
        if width is not None:
            overrides["width"] = width
        return cls(Kind.VERDICT, e.trial(seed), e.genome, f"verdict {e.label}, seed {seed}", f"verdict:{e.label}",
                   e.search_trial, entrant=e, seed=seed, overrides=MappingProxyType(overrides))

    @classmethod
    def for_audit(cls, trial: int, genome: Genome, macs: int) -> Job:
        """The job that trains a supernet search's candidate ``trial`` standalone, at the search's proxy fidelity
        (every epoch, no early stopping), to check the supernet's ranking and to re-score the top."""
        return cls(Kind.AUDIT, AUDIT_TRIALS - trial, genome, f"standalone trial {trial}, {macs / 1e6:.0f}M MACs",
                   f"audit:trial {trial}", trial, overrides=MappingProxyType({"standalone": True}))

    @property
    def name(self) -> str:
        """The Ray task's name, as the dashboard lists it: ``trial 12: mutation of trial 7, 48M MACs`` for a
        candidate, ``verdict trial 12, seed 1`` for a retraining (its store id is internal, so it is left out)."""
        return f"trial {self.trial}: {self.label}" if self.kind is Kind.CANDIDATE else self.label

    def again(self) -> Job:
        """The same job as its next attempt."""
        return dataclasses.replace(self, attempt=self.attempt + 1)

    def spec(self, base: Mapping[str, Any]) -> dict[str, Any]:
        """What the worker is given: the search's ``base`` spec with this job's trial, attempt and overrides.
        A verdict job runs every epoch in one cycle: no stopping rule, no restarts."""
        own = {**base, "trial": self.trial, "attempt": self.attempt, **self.overrides}
        if self.kind is not Kind.CANDIDATE:
            own.pop("stopper", None)
            own.pop("restarts", None)
        return own
