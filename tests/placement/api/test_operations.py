"""GET /metrics, /healthz and /readyz on placement: names and values after a known sequence of requests,
and readiness against a database that cannot be used (a closed port, a dropped database, no schema)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from allotment.bench.databases import admin_url, fresh_database
from allotment.bench.servers import free_port
from allotment.infra.database import Database
from allotment.placement.api.app import make_app
from allotment.placement.config import Config
from allotment.placement.schema import upgrade
from tests.conftest import ADMIN, require_backend
from tests.metrics_text import Scrape

P = "allotment_placement_"
LATEST = "1.39"


def scrape(api: httpx.Client) -> Scrape:
    resp = api.get("/metrics", headers={"x-auth-token": ""})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    return Scrape(resp.text)


def test_request_counts_latency_conflicts_and_candidates(api: httpx.Client) -> None:
    before = scrape(api)
    rp = str(uuid.uuid4())
    assert api.post("/resource_providers", json={"name": "h1", "uuid": rp}).status_code == 200
    inv = {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}}
    assert api.put(f"/resource_providers/{rp}/inventories", json=inv).status_code == 200
    stale = api.put(f"/resource_providers/{rp}/inventories", json=inv)  # generation 0 is stale now
    assert stale.status_code == 409 and stale.json()["errors"][0]["code"] == "placement.concurrent_update"
    for _ in range(2):
        assert len(api.get("/allocation_candidates?resources=VCPU:1").json()["allocation_requests"]) == 1
    assert len(api.get("/allocation_candidates?resources=VCPU:9").json()["allocation_requests"]) == 0
    assert api.get(f"/resource_providers/{uuid.uuid4()}").status_code == 404
    assert api.get("/no/such/path").status_code == 404
    assert api.get("/resource_providers", headers={"openstack-api-version": "placement 1.14"}).status_code == 200
    assert api.request("BREW", "/resource_providers").status_code == 405
    after = scrape(api)

    def d(name: str, **labels: str) -> float:
        return after.delta(before, P + name, **labels)

    route = "/resource_providers/{uuid}/inventories"
    assert d("requests_total", route="/resource_providers", method="POST", microversion=LATEST, status="200") == 1
    assert d("requests_total", route=route, method="PUT", microversion=LATEST, status="200") == 1
    assert d("requests_total", route=route, method="PUT", microversion=LATEST, status="409") == 1
    assert d("request_errors_total", route=route, method="PUT", microversion=LATEST, status="409") == 1
    assert d("concurrent_update_conflicts_total", route=route) == 1
    assert d("requests_total", route="/allocation_candidates", method="GET", microversion=LATEST,
             status="200") == 3
    assert d("request_errors_total", route="/resource_providers/{uuid}", method="GET", microversion=LATEST,
             status="404") == 1
    assert d("requests_total", route="unmatched", method="GET", microversion=LATEST, status="404") == 1
    assert d("requests_total", route="/resource_providers", method="GET", microversion="1.14", status="200") == 1
    # An unknown method is counted as "other", so no client can grow the label sets without bound.
    assert d("requests_total", route="/resource_providers", method="other", microversion=LATEST, status="405") == 1
    assert after.total(P + "requests_total", method="BREW") == 0
    # The scrapes themselves are not counted.
    assert after.total(P + "requests_total", route="/metrics") == 0
    # Latency: one observation per request, in the histogram of its route and version.
    assert d("request_duration_seconds_count", route="/allocation_candidates", method="GET",
             microversion=LATEST) == 3
    assert d("request_duration_seconds_bucket", route="/allocation_candidates", method="GET",
             microversion=LATEST, le="+Inf") == 3
    # Candidates per answer: 1, 1 and 0.
    assert d("allocation_candidates_count", microversion=LATEST) == 3
    assert d("allocation_candidates_sum", microversion=LATEST) == 2
    assert d("allocation_candidates_bucket", microversion=LATEST, le="0.0") == 1
    # The read model caught up before each query: three refreshes timed, the writes applied.
    refreshes = sum(after.delta(before, P + "read_model_refresh_seconds_count", kind=k)
                    for k in ("full", "incremental", "current"))
    assert refreshes == 3
    assert after.delta(before, P + "read_model_refresh_seconds_count", kind="current") >= 1


def test_capacity_gauges_by_class_and_aggregate(api: httpx.Client) -> None:
    agg = str(uuid.uuid4())
    rps = []
    for name, total, reserved in (("c1", 8, 2), ("c2", 4, 0)):
        rp = str(uuid.uuid4())
        rps.append(rp)
        api.post("/resource_providers", json={"name": name, "uuid": rp})
        inv = {"resource_provider_generation": 0, "inventories": {
            "VCPU": {"total": total, "reserved": reserved, "allocation_ratio": 4.0},
            "MEMORY_MB": {"total": 1024}}}
        assert api.put(f"/resource_providers/{rp}/inventories", json=inv).status_code == 200
    # A NUMA child of c1 counts in c1's aggregate through its root.
    child = str(uuid.uuid4())
    api.post("/resource_providers", json={"name": "c1-numa0", "uuid": child, "parent_provider_uuid": rps[0]})
    api.put(f"/resource_providers/{child}/inventories", json={
        "resource_provider_generation": 0, "inventories": {"PCPU": {"total": 6}}})
    gen = api.get(f"/resource_providers/{rps[0]}").json()["generation"]
    assert api.put(f"/resource_providers/{rps[0]}/aggregates",
                   json={"aggregates": [agg], "resource_provider_generation": gen}).status_code == 200
    consumer = str(uuid.uuid4())
    alloc = {"allocations": {rps[0]: {"resources": {"VCPU": 3, "MEMORY_MB": 512}}, child: {"resources": {"PCPU": 2}}},
             "project_id": "p", "user_id": "u", "consumer_generation": None, "consumer_type": "INSTANCE"}
    put = api.put(f"/allocations/{consumer}", json=alloc)
    assert put.status_code == 204, put.text
    s = scrape(api)
    assert s.value(P + "capacity_up") == 1
    assert s.value(P + "capacity_total", resource_class="VCPU") == 12
    assert s.value(P + "capacity_reserved", resource_class="VCPU") == 2
    assert s.value(P + "capacity_usable", resource_class="VCPU") == (6 + 4) * 4
    assert s.value(P + "capacity_used", resource_class="VCPU") == 3
    assert s.value(P + "capacity_providers", resource_class="VCPU") == 2
    assert s.value(P + "capacity_used", resource_class="MEMORY_MB") == 512
    assert s.value(P + "capacity_usable", resource_class="PCPU") == 6
    assert s.value(P + "capacity_total_by_aggregate", resource_class="VCPU", aggregate=agg) == 8
    assert s.value(P + "capacity_used_by_aggregate", resource_class="VCPU", aggregate=agg) == 3
    assert s.value(P + "capacity_usable_by_aggregate", resource_class="PCPU", aggregate=agg) == 6
    assert s.value(P + "capacity_used_by_aggregate", resource_class="PCPU", aggregate=agg) == 2
    assert s.value(P + "capacity_providers_by_aggregate", resource_class="VCPU", aggregate=agg) == 1


def test_operations_need_no_token_and_stay_out_of_the_api(store: Database, config: Config) -> None:
    app = make_app(config, store)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://placement") as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "alive"}
        assert anonymous.get("/readyz").status_code == 200
        assert anonymous.get("/metrics").status_code == 200
        assert anonymous.get("/resource_providers").status_code == 401
        # Only GET: anything else goes through the API, where the path is unknown.
        assert anonymous.post("/metrics", headers={"x-auth-token": "admin"}).status_code == 404
    from allotment.placement.api.routes import ROUTES

    assert not {"/metrics", "/healthz", "/readyz"} & set(ROUTES)


def test_ready_when_the_schema_is_current(api: httpx.Client) -> None:
    resp = api.get("/readyz")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ready"
    assert body["checks"]["placement"]["schema"] == "current"


def _client(url: str) -> tuple[Database, httpx.Client]:
    store = Database(url)
    app = make_app(Config(), store)
    return store, httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://placement", headers=ADMIN)


def test_not_ready_when_nothing_listens_on_the_database_port() -> None:
    store, client = _client(f"postgresql://postgres@127.0.0.1:{free_port()}/placement")
    with client:
        resp = client.get("/readyz")
        assert resp.status_code == 503
        check = resp.json()["checks"]["placement"]
        assert check["ok"] is False and check["database"] == "unusable"
        assert "OperationalError" in check["error"]
        assert client.get("/healthz").status_code == 200  # alive all the same
        metrics = client.get("/metrics")  # request metrics still served; capacity marked down
        assert metrics.status_code == 200
        assert Scrape(metrics.text).value(P + "capacity_up") == 0
    store.dispose()


def test_not_ready_without_the_schema(tmp_path: object) -> None:
    store, client = _client(f"sqlite:///{tmp_path}/empty.sqlite")
    with client:
        resp = client.get("/readyz")
        assert resp.status_code == 503
        assert resp.json()["checks"]["placement"]["schema"] == "missing"
        upgrade(store)
        assert client.get("/readyz").status_code == 200
    store.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_not_ready_once_the_database_is_dropped(backend: str) -> None:
    require_backend(backend)
    import sqlalchemy as sa

    with fresh_database(backend) as url:
        store, client = _client(url)
        upgrade(store)
        with client:
            assert client.get("/readyz").status_code == 200
            name = sa.engine.make_url(url).database
            admin = sa.create_engine(admin_url(backend), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                force = " WITH (FORCE)" if backend == "postgresql" else ""
                conn.execute(sa.text(f"DROP DATABASE {name}{force}"))
            admin.dispose()
            resp = client.get("/readyz")
            assert resp.status_code == 503
            assert resp.json()["checks"]["placement"]["ok"] is False
        store.dispose()
