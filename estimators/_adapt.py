"""Genome transforms for proxy training: the width multiplier and the adaptation to a proxy data set.

``scale_width`` multiplies every channel parameter and rounds it with ``nas.make_divisible``; which parameters
are channel counts, which are group counts and what stays divisible by what is declared by each block type
(``Param.width``, a ``nas.registry.Width``), so a new block type needs no entry here. Every distinct channel
count maps through one function, so residual shapes that matched still match; the rounding unit is the lcm of
the divisor and the genome's group counts, so grouped convs and ShuffleNet units stay divisible; depthwise convs
follow their scaled input. The network's output width (the classifier) is never scaled.

``proxy_genome`` re-threads a (possibly width-scaled) genome for a data set's channels and classes at the
proxy resolution: the native resolution of the data, raised to the smallest rung of ``RESOLUTIONS`` at which
every strided op of the genome still sees at least as many pixels as its stride (so the total stride leaves a
genuine final map of at least 1x1 rather than a chain of padded 1x1 maps).
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import wraps
from typing import Any, Callable, TypeVar

import nas
from nas import Block, Genome, GenomeError, NasError, Param, Stage
from nas.custom import defined
from nas.registry import Width

RESOLUTIONS = (8, 12, 16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256, 320, 384, 512)
"""The ladder of square proxy resolutions tried, smallest first."""

Shape = tuple[int, ...]
T = TypeVar("T")


# ---------------------------------------------------------------- width


def _rebuilt(g: Genome, parts: dict[str, list[Block]], stages: list[list[Block]]) -> Genome:
    """``g`` with new records in its sections; everything else (its own block types included) kept."""
    return replace(g, stages=tuple(Stage(tuple(b), s.name) for b, s in zip(stages, g.stages)),
                   stem=tuple(parts["stem"]), head=tuple(parts["head"]))


def _in_scope(fn: Callable[..., T]) -> Callable[..., T]:
    """Run ``fn(g, ...)`` where ``g``'s records may name the block types ``g`` defines for itself."""

    @wraps(fn)
    def inner(g: Genome, *args: Any, **kwargs: Any) -> T:
        with defined(g.definitions):
            return fn(g, *args, **kwargs)

    return inner


@_in_scope
def scale_width(g: Genome, mult: float, divisor: int = 8) -> Genome:
    """``g`` with every channel parameter times ``mult`` (rounded with ``make_divisible``); raises NasError if it can't.

    >>> g = nas.seed("resnet18")
    >>> nas.cost(scale_width(g, 0.25)).macs < nas.cost(g).macs / 10
    True
    """
    if not (isinstance(mult, (int, float)) and not isinstance(mult, bool) and mult > 0 and math.isfinite(mult)):
        raise NasError(f"width multiplier must be a positive number, got {mult!r}")
    if mult == 1:
        return g
    unit = divisor
    for groups in _group_counts(g):
        unit = math.lcm(unit, groups)

    def f(c: int) -> int:
        return nas.make_divisible(c * mult, unit)

    scaler = _Scaler(f, mult, divisor, g.classes, g.name, g.definitions)
    keep = _output_record(g)
    shape: tuple[Shape, Shape] = (tuple(g.input), tuple(g.input))
    parts: dict[str, list[Block]] = {"stem": [], "head": []}
    stages: list[list[Block]] = [[] for _ in g.stages]
    for path, rec in g.blocks():
        new, shape = scaler.record(rec, shape, keep=(path == keep), path=path)
        if path.startswith("stages["):
            stages[int(path[7:path.index("]")])].append(new)
        else:
            parts[path.split("[")[0]].append(new)
    out = _rebuilt(g, parts, stages)
    try:
        nas.cost(out)
    except GenomeError as e:
        raise NasError(f"cannot scale '{g.name or 'genome'}' to width {mult:g}: {e}") from None
    return out


