"""TensorBoard learning curves (``nas.app.curves``), written from records built by hand: no Ray here (the test
cluster must be the first to load it), the event files read back record by record."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from nas.app.curves import Curves, slug
from nas.app.settings import Settings
from nas.app.store import Evaluation
from nas.app.verdict import verdict_trial

T0 = 1_700_000_000.0


def read_events(path: Path) -> list:
    """The events of one TFRecord event file: each record is a length (8 bytes), its CRC (4), the data, its CRC (4)."""
    from tensorboardX.proto.event_pb2 import Event

    data, out, i = path.read_bytes(), [], 0
    while i < len(data):
        (n,) = struct.unpack("<Q", data[i:i + 8])
        ev = Event()
        ev.ParseFromString(data[i + 12:i + 12 + n])
        out.append(ev)
        i += 12 + n + 4
    assert i == len(data), "a truncated record"
    return out


def series(run: Path) -> dict[str, list[tuple[int, float, float]]]:
    """A run directory's scalars: tag -> [(step, value, wall time)] (texts as tag -> [(step, text, wall time)])."""
    files = list(run.iterdir())
    assert len(files) == 1 and files[0].name.startswith("events.out.tfevents."), files
    out: dict[str, list] = {}
    for ev in read_events(files[0]):
        for v in ev.summary.value:
            value = v.simple_value if v.WhichOneof("value") == "simple_value" else v.tensor.string_val[0].decode()
            out.setdefault(v.tag, []).append((ev.step, value, ev.wall_time))
    return out


def history(*accs: float, start_loss: float = 2.0) -> list[dict]:
    return [{"epoch": i + 1, "accuracy": a, "loss": start_loss - a, "train_loss": start_loss + 0.5 - a,
             "seconds": 10.0 * (i + 1)} for i, a in enumerate(accs)]


def ev(trial: int, hist: list[dict], status: str = "ok", origin: str = "random", split: str = "validation",
       **kw) -> Evaluation:
    last = hist[-1] if hist else {}
    return Evaluation(trial=trial, genome="{}", macs=12_300_000, params=45_000, status=status, origin=origin,
                      accuracy=last.get("accuracy"), loss=last.get("loss"), short="c3-16 fc10",
                      metrics={"status": "ok" if status != "failed" else "failed", "history": hist, "split": split},
                      fidelity={"epochs": len(hist), "split": split}, started=T0 + trial, finished=T0 + 100,
                      seconds=10.0 * len(hist), **kw)


def curves(out: Path, trials: int = 8) -> Curves:
    return Curves(out, Settings(space="cell", budget="60M", trials=trials), None)


def verdict_ev(label: str, index: int, seed: int, hist: list[dict]) -> Evaluation:
    return ev(verdict_trial(index, seed), hist, origin=f"verdict:{label}", split="test")


def runs(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "tensorboard").iterdir())


def test_each_trial_is_a_run_with_its_epochs(tmp_path, capfd) -> None:
    c = curves(tmp_path)
    c.rebuild([])
    c.add(ev(0, history(0.5, 0.625, 0.75)))
    c.add(ev(7, history(0.25, 0.375), status="stopped"))
    assert runs(tmp_path) == ["trial-0000", "trial-0007"]
    s0 = series(tmp_path / "tensorboard" / "trial-0000")
    assert [(step, v) for step, v, _ in s0["accuracy"]] == [(1, 0.5), (2, 0.625), (3, 0.75)]
    assert [(step, v) for step, v, _ in s0["loss"]] == [(1, 1.5), (2, 1.375), (3, 1.25)]
    assert [(step, v) for step, v, _ in s0["train_loss"]] == [(1, 2.0), (2, 1.875), (3, 1.75)]
    # the wall time is the task's start plus the epoch's seconds, so the relative axis is the training's time
    assert [t for _, _, t in s0["accuracy"]] == pytest.approx([T0 + 10, T0 + 20, T0 + 30], abs=1e-3)
    text = s0["trial/text_summary"]
    assert len(text) == 1 and text[0][0] == 3
    assert text[0][1].startswith("**trial 0** (random): finished after 3 epoch(s), validation accuracy 0.7500")
    assert text[0][1].endswith("\n12.30M MACs, 45.00k parameters  \n`c3-16 fc10`")
    s7 = series(tmp_path / "tensorboard" / "trial-0007")  # a stopped trial: the epochs it ran
    assert [(step, v) for step, v, _ in s7["accuracy"]] == [(1, 0.25), (2, 0.375)]
    assert "stopped early after 2 epoch(s)" in s7["trial/text_summary"][0][1]
    assert not (tmp_path / ".tensorboard-partial").exists()  # nothing left aside
    assert capfd.readouterr() == ("", "")  # nothing on the terminal


