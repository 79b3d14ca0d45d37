"""Named plugins: the registry behind search spaces and strategies (a class decorator, names, lookup by name)."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

from .errors import NasError, quote_arg

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """Classes registered under their ``name``; ``load`` imports the modules that register the built-in ones."""

    def __init__(self, kind: str, plural: str, load: Callable[[], None]) -> None:
        self.kind, self.plural, self._load = kind, plural, load
        self.classes: dict[str, T] = {}

    def register(self, cls: T) -> T:
        """Class decorator that adds ``cls`` under ``cls.name``; an empty or duplicate name raises."""
        name = getattr(cls, "name", None)
        if not name or name in self.classes:
            raise ValueError(f"{self.kind} name {name!r} is empty or registered twice")
        self.classes[name] = cls
        return cls

    def names(self) -> list[str]:
        """Names of the registered classes, built-in ones included."""
        self._load()
        return list(self.classes)

    def lookup(self, name: str) -> T:
        """The class registered as ``name``; an unknown name is an input mistake that lists the valid ones."""
        self._load()
        if name not in self.classes:  # quoted: a name with a newline or 100 kB long still makes one short line
            raise NasError(f"unknown {self.kind} {quote_arg(name)}; {self.plural}: {', '.join(self.classes)}")
        return self.classes[name]
