"""The ask/tell contract every strategy keeps: candidates within the budget, seeded, resumable, torch-free.

A strategy proposes configs of a search space (seen only through its dimensions and its sample, mutate, repair
and contains methods) and learns from the metrics it is told. Several candidates may be in flight at once and
results may come back in any order; ``None`` for a failed evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np

from nas import Genome, NasError
from search_spaces import Budget, Config, Space

DEDUP_TRIES = 50  # proposals drawn before a strategy accepts a config it has already proposed


def config_key(config: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A hashable, order-free key of a config."""
    return tuple(sorted(config.items()))


@dataclass(frozen=True)
class Candidate:
    """A proposed network: its id, config and genome, its cost, and where it came from."""

    id: int
    config: Config
    genome: Genome = field(repr=False)
    macs: int
    params: int
    origin: str  # "seed:<name>", "random", "mutation", "optuna", ...
    parent: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the genome is re-made from the config by the space)."""
        return {"id": self.id, "config": dict(self.config), "macs": self.macs, "params": self.params,
                "origin": self.origin, "parent": self.parent}


class Strategy:
    """Base class: bookkeeping of candidates, results, RNG and state; subclasses choose what to propose."""

    name: ClassVar[str] = ""
    warm_start: ClassVar[bool] = False  # starts from the space's seeds that fit (repaired when they do not)

    def __init__(self, space: Space, budget: Budget | int | str | None = None, seed: int = 0,
                 metric: str = "accuracy", mode: str = "max") -> None:
        if mode not in ("max", "min"):
            raise NasError(f"mode must be 'max' or 'min', got '{mode}'")
        self.space = space
        self.budget = space.check_budget(budget)
        self.seed = seed
        self.metric = metric
        self.mode = mode
        self.rng = np.random.default_rng(seed)
        self.notes: list[str] = []  # things the report should say (a seed repaired to fit the budget, ...)
        self.history: list[tuple[Candidate, dict[str, Any] | None]] = []
        self._pending: dict[int, Candidate] = {}
        self._requeue: list[Candidate] = []
        self._seen: set[tuple[tuple[str, Any], ...]] = set()
        self._next_id = 0

    # ------------------------------------------------------------ the interface

    def ask(self) -> Candidate:
        """The next candidate to evaluate (never over the budget)."""
        if self._requeue:
            cand = self._requeue.pop(0)
        else:
            config, origin, parent = self._propose()
            cand = self._candidate(config, origin, parent)
        self._pending[cand.id] = cand
        return cand

    def tell(self, candidate: Candidate, metrics: Mapping[str, Any] | None) -> None:
        """Report a candidate's metrics (``None``: its evaluation failed); any order, each candidate once."""
        if candidate.id not in self._pending:
            raise NasError(f"candidate {candidate.id} was not asked for, or was already told")
        del self._pending[candidate.id]
        result = dict(metrics) if metrics is not None else None
        self.history.append((candidate, result))
        self._observe(candidate, self.score(result), result)

    def score(self, metrics: Mapping[str, Any] | None) -> float | None:
        """The metric to maximize (negated for ``mode='min'``); ``None`` when failed or missing."""
        if metrics is None or metrics.get(self.metric) is None:
            return None
        value = float(metrics[self.metric])
        if value != value:  # NaN
            return None
        return value if self.mode == "max" else -value

    def best(self) -> tuple[Candidate, dict[str, Any]] | None:
        """The best candidate told so far, with its metrics."""
        scored = [(self.score(m), c.id, c, m) for c, m in self.history if self.score(m) is not None]
        if not scored:
            return None
        _, _, c, m = max(scored, key=lambda t: (t[0], -t[1]))
        return c, m  # type: ignore[return-value]

    def pareto(self) -> list[tuple[Candidate, dict[str, Any]]]:
        """Candidates no other beats on both the metric and MACs, by increasing MACs."""
        done = sorted(((c, m) for c, m in self.history if self.score(m) is not None), key=lambda t: (t[0].macs, t[0].id))
        front, best = [], float("-inf")
        for c, m in done:
            s = self.score(m)
            if s is not None and s > best:
                front.append((c, m))
                best = s
        return front

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this strategy is, RNG state included (plain data)."""
        return {
            "strategy": self.name, "space": self.space.name, "seed": self.seed, "metric": self.metric,
            "mode": self.mode, "budget": [self.budget.macs, self.budget.params, self.budget.activations],
            "rng": self.rng.bit_generator.state, "next_id": self._next_id, "notes": list(self.notes),
            "history": [[c.to_dict(), m] for c, m in self.history],
            "pending": [c.to_dict() for c in self._requeue + list(self._pending.values())],
            "seen": [list(map(list, k)) for k in self._seen],
            "own": self._state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state_dict()``; candidates that were in flight are asked again first, with their ids."""
        if state.get("strategy") != self.name or state.get("space") != self.space.name:
            raise NasError(f"state is for strategy '{state.get('strategy')}' on space '{state.get('space')}', "
                           f"not '{self.name}' on '{self.space.name}'")
        self.rng.bit_generator.state = state["rng"]
        self._next_id = state["next_id"]
        self.notes = list(state["notes"])
        self.history = [(self._restore(c), m) for c, m in state["history"]]
        self._pending = {}
        self._requeue = [self._restore(c) for c in state["pending"]]
        self._seen = {tuple((k, v) for k, v in key) for key in state["seen"]}
        self._load(state["own"])

    # ------------------------------------------------------------ for subclasses

    def _propose(self) -> tuple[Config, str, int | None]:
        """A budget-feasible config, where it came from, and its parent's id."""
        raise NotImplementedError

    def _observe(self, candidate: Candidate, score: float | None, metrics: Mapping[str, Any] | None = None) -> None:
        """Learn from a result (``score`` is None for a failure); ``metrics`` as told (``stopped``: True when an
        early-stopping rule ended it, at a lower fidelity than the others; ``epochs``: how many it ran)."""

    def _state(self) -> dict[str, Any]:
        return {}

    def _load(self, state: Mapping[str, Any]) -> None:
        pass

    def _candidate(self, config: Config, origin: str, parent: int | None = None) -> Candidate:
        genome = self.space.decode(config)
        macs, params, _ = self.space.cost(config)
        if not self.budget.fits(self.space.cost(config)):  # a strategy bug, never an input mistake
            raise AssertionError(f"{self.name} proposed {macs:,} MACs over the budget {self.budget}")
        self._seen.add(config_key(config))
        cand = Candidate(self._next_id, dict(config), genome, macs, params, origin, parent)
        self._next_id += 1
        return cand

    def _restore(self, d: Mapping[str, Any]) -> Candidate:
        config = dict(d["config"])
        return Candidate(d["id"], config, self.space.decode(config), d["macs"], d["params"], d["origin"], d["parent"])

    def _unseen(self, draw) -> Config:  # noqa: ANN001 - a callable returning a config
        """A config from ``draw`` not proposed before, within a bounded number of draws."""
        config = draw()
        for _ in range(DEDUP_TRIES):
            if config_key(config) not in self._seen:
                return config
            config = draw()
        return config  # the space (or the budget) is nearly exhausted: a repeat is better than no proposal

    def _seed_configs(self) -> list[tuple[Config, str]]:
        """The space's seeds as configs within the budget (repaired, and noted, when they are over it)."""
        out = []
        import nas

        for name in self.space.seeds:
            config = self.space.encode(nas.seed(name))
            macs = self.space.cost(config)[0]
            if not self.budget.fits(self.space.cost(config)):
                config = self.space.repair(config, self.rng, self.budget)
                self.notes.append(f"seed {name} ({macs:,} MACs) is over the budget {self.budget}; "
                                  f"started from a repaired copy ({self.space.cost(config)[0]:,} MACs)")
                out.append((config, f"seed:{name}:repaired"))
            else:
                out.append((config, f"seed:{name}"))
        return out
