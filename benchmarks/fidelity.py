"""How well each cheap estimator ranks genomes as a longer training does (Kendall tau, Spearman rho), and its cost.

Run: python benchmarks/fidelity.py [--genomes 24] [--data digits] [--width 0.25] [--ref-epochs 8] [--ref-seeds 2]
                                   [--threads 2] [--out benchmarks/fidelity.md]
Target: the default proxy (proxy_train, 1 epoch) reaches Kendall tau >= 0.6 in <= 60 s per candidate on 2 cores.

The genomes are the ResNet and MobileNet seeds that train at proxy size plus random variations of them (2 to 4
edits each: a stage's depth, a block's width, a depthwise kernel, an expansion ratio), all trained at the same
width multiplier. Every estimator scores every genome; the reference is the mean accuracy of ``--ref-seeds``
longer trainings (``--ref-epochs`` each) on the same data and validation split, with seeds the estimators do not
use. Two reference runs of one genome disagree too: their agreement with each other is the noise ceiling that
no estimator can be expected to beat. Seconds are wall-clock per candidate; CPU seconds count every thread.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
from scipy.stats import kendalltau, spearmanr

import nas
from estimators import ZERO_COST, load_data, proxy_genome, proxy_train, zero_cost

SEEDS = ("resnet18", "preact_resnet18", "resnet34", "mobilenet_v1", "mobilenet_v2")
"""The seeds the population starts from: residual and mobile networks that train at a reduced width."""

_EDITABLE = ("basic", "bottleneck", "inverted", "dwsep")
DEFAULT = "proxy_train, 1 epoch (default)"
FOUR = "proxy_train, 4 epochs (nas search: up to 4)"


def vary(g: nas.Genome, rng: random.Random, edits: int) -> tuple[nas.Genome, str]:
    """``g`` with ``edits`` random edits of stage depth, width, kernel or expansion, and their description."""
    d = g.to_dict()
    sites = [(s, b) for s, st in enumerate(d["stages"]) for b, rec in enumerate(st["blocks"])
             if rec["type"] in _EDITABLE]
    done: list[str] = []
    for _ in range(edits):
        s, b = rng.choice(sites)
        rec = d["stages"][s]["blocks"][b]
        kinds = ["depth", "width"] + (["kernel"] if rec["type"] in ("inverted", "dwsep") else []) + \
            (["expansion"] if rec["type"] == "inverted" else [])
        kind = rng.choice(kinds)
        where = f"s{s}" if len(d["stages"][s]["blocks"]) == 1 else f"s{s}b{b}"
        if kind == "depth":
            rec["repeat"] = max(1, rec.get("repeat", 1) + rng.choice([-1, 1]))
            done.append(f"{where} depth {rec['repeat']}")
        elif kind == "width":
            factor = rng.choice([0.5, 0.75, 1.5, 2.0])
            rec["c"] = nas.make_divisible(rec["c"] * factor)
            done.append(f"{where} width x{factor:g}")
        elif kind == "kernel":
            rec["k"] = rng.choice([k for k in (3, 5, 7) if k != rec.get("k", 3)])
            done.append(f"{where} k{rec['k']}")
        else:
            rec["e"] = rng.choice([e for e in (2, 3, 4, 6) if e != rec.get("e", 6)])
            done.append(f"{where} e{rec['e']}")
    return nas.Genome.from_dict(d), ", ".join(done)


def population(n: int, seed: int, data_shape: tuple[int, int, int], classes: int,
               width: float) -> list[tuple[str, str, nas.Genome]]:
    """The seeds, then random variations of them (round robin) until there are ``n`` genomes."""
    rng = random.Random(seed)
    out = [(name, "seed", nas.seed(name)) for name in SEEDS][:n]
    seen = {nas.dumps(g) for _, _, g in out}
    for i in range(200 * n):
        if len(out) >= n:
            break
        base = SEEDS[i % len(SEEDS)]
        try:
            g, what = vary(nas.seed(base), rng, rng.randint(2, 4))
            proxy_genome(g, data_shape, classes, width=width)  # must train at proxy size
        except nas.NasError:
            continue
        if nas.dumps(g) not in seen:
            seen.add(nas.dumps(g))
            out.append((f"{base}~{len(out)}", what, g))
    return out


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``, its wall seconds and its CPU seconds (all threads of this process)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genomes", type=int, default=24, help="population size (default 24)")
    ap.add_argument("--data", default="digits", help="data set (default digits, the proxy's default)")
    ap.add_argument("--width", type=float, default=0.25, help="width multiplier for every genome (default 0.25)")
    ap.add_argument("--resolution", type=int, help="proxy resolution (default: proxy_train's choice)")
    ap.add_argument("--ref-epochs", type=int, default=8, help="epochs of each reference training (default 8)")
    ap.add_argument("--ref-seeds", type=int, default=2, help="reference trainings per genome, averaged (default 2)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the population, the split and the estimators")
    ap.add_argument("--out", type=Path, help="also write the tables as Markdown to this file")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    started = time.perf_counter()
    ds = load_data(a.data, seed=a.seed)
    pop = population(a.genomes, a.seed, ds.shape, ds.classes, a.width)
    knobs = {"data": a.data, "width": a.width, "resolution": a.resolution}
    cheap = {"seed": a.seed, **knobs}
    ests: dict[str, Callable[[nas.Genome], Any]] = {
        f"zero-cost {name}": (lambda g, name=name: zero_cost(g, name, **cheap)) for name in ZERO_COST}
    ests[DEFAULT] = lambda g: proxy_train(g, epochs=1, **cheap)
    ests["proxy_train, 3 epochs"] = lambda g: proxy_train(g, epochs=3, **cheap)
    ests[FOUR] = lambda g: proxy_train(g, epochs=4, **cheap)
    # The reference trains with other seeds than the estimators (on the same split), so that no estimator
    # shares its initialization or batch order.
    for k in range(a.ref_seeds):
        ests[f"reference seed {a.seed + 1 + k}"] = (lambda g, k=k: proxy_train(
            g, epochs=a.ref_epochs, seed=a.seed + 1 + k, split_seed=a.seed, **knobs))
    zero_cost(pop[0][2], "synflow", **cheap)  # warm the caches: data and split load once, outside every timing

    rows = []
    for i, (name, what, g) in enumerate(pop):
        row: dict[str, Any] = {"name": name, "edits": what, "scores": {}, "wall": {}, "cpu": {}}
        for est, fn in ests.items():
            out, wall, cpu = timed(lambda: fn(g))
            if isinstance(out, dict):
                if out["status"] != "ok":
                    print(f"  {name}: {est} failed: {out['error']}", file=sys.stderr)
                row.update(macs=out["proxy_macs"], params=out["proxy_params"], input=out["input"])
                out = out["accuracy"] if out["status"] == "ok" else 0.0
            row["scores"][est], row["wall"][est], row["cpu"][est] = out, wall, cpu
        refs = [v for k, v in row["scores"].items() if k.startswith("reference")]
        row["reference"] = statistics.fmean(refs)
        rows.append(row)
        s = row["scores"]
        print(f"[{i + 1}/{len(pop)}] {name} ({what}): reference {row['reference']:.3f} "
              f"({', '.join(f'{r:.3f}' for r in refs)}), 1 epoch {s[DEFAULT]:.3f} ({row['wall'][DEFAULT]:.1f} s), "
              f"3 epochs {s['proxy_train, 3 epochs']:.3f}, 4 epochs {s[FOUR]:.3f}", file=sys.stderr, flush=True)

    text = render(rows, list(ests), a, time.perf_counter() - started)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")


def render(rows: list[dict], names: list[str], a: argparse.Namespace, total: float) -> str:
    """The Markdown document: the agreement table, the per-genome table and the machine."""
    ref = [r["reference"] for r in rows]
    refs = [n for n in names if n.startswith("reference")]
    summary = []
    for est in [n for n in names if not n.startswith("reference")] + ["baseline: proxy params", "baseline: proxy MACs"]:
        if est.startswith("baseline"):
            xs = [r["params" if "params" in est else "macs"] for r in rows]
            wall = cpu = None
        else:
            xs = [r["scores"][est] for r in rows]
            wall = statistics.fmean(r["wall"][est] for r in rows)
            cpu = statistics.fmean(r["cpu"][est] for r in rows)
        summary.append((est, kendalltau(xs, ref).statistic, spearmanr(xs, ref).statistic, wall, cpu))
    ref_wall = statistics.fmean(sum(r["wall"][n] for n in refs) for r in rows)
    ref_cpu = statistics.fmean(sum(r["cpu"][n] for n in refs) for r in rows)
    accs = sorted(ref)
    default = next(s for s in summary if s[0] == DEFAULT)
    met = default[1] >= 0.6 and default[3] <= 60

    def sec(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}" if v < 10 else f"{v:.1f}"

    lines = [
        "# Estimator fidelity", "",
        f"`python benchmarks/fidelity.py --genomes {a.genomes} --data {a.data} --width {a.width:g} --ref-epochs "
        f"{a.ref_epochs} --ref-seeds {a.ref_seeds} --threads {a.threads}"
        f"{' --resolution ' + str(a.resolution) if a.resolution else ''}{' --out ' + str(a.out) if a.out else ''}`",
        "", __doc__.split("\n\n", 2)[2].strip().replace("\n", " "), "",
        f"Reference: the mean validation accuracy of {a.ref_seeds} trainings of {a.ref_epochs} epochs (seeds "
        f"{', '.join(n.split()[-1] for n in refs)}, split of seed {a.seed}), {ref_wall:.1f} s per candidate "
        f"({ref_cpu:.1f} CPU s); it ranges from {accs[0]:.3f} to {accs[-1]:.3f} (median "
        f"{statistics.median(accs):.3f}).", "",
        "| estimator | Kendall tau | Spearman rho | seconds per candidate | CPU seconds per candidate |",
        "|---|---:|---:|---:|---:|",
    ]
    for est, tau, rho, wall, cpu in summary:
        lines.append(f"| {est} | {tau:.3f} | {rho:.3f} | {sec(wall)} | {sec(cpu)} |")
    if len(refs) >= 2:
        x, y = ([r["scores"][n] for r in rows] for n in refs[:2])
        lines.append(f"| noise ceiling: {refs[0]} against {refs[1]} | {kendalltau(x, y).statistic:.3f} | "
                     f"{spearmanr(x, y).statistic:.3f} | {sec(ref_wall / len(refs))} | {sec(ref_cpu / len(refs))} |")
    lines += [
        "", f"Target (default proxy: Kendall tau >= 0.6 in <= 60 s per candidate): "
            f"{'met' if met else 'not met'} (tau {default[1]:.3f}, {default[3]:.1f} s per candidate).", "",
        "| genome | edits | proxy input | proxy MACs | reference | 1 epoch | 3 epochs | 4 epochs | "
        + " | ".join(ZERO_COST) + " |",
        "|---|---|---|---:|---:|---:|---:|---:|" + "---:|" * len(ZERO_COST),
    ]
    for r in rows:
        s = r["scores"]
        zc = " | ".join(f"{s['zero-cost ' + n]:.4g}" for n in ZERO_COST)
        lines.append(f"| {r['name']} | {r['edits']} | {'x'.join(map(str, r['input']))} | {r['macs'] / 1e6:.2f}M | "
                     f"{r['reference']:.3f} | {s[DEFAULT]:.3f} | {s['proxy_train, 3 epochs']:.3f} | {s[FOUR]:.3f} | {zc} |")
    lines += ["", f"{platform.machine()}, {a.threads} torch threads, torch {torch.__version__}, Python "
                  f"{platform.python_version()}; data {a.data}, width x{a.width:g}, seed {a.seed}; CPU only; "
                  f"{total / 60:.1f} minutes in all."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
