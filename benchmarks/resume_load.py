"""How long `nas search --resume` takes to pick up a run with 10,000 recorded evaluations.

Run: python benchmarks/resume_load.py [--evaluations 10000] [--strategies evolution,random]
                                      [--out benchmarks/resume_load.md]

For each strategy, a run directory is filled as the driver fills it (not timed): ``Search._record`` records N
evaluations of candidates the strategy asked for, at the search's defaults (mobilenet, 300M MACs, 2 epochs, ASHA
with its rung at epoch 1), each with a per-epoch history for the stopping rule; about a third stopped at the rung
and 2% failed, as in real searches. The scores are made up: what is measured is the bookkeeping, which does not
depend on them. Then a fresh process resumes it the way ``nas search --resume`` does, up to the moment the first
new candidate would go to Ray, and times each step:

- imports: the driver's modules;
- settings: ``resume_settings`` (open the store, read and check the stored settings);
- data check: as ``Search(...)`` does first, so that a bad data directory is one line before any worker starts:
  on a fresh start the data set is read and split in the driver (torch and scikit-learn imported, seconds); on a
  resume whose data set, directory and files (their sizes and times) are those the first start recorded in
  ``data.json``, only the files' sizes and times are read;
- strategy: the rest of ``Search(...)``: the settings checked again, every record read once (streamed), the
  strategy's bounded state checked and continued with the recorded history;
- records and replay: every recorded evaluation read, ``trials.csv`` rewritten, the stopping rule replayed;
- views: optuna-dashboard's study and TensorBoard's runs checked against the records (made in step with the store
  when the run was filled, as a search keeps them);
- outputs: ``best.yaml``, ``pareto.yaml`` and ``pareto.png`` written from the records.

Also in the table: the size of the stored strategy state after the last evaluation (written with every one) and
the time of the first ``ask()`` after the resume. The target: the resume under 5 s on this machine. The table
gives it two ways: the resume's own work (settings, strategy, records and replay, views, outputs, first ask: what grows
with the store) and the whole start of the process, imports and the data check included.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEPS = ("imports", "settings", "data check", "strategy", "records and replay", "views", "outputs", "first ask")
OWN = ("settings", "strategy", "records and replay", "views", "outputs", "first ask")  # what grows with the records


def fill(out: Path, strategy: str, n: int) -> float:
    """A run directory holding ``n`` recorded evaluations, recorded by the driver's own code; returns seconds."""
    import numpy as np

    from nas.app.driver import Search
    from nas.app.jobs import Job
    from nas.app.settings import Settings

    started = time.time()
    s = Search(Settings(strategy=strategy, trials=n, verdict=False), out, log=lambda _: None)
    s.data_line()  # what the first start's run() logs, and records for the next start
    rng = np.random.default_rng(0)
    for i in range(n):
        c = s.strategy.ask()
        base = 0.80 + 0.02 * np.log10(c.macs / 1e6) + rng.normal(0, 0.01)
        stopped, failed = rng.random() < 1 / 3, rng.random() < 0.02
        at1 = base - 0.03 + rng.normal(0, 0.01)
        history = [{"epoch": 1, "accuracy": float(at1), "loss": 0.6}]
        if not stopped:
            history.append({"epoch": 2, "accuracy": float(base), "loss": 0.4})
        result = {"status": "failed", "error": "RuntimeError: out of memory"} if failed else {
            "status": "ok", "accuracy": history[-1]["accuracy"], "loss": history[-1]["loss"],
            "epochs": len(history), "stopped": stopped, "history": history, "split": "validation",
            "n_eval": 5000, "stderr": 0.005, "seconds": 19.0}
        result.update(worker="host:1", started=1000.0 + i, finished=1019.0 + i)
        s._record(Job.for_candidate(c), result)
        if (i + 1) % 1000 == 0:
            print(f"  {strategy}: {i + 1:,} of {n:,} recorded ({time.time() - started:.0f} s)", flush=True)
    filled = time.time() - started
    # the views a search keeps beside the store (optuna-dashboard's study, TensorBoard's runs), made in one go
    # here rather than record by record, so that the resume finds them in step with the store, as a search leaves
    # them; how long making them from nothing takes is reported beside the table
    from nas.app.views import Views

    t = time.time()
    Views.open(s.out, s.settings, s.space, print).rebuild(s.store.evaluations())
    views = time.time() - t
    s.store.close()
    return filled, views


