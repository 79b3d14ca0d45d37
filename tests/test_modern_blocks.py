"""Blocks for modern networks: channel split and shuffle, the SE options, inverted's absolute hidden width, and
the example networks that need them, exact against torchvision's published figures."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nas
from nas.builder import count_macs, count_params
from nas.network import trace

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# torchvision's weight metadata: num_params, and _ops in GMACs (conv + linear multiply-accumulates) to 3 decimals.
# torchvision/models/shufflenetv2.py ShuffleNet_V2_X1_0_Weights: 2278604, 0.145; mobilenetv3.py
# MobileNet_V3_Large_Weights.IMAGENET1K_V1: 5483032, 0.217; efficientnet.py EfficientNet_B0_Weights: 5288548, 0.386.
PUBLISHED = [
    ("shufflenet_v2_x1_0", 2_278_604, 0.145),
    ("mobilenet_v3_large", 5_483_032, 0.217),
    ("efficientnet_b0", 5_288_548, 0.386),
]


@pytest.mark.parametrize("name, params, gmacs", PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_examples_match_torchvision(name: str, params: int, gmacs: float) -> None:
    g = nas.load(EXAMPLES / f"{name}.yaml")
    c = nas.cost(g)
    assert c.params == params
    assert round(c.macs / 1e9, 3) == gmacs
    model = nas.build(g)
    assert count_params(model) == c.params
    assert count_macs(model, g.input) == c.macs


def _genome(blocks: list[dict], input: tuple[int, int, int] = (24, 8, 8)) -> nas.Genome:
    """One stage of ``blocks`` on a small input, with a pooled classifier."""
    return nas.Genome.from_dict({"input": list(input), "classes": 3, "stages": [{"blocks": blocks}],
                                 "head": [{"type": "gap"}, {"type": "linear"}]})


def _same_function(a: nas.Genome, b: nas.Genome) -> None:
    """``a`` and ``b`` have the same parameters in the same order and compute the same outputs with them."""
    ma, mb = nas.build(a).eval(), nas.build(b).eval()
    pa, pb = list(ma.parameters()), list(mb.parameters())
    assert [p.shape for p in pa] == [p.shape for p in pb]
    with torch.no_grad():
        for p, q in zip(pa, pb):
            q.copy_(p)
        x = torch.randn(2, *a.input)
        assert torch.allclose(ma(x), mb(x), atol=1e-6)
    assert (nas.cost(a).params, nas.cost(a).macs) == (nas.cost(b).params, nas.cost(b).macs)


def _branch(c: int, s: int = 1) -> list[dict]:
    """ShuffleNetV2's transforming branch as plain conv records."""
    return [{"type": "conv", "c": c, "k": 1}, {"type": "conv", "c": c, "s": s, "groups": c, "act": "none"},
            {"type": "conv", "c": c, "k": 1}]


def test_shuffle_v2_units_are_split_inception_and_channel_shuffle() -> None:
    # Stride 2: both branches see the whole input (an inception); stride 1: a split keeps one half as it is.
    unit = _genome([{"type": "shuffle_v2", "c": 32, "s": 2}, {"type": "shuffle_v2", "c": 32}])
    parts = _genome([
        {"type": "inception", "branches": [
            [{"type": "conv", "c": 24, "s": 2, "groups": 24, "act": "none"}, {"type": "conv", "c": 16, "k": 1}],
            _branch(16, 2)]},
        {"type": "channel_shuffle", "groups": 2},
        {"type": "split", "branches": [[{"type": "identity"}], _branch(16)]},
        {"type": "channel_shuffle"},
    ])
    _same_function(unit, parts)


def test_split_passes_its_first_half_and_transforms_the_second() -> None:
    g = _genome([{"type": "split", "branches": [[{"type": "identity"}], [{"type": "act", "kind": "tanh"}]]}],
                (4, 2, 2))
    model = nas.build(g).stages[0][0].eval()
    x = torch.randn(1, 4, 2, 2)
    assert torch.equal(model(x), torch.cat([x[:, :2], torch.tanh(x[:, 2:])], 1))


