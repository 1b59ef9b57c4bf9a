"""The registry's database engine and transactions (SQLite, PostgreSQL, MariaDB/MySQL).

Same rules as placement's store, written for the scheduler: SQLite runs in WAL mode
with a busy timeout and takes its write lock up front (``BEGIN IMMEDIATE``), and a
write transaction that hits a lock conflict, deadlock or serialization failure is
run again from the start, so callers never see "database is locked".
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

__all__ = ["Database", "normalize_url"]

LOG = logging.getLogger(__name__)
T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
WRITE_ATTEMPTS = 20
_WRITE = "allotment_registry_write"


def normalize_url(url: str) -> str:
    """Bare ``postgresql://`` and ``mysql://`` URLs get the drivers we ship (psycopg 3, PyMySQL)."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    if scheme in ("mysql", "mariadb"):
        return f"mysql+pymysql://{rest}"
    return url


def _retryable(exc: DBAPIError) -> bool:
    orig = exc.orig
    text = str(orig).lower()
    if "database is locked" in text or "database table is locked" in text:
        return True
    args = getattr(orig, "args", None) or [None]
    if args[0] in (1213, 1205):  # MySQL: deadlock, lock wait timeout
        return True
    sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
    return sqlstate in ("40001", "40P01")  # PostgreSQL: serialization failure, deadlock


class Database:
    """An engine plus ``read()`` and ``write(fn)``."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = normalize_url(url)
        self.backend = sa.engine.make_url(self.url).get_backend_name()
        self.engine = self._engine(pool_size)

    def _engine(self, pool_size: int) -> Engine:
        if self.backend != "sqlite":
            kwargs: dict[str, Any] = {"pool_size": pool_size, "max_overflow": 10, "pool_pre_ping": True}
            if self.backend == "mysql":
                # Row locks taken with FOR UPDATE must let later reads see committed rows.
                kwargs.update(isolation_level="READ COMMITTED", pool_recycle=3600)
            return sa.create_engine(self.url, **kwargs)
        path = sa.engine.make_url(self.url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            self.url,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            poolclass=sa.pool.QueuePool,
            pool_size=pool_size,
            max_overflow=10,
        )

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            for pragma in ("journal_mode=WAL", f"busy_timeout={BUSY_TIMEOUT_MS}", "foreign_keys=ON",
                           "synchronous=NORMAL"):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

        return engine

    def dispose(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def locked(self) -> Iterator[Connection]:
        """One write transaction without retries (schema upgrades)."""
        with self.engine.connect().execution_options(**{_WRITE: True}) as conn, conn.begin():
            yield conn

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one write transaction; on a lock conflict run all of it again."""
        delay = 0.005
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self.locked() as conn:
                    return fn(conn)
            except DBAPIError as exc:
                if attempt == WRITE_ATTEMPTS or not _retryable(exc):
                    raise
                LOG.debug("registry write retried (attempt %d): %s", attempt, exc.orig)
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")
