"""The NAS-Bench-201 tabular estimator: published accuracies for known cells, one line for anything else."""

from __future__ import annotations

import pytest

import nas
import search_spaces
from estimators.nb201 import accuracy, arch, table

BEST = {"e01": "conv3x3", "e02": "conv3x3", "e12": "conv3x3", "e03": "skip", "e13": "conv3x3", "e23": "conv1x1"}
"""NAS-Bench-201's best CIFAR-10 cell: 94.37% after 200 epochs (Dong and Yang 2020; NATS-Bench, Dong et al. 2021)."""

POOL_CELL = {"e01": "avgpool3x3", "e02": "conv1x1", "e12": "skip", "e03": "conv1x1", "e13": "skip", "e23": "skip"}
"""A cell the table lists at 85.8633%."""


def test_the_table_holds_every_cell_of_the_space() -> None:
    assert len(table()) == 5 ** 6 and max(table().values()) == 94.3733


@pytest.mark.parametrize("config, expected", [(BEST, 0.943733), (POOL_CELL, 0.858633)])
def test_a_known_cell_scores_its_published_accuracy(config, expected) -> None:
    g = search_spaces.get("cell").decode(config)
    assert accuracy(g) == pytest.approx(expected, abs=1e-9)
    assert accuracy(nas.loads(nas.dumps(g))) == accuracy(g)  # through YAML, as a worker receives it


def test_the_arch_string_is_nas_bench_201s() -> None:
    cell = {(int(k[1]), int(k[2])): v for k, v in POOL_CELL.items()}
    assert arch(cell) == ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|"
                          "skip_connect~2|")


def _cells_differ() -> nas.Genome:
    g = search_spaces.get("cell").decode(BEST)
    d = g.to_dict()
    d["stages"][2]["blocks"][1]["edges"][0][2] = "skip"
    return nas.Genome.from_dict(d)


@pytest.mark.parametrize("make, message", [
    (lambda: nas.seed("resnet18"), "needs a 3x32x32 input and 10 classes, not 3x224x224 and 1000"),
    (lambda: search_spaces.get("cell").decode(BEST).with_input(classes=100), "not 3x32x32 and 100"),
    (_cells_differ, "its cells differ (stages[2].blocks[1])"),
    (lambda: nas.loads("input: [3, 32, 32]\nclasses: 10\nstages: [[{type: conv, c: 16}]]\nhead: [{type: gap}, "
                       "{type: linear}]"), "it has 0 cells, the space has 15"),
])
def test_a_genome_outside_the_table_is_one_line(make, message) -> None:
    with pytest.raises(nas.NasError) as e:
        accuracy(make())
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_search_with_the_table_scores_by_lookup_without_ray(tmp_path, monkeypatch) -> None:
    import csv
    import sys

    from nas.app import raycluster
    from nas.app.driver import Search
    from nas.app.settings import Settings

    def no_ray(*args, **kwargs):
        raise AssertionError("a table lookup started Ray")

    monkeypatch.setattr(raycluster, "start_ray", no_ray)
    loaded = "ray" in sys.modules  # a test run in another order may have loaded it before

    lines: list[str] = []
    s = Search(Settings(space="cell", budget="60M", strategy="evolution", trials=30, estimator="nb201"),
               tmp_path / "run", log=lines.append)
    summary = s.run()
    # no Ray: a lookup runs in the driver's process (and the test cluster, started later, may still set Ray up)
    assert loaded or "ray" not in sys.modules
    with open(tmp_path / "run" / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 30 and all(r["status"] == "ok" and r["epochs"] == "200" for r in rows)
    for e in s.store.evaluations():  # each score is the table's figure for the genome recorded with it
        assert e.accuracy == pytest.approx(accuracy(nas.loads(e.genome)), abs=1e-9) and e.macs <= 60_000_000
    top = max(float(r["accuracy"]) for r in rows)
    assert summary.best is not None and summary.best.accuracy == pytest.approx(top)
    assert summary.best.fidelity["split"] == "test" and summary.best.fidelity["n_eval"] == 10_000
    assert summary.best.fidelity["stderr"] == pytest.approx((top * (1 - top) / 10_000) ** 0.5)
    assert accuracy(nas.load(tmp_path / "run" / "best.yaml")) == pytest.approx(top)
    assert summary.verdict is None and any(l.startswith("verdict: none; the table") for l in lines)
    assert not any(l.startswith("dashboard:") or l.startswith("proxy:") for l in lines)


@pytest.mark.parametrize("args, message", [
    (["--space", "mobilenet"], "--estimator nb201 looks cells up in NAS-Bench-201's table, so it scores only the "
                               "cell space, not 'mobilenet'"),
    (["--space", "cell", "--classes", "100"], "--estimator nb201 scores networks for 3x32x32 images and 10 classes"),
    (["--space", "cell", "--address", "10.0.0.1:6379"], "--estimator nb201 looks every score up in this process, "
                                                         "with no training, Ray or verdict: --address has no effect"),
    (["--space", "cell", "--dataset", "digits"], "--dataset has no effect there; drop it"),
    (["--space", "cell", "--verdict-seeds", "3"], "--verdict-seeds has no effect there; drop it"),
])
@pytest.mark.slow
def test_the_table_refuses_other_spaces_in_one_line(tmp_path, args, message) -> None:
    import os
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "nas.app.cli", "search", "--estimator", "nb201", *args, "--out",
                        str(tmp_path / "run")], capture_output=True, text=True,
                       env={**os.environ, "HOME": str(tmp_path)})
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and message in p.stderr, p.stderr
    assert not (tmp_path / "run").exists()


