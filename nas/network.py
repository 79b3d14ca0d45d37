"""The network walk: what spans blocks (channel threading, stride on the first repeat, the drop-path ramp).

``trace(genome)`` expands every block record, in order, into primitive ops and returns them with one
``Instance`` per block instance; everything else (cost, graph, torch model) reads that trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

from ._trace import Node, Ref, Shape, Tracer
from .custom import BlockDef, defined
from .errors import DefinitionError, GenomeError
from .genome import Block, Genome
from .registry import BlockType, block_type


def resolve(rec: Block, classes: int) -> Iterator[tuple[int, BlockType, dict[str, Any]]]:
    """The instances of one block record, top-level or nested: (repeat index, block type, resolved params).

    The one place a record is resolved, for the network walk and for records inside records alike: defaults
    filled in, ``c: classes`` (any channels field) set to the number of classes, the stride on repeat 0 only (the
    later repeats take the type's default stride, so a repeat is the record written again without its ``s``).
    """
    bt = block_type(rec.type)
    base = bt.resolve(rec.params)
    for k, spec in bt.params.items():
        if spec.kind == "channels" and base.get(k) == "classes":
            base[k] = classes
    for r in range(rec.repeat):
        p = dict(base)
        if r and "s" in p:  # a record's stride applies to its first repeat only; the rest take the type's default
            p["s"] = bt.params["s"].default  # (1 for a conv; for a pool, its window, as for a record written again)
        yield r, bt, p


def located(e: GenomeError, path: str, repeat: int) -> GenomeError:
    """``e`` placed at the record ``path`` (and its repeat, when not the first)."""
    if isinstance(e, DefinitionError):  # its path stays in the definition; the record is where it was used
        return e.at(f"{path} (repeat {repeat})" if repeat else path)
    out = e.at(path)
    if repeat:
        out.path += f" (repeat {repeat})"
    return out



@dataclass(frozen=True)
class Instance:
    """One block instance: the record's field path, its repeat index, and the nodes it produced."""

    label: str  # dotted name used for nodes and modules: stem.0, stages.1.0.2, head.1
    path: str  # field path of the record: stages[1].blocks[0]
    repeat: int
    type: str
    first: int  # index of its first node in Trace.nodes
    end: int  # one past its last node
    input: Ref
    output: Ref


@dataclass(frozen=True)
class Trace:
    """Primitive ops of a whole network in execution order, grouped into block instances."""

    genome: Genome
    nodes: list[Node]
    instances: list[Instance]
    output: Ref


def _records(g: Genome):
    for i, b in enumerate(g.stem):
        yield f"stem[{i}]", f"stem.{i}", b, False
    for s, stage in enumerate(g.stages):
        for i, b in enumerate(stage.blocks):
            yield f"stages[{s}].blocks[{i}]", f"stages.{s}.{i}", b, True
    for i, b in enumerate(g.head):
        yield f"head[{i}]", f"head.{i}", b, False


def walk(g: Genome) -> Iterator[tuple[str, str, int, BlockType, dict[str, Any]]]:
    """Every block instance in order: (field path, label, repeat index, block type, resolved params)."""
    with defined(g.definitions):  # resolved here, in full: the scope must not stay open across yields
        return iter(list(_walk(g)))


def _walk(g: Genome) -> Iterator[tuple[str, str, int, BlockType, dict[str, Any]]]:
    ramp = [b for _, _, b, staged in _records(g) if staged and block_type(b.type).drop_path]
    n_ramp, k = sum(b.repeat for b in ramp), 0
    for path, label, rec, staged in _records(g):
        for r, bt, p in resolve(rec, g.classes):
            if bt.drop_path and staged:
                k += 1
                if g.drop_path:
                    p["drop_path"] = round(g.drop_path * k / n_ramp, 6)
            yield path, (f"{label}.{r}" if rec.repeat > 1 else label), r, bt, p


def trace(g: Genome) -> Trace:
    """Expand ``g`` into primitive ops; a shape that does not fit raises GenomeError with its field path."""
    t = Tracer(g.input, classes=g.classes)
    x = t.input
    instances: list[Instance] = []
    with defined(g.definitions):  # records nested in records may name the genome's own types too
        for path, label, r, bt, p in walk(g):
            start = len(t.nodes)
            t.begin(label)
            try:
                y = bt.expand(t, x, p)
            except GenomeError as e:
                raise located(e, path, r) from None
            instances.append(Instance(label, path, r, bt.name, start, len(t.nodes), x, y))
            x = y
    return Trace(g, t.nodes, instances, x)


@lru_cache(maxsize=1 << 16)
def _block_cost(kind: str, params: tuple[tuple[str, Any], ...], shape: Shape, classes: int = 1000,
                defs: tuple[BlockDef, ...] = ()) -> tuple[Shape, int, int, int]:
    # The genome's definitions are part of the key: two genomes may define one name differently.
    t = Tracer(shape, record=False, classes=classes)
    with defined(defs):
        y = block_type(kind).expand(t, t.input, dict(params))
    return y.shape, t.params, t.macs, t.activations


def block_costs(g: Genome) -> Iterator[tuple[str, str, Shape, int, int, int]]:
    """Per block instance: (label, type, output shape, params, MACs, activations), without keeping the ops.

    Identical instances at the same input shape (the repeats of a stage, the blocks a search keeps) are costed
    once and remembered, which is what makes costing thousands of sampled genomes cheap.
    """
    shape: Shape = tuple(g.input)
    for path, label, r, bt, p in walk(g):
        try:
            shape, params, macs, acts = _block_cost(bt.name, tuple(p.items()), shape, g.classes, g.definitions)
        except GenomeError as e:
            raise located(e, path, r) from None
        yield label, bt.name, shape, params, macs, acts


def output_shape(g: Genome) -> Shape:
    """Shape of the network's output for one sample."""
    return trace(g).output.shape


@lru_cache(maxsize=1 << 16)
def section_cost(records: tuple[Block, ...], shape: Shape, classes: int = 1000) -> tuple[Shape, int, int, int]:
    """(output shape, params, MACs, activations) of a run of block records on a ``shape`` input, remembered.

    Search spaces cost a candidate stage by stage with this, so that a mutation re-costs only what it changed.
    Drop-path rates do not change the cost and are left out. A shape that does not fit raises GenomeError.
    """
    params = macs = acts = 0
    for rec in records:
        for _, bt, p in resolve(rec, classes):
            shape, pa, ma, ac = _block_cost(bt.name, tuple(p.items()), shape, classes)
            params, macs, acts = params + pa, macs + ma, acts + ac
    return shape, params, macs, acts
