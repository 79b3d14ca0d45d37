"""The search driver's parts, each without Ray: settings and their checks, the job record, the record a result
becomes, the outputs and summary from given evaluations, the cluster arithmetic and metrics, the worker's failure
lines, and the driver's own count of attempts (with a stand-in for Ray's wait and get)."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import nas
import search_spaces
import strategies
from nas.app.evaluations import best, duration, evaluation, pareto, progress, told
from nas.app.jobs import Job, Kind, base_spec
from nas.app.outputs import summarize, write_outputs
from nas.app.raycluster import dashboard_line, fits, gauges, reachable, token_file
from nas.app.settings import Settings, fidelity_text, resume_settings, settings_from, validate
from nas.app.store import Evaluation
from nas.app.verdict import VERDICT_SEED, VERDICT_TRIALS, Entrant
from nas.app.verdict.entrants import entrants, verdict_jobs
from nas.app.worker import failure, worker_died
from nas.errors import NasError

SPACE = search_spaces.get("cell")
BUDGET = SPACE.check_budget("60M")


def candidates(n: int, seed: int = 0) -> list[Any]:
    """``n`` candidates of the cell space, as the random strategy proposes them."""
    s = strategies.get("random")(SPACE, budget=BUDGET, seed=seed)
    return [s.ask() for _ in range(n)]


def ok(accuracy: float, **more: Any) -> dict[str, Any]:
    """A worker's result for a candidate that trained."""
    return {"status": "ok", "accuracy": accuracy, "loss": 1.0, "epochs": 2, "worker": "host:7", "started": 10.0,
            "finished": 12.5, **more}


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize("change, message", [
    ({"trials": 0}, "--trials 0: it must be from 1 to 1,000,000,000"),
    ({"epochs": -1}, "--epochs -1: it must be from 1 to 1,000,000,000"),
    ({"early_stop": "hyperband"}, "unknown early-stopping rule 'hyperband'; rules: "),
    ({"eta": 1}, "--eta 1: it must be from 2 to 1,000"),
    ({"cpus_per_trial": 0.00001}, "--cpus-per-trial 1e-05: it must be from 0 to 10,000 in steps of 0.0001"),
    ({"cpus_per_trial": 0.0}, "--cpus-per-trial 0.0: a trial must ask for some CPU or GPU"),
    ({"seed": 2**32}, "--seed 4294967296: it must be from 0 to 2^32 - 1"),
    ({"verdict_top": -3}, "--verdict-top -3: it must be from 1 to 1,000"),
    ({"width": 0.0}, "--width 0.0: it must be from 0.001"),
])
def test_settings_no_search_can_run_with_are_one_line(change, message) -> None:
    with pytest.raises(NasError) as exc:
        validate(Settings(**change))
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)
    validate(Settings())  # the defaults pass


def test_early_stop_off_reads_as_none() -> None:
    assert Settings(early_stop="off").early_stop is None


@pytest.mark.parametrize("config, message", [
    ({"trials": True}, "trials is 'True', not int"),
    ({"trials": 2.5}, "trials is '2.5', not int"),
    ({"input": [3, "32", 32]}, "input is "),
    ({"cpus_per_trial": "1"}, "cpus_per_trial is '1', not float"),
    ({"warp": 9}, "unknown setting 'warp'"),
    ({"references": 0}, "unknown setting 'references'"),  # a key of no release
    ({"width": -1.0}, "width is '-1.0'; it must be from 0.001"),
    ({"verdict_top": -3}, "verdict_top is '-3'; it must be from 1 to 1,000"),
    ({"verdict_seeds": 0}, "verdict_seeds is '0'; it must be from 1 to 1000"),
    ({"train_images": -5}, "train_images is '-5'; it must be at least 1"),
    ({"trials": 10**30}, "trials is '1000000000000000000000000000000'; it must be from 1 to"),
    ({"cpus_per_trial": float("nan")}, "cpus_per_trial is 'nan'; it must be from 0 to"),
    ({"input": [3, 0, 224]}, "input is '[3, 0, 224]'; it must be three sides"),
])
def test_stored_settings_are_checked_field_by_field(config, message) -> None:
    with pytest.raises(NasError, match=f"^where: {re.escape(message)}"):
        settings_from(config, "where")


