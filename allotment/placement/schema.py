"""Make a database ready for placement: the tables at the latest revision, the standard names filled in."""

from __future__ import annotations

from allotment.infra.database import Database
from allotment.placement.domain import names
from allotment.placement.store.migrate import upgrade_schema

__all__ = ["upgrade"]


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` and sync the standard resource classes and traits.

    The sync runs under the upgrade's lock: two starters inserting the same standard
    names at once would otherwise collide on PostgreSQL and MariaDB.
    """
    upgrade_schema(db, revision, then=names.sync_standard_names)
