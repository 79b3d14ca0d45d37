"""Shared fixtures."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import pytest

# The suite runs with a home of its own, set before anything reads it: Ray, matplotlib, torch and every `nas`
# subprocess the tests start look there, so the user's home (~/.ray/auth_token, caches) is never read or written.
# Hypothesis keeps its caches there too, not in a .hypothesis folder in the working directory.
_REAL_HOME = os.environ.get("HOME")
_TEST_HOME = tempfile.mkdtemp(prefix="nas-test-home-")
os.environ["HOME"] = _TEST_HOME
os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = os.path.join(_TEST_HOME, "hypothesis")

import torch  # noqa: E402 - after HOME is set
from hypothesis import settings  # noqa: E402

import nas  # noqa: E402

# Property tests draw the same cases on every run and keep no example database.
settings.register_profile("nas", database=None, derandomize=True)
settings.load_profile("nas")


SLOW_FIXTURES = {"cluster", "postgres"}
"""Tests that use these start or join a Ray cluster or a database server: marked ``slow`` without saying so."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _own_home():
    yield
    if _REAL_HOME is None:
        os.environ.pop("HOME", None)
    else:
        os.environ["HOME"] = _REAL_HOME
    shutil.rmtree(_TEST_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster():  # noqa: ANN201 - a generator fixture
    """One local Ray head for the whole session (starting Ray takes seconds), dashboard on, token auth on, left
    as the machine was found (``tests/privateray.py``: its own temporary directory, free ports, its own token file,
    only its own processes stopped)."""
    # Ray reads its authentication mode once, when loaded: loaded before this cluster set it, the test process
    # could not join. A test before this one has imported Ray; it should fake what it needs instead.
    assert "ray._raylet" not in sys.modules, "Ray was loaded before the test cluster started"
    from privateray import private_cluster

    with private_cluster(num_cpus=2) as c:
        yield c


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


def assert_cost_matches_model(g: nas.Genome) -> nas.Cost:
    """The analytic cost equals the built model: params == sum(p.numel()), MACs == hook-counted conv+linear."""
    from nas.builder import build, count_params, measure

    c = nas.cost(g)
    model = build(g)
    assert count_params(model) == c.params
    assert measure(model, g.input) == (c.macs, tuple(c.output))
    return c


def _postgres_program(name: str) -> str | None:
    import glob
    import shutil

    found = shutil.which(name)
    if found:
        return found
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return hits[-1] if hits else None


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server on a free loopback port, for the shared-database path of the results store.
    Skipped where the server programs or the psycopg driver are not installed (`.ci/run` installs both)."""
    import os
    import shutil
    import socket
    import subprocess
    import tempfile

    initdb, pg_ctl = _postgres_program("initdb"), _postgres_program("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("the PostgreSQL server programs (initdb, pg_ctl) are not installed")
    pytest.importorskip("psycopg")
    root = tempfile.mkdtemp(prefix="nas-postgres-")  # not under pytest's root-only folder: the server must reach it
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root with no 'postgres' user to run the server as")
        os.chown(root, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = os.path.join(root, "data")
    subprocess.run([*prefix, initdb, "-D", data, "-A", "trust", "-U", "nas", "--no-sync"], check=True,
                   capture_output=True, timeout=120)
    subprocess.run([*prefix, pg_ctl, "-D", data, "-l", os.path.join(root, "log"), "-w", "-o",
                    f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"], check=True,
                   capture_output=True, timeout=120)
    try:
        yield f"postgresql://nas@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
