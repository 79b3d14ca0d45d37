"""Every block type of the genome, each with its parameters and its one expansion into primitive ops.

An expansion receives resolved integers (the network walk has already threaded channels, applied the
stride to the first repeat only and set the block's drop-path rate) and reads like a forward pass.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ._trace import Ref, Tracer
from .errors import GenomeError
from .network import located, resolve
from .registry import ACTIVATIONS, CHANNELS, Param, Width, register

CELL_OPS = ("none", "skip", "conv1x1", "conv3x3", "avgpool3x3")
"""Edge ops of the NAS-Bench-201 cell."""


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor``, never more than 10% below ``v``.

    >>> make_divisible(32 * 1.4), make_divisible(16 * 0.35)
    (48, 8)
    """
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


# ---------------------------------------------------------------- shared pieces


def cna(t: Tracer, x: Ref, c: int, k: Any = 1, s: Any = 1, *, p: Any = None, d: int = 1, groups: int = 1,
        act: str | None = "relu", bn: bool = True, bias: bool | None = None, pre: bool = False) -> Ref:
    """Conv-norm-activation (or norm-activation-conv when ``pre``); no conv bias where a norm follows."""
    if pre:
        if bn:
            x = t.bn(x)
        x = t.act(x, act)
        return t.conv(x, c, k, s, p, d, groups, bool(bias))
    x = t.conv(x, c, k, s, p, d, groups, (not bn) if bias is None else bias)
    if bn:
        x = t.bn(x)
    return t.act(x, act)


def squeeze_excite(t: Tracer, x: Ref, squeeze: int, act: str | None = "relu", gate: str = "sigmoid") -> Ref:
    """Squeeze-and-excitation: global pool, two 1x1 convs with bias, a gate that scales the channels."""
    s = t.gap(x)
    s = t.act(t.conv(s, squeeze, 1, bias=True), act)
    s = t.act(t.conv(s, x.shape[0], 1, bias=True), gate)
    return t.mul(x, s)


def run_records(t: Tracer, x: Ref, records: Sequence[Any], path: str, scope: str) -> Ref:
    """Expand nested block records (inception branches) under the name ``scope``, resolved as the network
    walk resolves its own (``network.resolve``)."""
    with t.scope(scope):
        for i, rec in enumerate(records):
            for r, bt, p in resolve(rec, t.classes):
                with t.scope(f"{i}" if rec.repeat == 1 else f"{i}_{r}"):
                    try:
                        x = bt.expand(t, x, p)
                    except GenomeError as e:
                        raise located(e, f"{path}[{i}]", r) from None
    return x


OUT_CHANNELS = Param("channels", doc="output channels", width=CHANNELS)
_K = Param("kernel", 3, "kernel size, an int or [h, w]")
STRIDE = Param("stride", 1, "stride (applied to the first repeat only)")
ACTIVATION = Param("act", "relu", "activation, or none")
_SE = Param("float", 0.0, "squeeze-and-excitation ratio (0 = off)", hi=1.0)
_PRE = Param("bool", False, "pre-activation order (norm and activation before each conv)")
_GATE = Param("choice", "sigmoid", "SE gate", choices=("sigmoid", "hardsigmoid"))
_DROP = Param("float", 0.0, "drop-path rate; set by the network's ramp", hi=0.99)
_SE_C = Param("int", None, "squeeze-and-excitation width as a number of channels (instead of the ratio se)",
              width=CHANNELS)
_SE_BASE = Param("choice", "gated", "what the ratio se is of: the width the SE scales (gated; an inverted block's "
                 "expanded width) or the block's input (in, EfficientNet's rule)", choices=("gated", "in"))
_SE_ACT = Param("choice", "auto", "activation between the SE's two 1x1 convs (auto: relu in inverted, the block's act "
                "in basic and bottleneck)", choices=("auto", *ACTIVATIONS))
_SE_POS = Param("choice", "end", "where the SE sits: at the end of the branch, or after the (first) 3x3 conv",
                choices=("end", "3x3"))
_SE_OPTIONS = {"se_c": _SE_C, "se_base": _SE_BASE, "se_act": _SE_ACT}
"""The SE options every block type with an ``se`` ratio takes; their defaults are the block's old fixed rule."""
_SHORTCUT = Param("choice", "auto", "shortcut: a 1x1 projection only when the shape changes (auto), always (conv), "
                  "or never (identity)", choices=("auto", "conv", "identity"))


