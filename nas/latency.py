"""Latency on this machine's CPU: measured, and predicted fast enough for a sampler (``--max-latency-ms``).

**Measured** (``measure``): one thread, batch 1, float32, inference mode, the least wall time of 30 forward
passes after 3 warm-up passes. Before measuring, glibc's allocator is told to keep freed memory (a fixed mmap
threshold of 32 MiB and no trimming): left to adapt, it may hand large activation buffers back to the kernel after
a pass, and page-faulting them in again costs time that differs from process to process
(``benchmarks/latency_measurement.md``: six networks measured in six fresh processes each spread by a median 37%
between processes with the allocator left to adapt, and by 9% with it fixed). A search measures in a fresh process
(``measure_apart``), in three rounds of 10 passes over the whole list, keeping each network's least: on a shared
machine a slow spell lasts seconds, and a later round finds it quiet. ``benchmarks/latency_model.md`` gives the
noise floor that leaves: how often two such measurements of one network agree within 10%.

**Predicted** (``LatencyModel``): a linear model over four features of a network,

- the sum of its convolutions' times, each timed alone on this machine (a lookup table keyed by the convolution's
  shape, as once-for-all's per-block tables are; a shape the table lacks is estimated by a regression on the
  table's entries: MACs, input, output and weight elements, one for depthwise and one for dense convolutions);
- the elements written by its other ops (norms, activations, adds: memory-bound work);
- its number of primitive ops (the per-op dispatch overhead);
- one (the per-network overhead).

The weights are fitted to whole networks measured on the same machine (least relative error). Every feature is a
sum over block instances, so a space predicts a candidate block by block with each block's features remembered,
as it costs MACs. Predicting measures nothing: ``calibrate`` measures the networks and the table's convolutions
up front, in a fresh process (``python -m nas.latency``) whose state is known, before the search's trials take
the cores.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ._trace import Shape, Tracer
from .custom import defined
from .errors import NasError
from .genome import Block, Genome
from .network import resolve
from .registry import block_type

PASSES = 30
"""Forward passes a network is measured over (the least is kept)."""
CONV_PASSES = 10
"""Passes one convolution of the lookup table is timed over, in each round."""
ROUNDS = 3
"""Rounds over the whole list that ``python -m nas.latency`` times everything in (the least is kept), each
network ``PASSES // ROUNDS`` passes a round."""
FEATURES = ("convolutions_ms", "other_elements", "ops", "network")
FORMAT = 1
_allocator_fixed = False


def fix_allocator() -> None:
    """Keep freed memory in the process (glibc only; a no-op elsewhere): see the module's docstring."""
    global _allocator_fixed
    if _allocator_fixed or platform.system() != "Linux":
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: fixed, so that it never adapts
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass
    _allocator_fixed = True


@contextmanager
def _one_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def least_ms(fn: Callable[..., Any], inputs: Sequence[Any], passes: int, warmup: int = 3) -> float:
    """The least wall time of ``passes`` calls of ``fn(*inputs)`` in milliseconds, after ``warmup`` calls."""
    import torch

    with torch.inference_mode():
        for _ in range(warmup):
            fn(*inputs)
        best = math.inf
        for _ in range(passes):
            t = time.perf_counter()
            fn(*inputs)
            best = min(best, time.perf_counter() - t)
    return best * 1e3


def measure(g: Genome, passes: int = PASSES) -> float:
    """The genome's latency on this CPU in milliseconds: one thread, batch 1, the least of ``passes`` passes."""
    import torch

    from .builder import build

    fix_allocator()
    with _one_thread():
        torch.manual_seed(0)
        model = build(g).eval()
        return least_ms(model, [torch.randn(1, *g.input)], passes)


def machine() -> str:
    """What a latency model is only valid on: the CPU, its count, and torch's version."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}"


def conv_key(attrs: dict[str, Any], shape: Shape) -> str:
    """A convolution's key in the lookup table: its attributes and input shape, as JSON."""
    return json.dumps([attrs["cin"], attrs["c"], list(attrs["k"]), list(attrs["s"]), list(attrs["p"]), attrs["d"],
                       attrs["groups"], attrs["bias"], list(shape)])


