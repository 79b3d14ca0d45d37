"""The supernet measured: what training it costs, how well its inherited weights rank the fidelity benchmark's
networks, and three searches at three budgets from one trained supernet.

Run: python benchmarks/supernet.py [--epochs 8] [--eval 2,4,8] [--searches 300M,150M,75M] [--trials 100]
                                   [--no-distill] [--keep CKPT] [--out benchmarks/supernet.md]
     python benchmarks/supernet.py --checkpoint CKPT --recalibrate 2048     (rank a kept checkpoint again)
     python benchmarks/supernet.py --recipes --out benchmarks/supernet_recipes.md   (the recipes side by side)

1. **Training.** ``nas supernet train --space mobilenet --budget 300M --epochs E`` at its defaults otherwise
   (bundled Fashion-MNIST, its whole 10,000-image train split per epoch, width x0.35, batch 64, the sandwich rule
   with two sampled members and in-place distillation), in this process on one thread, in a temporary directory;
   the checkpoint is copied after each epoch named in ``--eval``.
2. **Ranking.** Every MobileNet network of ``benchmarks/fidelity.py`` (the space's two seeds repaired into 300M,
   then the random strategy's trials) is scored with each copied checkpoint as a search scores it (``score``:
   batch-norm statistics recalibrated on 512 training images, then the 5,000 validation images of the supernet's
   own split, which it never trained on). Kendall tau against the fidelity benchmark's reference (mean test
   accuracy of 6 retrainings by the verdict's protocol) with a 95% bootstrap interval, beside the standalone
   proxy and MACs alone on the same networks. The scores go into ``benchmarks/fidelity.jsonl`` as
   ``<network>-supernet-e<E>`` records, where ``fidelity.py --render-only`` shows them as rows of its table.
3. **Searches.** With the last checkpoint, ``nas search --estimator supernet --budget B --trials N --no-verdict``
   (evolution, seed 0, its defaults: 5 candidates audited, the top 3 re-scored) for each budget of
   ``--searches``, one after the other on a private local Ray cluster of 2 CPUs; wall time of the whole command
   (Ray's start included), the candidates it scored, the audit's tau and where the winner landed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))  # the private Ray cluster the tests use

import fidelity  # noqa: E402 - the networks, the reference and tau_ci are the fidelity benchmark's


def train(epochs: int, keep: set[int], work: Path, distill: bool = True) -> tuple[dict[int, Path], float,
                                                                                   list[dict[str, Any]]]:
    """Train the supernet; returns the checkpoint copied after each epoch in ``keep``, the training seconds and
    the per-epoch history."""
    import torch

    torch.set_num_threads(1)
    from nas.app import supernet as sn
    from nas.app.supernet import CHECKPOINT, TrainSettings, read

    out = work / "supernet"
    copies: dict[int, Path] = {}

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        m = re.match(r"\[epoch (\d+)/", line)
        if m and int(m[1]) in keep:
            copies[int(m[1])] = work / f"epoch-{m[1]}.pt"
            shutil.copy(out / CHECKPOINT, copies[int(m[1])])

    started = time.time()
    sn.train(TrainSettings(epochs=epochs, distill=distill), out, log=log)
    seconds = time.time() - started
    return copies, seconds, read(out / CHECKPOINT)["settings"]["history"]


def rank(copies: dict[int, Path], n: int, cache: Path, tag: str = "",
         recalibrate: int | None = None) -> dict[int, list[dict[str, Any]]]:
    """Score the fidelity benchmark's networks with each checkpoint; append the records to ``cache``."""
    import torch

    torch.set_num_threads(1)
    import nas
    from estimators.data import load_data, tensors
    from estimators.supernet import score
    from nas.app.supernet import load

    jobs = fidelity.mobilenet_jobs(n)
    out: dict[int, list[dict[str, Any]]] = {}
    for epoch, path in sorted(copies.items()):
        net, data = load(path)
        s = data["settings"]
        ds = load_data(s["dataset"], s["data_dir"], s["seed"])
        t = tensors(ds, net.resolution, 1.0, s["seed"], train_images=None)
        rows = []
        for job in jobs:
            r = score(net, nas.loads(job[1]), t, seed=0, **({"recalibrate": recalibrate} if recalibrate else {}))
            rec = {"key": fidelity.key(job) + f"-supernet{tag}-e{epoch}", "what": job[3], "epochs": epoch,
                   "status": "ok", "accuracy": r["accuracy"], "seconds": r["seconds"]}
            rows.append(rec)
            with open(cache, "a") as f:
                f.write(json.dumps(rec) + "\n")
        out[epoch] = rows
        print(f"scored {len(rows)} networks with the epoch-{epoch} checkpoint, "
              f"{np.mean([r['seconds'] for r in rows]):.2f} s each", file=sys.stderr, flush=True)
    return out


