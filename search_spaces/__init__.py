"""Search spaces built around the classic network families, each containing its seed networks.

>>> import numpy as np, search_spaces
>>> space = search_spaces.get("mobilenet")
>>> g = space.sample(np.random.default_rng(0), "300M")
>>> space.contains(g)
True
"""

from __future__ import annotations

from nas import NasError

from ._base import Budget, Config, Dim, Space

SPACES: dict[str, type[Space]] = {}


def register(cls: type[Space]) -> type[Space]:
    """Class decorator that adds a space to the registry under ``cls.name``; a duplicate raises."""
    if not cls.name or cls.name in SPACES:
        raise ValueError(f"space name {cls.name!r} is empty or registered twice")
    SPACES[cls.name] = cls
    return cls


def names() -> list[str]:
    """Names of the registered spaces."""
    _load_all()
    return list(SPACES)


def get(name: str, input: tuple[int, int, int] | None = None, classes: int | None = None) -> Space:
    """The space ``name`` at its deployment input (or ``input`` and ``classes``); unknown names list the valid ones."""
    _load_all()
    if name not in SPACES:
        raise NasError(f"unknown space '{name}'; spaces: {', '.join(SPACES)}")
    return SPACES[name](input, classes)


def _load_all() -> None:
    from . import cell, densenet, inception, mobilenet, resnet, shufflenet, vgg  # noqa: F401


__all__ = ["Budget", "Config", "Dim", "SPACES", "Space", "get", "names", "register"]
