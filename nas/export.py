"""Exports of a built genome: ONNX, and a standalone PyTorch source file that imports only torch."""

from __future__ import annotations

import io
import logging
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import ops
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
        raise NasError("ONNX export needs the 'export' extra: pip install 'nas-cnn[export]' (in a checkout: "
                       "pip install -e '.[export]')") from None
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


def to_python(g: Genome, class_name: str = "Net") -> str:
    """Source of a standalone module that builds the same network, with the builder's modules and initialization.

    Every op is an attribute constructed from the table of primitive ops (``nas.ops``); the few modules torch has
    no layer for, and ``init_weights``, are copied from it as source, so the file imports only torch.
    """
    tr = trace(g)
    var = {"input": "x"}
    init, body = [], []
    copied: dict[type, None] = {}  # the classes of nas.ops the file defines, in order of first use
    for n in tr.nodes:
        v = n.name.replace(".", "_")
        var[n.name] = v
        ctor, cls = ops.source(n)
        if ops.own(cls):
            copied[cls] = None
        init.append(f"        self.{v} = {ctor}")
        body.append(f"        {v} = self.{v}({', '.join(var[i] for i in n.inputs)})")
    # The classes and the weight initialization are the builder's own, copied as source: one definition each.
    sources: list[type | Callable[..., Any]] = [*copied, ops.init_weights]
    helpers = "\n\n".join(ops.source_of(d) for d in sources)
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
{chr(10).join(init)}
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
{chr(10).join(body)}
        return {var[tr.output.name]}


if __name__ == "__main__":
    model = {class_name}().eval()
    with torch.no_grad():
        out = model(torch.zeros(1, {c}, {h}, {w}))
    print(f"{{sum(p.numel() for p in model.parameters()):,}} parameters, output {{tuple(out.shape)}}")
'''
