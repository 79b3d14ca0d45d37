"""Odd values for `nas search` and `nas decode` arguments: each is accepted, or refused with one `error:` line and
exit status 2; never a traceback, never a hang.

The search is tested up to the point where it would start Ray: ``Search.run`` is replaced by a stub that records it
was reached, so accepted arguments cost only the search's setup (space, strategy, store) in a temporary directory.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nas
from nas.app import driver, raycluster
from nas.app.cli import main
from nas.budget import MAX_BUDGET
from nas.errors import quote_arg

ROOT = Path(__file__).resolve().parent.parent

# Values a user (or a script gone wrong) might type: numbers out of range, lookalike digits, blanks, long text.
ODD = [
    "", " ", "\n", "\t", "-", "-1", "0", "00", "+5", "1_000", "١٠", "٣", "0x10", "1e3", "1.5", "-1.5", "nan", "NaN",
    "inf", "-inf", "1e400", "1e-400", "1e1000000", "1e999999", "9" * 5000, "1" * 30000 + "x", "a" * 300,
    "3x224x224\nx", "mobilenet\nx", "resnet50\n", "bad\nname.yaml", "x\ry", "\u2028", "é", "模型", "\U0001f600",
    "4294967296", "18446744073709551616", "1.0000000000000000000000000001", "300M", "-1M", "300Q", "3x32x32",
    "3x٣٢x32", "0x0x0", ".", "..", "/", "/dev/null", "/proc/x", "/nonexistent/x", "g.txt", "-h-", "--",
]
odd_text = st.one_of(
    st.sampled_from(ODD),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="ascii"), min_size=200, max_size=400),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.floats().map(repr),
    st.from_regex(r"-?[0-9]{0,25}(\.[0-9]{0,25})?([eE][+-]?[0-9]{1,9})?[kKMGT]?", fullmatch=True),
    st.from_regex(r"[0-9]{1,12}x[0-9]{1,12}x[0-9]{1,12}", fullmatch=True),
)

SEARCH_FLAGS = ["--budget", "--input", "--classes", "--seed", "--trials", "--epochs", "--cpus-per-trial",
                "--gpus-per-trial", "--width", "--train-images", "--verdict-top", "--verdict-epochs", "--verdict-seeds",
                "--verdict-width",
                "--max-concurrent", "--eta", "--space", "--strategy", "--dataset", "--data-dir", "--out", "--address",
                "--dashboard-host", "--early-stop", "--references"]
DECODE_FLAGS = ["--input", "--classes", "--format", "--level", "--python", "--graph", "--onnx"]

Outcome = tuple[int, str, str, bool]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A scratch working directory for the module: relative --out and export paths land there."""
    path = tmp_path_factory.mktemp("fuzzcli")
    (path / "afile").write_text("not a directory\n")
    os.mkfifo(path / "fifo")
    before = os.getcwd()
    os.chdir(path)
    yield path
    os.chdir(before)


@pytest.fixture(scope="module")
def reached(workdir: Path) -> Iterator[list[object]]:
    """Stubs that stand where Ray and slow exports would start; the list records each search that got there."""
    calls: list[object] = []
    mp = pytest.MonkeyPatch()
    mp.setattr(driver.Search, "run", lambda self, **kw: calls.append(self.settings))

    def no_ray(*args: object, **kwargs: object) -> None:
        raise AssertionError("the argument tests must never start Ray")

    mp.setattr(raycluster, "start_ray", no_ray)
    import nas.export

    mp.setattr(nas.export, "to_onnx", lambda g, path, **kw: Path(path).write_bytes(b""))
    import estimators  # noqa: F401 - imported once here, not inside the first timed example

    yield calls
    mp.undo()


def call(args: list[str], reached: list[object]) -> Outcome:
    """Run ``nas ARGS`` in this process: exit status, stdout, stderr, and whether the search reached ``run``."""
    before = len(reached)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as e:  # argparse's refusals and --help
            code = int(e.code or 0)
    return code, out.getvalue(), err.getvalue(), len(reached) > before


