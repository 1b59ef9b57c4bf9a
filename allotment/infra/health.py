"""``/healthz`` and ``/readyz`` for both services: alive, and database reachable with its schema current."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.config import Config as AlembicConfig

from allotment.infra.database import Database

__all__ = ["Readiness", "SchemaCheck", "readiness"]


@dataclass(frozen=True)
class SchemaCheck:
    """Which schema to check: its Alembic scripts and the table recording its revision."""

    name: str
    migrations: Path
    version_table: str = "alembic_version"

    def heads(self) -> set[str]:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(self.migrations))
        return set(ScriptDirectory.from_config(cfg).get_heads())


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, dict[str, object]]

    def body(self) -> dict[str, object]:
        return {"status": "ready" if self.ready else "not ready", "checks": self.checks}


def readiness(schemas: list[tuple[Database, SchemaCheck]]) -> Readiness:
    """Connect to each database and compare its schema revision with the code's; never raises."""
    checks: dict[str, dict[str, object]] = {}
    for db, schema in schemas:
        checks[schema.name] = _check(db, schema)
    return Readiness(all(c["ok"] for c in checks.values()), checks)


def _check(db: Database, schema: SchemaCheck) -> dict[str, object]:
    expected = sorted(schema.heads())
    try:
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            context = MigrationContext.configure(conn, opts={"version_table": schema.version_table})
            current = sorted(context.get_current_heads())
    except Exception as exc:  # any driver's error: the database cannot be used, say why in one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return {"ok": False, "database": "unusable", "error": f"{type(exc).__name__}: {reason}"[:500]}
    if current != expected:
        return {"ok": False, "database": "reachable", "schema": "outdated" if current else "missing",
                "revision": current, "expected": expected}
    return {"ok": True, "database": "reachable", "schema": "current", "revision": current}
