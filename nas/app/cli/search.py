"""``nas search``: every flag checked before anything starts, then the search on Ray."""

from __future__ import annotations

import argparse
import stat
from pathlib import Path
from typing import Any

from ...errors import NasError, quote_arg
from .args import (
    _address,
    _budget_arg,
    _cap_arg,
    _count,
    _factor,
    _host,
    _positive,
    _run_dir,
    _seed,
    _shape_arg,
    _share,
    _stat,
)

TABLE_IGNORES = frozenset({"address", "cpus_per_trial", "gpus_per_trial", "max_concurrent", "dataset", "data_dir",
                           "epochs", "width", "train_images", "early_stop", "eta", "verdict_top", "verdict_epochs",
                           "verdict_seeds", "verdict_width", "dashboard_host"})
"""Flags of ``nas search`` that a table-lookup estimator (nb201) has no use for."""


def _check_search(a: argparse.Namespace) -> None:
    """What ``Search`` would refuse only after its run directory exists, refused first: names, data, --out."""
    import estimators
    import search_spaces
    import strategies

    search_spaces.get(a.space, a.input, a.classes)  # an unknown name lists the valid ones
    strategies.get(a.strategy)
    from ..scoring import get

    entry = get(a.estimator)
    if entry.check is not None or entry.prepare is not None or a.supernet:
        from ..settings import Settings, validate

        s = Settings(space=a.space, input=list(a.input) if a.input else None, classes=a.classes,
                     estimator=a.estimator, supernet=a.supernet, dataset=a.dataset, data_dir=a.data_dir, width=a.width)
        validate(s)
        if entry.prepare is not None:
            entry.prepare(s, search_spaces.get(a.space, a.input, a.classes))
    if entry.tabular:  # a flag it would drop without a word is refused instead
        ignored = sorted(TABLE_IGNORES & set(getattr(a, "typed", ())))
        if ignored:
            flag = "--" + ignored[0].replace("_", "-")
            raise NasError(f"--estimator {a.estimator} looks every score up in this process, with no training, Ray "
                           f"or verdict: {flag} has no effect there; drop it")
    estimators.DATASETS.lookup(a.dataset)
    if a.data_dir is not None:
        st = _stat(a.data_dir, "--data-dir")
        if st is None:
            raise NasError(f"data directory {quote_arg(a.data_dir)} does not exist")
        if not stat.S_ISDIR(st.st_mode):
            raise NasError(f"data directory {quote_arg(a.data_dir)} is not a directory")


def cmd_search(a: argparse.Namespace) -> int:
    """``nas search``: validate everything a user typed, then run the search on Ray."""
    import time

    from ..driver import Search
    from ..settings import Settings, resume_settings, resumed

    if a.out is not None:
        _run_dir(a.out)
    if a.resume:
        if a.out is None:
            raise NasError("--resume needs --out DIR, the run directory to continue")
        given = {k: getattr(a, k) for k in getattr(a, "typed", ())}
        settings = resumed(resume_settings(Path(a.out), a.storage), given)
        out = Path(a.out)
    else:
        _check_search(a)
        settings = Settings(
            space=a.space, budget=a.budget, max_params=a.max_params, max_activations=a.max_activations,
            max_latency_ms=a.max_latency_ms,
            strategy=a.strategy, trials=a.trials, epochs=a.epochs, dataset=a.dataset,
            data_dir=a.data_dir, seed=a.seed, input=list(a.input) if a.input else None, classes=a.classes,
            cpus_per_trial=a.cpus_per_trial, gpus_per_trial=a.gpus_per_trial, max_concurrent=a.max_concurrent,
            early_stop=a.early_stop, eta=a.eta, width=a.width, train_images=a.train_images or None,
            verdict=not a.no_verdict, verdict_top=a.verdict_top, verdict_epochs=a.verdict_epochs,
            verdict_seeds=a.verdict_seeds, verdict_width=a.verdict_width, estimator=a.estimator,
            supernet=a.supernet, audit=a.audit, rescore=a.rescore, evaluator=a.evaluator)
        out = Path(a.out) if a.out is not None else Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{a.space}"
        if a.out is not None and (out / "results.db").exists():
            raise NasError(f"{quote_arg(str(out))} already holds a search; continue it with --resume, or choose "
                           "another --out")
        if a.storage:  # a shared database keys runs by the run directory's name: never mix two searches
            from ..store import Store, shown

            if Store(a.storage, run=out.resolve().name).config() is not None:
                raise NasError(f"a run named {quote_arg(out.resolve().name)} is already in {shown(a.storage)}; "
                               "continue it with --resume, or choose another --out")

    def log(line: str) -> None:
        print(line, flush=True)

    try:
        search = Search(settings, out, storage=a.storage, log=log)
    except OSError as e:  # the run directory or a file in it could not be made (full disk, read-only, /proc)
        raise NasError(f"cannot set up the run in {quote_arg(str(out))}: {(e.strerror or str(e)).lower()}") from None
    search.run(address=a.address, dashboard=not a.no_dashboard, dashboard_host=a.dashboard_host)
    return 0


