"""Weight sharing: one set of weights from which every member of a space is taken, as ``nas.build`` makes it.

A ``Supernet`` owns the weights of the largest member of a space at the proxy (``proxy_genome`` of a genome whose
every choice is the costliest: widest, deepest, largest kernel and expansion, with SE). Any other member takes its
weights from them by the rules of once-for-all (Cai et al., ICLR 2020): a stage of depth D uses the first D blocks
of the largest one's stage; a layer with fewer channels uses the first ones (prefixes, in and out); a smaller
kernel uses the centre of the largest. Nothing else is shared or special: the subnet *is* ``nas.build(genome)`` at
the proxy, its parameters views of the shared ones, so its MACs are the cost model's and ``subnet_weights(g)``
loads into ``nas.build(net.proxy(g))`` with ``load_state_dict(strict=True)``.

Blocks are paired in order (stem with stem, the j-th block of stage i with the j-th of the largest one's stage i,
head with head), and within a pair the ops that hold weights are matched in order by what they are (a dense or a
depthwise conv, with or without bias; a norm; a linear layer): an inverted residual without its expansion conv
(expansion 1) or without SE skips those ops of the largest one. A genome the weights cannot serve (a kernel,
width or depth beyond the largest, an op the largest lacks) raises ``NasError`` naming the layer.

Training (``train_steps``) follows the sandwich rule of BigNAS (Yu et al., ECCV 2020): in every step a large
member (the caller's sampler puts it first: ``nas supernet train`` takes the largest within its budget), the
smallest and a few sampled ones, their gradients summed, with in-place distillation (the others learn the first
one's predictions on the same batch). Scoring (``score``) recalibrates the batch-norm statistics
of the subnet on training images, as SPOS does (Guo et al., ECCV 2020), and evaluates it on the validation split.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

import nas
from nas import Genome, NasError

from ._adapt import proxy_genome
from .data import Tensors
from .train import RECALIBRATE, encode_correct

Plan = tuple[nn.Module, list[tuple[str, str, tuple[int, ...]]]]
"""A built subnet and, for each of its parameters: its name, the shared tensor's name and its shape."""


class Supernet:
    """The shared weights of every member of a space at the proxy, built from the space's largest member."""

    def __init__(self, largest: Genome, shape: tuple[int, int, int], classes: int, *, width: float = 1.0,
                 floor: int = 1, seed: int = 0) -> None:
        self.shape, self.classes, self.width, self.floor = tuple(shape), classes, width, floor
        big = proxy_genome(largest, self.shape, classes, width=width, floor=floor)
        self.resolution = big.input[1]
        self.largest = largest
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.model = nas.build(big)
        self._blocks = _blocks(self.model)
        self._plans: OrderedDict[str, Plan] = OrderedDict()
        self.device = torch.device("cpu")

    def to(self, device: torch.device | str) -> Supernet:
        """Move the shared weights (and every subnet built from now on) to ``device``."""
        self.device = torch.device(device)
        self.model.to(self.device)
        self._plans.clear()
        return self

    # ---------------------------------------------------------------- what a subnet is

    def proxy(self, genome: Genome) -> Genome:
        """``genome`` as trained and scored here: adapted to the data, at the proxy width and the shared resolution."""
        return proxy_genome(genome, self.shape, self.classes, width=self.width, resolution=self.resolution,
                            floor=self.floor)

    def plan(self, genome: Genome) -> Plan:
        """The subnet of ``genome`` built, with where each of its parameters comes from (the last 32 are kept)."""
        key = nas.dumps(genome)
        hit = self._plans.get(key)
        if hit is not None:
            self._plans.move_to_end(key)
            return hit
        pg = self.proxy(genome)
        with torch.random.fork_rng(devices=[]):  # its own initial weights are never used: draw none of the caller's
            model = nas.build(pg).to(self.device)
        shared = dict(self.model.named_parameters())
        pairs: list[tuple[str, str, tuple[int, ...]]] = []
        subs = _blocks(model)
        for where in sorted({w for w, _ in subs}, key=_order):
            mine = [m for w, m in subs if w == where]
            theirs = [m for w, m in self._blocks if w == where]
            if len(mine) > len(theirs):
                raise NasError(f"{where} has {len(mine)} blocks; the supernet's largest member has {len(theirs)}")
            for j, (a, b) in enumerate(zip(mine, theirs)):
                for sub_op, big_op in _match(a, b, f"{where}, block {j}"):
                    for pname, p in a[1].ops[sub_op].named_parameters(recurse=True):
                        name, big_name = f"{a[0]}.ops.{sub_op}.{pname}", f"{b[0]}.ops.{big_op}.{pname}"
                        _check_fits(tuple(p.shape), tuple(shared[big_name].shape), f"{where}, block {j} ({sub_op})")
                        pairs.append((name, big_name, tuple(p.shape)))
        names = {n for n, _ in model.named_parameters()}
        missing = names - {n for n, _, _ in pairs}
        if missing:
            raise NasError(f"the supernet has no weights for {sorted(missing)[0]}")
        plan = (model, pairs)
        self._plans[key] = plan
        if len(self._plans) > 32:
            self._plans.popitem(last=False)
        return plan

    def views(self, genome: Genome) -> dict[str, torch.Tensor]:
        """The subnet's parameters as views of the shared ones (gradients flow back into them)."""
        shared = dict(self.model.named_parameters())
        return {name: _slice(shared[big], shape) for name, big, shape in self.plan(genome)[1]}

    def subnet_weights(self, genome: Genome) -> OrderedDict[str, torch.Tensor]:
        """A state dict for ``nas.build(self.proxy(genome))``: the shared weights copied out, fresh norm statistics."""
        model, _ = self.plan(genome)
        views = self.views(genome)
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        for name, t in model.state_dict().items():
            out[name] = views[name].detach().clone() if name in views else _fresh(name, t)
        return out

    def subnet(self, genome: Genome) -> nn.Module:
        """A standalone ``nas.build`` of ``genome`` at the proxy, holding the weights it inherits (a copy)."""
        model = nas.build(self.proxy(genome)).to(self.device)
        model.load_state_dict(self.subnet_weights(genome), strict=True)
        return model

    def forward(self, genome: Genome, x: torch.Tensor) -> torch.Tensor:
        """The subnet of ``genome`` on ``x`` with the shared weights (training mode: batch statistics)."""
        model, _ = self.plan(genome)
        model.train()
        return functional_call(model, self.views(genome), (x,), strict=False)