def search(ckpt: Path, budget: str, trials: int, work: Path, address: str) -> dict[str, Any]:
    """One ``nas search --estimator supernet`` run, timed whole; what its log says."""
    out = work / f"search-{budget}"
    home = work / "home"
    home.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "nas.app.cli", "search", "--estimator", "supernet", "--supernet", str(ckpt),
           "--budget", budget, "--trials", str(trials), "--no-verdict", "--address", address, "--out", str(out)]
    t = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HOME": str(home)}, timeout=1800)
    wall = time.time() - t
    log = p.stdout + p.stderr
    if p.returncode != 0:
        raise RuntimeError(f"search at {budget} failed: {log[-2000:]}")
    tau = re.search(r"supernet audit: Kendall tau ([+-][0-9.]+) \[([+-][0-9.]+), ([+-][0-9.]+)\]", log)
    best = re.search(r"funnel: trial (\d+) \(([^)]*) MACs\)", log)
    audit = json.loads((out / "audit.json").read_text())
    rows = list(csv_rows(out / "trials.csv"))
    scored = [r for r in rows if int(r["trial"]) >= 0 and r["status"] == "ok"]
    standalone = [r for r in rows if r["origin"].startswith("audit:")]
    return {"budget": budget, "wall": wall, "scored": len(scored), "standalone": len(standalone),
            "score_seconds": float(np.mean([float(r["seconds"]) for r in scored])) if scored else None,
            "tau": tau.groups() if tau else None, "best": best.groups() if best else None, "audit": audit,
            "log_tail": log.splitlines()[-12:]}


def csv_rows(path: Path) -> Any:
    import csv

    with open(path) as f:
        yield from csv.DictReader(f)


def render(a: argparse.Namespace, train_s: float, history: list[dict[str, Any]], ranked: dict[int, list],
           searches: list[dict[str, Any]]) -> str:
    cache = fidelity.load_cache(a.cache)
    jobs = fidelity.mobilenet_jobs(a.genomes)
    base = [cache.get(fidelity.key(j)) for j in jobs]
    refs = []
    for j, r in zip(jobs, base):
        vals = [r["ref0"], r["ref1"]] + [cache[fidelity.seed_key((*j, sd))]["accuracy"] for sd in range(2, 6)]
        refs.append(float(np.mean(vals)))
    per_epoch = np.mean([h["seconds"] for h in history])
    lines = ["# Supernet", "", f"`python benchmarks/supernet.py --epochs {a.epochs} --eval {a.eval} --searches "
             f"'{a.searches}' --trials {a.trials}" + (" --no-distill" if a.no_distill else "") + "`", "",
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; training on one thread in one "
             "process, searches on a private Ray cluster of 2 CPUs. See the script's docstring for the protocol.", "",
             f"## Training: {a.epochs} epochs, {train_s / 60:.1f} minutes ({per_epoch:.0f} s per epoch of 10,000 "
             "images), CPU", "", "| epoch | seconds | mean loss per step (4 members) | largest member's loss |",
             "|---:|---:|---:|---:|"]
    lines += [f"| {h['epoch']} | {h['seconds']:.0f} | {h['loss']:.3f} | {h['teacher']:.3f} |" for h in history]
    lines += ["", f"## Ranking the fidelity benchmark's {len(jobs)} MobileNet networks under 300M", "",
              "Reference: `benchmarks/fidelity.md`'s, the mean test accuracy of 6 retrainings by the verdict's "
              "protocol (3 epochs on all 15,000 training images, width x0.35).", "",
              "| ranking | Kendall tau | 95% interval | seconds per candidate | training |", "|---|---:|---|---:|---|"]
    for epoch, rows in sorted(ranked.items()):
        tau, lo, hi = fidelity.tau_ci([r["accuracy"] for r in rows], refs)
        spent = sum(h["seconds"] for h in history[:epoch])
        lines.append(f"| supernet after {epoch} epochs{', no distillation' if a.no_distill else ''}, "
                     f"inherited weights | {tau:+.3f} | [{lo:+.2f}, {hi:+.2f}] | "
                     f"{np.mean([r['seconds'] for r in rows]):.2f} | {spent / 60:.1f} min, once |")
    tau, lo, hi = fidelity.tau_ci([r["proxy2"] for r in base], refs)
    lines.append(f"| standalone proxy, epoch 2 (the proxy search's score) | {tau:+.3f} | [{lo:+.2f}, {hi:+.2f}] | "
                 f"{np.mean([r['proxy_seconds'] for r in base]):.2f} | none |")
    tau, lo, hi = fidelity.tau_ci([r["macs"] for r in base], refs)
    lines.append(f"| MACs only | {tau:+.3f} | [{lo:+.2f}, {hi:+.2f}] | - | none |")
    if searches:
        lines += ["", "## Three searches from the last checkpoint", "",
                  "| budget | wall seconds (Ray's start included) | candidates scored | seconds per score | "
                  "trained standalone | audit: Kendall tau [95%] | winner |", "|---|---:|---:|---:|---:|---|---|"]
        for s in searches:
            tau = f"{s['tau'][0]} [{s['tau'][1]}, {s['tau'][2]}]" if s["tau"] else "-"
            best = f"trial {s['best'][0]}, {s['best'][1]} MACs" if s["best"] else "-"
            lines.append(f"| {s['budget']} | {s['wall']:.0f} | {s['scored']} | {s['score_seconds']:.2f} | "
                         f"{s['standalone']} | {tau} | {best} |")
    return "\n".join(lines) + "\n"


