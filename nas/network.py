"""The network walk: what spans blocks (channel threading, stride on the first repeat, the drop-path ramp).

``trace(genome)`` expands every block record, in order, into primitive ops and returns them with one
``Instance`` per block instance; everything else (cost, graph, torch model) reads that trace.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import blocks as _blocks  # noqa: F401  (registers the block types)
from ._trace import Node, Ref, Shape, Tracer
from .errors import GenomeError
from .genome import Genome
from .registry import block_type


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


def trace(g: Genome) -> Trace:
    """Expand ``g`` into primitive ops; a shape that does not fit raises GenomeError with its field path."""
    t = Tracer(g.input)
    x = t.input
    ramp = [b for _, _, b, staged in _records(g) if staged and block_type(b.type).drop_path]
    n_ramp, k = sum(b.repeat for b in ramp), 0
    instances: list[Instance] = []
    for path, label, rec, staged in _records(g):
        bt = block_type(rec.type)
        for r in range(rec.repeat):
            p = bt.resolve(dict(rec.params))
            if r and "s" in p:
                p["s"] = 1  # a record's stride applies to its first repeat only
            if p.get("c") == "classes":
                p["c"] = g.classes
            if bt.drop_path and staged:
                k += 1
                p["drop_path"] = round(g.drop_path * k / n_ramp, 6) if g.drop_path else p["drop_path"]
            start = len(t.nodes)
            t.begin(f"{label}.{r}" if rec.repeat > 1 else label)
            try:
                y = bt.expand(t, x, p)
            except GenomeError as e:
                where = path if rec.repeat == 1 or e.path else f"{path} (repeat {r})"
                raise e.at(where) from None
            instances.append(Instance(t._prefix, path, r, rec.type, start, len(t.nodes), x, y))
            x = y
    return Trace(g, t.nodes, instances, x)


def output_shape(g: Genome) -> Shape:
    """Shape of the network's output for one sample."""
    return trace(g).output.shape
