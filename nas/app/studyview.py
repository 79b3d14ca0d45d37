"""The search as an Optuna study that optuna-dashboard opens, whatever the strategy: ``<run>/dashboard.db``.

The study is a view of the results store, never a second record: ``rebuild`` deletes it and makes it again from the
stored evaluations (the driver does so at every start, fresh or resumed), and ``record`` adds each new one as it
lands. It is kept apart from the study the optuna and nsga2 strategies search with (``optuna.db``, or the shared
database): that one holds the sampler's proposals, repeats and infeasible draws included, and exists for those two
strategies only; this one holds exactly what the store holds, for every strategy.

What each record becomes, in the study ``nas-<run name>`` (two objectives, named ``accuracy`` and ``MACs``: maximize
the first, minimize the second, so that the dashboard draws their Pareto front):

* parameters: the candidate's point in the search space (its ``config``), one categorical parameter per dimension it
  sets, over that dimension's choices (a dimension a depth switches off is absent, as in the strategies' studies);
* state and values: ``ok`` is COMPLETE with values [accuracy, MACs]; ``stopped`` (ended early by ASHA or the median
  rule) is PRUNED; ``failed`` is FAIL (with the ``error`` attribute); a result with no accuracy is FAIL too.
  Pruned and failed trials carry no values, as Optuna's own do in a study of two objectives;
* intermediate values: the validation accuracy after each epoch, for complete and pruned trials alike: the learning
  curves, and where early stopping cut them (optuna-dashboard 0.21 lists them in each trial's details; it draws its
  intermediate-values plot for single-objective studies only);
* user attributes: ``trial`` (the store's id: the study numbers its trials 0, 1, ... in the order they were
  recorded), ``origin``, ``parent`` (when there is one), ``status``, ``macs``, ``params``, ``epochs``, ``split``,
  ``n_eval`` and ``se`` (the binomial standard error of the accuracy), ``seconds``, ``genome`` (its YAML) and
  ``error`` for a failed one. Start and end times are the evaluation's own.

The verdict's retrainings (store trials below 0) go to a second study in the same file, ``nas-<run name>-verdict``,
made when the first of them is recorded: they are scored on the test split, at a higher fidelity (more epochs, all
the training images), so among the search's validation scores they would top the history plot and make up the
Pareto front by themselves. Each carries the configuration of the search trial it retrains as its parameters (none
for a seed network the search never evaluated), ``origin`` ``verdict:<label>``, ``split`` ``test`` and ``seed``.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Literal, TypeGuard

from .settings import Settings
from .store import Evaluation

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from search_spaces import Space

FILE = "dashboard.db"
"""The study's file in the run directory."""
DIRECTIONS: tuple[Literal["maximize", "minimize"], ...] = ("maximize", "minimize")
METRICS = ["accuracy", "MACs"]


def study_url(out: Path) -> str:
    """The study's storage: SQLite in the run directory ``out``."""
    from .store import sqlite_url

    return sqlite_url(Path(out).resolve() / FILE)


def study_name(out: Path) -> str:
    """``nas-<run name>``: the search's study (the verdict's is this name with ``-verdict``)."""
    return f"nas-{Path(out).resolve().name}"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Optuna without its INFO lines ("A new study created ...") and its experimental-feature warnings, restored
    after: the search's terminal shows the search."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


def storage(url: str) -> optuna.storages.RDBStorage:
    """An Optuna storage on ``url`` that waits for a lock rather than failing: the driver writes the study while
    optuna-dashboard reads it."""
    import optuna

    kwargs = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {}
    with quiet():
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


