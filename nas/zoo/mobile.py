"""Mobile networks as seeds: MobileNet v1 and v2 (depthwise separable and inverted residual units) and ShuffleNet v1.

Each family is one genome factory with its width multiplier (and input resolution) as arguments; the variants are
registered from a table. Channel counts are resolved here, so a genome holds plain integers.

>>> import nas
>>> from nas.zoo import seed
>>> nas.cost(seed("mobilenet_v2")).macs
300774272
"""

from __future__ import annotations

import math
from functools import lru_cache, partial

from ..blocks import make_divisible
from ..genome import Block, Genome, Stage
from .figures import Figure, register_seed

# ---------------------------------------------------------------- MobileNet v1

_MOBILENET_V1 = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5, (1024, 2), (1024, 1)]
"""Depthwise separable units (output channels, stride) after the 32-channel stem (Howard et al. 2017, Table 1)."""


def _mobilenet_v1(width: float, res: int) -> Genome:
    """MobileNet v1 at width multiplier ``width`` and input ``res`` x ``res``: 3x3 conv stem, 13 dwsep units, FC."""
    return Genome.from_dict({
        "input": [3, res, res], "classes": 1000,
        "stem": [{"type": "conv", "c": make_divisible(32 * width), "k": 3, "s": 2}],
        "stages": [{"blocks": [{"type": "dwsep", "c": make_divisible(c * width), "s": s} for c, s in _MOBILENET_V1]}],
        "head": [{"type": "gap"}, {"type": "linear"}],
    })


_V1_SOURCE = "Howard et al. 2017, Table 1 (layers), Tables 6-9 (figures)"

register_seed(
    "mobilenet_v1", family="mobilenet", source=_V1_SOURCE,
    params=Figure(4_231_976, kind="computed", source="with BN; paper Table 8: 4.2M, i.e. 4,210,088 weights without BN"),
    macs=Figure(569e6, tol=0.001, kind="published", source="Howard et al. 2017 Table 8: 569M Mult-Adds"),
    note="568,740,352 MACs with the 1000-way FC; the convolutions alone are 567.7M, which the authors' slides round "
         "to 568M while Table 8 lists 569M.",
)(partial(_mobilenet_v1, 1.0, 224))

register_seed(
    "mobilenet_v1_050_160", family="mobilenet", source=_V1_SOURCE,
    params=Figure(1_331_592, kind="computed",
                  source="with BN; paper Table 9: 1.32M, i.e. 1,320,648 weights without BN"),
    macs=Figure(76e6, tol=0.01, kind="published", source="Howard et al. 2017 Table 9: 76M Mult-Adds"),
    note="76,524,800 MACs with the FC layer (about 76.5M); the paper's 76M matches the convolutions alone "
         "(76,012,800), so the tolerance (1%) covers the FC's 512,000.",
)(partial(_mobilenet_v1, 0.5, 160))

# ---------------------------------------------------------------- MobileNet v2

MOBILENET_V2: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
"""Inverted residual sequences (expansion t, channels c, repeats n, stride s) of Sandler et al. 2018, Table 2.

The one definition of the family: the seeds and the mobilenet search space both build from it."""


@lru_cache(maxsize=None)
def mobilenet_v2_stem(width: float) -> tuple[Block, ...]:
    """The 3x3 stride-2 stem conv at width multiplier ``width`` (torchvision's rounding to multiples of 8)."""
    return (Block.of("conv", c=make_divisible(32 * width), k=3, s=2, act="relu6"),)


@lru_cache(maxsize=None)
def mobilenet_v2_head(width: float) -> tuple[Block, ...]:
    """The 1x1 conv to 1280 channels (never narrowed below 1x), pooling, dropout and the classifier."""
    return (Block.of("conv", c=make_divisible(1280 * max(1.0, width)), k=1, act="relu6"), Block.of("gap"),
            Block.of("dropout", p=0.2), Block.of("linear"))


