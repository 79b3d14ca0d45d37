"""The search as an Optuna study for optuna-dashboard (``nas.app.studyview``), and ``nas dashboard``.

No Ray here: the records are made by hand, or by driving each strategy's ask/tell directly and turning results into
records as the driver does (the Ray test cluster must be the first to load Ray, in tests/test_search.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

import search_spaces
import strategies
from nas.app.evaluations import evaluation, told
from nas.app.jobs import Job
from nas.app.settings import Settings, storage_url
from nas.app.store import Evaluation, Store
from nas.app.studyview import FILE, StudyView, open_study, server, study_name, study_url

ROOT = Path(__file__).resolve().parent.parent


def history(*accs: float) -> list[dict]:
    return [{"epoch": i + 1, "accuracy": a, "loss": 1 - a, "train_loss": 1.2 - a} for i, a in enumerate(accs)]


def records(space: search_spaces.Space) -> list[Evaluation]:
    """Four candidates (complete, stopped, failed, complete) and a verdict retraining of the first."""
    rng = np.random.default_rng(0)
    configs = [space.sample_config(rng) for _ in range(4)]
    fid = {"epochs": 3, "dataset": "synthetic", "split": "validation", "n_eval": 400, "stderr": 0.02}
    base = dict(genome="name: x\n", params=1234, origin="random", started=1_700_000_000.0)
    return [
        Evaluation(trial=0, macs=5_000_000, status="ok", accuracy=0.61, loss=0.9, config=configs[0],
                   metrics={"history": history(0.4, 0.55, 0.61)}, fidelity=fid, finished=1_700_000_010.0,
                   seconds=10.0, **base),
        Evaluation(trial=1, macs=7_000_000, status="stopped", accuracy=0.2, loss=2.0, config=configs[1],
                   metrics={"history": history(0.2)}, fidelity={**fid, "epochs": 1}, finished=1_700_000_020.0,
                   seconds=4.0, **base),
        Evaluation(trial=2, macs=9_000_000, status="failed", error="RuntimeError: out of memory",
                   config=configs[2], metrics={"status": "failed"}, fidelity=fid, finished=1_700_000_030.0, **base),
        Evaluation(trial=3, macs=3_000_000, status="ok", accuracy=0.52, loss=1.1, config=configs[3],
                   metrics={"history": history(0.3, 0.45, 0.52)}, fidelity=fid, finished=1_700_000_040.0,
                   seconds=12.0, **{**base, "origin": "mutation"}, parent=0),
        Evaluation(trial=-1000, macs=5_000_000, status="ok", accuracy=0.7, loss=0.8, config=None,
                   metrics={"history": history(0.5, 0.7)}, finished=1_700_000_050.0, seconds=30.0, parent=0,
                   fidelity={**fid, "split": "test", "n_eval": 1000, "stderr": 0.014, "seed": 1000},
                   **{**base, "origin": "verdict:trial 0"}),
    ]


def view(tmp_path: Path, space_name: str = "mobilenet") -> tuple[StudyView, search_spaces.Space]:
    out = tmp_path / "run"
    out.mkdir(exist_ok=True)
    space = search_spaces.get(space_name)
    return StudyView(out, Settings(space=space_name, strategy="evolution"), space), space


def load(v: StudyView, suffix: str = "") -> optuna.Study:
    return optuna.load_study(study_name=v.name + suffix, storage=v.url)


def test_rebuild_makes_each_record_a_trial(tmp_path, capfd) -> None:
    v, space = view(tmp_path)
    done = records(space)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ExperimentalWarning or any other reaches the user
        v.rebuild(done)
    assert capfd.readouterr() == ("", "")  # and Optuna printed nothing ("A new study created ...")
    assert (tmp_path / "run" / FILE).exists() and v.name == "nas-run"
    study = load(v)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"] and study.metric_names == ["accuracy", "MACs"]
    t = study.trials
    assert [x.number for x in t] == [0, 1, 2, 3] and [x.user_attrs["trial"] for x in t] == [0, 1, 2, 3]
    assert [x.state for x in t] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE]
    assert t[0].values == [0.61, 5_000_000.0] and t[3].values == [0.52, 3_000_000.0]
    assert t[1].values is None and t[2].values is None
    assert t[0].intermediate_values == {1: 0.4, 2: 0.55, 3: 0.61} and t[1].intermediate_values == {1: 0.2}
    assert t[2].intermediate_values == {}
    for x, ev in zip(t, done):
        assert x.params == ev.config  # every dimension of a mobilenet config: ints, floats and strings
        for name, dist in x.distributions.items():
            assert isinstance(dist, optuna.distributions.CategoricalDistribution)
            assert dist.choices == tuple(next(d.choices for d in space.dimensions if d.name == name))
    a = t[0].user_attrs
    assert a == {"trial": 0, "origin": "random", "status": "ok", "macs": 5_000_000, "params": 1234, "epochs": 3,
                 "split": "validation", "n_eval": 400, "se": 0.02, "seconds": 10.0, "genome": "name: x\n"}
    assert t[1].user_attrs["status"] == "stopped" and t[1].user_attrs["epochs"] == 1
    assert t[2].user_attrs["error"] == "RuntimeError: out of memory" and "error" not in t[0].user_attrs
    assert t[3].user_attrs["parent"] == 0 and t[3].user_attrs["origin"] == "mutation"
    assert t[0].datetime_complete.timestamp() == 1_700_000_010.0
    assert t[0].datetime_start.timestamp() == 1_700_000_000.0
    assert study.best_trials == [t[0], t[3]]  # the Pareto front of accuracy against MACs
    # the verdict's retraining: a study of its own, with the configuration of the trial it retrains
    verdict = load(v, "-verdict").trials
    assert len(verdict) == 1 and verdict[0].state == TrialState.COMPLETE and verdict[0].values == [0.7, 5e6]
    assert verdict[0].params == done[0].config
    assert verdict[0].user_attrs["split"] == "test" and verdict[0].user_attrs["origin"] == "verdict:trial 0"
    assert verdict[0].user_attrs["trial"] == -1000 and verdict[0].user_attrs["seed"] == 1000


def test_rebuild_again_replaces_the_study_and_record_adds_one(tmp_path) -> None:
    v, space = view(tmp_path)
    done = records(space)
    v.rebuild(done[:2])
    v.rebuild(done[:4])  # a resumed search: the study is made again, never added to
    v2, _ = view(tmp_path)  # as a new driver would
    v2.rebuild(done[:4])
    assert [x.user_attrs["trial"] for x in load(v2).trials] == [0, 1, 2, 3]
    assert optuna.get_all_study_names(v2.url) == ["nas-run"]  # no verdict study before a verdict record
    import sqlite3

    with sqlite3.connect(tmp_path / "run" / FILE) as db:  # the studies rebuilt before left no rows behind
        counts = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                  for t in ("studies", "trials", "trial_params", "trial_user_attributes", "trial_values",
                            "trial_intermediate_values", "study_directions", "study_system_attributes")}
    assert counts == {"studies": 1, "trials": 4, "trial_params": sum(len(e.config) for e in done[:4]),
                      "trial_user_attributes": 11 * 4 - 1 + 1 + 1,  # no seconds for 2, its error, 3's parent
                      "trial_values": 2 * 2,
                      "trial_intermediate_values": 3 + 1 + 0 + 3, "study_directions": 2,
                      "study_system_attributes": 1}
    v2.add(done[4])
    v2.add(dataclasses.replace(done[0], trial=4, finished=1_700_000_060.0))
    t = load(v2).trials
    assert [x.user_attrs["trial"] for x in t] == [0, 1, 2, 3, 4] and t[4].number == 4
    assert t[4].state == TrialState.COMPLETE and t[4].params == done[0].config
    assert [x.user_attrs["trial"] for x in load(v2, "-verdict").trials] == [-1000]


@pytest.fixture(params=["UTC0", "XYZ+7", "NZT-12:45"])
def time_zone(request, monkeypatch):  # noqa: ANN201 - the machine's zone, and two others (POSIX TZ strings)
    import time

    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def test_rebuild_writes_what_add_trial_writes(tmp_path, time_zone) -> None:
    """The rebuild writes its trials in one transaction; they read back as Optuna's own add_trial writes them, in
    any time zone (times are stored in UTC)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    space = search_spaces.get("mobilenet")
    done = records(space)[:4] + [dataclasses.replace(records(space)[0], trial=5, accuracy=float("nan"),
                                                    metrics={"history": history(0.1, float("nan"))})]
    bulk = StudyView(tmp_path / "a", Settings(), space)
    bulk.rebuild(done)
    one = StudyView(tmp_path / "b", Settings(), space)
    one.rebuild([])
    for ev in done:
        one.study.add_trial(one.trial(ev))  # Optuna's own way, one at a time

    def seen(v: StudyView) -> list[tuple]:
        return [(t.number, t.state, t.values, t.params, t.distributions, t.user_attrs, t.intermediate_values,
                 t.datetime_start, t.datetime_complete) for t in load(v).trials]

    assert seen(bulk) == seen(one)
    assert seen(bulk)[4][1] == TrialState.FAIL and seen(bulk)[4][5]["error"] == "no accuracy recorded"


