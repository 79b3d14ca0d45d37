"""How well the search's own scores rank networks of one space as the verdict does, with bootstrap intervals.

Run: python benchmarks/fidelity.py [--genomes 24] [--cells 30] [--workers 2] [--ref-seeds 2]
                                   [--out benchmarks/fidelity.md]

**MobileNet table.** The first ``--genomes`` candidates that ``nas search --strategy random --seed 0`` proposes
in the mobilenet space under 300M MACs, plus the space's two seeds (repaired into the budget, as the verdict
does). Every network is scored by what ``nas search`` uses, at its default settings: proxy training on
Fashion-MNIST (5,000 training images per epoch, width x0.35, batch 64, strides dropped below 4x4 maps; the score
after epoch 1, where ASHA decides, and after epoch 2, the search's score of a completed trial), with the
learning-rate cycle restarting at ASHA's rung (the search's schedule) and, side by side, with one cycle over both
epochs (the schedule before rungs restarted it); by each zero-cost proxy on the same proxy network; and by its
MACs and its parameters alone. The reference is the verdict's protocol: 3 epochs on all 15,000 training images,
scored on the 5,000 held-out test images, with the verdict's 2 seeds, or grown to ``--ref-seeds`` seeds (0, 1, ...)
when 2 cannot rank the networks. Kendall tau of each ranking against the reference's mean has a 95% bootstrap
interval (genomes resampled 2,000 times), and so has the tau against the reference's seeds other than 0 (the
proxy's runs use seed 0 and so start from the weights of the reference's seed 0: shared noise). The noise ceiling
is the reference against itself: seed 0 against seed 1, or with more seeds the mean of the first half against
the mean of the second. Beside it, the reference's noise budget: its seed noise against the spread of the
networks, and what it would take to agree with itself at 0.6.

Beside them, what the trainer already sees: the sum of the proxy's per-epoch mean training losses (TSE, Ru et
al., "Speedy Performance Estimation for Neural Architecture Search", NeurIPS 2021), at epoch 1 and over both
epochs, lower ranking higher: free in a search, since the worker records it anyway.

**NAS-Bench-201 table.** ``--cells`` cells sampled from the cell space, proxy-trained the same way (the cell
space's floor is 2x2), against NAS-Bench-201's 200-epoch CIFAR-10 test accuracies (Dong and Yang, ICLR 2020;
``../shared/nb201``): a ground truth no proxy here trained. Over all sampled cells and over those in the table's
top quarter.

Every network's scores are appended to ``--cache`` (JSON lines, default ``benchmarks/fidelity.jsonl``, committed
as the table's raw data) as they land; a rerun scores only what is missing. ``benchmarks/early_stopping.py``
reads the same file for the reference rank of the network each stopping rule returns.

Targets (issue 11): reference ceiling >= 0.6; the default proxy >= 0.7 x the ceiling and >= MACs-only + 0.15;
<= 60 s per candidate on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NB201 = ROOT.parent / "shared" / "nb201" / "cifar10-200epochs.csv"
SEARCH = {"width": 0.35, "train_images": 5000, "batch_size": 64}
NB201_NAMES = {"none": "none", "skip": "skip_connect", "conv1x1": "nor_conv_1x1", "conv3x3": "nor_conv_3x3",
       "avgpool3x3": "avg_pool_3x3"}
ZC = ("synflow", "naswot", "grad_norm", "snip")
LAYOUT = "channels_last"
"""proxy_train's tensor layout on CPU, part of each cache key: scores from another layout are not mixed in."""


