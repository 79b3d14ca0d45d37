"""Your own training for `nas search --evaluator`: a complete evaluator, plain PyTorch.

    PYTHONPATH=examples nas search --space cell --budget 60M --evaluator evaluator:evaluate --trials 8

The search calls ``evaluate(genome, ctx)`` in a Ray worker for every candidate and every verdict retraining
(protocol: ``nas.app.evaluator``). This one trains with AdamW and a one-cycle schedule on the search's data set, at the
proxy's width, reports each epoch (so early stopping can end a weak candidate), and returns the accuracy with the
per-image results the verdict's paired test needs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

import nas
from estimators import proxy_genome
from estimators.data import tensors


def evaluate(genome: nas.Genome, ctx) -> dict:  # noqa: ANN001 - ctx is a nas.app.evaluator.Context
    torch.manual_seed(ctx.seed)
    data = ctx.data()
    # Normalized tensors at the data's native resolution: train + validation and the test split for a verdict
    # retraining, else the training part and validation. A streamed image folder is read into memory here.
    t = tensors(data, data.x_train.shape[-1], seed=ctx.seed, final=ctx.final,
                train_images=None if ctx.final else ctx.train_images).materialize()
    x, y, x_eval, y_eval = t.x_train, t.y_train, t.x_val, t.y_val

    def prep(images: torch.Tensor) -> torch.Tensor:
        return images.float().to(ctx.device)

    g = proxy_genome(genome, tuple(x.shape[1:]), data.classes, width=ctx.width or 1.0)
    model = nas.build(g).to(ctx.device)
    if tuple(x.shape[2:]) != g.input[1:]:  # the proxy may raise the resolution for a deep network
        size = g.input[1:]
        x, x_eval = (F.interpolate(t.float(), size=size) for t in (x, x_eval))
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=5e-4)
    steps = ctx.epochs * math.ceil(len(y) / 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=5e-3, total_steps=steps)
    correct = torch.zeros(0, dtype=torch.bool)
    for epoch in range(1, ctx.epochs + 1):
        model.train()
        for i in torch.randperm(len(y)).split(64):
            loss = F.cross_entropy(model(prep(x[i])), y[i].to(ctx.device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            correct = torch.cat([model(prep(xb)).argmax(1).cpu() == yb for xb, yb in
                                 zip(x_eval.split(500), y_eval.split(500))])
        accuracy = correct.float().mean().item()
        if not ctx.report(epoch, accuracy=accuracy):  # the search's early-stopping rule ended this trial
            break
    return {"accuracy": correct.float().mean().item(), "correct": correct.numpy()}