def test_stored_settings_round_trip() -> None:
    s = Settings(space="cell", input=[3, 32, 32], cpus_per_trial=2, early_stop=None, data_dir=None)
    assert settings_from(json.loads(json.dumps(dataclasses.asdict(s))), "here") == s


def test_nothing_to_resume_is_one_line(tmp_path) -> None:
    with pytest.raises(NasError, match="^nothing to resume in '.*': it holds no results.db$"):
        resume_settings(tmp_path)


def test_the_fidelity_line_says_what_a_score_means() -> None:
    line = fidelity_text("synthetic", Settings(width=0.5, train_images=None, epochs=3), 8)
    assert line.startswith("synthetic; all training images per epoch, up to 3 epoch(s), width x0.5, batch 64")
    assert "below 8x8" in line


# ---------------------------------------------------------------- the job record


def test_a_candidate_job_names_its_task_and_counts_its_attempts() -> None:
    (c,) = candidates(1)
    job = Job.for_candidate(c)
    assert (job.kind, job.trial, job.origin, job.parent, job.attempt) == (Kind.CANDIDATE, c.id, c.origin, c.parent, 1)
    assert job.name == f"trial {c.id}: {c.origin}, {c.macs / 1e6:.0f}M MACs"
    child = dataclasses.replace(c, id=12, origin="mutation", parent=7)
    assert Job.for_candidate(child).name == f"trial 12: mutation of trial 7, {c.macs / 1e6:.0f}M MACs"
    again = job.again()
    assert again.attempt == 2 and again.again().attempt == 3 and job.attempt == 1  # a new record each time
    assert dataclasses.replace(again, attempt=1) == job
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.attempt = 5  # type: ignore[misc]
    base = {**base_spec(Settings(epochs=3), 8), "stopper": object(), "restarts": [1]}
    spec = again.spec(base)
    assert spec["trial"] == c.id and spec["attempt"] == 2 and spec["epochs"] == 3 and spec["floor"] == 8
    assert spec["stopper"] is base["stopper"] and spec["restarts"] == [1]
    assert "attempt" not in base  # the search's spec is shared by every job: never changed


def test_a_verdict_job_trains_every_epoch_on_its_own_seed() -> None:
    e = Entrant(1, "trial 4", candidates(1)[0].genome, 1000, search_trial=4)
    job = Job.for_verdict(e, 1, base_seed=7, epochs=5)
    assert job.kind is Kind.VERDICT and job.kind == "verdict"
    assert job.trial == e.trial(1) == VERDICT_TRIALS - 5001 and job.origin == "verdict:trial 4" and job.parent == 4
    assert job.name == "verdict trial 4, seed 1"
    spec = job.spec({**base_spec(Settings(), 8), "stopper": object(), "restarts": [1]})
    assert "stopper" not in spec and "restarts" not in spec
    assert spec["final"] is True and spec["epochs"] == 5 and spec["train_images"] is None
    assert spec["seed"] == 7 + VERDICT_SEED + 1 and spec["attempt"] == 1


def test_verdict_jobs_skip_what_is_recorded_and_go_seed_by_seed() -> None:
    g = candidates(1)[0].genome
    a, b = Entrant(0, "trial 0", g, 1), Entrant(1, "seed x", g, 1, is_seed=True)
    a.results[0] = {"accuracy": 0.5}
    jobs = verdict_jobs([a, b], Settings(verdict_seeds=2))
    assert [(j.entrant.label, j.seed) for j in jobs] == [("seed x", 0), ("trial 0", 1), ("seed x", 1)]


# ---------------------------------------------------------------- records


