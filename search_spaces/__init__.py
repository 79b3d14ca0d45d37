"""Search spaces built around the classic network families, each containing its seed networks.

>>> import numpy as np, search_spaces
>>> space = search_spaces.get("mobilenet")
>>> g = space.sample(np.random.default_rng(0), "300M")
>>> space.contains(g)
True
"""

from __future__ import annotations

from nas.plugins import Registry

from ._base import Budget, Config, Dim, Space


def _load_all() -> None:
    from . import cell, densenet, inception, mobilenet, resnet, shufflenet, vgg  # noqa: F401


_REGISTRY: Registry[type[Space]] = Registry("space", "spaces", _load_all)
SPACES = _REGISTRY.classes
register = _REGISTRY.register
names = _REGISTRY.names


def get(name: str, input: tuple[int, int, int] | None = None, classes: int | None = None) -> Space:
    """The space ``name`` at its deployment input (or ``input`` and ``classes``); unknown names list the valid ones.
    A name ending in ``.yaml`` (or holding a path separator) is a template file (``search_spaces.template``)."""
    from .template import from_file, is_template

    if is_template(name):
        return from_file(name, input, classes)
    return _REGISTRY.lookup(name)(input, classes)


__all__ = ["Budget", "Config", "Dim", "SPACES", "Space", "get", "names", "register"]
