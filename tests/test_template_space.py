"""Spaces written as YAML templates: dimensions named by field path, the space contract, refusals on one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nas
import search_spaces
import strategies
from search_spaces.template import from_text

TINY = """\
name: tiny
input: [3, 32, 32]
classes: 10
stem: [{type: conv, c: {choice: [32, 16, 24]}, k: 3}]
stages:
  - [{type: inverted, c: 24, s: {choice: [2, 1]}, e: {choice: [3, 6]}, k: {choice: [3, 5]}, \
repeat: {choice: [1, 2, 3]}}]
  - blocks: [{type: inverted, c: {choice: [32, 48]}, s: 2, e: 3,
              se: {choice: [0.25, 0.5], when: {"stages[0].blocks[0].repeat": {gt: 1}}}}]
head: [{type: gap}, {type: linear}]
"""

DEFINED = """\
input: [3, 32, 32]
classes: 10
blocks:
  twin:
    params: {c: channels, k: kernel}
    nodes:
      - {op: conv, c: c, k: k}
      - {op: conv, c: c, k: 1}
stages:
  - [{type: twin, c: {choice: [8, 16]}, k: {choice: [3, 5]}, repeat: {choice: [1, 2]}}]
head: [{type: gap}, {type: linear}]
"""


def space(text: str = TINY, name: str = "tiny.yaml") -> search_spaces.Space:
    return from_text(text, name)


def test_dimensions_are_named_by_field_path_and_ordered_by_cost() -> None:
    s = space()
    dims = {d.name: d for d in s.dimensions}
    assert list(dims) == ["stem[0].c", "stages[0].blocks[0].s", "stages[0].blocks[0].e", "stages[0].blocks[0].k",
                          "stages[0].blocks[0].repeat", "stages[1].blocks[0].c", "stages[1].blocks[0].se"]
    assert dims["stem[0].c"].choices == (16, 24, 32)  # written 32, 16, 24: listed cheapest first
    assert dims["stages[0].blocks[0].s"].choices == (2, 1)  # a stride of 2 is the cheaper
    assert dims["stages[1].blocks[0].se"].when == ("stages[0].blocks[0].repeat", "gt", 1)
    assert (s.name, s.input, s.classes) == ("tiny", (3, 32, 32), 10)
    assert s.log10_size() == pytest.approx(np.log10(3 * 2 * 2 * 2 * 2 * (1 + 2 * 2)))


def test_the_space_contract_holds_for_a_template() -> None:
    s = space()
    rng = np.random.default_rng(0)
    low, high = s.mac_range()
    budget = (low + high) // 2
    for _ in range(40):
        config = s.sample_config(rng, budget)
        g = s.decode(config)
        c = nas.cost(g)
        assert s.cost(config) == (c.macs, c.params, c.activations) and c.macs <= budget
        assert s.encode(g) == config and s.contains(g)
        assert s.contains(nas.loads(nas.dumps(g)))  # through YAML, as the store keeps it
        m = s.mutate(g, rng, budget)
        assert s.contains(m) and nas.cost(m).macs <= budget
        shape = nas.build(g)(__import__("torch").zeros(1, 3, 32, 32)).shape
        assert tuple(shape) == (1, 10)
    gated = s.decode({**s.extreme(False), "stages[0].blocks[0].repeat": 1})
    assert "se" not in gated.stages[1].blocks[0].params  # a closed gate leaves the block type's default


@pytest.mark.parametrize("name", strategies.names())
def test_every_strategy_searches_a_template_within_the_budget(name: str) -> None:
    s = space()
    low, high = s.mac_range()
    budget = low + (high - low) // 3
    st = strategies.get(name)(s, budget=budget, seed=0)
    for i in range(12):
        c = st.ask()
        assert c.macs <= budget and s.contains(c.genome)
        st.tell(c, {"accuracy": float(np.log(c.macs)) + 0.01 * i, "macs": c.macs})


def test_blocks_defined_in_the_template_are_searched_too() -> None:
    s = space(DEFINED, "defined.yaml")
    assert [d.name for d in s.dimensions] == ["stages[0].blocks[0].c", "stages[0].blocks[0].k",
                                              "stages[0].blocks[0].repeat"]
    g = s.decode(s.extreme(True))
    assert g.definitions and g.stages[0].blocks[0].type == "twin" and g.stages[0].blocks[0].repeat == 2
    assert s.encode(g) == s.extreme(True) and nas.cost(g).macs == s.cost(s.extreme(True))[0]


def test_a_genome_off_the_template_is_not_in_it() -> None:
    s = space()
    g = s.decode(s.extreme(False))
    other = nas.Genome.from_dict({**g.to_dict(), "head": [{"type": "gap"}, {"type": "dropout", "p": 0.1},
                                                          {"type": "linear"}]})
    assert not s.contains(other) and not s.contains(nas.seed("lenet5"))
    with pytest.raises(nas.NasError, match="differs from the template tiny.yaml beyond its choices"):
        s.encode(other)


BAD = [
    ("stages: [[{type: conv, c: {choice: [8]}}]]", "stages[0].blocks[0].c: a choice lists at least two values"),
    ("stages: [[{type: conv, c: {choice: [8, relu]}}]]", "a choice's values are all of one kind, got number and word"),
    ("stages: [[{type: conv, c: {choice: [8, 8]}}]]", "a choice lists a value twice"),
    ("stages: [[{type: conv, c: {choice: [8, [1]]}}]]", "a choice's values are numbers, words or booleans"),
    ("stages: [[{type: conv, c: 8, k: {choice: [3, 5], when: {x: 1}}}]]", "'x' is not a dimension written before"),
    ('stages: [[{type: conv, c: {choice: [8, 16], when: {"stages[0].blocks[0].k": 3}}, k: {choice: [3, 5]}}]]',
     "is not a dimension written before this one"),
    ('stages: [[{type: conv, c: {choice: [8, 16]}, k: {choice: [3, 5], when: {"stages[0].blocks[0].c": 9}}}]]',
     "9 is not a choice of stages[0].blocks[0].c"),
    ("stages: [[{type: conv, c: {choice: [8, 16], size: 2}}]]", "unknown key 'size' in a choice"),
    ("stages: [[{type: {choice: [conv, dwconv]}, c: 8}]]", "stages[0].blocks[0].type: a block's type is fixed"),
    ("stages: [[{type: conv, c: 8}]]", "the template has no {choice: [...]}"),
    ("stages: [[{type: conv, c: {choice: [8, 16]}, q: 1}]]", "stages[0].blocks[0].q: unknown parameter"),
    ("drop_path: {choice: [0.0, 0.1]}\nstages: [[{type: conv, c: {choice: [8, 16]}}]]", "drop_path: a choice may "
     "stand for a parameter or repeat of a stem, stage or head record only"),
    ("stages: [[{type: conv, c: {choice: [8, 16]}]]", "bad.yaml"),
    ("proxy_width: -1\nstages: [[{type: conv, c: {choice: [8, 16]}}]]", "proxy_width: expected a positive float"),
]


@pytest.mark.parametrize("text, message", BAD)
@pytest.mark.slow
def test_a_bad_template_is_one_line_with_exit_status_2(tmp_path, text, message) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("input: [3, 16, 16]\nclasses: 10\n" + text + "\n")
    p = subprocess.run([sys.executable, "-m", "nas.app.cli", "spaces", str(path)], capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and message in p.stderr, p.stderr
    assert p.stderr.startswith("nas: error: ") and str(path) in p.stderr


def test_nas_spaces_lists_a_templates_dimensions(tmp_path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    p = subprocess.run([sys.executable, "-m", "nas.app.cli", "spaces", str(path)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("tiny: the space of tiny.yaml\n    input 3x32x32, 10 classes; 7 dimensions")
    assert "stages[1].blocks[0].se" in p.stdout and "(when stages[0].blocks[0].repeat > 1)" in p.stdout
    missing = subprocess.run([sys.executable, "-m", "nas.app.cli", "spaces", str(tmp_path / "none.yaml")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_a_template_in_the_examples_is_a_valid_space() -> None:
    path = Path(__file__).resolve().parents[1] / "examples" / "spaces" / "small_mobile.yaml"
    s = search_spaces.get(str(path))
    assert len(s.dimensions) >= 5 and s.log10_size() > 3


PLUGIN = '''
from search_spaces.cell import CellSpace
from strategies.random_search import RandomSearch


class SmallCells(CellSpace):
    name = "small_cells"
    default_input = (3, 16, 16)


class Shuffled(RandomSearch):
    name = "shuffled"


class NotASpace:
    pass
'''

SCRIPT = """
import search_spaces, strategies
from nas import NasError
print(search_spaces.get("myplug:SmallCells").input, search_spaces.get("cells_ep").name)
print(strategies.get("myplug:Shuffled").name, strategies.get("shuffled_ep").name)
for name in ("myplug:NotASpace", "myplug:Missing", "nosuchmodule:X", "broken_ep"):
    try:
        search_spaces.get(name)
    except NasError as e:
        print(e)
"""


def test_spaces_and_strategies_load_by_module_name_and_entry_point(tmp_path) -> None:
    import os

    (tmp_path / "myplug.py").write_text(PLUGIN)
    info = tmp_path / "myplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[nas.spaces]\ncells_ep = myplug:SmallCells\nbroken_ep = myplug:Gone\n\n"
                                           "[nas.strategies]\nshuffled_ep = myplug:Shuffled\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).resolve().parents[1])])}
    p = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "(3, 16, 16) small_cells", "shuffled shuffled",
        "space 'myplug:NotASpace' is not a Space subclass",
        "space 'myplug:Missing' does not load: AttributeError: module 'myplug' has no attribute 'Missing'",
        "space 'nosuchmodule:X' does not load: ModuleNotFoundError: No module named 'nosuchmodule'",
        "space 'broken_ep' does not load: AttributeError: module 'myplug' has no attribute 'Gone'"]
