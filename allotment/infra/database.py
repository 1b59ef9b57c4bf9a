"""Engines and transactions for SQLite, PostgreSQL and MariaDB/MySQL.

Writers never see "database is locked" or a deadlock: SQLite runs in WAL mode with
a busy timeout and takes its write lock up front (``BEGIN IMMEDIATE``), and a write
transaction that hits a lock conflict, deadlock or serialization failure is run
again from the start.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from allotment.infra.retry import retrying
from allotment.infra.urls import normalize_url

__all__ = ["BUSY_TIMEOUT_MS", "Database"]

T = TypeVar("T")

# How long a SQLite writer waits for the lock before the retry loop takes over.
BUSY_TIMEOUT_MS = 10_000
_WRITE = "allotment_write"  # execution option: this connection's transaction writes
_PRAGMAS = ("journal_mode=WAL", f"busy_timeout={BUSY_TIMEOUT_MS}", "foreign_keys=ON", "synchronous=NORMAL")


def _sqlite_engine(url: str, pool_size: int) -> Engine:
    path = sa.engine.make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        poolclass=sa.pool.QueuePool,
        pool_size=pool_size,
        max_overflow=10,
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # take transaction control away from pysqlite: BEGIN is ours
        cur = dbapi_conn.cursor()
        for pragma in _PRAGMAS:
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # Straight to the driver: through exec_driver_sql a BEGIN cost as much CPU as a query (execution
        # context, events, a result), on every transaction. Errors are wrapped as SQLAlchemy would, so
        # "database is locked" still reaches the retry loop as an OperationalError.
        begin = "BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN"
        try:
            conn.connection.driver_connection.execute(begin)  # type: ignore[union-attr]
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(begin, None, exc, sqlite3.Error) from exc

    return engine


def _server_engine(url: str, backend: str, pool_size: int) -> Engine:
    kwargs: dict[str, Any] = {"pool_size": pool_size, "max_overflow": 10, "pool_pre_ping": True}
    if backend == "mysql":
        # Row locks taken with FOR UPDATE must let later reads see committed rows.
        kwargs.update(isolation_level="READ COMMITTED", pool_recycle=3600)
    return sa.create_engine(url, **kwargs)


class Database:
    """An engine plus ``read()``, ``locked()`` and ``write(fn)``."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = normalize_url(url)
        self.backend = sa.engine.make_url(self.url).get_backend_name()
        if self.backend == "sqlite":
            self.engine = _sqlite_engine(self.url, pool_size)
        else:
            self.engine = _server_engine(self.url, self.backend, pool_size)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def locked(self) -> Iterator[Connection]:
        """One write transaction, without retries (on SQLite it holds the write lock from its start)."""
        with self.engine.connect().execution_options(**{_WRITE: True}) as conn, conn.begin():
            yield conn

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one write transaction; on a lock conflict run all of it again."""

        def attempt() -> T:
            with self.locked() as conn:
                return fn(conn)

        return retrying(attempt, what="write transaction")
