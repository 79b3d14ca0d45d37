"""Block types defined in the genome's YAML (`blocks:`): every view agrees with the built model, the definitions
round-trip, and every mistake is one line naming the field inside the definition (and the record that used it)."""

from __future__ import annotations

import pickle
from pathlib import Path

import networkx as nx
import pytest
import torch

import nas
from nas._limits import MAX_DEFINITION_NODES, MAX_EXPRESSION
from nas.app.cli import main
from nas.builder import build, count_params
from nas.export import to_python

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "shufflenet_v2_tiny.yaml"

GHOST = """
  ghost:
    params: {c: channels, s: {kind: stride, default: 1}, act: {kind: act, default: relu}}
    nodes:
    - {name: primary, op: conv, c: c / 2, k: 1, s: s, act: act}
    - {name: cheap, op: conv, c: c / 2, k: 3, groups: c / 2, act: act}
    - {op: concat, in: [primary, cheap]}
"""

SE_RES = """
  se_res:
    params: {r: {kind: int, default: 4}}
    nodes:
    - {name: y, op: conv, c: in.c, k: [1, 3]}
    - {op: gap}
    - {op: conv, c: in.c / r, k: 1, bn: false}
    - {name: gate, op: conv, c: in.c, k: 1, bn: false, act: sigmoid}
    - {name: out, op: add, in: [in, scaled]}
    - {name: scaled, op: mul, in: [y, gate]}
    out: out
"""

POOLS = """
  pools:
    params: {k: {kind: kernel, default: 3}}
    nodes:
    - {name: mx, op: maxpool, k: k, s: 1, p: k // 2}
    - {name: av, op: avgpool, in: in, k: k, s: 1, p: k // 2, count_include_pad: false}
    - {name: both, op: mean, in: [mx, av]}
    - {name: lo, op: slice, in: in, stop: in.c - 2}
    - {name: hi, op: slice, in: both, start: in.c - 2, stop: in.c}
    - {op: concat, in: [lo, hi]}
"""

CLASSIFIER = """
  classifier:
    params: {hidden: int, p: {kind: float, default: 0.1}}
    nodes:
    - {op: gap}
    - {op: flatten}
    - {op: linear, c: hidden, act: relu}
    - {op: dropout, p: p}
    - {op: linear}
"""


def genome(blocks: str, body: str, input: str = "[3, 16, 16]") -> str:
    """A genome text with the definitions ``blocks`` (indented under ``blocks:``) and the records ``body``."""
    return f"input: {input}\nclasses: 10\nblocks:{blocks}{body}"


COMPOSED = """
  se:
    params: {c: channels}
    nodes:
    - {name: body, op: inverted, c: c, e: 3}
    - {op: gap}
    - {op: conv, c: 'divisible(c // 4, 8)', k: 1}
    - {name: gate, op: conv, c: c, k: 1, act: hardsigmoid, bn: false}
    - {op: mul, in: [body, gate]}
  twice:
    params: {c: channels}
    nodes:
    - {op: se, c: c}
    - {op: se, c: c}
"""

CONVNEXT = """
  cnx:
    params: {drop_path: {kind: float, default: 0.0}}
    nodes:
    - {op: conv, c: in.c, k: 7, groups: in.c, bn: false, act: none, bias: true}
    - {op: ln}
    - {op: conv, c: 4 * in.c, k: 1, bn: false, act: gelu, bias: true}
    - {op: conv, c: in.c, k: 1, bn: false, act: none, bias: true}
    - {op: scale, init: 0.000001}
    - {name: branch, op: droppath, p: drop_path}
    - {op: add, in: [in, branch]}
"""

