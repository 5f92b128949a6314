"""The package's shape, read with ``ast`` (no imports, well under a second): imports run one
way (``car/`` and ``perception/`` never reach up into ``robot/``), no two modules share a
name, and modules and functions stay small enough to read."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cat_follow"
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60


def _modules(under: Path = PACKAGE) -> list[Path]:
    return sorted(under.rglob("*.py"))


def _imported(tree: ast.AST) -> list[str]:
    """Every module an import statement names, lazy ones inside functions included
    (``from cat_follow import robot`` counts as ``cat_follow.robot``)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


def upward_imports(layer: str, forbidden: str = "cat_follow.robot") -> list[str]:
    found = []
    for path in _modules(PACKAGE / layer):
        for name in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            if name == forbidden or name.startswith(forbidden + "."):
                found.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return found


@pytest.mark.parametrize("layer", ["car", "perception"])
def test_no_import_runs_up_into_robot(layer: str) -> None:
    assert upward_imports(layer) == []


def test_the_import_check_sees_a_lazy_upward_import() -> None:
    tree = ast.parse("def f():\n    from cat_follow import robot\n    import cat_follow.robot.odometry\n")
    assert {"cat_follow.robot", "cat_follow.robot.odometry"} <= set(_imported(tree))


def test_no_two_modules_share_a_name() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in _modules():
        if path.name != "__init__.py":
            by_name[path.name].append(str(path.relative_to(PACKAGE)))
    assert {name: paths for name, paths in by_name.items() if len(paths) > 1} == {}


def oversized() -> list[str]:
    found = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(PACKAGE)
        if (n := len(text.splitlines())) > MAX_MODULE_LINES:
            found.append(f"{rel}: {n} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{rel}:{node.lineno} {node.name}(): {length} lines")
    return found


def test_no_module_over_300_lines_and_no_function_over_60() -> None:
    assert oversized() == []


def test_no_nonlocal_and_type_ignores_only_on_the_stdlib() -> None:
    """Closures sharing state by ``nonlocal`` became objects; ``type: ignore`` is left only where
    the standard library's typing lags (SharedMemory's ``track`` and ``_name``, memory/segments.py)."""
    found = []
    for path in _modules():
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            rel = path.relative_to(PACKAGE)
            if "nonlocal " in line or ("type: ignore" in line and rel.as_posix() != "memory/segments.py"):
                found.append(f"{rel}:{i}: {line.strip()}")
    assert found == []
