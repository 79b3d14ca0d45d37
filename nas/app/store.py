"""The results store: every evaluation of a search, recorded as it completes, with the strategy's state.

An embedded SQLite file in the run directory by default; any SQLAlchemy URL (``postgresql://...``) through the
same code, so that a team sharing a cluster can share one database (runs are keyed by name). An evaluation and
the strategy state that follows it are written in one transaction, so a driver killed at any moment leaves a
store from which the search continues exactly; a candidate is recorded at most once.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa

from ..errors import NasError

_META = sa.MetaData()
RUNS = sa.Table(
    "nas_runs", _META,
    sa.Column("run", sa.String(200), primary_key=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("config", sa.Text, nullable=False),  # the search's settings, JSON
    sa.Column("state", sa.Text),  # the strategy's state_dict after the last recorded evaluation, JSON
)
EVALUATIONS = sa.Table(
    "nas_evaluations", _META,
    sa.Column("run", sa.String(200), primary_key=True),
    sa.Column("trial", sa.Integer, primary_key=True),  # the candidate's id (references are negative)
    sa.Column("origin", sa.String(200)),
    sa.Column("parent", sa.Integer),
    sa.Column("genome", sa.Text, nullable=False),  # YAML
    sa.Column("config", sa.Text),  # the candidate's point in its search space, JSON (null for the verdict's runs)
    sa.Column("short", sa.Text),  # compact one-line form for tables
    sa.Column("macs", sa.BigInteger, nullable=False),
    sa.Column("params", sa.BigInteger, nullable=False),
    sa.Column("activations", sa.BigInteger),
    sa.Column("status", sa.String(20), nullable=False),  # ok, failed
    sa.Column("accuracy", sa.Float),
    sa.Column("loss", sa.Float),
    sa.Column("metrics", sa.Text),  # everything the estimator returned, JSON
    sa.Column("fidelity", sa.Text),  # epochs, data set, resolution... JSON
    sa.Column("error", sa.Text),
    sa.Column("worker", sa.String(200)),  # host:pid of the process that ran it
    sa.Column("attempts", sa.Integer),
    sa.Column("started", sa.Float),
    sa.Column("finished", sa.Float),
    sa.Column("seconds", sa.Float),
)

CSV_FIELDS = ("trial", "origin", "status", "accuracy", "loss", "macs", "params", "seconds", "epochs", "worker",
              "attempts", "error", "summary", "genome")
"""``trials.csv``'s columns: ``summary`` is the genome on one line for reading, ``genome`` its YAML (a quoted field
over several lines) that ``nas decode`` and ``nas.loads`` read back."""


@dataclass
class Evaluation:
    """One recorded evaluation (a row of ``nas_evaluations``)."""

    trial: int
    genome: str
    macs: int
    params: int
    status: str
    origin: str = ""
    parent: int | None = None
    short: str = ""
    activations: int | None = None
    accuracy: float | None = None
    loss: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    fidelity: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    worker: str | None = None
    attempts: int = 1
    started: float | None = None
    finished: float | None = None
    seconds: float | None = None
    config: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["metrics"] = json.dumps(self.metrics, default=str)
        d["fidelity"] = json.dumps(self.fidelity)
        d["config"] = None if self.config is None else json.dumps(self.config)
        return d

    @classmethod
    def from_row(cls, row: Any) -> "Evaluation":
        return cls.from_dict(dict(row._mapping))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Evaluation":
        """From a row's columns as a dict (changed in place), its JSON columns parsed and checked."""
        d.pop("run", None)
        for key, empty in (("metrics", "{}"), ("fidelity", "{}"), ("config", "null")):
            d[key] = _json(d.get(key) or empty, f"nas_evaluations.{key} of trial {d.get('trial')}", dict)
        return cls(**d)


