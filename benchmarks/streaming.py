"""Peak memory and images per second of an image folder read whole into memory or streamed from disk.

Run: python benchmarks/streaming.py [--images 20000] [--side 96] [--resolution 32] [--out benchmarks/streaming.md]

A folder of ``--images`` JPEG files (``--side`` pixels square, 10 classes, random tinted noise; made in a temporary
directory, not timed) is read by ``imagefolder`` the way a trial reads it, each mode in a fresh process:

- in memory: the folder read whole at 64x64 when the data set loads, as ``imagefolder`` did before it streamed
  (what a data set that is not streamed holds in the driver and in every worker); its seconds are the load's;
- streamed, 0 / 1 / 2 workers: one epoch of ``Stream.batches`` over the training part in a shuffled order, batches
  of 32, decoded by that many DataLoader processes (0: in the trial's own process);
- training, streamed (2 workers) and in memory: one epoch of ``proxy_train`` of a small network (LeNet-5 at
  width 0.5) at the proxy resolution, one CPU thread; seconds are its optimizer steps (``train_seconds``).

Peak memory is the process's maximum resident set (``ru_maxrss``) and, apart, the largest of its DataLoader worker
processes; ``baseline`` is the process after importing torch and the data code, before reading any image. The
scan of a streamed folder (listing the files, opening each header, the per-channel statistics from 512 images)
runs once per process and is reported on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from estimators.data import DataSet, ImageFolder, Source  # noqa: E402 - after the path
from estimators.files import read_batches  # noqa: E402

MODES = ("in memory", "streamed, 0 workers", "streamed, 1 worker", "streamed, 2 workers",
         "training, streamed", "training, in memory")


def make_folder(root: Path, n: int, side: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(10):
        (root / f"class{c}").mkdir(parents=True)
    base = rng.random((10, 1, 1, 3)) * 160
    for i in range(n):
        c = i % 10
        pixels = (base[c] + rng.random((side, side, 3)) * 90).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / f"class{c}" / f"{i:06d}.jpg", quality=90)


class InMemoryFolder(DataSet):
    """The same folder read whole into memory at 64x64 when the data set loads (what ``imagefolder`` did before it
    streamed): the in-memory rows' data set."""

    name, directory = "imagefolder in memory", "required"

    def read(self, data_dir):
        src = ImageFolder().read(data_dir)
        n = len(src.x)
        x = torch.cat(list(read_batches(src.x, 64, [range(i, min(i + 256, n)) for i in range(0, n, 256)])))
        return Source(x.numpy(), src.y, src.class_names)


def measure(mode: str, folder: str, resolution: int) -> dict:
    """One mode in this (fresh) process."""
    torch.set_num_threads(1)
    import estimators
    import nas
    from estimators.data import load_data, tensors

    name = "benchmarks.streaming:InMemoryFolder" if mode.endswith("in memory") else "imagefolder"
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    ds = load_data(name, folder)
    scan = time.perf_counter() - t
    data = tensors(ds, resolution)
    n = len(data.y_train)
    t = time.perf_counter()
    if mode == "in memory":  # the reading happened in load_data: time it, and the resize to the resolution
        images, seconds = len(ds.y_train) + len(ds.y_val) + len(ds.y_test), scan
    elif mode.startswith("streamed"):
        workers = int(mode.split(", ")[1].split()[0])
        order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
        images = sum(len(xb) for xb, _ in replace(data, workers=workers).batches("train", order, 32))
        seconds = time.perf_counter() - t
    else:
        r = estimators.proxy_train(nas.seed("lenet5"), data=name, data_dir=folder, epochs=1, resolution=resolution,
                                   width=0.5)
        assert r["status"] == "ok", r.get("error")
        images, seconds = r["train_images"], r["train_seconds"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"mode": mode, "images": images, "seconds": seconds, "per_second": images / seconds, "scan": scan,
            "baseline_mb": base, "peak_mb": peak, "worker_mb": workers_peak, "train": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--side", type=int, default=96)
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "streaming.md"))
    ap.add_argument("--one", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(measure(a.one[0], a.one[1], a.resolution)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        t = time.perf_counter()
        make_folder(folder, a.images, a.side)
        made = time.perf_counter() - t
        size = sum(f.stat().st_size for f in folder.rglob("*.jpg")) / 2**20
        print(f"made {a.images} images ({size:.0f} MB) in {made:.0f} s", flush=True)
        for mode in MODES:
            out = subprocess.run([sys.executable, __file__, "--resolution", str(a.resolution), "--one", mode,
                                  str(folder)], capture_output=True, text=True, check=True,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(row, flush=True)
            rows.append(row)
    lines = [
        f"# An image folder in memory or streamed ({a.images:,} images)",
        "",
        f"`python benchmarks/streaming.py --images {a.images} --side {a.side} --resolution {a.resolution}` on "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; {date.today()}. "
        f"{a.images:,} JPEGs of {a.side}x{a.side} ({size:.0f} MB on disk), 10 classes; read at the proxy resolution "
        f"{a.resolution}x{a.resolution}; {rows[0]['train']:,} training images. Each row is one fresh process, one "
        "run (see the script's docstring for what each mode does).",
        "",
        "| mode | images | seconds | images per second | peak memory | of which before reading | largest worker "
        "process |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        worker = f"{r['worker_mb']:.0f} MB" if "0 workers" not in r["mode"] else "-"
        lines.append(f"| {r['mode']} | {r['images']:,} | {r['seconds']:.1f} | {r['per_second']:,.0f} | "
                     f"{r['peak_mb']:.0f} MB | {r['baseline_mb']:.0f} MB | {worker} |")
    scans = sorted(r["scan"] for r in rows if not r["mode"].endswith("in memory"))
    lines += ["", f"The scan of the folder (file list, every header opened, statistics from 512 images) took "
              f"{scans[len(scans) // 2]:.1f} s (median of the {len(rows)} processes; {scans[0]:.1f}-{scans[-1]:.1f})."]
    Path(a.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
