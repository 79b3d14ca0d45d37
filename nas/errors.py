"""The one exception type for mistakes a user can fix; the CLI prints it on one line and exits 2."""

from __future__ import annotations


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

    def at(self, path: str = "", source: str = "") -> "NasError":
        """Return a copy that names where the mistake is (an outer path is put in front of an inner one)."""
        inner = self.path
        joined = f"{path}{'' if not inner or inner.startswith('[') else '.'}{inner}" if path and inner else path or inner
        return type(self)(self.message, joined, source or self.source)

    def __str__(self) -> str:
        parts = [p for p in (self.source, self.path, self.message) if p]
        return ": ".join(parts)


class GenomeError(NasError):
    """A genome that is not well formed or whose shapes do not fit together."""


def quote(value: object, limit: int = 60) -> str:
    """User text for a one-line message: quoted, control characters escaped as ``repr`` does, cut past ``limit``.

    >>> quote("mobile\\nnet"), quote("a" * 100, limit=5)
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
