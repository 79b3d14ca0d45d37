"""Proxy data sets, never downloaded: fashion, mnist, digits, cifar10, imagefolder, synthetic, and your own.

A data set is loaded once per process (a module-level cache) and split three ways: a **test** split that no
search decision ever reads (the data set's official one where it has one, else a stratified part carved with a
fixed seed), and, per seed, a stratified **train** and **validation** part of the rest. A trial asks for its
tensors at its proxy resolution and data fraction; the last few of those are cached too, so that the candidates
of a search that share a fidelity share one copy. The verdict asks for ``final=True`` tensors: it trains on train
and validation together and is scored on the test split.

A data set is a ``DataSet`` class in the ``DATASETS`` registry whose ``read`` returns a ``Source``: arrays, held in
memory, or ``Files``, streamed from disk batch by batch at the proxy's resolution (``estimators.files``). Your own
loads by ``module:Class`` or by an entry point in the group ``nas.datasets`` (``docs/data.md``).

The built-in sets, with their images for train + validation / validation / test:

- ``fashion`` (default): Fashion-MNIST, 1x28x28, 10 classes: ``data_dir``, else Debian's copy in
  ``/usr/share/datasets/fashion-mnist``, else the bundled stratified subset. 60,000 (subset 15,000) / 5,000 /
  10,000 (subset 5,000).
- ``mnist``: MNIST's IDX files in ``data_dir``; without one, the 5,000-image sample bundled here. 60,000 (sample
  4,000) / 5,000 (sample 20%) / 10,000 (sample 1,000).
- ``digits``: scikit-learn's bundled handwritten digits, 1x8x8, 10 classes (for tests). 1,438 / 20% / 359.
- ``cifar10``: the python-pickle CIFAR-10 in ``data_dir``, 3x32x32. 50,000 / 10% / ``test_batch``, 10,000.
- ``imagefolder``: one subfolder per class under ``data_dir``, streamed; native 3x64x64, read at the proxy's
  resolution. 80% / 20% of it / 20%.
- ``synthetic``: generated class templates plus noise, 3x16x16, 4 classes (for tests). 640 / 25% / 320 more.

>>> ds = load_data("digits")
>>> ds.shape, ds.classes, len(ds.y_train), len(ds.y_val), len(ds.y_test)
((1, 8, 8), 10, 1150, 288, 359)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from nas import NasError
from nas.plugins import Registry

from .files import IMAGE_SUFFIXES, STREAM_WORKERS, Files, check_headers, read_batches
from .readers import _cifar10, _cifar10_root, _synthetic

SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package puts the full set."""

IDX_VALIDATION = 5000
"""Validation images of the IDX data sets (fashion, mnist): 0.45 points of standard error at 88% accuracy."""

IMAGEFOLDER_SIZE = 64
"""The native side of an ImageFolder image: the proxy's resolution is chosen against 3x64x64, and each file is then
read straight at that resolution."""

_TEST_FRACTION = 0.2  # carved where a data set has no test split of its own
_TEST_SEED = 20261202  # the carved test split is one and the same for every seed
_STATS_SAMPLE = 512  # streamed images whose pixels give the per-channel statistics


# ---------------------------------------------------------------- the protocol


@dataclass(frozen=True, eq=False)
class Source:
    """What a data set's reader returns: images and labels, and the test split where the data set has its own.

    ``x`` is an array (N, C, H, W) of uint8 or float images, or ``Files`` (read from disk batch by batch, never
    all in memory). ``y`` holds int labels 0..classes-1. ``validation`` is the part of the non-test images held
    out for validation: a fraction, or a count of images (at most a third of them).
    """

    x: np.ndarray | Files
    y: np.ndarray
    class_names: tuple[str, ...]
    x_test: np.ndarray | Files | None = None
    y_test: np.ndarray | None = None
    validation: float | int = 0.2


class DataSet:
    """A data set by name. Subclass it, set ``name`` and ``directory``, write ``read``, and register it with
    ``@DATASETS.register`` (or name it ``module:Class`` on the command line, or declare it as an entry point in the
    group ``nas.datasets``)."""

    name = ""
    directory = "optional"
    """Whether ``--data-dir`` is ``"required"``, ``"optional"`` or refused (``"none"``)."""

    def default_dir(self) -> str | None:
        """The directory read when none is given."""
        return None

    def read(self, data_dir: str | None) -> Source:
        """The images of ``data_dir`` (or of the package); raise ``NasError`` naming the file that is wrong."""
        raise NotImplementedError


def _load_builtins() -> None:
    """The built-in data sets register themselves below, in this module."""


