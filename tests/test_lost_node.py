"""A search on two Ray nodes that loses the second one while it trains: the trials it held run again on the node
that is left, the search finishes, and every candidate is recorded exactly once (``tests/cluster_loss.py``)."""

from __future__ import annotations

import sys

import pytest
from cluster_loss import TRIALS, run


@pytest.mark.slow
def test_a_lost_worker_node_loses_no_candidate_and_records_none_twice(tmp_path) -> None:
    if "ray._raylet" in sys.modules:
        pytest.skip("Ray is loaded in this process")  # never: the test drives Ray from subprocesses only
    got = run("worker node", tmp_path / "run")
    assert got["finished"], got["log"]
    assert got["lost"] == 0 and got["duplicated"] == 0 and got["failed"] == 0, got
    assert got["retried"] >= 1 and "its worker died" in got["log"], got["log"]  # the node's trial ran again
    assert f"[{TRIALS}/{TRIALS}]" in got["log"]
