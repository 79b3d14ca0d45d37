"""What a search loses when part of its cluster dies: the kill table.

Run: python benchmarks/lost_node.py [--out benchmarks/lost_node.md]

For each kill point, a fresh private Ray cluster of two nodes on this machine (a head and a second node, 1 CPU
each, each with its own temporary directory) runs the same small search from the command line (the cell space,
60M MACs, synthetic data, 6 epochs, 6 trials, ASHA, 2 at a time), and one thing is killed with SIGKILL by its
process ids (``tests/cluster_loss.py``): a worker process training a trial on the second node; the second node
entirely (its ``ray start``, raylet, object store and workers); the actor process holding the early-stopping rule;
the driver, once two trials are recorded, after which the search is resumed with ``--resume``. The table says
whether the search finished and how many candidates were retried, lost, recorded twice, or recorded as failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from cluster_loss import KILLS, TRIALS, run  # noqa: E402 - after the path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "lost_node.md"))
    ap.add_argument("--kills", default=",".join(KILLS))
    a = ap.parse_args()
    results = []
    for kill in a.kills.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            r = run(kill, Path(tmp) / "run")
        print({k: v for k, v in r.items() if k != "log"}, flush=True)
        results.append(r)
    lines = [
        "# A search that loses part of its cluster",
        "",
        f"`python benchmarks/lost_node.py` on {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; {date.today()}. Each row: a fresh two-node private Ray cluster on this "
        f"machine, a search of {TRIALS} candidates (see the script's docstring), one kill with SIGKILL, one run.",
        "",
        "| killed | finished | retried | lost | recorded twice | failed | stopped early | minutes |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['kill']} | {'yes' if r['finished'] else 'no (exit ' + str(r['returncode']) + ')'} | "
                     f"{r['retried']} | {r['lost']} | {r['duplicated']} | {r['failed']} | {r['stopped']} | "
                     f"{r['seconds'] / 60:.1f} |")
    lines += ["", "retried: candidates whose result took more than one attempt (their worker or node died); lost: "
              f"candidates among the {TRIALS} never recorded; "
              "recorded twice: ids in trials.csv more than once; stopped "
              "early: by ASHA. Without its stopping rule a search goes on, and the trials that ask it after the "
              "kill train to the end (a worker whose question fails trains on); the driver, killed, is resumed "
              "with `--resume` on the same cluster and finishes the run."]
    Path(a.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
