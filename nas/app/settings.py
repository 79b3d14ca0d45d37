"""What a search does: its settings, their checks, and the settings of a run read back for ``--resume``.

Nothing here starts Ray or trains anything; the checks that need a space or the data set take them as arguments.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._limits import MAX_COUNT, MAX_SHARE
from ..errors import NasError
from . import scoring
from .stopping import STOPPERS
from .store import Store, shown
from .verdict import VERDICT_SEEDS_MAX


@dataclass
class Settings:
    """What a search does; saved in the run so that ``--resume`` continues the same search."""

    space: str = "mobilenet"  # a registered space's name, or a template file (search_spaces.template)
    space_yaml: str | None = None  # a template space's text, kept with the run so that --resume needs no file
    budget: str = "300M"
    max_params: str | None = None  # a cap on parameters beside the MAC budget, as written (3M, 500k)
    max_activations: str | None = None  # a cap on activation elements at batch 1 (the sum of every op's output)
    max_latency_ms: float | None = None  # a cap on milliseconds on this CPU (one thread, batch 1), as predicted
    strategy: str = "evolution"
    trials: int = 40
    epochs: int = 2
    dataset: str = "fashion"
    data_dir: str | None = None
    seed: int = 0
    input: list[int] | None = None
    classes: int | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    retries: int = 2  # times a task is run again when its worker process dies
    # "asha", "median" or None: stop trials between epochs (needs epochs > 1). ASHA by default: at equal training
    # epochs neither it nor running every trial to the end returns the better network (benchmarks/asha_replay.md),
    # and it keeps the quick start within 15 minutes (off: 15.5 minutes for --seed 0 against 11.2)
    early_stop: str | None = "asha"
    eta: int = 3  # ASHA's reduction factor: the top 1/eta of the trials at a rung go on
    width: float | None = None  # the proxy's width multiplier on top of the genome's (None: the space's proxy_width)
    train_images: int | None = 5000  # training images per proxy epoch (stratified), None: the whole train split
    batch_size: int = 64
    verdict: bool = True  # retrain the search's best and the baseline, score them on the test split
    # 1 candidate and 8 seeds: the most power (benchmarks/verdict_calibration.md) of the designs that keep the
    # quick start within 15 minutes on 2 cores (benchmarks/quickstart_seeds.md)
    verdict_top: int = 1
    verdict_epochs: int = 3
    verdict_seeds: int = 8
    verdict_width: float | None = None  # width of the verdict's networks (None: 1.0 on GPUs, else the proxy's)
    evaluator: str | None = None  # module:function, the user's own training in place of the proxy's (evaluator.py)
    estimator: str = "proxy"  # "proxy": train each candidate briefly; "nb201": look its cell up in NAS-Bench-201
    supernet: str | None = None  # estimator "supernet": the checkpoint whose inherited weights score candidates
    audit: int = 5  # estimator "supernet": candidates spread over its ranking trained standalone, for a tau
    rescore: int = 3  # estimator "supernet": its top candidates trained standalone; the best of them is the winner

    def __post_init__(self) -> None:
        if self.early_stop == "off":
            self.early_stop = None


def validate(s: Settings) -> None:
    """Refuse settings no search can run with (one line each); the names of space, strategy and data set are
    checked by whoever loads them."""
    entry = scoring.get(s.estimator)
    if entry.check is not None:
        entry.check(s)
    if s.evaluator and s.estimator != "proxy":
        raise NasError(f"--evaluator trains candidates itself, in place of --estimator proxy; it cannot score with "
                       f"--estimator {s.estimator}")
    if s.supernet and s.estimator != "supernet":
        raise NasError("--supernet is read only with --estimator supernet")
    bad = out_of_range(s)
    if bad:
        raise NasError(f"--{bad[0].replace('_', '-')} {getattr(s, bad[0])!r}: {bad[1]}")
    if s.early_stop not in (None, *STOPPERS):
        raise NasError(f"unknown early-stopping rule '{s.early_stop}'; rules: {', '.join(STOPPERS)}")


def space_of(s: Settings) -> Any:
    """The search's space: a registered one by name, or a template (read from the run's stored text once the run
    has it, so that a resumed run does not depend on the file; the text is stored on the first start)."""
    import search_spaces
    from search_spaces.template import from_file, from_text, is_template

    shape = (s.input[0], s.input[1], s.input[2]) if s.input else None
    if s.space_yaml is not None:
        return from_text(s.space_yaml, s.space, shape, s.classes)
    if is_template(s.space):
        space = from_file(s.space, shape, s.classes)
        s.space_yaml = space.text
        return space
    return search_spaces.get(s.space, shape, s.classes)


def budget_of(s: Settings) -> Any:
    """The search's ``Budget``: MACs, and the parameter, activation and latency caps when set."""
    from search_spaces import Budget

    from ..budget import parse_budget

    return Budget(parse_budget(s.budget), parse_budget(s.max_params, "params") if s.max_params else None,
                  parse_budget(s.max_activations, "activations") if s.max_activations else None, s.max_latency_ms)