def test_a_table_search_stopped_midway_resumes_to_its_trials(tmp_path) -> None:
    from nas.app.driver import Search
    from nas.app.settings import Settings, resume_settings
    from nas.app.worker import look_up

    calls = []

    def interrupted(genome_yaml: str, spec: dict) -> dict:
        calls.append(1)
        if len(calls) == 7:  # Ctrl-C while the seventh candidate is looked up
            raise KeyboardInterrupt
        return look_up(genome_yaml, spec)

    out = tmp_path / "run"
    s = Search(Settings(space="cell", budget="60M", strategy="evolution", trials=12, estimator="nb201"), out,
               log=lambda _: None)
    with pytest.raises(KeyboardInterrupt):
        s.run(evaluator=interrupted)
    assert sorted(e.trial for e in s.store.evaluations()) == list(range(6))
    settings = resume_settings(out)
    assert settings.estimator == "nb201" and settings.verdict is False
    resumed = Search(settings, out, log=lambda _: None)
    summary = resumed.run()
    again = resumed.store.evaluations()
    assert sorted(e.trial for e in again) == list(range(12))  # each recorded once
    assert all(e.accuracy == pytest.approx(accuracy(nas.loads(e.genome))) for e in again)
    assert summary.evaluations == 12


def test_resume_extends_with_more_trials_and_refuses_any_other_change(tmp_path, capsys) -> None:
    from nas.app.cli import main
    from nas.app.store import Store

    out = str(tmp_path / "run")
    base = ["search", "--space", "cell", "--estimator", "nb201", "--budget", "60M", "--no-dashboard"]
    assert main([*base, "--trials", "6", "--out", out]) == 0
    capsys.readouterr()
    for flags, message in ((["--budget", "70M"], "--budget 70M differs from the run being resumed: this run was "
                            "started with --budget 60M; drop the flag, or start a new run with another --out"),
                           (["--trials", "4"], "--trials 4 differs from the run being resumed: a run can be extended, "
                            "not shortened: it was started with --trials 6"),
                           (["--strategy", "random"], "this run was started with --strategy evolution"),
                           (["--early-stop", "off"], "this run was started with --early-stop asha")):
        assert main(["search", "--resume", "--out", out, *flags]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    # the flags it was started with, typed again, are no change; more trials extend it, once and for good
    assert main([*base, "--trials", "9", "--resume", "--out", out]) == 0
    assert "resume: extending the run from 6 to 9 trials" in capsys.readouterr().out
    store = Store(f"sqlite:///{out}/results.db", run="run")
    assert sorted(e.trial for e in store.evaluations()) == list(range(9)) and store.config()["trials"] == 9
    assert main(["search", "--resume", "--out", out]) == 0
    assert "9 trials" in capsys.readouterr().out and len(store.evaluations()) == 9


def test_a_search_leaves_the_callers_settings_as_they_were(tmp_path) -> None:
    from nas.app.driver import Search
    from nas.app.settings import Settings

    mine = Settings(space="cell", budget="60M", trials=2, estimator="nb201")
    search = Search(mine, tmp_path / "run", log=lambda _: None)
    assert search.settings.verdict is False and search.settings.width is not None  # the search's own copy
    assert mine == Settings(space="cell", budget="60M", trials=2, estimator="nb201")


def test_params_and_activation_caps_from_the_command_line(tmp_path, capsys) -> None:
    import csv

    from nas.app.cli import main

    out = tmp_path / "run"
    flags = ["search", "--space", "cell", "--estimator", "nb201", "--trials", "12", "--no-dashboard"]
    assert main([*flags, "--max-params", "300k", "--max-activations", "2.5M", "--out", str(out)]) == 0
    assert "budget 300M MACs, 300k params, 2.50M activations" in capsys.readouterr().out
    space = search_spaces.get("cell")
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and all(int(r["params"]) <= 300_000 for r in rows)
    assert space.cost(space.encode(nas.load(out / "best.yaml")))[2] <= 2_500_000
    assert main(["search", "--resume", "--out", str(out), "--max-params", "400k"]) == 2
    assert "--max-params 400k differs from the run being resumed: this run was started with --max-params 300k" in \
        capsys.readouterr().err
    assert main([*flags, "--max-params", "5k", "--out", str(tmp_path / "low")]) == 2
    assert "is below the smallest member of space 'cell'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main([*flags, "--max-activations", "3Q"])
    assert e.value.code == 2 and "budget '3Q' is not a number of activations" in capsys.readouterr().err


def test_the_summary_gives_the_answer_the_front_and_a_table_as_objects(tmp_path) -> None:
    from nas.app.driver import Search
    from nas.app.settings import Settings

    summary = Search(Settings(space="cell", budget="60M", trials=10, estimator="nb201"), tmp_path / "run",
                     log=lambda _: None).run()
    assert summary.genome == nas.load(tmp_path / "run" / "best.yaml")
    assert search_spaces.get("cell").contains(summary.genome)
    front = summary.front()
    assert front and all(isinstance(g, nas.Genome) for g, _ in front)
    assert all(a["macs"] < b["macs"] and a["accuracy"] < b["accuracy"] for (_, a), (_, b) in zip(front, front[1:]))
    assert front[-1][1]["accuracy"] == summary.best.accuracy
    table = summary.table()
    assert len(table) == 10 and list(table["trial"]) == list(range(10))
    assert nas.loads(table["genome"][0]).to_dict() == nas.loads(summary.records[0].genome).to_dict()


def test_a_run_directory_named_with_question_mark_and_percent_keeps_its_databases(tmp_path, capsys) -> None:
    from nas.app.cli import main

    out = tmp_path / "odd?dir%20x"
    assert main(["search", "--space", "cell", "--estimator", "nb201", "--trials", "3", "--no-dashboard",
                 "--out", str(out)]) == 0
    assert (out / "results.db").is_file() and (out / "dashboard.db").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd?dir%20x"]  # nothing written beside it
    assert main(["search", "--resume", "--out", str(out), "--trials", "4"]) == 0
    assert "[4/4]" in capsys.readouterr().out


def test_every_row_of_trials_csv_carries_a_genome_that_decodes(tmp_path) -> None:
    import csv

    from nas.app.driver import Search
    from nas.app.settings import Settings

    summary = Search(Settings(space="cell", budget="60M", trials=4, estimator="nb201"), tmp_path / "run",
                     log=lambda _: None).run()
    with open(tmp_path / "run" / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [nas.loads(r["genome"]) for r in rows] == [nas.loads(e.genome) for e in summary.records]
    assert all(r["summary"] == nas.loads(r["genome"]).short() for r in rows)
