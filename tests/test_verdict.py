"""The verdict's procedure on fixed inputs, without Ray: the winner fixed by the search's own order, the
fixed-sequence comparisons with the baseline and their wording, the audit's minimum, the fidelity every line
names, and --verdict-width."""

from __future__ import annotations

import pytest

import search_spaces
import strategies
from estimators.train import encode_correct
from nas.app.cli import main
from nas.app.evaluations import evaluation
from nas.app.jobs import Job
from nas.app.outputs import summarize
from nas.app.settings import Settings, verdict_width
from nas.app.verdict import AUDIT_MIN, Entrant, Verdict, report
from nas.app.verdict.entrants import entrants, verdict_jobs, verdict_report

SPACE = search_spaces.get("mobilenet")
BUDGET = SPACE.check_budget("300M")
N = 5000
FIDELITY = {"width": 0.35, "input": [1, 28, 28], "floor": 4, "epochs": 3, "train_images": 15000, "n_eval": N,
            "proxy_macs": 2_000_000, "proxy_params": 500_000}


def hits(acc: float, shift: int = 0) -> list[int]:
    """``acc`` of the N test images right, the right ones starting at image ``shift``."""
    k = int(round(acc * N))
    row = [0] * N
    for i in range(k):
        row[(shift + i) % N] = 1
    return row


def entrant(i: int, label: str, accs: list[float], search: float | None, *, seed: bool = False,
            shift: int = 0) -> Entrant:
    e = Entrant(i, label, None, 100_000_000 + i, search_trial=None if seed else i, search_accuracy=search,
                is_seed=seed, top=not seed)
    for s, acc in enumerate(accs):
        e.results[s] = {**FIDELITY, "accuracy": acc, "correct": encode_correct(hits(acc, shift)), "n_eval": N}
    return e


def test_the_winner_is_the_searchs_first_even_when_the_test_split_prefers_another() -> None:
    first = entrant(0, "trial 5", [0.850, 0.852, 0.851, 0.849], 0.80)
    second = entrant(1, "trial 9", [0.880, 0.882, 0.881, 0.879], 0.79)  # better on test, second by the search
    base = entrant(2, "baseline b", [0.850, 0.851, 0.849, 0.850], None, seed=True)
    winner, lines, data = report([first, second, base], "test")
    assert winner is first and data["versus_seed"]["diff"] == pytest.approx(0.0005, abs=1e-4)
    assert not data["versus_seed"]["better"]
    # the sequence stops at the winner: the second candidate's 3-point lead is shown but claims nothing
    assert any(l.startswith("trial 9 vs baseline b: +3.0 points") and
               l.endswith("on the test split (both retrained at width x0.35 on 1x28x28): no claim (an earlier "
                          "candidate in the search's order was not better)") for l in lines)
    assert data["comparisons"][1] == {**data["comparisons"][1], "tested": False, "better": False}


def test_the_winner_is_read_off_a_store_in_the_searchs_order(tmp_path) -> None:
    """Records where the verdict's test scores invert the search's ranking: the winner stays the search's best."""
    s = Settings(space="mobilenet", dataset="synthetic", verdict_top=2, verdict_seeds=2)
    strat = strategies.get("random")(SPACE, budget=BUDGET, seed=0)
    cands = [strat.ask() for _ in range(3)]
    done = [evaluation(Job.for_candidate(c), {"status": "ok", "accuracy": a, "epochs": 2}, s)
            for c, a in zip(cands, (0.70, 0.80, 0.75))]
    es = entrants(done, SPACE, BUDGET, s)
    assert [e.label for e in es] == ["trial 1", "trial 2", "baseline mobilenet_v2 x0.98 (300M)"]
    test_acc = {"trial 1": 0.84, "trial 2": 0.90, "baseline mobilenet_v2 x0.98 (300M)": 0.85}
    for job in verdict_jobs(es, s):
        acc = test_acc[job.entrant.label]
        done.append(evaluation(job, {"status": "ok", **FIDELITY, "accuracy": acc,
                                     "correct": encode_correct(hits(acc)), "split": "test"}, s))
    v = verdict_report(done, SPACE, BUDGET, s)
    winner, lines, data = v.winner, v.lines, v.data
    assert winner.label == data["winner"] == "trial 1"  # 0.84 on test, but the search's best
    assert data["versus_seed"]["high"] < 0  # and the baseline is better: said, not hidden
    assert any(l.startswith("winner (trial 1) vs baseline mobilenet_v2 x0.98 (300M)") and
               l.endswith("(both retrained at width x0.35 on 1x28x28): baseline mobilenet_v2 x0.98 (300M) is better")
               for l in lines)


