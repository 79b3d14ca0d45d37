"""The ``nas`` command line: ``nas search``, ``nas dashboard``, ``nas decode``, ``nas seeds``, ``nas spaces``,
``nas blocks``.

Input mistakes print one line, ``nas: error: <file>: <field path>: <what was expected>``, and exit with 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import stat
import sys
import textwrap
from pathlib import Path
from typing import Callable, Sequence

from ..cost import cost, human, table
from ..errors import NasError, quote_arg
from ..genome import Genome, dumps, load, parse_shape
from ..registry import REGISTRY

from .._limits import MAX_COUNT, MAX_SHARE

EXIT_USAGE = 2
_MAX_ARG = 100  # characters in a number or a shape; longer text is refused before it is parsed
_NAME_MAX, _PATH_MAX = 255, 4095  # Linux's limits on one file-name component and on a path, in bytes


# ---------------------------------------------------------------- file names


def _shown(text: str) -> str:
    """A file name as a message shows it: as typed when plain, else quoted (newlines escaped, long names cut)."""
    return text if text.isprintable() and len(text) <= 200 else quote_arg(text)


def _stat(text: str, what: str) -> os.stat_result | None:
    """``os.stat`` of a path the user named, None when nothing is there; a name no file can have is a NasError."""
    where = f"{what} {quote_arg(text)}" if what else _shown(text)
    try:
        raw = os.fsencode(text)
    except UnicodeEncodeError:  # a lone surrogate: no file system can hold the name
        raise NasError(f"{where}: not a valid file name") from None
    if b"\0" in raw:
        raise NasError(f"{where}: a file name cannot contain a NUL character")
    # Checked here, not left to stat: a missing directory in front hides a too-long name until mkdir or open.
    if len(raw) > _PATH_MAX or any(len(part) > _NAME_MAX for part in raw.split(b"/")):
        raise NasError(f"{where}: file name too long (at most {_NAME_MAX} bytes a component, {_PATH_MAX} in all)")
    try:
        return os.stat(raw)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:  # a symlink loop, no permission to look
        raise NasError(f"{where}: {(e.strerror or str(e)).lower()}") from None


def _directory_above(path: Path, text: str, what: str) -> None:
    """The nearest existing directory above ``path`` is a directory (a file there would make mkdir or open fail)."""
    for parent in path.absolute().parents:
        st = _stat(str(parent), what)
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise NasError(f"{what} {quote_arg(text)}: {quote_arg(str(parent))} is not a directory")
        return


def _output(text: str | None, what: str) -> None:
    """An export target (``--python``, ``--graph``, ``--onnx``) that can be written: checked before any work."""
    if text is None:
        return
    if not text.strip():
        raise NasError(f"{what} is empty; name the file to write")
    st = _stat(text, what)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise NasError(f"{what} {quote_arg(text)}: is a directory, expected a file name")
    _directory_above(Path(text), text, what)  # first: a file higher up is the real mistake, not a missing folder
    parent = Path(text).parent
    if _stat(str(parent), what) is None:
        raise NasError(f"{what} {quote_arg(text)}: the directory {quote_arg(str(parent))} does not exist")


def _run_dir(text: str) -> Path:
    """``--out`` as a run directory that exists or can be made: refused with one line before anything starts."""
    if not text.strip():
        raise NasError("--out is empty; name the run directory")
    st = _stat(text, "--out")
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise NasError(f"--out {quote_arg(text)}: exists and is not a directory")
    if st is None:
        _directory_above(Path(text), text, "--out")
    return Path(text)


def _genome(target: str) -> Genome:
    """A genome from a YAML path or a seed name."""
    from ..zoo import SEEDS, get_seed, seeds

    if not target:  # Path("") is the current directory: say what is wrong instead
        raise NasError("the genome argument is empty; give a YAML file or a seed name (see `nas seeds`)")
    name = _shown(target)
    st = _stat(target, "")
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise NasError("is a directory, expected a YAML file", source=name)
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block forever, /dev/zero would fill the memory
            raise NasError("is not a regular file (a pipe, device or socket); expected a YAML file", source=name)
        try:
            return load(target)
        except NasError as e:
            raise e.at(source=name) from None
    seeds()  # registers them
    if target in SEEDS:
        return get_seed(target).genome()
    if Path(target).suffix in (".yaml", ".yml") or "/" in target:
        raise NasError("no such file", source=name)
    raise NasError(f"{quote_arg(target)} is neither a file nor a seed name; `nas seeds` lists the seeds")


# ---------------------------------------------------------------- argument types (argparse calls them)


def _integer(text: str, low: int, high: int, expected: str) -> int:
    """An integer from ``low`` to ``high`` in ASCII digits (``int`` also takes ``1_000``, ``+5`` and ``١٠``)."""
    m = re.fullmatch(r"\s*(-?)([0-9]+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {quote_arg(text)}")
    digits = m[2].lstrip("0") or "0"
    if len(digits) > len(str(high)):  # no int() of 5,000 digits, which Python refuses anyway
        if m[1]:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {quote_arg(text)}")
        raise argparse.ArgumentTypeError(f"{quote_arg(text)} is too large; at most {high:,}")
    v = -int(digits) if m[1] else int(digits)
    if v < low:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {quote_arg(text)}")
    if v > high:
        raise argparse.ArgumentTypeError(f"{quote_arg(text)} is too large; at most {high:,}")
    return v


def _positive(text: str) -> int:
    """A positive integer up to MAX_COUNT."""
    return _integer(text, 1, MAX_COUNT, "a positive integer")


def _count(text: str) -> int:
    """A non-negative integer up to MAX_COUNT."""
    return _integer(text, 0, MAX_COUNT, "a non-negative integer")


def _seed(text: str) -> int:
    """A seed every strategy takes: numpy's and Optuna's samplers want 0 <= seed < 2^32."""
    return _integer(text, 0, 2**32 - 1, "a seed from 0 to 2^32 - 1")


def _shape_arg(text: str) -> tuple[int, int, int]:
    """``3x224x224`` as (C, H, W), each a positive integer up to MAX_COUNT in ASCII digits."""
    parts = text.strip().lower().split("x") if len(text) <= _MAX_ARG else []
    if len(parts) != 3 or not all(re.fullmatch(r"[0-9]+", p) for p in parts):
        raise argparse.ArgumentTypeError(f"expected CxHxW such as 3x224x224, got {quote_arg(text)}")
    if any(len(p.lstrip("0")) > len(str(MAX_COUNT)) or int(p) > MAX_COUNT for p in parts):
        raise argparse.ArgumentTypeError(f"{quote_arg(text)} is too large; at most {MAX_COUNT:,} a dimension")
    try:
        return parse_shape([int(p) for p in parts], "--input")
    except NasError as e:
        raise argparse.ArgumentTypeError(e.message) from None


def _number(text: str, positive: bool) -> float:
    """A finite decimal number from 0 (or above 0) to MAX_SHARE; ``float`` would also take inf, nan and ``1_0``."""
    expected = "a positive number" if positive else "a non-negative number"
    s = text.strip()
    if len(s) > _MAX_ARG or not re.fullmatch(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", s):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {quote_arg(text)}")
    v = float(s)  # 1e400 becomes inf, 1e-400 becomes 0: both refused below
    if not math.isfinite(v) or v > MAX_SHARE:
        raise argparse.ArgumentTypeError(f"{quote_arg(text)} is too large; at most {MAX_SHARE:,g}")
    if v == 0 and re.search(r"[1-9]", re.split(r"[eE]", s)[0]):  # written as a nonzero number
        raise argparse.ArgumentTypeError(f"{quote_arg(text)} is too small to tell from 0")
    if positive and v == 0:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {quote_arg(text)}")
    return v


def _share(text: str) -> float:
    """A CPU or GPU share of a trial: a finite number from 0 to MAX_SHARE."""
    return _number(text, positive=False)


def _factor(text: str) -> float:
    """A width multiplier: a finite number above 0, up to MAX_SHARE."""
    return _number(text, positive=True)


def _budget_arg(text: str) -> str:
    """A MAC budget as typed, once ``parse_budget`` takes it (the run saves the text as written)."""
    from ..budget import parse_budget

    try:
        parse_budget(text)
    except NasError as e:
        raise argparse.ArgumentTypeError(e.message) from None
    return text


def _cap_arg(unit: str) -> Callable[[str], str]:
    """A cap on params or activations, written like a budget (``3M``)."""
    def check(text: str) -> str:
        from ..budget import parse_budget

        try:
            parse_budget(text, unit)
        except NasError as e:
            raise argparse.ArgumentTypeError(e.message) from None
        return text
    return check


def _address(text: str) -> str:
    """``auto`` or HOST:PORT (``ray://`` allowed): a port Python's socket takes, a host with no blanks."""
    if text == "auto":
        return text
    host, _, port = text.split("://", 1)[-1].rpartition(":")
    if (not host or len(host) > 253 or not host.isprintable() or " " in host
            or not re.fullmatch(r"[0-9]{1,5}", port) or not 0 < int(port) < 65536):
        raise argparse.ArgumentTypeError(f"expected 'auto' or HOST:PORT with a port from 1 to 65535, got {quote_arg(text)}")
    return text


def _port(text: str) -> int:
    """A TCP port to listen on, 1 to 65535."""
    return _integer(text, 1, 65535, "a port from 1 to 65535")


def _host(text: str) -> str:
    """A host name or address to bind to: no blanks, no control characters, at most 253 characters."""
    if not text or len(text) > 253 or not text.isprintable() or " " in text:
        raise argparse.ArgumentTypeError(f"expected a host name or address, got {quote_arg(text)}")
    return text


def cmd_decode(a: argparse.Namespace) -> int:
    """``nas decode``: the layer table, json or yaml of a genome, and the exports asked for."""
    # Every export target is checked first: a bad one must not cost a decode, or come after the printed table.
    for flag, target in (("--python", a.python), ("--graph", a.graph), ("--onnx", a.onnx)):
        _output(target, flag)
    if a.graph is not None:
        from ..graph import SUFFIXES

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
    from .._limits import MAX_BUILD_PARAMS, MAX_BYTES

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
            from ..export import to_python

            Path(a.python).write_text(to_python(g))
            print(f"wrote {a.python} (standalone PyTorch source, {c.params:,} parameters)", file=note)
        if a.graph is not None:
            from ..graph import graph, write_graph

            G = graph(g)
            write_graph(G, a.graph)
            print(f"wrote {a.graph} ({G.number_of_nodes()} ops, {G.number_of_edges()} edges)", file=note)
        if a.onnx is not None:
            from ..export import to_onnx

            to_onnx(g, a.onnx)
            print(f"wrote {a.onnx} (ONNX, checked with onnx.checker)", file=note)
    except OSError as e:  # checked above, but a full disk or a file made read-only meanwhile still fails here
        raise NasError(f"cannot write {quote_arg(e.filename or '')}: {(e.strerror or str(e)).lower()}") from None
    return 0


def cmd_seeds(a: argparse.Namespace) -> int:
    from ..zoo import SEEDS, report

    rows = report()
    if a.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if a.format == "markdown":
        print(_seeds_markdown(rows))
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


_SEEDS_MARKDOWN_NOTE = (
    "Input 3x224x224 and 1000 classes unless noted. Each figure says what it is: \"matches torchvision ...\" is "
    "torchvision's own count, reproduced to the last parameter and MAC; a published figure (a paper's or a model "
    "table's, usually rounded) is matched exactly or within the stated tolerance; \"computed\" is a count worked "
    "out here from the paper's layers where no exact published figure exists: it is checked as a regression "
    "figure and matches nothing. Made by `nas seeds --format markdown`; `nas seeds` prints the same with notes "
    "(`--format json`).")


def _seeds_markdown(rows: list[dict]) -> str:
    """The README's seed table: figures with what each one is (``nas seeds --format markdown``)."""
    out = [textwrap.fill(_SEEDS_MARKDOWN_NOTE, 115), "",
           "| seed | family | input | params | MACs | params figure | MACs figure |", "|---|---|---|---:|---:|---|---|"]
    for r in rows:
        out.append(f"| {r['name']} | {r['family']} | {'x'.join(map(str, r['input']))} | {r['params']:,} | "
                   f"{r['macs']:,} | {r.get('params_label', '')} | {r.get('macs_label', '')} |")
    return "\n".join(out)


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
                gate = f"  (when {d['when'][0]} {'>' if d['when'][1] == 'gt' else '=='} {d['when'][2]})" if "when" in d else ""
                print(f"      {d['name']:<{width}} {', '.join(map(str, d['choices']))}{gate}")
    return 0


TABLE_IGNORES = frozenset({"address", "cpus_per_trial", "gpus_per_trial", "max_concurrent", "dataset", "data_dir",
                           "epochs", "width", "train_images", "early_stop", "eta", "verdict_top", "verdict_epochs",
                           "verdict_seeds", "verdict_width", "dashboard_host"})
"""Flags of ``nas search`` that a table-lookup estimator (nb201) has no use for."""


def _check_search(a: argparse.Namespace) -> None:
    """What ``Search`` would refuse only after its run directory exists, refused first: names, data, --out."""
    import estimators
    import search_spaces
    import strategies

    search_spaces.get(a.space, a.input, a.classes)  # an unknown name lists the valid ones
    strategies.get(a.strategy)
    from .scoring import get

    entry = get(a.estimator)
    if entry.check is not None or entry.prepare is not None or a.supernet:
        from .settings import Settings, validate

        s = Settings(space=a.space, input=list(a.input) if a.input else None, classes=a.classes,
                     estimator=a.estimator, supernet=a.supernet, dataset=a.dataset, data_dir=a.data_dir, width=a.width)
        validate(s)
        if entry.prepare is not None:
            entry.prepare(s, search_spaces.get(a.space, a.input, a.classes))
    if entry.tabular:  # a flag it would drop without a word is refused instead
        ignored = sorted(TABLE_IGNORES & set(getattr(a, "typed", ())))
        if ignored:
            flag = "--" + ignored[0].replace("_", "-")
            raise NasError(f"--estimator {a.estimator} looks every score up in this process, with no training, Ray "
                           f"or verdict: {flag} has no effect there; drop it")
    estimators.DATASETS.lookup(a.dataset)
    if a.data_dir is not None:
        st = _stat(a.data_dir, "--data-dir")
        if st is None:
            raise NasError(f"data directory {quote_arg(a.data_dir)} does not exist")
        if not stat.S_ISDIR(st.st_mode):
            raise NasError(f"data directory {quote_arg(a.data_dir)} is not a directory")


def cmd_search(a: argparse.Namespace) -> int:
    """``nas search``: validate everything a user typed, then run the search on Ray."""
    import time

    from .driver import Search
    from .settings import Settings, resume_settings, resumed

    if a.out is not None:
        _run_dir(a.out)
    if a.resume:
        if a.out is None:
            raise NasError("--resume needs --out DIR, the run directory to continue")
        given = {k: getattr(a, k) for k in getattr(a, "typed", ())}
        settings = resumed(resume_settings(Path(a.out), a.storage), given)
        out = Path(a.out)
    else:
        _check_search(a)
        settings = Settings(
            space=a.space, budget=a.budget, max_params=a.max_params, max_activations=a.max_activations,
            max_latency_ms=a.max_latency_ms,
            strategy=a.strategy, trials=a.trials, epochs=a.epochs, dataset=a.dataset,
            data_dir=a.data_dir, seed=a.seed, input=list(a.input) if a.input else None, classes=a.classes,
            cpus_per_trial=a.cpus_per_trial, gpus_per_trial=a.gpus_per_trial, max_concurrent=a.max_concurrent,
            early_stop=a.early_stop, eta=a.eta, width=a.width, train_images=a.train_images or None,
            verdict=not a.no_verdict, verdict_top=a.verdict_top, verdict_epochs=a.verdict_epochs,
            verdict_seeds=a.verdict_seeds, verdict_width=a.verdict_width, estimator=a.estimator,
            supernet=a.supernet, audit=a.audit, rescore=a.rescore, evaluator=a.evaluator)
        out = Path(a.out) if a.out is not None else Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{a.space}"
        if a.out is not None and (out / "results.db").exists():
            raise NasError(f"{quote_arg(str(out))} already holds a search; continue it with --resume, or choose another "
                           "--out")
        if a.storage:  # a shared database keys runs by the run directory's name: never mix two searches
            from .store import Store, shown

            if Store(a.storage, run=out.resolve().name).config() is not None:
                raise NasError(f"a run named {quote_arg(out.resolve().name)} is already in {shown(a.storage)}; continue "
                               "it with --resume, or choose another --out")

    def log(line: str) -> None:
        print(line, flush=True)

    try:
        search = Search(settings, out, storage=a.storage, log=log)
    except OSError as e:  # the run directory or a file in it could not be made (full disk, read-only, /proc)
        raise NasError(f"cannot set up the run in {quote_arg(str(out))}: {(e.strerror or str(e)).lower()}") from None
    search.run(address=a.address, dashboard=not a.no_dashboard, dashboard_host=a.dashboard_host)
    return 0


def cmd_dashboard(a: argparse.Namespace) -> int:
    """``nas dashboard``: optuna-dashboard on a run's study, rebuilt from its results store when there is none."""
    from .studyview import open_study, server
    from .store import shown

    run = quote_arg(a.run, limit=300)  # a path: shown whole unless it is absurdly long
    st = _stat(a.run, "")
    if st is None:
        raise NasError(f"run directory {run} does not exist")
    if not stat.S_ISDIR(st.st_mode):
        raise NasError(f"{run} is not a directory; give the run directory of a `nas search`")
    out = Path(a.run)
    if a.storage is None and not (out / "results.db").exists() and (a.rebuild or not (out / "dashboard.db").exists()):
        raise NasError(f"{run} holds no results.db: not the run directory of a `nas search` (give --storage URL "
                       "for a search that kept its results in a shared database)")
    study = open_study(out, a.storage, rebuild=a.rebuild)
    try:
        httpd = server(study.url, a.host, a.port)
    except OSError as e:  # the port is taken, or the host is no address of this machine
        raise NasError(f"cannot listen on {a.host}:{a.port}: {(e.strerror or str(e)).lower()}") from None
    made = (f"rebuilt from the results store ({study.recorded} records)" if study.rebuilt
            else "as the search keeps it; --rebuild to make it again from the results store")
    print(f"study {study.name}: {study.trials} trials, {made}")
    if not study.rebuilt and study.recorded is not None and study.recorded > study.trials:
        print(f"note: the results store holds {study.recorded} evaluations, the study {study.trials}: a search running "
              "there adds them as it goes; if none is, `--rebuild` brings the study up to date")
    print(f"storage: {shown(study.url)}")
    if a.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: optuna-dashboard has no login; anyone who can reach {a.host}:{httpd.server_port} can read "
              "the study and edit its notes", flush=True)
    print(f"optuna-dashboard: http://{a.host}:{httpd.server_port}/dashboard (Ctrl-C to stop)", flush=True)
    import signal

    # Ctrl-C stops it even when it was started where SIGINT is ignored (a job a non-interactive shell put in the
    # background), for which Python installs no KeyboardInterrupt of its own
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (usage stays in ``--help``), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {_one_line(message)} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _one_line(message: str, limit: int = 300) -> str:
    """``message`` with control characters escaped and cut to ``limit``: argparse echoes unknown arguments raw."""
    if len(message) > limit:
        message = message[:limit] + "…"
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def _dash_values(argv: Sequence[str]) -> list[str]:
    """``--budget -1M`` as ``--budget=-1M``: argparse takes a value that starts with a dash for an option unless
    it is a plain negative number, and says only "expected one argument"; joined, the value reaches its check."""
    out: list[str] = []
    for arg in argv:
        prev = out[-1] if out else ""
        if re.match(r"-\.?[0-9]", arg) and prev.startswith("--") and "=" not in prev and len(prev) > 2:
            out[-1] = f"{prev}={arg}"
        else:
            out.append(arg)
    return out


def parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nas`` command."""
    from .scoring import REGISTRY as ESTIMATORS

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
    s.add_argument("--format", choices=("table", "json", "markdown"), default="table",
                   help="table (default), json, or markdown (the README's seed table)")
    s.set_defaults(func=cmd_seeds)

    se = sub.add_parser(
        "search", help="search a space for the best network within a MAC budget, on Ray workers",
        description="Search a space for the most accurate network within a MAC budget. Each candidate is trained "
                    "briefly on a proxy data set (Fashion-MNIST by default; no download) as a Ray task and scored on "
                    "its validation split; every result is recorded as it lands in the run directory (results.db, "
                    "trials.csv). Then the verdict retrains the winner (the search's best by its own score, fixed "
                    "before any test image is read) and the baseline (the space's hand-designed network scaled to "
                    "the budget, e.g. mobilenet_v2 x0.98) with several seeds at a higher fidelity, scores them on "
                    "the test split, which no search decision reads, and says whether the winner is better with a "
                    "95% interval that includes training noise; every line names the width and input the networks "
                    "were retrained at. best.yaml is the winner. A local Ray with its dashboard starts unless --address names a cluster. A search "
                    "killed at any moment, verdict included, continues with --resume --out DIR.",
        epilog="Example: nas search --space mobilenet --budget 300M --trials 40 --out runs/m300")
    se.add_argument("--space", default="mobilenet",
                    help="search space: a name from `nas spaces` (default mobilenet), or a YAML template, a genome "
                         "whose parameters may be {choice: [...]} (docs/spaces.md)")
    se.add_argument("--budget", type=_budget_arg, default="300M",
                    help="MAC budget at the deployment input: 300M, 1.5G, 4.2k, 300e6, at most 10^18 (default 300M)")
    se.add_argument("--max-params", type=_cap_arg("params"), metavar="N",
                    help="also keep parameters under N (3M, 500k): every strategy samples and mutates within both")
    se.add_argument("--max-activations", type=_cap_arg("activations"), metavar="N",
                    help="also keep activation elements at batch 1 under N (the sum of every op's output, what "
                         "`nas decode` reports): a proxy for peak memory")
    se.add_argument("--max-latency-ms", type=_factor, metavar="MS",
                    help="also keep latency on this machine's CPU under MS milliseconds (one thread, batch 1): a "
                         "model measured here at the start predicts it for the sampler, and the finalists are "
                         "measured for real before the verdict (docs/latency.md)")
    se.add_argument("--strategy", default="evolution", help="random, evolution, optuna or nsga2 (default evolution)")
    se.add_argument("--trials", type=_positive, default=40, metavar="N", help="candidates to evaluate (default 40)")
    se.add_argument("--epochs", type=_positive, default=2, metavar="E",
                    help="proxy training epochs per candidate, at most: early stopping ends weak ones sooner "
                         "(default 2)")
    se.add_argument("--estimator", choices=tuple(ESTIMATORS), default="proxy",
                    help="how a candidate is scored: proxy (default) trains it briefly on --dataset; nb201 looks a "
                         "cell-space candidate up in NAS-Bench-201's 200-epoch CIFAR-10 test accuracies, shipped "
                         "with nas: no training, no Ray workers, a 300-trial search in seconds (--space cell only; --epochs, --dataset, "
                         "--early-stop and the verdict do not apply); supernet scores it with the weights it "
                         "inherits from --supernet in about a second, then trains --audit and --rescore candidates "
                         "standalone (--dataset and --width are the supernet's)")
    se.add_argument("--evaluator", metavar="MODULE:FUNCTION",
                    help="train and score candidates with your own function evaluate(genome, ctx) -> {accuracy, "
                         "...} in place of proxy training (its protocol: nas.app.evaluator; an example: "
                         "examples/evaluator.py); ctx.report(epoch, accuracy=...) each epoch lets early stopping act")
    se.add_argument("--supernet", metavar="CHECKPOINT",
                    help="with --estimator supernet: a supernet.pt written by `nas supernet train`")
    se.add_argument("--audit", type=_count, default=5, metavar="K",
                    help="with --estimator supernet: candidates spread over its ranking trained standalone after "
                         "the search, for a Kendall tau between the two (default 5; a warning below 0.3)")
    se.add_argument("--rescore", type=_count, default=3, metavar="K",
                    help="with --estimator supernet: its top candidates trained standalone; the best of them by "
                         "that score is the verdict's winner (default 3)")
    se.add_argument("--dataset", default="fashion",
                    help="proxy data: fashion (default: Fashion-MNIST from --data-dir, else Debian's "
                         "/usr/share/datasets/fashion-mnist, else the bundled 20,000-image subset), mnist (IDX files "
                         "in --data-dir, else a bundled sample), cifar10 or imagefolder (with --data-dir; a folder is "
                         "streamed from disk), digits and synthetic (small, for tests), or your own as module:Class "
                         "(docs/data.md). Its test split is read only by the verdict")
    se.add_argument("--data-dir", metavar="PATH",
                    help="directory of the data set: the four IDX files of fashion or mnist, CIFAR-10's python "
                         "batches, or one folder of images per class")
    se.add_argument("--width", type=_factor, metavar="X",
                    help="proxy width multiplier on top of the genome's widths (default: the space's, 0.35; "
                         "shufflenet 0.5)")
    se.add_argument("--train-images", type=_count, default=5000, metavar="N",
                    help="training images per proxy epoch, stratified (default 5000; 0: the whole train split)")
    se.add_argument("--no-verdict", action="store_true",
                    help="skip the verdict: best.yaml is then the search's best by its own validation score")
    se.add_argument("--verdict-top", type=_positive, default=1, metavar="K",
                    help="the search's top candidates the verdict retrains beside the baseline (default 1: the "
                         "winner, the search's best by its own score). The winner is compared with the baseline "
                         "first; the others only while every earlier one was better, so the chance of a false "
                         "'better' stays at most 2.5%%. From 5 the fidelity audit reports a Kendall tau")
    se.add_argument("--verdict-epochs", type=_positive, default=3, metavar="E",
                    help="epochs of the verdict's retraining, on all the training data (default 3)")
    se.add_argument("--verdict-seeds", type=_positive, default=8, metavar="N",
                    help="seeds each verdict network is trained with (default 8; seeds --seed + 1000, 1001, ...). "
                         "With 2 or more the intervals include training noise, measured from seed to seed")
    se.add_argument("--verdict-width", type=_factor, metavar="X",
                    help="width multiplier of the verdict's networks on top of the genome's: 1 retrains the "
                         "architecture itself (default: 1 when --gpus-per-trial is set, else the proxy's width, "
                         "as on CPUs width 1 costs many times more; the log says which)")
    se.add_argument("--out", metavar="DIR", help="run directory (default: a new folder under runs/)")
    se.add_argument("--resume", action="store_true", help="continue the search in --out after a crash or Ctrl-C; with a larger --trials, extend it (any "
                         "other flag must match the stored run)")
    se.add_argument("--seed", type=_seed, default=0, metavar="N",
                    help="seed of the strategy and of proxy training, 0 to 2^32 - 1 (default 0)")
    se.add_argument("--address", type=_address, metavar="auto|HOST:PORT", help="join a running Ray cluster instead of starting one")
    se.add_argument("--cpus-per-trial", type=_share, default=1.0, metavar="X", help="CPUs per candidate (default 1)")
    se.add_argument("--gpus-per-trial", type=_share, default=0.0, metavar="X", help="GPUs per candidate (default 0); fractions pack trials: 0.25 runs four on each GPU")
    se.add_argument("--max-concurrent", type=_positive, metavar="N", help="candidates in flight at once (default: as many as fit)")
    se.add_argument("--early-stop", nargs="?", const="asha", default="asha", choices=("asha", "median", "off"),
                    metavar="asha|median|off",
                    help="stop unpromising trials between epochs (with --epochs > 1): asha (the default) keeps the "
                         "top 1/eta at epochs 1, eta, eta^2, ..., restarting the learning-rate cycle there; median "
                         "stops a trial below the median of earlier trials at the same epoch; off runs every trial to "
                         "the end under one cycle. The strategy is told the lower-fidelity result. At the default 2 "
                         "epochs ASHA saves about a third of the search's time and, at equal training epochs, returns "
                         "networks as good as off does (benchmarks/asha_replay.md)")
    se.add_argument("--eta", type=_positive, default=3, metavar="ETA", help="ASHA's reduction factor (default 3)")
    se.add_argument("--storage", metavar="URL", help="results database URL (default: SQLite in the run directory)")
    se.add_argument("--no-dashboard", action="store_true", help="start the local Ray without its dashboard")
    se.add_argument("--dashboard-host", type=_host, default="127.0.0.1", metavar="HOST",
                    help="address the dashboard binds to (default 127.0.0.1; anything else is reachable from outside)")
    se.add_argument("--input", type=_shape_arg, metavar="CxHxW", help="deployment input (default: the space's)")
    se.add_argument("--classes", type=_positive, metavar="N", help="deployment classes (default: the space's)")
    se.set_defaults(func=cmd_search)

    da = sub.add_parser(
        "dashboard", help="optuna-dashboard on a run: every trial of a search, live, whatever the strategy",
        description="Serve optuna-dashboard on the search in RUN_DIR: every evaluation as a trial of the study "
                    "nas-<run name> in RUN_DIR/dashboard.db, with the candidate's choices as parameters, accuracy "
                    "and MACs as the two objectives (and their Pareto front), the accuracy after each epoch as "
                    "intermediate values, early-stopped trials as pruned, failed ones as failed, and the genome, "
                    "origin, fidelity and standard error as user attributes; the verdict's retrainings, scored on "
                    "the test split, in the study nas-<run name>-verdict. A search keeps the study up to date as "
                    "results land, so this may run beside it and shows the search live (Live Update, in the "
                    "dashboard's side bar, refreshes it). A run without the study (an older run) has it built from "
                    "its results store first.",
        epilog="Example: nas dashboard runs/m300 --port 8080, then open http://127.0.0.1:8080/dashboard")
    da.add_argument("run", metavar="RUN_DIR", help="the run directory of a `nas search` (its --out)")
    da.add_argument("--port", type=_port, default=8080, metavar="PORT", help="port to listen on (default 8080)")
    da.add_argument("--host", type=_host, default="127.0.0.1", metavar="HOST",
                    help="address to bind to (default 127.0.0.1; anything else is reachable from outside, and "
                         "optuna-dashboard lets whoever reaches it edit notes and delete the study)")
    da.add_argument("--storage", metavar="URL",
                    help="the results database the search was given with --storage (default: results.db in RUN_DIR)")
    da.add_argument("--rebuild", action="store_true",
                    help="make the study again from the results store even when RUN_DIR has one: only while no "
                         "search runs in RUN_DIR, which writes the study itself (the study is a view: the store "
                         "is the record, so nothing is lost)")
    da.set_defaults(func=cmd_dashboard)

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

    from .supernet_cli import add_commands

    add_commands(sub, {"budget": _budget_arg, "positive": _positive, "count": _count, "factor": _factor,
                       "seed": _seed, "address": _address}, _genome)

    b = sub.add_parser("blocks", help="the block types a genome may use, with their parameters",
                       description="List every registered block type and its parameters.")
    b.set_defaults(func=cmd_blocks)
    return top


def _typed(argv: list[str]) -> set[str]:
    """The names of the options ``argv`` gives (so that ``--resume`` can tell a flag typed from its default):
    the same parse with every default suppressed."""
    def suppress(p: argparse.ArgumentParser) -> None:
        p._defaults.clear()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    suppress(sub)
            elif action.option_strings:
                action.default = argparse.SUPPRESS

    p = parser()
    suppress(p)
    return set(vars(p.parse_args(argv)))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nas`` console script."""
    argv = _dash_values(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    args.typed = _typed(argv)
    try:
        return args.func(args)
    except NasError as e:  # escaped as a last guard: whatever a message quotes, it stays one line
        print(f"nas: error: {_one_line(str(e), limit=2000)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nas: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `nas seeds | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
