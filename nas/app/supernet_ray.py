"""Data-parallel supernet training on Ray Train: ``TorchTrainer`` runs the same epochs on ``workers`` processes.

Every worker builds the same supernet from the same seed, draws the same members in every step and trains on its
own stratum of the images (every ``world``-th); gradients are averaged over the workers (an all-reduce on the
process group Ray Train sets up: gloo on CPUs, NCCL on GPUs) before each optimizer step, so the workers stay equal.
Rank 0 writes the checkpoint and the curves into ``--out``, which every worker must see (one machine, or a shared
file system).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from ..errors import NasError

Log = Callable[[str], None]


def train_on_ray(s: Any, out: Path, state: dict[str, Any] | None, log: Log, address: str | None = None) -> None:
    """Run ``supernet.run_epochs`` on ``s.workers`` Ray Train workers (one CPU each, or one GPU each with
    ``s.device == "cuda"``)."""
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    out = Path(out).resolve()
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise NasError(f"cannot start Ray for {s.workers} training workers: {str(e).strip().splitlines()[0]}") \
                from None

    def loop(config: dict[str, Any]) -> None:
        import torch
        import torch.distributed as dist
        from ray import train as ray_train

        from .supernet import run_epochs

        ctx = ray_train.get_context()
        rank, world = ctx.get_world_rank(), ctx.get_world_size()

        def sync(model: torch.nn.Module) -> None:
            for p in model.parameters():
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                dist.all_reduce(p.grad)
                p.grad /= world

        run_epochs(config["settings"], out, config["state"], print, rank=rank, world=world, sync=sync)

    trainer = TorchTrainer(loop, train_loop_config={"settings": s, "state": state},
                           scaling_config=ScalingConfig(num_workers=s.workers, use_gpu=s.device == "cuda"),
                           run_config=RunConfig(storage_path=str(out / "ray_train"), name="supernet"))
    log(f"supernet: data-parallel training on {s.workers} Ray Train workers")
    try:
        trainer.fit()
    except Exception as e:  # noqa: BLE001 - Ray wraps the workers' errors; the first line is the one to show
        cause = getattr(e, "cause", None) or e
        raise NasError(f"supernet training on Ray failed: {str(cause).strip().splitlines()[0][:200]}") from None
    finally:
        if started_here:
            ray.shutdown()
