"""The one table of block types: each entry has its parameters and the single rule that expands it.

A block type is registered once, with ``@register``; the cost model, the graph view and the torch builder
all read the same expansion, so adding a block type is one new entry here and nothing else.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from ._limits import MAX_INT
from .errors import GenomeError, quote

if TYPE_CHECKING:  # pragma: no cover
    from ._trace import Ref, Tracer

ACTIVATIONS = ("relu", "relu6", "leaky_relu", "tanh", "sigmoid", "silu", "swish", "hardswish", "hardsigmoid", "gelu")
"""Activation names a genome may use; ``None`` (or ``"none"``) leaves the activation out."""

_NO_DEFAULT = object()


@dataclass(frozen=True)
class Width:
    """What a width multiplier does to a parameter (``Param.width``); read by ``estimators.scale_width``.

    ``channels``: a channel count, scaled and rounded to a multiple of the divisor and of every group count of
    the genome; ``classes`` and ``None`` stay as they are. ``per`` names a group-count parameter of the same
    block: the count is rounded to a multiple of it (and the divisor) instead. ``share`` = (param, n): while
    unset, the expansion uses ``param / n``; when the ``per`` groups exceed 1 that share is scaled and written
    out. ``narrow``: the rounding unit is at most the value itself (a dense layer's growth of 4 stays 4 at x1.5).

    ``groups``: a group count the genome's scaled channels stay divisible by (on a ``branches`` parameter: the
    number of branches, which share the input's channels equally), times ``n`` of ``share`` while
    that parameter is unset). ``depthwise`` names the channel parameter of a conv whose groups may equal its
    input channels: then both follow the scaled input (the depthwise multiplier ``c / groups`` is kept).

    ``ratio``: a multiple of another width parameter; scaling that one scales it, so it stays as it is.
    """

    kind: str  # channels, groups or ratio
    per: str | None = None
    share: tuple[str, int] | None = None
    narrow: bool = False
    depthwise: str | None = None


CHANNELS = Width("channels")
"""The common declaration: a channel count scaled with the network's width."""


@dataclass(frozen=True)
class Param:
    """One parameter of a block type: its kind, default and the range it must lie in.

    Kinds: ``int``, ``channels`` (an int or the word ``classes``), ``kernel`` (an int or ``[h, w]``),
    ``stride`` (like kernel), ``pad`` (like kernel, or ``None`` for automatic same-style padding), ``float``,
    ``bool``, ``act``, ``choice``, ``blocks`` (a list of block records), ``branches`` (a list of such lists), ``edges``.
    """

    kind: str
    default: Any = _NO_DEFAULT
    doc: str = ""
    lo: float | None = None
    hi: float | None = None
    choices: tuple[Any, ...] = ()
    width: Width | None = None  # how a width multiplier treats it: None for what is no width at all
    excludes: tuple[str, ...] = ()  # parameters a record may not write beside this one, not even at their default

    @property
    def required(self) -> bool:
        return self.default is _NO_DEFAULT

    def check(self, value: Any, path: str) -> Any:
        """Return ``value`` in its canonical plain form, or raise GenomeError naming ``path``."""
        return _CHECKS[self.kind](self, value, path)


