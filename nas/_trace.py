"""Tracing a genome into primitive ops: shapes, parameters and MACs, with no torch.

Block expansions call the primitive methods of a ``Tracer`` as if they were writing a forward pass on
shapes. Each call checks its input, records one ``Node`` and returns a ``Ref`` to its output. The cost
model, the graph view and the torch builder all read the same list of nodes.

MACs are multiply-accumulates of convolutions and fully-connected layers only (no bias, norm, activation,
pooling or add), the convention of torchvision's ``_ops`` metadata.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ._limits import MAX_INT, MAX_OPS
from .errors import GenomeError

Shape = tuple[int, ...]  # (C, H, W) for a feature map, (F,) for a flat vector


POOLS = ("maxpool", "avgpool")
"""The op names ``Tracer.pool`` records, one per kind of pooling."""


class Ref(NamedTuple):
    """A traced value: the node that produced it and its shape (batch dimension left out)."""

    name: str
    shape: Shape


class Node:
    """One primitive op: its inputs, resolved attributes, output shape, parameters and MACs."""

    __slots__ = ("name", "op", "inputs", "attrs", "shape", "params", "macs", "block")

    def __init__(self, name: str, op: str, inputs: tuple[str, ...], attrs: dict[str, Any], shape: Shape,
                 params: int, macs: int, block: int) -> None:
        self.name, self.op, self.inputs, self.attrs = name, op, inputs, attrs
        self.shape, self.params, self.macs, self.block = shape, params, macs, block

    def __repr__(self) -> str:
        return f"Node({self.name}, {self.op}, {self.shape}, params={self.params}, macs={self.macs})"


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def _fmt(shape: Shape) -> str:
    return "x".join(map(str, shape))


class Tracer:
    """Records primitive ops in order; ``begin`` starts a new block instance and its name prefix."""

    def __init__(self, input_shape: Shape, record: bool = True, classes: int = 1000) -> None:
        self.classes = classes  # what a nested record's ``c: classes`` resolves to
        self.record = record  # False: only add up params, MACs and activations (the cost model's fast path)
        self.params = self.macs = self.activations = 0
        self.ops = 0
        self.nodes: list[Node] = []
        self.block = -1
        self._prefix = ""
        self._counts: dict[str, int] = {}
        self.input = Ref("input", tuple(input_shape))

    # ------------------------------------------------------------ bookkeeping

    def begin(self, prefix: str) -> None:
        """Start a new block instance; its nodes are named ``prefix.conv1``, ``prefix.bn1`` and so on."""
        self.block += 1
        self._prefix = prefix
        self._counts = {}

    def scope(self, sub: str) -> "_Scope":
        """Name the nodes traced inside a ``with`` under ``sub`` (for branches and nested blocks)."""
        return _Scope(self, sub)

    def _add(self, op: str, inputs: tuple[Ref, ...], attrs: dict[str, Any], shape: Shape,
             params: int = 0, macs: int = 0) -> Ref:
        # Sizes a defined block computes (a concat of ten inputs, repeated) are bounded like written ones.
        if max(shape, default=0) > MAX_INT:
            big = max(shape)
            said = f"{big:,}" if big.bit_length() <= 64 else f"over 2^{big.bit_length() - 1}"
            raise GenomeError(f"a {op} computes a size of {said}, above the largest a genome may reach "
                              f"({MAX_INT:,})")
        self.ops += 1
        if self.ops > MAX_OPS:
            raise GenomeError(f"the network expands to more than {MAX_OPS:,} primitive ops")
        if not self.record:
            self.params += params
            self.macs += macs
            self.activations += math.prod(shape)
            return Ref(op, shape)
        n = self._counts.get(op, 0) + 1
        self._counts[op] = n
        name = f"{self._prefix}.{op}{n}"
        self.nodes.append(Node(name, op, tuple(r.name for r in inputs), attrs, shape, params, macs, self.block))
        return Ref(name, shape)

    @staticmethod
    def map_shape(x: Ref, what: str) -> tuple[int, int, int]:
        """The CxHxW shape of ``x``, or a GenomeError saying that ``what`` needs a feature map."""
        return Tracer._map(x, what)

    @staticmethod
    def _map(x: Ref, what: str) -> tuple[int, int, int]:
        if len(x.shape) != 3:
            raise GenomeError(f"{what} needs a feature map CxHxW, got a flat vector of {x.shape[0]}")
        return x.shape  # type: ignore[return-value]

    # ------------------------------------------------------------ primitives

    def conv(self, x: Ref, c: int, k: int | tuple[int, int], s: int | tuple[int, int] = 1,
             p: int | tuple[int, int] | None = None, d: int = 1, groups: int = 1, bias: bool = False) -> Ref:
        """2-d convolution; ``p=None`` pads so that stride 1 keeps the size (for odd kernels)."""
        cin, h, w = self._map(x, "a convolution")
        (kh, kw), (sh, sw) = _pair(k), _pair(s)
        ph, pw = ((kh - 1) // 2 * d, (kw - 1) // 2 * d) if p is None else _pair(p)
        if cin % groups:
            raise GenomeError(f"{cin} input channels are not divisible by {groups} groups", "groups")
        if c % groups:
            raise GenomeError(f"{c} output channels are not divisible by {groups} groups", "groups")
        ho = (h + 2 * ph - d * (kh - 1) - 1) // sh + 1
        wo = (w + 2 * pw - d * (kw - 1) - 1) // sw + 1
        if ho < 1 or wo < 1:
            raise GenomeError(f"the {h}x{w} map is too small for a {kh}x{kw} kernel with padding {ph}x{pw}", "k")
        per_out = (cin // groups) * kh * kw
        attrs = {"cin": cin, "c": c, "k": (kh, kw), "s": (sh, sw), "p": (ph, pw), "d": d, "groups": groups,
                 "bias": bias}
        return self._add("conv", (x,), attrs, (c, ho, wo), c * per_out + (c if bias else 0), c * ho * wo * per_out)

    def linear(self, x: Ref, c: int, bias: bool = True) -> Ref:
        """Fully-connected layer on a flat vector."""
        if len(x.shape) != 1:
            raise GenomeError(f"a fully-connected layer needs a flat input, got {_fmt(x.shape)}")
        f = x.shape[0]
        return self._add("linear", (x,), {"cin": f, "c": c, "bias": bias}, (c,), f * c + (c if bias else 0), f * c)

    def bn(self, x: Ref, eps: float = 1e-5, momentum: float = 0.1) -> Ref:
        """Batch normalization (its weight and bias are parameters; running statistics are buffers). ``eps`` and
        ``momentum`` are attributes only when they are not PyTorch's defaults."""
        c = x.shape[0]
        attrs: dict[str, Any] = {"c": c}
        if eps != 1e-5:
            attrs["eps"] = eps
        if momentum != 0.1:
            attrs["momentum"] = momentum
        return self._add("bn", (x,), attrs, x.shape, 2 * c)

    def act(self, x: Ref, kind: str | None) -> Ref:
        """An activation; ``None`` returns ``x`` unchanged."""
        return x if kind is None else self._add("act", (x,), {"kind": kind}, x.shape)

    def lrn(self, x: Ref, size: int, alpha: float, beta: float, k: float) -> Ref:
        """Local response normalization across channels."""
        self._map(x, "local response normalization")
        return self._add("lrn", (x,), {"size": size, "alpha": alpha, "beta": beta, "k": k}, x.shape)

    def dropout(self, x: Ref, p: float) -> Ref:
        """Dropout (active in train mode only)."""
        return self._add("dropout", (x,), {"p": p}, x.shape)

    def ln(self, x: Ref, eps: float = 1e-6) -> Ref:
        """Layer normalization over the channels at each position (ConvNeXt's), with a weight and a bias each."""
        c = x.shape[0]
        return self._add("ln", (x,), {"c": c, "eps": eps}, x.shape, 2 * c)

    def scale(self, x: Ref, init: float = 1e-6) -> Ref:
        """A learnable per-channel scale (layer scale, CaiT and ConvNeXt), starting at ``init``."""
        c = x.shape[0]
        return self._add("scale", (x,), {"c": c, "init": init}, x.shape, c)

    def droppath(self, x: Ref, p: float) -> Ref:
        """Drop the whole residual branch per sample with probability ``p`` (train mode only)."""
        return x if p <= 0 else self._add("droppath", (x,), {"p": p}, x.shape)

    def pool(self, x: Ref, kind: str, k: int | tuple[int, int], s: int | tuple[int, int] | None = None,
             p: int | tuple[int, int] = 0, ceil: bool = False, count_include_pad: bool = True) -> Ref:
        """Max or average pooling with PyTorch's output-size rule (``ceil`` mode included)."""
        if kind not in POOLS:
            raise ValueError(f"unknown pooling {kind!r}; pooling is one of {', '.join(POOLS)}")
        c, h, w = self._map(x, "pooling")
        (kh, kw) = _pair(k)
        (sh, sw) = _pair(k if s is None else s)
        (ph, pw) = _pair(p)
        if 2 * ph > kh or 2 * pw > kw:
            raise GenomeError(f"padding {ph}x{pw} is more than half the {kh}x{kw} pooling window", "p")
        ho, wo = _pool_out(h, kh, sh, ph, ceil), _pool_out(w, kw, sw, pw, ceil)
        if ho < 1 or wo < 1:
            raise GenomeError(f"the {h}x{w} map is too small for a {kh}x{kw} {kind} with padding {ph}x{pw}", "k")
        attrs = {"k": (kh, kw), "s": (sh, sw), "p": (ph, pw), "ceil": ceil}
        if kind == "avgpool":
            attrs["count_include_pad"] = count_include_pad
        return self._add(kind, (x,), attrs, (c, ho, wo))

    def gap(self, x: Ref) -> Ref:
        """Global average pooling to Cx1x1."""
        c, _, _ = self._map(x, "global pooling")
        return self._add("gap", (x,), {}, (c, 1, 1))

    def flatten(self, x: Ref) -> Ref:
        """CxHxW to a flat vector; a flat input is returned as it is."""
        return x if len(x.shape) == 1 else self._add("flatten", (x,), {}, (math.prod(x.shape),))

    def add(self, *xs: Ref) -> Ref:
        """Element-wise sum (a residual connection or a cell node)."""
        if len(xs) == 1:
            return xs[0]
        for y in xs[1:]:
            if y.shape != xs[0].shape:
                raise GenomeError(f"cannot add mismatched shapes {_fmt(xs[0].shape)} and {_fmt(y.shape)}")
        return self._add("add", xs, {}, xs[0].shape)

    def mean(self, *xs: Ref) -> Ref:
        """Element-wise mean (FractalNet's join)."""
        if len(xs) == 1:
            return xs[0]
        for y in xs[1:]:
            if y.shape != xs[0].shape:
                raise GenomeError(f"cannot join mismatched shapes {_fmt(xs[0].shape)} and {_fmt(y.shape)}")
        return self._add("mean", xs, {}, xs[0].shape)

    def concat(self, *xs: Ref) -> Ref:
        """Concatenation along channels; all inputs need the same spatial size."""
        if len(xs) == 1:
            return xs[0]
        for y in xs:
            self._map(y, "a channel concatenation")
            if y.shape[1:] != xs[0].shape[1:]:
                sizes = ", ".join(_fmt(z.shape[1:]) for z in xs)
                raise GenomeError(f"cannot concatenate maps of different spatial sizes ({sizes})")
        return self._add("concat", xs, {}, (sum(y.shape[0] for y in xs), *xs[0].shape[1:]))

    def mul(self, x: Ref, gate: Ref) -> Ref:
        """Scale ``x`` by a gate: per channel (Cx1x1, squeeze-and-excitation) or element-wise (same shape)."""
        channel_gate = len(x.shape) == 3 and gate.shape == (x.shape[0], 1, 1)
        if gate.shape != x.shape and not channel_gate:  # a per-channel gate only broadcasts over a feature map
            allowed = f"{x.shape[0]}x1x1 or {_fmt(x.shape)}" if len(x.shape) == 3 else _fmt(x.shape)
            raise GenomeError(f"cannot scale {_fmt(x.shape)} by a {_fmt(gate.shape)} gate; the gate must be {allowed}")
        return self._add("mul", (x, gate), {}, x.shape)

    def shuffle(self, x: Ref, groups: int) -> Ref:
        """Channel shuffle across ``groups`` (ShuffleNet)."""
        c = self._map(x, "a channel shuffle")[0]
        if c % groups:
            raise GenomeError(f"{c} channels cannot be shuffled across {groups} groups", "groups")
        return self._add("shuffle", (x,), {"groups": groups}, x.shape)

    def slice(self, x: Ref, start: int, stop: int) -> Ref:
        """Channels ``start`` to ``stop`` (exclusive) of a feature map (a channel split takes two of these)."""
        c, h, w = self._map(x, "a channel slice")
        if not 0 <= start < stop <= c:
            raise GenomeError(f"cannot take channels {start}..{stop - 1} of a map with {c} channels")
        return self._add("slice", (x,), {"start": start, "stop": stop}, (stop - start, h, w))

    def zero(self, x: Ref) -> Ref:
        """Zeros shaped like ``x`` (a cell node whose every incoming edge is 'none')."""
        return self._add("zero", (x,), {}, x.shape)


def _pool_out(n: int, k: int, s: int, p: int, ceil: bool) -> int:
    if not ceil:
        return (n + 2 * p - k) // s + 1
    out = -(-(n + 2 * p - k) // s) + 1
    if (out - 1) * s >= n + p:  # PyTorch drops a last window that would start in the padding
        out -= 1
    return out


class _Scope:
    def __init__(self, t: Tracer, sub: str) -> None:
        self.t, self.sub = t, sub

    def __enter__(self) -> Tracer:
        self.saved = (self.t._prefix, self.t._counts)
        self.t._prefix = f"{self.t._prefix}.{self.sub}"
        self.t._counts = {}
        return self.t

    def __exit__(self, *exc: Any) -> None:
        self.t._prefix, self.t._counts = self.saved
