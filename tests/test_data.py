"""The IDX reader, the bundled Fashion-MNIST subset, the held-out test split, the proxy policy and the verdict's
interval wording."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import search_spaces
from estimators import load_data
from estimators._adapt import dead_dimensions, dimension_kind, maps, proxy_genome
from estimators.data import bundled_fashion
from estimators.idx import read_idx, read_split, write_idx
from nas import NasError
from nas.app.verdict import kendall_tau, paired_difference, wording


def _write_set(root: Path, n: int = 30, n_test: int = 20, gz: bool = True) -> None:
    rng = np.random.default_rng(0)
    ext = ".gz" if gz else ""
    for split, count in (("train", n), ("t10k", n_test)):
        write_idx(root / f"{split}-images-idx3-ubyte{ext}", rng.integers(0, 256, (count, 28, 28)))
        write_idx(root / f"{split}-labels-idx1-ubyte{ext}", np.arange(count) % 10)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz) -> None:
    a = np.random.default_rng(1).integers(0, 256, (5, 4, 3)).astype(np.uint8)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    assert np.array_equal(read_idx(path), a)


def test_idx_errors_name_the_file(tmp_path) -> None:
    bad = tmp_path / "bad-magic"
    bad.write_bytes(b"\x00\x00\x09\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(NasError, match=r"bad-magic: not an IDX file of unsigned bytes"):
        read_idx(bad)
    short = tmp_path / "short.gz"
    short.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"".join(d.to_bytes(4, "big") for d in (10, 28, 28))
                                    + b"x" * 100))
    with pytest.raises(NasError, match=r"short.gz: truncated: 116 bytes"):
        read_idx(short)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"12345")[:-6])
    with pytest.raises(NasError, match=r"cut.gz: a damaged or truncated gzip file"):
        read_idx(cut)
    (tmp_path / "set").mkdir()
    _write_set(tmp_path / "set")
    write_idx(tmp_path / "set" / "train-labels-idx1-ubyte.gz", np.arange(29) % 10)
    with pytest.raises(NasError,
                       match=r"train-images-idx3-ubyte.gz: 30 images but train-labels-idx1-ubyte.gz holds 29"):
        read_split(tmp_path / "set", "train")


@pytest.mark.slow
def test_fashion_from_a_directory_uses_its_test_split(tmp_path) -> None:
    _write_set(tmp_path, n=60, n_test=20, gz=False)
    ds = load_data("fashion", tmp_path)
    assert len(ds.y_test) == 20 and len(ds.y_train) + len(ds.y_val) == 60
    assert len(ds.y_val) == 20  # at most a third of a tiny set; 5,000 on the real one
    mn = load_data("mnist", tmp_path)
    assert mn.class_names[0] == "0" and ds.class_names[0] == "t-shirt/top"


def test_bundled_subset_loads_offline_and_is_stratified() -> None:
    ds = load_data("fashion", bundled_fashion())
    assert ds.shape == (1, 28, 28) and ds.classes == 10
    assert len(ds.y_val) == 5000 and len(ds.y_test) == 5000 and len(ds.y_train) == 10000
    for y in (ds.y_train, ds.y_val, ds.y_test):
        counts = np.bincount(y.numpy(), minlength=10)
        assert counts.max() == counts.min()  # equal per class in every part
    assert "Zalando" in (bundled_fashion() / "README.md").read_text()


def test_test_split_is_the_same_for_every_seed() -> None:
    a, b = load_data("digits", seed=0), load_data("digits", seed=1)
    assert np.array_equal(a.y_test.numpy(), b.y_test.numpy()) and a.x_test.sum() == b.x_test.sum()
    assert not np.array_equal(a.y_val.numpy()[:50], b.y_val.numpy()[:50]) or a.x_val.sum() != b.x_val.sum()


def _bad_data_cli(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nas.app.cli", "search", "--no-dashboard", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_cli_names_a_broken_data_file(tmp_path) -> None:
    _write_set(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    p = _bad_data_cli(["--dataset", "fashion", "--data-dir", str(tmp_path), "--out", str(tmp_path / "run")])
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and "t10k-images-idx3-ubyte.gz: a damaged or truncated gzip file" in p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("name", search_spaces.names())
def test_proxy_policy_leaves_no_choice_dead(name) -> None:
    """At Fashion-MNIST's 28x28, every kernel, SE and activation choice changes the function the proxy trains."""
    space = search_spaces.get(name)
    dead = dead_dimensions(space, (1, 28, 28), 10, width=0.35, samples=12)
    assert not [d for d, v in dead.items() if v]
    for g in (space.sample(np.random.default_rng(3)),):
        pg = proxy_genome(g, (1, 28, 28), 10, width=0.35, floor=space.proxy_map)
        assert min(maps(pg)) >= min(space.proxy_map, 2)


@pytest.mark.slow
def test_without_the_floor_the_check_finds_dead_kernels() -> None:
    """The old policy (every stride kept at 28x28) leaves MobileNetV2's late kernels on 2x2 and 1x1 maps."""
    space = search_spaces.get("mobilenet")
    dead = dead_dimensions(space, (1, 28, 28), 10, width=0.35, floor=1)
    kernels = [d for d, v in dead.items() if v and dimension_kind(d) == "kernel"]
    assert len(kernels) >= 10 and "s6.b0.k" in kernels
    assert not dead["s0.b0.k"]


