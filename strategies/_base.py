"""The ask/tell contract every strategy keeps: candidates within the budget, seeded, resumable, torch-free.

A strategy proposes configs of a search space (seen only through its dimensions and its sample, mutate, repair
and contains methods) and learns from the metrics it is told. Several candidates may be in flight at once and
results may come back in any order; ``None`` for a failed evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, ClassVar, Iterable, Mapping

import numpy as np

from nas import Genome, NasError
from search_spaces import Budget, Config, Space

DEDUP_TRIES = 50  # proposals drawn before a strategy accepts a config it has already proposed
STATE_FORMAT = 2  # 2: plain JSON data only, history optional


def check(value: Any, schema: Any, where: str) -> Any:
    """``value`` if it has the shape ``schema`` describes, else NasError naming ``where``.

    A schema is a type (``int``: an int, not a bool), a tuple of alternatives (``None`` for None), a dict of
    required keys (``{str: s}``: any string keys, each value ``s``; a key ending in ``?`` is optional; no other
    keys), or a one-element list (a list of such values). Stored state comes from a database anyone with access
    can write, so it is checked before it is used.
    """
    if _valid(value, schema):  # the quick walk; the one below runs only to say what is wrong
        return value
    if schema is None:
        ok = value is None
    elif schema is JSON:
        ok = _is_plain_json(value, 32)
    elif isinstance(schema, tuple):
        for alt in schema:
            try:
                return check(value, alt, where)
            except NasError:
                pass
        ok = False
    elif isinstance(schema, list):
        if not isinstance(value, list):
            raise NasError(f"{where}: expected a list, got {type(value).__name__}")
        for i, v in enumerate(value):
            check(v, schema[0], f"{where}[{i}]")
        return value
    elif isinstance(schema, dict):
        if not isinstance(value, dict):
            raise NasError(f"{where}: expected a mapping, got {type(value).__name__}")
        if str in schema:
            for k, v in value.items():
                if not isinstance(k, str):
                    raise NasError(f"{where}: key {k!r} is not a string")
                check(v, schema[str], f"{where}[{k!r}]")
            return value
        fields = {k.rstrip("?"): s for k, s in schema.items()}
        for k in value:
            if k not in fields:
                raise NasError(f"{where}: unexpected field {str(k)[:40]!r}")
        for k, s in schema.items():
            if k.endswith("?"):
                if k[:-1] in value:
                    check(value[k[:-1]], s, f"{where}.{k[:-1]}")
            elif k not in value:
                raise NasError(f"{where}: field {k!r} is missing")
            else:
                check(value[k], s, f"{where}.{k}")
        return value
    elif schema is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif schema is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, schema)
    if not ok:
        raise NasError(f"{where}: expected {_kind(schema)}, got {type(value).__name__}")
    return value


def _valid(value: Any, schema: Any) -> bool:
    """Whether ``value`` has the shape ``schema`` describes (see ``check``), without building any message."""
    if schema is None:
        return value is None
    if schema is int:
        return type(value) is int
    if schema is float:
        return type(value) in (int, float)
    if schema is JSON:
        return _is_plain_json(value, 32)
    if isinstance(schema, tuple):
        return any(_valid(value, alt) for alt in schema)
    if isinstance(schema, list):
        return isinstance(value, list) and all(_valid(v, schema[0]) for v in value)
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return False
        if str in schema:
            return all(isinstance(k, str) and _valid(v, schema[str]) for k, v in value.items())
        fields = {k.rstrip("?"): s for k, s in schema.items()}
        return all(k in fields and _valid(v, fields[k]) for k, v in value.items()) and \
            all(k in value for k in schema if not k.endswith("?"))
    return isinstance(value, schema)


class JSON:
    """Schema for any JSON data (nested lists and string-keyed mappings of plain values)."""


def _is_plain_json(value: Any, depth: int) -> bool:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return True
    if depth <= 0:
        return False
    if isinstance(value, list):
        return all(_is_plain_json(v, depth - 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain_json(v, depth - 1) for k, v in value.items())
    return False


def _kind(schema: Any) -> str:
    if isinstance(schema, tuple):
        return " or ".join(_kind(s) for s in schema)
    if isinstance(schema, list):
        return "a list"
    if isinstance(schema, dict):
        return "a mapping"
    return "null" if schema is None else "JSON data" if schema is JSON else getattr(schema, "__name__", str(schema))


_VALUE = (str, int, float, bool, None)  # what a config's dimensions take
_CANDIDATE = {"id": int, "config": dict, "macs": int, "params": int, "origin": str, "parent": (int, None)}
_STATE = {"format": int, "strategy": str, "space": str, "seed": int, "metric": str, "mode": str,
          "budget": [(int, float, None)], "rng": dict, "next_id": int, "notes": [str], "pending": [dict], "own": dict,
          "history?": [list]}


def config_key(config: Mapping[str, Any]) -> frozenset[tuple[str, Any]]:
    """A hashable, order-free key of a config."""
    return frozenset(config.items())


@dataclass(frozen=True)
class Candidate:
    """A proposed network: its id, config and genome, its cost, and where it came from."""

    id: int
    config: Config
    _genome: Genome | Callable[[], Genome] = field(repr=False, compare=False)  # a genome, or what makes it
    macs: int
    params: int
    origin: str  # "seed:<name>", "random", "mutation", "optuna", ...
    parent: int | None = None

    @property
    def genome(self) -> Genome:
        """The network (decoded on first use for a candidate restored from a store: most never need it)."""
        if not isinstance(self._genome, Genome):
            object.__setattr__(self, "_genome", self._genome())
        return self._genome  # type: ignore[return-value]

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

    def tell(self, candidate: Candidate, metrics: Mapping[str, Any] | None, flush: bool = True) -> None:
        """Report a candidate's metrics (``None``: its evaluation failed); any order, each candidate once.

        ``flush=False`` holds back writes to storage outside this object (an Optuna study) until ``flush()``: a
        driver records the result first, so that a crash between the two leaves nothing the record lacks.
        """
        if candidate.id not in self._pending:
            raise NasError(f"candidate {candidate.id} was not asked for, or was already told")
        del self._pending[candidate.id]
        result = dict(metrics) if metrics is not None else None
        self.history.append((candidate, result))
        self._observe(candidate, self.score(result), result)
        if flush:
            self.flush()

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
        done = sorted(((c, m) for c, m in self.history if self.score(m) is not None),
                      key=lambda t: (t[0].macs, t[0].id))
        front, best = [], float("-inf")
        for c, m in done:
            s = self.score(m)
            if s is not None and s > best:
                front.append((c, m))
                best = s
        return front

    # ------------------------------------------------------------ state

    def state_dict(self, history: bool = True) -> dict[str, Any]:
        """Everything needed to continue exactly where this strategy is, RNG state included, as JSON-ready data.

        ``history=False`` leaves out what grows with the search (the told candidates, and for an in-memory Optuna
        study its trials): a driver that records every evaluation itself stores this bounded part after each one
        and hands the recorded history back to ``load_state_dict``.
        """
        state = {
            "format": STATE_FORMAT, "strategy": self.name, "space": self.space.name, "seed": self.seed,
            "metric": self.metric, "mode": self.mode,
            "budget": [self.budget.macs, self.budget.params, self.budget.activations, self.budget.latency_ms],
            "rng": self.rng.bit_generator.state, "next_id": self._next_id, "notes": list(self.notes),
            "pending": [c.to_dict() for c in self._requeue + list(self._pending.values())],
            "own": self._state(history),
        }
        if history:
            state["history"] = [[c.to_dict(), m] for c, m in self.history]
        return state

    def load_state_dict(self, state: Any, history: Iterable[tuple[Mapping[str, Any], Any]] | None = None) -> None:
        """Continue from ``state_dict()``; candidates that were in flight are asked again first, with their ids.

        ``history``: the told candidates as ``(candidate.to_dict(), metrics)`` pairs, for a state taken with
        ``history=False``. Anything that is not the expected plain data is refused with one line (NasError).
        """
        if isinstance(state, dict) and state.get("format") != STATE_FORMAT:
            raise NasError(f"state: format {str(state.get('format'))[:20]!r}, not {STATE_FORMAT}: written by another "
                           "version of nas, which this one does not read")
        check(state, _STATE, "state")
        if state["strategy"] != self.name or state["space"] != self.space.name:
            raise NasError(f"state is for strategy {state['strategy']!r} on space {state['space']!r}, "
                           f"not {self.name!r} on {self.space.name!r}")
        if "history" in state:
            history = state["history"]
        elif history is None:
            raise NasError("state: it holds no history, and none was given")
        told = []
        for i, pair in enumerate(history):
            where = f"history[{i}]"
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise NasError(f"{where}: expected a [candidate, metrics] pair")
            c, m = pair
            check(m, (dict, None), f"{where}.metrics")
            if m is not None and m.get(self.metric) is not None:
                check(m[self.metric], float, f"{where}.metrics.{self.metric}")
            told.append((self._restore(c, where), None if m is None else dict(m)))
        try:
            self.rng.bit_generator.state = state["rng"]
        except (TypeError, ValueError, KeyError) as e:
            raise NasError(f"state.rng: not a random generator state ({e})") from None
        self._next_id = state["next_id"]
        self.notes = list(state["notes"])
        self.history = told
        self._pending = {}
        self._requeue = [self._restore(c, f"state.pending[{i}]") for i, c in enumerate(state["pending"])]
        self._seen = {config_key(c.config) for c, _ in self.history} | {config_key(c.config) for c in self._requeue}
        self._load(state["own"])

    def take_back(self, ids: Iterable[int]) -> dict[int, Candidate]:
        """After ``load_state_dict``: the in-flight candidates with these ``ids`` taken back as asked, not to be
        asked again (their evaluations go on elsewhere, and ``tell`` takes them as usual); returns them by id."""
        wanted = set(ids)
        back = {c.id: c for c in self._requeue if c.id in wanted}
        self._requeue = [c for c in self._requeue if c.id not in back]
        self._pending.update(back)
        return back

    def flush(self) -> None:
        """Apply what ``tell(..., flush=False)`` held back (a driver calls this once it has recorded the result)."""

    # ------------------------------------------------------------ for subclasses

    def _propose(self) -> tuple[Config, str, int | None]:
        """A budget-feasible config, where it came from, and its parent's id."""
        raise NotImplementedError

    def _observe(self, candidate: Candidate, score: float | None, metrics: Mapping[str, Any] | None = None) -> None:
        """Learn from a result (``score`` is None for a failure); ``metrics`` as told (``stopped``: True when an
        early-stopping rule ended it, at a lower fidelity than the others; ``epochs``: how many it ran)."""

    def _state(self, history: bool = True) -> dict[str, Any]:
        """This strategy's own part of the state (plain data; bounded when ``history`` is False)."""
        return {}

    def _load(self, state: Any) -> None:
        """Restore ``_state()``'s output (validate it: it comes from a database)."""
        check(state, {}, "state.own")

    def _candidate(self, config: Config, origin: str, parent: int | None = None) -> Candidate:
        genome = self.space.decode(config)
        cost = self.space.cost(config)
        macs, params = cost[0], cost[1]
        if not self.budget.fits(cost):  # a strategy bug, never an input mistake
            raise AssertionError(f"{self.name} proposed {macs:,} MACs over the budget {self.budget}")
        self._seen.add(config_key(config))
        cand = Candidate(self._next_id, dict(config), genome, macs, params, origin, parent)
        self._next_id += 1
        return cand

    def _restore(self, d: Any, where: str) -> Candidate:
        """A candidate from ``Candidate.to_dict()`` output, checked (its config a point of this space); its genome is
        made when first used (a store may hold 10,000 told candidates, and a resume needs none of them)."""
        if not (type(d) is dict and d.keys() == _CANDIDATE.keys() and type(d["id"]) is int
                and type(d["macs"]) is int and type(d["params"]) is int and type(d["origin"]) is str
                and (d["parent"] is None or type(d["parent"]) is int)):
            check(d, _CANDIDATE, where)  # says what is wrong
        config = self._config(d["config"], f"{where}.config")
        return Candidate(d["id"], config, partial(self.space.decode, config), d["macs"], d["params"], d["origin"],
                         d["parent"])

    def _config(self, config: Any, where: str) -> Config:
        """A stored config, checked: every active dimension of this space set to one of its choices (what else it
        holds is dropped)."""
        if not isinstance(config, dict):
            raise NasError(f"{where}: expected a mapping, got {type(config).__name__}")
        try:
            return self.space.check(config)
        except (NasError, TypeError) as e:  # TypeError: an unhashable value where a choice was expected
            raise NasError(f"{where}: {e}") from None

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