def _conv_terms(key: str) -> tuple[str, np.ndarray]:
    """(depthwise or dense, [MACs, input, output and weight elements, 1]) of a convolution's key."""
    cin, c, (kh, kw), (sh, sw), (ph, pw), d, groups, _, (_, h, w) = json.loads(key)
    ho, wo = (h + 2 * ph - d * (kh - 1) - 1) // sh + 1, (w + 2 * pw - d * (kw - 1) - 1) // sw + 1
    weights = c * (cin // groups) * kh * kw
    terms = np.array([weights * ho * wo, cin * h * w, c * ho * wo, weights, 1.0])
    return ("depthwise" if groups > 1 else "dense"), terms


def _time_conv(key: str) -> float:
    import torch

    cin, c, k, st, pad, d, groups, bias, shape = json.loads(key)
    conv = torch.nn.Conv2d(cin, c, tuple(k), tuple(st), tuple(pad), d, groups, bias=bias).eval()
    return least_ms(conv, [torch.randn(1, *shape)], CONV_PASSES)


class LatencyModel:
    """Predicted milliseconds of a genome on the machine it was calibrated on (see the module's docstring)."""

    def __init__(self, weights: Sequence[float] | None = None, table: dict[str, float] | None = None,
                 conv_weights: Mapping[str, Sequence[float]] | None = None, machine: str = "",
                 judged: dict[str, Any] | None = None) -> None:
        self.weights = np.array(weights if weights is not None else [1.0, 0.0, 0.0, 0.0], dtype=float)
        self.table: dict[str, float] = dict(table or {})  # a convolution's key -> its time alone, ms
        self.conv_weights = {k: np.array(v, dtype=float) for k, v in (conv_weights or {}).items()}
        self.machine = machine
        self.judged = judged or {}  # how well it predicted networks it was not fitted on
        self._blocks: dict[Any, tuple[Shape, np.ndarray]] = {}
        self.estimated: set[str] = set()  # convolutions predicted from the regression, not the table
        self.calibration_ms: list[float] = []  # what calibrate measured, in the order of its networks

    # ------------------------------------------------------------ features

    def conv_ms(self, key: str) -> float:
        """A convolution's time alone: the table's, else the regression's estimate."""
        ms = self.table.get(key)
        if ms is not None:
            return ms
        kind, terms = _conv_terms(key)
        w = self.conv_weights.get(kind)
        if w is None:
            raise NasError(f"the latency model has no entry for a convolution {key} and no {kind} regression")
        self.estimated.add(key)
        return max(float(terms @ w), 0.0)

    def _trace(self, kind: str, params: tuple[tuple[str, Any], ...], shape: Shape, classes: int,
               defs: tuple[Any, ...]) -> tuple[Shape, list[tuple[Any, str | None]]]:
        t = Tracer(shape, classes=classes)
        with defined(defs):
            y = block_type(kind).expand(t, t.input, dict(params))
        shapes = {t.input.name: shape, **{n.name: n.shape for n in t.nodes}}
        return y.shape, [(n, conv_key(n.attrs, shapes[n.inputs[0]]) if n.op == "conv" else None) for n in t.nodes]

    def block(self, kind: str, params: tuple[tuple[str, Any], ...], shape: Shape, classes: int,
              defs: tuple[Any, ...] = ()) -> tuple[Shape, np.ndarray]:
        """(output shape, features) of one block instance on a ``shape`` input, remembered."""
        key = (kind, params, shape, classes, defs)  # hashable, as network._block_cost's cache keys are
        hit = self._blocks.get(key)
        if hit is not None:
            return hit
        out_shape, nodes = self._trace(kind, params, shape, classes, defs)
        f = np.zeros(len(FEATURES))
        for n, conv in nodes:
            if conv is not None:
                f[0] += self.conv_ms(conv)
            elif n.op != "linear":
                f[1] += math.prod(n.shape)
            f[2] += 1
        self._blocks[key] = out = (out_shape, f)
        return out

    def section(self, records: Iterable[Block], shape: Shape, classes: int) -> tuple[Shape, np.ndarray]:
        """(output shape, summed features) of a run of block records, as ``nas.network.section_cost`` costs it."""
        total = np.zeros(len(FEATURES))
        for rec in records:
            for _, bt, p in resolve(rec, classes):
                shape, f = self.block(bt.name, tuple(p.items()), shape, classes)
                total += f
        return shape, total

    def features(self, g: Genome) -> np.ndarray:
        """The genome's features: block sums, and 1 for the network."""
        from .network import walk

        shape: Shape = tuple(g.input)
        total = np.zeros(len(FEATURES))
        for _, _, _, bt, p in walk(g):
            shape, f = self.block(bt.name, tuple(p.items()), shape, g.classes, g.definitions)
            total += f
        total[3] = 1.0
        return total

    def convolutions(self, g: Genome) -> set[str]:
        """The keys of the genome's convolutions (what the table needs to predict it from measurements alone)."""
        from .network import walk

        shape: Shape = tuple(g.input)
        keys: set[str] = set()
        for _, _, _, bt, p in walk(g):
            shape, nodes = self._trace(bt.name, tuple(p.items()), shape, g.classes, g.definitions)
            keys.update(k for _, k in nodes if k is not None)
        return keys

    # ------------------------------------------------------------ prediction and fitting

    def ms(self, features: np.ndarray) -> float:
        """Predicted milliseconds of summed block features (the per-network term is added here)."""
        f = np.array(features, dtype=float)
        f[3] = 1.0
        return float(f @ self.weights)

    def predict(self, g: Genome) -> float:
        """Predicted milliseconds of ``g`` on the machine the model was calibrated on."""
        return self.ms(self.features(g))

    def fit(self, genomes: Sequence[Genome], measured: Sequence[float]) -> "LatencyModel":
        """The convolution regressions fitted to the table, then the weights to measured networks (both least
        relative error)."""
        by_kind: dict[str, list[tuple[np.ndarray, float]]] = {}
        for key, ms in self.table.items():
            kind, terms = _conv_terms(key)
            by_kind.setdefault(kind, []).append((terms, ms))
        for kind, rows in by_kind.items():
            A, y = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
            self.conv_weights[kind] = np.linalg.lstsq(A / y[:, None], np.ones(len(y)), rcond=None)[0]
        self._blocks.clear()
        X = np.array([self.features(g) for g in genomes])
        y = np.asarray(measured, dtype=float)
        self.weights = np.linalg.lstsq(X / y[:, None], np.ones(len(y)), rcond=None)[0]
        return self

    # ------------------------------------------------------------ files

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "machine": self.machine, "features": list(FEATURES),
                "weights": [float(w) for w in self.weights], "judged": self.judged,
                "conv_weights": {k: [float(x) for x in v] for k, v in self.conv_weights.items()},
                "calibration_ms": [round(x, 4) for x in self.calibration_ms], "table": self.table}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "LatencyModel":
        """A saved model; a file that is not one raises NasError naming it."""
        try:
            d = json.loads(Path(path).read_text())
            if d.get("format") != FORMAT or list(d["features"]) != list(FEATURES):
                raise ValueError("another format")
            table = {str(k): float(v) for k, v in d["table"].items()}
            for k in table:
                _conv_terms(k)
            conv = {str(k): [float(x) for x in v] for k, v in d["conv_weights"].items()}
            if any(len(v) != 5 for v in conv.values()) or len(d["weights"]) != len(FEATURES):
                raise ValueError("weights of the wrong length")
            model = cls([float(w) for w in d["weights"]], table, conv, str(d["machine"]), dict(d.get("judged") or {}))
            model.calibration_ms = [float(x) for x in d.get("calibration_ms", [])]
            return model
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise NasError(f"{path}: not a latency model ({e})") from None


