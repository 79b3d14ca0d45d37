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
    sa.Column("trial", sa.Integer, primary_key=True),  # the candidate's id; verdict and audit runs are negative
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

LEASES = sa.Table(
    "nas_leases", _META,
    sa.Column("run", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(300), nullable=False),  # host:pid of the driver that holds the run
    sa.Column("renewed", sa.Float, nullable=False),  # seconds since the epoch, on the holder's clock
    sa.Column("expires", sa.Float, nullable=False),
)

LEASE_SECONDS = 60.0
"""How long a driver's hold on a run lasts unless renewed (it renews every quarter of it while it runs); a driver
that died is taken over this long after its last renewal."""

CSV_FIELDS = ("trial", "name", "origin", "status", "accuracy", "loss", "macs", "params", "seconds", "epochs",
              "worker", "attempts", "error", "summary", "genome")
"""``trials.csv``'s columns: ``name`` says what the id is (``trial 12``, ``verdict: trial 12, seed 2``); ``summary``
is the genome on one line for reading, ``genome`` its YAML (a quoted field over several lines) that ``nas decode``
and ``nas.loads`` read back."""


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
        scheme, _, rest = url.partition("://")
        if scheme.startswith("sqlite") and rest.split("?")[0] in ("", "/", "/:memory:"):
            raise NasError(f"the results database '{shown(url)}' is in memory: the search's record would be lost "
                           "when it ends; name a file (sqlite:///path/results.db) or a server")
        try:
            self.engine = sa.create_engine(self.url, future=True)
            _META.create_all(self.engine)
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
        """Record an evaluation and the strategy state after it, atomically; False if it was recorded before
        (by this driver, or by another one that wrote it first)."""
        try:
            with self.engine.begin() as con:
                exists = con.execute(sa.select(EVALUATIONS.c.trial).where(
                    (EVALUATIONS.c.run == self.run) & (EVALUATIONS.c.trial == ev.trial))).first()
                if exists:
                    return False
                con.execute(EVALUATIONS.insert().values(run=self.run, **ev.row()))
                if state is not None:
                    con.execute(RUNS.update().where(RUNS.c.run == self.run).values(state=json.dumps(state)))
        except sa.exc.IntegrityError:  # inserted by another writer between the check and the insert
            return False
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


class Lease:
    """One driver's hold on a run, kept in the store so that drivers on different machines sharing a database see
    it: taken before the search touches the run, renewed while it runs, given back when it ends.

    A run held by a live driver is refused with one line naming it; a hold not renewed for ``seconds`` (its driver
    died or hung) is taken over, and at once when its driver was a process of this machine that no longer exists.
    Taking and renewing are single conditional statements, atomic in SQLite and PostgreSQL alike. Renewal compares
    clocks of the machines sharing the database: keep them in step.
    """

    def __init__(self, store: Store, seconds: float = LEASE_SECONDS, holder: str | None = None) -> None:
        import os
        import socket

        self.store, self.seconds = store, float(seconds)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.lost: str | None = None  # why the lease was lost while held (another driver took it over)
        self._stop: Any = None

    def take(self) -> str | None:
        """Hold the run; returns the holder whose expired lease was taken over (None: it was free or ours)."""
        engine = self.store.engine
        now = time.time()
        mine = (LEASES.c.run == self.store.run)
        try:
            with engine.begin() as con:
                row = con.execute(sa.select(LEASES.c.holder, LEASES.c.renewed, LEASES.c.expires).where(mine)).first()
            if row is None:
                try:
                    with engine.begin() as con:
                        con.execute(LEASES.insert().values(run=self.store.run, holder=self.holder, renewed=now,
                                                           expires=now + self.seconds))
                    return None
                except sa.exc.IntegrityError:  # another driver took it in between: read it again
                    with engine.begin() as con:
                        row = con.execute(sa.select(LEASES.c.holder, LEASES.c.renewed, LEASES.c.expires)
                                          .where(mine)).first()
            free = (LEASES.c.holder == self.holder) | (LEASES.c.expires < now)
            if row is not None and _dead_here(str(row[0])):  # its driver was on this machine and is gone
                free = free | (LEASES.c.holder == row[0])
            with engine.begin() as con:
                taken = con.execute(LEASES.update().where(mine & free)
                                    .values(holder=self.holder, renewed=now, expires=now + self.seconds)).rowcount
        except sa.exc.DatabaseError as e:
            raise NasError(f"cannot hold the run in the results database '{shown(self.store.url)}': "
                           f"{_first_line(e)}") from None
        if taken != 1:
            holder, renewed, expires = row if row is not None else ("another driver", now, now)
            raise NasError(f"run '{self.store.run}' is being searched by {holder} (its hold was renewed "
                           f"{max(0.0, now - renewed):.0f} s ago); a second driver is refused. Wait for it to end, "
                           f"or, if it died, {max(0.0, expires - now):.0f} s until its hold expires")
        return None if row is None or row[0] == self.holder else str(row[0])

    def renew(self) -> bool:
        """Extend the hold; False (and ``lost`` set) when another driver has taken the run over meanwhile."""
        now = time.time()
        try:
            with self.store.engine.begin() as con:
                n = con.execute(LEASES.update().where((LEASES.c.run == self.store.run)
                                                      & (LEASES.c.holder == self.holder))
                                .values(renewed=now, expires=now + self.seconds)).rowcount
        except sa.exc.DatabaseError:  # a database that blinks: try again at the next renewal
            return True
        if n != 1:
            self.lost = f"another driver took run '{self.store.run}' over (this one's hold lapsed)"
        return n == 1

    def keep(self) -> None:
        """Renew from a background thread every quarter of the lease until ``release``."""
        import threading

        self._stop = threading.Event()

        def loop() -> None:
            while not self._stop.wait(self.seconds / 4):
                if not self.renew():
                    return

        threading.Thread(target=loop, name=f"nas lease {self.store.run}", daemon=True).start()

    def release(self) -> None:
        """Give the run back (only if this driver still holds it)."""
        if self._stop is not None:
            self._stop.set()
        try:
            with self.store.engine.begin() as con:
                con.execute(LEASES.delete().where((LEASES.c.run == self.store.run)
                                                  & (LEASES.c.holder == self.holder)))
        except sa.exc.DatabaseError:
            pass  # it expires on its own


def _dead_here(holder: str) -> bool:
    """Whether ``holder`` (host:pid) names a process of this machine that no longer exists: its hold is void at
    once, without waiting for it to expire (a driver killed here is resumed here straight away)."""
    import os
    import socket

    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:  # it exists, under another user
        return False
    return False


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
    from .verdict import run_name

    return {"trial": ev.trial, "name": run_name(ev.trial), "origin": ev.origin, "status": ev.status,
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
