"""The shared infrastructure layer: URLs, chunks, request ids, the launcher's settings, locked upgrades."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from allotment.bench.databases import fresh_database
from allotment.infra.chunks import chunked
from allotment.infra.database import Database
from allotment.infra.launcher import ServeOptions, gunicorn_settings
from allotment.infra.request_ids import new_request_id
from allotment.infra.urls import normalize_url
from allotment.placement.schema import upgrade as placement_upgrade
from allotment.scheduler.registry.migrate import upgrade as registry_upgrade
from tests.infra import _workers


def test_bare_backend_urls_get_our_drivers() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("mysql://root@h/db") == "mysql+pymysql://root@h/db"
    assert normalize_url("mariadb://root@h/db") == "mysql+pymysql://root@h/db"
    assert normalize_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_chunks_are_sorted_distinct_and_bounded() -> None:
    assert list(chunked([5, 1, 3, 1, 2], size=2)) == [[1, 2], [3, 5]]
    assert list(chunked([])) == []
    assert all(len(c) <= 500 for c in chunked(range(1201)))


def test_request_ids_are_openstack_shaped_and_distinct() -> None:
    a, b = new_request_id(), new_request_id()
    assert a.startswith("req-") and len(a) == 40 and a != b


def test_both_services_launch_with_the_same_gunicorn_settings() -> None:
    settings = gunicorn_settings(ServeOptions("127.0.0.1", 8778, 3, 4, "info", "allotment-placement"))
    assert settings["bind"] == "127.0.0.1:8778"
    assert (settings["workers"], settings["threads"], settings["worker_class"]) == (3, 4, "gthread")
    assert settings["control_socket_disable"] is True and settings["accesslog"] is None


def _upgrade_concurrently(url: str, upgrade: object, starters: int = 4) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(starters)

    def start() -> None:
        db = Database(url, pool_size=1)
        try:
            barrier.wait()
            upgrade(db)  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_starters_upgrade_one_sqlite_file_once(tmp_path: Path) -> None:
    # Placement and the registry share one database file here, as they may in production.
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    assert _upgrade_concurrently(url, placement_upgrade) == []
    assert _upgrade_concurrently(url, registry_upgrade) == []
    db = Database(url)
    try:
        with db.read() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            assert {"resource_providers", "placement_changes", "alembic_version", "sched_alembic_version"} <= tables
            assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        db.dispose()


def test_processes_upgrading_a_new_placement_database_at_once_all_succeed(backend: str) -> None:
    # Before the shared locked upgrade only SQLite serialised placement's upgrades.
    processes = 4
    ctx = multiprocessing.get_context("spawn")
    with fresh_database(backend) as url:
        barrier = ctx.Barrier(processes)
        results = ctx.Queue()
        procs = [ctx.Process(target=_workers.upgrade_placement, args=(url, barrier, results)) for _ in range(processes)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=180) for _ in procs]
        for p in procs:
            p.join(30)
        assert outcomes == ["ok"] * processes
        db = Database(url)
        try:
            with db.read() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
                assert conn.execute(sa.text("SELECT count(*) FROM resource_classes")).scalar() > 0
        finally:
            db.dispose()


def test_a_sqlite_write_that_finds_the_lock_taken_at_begin_is_retried(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE goes to the driver directly; a busy database must still reach the retry loop."""
    db = Database(f"sqlite:///{tmp_path / 'busy.sqlite'}", pool_size=1)
    try:
        with db.engine.connect() as conn:  # the pool's one connection: no waiting for the lock at BEGIN
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.commit()
        holder = sqlite3.connect(tmp_path / "busy.sqlite", isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        threading.Timer(0.2, holder.commit).start()
        with pytest.raises(sa.exc.OperationalError, match="locked"), db.locked():
            pass
        db.write(lambda c: c.exec_driver_sql("INSERT INTO t VALUES (1)"))  # retried until the holder commits
        with db.read() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
        holder.close()
    finally:
        db.dispose()