GENOMES = {
    "ghost": genome(GHOST, "stem: [{type: ghost, c: 8}]\n"
                           "stages:\n- [{type: ghost, c: 16, s: 2}, {type: ghost, c: 16, act: hardswish, repeat: 2}]\n"
                           "head: [{type: gap}, {type: linear}]\n"),
    "se_res": genome(SE_RES, "stem: [{type: conv, c: 16}]\n"
                             "stages: [[{type: se_res, repeat: 2}, {type: se_res, r: 8}]]\n"
                             "head: [{type: gap}, {type: linear}]\n"),
    "pools_in_inception": genome(
        POOLS + GHOST,
        "stem: [{type: conv, c: 8}]\nstages:\n- [{type: inception, branches: [[{type: pools}], "
        "[{type: ghost, c: 8}, {type: pools, k: 5}]]}]\nhead: [{type: gap}, {type: linear}]\n"),
    "classifier_head": genome(CLASSIFIER, "stem: [{type: conv, c: 8, s: 2}]\nhead: [{type: classifier, hidden: 32}]\n"),
    # ConvNeXt's block: layer norm over channels, layer scale, drop-path on the ramp of the genome's drop_path
    "convnext_block": "drop_path: 0.2\n" + genome(CONVNEXT, "stem: [{type: conv, c: 16, k: 4, s: 4}]\n"
                                                            "stages: [[{type: cnx, repeat: 3}]]\n"
                                                            "head: [{type: gap}, {type: linear}]\n"),
    # a definition using a built-in block type and a definition using an earlier one, twice in one block
    "composed": genome(COMPOSED, "stages: [[{type: twice, c: 16}, {type: twice, c: 24, repeat: 2}]]\n"
                                 "head: [{type: gap}, {type: linear}]\n"),
}


def load_cases() -> list[nas.Genome]:
    return [nas.loads(t) for t in GENOMES.values()] + [nas.load(EXAMPLE)]


@pytest.mark.parametrize("name", [*GENOMES, "example"])
def test_cost_model_export_graph_and_round_trip_agree(name: str) -> None:
    from conftest import assert_cost_matches_model

    g = nas.load(EXAMPLE) if name == "example" else nas.loads(GENOMES[name])
    c = assert_cost_matches_model(g)  # params and hook-counted MACs of the built model, and its output shape
    assert c.output == (10,) and nas.cost(g, level="op").params == c.params
    assert nas.loads(nas.dumps(g)) == g and hash(nas.loads(nas.dumps(g))) == hash(g)
    assert pickle.loads(pickle.dumps(g)) == g
    model = build(g).eval()
    assert tuple(model(torch.randn(2, *g.input)).shape) == (2, 10)
    ns: dict[str, object] = {}
    exec(compile(to_python(g), f"{name}.py", "exec"), ns)
    net = ns["Net"]().eval()  # type: ignore[operator]
    assert sum(p.numel() for p in net.parameters()) == c.params == count_params(model)
    assert tuple(net(torch.randn(2, *g.input)).shape) == (2, 10)
    G = nas.graph(g)
    assert nx.is_directed_acyclic_graph(G) and G.number_of_nodes() == len(nas.trace(g).nodes) + 1
    assert sum(d["params"] for _, d in G.nodes(data=True)) == c.params


def test_node_names_appear_in_the_graph_and_the_model() -> None:
    g = nas.loads(GENOMES["ghost"])
    G = nas.graph(g)
    assert {"stages.0.0.primary.conv1", "stages.0.0.cheap.conv1", "stages.0.0.concat1"} <= set(G)
    assert G.nodes["stages.0.0.cheap.conv1"]["groups"] == 8
    assert "primary_conv1" in build(g).stages[0][0].ops


def test_canonical_form_leaves_defaults_out_and_keeps_expressions() -> None:
    g = nas.loads(GENOMES["ghost"])
    d = g.to_dict()["blocks"]["ghost"]
    assert d["params"] == {"c": "channels", "s": {"kind": "stride", "default": 1},
                           "act": {"kind": "act", "default": "relu"}}
    assert d["nodes"][1] == {"name": "cheap", "op": "conv", "c": "c / 2", "groups": "c / 2", "act": "act"}  # k: 3
    text = nas.dumps(g)
    assert "- {name: primary, op: conv, c: c / 2, k: 1, s: s, act: act}" in text


