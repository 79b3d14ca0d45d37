"""The analytic cost model: parameters, MACs and activation memory from the genome alone, no torch.

MACs count the multiply-accumulates of convolutions and fully-connected layers (no bias, norm, activation,
pooling or add), the convention of the papers and of torchvision's ``_ops``; FLOPs = 2 x MACs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ._trace import Shape
from .genome import Genome
from .network import Trace, block_costs, trace


@dataclass(frozen=True)
class Layer:
    """One row of the layer table: a block instance (or a primitive op at ``level='op'``)."""

    name: str
    op: str
    output: Shape
    params: int
    macs: int
    activations: int  # elements written by its ops, for one sample

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, "output": list(self.output), "params": self.params,
                "macs": self.macs, "activations": self.activations}


@dataclass(frozen=True)
class Cost:
    """Totals and per-layer rows; ``params`` equals the built model's parameter count exactly."""

    name: str
    input: Shape
    output: Shape
    params: int
    macs: int
    activations: int  # elements written by all ops for one sample (a float32 model needs 4 bytes each)
    layers: tuple[Layer, ...]

    @property
    def flops(self) -> int:
        """FLOPs under the usual convention: 2 x MACs."""
        return 2 * self.macs

    def to_dict(self) -> dict[str, Any]:
        """The ``nas decode --format json`` document."""
        return {"name": self.name, "input": list(self.input), "output": list(self.output), "params": self.params,
                "macs": self.macs, "flops": self.flops, "activations": self.activations,
                "layers": [l.to_dict() for l in self.layers]}


def cost(g: Genome, level: str = "block", *, traced: Trace | None = None) -> Cost:
    """Exact cost of ``g``: one layer row per block instance (``level='op'``: per primitive op).

    >>> from nas import loads
    >>> cost(loads("input: [1, 8, 8]\\nclasses: 2\\nhead: [{type: linear}]")).macs
    128
    """
    if level == "op":
        tr = traced or trace(g)
        layers = tuple(Layer(n.name, n.op, n.shape, n.params, n.macs, math.prod(n.shape)) for n in tr.nodes)
    elif level == "block":
        layers = tuple(Layer(*row) for row in block_costs(g))
    else:
        raise ValueError(f"level must be 'block' or 'op', got {level!r}")
    out = layers[-1].output if layers else tuple(g.input)
    return Cost(g.name, g.input, out, sum(l.params for l in layers), sum(l.macs for l in layers),
                sum(l.activations for l in layers), layers)


def human(n: float, unit: str = "") -> str:
    """``3504872 -> '3.50M'``: SI prefixes (k = 10^3, M = 10^6, G = 10^9)."""
    for div, p in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.3g}{p}{unit}" if n / div >= 100 else f"{n / div:.2f}{p}{unit}"
    return f"{n:g}{unit}"


def table(c: Cost) -> str:
    """The layer table as in the papers: name, op, output shape, params, MACs; totals with units."""
    head = ("layer", "op", "output", "params", "MACs")
    rows = [(l.name, l.op, "x".join(map(str, l.output)), f"{l.params:,}", f"{l.macs:,}") for l in c.layers]
    total = ("total", "", "x".join(map(str, c.output)), f"{c.params:,}", f"{c.macs:,}")
    widths = [max(len(r[i]) for r in [head, *rows, total]) for i in range(5)]

    def fmt(r: tuple[str, ...]) -> str:
        return "  ".join(v.ljust(w) if i < 3 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths)))

    rule = "-" * len(fmt(head))
    title = f"{c.name or 'genome'}: input {'x'.join(map(str, c.input))}"
    summary = (f"params {c.params:,} ({human(c.params)}), MACs {c.macs:,} ({human(c.macs)}), "
               f"FLOPs {human(c.flops)} (2 x MACs), activations {human(c.activations)} elements "
               f"({human(4 * c.activations, 'B')} at float32, batch 1)")
    return "\n".join([title, fmt(head), rule, *map(fmt, rows), rule, fmt(total), summary])
