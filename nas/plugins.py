"""Named plugins: the registry behind search spaces and strategies (a class decorator, names, lookup by name).

Beside the built-in classes, a name may be ``module:attribute`` (imported on lookup, so a resumed run finds it
again by the name it stored), or a name another installed package declares as an entry point in the group
``nas.<plural>`` (``nas.spaces``, ``nas.strategies``).
"""

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
        """The class registered as ``name``, imported as ``module:attribute``, or an installed package's entry point;
        an unknown name is an input mistake that lists the valid ones."""
        self._load()
        if isinstance(name, str) and ":" in name:
            return self._imported(name, name)
        if name not in self.classes:
            from importlib.metadata import entry_points

            found = [e for e in entry_points(group=f"nas.{self.plural}") if e.name == name]
            if found:
                # quoted: a name with a newline or 100 kB long still makes one short line
                return self._imported(found[0].value, name)
            raise NasError(f"unknown {self.kind} {quote_arg(name)}; {self.plural}: {', '.join(self.classes)}")
        return self.classes[name]

    def _imported(self, target: str, name: str) -> T:
        """The class at ``module:attribute``; whatever fails on the way is one line naming it."""
        import importlib

        module, _, attr = target.partition(":")
        try:
            obj: object = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except Exception as e:  # noqa: BLE001 - a user's module may fail in any way while it loads
            raise NasError(f"{self.kind} {quote_arg(name)} does not load: {type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else ''}") from None
        base = self._base()
        if not isinstance(obj, type) or base is not None and not issubclass(obj, base):
            what = base.__name__ if base is not None else "class"
            raise NasError(f"{self.kind} {quote_arg(name)} is not a {what} subclass")
        return obj  # type: ignore[return-value]

    def _base(self) -> type | None:
        """The class every entry must derive from: the common base of the registered ones."""
        bases = [c.__mro__ for c in self.classes.values()]
        if not bases:
            return None
        common = [b for b in bases[0] if all(b in m for m in bases[1:])]
        return next((b for b in common if b is not object and not getattr(b, "name", "")), None)