class StudyView:
    """The study of one run, following its results store (see the module docstring)."""

    def __init__(self, out: Path, settings: Settings, space: Space) -> None:
        from optuna.distributions import CategoricalDistribution

        self.out = Path(out)
        self.url, self.name = study_url(self.out), study_name(self.out)
        self.settings = settings
        self.distributions = {d.name: CategoricalDistribution(list(d.choices)) for d in space.dimensions}
        self.storage = storage(self.url)
        self.study: optuna.Study | None = None
        self.verdict: optuna.Study | None = None
        self._configs: dict[int, dict[str, Any]] = {}  # search trial -> its config, for the verdict's retrainings

    def rebuild(self, done: list[Evaluation]) -> None:
        """The studies made again from the records ``done``, in their order; kept as they are when they already
        hold as many trials as the store holds records (the store only ever adds a record, and the study hears of
        each after the store has it, so equal counts mean the same trials; a study that fell behind, in a crash
        between the two, is made again). Written in one transaction per study: ``add_trial`` costs a query per
        parameter and attribute, a minute for a few hundred MobileNet records; the trials are the same
        ``create_trial`` makes either way (a test holds the two paths equal)."""
        import optuna

        with quiet():
            counts = _counts(self.storage)
            n_search = sum(1 for ev in done if ev.trial >= 0)
            n_verdict = len(done) - n_search
            if counts.get(self.name) == n_search and counts.get(f"{self.name}-verdict", 0) == n_verdict:
                self.study = optuna.load_study(study_name=self.name, storage=self.storage)
                self.verdict = (optuna.load_study(study_name=f"{self.name}-verdict", storage=self.storage)
                                if n_verdict else None)
                self._configs = {ev.trial: ev.config for ev in done if ev.trial >= 0 and ev.config is not None}
                return
            names = set(counts)
            for name in (self.name, f"{self.name}-verdict"):
                if name in names:
                    _delete(self.storage, self.storage.get_study_id_from_name(name))
            self.study, self.verdict, self._configs = self._create(self.name), None, {}
            search, verdict = [], []
            for ev in done:
                if ev.trial >= 0:
                    if ev.config is not None:
                        self._configs[ev.trial] = ev.config
                    search.append(self.trial(ev))
                else:
                    verdict.append(self.trial(ev, self._configs.get(ev.parent) if ev.parent is not None else None))
            _add_all(self.storage, self.study, search)
            if verdict:
                self.verdict = self._create(f"{self.name}-verdict")
                _add_all(self.storage, self.verdict, verdict)

    def add(self, ev: Evaluation) -> None:
        """Add the new record ``ev``."""
        with quiet():
            if self.study is None:
                self.study = self._create(self.name)
            self._add(ev)

    def _create(self, name: str) -> optuna.Study:
        import optuna

        study = optuna.create_study(storage=self.storage, study_name=name, directions=list(DIRECTIONS),
                                    load_if_exists=True)
        study.set_metric_names(METRICS)
        s = self.settings
        from .scoring import get

        entry = get(s.estimator)
        for key, value in (("space", s.space), ("budget", s.budget), ("strategy", s.strategy),
                           ("estimator", s.estimator), ("dataset", entry.dataset or s.dataset),
                           ("epochs", s.epochs if entry.epochs is None else entry.epochs)):
            study.set_user_attr(key, value)
        return study

    def _add(self, ev: Evaluation) -> None:
        if ev.trial >= 0:
            if ev.config is not None:
                self._configs[ev.trial] = ev.config
            assert self.study is not None
            _add_all(self.storage, self.study, [self.trial(ev)])  # one transaction, not a query per parameter
            return
        if self.verdict is None:
            self.verdict = self._create(f"{self.name}-verdict")
        config = self._configs.get(ev.parent) if ev.parent is not None else None
        _add_all(self.storage, self.verdict, [self.trial(ev, config)])

    def trial(self, ev: Evaluation, config: dict[str, Any] | None = None) -> FrozenTrial:
        """The study's trial for ``ev`` (``config``: the parameters to show when the record has none)."""
        import optuna
        from optuna.trial import TrialState

        config = ev.config if ev.config is not None else config or {}
        params = {k: v for k, v in config.items() if k in self.distributions and _within(self.distributions[k], v)}
        fid = ev.fidelity or {}
        attrs: dict[str, Any] = {
            "trial": ev.trial, "origin": ev.origin, "status": ev.status, "macs": ev.macs, "params": ev.params,
            "epochs": fid.get("epochs"), "split": fid.get("split"), "n_eval": fid.get("n_eval"),
            "se": fid.get("stderr"), "seconds": ev.seconds, "genome": ev.genome}
        if ev.parent is not None:
            attrs["parent"] = ev.parent
        if ev.trial < 0:
            attrs["seed"] = fid.get("seed")
        values = None
        if ev.status == "failed":
            state = TrialState.FAIL
            attrs["error"] = ev.error or "failed"
        elif ev.status == "stopped":
            state = TrialState.PRUNED
        elif _finite(ev.accuracy):
            state, values = TrialState.COMPLETE, [float(ev.accuracy), float(ev.macs)]  # type: ignore[arg-type]
        else:
            state = TrialState.FAIL
            attrs["error"] = "no accuracy recorded"
        intermediate = {}
        for h in (ev.metrics or {}).get("history") or []:
            if isinstance(h, dict) and isinstance(h.get("epoch"), int) and _finite(h.get("accuracy")):
                intermediate[h["epoch"]] = float(h["accuracy"])
        t = optuna.trial.create_trial(
            state=state, values=values, params=params, distributions={k: self.distributions[k] for k in params},
            user_attrs={k: v for k, v in attrs.items() if v is not None}, intermediate_values=intermediate)
        finished = ev.finished
        started = ev.started if ev.started is not None else (finished - ev.seconds if finished and ev.seconds else None)
        if _finite(finished):
            try:
                t.datetime_complete = datetime.datetime.fromtimestamp(finished)
                t.datetime_start = datetime.datetime.fromtimestamp(min(started, finished) if _finite(started)
                                                                   else finished)
            except (OverflowError, OSError, ValueError):  # a time no clock shows: the time it was added, then
                pass
        return t