def test_interval_wording() -> None:
    assert wording("best", "seed", 0.014, 0.006, 0.022, "test") == \
        "best vs seed: +1.4 points [+0.6, +2.2] on the test split: best is better"
    assert wording("a", "b", -0.02, -0.03, -0.01, "test").endswith(": b is better")
    assert wording("a", "b", 0.003, -0.005, 0.011, "test").endswith(": the two cannot be told apart")
    diff, lo, hi = paired_difference([1, 0, 1, 1, 0, 1], [1, 0, 1, 1, 0, 1])
    assert diff == lo == hi == 0.0
    diff, lo, hi = paired_difference([1] * 50 + [0] * 50, [0] * 50 + [1] * 50)
    assert diff == 0 and lo < 0 < hi
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0) and kendall_tau([1, 2], [1, 2]) is None


def test_the_interval_includes_training_noise() -> None:
    """A 1-point lead on 5,000 shared images is clear of test-image noise, but not of seed noise of 0.7 points \
(a pessimistic case)."""
    a, b = [1] * 50 + [0] * 4950, [0] * 5000
    _, lo, _ = paired_difference(a, b)
    assert lo > 0.005
    diff, lo, hi = paired_difference(a, b, seed_var=0.007 ** 2, seed_df=4, seeds=(2, 2))
    assert diff == pytest.approx(0.01) and lo < 0 < hi
    # more seeds on both sides narrow it again; no seed variance leaves the image-only interval
    _, lo8, hi8 = paired_difference(a, b, seed_var=0.007 ** 2, seed_df=28, seeds=(8, 8))
    assert hi8 - lo8 < hi - lo
    assert paired_difference(a, b, seed_var=0.0, seed_df=4, seeds=(2, 2)) == paired_difference(a, b)


def test_the_verdict_pools_seed_noise_and_says_when_it_cannot() -> None:
    from estimators.train import encode_correct
    from nas.app.verdict import Entrant, report, seed_noise

    def entrant(i: int, label: str, accs: list[float], is_seed: bool = False) -> Entrant:
        e = Entrant(i, label, None, 100, search_accuracy=None if is_seed else 0.8, is_seed=is_seed, top=not is_seed)
        for s, acc in enumerate(accs):
            hits = [1] * int(round(acc * 5000)) + [0] * (5000 - int(round(acc * 5000)))
            e.results[s] = {"accuracy": acc, "correct": encode_correct(hits), "n_eval": 5000}
        return e

    best, seed = entrant(0, "trial 3", [0.870, 0.856]), entrant(1, "seed", [0.860, 0.850], is_seed=True)
    var, df = seed_noise([best, seed])
    assert df == 2 and var == pytest.approx(((0.014 ** 2) / 2 + (0.010 ** 2) / 2) / 2)
    winner, lines, data = report([best, seed], "test")
    assert winner is best and data["seed_df"] == 2
    assert any(line.startswith("training noise: one retraining's test accuracy moves by") for line in lines)
    assert lines[-2].endswith("the two cannot be told apart") and not data["versus_seed"]["told_apart"]
    assert lines[-1].startswith("fidelity audit: 1 retrained network(s) with a search score, too few")
    one = [entrant(0, "trial 3", [0.870]), entrant(1, "seed", [0.850], is_seed=True)]
    _, lines, data = report(one, "test")
    assert data["seed_df"] == 0 and any("one seed per network cannot measure it" in line for line in lines)
    assert data["versus_seed"]["told_apart"]  # 2 points on 5,000 images, test noise only


def test_naswot_reads_rectifiers_only() -> None:
    """Mellor et al.'s codes are those of rectified units: a sigmoid gate (an SE block's) adds nothing."""
    import torch
    from torch import nn

    from estimators.zerocost import naswot

    torch.manual_seed(0)
    x, y = torch.randn(8, 3, 6, 6), torch.zeros(8, dtype=torch.long)
    gated = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Sigmoid(), nn.Flatten())
    assert naswot(gated, x, y) == pytest.approx(0.0)  # no rectifier: the kernel is the identity
    rectified = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten())
    assert naswot(rectified, x, y) > 1.0


def test_an_idx_header_whose_size_wraps_and_a_gzip_bomb_are_one_line(tmp_path) -> None:
    import zlib

    header = b"\x00\x00\x08\x03" + (2**31).to_bytes(4, "big") * 2 + (4).to_bytes(4, "big")  # 2^64 bytes: wraps in int64
    (tmp_path / "wrap").write_bytes(header)
    with pytest.raises(NasError, match=r"wrap: truncated: 16 bytes, the header \(2147483648x2147483648x4\) needs "):
        read_idx(tmp_path / "wrap")
    small = b"\x00\x00\x08\x01" + (10).to_bytes(4, "big") + bytes(50_000_000)  # says 10 labels, holds 50 MB
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    (tmp_path / "bomb.gz").write_bytes(packer.compress(small) + packer.flush())
    assert (tmp_path / "bomb.gz").stat().st_size < 100_000
    with pytest.raises(NasError, match=r"bomb.gz: expands to more than 18 bytes, more than its IDX header asks for"):
        read_idx(tmp_path / "bomb.gz")
