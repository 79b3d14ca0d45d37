"""Exports of a built genome: ONNX, and a standalone PyTorch source file that imports only torch."""

from __future__ import annotations

import io
import logging
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING

from ._trace import Node
from .errors import NasError
from .genome import Genome
from .network import trace

if TYPE_CHECKING:  # pragma: no cover
    import torch


def to_onnx(g: Genome, path: str | Path, opset: int = 18, model: "torch.nn.Module | None" = None) -> Path:
    """Export the built model (or ``model``, e.g. a trained one) to ONNX, checked with ``onnx.checker``.

    The batch dimension stays dynamic; the model is exported in eval mode (batch norm folded by the exporter).
    """
    try:
        import onnx
        import torch
    except ImportError:  # pragma: no cover - depends on the environment
        raise NasError("ONNX export needs the 'export' extra: pip install 'nas[export]'") from None
    from .builder import build

    model = (model if model is not None else build(g)).eval()
    x = torch.zeros(1, *g.input)
    p = Path(path)
    # The exporter reports progress on stdout, stderr and its logger; keep the CLI's output to what was asked.
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), str(p), input_names=["input"], output_names=["logits"],
                              dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1)}}, opset_version=opset,
                              external_data=False, dynamo=True)
    finally:
        log.setLevel(level)
    onnx.checker.check_model(str(p), full_check=True)
    return p


# ---------------------------------------------------------------- standalone PyTorch source


def _ctor(n: Node) -> str | None:
    """The ``torch.nn`` constructor of a node with a module; ``None`` for ops written inline."""
    a = n.attrs
    if n.op == "conv":
        return (f"nn.Conv2d({a['cin']}, {a['c']}, kernel_size={a['k']}, stride={a['s']}, padding={a['p']}, "
                f"dilation={a['d']}, groups={a['groups']}, bias={a['bias']})")
    if n.op == "linear":
        return f"nn.Linear({a['cin']}, {a['c']}, bias={a['bias']})"
    if n.op == "bn":
        return f"nn.BatchNorm{2 if len(n.shape) == 3 else 1}d({a['c']})"
    if n.op == "act":
        from .builder import ACT_MODULES

        name = ACT_MODULES[a["kind"]]().__class__.__name__
        return "nn.LeakyReLU(0.01)" if name == "LeakyReLU" else f"nn.{name}()"
    if n.op == "lrn":
        return f"nn.LocalResponseNorm({a['size']}, alpha={a['alpha']}, beta={a['beta']}, k={a['k']})"
    if n.op == "dropout":
        return f"nn.Dropout({a['p']})"
    if n.op == "droppath":
        return f"DropPath({a['p']})"
    if n.op == "maxpool":
        return f"nn.MaxPool2d({a['k']}, stride={a['s']}, padding={a['p']}, ceil_mode={a['ceil']})"
    if n.op == "avgpool":
        return (f"nn.AvgPool2d({a['k']}, stride={a['s']}, padding={a['p']}, ceil_mode={a['ceil']}, "
                f"count_include_pad={a['count_include_pad']})")
    if n.op == "gap":
        return "nn.AdaptiveAvgPool2d(1)"
    return None


def _inline(n: Node, args: list[str]) -> str:
    if n.op == "add":
        return " + ".join(args)
    if n.op == "mean":
        return f"torch.stack([{', '.join(args)}]).mean(0)"
    if n.op == "concat":
        return f"torch.cat([{', '.join(args)}], 1)"
    if n.op == "mul":
        return f"{args[0]} * {args[1]}"
    if n.op == "zero":
        return f"torch.zeros_like({args[0]})"
    if n.op == "flatten":
        return f"torch.flatten({args[0]}, 1)"
    if n.op == "shuffle":
        return f"channel_shuffle({args[0]}, {n.attrs['groups']})"
    if n.op == "slice":
        return f"{args[0]}[:, {n.attrs['start']}:{n.attrs['stop']}]"
    raise AssertionError(f"no inline form for op {n.op!r}")  # a new primitive needs a line here


_HELPERS = {
    "shuffle": '''
def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of `groups` groups (ShuffleNet)."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)
''',
    "droppath": '''
class DropPath(nn.Module):
    """Stochastic depth: drop a sample's residual branch with probability p in training."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        return x * x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep) / keep
''',
}


def to_python(g: Genome, class_name: str = "Net") -> str:
    """Source of a standalone module that builds the same network with plain ``torch.nn`` layers."""
    tr = trace(g)
    var = {"input": "x"}
    init, body = [], []
    for n in tr.nodes:
        v = n.name.replace(".", "_")
        var[n.name] = v
        args = [var[i] for i in n.inputs]
        ctor = _ctor(n)
        if ctor is None:
            body.append(f"        {v} = {_inline(n, args)}")
        else:
            init.append(f"        self.{v} = {ctor}")
            body.append(f"        {v} = self.{v}({args[0]})")
    used = {n.op for n in tr.nodes}
    helpers = "".join(src for op, src in _HELPERS.items() if op in used)
    title = g.name or "genome"
    c, h, w = g.input
    return f'''"""{title}: a standalone PyTorch model written by `nas decode --python` from its genome.

Input {c}x{h}x{w}, {g.classes} classes. Imports only torch.
"""

import torch
from torch import nn
{helpers}

class {class_name}(nn.Module):
    """{title} as plain torch.nn layers, one attribute per op, in execution order."""

    def __init__(self) -> None:
        super().__init__()
{chr(10).join(init) or "        pass"}
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
{chr(10).join(body)}
        return {var[tr.output.name]}


if __name__ == "__main__":
    model = {class_name}().eval()
    with torch.no_grad():
        out = model(torch.zeros(1, {c}, {h}, {w}))
    print(f"{{sum(p.numel() for p in model.parameters()):,}} parameters, output {{tuple(out.shape)}}")
'''
