"""The DenseNet-BC space: growth rate, bottleneck width, compression and the depth of each of four dense blocks.

The skeleton is torchvision's DenseNet (Huang et al. 2017, Table 1) as the zoo defines it (``nas.zoo.dense``): a
7x7 stride-2 conv to 2 x growth channels and a 3x3 stride-2 max pool, four dense blocks of ``dense`` layers with a
transition (BN-ReLU-1x1 conv, compression, 2x2 average pool) after each of the first three, then BN, ReLU, pooling
and the classifier. Growth, bottleneck width and compression are shared by the whole network, as in the paper.
Contains densenet121, densenet161, densenet169 and densenet201.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from nas import Block, Genome
from nas.network import section_cost
from nas.zoo.dense import DENSENET_HEAD, densenet_stage, densenet_stem, densenet_transition

from . import register
from ._base import Config, Dim, Space, expand, outside, resolved

GROWTHS = (12, 16, 24, 32, 40, 48)
BN_SIZES = (2, 4, 0)
"""Bottleneck width as a multiple of growth, 0 = no 1x1 bottleneck (plain DenseNet layers). Not cost-ordered: a
layer without a bottleneck costs 9 x in x growth against (b x in + 9b x growth) x growth with one, so it is the
cheapest on a thin input and the costliest on a wide one. 2 comes first because it gives the cheapest member."""
COMPRESSIONS = (0.5, 0.75, 1.0)
DEPTHS = ((2, 4, 6, 8, 10, 12), (4, 6, 8, 12, 16, 24), (8, 12, 16, 24, 32, 36, 48, 64), (4, 8, 12, 16, 24, 32, 48))
"""Dense layers per block; DenseNet-121/161/169/201's 6-12-24-16, 6-12-36-24, 6-12-32-32, 6-12-48-32 lie inside."""

Costs = tuple[int, int, int]  # (MACs, params, activations)
Section = tuple[tuple[int, int, int], int, int, int]  # (output shape, MACs, params, activations)
Sections = tuple[tuple[Block, ...], list[tuple[Block, ...]], tuple[Block, ...]]  # (stem, stages, head)


