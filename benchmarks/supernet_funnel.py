"""The supernet funnel against the standalone quick start: same budget, same seeds, the verdict's margin.

Run: python benchmarks/supernet_funnel.py --supernet CHECKPOINT [--seeds 0] [--trials 100]
                                          [--out benchmarks/supernet_funnel.md]

Each run is ``nas search --space mobilenet --budget 300M --seed S --estimator supernet --supernet CHECKPOINT
--trials N`` at every other default (the verdict included: the winner, here the best of the supernet's top 3 by
standalone training, against mobilenet_v2 x0.98 with 8 seeds each), in a fresh run directory with a temporary
HOME, a local Ray started by the command, one run after the other. Beside each, the standalone quick start's row
for the same seed from ``benchmarks/quickstart_seeds.md`` (``nas search --space mobilenet --budget 300M --seed
S``, 40 candidates trained for 2 epochs with ASHA). The supernet's training time, paid once for every budget,
is shown apart from the searches.
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

ROOT = Path(__file__).resolve().parents[1]


def one(ckpt: Path, seed: int, trials: int) -> dict[str, Any]:
    nas = Path(sys.executable).parent / "nas"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        t = time.time()
        p = subprocess.run([str(nas), "search", "--space", "mobilenet", "--budget", "300M", "--seed", str(seed),
                            "--estimator", "supernet", "--supernet", str(ckpt), "--trials", str(trials),
                            "--out", str(out)], capture_output=True, text=True, cwd=tmp,
                           env={**os.environ, "HOME": tmp})
        wall = time.time() - t
        if p.returncode != 0:
            raise RuntimeError(p.stdout[-2000:] + p.stderr[-2000:])
        v = json.loads((out / "verdict.json").read_text())
        audit = json.loads((out / "audit.json").read_text())
        rows = list(csv.DictReader((out / "trials.csv").open()))
        return {"seed": seed, "wall": wall, "verdict": v, "audit": audit,
                "scored": sum(1 for r in rows if int(r["trial"]) >= 0),
                "standalone": sum(1 for r in rows if r["origin"].startswith("audit:")),
                "lines": [l for l in p.stdout.splitlines() if l.startswith(("supernet audit", "funnel", "  winner (",
                                                                             "winner", "verdict"))]}


def quickstart_row(seed: int) -> str | None:
    """The quick start's table row for ``seed`` in quickstart_seeds.md."""
    text = (ROOT / "benchmarks" / "quickstart_seeds.md").read_text()
    return next((l for l in text.splitlines() if l.startswith(f"| {seed} | ")), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--supernet", type=Path, required=True)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    import torch

    ck = torch.load(a.supernet, map_location="cpu", weights_only=True)
    hist = ck["settings"]["history"]
    runs = []
    for s in (int(x) for x in a.seeds.split(",")):
        runs.append(one(a.supernet, s, a.trials))
        print(f"seed {s}: {runs[-1]['wall'] / 60:.1f} min", file=sys.stderr, flush=True)
    lines = ["# The supernet funnel against the standalone quick start", "",
             f"`python benchmarks/supernet_funnel.py --supernet CHECKPOINT --seeds {a.seeds} --trials {a.trials}`", "",
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU only. The supernet: "
             f"{ck['epoch']} epochs of `nas supernet train --budget 300M`, {sum(h['seconds'] for h in hist) / 60:.1f} "
             "minutes of training on one thread, paid once for every budget (`benchmarks/supernet.md`). See the "
             "script's docstring for the protocol.", "",
             "| --seed | search | wall time | candidates scored | trained standalone | audit tau [95%] | winner | its "
             "MACs | winner - baseline on the test split, 95% interval | verdict |",
             "|---:|---|---:|---:|---:|---|---|---:|---|---|"]
    for r in runs:
        v = r["verdict"]
        vs = v["versus_seed"]
        tau = r["audit"].get("kendall_tau")
        ci = r["audit"].get("kendall_tau_interval") or [None, None]
        win = next(e for e in v["entrants"] if e.get("label") == v["winner"]) if "entrants" in v else {}
        words = "better" if vs.get("better") else ("worse" if vs.get("told_apart") else "cannot be told apart")
        lines.append(f"| {r['seed']} | supernet funnel | {r['wall'] / 60:.1f} min | {r['scored']} | "
                     f"{r['standalone']} | "
                     + (f"{tau:+.2f} [{ci[0]:+.2f}, {ci[1]:+.2f}]" if tau is not None else "-")
                     + f" | {v['winner']} | {win.get('macs', 0) / 1e6:.1f}M | {100 * vs['diff']:+.2f} points "
                     f"[{100 * vs['low']:+.2f}, {100 * vs['high']:+.2f}] | {words} |")
        q = quickstart_row(r["seed"])
        if q:
            c = [x.strip() for x in q.strip("|").split("|")]
            lines.append(f"| {c[0]} | standalone quick start | {c[1]} | 40 | 40 (2 epochs, ASHA) | - | {c[2]} | "
                         f"{c[3]} | {c[6]} | {c[7]} |")
    lines += ["", "Closing lines of each funnel run:", ""]
    for r in runs:
        lines += [f"--seed {r['seed']}:", "", "```", *r["lines"], "```", ""]
    text = "\n".join(lines)
    print(text)
    if a.out:
        a.out.write_text(text)
        a.out.with_suffix(".json").write_text(json.dumps(runs, indent=1) + "\n")


if __name__ == "__main__":
    main()
