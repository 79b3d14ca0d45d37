"""The evaluator protocol: a user's evaluate(genome, ctx), its context, its early stopping, its refusals."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import nas
from estimators.train import decode_correct
from nas.app.evaluator import load, run
from nas.app.worker import evaluate

GENOME = nas.dumps(nas.seed("lenet5"))
SPEC = {"seed": 3, "epochs": 4, "dataset": "synthetic", "data_dir": None, "width": 0.5, "train_images": None,
        "trial": 7}


def test_the_context_says_the_run_and_the_result_is_what_the_store_records() -> None:
    seen = {}

    def fn(genome, ctx):
        seen.update(genome=genome, seed=ctx.seed, final=ctx.final, epochs=ctx.epochs, width=ctx.width,
                    trial=ctx.trial, device=ctx.device, classes=ctx.data().classes)
        for epoch in (1, 2):
            assert ctx.report(epoch, accuracy=0.5 + epoch / 10, loss=1.0 / epoch, note="text is not a metric")
        return {"accuracy": 0.7, "loss": 0.5, "correct": [True, False, True, True], "extra": 3}

    r = run(fn, GENOME, SPEC)
    assert seen == {"genome": nas.seed("lenet5"), "seed": 3, "final": False, "epochs": 4, "width": 0.5, "trial": 7,
                    "device": "cpu", "classes": 4}  # the synthetic set has 4 classes
    assert r["status"] == "ok" and r["accuracy"] == 0.7 and r["loss"] == 0.5 and r["extra"] == 3
    assert r["epochs"] == 2 and r["stopped"] is False and r["split"] == "validation"
    assert r["history"] == [{"epoch": 1, "accuracy": 0.6, "loss": 1.0}, {"epoch": 2, "accuracy": 0.7, "loss": 0.5}]
    assert r["n_eval"] == 4 and decode_correct(r["correct"], 4).tolist() == [True, False, True, True]
    final = run(fn, GENOME, {**SPEC, "final": True})
    assert final["split"] == "test" and seen["final"] is True


def test_report_returns_false_when_the_stopping_rule_stops_the_trial() -> None:
    asked = []

    def ask(info):
        asked.append(info)
        return info["epoch"] < 2

    def fn(genome, ctx):
        for epoch in range(1, ctx.epochs + 1):
            if not ctx.report(epoch, accuracy=0.1 * epoch):
                break
        return {"accuracy": 0.1 * epoch}

    r = run(fn, GENOME, SPEC, ask)
    assert r["stopped"] is True and r["epochs"] == 2 and [a["epoch"] for a in asked] == [1, 2]
    verdict = run(fn, GENOME, {**SPEC, "final": True}, lambda info: False)
    assert verdict["stopped"] is False and verdict["epochs"] == 4  # a verdict retraining is never stopped early


@pytest.mark.parametrize("returned", [None, {"loss": 1.0}, {"accuracy": 1.5}, {"accuracy": float("nan")},
                                      {"accuracy": True}, [0.5]])
def test_an_evaluator_without_an_accuracy_makes_a_failed_trial(returned) -> None:
    r = run(lambda g, ctx: returned, GENOME, SPEC)
    assert r["status"] == "failed" and r["error"].startswith("the evaluator returned no accuracy in [0, 1]")


def test_an_evaluator_that_raises_is_a_failed_trial_with_its_error(tmp_path, monkeypatch) -> None:
    (tmp_path / "broken_eval.py").write_text("def evaluate(genome, ctx):\n    raise RuntimeError('no GPU here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    r = evaluate(GENOME, {**SPEC, "evaluator": "broken_eval:evaluate", "evaluator_path": str(tmp_path)})
    assert r["status"] == "failed" and r["error"] == "RuntimeError: no GPU here"


def test_a_name_that_is_no_evaluator_is_one_line(tmp_path, monkeypatch) -> None:
    (tmp_path / "evals.py").write_text("X = 3\ndef one(genome):\n    pass\ndef ok(genome, ctx):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load("evals:ok").__name__ == "ok"
    for name, message in (("evals", "write it as module:function"), ("evals:X", "is not a function"),
                          ("evals:one", "must take two arguments, (genome, ctx)"),
                          ("evals:nope", "does not load: AttributeError"),
                          ("nomodule:f", "does not load: ModuleNotFoundError")):
        with pytest.raises(nas.NasError) as e:
            load(name)
        assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("args, message", [
    (["--evaluator", "nomodule:f"], "--evaluator 'nomodule:f' does not load: ModuleNotFoundError"),
    (["--evaluator", "os:getcwd"], "must take two arguments"),
    (["--evaluator", "evaluator:evaluate", "--space", "cell", "--estimator", "nb201"],
     "--evaluator trains candidates itself, in place of --estimator proxy"),
])
@pytest.mark.slow
def test_bad_evaluator_flags_are_one_line_with_exit_status_2(tmp_path, args, message) -> None:
    import os
    from pathlib import Path

    env = {**os.environ, "HOME": str(tmp_path),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "examples")}
    p = subprocess.run([sys.executable, "-m", "nas.app.cli", "search", "--out", str(tmp_path / "run"), *args],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and message in p.stderr, p.stderr
    assert not (tmp_path / "run").exists()


def test_the_example_evaluator_trains_and_reports(monkeypatch) -> None:
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "examples"))
    fn = load("evaluator:evaluate")
    r = run(fn, nas.dumps(nas.seed("lenet5").with_input((1, 28, 28), 10)),
            {**SPEC, "epochs": 2, "dataset": "digits", "width": 1.0})
    assert r["status"] == "ok" and r["accuracy"] > 0.3 and [h["epoch"] for h in r["history"]] == [1, 2]
    assert r["n_eval"] > 0 and np.isclose(decode_correct(r["correct"], r["n_eval"]).mean(), r["accuracy"])


def test_the_example_evaluator_reads_a_streamed_image_folder(monkeypatch, tmp_path) -> None:
    """An image folder is streamed (``estimators.files.Files``): the example reads it into memory itself, for a
    search trial and for a verdict retraining."""
    from pathlib import Path

    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(2):
        (tmp_path / f"c{c}").mkdir()
        for i in range(12):
            Image.fromarray((rng.random((20, 20, 3)) * 100 + 100 * c).astype(np.uint8)).save(tmp_path / f"c{c}/{i}.png")
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "examples"))
    fn = load("evaluator:evaluate")
    genome = nas.dumps(nas.seed("lenet5").with_input((3, 32, 32), 2))
    for final in (False, True):
        r = run(fn, genome, {**SPEC, "epochs": 1, "dataset": "imagefolder", "data_dir": str(tmp_path), "width": 1.0,
                             "final": final})
        assert r["status"] == "ok" and 0 <= r["accuracy"] <= 1, r
