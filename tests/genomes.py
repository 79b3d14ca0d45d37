"""Random valid genomes over every block type, for the property tests (shapes kept small so they build fast)."""

from __future__ import annotations

from typing import Any

import numpy as np

import nas

ACTS = list(nas.ACTIVATIONS)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _choice(rng: np.random.Generator, xs: list[Any]) -> Any:
    return xs[int(rng.integers(len(xs)))]


def _se_options(rng: np.random.Generator, ratio: float, pos: bool = False) -> dict[str, Any]:
    """A random squeeze-and-excitation setting: none, a ratio (of the gated width or the input), or a width."""
    form = int(rng.integers(4))
    out: dict[str, Any] = [{}, {"se": ratio}, {"se": ratio, "se_base": "in"}, {"se_c": _choice(rng, [1, 4])}][form]
    if form:
        out["se_act"] = _choice(rng, ["auto", "relu", "silu", "hardswish"])
        if pos:
            out["se_pos"] = _choice(rng, ["end", "3x3"])
    return out


def _branch(rng: np.random.Generator, c: int, h: int, depth: int) -> list[dict[str, Any]]:
    """One to two random records for a branch of an inception or split block, keeping the spatial size."""
    branch = [random_block(rng, c, h, depth + 1) for _ in range(int(rng.integers(1, 3)))]
    for b in branch:  # branches must keep the spatial size
        if "s" in b:
            b["s"] = 1
        if b["type"] in ("maxpool", "avgpool"):
            b.update(k=3, s=1, p=1)
        if b["type"] == "conv":
            b["d"] = 1
            b["groups"] = 1
    return branch


def random_block(rng: np.random.Generator, c: int, h: int, depth: int = 0) -> dict[str, Any]:
    """A random block record that fits a c x h x h input (h >= 4)."""
    kinds = ["conv", "dwsep", "basic", "bottleneck", "inverted", "shuffle", "inception", "fire", "dense",
             "transition", "fractal", "cell", "maxpool", "avgpool", "bn", "act", "lrn", "dropout", "split",
             "channel_shuffle", "shuffle_v2", "identity"]
    if depth:
        kinds = ["conv", "maxpool", "avgpool", "dwsep", "act", "identity"]
    kind = _choice(rng, kinds)
    s = int(rng.integers(1, 3)) if h >= 8 else 1
    width = int(_choice(rng, [4, 8, 12, 16, 24]))
    if kind == "conv":
        k = _choice(rng, [1, 3, 5, [1, 3], [3, 1], [1, 7], [7, 1]])
        g = _choice(rng, [d for d in _divisors(c) if width % d == 0])
        return {"type": "conv", "c": width, "k": k, "s": s, "groups": g, "d": _choice(rng, [1, 1, 2]),
                "bias": bool(rng.integers(2)), "bn": bool(rng.integers(2)), "act": _choice(rng, ACTS + [None]),
                "pre": bool(rng.integers(2)) if not depth else False}
    if kind == "dwsep":
        return {"type": "dwsep", "c": width, "k": _choice(rng, [3, 5]), "s": s, "act": _choice(rng, ACTS)}
    if kind == "basic":
        return {"type": "basic", "c": width, "s": s, **_se_options(rng, 0.25, pos=True),
                "preact": bool(rng.integers(2)), "repeat": int(rng.integers(1, 3))}
    if kind == "bottleneck":
        g = _choice(rng, [1, 2, 4])
        return {"type": "bottleneck", "c": 4 * width, "mid": 4 * g, "groups": g, "s": s,
                "stride_on": _choice(rng, ["3x3", "1x1"]), **_se_options(rng, 0.0625, pos=True),
                "preact": bool(rng.integers(2)), "repeat": int(rng.integers(1, 3))}
    if kind == "inverted":
        hidden = {"e": _choice(rng, [1, 3, 4, 6])} if rng.integers(2) else {"mid": _choice(rng, [c, 2 * c + 4])}
        return {"type": "inverted", "c": width, **hidden, "k": _choice(rng, [3, 5, 7]),
                "s": s, **_se_options(rng, 0.25), "act": _choice(rng, ["relu6", "hardswish", "silu"]),
                "se_gate": _choice(rng, ["sigmoid", "hardsigmoid"]), "repeat": int(rng.integers(1, 3))}
    if kind == "split":
        n = _choice(rng, [d for d in (2, 3, 4) if c % d == 0] or [1])
        return {"type": "split", "branches": [[{"type": "identity"}] if rng.integers(3) == 0
                                              else _branch(rng, c // n, h, depth) for _ in range(n)]}
    if kind == "channel_shuffle":
        return {"type": "channel_shuffle", "groups": _choice(rng, _divisors(c))}
    if kind == "shuffle_v2":
        if s == 1 and c % 2 == 0:
            return {"type": "shuffle_v2", "c": c, "repeat": int(rng.integers(1, 3))}
        return {"type": "shuffle_v2", "c": 2 * width, "s": 2}
    if kind == "identity":
        return {"type": "identity"}
    if kind == "shuffle":
        g = _choice(rng, [1, 2, 4])
        if s == 2:
            return {"type": "shuffle", "c": c + 8 * g, "mid": 4 * g, "groups": g, "s": 2, "first": c % g != 0}
        if c % g == 0 and c % 4 == 0 and (c // 4) % g == 0:
            return {"type": "shuffle", "c": c, "groups": g, "repeat": int(rng.integers(1, 3))}
        return {"type": "shuffle", "c": c + 8, "mid": 8, "groups": 1, "s": 2}
    if kind == "inception":
        n = int(rng.integers(2, 4))
        branches = [_branch(rng, c, h, depth) for _ in range(n)]
        if rng.integers(2):  # a nested 1xn | nx1 pair, as in Inception-v3
            branches.append([{"type": "conv", "c": 8, "k": 1},
                             {"type": "inception", "branches": [[{"type": "conv", "c": 4, "k": [1, 3]}],
                                                                [{"type": "conv", "c": 4, "k": [3, 1]}]]}])
        return {"type": "inception", "branches": branches}
    if kind == "fire":
        return {"type": "fire", "squeeze": width // 2 or 2, "e1": width, "e3": width, "bn": bool(rng.integers(2))}
    if kind == "dense":
        return {"type": "dense", "growth": width, "bn_size": _choice(rng, [0, 2, 4]), "repeat": int(rng.integers(1, 4)),
                "drop": _choice(rng, [0.0, 0.1])}
    if kind == "transition":
        return {"type": "transition", "compression": _choice(rng, [0.5, 1.0])} if h >= 4 else {"type": "bn"}
    if kind == "fractal":
        return {"type": "fractal", "c": width, "columns": int(rng.integers(1, 4))}
    if kind == "cell":
        nodes = int(rng.integers(2, 5))
        edges = [[a, b, _choice(rng, list(nas.CELL_OPS))] for b in range(1, nodes) for a in range(b)]
        return {"type": "cell", "nodes": nodes, "edges": edges}
    if kind in ("maxpool", "avgpool"):
        k = int(rng.integers(2, 4))
        return {"type": kind, "k": k, "s": int(rng.integers(1, 3)), "p": int(rng.integers(0, k // 2 + 1)),
                "ceil": bool(rng.integers(2))}
    if kind == "act":
        return {"type": "act", "kind": _choice(rng, ACTS)}
    if kind == "lrn":
        return {"type": "lrn", "size": _choice(rng, [3, 5])}
    if kind == "dropout":
        return {"type": "dropout", "p": 0.3}
    return {"type": "bn"}


def random_genome(rng: np.random.Generator, attempts: int = 50) -> nas.Genome:
    """A random valid genome: a stem conv, 1-3 stages of 1-3 random blocks, a pooled linear head."""
    for _ in range(attempts):
        h = int(rng.integers(12, 25))
        c0 = int(_choice(rng, [1, 3]))
        stem_c = int(_choice(rng, [8, 12, 16]))
        d: dict[str, Any] = {
            "input": [c0, h, h], "classes": int(rng.integers(2, 12)), "drop_path": _choice(rng, [0.0, 0.2]),
            "stem": [{"type": "conv", "c": stem_c, "k": 3, "s": int(rng.integers(1, 3))}],
            "stages": [], "head": [{"type": "gap"}, {"type": "linear"}],
        }
        g = nas.Genome.from_dict(d)
        shape = nas.cost(g).layers[0].output
        for _ in range(int(rng.integers(1, 4))):
            stage = []
            for _ in range(int(rng.integers(1, 4))):
                block = random_block(rng, shape[0], min(shape[1], shape[2]))
                trial = {**d, "stages": d["stages"] + [{"blocks": stage + [block]}]}
                try:
                    g = nas.Genome.from_dict(trial)
                    shape = nas.cost(g).layers[-3].output
                except nas.GenomeError:
                    continue
                stage.append(block)
            if stage:
                d["stages"].append({"blocks": stage})
        if d["stages"]:
            return nas.Genome.from_dict(d)
    raise RuntimeError("no valid random genome in the attempts allowed")
