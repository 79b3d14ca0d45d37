"""Search strategies behind one ask/tell interface: random, regularized evolution, Optuna (TPE), NSGA-II.

>>> import search_spaces, strategies
>>> s = strategies.get("evolution")(search_spaces.get("mobilenet"), budget="300M", seed=0)
>>> c = s.ask()
>>> c.macs <= 300_000_000
True
"""

from __future__ import annotations

from nas.plugins import Registry

from ._base import Candidate, Strategy


def _load_all() -> None:
    from . import evolution, optuna_search, random_search  # noqa: F401


_REGISTRY: Registry[type[Strategy]] = Registry("strategy", "strategies", _load_all)
STRATEGIES = _REGISTRY.classes
register = _REGISTRY.register
names = _REGISTRY.names
get = _REGISTRY.lookup
"""``get(name)``: the strategy class ``name``; an unknown name lists the valid ones."""


__all__ = ["Candidate", "STRATEGIES", "Strategy", "get", "names", "register"]
