"""The MobileNetV2-style space: per stage depth and activation, per block kernel, expansion and SE; a width multiplier.

The skeleton is MobileNetV2's (Sandler et al. 2018, Table 2): a 3x3 stride-2 stem, seven stages of inverted
residuals with fixed channels and strides, a 1x1 conv to 1280 channels, pooling and the classifier. Channels
follow the width multiplier with torchvision's rounding to multiples of 8. Contains mobilenet_v2 and
mobilenet_v2_140.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable, Mapping

from nas import Block, Genome, make_divisible
from nas.network import section_cost

from . import register
from ._base import Config, Dim, Space, expand, outside, resolved, runs

STAGES = [(16, 1, 2), (24, 2, 4), (32, 2, 4), (64, 2, 5), (96, 1, 4), (160, 2, 4), (320, 1, 2)]
"""(channels, stride, largest depth) per stage; MobileNetV2's depths 1-2-3-4-3-3-1 lie inside."""

WIDTHS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
KERNELS = (3, 5, 7)
EXPANSIONS = (1, 3, 4, 6)
SE = (0.0, 0.25)
ACTS = ("relu6", "hardswish")


@register
class MobileNetSpace(Space):
    """Inverted-residual networks on MobileNetV2's skeleton."""

    name = "mobilenet"
    doc = "MobileNetV2 skeleton: per-stage depth and activation, per-block kernel/expansion/SE, width multiplier"
    seeds = ("mobilenet_v2", "mobilenet_v2_140")
    proxy_map = max(KERNELS) // 2 + 1  # 4: a 7x7 sees all its taps

    def __init__(self, input: tuple[int, int, int] | None = None, classes: int | None = None) -> None:
        super().__init__(input, classes)
        self._blocks: dict[tuple[Any, ...], tuple[int, int, int]] = {}
        self._stem_head: dict[float, tuple[int, int, int]] = {}
        self._records: dict[Any, Any] = {}  # records are immutable: each built once (stem and head by width)
        self._names = [(f"s{i}.depth", f"s{i}.act", [(f"s{i}.b{j}.k", f"s{i}.b{j}.e", f"s{i}.b{j}.se")
                                                      for j in range(most)]) for i, (_, _, most) in enumerate(STAGES)]

    def _dimensions(self) -> Iterable[Dim]:
        yield Dim("width", WIDTHS, doc="width multiplier")
        for i, (_, _, most) in enumerate(STAGES):
            yield Dim(f"s{i}.depth", tuple(range(1, most + 1)), doc="blocks in the stage")
            yield Dim(f"s{i}.act", ACTS, ordered=False, doc="activation of the stage's blocks")
            for j in range(most):
                when = None if j == 0 else (f"s{i}.depth", "gt", j)
                yield Dim(f"s{i}.b{j}.k", KERNELS, when)
                yield Dim(f"s{i}.b{j}.e", EXPANSIONS, when)
                yield Dim(f"s{i}.b{j}.se", SE, when)

    def sections(self, config: Mapping[str, Any]):
        w = config["width"]
        ends = self._records.get(w)
        if ends is None:
            ends = self._records[w] = (
                (Block.of("conv", c=make_divisible(32 * w), k=3, s=2, act="relu6"),),
                (Block.of("conv", c=make_divisible(1280 * max(1.0, w)), k=1, act="relu6"), Block.of("gap"),
                 Block.of("dropout", p=0.2), Block.of("linear")))
        stem, head = ends
        stages = []
        for i, (depth, act, names) in enumerate(self._names):
            a = config[act]
            blocks = [self._record(i, j == 0, w, config[k], config[e], config[se], a)
                      for j, (k, e, se) in enumerate(names[:config[depth]])]
            stages.append(runs(blocks))
        return stem, stages, head

    def cost(self, config: Mapping[str, Any]) -> tuple[int, int, int]:
        """The section-by-section cost, added up from remembered per-block costs (the sampler's hot path)."""
        w = config["width"]
        macs, params, acts = self._ends(w)
        blocks = self._blocks
        for i, (depth, act, names) in enumerate(self._names):
            a = config[act]
            for j in range(config[depth]):
                k, e, se = names[j]
                key = (i, j == 0, w, config[k], config[e], config[se], a)
                cost = blocks.get(key)
                if cost is None:
                    cost = blocks[key] = self._block(*key)
                macs += cost[0]
                params += cost[1]
                acts += cost[2]
        return macs, params, acts

    def _ends(self, w: float) -> tuple[int, int, int]:
        if w not in self._stem_head:
            probe = {"width": w, **{f"s{i}.depth": 0 for i in range(len(STAGES))}, **{f"s{i}.act": "relu6" for i in range(len(STAGES))}}
            stem, _, head = self.sections(probe)
            shape, p1, m1, a1 = section_cost(stem, self.input, self.classes)
            c = make_divisible(STAGES[-1][0] * w)
            shape = (c, *self._shapes(w)[-1][1:])
            _, p2, m2, a2 = section_cost(head, shape, self.classes)
            self._stem_head[w] = (m1 + m2, p1 + p2, a1 + a2)
        return self._stem_head[w]

    def _shapes(self, w: float) -> list[tuple[int, int, int]]:
        """Input shape of each stage, and the last stage's output shape, at width ``w``."""
        _, h, wd = self.input
        h, wd = (h - 1) // 2 + 1, (wd - 1) // 2 + 1  # the stride-2 stem
        shapes = [(make_divisible(32 * w), h, wd)]
        for c, s, _ in STAGES:
            h, wd = (h - 1) // s + 1, (wd - 1) // s + 1
            shapes.append((make_divisible(c * w), h, wd))
        return shapes

    @lru_cache(maxsize=4096)
    def _record(self, i: int, first: bool, w: float, k: int, e: float, se: float, act: str) -> Block:
        """The inverted-residual record of block ``first``-or-later in stage ``i``."""
        key = (i, first, w, k, e, se, act)
        record = self._records.get(key)
        if record is None:
            c, s, _ = STAGES[i]
            record = self._records[key] = Block.of(
                "inverted", c=make_divisible(c * w), s=s if first else 1, k=k, e=e, act=act, se=se,
                se_gate="hardsigmoid" if se and act == "hardswish" else "sigmoid")
        return record

    def _block(self, i: int, first: bool, w: float, k: int, e: float, se: float, act: str) -> tuple[int, int, int]:
        shapes = self._shapes(w)
        shape = shapes[i] if first else shapes[i + 1]
        _, p, m, a = section_cost((self._record(i, first, w, k, e, se, act),), shape, self.classes)
        return m, p, a

    def encode(self, genome: Genome) -> Config:
        if len(genome.stem) != 1 or genome.stem[0].type != "conv" or len(genome.stages) != len(STAGES):
            raise outside(self.name, f"expected a conv stem and {len(STAGES)} stages of inverted residuals")
        stem_c = resolved(genome.stem[0])["c"]
        widths = [w for w in WIDTHS if make_divisible(32 * w) == stem_c and
                  make_divisible(STAGES[-1][0] * w) == resolved(genome.stages[-1].blocks[0])["c"]]
        if not widths:
            raise outside(self.name, f"stem width {stem_c} matches no width multiplier in {WIDTHS}")
        config: Config = {"width": widths[0]}
        for i, stage in enumerate(genome.stages):
            blocks = expand(stage.blocks)
            if any(b.type != "inverted" for b in blocks) or not 1 <= len(blocks) <= STAGES[i][2]:
                raise outside(self.name, f"stage {i} needs 1 to {STAGES[i][2]} inverted residual blocks")
            config[f"s{i}.depth"] = len(blocks)
            config[f"s{i}.act"] = resolved(blocks[0])["act"]
            for j, b in enumerate(blocks):
                p = resolved(b)
                config.update({f"s{i}.b{j}.k": p["k"], f"s{i}.b{j}.e": p["e"], f"s{i}.b{j}.se": p["se"]})
        return config
