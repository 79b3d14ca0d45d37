"""From a worker's result to the record: the ``Evaluation`` a job's result becomes, what the strategy is told of
it, and the lines and rankings read off the records (best, Pareto front, progress)."""

from __future__ import annotations

import math
import time
from typing import Any

from ..cost import cost, human
from ..genome import dumps
from .jobs import Job
from .settings import Settings
from .store import Evaluation

FIDELITY = ("split", "n_eval", "stderr", "resolution", "width", "train_images", "floor", "seed", "restarts")
"""Result keys that say at what fidelity a score was measured, kept beside it in the record."""


def evaluation(job: Job, result: dict[str, Any], settings: Settings) -> Evaluation:
    """The record of ``job``'s ``result`` (its attempt is the job's): status, scores, cost, fidelity, timing."""
    g = job.genome
    c = cost(g)
    ok = result.get("status") == "ok"
    stopped = ok and bool(result.get("stopped"))
    ev = Evaluation(
        trial=job.trial, genome=dumps(g), macs=c.macs, params=c.params, activations=c.activations,
        status=("stopped" if stopped else "ok") if ok else "failed", origin=job.origin, parent=job.parent,
        short=g.short(), accuracy=result.get("accuracy") if ok else None, loss=result.get("loss") if ok else None,
        metrics={k: v for k, v in result.items() if k not in ("started", "finished", "worker")},
        fidelity={"epochs": result.get("epochs", settings.epochs), "dataset": result.get("dataset", settings.dataset),
                  "input": result.get("input"), **{k: result.get(k) for k in FIDELITY}},
        error=None if ok else (result.get("error") or "failed"), worker=result.get("worker"), attempts=job.attempt,
        started=result.get("started"), finished=result.get("finished") or time.time(),
        seconds=result.get("seconds") or (result.get("finished", 0) - result.get("started", 0)) or None)
    if job.candidate is not None:  # the strategy's own encoding, for a resumed strategy's history
        ev.config = dict(job.candidate.config)
    return ev


def told(ev: Evaluation) -> dict[str, Any] | None:
    """What a strategy is told of a recorded candidate (None: it failed). A stopped trial is told as what it is:
    the accuracy it reached at a lower fidelity."""
    if ev.status not in ("ok", "stopped"):
        return None
    return {"accuracy": ev.accuracy, "loss": ev.loss, "macs": ev.macs, "params": ev.params,
            "epochs": (ev.fidelity or {}).get("epochs"), "stopped": ev.status == "stopped"}


def best(done: list[Evaluation], budget: int) -> Evaluation | None:
    """The search's best completed trial within ``budget`` MACs: highest accuracy, then fewest MACs, then first."""
    ok = [e for e in done if e.trial >= 0 and e.status == "ok" and e.macs <= budget and e.accuracy is not None]
    return max(ok, key=lambda e: (e.accuracy, -e.macs, -e.trial)) if ok else None


def pareto(evals: list[Evaluation]) -> list[Evaluation]:
    """The evaluations no other beats in both accuracy and MACs, cheapest first."""
    front, top = [], -math.inf
    for e in sorted(evals, key=lambda e: (e.macs, -(e.accuracy or 0))):
        if e.accuracy is not None and e.accuracy > top:
            front.append(e)
            top = e.accuracy
    return front


def duration(seconds: float) -> str:
    """``seconds`` as ``4m05s`` or ``12s``."""
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def progress(ev: Evaluation, done: list[Evaluation], trials: int, budget: int, elapsed: float,
             before: int = 0) -> str:
    """The log line after ``ev`` lands: where the search stands, the best so far, and a time estimate from the
    ``elapsed`` seconds of this start, over the records it made (``before``: how many the store held at the start)."""
    n = sum(1 for e in done if e.trial >= 0)
    top = best(done, budget)
    left = max(0, trials - n) * elapsed / max(1, len(done) - before)
    if ev.status == "ok":
        what = f"accuracy {ev.accuracy:.4f}"
    elif ev.status == "stopped":
        what = f"stopped after {ev.fidelity.get('epochs')} epoch(s) at accuracy {ev.accuracy or 0:.4f}"
    else:
        what = f"failed ({ev.error})"
    who = ev.origin.split(':', 1)[1] if ev.trial < 0 else f"trial {ev.trial}"
    best_txt = f"best {top.accuracy:.4f} (trial {top.trial}, {human(top.macs)} MACs)" if top else "best -"
    return (f"[{n}/{trials}] {who}: {what}, {human(ev.macs)} MACs, {ev.seconds or 0:.1f}s | {best_txt} | "
            f"about {duration(left)} left")
