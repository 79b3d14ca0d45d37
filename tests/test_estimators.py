"""The estimators: proxy training, data sets, the width transform and proxy adaptation, zero-cost proxies, cost
and latency. Tiny genomes on the synthetic set, so that the whole file runs in well under a minute."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import assert_cost_matches_model

import estimators
import nas
from estimators import ZERO_COST, StopTrial, proxy_genome, proxy_train, scale_width, zero_cost
from estimators.data import load_data


def tiny(bn: bool = True, c: int = 8, **top: Any) -> nas.Genome:
    """A small sound CNN for 3x16x16 inputs and 4 classes."""
    return nas.Genome.from_dict({
        "input": [3, 16, 16], "classes": 4,
        "stages": [[{"type": "conv", "c": c, "k": 3, "bn": bn}, {"type": "maxpool", "k": 2}],
                   [{"type": "conv", "c": 2 * c, "k": 3, "bn": bn}]],
        "head": [{"type": "gap"}, {"type": "linear"}], **top,
    })


def degenerate() -> nas.Genome:
    """A network that destroys its input: a global pool first, then one-channel layers."""
    return nas.Genome.from_dict({
        "input": [3, 16, 16], "classes": 4,
        "stages": [[{"type": "avgpool", "k": 16}, {"type": "conv", "c": 1, "k": 1}, {"type": "conv", "c": 1, "k": 1}]],
        "head": [{"type": "gap"}, {"type": "linear"}],
    })


# ---------------------------------------------------------------- proxy training


def test_proxy_train_beats_chance_on_synthetic() -> None:
    r = proxy_train(tiny(), data="synthetic", epochs=2)
    assert r["status"] == "ok" and "error" not in r
    assert r["accuracy"] > 0.6  # chance is 0.25 (4 balanced classes)
    assert r["epochs"] == 2 and r["steps"] == 2 * (480 // 32) and len(r["history"]) == 2
    assert r["device"] == "cpu" and r["input"] == [3, 16, 16] and r["classes"] == 4
    assert r["proxy_macs"] == nas.cost(tiny()).macs
    assert math.isfinite(r["loss"]) and r["seconds"] >= r["train_seconds"] > 0


def test_same_seed_same_result_on_cpu() -> None:
    a, b = (proxy_train(tiny(), data="synthetic", steps=6, seed=3) for _ in range(2))
    assert (a["accuracy"], a["loss"], a["train_loss"]) == (b["accuracy"], b["loss"], b["train_loss"])
    state = torch.random.get_rng_state()
    proxy_train(tiny(), data="synthetic", steps=2)
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's RNG is left alone


def test_fidelity_knobs() -> None:
    r = proxy_train(tiny(), data="synthetic", steps=9, fraction=0.5, resolution=24, width=2.0, batch_size=32)
    assert r["status"] == "ok"
    assert r["steps"] == 9 and r["epochs"] == 2  # 240 training images at batch 32: 7 steps an epoch
    assert r["input"] == [3, 24, 24] and r["resolution"] == 24
    assert r["proxy_macs"] == nas.cost(scale_width(tiny(), 2.0).with_input((3, 24, 24))).macs


def test_nan_loss_gives_failed_result() -> None:
    # Without batch norm, a huge learning rate makes the weights, and then the loss, overflow within a few steps.
    r = proxy_train(tiny(bn=False), data="synthetic", epochs=1, lr=1e30)
    assert r["status"] == "failed" and r["accuracy"] is None
    assert r["error"].startswith("non-finite loss:") and "\n" not in r["error"]


def test_exception_in_training_gives_failed_result() -> None:
    def boom(info: dict[str, Any]) -> None:
        raise RuntimeError("boom\nsecond line")

    r = proxy_train(tiny(), data="synthetic", epochs=2, callback=boom)
    assert r["status"] == "failed" and r["error"] == "RuntimeError: boom"

    def oom(info: dict[str, Any]) -> None:  # what torch raises when a CUDA allocation fails
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    r = proxy_train(tiny(), data="synthetic", epochs=2, callback=oom)
    assert r["status"] == "failed" and r["error"] == "out of memory: CUDA out of memory. Tried to allocate 2.00 GiB"


def test_genome_that_cannot_adapt_gives_failed_result() -> None:
    # A first conv grouped over the 3 deployment channels cannot take digits' single channel.
    g = nas.Genome.from_dict({"input": [3, 32, 32], "classes": 10,
                              "stages": [[{"type": "conv", "c": 6, "k": 3, "groups": 3}]],
                              "head": [{"type": "gap"}, {"type": "linear"}]})
    r = proxy_train(g, data="digits")
    assert r["status"] == "failed"
    assert "not divisible by 3 groups" in r["error"]


def test_callback_sees_every_epoch_and_can_stop() -> None:
    seen: list[dict[str, Any]] = []
    r = proxy_train(tiny(), data="synthetic", epochs=3, callback=seen.append)
    assert [s["epoch"] for s in seen] == [1, 2, 3] and not r["stopped"]
    assert set(seen[0]) == {"epoch", "accuracy", "loss", "train_loss", "seconds"}
    assert seen[-1]["accuracy"] == r["accuracy"]

    r = proxy_train(tiny(), data="synthetic", epochs=3, callback=lambda info: info["epoch"] < 2)
    assert r["status"] == "ok" and r["stopped"] and r["epochs"] == 2 and len(r["history"]) == 2

    def stop(info: dict[str, Any]) -> None:
        raise StopTrial

    r = proxy_train(tiny(), data="synthetic", epochs=3, callback=stop)
    assert r["status"] == "ok" and r["stopped"] and r["epochs"] == 1


def test_restarts_end_a_cycle_at_each_decision_epoch() -> None:
    from estimators.train import _Schedule

    s = _Schedule(1.0, [10], 20)
    lrs = [s(i) for i in range(20)]
    assert lrs[:10] == lrs[10:]  # the second cycle repeats the first
    assert lrs[9] < 0.05 and lrs[10] == 1.0  # decayed at the restart epoch's end, back to the peak after it
    one = [_Schedule(1.0, [], 20)(i) for i in range(20)]
    assert one[9] > 0.5  # one cycle over the run is still high mid-way: where a rung used to decide
    a = proxy_train(tiny(), data="synthetic", epochs=2, restarts=[1], seed=1)
    b = proxy_train(tiny(), data="synthetic", epochs=1, seed=1)
    assert a["restarts"] == [1] and a["history"][0]["accuracy"] == b["accuracy"]  # epoch 1 is a full short run
    for bad in ([0], [2], [1, 1], [1.5]):
        with pytest.raises(nas.NasError, match="restarts must be"):
            proxy_train(tiny(), data="synthetic", epochs=2, restarts=bad)
    with pytest.raises(nas.NasError, match="cannot be combined with steps"):
        proxy_train(tiny(), data="synthetic", steps=4, restarts=[1])


def test_bad_calls_raise_nas_error() -> None:
    with pytest.raises(nas.NasError, match="unknown dataset 'nope'; datasets: fashion, mnist, digits"):
        proxy_train(tiny(), data="nope")
    for knobs in ({"epochs": 0}, {"fraction": 1.5}, {"width": -1}, {"steps": 2.5}, {"device": "tpu"}):
        with pytest.raises(nas.NasError):
            proxy_train(tiny(), data="synthetic", **knobs)


# ---------------------------------------------------------------- data


def test_bundled_data_sets_and_cache() -> None:
    ds = load_data("digits")
    assert (ds.shape == (1, 8, 8) and ds.classes == 10
            and (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (1150, 288, 359))
    assert load_data("digits") is ds  # once per process
    assert np.bincount(ds.y_val.numpy()).min() >= 28  # stratified: about 29 of each class
    mnist = load_data("mnist")
    assert mnist.shape == (1, 28, 28) and (len(mnist.y_train), len(mnist.y_val), len(mnist.y_test)) == (3200, 800, 1000)
    assert mnist.x_train.dtype == torch.uint8
    syn = load_data("synthetic", seed=1)
    assert syn.shape == (3, 16, 16) and (len(syn.y_train), len(syn.y_val)) == (480, 160)
    assert not torch.equal(syn.y_val, load_data("synthetic", seed=0).y_val)  # a split per seed


def _write_cifar(root: Path, per_batch: int = 20) -> None:
    """A tiny CIFAR-10 in the real python-pickle layout: five training batches, a test batch, the meta file."""
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"batch_label": name.encode(), b"labels": [i % 10 for i in range(per_batch)],
                 b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"filenames": [f"{i}.png".encode() for i in range(per_batch)]}
        with open(root / name, "wb") as f:
            pickle.dump(batch, f)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"n{i}".encode() for i in range(10)], b"num_cases_per_batch": per_batch}, f)


def test_cifar10_reads_the_pickle_layout(tmp_path: Path) -> None:
    (tmp_path / "cifar-10-batches-py").mkdir()
    _write_cifar(tmp_path / "cifar-10-batches-py")
    ds = load_data("cifar10", tmp_path)  # the parent of cifar-10-batches-py works too
    assert ds.shape == (3, 32, 32) and ds.classes == 10 and ds.class_names[3] == "n3"
    assert (len(ds.y_train), len(ds.y_val)) == (90, 10)  # the five training batches; test_batch is left out
    assert ds.x_train.dtype == torch.uint8
    r = proxy_train(tiny(), data="cifar10", data_dir=tmp_path / "cifar-10-batches-py", steps=2, batch_size=16)
    assert r["status"] == "ok" and r["input"] == [3, 32, 32] and r["classes"] == 10


class _Touch:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.path}",))


def test_a_cifar10_batch_that_would_run_code_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cifar-10-batches-py").mkdir()
    _write_cifar(tmp_path / "cifar-10-batches-py")
    marker = tmp_path / "pwned"
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_2", "wb") as f:
        pickle.dump({b"data": _Touch(str(marker)), b"labels": []}, f)
    with pytest.raises(nas.NasError, match="data_batch_2: not a CIFAR-10 python batch .*refusing to load "
                                           "posix.system"):
        load_data("cifar10", tmp_path)
    assert not marker.exists()


def test_imagefolder_reads_a_tree(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, cls in enumerate(["cat", "dog", "emu"]):
        (tmp_path / cls).mkdir()
        for i in range(5):
            side = 20 + 7 * i  # mixed sizes and modes
            arr = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
            img = Image.fromarray(arr).convert("L" if i % 2 else "RGB")
            img.save(tmp_path / cls / f"{i}.{'png' if i % 2 else 'jpg'}")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    ds = load_data("imagefolder", tmp_path)
    assert ds.shape == (3, 64, 64) and ds.class_names == ("cat", "dog", "emu")
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 15 and set(ds.y_val.tolist()) == {0, 1, 2}
    r = proxy_train(tiny(), data="imagefolder", data_dir=tmp_path, steps=2)
    assert r["status"] == "ok" and r["input"] == [3, 64, 64]


def test_bad_data_raise_nas_error(tmp_path: Path) -> None:
    cases = [
        (("nope",), "unknown dataset 'nope'; datasets: fashion, mnist, digits, cifar10, imagefolder, synthetic"),
        (("cifar10",), "needs a local directory \\(--data-dir; data_dir in Python\\)"),
        (("cifar10", tmp_path / "missing"), "no such directory"),
        (("cifar10", tmp_path), "not a CIFAR-10 python directory"),
        (("imagefolder", tmp_path), "expected one subfolder of images per class, found 0"),
        (("digits", tmp_path), "takes no directory"),
    ]
    for args, message in cases:
        with pytest.raises(nas.NasError, match=message):
            load_data(*args)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(nas.NasError, match="class folder holds no images"):
        load_data("imagefolder", tmp_path)
    (tmp_path / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(nas.NasError, match="not a CIFAR-10 python batch"):
        load_data("cifar10", tmp_path)


# ---------------------------------------------------------------- width and adaptation


@pytest.mark.parametrize("name", ["resnet18", "resnext50_32x4d", "mobilenet_v2", "shufflenet_v1_g3", "densenet121",
                                  "squeezenet1_0", "googlenet_tv", "vgg11_bn"])
def test_scale_width_keeps_genomes_valid_and_cheaper(name: str) -> None:
    g = nas.seed(name)
    before = nas.dumps(g)
    half = scale_width(g, 0.5)
    assert nas.dumps(g) == before  # the input is not mutated
    assert nas.loads(nas.dumps(half)) == half
    c, c0 = nas.cost(half), nas.cost(g)
    assert c.output == c0.output  # the classifier keeps its width
    assert 0.15 * c0.macs < c.macs < 0.5 * c0.macs and c.params < c0.params
    assert scale_width(g, 1.0) is g


def test_scaled_model_matches_its_cost() -> None:
    g = scale_width(nas.load(Path(__file__).parent.parent / "examples" / "mobile_se.yaml"), 0.5).with_input((3, 64, 64))
    assert_cost_matches_model(g)


def test_scale_width_rounding_and_errors() -> None:
    g = tiny(c=16)
    assert [b.params.get("c") for _, b in scale_width(g, 0.5).blocks()] == [8, None, 16, None, None]
    with pytest.raises(nas.NasError, match="width multiplier must be a positive number"):
        scale_width(g, 0)
    with pytest.raises(nas.NasError, match="stride-2 unit needs more output channels"):
        scale_width(nas.seed("shufflenet_v1_g3_025"), 0.25)


def test_proxy_genome_adapts_head_stem_and_resolution() -> None:
    g = nas.seed("resnet18")
    p = proxy_genome(g, (1, 8, 8), 10, width=0.25)
    # Total stride 32: 24x24 is the smallest rung at which every strided op still sees >= its stride.
    assert p.input == (1, 24, 24) and p.classes == 10 and nas.cost(p).output == (10,)
    assert proxy_genome(g, (1, 8, 8), 10, resolution=12).input == (1, 24, 24)  # raised to what the genome needs
    assert proxy_genome(g, (1, 8, 8), 10, resolution=64).input == (1, 64, 64)
    assert proxy_genome(nas.seed("lenet5"), (3, 32, 32), 4).input == (3, 32, 32)  # native size when it fits
    assert estimators.hardware_metrics(g)["macs"] == 1_814_073_344  # the budget is judged on the deployment genome
    explicit = nas.Genome.from_dict({**g.to_dict(), "head": [{"type": "gap"}, {"type": "linear", "c": 1000}]})
    assert nas.cost(proxy_genome(explicit, (1, 8, 8), 10)).output == (10,)  # a written-out 1000-way classifier too


# ---------------------------------------------------------------- zero-cost proxies


@pytest.mark.parametrize("name", sorted(ZERO_COST))
def test_zero_cost_proxy_is_finite_and_ranks_a_sound_network_first(name: str) -> None:
    sound = zero_cost(tiny(), name, data="synthetic")
    assert math.isfinite(sound)
    assert sound == zero_cost(tiny(), name, data="synthetic")  # deterministic for a seed
    assert sound > zero_cost(degenerate(), name, data="synthetic")


def test_zero_cost_unknown_name() -> None:
    with pytest.raises(nas.NasError, match="unknown zero-cost proxy 'flops'; valid: synflow, naswot, grad_norm, snip"):
        zero_cost(tiny(), "flops", data="synthetic")


# ---------------------------------------------------------------- hardware


def test_hardware_metrics_are_the_cost_model() -> None:
    m = estimators.hardware_metrics(nas.seed("mobilenet_v2"))
    c = nas.cost(nas.seed("mobilenet_v2"))
    assert m == {"macs": 300_774_272, "flops": 601_548_544, "params": 3_504_872, "activations": c.activations,
                 "activation_bytes": 4 * c.activations, "input": [3, 224, 224]}


def test_latency_reports_median_and_spread() -> None:
    r = estimators.latency(tiny(), batch=2, warmup=1, repeats=5)
    assert set(r) == {"median_ms", "p10_ms", "p90_ms", "min_ms", "mean_ms", "device", "batch", "repeats", "threads"}
    assert 0 < r["min_ms"] <= r["p10_ms"] <= r["median_ms"] <= r["p90_ms"]
    assert (r["device"], r["batch"], r["repeats"]) == ("cpu", 2, 5)
    with pytest.raises(nas.NasError, match="repeats must be an integer >= 1"):
        estimators.latency(tiny(), repeats=0)
