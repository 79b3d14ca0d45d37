"""Optuna behind the ask/tell interface: TPE for one objective, NSGA-II for accuracy against MACs.

The space's dimensions are suggested define-by-run, so a depth gates the per-block dimensions after it. The MAC
budget reaches the sampler as a constraint (``trial.set_constraint``): a suggestion over the budget is told as
infeasible and another is drawn; after a bounded number of those, the last one is repaired and enqueued, so no
candidate ever exceeds the budget. The seeds that fit are enqueued first. Pass ``storage="sqlite:///run.db"`` to
keep the study where ``optuna-dashboard`` can open it.
"""

from __future__ import annotations

import base64
import copyreg
import pickle
from typing import Any, Mapping

import optuna
from optuna.trial import Trial, TrialState

from search_spaces import Config

from . import register
from ._base import DEDUP_TRIES, Candidate, Strategy, config_key

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _pack(obj: Any) -> str:
    import io
    import threading

    # Optuna 5.1's NSGA-II sampler holds a lock: it is state-free, so a fresh one stands in for it.
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf)
    pickler.dispatch_table = {**copyreg.dispatch_table, type(threading.Lock()): lambda _: (threading.Lock, ()),
                              type(threading.RLock()): lambda _: (threading.RLock, ())}
    pickler.dump(obj)
    return base64.b64encode(buf.getvalue()).decode()


def _unpack(text: str) -> Any:
    return pickle.loads(base64.b64decode(text))  # noqa: S301 - our own state, written by _pack


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
        self.study = self._study(self._sampler())
        self._trials: dict[int, Trial] = {}  # candidate id -> its open trial
        self._seeded: dict[Any, str] = {}  # enqueued seeds, to report where their trials came from
        for config, origin in self._seed_configs():
            self.study.enqueue_trial(config)
            self._seeded[config_key(config)] = origin

    def _sampler(self) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(seed=self.seed, constant_liar=True)

    def _study(self, sampler: optuna.samplers.BaseSampler) -> optuna.Study:
        directions = ["maximize"] if self.objectives == 1 else ["maximize", "minimize"]
        return optuna.create_study(storage=self.storage, sampler=sampler, study_name=self.study_name,
                                   directions=directions, load_if_exists=True)

    def _suggest(self, trial: Trial) -> Config:
        config: Config = {}
        for d in self.space.dimensions:
            if d.active(config):
                config[d.name] = trial.suggest_categorical(d.name, list(d.choices))
        return config

    def _constrain(self, trial: Trial, config: Config) -> bool:
        macs, params, acts = self.space.cost(config)
        b = self.budget
        trial.set_constraint("macs", macs - b.macs)
        if b.params is not None:
            trial.set_constraint("params", params - b.params)
        if b.activations is not None:
            trial.set_constraint("activations", acts - b.activations)
        return b.fits((macs, params, acts))

    def _worst(self) -> list[float]:
        scores = [self.score(m) for _, m in self.history]
        low = min([s for s in scores if s is not None], default=0.0) - 1.0
        return [low] if self.objectives == 1 else [low, float(2**62)]

    def _propose(self) -> tuple[Config, str, int | None]:
        config: Config = {}
        for _ in range(DEDUP_TRIES):
            trial = self.study.ask()
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
        trial = self.study.ask()
        self._constrain(trial, config)
        return trial

    def ask(self) -> Candidate:
        requeued = bool(self._requeue)
        cand = super().ask()
        self._trials[cand.id] = self._enqueued(cand.config) if requeued else self._open
        return cand

    def _observe(self, candidate: Candidate, score: float | None, metrics: Mapping[str, Any] | None = None) -> None:
        trial = self._trials.pop(candidate.id)
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

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"sampler": _pack(self.study.sampler), "storage": self.storage,
                                 "seeded": [[list(map(list, k)), o] for k, o in self._seeded.items()],
                                 "study_name": self.study_name,
                                 "open_trials": [t.number for t in self._trials.values()]}
        if self.storage is None:  # an in-memory study (trials and the sampler's study attributes) travels along
            state["memory"] = _pack(self.study._storage)
        return state

    def _load(self, state: Mapping[str, Any]) -> None:
        self.storage, self.study_name = state["storage"], state["study_name"]
        storage = _unpack(state["memory"]) if self.storage is None else self.storage
        self.study = optuna.load_study(study_name=self.study_name, storage=storage, sampler=_unpack(state["sampler"]))
        for number in state["open_trials"]:  # trials in flight when the state was taken: their candidates are
            if self.study.trials[number].state == TrialState.RUNNING:  # asked again, under new trials
                self.study.tell(number, state=TrialState.FAIL)
        self._trials = {}
        self._seeded = {tuple((k, v) for k, v in key): o for key, o in state["seeded"]}


@register
class NSGA2Search(OptunaSearch):
    """NSGA-II (Deb et al. 2002) on two objectives, the metric and MACs; ``pareto()`` gives the front."""

    name = "nsga2"
    objectives = 2

    def __init__(self, space, budget=None, seed: int = 0, metric: str = "accuracy", mode: str = "max",  # noqa: ANN001
                 storage: str | None = None, study_name: str | None = None, population: int = 20) -> None:
        self.population = population
        super().__init__(space, budget, seed, metric, mode, storage, study_name)

    def _sampler(self) -> optuna.samplers.BaseSampler:
        return optuna.samplers.NSGAIISampler(seed=self.seed, population_size=self.population)
