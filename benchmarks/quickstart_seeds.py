"""The README's first command with --seed 0 to 4: what a user who runs it learns, run after run.

Run: python benchmarks/quickstart_seeds.py [--seeds 0-4] [--raw FILE.jsonl] [--keep DIR] [--out FILE.md]

Each run is `nas search --space mobilenet --budget 300M --seed S` in a fresh run directory (bundled data, a
temporary HOME so that the local Ray's token lands there), one after the other on this machine. Per run: the wall
time (install excluded), the winner (the search's best by its own score) and its MACs, its margin over the
baseline on the test split with the interval, the verdict's words, the baseline's and the winner's test accuracy,
and the MACs the search spent its trials on (the spread of the evaluated candidates, and of those that ran every
epoch). A run's row is appended to ``--raw`` as it finishes, so an interrupted benchmark continues where it
stopped; ``--keep`` keeps the run directories (``verdict_calibration.py --calibrate`` reads them).
Target (issue 22): "better" in at least 4 of 5 runs, each within 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def seeds_arg(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",")]


def one(seed: int, keep: Path | None) -> dict[str, Any]:
    nas = Path(sys.executable).parent / "nas"
    with tempfile.TemporaryDirectory() as tmp:
        out = (keep / f"seed{seed}") if keep else Path(tmp) / "run"
        t = time.time()
        p = subprocess.run([str(nas), "search", "--space", "mobilenet", "--budget", "300M", "--seed", str(seed),
                            "--out", str(out)], capture_output=True, text=True, cwd=tmp,
                           env={**os.environ, "HOME": tmp})
        wall = time.time() - t
        row: dict[str, Any] = {"seed": seed, "rc": p.returncode, "wall_s": wall,
                               "log_tail": p.stdout.splitlines()[-14:]}
        if p.returncode != 0:
            row["stderr"] = p.stderr[-2000:]
            return row
        v = json.loads((out / "verdict.json").read_text())
        trials = [r for r in csv.DictReader((out / "trials.csv").open()) if int(r["trial"]) >= 0]
        macs = np.array([float(r["macs"]) for r in trials])
        full = np.array([float(r["macs"]) for r in trials if r["status"] == "ok"])
        row.update(verdict=v, macs_q=[float(x) for x in np.percentile(macs, [0, 10, 50, 90, 100])],
                   macs_full=sorted(float(x) for x in full), n_trials=len(trials), n_full=len(full),
                   verdict_line=next((l for l in p.stdout.splitlines() if l.strip().startswith("winner (")), ""))
        return row


def render(rows: list[dict[str, Any]]) -> str:
    ok = [r for r in rows if r["rc"] == 0]
    better = sum(1 for r in ok if r["verdict"].get("versus_seed", {}).get("better"))
    seeds = ok[0]["verdict"].get("seeds") if ok else "?"
    walls = sorted(r["wall_s"] / 60 for r in rows)
    lines = [
        "# The quick start, five times", "",
        "`python benchmarks/quickstart_seeds.py --seeds 0-4`: `nas search --space mobilenet --budget 300M --seed S`, "
        "the README's first command, in a fresh run directory each, one after the other, install excluded.", "",
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU only. Fidelity of the verdict: "
        "each network retrained at width x0.35 (the proxy's width, as on CPUs) on Fashion-MNIST's 1x28x28 images "
        "(strides dropped where a map would fall below 4x4), 3 epochs on 15,000 training images, "
        f"{seeds} seeds, scored on 5,000 test images; the MACs are the deployment network's at 3x224x224.", "",
        f"**\"Better\" in {better} of {len(rows)} runs** (target: 4 of 5), each within "
        f"{walls[-1]:.1f} minutes (target: 15; median {walls[len(walls) // 2]:.1f}).", "",
        "| --seed | wall time | winner (the search's best) | its MACs | winner test | baseline test "
        "| winner - baseline, 95% interval | verdict | search score |",
        "|---:|---:|---|---:|---:|---:|---|---|---:|"]
    for r in rows:
        if r["rc"] != 0:
            lines.append(f"| {r['seed']} | {r['wall_s'] / 60:.1f} min | failed (exit {r['rc']}) | | | | | | |")
            continue
        v = r["verdict"]
        w = next(e for e in v["entrants"] if e["label"] == v["winner"])
        b = next(e for e in v["entrants"] if e["seed"])
        vs = v.get("versus_seed", {})
        words = "better" if vs.get("better") else ("baseline better" if vs.get("high", 1) < 0 else
                                                   "cannot be told apart")
        lines.append(f"| {r['seed']} | {r['wall_s'] / 60:.1f} min | {v['winner']} | {w['macs'] / 1e6:.1f}M | "
                     f"{w['accuracy']:.4f} | {b['accuracy']:.4f} | {100 * vs.get('diff', 0):+.2f} points "
                     f"[{100 * vs.get('low', 0):+.2f}, {100 * vs.get('high', 0):+.2f}] | {words} | "
                     f"{w['search_accuracy']:.4f} |")
    lines += ["", f"The baseline is one network in every run: "
              f"{next(e['label'] for e in ok[0]['verdict']['entrants'] if e['seed']).removeprefix('baseline ')}."
              if ok else "", "",
              "Where the search spent its trials (MACs at 3x224x224 of the evaluated candidates; 'ran every epoch': "
              "those early stopping let through):", "",
              "| --seed | candidates | min | 10% | median | 90% | max | ran every epoch | their MACs (M) |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in ok:
        q = r["macs_q"]
        lines.append(f"| {r['seed']} | {r['n_trials']} | " + " | ".join(f"{x / 1e6:.0f}M" for x in q)
                     + f" | {r['n_full']} | {', '.join(f'{x / 1e6:.0f}' for x in r['macs_full'])} |")
    lines += ["", "Each run's verdict lines:", "", "```"]
    for r in ok:
        lines.append(f"--seed {r['seed']}:")
        start = next((i for i, l in enumerate(r["log_tail"]) if l.startswith("verdict on the test split")), 0)
        lines += [l for l in r["log_tail"][start:] if not l.startswith(("outputs:", "look:"))]
    lines += ["```", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=seeds_arg, default=list(range(5)))
    ap.add_argument("--raw", type=Path, help="one JSON line per finished run; runs already there are not rerun")
    ap.add_argument("--keep", type=Path, help="keep the run directories under this folder")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    done: dict[int, dict[str, Any]] = {}
    if a.raw and a.raw.exists():
        for line in a.raw.read_text().splitlines():
            r = json.loads(line)
            done[r["seed"]] = r
    for seed in a.seeds:
        if seed in done:
            continue
        row = one(seed, a.keep)
        done[seed] = row
        print(f"seed {seed}: exit {row['rc']}, {row['wall_s'] / 60:.1f} min, {row.get('verdict_line', '')}", flush=True)
        if a.raw:
            with a.raw.open("a") as f:
                f.write(json.dumps(row) + "\n")
    text = render([done[s] for s in a.seeds])
    print(text)
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
