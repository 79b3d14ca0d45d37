"""The ResNet space: basic or bottleneck units, depth per stage, widths, cardinality, SE, pre-activation, stride
placement.

The skeleton is torchvision's ResNet (He et al. 2016) as the zoo defines it (``nas.zoo.resnet``): a 7x7 stride-2
stem with a 3x3 max pool, four stages that halve the resolution from the second on, global pooling and the
classifier. A bottleneck's width follows
torchvision's rule ``mid = int(planes * width_per_group / 64) * groups``, which covers ResNeXt's cardinality
(Xie et al. 2017) and Wide ResNet's widening (Zagoruyko and Komodakis 2016). Contains resnet18 to resnet152 (v1.5
and v1), resnext50_32x4d, wide_resnet50_2, se_resnet50 and the pre-activation nets.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from nas import Block, Genome
from nas.network import section_cost
from nas.zoo.resnet import resnet_head, resnet_stage, resnet_stem

from . import register
from ._base import Config, Dim, Space, expand, outside, resolved

DEPTHS = ((1, 2, 3, 4), (1, 2, 3, 4, 6, 8), (1, 2, 3, 4, 6, 8, 12, 16, 23, 36), (1, 2, 3, 4))
"""Depth choices per stage; they hold resnet18 (2-2-2-2), 34/50 (3-4-6-3), 101 (3-4-23-3) and 152 (3-8-36-3)."""

BASES = (32, 48, 64, 80, 96)
CARDINALITY = tuple(f"{g}x{w}d" for ratio in (0.5, 1, 2, 4) for g in (1, 2, 4, 8, 16, 32, 64)
                    for w in (4, 8, 16, 32, 64, 128) if g * w == 64 * ratio)
"""A bottleneck's 3x3 convs as ``{groups}x{width_per_group}d`` (ResNeXt's notation), kept to the combinations that
make the 3x3 width 0.5, 1, 2 or 4 times the unit's planes: ResNet's 1x64d, ResNeXt's 32x4d, Wide ResNet's 1x128d
and their neighbours, ordered by that width and then by cardinality. Free groups and widths would reach 128x."""


@register
class ResNetSpace(Space):
    """Residual networks on torchvision's ResNet skeleton."""

    name = "resnet"
    doc = ("ResNet skeleton: basic/bottleneck, depth per stage, base width, groups x width per group, SE, "
           "pre-activation, stride on 1x1 or 3x3")
    seeds = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet50_v1", "resnet101_v1",
             "resnet152_v1", "resnext50_32x4d", "wide_resnet50_2", "se_resnet50", "preact_resnet18",
             "preact_resnet50")

    def __init__(self, input: tuple[int, int, int] | None = None, classes: int | None = None) -> None:
        super().__init__(input, classes)
        self._stages: dict[tuple[Any, ...], tuple[int, int, int]] = {}

    def _dimensions(self) -> Iterable[Dim]:
        yield Dim("block", ("basic", "bottleneck"), ordered=False, doc="residual unit")
        yield Dim("preact", (False, True), ordered=False, doc="pre-activation units (He et al. 2016b)")
        yield Dim("base", BASES, doc="channels of the first stage's 3x3 convs (64 in ResNet)")
        yield Dim("se", (0.0, 0.0625), doc="squeeze-and-excitation ratio (1/16 in SENet)")
        yield Dim("cardinality", CARDINALITY, ("block", "eq", "bottleneck"),
                  doc="groups x width per group of the 3x3 convs: 1x64d in ResNet, 32x4d in ResNeXt-50, 1x128d in "
                      "WRN-50-2")
        yield Dim("stride_on", ("1x1", "3x3"), ("block", "eq", "bottleneck"), doc="v1 strides the 1x1, v1.5 the 3x3")
        for i, depths in enumerate(DEPTHS):
            yield Dim(f"s{i}.depth", depths, doc="units in the stage")

    # ------------------------------------------------------------ decoding

    def _stage(self, config: Mapping[str, Any], i: int) -> tuple[Block, ...]:
        if config["block"] == "bottleneck":
            groups, width = _cardinality(config["cardinality"])
            return resnet_stage(i, "bottleneck", config[f"s{i}.depth"], config["base"], groups, width,
                                config["stride_on"], config["se"], config["preact"])
        return resnet_stage(i, "basic", config[f"s{i}.depth"], config["base"], se=config["se"], preact=config["preact"])

    def sections(self, config: Mapping[str, Any]):
        pre = config["preact"]
        return resnet_stem(pre), [self._stage(config, i) for i in range(len(DEPTHS))], resnet_head(pre)

    def counts(self, config: Mapping[str, Any]) -> tuple[int, int, int]:
        """The section-by-section cost with each stage's cost remembered (the sampler's hot path)."""
        unit = (config["block"], config["preact"], config["base"], config["se"], config.get("cardinality"),
                config.get("stride_on"))
        macs = params = acts = 0
        for i in range(-1, len(DEPTHS) + 1):  # -1: the stem, len(DEPTHS): the head
            key = (i, config[f"s{i}.depth"] if 0 <= i < len(DEPTHS) else 0, unit)
            cost = self._stages.get(key)
            if cost is None:
                cost = self._stages[key] = self._section(config, i)
            macs, params, acts = macs + cost[0], params + cost[1], acts + cost[2]
        return macs, params, acts

    def _section(self, config: Mapping[str, Any], i: int) -> tuple[int, int, int]:
        stem, stages, head = self.sections(config)
        shape, *_ = section_cost(stem, self.input, self.classes)
        if i == -1:
            _, p, m, a = section_cost(stem, self.input, self.classes)
            return m, p, a
        for stage in stages[:i]:  # the input of stage i (or of the head) does not depend on the depths
            shape, *_ = section_cost(stage[:1], shape, self.classes)
        _, p, m, a = section_cost(stages[i] if i < len(stages) else head, shape, self.classes)
        return m, p, a

    # ------------------------------------------------------------ encoding

    def encode(self, genome: Genome) -> Config:
        if len(genome.stages) != len(DEPTHS):
            raise outside(self.name, f"expected {len(DEPTHS)} stages of residual units")
        stages = [expand(s.blocks) for s in genome.stages]
        first = stages[0][0]
        if first.type not in ("basic", "bottleneck"):
            raise outside(self.name, f"stage 0 starts with a '{first.type}' block, not a residual unit")
        p = resolved(first)
        block = first.type
        planes = p["c"] // 4 if block == "bottleneck" else p["c"]
        config: Config = {"block": block, "preact": p["preact"], "base": planes, "se": p["se"]}
        if block == "bottleneck":
            mid = p["mid"] or p["c"] // 4
            groups = p["groups"]
            width = mid * 64 // (planes * groups)
            if mid * 64 != width * planes * groups or f"{groups}x{width}d" not in CARDINALITY:
                raise outside(self.name, f"a bottleneck of {groups} groups and {mid} 3x3 channels on {planes} "
                                         f"planes is none of the cardinalities {', '.join(CARDINALITY)}")
            config.update(cardinality=f"{groups}x{width}d", stride_on=p["stride_on"])
        for i, blocks in enumerate(stages):
            config[f"s{i}.depth"] = len(blocks)
        return config


def _cardinality(text: str) -> tuple[int, int]:
    groups, width = text[:-1].split("x")
    return int(groups), int(width)
