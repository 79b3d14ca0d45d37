"""``nas supernet train`` and ``nas supernet export``: one set of weights for a space, trained once, searched at
any budget (``nas search --estimator supernet --supernet CHECKPOINT``).

The weights and the rules that share them are ``estimators.supernet``; this module adds what a run needs around
them: the space's largest and smallest members and the MAC-binned sampler, the checkpoint (written whole at the
end of every epoch, so that a run killed at any moment resumes from its last epoch), progress and TensorBoard
curves, data-parallel training over Ray Train workers, and the checks that turn a wrong checkpoint into one line.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import NasError
from ..genome import Genome, dumps, loads
from .evaluations import duration

if TYPE_CHECKING:
    from estimators.supernet import Supernet
    from search_spaces import Space

Log = Callable[[str], None]

FORMAT, VERSION = "nas-supernet", 1
CHECKPOINT = "supernet.pt"
BINS = 4
"""MAC bins the random subnets of a step are drawn from, equally wide between the smallest member and the budget:
uniform sampling of a space's configs piles up at mid-size networks; binning spreads the training over costs."""


@dataclass
class TrainSettings:
    """What ``nas supernet train`` does; saved in the checkpoint, so that ``--resume`` continues the same run."""

    space: str = "mobilenet"
    budget: str = "300M"
    epochs: int = 8
    dataset: str = "fashion"
    data_dir: str | None = None
    train_images: int | None = None  # per epoch, stratified; None: the whole train split
    width: float | None = None  # proxy width multiplier (None: the space's)
    batch_size: int = 64
    lr: float = 5e-3
    weight_decay: float = 5e-4
    seed: int = 0
    sampled: int = 2  # random subnets per step beside the largest and the smallest (the sandwich rule)
    distill: bool = True  # the others learn the largest one's predictions (in-place distillation)
    workers: int = 1  # Ray Train workers (data parallel); 1: in this process
    device: str = "cpu"  # "cpu" or "cuda" (mixed precision is not used: the shared weights stay float32)
    history: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------- the space's members


def extreme(space: Space, largest: bool) -> Genome:
    """The space's largest member (every ordered choice its costliest, every gate open) or its smallest."""
    return space.decode(space.extreme(largest))


def teacher(space: Space, budget: int) -> Genome:
    """The largest member within ``budget``: the space's largest, walked down into the budget by the space's own
    repair along a path drawn with a fixed seed (the same for every run at this budget)."""
    return space.decode(space.repair(space.extreme(True), np.random.default_rng(0), budget))


class BinnedSampler:
    """The genomes of one training step: the teacher (the largest member within the budget), the smallest member,
    and ``k`` random members, each from a MAC bin drawn uniformly (up to 20 draws per bin, then any member)."""

    def __init__(self, space: Space, budget: int, k: int, rng: np.random.Generator) -> None:
        self.space, self.k, self.rng = space, k, rng
        self.top, self.bottom = teacher(space, budget), extreme(space, False)
        lo = space.min_cost()[0]
        self.edges = np.linspace(lo, max(budget, lo + 1), BINS + 1)
        self.budget = budget

    def __call__(self) -> list[Genome]:
        out = [self.top, self.bottom]
        for _ in range(self.k):
            b = int(self.rng.integers(BINS))
            lo, hi = self.edges[b], self.edges[b + 1]
            config = None
            for _ in range(20):
                c = self.space.sample_config(self.rng, int(hi))
                if self.space.cost(c)[0] >= lo:
                    config = c
                    break
            out.append(self.space.decode(config or self.space.sample_config(self.rng, self.budget)))
        return out


# ---------------------------------------------------------------- checkpoints


def build_net(space: Space, s: TrainSettings, shape: tuple[int, int, int], classes: int) -> Supernet:
    from estimators.supernet import Supernet

    return Supernet(extreme(space, True), shape, classes, width=s.width or space.proxy_width, floor=space.proxy_map,
                    seed=s.seed)


