"""The search driver: a strategy proposes, Ray workers evaluate, the store records every result as it lands.

This is the one module that knows about Ray. Candidates run as Ray tasks rather than Tune trials: the strategies
already own the ask/tell loop and a resumable state, and the store is the single record of what was evaluated, so
a task per candidate (named, with its CPU/GPU share, retried when its worker dies) is all the machinery a search
needs, with no Tune experiment state beside it. A driver killed at any moment resumes from the store: completed
evaluations are kept, the strategy continues from the state saved with the last of them and the recorded history
(an Optuna study is reconciled with the store), and candidates that were in flight are asked again. The stopping
rules live in ``nas.app.stopping``, the plot in ``nas.app.plot``.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..budget import parse_budget
from ..cost import cost, human
from ..errors import NasError
from .plot import plot
from ..genome import dumps, loads, save
from .store import Evaluation, Store, append_csv, shown, write_csv
from .stopping import (STOPPERS, AshaStopper, MedianStopper, _StopperActor, decision_epochs, describe,
                       make_stopper, replay)

Log = Callable[[str], None]


@dataclass
class Settings:
    """What a search does; saved in the run so that ``--resume`` continues the same search."""

    space: str = "mobilenet"
    budget: str = "300M"
    strategy: str = "evolution"
    trials: int = 40
    epochs: int = 2
    dataset: str = "fashion"
    data_dir: str | None = None
    seed: int = 0
    input: list[int] | None = None
    classes: int | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    retries: int = 2  # times a task is run again when its worker process dies
    references: int = 0  # no longer used: the verdict retrains the best seed within the budget
    early_stop: str | None = "asha"  # "asha", "median" or None: stop trials between epochs (needs epochs > 1)
    eta: int = 3  # ASHA's reduction factor: the top 1/eta of the trials at a rung go on
    width: float | None = None  # the proxy's width multiplier on top of the genome's (None: the space's proxy_width)
    train_images: int | None = 5000  # training images per proxy epoch (stratified), None: the whole train split
    batch_size: int = 64
    verdict: bool = True  # retrain the top candidates and the seed, score them on the test split
    verdict_top: int = 3
    verdict_epochs: int = 3
    verdict_seeds: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.early_stop, bool):  # run directories written before the rule was a choice
            self.early_stop = "median" if self.early_stop else None
        if self.early_stop == "off":
            self.early_stop = None


@dataclass
class Summary:
    """The outcome of a search."""

    out: Path
    evaluations: int
    failed: int
    best: Evaluation | None  # the search's best by its own score
    reference: Evaluation | None  # kept for callers of earlier versions: None (the verdict holds the seed)
    notes: list[str] = field(default_factory=list)
    verdict: dict[str, Any] | None = None  # what verdict.json holds: entrants, test scores, intervals, tau
    winner: str | None = None  # the verdict's winner (its label), written to best.yaml


# ---------------------------------------------------------------- the worker side


def evaluate(genome_yaml: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Train one candidate (a Ray task calls this); never raises for a bad candidate, only returns 'failed'."""
    import estimators

    pids = spec.get("pid_file")
    if pids:  # one line per attempt: the driver counts retries, and a test can kill this very process
        try:
            with open(pids, "a") as f:
                f.write(f"{os.getpid()}\n")
        except OSError:  # a worker on another node has no view of the run directory
            pass
    started = time.time()
    stopper = spec.get("stopper")
    callback = None
    if stopper is not None:
        import ray

        def callback(info: dict[str, Any]) -> bool:
            try:
                return ray.get(stopper.keep_going.remote(spec.get("trial"), info["epoch"], info["accuracy"]),
                               timeout=60)
            except Exception:  # noqa: BLE001 - a lost stopping rule must not fail the candidate: train on
                return True
    knobs = {k: spec[k] for k in ("width", "train_images", "batch_size", "floor", "final", "restarts") if k in spec}
    try:
        result = estimators.proxy_train(loads(genome_yaml), data=spec["dataset"], epochs=spec["epochs"],
                                        seed=spec["seed"], data_dir=spec["data_dir"], callback=callback, **knobs)
    except Exception as e:  # noqa: BLE001 - a candidate never takes the search down
        result = {"status": "failed", "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    result.update(worker=f"{socket.gethostname()}:{os.getpid()}", started=started, finished=time.time())
    return result


# ---------------------------------------------------------------- the driver


class Search:
    """One search run in ``out``: validated settings, the store, the strategy, the Ray loop, the outputs."""

    def __init__(self, settings: Settings, out: Path, *, storage: str | None = None, log: Log = print) -> None:
        import search_spaces
        import strategies

        self.settings, self.out, self.log = settings, Path(out), log
        s = settings
        self.space = search_spaces.get(s.space, tuple(s.input) if s.input else None, s.classes)
        self.budget = self.space.check_budget(parse_budget(s.budget))
        if s.width is None:
            s.width = self.space.proxy_width
        strategy_cls = strategies.get(s.strategy)
        _check_data(s.dataset, s.data_dir)
        if s.trials < 1 or s.epochs < 1:
            raise NasError("--trials and --epochs must be positive")
        if s.early_stop not in (None, *STOPPERS):
            raise NasError(f"unknown early-stopping rule '{s.early_stop}'; rules: {', '.join(STOPPERS)}")
        if s.eta < 2:
            raise NasError(f"--eta must be at least 2, got {s.eta}")
        self.out.mkdir(parents=True, exist_ok=True)
        self.store = Store(storage_url(self.out, storage), run=self.out.resolve().name)
        self.store.create(asdict(s))
        options = {}
        if s.strategy in ("optuna", "nsga2"):  # the study lives beside the results: in the run, or the shared database
            options = {"storage": self.store.url, "study_name": f"nas-{self.store.run}"} if storage else \
                {"storage": f"sqlite:///{self.out / 'optuna.db'}"}
        self.strategy = strategy_cls(self.space, budget=self.budget, seed=s.seed, **options)
        state = self.store.state()
        self._done: list[Evaluation] | None = None  # the records, read once for the strategy and the outputs
        if state:
            self._done = self.store.evaluations()
            self._resume_strategy(state)
        (self.out / "workers").mkdir(exist_ok=True)
        (self.out / "search.json").write_text(json.dumps(asdict(s), indent=2) + "\n")

    def _resume_strategy(self, state: dict[str, Any]) -> None:
        """Continue the strategy from the state stored with the last result and the history the store holds (the
        state is checked: a row that is not what this version writes is refused with one line)."""
        history = []
        try:
            for e in self._done or ():
                if e.trial < 0:
                    continue
                if e.config is None:
                    raise NasError(f"trial {e.trial} has no config: written by an earlier version of nas")
                history.append(({"id": e.trial, "config": e.config, "macs": e.macs, "params": e.params,
                                 "origin": e.origin or "", "parent": e.parent}, told(e)))
            self.strategy.load_state_dict(state, history)
        except NasError as e:
            raise NasError(f"cannot resume from the results database '{shown(self.store.url)}': {e}") from None

    # ------------------------------------------------------------ the loop

    def run(self, address: str | None = None, dashboard: bool = True, dashboard_host: str = "127.0.0.1",
            evaluator: Callable[[str, dict[str, Any]], dict[str, Any]] = evaluate) -> Summary:
        """Evaluate candidates until ``trials`` are recorded; outputs are written as results land.

        ``evaluator(genome_yaml, spec) -> dict`` runs in the Ray worker (default: proxy training); its dict needs
        ``status`` and, when ok, ``accuracy``.
        """
        import ray

        s = self.settings
        done, stopper = self.recorded()
        ctx = _start_ray(address, dashboard, dashboard_host, self.log)
        metrics = _Metrics(self.out.resolve().name)
        concurrent = s.max_concurrent or _fits(ray.cluster_resources(), s.cpus_per_trial, s.gpus_per_trial)
        task = ray.remote(num_cpus=s.cpus_per_trial, num_gpus=s.gpus_per_trial, max_retries=s.retries,
                          retry_exceptions=False)(evaluator)
        spec: dict[str, Any] = {"dataset": s.dataset, "epochs": s.epochs, "seed": s.seed, "data_dir": s.data_dir,
                                "width": s.width, "train_images": s.train_images, "batch_size": s.batch_size,
                                "floor": self.space.proxy_map}
        if stopper is not None:
            spec["restarts"] = decision_epochs(stopper, s.epochs)
            # the actor starts from the replayed state: it is built here and handed over whole
            spec["stopper"] = ray.remote(num_cpus=0)(_StopperActor).remote(stopper)
        self.log(f"search: space {s.space}, budget {self.budget}, strategy {s.strategy}, {s.trials} trials of up to "
                 f"{s.epochs} epoch(s), {concurrent} at a time; run directory {self.out}")
        self.log(f"proxy: {_fidelity_text(self.data_line(), s, self.space.proxy_map)}")
        self.log(f"early stopping: {describe(stopper)}")
        if ctx is not None:
            self.log(ctx)
        for note in self.strategy.notes:
            self.log(f"note: {note}")
        pending: dict[Any, tuple[Any, float]] = {}
        started = time.time()
        def submit(trial: int, genome: Any, label: str, payload: Any, extra: dict[str, Any] | None = None) -> None:
            pid_file = str((self.out / "workers" / f"trial-{trial}.pids").resolve())
            own = {**spec, "pid_file": pid_file, "trial": trial, **(extra or {})}
            if payload[0] == "verdict":  # the verdict always runs every epoch, in one cycle
                own.pop("stopper", None)
                own.pop("restarts", None)
            ref = task.options(name=f"trial {trial}: {label}").remote(dumps(genome), own)
            pending[ref] = (payload, time.time())

        try:
            while True:
                n_done = sum(1 for e in done if e.trial >= 0)
                while len(pending) < concurrent and n_done + self._in_flight(pending) < s.trials:
                    c = self.strategy.ask()
                    if not self.budget.fits(self.space.cost(c.config)):  # a bug; never send it to a worker
                        raise AssertionError(f"candidate {c.id} is over the budget")
                    submit(c.id, c.genome, _short(c), ("candidate", c))
                if not pending:
                    break
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=60)
                for ref in ready:
                    payload, _ = pending.pop(ref)
                    ev = self._record(payload, _result(ray, ref))
                    done.append(ev)
                    metrics.update(done)
                    self._progress(ev, done, started, concurrent)
            if s.verdict:
                self._run_verdict(done, submit, pending, concurrent)
        except KeyboardInterrupt:
            self.log(f"interrupted: resume with `nas search --resume --out {self.out}`")
            raise
        finally:
            self._write_outputs(done)
        return self._summary(done)

    def recorded(self) -> tuple[list[Evaluation], MedianStopper | AshaStopper | None]:
        """What the store holds, ``trials.csv`` rewritten to match it, and the stopping rule with the recorded
        epochs replayed into it: everything a resumed search needs before its first new candidate."""
        done = self._done if self._done is not None else self.store.evaluations()
        self._done = None
        write_csv(self.out / "trials.csv", done)
        stopper = make_stopper(self.settings)
        if stopper is not None:
            replay(stopper, done)
        return done, stopper

    @staticmethod
    def _in_flight(pending: dict[Any, tuple[Any, float]]) -> int:
        return sum(1 for payload, _ in pending.values() if payload[0] == "candidate")

    def data_line(self) -> str:
        """What the proxy data is: name, source and split sizes."""
        import estimators

        ds = estimators.load_data(self.settings.dataset, self.settings.data_dir)
        test = len(ds.y_test) if ds.y_test is not None else 0
        return (f"{ds.name} from {ds.source}: {len(ds.y_train):,} train / {len(ds.y_val):,} validation / "
                f"{test:,} test images")

    def _record(self, payload: tuple[Any, ...], result: dict[str, Any]) -> Evaluation:
        if payload[0] == "verdict":
            _, entrant, seed = payload
            trial, g, origin, parent = entrant.trial(seed), entrant.genome, f"verdict:{entrant.label}", \
                entrant.search_trial
        else:
            c = payload[1]
            trial, g, origin, parent = c.id, c.genome, c.origin, c.parent
        short = g.short()
        c_full = cost(g)
        ok = result.get("status") == "ok"
        stopped = ok and bool(result.get("stopped"))
        pid_file = self.out / "workers" / f"trial-{trial}.pids"
        attempts = len(pid_file.read_text().split()) if pid_file.exists() else 1
        ev = Evaluation(
            trial=trial, genome=dumps(g), macs=c_full.macs, params=c_full.params, activations=c_full.activations,
            status=("stopped" if stopped else "ok") if ok else "failed", origin=origin, parent=parent, short=short,
            accuracy=result.get("accuracy") if ok else None, loss=result.get("loss") if ok else None,
            metrics={k: v for k, v in result.items() if k not in ("started", "finished", "worker")},
            fidelity={"epochs": result.get("epochs", self.settings.epochs), "dataset": self.settings.dataset,
                      "input": result.get("input"), **{k: result.get(k) for k in (
                          "split", "n_eval", "stderr", "resolution", "width", "train_images", "floor", "seed", "restarts")}},
            error=None if ok else (result.get("error") or "failed"), worker=result.get("worker"),
            attempts=max(1, attempts), started=result.get("started"), finished=result.get("finished") or time.time(),
            seconds=result.get("seconds") or (result.get("finished", 0) - result.get("started", 0)) or None)
        if payload[0] != "candidate":
            if self.store.record(ev):
                append_csv(self.out / "trials.csv", ev)
            return ev
        # The store is the record: the strategy's bounded state goes in with the result, in one transaction, and
        # only then does a study outside it (Optuna's) hear of the result; resuming reconciles the two.
        ev.config = dict(payload[1].config)
        self.strategy.tell(payload[1], told(ev), flush=False)
        if self.store.record(ev, self.strategy.state_dict(history=False)):
            append_csv(self.out / "trials.csv", ev)
        _crash_point("recorded")
        self.strategy.flush()
        return ev

    def _progress(self, ev: Evaluation, done: list[Evaluation], started: float, concurrent: int) -> None:
        s = self.settings
        n = sum(1 for e in done if e.trial >= 0)
        best = _best(done, self.budget.macs)
        elapsed = time.time() - started
        per = elapsed / max(1, len(done))
        left = max(0, s.trials - n) * per
        if ev.status == "ok":
            what = f"accuracy {ev.accuracy:.4f}"
        elif ev.status == "stopped":
            what = f"stopped after {ev.fidelity.get('epochs')} epoch(s) at accuracy {ev.accuracy or 0:.4f}"
        else:
            what = f"failed ({ev.error})"
        who = ev.origin.split(':', 1)[1] if ev.trial < 0 else f"trial {ev.trial}"
        best_txt = f"best {best.accuracy:.4f} (trial {best.trial}, {human(best.macs)} MACs)" if best else "best -"
        self.log(f"[{n}/{s.trials}] {who}: {what}, {human(ev.macs)} MACs, {ev.seconds or 0:.1f}s | {best_txt} | "
                 f"about {_duration(left)} left")

    # ------------------------------------------------------------ outputs

    def _write_outputs(self, done: list[Evaluation]) -> None:
        best = _best(done, self.budget.macs)
        verdict = self._verdict_report(done)
        winner = verdict[0] if verdict else None
        if winner is not None:
            save(winner.genome, self.out / "best.yaml")
        elif best:
            save(loads(best.genome), self.out / "best.yaml")
        if verdict:
            (self.out / "verdict.json").write_text(json.dumps(verdict[2], indent=2) + "\n")
        front = _pareto([e for e in done if e.trial >= 0 and e.status == "ok"])
        doc = [{"trial": e.trial, "accuracy": e.accuracy, "macs": e.macs, "params": e.params,
                "genome": loads(e.genome).to_dict()} for e in front]
        import yaml

        (self.out / "pareto.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        try:
            plot(self.out / "pareto.png", done, front, self.budget.macs, self.settings,
                  verdict[3] if verdict else [])
        except Exception as e:  # noqa: BLE001 - a plot must not lose a finished search
            self.log(f"note: pareto.png not written ({type(e).__name__}: {e})")

    def _summary(self, done: list[Evaluation]) -> Summary:
        best = _best(done, self.budget.macs)
        failed = sum(1 for e in done if e.trial >= 0 and e.status == "failed")
        summary = Summary(self.out, sum(1 for e in done if e.trial >= 0), failed, best, None, list(self.strategy.notes))
        if best:
            se = (best.fidelity or {}).get("stderr")
            self.log(f"search's best: trial {best.trial}, validation accuracy {best.accuracy:.4f}"
                     + (f" +- {se:.4f}" if se else "") + f" ({(best.fidelity or {}).get('epochs')} epoch proxy), "
                     f"{best.macs:,} MACs ({human(best.macs)}), {best.params:,} params")
        else:
            self.log("search's best: none (every evaluation failed)")
        verdict = self._verdict_report(done)
        if verdict:
            winner, lines, data, _ = verdict
            summary.verdict, summary.winner = data, winner.label if winner else None
            self.log(f"verdict on the {data['split']} split ({data['n_test']:,} images the search never read), "
                     f"{self.settings.verdict_epochs} epochs on all {data['n_train']:,} training images, mean of "
                     f"{self.settings.verdict_seeds} seeds +- standard error:")
            for line in lines:
                self.log(line if line.startswith("  ") else f"  {line}")
            if winner is not None:
                self.log(f"winner: {winner.label}, {winner.macs:,} MACs ({human(winner.macs)}) -> "
                         f"{self.out / 'best.yaml'}")
        elif not self.settings.verdict:
            self.log("verdict: off (--no-verdict); best.yaml is the search's best by its own validation score, "
                     "which is biased upwards as the best of many noisy scores")
        self.log(f"outputs: best.yaml, pareto.yaml, pareto.png, trials.csv, results.db"
                 f"{', verdict.json' if verdict else ''} in {self.out}")
        return summary

    # ------------------------------------------------------------ the verdict

    def _entrants(self, done: list[Evaluation]) -> list[Any]:
        """The top ``verdict_top`` distinct candidates within the budget and the seed (trained once if it is
        among them), each with the search's own score of that genome where it has one."""
        from .verdict import Entrant

        s = self.settings
        ok = [e for e in done if e.trial >= 0 and e.status == "ok" and e.macs <= self.budget.macs
              and e.accuracy is not None]
        by_key: dict[Any, Evaluation] = {}
        for e in sorted(ok, key=lambda e: (-e.accuracy, e.macs, e.trial)):
            by_key.setdefault(self._key(loads(e.genome)), e)
        entrants = [Entrant(i, f"trial {e.trial}", loads(e.genome), e.macs, e.trial, e.accuracy)
                    for i, e in enumerate(list(by_key.values())[: s.verdict_top])]
        seed = self._verdict_seed()
        if seed is not None:
            label, g, macs = seed
            key = self._key(g)
            same = next((e for e in entrants if self._key(e.genome) == key), None)
            if same is not None:  # a seed among the top candidates is trained once
                same.is_seed, same.label = True, f"{same.label} = {label}"
            else:
                hit = by_key.get(key)
                entrants.append(Entrant(len(entrants), label, g, macs, hit.trial if hit else None,
                                        hit.accuracy if hit else None, is_seed=True))
        for e in done:  # what finished before a crash is not run again
            if e.trial <= -100_000 and e.status == "ok":
                i, sd = divmod(-100_000 - e.trial, 100)
                if i < len(entrants) and e.origin == f"verdict:{entrants[i].label}":
                    entrants[i].results[sd] = e.metrics
        return entrants

    def _key(self, g: Any) -> Any:
        try:
            return tuple(sorted(self.space.encode(g).items()))
        except NasError:
            return dumps(g)

    def _verdict_seed(self) -> tuple[str, Any, int] | None:
        """The space's largest seed within the budget; with none within it, the nearest one repaired into it."""
        import nas
        import numpy as np

        seeds = []
        for name in self.space.seeds:
            config = self.space.encode(nas.seed(name))
            seeds.append((self.space.cost(config)[0], name, config))
        if not seeds:
            return None
        within = [t for t in seeds if t[0] <= self.budget.macs]
        if within:
            macs, name, config = max(within, key=lambda t: t[0])
            return f"seed {name} ({human(macs)})", self.space.decode(config), macs
        macs, name, config = min(seeds, key=lambda t: t[0])
        fixed = self.space.repair(config, np.random.default_rng(self.settings.seed), self.budget)
        macs2 = self.space.cost(fixed)[0]
        return f"seed {name} (repaired, {human(macs2)})", self.space.decode(fixed), macs2

    def _run_verdict(self, done: list[Evaluation], submit: Callable[..., None], pending: dict[Any, Any],
                     concurrent: int) -> None:
        import ray

        from .verdict import VERDICT_SEED

        s = self.settings
        entrants = self._entrants(done)
        if not entrants:
            self.log("verdict: nothing to retrain (no candidate completed within the budget)")
            return
        jobs = [(e, sd) for sd in range(s.verdict_seeds) for e in entrants if sd not in e.results]
        total = len(entrants) * s.verdict_seeds
        self.log(f"verdict: retraining {len(entrants)} networks ({', '.join(e.label for e in entrants)}) with "
                 f"{s.verdict_seeds} seeds for {s.verdict_epochs} epochs on all the training data, scored on the "
                 f"test split; {total - len(jobs)} of {total} already recorded")
        started, n0 = time.time(), total - len(jobs)
        extra = {"final": True, "epochs": s.verdict_epochs, "train_images": None}
        while jobs or pending:
            while jobs and len(pending) < concurrent:
                e, sd = jobs.pop(0)
                submit(e.trial(sd), e.genome, f"verdict {e.label}, seed {sd}", ("verdict", e, sd),
                       {**extra, "seed": s.seed + VERDICT_SEED + sd})
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=60)
            for ref in ready:
                payload, _ = pending.pop(ref)
                ev = self._record(payload, _result(ray, ref))
                done.append(ev)
                _, e, sd = payload
                if ev.status == "ok":
                    e.results[sd] = ev.metrics
                n = total - len(jobs) - len(pending)
                left = (time.time() - started) / max(1, n - n0) * (total - n)
                what = f"test accuracy {ev.accuracy:.4f}" if ev.status == "ok" else f"failed ({ev.error})"
                self.log(f"[verdict {n}/{total}] {e.label}, seed {sd}: {what}, {ev.seconds or 0:.1f}s | "
                         f"about {_duration(left)} left")

    def _verdict_report(self, done: list[Evaluation]) -> tuple[Any, list[str], dict[str, Any], list[Any]] | None:
        from .verdict import report

        if not any(e.trial <= -100_000 for e in done):
            return None
        entrants = self._entrants(done)
        runs = [r for e in entrants for r in e.results.values()]
        if not runs:
            return None
        winner, lines, data = report(entrants, "test")
        data.update(n_test=runs[0].get("n_eval") or 0, n_train=runs[0].get("train_images") or 0,
                    epochs=self.settings.verdict_epochs, seeds=self.settings.verdict_seeds,
                    winner=winner.label if winner else None)
        return winner, lines, data, entrants


