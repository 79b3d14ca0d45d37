"""Resuming from the results store: plain-data state only, checked before it is used, bounded as the search grows;
a tampered or corrupt store is one line and exit status 2, and nothing in it ever runs."""

from __future__ import annotations

import base64
import json
import os
import pickle
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import search_spaces
import strategies
from nas.app.driver import Search
from nas.app.evaluations import told
from nas.app.jobs import Job
from nas.app.settings import Settings
from nas.app.store import Store
from nas.errors import NasError

BUDGET = "300M"


def objective(c) -> dict:
    return {"accuracy": 0.5 + (c.id % 7) / 100, "macs": c.macs}


def state_size(strategy) -> int:
    return len(json.dumps(strategy.state_dict(history=False)))


@pytest.mark.parametrize("name", strategies.names())
@pytest.mark.slow
def test_the_stored_state_is_plain_data_and_stays_bounded(name, tmp_path) -> None:
    s = strategies.get(name)(search_spaces.get("mobilenet"), budget=BUDGET, seed=1)  # an in-memory study, if any
    sizes = []
    for n in range(60):
        c = s.ask()
        s.tell(c, objective(c))
        if n in (19, 59):
            sizes.append(state_size(s))
    # the state a driver stores after each result does not grow with the history (a population, the in-flight
    # candidates and the RNG, but no list of every result); the full state does
    assert sizes[1] <= sizes[0] * 1.25 + 200, sizes
    assert len(json.dumps(s.state_dict())) > 3 * sizes[1]


@pytest.mark.parametrize("name", strategies.names())
@pytest.mark.slow
def test_a_bounded_state_and_the_recorded_history_continue_exactly(name, tmp_path) -> None:
    def make():
        options = {"storage": f"sqlite:///{tmp_path / 'study.db'}", "study_name": "s"} \
            if name in ("optuna", "nsga2") else {}
        # the cell space: few dimensions, so an Optuna study in SQLite answers quickly
        return strategies.get(name)(search_spaces.get("cell"), budget="60M", seed=2, **options)

    a = make()
    for _ in range(12):
        c = a.ask()
        a.tell(c, objective(c))
    inflight = a.ask()
    state = json.loads(json.dumps(a.state_dict(history=False)))
    history = [(c.to_dict(), m) for c, m in a.history]
    b = make()
    b.load_state_dict(state, history)
    again = b.ask()
    assert (again.id, again.config) == (inflight.id, inflight.config)
    b.tell(again, objective(again))
    nxt_b = [b.ask() for _ in range(3)]
    assert [c.id for c in nxt_b] == [inflight.id + 1, inflight.id + 2, inflight.id + 3]
    if name not in ("optuna", "nsga2"):  # the two share one study here; the others are independent copies
        a.tell(inflight, objective(inflight))
        assert [c.config for c in (a.ask() for _ in range(3))] == [c.config for c in nxt_b]


@pytest.mark.parametrize("tamper, message", [
    (lambda st: {**st, "own": {**st["own"], "sampler": "gASVIAAAAAAAAACMBXBvc2l4lIwGc3lzdGVtlJOUjAJpZJSFlFKULg=="}},
     "unexpected field 'sampler'"),
    (lambda st: {**st, "rng": {"bit_generator": "PCG64", "state": "x"}}, "state.rng: not a random generator state"),
    (lambda st: {**st, "pending": [{"id": 1, "config": {"s1.k": 99}, "macs": 1, "params": 1, "origin": "x",
                                    "parent": None}]}, "state.pending[0].config: "),
    (lambda st: {**st, "next_id": "7"}, "state.next_id: expected int, got str"),
    (lambda st: {**st, "format": 1}, "state: format '1', not 2: written by another version of nas"),
    (lambda st: [st], "expected a mapping"),
])
def test_a_tampered_state_is_refused_with_one_line(tamper, message) -> None:
    a = strategies.get("evolution")(search_spaces.get("mobilenet"), budget=BUDGET, seed=0)
    c = a.ask()
    a.tell(c, objective(c))
    b = strategies.get("evolution")(search_spaces.get("mobilenet"), budget=BUDGET, seed=0)
    with pytest.raises(NasError) as exc:
        b.load_state_dict(tamper(json.loads(json.dumps(a.state_dict()))))
    assert message in str(exc.value) and "\n" not in str(exc.value)


# ---------------------------------------------------------------- through the CLI, without Ray


def started_run(tmp_path: Path, strategy: str = "evolution") -> Path:
    """A run directory whose store holds two recorded candidates and the state after them (as a driver writes)."""
    out = tmp_path / "run"
    s = Search(Settings(space="cell", budget="60M", dataset="synthetic", strategy=strategy, trials=4), out,
               log=lambda _: None)
    for _ in range(2):
        c = s.strategy.ask()
        s._record(Job.for_candidate(c), {"status": "ok", "accuracy": 0.5, "loss": 1.0, "epochs": 2})
    s.store.close()
    return out