def test_the_fixed_sequence_goes_on_while_each_is_better() -> None:
    es = [entrant(0, "trial 1", [0.880, 0.882, 0.881, 0.879], 0.82),
          entrant(1, "trial 2", [0.870, 0.872, 0.871, 0.869], 0.81),
          entrant(2, "trial 3", [0.851, 0.852, 0.850, 0.851], 0.80),
          entrant(3, "trial 4", [0.890, 0.892, 0.891, 0.889], 0.79),
          entrant(4, "baseline b", [0.850, 0.851, 0.849, 0.850], None, seed=True)]
    winner, lines, data = report(es, "test")
    c = data["comparisons"]
    assert [x["tested"] for x in c] == [True, True, True, False]
    assert [x["better"] for x in c] == [True, True, False, False]
    assert lines.count(next(l for l in lines if l.startswith("winner (trial 1)"))) == 1
    assert next(l for l in lines if l.startswith("winner (trial 1)")) == (
        f"winner (trial 1) vs baseline b: +3.0 points [{100 * c[0]['low']:+.1f}, {100 * c[0]['high']:+.1f}] on the "
        "test split (both retrained at width x0.35 on 1x28x28): winner (trial 1) is better")
    assert next(l for l in lines if l.startswith("trial 3 vs")).endswith("the two cannot be told apart")
    assert next(l for l in lines if l.startswith("trial 4 vs")).endswith("no claim (an earlier candidate in the "
                                                                         "search's order was not better)")
    # the intervals include training noise: Student's t over the pooled seed-to-seed variance
    assert data["seed_df"] == 5 * 3 and 0 < c[0]["low"] < 0.03 < c[0]["high"]


def test_the_audit_reports_a_tau_only_from_five_networks() -> None:
    base = entrant(9, "baseline b", [0.85, 0.851], None, seed=True)
    few = [entrant(i, f"trial {i}", [0.86 - i / 1000, 0.861 - i / 1000], 0.8 - i / 100) for i in range(AUDIT_MIN - 1)]
    _, lines, data = report([*few, base], "test")
    assert data["kendall_tau"] is None and lines[-1] == (
        f"fidelity audit: {AUDIT_MIN - 1} retrained network(s) with a search score, too few for a Kendall tau (it "
        f"needs {AUDIT_MIN}; --verdict-top {AUDIT_MIN} retrains that many)")
    five = few + [entrant(AUDIT_MIN - 1, "trial 9", [0.87, 0.871], 0.7)]
    _, lines, data = report([*five, base], "test")
    lo, hi = data["kendall_tau_interval"]
    assert data["kendall_tau"] == pytest.approx(0.2) and -1 <= lo <= 0.2 <= hi <= 1
    assert lines[-1].startswith(f"fidelity audit: Kendall tau +0.20 [{lo:+.2f}, {hi:+.2f}] between the search's "
                                "scores and the verdict over the 5 retrained networks")


def test_every_verdict_line_names_its_fidelity(tmp_path) -> None:
    es = [entrant(0, "trial 1", [0.880, 0.882], 0.82), entrant(1, "baseline b", [0.850, 0.851], None, seed=True)]
    winner, lines, data = report(es, "test")
    data.update(n_test=N, n_train=15000, deployment_input=[3, 224, 224], winner=winner.label)
    out: list[str] = []
    summarize(tmp_path, [], BUDGET, Settings(), Verdict(winner, lines, data, es), [], out.append)
    head = next(l for l in out if l.startswith("verdict on the test split"))
    assert ("each network retrained at width x0.35, 1x28x28 input (strides dropped where a map would fall below "
            "4x4), 3 epoch(s) on 15,000 training images" in head and "deployment network's at 3x224x224" in head)
    for l in out:
        if "MACs (" in l and "test " in l:  # each network: its deployment MACs and what was trained
            assert "(trained as 2.00M MACs, 500k params)" in l
        if " vs " in l:
            assert "(both retrained at width x0.35 on 1x28x28)" in l
    assert data["fidelity"]["width"] == 0.35 and data["entrants"][0]["trained_macs"] == 2_000_000


def test_verdict_width_follows_the_device_unless_asked() -> None:
    assert verdict_width(Settings(width=0.35))[0] == 0.35
    assert verdict_width(Settings(width=0.35, gpus_per_trial=1))[0] == 1.0
    assert verdict_width(Settings(width=0.35, verdict_width=0.5)) == (0.5, "as --verdict-width asks")
    e = Entrant(0, "trial 0", None, 1)
    jobs = verdict_jobs([e], Settings(width=0.35, verdict_width=1.0, verdict_seeds=1))
    assert jobs[0].spec({"width": 0.35})["width"] == 1.0


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf"])
def test_a_bad_verdict_width_is_one_line_and_exit_2(capsys, value: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["search", "--verdict-width", value, "--dataset", "synthetic"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nas search: error: argument --verdict-width: ") and "\n" not in err


def test_the_verdicts_labels_in_the_picture_never_cover_one_another(tmp_path) -> None:
    from nas.app.plot import plot
    from nas.app.store import Evaluation

    close = [Entrant(i, label, None, 300_000_000 + i * 1_000_000, search_trial=i,
                     results={0: {"accuracy": 0.85 + i * 0.001}, 1: {"accuracy": 0.851 + i * 0.001}})
             for i, label in enumerate(["trial 12", "trial 7", "baseline mobilenet_v2 x0.98 (300M)"])]
    done = [Evaluation(trial=t, genome="g", macs=250_000_000 + t * 10_000_000, params=1, status="ok",
                       accuracy=0.8 + t / 100) for t in range(5)]
    fig = plot(tmp_path / "p.png", done, done[-2:], 300_000_000, Settings(space="mobilenet"), close)
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    boxes = [Text.get_window_extent(t, renderer) for t in fig.axes[0].texts]  # the words, not the lines to points
    assert sorted(t.get_text() for t in fig.axes[0].texts) == sorted(e.label for e in close)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert all(b.x0 >= 0 and b.x1 <= fig.bbox.x1 for b in boxes)  # inside the picture
    assert (tmp_path / "p.png").stat().st_size > 10_000