def render_recal(a: argparse.Namespace, ranked: dict[int, list]) -> str:
    """One row per checkpoint: the tau when its norms are recalibrated on ``--recalibrate`` images."""
    cache = fidelity.load_cache(a.cache)
    jobs = fidelity.mobilenet_jobs(a.genomes)
    refs = [float(np.mean([cache[fidelity.key(j)]["ref0"], cache[fidelity.key(j)]["ref1"]]
                          + [cache[fidelity.seed_key((*j, sd))]["accuracy"] for sd in range(2, 6)])) for j in jobs]
    out = []
    for epoch, rows in sorted(ranked.items()):
        tau, lo, hi = fidelity.tau_ci([r["accuracy"] for r in rows], refs)
        out.append(f"| supernet after {epoch} epochs, norms recalibrated on {a.recalibrate or 512} images | "
                   f"{tau:+.3f} | [{lo:+.2f}, {hi:+.2f}] | {np.mean([r['seconds'] for r in rows]):.2f} |")
    return "\n".join(out)


RECIPES = [("", 8, "sandwich rule + in-place distillation, 8 epochs (the default), BN recalibrated on 512 images",
             "supernet.md"),
            ("-nodistill", 8, "sandwich rule without distillation, 8 epochs", "supernet_nodistill.md"),
            ("", 12, "the default recipe on a 16-epoch schedule, after 12 epochs", "supernet_e16.md"),
            ("", 16, "the default recipe on a 16-epoch schedule, after 16 epochs", "supernet_e16.md"),
            ("-recal2048", 8, "the default's 8-epoch weights, BN recalibrated on 2,048 images", "--recalibrate")]
"""The recipes compared (cache tag, epochs, what, where its training is tabled)."""


