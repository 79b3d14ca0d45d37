"""The MobileNetV2-style space: per stage depth and activation, per block kernel, expansion and SE; a width multiplier.

The skeleton is MobileNetV2's (Sandler et al. 2018, Table 2) as the zoo defines it (``nas.zoo.mobile``): a 3x3
stride-2 stem, seven stages of inverted residuals with Table 2's channels and strides, a 1x1 conv to 1280
channels, pooling and the classifier. Channels follow the width multiplier with torchvision's rounding to
multiples of 8. Contains mobilenet_v2 and mobilenet_v2_140.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable, Mapping

import nas
from nas import Genome
from nas.cost import human
from nas.network import section_cost
from nas.zoo.mobile import MOBILENET_V2, mobilenet_v2_genome, mobilenet_v2_head, mobilenet_v2_stem, mobilenet_v2_unit

from . import register
from ._base import Budget, Config, Dim, Space, expand, outside, resolved

MAX_DEPTHS = (2, 4, 4, 5, 4, 4, 2)
"""Largest depth per stage of ``MOBILENET_V2``; MobileNetV2's depths 1-2-3-4-3-3-1 lie inside."""

WIDTHS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
KERNELS = (3, 5, 7)
EXPANSIONS = (1, 3, 4, 6)
SE = (0.0, 0.25)
ACTS = ("relu6", "hardswish")

Costs = tuple[int, int, int]  # (MACs, params, activations)


