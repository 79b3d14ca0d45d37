"""The search application, above the core: the CLI, the search driver on Ray, its results store, stopping
rules, reports and the verdict.

It uses the core (``nas``), ``search_spaces``, ``strategies`` and ``estimators``; none of them imports it.

>>> from nas.app import Search, Settings  # doctest: +SKIP
>>> Search(Settings(space="cell", budget="50M", trials=4), "runs/demo").run().winner  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__all__ = ["Search", "Settings"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `nas decode` does not pay for the driver's imports (the store's SQLAlchemy among them).
    if name == "Search":
        from .driver import Search

        return Search
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(f"module 'nas.app' has no attribute {name!r}")
