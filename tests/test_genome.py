"""The genome: YAML round trips for every block type, validation with field paths, budgets."""

from __future__ import annotations

import pickle
from copy import deepcopy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_cost_matches_model
from genomes import random_genome

import nas
import search_spaces
from nas._frozen import Params

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def single_block_genome(name: str, example: int = 0) -> nas.Genome:
    """A small genome around one registered example of one block type (its first by default)."""
    bt = nas.REGISTRY[name]
    return nas.Genome.from_dict({
        "name": f"one_{name}", "input": [3, 16, 16], "classes": 5,
        "stem": [{"type": "conv", "c": 16, "k": 3}],
        "stages": [{"blocks": [{"type": name, **bt.examples[example]}]}],
        "head": [{"type": "linear"}],
    })


BLOCK_EXAMPLES = [pytest.param(name, i, id=f"{name}-{i}" if i else name)
                  for name in nas.block_types() for i in range(len(nas.REGISTRY[name].examples))]
"""Every registered example of every block type, so that the contract tests reach every option."""


@pytest.mark.parametrize("name, example", BLOCK_EXAMPLES)
def test_every_block_type_round_trips(name: str, example: int) -> None:
    g = single_block_genome(name, example)
    text = nas.dumps(g)
    assert nas.loads(text) == g
    assert nas.dumps(nas.loads(text)) == text
    assert hash(nas.loads(text)) == hash(g)


def test_random_genomes_round_trip() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        g = random_genome(rng)
        assert nas.loads(nas.dumps(g)) == g


def test_save_and_load_file(tmp_path) -> None:
    g = single_block_genome("inception")
    path = tmp_path / "g.yaml"
    nas.save(g, path)
    assert nas.load(path) == g


def test_genome_is_not_mutated_by_with_params() -> None:
    b = nas.Block.from_dict({"type": "conv", "c": 8, "k": 5})
    b2 = b.with_params(k=7)
    assert b.params["k"] == 5 and b2.params["k"] == 7
    assert b2.with_params(k=None).params == {"c": 8}


def test_defaults_are_left_out_so_equal_networks_compare_equal() -> None:
    a = nas.Block.from_dict({"type": "conv", "c": 8, "k": 3, "s": 1, "act": "relu"})
    b = nas.Block.from_dict({"type": "conv", "c": 8})
    assert a == b and hash(a) == hash(b) and a.to_dict() == {"type": "conv", "c": 8}
    assert nas.Block.of("conv", c=8, k=3) == b
    assert nas.Block.of("conv", repeat=2, k=5, c=8).to_dict() == {"type": "conv", "c": 8, "k": 5, "repeat": 2}


def test_short_form() -> None:
    b = nas.Block.from_dict({"type": "bottleneck", "c": 256, "s": 2, "repeat": 3})
    assert b.short() == "bottleneck_c256_s2_r3"


def test_stage_shorthand_and_mapping_are_equal() -> None:
    a = nas.loads("stages: [[{type: conv, c: 8}]]")
    b = nas.loads("stages: [{blocks: [{type: conv, c: 8}]}]")
    assert a == b


