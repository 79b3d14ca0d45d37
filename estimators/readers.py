"""Two built-in data sets' readers: CIFAR-10's python pickles (read without running any code they hold) and the
generated synthetic set."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nas import NasError


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
