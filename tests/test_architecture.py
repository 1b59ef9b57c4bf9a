"""The layering of the package, checked on its import graph and call sites.

- placement imports only itself and ``allotment.infra`` (so the two lift out together);
- infra imports nothing else of allotment;
- placement's ``candidates`` never import its ``api``, and its ``store`` never imports its ``domain``;
- the scheduler reaches placement only through the client, and only through its typed methods;
- only the scheduler's registry touches the registry's tables.

Each rule is also run over a planted violation, so a broken checker cannot pass vacuously.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import allotment

PACKAGE = Path(allotment.__file__).parent


@dataclass(frozen=True)
class Rule:
    """Modules under ``scope`` may import allotment modules under ``allowed`` only (None: any), never ``forbidden``."""

    scope: str
    allowed: tuple[str, ...] | None = None
    forbidden: tuple[str, ...] = ()

    def breaks(self, imported: str) -> bool:
        if not _under(imported, "allotment"):
            return False
        if any(_under(imported, f) for f in self.forbidden):
            return True
        return self.allowed is not None and not any(_under(imported, a) for a in self.allowed)


RULES = {
    "placement": Rule("allotment.placement", allowed=("allotment.placement", "allotment.infra")),
    "infra": Rule("allotment.infra", allowed=("allotment.infra",)),
    "candidates": Rule("allotment.placement.candidates", forbidden=("allotment.placement.api",)),
    "store": Rule("allotment.placement.store", forbidden=("allotment.placement.domain",)),
    "scheduler": Rule("allotment.scheduler", forbidden=("allotment.placement", "allotment.servers")),
    # The servers flow sits above the scheduler and reaches placement through the client too.
    "servers": Rule("allotment.servers", forbidden=("allotment.placement", "allotment.cli", "allotment.bench")),
}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(root: Path, path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (lazy imports too), relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(root, path).split(".")
    if path.name != "__init__.py":
        package.pop()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found.add(module)
            # ``from allotment.placement import api`` imports the subpackage ``api``.
            found.update(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def violations(root: Path, rule: Rule) -> list[str]:
    """``module imports name`` for every import under ``root`` that breaks ``rule``."""
    out = []
    for path in sorted(root.rglob("*.py")):
        module = _module_name(root, path)
        if not _under(module, rule.scope):
            continue
        for name in sorted(_imports(root, path)):
            if rule.breaks(name) and not _is_attribute_of_allowed(root, name, rule):
                out.append(f"{module} imports {name}")
    return out


def _is_attribute_of_allowed(root: Path, name: str, rule: Rule) -> bool:
    """``from allotment.placement import errors`` names a module; ``from x import some_function`` does not."""
    module, _, _ = name.rpartition(".")
    relative = Path(*name.split(".")[1:])
    is_module = (root / relative).with_suffix(".py").exists() or (root / relative / "__init__.py").exists()
    return not is_module and bool(module) and not rule.breaks(module)


@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_holds(name: str) -> None:
    assert violations(PACKAGE, RULES[name]) == []


@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_sees_its_modules(name: str) -> None:
    # Guard against a rule passing vacuously after a move: its scope holds modules that import ours.
    scope = RULES[name].scope
    files = [p for p in PACKAGE.rglob("*.py") if _under(_module_name(PACKAGE, p), scope)]
    assert files, scope
    assert any(any(_under(i, "allotment") for i in _imports(PACKAGE, p)) for p in files)


# ---- the checker itself, on a planted package -------------------------------------------------

PLANTED = {
    "placement": ("placement/api/handlers.py", "from allotment.scheduler import manager\n"),
    "infra": ("infra/database.py", "def f():\n    from allotment.placement.store import tables\n"),
    "candidates": ("placement/candidates/request.py", "from ..api import util\n"),
    "store": ("placement/store/migrate.py", "from allotment.placement import domain\n"),
    "scheduler": ("scheduler/manager.py", "import allotment.placement.api.app\n"),
    "servers": ("servers/conductor.py", "from allotment.placement.store import tables\n"),
}


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "allotment"
    base = {
        "__init__.py": "",
        "infra/__init__.py": "",
        "infra/database.py": "import sqlalchemy\n",
        "placement/__init__.py": "",
        "placement/errors.py": "",
        "placement/api/__init__.py": "",
        "placement/api/util.py": "from allotment.placement import errors\nfrom allotment.infra.database import x\n",
        "placement/api/handlers.py": "from . import util\nfrom allotment.placement.domain import ops\n",
        "placement/candidates/__init__.py": "",
        "placement/candidates/request.py": "from allotment.placement.candidates import model\n",
        "placement/candidates/model.py": "from allotment.placement.store.tables import t\n",
        "placement/domain/__init__.py": "",
        "placement/domain/ops.py": "from allotment.placement.store import tables\n",
        "placement/store/__init__.py": "",
        "placement/store/tables.py": "",
        "placement/store/migrate.py": "from allotment.infra import database\n",
        "scheduler/__init__.py": "",
        "scheduler/manager.py": "from allotment.client import Client\n",
        "client/__init__.py": "",
        "servers/__init__.py": "",
        "servers/conductor.py": "from allotment.scheduler import manager\n",
    }
    for rel, text in {**base, **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_clean_planted_package_passes(tmp_path: Path) -> None:
    root = _plant(tmp_path, {})
    assert {name: violations(root, rule) for name, rule in RULES.items()} == {name: [] for name in RULES}


@pytest.mark.parametrize("name", sorted(RULES))
def test_each_rule_catches_a_planted_violation(tmp_path: Path, name: str) -> None:
    rel, text = PLANTED[name]
    root = _plant(tmp_path, {rel: text})
    found = violations(root, RULES[name])
    offender = "allotment." + rel.removesuffix(".py").replace("/", ".") + " imports "
    assert found and all(f.startswith(offender) for f in found), found


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
