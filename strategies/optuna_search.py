"""Optuna behind the ask/tell interface: TPE for one objective, NSGA-II for accuracy against MACs.

The space's dimensions are suggested define-by-run, so a depth gates the per-block dimensions after it. The MAC
budget reaches the sampler as a constraint (``trial.set_constraint``): a suggestion over the budget is told as
infeasible and another is drawn; after a bounded number of those, the last one is repaired and enqueued, so no
candidate ever exceeds the budget. The seeds that fit are enqueued first. Pass ``storage="sqlite:///run.db"`` to
keep the study where ``optuna-dashboard`` can open it.

Resuming needs nothing but plain data: the sampler is made afresh before every ask, seeded from the strategy's
seed and the number of trials in the study, so its state is a function of the study itself. Each trial that became
a candidate carries the candidate's id (user attribute ``nas_candidate``); on loading a state, trials still running
are matched to what the driver recorded: a recorded result not yet told is told, an evaluation in flight keeps its
trial, and a proposal cut short is marked failed. So a study and its results store tell one story after any kill.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, Trial, TrialState

from nas import NasError
from search_spaces import Config

from . import register
from ._base import _VALUE, DEDUP_TRIES, JSON, Candidate, Strategy, check, config_key


def _quietly(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``method`` with Optuna's INFO lines ("A new study created", "Trial 3 finished") off, and Optuna's log
    level as it was after: importing or using this strategy never changes the user's logging."""
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        level = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(max(level, optuna.logging.WARNING))
        try:
            return method(*args, **kwargs)
        finally:
            optuna.logging.set_verbosity(level)
    return wrapper

CANDIDATE_ATTR = "nas_candidate"  # the user attribute naming the candidate a trial became
_TRIAL = {"state": str, "params": {str: _VALUE}, "values": ([float], None), "intermediate": [[float]],
          "user_attrs": {str: JSON}, "system_attrs": {str: JSON}}