def test_an_odd_node_order_is_computed_in_dependency_order() -> None:
    g = nas.loads(GENOMES["se_res"])  # its output node is listed before the node it reads
    ops = [n.op for n in nas.trace(g).nodes if n.name.startswith("stages.0.0.0.")]
    assert ops[-2:] == ["mul", "add"]


def test_the_stride_applies_to_the_first_repeat_only() -> None:
    g = nas.loads(genome(GHOST, "stages: [[{type: ghost, c: 16, s: 2, repeat: 3}]]\n"))
    assert [layer.output for layer in nas.cost(g).layers] == [(16, 8, 8)] * 3


def test_definitions_are_per_genome_and_not_in_the_registry() -> None:
    small = nas.loads(genome("\n  unit:\n    nodes: [{op: conv, c: 8}]\n", "stages: [[{type: unit}]]\n"))
    big = nas.loads(genome("\n  unit:\n    nodes: [{op: conv, c: 32}]\n", "stages: [[{type: unit}]]\n"))
    assert nas.cost(small).params != nas.cost(big).params  # the same name and record, costed by its own definition
    assert nas.cost(small).params == nas.cost(nas.loads(nas.dumps(small))).params
    assert "unit" not in nas.REGISTRY and "unit" not in nas.block_types()
    with pytest.raises(nas.GenomeError, match="unknown block type 'unit'"):
        nas.loads("stages: [[{type: unit}]]")


def test_an_unused_definition_and_classes_channels() -> None:
    g = nas.loads(genome(GHOST + "\n  logits:\n    params: {n: {kind: channels, default: classes}}\n"
                         "    nodes: [{op: gap}, {op: linear, c: n}]\n", "head: [{type: logits}]\n", "[4, 8, 8]"))
    assert nas.cost(g).output == (10,) and [d.name for d in g.definitions] == ["ghost", "logits"]


