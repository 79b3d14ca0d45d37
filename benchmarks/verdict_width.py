"""What a verdict at the proxy's width says about the architecture itself: the same networks retrained at width
x0.35 and at width 1.0, ranked side by side.

Run: python benchmarks/verdict_width.py [--networks 12] [--seeds 2] [--workers 2] [--device cpu|cuda]
                                        [--raw FILE.jsonl] [--out FILE.md]

The networks: the mobilenet space's baseline at 300M MACs (``mobilenet_v2 x0.98``) and the first ``--networks``
- 1 candidates that ``nas search --strategy random --seed 0`` proposes under 300M (the fidelity benchmark's
trials 0, 1, ...). Each is retrained by the verdict's protocol (``proxy_train(final=True)``: 3 epochs on all 15,000
training images of the bundled Fashion-MNIST, native 28x28 with strides dropped below 4x4 maps, scored on the
5,000 test images) with the verdict's seeds for ``--seed 0`` (1000, 1001, ...), at width x0.35, the CPU default,
and at width 1.0, the architecture's own (``nas search --verdict-width``). Runs alternate between the widths in
one pool of ``--workers`` processes of one thread each, so both sides see the same machine.

Reported: each network's mean test accuracy at both widths; Kendall tau between the two rankings with a 95%
bootstrap interval (networks resampled 2,000 times); beside it, each width's agreement with itself (the ranking
by seed 0 against seed 1), the ceiling any cross-width agreement is read against; whether the two widths agree
on the networks' order against the baseline; and the seconds per retraining at each width. Each run is appended to
``--raw`` as it lands, so an interrupted benchmark continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WIDTHS = (0.35, 1.0)
VERDICT = {"epochs": 3, "final": True, "train_images": None, "floor": 4, "batch_size": 64}


def networks(n: int) -> list[tuple[str, str, int]]:
    """(label, genome YAML, deployment MACs): the baseline and the random strategy's first ``n - 1`` proposals."""
    import nas
    import search_spaces
    import strategies

    space = search_spaces.get("mobilenet")
    budget = space.check_budget("300M")
    label, g, macs = space.baseline(budget)
    out = [(f"baseline {label}", nas.dumps(g), macs)]
    s = strategies.get("random")(space, budget=budget, seed=0)
    for _ in range(n - 1):
        c = s.ask()
        out.append((f"trial {c.id}", nas.dumps(c.genome), c.macs))
    return out


def train(label: str, genome_yaml: str, width: float, seed: int, device: str) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    import estimators
    import nas

    r = estimators.proxy_train(nas.loads(genome_yaml), data="fashion", seed=1000 + seed, width=width, device=device,
                               **VERDICT)
    return {"label": label, "width": width, "seed": seed, "status": r["status"], "accuracy": r["accuracy"],
            "seconds": r["seconds"], "proxy_macs": r["proxy_macs"], "proxy_params": r["proxy_params"],
            "error": r.get("error"), "device": r["device"]}


def tau_ci(x: list[float], y: list[float]) -> tuple[float, float, float]:
    """Kendall tau and its 95% bootstrap interval, as the verdict's audit computes them."""
    from nas.app.verdict import kendall_tau, tau_interval

    t = kendall_tau(x, y)
    return (float("nan") if t is None else t), *tau_interval(x, y)


