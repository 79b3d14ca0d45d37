"""A private local Ray cluster for tests and benchmarks, which leaves the machine as it found it.

``with private_cluster(num_cpus=2) as c:`` starts a Ray head with ``ray start --head --block`` in its own temporary
directory, on free loopback ports, with token authentication and a token file of its own (the user's ``~/.ray`` is
never read or written), and yields ``{"address", "dashboard", "token", "pid"}`` (``pid``: its ``ray start``, whose
process tree holds the head's processes). While the block runs, this process (and
every process it starts) joins with that token. On the way out only the processes this head started are stopped:
SIGTERM to its own ``ray start --block`` (which stops what it started), then SIGKILL to stragglers of that very
process group; the environment is restored and the directory removed. Nothing else on the machine, a user's own
Ray cluster included, is touched.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_HERE = Path(sys.executable).parent / "ray"
RAY = str(_HERE) if _HERE.exists() else shutil.which("ray") or "ray"
"""The `ray` of this interpreter's environment, so that the workers import what this process imports."""


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def private_cluster(num_cpus: int = 2, dashboard: bool = True, timeout: float = 180) -> Iterator[dict[str, str]]:
    """A Ray head of this process's own (see the module docstring); raises RuntimeError if it does not start."""
    port, dash = free_port(), free_port()
    tmp = Path(tempfile.mkdtemp(prefix="nas-ray-"))  # short: Ray's socket paths live under it
    token = secrets.token_hex(32)
    (tmp / "auth_token").write_text(token)
    env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(tmp / "auth_token"), "RAY_USAGE_STATS_ENABLED": "0"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    head = subprocess.Popen([RAY, "start", "--head", "--block", f"--port={port}", f"--num-cpus={num_cpus}",
                             f"--temp-dir={tmp / 'ray'}", f"--include-dashboard={str(dashboard).lower()}",
                             "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", "--disable-usage-stats"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        end = time.time() + timeout
        while not listening(port) and head.poll() is None and time.time() < end:
            time.sleep(0.5)
        if head.poll() is not None or not listening(port):
            raise RuntimeError("the private Ray head did not start")
        yield {"address": f"127.0.0.1:{port}", "dashboard": f"http://127.0.0.1:{dash}", "token": token,
               "pid": str(head.pid)}
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)  # stragglers of this very group only
        except ProcessLookupError:
            pass
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(tmp, ignore_errors=True)


def process_tree(root: int) -> set[int]:
    """``root`` and every process descended from it now, from Linux's /proc (empty when ``root`` is gone)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parent[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                pass  # gone meanwhile
    if root not in parent:
        return set()
    found, grew = {root}, True
    while grew:
        more = {pid for pid, pp in parent.items() if pp in found} - found
        grew = bool(more)
        found |= more
    return found


def command_line(pid: int) -> str:
    """The command line of process ``pid`` as one string (Ray's workers show what they run there), or ""."""
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class WorkerNode:
    """A second Ray node on this machine, joined to a private head: ``kill()`` ends every process it started at
    once (SIGKILL to its own process group), as a machine that loses power would."""

    def __init__(self, address: str, num_cpus: int, resources: dict[str, float] | None) -> None:
        import json

        self.tmp = Path(tempfile.mkdtemp(prefix="nas-ray-node-"))
        self.proc = subprocess.Popen([RAY, "start", f"--address={address}", "--block", f"--num-cpus={num_cpus}",
                                      f"--resources={json.dumps(resources or {})}", f"--temp-dir={self.tmp / 'ray'}",
                                      "--disable-usage-stats"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def pids(self) -> set[int]:
        """The processes of this node now: its ``ray start``, its raylet and the workers the raylet started."""
        return process_tree(self.proc.pid)

    def kill(self) -> None:
        """SIGKILL to every process of this node (by their ids: its process group, and any child that left it)."""
        pids = self.pids()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextmanager
def worker_node(address: str, num_cpus: int = 1, resources: dict[str, float] | None = None) -> Iterator[WorkerNode]:
    """A second node joining the private head at ``address`` (inside ``private_cluster``, whose token it uses),
    with its own temporary directory; stopped, and only it, on the way out."""
    node = WorkerNode(address, num_cpus, resources)
    try:
        yield node
    finally:
        node.stop()
