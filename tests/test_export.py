"""The primitive-op table and the exports that read it: every op has an entry, every block type exports.

For every registered block type (its registry example) and every small seed, the standalone ``--python`` source
builds a module with the builder's parameters, in the builder's order, initialized to the builder's values under
the same torch seed, computing the builder's outputs; and the ONNX export passes the checker and computes the
same outputs in onnx's reference evaluator (onnxruntime where it is installed).
"""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from test_genome import BLOCK_EXAMPLES, single_block_genome

import nas
from nas import _trace, ops
from nas._trace import Node
from nas.export import to_onnx, to_python

SMALL_SEEDS = [s for s in nas.seeds() if nas.cost(nas.seed(s)).params <= 2_000_000]
"""Seeds small enough to build twice and run on one image in a test."""


def traced_ops() -> set[str]:
    """Every op name ``Tracer`` can record, read from the calls to ``Tracer._add`` in its source."""
    tree = ast.parse(Path(_trace.__file__).read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "_add":
            first = node.args[0]
            if isinstance(first, ast.Constant):
                names.add(first.value)
            else:  # pool records its kind
                assert isinstance(first, ast.Name) and first.id == "kind", ast.dump(first)
                names.update(_trace.POOLS)
    return names


def test_every_primitive_op_has_one_entry() -> None:
    assert traced_ops() == set(ops.MODULES), \
        "a primitive op of the Tracer without an entry in nas.ops.MODULES (or the reverse)"
    assert set(ops.ACTIVATION_MODULES) == set(nas.ACTIVATIONS)


def test_an_op_without_an_entry_fails_loudly() -> None:
    n = Node("stem.0.warp1", "warp", ("input",), {}, (3, 8, 8), 0, 0, 0)
    with pytest.raises(NotImplementedError, match="'warp' has no entry in nas.ops.MODULES"):
        ops.module(n)
    with pytest.raises(NotImplementedError, match="'warp' has no entry"):
        ops.source(n)


def standalone(g: nas.Genome) -> torch.nn.Module:
    """The ``to_python`` source of ``g``, executed, and its model constructed; the file imports only torch."""
    source = to_python(g)
    imports = {line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports == {"torch"}
    namespace: dict[str, object] = {"__name__": "standalone"}
    exec(compile(source, "<standalone>", "exec"), namespace)
    return namespace["Net"]()  # type: ignore[operator]


def assert_export_matches_build(g: nas.Genome) -> None:
    """Same parameter count, order and initial values as the builder's model, and the same outputs in eval mode."""
    torch.manual_seed(1)
    built = nas.build(g).eval()
    torch.manual_seed(1)
    model = standalone(g).eval()
    src, dst = list(built.parameters()), list(model.parameters())
    assert sum(p.numel() for p in dst) == sum(p.numel() for p in src) == nas.cost(g).params
    assert [tuple(p.shape) for p in dst] == [tuple(p.shape) for p in src]
    for p, q in zip(src, dst):  # the same initialization, value for value, from the same torch seed
        assert torch.equal(p, q)
    x = torch.randn(2, *g.input)
    with torch.no_grad():
        for p, q in zip(src, dst):  # weights other than the initial ones, still copied by position
            q.copy_(p.add_(0.01 * torch.randn_like(p)))
        torch.testing.assert_close(model(x), built(x), rtol=1e-4, atol=1e-5)


def block_genome(name: str, example: int = 0) -> nas.Genome:
    """A registry example of ``name`` in a small genome, with a drop-path ramp so drop-path ops are traced."""
    return replace(single_block_genome(name, example), drop_path=0.2)


@pytest.mark.parametrize("name, example", BLOCK_EXAMPLES)
def test_every_block_type_exports_to_python(name: str, example: int) -> None:
    assert_export_matches_build(block_genome(name, example))


@pytest.mark.parametrize("name", SMALL_SEEDS)
def test_every_small_seed_exports_to_python(name: str) -> None:
    assert_export_matches_build(nas.seed(name))


def every_op() -> list[Node]:
    """One traced node of every primitive op (a channel slice included, which no block type uses yet)."""
    t = _trace.Tracer((8, 6, 6))
    t.begin("probe")
    x = t.input
    y = t.conv(x, 8, 3, groups=2, bias=True)
    t.add(x, y), t.mean(x, y), t.concat(x, y), t.mul(x, t.gap(x)), t.zero(x)
    t.lrn(t.act(t.bn(x), "leaky_relu"), 3, 1e-4, 0.75, 2.0)
    t.dropout(t.droppath(x, 0.2), 0.5)
    t.scale(t.ln(x, 1e-5), 0.5)
    t.pool(x, "maxpool", 3, 2, 1, ceil=True), t.pool(x, "avgpool", 3, 2, 1, count_include_pad=False)
    t.shuffle(x, 4), t.slice(x, 2, 5)
    t.linear(t.flatten(x), 10)
    return t.nodes


def test_every_ops_module_and_its_source_compute_the_same() -> None:
    nodes = every_op()
    assert {n.op for n in nodes} == set(ops.MODULES)
    shapes = {"input": (8, 6, 6), **{n.name: n.shape for n in nodes}}
    namespace: dict[str, object] = {"torch": torch, "nn": torch.nn}
    for cls in {c for c in vars(ops).values() if isinstance(c, type) and ops.own(c)}:
        exec(ops.source_of(cls), namespace)
    for n in nodes:
        text, cls = ops.source(n)
        torch.manual_seed(2)
        built = ops.module(n).eval()
        torch.manual_seed(2)
        written = eval(text, namespace).eval()
        assert type(written).__name__ == cls.__name__ and repr(written) == repr(built)
        xs = [torch.randn(2, *shapes[i]) for i in n.inputs]
        with torch.no_grad():
            torch.testing.assert_close(written(*xs), built(*xs))


@pytest.mark.parametrize("name, example", BLOCK_EXAMPLES)
@pytest.mark.slow
def test_every_block_type_exports_to_onnx(name: str, example: int, tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    g = replace(block_genome(name, example), input=(3, 12, 12))
    try:
        nas.cost(g)
    except nas.GenomeError:
        g = block_genome(name, example)
    built = nas.build(g).eval()
    path = to_onnx(g, tmp_path / f"{name}.onnx", model=built)  # onnx.checker runs inside
    x = np.random.default_rng(0).standard_normal((2, *g.input)).astype(np.float32)
    with torch.no_grad():
        expected = built(torch.from_numpy(x)).numpy()
    try:
        import onnxruntime

        y = onnxruntime.InferenceSession(str(path)).run(None, {"input": x})[0]
    except ImportError:
        from onnx.reference import ReferenceEvaluator

        model = onnx.load(str(path))
        y = ReferenceEvaluator(model).run(None, {model.graph.input[0].name: x})[0]
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
