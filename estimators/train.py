"""Proxy training: a genome trained briefly on a small data set, scored by validation accuracy.

``proxy_train(genome)`` adapts the deployment genome to the proxy data (``proxy_genome``: head to the classes,
stem to the channels, the smallest fitting resolution, an optional width multiplier), trains it with AdamW
under a one-cycle schedule (warm-up, then cosine decay to zero over the steps it is given) and returns a
plain dict. The MAC budget is judged on the deployment genome, never here; ``proxy_macs`` is the proxy's own.

Two kinds of mistake are kept apart. A mistake in the call (an unknown data set, a missing directory, a knob
out of range) is the same for every candidate and raises ``nas.NasError``. Anything that goes wrong with one
candidate (a genome that cannot be adapted, a loss that turns NaN or infinite, running out of memory, any
exception in the training itself) returns ``status: "failed"`` with a one-line ``error``, so that one bad
candidate never stops a search.

Tensors are channels-last on every device. On CPU the result is deterministic for a seed (the same seed gives the
same accuracy and loss, bit for bit, at a fixed number of threads); the caller's global RNG state is left as it
was. On CUDA it trains in mixed precision (bfloat16 where supported) and is not bit-for-bit reproducible.

>>> r = proxy_train(nas.seed("lenet5"), data="synthetic", epochs=1)
>>> r["status"], r["epochs"], r["input"]
('ok', 1, [3, 16, 16])
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

import nas
from nas import Genome, NasError

from ._adapt import proxy_genome
from .data import Stream, Tensors, load_data, tensors


class StopTrial(Exception):
    """Raise from a ``proxy_train`` callback to stop training early (returning False does the same)."""


class _NonFinite(Exception):
    """The training loss turned NaN or infinite."""


Callback = Callable[[dict[str, Any]], Any]

RECALIBRATE = 512
"""Training images whose batch statistics replace the running ones before each evaluation."""

DEFAULTS: dict[str, Any] = {"batch_size": 32, "lr": 5e-3, "weight_decay": 5e-4, "warmup": 0.1}
"""Training hyperparameters of the proxy: AdamW, a cosine cycle (linear warm-up over ``warmup`` of its steps, then
cosine decay to zero) over the whole run, or one cycle per segment between ``restarts``."""


def proxy_train(genome: Genome, data: str = "fashion", epochs: int = 1, seed: int = 0, *,
                steps: int | None = None, resolution: int | None = None, fraction: float = 1.0,
                width: float = 1.0, batch_size: int = DEFAULTS["batch_size"], lr: float = DEFAULTS["lr"],
                weight_decay: float = DEFAULTS["weight_decay"], data_dir: str | Path | None = None,
                split_seed: int | None = None, device: str = "auto", floor: int = 1,
                train_images: int | None = None, final: bool = False, restarts: Sequence[int] = (),
                callback: Callback | None = None) -> dict[str, Any]:
    """Train ``genome`` briefly on ``data`` and return its validation accuracy and loss as a dict.

    Fidelity knobs: ``epochs`` (or ``steps``, which overrides it), ``resolution`` (a square side; default the
    data's own, raised to what the genome needs), ``fraction`` of the training split, ``width`` multiplier.
    ``callback(info)`` runs after every epoch with ``epoch``, ``accuracy``, ``loss``, ``train_loss`` and
    ``seconds``; returning False (or raising ``StopTrial``) stops training, and ``epochs`` says how many ran.
    ``seed`` sets the initialization, the batch order and the train/validation split; ``split_seed`` fixes the
    split on its own, so that runs with several seeds are scored on the same validation images. ``floor``: the
    smallest map side a block may run on (a space's ``proxy_map``; strides below it are dropped).
    ``train_images`` caps the training images (stratified). ``final``: the verdict's protocol, training on the
    train and validation parts together and scoring on the test split (``split`` says which was scored).
    ``restarts``: epochs at which the learning-rate cycle ends and a new one begins (warm restarts, Loshchilov and
    Hutter, ICLR 2017). An early-stopping rule passes its rungs, so that every score it compares is taken where
    the learning rate has just decayed to zero, the same point of the same schedule for every trial, instead of
    mid-cycle at a high rate, where slow starters look worse than they are.

    Keys: ``status`` ("ok" or "failed"), ``error`` (one line, when failed), ``accuracy`` (top-1 on the fixed
    validation split, None when failed), ``loss`` (validation cross-entropy), ``train_loss``, ``epochs``,
    ``steps``, ``stopped`` (by the callback), ``seconds`` (the whole call), ``train_seconds`` (optimizer steps
    only), ``device``, ``data``, ``input`` (the proxy's C, H, W), ``resolution``, ``classes``, ``width``,
    ``fraction``, ``seed``, ``split_seed``, ``proxy_params``, ``proxy_macs``, ``history`` (one dict per epoch),
    ``split`` ("validation" or "test"), ``restarts``, ``n_eval`` and ``stderr`` (the binomial standard error of
    ``accuracy`` on those ``n_eval`` images), ``train_images``, ``floor`` and ``correct`` (which evaluated images
    were right, one bit each, packed and base64-encoded: ``decode_correct`` reads it; paired comparisons need it).
    """
    start = time.perf_counter()
    _check_knobs(epochs, steps, resolution, fraction, width, batch_size, lr, weight_decay)
    restarts = _check_restarts(restarts, epochs, steps)
    dev = resolve_device(device)
    ds = load_data(data, data_dir, seed if split_seed is None else split_seed)
    out: dict[str, Any] = {
        "status": "ok", "accuracy": None, "loss": None, "train_loss": None, "epochs": 0, "steps": 0,
        "stopped": False, "seconds": 0.0, "train_seconds": 0.0, "device": str(dev), "data": data,
        "input": None, "resolution": None, "classes": ds.classes, "width": width, "fraction": fraction, "seed": seed,
        "split_seed": seed if split_seed is None else split_seed, "proxy_params": None, "proxy_macs": None,
        "history": [], "split": "test" if final else "validation", "n_eval": None, "stderr": None,
        "train_images": None, "floor": floor, "correct": None, "restarts": list(restarts),
    }
    model: nn.Module | None = None
    try:
        pg = proxy_genome(genome, ds.shape, ds.classes, width=width, resolution=resolution, floor=floor)
        cost = nas.cost(pg)
        out.update(input=list(pg.input), resolution=pg.input[1], proxy_params=cost.params, proxy_macs=cost.macs)
        logits = math.prod(cost.output)
        if logits != ds.classes:
            raise NasError(f"the adapted network outputs {'x'.join(map(str, cost.output))}, expected "
                           f"{ds.classes} logits")
        data_t = tensors(ds, pg.input[1], fraction, seed, final=final, train_images=train_images)
        out.update(train_images=len(data_t.y_train), n_eval=len(data_t.y_val))
        cuda_ids = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda_ids):
            torch.manual_seed(seed)
            model = nas.build(pg)
            _Loop(model, data_t, dev, batch_size, lr, weight_decay, seed, out, callback, start).run(epochs, steps,
                                                                                              restarts)
    except Exception as e:  # one candidate's failure is a result, never a crash of the search
        out.update(status="failed", error=_one_line(e), accuracy=None)
    finally:
        del model
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    out["seconds"] = time.perf_counter() - start
    return out


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU; anything else must name a device torch knows."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise NasError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise NasError(f"device {device!r} asked for, but CUDA is not available here")
    if dev.type not in ("cpu", "cuda"):
        raise NasError(f"device {device!r} is not supported; use auto, cpu, cuda or cuda:N")
    return dev


class _Schedule:
    """The learning rate at each step: one warm-up-then-cosine cycle per segment between restart steps."""

    def __init__(self, peak: float, restarts: list[int], total: int) -> None:
        self.peak = peak
        self.bounds = [0, *[r for r in restarts if 0 < r < total], total]

    def __call__(self, step: int) -> float:
        k = max(i for i, b in enumerate(self.bounds[:-1]) if b <= step)
        start, length = self.bounds[k], self.bounds[k + 1] - self.bounds[k]
        t = step - start
        warm = max(1, int(DEFAULTS["warmup"] * length))
        if t < warm:
            return self.peak * (t + 1) / warm
        return self.peak * 0.5 * (1 + math.cos(math.pi * (t - warm) / max(1, length - warm)))


def _check_restarts(restarts: Sequence[int], epochs: int, steps: int | None) -> tuple[int, ...]:
    """Restart epochs must be increasing integers strictly inside the run (none with ``steps``)."""
    out = tuple(restarts or ())
    if not out:
        return out
    if steps is not None:
        raise NasError("restarts are epochs; they cannot be combined with steps")
    if any(not isinstance(r, int) or isinstance(r, bool) for r in out) or list(out) != sorted(set(out)) \
            or out[0] < 1 or out[-1] >= epochs:
        raise NasError(f"restarts must be increasing epochs between 1 and {epochs - 1}, got {list(out)!r}")
    return out


class _Loop:
    """The training loop of one trial: its state lives here so that ``proxy_train`` reads top to bottom."""

    def __init__(self, model: nn.Module, data: Tensors | Stream, dev: torch.device, batch_size: int, lr: float,
                 weight_decay: float, seed: int, out: dict[str, Any], callback: Callback | None,
                 start: float) -> None:
        self.cuda = dev.type == "cuda"
        # Channels-last on both devices: on one CPU thread it trains depthwise and grouped networks markedly faster
        # than the default layout (benchmarks/train_throughput.md: MobileNetV2 1.54x, VGG-11 1.22x, ResNet-18
        # 1.07x, LeNet-5 0.98x).
        self.fmt = torch.channels_last
        self.model = model.to(dev, memory_format=self.fmt)
        # In-memory tensors move to the device once per trial (on CPU ``.to`` returns the cached tensors themselves);
        # a stream delivers each batch there.
        self.data = data.to(dev)
        self.n, self.n_val = len(data.y_train), len(data.y_val)
        self.dev, self.out, self.callback, self.start = dev, out, callback, start
        self.bs = min(batch_size, self.n)
        self.gen = torch.Generator(device="cpu").manual_seed(seed)
        self.opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        self.lr = lr
        bf16 = self.cuda and torch.cuda.is_bf16_supported()
        self.amp_dtype = torch.bfloat16 if bf16 else torch.float16
        self.scaler = torch.amp.GradScaler("cuda") if self.cuda and not bf16 else None

    def autocast(self) -> Any:
        return torch.autocast("cuda", dtype=self.amp_dtype) if self.cuda else nullcontext()

    def run(self, epochs: int, steps: int | None, restarts: tuple[int, ...] = ()) -> None:
        # Whole batches only: a last batch of one sample would break batch norm on a 1x1 map.
        per_epoch = max(1, self.n // self.bs)
        total = steps if steps else epochs * per_epoch
        n_epochs = math.ceil(total / per_epoch)
        schedule = _Schedule(self.lr, [r * per_epoch for r in restarts], total)
        step = 0
        for epoch in range(1, n_epochs + 1):
            t = time.perf_counter()
            loss_sum = torch.zeros((), device=self.dev)
            perm = torch.randperm(self.n, generator=self.gen)
            perm = perm if isinstance(self.data, Stream) else perm.to(self.dev)
            n = min(per_epoch, total - step)
            self.model.train()
            for i, (xb, yb) in enumerate(self.data.batches("train", perm[:n * self.bs], self.bs)):
                lr = schedule(step)
                for group in self.opt.param_groups:
                    group["lr"] = lr
                loss = self.step(xb, yb)
                # A NaN is caught at once on CPU; on CUDA every 25 steps, to avoid a sync per step.
                if not self.cuda or i % 25 == 24 or i == n - 1:
                    if not math.isfinite(loss.item()):
                        raise _NonFinite(f"loss became {loss.item()} at epoch {epoch}, step {step + 1}")
                loss_sum += loss.detach()
                step += 1
            if self.cuda:
                torch.cuda.synchronize()
            self.out["train_seconds"] += time.perf_counter() - t
            self.recalibrate(perm)
            acc, val_loss = self.evaluate()
            info = {"epoch": epoch, "accuracy": acc, "loss": val_loss, "train_loss": loss_sum.item() / max(1, n),
                    "seconds": time.perf_counter() - self.start}
            self.out.update(accuracy=acc, loss=val_loss, train_loss=info["train_loss"], epochs=epoch, steps=step,
                            stderr=math.sqrt(max(acc * (1 - acc), 0.0) / self.n_val), correct=self.correct)
            self.out["history"].append(info)
            if self.callback is not None:
                try:
                    stop = self.callback(dict(info)) is False
                except StopTrial:
                    stop = True
                if stop and epoch < n_epochs:
                    self.out["stopped"] = True
                    return

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        xb = xb.contiguous(memory_format=self.fmt)
        with self.autocast():
            loss = F.cross_entropy(self.model(xb).flatten(1), yb)
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            self.opt.step()
        return loss

    @torch.no_grad()
    def recalibrate(self, perm: torch.Tensor) -> None:
        """Re-estimate batch-norm statistics on RECALIBRATE training images before evaluating.

        After a few dozen steps the running averages lag far behind the weights: at one epoch on digits a
        MobileNetV2 scores 10% with them and about 40% with fresh ones. Cumulative averages over a fixed
        sample fix that for the price of a few forward passes.
        """
        norms = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        saved = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        self.model.train()
        for xb, _ in self.data.batches("train", perm[:RECALIBRATE], self.bs):
            if len(xb) > 1:
                with self.autocast():
                    self.model(xb.contiguous(memory_format=self.fmt))
        for m, momentum in zip(norms, saved):
            m.momentum = momentum

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float]:
        """Top-1 accuracy and mean cross-entropy on the whole validation split, in eval mode."""
        self.model.eval()
        correct = torch.zeros((), device=self.dev, dtype=torch.long)
        loss = torch.zeros((), device=self.dev)
        # On CPU, batches of the training size: a big evaluation batch leaves the training steps that follow it
        # measurably slower (new kernel shapes and buffers; +5-10% on VGG-style nets here).
        size = 512 if self.cuda else self.bs
        hits = []
        for xb, yb in self.data.batches("val", None, size):
            with self.autocast():
                logits = self.model(xb.contiguous(memory_format=self.fmt)).flatten(1).float()
            loss += F.cross_entropy(logits, yb, reduction="sum")
            hit = logits.argmax(1) == yb
            correct += hit.sum()
            hits.append(hit)
        self.correct = encode_correct(torch.cat(hits).cpu().numpy())
        n = self.n_val
        val = loss.item() / n
        if not math.isfinite(val):
            raise _NonFinite(f"validation loss is {val}")
        return correct.item() / n, val


def encode_correct(hits: Any) -> str:
    """One bit per evaluated image (1: classified right), packed and base64-encoded: 625 bytes per 5,000 images."""
    import base64

    import numpy as np

    return base64.b64encode(np.packbits(np.asarray(hits, dtype=bool)).tobytes()).decode()


def decode_correct(text: str, n: int) -> Any:
    """The boolean array of ``n`` images that ``encode_correct`` wrote."""
    import base64

    import numpy as np

    return np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))[:n].astype(bool)


def _check_knobs(epochs: int, steps: int | None, resolution: int | None, fraction: float, width: float,
                 batch_size: int, lr: float, weight_decay: float) -> None:
    """Knobs out of range are a mistake in the call: raise NasError with one line."""
    def positive_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 1

    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if not positive_int(epochs):
        raise NasError(f"epochs must be a positive integer, got {epochs!r}")
    if steps is not None and not positive_int(steps):
        raise NasError(f"steps must be a positive integer, got {steps!r}")
    if resolution is not None and not positive_int(resolution):
        raise NasError(f"resolution must be a positive integer (a square side in pixels), got {resolution!r}")
    if not number(fraction) or not 0 < fraction <= 1:
        raise NasError(f"fraction must be in (0, 1], got {fraction!r}")
    if not number(width) or width <= 0:
        raise NasError(f"width must be a positive number, got {width!r}")
    if not positive_int(batch_size):
        raise NasError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not number(lr) or lr <= 0:
        raise NasError(f"lr must be a positive number, got {lr!r}")
    if not number(weight_decay) or weight_decay < 0:
        raise NasError(f"weight_decay must be a non-negative number, got {weight_decay!r}")


def _one_line(e: BaseException) -> str:
    """``Type: first line of the message``; out-of-memory errors say so plainly."""
    msg = (str(e).strip().splitlines() or [""])[0]
    if isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in msg.lower() or \
            "can't allocate memory" in msg.lower():
        return f"out of memory: {msg}"
    if isinstance(e, NasError):
        return msg
    if isinstance(e, _NonFinite):
        return f"non-finite loss: {msg}"
    return f"{type(e).__name__}: {msg}"
