"""Every seed builds, runs, costs exactly what its built model counts, and reproduces its figures."""

from __future__ import annotations

import re

import pytest
import torch

import nas
from nas.builder import build, count_params, measure
from nas.zoo import FIGURE_KINDS, Figure

# The exact figures (torchvision's num_params metadata and a conv+FC count of its models), kept here
# independently of the registry so that a typo in either one fails.
EXACT = {
    "vgg11": (132_863_336, 7_609_090_048), "vgg11_bn": (132_868_840, 7_609_090_048),
    "vgg13": (133_047_848, 11_308_466_176), "vgg16": (138_357_544, 15_470_264_320),
    "vgg19": (143_667_240, 19_632_062_464), "resnet18": (11_689_512, 1_814_073_344),
    "resnet34": (21_797_672, 3_663_761_408), "resnet50": (25_557_032, 4_089_184_256),
    "resnet101": (44_549_160, 7_801_405_440), "resnet152": (60_192_808, 11_513_626_624),
    "wide_resnet50_2": (68_883_240, 11_398_021_120), "resnext50_32x4d": (25_028_904, 4_230_479_872),
    "densenet121": (7_978_856, 2_834_161_664), "densenet161": (28_681_000, 7_727_907_072),
    "densenet169": (14_149_480, 3_359_843_328), "densenet201": (20_013_928, 4_291_365_888),
    "mobilenet_v2": (3_504_872, 300_774_272), "squeezenet1_0": (1_248_424, 818_924_576),
    "inception_v3": (23_834_568, 5_713_216_096), "alexnet_tv": (61_100_840, 714_188_480),
    "googlenet_tv": (6_624_904, 1_498_376_192), "lenet5": (61_706, 416_520),
}

SEEDS = nas.seeds()


def test_registry_is_complete() -> None:
    assert set(EXACT) <= set(SEEDS)
    families = {nas.get_seed(n).family for n in SEEDS}
    assert {"lenet", "alexnet", "vgg", "resnet", "densenet", "mobilenet", "shufflenet", "squeezenet",
            "inception"} <= families
    for name in ("zfnet", "alexnet", "googlenet", "vgg_c", "se_resnet50", "mobilenet_v1", "shufflenet_v1_g3",
                 "fractalnet", "preact_resnet18", "resnet50_v1"):
        assert name in SEEDS


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_figures(name: str) -> None:
    c = nas.cost(nas.seed(name))
    assert (c.params, c.macs) == EXACT[name]


@pytest.mark.parametrize("name", SEEDS)
def test_seed_reproduces_its_figures(name: str) -> None:
    s = nas.get_seed(name)
    g = s.genome()
    assert g.name == name and s.source
    c = nas.cost(g)
    assert s.params is not None or s.macs is not None
    if s.params is not None:
        assert s.params.holds(c.params), f"{name}: {c.params:,} params vs {s.params}"
    if s.macs is not None:
        assert s.macs.holds(c.macs), f"{name}: {c.macs:,} MACs vs {s.macs}"


@pytest.mark.parametrize("name", SEEDS)
def test_seed_round_trips(name: str) -> None:
    g = nas.seed(name)
    assert nas.loads(nas.dumps(g)) == g


@pytest.mark.parametrize("name", SEEDS)
@pytest.mark.slow
def test_seed_builds_and_matches_its_cost(name: str) -> None:
    s = nas.get_seed(name)
    g = s.genome()
    if s.test_input:
        g = g.with_input(s.test_input)
    c = nas.cost(g)
    torch.set_num_threads(2)
    model = build(g)
    assert count_params(model) == c.params
    assert measure(model, g.input) == (c.macs, (g.classes,))


def test_googlenet_modules_match_the_papers_table() -> None:
    from nas.zoo.inception import GOOGLENET_TABLE_MACS

    rows = {l.name: l.macs for l in nas.cost(nas.seed("googlenet")).layers}
    where = {"3a": "stages.0.0", "3b": "stages.0.1", "4a": "stages.1.1", "4b": "stages.1.2", "4c": "stages.1.3",
             "4d": "stages.1.4", "4e": "stages.1.5", "5a": "stages.2.1", "5b": "stages.2.2"}
    for module, label in where.items():
        if module == "5a":
            # The table lists 54M; its own filter counts (256, 160-320, 32-128, 128 on 832x7x7) give this.
            assert rows[label] == 51_079_168
        else:
            assert abs(rows[label] - GOOGLENET_TABLE_MACS[module]) <= 0.01 * GOOGLENET_TABLE_MACS[module]


def test_stochastic_depth_seed_costs_as_its_base() -> None:
    sd = [n for n in SEEDS if "stochastic" in n]
    assert sd
    for name in sd:
        g = nas.seed(name)
        assert g.drop_path > 0
        base = nas.Genome(**{**g.__dict__, "drop_path": 0.0})
        assert (nas.cost(g).params, nas.cost(g).macs) == (nas.cost(base).params, nas.cost(base).macs)


def test_unknown_seed_lists_the_names() -> None:
    with pytest.raises(nas.NasError, match="unknown seed 'resnet51'; seeds: alexnet"):
        nas.seed("resnet51")


@pytest.mark.parametrize("name", SEEDS)
def test_every_figure_says_what_it_is(name: str) -> None:
    """Every figure has a declared kind; a computed one is never reported as matching a published or reference one."""
    s = nas.get_seed(name)
    c = nas.cost(s.genome())
    for fig, actual in ((s.params, c.params), (s.macs, c.macs)):
        if fig is None:
            continue
        assert fig.kind in FIGURE_KINDS
        label, short = fig.label(actual), fig.short(actual)
        if fig.kind == "computed":
            assert fig.tol == 0 and label.startswith("computed") and short == "computed"
            assert not re.search(r"match|within|=|%", label.split(":")[0] + short), label
        elif fig.kind == "reference":
            assert fig.tol == 0 and fig.source.startswith("torchvision") and label == f"matches {fig.source}"
        else:
            assert "computed" not in label and ("matches" in label or f"within {fig.tol:.1%}" in label), label


def test_a_figure_must_declare_its_kind() -> None:
    with pytest.raises(ValueError, match="figure kind must be one of reference, published, computed"):
        Figure(1.0, source="somewhere")
    with pytest.raises(ValueError, match="a computed figure is exact"):
        Figure(1.0, tol=0.01, kind="computed")
    assert Figure(100, tol=0.01, kind="published", source="paper").label(101) == "100: +1.0%, within 1.0% of paper"
    assert Figure(100, kind="computed", source="layers").label(100) == "computed, no exact published figure: layers"