@pytest.mark.parametrize("text, message", [
    ("stages: [[{type: warp, c: 8}]]",
     "stages[0].blocks[0].type: unknown block type 'warp'; valid types: act, avgpool"),
    ("stages: [[{type: conv, c: 8, k: 0}]]", "stages[0].blocks[0].k: kernel size must be positive, got 0"),
    ("stages: [[{type: conv, c: 8, k: -3}]]", "stages[0].blocks[0].k: kernel size must be positive, got -3"),
    ("stages: [[{type: conv, c: 8, s: 0}]]", "stages[0].blocks[0].s: stride must be positive, got 0"),
    ("stages: [[{type: conv, c: 8, kk: 3}]]", "stages[0].blocks[0].kk: unknown parameter for block type 'conv'"),
    ("stages: [[{type: conv}]]", "stages[0].blocks[0]: block type 'conv' needs parameter 'c'"),
    ("stages: [[{type: conv, c: 8, repeat: 0}]]", "stages[0].blocks[0].repeat: expected a positive integer"),
    ("stages: [[{type: conv, c: 8, act: relu7}]]", "stages[0].blocks[0].act: unknown activation 'relu7'"),
    ("stages: [[{type: conv, c: eight}]]", "stages[0].blocks[0].c: expected an integer, got 'eight'"),
    ("stages: [[{type: conv, c: 8, bias: 1}]]", "stages[0].blocks[0].bias: expected true or false, got 1"),
    ("input: [3, 224]\nstages: [[{type: conv, c: 8}]]", "input: expected three positive integers"),
    ("classes: 0\nstages: [[{type: conv, c: 8}]]", "classes: expected a positive integer, got 0"),
    ("stages: [[{type: conv, c: 8}]]\nhaed: []", "haed: unknown key; valid keys:"),
    ("stages: 3", "stages: expected a list, got int"),
    ("stages: [[]]", "stages[0].blocks: a stage needs at least one block"),
    ("stages: [[3]]", "stages[0].blocks[0]: expected a block record"),
    ("stages: [[{c: 8}]]", "stages[0].blocks[0]: block record has no 'type'"),
    ("[1, 2]", "a genome is a mapping"),
    ("name: x", "a genome needs at least one block"),
    ("stages: [[{type: inception, branches: [[{type: conv, c: 8, k: 0}]]}]]",
     "stages[0].blocks[0].branches[0][0].k: kernel size must be positive"),
    ("stages: [[{type: cell, edges: [[1, 1, conv3x3]]}]]",
     "stages[0].blocks[0].edges[0]: an edge must go from an earlier"),
    ("stages: [[{type: cell, edges: [[0, 1, conv9x9]]}]]",
     "stages[0].blocks[0].edges[0][2]: expected one of none, skip"),
])
def test_malformed_genomes_name_the_field(text: str, message: str) -> None:
    with pytest.raises(nas.GenomeError) as err:
        nas.loads(text, source="net.yaml")
    assert str(err.value).startswith(f"net.yaml: {message}")


@pytest.mark.parametrize("text, message", [
    ("input: [3, 32, 32]\nstages: [[{type: conv, c: 24}, {type: conv, c: 10, groups: 5}]]",
     "stages[0].blocks[1].groups: 24 input channels are not divisible by 5 groups"),
    ("input: [3, 32, 32]\nstages: [[{type: conv, c: 10, groups: 3}]]",
     "stages[0].blocks[0].groups: 10 output channels are not divisible by 3 groups"),
    ("input: [3, 8, 8]\nstages: [[{type: conv, c: 8, s: 2, p: 0}, {type: conv, c: 8, s: 2, p: 0, repeat: 3}]]",
     "stages[0].blocks[1].k (repeat 1): the 1x1 map is too small for a 3x3 kernel with padding 0x0"),
    ("input: [3, 8, 8]\nstages: [[{type: conv, c: 8, k: 9, p: 0}]]",
     "stages[0].blocks[0].k: the 8x8 map is too small for a 9x9 kernel with padding 0x0"),
    ("input: [3, 8, 8]\nstages: [[{type: maxpool, k: 2}, {type: maxpool, k: 2}, {type: maxpool, k: 2}, "
     "{type: maxpool}]]",
     "stages[0].blocks[3].k: the 1x1 map is too small for a 2x2 maxpool with padding 0x0"),
    ("input: [3, 8, 8]\nstages: [[{type: inception, branches: [[{type: conv, c: 4}], [{type: conv, c: 4, s: 2}]]}]]",
     "stages[0].blocks[0]: cannot concatenate maps of different spatial sizes (8x8, 4x4)"),
    ("input: [3, 8, 8]\nstages: [[{type: fractal, c: 4, columns: 2}]]\nhead: [{type: linear}, {type: conv, c: 3}]",
     "head[1]: a convolution needs a feature map CxHxW, got a flat vector of 1000"),
    ("input: [3, 8, 8]\nstages: [[{type: shuffle, c: 2, s: 2}]]",
     "stages[0].blocks[0].c: a stride-2 unit needs more output channels than its 3 input channels, got 2"),
    ("input: [3, 8, 8]\nstages: [[{type: maxpool, k: 2, p: 2}]]",
     "stages[0].blocks[0].p: padding 2x2 is more than half the 2x2 pooling window"),
])
def test_impossible_genomes_name_the_field(text: str, message: str) -> None:
    g = nas.loads(text)
    with pytest.raises(nas.GenomeError) as err:
        nas.cost(g)
    assert str(err.value).startswith(message)
    with pytest.raises(nas.GenomeError):  # the trace (graph, build) refuses it the same way
        nas.trace(g)