@register
class DenseNetSpace(Space):
    """Densely connected networks on DenseNet-BC's four-block skeleton."""

    name = "densenet"
    doc = "DenseNet-BC skeleton: growth rate, bottleneck width, compression, depth of each of the four dense blocks"
    seeds = ("densenet121", "densenet161", "densenet169", "densenet201")

    def __init__(self, input: tuple[int, int, int] | None = None, classes: int | None = None) -> None:
        super().__init__(input, classes)
        self._lines: dict[tuple[int, int, int, int], tuple[Costs, Costs]] = {}  # (h, w, growth, bn_size) -> line
        self._transitions: dict[tuple[int, int, int, float], Section] = {}  # (c, h, w, compression) -> cost
        self._stems: dict[int, Section] = {}
        self._heads: dict[tuple[int, int, int], Costs] = {}

    def _dimensions(self) -> Iterable[Dim]:
        yield Dim("growth", GROWTHS, doc="channels each dense layer adds; the stem has twice as many")
        yield Dim("bn_size", BN_SIZES, ordered=False, doc="bottleneck width as a multiple of growth (0 = none)")
        yield Dim("compression", COMPRESSIONS, doc="a transition's output channels as a fraction of its input")
        for i, depths in enumerate(DEPTHS):
            yield Dim(f"b{i}.depth", depths, doc=f"dense layers in dense block {i + 1}")

    def sections(self, config: Mapping[str, Any]) -> Sections:
        g, bn, comp = config["growth"], config["bn_size"], config["compression"]
        last = len(DEPTHS) - 1
        stages = [densenet_stage(i == last, g, bn, config[f"b{i}.depth"], comp) for i in range(len(DEPTHS))]
        return densenet_stem(g), stages, DENSENET_HEAD

    def counts(self, config: Mapping[str, Any]) -> Costs:
        """The section-by-section cost from remembered pieces and per-layer slopes (the sampler's hot path)."""
        g, bn, comp = config["growth"], config["bn_size"], config["compression"]
        stem = self._stems.get(g)
        if stem is None:
            stem = self._stems[g] = self._section(densenet_stem(g), self.input)
        (c, h, w), macs, params, acts = stem
        last = len(DEPTHS) - 1
        for i in range(len(DEPTHS)):
            d = config[f"b{i}.depth"]
            line = self._lines.get((h, w, g, bn)) or self._line(h, w, g, bn)
            (m0, p0, a0), (m1, p1, a1) = line
            # d layers on inputs c, c + g, ..., c + (d - 1) g: d * cost(c) plus the slope times g d (d - 1) / 2
            x = d * c + g * d * (d - 1) // 2
            macs += d * m0 + m1 * x
            params += d * p0 + p1 * x
            acts += d * a0 + a1 * x
            c += d * g
            if i < last:
                t = self._transitions.get((c, h, w, comp))
                if t is None:
                    t = self._transitions[(c, h, w, comp)] = self._section(densenet_transition(comp), (c, h, w))
                (c, h, w), macs, params, acts = t[0], macs + t[1], params + t[2], acts + t[3]
        head = self._heads.get((c, h, w))
        if head is None:
            head = self._heads[(c, h, w)] = self._section(DENSENET_HEAD, (c, h, w))[1:]
        return macs + head[0], params + head[1], acts + head[2]

    def _line(self, h: int, w: int, growth: int, bn_size: int) -> tuple[Costs, Costs]:
        """A dense layer's cost on a c x h x w input as ``fixed + c * slope``: (fixed, slope), from the cost model.

        Every op that reads the input (its BN and ReLU, the first conv, the concatenation) is linear in its channels,
        which is what lets a whole dense block be costed in closed form; a third probe, at 256 channels, checks it.
        """
        layer = densenet_stage(True, growth, bn_size, 1, 1.0)  # one dense layer (a last block has no transition)
        one, two, far = (self._section(layer, (c, h, w))[1:] for c in (1, 2, 256))
        slope = tuple(y - x for x, y in zip(one, two))
        fixed = tuple(x - s for x, s in zip(one, slope))
        if far != tuple(f + 256 * s for f, s in zip(fixed, slope)):
            raise AssertionError("a dense layer's cost is no longer linear in its input channels; "
                                 "DenseNetSpace.cost must sum its layers one by one")
        line = self._lines[(h, w, growth, bn_size)] = (fixed, slope)
        return line

    def _section(self, records: tuple[Block, ...], shape: tuple[int, int, int]) -> Section:
        out, p, m, a = section_cost(records, shape, self.classes)
        return out, m, p, a

    def encode(self, genome: Genome) -> Config:
        stem = genome.stem
        if len(stem) != 2 or stem[0].type != "conv" or stem[1].type != "maxpool" or len(genome.stages) != len(DEPTHS):
            raise outside(self.name, f"expected a conv and max-pool stem and {len(DEPTHS)} dense blocks")
        shared: dict[str, set[Any]] = {"growth": set(), "bn_size": set(), "compression": set()}
        depths: Config = {}
        for i, stage in enumerate(genome.stages):
            blocks = expand(stage.blocks)
            last = i == len(DEPTHS) - 1
            dense = blocks if last else blocks[:-1]
            if not dense or any(b.type != "dense" for b in dense) or (not last and blocks[-1].type != "transition"):
                raise outside(self.name, f"stage {i} must hold dense layers{'' if last else ' and a transition'}")
            for b in dense:
                p = resolved(b)
                shared["growth"].add(p["growth"])
                shared["bn_size"].add(p["bn_size"])
            if not last:
                shared["compression"].add(resolved(blocks[-1])["compression"])
            depths[f"b{i}.depth"] = len(dense)
        config: Config = {}
        for name, values in shared.items():
            if len(values) > 1:
                raise outside(self.name, f"{name} varies ({', '.join(map(str, sorted(values)))}); "
                                         "the space shares one across the network")
            config[name] = values.pop()
        config.update(depths)
        for d in self.dimensions:
            if config[d.name] not in d.choices:
                raise outside(self.name, f"{d.name} = {config[d.name]!r} is not one of "
                                         f"{', '.join(map(str, d.choices))}")
        return {d.name: config[d.name] for d in self.dimensions}