def _score(job: tuple[str, str, int, str]) -> dict[str, Any]:
    """One genome's scores (runs in a worker process with one thread)."""
    import torch

    torch.set_num_threads(1)
    import nas
    from estimators import proxy_train, zero_cost
    from estimators.data import bundled_fashion

    kind, yaml_text, floor, what = job
    g = nas.loads(yaml_text)
    data = {"data": "fashion", "data_dir": bundled_fashion()}
    out: dict[str, Any] = {"what": what, "macs": nas.cost(g).macs, "params": nas.cost(g).params}
    t = time.perf_counter()
    r = proxy_train(g, epochs=2, seed=0, floor=floor, restarts=[1], **SEARCH, **data)
    out["proxy_seconds"] = time.perf_counter() - t
    out["status"] = r["status"]
    if r["status"] != "ok":
        out["error"] = r.get("error")
        return out
    out["proxy1"], out["proxy2"] = r["history"][0]["accuracy"], r["accuracy"]
    out["proxy_macs"], out["input"] = r["proxy_macs"], r["input"]
    if kind == "mobilenet":
        t = time.perf_counter()
        one = proxy_train(g, epochs=2, seed=0, floor=floor, **SEARCH, **data)
        out["onecycle_seconds"] = time.perf_counter() - t
        out["onecycle1"], out["onecycle2"] = one["history"][0]["accuracy"], one["accuracy"]
    for name in ZC:
        t = time.perf_counter()
        out[name] = zero_cost(g, name, width=SEARCH["width"], floor=floor, **data)
        out[f"{name}_seconds"] = time.perf_counter() - t
    if kind == "mobilenet":
        for seed in (0, 1):
            t = time.perf_counter()
            ref = proxy_train(g, epochs=3, seed=seed, floor=floor, final=True, width=SEARCH["width"],
                              batch_size=SEARCH["batch_size"], **data)
            out[f"ref{seed}"] = ref["accuracy"]
            out[f"ref{seed}_seconds"] = time.perf_counter() - t
    return out


def _seed(job: tuple[str, str, int, str, int]) -> dict[str, Any]:
    """One more seed of a network's reference (the verdict's protocol: 3 epochs, all training images, test split)."""
    import torch

    torch.set_num_threads(1)
    import nas
    from estimators import proxy_train
    from estimators.data import bundled_fashion

    _, yaml_text, floor, what, seed = job
    t = time.perf_counter()
    ref = proxy_train(nas.loads(yaml_text), epochs=3, seed=seed, floor=floor, final=True, width=SEARCH["width"],
                      batch_size=SEARCH["batch_size"], data="fashion", data_dir=bundled_fashion())
    return {"what": what, "seed": seed, "status": ref["status"], "error": ref.get("error"),
            "accuracy": ref["accuracy"], "seconds": time.perf_counter() - t}


def _tse(job: tuple[str, str, int, str]) -> dict[str, Any]:
    """What the trainer already sees: the proxy run again at the search's settings, keeping each epoch's mean
    training loss (their sum is the training speed estimate, TSE, of Ru et al., NeurIPS 2021)."""
    import torch

    torch.set_num_threads(1)
    import nas
    from estimators import proxy_train
    from estimators.data import bundled_fashion

    _, yaml_text, floor, what = job
    t = time.perf_counter()
    r = proxy_train(nas.loads(yaml_text), epochs=2, seed=0, floor=floor, restarts=[1], data="fashion",
                    data_dir=bundled_fashion(), **SEARCH)
    return {"what": what, "status": r["status"], "error": r.get("error"), "accuracy": r["accuracy"],
            "train_losses": [h["train_loss"] for h in r["history"]], "seconds": time.perf_counter() - t}