def _se(t: Tracer, y: Ref, cin: int, p: dict[str, Any], inner: str | None, gated_width: Callable[[float], int]) -> Ref:
    """The block's squeeze-and-excitation on ``y``, or ``y`` when it has none.

    ``cin`` is the block's input width (for ``se_base: in``), ``inner`` the SE activation ``se_act: auto`` means
    and ``gated_width`` the block type's rounding of ``se`` times the width the SE scales (its rule before the
    options existed, so that a record without them builds what it always built).
    """
    if p["se"] and p["se_c"]:
        raise GenomeError("set either the ratio se or the width se_c, not both", "se_c")
    if p["se_c"]:
        squeeze = p["se_c"]
    elif not p["se"]:
        return y
    elif p["se_base"] == "in":
        squeeze = max(1, int(cin * p["se"]))  # EfficientNet: input_channels // 4, no rounding to 8
    else:
        squeeze = gated_width(y.shape[0] * p["se"])
    act = inner if p["se_act"] == "auto" else p["se_act"]
    return squeeze_excite(t, y, squeeze, act, p.get("se_gate", "sigmoid"))


def _plain_width(v: float) -> int:
    """The SE width of the ResNet units: the ratio's product, floored, at least 1."""
    return max(1, int(v))


def _residual(t: Tracer, x: Ref, y: Ref, shortcut: Ref, p: dict[str, Any], field: str = "shortcut") -> Ref:
    """Add the branch ``y`` (after drop-path) to the shortcut; ``field`` is the parameter to blame on a mismatch."""
    if shortcut.shape != y.shape:
        raise GenomeError(f"an identity shortcut cannot add the {'x'.join(map(str, shortcut.shape))} input to the "
                          f"{'x'.join(map(str, y.shape))} output", field)
    return t.add(t.droppath(y, p["drop_path"]), shortcut)


def _projects(x: Ref, c: int, s: Any, p: dict[str, Any]) -> bool:
    """Whether the shortcut is a 1x1 projection (ResNet's option B, or C when ``shortcut: conv``)."""
    return p["shortcut"] == "conv" or (p["shortcut"] == "auto" and (s != 1 or x.shape[0] != c))


# ---------------------------------------------------------------- plain layers


