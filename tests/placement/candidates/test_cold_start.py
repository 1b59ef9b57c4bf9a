"""Cold start: a served worker builds its read model before traffic, and a full load shares what providers share."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from allotment.bench.seed import seed_load_providers
from allotment.bench.workloads import load
from allotment.infra.database import Database
from allotment.placement.api.app import make_app, make_ready_app
from allotment.placement.candidates.model import ReadModel
from allotment.placement.config import Config
from allotment.placement.store import tables
from tests.conftest import ADMIN

COUNT = 30


def _seed(store: Database) -> list[load.ProviderPlan]:
    seed_load_providers(store.engine.url.render_as_string(hide_password=False), COUNT, seed=3)
    return load.plan(COUNT, 3)


def test_ready_app_answers_its_first_query_from_a_built_model(store: Database) -> None:
    _seed(store)
    app = make_ready_app(Config(), store)
    assert app.read_model.loaded and app.read_model.full_loads == 1
    assert len(app.read_model.providers) == COUNT
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://placement", headers=ADMIN) as c:
        r = c.get("/allocation_candidates", params={"resources": "VCPU:1"})
    assert r.status_code == 200 and len(r.json()["allocation_requests"]) == COUNT
    assert app.read_model.full_loads == 1  # nothing built on the request's time

    plain = make_app(Config(), store)
    assert not plain.read_model.loaded  # tests and in-process clients still build on first use


def test_full_load_shares_equal_inventories_trait_and_aggregate_sets(store: Database) -> None:
    plans = _seed(store)
    model = ReadModel(store)
    model.refresh()
    records = {rec.uuid: rec for rec in model.providers.values()}
    invs = {id(rec.inv) for rec in records.values()}
    assert len(invs) == 1  # every seeded provider has the same inventory: one dict for all
    one = next(iter(records.values()))
    assert {rc: (c.total, c.min_unit, c.max_unit) for rc, c in one.inv.items()} == {
        rc: (i["total"], i["min_unit"], i["max_unit"]) for rc, i in load.INVENTORIES.items()}
    by_traits: dict[tuple[str, ...], set[int]] = {}
    for p in plans:
        rec = records[p.uuid]
        assert rec.traits == frozenset(p.traits) and rec.aggs == frozenset(p.aggregates)
        assert rec.used == {}
        by_traits.setdefault(tuple(sorted(p.traits)), set()).add(id(rec.traits))
    assert all(len(ids) == 1 for ids in by_traits.values())
    # trait_list is in trait id order, as provider summaries list traits.
    with store.read() as conn:
        trait_ids = dict(conn.execute(sa.select(tables.traits.c.name, tables.traits.c.id)).all())
    assert all(list(r.trait_list) == sorted(r.trait_list, key=trait_ids.__getitem__) for r in records.values())
    assert any(len(r.trait_list) > 1 for r in records.values())