@lru_cache(maxsize=1 << 16)  # the mobilenet space's records: each built once
def mobilenet_v2_unit(stage: int, width: float, first: bool, k: int = 3, e: float | None = None, se: float = 0.0,
                      act: str = "relu6", repeat: int = 1) -> Block:
    """``repeat`` inverted residuals of ``stage``, with the stage's stride when they are its ``first``; ``e``
    defaults to Table 2's t."""
    t, c, _, s = MOBILENET_V2[stage]
    return Block.of("inverted", repeat, c=make_divisible(c * width), s=s if first else 1, k=k, e=t if e is None else e,
                    act=act, se=se, se_gate="hardsigmoid" if se and act == "hardswish" else "sigmoid")


def mobilenet_v2_genome(width: float, res: int = 224) -> Genome:
    """MobileNet v2 at width multiplier ``width`` (torchvision's rounding to multiples of 8) and input ``res``."""
    stages = tuple(Stage((mobilenet_v2_unit(i, width, True, repeat=n),)) for i, (_, _, n, _) in enumerate(MOBILENET_V2))
    return Genome(stages=stages, stem=mobilenet_v2_stem(width), head=mobilenet_v2_head(width), input=(3, res, res),
                  classes=1000)


_V2_SOURCE = "Sandler et al. 2018, Table 2; torchvision mobilenet_v2"

register_seed(
    "mobilenet_v2", family="mobilenet", source=_V2_SOURCE,
    params=Figure(3_504_872, kind="reference", source="torchvision num_params"),
    macs=Figure(300_774_272, kind="reference", source="torchvision _ops (conv + FC)"),
)(partial(mobilenet_v2_genome, 1.0))

register_seed(
    "mobilenet_v2_140", family="mobilenet", source=_V2_SOURCE + " (width_mult=1.4)",
    params=Figure(6_108_776, kind="computed", source="torchvision MobileNetV2(width_mult=1.4); TF-slim lists 6.06M "
                                    "(6,060,840 without BN)"),
    macs=Figure(582e6, tol=0.001, kind="published", source="TF-slim mobilenet_v2_1.4_224 checkpoint table: 582M MACs"),
    note="Sandler et al. Table 4 lists 6.9M params and 585M MAdds for width 1.4; the arithmetic of Table 2 "
         "(channels rounded to multiples of 8, last conv 1792) gives 6,108,776 params (6,060,840 without BN) and "
         "582,195,824 MACs, as TF-slim's own checkpoint table does.",
)(partial(mobilenet_v2_genome, 1.4))

# ---------------------------------------------------------------- ShuffleNet v1

SHUFFLENET_V1_STAGE2 = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}
"""Stage-2 output channels of ShuffleNet 1x per group count (Zhang et al. 2018, Table 1); stages 3-4 double it."""

SHUFFLENET_V1_REPEATS = (4, 8, 4)
"""Units per stage in Table 1, the stride-2 unit included."""


def shufflenet_v1_channels(groups: int, width: float) -> tuple[int, int]:
    """(stem, first stage) channels at ``groups`` and scale ``width``; the later stages double the first's.

    The stem is 24 at 1x, scaled with the width but never below 12, rounded to a multiple of ``groups``: megvii's
    official choice (12 at 0.5x, 16 for g8 at 0.5x, 48 at 2x); the floor keeps 0.25x at 13M. The stages round so
    that the bottleneck (a quarter of the channels) divides into the groups.

    >>> shufflenet_v1_channels(3, 1.0), shufflenet_v1_channels(8, 0.25)
    ((24, 240), (16, 96))
    """
    return (make_divisible(24 * max(width, 0.5), groups),
            make_divisible(SHUFFLENET_V1_STAGE2[groups] * width, 4 * groups))


@lru_cache(maxsize=None)
def shufflenet_v1_stem(groups: int, width: float) -> tuple[Block, ...]:
    """The 3x3 stride-2 conv at the stem width, then a 3x3 stride-2 max pool."""
    return (Block.of("conv", c=shufflenet_v1_channels(groups, width)[0], k=3, s=2),
            Block.of("maxpool", k=3, s=2, p=1))


