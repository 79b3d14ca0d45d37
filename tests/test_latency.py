"""``--max-latency-ms``: the latency model predicts block by block what it predicts for the whole genome, every
strategy keeps the cap, measuring happens in a fresh process, and a search measures its finalists for real."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

import nas
import search_spaces
import strategies
from nas.latency import LatencyModel, calibrate, conv_key, measure, measure_apart, within
from search_spaces import Budget

SMALL = (3, 32, 32)


def model() -> LatencyModel:
    """A model with made-up weights and no table: every convolution comes from its regression (pure, no timing)."""
    return LatencyModel(weights=[1.0, 2e-6, 0.01, 0.5],
                        conv_weights={"dense": [2e-7, 1e-6, 1e-6, 1e-6, 0.005],
                                      "depthwise": [1e-6, 2e-6, 2e-6, 1e-6, 0.005]})


TEMPLATE = """\
name: tiny_template
input: [3, 32, 32]
classes: 10
stem: [{type: conv, c: 16, k: 3}]
stages:
  - [{type: inverted, c: 24, s: 2, e: {choice: [2, 4, 6]}, k: {choice: [3, 5]}, repeat: {choice: [1, 2, 3]}}]
  - [{type: inverted, c: 32, s: 2, e: {choice: [2, 4]}, k: {choice: [3, 5, 7]}, repeat: {choice: [1, 2]}}]
