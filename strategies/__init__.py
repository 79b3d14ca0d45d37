"""Search strategies behind one ask/tell interface: random, regularized evolution, Optuna (TPE), NSGA-II.

>>> import search_spaces, strategies
>>> s = strategies.get("evolution")(search_spaces.get("mobilenet"), budget="300M", seed=0)
>>> c = s.ask()
>>> c.macs <= 300_000_000
True
"""

from __future__ import annotations

from nas import NasError

from ._base import Candidate, Strategy

STRATEGIES: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator that adds a strategy to the registry under ``cls.name``; a duplicate raises."""
    if not cls.name or cls.name in STRATEGIES:
        raise ValueError(f"strategy name {cls.name!r} is empty or registered twice")
    STRATEGIES[cls.name] = cls
    return cls


def names() -> list[str]:
    """Names of the registered strategies."""
    _load_all()
    return list(STRATEGIES)


def get(name: str) -> type[Strategy]:
    """The strategy class ``name``; an unknown name lists the valid ones."""
    _load_all()
    if name not in STRATEGIES:
        raise NasError(f"unknown strategy '{name}'; strategies: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


def _load_all() -> None:
    from . import evolution, optuna_search, random_search  # noqa: F401


__all__ = ["Candidate", "STRATEGIES", "Strategy", "get", "names", "register"]
