"""The Inception family as seeds: GoogLeNet (the paper's and torchvision's) and Inception v3.

Each Inception module is one ``inception`` block whose branches are lists of block records; Inception v3's
module E splits a branch into parallel 1x3 and 3x1 convs with an ``inception`` block nested in that branch.
"""

from __future__ import annotations

from typing import Any

from ..genome import Genome
from . import Figure, register_seed

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


def _googlenet_module(name: str, bn: bool, k5: int) -> Rec:
    """Inception module ``name`` of Table 1; ``k5`` is the kernel of the "5x5" branch (torchvision: 3)."""
    c1, r3, c3, r5, c5, pp = GOOGLENET_MODULES[name]
    return inception(
        [conv(c1, bn=bn)],
        [conv(r3, bn=bn), conv(c3, 3, p=1, bn=bn)],
        [conv(r5, bn=bn), conv(c5, k5, p=k5 // 2, bn=bn)],
        [pool("maxpool", 3, 1, 1, ceil=True), conv(pp, bn=bn)],
    )


def _googlenet(bn: bool, k5: int, lrn: bool, head: list[Rec]) -> Genome:
    """GoogLeNet's layout (Table 1) with or without BN, "5x5" branches of kernel ``k5``, optional LRN."""
    norm = [LRN_GOOGLENET] if lrn else []
    down = pool("maxpool", 3, 2, ceil=True)
    stem = [conv(64, 7, 2, 3, bn=bn), down, *norm, conv(64, bn=bn), conv(192, 3, p=1, bn=bn), *norm, down]
    mods = {n: _googlenet_module(n, bn, k5) for n in GOOGLENET_MODULES}
    return Genome.from_dict({
        "input": [3, 224, 224], "classes": 1000, "stem": stem,
        "stages": [
            {"name": "inception3", "blocks": [mods["3a"], mods["3b"]]},
            {"name": "inception4", "blocks": [down, mods["4a"], mods["4b"], mods["4c"], mods["4d"], mods["4e"]]},
            # torchvision pools 2x2 here and the paper 3x3/2; both give 7x7 in ceil mode.
            {"name": "inception5", "blocks": [pool("maxpool", 2 if bn else 3, 2, ceil=True), mods["5a"], mods["5b"]]},
        ],
        "head": head,
    })


@register_seed(
    "googlenet_tv", family="inception", source="torchvision googlenet (Szegedy et al. 2015 with batch norm)",
    params=Figure(6_624_904, source="torchvision num_params"),
    macs=Figure(1_498_376_192, source="torchvision _ops"),
    note="BN after every conv (no conv bias), 3x3 kernels in the '5x5' branch as in torchvision, ceil-mode max "
         "pools, no LRN and no auxiliary heads",
    test_input=(3, 96, 96),
)
def googlenet_tv() -> Genome:
    """torchvision's GoogLeNet without its auxiliary classifiers."""
    return _googlenet(bn=True, k5=3, lrn=False,
                      head=[{"type": "gap"}, {"type": "flatten"}, {"type": "dropout", "p": 0.2}, {"type": "linear"}])


@register_seed(
    "googlenet", family="inception", source="Szegedy et al. 2015, Table 1 and Fig. 3 (GoogLeNet)",
    params=Figure(6_800_000, tol=0.03, source="paper Table 1: about 6.8M"),
    macs=Figure(1_500_000_000, tol=0.06, source="paper Sec. 5 and Table 1: about 1.5G"),
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
    return _googlenet(bn=False, k5=5, lrn=True,
                      head=[pool("avgpool", 7, 1), {"type": "dropout", "p": 0.4}, {"type": "linear"}])


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
    params=Figure(23_834_568, source="torchvision num_params (without the auxiliary head)"),
    macs=Figure(5_713_216_096, source="torchvision _ops (without the auxiliary head)"),
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
