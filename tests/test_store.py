"""The results store, on the embedded SQLite file and on a PostgreSQL server through the same code."""

from __future__ import annotations

import pytest

from nas.app.store import Evaluation, Store, database_url, shown
from nas.errors import NasError


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    return request.getfixturevalue("postgres")


def evaluation(trial: int, **kw) -> Evaluation:
    fields = dict(trial=trial, genome=f"stages: [[{{type: conv, c: {8 + trial}}}]]\n", macs=5_000_000_000 + trial,
                  params=3_000_000_000, status="ok", origin="random", short=f"conv{trial}", activations=12,
                  accuracy=0.5 + trial / 100, loss=1.25, metrics={"accuracy": 0.5, "history": [{"epoch": 1}]},
                  fidelity={"epochs": 1, "dataset": "digits"}, worker="host:1", attempts=2, started=100.0 + trial,
                  finished=200.0 + trial, seconds=100.0)
    fields.update(kw)
    return Evaluation(**fields)


def test_round_trip(url, request) -> None:
    run = f"rt-{request.node.callspec.id}"
    s = Store(url, run)
    s.create({"space": "mobilenet", "trials": 3})
    s.create({"space": "resnet"})  # a run that exists keeps its own settings
    assert s.config() == {"space": "mobilenet", "trials": 3}
    assert s.state() is None
    evs = [evaluation(1), evaluation(0, status="failed", accuracy=None, loss=None, error="RuntimeError: boom")]
    assert s.record(evs[0], {"step": 1}) and s.record(evs[1], {"step": 2})
    assert not s.record(evaluation(1, accuracy=0.99), {"step": 3})  # recorded once; the state stays with it
    assert s.state() == {"step": 2}
    # every field comes back as written (MACs beyond 32 bits included), in the order recorded
    assert Store(url, run).evaluations() == [evs[1], evs[0]]  # by the time they finished
    s.close()


def test_runs_share_a_database_apart(url, request) -> None:
    a, b = (Store(url, f"{name}-{request.node.callspec.id}") for name in ("a", "b"))
    a.create({"space": "cell"})
    a.record(evaluation(0), {"who": "a"})
    assert b.config() is None and b.evaluations() == [] and b.state() is None
    b.create({"space": "vgg"})
    b.record(evaluation(0, accuracy=0.1), {"who": "b"})
    assert [e.accuracy for e in a.evaluations()] == [0.5] and [e.accuracy for e in b.evaluations()] == [0.1]
    assert a.state() == {"who": "a"} and b.state() == {"who": "b"}


def test_unreachable_database_is_one_line_without_the_password() -> None:
    with pytest.raises(NasError) as exc:
        Store("postgresql://nas:s3cret@127.0.0.1:1/results", "r")
    msg = str(exc.value)
    assert msg.startswith("cannot open the results database 'postgresql://nas:***@127.0.0.1:1/results': ")
    assert "s3cret" not in msg and "\n" not in msg
    with pytest.raises(NasError, match="cannot open the results database 'nosuch://x'"):
        Store("nosuch://x", "r")


def test_database_url_picks_an_installed_driver() -> None:
    import importlib.util

    assert database_url("sqlite:///x.db") == "sqlite:///x.db"
    assert database_url("postgresql+psycopg2://h/db") == "postgresql+psycopg2://h/db"  # an explicit driver stays
    expected = "postgresql://h/db" if importlib.util.find_spec("psycopg2") or not importlib.util.find_spec(
        "psycopg") else "postgresql+psycopg://h/db"
    assert database_url("postgresql://h/db") == expected
    assert shown("postgresql://u:pw@h:5/db") == "postgresql://u:***@h:5/db"


@pytest.mark.slow
def test_one_driver_holds_a_run_and_a_dead_one_is_taken_over(url, request) -> None:
    import time

    from nas.app.store import Lease

    run = f"lease-{request.node.callspec.id}-{time.time_ns()}"
    first, second = Store(url, run), Store(url, run)  # two drivers: two connections to one database
    a = Lease(first, seconds=1.0, holder="alpha:1")
    b = Lease(second, seconds=1.0, holder="beta:2")
    assert a.take() is None and a.take() is None  # free, then already ours
    with pytest.raises(NasError, match=rf"run '{run}' is being searched by alpha:1 \(its hold was renewed 0 s ago\); "
                                       "a second driver is refused"):
        b.take()
    assert a.renew() and a.lost is None
    time.sleep(1.2)  # alpha stops renewing, as a driver that died
    assert b.take() == "alpha:1"  # taken over, and said from whom
    assert not a.renew() and "another driver took run" in a.lost  # the old holder learns it lost the run
    a.release()  # a lost lease is not given back by its old holder
    with pytest.raises(NasError, match="is being searched by beta:2"):
        Lease(first, holder="gamma:3").take()
    b.release()
    assert Lease(first, holder="gamma:3").take() is None  # given back: free at once
    assert first.record(evaluation(1)) and not second.record(evaluation(1))  # one record per trial, whoever writes
    first.close()
    second.close()
