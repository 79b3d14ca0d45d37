"""The one exception type for mistakes a user can fix; the CLI prints it on one line and exits 2."""

from __future__ import annotations

import re
import reprlib
from typing import Any, TypeVar

QUOTE_LIMIT = 60
"""About how many characters of a user's value a message echoes before cutting it with an ellipsis."""

# Everything str.splitlines() breaks on: escaped, so that a message is always one line.
_BREAKS = {c: repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}
_NO_BREAKS = str.maketrans(_BREAKS)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class _Repr(reprlib.Repr):
    """``reprlib`` bounded by size and depth, and safe for integers too long for ``str()``."""

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 4 * self.maxlong:  # beyond the digits shown; str() of 4,300+ digits even raises
            return f"{'-' if x < 0 else ''}<an integer of about {int(x.bit_length() * 0.30103) + 1:,} digits>"
        return super().repr_int(x, level)


_REPR = _Repr()
_REPR.maxstring = _REPR.maxother = QUOTE_LIMIT
_REPR.maxlong = 40
_REPR.maxlevel = 3


def quote(v: Any, limit: int = QUOTE_LIMIT) -> str:
    """A user's value as a short, one-line ``repr``: ``quote("relu\\nx") == "'relu\\\\nx'"``; long values end in
    ``...``."""
    try:
        text = _REPR.repr(v)
    except Exception:  # a value whose repr fails is still named, not allowed to crash the message
        text = f"<{type(v).__name__}>"
    text = text.translate(_NO_BREAKS)
    return text if len(text) <= limit + 10 else f"{text[:limit]}..."


def field(path: str, key: Any) -> str:
    """The field path of ``key`` inside ``path``: ``stages[0].k``, or ``stages[0]['k\\nk']`` for an odd key."""
    if isinstance(key, str) and _NAME.match(key) and len(key) <= QUOTE_LIMIT:
        return f"{path}.{key}" if path else key
    return f"{path}[{quote(key)}]"


def one_line(text: str) -> str:
    """``text`` with its line breaks escaped (a last guard: every message is one line)."""
    return text.translate(_NO_BREAKS)


def join_path(outer: str, inner: str) -> str:
    """``inner`` placed inside ``outer``: ``join_path("stages[0]", "k") == "stages[0].k"``, ``[1]`` joins without a
    dot."""
    if not (outer and inner):
        return outer or inner
    return f"{outer}{'' if inner.startswith('[') else '.'}{inner}"


_E = TypeVar("_E", bound="NasError")


class NasError(Exception):
    """An input mistake (bad YAML, unknown name, impossible genome, bad budget), never a bug.

    ``path`` is the field path inside the input (``stages[2].blocks[0].k``) and ``source`` the file or
    name it came from; both are optional and appear in front of the message when set.
    """

    def __init__(self, message: str, path: str = "", source: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.source = source

    def at(self: _E, path: str = "", source: str = "") -> _E:
        """Return a copy that names where the mistake is (an outer path is put in front of an inner one)."""
        return type(self)(self.message, join_path(path, self.path), source or self.source)

    def __str__(self) -> str:
        parts = [p for p in (self.source, self.path, self.message) if p]
        return one_line(": ".join(parts))


class GenomeError(NasError):
    """A genome that is not well formed or whose shapes do not fit together."""


def quote_arg(value: object, limit: int = 60) -> str:
    """A command-line argument or name for a one-line message (``quote`` is for values of any type): quoted,
    control characters escaped as ``repr`` does, cut past ``limit``.

    >>> quote_arg("mobile\\nnet"), quote_arg("a" * 100, limit=5)
    ("'mobile\\\\nnet'", "'aaaaa…' (100 characters)")
    """
    text = str(value)
    shown: list[str] = []
    width = 0
    for c in text:  # stops at the limit: a 100 kB value costs no more than a short one
        escaped = "\\'" if c == "'" else repr(c)[1:-1]
        width += len(escaped)
        if width > limit:
            return f"'{''.join(shown)}…' ({len(text):,} characters)"
        shown.append(escaped)
    return f"'{''.join(shown)}'"


class DefinitionError(GenomeError):
    """A mistake inside a block type defined in the genome that only shows where a record uses it (a shape).

    ``path`` points into the definition (``blocks.ghost.nodes[2].in``); ``site`` names the record that used it
    (``stages[0].blocks[1]``), which placing the error at an outer path extends instead of ``path``.
    """

    def __init__(self, message: str, path: str = "", source: str = "", site: str = "") -> None:
        super().__init__(message, path, source)
        self.site = site

    def at(self, path: str = "", source: str = "") -> "DefinitionError":
        """A copy used at the record ``path`` (an outer record is put in front of an inner one)."""
        return DefinitionError(self.message, self.path, source or self.source, join_path(path, self.site))

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} (used by {self.site})" if self.site else text
