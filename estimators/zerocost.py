"""Zero-cost proxies: a score from one minibatch at initialization, no training, as a pre-filter for a search.

Score many candidates, train the best few. Each proxy takes a freshly initialized model (built from the proxy
genome with the seed), a minibatch ``x`` and its labels ``y``, and returns a float; higher is better.

- ``synflow`` (Tanaka et al. 2020; as a NAS proxy, Abdelfattah et al. 2021): with every weight made positive
  and batch norm at its initial identity, the sum over conv and linear weights of |w * dR/dw| where R is the
  summed output for an all-ones input, in float64. Data-free.
- ``naswot`` (Mellor et al. 2021, "Neural Architecture Search without Training"): the log-determinant of the
  kernel K[i, j] = number of rectified units on which images i and j have the same binary code (whether the
  unit's input is positive), summed over the ReLU-like activations (ReLU, ReLU6, leaky ReLU and their smooth
  kin hardswish, SiLU, GELU); sigmoid-like gates (an SE block's gate) and tanh are not rectifiers and are left
  out. ``K + I`` is used so that a network that maps different images to identical codes scores low but finite.
- ``grad_norm`` (Abdelfattah et al. 2021): the sum over conv and linear weights of the L2 norm of the
  cross-entropy gradient.
- ``snip`` (Lee et al. 2019, as a NAS proxy in Abdelfattah et al. 2021): the sum over conv and linear weights
  of |w * dL/dw|, the connection sensitivity.

>>> s = zero_cost(nas.seed("lenet5"), "naswot", data="synthetic")
>>> s > 0
True
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

import nas
from nas import Genome, NasError

from ._adapt import proxy_genome
from .data import load_data, tensors
from .train import resolve_device

ZeroCostFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], float]

_RECTIFIERS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Hardswish, nn.SiLU, nn.GELU)
"""The units whose on/off code NASWOT reads (an SE block's sigmoid or hardsigmoid gate is not one)."""


def _weights(model: nn.Module) -> list[torch.Tensor]:
    """Weights of the conv and linear layers, the parameters the proxies score."""
    return [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def synflow(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Synaptic flow: sum |w * dR/dw| with |w| everywhere and an all-ones input (data-free, float64)."""
    model.double().eval()  # eval: batch norm at its initial running statistics is the identity
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)
    model.zero_grad(set_to_none=True)
    model(ones).sum().backward()
    return float(sum((w * w.grad).abs().sum().item() for w in _weights(model) if w.grad is not None))


def naswot(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mellor et al.'s score: log det of the summed Hamming-agreement kernel of the activation patterns."""
    n = len(x)
    kernel = torch.zeros((n, n), dtype=torch.float64, device=x.device)

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        code = (inputs[0] > 0).flatten(1).to(torch.float64)
        kernel.add_(code @ code.T + (1 - code) @ (1 - code).T)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _RECTIFIERS)]
    try:
        model.train()  # batch statistics, as a network in training sees its inputs
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    kernel += torch.eye(n, dtype=torch.float64, device=x.device)
    return float(torch.linalg.slogdet(kernel)[1].item())


def _loss_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    model.train()
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x).flatten(1), y).backward()


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum over conv and linear weights of the L2 norm of the loss gradient."""
    _loss_backward(model, x, y)
    return float(sum(w.grad.norm().item() for w in _weights(model) if w.grad is not None))


def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Connection sensitivity: sum over conv and linear weights of |w * dL/dw|."""
    _loss_backward(model, x, y)
    return float(sum((w * w.grad).abs().sum().item() for w in _weights(model) if w.grad is not None))


ZERO_COST: dict[str, ZeroCostFn] = {"synflow": synflow, "naswot": naswot, "grad_norm": grad_norm, "snip": snip}
"""The zero-cost proxies by name; each maps (fresh model, minibatch, labels) to a score, higher is better."""


def zero_cost(genome: Genome, name: str, data: str = "digits", seed: int = 0, batch_size: int = 64, *,
              resolution: int | None = None, width: float = 1.0, data_dir: str | Path | None = None,
              device: str = "auto", floor: int = 1) -> float:
    """The zero-cost proxy ``name`` of ``genome`` adapted to ``data`` as for ``proxy_train``; higher is better.

    The minibatch is ``batch_size`` training images drawn with ``seed``, and the model is initialized with
    ``seed``, so the score is deterministic on CPU. A NaN score is returned as ``-inf`` (ranked last). An
    unknown name, data set or knob, and a genome that cannot be adapted to the data, raise NasError.
    """
    if name not in ZERO_COST:
        raise NasError(f"unknown zero-cost proxy '{name}'; valid: {', '.join(ZERO_COST)}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 2:
        raise NasError(f"batch_size must be an integer >= 2, got {batch_size!r}")
    dev = resolve_device(device)
    ds = load_data(data, data_dir, seed)
    pg = proxy_genome(genome, ds.shape, ds.classes, width=width, resolution=resolution, floor=floor)
    t = tensors(ds, pg.input[1], 1.0, seed)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(t.y_train), generator=gen)[:batch_size]
    x, y = next(t.to(dev).batches("train", idx, batch_size))
    cuda_ids = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_ids):
        torch.manual_seed(seed)
        model = nas.build(pg).to(dev)
        score = ZERO_COST[name](model, x, y)
    return score if not math.isnan(score) else -math.inf