def test_the_example_decodes_from_the_cli(capsys) -> None:
    assert main(["decode", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "shuffle_down" in out and f"params {nas.cost(nas.load(EXAMPLE)).params:,}" in out


# ---------------------------------------------------------------- mistakes: one line, the field, exit 2

UNIT = "  unit:\n    params: {c: channels}\n    nodes:\n"
BAD = [
    ("unknown_op", genome("\n" + UNIT + "    - {op: convolution, c: c}\n", "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[0].op: unknown op 'convolution'; valid ops: conv, linear, bn, act, maxpool, avgpool, gap, "
     "flatten, dropout, add, mean, concat, mul, ln, scale, droppath, shuffle, split, slice"),
    ("cycle", genome("\n" + UNIT + "    - {name: a, op: conv, in: b, c: c}\n    - {name: b, op: conv, c: c}\n",
                     "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[1].in: the nodes form a cycle: a -> b -> a"),
    ("self_cycle", genome("\n" + UNIT + "    - {name: a, op: add, in: [in, a]}\n", "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[0].in: the nodes form a cycle: a -> a"),
    ("dangling", genome("\n" + UNIT + "    - {name: a, op: conv, c: c}\n    - {op: add, in: [a, z]}\n",
                        "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[1].in[1]: no node named 'z'; valid inputs: in, a (in is the block's input)"),
    ("dangling_single", genome("\n" + UNIT + "    - {name: a, op: conv, in: inp, c: c}\n",
                               "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[0].in: no node named 'inp'"),
    ("add_shapes", genome("\n" + UNIT + "    - {name: a, op: conv, c: c}\n    - {op: add, in: [in, a]}\n",
                          "stages: [[{type: conv, c: 8}, {type: unit, c: 16}]]\n"),
     "blocks.unit.nodes[1].in: cannot add mismatched shapes 8x16x16 and 16x16x16 (used by stages[0].blocks[1])"),
    ("concat_sizes", genome("\n" + UNIT + "    - {name: a, op: conv, c: c, s: 2}\n    - {op: concat, in: [in, a]}\n",
                            "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[1].in: cannot concatenate maps of different spatial sizes (16x16, 8x8) "
     "(used by stages[0].blocks[0])"),
    ("odd_split", genome("\n" + UNIT + "    - {op: split, part: 1}\n    - {op: conv, c: c}\n",
                         "stem: [{type: conv, c: 33}]\nstages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[0].in: cannot split 33 channels into 2 equal parts (used by stages[0].blocks[0])"),
    ("odd_half", genome("\n" + UNIT + "    - {op: conv, c: c / 2}\n", "stages: [[{type: unit, c: 9}]]\n"),
     "blocks.unit.nodes[0].c: 9 / 2 is not a whole number (// rounds down) (used by stages[0].blocks[0])"),
    ("unknown_name", genome("\n" + UNIT + "    - {op: conv, c: d / 2}\n", "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[0].c: unknown name 'd' in 'd / 2'; known: c, in.c, in.h, in.w"),
    ("missing_param", genome("\n" + UNIT + "    - {op: conv, c: c}\n", "stages: [[{type: unit, k: 3}]]\n"),
     "stages[0].blocks[0].k: unknown parameter for block type 'unit'; valid: c"),
    ("required_param", genome("\n" + UNIT + "    - {op: conv, c: c}\n",
                              "stages: [[{type: conv, c: 4}, {type: unit}]]\n"),
     "stages[0].blocks[1]: block type 'unit' needs parameter 'c' (channels)"),
    ("shadow", genome("\n  conv:\n    nodes: [{op: bn}]\n", "stages: [[{type: conv, c: 8}]]\n"),
     "blocks.conv: the name shadows the built-in block type 'conv'; choose another"),
    ("unused", genome("\n" + UNIT + "    - {name: a, op: conv, c: c}\n    - {op: conv, in: in, c: c}\n",
                      "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[0]: node 'a' does not lead to the block's output"),
    ("duplicate", genome("\n" + UNIT + "    - {name: a, op: conv, c: c}\n    - {name: a, op: bn}\n",
                         "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[1].name: two nodes are named 'a' (nodes[0] and this one)"),
    ("arity", genome("\n" + UNIT + "    - {op: mul, in: [in]}\n", "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[0].in: op 'mul' takes two inputs, got 1"),
    ("join_needs_in", genome("\n" + UNIT + "    - {op: concat}\n", "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[0]: op 'concat' takes two or more inputs: name them in 'in'"),
    ("attribute", genome("\n" + UNIT + "    - {op: conv, c: c, kernel: 3}\n", "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[0].kernel: unknown attribute for op 'conv'; valid: name, op, in, c, k, s, p, d, groups"),
    ("literal", genome("\n" + UNIT + "    - {op: conv, c: c, k: 0}\n", "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[0].k: kernel size must be positive, got 0"),
    ("syntax", genome("\n" + UNIT + "    - {op: conv, c: (c + 2}\n", "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[0].c: cannot read '(c + 2': '(' was never closed"),
    ("kind", genome("\n  unit:\n    params: {c: width}\n    nodes: [{op: bn}]\n", "stages: [[{type: unit}]]\n"),
     "blocks.unit.params.c: unknown parameter kind 'width'; valid: int, channels, kernel"),
    ("default", genome("\n  unit:\n    params: {k: {kind: kernel, default: -1}}\n    nodes: [{op: bn}]\n",
                       "stages: [[{type: unit}]]\n"),
     "blocks.unit.params.k.default: kernel size must be positive, got -1"),
    ("reserved", genome("\n  unit:\n    params: {repeat: int}\n    nodes: [{op: bn}]\n", "stages: [[{type: unit}]]\n"),
     "blocks.unit.params.repeat: a parameter's name is a word of letters, digits and _ other than in, classes"),
    ("out", genome("\n" + UNIT + "    - {op: conv, c: c}\n    out: last\n", "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.out: no node named 'last'"),
    ("groups", genome("\n" + UNIT + "    - {op: conv, c: c, groups: 3}\n", "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[0].groups: 8 output channels are not divisible by 3 groups (used by stages[0].blocks[0])"),
    ("gate", genome("\n" + UNIT + "    - {name: a, op: conv, c: c}\n    - {op: mul, in: [a, in]}\n",
                    "stem: [{type: conv, c: 4}]\nstages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[1].in: cannot scale 8x16x16 by a 4x16x16 gate; the gate must be 8x1x1 or 8x16x16"),
    ("flat_gate", genome("\n" + UNIT + "    - {name: a, op: linear, c: c}\n"
                         "    - {name: g, op: conv, in: in, c: c, k: 1}"
                         "\n    - {op: mul, in: [a, g]}\n", "stem: [{type: gap}]\nstages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[2].in: cannot scale 8 by a 8x1x1 gate; the gate must be 8 (used by stages[0].blocks[0])"),
    ("flat", genome("\n" + UNIT + "    - {op: conv, c: in.h}\n", "stem: [{type: gap}, {type: flatten}]\n"
                    "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[0].c: in.h is not defined for a block input of 3 (used by stages[0].blocks[0])"),
    ("repeat", genome("\n" + UNIT + "    - {name: a, op: conv, c: c}\n    - {op: add, in: [in, a]}\n",
                      "stem: [{type: conv, c: 8}]\nstages: [[{type: unit, c: 8}, {type: unit, c: 16, repeat: 2}]]\n"),
     "blocks.unit.nodes[1].in: cannot add mismatched shapes 8x16x16 and 16x16x16 (used by stages[0].blocks[1])"),
    ("nested", genome("\n" + UNIT + "    - {op: split}\n",
                      "stem: [{type: conv, c: 5}]\nstages: [[{type: inception, branches: [[{type: conv, c: 4}], "
                      "[{type: unit, c: 8}]]}]]\n"),
     "blocks.unit.nodes[0].in: cannot split 5 channels into 2 equal parts "
     "(used by stages[0].blocks[0].branches[1][0])"),
    ("too_many_nodes", genome("\n" + UNIT + "    - {op: bn}\n" * (MAX_DEFINITION_NODES + 1),
                              "stages: [[{type: unit, c: 8}]]\n"),
     f"blocks.unit.nodes: a defined block has at most {MAX_DEFINITION_NODES} nodes, got {MAX_DEFINITION_NODES + 1}"),
    ("long_expression", genome("\n" + UNIT + f"    - {{op: conv, c: {'c + ' * MAX_EXPRESSION}c}}\n",
                               "stages: [[{type: unit, c: 8}]]\n"),
     f"blocks.unit.nodes[0].c: an expression is at most {MAX_EXPRESSION} characters"),
    ("linear_on_a_map", genome("\n" + UNIT + "    - {op: conv, c: c}\n    - {op: linear, c: 4}\n",
                               "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[1].in: op linear takes a vector or a 1x1 map, got a 8x16x16 map; pool it first ({op: gap}), "
     "or flatten it on purpose ({op: flatten}) (used by stages[0].blocks[0])"),
    ("unknown_function", genome("\n" + UNIT + "    - {op: conv, c: 'floor(c, 2)'}\n",
                                "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[0].c: unknown function 'floor' in 'floor(c, 2)'; functions: min, max, ceildiv, round, "
     "divisible"),
    ("function_arity", genome("\n" + UNIT + "    - {op: conv, c: 'divisible(c)'}\n",
                              "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[0].c: cannot read 'divisible(c)': divisible takes 2 arguments, got 1"),
    ("function_open", genome("\n" + UNIT + "    - {op: conv, c: 'max(c, 8'}\n", "stages: [[{type: unit, c: 8}]]\n"),
     "blocks.unit.nodes[0].c: cannot read 'max(c, 8': '(' was never closed"),
    ("later_definition", genome("\n  first:\n    nodes: [{op: second}]\n  second:\n    nodes: [{op: bn}]\n",
                                "stages: [[{type: conv, c: 8}, {type: first}]]\n"),
     "blocks.first.nodes[0].op: unknown op 'second'; valid ops: conv, linear, bn, act, maxpool, avgpool, gap, "
     "flatten, dropout, add, mean, concat, mul, ln, scale, droppath, shuffle, split, slice, or a block type (built "
     "in, or defined above this one)"),
    ("not_a_mapping", "blocks: [ghost]\nstages: [[{type: conv, c: 8}]]\n",
     "blocks: expected a mapping of block type names to definitions"),
]


@pytest.mark.parametrize("name, text, message", BAD, ids=[b[0] for b in BAD])
def test_mistakes_name_the_field(name: str, text: str, message: str) -> None:
    with pytest.raises(nas.GenomeError) as e:
        nas.cost(nas.loads(text, source="g.yaml"))
    line = str(e.value)  # shape mistakes show when costing, which knows no file name (the CLI adds it)
    assert line.removeprefix("g.yaml: ").startswith(message), line
    assert "\n" not in line


@pytest.mark.parametrize("name, text, message", [b for b in BAD if b[0] in (
    "unknown_op", "cycle", "dangling", "add_shapes", "odd_split", "unknown_name", "required_param", "shadow",
    "nested")], ids=lambda v: v if isinstance(v, str) and "\n" not in v and ":" not in v else "")
def test_mistakes_from_the_cli_exit_2_on_one_line(capsys, tmp_path, name: str, text: str, message: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    assert main(["decode", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"nas: error: {path}: {message}") and err.count("\n") == 1, err


def test_the_repeat_is_named_when_a_later_repeat_fails() -> None:
    text = genome("\n" + UNIT + "    - {op: split}\n    - {op: conv, c: c}\n",
                  "stem: [{type: conv, c: 4}]\nstages: [[{type: unit, c: 7, repeat: 2}]]\n")
    with pytest.raises(nas.GenomeError) as e:
        nas.trace(nas.loads(text))
    assert str(e.value) == ("blocks.unit.nodes[0].in: cannot split 7 channels into 2 equal parts "
                            "(used by stages[0].blocks[0] (repeat 1))")


@pytest.mark.parametrize("name", [*GENOMES, "example"])
def test_the_python_export_computes_what_the_builder_does(name: str) -> None:
    from test_export import assert_export_matches_build

    assert_export_matches_build(nas.load(EXAMPLE) if name == "example" else nas.loads(GENOMES[name]))


@pytest.mark.slow
def test_the_example_exports_to_onnx(tmp_path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    from nas.export import to_onnx

    g = nas.load(EXAMPLE)
    path = to_onnx(g, tmp_path / "unit.onnx")  # onnx.checker runs inside
    assert path.stat().st_size > 0


@pytest.mark.parametrize("mult", [0.5, 1.5])
def test_width_scaling_keeps_the_definitions_and_scales_their_channels(mult: float) -> None:
    from conftest import assert_cost_matches_model

    from estimators import proxy_genome, scale_width

    g = nas.load(EXAMPLE)
    h = scale_width(g, mult)
    assert h.definitions == g.definitions
    assert (nas.cost(h).params > nas.cost(g).params) == (mult > 1)
    assert_cost_matches_model(h)
    p = proxy_genome(g, (1, 28, 28), 10, width=mult)
    assert p.definitions == g.definitions and nas.cost(p).output == (10,)


@pytest.mark.parametrize("expression, c, expected", [
    ("min(c, 16)", 24, 16), ("max(c // 4, 8)", 24, 8), ("max(1, 2, c, 3)", 5, 5), ("ceildiv(c, 5)", 24, 5),
    ("round(c, 5)", 24, 5), ("round(c, 16)", 24, 2), ("divisible(c // 4, 8)", 24, 8),
    ("divisible(c * 3 // 4, 8)", 100, 72), ("divisible(c, 8)", 21, 24), ("divisible(c, 8)", 20, 24),
    ("divisible(c, 16)", 17, 16), ("divisible(c, 8)", 11, 16), ("min(c, 8) * 2 + max(-c, 1)", 24, 17)])
def test_functions_in_attributes(expression: str, c: int, expected: int) -> None:
    """min, max, ceildiv, round (halves up) and divisible (MobileNet's make_divisible, in integers)."""
    g = nas.loads(genome("\n" + UNIT + f"    - {{op: conv, c: '{expression}', k: 1}}\n",
                         f"stages: [[{{type: unit, c: {c}}}]]\n"))
    assert nas.cost(g).output == (expected, 16, 16)
    assert nas.loads(nas.dumps(g)) == g  # the expression is kept as written


def test_a_definition_using_earlier_ones_survives_pickling() -> None:
    """Ray and multiprocessing pickle genomes: a definition is rebuilt with the definitions it may use."""
    import pickle

    g = nas.loads(GENOMES["composed"])
    again = pickle.loads(pickle.dumps(g))
    assert again == g and nas.cost(again) == nas.cost(g)
    assert [d.name for d in again.definitions] == ["se", "twice"]


def test_a_defined_block_with_a_drop_path_parameter_is_on_the_ramp() -> None:
    """The rule: the genome's drop_path ramp covers every staged block whose type takes ``drop_path``, a defined
    block among them once its definition declares that parameter; its rate reaches a droppath node as ``p``."""
    from nas.network import trace

    g = nas.loads(GENOMES["convnext_block"])
    rates = [n.attrs["p"] for n in trace(g).nodes if n.op == "droppath"]
    assert rates == pytest.approx([0.2 / 3, 0.4 / 3, 0.2], abs=1e-6)
    assert {n.op for n in trace(g).nodes} >= {"ln", "scale", "droppath"}


@pytest.mark.slow
def test_the_convnext_block_exports_to_onnx(tmp_path) -> None:
    pytest.importorskip("onnx")
    from nas.export import to_onnx

    g = nas.loads(GENOMES["convnext_block"])
    to_onnx(g, tmp_path / "g.onnx")
    assert (tmp_path / "g.onnx").stat().st_size > 0


def test_batch_norm_eps_and_momentum_reach_the_model_and_the_export() -> None:
    from nas.export import to_python

    g = nas.loads(genome("\n" + UNIT + "    - {op: conv, c: c, bn: false}\n"
                         "    - {op: bn, eps: 0.001, momentum: 0.01}\n",
                         "stages: [[{type: unit, c: 8}, {type: bn, momentum: 0.2}]]\n"))
    norms = [m for m in nas.build(g).modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert [(m.eps, m.momentum) for m in norms] == [(0.001, 0.01), (1e-5, 0.2)]
    assert "eps=0.001, momentum=0.01" in to_python(g) and nas.loads(nas.dumps(g)) == g
    plain = nas.loads("input: [3, 16, 16]\nstages: [[{type: conv, c: 8}]]\n")
    from nas.network import trace

    assert [n.attrs for n in trace(plain).nodes if n.op == "bn"] == [{"c": 8}]  # defaults add no attribute


@pytest.mark.parametrize("text, says", [
    ("c ** 2", "'c ** 2' is not allowed"),
    ("c if c else 2", "'c if c else 2' is not allowed"),
    ("__import__('os')", "unknown function '__import__'"),
    ("c.real", "'c.real' is not allowed"),
    ("[c, c]", "'[c, c]' is not allowed"),
    ("0x10", "'0x10' is not a whole number written in digits"),
    ("1.5", "'1.5' is not a whole number written in digits"),
    ("max(c, key=c)", "max takes its arguments in order, without names"),
    ("(c + 2", "'(' was never closed"),
])
def test_expressions_are_read_by_python_and_only_arithmetic_is_accepted(text: str, says: str) -> None:
    from nas.expressions import parse

    with pytest.raises(nas.GenomeError) as e:
        parse(text, ["c", "in.c", "in.h", "in.w"], "blocks.unit.nodes[0].c")
    assert says in str(e.value) and str(e.value).startswith("blocks.unit.nodes[0].c: ")