def _delete(storage: optuna.storages.RDBStorage, study_id: int) -> None:
    """Delete a study with a statement per table (Optuna's ``delete_study`` loads and deletes row by row: half a
    minute for a few hundred trials). The tables that hang off trials and studies are read from Optuna's own
    schema, so a table a later version adds is emptied too."""
    import sqlalchemy as sa
    from optuna.storages._rdb import models

    meta = models.BaseModel.metadata
    trials, studies = meta.tables["trials"], meta.tables["studies"]
    ids = sa.select(trials.c.trial_id).where(trials.c.study_id == study_id).scalar_subquery()
    with storage.engine.begin() as con:
        for table in reversed(meta.sorted_tables):  # children first
            for fk in table.foreign_keys:
                if fk.column is trials.c.trial_id:
                    con.execute(table.delete().where(fk.parent.in_(ids)))
                elif fk.column is studies.c.study_id and table is not trials:
                    con.execute(table.delete().where(fk.parent == study_id))
        con.execute(trials.delete().where(trials.c.study_id == study_id))
        con.execute(studies.delete().where(studies.c.study_id == study_id))


def _counts(storage: optuna.storages.RDBStorage) -> dict[str, int]:
    """Study name -> its number of trials, counted in the database (Optuna's study summaries read every trial:
    half a minute for 10,000 MobileNet records); through Optuna's public API should its internals differ."""
    import optuna
    import sqlalchemy as sa

    try:
        from optuna.storages._rdb import models

        S, T = models.StudyModel.__table__, models.TrialModel.__table__
        query = (sa.select(S.c.study_name, sa.func.count(T.c.trial_id))
                 .select_from(S.outerjoin(T, T.c.study_id == S.c.study_id)).group_by(S.c.study_name))
        with storage.engine.connect() as con:
            return {name: int(n) for name, n in con.execute(query)}
    except (AttributeError, ImportError, KeyError, sa.exc.SQLAlchemyError):  # another Optuna's tables
        return {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}


def _add_all(storage: optuna.storages.RDBStorage, study: optuna.Study, trials: list[FrozenTrial]) -> None:
    """``study.add_trials(trials)`` in one transaction, with the rows Optuna's RDB storage writes for a trial made
    from a template (its own tables and its own stored forms of values, parameters and times). Should a later
    Optuna's internals differ, the trials are added one by one instead, as slowly as that is."""
    import json

    import optuna

    if not trials:
        return
    import sqlalchemy as sa

    try:
        from optuna.storages._rdb import models

        M = models
        T, P, V = M.TrialModel.__table__, M.TrialParamModel.__table__, M.TrialValueModel.__table__
        A, I = M.TrialUserAttributeModel.__table__, M.TrialIntermediateValueModel.__table__
        to_json = optuna.distributions.distribution_to_json
        sid = study._study_id
        rows: dict[Any, list[dict[str, Any]]] = {P: [], V: [], A: [], I: []}
        with storage.engine.begin() as con:
            first = con.execute(sa.select(sa.func.count()).select_from(T).where(T.c.study_id == sid)).scalar_one()
            for n, t in enumerate(trials, start=first):
                key = con.execute(T.insert().values(number=n, study_id=sid, state=t.state, datetime_start=_utc(
                    t.datetime_start), datetime_complete=_utc(t.datetime_complete))).inserted_primary_key
                assert key is not None
                tid = key[0]
                for k, v in enumerate(t.values or ()):
                    value, kind = M.TrialValueModel.value_to_stored_repr(v)
                    rows[V].append({"trial_id": tid, "objective": k, "value": value, "value_type": kind})
                for name, v in t.params.items():
                    dist = t.distributions[name]
                    rows[P].append({"trial_id": tid, "param_name": name, "param_value": dist.to_internal_repr(v),
                                    "distribution_json": to_json(dist)})
                for key, v in t.user_attrs.items():
                    rows[A].append({"trial_id": tid, "key": key, "value_json": json.dumps(v)})
                for step, v in t.intermediate_values.items():
                    step_value, step_kind = M.TrialIntermediateValueModel.intermediate_value_to_stored_repr(v)
                    rows[I].append({"trial_id": tid, "step": step, "intermediate_value": step_value,
                                    "intermediate_value_type": step_kind})
            for table, many in rows.items():
                if many:
                    con.execute(table.insert(), many)
    # another Optuna's internals (a renamed column fails in the database, and the transaction is rolled back):
    # its public way
    except (AttributeError, ImportError, KeyError, TypeError, sa.exc.SQLAlchemyError):
        for t in trials:
            study.add_trial(t)


