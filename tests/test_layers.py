"""The direction of imports: the core (``nas`` outside ``nas.app``) never reaches up.

Two checks. Statically, every import statement in a core file, those inside functions included, is read from
its syntax tree; none may name the application, the packages above the core or their heavy dependencies.
Dynamically, a fresh interpreter imports every core module and runs the core's main paths (cost, graph, build,
the standalone export, the seed report) and then lists what ``sys.modules`` holds.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE_FORBIDDEN = ("nas.app", "search_spaces", "strategies", "estimators", "ray", "optuna", "sqlalchemy",
                  "matplotlib")
"""What the core may not import: the layers above it and the libraries only they need."""

BELOW_APP = {  # package: what it may not import
    "search_spaces": ("nas.app", "strategies", "estimators", "ray", "optuna", "sqlalchemy", "matplotlib"),
    # A strategy sees a space through the public Space interface (``search_spaces.Space``) and nothing else.
    "strategies": ("nas.app", "search_spaces._base", "estimators", "ray", "sqlalchemy", "matplotlib", "torch"),
    "estimators": ("nas.app", "search_spaces", "strategies", "ray", "optuna", "sqlalchemy", "matplotlib"),
}


def core_files() -> list[Path]:
    """Every Python file of the core package."""
    return sorted(p for p in (ROOT / "nas").rglob("*.py") if "app" not in p.relative_to(ROOT / "nas").parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source``, at any depth, relative ones resolved."""
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((node.lineno, name))
            out += [(node.lineno, f"{name}.{a.name}") for a in node.names]  # `from . import app`
    return out


def violations(source: str, module: str, forbidden: tuple[str, ...], is_package: bool = False) -> list[str]:
    """The imports in ``source`` that name a forbidden package, as ``module:line imports name``."""
    bad = []
    for line, name in imported(source, module, is_package):
        if any(name == f or name.startswith(f + ".") for f in forbidden):
            bad.append(f"{module}:{line} imports {name}")
    return sorted(set(bad))


def test_the_checker_catches_an_upward_import() -> None:
    src = "import os\n\ndef f():\n    from .app.search import Search\n    import ray.util\n    from . import app\n"
    assert violations(src, "nas.cost", CORE_FORBIDDEN) == [
        "nas.cost:4 imports nas.app.search", "nas.cost:4 imports nas.app.search.Search", "nas.cost:5 imports ray.util",
        "nas.cost:6 imports nas.app"]
    assert violations("from ..app import cli\n", "nas.zoo.mobile", CORE_FORBIDDEN) == [
        "nas.zoo.mobile:1 imports nas.app", "nas.zoo.mobile:1 imports nas.app.cli"]
    assert violations("import raylib\nfrom nas.application import x\n", "nas.cost", CORE_FORBIDDEN) == []


def test_the_core_never_imports_upward() -> None:
    bad = []
    for path in core_files():
        bad += violations(path.read_text(), module_name(path), CORE_FORBIDDEN, path.name == "__init__.py")
    assert not bad, "the core imports upward:\n" + "\n".join(bad)


@pytest.mark.parametrize("package", sorted(BELOW_APP))
def test_the_packages_below_the_app_keep_their_place(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad += violations(path.read_text(), module_name(path), BELOW_APP[package], path.name == "__init__.py")
    assert not bad, f"{package} imports what it may not:\n" + "\n".join(bad)


_PROBE = """
import importlib, json, sys
forbidden = {forbidden!r}
seen = {{}}
def check(step):
    for m in list(sys.modules):
        if any(m == f or m.startswith(f + ".") for f in forbidden):
            seen.setdefault(m, step)
for name in {modules!r}:
    importlib.import_module(name)
    check("import " + name)
import nas
from nas.export import to_python
for s in nas.seeds():
    g = nas.seed(s)
    nas.cost(g); nas.graph(g)
check("cost and graph of every seed")
g = nas.load({example!r})
nas.build(g); to_python(g)
check("build and export")
from nas.zoo import report
report()
check("the seed report")
print(json.dumps(seen))
"""


@pytest.mark.slow
def test_a_fresh_interpreter_running_the_core_loads_nothing_above_it() -> None:
    modules = [module_name(p) for p in core_files()]
    code = _PROBE.format(forbidden=CORE_FORBIDDEN, modules=modules, example=str(ROOT / "examples" / "tiny_cnn.yaml"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {}, f"the core loaded what is above it: {seen}"


# ---------------------------------------------------------------- no circle among the core's own modules


def _core_modules() -> dict[str, Path]:
    out = {}
    for p in (ROOT / "nas").rglob("*.py"):
        rel = p.relative_to(ROOT)
        if rel.parts[1] == "app":
            continue
        parts = list(rel.with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The ids of import nodes under ``if TYPE_CHECKING:`` (annotations only: never run)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def core_import_graph(files: dict[str, Path] | None = None) -> dict[str, set[str]]:
    """module -> the core modules it imports, those inside functions included (``from . import x`` imports the
    module ``x``, not the package; imports only a type checker sees are left out)."""
    mods = files if files is not None else _core_modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        package = m if p.name == "__init__.py" else m.rpartition(".")[0]
        tree = ast.parse(p.read_text())
        skip = _type_checking_only(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
                subs = {f"{target}.{a.name}" for a in node.names} & set(mods)
                graph[m] |= (subs | ({target} if len(subs) < len(node.names) and target in mods else set())) - {m}
            elif isinstance(node, ast.Import):
                graph[m] |= {a.name for a in node.names if a.name in mods} - {m}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of ``graph``: its strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                out.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_core_imports_form_no_circle() -> None:
    assert circles(core_import_graph()) == []


def test_the_circle_check_finds_a_lazy_circle(tmp_path) -> None:
    (tmp_path / "nas").mkdir()
    (tmp_path / "nas" / "a.py").write_text("from .b import x\n")
    (tmp_path / "nas" / "b.py").write_text("def f():\n    from . import a\n")
    (tmp_path / "nas" / "c.py").write_text("from typing import TYPE_CHECKING\n"
                                           "if TYPE_CHECKING:\n    from .a import y\n")
    (tmp_path / "nas" / "d.py").write_text("from .c import z\n")
    files = {f"nas.{n}": tmp_path / "nas" / f"{n}.py" for n in "abcd"}
    assert circles(core_import_graph(files)) == [["nas.a", "nas.b"]]


def test_reading_a_genome_loads_no_tracer() -> None:
    """What ``nas.genome`` imports, and what those import in turn, leaves out the tracer (YAML in, records out)."""
    graph = core_import_graph()
    seen, todo = set(), ["nas.genome"]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph[m])
    assert "nas._trace" not in seen and "nas.network" not in seen, sorted(seen)


def test_no_file_of_the_four_packages_is_over_500_lines() -> None:
    """One job per file: a few screens each."""
    long = {str(p.relative_to(ROOT)): n for pkg in ("nas", "search_spaces", "strategies", "estimators")
            for p in (ROOT / pkg).rglob("*.py") if (n := len(p.read_text().splitlines())) > 500}
    assert long == {}
