"""The classic plain CNNs as seeds: LeNet-5, AlexNet (two-GPU and torchvision), ZFNet, VGG and SqueezeNet.

Plain convolutions here have a bias and no batch norm (``bn: false``) unless noted; the VGG and AlexNet
classifiers follow torchvision's order (linear, ReLU, dropout), and torchvision's ``AdaptiveAvgPool``
before the classifier is left out since it is the identity at the nets' own input size.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import groupby
from typing import Any

from ..genome import Block, Genome, Stage
from .figures import Figure, register_seed

Rec = dict[str, Any]

# Krizhevsky et al.'s response normalization (k=2, n=5, alpha=1e-4, beta=0.75). The paper's formula scales
# the sum of squares by alpha; PyTorch's LocalResponseNorm scales it by alpha/n, hence alpha = 5 * 1e-4.
LRN_KRIZHEVSKY: Rec = {"type": "lrn", "size": 5, "alpha": 5e-4, "beta": 0.75, "k": 2.0}


def conv(c: int | str, k: int = 3, s: int = 1, p: int | None = None, *, groups: int = 1, bn: bool = False,
         act: str | None = "relu", repeat: int = 1) -> Rec:
    """A conv record; plain (bias, no norm) by default, with a conv bias kept even when ``bn``."""
    rec: Rec = {"type": "conv", "c": c, "k": k, "s": s, "bn": bn, "act": act}
    if p is not None:
        rec["p"] = p
    if groups != 1:
        rec["groups"] = groups
    if bn:
        rec["bias"] = True
    if repeat != 1:
        rec["repeat"] = repeat
    return rec


def maxpool(k: int = 2, s: int | None = None, *, ceil: bool = False) -> Rec:
    """A max-pool record (stride defaults to the window)."""
    rec: Rec = {"type": "maxpool", "k": k, "s": s if s is not None else k}
    if ceil:
        rec["ceil"] = True
    return rec


def classifier(hidden: tuple[int, ...], drop: float = 0.5, *, drop_first: bool = False) -> list[Rec]:
    """Flatten, then FC-ReLU layers with dropout after each (before each when ``drop_first``), then the logits."""
    head: list[Rec] = [{"type": "flatten"}]
    for h in hidden:
        fc = {"type": "linear", "c": h, "act": "relu"}
        head += [{"type": "dropout", "p": drop}, fc] if drop_first else [fc, {"type": "dropout", "p": drop}]
    return head + [{"type": "linear"}]


# ---------------------------------------------------------------- LeNet-5


@register_seed(
    "lenet5", family="lenet", source="LeCun et al. 1998, Fig. 2 (LeNet-5), with full C3 connectivity",
    params=Figure(61_706, kind="computed", source="61,470 weights + 236 biases; the paper gives no total"),
    macs=Figure(416_520, kind="computed", source="convs 357,600 + FC 58,920; the paper gives no total"),
    note="full C3 connectivity (the paper connects C3 to S2 sparsely: 1,516 parameters instead of 2,416), "
         "parameter-free 2x2 average pooling for the trainable subsampling layers, and a linear output layer "
         "for the paper's RBF units; tanh throughout",
)
def lenet5() -> Genome:
    """LeNet-5 on 1x32x32: two 5x5 valid convs with 2x2 subsampling, then FC 120-84-10."""
    return Genome.from_dict({
        "input": [1, 32, 32], "classes": 10,
        "stages": [{"blocks": [conv(c, 5, p=0, act="tanh"), {"type": "avgpool", "k": 2}]} for c in (6, 16)],
        "head": [{"type": "linear", "c": 120, "act": "tanh"}, {"type": "linear", "c": 84, "act": "tanh"},
                 {"type": "linear"}],
    })


# ---------------------------------------------------------------- AlexNet and ZFNet


@register_seed(
    "alexnet", family="alexnet", source="Krizhevsky et al. 2012, Sec. 3 and Fig. 2 (two-GPU form)",
    params=Figure(60_965_224, kind="computed", source="from the paper's layers; the paper says 60 million"),
    macs=Figure(724_406_816, kind="computed", source="from the paper's layers (about 720M)"),
    note="3x227x227 so that the 11x11 stride-4 conv1 gives the paper's 55x55; conv2, conv4 and conv5 are "
         "split across the two GPUs (groups=2), conv3 and the FC layers are connected across both",
)
def alexnet() -> Genome:
    """AlexNet as in the paper: LRN after conv1 and conv2, grouped conv2/4/5, overlapping 3x3/2 max pools."""
    return Genome.from_dict({
        "input": [3, 227, 227], "classes": 1000,
        "stem": [conv(96, 11, 4, 0), LRN_KRIZHEVSKY, maxpool(3, 2)],
        "stages": [
            {"blocks": [conv(256, 5, p=2, groups=2), LRN_KRIZHEVSKY, maxpool(3, 2)]},
            {"blocks": [conv(384, p=1), conv(384, p=1, groups=2), conv(256, p=1, groups=2), maxpool(3, 2)]},
        ],
        "head": classifier((4096, 4096), 0.5),
    })


@register_seed(
    "alexnet_tv", family="alexnet", source="torchvision alexnet (Krizhevsky 2014, 'One weird trick', single GPU)",
    params=Figure(61_100_840, kind="reference", source="torchvision num_params"),
    macs=Figure(714_188_480, kind="reference", source="torchvision _ops"),
)
def alexnet_tv() -> Genome:
    """torchvision's single-GPU AlexNet: 64-192-384-256-256 channels, no LRN, dropout before each hidden FC."""
    return Genome.from_dict({
        "input": [3, 224, 224], "classes": 1000,
        "stem": [conv(64, 11, 4, 2), maxpool(3, 2)],
        "stages": [
            {"blocks": [conv(192, 5, p=2), maxpool(3, 2)]},
            {"blocks": [conv(384, p=1), conv(256, p=1), conv(256, p=1), maxpool(3, 2)]},
        ],
        "head": classifier((4096, 4096), 0.5, drop_first=True),
    })