def _utc(t: datetime.datetime | None) -> datetime.datetime | None:
    """A trial's local time as Optuna's RDB storage keeps it: naive UTC."""
    return None if t is None else t.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def _finite(x: Any) -> TypeGuard[float]:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _within(dist: Any, value: Any) -> bool:
    """Whether ``value`` is one of the categorical ``dist``'s choices (a record from another version of a space may
    hold one that is not: that parameter is left out rather than the trial)."""
    try:
        return dist._contains(dist.to_internal_repr(value))
    except (ValueError, TypeError):
        return False


# ---------------------------------------------------------------- `nas dashboard`


@dataclass
class Opened:
    """The study ``nas dashboard`` serves: where it is, and how many trials it and the store hold."""

    url: str
    name: str
    trials: int
    recorded: int | None  # the search's records in the store, when it was read
    rebuilt: bool


def open_study(out: Path, storage_arg: str | None = None, rebuild: bool = False) -> Opened:
    """The run ``out``'s study for optuna-dashboard: the one the search keeps in ``dashboard.db`` as it is (a live
    search is writing it), or, with ``rebuild`` or when there is none yet, made anew from the results store (in the
    run directory, or the shared database ``storage_arg``). Input mistakes raise NasError (one line)."""
    from ..errors import NasError
    from .settings import settings_from, space_of, storage_url
    from .store import Store, shown

    out = Path(out)
    url, name = study_url(out), study_name(out)
    if not rebuild and (out / FILE).exists():
        with _study_errors(out / FILE):
            n = _trials(url, name)
        if n is not None:
            return Opened(url, name, n, _recorded(out, storage_arg), False)
    store = Store(storage_url(out, storage_arg), run=out.resolve().name)
    try:
        config = store.config()
        if config is None:
            raise NasError(f"no run named '{out.resolve().name}' in the results database '{shown(store.url)}'")
        settings = settings_from(config, f"the settings stored in '{shown(store.url)}'")
        space = space_of(settings)
        done = store.evaluations()
    finally:
        store.close()
    with _study_errors(out / FILE):
        view = StudyView(out, settings, space)
        try:
            view.rebuild(done)
        finally:
            view.storage.remove_session()
            view.storage.engine.dispose()
    return Opened(url, name, sum(1 for e in done if e.trial >= 0), len(done), True)


def _recorded(out: Path, storage_arg: str | None) -> int | None:
    """How many of the search's evaluations the store of run ``out`` holds (None: it cannot be read): a study
    that shows fewer is behind (a search running now is about to add them; one that stopped following, not)."""
    from .settings import storage_url
    from .store import Store

    if storage_arg is None and not (out / "results.db").exists():
        return None
    try:
        store = Store(storage_url(out, storage_arg), run=out.resolve().name)
        try:
            return sum(1 for e in store.evaluations() if e.trial >= 0)
        finally:
            store.close()
    except Exception:  # noqa: BLE001 - only a hint: the study is served either way
        return None


def _trials(url: str, name: str) -> int | None:
    """How many trials the study ``name`` at ``url`` holds; None when there is no such study."""
    with quiet():
        st = storage(url)
        try:
            return _counts(st).get(name)
        finally:
            st.remove_session()
            st.engine.dispose()


@contextlib.contextmanager
def _study_errors(path: Path) -> Iterator[None]:
    """A study file that cannot be read or written (not a database, a read-only run directory) as one line."""
    import optuna
    import sqlalchemy as sa

    from ..errors import NasError
    from .store import _first_line

    try:
        yield
    except (sa.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError, OSError, RuntimeError) as e:
        raise NasError(f"cannot use the study {path}: {_first_line(e)} (it is made again from the results "
                       "store once removed)") from None


def server(url: str, host: str, port: int) -> Any:
    """optuna-dashboard on ``url``, as a threaded WSGI server bound to ``host:port`` that logs no requests (call
    ``serve_forever``; port 0 picks a free one, ``server_port`` says which)."""
    import socketserver
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    import optuna_dashboard

    class Server(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Handler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    from .store import sqlite_path

    with quiet(), _study_errors(sqlite_path(url) or Path(url)):
        app = optuna_dashboard.wsgi(storage(url))
    return make_server(host, port, app, server_class=Server, handler_class=Handler)
