"""Spaces written as YAML: a genome whose block parameters may be choices.

A template is a genome file (``input``, ``classes``, ``blocks:`` definitions, ``stem``, ``stages``, ``head``) in
which any parameter or ``repeat`` of a stem, stage or head record may be ``{choice: [v1, v2, ...]}``::

    name: tiny
    input: [3, 32, 32]
    classes: 10
    stages:
      - [{type: conv, c: {choice: [16, 24, 32]}, k: {choice: [3, 5]}}]
      - [{type: inverted, c: 48, s: 2, e: {choice: [3, 6]}, repeat: {choice: [1, 2, 3]}}]
    head: [{type: gap}, {type: linear}]

Each choice is a dimension named by its field path (``stages[0].blocks[0].c``), with the same sampling, budget
repair, mutation and strategies as a built-in space. ``when: {DIM: VALUE}`` (or ``{DIM: {gt: N}}``) makes a choice
take part only while an earlier dimension has that value (or one above N); otherwise the parameter keeps its block
type's default (``repeat``: 1). Choices are listed to the sampler from the cheapest to the costliest, measured by
the cost model with every other dimension at its first choice, so that the repair can walk a config down to the
budget. ``doc``, ``proxy_width`` and ``proxy_map`` set what the built-in spaces set as class attributes. Blocks
defined in the template's ``blocks:`` may be used in it.
"""

from __future__ import annotations

import copy
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping

import nas
from nas import Genome, NasError
from nas._yaml import YAMLInputError, load_yaml
from nas.custom import defined
from nas.errors import quote

from ._base import Config, Dim, Space, resolved

TEMPLATE_KEYS = ("doc", "proxy_width", "proxy_map")
"""Keys a template has beside a genome's."""

SUFFIXES = (".yaml", ".yml")
MAX_BYTES = 1 << 20


def is_template(name: str) -> bool:
    """Whether a ``--space`` names a template file rather than a registered space."""
    return name.endswith(SUFFIXES) or os.sep in name