def test_a_renamed_column_in_optunas_tables_falls_back_to_its_public_way(tmp_path, monkeypatch) -> None:
    """Should a later Optuna rename a column, the fast path fails in the database (not in Python); the rebuild
    then adds the trials through Optuna's public API instead, and the study still holds every record."""
    import sqlalchemy as sa
    from optuna.storages._rdb import models

    real = models.TrialModel.__table__
    renamed = sa.Table("trials", sa.MetaData(), *[sa.Column(c.name if c.name != "number" else "number_v2",
                                                            c.type, key=c.key, primary_key=c.primary_key)
                                                  for c in real.columns])
    monkeypatch.setattr(models.TrialModel, "__table__", renamed)
    space = search_spaces.get("mobilenet")
    view = StudyView(tmp_path, Settings(), space)
    view.rebuild(records(space)[:3])
    monkeypatch.setattr(models.TrialModel, "__table__", real)
    assert [t.number for t in load(view).trials] == [0, 1, 2]


def test_a_value_outside_the_space_drops_that_parameter_only(tmp_path) -> None:
    v, space = view(tmp_path)
    ev = records(space)[0]
    ev.config = {**ev.config, "width": 123.0, "no.such.dim": 1}
    v.rebuild([ev])
    t = load(v).trials[0]
    assert t.state == TrialState.COMPLETE and "width" not in t.params and "no.such.dim" not in t.params
    assert len(t.params) == len(ev.config) - 2