DATASETS: Registry[type[DataSet]] = Registry("dataset", "datasets", _load_builtins)
"""The data sets by name: ``DATASETS.names()``, ``DATASETS.lookup(name)``; ``module:Class`` and entry points too."""


@DATASETS.register
class Fashion(DataSet):
    """Fashion-MNIST, 1x28x28, 10 classes, from IDX files: the directory given, else Debian's copy, else the
    bundled stratified subset."""

    name = "fashion"

    def default_dir(self) -> str | None:
        return str(SYSTEM_FASHION if (SYSTEM_FASHION / "t10k-labels-idx1-ubyte.gz").exists() else bundled_fashion())

    def read(self, data_dir: str | None) -> Source:
        return _idx(str(data_dir or self.default_dir()), FASHION_CLASSES)


@DATASETS.register
class Mnist(DataSet):
    """MNIST's IDX files in the directory given, else the 5,000-image sample bundled with this package."""

    name = "mnist"

    def read(self, data_dir: str | None) -> Source:
        if data_dir is not None:
            return _idx(data_dir, tuple(map(str, range(10))))
        from .idx import read_idx

        here = Path(__file__).resolve().parent / "bundled" / "mnist-sample"
        x, y = read_idx(here / "images-idx3-ubyte.gz"), read_idx(here / "labels-idx1-ubyte.gz")
        return Source(x[:, None].copy(), y.astype(np.int64), tuple(map(str, range(10))))


@DATASETS.register
class Digits(DataSet):
    """scikit-learn's bundled handwritten digits, 1x8x8, 10 classes (for tests)."""

    name, directory = "digits", "none"

    def read(self, data_dir: str | None) -> Source:
        from sklearn.datasets import load_digits

        d = load_digits()
        return Source(d.images[:, None].astype(np.float32), d.target.astype(np.int64), tuple(map(str, d.target_names)))


@DATASETS.register
class Cifar10(DataSet):
    """The python-pickle CIFAR-10 in the directory given, 3x32x32."""

    name, directory = "cifar10", "required"

    def read(self, data_dir: str | None) -> Source:
        root = _cifar10_root(Path(str(data_dir)))
        x, y, names = _cifar10(root)
        if (root / "test_batch").exists():
            xt, yt, _ = _cifar10(root, "test_batch")
            return Source(x, y, names, xt, yt, validation=0.1)
        return Source(x, y, names, validation=0.1)


@DATASETS.register
class ImageFolder(DataSet):
    """One subfolder of images per class, streamed from disk at the proxy's resolution (native side 64)."""

    name, directory = "imagefolder", "required"

    def read(self, data_dir: str | None) -> Source:
        return _imagefolder(Path(str(data_dir)))


@DATASETS.register
class Synthetic(DataSet):
    """Generated class templates plus noise, 3x16x16, 4 classes (for tests)."""

    name, directory = "synthetic", "none"

    def read(self, data_dir: str | None) -> Source:
        x, y, names = _synthetic(n=960)
        return Source(x[:640], y[:640], names, x[640:], y[640:], validation=0.25)


@dataclass(frozen=True, eq=False)  # identity: a split is cached, never compared by value
class Dataset:
    """A data set split for a seed: images (N, C, H, W) as a uint8 or float tensor, or as ``Files`` when streamed;
    int64 labels; per-channel statistics."""

    name: str
    x_train: torch.Tensor | Files
    y_train: torch.Tensor
    x_val: torch.Tensor | Files
    y_val: torch.Tensor
    classes: int
    mean: tuple[float, ...]  # per channel, over the training part, in the units of x
    std: tuple[float, ...]
    class_names: tuple[str, ...] = ()
    x_test: torch.Tensor | Files | None = None  # held out: read only by the verdict
    y_test: torch.Tensor | None = None
    source: str = ""  # where the images came from (a directory, a package)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Native (C, H, W) of one image."""
        c, h, w = self.x_train.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def streamed(self) -> bool:
        """Whether the images are read from files as a trial needs them."""
        return isinstance(self.x_train, Files)

    def __repr__(self) -> str:
        test = len(self.y_test) if self.y_test is not None else 0
        return (f"Dataset({self.name!r}, {'x'.join(map(str, self.shape))}, {self.classes} classes, "
                f"{len(self.y_train)} train / {len(self.y_val)} validation / {test} test"
                f"{', streamed' if self.streamed else ''})")