# ---------------------------------------------------------------- helpers


def storage_url(out: Path, storage: str | None = None) -> str:
    """The results database: ``storage`` when given, else SQLite in the run directory."""
    return storage or f"sqlite:///{Path(out) / 'results.db'}"


def told(ev: Evaluation) -> dict[str, Any] | None:
    """What a strategy is told of a recorded candidate (None: it failed). A stopped trial is told as what it is:
    the accuracy it reached at a lower fidelity."""
    if ev.status not in ("ok", "stopped"):
        return None
    return {"accuracy": ev.accuracy, "loss": ev.loss, "macs": ev.macs, "params": ev.params,
            "epochs": (ev.fidelity or {}).get("epochs"), "stopped": ev.status == "stopped"}


def _crash_point(name: str) -> None:
    """For tests only: with ``NAS_TEST_CRASH=<name>:<n>`` set, the driver kills itself with SIGKILL the n-th time it
    passes the point ``name`` (``recorded``: a candidate's result is in the store, the study has not heard of it).
    Unset, as it is outside the test suite, this does nothing."""
    want = os.environ.get("NAS_TEST_CRASH", "")
    if not want.startswith(f"{name}:"):
        return
    _crash_point.count = getattr(_crash_point, "count", 0) + 1  # type: ignore[attr-defined]
    if str(_crash_point.count) == want.split(":", 1)[1]:  # type: ignore[attr-defined]
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def resume_settings(out: Path, storage: str | None = None) -> Settings:
    """The settings a run in ``out`` was started with; an empty or unknown run directory, or stored settings that
    are not this version's, are input mistakes (one line)."""
    out = Path(out)
    if storage is None and not (out / "results.db").exists():
        raise NasError(f"nothing to resume in '{out}': it holds no results.db")
    store = Store(storage_url(out, storage), run=out.resolve().name)
    config = store.config()
    if config is None:
        raise NasError(f"nothing to resume: no run named '{out.resolve().name}' in the results database")
    return settings_from(config, f"the settings stored in '{shown(store.url)}'")


