"""``--max-latency-ms``: the run's latency model (measured here at the start, kept in the run) and the finalists'
latencies measured for real before the verdict (``nas.latency`` measures and predicts)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from ..errors import NasError
from ..genome import Genome, loads
from ..latency import LatencyModel, calibrate, machine, measure_apart
from .store import Evaluation

if TYPE_CHECKING:
    from search_spaces import Budget, Space

MODEL_FILE = "latency_model.json"
MEASURED_FILE = "latency.json"
FIT, JUDGE, COVER = 60, 20, 200
"""Networks the run's latency model is fitted on, others (drawn before any is measured) it is judged on, and more
whose convolutions its table times too (so that the search seldom meets a convolution it has not timed)."""

Log = Callable[[str], None]


def calibration_genomes(space: Space, budget: Budget, seed: int) -> list[Genome]:
    """The networks a run calibrates on: ``FIT + JUDGE + COVER`` drawn from the space within the budget's other
    caps, from the run's seed."""
    rng = np.random.default_rng([seed, 0x1A7])
    other = dataclasses.replace(budget, latency_ms=None)
    return [space.sample(rng, other) for _ in range(FIT + JUDGE + COVER)]


def use_model(out: Path, space: Space, budget: Budget, seed: int, log: Log) -> LatencyModel:
    """The run's latency model, attached to ``space``: the one the run saved, else one calibrated now on networks
    of the space drawn within the budget's other caps (and saved, so that ``--resume`` predicts the same)."""
    path = out / MODEL_FILE
    if path.exists():
        model = LatencyModel.load(path)
        if model.machine != machine():
            log(f"latency: note: {path.name} was measured on {model.machine}; this machine is {machine()}: the "
                "search keeps predicting for the first, and the finalists are measured here")
    else:
        genomes = calibration_genomes(space, budget, seed)
        log(f"latency: measuring {FIT + JUDGE} networks of the space, and timing the convolutions of {COVER} more, "
            "on this CPU (one thread, batch 1, in a fresh process) to fit the latency model")
        model = calibrate(genomes[:FIT + JUDGE], FIT, genomes[FIT + JUDGE:], log)
        model.save(path)
        j = model.judged
        lo, hi = j["measured_ms"]
        log(f"latency: model fitted on {FIT} networks, judged on {j['networks']} others: "
            f"{round(j['within_10pct'] * j['networks'])}/{j['networks']} predicted within 10% of measured (median "
            f"error {j['median_error']:.1%}); they measured {lo:.1f}-{hi:.1f} ms; saved in {path.name}")
    space.use_latency(model)
    return model


def measured(out: Path) -> dict[int, float]:
    """Trial -> milliseconds measured on this CPU, for the finalists measured so far (empty without a file)."""
    path = out / MEASURED_FILE
    if not path.exists():
        return {}
    try:
        rows = json.loads(path.read_text())["finalists"]
        return {int(r["trial"]): float(r["measured_ms"]) for r in rows}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise NasError(f"{path}: not a record of measured latencies ({e})") from None


def measure_finalists(out: Path, order: Iterable[Evaluation], model: LatencyModel, cap: float, want: int,
                      log: Log) -> dict[int, float]:
    """Measure candidates in the search's order until ``want`` measure within ``cap`` ms (those measured before,
    by a run that was interrupted, are not measured again); writes latency.json and returns trial -> ms."""
    path = out / MEASURED_FILE
    have = measured(out)
    rows: list[dict[str, Any]] = json.loads(path.read_text())["finalists"] if have else []
    order = list(order)
    within = 0
    while within < want and order:
        batch: list[Evaluation] = []  # measured together, in one fresh process: as many as could still be needed
        while order and len(batch) < want - within:
            e = order.pop(0)
            if e.trial in have:
                within += have[e.trial] <= cap
                if within >= want:
                    break
            else:
                batch.append(e)
        if not batch:
            break
        genomes = [loads(e.genome) for e in batch]
        for e, g, ms in zip(batch, genomes, measure_apart(genomes)[0]):
            predicted = model.predict(g)
            have[e.trial] = ms
            rows.append({"trial": e.trial, "predicted_ms": round(predicted, 3), "measured_ms": round(ms, 3)})
            log(f"latency: trial {e.trial} measured {ms:.2f} ms (predicted {predicted:.2f}), "
                + (f"within the {cap:g} ms cap" if ms <= cap else f"OVER the {cap:g} ms cap: passed over"))
            within += ms <= cap
        path.write_text(json.dumps({"cap_ms": cap, "machine": machine(), "finalists": rows}, indent=1) + "\n")
    if within < want:
        log(f"latency: only {within} candidate(s) measured within the {cap:g} ms cap")
    return have
