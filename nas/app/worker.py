"""What runs inside a Ray task, and what the driver makes of a task that came back without a result.

``evaluate`` is the default evaluator: proxy training of one genome. Any evaluator has the same shape,
``evaluator(genome_yaml, spec) -> dict``: ``spec`` is a job's spec (``Job.spec``) and the dict holds ``status``
and, when ok, ``accuracy``. A bad candidate never raises; a worker that dies is the driver's business.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import time
from typing import Any, Callable

from ..genome import loads

Evaluator = Callable[[str, dict[str, Any]], dict[str, Any]]

KNOBS = ("width", "train_images", "batch_size", "floor", "final", "restarts")
"""Spec keys passed on to ``proxy_train`` as they are."""


def evaluate(genome_yaml: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Train one candidate (a Ray task calls this); never raises for a bad candidate, only returns 'failed'."""
    import estimators

    started = time.time()
    knobs = {k: spec[k] for k in KNOBS if k in spec}
    if spec.get("dataset_path") and spec["dataset_path"] not in sys.path:  # the user's data set's module
        sys.path.insert(0, spec["dataset_path"])
    try:
        if spec.get("evaluator"):
            from .evaluator import evaluate_with

            result = evaluate_with(spec["evaluator"], spec.get("evaluator_path"), genome_yaml, spec, _stopping(spec))
        elif spec.get("supernet") and not spec.get("standalone") and not spec.get("final"):
            from .supernet import score_in_worker

            result = score_in_worker(genome_yaml, spec)
        else:
            result = estimators.proxy_train(loads(genome_yaml), data=spec["dataset"], epochs=spec["epochs"],
                                            seed=spec["seed"], data_dir=spec["data_dir"],
                                            callback=_stopping(spec), **knobs)
    except Exception as e:  # noqa: BLE001 - a candidate never takes the search down
        result = failure(e)
    result.update(worker=f"{socket.gethostname()}:{os.getpid()}", started=started, finished=time.time())
    return result


def _stopping(spec: dict[str, Any]) -> Callable[[dict[str, Any]], bool] | None:
    """The per-epoch callback that asks the search's stopping rule (an actor) whether this trial goes on. It asks
    only at the epochs where the rule decides (the spec's ``restarts``; ASHA's rungs, or every epoch but the last
    for the median rule): a rule keeps no use for the others, and each ask is a task in the dashboard's list,
    named for the trial it judges."""
    stopper = spec.get("stopper")
    if stopper is None:
        return None
    import ray

    decides = set(spec.get("restarts") or ())
    trial = spec.get("trial")

    def callback(info: dict[str, Any]) -> bool:
        if info["epoch"] not in decides:
            return True
        try:
            ask = stopper.keep_going.options(name=f"stopping rule: trial {trial} after epoch {info['epoch']}")
            return ray.get(ask.remote(trial, info["epoch"], info["accuracy"]), timeout=60)
        except Exception:  # noqa: BLE001 - a lost stopping rule must not fail the candidate: train on
            return True

    return callback


def failure(e: BaseException) -> dict[str, Any]:
    """A failed result from an exception: its type and the first line of its message, Ray's wrapper and colour
    codes removed (a task's own exception, not Ray's account of where it was raised)."""
    cause = getattr(e, "cause", None) or e
    lines = [l for l in re.sub(r"\x1b\[[0-9;]*m", "", str(cause)).strip().splitlines() if l.strip()]
    return {"status": "failed", "error": f"{type(cause).__name__}: {lines[0] if lines else ''}"[:300]}


def worker_died(e: BaseException) -> bool:
    """Whether a task came back without a result because its worker process or its node died (killed, out of
    memory, or lost with the result it held): such a task is run again, up to ``Settings.retries`` times. An
    exception the task raised is not.

    Ray's exceptions are looked up where Ray put them, not imported: an exception can only be one of them once Ray
    is loaded, and a process that has not loaded Ray (a unit test of this function) does not fix Ray's settings by
    loading it early."""
    rx = sys.modules.get("ray.exceptions")
    # ObjectLostError: the task finished, but its node died before the driver fetched the result it held
    return rx is not None and isinstance(e, (rx.WorkerCrashedError, rx.NodeDiedError, rx.OutOfMemoryError,
                                             rx.ObjectLostError))


NB201_TEST_IMAGES = 10_000
"""CIFAR-10's test split, on which NAS-Bench-201's accuracies are measured."""


def look_up(genome_yaml: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Score one cell-space candidate by NAS-Bench-201's 200-epoch CIFAR-10 test accuracy (the mean over the
    benchmark's seeds), looked up in the table shipped with the package; nothing is trained. The standard error is
    the binomial one over the 10,000 test images: the spread between training seeds is not in the table."""
    from estimators import nb201

    started = time.time()
    try:
        acc = nb201.accuracy(loads(genome_yaml))
        result = {"status": "ok", "accuracy": acc, "loss": None, "epochs": 200, "dataset": "NAS-Bench-201 CIFAR-10",
                  "split": "test", "n_eval": NB201_TEST_IMAGES, "input": [3, 32, 32],
                  "stderr": (acc * (1 - acc) / NB201_TEST_IMAGES) ** 0.5, "history": []}
    except Exception as e:  # noqa: BLE001 - a candidate never takes the search down
        result = failure(e)
    result.update(worker=f"{socket.gethostname()}:{os.getpid()}", started=started, finished=time.time())
    return result


class Inline:
    """Runs an evaluator in the driver's own process, with the face of a Ray remote function (``options`` and
    ``remote``; ``get`` gives a result back, and every submitted job is ready at once): for a table lookup, which
    needs no worker and no cluster."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.results: dict[int, dict[str, Any]] = {}
        self._next = 0

    def options(self, **_: Any) -> Inline:
        return self

    def remote(self, genome_yaml: str, spec: dict[str, Any]) -> int:
        """Evaluate now; returns the key ``get`` gives the result back for."""
        self._next += 1
        self.results[self._next] = self.evaluator(genome_yaml, spec)
        return self._next

    def get(self, key: int) -> dict[str, Any]:
        return self.results.pop(key)