def _declared(rec: Block) -> tuple[dict[str, Any], list[tuple[str, Param, Width | None]]]:
    """A record's resolved parameters (defaults matter: shuffle's groups is 3) and its parameter declarations."""
    bt = nas.block_type(rec.type)
    return bt.resolve(dict(rec.params)), [(k, spec, spec.width) for k, spec in bt.params.items()]


def _record_lists(kind: str, value: Any) -> list[list[Block]]:
    """The records a ``blocks`` or ``branches`` parameter holds, as lists of records; none for other kinds."""
    if kind == "blocks":
        return [list(value)]
    return [list(branch) for branch in value] if kind == "branches" else []


def _output_record(g: Genome) -> str:
    """Field path of the last record that sets channels: the classifier, whose width is never scaled."""
    last = ""
    for path, rec in g.blocks():
        p, specs = _declared(rec)
        if any(w is not None and w.kind == "channels" and p[k] is not None for k, _, w in specs):
            last = path
    return last


def _group_counts(g: Genome) -> list[int]:
    """Group counts the scaled channels must stay divisible by (depthwise convs excepted: they follow their input)."""
    out: list[int] = []

    def visit(rec: Block, cin: int | None) -> None:
        p, specs = _declared(rec)
        for k, spec, w in specs:
            n = len(p[k]) if spec.kind == "branches" else p[k]  # a split's branches share its input like groups
            if w is not None and w.kind == "groups" and n > 1 and not (w.depthwise and n == cin):
                out.append(n * (w.share[1] if w.share and not p[w.share[0]] else 1))
            for records in _record_lists(spec.kind, p[k]):
                for b in records:
                    visit(b, None)  # inside a branch the input width is not threaded: treat groups as grouped

    shape: Shape = tuple(g.input)
    for _, rec in g.blocks():
        visit(rec, shape[0] if len(shape) == 3 else None)
        shape = _out(rec, shape, g.classes, g.definitions)
    return out


def _out(rec: Block, shape: Shape, classes: int, defs: tuple[Any, ...] = ()) -> Shape:
    """Output shape of one record (all its repeats) on ``shape``; a flat input only meets linear layers."""
    if len(shape) != 3:
        c = rec.params.get("c", "classes") if rec.type == "linear" else None
        return ((classes if c == "classes" else c),) if c is not None else shape
    one = Genome(stages=(Stage((rec,)),), input=shape, classes=classes, definitions=defs)  # type: ignore[arg-type]
    return tuple(nas.cost(one).output)


