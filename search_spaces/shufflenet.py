"""The ShuffleNet v1 space: group count, width multiplier and the number of units in each of the three stages.

The skeleton is ShuffleNet v1's (Zhang et al. 2018, Table 1): a 3x3 stride-2 conv and a 3x3 stride-2 max pool,
three stages of ShuffleNet units (a stride-2 unit that concatenates an average-pooled shortcut, then stride-1
units; the very first 1x1 conv ungrouped), global pooling and the classifier. Channels follow the seeds exactly:
the stage widths of Table 1 for each group count, scaled by the width and rounded so the bottleneck divides
into the groups, and megvii's stem width. Contains shufflenet_v1_g1, _g2, _g3, _g4, _g8 and shufflenet_v1_g3
at 0.25x, 0.5x and 2x.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from nas import Block, Genome
from nas.network import section_cost
from nas.zoo.mobile import SHUFFLENET_V1_HEAD, shufflenet_v1_channels, shufflenet_v1_stage, shufflenet_v1_stem

from . import register
from ._base import Config, Dim, Space, expand, outside, resolved

GROUPS = (1, 2, 3, 4, 8)
"""Groups of the 1x1 convs. Not cost-ordered: Table 1 widens the stages as the groups grow to keep the MACs near
140M, so more groups mean fewer MACs at 1x but more parameters, and more MACs in the smallest networks. One group
gives both the cheapest member (in MACs, params and activations) and the member with the most MACs."""
WIDTHS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
"""Width multipliers; each gives a valid network, with channels distinct from its neighbours', for every group count."""
DEPTHS = (tuple(range(1, 9)), (2, 4, 6, 8, 10, 12, 14, 16), tuple(range(1, 9)))
"""Units per stage, the stride-2 unit included; ShuffleNet v1's 4-8-4 (``SHUFFLENET_V1_REPEATS``) lies inside."""

Costs = tuple[int, int, int]  # (MACs, params, activations)
Sections = tuple[tuple[Block, ...], list[tuple[Block, ...]], tuple[Block, ...]]  # (stem, stages, head)


@register
class ShuffleNetSpace(Space):
    """Channel-shuffle networks on ShuffleNet v1's three-stage skeleton."""

    name = "shufflenet"
    doc = "ShuffleNet v1 skeleton: groups of the 1x1 convs, width multiplier, units in each of the three stages"
    seeds = ("shufflenet_v1_g1", "shufflenet_v1_g2", "shufflenet_v1_g3", "shufflenet_v1_g4", "shufflenet_v1_g8",
             "shufflenet_v1_g3_050", "shufflenet_v1_g3_025", "shufflenet_v1_g3_200")
    proxy_width = 0.5  # at x0.35 the narrowest stride-2 units round to no more channels than their input

    def __init__(self, input: tuple[int, int, int] | None = None, classes: int | None = None) -> None:
        super().__init__(input, classes)
        # A stage's input is fixed by the groups and the width, so each stage's cost is remembered per depth.
        self._ends: dict[tuple[int, float], tuple[Costs, list[tuple[int, int, int]]]] = {}
        self._stages: dict[tuple[int, int, float, int], Costs] = {}

    def _dimensions(self) -> Iterable[Dim]:
        yield Dim("groups", GROUPS, ordered=False, doc="groups of the 1x1 convs (the stage widths follow Table 1)")
        yield Dim("width", WIDTHS, doc="width multiplier")
        for i, depths in enumerate(DEPTHS):
            yield Dim(f"s{i}.depth", depths, doc="units in the stage, the stride-2 unit included")

    def sections(self, config: Mapping[str, Any]) -> Sections:
        g, w = config["groups"], config["width"]
        stages = [shufflenet_v1_stage(i, g, w, config[f"s{i}.depth"]) for i in range(len(DEPTHS))]
        return shufflenet_v1_stem(g, w), stages, SHUFFLENET_V1_HEAD

    def counts(self, config: Mapping[str, Any]) -> Costs:
        """The section-by-section cost from remembered stem, head and per-stage costs (the sampler's hot path)."""
        g, w = config["groups"], config["width"]
        ends = self._ends.get((g, w)) or self._end_costs(g, w)
        (macs, params, acts), shapes = ends
        for i in range(len(DEPTHS)):
            key = (i, g, w, config[f"s{i}.depth"])
            cost = self._stages.get(key)
            if cost is None:
                _, p, m, a = section_cost(shufflenet_v1_stage(*key), shapes[i], self.classes)
                cost = self._stages[key] = (m, p, a)
            macs += cost[0]
            params += cost[1]
            acts += cost[2]
        return macs, params, acts

    def _end_costs(self, groups: int, width: float) -> tuple[Costs, list[tuple[int, int, int]]]:
        """The stem's and the head's cost together, and the input shape of each stage (which no depth changes)."""
        shape, p, m, a = section_cost(shufflenet_v1_stem(groups, width), self.input, self.classes)
        shapes = [shape]
        for i in range(len(DEPTHS)):
            shape = section_cost(shufflenet_v1_stage(i, groups, width, 1), shape, self.classes)[0]
            shapes.append(shape)
        _, p2, m2, a2 = section_cost(SHUFFLENET_V1_HEAD, shape, self.classes)
        ends = self._ends[(groups, width)] = ((m + m2, p + p2, a + a2), shapes)
        return ends

    def encode(self, genome: Genome) -> Config:
        stem = genome.stem
        if len(stem) != 2 or stem[0].type != "conv" or stem[1].type != "maxpool" or len(genome.stages) != len(DEPTHS):
            raise outside(self.name, f"expected a conv and max-pool stem and {len(DEPTHS)} stages of shuffle units")
        stages = [expand(s.blocks) for s in genome.stages]
        for i, blocks in enumerate(stages):
            if any(b.type != "shuffle" for b in blocks):
                raise outside(self.name, f"stage {i} must hold shuffle units only")
        first = resolved(stages[0][0])
        g = first["groups"]
        found_groups = {resolved(b)["groups"] for blocks in stages for b in blocks}
        if len(found_groups) > 1:
            raise outside(self.name, f"groups vary ({', '.join(map(str, sorted(found_groups)))}); "
                                     "the space shares one across the network")
        if g not in GROUPS:
            raise outside(self.name, f"groups = {g} is not one of {', '.join(map(str, GROUPS))}")
        found = (resolved(stem[0])["c"], first["c"])
        widths = [w for w in WIDTHS if shufflenet_v1_channels(g, w) == found]
        if not widths:
            raise outside(self.name, f"stem and first-stage channels {found[0]} and {found[1]} match no width "
                                     f"multiplier in {WIDTHS} at {g} groups")
        config: Config = {"groups": g, "width": widths[0]}
        for i, blocks in enumerate(stages):
            if len(blocks) not in DEPTHS[i]:
                raise outside(self.name, f"stage {i} has {len(blocks)} units, not one of "
                                         f"{', '.join(map(str, DEPTHS[i]))}")
            config[f"s{i}.depth"] = len(blocks)
        return config
