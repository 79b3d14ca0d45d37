"""The genome: plain, frozen data that describes a network and round-trips through YAML.

A genome has an input shape, a number of classes, a stem, stages of block records and a head. Each block
record is ``{type, params, repeat}``; depth is the ``repeat`` count. Only PyYAML's safe
loader reads it, within the bounds of ``nas._limits``.

>>> g = loads("input: [3, 32, 32]\\nclasses: 10\\nstages: [[{type: conv, c: 16, k: 3}]]\\n"
...           "head: [{type: gap}, {type: linear}]")
>>> loads(dumps(g)) == g
True
"""

from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping

from ._frozen import Params, freeze
from ._limits import MAX_BYTES, MAX_INSTANCES, MAX_INT, MAX_NESTING
from ._yaml import YAMLInputError, dump_yaml, load_yaml
from .custom import BlockDef, defined, definitions
from .errors import GenomeError, NasError, quote
from .errors import field as _field
from .registry import block_type, read_records_with

_TOP_KEYS = ("name", "input", "classes", "drop_path", "blocks", "stem", "stages", "head")
_NAME_LIMIT = 200
_SHAPE = re.compile(r"\s*([0-9]+)\s*x\s*([0-9]+)\s*x\s*([0-9]+)\s*\Z", re.ASCII | re.IGNORECASE)
_NESTING: contextvars.ContextVar[int] = contextvars.ContextVar("nas_record_nesting", default=0)


def _to_yaml_data(v: Any) -> Any:
    """Tuples and nested blocks back to YAML-friendly lists and dicts."""
    if isinstance(v, Block):
        return v.to_dict()
    if isinstance(v, (list, tuple)):
        return [_to_yaml_data(x) for x in v]
    return v


@dataclass(frozen=True, eq=True)
class Block:
    """One block record: a registered ``type``, its ``params`` as written, and how often it ``repeat``s.

    A block is immutable all the way down: ``params`` is a read-only ``Params`` mapping whose lists are
    tuples, so a record can be shared by many genomes. ``with_params`` makes an edited copy.
    """

    type: str
    params: Mapping[str, Any] = field(default_factory=Params)
    repeat: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.params, Params):
            object.__setattr__(self, "params", Params(self.params))

    def __hash__(self) -> int:
        return hash((self.type, self.params, self.repeat))

    @classmethod
    def of(cls, type: str, repeat: int = 1, **params: Any) -> "Block":
        """A record from resolved values, in canonical form (schema order, defaults left out), unchecked.

        For code that generates genomes it already knows to be well formed (search spaces); anything read
        from a user goes through ``from_dict``.
        """
        spec = block_type(type).params
        return cls(type, {k: params[k] for k in spec if k in params and params[k] != spec[k].default}, repeat)

    @classmethod
    def from_dict(cls, d: Any, path: str = "") -> "Block":
        """Parse and check one record such as ``{type: conv, c: 64, k: 3, repeat: 2}``."""
        if not isinstance(d, Mapping):
            raise GenomeError(f"expected a block record {{type: ..., ...}}, got {quote(d)}", path)
        if "type" not in d:
            raise GenomeError("block record has no 'type'", path)
        bt = block_type(d["type"], _field(path, "type"))
        repeat = _positive(d.get("repeat", 1), _field(path, "repeat"), MAX_INSTANCES)
        depth = _NESTING.get()
        if depth > MAX_NESTING:  # records inside records (inception branches), each level a recursion
            raise GenomeError(f"block records are nested more than {MAX_NESTING} levels deep", path)
        token = _NESTING.set(depth + 1)
        try:
            params = cls._params(bt, d, path)
        finally:
            _NESTING.reset(token)
        # Canonical form: the schema's order, and no parameter that only repeats its default, so that blocks
        # describing the same layers compare, hash and print alike.
        ordered = {k: params[k] for k in bt.params if k in params and params[k] != bt.params[k].default}
        return cls(bt.name, Params(ordered), repeat)

    @staticmethod
    def _params(bt: Any, d: Mapping[Any, Any], path: str) -> dict[str, Any]:
        """The record's parameters, each checked against the block type's schema."""
        params: dict[str, Any] = {}
        for key, value in d.items():
            if key in ("type", "repeat"):
                continue
            if key not in bt.params:
                valid = ", ".join(bt.params) or "none"
                raise GenomeError(f"unknown parameter for block type '{bt.name}'; valid: {valid}", _field(path, key))
            params[key] = bt.params[key].check(value, _field(path, key))
        for key in params:  # checked on what was written: a default written out is dropped from the record
            for other in bt.params[key].excludes:
                if other in params:
                    raise GenomeError(f"set either {other} or {key}, not both", _field(path, key))
        for key, spec in bt.params.items():
            if spec.required and key not in params:
                raise GenomeError(f"block type '{bt.name}' needs parameter '{key}' ({spec.doc})", path)
        return params

    def to_dict(self) -> dict[str, Any]:
        """The record as plain YAML data: type first, then params, then repeat when it is not 1."""
        out: dict[str, Any] = {"type": self.type}
        out.update({k: _to_yaml_data(v) for k, v in self.params.items()})
        if self.repeat != 1:
            out["repeat"] = self.repeat
        return out

    def with_params(self, **changes: Any) -> "Block":
        """A checked copy with some parameters changed (``None`` removes one); the original is untouched.

        >>> Block.of("conv", c=8).with_params(k=5).params == {"c": 8, "k": 5}
        True
        """
        params = {k: v for k, v in {**self.params, **changes}.items() if v is not None}
        return Block.from_dict({"type": self.type, **_to_yaml_data(params), "repeat": self.repeat})

    def with_repeat(self, repeat: int) -> "Block":
        """A copy repeated ``repeat`` times."""
        return replace(self, repeat=repeat)

    def instance_count(self) -> int:
        """Block instances this record expands to: its repeats, each with the records nested in it."""
        return _count_instances(self, {})

    def short(self) -> str:
        """Compact one-line form for logs and tables, e.g. ``bottleneck_c256_s2_r3``."""
        bits = [self.type]
        for k, v in self.params.items():
            if isinstance(v, tuple) and v and isinstance(v[0], (Block, tuple)):
                bits.append(f"{k}{len(v)}")
            elif isinstance(v, tuple):
                bits.append(f"{k}{'x'.join(map(str, v))}")
            elif isinstance(v, bool):
                bits.append(k if v else f"no{k}")
            elif v is not None:
                bits.append(f"{k}{v:g}" if isinstance(v, float) else f"{k}{v}")
        if self.repeat != 1:
            bits.append(f"r{self.repeat}")
        return "_".join(bits)


