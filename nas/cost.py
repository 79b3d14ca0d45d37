"""The analytic cost model: parameters, MACs and activation memory from the genome alone, no torch.

MACs count the multiply-accumulates of convolutions and fully-connected layers (no bias, norm, activation,
pooling or add), the convention of the papers and of torchvision's ``_ops``; FLOPs = 2 x MACs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ._trace import Shape
from .errors import one_line
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
    """``3504872 -> '3.50M'``: SI prefixes (k = 10^3 up to T = 10^12), then powers of ten (``'1.20e18'``).

    Integers are divided exactly (``int / int`` rounds correctly at any size), so no figure overflows a float
    or meets Python's limit on printing long integers.
    """
    if isinstance(n, float) and not math.isfinite(n):
        return f"{n}{unit}"
    if abs(n) >= 999_500 * 10**9:  # from here on, T would print as 1000T and more
        e = max(0, int((abs(int(n)).bit_length() - 1) * 0.30103))  # log10, within one of the true exponent
        m = n / 10**e
        while abs(m) >= 10:
            m, e = m / 10, e + 1
        while abs(m) < 1:
            m, e = m * 10, e - 1
        if abs(round(m, 2)) >= 10:  # 9.999 prints as 10.00
            m, e = m / 10, e + 1
        return f"{m:.2f}e{e}{unit}"
    for div, p in ((10**9, "T"), (10**6, "G"), (10**3, "M"), (1, "k")):
        if abs(n) >= 999.5 * div:  # 999,999 is 1.00M, not 1e+03k
            v = n / (1000 * div)
            return f"{v:.3g}{p}{unit}" if abs(v) >= 100 else f"{v:.2f}{p}{unit}"
    return f"{n:g}{unit}"


def _grouped(n: int) -> str:
    """``1234567 -> '1,234,567'``; a figure too long to print in full is given in powers of ten."""
    return f"{n:,}" if abs(n) < 10**60 else human(n)


def table(c: Cost) -> str:
    """The layer table as in the papers: name, op, output shape, params, MACs; totals with units."""
    head = ("layer", "op", "output", "params", "MACs")
    rows = [(l.name, l.op, "x".join(map(str, l.output)), _grouped(l.params), _grouped(l.macs)) for l in c.layers]
    total = ("total", "", "x".join(map(str, c.output)), _grouped(c.params), _grouped(c.macs))
    widths = [max(len(r[i]) for r in [head, *rows, total]) for i in range(5)]

    def fmt(r: tuple[str, ...]) -> str:
        return "  ".join(v.ljust(w) if i < 3 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths)))

    rule = "-" * len(fmt(head))
    title = one_line(f"{c.name or 'genome'}: input {'x'.join(map(str, c.input))}")
    summary = (f"params {_grouped(c.params)} ({human(c.params)}), MACs {_grouped(c.macs)} ({human(c.macs)}), "
               f"FLOPs {human(c.flops)} (2 x MACs), activations {human(c.activations)} elements "
               f"({human(4 * c.activations, 'B')} at float32, batch 1)")
    return "\n".join([title, fmt(head), rule, *map(fmt, rows), rule, fmt(total), summary])