@pytest.mark.parametrize("groups", [2, 3])
def test_channel_shuffle_interleaves_the_groups_as_torch_does(groups: int) -> None:
    """With 6 channels the shuffle and its transpose differ (with 4 in 2 groups they agree): the direction is
    pinned against ``torch.nn.ChannelShuffle``, in the model and in the standalone export."""
    from nas.export import to_python

    g = nas.Genome.from_dict({"input": [6, 1, 1], "classes": 3,
                              "stages": [[{"type": "channel_shuffle", "groups": groups}]]})
    x = torch.arange(6.0).view(1, 6, 1, 1)
    want = torch.nn.ChannelShuffle(groups)(x)
    assert torch.equal(nas.build(g)(x), want)
    assert want.flatten().tolist() == ([0.0, 3.0, 1.0, 4.0, 2.0, 5.0] if groups == 2 else
                                       [0.0, 2.0, 4.0, 1.0, 3.0, 5.0])
    namespace: dict = {}
    exec(to_python(g), namespace)
    assert torch.equal(namespace["Net"]()(x), want)


def _se_conv_widths(block: dict, input: tuple[int, int, int] = (24, 8, 8)) -> list[int]:
    """The output widths of the convs inside the block's SE (those on a 1x1 map)."""
    return [n.shape[0] for n in trace(_genome([block], input)).nodes if n.op == "conv" and n.shape[1:] == (1, 1)]


def test_se_width_from_the_input_or_absolute() -> None:
    base = {"type": "inverted", "c": 24, "e": 6}
    assert _se_conv_widths({**base, "se": 0.25}) == [40, 144]  # make_divisible(144 / 4, 8)
    assert _se_conv_widths({**base, "se": 0.25, "se_base": "in"}) == [6, 144]  # EfficientNet: 24 // 4
    assert _se_conv_widths({**base, "se_c": 20}) == [20, 144]
    assert _se_conv_widths({"type": "bottleneck", "c": 64, "se": 0.25, "se_base": "in"}, (32, 8, 8)) == [8, 64]


def test_se_activation_and_position() -> None:
    acts = [n.attrs["kind"] for n in trace(_genome([{"type": "inverted", "c": 24, "se": 0.25, "se_act": "silu"}])).nodes
            if n.op == "act"]
    assert acts == ["relu6", "relu6", "silu", "sigmoid"]
    for block, width in (({"type": "bottleneck", "c": 64, "mid": 16}, 16), ({"type": "basic", "c": 24}, 24)):
        for preact in (False, True):
            nodes = trace(_genome([{**block, "se": 0.25, "se_pos": "3x3", "preact": preact}])).nodes
            kinds = [n.op for n in nodes if n.op in ("conv", "mul")]
            # the SE (two 1x1 convs and the mul) right after the 3x3, then the last conv of the branch
            assert kinds[kinds.index("mul") - 2:kinds.index("mul") + 2] == ["conv", "conv", "mul", "conv"]
            assert [n.shape[0] for n in nodes if n.op == "mul"] == [width]


def test_se_defaults_leave_records_unchanged() -> None:
    plain = nas.Block.from_dict({"type": "bottleneck", "c": 64, "se": 0.25})
    spelled = nas.Block.from_dict({"type": "bottleneck", "c": 64, "se": 0.25, "se_base": "gated",
                                   "se_act": "auto", "se_pos": "end"})
    assert plain == spelled and plain.to_dict() == {"type": "bottleneck", "c": 64, "se": 0.25}


def test_inverted_absolute_hidden_width() -> None:
    # MobileNetV3-Small's third unit: 24 -> 88 -> 24, a ratio of 3.666...
    g = _genome([{"type": "inverted", "c": 24, "mid": 88}])
    assert [n.shape[0] for n in trace(g).nodes if n.op == "conv"][:2] == [88, 88]
    assert nas.cost(g).params == nas.cost(_genome([{"type": "inverted", "c": 24, "e": 88 / 24}])).params


def test_python_export_of_split_identity_and_shuffle(tmp_path) -> None:
    import runpy

    from nas.export import to_python

    g = _genome([{"type": "split", "branches": [[{"type": "identity"}], _branch(12)]}, {"type": "identity"},
                 {"type": "channel_shuffle", "groups": 3}])
    path = tmp_path / "net.py"
    path.write_text(to_python(g))
    exported, built = runpy.run_path(str(path))["Net"]().eval(), nas.build(g).eval()
    with torch.no_grad():
        for p, q in zip(built.parameters(), exported.parameters()):
            q.copy_(p)
        x = torch.randn(2, *g.input)
        assert torch.allclose(exported(x), built(x), atol=1e-6)
