"""The hand-designed networks as named genomes, each with the figures it must reproduce.

>>> import nas
>>> nas.cost(nas.seed("resnet50")).params
25557032
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import NasError
from ..genome import Genome


@dataclass(frozen=True)
class Figure:
    """A published or reference figure: exact when ``tol`` is 0, else within ``tol`` relative."""

    value: float
    tol: float = 0.0
    source: str = ""  # where the number comes from: "torchvision num_params", "paper Table 1", "computed"

    def holds(self, actual: int) -> bool:
        """Whether ``actual`` reproduces this figure."""
        if self.tol == 0:
            return actual == self.value
        return abs(actual - self.value) <= self.tol * self.value


@dataclass(frozen=True)
class Seed:
    """A registered seed network: how to make its genome, where it comes from, what it must reproduce."""

    name: str
    family: str
    source: str  # paper and table
    make: Callable[[], Genome]
    params: Figure | None = None
    macs: Figure | None = None
    note: str = ""  # discrepancies between a paper's table and its arithmetic, variants
    test_input: tuple[int, int, int] | None = None  # a smaller input for the build-and-forward test

    def genome(self) -> Genome:
        """The seed's genome (named after the seed)."""
        g = self.make()
        return g if g.name == self.name else Genome(**{**g.__dict__, "name": self.name})


SEEDS: dict[str, Seed] = {}


def register_seed(name: str, family: str, source: str, *, params: Figure | None = None,
                  macs: Figure | None = None, note: str = "", test_input: tuple[int, int, int] | None = None):
    """Decorator that registers a genome factory as a seed; a duplicate name raises."""

    def deco(fn: Callable[[], Genome]) -> Callable[[], Genome]:
        if name in SEEDS:
            raise ValueError(f"seed {name!r} is registered twice")
        SEEDS[name] = Seed(name, family, source, fn, params, macs, note, test_input)
        return fn

    return deco


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
    """Names of all seed networks, in registry order (grouped by family)."""
    _load_all()
    return list(SEEDS)


def _load_all() -> None:
    # Each family module registers its seeds on import.
    from . import classic, inception, resnet, dense, mobile  # noqa: F401  (in the order of the lectures)


def report() -> list[dict]:
    """Each seed's computed figures beside its published ones (what ``nas seeds`` prints)."""
    from ..cost import cost

    rows = []
    for name in seeds():
        s = SEEDS[name]
        g = s.genome()
        c = cost(g)
        row: dict = {"name": name, "family": s.family, "input": list(g.input), "classes": g.classes,
                     "params": c.params, "macs": c.macs, "source": s.source}
        for key, fig in (("params", s.params), ("macs", s.macs)):
            if fig is not None:
                row[f"published_{key}"] = fig.value
                row[f"{key}_source"] = fig.source
                row[f"{key}_diff"] = c.params - fig.value if key == "params" else c.macs - fig.value
                row[f"{key}_holds"] = fig.holds(row[key])
        if s.note:
            row["note"] = s.note
        rows.append(row)
    return rows