@register_seed(
    "zfnet", family="alexnet",
    source="Zeiler & Fergus 2014, Fig. 3 geometry with Table 2's 512-1024-512 maps in layers 3-5",
    params=Figure(107_627_624, kind="computed", source="from the paper's layers; the paper gives none"),
    macs=Figure(2_476_704_896, kind="computed", source="from the paper's layers; the paper gives none"),
    note="7x7/2 conv1 (pad 1: 110x110), 3x3/2 max pools in ceil mode (55x55, 13x13, 6x6), 5x5/2 conv2, "
         "dense (single-GPU) connections, contrast normalization as LRN after layers 1 and 2",
)
def zfnet() -> Genome:
    """ZFNet: AlexNet with a 7x7 stride-2 conv1, a stride-2 conv2 and 512-1024-512 channels in conv3-5."""
    return Genome.from_dict({
        "input": [3, 224, 224], "classes": 1000,
        "stem": [conv(96, 7, 2, 1), maxpool(3, 2, ceil=True), LRN_KRIZHEVSKY],
        "stages": [
            {"blocks": [conv(256, 5, 2, 0), maxpool(3, 2, ceil=True), LRN_KRIZHEVSKY]},
            {"blocks": [conv(512, p=1), conv(1024, p=1), conv(512, p=1), maxpool(3, 2)]},
        ],
        "head": classifier((4096, 4096), 0.5),
    })


# ---------------------------------------------------------------- VGG

VGG_PLAN = (64, 128, 256, 512, 512)
"""Table 1's conv width per stage, the same in every config."""

VGG_CONFIGS: dict[str, tuple[tuple[int, ...], ...]] = {
    "A": ((3,), (3,), (3, 3), (3, 3), (3, 3)),
    "B": ((3, 3), (3, 3), (3, 3), (3, 3), (3, 3)),
    "C": ((3, 3), (3, 3), (3, 3, 1), (3, 3, 1), (3, 3, 1)),
    "D": ((3, 3), (3, 3), (3, 3, 3), (3, 3, 3), (3, 3, 3)),
    "E": ((3, 3), (3, 3), (3, 3, 3, 3), (3, 3, 3, 3), (3, 3, 3, 3)),
}
"""The kernel of each conv, per stage, of Table 1's configs A to E; each stage closes with a 2x2 max pool."""

VGG_NORMS = ("none", "lrn", "bn")
"""Conv biases and no norm (the paper), config A-LRN's LRN after the first conv, or BN after every conv; in cost
order (LRN adds one map's activations, BN a map and 2 params per channel), which the vgg search space relies on."""

VGG_POOL = Block.from_dict(maxpool(2))
"""The 2x2/2 max pool that closes every stage."""
VGG_CLASSIFIER = tuple(Block.from_dict(r) for r in classifier((4096, 4096), 0.5))
"""torchvision's classifier: flatten, FC 4096, ReLU, dropout, FC 4096, ReLU, dropout, FC to the classes."""
_VGG_LRN = Block.from_dict(LRN_KRIZHEVSKY)