head: [{type: gap}, {type: linear}]
"""


def spaces(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(TEMPLATE)
    return [search_spaces.get("mobilenet"), search_spaces.get("resnet"), search_spaces.get("cell"),
            search_spaces.get(str(path))]


def test_a_space_predicts_block_by_block_what_the_model_predicts_for_the_genome(tmp_path) -> None:
    for space in spaces(tmp_path):
        m = model()
        space.use_latency(m)
        rng = np.random.default_rng(0)
        for _ in range(10):
            config = space.sample_config(rng)
            cost = space.cost(config)
            assert len(cost) == 4 and cost[:3] == space.counts(config), space.name
            assert cost[3] == pytest.approx(model().predict(space.decode(config)), rel=1e-9), space.name


def test_features_add_up_over_blocks_and_the_table_beats_the_regression() -> None:
    g = search_spaces.get("mobilenet", SMALL, 10).sample(np.random.default_rng(1))
    m = model()
    f = m.features(g)
    assert f[3] == 1 and f[2] == len(nas.trace(g).nodes)
    assert f[1] == sum(int(np.prod(n.shape)) for n in nas.trace(g).nodes if n.op not in ("conv", "linear"))
    keys = m.convolutions(g)
    assert keys and keys <= m.estimated  # no table: every convolution was estimated
    timed = LatencyModel(m.weights, {k: 1.0 for k in keys}, m.conv_weights)
    assert timed.features(g)[0] == pytest.approx(
        sum(1.0 for n in nas.trace(g).nodes if n.op == "conv"))  # each convolution instance counts its entry
    assert not timed.estimated


@pytest.mark.parametrize("name", strategies.names())
def test_every_strategy_keeps_the_latency_cap(name: str) -> None:
    space = search_spaces.get("mobilenet")
    space.use_latency(model())
    rng = np.random.default_rng(0)
    free = sorted(space.cost(space.sample_config(rng, "300M"))[3] for _ in range(40))
    cap = free[len(free) // 3]  # a third of what the MAC budget alone allows fits
    s = strategies.get(name)(space, budget=Budget(300_000_000, latency_ms=cap), seed=0)
    for _ in range(15):
        c = s.ask()
        assert space.cost(c.config)[3] <= cap and model().predict(c.genome) <= cap * (1 + 1e-9)
        s.tell(c, {"accuracy": c.macs / 1e9, "macs": c.macs})


def test_a_cap_without_a_model_or_below_the_space_is_one_line() -> None:
    space = search_spaces.get("mobilenet")
    with pytest.raises(nas.NasError, match="a latency cap needs a latency model"):
        space.check_budget(Budget(300_000_000, latency_ms=5.0))
    space.use_latency(model())
    low = space.min_cost()[3]
    with pytest.raises(nas.NasError, match=r"below the smallest member of space 'mobilenet' \(.* ms predicted"):
        space.check_budget(Budget(300_000_000, latency_ms=low * 0.9))
    assert str(space.check_budget(Budget(300_000_000, latency_ms=low * 2))).endswith("ms predicted on this CPU")


def test_a_model_round_trips_and_a_broken_file_is_named(tmp_path) -> None:
    g = search_spaces.get("mobilenet", SMALL, 10).sample(np.random.default_rng(2))
    m = model()
    m.table = {k: 0.1 for k in list(model().convolutions(g))[:3]}
    m.calibration_ms = [1.0, 2.0]
    m.save(tmp_path / "m.json")
    back = LatencyModel.load(tmp_path / "m.json")
    assert back.predict(g) == pytest.approx(m.predict(g)) and back.calibration_ms == [1.0, 2.0]
    for text in ("{", "[]", json.dumps({**m.to_dict(), "weights": [1]}), json.dumps({**m.to_dict(), "format": 9}),
                 json.dumps({**m.to_dict(), "table": {"[1, 2]": 0.1}})):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(nas.NasError, match=r"bad.json: not a latency model"):
            LatencyModel.load(tmp_path / "bad.json")


def test_within_is_the_share_inside_ten_percent() -> None:
    assert within([1.0, 1.09, 1.2, 0.95], [1.0, 1.0, 1.0, 1.0]) == 0.75


@pytest.mark.slow
def test_measuring_in_a_fresh_process_and_calibrating(tmp_path) -> None:
    space = search_spaces.get("mobilenet", SMALL, 10)
    rng = np.random.default_rng(3)
    genomes = [space.sample(rng) for _ in range(7)]
    lines: list[str] = []
    m = calibrate(genomes[:6], 4, genomes[6:], lines.append)
    keys = set().union(*(model().convolutions(g) for g in genomes))
    assert set(m.table) == keys and all(v > 0 for v in m.table.values())  # the cover network's too
    assert set(m.conv_weights) == {"dense", "depthwise"} and len(m.calibration_ms) == 6
    assert m.judged["networks"] == 2 and 0 <= m.judged["within_10pct"] <= 1
    assert any(l.startswith("latency: round 3/3: measured 6/6 networks and timed ") for l in lines)
    assert all(x > 0 for x in m.calibration_ms) and m.predict(genomes[5]) > 0
    ms, convs = measure_apart(genomes[:1], [conv_key({"cin": 3, "c": 8, "k": (3, 3), "s": (1, 1), "p": (1, 1),
                                                       "d": 1, "groups": 1, "bias": False}, SMALL)])
    assert len(ms) == 1 and ms[0] > 0 and len(convs) == 1
    assert measure(genomes[0], passes=3) > 0  # in this process too
    with pytest.raises(nas.NasError, match="at least 4 networks to fit and one to judge"):
        calibrate(genomes[:4], 4)


@pytest.mark.slow
def test_max_latency_ms_from_the_command_line(tmp_path, capsys) -> None:
    from nas.app.cli import main

    flags = ["search", "--space", "cell", "--estimator", "nb201", "--trials", "10", "--no-dashboard"]
    out = tmp_path / "run"
    assert main([*flags, "--max-latency-ms", "1000", "--out", str(out)]) == 0
    log = capsys.readouterr().out
    assert "latency: model fitted on 60 networks, judged on 20 others: " in log
    assert "budget 300M MACs, 1000 ms predicted on this CPU" in log
    m = LatencyModel.load(out / "latency_model.json")
    assert len(m.calibration_ms) == 80 and m.table
    best = json.loads((out / "latency.json").read_text())["finalists"]
    assert len(best) == 1 and best[0]["measured_ms"] <= 1000  # the search's best, measured for real
    # a binding cap, on the same model (put in the run beforehand: it is not calibrated again)
    space = search_spaces.get("cell")
    space.use_latency(m)
    with open(out / "trials.csv") as f:
        predicted = sorted(space.cost(space.encode(nas.loads(r["genome"])))[3] for r in csv.DictReader(f))
    cap = round(predicted[len(predicted) // 2], 3)
    capped = tmp_path / "capped"
    capped.mkdir()
    shutil.copy(out / "latency_model.json", capped / "latency_model.json")
    assert main([*flags, "--max-latency-ms", str(cap), "--out", str(capped)]) == 0
    assert "latency: measuring" not in capsys.readouterr().out
    with open(capped / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10
    assert all(space.cost(space.encode(nas.loads(r["genome"])))[3] <= cap for r in rows)
    # resuming with another cap is refused; a cap no member of the space meets is one line
    assert main(["search", "--resume", "--out", str(capped), "--max-latency-ms", "99"]) == 2
    assert "--max-latency-ms 99" in capsys.readouterr().err
    low = tmp_path / "low"
    low.mkdir()
    shutil.copy(out / "latency_model.json", low / "latency_model.json")
    assert main([*flags, "--max-latency-ms", "0.001", "--out", str(low)]) == 2
    assert "is below the smallest member of space 'cell'" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1", "abc", "inf", "1e400"])
def test_a_bad_cap_is_one_line_and_exit_2(value, tmp_path, capsys) -> None:
    from nas.app.cli import main

    with pytest.raises(SystemExit) as e:
        main(["search", "--max-latency-ms", value, "--out", str(tmp_path / "r")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("nas search: error: argument --max-latency-ms:") and "Traceback" not in "".join(err)
