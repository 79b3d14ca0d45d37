"""Block types defined in the genome itself: a small named graph of primitive ops under the top-level ``blocks:``.

```yaml
blocks:
  ghost:
    params: {c: channels, s: {kind: stride, default: 1}}
    nodes:
    - {name: primary, op: conv, c: c / 2, k: 1, s: s}
    - {name: cheap, op: conv, c: c / 2, k: 3, groups: c / 2}
    - {op: concat, in: [primary, cheap]}
stages:
- [{type: ghost, c: 32, s: 2}, {type: ghost, c: 32, repeat: 2}]
```

A definition's records then read like any built-in type's: the same parameter checks, cost, graph, torch model
and exports, since its expansion calls the same Tracer primitives. Everything that can be checked without an
input shape is checked when the genome is read (ops, attributes, names, inputs, cycles); what depends on the
shape (an add of mismatched maps, an odd split) is reported at the definition's field and names the record.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple, Sequence, cast

from ._frozen import Params
from ._limits import MAX_DEFINITION_NODES
from .errors import DefinitionError, GenomeError, quote
from .errors import field as _field
from .expressions import Expr, parse
from .registry import REGISTRY, BlockType, Param, Width, block_type, local_types

if TYPE_CHECKING:  # the tracer runs a definition; reading one does not load it
    from ._trace import Ref, Tracer

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,59}\Z")
_KINDS = ("int", "channels", "kernel", "stride", "pad", "float", "bool", "act", "choice")
_NUMERIC = ("int", "channels", "kernel", "stride", "pad", "float")  # where a string is always arithmetic
_RESERVED = ("in", "classes", "type", "repeat")  # the block input, the class count, and a record's own keys
_SHAPES = ("in.c", "in.h", "in.w")
_DEF_KEYS = ("params", "nodes", "out")
_SPEC_KEYS = ("kind", "default", "choices")


# ---------------------------------------------------------------- ops


class Op(NamedTuple):
    """A node's op: its attributes (typed like block parameters), how many inputs it takes (0: two or more),
    and the Tracer calls it makes."""

    params: Mapping[str, Param]
    inputs: int
    run: Callable[[Tracer, list[Ref], dict[str, Any]], Ref]


def _layer(name: str) -> Op:
    """A built-in single-input block type as an op, with its parameters and defaults (``conv`` is conv-BN-ReLU)."""
    bt = REGISTRY[name]
    return Op(bt.params, 1, lambda t, xs, a: bt.expand(t, xs[0], a))


def _split(t: Tracer, xs: list[Ref], a: dict[str, Any]) -> Ref:
    c, parts, part = xs[0].shape[0], a["parts"], a["part"]
    if c % parts:
        raise GenomeError(f"cannot split {c} channels into {parts} equal parts")
    if part >= parts:
        raise GenomeError(f"part {part} of a split into {parts}; parts are numbered 0 to {parts - 1}", "part")
    width = c // parts
    return t.slice(xs[0], part * width, (part + 1) * width)


def _linear(t: Tracer, xs: list[Ref], a: dict[str, Any]) -> Ref:
    """``linear`` in a definition: on a vector or a 1x1 map; a larger map is refused, never flattened unasked."""
    shape = xs[0].shape
    if len(shape) == 3 and shape[1] * shape[2] > 1:
        raise GenomeError(f"op linear takes a vector or a 1x1 map, got a {_fmt(shape)} map; pool it first "
                          "({op: gap}), or flatten it on purpose ({op: flatten})")
    return REGISTRY["linear"].expand(t, xs[0], a)


@lru_cache(maxsize=1)
def node_ops() -> dict[str, Op]:
    """The ops a defined block's nodes may use, by name; a node may also name a block type (``_op``). Made on
    first use, from the built-in block types ``nas.blocks`` registers when the package loads."""
    return {
        "conv": _layer("conv"),
        "linear": Op(REGISTRY["linear"].params, 1, _linear),
        **{name: _layer(name) for name in ("bn", "act", "maxpool", "avgpool", "gap", "flatten", "dropout")},
        "add": Op({}, 0, lambda t, xs, a: t.add(*xs)),
        "mean": Op({}, 0, lambda t, xs, a: t.mean(*xs)),
        "concat": Op({}, 0, lambda t, xs, a: t.concat(*xs)),
        "mul": Op({}, 2, lambda t, xs, a: t.mul(*xs)),
        "ln": Op({"eps": Param("float", 1e-6, "added to the variance", lo=0)}, 1,
                 lambda t, xs, a: t.ln(xs[0], a["eps"])),
        "scale": Op({"init": Param("float", 1e-6, "the scale's first value")}, 1,
                    lambda t, xs, a: t.scale(xs[0], a["init"])),
        "droppath": Op({"p": Param("float", 0.0, "probability of dropping the branch per sample", lo=0, hi=1)}, 1,
                       lambda t, xs, a: t.droppath(xs[0], a["p"])),
        "shuffle": Op({"groups": Param("int", 2, "groups")}, 1, lambda t, xs, a: t.shuffle(xs[0], a["groups"])),
        "split": Op({"parts": Param("int", 2, "equal parts"),
                     "part": Param("int", 0, "which part, from 0", lo=0)}, 1, _split),
        "slice": Op({"start": Param("int", 0, "first channel", lo=0),
                     "stop": Param("int", doc="one past the last")}, 1,
                    lambda t, xs, a: t.slice(xs[0], a["start"], a["stop"])),
    }



def _op(name: Any) -> Op | None:
    """The op ``name``: one of ``node_ops()``, else a block type (built in, or defined earlier in the genome) used on
    the node's one input with the type's parameters as attributes; None for anything else."""
    if not isinstance(name, str):
        return None
    ops = node_ops()
    if name in ops:
        return ops[name]
    try:
        bt = block_type(name)
    except GenomeError:
        return None
    return Op(bt.params, 1, lambda t, xs, a: bt.expand(t, xs[0], a))


def _fmt(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


# ---------------------------------------------------------------- definitions


class _Node(NamedTuple):
    position: int  # its place in the definition's node list
    name: str
    op: str
    inputs: tuple[int, ...]  # node indices; -1 is the block input
    attrs: dict[str, Any]  # checked literals, or Expr to evaluate at each use
    written: frozenset[str]  # the keys as written, to point an error at the one to blame


@dataclass(frozen=True, eq=True)
class BlockDef:
    """A block type defined in the genome, in canonical form (what ``to_dict`` writes back, defaults left out)."""

    name: str
    params: Params  # parameter name -> kind, or {kind, default, choices}
    nodes: tuple[Params, ...]
    out: str = ""  # the output node's name, when it is not the last node
    type: BlockType | None = field(default=None, compare=False, repr=False)
    earlier: tuple[BlockDef, ...] = field(default=(), compare=False, repr=False)  # what its nodes may use

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the genome's ``blocks:`` mapping."""
        out: dict[str, Any] = {}
        if self.params:
            out["params"] = {k: _to_lists(v) for k, v in self.params.items()}
        out["nodes"] = [{k: _to_lists(v) for k, v in n.items()} for n in self.nodes]
        if self.out:
            out["out"] = self.out
        return out

    def __reduce__(self) -> tuple[Any, ...]:  # the compiled type is rebuilt, not pickled, with what it may use
        return (_rebuild, (self.name, self.to_dict(), tuple((e.name, e.to_dict()) for e in self.earlier)))