@lru_cache(maxsize=None)
def vgg_conv(c: int, k: int, norm: str, repeat: int = 1) -> Block:
    """A conv-ReLU record with same padding; with BN the conv keeps its bias (as torchvision's ``vgg*_bn``)."""
    return Block.from_dict(conv(c, k, p=k // 2, bn=norm == "bn", repeat=repeat))


@lru_cache(maxsize=1 << 14)
def vgg_stage(c: int, kernels: tuple[int, ...], norm: str, first: bool) -> tuple[Block, ...]:
    """One stage: convs of ``kernels`` (equal neighbours folded into ``repeat``), LRN after the very first conv
    when ``norm`` is ``lrn`` and this is the ``first`` stage, then the max pool."""
    split = first and norm == "lrn"  # the LRN splits the first run of convs after its first conv
    records: list[Block] = []
    for j, part in enumerate((kernels[:1], kernels[1:]) if split else (kernels,)):
        if j:
            records.append(_VGG_LRN)
        records += [vgg_conv(c, k, norm, len(list(run))) for k, run in groupby(part)]
    return (*records, VGG_POOL)


def _vgg(cfg: str, norm: str = "none") -> Genome:
    """VGG config ``cfg`` (Simonyan & Zisserman Table 1) with torchvision's classifier and ``norm``."""
    stages = tuple(Stage(vgg_stage(c, kernels, norm, i == 0))
                   for i, (c, kernels) in enumerate(zip(VGG_PLAN, VGG_CONFIGS[cfg])))
    return Genome(stages=stages, head=VGG_CLASSIFIER)


_VGG_SRC = "Simonyan & Zisserman 2015, Table 1 config {}; torchvision {}"


@register_seed("vgg11", family="vgg", source=_VGG_SRC.format("A", "vgg11"),
               params=Figure(132_863_336, kind="reference", source="torchvision num_params"),
               macs=Figure(7_609_090_048, kind="reference", source="torchvision _ops"))
def vgg11() -> Genome:
    """VGG-11 (config A)."""
    return _vgg("A")


@register_seed("vgg11_bn", family="vgg", source=_VGG_SRC.format("A", "vgg11_bn"),
               params=Figure(132_868_840, kind="reference", source="torchvision num_params"),
               macs=Figure(7_609_090_048, kind="reference", source="torchvision _ops"),
               note="batch norm after every conv; the convs keep their bias as in torchvision")
def vgg11_bn() -> Genome:
    """VGG-11 (config A) with batch norm."""
    return _vgg("A", "bn")


@register_seed("vgg_a_lrn", family="vgg", source="Simonyan & Zisserman 2015, Table 1 config A-LRN",
               params=Figure(133_000_000, tol=0.005, kind="published", source="paper Table 2: 133M"),
               macs=Figure(7_609_090_048, kind="computed", source="LRN adds no MACs: as vgg11"),
               note="LRN with Krizhevsky et al.'s parameters after the first conv; otherwise config A")
def vgg_a_lrn() -> Genome:
    """VGG config A-LRN: config A with local response normalization after the first conv."""
    return _vgg("A", "lrn")


@register_seed("vgg13", family="vgg", source=_VGG_SRC.format("B", "vgg13"),
               params=Figure(133_047_848, kind="reference", source="torchvision num_params"),
               macs=Figure(11_308_466_176, kind="reference", source="torchvision _ops"))
def vgg13() -> Genome:
    """VGG-13 (config B)."""
    return _vgg("B")


@register_seed("vgg_c", family="vgg", source="Simonyan & Zisserman 2015, Table 1 config C",
               params=Figure(133_638_952, kind="computed", source="from Table 1's layers; Table 2 rounds to 134M"),
               macs=Figure(11_770_888_192, kind="computed", source="from Table 1's layers; the paper gives none"),
               note="config C: a 1x1 conv closes each of the last three stages")
def vgg_c() -> Genome:
    """VGG-16 config C: config B plus a 1x1 conv in each of the last three stages."""
    return _vgg("C")


@register_seed("vgg16", family="vgg", source=_VGG_SRC.format("D", "vgg16"),
               params=Figure(138_357_544, kind="reference", source="torchvision num_params"),
               macs=Figure(15_470_264_320, kind="reference", source="torchvision _ops"))
def vgg16() -> Genome:
    """VGG-16 (config D)."""
    return _vgg("D")


@register_seed("vgg19", family="vgg", source=_VGG_SRC.format("E", "vgg19"),
               params=Figure(143_667_240, kind="reference", source="torchvision num_params"),
               macs=Figure(19_632_062_464, kind="reference", source="torchvision _ops"))
def vgg19() -> Genome:
    """VGG-19 (config E)."""
    return _vgg("E")


# ---------------------------------------------------------------- SqueezeNet


def _fire(squeeze: int, expand: int) -> Rec:
    """A fire module with equal 1x1 and 3x3 expands."""
    return {"type": "fire", "squeeze": squeeze, "e1": expand, "e3": expand}


@register_seed(
    "squeezenet1_0", family="squeezenet", source="Iandola et al. 2016, Table 1; torchvision squeezenet1_0",
    params=Figure(1_248_424, kind="reference", source="torchvision num_params"),
    macs=Figure(818_924_576, kind="reference", source="torchvision _ops"),
    test_input=(3, 64, 64),
)
def squeezenet1_0() -> Genome:
    """SqueezeNet 1.0: 7x7/2 conv, eight fire modules between ceil-mode max pools, a 1x1 conv classifier."""
    pool = maxpool(3, 2, ceil=True)
    return Genome.from_dict({
        "input": [3, 224, 224], "classes": 1000,
        "stem": [conv(96, 7, 2, 0), pool],
        "stages": [
            {"blocks": [_fire(16, 64), _fire(16, 64), _fire(32, 128)]},
            {"blocks": [pool, _fire(32, 128), _fire(48, 192), _fire(48, 192), _fire(64, 256)]},
            {"blocks": [pool, _fire(64, 256)]},
        ],
        "head": [{"type": "dropout", "p": 0.5}, conv("classes", 1), {"type": "gap"}, {"type": "flatten"}],
    })
