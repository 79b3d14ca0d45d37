"""Data sets of one's own and image folders streamed from disk: the registry, the streamed batches, the refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import estimators
import nas
from estimators.data import DATASETS, DataSet, Source, load_data, tensors
from estimators.files import Files, read_image
from nas import NasError


def write_folder(root: Path, per_class: int = 12, classes: int = 3, size: tuple[int, int] = (24, 20)) -> Path:
    """A folder of small PNG and JPEG images, one subfolder per class, each class a different tint."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            pixels = (rng.random((*size, 3)) * 60 + 70 * c).astype(np.uint8)
            Image.fromarray(pixels).save(root / f"class{c}" / f"{i}.{'png' if i % 3 else 'jpg'}")
    return root


def test_an_image_folder_is_streamed_and_its_batches_are_the_files_read_at_the_proxy_resolution(tmp_path) -> None:
    ds = load_data("imagefolder", write_folder(tmp_path / "f"))
    assert ds.streamed and isinstance(ds.x_train, Files) and ds.shape == (3, 64, 64)
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 36
    stream = tensors(ds, 16, seed=1)
    assert isinstance(stream, estimators.data.Stream)
    order = torch.tensor([4, 0, 7, 2, 9])
    batches = list(stream.batches("train", order, 2))
    assert [len(x) for x, _ in batches] == [2, 2, 1]
    x = torch.cat([b for b, _ in batches])
    mean = torch.tensor(ds.mean).view(1, 3, 1, 1)
    std = torch.tensor(ds.std).view(1, 3, 1, 1)
    by_hand = torch.stack([torch.from_numpy(read_image(p, 16)) for p in ds.x_train.paths[order.numpy()]])
    assert torch.equal(x, (by_hand.float() - mean) / std)
    assert torch.equal(torch.cat([y for _, y in batches]), ds.y_train[order])
    whole = stream.materialize()
    assert whole.x_train.shape == (len(ds.y_train), 3, 16, 16) and torch.equal(whole.x_train[order], x)
    assert torch.equal(whole.x_val, torch.cat([b for b, _ in stream.batches("val", None, 5)]))
    assert all(c > 40 for c in ds.mean)  # statistics of the pixels, not of zeros


@pytest.mark.slow
def test_proxy_training_streams_with_workers_and_the_verdict_reads_the_test_files(tmp_path) -> None:
    root = write_folder(tmp_path / "f")
    r = estimators.proxy_train(nas.seed("lenet5"), data="imagefolder", data_dir=root, epochs=2, resolution=32,
                               width=0.5)
    assert r["status"] == "ok", r.get("error")
    assert r["input"] == [3, 32, 32] and r["epochs"] == 2 and r["n_eval"] == len(load_data("imagefolder", root).y_val)
    assert r["accuracy"] > 0.5  # three tints are easy to tell apart
    again = estimators.proxy_train(nas.seed("lenet5"), data="imagefolder", data_dir=root, epochs=2, resolution=32,
                                   width=0.5)
    assert again["accuracy"] == r["accuracy"] and again["loss"] == r["loss"]  # workers do not change the order
    final = estimators.proxy_train(nas.seed("lenet5"), data="imagefolder", data_dir=root, epochs=1, resolution=32,
                                   width=0.5, final=True)
    assert (final["status"] == "ok" and final["split"] == "test"
            and final["n_eval"] == len(load_data("imagefolder", root).y_test) == 7)
    assert estimators.zero_cost(nas.seed("lenet5"), "synflow", data="imagefolder", data_dir=root, batch_size=4) > 0


@pytest.mark.slow
def test_a_file_that_is_no_image_is_refused_before_training_with_one_line(tmp_path) -> None:
    root = write_folder(tmp_path / "f")
    (root / "class1" / "notes.png").write_text("not an image")
    with pytest.raises(NasError, match=r"class1/notes.png: not a readable image \(UnidentifiedImageError\)"):
        load_data("imagefolder", root)
    p = subprocess.run([sys.executable, "-m", "nas.app.cli", "search", "--no-dashboard", "--dataset", "imagefolder",
                        "--data-dir", str(root), "--out", str(tmp_path / "run")], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "notes.png: not a readable image" in p.stderr
    assert not (tmp_path / "run").exists()


def test_a_truncated_image_is_refused_up_front_or_fails_its_trial_naming_the_file(tmp_path) -> None:
    root = write_folder(tmp_path / "f")
    broken = root / "class0" / "1.png"
    good = broken.read_bytes()
    broken.write_bytes(good[:60])  # the header survives, the pixels do not
    with pytest.raises(NasError, match=r"class0/1.png: not a readable image \(OSError\)"):
        load_data("imagefolder", root)  # the statistics' sample reads every file of a small folder
    broken.write_bytes(good)
    ds = load_data("imagefolder", root)
    assert str(broken) in set(ds.x_train.paths)  # the split is fixed by its seed
    broken.write_bytes(good[:60])  # a file that goes bad while the search runs fails the trials that read it
    r = estimators.proxy_train(nas.seed("lenet5"), data="imagefolder", data_dir=root, epochs=1, resolution=32)
    assert r["status"] == "failed" and r["error"] == f"{broken}: not a readable image (OSError)"


class Stripes(DataSet):
    """Horizontal or vertical stripes, generated: a data set of one's own that needs no directory."""

    name, directory = "stripes", "none"

    def read(self, data_dir):
        rng = np.random.default_rng(5)
        y = np.arange(120) % 2
        x = rng.normal(size=(120, 1, 12, 12)).astype(np.float32)
        x[y == 0, :, ::3, :] += 2.0
        x[y == 1, :, :, ::3] += 2.0
        return Source(x, y, ("horizontal", "vertical"), validation=0.25)


def test_a_data_set_of_ones_own_loads_by_module_and_class() -> None:
    ds = load_data(f"{__name__}:Stripes")
    assert ds.classes == 2 and ds.shape == (1, 12, 12) and not ds.streamed
    assert len(ds.y_test) == 24 and len(ds.y_val) == 24 and ds.class_names == ("horizontal", "vertical")
    r = estimators.proxy_train(nas.seed("lenet5"), data=f"{__name__}:Stripes", epochs=2, resolution=16)
    assert r["status"] == "ok" and r["classes"] == 2


class _Broken(DataSet):
    name, directory = "broken", "none"

    def read(self, data_dir):
        return {"x": []}


class _Raises(DataSet):
    name, directory = "raises", "none"

    def read(self, data_dir):
        raise OSError("the disk is gone\nsecond line")


@pytest.mark.parametrize("name, message", [
    (f"{__name__}:_Broken", "its reader returned dict, not estimators.data.Source"),
    (f"{__name__}:_Raises", "its reader failed: OSError: the disk is gone"),
    (f"{__name__}:nothing", f"dataset '{__name__}:nothing' does not load: AttributeError"),
    ("no_such_module:Data", "dataset 'no_such_module:Data' does not load: ModuleNotFoundError"),
    (f"{__name__}:write_folder", "is not a DataSet subclass"),
])
def test_a_data_set_that_does_not_load_or_read_is_one_line(name, message) -> None:
    with pytest.raises(NasError, match=message) as e:
        load_data(name)
    assert "\n" not in str(e.value)


def test_the_built_in_data_sets_are_the_registry_s_names() -> None:
    assert DATASETS.names() == ["fashion", "mnist", "digits", "cifar10", "imagefolder", "synthetic"]