class _Scaler:
    """Scales one record at a time, threading the original and the scaled input shapes."""

    def __init__(self, f: Callable[[int], int], mult: float, divisor: int, classes: int, name: str,
                 defs: tuple[Any, ...] = ()) -> None:
        self.f, self.mult, self.divisor, self.classes, self.name = f, mult, divisor, classes, name or "genome"
        self.defs = defs  # the genome's own block types, which its records may name

    def record(self, rec: Block, shape: tuple[Shape, Shape], keep: bool,
               path: str) -> tuple[Block, tuple[Shape, Shape]]:
        old_in, new_in = shape
        changes = {} if keep else self._changes(rec, old_in, new_in, path)
        new = rec.with_params(**changes) if changes else rec
        try:
            return new, (_out(rec, old_in, self.classes, self.defs), _out(new, new_in, self.classes, self.defs))
        except GenomeError as e:  # the one-record genome names its field stages[0].blocks[0]; name the real one
            inner = e.path.removeprefix("stages[0].blocks[0]").lstrip(".")
            where = f"{path}.{inner}" if inner and not inner.startswith("[") else path + inner
            raise NasError(f"cannot scale '{self.name}' to width {self.mult:g}: {where}: {e.message}") from None

    def _changes(self, rec: Block, old_in: Shape, new_in: Shape, path: str) -> dict[str, Any]:
        """The scaled parameters of one record, as its block type's ``Param.width`` declarations say."""
        p, specs = _declared(rec)
        ch: dict[str, Any] = {}
        cin = old_in[0] if len(old_in) == 3 else None
        for k, _, w in specs:  # a depthwise conv first: its channels follow the scaled input, not the multiplier
            if w is None or not w.depthwise or p[k] == 1 or p[k] != cin:
                continue
            groups, c = p[k], p[w.depthwise]
            if c == "classes" or c % groups:
                raise NasError(f"cannot scale width: {path}: a depthwise conv with {c} outputs on {groups} "
                               "input channels")
            ch.update({w.depthwise: new_in[0] * (c // groups), k: new_in[0]})
        for k, spec, w in specs:
            if spec.kind == "blocks":
                ch[k] = [self._nested(b, f"{path}.{k}[{j}]") for j, b in enumerate(p[k])]
            elif spec.kind == "branches":
                ch[k] = [[self._nested(b, f"{path}.{k}[{i}][{j}]") for j, b in enumerate(branch)]
                         for i, branch in enumerate(p[k])]
            if w is None or w.kind != "channels" or k in ch:
                continue
            v = p[k]
            if v is None and w.share and w.per and p[w.per] > 1:  # the expansion's share, written out
                v = p[w.share[0]] / w.share[1]
            if v is None or v == "classes":
                continue
            if w.narrow:
                ch[k] = nas.make_divisible(v * self.mult, min(self.divisor, v))
            elif w.per:
                ch[k] = nas.make_divisible(v * self.mult, math.lcm(self.divisor, p[w.per]))
            else:
                ch[k] = self.f(v)
        return ch

    def _nested(self, rec: Block, path: str) -> dict[str, Any]:
        """A record inside an inception branch, as plain data (its input width is not threaded)."""
        ch = self._changes(rec, (), (), path)
        return {**rec.with_params(**ch).to_dict()} if ch else rec.to_dict()


# ---------------------------------------------------------------- resolution


def fits(g: Genome) -> bool:
    """Whether ``g`` traces at its input and every strided conv or pool sees at least ``stride`` pixels."""
    return _misfit(g) is None


def _misfit(g: Genome) -> str | None:
    """Why ``g`` does not fit its input (a GenomeError's text, or the first op strided beyond its map), else None."""
    try:
        tr = nas.trace(g)
    except GenomeError as e:
        return str(e)
    shapes: dict[str, tuple[int, ...]] = {"input": tuple(g.input)}
    for n in tr.nodes:
        shapes[n.name] = n.shape
        s = n.attrs.get("s")
        if n.op in ("conv", "maxpool", "avgpool") and s and s != (1, 1):
            h, w = shapes[n.inputs[0]][1:]
            if h < s[0] or w < s[1]:
                return f"{n.name}: stride {s[0]}x{s[1]} on a {h}x{w} map"
    return None


@_in_scope
def min_resolution(g: Genome, channels: int | None = None, classes: int | None = None) -> int:
    """The smallest rung of ``RESOLUTIONS`` at which ``g`` (for ``channels`` and ``classes``) fits; else NasError."""
    c = channels or g.input[0]
    why = None
    for r in RESOLUTIONS:
        why = _misfit(g.with_input((c, r, r), classes or g.classes))
        if why is None:
            return r
    top = RESOLUTIONS[-1]
    raise NasError(f"'{g.name or 'genome'}' fits no {c}-channel proxy input up to {top}x{top}: {why}")


@_in_scope
def proxy_genome(g: Genome, shape: tuple[int, int, int], classes: int, *, width: float = 1.0,
                 resolution: int | None = None, floor: int = 1) -> Genome:
    """``g`` for a proxy data set of image ``shape`` (C, H, W) and ``classes``, at the proxy resolution.

    The head takes the data's classes (``Genome.with_input``), the stem its channels; the resolution is
    ``resolution`` (default: the data's native size) raised to the genome's ``min_resolution`` where needed.
    ``floor`` is the smallest map side any block may run on (a space's ``proxy_map``): a stride that would take a
    map below it is dropped to 1 (``drop_strides``), and where a stride cannot be dropped (a ShuffleNet or
    DenseNet downsampling unit, whose channels depend on it) the resolution climbs the ladder instead.

    >>> proxy_genome(nas.seed("resnet18"), (1, 8, 8), 10, width=0.25).input
    (1, 32, 32)
    >>> min(maps(proxy_genome(nas.seed("mobilenet_v2"), (1, 28, 28), 10, width=0.5, floor=4)))
    4
    """
    scaled = scale_width(_classifier_to_classes(g), width)
    want = int(resolution) if resolution else max(shape[1], shape[2])
    if floor > 1:
        for r in [want] + [x for x in RESOLUTIONS if x > want]:
            out = drop_strides(scaled.with_input((shape[0], r, r), classes), floor)
            if fits(out) and min(maps(out), default=r) >= min(floor, r):
                break
    else:
        r = want
        if not fits(scaled.with_input((shape[0], want, want), classes)):
            r = max(want, min_resolution(scaled, shape[0], classes))
            rungs = [x for x in RESOLUTIONS if x >= r]
            r = next((x for x in rungs if fits(scaled.with_input((shape[0], x, x), classes))), r)
        out = scaled.with_input((shape[0], r, r), classes)
    try:
        nas.cost(out)
    except GenomeError as e:
        raise NasError(f"cannot adapt '{g.name or 'genome'}' to a {shape[0]}x{r}x{r} input: {e}") from None
    return out


DROPPABLE = ("conv", "dwsep", "inverted", "basic", "bottleneck", "maxpool", "avgpool")
"""Record types whose stride can become 1 without changing their channels (shuffle and transition units can't)."""


@_in_scope
def drop_strides(g: Genome, floor: int) -> Genome:
    """``g`` with every stride that would take a map below ``floor`` x ``floor`` set to 1 (earlier strides kept).

    Maps shrink as in the deployment network until they reach the floor, then stay there: the early, wide-map
    stages keep their relative cost and every later stage runs on a map where a ``2 * floor - 1`` kernel sees all
    its taps.
    """
    shape: Shape = tuple(g.input)
    parts: dict[str, list[Block]] = {"stem": [], "head": []}
    stages: list[list[Block]] = [[] for _ in g.stages]
    changed = False
    for path, rec in g.blocks():
        new = rec
        if rec.type in DROPPABLE and len(shape) == 3:
            p = nas.block_type(rec.type).resolve(dict(rec.params))
            s = p.get("s")
            if s is None and rec.type in ("maxpool", "avgpool"):
                s = p["k"]
            strided = s not in (None, 1, (1, 1), [1, 1])
            if strided:
                try:
                    after = _out(rec, shape, g.classes, g.definitions)
                except GenomeError:
                    after = (0, 0, 0)
                if len(after) == 3 and min(after[1:]) < floor:
                    new = rec.with_params(s=1)
                    if rec.type in ("maxpool", "avgpool") and not p.get("p"):
                        new = new.with_params(k=1)  # an unpadded window at stride 1 would shrink the map
                    changed = True
        try:
            shape = _out(new, shape, g.classes, g.definitions)
        except GenomeError:  # it does not fit this input at all: the caller climbs to a larger one
            return g
        if path.startswith("stages["):
            stages[int(path[7:path.index("]")])].append(new)
        else:
            parts[path.split("[")[0]].append(new)
    if not changed:
        return g
    return _rebuilt(g, parts, stages)


def maps(g: Genome) -> list[int]:
    """The smaller side of the input map of every spatial conv (kernel above 1x1) and SE squeeze in ``g``."""
    tr = nas.trace(g)
    shapes: dict[str, tuple[int, ...]] = {"input": tuple(g.input)}
    out = []
    for n in tr.nodes:
        shapes[n.name] = n.shape
        src = shapes.get(n.inputs[0]) if n.inputs else None
        if src is None or len(src) != 3:
            continue
        if (n.op == "conv" and max(n.attrs["k"]) > 1) or (n.op == "gap" and not n.name.startswith("head")):
            out.append(min(src[1:]))
    return out


def signature(g: Genome) -> tuple[Any, ...]:
    """What a genome computes up to initialization: every op with its shape and, for convolutions, the kernel
    taps that can ever meet a pixel of the map rather than padding (a 7x7 on a 2x2 map uses the same 3x3 taps as
    a 3x3 or a 5x5). Two genomes with one signature compute the same set of functions."""
    tr = nas.trace(g)
    shapes: dict[str, tuple[int, ...]] = {"input": tuple(g.input)}
    out = []
    for n in tr.nodes:
        shapes[n.name] = n.shape
        attrs = dict(n.attrs)
        if n.op == "conv":
            src = shapes[n.inputs[0]]
            taps = []
            for axis in (0, 1):
                k, s, p, d = attrs["k"][axis], attrs["s"][axis], attrs["p"][axis], attrs["d"]
                size, outs = src[1 + axis], n.shape[1 + axis]
                used = sorted({t * d - p for t in range(k) for i in range(outs) if 0 <= i * s - p + t * d < size})
                taps.append(tuple(used))
            attrs.pop("k"), attrs.pop("p")
            attrs["taps"] = tuple(taps)
        out.append((n.op, n.shape, tuple(sorted((k, str(v)) for k, v in attrs.items()))))
    return tuple(out)


@_in_scope
def _classifier_to_classes(g: Genome) -> Genome:
    """A classifier written with the deployment class count (``c: 1000``) follows the data's classes instead."""
    path = _output_record(g)
    rec = dict(g.blocks()).get(path)
    if rec is None or rec.params.get("c") != g.classes:
        return g
    d = g.to_dict()
    section, rest = path.split("[", 1)
    if section == "stages":
        s, i = int(rest.split("]")[0]), int(path.rsplit("[", 1)[1][:-1])
        d["stages"][s]["blocks"][i]["c"] = "classes"
    else:
        d[section][int(rest[:-1])]["c"] = "classes"
    return Genome.from_dict(d)


# ---------------------------------------------------------------- the proxy policy, checked


KINDS = {"kernel": ("k", "kind", "3x3", "5x5_kind", "3x3_kind"), "se": ("se",), "activation": ("act",)}


def dimension_kind(name: str) -> str | None:
    """``kernel``, ``se`` or ``activation`` for a dimension the dead-choice check covers (by its label), else None.

    The cell space's edge operations (``e01``: conv1x1, conv3x3, pooling...) count as kernel choices.
    """
    last = name.rsplit(".", 1)[-1]
    if last == "k" or last.endswith("_kind") or (len(last) == 3 and last[0] == "e" and last[1:].isdigit()):
        return "kernel"
    if last == "se":
        return "se"
    if last == "act":
        return "activation"
    return None


def dead_dimensions(space: Any, shape: tuple[int, int, int], classes: int, *, width: float = 1.0,
                    samples: int = 16, seed: int = 0, floor: int | None = None) -> dict[str, bool]:
    """For each kernel, SE and activation dimension of ``space``: whether it is dead at the proxy, i.e. every
    choice gives the same ``signature`` (computes the same functions) on ``samples`` random configs where the
    dimension is active. Uses the cost model's shapes only; nothing is trained."""
    import numpy as np

    rng = np.random.default_rng(seed)
    configs = [space.sample_config(rng) for _ in range(samples)]
    floor = getattr(space, "proxy_map", 1) if floor is None else floor
    out: dict[str, bool] = {}
    for d in space.dimensions:
        if dimension_kind(d.name) is None:
            continue
        dead, seen = True, False
        for config in configs:
            if not d.active(config):
                continue
            seen = True
            sigs = set()
            for v in d.choices:
                g = space.decode({**config, d.name: v})
                sigs.add(signature(proxy_genome(g, shape, classes, width=width, floor=floor)))
                if len(sigs) > 1:
                    break
            if len(sigs) > 1:
                dead = False
                break
        if seen:
            out[d.name] = dead
    return out
