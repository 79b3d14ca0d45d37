"""What early stopping saves in a search, and what it costs in the network it finds.

Run: python benchmarks/early_stopping.py [--candidates 20] [--epochs 4] [--space mobilenet --budget 300M]
                                        [--workers 2] [--curves benchmarks/early_stopping.json]
                                        [--out benchmarks/early_stopping.md]

The same candidates (the random strategy with a fixed seed) are each trained for the full ``--epochs`` once, with
their validation accuracy after every epoch. Each stopping rule of `nas search --early-stop` is then replayed on
those curves with the very classes the search uses, as a search with 1 and with ``--workers`` candidates in flight
would meet them: candidates start in trial order as workers free up, and the rule is asked at each epoch's end in
the order those moments come (each candidate's measured per-epoch times). For each rule: the epochs trained, the
search's wall time, the candidates that ran to the end, and the network the search would return, the most
accurate completed candidate, against the best of all candidates at full training. Regret is how
much full-training accuracy the returned network gives up against that best; rank is its place among all.
"""

from __future__ import annotations

import argparse
import heapq
import json
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import ray
import torch

import estimators
import nas
import search_spaces
import strategies
from nas.cost import human
from nas.search import AshaStopper, MedianStopper


def _init_worker() -> None:
    torch.set_num_threads(1)  # as a Ray task with one CPU runs


def _train(job: tuple[str, str, int, int]) -> dict:
    genome_yaml, data, epochs, seed = job
    r = estimators.proxy_train(nas.loads(genome_yaml), data=data, epochs=epochs, seed=seed)
    return {"status": r["status"], "error": r.get("error"),
            "history": [(h["epoch"], h["accuracy"], h["seconds"]) for h in r["history"]], "seconds": r["seconds"]}


