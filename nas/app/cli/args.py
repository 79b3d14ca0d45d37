"""Argument types and path checks of the ``nas`` command: each refuses a bad value with one line."""

from __future__ import annotations

import argparse
import math
import os
import re
import stat
from pathlib import Path
from typing import Callable

from ..._limits import MAX_COUNT, MAX_SHARE
from ...errors import NasError, quote_arg
from ...genome import Genome, load, parse_shape

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
    from ...zoo import SEEDS, get_seed, seeds

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
    from ...budget import parse_budget

    try:
        parse_budget(text)
    except NasError as e:
        raise argparse.ArgumentTypeError(e.message) from None
    return text


def _cap_arg(unit: str) -> Callable[[str], str]:
    """A cap on params or activations, written like a budget (``3M``)."""
    def check(text: str) -> str:
        from ...budget import parse_budget

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
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or HOST:PORT with a port from 1 to 65535, got {quote_arg(text)}")
    return text


def _port(text: str) -> int:
    """A TCP port to listen on, 1 to 65535."""
    return _integer(text, 1, 65535, "a port from 1 to 65535")


def _host(text: str) -> str:
    """A host name or address to bind to: no blanks, no control characters, at most 253 characters."""
    if not text or len(text) > 253 or not text.isprintable() or " " in text:
        raise argparse.ArgumentTypeError(f"expected a host name or address, got {quote_arg(text)}")
    return text


