"""The contract every registered search space keeps: sampling, budgets, mutation, membership, round trips."""

from __future__ import annotations

import importlib
import re
from dataclasses import replace

import numpy as np
import pytest
from conftest import assert_cost_matches_model

import nas
import search_spaces
from search_spaces import Budget, Space
from search_spaces._base import expand, runs

SPACES = search_spaces.names()


def budget_for(space: Space) -> int:
    """The median MACs of unconstrained draws: about half the draws need repair, and a member sits at the budget."""
    rng = np.random.default_rng(99)
    return int(np.median([space.cost(space.sample_config(rng, None))[0] for _ in range(201)]))


@pytest.fixture(scope="module", params=SPACES)
def space(request) -> Space:
    return search_spaces.get(request.param)


def test_registry() -> None:
    assert {"mobilenet"} <= set(SPACES)
    with pytest.raises(nas.NasError, match="unknown space 'mobilenett'; spaces: .*mobilenet"):
        search_spaces.get("mobilenett")


def test_dimensions_are_flat_and_labelled(space: Space) -> None:
    names = [d.name for d in space.dimensions]
    assert len(names) == len(set(names))
    for d in space.dimensions:
        assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)*", d.name), d.name
        assert len(d.choices) >= 1
        if d.when:
            assert names.index(d.when[0]) < names.index(d.name)  # a gate comes before what it gates
    assert space.log10_size() > 1


def test_thousand_samples_are_valid_and_within_budget(space: Space) -> None:
    budget = budget_for(space)
    rng = np.random.default_rng(0)
    macs = []
    for _ in range(1000):
        config = space.sample_config(rng, budget)
        m, p, a = space.cost(config)
        assert m <= budget
        macs.append(m)
    # the analytic cost of the decoded genome agrees with the space's own costing (checked on a subset)
    for _ in range(50):
        config = space.sample_config(rng, budget)
        c = nas.cost(space.decode(config))
        assert (c.macs, c.params, c.activations) == space.cost(config)
    # the samples cover the range up to the budget, not only tiny networks
    assert max(macs) > 0.8 * budget and np.median(macs) > 0.3 * budget


def test_sampling_is_deterministic(space: Space) -> None:
    budget = budget_for(space)
    a = [space.sample(np.random.default_rng(3), budget) for _ in range(3)]
    b = [space.sample(np.random.default_rng(3), budget) for _ in range(3)]
    assert a == b