def replay(rule, curves: list[list[tuple[int, float, float]]], epochs: int, in_flight: int = 1
           ) -> tuple[list[int], float]:
    """The epochs each candidate runs under ``rule`` (None: all of them) and the wall time of the whole search,
    with ``in_flight`` candidates trained at once, started in trial order as workers free up. The rule is asked
    at each epoch's end in the order those moments come, as the search's stopping actor is."""
    ran = [0] * len(curves)
    events: list[tuple[float, int, int]] = []  # (when, trial, index of the epoch that just ended)
    nxt = 0
    for _ in range(min(in_flight, len(curves))):
        heapq.heappush(events, (curves[nxt][0][2], nxt, 0))
        nxt += 1
    end = 0.0
    while events:
        when, trial, k = heapq.heappop(events)
        epoch, acc, _ = curves[trial][k]
        ran[trial] = epoch
        goes_on = epoch < epochs and (rule is None or rule.keep_going(trial, epoch, acc))
        if goes_on:
            start = when - curves[trial][k][2]
            heapq.heappush(events, (start + curves[trial][k + 1][2], trial, k + 1))
            continue
        end = max(end, when)
        if nxt < len(curves):  # the freed worker takes the next candidate
            heapq.heappush(events, (when + curves[nxt][0][2], nxt, 0))
            nxt += 1
    return ran, end


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--space", default="mobilenet")
    ap.add_argument("--budget", default="300M")
    ap.add_argument("--data", default="digits")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--curves", type=Path, help="JSON of the training curves: read when it exists and matches "
                                                  "these settings, else trained and written (rules replay in a blink)")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()

    space = search_spaces.get(a.space)
    strategy = strategies.get("random")(space, budget=a.budget, seed=a.seed)
    cands = [strategy.ask() for _ in range(a.candidates)]
    jobs = [(nas.dumps(c.genome), a.data, a.epochs, a.seed) for c in cands]
    key = {"genomes": [j[0] for j in jobs], "data": a.data, "epochs": a.epochs, "seed": a.seed, "workers": a.workers}
    saved = json.loads(a.curves.read_text()) if a.curves and a.curves.exists() else None
    if saved and saved["key"] == key:
        results, wall = saved["results"], saved["wall"]
    else:
        t0 = time.perf_counter()
        with ProcessPoolExecutor(a.workers, initializer=_init_worker) as pool:
            results = []
            for i, r in enumerate(pool.map(_train, jobs)):
                results.append(r)
                acc = r["history"][-1][1] if r["history"] else float("nan")
                print(f"[{i + 1}/{len(jobs)}] {human(cands[i].macs)} MACs: {r['status']}, accuracy {acc:.4f} after "
                      f"{len(r['history'])} epochs, {r['seconds']:.1f} s", flush=True)
        wall = time.perf_counter() - t0
        if a.curves:
            a.curves.write_text(json.dumps({"key": key, "results": results, "wall": wall}) + "\n")
    assert all(r["status"] == "ok" for r in results), [r["error"] for r in results if r["status"] != "ok"]
    curves = [r["history"] for r in results]
    final = [c[-1][1] for c in curves]
    order = sorted(range(len(final)), key=lambda i: -final[i])

    rules = [("none (every candidate to the end)", None),
             ("median stopping rule", lambda: MedianStopper()),
             ("ASHA, eta 3 (default)", lambda: AshaStopper(a.epochs, eta=3)),
             ("ASHA, eta 2", lambda: AshaStopper(a.epochs, eta=2))]
    table = []
    full_epochs = a.epochs * len(curves)
    for in_flight in sorted({1, a.workers}):
        _, full_wall = replay(None, curves, a.epochs, in_flight)
        for name, make in rules:
            ran, took = replay(make() if make else None, curves, a.epochs, in_flight)
            completed = [i for i, n in enumerate(ran) if n == a.epochs]
            pick = max(completed, key=lambda i: (final[i], -i))
            table.append((name, in_flight, sum(ran), sum(ran) / full_epochs, took, took / full_wall,
                          len(completed), pick, final[pick], final[order[0]] - final[pick], order.index(pick) + 1,
                          order[0] in completed))

    first = [c[0][1] for c in curves]
    from scipy.stats import kendalltau

    tau = kendalltau(first, final).statistic
    lines = [
        "# Early stopping", "",
        f"`python benchmarks/early_stopping.py --candidates {a.candidates} --epochs {a.epochs} --space {a.space} "
        f"--budget {a.budget} --workers {a.workers}" + (f" --curves {a.curves}" if a.curves else "")
        + (f" --out {a.out}`" if a.out else "`"), "",
        " ".join(__doc__.split("\n\n", 2)[2].split()), "",
        f"{len(curves)} candidates of the {a.space} space within {a.budget} MACs, {a.data}, {a.epochs} epochs each; "
        f"final accuracy {min(final):.3f} to {max(final):.3f} (median {statistics.median(final):.3f}); Kendall tau "
        f"between the accuracy after epoch 1 and after epoch {a.epochs}: {tau:.3f}. Training them all took "
        f"{wall:.0f} s on {a.workers} worker processes of one torch thread.", "",
        "| rule | in flight | epochs trained | share | search wall seconds | share | ran to the end | returned | "
        "its accuracy | regret | its rank | best kept |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, fl, ep, eps, sec, secs, comp, pick, acc, regret, rank, kept in table:
        lines.append(f"| {name} | {fl} | {ep} | {eps:.0%} | {sec:.0f} | {secs:.0%} | {comp} | trial {pick} | "
                     f"{acc:.4f} | {regret:.4f} | {rank} | {'yes' if kept else 'no'} |")
    lines += ["", f"{platform.machine()}, {a.workers} worker processes of one torch thread each, torch "
                  f"{torch.__version__}, ray {ray.__version__}; wall seconds are replayed from each candidate's "
                  "measured time to the end of each epoch (its setup included).", "",
              "| trial | MACs | " + " | ".join(f"epoch {e}" for e in range(1, a.epochs + 1)) + " |",
              "|---:|---:|" + "---:|" * a.epochs]
    for i, c in enumerate(curves):
        lines.append(f"| {i} | {human(cands[i].macs)} | " + " | ".join(f"{acc:.3f}" for _, acc, _ in c) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