@pytest.mark.slow
def test_a_rebuild_of_hundreds_of_records_takes_seconds(tmp_path) -> None:
    import time

    v, space = view(tmp_path)
    rng = np.random.default_rng(1)
    one = records(space)
    done = [dataclasses.replace(one[i % 4], trial=i, config=space.sample_config(rng)) for i in range(300)]
    start = time.perf_counter()
    v.rebuild(done)
    assert time.perf_counter() - start < 20  # about a second here: add_trial alone takes about a minute
    assert len(load(v).trials) == 300


# ---------------------------------------------------------------- a finished run in optuna-dashboard


def finished_run(tmp_path: Path, strategy: str) -> Path:
    """A run directory whose store holds what ``strategy`` proposed in the cell space, recorded as the driver
    records results: some complete, one stopped by early stopping, one failed."""
    out = tmp_path / f"run-{strategy}"
    out.mkdir()
    settings = Settings(space="cell", budget="60M", strategy=strategy, trials=6, epochs=3, dataset="synthetic",
                        verdict=False)
    space = search_spaces.get("cell")
    strategy_obj = strategies.get(strategy)(space, budget="60M", seed=0)
    store = Store(storage_url(out), run=out.resolve().name)
    store.create(dataclasses.asdict(settings))
    for i in range(6):
        c = strategy_obj.ask()
        if i == 1:
            result = {"status": "failed", "error": "RuntimeError: CUDA error: out of memory"}
        elif i == 2:
            result = {"status": "ok", "stopped": True, "accuracy": 0.21, "loss": 2.0, "epochs": 1,
                      "history": history(0.21), "split": "validation", "n_eval": 256, "stderr": 0.025}
        else:
            acc = 0.3 + 0.05 * i
            result = {"status": "ok", "stopped": False, "accuracy": acc, "loss": 1.0, "epochs": 3,
                      "history": history(acc - 0.2, acc - 0.1, acc), "split": "validation", "n_eval": 256,
                      "stderr": 0.03}
        result.update(started=1_700_000_000.0 + i, finished=1_700_000_001.0 + i)
        ev = evaluation(Job.for_candidate(c), result, settings)
        strategy_obj.tell(c, told(ev))
        assert store.record(ev)
    store.close()
    return out


