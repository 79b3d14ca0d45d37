"""Per space: how many kernel, SE and activation dimensions are functionally dead at the proxy, with every stride
kept (the policy before issue 11) and with the space's map floor (strides dropped below it).

Run: python benchmarks/proxy_policy.py [--samples 16] [--out benchmarks/proxy_policy.md]

A dimension is dead when every one of its choices gives the same proxy network up to initialization (the same
ops, shapes and kernel taps that ever meet a pixel rather than padding) on every sampled config where it is
active: the proxy cannot score that choice. Checked on the cost model's shapes (``estimators._adapt.signature``);
nothing is trained. The proxy input is Fashion-MNIST's 1x28x28 at the search's proxy width (the space's \
`proxy_width`: x0.35, x0.5 for shufflenet); proxy MACs are the
median over the sampled configs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nas  # noqa: E402
import search_spaces  # noqa: E402
from estimators._adapt import dead_dimensions, dimension_kind, maps, proxy_genome  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    shape = (1, 28, 28)
    lines = ["# Proxy policy: dead dimensions per space", "",
             f"`python benchmarks/proxy_policy.py --samples {a.samples}`", "",
             "Dead / checked kernel, SE and activation dimensions at the 1x28x28 proxy, at each space's proxy width. "
             "'every stride kept' is the policy before the map floor; 'floor' drops each stride that would take a "
             "map below the space's `proxy_map`.", "",
             "| space | floor | kernel: every stride kept | kernel: floor | SE: kept | SE: floor | activation: kept | "
             "activation: floor | smallest map, kept / floor | median proxy MACs, kept / floor |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for name in search_spaces.names():
        space = search_spaces.get(name)
        cells = {}
        for floor in (1, space.proxy_map):
            dead = dead_dimensions(space, shape, 10, width=space.proxy_width, samples=a.samples, floor=floor)
            for kind in ("kernel", "se", "activation"):
                ds = [v for d, v in dead.items() if dimension_kind(d) == kind]
                cells[(kind, floor)] = f"{sum(ds)} / {len(ds)}" if ds else "-"
        rng = np.random.default_rng(0)
        gs = [space.sample(rng) for _ in range(a.samples)]
        small, macs = [], []
        for floor in (1, space.proxy_map):
            pgs = [proxy_genome(g, shape, 10, width=space.proxy_width, floor=floor) for g in gs]
            small.append(min(min(maps(p), default=28) for p in pgs))
            macs.append(statistics.median(nas.cost(p).macs for p in pgs))
        f = space.proxy_map
        lines.append(f"| {name} | {f}x{f} | {cells[('kernel', 1)]} | {cells[('kernel', f)]} | {cells[('se', 1)]} | "
                     f"{cells[('se', f)]} | {cells[('activation', 1)]} | {cells[('activation', f)]} | "
                     f"{small[0]} / {small[1]} | {macs[0] / 1e6:.2f}M / {macs[1] / 1e6:.2f}M |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
