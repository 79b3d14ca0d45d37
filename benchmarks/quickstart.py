"""The README's first command, run and timed: `nas search --space mobilenet --budget 300M` in a temporary directory.

Run: python benchmarks/quickstart.py [--out benchmarks/quickstart.md]

Writes the wall time, the search's and the verdict's share of it, and the run's closing lines (the verdict), so
that the README's quick-start figures come from a committed record. Use a quiet machine: every core is used. The
command runs with a temporary HOME, so that the local Ray's token file lands there and not in the user's ~/.ray.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    nas = Path(sys.executable).parent / "nas"
    with tempfile.TemporaryDirectory() as tmp:
        t = time.time()
        p = subprocess.run([str(nas), "search", "--space", "mobilenet", "--budget", "300M", "--out",
                            f"{tmp}/run"], capture_output=True, text=True, cwd=tmp,
                           env={**os.environ, "HOME": tmp})
        wall = time.time() - t
    text = render(p.stdout, wall, p.returncode)
    print(text)
    if a.out:
        a.out.write_text(text)


def render(log: str, wall: float, rc: int) -> str:
    lines = log.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("verdict: retraining")), len(lines))
    tail = [l for l in lines[start:] if not l.startswith("[verdict")]
    return "\n".join([
        "# Quick start, measured", "",
        "`nas search --space mobilenet --budget 300M` (the README's first command, install excluded)", "",
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; exit status {rc}; "
        f"wall time {wall / 60:.1f} minutes.", "",
        "First lines and closing lines of its output:", "", "```", *lines[:3], "...", *tail, "```", ""])


if __name__ == "__main__":
    main()
