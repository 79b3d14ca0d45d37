"""The genome space in a Ray Tune job: a ``Searcher`` over any space and strategy, and a trainable.

For a Ray Tune user who wants Tune's schedulers, callbacks and experiment handling around a nas space::

    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from nas.app.tune import GenomeSearcher, trainable

    searcher = GenomeSearcher("mobilenet", strategy="evolution", budget="300M", seed=0)
    tuner = tune.Tuner(trainable("mobilenet", epochs=4),
                       tune_config=tune.TuneConfig(search_alg=searcher, scheduler=ASHAScheduler(max_t=4),
                                                   metric="accuracy", mode="max", num_samples=40))
    best = tuner.fit().get_best_result().config["genome"]     # YAML: nas.loads(...) gives the genome

The searcher maps the strategy's ask/tell/state onto Tune's suggest/on_trial_complete/save/restore: each suggestion
is a config ``{"genome": YAML, "macs": ..., "params": ..., "candidate": id}`` within the budget; a finished trial's
last reported metric is told to the strategy (a trial the scheduler stopped early is told what it reached, as in
``nas search``); a restored searcher continues the strategy exactly and ignores results for trials it never saw.
``trainable`` trains a genome with the proxy and calls ``tune.report`` after every epoch.

``nas search`` is the tool for a search with the project's store, verdict and views; this module is for fitting
the space into a Tune job that already exists.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from ray.tune.search import Searcher

from ..genome import dumps, loads


class GenomeSearcher(Searcher):
    """A Tune ``Searcher`` that proposes genomes of ``space`` with a nas strategy, within ``budget``."""

    def __init__(self, space: Any = "mobilenet", strategy: str = "evolution", budget: Any = "300M", seed: int = 0,
                 metric: str = "accuracy", mode: str = "max", **options: Any) -> None:
        import search_spaces
        import strategies

        super().__init__(metric=metric, mode=mode)
        self.space = search_spaces.get(space) if isinstance(space, str) else space
        self.strategy = strategies.get(strategy)(self.space, budget=budget, seed=seed, metric=metric, mode=mode,
                                                 **options)
        self._live: dict[str, Any] = {}  # Tune's trial id -> the candidate it evaluates

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Tune's metric and mode must be the strategy's own (a config space of Tune's is not used: the genome
        space is the search space)."""
        return (metric is None or metric == self.metric) and (mode is None or mode == self.mode)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        c = self.strategy.ask()
        self._live[trial_id] = c
        return {"genome": dumps(c.genome), "macs": c.macs, "params": c.params, "candidate": c.id,
                "origin": c.origin}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        c = self._live.pop(trial_id, None)
        if c is None:  # a trial this searcher never proposed (or proposed before a restore it did not see)
            return
        value = None if error or not result else result.get(self.metric)
        self.strategy.tell(c, None if value is None else {self.metric: float(value), "macs": c.macs,
                                                          "params": c.params})

    def get_state(self) -> dict[str, Any]:
        return {"strategy": self.strategy.state_dict(), "live": {t: c.id for t, c in self._live.items()}}

    def set_state(self, state: dict[str, Any]) -> None:
        self.strategy.load_state_dict(state["strategy"])
        ids = set(state["live"].values())
        resumed = self.strategy.take_back(ids)  # evaluations still running (Tune resumes them with their configs)
        self._live = {t: resumed[i] for t, i in state["live"].items() if i in resumed}

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "w") as f:
            json.dump(self.get_state(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path) as f:
            self.set_state(json.load(f))


def trainable(space: Any = "mobilenet", dataset: str = "fashion", epochs: int = 2, *, seed: int = 0,
              width: float | None = None, train_images: int | None = 5000, data_dir: str | None = None,
              metric: str = "accuracy") -> Callable[[dict[str, Any]], None]:
    """A Tune function trainable: trains the config's genome with the proxy (``estimators.proxy_train``) at the
    space's proxy width and map floor, and reports ``accuracy`` (the validation accuracy), ``loss`` and ``epoch``
    after every epoch with ``tune.report``. A failed training raises, so Tune marks the trial errored."""
    import search_spaces

    sp = search_spaces.get(space) if isinstance(space, str) else space
    w = width if width is not None else sp.proxy_width
    floor = sp.proxy_map

    def train(config: dict[str, Any]) -> None:
        from ray import tune

        import estimators

        def report(info: dict[str, Any]) -> bool:
            tune.report({metric: info["accuracy"], "loss": info.get("loss"), "epoch": info["epoch"],
                         "macs": config.get("macs")})
            return True

        r = estimators.proxy_train(loads(config["genome"]), data=dataset, epochs=epochs, seed=seed,
                                   data_dir=data_dir, width=w, train_images=train_images, floor=floor,
                                   callback=report)
        if r["status"] != "ok":
            raise RuntimeError(r.get("error") or "the proxy training failed")

    return train