# ---------------------------------------------------------------- pairing and slicing


def _blocks(model: nn.Module) -> list[tuple[str, tuple[str, nn.Module]]]:
    """Every block instance in order, with where it sits (``stem``, ``stage 2``, ``head``) and its module name."""
    out = []
    for name, m in model.named_modules():
        parts = name.split(".")
        if len(parts) == 2 and parts[0] in ("stem", "head"):
            out.append((parts[0], (name, m)))
        elif len(parts) == 3 and parts[0] == "stages":
            out.append((f"stage {parts[1]}", (name, m)))
    return out


def _order(where: str) -> tuple[int, int]:
    if where == "stem":
        return (0, 0)
    if where == "head":
        return (2, 0)
    return (1, int(where.split()[1]))


def _kind(m: nn.Module) -> tuple[Any, ...] | None:
    """What a weight-holding op is, for matching (None: it holds no weights)."""
    if not any(True for _ in m.parameters(recurse=False)):
        return None
    if isinstance(m, nn.Conv2d):
        return ("conv", m.groups > 1 and m.groups == m.in_channels, m.bias is not None)
    if isinstance(m, nn.Linear):
        return ("linear", m.bias is not None)
    return (type(m).__name__,)


def _match(a: tuple[str, nn.Module], b: tuple[str, nn.Module], where: str) -> Iterator[tuple[str, str]]:
    """The subnet block's weight-holding ops, each paired with the next op of the same kind in the largest one's."""
    theirs = [(k, _kind(m)) for k, m in b[1].ops.items()]
    i = 0
    for k, m in a[1].ops.items():
        kind = _kind(m)
        if kind is None:
            continue
        while i < len(theirs) and theirs[i][1] != kind:
            i += 1
        if i == len(theirs):
            raise NasError(f"{where}: the supernet's largest member has no {kind[0]} op for {k}")
        yield k, theirs[i][0]
        i += 1


def _check_fits(small: tuple[int, ...], big: tuple[int, ...], where: str) -> None:
    if len(small) != len(big) or any(s > b for s, b in zip(small, big)) or \
            any((b - s) % 2 for s, b in zip(small[2:], big[2:])):
        raise NasError(f"{where}: a {'x'.join(map(str, small))} weight cannot be taken from the supernet's "
                       f"{'x'.join(map(str, big))}")


