"""The weight-sharing supernet: a subnet is exactly its genome, recalibration, checkpoints that survive SIGKILL,
and one clear line for a checkpoint or genome it cannot serve."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import nas
import search_spaces
from estimators.data import load_data, tensors
from estimators.supernet import Supernet, recalibrate_norms, score
from nas.app.supernet import BinnedSampler, extreme, teacher

SPACE = search_spaces.get("mobilenet")
TINY = ["--dataset", "digits", "--train-images", "256", "--epochs", "2"]


@pytest.fixture(scope="module")
def net() -> Supernet:
    return Supernet(extreme(SPACE, True), (1, 28, 28), 10, width=0.35, floor=SPACE.proxy_map)


def members(n: int = 20) -> list[nas.Genome]:
    rng = np.random.default_rng(7)
    return [nas.seed("mobilenet_v2"), nas.seed("mobilenet_v2_140"), extreme(SPACE, False), extreme(SPACE, True)] + \
        [SPACE.sample(rng, "600M") for _ in range(n)]


@pytest.mark.slow
def test_subnet_weights_load_strictly_into_the_genomes_own_network(net) -> None:
    for g in members():
        model = nas.build(net.proxy(g))
        weights = net.subnet_weights(g)
        assert list(weights) == list(model.state_dict())  # the same names in the same order
        model.load_state_dict(weights, strict=True)
    # the shared weights: the first channels and the centre of the kernel (the smallest member has 3x3 depthwise
    # convs, the largest 7x7)
    g = extreme(SPACE, False)
    weights, big = net.subnet_weights(g), dict(net.model.named_parameters())
    dw = [(n, b, shape) for n, b, shape in net.plan(g)[1] if n.startswith("stages") and shape[1:] == (1, 3, 3)]
    assert dw
    for name, big_name, (c, _, k, _) in dw:
        assert big[big_name].shape[2:] == (7, 7)
        assert torch.equal(weights[name], big[big_name][:c, :, 2:5, 2:5])


def test_a_subnet_computes_what_its_standalone_network_computes(net) -> None:
    x = torch.randn(8, 1, 28, 28)
    for g in members(4):
        model = net.subnet(g)
        model.train()
        with torch.no_grad():  # training mode both (batch statistics), the same dropout mask both
            torch.manual_seed(1)
            shared = net.forward(g, x)
            torch.manual_seed(1)
            assert torch.allclose(shared, model(x), atol=1e-5)


def test_gradients_reach_only_the_shared_weights_a_subnet_uses(net) -> None:
    g = extreme(SPACE, False)
    net.model.zero_grad()
    net.forward(g, torch.randn(4, 1, 28, 28)).sum().backward()
    stem = net.model.stem[0].ops["conv1"].weight
    used = net.plan(g)[1][0][2][0]  # the smallest member's stem channels: a prefix of the largest one's
    assert stem.grad[:used].abs().sum() > 0 and stem.grad[used:].abs().sum() == 0
    net.model.zero_grad(set_to_none=True)


def test_a_genome_beyond_the_supernet_is_refused_naming_the_layer(net) -> None:
    g = nas.seed("mobilenet_v2")
    rec = g.stages[3].blocks[0]
    wide = replace(g, stages=tuple(replace(s, blocks=(replace(rec, params={**rec.params, "k": 9}),)) if i == 3 else s
                                   for i, s in enumerate(g.stages)))
    with pytest.raises(nas.NasError, match="stage 3, block 0.*9x9 weight cannot be taken from the supernet's .*7x7"):
        net.plan(wide)
    with pytest.raises(nas.NasError, match="the supernet's largest member has"):
        net.plan(nas.seed("resnet18"))


@pytest.mark.slow
def test_recalibration_changes_the_statistics_and_is_deterministic_for_a_seed(net) -> None:
    data = tensors(load_data("digits"), net.resolution, 1.0, 0)
    g = nas.seed("mobilenet_v2")
    model = net.subnet(g)
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))
    recalibrate_norms(model, data.x_train, 256, seed=3)
    first = bn.running_mean.clone()
    assert first.abs().sum() > 0
    recalibrate_norms(model, data.x_train, 256, seed=3)
    assert torch.equal(bn.running_mean, first)
    recalibrate_norms(model, data.x_train, 256, seed=4)
    assert not torch.equal(bn.running_mean, first)
    a, b = score(net, g, data, seed=1), score(net, g, data, seed=1)
    assert a["accuracy"] == b["accuracy"] and a["correct"] == b["correct"] and a["n_eval"] == len(data.y_val)


def test_the_sampler_spreads_over_mac_bins_under_the_budget() -> None:
    budget = 300_000_000
    s = BinnedSampler(SPACE, budget, 2, np.random.default_rng(0))
    assert s.top == teacher(SPACE, budget) and nas.cost(s.top).macs <= budget
    macs = [nas.cost(g).macs for _ in range(40) for g in s()[2:]]
    assert max(macs) <= budget
    bins = np.digitize(macs, s.edges[1:-1])
    assert len(set(bins)) == 4  # every bin drawn from


def nas_cli(*args: str, cwd: Path, env: dict | None = None, timeout: float = 600,
            crash: tuple[str, int] | None = None) -> subprocess.CompletedProcess:
    """The ``nas`` command; ``crash`` kills it at a point (``tests/crashing.py``)."""
    crashing = [str(Path(__file__).parent / "crashing.py"), crash[0], str(crash[1])] if crash else ["-m", "nas.app.cli"]
    return subprocess.run([sys.executable, *crashing, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("supernet") / "run"
    r = nas_cli("supernet", "train", *TINY, "--out", str(out), cwd=out.parent)
    assert r.returncode == 0, r.stderr + r.stdout
    assert "[epoch 2/2]" in r.stdout and (out / "tensorboard").is_dir()
    return out / "supernet.pt"


@pytest.mark.slow
def test_a_run_killed_after_an_epoch_resumes_to_the_same_weights(trained, tmp_path) -> None:
    out = tmp_path / "run"
    r = nas_cli("supernet", "train", *TINY, "--out", str(out), cwd=tmp_path, crash=("supernet_epoch", 1))
    assert r.returncode == -9 and "[epoch 2/2]" not in r.stdout  # killed once epoch 1's checkpoint was written
    assert torch.load(out / "supernet.pt", weights_only=True)["epoch"] == 1
    r = nas_cli("supernet", "train", "--resume", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stdout and "[epoch 2/2]" in r.stdout and "[epoch 1/2]" not in r.stdout
    a = torch.load(out / "supernet.pt", weights_only=True)
    b = torch.load(trained, weights_only=True)
    assert a["epoch"] == b["epoch"] == 2 and [h["epoch"] for h in a["settings"]["history"]] == [1, 2]
    assert all(torch.equal(a["weights"][k], b["weights"][k]) for k in b["weights"])


@pytest.mark.slow
def test_resume_refuses_a_flag_that_differs_from_the_run(trained, tmp_path) -> None:
    out = str(trained.parent)
    for flags, message in ((["--epochs", "3"], "--epochs 3 differs from the run being resumed, started with epochs 2"),
                           (["--no-distill"], "--no-distill differs from the run being resumed, started with distill "
                                              "True")):
        r = nas_cli("supernet", "train", "--resume", "--out", out, *flags, cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    stored = torch.load(trained, weights_only=True)["settings"]
    same = ["--budget", stored["budget"], "--epochs", str(stored["epochs"]), "--seed", str(stored["seed"])]
    r = nas_cli("supernet", "train", "--resume", "--out", out, *same, cwd=tmp_path)
    assert r.returncode == 0 and "after epoch 2 of 2" in r.stdout, r.stderr  # the same flags: nothing left to do


@pytest.mark.slow
def test_export_writes_weights_that_load_strictly(trained, tmp_path) -> None:
    r = nas_cli("supernet", "export", str(trained), "mobilenet_v2", "-o", str(tmp_path / "w.pt"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    saved = torch.load(tmp_path / "w.pt", weights_only=True)
    nas.build(nas.loads(saved["genome"])).load_state_dict(saved["state_dict"], strict=True)


@pytest.mark.slow
def test_bad_checkpoints_and_genomes_are_one_line_with_exit_status_2(trained, tmp_path) -> None:
    cut = tmp_path / "cut.pt"
    cut.write_bytes(trained.read_bytes()[:5000])
    other = tmp_path / "other.pt"
    data = torch.load(trained, weights_only=True)
    torch.save({**data, "space": "resnet"}, other)
    ranges = tmp_path / "ranges.pt"
    torch.save({**data, "dimensions": data["dimensions"][:-1]}, ranges)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": 1}, plain)
    cases = [
        (["supernet", "export", str(cut), "mobilenet_v2", "-o", "w.pt"], "not a readable supernet checkpoint"),
        (["supernet", "export", str(plain), "mobilenet_v2", "-o", "w.pt"], "not a supernet checkpoint"),
        (["supernet", "export", str(tmp_path / "none.pt"), "mobilenet_v2", "-o", "w.pt"], "does not exist"),
        (["supernet", "export", str(trained), "resnet18", "-o", "w.pt"], "cannot serve this genome"),
        (["supernet", "export", str(ranges), "mobilenet_v2", "-o", "w.pt"], "trained for other ranges"),
        (["search", "--estimator", "supernet", "--supernet", str(other), "--dataset", "digits"],
         "is a supernet of the resnet space, not of mobilenet"),
        (["search", "--estimator", "supernet", "--supernet", str(trained)], "was trained on digits"),
        (["search", "--estimator", "supernet"], "needs --supernet"),
        (["search", "--supernet", str(trained)], "only with --estimator supernet"),
        (["supernet", "train", "--space", "resnet"], "mobilenet space only"),
        (["supernet", "train", "--resume", "--out", str(tmp_path / "nothing")], "does not exist"),
    ]
    for args, message in cases:
        r = nas_cli(*args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, \
            (args, r.stderr)
    assert not (tmp_path / "w.pt").exists()
