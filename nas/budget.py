"""MAC budgets written as users write them: ``300M``, ``1.5G``, ``4.2k``, ``300e6``, ``300000000``."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from .errors import NasError

_SI = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKMGT]?)\s*$")


def parse_budget(text: str | int | float) -> int:
    """A positive whole number of MACs from ``300M`` (SI: M = 10^6), ``1.5G``, ``4.2k``, ``300e6`` or an int.

    >>> parse_budget("300M"), parse_budget("1.5G"), parse_budget("4.2k"), parse_budget("300e6")
    (300000000, 1500000000, 4200, 300000000)
    """
    if isinstance(text, bool):
        raise NasError(f"budget must be a number of MACs such as 300M, got {text!r}")
    m = _RE.match(str(text))
    if not m:
        raise NasError(f"budget '{text}' is not a number of MACs; write it like 300M, 1.5G, 4.2k, 300e6 or 300000000")
    try:
        value = Decimal(m.group(1)) * _SI[m.group(2)]
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise NasError(f"budget '{text}' is not a number") from None
    if value != value.to_integral_value():
        raise NasError(f"budget '{text}' is not a whole number of MACs")
    if value <= 0:
        raise NasError(f"budget '{text}' must be positive")
    return int(value)