def assert_clean(outcome: Outcome, search: bool = False) -> None:
    """Accepted (the search reached ``run``, or help was printed), or refused with exactly one short error line."""
    code, out, err, got_there = outcome
    assert "Traceback" not in err + out
    if code == 0:
        assert got_there or "usage:" in out or not search, (out, err)
        return
    assert code == 2, (code, err)
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "error: " in err and len(err) < 1000, err
    assert not got_there


_runs = iter(range(10**9))


@settings(max_examples=80, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])
@given(flag=st.sampled_from(SEARCH_FLAGS), value=odd_text)
@pytest.mark.slow
def test_search_arguments_are_accepted_or_refused_in_one_line(reached: list[object], flag: str, value: str) -> None:
    args = ["search", "--dataset", "synthetic", "--out", f"run-{next(_runs)}", flag, value]
    assert_clean(call(args, reached), search=True)


@settings(max_examples=80, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])
@given(flag=st.sampled_from(DECODE_FLAGS), value=odd_text)
def test_decode_arguments_are_accepted_or_refused_in_one_line(reached: list[object], flag: str, value: str) -> None:
    assert_clean(call(["decode", "lenet5", flag, value], reached))


@settings(max_examples=60, deadline=timedelta(seconds=5))
@given(target=odd_text)
def test_decode_genome_argument_is_read_or_refused_in_one_line(reached: list[object], target: str) -> None:
    assert_clean(call(["decode", target], reached))


@settings(max_examples=200, deadline=timedelta(seconds=1))
@given(text=st.one_of(odd_text, st.text(max_size=100_000)))
def test_budget_text_gives_a_budget_or_a_short_one_line_error(text: str) -> None:
    try:
        value = nas.parse_budget(text)
    except nas.NasError as e:
        assert "\n" not in str(e) and len(str(e)) < 300
    else:
        assert isinstance(value, int) and 0 < value <= MAX_BUDGET


@given(n=st.integers(min_value=1, max_value=MAX_BUDGET), si=st.sampled_from(["", "k", "M", "G", "T"]))
def test_budget_is_exact(n: int, si: str) -> None:
    scale = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}[si]
    if n * scale <= MAX_BUDGET:
        assert nas.parse_budget(f"{n}{si}") == n * scale
        assert nas.parse_budget(f"{n}.000{si}") == n * scale
    else:
        with pytest.raises(nas.NasError, match="above the largest budget"):
            nas.parse_budget(f"{n}{si}")


@given(text=st.text())
def test_quote_is_one_bounded_line(text: str) -> None:
    q = quote_arg(text)
    assert q.isprintable() and len(q) < 100


# ---------------------------------------------------------------- the fuzz report's reproducers