def tau_ci(x: list[float], y: list[float], n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Kendall tau and its 95% bootstrap interval over resampled genomes."""
    from scipy.stats import kendalltau

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    tau = float(kendalltau(x, y).statistic)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        i = rng.integers(0, len(x), len(x))
        if len(set(i)) > 2:
            v = kendalltau(x[i], y[i]).statistic
            if v is not None and math.isfinite(v):
                boots.append(v)
    lo, hi = np.percentile(boots, [2.5, 97.5]) if boots else (math.nan, math.nan)
    return tau, float(lo), float(hi)


def mobilenet_jobs(n: int) -> list[tuple[str, str, int, str]]:
    """The space's seeds (repaired) and the first ``n`` candidates of the random strategy with seed 0, which
    are the trials of ``nas search --space mobilenet --budget 300M --strategy random --seed 0``."""
    import nas
    import search_spaces
    import strategies

    space = search_spaces.get("mobilenet")
    jobs = []
    for name in space.seeds:
        config = space.repair(space.encode(nas.seed(name)), np.random.default_rng(0), "300M")
        jobs.append(("mobilenet", nas.dumps(space.decode(config)), space.proxy_map,
                     f"{name} (repaired, {space.cost(config)[0] / 1e6:.0f}M)"))
    strategy = strategies.get("random")(space, "300M", seed=0)
    for _ in range(n):
        c = strategy.ask()
        jobs.append(("mobilenet", nas.dumps(c.genome), space.proxy_map, f"trial {c.id}"))
    return jobs


def cell_jobs(n: int) -> tuple[list[tuple[str, str, int, str]], dict[str, float]]:
    import nas
    import search_spaces

    truth = {r["arch"]: float(r["cifar10_test_accuracy"]) for r in csv.DictReader(open(NB201))}
    space = search_spaces.get("cell")
    rng = np.random.default_rng(12)
    jobs = []
    for i in range(n):
        config = space.sample_config(rng)
        arch = "|" + "|+|".join("|".join(f"{NB201_NAMES[config[f'e{a}{b}']]}~{a}" for a in range(b))
                                for b in (1, 2, 3)) + "|"
        jobs.append(("cell", nas.dumps(space.decode(config)), space.proxy_map, arch))
    return jobs, truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--genomes", type=int, default=24)
    ap.add_argument("--cells", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / "fidelity.jsonl")
    ap.add_argument("--ref-seeds", type=int, default=2,
                    help="seeds of the reference per network (default 2, the verdict's); more make a reference that "
                         "agrees with itself better, at about 70 s per seed and network")
    ap.add_argument("--render-only", action="store_true",
                    help="write the tables from what --cache holds, scoring nothing (a partial run says so)")
    a = ap.parse_args()
    start = time.time()
    mjobs = mobilenet_jobs(a.genomes) if a.genomes else []
    cjobs, truth = cell_jobs(a.cells) if a.cells else ([], {})
    jobs = mjobs + cjobs
    cached = load_cache(a.cache)
    todo = [] if a.render_only else [j for j in jobs if key(j) not in cached]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} networks already in {a.cache}", file=sys.stderr, flush=True)
    run_jobs(_score, todo, key, cached, a, start, lambda r: f"{r['what']}: {r.get('proxy2')} ref "
                                                             f"{r.get('ref0')}/{r.get('ref1')}")
    sjobs = [(*j, sd) for sd in range(2, a.ref_seeds) for j in mjobs]
    stodo = [] if a.render_only else [j for j in sjobs if seed_key(j) not in cached]
    run_jobs(_seed, stodo, seed_key, cached, a, start,
             lambda r: f"seed: {r['what']}, seed {r['seed']}: {r.get('accuracy')}")
    tjobs = [j for j in mjobs if not a.render_only and tse_key(j) not in cached]
    run_jobs(_tse, tjobs, tse_key, cached, a, start, lambda r: f"tse: {r['what']}: {r.get('train_losses')}")
    results = [cached.get(key(j)) for j in jobs]
    for j, r in zip(mjobs, results):
        x = cached.get(tse_key(j))
        if r and x and x["status"] == "ok":
            r["train_losses"] = x["train_losses"]
        if r:  # the supernet's scores, written by benchmarks/supernet.py: {epochs: (accuracy, seconds)}
            r["supernet"] = {v["epochs"]: (v["accuracy"], v["seconds"]) for k, v in cached.items()
                             if k.startswith(key(j) + "-supernet-e")}
    for j, r in zip(mjobs, results):  # the reference's seeds in order, as far as they have landed
        if r and r["status"] == "ok":
            r["refs"], r["refs_seconds"] = [r["ref0"], r["ref1"]], r["ref0_seconds"] + r["ref1_seconds"]
            for sd in range(2, a.ref_seeds):
                x = cached.get(seed_key((*j, sd)))
                if not (x and x["status"] == "ok"):
                    break
                r["refs"].append(x["accuracy"])
                r["refs_seconds"] += x["seconds"]
    m = [r for r in results[: len(mjobs)] if r and r["status"] == "ok"]
    c = [r for r in results[len(mjobs):] if r and r["status"] == "ok"]
    results = [r for r in results if r]
    total = sum(r.get("proxy_seconds", 0) + r.get("onecycle_seconds", 0) + r.get("refs_seconds", 0)
                + sum(r.get(f"{z}_seconds", 0) for z in ZC) for r in results) / a.workers
    text = render(m, c, truth, a, total, len(mjobs), len(cjobs))
    print(text)
    if a.out:
        a.out.write_text(text)


def run_jobs(fn: Any, todo: list[tuple], keyfn: Any, cached: dict[str, dict[str, Any]], a: argparse.Namespace,
             start: float, say: Any) -> None:
    """Score ``todo`` with ``fn`` on ``a.workers`` processes, appending each result to the cache as it lands."""
    with ProcessPoolExecutor(a.workers) as pool:
        for i, (j, r) in enumerate(zip(todo, pool.map(fn, todo))):
            r["key"] = keyfn(j)
            cached[r["key"]] = r
            with open(a.cache, "a") as f:
                f.write(json.dumps(r) + "\n")
            print(f"[{i + 1}/{len(todo)}] {say(r)} ({(time.time() - start) / 60:.1f} min)", file=sys.stderr,
                  flush=True)


def key(job: tuple[str, str, int, str]) -> str:
    """A network's cache key: what it is and exactly how it is scored."""
    return hashlib.sha256(json.dumps([*job, SEARCH, ZC, LAYOUT]).encode()).hexdigest()[:16]


def tse_key(job: tuple[str, str, int, str]) -> str:
    """The cache key of a network's training losses at the search's settings."""
    return key(job) + "-tse"


def seed_key(job: tuple[str, str, int, str, int]) -> str:
    """The cache key of one more seed of a network's reference."""
    return key(job[:4]) + f"-ref{job[4]}"


def load_cache(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                out[r["key"]] = r
    return out


def noise_budget(m: list[dict]) -> list[str]:
    """Why the reference agrees with itself as much as it does: its seed noise against the spread of the networks.

    With a network's reference accuracy = its own mean + seed noise, one seed's reliability is rho = between /
    (between + seed) (variances), a mean of h seeds has rho_h = h rho / (1 + (h - 1) rho) (Spearman-Brown), and two
    such means are expected to agree at Kendall tau (2 / pi) asin(rho_h) (normal scores)."""
    refs = np.array([r["refs"] for r in m])
    k = refs.shape[1]
    seed_var = float(np.mean(np.var(refs, axis=1, ddof=1)))
    between = max(0.0, float(np.var(refs.mean(axis=1), ddof=1)) - seed_var / k)
    rho = between / (between + seed_var) if between + seed_var > 0 else 0.0

    def agree(h: int) -> float:
        return 2 / math.pi * math.asin(h * rho / (1 + (h - 1) * rho))

    need = math.sin(0.6 * math.pi / 2)  # the reliability whose expected tau is 0.6
    h = need * (1 - rho) / (rho * (1 - need)) if rho > 0 else math.inf
    return [f"Noise budget of the reference ({k} seeds per network): one retraining's seed noise has a standard "
            f"deviation of {100 * math.sqrt(seed_var):.2f} points, the networks' own reference accuracies spread with "
            f"{100 * math.sqrt(between):.2f} points; so one seed's reliability is {rho:.2f}: one seed against another "
            f"is expected to agree at tau {agree(1):+.2f}, a mean of 3 seeds against another at {agree(3):+.2f}. "
            "Agreement of 0.6 needs a mean of "
            + (f"{math.ceil(h)} seed(s) against another such mean" if math.isfinite(h) else "any number of seeds")
            + f" at this protocol, or seed noise cut to {100 * math.sqrt(between * (1 - need) / need):.2f} points "
            "(longer training, more test images) unless the spread grows."]


def schedules(m: list[dict], ref: list[float], n_boot: int = 2000) -> list[str]:
    """The restarted schedule against one cycle: the difference of their taus, with a paired bootstrap interval
    (the same resampled networks for both)."""
    from scipy.stats import kendalltau

    y = np.asarray(ref)
    out = []
    for e in (1, 2):
        a, b = np.array([r[f"proxy{e}"] for r in m]), np.array([r[f"onecycle{e}"] for r in m])
        rng = np.random.default_rng(0)
        boots = []
        for _ in range(n_boot):
            i = rng.integers(0, len(y), len(y))
            d = kendalltau(a[i], y[i]).statistic - kendalltau(b[i], y[i]).statistic
            if d is not None and math.isfinite(d):
                boots.append(d)
        lo, hi = np.percentile(boots, [2.5, 97.5])
        diff = kendalltau(a, y).statistic - kendalltau(b, y).statistic
        out.append((f"epoch {e} {diff:+.3f} [{lo:+.2f}, {hi:+.2f}]", lo <= 0 <= hi))
    apart = [t for t, holds in out if not holds]
    return ["Restarted schedule (the search's) minus one cycle, difference of their taus against the reference with a "
            "paired bootstrap 95% interval: " + "; ".join(t for t, _ in out) + ". "
            + ("Both intervals hold zero: on these networks the two schedules cannot be told apart." if not apart else
               f"Told apart at {', '.join(t.split(' [')[0] for t in apart)}.")]


def network_table(m: list[dict]) -> list[str]:
    """One row per mobilenet network: its proxy scores under both schedules and its reference seeds."""
    lines = ["| network | MACs | proxy MACs | epoch 1 | epoch 2 | one cycle: epoch 1 | epoch 2 | reference, seed by "
             "seed | mean |", "|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in m:
        lines.append(f"| {r['what']} | {r['macs'] / 1e6:.0f}M | {r['proxy_macs'] / 1e6:.2f}M | {r['proxy1']:.4f} | "
                     f"{r['proxy2']:.4f} | {r['onecycle1']:.4f} | {r['onecycle2']:.4f} | "
                     f"{' '.join(f'{x:.4f}' for x in r['refs'])} | {np.mean(r['refs']):.4f} |")
    return [*lines, ""]


def render(m: list[dict], c: list[dict], truth: dict[str, float], a: argparse.Namespace, total: float,
           n_m: int, n_c: int) -> str:
    lines = ["# Estimator fidelity", "",
             f"`python benchmarks/fidelity.py --genomes {a.genomes} --cells {a.cells} --workers {a.workers}"
             + (f" --ref-seeds {a.ref_seeds}" if getattr(a, "ref_seeds", 2) != 2 else "") + "`", "",
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {a.workers} worker processes of "
             f"one thread; {total / 60:.1f} minutes of work in all (per-network seconds summed over the workers). "
             "See the script's docstring for the protocol.", ""]
    if 0 < len(m) < 8:
        lines += [f"## MobileNet space under 300M MACs: only {len(m)} of the {n_m} networks asked for are scored", "",
                  "Too few for a ranking: no Kendall tau is reported and no target is judged. The networks scored so "
                  "far (validation accuracy of the proxy; test accuracy of the reference, the verdict's protocol):",
                  "", *network_table(m)]
    elif m:
        k = min(len(r["refs"]) for r in m)  # as many seeds as every network has (a cut-short run says so),
        k -= k % 2  # in two equal halves
        for r in m:
            r["refs_seconds"] *= k / len(r["refs"])
            r["refs"] = r["refs"][:k]
        ref = [float(np.mean(r["refs"])) for r in m]
        others = [float(np.mean(r["refs"][1:])) for r in m]  # no initialization shared with the proxy's seed 0
        ceiling = tau_ci([float(np.mean(r["refs"][: k // 2])) for r in m],
                         [float(np.mean(r["refs"][k // 2:])) for r in m])
        halves = "seed 0 against seed 1" if k == 2 else \
            f"mean of seeds 0-{k // 2 - 1} against mean of seeds {k // 2}-{k - 1}"
        other_name = "reference seed 1 alone" if k == 2 else f"mean of reference seeds 1-{k - 1}"
        rows = [("proxy_train, epoch 1 (where ASHA decides)", [r["proxy1"] for r in m], "proxy_seconds"),
                ("proxy_train, epoch 2 (the search's score)", [r["proxy2"] for r in m], "proxy_seconds"),
                ("one cycle over 2 epochs (before): epoch 1", [r["onecycle1"] for r in m], None),
                ("one cycle over 2 epochs (before): epoch 2", [r["onecycle2"] for r in m], None)]
        if all("train_losses" in r for r in m):  # lower training loss ranks higher
            rows += [("sum of training losses, epoch 1 (TSE, Ru et al. 2021)", [-r["train_losses"][0] for r in m],
                      None),
                     ("sum of training losses, epochs 1-2 (TSE)", [-sum(r["train_losses"]) for r in m], None)]
        for e in sorted(set.intersection(*(set(r.get("supernet", {})) for r in m))):
            for r in m:
                r[f"supernet{e}_seconds"] = r["supernet"][e][1]
            source = "supernet.md, 8-epoch schedule" if e <= 8 else "supernet_e16.md, 16-epoch schedule"
            rows.append((f"supernet after {e} epochs, inherited weights (benchmarks/{source})",
                         [r["supernet"][e][0] for r in m], f"supernet{e}_seconds"))
        rows += [(f"zero-cost {z}", [r[z] for r in m], f"{z}_seconds") for z in ZC]
        rows += [("MACs only", [r["macs"] for r in m], None), ("params only", [r["params"] for r in m], None)]
        lines += [f"## MobileNet space under 300M MACs: {len(m)} networks scored of the {n_m} asked for (the two "
                  "seeds repaired into the budget, then the random strategy's trials in order)", "",
                  f"Reference: the verdict's protocol (3 epochs on all 15,000 training images), mean test accuracy of "
                  f"{k} seeds" + (f" (of the {a.ref_seeds} asked for: the run was cut short)" if k < getattr(
                      a, "ref_seeds", 2) else "") + f"; it ranges from {min(ref):.4f} to {max(ref):.4f}, "
                  f"{np.mean([r['refs_seconds'] for r in m]) / k:.0f} s per seed and network.",
                  "", f"| ranking | Kendall tau | 95% interval | against {other_name} | 95% interval | "
                  "seconds per candidate |", "|---|---:|---|---:|---|---:|"]
        taus = {}
        for name, xs, sec in rows:
            tau, lo, hi = tau_ci(xs, ref)
            one = tau_ci(xs, others)
            taus[name] = tau
            s = f"{np.mean([r[sec] for r in m]):.2f}" if sec else "-"
            lines.append(f"| {name} | {tau:+.3f} | [{lo:+.2f}, {hi:+.2f}] | {one[0]:+.3f} | [{one[1]:+.2f}, "
                         f"{one[2]:+.2f}] | {s} |")
        lines.append(f"| noise ceiling: reference {halves} | - | - | {ceiling[0]:+.3f} | "
                     f"[{ceiling[1]:+.2f}, {ceiling[2]:+.2f}] | - |")
        proxy, macs = taus["proxy_train, epoch 2 (the search's score)"], taus["MACs only"]
        sec = np.mean([r["proxy_seconds"] for r in m])
        checks = [("reference ceiling >= 0.6", ceiling[0] >= 0.6, f"{ceiling[0]:.3f}"),
                  ("default proxy >= 0.7 x ceiling", proxy >= 0.7 * ceiling[0],
                   f"{proxy:.3f} vs {0.7 * ceiling[0]:.3f}"),
                  ("default proxy >= MACs-only + 0.15", proxy >= macs + 0.15, f"{proxy:.3f} vs {macs + 0.15:.3f}"),
                  ("<= 60 s per candidate", sec <= 60, f"{sec:.1f} s")]
        judged = ceiling[0] >= 0.6  # a reference that cannot rank itself judges no proxy
        verdicts = [("met" if ok else "missed") if i in (0, 3) or judged else "not judged, the ceiling is below 0.6"
                    for i, (_, ok, _) in enumerate(checks)]
        lines += ["", "Targets: " + "; ".join(f"{n}: {w} ({v})" for (n, _, v), w in zip(checks, verdicts)), "",
                  "The proxy's runs and the reference's seed 0 start from the same initial weights (seed 0, same "
                  "architecture and width), so their noise is shared and the tau against the reference's mean is "
                  f"flattering; against the {other_name} the proxy shares no initialization with the reference. (The "
                  "search's verdict retrains with seeds of its own, `--seed` + 1000 and up, for this reason.)", "",
                  *noise_budget(m), "", *schedules(m, ref), "",
                  "Proxy scores are validation accuracy (5,000 images, standard error about 0.006 at 0.80); the "
                  "reference is test accuracy (5,000 images).", "", *network_table(m)]
    if c:
        gt = [truth[r["what"]] for r in c]
        q = np.percentile(list(truth.values()), 75)
        top = [i for i, v in enumerate(gt) if v >= q]
        lines += [f"## Cell space against NAS-Bench-201's 200-epoch CIFAR-10 accuracies: {len(c)} cells ({n_c} "
                  f"asked for; {len(top)} in the table's top quarter, >= {q:.2f}%)", "",
                  "| ranking | all cells: tau | 95% interval | top quarter: tau | 95% interval |",
                  "|---|---:|---|---:|---|"]
        rows = [("proxy_train, epoch 2", [r["proxy2"] for r in c]), ("proxy_train, epoch 1", [r["proxy1"] for r in c])]
        rows += [(f"zero-cost {z}", [r[z] for r in c]) for z in ZC]
        rows += [("MACs only", [r["macs"] for r in c]), ("params only", [r["params"] for r in c])]
        for name, xs in rows:
            t_all = tau_ci(xs, gt)
            t_top = tau_ci([xs[i] for i in top], [gt[i] for i in top]) if len(top) >= 4 else (math.nan,) * 3
            lines.append(f"| {name} | {t_all[0]:+.3f} | [{t_all[1]:+.2f}, {t_all[2]:+.2f}] | {t_top[0]:+.3f} | "
                         f"[{t_top[1]:+.2f}, {t_top[2]:+.2f}] |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