def _slice(t: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """The first channels (dimensions 0 and 1) and the centre of the kernel (2 and on) of ``t``: a view."""
    index = []
    for d, n in enumerate(shape):
        if d < 2:
            index.append(slice(0, n))
        else:
            lo = (t.shape[d] - n) // 2
            index.append(slice(lo, lo + n))
    return t[tuple(index)]


def _fresh(name: str, t: torch.Tensor) -> torch.Tensor:
    """A buffer as a freshly built network has it (norm statistics are the subnet's own, set by recalibration)."""
    if name.endswith("running_var"):
        return torch.ones_like(t)
    return torch.zeros_like(t)


# ---------------------------------------------------------------- training


Sampler = Callable[[], Sequence[Genome]]
"""Gives the genomes of one step: the largest first (the teacher), then the others."""


def train_steps(net: Supernet, data: Tensors, sample: Sampler, opt: torch.optim.Optimizer,
                lr_at: Callable[[int], float], step: int, steps: int, *, batch_size: int, generator: torch.Generator,
                distill: bool = True, sync: Callable[[nn.Module], None] | None = None,
                on_step: Callable[[int, float], None] | None = None) -> dict[str, float]:
    """Train ``steps`` steps from ``step`` on ``data`` (one epoch when they cover it): returns the mean losses.

    Each step runs every genome ``sample()`` gives on one batch and sums their gradients; with ``distill``, all but
    the first learn the first one's predictions (KL divergence to its softmax, the first detached). ``sync`` (for
    data-parallel training) averages gradients across workers before the optimizer step.
    """
    x, y = data.x_train, data.y_train
    bs = min(batch_size, len(y))
    if steps > len(y) // bs:
        raise NasError(f"{steps} steps of {bs} images need more than the {len(y)} training images")
    perm = torch.randperm(len(y), generator=generator).to(y.device)
    net.model.train()
    sums = {"loss": 0.0, "teacher": 0.0}
    n = 0
    for i in range(steps):
        idx = perm[i * bs:(i + 1) * bs]
        xb, yb = x[idx].contiguous(memory_format=torch.channels_last), y[idx]
        for group in opt.param_groups:
            group["lr"] = lr_at(step + i)
        opt.zero_grad(set_to_none=True)
        teacher = None
        total = 0.0
        for j, g in enumerate(sample()):
            logits = net.forward(g, xb).flatten(1)
            if j == 0 or not distill:
                loss = F.cross_entropy(logits, yb)
            else:
                loss = F.kl_div(F.log_softmax(logits, 1), teacher, reduction="batchmean")
            if j == 0:
                teacher = F.softmax(logits.detach(), 1)
                sums["teacher"] += loss.item()
            loss.backward()
            total += loss.item()
        if not math.isfinite(total):
            raise NasError(f"the supernet's loss became {total} at step {step + i + 1}")
        if sync is not None:
            sync(net.model)
        opt.step()
        sums["loss"] += total
        n += 1
        if on_step is not None:
            on_step(step + i + 1, total)
    return {k: v / max(1, n) for k, v in sums.items()}


# ---------------------------------------------------------------- scoring


@torch.no_grad()
def score(net: Supernet, genome: Genome, data: Tensors, *, seed: int = 0, batch_size: int = 64,
          recalibrate: int = RECALIBRATE) -> dict[str, Any]:
    """The subnet of ``genome`` with inherited weights: batch-norm statistics re-estimated on ``recalibrate``
    training images (chosen by ``seed``), then top-1 accuracy and loss on the validation split, in a dict shaped
    like ``proxy_train``'s."""
    start = time.perf_counter()
    model = net.subnet(genome).to(memory_format=torch.channels_last)
    recalibrate_norms(model, data.x_train, recalibrate, seed, batch_size)
    model.eval()
    hits, loss = [], 0.0
    for xb, yb in zip(data.x_val.split(500), data.y_val.split(500)):
        logits = model(xb.contiguous(memory_format=torch.channels_last)).flatten(1)
        loss += F.cross_entropy(logits, yb, reduction="sum").item()
        hits.append(logits.argmax(1) == yb)
    hit = torch.cat(hits).cpu()
    n = len(hit)
    acc = hit.float().mean().item()
    pg = net.proxy(genome)
    c = nas.cost(pg)
    return {"status": "ok", "accuracy": acc, "loss": loss / n, "n_eval": n, "split": "validation",
            "stderr": math.sqrt(max(acc * (1 - acc), 0.0) / n), "correct": encode_correct(hit.numpy()),
            "input": list(pg.input), "resolution": pg.input[1], "width": net.width, "floor": net.floor,
            "proxy_macs": c.macs, "proxy_params": c.params, "epochs": 0, "history": [],
            "seconds": time.perf_counter() - start}


@torch.no_grad()
def recalibrate_norms(model: nn.Module, x: torch.Tensor, n: int, seed: int, batch_size: int = 64) -> None:
    """Replace every batch norm's running statistics by their cumulative average over ``n`` training images drawn
    with ``seed`` (the same images for every subnet of one seed), in training mode, then leave the model as it was."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    was = model.training
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n].to(x.device)
    for i in range(0, len(idx), batch_size):
        part = idx[i:i + batch_size]
        if len(part) > 1:
            model(x[part].contiguous(memory_format=torch.channels_last))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    model.train(was)