def within(predicted: Sequence[float] | np.ndarray, measured: Sequence[float] | np.ndarray,
           share: float = 0.10) -> float:
    """The share of networks predicted within ``share`` of measured (how nn-Meter reports accuracy)."""
    p, m = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    return float(np.mean(np.abs(p / m - 1) <= share)) if len(m) else 0.0


# ------------------------------------------------------------ measuring in a fresh process


def measure_apart(genomes: Sequence[Genome], convs: Iterable[str] = (),
                  log: Callable[[str], None] = lambda _: None) -> tuple[list[float], dict[str, float]]:
    """Measure ``genomes`` and time ``convs`` in a fresh Python process (``python -m nas.latency``), whose
    timings no Ray threads or earlier allocations disturb: (milliseconds of each genome, key -> ms)."""
    import subprocess
    import sys

    from .genome import dumps

    job = json.dumps({"genomes": [dumps(g) for g in genomes], "convs": sorted(set(convs))})
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "") if env.get("PYTHONPATH") else root
    proc = subprocess.Popen([sys.executable, "-m", "nas.latency"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(job)
    proc.stdin.close()
    result = None
    for line in proc.stdout:
        if line.startswith("{"):
            result = json.loads(line)
        else:
            log(line.rstrip())
    err = proc.stderr.read() if proc.stderr else ""
    if proc.wait() != 0 or result is None:
        last = err.strip().splitlines()[-1] if err.strip() else f"exit status {proc.returncode}"
        raise NasError(f"measuring latency failed: {last}")
    return [float(x) for x in result["ms"]], {str(k): float(v) for k, v in result["convs"].items()}


def _serve() -> None:
    """``python -m nas.latency``: a JSON job on stdin, progress lines and one JSON result line on stdout.

    Every convolution and network is timed in ``ROUNDS`` rounds over the whole list, keeping its least time: on a
    shared machine a slow spell lasts seconds and slows everything measured during it (the same networks measured
    slower for a few seconds), so a second and third visit finds the machine quiet."""
    import sys

    from .genome import loads

    job = json.loads(sys.stdin.read())
    fix_allocator()
    started = time.time()
    keys, genomes = job["convs"], [loads(y) for y in job["genomes"]]
    convs = dict.fromkeys(keys, math.inf)
    ms = [math.inf] * len(genomes)
    for r in range(ROUNDS):
        with _one_thread():
            for key in keys:
                convs[key] = min(convs[key], _time_conv(key))
        for i, g in enumerate(genomes):
            ms[i] = min(ms[i], measure(g, PASSES // ROUNDS))
            if (i + 1) % 20 == 0 or i + 1 == len(genomes):
                print(f"latency: round {r + 1}/{ROUNDS}: measured {i + 1}/{len(genomes)} networks"
                      + (f" and timed {len(keys)} convolutions" if keys else "")
                      + f" ({time.time() - started:.0f} s)", flush=True)
    print(json.dumps({"ms": ms, "convs": convs}), flush=True)


def calibrate(genomes: Sequence[Genome], fit: int, cover: Sequence[Genome] = (),
              log: Callable[[str], None] = lambda _: None) -> LatencyModel:
    """A model for this machine: the convolutions of ``genomes`` and ``cover`` timed alone, the ``genomes``
    measured, the model fitted to the first ``fit`` and judged on the others (fixed before measuring)."""
    if not 4 <= fit < len(genomes):
        raise NasError(f"calibrating a latency model needs at least 4 networks to fit and one to judge "
                       f"(got {fit} of {len(genomes)})")
    model = LatencyModel(machine=machine())
    convs: set[str] = set()
    for g in (*genomes, *cover):
        convs |= model.convolutions(g)
    measured, model.table = measure_apart(genomes, convs, log)
    model.calibration_ms = measured
    model.fit(genomes[:fit], measured[:fit])
    held = np.array([model.predict(g) for g in genomes[fit:]])
    truth = np.array(measured[fit:])
    model.judged = {"networks": len(held), "within_10pct": within(held, truth),
                    "median_error": float(np.median(np.abs(held / truth - 1))),
                    "measured_ms": [round(min(measured), 3), round(max(measured), 3)]}
    return model


if __name__ == "__main__":
    _serve()
