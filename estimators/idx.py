"""The IDX file format of MNIST and Fashion-MNIST, plain or gzip-compressed.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one big-endian
uint32 per dimension, then the data in C order. Only the unsigned-byte type (0x08) is used by these data sets.
A wrong magic number, a truncated file or image and label files that disagree raise ``nas.NasError`` with one
line that names the file.

>>> import gzip, io, numpy as np
>>> raw = b"\\x00\\x00\\x08\\x01" + (3).to_bytes(4, "big") + bytes([1, 2, 3])
>>> decode_idx(raw, "labels").tolist()
[1, 2, 3]
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from nas import NasError

_TYPES = {0x08: np.uint8}
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""The standard names of the four files, without the ``.gz`` that may follow them."""


def decode_idx(raw: bytes, name: str) -> np.ndarray:
    """The array held by the IDX bytes ``raw``; ``name`` is what an error message calls them."""
    if len(raw) < 4:
        raise NasError(f"{name}: not an IDX file (only {len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES or not 1 <= raw[3] <= 4:
        raise NasError(f"{name}: not an IDX file of unsigned bytes (magic number 0x{raw[:4].hex()}, expected "
                       "0x00000801 for labels or 0x00000803 for images)")
    ndim = raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise NasError(f"{name}: truncated IDX header ({len(raw)} bytes, expected {head})")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    need = head + math.prod(dims)  # Python's integers: 2^31 x 2^31 x 4 must not wrap to 0
    if len(raw) < need:
        raise NasError(f"{name}: truncated: {len(raw):,} bytes, the header ({'x'.join(map(str, dims))}) "
                       f"needs {need:,}")
    return np.frombuffer(raw, dtype=_TYPES[raw[2]], count=need - head, offset=head).reshape(dims)


def read_idx(path: str | Path) -> np.ndarray:
    """The array in the IDX file ``path`` (gzip-compressed when it starts with gzip's magic bytes)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise NasError(f"{path}: cannot read ({e.strerror or e})") from None
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, path)
    return decode_idx(raw, str(path))


MAX_IDX_BYTES = 1 << 30
"""Largest IDX array read (a gigabyte; Fashion-MNIST's training images take 47 MB)."""


def _gunzip(raw: bytes, path: Path) -> bytes:
    """The decompressed bytes, read in steps and stopped as soon as they exceed what the IDX header asks for (or
    MAX_IDX_BYTES): a small file that expands to gigabytes is refused before it is held."""
    d = zlib.decompressobj(wbits=31)
    try:
        out = bytearray(d.decompress(raw[:1 << 16], 1 << 20))
        limit = MAX_IDX_BYTES
        if len(out) >= 4 and out[0] == 0 and out[1] == 0 and 1 <= out[3] <= 4 and len(out) >= 4 + 4 * out[3]:
            dims = [int.from_bytes(out[4 + 4 * i: 8 + 4 * i], "big") for i in range(out[3])]
            limit = min(limit, 4 + 4 * out[3] + math.prod(dims))
        pending = d.unconsumed_tail + raw[1 << 16:]
        while pending and len(out) <= limit:
            out += d.decompress(pending, 1 << 22)
            pending = d.unconsumed_tail
        if len(out) > limit:
            raise NasError(f"{path}: expands to more than {limit:,} bytes, more than its IDX header asks for "
                           f"(or than the {MAX_IDX_BYTES:,} read at most)")
        if not d.eof:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")
    except (OSError, EOFError, zlib.error) as e:
        raise NasError(f"{path}: a damaged or truncated gzip file ({e})") from None
    return bytes(out)


def find(root: Path, stem: str) -> Path:
    """``root/stem`` or ``root/stem.gz``, whichever exists; else NasError naming both."""
    for p in (root / f"{stem}.gz", root / stem):
        if p.is_file():
            return p
    raise NasError(f"{root}: no {stem}[.gz] (expected the four standard IDX files of MNIST or Fashion-MNIST)")


def read_split(root: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) uint8 and labels (N,) int64 of the ``train`` or ``test`` files in ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise NasError(f"{root}: {'not a' if root.exists() else 'no such'} directory (expected the IDX files "
                       "of MNIST or Fashion-MNIST)")
    images_path, labels_path = (find(root, stem) for stem in FILES[split])
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise NasError(f"{images_path}: expected images of 3 dimensions (N, H, W), got {images.ndim}")
    if labels.ndim != 1:
        raise NasError(f"{labels_path}: expected labels of 1 dimension (N,), got {labels.ndim}")
    if len(images) != len(labels):
        raise NasError(f"{images_path}: {len(images):,} images but {labels_path.name} holds {len(labels):,} labels")
    return images[:, None].copy(), labels.astype(np.int64)


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` (uint8) as an IDX file; gzip when ``compress`` or when ``path`` ends in ``.gz``."""
    path = Path(path)
    a = np.ascontiguousarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape) + a.tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        raw = gzip.compress(raw, compresslevel=9, mtime=0)
    path.write_bytes(raw)
