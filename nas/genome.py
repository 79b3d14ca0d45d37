"""The genome: plain, frozen data that describes a network and round-trips through YAML.

A genome has an input shape, a number of classes, a stem, stages of block records and a head. Each block
record is ``{type, params, repeat}``; depth is the ``repeat`` count. Only ``yaml.safe_load`` reads it.

>>> g = loads("input: [3, 32, 32]\\nclasses: 10\\nstages: [[{type: conv, c: 16, k: 3}]]\\nhead: [{type: gap}, {type: linear}]")
>>> loads(dumps(g)) == g
True
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from .errors import GenomeError, NasError
from .registry import block_type

_TOP_KEYS = ("name", "input", "classes", "drop_path", "stem", "stages", "head")


def _plain(v: Any) -> Any:
    """Tuples and nested blocks back to YAML-friendly lists and dicts."""
    if isinstance(v, Block):
        return v.to_dict()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


@dataclass(frozen=True, eq=True)
class Block:
    """One block record: a registered ``type``, its ``params`` as written, and how often it ``repeat``s."""

    type: str
    params: Mapping[str, Any] = field(default_factory=dict)
    repeat: int = 1

    def __hash__(self) -> int:
        return hash((self.type, frozenset(self.params.items()), self.repeat))

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
            raise GenomeError(f"expected a block record {{type: ..., ...}}, got {d!r}", path)
        if "type" not in d:
            raise GenomeError("block record has no 'type'", path)
        bt = block_type(d["type"], f"{path}.type" if path else "type")
        repeat = d.get("repeat", 1)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise GenomeError(f"expected a positive integer, got {repeat!r}", f"{path}.repeat")
        params: dict[str, Any] = {}
        for key, value in d.items():
            if key in ("type", "repeat"):
                continue
            if key not in bt.params:
                valid = ", ".join(bt.params) or "none"
                raise GenomeError(f"unknown parameter for block type '{bt.name}'; valid: {valid}", f"{path}.{key}")
            params[key] = bt.params[key].check(value, f"{path}.{key}")
        for key, spec in bt.params.items():
            if spec.required and key not in params:
                raise GenomeError(f"block type '{bt.name}' needs parameter '{key}' ({spec.doc})", path)
        # Canonical form: the schema's order, and no parameter that only repeats its default, so that blocks
        # describing the same layers compare, hash and print alike.
        ordered = {k: params[k] for k in bt.params if k in params and params[k] != bt.params[k].default}
        return cls(bt.name, ordered, repeat)

    def to_dict(self) -> dict[str, Any]:
        """The record as plain YAML data: type first, then params, then repeat when it is not 1."""
        out: dict[str, Any] = {"type": self.type}
        out.update({k: _plain(v) for k, v in self.params.items()})
        if self.repeat != 1:
            out["repeat"] = self.repeat
        return out

    def with_params(self, **changes: Any) -> "Block":
        """A copy with some parameters changed (``None`` removes one); the original is untouched."""
        params = {k: v for k, v in {**self.params, **changes}.items() if v is not None}
        return Block.from_dict({"type": self.type, **_plain(params), "repeat": self.repeat})

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


@dataclass(frozen=True, eq=True)
class Stage:
    """A run of block records; spaces vary depth and width per stage."""

    blocks: tuple[Block, ...]
    name: str = ""

    def __hash__(self) -> int:
        return hash((self.blocks, self.name))


@dataclass(frozen=True, eq=True)
class Genome:
    """A whole network as plain data. ``drop_path`` is the largest drop-path rate of a linear ramp."""

    stages: tuple[Stage, ...] = ()
    stem: tuple[Block, ...] = ()
    head: tuple[Block, ...] = ()
    input: tuple[int, int, int] = (3, 224, 224)
    classes: int = 1000
    name: str = ""
    drop_path: float = 0.0

    def __hash__(self) -> int:
        return hash((self.stages, self.stem, self.head, self.input, self.classes, self.name, self.drop_path))

    def short(self) -> str:
        """Compact one-line form: stages separated by ``|``, blocks by spaces (``conv_c32_s2 | inverted_c16_e1``)."""
        parts = [" ".join(b.short() for b in self.stem)] if self.stem else []
        parts += [" ".join(b.short() for b in stage.blocks) for stage in self.stages]
        if self.head:
            parts.append(" ".join(b.short() for b in self.head))
        return " | ".join(parts)

    def with_input(self, input: tuple[int, int, int] | None = None, classes: int | None = None) -> "Genome":
        """The same network for another input shape or number of classes."""
        return replace(self, input=tuple(input) if input else self.input, classes=classes or self.classes)

    def blocks(self) -> Iterator[tuple[str, Block]]:
        """Every block record with its field path (``stem[0]``, ``stages[1].blocks[2]``, ``head[0]``)."""
        for i, b in enumerate(self.stem):
            yield f"stem[{i}]", b
        for s, stage in enumerate(self.stages):
            for i, b in enumerate(stage.blocks):
                yield f"stages[{s}].blocks[{i}]", b
        for i, b in enumerate(self.head):
            yield f"head[{i}]", b

    @classmethod
    def from_dict(cls, d: Any) -> "Genome":
        """Parse and check a genome from plain data (what ``yaml.safe_load`` returns)."""
        if not isinstance(d, Mapping):
            raise GenomeError(f"a genome is a mapping with keys {', '.join(_TOP_KEYS)}; got {type(d).__name__}")
        for key in d:
            if key not in _TOP_KEYS:
                raise GenomeError(f"unknown key; valid keys: {', '.join(_TOP_KEYS)}", str(key))
        if not d.get("stages") and not d.get("stem") and not d.get("head"):
            raise GenomeError("a genome needs at least one block in 'stem', 'stages' or 'head'")
        name = d.get("name", "")
        if not isinstance(name, str):
            raise GenomeError(f"expected a string, got {name!r}", "name")
        classes = d.get("classes", 1000)
        if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
            raise GenomeError(f"expected a positive integer, got {classes!r}", "classes")
        drop_path = d.get("drop_path", 0.0)
        if isinstance(drop_path, bool) or not isinstance(drop_path, (int, float)) or not 0 <= drop_path < 1:
            raise GenomeError(f"expected a rate in [0, 1), got {drop_path!r}", "drop_path")
        return cls(
            stages=tuple(_stage(s, f"stages[{i}]") for i, s in enumerate(_list(d.get("stages"), "stages"))),
            stem=_records(d.get("stem"), "stem"),
            head=_records(d.get("head"), "head"),
            input=parse_shape(d.get("input", [3, 224, 224]), "input"),
            classes=classes,
            name=name,
            drop_path=drop_path,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data in canonical key order; ``Genome.from_dict(g.to_dict()) == g``."""
        out: dict[str, Any] = {}
        if self.name:
            out["name"] = self.name
        out["input"] = list(self.input)
        out["classes"] = self.classes
        if self.drop_path:
            out["drop_path"] = self.drop_path
        if self.stem:
            out["stem"] = [b.to_dict() for b in self.stem]
        out["stages"] = [
            {**({"name": s.name} if s.name else {}), "blocks": [b.to_dict() for b in s.blocks]} for s in self.stages
        ]
        if self.head:
            out["head"] = [b.to_dict() for b in self.head]
        return out


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
        extra = set(v) - {"name", "blocks"}
        if extra:
            raise GenomeError("unknown key; a stage has 'name' and 'blocks'", f"{path}.{sorted(extra)[0]}")
        blocks = _records(v.get("blocks"), f"{path}.blocks")
        name = v.get("name", "")
        if not isinstance(name, str):
            raise GenomeError(f"expected a string, got {name!r}", f"{path}.name")
    else:
        blocks, name = _records(v, f"{path}.blocks"), ""
    if not blocks:
        raise GenomeError("a stage needs at least one block", f"{path}.blocks")
    return Stage(blocks, name)