def from_file(path: str | Path, input: tuple[int, int, int] | None = None,
              classes: int | None = None) -> "TemplateSpace":
    """The space a template file describes; a missing or malformed file is one line naming it."""
    source = str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise NasError(f"space template {quote(source)}: no such file (a --space is a name from `nas spaces` or a "
                       f"YAML template)") from None
    except OSError as e:
        raise NasError(f"space template {quote(source)}: cannot read it: {e.strerror or type(e).__name__}") from None
    if len(raw) > MAX_BYTES:
        raise NasError(f"space template {quote(source)}: larger than {MAX_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NasError(f"space template {quote(source)}: not a text file, expected YAML") from None
    return from_text(text, source, input, classes)


def from_text(text: str, source: str, input: tuple[int, int, int] | None = None,
              classes: int | None = None) -> "TemplateSpace":
    """The space of a template's YAML ``text``; ``source`` names it in messages and gives its default name."""
    try:
        data = load_yaml(text)
    except YAMLInputError as e:
        raise NasError(f"{source}: {e}") from None
    if not isinstance(data, Mapping):
        raise NasError(f"{source}: a space template is a genome mapping (input, classes, stages, ...) whose "
                       f"parameters may be {{choice: [...]}}; got {type(data).__name__}")
    return TemplateSpace(data, source, text, input, classes)


class TemplateSpace(Space):
    """The space of one template (an instance per template: its dimensions are the template's choices)."""

    name = "template"
    doc = "a space written as YAML"

    def __init__(self, data: Mapping[str, Any], source: str, text: str = "",
                 input: tuple[int, int, int] | None = None, classes: int | None = None) -> None:
        self.source, self.text = source, text
        data = dict(data)
        self.name = _text(data.get("name") or Path(source).stem, source, "name")
        self.doc = _text(data.pop("doc", f"the space of {Path(source).name}"), source, "doc")
        for key, kind in (("proxy_width", float), ("proxy_map", int)):
            if key in data:
                v = data.pop(key)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 or kind is int and v != int(v):
                    raise NasError(f"{source}: {key}: expected a positive {kind.__name__}, got {quote(v)}")
                setattr(self, key, kind(v))
        self._skeleton, found = self._strip(data)
        try:  # the template with every choice at its first value must be a genome itself
            first = nas.Genome.from_dict(_put(self._skeleton, {spot: dim.choices[0] for spot, dim in found}))
        except NasError as e:
            raise e.at(source=source) from None
        self.default_input, self.default_classes = first.input, first.classes
        self._found = found
        self._memo: dict[Any, tuple[int, int, int]] = {}
        super().__init__(input, classes)

    # ------------------------------------------------------------ reading the template

    def _strip(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[tuple[Any, ...], Dim]]]:
        """The template without its choices (a genome dict) and each choice's place and dimension, in file order."""
        plain = copy.deepcopy(dict(data))
        found: list[tuple[tuple[Any, ...], Dim]] = []
        names: dict[str, Dim] = {}
        for where, rec in _records(plain, self.source):
            for key in list(rec):
                v = rec[key]
                if key == "type" and _has_choice(v):
                    raise NasError(f"{self.source}: {where}.type: a block's type is fixed; choose its parameters")
                if isinstance(v, Mapping) and "choice" in v:
                    dim = self._dim(f"{where}.{key}", v, names)
                    names[dim.name] = dim
                    found.append(((*_location(where), key), dim))
                    rec[key] = dim.choices[0]
                elif _has_choice(v):
                    raise NasError(f"{self.source}: {where}.{key}: a choice may stand for a whole parameter or "
                                   f"repeat of a stem, stage or head record only, not inside one")
        for key, v in plain.items():
            if key not in ("stem", "stages", "head") and _has_choice(v):
                raise NasError(f"{self.source}: {key}: a choice may stand for a parameter or repeat of a stem, stage "
                               f"or head record only")
        if not found:
            raise NasError(f"{self.source}: the template has no {{choice: [...]}}: a space needs at least one")
        return plain, found

    def _dim(self, name: str, spec: Mapping[str, Any], earlier: Mapping[str, Dim]) -> Dim:
        extra = [k for k in spec if k not in ("choice", "when")]
        if extra:
            raise NasError(f"{self.source}: {name}: unknown key {quote(extra[0])} in a choice; it has 'choice' and "
                           f"optionally 'when'")
        values = spec["choice"]
        if not isinstance(values, list) or len(values) < (1 if "when" in spec else 2):
            raise NasError(f"{self.source}: {name}: a choice lists at least two values (one, under a 'when'), got "
                           f"{quote(values)}")
        kinds = {_kind(v) for v in values}
        if None in kinds:
            bad = next(v for v in values if _kind(v) is None)
            raise NasError(f"{self.source}: {name}: a choice's values are numbers, words or booleans, got "
                           f"{quote(bad)}")
        if len(kinds) > 1:
            raise NasError(f"{self.source}: {name}: a choice's values are all of one kind, got "
                           f"{' and '.join(sorted(kinds))} in {quote(values)}")
        if len(set(values)) != len(values):
            raise NasError(f"{self.source}: {name}: a choice lists a value twice: {quote(values)}")
        when = None
        if "when" in spec:
            when = self._gate(name, spec["when"], earlier)
        return Dim(name, tuple(values), when)

    def _gate(self, name: str, gate: Any, earlier: Mapping[str, Dim]) -> tuple[str, str, Any]:
        if not isinstance(gate, Mapping) or len(gate) != 1:
            raise NasError(f"{self.source}: {name}.when: expected {{DIMENSION: VALUE}} or {{DIMENSION: {{gt: N}}}}, "
                           f"got {quote(gate)}")
        (other, cond), = gate.items()
        if other not in earlier:
            known = ", ".join(earlier) or "none"
            raise NasError(f"{self.source}: {name}.when: {quote(other)} is not a dimension written before this one "
                           f"(earlier dimensions: {known})")
        d = earlier[other]
        if isinstance(cond, Mapping):
            if set(cond) != {"gt"} or _kind(cond["gt"]) != "number":
                raise NasError(f"{self.source}: {name}.when: a condition is a value or {{gt: NUMBER}}, got "
                               f"{quote(cond)}")
            if _kind(d.choices[0]) != "number":
                raise NasError(f"{self.source}: {name}.when: gt compares numbers, and {other} chooses words")
            return other, "gt", cond["gt"]
        if cond not in d.choices:
            raise NasError(f"{self.source}: {name}.when: {quote(cond)} is not a choice of {other} "
                           f"({', '.join(map(str, d.choices))})")
        return other, "eq", cond

    # ------------------------------------------------------------ what a space defines

    def _dimensions(self) -> Iterable[Dim]:
        """The choices, each ordered by cost at a base config (others at their first choice, its gate open)."""
        dims = [d for _, d in self._found]
        base: Config = {}
        for d in dims:
            if d.active(base):
                base[d.name] = d.choices[0]
        out = []
        for d in dims:
            probe = dict(base)
            if not d.active(probe):
                gate, op, value = d.when  # type: ignore[misc]
                gd = next(x for x in dims if x.name == gate)
                probe[gate] = value if op == "eq" else min(v for v in gd.choices if v > value)
            costs = []
            for v in d.choices:
                probe[d.name] = v
                costs.append(self._cost_of(self._fill_first(probe, dims)))
            order = sorted(range(len(d.choices)), key=lambda i: costs[i])
            ordered = len(set(costs)) > 1
            out.append(Dim(d.name, tuple(d.choices[i] for i in order) if ordered else d.choices, d.when, ordered,
                           doc="cheapest first" if ordered else "costs the same"))
        return out

    @staticmethod
    def _fill_first(config: Config, dims: list[Dim]) -> Config:
        out: Config = {}
        for d in dims:
            if d.active(out):
                out[d.name] = config.get(d.name, d.choices[0])
        return out

    def sections(self, config: Mapping[str, Any]) -> tuple[Any, list[Any], Any]:
        g = self._genome(config)
        return g.stem, [s.blocks for s in g.stages], g.head

    def _genome(self, config: Mapping[str, Any]) -> Genome:
        values = {}
        for spot, dim in self._found:
            if dim.name in config:
                values[spot] = config[dim.name]
            else:  # a closed gate: the parameter's default, or one repeat
                values[spot] = _DEFAULT
        data = _put(self._skeleton, values)
        data["name"] = self.name
        data["input"], data["classes"] = list(self.input), self.classes
        try:
            return Genome.from_dict(data)
        except NasError as e:
            shown = ", ".join(f"{k} = {v}" for k, v in config.items())
            raise NasError(f"{self.source}: the config ({shown[:200]}) is no genome: {e}") from None

    def counts(self, config: Mapping[str, Any]) -> tuple[int, int, int]:
        key = tuple(sorted(config.items(), key=lambda kv: kv[0]))
        if key not in self._memo:
            if len(self._memo) > 100_000:
                self._memo.clear()
            self._memo[key] = self._cost_of(config)
        return self._memo[key]

    def latency_ms(self, config: Mapping[str, Any]) -> float:
        """The whole genome's predicted milliseconds (its own block definitions included)."""
        return self.latency.predict(self._genome(config))

    def _cost_of(self, config: Mapping[str, Any]) -> tuple[int, int, int]:
        c = nas.cost(self._genome(config))
        return c.macs, c.params, c.activations

    def encode(self, genome: Genome) -> Config:
        """The config of a genome written from this template: each choice read off its record; the genome must
        have the template's records (a repeat that is a choice stays one record) and agree on every fixed value."""
        g = genome.with_input(self.input, self.classes)
        with defined(g.definitions):
            config = self._read(g)
        if self.decode(config) != replace(g, name=self.name):
            raise NasError(f"not in space '{self.name}': the genome differs from the template {self.source} beyond "
                           f"its choices")
        return config

    def _read(self, g: Genome) -> Config:
        """Each choice's value off its record in ``g``."""
        config: Config = {}
        for (section, *where, key), dim in self._found:
            if not dim.active(config):
                continue
            try:
                rec = g.stem[where[0]] if section == "stem" else g.head[where[0]] if section == "head" else \
                    g.stages[where[0]].blocks[where[1]]
            except IndexError:
                raise NasError(f"not in space '{self.name}': it has no record where {dim.name} is") from None
            v = rec.repeat if key == "repeat" else resolved(rec).get(key)
            if v not in dim.choices:
                raise NasError(f"not in space '{self.name}': {dim.name} is {quote(v)}, not one of "
                               f"{', '.join(map(str, dim.choices))}")
            config[dim.name] = v
        return config

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["template"] = self.source
        return out


