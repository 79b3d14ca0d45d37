"""Views of a search beside the results store: an Optuna study that optuna-dashboard opens (``studyview``) and
TensorBoard learning curves (``curves``). The store stays the one record that resume trusts; every view is rebuilt
from it when a search starts or resumes and then follows it result by result. A view that fails (a full disk, a
package missing) is reported once and left behind: it never costs the search a result."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from .settings import Settings
from .store import Evaluation

if TYPE_CHECKING:
    from search_spaces import Space

Log = Callable[[str], None]


class View(Protocol):
    """Something that follows the store: rebuilt from every record, then told each new one."""

    def rebuild(self, done: list[Evaluation]) -> None: ...

    def add(self, ev: Evaluation) -> None: ...


class Views:
    """The views of one run, each kept apart: one that fails is dropped with a note, the others go on."""

    def __init__(self, views: dict[str, View], log: Log) -> None:
        self.views, self.log = dict(views), log

    @classmethod
    def open(cls, out: Path, settings: Settings, space: Space, log: Log) -> Views:
        """The views a search in ``out`` keeps: the study for optuna-dashboard and the TensorBoard curves."""
        from importlib import import_module

        made: dict[str, View] = {}
        for name, where in (("optuna-dashboard study", "studyview:StudyView"), ("TensorBoard curves", "curves:Curves")):
            try:
                module, cls_name = where.split(":")
                made[name] = getattr(import_module(f"{__package__}.{module}"), cls_name)(Path(out), settings, space)
            except Exception as e:  # noqa: BLE001 - a view never stops a search
                log(f"note: no {name} for this run ({type(e).__name__}: {e})")
        return cls(made, log)

    def _each(self, method: str, arg: Any) -> None:
        for name, view in list(self.views.items()):
            try:
                getattr(view, method)(arg)
            except Exception as e:  # noqa: BLE001 - a view never costs the search a result
                self.log(f"note: the {name} stopped following the search here ({type(e).__name__}: {e})")
                del self.views[name]

    def rebuild(self, done: list[Evaluation]) -> None:
        """Every view made again from the records ``done``."""
        self._each("rebuild", done)

    def add(self, ev: Evaluation) -> None:
        """Every view told of a new record."""
        self._each("add", ev)