@register
class OptunaSearch(Strategy):
    """An Optuna study (TPE by default) over the space's dimensions, with the budget as a constraint."""

    name = "optuna"
    warm_start = True
    objectives = 1

    def __init__(self, space, budget=None, seed: int = 0, metric: str = "accuracy", mode: str = "max",  # noqa: ANN001
                 storage: str | None = None, study_name: str | None = None) -> None:
        super().__init__(space, budget, seed, metric, mode)
        self.storage = storage
        self.study_name = study_name or f"nas-{self.name}-{space.name}-seed{seed}"
        self.study = self._study(self.storage)
        self._asked = len(self.study.get_trials(deepcopy=False))  # the sampler's seed follows the study's size
        self._trials: dict[int, Trial] = {}  # candidate id -> its open trial
        self._untold: list[tuple[Candidate, float | None, Mapping[str, Any] | None]] = []  # held back by tell()
        self._seeded: dict[Any, str] = {}  # enqueued seeds, to report where their trials came from
        seeds = self._seed_configs()
        if self._asked == 0:  # a study that has trials already holds its seeds
            for config, origin in seeds:
                self.study.enqueue_trial(config)
        self._seeded = {config_key(config): origin for config, origin in seeds}

    def _sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)

    @_quietly
    def _study(self, storage: Any) -> optuna.Study:
        directions = ["maximize"] if self.objectives == 1 else ["maximize", "minimize"]
        return optuna.create_study(storage=storage, sampler=self._sampler(self.seed), study_name=self.study_name,
                                   directions=directions, load_if_exists=True)

    def _ask(self) -> Trial:
        """A new trial, from a sampler seeded by the strategy's seed and the number of trials asked before."""
        self.study.sampler = self._sampler(int(np.random.SeedSequence([self.seed, self._asked]).generate_state(1)[0]))
        self._asked += 1
        return self.study.ask()

    def _suggest(self, trial: Trial) -> Config:
        config: Config = {}
        for d in self.space.dimensions:
            if d.active(config):
                config[d.name] = trial.suggest_categorical(d.name, list(d.choices))
        return config

    def _constrain(self, trial: Trial, config: Config) -> bool:
        cost = self.space.cost(config)
        b = self.budget
        trial.set_constraint("macs", cost[0] - b.macs)
        if b.params is not None:
            trial.set_constraint("params", cost[1] - b.params)
        if b.activations is not None:
            trial.set_constraint("activations", cost[2] - b.activations)
        if b.latency_ms is not None and len(cost) > 3:
            trial.set_constraint("latency_ms", cost[3] - b.latency_ms)
        return b.fits(cost)

    def _worst(self) -> list[float]:
        scores = [self.score(m) for _, m in self.history]
        low = min([s for s in scores if s is not None], default=0.0) - 1.0
        return [low] if self.objectives == 1 else [low, float(2**62)]

    def _propose(self) -> tuple[Config, str, int | None]:
        config: Config = {}
        for _ in range(DEDUP_TRIES):
            trial = self._ask()
            config = self._suggest(trial)
            fits = self._constrain(trial, config)
            if fits and config_key(config) not in self._seen:
                self._open = trial
                return config, self._seeded.pop(config_key(config), "optuna"), None
            if fits:  # a repeat: no new information, let the sampler move on
                self.study.tell(trial, state=TrialState.PRUNED)
            else:  # over the budget: infeasible, ranked below every feasible trial
                self.study.tell(trial, self._worst())
        self._open = self._enqueued(self.space.repair(config, self.rng, self.budget))
        return self._suggest(self._open), "optuna:repaired", None

    def _enqueued(self, config: Config) -> Trial:
        self.study.enqueue_trial(config)
        trial = self._ask()
        self._constrain(trial, config)
        return trial

    @_quietly
    def ask(self) -> Candidate:
        requeued = self._requeue[0] if self._requeue else None
        cand = super().ask()
        if requeued is not None and requeued.id in self._trials:  # its trial from before the restart runs on
            return cand
        trial = self._enqueued(cand.config) if requeued is not None else self._open
        trial.set_user_attr(CANDIDATE_ATTR, cand.id)
        trial.set_user_attr("nas_origin", cand.origin)
        self._trials[cand.id] = trial
        return cand

    def _observe(self, candidate: Candidate, score: float | None, metrics: Mapping[str, Any] | None = None) -> None:
        self._untold.append((candidate, score, metrics))

    @_quietly
    def flush(self) -> None:
        while self._untold:
            candidate, score, metrics = self._untold.pop(0)
            self._finish(self._trials.pop(candidate.id), candidate, score, metrics)

    def _finish(self, trial: Trial, candidate: Candidate, score: float | None,
                metrics: Mapping[str, Any] | None) -> None:
        if score is None:
            self.study.tell(trial, state=TrialState.FAIL)
        elif metrics and metrics.get("stopped"):
            # Stopped early: Optuna's own word for it is a pruned trial. TPE ranks pruned trials below complete
            # ones, by the last step they reached and their value there; NSGA-II leaves them out (a multi-
            # objective trial has no intermediate values).
            if self.objectives == 1:
                trial.report(score, step=int(metrics.get("epochs") or 0))
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, [score] if self.objectives == 1 else [score, candidate.macs])

    # ------------------------------------------------------------ state

    def _state(self, history: bool = True) -> dict[str, Any]:
        state: dict[str, Any] = {"seeded": [[list(map(list, k)), o] for k, o in self._seeded.items()]}
        if self.storage is None and history:  # an in-memory study travels along, as plain data
            state["study"] = [_trial_data(t) for t in self.study.get_trials(deepcopy=False)]
        return state

    @_quietly
    def _load(self, state: Any) -> None:
        check(state, {"seeded": [list], "study?": [dict]}, "state.own")
        seeded = {}
        for k, item in enumerate(state["seeded"]):
            if len(item) != 2 or not all(isinstance(kv, list) and len(kv) == 2 for kv in item[0]):
                raise NasError(f"state.own.seeded[{k}]: expected [[[dimension, value], ...], origin]")
            config = self._config({d: v for d, v in item[0]}, f"state.own.seeded[{k}]")
            seeded[config_key(config)] = check(item[1], str, f"state.own.seeded[{k}][1]")
        if self.storage is None:
            if "study" not in state:
                raise NasError("state.own: an in-memory study needs its trials (a state taken with history)")
            self.study = optuna.create_study(sampler=self._sampler(self.seed), study_name=self.study_name,
                                             directions=self.study.directions)
            for k, t in enumerate(state["study"]):
                self.study.add_trial(self._trial(t, f"state.own.study[{k}]"))
            self._asked = len(state["study"])
        self._seeded = seeded
        self._trials, self._untold = {}, []
        self._reconcile()

    def _reconcile(self) -> None:
        """Match the study's running trials to the recorded history (see the module docstring)."""
        told = {c.id: (c, m) for c, m in self.history}
        waiting = {c.id for c in self._requeue}
        adopted = []
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            cid = t.user_attrs.get(CANDIDATE_ATTR)
            trial = Trial(self.study, t._trial_id)
            if cid in told:  # recorded before the driver stopped, never told to the study
                c, m = told[cid]
                self._finish(trial, c, self.score(m), m)
            elif cid in waiting:  # in flight: evaluated again, under the same trial
                self._trials[cid] = trial
            elif isinstance(cid, int) and not isinstance(cid, bool) and cid >= self._next_id:
                # asked after the last recorded result: the same candidate goes out again, under its trial
                try:
                    config = self._config(dict(t.params), f"trial {t.number}")
                except NasError:
                    self.study.tell(trial, state=TrialState.FAIL)
                    continue
                macs, params = self.space.cost(config)[:2]
                origin = str(t.user_attrs.get("nas_origin", "optuna"))
                adopted.append(Candidate(cid, config, self.space.decode(config), macs, params, origin))
                self._trials[cid] = trial
            else:  # a proposal cut short before it became a candidate
                self.study.tell(trial, state=TrialState.FAIL)
        for c in sorted(adopted, key=lambda c: c.id):
            self._requeue.append(c)
            self._seen.add(config_key(c.config))
            self._next_id = max(self._next_id, c.id + 1)

    def _trial(self, data: Any, where: str) -> FrozenTrial:
        """An in-memory study's trial from ``_trial_data`` output, checked against this space."""
        check(data, _TRIAL, where)
        try:
            state = TrialState[data["state"]]
        except KeyError:
            raise NasError(f"{where}.state: unknown trial state {data['state'][:20]!r}") from None
        dims = {d.name: d for d in self.space.dimensions}
        for name, value in data["params"].items():
            if name not in dims or value not in dims[name].choices:
                raise NasError(f"{where}.params: {name[:40]!r} = {str(value)[:20]!r} is not in this space")
        intermediate = {}
        for k, pair in enumerate(data["intermediate"]):
            if len(pair) != 2:
                raise NasError(f"{where}.intermediate[{k}]: expected [step, value]")
            intermediate[int(pair[0])] = float(pair[1])
        try:
            return optuna.trial.create_trial(
                state=state, values=data["values"], params=data["params"],
                distributions={n: CategoricalDistribution(list(dims[n].choices)) for n in data["params"]},
                user_attrs=data["user_attrs"], system_attrs=data["system_attrs"], intermediate_values=intermediate)
        except ValueError as e:
            raise NasError(f"{where}: {e}") from None


def _trial_data(t: FrozenTrial) -> dict[str, Any]:
    """A trial as plain data (its distributions are the space's own, so they are not kept)."""
    return {"state": t.state.name, "params": dict(t.params), "values": t.values,
            "intermediate": [[k, v] for k, v in sorted(t.intermediate_values.items())],
            "user_attrs": dict(t.user_attrs), "system_attrs": dict(t.system_attrs)}

@register
class NSGA2Search(OptunaSearch):
    """NSGA-II (Deb et al. 2002) on two objectives, the metric and MACs; ``pareto()`` gives the front."""

    name = "nsga2"
    objectives = 2

    def __init__(self, space, budget=None, seed: int = 0, metric: str = "accuracy", mode: str = "max",  # noqa: ANN001
                 storage: str | None = None, study_name: str | None = None, population: int = 20) -> None:
        self.population = population
        super().__init__(space, budget, seed, metric, mode, storage, study_name)

    def _sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=self.population)
