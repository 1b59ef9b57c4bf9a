"""The line between the halves: placement imports nothing from the rest of allotment."""

from __future__ import annotations

import ast
from pathlib import Path

import allotment

PACKAGE = Path(allotment.__file__).parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_placement_imports_only_placement() -> None:
    offenders = []
    for path in sorted((PACKAGE / "placement").rglob("*.py")):
        for name in _imports(path):
            if name.startswith("allotment.") and not name.startswith("allotment.placement"):
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


def test_the_check_sees_placement_modules() -> None:
    # Guard against the test above passing vacuously after a move.
    files = list((PACKAGE / "placement").rglob("*.py"))
    assert len(files) > 20
    assert any("allotment.placement.domain" in _imports(p) for p in files)


def test_scheduler_reaches_placement_only_through_the_client() -> None:
    offenders = []
    for path in sorted((PACKAGE / "scheduler").rglob("*.py")):
        for name in _imports(path):
            if name.startswith("allotment.placement"):
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []
