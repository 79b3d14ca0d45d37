"""Ray itself: starting or joining a cluster (its auth token included), how many trials it holds at once, and the
search's metrics on Ray's metrics endpoint."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any, Callable

from ..errors import NasError, quote_arg
from .store import Evaluation

Log = Callable[[str], None]


def start_ray(address: str | None, dashboard: bool, host: str, log: Log) -> str | None:
    """Start a local Ray (or join ``address``); returns a line about the dashboard (None: Ray was already up)."""
    import ray

    if ray.is_initialized():
        return None
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address:
        reachable(address)
        kwargs["address"] = address
        # A cluster started on this machine with `ray start` uses the token in ~/.ray/auth_token; a driver joining
        # it must say so, or the handshake is refused. RAY_AUTH_MODE set by the user wins.
        if "RAY_AUTH_MODE" not in os.environ and token_file().exists():
            os.environ["RAY_AUTH_MODE"] = "token"
    else:
        kwargs.update(include_dashboard=dashboard, dashboard_host=host)
    try:
        ctx = ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"reach the Ray cluster at '{address}'" if address else "start a local Ray"
        raise NasError(f"cannot {where}: {str(e).strip().splitlines()[0]}") from None
    if host not in ("127.0.0.1", "localhost") and not address:
        log(f"warning: the dashboard listens on {host}, beyond this machine; anyone who can reach it and holds "
            "the token can control the cluster")
    return dashboard_line(getattr(ctx, "dashboard_url", None), metrics_url())


def metrics_url() -> str | None:
    """Where this node's Ray serves its metrics (the search's gauges among them) in Prometheus' text format."""
    import ray

    try:
        here = ray.get_runtime_context().get_node_id()
        node = next(n for n in ray.nodes() if n.get("NodeID") == here)
        return f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"
    except Exception:  # noqa: BLE001 - a line in the log; the search goes on without it
        return None


def dashboard_line(url: str | None, metrics: str | None = None) -> str:
    """What the log says of Ray's dashboard: off, or where it is, how to log into its page and call its REST API
    with the cluster's token, where the trials are, and where the search's metrics are served."""
    if not url:
        return "dashboard: off"
    lines = [f"dashboard: http://{url} (the job's Tasks list the trials as `trial N: ...`)"]
    token = token_file()
    if token.exists():
        lines += [f"  log in: the page asks for the cluster's token; paste what `ray get-auth-token` prints (the "
                  f"contents of {token})",
                  f"  REST API: curl -H \"Authorization: Bearer $(cat {token})\" http://{url}/api/v0/tasks"]
    if metrics:
        lines.append(f"  metrics: nas_trials_done, nas_trials_failed, nas_best_accuracy and nas_best_macs at {metrics} "
                     "(Ray's Metrics view charts them once Prometheus and Grafana are set up)")
    return "\n".join(lines)


def token_file() -> Path:
    """Where Ray keeps the cluster's token: ``RAY_AUTH_TOKEN_PATH`` when set, else ``~/.ray/auth_token``."""
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return Path(path) if path else Path.home() / ".ray" / "auth_token"


def fits(resources: dict[str, float], cpus: float, gpus: float) -> int:
    """How many trials the cluster runs at once; a trial no node could ever take is an input mistake (Ray would
    wait for it forever)."""
    have = {"CPU": resources.get("CPU", 0.0), "GPU": resources.get("GPU", 0.0)}
    for kind, need in (("CPU", cpus), ("GPU", gpus)):
        if need > have[kind]:
            flag = f"--{kind.lower()}s-per-trial"
            raise NasError(f"{flag} {need:g} asks for more than the Ray cluster has: {have[kind]:g} {kind}(s) in all")
    n = [int(have[kind] // need) for kind, need in (("CPU", cpus), ("GPU", gpus)) if need > 0]
    return max(1, min(n) if n else int(have["CPU"]))  # a trial that asks for nothing: one per CPU


def reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a HOST:PORT nothing listens on (Ray itself would keep retrying for minutes)."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise NasError(f"--address must be 'auto' or HOST:PORT, got '{address}'")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (UnicodeError, ValueError):  # an empty or over-long label: no host name at all
        raise NasError(f"--address {quote_arg(address)}: '{host[:80]}' is not a host name") from None
    except OSError as e:
        raise NasError(f"cannot reach the Ray cluster at '{address}': nothing answers there "
                       f"({e.strerror or e})") from None


def gauges(done: list[Evaluation]) -> dict[str, float]:
    """The metrics' values after ``done``: trials recorded and failed; the best accuracy and its MACs, when any."""
    from .evaluations import best

    ours = [e for e in done if e.trial >= 0]
    values = {"nas_trials_done": float(len(ours)),
              "nas_trials_failed": float(sum(1 for e in ours if e.status == "failed"))}
    top = best(done, 2**62)
    if top is not None and top.accuracy is not None:
        values.update(nas_best_accuracy=top.accuracy, nas_best_macs=float(top.macs))
    return values


class Metrics:
    """Custom metrics on Ray's metrics endpoint: trials done and failed, best accuracy and its MACs."""

    DESCRIPTIONS = {"nas_trials_done": "evaluations recorded", "nas_trials_failed": "evaluations that failed",
                    "nas_best_accuracy": "best accuracy within the budget",
                    "nas_best_macs": "MACs of the best candidate"}

    def __init__(self, run: str) -> None:
        from ray.util.metrics import Gauge

        self.tags = {"run": run}
        self.gauges = {name: Gauge(name, description=d, tag_keys=("run",)) for name, d in self.DESCRIPTIONS.items()}

    def update(self, done: list[Evaluation]) -> None:
        """Set every gauge from the evaluations recorded so far."""
        for name, value in gauges(done).items():
            self.gauges[name].set(value, tags=self.tags)
