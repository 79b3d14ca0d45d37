"""The hand-designed networks as named genomes, each with the figures it must reproduce.

>>> import nas
>>> nas.cost(nas.seed("resnet50")).params
25557032
"""

from __future__ import annotations

from typing import Callable

from ..cost import cost
from ..errors import NasError
from ..genome import Genome
from .figures import FIGURE_KINDS, SEEDS, Figure, Seed, register_seed

__all__ = ["FIGURE_KINDS", "SEEDS", "Figure", "Seed", "get_seed", "register_seed", "report", "seed", "seeds"]


def get_seed(name: str) -> Seed:
    """The registered seed ``name``; an unknown name fails with the list of seeds."""
    _load_all()
    if name not in SEEDS:
        raise NasError(f"unknown seed '{name}'; seeds: {', '.join(sorted(SEEDS))}")
    return SEEDS[name]


def seed(name: str) -> Genome:
    """The genome of the seed network ``name`` (``nas.seeds()`` lists them)."""
    return get_seed(name).genome()


def seeds() -> list[str]:
    """Names of all seed networks, family module by family module in the order of the lectures, each in the order
    it registers them; the same whichever module was imported first (the search spaces import some early)."""
    _load_all()
    order = {name: i for i, name in enumerate(_MODULES)}
    return sorted(SEEDS, key=lambda n: order[_module(SEEDS[n].make)])  # a stable sort keeps registry order within


_MODULES = ("classic", "inception", "resnet", "dense", "mobile")  # in the order of the lectures


def _module(make: Callable[[], Genome]) -> str:
    """The zoo module that made a seed factory (a function, a closure or a ``functools.partial``)."""
    return getattr(make, "func", make).__module__.rsplit(".", 1)[-1]


def _load_all() -> None:
    # Each family module registers its seeds on import.
    from . import classic, dense, inception, mobile, resnet  # noqa: F401


def report() -> list[dict]:
    """Each seed's counted params and MACs beside its declared figures, each with its kind and label (``nas seeds``)."""
    rows = []
    for name in seeds():
        s = SEEDS[name]
        g = s.genome()
        c = cost(g)
        row: dict = {"name": name, "family": s.family, "input": list(g.input), "classes": g.classes,
                     "params": c.params, "macs": c.macs, "source": s.source}
        for key, fig in (("params", s.params), ("macs", s.macs)):
            if fig is not None:
                row[f"{key}_figure"] = fig.value  # the declared figure; its kind says whether anyone published it
                row[f"{key}_kind"] = fig.kind
                row[f"{key}_source"] = fig.source
                row[f"{key}_diff"] = row[key] - fig.value
                row[f"{key}_holds"] = fig.holds(row[key])
                row[f"{key}_label"] = fig.label(row[key])
        if s.note:
            row["note"] = s.note
        rows.append(row)
    return rows
