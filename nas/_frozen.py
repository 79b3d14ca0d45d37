"""A read-only mapping for block parameters, so that a genome, once made, cannot be changed in place."""

from __future__ import annotations

from typing import Any, Iterator, Mapping


class Params(Mapping[str, Any]):
    """A frozen, hashable, picklable mapping; ``Params({"c": 8}) == {"c": 8}``, but item assignment raises.

    Editing a block means making a new one (``Block.with_params``), so that records shared between genomes
    (a search space's fixed classifier, a seed's module-level layers) stay what they were.
    """

    __slots__ = ("_data", "_hash")
    _data: dict[str, Any]
    _hash: int | None

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_data", {k: freeze(v) for k, v in (data or {}).items()})
        object.__setattr__(self, "_hash", None)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __eq__(self, other: object) -> bool:
        if type(other) is Params:
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __hash__(self) -> int:
        if self._hash is None:  # remembered: search spaces hash the same records over and over
            object.__setattr__(self, "_hash", hash(frozenset(self._data.items())))
        assert self._hash is not None
        return self._hash

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only; make a new block with Block.with_params")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only; make a new block with Block.with_params")

    def __repr__(self) -> str:
        return f"Params({self._data!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Params, (self._data,))  # pickled as its plain dict (Ray ships genomes to workers this way)

    def __copy__(self) -> "Params":
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> "Params":
        return self


_ATOMS = frozenset({int, float, str, bool, type(None)})


def freeze(v: Any) -> Any:
    """``v`` with every list made a tuple and every dict a Params, all the way down."""
    if type(v) in _ATOMS:  # the common case, ahead of the slower abstract-class checks below
        return v
    if isinstance(v, (list, tuple)):
        return tuple(freeze(x) for x in v)
    if isinstance(v, Params):
        return v
    if isinstance(v, Mapping):
        return Params(v)
    if isinstance(v, (set, frozenset)):
        return frozenset(freeze(x) for x in v)
    return v