def test_residual_add_of_mismatched_shapes_is_refused() -> None:
    from nas._trace import Tracer

    t = Tracer((3, 8, 8))
    a = t.conv(t.input, 4, 3)
    b = t.conv(t.input, 4, 3, 2)
    with pytest.raises(nas.GenomeError, match="cannot add mismatched shapes 4x8x8 and 4x4x4"):
        t.add(a, b)


def test_yaml_errors_are_one_line() -> None:
    with pytest.raises(nas.GenomeError) as err:
        nas.loads("stages: [[{type: conv", source="bad.yaml")
    assert str(err.value).startswith("bad.yaml: not valid YAML: line 1")
    assert "\n" not in str(err.value)
    with pytest.raises(nas.GenomeError, match="bad.yaml: the file is empty"):
        nas.loads("", source="bad.yaml")


def test_yaml_is_read_safely() -> None:
    with pytest.raises(nas.GenomeError, match="not valid YAML"):
        nas.loads("!!python/object/apply:os.system ['true']")


@pytest.mark.parametrize("text, value", [
    ("300M", 300_000_000), ("1.5G", 1_500_000_000), ("4.2k", 4_200), ("300e6", 300_000_000),
    ("300000000", 300_000_000), ("2 G", 2_000_000_000), ("0.5M", 500_000), (300_000_000, 300_000_000),
])
def test_parse_budget(text, value) -> None:
    assert nas.parse_budget(text) == value


@pytest.mark.parametrize("text", ["300Q", "", "M", "-5M", "0", "1.2345k", "3e", "1,000", "300 MB", "nan", True,
                                  " 2G ", "300M\n", "300\u00a0M", "300  M", "\uff13\uff10\uff10M"])
def test_parse_budget_rejects(text) -> None:
    with pytest.raises(nas.NasError):
        nas.parse_budget(text)


# ---------------------------------------------------------------- immutability