def settings_from(config: dict[str, Any], where: str) -> Settings:
    """``Settings`` from stored JSON, each field checked against its declared type."""
    import dataclasses

    kinds = {"int": int, "float": (int, float), "str": str, "bool": bool, "list[int]": list}
    for f in dataclasses.fields(Settings):
        if f.name not in config:
            continue
        v = config[f.name]
        parts = [p.strip() for p in str(f.type).split("|")]
        if v is None and "None" in parts or f.name == "early_stop" and isinstance(v, bool):
            continue
        ok = any(isinstance(v, kinds[p]) and not (isinstance(v, bool) and p != "bool") for p in parts if p in kinds)
        if ok and isinstance(v, list):
            ok = all(isinstance(x, int) and not isinstance(x, bool) for x in v)
        if not ok:
            raise NasError(f"{where}: {f.name} is {str(v)[:40]!r}, not {' or '.join(parts)}")
    unknown = sorted(set(config) - {f.name for f in dataclasses.fields(Settings)})
    if unknown:
        raise NasError(f"{where}: unknown setting {unknown[0][:40]!r}")
    return Settings(**config)


def _fidelity_text(data: str, s: Settings, floor: int) -> str:
    """One line on what a proxy score means."""
    images = f"{s.train_images:,}" if s.train_images else "all"
    return (f"{data}; {images} training images per epoch, up to {s.epochs} epoch(s), width x{s.width:g}, batch "
            f"{s.batch_size}, native resolution with strides dropped where a map would fall below {floor}x{floor}; "
            f"scores are validation accuracy +- binomial standard error")


