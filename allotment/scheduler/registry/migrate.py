"""Create or upgrade the registry schema with Alembic, safely when several processes start at once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Connection

from allotment.scheduler.registry.engine import Database

__all__ = ["upgrade"]

_MIGRATIONS = Path(__file__).with_name("migrations")
# Any fixed number: the advisory lock key that serialises registry upgrades on PostgreSQL.
_PG_LOCK_KEY = 0x5C4ED001
_MYSQL_LOCK = "allotment_sched_migrate"


@contextlib.contextmanager
def _upgrade_lock(db: Database) -> Iterator[Connection]:
    """A connection in a transaction that no other upgrader runs beside."""
    if db.backend == "sqlite":
        with db.locked() as conn:  # BEGIN IMMEDIATE
            yield conn
    elif db.backend == "postgresql":
        with db.engine.begin() as conn:  # DDL is transactional; the lock ends with the transaction
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            yield conn
    else:
        with db.engine.connect() as conn:
            got = conn.execute(sa.text("SELECT GET_LOCK(:n, 120)"), {"n": _MYSQL_LOCK}).scalar()
            if got != 1:
                raise RuntimeError("timed out waiting for another process upgrading the registry schema")
            conn.commit()  # the lock belongs to the session, not to this transaction
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": _MYSQL_LOCK})
                conn.commit()


def upgrade(db: Database, revision: str = "head") -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with _upgrade_lock(db) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