def _nested(v: Any) -> Iterator[Block]:
    """The block records inside a parameter value (inception branches)."""
    if isinstance(v, Block):
        yield v
    elif isinstance(v, tuple):
        for x in v:
            yield from _nested(x)


def _count_instances(b: Block, memo: dict[int, int]) -> int:
    # Remembered by identity: records shared through YAML aliases are counted once, in linear time.
    n = memo.get(id(b))
    if n is None:
        inner = sum(_count_instances(x, memo) for v in b.params.values() for x in _nested(v))
        memo[id(b)] = n = b.repeat * (1 + inner)
    return n


@dataclass(frozen=True, eq=True)
class Stage:
    """A run of block records; spaces vary depth and width per stage."""

    blocks: tuple[Block, ...]
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.blocks, tuple):
            object.__setattr__(self, "blocks", tuple(self.blocks))

    def __hash__(self) -> int:
        return hash((self.blocks, self.name))


@dataclass(frozen=True, eq=True)
class Genome:
    """A whole network as plain, immutable data. ``drop_path`` is the largest drop-path rate of a linear ramp;
    ``definitions`` are the block types the genome defines for itself (its YAML's ``blocks:``, see ``nas.custom``).

    Edit one with ``dataclasses.replace`` (and ``Block.with_params`` for a record); nothing edits in place.
    """

    stages: tuple[Stage, ...] = ()
    stem: tuple[Block, ...] = ()
    head: tuple[Block, ...] = ()
    input: tuple[int, int, int] = (3, 224, 224)
    classes: int = 1000
    name: str = ""
    drop_path: float = 0.0
    definitions: tuple[BlockDef, ...] = ()

    def __post_init__(self) -> None:
        for name in ("stages", "stem", "head", "input", "definitions"):
            v = getattr(self, name)
            if not isinstance(v, tuple):
                object.__setattr__(self, name, tuple(freeze(v)))

    def __hash__(self) -> int:
        return hash((self.stages, self.stem, self.head, self.input, self.classes, self.name, self.drop_path,
                     self.definitions))

    def short(self) -> str:
        """Compact one-line form: stages separated by ``|``, blocks by spaces (``conv_c32_s2 | inverted_c16_e1``)."""
        parts = [" ".join(b.short() for b in self.stem)] if self.stem else []
        parts += [" ".join(b.short() for b in stage.blocks) for stage in self.stages]
        if self.head:
            parts.append(" ".join(b.short() for b in self.head))
        return " | ".join(parts)

    def with_input(self, input: tuple[int, int, int] | None = None, classes: int | None = None) -> "Genome":
        """The same network for another input shape or number of classes (checked like a genome file's)."""
        shape = parse_shape(input, "input") if input else self.input
        if classes is not None:
            _check_classes(classes)
        return replace(self, input=shape, classes=classes or self.classes)

    def blocks(self) -> Iterator[tuple[str, Block]]:
        """Every block record with its field path (``stem[0]``, ``stages[1].blocks[2]``, ``head[0]``)."""
        for i, b in enumerate(self.stem):
            yield f"stem[{i}]", b
        for s, stage in enumerate(self.stages):
            for i, b in enumerate(stage.blocks):
                yield f"stages[{s}].blocks[{i}]", b
        for i, b in enumerate(self.head):
            yield f"head[{i}]", b

    def instance_count(self) -> int:
        """Block instances the genome expands to, repeats and nested records counted."""
        memo: dict[int, int] = {}
        return sum(_count_instances(b, memo) for _, b in self.blocks())

    @classmethod
    def from_dict(cls, d: Any) -> "Genome":
        """Parse and check a genome from plain data (what ``yaml.safe_load`` returns)."""
        if not isinstance(d, Mapping):
            raise GenomeError(f"a genome is a mapping with keys {', '.join(_TOP_KEYS)}; got {type(d).__name__}")
        for key in d:
            if key not in _TOP_KEYS:
                raise GenomeError(f"unknown key; valid keys: {', '.join(_TOP_KEYS)}", _field("", key))
        if not d.get("stages") and not d.get("stem") and not d.get("head"):
            raise GenomeError("a genome needs at least one block in 'stem', 'stages' or 'head'")
        name = _text(d.get("name", ""), "name")
        classes = _check_classes(d.get("classes", 1000))
        drop_path = d.get("drop_path", 0.0)
        if isinstance(drop_path, bool) or not isinstance(drop_path, (int, float)) or not 0 <= drop_path < 1:
            raise GenomeError(f"expected a rate in [0, 1), got {quote(drop_path)}", "drop_path")
        defs = definitions(d.get("blocks"), "blocks")
        with defined(defs):  # the records may name the genome's own block types
            g = cls(
                stages=tuple(_stage(s, f"stages[{i}]") for i, s in enumerate(_list(d.get("stages"), "stages"))),
                stem=_records(d.get("stem"), "stem"),
                head=_records(d.get("head"), "head"),
                input=parse_shape(d.get("input", [3, 224, 224]), "input"),
                classes=classes,
                name=name,
                drop_path=drop_path,
                definitions=defs,
            )
        _check_instance_count(g)
        return g

    def to_dict(self) -> dict[str, Any]:
        """Plain data in canonical key order; ``Genome.from_dict(g.to_dict()) == g``."""
        out: dict[str, Any] = {}
        if self.name:
            out["name"] = self.name
        out["input"] = list(self.input)
        out["classes"] = self.classes
        if self.drop_path:
            out["drop_path"] = self.drop_path
        if self.definitions:
            out["blocks"] = {d.name: d.to_dict() for d in self.definitions}
        if self.stem:
            out["stem"] = [b.to_dict() for b in self.stem]
        out["stages"] = [
            {**({"name": s.name} if s.name else {}), "blocks": [b.to_dict() for b in s.blocks]} for s in self.stages
        ]
        if self.head:
            out["head"] = [b.to_dict() for b in self.head]
        return out