def render(nets: list[tuple[str, str, int]], runs: list[dict[str, Any]], seeds: int, workers: int, wall: float,
           device: str) -> str:
    acc: dict[tuple[str, float], dict[int, float]] = {}
    secs: dict[float, list[float]] = {w: [] for w in WIDTHS}
    size: dict[tuple[str, float], tuple[int, int]] = {}
    for r in runs:
        if r["status"] == "ok":
            acc.setdefault((r["label"], r["width"]), {})[r["seed"]] = r["accuracy"]
            secs[r["width"]].append(r["seconds"])
            size[(r["label"], r["width"])] = (r["proxy_macs"], r["proxy_params"])
    done = [n for n in nets if all(len(acc.get((n[0], w), {})) == seeds for w in WIDTHS)]
    mean = {(n[0], w): float(np.mean(list(acc[(n[0], w)].values()))) for n in done for w in WIDTHS}
    lines = ["# The verdict's width: what x0.35 says about x1.0", "",
             f"`python benchmarks/verdict_width.py --networks {len(nets)} --seeds {seeds} --workers {workers}"
             + (f" --device {device}" if device != "cpu" else "") + "`", "",
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {workers} worker processes of one "
             f"thread, device {device}; {wall / 60:.0f} minutes in all. The verdict's protocol at both widths: 3 "
             "epochs on all 15,000 training images of the bundled Fashion-MNIST, 1x28x28 with strides dropped where a "
             f"map would fall below 4x4, scored on the 5,000 test images, seeds 1000-{999 + seeds} (the verdict's "
             "for --seed 0). See the script's docstring for the networks.", "",
             f"{len(done)} of {len(nets)} networks retrained at both widths with {seeds} seeds each."]
    if len(done) >= 3:
        x = [mean[(n[0], 0.35)] for n in done]
        y = [mean[(n[0], 1.0)] for n in done]
        t, lo, hi = tau_ci(x, y)
        lines += ["", "| ranking | Kendall tau | 95% interval |", "|---|---:|---|",
                  f"| x0.35 (mean of {seeds} seeds) against x1.0 (mean of {seeds}) | {t:+.3f} | "
                  f"[{lo:+.2f}, {hi:+.2f}] |"]
        if seeds >= 2:
            for w in WIDTHS:
                a = [acc[(n[0], w)][0] for n in done]
                b = [acc[(n[0], w)][1] for n in done]
                t2, lo2, hi2 = tau_ci(a, b)
                lines.append(f"| x{w:g} against itself: seed 1000 against seed 1001 | {t2:+.3f} | "
                             f"[{lo2:+.2f}, {hi2:+.2f}] |")
        base = done[0][0] if done[0][0].startswith("baseline") else None
        if base:
            agree = sum((mean[(n[0], 0.35)] > mean[(base, 0.35)]) == (mean[(n[0], 1.0)] > mean[(base, 1.0)])
                        for n in done[1:])
            lines += ["", f"Against the baseline ({base}): the two widths put {agree} of the {len(done) - 1} other "
                      "networks on the same side of it (above or below, by mean test accuracy)."]
        best35 = max(done, key=lambda n: mean[(n[0], 0.35)])[0]
        best10 = max(done, key=lambda n: mean[(n[0], 1.0)])[0]
        rank = sorted(done, key=lambda n: -mean[(n[0], 1.0)]).index(next(n for n in done if n[0] == best35)) + 1
        lines += ["", f"The best at x0.35 is {best35}, which ranks {rank} of {len(done)} at x1.0; the best at x1.0 is "
                  f"{best10}."]
    lines += ["", "Seconds per retraining (median): " + ", ".join(
        f"x{w:g} {np.median(secs[w]):.0f} s" for w in WIDTHS if secs[w]) + ".", "",
        "| network | MACs at 3x224x224 | trained MACs x0.35 | x1.0 | test x0.35, seed by seed | mean | "
        "test x1.0, seed by seed | mean |", "|---|---:|---:|---:|---|---:|---|---:|"]
    for label, _, macs in nets:
        cells = [label, f"{macs / 1e6:.1f}M"]
        cells += [f"{size[(label, w)][0] / 1e6:.2f}M" if (label, w) in size else "" for w in WIDTHS]
        for w in WIDTHS:
            a = acc.get((label, w), {})
            cells += [" ".join(f"{a[s]:.4f}" for s in sorted(a)), f"{np.mean(list(a.values())):.4f}" if a else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", type=int, default=12)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--raw", type=Path, help="one JSON line per retraining; those already there are not rerun")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    nets = networks(a.networks)
    runs: list[dict[str, Any]] = []
    if a.raw and a.raw.exists():
        runs = [json.loads(l) for l in a.raw.read_text().splitlines() if l.strip()]
    have = {(r["label"], r["width"], r["seed"]) for r in runs}
    todo = [(label, g, w, s) for s in range(a.seeds) for label, g, _ in nets for w in WIDTHS[::-1]
            if (label, w, s) not in have]
    t0 = time.time()
    with ProcessPoolExecutor(a.workers) as pool:
        futures = [pool.submit(train, label, g, w, s, a.device) for label, g, w, s in todo]
        for k, f in enumerate(as_completed(futures), 1):
            r = f.result()
            runs.append(r)
            print(f"[{k}/{len(todo)}] {r['label']} x{r['width']:g} seed {r['seed']}: {r['accuracy']} "
                  f"({r['seconds']:.0f} s)", flush=True)
            if a.raw:
                with a.raw.open("a") as fh:
                    fh.write(json.dumps(r) + "\n")
    wall = time.time() - t0 + sum(r["seconds"] for r in runs if (r["label"], r["width"], r["seed"]) in have) / a.workers
    text = render(nets, runs, a.seeds, a.workers, wall, a.device)
    print(text)
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