def test_a_few_samples_build_and_match_their_cost(space: Space) -> None:
    low, _ = space.mac_range()
    rng = np.random.default_rng(1)
    for _ in range(2):
        g = space.sample(rng, int(1.5 * low))
        small = g.with_input(space.input[:1] + tuple(max(32, s // 4) for s in space.input[1:])) \
            if space.input[1] >= 128 else g
        try:
            nas.cost(small)
        except nas.GenomeError:  # the network needs its full input
            small = g
        assert_cost_matches_model(small)


def test_mutation_stays_in_the_space_and_the_budget(space: Space) -> None:
    budget = budget_for(space)
    rng = np.random.default_rng(2)
    g = space.sample(rng, budget)
    changed = 0
    for _ in range(100):
        child = space.mutate(g, rng, budget)
        assert space.contains(child)
        assert nas.cost(child).macs <= budget
        changed += child != g
        g = child
    assert changed >= 90


def test_mutation_changes_few_dimensions(space: Space) -> None:
    rng = np.random.default_rng(4)
    config = space.sample_config(rng, None)
    diffs = []
    for _ in range(50):
        child = space.mutate_config(config, rng, None)
        diffs.append(sum(child.get(k) != v for k, v in config.items()) + len(set(child) - set(config)))
    assert np.median(diffs) <= 2


def test_seeds_are_contained(space: Space) -> None:
    for name in space.seeds:
        g = nas.seed(name)
        assert space.contains(g), name
        assert nas.cost(space.decode(space.encode(g))).macs == nas.cost(g.with_input(space.input, space.classes)).macs


def test_the_baseline_fits_the_budget_and_is_one_network(space: Space) -> None:
    """The verdict's baseline at a budget: within it, costed by the core at the space's input, the same every time."""
    b = budget_for(space)
    got = space.baseline(b)
    if not space.seeds:
        assert got is None
        return
    label, g, macs = got
    assert macs <= b and nas.cost(g).macs == macs and g.input == space.input and g.classes == space.classes
    again = space.baseline(b)
    assert again[0] == label and nas.dumps(again[1]) == nas.dumps(g)


def test_encode_decode_round_trip(space: Space) -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        config = space.sample_config(rng, budget_for(space))
        g = space.decode(config)
        assert space.encode(g) == config
        assert space.decode(space.encode(g)) == g
        assert nas.loads(nas.dumps(g)) == g


def test_not_contained(space: Space) -> None:
    other = nas.loads("input: [3, 32, 32]\nclasses: 10\nstages: [[{type: fractal, c: 4, columns: 2}]]\n"
                      "head: [{type: gap}, {type: linear}]")
    assert not space.contains(other)


def test_infeasible_budget_names_the_smallest_member(space: Space) -> None:
    low = space.min_cost()[0]
    with pytest.raises(nas.NasError, match=f"below the smallest member of space '{space.name}' \\({low:,} MACs"):
        space.sample(np.random.default_rng(0), low - 1)
    assert space.cost(space.sample_config(np.random.default_rng(0), low))[0] <= low


def test_budget_caps_params_too(space: Space) -> None:
    low_m, low_p, _ = space.min_cost()
    cap = Budget(macs=2**62, params=int(low_p * 1.5))
    rng = np.random.default_rng(6)
    for _ in range(50):
        assert space.cost(space.sample_config(rng, cap))[1] <= cap.params


def test_decode_rejects_bad_configs(space: Space) -> None:
    config = space.sample_config(np.random.default_rng(7), None)
    name = space.dimensions[0].name
    with pytest.raises(nas.NasError, match=f"'{name}'"):
        space.decode({k: v for k, v in config.items() if k != name})
    with pytest.raises(nas.NasError, match=re.escape(name)):
        space.decode({**config, name: "nonsense"})


def test_cost_at_another_input() -> None:
    small = search_spaces.get("mobilenet", input=(3, 96, 96), classes=10)
    g = small.sample(np.random.default_rng(0), "20M")
    assert g.input == (3, 96, 96) and g.classes == 10 and nas.cost(g).macs <= 20_000_000
    assert small.contains(replace(nas.seed("mobilenet_v2"), input=(3, 96, 96), classes=10))


def test_seeds_are_points_of_the_space(space: Space) -> None:
    """Each seed is the decode of its config, exactly: the space builds its skeleton from the zoo's definition."""
    for name in space.seeds:
        g = nas.seed(name).with_input(space.input, space.classes)
        assert space.decode(space.encode(g)) == replace(g, name=space.name), name


# What each space takes from its family's one definition in the zoo: the seeds are built from the same objects.
SHARED = {
    "mobilenet": ("nas.zoo.mobile", ("MOBILENET_V2", "mobilenet_v2_stem", "mobilenet_v2_unit", "mobilenet_v2_head")),
    "shufflenet": ("nas.zoo.mobile", ("SHUFFLENET_V1_HEAD", "shufflenet_v1_channels", "shufflenet_v1_stem",
                                      "shufflenet_v1_stage")),
    "densenet": ("nas.zoo.dense", ("DENSENET_HEAD", "densenet_stem", "densenet_stage", "densenet_transition")),
    "resnet": ("nas.zoo.resnet", ("resnet_stem", "resnet_stage", "resnet_head")),
    "vgg": ("nas.zoo.classic", ("VGG_PLAN", "VGG_NORMS", "VGG_POOL", "VGG_CLASSIFIER", "vgg_stage")),
    "inception": ("nas.zoo.inception", ("GOOGLENET_STAGES", "GOOGLENET_MODULES", "GOOGLENET_KINDS", "googlenet_stem",
                                        "googlenet_module", "googlenet_head", "googlenet_conv", "googlenet_tail")),
}


def test_every_space_with_seeds_builds_from_the_zoo(space: Space) -> None:
    """The skeleton is the zoo's own objects, so a family is changed in one place: the seeds follow with it."""
    if not space.seeds:
        return
    zoo, names = SHARED[space.name]
    module = importlib.import_module(type(space).__module__)
    for name in names:
        assert getattr(module, name) is getattr(importlib.import_module(zoo), name), name
    for seed in space.seeds:  # and the seeds are made in that module
        make = nas.get_seed(seed).make
        assert getattr(make, "func", make).__module__ == zoo, seed


def test_fast_cost_is_the_cost_model_over_every_choice(space: Space) -> None:
    """The space's own costing (its sampling fast path) equals ``nas.cost`` of the built genome for every choice
    of every dimension, each set in turn on the largest config (all gated dimensions on) and on a sampled one."""
    for base in (space.extreme(True), space.sample_config(np.random.default_rng(8), None)):
        for d in space.dimensions:
            for v in d.choices:
                config = space._fill({**base, d.name: v}, np.random.default_rng(9))
                c = nas.cost(space.decode(config))
                assert space.cost(config) == (c.macs, c.params, c.activations), (d.name, v)


def test_mobilenet_folds_equal_units_as_runs_does() -> None:
    """The mobilenet space folds equal neighbours by their choices; the records are the ones ``runs`` folds to."""
    space = search_spaces.get("mobilenet")
    rng = np.random.default_rng(10)
    for _ in range(200):
        config = space.sample_config(rng, None)
        for _, _, names in space._names:  # make runs of equal units likely: half the stages copy their first unit
            if rng.random() < 0.5:
                config.update({n: config[first] for unit in names[1:] for n, first in zip(unit, names[0])})
        for stage in space.decode(config).stages:
            assert stage.blocks == runs(expand(stage.blocks))
