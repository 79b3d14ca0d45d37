"""Your own training: the evaluator protocol.

An evaluator is a function ``evaluate(genome, ctx) -> metrics`` that trains and scores one network; a search uses it
instead of proxy training with ``nas search --evaluator module:function`` (or ``Search.run(evaluator=...)`` with
``as_evaluator(fn)``). It runs in a Ray worker, once per candidate and once per verdict retraining:

- ``genome`` is the candidate (``nas.build(genome)`` makes its model);
- ``ctx`` (a ``Context``) says the ``seed``, whether this is a verdict retraining (``final``: train on all the
  training data and score on the held-out test split), the ``epochs`` at most, the data set (``ctx.data()`` loads it
  with its splits), the proxy's ``width`` and ``train_images``, and the ``device``;
- ``ctx.report(epoch, accuracy=..., **metrics)`` after each epoch records the learning curve and returns whether to
  go on: False when the search's early-stopping rule stops this trial (then return the metrics you have);
- the metrics are a dict with ``accuracy`` (a fraction in [0, 1]) and optionally ``loss`` and ``correct`` (one
  boolean per scored image, in a fixed order of images: the verdict's paired test needs it for every retraining,
  and says plainly when it is missing). Other numbers are stored with the result.

A function that raises, or returns no accuracy, makes the trial a failed one, recorded with its error; the search
goes on. ``examples/evaluator.py`` is a complete evaluator.
"""

from __future__ import annotations

import importlib
import inspect
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import NasError, quote_arg
from ..genome import Genome, loads

UserEvaluator = Callable[[Genome, "Context"], dict[str, Any]]


@dataclass
class Context:
    """What an evaluator is told about the run it is part of, and its line back to the stopping rule."""

    seed: int
    final: bool  # a verdict retraining: all the training data, scored on the test split
    epochs: int
    dataset: str
    data_dir: str | None
    width: float | None
    train_images: int | None
    trial: int
    device: str = "cpu"
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False
    _ask: Callable[[dict[str, Any]], bool] | None = None

    def data(self) -> Any:
        """The data set with its train, validation and test splits for this seed (``estimators.Dataset``)."""
        import estimators

        return estimators.load_data(self.dataset, self.data_dir, self.seed)

    def report(self, epoch: int, **metrics: Any) -> bool:
        """Record one epoch's metrics (``accuracy`` among them for early stopping); returns whether to go on."""
        info = {"epoch": int(epoch), **{k: v for k, v in metrics.items() if _number(v)}}
        self.history.append(info)
        if self._ask is not None and "accuracy" in info and not self.final:
            if not self._ask(info):
                self.stopped = True
                return False
        return True


def load(name: str) -> UserEvaluator:
    """The function ``module:function`` (one line naming it when it does not load or is not a function)."""
    module, sep, attr = name.partition(":")
    if not sep or not module or not attr:
        raise NasError(f"--evaluator {quote_arg(name)}: write it as module:function (a module on the Python path)")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as e:  # noqa: BLE001 - a user's module may fail in any way while it loads
        first = str(e).splitlines()[0] if str(e) else ""
        raise NasError(f"--evaluator {quote_arg(name)} does not load: {type(e).__name__}: {first}") from None
    if not callable(obj):
        raise NasError(f"--evaluator {quote_arg(name)} is not a function")
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return obj
    if len([p for p in params.values() if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                                            p.POSITIONAL_OR_KEYWORD)]) != 2:
        raise NasError(f"--evaluator {quote_arg(name)} must take two arguments, (genome, ctx)")
    return obj


def search_path(name: str) -> str | None:
    """The directory to put on a worker's Python path so that it imports ``name``'s module as the driver did (the
    module's top package's parent; None for an installed module)."""
    module = sys.modules.get(name.partition(":")[0])
    path = getattr(module, "__file__", None)
    if not path:
        return None
    root = Path(path).resolve().parent
    for _ in range(name.partition(":")[0].count(".")):
        root = root.parent
    return None if "site-packages" in root.parts else str(root)


def run(fn: UserEvaluator, genome_yaml: str, spec: dict[str, Any],
        ask: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """One evaluation by a user's ``fn`` as the store records it (raises what ``fn`` raises)."""
    from estimators.train import encode_correct

    started = time.perf_counter()
    ctx = Context(seed=spec["seed"], final=bool(spec.get("final")), epochs=spec["epochs"], dataset=spec["dataset"],
                  data_dir=spec.get("data_dir"), width=spec.get("width"), train_images=spec.get("train_images"),
                  trial=spec.get("trial", 0), device=_device(spec), _ask=ask)
    out = fn(loads(genome_yaml), ctx)
    if not isinstance(out, dict) or not _number(out.get("accuracy")) or not 0 <= out["accuracy"] <= 1:
        got = type(out).__name__ if not isinstance(out, dict) else f"accuracy {out.get('accuracy')!r}"
        return {"status": "failed", "error": f"the evaluator returned no accuracy in [0, 1] (got {got})"}
    result: dict[str, Any] = {k: v for k, v in out.items() if _number(v) and k not in ("accuracy", "loss")}
    result.update(status="ok", accuracy=float(out["accuracy"]),
                  loss=float(out["loss"]) if _number(out.get("loss")) else None,
                  epochs=ctx.history[-1]["epoch"] if ctx.history else ctx.epochs, stopped=ctx.stopped,
                  history=ctx.history, split="test" if ctx.final else "validation", evaluator=spec.get("evaluator"),
                  width=ctx.width)
    if out.get("correct") is not None:
        import numpy as np

        hits = np.asarray(out["correct"]).astype(bool).ravel()
        result.update(correct=encode_correct(hits), n_eval=int(hits.size),
                      stderr=math.sqrt(max(result["accuracy"] * (1 - result["accuracy"]), 0) / max(1, hits.size)))
    elif _number(out.get("n_eval")):
        result["n_eval"] = int(out["n_eval"])
    result.setdefault("seconds", time.perf_counter() - started)
    return result


def _device(spec: dict[str, Any]) -> str:
    if not spec.get("gpus"):
        return "cpu"
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover - torch is a dependency
        return "cpu"


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def evaluate_with(name: str, path: str | None, genome_yaml: str, spec: dict[str, Any],
                  ask: Callable[[dict[str, Any]], bool] | None) -> dict[str, Any]:
    """Load the evaluator ``name`` in this worker (``path`` first on the Python path) and run it."""
    if path and path not in sys.path:
        sys.path.insert(0, path)
    return run(load(name), genome_yaml, spec, ask)