def test_a_result_becomes_its_record() -> None:
    c = candidates(1)[0]
    s = Settings(space="cell", dataset="synthetic", epochs=2)
    ev = evaluation(Job.for_candidate(c).again(), ok(0.75, split="validation", stderr=0.01, history=[1]), s)
    assert (ev.trial, ev.status, ev.accuracy, ev.loss, ev.attempts, ev.worker) == (c.id, "ok", 0.75, 1.0, 2, "host:7")
    assert ev.macs == c.macs and ev.config == dict(c.config) and ev.seconds == 2.5
    assert ev.fidelity["split"] == "validation" and ev.fidelity["dataset"] == "synthetic" and ev.fidelity["epochs"] == 2
    assert "worker" not in ev.metrics and ev.metrics["history"] == [1]
    assert told(ev) == {"accuracy": 0.75, "loss": 1.0, "macs": c.macs, "params": ev.params, "epochs": 2,
                        "stopped": False}
    stopped = evaluation(Job.for_candidate(c), ok(0.4, stopped=True, epochs=1), s)
    assert stopped.status == "stopped" and told(stopped)["stopped"] and told(stopped)["epochs"] == 1
    bad = evaluation(Job.for_candidate(c), {"status": "failed", "error": "RuntimeError: boom", "accuracy": 0.9}, s)
    assert (bad.status, bad.accuracy, bad.error, bad.attempts) == ("failed", None, "RuntimeError: boom", 1)
    assert told(bad) is None


def records(accuracies: list[float | None]) -> list[Evaluation]:
    """Recorded candidates with these accuracies (None: failed), in trial order."""
    s = Settings(space="cell", dataset="synthetic")
    return [evaluation(Job.for_candidate(c), ok(a) if a is not None else {"status": "failed", "error": "x"}, s)
            for c, a in zip(candidates(len(accuracies)), accuracies)]


def test_best_pareto_and_progress_read_the_records() -> None:
    done = records([0.5, None, 0.7, 0.6])
    top = best(done, BUDGET.macs)
    assert top is done[2] and best(done, 0) is None
    front = pareto([e for e in done if e.status == "ok"])
    assert front and all(a.macs <= b.macs and a.accuracy < b.accuracy for a, b in zip(front, front[1:]))
    line = progress(done[1], done[:2], 4, BUDGET.macs, 30.0)
    assert line.startswith("[2/4] trial 1: failed (x), ") and "best 0.5000 (trial 0" in line
    assert line.endswith("about 30s left")
    # after --resume, the time left comes from this start's records only: 1 new after 3 old, 10 s for it
    assert progress(done[3], done, 12, BUDGET.macs, 10.0, before=3).endswith("about 1m20s left")
    assert duration(5) == "5s" and duration(245) == "4m05s"


def test_outputs_and_summary_from_given_evaluations(tmp_path) -> None:
    import nas

    done = records([0.5, None, 0.7, 0.6])
    s = Settings(space="cell", dataset="synthetic", verdict=False)
    lines: list[str] = []
    verdict = write_outputs(tmp_path, done, SPACE, BUDGET, s, lines.append)
    assert verdict is None
    assert nas.dumps(nas.load(tmp_path / "best.yaml")) == done[2].genome
    import yaml

    assert [d["trial"] for d in yaml.safe_load((tmp_path / "pareto.yaml").read_text())] == \
        [e.trial for e in pareto([e for e in done if e.status == "ok"])]
    summary = summarize(tmp_path, done, BUDGET, s, verdict, ["a note"], lines.append)
    assert (summary.evaluations, summary.failed, summary.best, summary.notes) == (4, 1, done[2], ["a note"])
    assert any(l.startswith("search's best: trial 2, validation accuracy 0.7000") for l in lines)
    assert any(l.startswith("verdict: off (--no-verdict)") for l in lines)
    # the outputs line names what is there (the driver writes the store, trials.csv and the views)
    assert lines[-1] == f"outputs: best.yaml, pareto.yaml, pareto.png in {tmp_path}"
    for name in ("trials.csv", "results.db", "dashboard.db"):
        (tmp_path / name).touch()
    (tmp_path / "tensorboard").mkdir()
    summarize(tmp_path, done, BUDGET, s, verdict, [], lines.append)  # no curves yet: not named
    assert lines[-2:] == [f"outputs: best.yaml, pareto.yaml, pareto.png, trials.csv, results.db, dashboard.db in "
                          f"{tmp_path}", f"look: `nas dashboard {tmp_path}` opens the study in optuna-dashboard"]
    (tmp_path / "tensorboard" / "trial-0000").mkdir()
    summarize(tmp_path, done, BUDGET, s, verdict, [], lines.append)
    assert lines[-2:] == [
        f"outputs: best.yaml, pareto.yaml, pareto.png, trials.csv, results.db, dashboard.db, tensorboard/ in "
        f"{tmp_path}",
        f"look: `nas dashboard {tmp_path}` opens the study in optuna-dashboard; `tensorboard --logdir "
        f"{tmp_path / 'tensorboard'}` the learning curves"]