def render_recipes(a: argparse.Namespace) -> str:
    """The recipes side by side on the fidelity benchmark's networks, from the cached scores, with paired
    differences in tau against the default (bootstrap over the networks)."""
    from scipy.stats import kendalltau

    cache = fidelity.load_cache(a.cache)
    jobs = fidelity.mobilenet_jobs(a.genomes)
    refs = np.array([float(np.mean([cache[fidelity.key(j)]["ref0"], cache[fidelity.key(j)]["ref1"]]
                                   + [cache[fidelity.seed_key((*j, sd))]["accuracy"] for sd in range(2, 6)]))
                     for j in jobs])
    scores = {}
    for tag, epochs, what, where in RECIPES:
        recs = [cache.get(fidelity.key(j) + f"-supernet{tag}-e{epochs}") for j in jobs]
        if all(recs):
            scores[(tag, epochs)] = (np.array([r["accuracy"] for r in recs]), what, where,
                                     float(np.mean([r["seconds"] for r in recs])))
    base = scores.get(("", 8))
    rng = np.random.default_rng(0)
    boots = [rng.integers(len(refs), size=len(refs)) for _ in range(2000)]
    lines = ["# Supernet recipes", "", "`python benchmarks/supernet.py --recipes` (from the scores cached in "
             "`benchmarks/fidelity.jsonl` by the runs named in each row)", "",
             f"Kendall tau against the 6-seed reference on the fidelity benchmark's {len(refs)} MobileNet networks "
             "under 300M, with 95% bootstrap intervals over the networks; the difference to the default is paired "
             "(the same resampled networks). CPU, 2 cores; the scoring cost is per candidate.", "",
             "| recipe | Kendall tau [95%] | minus the default [95%] | subnets' accuracy, lowest to highest | "
             "seconds per candidate | trained in |", "|---|---|---|---|---:|---|"]
    for (tag, epochs), (x, what, where, sec) in scores.items():
        tau, lo, hi = fidelity.tau_ci(list(x), list(refs))
        diff = "-"
        if base is not None and (tag, epochs) != ("", 8):
            d = [kendalltau(x[i], refs[i]).statistic - kendalltau(base[0][i], refs[i]).statistic for i in boots]
            d0 = kendalltau(x, refs).statistic - kendalltau(base[0], refs).statistic
            diff = f"{d0:+.3f} [{np.nanpercentile(d, 2.5):+.2f}, {np.nanpercentile(d, 97.5):+.2f}]"
        lines.append(f"| {what} | {tau:+.3f} [{lo:+.2f}, {hi:+.2f}] | {diff} | {x.min():.3f} to {x.max():.3f} | "
                     f"{sec:.2f} | {where} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--eval", default="2,4,8", help="epochs whose checkpoint ranks the networks")
    ap.add_argument("--genomes", type=int, default=38, help="the fidelity benchmark's --genomes")
    ap.add_argument("--searches", default="300M,150M,75M")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / "fidelity.jsonl")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--no-distill", action="store_true", help="train with --no-distill (its scores are cached "
                    "apart, as -supernet-nodistill-e<E>)")
    ap.add_argument("--keep", type=Path, help="copy the last checkpoint here (supernet_funnel.py reads it)")
    ap.add_argument("--checkpoint", type=Path, help="rank with this checkpoint (one --keep wrote) instead of "
                    "training; with --recalibrate N, recalibrating the norms on N images (the search's default: "
                    "512), cached as -supernet-recal<N>-e<E>")
    ap.add_argument("--recalibrate", type=int, help="images for batch-norm recalibration (with --checkpoint)")
    ap.add_argument("--recipes", action="store_true", help="print the recipes' table from the cached scores")
    a = ap.parse_args()
    keep = {int(e) for e in a.eval.split(",")} | {a.epochs}
    if a.recipes:
        text = render_recipes(a)
        print(text)
        if a.out:
            a.out.write_text(text)
        return
    if a.checkpoint:
        import torch

        epoch = torch.load(a.checkpoint, weights_only=True, map_location="cpu")["epoch"]
        tag = f"-recal{a.recalibrate}" if a.recalibrate else ""
        ranked = rank({epoch: a.checkpoint}, a.genomes, a.cache, tag, a.recalibrate)
        print(render_recal(a, ranked))
        return
    work = Path(tempfile.mkdtemp(prefix="nas-supernet-bench-"))
    try:
        copies, train_s, history = train(a.epochs, keep, work, distill=not a.no_distill)
        if a.keep:
            shutil.copy(copies[a.epochs], a.keep)
        ranked = rank(copies, a.genomes, a.cache, "-nodistill" if a.no_distill else "")
        searches = []
        if a.searches:
            from privateray import private_cluster

            with private_cluster(num_cpus=2) as c:
                for budget in a.searches.split(","):
                    searches.append(search(copies[a.epochs], budget, a.trials, work, c["address"]))
                    print(f"search at {budget}: {searches[-1]['wall']:.0f} s", file=sys.stderr, flush=True)
        text = render(a, train_s, history, ranked, searches)
        print(text)
        if a.out:
            a.out.write_text(text)
            (a.out.with_suffix(".json")).write_text(json.dumps({"history": history, "searches": searches},
                                                               indent=1) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
