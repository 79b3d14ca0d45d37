"""What the verdict retrains, read off the records: the top distinct candidates within the budget and the
space's seed, the jobs still to run after a crash, and the verdict's report once they have run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from ...errors import NasError
from ...genome import dumps, loads
from ..jobs import Job
from ..settings import Settings, verdict_width
from ..store import Evaluation
from .report import VERDICT_TRIALS, Entrant, Verdict, report, verdict_run

if TYPE_CHECKING:
    from search_spaces import Budget, Space


def genome_key(space: Space, g: Any) -> Any:
    """What makes two genomes the same network in ``space``: its encoding, or the YAML when it has none."""
    try:
        return tuple(sorted(space.encode(g).items()))
    except NasError:
        return dumps(g)


def baseline(space: Space, budget: Budget) -> tuple[str, Any, int] | None:
    """The verdict's baseline: the space's hand-designed network scaled to the budget by its family's own rule
    (``Space.baseline``), labelled ``baseline mobilenet_v2 x0.98 (300M)``; the same for every run."""
    b = space.baseline(budget)
    return None if b is None else (f"baseline {b[0]}", b[1], b[2])


def ranked(done: list[Evaluation], space: Space, budget: Budget, s: Settings) -> dict[Any, Evaluation]:
    """The search's completed candidates within the MAC budget, one per distinct network (keyed by
    ``genome_key``), in the search's order: its own score, or for a funnel estimator the re-scored top first."""
    ok = [e for e in done if e.trial >= 0 and e.status == "ok" and e.macs <= budget.macs and e.accuracy is not None]
    order = sorted(ok, key=lambda e: (-(e.accuracy or 0.0), e.macs, e.trial))
    from ..scoring import get

    if get(s.estimator).funnel:  # its top few re-scored by standalone training (``audit``)
        from ..audit import rescored

        order = rescored(done, budget.macs, s.rescore)
    by_key: dict[Any, Evaluation] = {}
    for e in order:
        by_key.setdefault(genome_key(space, loads(e.genome)), e)
    return by_key


def entrants(done: list[Evaluation], space: Space, budget: Budget, s: Settings,
             measured: Mapping[int, float] | None = None) -> list[Entrant]:
    """The top ``verdict_top`` distinct candidates within the budget in the search's order (the first is the
    winner) and the baseline (trained once if it is among them), each with the search's own score of that genome
    where it has one, and the verdict runs already recorded. Under a latency cap, a candidate ``measured`` (trial
    -> milliseconds on this CPU) over it is passed over."""
    by_key = ranked(done, space, budget, s)
    cap = budget.latency_ms
    fit = [e for e in by_key.values() if cap is None or (measured or {}).get(e.trial, 0.0) <= cap]
    out = [Entrant(i, f"trial {e.trial}", loads(e.genome), e.macs, e.trial, e.accuracy)
           for i, e in enumerate(fit[: s.verdict_top])]
    seed = baseline(space, budget)
    if seed is not None:
        label, g, macs = seed
        key = genome_key(space, g)
        same = next((e for e in out if genome_key(space, e.genome) == key), None)
        if same is not None:  # a seed among the top candidates is trained once
            same.is_seed, same.label = True, f"{same.label} = {label}"
        else:
            hit = by_key.get(key)
            out.append(Entrant(len(out), label, g, macs, hit.trial if hit else None, hit.accuracy if hit else None,
                               is_seed=True, top=False))
    by_block = {e.block: e for e in out}
    for e in done:  # what finished before a crash (or before the run was extended) is not run again
        if e.trial <= VERDICT_TRIALS and e.status == "ok":
            block, sd = verdict_run(e.trial)
            if block in by_block:
                by_block[block].results[sd] = e.metrics
    return out


def verdict_jobs(entries: list[Entrant], s: Settings) -> list[Job]:
    """The retrainings not yet recorded, seed by seed (every entrant's first seed before any second one)."""
    width = verdict_width(s)[0]
    return [Job.for_verdict(e, sd, s.seed, s.verdict_epochs, width)
            for sd in range(s.verdict_seeds) for e in entries if sd not in e.results]


def verdict_report(done: list[Evaluation], space: Space, budget: Budget, s: Settings,
                   measured: Mapping[int, float] | None = None) -> Verdict | None:
    """The verdict from the recorded retrainings; None before any retraining finished."""
    if not any(e.trial <= VERDICT_TRIALS for e in done):
        return None
    entries = entrants(done, space, budget, s, measured)
    runs = [r for e in entries for r in e.results.values()]
    if not runs:
        return None
    winner, lines, data = report(entries, "test")
    data.update(n_test=runs[0].get("n_eval") or 0, n_train=runs[0].get("train_images") or 0,
                epochs=s.verdict_epochs, seeds=s.verdict_seeds, winner=winner.label if winner else None,
                budget_macs=budget.macs, deployment_input=list(space.input))
    if budget.latency_ms is not None:  # the cap, and each entrant's latency as measured on this CPU
        data.update(max_latency_ms=budget.latency_ms,
                    measured_ms={e.label: (measured or {}).get(e.search_trial) for e in entries
                                 if e.top and e.search_trial is not None})
    return Verdict(winner, lines, data, entries)
