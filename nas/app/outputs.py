"""What a search leaves in its run directory beside the store (best.yaml, verdict.json, pareto.yaml, pareto.png)
and the summary it logs at the end."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..cost import human
from ..genome import dumps, loads, save
from .evaluations import best, pareto
from .latency import measured as measured_latency
from .plot import plot
from .scoring import get
from .settings import Settings
from .store import Evaluation
from .verdict import Verdict
from .verdict.entrants import ranked, verdict_report

if TYPE_CHECKING:
    from search_spaces import Budget, Space

Log = Callable[[str], None]


@dataclass
class Summary:
    """The outcome of a search, as objects: ``genome`` (what best.yaml holds), ``front()`` (the Pareto front as
    genomes with their metrics) and ``table()`` (every evaluation as a pandas DataFrame)."""

    out: Path
    evaluations: int
    failed: int
    best: Evaluation | None  # the search's best by its own score
    notes: list[str] = field(default_factory=list)
    verdict: dict[str, Any] | None = None  # what verdict.json holds: entrants, test scores, intervals, tau
    winner: str | None = None  # the verdict's winner (its label), written to best.yaml
    records: list[Evaluation] = field(default_factory=list, repr=False)  # every evaluation, verdict runs included

    @property
    def genome(self) -> Any:
        """The search's answer as a ``Genome``: the verdict's winner, else the search's best (best.yaml); None when
        nothing completed."""
        path = self.out / "best.yaml"
        if path.exists():
            from ..genome import load

            return load(path)
        return loads(self.best.genome) if self.best is not None else None

    def front(self) -> list[tuple[Any, dict[str, Any]]]:
        """The search's Pareto front (accuracy against MACs, cheapest first) as ``(Genome, metrics)`` pairs, the
        metrics holding ``trial``, ``accuracy``, ``macs``, ``params`` and ``activations``."""
        ok = [e for e in self.records if e.trial >= 0 and e.status == "ok" and e.accuracy is not None]
        return [(loads(e.genome), {"trial": e.trial, "accuracy": e.accuracy, "macs": e.macs, "params": e.params,
                                   "activations": e.activations}) for e in pareto(ok)]

    def table(self) -> Any:
        """Every evaluation as a pandas DataFrame, one row each (search trials, then the verdict's and audit's
        runs, whose ``trial`` is negative and whose ``origin`` says what they are); ``genome`` is YAML that
        ``nas.loads`` reads back."""
        import pandas as pd

        cols = ["trial", "status", "accuracy", "loss", "macs", "params", "activations", "origin", "parent",
                "attempts", "seconds", "genome"]
        return pd.DataFrame([{c: getattr(e, c) for c in cols} for e in self.records], columns=cols)


def write_outputs(out: Path, done: list[Evaluation], space: Space, budget: Budget, s: Settings,
                  log: Log) -> Verdict | None:
    """best.yaml (the verdict's winner, else the search's best), verdict.json, pareto.yaml and pareto.png from the
    records; returns the verdict, if any, for the summary."""
    top = best(done, budget.macs)
    if get(s.estimator).funnel:  # its top few re-scored by standalone training: the best of them
        from .audit import rescored

        top = next(iter(rescored(done, budget.macs, s.rescore)), top)
    ms = measured_latency(out) if budget.latency_ms is not None else {}
    if top is not None and budget.latency_ms is not None and ms.get(top.trial, 0.0) > budget.latency_ms:
        # measured over the cap: the next best
        top = next((e for e in ranked(done, space, budget, s).values() if ms.get(e.trial, 0.0) <= budget.latency_ms),
                   None)
    verdict = verdict_report(done, space, budget, s, ms)
    if verdict is not None:  # interrupted (or a retraining failed): a partial verdict is never the result
        have = sum(len(e.results) for e in verdict.entrants)
        verdict.data.update(partial=have < len(verdict.entrants) * s.verdict_seeds, retrained=have,
                            retrainings=len(verdict.entrants) * s.verdict_seeds)
    partial = verdict is not None and verdict.partial
    winner = verdict.winner if verdict and not partial else None
    if winner is not None:
        save(winner.genome, out / "best.yaml")
    elif top:
        text = dumps(loads(top.genome))
        if verdict is not None and partial:
            text = (f"# partial: the verdict has {verdict.data['retrained']} of its {verdict.data['retrainings']} "
                    "retrainings, so it names no winner; this is the search's best by its own score. "
                    "`nas search --resume --out DIR` finishes the verdict.\n" + text)
        (out / "best.yaml").write_text(text)
    if verdict:
        (out / "verdict.json").write_text(json.dumps(verdict.data, indent=2) + "\n")
    front = pareto([e for e in done if e.trial >= 0 and e.status == "ok"])
    doc = [{"trial": e.trial, "accuracy": e.accuracy, "macs": e.macs, "params": e.params,
            "genome": loads(e.genome).to_dict()} for e in front]
    import yaml

    (out / "pareto.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        plot(out / "pareto.png", done, front, budget.macs, s, verdict.entrants if verdict else [])
    except Exception as e:  # noqa: BLE001 - a plot must not lose a finished search
        log(f"note: pareto.png not written ({type(e).__name__}: {e})")
    return verdict


def summarize(out: Path, done: list[Evaluation], budget: Budget, s: Settings, verdict: Verdict | None,
              notes: list[str], log: Log) -> Summary:
    """The search's outcome, and the lines that tell it: the search's best, the verdict, where the outputs are."""
    top = best(done, budget.macs)
    failed = sum(1 for e in done if e.trial >= 0 and e.status == "failed")
    summary = Summary(out, sum(1 for e in done if e.trial >= 0), failed, top, list(notes), records=list(done))
    if top:
        f = top.fidelity or {}
        se = f.get("stderr")
        how = get(s.estimator).describe_score(f.get("epochs"))
        log(f"search's best: trial {top.trial}, {f.get('split') or 'validation'} accuracy {top.accuracy:.4f}"
            + (f" +- {se:.4f}" if se else "") + f" ({how}), {top.macs:,} MACs ({human(top.macs)}), "
            f"{top.params:,} params")
    else:
        log("search's best: none (every evaluation failed)")
    if verdict and verdict.partial:
        data = verdict.data
        summary.verdict = data
        log(f"verdict: partial, {data['retrained']} of {data['retrainings']} retrainings recorded; nothing is claimed "
            f"and best.yaml is the search's best by its own score (marked partial); `nas search --resume --out "
            f"{out}` finishes the verdict without repeating a finished retraining")
    elif verdict:
        winner, lines, data = verdict.winner, verdict.lines, verdict.data
        summary.verdict, summary.winner = data, winner.label if winner else None
        from .verdict import fidelity_text

        images = f"{data['n_test']:,} images" if data.get("n_test") else "images"
        log(f"verdict on the {data['split']} split ({images} the search never read); each network "
            f"retrained at {fidelity_text(data.get('fidelity') or {})}; mean of {s.verdict_seeds} seeds +- "
            "standard error; MACs are the deployment network's at "
            f"{'x'.join(map(str, data.get('deployment_input') or ()))}, which the budget judged:")
        for line in lines:
            log(line if line.startswith("  ") else f"  {line}")
        if winner is not None:
            ms = (data.get("measured_ms") or {}).get(winner.label)
            timed = f", {ms:.2f} ms measured on this CPU (cap {budget.latency_ms:g})" if ms is not None else ""
            log(f"winner: {winner.label}, {winner.macs:,} MACs ({human(winner.macs)}){timed} -> {out / 'best.yaml'}")
    elif get(s.estimator).no_verdict:
        log(f"verdict: none; {get(s.estimator).no_verdict}")
    elif not s.verdict:
        log("verdict: off (--no-verdict); best.yaml is the search's best by its own validation score, "
            "which is biased upwards as the best of many noisy scores")
    board = out / "tensorboard"
    curves = board.is_dir() and any(board.iterdir())  # a table lookup has no learning curve to draw
    names = ["best.yaml", "pareto.yaml", "pareto.png", "trials.csv", "results.db", "verdict.json", "latency.json",
             "latency_model.json", "dashboard.db"]
    log(f"outputs: {', '.join(n for n in names if (out / n).exists())}{', tensorboard/' if curves else ''} in {out}")
    if (out / "dashboard.db").exists():
        import shlex

        store = "" if (out / "results.db").exists() else " --storage URL"  # a shared database: the search's URL
        log(f"look: `nas dashboard {shlex.quote(str(out))}{store}` opens the study in optuna-dashboard"
            + (f"; `tensorboard --logdir {shlex.quote(str(out / 'tensorboard'))}` the learning curves" if curves
               else ""))
    return summary