def save(path: Path, net: Supernet, space: Space, s: TrainSettings, epoch: int, extra: dict[str, Any]) -> None:
    """Write the checkpoint whole, then move it into place: a kill mid-write leaves the last one intact."""
    import torch

    payload = {"format": FORMAT, "version": VERSION, "space": space.name,
               "dimensions": [d.to_dict() for d in space.dimensions], "input": list(space.input),
               "classes": space.classes, "largest": dumps(net.largest), "shape": list(net.shape),
               "data_classes": net.classes, "width": net.width, "floor": net.floor, "resolution": net.resolution,
               "settings": asdict(s), "epoch": epoch, "weights": net.model.state_dict(), **extra}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def read(path: str | Path) -> dict[str, Any]:
    """A checkpoint's contents, checked to be one; a missing, truncated or foreign file is one line."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise NasError(f"supernet checkpoint '{path}' does not exist")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated zip, bad pickle, not a torch file: all one answer
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        raise NasError(f"'{path}' is not a readable supernet checkpoint (truncated or corrupt? {msg})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise NasError(f"'{path}' is not a supernet checkpoint written by `nas supernet train`")
    if data.get("version") != VERSION:
        raise NasError(f"'{path}' is a supernet checkpoint of format version {data.get('version')}, this nas reads "
                       f"{VERSION}")
    return data


def load(path: str | Path, space: Space | None = None) -> tuple[Supernet, dict[str, Any]]:
    """The supernet in ``path`` and its checkpoint; with ``space``, refused unless trained for exactly its ranges."""
    import search_spaces
    from estimators.supernet import Supernet

    data = read(path)
    if space is not None and data["space"] != space.name:
        raise NasError(f"'{path}' is a supernet of the {data['space']} space, not of {space.name}")
    if space is None:
        space = search_spaces.get(data["space"], tuple(data["input"]), data["classes"])
    if [d.to_dict() for d in space.dimensions] != data["dimensions"]:
        raise NasError(f"'{path}' was trained for other ranges of the {space.name} space than this nas defines")
    if list(space.input) != data["input"] or space.classes != data["classes"]:
        raise NasError(f"'{path}' serves {'x'.join(map(str, data['input']))} inputs and {data['classes']} classes, "
                       f"not {'x'.join(map(str, space.input))} and {space.classes}")
    net = Supernet(loads(data["largest"]), tuple(data["shape"]), data["data_classes"], width=data["width"],
                   floor=data["floor"])
    try:
        net.model.load_state_dict(data["weights"], strict=True)
    except RuntimeError as e:
        raise NasError(f"'{path}': its weights do not fit the {space.name} space's largest member "
                       f"({str(e).splitlines()[0][:100]})") from None
    return net, data


def serve(net: Supernet, genome: Genome, path: str | Path, space: Space) -> None:
    """Refuse, in one line, a genome outside the space or one the weights cannot serve."""
    try:
        space.encode(genome)
        net.plan(genome)
    except NasError as e:
        raise NasError(f"the supernet '{path}' cannot serve this genome: {e}") from None


def export(checkpoint: str | Path, genome: Genome, out: str | Path) -> dict[str, Any]:
    """Write the weights ``genome`` inherits (a state dict for ``nas.build`` of its proxy genome) to ``out``."""
    import torch

    net, data = load(checkpoint)
    import search_spaces

    space = search_spaces.get(data["space"], tuple(data["input"]), data["classes"])
    serve(net, genome, checkpoint, space)
    weights = net.subnet_weights(genome)
    pg = net.proxy(genome)
    torch.save({"state_dict": weights, "genome": dumps(pg)}, out)
    return {"tensors": len(weights), "params": sum(t.numel() for k, t in weights.items() if "running" not in k
                                                   and "num_batches" not in k), "input": list(pg.input)}


# ---------------------------------------------------------------- training


def train(s: TrainSettings, out: Path, *, resume: bool = False, log: Log = print, address: str | None = None) -> Path:
    """Train (or continue) a supernet in ``out``; returns the checkpoint's path."""
    import search_spaces

    from ..budget import parse_budget

    out.mkdir(parents=True, exist_ok=True)
    path = out / CHECKPOINT
    state: dict[str, Any] | None = None
    if resume:
        state = read(path)
        s = TrainSettings(**state["settings"])
        log(f"resuming from '{path}' after epoch {state['epoch']} of {s.epochs}")
    elif path.exists():
        raise NasError(f"'{path}' exists: continue it with --resume, or choose another --out")
    space = search_spaces.get(s.space)
    space.check_budget(parse_budget(s.budget))
    s.width = s.width or space.proxy_width
    if s.workers > 1:
        from .supernet_ray import train_on_ray

        train_on_ray(s, out, state, log, address)
    else:
        run_epochs(s, out, state, log)
    return path


