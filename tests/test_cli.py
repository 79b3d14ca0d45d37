"""`nas decode`, `nas seeds`, `nas blocks` as a user runs them, bad input included."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import nas
from nas.app.cli import main

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_decode_and_match_their_model(capsys, path: Path) -> None:
    from conftest import assert_cost_matches_model

    code, out, _ = run(capsys, "decode", str(path))
    assert code == 0
    g = nas.load(path)
    c = assert_cost_matches_model(g)
    assert f"params {c.params:,}" in out and f"MACs {c.macs:,}" in out


def test_decode_table_lists_every_block_instance(capsys) -> None:
    code, out, _ = run(capsys, "decode", str(EXAMPLES[0].parent / "tiny_cnn.yaml"))
    lines = out.splitlines()
    assert lines[0] == "tiny_cnn: input 3x32x32"
    assert lines[1].split() == ["layer", "op", "output", "params", "MACs"]
    assert lines[3].split() == ["stages.0.0.0", "conv", "32x32x32", "928", "884,736"]
    # 32*32*32*27 + 32*32*32*288 + 64*16*16*288 + 64*16*16*576 + 64*10
    assert "MACs 24,478,336 (24.48M), FLOPs 48.96M (2 x MACs)" in lines[-1]


def test_decode_json(capsys) -> None:
    path = EXAMPLES[0].parent / "tiny_cnn.yaml"
    code, out, _ = run(capsys, "decode", str(path), "--format", "json")
    doc = json.loads(out)
    c = nas.cost(nas.load(path))
    assert doc["name"] == "tiny_cnn" and doc["input"] == [3, 32, 32]
    assert (doc["params"], doc["macs"]) == (c.params, c.macs)
    assert sum(l["params"] for l in doc["layers"]) == c.params
    assert set(doc["layers"][0]) >= {"name", "op", "output", "params", "macs"}


def test_decode_yaml_is_normalized_and_decodes_to_the_same(capsys, tmp_path) -> None:
    path = EXAMPLES[0].parent / "inception_asym.yaml"
    code, out, _ = run(capsys, "decode", str(path), "--format", "yaml")
    again = tmp_path / "again.yaml"
    again.write_text(out)
    assert nas.load(again) == nas.load(path)
    code, out2, _ = run(capsys, "decode", str(again), "--format", "yaml")
    assert out2 == out


def test_decode_recosts_for_input_and_classes(capsys) -> None:
    path = str(EXAMPLES[0].parent / "tiny_cnn.yaml")
    code, out, _ = run(capsys, "decode", path, "--input", "3x64x64", "--classes", "7", "--format", "json")
    doc = json.loads(out)
    c = nas.cost(nas.load(path).with_input((3, 64, 64), 7))
    assert doc["input"] == [3, 64, 64] and doc["output"] == [7] and doc["macs"] == c.macs


def test_decode_seed_name(capsys) -> None:
    code, out, _ = run(capsys, "decode", "resnet18", "--format", "json")
    doc = json.loads(out)
    assert (doc["params"], doc["macs"]) == (11_689_512, 1_814_073_344)


def test_decode_python_export_builds_the_same_network(capsys, tmp_path) -> None:
    import torch

    path = EXAMPLES[0].parent / "inception_asym.yaml"
    out_py = tmp_path / "net.py"
    code, out, _ = run(capsys, "decode", str(path), "--python", str(out_py))
    assert code == 0 and f"wrote {out_py}" in out
    source = out_py.read_text()
    imports = {l.split()[1] for l in source.splitlines() if l.startswith(("import ", "from "))}
    assert imports == {"torch"}
    ns = runpy.run_path(str(out_py))
    model = ns["Net"]().eval()
    g = nas.load(path)
    from nas.builder import measure

    assert sum(p.numel() for p in model.parameters()) == nas.cost(g).params
    assert measure(model, g.input) == (nas.cost(g).macs, (g.classes,))
    # Same weights, same outputs: the generated module and the builder's compute the same function.
    built = nas.build(g).eval()
    x = torch.randn(2, *g.input)
    src = [p for p in built.parameters()]
    dst = [p for p in model.parameters()]
    assert [tuple(p.shape) for p in src] == [tuple(p.shape) for p in dst]
    with torch.no_grad():
        for p, q in zip(src, dst):
            q.copy_(p)
        assert torch.allclose(built(x), model(x), atol=1e-5)


def test_decode_python_export_of_shuffle_and_drop_path(tmp_path, capsys) -> None:
    g = nas.loads("input: [3, 16, 16]\nclasses: 3\ndrop_path: 0.2\nstem: [{type: conv, c: 24}]\n"
                  "stages: [[{type: shuffle, c: 48, groups: 3, s: 2}, {type: shuffle, c: 48, groups: 3}]]\n"
                  "head: [{type: gap}, {type: linear}]")
    path = tmp_path / "g.yaml"
    nas.save(g, path)
    run(capsys, "decode", str(path), "--python", str(tmp_path / "g.py"))
    ns = runpy.run_path(str(tmp_path / "g.py"))
    assert sum(p.numel() for p in ns["Net"]().parameters()) == nas.cost(g).params


@pytest.mark.slow
def test_decode_onnx_passes_the_checker_and_computes_the_same(capsys, tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    import numpy as np
    import torch
    from onnx.reference import ReferenceEvaluator

    path = EXAMPLES[0].parent / "tiny_cnn.yaml"
    out_onnx = tmp_path / "net.onnx"
    code, out, _ = run(capsys, "decode", str(path), "--onnx", str(out_onnx))
    assert code == 0 and f"wrote {out_onnx}" in out
    model = onnx.load(str(out_onnx))
    onnx.checker.check_model(model, full_check=True)
    # The same weights give the same outputs, at a batch other than the traced one (the batch is dynamic).
    from nas.export import to_onnx

    g = nas.load(path)
    built = nas.build(g).eval()
    to_onnx(g, tmp_path / "same.onnx", model=built)
    same = onnx.load(str(tmp_path / "same.onnx"))
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    (y,) = ReferenceEvaluator(same).run(None, {same.graph.input[0].name: x})
    with torch.no_grad():
        expected = built(torch.from_numpy(x)).numpy()
    assert y.shape == (3, 10)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_decode_graph(capsys, tmp_path) -> None:
    code, out, _ = run(capsys, "decode", str(EXAMPLES[0].parent / "nb201_cell.yaml"), "--graph",
                       str(tmp_path / "g.dot"))
    assert code == 0 and (tmp_path / "g.dot").read_text().startswith("digraph")


def test_seeds_json_and_table(capsys) -> None:
    code, out, _ = run(capsys, "seeds", "--format", "json")
    rows = json.loads(out)
    names = [r["name"] for r in rows]
    assert names == nas.seeds()
    assert all({"name", "family", "input", "params", "macs"} <= set(r) for r in rows)
    assert all(r[f"{k}_kind"] in nas.zoo.FIGURE_KINDS for r in rows for k in ("params", "macs") if f"{k}_figure" in r)
    computed = [r["macs_label"] for r in rows if r.get("macs_kind") == "computed"]
    assert computed and not any("matches" in label for label in computed)
    code, out, _ = run(capsys, "seeds")
    assert "resnet50" in out and "25,557,032" in out and "= torchvision" in out


def test_blocks_lists_every_type(capsys) -> None:
    code, out, _ = run(capsys, "blocks")
    listed = [l.split(":")[0] for l in out.splitlines() if not l.startswith(" ")]
    assert listed == nas.block_types()


BAD = [
    ("not_yaml.yaml", "stages: [[{type: conv", "not valid YAML: line 1"),
    ("empty.yaml", "", "the file is empty"),
    ("shape.yaml", "- 1\n- 2\n", "a genome is a mapping"),
    ("unknown.yaml", "stages: [[{type: warp}]]", "stages[0].blocks[0].type: unknown block type 'warp'; valid types:"),
    ("kernel.yaml", "stages: [[{type: conv, c: 8, k: 0}]]", "stages[0].blocks[0].k: kernel size must be positive"),
    ("groups.yaml", "input: [3, 32, 32]\nstages: [[{type: conv, c: 24}, {type: conv, c: 10, groups: 5}]]",
     "stages[0].blocks[1].groups: 24 input channels are not divisible by 5 groups"),
    ("strides.yaml", "input: [3, 4, 4]\nstages: [[{type: maxpool}, {type: maxpool}, {type: maxpool}]]",
     "stages[0].blocks[2].k: the 1x1 map is too small for a 2x2 maxpool"),
    ("concat.yaml", "stages: [[{type: inception, branches: [[{type: conv, c: 4}], [{type: conv, c: 4, s: 2}]]}]]",
     "stages[0].blocks[0]: cannot concatenate maps of different spatial sizes (224x224, 112x112)"),
    ("binary.yaml", b"\xff\xfe\x00", "not a text file"),
    ("split.yaml", "input: [3, 8, 8]\nstages: [[{type: conv, c: 15}, {type: split, branches: [[{type: identity}], "
     "[{type: conv, c: 4}]]}]]", "stages[0].blocks[1].branches: 15 input channels cannot be split evenly into 2 parts"),
    ("nested_split.yaml", "stages: [[{type: inception, branches: [[{type: split, branches: [[{type: identity}], "
     "[{type: identity}]]}]]}]]", "stages[0].blocks[0].branches[0][0].branches: 3 input channels cannot be split"),
    ("mid.yaml", "stages: [[{type: inverted, c: 24, e: 4, mid: 88}]]",
     "stages[0].blocks[0].mid: set either e or mid, not both"),
    ("mid_e6.yaml", "stages: [[{type: inverted, c: 24, mid: 88, e: 6}]]",  # e written at its default still counts
     "stages[0].blocks[0].mid: set either e or mid, not both"),
    ("se_c.yaml", "stages: [[{type: basic, c: 24, se: 0.25, se_c: 8}]]",
     "stages[0].blocks[0].se_c: set either the ratio se or the width se_c, not both"),
    ("se_base.yaml", "stages: [[{type: inverted, c: 24, se: 0.25, se_base: out}]]",
     "stages[0].blocks[0].se_base: expected one of gated, in, got 'out'"),
    ("shuffle_v2.yaml", "stages: [[{type: shuffle_v2, c: 15, s: 2}]]",
     "stages[0].blocks[0].c: a ShuffleNetV2 unit's output is two equal halves; 15 channels are odd"),
    ("channel_shuffle.yaml", "stages: [[{type: conv, c: 15}, {type: channel_shuffle}]]",
     "stages[0].blocks[1].groups: 15 channels cannot be shuffled across 2 groups"),
]


@pytest.mark.parametrize("name, content, message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, name, content, message) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code, out, err = run(capsys, "decode", str(path))
    assert code == 2
    assert err == f"nas: error: {path}: {message}" + err[len(f"nas: error: {path}: {message}"):]
    assert err.count("\n") == 1 and "Traceback" not in err
    assert out == ""


def test_missing_file_and_unknown_name(capsys) -> None:
    code, _, err = run(capsys, "decode", "missing/net.yaml")
    assert (code, err) == (2, "nas: error: missing/net.yaml: no such file\n")
    code, _, err = run(capsys, "decode", "resnet5")
    assert code == 2 and err.startswith("nas: error: 'resnet5' is neither a file nor a seed name")


def test_residual_add_mismatch_from_the_cli(capsys, tmp_path) -> None:
    path = tmp_path / "add.yaml"
    path.write_text("input: [3, 8, 8]\nstages: [[{type: basic, c: 8, s: 2, shortcut: identity}]]\n")
    code, out, err = run(capsys, "decode", str(path))
    assert code == 2
    assert err == (f"nas: error: {path}: stages[0].blocks[0].shortcut: an identity shortcut cannot add "
                   "the 3x8x8 input to the 8x4x4 output\n")


def test_bad_flags_exit_2(capsys) -> None:
    for args in (["decode", "resnet18", "--input", "3x224"], ["decode", "resnet18", "--classes", "0"],
                 ["decode", "resnet18", "--format", "xml"], ["frobnicate"]):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 2
    capsys.readouterr()


def test_console_script_exit_status(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [[{type: conv, c: 8, k: 0}]]")
    proc = subprocess.run([sys.executable, "-m", "nas.app.cli", "decode", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == f"nas: error: {bad}: stages[0].blocks[0].k: kernel size must be positive, got 0\n"
