"""Learning curves in TensorBoard: every trial's per-epoch accuracy and loss, written beside the results store.

``tensorboard --logdir <run>/tensorboard`` shows one TensorBoard run per trial, ``trial-0007`` for a candidate
and ``verdict-<label>-seed0`` for a verdict retraining (seeds count from 0, as the verdict's log lines do), so the
run selector lists the search in trial order with the verdict after it. Each run holds, with the epoch as the step:

* ``accuracy`` and ``loss``: the score after each epoch. A candidate is scored on the validation split; a verdict
  retraining on the test split (its run's name says so). The tags are the same, so that the verdict's curves lie
  on the same charts as the candidates they retrain instead of on charts of their own;
* ``train_loss``: the mean training loss of the epoch;
* ``trial`` (``trial/text_summary`` in the Text tab): what the run is (origin, cost, split, final score, the
  genome in short).

Every point carries the wall time at which its epoch ended (the task's start plus the epoch's seconds), so
TensorBoard's relative and wall-time axes show how long trials took and which ran side by side. A stopped trial
has the epochs it ran; a failed trial has the epochs it finished before failing, and nothing at all when it
finished none.

A trial's series is written once, when its record lands (the worker returns the whole history), and each run
directory is complete or absent: it is written aside and moved into place, with the writer closed. Its event file
is named for a digest of its content, so that ``rebuild`` at every start or resume keeps what already matches the
store, writes what is missing and removes what the store does not hold (a resumed search never has two event
files for one trial). ``tensorboardX`` (a dependency of ``ray[tune]``) writes the files; TensorBoard itself is
needed only to look at them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from ..cost import human
from .settings import Settings
from .store import Evaluation
from .verdict import VERDICT_TRIALS, verdict_run

if TYPE_CHECKING:
    from search_spaces import Space

SCALARS = ("accuracy", "loss", "train_loss")
"""The per-epoch keys of a result's ``history`` drawn as curves, under these tags."""

FORMAT = 1
"""Part of every run's digest: a change in what a run holds rewrites the runs of a resumed search."""


def slug(text: str, limit: int = 60) -> str:
    """``text`` as a safe, readable directory name: lower case, runs of anything but letters, digits, dots and
    underscores made one dash (``'trial 3 = seed lenet5 (12.3M)'`` -> ``'trial-3-seed-lenet5-12.3m'``)."""
    s = re.sub(r"[^a-z0-9._]+", "-", text.lower()).strip("-.")[:limit].strip("-.")
    return s or "run"