def parse_shape(v: Any, path: str = "input") -> tuple[int, int, int]:
    """``[3, 224, 224]`` or ``"3x224x224"`` as a (C, H, W) tuple of positive ints."""
    if isinstance(v, str):
        try:
            v = [int(x) for x in v.lower().split("x")]
        except ValueError:
            raise GenomeError(f"expected CxHxW such as 3x224x224, got '{v}'", path) from None
    if (
        not isinstance(v, (list, tuple))
        or len(v) != 3
        or any(isinstance(x, bool) or not isinstance(x, int) or x < 1 for x in v)
    ):
        raise GenomeError(f"expected three positive integers [C, H, W], got {v!r}", path)
    return (v[0], v[1], v[2])


# ---------------------------------------------------------------- YAML


class _Dumper(yaml.SafeDumper):
    """Block records on one line each; everything else in block style."""


def _represent_dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    flow = "type" in data
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(x, (dict, list)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(list, _represent_list)


def dumps(g: Genome) -> str:
    """The genome as YAML text."""
    return yaml.dump(g.to_dict(), Dumper=_Dumper, sort_keys=False, width=120)


def loads(text: str, source: str = "") -> Genome:
    """Parse YAML text into a checked genome; mistakes raise GenomeError naming ``source`` and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise GenomeError(f"not valid YAML: {where}{problem}", source=source) from None
    if data is None:
        raise GenomeError("the file is empty; expected a genome", source=source)
    try:
        return Genome.from_dict(data)
    except NasError as e:
        raise e.at(source=source) from None


def load(path: str | Path) -> Genome:
    """Read a genome from a YAML file."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise GenomeError("no such file", source=str(path)) from None
    except IsADirectoryError:
        raise GenomeError("is a directory, expected a YAML file", source=str(path)) from None
    except UnicodeDecodeError:
        raise GenomeError("not a text file, expected YAML", source=str(path)) from None
    return loads(text, source=str(path))


def save(g: Genome, path: str | Path | None = None) -> str:
    """Write the genome as YAML to ``path`` (when given) and return the text."""
    text = dumps(g)
    if path is not None:
        Path(path).write_text(text)
    return text
