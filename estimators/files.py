"""Images read from their files as they are needed: the streamed form of a data set (``imagefolder``, or your own).

A data set whose reader returns ``Files`` instead of an array never holds its images in memory. A trial reads each
batch from disk through a ``torch.utils.data.DataLoader`` with ``STREAM_WORKERS`` worker processes, decoded and
resized straight to the proxy's resolution (JPEGs are decoded at a reduced size where they can be), and normalizes
it in the trial's own process. Memory then grows with the batch, not with the folder:
``benchmarks/streaming.md`` measures peak memory and images per second on a generated folder.

>>> f = Files(["a.png", "b.png", "c.png"], side=32)
>>> f.shape, len(f[[0, 2]]), f[[0, 2]].paths.tolist()
((3, 3, 32, 32), 2, ['a.png', 'c.png'])
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
import torch

from nas import NasError

STREAM_WORKERS = 2
"""Decoding processes per streamed trial: enough to keep one CPU thread of training fed at proxy resolutions
(``benchmarks/streaming.md``)."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
"""File names a folder data set reads; other files are ignored."""


class Files:
    """Image files (RGB once read) and the square side that the data set's native shape is measured at."""

    def __init__(self, paths: Sequence[str] | np.ndarray, side: int = 64) -> None:
        self.paths = np.array([str(p) for p in paths], dtype=object)
        self.side = int(side)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, idx: Any) -> Files:
        """The files at ``idx`` (an index array, tensor or slice), as ``Files``."""
        if isinstance(idx, torch.Tensor):
            idx = idx.numpy()
        if isinstance(idx, (int, np.integer)):
            raise TypeError("index Files with an array or a slice; read one image with read_image")
        return Files(self.paths[idx], self.side)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(N, C, H, W) as the proxy sees the data set before choosing its resolution."""
        return (len(self.paths), 3, self.side, self.side)

    def cat(self, other: Files) -> Files:
        """These files followed by ``other``'s."""
        return Files(np.concatenate([self.paths, other.paths]), self.side)

    def __repr__(self) -> str:
        return f"Files({len(self)} images at {self.side}x{self.side})"


def read_image(path: str, side: int) -> np.ndarray:
    """One image file as uint8 (3, side, side): RGB, resized (bilinear, antialiased); NasError names a bad file."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.draft("RGB", (side, side))  # JPEG: decode at the smallest scale still at least side x side
            rgb = im.convert("RGB")
            if rgb.size != (side, side):
                rgb = rgb.resize((side, side), Image.BILINEAR)
            return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1))
    except Exception as e:  # noqa: BLE001 - an unreadable file names itself rather than crash the worker
        raise NasError(f"{path}: not a readable image ({type(e).__name__})") from None


def check_headers(files: Files) -> None:
    """Open each file's header (no pixel is decoded): a file that is not an image is refused before any training."""
    from PIL import Image

    for path in files.paths:
        try:
            with Image.open(path):
                pass
        except Exception as e:  # noqa: BLE001
            raise NasError(f"{path}: not a readable image ({type(e).__name__})") from None


class _Decode(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """What a DataLoader worker runs: file ``i`` decoded at ``side``; a failure travels back as text, not as an
    exception that the DataLoader would wrap in a traceback."""

    def __init__(self, files: Files, side: int) -> None:
        self.paths, self.side = files.paths, side

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, str]:
        try:
            return torch.from_numpy(read_image(self.paths[i], self.side)), ""
        except NasError as e:
            return torch.zeros(3, self.side, self.side, dtype=torch.uint8), str(e)


def _collate(items: list[tuple[torch.Tensor, str]]) -> tuple[torch.Tensor, list[str]]:
    return torch.stack([x for x, _ in items]), [e for _, e in items if e]


def read_batches(files: Files, side: int, order: Sequence[Sequence[int]], workers: int = STREAM_WORKERS
                 ) -> Iterator[torch.Tensor]:
    """uint8 (B, 3, side, side) batches of ``files``, one per index list of ``order``, read by ``workers``
    processes (none: in this one); the first unreadable file raises NasError naming it."""
    batches = [list(map(int, b)) for b in order]
    if not batches:
        return
    loader = torch.utils.data.DataLoader(_Decode(files, side), batch_sampler=batches, collate_fn=_collate,
                                         num_workers=min(int(workers), len(batches)))
    for x, errors in loader:
        if errors:
            raise NasError(errors[0])
        yield x
