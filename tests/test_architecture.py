"""The lines between parts: placement imports nothing from the rest of allotment; the scheduler reaches
placement only through the typed client, and only the registry touches its tables."""

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


# ---- the scheduler's raw HTTP, and the registry's tables --------------------------------------------

# The scheduler service's own client is where its HTTP calls belong.
_SCHEDULER_HTTP_CLIENT = PACKAGE / "scheduler" / "client.py"


def raw_http_uses(path: Path) -> list[str]:
    """Calls of ``x.request(...)`` and uses of ``x.http`` / ``x._http`` in ``path``: HTTP past the typed client methods."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "request":
            found.append(f"{path.name}:{node.lineno} calls .request(")
        elif isinstance(node, ast.Attribute) and node.attr in ("http", "_http"):
            found.append(f"{path.name}:{node.lineno} uses .{node.attr}")
    return found


def imports_registry_tables(path: Path) -> bool:
    """Whether ``path`` imports ``allotment.scheduler.registry.tables`` (or a name from it)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import) and any(a.name == "allotment.scheduler.registry.tables" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (
            node.module == "allotment.scheduler.registry.tables"
            or (node.module == "allotment.scheduler.registry" and any(a.name == "tables" for a in node.names))
        ):
            return True
    return False


def test_the_scheduler_speaks_to_placement_only_through_typed_client_methods() -> None:
    offenders = []
    for path in sorted((PACKAGE / "scheduler").rglob("*.py")):
        if path != _SCHEDULER_HTTP_CLIENT:
            offenders += [f"{path.relative_to(PACKAGE)}: {use}" for use in raw_http_uses(path)]
    assert offenders == []


def test_only_the_registry_touches_its_tables() -> None:
    registry = PACKAGE / "scheduler" / "registry"
    offenders = [str(p.relative_to(PACKAGE)) for p in sorted(PACKAGE.rglob("*.py"))
                 if registry not in p.parents and imports_registry_tables(p)]
    assert offenders == []
    # Guard against passing vacuously: the registry itself does import them.
    assert imports_registry_tables(registry / "groups.py")


def test_the_raw_http_check_finds_a_planted_call(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text('def f(placement):\n    return placement.request("GET", "/allocations/x")\n')
    assert raw_http_uses(planted) == ["planted.py:2 calls .request("]
    planted.write_text("def f(client):\n    return client._http.get('/')\n")
    assert raw_http_uses(planted) == ["planted.py:2 uses ._http"]
    planted.write_text("def f(placement):\n    return placement.get_allocations('x')\n")
    assert raw_http_uses(planted) == []


def test_the_tables_check_finds_a_planted_import(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    for text in ("from allotment.scheduler.registry.tables import group_members\n",
                 "import allotment.scheduler.registry.tables\n",
                 "from allotment.scheduler.registry import tables\n"):
        planted.write_text(text)
        assert imports_registry_tables(planted), text
    planted.write_text("from allotment.scheduler.registry import Registry\n")
    assert not imports_registry_tables(planted)
