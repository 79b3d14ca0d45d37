"""Width scaling reads the block types' declarations (``Param.width``), and scales as it always has.

``scale_width_expected.json`` holds what ``scale_width`` gave, before the declarations replaced its per-type
table, for every seed, every example and every registry example at x0.25, x0.5 and x1.5: the scaled genome's
params, MACs and a digest of its record data, or the error. A block type whose widths are left undeclared is
caught by probing its registry example.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_cost_matches_model
from test_genome import single_block_genome

import nas
from estimators import scale_width
from nas.registry import Width

HERE = Path(__file__).resolve().parent
EXPECTED: dict[str, dict[str, dict[str, Any]]] = json.loads((HERE / "scale_width_expected.json").read_text())


def genome(case: str) -> nas.Genome:
    """The genome a recorded case names: ``seed:NAME``, ``example:FILE`` or ``block:TYPE``."""
    kind, name = case.split(":", 1)
    if kind == "seed":
        return nas.seed(name)
    if kind == "example":
        return nas.load(HERE.parent / "examples" / f"{name}.yaml")
    return single_block_genome(name)


def scaled(g: nas.Genome, mult: float) -> dict[str, Any]:
    """What the record keeps of ``scale_width(g, mult)``."""
    try:
        out = scale_width(g, mult)
    except nas.NasError as e:
        return {"error": str(e)}
    c = nas.cost(out)
    digest = hashlib.sha256(json.dumps(out.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
    return {"params": c.params, "macs": c.macs, "digest": digest}


def test_the_record_covers_every_seed_and_block_type() -> None:
    cases = set(EXPECTED)
    assert {f"seed:{s}" for s in nas.seeds()} <= cases
    assert {f"block:{b}" for b in nas.block_types()} <= cases


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_scale_width_gives_what_it_gave_before_the_declarations(case: str) -> None:
    g = genome(case)
    for mult, want in EXPECTED[case].items():
        assert scaled(g, float(mult)) == want, f"{case} at x{mult}"


def channel_counts(g: nas.Genome) -> set[int]:
    """The distinct channel counts (feature-vector lengths included) of every op of ``g``."""
    return {n.shape[0] for n in nas.trace(g).nodes}


def with_param(name: str, key: str, value: Any) -> nas.Genome | None:
    """The registry example of ``name`` with ``key`` set to ``value``, or None when that does not trace."""
    bt = nas.REGISTRY[name]
    rec = {"type": name, **bt.example, key: value}
    try:
        g = nas.Genome.from_dict({**single_block_genome(name).to_dict(), "stages": [{"blocks": [rec]}]})
        nas.trace(g)
    except nas.GenomeError:
        return None
    return g


@pytest.mark.parametrize("name", nas.block_types())
def test_every_channel_count_parameter_is_declared(name: str) -> None:
    bt = nas.REGISTRY[name]
    base = channel_counts(single_block_genome(name))
    example = bt.resolve(bt.example)
    for key, spec in bt.params.items():
        w = spec.width
        if spec.kind == "channels":
            assert w is not None and w.kind == "channels", f"{name}.{key} is a channel count without Width('channels')"
        if w is not None:
            assert w.kind in ("channels", "groups", "ratio"), f"{name}.{key}: unknown width kind {w.kind!r}"
            for other in (w.per, w.share and w.share[0], w.depthwise):
                assert other in (None, *bt.params), f"{name}.{key}'s width names {other!r}, no parameter of {name}"
            continue
        # An undeclared int that changes the block's channel counts is a width nobody told scale_width about.
        value = example.get(key)
        if spec.kind != "int" or not (value is None or isinstance(value, int)):
            continue
        value = value or 0  # an unset int (a default of None) is probed too
        for probe in (value + 8, 2 * value + 24):
            g = with_param(name, key, probe)
            assert g is None or channel_counts(g) == base, \
                f"{name}.{key} changes channel counts: declare its width (Param(..., width=...))"


def test_width_declarations_are_plain_data() -> None:
    assert Width("channels", per="groups") == Width("channels", per="groups")
    assert hash(nas.REGISTRY["conv"].params["groups"].width) == hash(Width("groups", depthwise="c"))


@pytest.mark.parametrize("mult", [0.3, 0.5, 1.5])
@pytest.mark.slow
def test_a_split_into_three_keeps_its_input_divisible_by_three(mult: float) -> None:
    g = nas.loads("input: [3, 16, 16]\nclasses: 10\nstem: [{type: conv, c: 24}]\n"
                  "stages: [[{type: split, branches: [[{type: identity}], [{type: conv, c: 8, k: 1}], "
                  "[{type: conv, c: 8}]]}, {type: conv, c: 24}]]\nhead: [{type: gap}, {type: linear}]\n")
    h = scale_width(g, mult)
    assert h.stem[0].params["c"] % 3 == 0
    assert_cost_matches_model(h)
