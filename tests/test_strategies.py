"""The contract every registered strategy keeps (seeded, within budget, order-free, resumable, torch-free)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

import nas
import search_spaces
import strategies
from strategies import Candidate, Strategy

NAMES = strategies.names()
BUDGET = 300_000_000


def objective(c: Candidate) -> dict:
    """A cheap deterministic stand-in for accuracy: bigger and more expanded nets score higher."""
    bonus = sum(v for k, v in c.config.items() if k.endswith((".e", ".k"))) / 100
    return {"accuracy": math.log(c.macs) / 20 + bonus, "macs": c.macs}


def make(name: str, space: str = "mobilenet", seed: int = 0, budget=BUDGET, **kw) -> Strategy:
    return strategies.get(name)(search_spaces.get(space), budget=budget, seed=seed, **kw)


def run(s: Strategy, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        c = s.ask()
        s.tell(c, objective(c))
        out.append(c.config)
    return out


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_deterministic_for_a_seed(name: str) -> None:
    assert run(make(name), 25) == run(make(name), 25)
    assert run(make(name, seed=1), 25) != run(make(name), 25)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("space", ["mobilenet", "resnet", "cell"])
def test_never_over_the_budget(name: str, space: str) -> None:
    sp = search_spaces.get(space)
    low, high = sp.mac_range()
    budget = int(low + 0.2 * (high - low))
    s = make(name, space, budget=budget)
    for _ in range(30):
        c = s.ask()
        assert c.macs <= budget and nas.cost(c.genome).macs == c.macs <= budget
        assert sp.contains(c.genome)
        s.tell(c, objective(c))


@pytest.mark.parametrize("name", NAMES)
def test_params_and_activation_caps_are_kept_beside_the_macs(name: str) -> None:
    sp = search_spaces.get("mobilenet")
    free = [sp.cost(c) for c in run(make(name), 20)]  # what the MAC budget alone gives
    params = sorted(c[1] for c in free)[len(free) // 4]
    acts = sorted(c[2] for c in free)[len(free) // 4]
    assert max(c[1] for c in free) > params and max(c[2] for c in free) > acts  # the caps bind
    cap = search_spaces.Budget(BUDGET, params=params, activations=acts)
    for config in run(make(name, budget=cap), 20):
        macs, p, a = sp.cost(config)
        assert macs <= BUDGET and p <= params and a <= acts


@pytest.mark.parametrize("name", NAMES)
def test_failures_and_out_of_order_results(name: str) -> None:
    s = make(name)
    for _ in range(3):
        batch = [s.ask() for _ in range(4)]
        assert len({c.id for c in batch}) == 4
        for i, c in enumerate(reversed(batch)):
            s.tell(c, None if i == 1 else objective(c))
    assert sum(m is None for _, m in s.history) == 3
    best, metrics = s.best()
    assert metrics is not None and all(best.id != c.id for c, m in s.history if m is None)
    with pytest.raises(nas.NasError, match="was not asked for, or was already told"):
        s.tell(batch[0], objective(batch[0]))
    run(s, 10)  # it goes on after failures


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_deduplicated(name: str) -> None:
    s = make(name)
    configs = run(s, 40)
    keys = {json.dumps(c, sort_keys=True) for c in configs}
    assert len(keys) == len(configs)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_state_round_trip_gives_the_same_next_proposals(name: str) -> None:
    a = make(name)
    run(a, 15)
    state = json.loads(json.dumps(a.state_dict()))  # plain data, RNG state included
    b = make(name)
    b.load_state_dict(state)
    assert run(b, 15) == run(a, 15)


@pytest.mark.parametrize("name", NAMES)
def test_state_with_candidates_in_flight(name: str) -> None:
    a = make(name)
    run(a, 8)
    inflight = [a.ask(), a.ask()]
    b = make(name)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    again = [b.ask(), b.ask()]
    assert [(c.id, c.config) for c in again] == [(c.id, c.config) for c in inflight]
    for c in again:
        b.tell(c, objective(c))
    nxt = b.ask()
    assert nxt.id == max(c.id for c in again) + 1
    with pytest.raises(nas.NasError, match="state is for strategy"):
        strategies.get("random" if name != "random" else "evolution")(search_spaces.get("mobilenet"),
                                                                      BUDGET).load_state_dict(a.state_dict())


@pytest.mark.parametrize("name", [n for n in NAMES if strategies.get(n).warm_start])
def test_warm_start_includes_the_seeds(name: str) -> None:
    sp = search_spaces.get("mobilenet")
    s = make(name, budget="600M")
    first = [s.ask() for _ in range(len(sp.seeds))]
    assert [c.config for c in first] == [sp.encode(nas.seed(n)) for n in sp.seeds]
    assert [c.origin for c in first] == [f"seed:{n}" for n in sp.seeds]
    # a seed over the budget is repaired to fit, and the notes say so
    s = make(name, budget="300M")
    c = s.ask()
    assert c.origin == "seed:mobilenet_v2:repaired" and c.macs <= BUDGET
    assert any("mobilenet_v2 (300,774,272 MACs) is over the budget" in n for n in s.notes)


def test_infeasible_budget_and_unknown_names() -> None:
    with pytest.raises(nas.NasError, match="below the smallest member of space 'mobilenet'"):
        make("random", budget="1M")
    with pytest.raises(nas.NasError, match="unknown strategy 'annealing'; strategies: "):
        strategies.get("annealing")


def test_registries_refuse_a_duplicate_or_nameless_class() -> None:
    assert strategies.names() == ["evolution", "optuna", "nsga2", "random"]
    assert search_spaces.names() == ["cell", "densenet", "inception", "mobilenet", "resnet", "shufflenet", "vgg"]
    with pytest.raises(ValueError, match="strategy name 'random' is empty or registered twice"):
        strategies.register(type("Again", (Strategy,), {"name": "random"}))
    with pytest.raises(ValueError, match="space name None is empty or registered twice"):
        search_spaces.register(type("Nameless", (), {}))
    with pytest.raises(nas.NasError, match="^unknown space 'warp'; spaces: cell, densenet, "):
        search_spaces.get("warp")


def test_pareto_front_is_non_dominated() -> None:
    s = make("nsga2")
    run(s, 40)
    front = s.pareto()
    assert front
    for c, m in front:
        for d, n in s.history:
            if n is not None and d.id != c.id:
                assert not (d.macs <= c.macs and n["accuracy"] > m["accuracy"] and d.macs < c.macs)


@pytest.mark.slow
def test_optuna_study_is_kept_in_its_storage(tmp_path) -> None:
    import optuna

    url = f"sqlite:///{tmp_path / 'study.db'}"
    s = make("optuna", storage=url, study_name="t")
    run(s, 5)
    study = optuna.load_study(study_name="t", storage=url)
    assert sum(t.state.name == "COMPLETE" for t in study.trials) >= 5
    # a driver that died with a trial in flight: its candidate is asked again on resume
    c = s.ask()
    state = json.loads(json.dumps(s.state_dict()))
    t = make("optuna", storage=url, study_name="t")
    t.load_state_dict(state)
    again = t.ask()
    assert (again.id, again.config) == (c.id, c.config)
    t.tell(again, objective(again))


def test_strategies_never_import_torch() -> None:
    code = ("import sys, search_spaces, strategies\n"
            "for n in strategies.names():\n"
            "    s = strategies.get(n)(search_spaces.get('mobilenet'), budget='300M', seed=0)\n"
            "    c = s.ask(); s.tell(c, {'accuracy': 0.5})\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_the_optuna_strategies_leave_optunas_log_level_and_matplotlibs_backend_alone(tmp_path) -> None:
    """Importing or running a strategy, or drawing a search's plot, changes nothing global in the user's process."""
    script = f"""
import optuna, matplotlib
optuna.logging.set_verbosity(optuna.logging.DEBUG)
matplotlib.use("svg")
import search_spaces, strategies
from strategies import optuna_search
s = strategies.get("optuna")(search_spaces.get("cell"), budget="60M", seed=0)
for _ in range(3):
    c = s.ask()
    s.tell(c, {{"accuracy": 0.5}})
from nas.app.plot import plot
from nas.app.settings import Settings
plot(__import__("pathlib").Path({str(tmp_path / "p.png")!r}), [], [], 60_000_000, Settings(space="cell"))
print(optuna.logging.get_verbosity() == optuna.logging.DEBUG, matplotlib.get_backend())
"""
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["True", "svg"]
    assert "A new study created" not in p.stderr and "finished with value" not in p.stderr