def resume(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nas.app.cli", "search", "--resume", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)


def set_row(out: Path, column: str, value: str, table: str = "nas_runs") -> None:
    with sqlite3.connect(out / "results.db") as con:
        con.execute(f"UPDATE {table} SET {column} = ?", (value,))


class _Touch:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.mark.parametrize("form", ["raw", "base64-in-json"])
@pytest.mark.slow
def test_a_pickle_in_the_state_row_never_runs(tmp_path, form) -> None:
    out = started_run(tmp_path, "optuna")
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Touch(str(marker)), protocol=0)
    if form == "raw":
        set_row(out, "state", payload.decode("latin-1"))
    else:
        state = Store(f"sqlite:///{out / 'results.db'}", "run").state()
        state["own"]["sampler"] = base64.b64encode(payload).decode()
        set_row(out, "state", json.dumps(state))
    proc = resume(out)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nas: error: "), proc.stderr
    assert ("not valid JSON" if form == "raw" else "unexpected field 'sampler'") in lines[0]
    assert not marker.exists()


@pytest.mark.parametrize("table, column, value, message", [
    ("nas_runs", "config", "{not json", "nas_runs.config in the results database is not valid JSON"),
    ("nas_runs", "config", "[1, 2]", "nas_runs.config in the results database holds list, not a JSON object"),
    ("nas_runs", "config", '{"space": "cell", "warp": 9}', "unknown setting 'warp'"),
    ("nas_runs", "config", '{"space": "cell", "trials": "many"}', "trials is 'many', not int"),
    ("nas_evaluations", "config", '{"nope": 1}', "history[0].config: "),
    ("nas_evaluations", "fidelity", "{", "nas_evaluations.fidelity of trial 0 in the results database is not valid"),
])
@pytest.mark.slow
def test_a_corrupt_row_is_one_line(tmp_path, table, column, value, message) -> None:
    out = started_run(tmp_path)
    set_row(out, column, value, table)
    proc = resume(out)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr


def test_a_results_db_that_is_not_a_database_is_one_line(tmp_path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.db").write_bytes(b"this is not SQLite" * 100)
    proc = resume(out)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "cannot open the results database" in lines[0], proc.stderr


def test_told_is_what_the_driver_tells(tmp_path) -> None:
    out = started_run(tmp_path)
    evs = Store(f"sqlite:///{out / 'results.db'}", "run").evaluations()
    assert [told(e) for e in evs] == [{"accuracy": 0.5, "loss": 1.0, "macs": e.macs, "params": e.params, "epochs": 2,
                                       "stopped": False} for e in evs]
    assert all(e.config for e in evs)


@pytest.mark.parametrize("name", ["optuna", "nsga2"])
def test_an_optuna_study_is_reconciled_at_every_kill_point(name, tmp_path) -> None:
    """A driver stopped with one result recorded but not yet told to the study, one candidate in flight, one asked
    after the last record, and one proposal cut short: on loading, each trial finds its place and none is left
    running or doubled."""
    import optuna
    from optuna.trial import TrialState

    url = f"sqlite:///{tmp_path / 'study.db'}"

    def make():
        return strategies.get(name)(search_spaces.get("cell"), budget="60M", seed=3, storage=url, study_name="s")

    a = make()
    for _ in range(3):
        c = a.ask()
        a.tell(c, objective(c))
    told_late, in_flight = a.ask(), a.ask()
    a.tell(told_late, objective(told_late), flush=False)  # recorded with this state; the study never heard
    state = json.loads(json.dumps(a.state_dict(history=False)))
    history = [(c.to_dict(), m) for c, m in a.history]
    after = a.ask()  # asked after the last record: not in the state
    a._ask()  # a proposal cut short before it became a candidate
    b = make()
    b.load_state_dict(state, history)
    trials = optuna.load_study(study_name="s", storage=url).trials
    by_id = {t.user_attrs.get("nas_candidate"): t for t in trials if "nas_candidate" in t.user_attrs}
    assert by_id[told_late.id].state == TrialState.COMPLETE
    assert by_id[told_late.id].values[0] == objective(told_late)["accuracy"]
    assert sum(t.state == TrialState.RUNNING and "nas_candidate" not in t.user_attrs for t in trials) == 0
    again = [b.ask(), b.ask()]
    assert [(c.id, c.config) for c in again] == [(in_flight.id, in_flight.config), (after.id, after.config)]
    for c in again + [b.ask()]:
        b.tell(c, objective(c))
    trials = optuna.load_study(study_name="s", storage=url).trials
    ids = [t.user_attrs["nas_candidate"] for t in trials if "nas_candidate" in t.user_attrs]
    assert sorted(ids) == list(range(after.id + 2))  # every candidate once, the new one included
    assert not [t for t in trials if t.state == TrialState.RUNNING]