_DEFAULT = object()


def _put(plain: Mapping[str, Any], values: Mapping[tuple[Any, ...], Any]) -> dict[str, Any]:
    """A copy of the plain template with ``values`` at their record locations (``_DEFAULT``: the key removed)."""
    data = dict(plain)
    for section in ("stem", "stages", "head"):
        if section in data and isinstance(data[section], list):
            data[section] = copy.deepcopy(data[section])
    for (section, *where, key), v in values.items():
        rec = _record_at(data, section, where)
        if v is _DEFAULT:
            rec.pop(key, None)
        else:
            rec[key] = v
    return data


def _record_at(data: Mapping[str, Any], section: str, where: list[int]) -> dict[str, Any]:
    if section != "stages":
        return data[section][where[0]]
    stage = data["stages"][where[0]]
    blocks = stage["blocks"] if isinstance(stage, Mapping) else stage
    return blocks[where[1]]


def _records(plain: Mapping[str, Any], source: str) -> Iterable[tuple[str, dict[str, Any]]]:
    """Every stem, stage and head record of the template with its field path (malformed ones are left to the
    genome parser, which names them)."""
    def section(name: str) -> Iterable[tuple[str, dict[str, Any]]]:
        recs = plain.get(name)
        if isinstance(recs, list):
            for i, r in enumerate(recs):
                if isinstance(r, dict):
                    yield f"{name}[{i}]", r

    yield from section("stem")
    stages = plain.get("stages")
    if isinstance(stages, list):
        for s, stage in enumerate(stages):
            blocks = stage.get("blocks") if isinstance(stage, Mapping) else stage
            if isinstance(blocks, list):
                for i, r in enumerate(blocks):
                    if isinstance(r, dict):
                        yield f"stages[{s}].blocks[{i}]", r
    yield from section("head")


def _location(where: str) -> tuple[Any, ...]:
    """``stages[1].blocks[2]`` -> ("stages", 1, 2); ``stem[0]`` -> ("stem", 0)."""
    import re

    return (where.split("[", 1)[0], *map(int, re.findall(r"\[(\d+)\]", where)))


def _has_choice(v: Any) -> bool:
    if isinstance(v, Mapping):
        return "choice" in v or any(_has_choice(x) for x in v.values())
    if isinstance(v, list):
        return any(_has_choice(x) for x in v)
    return False


def _kind(v: Any) -> str | None:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "word"
    return None


def _text(v: Any, source: str, key: str) -> str:
    if not isinstance(v, str) or not v.strip() or len(v) > 2000:
        raise NasError(f"{source}: {key}: expected a line of text, got {quote(v)}")
    return v
