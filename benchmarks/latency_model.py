"""How well can a network's CPU latency be predicted from its blocks? The evidence behind ``--max-latency-ms``.

Run: python benchmarks/latency_model.py [--space mobilenet] [--budget 300M] [--genomes 60] [--out ...]

``--genomes`` genomes are sampled from the space under the budget with a fixed seed; the first half fits each
predictor and the second half, fixed before anything is measured, judges it. Each genome's model is measured on this
machine's CPU, one thread, batch 1, float32, eval mode: its latency is the least thread CPU time of 30 forward passes
(after 3 warm-up passes; CPU time, not wall time, so that another process on the machine does not count), measured
twice to give the noise floor; and each block instance (stem, every block, head) is timed alone on the input it
receives in the network, the least of 10 passes.

Predictors, judged as nn-Meter reports them (the share of held-out networks predicted within 10% of measured):

- block sum: the blocks' own times added up (a lookup table of blocks measured in isolation);
- block sum, scaled: ``a * sum + b``, fitted;
- block sum + params + blocks: ``a * sum + b * params + c * blocks + d``, fitted (weights cold in the network,
  warm alone; a per-block overhead);
- MACs + params + blocks: the same without any measured table, from the cost model alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nas  # noqa: E402
import search_spaces  # noqa: E402


def least(fn, x, passes: int) -> float:
    """The least thread CPU time of ``passes`` calls, in milliseconds, after 3 warm-up calls."""
    with torch.inference_mode():
        for _ in range(3):
            fn(x)
        best = float("inf")
        for _ in range(passes):
            t = time.thread_time()
            fn(x)
            best = min(best, time.thread_time() - t)
    return best * 1e3


def measure(g: nas.Genome) -> dict:
    torch.manual_seed(0)
    model = nas.build(g).eval()
    x = torch.randn(1, *g.input)
    blocks = [*model.stem, *(b for stage in model.stages for b in stage), *model.head]
    inputs: dict[int, torch.Tensor] = {}
    hooks = [b.register_forward_pre_hook(lambda m, a, k=k: inputs.__setitem__(k, a[0])) for k, b in enumerate(blocks)]
    with torch.inference_mode():
        model(x)
    for h in hooks:
        h.remove()
    c = nas.cost(g)
    return {"whole": least(model, x, 30), "again": least(model, x, 30),
            "blocks": sum(least(b, inputs[k], 10) for k, b in enumerate(blocks)), "n_blocks": len(blocks),
            "params": c.params, "macs": c.macs}


def within(pred: np.ndarray, true: np.ndarray) -> tuple[float, float, float]:
    err = np.abs(pred / true - 1)
    return float(np.mean(err <= 0.10)), float(np.median(err)), float(err.max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="mobilenet")
    ap.add_argument("--budget", default="300M")
    ap.add_argument("--genomes", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "latency_model.md"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    space = search_spaces.get(a.space)
    rng = np.random.default_rng(a.seed)
    genomes = [space.sample(rng, a.budget) for _ in range(a.genomes)]
    fit, held = genomes[: a.genomes // 2], genomes[a.genomes // 2:]  # fixed before any measurement
    started = time.time()
    rows = []
    for i, g in enumerate(genomes):
        rows.append(measure(g))
        print(f"{i + 1}/{len(genomes)} {rows[-1]['whole']:.2f} ms", flush=True)
    minutes = (time.time() - started) / 60
    cols = {k: np.array([r[k] for r in rows], dtype=float) for k in rows[0]}
    f, h = slice(0, len(fit)), slice(len(fit), len(genomes))
    y = cols["whole"]

    def fitted(features: list[str]) -> np.ndarray:
        X = np.column_stack([cols[k] for k in features] + [np.ones(len(y))])
        w = np.linalg.lstsq(X[f] / y[f, None], np.ones(len(fit)), rcond=None)[0]  # least relative error
        return X[h] @ w

    predictors = {
        "block sum": cols["blocks"][h],
        "block sum, scaled": fitted(["blocks"]),
        "block sum + params + blocks": fitted(["blocks", "params", "n_blocks"]),
        "MACs + params + blocks (no table)": fitted(["macs", "params", "n_blocks"]),
    }
    lines = [
        f"# Predicting CPU latency from blocks ({a.space} space, {a.budget} MACs)",
        "",
        f"`python benchmarks/latency_model.py --space {a.space} --budget {a.budget} --genomes {a.genomes}` on "
        f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, one thread, batch 1; "
        f"{date.today()}; {minutes:.0f} minutes. {len(fit)} genomes fit each predictor, {len(held)} others (fixed "
        "before measuring) judge it; see the script's docstring. Target: at least 90% within 10%.",
        "",
        "| predictor | held-out within 10% | median error | largest error |",
        "|---|---:|---:|---:|",
    ]
    share, med, top = within(cols["again"], y)
    lines.append(f"| (noise floor: the same network measured again) | {share:.0%} | {med:.1%} | {top:.1%} |")
    for name, pred in predictors.items():
        share, med, top = within(pred, y[h])
        lines.append(f"| {name} | {share:.0%} | {med:.1%} | {top:.1%} |")
    ratio = y / cols["blocks"]
    lines += ["", f"Measured latencies {y.min():.1f}-{y.max():.1f} ms. A network takes {ratio.min():.2f}x to "
              f"{ratio.max():.2f}x the sum of its blocks timed alone (median {np.median(ratio):.2f}x)."]
    Path(a.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