@register
class MobileNetSpace(Space):
    """Inverted-residual networks on MobileNetV2's skeleton."""

    name = "mobilenet"
    doc = "MobileNetV2 skeleton: per-stage depth and activation, per-block kernel/expansion/SE, width multiplier"
    seeds = ("mobilenet_v2", "mobilenet_v2_140")
    proxy_map = max(KERNELS) // 2 + 1  # 4: a 7x7 sees all its taps

    def __init__(self, input: tuple[int, int, int] | None = None, classes: int | None = None) -> None:
        super().__init__(input, classes)
        self._blocks: dict[tuple[Any, ...], Costs] = {}
        self._ends: dict[float, tuple[Costs, list[tuple[int, int, int]]]] = {}
        self._names = [(f"s{i}.depth", f"s{i}.act", [(f"s{i}.b{j}.k", f"s{i}.b{j}.e", f"s{i}.b{j}.se")
                                                      for j in range(most)]) for i, most in enumerate(MAX_DEPTHS)]

    def _dimensions(self) -> Iterable[Dim]:
        yield Dim("width", WIDTHS, doc="width multiplier")
        for i, most in enumerate(MAX_DEPTHS):
            yield Dim(f"s{i}.depth", tuple(range(1, most + 1)), doc="blocks in the stage")
            yield Dim(f"s{i}.act", ACTS, ordered=False, doc="activation of the stage's blocks")
            for j in range(most):
                when = None if j == 0 else (f"s{i}.depth", "gt", j)
                yield Dim(f"s{i}.b{j}.k", KERNELS, when)
                yield Dim(f"s{i}.b{j}.e", EXPANSIONS, when)
                yield Dim(f"s{i}.b{j}.se", SE, when)

    def sections(self, config: Mapping[str, Any]):
        w = config["width"]
        stages = []
        for i, (depth, act, names) in enumerate(self._names):
            # Equal neighbours fold into one record with a repeat count, as ``runs`` folds them (only the first
            # unit has a stride, which its run keeps), compared by their choices: the sampler's hot path.
            folded: list[list[Any]] = []
            for k, e, se in names[:config[depth]]:
                v = (config[k], config[e], config[se])
                if folded and folded[-1][0] == v:
                    folded[-1][1] += 1
                else:
                    folded.append([v, 1])
            a = config[act]
            stages.append(tuple(mobilenet_v2_unit(i, w, j == 0, *v, a, n) for j, (v, n) in enumerate(folded)))
        return mobilenet_v2_stem(w), stages, mobilenet_v2_head(w)

    def counts(self, config: Mapping[str, Any]) -> Costs:
        """The section-by-section cost, added up from remembered per-block costs (the sampler's hot path)."""
        w = config["width"]
        (macs, params, acts), _ = self._ends.get(w) or self._end_costs(w)
        blocks = self._blocks
        for i, (depth, act, names) in enumerate(self._names):
            a = config[act]
            for j in range(config[depth]):
                k, e, se = names[j]
                key = (i, w, j == 0, config[k], config[e], config[se], a)
                cost = blocks.get(key)
                if cost is None:
                    cost = blocks[key] = self._block(key)
                macs += cost[0]
                params += cost[1]
                acts += cost[2]
        return macs, params, acts

    def _end_costs(self, w: float) -> tuple[Costs, list[tuple[int, int, int]]]:
        """Stem and head cost at width ``w`` and each stage's input shape (the last: the head's), traced by the core.

        A stage's output shape follows from its first unit alone (channels and stride), whatever its depth and
        the kernel, expansion and SE of its units, so the Table 2 unit stands for all of them.
        """
        shape, p, m, a = section_cost(mobilenet_v2_stem(w), self.input, self.classes)
        shapes = [shape]
        for i in range(len(MOBILENET_V2)):
            shape = section_cost((mobilenet_v2_unit(i, w, True),), shape, self.classes)[0]
            shapes.append(shape)
        _, p2, m2, a2 = section_cost(mobilenet_v2_head(w), shape, self.classes)
        ends = self._ends[w] = ((m + m2, p + p2, a + a2), shapes)
        return ends

    def _block(self, key: tuple[Any, ...]) -> Costs:
        """One unit's cost by the core's cost model, on its stage's input (first unit) or output shape."""
        i, w, first = key[:3]
        shapes = (self._ends.get(w) or self._end_costs(w))[1]
        _, p, m, a = section_cost((mobilenet_v2_unit(*key),), shapes[i] if first else shapes[i + 1], self.classes)
        return m, p, a

    def baseline(self, budget: Budget | int | str | None) -> tuple[str, Genome, int] | None:
        """MobileNetV2 scaled as its paper scales it: the largest width multiplier, in steps of 0.01, whose network
        fits the budget at this space's input (``mobilenet_v2 x0.98 (300M)``); None below the smallest.

        >>> MobileNetSpace().baseline("300M")[0]
        'mobilenet_v2 x0.98 (300M)'
        """
        budget = Budget.of(budget)

        def at(hundredths: int) -> tuple[Genome, int]:
            g = mobilenet_v2_genome(hundredths / 100).with_input(self.input, self.classes)
            c = nas.cost(g)
            cost = (c.macs, c.params, c.activations)
            if budget.latency_ms is not None and self.latency is not None:
                cost += (self.latency.predict(g),)
            return g, c.macs if budget.fits(cost) else -1

        lo, hi = 1, 400  # MACs grow with the multiplier: the largest that fits, by bisection
        if at(lo)[1] < 0:
            return None
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if at(mid)[1] >= 0 else (lo, mid - 1)
        g, macs = at(lo)
        return f"mobilenet_v2 x{lo / 100:.2f} ({human(macs)})", replace(g, name=f"mobilenet_v2_x{lo:03d}"), macs

    def encode(self, genome: Genome) -> Config:
        if len(genome.stem) != 1 or genome.stem[0].type != "conv" or len(genome.stages) != len(MOBILENET_V2):
            raise outside(self.name, f"expected a conv stem and {len(MOBILENET_V2)} stages of inverted residuals")
        stem_c = resolved(genome.stem[0])["c"]
        last = resolved(genome.stages[-1].blocks[0])["c"]
        widths = [w for w in WIDTHS if mobilenet_v2_stem(w)[0].params["c"] == stem_c and
                  mobilenet_v2_unit(len(MOBILENET_V2) - 1, w, True).params["c"] == last]
        if not widths:
            raise outside(self.name, f"stem width {stem_c} matches no width multiplier in {WIDTHS}")
        config: Config = {"width": widths[0]}
        for i, stage in enumerate(genome.stages):
            blocks = expand(stage.blocks)
            if any(b.type != "inverted" for b in blocks) or not 1 <= len(blocks) <= MAX_DEPTHS[i]:
                raise outside(self.name, f"stage {i} needs 1 to {MAX_DEPTHS[i]} inverted residual blocks")
            config[f"s{i}.depth"] = len(blocks)
            config[f"s{i}.act"] = resolved(blocks[0])["act"]
            for j, b in enumerate(blocks):
                p = resolved(b)
                config.update({f"s{i}.b{j}.k": p["k"], f"s{i}.b{j}.e": p["e"], f"s{i}.b{j}.se": p["se"]})
        return config
