"""Alembic upgrades that several processes may start at once, and the environment they run in.

``upgrade`` holds a lock across the whole upgrade so concurrent starters run one
after the other (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped
advisory lock; MariaDB/MySQL: a named lock), and runs the locked upgrade again
when the backend reports a lock conflict, deadlock or serialization failure.
``run_environment`` is what a migrations ``env.py`` calls.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Connection

from allotment.infra.database import Database
from allotment.infra.retry import retrying
from allotment.infra.urls import normalize_url

__all__ = ["run_environment", "upgrade"]

_MYSQL_LOCK_WAIT_S = 120


def _pg_lock_key(name: str) -> int:
    """A stable advisory lock key per schema (Python's ``hash`` differs between processes)."""
    return zlib.crc32(name.encode())


@contextlib.contextmanager
def _upgrade_lock(db: Database, name: str) -> Iterator[Connection]:
    """A connection in a transaction that no other upgrader of schema ``name`` runs beside."""
    if db.backend == "sqlite":
        with db.locked() as conn:
            yield conn
    elif db.backend == "postgresql":
        with db.engine.begin() as conn:  # DDL is transactional; the lock ends with the transaction
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _pg_lock_key(name)})
            yield conn
    else:
        with db.engine.connect() as conn:
            got = conn.execute(sa.text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": _MYSQL_LOCK_WAIT_S}).scalar()
            if got != 1:
                raise RuntimeError(f"timed out waiting for another process upgrading the {name} schema")
            conn.commit()  # the lock belongs to the session, not to this transaction
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": name})
                conn.commit()


def upgrade(db: Database, migrations: Path, *, lock_name: str, revision: str = "head",
            then: Callable[[Connection], object] | None = None) -> None:
    """Bring the schema whose Alembic scripts live in ``migrations`` to ``revision``, under a lock.

    ``then`` runs in the same locked transaction after the migrations: seed data that
    concurrent starters would otherwise insert twice.
    """
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations))

    def locked_upgrade() -> None:
        with _upgrade_lock(db, lock_name) as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            if then is not None:
                then(conn)

    retrying(locked_upgrade, what=f"{lock_name} schema upgrade")


def run_environment(metadata: sa.MetaData, *, version_table: str = "alembic_version",
                    include_object: Callable[..., bool] | None = None) -> None:
    """The body of a migrations ``env.py``: on the connection ``upgrade`` handed in, or from ``-x url=``."""
    connection: Any = context.config.attributes.get("connection")
    if connection is None:  # the `alembic` command line
        url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
        connection = sa.create_engine(normalize_url(str(url))).connect()
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=version_table,
        include_object=include_object,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()
