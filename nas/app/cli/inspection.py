"""The read-only commands: ``nas decode``, ``nas seeds``, ``nas blocks``, ``nas spaces``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ...cost import cost, human, table
from ...errors import NasError, quote_arg
from ...genome import dumps
from ...registry import REGISTRY
from .args import _genome, _output, _positive, _shape_arg, _shown


def cmd_decode(a: argparse.Namespace) -> int:
    """``nas decode``: the layer table, json or yaml of a genome, and the exports asked for."""
    # Every export target is checked first: a bad one must not cost a decode, or come after the printed table.
    for flag, target in (("--python", a.python), ("--graph", a.graph), ("--onnx", a.onnx)):
        _output(target, flag)
    if a.graph is not None:
        from ...graph import SUFFIXES

        if Path(a.graph).suffix not in SUFFIXES:
            raise NasError(f"unknown graph format {quote_arg(Path(a.graph).suffix)}; use {', '.join(SUFFIXES)}",
                           source=_shown(a.graph))
    g = _genome(a.genome)
    if a.input or a.classes:
        g = g.with_input(a.input, a.classes)
    try:
        c = cost(g, level=a.level)
    except NasError as e:
        raise e.at(source=_shown(a.genome)) from None
    from ..._limits import MAX_BUILD_PARAMS, MAX_BYTES

    if (a.python is not None or a.onnx is not None) and c.params > MAX_BUILD_PARAMS:
        raise NasError(f"the network has {c.params:,} parameters, more than a model is built or exported for "
                       f"({MAX_BUILD_PARAMS:,})", source=_shown(a.genome))
    text = dumps(g) if a.format == "yaml" else ""
    if len(text.encode()) > MAX_BYTES:  # aliases written out: what nas decode could not read back
        raise NasError(f"its YAML, aliases written out, is {len(text.encode()) // 1024:,} KiB, over the "
                       f"{MAX_BYTES // 1024} KiB a genome file may hold, so it could not be read back; use --format "
                       "json, or keep the file as written", source=_shown(a.genome))
    if a.format == "json":
        print(json.dumps(c.to_dict(), indent=2))
    elif a.format == "yaml":
        print(text, end="")
    else:
        print(table(c))
    note = sys.stderr if a.format != "table" else sys.stdout
    try:
        if a.python is not None:
            from ...export import to_python

            Path(a.python).write_text(to_python(g))
            print(f"wrote {a.python} (standalone PyTorch source, {c.params:,} parameters)", file=note)
        if a.graph is not None:
            from ...graph import graph, write_graph

            G = graph(g)
            write_graph(G, a.graph)
            print(f"wrote {a.graph} ({G.number_of_nodes()} ops, {G.number_of_edges()} edges)", file=note)
        if a.onnx is not None:
            from ...export import to_onnx

            to_onnx(g, a.onnx)
            print(f"wrote {a.onnx} (ONNX, checked with onnx.checker)", file=note)
    except OSError as e:  # checked above, but a full disk or a file made read-only meanwhile still fails here
        raise NasError(f"cannot write {quote_arg(e.filename or '')}: {(e.strerror or str(e)).lower()}") from None
    return 0


def cmd_seeds(a: argparse.Namespace) -> int:
    from ...zoo import SEEDS, report

    rows = report()
    if a.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    head = ("seed", "family", "input", "params", "figure", "MACs", "figure")
    lines = [head]
    for r in rows:
        s = SEEDS[r["name"]]
        lines.append((r["name"], r["family"], "x".join(map(str, r["input"])), f"{r['params']:,}",
                      s.params.short(r["params"]) if s.params else "", f"{r['macs']:,} ({human(r['macs'])})",
                      s.macs.short(r["macs"]) if s.macs else ""))
    widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
    for i, l in enumerate(lines):
        print("  ".join(v.ljust(w) if j < 3 else v.rjust(w) for j, (v, w) in enumerate(zip(l, widths))).rstrip())
        if i == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    print("\nMACs: conv + fully-connected multiply-accumulates (FLOPs = 2 x MACs). '= torchvision': reproduces "
          "torchvision's count exactly; '= published' or a percentage: a paper's or model table's figure, reproduced "
          "exactly or within its rounding; 'computed': worked out here where no exact published figure exists, so "
          "nothing to match. `--format json` gives each figure's kind, source and label.")
    return 0


def cmd_blocks(a: argparse.Namespace) -> int:
    for name in sorted(REGISTRY):
        bt = REGISTRY[name]
        print(f"{name}: {bt.doc}")
        for k, p in bt.params.items():
            if k == "drop_path":
                continue
            default = "required" if p.required else f"default {p.default!r}"
            print(f"    {k:<18} {p.doc} ({default})")
    return 0


def cmd_spaces(a: argparse.Namespace) -> int:
    import search_spaces

    rows = [search_spaces.get(n, a.input, a.classes).describe() for n in a.spaces or search_spaces.names()]
    if a.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    width = max((len(d["name"]) for r in rows for d in r["dimensions"]), default=22)
    for r in rows:
        low, high = r["macs"]
        print(f"{r['name']}: {r['doc']}")
        print(f"    input {'x'.join(map(str, r['input']))}, {r['classes']} classes; {len(r['dimensions'])} dimensions, "
              f"10^{r['log10_size']:.1f} architectures; MACs {human(low)} to {human(high)}")
        if r["seeds"]:
            print("    seeds: " + ", ".join(f"{n} ({human(m)} MACs)" for n, m in r["seeds"].items()))
        if a.dimensions or "template" in r:
            for d in r["dimensions"]:
                gate = ""
                if "when" in d:
                    gate = f"  (when {d['when'][0]} {'>' if d['when'][1] == 'gt' else '=='} {d['when'][2]})"
                print(f"      {d['name']:<{width}} {', '.join(map(str, d['choices']))}{gate}")
    return 0


def add_parsers(sub: Any) -> None:
    """The read-only commands' parsers."""
    d = sub.add_parser("decode", help="layer table, params and MACs of a genome; export torch source, ONNX, graph",
                       description="Decode a genome (a YAML file or a seed name) into its layer table with output "
                                   "shapes, parameters and MACs, and optionally export it.")
    d.add_argument("genome", help="a genome YAML file, or a seed name such as resnet50 (see `nas seeds`)")
    d.add_argument("--format", choices=("table", "json", "yaml"), default="table",
                   help="table: one row per layer with totals (default); json: the same as data; "
                        "yaml: the normalized genome")
    d.add_argument("--level", choices=("block", "op"), default="block",
                   help="rows per block instance (default) or per primitive op")
    d.add_argument("--input", type=_shape_arg, metavar="CxHxW", help="re-cost at another input, e.g. 3x160x160")
    d.add_argument("--classes", type=_positive, metavar="N", help="re-cost with N output classes")
    d.add_argument("--onnx", metavar="OUT", help="export the built model to ONNX (checked with onnx.checker)")
    d.add_argument("--python", metavar="OUT", help="write a standalone PyTorch source file (imports only torch)")
    d.add_argument("--graph", metavar="OUT", help="write the op graph as GraphML (.graphml) or DOT (.dot, .gv)")
    d.set_defaults(func=cmd_decode)

    s = sub.add_parser("seeds", help="the hand-designed seed networks with their figures",
                       description="List the seed networks with params and MACs beside their published figures.")
    s.add_argument("--format", choices=("table", "json"), default="table",
                   help="table (default) or json (docs/seeds.md is made by docs/seed_table.py)")
    s.set_defaults(func=cmd_seeds)

    sp = sub.add_parser("spaces", help="the search spaces: dimensions, size, MAC range, seeds",
                        description="List the search spaces with their size (log10 of the number of architectures), "
                                    "their MAC range at the deployment input and the seeds they contain.")
    sp.add_argument("spaces", nargs="*", metavar="SPACE",
                    help="spaces to list (default: every registered one): a name, or a YAML template file, whose "
                         "dimensions are listed")
    sp.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")
    sp.add_argument("--dimensions", action="store_true", help="also list every dimension and its choices")
    sp.add_argument("--input", type=_shape_arg, metavar="CxHxW", help="deployment input (default: each space's own)")
    sp.add_argument("--classes", type=_positive, metavar="N", help="number of classes (default: each space's own)")
    sp.set_defaults(func=cmd_spaces)

    b = sub.add_parser("blocks", help="the block types a genome may use, with their parameters",
                       description="List every registered block type and its parameters.")
    b.set_defaults(func=cmd_blocks)