def add_parser(sub: Any) -> None:
    """The ``nas search`` parser."""
    from ..scoring import REGISTRY as ESTIMATORS

    se = sub.add_parser(
        "search", help="search a space for the best network within a MAC budget, on Ray workers",
        description="Search a space for the most accurate network within a MAC budget. Each candidate is trained "
                    "briefly on a proxy data set (Fashion-MNIST by default; no download) as a Ray task and scored on "
                    "its validation split; every result is recorded as it lands in the run directory (results.db, "
                    "trials.csv). Then the verdict retrains the winner (the search's best by its own score, fixed "
                    "before any test image is read) and the baseline (the space's hand-designed network scaled to "
                    "the budget, e.g. mobilenet_v2 x0.98) with several seeds at a higher fidelity, scores them on "
                    "the test split, which no search decision reads, and says whether the winner is better with a "
                    "95% interval that includes training noise; every line names the width and input the networks "
                    "were retrained at. best.yaml is the winner. A local Ray with its dashboard starts unless "
                    "--address names a cluster. A search killed at any moment, verdict included, continues with "
                    "--resume --out DIR.",
        epilog="Example: nas search --space mobilenet --budget 300M --trials 40 --out runs/m300")
    se.add_argument("--space", default="mobilenet",
                    help="search space: a name from `nas spaces` (default mobilenet), or a YAML template, a genome "
                         "whose parameters may be {choice: [...]} (docs/spaces.md)")
    se.add_argument("--budget", type=_budget_arg, default="300M",
                    help="MAC budget at the deployment input: 300M, 1.5G, 4.2k, 300e6, at most 10^18 (default 300M)")
    se.add_argument("--max-params", type=_cap_arg("params"), metavar="N",
                    help="also keep parameters under N (3M, 500k): every strategy samples and mutates within both")
    se.add_argument("--max-activations", type=_cap_arg("activations"), metavar="N",
                    help="also keep activation elements at batch 1 under N (the sum of every op's output, what "
                         "`nas decode` reports): a proxy for peak memory")
    se.add_argument("--max-latency-ms", type=_factor, metavar="MS",
                    help="also keep latency on this machine's CPU under MS milliseconds (one thread, batch 1): a "
                         "model measured here at the start predicts it for the sampler, and the finalists are "
                         "measured for real before the verdict (docs/latency.md)")
    se.add_argument("--strategy", default="evolution", help="random, evolution, optuna or nsga2 (default evolution)")
    se.add_argument("--trials", type=_positive, default=40, metavar="N", help="candidates to evaluate (default 40)")
    se.add_argument("--epochs", type=_positive, default=2, metavar="E",
                    help="proxy training epochs per candidate, at most: early stopping ends weak ones sooner "
                         "(default 2)")
    se.add_argument("--estimator", choices=tuple(ESTIMATORS), default="proxy",
                    help="how a candidate is scored: proxy (default) trains it briefly on --dataset; nb201 looks a "
                         "cell-space candidate up in NAS-Bench-201's 200-epoch CIFAR-10 test accuracies, shipped "
                         "with nas: no training, no Ray workers, a 300-trial search in seconds (--space cell only; "
                         "--epochs, --dataset, --early-stop and the verdict do not apply); supernet scores it with "
                         "the weights it inherits from --supernet in about a second, then trains --audit and "
                         "--rescore candidates standalone (--dataset and --width are the supernet's)")
    se.add_argument("--evaluator", metavar="MODULE:FUNCTION",
                    help="train and score candidates with your own function evaluate(genome, ctx) -> {accuracy, "
                         "...} in place of proxy training (its protocol: nas.app.evaluator; an example: "
                         "examples/evaluator.py); ctx.report(epoch, accuracy=...) each epoch lets early stopping act")
    se.add_argument("--supernet", metavar="CHECKPOINT",
                    help="with --estimator supernet: a supernet.pt written by `nas supernet train`")
    se.add_argument("--audit", type=_count, default=5, metavar="K",
                    help="with --estimator supernet: candidates spread over its ranking trained standalone after "
                         "the search, for a Kendall tau between the two (default 5; a warning below 0.3)")
    se.add_argument("--rescore", type=_count, default=3, metavar="K",
                    help="with --estimator supernet: its top candidates trained standalone; the best of them by "
                         "that score is the verdict's winner (default 3)")
    se.add_argument("--dataset", default="fashion",
                    help="proxy data: fashion (default: Fashion-MNIST from --data-dir, else Debian's "
                         "/usr/share/datasets/fashion-mnist, else the bundled 20,000-image subset), mnist (IDX files "
                         "in --data-dir, else a bundled sample), cifar10 or imagefolder (with --data-dir; a folder is "
                         "streamed from disk), digits and synthetic (small, for tests), or your own as module:Class "
                         "(docs/data.md). Its test split is read only by the verdict")
    se.add_argument("--data-dir", metavar="PATH",
                    help="directory of the data set: the four IDX files of fashion or mnist, CIFAR-10's python "
                         "batches, or one folder of images per class")
    se.add_argument("--width", type=_factor, metavar="X",
                    help="proxy width multiplier on top of the genome's widths (default: the space's, 0.35; "
                         "shufflenet 0.5)")
    se.add_argument("--train-images", type=_count, default=5000, metavar="N",
                    help="training images per proxy epoch, stratified (default 5000; 0: the whole train split)")
    se.add_argument("--no-verdict", action="store_true",
                    help="skip the verdict: best.yaml is then the search's best by its own validation score")
    se.add_argument("--verdict-top", type=_positive, default=1, metavar="K",
                    help="the search's top candidates the verdict retrains beside the baseline (default 1: the "
                         "winner, the search's best by its own score). The winner is compared with the baseline "
                         "first; the others only while every earlier one was better, so the chance of a false "
                         "'better' stays at most 2.5%%. From 5 the fidelity audit reports a Kendall tau")
    se.add_argument("--verdict-epochs", type=_positive, default=3, metavar="E",
                    help="epochs of the verdict's retraining, on all the training data (default 3)")
    se.add_argument("--verdict-seeds", type=_positive, default=8, metavar="N",
                    help="seeds each verdict network is trained with (default 8; seeds --seed + 1000, 1001, ...). "
                         "With 2 or more the intervals include training noise, measured from seed to seed")
    se.add_argument("--verdict-width", type=_factor, metavar="X",
                    help="width multiplier of the verdict's networks on top of the genome's: 1 retrains the "
                         "architecture itself (default: 1 when --gpus-per-trial is set, else the proxy's width, "
                         "as on CPUs width 1 costs many times more; the log says which)")
    se.add_argument("--out", metavar="DIR", help="run directory (default: a new folder under runs/)")
    se.add_argument("--resume", action="store_true",
                    help="continue the search in --out after a crash or Ctrl-C; with a larger --trials, extend it "
                         "(any other flag must match the stored run)")
    se.add_argument("--seed", type=_seed, default=0, metavar="N",
                    help="seed of the strategy and of proxy training, 0 to 2^32 - 1 (default 0)")
    se.add_argument("--address", type=_address, metavar="auto|HOST:PORT",
                    help="join a running Ray cluster instead of starting one")
    se.add_argument("--cpus-per-trial", type=_share, default=1.0, metavar="X", help="CPUs per candidate (default 1)")
    se.add_argument("--gpus-per-trial", type=_share, default=0.0, metavar="X",
                    help="GPUs per candidate (default 0); fractions pack trials: 0.25 runs four on each GPU")
    se.add_argument("--max-concurrent", type=_positive, metavar="N",
                    help="candidates in flight at once (default: as many as fit)")
    se.add_argument("--early-stop", nargs="?", const="asha", default="asha", choices=("asha", "median", "off"),
                    metavar="asha|median|off",
                    help="stop unpromising trials between epochs (with --epochs > 1): asha (the default) keeps the "
                         "top 1/eta at epochs 1, eta, eta^2, ..., restarting the learning-rate cycle there; median "
                         "stops a trial below the median of earlier trials at the same epoch; off runs every trial to "
                         "the end under one cycle. The strategy is told the lower-fidelity result. At the default 2 "
                         "epochs ASHA saves about a third of the search's time and, at equal training epochs, returns "
                         "networks as good as off does (benchmarks/asha_replay.md)")
    se.add_argument("--eta", type=_positive, default=3, metavar="ETA", help="ASHA's reduction factor (default 3)")
    se.add_argument("--storage", metavar="URL", help="results database URL (default: SQLite in the run directory)")
    se.add_argument("--no-dashboard", action="store_true", help="start the local Ray without its dashboard")
    se.add_argument("--dashboard-host", type=_host, default="127.0.0.1", metavar="HOST",
                    help="address the dashboard binds to (default 127.0.0.1; anything else is reachable from outside)")
    se.add_argument("--input", type=_shape_arg, metavar="CxHxW", help="deployment input (default: the space's)")
    se.add_argument("--classes", type=_positive, metavar="N", help="deployment classes (default: the space's)")
    se.set_defaults(func=cmd_search)