@dataclass(frozen=True)
class Tensors:
    """A trial's float tensors: normalized, at the proxy resolution, the training part subsampled."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor

    def to(self, device: torch.device | str) -> Tensors:
        """The same tensors on ``device`` (themselves where they already are)."""
        return Tensors(*(t.to(device) for t in (self.x_train, self.y_train, self.x_val, self.y_val)))

    def batches(self, part: str, order: torch.Tensor | None, size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of ``size`` of the ``"train"`` or ``"val"`` part, in ``order`` (indices), else in stored order."""
        x, y = (self.x_train, self.y_train) if part == "train" else (self.x_val, self.y_val)
        if order is None:
            yield from zip(x.split(size), y.split(size))
            return
        for i in range(0, len(order), size):
            idx = order[i:i + size]
            yield x[idx], y[idx]

    def materialize(self) -> Tensors:
        """Itself: already in memory."""
        return self


@dataclass(frozen=True)
class Stream:
    """A trial's images read from their files batch by batch at ``side`` x ``side`` and normalized as they arrive;
    ``batches`` as for ``Tensors``, so the training loop does not tell them apart."""

    x_train: Files
    y_train: torch.Tensor
    x_val: Files
    y_val: torch.Tensor
    side: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    device: str = "cpu"
    workers: int = STREAM_WORKERS

    def to(self, device: torch.device | str) -> Stream:
        """The same stream, its batches delivered on ``device``."""
        return replace(self, device=str(device))

    def batches(self, part: str, order: torch.Tensor | None, size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        files, y = (self.x_train, self.y_train) if part == "train" else (self.x_val, self.y_val)
        idx = torch.arange(len(y)) if order is None else order.cpu()
        chunks = [idx[i:i + size] for i in range(0, len(idx), size)]
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
        for chunk, xb in zip(chunks, read_batches(files, self.side, [c.tolist() for c in chunks], self.workers)):
            yield ((xb.float() - mean) / std).to(self.device), y[chunk].to(self.device)

    def materialize(self) -> Tensors:
        """Every image read into memory (for estimators that need them all at once: the supernet, zero-cost)."""
        def whole(part: str) -> torch.Tensor:
            n = len(self.y_train if part == "train" else self.y_val)
            parts = [x.cpu() for x, _ in self.batches(part, None, 256)]
            return torch.cat(parts) if parts else torch.zeros(n, 3, self.side, self.side)

        return Tensors(whole("train"), self.y_train.clone(), whole("val"), self.y_val.clone())


def load_data(name: str = "fashion", data_dir: str | Path | None = None, seed: int = 0) -> Dataset:
    """The data set ``name`` with its test split and the stratified train/validation split for ``seed`` (cached)."""
    cls = DATASETS.lookup(name)
    if cls.directory == "required" and data_dir is None:
        raise NasError(f"dataset '{name}' needs a local directory (--data-dir; data_dir in Python): nothing is "
                       "downloaded")
    if cls.directory == "none" and data_dir is not None:
        raise NasError(f"dataset '{name}' ships with its package and takes no directory (--data-dir; data_dir in "
                       "Python)")
    if data_dir is None:
        data_dir = cls().default_dir()
    if data_dir is not None:
        data_dir = str(Path(data_dir).expanduser().resolve())
    return _split(name, data_dir, int(seed))


def bundled_fashion() -> Path:
    """The directory of the stratified Fashion-MNIST subset shipped inside this package (see its README)."""
    return Path(str(resources.files("estimators") / "bundled" / "fashion-mnist"))


def tensors(ds: Dataset, resolution: int, fraction: float = 1.0, seed: int = 0, *, final: bool = False,
            train_images: int | None = None) -> Tensors | Stream:
    """Normalized float tensors at ``resolution`` x ``resolution``, a stratified ``fraction`` of the training part
    (a ``Stream`` of them when the data set is streamed; ``.materialize()`` reads it all).

    ``train_images`` caps the training images (stratified, after ``fraction``). ``final``: train on the train and
    validation parts together and score on the test split (the verdict's protocol).
    """
    return _tensors(ds, int(resolution), float(fraction), int(seed), bool(final), train_images)


# ---------------------------------------------------------------- the cache


@lru_cache(maxsize=8)
def _source(name: str, data_dir: str | None) -> Source:
    """The data set's images as its reader gives them, read once per process and checked."""
    try:
        src = DATASETS.lookup(name)().read(data_dir)
    except NasError:
        raise
    except Exception as e:  # noqa: BLE001 - a user's reader may fail in any way: one line naming it
        msg = (str(e).strip().splitlines() or [""])[0]
        raise NasError(f"data set '{name}': its reader failed: {type(e).__name__}: {msg}") from None
    _check_source(name, src)
    return src


def _check_source(name: str, src: Any) -> None:
    if not isinstance(src, Source):
        raise NasError(f"data set '{name}': its reader returned {type(src).__name__}, not estimators.data.Source")
    for x, y, part in ((src.x, src.y, "x"), (src.x_test, src.y_test, "x_test")):
        if x is None and y is None and part == "x_test":
            continue
        if not isinstance(x, Files) and (not isinstance(x, np.ndarray) or x.ndim != 4):
            raise NasError(f"data set '{name}': {part} must be an array (N, C, H, W) or Files")
        if not isinstance(y, np.ndarray) or y.ndim != 1 or len(y) != len(x) or \
                not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
            raise NasError(f"data set '{name}': the labels of {part} must be {len(x)} integers >= 0")


FASHION_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle boot")


def _idx(data_dir: str, names: tuple[str, ...]) -> Source:
    from .idx import read_split

    x, y = read_split(data_dir, "train")
    xt, yt = read_split(data_dir, "test")
    return Source(x, y, names, xt, yt, validation=IDX_VALIDATION)


def _images(x: np.ndarray | Files) -> torch.Tensor | Files:
    return x if isinstance(x, Files) else torch.from_numpy(np.ascontiguousarray(x))


@lru_cache(maxsize=16)
def _split(name: str, data_dir: str | None, seed: int) -> Dataset:
    from sklearn.model_selection import train_test_split

    src = _source(name, data_dir)
    x, y, xt, yt = src.x, src.y.astype(np.int64), src.x_test, src.y_test
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
    v = src.validation
    n_val = min(int(v), len(y) // 3) if isinstance(v, (int, np.integer)) else int(round(float(v) * len(y)))
    n_val = max(len(counts), n_val)
    tr, va = train_test_split(np.arange(len(y)), test_size=n_val, stratify=y, random_state=seed)
    tr, va = np.sort(tr), np.sort(va)  # keep the data set's own order within each part
    mean, std = _channel_stats(x[tr])
    return Dataset(name, _images(x[tr]), torch.from_numpy(y[tr]), _images(x[va]), torch.from_numpy(y[va]),
                   len(counts), mean, std, src.class_names, _images(xt), torch.from_numpy(np.asarray(yt, np.int64)),
                   data_dir or name)


@lru_cache(maxsize=4)
def _tensors(ds: Dataset, resolution: int, fraction: float, seed: int, final: bool,
             train_images: int | None) -> Tensors | Stream:
    if final:
        if ds.x_test is None or ds.y_test is None:
            raise NasError(f"data set '{ds.name}' has no test split")
        x_train = ds.x_train.cat(ds.x_val) if isinstance(ds.x_train, Files) else torch.cat([ds.x_train, ds.x_val])
        y_train = torch.cat([ds.y_train, ds.y_val])
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
    if isinstance(x_train, Files):
        assert isinstance(x_eval, Files)
        return Stream(x_train[idx], y_train[idx].clone(), x_eval, y_eval.clone(), resolution, ds.mean, ds.std)
    return Tensors(_prepare(ds, x_train[idx], resolution), y_train[idx].clone(),
                   _prepare(ds, x_eval, resolution), y_eval.clone())


def _channel_stats(x: np.ndarray | Files) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation, accumulated in float64 chunks (CIFAR-10 would need 1 GB at once);
    of streamed images, over an evenly spaced sample of ``_STATS_SAMPLE`` read at 32x32."""
    if isinstance(x, Files):
        pick = np.unique(np.linspace(0, len(x) - 1, min(len(x), _STATS_SAMPLE)).astype(int))
        x = np.concatenate(list(read_batches(x[pick], 32, [range(i, min(i + 128, len(pick)))
                                                           for i in range(0, len(pick), 128)], workers=0)))
    total = np.zeros(x.shape[1])
    squares = np.zeros(x.shape[1])
    for i in range(0, len(x), 4096):
        chunk = np.asarray(x[i:i + 4096], dtype=np.float64)
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


# ---------------------------------------------------------------- image folders


def _imagefolder(root: Path) -> Source:
    """Every image file under ``root/<class>/`` (streamed), classes in sorted order; each file's header is read."""
    if not root.is_dir():
        raise NasError(f"{root}: {'not a' if root.exists() else 'no such'} directory (imagefolder expects one "
                       "subfolder of images per class)")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise NasError(f"{root}: expected one subfolder of images per class, found {len(classes)} subfolder(s)")
    paths: list[str] = []
    labels: list[int] = []
    for label, cls in enumerate(classes):
        files = sorted(p for p in (root / cls).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise NasError(f"{root / cls}: class folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        paths += map(str, files)
        labels += [label] * len(files)
    found = Files(paths, IMAGEFOLDER_SIZE)
    check_headers(found)
    return Source(found, np.asarray(labels, dtype=np.int64), tuple(classes))