def _mutable_parts(obj: object, seen: set[int] | None = None) -> list[str]:
    """Type names of every mutable container reachable from a genome (there should be none)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, (list, dict, set, bytearray)):
        return [type(obj).__name__]
    if isinstance(obj, nas.Genome):
        parts = (obj.stages, obj.stem, obj.head, obj.input)
    elif isinstance(obj, nas.Stage):
        parts = (obj.blocks,)
    elif isinstance(obj, nas.Block):
        parts = (obj.params,)
    elif isinstance(obj, Params):
        parts = tuple(obj.values())
    elif isinstance(obj, tuple):
        parts = obj
    else:
        return [] if isinstance(obj, (str, int, float, bool, type(None))) else [type(obj).__name__]
    return [m for p in parts for m in _mutable_parts(p, seen)]


def test_block_params_are_read_only() -> None:
    b = nas.Block.from_dict({"type": "inception", "branches": [[{"type": "conv", "c": 8, "k": [1, 3]}]]})
    assert isinstance(b.params, Params) and b.params == {"branches": b.params["branches"]}
    with pytest.raises(TypeError):
        b.params["branches"] = ()  # type: ignore[index]
    with pytest.raises(AttributeError):
        b.params.update(branches=())  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        b.params._data = {}  # type: ignore[misc]
    with pytest.raises(AttributeError):
        b.type = "conv"  # type: ignore[misc]
    inner = b.params["branches"][0][0]
    assert isinstance(b.params["branches"], tuple) and inner.params["k"] == (1, 3)
    assert _mutable_parts(nas.Genome(stages=(nas.Stage((b,)),))) == []


def test_direct_construction_freezes_lists_and_dicts() -> None:
    b = nas.Block("conv", {"c": 8, "k": [1, 3]})
    g = nas.Genome(stages=[nas.Stage([b])], input=[3, 8, 8])  # type: ignore[arg-type]
    assert b.params["k"] == (1, 3) and g.input == (3, 8, 8) and isinstance(g.stages[0].blocks, tuple)
    assert _mutable_parts(g) == []


def test_with_params_and_replace_make_new_genomes() -> None:
    g = nas.seed("lenet5")
    head = g.head[-1]
    g2 = replace(g, head=(*g.head[:-1], head.with_params(c=7)))
    assert g2.head[-1].params["c"] == 7 and "c" not in g.head[-1].params and nas.seed("lenet5") == g
    assert head.with_repeat(3).repeat == 3 and head.repeat == 1


def test_editing_a_vgg_sample_cannot_leak_into_later_samples() -> None:
    space = search_spaces.get("vgg")
    g = space.sample(np.random.default_rng(0))
    with pytest.raises(TypeError):
        g.head[-1].params["c"] = 7  # type: ignore[index]
    later = search_spaces.get("vgg").sample(np.random.default_rng(1))
    assert "c" not in later.head[-1].params and nas.cost(later).output == (1000,)


@pytest.mark.parametrize("name", search_spaces.names())
def test_space_samples_share_no_mutable_state(name: str) -> None:
    space = search_spaces.get(name)
    rng = np.random.default_rng(3)
    a, b = space.sample(rng), space.sample(rng)
    assert _mutable_parts(a) == [] and _mutable_parts(b) == []
    assert _mutable_parts(space.mutate(a, rng)) == []


def _every_genome() -> list[nas.Genome]:
    out = [nas.seed(s) for s in nas.seeds()] + [nas.load(p) for p in sorted(EXAMPLES.glob("*.yaml"))]
    rng = np.random.default_rng(5)
    out += [search_spaces.get(s).sample(rng) for s in search_spaces.names()]
    return out + [random_genome(rng) for _ in range(10)]


def test_every_seed_example_and_sample_is_frozen_and_round_trips() -> None:
    for g in _every_genome():
        assert _mutable_parts(g) == [], g.name
        assert nas.loads(nas.dumps(g)) == g, g.name
        for copy in (pickle.loads(pickle.dumps(g)), deepcopy(g)):
            assert copy == g and hash(copy) == hash(g), g.name
            assert nas.cost(copy).macs == nas.cost(g).macs


# ---------------------------------------------------------------- one record walk


def test_classes_inside_a_branch_resolves_as_at_the_top() -> None:
    nested = nas.loads("input: [3, 8, 8]\nclasses: 10\n"
                       "stages: [[{type: inception, branches: [[{type: conv, c: classes}], [{type: conv, c: 4}]]}]]")
    top = nas.loads("input: [3, 8, 8]\nclasses: 10\nstages: [[{type: conv, c: classes}]]")
    assert nas.cost(nested).output == (14, 8, 8) and nas.cost(top).output == (10, 8, 8)
    assert nas.trace(nested).output.shape == (14, 8, 8)
    assert nas.cost(nested.with_input(classes=3)).output == (7, 8, 8)  # remembered costs keep classes apart
    assert_cost_matches_model(nested)


def test_nested_repeats_are_located_like_top_level_ones() -> None:
    g = nas.loads("input: [3, 8, 8]\nstages: [[{type: inception, branches: "
                  "[[{type: conv, c: 8, s: 2, p: 0, repeat: 4}]]}]]")
    with pytest.raises(nas.GenomeError) as err:
        nas.cost(g)
    assert str(err.value) == ("stages[0].blocks[0].branches[0][0].k (repeat 2): the 1x1 map is too small for a "
                              "3x3 kernel with padding 0x0")


@pytest.mark.parametrize("text", ["0x10", "017", "0o17", "0b11", "1:00"])
def test_integers_are_read_in_decimal_only(text: str) -> None:
    """YAML 1.1 reads these as 16, 15, 15, 3 and 60; in a genome they are refused as what they are."""
    with pytest.raises(nas.NasError, match=rf"stages\[0\]\.blocks\[0\]\.c: expected an integer, got '{text}'"):
        nas.cost(nas.loads(f"stages: [[{{type: conv, c: {text}}}]]"))
    assert nas.cost(nas.loads("stages: [[{type: conv, c: 1_6}]]")).output[0] == 16