def _rebuild(name: str, data: dict[str, Any], earlier: tuple[tuple[str, dict[str, Any]], ...] = ()) -> BlockDef:
    return definitions({**dict(earlier), name: data}, "blocks")[-1]


def _to_lists(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {k: _to_lists(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_to_lists(x) for x in v]
    return v


def definitions(v: Any, path: str = "blocks") -> tuple[BlockDef, ...]:
    """The genome's ``blocks:`` mapping (name -> definition), each checked."""
    if v is None:
        return ()
    if not isinstance(v, Mapping):
        raise GenomeError("expected a mapping of block type names to definitions {params: ..., nodes: [...]}", path)
    out: list[BlockDef] = []
    for name, d in v.items():  # each may use the ones written before it as ops
        with defined(out):
            out.append(definition(name, d, path, tuple(out)))
    return tuple(out)


def defined(defs: Sequence[BlockDef]) -> AbstractContextManager[None]:
    """Within the ``with``, records may name the block types ``defs`` define."""
    if not defs:
        return nullcontext()
    return local_types({d.name: d.type for d in defs if d.type is not None})


def definition(name: Any, d: Any, path: str = "blocks", earlier: tuple[BlockDef, ...] = ()) -> BlockDef:
    """One checked definition ``name: {params, nodes, out}``; mistakes name the field inside it."""
    where = _field(path, name)
    if not isinstance(name, str) or not _IDENT.match(name):
        raise GenomeError(f"a block type's name is a word of letters, digits and _, got {quote(name)}", where)
    if name in REGISTRY:
        raise GenomeError(f"the name shadows the built-in block type '{name}'; choose another", where)
    if not isinstance(d, Mapping):
        raise GenomeError(f"expected a definition {{params: ..., nodes: [...]}}, got {quote(d)}", where)
    for key in d:
        if key not in _DEF_KEYS:
            raise GenomeError(f"unknown key; a definition has {', '.join(_DEF_KEYS)}", _field(where, key))
    specs, written = _params(d.get("params"), f"{where}.params")
    nodes, canon = _nodes(d.get("nodes"), specs, f"{where}.nodes")
    out = _out(d.get("out"), nodes, f"{where}.out")
    order = _order(nodes, out, f"{where}.nodes")
    compiled = _Compiled(f"{where}.nodes", [nodes[i] for i in order], out)
    # a definition with a drop_path parameter takes its rate from the genome's ramp, like the built-in residual units
    bt = BlockType(name, compiled.expand, specs, "defined in the genome", drop_path="drop_path" in specs)
    return BlockDef(name, Params(written), tuple(canon), "" if out == len(nodes) - 1 else nodes[out].name, bt,
                    earlier)


def _params(v: Any, path: str) -> tuple[dict[str, Param], dict[str, Any]]:
    """The parameter specs, and their canonical written form: a bare kind, or {kind, default, choices}."""
    if v is None:
        return {}, {}
    if not isinstance(v, Mapping):
        raise GenomeError("expected a mapping of parameter names to kinds, e.g. {c: channels}", path)
    specs: dict[str, Param] = {}
    written: dict[str, Any] = {}
    for name, s in v.items():
        where = _field(path, name)
        if not isinstance(name, str) or not _IDENT.match(name) or name in _RESERVED:
            raise GenomeError(f"a parameter's name is a word of letters, digits and _ other than "
                              f"{', '.join(_RESERVED)}, got {quote(name)}", where)
        spec = s if isinstance(s, Mapping) else {"kind": s}
        for key in spec:
            if key not in _SPEC_KEYS:
                raise GenomeError(f"unknown key; a parameter has {', '.join(_SPEC_KEYS)}", _field(where, key))
        kind = spec.get("kind")
        if kind not in _KINDS:
            at = f"{where}.kind" if isinstance(s, Mapping) else where
            raise GenomeError(f"unknown parameter kind {quote(kind)}; valid: {', '.join(_KINDS)}", at)
        choices = _choices(spec, kind, f"{where}.choices")
        # a channel count is scaled with the network's width (estimators.scale_width), like a built-in one
        p = Param(kind, doc=kind, choices=choices, width=Width("channels") if kind == "channels" else None)
        canon: dict[str, Any] = {"kind": kind}
        if choices:
            canon["choices"] = list(choices)
        if "default" in spec:
            probe = replace(p, default=None) if spec["default"] is None else p  # null: none, automatic, or the window
            p = replace(p, default=probe.check(spec["default"], f"{where}.default"))
            canon["default"] = p.default
        specs[name] = p
        written[name] = kind if len(canon) == 1 else canon
    return specs, written


def _choices(spec: Mapping[Any, Any], kind: str, path: str) -> tuple[Any, ...]:
    if kind != "choice":
        if "choices" in spec:
            raise GenomeError(f"only a parameter of kind choice has choices, not one of kind {kind}", path)
        return ()
    v = spec.get("choices")
    if not isinstance(v, (list, tuple)) or not v or not all(isinstance(x, (str, int)) for x in v):
        raise GenomeError(f"expected a non-empty list of words or integers, got {quote(v)}", path)
    return tuple(v)


def _nodes(v: Any, specs: Mapping[str, Param], path: str) -> tuple[list[_Node], list[Params]]:
    """The nodes, checked one by one, and their canonical written form."""
    if not isinstance(v, (list, tuple)) or not v:
        raise GenomeError("expected a non-empty list of nodes {name, op, in, attributes...}", path)
    if len(v) > MAX_DEFINITION_NODES:
        raise GenomeError(f"a defined block has at most {MAX_DEFINITION_NODES} nodes, got {len(v):,}", path)
    index: dict[str, int] = {}
    for i, n in enumerate(v):  # every name first: a node may read one listed after it
        where = f"{path}[{i}]"
        if not isinstance(n, Mapping):
            raise GenomeError(f"expected a node {{name, op, in, ...}}, got {quote(n)}", where)
        name = n.get("name", "")
        if name != "" and (not isinstance(name, str) or not _IDENT.match(name) or name == "in"):
            raise GenomeError(f"a node's name is a word of letters, digits and _ other than in, got {quote(name)}",
                              f"{where}.name")
        if name in index:
            raise GenomeError(f"two nodes are named '{name}' (nodes[{index[name]}] and this one)", f"{where}.name")
        if name:
            index[name] = i
    known = [*specs, *_SHAPES]
    nodes, canon = [], []
    for i, n in enumerate(v):
        node, written = _node(i, n, index, v, specs, known, f"{path}[{i}]")
        nodes.append(node)
        canon.append(Params(written))
    return nodes, canon


def _node(i: int, n: Mapping[Any, Any], index: Mapping[str, int], all_nodes: Sequence[Mapping[Any, Any]],
          specs: Mapping[str, Param], known: Sequence[str], where: str) -> tuple[_Node, dict[str, Any]]:
    op_name = n.get("op")
    op = _op(op_name)
    if op is None:
        raise GenomeError(f"unknown op {quote(op_name)}; valid ops: {', '.join(node_ops())}, or a block type "
                          "(built in, or defined above this one)", f"{where}.op")
    op_name = cast(str, op_name)  # a name the op table knows
    previous = "in" if i == 0 else str(all_nodes[i - 1].get("name", ""))
    inputs, names = _inputs(n, op, op_name, index, previous, i, where)
    attrs: dict[str, Any] = {}
    written: dict[str, Any] = {"name": n["name"]} if n.get("name") else {}
    written["op"] = op_name
    if names is not None and names != ([previous] if previous else None):
        written["in"] = names[0] if len(names) == 1 and op.inputs == 1 else list(names)
    for key in n:
        if key in ("name", "op", "in"):
            continue
        if key not in op.params:
            valid = ", ".join(("name", "op", "in", *op.params))
            raise GenomeError(f"unknown attribute for op '{op_name}'; valid: {valid}", _field(where, key))
    for key, spec in op.params.items():  # the op's own order, so that nodes describing the same op print alike
        if key not in n:
            if spec.required:
                raise GenomeError(f"op '{op_name}' needs attribute '{key}' ({spec.doc})", where)
            continue
        attrs[key] = value = _attribute(n[key], spec, specs, known, _field(where, key))
        if isinstance(value, Expr):
            written[key] = value.text
        elif value != spec.default:
            written[key] = value
    return _Node(i, n.get("name", ""), op_name, inputs, attrs, frozenset(n)), written


def _inputs(n: Mapping[Any, Any], op: Op, op_name: str, index: Mapping[str, int], previous: str, i: int,
            where: str) -> tuple[tuple[int, ...], list[str] | None]:
    """The node's inputs as indices, and the names as written (``None`` for the default, the node before)."""
    if "in" not in n:
        if op.inputs != 1:
            many = "two" if op.inputs == 2 else "two or more"
            raise GenomeError(f"op '{op_name}' takes {many} inputs: name them in 'in', e.g. in: [a, b]", where)
        return (i - 1,), ([previous] if previous else None)
    v = n["in"]
    names = [v] if isinstance(v, str) else v
    if not isinstance(names, (list, tuple)) or not names:
        raise GenomeError(f"expected a node's name or a list of names, got {quote(v)}", f"{where}.in")
    paths = [f"{where}.in"] if isinstance(v, str) else [f"{where}.in[{j}]" for j in range(len(names))]
    count = len(names)
    if (op.inputs == 0 and count < 2) or (op.inputs and count != op.inputs):
        want = "two or more" if op.inputs == 0 else {1: "one", 2: "two"}[op.inputs]
        raise GenomeError(f"op '{op_name}' takes {want} inputs, got {count}", f"{where}.in")
    out = []
    for name, at in zip(names, paths):
        if name == "in":
            out.append(-1)
        elif isinstance(name, str) and name in index:
            out.append(index[name])
        else:
            valid = ", ".join(["in", *index])
            raise GenomeError(f"no node named {quote(name)}; valid inputs: {valid} (in is the block's input)", at)
    return tuple(out), list(names)


def _attribute(v: Any, spec: Param, specs: Mapping[str, Param], known: Sequence[str], path: str) -> Any:
    """A literal checked now, or an Expr for what depends on the parameters or the input shape."""
    if isinstance(v, str) and v != "classes" and (spec.kind in _NUMERIC or v in specs):
        return Expr(v, parse(v, known, path))
    if isinstance(v, (list, tuple)) and spec.kind in ("kernel", "stride", "pad") and \
            any(isinstance(x, str) for x in v):
        trees = tuple(parse(x, known, f"{path}[{j}]") if isinstance(x, str) else ("n", x) for j, x in enumerate(v))
        return Expr(list(v), ("list", trees))
    return spec.check(v, path)


def _out(v: Any, nodes: Sequence[_Node], path: str) -> int:
    if v is None:
        return len(nodes) - 1
    for n in nodes:
        if n.name and n.name == v:
            return n.position
    raise GenomeError(f"no node named {quote(v)}; out names the output node (default: the last)", path)


def _order(nodes: Sequence[_Node], out: int, path: str) -> list[int]:
    """The nodes in an order that computes every input first (the written order where it does); a cycle, or a
    node whose result nothing uses, is refused."""
    state: dict[int, int] = {}  # 1: on the current path, 2: done
    order: list[int] = []

    def label(i: int) -> str:
        return nodes[i].name or f"nodes[{i}]"

    def visit(i: int, trail: list[int]) -> None:
        state[i] = 1
        trail.append(i)
        for j in nodes[i].inputs:
            if j < 0 or state.get(j) == 2:
                continue
            if state.get(j) == 1:
                cycle = trail[trail.index(j):] + [j]
                raise GenomeError(f"the nodes form a cycle: {' -> '.join(label(k) for k in reversed(cycle))}",
                                  f"{path}[{i}].in")
            visit(j, trail)
        trail.pop()
        state[i] = 2
        order.append(i)

    for i in range(len(nodes)):
        if i not in state:
            visit(i, [])
    used = {out}
    for i in reversed(order):  # reversed topological order: a node's users come before it
        if i in used:
            used.update(j for j in nodes[i].inputs if j >= 0)
    for i in range(len(nodes)):
        if i not in used:
            what = f"node '{nodes[i].name}'" if nodes[i].name else "this node"
            raise GenomeError(f"{what} does not lead to the block's output (the last node, or the one named by out)",
                              f"{path}[{i}]")
    return order


class _Compiled:
    """A checked definition, ready to expand: its nodes in computing order and the output node."""

    def __init__(self, path: str, nodes: list[_Node], out: int) -> None:
        self.path, self.nodes, self.out = path, nodes, out

    def expand(self, t: Tracer, x: Ref, p: dict[str, Any]) -> Ref:
        """Trace the nodes on the input ``x`` with the resolved parameters ``p``."""
        env: dict[str, Any] = {**p, "in.shape": x.shape, **dict(zip(_SHAPES, x.shape))}
        refs: dict[int, Ref] = {-1: x}
        for n in self.nodes:
            try:
                refs[n.position] = self._run(t, n, [refs[i] for i in n.inputs], env)
            except GenomeError as e:
                head = e.path.split(".")[0].split("[")[0]  # the op's field, or the attribute that failed
                at = e.path if head in n.written and head != "name" else "in"
                raise DefinitionError(e.message, f"{self.path}[{n.position}].{at}") from None
        return refs[self.out]

    @staticmethod
    def _run(t: Tracer, n: _Node, xs: list[Ref], env: Mapping[str, Any]) -> Ref:
        op = _op(n.op)
        assert op is not None  # checked when the definition was read
        a = {k: s.default for k, s in op.params.items() if not s.required}
        for k, v in n.attrs.items():
            if isinstance(v, Expr):
                try:
                    v = op.params[k].check(v.value(env), k)
                except GenomeError as e:
                    raise GenomeError(e.message, e.path or k) from None
            a[k] = v
        for k, s in op.params.items():  # linear's c: the number of classes, written or by default
            if s.kind == "channels" and a.get(k) == "classes":
                a[k] = t.classes
        # a block used as an op: its own names
        scope = n.name or (f"{n.op}{n.position}" if n.op not in node_ops() else "")
        with t.scope(scope) if scope else nullcontext():
            return op.run(t, xs, a)
