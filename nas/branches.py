"""The multi-branch block types: Inception modules, channel splits and shuffles, ShuffleNetV2 units, fire modules,
DenseNet layers and transitions, FractalNet blocks and NAS-Bench-201 cells. Registered, like the units of
``nas.blocks``, when the package loads."""

from __future__ import annotations

from typing import Any

from ._trace import Ref, Tracer
from .blocks import ACTIVATION, CELL_OPS, OUT_CHANNELS, STRIDE, cna, run_records
from .errors import GenomeError
from .registry import CHANNELS, Param, Width, register


@register("inception", {
    "branches": Param("branches", doc="parallel branches, each a list of block records; outputs are concatenated"),
}, example={"branches": [[{"type": "conv", "c": 8, "k": 1}],
                         [{"type": "conv", "c": 8, "k": 1}, {"type": "conv", "c": 8, "k": [1, 3]},
                          {"type": "conv", "c": 8, "k": [3, 1]}],
                         [{"type": "maxpool", "k": 3, "s": 1, "p": 1}, {"type": "conv", "c": 4, "k": 1}]]})
def _inception(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """Inception module: parallel branches of block records concatenated along channels (nest one for 1xn | nx1)."""
    outs = [run_records(t, x, br, f"branches[{i}]", f"b{i}") for i, br in enumerate(p["branches"])]
    return t.concat(*outs)


def _chunks(t: Tracer, x: Ref, n: int, field: str) -> list[Ref]:
    """The channels of ``x`` cut into ``n`` equal consecutive parts; a count that does not divide blames ``field``."""
    c = t.map_shape(x, "a channel split")[0]
    if c % n:
        raise GenomeError(f"{c} input channels cannot be split evenly into {n} parts", field)
    w = c // n
    return [t.slice(x, i * w, (i + 1) * w) for i in range(n)]


@register("split", {
    "branches": Param("branches", doc="branches, each a list of block records on an equal share of the input "
                                      "channels (an identity record passes its share through); outputs concatenated",
                      width=Width("groups")),  # the input's channels stay divisible by the number of branches
}, example={"branches": [[{"type": "identity"}],
                         [{"type": "conv", "c": 8, "k": 1}, {"type": "conv", "c": 8, "groups": 8, "act": "none"},
                          {"type": "conv", "c": 8, "k": 1}]]},
    examples=[{"branches": [[{"type": "conv", "c": 4, "k": 1}], [{"type": "identity"}],
                            [{"type": "maxpool", "k": 3, "s": 1, "p": 1}, {"type": "conv", "c": 6}],
                            [{"type": "channel_shuffle", "groups": 2}]]}])
def _split(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """Channel split (ShuffleNetV2): the input's channels shared equally among branches, transformed, concatenated."""
    parts = _chunks(t, x, len(p["branches"]), "branches")
    return t.concat(*[run_records(t, part, br, f"branches[{i}]", f"b{i}")
                      for i, (part, br) in enumerate(zip(parts, p["branches"]))])


@register("identity", {}, example={})
def _identity(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """Pass-through: the input unchanged (a split branch that keeps its share of the channels)."""
    return x


@register("channel_shuffle", {
    "groups": Param("int", 2, "groups whose channels are interleaved", width=Width("groups")),
}, example={"groups": 2}, examples=[{"groups": 4}])
def _channel_shuffle(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """Channel shuffle: the channels of its groups interleaved, so that the next grouped op mixes them (ShuffleNet)."""
    return t.shuffle(x, p["groups"])


def _shuffle_v2_branch(t: Tracer, x: Ref, c: int, s: Any) -> Ref:
    """ShuffleNetV2's transforming branch: 1x1 conv-BN-ReLU, 3x3 depthwise conv-BN (stride ``s``), 1x1 conv-BN-ReLU."""
    y = cna(t, x, c, 1)
    y = cna(t, y, c, 3, s, groups=c, act=None)
    return cna(t, y, c, 1)


@register("shuffle_v2", {"c": OUT_CHANNELS, "s": STRIDE}, example={"c": 32, "s": 2}, examples=[{"c": 16}])
def _shuffle_v2(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """ShuffleNetV2 unit: split the channels, transform one half, concatenate, shuffle; stride 2 transforms both."""
    c, s, cin = p["c"], p["s"], t.map_shape(x, "a ShuffleNetV2 unit")[0]
    if c % 2:
        raise GenomeError(f"a ShuffleNetV2 unit's output is two equal halves; {c} channels are odd", "c")
    if s == 1:
        if cin != c:
            raise GenomeError(f"a stride-1 unit keeps its {cin} input channels, got {c}", "c")
        left, right = _chunks(t, x, 2, "c")
    else:  # both branches see the whole input: one downsamples it as it is, the other transforms it
        with t.scope("b0"):
            left = cna(t, cna(t, x, cin, 3, s, groups=cin, act=None), c // 2, 1)
        right = x
    with t.scope("b1"):
        right = _shuffle_v2_branch(t, right, c // 2, s)
    return t.shuffle(t.concat(left, right), 2)


@register("fire", {
    "squeeze": Param("int", doc="channels of the 1x1 squeeze conv", width=CHANNELS),
    "e1": Param("int", doc="channels of the 1x1 expand conv", width=CHANNELS),
    "e3": Param("int", doc="channels of the 3x3 expand conv", width=CHANNELS),
    "bn": Param("bool", False, "batch norm after each conv"),
    "act": ACTIVATION,
}, example={"squeeze": 4, "e1": 8, "e3": 8})
def _fire(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """SqueezeNet fire module: a 1x1 squeeze, then 1x1 and 3x3 expands concatenated."""
    s = cna(t, x, p["squeeze"], 1, act=p["act"], bn=p["bn"])
    return t.concat(cna(t, s, p["e1"], 1, act=p["act"], bn=p["bn"]), cna(t, s, p["e3"], 3, act=p["act"], bn=p["bn"]))


@register("dense", {
    "growth": Param("int", doc="channels each layer adds", width=Width("channels", narrow=True)),
    "bn_size": Param("int", 4, "bottleneck width as a multiple of growth (0 = no 1x1 bottleneck)", lo=0,
                     width=Width("ratio")),
    "drop": Param("float", 0.0, "dropout after the layer", hi=0.99),
}, example={"growth": 8, "repeat": 3})
def _dense(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """One dense layer (repeat it for a dense block): BN-ReLU-1x1, BN-ReLU-3x3, concatenated to its input."""
    y = cna(t, x, p["bn_size"] * p["growth"], 1, pre=True) if p["bn_size"] else x
    y = cna(t, y, p["growth"], 3, pre=True)
    if p["drop"]:
        y = t.dropout(y, p["drop"])
    return t.concat(x, y)


@register("transition", {
    "compression": Param("float", 0.5, "output channels as a fraction of the input", lo=0.01, hi=1.0),
    "c": Param("int", None, "output channels (overrides compression)", width=CHANNELS),
}, example={"compression": 0.5})
def _transition(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """DenseNet transition: BN-ReLU-1x1 conv with compression, then a 2x2 average pool."""
    c = p["c"] or max(1, int(x.shape[0] * p["compression"]))
    return t.pool(cna(t, x, c, 1, pre=True), "avgpool", 2, 2)


def _fractal_columns(t: Tracer, x: Ref, c: int, cols: int) -> list[Ref]:
    """Outputs of every column of a fractal of ``cols`` columns, before their final join."""
    if cols == 1:
        return [cna(t, x, c, 3)]
    deep = t.mean(*_fractal_columns(t, x, c, cols - 1))
    return [cna(t, x, c, 3), *_fractal_columns(t, deep, c, cols - 1)]


@register("fractal", {
    "c": OUT_CHANNELS,
    "columns": Param("int", 4, "columns C; the deepest has 2^(C-1) convs", hi=6),
}, example={"c": 8, "columns": 3})
def _fractal(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """FractalNet block: f_C(z) = join(conv(z), f_{C-1}(f_{C-1}(z))), 3x3 conv-BN-ReLU units, mean joins."""
    return t.mean(*_fractal_columns(t, x, p["c"], p["columns"]))


@register("cell", {
    "nodes": Param("int", 4, "nodes in the cell, the input included", lo=2, hi=16),
    "edges": Param("edges", doc="edges [from, to, op]; ops: " + ", ".join(CELL_OPS), choices=CELL_OPS),
}, example={"nodes": 4, "edges": [[0, 1, "conv3x3"], [0, 2, "skip"], [1, 2, "conv1x1"], [0, 3, "avgpool3x3"],
                                   [1, 3, "none"], [2, 3, "conv3x3"]]})
def _cell(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """A free-form cell (NAS-Bench-201 style): node j sums its incoming edge ops; the last node is the output."""
    n, c = p["nodes"], x.shape[0]
    for i, (_, b, _) in enumerate(p["edges"]):
        if b >= n:
            raise GenomeError(f"edge to node {b}, but the cell's nodes are 0..{n - 1}", f"edges[{i}]")
    nodes = [x]
    for j in range(1, n):
        ins: list[Ref] = []
        for a, b, op in p["edges"]:
            if b != j or op == "none":
                continue
            src = nodes[a]
            with t.scope(f"e{a}{b}"):
                if op == "skip":
                    ins.append(src)
                elif op == "avgpool3x3":
                    ins.append(t.pool(src, "avgpool", 3, 1, 1, count_include_pad=False))
                else:  # ReLU-conv-BN, the cell's conv op
                    ins.append(cna(t, t.act(src, "relu"), c, 1 if op == "conv1x1" else 3, act=None))
        nodes.append(t.add(*ins) if ins else t.zero(x))
    return nodes[-1]