def test_the_entrants_are_the_top_distinct_candidates_and_their_recorded_runs() -> None:
    *done, better = records([0.5, None, 0.7, 0.6, 0.8])
    e = entrants(done, SPACE, BUDGET, Settings(verdict_top=2))
    assert [x.label for x in e] == ["trial 2", "trial 3"]  # the cell space has no seed
    ran = dataclasses.replace(done[0], trial=e[1].trial(1), origin="verdict:trial 3", metrics={"accuracy": 0.9})
    again = entrants(done + [ran], SPACE, BUDGET, Settings(verdict_top=2))
    assert again[1].results == {1: {"accuracy": 0.9}} and again[0].results == {}
    # a better trial arrives (a run extended with more trials): trial 3's retraining stays trial 3's
    later = entrants(done + [ran, better], SPACE, BUDGET, Settings(verdict_top=2))
    assert [x.label for x in later] == ["trial 4", "trial 2"] and all(x.results == {} for x in later)
    again = entrants(done + [ran, better], SPACE, BUDGET, Settings(verdict_top=3))
    assert again[2].label == "trial 3" and again[2].results == {1: {"accuracy": 0.9}}


def test_verdict_ids_never_collide_and_name_network_and_seed() -> None:
    from nas.app.verdict import VERDICT_SEEDS_MAX, verdict_run

    ids = {Entrant(i, f"trial {t}", None, 0, search_trial=t).trial(sd)
           for i, t in enumerate([0, 1, 99, 100]) for sd in range(VERDICT_SEEDS_MAX)}
    ids |= {Entrant(4, "baseline", None, 0, is_seed=True, top=False).trial(sd) for sd in range(VERDICT_SEEDS_MAX)}
    assert len(ids) == 5 * VERDICT_SEEDS_MAX and max(ids) == VERDICT_TRIALS
    assert verdict_run(Entrant(0, "trial 99", None, 0, search_trial=99).trial(100)) == (100, 100)
    with pytest.raises(NasError, match=r"^--verdict-seeds 1001: it must be from 1 to 1000$"):
        validate(Settings(verdict_seeds=1001))


def test_trials_csv_names_every_id_in_words() -> None:
    from nas.app.store import Evaluation, csv_row
    from nas.app.verdict import AUDIT_TRIALS, run_name

    retraining = Entrant(1, "trial 99", None, 0, search_trial=99).trial(3)
    baseline = Entrant(0, "baseline", None, 0, is_seed=True, top=False).trial(0)
    assert [run_name(t) for t in (12, retraining, baseline, AUDIT_TRIALS - 7)] == [
        "trial 12", "verdict: trial 99, seed 3", "verdict: baseline, seed 0", "audit: trial 7"]
    row = csv_row(Evaluation(trial=retraining, genome="g", macs=1, params=1, status="ok", origin="verdict:trial 99"))
    assert list(row)[:3] == ["trial", "name", "origin"] and row["name"] == "verdict: trial 99, seed 3"


# ---------------------------------------------------------------- Ray itself, without Ray


