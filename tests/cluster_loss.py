"""Kill points for a search on a private two-node Ray cluster, shared by the test and ``benchmarks/lost_node.py``.

``run(kill, out)`` starts a private head (1 CPU) and a second node on this machine (1 CPU, its own temporary
directory), runs a small search on both from the command line, kills what ``kill`` names while a trial trains on
the second node (or, for the driver, once two trials are recorded), and returns what became of the candidates:
whether the search finished, and how many candidates were retried, lost or recorded twice.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

KILLS = ("worker process", "worker node", "stopping rule", "driver")
"""What is killed: a process training a trial; the whole second node; the actor holding the early-stopping rule;
the search's driver (resumed afterwards with ``--resume``)."""

TRIALS = 6
SEARCH = ["--space", "cell", "--budget", "60M", "--dataset", "synthetic", "--epochs", "6", "--trials", str(TRIALS),
          "--no-verdict", "--no-dashboard", "--seed", "3"]


def wait_for(test: Callable[[], Any], timeout: float = 300, every: float = 0.5) -> Any:
    end = time.time() + timeout
    while time.time() < end:
        value = test()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"waited {timeout:.0f} s")


def rows(out: Path) -> list[dict[str, str]]:
    try:
        with open(out / "trials.csv", newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []


def titled(pids: set[int], prefix: str, exact: bool = False) -> list[int]:
    """Those of ``pids`` whose command line starts with ``prefix`` (or is it, ``exact``): Ray names a worker after
    what it runs."""
    from privateray import command_line

    return [pid for pid in pids if (command_line(pid) == prefix if exact else command_line(pid).startswith(prefix))]


def search(address: str, out: Path, *more: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "nas.app.cli", "search", "--address", address, "--out", str(out), *SEARCH, *more]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "HOME": str(out.parent)})


def run(kill: str, out: Path) -> dict[str, Any]:
    """One search on a fresh two-node cluster with ``kill`` done to it; what became of its candidates."""
    from privateray import command_line, private_cluster, process_tree, worker_node

    assert kill in KILLS, kill
    started = time.time()
    with private_cluster(num_cpus=1, dashboard=False) as head, worker_node(head["address"], num_cpus=1) as node:
        wait_for(lambda: any("raylet" in command_line(pid) for pid in node.pids()), 120)
        time.sleep(3)  # the node registers with the head
        p = search(head["address"], out)
        logs = [""]
        if kill == "driver":
            wait_for(lambda: len(rows(out)) >= 2)
            os.kill(p.pid, signal.SIGKILL)
            logs[0] = p.communicate(timeout=120)[0]
            p = search(head["address"], out, "--resume")
        else:
            if kill == "stopping rule":
                victims = wait_for(lambda: titled(process_tree(int(head["pid"])) | node.pids(), "ray::StoppingRule",
                                                  exact=True))  # up, not still in its __init__
            else:
                on_node = wait_for(lambda: titled(node.pids(), "ray::trial"))
                victims = on_node
            if kill == "worker node":
                node.kill()
            else:
                for pid in victims:
                    os.kill(pid, signal.SIGKILL)
        log, _ = p.communicate(timeout=900)
        logs.append(log)
    got = rows(out)
    ids = Counter(int(r["trial"]) for r in got if int(r["trial"]) >= 0)
    return {"kill": kill, "finished": p.returncode == 0, "returncode": p.returncode,
            "retried": sum(1 for r in got if int(r["attempts"] or 1) > 1),
            "lost": sum(1 for t in range(TRIALS) if t not in ids),
            "duplicated": sum(n - 1 for n in ids.values() if n > 1),
            "failed": sum(1 for r in got if r["status"] == "failed"),
            "stopped": sum(1 for r in got if r["status"] == "stopped"),
            "seconds": time.time() - started, "log": "\n".join(logs)}
