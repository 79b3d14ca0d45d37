"""The GoogLeNet space: per module, the width of every branch and the kind of the 3x3 and "5x5" branches.

The skeleton is GoogLeNet's (Szegedy et al. 2015, Table 1) as the zoo defines it (``nas.zoo.inception``): a fixed
stem (7x7/2 conv, max pool, 1x1 and 3x3 convs, max pool), modules 3a 3b, a max pool, 4a to 4e, a max pool, 5a
5b, then the head. Each module keeps Table 1's four branches; the search sets, per module, the 1x1 branch's
width, the 3x3 branch's reduce width, width and kind, the "5x5" branch's reduce width, width and kind, and the
pool projection's width. Widths are 0.5x to 1.5x of Table 1's, rounded to multiples of 8 (Table 1's own value
is always a choice).

Branch kinds, after the 1x1 reduce conv (``r`` its width, ``c`` the branch's):

- ``3x3``, ``5x5``: one square conv to ``c``;
- ``3x3-3x3``: two 3x3 convs to ``c`` (Inception v3's Fig. 5 and module A);
- ``1x3-3x1``, ``1x5-5x1``: a 1xn conv at ``r``, then an nx1 conv to ``c`` (Inception v3's Fig. 6 and module C).

The 3x3 branch is ``3x3`` or ``1x3-3x1``; the "5x5" branch any of ``3x3``, ``5x5``, ``3x3-3x3``, ``1x5-5x1``.
Two global choices give the two reference forms: ``bn`` (batch norm after every conv and no LRN, or the paper's
conv biases with LRN after the stem's first pool and after its 3x3 conv) and ``head`` (the paper's 3x3/2 max
pool before 5a, average pool over the whole 7x7 map and 40% dropout, or torchvision's 2x2/2 max pool, global
average pool, flatten and 20% dropout). Contains googlenet (the paper's form) and googlenet_tv (torchvision's).
"""

from __future__ import annotations

from dataclasses import replace
from operator import itemgetter
from typing import Any, Iterable, Mapping

from nas import Block, Genome, Stage, make_divisible
from nas.network import section_cost
from nas.zoo.inception import (
    GOOGLENET_DOWN,
    GOOGLENET_HEADS,
    GOOGLENET_KINDS,
    GOOGLENET_MODULES,
    GOOGLENET_POOL5,
    GOOGLENET_PROJ_POOL,
    GOOGLENET_STAGES,
    googlenet_conv,
    googlenet_head,
    googlenet_module,
    googlenet_stem,
    googlenet_tail,
)

from . import register
from ._base import Config, Dim, Space, expand, outside, resolved

SCALES = (0.5, 0.75, 1.0, 1.25, 1.5)
"""Multiples of Table 1's width offered for every branch width."""

# Categorical: which kind is cheaper depends on the widths. Each lists first the kind with the fewest MACs and
# params at the smallest widths and last the one with the most at the largest widths (see ``extreme``).
KINDS_3X3 = ("1x3-3x1", "3x3")
KINDS_5X5 = ("1x5-5x1", "3x3", "5x5", "3x3-3x3")

_MODULE_CACHE = 1 << 16  # remembered module costs before the cache starts over (about 20 MB)
BRANCHES = ("1x1", "3x3_reduce", "3x3", "3x3_kind", "5x5_reduce", "5x5", "5x5_kind", "pool_proj")
"""Per-module dimension suffixes, in Table 1's column order with the kinds after their branches."""


def widths(seed: int) -> tuple[int, ...]:
    """The width choices for a branch that Table 1 gives ``seed`` channels, cheapest first.

    >>> widths(64), widths(16)
    ((32, 48, 64, 80, 96), (8, 16, 24))
    """
    return tuple(sorted({make_divisible(seed * s) for s in SCALES}))