LONG = "a" * 300
SEARCH_CASES = [  # (arguments after `nas search`, the start of the error after "error: ")
    (["--seed", "-1"], "argument --seed: expected a seed from 0 to 2^32 - 1, got '-1'"),
    (["--strategy", "optuna", "--seed", "4294967296"],
     "argument --seed: '4294967296' is too large; at most 4,294,967,295"),
    (["--strategy", "nsga2", "--seed", "4294967296"], "argument --seed: '4294967296' is too large"),
    (["--budget", "1e1000000"], "argument --budget: budget '1e1000000' is above the largest budget, 10^18 MACs"),
    (["--budget", "1e999999"], "argument --budget: budget '1e999999' is above the largest budget, 10^18 MACs"),
    (["--budget", "1e400"], "argument --budget: budget '1e400' is above the largest budget, 10^18 MACs"),
    (["--budget", "2e18"], "argument --budget: budget '2e18' is above the largest budget"),
    (["--out", "/dev/null"], "--out '/dev/null': exists and is not a directory"),
    (["--out", "afile"], "--out 'afile': exists and is not a directory"),
    (["--out", "afile/run"], "--out 'afile/run': "),
    (["--out", LONG], "--out 'aaaa"),
    (["--out", "/proc/x"], "cannot set up the run in '/proc/x': "),
    (["--out", ""], "--out is empty"),
    (["--budget", "1" * 30000 + "x"],
     "argument --budget: budget '11111111111111111111…' (30,001 characters) is too long"),
    (["--budget", "1" * 100000 + "x"], "argument --budget: budget '11111111111111111111…' (100,001 characters)"),
    (["--budget", "1.0000000000000000000000000001"],
     "argument --budget: budget '1.0000000000000000000000000001' is not a whole number"),
    (["--budget", "-1M"], "argument --budget: budget '-1M' must be positive"),
    (["--budget=-1M"], "argument --budget: budget '-1M' must be positive"),
    (["--references", "-1"], "unrecognized arguments: --references"),
    (["--cpus-per-trial", "inf"], "argument --cpus-per-trial: expected a non-negative number, got 'inf'"),
    (["--cpus-per-trial", "1e400"], "argument --cpus-per-trial: '1e400' is too large; at most 10,000"),
    (["--gpus-per-trial", "nan"], "argument --gpus-per-trial: expected a non-negative number, got 'nan'"),
    (["--width", "0"], "argument --width: expected a positive number, got '0'"),
    (["--classes", "1_000"], "argument --classes: expected a positive integer, got '1_000'"),
    (["--classes", "١٠"], "argument --classes: expected a positive integer, got '١٠'"),
    (["--classes", "+5"], "argument --classes: expected a positive integer, got '+5'"),
    (["--trials", "9" * 5000], "argument --trials: '99999"),
    (["--train-images", "-5"], "argument --train-images: expected a non-negative integer, got '-5'"),
    (["--input", "3x٣٢x32"], "argument --input: expected CxHxW such as 3x224x224, got '3x٣٢x32'"),
    (["--input", "3x224x224\nx"], "argument --input: expected CxHxW such as 3x224x224, got '3x224x224\\nx'"),
    (["--input", "3x0x224"], "argument --input: expected three positive integers [C, H, W], got [3, 0, 224]"),
    (["--input", f"3x{10**12}x1"], "argument --input: '3x1000000000000x1' is too large; at most 1,000,000,000"),
    (["--space", "mobilenet\nx"], "unknown space 'mobilenet\\nx'; spaces: "),
    (["--space", LONG], "unknown space 'aaaa"),
    (["--strategy", "annealing\n"], "unknown strategy 'annealing\\n'; strategies: "),
    (["--dataset", "imagenet\nx"], "unknown dataset 'imagenet\\nx'; datasets: "),
    (["--dataset", "cifar10", "--data-dir", "/no/such/dir"], "data directory '/no/such/dir' does not exist"),
    (["--dataset", "cifar10", "--data-dir", "afile"], "data directory 'afile' is not a directory"),
    (["--address", "127.0.0.1:99999"], "argument --address: expected 'auto' or HOST:PORT"),
    (["--budget", "1M"], "budget 1.00M MACs is below the smallest member of space 'mobilenet'"),
    (["--early-stop", "--eta", "1"], "--eta 1: it must be from 2 to 1,000"),
    (["x\ny"], "unrecognized arguments: x\\ny"),
    # the fuzz report's findings: each one line
    (["--cpus-per-trial", "0.00001"], "--cpus-per-trial 1e-05: it must be from 0 to 10,000 in steps of 0.0001"),
    (["--cpus-per-trial", "1e-400"], "argument --cpus-per-trial: '1e-400' is too small to tell from 0"),
    (["--width", "1e-300"], "--width 1e-300: it must be from 0.001"),
    (["--storage", "sqlite:///:memory:"], "the results database 'sqlite:///%3Amemory%3A' is in memory"),
    (["--budget", "300M\n"], "argument --budget: budget '300M\\n' is not a number of MACs"),
    (["--budget", "300\u00a0M"], "argument --budget: budget '300\\xa0M' is not a number of MACs"),
]


