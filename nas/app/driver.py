"""The search driver: a strategy proposes, Ray workers evaluate, the store records every result as it lands.

This is the one module that runs the loop on Ray. Candidates run as Ray tasks rather than Tune trials: the
strategies already own the ask/tell loop and a resumable state, and the store is the single record of what was
evaluated, so a task per candidate (named, with its CPU/GPU share, run again when its worker dies) is all the
machinery a search needs, with no Tune experiment state beside it. A driver killed at any moment resumes from the
store: completed evaluations are kept, the strategy continues from the state saved with the last of them and the
recorded history (an Optuna study is reconciled with the store), and candidates that were in flight are asked
again. A tabular estimator (``--estimator nb201``) runs through the same loop with no Ray at all: each lookup is
made in this process (``worker.Inline``). The pieces live beside it: settings (``settings``), jobs (``jobs``), the
worker side (``worker``), Ray itself (``raycluster``), evaluations (``evaluations``), the verdict (``verdict``),
outputs (``outputs``), and the views that follow the store (``views``: optuna-dashboard's study, TensorBoard).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from ..errors import NasError
from ..genome import dumps
from . import raycluster, scoring
from .evaluations import duration, evaluation, progress, told
from .jobs import Job, Kind, base_spec
from .latency import measured as measured_latency
from .outputs import Summary, summarize, write_outputs
from .settings import (
    Settings,
    budget_of,
    check_data,
    fidelity_text,
    record_data_line,
    recorded_data_line,
    space_of,
    storage_url,
    validate,
    verdict_width,
)
from .stopping import AshaStopper, MedianStopper, StoppingRule, decision_epochs, describe, make_stopper, replay
from .store import Evaluation, Lease, Store, append_csv, shown, sqlite_url, write_csv
from .verdict import Verdict
from .verdict.entrants import entrants, verdict_jobs
from .views import Views
from .worker import Evaluator, Inline, evaluate, failure, look_up, worker_died

Log = Callable[[str], None]


class Search:
    """One search run in ``out``: validated settings, the store, the strategy, the loop (on Ray, or in this process
    for a table lookup), the views and the outputs."""

    def __init__(self, settings: Settings, out: Path, *, storage: str | None = None, log: Log = print) -> None:
        import strategies

        # a copy: what the search fills in (the width, a supernet's settings) is its own, not the caller's
        self.settings = s = dataclasses.replace(settings)
        self.out, self.log = Path(out), log
        self.space = space_of(s)
        budget = budget_of(s)
        self.space.check_budget(dataclasses.replace(budget, latency_ms=None))  # the latency cap once the model is in
        self.budget = budget
        self.latency: Any = None  # the run's latency model under --max-latency-ms
        self.estimator = scoring.get(s.estimator)
        if self.estimator.prepare is not None:
            self.estimator.prepare(s, self.space)
        if s.width is None:
            s.width = self.space.proxy_width
        strategy_cls = strategies.get(s.strategy)
        validate(s)
        if s.evaluator:
            from .evaluator import load

            load(s.evaluator)  # one line now, not a failed trial per candidate later
        self.tabular = self.estimator.tabular
        self._data_line: str | None = None
        if self.tabular:
            s.verdict = False  # one figure per network: no held-out split to retrain on
        else:
            # a resume whose data are unchanged since the first start's check is not checked again (seconds)
            self._data_line = recorded_data_line(self.out, s)
            if self._data_line is None:
                check_data(s.dataset, s.data_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.store = Store(storage_url(self.out, storage), run=self.out.resolve().name)
        # One driver per run: a second one is refused before it touches anything. The hold is taken for the
        # setup and again by run(), which keeps it renewed until the search ends.
        self.lease = Lease(self.store)
        self._hold()
        try:
            self._open(s, storage, strategy_cls)
        finally:
            self.lease.release()
        self._pending: dict[Any, Job] = {}  # Ray object ref -> the job it runs
        self._task: Any = None
        self._spec: dict[str, Any] = {}
        self.views: Views | None = None

    def _hold(self) -> None:
        """Take the run's lease (a second driver is refused with one line), saying whose expired hold it took."""
        took = self.lease.take()
        if took:
            self.log(f"resume: took the run over from {took}, whose hold had expired (its driver died or hung)")

    def _open(self, s: Settings, storage: str | None, strategy_cls: Any) -> None:
        """Register the run in the store (or check it against what it holds) and start or resume the strategy."""
        log = self.log
        self.store.create(asdict(s))
        stored = self.store.config() or {}
        if stored.get("trials", s.trials) < s.trials:  # --resume --trials N: the run is extended
            log(f"resume: extending the run from {stored['trials']} to {s.trials} trials")
            self.store.update_config({**stored, "trials": s.trials})
        if self.budget.latency_ms is not None:
            from .latency import use_model

            self.latency = use_model(self.out, self.space, self.budget, s.seed, log)
            self.budget = self.space.check_budget(self.budget)
        options = {}
        if s.strategy in ("optuna", "nsga2"):  # the study lives beside the results: in the run, or the shared database
            options = {"storage": self.store.url, "study_name": f"nas-{self.store.run}"} if storage else \
                {"storage": sqlite_url(self.out / "optuna.db")}
        self.strategy = strategy_cls(self.space, budget=self.budget, seed=s.seed, **options)
        state = self.store.state()
        self._done: list[Evaluation] | None = None  # the records, read once for the strategy and the outputs
        if state:
            self._done = self.store.evaluations()
            self._resume_strategy(state)
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
            evaluator: Evaluator = evaluate) -> Summary:
        """Evaluate candidates until ``trials`` are recorded; outputs are written as results land.

        ``evaluator(genome_yaml, spec) -> dict`` runs in a Ray worker (default: proxy training; with a tabular
        estimator, in this process, default: the table lookup); its dict needs ``status`` and, when ok,
        ``accuracy``.
        """
        self._hold()
        try:
            self.lease.keep()
            return self._run(address, dashboard, dashboard_host, evaluator)
        finally:
            self.lease.release()

    def _run(self, address: str | None, dashboard: bool, dashboard_host: str, evaluator: Evaluator) -> Summary:
        s = self.settings
        done, stopper = self.recorded()
        self.views = Views.open(self.out, s, self.space, self.log)
        self.views.rebuild(done)
        if self.tabular:
            metrics, concurrent, ctx = None, 1, None
            self._task = Inline(look_up if evaluator is evaluate else evaluator)
        else:
            metrics, concurrent, ctx = self._start_ray(stopper, address, dashboard, dashboard_host, evaluator)
        where = f" (template {s.space})" if s.space_yaml is not None else ""
        self.log(f"search: space {self.space.name}{where}, budget {self.budget}, strategy {s.strategy}, "
                 f"{s.trials} trials"
                 + ("" if self.tabular else f" of up to {s.epochs} epoch(s)") + f", {concurrent} at a time; run "
                 f"directory {self.out}")
        if self.tabular:
            self.log("scores: NAS-Bench-201's CIFAR-10 test accuracy after 200 epochs (mean over the benchmark's "
                     "seeds), looked up in the table shipped with nas, in this process: nothing is trained and no "
                     "Ray worker starts; +- is the binomial standard error over its 10,000 test images")
        else:
            if s.evaluator:
                self.log(f"scores: {s.evaluator}, your evaluator, on {self.data_line()}; up to {s.epochs} epoch(s), "
                         f"seed {s.seed}; what its accuracy means is its own")
            else:
                self.log(f"proxy: {fidelity_text(self.data_line(), s, self.space.proxy_map)}")
            self.log(f"early stopping: {describe(stopper)}")
        if ctx is not None:
            self.log(ctx)
        for note in self.strategy.notes:
            self.log(f"note: {note}")
        started, before = time.time(), len(done)
        verdict: Verdict | None = None
        try:
            while True:
                if self.lease.lost:
                    raise NasError(f"{self.lease.lost}: this driver stops; its results so far are recorded")
                n_done = sum(1 for e in done if e.trial >= 0)
                while len(self._pending) < concurrent and n_done + self._in_flight() < s.trials:
                    c = self.strategy.ask()
                    if not self.budget.fits(self.space.cost(c.config)):  # a bug; never send it to a worker
                        raise AssertionError(f"candidate {c.id} is over the budget")
                    self._submit(Job.for_candidate(c))
                if not self._pending:
                    break
                for job, result in self._collect():
                    ev = self._record(job, result)
                    done.append(ev)
                    if metrics is not None:
                        metrics.update(done)
                    self.log(progress(ev, done, s.trials, self.budget.macs, time.time() - started, before))
            if self.estimator.funnel:
                self._run_audit(done, concurrent)
            if self.latency is not None:
                self._measure_finalists(done)
            if s.verdict:
                self._run_verdict(done, concurrent)
        except KeyboardInterrupt:
            self.log(f"interrupted: resume with `nas search --resume --out {self.out}`")
            raise
        finally:
            verdict = write_outputs(self.out, done, self.space, self.budget, s, self.log)
        return summarize(self.out, done, self.budget, s, verdict, self.strategy.notes, self.log)

    def _start_ray(self, stopper: MedianStopper | AshaStopper | None, address: str | None, dashboard: bool,
                   dashboard_host: str, evaluator: Evaluator) -> tuple[raycluster.Metrics, int, str | None]:
        """Start or join Ray, make the evaluator a Ray task and the stopping rule an actor; returns the search's
        metrics, how many candidates run at once and the line about the dashboard (None: Ray was already up)."""
        import ray

        s = self.settings
        ctx = raycluster.start_ray(address, dashboard, dashboard_host, self.log)
        metrics = raycluster.Metrics(self.out.resolve().name)
        concurrent = s.max_concurrent or raycluster.fits(ray.cluster_resources(), s.cpus_per_trial, s.gpus_per_trial)
        # Ray does not run a task again itself (max_retries=0): the driver does, so that it counts the attempts
        # wherever the workers are, and records how many a result took
        self._task = ray.remote(num_cpus=s.cpus_per_trial, num_gpus=s.gpus_per_trial, max_retries=0,
                                retry_exceptions=False)(evaluator)
        self._spec = base_spec(s, self.space.proxy_map)
        if stopper is not None:
            self._spec["restarts"] = decision_epochs(stopper, s.epochs)
            # the actor starts from the replayed state: it is built here and handed over whole
            self._spec["stopper"] = ray.remote(num_cpus=0)(StoppingRule).remote(stopper)
        return metrics, concurrent, ctx

    def recorded(self) -> tuple[list[Evaluation], MedianStopper | AshaStopper | None]:
        """What the store holds, ``trials.csv`` rewritten to match it, and the stopping rule with the recorded
        epochs replayed into it: everything a resumed search needs before its first new candidate."""
        done = self._done if self._done is not None else self.store.evaluations()
        self._done = None
        write_csv(self.out / "trials.csv", done)
        stopper = None if self.tabular else make_stopper(self.settings)
        if stopper is not None:
            replay(stopper, done)
        return done, stopper

    def _in_flight(self) -> int:
        """Candidates submitted and not yet recorded (verdict jobs do not count towards --trials)."""
        return sum(1 for job in self._pending.values() if job.kind is Kind.CANDIDATE)

    def _submit(self, job: Job) -> None:
        """Start ``job`` as a Ray task named for the dashboard."""
        ref = self._task.options(name=job.name).remote(dumps(job.genome), job.spec(self._spec))
        self._pending[ref] = job

    def _collect(self) -> list[tuple[Job, dict[str, Any]]]:
        """The jobs that finished within a minute, with their results. A job whose worker died is submitted again
        as its next attempt while it has retries left; past them, or for any other error, it is a failed result."""
        get: Callable[[Any], Any]
        if isinstance(self._task, Inline):
            ready, get = list(self._pending), self._task.get
        else:
            import ray

            ready, _ = ray.wait(list(self._pending), num_returns=1, timeout=60)
            get = ray.get
        out = []
        for ref in ready:
            job = self._pending.pop(ref)
            try:
                out.append((job, get(ref)))
            except Exception as e:  # noqa: BLE001 - a worker that died, or an error the task raised
                if worker_died(e) and job.attempt <= self.settings.retries:
                    self.log(f"{job.name}: its worker died ({type(e).__name__}); attempt {job.attempt + 1} of "
                             f"{self.settings.retries + 1}")
                    self._submit(job.again())
                else:
                    out.append((job, failure(e)))
        return out

    def data_line(self) -> str:
        """What the proxy data is: name, source and split sizes (recorded in the run for its next start)."""
        if self._data_line is not None:
            return self._data_line
        import estimators

        ds = estimators.load_data(self.settings.dataset, self.settings.data_dir)
        test = len(ds.y_test) if ds.y_test is not None else 0
        self._data_line = (f"{ds.name} from {ds.source}: {len(ds.y_train):,} train / {len(ds.y_val):,} validation / "
                           f"{test:,} test images")
        record_data_line(self.out, self.settings, ds.source, self._data_line)
        return self._data_line

    def _record(self, job: Job, result: dict[str, Any]) -> Evaluation:
        """Store ``job``'s result (and, for a candidate, tell the strategy); returns its record."""
        ev = evaluation(job, result, self.settings)
        if job.kind is not Kind.CANDIDATE:
            if self.store.record(ev):
                append_csv(self.out / "trials.csv", ev)
                self._view(ev)
            return ev
        # The store is the record: the strategy's bounded state goes in with the result, in one transaction, and
        # only then does a study outside it (Optuna's) hear of the result; resuming reconciles the two.
        self.strategy.tell(job.candidate, told(ev), flush=False)
        if self.store.record(ev, self.strategy.state_dict(history=False)):
            append_csv(self.out / "trials.csv", ev)
            self._view(ev)
        self.strategy.flush()
        return ev

    def _view(self, ev: Evaluation) -> None:
        """Tell the views (optuna-dashboard's study, TensorBoard) of a new record."""
        if self.views is not None:
            self.views.add(ev)

    # ------------------------------------------------------------ the supernet's audit

    def _run_audit(self, done: list[Evaluation], concurrent: int) -> None:
        """Train the audited and the top candidates standalone; log the tau between the two rankings."""
        from . import audit

        s = self.settings
        jobs = audit.audit_jobs(done, self.budget.macs, s.audit, s.rescore)
        n = len(audit.picks(done, self.budget.macs, s.audit, s.rescore))
        self.log(f"supernet audit: training {n} candidates standalone at the proxy ({s.epochs} epoch(s), no early "
                 f"stopping): {s.audit} spread over the supernet's ranking and its top {s.rescore}, the best of "
                 f"which is the winner; {n - len(jobs)} already recorded")
        started, total = time.time(), len(jobs)
        for i, (job, ev) in enumerate(self._run_jobs(jobs, concurrent)):
            done.append(ev)
            what = f"accuracy {ev.accuracy:.4f}" if ev.status == "ok" else f"failed ({ev.error})"
            left = (time.time() - started) / (i + 1) * (total - i - 1)
            self.log(f"[audit {i + 1}/{total}] {job.label}: {what}, {ev.seconds or 0:.1f}s | about "
                     f"{duration(left)} left")
        lines, data = audit.report(done, self.budget.macs, s.audit)
        first = next(iter(audit.rescored(done, self.budget.macs, s.rescore)), None)
        if first is not None:
            data["winner"] = first.trial
            have = audit.standalone(done)
            lines.append(f"funnel: trial {first.trial} ({first.macs / 1e6:.0f}M MACs) is the best of the supernet's "
                         f"top {s.rescore} by standalone training" + (f" ({have[first.trial].accuracy:.4f})"
                                                                     if first.trial in have else ""))
        for line in lines:
            self.log(line)
        (self.out / "audit.json").write_text(json.dumps(data, indent=2) + "\n")

    def _run_jobs(self, jobs: list[Job], concurrent: int) -> Any:
        """Run ``jobs`` (stored, never told), ``concurrent`` at a time; yields each with its record as it lands."""
        while jobs or self._pending:
            while jobs and len(self._pending) < concurrent:
                self._submit(jobs.pop(0))
            for job, result in self._collect():
                yield job, self._record(job, result)

    # ------------------------------------------------------------ the verdict

    def _measure_finalists(self, done: list[Evaluation]) -> None:
        """Under --max-latency-ms: measure the search's best for real, in order, until the verdict has its
        entrants (or the best alone, without a verdict) within the cap; the verdict passes over the others."""
        from .latency import measure_finalists
        from .verdict.entrants import ranked

        s = self.settings
        order = ranked(done, self.space, self.budget, s).values()
        measure_finalists(self.out, order, self.latency, self.budget.latency_ms, s.verdict_top if s.verdict else 1,
                          self.log)

    def _run_verdict(self, done: list[Evaluation], concurrent: int) -> None:
        """Retrain the verdict's entrants with each seed, skipping what a crashed run already recorded."""
        s = self.settings
        entries = entrants(done, self.space, self.budget, s, measured_latency(self.out))
        if not entries:
            self.log("verdict: nothing to retrain (no candidate completed within the budget)")
            return
        jobs = verdict_jobs(entries, s)
        total = len(entries) * s.verdict_seeds
        width, why = verdict_width(s)
        winner = next((e for e in entries if e.top), None)
        self.log(f"verdict: retraining {len(entries)} networks ({', '.join(e.label for e in entries)}) with "
                 f"{s.verdict_seeds} seeds for {s.verdict_epochs} epochs on all the training data, scored on the "
                 f"test split; {total - len(jobs)} of {total} already recorded")
        how = (f"the best of the {s.estimator} estimator's top {s.rescore} by standalone training"
               if self.estimator.funnel else "the search's best by its own score")
        against = ("it is compared with the baseline, the space's hand-designed network scaled to the budget"
                   if any(e.is_seed for e in entries) else "the space has no hand-designed network to compare it "
                   "with, so its test accuracy is reported alone")
        self.log(f"verdict: the winner is {winner.label if winner else 'none'}, {how}, fixed before any test image "
                 f"is read; {against}")
        self.log(f"verdict: networks retrained at width x{width:g}, {why}")
        started, n0 = time.time(), total - len(jobs)
        while jobs or self._pending:
            while jobs and len(self._pending) < concurrent:
                self._submit(jobs.pop(0))
            for job, result in self._collect():
                ev = self._record(job, result)
                done.append(ev)
                e = job.entrant
                assert e is not None  # a verdict job always names its entrant
                if ev.status == "ok":
                    e.results[job.seed] = ev.metrics
                n = total - len(jobs) - len(self._pending)
                left = (time.time() - started) / max(1, n - n0) * (total - n)
                what = f"test accuracy {ev.accuracy:.4f}" if ev.status == "ok" else f"failed ({ev.error})"
                self.log(f"[verdict {n}/{total}] {e.label}, seed {job.seed}: {what}, {ev.seconds or 0:.1f}s | "
                         f"about {duration(left)} left")
