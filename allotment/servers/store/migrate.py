"""Create or upgrade the servers schema with Alembic, safely when several processes start at once."""

from __future__ import annotations

from pathlib import Path

from allotment.infra import migrate
from allotment.infra.database import Database

__all__ = ["upgrade"]

_MIGRATIONS = Path(__file__).with_name("migrations")
LOCK_NAME = "allotment_srv_migrate"


def upgrade(db: Database, revision: str = "head") -> None:
    migrate.upgrade(db, _MIGRATIONS, lock_name=LOCK_NAME, revision=revision)
