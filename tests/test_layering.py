"""The package's layering: which room may import which, no import cycles, small modules.

Every import statement counts, including those inside functions (an import deferred to run
time is still a dependency, and a deferred import is how cycles hide). The rooms and what
each may import are :data:`MAY_IMPORT`; the README's code map says the same in words.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "accelsim"

FOUNDATION = {"errors", "fixedpoint", "version"}
MAY_IMPORT: dict[str, set[str]] = {
    "version": set(),
    "errors": set(),
    "fixedpoint": {"errors"},
    "files": {"errors"},
    "cost": {"errors"},
    "kernels": {"errors", "fixedpoint"},
    "engine": {"cost"} | FOUNDATION,
    "workload": {"files"} | FOUNDATION,
    "arch": {"kernels", "engine", "cost", "workload"} | FOUNDATION,
    "config": {"arch", "cost", "files"} | FOUNDATION,
    "sim": {"config", "arch", "engine", "cost", "workload", "files"} | FOUNDATION,
    "scalesim": {"config", "workload", "files"} | FOUNDATION,
    "progress": set(),
    "columns": set(),
    "compare": {"sim", "config", "workload", "files", "progress", "columns"} | FOUNDATION,
    "sweep": {"sim", "config", "workload", "files", "progress"} | FOUNDATION,
    "search": {"sweep", "sim", "config", "workload", "files", "progress"} | FOUNDATION,
    "plot": {"sweep", "files", "columns"} | FOUNDATION,
    "api": {"sim", "config", "workload"} | FOUNDATION,
    "cli_config": {"config", "workload", "files", "columns"} | FOUNDATION,
    "cli_search": {"search", "sweep", "files"} | FOUNDATION,
    "cli_report": FOUNDATION,
    "cli": {"api", "compare", "sweep", "search", "cli_search", "cli_report", "plot", "scalesim",
            "sim", "config", "workload", "files", "progress", "cli_config", "columns"} | FOUNDATION,
}
"""Room -> the rooms its modules may import (its own room is always allowed)."""

ROOMS_BY_PREFIX = {"accelsim._version": "version", "accelsim.__main__": "cli",
                   "accelsim.cli": "cli"}
MAX_LINES = 400
"""Longest module allowed outside ``accelsim/kernels`` (a kernel's loop nest is its dataflow)."""


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under package directory ``root``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that module ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:     # `import a.b.c` of an attribute
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = module_names(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def room(module: str) -> str:
    """The room of a module: its sub-package, or the top-level module's own name."""
    for prefix, name in ROOMS_BY_PREFIX.items():
        if module == prefix or module.startswith(prefix + "."):
            return name
    parts = module.split(".")
    return "api" if len(parts) == 1 else parts[1]


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, targets in sorted(graph.items()):
        source = room(module)
        allowed = MAY_IMPORT.get(source)
        if allowed is None:
            problems.append(f"{module}: room {source!r} is not in MAY_IMPORT")
            continue
        for target in sorted(targets):
            if room(target) != source and room(target) not in allowed:
                problems.append(f"{module} ({source}) imports {target} ({room(target)})")
    return problems


# ---- the package ----------------------------------------------------------------------------
def test_no_import_cycles():
    assert cycles(import_graph(PACKAGE)) == []


def test_every_import_follows_the_layering():
    assert layering_violations(import_graph(PACKAGE)) == []


def test_kernels_and_engine_import_nothing_above_them():
    graph = import_graph(PACKAGE)
    for module, targets in graph.items():
        if room(module) == "kernels":
            assert {room(t) for t in targets} <= {"kernels", "errors", "fixedpoint"}, module
        if room(module) == "engine":
            assert {room(t) for t in targets} <= {"engine", "cost", "errors"}, module


def test_modules_are_small_outside_the_kernels():
    lengths = {str(path.relative_to(PACKAGE.parent)): len(path.read_text().splitlines())
               for path in PACKAGE.rglob("*.py") if "kernels" not in path.parts}
    long = {path: n for path, n in lengths.items() if n > MAX_LINES}
    assert long == {}


def test_every_sub_package_says_what_it_holds_and_may_import():
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert doc, f"{init} has no docstring"
        if init.parent != PACKAGE:
            assert "import" in doc, f"{init}: the docstring does not say what it may import"


# ---- the checks themselves can fail ---------------------------------------------------------
def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "accelsim"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_cycle_through_a_deferred_import_is_found(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "sim/__init__.py": "",
        "sim/simulate.py": "from accelsim.sim.values import NetworkValues\n",
        "sim/values.py": "def f():\n    from accelsim.sim import simulate\n",
    })
    assert cycles(import_graph(root)) == [["accelsim.sim.simulate", "accelsim.sim.values"]]


def test_a_relative_import_is_resolved(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "", "sweep/__init__.py": "",
        "sweep/a.py": "from .b import x\nfrom . import c\n",
        "sweep/b.py": "x = 1\n", "sweep/c.py": "",
    })
    assert import_graph(root)["accelsim.sweep.a"] == {"accelsim.sweep.b", "accelsim.sweep.c"}


@pytest.mark.parametrize(("importer", "statement"), [
    ("kernels/dense.py", "from accelsim.workload.layer import Layer\n"),
    ("arch/diannao.py", "from accelsim.sweep import run_sweep\n"),
    ("engine/pipeline.py", "import accelsim.arch.base\n"),
    ("sim/simulate.py", "from accelsim.plot import speedup\n"),
])
def test_an_import_against_the_layering_is_found(tmp_path, importer, statement):
    files = {"__init__.py": "", "workload/__init__.py": "", "workload/layer.py": "",
             "sweep/__init__.py": "", "arch/__init__.py": "", "arch/base.py": "",
             "plot/__init__.py": "", "kernels/__init__.py": "", "engine/__init__.py": "",
             "sim/__init__.py": "", importer: statement}
    problems = layering_violations(import_graph(_package(tmp_path, files)))
    assert len(problems) == 1 and problems[0].startswith(
        "accelsim." + importer.removesuffix(".py").replace("/", ".")), problems
