"""``nas dashboard``: a run's study in optuna-dashboard, served until Ctrl-C."""

from __future__ import annotations

import argparse
import stat
from pathlib import Path
from typing import Any

from ...errors import NasError, quote_arg
from .args import _host, _port, _stat


def cmd_dashboard(a: argparse.Namespace) -> int:
    """``nas dashboard``: optuna-dashboard on a run's study, rebuilt from its results store when there is none."""
    from ..store import shown
    from ..studyview import open_study, server

    run = quote_arg(a.run, limit=300)  # a path: shown whole unless it is absurdly long
    st = _stat(a.run, "")
    if st is None:
        raise NasError(f"run directory {run} does not exist")
    if not stat.S_ISDIR(st.st_mode):
        raise NasError(f"{run} is not a directory; give the run directory of a `nas search`")
    out = Path(a.run)
    if a.storage is None and not (out / "results.db").exists() and (a.rebuild or not (out / "dashboard.db").exists()):
        raise NasError(f"{run} holds no results.db: not the run directory of a `nas search` (give --storage URL "
                       "for a search that kept its results in a shared database)")
    study = open_study(out, a.storage, rebuild=a.rebuild)
    try:
        httpd = server(study.url, a.host, a.port)
    except OSError as e:  # the port is taken, or the host is no address of this machine
        raise NasError(f"cannot listen on {a.host}:{a.port}: {(e.strerror or str(e)).lower()}") from None
    made = (f"rebuilt from the results store ({study.recorded} records)" if study.rebuilt
            else "as the search keeps it; --rebuild to make it again from the results store")
    print(f"study {study.name}: {study.trials} trials, {made}")
    if not study.rebuilt and study.recorded is not None and study.recorded > study.trials:
        print(f"note: the results store holds {study.recorded} evaluations, the study {study.trials}: a search running "
              "there adds them as it goes; if none is, `--rebuild` brings the study up to date")
    print(f"storage: {shown(study.url)}")
    if a.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: optuna-dashboard has no login; anyone who can reach {a.host}:{httpd.server_port} can read "
              "the study and edit its notes", flush=True)
    print(f"optuna-dashboard: http://{a.host}:{httpd.server_port}/dashboard (Ctrl-C to stop)", flush=True)
    import signal

    # Ctrl-C stops it even when it was started where SIGINT is ignored (a job a non-interactive shell put in the
    # background), for which Python installs no KeyboardInterrupt of its own
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


def add_parser(sub: Any) -> None:
    """The ``nas dashboard`` parser."""
    da = sub.add_parser(
        "dashboard", help="optuna-dashboard on a run: every trial of a search, live, whatever the strategy",
        description="Serve optuna-dashboard on the search in RUN_DIR: every evaluation as a trial of the study "
                    "nas-<run name> in RUN_DIR/dashboard.db, with the candidate's choices as parameters, accuracy "
                    "and MACs as the two objectives (and their Pareto front), the accuracy after each epoch as "
                    "intermediate values, early-stopped trials as pruned, failed ones as failed, and the genome, "
                    "origin, fidelity and standard error as user attributes; the verdict's retrainings, scored on "
                    "the test split, in the study nas-<run name>-verdict. A search keeps the study up to date as "
                    "results land, so this may run beside it and shows the search live (Live Update, in the "
                    "dashboard's side bar, refreshes it). A run without the study (an older run) has it built from "
                    "its results store first.",
        epilog="Example: nas dashboard runs/m300 --port 8080, then open http://127.0.0.1:8080/dashboard")
    da.add_argument("run", metavar="RUN_DIR", help="the run directory of a `nas search` (its --out)")
    da.add_argument("--port", type=_port, default=8080, metavar="PORT", help="port to listen on (default 8080)")
    da.add_argument("--host", type=_host, default="127.0.0.1", metavar="HOST",
                    help="address to bind to (default 127.0.0.1; anything else is reachable from outside, and "
                         "optuna-dashboard lets whoever reaches it edit notes and delete the study)")
    da.add_argument("--storage", metavar="URL",
                    help="the results database the search was given with --storage (default: results.db in RUN_DIR)")
    da.add_argument("--rebuild", action="store_true",
                    help="make the study again from the results store even when RUN_DIR has one: only while no "
                         "search runs in RUN_DIR, which writes the study itself (the study is a view: the store "
                         "is the record, so nothing is lost)")
    da.set_defaults(func=cmd_dashboard)
