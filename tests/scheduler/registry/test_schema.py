"""The registry's Alembic migrations: the schema they build is the one the code uses, beside placement's."""

from __future__ import annotations

import multiprocessing

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from allotment.bench.databases import fresh_database
from allotment.infra.database import Database
from allotment.scheduler.registry import Registry
from allotment.scheduler.registry.migrate import upgrade
from allotment.scheduler.registry.tables import metadata
from tests.scheduler.registry import _workers


def test_migrated_schema_matches_the_tables(registry_db: Database) -> None:
    with registry_db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": "sched_alembic_version"})
        diffs = compare_metadata(ctx, metadata)
    ours = [d for d in diffs if "sched_" in repr(d)]
    assert ours == []


def test_version_table_is_our_own_and_upgrade_is_idempotent(registry_db: Database) -> None:
    upgrade(registry_db)  # second run: nothing to do
    names = sa.inspect(registry_db.engine).get_table_names()
    assert "sched_alembic_version" in names
    assert all(n.startswith("sched_") for n in names)
    with registry_db.engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM sched_alembic_version")).scalar()
    assert version == "sched_0002_topology"


def test_shares_a_database_with_placement(backend: str) -> None:
    from allotment.infra.database import Database
    from allotment.placement.schema import upgrade as placement_upgrade

    with fresh_database(backend) as url:
        store = Database(url)
        placement_upgrade(store)
        store.dispose()
        with Registry.open(url) as reg:
            reg.register_host("h1", "9f0e3c51-1b56-4bd6-9e2e-6f0a0fbd2d11")
            assert [h.name for h in reg.list_hosts()] == ["h1"]
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() is not None
            assert conn.execute(sa.text("SELECT version_num FROM sched_alembic_version")).scalar() == "sched_0002_topology"
        engine.dispose()


@pytest.mark.parametrize("processes", [4])
def test_processes_opening_a_new_database_at_once_all_succeed(backend: str, processes: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    with fresh_database(backend) as url:
        barrier = ctx.Barrier(processes)
        results = ctx.Queue()
        procs = [ctx.Process(target=_workers.open_registry, args=(url, barrier, results)) for _ in range(processes)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(30)
        assert outcomes == ["ok"] * processes
        with Registry.open(url) as reg:
            reg.register_host("h1", "1c7e1f0e-2b5b-4c1e-9a4e-0d1f8f0c2a33")
            assert reg.get_host("h1").up
