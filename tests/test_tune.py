"""The genome space in a Ray Tune job: the searcher with ASHA, and Tuner.restore after the driver is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

JOB = Path(__file__).parent / "tune_job.py"


def job(cluster, storage: Path, mode: str, n: int = 8, **kw) -> subprocess.Popen:
    env = {**os.environ, "HOME": str(storage), "TUNE_GLOBAL_CHECKPOINT_S": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(JOB), cluster["address"], str(storage), mode, str(n)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, **kw)


def lines(log: str, key: str) -> str:
    return next(l for l in log.splitlines() if l.startswith(key))


def test_a_tune_job_searches_the_space_with_asha(cluster, tmp_path) -> None:
    p = job(cluster, tmp_path, "new", 6)
    log, _ = p.communicate(timeout=600)
    assert p.returncode == 0, log[-3000:]
    assert lines(log, "TRIALS") == "TRIALS 6 DONE 6 ERRORS 0"
    epochs = eval(lines(log, "EPOCHS")[7:])
    assert 1 in epochs and 3 in epochs  # ASHA stopped some trials at its first rung and let others run to the end
    assert eval(lines(log, "CANDIDATES")[11:]) == list(range(6))  # one strategy candidate per trial
    assert int(lines(log, "BEST").split()[1]) <= 60_000_000


def test_tuner_restore_after_the_driver_is_killed_finishes_every_trial_once(cluster, tmp_path) -> None:
    p = job(cluster, tmp_path, "new", 8, start_new_session=True)
    state = tmp_path / "genomes"
    seen = ""
    end = time.time() + 300
    while time.time() < end:  # kill the driver once two trials have finished and the experiment state is written
        seen += p.stdout.readline()
        if seen.count("completed after") >= 2 and list(state.glob("searcher-state-*")):
            break
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert seen.count("completed after") >= 2, seen[-3000:]
    r = job(cluster, tmp_path, "restore")
    log, _ = r.communicate(timeout=600)
    assert r.returncode == 0, log[-3000:]
    assert lines(log, "TRIALS") == "TRIALS 8 DONE 8 ERRORS 0"
    assert eval(lines(log, "CANDIDATES")[11:]) == list(range(8))  # the strategy continued: no id twice, none lost
