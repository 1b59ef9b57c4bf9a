"""The bulk seeder writes what the ``load`` workload would have made, readable through the API."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from allotment.bench.seed import seed_load_providers
from allotment.bench.workloads import load
from allotment.infra.database import Database
from allotment.placement.api.app import make_app
from allotment.placement.config import Config
from tests.conftest import ADMIN

COUNT = 40


@pytest.fixture
def api(store: Database) -> Iterator[httpx.Client]:
    app = make_app(Config(), store)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://placement", headers=ADMIN) as c:
        yield c


def test_seeded_providers_read_back_as_load_plans_them(store: Database, api: httpx.Client) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    assert seed_load_providers(url, COUNT, seed=7) == COUNT
    plans = load.plan(COUNT, 7)
    listed = api.get("/resource_providers").json()["resource_providers"]
    assert sorted(p["uuid"] for p in listed) == sorted(p.uuid for p in plans)
    first = plans[0]
    inv = api.get(f"/resource_providers/{first.uuid}/inventories").json()["inventories"]
    assert {rc: {k: inv[rc][k] for k in ("total", "min_unit", "max_unit")} for rc in inv} == load.INVENTORIES
    assert sorted(api.get(f"/resource_providers/{first.uuid}/aggregates").json()["aggregates"]) == sorted(
        first.aggregates)
    assert sorted(api.get(f"/resource_providers/{first.uuid}/traits").json()["traits"]) == sorted(first.traits)
    found = api.get("/allocation_candidates", params={"resources": "VCPU:1,DISK_GB:10,MEMORY_MB:256",
                                                       "member_of": load.AGGREGATES[0],
                                                       "required": "HW_CPU_X86_AVX2"}).json()
    assert len(found["allocation_requests"]) == COUNT
    # The id sequences moved past the explicit ids: the API still creates providers.
    assert api.post("/resource_providers", json={"name": "after-seed"}).status_code == 200


def test_seeding_a_database_with_providers_is_refused(store: Database, api: httpx.Client) -> None:
    assert api.post("/resource_providers", json={"name": "already-here"}).status_code == 200
    with pytest.raises(ValueError, match="without providers"):
        seed_load_providers(store.engine.url.render_as_string(hide_password=False), 3)