def _check_instance_count(g: Genome) -> None:
    """Refuse a genome that expands to too many block instances, naming the record where the count runs over."""
    memo: dict[int, int] = {}
    total = 0
    for path, b in g.blocks():
        total += _count_instances(b, memo)
        if total > MAX_INSTANCES:
            raise GenomeError(f"the genome expands to more than {MAX_INSTANCES:,} block instances (repeats and "
                              f"nested records counted) by this record", path)


def _check_classes(v: Any) -> int:
    return _positive(v, "classes", MAX_INT)


def _positive(v: Any, path: str, hi: int) -> int:
    """``v`` if it is an integer in [1, hi], else GenomeError naming ``path``."""
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise GenomeError(f"expected a positive integer, got {quote(v)}", path)
    if v > hi:
        raise GenomeError(f"expected a positive integer up to {hi:,}, got {quote(v)}", path)
    return v


def _text(v: Any, path: str) -> str:
    """A name: one line of printable text (it heads tables and names files and runs)."""
    if not isinstance(v, str):
        raise GenomeError(f"expected a string, got {quote(v)}", path)
    if len(v) > _NAME_LIMIT or not v.isprintable():
        raise GenomeError(f"expected one line of printable text up to {_NAME_LIMIT} characters, got {quote(v)}", path)
    return v


