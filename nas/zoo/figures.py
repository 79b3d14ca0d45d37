"""What a seed is: its figures (reference, published or computed) and the registry the family modules fill.

Apart from ``nas.zoo`` itself so that the family modules, which register their seeds here, and the package, which
loads them, import in one direction only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..cost import human
from ..genome import Genome

FIGURE_KINDS = ("reference", "published", "computed")
"""Where a seed's figure comes from, declared with it:

- ``reference``: counted by a reference implementation (torchvision's ``num_params`` and ``_ops``), exact;
- ``published``: printed in a paper or a model table, usually rounded, so held within a tolerance;
- ``computed``: worked out here from the paper's layers where no such number exists (or only a vaguer one); it is
  a regression figure, checked exactly, and never reported as matching anything."""


@dataclass(frozen=True)
class Figure:
    """A seed's figure: exact when ``tol`` is 0, else within ``tol`` relative; ``kind`` is one of FIGURE_KINDS."""

    value: float
    tol: float = 0.0
    source: str = ""  # what the number is: "torchvision num_params", "Howard et al. 2017 Table 8: 569M Mult-Adds"
    kind: str = field(default="", kw_only=True)

    def __post_init__(self) -> None:
        if self.kind not in FIGURE_KINDS:
            raise ValueError(f"figure kind must be one of {', '.join(FIGURE_KINDS)}, got {self.kind!r}")
        if self.kind != "published" and self.tol:  # only a rounded number needs a tolerance
            raise ValueError(f"a {self.kind} figure is exact; tolerance {self.tol} given")

    def holds(self, actual: int) -> bool:
        """Whether ``actual`` reproduces this figure."""
        if self.tol == 0:
            return actual == self.value
        return abs(actual - self.value) <= self.tol * self.value

    def short(self, actual: int) -> str:
        """A few characters for the ``nas seeds`` table: ``= torchvision``, ``569M (-0.0%)``, ``computed``."""
        if not self.holds(actual):
            return f"MISSES {human(self.value)}"
        if self.kind == "computed":
            return "computed"
        if self.kind == "reference":
            return "= " + self.source.split()[0]
        return "= published" if actual == self.value else f"{human(self.value)} ({self._diff(actual)})"

    def label(self, actual: int) -> str:
        """What the figure says about ``actual``, by its kind: matches a reference, is within a published figure's
        tolerance, or was computed here (which is not a match with anything)."""
        if not self.holds(actual):
            return f"does not reproduce {human(self.value)} ({self.source})"
        if self.kind == "computed":
            return f"computed, no exact published figure: {self.source}"
        if self.kind == "reference" or actual == self.value:
            return f"matches {self.source}"
        return f"{human(self.value)}: {self._diff(actual)}, within {self.tol:.1%} of {self.source}"

    def _diff(self, actual: int) -> str:
        return f"{100 * (actual - self.value) / self.value:+.1f}%"


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