def verdict_width(s: Settings) -> tuple[float, str]:
    """The width the verdict retrains at, and why: ``--verdict-width`` as given; else the architecture's own
    (1.0) when the trials run on GPUs, and the proxy's width on CPUs, where width 1.0 takes 2.4 times as long
    (``benchmarks/verdict_width.md`` times both and shows that the proxy width's ranking does not carry over)."""
    if s.verdict_width is not None:
        return float(s.verdict_width), "as --verdict-width asks"
    if s.gpus_per_trial > 0:
        return 1.0, "the architecture's own width, as trials run on GPUs"
    return float(s.width or 1.0), ("the proxy's width, as trials run on CPUs (--verdict-width 1 retrains the "
                                  "architecture's own width)")


def supernet_settings(s: Settings, space: Any) -> None:
    """A supernet search scores at the supernet's own proxy: its data set and width are taken from the checkpoint
    (a different one asked for is refused), early stopping is off (nothing is trained per candidate)."""
    from .supernet import load

    if not s.supernet:
        raise NasError("--estimator supernet needs --supernet CHECKPOINT (a supernet.pt from `nas supernet train`)")
    _, data = load(s.supernet, space)
    trained = data["settings"]
    if s.dataset != trained["dataset"] or (s.data_dir or None) != (trained["data_dir"] or None):
        raise NasError(f"the supernet '{s.supernet}' was trained on {trained['dataset']}"
                       + (f" from {trained['data_dir']}" if trained["data_dir"] else "")
                       + f"; this search asks for {s.dataset}" + (f" from {s.data_dir}" if s.data_dir else ""))
    if s.width is not None and abs(s.width - data["width"]) > 1e-9:
        raise NasError(f"the supernet '{s.supernet}' serves width x{data['width']:g}, not --width {s.width:g}")
    s.width = data["width"]
    s.early_stop = None


def check_data(dataset: str, data_dir: str | None) -> None:
    """Refuse an unknown data set or a missing or malformed data directory before any worker starts."""
    import estimators

    estimators.DATASETS.lookup(dataset)  # an unknown name, or a module:Class that does not load, is one line
    if data_dir is not None and not Path(data_dir).is_dir():
        raise NasError(f"data directory '{data_dir}' does not exist")
    estimators.load_data(dataset, data_dir)  # the layout is checked here, once, before any worker starts


DATA_RECORD = "data.json"
"""In a run directory: what the first start's data check found (the data line and the files it read), so that a
resume whose data are unchanged skips reading them again in the driver (torch and the data set: seconds)."""


def data_fingerprint(dataset: str, source: str) -> str | None:
    """What identifies the data a check read: the size and modification time of every file under ``source`` (a
    directory), or the package a built-in set ships in; None for a user's ``module:Class`` (always checked)."""
    import hashlib
    import os

    if ":" in dataset:
        return None
    root = Path(source)
    if not root.is_dir():
        return f"package:{dataset}"
    entries = []
    for top, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            try:
                st = os.stat(os.path.join(top, name))
            except OSError:
                continue
            entries.append(f"{os.path.relpath(os.path.join(top, name), root)}\0{st.st_size}\0{st.st_mtime_ns}")
    return f"{len(entries)}:" + hashlib.sha256("\n".join(entries).encode(errors="surrogateescape")).hexdigest()