def test_trials_in_flight_fit_the_cluster() -> None:
    assert fits({"CPU": 16.0, "GPU": 1.0}, 1, 0.25) == 4 and fits({"CPU": 3.0}, 0, 0) == 3
    with pytest.raises(NasError, match=r"^--cpus-per-trial 4 asks for more than the Ray cluster has: 2 CPU"):
        fits({"CPU": 2.0}, 4, 0)


def test_the_metrics_follow_the_records() -> None:
    done = records([0.5, None, 0.7])
    assert gauges(done) == {"nas_trials_done": 3.0, "nas_trials_failed": 1.0, "nas_best_accuracy": 0.7,
                            "nas_best_macs": float(done[2].macs)}
    assert gauges([]) == {"nas_trials_done": 0.0, "nas_trials_failed": 0.0}


def test_the_token_file_and_the_dashboard_line(tmp_path, monkeypatch) -> None:
    token = tmp_path / "token"
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token))
    assert token_file() == token
    assert dashboard_line(None) == "dashboard: off"
    first = "dashboard: http://127.0.0.1:8265 (the job's Tasks list the trials as `trial N: ...`)"
    assert dashboard_line("127.0.0.1:8265") == first  # no token file: no login to explain
    token.write_text("secret")
    lines = dashboard_line("127.0.0.1:8265", "http://10.0.0.5:61234/metrics").splitlines()
    assert lines[0] == first
    # the web page's dialog: where the token comes from; the REST header; where the metrics are
    assert "paste what `ray get-auth-token` prints" in lines[1] and f"(the contents of {token})" in lines[1]
    assert lines[2] == (f'  REST API: curl -H "Authorization: Bearer $(cat {token})" '
                        "http://127.0.0.1:8265/api/v0/tasks")
    assert lines[3].startswith("  metrics: nas_trials_done") and "at http://10.0.0.5:61234/metrics" in lines[3]
    assert "Prometheus and Grafana" in lines[3]
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH")
    assert token_file() == Path.home() / ".ray" / "auth_token"


@pytest.mark.parametrize("address", ["nohost", "host:port", "ray://:10001"])
def test_an_address_that_is_not_host_port_is_one_line(address) -> None:
    with pytest.raises(NasError, match=f"^--address must be 'auto' or HOST:PORT, got '{address}'$"):
        reachable(address)


def test_a_failure_is_one_line_of_the_task_s_own_error() -> None:
    assert failure(ValueError("bad\nmore")) == {"status": "failed", "error": "ValueError: bad"}
    wrapped = RuntimeError("ray's account")
    wrapped.cause = KeyError("width")  # type: ignore[attr-defined]
    assert failure(wrapped)["error"] == "KeyError: 'width'"
    assert failure(OSError("\x1b[31mred\x1b[0m " + "x" * 400))["error"].startswith("OSError: red x")
    assert len(failure(OSError("x" * 400))["error"]) == 300


def fake_ray_exceptions() -> types.ModuleType:
    """Stand-ins for Ray's exception classes. Importing Ray here would load it into the test process before the
    Ray tests' private cluster has set its environment (Ray reads its authentication mode once, when loaded)."""
    rx = types.ModuleType("ray.exceptions")
    for name in ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "ObjectLostError", "RayTaskError"):
        setattr(rx, name, type(name, (Exception,), {}))
    return rx


@pytest.fixture
def rx(monkeypatch) -> types.ModuleType:
    """Ray's exceptions, faked, where the driver looks them up (``sys.modules``)."""
    fake = fake_ray_exceptions()
    monkeypatch.setitem(sys.modules, "ray.exceptions", fake)
    return fake


def test_only_a_dead_worker_is_run_again(rx) -> None:
    assert worker_died(rx.WorkerCrashedError()) and worker_died(rx.NodeDiedError("node"))
    assert worker_died(rx.OutOfMemoryError("oom"))
    assert worker_died(rx.ObjectLostError("its node died holding the result"))
    assert not worker_died(rx.RayTaskError("f")) and not worker_died(ValueError("x"))


