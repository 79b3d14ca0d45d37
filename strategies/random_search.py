"""Random search: budget-feasible samples from the space, without repeats (the baseline every search must beat)."""

from __future__ import annotations

from search_spaces import Config

from . import register
from ._base import Strategy


@register
class RandomSearch(Strategy):
    """Uniform draws over the space's dimensions, repaired down to the budget, deduplicated."""

    name = "random"

    def _propose(self) -> tuple[Config, str, int | None]:
        return self._unseen(lambda: self.space.sample_config(self.rng, self.budget)), "random", None