class Curves:
    """The TensorBoard runs of the search in ``out``: ``out/tensorboard/<one directory per trial>``."""

    def __init__(self, out: Path, settings: Settings, space: Space | None = None) -> None:
        import importlib.util

        if importlib.util.find_spec("tensorboardX") is None:  # a missing package is said when the view is opened
            raise ModuleNotFoundError("No module named 'tensorboardX'", name="tensorboardX")
        self.root = Path(out) / "tensorboard"
        self.staging = Path(out) / ".tensorboard-partial"  # runs being written, outside the log directory
        self.width = max(4, len(str(max(0, settings.trials - 1))))  # trial-0007 sorts before trial-0012
        self._names: dict[str, int] = {}  # run name -> the trial that holds it

    # ------------------------------------------------------------ the view

    def rebuild(self, done: list[Evaluation]) -> None:
        """Make ``out/tensorboard`` hold exactly the runs of the records ``done``: runs that match are kept, the
        rest written, anything else under it removed."""
        self._names = {}
        wanted = {run[0]: run for run in map(self._run, done) if run is not None}
        self.root.mkdir(parents=True, exist_ok=True)
        for child in self.root.iterdir():
            if child.name not in wanted or not self._matches(child, wanted[child.name][1]):
                _remove(child)
        _remove(self.staging)
        for name, digest, events in wanted.values():
            if not (self.root / name).exists():
                self._write(name, digest, events)

    def add(self, ev: Evaluation) -> None:
        """Write the run of a new record (nothing for a trial that finished no epoch)."""
        run = self._run(ev)
        if run is None:
            return
        name, digest, events = run
        if not self._matches(self.root / name, digest):
            self._write(name, digest, events)

    # ------------------------------------------------------------ one run

    def _run(self, ev: Evaluation) -> tuple[str, str, list[tuple[str, int, Any, float]]] | None:
        """The run of ``ev``: its directory name, the digest of its content and its events (kind, step, value,
        wall time); None when it has no epoch to show."""
        history = [h for h in (ev.metrics or {}).get("history") or () if isinstance(h, dict)]
        events: list[tuple[str, int, Any, float]] = []
        base = _start(ev, history)
        for i, h in enumerate(history):
            step = h.get("epoch")
            step = step if isinstance(step, int) and not isinstance(step, bool) else i + 1
            t = h.get("seconds")
            if not _number(t):
                t = (ev.seconds or 0.0) * (i + 1) / len(history)
            for tag in SCALARS:
                if _number(h.get(tag)):
                    events.append((tag, step, float(h[tag]), base + float(t)))
        if not events:
            return None
        last = events[-1]
        events.append(("trial", last[1], self._about(ev, last[1]), last[3]))
        name = self._name(ev)
        digest = hashlib.sha256(json.dumps([FORMAT, name, events]).encode()).hexdigest()[:16]
        return name, digest, events

    def _name(self, ev: Evaluation) -> str:
        """``trial-0007``; ``verdict-trial-0012-seed0`` (the entrant's label made safe, the seed counted from 0);
        another trial's name is never taken twice."""
        if ev.trial >= 0:
            name = f"trial-{ev.trial:0{self.width}d}"
        elif _verdict(ev):
            label = re.sub(r"\btrial (\d+)", lambda m: f"trial {int(m[1]):0{self.width}d}", ev.origin[8:])
            name = f"verdict-{slug(label)}-seed{verdict_run(ev.trial)[1]}"
        else:
            name = f"{slug(ev.origin or 'trial')}-{-ev.trial}"
        if self._names.setdefault(name, ev.trial) != ev.trial:
            name = f"{name}-{abs(ev.trial)}"
            self._names[name] = ev.trial
        return name

    def _about(self, ev: Evaluation, epochs: int) -> str:
        """The run's text: what trial it is and how it ended."""
        split = (ev.fidelity or {}).get("split") or (ev.metrics or {}).get("split") or "validation"
        who = (f"**verdict retraining of {ev.origin[8:]}, seed {verdict_run(ev.trial)[1]}**"
               if _verdict(ev) else f"**trial {ev.trial}** ({ev.origin or 'search'})")
        score = f"{split} accuracy {ev.accuracy:.4f}" if ev.accuracy is not None else "no final score"
        end = {"ok": "finished", "stopped": "stopped early"}.get(ev.status, f"failed: {ev.error or 'failed'}")
        lines = [f"{who}: {end} after {epochs} epoch(s), {score}",
                 f"{human(ev.macs)} MACs, {human(ev.params)} parameters"]
        if ev.short:
            lines.append(f"`{ev.short}`")
        return "  \n".join(lines)

    def _matches(self, where: Path, digest: str) -> bool:
        """Whether ``where`` is a run directory holding exactly the one event file of content ``digest``."""
        if where.is_symlink() or not where.is_dir():
            return False
        files = list(where.iterdir())
        return len(files) == 1 and files[0].name.startswith("events.out.tfevents.") \
            and files[0].name.endswith(f".{digest}")

    def _write(self, name: str, digest: str, events: list[tuple[str, int, Any, float]]) -> None:
        """Write the run ``name`` aside, close its writer and move it into place, replacing any other."""
        part = self.staging / name
        _remove(part)
        # imported only when a run is written: tensorboardX imports torch (seconds), and a resumed search whose
        # runs are all in place writes none
        from tensorboardX import SummaryWriter

        w = SummaryWriter(logdir=str(part), filename_suffix=f".{digest}")
        try:
            for tag, step, value, walltime in events:
                if tag == "trial":
                    w.add_text(tag, value, step, walltime=walltime)
                else:
                    w.add_scalar(tag, value, step, walltime=walltime)
        finally:
            w.close()
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / name
        _remove(target)
        os.replace(part, target)
        try:
            self.staging.rmdir()
        except OSError:
            pass


def _verdict(ev: Evaluation) -> bool:
    """Whether ``ev`` is a verdict retraining (its origin ``verdict:<label>``)."""
    return ev.trial <= VERDICT_TRIALS and (ev.origin or "").startswith("verdict:")


def _number(x: Any) -> TypeGuard[float]:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _start(ev: Evaluation, history: list[dict[str, Any]]) -> float:
    """When the trial's training began (its history's seconds count from there)."""
    if _number(ev.started):
        return float(ev.started)  # type: ignore[arg-type]
    last = history[-1].get("seconds") if history else None
    end = float(ev.finished) if _number(ev.finished) else time.time()
    return end - (float(last) if _number(last) else ev.seconds or 0.0)


def _remove(p: Path) -> None:
    """Remove a file, a link or a directory tree, if there."""
    if p.is_symlink() or p.is_file():
        p.unlink()
    elif p.is_dir():
        shutil.rmtree(p)
