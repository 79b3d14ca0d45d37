"""Hardware-aware metrics: the analytic cost of the deployment genome and the measured latency of its model.

Both judge the genome as it will be deployed (its own input and classes), never the proxy.

>>> m = hardware_metrics(nas.seed("mobilenet_v2"))
>>> m["macs"], m["params"]
(300774272, 3504872)
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

import nas
from nas import Genome, NasError
from nas.latency import fix_allocator

from .train import resolve_device


def hardware_metrics(genome: Genome) -> dict[str, Any]:
    """The cost model's figures: ``macs``, ``flops`` (2 x MACs), ``params``, ``activations`` (elements, one
    sample) and ``activation_bytes`` (at float32), with the ``input`` they hold for."""
    c = nas.cost(genome)
    return {"macs": c.macs, "flops": c.flops, "params": c.params, "activations": c.activations,
            "activation_bytes": 4 * c.activations, "input": list(genome.input)}


def latency(genome: Genome, device: str = "cpu", batch: int = 1, warmup: int = 5, repeats: int = 30) -> dict[str, Any]:
    """Measured forward latency of the built model at its deployment input: warm-up, then ``repeats`` runs.

    Returns ``median_ms`` with its spread (``p10_ms``, ``p90_ms``, ``min_ms``, ``mean_ms``), and the ``device``,
    ``batch``, ``repeats`` and CPU ``threads`` it was measured with. Eval mode, no autograd, float32; on CUDA
    channels-last with a synchronize around each run. On CPU, torch's own thread count (``--max-latency-ms``
    measures one thread, in a fresh process: ``nas.latency``).
    """
    for key, v, lo in (("batch", batch, 1), ("warmup", warmup, 0), ("repeats", repeats, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise NasError(f"{key} must be an integer >= {lo}, got {v!r}")
    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    fix_allocator()  # freed activations stay in the process: no page faults inside the timed runs (nas.latency)
    fmt = torch.channels_last if cuda else torch.contiguous_format
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nas.build(genome).eval().to(dev, memory_format=fmt)
        x = torch.randn(batch, *genome.input).to(dev).contiguous(memory_format=fmt)
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            if cuda:
                torch.cuda.synchronize(dev)
            t = time.perf_counter()
            model(x)
            if cuda:
                torch.cuda.synchronize(dev)
            if i >= warmup:
                times.append((time.perf_counter() - t) * 1e3)
    deciles = statistics.quantiles(times, n=10, method="inclusive") if len(times) > 1 else times * 9
    return {"median_ms": statistics.median(times), "p10_ms": deciles[0], "p90_ms": deciles[-1],
            "min_ms": min(times), "mean_ms": statistics.fmean(times), "device": str(dev), "batch": batch,
            "repeats": repeats, "threads": torch.get_num_threads()}
