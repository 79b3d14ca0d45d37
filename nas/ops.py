"""The one table of primitive ops: for each op a traced ``Node`` can name, the torch module that computes it.

An entry turns a node's attributes into a constructor call, ``(module class, args, kwargs)``. The builder calls
it; ``nas.export.to_python`` writes the same call as source (``source``), and copies the source of the classes
defined here (and of ``init_weights``) into the standalone file, so a module exists once for both. ONNX export
goes through the builder's model, so it reads the same table. A new primitive of ``nas._trace.Tracer`` needs one
entry here; ``tests/test_export.py`` fails for an op without one.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
from torch import nn

from ._trace import Node

Call = tuple[type[nn.Module], tuple[Any, ...], dict[str, Any]]
"""A module constructor call: the class, its positional and its keyword arguments."""


# ---------------------------------------------------------------- modules of ops torch.nn has no layer for
# Each class refers to nothing but ``torch`` and ``nn``: the standalone export copies its source as it is.


class Add(nn.Module):
    """Element-wise sum of its inputs."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Mean(nn.Module):
    """Element-wise mean of its inputs (FractalNet's join)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.stack(xs, dim=0).mean(dim=0)


class Concat(nn.Module):
    """Concatenation along channels."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


class Mul(nn.Module):
    """Channel scaling by a gate (squeeze-and-excitation)."""

    def forward(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return x * gate


class Zero(nn.Module):
    """Zeros shaped like the input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class ChannelShuffle(nn.Module):
    """Interleave the channels of ``groups`` groups (ShuffleNet)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class ChannelSlice(nn.Module):
    """Channels ``start`` to ``stop`` (exclusive) of the input."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.start:self.stop]

    def extra_repr(self) -> str:
        return f"start={self.start}, stop={self.stop}"


class DropPath(nn.Module):
    """Stochastic depth: zero a sample's residual branch with probability ``p`` in training, rescale the rest."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ChannelNorm(nn.Module):
    """Layer normalization over the channels at each position of an (N, C, H, W) map (or of an (N, C) vector)."""

    def __init__(self, c: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight.view(shape) + self.bias.view(shape)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"


class LayerScale(nn.Module):
    """A learnable per-channel scale, starting at ``init``."""

    def __init__(self, c: int, init: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((c,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view((1, -1) + (1,) * (x.dim() - 2))

    def extra_repr(self) -> str:
        return f"{self.gamma.shape[0]}"


def init_weights(model: nn.Module) -> None:
    """The common CNN initialization: Kaiming for convs, unit norms, small normal for linear layers."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


# ---------------------------------------------------------------- the table

ACTIVATION_MODULES: dict[str, Call] = {
    "relu": (nn.ReLU, (), {}), "relu6": (nn.ReLU6, (), {}), "leaky_relu": (nn.LeakyReLU, (0.01,), {}),
    "tanh": (nn.Tanh, (), {}), "sigmoid": (nn.Sigmoid, (), {}), "silu": (nn.SiLU, (), {}), "swish": (nn.SiLU, (), {}),
    "hardswish": (nn.Hardswish, (), {}), "hardsigmoid": (nn.Hardsigmoid, (), {}), "gelu": (nn.GELU, (), {}),
}
"""Module of each activation name of ``nas.ACTIVATIONS``."""


def _conv(a: dict[str, Any], n: Node) -> Call:
    return (nn.Conv2d, (a["cin"], a["c"]), {"kernel_size": a["k"], "stride": a["s"], "padding": a["p"],
                                           "dilation": a["d"], "groups": a["groups"], "bias": a["bias"]})


def _pool(cls: type[nn.Module], **extra: str) -> Callable[[dict[str, Any], Node], Call]:
    """A pooling entry; ``extra`` maps further keyword arguments to the attributes they come from."""
    def entry(a: dict[str, Any], n: Node) -> Call:
        kw = {"stride": a["s"], "padding": a["p"], "ceil_mode": a["ceil"], **{k: a[v] for k, v in extra.items()}}
        return (cls, (a["k"],), kw)

    return entry


def _fixed(cls: type[nn.Module], *args: Any) -> Callable[[dict[str, Any], Node], Call]:
    """An entry whose module takes the same arguments whatever the node."""
    return lambda a, n: (cls, args, {})


MODULES: dict[str, Callable[[dict[str, Any], Node], Call]] = {
    "conv": _conv,
    "linear": lambda a, n: (nn.Linear, (a["cin"], a["c"]), {"bias": a["bias"]}),
    "bn": lambda a, n: (nn.BatchNorm2d if len(n.shape) == 3 else nn.BatchNorm1d, (a["c"],),
                        {k: a[k] for k in ("eps", "momentum") if k in a}),
    "act": lambda a, n: ACTIVATION_MODULES[a["kind"]],
    "lrn": lambda a, n: (nn.LocalResponseNorm, (a["size"],), {"alpha": a["alpha"], "beta": a["beta"], "k": a["k"]}),
    "dropout": lambda a, n: (nn.Dropout, (a["p"],), {}),
    "droppath": lambda a, n: (DropPath, (a["p"],), {}),
    "ln": lambda a, n: (ChannelNorm, (a["c"],), {"eps": a["eps"]}),
    "scale": lambda a, n: (LayerScale, (a["c"],), {"init": a["init"]}),
    "maxpool": _pool(nn.MaxPool2d),
    "avgpool": _pool(nn.AvgPool2d, count_include_pad="count_include_pad"),
    "gap": _fixed(nn.AdaptiveAvgPool2d, 1),
    "flatten": _fixed(nn.Flatten, 1),
    "add": _fixed(Add),
    "mean": _fixed(Mean),
    "concat": _fixed(Concat),
    "mul": _fixed(Mul),
    "shuffle": lambda a, n: (ChannelShuffle, (a["groups"],), {}),
    "slice": lambda a, n: (ChannelSlice, (a["start"], a["stop"]), {}),
    "zero": _fixed(Zero),
}
"""Per primitive op name: the constructor call of its module, from the node's attributes and the node."""


def call(n: Node) -> Call:
    """The constructor call of ``n``'s module; an op with no entry is a bug in the table and says so."""
    try:
        entry = MODULES[n.op]
    except KeyError:
        raise NotImplementedError(f"primitive op {n.op!r} has no entry in nas.ops.MODULES") from None
    return entry(n.attrs, n)


def module(n: Node) -> nn.Module:
    """The torch module computing ``n``."""
    cls, args, kwargs = call(n)
    return cls(*args, **kwargs)


def own(cls: type) -> bool:
    """Whether ``cls`` is defined here (the standalone export copies its source) rather than in ``torch.nn``."""
    return cls.__module__ == __name__


def source(n: Node) -> tuple[str, type[nn.Module]]:
    """``n``'s module constructor as standalone source (``nn.X(...)`` or a class of this module), and its class."""
    cls, args, kwargs = call(n)
    if not own(cls) and getattr(nn, cls.__name__, None) is not cls:  # the file can name only nn.X and its own
        raise NotImplementedError(f"primitive op {n.op!r}: {cls.__qualname__} is neither torch.nn's nor nas.ops'")
    text = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
    return f"{cls.__name__ if own(cls) else 'nn.' + cls.__name__}({text})", cls


def source_of(obj: type | Callable[..., Any]) -> str:
    """The source of a class or function of this module, as the standalone export copies it."""
    return inspect.getsource(obj)
