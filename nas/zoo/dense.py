"""The densely connected networks as seeds: DenseNet-121, -161, -169 and -201 (torchvision's DenseNet-BC).

The stem is twice the growth rate wide (64 channels at k = 32, 96 at k = 48). A ``dense`` record is one dense layer
(BN-ReLU-1x1 conv to ``bn_size * growth`` channels, BN-ReLU-3x3 conv to ``growth`` channels, concatenated to its
input), so a dense block is a ``dense`` record with ``repeat: n``. Each stage is a dense block followed, except in
the last stage, by a transition (BN-ReLU-1x1 conv halving the channels, 2x2 average pool).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

from ..genome import Block, Genome, Stage
from .figures import Figure, register_seed

DENSENET_HEAD = (Block.of("bn"), Block.of("act"), Block.of("gap"), Block.of("linear"))
"""torchvision's ``norm5`` BN after the last dense block, then ReLU, global average pooling and the classifier."""


@lru_cache(maxsize=None)
def densenet_stem(growth: int) -> tuple[Block, ...]:
    """A 7x7 stride-2 conv to twice the growth rate (with BN-ReLU), then a 3x3 stride-2 max pool."""
    return Block.of("conv", c=2 * growth, k=7, s=2), Block.of("maxpool", k=3, s=2, p=1)


@lru_cache(maxsize=None)
def densenet_transition(compression: float) -> tuple[Block, ...]:
    """A transition: BN-ReLU-1x1 conv to ``compression`` of its input channels, 2x2 average pool."""
    return (Block.of("transition", compression=compression),)


@lru_cache(maxsize=None)
def densenet_stage(last: bool, growth: int, bn_size: int, depth: int, compression: float) -> tuple[Block, ...]:
    """A dense block as one repeated ``dense`` record, and its transition unless it is the ``last`` block."""
    dense = Block.of("dense", repeat=depth, growth=growth, bn_size=bn_size)
    return (dense,) if last else (dense, *densenet_transition(compression))


def _densenet(growth: int, depths: Sequence[int], bn_size: int = 4, compression: float = 0.5) -> Genome:
    """An ImageNet DenseNet-BC (3x224x224, 1000 classes): ``depths[i]`` dense layers of ``growth`` in block i."""
    last = len(depths) - 1
    stages = tuple(Stage(densenet_stage(i == last, growth, bn_size, n, compression)) for i, n in enumerate(depths))
    return Genome(stages=stages, stem=densenet_stem(growth), head=DENSENET_HEAD)


def _seed(name: str, growth: int, depths: tuple[int, int, int, int], params: int, macs: int,
          test_input: tuple[int, int, int] | None) -> None:
    """Register ``name`` as the DenseNet-BC built by ``_densenet(growth, depths)``."""
    layers = 2 * sum(depths) + (len(depths) - 1) + 2  # two convs per dense layer, transitions, stem, classifier
    table = "Table 1" if growth == 32 else "Table 1's layout with a wider growth rate, the authors' released model"
    source = f"Huang et al. 2017, {table} (DenseNet-{layers}, k = {growth}); torchvision {name}"

    def make() -> Genome:
        return _densenet(growth, depths)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"{name}: {source}."
    register_seed(name, "densenet", source, params=Figure(params, kind="reference", source="torchvision num_params"),
                  macs=Figure(macs, kind="reference", source="torchvision _ops (conv + linear MACs)"),
                  note=f"growth {growth}, {2 * growth}-channel stem, dense blocks of {'-'.join(map(str, depths))} "
                       "layers, bottleneck 4 x growth, compression 0.5",
                  test_input=test_input)(make)


_DENSENETS = [  # name, growth, layers per dense block, params, MACs (torchvision, exact)
    ("densenet121", 32, (6, 12, 24, 16), 7_978_856, 2_834_161_664),
    ("densenet161", 48, (6, 12, 36, 24), 28_681_000, 7_727_907_072),
    ("densenet169", 32, (6, 12, 32, 32), 14_149_480, 3_359_843_328),
    ("densenet201", 32, (6, 12, 48, 32), 20_013_928, 4_291_365_888),
]
for _name, _growth, _depths, _params, _macs in _DENSENETS:
    _seed(_name, _growth, _depths, _params, _macs, None if _name == "densenet121" else (3, 64, 64))
del _name, _growth, _depths, _params, _macs
