"""Take the README's picture of optuna-dashboard during a search, as a user would see it.

Starts ``nas search`` (the cell space on scikit-learn's digits, 30 trials of up to 3 epochs) in a temporary
directory with a home of its own, waits until some trials are recorded, starts ``nas dashboard`` on the run beside
it, and takes screenshots with headless Chromium: the study's page and its trial list. Then it stops what it \
started, by process id: the search
with SIGINT (it shuts down the Ray it started itself), the dashboard likewise. Nothing is written outside temporary
directories except the PNGs in docs/.

    python docs/dashboard_screenshot.py [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recorded(run: Path) -> int:
    try:
        with open(run / "trials.csv", newline="") as f:
            return sum(1 for _ in csv.DictReader(f))
    except FileNotFoundError:
        return 0


def wait(what: str, check, timeout: float, every: float = 1.0):  # noqa: ANN001
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise SystemExit(f"timed out waiting for {what}")


def stop(p: subprocess.Popen, timeout: float = 120) -> None:
    """SIGINT to the process we started, as Ctrl-C would; it shuts down what it started itself."""
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def screenshot(chromium: str, url: str, png: Path, home: Path, size: str = "1400,1000") -> None:
    profile = tempfile.mkdtemp(prefix="chromium-", dir=home)
    subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={size}",
                    "--hide-scrollbars", f"--user-data-dir={profile}", "--virtual-time-budget=15000",
                    f"--screenshot={png}", url], check=True, capture_output=True, timeout=120,
                   env={**os.environ, "HOME": str(home)})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--after", type=int, default=20, help="trials recorded before the screenshots (default 20)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="nas-dashboard-shot-"))
    home = tmp / "home"
    home.mkdir()
    run = tmp / "run"
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}
    nas = [sys.executable, "-m", "nas.app.cli"]
    search = subprocess.Popen([*nas, "search", "--space", "cell", "--budget", "60M", "--dataset", "digits",
                               "--epochs", "3", "--trials", "30", "--strategy", "evolution", "--no-dashboard",
                               "--out", str(run)], cwd=tmp, env=env, stdout=open(tmp / "search.log", "w"),
                              stderr=subprocess.STDOUT)
    dashboard = None
    try:
        wait(f"{a.after} recorded trials", lambda: search.poll() is not None or recorded(run) >= a.after, 900)
        port = free_port()
        dashboard = subprocess.Popen([*nas, "dashboard", str(run), "--port", str(port)], cwd=tmp, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        base = f"http://127.0.0.1:{port}"

        def studies():  # noqa: ANN202
            try:
                with urllib.request.urlopen(f"{base}/api/studies", timeout=5) as r:
                    return json.loads(r.read())["study_summaries"]
            except OSError:
                return None

        study = wait("optuna-dashboard", studies, 60, 0.5)[0]
        print(f"{recorded(run)} trials recorded; study {study['study_name']} (id {study['study_id']}) at {base}")
        page = f"{base}/dashboard/studies/{study['study_id']}"
        screenshot(a.chromium, page, DOCS / "optuna-dashboard.png", home, "1400,2200")
        screenshot(a.chromium, f"{page}/trials", DOCS / "optuna-dashboard-trials.png", home, "1400,1150")
        for png in ("optuna-dashboard.png", "optuna-dashboard-trials.png"):
            print(f"wrote docs/{png} ({(DOCS / png).stat().st_size:,} bytes)")
    finally:
        if dashboard is not None:
            stop(dashboard, 30)
        stop(search)
        print(((tmp / "search.log").read_text().strip().splitlines() or ["(the search printed nothing)"])[-1])
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
