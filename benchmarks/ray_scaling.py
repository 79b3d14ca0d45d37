"""Trials per hour of `nas search` with 1 and 2 trials at a time, and Ray's overhead per trial.

Run: python benchmarks/ray_scaling.py [--trials 8] [--space mobilenet --budget 300M] [--out benchmarks/ray_scaling.md]

The same candidates every time (the random strategy with a fixed seed) are evaluated three ways: called directly
in this process one after another (one torch thread, as a Ray task with one CPU gets), then through the search
driver on a local Ray with 1 and with 2 candidates in flight. Ray's overhead per trial, with one in flight, is
measured two ways: the driver's time minus the time the workers spent inside the estimator (their own clock), over
the trials (everything Ray and the driver add, starting the worker process included), and the median gap between
one trial ending in its worker and the next one starting there (the steady round trip: result back, record, ask,
submit, schedule). The driver's time against the direct time is shown too. Targets: 2 in flight give at least 1.7x
the trials per hour of 1 on this 2-core machine; the overhead is at most 1 s per trial.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the private Ray cluster the tests use

from privateray import private_cluster  # noqa: E402

from nas.app.driver import Search  # noqa: E402
from nas.app.settings import Settings  # noqa: E402
from nas.app.worker import evaluate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--space", default="mobilenet")
    ap.add_argument("--budget", default="300M")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    settings = dict(space=a.space, budget=a.budget, strategy="random", trials=a.trials, dataset=a.dataset,
                    verdict=False, seed=0)  # the scaling of the search loop itself
    # a private cluster in a temporary directory, stopped on the way out (tests/privateray.py)
    with private_cluster(num_cpus=2, dashboard=False) as c:
        import ray  # after the private cluster has set Ray's token variables: Ray reads them on import

        ray.init(address=c["address"], log_to_driver=False)
        try:
            runs = {}
            with tempfile.TemporaryDirectory() as tmp:
                for concurrent in (1, 2):
                    s = Search(Settings(**settings, max_concurrent=concurrent), Path(tmp) / f"c{concurrent}",
                               log=lambda _: None)
                    t = time.perf_counter()
                    summary = s.run()
                    runs[concurrent] = (time.perf_counter() - t, s.store.evaluations())
                    assert summary.failed == 0
                genomes = [e.genome for e in sorted(runs[1][1], key=lambda e: e.trial)]
                torch.set_num_threads(1)
                spec = {"dataset": a.dataset, "epochs": 1, "seed": 0, "data_dir": None}
                evaluate(genomes[0], spec)  # load the data once, as a worker does before its first trial
                t = time.perf_counter()
                for g in genomes:
                    evaluate(g, spec)
                direct = time.perf_counter() - t
        finally:
            ray.shutdown()
    n = a.trials
    t1, t2 = runs[1][0], runs[2][0]
    evs = sorted(runs[1][1], key=lambda e: e.finished)
    inside = sum(e.finished - e.started for e in evs)
    gaps = sorted(b.started - e.finished for e, b in zip(evs, evs[1:]))
    gap = gaps[len(gaps) // 2] if len(gaps) % 2 else (gaps[len(gaps) // 2 - 1] + gaps[len(gaps) // 2]) / 2
    rows = [("direct, in process (1 torch thread)", f"{direct:.1f}", f"{3600 * n / direct:,.0f}", "", "", "", ""),
            ("nas search, 1 in flight", f"{t1:.1f}", f"{3600 * n / t1:,.0f}", "1.00x", f"{(t1 - inside) / n:+.2f}",
             f"{gap:.3f}", f"{(t1 - direct) / n:+.2f}"),
            ("nas search, 2 in flight", f"{t2:.1f}", f"{3600 * n / t2:,.0f}", f"{t1 / t2:.2f}x", "", "", "")]
    head = ("how", f"seconds for {n} trials", "trials per hour", "vs 1 in flight",
            "overhead per trial, all in (s)", "gap between trials, median (s)", "vs direct, per trial (s)")
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)] + [
        "| " + " | ".join(r) + " |" for r in rows]
    met = t1 / t2 >= 1.7 and (t1 - inside) / n <= 1.0
    lines += ["", f"Targets (2 in flight at least 1.7x, overhead at most 1 s per trial): {'met' if met else 'not met'} "
              f"({t1 / t2:.2f}x, {(t1 - inside) / n:.2f} s all in, of which starting the worker is paid once)."]
    info = (f"{a.space} space at {a.budget} MACs, {a.dataset}, 1 epoch per trial; {platform.machine()}, 2 cores, "
            f"torch {torch.__version__}, ray {ray.__version__}; the driver's time includes starting its Ray workers")
    text = "\n".join(lines) + f"\n\n{info}\n"
    print(text)
    if a.out:
        a.out.write_text(f"# Ray scaling\n\n`python benchmarks/ray_scaling.py --trials {n} --out {a.out}`\n\n"
                         + " ".join((__doc__ or "").split("\n\n")[2].split()) + "\n\n" + text)


if __name__ == "__main__":
    main()
