"""The ``nas supernet`` commands: ``train`` (one set of weights for a space) and ``export`` (a subnet's weights)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import NasError


def add_commands(sub: Any, types: dict[str, Callable[[str], Any]], genome: Callable[[str], Any]) -> None:
    """Register ``nas supernet train`` and ``nas supernet export`` under the top-level subparsers ``sub``."""
    sn = sub.add_parser(
        "supernet", help="train one set of weights for a whole space; export a subnet's weights",
        description="A weight-sharing supernet: trained once, it scores any member of the space in about a second "
                    "(inherited weights, batch-norm statistics recalibrated), so one supernet serves searches at "
                    "any budget: nas search --estimator supernet --supernet DIR/supernet.pt --budget 150M.")
    ss = sn.add_subparsers(dest="supernet_command", metavar="train|export", required=True)
    t = ss.add_parser(
        "train", help="train a supernet of a space at the proxy",
        description="Train the weights every member of the space inherits (its largest member's, shared by channel "
                    "prefixes, kernel centres and the first blocks of each stage). Each step trains the largest "
                    "member, the smallest and --sampled members drawn from MAC bins under --budget, the others "
                    "learning the largest one's predictions (the sandwich rule with in-place distillation). A "
                    "checkpoint is written after every epoch; a run killed at any point continues with --resume. "
                    "Curves: tensorboard --logdir DIR/tensorboard.",
        epilog="Example: nas supernet train --space mobilenet --budget 300M --epochs 8 --out runs/supernet")
    t.add_argument("--space", default="mobilenet", help="search space (default mobilenet; the only one served now)")
    t.add_argument("--budget", type=types["budget"], default="300M",
                   help="MAC budget (deployment input) the sampled members stay under (default 300M)")
    t.add_argument("--epochs", type=types["positive"], default=8, metavar="E", help="epochs (default 8)")
    t.add_argument("--dataset", default="fashion", help="proxy data, as for nas search (default fashion)")
    t.add_argument("--data-dir", metavar="PATH", help="directory of the data set, as for nas search")
    t.add_argument("--train-images", type=types["count"], default=0, metavar="N",
                   help="training images per epoch, stratified (default 0: the whole train split)")
    t.add_argument("--width", type=types["factor"], metavar="X", help="proxy width multiplier (default: the space's)")
    t.add_argument("--sampled", type=types["count"], default=2, metavar="K",
                   help="members sampled per step beside the largest and the smallest (default 2)")
    t.add_argument("--no-distill", action="store_true", help="train every member on the labels only")
    t.add_argument("--workers", type=types["positive"], default=1, metavar="N",
                   help="data-parallel Ray Train workers (default 1: in this process, no Ray)")
    t.add_argument("--address", type=types["address"], metavar="auto|HOST:PORT",
                   help="with --workers: join this Ray cluster instead of starting one")
    t.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to train (default cpu)")
    t.add_argument("--seed", type=types["seed"], default=0, metavar="N", help="seed (default 0)")
    t.add_argument("--out", metavar="DIR", help="run directory (default: a new folder under runs/)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.set_defaults(func=cmd_train)
    e = ss.add_parser("export", help="write the weights a genome inherits from a supernet",
                      description="Write the state dict a genome's network takes from the supernet: it loads into "
                                  "nas.build of the genome at the supernet's proxy input (load_state_dict, strict) "
                                  "as a start for fine-tuning; the file also holds that proxy genome as YAML.")
    e.add_argument("checkpoint", help="a supernet.pt written by nas supernet train")
    e.add_argument("genome", help="a genome YAML file or a seed name; it must be a member of the supernet's space")
    e.add_argument("-o", "--output", required=True, metavar="OUT", help="where to write the weights (.pt)")
    e.set_defaults(func=cmd_export, genome_reader=genome)


def cmd_train(a: argparse.Namespace) -> int:
    """``nas supernet train``."""
    import estimators
    import search_spaces

    from .supernet import CHECKPOINT, TrainSettings, read, train

    if a.resume:
        if a.out is None:
            raise NasError("--resume needs --out DIR, the supernet run to continue")
        s = TrainSettings(**read(Path(a.out) / CHECKPOINT)["settings"])
        _same_run(s, {k: getattr(a, k) for k in getattr(a, "typed", ())})
    else:
        space = search_spaces.get(a.space)
        if space.name != "mobilenet":
            raise NasError(f"a supernet is defined for the mobilenet space only, not {a.space}")
        estimators.DATASETS.lookup(a.dataset)
        estimators.load_data(a.dataset, a.data_dir)
        s = TrainSettings(space=a.space, budget=a.budget, epochs=a.epochs, dataset=a.dataset, data_dir=a.data_dir,
                          train_images=a.train_images or None, width=a.width, sampled=a.sampled,
                          distill=not a.no_distill, workers=a.workers, device=a.device, seed=a.seed)
    out = Path(a.out) if a.out else Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-supernet"
    path = train(s, out, resume=a.resume, log=lambda line: print(line, flush=True), address=a.address)
    print(f"supernet: {path}; search it with nas search --estimator supernet --supernet {path} --budget ...")
    return 0


def _same_run(s: Any, given: dict[str, Any]) -> None:
    """Refuse a flag given with ``--resume`` that differs from the stored run's setting (one line naming it)."""
    from .settings import as_stored, same_setting

    for name, value in sorted(given.items()):
        field, want = ("distill", not value) if name == "no_distill" else (name, value)
        if field in ("out", "resume", "address") or not hasattr(s, field):
            continue
        have = getattr(s, field)
        if not same_setting(field, as_stored(field, want), have):
            typed = "" if isinstance(value, bool) else f" {value}"
            raise NasError(f"--{name.replace('_', '-')}{typed} differs from the run being resumed, started with "
                           f"{field} {have}; drop the flag, or train a new supernet with another --out")


def cmd_export(a: argparse.Namespace) -> int:
    """``nas supernet export``."""
    from .supernet import export

    g = a.genome_reader(a.genome)
    info = export(a.checkpoint, g, a.output)
    print(f"{a.output}: {info['tensors']} tensors, {info['params']:,} params, for nas.build of the genome at "
          f"{'x'.join(map(str, info['input']))} (strict load)")
    return 0
