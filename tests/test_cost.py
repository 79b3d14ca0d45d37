"""The analytic cost equals the built model, for every block type and for random genomes."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from conftest import assert_cost_matches_model
from genomes import random_genome
from test_genome import BLOCK_EXAMPLES, single_block_genome

import nas


@pytest.mark.parametrize("name, example", BLOCK_EXAMPLES)
def test_cost_matches_model_for_every_block_type(name: str, example: int) -> None:
    assert_cost_matches_model(single_block_genome(name, example))


@pytest.mark.slow
def test_cost_matches_model_for_200_random_genomes() -> None:
    rng = np.random.default_rng(2024)
    seen: set[str] = set()
    for _ in range(200):
        g = random_genome(rng)
        assert_cost_matches_model(g)
        seen.update(b.type for _, b in g.blocks())
    assert len(seen) >= len(nas.block_types()) - 2  # the generator reaches (nearly) every block type


def test_hand_counted_lenet_style_net() -> None:
    g = nas.loads("""
input: [1, 32, 32]
classes: 10
stages:
- [{type: conv, c: 6, k: 5, p: 0, bn: false, act: tanh}, {type: maxpool, k: 2}]
- [{type: conv, c: 16, k: 5, p: 0, bn: false, act: tanh}, {type: maxpool, k: 2}]
head: [{type: flatten}, {type: linear, c: 120, act: tanh}, {type: linear, c: 84, act: tanh}, {type: linear}]
""")
    c = nas.cost(g)
    # conv1 6*(25+1), conv2 16*(6*25+1), fc 400*120+120, 120*84+84, 84*10+10
    assert c.params == 156 + 2416 + 48120 + 10164 + 850
    assert c.macs == 6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 84 * 10
    assert [l.output for l in c.layers[:4]] == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5)]
    assert c.flops == 2 * c.macs


def test_op_level_rows_add_up_to_block_rows() -> None:
    g = single_block_genome("bottleneck")
    blocks, ops = nas.cost(g), nas.cost(g, level="op")
    assert (blocks.params, blocks.macs, blocks.activations) == (ops.params, ops.macs, ops.activations)
    assert len(ops.layers) > len(blocks.layers)


def test_input_and_classes_override_recost() -> None:
    g = single_block_genome("conv")
    small = g.with_input((3, 8, 8), classes=3)
    assert nas.cost(small).output == (3,)
    assert nas.cost(small).macs < nas.cost(g).macs
    assert_cost_matches_model(small)


def test_graph_is_a_dag_with_one_input_and_one_output() -> None:
    rng = np.random.default_rng(7)
    for _ in range(10):
        g = random_genome(rng)
        G = nas.graph(g)
        assert nx.is_directed_acyclic_graph(G)
        assert [n for n, d in G.in_degree() if d == 0] == ["input"]
        assert [n for n, d in G.out_degree() if d == 0] == [G.graph["output"]]
        c = nas.cost(g)
        assert sum(d["params"] for _, d in G.nodes(data=True)) == c.params
        assert sum(d["macs"] for _, d in G.nodes(data=True)) == c.macs


def test_graph_exports(tmp_path) -> None:
    G = nas.graph(single_block_genome("inception"))
    nas.write_graph(G, tmp_path / "g.graphml")
    back = nx.read_graphml(tmp_path / "g.graphml")
    assert back.number_of_nodes() == G.number_of_nodes() and back.number_of_edges() == G.number_of_edges()
    nas.write_graph(G, tmp_path / "g.dot")
    dot = (tmp_path / "g.dot").read_text()
    assert dot.startswith('digraph "one_inception"') and dot.count("->") == G.number_of_edges()
    with pytest.raises(nas.NasError, match="unknown graph format"):
        nas.write_graph(G, tmp_path / "g.png")


def test_dropout_and_drop_path_act_in_train_mode_only() -> None:
    g = nas.loads("""
input: [3, 8, 8]
classes: 4
drop_path: 0.5
stages: [[{type: basic, c: 3, repeat: 2}]]
head: [{type: gap}, {type: dropout, p: 0.5}, {type: linear}]
""")
    rates = [n.attrs["p"] for n in nas.trace(g).nodes if n.op == "droppath"]
    assert rates == [0.25, 0.5]  # a linear ramp to the genome's rate
    model = nas.build(g)
    x = torch.randn(16, 3, 8, 8)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))


def test_drop_path_leaves_cost_unchanged() -> None:
    base = nas.loads("stages: [[{type: bottleneck, c: 64, repeat: 3}]]\nhead: [{type: gap}, {type: linear}]")
    ramp = nas.Genome.from_dict({**base.to_dict(), "drop_path": 0.2})
    assert (nas.cost(base).params, nas.cost(base).macs) == (nas.cost(ramp).params, nas.cost(ramp).macs)


def test_cost_is_torch_free() -> None:
    import subprocess
    import sys

    code = ("import sys, nas; nas.cost(nas.loads('stages: [[{type: conv, c: 8}]]')); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("pool", ["maxpool", "avgpool"])
def test_a_repeated_pool_is_the_record_written_again(pool: str) -> None:
    """A record's stride applies to its first repeat; the later ones take the type's default, which for a pool is
    its window: repeat 2 equals two written records, and the spaces' expand and runs agree on the cost."""
    from search_spaces._base import expand, runs

    folded = nas.loads(f"input: [3, 32, 32]\nstages: [[{{type: conv, c: 8}}, {{type: {pool}, k: 2, repeat: 2}}]]")
    written = nas.loads(f"input: [3, 32, 32]\nstages: [[{{type: conv, c: 8}}, {{type: {pool}, k: 2}}, "
                        f"{{type: {pool}, k: 2}}]]")
    assert nas.cost(folded).output == nas.cost(written).output == (8, 8, 8)
    a, b = nas.cost(folded), nas.cost(written)
    assert (a.macs, a.params, a.activations) == (b.macs, b.params, b.activations)
    assert runs(expand(folded.stages[0].blocks)) == folded.stages[0].blocks