@dataclass(frozen=True)
class BlockType:
    """A registered block type: ``expand(t, x, p)`` traces its primitive ops and returns the output ref."""

    name: str
    expand: Callable[["Tracer", "Ref", dict[str, Any]], "Ref"]
    params: dict[str, Param]
    doc: str
    drop_path: bool = False  # takes a rate from the network's drop-path ramp
    example: dict[str, Any] = field(default_factory=dict)
    more_examples: tuple[dict[str, Any], ...] = ()  # further records that exercise the options ``example`` leaves off

    @property
    def examples(self) -> tuple[dict[str, Any], ...]:
        """Every example record of this type, ``example`` first; the contract tests run each one."""
        return (self.example, *self.more_examples)

    @cached_property
    def _defaults(self) -> dict[str, Any]:
        # worked out once: every record of the type, at every sample of a search, resolves against it
        return {k: p.default for k, p in self.params.items() if not p.required}

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Parameters with defaults filled in (the genome keeps only what was written)."""
        out = dict(self._defaults)
        out.update(params)
        return out


REGISTRY: dict[str, BlockType] = {}


def register(name: str, params: dict[str, Param], *, drop_path: bool = False, example: dict[str, Any] | None = None,
             examples: Sequence[dict[str, Any]] = ()) -> Callable[[Callable[..., "Ref"]], Callable[..., "Ref"]]:
    """Decorator that adds an expansion rule to the registry; a duplicate name is a bug and raises.

    ``example`` is the record that shows the type; ``examples`` adds records for the options it leaves off, so
    that the contract tests (cost equals the built model, YAML round trip) reach every option.
    """

    def deco(fn: Callable[..., "Ref"]) -> Callable[..., "Ref"]:
        if name in REGISTRY:
            raise ValueError(f"block type {name!r} is registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        REGISTRY[name] = BlockType(name, fn, params, doc, drop_path, dict(example or {}),
                                   tuple(dict(e) for e in examples))
        return fn

    return deco


# The block types a genome defines for itself, visible by name while that genome is read or expanded; they are
# never added to REGISTRY, so two genomes may define the same name differently.
_LOCAL: ContextVar[Mapping[str, BlockType]] = ContextVar("nas_local_block_types", default=MappingProxyType({}))


@contextmanager
def local_types(types: Mapping[str, BlockType]) -> Iterator[None]:
    """Within the ``with``, ``block_type`` also finds ``types`` (a genome's own block types) by name."""
    token = _LOCAL.set(types)
    try:
        yield
    finally:
        _LOCAL.reset(token)


def block_type(name: Any, path: str = "type") -> BlockType:
    """Look a block type up by name (the genome's own types first); an unknown name fails with the valid ones."""
    if isinstance(name, str):
        # built-in first: a genome's own types may not shadow one, and this is the sampler's hot path
        bt = REGISTRY.get(name) or _LOCAL.get().get(name)
        if bt is not None:
            return bt
    valid = ", ".join(sorted({*REGISTRY, *_LOCAL.get()}))
    raise GenomeError(f"unknown block type {quote(name)}; valid types: {valid}", path)


def block_types() -> list[str]:
    """Names of all registered block types, sorted."""
    return sorted(REGISTRY)


# ---------------------------------------------------------------- parameter checks


def _int(p: Param, v: Any, path: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise GenomeError(f"expected an integer, got {_as_yaml(v)}", path)
    lo = 1 if p.lo is None else p.lo
    hi = MAX_INT if p.hi is None else p.hi
    if v < lo or v > hi:
        raise GenomeError(f"expected an integer in [{int(lo):,}, {int(hi):,}], got {quote(v)}", path)
    return v


def _channels(p: Param, v: Any, path: str) -> int | str:
    if v == "classes":
        return v
    return _int(p, v, path)


def _pair(p: Param, v: Any, path: str, lo: int) -> int | tuple[int, int]:
    if isinstance(v, (list, tuple)):
        if len(v) != 2:
            raise GenomeError(f"expected an integer or a pair [h, w], got {quote(list(v))}", path)
        h, w = (_int(Param("int", lo=lo), x, f"{path}[{i}]") for i, x in enumerate(v))
        return h if h == w else (h, w)
    return _int(Param("int", lo=lo), v, path)


def _kernel(p: Param, v: Any, path: str) -> int | tuple[int, int] | None:
    if v is None and p.default is None:  # null means the default only where the default is null (pool stride)
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v <= 0:
        what = "stride" if p.kind == "stride" else "kernel size"
        raise GenomeError(f"{what} must be positive, got {quote(v)}", path)
    return _pair(p, v, path, 1)


def _pad(p: Param, v: Any, path: str) -> int | tuple[int, int] | None:
    if v is None and p.default is None:  # automatic padding (a conv's); a pool's padding has no automatic form
        return None
    return _pair(p, v, path, 0)


def _as_yaml(v: Any) -> str:
    """A value as the YAML that gave it reads: ``null``, ``true``, or its quoted form."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return quote(v)


def _float(p: Param, v: Any, path: str) -> float:
    if isinstance(v, str) and re.fullmatch(r"[-+]?[0-9]+[eE][-+]?[0-9]+", v.strip()):
        mantissa, _, exponent = v.strip().lower().partition("e")
        raise GenomeError(f"expected a number, got the text {quote(v)}: YAML reads an exponent without a decimal "
                          f"point as text; write {mantissa}.0e{exponent}", path)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise GenomeError(f"expected a number, got {_as_yaml(v)}", path)
    lo = 0.0 if p.lo is None else p.lo
    # NaN fails every comparison, so it is refused by name; inf is no width, rate or ratio either.
    if isinstance(v, float) and not math.isfinite(v):
        raise GenomeError(f"expected a finite number, got {quote(v)}", path)
    if v < lo or (p.hi is not None and v > p.hi):
        raise GenomeError(f"expected a number in [{lo:g}, {p.hi if p.hi is not None else 'inf'}], got {quote(v)}",
                          path)
    return float(v) if isinstance(v, float) else v


def _bool(p: Param, v: Any, path: str) -> bool:
    if not isinstance(v, bool):
        raise GenomeError(f"expected true or false, got {quote(v)}", path)
    return v


def _act(p: Param, v: Any, path: str) -> str | None:
    if v is None or v == "none":
        return None
    if v not in ACTIVATIONS:
        raise GenomeError(f"unknown activation {quote(v)}; valid: {', '.join(ACTIVATIONS)}, none", path)
    return v


def _choice(p: Param, v: Any, path: str) -> Any:
    if v not in p.choices:
        raise GenomeError(f"expected one of {', '.join(map(str, p.choices))}, got {quote(v)}", path)
    return v


_read_record: Callable[[Any, str], Any] | None = None
"""How a nested block record is read (``genome.Block.from_dict``, installed by ``nas.genome`` when it loads): the
registry checks parameters, the genome module owns records, and neither imports the other's module for it."""


def read_records_with(reader: Callable[[Any, str], Any]) -> None:
    """Install the reader of nested block records (``blocks`` and ``branches`` parameters)."""
    global _read_record
    _read_record = reader


def _blocks(p: Param, v: Any, path: str) -> tuple[Any, ...]:
    if not isinstance(v, (list, tuple)) or not v:
        raise GenomeError("expected a non-empty list of block records", path)
    assert _read_record is not None, "nas.genome installs the record reader when it loads"
    return tuple(_read_record(b, f"{path}[{i}]") for i, b in enumerate(v))


def _branches(p: Param, v: Any, path: str) -> tuple[tuple[Any, ...], ...]:
    if not isinstance(v, (list, tuple)) or not v:
        raise GenomeError("expected a non-empty list of branches, each a list of block records", path)
    return tuple(_blocks(p, b, f"{path}[{i}]") for i, b in enumerate(v))


def _edges(p: Param, v: Any, path: str) -> tuple[tuple[int, int, str], ...]:
    if not isinstance(v, (list, tuple)) or not v:
        raise GenomeError("expected a non-empty list of edges [from, to, op]", path)
    out = []
    for i, e in enumerate(v):
        where = f"{path}[{i}]"
        if not isinstance(e, (list, tuple)) or len(e) != 3:
            raise GenomeError(f"expected an edge [from, to, op], got {quote(e)}", where)
        a = _int(Param("int", lo=0), e[0], f"{where}[0]")
        b = _int(Param("int", lo=1), e[1], f"{where}[1]")
        if a >= b:
            raise GenomeError(f"an edge must go from an earlier node to a later one, got {a} -> {b}", where)
        op = _choice(p, e[2], f"{where}[2]")
        out.append((a, b, op))
    return tuple(out)


_CHECKS: dict[str, Callable[[Param, Any, str], Any]] = {
    "int": _int,
    "channels": _channels,
    "kernel": _kernel,
    "stride": _kernel,
    "pad": _pad,
    "float": _float,
    "bool": _bool,
    "act": _act,
    "choice": _choice,
    "blocks": _blocks,
    "branches": _branches,
    "edges": _edges,
}
