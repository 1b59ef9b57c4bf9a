"""Engines and transactions for SQLite, PostgreSQL and MariaDB/MySQL.

Writers never see "database is locked" or a deadlock: SQLite write transactions
start with ``BEGIN IMMEDIATE`` behind a busy timeout, and every write
transaction is retried as a whole when the backend reports a lock conflict,
deadlock or serialization failure.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

__all__ = ["Store", "normalize_url"]

LOG = logging.getLogger(__name__)
T = TypeVar("T")

# How long a SQLite writer waits for the lock before the retry loop takes over.
SQLITE_BUSY_TIMEOUT_MS = 10_000
WRITE_ATTEMPTS = 20


def normalize_url(url: str) -> str:
    """Pick our drivers for bare backend names (``postgresql://`` -> psycopg 3, ``mysql://`` -> PyMySQL)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("mysql://") or url.startswith("mariadb://"):
        return "mysql+pymysql://" + url.split("://", 1)[1]
    return url


def _is_retryable(exc: DBAPIError) -> bool:
    orig = exc.orig
    text = str(orig).lower()
    if "database is locked" in text or "database table is locked" in text or "busy" in text:
        return True
    code = getattr(orig, "args", [None])[0] if orig is not None else None
    if code in (1213, 1205):  # MySQL deadlock / lock wait timeout
        return True
    sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
    return sqlstate in ("40001", "40P01")


class Store:
    """A database engine plus the transaction helpers the domain layer uses."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = normalize_url(url)
        self.backend = sa.engine.make_url(self.url).get_backend_name()
        self.engine = self._create_engine(pool_size)

    def _create_engine(self, pool_size: int) -> Engine:
        if self.backend == "sqlite":
            database = sa.engine.make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(
                self.url,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                pool_size=pool_size,
                max_overflow=10,
                poolclass=sa.pool.QueuePool,
            )

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
                # Take transaction control away from pysqlite so BEGIN is ours.
                dbapi_conn.isolation_level = None
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

            @event.listens_for(engine, "begin")
            def _on_begin(conn):  # type: ignore[no-untyped-def]
                immediate = conn.get_execution_options().get("allotment_write", False)
                conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

            return engine
        kwargs: dict[str, object] = {"pool_size": pool_size, "max_overflow": 10, "pool_pre_ping": True}
        if self.backend == "mysql":
            kwargs["isolation_level"] = "READ COMMITTED"
            kwargs["pool_recycle"] = 3600
        return sa.create_engine(self.url, **kwargs)  # type: ignore[arg-type]

    def dispose(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction."""
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one write transaction, retrying the whole of it on lock conflicts."""
        delay = 0.005
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.engine.connect().execution_options(allotment_write=True) as conn:
                    with conn.begin():
                        return fn(conn)
            except (OperationalError, DBAPIError) as exc:
                if not _is_retryable(exc) or attempt == WRITE_ATTEMPTS - 1:
                    raise
                LOG.debug("write transaction retry %d after %s", attempt + 1, exc.orig)
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")
