"""The layout rules of issue 13 ("one home for every concept"), checked on the source with ast:

* notebooks, scripts, benchmarks and the CLI use masa_lite's public names only (no ``_name``);
* no module of masa_lite is over 400 lines, no function over 60 (its docstring not counted);
* no import cycle among masa_lite's modules (lazy imports inside functions included);
* every subpackage is a regular package, so ``pip install`` ships it;
* the method (issue 27, "one reading path") never imports the study's instruments, ``masa_lite.study``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "masa_lite"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
EXEMPT_MODULES: set[str] = set()  # none: every module keeps to the limits


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _users() -> list[Path]:
    files = [p for d in ("notebooks", "scripts", "benchmarks") for p in (ROOT / d).rglob("*.py")]
    return sorted(p for p in files if ".ipynb_checkpoints" not in p.parts) + [PKG / "cli.py"]


def _private_uses(path: Path) -> list[str]:
    """``from masa_lite.x import _y`` and ``mod._y`` where ``mod`` is a masa_lite module."""
    tree = ast.parse(path.read_text())
    found, aliases = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "masa_lite":
            for a in node.names:
                if a.name.startswith("_"):
                    found.append(f"line {node.lineno}: from {node.module} import {a.name}")
                elif f"{node.module}.{a.name}" in MODULES:
                    aliases.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "masa_lite":
                    aliases.add(a.asname or a.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in aliases:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("path", _users(), ids=_rel)
def test_users_of_the_library_use_public_names_only(path):
    assert not _private_uses(path), f"{_rel(path)} uses private names: {_private_uses(path)}"


def test_modules_are_short():
    long = {_rel(p): n for p in MODULES.values()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES and _rel(p) not in EXEMPT_MODULES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def _function_lines(fn) -> int:
    n = fn.end_lineno - fn.lineno + 1
    first = fn.body[0] if fn.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        n -= first.end_lineno - first.lineno + 1
    return n


def test_functions_are_short():
    long = []
    for path in MODULES.values():
        if _rel(path) in EXEMPT_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _function_lines(node) > MAX_FUNCTION_LINES:
                long.append(f"{_rel(path)}:{node.lineno} {node.name} ({_function_lines(node)} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines (docstring excluded): {long}"


def _imports(name: str, path: Path) -> set[str]:
    """The masa_lite modules ``name`` imports, anywhere in the file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                       for a in node.names]
        out |= {t for t in targets if t in MODULES and t != name}
    return out


def import_graph() -> dict[str, set[str]]:
    return {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles():
    cycle = _cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_every_subpackage_is_a_package():
    for folder in PKG.rglob("*"):
        if folder.is_dir() and any(folder.glob("*.py")) and folder.name != "__pycache__":
            assert (folder / "__init__.py").exists(), f"{_rel(folder)} has no __init__.py"


# The method a student reads: nothing here may import the study's instruments (masa_lite.study).
METHOD = ("masa_lite.grpo", "masa_lite.meta", "masa_lite.efficient", "masa_lite.task",
          "masa_lite.trainer", "masa_lite.evaluation")
STUDY = "masa_lite.study"


def _imported_names(tree: ast.AST, package: str) -> set[str]:
    """Every module name an ``import`` or ``from … import`` in ``tree`` names, relative imports
    resolved against ``package``; ``from a import b`` counts as ``a`` and ``a.b``."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
    return out


def _study_imports(name: str, path: Path) -> list[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = _imported_names(ast.parse(path.read_text()), package)
    return sorted(n for n in names if n == STUDY or n.startswith(STUDY + "."))


def test_the_method_does_not_import_the_study():
    method = {n: p for n, p in MODULES.items() if any(n == m or n.startswith(m + ".") for m in METHOD)}
    assert "masa_lite.trainer" in method and "masa_lite.grpo.losses" in method
    bad = {_rel(p): found for n, p in method.items() if (found := _study_imports(n, p))}
    assert not bad, f"the method imports the study's instruments (move the code, or the import): {bad}"


def test_study_import_finder_sees_every_form():
    src = ("import masa_lite.study.cost\nfrom masa_lite.study import probe\n"
           "def f():\n    from ..study.frontier import gate_frontier\n")
    names = _imported_names(ast.parse(src), "masa_lite.meta")
    assert {"masa_lite.study.cost", "masa_lite.study.probe", "masa_lite.study.frontier"} <= names
