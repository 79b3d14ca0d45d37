"""How fast the analytic cost model is against building the model and counting with hooks (and ptflops, fvcore).

Run: python benchmarks/cost_speed.py [--repeats N] [--out benchmarks/cost_speed.md]
Target: analytic cost of a ResNet-50-sized genome under 1 ms, at least 1000x faster than build-and-count.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

import nas
from nas.builder import build, count_params, measure
from nas.network import _block_cost


def _time(fn: Callable[[], object], repeats: int, setup: Callable[[], None] | None = None) -> float:
    """Median seconds of ``repeats`` calls (``setup`` runs before each and is not timed)."""
    times = []
    for _ in range(repeats):
        if setup:
            setup()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _ptflops(g: nas.Genome) -> Callable[[], object] | None:
    try:
        from ptflops import get_model_complexity_info
    except ImportError:
        return None
    return lambda: get_model_complexity_info(build(g).eval(), tuple(g.input), as_strings=False,
                                             print_per_layer_stat=False, backend="pytorch")


def _fvcore(g: nas.Genome) -> Callable[[], object] | None:
    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError:
        return None

    def run() -> object:
        f = FlopCountAnalysis(build(g).eval(), torch.zeros(1, *g.input))
        f.unsupported_ops_warnings(False)
        f.uncalled_modules_warnings(False)
        return f.total()

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=200, help="repeats of the analytic timings (default 200)")
    ap.add_argument("--model-repeats", type=int, default=3, help="repeats of the build-and-count timings")
    ap.add_argument("--out", type=Path, help="also write the table as Markdown to this file")
    a = ap.parse_args()
    torch.set_num_threads(2)

    rows = []
    for name in ("resnet50", "mobilenet_v2"):
        g = nas.seed(name)
        c = nas.cost(g)
        model = build(g)
        assert (count_params(model), measure(model, g.input)[0]) == (c.params, c.macs)
        cold = _time(lambda: nas.cost(g), a.repeats, setup=_block_cost.cache_clear)
        warm = _time(lambda: nas.cost(g), a.repeats)
        ops = _time(lambda: nas.cost(g, level="op"), a.repeats)
        hooks = _time(lambda: measure(build(g), g.input), a.model_repeats)
        row = {"genome": f"{name} ({c.macs / 1e9:.2f} GMACs)", "cold": cold, "warm": warm, "ops": ops,
               "hooks": hooks}
        for tool, fn in (("ptflops", _ptflops(g)), ("fvcore", _fvcore(g))):
            row[tool] = _time(fn, a.model_repeats) if fn else None
        rows.append(row)

    def ms(s: float | None) -> str:
        return "n/a" if s is None else f"{s * 1e3:.3f}"

    head = ["genome", "analytic, cold (ms)", "analytic, warm (ms)", "per-op trace (ms)", "build + hooks (ms)",
            "ptflops (ms)", "fvcore (ms)", "hooks / cold"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([r["genome"], ms(r["cold"]), ms(r["warm"]), ms(r["ops"]), ms(r["hooks"]),
                                         ms(r["ptflops"]), ms(r["fvcore"]), f"{r['hooks'] / r['cold']:,.0f}x"])
                     + " |")
    info = (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
            f"torch {torch.__version__}, Python {platform.python_version()}; median of {a.repeats} analytic and "
            f"{a.model_repeats} model runs")
    text = "\n".join(lines) + f"\n\n{info}\n"
    print(text)
    if a.out:
        a.out.write_text(
            "# Cost model speed\n\n`python benchmarks/cost_speed.py --out benchmarks/cost_speed.md`\n\n"
            "cold: the per-block cache cleared before each call (a genome never seen); warm: the blocks already "
            "costed once, as in a search that keeps revisiting them. build + hooks: build the torch model and count "
            "conv + linear MACs with forward hooks at batch 1 (the test oracle). ptflops and fvcore also build the "
            "model; they count other ops too, so their totals differ from the MAC convention here.\n\n" + text)


if __name__ == "__main__":
    main()