def resume(out: str) -> dict:
    """Resume the run in ``out`` as ``nas search --resume`` does, up to the first new candidate; seconds per step.
    Runs in a fresh process (``--child``), so that imports and caches start cold."""
    t0 = time.time()
    from nas.app.driver import Search
    from nas.app.settings import resume_settings

    times = {"imports": time.time() - t0}
    t = time.time()
    settings = resume_settings(Path(out))
    times["settings"] = time.time() - t
    t = time.time()
    from nas.app.settings import recorded_data_line

    if recorded_data_line(Path(out), settings) is None:  # what Search() checks first: unchanged data are not read
        import estimators

        estimators.load_data(settings.dataset, settings.data_dir)
    times["data check"] = time.time() - t
    t = time.time()
    s = Search(settings, Path(out), log=lambda _: None)
    times["strategy"] = time.time() - t
    t = time.time()
    done, stopper = s.recorded()
    times["records and replay"] = time.time() - t
    t = time.time()
    from nas.app.outputs import write_outputs
    from nas.app.views import Views

    Views.open(s.out, s.settings, s.space, print).rebuild(done)
    times["views"] = time.time() - t
    t = time.time()
    write_outputs(s.out, done, s.space, s.budget, s.settings, lambda _: None)
    times["outputs"] = time.time() - t
    t = time.time()
    s.strategy.ask()
    times["first ask"] = time.time() - t
    import sqlalchemy as sa

    from nas.app.store import RUNS

    with s.store.engine.connect() as con:
        state = con.execute(sa.select(RUNS.c.state)).scalar()
    return {"times": times, "records": len(done), "history": len(s.strategy.history), "state_bytes": len(state),
            "rung_records": sum(len(v) for v in getattr(stopper, "seen", {}).values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evaluations", type=int, default=10_000)
    ap.add_argument("--strategies", default="evolution,random")
    ap.add_argument("--repeats", type=int, default=3, help="resumes timed per strategy (fresh process each)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "resume_load.md"))
    ap.add_argument("--reuse", help="keep the filled run directories here and reuse them on the next run")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(resume(a.child)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="nas-resume-") as tmp:
        for strategy in a.strategies.split(","):
            out = Path(a.reuse or tmp) / f"run-{strategy}-{a.evaluations}"
            done = out / "filled.txt"
            if done.exists():
                filled, views = map(float, done.read_text().split())
            else:
                print(f"filling {out.name} with {a.evaluations:,} evaluations ...", flush=True)
                filled, views = fill(out, strategy, a.evaluations)
                done.write_text(f"{filled} {views}")
            runs = []
            for _ in range(a.repeats):
                proc = subprocess.run([sys.executable, __file__, "--child", str(out)], capture_output=True,
                                      text=True, cwd=tmp, env={**os.environ, "HOME": tmp}, check=True)
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                print(f"  resume: {sum(runs[-1]['times'].values()):.2f} s", flush=True)
            rows.append((strategy, (filled, views), runs, (out / "results.db").stat().st_size))
    lines = [
        "# Resuming a search with 10,000 recorded evaluations",
        "",
        f"`python benchmarks/resume_load.py --evaluations {a.evaluations}` on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; {time.strftime('%Y-%m-%d')}. "
        "See the script's docstring for what each step does. Each resume runs in a fresh process; seconds are "
        f"the median of {a.repeats} resumes (min-max in brackets). The run: mobilenet, 300M MACs, 2 epochs, ASHA, "
        "SQLite store in the run directory.",
        "",
        "| strategy | evaluations | results.db | state row | " + " | ".join(STEPS) + " | resume's own work | "
        "whole start | target (< 5 s) |",
        "|---|---:|---:|---:|" + "---:|" * len(STEPS) + "---:|---:|---|",
    ]
    for strategy, filled, runs, size in rows:
        cells = []
        for step in STEPS:
            xs = sorted(r["times"][step] for r in runs)
            cells.append(f"{xs[len(xs) // 2]:.2f} [{xs[0]:.2f}-{xs[-1]:.2f}]")
        own = sorted(sum(r["times"][k] for k in OWN) for r in runs)
        whole = sorted(sum(r["times"].values()) for r in runs)
        mid = len(runs) // 2
        lines.append(f"| {strategy} | {runs[0]['records']:,} | {size / 1e6:.1f} MB | {runs[0]['state_bytes']:,} B | "
                     + " | ".join(cells) + f" | **{own[mid]:.2f}** [{own[0]:.2f}-{own[-1]:.2f}] | "
                     f"{whole[mid]:.2f} [{whole[0]:.2f}-{whole[-1]:.2f}] | own work "
                     f"{'met' if own[mid] < 5 else 'missed'}, whole start {'met' if whole[mid] < 5 else 'missed'} |")
    lines += [
        "",
        "Checks in every resume: the strategy's history holds every recorded candidate "
        f"({', '.join(str(r[2][0]['history']) for r in rows)}), and ASHA's rung holds the epoch-1 score of every "
        f"completed or stopped one ({', '.join(str(r[2][0]['rung_records']) for r in rows)}).",
        "",
        "The state row is rewritten with every recorded evaluation; it holds the strategy's RNG, its in-flight "
        "candidates and its own bounded part (evolution: the population of 10), not the history, which is read "
        "back from the evaluations themselves. Filling the store (not part of the resume) took "
        + ", ".join(f"{r[0]} {r[1][0]:.0f} s" for r in rows) + ".",
        "",
        "The views (optuna-dashboard's study, TensorBoard's runs) are in step with the store when a search resumes "
        "and are then only checked (the `views` step); a run whose views are missing or behind has them made again "
        "from the store on its next start, which for these runs took "
        + ", ".join(f"{r[0]} {r[1][1]:.0f} s" for r in rows) + " (not part of the table).",
    ]
    Path(a.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
