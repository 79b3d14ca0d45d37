"""A tabular estimator: a cell-space genome scored by NAS-Bench-201's 200-epoch CIFAR-10 test accuracy.

No training: the score is looked up in the table that ships with the package (``bundled/nb201``; its README
gives the source, NATS-Bench's topology space). A genome is in the table when it is the cell space's skeleton
(3x32x32 input, 10 classes, three stacks of five cells) with one NAS-Bench-201 cell everywhere.

>>> best = {(0, 1): "conv3x3", (0, 2): "conv3x3", (1, 2): "conv3x3", (0, 3): "skip", (1, 3): "conv3x3",
...         (2, 3): "conv1x1"}
>>> table()[arch(best)]
94.3733
"""

from __future__ import annotations

import csv
import gzip
import io
from functools import lru_cache
from pathlib import Path
from typing import Any

from nas import Genome, NasError
from nas.custom import defined
from nas.registry import block_type

TABLE = Path(__file__).parent / "bundled" / "nb201" / "cifar10-200epochs.csv.gz"
"""NAS-Bench-201's CIFAR-10 test accuracies (percent, 200 epochs, mean over seeds), one row per cell."""

NAMES = {"none": "none", "skip": "skip_connect", "avgpool3x3": "avg_pool_3x3", "conv1x1": "nor_conv_1x1",
         "conv3x3": "nor_conv_3x3"}
"""This project's edge op names and NAS-Bench-201's."""

EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""The six edges of NAS-Bench-201's 4-node cell."""

CELLS = 15  # three stacks of five cells


@lru_cache(maxsize=1)
def table() -> dict[str, float]:
    """Arch string -> CIFAR-10 test accuracy (percent), read once per process."""
    with gzip.open(TABLE, "rt", newline="") as f:
        return {row["arch"]: float(row["cifar10_test_accuracy"]) for row in csv.DictReader(io.StringIO(f.read()))}


def arch(edges: dict[tuple[int, int], str]) -> str:
    """NAS-Bench-201's arch string of a cell given as {(from, to): op}: ``|op~0|+|op~0|op~1|+|...|``."""
    return "|" + "|+|".join("|".join(f"{NAMES[edges[(a, b)]]}~{a}" for a in range(b)) for b in (1, 2, 3)) + "|"


def cell_of(g: Genome) -> dict[tuple[int, int], str]:
    """The one NAS-Bench-201 cell ``g`` repeats, as {(from, to): op}; NasError naming what puts ``g`` outside."""
    name = g.name or "genome"
    if tuple(g.input) != (3, 32, 32) or g.classes != 10:
        raise NasError(f"'{name}' is not in NAS-Bench-201's table: it needs a 3x32x32 input and 10 classes, "
                       f"not {'x'.join(map(str, g.input))} and {g.classes}")
    cells: list[Any] = []
    with defined(g.definitions):
        for path, rec in g.blocks():
            if rec.type == "cell":
                cells += [(path, rec)] * rec.repeat
    if len(cells) != CELLS:
        raise NasError(f"'{name}' is not in NAS-Bench-201's table: it has {len(cells)} cells, the space has {CELLS}")
    edges = set()
    for path, rec in cells:
        p = block_type("cell").resolve(rec.params)
        edges.add((p["nodes"], tuple(sorted((a, b, op) for a, b, op in p["edges"]))))
    if len(edges) != 1:
        raise NasError(f"'{name}' is not in NAS-Bench-201's table: its cells differ ({cells[-1][0]}), the space "
                       "repeats one cell")
    nodes, written = edges.pop()
    cell = {(a, b): op for a, b, op in written}
    if nodes != 4 or sorted(cell) != sorted(EDGES) or len(written) != len(EDGES):
        raise NasError(f"'{name}' is not in NAS-Bench-201's table: its cell is not the 4-node cell with edges "
                       f"{', '.join(f'{a}->{b}' for a, b in EDGES)}")
    return cell


def accuracy(g: Genome) -> float:
    """NAS-Bench-201's 200-epoch CIFAR-10 test accuracy of ``g``'s cell, as a fraction (0.9437 for the best)."""
    key = arch(cell_of(g))
    try:
        return table()[key] / 100
    except KeyError:  # every cell of the space is in the table: a missing one means the file is not the table
        raise NasError(f"cell {key} is missing from {TABLE}: the file is damaged") from None
