"""Why ``nas.latency`` measures as it does: the same networks measured with glibc's allocator left to adapt, with it
fixed, and with it fixed in a process that has started Ray.

Run: python benchmarks/latency_measurement.py [--genomes 6] [--processes 3] [--out ...]

``--genomes`` mobilenet-space networks under 300M (a fixed seed) are measured in ``--processes`` fresh processes per
mode, one after another: one thread, batch 1, the least of 30 passes after 3 warm-up passes (``nas.latency.measure``).

- default allocator: glibc as it comes (its mmap threshold adapts, and freed large buffers go back to the kernel);
- fixed allocator: ``nas.latency.fix_allocator`` first (what ``--max-latency-ms`` measures with);
- fixed, after Ray: the same, in a process that has started a local Ray (in a temporary directory, stopped after).

For each network the table gives its least and greatest time over the processes; the spread is greatest / least - 1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODES = ("default allocator", "fixed allocator", "fixed, after Ray")


def child(mode: str, genomes: int) -> None:
    import search_spaces
    from nas.latency import fix_allocator, measure

    if mode != MODES[0]:
        fix_allocator()
    if mode == MODES[2]:
        import ray

        ray.init(num_cpus=2, include_dashboard=False, _temp_dir=tempfile.mkdtemp(prefix="nasbench-ray-"),
                 log_to_driver=False)
        ray.get(ray.remote(lambda: 0).remote())
    space = search_spaces.get("mobilenet")
    rng = np.random.default_rng(2027)
    nets = [space.sample(rng, "300M") for _ in range(genomes)]
    print(json.dumps([measure(g) for g in nets]), flush=True)
    if mode == MODES[2]:
        import ray

        ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genomes", type=int, default=6)
    ap.add_argument("--processes", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "latency_measurement.md"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.genomes)
        return
    started = time.time()
    ms: dict[str, list[list[float]]] = {m: [] for m in MODES}
    for _ in range(a.processes):  # the modes interleaved, so that a slow spell of the machine hits them alike
        for mode in MODES:
            out = subprocess.run([sys.executable, __file__, "--child", mode, "--genomes", str(a.genomes)],
                                 capture_output=True, text=True, check=True).stdout
            ms[mode].append(json.loads(out.strip().splitlines()[-1]))
            print(mode, [round(x, 2) for x in ms[mode][-1]], flush=True)
    lines = [
        "# Measuring CPU latency: the allocator, and Ray in the same process",
        "",
        f"`python benchmarks/latency_measurement.py --genomes {a.genomes} --processes {a.processes}` on "
        f"{platform.machine()}, {os.cpu_count()} CPUs; {date.today()}; {(time.time() - started) / 60:.0f} minutes. "
        "Mobilenet-space networks under 300M, one thread, batch 1, the least of 30 passes, each mode in "
        f"{a.processes} fresh processes (interleaved); see the script's docstring.",
        "",
        "| network | " + " | ".join(f"{m}: least-greatest ms" for m in MODES) + " |",
        "|---|" + "---:|" * len(MODES),
    ]
    spreads = {m: [] for m in MODES}
    for i in range(a.genomes):
        cells = []
        for m in MODES:
            v = [run[i] for run in ms[m]]
            spreads[m].append(max(v) / min(v) - 1)
            cells.append(f"{min(v):.1f}-{max(v):.1f}")
        lines.append(f"| {i} | " + " | ".join(cells) + " |")
    lines.append("| median spread | " + " | ".join(f"{np.median(spreads[m]):.0%}" for m in MODES) + " |")
    lines.append("| median least time | " + " | ".join(
        f"{np.median([min(run[i] for run in ms[m]) for i in range(a.genomes)]):.1f} ms" for m in MODES) + " |")
    Path(a.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
