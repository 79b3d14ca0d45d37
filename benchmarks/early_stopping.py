"""What early stopping saves in a real search, and where the network it returns ranks at the verdict.

Run: python benchmarks/early_stopping.py [--trials 24] [--rules off,asha,median]
                                        [--reference benchmarks/fidelity.jsonl] [--out benchmarks/early_stopping.md]

Real runs, no replay: for each rule, ``nas search --space mobilenet --budget 300M --strategy random --seed 0
--trials N --no-verdict --early-stop RULE`` at every other default (2 epochs, ASHA's rung at epoch 1 with the
learning-rate cycle restarting there, 5,000 training images per epoch, width x0.35, the bundled Fashion-MNIST),
on a private local Ray cluster of 2 CPUs (two trials in flight, as on this machine). The random strategy with a
fixed seed proposes the same candidates to every rule, and they are the networks of the fidelity benchmark's
MobileNet table, whose reference (the verdict's protocol: 3 epochs on all 15,000 training images, mean of 2 seeds,
scored on the 5,000 test images) ranks them: ``--reference`` is that benchmark's raw data, matched by genome.

For each rule: the search's wall time (Ray's start excluded), the epochs trained, the trials stopped, the network
the search returns (its best completed trial by validation accuracy) with its reference accuracy and its rank among
the N candidates at the reference, and how many of the reference's top quarter the rule stopped (a rule that cuts
slow starters loses good networks there).
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))  # the private Ray cluster the tests use

import fidelity  # noqa: E402 - the reference's cache keys
from privateray import private_cluster  # noqa: E402

import search_spaces  # noqa: E402
from nas.app.driver import Search  # noqa: E402
from nas.app.settings import Settings  # noqa: E402
from nas.cost import human  # noqa: E402

RULES = {"off": "off (every trial runs both epochs)", "asha": "ASHA, eta 3 (default)",
         "median": "median stopping rule"}


def reference(path: Path, evals: list, floor: int) -> dict[int, float]:
    """Each trial's reference accuracy (mean of the 2 seeds) from the fidelity benchmark's raw data, by genome."""
    cache = fidelity.load_cache(path)
    out = {}
    for e in evals:
        r = cache.get(fidelity.key(("mobilenet", e.genome, floor, f"trial {e.trial}")))
        if r and r.get("status") == "ok" and "ref0" in r:
            out[e.trial] = (r["ref0"] + r["ref1"]) / 2
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--rules", default="off,asha,median")
    ap.add_argument("--reference", type=Path, default=ROOT / "benchmarks" / "fidelity.jsonl")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    rules = a.rules.split(",")
    space = search_spaces.get("mobilenet")
    runs = {}
    with private_cluster(num_cpus=2, dashboard=False) as c, tempfile.TemporaryDirectory() as tmp:
        import ray  # after the private cluster has set Ray's token variables: Ray reads them on import

        ray.init(address=c["address"], log_to_driver=False)
        try:
            for rule in rules:
                s = Search(Settings(space="mobilenet", budget="300M", strategy="random", seed=0, trials=a.trials,
                                    verdict=False, early_stop=rule), Path(tmp) / rule, log=lambda _: None)
                t = time.perf_counter()
                s.run(address=c["address"], dashboard=False)
                wall = time.perf_counter() - t
                evals = sorted((e for e in s.store.evaluations() if e.trial >= 0), key=lambda e: e.trial)
                runs[rule] = (wall, evals)
                print(f"{rule}: {wall:.0f} s, {sum(e.status == 'stopped' for e in evals)} stopped", file=sys.stderr,
                      flush=True)
        finally:
            ray.shutdown()

    ref = reference(a.reference, runs[rules[0]][1], space.proxy_map)
    ranked = sorted(ref, key=lambda t: -ref[t])
    top_q = set(ranked[: max(1, math.ceil(len(ranked) / 4))])
    base_wall = runs["off"][0] if "off" in runs else None
    base_epochs = sum(e.fidelity["epochs"] for e in runs["off"][1]) if "off" in runs else None
    lines = ["# Early stopping", "", f"`python benchmarks/early_stopping.py --trials {a.trials} --rules {a.rules}"
             + (f" --out {a.out}`" if a.out else "`"), "", " ".join(__doc__.split("\n\n", 2)[2].split()), "",
             f"Reference: {len(ref)} of the {a.trials} candidates found in `{a.reference.name}`"
             + (f"; it ranges from {min(ref.values()):.4f} to {max(ref.values()):.4f}; its top quarter is trials "
                f"{', '.join(map(str, sorted(top_q)))}." if ref else " (run benchmarks/fidelity.py first)."), "",
             "| rule | search wall seconds | vs off | epochs trained | vs off | stopped | of the reference's top "
             "quarter stopped | returned | its validation accuracy | its reference accuracy | its rank at the "
             "reference |", "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for rule in rules:
        wall, evals = runs[rule]
        epochs = sum(e.fidelity["epochs"] for e in evals)
        stopped = [e.trial for e in evals if e.status == "stopped"]
        done = [e for e in evals if e.status == "ok"]
        best = max(done, key=lambda e: (e.accuracy, -e.trial))
        r = ref.get(best.trial)
        lines.append(
            f"| {RULES.get(rule, rule)} | {wall:.0f} | {wall / base_wall:.0%} | {epochs} | {epochs / base_epochs:.0%} "
            f"| {len(stopped)} | {len(top_q & set(stopped))} of {len(top_q)} | trial {best.trial} "
            f"({human(best.macs)}) | {best.accuracy:.4f} | " + (f"{r:.4f} | {ranked.index(best.trial) + 1} of "
                                                                f"{len(ranked)} |" if r is not None else "- | - |"))
    lines += ["", f"{platform.machine()}, 2 cores, a private Ray cluster of 2 CPUs (2 trials in flight, one torch "
                  f"thread each), torch {torch.__version__}, ray {ray.__version__}; one run per rule (with 2 in "
                  "flight the order results arrive in, and so which trials ASHA compares, varies from run to run).",
              "", "Per trial, validation accuracy after each epoch (a blank: stopped) and the reference:", "",
              "| trial | MACs | " + " | ".join(f"{rule}: epoch {k}" for rule in rules for k in (1, 2))
              + " | reference |", "|---:|---:|" + "---:|" * (2 * len(rules) + 1)]
    for i, e in enumerate(runs[rules[0]][1]):
        cells = []
        for rule in rules:
            h = [x["accuracy"] for x in runs[rule][1][i].metrics.get("history", [])]
            cells += [f"{h[k]:.4f}" if k < len(h) else "" for k in (0, 1)]
        lines.append(f"| {e.trial} | {human(e.macs)} | " + " | ".join(cells) + " | "
                     + (f"{ref[e.trial]:.4f} |" if e.trial in ref else "- |"))
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
