"""Create or upgrade the placement tables (Alembic), safely when several processes start at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Connection

from allotment.infra import migrate
from allotment.infra.database import Database

__all__ = ["LOCK_NAME", "upgrade_schema"]

_MIGRATIONS = Path(__file__).with_name("migrations")
LOCK_NAME = "allotment_placement_schema"


def upgrade_schema(db: Database, revision: str = "head", *, then: Callable[[Connection], object] | None = None) -> None:
    """Bring the placement tables to ``revision``; ``then`` runs after, under the same lock."""
    migrate.upgrade(db, _MIGRATIONS, lock_name=LOCK_NAME, revision=revision, then=then)