def _short(c: Any) -> str:
    return f"{c.macs / 1e6:.0f}M MACs, {c.origin}"


def _best(done: list[Evaluation], budget: int) -> Evaluation | None:
    ok = [e for e in done if e.trial >= 0 and e.status == "ok" and e.macs <= budget and e.accuracy is not None]
    return max(ok, key=lambda e: (e.accuracy, -e.macs, -e.trial)) if ok else None


def _pareto(evals: list[Evaluation]) -> list[Evaluation]:
    front, best = [], -math.inf
    for e in sorted(evals, key=lambda e: (e.macs, -(e.accuracy or 0))):
        if e.accuracy is not None and e.accuracy > best:
            front.append(e)
            best = e.accuracy
    return front


def _duration(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def _result(ray: Any, ref: Any) -> dict[str, Any]:
    try:
        return ray.get(ref)
    except Exception as e:  # noqa: BLE001 - a worker that died past its retries, or a task error
        cause = getattr(e, "cause", None) or e  # a task's own exception, not Ray's wrapper around it
        lines = [l for l in re.sub(r"\x1b\[[0-9;]*m", "", str(cause)).strip().splitlines() if l.strip()]
        return {"status": "failed", "error": f"{type(cause).__name__}: {lines[0] if lines else ''}"[:300]}


def _check_data(dataset: str, data_dir: str | None) -> None:
    import estimators

    if dataset not in estimators.DATASETS:
        raise NasError(f"unknown dataset '{dataset}'; datasets: {', '.join(estimators.DATASETS)}")
    if data_dir is not None and not Path(data_dir).is_dir():
        raise NasError(f"data directory '{data_dir}' does not exist")
    estimators.load_data(dataset, data_dir)  # the layout is checked here, once, before any worker starts


def _start_ray(address: str | None, dashboard: bool, host: str, log: Log) -> str | None:
    """Start a local Ray (or join ``address``); returns a line about the dashboard."""
    import logging

    import ray

    if ray.is_initialized():
        return None
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address:
        _reachable(address)
        kwargs["address"] = address
        # A cluster started on this machine with `ray start` uses the token in ~/.ray/auth_token; a driver joining
        # it must say so, or the handshake is refused. RAY_AUTH_MODE set by the user wins.
        if "RAY_AUTH_MODE" not in os.environ and _token_file().exists():
            os.environ["RAY_AUTH_MODE"] = "token"
    else:
        kwargs.update(include_dashboard=dashboard, dashboard_host=host)
    try:
        ctx = ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"reach the Ray cluster at '{address}'" if address else "start a local Ray"
        raise NasError(f"cannot {where}: {str(e).strip().splitlines()[0]}") from None
    if host not in ("127.0.0.1", "localhost") and not address:
        log(f"warning: the dashboard listens on {host}, beyond this machine; anyone who can reach it and holds "
            "the token can control the cluster")
    url = getattr(ctx, "dashboard_url", None)
    if not url:
        return "dashboard: off"
    token = _token_file()
    hint = f"; its REST API takes `Authorization: Bearer $(cat {token})`" if token.exists() else ""
    return f"dashboard: http://{url}{hint}"


def _token_file() -> Path:
    """Where Ray keeps the cluster's token: ``RAY_AUTH_TOKEN_PATH`` when set, else ``~/.ray/auth_token``."""
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return Path(path) if path else Path.home() / ".ray" / "auth_token"


def _fits(resources: dict[str, float], cpus: float, gpus: float) -> int:
    """How many trials the cluster runs at once; a trial no node could ever take is an input mistake (Ray would
    wait for it forever)."""
    have = {"CPU": resources.get("CPU", 0.0), "GPU": resources.get("GPU", 0.0)}
    for kind, need in (("CPU", cpus), ("GPU", gpus)):
        if need > have[kind]:
            flag = f"--{kind.lower()}s-per-trial"
            raise NasError(f"{flag} {need:g} asks for more than the Ray cluster has: {have[kind]:g} {kind}(s) in all")
    n = [int(have[kind] // need) for kind, need in (("CPU", cpus), ("GPU", gpus)) if need > 0]
    return max(1, min(n) if n else int(have["CPU"]))  # a trial that asks for nothing: one per CPU


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a HOST:PORT nothing listens on (Ray itself would keep retrying for minutes)."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise NasError(f"--address must be 'auto' or HOST:PORT, got '{address}'")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise NasError(f"cannot reach the Ray cluster at '{address}': nothing answers there ({e.strerror or e})") from None


class _Metrics:
    """Custom metrics on Ray's metrics endpoint: trials done and failed, best accuracy and its MACs."""

    def __init__(self, run: str) -> None:
        from ray.util.metrics import Gauge

        self.tags = {"run": run}
        self.done = Gauge("nas_trials_done", description="evaluations recorded", tag_keys=("run",))
        self.failed = Gauge("nas_trials_failed", description="evaluations that failed", tag_keys=("run",))
        self.best = Gauge("nas_best_accuracy", description="best accuracy within the budget", tag_keys=("run",))
        self.macs = Gauge("nas_best_macs", description="MACs of the best candidate", tag_keys=("run",))

    def update(self, done: list[Evaluation]) -> None:
        ours = [e for e in done if e.trial >= 0]
        self.done.set(len(ours), tags=self.tags)
        self.failed.set(sum(1 for e in ours if e.status == "failed"), tags=self.tags)
        best = _best(done, 2**62)
        if best:
            self.best.set(best.accuracy, tags=self.tags)
            self.macs.set(best.macs, tags=self.tags)
