"""The graph view: a networkx DiGraph of primitive ops, each node with its op, output shape, params and MACs."""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from .errors import NasError, quote_arg
from .genome import Genome
from .network import trace

SUFFIXES = (".graphml", ".dot", ".gv")  # the formats write_graph knows, by file suffix


def graph(g: Genome) -> nx.DiGraph:
    """The genome's primitive ops as a DAG with one input node ``input`` and one output (the last op)."""
    tr = trace(g)
    G = nx.DiGraph(name=g.name or "genome")
    G.add_node("input", op="input", shape=tuple(g.input), params=0, macs=0, block="input")
    for n in tr.nodes:
        inst = tr.instances[n.block]
        G.add_node(n.name, op=n.op, shape=tuple(n.shape), params=n.params, macs=n.macs, block=inst.label,
                   **{k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in n.attrs.items()
                      if k not in ("op", "shape", "params", "macs", "block")})
        for i in n.inputs:
            G.add_edge(i, n.name)
    G.graph["output"] = tr.output.name
    _check(G)
    return G


def _check(G: nx.DiGraph) -> None:
    if not nx.is_directed_acyclic_graph(G):  # a bug, not an input mistake: the trace only links backwards
        raise AssertionError("traced graph has a cycle")
    sources = [n for n, d in G.in_degree() if d == 0]
    if sources != ["input"]:
        raise AssertionError(f"traced graph has sources {sources}")


def write_graph(G: nx.DiGraph, path: str | Path) -> None:
    """Write GraphML (``.graphml``) or Graphviz DOT (``.dot`` / ``.gv``), chosen by the file's suffix."""
    p = Path(path)
    flat = nx.DiGraph(**{k: str(v) for k, v in G.graph.items()})
    for n, d in G.nodes(data=True):
        flat.add_node(n, **{k: ("x".join(map(str, v)) if isinstance(v, tuple) else v) for k, v in d.items()})
    flat.add_edges_from(G.edges)
    if p.suffix == ".graphml":
        nx.write_graphml(flat, p)
    elif p.suffix in SUFFIXES:
        p.write_text(to_dot(flat))
    else:
        raise NasError(f"unknown graph format {quote_arg(p.suffix)}; use {', '.join(SUFFIXES)}", source=str(path))


def to_dot(G: nx.DiGraph) -> str:
    """Graphviz DOT text, one box per op labelled with op, shape and MACs (no pydot needed)."""
    lines = [f'digraph "{G.graph.get("name", "genome")}" {{', "  rankdir=TB; node [shape=box, fontsize=10];"]
    for n, d in G.nodes(data=True):
        label = f"{n}\\n{d['op']} {d['shape']}" + (f"\\n{d['macs']:,} MACs" if d.get("macs") else "")
        lines.append(f'  "{n}" [label="{label}"];')
    lines += [f'  "{a}" -> "{b}";' for a, b in G.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"