class Store:
    """The evaluations and strategy state of one run, in a database named by a URL."""

    def __init__(self, url: str, run: str) -> None:
        self.url, self.run = database_url(url), run
        try:
            self.engine = sa.create_engine(self.url, future=True)
            _META.create_all(self.engine)
            columns = {c["name"] for c in sa.inspect(self.engine).get_columns("nas_evaluations")}
            if "config" not in columns:  # a store written before configs were kept: add the column
                with self.engine.begin() as con:
                    con.execute(sa.text("ALTER TABLE nas_evaluations ADD COLUMN config TEXT"))
        except (sa.exc.ArgumentError, sa.exc.DatabaseError, ModuleNotFoundError) as e:
            raise NasError(f"cannot open the results database '{shown(url)}': {_first_line(e)}") from None

    def create(self, config: dict[str, Any]) -> None:
        """Register the run with its settings (a run that exists keeps its own)."""
        with self.engine.begin() as con:
            if con.execute(sa.select(RUNS.c.run).where(RUNS.c.run == self.run)).first() is None:
                con.execute(RUNS.insert().values(run=self.run, created=time.time(), config=json.dumps(config)))

    def update_config(self, config: dict[str, Any]) -> None:
        """Replace the run's settings (a resumed run extended with more trials)."""
        with self.engine.begin() as con:
            con.execute(RUNS.update().where(RUNS.c.run == self.run).values(config=json.dumps(config)))

    def config(self) -> dict[str, Any] | None:
        """The run's settings, or None for a run never started."""
        row = self._one(RUNS.c.config)
        return _json(row[0], "nas_runs.config", dict) if row else None

    def state(self) -> dict[str, Any] | None:
        """The strategy's state after the last recorded evaluation (JSON data: it is checked where it is used)."""
        row = self._one(RUNS.c.state)
        return _json(row[0], "nas_runs.state", dict) if row and row[0] else None

    def _one(self, column: Any) -> Any:
        try:
            with self.engine.connect() as con:
                return con.execute(sa.select(column).where(RUNS.c.run == self.run)).first()
        except sa.exc.DatabaseError as e:
            raise NasError(f"cannot read the results database '{shown(self.url)}': {_first_line(e)}") from None

    def record(self, ev: Evaluation, state: dict[str, Any] | None = None) -> bool:
        """Record an evaluation and the strategy state after it, atomically; False if it was recorded before."""
        with self.engine.begin() as con:
            exists = con.execute(sa.select(EVALUATIONS.c.trial).where(
                (EVALUATIONS.c.run == self.run) & (EVALUATIONS.c.trial == ev.trial))).first()
            if exists:
                return False
            con.execute(EVALUATIONS.insert().values(run=self.run, **ev.row()))
            if state is not None:
                con.execute(RUNS.update().where(RUNS.c.run == self.run).values(state=json.dumps(state)))
        return True

    def evaluations(self) -> list[Evaluation]:
        """Every recorded evaluation of the run, by the time each finished."""
        return list(self.stream())

    def stream(self) -> Iterator[Evaluation]:
        """The recorded evaluations one at a time, by the time each finished (read in batches, not all at once)."""
        try:
            with self.engine.connect() as con:
                result = con.execution_options(stream_results=True, yield_per=1000).execute(
                    sa.select(EVALUATIONS).where(EVALUATIONS.c.run == self.run)
                    .order_by(EVALUATIONS.c.finished, EVALUATIONS.c.trial))
                keys = list(result.keys())
                for r in result:
                    yield Evaluation.from_dict(dict(zip(keys, r)))
        except sa.exc.DatabaseError as e:
            raise NasError(f"cannot read the results database '{shown(self.url)}': {_first_line(e)}") from None

    def close(self) -> None:
        self.engine.dispose()


def _json(text: str, where: str, kind: type) -> Any:
    """JSON text from the database, which must hold a ``kind`` (or null); anything else is one line."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError, RecursionError) as e:
        raise NasError(f"{where} in the results database is not valid JSON ({_first_line(e)[:80]})") from None
    if value is not None and not isinstance(value, kind):
        raise NasError(f"{where} in the results database holds {type(value).__name__}, not a JSON "
                       f"{'object' if kind is dict else kind.__name__}")
    return value


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def database_url(url: str) -> str:
    """``url`` with a driver SQLAlchemy can load: a bare ``postgresql://`` means psycopg2 to SQLAlchemy; when only
    psycopg (version 3, the ``postgres`` extra) is installed, it is used instead."""
    import importlib.util

    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgresql", "postgres") and importlib.util.find_spec("psycopg2") is None \
            and importlib.util.find_spec("psycopg") is not None:
        return f"postgresql+psycopg://{rest}"
    return url


def sqlite_url(path: Path | str) -> str:
    """The SQLite URL of the database file ``path``, escaped: a directory named ``a?b`` or ``50%`` stays a path
    (SQLAlchemy would read ``?`` as the start of options and ``%`` as an escape)."""
    return sa.engine.URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for another database)."""
    try:
        u = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return None
    return Path(u.database) if u.get_backend_name() == "sqlite" and u.database else None


def shown(url: str) -> str:
    """``url`` fit to print: its password hidden."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def csv_row(ev: Evaluation) -> dict[str, Any]:
    """The ``trials.csv`` row of an evaluation."""
    return {"trial": ev.trial, "origin": ev.origin, "status": ev.status,
            "accuracy": "" if ev.accuracy is None else f"{ev.accuracy:.6f}",
            "loss": "" if ev.loss is None else f"{ev.loss:.6f}", "macs": ev.macs, "params": ev.params,
            "seconds": "" if ev.seconds is None else f"{ev.seconds:.2f}", "epochs": ev.fidelity.get("epochs", ""),
            "worker": ev.worker or "", "attempts": ev.attempts, "error": ev.error or "", "summary": ev.short,
            "genome": ev.genome}


def write_csv(path: Path, evaluations: Iterator[Evaluation] | list[Evaluation]) -> None:
    """Write ``trials.csv`` anew from the store (on resume, so that it matches the database exactly)."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for ev in evaluations:
            w.writerow(csv_row(ev))


def append_csv(path: Path, ev: Evaluation) -> None:
    """Append one row to ``trials.csv`` as an evaluation completes."""
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        if new:
            w.writeheader()
        w.writerow(csv_row(ev))
