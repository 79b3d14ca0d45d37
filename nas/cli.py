"""The ``nas`` command line: ``nas search``, ``nas decode``, ``nas seeds``, ``nas spaces``, ``nas blocks``.

Input mistakes print one line, ``nas: error: <file>: <field path>: <what was expected>``, and exit with 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from .cost import cost, human, table
from .errors import NasError
from .genome import Genome, dumps, load, parse_shape
from .registry import REGISTRY

EXIT_USAGE = 2


def _genome(target: str) -> Genome:
    """A genome from a YAML path or a seed name."""
    from .zoo import SEEDS, get_seed, seeds

    p = Path(target)
    if p.exists():
        return load(p)
    seeds()  # registers them
    if target in SEEDS:
        return get_seed(target).genome()
    if p.suffix in (".yaml", ".yml") or "/" in target:
        raise NasError("no such file", source=target)
    raise NasError(f"'{target}' is neither a file nor a seed name; `nas seeds` lists the seeds")


def _shape_arg(text: str) -> tuple[int, int, int]:
    try:
        return parse_shape(text, "--input")
    except NasError as e:
        raise argparse.ArgumentTypeError(e.message) from None


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return v


def cmd_decode(a: argparse.Namespace) -> int:
    g = _genome(a.genome)
    if a.input or a.classes:
        g = g.with_input(a.input, a.classes)
    try:
        c = cost(g, level=a.level)
    except NasError as e:
        raise e.at(source=a.genome) from None
    if a.format == "json":
        print(json.dumps(c.to_dict(), indent=2))
    elif a.format == "yaml":
        print(dumps(g), end="")
    else:
        print(table(c))
    note = sys.stderr if a.format != "table" else sys.stdout
    if a.python:
        from .export import to_python

        Path(a.python).write_text(to_python(g))
        print(f"wrote {a.python} (standalone PyTorch source, {c.params:,} parameters)", file=note)
    if a.graph:
        from .graph import graph, write_graph

        G = graph(g)
        write_graph(G, a.graph)
        print(f"wrote {a.graph} ({G.number_of_nodes()} ops, {G.number_of_edges()} edges)", file=note)
    if a.onnx:
        from .export import to_onnx

        to_onnx(g, a.onnx)
        print(f"wrote {a.onnx} (ONNX, checked with onnx.checker)", file=note)
    return 0


def cmd_seeds(a: argparse.Namespace) -> int:
    from .zoo import report

    rows = report()
    if a.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    head = ("seed", "family", "input", "params", "published", "MACs", "published")
    lines = [head]
    for r in rows:
        lines.append((r["name"], r["family"], "x".join(map(str, r["input"])), f"{r['params']:,}",
                      _published(r, "params"), f"{r['macs']:,} ({human(r['macs'])})", _published(r, "macs")))
    widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
    for i, l in enumerate(lines):
        print("  ".join(v.ljust(w) if j < 3 else v.rjust(w) for j, (v, w) in enumerate(zip(l, widths))).rstrip())
        if i == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    print("\nMACs: conv + fully-connected multiply-accumulates (FLOPs = 2 x MACs). "
          "'=' reproduces the published figure exactly, '= (computed)' a figure worked out from the paper's layer table; a percentage is the difference from a rounded published figure.")
    return 0


def _published(r: dict, key: str) -> str:
    fig = r.get(f"published_{key}")
    if fig is None:
        return ""
    if r[f"{key}_diff"] == 0:
        return "= (computed)" if r.get(f"{key}_source", "").startswith("computed") else "="
    return f"{human(fig)} ({100 * r[f'{key}_diff'] / fig:+.1f}%)"


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

    rows = [search_spaces.get(n, a.input, a.classes).describe() for n in search_spaces.names()]
    if a.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        low, high = r["macs"]
        print(f"{r['name']}: {r['doc']}")
        print(f"    input {'x'.join(map(str, r['input']))}, {r['classes']} classes; {len(r['dimensions'])} dimensions, "
              f"10^{r['log10_size']:.1f} architectures; MACs {human(low)} to {human(high)}")
        if r["seeds"]:
            print("    seeds: " + ", ".join(f"{n} ({human(m)} MACs)" for n, m in r["seeds"].items()))
        if a.dimensions:
            for d in r["dimensions"]:
                gate = f"  (when {d['when'][0]} {'>' if d['when'][1] == 'gt' else '=='} {d['when'][2]})" if "when" in d else ""
                print(f"      {d['name']:<22} {', '.join(map(str, d['choices']))}{gate}")
    return 0


def _budget_arg(text: str) -> str:
    from .budget import parse_budget

    try:
        parse_budget(text)
    except NasError as e:
        raise argparse.ArgumentTypeError(e.message) from None
    return text


def _share(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got '{text}'")
    return v


def cmd_search(a: argparse.Namespace) -> int:
    import time

    from .search import Search, Settings, resume_settings

    if a.resume:
        if not a.out:
            raise NasError("--resume needs --out DIR, the run directory to continue")
        settings = resume_settings(Path(a.out), a.storage)
        out = Path(a.out)
    else:
        settings = Settings(
            space=a.space, budget=a.budget, strategy=a.strategy, trials=a.trials, epochs=a.epochs, dataset=a.dataset,
            data_dir=a.data_dir, seed=a.seed, input=list(a.input) if a.input else None, classes=a.classes,
            cpus_per_trial=a.cpus_per_trial, gpus_per_trial=a.gpus_per_trial, max_concurrent=a.max_concurrent,
            early_stop=a.early_stop, eta=a.eta, width=a.width, train_images=a.train_images or None,
            verdict=not a.no_verdict, verdict_top=a.verdict_top, verdict_epochs=a.verdict_epochs,
            verdict_seeds=a.verdict_seeds)
        out = Path(a.out) if a.out else Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{a.space}"
        if a.out and (out / "results.db").exists():
            raise NasError(f"'{out}' already holds a search; continue it with --resume, or choose another --out")
        if a.storage:  # a shared database keys runs by the run directory's name: never mix two searches
            from .store import Store, shown

            if Store(a.storage, run=out.resolve().name).config() is not None:
                raise NasError(f"a run named '{out.resolve().name}' is already in {shown(a.storage)}; continue it "
                               "with --resume, or choose another --out")

    def log(line: str) -> None:
        print(line, flush=True)

    search = Search(settings, out, storage=a.storage, log=log)
    search.run(address=a.address, dashboard=not a.no_dashboard, dashboard_host=a.dashboard_host)
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (usage stays in ``--help``), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nas`` command."""
    top = _Parser(
        prog="nas",
        description="Neural architecture search for convolutional networks: search a space for the best network "
                    "within a MAC budget; decode genomes into exact layer tables, parameters and MACs, torch models "
                    "and ONNX; list the classic seed networks and the search spaces.",
        epilog="MACs are conv + fully-connected multiply-accumulates (FLOPs = 2 x MACs). "
               "Run `nas COMMAND --help` for a command's options.")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

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
    s.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")
    s.set_defaults(func=cmd_seeds)

    se = sub.add_parser(
        "search", help="search a space for the best network within a MAC budget, on Ray workers",
        description="Search a space for the most accurate network within a MAC budget. Each candidate is trained "
                    "briefly on a proxy data set (Fashion-MNIST by default; no download) as a Ray task and scored on "
                    "its validation split; every result is recorded as it lands in the run directory (results.db, "
                    "trials.csv). Then the verdict retrains the top candidates and the space's best seed within the "
                    "budget at a higher fidelity with several seeds and scores them on the test split, which no "
                    "search decision reads; best.yaml is its winner, and the summary gives each difference a 95% "
                    "interval. A local Ray with its dashboard starts unless --address names a cluster. A search "
                    "killed at any moment, verdict included, continues with --resume --out DIR.",
        epilog="Example: nas search --space mobilenet --budget 300M --trials 40 --out runs/m300")
    se.add_argument("--space", default="mobilenet", help="search space (see `nas spaces`; default mobilenet)")
    se.add_argument("--budget", type=_budget_arg, default="300M",
                    help="MAC budget at the deployment input: 300M, 1.5G, 4.2k, 300e6 (default 300M)")
    se.add_argument("--strategy", default="evolution", help="random, evolution, optuna or nsga2 (default evolution)")
    se.add_argument("--trials", type=_positive, default=40, metavar="N", help="candidates to evaluate (default 40)")
    se.add_argument("--epochs", type=_positive, default=2, metavar="E",
                    help="proxy training epochs per candidate, at most: early stopping ends weak ones sooner "
                         "(default 2)")
    se.add_argument("--dataset", default="fashion",
                    help="proxy data: fashion (default: Fashion-MNIST from --data-dir, else Debian's "
                         "/usr/share/datasets/fashion-mnist, else the bundled 20,000-image subset), mnist (IDX files "
                         "in --data-dir, else a bundled sample), cifar10 or imagefolder (with --data-dir), digits "
                         "and synthetic (small, for tests). Its test split is read only by the verdict")
    se.add_argument("--data-dir", metavar="PATH",
                    help="directory of the data set: the four IDX files of fashion or mnist, CIFAR-10's python "
                         "batches, or one folder of images per class")
    se.add_argument("--width", type=_share, metavar="X",
                    help="proxy width multiplier on top of the genome's widths (default: the space's, 0.35; "
                         "shufflenet 0.5)")
    se.add_argument("--train-images", type=int, default=5000, metavar="N",
                    help="training images per proxy epoch, stratified (default 5000; 0: the whole train split)")
    se.add_argument("--no-verdict", action="store_true",
                    help="skip the verdict: best.yaml is then the search's best by its own validation score")
    se.add_argument("--verdict-top", type=_positive, default=3, metavar="K",
                    help="candidates the verdict retrains beside the best seed within the budget (default 3)")
    se.add_argument("--verdict-epochs", type=_positive, default=3, metavar="E",
                    help="epochs of the verdict's retraining, on all the training data (default 3)")
    se.add_argument("--verdict-seeds", type=_positive, default=2, metavar="N",
                    help="seeds each verdict network is trained with (default 2; seeds --seed + 1000, 1001, ...). "
                         "With 2 or more the intervals include training noise, measured from seed to seed")
    se.add_argument("--out", metavar="DIR", help="run directory (default: a new folder under runs/)")
    se.add_argument("--resume", action="store_true", help="continue the search in --out after a crash or Ctrl-C")
    se.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the strategy and of proxy training (default 0)")
    se.add_argument("--address", metavar="auto|HOST:PORT", help="join a running Ray cluster instead of starting one")
    se.add_argument("--cpus-per-trial", type=_share, default=1.0, metavar="X", help="CPUs per candidate (default 1)")
    se.add_argument("--gpus-per-trial", type=_share, default=0.0, metavar="X", help="GPUs per candidate (default 0); fractions pack trials: 0.25 runs four on each GPU")
    se.add_argument("--max-concurrent", type=_positive, metavar="N", help="candidates in flight at once (default: as many as fit)")
    se.add_argument("--early-stop", nargs="?", const="asha", default="asha", choices=("asha", "median", "off"),
                    metavar="asha|median|off",
                    help="stop unpromising trials between epochs (with --epochs > 1): asha (the default) keeps the "
                         "top 1/eta at epochs 1, eta, eta^2, ...; median stops a trial below the median of earlier "
                         "trials at the same epoch; off runs every trial to the end. The strategy is told the "
                         "lower-fidelity result")
    se.add_argument("--eta", type=_positive, default=3, metavar="ETA", help="ASHA's reduction factor (default 3)")
    se.add_argument("--storage", metavar="URL", help="results database URL (default: SQLite in the run directory)")
    se.add_argument("--no-dashboard", action="store_true", help="start the local Ray without its dashboard")
    se.add_argument("--dashboard-host", default="127.0.0.1", metavar="HOST",
                    help="address the dashboard binds to (default 127.0.0.1; anything else is reachable from outside)")
    se.add_argument("--input", type=_shape_arg, metavar="CxHxW", help="deployment input (default: the space's)")
    se.add_argument("--classes", type=_positive, metavar="N", help="deployment classes (default: the space's)")
    se.set_defaults(func=cmd_search)

    sp = sub.add_parser("spaces", help="the search spaces: dimensions, size, MAC range, seeds",
                        description="List the search spaces with their size (log10 of the number of architectures), "
                                    "their MAC range at the deployment input and the seeds they contain.")
    sp.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")
    sp.add_argument("--dimensions", action="store_true", help="also list every dimension and its choices")
    sp.add_argument("--input", type=_shape_arg, metavar="CxHxW", help="deployment input (default: each space's own)")
    sp.add_argument("--classes", type=_positive, metavar="N", help="number of classes (default: each space's own)")
    sp.set_defaults(func=cmd_spaces)

    b = sub.add_parser("blocks", help="the block types a genome may use, with their parameters",
                       description="List every registered block type and its parameters.")
    b.set_defaults(func=cmd_blocks)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nas`` console script."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except NasError as e:
        print(f"nas: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nas: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `nas seeds | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
