"""The docs hold together: every figure comes from a committed table, every link resolves, and the seed table is
what its generator writes."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_every_figure_in_the_readme_and_docs_is_in_a_committed_table() -> None:
    assert _script("check_figures").missing() == []


def test_the_figure_check_finds_a_figure_that_drifted(tmp_path, monkeypatch) -> None:
    check = _script("check_figures")
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "benchmarks" / "t.md").write_text("| a | 4.42 | +0.477 | 92% within 10% |\n")
    (tmp_path / "README.md").write_text("It took 4.4 s, ranked at 0.48 and 92% within 10% "
                                        "([table](benchmarks/t.md)).\n\nIt took 3.9 s ([table](benchmarks/t.md)).\n")
    monkeypatch.setattr(check, "ROOT", tmp_path)
    bad = check.missing()
    assert len(bad) == 1 and bad[0].startswith("README.md: 3.9 s is not in benchmarks/t.md")


def test_every_relative_link_resolves() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not target.startswith(("http://", "https://", "mailto:")):
                assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to {target}, which is missing"


def test_the_seed_table_is_what_its_generator_writes() -> None:
    assert (ROOT / "docs" / "seeds.md").read_text() == _script("seed_table").page()


def test_the_readme_is_short_and_opens_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 220
    quick = text[text.index("## Quick start"):]
    block = quick[quick.index("```bash") + 8:quick.index("```", quick.index("```bash") + 8)].strip().splitlines()
    assert block[0].endswith("nas search --space mobilenet --budget 300M")
    ci = (ROOT / ".ci" / "run").read_text()
    assert block[1] in ci  # CI runs exactly the README's test command


def test_the_readme_decode_example_is_what_the_command_prints(capsys, monkeypatch) -> None:
    from nas.app.cli import main

    text = (ROOT / "README.md").read_text()
    start = text.index("$ nas decode examples/tiny_cnn.yaml\n") + len("$ nas decode examples/tiny_cnn.yaml\n")
    shown = text[start:text.index("```", start)].strip()
    monkeypatch.chdir(ROOT)
    assert main(["decode", "examples/tiny_cnn.yaml"]) == 0
    assert capsys.readouterr().out.strip() == shown
