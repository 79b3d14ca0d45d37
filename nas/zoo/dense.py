"""The densely connected networks as seeds: DenseNet-121, -161, -169 and -201 (torchvision's DenseNet-BC).

A ``dense`` record is one dense layer (BN-ReLU-1x1 conv to ``bn_size * growth`` channels, BN-ReLU-3x3 conv to
``growth`` channels, concatenated to its input), so a dense block is a ``dense`` record with ``repeat: n``.
Each stage is a dense block followed, except in the last stage, by a transition (BN-ReLU-1x1 conv halving the
channels, 2x2 average pool).
"""

from __future__ import annotations

from typing import Any, Sequence

from ..genome import Genome
from . import Figure, register_seed

Rec = dict[str, Any]


def _densenet(growth: int, stem: int, depths: Sequence[int], bn_size: int = 4, compression: float = 0.5) -> Genome:
    """An ImageNet DenseNet-BC (3x224x224, 1000 classes): ``depths[i]`` dense layers of ``growth`` in block i.

    The stem is a 7x7 stride-2 conv to ``stem`` channels with BN-ReLU and a 3x3 stride-2 max pool; the features
    end with a BN (torchvision's ``norm5``), then ReLU, global average pooling and the classifier.
    """
    stages = []
    for i, n in enumerate(depths):
        blocks: list[Rec] = [{"type": "dense", "growth": growth, "bn_size": bn_size, "repeat": n}]
        if i < len(depths) - 1:
            blocks.append({"type": "transition", "compression": compression})
        stages.append({"blocks": blocks})
    return Genome.from_dict({
        "input": [3, 224, 224], "classes": 1000,
        "stem": [{"type": "conv", "c": stem, "k": 7, "s": 2}, {"type": "maxpool", "k": 3, "s": 2, "p": 1}],
        "stages": stages,
        "head": [{"type": "bn"}, {"type": "act"}, {"type": "gap"}, {"type": "linear"}],
    })


def _seed(name: str, growth: int, stem: int, depths: tuple[int, int, int, int], params: int, macs: int,
          test_input: tuple[int, int, int] | None) -> None:
    """Register ``name`` as the DenseNet-BC built by ``_densenet(growth, stem, depths)``."""
    layers = 2 * sum(depths) + (len(depths) - 1) + 2  # two convs per dense layer, transitions, stem, classifier
    table = "Table 1" if growth == 32 else "Table 1's layout with a wider growth rate, the authors' released model"
    source = f"Huang et al. 2017, {table} (DenseNet-{layers}, k = {growth}); torchvision {name}"

    def make() -> Genome:
        return _densenet(growth, stem, depths)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"{name}: {source}."
    register_seed(name, "densenet", source, params=Figure(params, source="torchvision num_params"),
                  macs=Figure(macs, source="torchvision _ops (conv + linear MACs)"),
                  note=f"growth {growth}, {stem}-channel stem, dense blocks of {'-'.join(map(str, depths))} layers, "
                       "bottleneck 4 x growth, compression 0.5",
                  test_input=test_input)(make)


_DENSENETS = [  # name, growth, stem channels, layers per dense block, params, MACs (torchvision, exact)
    ("densenet121", 32, 64, (6, 12, 24, 16), 7_978_856, 2_834_161_664),
    ("densenet161", 48, 96, (6, 12, 36, 24), 28_681_000, 7_727_907_072),
    ("densenet169", 32, 64, (6, 12, 32, 32), 14_149_480, 3_359_843_328),
    ("densenet201", 32, 64, (6, 12, 48, 32), 20_013_928, 4_291_365_888),
]
for _name, _growth, _stem, _depths, _params, _macs in _DENSENETS:
    _seed(_name, _growth, _stem, _depths, _params, _macs, None if _name == "densenet121" else (3, 64, 64))
del _name, _growth, _stem, _depths, _params, _macs