@lru_cache(maxsize=None)
def shufflenet_v1_stage(i: int, groups: int, width: float, depth: int) -> tuple[Block, ...]:
    """Stage ``i``: a stride-2 unit (with an ungrouped first 1x1 in the first stage), then ``depth - 1`` units."""
    c = shufflenet_v1_channels(groups, width)[1] * 2**i
    down = Block.of("shuffle", c=c, s=2, groups=groups, first=i == 0)
    return (down, Block.of("shuffle", repeat=depth - 1, c=c, groups=groups)) if depth > 1 else (down,)


SHUFFLENET_V1_HEAD = (Block.of("gap"), Block.of("linear"))
"""Global average pooling and the classifier."""


def _shufflenet_v1(groups: int, width: float) -> Genome:
    """ShuffleNet v1 with ``groups`` groups at scale ``width``: bottlenecks of c/4, an ungrouped first 1x1, FC head."""
    stages = tuple(Stage(shufflenet_v1_stage(i, groups, width, n)) for i, n in enumerate(SHUFFLENET_V1_REPEATS))
    return Genome(stages=stages, stem=shufflenet_v1_stem(groups, width), head=SHUFFLENET_V1_HEAD)


_SHUFFLE_SOURCE = "Zhang et al. 2018, Table 1 (layers, 1x complexity), Tables 2-3 (scaled)"

# name, groups, width, params and MACs as computed here (the paper gives no params), the paper's MFLOPs (which are
# MACs) and its table; Table 1 leaves the FC layer out of its complexity, Tables 2-3 count it.
_SHUFFLENETS = [
    ("shufflenet_v1_g1", 1, 1.0, 1_531_936, 143_078_976, 143, 1),
    ("shufflenet_v1_g2", 2, 1.0, 1_733_848, 140_836_512, 140, 1),
    ("shufflenet_v1_g3", 3, 1.0, 1_865_728, 137_460_672, 137, 1),
    ("shufflenet_v1_g4", 4, 1.0, 1_968_344, 134_339_776, 133, 1),
    ("shufflenet_v1_g8", 8, 1.0, 2_434_768, 138_365_952, 137, 1),
    ("shufflenet_v1_g3_050", 3, 0.5, 718_324, 37_589_856, 38, 2),
    ("shufflenet_v1_g3_025", 3, 0.25, 306_124, 13_300_656, 13, 2),
    ("shufflenet_v1_g3_200", 3, 2.0, 5_450_776, 524_045_184, 524, 3),
]

_TABLE1_NOTE = ("Table 1's complexity leaves out the final FC layer: the convolutions alone are {conv:,} MACs, which "
                "round to the paper's {paper}M; with the {fc:,}-MAC FC the total is {total:,} (megvii's official "
                "model, 138M for g3 and g8). Tolerance: the FC plus rounding to 1M.")
_SCALED_NOTE = ("Table {table}'s complexity includes the FC layer: {total:,} MACs round to the paper's {paper}M. The "
                "stem scales with the width as in megvii's official models (12 channels at 0.5x, 48 at 2x) but stays "
                "at 12 at 0.25x, where a 6-channel stem gives 11.0M instead of 13M. Tolerance: rounding to 1M.")
_MEGVII = "; equals megvii's official ShuffleNetV1 model"


def _register_shufflenets() -> None:
    """Register each ShuffleNet v1 variant with its paper complexity and a tolerance for what the paper rounds."""
    for name, groups, width, params, total, paper, table in _SHUFFLENETS:
        fc = 4 * shufflenet_v1_channels(groups, width)[1] * 1000  # final channels x classes
        slack = 500_000 + (fc if table == 1 else 0)
        note = (_TABLE1_NOTE if table == 1 else _SCALED_NOTE).format(
            conv=total - fc, paper=paper, fc=fc, total=total, table=table)
        official = groups in (3, 8) and width in (0.5, 1.0, 2.0)
        register_seed(
            name, family="shufflenet", source=_SHUFFLE_SOURCE,
            params=Figure(params, kind="computed", source="the paper gives none" + (_MEGVII if official else "")),
            macs=Figure(paper * 1e6, kind="published", tol=math.ceil(slack / paper / 100) / 1e4,
                        source=f"Zhang et al. 2018, Table {table}: {paper} MFLOPs (multiply-adds)"),
            note=note,
        )(partial(_shufflenet_v1, groups, width))


_register_shufflenets()