@pytest.mark.parametrize("args, message", SEARCH_CASES, ids=lambda v: quote_arg(v, 30) if isinstance(v, str) else None)
def test_search_reproducers_are_refused_in_one_line(reached: list[object], args: list[str], message: str) -> None:
    if "--out" not in args:
        args = ["--out", f"run-{next(_runs)}", *args]
    started = time.perf_counter()
    outcome = call(["search", "--dataset", "synthetic", *args], reached)
    assert time.perf_counter() - started < 10
    assert_clean(outcome, search=True)
    code, _, err, _ = outcome
    assert code == 2 and err.split("error: ", 1)[1].startswith(message), err


def test_search_with_sane_arguments_reaches_run(reached: list[object]) -> None:
    code, _, err, got_there = call(["search", "--dataset", "synthetic", "--out", f"run-{next(_runs)}", "--seed",
                                    str(2**32 - 1), "--budget", "1e18", "--cpus-per-trial", "0.5"], reached)
    assert (code, err, got_there) == (0, "", True)
    assert reached[-1].seed == 2**32 - 1 and reached[-1].budget == "1e18"  # type: ignore[attr-defined]


DECODE_CASES = [  # (arguments after `nas decode`, the start of the error after "error: ")
    ([LONG], "'aaaa"),
    (["lenet5", "--python", "/nonexistent/x.py"],
     "--python '/nonexistent/x.py': the directory '/nonexistent' does not exist"),
    (["lenet5", "--graph", "/nonexistent/g.dot"],
     "--graph '/nonexistent/g.dot': the directory '/nonexistent' does not exist"),
    (["lenet5", "--onnx", "/nonexistent/g.onnx"],
     "--onnx '/nonexistent/g.onnx': the directory '/nonexistent' does not exist"),
    (["lenet5", "--python", "afile/x.py"], "--python 'afile/x.py': "),
    (["lenet5", "--python", "."], "--python '.': is a directory"),
    (["lenet5", "--python", ""], "--python is empty"),
    (["fifo"], "fifo: is not a regular file"),
    (["/dev/zero"], "/dev/zero: is not a regular file"),
    ([""], "the genome argument is empty"),
    (["."], ".: is a directory, expected a YAML file"),
    (["lenet5", "--graph", "g.txt"], "g.txt: unknown graph format '.txt'"),
    (["resnet50\n"], "'resnet50\\n' is neither a file nor a seed name"),
    # a name the property tests never draw (they may write their pool's names as export files here)
    (["bad\nmissing.yaml"], "'bad\\nmissing.yaml': no such file"),
    (["lenet5", "--classes", "ten\nx"], "argument --classes: expected a positive integer, got 'ten\\nx'"),
    (["lenet5", "--classes", "1" + "0" * 400], "argument --classes: '10000"),
    (["lenet5", "--classes", "٣"], "argument --classes: expected a positive integer, got '٣'"),
]


@pytest.mark.parametrize("args, message", DECODE_CASES, ids=lambda v: quote_arg(v, 30) if isinstance(v, str) else None)
def test_decode_reproducers_are_refused_in_one_line(reached: list[object], args: list[str], message: str) -> None:
    code, out, err, _ = outcome = call(["decode", *args], reached)
    assert_clean(outcome)
    assert code == 2 and out == "" and err.split("error: ", 1)[1].startswith(message), err