def run_epochs(s: TrainSettings, out: Path, state: dict[str, Any] | None, log: Log, rank: int = 0,
               world: int = 1, sync: Callable[[Any], None] | None = None) -> None:
    """The training loop (in this process, or on one of ``world`` Ray Train workers): an epoch at a time, a
    checkpoint after each (written by rank 0)."""
    import torch

    import estimators
    import search_spaces
    from estimators.supernet import train_steps

    from ..budget import parse_budget

    space = search_spaces.get(s.space)
    budget = space.check_budget(parse_budget(s.budget)).macs
    ds = estimators.load_data(s.dataset, s.data_dir, s.seed)
    net = build_net(space, s, ds.shape, ds.classes)
    dev = estimators.train.resolve_device(s.device)
    net.to(dev)
    data = estimators.data.tensors(ds, net.resolution, 1.0, s.seed, train_images=s.train_images).materialize()
    data = estimators.data.Tensors(*(t.to(dev) for t in (data.x_train, data.y_train, data.x_val, data.y_val)))
    if world > 1:  # each worker trains on its own stratum of the images; gradients are averaged
        data = estimators.data.Tensors(data.x_train[rank::world], data.y_train[rank::world], data.x_val, data.y_val)
    opt = torch.optim.AdamW(net.model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    # every worker draws the same members and the same batch order (of its own images): one step, one sandwich
    rng = np.random.default_rng(s.seed)
    gen = torch.Generator().manual_seed(s.seed)
    start_epoch = 0
    if state is not None:
        net.model.load_state_dict(state["weights"])
        opt.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["rng"]
        gen.set_state(state["generator"])
        start_epoch = state["epoch"]
    sampler = BinnedSampler(space, budget, s.sampled, rng)
    bs = max(2, s.batch_size // world)
    per_epoch = len(data.y_train) // bs
    total = per_epoch * s.epochs
    warm = max(1, total // 20)

    def lr_at(step: int) -> float:
        if step < warm:
            return s.lr * (step + 1) / warm
        return s.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    writer = _writer(out) if rank == 0 else None
    if rank == 0 and state is None:
        log(f"supernet: the {space.name} space at the proxy ({s.dataset}, {net.resolution}x{net.resolution}, width "
            f"x{net.width:g}), {sum(p.numel() for p in net.model.parameters()):,} shared weights; {s.epochs} epochs "
            f"of {per_epoch * bs * world:,} images, each step the largest and the smallest member, and {s.sampled} "
            f"sampled ones, under {s.budget} MACs" + (", distilled from the largest" if s.distill else "")
            + (f", on {world} Ray Train workers" if world > 1 else ""))
    began = time.time()
    for epoch in range(start_epoch, s.epochs):
        t = time.time()
        last = [t]

        def on_step(step: int, loss: float) -> None:
            if writer is not None:
                writer.add_scalar("train/loss", loss, step)
                writer.add_scalar("train/lr", lr_at(step - 1), step)
            if rank == 0 and time.time() - last[0] > 30:
                last[0] = time.time()
                done = step - epoch * per_epoch
                rate = (time.time() - t) / done
                log(f"  epoch {epoch + 1}, step {done}/{per_epoch}, loss {loss:.3f} | about "
                    f"{duration(rate * (total - step))} left")

        with torch.random.fork_rng(devices=[]):  # dropout's masks: a resumed epoch draws what it would have drawn
            torch.manual_seed(s.seed * 100_003 + epoch)
            stats = train_steps(net, data, sampler, opt, lr_at, epoch * per_epoch, per_epoch, batch_size=bs,
                                generator=gen, distill=s.distill, sync=sync, on_step=on_step)
        took = time.time() - t
        if rank != 0:
            continue
        s.history.append({"epoch": epoch + 1, "seconds": took, **stats})
        if writer is not None:
            writer.add_scalar("epoch/loss", stats["loss"], epoch + 1)
            writer.add_scalar("epoch/teacher_loss", stats["teacher"], epoch + 1)
            writer.add_scalar("epoch/seconds", took, epoch + 1)
            writer.flush()
        save(out / CHECKPOINT, net, space, s, epoch + 1,
             {"optimizer": opt.state_dict(), "rng": rng.bit_generator.state, "generator": gen.get_state()})
        left = (time.time() - began) / (epoch + 1 - start_epoch) * (s.epochs - epoch - 1)
        log(f"[epoch {epoch + 1}/{s.epochs}] loss {stats['loss']:.3f} (largest {stats['teacher']:.3f}), "
            f"{took:.0f}s | checkpoint {out / CHECKPOINT} | about {duration(left)} left")
    if writer is not None:
        writer.close()


def _writer(out: Path) -> Any:
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


# ---------------------------------------------------------------- scoring in a search's worker

_LOADED: dict[tuple[str, float], tuple[Any, Any]] = {}


def score_in_worker(genome_yaml: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Score one candidate with the supernet named in ``spec`` (loaded once per worker process)."""
    import estimators
    from estimators.supernet import score

    path = spec["supernet"]
    key = (path, os.path.getmtime(path))  # a checkpoint rewritten in place is loaded again
    if key not in _LOADED:
        net, data = load(path)
        s = data["settings"]
        ds = estimators.load_data(s["dataset"], s["data_dir"], s["seed"])
        _LOADED.clear()
        tensors = estimators.data.tensors(ds, net.resolution, 1.0, s["seed"], train_images=None)
        _LOADED[key] = (net, tensors.materialize())
    net, tensors = _LOADED[key]
    result = score(net, loads(genome_yaml), tensors, seed=spec.get("seed", 0))
    result.update(dataset=spec.get("dataset"), estimator="supernet")
    return result