def get(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=30) as r:
        assert r.status == 200
        return json.loads(r.read())


@pytest.mark.parametrize("strategy", ["random", "evolution", "optuna", "nsga2"])
@pytest.mark.slow
def test_optuna_dashboard_serves_every_strategys_trials(tmp_path, strategy) -> None:
    out = finished_run(tmp_path, strategy)
    opened = open_study(out)  # what `nas dashboard` does: no study in the run yet, so it is built from the store
    assert opened.rebuilt and opened.trials == 6 and opened.name == f"nas-run-{strategy}"
    assert opened.url == study_url(out) and (out / FILE).exists()
    httpd = server(opened.url, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{httpd.server_port}"
        studies = get(base, "/api/studies")["study_summaries"]
        assert [s["study_name"] for s in studies] == [study_name(out)]
        assert studies[0]["directions"] == ["maximize", "minimize"]
        detail = get(base, f"/api/studies/{studies[0]['study_id']}?after=0")
        assert detail["objective_names"] == ["accuracy", "MACs"]
        trials = detail["trials"]
        states = [t["state"] for t in trials]
        assert states == ["Complete", "Fail", "Pruned", "Complete", "Complete", "Complete"]
        store = Store(storage_url(out), run=out.resolve().name)
        recorded = store.evaluations()
        store.close()
        for t, ev in zip(trials, recorded):
            attrs = {a["key"]: a["value"] for a in t["user_attrs"]}
            assert attrs["trial"] == str(ev.trial) and attrs["origin"] == ev.origin and attrs["genome"] == ev.genome
            assert attrs["status"] == ev.status
            assert {p["name"]: p["param_external_value"] for p in t["params"]} == ev.config
        assert {p["name"] for p in trials[0]["params"]} == {"e01", "e02", "e12", "e03", "e13", "e23"}
        failed = {a["key"]: a["value"] for a in trials[1]["user_attrs"]}
        assert failed["error"] == "RuntimeError: CUDA error: out of memory" and "values" not in trials[1]
        assert [v["value"] for v in trials[2]["intermediate_values"]] == [0.21]
        assert trials[0]["values"] == [0.3, recorded[0].macs]
        assert detail["has_intermediate_values"] is True
        assert {b["number"] for b in detail["best_trials"]} <= {0, 3, 4, 5}  # the front: complete trials only
        with urllib.request.urlopen(f"{base}/dashboard/studies/{studies[0]['study_id']}", timeout=30) as r:
            assert b"<html" in r.read().lower()  # the page itself, which reads the API above
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
    assert not thread.is_alive()
    # served again, the study is used as the search keeps it, not rebuilt (a live search is writing it)
    again = open_study(out)
    assert not again.rebuilt and again.trials == 6


# ---------------------------------------------------------------- `nas dashboard` as a user runs it


def nas(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "nas.app.cli", "dashboard", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)


@pytest.mark.slow
def test_nas_dashboard_refuses_what_is_not_a_run(tmp_path) -> None:
    p = nas(tmp_path, str(tmp_path / "missing"))
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.splitlines() == [f"nas: error: run directory '{tmp_path / 'missing'}' does not exist"]
    (tmp_path / "empty").mkdir()
    p = nas(tmp_path, str(tmp_path / "empty"))
    assert p.returncode == 2 and len(p.stderr.splitlines()) == 1 and "holds no results.db" in p.stderr
    p = nas(tmp_path, str(tmp_path / "empty"), "--port", "70000")
    assert p.returncode == 2 and p.stderr.startswith("nas dashboard: error: argument --port: '70000' is too large")
    p = nas(tmp_path, str(tmp_path / "empty"), "--port", "0")
    assert p.returncode == 2 and len(p.stderr.splitlines()) == 1 and "a port from 1 to 65535" in p.stderr
    p = nas(tmp_path, str(tmp_path / "empty"), "--storage", "nosuchdb://x")
    assert p.returncode == 2 and len(p.stderr.splitlines()) == 1 and "cannot open the results database" in p.stderr
    assert not (tmp_path / "empty" / FILE).exists()


@pytest.mark.slow
def test_nas_dashboard_serves_a_run_until_interrupted(tmp_path) -> None:
    import signal
    import socket
    import time

    out = finished_run(tmp_path, "random")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tmp_path / "home"
    home.mkdir()
    # started with SIGINT ignored, as a background job of a non-interactive shell is: Ctrl-C must still stop it
    p = subprocess.Popen([sys.executable, "-m", "nas.app.cli", "dashboard", str(out), "--port", str(port)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                         env={**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)},
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        deadline = time.time() + 60
        studies = None
        while time.time() < deadline and studies is None:
            try:
                studies = get(f"http://127.0.0.1:{port}", "/api/studies")["study_summaries"]
            except OSError:
                time.sleep(0.3)
        assert studies is not None and [s["study_name"] for s in studies] == ["nas-run-random"]
    finally:
        p.send_signal(signal.SIGINT)
        try:
            stdout, stderr = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # never leave the server behind
            p.kill()
            stdout, stderr = p.communicate()
    assert p.returncode == 0 and stderr == ""
    lines = stdout.splitlines()
    assert lines[0] == "study nas-run-random: 6 trials, rebuilt from the results store (6 records)"
    assert lines[1] == f"storage: sqlite:///{out.resolve() / FILE}"
    assert lines[2] == f"optuna-dashboard: http://127.0.0.1:{port}/dashboard (Ctrl-C to stop)"


def test_a_study_behind_its_store_is_said_to_be(tmp_path) -> None:
    out = finished_run(tmp_path, "random")
    assert (open_study(out).trials, open_study(out).recorded) == (6, 6)  # built, then served as it is: in step
    store = Store(storage_url(out), run=out.resolve().name)
    ev = dataclasses.replace(store.evaluations()[0], trial=6)  # a record the study never heard of
    assert store.record(ev)
    store.close()
    opened = open_study(out)
    assert (opened.trials, opened.recorded, opened.rebuilt) == (6, 7, False)
    assert open_study(out, rebuild=True).trials == 7


def test_a_study_in_step_with_its_store_is_kept_and_one_behind_is_made_again(tmp_path) -> None:
    from nas.app.studyview import StudyView, study_name, study_url

    out = finished_run(tmp_path, "evolution")
    store = Store(storage_url(out), run=out.resolve().name)
    done = store.evaluations()
    store.close()
    settings, space = Settings(space="cell", budget="60M", strategy="evolution"), search_spaces.get("cell")

    def study() -> optuna.Study:
        return optuna.load_study(study_name=study_name(out), storage=study_url(out))

    StudyView(out, settings, space).rebuild(done)
    study().set_user_attr("marker", 1)  # gone if the study is deleted and made again
    view = StudyView(out, settings, space)
    view.rebuild(done)  # a resume with the study in step: kept, not written again
    assert study().user_attrs.get("marker") == 1 and len(study().trials) == 6
    view.add(dataclasses.replace(done[0], trial=6))  # and it goes on following the store
    assert len(study().trials) == 7
    StudyView(out, settings, space).rebuild(done)  # 7 trials against 6 records: not the store's, made again
    assert "marker" not in study().user_attrs and len(study().trials) == 6
