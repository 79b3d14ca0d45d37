"""The residual networks as seeds: ResNet (v1.5 and v1), Wide ResNet, ResNeXt, SE-ResNet, pre-activation ResNet,
ResNet with stochastic depth, and FractalNet, the residual-free network of the same lecture.

Every ImageNet ResNet here is one builder, ``_resnet``: a 7x7 stride-2 stem with a 3x3 max pool, four stages of
``basic`` or ``bottleneck`` units (64, 128, 256, 512 channels, times 4 for bottlenecks; stride 2 on the first unit
of stages 2-4), then global average pooling and the classifier. A projection shortcut (1x1 conv and BN) appears
where the shape changes ("option B" of He et al. 2016). The variants only set options of the units.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..genome import Genome
from . import Figure, register_seed

Rec = dict[str, Any]

WIDTHS = (64, 128, 256, 512)
"""Base widths of the four stages; a bottleneck unit outputs four times as many channels."""

ARCH: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
"""Unit type and units per stage of each ResNet depth (He et al. 2016, Table 1)."""

SMALL = (3, 64, 64)
"""Reduced input for the build-and-forward test of the large nets (stage outputs 16, 8, 4 and 2 pixels)."""

TV_PARAMS = "torchvision num_params"
TV_MACS = "torchvision _ops (conv + linear MACs)"


def _resnet(block: str, depths: Sequence[int], *, mid: float = 0.0, groups: int = 1, stride_on: str = "3x3",
            se: float = 0.0, preact: bool = False, drop_path: float = 0.0) -> Genome:
    """An ImageNet ResNet (3x224x224, 1000 classes) of ``block`` units, ``depths[i]`` of them in stage i.

    ``mid`` sets a bottleneck's inner width to ``mid * c`` (default c/4), ``groups`` its 3x3 cardinality,
    ``stride_on`` which conv of a bottleneck downsamples; ``se`` adds squeeze-and-excitation of ratio ``se``;
    ``preact`` uses pre-activation units with a bare stem conv and a final BN-ReLU; ``drop_path`` is the
    largest drop-path rate of the linear stochastic-depth ramp.
    """
    expansion = 4 if block == "bottleneck" else 1
    stages = []
    for i, (n, w) in enumerate(zip(depths, WIDTHS)):
        c = w * expansion
        unit: Rec = {"type": block, "c": c, "s": 1 if i == 0 else 2, "repeat": n}
        if mid:
            unit["mid"] = int(c * mid)
        if groups != 1:
            unit["groups"] = groups
        if stride_on != "3x3":
            unit["stride_on"] = stride_on
        if se:
            unit["se"] = se
        if preact:
            unit["preact"] = True
        stages.append({"blocks": [unit]})
    # A pre-activation network leaves the stem conv bare: the first unit's BN-ReLU follows it (after the max
    # pool, which commutes with a monotone BN-ReLU), and one BN-ReLU closes the last stage before pooling.
    stem_conv: Rec = {"type": "conv", "c": 64, "k": 7, "s": 2}
    if preact:
        stem_conv.update(bn=False, act=None, bias=False)
    head: list[Rec] = [{"type": "bn"}, {"type": "act"}] if preact else []
    d: Rec = {
        "input": [3, 224, 224], "classes": 1000,
        "stem": [stem_conv, {"type": "maxpool", "k": 3, "s": 2, "p": 1}],
        "stages": stages,
        "head": head + [{"type": "gap"}, {"type": "linear"}],
    }
    if drop_path:
        d["drop_path"] = drop_path
    return Genome.from_dict(d)


def _seed(name: str, family: str, source: str, depth: int, *, params: Figure, macs: Figure, note: str = "",
          test_input: tuple[int, int, int] | None = SMALL, **options: Any) -> None:
    """Register ``name`` as the ResNet-``depth`` built by ``_resnet`` with ``options``."""
    block, depths = ARCH[depth]

    def make() -> Genome:
        return _resnet(block, depths, **options)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"{name}: {source}."
    register_seed(name, family, source, params=params, macs=macs, note=note, test_input=test_input)(make)


# ---------------------------------------------------------------- ResNet v1.5 (torchvision)

_V15 = [  # name, depth, params, MACs: torchvision's figures, reproduced exactly
    ("resnet18", 18, 11_689_512, 1_814_073_344),
    ("resnet34", 34, 21_797_672, 3_663_761_408),
    ("resnet50", 50, 25_557_032, 4_089_184_256),
    ("resnet101", 101, 44_549_160, 7_801_405_440),
    ("resnet152", 152, 60_192_808, 11_513_626_624),
]
for _name, _depth, _params, _macs in _V15:
    _seed(_name, "resnet", f"He et al. 2016, Table 1 (ResNet-{_depth}); torchvision {_name} (v1.5)", _depth,
          params=Figure(_params, source=TV_PARAMS), macs=Figure(_macs, source=TV_MACS),
          note="" if ARCH[_depth][0] == "basic" else
          "v1.5: a downsampling bottleneck strides its 3x3 conv (torchvision, fb.resnet.torch); see the _v1 seed",
          test_input=None if _depth == 18 else SMALL)
_V15_PARAMS = {name: params for name, _, params, _ in _V15}

# ---------------------------------------------------------------- ResNet v1 (the paper's Caffe models)

_V1 = [  # name, depth, MACs as counted here, the paper's Table 1 FLOPs (multiply-adds)
    ("resnet50_v1", 50, 3.86e9, 3.8e9),
    ("resnet101_v1", 101, 7.57e9, 7.6e9),
    ("resnet152_v1", 152, 11.28e9, 11.3e9),
]
for _name, _depth, _macs, _paper in _V1:
    _base = _name.removesuffix("_v1")
    _seed(_name, "resnet", f"He et al. 2016, Table 1 (ResNet-{_depth}); original Caffe model (v1)", _depth,
          params=Figure(_V15_PARAMS[_base], source=f"as {_base}: moving the stride adds no weights"),
          macs=Figure(_macs, tol=0.005, source=f"issue 3: {_macs / 1e9:.2f}G conv + linear MACs (the paper's "
                                                 f"Table 1 rounds to {_paper / 1e9:g} x 10^9 FLOPs)"),
          note="v1: a downsampling bottleneck strides its first 1x1 conv, so its 3x3 runs at the reduced "
               "resolution; same weights as v1.5 and fewer MACs",
          stride_on="1x1")
del _name, _depth, _params, _macs, _paper, _base

# ---------------------------------------------------------------- wider and grouped bottlenecks

_seed("wide_resnet50_2", "wide_resnet", "Zagoruyko & Komodakis 2016 (WRN-50-2-bottleneck); torchvision "
      "wide_resnet50_2", 50, params=Figure(68_883_240, source=TV_PARAMS), macs=Figure(11_398_021_120, source=TV_MACS),
      note="ResNet-50 with bottlenecks twice as wide (inner width c/2 instead of c/4); outer widths unchanged",
      mid=0.5)

_seed("resnext50_32x4d", "resnext", "Xie et al. 2017, Table 1 (ResNeXt-50 32x4d); torchvision resnext50_32x4d",
      50, params=Figure(25_028_904, source=TV_PARAMS), macs=Figure(4_230_479_872, source=TV_MACS),
      note="ResNet-50 whose 3x3 conv has 32 groups of 4 channels per group in stage 1 (inner width c/2)",
      mid=0.5, groups=32)

# ---------------------------------------------------------------- squeeze-and-excitation

_seed("se_resnet50", "senet", "Hu et al. 2018, Table 2 (SE-ResNet-50, reduction 16)", 50,
      params=Figure(28_088_024, source="computed (issue 3); ResNet-50 plus about 2.5M SE weights"),
      macs=Figure(3.8605e9, tol=1e-4, source="computed (issue 3): 3,860,488,192 MACs; the paper: 3.87 GFLOPs "
                                              "beside 3.86 for its ResNet-50"),
      note="reduction 16 (se: 0.0625 of the unit's output channels), SE before the residual addition; stride on "
           "the first 1x1 conv (v1, the paper's Caffe models): that placement gives the computed 3.8605G, while "
           "striding the 3x3 (v1.5) would give 4.0917G",
      se=0.0625, stride_on="1x1")

# ---------------------------------------------------------------- pre-activation ResNets

_PREACT_NOTE = ("pre-activation units (BN-ReLU-conv; the projection shortcut is a bare 1x1 conv on the "
                "pre-activated input); the stem conv has no BN-ReLU of its own, the first unit's BN-ReLU follows "
                "the stem's max pool, and a final BN-ReLU precedes global pooling. fb.resnet.torch's preresnet "
                "instead gives the stem conv a BN-ReLU and drops it from the units of stage 1")
_seed("preact_resnet18", "preact_resnet", "He et al. 2016, 'Identity Mappings in Deep Residual Networks', "
      "Fig. 1(b) and 4(e), on the ResNet-18 layout", 18,
      params=Figure(11_687_720, source="computed"), macs=Figure(1_814_073_344, source="computed: as resnet18"),
      note=_PREACT_NOTE, test_input=None, preact=True)
_seed("preact_resnet50", "preact_resnet", "He et al. 2016, 'Identity Mappings in Deep Residual Networks', "
      "Fig. 1(b) and 4(e), on the ResNet-50 layout", 50,
      params=Figure(25_549_352, source="computed"), macs=Figure(4_089_184_256, source="computed: as resnet50"),
      note=_PREACT_NOTE, preact=True)

# ---------------------------------------------------------------- stochastic depth

_seed("resnet152_stochastic_depth", "resnet", "Huang et al. 2016, 'Deep Networks with Stochastic Depth', "
      "Sec. 3 (linear decay, p_L = 0.5) and Sec. 4 (ImageNet, 152-layer ResNet)", 152,
      params=Figure(60_192_808, source="as resnet152: stochastic depth adds no weights"),
      macs=Figure(11_513_626_624, source="as resnet152: the test-time network is the full one"),
      note="resnet152 (v1.5, fb.resnet.torch's layout) with drop_path 0.5: unit l of L = 50 drops its residual "
           "branch with probability 0.5 l / L in training, i.e. survival decays linearly from 1 to 0.5",
      drop_path=0.5)


# ---------------------------------------------------------------- FractalNet


@register_seed(
    "fractalnet", family="fractalnet",
    source="Larsson et al. 2017, 'FractalNet: Ultra-Deep Neural Networks without Residuals', Sec. 2 and 4 "
           "(CIFAR: B = 5 blocks, C = 4 columns, 40 layers)",
    params=Figure(76_106_634, source="computed"),
    macs=Figure(2_036_077_568, source="computed"),
    note="C = 4 columns (15 conv-BN-ReLU units per block, deepest path 8), mean joins, 64-128-256-512-512 "
         "channels, a 2x2 max pool after each block (the paper pools each column before the block's last join, "
         "the same cost), a linear classifier on the 512x1x1 output. The paper's rounded parameter counts could "
         "not be checked here; the same layout with C = 3 gives 33,724,618 parameters, exactly the count of "
         "osmr/imgclsmob's fractalnet_cifar10. The paper's Caffe convs keep a bias and its BN has no affine "
         "weights, so its own count differs slightly",
)
def fractalnet() -> Genome:
    """FractalNet for CIFAR-10 (3x32x32): five fractal blocks of four columns, each followed by a 2x2 max pool."""
    return Genome.from_dict({
        "input": [3, 32, 32], "classes": 10,
        "stages": [{"blocks": [{"type": "fractal", "c": c, "columns": 4}, {"type": "maxpool", "k": 2}]}
                   for c in (64, 128, 256, 512, 512)],
        "head": [{"type": "linear"}],
    })
