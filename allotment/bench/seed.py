"""Fill an allotment database with the ``load`` workload's providers by bulk inserts, without the API.

Loading 100,000 providers through the API takes about 20 minutes here (400,000
requests); the ``cold`` workload needs them only as a starting state, so it
writes the rows ``load`` would have made (same uuids, inventories, aggregates
and traits for the same seed) straight into allotment's tables. Upstream's
schema is not written: this is allotment's own fixture.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from allotment.bench.workloads.load import AGGREGATES, INVENTORIES, plan
from allotment.infra.database import Database
from allotment.placement.schema import upgrade
from allotment.placement.store import tables

__all__ = ["seed_load_providers"]

BATCH = 5000  # rows per executemany


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, object]]) -> None:
    for i in range(0, len(rows), BATCH):
        conn.execute(table.insert(), rows[i : i + BATCH])


def seed_load_providers(db_url: str, count: int, seed: int = 1, run_index: int = 0) -> int:
    """Create the schema if needed and insert ``count`` providers as ``load`` plans them; return the count.

    The database must hold no providers yet. A ``NULL`` change row tells running
    workers to reload their read model.
    """
    store = Database(db_url)
    try:
        upgrade(store)
        stamp = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        plans = plan(count, seed, run_index)

        def write(conn: sa.Connection) -> None:
            if conn.execute(sa.select(sa.func.count()).select_from(tables.providers)).scalar():
                raise ValueError("seed_load_providers wants a database without providers")
            rc = tables.resource_classes
            class_ids = dict(conn.execute(sa.select(rc.c.name, rc.c.id)).all())
            trait_ids = dict(conn.execute(sa.select(tables.traits.c.name, tables.traits.c.id)).all())
            _insert(conn, tables.aggregates, [{"uuid": a, "created_at": stamp} for a in AGGREGATES])
            agg_ids = dict(conn.execute(sa.select(tables.aggregates.c.uuid, tables.aggregates.c.id)).all())
            _insert(conn, tables.providers, [
                {"id": i, "uuid": p.uuid, "name": p.uuid, "generation": 3, "root_provider_id": i,
                 "parent_provider_id": None, "created_at": stamp}
                for i, p in enumerate(plans, start=1)
            ])
            _insert(conn, tables.inventories, [
                {"resource_provider_id": i, "resource_class_id": class_ids[rc], "total": inv["total"],
                 "reserved": 0, "min_unit": inv["min_unit"], "max_unit": inv["max_unit"], "step_size": 1,
                 "allocation_ratio": 1.0, "created_at": stamp}
                for i in range(1, count + 1) for rc, inv in INVENTORIES.items()
            ])
            _insert(conn, tables.provider_aggregates, [
                {"resource_provider_id": i, "aggregate_id": agg_ids[a], "created_at": stamp}
                for i, p in enumerate(plans, start=1) for a in p.aggregates
            ])
            _insert(conn, tables.provider_traits, [
                {"resource_provider_id": i, "trait_id": trait_ids[t], "created_at": stamp}
                for i, p in enumerate(plans, start=1) for t in p.traits
            ])
            conn.execute(tables.changes.insert().values(provider_id=None, changed_at=stamp))
            if conn.dialect.name == "postgresql":  # explicit ids leave the sequence behind
                conn.exec_driver_sql(
                    "SELECT setval(pg_get_serial_sequence('resource_providers', 'id'), "
                    "(SELECT max(id) FROM resource_providers))")

        store.write(write)
    finally:
        store.dispose()
    return count