@register("conv", {
    "c": OUT_CHANNELS, "k": _K, "s": STRIDE,
    "p": Param("pad", None, "padding, an int or [h, w]; default keeps the size at stride 1"),
    "d": Param("int", 1, "dilation"),
    "groups": Param("int", 1, "groups (= c for depthwise)", width=Width("groups", depthwise="c")),
    "bias": Param("bool", None, "conv bias; default: only when there is no norm"),
    "bn": Param("bool", True, "batch norm after the conv"),
    "act": ACTIVATION, "pre": _PRE,
}, example={"c": 16, "k": 3})
def _conv(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """Convolution with optional batch norm and activation; any kernel, asymmetric, grouped or depthwise."""
    return cna(t, x, p["c"], p["k"], p["s"], p=p["p"], d=p["d"], groups=p["groups"], act=p["act"],
               bn=p["bn"], bias=p["bias"], pre=p["pre"])


@register("dwsep", {"c": OUT_CHANNELS, "k": _K, "s": STRIDE, "act": ACTIVATION}, example={"c": 16})
def _dwsep(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """Depthwise-separable unit (MobileNet v1): depthwise kxk conv-BN-act, then pointwise 1x1 conv-BN-act."""
    cin = x.shape[0]
    y = cna(t, x, cin, p["k"], p["s"], groups=cin, act=p["act"])
    return cna(t, y, p["c"], 1, act=p["act"])


@register("bn", {"eps": Param("float", 1e-5, "added to the variance", lo=0),
                 "momentum": Param("float", 0.1, "weight of a new batch in the running statistics", lo=0, hi=1)},
          example={}, examples=[{"eps": 0.001, "momentum": 0.01}])
def _bn(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """Batch normalization (PyTorch's eps and momentum by default; TensorFlow ports use 0.001 and 0.01)."""
    return t.bn(x, p["eps"], p["momentum"])


@register("act", {"kind": Param("act", "relu", "activation")}, example={"kind": "relu6"})
def _act(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """A standalone activation."""
    return t.act(x, p["kind"])


@register("lrn", {
    "size": Param("int", 5, "channels in the window"),
    "alpha": Param("float", 1e-4, "scale (PyTorch divides it by size)"),
    "beta": Param("float", 0.75, "exponent"),
    "k": Param("float", 2.0, "additive constant"),
}, example={})
def _lrn(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """Local response normalization across channels (AlexNet)."""
    return t.lrn(x, p["size"], p["alpha"], p["beta"], p["k"])


@register("dropout", {"p": Param("float", 0.5, "drop probability", hi=0.99)}, example={"p": 0.2})
def _dropout(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """Dropout (train mode only)."""
    return t.dropout(x, p["p"])


_POOL = {
    "k": Param("kernel", 2, "window size"),
    "s": Param("stride", None, "stride (default: the window size)"),
    "p": Param("pad", 0, "padding"),
    "ceil": Param("bool", False, "ceil mode for the output size"),
}


@register("maxpool", _POOL, example={"k": 3, "s": 2, "p": 1})
def _maxpool(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """Max pooling."""
    return t.pool(x, "maxpool", p["k"], p["s"], p["p"], p["ceil"])


@register("avgpool", {**_POOL, "count_include_pad": Param("bool", True, "count padding in the average")},
          example={"k": 2})
def _avgpool(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """Average pooling."""
    return t.pool(x, "avgpool", p["k"], p["s"], p["p"], p["ceil"], p["count_include_pad"])


@register("gap", {}, example={})
def _gap(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """Global average pooling to Cx1x1."""
    return t.gap(x)


@register("flatten", {}, example={})
def _flatten(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """Flatten a CxHxW map to a vector."""
    return t.flatten(x)


@register("linear", {
    "c": Param("channels", "classes", "output features (default: the number of classes)", width=CHANNELS),
    "bias": Param("bool", True, "bias"),
    "act": Param("act", None, "activation, or none"),
}, example={"c": 32, "act": "relu"})
def _linear(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """Fully-connected layer (a feature map is flattened first)."""
    return t.act(t.linear(t.flatten(x), p["c"], p["bias"]), p["act"])


# ---------------------------------------------------------------- residual units


@register("basic", {"c": OUT_CHANNELS, "s": STRIDE, "act": ACTIVATION, "se": _SE, **_SE_OPTIONS, "se_pos": _SE_POS,
                   "preact": _PRE, "shortcut": _SHORTCUT, "drop_path": _DROP},
          drop_path=True, example={"c": 16, "s": 2},
          examples=[{"c": 16, "se": 0.25, "se_pos": "3x3", "se_base": "in", "se_act": "silu"},
                    {"c": 16, "s": 2, "preact": True, "se_c": 6, "se_pos": "3x3"}])
def _basic(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """ResNet basic unit: two 3x3 convs and a shortcut (a 1x1 projection when the shape changes)."""
    c, s, act, cin = p["c"], p["s"], p["act"], x.shape[0]
    project = _projects(x, c, s, p)
    se_mid = p["se_pos"] == "3x3"
    if p["preact"]:
        xa = t.act(t.bn(x), act)
        y = t.conv(xa, c, 3, s)
        y = _se(t, y, cin, p, act, _plain_width) if se_mid else y
        y = cna(t, y, c, 3, pre=True, act=act)
        shortcut = t.conv(xa, c, 1, s) if project else x
    else:
        y = cna(t, x, c, 3, s, act=act)
        y = _se(t, y, cin, p, act, _plain_width) if se_mid else y
        y = cna(t, y, c, 3, act=None)
        shortcut = cna(t, x, c, 1, s, act=None) if project else x
    y = y if se_mid else _se(t, y, cin, p, act, _plain_width)
    y = _residual(t, x, y, shortcut, p)
    return y if p["preact"] else t.act(y, act)


@register("bottleneck", {
    "c": OUT_CHANNELS, "s": STRIDE,
    # A grouped bottleneck keeps its channels divisible through mid alone (written out when scaled), so its
    # groups do not constrain the rest of the genome the way a grouped conv's do.
    "mid": Param("int", None, "bottleneck width (default c/4; ResNeXt and Wide ResNet widen it)",
                 width=Width("channels", per="groups", share=("c", 4))),
    "groups": Param("int", 1, "groups of the 3x3 conv (ResNeXt cardinality)"),
    "stride_on": Param("choice", "3x3", "which conv carries the stride (v1.5: 3x3, v1: 1x1)", choices=("3x3", "1x1")),
    "act": ACTIVATION, "se": _SE, **_SE_OPTIONS, "se_pos": _SE_POS, "preact": _PRE, "shortcut": _SHORTCUT,
    "drop_path": _DROP,
}, drop_path=True, example={"c": 32, "s": 2, "groups": 2, "se": 0.25},
    # RegNetY's unit: the SE after the grouped 3x3, its width a quarter of the block's input
    examples=[{"c": 32, "mid": 16, "groups": 2, "se": 0.25, "se_base": "in", "se_pos": "3x3"},
              {"c": 32, "s": 2, "preact": True, "se_c": 4, "se_act": "hardswish", "se_pos": "3x3"}])
def _bottleneck(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """ResNet bottleneck unit: 1x1 reduce, 3x3 (grouped), 1x1 expand, and a shortcut."""
    c, s, act, g, cin = p["c"], p["s"], p["act"], p["groups"], x.shape[0]
    mid = p["mid"] or max(1, c // 4)
    s1, s3 = (s, 1) if p["stride_on"] == "1x1" else (1, s)
    project = _projects(x, c, s, p)
    se_mid = p["se_pos"] == "3x3"
    if p["preact"]:
        xa = t.act(t.bn(x), act)
        y = t.conv(xa, mid, 1, s1)
        y = cna(t, y, mid, 3, s3, groups=g, act=act, pre=True)
        y = _se(t, y, cin, p, act, _plain_width) if se_mid else y
        y = cna(t, y, c, 1, act=act, pre=True)
        shortcut = t.conv(xa, c, 1, s) if project else x
    else:
        y = cna(t, x, mid, 1, s1, act=act)
        y = cna(t, y, mid, 3, s3, groups=g, act=act)
        y = _se(t, y, cin, p, act, _plain_width) if se_mid else y
        y = cna(t, y, c, 1, act=None)
        shortcut = cna(t, x, c, 1, s, act=None) if project else x
    y = y if se_mid else _se(t, y, cin, p, act, _plain_width)
    y = _residual(t, x, y, shortcut, p)
    return y if p["preact"] else t.act(y, act)


_E = Param("float", 6, "expansion ratio of the hidden width", lo=1.0, hi=16.0)


@register("inverted", {
    "c": OUT_CHANNELS, "k": _K, "s": STRIDE, "e": _E,
    "mid": Param("int", None, "hidden width as a number of channels (instead of the ratio e)", width=CHANNELS,
                 excludes=("e",)),
    "act": Param("act", "relu6", "activation of the expansion and depthwise convs"),
    "se": _SE, **_SE_OPTIONS, "se_gate": _GATE, "drop_path": _DROP,
}, drop_path=True, example={"c": 16, "e": 4, "k": 5, "se": 0.25, "act": "hardswish", "se_gate": "hardsigmoid"},
    # a MobileNetV3-Small unit (24 -> 88 -> 24) and an EfficientNet MBConv (SE on the input width, SiLU inside)
    examples=[{"c": 24, "mid": 88, "se_c": 20, "se_act": "hardswish", "se_gate": "hardsigmoid"},
              {"c": 24, "s": 2, "e": 6, "k": 5, "se": 0.25, "se_base": "in", "se_act": "silu", "act": "silu"}])
def _inverted(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """Inverted residual (MobileNetV2/V3, EfficientNet MBConv): 1x1 expand, kxk depthwise, optional SE, 1x1 project."""
    cin, c, s, act = x.shape[0], p["c"], p["s"], p["act"]
    if p["mid"] and p["e"] != _E.default:
        raise GenomeError("set either the expansion ratio e or the hidden width mid, not both", "mid")
    mid = p["mid"] or int(round(cin * p["e"]))
    y = x if mid == cin else cna(t, x, mid, 1, act=act)
    y = cna(t, y, mid, p["k"], s, groups=mid, act=act)
    y = _se(t, y, cin, p, "relu", lambda v: make_divisible(v, 8))  # MobileNetV3 rounds the SE to multiples of 8
    y = cna(t, y, c, 1, act=None)
    if s == 1 and cin == c:
        y = _residual(t, x, y, x, p)
    return y


@register("shuffle", {
    "c": OUT_CHANNELS, "s": STRIDE,
    # An unset mid is c / 4, grouped: the genome's channels then stay divisible by 4 x groups.
    "groups": Param("int", 3, "groups of the 1x1 convs", width=Width("groups", share=("mid", 4))),
    "mid": Param("int", None, "bottleneck width (default c/4)", width=Width("channels", per="groups")),
    "first": Param("bool", False, "plain (ungrouped) first 1x1 conv, for a unit fed by the stem"),
    "drop_path": _DROP,
}, drop_path=True, example={"c": 32, "groups": 2, "s": 2})
def _shuffle(t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
    """ShuffleNet unit: grouped 1x1, channel shuffle, 3x3 depthwise, grouped 1x1; a stride-2 unit concatenates an
    avg pool."""
    cin, c, s, g = x.shape[0], p["c"], p["s"], p["groups"]
    mid = p["mid"] or max(1, c // 4)
    g1 = 1 if p["first"] else g
    out = c - cin if s != 1 else c
    if out < 1:
        raise GenomeError(f"a stride-2 unit needs more output channels than its {cin} input channels, got {c}", "c")
    y = cna(t, x, mid, 1, groups=g1)
    if g1 > 1:
        y = t.shuffle(y, g1)
    y = cna(t, y, mid, 3, s, groups=mid, act=None)
    y = cna(t, y, out, 1, groups=g, act=None)
    if s != 1:
        return t.act(t.concat(t.pool(x, "avgpool", 3, s, 1), y), "relu")
    return t.act(_residual(t, x, y, x, p, "c"), "relu")  # a shuffle unit has no shortcut field: c must match
