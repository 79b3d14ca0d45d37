"""Shared fixtures."""

from __future__ import annotations

import pytest
import torch

import nas


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


def assert_cost_matches_model(g: nas.Genome) -> nas.Cost:
    """The analytic cost equals the built model: params == sum(p.numel()), MACs == hook-counted conv+linear."""
    from nas.builder import build, count_params, measure

    c = nas.cost(g)
    model = build(g)
    assert count_params(model) == c.params
    assert measure(model, g.input) == (c.macs, tuple(c.output))
    return c
