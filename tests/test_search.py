"""`nas search` end to end on a shared local Ray cluster: outputs, resume after SIGKILL, worker death, failures,
the dashboard's REST API with the token and the custom metrics."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import nas

CRASHING = Path(__file__).parent / "crashing.py"
FAST = ["--space", "cell", "--budget", "60M", "--dataset", "synthetic", "--epochs", "1", "--no-verdict"]


def nas_search(cluster, out: Path, *args: str, env: dict | None = None, crash: tuple[str, int] | None = None,
               **kw) -> subprocess.Popen:
    """`nas search` joining the test cluster, with a home of its own (the user's home is never read); ``crash``
    kills it at a point (``tests/crashing.py``)."""
    nas = [sys.executable, str(CRASHING), crash[0], str(crash[1])] if crash else [sys.executable, "-m", "nas.app.cli"]
    cmd = [*nas, "search", "--address", cluster["address"], "--out", str(out), *args]
    home = out.parent / "home"
    home.mkdir(exist_ok=True)
    env = {**(env or os.environ), "HOME": str(home)}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, **kw)


def rows(out: Path) -> list[dict]:
    path = out / "trials.csv"
    if not path.exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def wait_for(pred, timeout: float = 240, every: float = 0.5):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(every)
    raise AssertionError("timed out")


def test_search_end_to_end(cluster, tmp_path) -> None:
    out = tmp_path / "run"
    p = nas_search(cluster, out, *FAST, "--trials", "4", "--strategy", "evolution")
    log, _ = p.communicate(timeout=600)
    assert p.returncode == 0, log
    assert "[4/4]" in log and "search's best: trial" in log and "outputs:" in log and "verdict: off" in log
    trials = rows(out)
    assert sorted(int(r["trial"]) for r in trials) == [0, 1, 2, 3]  # the cell space has no seeds to compare
    assert {"trial", "genome", "macs", "params", "accuracy", "status"} <= set(trials[0])
    best = nas.load(out / "best.yaml")
    assert nas.cost(best).macs <= 60_000_000
    import search_spaces

    assert search_spaces.get("cell").contains(best)
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "pareto.yaml").exists() and json.loads((out / "search.json").read_text())["trials"] == 4
    # every evaluation is a trial of the study optuna-dashboard opens, whatever the strategy (evolution here)
    import optuna

    study = optuna.load_study(study_name="nas-run", storage=f"sqlite:///{out / 'dashboard.db'}")
    state = {"ok": "COMPLETE", "stopped": "PRUNED", "failed": "FAIL"}
    assert sorted((t.user_attrs["trial"], t.state.name) for t in study.trials) == \
        sorted((int(r["trial"]), state[r["status"]]) for r in trials)
    assert len(study.trials) == 4 and all(len(t.params) == 6 for t in study.trials)
    # the dashboard lists the trials by name, through its REST API with the token
    token = cluster["token"]
    req = urllib.request.Request(f"{cluster['dashboard']}/api/v0/tasks?limit=1000",
                                 headers={"Authorization": f"Bearer {token}"})
    tasks = json.loads(urllib.request.urlopen(req, timeout=30).read())["data"]["result"]["result"]
    names = {t["name"] for t in tasks}
    assert {f"trial {i}: " for i in range(4)} <= {n.split(": ")[0] + ": " for n in names}
    with pytest.raises(urllib.error.HTTPError):  # and refuses a request without it
        urllib.request.urlopen(f"{cluster['dashboard']}/api/v0/tasks?limit=1", timeout=30)
    # TensorBoard's learning curves: a run per trial, one event file each, its accuracy by epoch as recorded
    from test_curves import series

    tb = out / "tensorboard"
    assert sorted(p.name for p in tb.iterdir()) == [f"trial-{i:04d}" for i in range(4)]
    for r in trials:
        accuracy = series(tb / f"trial-{int(r['trial']):04d}")["accuracy"]
        assert [step for step, _, _ in accuracy] == [1]
        assert accuracy[-1][1] == pytest.approx(float(r["accuracy"]), abs=2e-6)  # the CSV has 6 decimals


def test_custom_metrics_reach_the_metrics_endpoint(cluster, tmp_path) -> None:
    import ray

    out = tmp_path / "metrics-run"  # the metrics are tagged with the run's name: one no other test uses
    p = nas_search(cluster, out, *FAST, "--trials", "2", "--strategy", "random")
    log, _ = p.communicate(timeout=600)
    assert p.returncode == 0, log
    ray.init(address=cluster["address"], log_to_driver=False)
    try:
        port = ray.nodes()[0]["MetricsExportPort"]
    finally:
        ray.shutdown()

    def scrape() -> str | None:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        lines = [l for l in text.splitlines() if l.startswith("ray_nas_trials_done") and out.name in l]
        return lines[0] if lines else None

    line = wait_for(scrape, timeout=60, every=2)
    assert line.endswith(" 2.0")


def test_resume_after_the_driver_is_killed(cluster, tmp_path) -> None:
    out = tmp_path / "run"
    p = nas_search(cluster, out, *FAST, "--trials", "6", "--max-concurrent", "1")
    wait_for(lambda: len(rows(out)) >= 2)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    before = {r["trial"]: r for r in rows(out)}
    q = nas_search(cluster, out, "--resume")
    log, _ = q.communicate(timeout=600)
    assert q.returncode == 0, log
    after = rows(out)
    trials = [int(r["trial"]) for r in after]
    assert sorted(trials) == list(range(6))  # every trial once: nothing lost, nothing recorded twice
    for r in after:  # what completed before the kill was kept, not run again
        if r["trial"] in before:
            assert r == before[r["trial"]]


def test_a_kill_between_the_store_and_the_study_leaves_one_story(cluster, tmp_path) -> None:
    """Killed just after a result is in the store and before the Optuna study hears of it (the test hook
    ``tests/crashing.py``), the search resumes with the study and the store agreeing: every candidate once in each,
    with the same score, nothing lost, nothing run twice."""
    import optuna

    from nas.app.store import Store

    out = tmp_path / "run"
    p = nas_search(cluster, out, *FAST, "--trials", "4", "--max-concurrent", "1", "--strategy", "optuna",
                   crash=("recorded", 2))
    log, _ = p.communicate(timeout=600)
    assert p.returncode == -signal.SIGKILL, log
    storage = f"sqlite:///{out / 'optuna.db'}"
    (name,) = optuna.get_all_study_names(storage)
    trials = optuna.load_study(study_name=name, storage=storage).trials
    recorded = {e.trial for e in Store(f"sqlite:///{out / 'results.db'}", run=out.name).evaluations()}
    running = {t.user_attrs.get("nas_candidate") for t in trials if t.state == optuna.trial.TrialState.RUNNING}
    assert len(recorded) == 2 and running & recorded  # the kill came between the two writes
    q = nas_search(cluster, out, "--resume")
    log, _ = q.communicate(timeout=600)
    assert q.returncode == 0, log
    evs = {e.trial: e for e in Store(f"sqlite:///{out / 'results.db'}", run=out.name).evaluations()}
    trials = optuna.load_study(study_name=name, storage=storage).trials
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    candidates = [t for t in trials if "nas_candidate" in t.user_attrs]
    assert sorted(t.user_attrs["nas_candidate"] for t in candidates) == sorted(evs) == [0, 1, 2, 3]
    for t in candidates:
        assert t.state == optuna.trial.TrialState.COMPLETE
        assert t.values == [evs[t.user_attrs["nas_candidate"]].accuracy]


def test_a_search_in_a_shared_postgresql_database(cluster, postgres, tmp_path) -> None:
    import optuna

    from nas.app.store import Store, database_url

    out = tmp_path / "team-run"
    p = nas_search(cluster, out, *FAST, "--trials", "4", "--max-concurrent", "1",
                   "--strategy", "optuna", "--storage", postgres)
    wait_for(lambda: len(rows(out)) >= 1)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert not (out / "results.db").exists() and not (out / "optuna.db").exists()  # all of it is in the server
    again = nas_search(cluster, out, *FAST, "--storage", postgres)  # a second search under the same name
    log, _ = again.communicate(timeout=300)
    assert again.returncode == 2 and log.strip().splitlines()[-1] == (
        f"nas: error: a run named 'team-run' is already in {postgres}; continue it with --resume, or choose "
        "another --out")
    q = nas_search(cluster, out, "--resume", "--storage", postgres)
    log, _ = q.communicate(timeout=600)
    assert q.returncode == 0, log
    assert sorted(int(r["trial"]) for r in rows(out)) == [0, 1, 2, 3]
    assert sorted(e.trial for e in Store(postgres, "team-run").evaluations()) == [0, 1, 2, 3]
    study = optuna.load_study(study_name="nas-team-run", storage=database_url(postgres))
    # every candidate once in the study (over-budget proposals are complete trials too, told as infeasible)
    ran = [t.user_attrs["nas_candidate"] for t in study.trials if "nas_candidate" in t.user_attrs]
    assert sorted(ran) == [0, 1, 2, 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials if "nas_candidate" in t.user_attrs)


def test_a_killed_worker_is_retried(cluster, tmp_path) -> None:
    """A worker killed mid-trial: the driver runs the trial again and records 2 attempts. The count is the
    driver's own (each attempt's spec says which it is); the pids are the test's own record, kept beside it."""
    import threading

    import ray

    from nas.app.driver import Search
    from nas.app.settings import Settings

    seen = tmp_path / "trial-0.attempts"  # the test's own: "<attempt> <pid>" per attempt at trial 0
    where = str(seen)

    def held_until_killed(genome_yaml: str, spec: dict) -> dict:
        """An evaluator whose first attempt at trial 0 notes its pid and then waits to be killed (two minutes at
        most); every other attempt returns at once. Defined in the test, so that Ray ships it by value."""
        if spec["trial"] == 0:
            with open(where, "a") as f:
                f.write(f"{spec['attempt']} {os.getpid()}\n")
            if spec["attempt"] == 1:
                time.sleep(120)
                return {"status": "failed", "error": "was not killed"}
        return {"status": "ok", "accuracy": 0.5, "loss": 1.0, "epochs": spec["epochs"],
                "worker": f"test:{os.getpid()}"}

    out = tmp_path / "run"
    killed: list[int] = []

    def lines() -> list[list[str]]:
        return [l.split() for l in seen.read_text().splitlines()] if seen.exists() else []

    def kill_when_running() -> None:
        # the line is written by the attempt itself, inside its worker: once it is there, trial 0 is running in
        # that very process, and it stays there until it is killed
        pid = int(wait_for(lambda: lines() and lines()[0][1], timeout=300))
        assert Path(f"/proc/{pid}").exists()
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    ray.init(address=cluster["address"], log_to_driver=False)
    try:
        killer = threading.Thread(target=kill_when_running, daemon=True)
        killer.start()
        s = Search(Settings(space="cell", budget="60M", dataset="synthetic", epochs=1, trials=2, max_concurrent=1,
                            verdict=False), out, log=lambda _: None)
        s.run(evaluator=held_until_killed)
        killer.join(timeout=10)
    finally:
        ray.shutdown()
    trial0 = [r for r in rows(out) if r["trial"] == "0"]
    assert killed, (rows(out), lines())
    assert len(trial0) == 1 and trial0[0]["status"] == "ok" and trial0[0]["attempts"] == "2"
    assert lines()[0] == ["1", str(killed[0])] and [a for a, _ in lines()] == ["1", "2"]
    assert trial0[0]["worker"] == f"test:{lines()[1][1]}" != f"test:{killed[0]}"  # the second attempt's result
    assert not (out / "workers").exists()  # nothing is counted from files in the run directory