FUZZ_GENOMES = {  # the fuzz report's genome findings: (file text, arguments after the file, start of the error)
    "wide": ("input: [3, 8, 8]\nblocks: {x: {nodes: [{op: concat, in: [in, in, in, in, in, in, in, in, in, in]}]}}\n"
             "stages: [[{type: x, repeat: 4400}]]\n", [], "blocks.x.nodes[0].in: a concat computes a size of "
             "30,000,000, above the largest a genome may reach (16,777,216)"),
    "many_ops": ("input: [3, 8, 8]\nblocks: {x: {nodes: [" + ", ".join(["{op: conv, c: 8, k: 1}"] * 64) + "]}}\n"
                 "stages: [[{type: x, repeat: 10000}]]\n", ["--level", "op"],
                 "blocks.x.nodes[42].in: the network expands to more than 200,000 primitive ops"),
    "huge": ("input: [3, 8, 8]\nstages: [[{type: conv, c: 16777216, k: 1}, {type: conv, c: 16777216, k: 1}]]\n",
             ["--format", "json", "--onnx", "g.onnx"], "the network has 281,475,094,151,168 parameters, more than a "
             "model is built or exported for"),
    "aliases": ("input: [3, 32, 32]\nstages:\n- [&i0 {type: conv, c: 4, k: 1}]\n" + "".join(
        f"- [&i{k} {{type: inception, branches: [{', '.join([f'[*i{k - 1}]'] * 8)}]}}]\n" for k in range(1, 5)),
        ["--format", "yaml"], "its YAML, aliases written out, is 185 KiB, over the 128 KiB a genome file may hold"),
    "null": ("input: [3, 32, 32]\nstages: [[{type: maxpool, k: 2, p: null}]]\n", [],
             "stages[0].blocks[0].p: expected an integer, got null"),
    "exponent": ("input: [3, 32, 32]\nstages: [[{type: inverted, c: 16, se: 1e-3}]]\n", [],
                 "stages[0].blocks[0].se: expected a number, got the text '1e-3': YAML reads an exponent without a "
                 "decimal point as text; write 1.0e-3"),
}


@pytest.mark.parametrize("name", FUZZ_GENOMES)
@pytest.mark.slow
def test_the_fuzz_reports_genomes_are_one_line_before_any_output(reached: list[object], workdir: Path,
                                                                  name: str) -> None:
    text, args, message = FUZZ_GENOMES[name]
    (workdir / f"{name}.yaml").write_text(text)
    started = time.perf_counter()
    code, out, err, _ = outcome = call(["decode", f"{name}.yaml", *args], reached)
    assert_clean(outcome)
    assert code == 2 and out == "" and err.split("error: ", 1)[1].startswith(f"{name}.yaml: {message}"), err
    assert not (workdir / "g.onnx").exists() and time.perf_counter() - started < 30


def test_a_bad_graph_format_is_refused_before_the_table(reached: list[object], workdir: Path) -> None:
    code, out, err, _ = call(["decode", "lenet5", "--graph", "g.txt"], reached)
    assert code == 2 and out == "" and not (workdir / "g.txt").exists()


# Refused while parsing, so a real process cannot get as far as Ray even if a check were lost.
SUBPROCESS_CASES = [
    (["search", "--seed", "-1"], "nas search: error: argument --seed: "),
    (["search", "--strategy", "optuna", "--seed", "4294967296"], "nas search: error: argument --seed: "),
    (["search", "--budget", "1e1000000"], "nas search: error: argument --budget: "),
    (["search", "--budget", "1" * 100000 + "x"], "nas search: error: argument --budget: "),
    (["search", "--budget", "-1M"], "nas search: error: argument --budget: budget '-1M' must be positive"),
    (["search", "--space", "mobilenet\nx", "--classes", "1_000"], "nas search: error: argument --classes: "),
    (["decode", LONG], "nas: error: 'aaaa"),
    (["decode", "fifo"], "nas: error: fifo: is not a regular file"),
    (["decode", "lenet5", "--python", "/nonexistent/x.py"], "nas: error: --python '/nonexistent/x.py': "),
    (["search", "--address", "a..b:1"], "nas: error: --address 'a..b:1': 'a..b' is not a host name"),  # Ray's check
    (["search", "--address", ".:1"], "nas: error: --address '.:1': '.' is not a host name"),
]


@pytest.mark.parametrize("args, message", SUBPROCESS_CASES,
                         ids=lambda v: quote_arg(v, 30) if isinstance(v, str) else None)
@pytest.mark.slow
def test_reproducers_through_the_real_command(workdir: Path, args: list[str], message: str) -> None:
    if args[0] == "search":
        args = [*args, "--dataset", "synthetic", "--out", str(workdir / f"run-{next(_runs)}")]
    # this checkout's packages first, whatever is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "nas.app.cli", *args], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
