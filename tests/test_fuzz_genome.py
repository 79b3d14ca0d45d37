"""Fuzzing the genome reader: any text either decodes to a genome whose cost computes, or fails with the
project's one-line error, in bounded time. Never another exception, never a second line.

Real genomes (every seed and every example file) are mutated at the data level (wrong types, missing and
unknown keys, huge, negative, zero, NaN and inf numbers, long and non-ASCII strings with newlines, odd shapes,
deep nesting) and at the text level (anchors, aliases, tags, stray YAML syntax); each reproducer of the
fuzz report's ``nas decode`` findings is kept as an explicit case below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nas
from nas._limits import MAX_BYTES, MAX_INSTANCES, MAX_NESTING

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
SEED_TEXTS = [nas.dumps(nas.seed(s)) for s in nas.seeds()]
BASE_TEXTS = SEED_TEXTS + [p.read_text() for p in EXAMPLES]
BASE_DOCS = [yaml.safe_load(t) for t in BASE_TEXTS]
SECONDS = 5.0  # per case: reading, checking, costing and writing back any genome stays well inside this

# NAS_FUZZ_EXAMPLES=2000 fuzzes harder (and NAS_FUZZ_RANDOM=1 with fresh cases each run) than the quick default.
FUZZ = settings(max_examples=int(os.environ.get("NAS_FUZZ_EXAMPLES", "60")), deadline=SECONDS * 1000,
                derandomize=not os.environ.get("NAS_FUZZ_RANDOM"), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def outcome(text: str) -> str:
    """``"ok"`` or ``"error"``; anything else (another exception, a multi-line message) fails the test."""
    start = time.monotonic()
    try:
        g = nas.loads(text, source="fuzz.yaml")
        c = nas.cost(g)
        nas.table(c)
        json.dumps(c.to_dict())
        assert nas.loads(nas.dumps(g)) == g
        result = "ok"
    except nas.NasError as e:
        line = f"nas: error: {e}"
        assert "\n" not in line and len(line.splitlines()) == 1, line
        assert len(line) < 2000, line[:200]
        result = "error"
    assert time.monotonic() - start < SECONDS
    return result


# ---------------------------------------------------------------- data-level mutations

NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 2, 3, 2**31, 2**63, 2**64 + 1, 10**19, 10**30, 10**160, 10**2200]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, 5e-324, -0.0, 0.5]),
)
STRINGS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["classes", "none", "relu", "relu\nrelu", "conv", "inception", "bogus", "", " ", "\ud800",
                     "3x32x32", "3x\nx32", "0x10", "1:00", "~", "é", "\u2028", "\x85", "٣٢"]),
    st.builds(lambda ch, n: ch * n, st.characters(), st.integers(100, 20_000)),
)
SCALARS = st.one_of(NUMBERS, STRINGS, st.none(), st.booleans(), st.sampled_from(nas.block_types()))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(STRINGS, st.integers(-3, 3)), inner, max_size=4)),
    max_leaves=12,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``doc`` (keys and indexes)."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def _copy(doc: Any) -> Any:
    return yaml.safe_load(yaml.safe_dump(doc))


def mutate(data: st.DataObject, doc: Any) -> Any:
    """One random edit of a copy of ``doc`` at a random place in it."""
    doc = _copy(doc)
    path = data.draw(st.sampled_from(_paths(doc)))
    op = data.draw(st.sampled_from(["replace", "replace", "delete", "unknown", "nest", "graft", "repeat"]))
    parent, key = (_get(doc, path[:-1]), path[-1]) if path else (None, None)
    if op == "replace":
        new = data.draw(VALUES)
    elif op == "delete" and parent is not None:
        del parent[key]
        return doc
    elif op == "unknown":
        target = _get(doc, path)
        if isinstance(target, dict):
            target[data.draw(st.one_of(STRINGS, st.integers()))] = data.draw(SCALARS)
            return doc
        new = data.draw(VALUES)
    elif op == "nest":
        new = _get(doc, path)
        for _ in range(data.draw(st.integers(1, 90))):
            new = [new]
    elif op == "graft":  # another subtree of the same genome here: odd shapes, records where lists go
        new = _copy(_get(doc, data.draw(st.sampled_from(_paths(doc)))))
    else:  # repeat
        target = _get(doc, path)
        if isinstance(target, dict) and "type" in target:
            target["repeat"] = data.draw(st.one_of(NUMBERS, st.integers(1, 3 * MAX_INSTANCES)))
            return doc
        new = data.draw(VALUES)
    if parent is None:
        return new
    parent[key] = new
    return doc


@FUZZ
@given(st.data())
@pytest.mark.slow
def test_mutated_genomes_decode_or_fail_on_one_line(data: st.DataObject) -> None:
    doc = mutate(data, data.draw(st.sampled_from(BASE_DOCS)))
    flow = data.draw(st.booleans())
    outcome(yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=data.draw(st.booleans()), width=120))


@FUZZ
@given(st.data())
def test_mutated_plain_data_decodes_or_fails_on_one_line(data: st.DataObject) -> None:
    doc = mutate(data, data.draw(st.sampled_from(BASE_DOCS)))
    try:
        g = nas.Genome.from_dict(doc)
        nas.cost(g)
    except nas.NasError as e:
        assert "\n" not in str(e)


# ---------------------------------------------------------------- text-level mutations

SNIPPETS = ["&a ", "*a", "&a [*a]", "!!int ", "!!float ", "!!bool ", "!!binary ", "!!set ", "!!timestamp ",
            "!!python/object/apply:os.system ['true'] ", "!<tag:yaml.org,2002:int> ", "<<: *a\n", "<<: {c: 8}\n",
            "? ", "- ", "{", "[", "]", "}", ": ", ", ", "\n", "\t", "%YAML 1.2\n---\n", "---\n", "...\n", "\x00",
            "\ufeff", "é", "\U0001F600", "'", '"', "#", "|\n", "\\", ".nan", ".inf", "-.inf", "0x10", "0o17", "1:00",
            "~", "null", "9" * 4301, "1" + "0" * 2200, '"\\U0011FFFF"', '"\\ud800"', '!!int ""', "type: bogus, ",
            "c: classes, ", "repeat: 1000000000, ", "p: null, ", "se: .nan, ", "e: .inf, ", "branches: [[*a]], "]


@FUZZ
@given(st.data())
def test_edited_yaml_text_decodes_or_fails_on_one_line(data: st.DataObject) -> None:
    text = data.draw(st.sampled_from(BASE_TEXTS))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["insert", "insert", "delete", "line"]))
        if op == "insert":
            text = text[:at] + data.draw(st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=8))) + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 40)):]
        else:  # a line twice: duplicate keys, repeated records
            lines = text.splitlines(keepends=True)
            i = data.draw(st.integers(0, len(lines) - 1))
            text = "".join(lines[: i + 1] + lines[i:])
    outcome(text)


def laughs(width: int, levels: int, leaf: str = "{type: conv, c: 4, k: 1}") -> str:
    """Nested inception modules, each level ``width`` aliases of the one below: width^levels leaves."""
    text = f"input: [3, 8, 8]\nclasses: 5\nstages:\n- [&l0 {leaf}]\n"
    for i in range(1, levels + 1):
        text += f"- [&l{i} {{type: inception, branches: [" + ", ".join([f"[*l{i - 1}]"] * width) + "]}]\n"
    return text


@FUZZ
@given(st.integers(1, 12), st.integers(1, 10),
       st.sampled_from(["{type: conv, c: 4, k: 1}", "{type: conv, c: classes}", "{type: conv, c: 4, repeat: 50}"]))
@pytest.mark.slow
def test_aliases_expand_within_bounds(width: int, levels: int, leaf: str) -> None:
    outcome(laughs(width, levels, leaf))


# ---------------------------------------------------------------- the fuzz report's reproducers

D = "stages: [[{}]]".format


def nested_inception(n: int) -> str:
    return D("{type: inception, branches: [[" * n + "{type: conv, c: 8}" + "]]}" * n)


REPRODUCERS = [  # (report item, YAML text, "ok" or the start of the one-line message after the file name)
    ("1 nesting", "stages: " + "[" * 1000 + "]" * 1000, "not valid YAML: line 1, column 72: nested more than 64"),
    ("2 digits", D("{type: conv, c: " + "9" * 4301 + "}"), "not valid YAML: line 1, column 27: cannot read '999"),
    ("2 float", 'name: !!float "abc"\n' + D("{type: gap}"), "not valid YAML: line 1, column 7: cannot read 'abc'"),
    ("2 int", 'name: !!int "abc"\n' + D("{type: gap}"), "not valid YAML: line 1, column 7: cannot read 'abc'"),
    ("2 chr", 'name: "\\U0011FFFF"\n' + D("{type: gap}"), "not valid YAML: line 1, column "),
    ("2 empty int", 'name: !!int ""\n' + D("{type: gap}"), "not valid YAML: line 1, column 7: cannot read ''"),
    ("2 empty float", 'name: !!float ""\n' + D("{type: gap}"), "not valid YAML: line 1, column 7: cannot read ''"),
    ("2 bool", 'name: !!bool "abc"\n' + D("{type: gap}"), "not valid YAML: line 1, column 7: cannot read 'abc'"),
    ("2 timestamp", 'name: !!timestamp "abc"\n' + D("{type: gap}"), "not valid YAML: line 1, column 7: cannot"),
    ("3 classes in a branch", "classes: 10\n" + D("{type: inception, branches: [[{type: conv, c: classes}]]}"), "ok"),
    ("4 basic se", D("{type: basic, c: 16, se: .nan}"), "stages[0].blocks[0].se: expected a finite number, got nan"),
    ("4 bottleneck se", D("{type: bottleneck, c: 16, se: .nan}"), "stages[0].blocks[0].se: expected a finite"),
    ("4 inverted se", D("{type: inverted, c: 16, se: .nan}"), "stages[0].blocks[0].se: expected a finite"),
    ("4 inverted e", D("{type: inverted, c: 16, e: .nan}"), "stages[0].blocks[0].e: expected a finite"),
    ("4 compression", D("{type: transition, compression: .nan}"), "stages[0].blocks[0].compression: expected a"),
    ("5 wide convs", D("{type: conv, c: 1" + "0" * 160 + "}, {type: conv, c: 1" + "0" * 160 + "}"),
     "stages[0].blocks[0].c: expected an integer in [1, 16,777,216], got <an integer of about 161 digits>"),
    ("5 huge input", "input: [3, 1" + "0" * 160 + ", 1" + "0" * 160 + "]\n" + D("{type: conv, c: 8}"),
     "input: expected three positive integers [C, H, W] up to 16,777,216"),
    ("6 digit limit", D("{type: conv, c: 1" + "0" * 2200 + "}, {type: conv, c: 1" + "0" * 2200 + "}"),
     "stages[0].blocks[0].c: expected an integer in [1, 16,777,216]"),
    ("7 mixed stage keys", "stages: [{blocks: [{type: gap}], 1: a, x: b}]", "stages[0][1]: unknown key; a stage"),
    ("8 self alias", D("&b {type: inception, branches: [[*b]]}"),
     "not valid YAML: line 1, column 44: found alias *b, which refers to a node that contains it"),
    ("9 deep branches", nested_inception(120), "not valid YAML: line 1, column 612: nested more than 64 levels"),
    ("9 deep records", nested_inception(MAX_NESTING + 1), "stages[0].blocks[0].branches[0][0]"),
    ("9 deepest allowed", "input: [3, 8, 8]\n" + nested_inception(MAX_NESTING), "ok"),
    ("10 maxpool p", D("{type: maxpool, p: null}"), "stages[0].blocks[0].p: expected an integer, got null"),
    ("10 avgpool p", D("{type: avgpool, p: null}"), "stages[0].blocks[0].p: expected an integer, got null"),
    ("11 surrogate", 'name: "\\ud800"\n' + D("{type: gap}"), "name: expected one line of printable text"),
    ("15 repeat", D("{type: conv, c: 8, k: 1, repeat: 1000000000}"),
     "stages[0].blocks[0].repeat: expected a positive integer up to 10,000, got 1000000000"),
    ("15 branch repeat", D("{type: inception, branches: [[{type: conv, c: 8, repeat: 2147483648}]]}"),
     "stages[0].blocks[0].branches[0][0].repeat: expected a positive integer up to 10,000"),
    ("15 instances", D("{type: conv, c: 8, repeat: 6000}, {type: conv, c: 8, repeat: 6000}"),
     "stages[0].blocks[1]: the genome expands to more than 10,000 block instances"),
    ("16 laughs 8x6", laughs(8, 6), "not valid YAML: line 9, column 36: aliases expand this to more than 50,000"),
    ("16 laughs 4x9", laughs(4, 9), "not valid YAML: line 11, column 36: aliases expand this to more than 50,000"),
    ("16 laughs 500x500", "stages: [" + ", ".join(["&s [" + ", ".join(["&b {type: conv, c: 8}"] + ["*b"] * 499) + "]"]
                                                   + ["*s"] * 499) + "]",
     "not valid YAML: line 1, column 9: aliases expand this"),
    ("multi-line act", D('{type: conv, c: 8, act: "relu\\nrelu"}'),
     "stages[0].blocks[0].act: unknown activation 'relu\\nrelu'; valid:"),
    ("multi-line key", D('{type: conv, c: 8, "k\\nk": 3}'), "stages[0].blocks[0]['k\\nk']: unknown parameter"),
    ("multi-line shape", 'input: "3x\\nx32"\n' + D("{type: gap}"), "input: expected CxHxW such as 3x224x224, got"),
    ("long value", D('{type: conv, c: "' + "x" * 100_000 + '"}'), "stages[0].blocks[0].c: expected an integer, got"),
    ("nan dropout", D("{type: dropout, p: .nan}"), "stages[0].blocks[0].p: expected a finite number, got nan"),
    ("inf lrn", D("{type: lrn, alpha: .inf}"), "stages[0].blocks[0].alpha: expected a finite number, got inf"),
    ("nan dense drop", D("{type: dense, growth: 8, drop: .nan}"), "stages[0].blocks[0].drop: expected a finite"),
    ("nan drop path", D("{type: basic, c: 3, drop_path: .nan}"), "stages[0].blocks[0].drop_path: expected a"),
    ("duplicate type", D("{type: bogus, type: conv, c: 8}"),
     "not valid YAML: line 1, column 25: found duplicate key 'type' (while composing a mapping at line 1, column 11)"),
    ("duplicate input", "input: [3, 8, 8]\ninput: [3, 9, 9]\n" + D("{type: gap}"),
     "not valid YAML: line 2, column 1: found duplicate key 'input'"),
    ("null", "null", "the document is null; expected a genome"),
    ("tilde", "~", "the document is null; expected a genome"),
    ("dashes", "---", "the document is null; expected a genome"),
    ("yaml 1.2", "%YAML 1.2\n---", "the document is null; expected a genome"),
    ("empty", "  \n", "the file is empty; expected a genome"),
    ("duplicate anchor", "stages: [[&b {type: gap}, &b {type: gap}]]",
     "not valid YAML: line 1, column 27: second occurrence (found duplicate anchor 'b'; first occurrence at line 1"),
    ("shuffle c", "input: [3, 32, 32]\n" + D("{type: conv, c: 16}, {type: shuffle, c: 24, groups: 1}"),
     "stages[0].blocks[1].c: an identity shortcut cannot add the 16x32x32 input to the 24x32x32 output"),
]


@pytest.mark.parametrize("text, expected", [r[1:] for r in REPRODUCERS], ids=[r[0] for r in REPRODUCERS])
def test_fuzz_report_reproducer(text: str, expected: str) -> None:
    start = time.monotonic()
    try:
        g = nas.loads(text, source="r.yaml")
        c = nas.cost(g)
        nas.table(c)
        nas.loads(nas.dumps(g))
        got = "ok"
    except nas.NasError as e:
        got = str(e.at(source="r.yaml"))  # shape errors come from cost(), which the CLI tells the file name
        assert "\n" not in got and len(got) < 2000
    assert time.monotonic() - start < SECONDS
    assert got == expected if expected == "ok" else got.startswith(f"r.yaml: {expected}"), got[:300]


def test_files_are_read_up_to_a_cap(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * MAX_BYTES + "\n" + D("{type: gap}"))
    with pytest.raises(nas.GenomeError, match=f"larger than {MAX_BYTES:,} bytes"):
        nas.load(big)
    if Path("/dev/zero").exists():
        with pytest.raises(nas.GenomeError, match="larger than"):
            nas.load("/dev/zero")
    with pytest.raises(nas.GenomeError, match="is a directory"):
        nas.load(tmp_path)


def test_a_computed_size_is_bounded_like_a_written_one() -> None:
    g = nas.loads("input: [16777216, 16777216, 16777216]\nstages: [[{type: conv, c: 16777216, k: 9}]]\n"
                  + "head: [{type: linear}]")
    with pytest.raises(nas.GenomeError,
                       match=r"^head\[0\]: a flatten computes a size of over 2\^72, above the largest"):
        nas.cost(g)


def test_huge_figures_print_without_overflow() -> None:
    assert nas.human(10**5000) == "1.00e5000" and nas.human(999_999) == "1.00M" and nas.human(3_504_872) == "3.50M"
    g = nas.loads("input: [16777216, 16777216, 16777216]\nclasses: 16777216\n"
                  + "stages: [[{type: conv, c: 16777216, k: 9}, {type: conv, c: 16777216, k: 9}]]\n"
                  + "head: [{type: gap}, {type: linear}]")
    line = nas.table(nas.cost(g)).splitlines()[-1]
    assert "params" in line and "e" in line


def test_limits_on_cli_input_and_classes() -> None:
    g = nas.seed("lenet5")
    with pytest.raises(nas.GenomeError, match="classes: expected a positive integer up to 16,777,216"):
        g.with_input(classes=10**400)
    with pytest.raises(nas.GenomeError, match="input: expected three positive integers"):
        g.with_input((3, 10**400, 8))


# ---------------------------------------------------------------- through the real command line

CLI_CASES = [
    ("deep.yaml", "stages: " + "[" * 1000 + "]" * 1000, ["--format", "table"]),
    ("surrogate.yaml", 'name: "\\ud800"\n' + D("{type: gap}"), ["--format", "table"]),
    ("wide.yaml", D("{type: conv, c: 1" + "0" * 2200 + "}"), ["--format", "json"]),
    ("laughs.yaml", laughs(8, 6), ["--format", "yaml"]),
    ("newline.yaml", D('{type: conv, c: 8, "k\\nk": 3}'), []),
]


@pytest.mark.parametrize("name, text, args", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_decode_fails_with_one_line_and_status_2(tmp_path: Path, name: str, text: str, args: list[str]) -> None:
    path = tmp_path / name
    path.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "nas.app.cli", "decode", str(path), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith(f"nas: error: {path}: ") and proc.stderr.count("\n") == 1, proc.stderr[:500]
    assert proc.stdout == ""