def _list(v: Any, path: str) -> list[Any]:
    if v is None:
        return []
    if not isinstance(v, (list, tuple)):
        raise GenomeError(f"expected a list, got {type(v).__name__}", path)
    return list(v)


def _records(v: Any, path: str) -> tuple[Block, ...]:
    return tuple(Block.from_dict(b, f"{path}[{i}]") for i, b in enumerate(_list(v, path)))


def _stage(v: Any, path: str) -> Stage:
    if isinstance(v, Mapping):
        extra = [k for k in v if k not in ("name", "blocks")]  # in the file's order: keys may be of mixed types
        if extra:
            raise GenomeError("unknown key; a stage has 'name' and 'blocks'", _field(path, extra[0]))
        blocks = _records(v.get("blocks"), f"{path}.blocks")
        name = _text(v.get("name", ""), f"{path}.name")
    else:
        blocks, name = _records(v, f"{path}.blocks"), ""
    if not blocks:
        raise GenomeError("a stage needs at least one block", f"{path}.blocks")
    return Stage(blocks, name)


def parse_shape(v: Any, path: str = "input") -> tuple[int, int, int]:
    """``[3, 224, 224]`` or ``"3x224x224"`` as a (C, H, W) tuple of positive ints."""
    if isinstance(v, str):
        m = _SHAPE.match(v)
        if m is None:
            raise GenomeError(f"expected CxHxW such as 3x224x224, got {quote(v)}", path)
        v = [int(x) for x in m.groups()]
    if not isinstance(v, (list, tuple)) or len(v) != 3 or any(isinstance(x, bool) or not isinstance(x, int)
                                                             or x < 1 for x in v):
        raise GenomeError(f"expected three positive integers [C, H, W], got {quote(v)}", path)
    if max(v) > MAX_INT:
        raise GenomeError(f"expected three positive integers [C, H, W] up to {MAX_INT:,}, got {quote(v)}", path)
    return (v[0], v[1], v[2])


# ---------------------------------------------------------------- YAML


def dumps(g: Genome) -> str:
    """The genome as YAML text."""
    return dump_yaml(g.to_dict())


def loads(text: str, source: str = "") -> Genome:
    """Parse YAML text into a checked genome; mistakes raise GenomeError naming ``source`` and the field."""
    if len(text) > MAX_BYTES:
        raise GenomeError(f"the text is longer than {MAX_BYTES:,} characters, the most a genome may take",
                          source=source)
    try:
        data = load_yaml(text)
    except YAMLInputError as e:
        raise GenomeError(str(e), source=source) from None
    if data is None:
        what = "the file is empty" if not text.strip() else "the document is null"
        raise GenomeError(f"{what}; expected a genome, a mapping with keys {', '.join(_TOP_KEYS)}", source=source)
    try:
        return Genome.from_dict(data)
    except NasError as e:
        raise e.at(source=source) from None


def load(path: str | Path) -> Genome:
    """Read a genome from a YAML file (at most ``MAX_BYTES``; a bigger one is refused unread)."""
    source = str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)  # never more: /dev/zero or a huge file must not fill memory
    except FileNotFoundError:
        raise GenomeError("no such file", source=source) from None
    except IsADirectoryError:
        raise GenomeError("is a directory, expected a YAML file", source=source) from None
    except OSError as e:
        raise GenomeError(f"cannot read the file: {e.strerror or type(e).__name__}", source=source) from None
    if len(raw) > MAX_BYTES:
        raise GenomeError(f"the file is larger than {MAX_BYTES:,} bytes, the most a genome file may hold",
                          source=source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise GenomeError("not a text file, expected YAML", source=source) from None
    return loads(text, source=source)


def save(g: Genome, path: str | Path | None = None) -> str:
    """Write the genome as YAML to ``path`` (when given) and return the text."""
    text = dumps(g)
    if path is not None:
        Path(path).write_text(text)
    return text


read_records_with(Block.from_dict)  # nested records (a ``blocks`` parameter) are read as records
