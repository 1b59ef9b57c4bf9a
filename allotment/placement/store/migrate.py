"""Create or upgrade the schema (Alembic) and fill the standard classes and traits."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig

from allotment.placement.store.engine import Store

__all__ = ["upgrade"]

_MIGRATIONS = Path(__file__).with_name("migrations")


def upgrade(store: Store, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` and sync the standard names."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    if store.backend == "sqlite":
        # A lock held across the whole upgrade keeps concurrent starters in line.
        with store.engine.connect().execution_options(allotment_write=True) as conn:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
    else:
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    from allotment.placement.domain import names

    store.write(names.sync_standard_names)
