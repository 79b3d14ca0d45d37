"""The Inception family as seeds: GoogLeNet (the paper's and torchvision's) and Inception v3.

Each Inception module is one ``inception`` block whose branches are lists of block records; Inception v3's
module E splits a branch into parallel 1x3 and 3x1 convs with an ``inception`` block nested in that branch.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ..genome import Block, Genome, Stage
from .figures import Figure, register_seed

Rec = dict[str, Any]
Kernel = int | tuple[int, int]


def conv(c: int, k: Kernel = 1, s: int = 1, p: Kernel = 0, *, bn: bool = True) -> Rec:
    """A conv-(BN)-ReLU record with explicit padding; a conv without BN has a bias."""
    return {"type": "conv", "c": c, "k": list(k) if isinstance(k, tuple) else k, "s": s,
            "p": list(p) if isinstance(p, tuple) else p, "bn": bn}


def pool(kind: str, k: int = 3, s: int = 1, p: int = 0, *, ceil: bool = False) -> Rec:
    """A max or average pool record."""
    rec: Rec = {"type": kind, "k": k, "s": s, "p": p}
    if ceil:
        rec["ceil"] = True
    return rec


def inception(*branches: list[Rec]) -> Rec:
    """An inception block: parallel branches concatenated along channels."""
    return {"type": "inception", "branches": [list(b) for b in branches]}


# ---------------------------------------------------------------- GoogLeNet (Inception v1)

# Szegedy et al. 2015, Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj, per module.
GOOGLENET_MODULES: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}

# The paper's per-module MACs (Table 1 "ops"), which the paper form reproduces to the table's rounding.
GOOGLENET_TABLE_MACS: dict[str, int] = {
    "3a": 128_000_000, "3b": 304_000_000, "4a": 73_000_000, "4b": 88_000_000, "4c": 100_000_000,
    "4d": 119_000_000, "4e": 170_000_000, "5a": 54_000_000, "5b": 71_000_000,
}

# Local response normalization as in the BVLC GoogLeNet reference (Caffe scales alpha by 1/n as PyTorch does).
LRN_GOOGLENET: Rec = {"type": "lrn", "size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0}


GOOGLENET_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("inception3", ("3a", "3b")),
    ("inception4", ("4a", "4b", "4c", "4d", "4e")),
    ("inception5", ("5a", "5b")),
)
"""(stage name, its modules); a 3x3/2 max pool (2x2/2 before 5a in torchvision's head) opens stages 4 and 5."""

GOOGLENET_KINDS: dict[str, tuple[tuple[Kernel, ...], bool]] = {
    "3x3": ((3,), False),
    "5x5": ((5,), False),
    "3x3-3x3": ((3, 3), False),
    "1x3-3x1": (((1, 3), (3, 1)), True),
    "1x5-5x1": (((1, 5), (5, 1)), True),
}
"""Kinds of a branch after its 1x1 reduce conv: (kernels of its convs, whether the inner convs keep the reduce
width). Table 1's are ``3x3`` and ``5x5`` (torchvision's "5x5" branch is ``3x3``); ``3x3-3x3`` is Inception v3's
Fig. 5 and module A, ``1x3-3x1`` and ``1x5-5x1`` its Fig. 6 and module C."""

GOOGLENET_HEADS = ("paper", "torchvision")
"""The two heads and stage-5 pools: the paper's and torchvision's (``googlenet_head``, ``GOOGLENET_POOL5``)."""


@lru_cache(maxsize=None)
def googlenet_conv(c: int, k: Kernel, bn: bool, s: int = 1) -> Block:
    """A conv-(BN)-ReLU record with the padding that keeps the size; a conv without BN has a bias."""
    return Block.from_dict(conv(c, k, s, k // 2 if isinstance(k, int) else (k[0] // 2, k[1] // 2), bn=bn))


@lru_cache(maxsize=None)
def googlenet_tail(kind: str, r: int, c: int, bn: bool) -> tuple[Block, ...]:
    """The convs of a branch of ``kind`` after its 1x1 reduce conv to ``r`` channels."""
    kernels, narrow = GOOGLENET_KINDS[kind]
    inner = r if narrow else c
    return tuple(googlenet_conv(inner, k, bn) for k in kernels[:-1]) + (googlenet_conv(c, kernels[-1], bn),)


GOOGLENET_PROJ_POOL = Block.from_dict(pool("maxpool", 3, 1, 1, ceil=True))
"""The 3x3/1 max pool of a module's pool-projection branch."""
GOOGLENET_DOWN = Block.from_dict(pool("maxpool", 3, 2, ceil=True))
"""The 3x3/2 ceil-mode max pool that closes the stem and opens stage 4."""
GOOGLENET_POOL5 = {"paper": GOOGLENET_DOWN, "torchvision": Block.from_dict(pool("maxpool", 2, 2, ceil=True))}
"""The max pool that opens stage 5: 3x3/2 in the paper, 2x2/2 in torchvision (7x7 at 224 either way)."""


@lru_cache(maxsize=1 << 15)
def googlenet_module(c1: int, r3: int, c3: int, k3: str, r5: int, c5: int, k5: str, pp: int, bn: bool) -> Block:
    """One inception module: Table 1's four branches at these widths, its 3x3 and "5x5" branches of these kinds."""
    return Block.of("inception", branches=(
        (googlenet_conv(c1, 1, bn),),
        (googlenet_conv(r3, 1, bn), *googlenet_tail(k3, r3, c3, bn)),
        (googlenet_conv(r5, 1, bn), *googlenet_tail(k5, r5, c5, bn)),
        (GOOGLENET_PROJ_POOL, googlenet_conv(pp, 1, bn)),
    ))


@lru_cache(maxsize=None)
def googlenet_stem(bn: bool) -> tuple[Block, ...]:
    """The fixed stem: with BN, or without (conv biases, and LRN after the first pool and after the 3x3 conv)."""
    lrn = () if bn else (Block.from_dict(LRN_GOOGLENET),)
    return (googlenet_conv(64, 7, bn, s=2), GOOGLENET_DOWN, *lrn, googlenet_conv(64, 1, bn),
            googlenet_conv(192, 3, bn), *lrn, GOOGLENET_DOWN)


@lru_cache(maxsize=None)
def googlenet_head(head: str, pool: Kernel = 7) -> tuple[Block, ...]:
    """The paper's ``pool``-wide average pool (the whole 7x7 map) and 40% dropout, or torchvision's global
    average pool, flatten and 20% dropout; then the classifier."""
    if head == "paper":
        return Block.of("avgpool", k=pool, s=1), Block.of("dropout", p=0.4), Block.of("linear")
    return Block.of("gap"), Block.of("flatten"), Block.of("dropout", p=0.2), Block.of("linear")


def _googlenet(bn: bool, head: str, k5: str) -> Genome:
    """GoogLeNet's layout (Table 1) with or without BN, the paper's or torchvision's head, "5x5" branches ``k5``."""
    stages = []
    for s, (name, mods) in enumerate(GOOGLENET_STAGES):
        blocks = [googlenet_module(*GOOGLENET_MODULES[m][:3], "3x3", *GOOGLENET_MODULES[m][3:5], k5,
                                   GOOGLENET_MODULES[m][5], bn) for m in mods]
        opening = (GOOGLENET_DOWN,) if s == 1 else (GOOGLENET_POOL5[head],) if s == 2 else ()
        stages.append(Stage((*opening, *blocks), name))
    return Genome(stages=tuple(stages), stem=googlenet_stem(bn), head=googlenet_head(head))


@register_seed(
    "googlenet_tv", family="inception", source="torchvision googlenet (Szegedy et al. 2015 with batch norm)",
    params=Figure(6_624_904, kind="reference", source="torchvision num_params"),
    macs=Figure(1_498_376_192, kind="reference", source="torchvision _ops"),
    note="BN after every conv (no conv bias), 3x3 kernels in the '5x5' branch as in torchvision, ceil-mode max "
         "pools, no LRN and no auxiliary heads",
    test_input=(3, 96, 96),
)
def googlenet_tv() -> Genome:
    """torchvision's GoogLeNet without its auxiliary classifiers."""
    return _googlenet(bn=True, head="torchvision", k5="3x3")


@register_seed(
    "googlenet", family="inception", source="Szegedy et al. 2015, Table 1 and Fig. 3 (GoogLeNet)",
    params=Figure(6_800_000, tol=0.03, kind="published", source="paper Table 1: about 6.8M"),
    macs=Figure(1_500_000_000, tol=0.06, kind="published", source="paper Sec. 5 and Table 1: about 1.5G"),
    note="Table 1's conv 7x7/2 row lists 2.7K params and 34M ops, but a 7x7 conv from 3 to 64 channels at "
         "112x112 has 9,408 weights (+64 biases) and 118,013,952 MACs; this seed follows the arithmetic, so its "
         "total is 1.58G MACs where the table's rows sum to about 1.5G. Per module it reproduces the table's ops "
         "(3a 128M, 3b 304M, 4a 73M, 4b 88M, 4c 100M, 4d 119M, 4e 170M, 5b 71M) except 5a, listed as 54M "
         "(1072K params) where its own filter counts give 51.08M MACs (1,042,432 weights). The params column "
         "counts weights in units of 1024 (3a: 163,328 weights = 159.5K): this seed's 6,990,272 weights are 6,826K "
         "in those units; with 8,280 biases, 6,998,552 parameters. No BN (convs have a bias), LRN after the first "
         "pool and after conv2 (BVLC parameters), ceil-mode max pools, no auxiliary heads",
)
def googlenet() -> Genome:
    """GoogLeNet as in the paper: true 5x5 branches, no BN, LRN, 7x7 average pool and 40% dropout."""
    return _googlenet(bn=False, head="paper", k5="5x5")


# ---------------------------------------------------------------- Inception v3


def _inc_a(pool_proj: int) -> Rec:
    """Module A (Mixed_5b-d): 1x1, 1x1-5x5, 1x1-3x3-3x3 and avg pool-1x1 branches at 35x35."""
    return inception(
        [conv(64)],
        [conv(48), conv(64, 5, p=2)],
        [conv(64), conv(96, 3, p=1), conv(96, 3, p=1)],
        [pool("avgpool", 3, 1, 1), conv(pool_proj)],
    )


def _inc_b() -> Rec:
    """Reduction module B (Mixed_6a): 35x35 to 17x17 with stride-2 3x3 convs beside a max pool."""
    return inception(
        [conv(384, 3, 2)],
        [conv(64), conv(96, 3, p=1), conv(96, 3, 2)],
        [pool("maxpool", 3, 2)],
    )


def _inc_c(c7: int) -> Rec:
    """Module C (Mixed_6b-e): factorized 7x7 convs (1x7 and 7x1) of width ``c7`` at 17x17."""
    def r(c: int) -> Rec:
        """A 1x7 conv."""
        return conv(c, (1, 7), p=(0, 3))

    def d(c: int) -> Rec:
        """A 7x1 conv."""
        return conv(c, (7, 1), p=(3, 0))

    return inception(
        [conv(192)],
        [conv(c7), r(c7), d(192)],
        [conv(c7), d(c7), r(c7), d(c7), r(192)],
        [pool("avgpool", 3, 1, 1), conv(192)],
    )


def _inc_d() -> Rec:
    """Reduction module D (Mixed_7a): 17x17 to 8x8."""
    return inception(
        [conv(192), conv(320, 3, 2)],
        [conv(192), conv(192, (1, 7), p=(0, 3)), conv(192, (7, 1), p=(3, 0)), conv(192, 3, 2)],
        [pool("maxpool", 3, 2)],
    )


def _split_1x3_3x1() -> Rec:
    """Module E's parallel 1x3 and 3x1 convs of 384 channels each, concatenated."""
    return inception([conv(384, (1, 3), p=(0, 1))], [conv(384, (3, 1), p=(1, 0))])


def _inc_e() -> Rec:
    """Module E (Mixed_7b-c): expanded filter banks with split 1x3 | 3x1 outputs at 8x8."""
    return inception(
        [conv(320)],
        [conv(384), _split_1x3_3x1()],
        [conv(448), conv(384, 3, p=1), _split_1x3_3x1()],
        [pool("avgpool", 3, 1, 1), conv(192)],
    )


@register_seed(
    "inception_v3", family="inception", source="Szegedy et al. 2016, Table 1 and Figs. 5-7; torchvision inception_v3",
    params=Figure(23_834_568, kind="reference", source="torchvision num_params (without the auxiliary head)"),
    macs=Figure(5_713_216_096, kind="reference", source="torchvision _ops (without the auxiliary head)"),
    note="3x299x299; BN after every conv, no auxiliary head",
    test_input=(3, 139, 139),
)
def inception_v3() -> Genome:
    """Inception v3 as in torchvision, without the auxiliary classifier."""
    return Genome.from_dict({
        "input": [3, 299, 299], "classes": 1000,
        "stem": [conv(32, 3, 2), conv(32, 3), conv(64, 3, p=1), pool("maxpool", 3, 2),
                 conv(80), conv(192, 3), pool("maxpool", 3, 2)],
        "stages": [
            {"name": "mixed5", "blocks": [_inc_a(32), _inc_a(64), _inc_a(64)]},
            {"name": "mixed6", "blocks": [_inc_b(), _inc_c(128), _inc_c(160), _inc_c(160), _inc_c(192)]},
            {"name": "mixed7", "blocks": [_inc_d(), _inc_e(), _inc_e()]},
        ],
        "head": [{"type": "gap"}, {"type": "flatten"}, {"type": "dropout", "p": 0.5}, {"type": "linear"}],
    })