class FakeRay(types.ModuleType):
    """Ray's wait and get for the driver's collection step: each submitted attempt ends as ``outcomes`` say,
    in submission order (an exception: the attempt raised it)."""

    def __init__(self, outcomes: list[Any]) -> None:
        super().__init__("ray")
        self.outcomes = outcomes
        self.submitted: list[tuple[str, dict[str, Any]]] = []

    def remote(self, genome_yaml: str, spec: dict[str, Any]) -> int:  # the task's .options(...).remote
        self.submitted.append((self.name_, spec))
        return len(self.submitted) - 1

    def options(self, name: str) -> FakeRay:
        self.name_ = name
        return self

    def wait(self, refs: list[int], num_returns: int, timeout: float) -> tuple[list[int], list[int]]:
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref: int) -> dict[str, Any]:
        out = self.outcomes[ref]
        if isinstance(out, BaseException):
            raise out
        return out


@pytest.mark.parametrize("retries, outcomes, status, attempts", [
    (2, ["died", "died", ok(0.6)], "ok", 3),
    (1, ["died", "died"], "failed", 2),
    (2, [RuntimeError("task raised")], "failed", 1),  # an error the task raised is not run again
])
def test_the_driver_counts_the_attempts(tmp_path, monkeypatch, rx, retries, outcomes, status, attempts) -> None:
    from nas.app.driver import Search

    fake = FakeRay([rx.WorkerCrashedError() if o == "died" else o for o in outcomes])
    monkeypatch.setitem(sys.modules, "ray", fake)
    lines: list[str] = []
    s = Search(Settings(space="cell", budget="60M", dataset="synthetic", strategy="random", trials=1,
                        retries=retries), tmp_path / "run", log=lines.append)
    s._task, s._spec = fake, base_spec(s.settings, 8)
    s._submit(Job.for_candidate(s.strategy.ask()))
    got = []
    while s._pending:
        got += s._collect()
    ((job, result),) = got
    ev = s._record(job, result)
    assert [spec["attempt"] for _, spec in fake.submitted] == list(range(1, attempts + 1))
    assert len({name for name, _ in fake.submitted}) == 1  # every attempt under the trial's name
    assert (ev.status, ev.attempts) == (status, attempts)
    assert s.store.evaluations()[0].attempts == attempts
    assert sum("its worker died (WorkerCrashedError)" in l for l in lines) == min(attempts - 1, retries)
    if status == "failed":
        assert ev.error.startswith("WorkerCrashedError: " if "died" in outcomes else "RuntimeError: task raised")


@pytest.mark.slow
def test_a_toy_estimator_registered_in_the_test_drives_the_search_without_name_tests(tmp_path, monkeypatch) -> None:
    """The driver, outputs, plot and study view ask the registry entry: a new tabular estimator needs no edit."""
    from nas.app import scoring
    from nas.app.driver import Search

    checked = []
    toy = scoring.Estimator("toy", "a lookup of MACs", tabular=True, stops_early=False, score="toy table",
                            axis="toy table", dataset="toy data", epochs=0, check=checked.append,
                            no_verdict="the toy table has no held-out split")
    monkeypatch.setitem(scoring.REGISTRY, "toy", toy)

    def by_macs(genome_yaml: str, spec: dict) -> dict:
        import nas

        return {"status": "ok", "accuracy": 1 - 1e-10 * nas.cost(nas.loads(genome_yaml)).macs, "epochs": 0}

    lines: list[str] = []
    summary = Search(Settings(space="cell", budget="60M", trials=5, estimator="toy"), tmp_path / "run",
                     log=lines.append).run(evaluator=by_macs)
    assert len(checked) == 1 and summary.evaluations == 5 and summary.verdict is None
    assert any("(toy table)" in l for l in lines) and "verdict: none; the toy table has no held-out split" in lines
    import optuna

    study = optuna.load_study(study_name="nas-run", storage=f"sqlite:///{tmp_path / 'run' / 'dashboard.db'}")
    assert study.user_attrs["dataset"] == "toy data" and study.user_attrs["epochs"] == 0
    with pytest.raises(NasError, match=r"^unknown estimator 'nope'; estimators: proxy, nb201, supernet, toy$"):
        validate(Settings(estimator="nope"))


