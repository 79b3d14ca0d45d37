"""The NAS-Bench-201 tabular estimator: published accuracies for known cells, one line for anything else."""

from __future__ import annotations

import pytest

import nas
import search_spaces
from estimators.nb201 import accuracy, arch, table

BEST = {"e01": "conv3x3", "e02": "conv3x3", "e12": "conv3x3", "e03": "skip", "e13": "conv3x3", "e23": "conv1x1"}
"""NAS-Bench-201's best CIFAR-10 cell: 94.37% after 200 epochs (Dong and Yang 2020; NATS-Bench, Dong et al. 2021)."""

POOL_CELL = {"e01": "avgpool3x3", "e02": "conv1x1", "e12": "skip", "e03": "conv1x1", "e13": "skip", "e23": "skip"}
"""A cell the table lists at 85.8633%."""


def test_the_table_holds_every_cell_of_the_space() -> None:
    assert len(table()) == 5 ** 6 and max(table().values()) == 94.3733


@pytest.mark.parametrize("config, expected", [(BEST, 0.943733), (POOL_CELL, 0.858633)])
def test_a_known_cell_scores_its_published_accuracy(config, expected) -> None:
    g = search_spaces.get("cell").decode(config)
    assert accuracy(g) == pytest.approx(expected, abs=1e-9)
    assert accuracy(nas.loads(nas.dumps(g))) == accuracy(g)  # through YAML, as a worker receives it


def test_the_arch_string_is_nas_bench_201s() -> None:
    cell = {(int(k[1]), int(k[2])): v for k, v in POOL_CELL.items()}
    assert arch(cell) == ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|"
                          "skip_connect~2|")


def _cells_differ() -> nas.Genome:
    g = search_spaces.get("cell").decode(BEST)
    d = g.to_dict()
    d["stages"][2]["blocks"][1]["edges"][0][2] = "skip"
    return nas.Genome.from_dict(d)


@pytest.mark.parametrize("make, message", [
    (lambda: nas.seed("resnet18"), "needs a 3x32x32 input and 10 classes, not 3x224x224 and 1000"),
    (lambda: search_spaces.get("cell").decode(BEST).with_input(classes=100), "not 3x32x32 and 100"),
    (_cells_differ, "its cells differ (stages[2].blocks[1])"),
    (lambda: nas.loads("input: [3, 32, 32]\nclasses: 10\nstages: [[{type: conv, c: 16}]]\nhead: [{type: gap}, "
                       "{type: linear}]"), "it has 0 cells, the space has 15"),
])
def test_a_genome_outside_the_table_is_one_line(make, message) -> None:
    with pytest.raises(nas.NasError) as e:
        accuracy(make())
    assert message in str(e.value) and "\n" not in str(e.value)
