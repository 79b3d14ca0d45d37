"""MAC budgets written as users write them: ``300M``, ``1.5G``, ``4.2k``, ``300e6``, ``300000000``."""

from __future__ import annotations

import re

from .errors import NasError, quote_arg

_SI = {"": 0, "k": 3, "K": 3, "M": 6, "G": 9, "T": 12}
# Each part matches in one way only (digits, then an optional fraction, or a bare fraction), so the match is linear
# in the length; `[0-9]*\.?[0-9]+` could split a run of digits in quadratically many ways before failing. ASCII
# only, and at most one plain space before the SI prefix: a newline or a no-break space is a typo, not a budget.
_RE = re.compile(r"(?P<minus>-)?(?P<int>[0-9]+)?(?:\.(?P<frac>[0-9]+))?(?:[eE](?P<exp>[+-]?[0-9]+))? ?(?P<si>[kKMGT]?)",
                 re.ASCII)
MAX_BUDGET = 10**18  # far above any network's MACs; beyond it a budget is a typo, and floats cannot print it
_MAX_TEXT = "10^18"
_MAX_CHARS = 40  # longer text is no budget anyone means; refused before any matching or arithmetic
_EXAMPLES = "write it like 300M, 1.5G, 4.2k, 300e6 or 300000000"


def parse_budget(text: str | int | float, unit: str = "MACs") -> int:
    """A positive whole number of MACs (or of another ``unit``: params, activations) from ``300M`` (SI: M = 10^6),
    ``1.5G``, ``4.2k``, ``300e6`` or an int.

    >>> parse_budget("300M"), parse_budget("1.5G"), parse_budget("4.2k"), parse_budget("300e6")
    (300000000, 1500000000, 4200, 300000000)
    """
    if isinstance(text, bool):
        raise NasError(f"budget must be a number of {unit} such as 300M, got {text!r}")
    if isinstance(text, int):  # str() of a huge int would trip Python's 4,300-digit limit
        return _checked(text, str(text) if text.bit_length() < 256 else f"of {text.bit_length():,} bits", True, unit)
    s = str(text)
    if len(s) > _MAX_CHARS:
        raise NasError(f"budget {quote_arg(s, 20)} is too long for a number of {unit} "
                       f"(at most {_MAX_CHARS} characters)")
    m = _RE.fullmatch(s)
    if not m or (m["int"] is None and m["frac"] is None):
        raise NasError(f"budget {quote_arg(s)} is not a number of {unit}; {_EXAMPLES}")
    # Exact integer arithmetic on digits and a power of ten: no Decimal context to round 1.000...01 to 1 or to
    # overflow on 1e1000000, and the exponent is bounded before any power is taken.
    digits = ((m["int"] or "") + (m["frac"] or "")).lstrip("0")
    if not digits or m["minus"]:
        raise NasError(f"budget {quote_arg(s)} must be positive")
    power = int(m["exp"] or 0) + _SI[m["si"]] - len(m["frac"] or "")
    if len(digits) + power > len(str(MAX_BUDGET)):  # at least 10 x MAX_BUDGET: no need to build the number
        raise NasError(f"budget {quote_arg(s)} is above the largest budget, {_MAX_TEXT} {unit}")
    if power < 0:
        whole, rest = digits[:power], digits[power:]
        if rest.strip("0"):
            raise NasError(f"budget {quote_arg(s)} is not a whole number of {unit}")
        return _checked(int(whole), s, False, unit)
    return _checked(int(digits) * 10**power, s, False, unit)


def _checked(value: int, text: str, exact: bool, unit: str) -> int:
    """``value`` when it is a budget: positive and at most MAX_BUDGET."""
    shown = text if exact else quote_arg(text)
    if value <= 0:
        raise NasError(f"budget {shown} must be positive")
    if value > MAX_BUDGET:
        raise NasError(f"budget {shown} is above the largest budget, {_MAX_TEXT} {unit}")
    return value