def recorded_data_line(out: Path, s: Settings) -> str | None:
    """The data line a previous start of this run recorded, when its data set, directory and files are unchanged;
    else None (the data must be read and checked again)."""
    import json

    try:
        rec = json.loads((Path(out) / DATA_RECORD).read_text())
        same = rec["dataset"] == s.dataset and rec["data_dir"] == s.data_dir
        if same and rec["fingerprint"] is not None and rec["fingerprint"] == data_fingerprint(s.dataset, rec["source"]):
            return str(rec["line"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def record_data_line(out: Path, s: Settings, source: str, line: str) -> None:
    """Keep what this start's data check found (``recorded_data_line`` reads it on the next start)."""
    import json

    rec = {"dataset": s.dataset, "data_dir": s.data_dir, "source": source, "line": line,
           "fingerprint": data_fingerprint(s.dataset, source)}
    try:
        (Path(out) / DATA_RECORD).write_text(json.dumps(rec, indent=1) + "\n")
    except OSError:
        pass  # only a shortcut for the next start


def storage_url(out: Path, storage: str | None = None) -> str:
    """The results database: ``storage`` when given, else SQLite in the run directory."""
    from .store import sqlite_url

    return storage or sqlite_url(Path(out) / "results.db")


def resume_settings(out: Path, storage: str | None = None) -> Settings:
    """The settings a run in ``out`` was started with; an empty or unknown run directory, or stored settings that
    are not this version's, are input mistakes (one line)."""
    out = Path(out)
    if storage is None and not (out / "results.db").exists():
        raise NasError(f"nothing to resume in '{out}': it holds no results.db")
    store = Store(storage_url(out, storage), run=out.resolve().name)
    config = store.config()
    if config is None:
        raise NasError(f"nothing to resume: no run named '{out.resolve().name}' in the results database")
    return settings_from(config, f"the settings stored in '{shown(store.url)}'")


RUNTIME = frozenset({"out", "resume", "storage", "address", "no_dashboard", "dashboard_host", "max_concurrent"})
"""Flags of ``nas search`` that say how this start runs, not what the search is: a resumed run takes them anew."""


def resumed(s: Settings, given: dict[str, Any]) -> Settings:
    """The stored settings ``s`` continued with the flags a user ``given`` (argparse names and values) on
    ``--resume``: a larger ``trials`` extends the run, ``max_concurrent`` applies to this start, and any other flag
    that differs from the stored setting is refused with one line naming it (a resumed run is the search it stored)."""
    s = dataclasses.replace(s)
    for name, value in sorted(given.items()):
        if name in RUNTIME - {"max_concurrent"} or not hasattr(Settings, name) and name != "no_verdict":
            continue
        field, want = ("verdict", not value) if name == "no_verdict" else (name, value)
        have = getattr(s, field)
        want = as_stored(field, want)
        if same_setting(field, want, have):
            continue
        if field == "max_concurrent":
            s.max_concurrent = want
        elif field == "trials" and want > have:
            s.trials = want
        else:
            flag = "--" + name.replace("_", "-")
            typed = "" if isinstance(value, bool) else f" {_as_flag_text(value)}"
            why = (f"a run can be extended, not shortened: it was started with --trials {have}"
                   if field == "trials" else f"this run was started with {_setting(field, have)}")
            raise NasError(f"{flag}{typed} differs from the run being resumed: {why}; drop the flag, or start a new "
                           "run with another --out")
    return s


def as_stored(field: str, value: Any) -> Any:
    """A flag's value as the settings store it (``--train-images 0``: None, ``--early-stop off``: None, a shape
    as a list)."""
    if field == "train_images":
        return value or None
    if field == "input":
        return list(value) if value else None
    if field == "early_stop" and value == "off":
        return None
    return value


def same_setting(field: str, want: Any, have: Any) -> bool:
    """Whether a flag's value (``as_stored``) is the stored setting: budgets by their number, floats up to rounding."""
    from ..budget import parse_budget

    if field in ("budget", "max_params", "max_activations") and want is not None and have is not None:
        return parse_budget(want) == parse_budget(have)
    if isinstance(want, float) and isinstance(have, (int, float)) and not isinstance(have, bool):
        return math.isclose(want, have, rel_tol=1e-9)
    return want == have


def _as_flag_text(v: Any) -> str:
    return "x".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)


def _setting(field: str, v: Any) -> str:
    """A stored setting as the flag that would give it."""
    if field == "verdict":
        return "the verdict on" if v else "--no-verdict"
    if v is None:
        return f"no --{field.replace('_', '-')}" if field != "early_stop" else "--early-stop off"
    return f"--{field.replace('_', '-')} {_as_flag_text(v)}"


_KINDS: dict[str, type | tuple[type, ...]] = {"int": int, "float": (int, float), "str": str, "bool": bool,
                                              "list[int]": list}


def settings_from(config: dict[str, Any], where: str) -> Settings:
    """``Settings`` from stored JSON, each field checked against its declared type."""
    for f in dataclasses.fields(Settings):
        if f.name not in config:
            continue
        v = config[f.name]
        parts = [p.strip() for p in str(f.type).split("|")]
        if v is None and "None" in parts:
            continue
        # a bool is an int to isinstance; stored JSON that says true where a number belongs is still refused
        ok = any(isinstance(v, _KINDS[p]) and not (isinstance(v, bool) and p != "bool") for p in parts if p in _KINDS)
        if ok and isinstance(v, list):
            ok = all(isinstance(x, int) and not isinstance(x, bool) for x in v)
        if not ok:
            raise NasError(f"{where}: {f.name} is {str(v)[:40]!r}, not {' or '.join(parts)}")
    unknown = sorted(set(config) - {f.name for f in dataclasses.fields(Settings)})
    if unknown:
        raise NasError(f"{where}: unknown setting {unknown[0][:40]!r}")
    s = Settings(**config)
    bad = out_of_range(s)
    if bad:
        raise NasError(f"{where}: {bad[0]} is {str(getattr(s, bad[0]))[:40]!r}; {bad[1]}")
    return s


def _count(lo: int, hi: int = MAX_COUNT) -> Any:
    return lambda v: lo <= v <= hi


def _share(v: float) -> bool:
    """A CPU or GPU share Ray accepts: 0, or a multiple of 0.0001 up to MAX_SHARE."""
    return math.isfinite(v) and 0 <= v <= MAX_SHARE and abs(v * 1e4 - round(v * 1e4)) < 1e-6


def _factor(v: float | None) -> bool:
    return v is None or math.isfinite(v) and 1e-3 <= v <= MAX_SHARE


RANGES: dict[str, tuple[Any, str]] = {
    "trials": (_count(1), f"it must be from 1 to {MAX_COUNT:,}"),
    "epochs": (_count(1), f"it must be from 1 to {MAX_COUNT:,}"),
    "seed": (_count(0, 2**32 - 1), "it must be from 0 to 2^32 - 1"),
    "classes": (lambda v: v is None or 1 <= v <= MAX_COUNT, f"it must be from 1 to {MAX_COUNT:,}"),
    "input": (lambda v: v is None or len(v) == 3 and all(1 <= x <= MAX_COUNT for x in v),
              "it must be three sides C, H, W, each at least 1"),
    "cpus_per_trial": (_share, f"it must be from 0 to {MAX_SHARE:,g} in steps of 0.0001 (Ray's finest share)"),
    "gpus_per_trial": (_share, f"it must be from 0 to {MAX_SHARE:,g} in steps of 0.0001 (Ray's finest share)"),
    "max_concurrent": (lambda v: v is None or 1 <= v <= MAX_COUNT, "it must be at least 1"),
    "retries": (_count(0, 100), "it must be from 0 to 100"),
    "width": (_factor, f"it must be from 0.001 to {MAX_SHARE:,g}"),
    "max_latency_ms": (_factor, f"it must be from 0.001 to {MAX_SHARE:,g} milliseconds"),
    "verdict_width": (_factor, f"it must be from 0.001 to {MAX_SHARE:,g}"),
    "train_images": (lambda v: v is None or 1 <= v <= MAX_COUNT, "it must be at least 1"),
    "batch_size": (_count(1, 1 << 20), "it must be from 1 to 1,048,576"),
    "verdict_top": (_count(1, 1000), "it must be from 1 to 1,000"),
    "verdict_epochs": (_count(1), "it must be at least 1"),
    "verdict_seeds": (_count(1, VERDICT_SEEDS_MAX), f"it must be from 1 to {VERDICT_SEEDS_MAX}"),
    "eta": (_count(2, 1000), "it must be from 2 to 1,000"),
    "audit": (_count(0, 1000), "it must be from 0 to 1,000"),
    "rescore": (_count(0, 1000), "it must be from 0 to 1,000"),
}
"""The range of each numeric setting, checked on a fresh start and on every value a resumed run reads back."""


def out_of_range(s: Settings) -> tuple[str, str] | None:
    """The first setting out of its range and what its range is, or None."""
    for name, (ok, say) in RANGES.items():
        if not ok(getattr(s, name)):
            return name, say
    if s.cpus_per_trial == 0 and s.gpus_per_trial == 0:
        return "cpus_per_trial", "a trial must ask for some CPU or GPU (both are 0)"
    return None


def fidelity_text(data: str, s: Settings, floor: int) -> str:
    """One line on what a proxy score means."""
    images = f"{s.train_images:,}" if s.train_images else "all"
    return (f"{data}; {images} training images per epoch, up to {s.epochs} epoch(s), width x{s.width:g}, batch "
            f"{s.batch_size}, native resolution with strides dropped where a map would fall below {floor}x{floor}; "
            f"scores are validation accuracy +- binomial standard error")
