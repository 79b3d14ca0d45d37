"""The torch builder: one module per primitive op of the trace, wired exactly as traced.

``build(g)`` returns a ``Network`` with ``stem``, ``stages`` and ``head``; each block instance is a
``BlockModule`` that runs its ops in order. The op modules come from the table of primitive ops, ``nas.ops.MODULES``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._limits import MAX_BUILD_PARAMS
from ._trace import Node
from .errors import GenomeError
from .genome import Genome
from .network import Instance, trace
from .ops import init_weights, module


class BlockModule(nn.Module):
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
            self.ops[key] = module(n)
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
            block = BlockModule(inst, tr.nodes[inst.first:inst.end])
            if parts[0] == "stages":
                self.stages[int(parts[1])].add_module("_".join(parts[2:]), block)
            else:
                getattr(self, parts[0]).add_module("_".join(parts[1:]), block)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def build(g: Genome) -> Network:
    """A ``torch.nn.Module`` for ``g`` that takes a batch of shape (N, *g.input); a genome of more than
    ``MAX_BUILD_PARAMS`` parameters raises GenomeError before anything is allocated."""
    from .cost import cost

    params = cost(g).params
    if params > MAX_BUILD_PARAMS:
        raise GenomeError(f"the network has {params:,} parameters ({4 * params / 1e9:,.0f} GB at float32), more "
                          f"than a model is built for ({MAX_BUILD_PARAMS:,})")
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