def test_a_verdict_retraining_is_a_run_of_its_own_on_the_same_tags(tmp_path) -> None:
    c = curves(tmp_path, trials=20)
    label = "trial 12 = seed lenet5 (12.3M)"
    c.rebuild([ev(12, history(0.5, 0.6))])
    c.add(verdict_ev(label, 0, 0, history(0.7, 0.8, 0.85, 0.9)))
    c.add(verdict_ev("seed mobilenet_v2 (repaired, 297M)/x", 1, 1, history(0.6)))
    assert runs(tmp_path) == ["trial-0012", "verdict-seed-mobilenet_v2-repaired-297m-x-seed1",
                              "verdict-trial-0012-seed-lenet5-12.3m-seed0"]
    s = series(tmp_path / "tensorboard" / "verdict-trial-0012-seed-lenet5-12.3m-seed0")
    assert [(step, round(v, 6)) for step, v, _ in s["accuracy"]] == [(1, 0.7), (2, 0.8), (3, 0.85), (4, 0.9)]
    assert "**verdict retraining of trial 12 = seed lenet5 (12.3M), seed 0**: finished" in s["trial/text_summary"][0][1]
    assert "test accuracy 0.9000" in s["trial/text_summary"][0][1]
    # the candidates' tags: TensorBoard draws the retraining on the same charts as the trials
    assert set(s) == {"accuracy", "loss", "train_loss", "trial/text_summary"}


def test_slugs_are_safe_directory_names() -> None:
    assert slug("trial 3 = seed lenet5 (12.3M)") == "trial-3-seed-lenet5-12.3m"
    assert slug("a/b\\c ..") == "a-b-c"
    assert slug("../..") == "run" and slug("") == "run"
    assert len(slug("x" * 500)) == 60


def test_a_failed_trial_writes_no_scalars(tmp_path) -> None:
    c = curves(tmp_path)
    c.rebuild([])
    c.add(ev(1, [], status="failed", error="RuntimeError: out of memory"))
    # a trial that failed after an epoch shows that epoch; a value that is not a finite number is left out
    broken = history(0.5, 0.6)
    broken[1]["loss"] = float("nan")
    c.add(ev(2, broken, status="failed", error="NonFinite: loss became nan"))
    assert runs(tmp_path) == ["trial-0002"]
    s = series(tmp_path / "tensorboard" / "trial-0002")
    assert [step for step, _, _ in s["accuracy"]] == [1, 2] and [step for step, _, _ in s["loss"]] == [1]
    assert "failed: NonFinite: loss became nan" in s["trial/text_summary"][0][1]


def test_rebuild_matches_the_store_without_duplicates(tmp_path) -> None:
    done = [ev(0, history(0.5, 0.6)), ev(1, history(0.4)), ev(2, [], status="failed"),
            verdict_ev("trial 0", 0, 0, history(0.7, 0.8))]
    c = curves(tmp_path)
    c.rebuild(done[:2])
    c.add(done[2])
    c.add(done[3])
    tb = tmp_path / "tensorboard"
    (kept,) = (tb / "trial-0000").iterdir()
    os.utime(kept, ns=(0, 0))  # a file written again would have a new time
    (tb / "trial-0005").mkdir()  # a run the store does not hold (a store started again)
    (tb / "stray.txt").write_text("x")
    (tb / "trial-0001" / "events.out.tfevents.1.host.old").write_bytes(b"")  # a second event file for one trial
    for _ in range(2):  # a resumed search, twice: the same runs, each with one event file
        c = curves(tmp_path)
        c.rebuild(done)
        assert runs(tmp_path) == ["trial-0000", "trial-0001", "verdict-trial-0000-seed0"]
        for name in runs(tmp_path):
            files = list((tb / name).iterdir())
            assert len(files) == 1, files
        assert [(p, p.stat().st_mtime_ns) for p in (tb / "trial-0000").iterdir()] == [(kept, 0)]  # kept as it was
        assert [v for _, v, _ in series(tb / "trial-0001")["accuracy"]] == pytest.approx([0.4])
    # a record that changed (the store holds another trial 0 now) is written again
    c.rebuild([ev(0, history(0.1, 0.2, 0.3))])
    assert runs(tmp_path) == ["trial-0000"]
    assert [v for _, v, _ in series(tb / "trial-0000")["accuracy"]] == pytest.approx([0.1, 0.2, 0.3])
    assert not (tmp_path / ".tensorboard-partial").exists()


def test_a_run_left_half_written_is_cleared(tmp_path) -> None:
    (tmp_path / ".tensorboard-partial" / "trial-0000").mkdir(parents=True)
    (tmp_path / ".tensorboard-partial" / "trial-0000" / "events.out.tfevents.1.host.x").write_bytes(b"\0")
    c = curves(tmp_path)
    c.rebuild([ev(0, history(0.5))])
    assert runs(tmp_path) == ["trial-0000"] and not (tmp_path / ".tensorboard-partial").exists()
    assert [v for _, v, _ in series(tmp_path / "tensorboard" / "trial-0000")["accuracy"]] == [0.5]


def test_names_are_padded_to_the_trial_count(tmp_path) -> None:
    c = curves(tmp_path, trials=20_000)
    c.rebuild([ev(3, history(0.5)), ev(12_345, history(0.5))])
    assert runs(tmp_path) == ["trial-00003", "trial-12345"]
