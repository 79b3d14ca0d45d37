"""The residual networks as seeds: ResNet (v1.5 and v1), Wide ResNet, ResNeXt, SE-ResNet, pre-activation ResNet,
ResNet with stochastic depth, and FractalNet, the residual-free network of the same lecture.

Every ImageNet ResNet here is one builder, ``_resnet``, made of ``resnet_stem``, ``resnet_stage`` and
``resnet_head`` (which the resnet search space builds from too): a 7x7 stride-2 stem with a 3x3 max pool, four stages of
``basic`` or ``bottleneck`` units (64, 128, 256, 512 channels, times 4 for bottlenecks; stride 2 on the first unit
of stages 2-4), then global average pooling and the classifier. A projection shortcut (1x1 conv and BN) appears
where the shape changes ("option B" of He et al. 2016). The variants only set options of the units.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

from ..genome import Block, Genome, Stage
from .figures import Figure, register_seed

STEM_WIDTH = 64
"""Channels of the 7x7 stem conv, whatever the stage widths (as in torchvision)."""

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


@lru_cache(maxsize=None)
def resnet_stem(preact: bool = False) -> tuple[Block, ...]:
    """The 7x7 stride-2 conv and a 3x3 stride-2 max pool.

    A pre-activation network leaves the stem conv bare: the first unit's BN-ReLU follows it (after the max pool,
    which commutes with a monotone BN-ReLU).
    """
    bare: dict[str, Any] = {"bias": False, "bn": False, "act": None} if preact else {}
    conv = Block.of("conv", c=STEM_WIDTH, k=7, s=2, **bare)
    return conv, Block.of("maxpool", k=3, s=2, p=1)


@lru_cache(maxsize=None)
def resnet_head(preact: bool = False) -> tuple[Block, ...]:
    """Global average pooling and the classifier, after one closing BN-ReLU in a pre-activation network."""
    return ((Block.of("bn"), Block.of("act")) if preact else ()) + (Block.of("gap"), Block.of("linear"))


@lru_cache(maxsize=1 << 12)
def resnet_stage(i: int, block: str, depth: int, base: int = 64, groups: int = 1, width_per_group: int = 64,
                 stride_on: str = "3x3", se: float = 0.0, preact: bool = False) -> tuple[Block, ...]:
    """Stage ``i``: ``depth`` ``block`` units of ``base * 2**i`` planes, the first with stride 2 from stage 1 on.

    A bottleneck outputs 4 x planes; its 3x3 convs are ``groups`` x ``width_per_group`` wide in torchvision's
    rule ``mid = int(planes * width_per_group / 64) * groups``, which covers ResNeXt's cardinality and Wide
    ResNet's widening; ``stride_on`` says which of its convs downsamples. ``se`` adds squeeze-and-excitation.
    """
    planes = base * 2**i
    extra: dict[str, Any] = {"se": se, "preact": preact}
    if block == "bottleneck":
        c = 4 * planes
        mid = int(planes * width_per_group / 64) * groups
        extra.update(mid=None if mid == planes else mid, groups=groups, stride_on=stride_on)
    else:
        c = planes
    extra = {k: v for k, v in extra.items() if v is not None}
    return (Block.of(block, repeat=depth, c=c, s=1 if i == 0 else 2, **extra),)


def _resnet(block: str, depths: Sequence[int], *, groups: int = 1, width_per_group: int = 64,
            stride_on: str = "3x3", se: float = 0.0, preact: bool = False, drop_path: float = 0.0) -> Genome:
    """An ImageNet ResNet (3x224x224, 1000 classes) of ``block`` units, ``depths[i]`` of them in stage i.

    ``groups``, ``width_per_group``, ``stride_on``, ``se`` and ``preact`` set the units (``resnet_stage``);
    ``drop_path`` is the largest drop-path rate of the linear stochastic-depth ramp.
    """
    stages = tuple(Stage(resnet_stage(i, block, n, 64, groups, width_per_group, stride_on, se, preact))
                   for i, n in enumerate(depths))
    return Genome(stages=stages, stem=resnet_stem(preact), head=resnet_head(preact), drop_path=drop_path)


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
          params=Figure(_params, kind="reference", source=TV_PARAMS),
          macs=Figure(_macs, kind="reference", source=TV_MACS),
          note="" if ARCH[_depth][0] == "basic" else
          "v1.5: a downsampling bottleneck strides its 3x3 conv (torchvision, fb.resnet.torch); see the _v1 seed",
          test_input=None if _depth == 18 else SMALL)
_V15_PARAMS = {name: params for name, _, params, _ in _V15}

# ---------------------------------------------------------------- ResNet v1 (the paper's Caffe models)

_V1 = [  # name, depth, MACs as counted here, the paper's Table 1 FLOPs (multiply-adds)
    ("resnet50_v1", 50, 3_857_973_248, 3.8e9),
    ("resnet101_v1", 101, 7_570_194_432, 7.6e9),
    ("resnet152_v1", 152, 11_282_415_616, 11.3e9),
]
for _name, _depth, _macs, _paper in _V1:
    _base = _name.removesuffix("_v1")
    _seed(_name, "resnet", f"He et al. 2016, Table 1 (ResNet-{_depth}); original Caffe model (v1)", _depth,
          params=Figure(_V15_PARAMS[_base], kind="computed", source=f"as {_base}: moving the stride adds no weights"),
          macs=Figure(_macs, kind="computed", source=f"conv + linear MACs, {_macs / 1e9:.2f}G; the paper's Table 1 "
                                                      f"gives {_paper / 1e9:g} x 10^9 FLOPs (multiply-adds)"),
          note="v1: a downsampling bottleneck strides its first 1x1 conv, so its 3x3 runs at the reduced "
               "resolution; same weights as v1.5 and fewer MACs",
          stride_on="1x1")
del _name, _depth, _params, _macs, _paper, _base

# ---------------------------------------------------------------- wider and grouped bottlenecks

_seed("wide_resnet50_2", "wide_resnet", "Zagoruyko & Komodakis 2016 (WRN-50-2-bottleneck); torchvision "
      "wide_resnet50_2", 50, params=Figure(68_883_240, kind="reference", source=TV_PARAMS),
      macs=Figure(11_398_021_120, kind="reference", source=TV_MACS),
      note="ResNet-50 with bottlenecks twice as wide (inner width c/2 instead of c/4); outer widths unchanged",
      width_per_group=128)

_seed("resnext50_32x4d", "resnext", "Xie et al. 2017, Table 1 (ResNeXt-50 32x4d); torchvision resnext50_32x4d",
      50, params=Figure(25_028_904, kind="reference", source=TV_PARAMS),
      macs=Figure(4_230_479_872, kind="reference", source=TV_MACS),
      note="ResNet-50 whose 3x3 conv has 32 groups of 4 channels per group in stage 1 (inner width c/2)",
      groups=32, width_per_group=4)

# ---------------------------------------------------------------- squeeze-and-excitation

_seed("se_resnet50", "senet", "Hu et al. 2018, Table 2 (SE-ResNet-50, reduction 16)", 50,
      params=Figure(28_088_024, kind="computed", source="ResNet-50 plus about 2.5M SE weights"),
      macs=Figure(3_860_488_192, kind="computed", source="the paper gives 3.87 GFLOPs beside 3.86 for its "
                                                         "ResNet-50"),
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
      params=Figure(11_687_720, kind="computed", source="the paper gives none"),
      macs=Figure(1_814_073_344, kind="computed", source="as resnet18: pre-activation moves no MACs"),
      note=_PREACT_NOTE, test_input=None, preact=True)
_seed("preact_resnet50", "preact_resnet", "He et al. 2016, 'Identity Mappings in Deep Residual Networks', "
      "Fig. 1(b) and 4(e), on the ResNet-50 layout", 50,
      params=Figure(25_549_352, kind="computed", source="the paper gives none"),
      macs=Figure(4_089_184_256, kind="computed", source="as resnet50: pre-activation moves no MACs"),
      note=_PREACT_NOTE, preact=True)

# ---------------------------------------------------------------- stochastic depth

_seed("resnet152_stochastic_depth", "resnet", "Huang et al. 2016, 'Deep Networks with Stochastic Depth', "
      "Sec. 3 (linear decay, p_L = 0.5) and Sec. 4 (ImageNet, 152-layer ResNet)", 152,
      params=Figure(60_192_808, kind="computed", source="as resnet152: stochastic depth adds no weights"),
      macs=Figure(11_513_626_624, kind="computed", source="as resnet152: the test-time network is the full one"),
      note="resnet152 (v1.5, fb.resnet.torch's layout) with drop_path 0.5: unit l of L = 50 drops its residual "
           "branch with probability 0.5 l / L in training, i.e. survival decays linearly from 1 to 0.5",
      drop_path=0.5)


# ---------------------------------------------------------------- FractalNet


@register_seed(
    "fractalnet", family="fractalnet",
    source="Larsson et al. 2017, 'FractalNet: Ultra-Deep Neural Networks without Residuals', Sec. 2 and 4 "
           "(CIFAR: B = 5 blocks, C = 4 columns, 40 layers)",
    params=Figure(76_106_634, kind="computed",
                  source="the paper's rounded counts are for its Caffe layers (see the note)"),
    macs=Figure(2_036_077_568, kind="computed", source="the paper gives none"),
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
