"""The NAS-Bench-201 cell space: one 4-node cell, six edges, five ops each (Dong and Yang 2020).

The skeleton is NAS-Bench-201's for 3x32x32 images and 10 classes: a 3x3 conv stem with 16 channels, three
stacks of five cells with 16, 32 and 64 channels joined by stride-2 residual units, then BN-ReLU, pooling and
the classifier. Every cell of a network shares the same edge ops, so the space has 5^6 = 15,625 members. The
reduction units here are this project's ``basic`` units (conv-BN-ReLU order, a 1x1 conv-BN projection), which
differ slightly from NAS-Bench-201's ReLU-conv-BN order and pooled projection; the cells are exact.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from nas import Block, Genome

from . import register
from ._base import Config, Dim, Space, outside, resolved

EDGE_OPS = ("none", "skip", "avgpool3x3", "conv1x1", "conv3x3")
"""Edge ops from the cheapest to the costliest, so that the repair may step an edge down."""
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
WIDTHS = (16, 32, 64)
CELLS_PER_STACK = 5


@register
class CellSpace(Space):
    """NAS-Bench-201's cell in its fixed skeleton."""

    name = "cell"
    doc = "NAS-Bench-201: a 4-node cell with 6 edges of none/skip/avgpool3x3/conv1x1/conv3x3, stacked 3x5"
    default_input = (3, 32, 32)
    default_classes = 10

    def __init__(self, input: tuple[int, int, int] | None = None, classes: int | None = None) -> None:
        super().__init__(input, classes)
        self._cache: dict[tuple[str, ...], tuple[int, int, int]] = {}

    def _dimensions(self) -> Iterable[Dim]:
        for a, b in EDGES:
            yield Dim(f"e{a}{b}", EDGE_OPS, doc=f"op on the edge from node {a} to node {b}")

    def sections(self, config: Mapping[str, Any]):
        cell = Block.of("cell", edges=tuple((a, b, config[f"e{a}{b}"]) for a, b in EDGES), repeat=CELLS_PER_STACK)
        stages = [((Block.of("basic", c=c, s=2),) if i else ()) + (cell,) for i, c in enumerate(WIDTHS)]
        stem = (Block.of("conv", c=WIDTHS[0], k=3, act=None),)
        head = (Block.of("bn"), Block.of("act"), Block.of("gap"), Block.of("linear"))
        return stem, stages, head

    def counts(self, config: Mapping[str, Any]) -> tuple[Any, ...]:
        """The generic section cost, remembered per cell (there are only 15,625)."""
        key = tuple(config[f"e{a}{b}"] for a, b in EDGES)
        if key not in self._cache:
            self._cache[key] = super().counts(config)
        return self._cache[key]

    def encode(self, genome: Genome) -> Config:
        cells = [b for s in genome.stages for b in s.blocks if b.type == "cell"]
        if not cells:
            raise outside(self.name, "the genome has no cell")
        edges = resolved(cells[0])["edges"]
        if sorted((a, b) for a, b, _ in edges) != sorted(EDGES):
            raise outside(self.name, f"the cell's edges are not the 4-node cell's {list(EDGES)}")
        return {f"e{a}{b}": op for a, b, op in edges}
