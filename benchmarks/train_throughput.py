"""Images per second of proxy_train's training loop against a bare torch loop on the same model and data.

Run: python benchmarks/train_throughput.py [--epochs 3] [--repeats 3] [--threads 1]
                                          [--out benchmarks/train_throughput.md]
Target: the training loop costs at most 5% more than the bare loop.

proxy_train keeps its tensors channels-last on every device; the bare loop runs twice, in the same layout (for the
overhead) and in torch's default layout (what that choice buys on this CPU). One torch thread by default, as a
search's Ray task with one CPU has.

Both loops train the same proxy genome (built with the same seed) on the same in-memory tensors with the same
optimizer (AdamW and its warm-up and cosine schedule), batch size and number of steps. The bare loop is what one
would write by hand: shuffle, set the learning rate, index a batch, forward, cross-entropy, zero_grad, backward,
step. "training loop" compares the optimizer steps
alone (``train_seconds`` of the result); "whole call" charges proxy_train with everything it does besides:
adapting and building the genome, batch-norm recalibration and the validation pass after every epoch.
Runs alternate (proxy, bare, proxy, ...) and the median of ``--repeats`` is kept, since other processes share
the machine.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import nas
from estimators import DEFAULTS, load_data, proxy_genome, proxy_train
from estimators.data import tensors

CASES = [("resnet18", 0.25), ("mobilenet_v2", 0.25), ("lenet5", 1.0), ("vgg11_bn", 0.125)]
"""Seed genomes and the width multiplier they are trained at."""


def bare_loop(g: nas.Genome, data: str, epochs: int, seed: int = 0, channels_last: bool = True) -> tuple[float, int]:
    """Seconds and images of a hand-written training loop on the proxy genome and tensors proxy_train uses."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    ds = load_data(data, seed=seed)
    t = tensors(ds, g.input[1], 1.0, seed)
    torch.manual_seed(seed)
    model = nas.build(g).to(memory_format=fmt)
    opt = torch.optim.AdamW(model.parameters(), lr=DEFAULTS["lr"], weight_decay=DEFAULTS["weight_decay"])
    bs = DEFAULTS["batch_size"]
    per_epoch = len(t.y_train) // bs
    total, step = epochs * per_epoch, 0
    warm = max(1, int(DEFAULTS["warmup"] * total))
    gen = torch.Generator().manual_seed(seed)
    model.train()
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(t.y_train), generator=gen)
        for i in range(per_epoch):
            # The same warm-up and cosine schedule, so that both loops do the same arithmetic on the same values.
            lr = DEFAULTS["lr"] * ((step + 1) / warm if step < warm else
                                   0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm))))
            for group in opt.param_groups:
                group["lr"] = lr
            step += 1
            idx = perm[i * bs:(i + 1) * bs]
            loss = F.cross_entropy(model(t.x_train[idx].contiguous(memory_format=fmt)), t.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return time.perf_counter() - start, epochs * per_epoch * bs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="digits", help="data set (default digits)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    ap.add_argument("--repeats", type=int, default=3, help="alternating runs of each loop; the median is kept")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--out", type=Path, help="also write the table as Markdown to this file")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    load_data(a.data)  # load once, outside every timing

    rows = []
    for name, width in CASES:
        ds = load_data(a.data)
        g = proxy_genome(nas.seed(name), ds.shape, ds.classes, width=width)
        bare_loop(g, a.data, 1)  # warm-up: first-call costs of the kernels for these shapes
        proxy, whole, bare, plain = [], [], [], []
        for _ in range(a.repeats):
            r = proxy_train(nas.seed(name), data=a.data, epochs=a.epochs, width=width, device="cpu")
            assert r["status"] == "ok", r.get("error")
            images = r["steps"] * DEFAULTS["batch_size"]
            proxy.append(images / r["train_seconds"])
            whole.append(images / r["seconds"])
            secs, images = bare_loop(g, a.data, a.epochs)
            bare.append(images / secs)
            secs, images = bare_loop(g, a.data, a.epochs, channels_last=False)
            plain.append(images / secs)
        p, w, b = statistics.median(proxy), statistics.median(whole), statistics.median(bare)
        d = statistics.median(plain)
        rows.append({"genome": f"{name} x{width:g} at {'x'.join(map(str, g.input))}", "bare": b, "proxy": p,
                     "whole": w, "overhead": b / p - 1, "whole_overhead": b / w - 1, "plain": d})
        print(f"{name}: bare {b:,.0f} img/s, proxy loop {p:,.0f} img/s ({b / p - 1:+.1%}), whole call {w:,.0f} img/s",
              file=sys.stderr)

    text = render(rows, a)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")


def render(rows: list[dict], a: argparse.Namespace) -> str:
    """The Markdown document: the table, the verdict and the machine."""
    head = ["genome (proxy input)", "bare loop, default layout (img/s)", "bare loop, channels-last (img/s)",
            "channels-last speed-up", "proxy_train loop (img/s)", "loop overhead",
            "proxy_train whole call (img/s)", "whole-call overhead"]
    lines = ["# Proxy training throughput", "",
             f"`python benchmarks/train_throughput.py --epochs {a.epochs} --repeats {a.repeats} --threads {a.threads}"
             f"{' --out ' + str(a.out) if a.out else ''}`", "",
             __doc__.split("\n\n", 2)[2].replace("\n", " "), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append(f"| {r['genome']} | {r['plain']:,.0f} | {r['bare']:,.0f} | {r['bare'] / r['plain']:.2f}x |"
                     f" {r['proxy']:,.0f} | {r['overhead']:+.1%} | "
                     f"{r['whole']:,.0f} | {r['whole_overhead']:+.1%} |")
    worst = max(r["overhead"] for r in rows)
    geo = math.exp(statistics.fmean(math.log1p(r["overhead"]) for r in rows)) - 1
    lines += ["", f"Training-loop overhead: worst {worst:+.1%}, geometric mean {geo:+.1%} (target: at most +5%: "
                  f"{'met' if worst <= 0.05 else 'not met'}).", "",
              f"{platform.machine()}, {a.threads} torch threads, torch {torch.__version__}, Python "
              f"{platform.python_version()}; data {a.data}, batch {DEFAULTS['batch_size']}, {a.epochs} epochs per run, "
              f"median of {a.repeats} alternating runs; CPU only (no GPU on this machine)"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
