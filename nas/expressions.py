"""The arithmetic of a defined block's attributes: ``c / 2``, ``divisible(c // 4, 8)``, ``in.h - 2``.

An attribute that is not a plain value is an expression over the block's parameters and its input's shape
(``in.c``, ``in.h``, ``in.w``): integers, + - * / // and parentheses, and calls of ``FUNCTIONS``. Python's own parser
reads it, and only those node types are accepted from its tree; ``/`` must divide exactly.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from ._limits import MAX_EXPRESSION
from .errors import GenomeError, quote


def _fmt(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _divisible(v: int, d: int) -> int:
    """``v`` rounded to the nearest multiple of ``d``, at least ``d``, and not below 90% of ``v`` (MobileNet's
    ``make_divisible``, in integers)."""
    if d <= 0:
        raise GenomeError(f"divisible(v, d) needs a positive d, got {d}")
    out = max(d, (v + d // 2) // d * d)
    return out + d if 10 * out < 9 * v else out


def _ceildiv(a: int, b: int) -> int:
    if b == 0:
        raise GenomeError(f"ceildiv of {a} by zero")
    return -(-a // b)


def _rounddiv(a: int, b: int) -> int:
    if b == 0:
        raise GenomeError(f"round of {a} by zero")
    q, r = divmod(a, b)
    return q + 1 if 2 * r >= abs(b) else q  # halves round up


FUNCTIONS: dict[str, tuple[int, int, Callable[..., int]]] = {
    "min": (2, 8, min), "max": (2, 8, max), "ceildiv": (2, 2, _ceildiv), "round": (2, 2, _rounddiv),
    "divisible": (2, 2, _divisible)}
"""Functions an attribute may call, with their fewest and most arguments: ``min``/``max`` of integers,
``ceildiv(a, b)`` (a / b rounded up), ``round(a, b)`` (a / b to the nearest integer, halves up) and
``divisible(v, d)`` (MobileNet's make_divisible: the nearest multiple of d, at least d, not below 90% of v)."""


class Expr(NamedTuple):
    """An attribute that depends on the parameters or the input shape: the text as written and its parsed tree."""

    text: Any  # a string, or a list of strings and integers for a pair such as ``k: [1, k]``
    tree: tuple[Any, ...]

    def value(self, env: Mapping[str, Any]) -> Any:
        """The attribute's value for resolved parameters and ``in.c``, ``in.h``, ``in.w``."""
        return evaluate(self.tree, env)


_SHAPE_NAME = re.compile(r"\bin\.([chw])\b", re.ASCII)
_SHAPE_IDS = {f"in_{x}__": f"in.{x}" for x in "chw"}  # how in.c is spelled for Python's parser
_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//"}
_SAYS = "an attribute is a value, a parameter's name, or arithmetic on integers with + - * / // ( ) and "


def parse(text: str, known: Sequence[str], path: str) -> tuple[Any, ...]:
    """The tree of ``text``: integers, names, + - * / // and parentheses, and calls of ``FUNCTIONS``; a name not in
    ``known`` fails. Python's own parser reads it (``in.c`` is spelled so that it can: ``in`` is a keyword there),
    and only the node types of that arithmetic are accepted from its tree."""
    if len(text) > MAX_EXPRESSION:
        raise GenomeError(f"an expression is at most {MAX_EXPRESSION} characters, got {len(text):,}", path)
    if not text.strip():
        raise GenomeError("expected a value, a parameter's name or an expression, got an empty string", path)
    source = _SHAPE_NAME.sub(lambda m: f"in_{m.group(1)}__", text.strip())
    try:
        body = ast.parse(source, mode="eval").body
    except SyntaxError as e:
        raise GenomeError(f"cannot read {quote(text)}: {e.msg}", path) from None

    def fail(what: str) -> GenomeError:
        return GenomeError(f"cannot read {quote(text)}: {what}", path)

    def tree(node: ast.expr) -> tuple[Any, ...]:
        if isinstance(node, ast.Constant):
            written = ast.get_source_segment(source, node) or ""
            if isinstance(node.value, bool) or not isinstance(node.value, int) or not written.isdigit():
                raise fail(f"{written or node.value!r} is not a whole number written in digits; {_SAYS}"
                           f"{', '.join(FUNCTIONS)}")
            return ("n", node.value)
        if isinstance(node, ast.Name):
            name = _SHAPE_IDS.get(node.id, node.id)
            if name not in known:
                raise GenomeError(f"unknown name {quote(name)} in {quote(text)}; known: {', '.join(known) or 'none'}",
                                  path)
            return ("v", name)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return ("neg", tree(node.operand))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return (_BINARY[type(node.op)], tree(node.left), tree(node.right))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name not in FUNCTIONS:
                raise GenomeError(f"unknown function {quote(name)} in {quote(text)}; functions: "
                                  f"{', '.join(FUNCTIONS)}", path)
            if node.keywords or any(isinstance(x, ast.Starred) for x in node.args):
                raise fail(f"{name} takes its arguments in order, without names")
            low, high, _ = FUNCTIONS[name]
            if not low <= len(node.args) <= high:
                want = str(low) if low == high else f"{low} to {high}"
                raise fail(f"{name} takes {want} arguments, got {len(node.args)}")
            return ("call", name, tuple(tree(x) for x in node.args))
        what = ast.get_source_segment(source, node) or type(node).__name__
        raise fail(f"{what!r} is not allowed; {_SAYS}{', '.join(FUNCTIONS)}")

    return tree(body)


def evaluate(tree: tuple[Any, ...], env: Mapping[str, Any]) -> Any:
    kind = tree[0]
    if kind == "n":
        return tree[1]
    if kind == "v":
        if tree[1] not in env:  # only the shape names can be missing: a flat vector has no height or width
            raise GenomeError(f"{tree[1]} is not defined for a block input of {_fmt(env['in.shape'])}")
        return env[tree[1]]
    if kind == "list":
        return [evaluate(x, env) for x in tree[1]]
    if kind == "call":
        return FUNCTIONS[tree[1]][2](*[_operand(x, env) for x in tree[2]])
    if kind == "neg":
        return -_operand(tree[1], env)
    a, b = _operand(tree[1], env), _operand(tree[2], env)
    if kind == "+":
        return a + b
    if kind == "-":
        return a - b
    if kind == "*":
        return a * b
    if b == 0:
        raise GenomeError(f"division of {a} by zero")
    if kind == "/" and a % b:  # exact: c / 2 of an odd c is a mistake to report, not a channel to drop silently
        raise GenomeError(f"{a} / {b} is not a whole number (// rounds down)")
    return a // b


def _operand(tree: tuple[Any, ...], env: Mapping[str, Any]) -> int:
    v = evaluate(tree, env)
    if isinstance(v, bool) or not isinstance(v, int):
        raise GenomeError(f"{tree[1]} is {quote(v)}; arithmetic needs integers")
    return v
