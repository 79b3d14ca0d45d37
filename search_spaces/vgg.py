"""The VGG space: per stage depth, width and per-conv kernel; the normalization (none, LRN or BN) for all.

The skeleton is VGG's (Simonyan & Zisserman 2015, Table 1) as the zoo defines it (``nas.zoo.classic``): five stages
of plain conv-ReLU layers with "same" padding, each closed by a 2x2/2 max pool, then torchvision's classifier
(flatten, FC 4096, ReLU, dropout, FC 4096, ReLU, dropout, FC to the classes), which stays fixed. Each stage has 1
to 4 convs of one width, 0.25x to 1x of the 64-128-256-512-512 plan, and each conv a 1x1, 3x3 or 5x5 kernel.
``norm`` is ``none`` (conv biases, the paper), ``lrn`` (config A-LRN: Krizhevsky's LRN after the first conv) or
``bn`` (batch norm after every conv, the convs keeping their bias as in torchvision's ``vgg*_bn``). Contains
configs A to E: vgg11, vgg11_bn, vgg_a_lrn, vgg13, vgg_c (its 1x1 convs), vgg16 and vgg19.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Callable, Iterable, Mapping

from nas import Block, Genome
from nas.network import section_cost
from nas.zoo.classic import VGG_CLASSIFIER, VGG_NORMS, VGG_PLAN, VGG_POOL, vgg_stage

from . import register
from ._base import Config, Dim, Space, expand, outside, resolved

SCALES = (0.25, 0.5, 0.75, 1.0)
DEPTHS = (1, 2, 3, 4)  # configs A-E use 1 to 4 convs per stage
KERNELS = (1, 3, 5)


def _reader(names: list[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function reading ``names`` from a config as a tuple (``itemgetter`` returns a bare value for one name)."""
    get = itemgetter(*names)
    return get if len(names) > 1 else lambda config: (get(config),)


@register
class VGGSpace(Space):
    """Plain conv stacks on VGG's five-stage skeleton."""

    name = "vgg"
    doc = "VGG skeleton (Table 1): per-stage depth 1-4 and width, per-conv kernel 1/3/5; norm none, LRN or BN"
    seeds = ("vgg11", "vgg11_bn", "vgg_a_lrn", "vgg13", "vgg_c", "vgg16", "vgg19")
    proxy_map = max(KERNELS) // 2 + 1  # 3: a 5x5 sees all its taps

    def __init__(self, input: tuple[int, int, int] | None = None, classes: int | None = None) -> None:
        super().__init__(input, classes)
        # per stage: its depth and width dims, and a reader of its kernels (a tuple) for each depth
        kernels = [[f"s{i}.b{j}.k" for j in range(DEPTHS[-1])] for i in range(len(VGG_PLAN))]
        self._stage_dims = [(f"s{i}.depth", f"s{i}.width", {d: _reader(names[:d]) for d in DEPTHS})
                            for i, names in enumerate(kernels)]
        self._costs: dict[tuple[Any, ...], tuple[int, int, int]] = {}
        shape = self.input
        self._inputs: list[tuple[int, ...]] = []  # each stage's input height and width (its convs keep them)
        for _ in VGG_PLAN:
            self._inputs.append(shape[1:])
            shape = section_cost((VGG_POOL,), shape, self.classes)[0]
        self._out = shape[1:]

    def _dimensions(self) -> Iterable[Dim]:
        yield Dim("norm", VGG_NORMS, doc="none (conv biases), LRN after the first conv (A-LRN), or BN after every conv")
        for i, c in enumerate(VGG_PLAN):
            yield Dim(f"s{i}.depth", DEPTHS, doc="convs in the stage")
            yield Dim(f"s{i}.width", tuple(int(c * s) for s in SCALES), doc="channels of the stage's convs")
            for j in range(DEPTHS[-1]):
                yield Dim(f"s{i}.b{j}.k", KERNELS, None if j == 0 else (f"s{i}.depth", "gt", j),
                          doc="kernel size of the conv")

    def sections(self, config: Mapping[str, Any]
                 ) -> tuple[tuple[Block, ...], list[tuple[Block, ...]], tuple[Block, ...]]:
        norm = config["norm"]
        stages = [vgg_stage(config[width], kernels[config[depth]](config), norm, i == 0)
                  for i, (depth, width, kernels) in enumerate(self._stage_dims)]
        return (), stages, VGG_CLASSIFIER

    def counts(self, config: Mapping[str, Any]) -> tuple[int, int, int]:
        """The stage-by-stage cost, added up from remembered stage costs (the sampler's hot path)."""
        norm = config["norm"]
        costs, cin = self._costs, self.input[0]
        m = p = a = 0
        for i, (depth, width, kernels) in enumerate(self._stage_dims):
            c = config[width]
            key = (i, cin, c, norm, kernels[config[depth]](config))
            cost = costs.get(key) or self._stage_cost(key)
            m, p, a, cin = m + cost[0], p + cost[1], a + cost[2], c
        cost = costs.get(("head", cin)) or self._stage_cost(("head", cin))
        return m + cost[0], p + cost[1], a + cost[2]

    def _stage_cost(self, key: tuple[Any, ...]) -> tuple[int, int, int]:
        """(MACs, params, activations) of one stage, or of the classifier, by the cost model; remembered."""
        if key[0] == "head":
            records, shape = VGG_CLASSIFIER, (key[1], *self._out)
        else:
            i, cin, c, norm, kernels = key
            records, shape = vgg_stage(c, kernels, norm, i == 0), (cin, *self._inputs[i])
        _, params, macs, acts = section_cost(records, shape, self.classes)
        self._costs[key] = cost = (macs, params, acts)
        return cost

    def encode(self, genome: Genome) -> Config:
        if genome.stem or len(genome.stages) != len(VGG_PLAN):
            raise outside(self.name, f"expected no stem and {len(VGG_PLAN)} stages of convs each closed by a max pool")
        config: Config = {}
        for i, stage in enumerate(genome.stages):
            blocks = expand(stage.blocks)
            if i == 0:  # the norm: an LRN after the first conv, else BN or not on that conv
                if len(blocks) > 1 and blocks[1].type == "lrn":
                    config["norm"] = "lrn"
                    blocks.pop(1)
                else:
                    config["norm"] = "bn" if blocks[0].type == "conv" and resolved(blocks[0])["bn"] else "none"
            convs = blocks[:-1]
            if blocks[-1].type != "maxpool" or not convs or any(b.type != "conv" for b in convs):
                raise outside(self.name, f"stage {i} needs convs followed by one max pool")
            if len(convs) > DEPTHS[-1]:
                raise outside(self.name, f"stage {i} has {len(convs)} convs; at most {DEPTHS[-1]}")
            params = [resolved(b) for b in convs]
            widths = {p["c"] for p in params}
            if len(widths) > 1:
                raise outside(self.name, f"stage {i} mixes conv widths {sorted(widths)}; a stage has one width")
            config[f"s{i}.depth"] = len(convs)
            config[f"s{i}.width"] = params[0]["c"]
            config.update({f"s{i}.b{j}.k": p["k"] for j, p in enumerate(params)})
        for name, v in config.items():
            if v not in self._dims[name].choices:
                choices = ", ".join(map(str, self._dims[name].choices))
                raise outside(self.name, f"{name} = {v!r} is not one of {choices}")
        return config