@register
class InceptionSpace(Space):
    """GoogLeNet with searchable branch widths and kinds per module."""

    name = "inception"
    doc = ("GoogLeNet skeleton (Table 1): per-module branch widths, 3x3 branch 3x3 or 1x3-3x1, '5x5' branch "
           "3x3/5x5/3x3-3x3/1x5-5x1; BN or LRN; paper or torchvision head")
    seeds = ("googlenet", "googlenet_tv")
    proxy_map = 3  # the 5x5 kinds: a 5x5 sees all its taps

    def __init__(self, input: tuple[int, int, int] | None = None, classes: int | None = None) -> None:
        super().__init__(input, classes)
        self._names = [[tuple(f"m{m}.{b}" for b in BRANCHES) for m in mods] for _, mods in GOOGLENET_STAGES]
        self._getters = [[itemgetter(*ns) for ns in stage] for stage in self._names]
        self._pieces: dict[tuple[Any, ...], tuple[int, int, int]] = {}  # stem, pools, heads
        self._parts: dict[tuple[Any, ...], tuple[int, ...]] = {}  # branch pieces: base and slope in cin
        self._modules: dict[tuple[Any, ...], tuple[int, ...]] = {}  # base, slope in cin, output channels
        # Spatial size of each stage (the modules keep it); stage 5's follows the head's pool.
        stem_out = section_cost(googlenet_stem(True), self.input, self.classes)[0]
        s4 = section_cost((GOOGLENET_DOWN,), stem_out, self.classes)[0]
        self._hw = {h: (stem_out[1:], s4[1:], section_cost((GOOGLENET_POOL5[h],), s4, self.classes)[0][1:])
                    for h in GOOGLENET_HEADS}
        h, w = self._hw["paper"][2]  # the paper's 7x7 average pool spans the whole final map
        self._heads = {kind: googlenet_head(kind, h if h == w else (h, w)) for kind in GOOGLENET_HEADS}
        self._stem_width = stem_out[0]  # channels entering 3a

    def _dimensions(self) -> Iterable[Dim]:
        yield Dim("bn", (False, True), doc="batch norm after every conv (else conv biases and the paper's LRN)")
        yield Dim("head", GOOGLENET_HEADS, ordered=False,
                  doc="pool before 5a and classifier: the paper's or torchvision's")
        for _, mods in GOOGLENET_STAGES:
            for m in mods:
                c1, r3, c3, r5, c5, pp = GOOGLENET_MODULES[m]
                yield Dim(f"m{m}.1x1", widths(c1), doc="width of the 1x1 branch")
                yield Dim(f"m{m}.3x3_reduce", widths(r3), doc="width of the 3x3 branch's 1x1 reduce conv")
                yield Dim(f"m{m}.3x3", widths(c3), doc="width of the 3x3 branch")
                yield Dim(f"m{m}.3x3_kind", KINDS_3X3, ordered=False, doc="convs of the 3x3 branch")
                yield Dim(f"m{m}.5x5_reduce", widths(r5), doc="width of the 5x5 branch's 1x1 reduce conv")
                yield Dim(f"m{m}.5x5", widths(c5), doc="width of the 5x5 branch")
                yield Dim(f"m{m}.5x5_kind", KINDS_5X5, ordered=False, doc="convs of the 5x5 branch")
                yield Dim(f"m{m}.pool_proj", widths(pp), doc="width of the pool branch's 1x1 projection")

    def extreme(self, largest: bool) -> Config:
        """The cheapest (or costliest) config: ordered dimensions at an end, the kinds at their first (or last)."""
        out = super().extreme(largest)
        if largest:  # the base takes every categorical dimension's first choice, the cheapest kind here
            out.update({n: self._dims[n].choices[-1] for n in out if n.endswith("_kind")})
        return out

    # ------------------------------------------------------------ config to genome

    def sections(self, config: Mapping[str, Any]
                 ) -> tuple[tuple[Block, ...], list[tuple[Block, ...]], tuple[Block, ...]]:
        bn, head = config["bn"], config["head"]
        stages = []
        for s, names in enumerate(self._names):
            blocks = [googlenet_module(*(config[n] for n in ns), bn) for ns in names]
            if s:
                blocks.insert(0, GOOGLENET_DOWN if s == 1 else GOOGLENET_POOL5[head])
            stages.append(tuple(blocks))
        return googlenet_stem(bn), stages, self._heads[head]

    def _genome(self, config: Mapping[str, Any]) -> Genome:
        g = super()._genome(config)  # the seeds name their stages after the modules' grid (inception3, ...)
        return replace(g, stages=tuple(Stage(s.blocks, name) for s, (name, _) in zip(g.stages, GOOGLENET_STAGES)))

    def counts(self, config: Mapping[str, Any]) -> tuple[int, int, int]:
        """The section-by-section cost, added up from remembered module costs (the sampler's hot path)."""
        bn, head = config["bn"], config["head"]
        pieces, modules, put = self._pieces, self._modules, self._put
        if len(modules) > _MODULE_CACHE:  # bounded memory; the modules a repair re-costs come back at once
            modules.clear()
        m, p, a = pieces.get(("stem", bn)) or put(pieces, ("stem", bn), googlenet_stem(bn), self.input)
        cin = self._stem_width
        for s, getters in enumerate(self._getters):
            hw = self._hw[head][s]
            if s:
                key = ("pool", s, cin, head)
                pool = GOOGLENET_DOWN if s == 1 else GOOGLENET_POOL5[head]
                a += (pieces.get(key) or put(pieces, key, (pool,), (cin, *self._hw[head][s - 1])))[2]  # no MACs
            for get in getters:
                key = (hw, bn, get(config))
                c = modules.get(key) or self._module_cost(key)
                m, p, a, cin = m + c[0] + cin * c[3], p + c[1] + cin * c[4], a + c[2] + cin * c[5], c[6]
        key = ("head", cin, head)
        c = pieces.get(key) or put(pieces, key, self._heads[head], (cin, *self._hw[head][2]))
        return m + c[0], p + c[1], a + c[2]

    def _module_cost(self, key: tuple[Any, ...]) -> tuple[int, ...]:
        """A module's cost as a function of its input channels: (MACs, params, activations) = base + cin * slope.

        Returns the base, the slope and the output channels. The input channels reach only the 1x1 convs and the
        max pool, so the cost is linear in them; a key without them is what lets a repair's re-costing hit.
        """
        hw, bn, (c1, r3, c3, k3, r5, c5, k5, pp) = key
        get = self._parts.get
        m = p = a = dm = dp = da = 0
        for k in (("1x1", hw, c1, bn), ("1x1", hw, r3, bn), ("1x1", hw, r5, bn), ("proj", hw, pp, bn),
                  ("tail", hw, k3, r3, c3, bn), ("tail", hw, k5, r5, c5, bn)):
            x = get(k) or self._part(k)
            m, p, a, dm, dp, da = m + x[0], p + x[1], a + x[2], dm + x[3], dp + x[4], da + x[5]
        cout = c1 + c3 + c5 + pp
        a += cout * hw[0] * hw[1]  # the concatenation: one activation per output element, as the tracer counts
        self._modules[key] = out = (m, p, a, dm, dp, da, cout)
        return out

    def _part(self, key: tuple[Any, ...]) -> tuple[int, ...]:
        """Base and slope in the input channels of one branch piece, from the cost model at 1 and 2 channels."""
        kind, hw, *rest = key
        if kind == "tail":  # reads the reduce conv's fixed width
            k, r, c, bn = rest
            _, p, m, a = section_cost(googlenet_tail(k, r, c, bn), (r, *hw), self.classes)
            self._parts[key] = out = (m, p, a, 0, 0, 0)
            return out
        c, bn = rest
        records = (googlenet_conv(c, 1, bn),) if kind == "1x1" else (GOOGLENET_PROJ_POOL, googlenet_conv(c, 1, bn))
        _, p1, m1, a1 = section_cost(records, (1, *hw), self.classes)
        _, p2, m2, a2 = section_cost(records, (2, *hw), self.classes)
        self._parts[key] = out = (2 * m1 - m2, 2 * p1 - p2, 2 * a1 - a2, m2 - m1, p2 - p1, a2 - a1)
        return out

    def _put(self, table: dict[Any, Any], key: Any, records: tuple[Block, ...],
             shape: tuple[int, ...]) -> tuple[int, int, int]:
        """Cost (MACs, params, activations) of ``records`` on a ``shape`` input, by the cost model, remembered."""
        _, params, macs, acts = section_cost(records, shape, self.classes)
        table[key] = cost = (macs, params, acts)
        return cost

    # ------------------------------------------------------------ genome to config

    def encode(self, genome: Genome) -> Config:
        n = len(GOOGLENET_STAGES)
        if len(genome.stages) != n or not genome.stem or genome.stem[0].type != "conv" or not genome.head:
            raise outside(self.name, f"expected GoogLeNet's conv stem and {n} stages of inception modules")
        config: Config = {"bn": resolved(genome.stem[0])["bn"],
                          "head": "paper" if genome.head[0].type == "avgpool" else "torchvision"}
        for s, ((stage, mods), blocks) in enumerate(zip(GOOGLENET_STAGES, genome.stages)):
            records = expand(blocks.blocks)
            if s:
                if records[0].type != "maxpool":
                    raise outside(self.name, f"stage {s} ({stage}) opens with a '{records[0].type}', not a max pool")
                records = records[1:]
            if len(records) != len(mods) or any(b.type != "inception" for b in records):
                raise outside(self.name, f"stage {s} ({stage}) needs {len(mods)} inception modules"
                                         + (" after its max pool" if s else ""))
            for m, names, b in zip(mods, self._names[s], records):
                config.update(zip(names, self._read_module(m, b)))
        for name, v in config.items():
            if v not in self._dims[name].choices:
                choices = ", ".join(map(str, self._dims[name].choices))
                raise outside(self.name, f"{name} = {v!r} is not one of {choices}")
        return config

    def _read_module(self, m: str, block: Block) -> tuple[Any, ...]:
        """Module ``m``'s eight values (``BRANCHES``) from its record."""
        branches = block.params["branches"]
        shapes = [len(b) for b in branches]
        if len(branches) != 4 or shapes[0] != 1 or shapes[3] != 2 or min(shapes[1:3]) < 2:
            raise outside(self.name, f"module {m} needs the 1x1, 3x3, 5x5 and pool branches of Table 1")
        c = [[resolved(r)["c"] if r.type == "conv" else None for r in b] for b in branches]
        k3, k5 = (self._kind(m, name, branches[i][1:], kinds)
                  for i, name, kinds in ((1, "3x3", KINDS_3X3), (2, "5x5", KINDS_5X5)))
        return c[0][0], c[1][0], c[1][-1], k3, c[2][0], c[2][-1], k5, c[3][-1]

    def _kind(self, m: str, branch: str, tail: tuple[Block, ...], kinds: tuple[str, ...]) -> str:
        kernels = tuple(resolved(r)["k"] if r.type == "conv" else r.type for r in tail)
        for kind in kinds:
            if GOOGLENET_KINDS[kind][0] == kernels:
                return kind
        raise outside(self.name, f"module {m}'s {branch} branch has kernels {kernels} after its reduce conv; "
                                 f"kinds: {', '.join(kinds)}")