def test_an_interrupted_verdict_is_never_a_result(tmp_path) -> None:
    """Until every entrant has every seed, best.yaml is the search's best marked partial, verdict.json says partial,
    and the summary claims nothing; with the last seed, the verdict's winner is written as usual."""
    done = records([0.5, 0.7, 0.6])
    s = Settings(space="cell", dataset="synthetic", verdict_seeds=2)
    e = entrants(done, SPACE, BUDGET, s)
    assert [x.label for x in e] == ["trial 1"]  # the cell space has no baseline: the winner alone

    def run(seed: int):
        return dataclasses.replace(done[1], trial=e[0].trial(seed), origin="verdict:trial 1",
                                   metrics={"accuracy": 0.9, "n_eval": 4, "correct": None})

    lines: list[str] = []
    verdict = write_outputs(tmp_path, done + [run(0)], SPACE, BUDGET, s, lines.append)
    text = (tmp_path / "best.yaml").read_text()
    assert text.startswith("# partial: the verdict has 1 of its 2 retrainings, so it names no winner")
    assert nas.loads(text) == nas.loads(done[1].genome)
    assert json.loads((tmp_path / "verdict.json").read_text())["partial"] is True
    summary = summarize(tmp_path, done + [run(0)], BUDGET, s, verdict, [], lines.append)
    assert summary.winner is None and any(l.startswith("verdict: partial, 1 of 2 retrainings") for l in lines)
    verdict = write_outputs(tmp_path, done + [run(0), run(1)], SPACE, BUDGET, s, lines.append)
    assert not (tmp_path / "best.yaml").read_text().startswith("#")
    assert json.loads((tmp_path / "verdict.json").read_text())["partial"] is False
    assert summarize(tmp_path, done + [run(0), run(1)], BUDGET, s, verdict, [], lines.append).winner == "trial 1"


def test_verdict_seeds_stay_seeds_numpy_takes_at_the_top_of_the_range() -> None:
    e = Entrant(0, "trial 0", None, 0, search_trial=0)
    seeds = [Job.for_verdict(e, k, 2**32 - 1, 3).overrides["seed"] for k in range(3)]
    assert seeds == [999, 1000, 1001]  # wrapped, not past 2^32 - 1 where the split would refuse them
    assert Job.for_verdict(e, 2, 7, 3).overrides["seed"] == 1009  # below the top: as before


def test_a_resume_skips_reading_data_the_first_start_checked_unless_they_changed(tmp_path, monkeypatch) -> None:
    from test_data import _write_set

    import nas.app.driver as driver
    from nas.app.driver import Search
    from nas.app.settings import recorded_data_line

    data = tmp_path / "fashion"
    data.mkdir()
    _write_set(data)
    s = Settings(space="cell", budget="60M", dataset="fashion", data_dir=str(data), trials=2)
    first = Search(s, tmp_path / "run", log=lambda _: None)
    line = first.data_line()  # what run() logs first, and records in data.json
    assert line.startswith(f"fashion from {data}: ") and recorded_data_line(tmp_path / "run", s) == line

    def no_reading(*_):
        raise AssertionError("the data were read again")

    monkeypatch.setattr(driver, "check_data", no_reading)
    again = Search(s, tmp_path / "run", log=lambda _: None)  # a resume of unchanged data reads none of them
    assert again.data_line() == line
    (data / "train-labels-idx1-ubyte.gz").write_bytes((data / "train-labels-idx1-ubyte.gz").read_bytes() + b"\0")
    assert recorded_data_line(tmp_path / "run", s) is None  # a file changed: checked again
    with pytest.raises(AssertionError, match="read again"):
        Search(s, tmp_path / "run", log=lambda _: None)
    other = dataclasses.replace(s, dataset="digits", data_dir=None)
    assert recorded_data_line(tmp_path / "run", other) is None  # another data set: checked
