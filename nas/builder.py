"""The torch builder: one module per primitive op of the trace, wired exactly as traced.

``build(g)`` returns a ``Network`` with ``stem``, ``stages`` and ``head``; each block instance is a
``Block`` that runs its ops in order. The op modules are the standard ``torch.nn`` layers.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ._trace import Node
from .genome import Genome
from .network import Instance, trace

ACT_MODULES: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU, "relu6": nn.ReLU6, "leaky_relu": lambda: nn.LeakyReLU(0.01), "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid, "silu": nn.SiLU, "swish": nn.SiLU, "hardswish": nn.Hardswish,
    "hardsigmoid": nn.Hardsigmoid, "gelu": nn.GELU,
}


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


def _module(n: Node) -> nn.Module:
    a = n.attrs
    op = n.op
    if op == "conv":
        return nn.Conv2d(a["cin"], a["c"], a["k"], a["s"], a["p"], a["d"], a["groups"], a["bias"])
    if op == "linear":
        return nn.Linear(a["cin"], a["c"], a["bias"])
    if op == "bn":
        return nn.BatchNorm2d(a["c"]) if len(n.shape) == 3 else nn.BatchNorm1d(a["c"])
    if op == "act":
        return ACT_MODULES[a["kind"]]()
    if op == "lrn":
        return nn.LocalResponseNorm(a["size"], a["alpha"], a["beta"], a["k"])
    if op == "dropout":
        return nn.Dropout(a["p"])
    if op == "droppath":
        return DropPath(a["p"])
    if op == "maxpool":
        return nn.MaxPool2d(a["k"], a["s"], a["p"], ceil_mode=a["ceil"])
    if op == "avgpool":
        return nn.AvgPool2d(a["k"], a["s"], a["p"], ceil_mode=a["ceil"], count_include_pad=a["count_include_pad"])
    if op == "gap":
        return nn.AdaptiveAvgPool2d(1)
    if op == "flatten":
        return nn.Flatten(1)
    if op == "shuffle":
        return ChannelShuffle(a["groups"])
    if op == "slice":
        return ChannelSlice(a["start"], a["stop"])
    simple: dict[str, type[nn.Module]] = {"add": Add, "mean": Mean, "concat": Concat, "mul": Mul, "zero": Zero}
    return simple[op]()


class Block(nn.Module):
    """One block instance: its primitive ops, run in traced order on named intermediate values."""

    def __init__(self, inst: Instance, nodes: list[Node]) -> None:
        super().__init__()
        cut = len(inst.label) + 1
        local = {inst.input.name: "in"}
        self.ops = nn.ModuleDict()
        self.wiring: list[tuple[str, tuple[str, ...]]] = []
        for n in nodes:
            key = n.name[cut:].replace(".", "_")
            local[n.name] = key
            self.ops[key] = _module(n)
            self.wiring.append((key, tuple(local[i] for i in n.inputs)))
        self.out = local[inst.output.name]
        self.kind = inst.type

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.wiring) == 1:
            return self.ops[self.wiring[0][0]](x)
        env: dict[str, Any] = {"in": x}
        for key, inputs in self.wiring:
            env[key] = self.ops[key](*[env[i] for i in inputs])
        return env[self.out]

    def extra_repr(self) -> str:
        return self.kind


class Network(nn.Module):
    """A built genome: ``stem``, ``stages`` (one Sequential per stage) and ``head``."""

    def __init__(self, g: Genome) -> None:
        super().__init__()
        tr = trace(g)
        self.input_shape = g.input
        self.stem = nn.Sequential()
        self.stages = nn.Sequential(*[nn.Sequential() for _ in g.stages])
        self.head = nn.Sequential()
        for inst in tr.instances:
            parts = inst.label.split(".")
            block = Block(inst, tr.nodes[inst.first:inst.end])
            if parts[0] == "stages":
                self.stages[int(parts[1])].add_module("_".join(parts[2:]), block)
            else:
                getattr(self, parts[0]).add_module("_".join(parts[1:]), block)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def _init_weights(model: nn.Module) -> None:
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


def build(g: Genome) -> Network:
    """A ``torch.nn.Module`` for ``g`` that takes a batch of shape (N, *g.input)."""
    return Network(g)


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Conv + linear multiply-accumulates of one forward pass at batch 1, counted with forward hooks."""
    return measure(model, input_shape)[0]


def measure(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """One eval-mode forward pass at batch 1: hook-counted conv + linear MACs and the output shape."""
    total = 0

    def conv_hook(m: nn.Conv2d, inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = m.kernel_size
        total += out.numel() // out.shape[0] * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() // out.shape[0] * m.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.randn(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total, tuple(out.shape[1:])


def count_params(model: nn.Module) -> int:
    """``sum(p.numel())`` over the model's parameters."""
    return sum(p.numel() for p in model.parameters())
