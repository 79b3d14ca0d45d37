"""The ``nas`` command line: ``nas search``, ``nas dashboard``, ``nas decode``, ``nas seeds``, ``nas spaces``,
``nas blocks``, ``nas supernet``. This module assembles the parser and runs a command; the commands live in
``inspection`` (the read-only ones), ``search``, ``dashboard`` and ``..supernet_cli``, the argument types in ``args``.

Input mistakes print one line, ``nas: error: <file>: <field path>: <what was expected>``, and exit with 2.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Sequence

from ...errors import NasError
from . import dashboard, inspection, search
from .args import EXIT_USAGE, _address, _budget_arg, _count, _factor, _genome, _positive, _seed


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
    top = _Parser(
        prog="nas",
        description="Neural architecture search for convolutional networks: search a space for the best network "
                    "within a MAC budget; decode genomes into exact layer tables, parameters and MACs, torch models "
                    "and ONNX; list the classic seed networks and the search spaces.",
        epilog="MACs are conv + fully-connected multiply-accumulates (FLOPs = 2 x MACs). "
               "Run `nas COMMAND --help` for a command's options.")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    inspection.add_parsers(sub)
    search.add_parser(sub)
    dashboard.add_parser(sub)
    from ..supernet_cli import add_commands

    add_commands(sub, {"budget": _budget_arg, "positive": _positive, "count": _count, "factor": _factor,
                       "seed": _seed, "address": _address}, _genome)
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