def test_a_failing_candidate_is_recorded_and_the_search_goes_on(cluster, tmp_path) -> None:
    import ray

    from nas.app.driver import Search
    from nas.app.settings import Settings

    def flaky(genome_yaml: str, spec: dict) -> dict:
        if "conv3x3" not in genome_yaml.split("edges")[1].split("\n")[0]:
            raise RuntimeError("no 3x3 conv in the cell")
        return {"status": "ok", "accuracy": genome_yaml.count("conv3x3") / 100, "loss": 1.0, "epochs": 1}

    lines: list[str] = []
    ray.init(address=cluster["address"], log_to_driver=False)
    try:
        s = Search(Settings(space="cell", budget="60M", strategy="random", trials=8, dataset="synthetic",
                            verdict=False), tmp_path / "run", log=lines.append)
        summary = s.run(evaluator=flaky)
    finally:
        ray.shutdown()
    failed = [r for r in rows(tmp_path / "run") if r["status"] == "failed"]
    assert failed and all("RuntimeError: no 3x3 conv in the cell" in r["error"] for r in failed)
    assert summary.evaluations == 8 and summary.failed == len(failed) and summary.best is not None


@pytest.mark.parametrize("args, message", [
    (["--space", "warp"], "nas: error: unknown space 'warp'; spaces:"),
    (["--strategy", "annealing"], "nas: error: unknown strategy 'annealing'; strategies:"),
    (["--budget", "300Q"], "nas search: error: argument --budget: budget '300Q' is not a number of MACs"),
    (["--budget", "1M"],
     "nas: error: budget 1.00M MACs is below the smallest member of space 'mobilenet' (18,449,208 MACs"),
    (["--dataset", "cifar10", "--data-dir", "/no/such/dir"],
     "nas: error: data directory '/no/such/dir' does not exist"),
    (["--dataset", "imagenet"], "nas: error: unknown dataset 'imagenet'; datasets:"),
    (["--resume"], "nas: error: nothing to resume in"),
    (["--address", "127.0.0.1:1", "--dataset", "synthetic"],
     "nas: error: cannot reach the Ray cluster at '127.0.0.1:1'"),
    (["--early-stop", "hyperband"], "nas search: error: argument --early-stop: invalid choice: 'hyperband'"),
    (["--early-stop", "--eta", "1"], "nas: error: --eta 1: it must be from 2 to 1,000"),
])
@pytest.mark.slow
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message) -> None:
    proc = subprocess.run([sys.executable, "-m", "nas.app.cli", "search", "--out", str(tmp_path / "run"), *args],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(message), proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_verdict_retrains_the_top_candidates_and_the_seed_once(cluster, tmp_path) -> None:
    import math

    import ray

    from nas.app.driver import Search
    from nas.app.settings import Settings

    def by_size(genome_yaml: str, spec: dict) -> dict:
        g = nas.loads(genome_yaml)
        base = math.log(nas.cost(g).macs) / 30
        return {"status": "ok", "accuracy": base + (0.01 * spec["seed"] if spec.get("final") else 0), "loss": 1.0,
                "epochs": spec["epochs"], "split": "test" if spec.get("final") else "validation", "n_eval": 10}

    ray.init(address=cluster["address"], log_to_driver=False)
    lines: list[str] = []
    try:
        s = Search(Settings(space="shufflenet", budget="150M", strategy="evolution", trials=6, verdict_top=2,
                            verdict_epochs=2), tmp_path / "run", log=lines.append)
        summary = s.run(evaluator=by_size)
    finally:
        ray.shutdown()
    verdict = [r for r in rows(tmp_path / "run") if r["origin"].startswith("verdict:")]
    labels = sorted({r["origin"] for r in verdict})
    # the largest seed within the budget is shufflenet_v1_g1 (143M); evolution warm-started it as a trial, and the
    # verdict trains it once beside the top two candidates (or as one of them), with 8 seeds each
    assert any("baseline shufflenet_v1_g1 (143M)" in l for l in labels) and len(labels) in (2, 3)
    assert len(verdict) == 8 * len(labels) and all(r["epochs"] == "2" for r in verdict)
    assert summary.verdict is not None and summary.winner is not None
    assert any(l.startswith("verdict on the test split") for l in lines)
    assert any("fidelity audit: " in l for l in lines)  # a tau from 3 networks, or why there is none
    data = json.loads((tmp_path / "run" / "verdict.json").read_text())
    assert data["winner"] == summary.winner and len(data["entrants"]) == len(labels)


def test_the_baseline_is_the_family_scaled_to_the_budget_whatever_the_seed(tmp_path) -> None:
    """MobileNetV2 at the largest width multiplier that fits, the same network for every --seed."""
    from nas.app.driver import Search
    from nas.app.settings import Settings
    from nas.app.verdict.entrants import baseline

    got = []
    for seed in (0, 1, 7):
        s = Search(Settings(space="mobilenet", budget="300M", dataset="synthetic", seed=seed), tmp_path / f"r{seed}",
                   log=lambda _: None)
        got.append(baseline(s.space, s.budget))
    label, g, macs = got[0]
    assert all(nas.dumps(x[1]) == nas.dumps(g) and x[0] == label for x in got[1:])
    assert label == "baseline mobilenet_v2 x0.98 (300M)" and nas.cost(g).macs == macs <= 300_000_000
    from nas.zoo.mobile import mobilenet_v2_genome

    assert nas.cost(mobilenet_v2_genome(0.99)).macs > 300_000_000  # the next step up is over the budget
    ref = mobilenet_v2_genome(0.98)
    assert (g.stem, g.stages, g.head, g.input) == (ref.stem, ref.stages, ref.head, ref.input)
    # a space whose family has no scaling rule: its largest seed within the budget, or one shrunk the same way
    # every time
    import search_spaces

    vgg = search_spaces.get("vgg")
    assert vgg.baseline("300M")[0] == vgg.baseline("300M")[0] and vgg.baseline("300M")[2] <= 300_000_000


def test_the_verdict_resumes_after_sigkill_and_reruns_nothing(cluster, tmp_path) -> None:
    out = tmp_path / "run"
    args = ["--space", "cell", "--budget", "60M", "--dataset", "synthetic", "--epochs", "1", "--trials", "3",
            "--verdict-top", "2", "--verdict-epochs", "2", "--verdict-seeds", "2", "--max-concurrent", "1",
            "--strategy", "random"]
    p = nas_search(cluster, out, *args)
    wait_for(lambda: sum(r["origin"].startswith("verdict:") for r in rows(out)) >= 1, timeout=400)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    before = {r["trial"]: r for r in rows(out)}
    q = nas_search(cluster, out, "--resume")
    log, _ = q.communicate(timeout=600)
    assert q.returncode == 0, log
    after = rows(out)
    verdict = [r for r in after if r["origin"].startswith("verdict:")]
    assert len(verdict) == 4 and len({r["trial"] for r in after}) == len(after)  # 2 networks x 2 seeds, once each
    for r in after:
        if r["trial"] in before:
            assert r == before[r["trial"]]  # nothing that finished was run again
    assert "verdict on the test split (320 images the search never read)" in log
    from nas.app.store import Store

    evs = [e for e in Store(f"sqlite:///{out / 'results.db'}", run=out.name).evaluations() if e.trial < 0]
    for e in evs:
        f = e.fidelity
        assert f["split"] == "test" and f["epochs"] == 2 and f["n_eval"] == 320 and f["stderr"] is not None
        assert f["train_images"] == 640 and f["dataset"] == "synthetic" and f["seed"] in (1000, 1001)
    search = [e for e in Store(f"sqlite:///{out / 'results.db'}", run=out.name).evaluations() if e.trial >= 0]
    assert all(e.fidelity["split"] == "validation" and e.fidelity["n_eval"] == 160 for e in search)
    # no verdict retraining starts from an initialization a search trial used
    assert not {e.fidelity["seed"] for e in evs} & {e.fidelity["seed"] for e in search}


def test_median_stopping_rule() -> None:
    from nas.app.stopping import MedianStopper

    m = MedianStopper(grace=2)
    assert m.keep_going(0, 1, 0.5) and m.keep_going(1, 1, 0.7)  # too few others yet
    assert not m.keep_going(2, 1, 0.55)  # the others at epoch 1: 0.5, 0.7 -> median 0.6
    assert m.keep_going(3, 1, 0.6)  # others 0.5, 0.55, 0.7 -> median 0.55
    assert m.keep_going(0, 2, 0.1)  # a new epoch starts its own record


def test_trials_in_flight_fit_the_cluster() -> None:
    from nas.app.raycluster import fits as _fits
    from nas.errors import NasError

    gpu_node = {"CPU": 16.0, "GPU": 1.0, "memory": 1e11}
    assert _fits(gpu_node, 1, 0) == 16
    assert _fits(gpu_node, 1, 0.25) == 4  # four trials share the GPU
    assert _fits(gpu_node, 6, 0.25) == 2  # CPUs run out first
    assert _fits({"CPU": 2.0}, 0, 0) == 2
    with pytest.raises(NasError, match=r"^--gpus-per-trial 0.5 asks for more than the Ray cluster has: 0 GPU\(s\)"):
        _fits({"CPU": 2.0}, 1, 0.5)
    with pytest.raises(NasError, match=r"^--cpus-per-trial 4 asks for more than the Ray cluster has: 2 CPU"):
        _fits({"CPU": 2.0}, 4, 0)


def test_a_trial_the_cluster_cannot_hold_is_one_line_and_exit_2(cluster, tmp_path) -> None:
    p = nas_search(cluster, tmp_path / "run", *FAST, "--gpus-per-trial", "0.5")
    log, _ = p.communicate(timeout=300)
    assert p.returncode == 2, log
    assert log.strip().splitlines()[-1] == ("nas: error: --gpus-per-trial 0.5 asks for more than the Ray cluster "
                                            "has: 0 GPU(s) in all")


def test_asha_keeps_the_top_third_at_each_rung() -> None:
    from nas.app.stopping import AshaStopper

    a = AshaStopper(max_epochs=9, eta=3)
    assert a.rungs == [1, 3]  # epoch 9 is the end, not a rung
    assert a.keep_going(0, 1, 0.5)  # the first at a rung always goes on
    assert not a.keep_going(1, 1, 0.4)  # top ceil(2/3) = 1 of [0.5, 0.4]
    assert a.keep_going(2, 1, 0.6)
    assert a.keep_going(3, 1, 0.55)  # top ceil(4/3) = 2 of [0.6, 0.55, 0.5, 0.4]
    assert not a.keep_going(5, 1, 0.45)  # top 2 of 5
    assert a.keep_going(4, 2, 0.0)  # epoch 2 is no rung
    assert a.keep_going(0, 3, 0.7) and not a.keep_going(2, 3, 0.65)
    assert AshaStopper(max_epochs=4, eta=2).rungs == [1, 2]
    assert AshaStopper(max_epochs=1).rungs == []


def test_stoppers_replay_the_recorded_history() -> None:
    from nas.app.settings import Settings
    from nas.app.stopping import AshaStopper, MedianStopper, decision_epochs, make_stopper, replay
    from nas.app.store import Evaluation

    done = [Evaluation(trial=t, genome="", macs=1, params=1, status="ok",
                       metrics={"history": [{"epoch": 1, "accuracy": acc}]}) for t, acc in enumerate([0.9, 0.8])]
    a = AshaStopper(max_epochs=3)
    replay(a, done)
    assert a.seen[1] == {0: 0.9, 1: 0.8}
    assert not a.keep_going(2, 1, 0.85)  # judged against the trials before the crash
    assert isinstance(make_stopper(Settings(early_stop="asha", epochs=3)), AshaStopper)
    assert isinstance(make_stopper(Settings(early_stop="median", epochs=3)), MedianStopper)
    assert make_stopper(Settings(early_stop="asha", epochs=1)) is None
    assert decision_epochs(AshaStopper(max_epochs=9, eta=3), 9) == [1, 3]
    assert decision_epochs(MedianStopper(), 3) == [1, 2]


def test_asha_from_the_cli_stops_what_its_rule_says(cluster, tmp_path) -> None:
    from nas.app.stopping import AshaStopper
    from nas.app.store import Store

    out = tmp_path / "run"
    p = nas_search(cluster, out, *FAST, "--epochs", "3", "--early-stop", "--trials", "6",
                   "--max-concurrent", "1", "--strategy", "random")
    log, _ = p.communicate(timeout=600)
    assert p.returncode == 0, log
    done = sorted(Store(f"sqlite:///{out / 'results.db'}", run=out.name).evaluations(), key=lambda e: e.trial)
    assert [e.trial for e in done] == list(range(6))
    assert {e.status for e in done} == {"ok", "stopped"}
    rule = AshaStopper(max_epochs=3, eta=3)  # one trial at a time: the rule saw them in trial order
    for e in done:
        first = e.metrics["history"][0]
        goes_on = rule.keep_going(e.trial, 1, first["accuracy"])
        assert (e.status, e.fidelity["epochs"], len(e.metrics["history"])) == (
            ("ok", 3, 3) if goes_on else ("stopped", 1, 1))
        assert e.fidelity["restarts"] == [1]  # the learning-rate cycle ends at the rung and restarts
    # in the dashboard's task list the rule is asked once per trial, at its one rung, under a name that says so:
    # the trials' own tasks are not drowned by calls at epochs where the rule decides nothing
    def get(path: str):
        req = urllib.request.Request(f"{cluster['dashboard']}{path}",
                                     headers={"Authorization": f"Bearer {cluster['token']}"})
        return json.loads(urllib.request.urlopen(req, timeout=30).read())

    # this search's job (the cluster is shared by the session's tests): the driver whose command names its --out
    (job,) = [j["job_id"] for j in get("/api/jobs/") if str(out) in (j.get("entrypoint") or "")]
    names = [t["name"] for t in get("/api/v0/tasks?limit=10000")["data"]["result"]["result"] if t["job_id"] == job]
    asks = sorted(n for n in names if n.startswith("stopping rule: "))
    assert asks == sorted(f"stopping rule: trial {i} after epoch 1" for i in range(6))
    assert all(any(n.startswith(f"trial {i}: random, ") and n.endswith("M MACs") for n in names) for i in range(6))


def test_a_lost_stopping_rule_lets_the_trial_train_on(cluster) -> None:
    import ray

    from nas.app.stopping import AshaStopper, StoppingRule
    from nas.app.worker import evaluate

    ray.init(address=cluster["address"], log_to_driver=False)
    try:
        actor = ray.remote(num_cpus=0)(StoppingRule).remote(AshaStopper(max_epochs=2))
        ray.kill(actor)
        spec = {"dataset": "synthetic", "epochs": 2, "seed": 0, "data_dir": None, "stopper": actor, "trial": 0}
        result = evaluate(nas.dumps(nas.seed("lenet5")), spec)
    finally:
        ray.shutdown()
    assert result["status"] == "ok" and result["epochs"] == 2 and not result["stopped"]


@pytest.mark.parametrize("rule, strategy", [("median", "random"), ("asha", "optuna")])
def test_early_stopping_tells_the_strategy_the_lower_fidelity(cluster, tmp_path, rule, strategy) -> None:
    import optuna
    import ray

    from nas.app.driver import Search
    from nas.app.settings import Settings

    def slow_learner(genome_yaml: str, spec: dict) -> dict:
        """A fake trainer whose accuracy grows with the epochs at a rate fixed by the genome; asks the stopper."""
        import zlib

        import ray as r

        quality = (zlib.crc32(genome_yaml.encode()) % 100) / 100
        ran, history = 0, []
        for epoch in range(1, spec["epochs"] + 1):
            ran = epoch
            history.append({"epoch": epoch, "accuracy": quality * epoch / 10})
            if epoch < spec["epochs"] and not r.get(spec["stopper"].keep_going.remote(spec["trial"], epoch,
                                                                                       quality * epoch / 10)):
                break
        return {"status": "ok", "accuracy": quality * ran / 10, "loss": 1.0, "epochs": ran,
                "stopped": ran < spec["epochs"], "history": history}

    ray.init(address=cluster["address"], log_to_driver=False)
    try:
        s = Search(Settings(space="cell", budget="60M", strategy=strategy, trials=10, epochs=3, verdict=False,
                            early_stop=rule, max_concurrent=1), tmp_path / "run", log=lambda _: None)
        s.run(evaluator=slow_learner)
    finally:
        ray.shutdown()
    stopped = [r for r in rows(tmp_path / "run") if r["status"] == "stopped"]
    assert stopped and all(int(r["epochs"]) < 3 for r in stopped)
    told = {c.id: m for c, m in s.strategy.history}
    assert all(told[int(r["trial"])]["stopped"] and told[int(r["trial"])]["epochs"] < 3 for r in stopped)
    if strategy == "optuna":  # Optuna hears of a stopped trial as pruned, with the value it reached at its step
        pruned = [t for t in s.strategy.study.trials if t.state == optuna.trial.TrialState.PRUNED
                  and t.intermediate_values]
        assert sorted(v for t in pruned for v in t.intermediate_values.values()) == sorted(
            told[int(r["trial"])]["accuracy"] for r in stopped)


SUPERNET_TRAIN = ["supernet", "train", "--dataset", "digits", "--train-images", "256", "--epochs", "1"]


def test_a_supernet_search_scores_audits_and_rescores_through_the_driver(cluster, tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    r = subprocess.run([sys.executable, "-m", "nas.app.cli", *SUPERNET_TRAIN, "--out", str(tmp_path / "sn")],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "run"
    p = nas_search(cluster, out, "--estimator", "supernet", "--supernet", str(tmp_path / "sn" / "supernet.pt"),
                   "--dataset", "digits", "--budget", "150M", "--trials", "6", "--epochs", "1", "--audit", "3",
                   "--rescore", "2", "--no-verdict")
    log, _ = p.communicate(timeout=600)
    assert p.returncode == 0, log
    assert "[6/6]" in log and "early stopping: off" in log and "supernet audit: Kendall tau" in log, log
    trials = rows(out)
    scored = [r for r in trials if int(r["trial"]) >= 0]
    audited = [r for r in trials if r["origin"].startswith("audit:")]
    assert len(scored) == 6 and all(r["status"] == "ok" and r["epochs"] == "0" for r in scored)
    # 3 spread over the ranking (its top, middle and bottom) and the top 2: 4 distinct standalone trainings
    assert 3 <= len(audited) <= 4 and all(r["epochs"] == "1" for r in audited)
    report = json.loads((out / "audit.json").read_text())
    assert len(report["audited"]) == len(audited) and report["kendall_tau"] is not None
    # best.yaml is the better of the top 2 by standalone training, not the supernet's first
    by_score = sorted(scored, key=lambda r: -float(r["accuracy"]))[:2]
    standalone = report["standalone_scores"]
    winner = max(by_score, key=lambda r: standalone[r["trial"]])
    assert report["winner"] == int(winner["trial"]) and f"funnel: trial {winner['trial']}" in log
    assert nas.cost(nas.load(out / "best.yaml")).macs == int(winner["macs"])


def test_supernet_training_runs_data_parallel_on_ray_train(cluster, tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    r = subprocess.run([sys.executable, "-m", "nas.app.cli", *SUPERNET_TRAIN, "--workers", "2", "--address",
                        cluster["address"], "--out", str(tmp_path / "sn")], capture_output=True, text=True,
                       env={**os.environ, "HOME": str(home)}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 Ray Train workers" in r.stdout
    import torch

    ckpt = torch.load(tmp_path / "sn" / "supernet.pt", weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["settings"]["workers"] == 2


def test_a_template_space_is_searched_verdict_included_and_resumed_without_its_file(cluster, tmp_path) -> None:
    from test_template_space import TINY

    template = tmp_path / "tiny.yaml"
    template.write_text(TINY)
    out = tmp_path / "run"
    args = ["--space", str(template), "--budget", "6M", "--dataset", "synthetic", "--epochs", "1",
            "--verdict-seeds", "2", "--verdict-epochs", "1"]
    p = nas_search(cluster, out, *args, "--trials", "3")
    log, _ = p.communicate(timeout=600)
    assert p.returncode == 0, log
    assert f"search: space tiny (template {template}), budget 6.00M MACs" in log and "[3/3]" in log
    assert "the space has no hand-designed network to compare it with" in log and "winner: trial" in log
    import search_spaces

    space = search_spaces.get(str(template))
    assert space.contains(nas.load(out / "best.yaml")) and nas.cost(nas.load(out / "best.yaml")).macs <= 6_000_000
    template.rename(tmp_path / "moved.yaml")  # the run keeps the template's text: --resume needs no file
    p = nas_search(cluster, out, "--resume", "--trials", "5")
    log, _ = p.communicate(timeout=600)
    assert p.returncode == 0, log
    assert "extending the run from 3 to 5 trials" in log and "[5/5]" in log
    trials = [r for r in rows(out) if int(r["trial"]) >= 0]
    assert sorted(int(r["trial"]) for r in trials) == list(range(5))
    assert space.contains(nas.load(out / "best.yaml"))
    # the verdict runs again for the winner of 5 trials, reusing every retraining already recorded for it
    done = re.search(r"verdict: retraining 1 networks \(trial (\d+)\) .*; (\d) of 2 already recorded", log)
    assert done is not None, log


FAKE_EVALUATOR = '''
import math
import nas


def evaluate(genome, ctx):
    score = 1.2 - math.log(nas.cost(genome).macs) / 30  # the smaller the better: the baseline (143M) loses
    for epoch in range(1, ctx.epochs + 1):
        if not ctx.report(epoch, accuracy=score * epoch / ctx.epochs):
            return {"accuracy": score * epoch / ctx.epochs}
    return {"accuracy": score, "note": 1.5}
'''


def test_your_own_evaluator_is_stopped_early_and_the_verdict_says_it_cannot_pair(cluster, tmp_path) -> None:
    (tmp_path / "fake_eval.py").write_text(FAKE_EVALUATOR)
    out = tmp_path / "run"
    p = nas_search(cluster, out, "--space", "shufflenet", "--budget", "150M", "--dataset", "synthetic", "--epochs",
                   "3", "--trials", "6", "--verdict-seeds", "2", "--evaluator", "fake_eval:evaluate",
                   env={**os.environ, "PYTHONPATH": str(tmp_path)})
    log, _ = p.communicate(timeout=600)
    assert p.returncode == 0, log
    assert "scores: fake_eval:evaluate, your evaluator" in log
    trials = [r for r in rows(out) if int(r["trial"]) >= 0]
    assert len(trials) == 6 and {r["status"] for r in trials} == {"ok", "stopped"}  # ASHA acted through ctx.report
    assert "no paired test, so no claim: the evaluator did not report which test images" in log
    verdict = [r for r in rows(out) if r["origin"].startswith("verdict:")]
    assert len(verdict) == 4 and all(r["status"] == "ok" for r in verdict)


TILES = '''
from pathlib import Path

import numpy as np

from estimators.data import DataSet, Source
from estimators.files import Files


class Tiles(DataSet):
    """Every PNG under the directory, labelled by the first letter of its name, streamed."""

    name, directory = "tiles", "required"

    def read(self, data_dir):
        files = sorted(Path(data_dir).glob("*.png"))
        return Source(Files(files, side=16), np.array([ord(f.name[0]) - ord("a") for f in files]), ("a", "b"))
'''


def test_a_data_set_of_ones_own_streamed_from_files_is_searched_and_judged(cluster, tmp_path) -> None:
    import numpy as np
    from PIL import Image

    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "tiles_data.py").write_text(TILES)
    folder = tmp_path / "tiles"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(60):
        Image.fromarray((rng.random((20, 20, 3)) * 90 + 120 * (i % 2)).astype(np.uint8)).save(
            folder / f"{'ab'[i % 2]}{i}.png")
    out = tmp_path / "run"
    p = nas_search(cluster, out, "--space", "cell", "--budget", "60M", "--dataset", "tiles_data:Tiles", "--data-dir",
                   str(folder), "--epochs", "1", "--trials", "3", "--verdict-seeds", "1", "--no-dashboard",
                   cwd=tmp_path / "code")
    log, _ = p.communicate(timeout=600)
    assert p.returncode == 0, log
    assert f"tiles_data:Tiles from {folder}" in log
    assert {r["status"] for r in rows(out)} == {"ok"}
    assert len([r for r in rows(out) if int(r["trial"]) >= 0]) == 3
    assert any(r["origin"].startswith("verdict:") for r in rows(out))  # the test files, read by the verdict


def test_a_second_driver_is_refused_and_a_dead_one_is_taken_over(cluster, tmp_path) -> None:
    import sqlite3

    out = tmp_path / "run"
    p = nas_search(cluster, out, *FAST, "--trials", "10", "--epochs", "3", "--max-concurrent", "1")
    wait_for(lambda: len(rows(out)) >= 1)
    second = nas_search(cluster, out, "--resume")
    log, _ = second.communicate(timeout=120)
    assert second.returncode == 2 and log.count("\n") == 1, log
    assert f"is being searched by {socket.gethostname()}:{p.pid} (its hold was renewed" in log
    assert p.poll() is None  # the first goes on
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    with sqlite3.connect(out / "results.db") as db:  # as if it had died on another machine: only expiry frees it
        db.execute("UPDATE nas_leases SET holder = 'elsewhere:1', expires = expires - 120")
    third = nas_search(cluster, out, "--resume")
    log, _ = third.communicate(timeout=600)
    assert third.returncode == 0, log
    assert "resume: took the run over from elsewhere:1, whose hold had expired" in log
    with sqlite3.connect(out / "results.db") as db:
        assert db.execute("SELECT COUNT(*) FROM nas_leases").fetchone() == (0,)  # given back at the end
